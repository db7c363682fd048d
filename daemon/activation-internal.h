/* activation-internal.h - what the activation files share (private; the
 * way timesyncd-manager.h is shared in systemd): the state of an activation
 * and of the manager, and the functions that go between the files.
 *
 *   activation.c        the shell: life cycle, the log buffer and its
 *                       commits, sending, timers, gateway results, commands,
 *                       and act_narrate (the events and journal lines the
 *                       decisions' recorded events imply)
 *   activation-core.c   decisions (steps, quorum, who hears what): their only
 *                       output is the events they record
 *   activation-apply.c  act_apply, the one place an activation's state
 *                       changes, and act_record (apply, log, narrate)
 *   activation-replay.c reading a log back (start-up, fuzzing)
 *   activation-text.c   what the messages say
 *   activation-show.c   the summary, show and report replies */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/sha.h>
#include <systemd/sd-event.h>

#include "activation.h"
#include "strmap.h"
#include "text.h"

#define LOG_MAX_SIZE (16 * 1024 * 1024) /* the most of an activation log read back */

enum act_state {
        ACT_MOBILISING,
        ACT_MOBILISED,
        ACT_SHORT,
        ACT_RESOLVED,
        ACT_VERIFYING, /* a contact-list check, waiting for answers */
        ACT_VERIFIED,  /* a contact-list check whose window has ended */
};
extern const char *const act_state_names[ACT_VERIFIED + 1];

/* KEY (with its "=") and VALUE into BUF, for a journal field. */
const char *act_journal_field(char *buf, size_t size, const char *key, const char *value);
/* The journal fields of A's key events, so an alert can name the call-out and
 * leave drills out; living until the end of the statement's block. */
#define ACT_FIELDS(a)                                                                              \
        ((const char *[]) { act_journal_field((char[96]) { 0 }, 96, "BEREDD_ACTIVATION=", (a)->id), \
                            act_journal_field((char[96]) { 0 }, 96, "BEREDD_CHAIN=", (a)->chain),   \
                            (a)->drill ? "BEREDD_DRILL=1" : "BEREDD_DRILL=0", NULL })

enum nstate {
        N_QUEUED,  /* logged "sending", waiting for the commit */
        N_SENDING, /* handed to a gateway */
        N_SENT,
        N_FAILED,
        N_UNREACHABLE,
        N_DELIVERED,     /* a receipt says it reached the phone */
        N_UNDELIVERABLE, /* a receipt says it never will */
};
extern const char *const nstate_names[N_UNDELIVERABLE + 1];

#define TOKEN_BYTES 16 /* 128 bits: e-mail answer links and a call's key press */

/* What a call's status callbacks said (CHANNEL_VOICE notifications). */
enum call_state {
        CALL_NONE,     /* no status yet: the request was made or is queued */
        CALL_RINGING,  /* initiated, ringing */
        CALL_ANSWERED, /* in-progress: someone (or something) picked up */
        CALL_ENDED,    /* completed: answered, hung up */
        CALL_NOT_REACHED, /* no-answer, busy, failed, canceled, a machine */
};

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
        char token[2 * TOKEN_BYTES + 1]; /* e-mail link or call token (memory only; its hash is logged) */
        /* Calls: the last status word ("ringing", "no-answer", "machine",
         * ...), when it rang, was answered and ended, the seconds it
         * lasted, the key pressed ("" none). */
        enum call_state call;
        char call_status[16];
        char digits[8];      /* the answer key ("1", "2") once one was pressed, else the last key ("" none) */
        unsigned n_keys;     /* key presses logged for this call */
        uint64_t ts_ringing, ts_answered, ts_ended;
        int duration;        /* seconds, -1 unknown */
};

/* One answer token of a member: its SHA-256 (hex), the notification it
 * was made for, and whether it is a call's (a key press) or an e-mail's. */
struct act_token {
        char hash[2 * SHA256_DIGEST_LENGTH + 1];
        char *key;
        bool voice;
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
        struct act_token *tokens; /* this person's answer tokens (hashes) */
        size_t n_tokens;
        /* A call to place later ("call-later": via sms + voice with
         * voice_after): when (beredd's time, 0 = none) and for which step. */
        uint64_t call_at;
        int call_step;
};

/* A person skipped because they were away when a step started ("skipped"
 * events): STEP -1 in a contact-list check. A roster's away on-duty person
 * has ROSTER and the member asked INSTEAD (NULL: nobody was left). */
struct act_skip {
        char *person, *roster, *instead;
        int step, run;
        uint64_t ts;
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
        uint64_t last_ts; /* the newest event's time: what retention and staleness count from */
        int run;
        int step; /* index of the current (non-final) step, -1 before the first */
        bool parallel;
        char **people; /* the current step's people, in order */
        size_t n_people;
        size_t seq_pos;
        uint64_t deadline; /* end of the current wait; 0 = none */
        struct member *members;
        size_t n_members, members_cap;
        struct act_skip *skips; /* people skipped as away, in order */
        size_t n_skips;
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
        const struct absences *absences; /* NULL: nobody is away */
        const struct config *cfg;
        const struct calendar *cal;
        act_event_cb cb;
        void *userdata;
        struct activation *list;
        sd_event_source *post; /* group commit: bounded delay */
        sd_event_source *idle; /* group commit: when nothing else is pending */
        sd_event_source *spare; /* idle: a spare log file for the next trigger (store_prepare_spare) */
        uint64_t lazy_since;   /* CLOCK_MONOTONIC of the oldest uncommitted event */
        unsigned lazy_events;
        unsigned n_dirty;      /* activations with uncommitted events */
        uint64_t logged_seq;   /* events logged since start (activations_logged_seq) */
        sd_event_source *retry;
        char *public_url; /* e-mail answer links: <public_url>/a/<token>/yes|no; NULL = none */
        /* N random bytes into BUF (0) for nonces and tokens, or -errno. */
        int (*random)(void *buf, size_t n);
        /* What event O, just recorded by a decision at NOW, means outside:
         * the callback and the journal (act_narrate in the daemon; NULL:
         * nothing). Replay never calls it. */
        void (*narrate)(struct activation *a, json_t *o, uint64_t now);
};

/* An ordered set of person ids being built (a step's people). */
struct people_set {
        char **v;
        size_t n, cap;
        struct strmap map;
};

/* One requirement of the quorum: need.total (ROLE NULL) or a role's minimum. */
struct need_view {
        const char *role;
        int yes;      /* confirmed */
        int need;
        int possible; /* at most this many can still be confirmed */
};

/* What act_compose() made of an SMS: its count as sent, and whether the
 * operator's free text had to be shortened to fit max_segments. */
struct composed {
        struct text_sms_info sms;
        bool shortened;
        char call_nb[4200]; /* a call to an English speaker: what is said in bokmål ("" none) */
};

/* activation.c */
struct activation *act_find_activation(struct activations *m, const char *id);
/* Hand event TYPE (at TS) to the manager's callback (MQTT, the journal). */
void act_emit(struct activation *a, const char *type, int step, const char *person, const char *channel,
              const char *detail, uint64_t ts);
void act_log(struct activation *a, json_t *o, uint64_t ts);
/* The callback's event and the journal line event O (recorded) implies. */
void act_narrate(struct activation *a, json_t *o, uint64_t now);
int act_commit(struct activation *a);
/* Commit A's log and release its notifications (0), or hold them (-errno). */
int act_commit_and_dispatch(struct activation *a);
void act_arm_timer(struct activation *a);
/* Tell those not told in this round that the quorum is out of reach at
 * WHEN (beredd's time), if it still is then (the shell's timer). */
void act_hold_until(struct activation *a, uint64_t when);
void activation_free(struct activation *a);

/* activation-core.c */
const struct chain *act_chain(const struct activation *a);
size_t act_chain_n_regular(const struct chain *c);
int act_grow(void **v, size_t n, size_t *cap, size_t size);
struct member *act_find_member(struct activation *a, const char *person, bool create);
struct notif *act_find_notif(struct activation *a, const char *key);
void act_count_yes(const struct activation *a, const struct chain *c, int *yes, bool *roles_ok);
bool act_quorum_met(const struct activation *a);
void act_token_hash(const char *token, char out[static 2 * SHA256_DIGEST_LENGTH + 1]);
void act_make_token(struct activation *a, struct notif *n, uint64_t now);
bool act_is_ask(const char *kind);
/* The member's pending call is due (or its other channels died): place it,
 * or log why not. */
void act_calls_due(struct activation *a, uint64_t now);
/* The earliest pending call of A (0 = none). */
uint64_t act_next_call(const struct activation *a);
/* A call's status callback: STATUS one of the words of struct notif's
 * call_status; ANSWERED_BY (may be NULL) and DURATION (< 0 unknown); SID
 * the provider's id when N had none (a request without a clear answer). */
void act_call_status(struct activation *a, struct notif *n, const char *status, const char *answered_by,
                     int duration, const char *sid, uint64_t now);
/* A key pressed in call N ("" none). */
void act_keypress(struct activation *a, struct notif *n, const char *digits, uint64_t now);
/* Whether a call-out to MB over voice is still worth placing at NOW: the
 * activation mobilising, MB not answered, still being asked in the current
 * step (its sequential position, or a parallel step's person), within the
 * step's hours. NULL when it is, else why not. */
const char *act_call_unwanted(const struct activation *a, const struct member *mb, int step, uint64_t now);
bool act_is_quorum_telling(const char *kind);
int act_add_person(struct people_set *s, const char *id);
void act_take_people(struct people_set *s, char ***v, size_t *n);
void act_free_people(struct activation *a);
size_t act_quorum_view(const struct activation *a, uint64_t now, struct need_view **ret);
/* The requirements of V (N of them) not met yet, or (OUT_OF_REACH) out of
 * reach, as "total" and "role:ID": a JSON array, and in WHAT joined by ", ". */
json_t *act_needs_unmet(const struct need_view *v, size_t n, bool out_of_reach, char *what, size_t len);
void act_tell_out_of_reach(struct activation *a, const struct chain *c, uint64_t now);
void act_start_check(struct activation *a, uint64_t now);
void act_start(struct activation *a, uint64_t now);
bool act_answer(struct activation *a, const char *person, enum answer ans, const char *via, uint64_t now);
void act_unreachable(struct activation *a, const char *person, uint64_t now);
void act_timeout(struct activation *a, uint64_t now);
void act_resolve(struct activation *a, const char *by, uint64_t now);
void act_resume(struct activation *a, uint64_t now);
/* An open activation found at start too old to resume (a restored spool):
 * what was in flight is logged failed, the pending calls skipped, and it
 * ends ("resolved", or "verified" for a check) by "stale", telling no one. */
void act_close_stale(struct activation *a, uint64_t now);

/* activation-apply.c */
/* Apply event O (a log line's object) to A: the only code that changes an
 * activation's state. -EINVAL for an event that does not fit. */
int act_apply(struct activation *a, json_t *o);
/* Give event O (consumed) its "ts" (NOW), apply it, append it to A's log
 * buffer and hand it to the manager's narrate hook: every decision changes
 * the state, and tells the outside, through here. */
int act_record(struct activation *a, json_t *o, uint64_t now);
uint64_t act_jts(json_t *o);

/* activation-replay.c */
int act_load_all(struct activations *m);
unsigned act_replay_log(struct activation *a, const char *data, size_t len, const char *name);

/* activation-text.c */
void act_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                 size_t slen, char *text, size_t tlen, struct composed *res);
void act_receipt_text(const struct activation *a, bool en, bool yes, char *buf, size_t len);
void act_reply_messages(const struct activation *a, json_t *reply, bool log);

/* activation-show.c */
void act_summary(struct activation *a, json_t *o);
/* For dashboards: the chain's display name, its number of steps, when the
 * next step starts (unix seconds, while mobilising), each role minimum by
 * its display name with confirmed/needed. No people. */
void act_progress(struct activation *a, json_t *o);
