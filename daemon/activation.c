/* activation.c - the escalation engine (see activation.h).
 *
 * Life of an activation:
 *   trigger -> step 0 ... step n-1 (each: parallel or sequential, a wait)
 *           -> quorum met at any point: mobilised (stand-down to the rest)
 *           -> steps act_exhausted (after `repeat` extra runs): short, the final
 *              step (e.g. legevakt) is told
 *   resolve -> resolved (those who said yes are thanked, the rest stood down)
 *
 * Write-ahead: decisions are appended to the activation's log buffer; the
 * buffer is written and fdatasync'ed (act_commit) before any notification the
 * decision causes is handed to a gateway (dispatch). Outcomes that cause
 * nothing outside ("sent", "failed") are committed together (group act_commit):
 * when the loop has nothing else to do, or once LAZY_MAX_USEC has passed or
 * LAZY_MAX_EVENTS are waiting, whichever comes first. Until then MQTT holds
 * the events logged after the last act_commit (activations_committed_seq), so
 * nothing is published before it is on disk. A kill in that window means a message sent again, as a kill
 * during the request itself does. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/sha.h>

#include "activation-internal.h"
#include "log.h"
#include "macro.h"
#include "strmap.h"
#include "text.h"
#include "time-util.h"
#include "wording.h"

#define COMMIT_RETRY_USEC (5 * USEC_PER_SEC)
#define LAZY_MAX_USEC     (5 * USEC_PER_SEC / 1000) /* group commit of outcomes: at most this late */
#define LAZY_MAX_EVENTS   512

struct activation *act_find_activation(struct activations *m, const char *id) {
        for (struct activation *a = m->list; a; a = a->next)
                if (streq(a->id, id))
                        return a;
        return NULL;
}

/* The notification with gateway key KEY ("<activation id>.<seq>") and, in
 * *RET_A, its activation; NULL when either is gone. */
static struct notif *notif_of_key(struct activations *m, const char *key, struct activation **ret_a) {
        char id[96];
        const char *dot = strrchr(key, '.');
        if (!dot || (size_t) (dot - key) >= sizeof(id))
                return NULL;
        memcpy(id, key, (size_t) (dot - key));
        id[dot - key] = '\0';
        struct activation *a = act_find_activation(m, id);
        *ret_a = a;
        return a ? act_find_notif(a, key) : NULL;
}

void act_emit(struct activation *a, const char *type, int step, const char *person, const char *channel,
              const char *detail, uint64_t ts) {
        struct act_event ev = {
                .type = type, .activation = a->id, .chain = a->chain, .step = step, .person = person,
                .channel = channel, .detail = detail, .drill = a->drill, .ts = ts, .latency = -1,
        };
        /* Set by on_gateway_done for the one event it emits next; a pointer
         * into notifs, so never kept beyond that. */
        if ((streq(type, "sent") || streq(type, "failed")) && a->last_done && a->last_done->ts_done)
                ev.latency = (double) (a->last_done->ts_done - a->last_done->ts_sending) / 1e6;
        a->last_done = NULL;
        if (a->mgr->cb)
                a->mgr->cb(a->mgr->userdata, &ev);
}

/* The names in JSON array ARR joined by ", " into WHAT (LEN bytes), as
 * act_needs_unmet joined them when it made the array. */
static void join_names(json_t *arr, char *what, size_t len) {
        what[0] = '\0';
        for (size_t i = 0; i < json_array_size(arr); i++) {
                const char *w = json_string_value(json_array_get(arr, i));
                size_t l = strlen(what);
                if (w)
                        snprintf(what + l, len - l, "%s%s", l ? ", " : "", w);
        }
}

/* What an event the core decided on means outside the process: the event
 * handed to the manager's callback (MQTT holds it until its log line is
 * committed) and, for the turns of the quorum and the state, the journal
 * line; derived from event O alone and the state it left in A. act_record
 * calls it once O is in the log buffer; replay never does. Events the shell
 * records itself ("created", "sent", "failed", "receipt", "unsolicited")
 * are told where it records them. */
const char *act_journal_field(char *buf, size_t size, const char *key, const char *value) {
        snprintf(buf, size, "%s%s", key, value ? value : "");
        return buf;
}

/* The MESSAGE_ID of state ST: each state its own, so "short" (the team was
 * not mobilised) can be alerted on alone. */
static const char *state_msgid(const struct activation *a, enum act_state st) {
        switch (st) {
        case ACT_MOBILISED: return MSGID_ACTIVATION_MOBILISED;
        case ACT_SHORT:     return MSGID_ACTIVATION_SHORT;
        case ACT_RESOLVED:  return a->verify ? MSGID_VERIFY_ENDED : MSGID_ACTIVATION_RESOLVED;
        case ACT_VERIFYING: return MSGID_VERIFY_STARTED;
        case ACT_VERIFIED:  return MSGID_VERIFY_ENDED;
        case ACT_MOBILISING:
        default:            return MSGID_ACTIVATION_MOBILISING;
        }
}

void act_narrate(struct activation *a, json_t *o, uint64_t now) {
        const char *t = json_string_value(json_object_get(o, "t"));
        const char *drill = a->drill ? ", drill" : "";
        char what[256];
        if (!t)
                return;
        if (streq(t, "sending")) {
                act_emit(a, "notify", (int) json_integer_value(json_object_get(o, "step")),
                         json_string_value(json_object_get(o, "person")), json_string_value(json_object_get(o, "ch")),
                         json_string_value(json_object_get(o, "kind")), now);
        } else if (streq(t, "reply")) {
                act_emit(a, "reply", a->step, json_string_value(json_object_get(o, "person")), NULL,
                         json_string_value(json_object_get(o, "answer")), now);
        } else if (streq(t, "step")) {
                if (!a->verify) /* a check's people, asked at once: no step */
                        act_emit(a, "step", a->step, NULL, NULL, a->parallel ? "parallel" : "sequential", now);
        } else if (streq(t, "skip")) {
                const char *why = json_string_value(json_object_get(o, "reason"));
                act_emit(a, "skip", (int) json_integer_value(json_object_get(o, "step")), NULL, NULL,
                         why && streq(why, "nobody left to ask") ? "nobody" : "when", now);
        } else if (streq(t, "repeat")) {
                act_emit(a, "repeat", -1, NULL, NULL, NULL, now);
        } else if (streq(t, "resume")) {
                act_emit(a, "resume", a->step, NULL, NULL, NULL, now);
        } else if (streq(t, "state")) {
                enum act_state st = a->state; /* as the event left it */
                act_emit(a, act_state_names[st], a->step, json_string_value(json_object_get(o, "by")), NULL, NULL, now);
                log_event(st == ACT_SHORT ? LOG_WARNING : LOG_NOTICE, state_msgid(a, st), ACT_FIELDS(a),
                          "Activation %s (%s%s): %s", a->id, a->chain, drill, act_state_names[st]);
        } else if (streq(t, "reachable")) {
                act_emit(a, "reachable", a->step, NULL, NULL, NULL, now);
                log_event(LOG_NOTICE, MSGID_QUORUM_REACHABLE, ACT_FIELDS(a),
                          "Activation %s (%s%s): the quorum can be met after all; those told it could not are told now",
                          a->id, a->chain, drill);
        } else if (streq(t, "impossible") || streq(t, "unmobilised")) {
                /* The requirements out of reach, or no longer met. */
                bool lost = streq(t, "unmobilised");
                join_names(json_object_get(o, lost ? "unmet" : "out_of_reach"), what, sizeof(what));
                act_emit(a, t, a->step, NULL, NULL, what, now);
                if (lost)
                        log_event(LOG_WARNING, MSGID_QUORUM_LOST, ACT_FIELDS(a),
                                  "Activation %s (%s%s): a yes became a no; the team is no longer complete (%s): "
                                  "mobilising again, those told it was mobilised are told now",
                                  a->id, a->chain, drill, what);
                else
                        log_event(LOG_WARNING, MSGID_QUORUM_IMPOSSIBLE, ACT_FIELDS(a),
                                  "Activation %s (%s%s): the quorum can no longer be met (%s); the final step is "
                                  "told now, the escalation goes on",
                                  a->id, a->chain, drill, what);
        } else if (streq(t, "call") || streq(t, "keypress")) {
                /* A call's progress: the status word, or "keypress"; no
                 * number, no digits (they are the answer, told as "reply"). */
                struct notif *n = act_find_notif(a, json_string_value(json_object_get(o, "key")) ?: "");
                if (n)
                        act_emit(a, "call", n->step, n->person, "voice",
                                 streq(t, "call") ? json_string_value(json_object_get(o, "status")) : "keypress", now);
        } else if (streq(t, "skipped")) {
                /* Away: person ids only, never the absence's note. */
                const char *who = json_string_value(json_object_get(o, "person"));
                const char *instead = json_string_value(json_object_get(o, "instead"));
                int step = (int) json_integer_value(json_object_get(o, "step"));
                act_emit(a, "skipped", step, who, NULL, "away", now);
                const char *ro = json_string_value(json_object_get(o, "roster"));
                if (ro && instead)
                        log_info("Activation %s (%s%s): %s, on duty for roster %s, is away; %s is asked instead",
                                 a->id, a->chain, drill, who ?: "?", ro, instead);
                else if (ro)
                        log_info("Activation %s (%s%s): %s, on duty for roster %s, is away, and so is everyone "
                                 "else in the roster", a->id, a->chain, drill, who ?: "?", ro);
                else if (step < 0)
                        log_info("Activation %s (%s%s): %s is away and is not asked in the check", a->id, a->chain,
                                 drill, who ?: "?");
                else
                        log_info("Activation %s (%s%s): %s is away and is not asked (step %d)", a->id, a->chain,
                                 drill, who ?: "?", step + 1);
        } else if (streq(t, "call-later")) {
                act_emit(a, "call-later", (int) json_integer_value(json_object_get(o, "step")),
                         json_string_value(json_object_get(o, "person")), "voice", NULL, now);
        }
        /* "next", "unaddressed", "token", "timeout", "call-skipped": nothing outside. */
}

/* ---- the log ---- */

static void mark_dirty(struct activation *a) {
        struct activations *m = a->mgr;
        if (!a->dirty) {
                a->dirty = true;
                a->dirty_seq = m->logged_seq;
                m->n_dirty++;
        }
        if (!m->lazy_since) {
                uint64_t now = 0;
                (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
                m->lazy_since = now ? now : 1;
                sd_event_source_set_enabled(m->post, SD_EVENT_ON);
                sd_event_source_set_enabled(m->idle, SD_EVENT_ON);
        }
        m->lazy_events++;
}

/* Append one event (O gets "ts" and is consumed) to the log buffer. */
void act_log(struct activation *a, json_t *o, uint64_t ts) {
        json_object_set_new(o, "ts", json_integer((json_int_t) ts));
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        if (!s) {
                log_error("Activation %s: out of memory writing the log", a->id);
                return;
        }
        size_t n = strlen(s);
        if (a->buf_len + n + 1 > a->buf_cap) {
                size_t cap = (a->buf_len + n + 1) * 2;
                char *b = realloc(a->buf, cap);
                if (!b) {
                        free(s);
                        log_error("Activation %s: out of memory writing the log", a->id);
                        return;
                }
                a->buf = b;
                a->buf_cap = cap;
        }
        memcpy(a->buf + a->buf_len, s, n);
        a->buf[a->buf_len + n] = '\n';
        a->buf_len += n + 1;
        free(s);
        a->mgr->logged_seq++;
        mark_dirty(a);
}

static void clean(struct activation *a) {
        struct activations *m = a->mgr;
        if (!a->dirty)
                return;
        a->dirty = false;
        if (--m->n_dirty == 0) {
                m->lazy_since = 0;
                m->lazy_events = 0;
                sd_event_source_set_enabled(m->post, SD_EVENT_OFF);
                sd_event_source_set_enabled(m->idle, SD_EVENT_OFF);
        }
}

int act_commit(struct activation *a) {
        if (a->buf_len > 0) {
                char name[128];
                snprintf(name, sizeof(name), "%s.log", a->id);
                /* A new log: one fdatasync (store_append_deferred). */
                int r = store_append_deferred(a->mgr->store, STORE_ACTIVATIONS, name, a->buf, a->buf_len);
                if (r < 0)
                        return r;
                a->buf_len = 0;
        }
        clean(a);
        return 0;
}

static void on_gateway_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                            const char *error, const char *provider_ref);

/* Asked by a gateway before it tries a message again after an outage: a
 * call-out is worth sending only while the team is still being called in, a
 * stand-down only while the team stands, the message to the final step only
 * while the activation is short. Thanks are always worth it. */
static bool still_wanted(void *userdata, const char *key) {
        struct activation *a;
        const struct notif *n = notif_of_key(userdata, key, &a);
        if (!n)
                return false;
        if (n->ch == CHANNEL_VOICE) { /* a call waits for a free line: not to someone who has answered */
                const struct member *mb = act_find_member(a, n->person, false);
                return a->state == ACT_MOBILISING && (!mb || mb->answer == ANSWER_NONE);
        }
        if (streq(n->kind, "callout") || streq(n->kind, "recall"))
                return a->state == ACT_MOBILISING;
        if (streq(n->kind, "verify"))
                return a->state == ACT_VERIFYING;
        if (streq(n->kind, "standdown"))
                return a->state == ACT_MOBILISED;
        if (streq(n->kind, "unreachable"))
                return a->state == ACT_SHORT;
        /* "It cannot be done" is wrong once the team stands. */
        if (streq(n->kind, "impossible") || streq(n->kind, "report-impossible"))
                return (a->state == ACT_MOBILISING && a->impossible_at) || a->state == ACT_SHORT;
        if (streq(n->kind, "report-short"))
                return a->state == ACT_MOBILISING || a->state == ACT_SHORT;
        /* "No longer complete" is wrong once it is complete again, "within
         * reach" once it is out of reach again or complete. */
        if (streq(n->kind, "unmobilised") || streq(n->kind, "report-unmobilised"))
                return a->state == ACT_MOBILISING || a->state == ACT_SHORT;
        if (streq(n->kind, "reachable") || streq(n->kind, "report-reachable"))
                return a->state == ACT_MOBILISING && !a->impossible_at;
        /* "Mobilised" is wrong once it is no longer complete. */
        if (streq(n->kind, "update") || streq(n->kind, "report-mobilised"))
                return a->state == ACT_MOBILISED || a->state == ACT_RESOLVED;
        return true;
}

/* Hand every committed, queued notification to its gateway. */
static void dispatch(struct activation *a) {
        struct people_set dead = {}; /* asked, and nothing could take it */
        for (size_t i = 0; i < a->n_notifs; i++) {
                struct notif *n = &a->notifs[i];
                if (n->state != N_QUEUED)
                        continue;
                const struct person *p = config_person(a->mgr->cfg, n->person);
                char subject[256], text[8192];
                struct composed res;
                res.call_nb[0] = '\0';
                act_compose(a, n, p, subject, sizeof(subject), text, sizeof(text), &res);
                char cref[160];
                snprintf(cref, sizeof(cref), "%s.%s", n->key, n->nonce);
                struct gw_message m = {
                        .key = n->key,
                        .ref = n->nonce[0] ? cref : NULL,
                        .channel = n->ch,
                        .person = n->person,
                        .to = !p ? NULL : n->ch == CHANNEL_EMAIL ? p->email : p->phone,
                        .subject = n->ch == CHANNEL_EMAIL ? subject : NULL,
                        .text = text,
                        .token = n->ch == CHANNEL_VOICE ? n->token : NULL,
                        .en = p && p->lang == LANG_EN,
                        .text_nb = n->ch == CHANNEL_VOICE && res.call_nb[0] ? res.call_nb : NULL,
                        .keep_trying = GW_KEEP_TRYING_USEC,
                        .wanted = still_wanted,
                };
                const struct chain *c = act_chain(a);
                if (c && n->step >= 0 && (size_t) n->step < c->n_steps)
                        m.validity = c->steps[n->step].wait;
                n->state = N_SENDING;
                int r = m.to ? gateway_send(a->mgr->gw, &m, on_gateway_done, a->mgr) : -ENOENT;
                if (r < 0) {
                        /* Logged and applied like any failure (unreachable on
                         * the channel), so a replay comes to the same. */
                        act_record(a, json_pack("{s:s, s:s, s:s, s:b}", "t", "failed", "key", n->key, "error",
                                                r == -ENOENT ? "no gateway or address for the channel" : strerror(-r),
                                                "unreachable", 1),
                                   beredd_now());
                        act_emit(a, "failed", n->step, n->person, channel_name(n->ch), "no gateway or address",
                                 beredd_now());
                        if (act_is_ask(n->kind))
                                (void) act_add_person(&dead, n->person);
                }
        }
        /* Someone asked that nothing could take the message to is
         * unreachable on that channel: the chain may move on. What that
         * decides is committed before it goes (the commit below). */
        char **v;
        size_t n;
        act_take_people(&dead, &v, &n);
        if (n == 0) {
                free(v);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                act_unreachable(a, v[i], beredd_now());
                free(v[i]);
        }
        free(v);
        if (a->dirty)
                (void) act_commit_and_dispatch(a);
}

/* Commit A's log and release its notifications. On a spool error nothing is
 * released: the decision is retried when the spool takes writes again. */
int act_commit_and_dispatch(struct activation *a) {
        int r = act_commit(a);
        if (r < 0) {
                log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL, "Activation %s: cannot write its log: %s; holding its messages",
                          a->id, strerror(-r));
                sd_event_source_set_enabled(a->mgr->retry, SD_EVENT_ONESHOT);
                return r;
        }
        dispatch(a);
        /* dispatch may have logged failures: they cause nothing outside. */
        return 0;
}

static int on_hold(sd_event_source *s, uint64_t usec, void *userdata);

/* Arm (or re-arm) *SRC, a one-shot timer on the real clock, for WHEN in
 * beredd's time (deadlines are in beredd's time). */
static int arm_oneshot(struct activation *a, sd_event_source **src, uint64_t when, sd_event_time_handler_t cb,
                       const char *desc) {
        uint64_t at = (uint64_t) ((int64_t) when - time_offset());
        if (!*src) {
                if (sd_event_add_time(a->mgr->event, src, CLOCK_REALTIME, at, 1000, cb, a) < 0) {
                        log_error("Activation %s: cannot arm its timer", a->id);
                        return -1;
                }
                sd_event_source_set_description(*src, desc);
        } else {
                sd_event_source_set_time(*src, at);
        }
        sd_event_source_set_enabled(*src, SD_EVENT_ONESHOT);
        return 0;
}

/* The hold has ended: still out of reach, tell those not told in this round. */
static int on_hold(sd_event_source *s, uint64_t usec, void *userdata) {
        struct activation *a = userdata;
        const struct chain *c = act_chain(a);
        (void) s;
        (void) usec;
        if (!c || a->verify || a->broken || a->state != ACT_MOBILISING || !a->impossible_at)
                return 0;
        act_tell_out_of_reach(a, c, beredd_now());
        act_commit_and_dispatch(a);
        return 0;
}

void act_hold_until(struct activation *a, uint64_t when) {
        (void) arm_oneshot(a, &a->hold, when, on_hold, "activation-hold");
}

/* ---- timers ---- */

/* The next thing A waits for: its deadline, or a call to place (only
 * while the team is being called in); 0 = nothing. */
static uint64_t next_wakeup(const struct activation *a) {
        if (a->state != ACT_MOBILISING && a->state != ACT_VERIFYING)
                return 0;
        uint64_t t = a->deadline, c = a->state == ACT_MOBILISING ? act_next_call(a) : 0;
        return c && (!t || c < t) ? c : t;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct activation *a = userdata;
        uint64_t now = beredd_now(), when = next_wakeup(a);
        if (!when)
                return 0;
        if (now < when) { /* the clock moved: wait on */
                act_arm_timer(a);
                return 0;
        }
        if (a->state == ACT_MOBILISING)
                act_calls_due(a, now); /* the calls whose time has come */
        if (a->deadline && a->deadline <= now && (a->state == ACT_MOBILISING || a->state == ACT_VERIFYING))
                act_timeout(a, now);
        if (act_commit_and_dispatch(a) >= 0 && !a->verify)
                act_arm_timer(a);
        return 0;
}

void act_arm_timer(struct activation *a) {
        uint64_t when = next_wakeup(a);
        if (!when) {
                if (a->timer)
                        sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
                return;
        }
        (void) arm_oneshot(a, &a->timer, when, on_timer, "activation-timer");
}

/* ---- gateway results ---- */

static void on_gateway_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                            const char *error, const char *provider_ref) {
        struct activation *a;
        struct notif *n = notif_of_key(userdata, key, &a);
        if (!n)
                return;
        uint64_t now = beredd_now();
        if (result == GW_SENT) {
                json_t *o = json_pack("{s:s, s:s}", "t", "sent", "key", key);
                if (o && gateway_id)
                        json_object_set_new(o, "gw", json_string(gateway_id));
                if (o && provider_ref)
                        json_object_set_new(o, "ref", json_string(provider_ref));
                if (act_record(a, o, now) < 0)
                        return;
                a->last_done = n;
                act_emit(a, "sent", n->step, n->person, channel_name(n->ch), n->kind, now);
                return;
        }
        if (act_record(a, json_pack("{s:s, s:s, s:s, s:s, s:b}", "t", "failed", "key", key, "gw",
                                    gateway_id ? gateway_id : "", "error", error ? error : "", "unreachable",
                                    result == GW_UNREACHABLE),
                       now) < 0)
                return;
        a->last_done = n;
        act_emit(a, "failed", n->step, n->person, channel_name(n->ch), error, now);
        log_warning("Activation %s: %s to %s over %s failed: %s", a->id, n->kind, n->person, channel_name(n->ch),
                    error ? error : "?");
        if (act_is_ask(n->kind)) {
                act_unreachable(a, n->person, now);
                if (act_commit_and_dispatch(a) >= 0)
                        act_arm_timer(a);
        }
}

/* Group commit: every log with events still buffered. */
static void commit_all(struct activations *m) {
        for (struct activation *a = m->list; a && m->n_dirty; a = a->next)
                if (a->dirty && act_commit(a) < 0) {
                        /* The retry timer's now: MQTT is not held for it. */
                        sd_event_source_set_enabled(m->retry, SD_EVENT_ONESHOT);
                        clean(a);
                }
}

/* After every dispatch: commit when the oldest event has waited long enough. */
static int on_post(sd_event_source *s, void *userdata) {
        struct activations *m = userdata;
        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (m->lazy_since && m->lazy_events < LAZY_MAX_EVENTS && now < m->lazy_since + LAZY_MAX_USEC)
                return 0;
        commit_all(m);
        return 0;
}

/* Nothing else pending: the names of new logs made durable (their records
 * are), and a file ready for the next activation's log. */
static int on_spare(sd_event_source *s, void *userdata) {
        struct activations *m = userdata;
        (void) s;
        /* Both in one: the spare's sync of tmp/ serves the names too. */
        if (store_prepare_spare(m->store) >= 0) /* without one the next trigger creates its file itself */
                return 0;
        int r = store_sync_pending(m->store);
        if (r < 0)
                log_warning_errno(r, "Spool: cannot sync activations/: %m; tried again after the next trigger");
        return 0;
}

/* Nothing else pending: commit now. */
static int on_idle(sd_event_source *s, void *userdata) {
        commit_all(userdata);
        return 0;
}

uint64_t activations_logged_seq(const struct activations *m) {
        return m ? m->logged_seq : 0;
}

uint64_t activations_committed_seq(const struct activations *m) {
        if (!m)
                return UINT64_MAX;
        uint64_t c = m->logged_seq;
        for (const struct activation *a = m->list; a && m->n_dirty; a = a->next)
                if (a->dirty && a->dirty_seq - 1 < c)
                        c = a->dirty_seq - 1;
        return c;
}

bool activations_dirty(struct activations *m, const char *id) {
        const struct activation *a = m ? act_find_activation(m, id) : NULL;
        return a && a->dirty;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct activations *m = userdata;
        bool again = false;
        for (struct activation *a = m->list; a; a = a->next)
                if (a->buf_len) {
                        if (act_commit_and_dispatch(a) < 0)
                                again = true;
                        else
                                act_arm_timer(a);
                }
        if (again) {
                sd_event_source_set_time_relative(s, COMMIT_RETRY_USEC);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

void activation_free(struct activation *a) {
        if (!a)
                return;
        if (a->dirty && a->mgr)
                clean(a);
        sd_event_source_disable_unref(a->timer);
        sd_event_source_disable_unref(a->hold);
        for (size_t i = 0; i < a->n_notifs; i++) {
                free(a->notifs[i].key);
                free(a->notifs[i].person);
                free(a->notifs[i].kind);
                free(a->notifs[i].gateway);
                free(a->notifs[i].provider_ref);
        }
        free(a->notifs);
        for (size_t i = 0; i < a->n_members; i++) {
                free(a->members[i].person);
                for (size_t k = 0; k < a->members[i].n_tokens; k++)
                        free(a->members[i].tokens[k].key);
                free(a->members[i].tokens);
        }
        free(a->members);
        strmap_clear(&a->member_map);
        act_free_people(a);
        for (size_t i = 0; i < a->n_skips; i++) {
                free(a->skips[i].person);
                free(a->skips[i].roster);
                free(a->skips[i].instead);
        }
        free(a->skips);
        free(a->id);
        free(a->code);
        free(a->chain);
        free(a->message);
        free(a->by);
        free(a->origin);
        free(a->src);
        free(a->quorum_by);
        free(a->buf);
        free(a);
}

/* ---- commands ---- */

static bool may_trigger(const struct config *cfg, const struct chain *c, const char *by) {
        const struct person *p = config_person(cfg, by);
        for (size_t i = 0; i < c->n_may_trigger; i++) {
                const struct target *t = &c->may_trigger[i];
                if (t->kind == TARGET_PERSON && streq(t->ref, by))
                        return true;
                if (t->kind == TARGET_ROLE && p && person_has_role(p, t->ref))
                        return true;
        }
        return false;
}

static void make_id(struct activations *m, char *id, size_t len) {
        struct calendar_local l;
        for (;;) {
                uint16_t rnd = 0;
                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        rnd = (uint16_t) rand();
                calendar_local(m->cal, beredd_now(), &l);
                snprintf(id, len, "%04d%02d%02d-%02d%02d-%04x", l.date.y, l.date.m, l.date.d, l.hour, l.minute, rnd);
                char name[128];
                snprintf(name, sizeof(name), "%s.log", id);
                if (!act_find_activation(m, id) && faccessat(store_dirfd(m->store, STORE_ACTIVATIONS), name, F_OK, 0) < 0)
                        return;
        }
}

static void make_code(struct activations *m, char *code, size_t len) {
        for (;;) {
                uint32_t rnd = 0;
                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        rnd = (uint32_t) rand();
                snprintf(code, len, "%04u", 1000 + rnd % 9000);
                bool taken = false;
                for (struct activation *a = m->list; a; a = a->next)
                        if (a->state != ACT_RESOLVED && a->state != ACT_VERIFIED && a->code && streq(a->code, code))
                                taken = true;
                if (!taken)
                        return;
        }
}

static const char *const src_names[] = { "socket", "mqtt", "incoming", "sms", "email" };

/* Check the chain and the caller, then create the activation (or the
 * contact-list check) with its "created" event buffered. NULL with ERR set
 * when refused. */
static struct activation *activation_create(struct activations *m, const struct command *cmd, enum source src,
                                            const char *origin, bool verify, int *ret, char *err, size_t errlen) {
        const struct chain *c = config_chain(m->cfg, cmd->chain);
        if (!c) {
                snprintf(err, errlen, "chain: no such chain in the configuration");
                *ret = -ENOENT;
                return NULL;
        }
        if (!may_trigger(m->cfg, c, cmd->by)) {
                log_event(LOG_WARNING, MSGID_REFUSED, NULL, "%s of chain %s by %s refused: not in may_trigger",
                          verify ? "Verify" : "Trigger", c->id, cmd->by);
                snprintf(err, errlen, "by: \"%s\" may not trigger chain \"%s\"", cmd->by, c->id);
                *ret = -EPERM;
                return NULL;
        }
        struct activation *a = calloc(1, sizeof(*a));
        if (!a) {
                *ret = -ENOMEM;
                return NULL;
        }
        char id[64], code[8];
        make_id(m, id, sizeof(id));
        make_code(m, code, sizeof(code));
        *a = (struct activation) { .mgr = m, .id = strdup(id), .step = -1 };
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "t", "created", "id", id, "code", code, "chain",
                              c->id, "drill", cmd->drill, "by", cmd->by, "src", src_names[src]);
        if (o && cmd->message)
                json_object_set_new(o, "message", json_string(cmd->message));
        if (o && origin)
                json_object_set_new(o, "origin", json_string(origin));
        if (o && verify) {
                uint64_t window = cmd->window ? cmd->window : USEC_PER_HOUR;
                json_object_set_new(o, "verify", json_true());
                json_object_set_new(o, "window", json_integer((json_int_t) window));
        }
        if (!a->id || act_record(a, o, beredd_now()) < 0) {
                if (!a->id)
                        json_decref(o);
                activation_free(a);
                snprintf(err, errlen, "out of memory; not started");
                *ret = -ENOMEM;
                return NULL;
        }
        a->next = m->list;
        m->list = a;
        return a;
}

/* The new activation and its first notifications go to disk before the
 * first message leaves and before the caller hears "accepted". */
static int activation_start(struct activations *m, struct activation *a, json_t **reply, char *err, size_t errlen) {
        int r = act_commit(a);
        if (r < 0) {
                snprintf(err, errlen, "spool: cannot persist the %s (%s); not started",
                         a->verify ? "check" : "activation", strerror(-r));
                m->list = a->next;
                activation_free(a);
                return r;
        }
        dispatch(a);
        act_arm_timer(a);
        if (!store_has_spare(m->store))
                sd_event_source_set_enabled(m->spare, SD_EVENT_ONESHOT);
        log_event(LOG_NOTICE, a->verify ? MSGID_VERIFY_STARTED : MSGID_ACTIVATION_STARTED, ACT_FIELDS(a),
                  "%s %s of chain %s%s started by %s",
                  a->verify ? "Contact-list check" : "Activation", a->id, a->chain, a->drill ? " (drill)" : "", a->by);
        *reply = json_object();
        act_summary(a, *reply);
        return 0;
}

int activations_trigger(struct activations *m, const struct command *cmd, enum source src, const char *origin,
                        json_t **reply, char *err, size_t errlen) {
        if (origin)
                for (struct activation *a = m->list; a; a = a->next)
                        if (a->origin && streq(a->origin, origin)) {
                                /* Processed before a crash: the same activation, not a second one. */
                                *reply = json_object();
                                act_summary(a, *reply);
                                return 0;
                        }
        int r;
        struct activation *a = activation_create(m, cmd, src, origin, false, &r, err, errlen);
        if (!a)
                return r;
        act_emit(a, "triggered", -1, cmd->by, NULL, NULL, a->created);
        act_start(a, a->created);
        r = activation_start(m, a, reply, err, errlen);
        if (r >= 0)
                act_reply_messages(a, *reply, true);
        return r;
}

int activations_preview(struct activations *m, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        const struct chain *c = config_chain(m->cfg, cmd->chain);
        if (!c) {
                snprintf(err, errlen, "chain: no such chain in the configuration");
                return -ENOENT;
        }
        if (cmd->by && !may_trigger(m->cfg, c, cmd->by)) {
                snprintf(err, errlen, "by: \"%s\" may not trigger chain \"%s\"", cmd->by, c->id);
                return -EPERM;
        }
        /* A throwaway activation that is never listed, logged or sent: the
         * reply code is a placeholder of the same length as a real one. */
        char code[] = "0000";
        struct activation a = {
                .mgr = m, .code = code, .chain = c->id, .message = cmd->message, .drill = cmd->drill, .step = -1,
        };
        *reply = json_pack("{s:s, s:b, s:b, s:s}", "chain", c->id, "drill", cmd->drill, "dry_run", 1, "code", code);
        act_reply_messages(&a, *reply, false);
        return 0;
}

int activations_verify(struct activations *m, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        int r;
        struct activation *a = activation_create(m, cmd, SOURCE_SOCKET, NULL, true, &r, err, errlen);
        if (!a)
                return r;
        act_emit(a, "verify", -1, cmd->by, NULL, NULL, a->created);
        act_start_check(a, a->created);
        return activation_start(m, a, reply, err, errlen);
}

/* What a command (WHAT: "reply", "resolve") decided goes to disk before its
 * messages leave and before the caller hears it. On a spool error the
 * buffered events are kept and retried: not lost, but we say so honestly. */
static int commit_command(struct activation *a, const char *what, char *err, size_t errlen) {
        int r = act_commit(a);
        if (r < 0) {
                sd_event_source_set_enabled(a->mgr->retry, SD_EVENT_ONESHOT);
                snprintf(err, errlen, "spool: cannot persist the %s (%s); try again", what, strerror(-r));
                return r;
        }
        dispatch(a);
        act_arm_timer(a);
        return 0;
}

static struct activation *find_for_reply(struct activations *m, const struct command *cmd) {
        if (cmd->activation)
                return act_find_activation(m, cmd->activation);
        /* Codes are unique among unresolved activations; prefer those. */
        struct activation *resolved = NULL;
        for (struct activation *a = m->list; a; a = a->next)
                if (a->code && streq(a->code, cmd->code)) {
                        if (a->state != ACT_RESOLVED)
                                return a;
                        if (!resolved)
                                resolved = a;
                }
        return resolved;
}

int activations_reply(struct activations *m, const struct command *cmd, enum source src, json_t **reply, char *err,
                      size_t errlen) {
        const struct person *p = cmd->person ? config_person(m->cfg, cmd->person)
                                             : config_person_by_contact(m->cfg, cmd->phone ? cmd->phone : cmd->email);
        if (!p) {
                snprintf(err, errlen, "person: the sender is not a configured person; nothing changed");
                return -ENOENT;
        }
        struct activation *a = find_for_reply(m, cmd);
        if (!a) {
                snprintf(err, errlen, "%s: no activation with this %s; nothing changed", cmd->activation ? "activation" : "code",
                         cmd->activation ? "id" : "reply code");
                return -ENOENT;
        }
        if (a->state == ACT_RESOLVED) {
                snprintf(err, errlen, "activation %s is already resolved; nothing changed", a->id);
                return -ESTALE;
        }
        if (a->broken) {
                snprintf(err, errlen, "activation %s cannot be changed: its log is damaged", a->id);
                return -EIO;
        }
        if (a->state == ACT_VERIFIED) {
                snprintf(err, errlen, "activation %s: the contact-list check has ended; nothing changed", a->id);
                return -ESTALE;
        }
        uint64_t now = beredd_now();
        /* Only the people asked in this activation count (any channel). */
        struct member *mb = act_find_member(a, p->id, false);
        if (!mb || !mb->channels) {
                act_record(a, json_pack("{s:s, s:s, s:s, s:s}", "t", "unsolicited", "person", p->id, "answer",
                                        cmd->answer == ANSWER_YES ? "yes" : "no", "via", src_names[src]),
                           now);
                act_emit(a, "unsolicited", a->step, p->id, NULL, cmd->answer == ANSWER_YES ? "yes" : "no", now);
                int r = act_commit(a);
                if (r < 0)
                        sd_event_source_set_enabled(m->retry, SD_EVENT_ONESHOT);
                log_notice("Activation %s: an answer from %s, who was not asked in it, was recorded as unsolicited "
                           "and not counted", a->id, p->id);
                snprintf(err, errlen, "person: %s was not asked in activation %s; the answer was recorded as "
                         "unsolicited and not counted", p->id, a->id);
                return -EPERM;
        }
        bool changed = act_answer(a, p->id, cmd->answer, src_names[src], now);
        if (changed) {
                int r = commit_command(a, "reply", err, errlen);
                if (r < 0)
                        return r;
        }
        *reply = json_object();
        act_summary(a, *reply);
        json_object_set_new(*reply, "person", json_string(p->id));
        json_object_set_new(*reply, "answer", json_string(cmd->answer == ANSWER_YES ? "yes" : "no"));
        if (!changed)
                json_object_set_new(*reply, "note", json_string("answer already recorded"));
        return 0;
}

int activations_resolve(struct activations *m, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        struct activation *a = act_find_activation(m, cmd->activation);
        if (!a) {
                snprintf(err, errlen, "activation: no such activation");
                return -ENOENT;
        }
        if (a->state == ACT_RESOLVED) {
                snprintf(err, errlen, "activation %s is already resolved; nothing changed", a->id);
                return -ESTALE;
        }
        uint64_t now = beredd_now();
        if (a->verify) {
                snprintf(err, errlen, "activation %s is a contact-list check; it ends by itself", a->id);
                return -EINVAL;
        }
        act_resolve(a, cmd->by, now);
        int r = commit_command(a, "resolve", err, errlen);
        if (r < 0)
                return r;
        *reply = json_object();
        act_summary(a, *reply);
        return 0;
}

int activations_list(struct activations *m, json_t **reply) {
        json_t *arr = json_array();
        for (struct activation *a = m->list; a; a = a->next) {
                json_t *o = json_object();
                act_summary(a, o);
                json_array_append_new(arr, o);
        }
        *reply = json_pack("{s:o}", "activations", arr);
        return 0;
}

static bool is_open(const struct activation *a) {
        return a->state == ACT_MOBILISING || a->state == ACT_MOBILISED || a->state == ACT_SHORT ||
               a->state == ACT_VERIFYING;
}

/* REF names N: the provider's message id returned when it took N, or the
 * client reference beredd sent with it ("<key>.<nonce>"). Never the bare
 * key: that is derivable from the activation id. */
static bool notif_has_ref(const struct notif *n, const char *ref) {
        char cref[160];

        if (n->provider_ref && streq(n->provider_ref, ref))
                return true;
        if (!n->nonce[0])
                return false;
        snprintf(cref, sizeof(cref), "%s.%s", n->key, n->nonce);
        return streq(cref, ref);
}

int activations_receipt(struct activations *m, const char *gateway_id, const char *ref, bool delivered,
                        const char *detail) {
        if (!gateway_id || !ref || !*ref)
                return -ENOENT;
        for (struct activation *a = m->list; a; a = a->next)
                for (size_t i = 0; i < a->n_notifs; i++) {
                        struct notif *n = &a->notifs[i];
                        /* Only from the gateway that sent it; a call's
                         * outcome comes as its status (activations_call_status). */
                        if (n->ch == CHANNEL_VOICE || !n->gateway || !streq(n->gateway, gateway_id) ||
                            !notif_has_ref(n, ref))
                                continue;
                        if (n->state == N_DELIVERED || n->state == N_UNDELIVERABLE)
                                return 0; /* a repeated or late receipt: the first final state stays */
                        if (n->state != N_SENT)
                                return -ENOENT; /* not (or no longer) out with that gateway */
                        uint64_t now = beredd_now();
                        json_t *o = json_pack("{s:s, s:s, s:b}", "t", "receipt", "key", n->key, "delivered", delivered);
                        if (o && detail)
                                json_object_set_new(o, "detail", json_string(detail));
                        if (act_record(a, o, now) < 0)
                                return -ENOMEM;
                        act_emit(a, delivered ? "delivered" : "undeliverable", n->step, n->person, channel_name(n->ch),
                                 detail, now);
                        if (!delivered && act_is_ask(n->kind)) {
                                act_unreachable(a, n->person, now);
                                if (act_commit_and_dispatch(a) >= 0)
                                        act_arm_timer(a);
                        }
                        return 0;
                }
        return -ENOENT;
}

/* The activation and person an answer TOKEN of the kind asked for (a
 * call's when VOICE, else an e-mail link's) belongs to; *KEY (may be
 * NULL) the notification it was made for. */
static struct activation *find_token(struct activations *m, const char *token, bool voice, const char **person,
                                     const char **key) {
        char h[2 * SHA256_DIGEST_LENGTH + 1];
        act_token_hash(token, h);
        for (struct activation *a = m->list; a; a = a->next)
                for (size_t i = 0; i < a->n_members; i++)
                        for (size_t k = 0; k < a->members[i].n_tokens; k++) {
                                const struct act_token *t = &a->members[i].tokens[k];
                                if (t->voice == voice && streq(t->hash, h)) {
                                        *person = a->members[i].person;
                                        if (key)
                                                *key = t->key;
                                        return a;
                                }
                        }
        return NULL;
}

int activations_token(struct activations *m, const char *token, json_t **info, const char **activation,
                      const char **person) {
        const char *p = NULL;
        struct activation *a = find_token(m, token, false, &p, NULL);
        if (!a)
                return -ENOENT;
        struct member *mb = act_find_member(a, p, false);
        if (info) {
                *info = json_object();
                act_summary(a, *info);
                json_object_del(*info, "code");
                json_object_set_new(*info, "person", json_string(p));
                json_object_set_new(*info, "answer", json_string(!mb || mb->answer == ANSWER_NONE ? "none" :
                                                                 mb->answer == ANSWER_YES     ? "yes"
                                                                                              : "no"));
                /* A check's link (OK) works while the check is open, like a
                 * call-out's (JA/NEI) while the call-out is; "verify" (from
                 * the act_summary) tells the two kinds apart. */
                json_object_set_new(*info, "valid", json_boolean(is_open(a)));
                json_object_set_new(*info, "verify", json_boolean(a->verify));
        }
        if (activation)
                *activation = a->id;
        if (person)
                *person = p;
        return is_open(a) ? 0 : -ESTALE;
}

/* ---- calls ---- */

/* Whether call N went through GATEWAY_ID: the provider took it there, or
 * its request there is in flight now (the provider may post its status or
 * key press before it answers the request). */
static bool call_through(const struct activations *m, const struct notif *n, const char *gateway_id) {
        if (n->gateway)
                return streq(n->gateway, gateway_id);
        const char *on = n->state == N_SENDING ? gateway_call_in_flight_on(m->gw, n->key) : NULL;
        return on && streq(on, gateway_id);
}

/* Only [0-9*#], at most 3 of them, are logged as the keys pressed. */
static void digits_clean(const char *in, char out[static 4]) {
        size_t n = in ? strlen(in) : 0;
        if (n == 0 || n > 3 || strspn(in, "0123456789*#") != n)
                snprintf(out, 4, "%s", n == 0 ? "" : "?");
        else
                memcpy(out, in, n + 1);
}

int activations_voice_answer(struct activations *m, const char *gateway_id, const char *call_sid, const char *token,
                             const char *digits, enum voice_reply *what, bool *en) {
        const char *person = NULL, *key = NULL;
        struct activation *a = find_token(m, token, true, &person, &key);
        struct notif *n = a && key ? act_find_notif(a, key) : NULL;
        const struct person *p = person ? config_person(m->cfg, person) : NULL;
        char d[4];

        *en = p && p->lang == LANG_EN;
        /* A call's token answers only through the gateway that placed the
         * call (the request's signature was checked with its secret), once
         * the provider took it, and only in that call (the provider's id,
         * when both sides know it). */
        if (!n || n->ch != CHANNEL_VOICE || !call_through(m, n, gateway_id) ||
            (call_sid && *call_sid && n->provider_ref && !streq(n->provider_ref, call_sid)))
                return -ENOENT;
        if (!is_open(a) || a->verify || a->broken || n->call >= CALL_ENDED) {
                *what = VOICE_REPLY_ENDED;
                return -ESTALE;
        }
        /* A call answers once: a repeat of its request (a replay, or the
         * provider trying again) hears what was recorded, changes nothing. */
        if (streq(n->digits, "1") || streq(n->digits, "2")) {
                *what = streq(n->digits, "1") ? VOICE_REPLY_YES : VOICE_REPLY_NO;
                return 1;
        }
        digits_clean(digits, d);
        bool valid = streq(d, "1") || streq(d, "2");
        if (!valid && n->n_keys >= 2) { /* asked twice already: no third question, no more lines */
                *what = VOICE_REPLY_CLOSING;
                return 1;
        }
        uint64_t now = beredd_now();
        act_keypress(a, n, d, now);
        char err[160];
        int r = commit_command(a, "key press", err, sizeof(err));
        if (r < 0) {
                log_warning("Activation %s: a key press in a call to %s could not be recorded: %s", a->id, n->person,
                            strerror(-r));
                *what = VOICE_REPLY_FAILED;
                return r;
        }
        *what = !valid ? VOICE_REPLY_INVALID : streq(d, "1") ? VOICE_REPLY_YES : VOICE_REPLY_NO;
        return 0;
}

int activations_call_status(struct activations *m, const char *gateway_id, const char *call_sid, const char *ref,
                            const char *status, const char *answered_by, int duration) {
        if (!gateway_id || !status || ((!call_sid || !*call_sid) && (!ref || !*ref)))
                return -ENOENT;
        /* A machine (or a fax) is not the person. */
        bool machine = answered_by && (strncmp(answered_by, "machine", 7) == 0 || streq(answered_by, "fax"));
        if (machine && (streq(status, "in-progress") || streq(status, "completed") || streq(status, "answered")))
                status = "machine";
        for (struct activation *a = m->list; a; a = a->next)
                for (size_t i = 0; i < a->n_notifs; i++) {
                        struct notif *n = &a->notifs[i];
                        if (n->ch != CHANNEL_VOICE || !call_through(m, n, gateway_id))
                                continue;
                        /* By the provider's id; else by our reference, but
                         * never for another call of the same reference. */
                        bool by_sid = call_sid && *call_sid && n->provider_ref && streq(n->provider_ref, call_sid);
                        bool by_ref = ref && *ref && notif_has_ref(n, ref) &&
                                      (!n->provider_ref || !call_sid || !*call_sid || streq(n->provider_ref, call_sid));
                        if (!by_sid && !by_ref)
                                continue;
                        if (n->call >= CALL_ENDED)
                                return 0; /* repeated or late: the first final state stays */
                        uint64_t now = beredd_now();
                        act_call_status(a, n, status, answered_by, duration,
                                        !n->provider_ref && call_sid && *call_sid ? call_sid : NULL, now);
                        /* The line is free again once the call has ended. */
                        if (n->call >= CALL_ENDED)
                                gateway_call_ended(m->gw, n->key);
                        if (act_commit_and_dispatch(a) >= 0)
                                act_arm_timer(a);
                        return 0;
                }
        return -ENOENT;
}

/* Open activations that asked PERSON: of any kind (KIND < 0), call-outs
 * (0) or contact-list checks (1). */
static unsigned open_for(struct activations *m, const char *person, int kind, const char **only_id) {
        unsigned n = 0;
        for (struct activation *a = m->list; a; a = a->next) {
                struct member *mb = is_open(a) && (kind < 0 || a->verify == (kind == 1)) ? act_find_member(a, person, false)
                                                                                         : NULL;
                if (mb && mb->channels) {
                        n++;
                        if (only_id)
                                *only_id = a->id;
                }
        }
        return n;
}

unsigned activations_open_for(struct activations *m, const char *person, const char **only_id) {
        return open_for(m, person, -1, only_id);
}

unsigned activations_open_for_kind(struct activations *m, const char *person, bool verify, const char **only_id) {
        return open_for(m, person, verify, only_id);
}

int activations_code_target(struct activations *m, const char *code, const char **id, bool *drill) {
        struct command cmd = { .code = (char *) code };
        struct activation *a = find_for_reply(m, &cmd);
        if (!a)
                return -ENOENT;
        if (id)
                *id = a->id;
        if (drill)
                *drill = a->drill;
        return a->verify;
}

void activations_set_public_url(struct activations *m, const char *url) {
        free(m->public_url);
        m->public_url = url && *url ? strdup(url) : NULL;
        /* no trailing slash: links are <url>/a/<token>/yes */
        size_t l = m->public_url ? strlen(m->public_url) : 0;
        while (l > 0 && m->public_url[l - 1] == '/')
                m->public_url[--l] = '\0';
}

int activations_answer_receipt(struct activations *m, const char *id, const char *person, char *buf, size_t len) {
        struct activation *a = id ? act_find_activation(m, id) : NULL;
        const struct person *p = person ? config_person(m->cfg, person) : NULL;
        const struct member *mb = a && p ? act_find_member(a, p->id, false) : NULL;
        if (!mb || mb->answer == ANSWER_NONE)
                return -ENOENT;
        const struct chain *c = act_chain(a);
        if (!c || !c->receipt)
                return -EPERM;
        if (a->verify) /* the check's OK: its number works */
                snprintf(buf, len, "%s", W(p->lang == LANG_EN, W_RECEIPT_VERIFY));
        else
                act_receipt_text(a, p->lang == LANG_EN, mb->answer == ANSWER_YES, buf, len);
        return 0;
}

int activations_summary(struct activations *m, const char *id, json_t **reply) {
        struct activation *a = act_find_activation(m, id);
        if (!a)
                return -ENOENT;
        *reply = json_object();
        act_summary(a, *reply);
        act_progress(a, *reply);
        return 0;
}

void activations_count(const struct activations *m, struct act_counts *ret) {
        *ret = (struct act_counts) {};
        for (const struct activation *a = m ? m->list : NULL; a; a = a->next) {
                ret->total++;
                if (a->verify || (a->state != ACT_MOBILISING && a->state != ACT_MOBILISED && a->state != ACT_SHORT))
                        continue;
                ret->open++;
                ret->drills += a->drill;
                ret->mobilising += a->state == ACT_MOBILISING;
                ret->mobilised += a->state == ACT_MOBILISED;
                ret->short_ += a->state == ACT_SHORT;
        }
}

unsigned activations_open(const struct activations *m) {
        struct act_counts k;
        activations_count(m, &k);
        return k.open;
}

unsigned activations_total(const struct activations *m) {
        struct act_counts k;
        activations_count(m, &k);
        return k.total;
}

/* ---- life cycle ---- */

/* The daemon's source of nonces and answer-link tokens. */
static int os_random(void *buf, size_t n) {
        /* getrandom's bytes a few hundred at a time: a step to 10,000 people
         * made 10,000 calls for an 8-byte nonce each. The bytes are the
         * kernel's CSPRNG output all the same, and each is handed out once
         * (the only child, the MQTT resolver, resolves a name and exits). */
        static uint8_t pool[512];
        static size_t left;
        if (n > sizeof(pool))
                return getrandom(buf, n, 0) == (ssize_t) n ? 0 : -EIO;
        if (left < n) {
                if (getrandom(pool, sizeof(pool), 0) != (ssize_t) sizeof(pool))
                        return -EIO;
                left = sizeof(pool);
        }
        memcpy(buf, pool + sizeof(pool) - left, n);
        explicit_bzero(pool + sizeof(pool) - left, n);
        left -= n;
        return 0;
}

int activations_new(sd_event *e, struct store *store, struct gateways *gw, struct duty *duty, const struct config *cfg,
                    const struct calendar *cal, const char *public_url, act_event_cb cb, void *userdata,
                    struct activations **ret) {
        struct activations *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *m = (struct activations) { .event = sd_event_ref(e), .store = store, .gw = gw, .duty = duty, .cfg = cfg, .cal = cal,
                                    .cb = cb, .userdata = userdata, .random = os_random,
                                    .narrate = act_narrate };
        int r = sd_event_add_post(e, &m->post, on_post, m);
        if (r >= 0)
                r = sd_event_add_defer(e, &m->idle, on_idle, m);
        if (r >= 0)
                r = sd_event_add_defer(e, &m->spare, on_spare, m);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &m->retry, CLOCK_MONOTONIC, COMMIT_RETRY_USEC, USEC_PER_SEC, on_retry,
                                               m);
        if (r < 0) {
                activations_free(m);
                return r;
        }
        sd_event_source_set_enabled(m->post, SD_EVENT_OFF);
        sd_event_source_set_enabled(m->idle, SD_EVENT_OFF);
        sd_event_source_set_enabled(m->retry, SD_EVENT_OFF);
        /* Commit before anything else that runs after this iteration (MQTT). */
        sd_event_source_set_priority(m->post, SD_EVENT_PRIORITY_IMPORTANT);
        sd_event_source_set_description(m->post, "activation-commit");
        /* Below every I/O source: runs once the gateways' replies are read. */
        sd_event_source_set_priority(m->idle, SD_EVENT_PRIORITY_IDLE);
        sd_event_source_set_description(m->idle, "activation-commit-idle");
        /* After the idle commit: a trigger that arrives while the spare is
         * being made must not also find an outcome's commit in its way. */
        sd_event_source_set_priority(m->spare, SD_EVENT_PRIORITY_IDLE + 1);
        sd_event_source_set_description(m->spare, "activation-spare");
        activations_set_public_url(m, public_url); /* before load_all: resent e-mails get links too */
        sd_event_source_set_description(m->retry, "activation-retry");
        r = act_load_all(m);
        if (r < 0) {
                activations_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

void activations_set_config(struct activations *m, const struct config *cfg, const struct calendar *cal) {
        m->cfg = cfg;
        m->cal = cal;
}

void activations_set_absences(struct activations *m, const struct absences *abs) {
        m->absences = abs;
}

void activations_free(struct activations *m) {
        if (!m)
                return;
        /* Whatever is buffered goes to disk before we go. */
        for (struct activation *a = m->list; a; a = a->next)
                act_commit(a);
        while (m->list) {
                struct activation *a = m->list;
                m->list = a->next;
                activation_free(a);
        }
        sd_event_source_disable_unref(m->post);
        sd_event_source_disable_unref(m->idle);
        sd_event_source_disable_unref(m->spare);
        sd_event_source_disable_unref(m->retry);
        sd_event_unref(m->event);
        free(m->public_url);
        free(m);
}
