/* command.h - the one command vocabulary, whichever way a command comes in
 * (control socket, MQTT, spool drop file). Parsing and validation live here
 * only, so every way in gives the same error text for the same mistake. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "time-util.h"
#include "verbs.h"

/* Where a command came from. */
enum source {
        SOURCE_SOCKET,
        SOURCE_MQTT,
        SOURCE_INCOMING,
        SOURCE_SMS,   /* an SMS answer through a gateway webhook */
        SOURCE_EMAIL, /* a one-tap answer link in an e-mail */
};

enum answer {
        ANSWER_NONE = 0,
        ANSWER_YES,
        ANSWER_NO,
};

enum outcome {
        OUTCOME_NONE = 0,
        OUTCOME_NO_NEEDS,
        OUTCOME_NEEDS,
        OUTCOME_WORSE,
        OUTCOME_BETTER,
        OUTCOME_UNREACHED,
};
const char *outcome_name(enum outcome o);

/* case.list: which cases. */
enum case_filter {
        CASE_FILTER_OPEN = 0, /* open and escalated (the default) */
        CASE_FILTER_CLOSED,
        CASE_FILTER_ALL,
};

#define COMMAND_MAX_LINE    (64 * 1024) /* longest command accepted on any way in */
#define COMMAND_MAX_MESSAGE 1000        /* characters of a trigger message */
#define COMMAND_MAX_ID      ID_SAFE_MAX /* ids, case refs, person ids: id_is_safe() (time-util.h) */

struct command {
        enum command_kind kind;
        char *request_id; /* optional "id": echoed in the reply */

        char *chain;   /* trigger, preview */
        char *message; /* trigger, preview */
        char *by;      /* trigger, resolve, case.checkin, case.close, preview (optional): person id */
        bool drill;    /* trigger, preview */

        char *activation; /* reply, resolve, show, report: activation id */
        char *code;       /* reply: short reply code */
        char *person;     /* reply: person id */
        char *phone;      /* reply: sender's phone, instead of person */
        char *email;      /* reply: sender's e-mail, instead of person */
        enum answer answer;

        char *case_ref;   /* case.*, show */
        char *contacts[2];
        size_t n_contacts;
        int level;          /* case.open (0 = default 1), case.level */
        char *factors[FACTORS_MAX]; /* case.open: factor ids, each once (checked against
                                     * followup.factors by command_validate) */
        size_t n_factors;
        bool factor_unknown;        /* case.open: a factor that cannot be an id at all */
        bool has_due;
        struct ymd due;     /* case.open: first due date */
        bool children;      /* case.open */
        enum outcome outcome;
        bool has_next;
        struct ymd next;    /* case.checkin: explicit next due date */
        uint64_t next_in;   /* case.checkin: "in": duration until next (0 = unset) */
        int postpone_days;  /* case.checkin by reply "UTSETT code N" */
        uint64_t window;    /* verify: how long people have to answer (0 = default) */
        char *roster;       /* roster.override, roster.show */
        char *from, *to;    /* roster.override: "YYYY-MM-DD HH:MM" local time; away: or "YYYY-MM-DD" */
        bool overdue;       /* due: only cases reminded twice or escalated */
        char *contact;      /* due, case.list: only cases this person is a contact person of */
        char *note;         /* away: free text (personal: never logged) */
        char *absence;      /* away.cancel: the absence's id */
        char *responsible;  /* case.open, case.update: the responsible contact person ("" in case.update: none) */
        enum case_filter state; /* case.list */
        char *period;       /* survey: the heightened period's name */
};

/* Parse one JSON object (LEN bytes, not necessarily NUL-terminated) into CMD.
 * Structural checks only: types, required fields, lengths, formats, safe ids.
 * Returns 0, or -EINVAL with a message naming the field in ERR. */
int command_parse(const char *json, size_t len, struct command *cmd, char *err, size_t errlen);

/* Check CMD against the configuration: chain, people, levels exist.
 * Returns 0, or -EINVAL / -ENOENT with a message naming the field in ERR. */
int command_validate(const struct command *cmd, const struct config *cfg, char *err, size_t errlen);

void command_done(struct command *cmd);
