/* activation-replay.c - reading an activation log back: each line is an
 * event handed to act_apply, as the live path applied it (start-up, and
 * activation_log_check for the fuzz target). */
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

/* ---- replay ---- */

static char *jstrdup(json_t *o, const char *k) {
        const char *s = json_string_value(json_object_get(o, k));
        return s ? strdup(s) : NULL;
}

uint64_t act_jts(json_t *o) {
        return (uint64_t) json_integer_value(json_object_get(o, "ts"));
}

static enum channel channel_from(const char *s) {
        return s && streq(s, "email") ? CHANNEL_EMAIL : CHANNEL_SMS;
}

/* Apply one logged event to A (replay). Returns -EINVAL for an event that
 * does not fit. */
static int replay_event(struct activation *a, json_t *o) {
        const char *t = json_string_value(json_object_get(o, "t"));
        uint64_t ts = act_jts(o);
        if (!t)
                return -EINVAL;
        if (streq(t, "created")) {
                if (a->code || a->chain || a->message || a->by || a->origin || a->src)
                        return -EINVAL; /* created twice: not a log this engine wrote */
                a->code = jstrdup(o, "code");
                a->chain = jstrdup(o, "chain");
                a->message = jstrdup(o, "message");
                a->by = jstrdup(o, "by");
                a->origin = jstrdup(o, "origin");
                a->src = jstrdup(o, "src");
                a->drill = json_is_true(json_object_get(o, "drill"));
                a->verify = json_is_true(json_object_get(o, "verify"));
                a->window = (uint64_t) json_integer_value(json_object_get(o, "window"));
                if (a->verify)
                        a->state = ACT_VERIFYING;
                a->created = ts;
                return a->code && a->chain ? 0 : -EINVAL;
        }
        if (!a->chain)
                return -EINVAL; /* everything else comes after "created" */
        if (streq(t, "step")) {
                json_t *pl = json_object_get(o, "people");
                struct people_set set = {};
                act_free_people(a);
                for (size_t i = 0; i < json_array_size(pl); i++) {
                        const char *p = json_string_value(json_array_get(pl, i));
                        if (p)
                                act_add_person(&set, p);
                }
                act_take_people(&set, &a->people, &a->n_people);
                a->step = (int) json_integer_value(json_object_get(o, "step"));
                a->run = (int) json_integer_value(json_object_get(o, "run"));
                a->parallel = json_is_true(json_object_get(o, "parallel"));
                a->seq_pos = 0;
                a->deadline = (uint64_t) json_integer_value(json_object_get(o, "deadline"));
        } else if (streq(t, "next")) {
                a->seq_pos = (size_t) json_integer_value(json_object_get(o, "pos"));
                a->deadline = (uint64_t) json_integer_value(json_object_get(o, "deadline"));
        } else if (streq(t, "repeat")) {
                a->run = (int) json_integer_value(json_object_get(o, "run"));
        } else if (streq(t, "sending")) {
                const char *key = json_string_value(json_object_get(o, "key"));
                const char *person = json_string_value(json_object_get(o, "person"));
                const char *kind = json_string_value(json_object_get(o, "kind"));
                if (!key || !person || !kind)
                        return -EINVAL;
                if (act_grow((void **) &a->notifs, a->n_notifs, &a->notifs_cap, sizeof(*a->notifs)) < 0)
                        return -ENOMEM;
                struct notif *v = a->notifs;
                v[a->n_notifs++] = (struct notif) {
                        .key = strdup(key), .person = strdup(person), .kind = strdup(kind),
                        .ch = channel_from(json_string_value(json_object_get(o, "ch"))),
                        .step = (int) json_integer_value(json_object_get(o, "step")), .state = N_SENDING,
                        .ts_sending = ts,
                };
                const char *nonce = json_string_value(json_object_get(o, "nonce"));
                if (nonce && strlen(nonce) == 16 && strspn(nonce, "0123456789abcdef") == 16)
                        memcpy(v[a->n_notifs - 1].nonce, nonce, 17);
                const char *dot = strrchr(key, '.');
                if (dot && (unsigned) atoi(dot + 1) >= a->seq)
                        a->seq = (unsigned) atoi(dot + 1) + 1;
                struct member *mb = act_find_member(a, person, true);
                if (mb && act_is_ask(kind)) {
                        mb->channels |= v[a->n_notifs - 1].ch;
                        mb->notified_run = a->run;
                        if (!mb->first_notified)
                                mb->first_notified = ts;
                } else if (mb) {
                        act_member_mark(mb, kind);
                }
                if (act_is_quorum_telling(kind))
                        a->told_at = ts ? ts : 1;
        } else if (streq(t, "sent") || streq(t, "failed")) {
                struct notif *n = act_find_notif(a, json_string_value(json_object_get(o, "key")) ?: "");
                if (!n)
                        return -EINVAL;
                n->ts_done = ts;
                free(n->gateway);
                n->gateway = jstrdup(o, "gw");
                free(n->provider_ref);
                n->provider_ref = jstrdup(o, "ref");
                if (streq(t, "sent")) {
                        n->state = N_SENT;
                } else {
                        n->state = json_is_true(json_object_get(o, "unreachable")) ? N_UNREACHABLE : N_FAILED;
                        struct member *mb = act_find_member(a, n->person, false);
                        if (mb && act_is_ask(n->kind))
                                mb->dead |= n->ch;
                }
        } else if (streq(t, "token")) {
                const char *person = json_string_value(json_object_get(o, "person"));
                const char *h = json_string_value(json_object_get(o, "hash"));
                struct member *mb = person ? act_find_member(a, person, true) : NULL;
                if (!mb || !h || strlen(h) != 2 * SHA256_DIGEST_LENGTH)
                        return -EINVAL;
                act_member_add_token(mb, h);
        } else if (streq(t, "receipt")) {
                struct notif *n = act_find_notif(a, json_string_value(json_object_get(o, "key")) ?: "");
                if (!n)
                        return -EINVAL;
                bool delivered = json_is_true(json_object_get(o, "delivered"));
                n->state = delivered ? N_DELIVERED : N_UNDELIVERABLE;
                struct member *mb = act_find_member(a, n->person, false);
                if (!delivered && mb && act_is_ask(n->kind))
                        mb->dead |= n->ch;
        } else if (streq(t, "reply")) {
                const char *person = json_string_value(json_object_get(o, "person"));
                const char *ans = json_string_value(json_object_get(o, "answer"));
                struct member *mb = person ? act_find_member(a, person, true) : NULL;
                if (!mb || !ans)
                        return -EINVAL;
                mb->answer = streq(ans, "yes") ? ANSWER_YES : ANSWER_NO;
                mb->answered = ts;
        } else if (streq(t, "impossible")) {
                /* The quorum was found out of reach; who was told is in the "sending" events. */
                if (!a->impossible_at)
                        a->impossible_at = ts ? ts : 1;
        } else if (streq(t, "reachable")) {
                /* Within reach again: the decision withdrawn; who is told is in the "sending" events. */
                act_reachable_reset(a);
                a->reachable_at = ts ? ts : 1;
                free(a->quorum_by);
                a->quorum_by = jstrdup(o, "person");
        } else if (streq(t, "unmobilised")) {
                /* No longer complete; the "state" event that follows makes it mobilising. */
                act_unmobilised_reset(a);
                a->unmobilised_at = ts ? ts : 1;
                a->n_unmobilised++;
                free(a->quorum_by);
                a->quorum_by = jstrdup(o, "person");
        } else if (streq(t, "resume")) {
                a->deadline = (uint64_t) json_integer_value(json_object_get(o, "deadline"));
        } else if (streq(t, "unsolicited")) {
                /* An answer from someone not asked: shown, never counted. */
                a->n_unsolicited++;
        } else if (streq(t, "state")) {
                const char *st = json_string_value(json_object_get(o, "state"));
                for (size_t i = 0; st && i < ELEMENTSOF(act_state_names); i++)
                        if (streq(st, act_state_names[i])) {
                                a->state = (enum act_state) i;
                                a->state_ts = ts;
                                a->deadline = 0;
                                if (i == ACT_MOBILISED)
                                        a->mobilised_at = ts;
                        }
        }
        /* "skip", "timeout" and unknown future events change nothing. */
        return 0;
}

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
                if (!o || replay_event(a, o) < 0) {
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
