/* activation-replay.c - reading an activation log back: each line is an
 * event handed to act_apply, as the live path applied it (start-up, and
 * activation_log_check for the fuzz target). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "activation-internal.h"
#include "log.h"
#include "macro.h"
#include "text.h"
#include "wording.h"

/* Replay the log text DATA[0..LEN) into A, as read from activations/NAME.
 * A torn last line (no '\n') is ignored; an unreadable event stops the
 * replay and marks A broken. Returns the events applied. */
unsigned act_replay_log(struct activation *a, const char *data, size_t len, const char *name) {
        const char *line = data;
        unsigned lineno = 0;
        while (line < data + len) {
                const char *nl = memchr(line, '\n', (size_t) (data + len - line));
                lineno++;
                if (!nl) {
                        /* A torn last record from a crash mid-write: never committed. */
                        log_warning("activations/%s: ignoring an incomplete last line", name);
                        return lineno - 1;
                }
                json_error_t jerr;
                json_t *o = json_loadb(line, (size_t) (nl - line), 0, &jerr);
                if (!o || act_apply(a, o) < 0) {
                        log_error("activations/%s:%u: unreadable event; the activation is shown but no longer driven",
                                  name, lineno);
                        a->broken = true;
                        json_decref(o);
                        return lineno - 1;
                }
                json_decref(o);
                line = nl + 1;
        }
        return lineno;
}

int activation_log_check(const char *data, size_t len, bool *ret_broken) {
        struct activation *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->step = -1;
        a->id = strdup("fuzz");
        if (!a->id) {
                free(a);
                return -ENOMEM;
        }
        int n = (int) act_replay_log(a, data, len, "fuzz.log");
        bool ok = a->chain != NULL;
        if (ret_broken)
                *ret_broken = a->broken;
        activation_free(a);
        return ok ? n : -EINVAL;
}

int activation_log_name(const char *data, size_t len, char *name, size_t size) {
        const char *nl = memchr(data, '\n', len);
        if (!nl)
                return -EINVAL; /* torn: never committed */
        json_t *o = json_loadb(data, (size_t) (nl - data), 0, NULL);
        const char *t = json_string_value(json_object_get(o, "t"));
        const char *id = json_string_value(json_object_get(o, "id"));
        bool ok = t && id && streq(t, "created") && id[0] != '\0' && id[0] != '.' && strlen(id) < 100;
        for (const char *p = id; ok && *p; p++)
                ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-' ||
                     *p == '_' || *p == '.';
        int r = ok && (size_t) snprintf(name, size, "%s.log", id) < size ? 0 : -EINVAL;
        json_decref(o);
        return r;
}

/* ---- start-up: every log in activations/ ---- */

static int load_one(struct activations *m, const char *name) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = store_read(m->store, STORE_ACTIVATIONS, name, LOG_MAX_SIZE, &data, &len);
        if (r < 0)
                return log_error_errno(r, "activations/%s: cannot read: %m; skipped", name);

        struct activation *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->mgr = m;
        a->step = -1;
        a->id = strndup(name, strlen(name) - 4);
        if (!a->id) {
                free(a);
                return -ENOMEM;
        }
        act_replay_log(a, data, len, name);
        if (!a->chain) {
                log_error("activations/%s: no \"created\" event; skipped", name);
                activation_free(a);
                return -EINVAL;
        }
        a->next = m->list;
        m->list = a;
        return 0;
}

/* An open activation whose last event is older than retention.stale_after
 * is a copy of the spool restored later (or a machine off for that long):
 * resuming it would call a team out, or stand it down, for something long
 * over. It is closed as stale, in its log, and nobody is told. */
static bool close_if_stale(struct activations *m, struct activation *a, uint64_t now) {
        uint64_t max = m->cfg ? m->cfg->retention.stale_after : RETENTION_STALE_AFTER_DEFAULT;
        char field[160];

        /* A contact-list check is quiet while its window is open. */
        uint64_t since = a->verify && a->created + a->window > a->last_ts ? a->created + a->window : a->last_ts;
        if (a->state == ACT_RESOLVED || a->state == ACT_VERIFIED || since + max >= now)
                return false;
        uint64_t min = (now - a->last_ts) / USEC_PER_MIN;
        snprintf(field, sizeof(field), "BEREDD_ACTIVATION=%s", a->id);
        log_event(LOG_WARNING, MSGID_ACTIVATION_STALE, ((const char *[]) { field, NULL }),
                  "Activation %s (%s%s): %s, last event %" PRIu64 " %s ago (over retention.stale_after): closed as "
                  "stale; nobody is called or told", a->id, a->chain, a->drill ? ", drill" : "",
                  act_state_names[a->state], min < 120 ? min : min / 60, min < 120 ? "min" : "h");
        act_close_stale(a, now);
        act_commit(a);
        return true;
}

static int cmp_names(const void *x, const void *y) {
        return strcmp(*(char *const *) x, *(char *const *) y);
}

int act_load_all(struct activations *m) {
        int dfd = dup(store_dirfd(m->store, STORE_ACTIVATIONS));
        if (dfd < 0)
                return -errno;
        DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return -errno;
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l < 5 || strcmp(de->d_name + l - 4, ".log") != 0 || de->d_name[0] == '.')
                        continue;
                char **v = realloc(names, (n + 1) * sizeof(*v));
                if (!v)
                        break;
                names = v;
                names[n] = strdup(de->d_name);
                if (names[n])
                        n++;
        }
        closedir(d);
        if (n > 1)
                qsort(names, n, sizeof(*names), cmp_names);
        /* Newest first in the list: load oldest first and prepend. */
        for (size_t i = 0; i < n; i++) {
                load_one(m, names[i]);
                free(names[i]);
        }
        free(names);

        unsigned resumed = 0, resent = 0;
        uint64_t now = beredd_now();
        for (struct activation *a = m->list; a; a = a->next) {
                if (a->broken || close_if_stale(m, a, now))
                        continue;
                /* In flight at the crash: send again, with the same key; a
                 * call only while it is still wanted (a phone ringing for a
                 * team that stands, or for someone who has answered, is
                 * worse than none). */
                for (size_t i = 0; i < a->n_notifs; i++)
                        if (a->notifs[i].state == N_SENDING) {
                                struct notif *nt = &a->notifs[i];
                                const struct member *mb = act_find_member(a, nt->person, false);
                                const char *why = nt->ch == CHANNEL_VOICE && mb ? act_call_unwanted(a, mb, nt->step, now)
                                                                                : NULL;
                                if (why) {
                                        (void) act_record(a, json_pack("{s:s, s:s, s:s, s:s, s:b}", "t", "failed", "key",
                                                                       nt->key, "gw", "", "error", why, "unreachable", 0),
                                                          now);
                                        continue;
                                }
                                a->notifs[i].state = N_QUEUED;
                                resent++;
                                if ((a->notifs[i].ch == CHANNEL_EMAIL && act_is_ask(a->notifs[i].kind) && m->public_url) ||
                                    a->notifs[i].ch == CHANNEL_VOICE)
                                        act_make_token(a, &a->notifs[i], now);
                        }
                resumed += a->state == ACT_MOBILISING;
                act_resume(a, now);
                act_commit_and_dispatch(a);
                act_arm_timer(a); /* only while mobilising or verifying */
        }
        if (resumed || resent)
                log_notice("Resumed %u open activation(s); resending %u notification(s) that were in flight", resumed,
                           resent);
        return 0;
}

/* ---- retention: ended activations, after their last event ---- */

/* Nothing of A may still be in use: every event on disk, nothing queued or
 * with a gateway (a reply to it would find nothing), no timer. */
static bool purgeable(const struct activation *a, uint64_t before) {
        if ((a->state != ACT_RESOLVED && a->state != ACT_VERIFIED) || a->broken || a->dirty || a->buf_len > 0 ||
            a->last_ts >= before)
                return false;
        for (size_t i = 0; i < a->n_notifs; i++)
                if (a->notifs[i].state == N_QUEUED || a->notifs[i].state == N_SENDING)
                        return false;
        return true;
}

int activations_purge(struct activations *m, uint64_t before, unsigned *ret_n) {
        unsigned n = 0;
        int r = 0;

        for (struct activation **pp = &m->list; *pp;) {
                struct activation *a = *pp;
                char name[128];

                if (!purgeable(a, before)) {
                        pp = &a->next;
                        continue;
                }
                snprintf(name, sizeof(name), "%s.log", a->id);
                int k = store_unlink(m->store, STORE_ACTIVATIONS, name);
                if (k < 0 && k != -ENOENT) {
                        r = r ?: k; /* kept, in memory and on disk: tried again next sweep */
                        pp = &a->next;
                        continue;
                }
                *pp = a->next;
                activation_free(a);
                n++;
        }
        if (n > 0) {
                int k = store_sync_dir(m->store, STORE_ACTIVATIONS);
                r = r ?: k;
        }
        *ret_n = n;
        return r;
}
