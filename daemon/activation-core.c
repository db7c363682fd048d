/* activation-core.c - the decisions of the escalation engine (see
 * activation.h and activation-internal.h): which step starts, who is asked
 * or told what, when the quorum is met, short or out of reach. A decision's
 * only output is the events it records (act_record, which applies them
 * through act_apply); what they mean outside (the MQTT events, the journal)
 * the shell derives from them (act_narrate), so a replay tells nobody. */
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

const char *const act_state_names[ACT_VERIFIED + 1] = { "mobilising", "mobilised", "short", "resolved",
                                                         "verifying", "verified" };
const char *const nstate_names[N_UNDELIVERABLE + 1] = { "queued", "sending", "sent", "failed", "unreachable",
                                                        "delivered", "undeliverable" };

/* The decisions call each other (a timeout moves on, moving on can exhaust
 * the steps, ...). */
static void advance(struct activation *a, uint64_t now);
static void complete_quorum_decision(struct activation *a, uint64_t now);
static void decide_quorum(struct activation *a, uint64_t now);
static void enter_step(struct activation *a, int idx, uint64_t now);
static const char *last_to_answer(const struct activation *a, enum answer ans);
static void maybe_move_on(struct activation *a, const char *person, uint64_t now);
static void mobilise(struct activation *a, uint64_t now);
static bool no_after_mobilised(const struct activation *a);
static void notify(struct activation *a, const char *person, const char *kind, unsigned channels, int step,
                   uint64_t now);
static void set_state(struct activation *a, enum act_state st, const char *by, uint64_t now);
static bool when_ok(const struct activation *a, const struct step *s, uint64_t now);
static void unmobilise(struct activation *a, const char *person, uint64_t now);

/* ---- small helpers ---- */

const struct chain *act_chain(const struct activation *a) {
        return config_chain(a->mgr->cfg, a->chain);
}

size_t act_chain_n_regular(const struct chain *c) {
        return c->n_steps > 0 && c->steps[c->n_steps - 1].final ? c->n_steps - 1 : c->n_steps;
}

/* Room for one more element in *V (N used of *CAP, each SIZE bytes). */
int act_grow(void **v, size_t n, size_t *cap, size_t size) {
        if (n < *cap)
                return 0;
        size_t c = *cap ? *cap * 2 : 8;
        void *nv = reallocarray(*v, c, size);
        if (!nv)
                return -ENOMEM;
        *v = nv;
        *cap = c;
        return 0;
}

/* The member for PERSON, or NULL (a lookup that changes nothing). */
static const struct member *member_of(const struct activation *a, const char *person) {
        size_t i;
        return strmap_get(&a->member_map, person, &i) ? &a->members[i] : NULL;
}

struct member *act_find_member(struct activation *a, const char *person, bool create) {
        size_t i;
        if (strmap_get(&a->member_map, person, &i))
                return &a->members[i];
        if (!create)
                return NULL;
        if (act_grow((void **) &a->members, a->n_members, &a->members_cap, sizeof(*a->members)) < 0)
                return NULL;
        struct member *m = &a->members[a->n_members];
        *m = (struct member) { .person = strdup(person), .notified_run = -1 };
        if (!m->person || strmap_put(&a->member_map, m->person, a->n_members) < 0) {
                free(m->person);
                return NULL;
        }
        a->n_members++;
        return m;
}

struct notif *act_find_notif(struct activation *a, const char *key) {
        /* Keys are "<id>.<seq>" and the seq is, as a rule, the index. */
        const char *dot = strrchr(key, '.');
        if (dot && dot[1] >= '0' && dot[1] <= '9') {
                size_t i = (size_t) strtoul(dot + 1, NULL, 10);
                if (i < a->n_notifs && streq(a->notifs[i].key, key))
                        return &a->notifs[i];
        }
        for (size_t i = a->n_notifs; i > 0; i--)
                if (streq(a->notifs[i - 1].key, key))
                        return &a->notifs[i - 1];
        return NULL;
}

/* Quorum: enough distinct yes, and enough of each required role. */
void act_count_yes(const struct activation *a, const struct chain *c, int *yes, bool *roles_ok) {
        *yes = 0;
        *roles_ok = true;
        for (size_t i = 0; i < a->n_members; i++)
                *yes += a->members[i].answer == ANSWER_YES;
        for (size_t r = 0; c && r < c->n_need_roles; r++) {
                int n = 0;
                for (size_t i = 0; i < a->n_members; i++) {
                        const struct person *p = config_person(a->mgr->cfg, a->members[i].person);
                        if (a->members[i].answer == ANSWER_YES && p && person_has_role(p, c->need_roles[r].role))
                                n++;
                }
                if (n < c->need_roles[r].n)
                        *roles_ok = false;
        }
}

bool act_quorum_met(const struct activation *a) {
        const struct chain *c = act_chain(a);
        int yes;
        bool roles_ok;
        if (!c)
                return false;
        act_count_yes(a, c, &yes, &roles_ok);
        return yes >= c->need_total && roles_ok;
}

/* ---- decisions ---- */

static void hex(const unsigned char *b, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 15];
        }
        out[2 * n] = '\0';
}

void act_token_hash(const char *token, char out[static 2 * SHA256_DIGEST_LENGTH + 1]) {
        unsigned char d[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *) token, strlen(token), d);
        hex(d, sizeof(d), out);
}

/* Random bytes for nonces and tokens: they come from the manager's source
 * (getrandom in the daemon, a fixed sequence in tests), never from here. */
static bool random_bytes(const struct activation *a, void *buf, size_t n) {
        return a->mgr->random && a->mgr->random(buf, n) == 0;
}

/* A fresh answer-link token for notification N: random, only its hash is
 * logged (so the log never holds a usable link), logged before the e-mail
 * that carries it is released. */
void act_make_token(struct activation *a, struct notif *n, uint64_t now) {
        unsigned char b[TOKEN_BYTES];
        char h[2 * SHA256_DIGEST_LENGTH + 1];
        if (!random_bytes(a, b, sizeof(b)))
                return;
        hex(b, sizeof(b), n->token);
        act_token_hash(n->token, h);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "t", "token", "person", n->person, "hash", h, "key", n->key);
        if (o && n->ch == CHANNEL_VOICE)
                json_object_set_new(o, "use", json_string("voice"));
        if (act_record(a, o, now) < 0)
                n->token[0] = '\0';
}

/* Kinds that ask for an answer. */
bool act_is_ask(const char *kind) {
        return streq(kind, "callout") || streq(kind, "verify") || streq(kind, "recall");
}

static int add_notif(struct activation *a, const char *person, enum channel ch, const char *kind, int step,
                     uint64_t now) {
        char key[128], nonce[17] = "";
        uint64_t rnd;
        snprintf(key, sizeof(key), "%s.%u", a->id, a->seq);
        if (random_bytes(a, &rnd, sizeof(rnd)))
                snprintf(nonce, sizeof(nonce), "%016" PRIx64, rnd);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "t", "sending", "key", key, "person", person, "ch",
                              channel_name(ch), "kind", kind, "step", step);
        if (o && nonce[0])
                json_object_set_new(o, "nonce", json_string(nonce));
        int r = act_record(a, o, now);
        if (r < 0)
                return r;
        /* Logged, not yet on disk: held until the commit (the shell's). */
        struct notif *n = &a->notifs[a->n_notifs - 1];
        n->state = N_QUEUED;
        if ((ch == CHANNEL_EMAIL && act_is_ask(kind) && a->mgr->public_url) || ch == CHANNEL_VOICE)
                act_make_token(a, n, now);
        return 0;
}

/* The messages that say whether the quorum is within reach. */
bool act_is_quorum_telling(const char *kind) {
        return streq(kind, "impossible") || streq(kind, "report-impossible") || streq(kind, "reachable") ||
               streq(kind, "report-reachable");
}

/* Notify PERSON of KIND on CHANNELS (those the person has an address for).
 * When nothing can be sent, that is logged too ("unaddressed"): asked,
 * the person counts as unreachable, and a replay knows it. */
static void notify(struct activation *a, const char *person, const char *kind, unsigned channels, int step,
                   uint64_t now) {
        const struct person *p = config_person(a->mgr->cfg, person);
        const struct chain *c = act_chain(a);
        unsigned sent = 0;
        /* A call asks a call-out's question; anything else for someone
         * reached by voice goes by SMS. */
        if ((channels & CHANNEL_VOICE) && !streq(kind, "callout"))
                channels = (channels & ~(unsigned) CHANNEL_VOICE) | CHANNEL_SMS;
        /* With voice_after, the call waits for an answer to the rest. */
        uint64_t after = c && step >= 0 && (size_t) step < c->n_steps && (channels & ~(unsigned) CHANNEL_VOICE)
                                 ? c->steps[step].voice_after
                                 : 0;
        for (unsigned ch = CHANNEL_SMS; ch <= CHANNEL_VOICE; ch <<= 1) {
                if (!(channels & ch) || !p)
                        continue;
                if (((ch == CHANNEL_SMS || ch == CHANNEL_VOICE) && !p->phone) || (ch == CHANNEL_EMAIL && !p->email))
                        continue;
                if (ch == CHANNEL_VOICE && after > 0) {
                        if (act_record(a, json_pack("{s:s, s:s, s:i, s:I}", "t", "call-later", "person", person, "step",
                                                    step, "at", (json_int_t) (now + after)),
                                       now) == 0)
                                sent |= ch;
                        continue;
                }
                if (add_notif(a, person, ch, kind, step, now) == 0)
                        sent |= ch;
        }
        if (!sent)
                (void) act_record(a, json_pack("{s:s, s:s, s:s, s:i}", "t", "unaddressed", "person", person, "kind",
                                               kind, "step", step),
                                  now);
}

/* PERSON has answered, or cannot be reached on any channel they were
 * asked on and has no call still to come. */
static bool member_done(struct activation *a, const char *person) {
        const struct member *m = act_find_member(a, person, false);
        return m && (m->answer != ANSWER_NONE ||
                     (m->channels && (m->dead & m->channels) == m->channels && !m->call_at));
}

/* ---- calls (voice) ---- */

uint64_t act_next_call(const struct activation *a) {
        uint64_t t = 0;
        for (size_t i = 0; i < a->n_members; i++)
                if (a->members[i].call_at && (!t || a->members[i].call_at < t))
                        t = a->members[i].call_at;
        return t;
}

const char *act_call_unwanted(const struct activation *a, const struct member *mb, int step, uint64_t now) {
        const struct chain *c = act_chain(a);
        if (mb->answer != ANSWER_NONE)
                return "answered";
        if (a->state != ACT_MOBILISING || !c)
                return "no longer needed";
        /* Asked in a step the chain has left, or passed over in a
         * sequential one: the chain has moved on from them. */
        if (step != a->step)
                return "the step has ended";
        bool in_step = false;
        for (size_t i = 0; i < a->n_people && !in_step; i++)
                in_step = streq(a->people[i], mb->person) && (a->parallel || i == a->seq_pos);
        if (!in_step)
                return "the step has moved on";
        if (step >= 0 && (size_t) step < c->n_steps && !when_ok(a, &c->steps[step], now))
                return "outside the step's hours";
        return NULL;
}

/* Place MB's pending call now, or say why it is not placed. */
static void place_call(struct activation *a, struct member *mb, uint64_t now) {
        const char *why = act_call_unwanted(a, mb, mb->call_step, now);
        if (why) {
                (void) act_record(a, json_pack("{s:s, s:s, s:s}", "t", "call-skipped", "person", mb->person, "reason", why),
                                  now);
                return;
        }
        int step = mb->call_step;
        char *person = strdup(mb->person); /* mb may move as members grow */
        if (person && add_notif(a, person, CHANNEL_VOICE, "callout", step, now) < 0)
                (void) act_record(a, json_pack("{s:s, s:s, s:s}", "t", "call-skipped", "person", person, "reason",
                                               "cannot log the call"),
                                  now);
        free(person);
}

void act_calls_due(struct activation *a, uint64_t now) {
        for (size_t i = 0; i < a->n_members; i++)
                if (a->members[i].call_at && a->members[i].call_at <= now)
                        place_call(a, &a->members[i], now);
}

static bool when_ok(const struct activation *a, const struct step *s, uint64_t now) {
        if (s->when == WHEN_ALWAYS)
                return true;
        bool office = calendar_is_office(a->mgr->cal, now);
        return s->when == WHEN_OFFICE ? office : !office;
}

/* Add ID to S; returns its index, or -ENOMEM. */
int act_add_person(struct people_set *s, const char *id) {
        size_t i;
        if (strmap_get(&s->map, id, &i))
                return (int) i;
        if (s->n >= INT_MAX || act_grow((void **) &s->v, s->n, &s->cap, sizeof(char *)) < 0)
                return -ENOMEM;
        char *d = strdup(id);
        if (!d || strmap_put(&s->map, d, s->n) < 0) {
                free(d);
                return -ENOMEM;
        }
        s->v[s->n] = d;
        return (int) s->n++;
}

/* The ids of S, in order, go to *V and *N (the caller's now). */
void act_take_people(struct people_set *s, char ***v, size_t *n) {
        strmap_clear(&s->map);
        *v = s->v;
        *n = s->n;
}

void act_free_people(struct activation *a) {
        for (size_t i = 0; i < a->n_people; i++)
                free(a->people[i]);
        free(a->people);
        a->people = NULL;
        a->n_people = 0;
}

/* Who a step skips because they are away (at most SKIPS_MAX a step: more
 * are skipped unrecorded). Ids belong to the configuration. */
#define SKIPS_MAX 256
struct skips {
        struct { const char *person, *roster, *instead; } v[SKIPS_MAX];
        size_t n;
};

static void skips_add(struct skips *sk, const char *person, const char *roster, const char *instead) {
        if (!sk || sk->n >= SKIPS_MAX)
                return;
        for (size_t i = 0; i < sk->n; i++)
                if (streq(sk->v[i].person, person) && !sk->v[i].roster == !roster)
                        return;
        sk->v[sk->n].person = person;
        sk->v[sk->n].roster = roster;
        sk->v[sk->n].instead = instead;
        sk->n++;
}

/* Hand everyone step S names now (rosters: who is on duty), in order, to
 * ADD(SET, id); the ids belong to the configuration or the duty roster.
 * Someone away now is left out (into SK when not NULL), and a roster's
 * away on-duty person is replaced by the roster's next member. */
static void step_targets(const struct activation *a, const struct step *s, uint64_t now,
                         void (*add)(void *set, const char *id), void *set, struct skips *sk) {
        const struct config *cfg = a->mgr->cfg;
        const struct absences *abs = a->mgr->absences;
        for (size_t t = 0; t < s->n_targets; t++) {
                const struct target *tg = &s->targets[t];
                if (tg->kind == TARGET_PERSON) {
                        if (absences_away_at(abs, tg->ref, now))
                                skips_add(sk, tg->ref, NULL, NULL);
                        else
                                add(set, tg->ref);
                } else if (tg->kind == TARGET_ROLE) {
                        for (size_t i = 0; i < cfg->n_people; i++) {
                                if (!person_has_role(&cfg->people[i], tg->ref))
                                        continue;
                                if (absences_away_at(abs, cfg->people[i].id, now))
                                        skips_add(sk, cfg->people[i].id, NULL, NULL);
                                else
                                        add(set, cfg->people[i].id);
                        }
                } else {
                        const struct roster *r = config_roster(cfg, tg->ref);
                        const char *away = NULL;
                        const char *who = r ? duty_on_duty_present(a->mgr->duty, a->mgr->cal, r, now, abs, &away)
                                            : NULL;
                        if (away)
                                skips_add(sk, away, r->id, who);
                        if (who)
                                add(set, who);
                }
        }
}

static void add_person_cb(void *set, const char *id) {
        (void) act_add_person(set, id);
}

/* The people a step reaches now, in order, without those who have answered
 * or already got run RUN's call-out (and without those away: into SK). */
static void resolve_targets(const struct activation *a, const struct step *s, int run, uint64_t now, char ***ret,
                            size_t *ret_n, struct skips *sk) {
        struct people_set set = {};
        char **v;
        size_t n;
        step_targets(a, s, now, add_person_cb, &set, sk);
        act_take_people(&set, &v, &n);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                const struct member *m = member_of(a, v[i]);
                if (m && (m->answer != ANSWER_NONE || m->notified_run == run))
                        free(v[i]);
                else
                        v[k++] = v[i];
        }
        *ret = v;
        *ret_n = k;
}

/* Log who step STEP (-1: a contact-list check) skipped as away: not those
 * who have answered already (they are not asked anyway). */
static void record_skips(struct activation *a, const struct skips *sk, int step, uint64_t now) {
        for (size_t i = 0; sk && i < sk->n; i++) {
                const struct member *m = member_of(a, sk->v[i].person);
                if (m && m->answer != ANSWER_NONE && !sk->v[i].roster)
                        continue;
                json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:s}", "t", "skipped", "person", sk->v[i].person, "step",
                                      step, "run", a->run, "why", "away");
                if (o && sk->v[i].roster)
                        json_object_set_new(o, "roster", json_string(sk->v[i].roster));
                if (o && sk->v[i].instead)
                        json_object_set_new(o, "instead", json_string(sk->v[i].instead));
                (void) act_record(a, o, now);
        }
}

/* ---- the quorum: can it still be met, and who hears how it goes ----
 *
 * The quorum is out of reach as soon as the people still left in the chain
 * (those who said yes, those asked who may still answer, and those the
 * remaining steps, or runs, would still ask; never anyone who declined or is
 * unreachable on every channel tried) are too few for need.total or for a
 * required role. Then the final step is told at once ("impossible"), while
 * the escalation goes on for the rest. The decision is logged ("impossible")
 * with the messages it causes, before they leave; who was told what is
 * rebuilt from the "sending" events, so after a crash nobody is told twice.
 *
 * Reports go by SMS to whoever triggered (a configured person with a phone)
 * and the chain's report_to: one when the team is mobilised, one when it is
 * short or cannot be mobilised. Whoever was told it was short hears when it
 * is mobilised after all ("update"). */

static bool member_gone(const struct member *m) {
        return m->channels && (m->dead & m->channels) == m->channels && !m->call_at;
}

/* A set of person ids it does not own (members' and the configuration's,
 * valid while nothing is added to the activation or reloaded): the count
 * runs on every answer, without copying thousands of ids each time. */
struct id_set {
        const char **v;
        size_t n, cap;
        struct strmap map;
};

static void id_set_add(void *p, const char *id) {
        struct id_set *set = p;
        if (strmap_get(&set->map, id, NULL) || act_grow((void **) &set->v, set->n, &set->cap, sizeof(*set->v)) < 0 ||
            strmap_put(&set->map, id, set->n) < 0)
                return;
        set->v[set->n++] = id;
}

static void id_set_free(struct id_set *set) {
        strmap_clear(&set->map);
        free(set->v);
        *set = (struct id_set) {};
}

/* Remaining people the steps would still ask, with no answer and not
 * unreachable, go into the possible set. */
struct possible_ctx {
        const struct activation *a;
        struct id_set *set;
};

static void possible_add(void *p, const char *id) {
        struct possible_ctx *x = p;
        const struct member *m = member_of(x->a, id);
        if (!m || (m->answer == ANSWER_NONE && !member_gone(m)))
                id_set_add(x->set, id);
}

/* The people who could still make up the quorum (see above) into SET. */
static void possible_people(const struct activation *a, const struct chain *c, uint64_t now, struct id_set *set) {
        for (size_t i = 0; i < a->n_members; i++) {
                const struct member *m = &a->members[i];
                if (m->answer == ANSWER_YES || (m->answer == ANSWER_NONE && m->channels && !member_gone(m)))
                        id_set_add(set, m->person);
        }
        size_t nreg = act_chain_n_regular(c);
        /* With runs left, every step asks again; else only the rest of this run. */
        size_t from = a->run < c->repeat || a->step < 0 ? 0 : (size_t) a->step;
        struct possible_ctx x = { .a = a, .set = set };
        for (size_t k = from; k < nreg; k++)
                step_targets(a, &c->steps[k], now, possible_add, &x, NULL);
}

/* The quorum's requirements now: *RET (need.total first, then each role;
 * free() it) and their number, or 0 when there is no chain or no memory. */
size_t act_quorum_view(const struct activation *a, uint64_t now, struct need_view **ret) {
        const struct chain *c = act_chain(a);
        const struct config *cfg = a->mgr->cfg;
        *ret = NULL;
        if (!c)
                return 0;
        struct need_view *v = calloc(1 + c->n_need_roles, sizeof(*v));
        if (!v)
                return 0;
        struct id_set set = {};
        possible_people(a, c, now, &set);
        v[0] = (struct need_view) { .need = c->need_total, .possible = (int) set.n };
        for (size_t i = 0; i < a->n_members; i++)
                v[0].yes += a->members[i].answer == ANSWER_YES;
        for (size_t r = 0; r < c->n_need_roles; r++) {
                struct need_view *w = &v[1 + r];
                *w = (struct need_view) { .role = c->need_roles[r].role, .need = c->need_roles[r].n };
                for (size_t i = 0; i < a->n_members; i++)
                        w->yes += a->members[i].answer == ANSWER_YES &&
                                  person_has_role(config_person(cfg, a->members[i].person), w->role);
                for (size_t i = 0; i < set.n; i++)
                        w->possible += person_has_role(config_person(cfg, set.v[i]), w->role);
        }
        id_set_free(&set);
        *ret = v;
        return 1 + c->n_need_roles;
}

json_t *act_needs_unmet(const struct need_view *v, size_t n, bool out_of_reach, char *what, size_t len) {
        json_t *arr = json_array();
        what[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                if (out_of_reach ? v[i].possible >= v[i].need : v[i].yes >= v[i].need)
                        continue;
                char w[96];
                snprintf(w, sizeof(w), "%s%s", v[i].role ? "role:" : "total", v[i].role ? v[i].role : "");
                json_array_append_new(arr, json_string(w));
                size_t l = strlen(what);
                snprintf(what + l, len - l, "%s%s", l ? ", " : "", w);
        }
        return arr;
}

static bool view_out_of_reach(const struct need_view *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (v[i].possible < v[i].need)
                        return true;
        return false;
}

/* The final step's people now (told even if they were asked before). */
static void final_people(struct activation *a, const struct chain *c, uint64_t now, char ***ret, size_t *ret_n) {
        *ret = NULL;
        *ret_n = 0;
        if (!c || c->n_steps == 0 || !c->steps[c->n_steps - 1].final)
                return;
        resolve_targets(a, &c->steps[c->n_steps - 1], -2, now, ret, ret_n, NULL);
}

/* Tell the final step KIND ("impossible" or "unreachable"), each person once. */
static void tell_final(struct activation *a, const struct chain *c, const char *kind, uint64_t now) {
        char **people;
        size_t n;
        final_people(a, c, now, &people, &n);
        for (size_t i = 0; i < n; i++) {
                const struct member *m = act_find_member(a, people[i], false);
                if (!m || !m->told_short)
                        notify(a, people[i], kind, c->steps[c->n_steps - 1].via, (int) (c->n_steps - 1), now);
                free(people[i]);
        }
        free(people);
}

/* Those told the team was short (or could not be) hear it is mobilised. */
static void tell_update(struct activation *a, const struct chain *c, uint64_t now) {
        bool fin = c && c->n_steps > 0 && c->steps[c->n_steps - 1].final;
        unsigned via = fin ? c->steps[c->n_steps - 1].via : CHANNEL_SMS;
        for (size_t i = 0; i < a->n_members; i++)
                if ((a->members[i].told_short || a->members[i].owed_update) && !a->members[i].told_update)
                        notify(a, a->members[i].person, "update", via, fin ? (int) (c->n_steps - 1) : -1, now);
}

/* The report KIND by SMS to whoever triggered and to report_to, each once;
 * not to anyone the final step's messages reach (they have theirs). */
static void tell_reports(struct activation *a, const struct chain *c, const char *kind, uint64_t now) {
        const struct config *cfg = a->mgr->cfg;
        bool mobilised = streq(kind, "report-mobilised");
        for (size_t i = 0; c && i <= c->n_report_to; i++) {
                const char *id = i == 0 ? a->by : c->report_to[i - 1];
                const struct person *p = id ? config_person(cfg, id) : NULL;
                if (!p || !p->phone || (i > 0 && a->by && streq(id, a->by)))
                        continue;
                const struct member *m = act_find_member(a, id, false);
                if (m && (m->told_short || (mobilised && m->owed_update) ||
                          (mobilised ? m->report_mobilised : m->report_short)))
                        continue;
                notify(a, id, kind, CHANNEL_SMS, -1, now);
        }
}

/* How long after an "impossible" or "reachable" message a new "out of
 * reach" waits (a flapping answer: NEI, JA, NEI...): the flag changes at
 * once, the final step and the leader are told when the hold ends, and only
 * if it is still out of reach then. The first "impossible" is never held.
 * BEREDD_QUORUM_HOLD_MS overrides it (tests). */
#define QUORUM_HOLD_USEC (30 * USEC_PER_SEC)

static uint64_t quorum_hold(void) {
        static uint64_t hold = UINT64_MAX;
        if (hold == UINT64_MAX) {
                if (env_msec("BEREDD_QUORUM_HOLD_MS", &hold) <= 0)
                        hold = QUORUM_HOLD_USEC;
        }
        return hold;
}

/* Tell the final step and the reports that the quorum is out of reach
 * (those not told so in this round), or hold it (see quorum_hold). */
void act_tell_out_of_reach(struct activation *a, const struct chain *c, uint64_t now) {
        uint64_t hold = quorum_hold();
        if (a->told_at && now < a->told_at + hold) {
                act_hold_until(a, a->told_at + hold);
                return;
        }
        tell_final(a, c, "impossible", now);
        tell_reports(a, c, "report-impossible", now);
}

/* ---- when a quorum changes back ----
 *
 * Out of reach, then within reach again (a no became a yes, before the team
 * is mobilised): the decision is withdrawn ("reachable", logged), and
 * whoever was told it could not be done (the final step, the leader,
 * report_to) hears once that it can; the final step is then owed the news
 * when the team is mobilised. Out of reach again later: told again, as the
 * first time.
 *
 * Mobilised, then no longer complete (a yes became a no): the activation
 * goes back to mobilising ("unmobilised", logged with the state change);
 * whoever was told it was mobilised hears it is no longer complete, those
 * who were stood down are asked again ("recall"), and the escalation goes
 * on from the current step (at once to the next when nobody in it is left
 * to answer). The reset of who-was-told-what is the same live and in
 * replay (the events come before the messages they cause). */

/* The person who last answered ANS (NULL: nobody). */
static const char *last_to_answer(const struct activation *a, enum answer ans) {
        const struct member *best = NULL;
        for (size_t i = 0; i < a->n_members; i++)
                if (a->members[i].answer == ans && (!best || a->members[i].answered >= best->answered))
                        best = &a->members[i];
        return best ? best->person : NULL;
}

/* The last answer recorded is a no, after the team was mobilised. */
static bool no_after_mobilised(const struct activation *a) {
        const struct member *last = NULL;
        for (size_t i = 0; i < a->n_members; i++)
                if (a->members[i].answer != ANSWER_NONE && (!last || a->members[i].answered >= last->answered))
                        last = &a->members[i];
        return last && last->answer == ANSWER_NO && last->answered >= a->mobilised_at;
}

/* The quorum told out of reach is within reach again (V: act_quorum_view). */
static void quorum_reachable(struct activation *a, const struct chain *c, const struct need_view *v, uint64_t now) {
        /* Whose yes did it, when one came since (else a roster or the
         * configuration changed: nobody is named). */
        const char *by = last_to_answer(a, ANSWER_YES);
        const struct member *bm = by ? member_of(a, by) : NULL;
        if (bm && bm->answered < a->impossible_at)
                by = NULL;
        /* Who hears it, from the flags before the event resets them. */
        _cleanup_free_ unsigned char *who = calloc(a->n_members ? a->n_members : 1, 1);
        if (!who)
                return;
        for (size_t i = 0; i < a->n_members; i++)
                who[i] = a->members[i].told_short ? 1 : a->members[i].report_short ? 2 : 0;
        size_t nm = a->n_members;
        json_t *o = json_pack("{s:s, s:i, s:i, s:i}", "t", "reachable", "confirmed", v[0].yes, "needed", v[0].need,
                              "possible", v[0].possible);
        if (o && by)
                json_object_set_new(o, "person", json_string(by));
        if (act_record(a, o, now) < 0)
                return;
        bool fin = c->n_steps > 0 && c->steps[c->n_steps - 1].final;
        for (size_t i = 0; i < nm; i++)
                if (who[i] == 1)
                        notify(a, a->members[i].person, "reachable", fin ? c->steps[c->n_steps - 1].via : CHANNEL_SMS,
                               fin ? (int) (c->n_steps - 1) : -1, now);
                else if (who[i] == 2)
                        notify(a, a->members[i].person, "report-reachable", CHANNEL_SMS, -1, now);
}

/* Decide whether the quorum is still within reach; if not, say so now.
 * Once decided, it stays decided (the people told are not told again)
 * until it is within reach again (quorum_reachable). */
static void decide_quorum(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        if (!c || a->verify || a->broken || a->state != ACT_MOBILISING)
                return;
        _cleanup_free_ struct need_view *v = NULL;
        size_t n = act_quorum_view(a, now, &v);
        if (a->impossible_at) {
                if (n > 0 && !view_out_of_reach(v, n))
                        quorum_reachable(a, c, v, now);
                return;
        }
        if (!view_out_of_reach(v, n))
                return;
        char what[256];
        json_t *out = act_needs_unmet(v, n, true, what, sizeof(what));
        if (act_record(a, json_pack("{s:s, s:o, s:i, s:i, s:i}", "t", "impossible", "out_of_reach", out, "confirmed",
                                    v[0].yes, "needed", v[0].need, "possible", v[0].possible),
                       now) < 0)
                return;
        act_tell_out_of_reach(a, c, now);
}

/* After a restart: a decision whose messages were not all logged (a crash
 * in the middle of writing them) is completed; nobody is told twice. */
static void complete_quorum_decision(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        if (!c || a->verify || a->broken || a->state != ACT_MOBILISING || !a->impossible_at) {
                decide_quorum(a, now);
                return;
        }
        act_tell_out_of_reach(a, c, now);
}

/* The state becomes ST (BY: who made it so, or NULL); STEP >= 0: the
 * current step becomes STEP with it (short: past the last one). */
static void record_state(struct activation *a, enum act_state st, const char *by, int step, uint64_t now) {
        json_t *o = json_pack("{s:s, s:s}", "t", "state", "state", act_state_names[st]);
        if (o && by)
                json_object_set_new(o, "by", json_string(by));
        if (o && step >= 0)
                json_object_set_new(o, "step", json_integer(step));
        if (act_record(a, o, now) < 0 || st == ACT_MOBILISING)
                return;
        /* Calls still to come are not: the team stands, or it is over. */
        for (size_t i = 0; i < a->n_members; i++)
                if (a->members[i].call_at)
                        (void) act_record(a, json_pack("{s:s, s:s, s:s}", "t", "call-skipped", "person",
                                                       a->members[i].person, "reason", "no longer needed"),
                                          now);
}

static void set_state(struct activation *a, enum act_state st, const char *by, uint64_t now) {
        record_state(a, st, by, -1, now);
}

static void mobilise(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        set_state(a, ACT_MOBILISED, NULL, now);
        for (size_t i = 0; i < a->n_members; i++) {
                struct member *m = &a->members[i];
                if (m->answer == ANSWER_NONE && m->channels && !m->stood_down)
                        notify(a, m->person, "standdown", m->channels & ~m->dead, -1, now);
        }
        tell_update(a, c, now);
        tell_reports(a, c, "report-mobilised", now);
}

/* The steps ran out at IDX (past the last regular step): short. */
static void exhausted(struct activation *a, int idx, uint64_t now) {
        const struct chain *c = act_chain(a);
        record_state(a, ACT_SHORT, NULL, idx, now);
        if (!c)
                return;
        /* Whoever heard "impossible" already has been told. */
        tell_final(a, c, "unreachable", now);
        tell_reports(a, c, "report-short", now);
}

/* Start step IDX (or the first one after it that applies). */
static void enter_step(struct activation *a, int idx, uint64_t now) {
        const struct chain *c = act_chain(a);
        if (!c) {
                log_error("Activation %s: chain \"%s\" is no longer configured; it stays open until resolved", a->id,
                          a->chain);
                a->deadline = 0;
                return;
        }
        size_t nreg = act_chain_n_regular(c);
        for (;;) {
                if ((size_t) idx >= nreg) {
                        if (a->run < c->repeat) {
                                idx = 0;
                                act_record(a, json_pack("{s:s, s:i}", "t", "repeat", "run", a->run + 1), now);
                                continue;
                        }
                        exhausted(a, idx, now);
                        return;
                }
                const struct step *s = &c->steps[idx];
                if (!when_ok(a, s, now)) {
                        const char *why = s->when == WHEN_OFFICE ? "outside office hours" : "within office hours";
                        act_record(a, json_pack("{s:s, s:i, s:i, s:s}", "t", "skip", "step", idx, "run", a->run,
                                                "reason", why),
                                   now);
                        idx++;
                        continue;
                }
                char **people;
                size_t n;
                _cleanup_free_ struct skips *sk = calloc(1, sizeof(*sk));
                resolve_targets(a, s, a->run, now, &people, &n, sk);
                record_skips(a, sk, idx, now);
                if (n == 0) {
                        free(people);
                        act_record(a, json_pack("{s:s, s:i, s:i, s:s}", "t", "skip", "step", idx, "run", a->run,
                                                "reason", "nobody left to ask"),
                                   now);
                        idx++;
                        continue;
                }
                bool parallel = s->mode == STEP_PARALLEL;
                json_t *pl = json_array();
                for (size_t i = 0; i < n; i++) {
                        json_array_append_new(pl, json_string(people[i]));
                        free(people[i]);
                }
                free(people);
                if (act_record(a, json_pack("{s:s, s:i, s:i, s:b, s:o, s:I}", "t", "step", "step", idx, "run", a->run,
                                            "parallel", parallel, "people", pl, "deadline",
                                            (json_int_t) (now + s->wait)),
                               now) < 0)
                        return;
                for (size_t i = 0; i < (a->parallel ? a->n_people : 1); i++)
                        notify(a, a->people[i], "callout", s->via, idx, now);
                return;
        }
}

/* Move a sequential step to its next person, or the chain to its next step. */
static void advance(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        if (!a->parallel && c) {
                size_t pos = a->seq_pos;
                while (++pos < a->n_people)
                        if (!member_done(a, a->people[pos]))
                                break;
                if (pos < a->n_people) {
                        const struct step *s = &c->steps[a->step];
                        if (act_record(a, json_pack("{s:s, s:i, s:i, s:I}", "t", "next", "step", a->step, "pos",
                                                    (int) pos, "deadline", (json_int_t) (now + s->wait)),
                                       now) < 0)
                                return;
                        notify(a, a->people[pos], "callout", s->via, a->step, now);
                        return;
                }
        }
        enter_step(a, a->step + 1, now);
}

/* Someone answered or became unreachable: may the chain move on now? */
static void maybe_move_on(struct activation *a, const char *person, uint64_t now) {
        if (a->verify) {
                if (a->state != ACT_VERIFYING)
                        return;
                for (size_t i = 0; i < a->n_people; i++)
                        if (!member_done(a, a->people[i]))
                                return;
                set_state(a, ACT_VERIFIED, NULL, now);
                return;
        }
        if (a->state != ACT_MOBILISING || a->step < 0 || a->n_people == 0)
                return;
        if (!a->parallel) {
                if (a->seq_pos < a->n_people && streq(a->people[a->seq_pos], person) && member_done(a, person))
                        advance(a, now);
                return;
        }
        for (size_t i = 0; i < a->n_people; i++)
                if (!member_done(a, a->people[i]))
                        return;
        enter_step(a, a->step + 1, now);
}

/* The escalation goes on after a mobilised team fell short: the current
 * step gets its wait again (or, when nobody in it is left to answer, the
 * chain moves on at once); after the last step, the wait of the last one,
 * then the activation is short. */
static void resume_escalation(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        size_t nreg = c ? act_chain_n_regular(c) : 0;
        if (nreg == 0)
                return;
        if (a->step < 0) {
                enter_step(a, 0, now);
                return;
        }
        size_t k = (size_t) a->step < nreg ? (size_t) a->step : nreg - 1;
        act_record(a, json_pack("{s:s, s:i, s:I}", "t", "resume", "step", a->step, "deadline",
                                (json_int_t) (now + c->steps[k].wait)),
                   now);
        if ((size_t) a->step >= nreg)
                return;
        if (a->parallel) {
                for (size_t i = 0; i < a->n_people; i++)
                        if (!member_done(a, a->people[i]))
                                return;
                enter_step(a, a->step + 1, now);
        } else if (a->seq_pos >= a->n_people || member_done(a, a->people[a->seq_pos])) {
                advance(a, now);
        }
}

/* A mobilised team is no longer complete: PERSON's yes became a no (or, at
 * a restart, the log says so). See "when a quorum changes back". */
static void unmobilise(struct activation *a, const char *person, uint64_t now) {
        const struct chain *c = act_chain(a);
        if (!c || a->verify || a->broken || a->state != ACT_MOBILISED)
                return;
        _cleanup_free_ struct need_view *v = NULL;
        size_t n = act_quorum_view(a, now, &v);
        char what[256];
        json_t *unmet = act_needs_unmet(v, n, false, what, sizeof(what));
        /* Who hears what, from the flags before the event resets them: 1
         * the final step (told "update"), 2 a report (told
         * "report-mobilised"), 3 asked again (stood down, may still answer). */
        size_t nm = a->n_members;
        _cleanup_free_ unsigned char *who = calloc(nm ? nm : 1, 1);
        for (size_t i = 0; who && i < nm; i++) {
                const struct member *m = &a->members[i];
                who[i] = m->told_update                                                     ? 1
                         : m->report_mobilised                                              ? 2
                         : m->stood_down && m->answer == ANSWER_NONE && !member_gone(m) ? 3
                                                                                            : 0;
        }
        json_t *o = json_pack("{s:s, s:o, s:i, s:i}", "t", "unmobilised", "unmet", unmet, "confirmed",
                              n ? v[0].yes : 0, "needed", n ? v[0].need : 0);
        if (o && person)
                json_object_set_new(o, "person", json_string(person));
        if (act_record(a, o, now) < 0)
                return;
        set_state(a, ACT_MOBILISING, NULL, now);
        bool fin = c->n_steps > 0 && c->steps[c->n_steps - 1].final;
        for (size_t i = 0; who && i < nm; i++) {
                struct member *m = &a->members[i];
                if (who[i] == 1)
                        notify(a, m->person, "unmobilised", fin ? c->steps[c->n_steps - 1].via : CHANNEL_SMS,
                               fin ? (int) (c->n_steps - 1) : -1, now);
                else if (who[i] == 2)
                        notify(a, m->person, "report-unmobilised", CHANNEL_SMS, -1, now);
                else if (who[i] == 3)
                        notify(a, m->person, "recall", m->channels & ~m->dead, a->step, now);
        }
        resume_escalation(a, now);
}

/* A contact-list check starts: everyone the chain can reach, whoever is on
 * duty (rosters whole), is asked at once, on the union of the channels of
 * every step that names them. */
void act_start_check(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        const struct config *cfg = a->mgr->cfg;
        unsigned via[1024] = {};
        struct people_set set = {};
        _cleanup_free_ struct skips *sk = calloc(1, sizeof(*sk));
        for (size_t k = 0; k < c->n_steps; k++) {
                const struct step *st = &c->steps[k];
                for (size_t t = 0; t < st->n_targets; t++) {
                        const struct target *tg = &st->targets[t];
                        const struct roster *ro = tg->kind == TARGET_ROSTER ? config_roster(cfg, tg->ref) : NULL;
                        size_t n = tg->kind == TARGET_PERSON ? 1 : tg->kind == TARGET_ROLE ? cfg->n_people
                                                                                            : (ro ? ro->n_members : 0);
                        for (size_t i = 0; i < n; i++) {
                                const char *who = tg->kind == TARGET_PERSON ? tg->ref
                                               : tg->kind == TARGET_ROLE
                                                       ? (person_has_role(&cfg->people[i], tg->ref) ? cfg->people[i].id
                                                                                                    : NULL)
                                                       : ro->members[i];
                                if (who && absences_away_at(a->mgr->absences, who, now)) {
                                        skips_add(sk, who, NULL, NULL);
                                        continue;
                                }
                                int idx = who ? act_add_person(&set, who) : -1;
                                if (idx >= 0 && (size_t) idx < ELEMENTSOF(via))
                                        via[idx] |= st->via;
                        }
                }
        }
        char **people;
        size_t n;
        act_take_people(&set, &people, &n);
        record_skips(a, sk, -1, now);
        json_t *pl = json_array();
        for (size_t i = 0; i < n; i++) {
                json_array_append_new(pl, json_string(people[i]));
                free(people[i]);
        }
        free(people);
        if (act_record(a, json_pack("{s:s, s:i, s:i, s:b, s:o, s:I}", "t", "step", "step", -1, "run", 0, "parallel", 1,
                                    "people", pl, "deadline", (json_int_t) (now + a->window)),
                       now) < 0)
                return;
        for (size_t i = 0; i < a->n_people; i++)
                notify(a, a->people[i], "verify", i < ELEMENTSOF(via) ? via[i] : CHANNEL_SMS, -1, now);
}

/* A call-out starts: its first step, and whether the quorum can be met at all. */
void act_start(struct activation *a, uint64_t now) {
        enter_step(a, 0, now);
        decide_quorum(a, now);
}

/* PERSON, asked in A, answered ANS (by VIA: "sms", "socket", ...): the
 * answer is recorded and what follows decided. False when nothing changed
 * (the same answer again). */
bool act_answer(struct activation *a, const char *person, enum answer ans, const char *via, uint64_t now) {
        const struct member *mb = member_of(a, person);
        const char *word = ans == ANSWER_YES ? "yes" : "no";
        if (!mb || mb->answer == ans)
                return false;
        if (act_record(a, json_pack("{s:s, s:s, s:s, s:s}", "t", "reply", "person", person, "answer", word, "via", via),
                       now) < 0)
                return false;
        if (!a->verify && (a->state == ACT_MOBILISING || a->state == ACT_SHORT) && ans == ANSWER_YES &&
            act_quorum_met(a))
                mobilise(a, now);
        else if (!a->verify && a->state == ACT_MOBILISED && ans == ANSWER_NO && !act_quorum_met(a))
                unmobilise(a, person, now); /* the worst failure is a team that is not there */
        else
                maybe_move_on(a, person, now);
        decide_quorum(a, now);
        return true;
}

/* PERSON became unreachable on a channel they were asked on (a failure or
 * a receipt, already recorded): may the chain move on, is the quorum still
 * within reach? */
void act_unreachable(struct activation *a, const char *person, uint64_t now) {
        struct member *mb = act_find_member(a, person, false);
        /* Nothing else reaches them: their call need not wait. */
        if (mb && mb->call_at && mb->channels && (mb->dead & mb->channels) == mb->channels)
                place_call(a, mb, now);
        maybe_move_on(a, person, now);
        decide_quorum(a, now);
}

/* A call's status callback: logged; not reached means unreachable by voice. */
void act_call_status(struct activation *a, struct notif *n, const char *status, const char *answered_by,
                     int duration, const char *sid, uint64_t now) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "t", "call", "key", n->key, "status", status);
        if (o && sid)
                json_object_set_new(o, "sid", json_string(sid));
        if (o && answered_by && *answered_by)
                json_object_set_new(o, "answered_by", json_string(answered_by));
        if (o && duration >= 0)
                json_object_set_new(o, "duration", json_integer(duration));
        bool was_dead = n->state == N_UNDELIVERABLE;
        if (act_record(a, o, now) < 0)
                return;
        if (!was_dead && n->state == N_UNDELIVERABLE && act_is_ask(n->kind))
                act_unreachable(a, n->person, now);
}

/* A key pressed in call N: 1 yes, 2 no, anything else only logged. */
void act_keypress(struct activation *a, struct notif *n, const char *digits, uint64_t now) {
        if (act_record(a, json_pack("{s:s, s:s, s:s}", "t", "keypress", "key", n->key, "digits", digits), now) < 0)
                return;
        if (streq(digits, "1") || streq(digits, "2"))
                (void) act_answer(a, n->person, streq(digits, "1") ? ANSWER_YES : ANSWER_NO, "voice", now);
}

/* The current wait has ended: a check is over, a call-out moves on. */
void act_timeout(struct activation *a, uint64_t now) {
        if (a->verify) {
                set_state(a, ACT_VERIFIED, NULL, now);
                return;
        }
        act_record(a, json_pack("{s:s, s:i}", "t", "timeout", "step", a->step), now);
        advance(a, now);
        decide_quorum(a, now);
}

/* BY resolved the call-out: those who said yes are thanked, those who have
 * not answered stood down. */
void act_resolve(struct activation *a, const char *by, uint64_t now) {
        set_state(a, ACT_RESOLVED, by, now);
        for (size_t i = 0; i < a->n_members; i++) {
                const struct member *mb = &a->members[i];
                if (!mb->channels)
                        continue;
                if (mb->answer == ANSWER_YES && !mb->thanked)
                        notify(a, mb->person, "resolved", mb->channels & ~mb->dead, -1, now);
                else if (mb->answer == ANSWER_NONE && !mb->stood_down)
                        notify(a, mb->person, "standdown", mb->channels & ~mb->dead, -1, now);
        }
}

/* After a restart, what the log says but did not finish: the first step of
 * a call-out that crashed before it, a quorum met or out of reach whose
 * consequences were not all logged, a no after the team was mobilised
 * whose consequences were not logged with it (not a configuration changed
 * in between). */
void act_resume(struct activation *a, uint64_t now) {
        if (a->state == ACT_MOBILISING) {
                if (a->step < 0) /* crashed between "created" and the first step */
                        enter_step(a, 0, now);
                else if (act_quorum_met(a))
                        mobilise(a, now);
                complete_quorum_decision(a, now);
        } else if (a->state == ACT_MOBILISED && !a->verify && act_chain(a) && !act_quorum_met(a) &&
                   no_after_mobilised(a)) {
                unmobilise(a, last_to_answer(a, ANSWER_NO), now);
                decide_quorum(a, now);
        }
}

void act_close_stale(struct activation *a, uint64_t now) {
        for (size_t i = 0; i < a->n_notifs; i++)
                if (a->notifs[i].state == N_SENDING || a->notifs[i].state == N_QUEUED)
                        (void) act_record(a, json_pack("{s:s, s:s, s:s, s:s, s:b}", "t", "failed", "key",
                                                       a->notifs[i].key, "gw", "", "error", "stale at start",
                                                       "unreachable", 0),
                                          now);
        record_state(a, a->verify ? ACT_VERIFIED : ACT_RESOLVED, "stale", -1, now);
}
