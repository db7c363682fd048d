/* command.c - parse and validate the JSON command vocabulary (DESIGN.md).
 *
 * Every way in (control socket, MQTT, drop file) calls command_parse() and
 * command_validate(), so the same mistake gets the same words everywhere.
 * Errors name the field first: "chain: missing", "answer: must be ...". */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "command.h"
#include "macro.h"
#include "time-util.h"

static const char *const outcome_names[] = {
        [OUTCOME_NONE] = "none",
        [OUTCOME_NO_NEEDS] = "no-needs",
        [OUTCOME_NEEDS] = "needs",
        [OUTCOME_WORSE] = "worse",
        [OUTCOME_BETTER] = "better",
        [OUTCOME_UNREACHED] = "unreached",
};

const char *outcome_name(enum outcome o) {
        return (unsigned) o < ELEMENTSOF(outcome_names) ? outcome_names[o] : NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* Field kinds a command may carry; each command lists the ones it allows. */
enum field {
        F_CMD, F_ID, F_CHAIN, F_MESSAGE, F_BY, F_DRILL, F_ACTIVATION, F_CODE, F_PERSON,
        F_PHONE, F_EMAIL, F_ANSWER, F_CASE, F_CONTACTS, F_LEVEL, F_FACTORS, F_DUE,
        F_CHILDREN, F_OUTCOME, F_NEXT, F_IN, F_POSTPONE, F_WINDOW, F_ROSTER, F_FROM, F_TO,
        F_OVERDUE, F_CONTACT,
        F_NOTE, F_ABSENCE, F_RESPONSIBLE,
        F_STATE, /* case.list */
        F_PERIOD, /* survey */
        _F_MAX,
};

static const char *const field_names[_F_MAX] = {
        [F_CMD] = "cmd", [F_ID] = "id", [F_CHAIN] = "chain", [F_MESSAGE] = "message",
        [F_BY] = "by", [F_DRILL] = "drill", [F_ACTIVATION] = "activation", [F_CODE] = "code",
        [F_PERSON] = "person", [F_PHONE] = "phone", [F_EMAIL] = "email", [F_ANSWER] = "answer",
        [F_CASE] = "case", [F_CONTACTS] = "contacts", [F_LEVEL] = "level", [F_FACTORS] = "factors",
        [F_DUE] = "due", [F_CHILDREN] = "children", [F_OUTCOME] = "outcome", [F_NEXT] = "next",
        [F_IN] = "in", [F_POSTPONE] = "postpone", [F_WINDOW] = "window",
        [F_ROSTER] = "roster", [F_FROM] = "from", [F_TO] = "to",
        [F_OVERDUE] = "overdue", [F_CONTACT] = "contact",
        [F_NOTE] = "note", [F_ABSENCE] = "absence", [F_RESPONSIBLE] = "responsible",
        [F_STATE] = "state", [F_PERIOD] = "period",
};

#define B(f) (UINT64_C(1) << (f))
_Static_assert(_F_MAX <= 64, "the field masks are 64 bits");
static const uint64_t allowed_fields[_CMD_MAX] = {
        [CMD_TRIGGER] = B(F_CHAIN) | B(F_MESSAGE) | B(F_BY) | B(F_DRILL),
        [CMD_REPLY] = B(F_ACTIVATION) | B(F_CODE) | B(F_PERSON) | B(F_PHONE) | B(F_EMAIL) | B(F_ANSWER) | B(F_POSTPONE),
        [CMD_RESOLVE] = B(F_ACTIVATION) | B(F_BY),
        [CMD_CASE_OPEN] = B(F_CASE) | B(F_CONTACTS) | B(F_LEVEL) | B(F_FACTORS) | B(F_DUE) | B(F_CHILDREN) |
                          B(F_RESPONSIBLE),
        [CMD_CASE_CHECKIN] = B(F_CASE) | B(F_BY) | B(F_OUTCOME) | B(F_NEXT) | B(F_IN) | B(F_POSTPONE),
        [CMD_CASE_LEVEL] = B(F_CASE) | B(F_LEVEL),
        [CMD_CASE_UPDATE] = B(F_CASE) | B(F_RESPONSIBLE),
        [CMD_CASE_CLOSE] = B(F_CASE) | B(F_BY),
        [CMD_STATUS] = 0,
        [CMD_LIST] = 0,
        [CMD_SHOW] = B(F_ACTIVATION) | B(F_CODE) | B(F_CASE),
        [CMD_REPORT] = B(F_ACTIVATION) | B(F_CODE),
        [CMD_VERIFY] = B(F_CHAIN) | B(F_BY) | B(F_WINDOW),
        [CMD_ROSTER_OVERRIDE] = B(F_ROSTER) | B(F_PERSON) | B(F_FROM) | B(F_TO) | B(F_BY),
        [CMD_ROSTER_SHOW] = B(F_ROSTER),
        [CMD_DUE] = B(F_OVERDUE) | B(F_CONTACT),
        [CMD_FOLLOWUP_SUMMARY] = 0,
        [CMD_PREVIEW] = B(F_CHAIN) | B(F_MESSAGE) | B(F_BY) | B(F_DRILL),
        [CMD_AWAY] = B(F_PERSON) | B(F_FROM) | B(F_TO) | B(F_NOTE) | B(F_BY),
        [CMD_AWAY_LIST] = B(F_PERSON),
        [CMD_AWAY_CANCEL] = B(F_ABSENCE) | B(F_BY),
        [CMD_CASE_LIST] = B(F_CONTACT) | B(F_STATE),
        [CMD_COVERAGE] = B(F_CHAIN) | B(F_FROM) | B(F_TO),
        [CMD_SURVEY] = B(F_CHAIN) | B(F_PERIOD) | B(F_BY),
        [CMD_SURVEY_LIST] = 0,
};
static const uint64_t required_fields[_CMD_MAX] = {
        [CMD_TRIGGER] = B(F_CHAIN) | B(F_BY),
        [CMD_REPLY] = 0, /* answer, or postpone (follow-up reminders): checked below */
        [CMD_RESOLVE] = B(F_ACTIVATION) | B(F_BY),
        [CMD_CASE_OPEN] = B(F_CASE) | B(F_CONTACTS),
        [CMD_CASE_CHECKIN] = B(F_CASE) | B(F_BY) | B(F_OUTCOME),
        [CMD_CASE_LEVEL] = B(F_CASE) | B(F_LEVEL),
        [CMD_CASE_UPDATE] = B(F_CASE) | B(F_RESPONSIBLE),
        [CMD_CASE_CLOSE] = B(F_CASE) | B(F_BY),
        [CMD_REPORT] = 0, /* activation or code: checked below */
        [CMD_VERIFY] = B(F_CHAIN) | B(F_BY),
        [CMD_ROSTER_OVERRIDE] = B(F_ROSTER) | B(F_PERSON) | B(F_FROM) | B(F_TO) | B(F_BY),
        [CMD_ROSTER_SHOW] = B(F_ROSTER),
        [CMD_PREVIEW] = B(F_CHAIN),
        [CMD_AWAY] = B(F_PERSON) | B(F_FROM) | B(F_TO),
        [CMD_AWAY_CANCEL] = B(F_ABSENCE),
        [CMD_COVERAGE] = B(F_CHAIN) | B(F_FROM) | B(F_TO),
        [CMD_SURVEY] = B(F_CHAIN) | B(F_PERIOD),
};

static int field_from_name(const char *name) {
        return string_table_lookup(field_names, _F_MAX, name);
}

/* A string field: non-empty, at most MAX bytes, and free of control
 * characters (CR/LF would reach e-mail headers and SMS text). */
static int get_string(json_t *v, const char *name, size_t max, bool allow_newline, char **ret, char *err,
                      size_t errlen) {
        if (!json_is_string(v))
                return fail(err, errlen, "%s: expected a string", name);
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 0)
                return fail(err, errlen, "%s: must not be empty", name);
        if (n > max)
                return fail(err, errlen, "%s: too long (%zu bytes, at most %zu)", name, n, max);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if ((c < 0x20 && !(allow_newline && c == '\n')) || c == 0x7f)
                        return fail(err, errlen, "%s: control characters are not allowed", name);
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int get_id(json_t *v, const char *name, char **ret, char *err, size_t errlen) {
        int r = get_string(v, name, COMMAND_MAX_ID, false, ret, err, errlen);
        if (r < 0)
                return r;
        if (!id_is_safe(*ret)) {
                free(*ret);
                *ret = NULL;
                return fail(err, errlen, "%s: must be 1-%d letters, digits, '.', '_' or '-' (not starting with '.' or '-')",
                            name, COMMAND_MAX_ID);
        }
        return 0;
}

static int get_int(json_t *v, const char *name, int min, int max, int *ret, char *err, size_t errlen) {
        if (!json_is_integer(v))
                return fail(err, errlen, "%s: expected an integer", name);
        json_int_t i = json_integer_value(v);
        if (i < min || i > max)
                return fail(err, errlen, "%s: must be between %d and %d", name, min, max);
        *ret = (int) i;
        return 0;
}

static int get_date(json_t *v, const char *name, struct ymd *ret, char *err, size_t errlen) {
        if (!json_is_string(v) || parse_date(json_string_value(v), ret) < 0)
                return fail(err, errlen, "%s: expected a date \"YYYY-MM-DD\"", name);
        return 0;
}

static int get_bool(json_t *v, const char *name, bool *ret, char *err, size_t errlen) {
        if (!json_is_boolean(v))
                return fail(err, errlen, "%s: expected true or false", name);
        *ret = json_is_true(v);
        return 0;
}

/* The fields of the follow-up commands (case.*, and postpone in a reply). */
static int parse_case_field(struct command *c, enum field f, json_t *v, char *err, size_t errlen) {
        const char *name = field_names[f];
        int r;

        switch (f) {
        case F_CASE:
                return get_id(v, name, &c->case_ref, err, errlen);
        case F_CONTACTS: {
                if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 2)
                        return fail(err, errlen, "contacts: expected a list of one or two person ids");
                for (size_t i = 0; i < json_array_size(v); i++) {
                        r = get_id(json_array_get(v, i), "contacts", &c->contacts[i], err, errlen);
                        if (r < 0)
                                return r;
                        c->n_contacts = i + 1;
                }
                if (c->n_contacts == 2 && streq(c->contacts[0], c->contacts[1]))
                        return fail(err, errlen, "contacts: the same person twice");
                return 0;
        }
        case F_LEVEL:
                return get_int(v, name, 1, 9, &c->level, err, errlen);
        case F_FACTORS:
                if (!json_is_array(v))
                        return fail(err, errlen, "factors: expected a list");
                for (size_t i = 0; i < json_array_size(v); i++) {
                        const char *s = json_string_value(json_array_get(v, i));
                        if (!s)
                                return fail(err, errlen, "factors: expected a list of strings");
                        /* Whether it is one of followup.factors is for
                         * command_validate(), which knows them: here only
                         * what cannot be an id at all is set aside. */
                        if (!config_factor_id_ok(s)) {
                                c->factor_unknown = true;
                                continue;
                        }
                        bool dup = false;
                        for (size_t k = 0; k < c->n_factors; k++)
                                dup = dup || streq(c->factors[k], s);
                        if (dup)
                                continue;
                        if (c->n_factors == FACTORS_MAX)
                                return fail(err, errlen, "factors: at most %d", FACTORS_MAX);
                        if (!(c->factors[c->n_factors] = strdup(s)))
                                return -ENOMEM;
                        c->n_factors++;
                }
                return 0;
        case F_DUE:
                c->has_due = true;
                return get_date(v, name, &c->due, err, errlen);
        case F_CHILDREN:
                return get_bool(v, name, &c->children, err, errlen);
        case F_OUTCOME: {
                const char *s = json_string_value(v);
                for (int o = OUTCOME_NO_NEEDS; s && o <= OUTCOME_UNREACHED; o++)
                        if (streq(s, outcome_names[o])) {
                                c->outcome = o;
                                return 0;
                        }
                return fail(err, errlen, "outcome: must be one of no-needs, needs, worse, better, unreached");
        }
        case F_NEXT:
                c->has_next = true;
                return get_date(v, name, &c->next, err, errlen);
        case F_IN:
                if (!json_is_string(v) || parse_duration(json_string_value(v), &c->next_in) < 0 ||
                    c->next_in == 0)
                        return fail(err, errlen, "in: expected a duration such as \"5d\"");
                return 0;
        case F_POSTPONE:
                return get_int(v, name, 1, 365, &c->postpone_days, err, errlen);
        case F_RESPONSIBLE:
                /* "" in case.update: no responsible contact any more. */
                if (c->kind == CMD_CASE_UPDATE && json_is_string(v) && !json_string_value(v)[0])
                        return (c->responsible = strdup("")) ? 0 : -ENOMEM;
                return get_id(v, name, &c->responsible, err, errlen);
        default:
                return fail(err, errlen, "%s: not allowed here", name);
        }
}

static int parse_field(struct command *c, enum field f, json_t *v, char *err, size_t errlen) {
        const char *name = field_names[f];
        int r;

        switch (f) {
        case F_CHAIN:
                return get_id(v, name, &c->chain, err, errlen);
        case F_MESSAGE:
                r = get_string(v, name, COMMAND_MAX_MESSAGE * 4, true, &c->message, err, errlen);
                if (r < 0)
                        return r;
                size_t chars = 0;
                for (const unsigned char *p = (const unsigned char *) c->message; *p; p++)
                        chars += (*p & 0xC0) != 0x80;
                if (chars > COMMAND_MAX_MESSAGE)
                        return fail(err, errlen, "message: too long (%zu characters, at most %d)", chars,
                                    COMMAND_MAX_MESSAGE);
                return 0;
        case F_BY:
                return get_id(v, name, &c->by, err, errlen);
        case F_DRILL:
                return get_bool(v, name, &c->drill, err, errlen);
        case F_ACTIVATION:
                return get_id(v, name, &c->activation, err, errlen);
        case F_CODE:
                r = get_string(v, name, 8, false, &c->code, err, errlen);
                if (r < 0)
                        return r;
                for (const char *p = c->code; *p; p++)
                        if (*p < '0' || *p > '9')
                                return fail(err, errlen, "code: must be digits");
                return 0;
        case F_PERSON:
                return get_id(v, name, &c->person, err, errlen);
        case F_PHONE:
                r = get_string(v, name, 32, false, &c->phone, err, errlen);
                if (r < 0)
                        return r;
                for (const char *p = c->phone; *p; p++)
                        if (!((*p >= '0' && *p <= '9') || *p == '+' || *p == ' '))
                                return fail(err, errlen, "phone: expected a phone number such as \"+4791234567\"");
                return 0;
        case F_EMAIL:
                r = get_string(v, name, 254, false, &c->email, err, errlen);
                if (r < 0)
                        return r;
                if (!strchr(c->email, '@') || strchr(c->email, ' '))
                        return fail(err, errlen, "email: expected an e-mail address");
                return 0;
        case F_ANSWER: {
                const char *s = json_string_value(v);
                /* Any case: JA, Ja, ja, YES, Yes ... as typed. */
                if (s && (strcasecmp(s, "yes") == 0 || strcasecmp(s, "ja") == 0))
                        c->answer = ANSWER_YES;
                else if (s && (strcasecmp(s, "no") == 0 || strcasecmp(s, "nei") == 0))
                        c->answer = ANSWER_NO;
                else
                        return fail(err, errlen, "answer: must be \"yes\" or \"no\" (or \"ja\"/\"nei\", any case)");
                return 0;
        }
        case F_ROSTER:
                return get_id(v, name, &c->roster, err, errlen);
        case F_FROM:
        case F_TO:
                r = get_string(v, name, 16, false, f == F_FROM ? &c->from : &c->to, err, errlen);
                if (r < 0)
                        return r;
                if (c->kind == CMD_COVERAGE) {
                        struct ymd d;
                        if (parse_date(f == F_FROM ? c->from : c->to, &d) < 0)
                                return fail(err, errlen, "%s: expected a date \"YYYY-MM-DD\"", name);
                        return 0;
                }
                if (c->kind == CMD_AWAY) {
                        /* A date alone: from the start of that day, to its end. */
                        size_t l = strlen(f == F_FROM ? c->from : c->to);
                        if (l != 10 && l != 16)
                                return fail(err, errlen, "%s: expected local time \"YYYY-MM-DD[ HH:MM]\"", name);
                        return 0;
                }
                if (strlen(f == F_FROM ? c->from : c->to) != 16)
                        return fail(err, errlen, "%s: expected local time \"YYYY-MM-DD HH:MM\"", name);
                return 0;
        case F_NOTE:
                return get_string(v, name, 200, false, &c->note, err, errlen);
        case F_ABSENCE:
                return get_id(v, name, &c->absence, err, errlen);
        case F_PERIOD:
                return get_string(v, name, 128, false, &c->period, err, errlen);
        case F_WINDOW:
                if (!json_is_string(v) || parse_duration(json_string_value(v), &c->window) < 0 ||
                    c->window < 5 * USEC_PER_SEC || c->window > 7 * USEC_PER_DAY)
                        return fail(err, errlen, "window: expected a duration from \"5s\" to \"7d\", such as \"2h\"");
                return 0;
        case F_OVERDUE:
                return get_bool(v, name, &c->overdue, err, errlen);
        case F_CONTACT:
                return get_id(v, name, &c->contact, err, errlen);
        case F_STATE: {
                static const char *const filters[] = { [CASE_FILTER_OPEN] = "open", [CASE_FILTER_CLOSED] = "closed",
                                                       [CASE_FILTER_ALL] = "all" };
                int k = string_table_lookup(filters, ELEMENTSOF(filters), json_string_value(v));
                if (k < 0)
                        return fail(err, errlen, "state: must be \"open\", \"closed\" or \"all\"");
                c->state = (enum case_filter) k;
                return 0;
        }
        default:
                return parse_case_field(c, f, v, err, errlen);
        }
}

/* The rules that span fields, for a command of kind K with the fields SEEN. */
static int check_together(enum command_kind k, uint64_t seen, char *err, size_t errlen) {
        if (k == CMD_REPLY) {
                if (!(seen & (B(F_ACTIVATION) | B(F_CODE))))
                        return fail(err, errlen, "code: missing (give the reply code or the activation)");
                if (!(seen & (B(F_ANSWER) | B(F_POSTPONE))))
                        return fail(err, errlen, "answer: missing");
                if ((seen & B(F_POSTPONE)) && (seen & B(F_ANSWER)))
                        return fail(err, errlen, "postpone: give either answer or postpone");
                int who = !!(seen & B(F_PERSON)) + !!(seen & B(F_PHONE)) + !!(seen & B(F_EMAIL));
                if (who != 1)
                        return fail(err, errlen, "person: give exactly one of person, phone or email");
        }
        if (k == CMD_CASE_CHECKIN) {
                int n = !!(seen & B(F_NEXT)) + !!(seen & B(F_IN)) + !!(seen & B(F_POSTPONE));
                if (n > 1)
                        return fail(err, errlen, "next: give at most one of next, in or postpone");
        }
        if (k == CMD_SHOW && !!(seen & B(F_ACTIVATION)) + !!(seen & B(F_CODE)) + !!(seen & B(F_CASE)) != 1)
                return fail(err, errlen, "activation: give exactly one of activation, code or case");
        if (k == CMD_REPORT && !!(seen & B(F_ACTIVATION)) + !!(seen & B(F_CODE)) != 1)
                return fail(err, errlen, "activation: give exactly one of activation or code");
        return 0;
}

int command_parse(const char *json, size_t len, struct command *c, char *err, size_t errlen) {
        json_error_t jerr;
        int r;

        *c = (struct command) {};
        if (len > COMMAND_MAX_LINE)
                return fail(err, errlen, "command too long (%zu bytes, at most %d)", len, COMMAND_MAX_LINE);

        /* jansson refuses invalid UTF-8, NUL bytes (\u0000) and trailing data. */
        json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return fail(err, errlen, "not valid JSON%s%.*s (at character %d)", jerr.text[0] ? ": " : "",
                            /* jansson ends some texts with "near '<input>'": not echoed */
                            (int) (strstr(jerr.text, " near ") ? (size_t) (strstr(jerr.text, " near ") - jerr.text)
                                                                : strlen(jerr.text)),
                            jerr.text, jerr.position);
        if (!json_is_object(root)) {
                json_decref(root);
                return fail(err, errlen, "expected a JSON object");
        }

        json_t *cmd = json_object_get(root, "cmd");
        if (!cmd) {
                r = fail(err, errlen, "cmd: missing");
                goto out;
        }
        if (!json_is_string(cmd)) {
                r = fail(err, errlen, "cmd: expected a string");
                goto out;
        }
        int k = command_from_name(json_string_value(cmd));
        if (k < 0) {
                r = fail(err, errlen, "cmd: unknown command");
                goto out;
        }
        c->kind = k;

        json_t *id = json_object_get(root, "id");
        if (id) {
                r = get_id(id, "id", &c->request_id, err, errlen);
                if (r < 0)
                        goto out;
        }

        uint64_t seen = 0;
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
                int f = field_from_name(key);
                if (f == F_CMD || f == F_ID)
                        continue;
                if (f < 0 || !(allowed_fields[k] & B(f))) {
                        /* A known field name is named; anything else might
                         * be a value typed where a name belongs. */
                        if (f >= 0)
                                r = fail(err, errlen, "%s: unknown field for %s", field_names[f], command_name(k));
                        else
                                r = fail(err, errlen, "unknown field for %s", command_name(k));
                        goto out;
                }
                r = parse_field(c, f, v, err, errlen);
                if (r < 0)
                        goto out;
                seen |= B(f);
        }

        for (int f = 0; f < _F_MAX; f++)
                if ((required_fields[k] & B(f)) && !(seen & B(f))) {
                        r = fail(err, errlen, "%s: missing", field_names[f]);
                        goto out;
                }

        r = check_together(k, seen, err, errlen);
out:
        json_decref(root);
        if (r < 0)
                command_done(c);
        return r;
}

/* "factors: unknown factor (valid: ...)" with the ids of FC's vocabulary, as
 * many as ERR holds: a case system's export can be fixed from the error. */
static int unknown_factor(const struct followup_conf *fc, char *err, size_t errlen) {
        static const char more[] = ", ...)";
        int n = snprintf(err, errlen, "factors: unknown factor (valid:");
        size_t len = n < 0 ? 0 : (size_t) n;
        for (size_t k = 0; len < errlen && k < fc->n_factors; k++) {
                size_t need = strlen(fc->factors[k].id) + 2 + (k + 1 < fc->n_factors ? sizeof(more) : 2);
                if (len + need > errlen) {
                        snprintf(err + len, errlen - len, "%s", more + (k ? 0 : 1));
                        return -EINVAL;
                }
                len += (size_t) snprintf(err + len, errlen - len, "%s%s", k ? ", " : " ", fc->factors[k].id);
        }
        if (len < errlen)
                snprintf(err + len, errlen - len, ")");
        return -EINVAL;
}

int command_validate(const struct command *c, const struct config *cfg, char *err, size_t errlen) {
        if (c->chain && !config_chain(cfg, c->chain))
                return fail(err, errlen, "chain: no such chain in the configuration");
        if (c->by && !config_person(cfg, c->by))
                return fail(err, errlen, "by: no such person in the configuration");
        if (c->person && !config_person(cfg, c->person))
                return fail(err, errlen, "person: no such person in the configuration");
        /* A phone or e-mail that matches nobody is not an error here: the
         * reply path answers "unknown sender" and changes nothing. */
        for (size_t i = 0; i < c->n_contacts; i++)
                if (!config_person(cfg, c->contacts[i]))
                        return fail(err, errlen, "contacts: no such person in the configuration");
        if (c->responsible && c->responsible[0] && !config_person(cfg, c->responsible))
                return fail(err, errlen, "responsible: no such person in the configuration");
        if (c->contact && !config_person(cfg, c->contact))
                return fail(err, errlen, "contact: no such person in the configuration");
        if ((c->kind == CMD_DUE || c->kind == CMD_FOLLOWUP_SUMMARY) && !cfg->followup.enabled)
                return fail(err, errlen, "cmd: follow-up is not configured (no followup section)");
        if (c->kind == CMD_CASE_LIST && !cfg->followup.enabled)
                return fail(err, errlen, "cmd: follow-up is not configured (no followup section)");
        if (c->kind >= CMD_CASE_OPEN && c->kind <= CMD_CASE_CLOSE) {
                if (!cfg->followup.enabled)
                        return fail(err, errlen, "cmd: follow-up is not configured (no followup section)");
                if (c->level > (int) cfg->followup.n_levels)
                        return fail(err, errlen, "level: must be between 1 and %zu", cfg->followup.n_levels);
        }
        bool unknown = c->factor_unknown;
        for (size_t k = 0; k < c->n_factors; k++)
                unknown = unknown || config_factor_index(&cfg->followup, c->factors[k]) < 0;
        if (unknown)
                return unknown_factor(&cfg->followup, err, errlen);
        return 0;
}

void command_done(struct command *c) {
        free(c->request_id);
        free(c->chain);
        free(c->message);
        free(c->by);
        free(c->activation);
        free(c->code);
        free(c->person);
        free(c->phone);
        free(c->email);
        free(c->case_ref);
        free(c->roster);
        free(c->from);
        free(c->to);
        free(c->contact);
        free(c->note);
        free(c->absence);
        free(c->period);
        free(c->responsible);
        for (size_t i = 0; i < ELEMENTSOF(c->contacts); i++)
                free(c->contacts[i]);
        for (size_t i = 0; i < c->n_factors; i++)
                free(c->factors[i]);
        *c = (struct command) {};
}
