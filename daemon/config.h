/* config.h - beredd's configuration: libconfig file -> typed, validated structs.
 *
 * config_load() reads and validates a whole file. It never stops at the first
 * problem: every error is collected as "FILE:LINE: message" so that
 * `beredd --check-config` can print all of them at once. A configuration that
 * loaded without errors is internally consistent: every reference (person,
 * role, roster, gateway, level, coordinator) resolves, and every chain can
 * reach its quorum.
 *
 * Times: durations are microseconds (uint64_t, like sd-event's usec_t).
 * Dates are civil dates (no time zone): struct ymd.
 * Weekdays use struct tm's convention: 0 = Sunday ... 6 = Saturday.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strmap.h"
#include "time-util.h"

/* A list of formatted error lines ("FILE:LINE: message"). */
struct errlist {
        char **v;
        size_t n;
};
void errlist_add(struct errlist *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void errlist_free(struct errlist *e);

enum channel {
        CHANNEL_SMS = 1 << 0,
        CHANNEL_EMAIL = 1 << 1,
        CHANNEL_ANY = CHANNEL_SMS | CHANNEL_EMAIL, /* a gateway's "any": SMS and e-mail, never calls */
        CHANNEL_VOICE = 1 << 2,                    /* phone calls with a key press to answer */
};
#define CHANNEL_ALL (CHANNEL_ANY | CHANNEL_VOICE) /* every channel bit */
const char *channel_name(enum channel c); /* "sms", "email", "any", "voice" */

enum lang {
        LANG_NB = 0, /* Norwegian bokmål: the default */
        LANG_EN,
};

struct heightened {
        struct ymd from, to; /* inclusive */
        char *name;
        /* The absence survey (survey.h): opened survey_before ahead of
         * `from` (0: only on demand, "beredctl survey"); the second ask
         * survey_remind after the first (default 3 days); the chains asked
         * (NULL: every chain). */
        uint64_t survey_before, survey_remind;
        char **survey_chains;
        size_t n_survey_chains;
        int line;
};
#define SURVEY_REMIND_DEFAULT (3 * USEC_PER_DAY)

struct calendar_conf {
        /* Office hours per weekday (tm_wday index), minutes since local
         * midnight; open_min[d] < 0 means closed all day. */
        int open_min[7];
        int close_min[7];
        bool holidays_no; /* built-in Norwegian public holidays */
        struct ymd *closed;
        size_t n_closed;
        struct heightened *heightened;
        size_t n_heightened;
};

struct person {
        char *id;
        char *name;
        char *phone; /* E.164, "+4791234567"; NULL if none */
        char *email; /* NULL if none */
        char **roles;
        size_t n_roles;
        enum lang lang; /* language of messages to this person */
        int line;
};

enum rotation {
        ROTATION_WEEKLY,
        ROTATION_DAILY,
};

struct roster {
        char *id;
        enum rotation rotation;
        int handoff_wday; /* weekly: weekday of hand-off; daily: -1 */
        int handoff_min;  /* minutes since local midnight */
        struct ymd start; /* first day of members[0]'s first shift ("start"; default 2026-01-05) */
        char **members;   /* person ids, in rotation order */
        size_t n_members;
        int line;
};

enum machine_detection {
        MACHINE_DETECTION_OFF,
        MACHINE_DETECTION_ENABLE,             /* Twilio MachineDetection=Enable */
        MACHINE_DETECTION_DETECT_MESSAGE_END, /* Twilio MachineDetection=DetectMessageEnd */
};

enum gateway_type {
        GATEWAY_FILE,         /* writes each message to spool/outbox */
        GATEWAY_SMTP,         /* e-mail over SMTP (libcurl) */
        GATEWAY_HTTP,         /* generic HTTP SMS gateway with templates */
        GATEWAY_TWILIO,       /* Twilio Messages API */
        GATEWAY_LINKMOBILITY, /* Link Mobility SMS REST API */
};
const char *gateway_type_name(enum gateway_type t);

/* Placeholders a generic http gateway's url and body may use besides
 * {to} {from} {text} {ref} {validity}: {username}, {password} (the secret)
 * and {to_digits} (the number without "+", e.g. 4791234567) -- the first
 * GATEWAY_TEMPLATE_NAMES_SMS -- and on a voice gateway also {answer_url}
 * and {status_url} (the call's webhooks on public_url), {lang} ("nb-NO" or
 * "en-US") and {prompt} (the key-press prompt, spoken after {text}). */
#define GATEWAY_TEMPLATE_NAMES_SMS 3
#define GATEWAY_TEMPLATE_NAMES 7
extern const char *const gateway_template_names[GATEWAY_TEMPLATE_NAMES];

#define GATEWAY_MAX_SEGMENTS_DEFAULT 3
#define GATEWAY_MAX_CALLS_DEFAULT 10

struct header_kv {
        char *name;
        char *value;
};

struct gateway {
        char *id;
        enum channel channel;
        enum gateway_type type;
        char *url;          /* smtp/http/twilio/linkmobility (profiles have defaults) */
        char *from;         /* e-mail sender, or SMS sender id */
        char *account;      /* twilio account SID; linkmobility platform id */
        char *username;     /* smtp/http basic auth user */
        char *password;     /* secret, read from password_file / token_file */
        char *method;       /* http: "POST" (default) or "GET" */
        char *body;         /* http: body template */
        char *content_type; /* http: body content type */
        struct header_kv *headers;
        size_t n_headers;
        int success_min, success_max; /* http: HTTP status range counted as success (200-299) */
        char *success_match;          /* http: optional substring the response must contain */
        uint64_t timeout;             /* per-request timeout (default 10s) */
        int retries;                  /* attempts before failover (default 3) */
        bool starttls;                /* smtp: require STARTTLS (default true unless smtps:// or localhost) */
        /* smtp: the name sent in EHLO/HELO; NULL = the machine's FQDN when it
         * has one, else the domain of `from` (decided in gateway.c) */
        char *helo;
        /* Inbound webhooks (the HTTP listener): the generic http profile's
         * field names for the sender and the text (defaults "from", "text"),
         * and for receipts the reference and status (defaults "ref",
         * "status"); a shared secret expected in ?token= or the header
         * X-Beredd-Token (http and linkmobility; NULL = none). */
        char *inbound_from;
        char *inbound_text;
        char *inbound_ref;
        char *inbound_status;
        char *inbound_id;    /* http: the inbound SMS's message id field (replays), NULL = none */
        char *inbound_token; /* secret, read from inbound_token_file */
        char *receipt_gate;  /* linkmobility: the gate delivery reports go to (NULL = none asked for) */
        /* SMS parts one message may use (default 3; twilio and file 1..10,
         * linkmobility and http 1..6; none for smtp) */
        unsigned max_segments;
        /* Voice gateways (channel "voice") only: calls in flight at once
         * (default 10), Twilio's Timeout (ring time) and TimeLimit, its
         * answering-machine detection, and the text-to-speech voices of
         * <Say> for bokmål and English. The generic http profile's inbound
         * field with the key pressed (default "digits"). */
        unsigned max_calls;
        uint64_t ring_timeout, call_limit;
        enum machine_detection machine_detection;
        char *say_voice, *say_voice_en;
        char *inbound_digits;
        int line;
};

enum target_kind {
        TARGET_PERSON,
        TARGET_ROLE,
        TARGET_ROSTER,
};

struct target {
        enum target_kind kind;
        char *ref; /* person id, role name or roster id (without "role:" / "roster:") */
};

enum step_mode {
        STEP_PARALLEL,
        STEP_SEQUENTIAL,
};

enum step_when {
        WHEN_ALWAYS,
        WHEN_OFFICE,
        WHEN_OUTSIDE_OFFICE,
};

struct step {
        struct target *targets;
        size_t n_targets;
        unsigned via; /* bit set of enum channel; default CHANNEL_SMS */
        /* With CHANNEL_VOICE and another channel in VIA: the call goes this
         * long after the person was asked, if they have not answered by
         * then (0 = every channel at once). */
        uint64_t voice_after;
        uint64_t wait;
        enum step_mode mode;
        enum step_when when;
        bool final;
        char *template; /* built-in template name; NULL = default ("activation", or "unreachable" for final) */
        int line;
};

struct role_need {
        char *role;
        int n;
};

/* A role's display name in messages (the "roles" list); a role without an
 * entry is shown by its id. */
struct role_def {
        char *id;
        char *name;    /* in bokmål messages */
        char *name_en; /* in English messages; default name */
        int line;
};

struct chain {
        char *id;
        char *name; /* human name used in messages; default id */
        struct target *may_trigger;
        size_t n_may_trigger;
        int need_total;
        struct role_need *need_roles;
        size_t n_need_roles;
        struct step *steps;
        size_t n_steps;
        int repeat; /* extra runs of the non-final steps before giving up (default 0) */
        char **report_to; /* person ids told when the team is mobilised, short or cannot be (besides whoever triggered) */
        size_t n_report_to;
        char *contact;    /* person id the final step is told to call; NULL = whoever triggered */
        bool receipt;     /* an SMS answer gets a short receipt (default true) */
        int line;
};

struct level {
        int level;
        char *name;
        uint64_t every;
};

enum remind_mode {
        REMIND_OFFICE_HOURS, /* at the start of office hours on the due day */
        REMIND_MORNING,      /* at 08:00 local on the due day, every day */
};

/* A follow-up vulnerability factor of the municipality's vocabulary
 * (followup.factors): commands, case files and MQTT carry the id, people
 * see the name. */
#define FACTORS_MAX 16 /* a case's factors are 16 bits of its index entry */
#define FACTOR_ID_MAX 32
#define FACTOR_NAME_MAX 96 /* bytes */
struct factor {
        char id[FACTOR_ID_MAX + 1];        /* lowercase letters, digits, '-', '_'; a letter first */
        char name[FACTOR_NAME_MAX + 1];    /* Norwegian display name */
        char name_en[FACTOR_NAME_MAX + 1]; /* English display name, "" when not given */
};

struct followup_conf {
        bool enabled; /* false when the section is absent */
        /* The vocabulary, in the configured order; the built-in one (the
         * source documents' table 1) when followup.factors is absent. */
        struct factor factors[FACTORS_MAX];
        size_t n_factors;
        bool factors_default;
        struct level *levels; /* sorted by level, contiguous from 1 */
        size_t n_levels;
        enum remind_mode remind;
        uint64_t overdue_after;
        uint64_t escalate_after;
        char *coordinator; /* person id */
        uint64_t retention;
        double heightened_factor; /* 0 < f <= 1, default 1 */
        int unreached_max;        /* unreached check-ins in a row before the coordinator is told (default 3) */
        int line;
};

struct mqtt_conf {
        bool enabled; /* false when the section is absent */
        char *host;
        int port;
        char *base;      /* default "beredd/<site>" */
        char *client_id; /* default "beredd-<site>" */
        int qos;
        bool tls;
        char *cafile;
        char *certfile;
        char *keyfile;
        char *username;
        char *password; /* secret, from password_file */
        int keepalive;  /* seconds, default 30 */
        unsigned commands;  /* bit set of (1 << enum command_kind); names as in the command vocabulary; default none */
        bool drill_only;    /* MQTT triggers, replies and resolves touch drills only (default true) */
        size_t queue_size;  /* events kept while disconnected (default 1000) */
        bool homeassistant;
        char *trigger_identity; /* person id or "role:x" identity MQTT triggers act as; NULL = none */
        int line;
};

/* The HTTP listener (webhooks, e-mail answer links, /healthz, /metrics)
 * and the outgoing heartbeat: the "http" section. */
struct http_conf {
        bool enabled;       /* false when the section is absent */
        char *listen;       /* "127.0.0.1:8470", "[::1]:8470"; NULL = no listener */
        char *listen_host;  /* the numeric address of listen, without brackets */
        int listen_port;
        char *public_url;   /* as seen from outside, without a trailing '/'; NULL = none */
        char *heartbeat_url;      /* NULL = no heartbeat */
        uint64_t heartbeat_every; /* default 5m */
        int line;
};

/* How long personal data stays in the spool: the "retention" section
 * (absent: the defaults). Ages are measured from an activation's last
 * event and from a file's modification time. */
#define RETENTION_ACTIVATIONS_DEFAULT (90 * USEC_PER_DAY) /* ended activations' logs, for evaluation */
#define RETENTION_OUTBOX_DEFAULT (7 * USEC_PER_DAY)       /* the file gateway's messages: numbers, texts */
#define RETENTION_FAILED_DEFAULT (30 * USEC_PER_DAY)      /* rejected input and its .reason */
#define RETENTION_ABSENCES_DEFAULT (30 * USEC_PER_DAY)    /* absences, after their end */
#define RETENTION_SURVEYS_DEFAULT (30 * USEC_PER_DAY)     /* absence surveys, after their period's end */
#define RETENTION_STALE_AFTER_DEFAULT USEC_PER_DAY        /* an open activation this quiet at start is stale */
struct retention_conf {
        uint64_t activations; /* resolved or verified activations, after their last event */
        uint64_t outbox;
        uint64_t failed;
        uint64_t absences;    /* absences, after their end (a note is personal) */
        uint64_t surveys;     /* absence surveys (who answered what), after their period's end */
        uint64_t stale_after; /* at start: an open activation whose last event is older is closed, never resumed */
        int line;             /* 0 when the section is absent */
};

struct config {
        char *path; /* the file this was loaded from */
        char *site;
        char *site_name; /* the municipality's display name (dashboards, Home Assistant); NULL = site */
        char *timezone;
        char *spool;
        enum lang lang;
        struct calendar_conf calendar;
        struct person *people;
        size_t n_people;
        struct role_def *roles; /* display names */
        size_t n_roles;
        struct strmap people_map; /* id -> index into people (config_person) */
        struct roster *rosters;
        size_t n_rosters;
        struct gateway *gateways;
        size_t n_gateways;
        struct chain *chains;
        size_t n_chains;
        struct followup_conf followup;
        struct mqtt_conf mqtt;
        struct http_conf http;
        struct retention_conf retention;
};

/* Load and validate PATH. On success returns the configuration and leaves ERRS
 * empty. On failure returns NULL with every problem in ERRS as
 * "FILE:LINE: message" (FILE as given; LINE 0 only when libconfig cannot say). */
struct config *config_load(const char *path, struct errlist *errs);
void config_free(struct config *c);
/* Free what a struct gateway owns (the secret is wiped first), not GW itself:
 * for copies such as the gateways module keeps for transfers in flight. */
void gateway_conf_done(struct gateway *gw);

/* Read a secret named by a *_file key: an absolute path as is, otherwise
 * $CREDENTIALS_DIRECTORY/NAME first, then the config file's folder. The file
 * must not be readable or writable by others. Trailing newlines are stripped.
 * Returns 0, or -errno with a reason in ERRBUF. */
int config_read_secret(const char *config_path, const char *name, char **ret, char *errbuf, size_t errlen);

/* Lookups; NULL when absent. */
const struct person *config_person(const struct config *c, const char *id);
const struct chain *config_chain(const struct config *c, const char *id);
const struct gateway *config_gateway(const struct config *c, const char *id);
/* The SMS parts a call-out may use: the smallest max_segments of the
 * gateways serving SMS (any of them may carry it after a failover), or the
 * default when none does. */
unsigned config_sms_max_segments(const struct config *c);
/* True if S may be sent as the EHLO name: a host name (letters, digits,
 * inner '-', dots) or an address literal "[192.0.2.1]", "[IPv6:...]". */
bool config_helo_ok(const char *s);
const struct roster *config_roster(const struct config *c, const char *id);
/* The position of factor ID in FC's vocabulary, or -1. */
int config_factor_index(const struct followup_conf *fc, const char *id);
/* The built-in vocabulary (followup.factors when absent): *N entries. */
const struct factor *config_default_factors(size_t *n);
/* ID is a well-formed factor id: 1-FACTOR_ID_MAX lowercase ASCII letters,
 * digits, '-' or '_', a letter first. */
bool config_factor_id_ok(const char *id);
/* Find the configured person whose phone (any Norwegian form) or e-mail matches. */
const struct person *config_person_by_contact(const struct config *c, const char *phone_or_email);
bool person_has_role(const struct person *p, const char *role);
/* ROLE's display name for a message in LANG (from "roles"), else ROLE itself. */
const char *config_role_name(const struct config *c, const char *role, enum lang lang);
