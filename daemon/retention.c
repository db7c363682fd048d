/* retention.c - the retention sweep (retention.h): ended activations
 * through activations_purge(), outbox/ and failed/ here, by the files'
 * modification times. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "macro.h"
#include "retention.h"
#include "time-util.h"

struct retention {
        sd_event *event;
        sd_event_source *timer;
        struct store *store;
        struct activations *acts;
        struct absences *abs;
        const struct config *cfg;
        uint64_t period;
};

#define REASON_SUFFIX ".reason"

/* Modification time of DIR/NAME in usec; 0 when it is not a regular file
 * (a folder, a symlink: never ours to remove) and -ENOENT when absent. */
static int64_t file_mtime(const struct store *s, enum store_dir dir, const char *name) {
        struct stat st;
        int r = store_stat(s, dir, name, &st);
        if (r < 0)
                return r;
        if (!S_ISREG(st.st_mode))
                return 0;
        return (int64_t) st.st_mtim.tv_sec * (int64_t) USEC_PER_SEC + st.st_mtim.tv_nsec / 1000;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);
        return n > k && streq(s + n - k, suffix);
}

/* The names of DIR's files to go, decided first and removed after the
 * listing (removing while reading a folder may skip entries). */
struct names {
        char **v;
        size_t n, cap;
};

static int names_add(struct names *ns, const char *name) {
        if (ns->n == ns->cap) {
                size_t c = ns->cap ? ns->cap * 2 : 64;
                char **v = reallocarray(ns->v, c, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                ns->v = v;
                ns->cap = c;
        }
        if (!(ns->v[ns->n] = strdup(name)))
                return -ENOMEM;
        ns->n++;
        return 0;
}

static void names_done(struct names *ns) {
        for (size_t i = 0; i < ns->n; i++)
                free(ns->v[i]);
        free(ns->v);
}

/* Is failed/NAME old? A rejected file keeps the time it was written
 * before it came in, so its age is that of its .reason (written at
 * rejection); a file without one, or a .reason alone, counts by itself. */
static bool failed_is_old(const struct store *s, const char *name, int64_t before) {
        _cleanup_free_ char *reason = NULL;
        int64_t t = -ENOENT;

        if (!has_suffix(name, REASON_SUFFIX) && asprintf(&reason, "%s" REASON_SUFFIX, name) >= 0)
                t = file_mtime(s, STORE_FAILED, reason);
        if (t == -ENOENT)
                t = file_mtime(s, STORE_FAILED, name);
        return t > 0 && t < before;
}

/* Remove the files of DIR older than BEFORE (usec, real clock): every one
 * in outbox/; in failed/ a rejected input with its .reason (counted once).
 * Returns the count removed, the first error in *ERR. */
static unsigned sweep_dir(struct store *s, enum store_dir dir, int64_t before, int *err) {
        struct store_folder *f = NULL;
        struct names go = { 0 };
        unsigned n = 0;
        int r = store_folder_open(s, dir, NULL, &f);

        if (r < 0) {
                *err = *err ?: r;
                return 0;
        }
        for (const char *name; (name = store_folder_next(f));) {
                bool old;
                if (dir == STORE_FAILED)
                        old = failed_is_old(s, name, before);
                else {
                        int64_t t = file_mtime(s, dir, name);
                        old = t > 0 && t < before;
                }
                if (old && (r = names_add(&go, name)) < 0) {
                        *err = *err ?: r;
                        break;
                }
        }
        store_folder_close(f);

        for (size_t i = 0; i < go.n; i++) {
                const char *name = go.v[i];
                bool reason = has_suffix(name, REASON_SUFFIX);
                r = store_unlink(s, dir, name);
                if (r < 0 && r != -ENOENT) {
                        *err = *err ?: r;
                        continue;
                }
                /* In failed/, an input and its .reason are one; a .reason
                 * whose input went in this sweep is not counted again. */
                if (dir == STORE_FAILED && reason) {
                        _cleanup_free_ char *base = strndup(name, strlen(name) - strlen(REASON_SUFFIX));
                        bool paired = false;
                        for (size_t k = 0; base && k < go.n; k++)
                                paired = paired || streq(go.v[k], base);
                        if (paired)
                                continue;
                }
                n++;
        }
        if (go.n > 0 && (r = store_sync_dir(s, dir)) < 0)
                *err = *err ?: r;
        names_done(&go);
        return n;
}

void retention_sweep(struct store *store, struct activations *acts, struct absences *abs,
                     const struct retention_conf *rc, uint64_t now, struct retention_counts *ret) {
        struct retention_counts k = { 0 };
        int64_t real = (int64_t) now - time_offset();

        if (acts && now > rc->activations) {
                int r = activations_purge(acts, now - rc->activations, &k.activations);
                k.error = k.error ?: r;
        }
        if (abs && now > rc->absences) {
                int r = absences_purge(abs, now - rc->absences, &k.absences);
                k.error = k.error ?: r;
        }
        k.outbox = sweep_dir(store, STORE_OUTBOX, real - (int64_t) rc->outbox, &k.error);
        k.failed = sweep_dir(store, STORE_FAILED, real - (int64_t) rc->failed, &k.error);

        if (k.activations || k.outbox || k.failed || k.absences)
                log_event(LOG_INFO, MSGID_RETENTION, NULL,
                          "Retention: removed %u ended activation log(s), %u outbox message(s), %u rejected input(s), "
                          "%u absence(s) that were over",
                          k.activations, k.outbox, k.failed, k.absences);
        else
                log_debug("Retention: nothing old enough to remove");
        if (k.error < 0)
                log_warning_errno(k.error, "Retention: some old files could not be removed (%m); tried again in the next sweep");
        if (ret)
                *ret = k;
}

static void sweep_now(struct retention *r) {
        retention_sweep(r->store, r->acts, r->abs, &r->cfg->retention, beredd_now(), NULL);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct retention *r = userdata;
        sweep_now(r);
        sd_event_source_set_time_relative(s, r->period);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

int retention_new(sd_event *e, struct store *store, struct activations *acts, struct absences *abs,
                  const struct config *cfg, struct retention **ret) {
        struct retention *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (struct retention) { .event = sd_event_ref(e), .store = store, .acts = acts, .abs = abs, .cfg = cfg,
                                  .period = RETENTION_SWEEP_USEC };
        if (env_msec("BEREDD_RETENTION_SWEEP_MS", &r->period) < 0 || r->period == 0) {
                log_warning("BEREDD_RETENTION_SWEEP_MS is not a number of milliseconds (1 to 3600000); ignored");
                r->period = RETENTION_SWEEP_USEC;
        }
        int k = sd_event_add_time_relative(e, &r->timer, CLOCK_MONOTONIC, r->period, r->period / 10, on_timer, r);
        if (k < 0) {
                retention_free(r);
                return k;
        }
        sd_event_source_set_description(r->timer, "retention-sweep");
        sweep_now(r);
        *ret = r;
        return 0;
}

void retention_set_config(struct retention *r, const struct config *cfg) {
        if (r)
                r->cfg = cfg;
}

void retention_free(struct retention *r) {
        if (!r)
                return;
        sd_event_source_disable_unref(r->timer);
        sd_event_unref(r->event);
        free(r);
}
