/* incoming.h - the drop folder spool/incoming/: one command per file,
 * written elsewhere in the same file system and renamed (or linked) in.
 *
 * The disk is the truth: inotify only wakes us; a scan at start-up and
 * after IN_Q_OVERFLOW finds every file that is there. An accepted file is
 * removed, a rejected one moved to failed/ with its reason; anything that
 * is not a regular file is moved aside (or removed) and logged once. A
 * file that cannot be persisted now (the spool is full) stays for a retry. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "command.h"
#include "store.h"

struct incoming;

/* What the watcher asks of the daemon; every hook must be set. */
struct incoming_hooks {
        /* Carry out CMD from a drop file (ORIGIN names the file and its
         * identity, so that a second processing after a crash is
         * recognised); the JSON reply line (malloc'd), {"ok":true,...} or
         * {"ok":false,"error":"..."}. */
        char *(*execute)(void *userdata, const struct command *cmd, const char *origin);
        /* The spool takes no writes now: files wait. */
        bool (*spool_error)(void *userdata);
        /* A write failed with -errno R while doing WHAT. */
        void (*spool_failed)(void *userdata, int r, const char *what);
        /* Files are waiting: call incoming_rescan() later (the daemon's
         * spool probe does, once the spool takes writes). */
        void (*retry)(void *userdata);
        /* A file was accepted or rejected (the counts changed). */
        void (*changed)(void *userdata);
        void *userdata;
};

/* Watch STORE's incoming/ on E (HOOKS is copied). Nothing is read until
 * incoming_scan(). Returns 0 or -errno (logged). */
int incoming_new(sd_event *e, struct store *store, const struct incoming_hooks *hooks, struct incoming **ret);
void incoming_free(struct incoming *in);
/* Process every file there now, in arrival order. Returns 0 or -errno
 * (logged) when the folder cannot be listed. */
int incoming_scan(struct incoming *in);
/* A full scan on the next loop iteration. */
void incoming_rescan(struct incoming *in);
/* Files accepted and rejected since start. */
uint64_t incoming_accepted(const struct incoming *in);
uint64_t incoming_rejected(const struct incoming *in);
