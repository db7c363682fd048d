/* followup.h - watchful-waiting follow-up: re-contact reminders to contact
 * persons, overdue escalation to the coordinator, stepped care (LEON).
 *
 * Each case is one JSON file, cases/ab/<ref>.json, rewritten atomically on
 * every change; the file is the truth. In memory there is only a compact
 * index (24 bytes per case plus its ref in one arena, a ref hash and a code
 * table), ONE min-heap of next-action instants and ONE sd-event timer for the
 * earliest. A full record is read from disk when a case is acted on.
 * (The engine is in parts: followup-internal.h lists them.)
 *
 * Life of a case:
 *   open -> (due day, office start) first reminder to the contact persons
 *        -> overdue_after later: second reminder
 *        -> escalate_after after the first: the coordinator is told, the case
 *           is "escalated" until a check-in
 *   check-in -> the next due date from the outcome (LEON), reminders start over
 *   close -> kept for `retention`, then purged by the same timer.
 *
 * Write-ahead: a stage is written to the case file, with the idempotency keys
 * of the messages it causes marked "sending", before the messages go to the
 * gateways, and "sent"/"failed" after. A crash in between re-sends the
 * in-flight ones at start with the same keys. A stage is never repeated:
 * a case due while the daemon was down is reminded once, at start.
 *
 * Reply codes: a case holds a 5-digit code (10000-99999) from its first
 * reminder until the check-in (or close). Activation codes have 4 digits, so
 * the length tells them apart; codes are unique among the cases holding one.
 *
 * Privacy: messages name the case reference only (never factors or level
 * names); events (MQTT) and the summary carry no case reference; the journal
 * names a case ref only for a per-case operation and never with a person's
 * data; purges are logged as a count. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "calendar.h"
#include "command.h"
#include "config.h"
#include "gateway.h"
#include "store.h"
#include "text.h"

struct followup;
struct absences;

/* One event for the journal and MQTT: never a case reference or a person.
 * TYPE: "case.opened", "reminder", "overdue", "escalated", "checkin",
 * "level", "closed", "purged", "failed". LEVEL is the case's LEON level (0
 * when not tied to one case); DETAIL an outcome, a count or a reason. */
struct fu_event {
        const char *type;
        int level;
        const char *detail;
        uint64_t ts;
};
typedef void (*fu_event_cb)(void *userdata, const struct fu_event *ev);

/* Load the index from cases/ (handles the cases due while the daemon was down,
 * each stage once, and re-sends messages that were in flight), arm the timer.
 * CFG and CAL are borrowed (see followup_set_config). Returns 0 or -errno. */
int followup_new(sd_event *e, struct store *store, struct gateways *gw, const struct config *cfg,
                 const struct calendar *cal, fu_event_cb cb, void *userdata, struct followup **ret);
void followup_free(struct followup *f);
/* After a reload: new rules apply to cases not yet reminded at once, and to
 * the others at their next step. A changed followup.factors: the cases keep
 * their factors (data); those no longer in the vocabulary are counted as
 * "unlisted_factors" in the summary and shown by id, flagged, by show.
 * Call it while the old configuration is still alive. */
void followup_set_config(struct followup *f, const struct config *cfg, const struct calendar *cal);

/* Absences (absence.h; borrowed, NULL: nobody is away). A reminder due
 * while a contact person is away goes to the case's other contact; when
 * both are away, or the case has only one, to the coordinator; the one it
 * goes to is told why ("Ola er borte til og med 27.12, så oppfølgingen er
 * sendt til deg"), is recorded with the message before it is sent (the
 * case file's notify[].covers), and may answer its code. Whether someone
 * is away is asked when each reminder goes (first and second: someone back
 * by the second gets it); the escalation says where the reminders went.
 * Nobody to cover (no coordinator, or the coordinator is the one away):
 * the contacts get it as without absences. */
void followup_set_absences(struct followup *f, const struct absences *abs);
/* A case may name its responsible contact person (one of its contacts).
 * The coordinator is told, once per case, due date and absence, when the
 * responsible contact is away at the first reminder of a coming due date:
 * checked when PERSON's absence ABSENCE_ID [FROM, TO) is added (here; for
 * the open cases due in it), and when a case's due date is set or moves or
 * its responsible contact is named (open, check-in, level, update). The
 * notice is durable like the reminders (write-ahead, notify[] kind
 * "responsible", responsible_told), so a restart does not repeat it. */
void followup_absence_added(struct followup *f, const char *person, uint64_t from, uint64_t to);

/* Commands (validated with command_validate() first). Each returns 0 and sets
 * *REPLY to the reply's extra fields, or -errno with "field: reason" in ERR.
 * ORIGIN identifies a drop file: an open whose origin equals the existing
 * case's is "already done" (0, with "already":true), not an error. */
int followup_open(struct followup *f, const struct command *cmd, const char *origin, json_t **reply, char *err,
                  size_t errlen);
int followup_checkin(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen);
int followup_level(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen);
int followup_close(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen);
/* case.update: RESPONSIBLE, one of the contacts ("": none). */
int followup_update(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen);
int followup_show(struct followup *f, const char *ref, json_t **reply, char *err, size_t errlen);
/* Today's work list: open cases due today or earlier without a check-in,
 * {"date":..., "count":N, "cases":[...]}; OVERDUE_ONLY: reminded twice or
 * escalated; CONTACT (or NULL): only that person's cases. Each case has
 * "responsible" and "covered": for each contact away when its next
 * reminder goes (now, if that has passed) {"contact", "until", "covered_by"}
 * (covered_by null: nobody covers, the contacts get it). With CONTACT,
 * also the cases CONTACT covers without being a contact (the coordinator,
 * when both are away or the only one is), with "covering": true. */
int followup_due(struct followup *f, bool overdue_only, const char *contact, json_t **reply);
/* The cases in STATE (open: open and escalated), by due date then
 * reference: {"state", "count":N, "cases":[{"case","state","level","due",
 * "contacts", "overdue" | "closed"}]}; CONTACT (or NULL): only that
 * person's cases. At most FOLLOWUP_LIST_MAX, then "truncated":true. Reads
 * every candidate's file. For the control socket only: it lists refs. */
#define FOLLOWUP_LIST_MAX 10000
int followup_list(struct followup *f, enum case_filter state, const char *contact, json_t **reply);
/* Counts, no refs: {"open","due_today","overdue","escalated","closed",
 * "by_level":{"1":n,...},"by_factor":{"loneliness":n,...} (every id of
 * followup.factors), "unlisted_factors":n (open cases with a factor not in
 * it)}. Kept up to date as cases change; a query does not scan the cases. */
int followup_summary(struct followup *f, json_t **reply);

/* A reply to a reminder ("OK 48213", "HJELP 48213", "UTSETT 48213 3") from
 * PERSON: OK = no-needs, HELP = needs, POSTPONE = due again in DAYS days
 * (1 if 0). Returns -ENOENT (with a message in ERR) when CODE is not a
 * follow-up code held by an open case: a caller that has not checked
 * followup_is_code() tries activations next; the same -ENOENT and the same
 * message when PERSON is neither a contact person of the case nor the
 * coordinator (no oracle for live codes); -EINVAL for a
 * kind that is not a follow-up answer (JA/NEI). */
int followup_reply(struct followup *f, const char *code, const char *person, enum text_reply_kind kind, int days,
                   json_t **reply, char *err, size_t errlen);

/* True when CODE has the shape of a follow-up reply code (5 digits). */
bool followup_is_code(const char *code);

/* ---- the pure rules (no I/O, no clock), exported for tests ---- */

enum fu_state {
        FU_OPEN,
        FU_ESCALATED,
        FU_CLOSED,
};
enum fu_stage {
        FU_STAGE_NONE,      /* not reminded since the last check-in */
        FU_STAGE_FIRST,     /* reminded once */
        FU_STAGE_SECOND,    /* reminded twice: overdue */
        FU_STAGE_ESCALATED, /* the coordinator has been told */
};
enum fu_action {
        FU_ACT_NONE,
        FU_ACT_REMIND,   /* first reminder */
        FU_ACT_SECOND,   /* second reminder */
        FU_ACT_ESCALATE, /* tell the coordinator */
        FU_ACT_PURGE,    /* retention over: remove the closed case */
};
const char *fu_state_name(enum fu_state s);
const char *fu_stage_name(enum fu_stage s);

struct fu_sched {
        enum fu_state state;
        enum fu_stage stage;
        struct ymd due;
        uint64_t reminded; /* instant of the first reminder (stage >= first) */
        uint64_t second;   /* instant of the second reminder (stage >= second) */
        uint64_t closed;   /* instant the case was closed (state closed) */
        uint64_t now;      /* the present (0: unknown, no lower bound) */
};

/* The next action of S and its instant (UINT64_MAX and FU_ACT_NONE when
 * there is none). First reminder: office-hours mode, the opening of the first
 * working day on or after the due date; morning mode, 08:00 on the due date.
 * A first reminder whose instant has passed (a case opened, postponed or
 * rescheduled late on its due day, or due while the daemon was stopped) is
 * due at NOW in morning mode; in office-hours mode at NOW when NOW is within
 * office hours, else at the next opening (never at night or on a closed day).
 * The second reminder overdue_after, the escalation escalate_after after the
 * first reminder (whole days keep the wall-clock time across DST; in
 * office-hours mode an instant outside office hours moves to the next
 * opening), but never sooner after the second reminder than
 * escalate_after - overdue_after (so a second reminder sent late, after
 * downtime, still gets its time);
 * times heightened_factor in a heightened period. Purge: at 03:00 local on
 * the day after closed + retention (one daily sweep). */
uint64_t followup_next_action(const struct followup_conf *fc, const struct calendar *cal, const struct fu_sched *s,
                              enum fu_action *ret_action);

/* The level's interval, times heightened_factor when TODAY is in a heightened
 * period; 0 for an unknown level. */
uint64_t followup_interval(const struct followup_conf *fc, const struct calendar *cal, int level, struct ymd today);

/* A case's state as far as a check-in is concerned. */
struct fu_checkin_state {
        int level;
        bool children;
        bool task; /* the children task is on the reminders */
        int unreached_in_row;
};

struct fu_plan {
        int level;       /* after the check-in */
        struct ymd due;  /* the next due date */
        bool task;       /* the children task goes on the next reminders */
        int unreached_in_row;
        bool tell_children;  /* worse with children: tell the coordinator */
        bool tell_unreached; /* unreached_max in a row: tell the coordinator */
};

/* The check-in rules of issue 4. OUTCOME may be OUTCOME_NONE only with a
 * postpone (UTSETT). NEXT/NEXT_IN/POSTPONE_DAYS (at most one; 0/NULL = unset)
 * override the date. Returns 0, or -EINVAL with "field: reason" in ERR (a
 * date in the past). */
int followup_plan_checkin(const struct followup_conf *fc, const struct calendar *cal,
                          const struct fu_checkin_state *st, enum outcome outcome, const struct ymd *next,
                          uint64_t next_in, int postpone_days, uint64_t now, struct fu_plan *ret, char *err,
                          size_t errlen);

enum fu_text {
        FU_TEXT_REMIND,     /* first reminder */
        FU_TEXT_SECOND,     /* second reminder */
        FU_TEXT_ESCALATE,   /* to the coordinator: not recorded after N days */
        FU_TEXT_CHILDREN,   /* to the coordinator: worse, children in the household */
        FU_TEXT_UNREACHED,  /* to the coordinator: N unreached in a row */
        FU_TEXT_RESPONSIBLE, /* to the coordinator: the responsible contact is away on the due date */
};

/* A contact person away, as a reminder names them: first name and the
 * end of the absence (LAST the last day when MINUTE < 0, i.e. the absence
 * ends at midnight; else the day and minute of the day it ends). */
struct fu_away {
        char name[64]; /* the first name: "Ola" */
        struct ymd last;
        int minute;
};

struct fu_text_args {
        enum fu_text kind;
        enum lang lang;
        enum channel ch;          /* CHANNEL_SMS or CHANNEL_EMAIL */
        const char *ref;          /* the case reference: the only thing about the case named */
        const char *code;         /* reply code; NULL: no reply instructions */
        bool task;                /* a reminder with the children task */
        bool today;               /* a first reminder on the due date itself ("i dag") */
        int n;                    /* days (escalation) or a count (unreached) */
        const char *const *contacts; /* contact person ids (coordinator's texts) */
        size_t n_contacts;
        /* Rerouted: the contact persons away (a reminder says why it came
         * to the reader; an escalation says where the reminders went). */
        const struct fu_away *away;
        size_t n_away;
        const char *reminded;     /* escalation: whom the reminders went to; NULL: the reader */
        struct ymd due;           /* FU_TEXT_RESPONSIBLE: the due date */
};

/* For the fuzz target and tests: parse a case file's bytes with both the
 * fast scanner used at start (it reads the scheduling fields and checks the
 * structure, not every value) and the full parser. Returns 1 when both accept
 * it and agree, 0 when only the full parser does (the start falls back to
 * it), 2 when only the scanner does (damage outside the scheduling fields:
 * reported when the case is next read in full), -EINVAL when neither does (a
 * damaged file, reported at start), -EBADMSG when both accept it but read the
 * scheduling fields differently (a bug: a case would be scheduled from values
 * its file does not hold), or when what the full parser read does not come
 * back the same from being written and read again (a save would lose it). */
int followup_case_check(const char *data, size_t len);
/* For the fuzzer: whether DATA is a usable cases/index (0 or -EINVAL), and
 * how many whole records the case journal DATA holds. */
int followup_index_check(const char *data, size_t len);
int followup_journal_check(const char *data, size_t len);

/* Compose a message into SUBJECT (e-mail) and TEXT. An SMS reminder falls
 * back to a shorter reply instruction to stay one segment. Returns 0 or
 * -ENOBUFS. */
int followup_text(const struct fu_text_args *a, char *subject, size_t slen, char *text, size_t tlen);
