/* activation-apply.c - act_apply, the only code that changes an activation's
 * state from an event, and act_record, through which the live path applies
 * and logs each event it decides on. A restart replays the log through
 * act_apply too (activation-replay.c), so both reach the same state.
 *
 * What is not in an event is not state: the transport of a notification
 * (queued for the commit, handed to a gateway: the shell's), an e-mail
 * answer link's token (memory only; its hash is logged) and the timers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation-internal.h"
#include "log.h"
#include "macro.h"

static int member_add_token(struct member *mb, const char *hash, const char *key, bool voice) {
        void *v = realloc(mb->tokens, (mb->n_tokens + 1) * sizeof(*mb->tokens));
        if (!v)
                return -ENOMEM;
        mb->tokens = v;
        struct act_token *t = &mb->tokens[mb->n_tokens++];
        snprintf(t->hash, sizeof(t->hash), "%s", hash);
        t->key = key ? strdup(key) : NULL;
        t->voice = voice;
        return 0;
}

/* What having been sent a notification of KIND means for MB (live and replay). */
static void member_mark(struct member *mb, const char *kind) {
        if (streq(kind, "standdown"))
                mb->stood_down = true;
        else if (streq(kind, "resolved"))
                mb->thanked = true;
        else if (streq(kind, "impossible") || streq(kind, "unreachable"))
                mb->told_short = true;
        else if (streq(kind, "update"))
                mb->told_update = true;
        else if (streq(kind, "report-impossible") || streq(kind, "report-short"))
                mb->report_short = true;
        else if (streq(kind, "report-mobilised"))
                mb->report_mobilised = true;
}

/* The resets of who-was-told-what when a quorum changes back (see
 * activation-core.c): the events come before the messages they cause. */
static void reachable_reset(struct activation *a) {
        a->impossible_at = 0;
        for (size_t i = 0; i < a->n_members; i++) {
                struct member *m = &a->members[i];
                m->owed_update = m->owed_update || m->told_short;
                m->told_short = m->report_short = false;
        }
}

static void unmobilised_reset(struct activation *a) {
        a->impossible_at = 0;
        for (size_t i = 0; i < a->n_members; i++) {
                struct member *m = &a->members[i];
                m->owed_update = m->owed_update || m->told_short || m->told_update;
                m->told_short = m->told_update = m->report_short = m->report_mobilised = false;
                m->stood_down = false;
        }
}

static char *jstrdup(json_t *o, const char *k) {
        const char *s = json_string_value(json_object_get(o, k));
        return s ? strdup(s) : NULL;
}

static int jint(json_t *o, const char *k) {
        return (int) json_integer_value(json_object_get(o, k));
}

static uint64_t ju64(json_t *o, const char *k) {
        return (uint64_t) json_integer_value(json_object_get(o, k));
}

uint64_t act_jts(json_t *o) {
        return ju64(o, "ts");
}

static enum channel channel_from(const char *s) {
        return s && streq(s, "email") ? CHANNEL_EMAIL : s && streq(s, "voice") ? CHANNEL_VOICE : CHANNEL_SMS;
}

static int apply_created(struct activation *a, json_t *o, uint64_t ts) {
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
        a->window = ju64(o, "window");
        if (a->verify)
                a->state = ACT_VERIFYING;
        a->created = ts;
        return a->code && a->chain ? 0 : -EINVAL;
}

/* A step started (or a check's people were asked): its people, in order. */
static int apply_step(struct activation *a, json_t *o, uint64_t ts) {
        json_t *pl = json_object_get(o, "people");
        struct people_set set = {};
        act_free_people(a);
        for (size_t i = 0; i < json_array_size(pl); i++) {
                const char *p = json_string_value(json_array_get(pl, i));
                if (p)
                        act_add_person(&set, p);
        }
        act_take_people(&set, &a->people, &a->n_people);
        a->step = jint(o, "step");
        a->run = jint(o, "run");
        a->parallel = json_is_true(json_object_get(o, "parallel"));
        a->seq_pos = 0;
        a->deadline = ju64(o, "deadline");
        return 0;
}

/* What being asked (KIND is an ask) or told KIND means for MB at TS. */
static void member_notified(struct activation *a, struct member *mb, const char *kind, uint64_t ts) {
        if (act_is_ask(kind)) {
                mb->notified_run = a->run;
                if (!mb->first_notified)
                        mb->first_notified = ts;
        } else {
                member_mark(mb, kind);
        }
        if (act_is_quorum_telling(kind))
                a->told_at = ts ? ts : 1;
}

/* A notification is logged before it goes out: it is in flight until its
 * outcome ("sent", "failed"). */
static int apply_sending(struct activation *a, json_t *o, uint64_t ts) {
        const char *key = json_string_value(json_object_get(o, "key"));
        const char *person = json_string_value(json_object_get(o, "person"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (!key || !person || !kind)
                return -EINVAL;
        if (act_grow((void **) &a->notifs, a->n_notifs, &a->notifs_cap, sizeof(*a->notifs)) < 0)
                return -ENOMEM;
        struct notif *n = &a->notifs[a->n_notifs++];
        *n = (struct notif) {
                .key = strdup(key), .person = strdup(person), .kind = strdup(kind),
                .ch = channel_from(json_string_value(json_object_get(o, "ch"))), .step = jint(o, "step"),
                .state = N_SENDING, .ts_sending = ts, .duration = -1,
        };
        const char *nonce = json_string_value(json_object_get(o, "nonce"));
        if (nonce && strlen(nonce) == 16 && strspn(nonce, "0123456789abcdef") == 16)
                memcpy(n->nonce, nonce, 17);
        const char *dot = strrchr(key, '.');
        if (dot && (unsigned) atoi(dot + 1) >= a->seq)
                a->seq = (unsigned) atoi(dot + 1) + 1;
        struct member *mb = act_find_member(a, person, true);
        if (mb && act_is_ask(kind))
                mb->channels |= n->ch;
        if (mb && n->ch == CHANNEL_VOICE)
                mb->call_at = 0; /* a pending call, placed */
        if (mb)
                member_notified(a, mb, kind, ts);
        return 0;
}

/* PERSON was to be asked or told KIND, but nothing could be sent (no
 * address, or no channel left): asked, they count as unreachable. Logs
 * from before this event have no trace of it. */
static int apply_unaddressed(struct activation *a, json_t *o, uint64_t ts) {
        const char *person = json_string_value(json_object_get(o, "person"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        struct member *mb = person && kind ? act_find_member(a, person, true) : NULL;
        if (!mb)
                return -EINVAL;
        if (act_is_ask(kind))
                mb->dead = mb->channels = CHANNEL_ALL; /* nothing to reach them by */
        member_notified(a, mb, kind, ts);
        return 0;
}

/* A notification failed for good on its channel: an ask there is dead. */
static void notif_dead(struct activation *a, const struct notif *n) {
        struct member *mb = act_find_member(a, n->person, false);
        if (mb && act_is_ask(n->kind))
                mb->dead |= n->ch;
}

static int apply_outcome(struct activation *a, json_t *o, uint64_t ts, bool sent) {
        struct notif *n = act_find_notif(a, json_string_value(json_object_get(o, "key")) ?: "");
        if (!n)
                return -EINVAL;
        n->ts_done = ts;
        free(n->gateway);
        n->gateway = jstrdup(o, "gw");
        free(n->provider_ref);
        n->provider_ref = jstrdup(o, "ref");
        if (sent) {
                /* A call's status may come before the provider's answer
                 * to the request: what it said stays. */
                if (n->state != N_UNDELIVERABLE && n->state != N_DELIVERED)
                        n->state = N_SENT;
        } else if (n->call >= CALL_ENDED) {
                /* The provider said how the call went, then the request
                 * ended badly: the call's outcome stays. */
        } else {
                n->state = json_is_true(json_object_get(o, "unreachable")) ? N_UNREACHABLE : N_FAILED;
                notif_dead(a, n);
        }
        return 0;
}

static int apply_sent(struct activation *a, json_t *o, uint64_t ts) {
        return apply_outcome(a, o, ts, true);
}

static int apply_failed(struct activation *a, json_t *o, uint64_t ts) {
        return apply_outcome(a, o, ts, false);
}

static int apply_token(struct activation *a, json_t *o, uint64_t ts) {
        const char *person = json_string_value(json_object_get(o, "person"));
        const char *h = json_string_value(json_object_get(o, "hash"));
        struct member *mb = person ? act_find_member(a, person, true) : NULL;
        if (!mb || !h || strlen(h) != 2 * SHA256_DIGEST_LENGTH)
                return -EINVAL;
        const char *use = json_string_value(json_object_get(o, "use"));
        return member_add_token(mb, h, json_string_value(json_object_get(o, "key")), use && streq(use, "voice"));
}

/* A call to place later (a step with voice_after), or one not placed. */
static int apply_call_later(struct activation *a, json_t *o, uint64_t ts) {
        const char *person = json_string_value(json_object_get(o, "person"));
        struct member *mb = person ? act_find_member(a, person, true) : NULL;
        if (!mb)
                return -EINVAL;
        mb->call_at = ju64(o, "at") ?: 1;
        mb->call_step = jint(o, "step");
        return 0;
}

static int apply_call_skipped(struct activation *a, json_t *o, uint64_t ts) {
        const char *person = json_string_value(json_object_get(o, "person"));
        struct member *mb = person ? act_find_member(a, person, false) : NULL;
        if (!mb)
                return -EINVAL;
        mb->call_at = 0;
        return 0;
}

/* What a status word means for a call. */
static enum call_state call_state_of(const char *status) {
        if (streq(status, "initiated") || streq(status, "ringing") || streq(status, "queued"))
                return CALL_RINGING;
        if (streq(status, "in-progress") || streq(status, "answered"))
                return CALL_ANSWERED;
        if (streq(status, "completed"))
                return CALL_ENDED;
        if (streq(status, "no-answer") || streq(status, "busy") || streq(status, "failed") ||
            streq(status, "canceled") || streq(status, "machine"))
                return CALL_NOT_REACHED;
        return CALL_NONE;
}

/* A status callback of a call (or its key press): the first final state stays. */
static int apply_call(struct activation *a, json_t *o, uint64_t ts) {
        struct notif *n = act_find_notif(a, json_string_value(json_object_get(o, "key")) ?: "");
        const char *status = json_string_value(json_object_get(o, "status"));
        if (!n || n->ch != CHANNEL_VOICE || !status)
                return -EINVAL;
        enum call_state st = call_state_of(status);
        if (st == CALL_NONE || n->call >= CALL_ENDED)
                return 0;
        if (st == CALL_RINGING && !n->ts_ringing)
                n->ts_ringing = ts;
        if (st == CALL_ANSWERED && !n->ts_answered)
                n->ts_answered = ts;
        if (st >= CALL_ENDED)
                n->ts_ended = ts;
        if (st > n->call)
                n->call = st;
        snprintf(n->call_status, sizeof(n->call_status), "%s", status);
        if (json_is_integer(json_object_get(o, "duration")))
                n->duration = jint(o, "duration");
        /* The provider's id of a call whose request got no clear answer. */
        const char *sid = json_string_value(json_object_get(o, "sid"));
        if (sid && !n->provider_ref)
                n->provider_ref = strdup(sid);
        if (st == CALL_NOT_REACHED) {
                n->state = N_UNDELIVERABLE;
                notif_dead(a, n);
        } else if (st == CALL_ENDED && n->state == N_SENT)
                n->state = N_DELIVERED;
        return 0;
}

static int apply_keypress(struct activation *a, json_t *o, uint64_t ts) {
        struct notif *n = act_find_notif(a, json_string_value(json_object_get(o, "key")) ?: "");
        const char *d = json_string_value(json_object_get(o, "digits"));
        if (!n || n->ch != CHANNEL_VOICE || !d)
                return -EINVAL;
        /* The first answer key stays (a call answers once); other keys are
         * shown until one comes. */
        if (!streq(n->digits, "1") && !streq(n->digits, "2"))
                snprintf(n->digits, sizeof(n->digits), "%s", d);
        n->n_keys++;
        if (n->call < CALL_ANSWERED) {
                n->call = CALL_ANSWERED;
                n->ts_answered = n->ts_answered ?: ts;
        }
        return 0;
}

static int apply_receipt(struct activation *a, json_t *o, uint64_t ts) {
        struct notif *n = act_find_notif(a, json_string_value(json_object_get(o, "key")) ?: "");
        if (!n)
                return -EINVAL;
        bool delivered = json_is_true(json_object_get(o, "delivered"));
        n->state = delivered ? N_DELIVERED : N_UNDELIVERABLE;
        if (!delivered)
                notif_dead(a, n);
        return 0;
}

static int apply_reply(struct activation *a, json_t *o, uint64_t ts) {
        const char *person = json_string_value(json_object_get(o, "person"));
        const char *ans = json_string_value(json_object_get(o, "answer"));
        struct member *mb = person ? act_find_member(a, person, true) : NULL;
        if (!mb || !ans)
                return -EINVAL;
        mb->answer = streq(ans, "yes") ? ANSWER_YES : ANSWER_NO;
        mb->answered = ts;
        return 0;
}

/* The quorum was found out of reach; who was told is in the "sending" events. */
static int apply_impossible(struct activation *a, json_t *o, uint64_t ts) {
        if (!a->impossible_at)
                a->impossible_at = ts ? ts : 1;
        return 0;
}

/* Within reach again: the decision withdrawn; who is told is in the "sending" events. */
static int apply_reachable(struct activation *a, json_t *o, uint64_t ts) {
        reachable_reset(a);
        a->reachable_at = ts ? ts : 1;
        free(a->quorum_by);
        a->quorum_by = jstrdup(o, "person");
        return 0;
}

/* No longer complete; the "state" event that follows makes it mobilising. */
static int apply_unmobilised(struct activation *a, json_t *o, uint64_t ts) {
        unmobilised_reset(a);
        a->unmobilised_at = ts ? ts : 1;
        a->n_unmobilised++;
        free(a->quorum_by);
        a->quorum_by = jstrdup(o, "person");
        return 0;
}

/* "next" (a sequential step's next person) and "resume" (the escalation
 * goes on after the team fell short) set the wait; "repeat" the run. */
static int apply_next(struct activation *a, json_t *o, uint64_t ts) {
        a->seq_pos = (size_t) json_integer_value(json_object_get(o, "pos"));
        a->deadline = ju64(o, "deadline");
        return 0;
}

static int apply_resume(struct activation *a, json_t *o, uint64_t ts) {
        a->deadline = ju64(o, "deadline");
        return 0;
}

static int apply_repeat(struct activation *a, json_t *o, uint64_t ts) {
        a->run = jint(o, "run");
        return 0;
}

/* A person away when a step started: not asked (activation-core.c). */
static int apply_skipped(struct activation *a, json_t *o, uint64_t ts) {
        const char *who = json_string_value(json_object_get(o, "person"));
        const char *ro = json_string_value(json_object_get(o, "roster"));
        const char *in = json_string_value(json_object_get(o, "instead"));
        if (!who)
                return -EINVAL;
        struct act_skip *v = realloc(a->skips, (a->n_skips + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        a->skips = v;
        v[a->n_skips] = (struct act_skip) { .person = strdup(who), .roster = ro ? strdup(ro) : NULL,
                                            .instead = in ? strdup(in) : NULL, .step = jint(o, "step"),
                                            .run = jint(o, "run"), .ts = ts };
        if (!v[a->n_skips].person)
                return -ENOMEM;
        a->n_skips++;
        return 0;
}

/* An answer from someone not asked: shown, never counted. */
static int apply_unsolicited(struct activation *a, json_t *o, uint64_t ts) {
        a->n_unsolicited++;
        return 0;
}

/* A new state; "step" (with "short": the steps ran out) where the step moved. */
static int apply_state(struct activation *a, json_t *o, uint64_t ts) {
        const char *st = json_string_value(json_object_get(o, "state"));
        for (size_t i = 0; st && i < ELEMENTSOF(act_state_names); i++)
                if (streq(st, act_state_names[i])) {
                        a->state = (enum act_state) i;
                        a->state_ts = ts;
                        a->deadline = 0;
                        if (i == ACT_MOBILISED)
                                a->mobilised_at = ts;
                        if (json_is_integer(json_object_get(o, "step")))
                                a->step = jint(o, "step");
                }
        return 0;
}

static const struct {
        const char *type;
        int (*apply)(struct activation *a, json_t *o, uint64_t ts);
} appliers[] = {
        { "step", apply_step },
        { "next", apply_next },
        { "repeat", apply_repeat },
        { "sending", apply_sending },
        { "unaddressed", apply_unaddressed },
        { "sent", apply_sent },
        { "failed", apply_failed },
        { "token", apply_token },
        { "call-later", apply_call_later },
        { "call-skipped", apply_call_skipped },
        { "call", apply_call },
        { "keypress", apply_keypress },
        { "receipt", apply_receipt },
        { "reply", apply_reply },
        { "impossible", apply_impossible },
        { "reachable", apply_reachable },
        { "unmobilised", apply_unmobilised },
        { "resume", apply_resume },
        { "unsolicited", apply_unsolicited },
        { "skipped", apply_skipped },
        { "state", apply_state },
};

int act_apply(struct activation *a, json_t *o) {
        const char *t = json_string_value(json_object_get(o, "t"));
        uint64_t ts = act_jts(o);
        if (!t)
                return -EINVAL;
        if (ts > a->last_ts)
                a->last_ts = ts;
        if (streq(t, "created"))
                return apply_created(a, o, ts);
        if (!a->chain)
                return -EINVAL; /* everything else comes after "created" */
        for (size_t i = 0; i < ELEMENTSOF(appliers); i++)
                if (streq(t, appliers[i].type))
                        return appliers[i].apply(a, o, ts);
        /* "skip", "timeout" and unknown future events change nothing. */
        return 0;
}

int act_record(struct activation *a, json_t *o, uint64_t now) {
        if (!o) {
                log_error("Activation %s: out of memory writing the log", a->id);
                return -ENOMEM;
        }
        json_object_set_new(o, "ts", json_integer((json_int_t) now));
        int r = act_apply(a, o);
        if (r < 0) {
                log_error("Activation %s: cannot apply a \"%s\" event: %s", a->id,
                          json_string_value(json_object_get(o, "t")) ?: "?", strerror(-r));
                json_decref(o);
                return r;
        }
        json_incref(o);
        act_log(a, o, now);
        /* After the log line: MQTT holds what it is told until that is committed. */
        if (a->mgr->narrate)
                a->mgr->narrate(a, o, now);
        json_decref(o);
        return 0;
}
