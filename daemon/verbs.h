/* verbs.h - the verbs of the command vocabulary: which commands there are
 * ("trigger", "case.open", ...), what each is called and which only read. A
 * leaf below both config.c, whose mqtt `commands = [...]` names them, and
 * the command parser (command.h), which needs the configuration to
 * validate: so neither has to include the other's header both ways. */
#pragma once

#include <stdbool.h>

enum command_kind {
        CMD_TRIGGER,
        CMD_REPLY,
        CMD_RESOLVE,
        CMD_CASE_OPEN,
        CMD_CASE_CHECKIN,
        CMD_CASE_LEVEL,
        CMD_CASE_UPDATE,      /* "case.update": the responsible contact person */
        CMD_CASE_CLOSE,
        CMD_STATUS,
        CMD_LIST,
        CMD_SHOW,
        CMD_REPORT,
        CMD_VERIFY,
        CMD_ROSTER_OVERRIDE,
        CMD_ROSTER_SHOW,
        CMD_DUE,              /* "due": today's follow-up work list (read-only) */
        CMD_FOLLOWUP_SUMMARY, /* "followup.summary": counts without refs (read-only) */
        CMD_PREVIEW,          /* "preview": what a trigger would send, without starting it (read-only) */
        CMD_AWAY,             /* "away": a person's absence */
        CMD_AWAY_LIST,        /* "away.list": absences (read-only) */
        CMD_AWAY_CANCEL,      /* "away.cancel": remove an absence */
        CMD_CASE_LIST,        /* "case.list": the cases with their refs and contacts (read-only) */
        CMD_COVERAGE,         /* "coverage": the coverage forecast of a chain (read-only) */
        CMD_SURVEY,           /* "survey": ask a chain's people about absences in a heightened period */
        CMD_SURVEY_LIST,      /* "survey.list": the surveys, who answered (read-only) */
        _CMD_MAX,
};

/* "trigger", "case.open", ...; NULL when out of range. */
const char *command_name(enum command_kind k);
/* The kind named NAME, or -1. */
int command_from_name(const char *name);
/* Commands that only read state and are accepted on the control socket only. */
bool command_is_read_only(enum command_kind k);
