/* incoming.c - the drop folder watcher (see incoming.h).
 *
 * Events: IN_MOVED_TO and IN_CLOSE_WRITE mean a finished file; IN_CREATE
 * of a regular file with one link is a writer that has just started (wait
 * for its IN_CLOSE_WRITE), unless no IN_OPEN follows (a link(2) whose other
 * name is gone already): what no IN_OPEN claimed is taken when a short
 * timer fires. Anything else created here is complete at once. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "incoming.h"
#include "log.h"
#include "macro.h"

struct incoming {
        sd_event *event;
        struct store *store;
        struct incoming_hooks hooks;
        sd_event_source *inotify;
        sd_event_source *rescan; /* defer: full scan of incoming/ */
        /* Regular files that appeared (IN_CREATE) with one link: a writer's
         * open(O_CREAT) is followed by IN_OPEN at once, a link(2) whose other
         * name is already gone is not; what no IN_OPEN claimed is taken when
         * the timer fires. */
        char *created[32];
        sd_event_source *created_timer;
        uint64_t n_accepted, n_rejected;
};

/* What an entry of incoming/ is when it is not a regular file, or NULL. */
static const char *incoming_kind(mode_t m) {
        if (S_ISREG(m))
                return NULL;
        if (S_ISLNK(m))
                return "a symbolic link";
        if (S_ISDIR(m))
                return "a folder";
        if (S_ISFIFO(m))
                return "a FIFO";
        if (S_ISSOCK(m))
                return "a socket";
        if (S_ISCHR(m))
                return "a character device";
        if (S_ISBLK(m))
                return "a block device";
        return "of an unknown type";
}

/* Something in incoming/ that is not data: to failed/ with REASON, or removed
 * when it cannot be moved there; logged once either way. */
static bool reject_odd(struct incoming *s, const char *name, const char *reason) {
        const char *fields[] = { NULL, NULL };
        char field[1100];
        int r;

        snprintf(field, sizeof(field), "BEREDD_FILE=%s", LOG_ESC(name));
        fields[0] = field;
        r = store_reject(s->store, name, reason);
        if (r >= 0) {
                s->n_rejected++;
                log_event(LOG_WARNING, MSGID_INPUT_REJECTED, fields, "incoming/%s: rejected, moved to failed/: %s",
                          LOG_ESC(name), reason);
                s->hooks.changed(s->hooks.userdata);
                return true;
        }
        int dfd = store_dirfd(s->store, STORE_INCOMING);
        if (unlinkat(dfd, name, 0) >= 0 || (errno == EISDIR && unlinkat(dfd, name, AT_REMOVEDIR) >= 0) ||
            errno == ENOENT) {
                (void) fsync(dfd);
                s->n_rejected++;
                log_event(LOG_WARNING, MSGID_INPUT_REJECTED, fields,
                          "incoming/%s: rejected and removed (cannot be moved to failed/: %s): %s", LOG_ESC(name),
                          strerror(-r), reason);
                s->hooks.changed(s->hooks.userdata);
                return true;
        }
        log_event(LOG_WARNING, MSGID_INPUT_REJECTED, fields,
                  "incoming/%s: %s, and it can neither be moved to failed/ (%s) nor removed (%m); remove it",
                  LOG_ESC(name), reason, strerror(-r));
        return true; /* no retry: it would only log the same again */
}

/* Returns true when the file is done with (accepted, rejected or gone), false
 * when it must stay for a retry (a temporary spool error). */
static bool process_incoming(struct incoming *s, const char *name) {
        _cleanup_free_ char *data = NULL;
        struct command cmd;
        char err[256], reason[300];
        size_t len;
        const char *fields[] = { NULL, NULL };
        char field[1100];
        int r;

        if (name[0] == '.')
                return true; /* a writer's temporary name: wait for the rename */

        /* Look before opening: opening a device node can have effects of its
         * own, and a socket cannot be opened at all. store_read() checks
         * again on the open file (O_NOFOLLOW|O_NONBLOCK, fstat). */
        struct stat pre;
        if (fstatat(store_dirfd(s->store, STORE_INCOMING), name, &pre, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return true;
                pre = (struct stat) { .st_mode = S_IFREG };
        }
        const char *kind = incoming_kind(pre.st_mode);
        if (kind)
                r = -EBADFD;
        else
                r = store_read(s->store, STORE_INCOMING, name, COMMAND_MAX_LINE, &data, &len);
        if (r == -ENOENT)
                return true; /* already processed (start-up scan and inotify both saw it) */
        if (r == -EISDIR || r == -ELOOP || r == -EBADFD || r == -ENXIO) {
                /* Not data: moved aside with its reason, like bad input, so
                 * that it is seen once and does not stay forever. */
                if (!kind)
                        kind = r == -EISDIR ? "a folder" : r == -ELOOP ? "a symbolic link" : "not a regular file";
                snprintf(reason, sizeof(reason), "not a regular file (%s); write the file elsewhere in the same "
                         "file system, then rename or link it into incoming/", kind);
                return reject_odd(s, name, reason);
        }
        if (r == -EFBIG)
                snprintf(reason, sizeof(reason), "file too large (more than %d bytes)", COMMAND_MAX_LINE);
        else if (r < 0) {
                log_warning_errno(r, "incoming/%s: cannot read: %m, will retry", LOG_ESC(name));
                return false;
        } else if (command_parse(data, len, &cmd, err, sizeof(err)) < 0) {
                snprintf(reason, sizeof(reason), "%s", err);
        } else {
                /* The file's identity: if we crash after acting on it but before
                 * removing it, processing it again finds the same activation. */
                char origin[400];
                struct stat st;
                if (fstatat(store_dirfd(s->store, STORE_INCOMING), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        st = (struct stat) {};
                snprintf(origin, sizeof(origin), "incoming/%s@%ju.%ld.%ju", name, (uintmax_t) st.st_ctim.tv_sec,
                         st.st_ctim.tv_nsec, (uintmax_t) st.st_ino);
                _cleanup_free_ char *reply = s->hooks.execute(s->hooks.userdata, &cmd, origin);
                json_t *j = reply ? json_loads(reply, 0, NULL) : NULL;
                bool ok = j && json_is_true(json_object_get(j, "ok"));
                if (!ok)
                        snprintf(reason, sizeof(reason), "%s",
                                 j ? json_string_value(json_object_get(j, "error")) : "out of memory");
                json_decref(j);
                command_done(&cmd);
                if (ok) {
                        r = store_consume(s->store, name);
                        if (r < 0)
                                log_warning_errno(r, "incoming/%s: accepted but cannot remove it: %m", LOG_ESC(name));
                        s->n_accepted++;
                        snprintf(field, sizeof(field), "BEREDD_FILE=%s", LOG_ESC(name));
                        fields[0] = field;
                        log_event(LOG_INFO, NULL, fields, "incoming/%s: accepted", LOG_ESC(name));
                        s->hooks.changed(s->hooks.userdata);
                        return true;
                }
                if (s->hooks.spool_error(s->hooks.userdata) && strncmp(reason, "spool:", 6) == 0)
                        return false; /* keep it: it is good input we cannot persist yet */
        }

        r = store_reject(s->store, name, reason);
        if (r < 0) {
                s->hooks.spool_failed(s->hooks.userdata, r, "moving a rejected file to failed/");
                return false;
        }
        s->n_rejected++;
        snprintf(field, sizeof(field), "BEREDD_FILE=%s", LOG_ESC(name));
        fields[0] = field;
        log_event(LOG_WARNING, MSGID_INPUT_REJECTED, fields, "incoming/%s: rejected, moved to failed/: %s",
                  LOG_ESC(name), reason);
        s->hooks.changed(s->hooks.userdata);
        return true;
}

int incoming_scan(struct incoming *s) {
        char **names = NULL;
        size_t n = 0;
        bool pending = false;

        int r = store_list_incoming(s->store, &names, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot list %s/incoming: %m", store_root(s->store));
        for (size_t i = 0; i < n; i++)
                if (!process_incoming(s, names[i]))
                        pending = true;
        store_names_free(names, n);
        if (pending)
                s->hooks.retry(s->hooks.userdata);
        return 0;
}

static int on_rescan(sd_event_source *es, void *userdata) {
        struct incoming *s = userdata;
        sd_event_source_set_enabled(es, SD_EVENT_OFF);
        incoming_scan(s);
        return 0;
}

void incoming_rescan(struct incoming *s) {
        if (!s)
                return;
        sd_event_source_set_enabled(s->rescan, SD_EVENT_ONESHOT);
}

#define CREATED_USEC (200 * 1000ULL)

/* Forget NAME as just created; true if it was. */
static bool created_drop(struct incoming *s, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(s->created); i++)
                if (s->created[i] && streq(s->created[i], name)) {
                        free(s->created[i]);
                        s->created[i] = NULL;
                        return true;
                }
        return false;
}

static void created_add(struct incoming *s, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(s->created); i++)
                if (!s->created[i]) {
                        s->created[i] = strdup(name);
                        int on = SD_EVENT_OFF;
                        if (s->created[i] && s->created_timer &&
                            sd_event_source_get_enabled(s->created_timer, &on) >= 0 && on == SD_EVENT_OFF) {
                                uint64_t now;
                                sd_event_now(s->event, CLOCK_MONOTONIC, &now);
                                sd_event_source_set_time(s->created_timer, now + CREATED_USEC);
                                sd_event_source_set_enabled(s->created_timer, SD_EVENT_ONESHOT);
                        }
                        return;
                }
        /* Full: IN_CLOSE_WRITE or the next scan still sees it. */
}

static int on_created(sd_event_source *es, uint64_t usec, void *userdata) {
        struct incoming *s = userdata;
        bool pending = false;
        for (size_t i = 0; i < ELEMENTSOF(s->created); i++) {
                _cleanup_free_ char *name = TAKE_PTR(s->created[i]);
                if (name && !s->hooks.spool_error(s->hooks.userdata) && !process_incoming(s, name))
                        pending = true;
                else if (name && s->hooks.spool_error(s->hooks.userdata))
                        pending = true;
        }
        if (pending)
                s->hooks.retry(s->hooks.userdata);
        return 0;
}

static int on_inotify(sd_event_source *es, const struct inotify_event *ev, void *userdata) {
        struct incoming *s = userdata;

        if (ev->mask & IN_Q_OVERFLOW) {
                log_warning("incoming/: inotify queue overflowed, rescanning the folder");
                incoming_rescan(s);
                return 0;
        }
        if (ev->len == 0)
                return 0;
        if (ev->mask & IN_CREATE) {
                /* A new name. A regular file created here is still being
                 * written: wait for IN_CLOSE_WRITE. Anything else (a hard link
                 * of a finished file, st_nlink > 1; a symlink, FIFO, device,
                 * socket or folder) is complete now and would send nothing
                 * more. */
                struct stat st;
                if (fstatat(store_dirfd(s->store, STORE_INCOMING), ev->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return 0;
                if (S_ISREG(st.st_mode) && st.st_nlink < 2) {
                        if (ev->name[0] != '.')
                                created_add(s, ev->name);
                        return 0;
                }
        } else if (ev->mask & IN_OPEN) {
                (void) created_drop(s, ev->name); /* a writer: wait for IN_CLOSE_WRITE */
                return 0;
        } else
                (void) created_drop(s, ev->name);
        if (s->hooks.spool_error(s->hooks.userdata)) {
                s->hooks.retry(s->hooks.userdata); /* processed in order once the spool is back */
                return 0;
        }
        if (!process_incoming(s, ev->name))
                s->hooks.retry(s->hooks.userdata);
        return 0;
}

int incoming_new(sd_event *e, struct store *store, const struct incoming_hooks *hooks, struct incoming **ret) {
        char path[4096];
        int r;

        struct incoming *s = calloc(1, sizeof(*s));
        if (!s)
                return log_error_errno(ENOMEM, "Out of memory");
        *s = (struct incoming) { .event = sd_event_ref(e), .store = store, .hooks = *hooks };
        snprintf(path, sizeof(path), "%s/incoming", store_root(store));
        r = sd_event_add_inotify(e, &s->inotify, path, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_OPEN | IN_ONLYDIR,
                                 on_inotify, s);
        if (r < 0) {
                log_error_errno(r, "Cannot watch %s: %m", path);
                goto fail;
        }
        if ((r = sd_event_add_defer(e, &s->rescan, on_rescan, s)) < 0 ||
            (r = sd_event_add_time(e, &s->created_timer, CLOCK_MONOTONIC, UINT64_MAX, 10 * 1000ULL, on_created, s)) < 0) {
                log_error_errno(r, "Cannot add event sources: %m");
                goto fail;
        }
        sd_event_source_set_enabled(s->rescan, SD_EVENT_OFF);
        sd_event_source_set_enabled(s->created_timer, SD_EVENT_OFF);
        sd_event_source_set_description(s->inotify, "incoming-inotify");
        sd_event_source_set_description(s->rescan, "incoming-rescan");
        *ret = s;
        return 0;
fail:
        incoming_free(s);
        return r;
}

void incoming_free(struct incoming *s) {
        if (!s)
                return;
        sd_event_source_disable_unref(s->inotify);
        sd_event_source_disable_unref(s->rescan);
        sd_event_source_disable_unref(s->created_timer);
        for (size_t i = 0; i < ELEMENTSOF(s->created); i++)
                free(s->created[i]);
        sd_event_unref(s->event);
        free(s);
}

uint64_t incoming_accepted(const struct incoming *s) {
        return s ? s->n_accepted : 0;
}

uint64_t incoming_rejected(const struct incoming *s) {
        return s ? s->n_rejected : 0;
}
