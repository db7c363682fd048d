/* followup.c - the follow-up engine (see followup.h): the timer and the
 * due actions (reminders, escalation, purge), the messages to the gateways
 * and their outcomes, the commands and replies, the life cycle. The rules,
 * the case format, the store and the index are parts of their own, listed
 * in followup-internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "absence.h"
#include "followup-internal.h"
#include "log.h"
#include "macro.h"

#define BATCH 200                    /* actions per timer run, so the loop stays responsive */

/* ---- helpers ---- */

static void emit(struct followup *f, const char *type, int level, const char *detail) {
        struct fu_event ev = { .type = type, .level = level, .detail = detail, .ts = beredd_now() };
        if (f->cb)
                f->cb(f->userdata, &ev);
}

static struct ymd today_of(const struct followup *f, uint64_t now) {
        struct calendar_local l;
        calendar_local(f->cal, now, &l);
        return l.date;
}

static struct fu_sched sched_of(const struct fu_case *c, uint64_t now) {
        return (struct fu_sched) { .state = c->state, .stage = c->stage, .due = c->due, .reminded = c->reminded,
                                   .second = c->second, .closed = c->closed, .now = now };
}

static void arm_timer(struct followup *f);

static const char *who_of(const struct followup *f) {
        return f->cfg->followup.coordinator;
}

static void reschedule(struct followup *f, uint32_t i, const struct fu_case *c) {
        struct fu_sched s = sched_of(c, beredd_now());
        fu_set_next(f, i, followup_next_action(&f->cfg->followup, f->cal, &s, NULL));
        arm_timer(f);
}

/* A due action whose case is written with others in one journal commit (a
 * burst of reminders at office start): prepared, committed, finished. */
struct fu_staged {
        struct fu_case c;
        enum fu_action a;
        size_t covered; /* contacts away whose reminder went to another */
        struct fu_rec rec;
};

/* ---- messages ---- */

static void on_gw_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                       const char *error, const char *provider_ref);

static int add_notify(struct followup *f, struct fu_case *c, const char *person, const char *kind, uint64_t now) {
        const struct person *p = config_person(f->cfg, person);
        if (c->n_notify >= MAX_NOTIFY) /* a round never has that many: drop the oldest */
                memmove(&c->notify[0], &c->notify[1], --c->n_notify * sizeof(c->notify[0]));
        struct fu_notify *n = &c->notify[c->n_notify++];
        *n = (struct fu_notify) { .ch = p && !p->phone && p->email ? CHANNEL_EMAIL : CHANNEL_SMS, .ts = now };
        /* Unique over the life of the spool: the same ref may be opened again
         * after a purge, so the opening instant is part of the key. */
        char key[sizeof(n->key)], who[sizeof(n->person)], k[sizeof(n->kind)];
        snprintf(key, sizeof(key), "fu.%s.%" PRIu64 ".%u", c->ref, c->opened / USEC_PER_SEC, c->seq++);
        snprintf(who, sizeof(who), "%s", person); /* PERSON may point into C */
        snprintf(k, sizeof(k), "%s", kind);
        memcpy(n->key, key, sizeof(key));
        memcpy(n->person, who, sizeof(who));
        memcpy(n->kind, k, sizeof(k));
        snprintf(n->state, sizeof(n->state), "sending");
        n->fresh = true;
        return 0;
}

/* PERSON's absence at T, or NULL. */
static const struct absence *away_at(const struct followup *f, const char *person, uint64_t t) {
        return f->absences ? absences_covering(f->absences, person, t) : NULL;
}

/* Who a reminder of C at T goes to (followup.h, "away"): the contacts not
 * away; a contact away is covered by the other contact when that one is
 * not away, else by the coordinator. With nobody to cover (no coordinator,
 * or the coordinator is the one away) the contacts get it as before. */
struct fu_route {
        const char *to[2];     /* recipients */
        size_t n_to;
        const char *away[2];   /* contacts away at T */
        uint64_t away_to[2];   /* ... until */
        size_t n_away;
        const char *cover;     /* who covers for the ones away (one of to[]), NULL: nobody */
};

static void route(const struct followup *f, const struct fu_case *c, uint64_t t, struct fu_route *r) {
        const char *here[2];
        size_t n_here = 0;
        *r = (struct fu_route) {};
        for (size_t k = 0; k < c->n_contacts; k++) {
                const struct absence *x = away_at(f, c->contacts[k], t);
                if (x) {
                        r->away[r->n_away] = c->contacts[k];
                        r->away_to[r->n_away++] = x->to;
                } else
                        here[n_here++] = c->contacts[k];
        }
        const char *coord = who_of(f);
        bool coord_away = false;
        for (size_t k = 0; coord && k < r->n_away; k++)
                coord_away = coord_away || streq(r->away[k], coord);
        if (r->n_away == 0 || (n_here == 0 && (!coord || coord_away))) {
                for (size_t k = 0; k < c->n_contacts; k++)
                        r->to[r->n_to++] = c->contacts[k];
                return; /* nobody covers */
        }
        for (size_t k = 0; k < n_here; k++)
                r->to[r->n_to++] = here[k];
        if (n_here == 0)
                r->to[r->n_to++] = coord;
        r->cover = r->to[0];
}

/* The round's messages of KIND (reminder/second) to C's contacts, rerouted
 * around the ones away at NOW; the one who covers has COVERS on its
 * message (durable with the rest, for the text and the answer). Returns
 * how many contacts were away and covered. */
static size_t add_round(struct followup *f, struct fu_case *c, const char *kind, uint64_t now) {
        struct fu_route r;
        route(f, c, now, &r);
        /* Copies: add_notify may move C's notify entries, never its contacts. */
        for (size_t k = 0; k < r.n_to; k++) {
                add_notify(f, c, r.to[k], kind, now);
                if (r.cover && streq(r.to[k], r.cover)) {
                        struct fu_notify *n = &c->notify[c->n_notify - 1];
                        for (size_t j = 0; j < r.n_away; j++) {
                                snprintf(n->covers[j], sizeof(n->covers[j]), "%s", r.away[j]);
                                n->covers_to[j] = r.away_to[j];
                        }
                        n->n_covers = (uint8_t) r.n_away;
                }
        }
        return r.cover ? r.n_away : 0;
}

static bool is_round_kind(const char *kind) {
        return streq(kind, "reminder") || streq(kind, "second");
}

static void push_result(struct followup *f, const char *key, enum gw_result result) {
        if (f->n_results == f->cap_results) {
                size_t cap = f->cap_results ? f->cap_results * 2 : 64;
                struct fu_result *v = realloc(f->results, cap * sizeof(*v));
                if (!v)
                        return;
                f->results = v;
                f->cap_results = cap;
        }
        char *k = strdup(key);
        if (!k)
                return;
        f->results[f->n_results++] = (struct fu_result) { .key = k, .result = result };
        sd_event_source_set_enabled(f->post, SD_EVENT_ONESHOT);
}

static bool key_ref(const char *key, char *ref, size_t len);

/* Asked by a gateway before it tries a reminder again after an outage: only
 * while the case is still followed up. */
static bool still_wanted(void *userdata, const char *key) {
        struct followup *f = userdata;
        char ref[COMMAND_MAX_ID + 1];
        if (!key_ref(key, ref, sizeof(ref)))
                return false;
        int32_t idx = fu_lookup(f, ref);
        return idx >= 0 && E_STATE(&f->e[idx]) != FU_CLOSED;
}

/* Hand the notifications of C still "sending" to a gateway: only those added
 * since C was read (FRESH_ONLY), or every one (at start: the ones in flight
 * when the daemon stopped). Older "sending" ones of a running daemon are in
 * a gateway's hands already; sending them again would be a duplicate. The
 * file says "sending" already (write-ahead); outcomes come back through
 * on_gw_done. */
/* The client reference providers get for reminder KEY ("fu.<case>...",
 * which names the case): "fu." and 32 hex digits of its SHA-256, the same in
 * a resend. OUT holds 36 bytes. */
static void client_ref(const char *key, char out[static 36]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        memcpy(out, "fu.", 4);
        if (EVP_Digest(key, strlen(key), md, &len, EVP_sha256(), NULL) != 1 || len < 16)
                return; /* "fu." alone: still no case reference */
        for (unsigned i = 0; i < 16; i++)
                snprintf(out + 3 + 2 * i, 3, "%02x", md[i]);
}

/* How a text names a colleague: the first name ("Ola"), else the id. */
static void first_name(const struct followup *f, const char *id, char *buf, size_t len) {
        const struct person *p = config_person(f->cfg, id);
        const char *n = p && p->name && p->name[0] && p->name[0] != ' ' ? p->name : id;
        size_t k = strcspn(n, " ");
        snprintf(buf, len, "%.*s", (int) k, n);
}

static struct fu_away away_of(const struct followup *f, const char *person, uint64_t to) {
        struct calendar_local l;
        calendar_local(f->cal, to, &l);
        struct fu_away x = { .last = l.date, .minute = l.day_min };
        first_name(f, person, x.name, sizeof(x.name));
        if (l.day_min == 0 && l.second == 0 && l.usec == 0) { /* to midnight: through the day before */
                x.last = calendar_add_days(l.date, -1);
                x.minute = -1;
        }
        return x;
}

/* The absences message N of C names: its own covers (a rerouted reminder,
 * a responsible notice); for an escalation the covers of the round's
 * reminders, and in REMINDED whom they went to ("" when it was the
 * coordinator, who reads it). */
static size_t away_args(const struct followup *f, const struct fu_case *c, const struct fu_notify *n,
                        struct fu_away away[static 2], char *reminded, size_t rlen) {
        size_t k = 0;
        reminded[0] = '\0';
        if (!streq(n->kind, "escalation")) {
                for (; k < n->n_covers; k++)
                        away[k] = away_of(f, n->covers[k], n->covers_to[k]);
                return k;
        }
        /* The last message of the round that covered someone. */
        const struct fu_notify *cov = NULL;
        for (size_t i = 0; i < c->n_notify; i++)
                if (is_round_kind(c->notify[i].kind) && c->notify[i].n_covers)
                        cov = &c->notify[i];
        if (!cov)
                return 0;
        for (; k < cov->n_covers; k++)
                away[k] = away_of(f, cov->covers[k], cov->covers_to[k]);
        if (!streq(cov->person, n->person))
                first_name(f, cov->person, reminded, rlen);
        return k;
}

static void dispatch(struct followup *f, const struct fu_case *c, uint64_t now, bool fresh_only) {
        const char *contacts[2] = { c->contacts[0], c->contacts[1] };
        struct ymd today = today_of(f, now);
        for (size_t i = 0; i < c->n_notify; i++) {
                const struct fu_notify *n = &c->notify[i];
                if (!streq(n->state, "sending") || (fresh_only && !n->fresh))
                        continue;
                const struct person *p = config_person(f->cfg, n->person);
                enum fu_text kind = streq(n->kind, "reminder")     ? FU_TEXT_REMIND
                                    : streq(n->kind, "second")     ? FU_TEXT_SECOND
                                    : streq(n->kind, "escalation") ? FU_TEXT_ESCALATE
                                    : streq(n->kind, "children")   ? FU_TEXT_CHILDREN
                                                                   : FU_TEXT_UNREACHED;
                char code[8], subject[256], text[1024];
                snprintf(code, sizeof(code), "%u", c->code);
                if (streq(n->kind, "responsible"))
                        kind = FU_TEXT_RESPONSIBLE;
                int days = c->reminded && now > c->reminded ?
                                   (int) ((now - c->reminded + USEC_PER_DAY / 2) / USEC_PER_DAY) : 0;
                struct fu_away away[2];
                char reminded[160];
                size_t n_away = away_args(f, c, n, away, reminded, sizeof(reminded));
                struct fu_text_args a = {
                        .kind = kind, .lang = p ? p->lang : f->cfg->lang, .ch = n->ch, .ref = c->ref,
                        .code = c->code ? code : NULL, .task = c->task, .today = ymd_cmp(c->due, today) == 0,
                        .n = kind == FU_TEXT_UNREACHED ? c->unreached : days > 0 ? days : 1,
                        .contacts = contacts, .n_contacts = c->n_contacts, .away = away, .n_away = n_away,
                        .reminded = reminded[0] ? reminded : NULL, .due = c->due,
                };
                int r = followup_text(&a, subject, sizeof(subject), text, sizeof(text));
                char cref[40];
                client_ref(n->key, cref);
                struct gw_message m = {
                        .key = n->key, .ref = cref, .channel = n->ch, .person = n->person,
                        .to = !p ? NULL : n->ch == CHANNEL_SMS ? p->phone : p->email,
                        .subject = n->ch == CHANNEL_EMAIL ? subject : NULL, .text = text,
                        .keep_trying = GW_KEEP_TRYING_USEC, .wanted = still_wanted,
                };
                if (r >= 0 && m.to)
                        r = gateway_send(f->gw, &m, on_gw_done, f);
                else if (r >= 0)
                        r = -ENOENT;
                if (r < 0) /* reported from the loop like any failure */
                        push_result(f, n->key, GW_UNREACHABLE);
        }
}

/* "fu.<ref>.<opened>.<seq>" -> ref */
static bool key_ref(const char *key, char *ref, size_t len) {
        if (strncmp(key, "fu.", 3) != 0)
                return false;
        const char *end = strrchr(key, '.');
        if (!end || end < key + 3)
                return false;
        const char *p = end - 1;
        while (p > key + 3 && *p != '.')
                p--;
        if (p <= key + 3 || (size_t) (p - (key + 3)) >= len)
                return false;
        memcpy(ref, key + 3, (size_t) (p - (key + 3)));
        ref[p - (key + 3)] = '\0';
        return true;
}

static void on_gw_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                       const char *error, const char *provider_ref) {
        (void) gateway_id;
        (void) error;
        (void) provider_ref;
        push_result(userdata, key, result);
}

static int cmp_results(const void *x, const void *y) {
        const struct fu_result *a = x, *b = y;
        return strcmp(a->key, b->key);
}

/* ---- the timer ---- */

static void arm_timer(struct followup *f) {
        if (!f->timer)
                return;
        uint32_t first = prioq_peek(&f->queue);
        if (first == PRIOQ_NIL) {
                sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
                return;
        }
        int64_t when = (int64_t) f->e[first].next - time_offset();
        sd_event_source_set_time(f->timer, when > 1 ? (uint64_t) when : 1);
        sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT);
}

/* The changes of V[0..N) into the journal, in one commit. */
static void staged_commit(struct followup *f, struct fu_staged *v, size_t n) {
        struct fu_rec **p = n > 0 ? malloc(n * sizeof(*p)) : NULL;
        for (size_t k = 0; k < n; k++)
                if (p)
                        p[k] = &v[k].rec;
                else
                        v[k].rec.r = -ENOMEM;
        if (p)
                fu_journal_commit(f, p, n);
        free(p);
}

static void act_finish(struct followup *f, struct fu_staged *st, uint64_t now);

/* Prepare entry I's due action: the case with its new stage and message keys,
 * serialized into ST, not yet on disk. Returns 1 for a purge (done here), 2
 * when ST holds an action to commit, 0 otherwise. */
static int act_prepare(struct followup *f, uint32_t i, uint64_t now, struct fu_staged *st) {
        const struct followup_conf *fc = &f->cfg->followup;
        char ref[COMMAND_MAX_ID + 1];
        struct fu_case c;
        int r;

        *st = (struct fu_staged) {};
        snprintf(ref, sizeof(ref), "%s", eref(f, i));
        if (E_STATE(&f->e[i]) == FU_CLOSED) {
                char name[128];
                if (dirty_get(f, ref)) { /* its journal record would bring it back: after the fold */
                        fu_set_next(f, i, now + FOLD_MAX_AGE + USEC_PER_SEC);
                        return 0;
                }
                r = store_case_name(ref, name, sizeof(name));
                if (r >= 0)
                        r = store_remove(f->store, STORE_CASES, name);
                if (r < 0 && r != -ENOENT) {
                        log_error_errno(r, "Follow-up: cannot purge a closed case: %m; will retry");
                        fu_set_next(f, i, now + RETRY_USEC);
                        return 0;
                }
                /* Only closed cases are purged; a read below would say the same. */
                fu_account(f, i, -1);
                fu_entry_remove(f, i);
                return 1;
        }

        r = fu_case_read(f, ref, &c);
        if (r == -ENOENT) { /* removed behind our back: say so loudly, once */
                char bucket[3]; /* the folder, not the file: its name is the case reference */
                store_case_bucket(ref, bucket);
                log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL, "A case file in cases/%s/ is gone; that case is no longer followed up",
                          bucket);
                fu_account(f, i, -1);
                fu_entry_remove(f, i);
                return 0;
        }
        if (r < 0) {
                char bucket[3];
                store_case_bucket(ref, bucket);
                log_error_errno(r, "Cannot read a case file in cases/%s/: %m; will retry", bucket);
                fu_set_next(f, i, now + RETRY_USEC);
                return 0;
        }
        enum fu_action a;
        size_t covered = 0;
        struct fu_sched s = sched_of(&c, now);
        uint64_t when = followup_next_action(fc, f->cal, &s, &a);
        if (when > now || a == FU_ACT_NONE || a == FU_ACT_PURGE) { /* the index was behind the file */
                fu_entry_set(f, i, &c);
                fu_set_next(f, i, when);
                case_done(&c);
                return 0;
        }

        switch (a) {
        case FU_ACT_REMIND:
                if (!c.code)
                        c.code = fu_code_take(f, i);
                c.stage = FU_STAGE_FIRST;
                c.reminded = now;
                covered = add_round(f, &c, "reminder", now);
                break;
        case FU_ACT_SECOND:
                c.stage = FU_STAGE_SECOND;
                c.second = now;
                covered = add_round(f, &c, "second", now);
                break;
        case FU_ACT_ESCALATE:
                c.stage = FU_STAGE_ESCALATED;
                c.state = FU_ESCALATED;
                c.escalated_at = now;
                if (who_of(f))
                        add_notify(f, &c, who_of(f), "escalation", now);
                break;
        default:
                break;
        }
        /* Write-ahead: the stage and its message keys are on disk before any
         * message leaves, so a crash never repeats a stage, and the in-flight
         * messages go again with the same keys. Until the commit says so, the
         * entry waits as after a spool error. */
        st->a = a;
        st->covered = covered;
        st->c = c;
        r = fu_stage_rec(&c, &st->rec);
        fu_set_next(f, i, now + RETRY_USEC);
        if (r < 0) {
                st->rec.r = r;
                act_finish(f, st, now);
                return 0;
        }
        return 2;
}

/* After the commit (ST->r < 0: it failed): send, log and reschedule, or hold
 * the action for a retry. Frees what ST holds. */
static void act_finish(struct followup *f, struct fu_staged *st, uint64_t now) {
        const struct followup_conf *fc = &f->cfg->followup;
        struct fu_case *c = &st->c;
        int32_t idx = fu_lookup(f, c->ref);
        enum fu_action a = st->a;

        free(st->rec.data);
        st->rec.data = NULL;
        if (idx < 0) { /* cannot happen within one timer run; be safe */
                case_done(c);
                return;
        }
        uint32_t i = (uint32_t) idx;
        if (st->rec.r < 0) {
                char bucket[3];
                store_case_bucket(c->ref, bucket);
                log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL, "Cannot write a case file in cases/%s/ (%s); reminder held, will retry",
                          bucket, strerror(-st->rec.r));
                if (a == FU_ACT_REMIND)
                        fu_code_release(f, c->code, i);
                fu_set_next(f, i, now + RETRY_USEC);
                case_done(c);
                return;
        }
        fu_entry_set(f, i, c);
        struct fu_sched s = sched_of(c, now);
        fu_set_next(f, i, followup_next_action(fc, f->cal, &s, NULL));
        dispatch(f, c, now, true);
        /* No case reference in the journal: it is named in the spool and in
         * beredctl's answers only. */
        log_event(a == FU_ACT_ESCALATE ? LOG_WARNING : LOG_INFO,
                  a == FU_ACT_REMIND   ? MSGID_FOLLOWUP_REMINDER :
                  a == FU_ACT_SECOND   ? MSGID_FOLLOWUP_OVERDUE :
                                         MSGID_FOLLOWUP_ESCALATED,
                  NULL, "Follow-up case at level %d: %s (%s)%s", c->level,
                  a == FU_ACT_REMIND   ? "first reminder sent" :
                  a == FU_ACT_SECOND   ? "overdue, second reminder sent" :
                                         "not recorded in time, coordinator told",
                  fu_stage_names[c->stage],
                  st->covered == 1 ? "; a contact person is away, sent to the one covering" :
                  st->covered > 1  ? "; the contact persons are away, sent to the coordinator" : "");
        emit(f, a == FU_ACT_REMIND ? "reminder" : a == FU_ACT_SECOND ? "overdue" : "escalated", c->level,
             fu_stage_names[c->stage]);
        case_done(c);
}

/* Record gateway outcomes in the case files: the cases an iteration's
 * outcomes touch are written together, with one group commit. A failed SMS
 * is tried again by e-mail when the person has one; a message nobody got is
 * logged and reported, and the escalation to the coordinator still follows
 * if no check-in comes. */
static int on_post(sd_event_source *s, void *userdata) {
        struct followup *f = userdata;
        uint64_t now = beredd_now();
        (void) s; /* a oneshot: off until the next result */
        size_t n = f->n_results;
        struct fu_result *v = f->results;
        f->results = NULL;
        f->n_results = f->cap_results = 0;
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_results);

        struct fu_staged *st = n > 0 ? calloc(n, sizeof(*st)) : NULL;
        bool *resends = n > 0 ? calloc(n, sizeof(*resends)) : NULL;
        size_t n_st = 0;
        if (n > 0 && (!st || !resends))
                /* The files keep saying "sending": sent again at the next start. */
                log_error("Follow-up: out of memory recording message outcomes");
        for (size_t i = 0; st && resends && i < n;) {
                char ref[COMMAND_MAX_ID + 1];
                size_t j = i + 1;
                if (!key_ref(v[i].key, ref, sizeof(ref))) {
                        i = j;
                        continue;
                }
                for (char r2[COMMAND_MAX_ID + 1]; j < n && key_ref(v[j].key, r2, sizeof(r2)) && streq(r2, ref);)
                        j++;
                struct fu_case c;
                int32_t idx = fu_lookup(f, ref);
                if (idx < 0 || fu_case_read(f, ref, &c) < 0) {
                        i = j;
                        continue;
                }
                bool changed = false, resend = false;
                for (size_t k = i; k < j; k++)
                        for (size_t m = 0; m < c.n_notify; m++) {
                                struct fu_notify *nt = &c.notify[m];
                                if (!streq(nt->key, v[k].key) || !streq(nt->state, "sending"))
                                        continue;
                                changed = true;
                                nt->ts = now;
                                if (v[k].result == GW_SENT) {
                                        snprintf(nt->state, sizeof(nt->state), "sent");
                                        continue;
                                }
                                snprintf(nt->state, sizeof(nt->state), "%s",
                                         v[k].result == GW_UNREACHABLE ? "unreachable" : "failed");
                                const struct person *p = config_person(f->cfg, nt->person);
                                log_warning("Follow-up: a %s message could not be delivered over %s", nt->kind,
                                            channel_name(nt->ch));
                                emit(f, "failed", c.level, nt->kind);
                                if (nt->ch == CHANNEL_SMS && p && p->email && c.state != FU_CLOSED) {
                                        char person[COMMAND_MAX_ID + 1], kind[16];
                                        snprintf(person, sizeof(person), "%s", nt->person);
                                        snprintf(kind, sizeof(kind), "%s", nt->kind);
                                        struct fu_notify was = *nt; /* add_notify may move the entries */
                                        add_notify(f, &c, person, kind, now);
                                        struct fu_notify *nn = &c.notify[c.n_notify - 1];
                                        nn->ch = CHANNEL_EMAIL;
                                        memcpy(nn->covers, was.covers, sizeof(nn->covers));
                                        memcpy(nn->covers_to, was.covers_to, sizeof(nn->covers_to));
                                        nn->n_covers = was.n_covers;
                                        resend = true;
                                }
                        }
                int r = changed ? fu_stage_rec(&c, &st[n_st].rec) : 0;
                if (r < 0)
                        log_error_errno(r, "A follow-up case cannot record message outcomes: %m");
                if (r < 0 || !changed) {
                        case_done(&c);
                } else {
                        st[n_st].c = c;
                        resends[n_st++] = resend;
                }
                i = j;
        }
        staged_commit(f, st, n_st);
        for (size_t k = 0; k < n_st; k++) {
                int32_t idx = fu_lookup(f, st[k].c.ref);
                if (st[k].rec.r < 0)
                        log_error_errno(st[k].rec.r, "A follow-up case cannot record message outcomes: %m");
                else if (idx >= 0)
                        f->e[idx].flags = (uint8_t) ((f->e[idx].flags & ~E_SENDING) |
                                                     (case_sending(&st[k].c) ? E_SENDING : 0));
                if (st[k].rec.r >= 0 && resends[k])
                        dispatch(f, &st[k].c, now, true);
                case_done(&st[k].c);
                free(st[k].rec.data);
        }
        free(st);
        free(resends);
        for (size_t i = 0; i < n; i++)
                free(v[i].key);
        free(v);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct followup *f = userdata;
        uint64_t now = beredd_now();
        unsigned done = 0, purged = 0;
        (void) s;
        (void) usec;

        struct fu_staged *v = NULL;
        size_t n = 0;
        for (uint32_t i; (i = prioq_peek(&f->queue)) != PRIOQ_NIL && f->e[i].next <= now && done < BATCH;) {
                if (!v && !(v = calloc(BATCH, sizeof(*v)))) {
                        log_error("Follow-up: out of memory; due actions wait for the next run");
                        break;
                }
                int r = act_prepare(f, i, now, &v[n]);
                if (r == 1)
                        purged++;
                else if (r == 2)
                        n++;
                done++;
        }
        staged_commit(f, v, n);
        for (size_t k = 0; k < n; k++)
                act_finish(f, &v[k], now);
        free(v);
        if (purged) {
                char d[32];
                snprintf(d, sizeof(d), "%u", purged);
                log_event(LOG_INFO, MSGID_FOLLOWUP_PURGED, NULL, "Follow-up: purged %u closed case%s after retention", purged,
                          purged == 1 ? "" : "s");
                emit(f, "purged", 0, d);
        }
        arm_timer(f); /* more due: the timer is in the past and fires on the next iteration */
        return 0;
}

/* ---- loading ---- */

static int load_all(struct followup *f) {
        _cleanup_free_ uint32_t *resend = NULL;
        size_t n_resend = 0;
        int r = fu_load(f, beredd_now(), &resend, &n_resend);
        if (r < 0)
                return r;

        /* Messages that were in flight when we stopped go again, same keys. */
        uint64_t now = beredd_now();
        for (size_t k = 0; k < n_resend; k++) {
                struct fu_case c;
                if (fu_case_read(f, eref(f, resend[k]), &c) >= 0) {
                        dispatch(f, &c, now, false);
                        case_done(&c);
                }
        }
        if (n_resend)
                log_info("Follow-up: %zu case%s had messages in flight; sent again", n_resend, n_resend == 1 ? "" : "s");
        return 0;
}

/* ---- replies ---- */

static json_t *local_time(const struct followup *f, uint64_t t) {
        if (t == UINT64_MAX || t == 0)
                return json_null();
        struct calendar_local l;
        char buf[32];
        calendar_local(f->cal, t, &l);
        time_format_date_time(l.date, l.hour, l.minute, buf, sizeof(buf));
        return json_string(buf);
}

static json_t *case_reply(struct followup *f, const struct fu_case *c) {
        struct fu_sched s = sched_of(c, beredd_now());
        char code[8];
        snprintf(code, sizeof(code), "%u", c->code);
        json_t *o = json_pack("{s:s, s:s, s:i, s:o, s:s}", "case", c->ref, "state", fu_state_names[c->state], "level",
                              c->level, "due", case_date_json(c->due), "stage", fu_stage_names[c->stage]);
        json_object_set_new(o, "next_action", local_time(f, followup_next_action(&f->cfg->followup, f->cal, &s, NULL)));
        json_object_set_new(o, "code", c->code ? json_string(code) : json_null());
        json_object_set_new(o, "unreached_in_row", json_integer(c->unreached));
        json_object_set_new(o, "task", json_boolean(c->task));
        json_object_set_new(o, "responsible", c->responsible[0] ? json_string(c->responsible) : json_null());
        return o;
}

/* ---- absences ---- */

void followup_set_absences(struct followup *f, const struct absences *abs) {
        f->absences = abs;
}

/* When C's coming first reminder goes, or 0 when none is coming (reminded
 * already, closed). */
static uint64_t coming_reminder(const struct followup *f, const struct fu_case *c, uint64_t now) {
        if (c->state == FU_CLOSED || c->stage != FU_STAGE_NONE)
                return 0;
        struct fu_sched s = sched_of(c, now);
        uint64_t t = followup_next_action(&f->cfg->followup, f->cal, &s, NULL);
        return t == UINT64_MAX ? 0 : t;
}

/* When C's responsible contact is away at its coming first reminder and
 * the coordinator has not been told for this due date and absence: the
 * notice to the coordinator goes on C (to be written, then dispatched).
 * Returns whether it did. */
static bool check_responsible(struct followup *f, struct fu_case *c, uint64_t now) {
        const char *coord = who_of(f);
        if (!c->responsible[0] || !coord || streq(coord, c->responsible))
                return false;
        uint64_t t = coming_reminder(f, c, now);
        const struct absence *x = t ? away_at(f, c->responsible, t) : NULL;
        if (!x || (streq(c->told_absence, x->id) && ymd_cmp(c->told_due, c->due) == 0))
                return false;
        char who[COMMAND_MAX_ID + 1];
        snprintf(who, sizeof(who), "%s", c->responsible);
        add_notify(f, c, coord, "responsible", now);
        struct fu_notify *n = &c->notify[c->n_notify - 1];
        snprintf(n->covers[0], sizeof(n->covers[0]), "%s", who);
        n->covers_to[0] = x->to;
        n->n_covers = 1;
        snprintf(c->told_absence, sizeof(c->told_absence), "%s", x->id);
        c->told_due = c->due;
        return true;
}

void followup_absence_added(struct followup *f, const char *person, uint64_t from, uint64_t to) {
        if (!f || !f->absences || !who_of(f) || to <= from)
                return;
        uint64_t now = beredd_now();
        struct calendar_local l;
        calendar_local(f->cal, from, &l);
        /* A due date before the absence may be reminded in it (a weekend or
         * Easter moves an office-hours reminder on by up to five days). */
        int32_t lo = (int32_t) calendar_days_from_ymd(l.date) - 7;
        calendar_local(f->cal, to, &l);
        int32_t hi = (int32_t) calendar_days_from_ymd(l.date);
        unsigned told = 0, failed = 0;
        for (uint32_t i = 0; i < f->n_e; i++) {
                const struct fu_entry *e = &f->e[i];
                if (e->ref == NIL || E_STATE(e) == FU_CLOSED || E_STAGE(e) != FU_STAGE_NONE || e->due < lo ||
                    e->due > hi)
                        continue;
                struct fu_case c;
                if (fu_case_read(f, eref(f, i), &c) < 0)
                        continue;
                if (streq(c.responsible, person) && check_responsible(f, &c, now)) {
                        if (fu_case_write(f, &c, false) < 0) {
                                failed++;
                        } else {
                                fu_entry_set(f, i, &c);
                                dispatch(f, &c, now, true);
                                told++;
                        }
                }
                case_done(&c);
        }
        /* Counts only: no case reference, no person. */
        if (told)
                log_event(LOG_INFO, MSGID_FOLLOWUP_CASE, NULL,
                          "Follow-up: coordinator told of %u case(s) whose responsible contact person is away on the due date",
                          told);
        if (failed)
                log_error("Follow-up: %u case(s) could not record a notice to the coordinator (spool error); "
                          "not told", failed);
}

/* The case reference stays out of the journal (spool and beredctl only). */
static void log_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_case(const char *fmt, ...) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_event(LOG_INFO, MSGID_FOLLOWUP_CASE, NULL, "Follow-up case: %s", msg);
}

static int spool_err(int r, const char *what, char *err, size_t errlen) {
        snprintf(err, errlen, "spool: cannot persist the %s (%s); nothing changed", what, strerror(-r));
        return r;
}

/* ---- commands ---- */

static bool is_contact(const struct fu_case *c, const char *person) {
        for (size_t k = 0; k < c->n_contacts; k++)
                if (streq(c->contacts[k], person))
                        return true;
        return false;
}

int followup_open(struct followup *f, const struct command *cmd, const char *origin, json_t **reply, char *err,
                  size_t errlen) {
        const struct followup_conf *fc = &f->cfg->followup;
        uint64_t now = beredd_now();
        struct ymd today = today_of(f, now);
        int r;

        int32_t idx = fu_lookup(f, cmd->case_ref);
        if (idx >= 0) {
                struct fu_case old;
                if (origin && fu_case_read(f, cmd->case_ref, &old) >= 0) {
                        bool same = old.origin && streq(old.origin, origin);
                        if (same) { /* the same drop file again (a crash before it was removed) */
                                *reply = case_reply(f, &old);
                                json_object_set_new(*reply, "already", json_true());
                        }
                        case_done(&old);
                        if (same)
                                return 0;
                }
                snprintf(err, errlen, "case: a case with this reference exists already; not overwritten");
                return -EEXIST;
        }
        if (fc->n_levels == 0) {
                snprintf(err, errlen, "cmd: follow-up is not configured (no followup section)");
                return -EINVAL;
        }
        int level = cmd->level ? cmd->level : 1;
        if (level > (int) fc->n_levels) {
                snprintf(err, errlen, "level: must be between 1 and %zu", fc->n_levels);
                return -EINVAL;
        }
        for (size_t k = 0; k < cmd->n_contacts; k++)
                if (!config_person(f->cfg, cmd->contacts[k])) {
                        snprintf(err, errlen, "contacts: no such person in the configuration");
                        return -ENOENT;
                }

        /* In the vocabulary's order, as the summary counts them. */
        json_t *factors = json_array();
        for (size_t k = 0; k < fc->n_factors; k++)
                for (size_t j = 0; j < cmd->n_factors; j++)
                        if (streq(cmd->factors[j], fc->factors[k].id))
                                json_array_append_new(factors, json_string(fc->factors[k].id));
        for (size_t j = 0; j < cmd->n_factors; j++) /* not validated (a caller's bug): kept, and counted as unlisted */
                if (config_factor_index(fc, cmd->factors[j]) < 0)
                        json_array_append_new(factors, json_string(cmd->factors[j]));
        struct fu_case c = {
                .level = level, .factors = factors, .children = cmd->children, .state = FU_OPEN,
                .stage = FU_STAGE_NONE, .opened = now, .n_contacts = cmd->n_contacts,
                .due = cmd->has_due ? cmd->due : fu_date_after(f->cal, now, today, followup_interval(fc, f->cal, level, today)),
                .history = json_array(),
        };
        snprintf(c.ref, sizeof(c.ref), "%s", cmd->case_ref);
        for (size_t k = 0; k < cmd->n_contacts; k++)
                snprintf(c.contacts[k], sizeof(c.contacts[k]), "%s", cmd->contacts[k]);
        if (cmd->responsible) {
                if (!is_contact(&c, cmd->responsible)) {
                        snprintf(err, errlen, "responsible: must be one of the contacts");
                        case_done(&c);
                        return -EINVAL;
                }
                snprintf(c.responsible, sizeof(c.responsible), "%s", cmd->responsible);
        }
        bool notice = check_responsible(f, &c, now);
        if (origin && !(c.origin = strdup(origin))) {
                case_done(&c);
                return -ENOMEM;
        }
        r = fu_case_write(f, &c, true);
        if (r == -EEXIST) {
                /* On disk but not in the index: a damaged file. Never overwrite it. */
                snprintf(err, errlen, "case: a case with this reference exists already; not overwritten");
                case_done(&c);
                return r;
        }
        if (r < 0) {
                case_done(&c);
                return spool_err(r, "case", err, errlen);
        }
        uint32_t i;
        r = fu_entry_add(f, c.ref, &i);
        if (r < 0) {
                case_done(&c);
                snprintf(err, errlen, "case: out of memory");
                return r;
        }
        fu_entry_init(f, i, &c);
        reschedule(f, i, &c);
        if (notice)
                dispatch(f, &c, now, true);
        char d[16];
        time_format_date(c.due, d, sizeof(d));
        log_case("opened at level %d, due %s", c.level, d);
        emit(f, "case.opened", c.level, NULL);
        *reply = case_reply(f, &c);
        case_done(&c);
        return 0;
}

/* Find and read an open case for a change. */
static int open_case(struct followup *f, const char *ref, bool allow_closed, uint32_t *ret_i, struct fu_case *c,
                     char *err, size_t errlen) {
        int32_t idx = fu_lookup(f, ref);
        if (idx < 0) {
                snprintf(err, errlen, "case: no such case");
                return -ENOENT;
        }
        int r = fu_case_read(f, ref, c);
        if (r == -EBADMSG) { /* the folder, not the file: its name is the case reference */
                char bucket[3];
                store_case_bucket(ref, bucket);
                snprintf(err, errlen, "case: its file in cases/%s/ is damaged and not followed up; fix or remove it (beredd(8), FILES)",
                         bucket);
                return r;
        }
        if (r < 0) {
                snprintf(err, errlen, "case: cannot read the case (%s)", strerror(-r));
                return r;
        }
        if (!allow_closed && c->state == FU_CLOSED) {
                snprintf(err, errlen, "case: the case is closed; nothing changed");
                case_done(c);
                return -ESTALE;
        }
        *ret_i = (uint32_t) idx;
        return 0;
}

static int do_checkin(struct followup *f, uint32_t i, struct fu_case *c, const char *by, enum outcome outcome,
                      const struct ymd *next, uint64_t next_in, int postpone, const char *via, json_t **reply, char *err,
                      size_t errlen) {
        const struct followup_conf *fc = &f->cfg->followup;
        uint64_t now = beredd_now();
        struct fu_checkin_state st = { .level = c->level, .children = c->children, .task = c->task,
                                       .unreached_in_row = c->unreached };
        struct fu_plan p;
        int r = followup_plan_checkin(fc, f->cal, &st, outcome, next, next_in, postpone, now, &p, err, errlen);
        if (r < 0)
                return r;

        unsigned old_code = c->code;
        json_t *h = json_pack("{s:s, s:I, s:s, s:s, s:o, s:i, s:i}", "event", "checkin", "ts", (json_int_t) now, "by",
                              by, "outcome", outcome == OUTCOME_NONE ? "postponed" : outcome_name(outcome), "next",
                              case_date_json(p.due), "level_before", c->level, "level_after", p.level);
        if (via)
                json_object_set_new(h, "via", json_string(via));
        json_array_append_new(c->history, h);
        c->level = p.level;
        c->due = p.due;
        c->task = p.task;
        c->unreached = p.unreached_in_row;
        c->state = FU_OPEN;
        c->stage = FU_STAGE_NONE;
        c->reminded = c->second = c->escalated_at = 0;
        c->code = 0;
        c->n_notify = 0; /* a new round; late outcomes of the old one are ignored */
        if (p.tell_children && who_of(f))
                add_notify(f, c, who_of(f), "children", now);
        if (p.tell_unreached && who_of(f))
                add_notify(f, c, who_of(f), "unreached", now);
        check_responsible(f, c, now); /* the due date moved */
        r = fu_case_write(f, c, false);
        if (r < 0)
                return spool_err(r, "check-in", err, errlen);
        fu_code_release(f, old_code, i);
        fu_entry_set(f, i, c);
        reschedule(f, i, c);
        dispatch(f, c, now, true);
        char d[16];
        time_format_date(c->due, d, sizeof(d));
        log_case("check-in recorded (%s), level %d, next due %s",
                 outcome == OUTCOME_NONE ? "postponed" : outcome_name(outcome), c->level, d);
        emit(f, "checkin", c->level, outcome == OUTCOME_NONE ? "postponed" : outcome_name(outcome));
        *reply = case_reply(f, c);
        json_object_set_new(*reply, "recorded", json_string(outcome == OUTCOME_NONE ? "postponed" : outcome_name(outcome)));
        if (p.tell_children || p.tell_unreached)
                json_object_set_new(*reply, "coordinator_told", json_boolean(who_of(f) != NULL));
        return 0;
}

int followup_checkin(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        struct fu_case c;
        uint32_t i;
        int r = open_case(f, cmd->case_ref, false, &i, &c, err, errlen);
        if (r < 0)
                return r;
        r = do_checkin(f, i, &c, cmd->by, cmd->outcome, cmd->has_next ? &cmd->next : NULL, cmd->next_in,
                       cmd->postpone_days, NULL, reply, err, errlen);
        case_done(&c);
        return r;
}

int followup_level(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        const struct followup_conf *fc = &f->cfg->followup;
        struct fu_case c;
        uint32_t i;
        if (cmd->level < 1 || (size_t) cmd->level > fc->n_levels) {
                snprintf(err, errlen, "level: must be between 1 and %zu", fc->n_levels);
                return -EINVAL;
        }
        int r = open_case(f, cmd->case_ref, false, &i, &c, err, errlen);
        if (r < 0)
                return r;
        uint64_t now = beredd_now();
        struct ymd today = today_of(f, now);
        int before = c.level;
        json_array_append_new(c.history, json_pack("{s:s, s:I, s:i, s:i}", "event", "level", "ts", (json_int_t) now,
                                                   "level_before", before, "level_after", cmd->level));
        c.level = cmd->level;
        /* More intensive care must not wait for the old, longer interval. */
        if (c.stage == FU_STAGE_NONE) {
                struct ymd sooner = fu_date_after(f->cal, now, today, followup_interval(fc, f->cal, c.level, today));
                if (ymd_cmp(sooner, c.due) < 0)
                        c.due = sooner;
        }
        bool notice = check_responsible(f, &c, now);
        r = fu_case_write(f, &c, false);
        if (r < 0) {
                case_done(&c);
                return spool_err(r, "level change", err, errlen);
        }
        fu_entry_set(f, i, &c);
        reschedule(f, i, &c);
        if (notice)
                dispatch(f, &c, now, true);
        log_case("level %d -> %d", before, c.level);
        emit(f, "level", c.level, NULL);
        *reply = case_reply(f, &c);
        json_object_set_new(*reply, "level_before", json_integer(before));
        case_done(&c);
        return 0;
}

int followup_update(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        struct fu_case c;
        uint32_t i;
        if (!cmd->responsible) {
                snprintf(err, errlen, "responsible: missing");
                return -EINVAL;
        }
        int r = open_case(f, cmd->case_ref, false, &i, &c, err, errlen);
        if (r < 0)
                return r;
        if (cmd->responsible[0] && !is_contact(&c, cmd->responsible)) {
                snprintf(err, errlen, "responsible: must be one of the contacts");
                case_done(&c);
                return -EINVAL;
        }
        uint64_t now = beredd_now();
        json_array_append_new(c.history, json_pack("{s:s, s:I, s:o}", "event", "update", "ts", (json_int_t) now,
                                                   "responsible", cmd->responsible[0] ? json_string(cmd->responsible)
                                                                                      : json_null()));
        snprintf(c.responsible, sizeof(c.responsible), "%s", cmd->responsible);
        bool notice = check_responsible(f, &c, now);
        r = fu_case_write(f, &c, false);
        if (r < 0) {
                case_done(&c);
                return spool_err(r, "update", err, errlen);
        }
        fu_entry_set(f, i, &c);
        if (notice)
                dispatch(f, &c, now, true);
        log_case("responsible contact person %s", c.responsible[0] ? "named" : "removed");
        *reply = case_reply(f, &c);
        if (notice)
                json_object_set_new(*reply, "coordinator_told", json_true());
        case_done(&c);
        return 0;
}

int followup_close(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        struct fu_case c;
        uint32_t i;
        int r = open_case(f, cmd->case_ref, true, &i, &c, err, errlen);
        if (r < 0)
                return r;
        if (c.state == FU_CLOSED) { /* e.g. the same drop file after a crash */
                *reply = case_reply(f, &c);
                json_object_set_new(*reply, "already", json_true());
                case_done(&c);
                return 0;
        }
        uint64_t now = beredd_now();
        unsigned old_code = c.code;
        json_array_append_new(c.history, json_pack("{s:s, s:I, s:s}", "event", "close", "ts", (json_int_t) now, "by",
                                                   cmd->by));
        c.state = FU_CLOSED;
        c.closed = now;
        c.code = 0;
        snprintf(c.closed_by, sizeof(c.closed_by), "%s", cmd->by);
        r = fu_case_write(f, &c, false);
        if (r < 0) {
                case_done(&c);
                return spool_err(r, "close", err, errlen);
        }
        fu_code_release(f, old_code, i);
        fu_entry_set(f, i, &c);
        reschedule(f, i, &c);
        log_case("closed");
        emit(f, "closed", c.level, NULL);
        *reply = case_reply(f, &c);
        json_object_set_new(*reply, "purge", local_time(f, f->e[i].next));
        case_done(&c);
        return 0;
}

int followup_show(struct followup *f, const char *ref, json_t **reply, char *err, size_t errlen) {
        struct fu_case c;
        uint32_t i;
        int r = open_case(f, ref, true, &i, &c, err, errlen);
        if (r < 0)
                return r;
        json_t *o = case_json(&c);
        if (!o) {
                case_done(&c);
                return -ENOMEM;
        }
        /* "ref" is "case" in replies, like the commands. */
        json_object_set(o, "case", json_object_get(o, "ref"));
        json_object_del(o, "ref");
        const struct followup_conf *fc = &f->cfg->followup;
        if (c.level >= 1 && (size_t) c.level <= fc->n_levels && fc->levels[c.level - 1].name)
                json_object_set_new(o, "level_name", json_string(fc->levels[c.level - 1].name));
        /* The display names of its factors; those no longer in
         * followup.factors are kept and shown by id, flagged. */
        json_t *names = json_object(), *unlisted = json_array(), *v;
        size_t idx;
        json_array_foreach(c.factors, idx, v) {
                int k = config_factor_index(fc, json_string_value(v));
                if (k >= 0)
                        json_object_set_new(names, fc->factors[k].id, json_string(fc->factors[k].name));
                else
                        json_array_append(unlisted, v);
        }
        json_object_set_new(o, "factor_names", names);
        if (json_array_size(unlisted))
                json_object_set_new(o, "unlisted_factors", unlisted);
        else
                json_decref(unlisted);
        struct fu_sched s = sched_of(&c, beredd_now());
        enum fu_action a;
        uint64_t t = followup_next_action(fc, f->cal, &s, &a);
        static const char *const act_names[] = { "none", "reminder", "second reminder", "escalation", "purge" };
        json_object_set_new(o, "next_action", local_time(f, t));
        json_object_set_new(o, "next_action_kind", json_string(act_names[a]));
        *reply = o;
        case_done(&c);
        return 0;
}

static int cmp_due(const void *x, const void *y) {
        json_t *a = *(json_t *const *) x, *b = *(json_t *const *) y;
        int r = strcmp(json_string_value(json_object_get(a, "due")), json_string_value(json_object_get(b, "due")));
        return r ? r : strcmp(json_string_value(json_object_get(a, "case")), json_string_value(json_object_get(b, "case")));
}

int followup_due(struct followup *f, bool overdue_only, const char *contact, json_t **reply) {
        uint64_t now = beredd_now();
        struct ymd today = today_of(f, now);
        int32_t tday = (int32_t) calendar_days_from_ymd(today);
        json_t **v = NULL;
        size_t n = 0, cap = 0;

        for (uint32_t i = 0; i < f->n_e; i++) {
                const struct fu_entry *e = &f->e[i];
                if (e->ref == NIL || E_STATE(e) == FU_CLOSED || e->due > tday)
                        continue;
                if (overdue_only && E_STAGE(e) < FU_STAGE_SECOND)
                        continue;
                struct fu_case c;
                if (fu_case_read(f, eref(f, i), &c) < 0)
                        continue;
                /* Who is away when the next reminder goes, and who covers. */
                struct fu_sched sc = sched_of(&c, now);
                uint64_t t = followup_next_action(&f->cfg->followup, f->cal, &sc, NULL);
                struct fu_route rt;
                route(f, &c, t == UINT64_MAX || t < now ? now : t, &rt);
                bool mine = !contact, covering = contact && rt.cover && streq(rt.cover, contact) &&
                                                 !is_contact(&c, contact);
                json_t *contacts = json_array();
                for (size_t k = 0; k < c.n_contacts; k++) {
                        json_array_append_new(contacts, json_string(c.contacts[k]));
                        mine = mine || streq(c.contacts[k], contact);
                }
                if (!mine && !covering) {
                        json_decref(contacts);
                        case_done(&c);
                        continue;
                }
                json_t *o = case_reply(f, &c);
                json_object_set_new(o, "contacts", contacts);
                json_object_set_new(o, "overdue", json_boolean(c.stage >= FU_STAGE_SECOND));
                if (covering) /* CONTACT is the coordinator covering for the contacts away */
                        json_object_set_new(o, "covering", json_true());
                json_t *cov = json_array();
                for (size_t k = 0; k < rt.n_away; k++)
                        json_array_append_new(cov, json_pack("{s:s, s:o, s:o}", "contact", rt.away[k], "until",
                                                             local_time(f, rt.away_to[k]), "covered_by",
                                                             rt.cover ? json_string(rt.cover) : json_null()));
                json_object_set_new(o, "covered", cov);
                case_done(&c);
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        json_t **nv = realloc(v, cap * sizeof(*nv));
                        if (!nv) {
                                json_decref(o);
                                break;
                        }
                        v = nv;
                }
                v[n++] = o;
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_due);
        json_t *arr = json_array();
        for (size_t k = 0; k < n; k++)
                json_array_append_new(arr, v[k]);
        free(v);
        *reply = json_pack("{s:o, s:I, s:o}", "date", case_date_json(today), "count", (json_int_t) n, "cases", arr);
        return *reply ? 0 : -ENOMEM;
}

int followup_summary(struct followup *f, json_t **reply) {
        struct ymd today = today_of(f, beredd_now());
        int32_t tday = (int32_t) calendar_days_from_ymd(today);
        uint64_t due = 0;
        for (uint32_t s = 0; s < f->days_cap; s++) /* distinct due days, not cases */
                if (f->days[s].n && f->days[s].day <= tday)
                        due += f->days[s].n;
        json_t *levels = json_object(), *factors = json_object();
        size_t nl = f->cfg->followup.n_levels;
        for (size_t l = 1; l < ELEMENTSOF(f->by_level); l++)
                if (l <= nl || f->by_level[l]) {
                        char k[8];
                        snprintf(k, sizeof(k), "%zu", l);
                        json_object_set_new(levels, k, json_integer(f->by_level[l]));
                }
        const struct followup_conf *fc = &f->cfg->followup;
        for (size_t k = 0; k < fc->n_factors; k++)
                json_object_set_new(factors, fc->factors[k].id, json_integer(f->by_factor[k]));
        *reply = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I}", "open", (json_int_t) f->n_open, "due_today",
                           (json_int_t) due, "overdue", (json_int_t) f->n_overdue, "escalated",
                           (json_int_t) f->n_escalated, "closed", (json_int_t) f->n_closed, "damaged",
                           (json_int_t) f->n_damaged, "by_level", levels, "by_factor", factors, "unlisted_factors",
                           (json_int_t) f->n_unlisted);
        return *reply ? 0 : -ENOMEM;
}

int followup_reply(struct followup *f, const char *code, const char *person, enum text_reply_kind kind, int days,
                   json_t **reply, char *err, size_t errlen) {
        snprintf(err, errlen, "code: no follow-up case holds this reply code (recorded or closed already?); "
                 "nothing changed");
        if (!followup_is_code(code))
                return -ENOENT;
        unsigned n = (unsigned) atoi(code);
        uint32_t owner = f->codes[n - FU_CODE_MIN];
        if (!owner)
                return -ENOENT;
        uint32_t i = owner - 1;
        struct fu_case c;
        if (fu_case_read(f, eref(f, i), &c) < 0)
                return -ENOENT;
        if (c.code != n || c.state == FU_CLOSED) {
                case_done(&c);
                return -ENOENT;
        }
        bool allowed = person && who_of(f) && streq(person, who_of(f));
        for (size_t k = 0; person && k < c.n_contacts; k++)
                allowed = allowed || streq(c.contacts[k], person);
        /* ... and whoever this round's reminder went to in their stead (a
         * contact away: the other one, or the coordinator, also the one of
         * before a reload). */
        for (size_t k = 0; person && k < c.n_notify; k++)
                allowed = allowed || (is_round_kind(c.notify[k].kind) && streq(c.notify[k].person, person));
        if (!allowed) {
                /* Only the case's contacts and those its reminders went to
                 * may answer; and the same answer as for a code no case
                 * holds, so that it is no oracle. */
                case_done(&c);
                return -ENOENT;
        }
        err[0] = '\0';
        enum outcome o;
        int postpone = 0;
        switch (kind) {
        case TEXT_REPLY_OK:
                o = OUTCOME_NO_NEEDS;
                break;
        case TEXT_REPLY_HELP:
                o = OUTCOME_NEEDS;
                break;
        case TEXT_REPLY_POSTPONE:
                o = OUTCOME_NONE;
                postpone = days < 1 ? 1 : days > 365 ? 365 : days;
                break;
        default:
                snprintf(err, errlen, "answer: reply OK, HJELP or UTSETT to a follow-up reminder; nothing changed");
                case_done(&c);
                return -EINVAL;
        }
        int r = do_checkin(f, i, &c, person, o, NULL, 0, postpone, "reply", reply, err, errlen);
        case_done(&c);
        return r;
}

/* ---- life cycle ---- */

int followup_new(sd_event *e, struct store *store, struct gateways *gw, const struct config *cfg,
                 const struct calendar *cal, fu_event_cb cb, void *userdata, struct followup **ret) {
        struct followup *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        *f = (struct followup) { .event = sd_event_ref(e), .store = store, .gw = gw, .cfg = cfg, .cal = cal, .cb = cb,
                                 .userdata = userdata, .free_head = NIL };
        int r = fu_index_init(f);
        if (r >= 0)
                r = sd_event_add_time(e, &f->timer, CLOCK_REALTIME, 1, 1000, on_timer, f);
        if (r >= 0)
                r = sd_event_add_defer(e, &f->post, on_post, f);
        if (r >= 0)
                r = sd_event_add_time(e, &f->fold, CLOCK_MONOTONIC, 1, 10000, fu_on_fold, f);
        if (r < 0) {
                followup_free(f);
                return r;
        }
        sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
        sd_event_source_set_enabled(f->post, SD_EVENT_OFF);
        sd_event_source_set_description(f->timer, "followup-timer");
        sd_event_source_set_description(f->post, "followup-outcomes");
        sd_event_source_set_enabled(f->fold, SD_EVENT_OFF);
        sd_event_source_set_priority(f->fold, SD_EVENT_PRIORITY_IDLE);
        sd_event_source_set_description(f->fold, "followup-fold");

        r = load_all(f);
        if (r < 0) {
                log_error_errno(r, "Follow-up: cannot load the cases: %m");
                followup_free(f);
                return r;
        }
        if (f->n_live)
                log_info("Follow-up: %" PRIu32 " open, %" PRIu32 " escalated, %" PRIu32 " closed case(s) loaded%s",
                         f->n_open, f->n_escalated, f->n_closed, f->n_damaged ? "; some case files are damaged" : "");
        if (f->n_open && !cfg->followup.enabled)
                log_warning("Follow-up: there are open cases but no followup section in the configuration; "
                            "reminders continue, check-ins are refused");
        arm_timer(f); /* cases due while we were down are handled at once */
        fu_fold_schedule(f); /* what the journal brought back */
        f->loaded = true;
        *ret = f;
        return 0;
}

static bool same_vocabulary(const struct followup_conf *a, const struct followup_conf *b) {
        if (a->n_factors != b->n_factors)
                return false;
        for (size_t k = 0; k < a->n_factors; k++)
                if (!streq(a->factors[k].id, b->factors[k].id))
                        return false;
        return true;
}

/* The vocabulary changed from OLD to f->cfg's: the factor bits of every
 * case follow the ids (a factor taken out makes its cases "unlisted"; they
 * keep it in their files and are shown with it by id). A case that was
 * unlisted already may hold a factor the new vocabulary has again: its file
 * says, so those few are read. */
static void refactor(struct followup *f, const struct followup_conf *old) {
        const struct followup_conf *fc = &f->cfg->followup;
        uint32_t map[FACTORS_MAX];
        size_t reread = 0;

        for (size_t k = 0; k < old->n_factors; k++)
                map[k] = fu_factor_bit(fc, old->factors[k].id);
        for (uint32_t i = 0; i < f->n_e; i++) {
                struct fu_entry *e = &f->e[i];
                if (e->ref == NIL)
                        continue;
                fu_account(f, i, -1);
                uint32_t bits = 0;
                for (size_t k = 0; k < old->n_factors; k++)
                        if (e->factors & (1u << k))
                                bits |= map[k];
                if (e->flags & E_UNLISTED) {
                        struct fu_case c;
                        if (fu_case_read(f, eref(f, i), &c) >= 0) {
                                bits = fu_case_factors(fc, &c);
                                case_done(&c);
                                reread++;
                        } else {
                                bits |= FU_UNLISTED; /* as it was, until the case is next read */
                        }
                }
                e->factors = (uint16_t) (bits & (FU_UNLISTED - 1));
                e->flags = (uint8_t) ((e->flags & ~E_UNLISTED) | (bits & FU_UNLISTED ? E_UNLISTED : 0));
                fu_account(f, i, +1);
        }
        log_info("Follow-up: followup.factors changed (%zu factor(s)); %" PRIu32
                 " open case(s) have a factor not in it (kept, shown by id); %zu case file(s) read",
                 fc->n_factors, f->n_unlisted, reread);
}

void followup_set_config(struct followup *f, const struct config *cfg, const struct calendar *cal) {
        const struct followup_conf *old = &f->cfg->followup;
        f->cfg = cfg;
        f->cal = cal;
        if (!same_vocabulary(old, &cfg->followup))
                refactor(f, old); /* OLD is still the running configuration's: freed after this */
        /* Cases not yet reminded move with new office hours or holidays now;
         * the others are checked against the new rules when their time comes. */
        struct fr_cache *fr = calloc(1, sizeof(*fr));
        if (!fr)
                return;
        fr->now = beredd_now();
        for (uint32_t i = 0; i < f->n_e; i++) {
                struct fu_entry *e = &f->e[i];
                if (e->ref == NIL || E_STATE(e) == FU_CLOSED || E_STAGE(e) != FU_STAGE_NONE)
                        continue;
                struct fu_sched sc = { .state = E_STATE(e), .stage = FU_STAGE_NONE,
                                       .due = calendar_ymd_from_days(e->due) };
                e->next = fu_next_cached(f, fr, &sc);
        }
        free(fr);
        fu_heapify(f);
        arm_timer(f);
}

void followup_free(struct followup *f) {
        if (!f)
                return;
        if (f->fold)
                fu_fold_all(f);
        if (f->loaded && f->n_dirty == 0)
                fu_index_write(f);
        fu_journal_free(f);
        sd_event_source_disable_unref(f->fold);
        sd_event_source_disable_unref(f->timer);
        sd_event_source_disable_unref(f->post);
        for (size_t i = 0; i < f->n_results; i++)
                free(f->results[i].key);
        free(f->results);
        fu_index_free(f);
        sd_event_unref(f->event);
        free(f);
}
