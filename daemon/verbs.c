/* verbs.c - the names of the commands (verbs.h). */
#include <stddef.h>
#include <string.h>

#include "verbs.h"
#include "macro.h"
#include "time-util.h"

static const char *const command_names[_CMD_MAX] = {
        [CMD_TRIGGER] = "trigger",
        [CMD_REPLY] = "reply",
        [CMD_RESOLVE] = "resolve",
        [CMD_CASE_OPEN] = "case.open",
        [CMD_CASE_CHECKIN] = "case.checkin",
        [CMD_CASE_LEVEL] = "case.level",
        [CMD_CASE_UPDATE] = "case.update",
        [CMD_CASE_CLOSE] = "case.close",
        [CMD_STATUS] = "status",
        [CMD_LIST] = "list",
        [CMD_SHOW] = "show",
        [CMD_REPORT] = "report",
        [CMD_VERIFY] = "verify",
        [CMD_ROSTER_OVERRIDE] = "roster.override",
        [CMD_ROSTER_SHOW] = "roster.show",
        [CMD_DUE] = "due",
        [CMD_FOLLOWUP_SUMMARY] = "followup.summary",
        [CMD_PREVIEW] = "preview",
        [CMD_AWAY] = "away",
        [CMD_AWAY_LIST] = "away.list",
        [CMD_AWAY_CANCEL] = "away.cancel",
        [CMD_CASE_LIST] = "case.list",
        [CMD_COVERAGE] = "coverage",
        [CMD_SURVEY] = "survey",
        [CMD_SURVEY_LIST] = "survey.list",
};

const char *command_name(enum command_kind k) {
        return (unsigned) k < _CMD_MAX ? command_names[k] : NULL;
}

int command_from_name(const char *name) {
        return string_table_lookup(command_names, _CMD_MAX, name);
}

bool command_is_read_only(enum command_kind k) {
        return k == CMD_STATUS || k == CMD_LIST || k == CMD_SHOW || k == CMD_REPORT || k == CMD_ROSTER_SHOW ||
               k == CMD_DUE || k == CMD_FOLLOWUP_SUMMARY || k == CMD_PREVIEW ||
               k == CMD_AWAY_LIST || k == CMD_COVERAGE || k == CMD_SURVEY_LIST ||
               k == CMD_CASE_LIST;
}
