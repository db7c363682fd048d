/* activation.c - the escalation engine (see activation.h).
 *
 * Life of an activation:
 *   trigger -> step 0 ... step n-1 (each: parallel or sequential, a wait)
 *           -> quorum met at any point: mobilised (stand-down to the rest)
 *           -> steps exhausted (after `repeat` extra runs): short, the final
 *              step (e.g. legevakt) is told
 *   resolve -> resolved (those who said yes are thanked, the rest stood down)
 *
 * Write-ahead: decisions are appended to the activation's log buffer; the
 * buffer is written and fdatasync'ed (commit) before any notification the
 * decision causes is handed to a gateway (dispatch). Outcomes that cause
 * nothing outside ("sent", "failed") are committed together (group commit):
 * when the loop has nothing else to do, or once LAZY_MAX_USEC has passed or
 * LAZY_MAX_EVENTS are waiting, whichever comes first. Until then MQTT holds
 * the events logged after the last commit (activations_committed_seq), so
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

#include "activation.h"
#include "log.h"
#include "macro.h"
#include "strmap.h"
#include "text.h"
#include "time-util.h"
#include "wording.h"

#define LOG_MAX_SIZE (16 * 1024 * 1024)
#define COMMIT_RETRY_USEC (5 * USEC_PER_SEC)
#define LAZY_MAX_USEC     (5 * USEC_PER_SEC / 1000) /* group commit of outcomes: at most this late */
#define LAZY_MAX_EVENTS   512
#define KEEP_TRYING_USEC  (24 * USEC_PER_HOUR) /* a gateway outage: rounds while still_wanted() */

enum act_state {
        ACT_MOBILISING,
        ACT_MOBILISED,
        ACT_SHORT,
        ACT_RESOLVED,
        ACT_VERIFYING, /* a contact-list check, waiting for answers */
        ACT_VERIFIED,  /* a contact-list check whose window has ended */
};
static const char *const act_state_names[] = { "mobilising", "mobilised", "short", "resolved", "verifying", "verified" };

enum nstate {
        N_QUEUED,  /* logged "sending", waiting for the commit */
        N_SENDING, /* handed to a gateway */
        N_SENT,
        N_FAILED,
        N_UNREACHABLE,
        N_DELIVERED,     /* a receipt says it reached the phone */
        N_UNDELIVERABLE, /* a receipt says it never will */
};
static const char *const nstate_names[] = { "queued", "sending", "sent", "failed", "unreachable", "delivered",
                                            "undeliverable" };

#define TOKEN_BYTES 16 /* 128 bits: e-mail answer links */

struct notif {
        char *key;
        char *person;
        enum channel ch;
        char *kind; /* "callout", "standdown", "resolved", "unreachable", "verify" */
        int step;
        enum nstate state;
        uint64_t ts_sending, ts_done;
        char *gateway;
        char *provider_ref; /* the provider's message id, for receipts */
        /* 64 random bits in hex, logged with "sending": the client reference
         * sent to providers is "<key>.<nonce>", so a receipt for it cannot be
         * forged from the activation id. "" in logs from before nonces. */
        char nonce[17];
        char token[2 * TOKEN_BYTES + 1]; /* e-mail answer link token (memory only; its hash is logged) */
};

struct member {
        char *person;
        enum answer answer;
        uint64_t answered;
        uint64_t first_notified;
        int notified_run;      /* run of the last call-out, -1 never */
        unsigned channels;     /* channels with a call-out */
        unsigned dead;         /* of those, channels that failed for good */
        bool stood_down;
        bool thanked;
        bool told_short;       /* the final step's message: "impossible" or "unreachable" */
        bool told_update;      /* ... and then "update" (mobilised after all) */
        bool report_short;     /* a report: "report-impossible" or "report-short" */
        bool report_mobilised; /* a report: "report-mobilised" */
        /* The final step was told the team was short, then that it can be
         * reached or is no longer complete ("reachable", "unmobilised"): it
         * hears when the team is mobilised ("update"), as if told_short. */
        bool owed_update;
        char (*tokens)[2 * SHA256_DIGEST_LENGTH + 1]; /* hashes of this person's answer-link tokens */
        size_t n_tokens;
};

struct activation {
        struct activations *mgr;
        char *id, *code, *chain, *message, *by, *origin, *src;
        bool drill;
        bool verify; /* a contact-list check (beredctl verify), not a call-out */
        unsigned n_unsolicited; /* answers from people not asked in it (not counted) */
        uint64_t window;
        uint64_t created;
        enum act_state state;
        uint64_t state_ts;
        int run;
        int step; /* index of the current (non-final) step, -1 before the first */
        bool parallel;
        char **people; /* the current step's people, in order */
        size_t n_people;
        size_t seq_pos;
        uint64_t deadline; /* end of the current wait; 0 = none */
        struct member *members;
        size_t n_members, members_cap;
        struct strmap member_map; /* person -> index into members */
        struct notif *notifs;
        size_t n_notifs, notifs_cap;
        unsigned seq;
        uint64_t mobilised_at;
        uint64_t impossible_at; /* when the quorum was found out of reach (the "impossible" event); 0 = never */
        uint64_t reachable_at;   /* the last "reachable" event (out of reach no longer); 0 = never */
        uint64_t unmobilised_at; /* the last "unmobilised" event (a yes became a no); 0 = never */
        unsigned n_unmobilised;  /* how often the mobilised team fell short again */
        char *quorum_by;         /* person id of the answer behind the last "reachable"/"unmobilised" */
        uint64_t told_at;        /* the last "impossible"/"reachable" message (or report) logged; 0 = none */
        sd_event_source *hold;   /* out of reach again soon after a telling: told when the hold ends */
        sd_event_source *timer;

        char *buf; /* log lines not yet committed */
        size_t buf_len, buf_cap;
        bool dirty;
        uint64_t dirty_seq; /* mgr->logged_seq of its oldest uncommitted event */
        bool broken; /* the log could not be read whole: shown, not driven */
        const struct notif *last_done; /* for the latency of the next sent/failed event */
        struct activation *next;
};

struct activations {
        sd_event *event;
        struct store *store;
        struct gateways *gw;
        struct duty *duty;
        const struct config *cfg;
        const struct calendar *cal;
        act_event_cb cb;
        void *userdata;
        struct activation *list;
        sd_event_source *post; /* group commit: bounded delay */
        sd_event_source *idle; /* group commit: when nothing else is pending */
        uint64_t lazy_since;   /* CLOCK_MONOTONIC of the oldest uncommitted event */
        unsigned lazy_events;
        unsigned n_dirty;      /* activations with uncommitted events */
        uint64_t logged_seq;   /* events logged since start (activations_logged_seq) */
        sd_event_source *retry;
        char *public_url; /* e-mail answer links: <public_url>/a/<token>/yes|no; NULL = none */
};

/* ---- small helpers ---- */

static const struct chain *act_chain(const struct activation *a) {
        return config_chain(a->mgr->cfg, a->chain);
}

static size_t chain_n_regular(const struct chain *c) {
        return c->n_steps > 0 && c->steps[c->n_steps - 1].final ? c->n_steps - 1 : c->n_steps;
}

static struct activation *find_activation(struct activations *m, const char *id) {
        for (struct activation *a = m->list; a; a = a->next)
                if (streq(a->id, id))
                        return a;
        return NULL;
}

/* Room for one more element in *V (N used of *CAP, each SIZE bytes). */
static int grow(void **v, size_t n, size_t *cap, size_t size) {
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

static struct member *find_member(struct activation *a, const char *person, bool create) {
        size_t i;
        if (strmap_get(&a->member_map, person, &i))
                return &a->members[i];
        if (!create)
                return NULL;
        if (grow((void **) &a->members, a->n_members, &a->members_cap, sizeof(*a->members)) < 0)
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

static struct notif *find_notif(struct activation *a, const char *key) {
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

/* The notification with gateway key KEY ("<activation id>.<seq>") and, in
 * *RET_A, its activation; NULL when either is gone. */
static struct notif *notif_of_key(struct activations *m, const char *key, struct activation **ret_a) {
        char id[96];
        const char *dot = strrchr(key, '.');
        if (!dot || (size_t) (dot - key) >= sizeof(id))
                return NULL;
        memcpy(id, key, (size_t) (dot - key));
        id[dot - key] = '\0';
        struct activation *a = find_activation(m, id);
        *ret_a = a;
        return a ? find_notif(a, key) : NULL;
}

static void emit(struct activation *a, const char *type, int step, const char *person, const char *channel,
                 const char *detail) {
        struct act_event ev = {
                .type = type, .activation = a->id, .chain = a->chain, .step = step, .person = person,
                .channel = channel, .detail = detail, .drill = a->drill, .ts = beredd_now(), .latency = -1,
        };
        /* Set by on_gateway_done for the one event it emits next; a pointer
         * into notifs, so never kept beyond that. */
        if ((streq(type, "sent") || streq(type, "failed")) && a->last_done && a->last_done->ts_done)
                ev.latency = (double) (a->last_done->ts_done - a->last_done->ts_sending) / 1e6;
        a->last_done = NULL;
        if (a->mgr->cb)
                a->mgr->cb(a->mgr->userdata, &ev);
}

/* Quorum: enough distinct yes, and enough of each required role. */
static void count_yes(const struct activation *a, const struct chain *c, int *yes, bool *roles_ok) {
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

static bool quorum_met(const struct activation *a) {
        const struct chain *c = act_chain(a);
        int yes;
        bool roles_ok;
        if (!c)
                return false;
        count_yes(a, c, &yes, &roles_ok);
        return yes >= c->need_total && roles_ok;
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
static void act_log(struct activation *a, json_t *o, uint64_t ts) {
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

static int commit(struct activation *a) {
        if (a->buf_len > 0) {
                char name[128];
                snprintf(name, sizeof(name), "%s.log", a->id);
                int r = store_append(a->mgr->store, STORE_ACTIVATIONS, name, a->buf, a->buf_len);
                if (r < 0)
                        return r;
                a->buf_len = 0;
        }
        clean(a);
        return 0;
}

static void on_gateway_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                            const char *error, const char *provider_ref);

/* What compose() made of an SMS: its count as sent, and whether the
 * operator's free text had to be shortened to fit max_segments. */
struct composed {
        struct text_sms_info sms;
        bool shortened;
};

/* Compose the text of notification N (RES, when not NULL, says what the SMS
 * became). */
static bool quorum_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                           size_t slen, char *text, size_t tlen);
static bool change_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                           size_t slen, char *text, size_t tlen);

static void compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                    size_t slen, char *text, size_t tlen, struct composed *res) {
        if (quorum_compose(a, n, p, subject, slen, text, tlen))
                return; /* the final step's messages and the reports: see "who hears how it goes" */
        if (change_compose(a, n, p, subject, slen, text, tlen))
                return; /* a quorum that changed back: see "when a quorum changes back" */
        const struct chain *c = act_chain(a);
        bool en = p && p->lang == LANG_EN;
        const char *chain_name = c && c->name ? c->name : a->chain;
        const char *drill = a->drill ? W(en, W_DRILL_PREFIX) : "";
        char prefix[256], suffix[128];

        if (streq(n->kind, "callout")) {
                snprintf(prefix, sizeof(prefix), W(en, W_CALLOUT_PREFIX), drill, chain_name);
                snprintf(suffix, sizeof(suffix), W(en, W_CALLOUT_REPLY), a->code, a->code);
                snprintf(subject, slen, W(en, W_CALLOUT_SUBJECT), drill, chain_name);
        } else if (streq(n->kind, "standdown")) {
                snprintf(prefix, sizeof(prefix), W(en, W_STANDDOWN_PREFIX), drill);
                snprintf(suffix, sizeof(suffix), "(%s)", a->code);
                snprintf(subject, slen, W(en, W_STANDDOWN_SUBJECT), drill, chain_name);
        } else if (streq(n->kind, "resolved")) {
                /* The call-out ended, not the team. */
                snprintf(prefix, sizeof(prefix), W(en, W_ENDED_PREFIX), drill, chain_name);
                snprintf(suffix, sizeof(suffix), "(%s)", a->code);
                snprintf(subject, slen, W(en, W_ENDED_SUBJECT), drill, chain_name);
        } else if (streq(n->kind, "verify")) {
                unsigned mins = (unsigned) (a->window / USEC_PER_MIN);
                char w[32];
                if (mins >= 120 && mins % 60 == 0)
                        snprintf(w, sizeof(w), W(en, W_VERIFY_HOURS), mins / 60);
                else if (mins <= 1)
                        snprintf(w, sizeof(w), W(en, W_VERIFY_ONE_MINUTE));
                else
                        snprintf(w, sizeof(w), W(en, W_VERIFY_MINUTES), mins);
                snprintf(prefix, sizeof(prefix), W(en, W_VERIFY_PREFIX), chain_name);
                snprintf(suffix, sizeof(suffix), W(en, W_VERIFY_REPLY), a->code, w);
                snprintf(subject, slen, W(en, W_VERIFY_SUBJECT), chain_name);
        } else { /* not a kind this engine writes */
                snprintf(prefix, sizeof(prefix), "%s%s. ", drill, chain_name);
                snprintf(suffix, sizeof(suffix), "(%s)", a->code);
                snprintf(subject, slen, "%s%s", drill, chain_name);
        }

        const char *free_text = streq(n->kind, "callout") ? a->message : "";
        if (!free_text)
                free_text = W(en, W_CALLOUT_DEFAULT_TEXT);
        /* The operator's text without the blanks around it, and ended like
         * a sentence, so "... kl 23" and "Svar JA 4821" do not run together. */
        char free_buf[4096];
        size_t fl = strlen(free_text);
        while (fl > 0 && strchr(" \t\r\n", free_text[fl - 1]))
                fl--;
        while (fl > 0 && strchr(" \t\r\n", free_text[0]))
                free_text++, fl--;
        if (fl > 0 && fl + 2 <= sizeof(free_buf)) {
                bool ended = strchr(".!?:;)\"'", free_text[fl - 1]) ||
                             (fl >= 2 && (unsigned char) free_text[fl - 2] == 0xC2 &&
                              (unsigned char) free_text[fl - 1] == 0xBB) || /* » */
                             (fl >= 3 && (unsigned char) free_text[fl - 3] == 0xE2 &&
                              (unsigned char) free_text[fl - 2] == 0x80 &&
                              strchr("\xA6\x9D\x99", free_text[fl - 1])); /* … ” ’ */
                snprintf(free_buf, sizeof(free_buf), "%.*s%s", (int) fl, free_text, ended ? "" : ".");
                free_text = free_buf;
        } else if (fl == 0)
                free_text = "";
        if (n->ch == CHANNEL_SMS) {
                struct composed c0 = {};
                int k = text_sms_compose_n(prefix, free_text, suffix, config_sms_max_segments(a->mgr->cfg), text,
                                           tlen, &c0.sms);
                if (k < 0) {
                        /* Not even the fixed parts fit (a very long chain
                         * name): they go whole, without the free text. */
                        char raw[512];
                        snprintf(raw, sizeof(raw), "%s%s", prefix, suffix);
                        if (text_sms_transliterate(raw, text, tlen) < 0)
                                snprintf(text, tlen, "%s", raw);
                        (void) text_sms_count(text, strlen(text), &c0.sms);
                        c0.shortened = *free_text != '\0';
                } else
                        c0.shortened = k == 1;
                if (res)
                        *res = c0;
        } else {
                char links[512] = "";
                if (n->token[0] && a->mgr->public_url && streq(n->kind, "verify"))
                        /* A check asks for OK only: no JA/NEI here, ever. */
                        snprintf(links, sizeof(links), W(en, W_VERIFY_LINK), a->mgr->public_url, n->token);
                else if (n->token[0] && a->mgr->public_url)
                        snprintf(links, sizeof(links), W(en, W_CALLOUT_LINKS), a->mgr->public_url, n->token,
                                 a->mgr->public_url, n->token);
                /* An e-mail in paragraphs: no blank line for a text the
                 * kind has none of, no blank at a line's start or end. */
                size_t pl = strlen(prefix);
                while (pl > 0 && prefix[pl - 1] == ' ')
                        pl--;
                const char *sfx = suffix + strspn(suffix, " ");
                snprintf(text, tlen, "%.*s%s%s\n\n%s%s\n\n-- \nberedd (%s)\n", (int) pl, prefix,
                         *free_text ? " " : "", free_text, sfx, links, a->mgr->cfg->site);
        }
}

/* Asked by a gateway before it tries a message again after an outage: a
 * call-out is worth sending only while the team is still being called in, a
 * stand-down only while the team stands, the message to the final step only
 * while the activation is short. Thanks are always worth it. */
static bool still_wanted(void *userdata, const char *key) {
        struct activation *a;
        const struct notif *n = notif_of_key(userdata, key, &a);
        if (!n)
                return false;
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
        for (size_t i = 0; i < a->n_notifs; i++) {
                struct notif *n = &a->notifs[i];
                if (n->state != N_QUEUED)
                        continue;
                const struct person *p = config_person(a->mgr->cfg, n->person);
                char subject[256], text[8192];
                compose(a, n, p, subject, sizeof(subject), text, sizeof(text), NULL);
                char cref[160];
                snprintf(cref, sizeof(cref), "%s.%s", n->key, n->nonce);
                struct gw_message m = {
                        .key = n->key,
                        .ref = n->nonce[0] ? cref : NULL,
                        .channel = n->ch,
                        .person = n->person,
                        .to = !p ? NULL : n->ch == CHANNEL_SMS ? p->phone : p->email,
                        .subject = n->ch == CHANNEL_EMAIL ? subject : NULL,
                        .text = text,
                        .keep_trying = KEEP_TRYING_USEC,
                        .wanted = still_wanted,
                };
                const struct chain *c = act_chain(a);
                if (c && n->step >= 0 && (size_t) n->step < c->n_steps)
                        m.validity = c->steps[n->step].wait;
                n->state = N_SENDING;
                int r = m.to ? gateway_send(a->mgr->gw, &m, on_gateway_done, a->mgr) : -ENOENT;
                if (r < 0) {
                        /* Reported like any failure, from the loop, so state
                         * changes happen in one place. */
                        n->state = N_FAILED;
                        act_log(a, json_pack("{s:s, s:s, s:s, s:b}", "t", "failed", "key", n->key, "error",
                                             r == -ENOENT ? "no gateway or address for the channel" : strerror(-r),
                                             "unreachable", 1),
                                beredd_now());
                        emit(a, "failed", n->step, n->person, channel_name(n->ch), "no gateway or address");
                }
        }
}

static void arm_timer(struct activation *a);

/* Commit A's log and release its notifications. On a spool error nothing is
 * released: the decision is retried when the spool takes writes again. */
static int commit_and_dispatch(struct activation *a) {
        int r = commit(a);
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

/* ---- decisions ---- */

static void hex(const unsigned char *b, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 15];
        }
        out[2 * n] = '\0';
}

static void token_hash(const char *token, char out[static 2 * SHA256_DIGEST_LENGTH + 1]) {
        unsigned char d[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *) token, strlen(token), d);
        hex(d, sizeof(d), out);
}

static int member_add_token(struct member *mb, const char *hash) {
        void *v = realloc(mb->tokens, (mb->n_tokens + 1) * sizeof(*mb->tokens));
        if (!v)
                return -ENOMEM;
        mb->tokens = v;
        snprintf(mb->tokens[mb->n_tokens++], sizeof(mb->tokens[0]), "%s", hash);
        return 0;
}

/* A fresh answer-link token for notification N: random, only its hash is
 * logged (so the log never holds a usable link), logged before the e-mail
 * that carries it is released. */
static void make_token(struct activation *a, struct notif *n, uint64_t now) {
        unsigned char b[TOKEN_BYTES];
        char h[2 * SHA256_DIGEST_LENGTH + 1];
        struct member *mb = find_member(a, n->person, true);
        if (!mb || getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b))
                return;
        hex(b, sizeof(b), n->token);
        token_hash(n->token, h);
        if (member_add_token(mb, h) < 0) {
                n->token[0] = '\0';
                return;
        }
        act_log(a, json_pack("{s:s, s:s, s:s}", "t", "token", "person", n->person, "hash", h), now);
}

/* Kinds that ask for an answer. */
static bool is_ask(const char *kind) {
        return streq(kind, "callout") || streq(kind, "verify") || streq(kind, "recall");
}

static int add_notif(struct activation *a, const char *person, enum channel ch, const char *kind, int step,
                     uint64_t now) {
        if (grow((void **) &a->notifs, a->n_notifs, &a->notifs_cap, sizeof(*a->notifs)) < 0)
                return -ENOMEM;
        struct notif *v = a->notifs;
        char key[128];
        snprintf(key, sizeof(key), "%s.%u", a->id, a->seq++);
        v[a->n_notifs] = (struct notif) {
                .key = strdup(key), .person = strdup(person), .ch = ch, .kind = strdup(kind), .step = step,
                .state = N_QUEUED, .ts_sending = now,
        };
        if (!v[a->n_notifs].key || !v[a->n_notifs].person || !v[a->n_notifs].kind)
                return -ENOMEM;
        uint64_t rnd;
        if (getrandom(&rnd, sizeof(rnd), 0) == (ssize_t) sizeof(rnd))
                snprintf(v[a->n_notifs].nonce, sizeof(v[a->n_notifs].nonce), "%016" PRIx64, rnd);
        a->n_notifs++;
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "t", "sending", "key", key, "person", person, "ch",
                              channel_name(ch), "kind", kind, "step", step);
        if (o && v[a->n_notifs - 1].nonce[0])
                json_object_set_new(o, "nonce", json_string(v[a->n_notifs - 1].nonce));
        act_log(a, o, now);
        if (ch == CHANNEL_EMAIL && is_ask(kind) && a->mgr->public_url)
                make_token(a, &a->notifs[a->n_notifs - 1], now);
        emit(a, "notify", step, person, channel_name(ch), kind);
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

/* The messages that say whether the quorum is within reach. */
static bool is_quorum_telling(const char *kind) {
        return streq(kind, "impossible") || streq(kind, "report-impossible") || streq(kind, "reachable") ||
               streq(kind, "report-reachable");
}

/* Notify PERSON of KIND on CHANNELS (those the person has an address for). */
static void notify(struct activation *a, const char *person, const char *kind, unsigned channels, int step,
                   uint64_t now) {
        const struct person *p = config_person(a->mgr->cfg, person);
        struct member *mb = find_member(a, person, true);
        if (!mb)
                return;
        unsigned sent = 0;
        for (unsigned ch = CHANNEL_SMS; ch <= CHANNEL_EMAIL; ch <<= 1) {
                if (!(channels & ch) || !p)
                        continue;
                if ((ch == CHANNEL_SMS && !p->phone) || (ch == CHANNEL_EMAIL && !p->email))
                        continue;
                if (add_notif(a, person, ch, kind, step, now) == 0)
                        sent |= ch;
        }
        if (is_ask(kind)) {
                mb->channels |= sent;
                mb->notified_run = a->run;
                if (!mb->first_notified)
                        mb->first_notified = now;
                if (!sent)
                        mb->dead = mb->channels = CHANNEL_ANY; /* nothing to reach them by */
        } else {
                member_mark(mb, kind);
        }
        if (is_quorum_telling(kind))
                a->told_at = now;
}

static bool member_done(struct activation *a, const char *person) {
        const struct member *m = find_member(a, person, false);
        return m && (m->answer != ANSWER_NONE || (m->channels && (m->dead & m->channels) == m->channels));
}

static bool when_ok(const struct activation *a, const struct step *s, uint64_t now) {
        if (s->when == WHEN_ALWAYS)
                return true;
        bool office = calendar_is_office(a->mgr->cal, now);
        return s->when == WHEN_OFFICE ? office : !office;
}

/* An ordered set of person ids being built (a step's people). */
struct people_set {
        char **v;
        size_t n, cap;
        struct strmap map;
};

/* Add ID to S; returns its index, or -ENOMEM. */
static int add_person(struct people_set *s, const char *id) {
        size_t i;
        if (strmap_get(&s->map, id, &i))
                return (int) i;
        if (s->n >= INT_MAX || grow((void **) &s->v, s->n, &s->cap, sizeof(char *)) < 0)
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
static void take_people(struct people_set *s, char ***v, size_t *n) {
        strmap_clear(&s->map);
        *v = s->v;
        *n = s->n;
}

static void free_people(struct activation *a) {
        for (size_t i = 0; i < a->n_people; i++)
                free(a->people[i]);
        free(a->people);
        a->people = NULL;
        a->n_people = 0;
}

/* Hand everyone step S names now (rosters: who is on duty), in order, to
 * ADD(SET, id); the ids belong to the configuration or the duty roster. */
static void step_targets(const struct activation *a, const struct step *s, uint64_t now,
                         void (*add)(void *set, const char *id), void *set) {
        const struct config *cfg = a->mgr->cfg;
        for (size_t t = 0; t < s->n_targets; t++) {
                const struct target *tg = &s->targets[t];
                if (tg->kind == TARGET_PERSON) {
                        add(set, tg->ref);
                } else if (tg->kind == TARGET_ROLE) {
                        for (size_t i = 0; i < cfg->n_people; i++)
                                if (person_has_role(&cfg->people[i], tg->ref))
                                        add(set, cfg->people[i].id);
                } else {
                        const struct roster *r = config_roster(cfg, tg->ref);
                        const char *who = r ? duty_on_duty(a->mgr->duty, a->mgr->cal, r, now) : NULL;
                        if (who)
                                add(set, who);
                }
        }
}

static void add_person_cb(void *set, const char *id) {
        (void) add_person(set, id);
}

/* The people a step reaches now, in order, without those who have answered
 * or already got this run's call-out. */
static void resolve_targets(struct activation *a, const struct step *s, uint64_t now, char ***ret, size_t *ret_n) {
        struct people_set set = {};
        char **v;
        size_t n;
        step_targets(a, s, now, add_person_cb, &set);
        take_people(&set, &v, &n);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                struct member *m = find_member(a, v[i], false);
                if (m && (m->answer != ANSWER_NONE || m->notified_run == a->run))
                        free(v[i]);
                else
                        v[k++] = v[i];
        }
        *ret = v;
        *ret_n = k;
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
        return m->channels && (m->dead & m->channels) == m->channels;
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
        if (strmap_get(&set->map, id, NULL) || grow((void **) &set->v, set->n, &set->cap, sizeof(*set->v)) < 0 ||
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
        size_t nreg = chain_n_regular(c);
        /* With runs left, every step asks again; else only the rest of this run. */
        size_t from = a->run < c->repeat || a->step < 0 ? 0 : (size_t) a->step;
        struct possible_ctx x = { .a = a, .set = set };
        for (size_t k = from; k < nreg; k++)
                step_targets(a, &c->steps[k], now, possible_add, &x);
}

/* One requirement of the quorum: need.total (ROLE NULL) or a role's minimum. */
struct need_view {
        const char *role;
        int yes;      /* confirmed */
        int need;
        int possible; /* at most this many can still be confirmed */
};

/* The quorum's requirements now: *RET (need.total first, then each role;
 * free() it) and their number, or 0 when there is no chain or no memory. */
static size_t quorum_view(const struct activation *a, uint64_t now, struct need_view **ret) {
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
        int saved_run = a->run;
        a->run = -2;
        resolve_targets(a, &c->steps[c->n_steps - 1], now, ret, ret_n);
        a->run = saved_run;
}

/* Tell the final step KIND ("impossible" or "unreachable"), each person once. */
static void tell_final(struct activation *a, const struct chain *c, const char *kind, uint64_t now) {
        char **people;
        size_t n;
        final_people(a, c, now, &people, &n);
        for (size_t i = 0; i < n; i++) {
                const struct member *m = find_member(a, people[i], false);
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
                const struct member *m = find_member(a, id, false);
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
                const char *e = getenv("BEREDD_QUORUM_HOLD_MS");
                char *end;
                unsigned long long ms = e && *e ? strtoull(e, &end, 10) : 0;
                hold = e && *e && *end == '\0' && ms <= 3600 * 1000 ? (uint64_t) ms * 1000 : QUORUM_HOLD_USEC;
        }
        return hold;
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

/* Tell the final step and the reports that the quorum is out of reach
 * (those not told so in this round), or hold it (see quorum_hold). */
static void tell_out_of_reach(struct activation *a, const struct chain *c, uint64_t now) {
        uint64_t hold = quorum_hold();
        if (a->told_at && now < a->told_at + hold) {
                (void) arm_oneshot(a, &a->hold, a->told_at + hold, on_hold, "activation-hold");
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

static void set_quorum_by(struct activation *a, const char *person) {
        free(a->quorum_by);
        a->quorum_by = person ? strdup(person) : NULL;
}

/* The quorum told out of reach is within reach again (V: quorum_view). */
static void quorum_reachable(struct activation *a, const struct chain *c, const struct need_view *v, uint64_t now) {
        /* Whose yes did it, when one came since (else a roster or the
         * configuration changed: nobody is named). */
        const char *by = last_to_answer(a, ANSWER_YES);
        const struct member *bm = by ? member_of(a, by) : NULL;
        if (bm && bm->answered < a->impossible_at)
                by = NULL;
        json_t *o = json_pack("{s:s, s:i, s:i, s:i}", "t", "reachable", "confirmed", v[0].yes, "needed", v[0].need,
                              "possible", v[0].possible);
        if (by)
                json_object_set_new(o, "person", json_string(by));
        act_log(a, o, now);
        set_quorum_by(a, by);
        a->reachable_at = now;
        emit(a, "reachable", a->step, NULL, NULL, NULL);
        log_event(LOG_NOTICE, MSGID_QUORUM_REACHABLE, NULL,
                  "Activation %s (%s%s): the quorum can be met after all; those told it could not are told now",
                  a->id, a->chain, a->drill ? ", drill" : "");
        _cleanup_free_ unsigned char *who = calloc(a->n_members ? a->n_members : 1, 1);
        if (!who)
                return;
        for (size_t i = 0; i < a->n_members; i++)
                who[i] = a->members[i].told_short ? 1 : a->members[i].report_short ? 2 : 0;
        size_t nm = a->n_members;
        reachable_reset(a);
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
        size_t n = quorum_view(a, now, &v);
        if (a->impossible_at) {
                if (n > 0 && !view_out_of_reach(v, n))
                        quorum_reachable(a, c, v, now);
                return;
        }
        if (!view_out_of_reach(v, n))
                return;
        json_t *out = json_array();
        char what[256] = "";
        for (size_t i = 0; i < n; i++) {
                if (v[i].possible >= v[i].need)
                        continue;
                char w[96];
                snprintf(w, sizeof(w), "%s%s", v[i].role ? "role:" : "total", v[i].role ? v[i].role : "");
                json_array_append_new(out, json_string(w));
                size_t l = strlen(what);
                snprintf(what + l, sizeof(what) - l, "%s%s", l ? ", " : "", w);
        }
        a->impossible_at = now;
        act_log(a, json_pack("{s:s, s:o, s:i, s:i, s:i}", "t", "impossible", "out_of_reach", out, "confirmed",
                             v[0].yes, "needed", v[0].need, "possible", v[0].possible),
                now);
        emit(a, "impossible", a->step, NULL, NULL, what);
        log_event(LOG_WARNING, MSGID_QUORUM_IMPOSSIBLE, NULL,
                  "Activation %s (%s%s): the quorum can no longer be met (%s); the final step is told now, "
                  "the escalation goes on",
                  a->id, a->chain, a->drill ? ", drill" : "", what);
        tell_out_of_reach(a, c, now);
}

/* After a restart: a decision whose messages were not all logged (a crash
 * in the middle of writing them) is completed; nobody is told twice. */
static void complete_quorum_decision(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        if (!c || a->verify || a->broken || a->state != ACT_MOBILISING || !a->impossible_at) {
                decide_quorum(a, now);
                return;
        }
        tell_out_of_reach(a, c, now);
}

/* The hold has ended: still out of reach, tell those not told in this round. */
static int on_hold(sd_event_source *s, uint64_t usec, void *userdata) {
        struct activation *a = userdata;
        const struct chain *c = act_chain(a);
        (void) s;
        (void) usec;
        if (!c || a->verify || a->broken || a->state != ACT_MOBILISING || !a->impossible_at)
                return 0;
        tell_out_of_reach(a, c, beredd_now());
        commit_and_dispatch(a);
        return 0;
}

/* ---- the final step's messages, the reports and the receipts ----
 * Their words are in wording.h. */

/* Append to BUF (LEN bytes), as snprintf would, never past its end. */
static void cat(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t len, const char *fmt, ...) {
        size_t l = strnlen(buf, len);
        if (l + 1 >= len)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + l, len - l, fmt, ap);
        va_end(ap);
}

/* The role requirements of V, by display name: those out of reach
 * (OUT_OF_REACH: "leder og prest (høyst 1 av 2)") or those not met yet
 * ("ingen leder og for få prest (1 av 2)"). */
static void needs_phrase(const struct activation *a, const struct need_view *v, size_t n, bool out_of_reach, bool en,
                         char *buf, size_t len) {
        size_t k = 0, total = 0;
        for (size_t i = 1; i < n; i++)
                total += out_of_reach ? v[i].possible < v[i].need : v[i].yes < v[i].need;
        buf[0] = '\0';
        for (size_t i = 1; i < n; i++) {
                if (!(out_of_reach ? v[i].possible < v[i].need : v[i].yes < v[i].need))
                        continue;
                const char *name = config_role_name(a->mgr->cfg, v[i].role, en ? LANG_EN : LANG_NB);
                k++;
                cat(buf, len, "%s", k == 1 ? "" : k == total ? W(en, W_AND) : ", ");
                if (out_of_reach && v[i].need == 1)
                        cat(buf, len, "%s", name);
                else if (out_of_reach)
                        cat(buf, len, W(en, W_ROLE_AT_MOST), name, v[i].possible,
                            v[i].need);
                else if (v[i].yes == 0)
                        cat(buf, len, W(en, W_ROLE_NONE), name);
                else
                        cat(buf, len, W(en, W_ROLE_TOO_FEW), name, v[i].yes, v[i].need);
        }
}

/* The role PERSON is shown with: a role the chain requires, else one with a
 * display name, else the first; NULL for none. */
static const char *shown_role(const struct config *cfg, const struct chain *c, const struct person *p) {
        for (size_t r = 0; c && r < c->n_need_roles; r++)
                if (person_has_role(p, c->need_roles[r].role))
                        return c->need_roles[r].role;
        for (size_t i = 0; i < p->n_roles; i++)
                for (size_t k = 0; k < cfg->n_roles; k++)
                        if (streq(cfg->roles[k].id, p->roles[i]))
                                return p->roles[i];
        return p->n_roles ? p->roles[0] : NULL;
}

/* "Kari Nordmann (leder), Ola Nordmann (medlem)": who said yes, by role
 * (names: in an SMS to the leader only, never in logs), within about MAX
 * bytes, then "og 3 til". */
static void coming_list(const struct activation *a, const struct chain *c, bool en, char *buf, size_t len, size_t max) {
        const struct config *cfg = a->mgr->cfg;
        int more = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < a->n_members; i++) {
                if (a->members[i].answer != ANSWER_YES)
                        continue;
                const struct person *p = config_person(cfg, a->members[i].person);
                const char *role = p ? shown_role(cfg, c, p) : NULL;
                char one[256];
                snprintf(one, sizeof(one), "%s%s%s%s", p ? p->name : a->members[i].person, role ? " (" : "",
                         role ? config_role_name(cfg, role, en ? LANG_EN : LANG_NB) : "", role ? ")" : "");
                if (strlen(buf) + strlen(one) + 2 > max || strlen(buf) + strlen(one) + 2 >= len) {
                        more++;
                        continue;
                }
                cat(buf, len, "%s%s", buf[0] ? ", " : "", one);
        }
        if (more)
                cat(buf, len, W(en, W_REPORT_MORE), more);
}

/* Whom the final step is told to call: the chain's contact, else whoever
 * triggered (with a phone); NULL for none. */
static const struct person *contact_of(const struct activation *a, const struct chain *c) {
        const struct config *cfg = a->mgr->cfg;
        const struct person *p = c && c->contact ? config_person(cfg, c->contact) : NULL;
        if (!p || !p->phone)
                p = a->by ? config_person(cfg, a->by) : NULL;
        return p && p->phone ? p : NULL;
}

/* Compose the messages of kinds "impossible", "unreachable" (the final
 * step: early, and at the end), "update" (to them: mobilised after all) and
 * "report-impossible", "report-short", "report-mobilised" (the leader).
 * False for any other kind. */
/* The end of every message to the final step and the leader: the reply
 * code in parentheses, like the team's own (a message sent again after a
 * crash, or a second activation, can be told apart), and for SMS the fit
 * to max_segments like a call-out: LATER (whom else was told, "you will
 * hear") gives way first, then the end of BODY; the code stays. */
static void finish_text(const struct activation *a, const struct notif *n, const char *body, const char *later,
                        char *text, size_t tlen) {
        char code[32];
        snprintf(code, sizeof(code), " (%s)", a->code);
        if (n->ch != CHANNEL_SMS) {
                snprintf(text, tlen, "%s%s%s\n\n-- \nberedd (%s)\n", body, later, code, a->mgr->cfg->site);
                return;
        }
        struct text_sms_info info = {};
        unsigned max = config_sms_max_segments(a->mgr->cfg);
        char whole[2048];
        snprintf(whole, sizeof(whole), "%s%s", body, later);
        int k = text_sms_compose_n("", whole, code, max, text, tlen, &info);
        bool cut = k == 1;
        if (cut && later[0])
                k = text_sms_compose_n("", body, code, max, text, tlen, &info);
        if (k < 0) /* not even the code fits: the text goes whole */
                snprintf(text, tlen, "%s%s", body, code);
        if (cut)
                log_event(LOG_WARNING, MSGID_TEXT_SHORTENED, NULL,
                          "Activation %s: the %s message does not fit %u SMS segments; shortened (%zu segments, %s)",
                          a->id, n->kind, max, info.segments,
                          info.encoding == TEXT_SMS_GSM7 ? "GSM 7-bit" : "UCS-2");
}

static bool quorum_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                           size_t slen, char *text, size_t tlen) {
        enum { K_IMPOSSIBLE, K_UNREACHABLE, K_UPDATE, K_REPORT_IMPOSSIBLE, K_REPORT_SHORT, K_REPORT_MOBILISED, K_N };
        static const char *const kinds[K_N] = { "impossible", "unreachable", "update", "report-impossible",
                                                "report-short", "report-mobilised" };
        int kind = K_N;
        for (int i = 0; i < K_N; i++)
                if (streq(n->kind, kinds[i]))
                        kind = i;
        if (kind == K_N)
                return false;

        const struct chain *c = act_chain(a);
        bool en = p && p->lang == LANG_EN;
        const char *chain_name = c && c->name ? c->name : a->chain;
        const char *drill = a->drill ? W(en, W_DRILL_PREFIX) : "";
        _cleanup_free_ struct need_view *v = NULL;
        size_t nv = quorum_view(a, beredd_now(), &v);
        struct need_view total = nv ? v[0] : (struct need_view) {};
        bool report = kind >= K_REPORT_IMPOSSIBLE;
        char body[1024] = "", later[640] = "", roles[256], list[512];

        if (kind == K_UPDATE) {
                cat(body, sizeof(body), W(en, W_FINAL_UPDATE),
                    drill, chain_name, total.yes, total.need);
                snprintf(subject, slen, W(en, W_FINAL_UPDATE_SUBJECT), drill,
                         chain_name);
        } else if (kind == K_REPORT_MOBILISED) {
                cat(body, sizeof(body), W(en, W_REPORT_MOBILISED),
                    drill, chain_name, total.yes, total.need);
                snprintf(subject, slen, W(en, W_REPORT_MOBILISED_SUBJECT), drill, chain_name);
        } else if (kind == K_UNREACHABLE || kind == K_REPORT_SHORT) {
                /* Short at the end: the numbers, and which roles are missing. */
                cat(body, sizeof(body), W(en, W_SHORT),
                    drill, chain_name, total.yes, total.need);
                needs_phrase(a, v, nv, false, en, roles, sizeof(roles));
                if (total.yes < total.need) {
                        cat(body, sizeof(body), W(en, W_SHORT_MISSING), total.need - total.yes);
                        if (roles[0])
                                cat(body, sizeof(body), W(en, W_SHORT_AND_ROLES), roles);
                } else if (roles[0]) {
                        cat(body, sizeof(body), W(en, W_SHORT_BUT_ROLES), roles);
                }
                cat(body, sizeof(body), ".");
                snprintf(subject, slen, W(en, W_SHORT_SUBJECT), drill,
                         chain_name);
        } else {
                /* Out of reach while the call-out goes on: what cannot be met. */
                cat(body, sizeof(body), W(en, W_OUT_OF_REACH), drill,
                    chain_name);
                needs_phrase(a, v, nv, true, en, roles, sizeof(roles));
                if (roles[0])
                        cat(body, sizeof(body), W(en, W_OUT_OF_REACH_ROLES), roles);
                if (total.possible < total.need)
                        cat(body, sizeof(body), W(en, W_OUT_OF_REACH_TOO_FEW),
                            roles[0] ? W(en, W_AND) : "", total.possible, total.need);
                cat(body, sizeof(body), W(en, W_OUT_OF_REACH_CONFIRMED), total.yes, total.need);
                snprintf(subject, slen, W(en, W_OUT_OF_REACH_SUBJECT), drill, chain_name);
        }

        if (!report) {
                /* For the fallback service: what to do and whom to call. */
                const struct person *ct = contact_of(a, c);
                if (kind != K_UPDATE)
                        cat(body, sizeof(body), "%s", W(en, W_FINAL_SUPPORT));
                /* The number first: a cut (max_segments) keeps it. */
                if (ct && (!p || !streq(ct->id, p->id)))
                        cat(body, sizeof(body), W(en, W_FINAL_CONTACT), ct->phone, ct->name);
                if (kind != K_UPDATE)
                        cat(later, sizeof(later), "%s", W(en, W_FINAL_TOLD_LATER));
        } else {
                /* For the leader: who is coming, who was told, what goes on. */
                coming_list(a, c, en, list, sizeof(list), 400);
                if (list[0])
                        cat(body, sizeof(body), W(en, W_REPORT_COMING), list);
                if (kind != K_REPORT_MOBILISED) {
                        list[0] = '\0';
                        for (size_t i = 0; i < a->n_members; i++)
                                if (a->members[i].told_short) {
                                        const struct person *f = config_person(a->mgr->cfg, a->members[i].person);
                                        cat(list, sizeof(list), "%s%s", list[0] ? ", " : "",
                                            f ? f->name : a->members[i].person);
                                }
                        if (list[0])
                                cat(later, sizeof(later), W(en, W_REPORT_TOLD), list);
                        if (kind == K_REPORT_IMPOSSIBLE)
                                cat(later, sizeof(later), "%s", W(en, W_REPORT_GOES_ON));
                }
        }

        finish_text(a, n, body, later, text, tlen);
        return true;
}

/* "Ola Nordmann (medlem)": PERSON by name and shown role; for the texts of
 * "when a quorum changes back" (to the final step and the leader only). */
static void person_phrase(const struct activation *a, const struct chain *c, bool en, const char *person, char *buf,
                          size_t len) {
        const struct config *cfg = a->mgr->cfg;
        const struct person *p = person ? config_person(cfg, person) : NULL;
        const char *role = p ? shown_role(cfg, c, p) : NULL;
        snprintf(buf, len, "%s%s%s%s", p ? p->name : person, role ? " (" : "",
                 role ? config_role_name(cfg, role, en ? LANG_EN : LANG_NB) : "", role ? ")" : "");
}

/* Compose the messages of kinds "recall" (asked again), "unmobilised",
 * "report-unmobilised", "reachable" and "report-reachable". False for any
 * other kind. */
static bool change_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                           size_t slen, char *text, size_t tlen) {
        bool recall = streq(n->kind, "recall");
        bool unmob = streq(n->kind, "unmobilised") || streq(n->kind, "report-unmobilised");
        bool reach = streq(n->kind, "reachable") || streq(n->kind, "report-reachable");
        if (!recall && !unmob && !reach)
                return false;
        const struct chain *c = act_chain(a);
        bool en = p && p->lang == LANG_EN;
        bool final = streq(n->kind, "unmobilised") || streq(n->kind, "reachable");
        const char *chain_name = c && c->name ? c->name : a->chain;
        const char *drill = a->drill ? W(en, W_DRILL_PREFIX) : "";
        char body[1024] = "", who[256], roles[256];

        if (recall) {
                cat(body, sizeof(body), W(en, W_RECALL), drill, chain_name, a->code, a->code);
                snprintf(subject, slen, W(en, W_RECALL_SUBJECT), drill, chain_name);
                if (n->ch == CHANNEL_SMS)
                        snprintf(text, tlen, "%s", body);
                else {
                        char links[512] = "";
                        if (n->token[0] && a->mgr->public_url)
                                snprintf(links, sizeof(links), W(en, W_CALLOUT_LINKS), a->mgr->public_url, n->token,
                                         a->mgr->public_url, n->token);
                        snprintf(text, tlen, "%s%s\n\n-- \nberedd (%s)\n", body, links, a->mgr->cfg->site);
                }
                return true;
        }

        _cleanup_free_ struct need_view *v = NULL;
        size_t nv = quorum_view(a, beredd_now(), &v);
        struct need_view total = nv ? v[0] : (struct need_view) {};
        person_phrase(a, c, en, a->quorum_by ? a->quorum_by : "?", who, sizeof(who));
        if (unmob) {
                cat(body, sizeof(body), W(en, W_UNMOB), drill, chain_name, who, total.yes, total.need);
                needs_phrase(a, v, nv, false, en, roles, sizeof(roles));
                if (total.yes < total.need) {
                        cat(body, sizeof(body), W(en, W_SHORT_MISSING), total.need - total.yes);
                        if (roles[0])
                                cat(body, sizeof(body), W(en, W_SHORT_AND_ROLES), roles);
                } else if (roles[0]) {
                        cat(body, sizeof(body), W(en, W_SHORT_BUT_ROLES), roles);
                }
                cat(body, sizeof(body), "%s", W(en, W_UNMOB_GOES_ON));
                snprintf(subject, slen, W(en, W_UNMOB_SUBJECT), drill, chain_name);
        } else {
                if (a->quorum_by)
                        cat(body, sizeof(body), W(en, W_REACHABLE), drill, chain_name, who, total.yes, total.need);
                else
                        cat(body, sizeof(body), W(en, W_REACHABLE_NOBODY), drill, chain_name, total.yes, total.need);
                snprintf(subject, slen, W(en, W_REACHABLE_SUBJECT), drill, chain_name);
        }
        if (final) {
                /* The number first: a cut (max_segments) keeps it. */
                const struct person *ct = contact_of(a, c);
                if (ct && (!p || !streq(ct->id, p->id)))
                        cat(body, sizeof(body), W(en, W_FINAL_CONTACT), ct->phone, ct->name);
        }
        finish_text(a, n, body, "", text, tlen);
        return true;
}

/* The receipt for an answer by SMS. */
static void receipt_text(const struct activation *a, bool en, bool yes, char *buf, size_t len) {
        const struct chain *c = act_chain(a);
        const char *drill = a->drill ? W(en, W_DRILL_PREFIX) : "";
        int n_yes = 0;
        bool roles_ok;
        count_yes(a, c, &n_yes, &roles_ok);
        if (!yes)
                snprintf(buf, len, W(en, W_RECEIPT_NO), drill);
        else if (a->state == ACT_MOBILISED)
                snprintf(buf, len, W(en, W_RECEIPT_YES_MOBILISED),
                         drill, n_yes);
        else
                snprintf(buf, len, W(en, W_RECEIPT_YES),
                         drill, n_yes, c ? c->need_total : 0);
}

static void set_state(struct activation *a, enum act_state st, const char *by, uint64_t now) {
        a->state = st;
        a->state_ts = now;
        a->deadline = 0;
        json_t *o = json_pack("{s:s, s:s}", "t", "state", "state", act_state_names[st]);
        if (by)
                json_object_set_new(o, "by", json_string(by));
        act_log(a, o, now);
        emit(a, act_state_names[st], a->step, by, NULL, NULL);
        log_event(st == ACT_SHORT ? LOG_WARNING : LOG_NOTICE, MSGID_ACTIVATION, NULL, "Activation %s (%s%s): %s",
                  a->id, a->chain, a->drill ? ", drill" : "", act_state_names[st]);
}

static void mobilise(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        a->mobilised_at = now;
        set_state(a, ACT_MOBILISED, NULL, now);
        for (size_t i = 0; i < a->n_members; i++) {
                struct member *m = &a->members[i];
                if (m->answer == ANSWER_NONE && m->channels && !m->stood_down)
                        notify(a, m->person, "standdown", m->channels & ~m->dead, -1, now);
        }
        tell_update(a, c, now);
        tell_reports(a, c, "report-mobilised", now);
}

static void exhausted(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        set_state(a, ACT_SHORT, NULL, now);
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
        size_t nreg = chain_n_regular(c);
        for (;;) {
                if ((size_t) idx >= nreg) {
                        if (a->run < c->repeat) {
                                a->run++;
                                idx = 0;
                                act_log(a, json_pack("{s:s, s:i}", "t", "repeat", "run", a->run), now);
                                emit(a, "repeat", -1, NULL, NULL, NULL);
                                continue;
                        }
                        a->step = idx;
                        exhausted(a, now);
                        return;
                }
                const struct step *s = &c->steps[idx];
                if (!when_ok(a, s, now)) {
                        act_log(a, json_pack("{s:s, s:i, s:i, s:s}", "t", "skip", "step", idx, "run", a->run, "reason",
                                             s->when == WHEN_OFFICE ? "outside office hours" : "within office hours"),
                                now);
                        emit(a, "skip", idx, NULL, NULL, "when");
                        idx++;
                        continue;
                }
                char **people;
                size_t n;
                resolve_targets(a, s, now, &people, &n);
                if (n == 0) {
                        free(people);
                        act_log(a, json_pack("{s:s, s:i, s:i, s:s}", "t", "skip", "step", idx, "run", a->run, "reason",
                                             "nobody left to ask"),
                                now);
                        emit(a, "skip", idx, NULL, NULL, "nobody");
                        idx++;
                        continue;
                }
                free_people(a);
                a->people = people;
                a->n_people = n;
                a->step = idx;
                a->parallel = s->mode == STEP_PARALLEL;
                a->seq_pos = 0;
                a->deadline = now + s->wait;
                json_t *pl = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(pl, json_string(people[i]));
                act_log(a, json_pack("{s:s, s:i, s:i, s:b, s:o, s:I}", "t", "step", "step", idx, "run", a->run,
                                     "parallel", a->parallel, "people", pl, "deadline", (json_int_t) a->deadline),
                        now);
                emit(a, "step", idx, NULL, NULL, a->parallel ? "parallel" : "sequential");
                if (a->parallel)
                        for (size_t i = 0; i < n; i++)
                                notify(a, people[i], "callout", s->via, idx, now);
                else
                        notify(a, people[0], "callout", s->via, idx, now);
                return;
        }
}

/* Move a sequential step to its next person, or the chain to its next step. */
static void advance(struct activation *a, uint64_t now) {
        const struct chain *c = act_chain(a);
        if (!a->parallel && c) {
                while (++a->seq_pos < a->n_people)
                        if (!member_done(a, a->people[a->seq_pos]))
                                break;
                if (a->seq_pos < a->n_people) {
                        const struct step *s = &c->steps[a->step];
                        a->deadline = now + s->wait;
                        act_log(a, json_pack("{s:s, s:i, s:i, s:I}", "t", "next", "step", a->step, "pos",
                                             (int) a->seq_pos, "deadline", (json_int_t) a->deadline),
                                now);
                        notify(a, a->people[a->seq_pos], "callout", s->via, a->step, now);
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
        size_t nreg = c ? chain_n_regular(c) : 0;
        if (nreg == 0)
                return;
        if (a->step < 0) {
                enter_step(a, 0, now);
                return;
        }
        size_t k = (size_t) a->step < nreg ? (size_t) a->step : nreg - 1;
        a->deadline = now + c->steps[k].wait;
        act_log(a, json_pack("{s:s, s:i, s:I}", "t", "resume", "step", a->step, "deadline", (json_int_t) a->deadline),
                now);
        emit(a, "resume", a->step, NULL, NULL, NULL);
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
        size_t n = quorum_view(a, now, &v);
        json_t *unmet = json_array();
        char what[256] = "";
        for (size_t i = 0; i < n; i++) {
                if (v[i].yes >= v[i].need)
                        continue;
                char w[96];
                snprintf(w, sizeof(w), "%s%s", v[i].role ? "role:" : "total", v[i].role ? v[i].role : "");
                json_array_append_new(unmet, json_string(w));
                size_t l = strlen(what);
                snprintf(what + l, sizeof(what) - l, "%s%s", l ? ", " : "", w);
        }
        json_t *o = json_pack("{s:s, s:o, s:i, s:i}", "t", "unmobilised", "unmet", unmet, "confirmed",
                              n ? v[0].yes : 0, "needed", n ? v[0].need : 0);
        if (person)
                json_object_set_new(o, "person", json_string(person));
        act_log(a, o, now);
        set_quorum_by(a, person);
        a->unmobilised_at = now;
        a->n_unmobilised++;
        emit(a, "unmobilised", a->step, NULL, NULL, what);
        log_event(LOG_WARNING, MSGID_QUORUM_LOST, NULL,
                  "Activation %s (%s%s): a yes became a no; the team is no longer complete (%s): mobilising again, "
                  "those told it was mobilised are told now",
                  a->id, a->chain, a->drill ? ", drill" : "", what);
        /* Who hears what, from the flags before the reset: 1 the final step
         * (told "update"), 2 a report (told "report-mobilised"), 3 asked
         * again (stood down, may still answer). */
        size_t nm = a->n_members;
        _cleanup_free_ unsigned char *who = calloc(nm ? nm : 1, 1);
        for (size_t i = 0; who && i < nm; i++) {
                const struct member *m = &a->members[i];
                who[i] = m->told_update                                                     ? 1
                         : m->report_mobilised                                              ? 2
                         : m->stood_down && m->answer == ANSWER_NONE && !member_gone(m) ? 3
                                                                                            : 0;
        }
        set_state(a, ACT_MOBILISING, NULL, now);
        unmobilised_reset(a);
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

/* ---- timers ---- */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct activation *a = userdata;
        uint64_t now = beredd_now();
        if ((a->state != ACT_MOBILISING && a->state != ACT_VERIFYING) || !a->deadline)
                return 0;
        if (now < a->deadline) { /* the clock moved: wait on */
                arm_timer(a);
                return 0;
        }
        if (a->verify) {
                set_state(a, ACT_VERIFIED, NULL, now);
                commit_and_dispatch(a);
                return 0;
        }
        act_log(a, json_pack("{s:s, s:i}", "t", "timeout", "step", a->step), now);
        advance(a, now);
        decide_quorum(a, now);
        if (commit_and_dispatch(a) >= 0)
                arm_timer(a);
        return 0;
}

static void arm_timer(struct activation *a) {
        if ((a->state != ACT_MOBILISING && a->state != ACT_VERIFYING) || !a->deadline) {
                if (a->timer)
                        sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
                return;
        }
        (void) arm_oneshot(a, &a->timer, a->deadline, on_timer, "activation-timer");
}

/* ---- gateway results ---- */

static void on_gateway_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                            const char *error, const char *provider_ref) {
        struct activation *a;
        struct notif *n = notif_of_key(userdata, key, &a);
        if (!n)
                return;
        uint64_t now = beredd_now();
        n->ts_done = now;
        a->last_done = n;
        free(n->gateway);
        n->gateway = gateway_id ? strdup(gateway_id) : NULL;
        free(n->provider_ref);
        n->provider_ref = provider_ref ? strdup(provider_ref) : NULL;
        if (result == GW_SENT) {
                n->state = N_SENT;
                json_t *o = json_pack("{s:s, s:s}", "t", "sent", "key", key);
                if (gateway_id)
                        json_object_set_new(o, "gw", json_string(gateway_id));
                if (provider_ref)
                        json_object_set_new(o, "ref", json_string(provider_ref));
                act_log(a, o, now);
                emit(a, "sent", n->step, n->person, channel_name(n->ch), n->kind);
                return;
        }
        n->state = result == GW_UNREACHABLE ? N_UNREACHABLE : N_FAILED;
        act_log(a, json_pack("{s:s, s:s, s:s, s:s, s:b}", "t", "failed", "key", key, "gw", gateway_id ? gateway_id : "",
                             "error", error ? error : "", "unreachable", result == GW_UNREACHABLE),
                now);
        emit(a, "failed", n->step, n->person, channel_name(n->ch), error);
        log_warning("Activation %s: %s to %s over %s failed: %s", a->id, n->kind, n->person, channel_name(n->ch),
                    error ? error : "?");
        if (is_ask(n->kind)) {
                struct member *mb = find_member(a, n->person, false);
                if (mb)
                        mb->dead |= n->ch;
                maybe_move_on(a, n->person, now);
                decide_quorum(a, now);
                if (commit_and_dispatch(a) >= 0)
                        arm_timer(a);
        }
}

/* Group commit: every log with events still buffered. */
static void commit_all(struct activations *m) {
        for (struct activation *a = m->list; a && m->n_dirty; a = a->next)
                if (a->dirty && commit(a) < 0) {
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
        const struct activation *a = m ? find_activation(m, id) : NULL;
        return a && a->dirty;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct activations *m = userdata;
        bool again = false;
        for (struct activation *a = m->list; a; a = a->next)
                if (a->buf_len) {
                        if (commit_and_dispatch(a) < 0)
                                again = true;
                        else
                                arm_timer(a);
                }
        if (again) {
                sd_event_source_set_time_relative(s, COMMIT_RETRY_USEC);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

/* ---- replay ---- */

static void activation_free(struct activation *a) {
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
                free(a->members[i].tokens);
        }
        free(a->members);
        strmap_clear(&a->member_map);
        free_people(a);
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

static char *jstrdup(json_t *o, const char *k) {
        const char *s = json_string_value(json_object_get(o, k));
        return s ? strdup(s) : NULL;
}

static uint64_t jts(json_t *o) {
        return (uint64_t) json_integer_value(json_object_get(o, "ts"));
}

static enum channel channel_from(const char *s) {
        return s && streq(s, "email") ? CHANNEL_EMAIL : CHANNEL_SMS;
}

/* Apply one logged event to A (replay). Returns -EINVAL for an event that
 * does not fit. */
static int replay_event(struct activation *a, json_t *o) {
        const char *t = json_string_value(json_object_get(o, "t"));
        uint64_t ts = jts(o);
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
                free_people(a);
                for (size_t i = 0; i < json_array_size(pl); i++) {
                        const char *p = json_string_value(json_array_get(pl, i));
                        if (p)
                                add_person(&set, p);
                }
                take_people(&set, &a->people, &a->n_people);
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
                if (grow((void **) &a->notifs, a->n_notifs, &a->notifs_cap, sizeof(*a->notifs)) < 0)
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
                struct member *mb = find_member(a, person, true);
                if (mb && is_ask(kind)) {
                        mb->channels |= v[a->n_notifs - 1].ch;
                        mb->notified_run = a->run;
                        if (!mb->first_notified)
                                mb->first_notified = ts;
                } else if (mb) {
                        member_mark(mb, kind);
                }
                if (is_quorum_telling(kind))
                        a->told_at = ts ? ts : 1;
        } else if (streq(t, "sent") || streq(t, "failed")) {
                struct notif *n = find_notif(a, json_string_value(json_object_get(o, "key")) ?: "");
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
                        struct member *mb = find_member(a, n->person, false);
                        if (mb && is_ask(n->kind))
                                mb->dead |= n->ch;
                }
        } else if (streq(t, "token")) {
                const char *person = json_string_value(json_object_get(o, "person"));
                const char *h = json_string_value(json_object_get(o, "hash"));
                struct member *mb = person ? find_member(a, person, true) : NULL;
                if (!mb || !h || strlen(h) != 2 * SHA256_DIGEST_LENGTH)
                        return -EINVAL;
                member_add_token(mb, h);
        } else if (streq(t, "receipt")) {
                struct notif *n = find_notif(a, json_string_value(json_object_get(o, "key")) ?: "");
                if (!n)
                        return -EINVAL;
                bool delivered = json_is_true(json_object_get(o, "delivered"));
                n->state = delivered ? N_DELIVERED : N_UNDELIVERABLE;
                struct member *mb = find_member(a, n->person, false);
                if (!delivered && mb && is_ask(n->kind))
                        mb->dead |= n->ch;
        } else if (streq(t, "reply")) {
                const char *person = json_string_value(json_object_get(o, "person"));
                const char *ans = json_string_value(json_object_get(o, "answer"));
                struct member *mb = person ? find_member(a, person, true) : NULL;
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
                reachable_reset(a);
                a->reachable_at = ts ? ts : 1;
                free(a->quorum_by);
                a->quorum_by = jstrdup(o, "person");
        } else if (streq(t, "unmobilised")) {
                /* No longer complete; the "state" event that follows makes it mobilising. */
                unmobilised_reset(a);
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
static unsigned replay_log(struct activation *a, const char *data, size_t len, const char *name) {
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
        int n = (int) replay_log(a, data, len, "fuzz.log");
        bool ok = a->chain != NULL;
        if (ret_broken)
                *ret_broken = a->broken;
        activation_free(a);
        return ok ? n : -EINVAL;
}

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
        replay_log(a, data, len, name);
        if (!a->chain) {
                log_error("activations/%s: no \"created\" event; skipped", name);
                activation_free(a);
                return -EINVAL;
        }
        a->next = m->list;
        m->list = a;
        return 0;
}

static int cmp_names(const void *x, const void *y) {
        return strcmp(*(char *const *) x, *(char *const *) y);
}

static int load_all(struct activations *m) {
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
                if (a->broken)
                        continue;
                /* In flight at the crash: send again, with the same key. */
                for (size_t i = 0; i < a->n_notifs; i++)
                        if (a->notifs[i].state == N_SENDING) {
                                a->notifs[i].state = N_QUEUED;
                                resent++;
                                if (a->notifs[i].ch == CHANNEL_EMAIL && is_ask(a->notifs[i].kind) && m->public_url)
                                        make_token(a, &a->notifs[i], now);
                        }
                if (a->state == ACT_VERIFYING) {
                        commit_and_dispatch(a);
                        arm_timer(a);
                } else if (a->state == ACT_MOBILISING) {
                        resumed++;
                        if (a->step < 0) /* crashed between "created" and the first step */
                                enter_step(a, 0, now);
                        else if (quorum_met(a))
                                mobilise(a, now);
                        complete_quorum_decision(a, now);
                        commit_and_dispatch(a);
                        arm_timer(a);
                } else if (a->state == ACT_MOBILISED && !a->verify && act_chain(a) && !quorum_met(a) &&
                           no_after_mobilised(a)) {
                        /* A no whose consequences were not logged with it
                         * (not a configuration changed in between). */
                        unmobilise(a, last_to_answer(a, ANSWER_NO), now);
                        decide_quorum(a, now);
                        commit_and_dispatch(a);
                        arm_timer(a);
                } else {
                        commit_and_dispatch(a);
                }
        }
        if (resumed || resent)
                log_notice("Resumed %u open activation(s); resending %u notification(s) that were in flight", resumed,
                           resent);
        return 0;
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
                if (!find_activation(m, id) && faccessat(store_dirfd(m->store, STORE_ACTIVATIONS), name, F_OK, 0) < 0)
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

static void summary(struct activation *a, json_t *o) {
        const struct chain *c = act_chain(a);
        int yes;
        bool roles_ok;
        count_yes(a, c, &yes, &roles_ok);
        json_object_set_new(o, "activation", json_string(a->id));
        json_object_set_new(o, "code", json_string(a->code));
        json_object_set_new(o, "chain", json_string(a->chain));
        json_object_set_new(o, "state", json_string(act_state_names[a->state]));
        json_object_set_new(o, "drill", json_boolean(a->drill));
        json_object_set_new(o, "confirmed", json_integer(yes));
        json_object_set_new(o, "needed", json_integer(c ? c->need_total : 0));
        json_object_set_new(o, "step", json_integer(a->step));
        json_object_set_new(o, "created", json_integer((json_int_t) (a->created / USEC_PER_SEC)));
        if (!a->verify) {
                /* Which requirements are not met yet ("total", "role:ID");
                 * "impossible": the final step was told they cannot be. */
                _cleanup_free_ struct need_view *v = NULL;
                size_t n = a->state == ACT_RESOLVED ? 0 : quorum_view(a, beredd_now(), &v);
                json_t *unmet = json_array();
                for (size_t i = 0; i < n; i++)
                        if (v[i].yes < v[i].need) {
                                char w[96];
                                snprintf(w, sizeof(w), "%s%s", v[i].role ? "role:" : "total", v[i].role ? v[i].role : "");
                                json_array_append_new(unmet, json_string(w));
                        }
                json_object_set_new(o, "unmet", unmet);
                json_object_set_new(o, "impossible", json_boolean(a->impossible_at != 0));
        }
        if (a->verify) {
                json_t *missing = json_array();
                for (size_t i = 0; i < a->n_people; i++) {
                        struct member *mb = find_member(a, a->people[i], false);
                        if (!mb || mb->answer == ANSWER_NONE)
                                json_array_append_new(missing, json_string(a->people[i]));
                }
                json_object_set_new(o, "verify", json_true());
                json_object_set_new(o, "asked", json_integer((json_int_t) a->n_people));
                json_object_set_new(o, "missing", missing);
        }
}

/* ---- what the call-out says (the trigger's reply, beredctl trigger --dry-run) ---- */

/* The channels (a bit set of enum channel) on which the call-out steps of C
 * can reach person P, whoever is on duty (rosters whole); 0 = not at all. */
static unsigned chain_reaches(const struct config *cfg, const struct chain *c, const struct person *p) {
        unsigned via = 0;
        for (size_t k = 0; k < chain_n_regular(c); k++) {
                const struct step *st = &c->steps[k];
                for (size_t t = 0; t < st->n_targets; t++) {
                        const struct target *tg = &st->targets[t];
                        bool hit = false;
                        if (tg->kind == TARGET_PERSON)
                                hit = streq(tg->ref, p->id);
                        else if (tg->kind == TARGET_ROLE)
                                hit = person_has_role(p, tg->ref);
                        else {
                                const struct roster *ro = config_roster(cfg, tg->ref);
                                for (size_t i = 0; ro && i < ro->n_members && !hit; i++)
                                        hit = streq(ro->members[i], p->id);
                        }
                        if (hit)
                                via |= st->via;
                }
        }
        return via;
}

static const char *sms_encoding_name(enum text_sms_encoding e) {
        return e == TEXT_SMS_GSM7 ? "gsm" : "ucs2";
}

/* The call-out of A exactly as each language used in its chain gets it: for
 * each language the people (ids), the channels, the SMS text with its
 * encoding and segment count, and the e-mail subject and text. Answer links
 * show "<token>" for each person's own. *SHORTENED: the free text had to be
 * cut to fit the SMS; *SMS_INFO gets the longest SMS. */
static json_t *callout_messages(const struct activation *a, bool *shortened, struct text_sms_info *longest) {
        const struct config *cfg = a->mgr->cfg;
        const struct chain *c = act_chain(a);
        static const char *const lang_names[] = { [LANG_NB] = "nb", [LANG_EN] = "en" };
        json_t *arr = json_array();

        *shortened = false;
        *longest = (struct text_sms_info) {};
        for (int lang = LANG_NB; c && lang <= LANG_EN; lang++) {
                json_t *people = json_array();
                unsigned via = 0;
                for (size_t i = 0; i < cfg->n_people; i++) {
                        const struct person *p = &cfg->people[i];
                        unsigned v = p->lang == (enum lang) lang ? chain_reaches(cfg, c, p) : 0;
                        if (v) {
                                json_array_append_new(people, json_string(p->id));
                                via |= v;
                        }
                }
                if (json_array_size(people) == 0) {
                        json_decref(people);
                        continue;
                }
                struct person fake = { .lang = (enum lang) lang };
                struct notif n = { .kind = (char *) "callout", .ch = CHANNEL_SMS, .step = 0 };
                struct composed res = {};
                char subject[256], text[8192];
                json_t *o = json_pack("{s:s, s:o}", "lang", lang_names[lang], "people", people);
                json_t *chans = json_array();
                if (via & CHANNEL_SMS)
                        json_array_append_new(chans, json_string("sms"));
                if (via & CHANNEL_EMAIL)
                        json_array_append_new(chans, json_string("email"));
                json_object_set_new(o, "channels", chans);

                compose(a, &n, &fake, subject, sizeof(subject), text, sizeof(text), &res);
                json_object_set_new(o, "sms",
                                    json_pack("{s:s, s:s, s:I, s:I, s:b}", "text", text, "encoding",
                                              sms_encoding_name(res.sms.encoding), "segments",
                                              (json_int_t) res.sms.segments, "characters", (json_int_t) res.sms.chars,
                                              "shortened", res.shortened));
                if (res.shortened)
                        *shortened = true;
                if (res.sms.segments > longest->segments)
                        *longest = res.sms;

                n.ch = CHANNEL_EMAIL;
                snprintf(n.token, sizeof(n.token), "<token>");
                compose(a, &n, &fake, subject, sizeof(subject), text, sizeof(text), NULL);
                json_object_set_new(o, "email", json_pack("{s:s, s:s}", "subject", subject, "text", text));
                json_array_append_new(arr, o);
        }
        return arr;
}

/* Add what the call-out says to REPLY; log when the free text was cut. */
static void reply_messages(const struct activation *a, json_t *reply, bool log) {
        bool shortened;
        struct text_sms_info longest;
        unsigned max = config_sms_max_segments(a->mgr->cfg);
        json_t *msgs = callout_messages(a, &shortened, &longest);

        json_object_set_new(reply, "messages", msgs);
        json_object_set_new(reply, "max_segments", json_integer(max));
        json_object_set_new(reply, "shortened", json_boolean(shortened));
        if (shortened && log) {
                size_t chars = 0;
                for (const unsigned char *p = (const unsigned char *) (a->message ? a->message : ""); *p; p++)
                        chars += (*p & 0xC0) != 0x80;
                log_event(LOG_WARNING, MSGID_TEXT_SHORTENED, NULL,
                          "Activation %s of chain %s: the message (%zu characters) does not fit %u SMS segments; "
                          "the SMS carries it shortened (%zu segments, %s), an e-mail whole",
                          a->id, a->chain, chars, max, longest.segments,
                          longest.encoding == TEXT_SMS_GSM7 ? "GSM 7-bit" : "UCS-2");
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
        *a = (struct activation) {
                .mgr = m, .id = strdup(id), .code = strdup(code), .chain = strdup(c->id),
                .message = cmd->message ? strdup(cmd->message) : NULL, .by = strdup(cmd->by),
                .origin = origin ? strdup(origin) : NULL, .src = strdup(src_names[src]), .drill = cmd->drill,
                .verify = verify, .created = beredd_now(), .step = -1,
        };
        if (verify) {
                a->window = cmd->window ? cmd->window : USEC_PER_HOUR;
                a->state = ACT_VERIFYING;
                a->parallel = true;
        }
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "t", "created", "id", id, "code", code, "chain",
                              c->id, "drill", cmd->drill, "by", cmd->by, "src", src_names[src]);
        if (cmd->message)
                json_object_set_new(o, "message", json_string(cmd->message));
        if (origin)
                json_object_set_new(o, "origin", json_string(origin));
        if (verify) {
                json_object_set_new(o, "verify", json_true());
                json_object_set_new(o, "window", json_integer((json_int_t) a->window));
        }
        act_log(a, o, a->created);
        a->next = m->list;
        m->list = a;
        return a;
}

/* The new activation and its first notifications go to disk before the
 * first message leaves and before the caller hears "accepted". */
static int activation_start(struct activations *m, struct activation *a, json_t **reply, char *err, size_t errlen) {
        int r = commit(a);
        if (r < 0) {
                snprintf(err, errlen, "spool: cannot persist the %s (%s); not started",
                         a->verify ? "check" : "activation", strerror(-r));
                m->list = a->next;
                activation_free(a);
                return r;
        }
        dispatch(a);
        arm_timer(a);
        log_event(LOG_NOTICE, MSGID_ACTIVATION, NULL, "%s %s of chain %s%s started by %s",
                  a->verify ? "Contact-list check" : "Activation", a->id, a->chain, a->drill ? " (drill)" : "", a->by);
        *reply = json_object();
        summary(a, *reply);
        return 0;
}

int activations_trigger(struct activations *m, const struct command *cmd, enum source src, const char *origin,
                        json_t **reply, char *err, size_t errlen) {
        if (origin)
                for (struct activation *a = m->list; a; a = a->next)
                        if (a->origin && streq(a->origin, origin)) {
                                /* Processed before a crash: the same activation, not a second one. */
                                *reply = json_object();
                                summary(a, *reply);
                                return 0;
                        }
        int r;
        struct activation *a = activation_create(m, cmd, src, origin, false, &r, err, errlen);
        if (!a)
                return r;
        emit(a, "triggered", -1, cmd->by, NULL, NULL);
        enter_step(a, 0, a->created);
        decide_quorum(a, a->created);
        r = activation_start(m, a, reply, err, errlen);
        if (r >= 0)
                reply_messages(a, *reply, true);
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
        reply_messages(&a, *reply, false);
        return 0;
}

int activations_verify(struct activations *m, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        int r;
        struct activation *a = activation_create(m, cmd, SOURCE_SOCKET, NULL, true, &r, err, errlen);
        if (!a)
                return r;
        const struct chain *c = act_chain(a);
        uint64_t now = a->created;

        /* Everyone the chain can reach, whoever is on duty (rosters whole),
         * on the union of the channels of every step that names them. */
        const struct config *cfg = m->cfg;
        unsigned via[1024] = {};
        struct people_set set = {};
        free_people(a);
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
                                int idx = who ? add_person(&set, who) : -1;
                                if (idx >= 0 && (size_t) idx < ELEMENTSOF(via))
                                        via[idx] |= st->via;
                        }
                }
        }
        take_people(&set, &a->people, &a->n_people);
        a->deadline = now + a->window;
        json_t *pl = json_array();
        for (size_t i = 0; i < a->n_people; i++)
                json_array_append_new(pl, json_string(a->people[i]));
        act_log(a, json_pack("{s:s, s:i, s:i, s:b, s:o, s:I}", "t", "step", "step", -1, "run", 0, "parallel", 1,
                             "people", pl, "deadline", (json_int_t) a->deadline),
                now);
        emit(a, "verify", -1, cmd->by, NULL, NULL);
        for (size_t i = 0; i < a->n_people; i++)
                notify(a, a->people[i], "verify", i < ELEMENTSOF(via) ? via[i] : CHANNEL_SMS, -1, now);
        return activation_start(m, a, reply, err, errlen);
}

static struct activation *find_for_reply(struct activations *m, const struct command *cmd) {
        if (cmd->activation)
                return find_activation(m, cmd->activation);
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
        struct member *mb = find_member(a, p->id, false);
        if (!mb || !mb->channels) {
                a->n_unsolicited++;
                act_log(a, json_pack("{s:s, s:s, s:s, s:s}", "t", "unsolicited", "person", p->id, "answer",
                                     cmd->answer == ANSWER_YES ? "yes" : "no", "via", src_names[src]),
                        now);
                emit(a, "unsolicited", a->step, p->id, NULL, cmd->answer == ANSWER_YES ? "yes" : "no");
                int r = commit(a);
                if (r < 0)
                        sd_event_source_set_enabled(m->retry, SD_EVENT_ONESHOT);
                log_notice("Activation %s: an answer from %s, who was not asked in it, was recorded as unsolicited "
                           "and not counted", a->id, p->id);
                snprintf(err, errlen, "person: %s was not asked in activation %s; the answer was recorded as "
                         "unsolicited and not counted", p->id, a->id);
                return -EPERM;
        }
        bool changed = mb->answer != cmd->answer;
        if (changed) {
                mb->answer = cmd->answer;
                mb->answered = now;
                act_log(a, json_pack("{s:s, s:s, s:s, s:s}", "t", "reply", "person", p->id, "answer",
                                     cmd->answer == ANSWER_YES ? "yes" : "no", "via", src_names[src]),
                        now);
                emit(a, "reply", a->step, p->id, NULL, cmd->answer == ANSWER_YES ? "yes" : "no");
                if (!a->verify && (a->state == ACT_MOBILISING || a->state == ACT_SHORT) && cmd->answer == ANSWER_YES &&
                    quorum_met(a))
                        mobilise(a, now);
                else if (!a->verify && a->state == ACT_MOBILISED && cmd->answer == ANSWER_NO && !quorum_met(a))
                        unmobilise(a, p->id, now); /* the worst failure is a team that is not there */
                else
                        maybe_move_on(a, p->id, now);
                decide_quorum(a, now);
                int r = commit(a);
                if (r < 0) {
                        /* Keep the buffered record: it is retried. The answer is
                         * not lost, but we say so honestly. */
                        sd_event_source_set_enabled(m->retry, SD_EVENT_ONESHOT);
                        snprintf(err, errlen, "spool: cannot persist the reply (%s); try again", strerror(-r));
                        return r;
                }
                dispatch(a);
                arm_timer(a);
        }
        *reply = json_object();
        summary(a, *reply);
        json_object_set_new(*reply, "person", json_string(p->id));
        json_object_set_new(*reply, "answer", json_string(cmd->answer == ANSWER_YES ? "yes" : "no"));
        if (!changed)
                json_object_set_new(*reply, "note", json_string("answer already recorded"));
        return 0;
}

int activations_resolve(struct activations *m, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        struct activation *a = find_activation(m, cmd->activation);
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
        set_state(a, ACT_RESOLVED, cmd->by, now);
        for (size_t i = 0; i < a->n_members; i++) {
                struct member *mb = &a->members[i];
                if (!mb->channels)
                        continue;
                if (mb->answer == ANSWER_YES && !mb->thanked)
                        notify(a, mb->person, "resolved", mb->channels & ~mb->dead, -1, now);
                else if (mb->answer == ANSWER_NONE && !mb->stood_down)
                        notify(a, mb->person, "standdown", mb->channels & ~mb->dead, -1, now);
        }
        int r = commit(a);
        if (r < 0) {
                sd_event_source_set_enabled(m->retry, SD_EVENT_ONESHOT);
                snprintf(err, errlen, "spool: cannot persist the resolve (%s); try again", strerror(-r));
                return r;
        }
        dispatch(a);
        arm_timer(a);
        *reply = json_object();
        summary(a, *reply);
        return 0;
}

int activations_list(struct activations *m, json_t **reply) {
        json_t *arr = json_array();
        for (struct activation *a = m->list; a; a = a->next) {
                json_t *o = json_object();
                summary(a, o);
                json_array_append_new(arr, o);
        }
        *reply = json_pack("{s:o}", "activations", arr);
        return 0;
}

static json_t *people_json(struct activation *a) {
        json_t *arr = json_array();
        for (size_t i = 0; i < a->n_members; i++) {
                struct member *mb = &a->members[i];
                json_t *o = json_pack("{s:s, s:s}", "person", mb->person, "answer",
                                      mb->answer == ANSWER_YES ? "yes" : mb->answer == ANSWER_NO ? "no" : "none");
                if (mb->first_notified)
                        json_object_set_new(o, "notified_after_s",
                                            json_real((double) (mb->first_notified - a->created) / 1e6));
                if (mb->answered)
                        json_object_set_new(o, "answered_after_s", json_real((double) (mb->answered - a->created) / 1e6));
                json_t *ch = json_array();
                for (size_t k = 0; k < a->n_notifs; k++) {
                        struct notif *n = &a->notifs[k];
                        if (!streq(n->person, mb->person))
                                continue;
                        json_array_append_new(ch, json_pack("{s:s, s:s, s:s, s:f}", "kind", n->kind, "channel",
                                                            channel_name(n->ch), "state", nstate_names[n->state],
                                                            "after_s", (double) (n->ts_sending - a->created) / 1e6));
                }
                json_object_set_new(o, "notifications", ch);
                json_array_append_new(arr, o);
        }
        return arr;
}

/* Each requirement of the quorum with its counts: confirmed, needed, and at
 * most how many the people still left can make (possible). */
static json_t *requirements_json(struct activation *a) {
        _cleanup_free_ struct need_view *v = NULL;
        size_t n = quorum_view(a, beredd_now(), &v);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:b, s:b}", "need", v[i].role ? "role" : "total", "confirmed",
                                      v[i].yes, "needed", v[i].need, "possible", v[i].possible, "met",
                                      v[i].yes >= v[i].need, "out_of_reach", v[i].possible < v[i].need);
                if (v[i].role) {
                        json_object_set_new(o, "role", json_string(v[i].role));
                        json_object_set_new(o, "name", json_string(config_role_name(a->mgr->cfg, v[i].role, LANG_NB)));
                }
                json_array_append_new(arr, o);
        }
        return arr;
}

int activations_show(struct activations *m, const char *id, json_t **reply, char *err, size_t errlen) {
        struct activation *a = find_activation(m, id);
        if (!a) {
                snprintf(err, errlen, "activation: no such activation");
                return -ENOENT;
        }
        *reply = json_object();
        summary(a, *reply);
        json_object_set_new(*reply, "by", json_string(a->by));
        if (a->message)
                json_object_set_new(*reply, "message", json_string(a->message));
        json_object_set_new(*reply, "people", people_json(a));
        json_object_set_new(*reply, "unsolicited", json_integer((json_int_t) a->n_unsolicited));
        if (!a->verify)
                json_object_set_new(*reply, "requirements", requirements_json(a));
        if (a->impossible_at)
                json_object_set_new(*reply, "impossible_after_s",
                                    json_real((double) ((int64_t) a->impossible_at - (int64_t) a->created) / 1e6));
        if (a->reachable_at)
                json_object_set_new(*reply, "reachable_after_s",
                                    json_real((double) ((int64_t) a->reachable_at - (int64_t) a->created) / 1e6));
        if (a->unmobilised_at) {
                json_object_set_new(*reply, "unmobilised_after_s",
                                    json_real((double) ((int64_t) a->unmobilised_at - (int64_t) a->created) / 1e6));
                json_object_set_new(*reply, "unmobilised", json_integer((json_int_t) a->n_unmobilised));
        }
        if (a->deadline && a->state == ACT_MOBILISING)
                json_object_set_new(*reply, "next_step_in_s",
                                    json_real((double) ((int64_t) a->deadline - (int64_t) beredd_now()) / 1e6));
        return 0;
}

int activations_report(struct activations *m, const char *id, json_t **reply, char *err, size_t errlen) {
        struct activation *a = find_activation(m, id);
        if (!a) {
                snprintf(err, errlen, "activation: no such activation");
                return -ENOENT;
        }
        /* The timeline is the log itself, read back from disk. */
        char name[128];
        snprintf(name, sizeof(name), "%s.log", a->id);
        _cleanup_free_ char *data = NULL;
        size_t len;
        commit(a);
        int r = store_read(m->store, STORE_ACTIVATIONS, name, LOG_MAX_SIZE, &data, &len);
        if (r < 0) {
                snprintf(err, errlen, "activation %s: cannot read its log: %s", a->id, strerror(-r));
                return r;
        }
        json_t *timeline = json_array();
        for (char *line = data, *nl; line < data + len && (nl = memchr(line, '\n', (size_t) (data + len - line)));
             line = nl + 1) {
                json_t *o = json_loadb(line, (size_t) (nl - line), 0, NULL);
                if (!o)
                        continue;
                /* "sent"/"failed" name only the key: add whom and how. */
                const char *key = json_string_value(json_object_get(o, "key"));
                struct notif *n = key && !json_object_get(o, "person") ? find_notif(a, key) : NULL;
                if (n) {
                        json_object_set_new(o, "person", json_string(n->person));
                        json_object_set_new(o, "ch", json_string(channel_name(n->ch)));
                        json_object_set_new(o, "kind", json_string(n->kind));
                }
                uint64_t ts = jts(o);
                json_object_del(o, "ts");
                json_object_del(o, "message");
                json_object_del(o, "nonce"); /* the secret part of the receipt reference */
                json_object_set_new(o, "after_s", json_real((double) ((int64_t) ts - (int64_t) a->created) / 1e6));
                json_array_append_new(timeline, o);
        }
        *reply = json_object();
        summary(a, *reply);
        json_object_set_new(*reply, "by", json_string(a->by));
        if (a->mobilised_at)
                json_object_set_new(*reply, "time_to_quorum_s", json_real((double) (a->mobilised_at - a->created) / 1e6));
        json_object_set_new(*reply, "people", people_json(a));
        json_object_set_new(*reply, "timeline", timeline);
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
                        /* Only from the gateway that sent it. */
                        if (!n->gateway || !streq(n->gateway, gateway_id) || !notif_has_ref(n, ref))
                                continue;
                        if (n->state == N_DELIVERED || n->state == N_UNDELIVERABLE)
                                return 0; /* a repeated or late receipt: the first final state stays */
                        if (n->state != N_SENT)
                                return -ENOENT; /* not (or no longer) out with that gateway */
                        uint64_t now = beredd_now();
                        n->state = delivered ? N_DELIVERED : N_UNDELIVERABLE;
                        json_t *o = json_pack("{s:s, s:s, s:b}", "t", "receipt", "key", n->key, "delivered", delivered);
                        if (detail)
                                json_object_set_new(o, "detail", json_string(detail));
                        act_log(a, o, now);
                        emit(a, delivered ? "delivered" : "undeliverable", n->step, n->person, channel_name(n->ch),
                             detail);
                        if (!delivered && is_ask(n->kind)) {
                                struct member *mb = find_member(a, n->person, false);
                                if (mb)
                                        mb->dead |= n->ch;
                                maybe_move_on(a, n->person, now);
                                decide_quorum(a, now);
                                if (commit_and_dispatch(a) >= 0)
                                        arm_timer(a);
                        }
                        return 0;
                }
        return -ENOENT;
}

/* The activation and person an answer-link token belongs to. */
static struct activation *find_token(struct activations *m, const char *token, const char **person) {
        char h[2 * SHA256_DIGEST_LENGTH + 1];
        token_hash(token, h);
        for (struct activation *a = m->list; a; a = a->next)
                for (size_t i = 0; i < a->n_members; i++)
                        for (size_t k = 0; k < a->members[i].n_tokens; k++)
                                if (streq(a->members[i].tokens[k], h)) {
                                        *person = a->members[i].person;
                                        return a;
                                }
        return NULL;
}

int activations_token(struct activations *m, const char *token, json_t **info, const char **activation,
                      const char **person) {
        const char *p = NULL;
        struct activation *a = find_token(m, token, &p);
        if (!a)
                return -ENOENT;
        struct member *mb = find_member(a, p, false);
        if (info) {
                *info = json_object();
                summary(a, *info);
                json_object_del(*info, "code");
                json_object_set_new(*info, "person", json_string(p));
                json_object_set_new(*info, "answer", json_string(!mb || mb->answer == ANSWER_NONE ? "none" :
                                                                 mb->answer == ANSWER_YES     ? "yes"
                                                                                              : "no"));
                /* A check's link (OK) works while the check is open, like a
                 * call-out's (JA/NEI) while the call-out is; "verify" (from
                 * the summary) tells the two kinds apart. */
                json_object_set_new(*info, "valid", json_boolean(is_open(a)));
                json_object_set_new(*info, "verify", json_boolean(a->verify));
        }
        if (activation)
                *activation = a->id;
        if (person)
                *person = p;
        return is_open(a) ? 0 : -ESTALE;
}

/* Open activations that asked PERSON: of any kind (KIND < 0), call-outs
 * (0) or contact-list checks (1). */
static unsigned open_for(struct activations *m, const char *person, int kind, const char **only_id) {
        unsigned n = 0;
        for (struct activation *a = m->list; a; a = a->next) {
                struct member *mb = is_open(a) && (kind < 0 || a->verify == (kind == 1)) ? find_member(a, person, false)
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
        struct activation *a = id ? find_activation(m, id) : NULL;
        const struct person *p = person ? config_person(m->cfg, person) : NULL;
        const struct member *mb = a && p ? find_member(a, p->id, false) : NULL;
        if (!mb || mb->answer == ANSWER_NONE)
                return -ENOENT;
        const struct chain *c = act_chain(a);
        if (!c || !c->receipt)
                return -EPERM;
        if (a->verify) /* the check's OK: its number works */
                snprintf(buf, len, "%s", W(p->lang == LANG_EN, W_RECEIPT_VERIFY));
        else
                receipt_text(a, p->lang == LANG_EN, mb->answer == ANSWER_YES, buf, len);
        return 0;
}

int activations_summary(struct activations *m, const char *id, json_t **reply) {
        struct activation *a = find_activation(m, id);
        if (!a)
                return -ENOENT;
        *reply = json_object();
        summary(a, *reply);
        return 0;
}

unsigned activations_open(const struct activations *m) {
        unsigned n = 0;
        for (const struct activation *a = m->list; a; a = a->next)
                n += !a->verify && (a->state == ACT_MOBILISING || a->state == ACT_MOBILISED || a->state == ACT_SHORT);
        return n;
}

unsigned activations_total(const struct activations *m) {
        unsigned n = 0;
        for (const struct activation *a = m->list; a; a = a->next)
                n++;
        return n;
}

/* ---- life cycle ---- */

int activations_new(sd_event *e, struct store *store, struct gateways *gw, struct duty *duty, const struct config *cfg,
                    const struct calendar *cal, const char *public_url, act_event_cb cb, void *userdata,
                    struct activations **ret) {
        struct activations *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *m = (struct activations) { .event = sd_event_ref(e), .store = store, .gw = gw, .duty = duty, .cfg = cfg, .cal = cal,
                                    .cb = cb, .userdata = userdata };
        int r = sd_event_add_post(e, &m->post, on_post, m);
        if (r >= 0)
                r = sd_event_add_defer(e, &m->idle, on_idle, m);
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
        activations_set_public_url(m, public_url); /* before load_all: resent e-mails get links too */
        sd_event_source_set_description(m->retry, "activation-retry");
        r = load_all(m);
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

void activations_free(struct activations *m) {
        if (!m)
                return;
        /* Whatever is buffered goes to disk before we go. */
        for (struct activation *a = m->list; a; a = a->next)
                commit(a);
        while (m->list) {
                struct activation *a = m->list;
                m->list = a->next;
                activation_free(a);
        }
        sd_event_source_disable_unref(m->post);
        sd_event_source_disable_unref(m->idle);
        sd_event_source_disable_unref(m->retry);
        sd_event_unref(m->event);
        free(m->public_url);
        free(m);
}
