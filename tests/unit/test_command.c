/* Unit tests for command.c: the one parser every way in shares. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

static char err[256];

static int parse(const char *json, struct command *c) {
        err[0] = '\0';
        return command_parse(json, strlen(json), c, err, sizeof(err));
}

/* Parse JSON, expect failure with exactly MSG. */
static void expect_error(const char *json, const char *msg) {
        struct command c;
        assert_int_equal(parse(json, &c), -EINVAL);
        assert_string_equal(err, msg);
}

static void test_names(void **state) {
        for (int k = 0; k < _CMD_MAX; k++)
                assert_int_equal(command_from_name(command_name(k)), k);
        assert_int_equal(command_from_name("trgger"), -1);
        assert_int_equal(command_from_name(NULL), -1);
        assert_true(command_is_read_only(CMD_STATUS));
        assert_false(command_is_read_only(CMD_TRIGGER));
        assert_true(config_factor_id_ok("mental-illness"));
        assert_true(config_factor_id_ok("vold_2"));
        assert_false(config_factor_id_ok("Vold"));
        assert_false(config_factor_id_ok("2-vold"));
        assert_false(config_factor_id_ok("-vold"));
        assert_false(config_factor_id_ok(""));
        assert_false(config_factor_id_ok(NULL));
        assert_false(config_factor_id_ok("a.b"));
        assert_false(config_factor_id_ok("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 */
        assert_true(config_factor_id_ok("abcdefghijklmnopqrstuvwxyz012345"));
}

static void test_trigger_ok(void **state) {
        struct command c;
        assert_int_equal(parse("{\"cmd\":\"trigger\",\"chain\":\"kriseteam\",\"by\":\"kari\","
                               "\"message\":\"Brann på skolen.\\nMøt på rådhuset.\",\"drill\":true,\"id\":\"r-1\"}", &c), 0);
        assert_int_equal(c.kind, CMD_TRIGGER);
        assert_string_equal(c.chain, "kriseteam");
        assert_string_equal(c.by, "kari");
        assert_string_equal(c.message, "Brann på skolen.\nMøt på rådhuset.");
        assert_true(c.drill);
        assert_string_equal(c.request_id, "r-1");
        command_done(&c);
        assert_null(c.chain);
}

static void test_structure_errors(void **state) {
        expect_error("", "not valid JSON: '[' or '{' expected (at character 0)");
        expect_error("[1]", "expected a JSON object");
        expect_error("{}", "cmd: missing");
        expect_error("{\"cmd\":1}", "cmd: expected a string");
        expect_error("{\"cmd\":\"trgger\"}", "cmd: unknown command");
        expect_error("{\"cmd\":\"trigger\",\"by\":\"kari\"}", "chain: missing");
        expect_error("{\"cmd\":\"trigger\",\"chain\":\"k\",\"by\":\"kari\",\"colour\":1}",
                     "unknown field for trigger");
        expect_error("{\"cmd\":\"trigger\",\"chain\":5,\"by\":\"kari\"}", "chain: expected a string");
        expect_error("{\"cmd\":\"trigger\",\"chain\":\"\",\"by\":\"kari\"}", "chain: must not be empty");
        expect_error("{\"cmd\":\"trigger\",\"chain\":\"k\",\"by\":\"kari\",\"drill\":\"yes\"}",
                     "drill: expected true or false");
        expect_error("{\"cmd\":\"status\",\"cmd\":\"status\"}",
                     "not valid JSON: duplicate object key (at character 21)");
        expect_error("{\"cmd\":\"status\"} x", "not valid JSON: end of file expected (at character 18)");
}

static void test_hostile_input(void **state) {
        /* Path traversal in ids. */
        expect_error("{\"cmd\":\"case.close\",\"case\":\"../../etc/passwd\",\"by\":\"kari\"}",
                     "case: must be 1-64 letters, digits, '.', '_' or '-' (not starting with '.' or '-')");
        expect_error("{\"cmd\":\"case.close\",\"case\":\"..\",\"by\":\"kari\"}",
                     "case: must be 1-64 letters, digits, '.', '_' or '-' (not starting with '.' or '-')");
        /* CR/LF that could reach an e-mail header or an SMS. */
        expect_error("{\"cmd\":\"trigger\",\"chain\":\"k\",\"by\":\"kari\",\"message\":\"a\\r\\nBcc: x@y\"}",
                     "message: control characters are not allowed");
        expect_error("{\"cmd\":\"reply\",\"code\":\"4821\",\"email\":\"a@b\\r\\nX: y\",\"answer\":\"yes\"}",
                     "email: control characters are not allowed");
        /* NUL bytes and invalid UTF-8 never get past the JSON parser. */
        struct command c;
        assert_int_equal(parse("{\"cmd\":\"trigger\",\"chain\":\"k\\u0000x\",\"by\":\"kari\"}", &c), -EINVAL);
        assert_non_null(strstr(err, "not valid JSON"));
        const char bad_utf8[] = "{\"cmd\":\"trigger\",\"chain\":\"k\",\"by\":\"kari\",\"message\":\"\xc3\x28\"}";
        assert_int_equal(parse(bad_utf8, &c), -EINVAL);
        assert_non_null(strstr(err, "not valid JSON"));
        /* Deep nesting is refused by the parser, not by our stack. */
        char deep[5000];
        size_t n = 0;
        n += (size_t) snprintf(deep, sizeof(deep), "{\"cmd\":\"status\",\"x\":");
        for (int i = 0; i < 2100; i++)
                deep[n++] = '[';
        deep[n] = '\0';
        assert_int_equal(parse(deep, &c), -EINVAL);
        /* Oversize. */
        size_t big = COMMAND_MAX_LINE + 10;
        char *huge = malloc(big + 1);
        assert_non_null(huge);
        memset(huge, ' ', big);
        huge[big] = '\0';
        assert_int_equal(command_parse(huge, big, &c, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "command too long (65546 bytes, at most 65536)");
        free(huge);
        /* A message of 1,001 characters (æ is 2 bytes: count characters, not bytes). */
        char msg[4200] = "{\"cmd\":\"trigger\",\"chain\":\"k\",\"by\":\"kari\",\"message\":\"";
        for (int i = 0; i < 1001; i++)
                strcat(msg, "æ");
        strcat(msg, "\"}");
        expect_error(msg, "message: too long (1001 characters, at most 1000)");
}

static void test_reply(void **state) {
        struct command c;
        assert_int_equal(parse("{\"cmd\":\"reply\",\"code\":\"4821\",\"person\":\"kari\",\"answer\":\"ja\"}", &c), 0);
        assert_int_equal(c.answer, ANSWER_YES);
        assert_string_equal(c.code, "4821");
        command_done(&c);
        assert_int_equal(parse("{\"cmd\":\"reply\",\"activation\":\"a1\",\"phone\":\"+47 912 34 567\",\"answer\":\"no\"}", &c), 0);
        assert_int_equal(c.answer, ANSWER_NO);
        command_done(&c);
        expect_error("{\"cmd\":\"reply\",\"person\":\"kari\",\"answer\":\"yes\"}",
                     "code: missing (give the reply code or the activation)");
        expect_error("{\"cmd\":\"reply\",\"code\":\"4821\",\"answer\":\"yes\"}",
                     "person: give exactly one of person, phone or email");
        expect_error("{\"cmd\":\"reply\",\"code\":\"4821\",\"person\":\"kari\",\"email\":\"k@x.no\",\"answer\":\"yes\"}",
                     "person: give exactly one of person, phone or email");
        expect_error("{\"cmd\":\"reply\",\"code\":\"48a1\",\"person\":\"kari\",\"answer\":\"yes\"}", "code: must be digits");
        expect_error("{\"cmd\":\"reply\",\"code\":\"4821\",\"person\":\"kari\",\"answer\":\"kanskje\"}",
                     "answer: must be \"yes\" or \"no\" (or \"ja\"/\"nei\", any case)");
        /* JA/NEI/yes/no in any case, as people type them. */
        static const struct {
                const char *word;
                enum answer want;
        } words[] = { { "JA", ANSWER_YES },  { "Ja", ANSWER_YES },   { "jA", ANSWER_YES }, { "YES", ANSWER_YES },
                      { "Yes", ANSWER_YES }, { "NEI", ANSWER_NO },   { "Nei", ANSWER_NO }, { "NO", ANSWER_NO },
                      { "No", ANSWER_NO },   { "nO", ANSWER_NO } };
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
                char line[128];
                snprintf(line, sizeof(line), "{\"cmd\":\"reply\",\"code\":\"4821\",\"person\":\"kari\",\"answer\":\"%s\"}",
                         words[i].word);
                assert_int_equal(parse(line, &c), 0);
                assert_int_equal(c.answer, words[i].want);
                command_done(&c);
        }
        expect_error("{\"cmd\":\"reply\",\"code\":\"4821\",\"person\":\"kari\",\"answer\":\"jaa\"}",
                     "answer: must be \"yes\" or \"no\" (or \"ja\"/\"nei\", any case)");
        expect_error("{\"cmd\":\"reply\",\"code\":\"4821\",\"person\":\"kari\",\"answer\":\"\"}",
                     "answer: must be \"yes\" or \"no\" (or \"ja\"/\"nei\", any case)");
        expect_error("{\"cmd\":\"reply\",\"code\":\"4821\",\"phone\":\"ring meg\",\"answer\":\"yes\"}",
                     "phone: expected a phone number such as \"+4791234567\"");
}

static void test_case_commands(void **state) {
        struct command c;
        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-2041\",\"contacts\":[\"kari\",\"ola\"],\"level\":2,"
                               "\"factors\":[\"loneliness\",\"elderly\"],\"due\":\"2026-12-01\",\"children\":true}", &c), 0);
        assert_int_equal(c.n_contacts, 2);
        assert_string_equal(c.contacts[1], "ola");
        assert_int_equal(c.level, 2);
        assert_int_equal(c.n_factors, 2);
        assert_string_equal(c.factors[0], "loneliness");
        assert_string_equal(c.factors[1], "elderly");
        assert_false(c.factor_unknown);
        assert_true(c.has_due);
        assert_int_equal(c.due.y, 2026);
        assert_int_equal(c.due.m, 12);
        assert_int_equal(c.due.d, 1);
        assert_true(c.children);
        command_done(&c);

        expect_error("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[]}",
                     "contacts: expected a list of one or two person ids");
        expect_error("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\",\"b\",\"c\"]}",
                     "contacts: expected a list of one or two person ids");
        expect_error("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\",\"a\"]}", "contacts: the same person twice");
        /* Whether a factor is known is for command_validate() (the
         * vocabulary is the configuration's); the shape is checked here. */
        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\"],"
                               "\"factors\":[\"elderly\",\"Not an id!\",\"elderly\"]}", &c), 0);
        assert_int_equal(c.n_factors, 1); /* given twice: once */
        assert_true(c.factor_unknown);
        command_done(&c);
        assert_int_equal(c.n_factors, 0);
        expect_error("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\"],\"factors\":[\"elderly\",1]}",
                     "factors: expected a list of strings");
        expect_error("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\"],\"factors\":\"elderly\"}",
                     "factors: expected a list");
        expect_error("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\"],\"factors\":[\"f1\",\"f2\",\"f3\","
                     "\"f4\",\"f5\",\"f6\",\"f7\",\"f8\",\"f9\",\"f10\",\"f11\",\"f12\",\"f13\",\"f14\",\"f15\",\"f16\",\"f17\"]}",
                     "factors: at most 16");
        expect_error("{\"cmd\":\"case.checkin\",\"case\":\"K-1\",\"by\":\"kari\",\"outcome\":\"needs\",\"factors\":[]}",
                     "factors: unknown field for case.checkin");
        expect_error("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\"],\"due\":\"2027-02-29\"}",
                     "due: expected a date \"YYYY-MM-DD\"");
        expect_error("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\"],\"level\":0}", "level: must be between 1 and 9");
        /* The responsible contact person: an id; "" (none) in case.update only. */
        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\",\"b\"],\"responsible\":\"b\"}", &c), 0);
        assert_string_equal(c.responsible, "b");
        command_done(&c);
        expect_error("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"a\"],\"responsible\":\"\"}",
                     "responsible: must not be empty");
        assert_int_equal(parse("{\"cmd\":\"case.update\",\"case\":\"K-1\",\"responsible\":\"\"}", &c), 0);
        assert_int_equal(c.kind, CMD_CASE_UPDATE);
        assert_string_equal(c.responsible, "");
        command_done(&c);
        expect_error("{\"cmd\":\"case.update\",\"case\":\"K-1\"}", "responsible: missing");
        expect_error("{\"cmd\":\"case.update\",\"case\":\"K-1\",\"responsible\":\"a\",\"level\":2}",
                     "level: unknown field for case.update");

        assert_int_equal(parse("{\"cmd\":\"case.checkin\",\"case\":\"K-1\",\"by\":\"kari\",\"outcome\":\"no-needs\",\"in\":\"5d\"}", &c), 0);
        assert_int_equal(c.outcome, OUTCOME_NO_NEEDS);
        assert_true(c.next_in == 5 * USEC_PER_DAY);
        command_done(&c);
        expect_error("{\"cmd\":\"case.checkin\",\"case\":\"K-1\",\"by\":\"kari\",\"outcome\":\"fine\"}",
                     "outcome: must be one of no-needs, needs, worse, better, unreached");
        expect_error("{\"cmd\":\"case.checkin\",\"case\":\"K-1\",\"by\":\"kari\",\"outcome\":\"needs\",\"in\":\"5d\",\"next\":\"2026-12-01\"}",
                     "next: give at most one of next, in or postpone");
        expect_error("{\"cmd\":\"case.checkin\",\"case\":\"K-1\",\"by\":\"kari\",\"outcome\":\"needs\",\"in\":\"soon\"}",
                     "in: expected a duration such as \"5d\"");
        expect_error("{\"cmd\":\"show\"}", "activation: give exactly one of activation, code or case");
        /* show and report take the reply code, as reply does. */
        assert_int_equal(parse("{\"cmd\":\"show\",\"code\":\"4821\"}", &c), 0);
        assert_string_equal(c.code, "4821");
        command_done(&c);
        assert_int_equal(parse("{\"cmd\":\"report\",\"code\":\"4821\"}", &c), 0);
        assert_string_equal(c.code, "4821");
        command_done(&c);
        expect_error("{\"cmd\":\"show\",\"code\":\"4821\",\"activation\":\"a1\"}",
                     "activation: give exactly one of activation, code or case");
        expect_error("{\"cmd\":\"report\"}", "activation: give exactly one of activation or code");
        expect_error("{\"cmd\":\"report\",\"code\":\"4821\",\"activation\":\"a1\"}",
                     "activation: give exactly one of activation or code");
        expect_error("{\"cmd\":\"report\",\"code\":\"48x1\"}", "code: must be digits");
}

static void test_validate(void **state) {
        struct person people[] = {
                { .id = "kari", .name = "Kari Nordmann", .phone = "+4791234567" },
                { .id = "ola", .name = "Ola Nordmann", .email = "ola@kommune.no" },
        };
        struct chain chains[] = { { .id = "kriseteam" } };
        struct level levels[] = { { .level = 1 }, { .level = 2 } };
        struct config cfg = {
                .site = "test", .people = people, .n_people = 2, .chains = chains, .n_chains = 1,
                .followup = { .enabled = true, .levels = levels, .n_levels = 2 },
        };
        struct command c;

        assert_int_equal(parse("{\"cmd\":\"trigger\",\"chain\":\"kriseteam\",\"by\":\"kari\"}", &c), 0);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), 0);
        command_done(&c);

        assert_int_equal(parse("{\"cmd\":\"trigger\",\"chain\":\"brann\",\"by\":\"kari\"}", &c), 0);
        assert_true(command_validate(&c, &cfg, err, sizeof(err)) < 0);
        assert_string_equal(err, "chain: no such chain in the configuration");
        command_done(&c);

        assert_int_equal(parse("{\"cmd\":\"trigger\",\"chain\":\"kriseteam\",\"by\":\"per\"}", &c), 0);
        assert_true(command_validate(&c, &cfg, err, sizeof(err)) < 0);
        assert_string_equal(err, "by: no such person in the configuration");
        command_done(&c);

        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"kari\"],\"level\":3}", &c), 0);
        assert_true(command_validate(&c, &cfg, err, sizeof(err)) < 0);
        assert_string_equal(err, "level: must be between 1 and 2");
        command_done(&c);

        cfg.followup.enabled = false;
        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"kari\"]}", &c), 0);
        assert_true(command_validate(&c, &cfg, err, sizeof(err)) < 0);
        assert_string_equal(err, "cmd: follow-up is not configured (no followup section)");
        command_done(&c);
}

/* A configuration with the built-in factor vocabulary (as config_load()
 * gives when followup.factors is absent). */
static void default_factors(struct followup_conf *fc) {
        const struct factor *d = config_default_factors(&fc->n_factors);
        memcpy(fc->factors, d, fc->n_factors * sizeof(*d));
        fc->factors_default = true;
}

static void test_factors(void **state) {
        struct person people[] = { { .id = "kari", .name = "Kari Nordmann", .phone = "+4791234567" } };
        struct level levels[] = { { .level = 1 } };
        struct config cfg = {
                .site = "test", .people = people, .n_people = 1,
                .followup = { .enabled = true, .levels = levels, .n_levels = 1 },
        };
        struct command c;
        char small[64];

        default_factors(&cfg.followup);
        assert_int_equal(cfg.followup.n_factors, 11);
        assert_int_equal(config_factor_index(&cfg.followup, "violence"), 0);
        assert_int_equal(config_factor_index(&cfg.followup, "relative-burden"), 10);
        assert_int_equal(config_factor_index(&cfg.followup, "diagnosis"), -1);
        assert_int_equal(config_factor_index(&cfg.followup, NULL), -1);
        assert_string_equal(cfg.followup.factors[5].name, "Alvorlig syke smittede og pårørende");

        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"kari\"],"
                               "\"factors\":[\"loneliness\",\"refugee\"]}", &c), 0);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), 0);
        command_done(&c);

        /* An unknown factor: the error lists the valid ids, so that a case
         * system's export can be fixed from it alone. */
        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"kari\"],"
                               "\"factors\":[\"loneliness\",\"diagnosis\"]}", &c), 0);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "factors: unknown factor (valid: violence, mental-illness, substance-abuse, loneliness, "
                                 "refugee, severe-illness, health-personnel, quarantine, elderly, physical-illness, "
                                 "relative-burden)");
        /* ... as many as the buffer holds, never a cut id. */
        assert_int_equal(command_validate(&c, &cfg, small, sizeof(small)), -EINVAL);
        assert_string_equal(small, "factors: unknown factor (valid: violence, mental-illness, ...)");
        assert_int_equal(command_validate(&c, &cfg, small, 40), -EINVAL);
        assert_string_equal(small, "factors: unknown factor (valid: ...)");
        command_done(&c);
        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"kari\"],"
                               "\"factors\":[\"Vold!\"]}", &c), 0);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), -EINVAL);
        assert_true(strncmp(err, "factors: unknown factor (valid: violence, ", 42) == 0);
        command_done(&c);

        /* The municipality's own vocabulary replaces the built-in one. */
        cfg.followup.n_factors = 2;
        cfg.followup.factors_default = false;
        cfg.followup.factors[0] = (struct factor) { "vold", "Utsatt for vold", "" };
        cfg.followup.factors[1] = (struct factor) { "skole", "Skolefravær", "school absence" };
        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"kari\"],"
                               "\"factors\":[\"skole\"]}", &c), 0);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), 0);
        command_done(&c);
        assert_int_equal(parse("{\"cmd\":\"case.open\",\"case\":\"K-1\",\"contacts\":[\"kari\"],"
                               "\"factors\":[\"loneliness\"]}", &c), 0);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "factors: unknown factor (valid: vold, skole)");
        command_done(&c);
}

static void test_case_list(void **state) {
        struct person people[] = { { .id = "kari", .name = "Kari Nordmann", .phone = "+4791234567" } };
        struct level levels[] = { { .level = 1 } };
        struct config cfg = {
                .site = "test", .people = people, .n_people = 1,
                .followup = { .enabled = true, .levels = levels, .n_levels = 1 },
        };
        struct command c;

        assert_int_equal(command_from_name("case.list"), CMD_CASE_LIST);
        /* Case references are personal data: read-only commands are
         * refused on MQTT and in the drop folder (server_execute). */
        assert_true(command_is_read_only(CMD_CASE_LIST));

        assert_int_equal(parse("{\"cmd\":\"case.list\"}", &c), 0);
        assert_int_equal(c.kind, CMD_CASE_LIST);
        assert_int_equal(c.state, CASE_FILTER_OPEN);
        assert_null(c.contact);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), 0);
        command_done(&c);

        static const char *const states[] = { "open", "closed", "all" };
        for (int k = 0; k < 3; k++) {
                char json[96];
                snprintf(json, sizeof(json), "{\"cmd\":\"case.list\",\"state\":\"%s\",\"contact\":\"kari\"}", states[k]);
                assert_int_equal(parse(json, &c), 0);
                assert_int_equal(c.state, (enum case_filter) k);
                assert_string_equal(c.contact, "kari");
                assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), 0);
                command_done(&c);
        }
        expect_error("{\"cmd\":\"case.list\",\"state\":\"escalated\"}", "state: must be \"open\", \"closed\" or \"all\"");
        expect_error("{\"cmd\":\"case.list\",\"state\":1}", "state: must be \"open\", \"closed\" or \"all\"");
        expect_error("{\"cmd\":\"case.list\",\"case\":\"K-1\"}", "case: unknown field for case.list");
        expect_error("{\"cmd\":\"due\",\"state\":\"open\"}", "state: unknown field for due");

        assert_int_equal(parse("{\"cmd\":\"case.list\",\"contact\":\"per\"}", &c), 0);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "contact: no such person in the configuration");
        command_done(&c);

        cfg.followup.enabled = false;
        assert_int_equal(parse("{\"cmd\":\"case.list\"}", &c), 0);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "cmd: follow-up is not configured (no followup section)");
        command_done(&c);
}

static void test_id_is_safe(void **state) {
        assert_true(id_is_safe("K-2041"));
        assert_true(id_is_safe("kari.nordmann_2"));
        assert_false(id_is_safe(""));
        assert_false(id_is_safe(NULL));
        assert_false(id_is_safe(".hidden"));
        assert_false(id_is_safe("-rf"));
        assert_false(id_is_safe("a/b"));
        assert_false(id_is_safe("æøå"));
        char long_id[70];
        memset(long_id, 'a', 65);
        long_id[65] = '\0';
        assert_false(id_is_safe(long_id));
        long_id[64] = '\0';
        assert_true(id_is_safe(long_id));
}

static void test_preview(void **state) {
        struct command c;

        assert_int_equal(command_from_name("preview"), CMD_PREVIEW);
        assert_true(command_is_read_only(CMD_PREVIEW)); /* control socket only, no spool */
        assert_int_equal(parse("{\"cmd\":\"preview\",\"chain\":\"kriseteam\",\"message\":\"Møt – nå\",\"drill\":true}", &c), 0);
        assert_int_equal(c.kind, CMD_PREVIEW);
        assert_string_equal(c.chain, "kriseteam");
        assert_string_equal(c.message, "Møt – nå");
        assert_null(c.by); /* optional: when given, may_trigger is checked as for trigger */
        assert_true(c.drill);
        command_done(&c);
        expect_error("{\"cmd\":\"preview\",\"message\":\"x\"}", "chain: missing");
        expect_error("{\"cmd\":\"preview\",\"chain\":\"k\",\"code\":\"1234\"}", "code: unknown field for preview");
}

static void test_followup_reads(void **state) {
        struct person people[] = { { .id = "kari", .name = "Kari Nordmann", .phone = "+4791234567" } };
        struct level levels[] = { { .level = 1 } };
        struct config cfg = {
                .site = "test", .people = people, .n_people = 1,
                .followup = { .enabled = true, .levels = levels, .n_levels = 1 },
        };
        struct command c;

        assert_int_equal(command_from_name("due"), CMD_DUE);
        assert_int_equal(command_from_name("followup.summary"), CMD_FOLLOWUP_SUMMARY);
        assert_true(command_is_read_only(CMD_DUE));
        assert_true(command_is_read_only(CMD_FOLLOWUP_SUMMARY));

        assert_int_equal(parse("{\"cmd\":\"due\"}", &c), 0);
        assert_int_equal(c.kind, CMD_DUE);
        assert_false(c.overdue);
        assert_null(c.contact);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), 0);
        command_done(&c);

        assert_int_equal(parse("{\"cmd\":\"due\",\"overdue\":true,\"contact\":\"kari\",\"id\":\"q1\"}", &c), 0);
        assert_true(c.overdue);
        assert_string_equal(c.contact, "kari");
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), 0);
        command_done(&c);
        assert_null(c.contact);

        assert_int_equal(parse("{\"cmd\":\"due\",\"contact\":\"per\"}", &c), 0);
        assert_true(command_validate(&c, &cfg, err, sizeof(err)) < 0);
        assert_string_equal(err, "contact: no such person in the configuration");
        command_done(&c);

        expect_error("{\"cmd\":\"due\",\"overdue\":\"yes\"}", "overdue: expected true or false");
        expect_error("{\"cmd\":\"due\",\"contact\":\"../x\"}",
                     "contact: must be 1-64 letters, digits, '.', '_' or '-' (not starting with '.' or '-')");
        expect_error("{\"cmd\":\"due\",\"case\":\"K-1\"}", "case: unknown field for due");
        expect_error("{\"cmd\":\"followup.summary\",\"overdue\":true}", "overdue: unknown field for followup.summary");

        assert_int_equal(parse("{\"cmd\":\"followup.summary\"}", &c), 0);
        assert_int_equal(c.kind, CMD_FOLLOWUP_SUMMARY);
        assert_int_equal(command_validate(&c, &cfg, err, sizeof(err)), 0);
        cfg.followup.enabled = false;
        assert_true(command_validate(&c, &cfg, err, sizeof(err)) < 0);
        assert_string_equal(err, "cmd: follow-up is not configured (no followup section)");
        command_done(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_trigger_ok),
                cmocka_unit_test(test_structure_errors),
                cmocka_unit_test(test_hostile_input),
                cmocka_unit_test(test_reply),
                cmocka_unit_test(test_case_commands),
                cmocka_unit_test(test_validate),
                cmocka_unit_test(test_id_is_safe),
                cmocka_unit_test(test_followup_reads),
                cmocka_unit_test(test_preview),
                cmocka_unit_test(test_factors),
                cmocka_unit_test(test_case_list),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
