/* test_config.c - the configuration loader: good files load with the right
 * values, every kind of mistake gives exactly the expected "FILE:LINE: ..."
 * lines, and the small parsers behave at their edges. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "config.h"
#include "macro.h"
#include "test.h"

static char tmpdir[] = "/tmp/beredd-test-config-XXXXXX";

/* Load TEXT and assert that the errors are exactly EXPECTED (NULL-terminated,
 * each without the leading "FILE:"). */
static void expect_errors(const char *text, const char *const *expected) {
        _cleanup_free_ char *path = test_write_file(tmpdir, "t.conf", text, 0644);
        struct errlist errs = {};
        struct config *c;
        size_t n = 0;

        while (expected[n])
                n++;
        c = config_load(path, &errs);
        for (size_t i = 0; i < errs.n && i < n; i++) {
                _cleanup_free_ char *want = NULL;
                assert_true(asprintf(&want, "%s:%s", path, expected[i]) > 0);
                assert_string_equal(errs.v[i], want);
        }
        if (errs.n != n)
                for (size_t i = 0; i < errs.n; i++)
                        print_message("got: %s\n", errs.v[i]);
        assert_int_equal(errs.n, n);
        if (n > 0)
                assert_null(c);
        else
                assert_non_null(c);
        config_free(c);
        errlist_free(&errs);
}
#define EXPECT(text, ...) expect_errors((text), (const char *const[]) { __VA_ARGS__, NULL })
#define EXPECT_OK(text) expect_errors((text), (const char *const[]) { NULL })

/* Six lines every small test starts with; chains and the rest follow from line 7. */
#define BASE                                                                                                        \
        "site = \"t\";\n"                                                                                           \
        "people = (\n"                                                                                              \
        "  { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; email = \"kari@example.org\"; roles = [ \"leader\" ]; },\n" \
        "  { id = \"ola\"; name = \"Ola\"; phone = \"92345678\"; roles = [ \"member\" ]; }\n"                       \
        ");\n"                                                                                                      \
        "gateways = ( { id = \"out\"; type = \"file\"; } );\n"

#define CHAIN_OK                                                                                   \
        "chains = ( { id = \"k\"; need = { total = 2; };\n"                                        \
        "  steps = ( { notify = [ \"kari\", \"role:member\" ]; via = [ \"sms\" ]; wait = \"5m\"; },\n" \
        "            { notify = [ \"ola\" ]; final = true; } ); } );\n"

static const char *srcdir(void) {
        static char buf[4096];
        const char *e = getenv("top_srcdir"), *f = __FILE__, *tail = "tests/unit/test_config.c";
        size_t n = strlen(f), k = strlen(tail);

        if (e && *e)
                return e;
        /* automake compiles us as $(srcdir)/tests/unit/test_config.c */
        assert_true(n >= k && streq(f + n - k, tail));
        snprintf(buf, sizeof buf, "%.*s", (int) (n - k), f);
        if (!buf[0])
                strcpy(buf, ".");
        return buf;
}

/* ---- good files ---- */

static void test_base_loads(_unused_ void **state) {
        struct config *c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK);

        assert_string_equal(c->site, "t");
        /* defaults */
        assert_string_equal(c->timezone, "Europe/Oslo");
        assert_string_equal(c->spool, "/var/spool/beredd");
        assert_int_equal(c->lang, LANG_NB);
        assert_true(c->calendar.holidays_no);
        assert_int_equal(c->calendar.open_min[1], 8 * 60);
        assert_int_equal(c->calendar.close_min[5], 15 * 60 + 30);
        assert_int_equal(c->calendar.open_min[0], -1);
        assert_int_equal(c->calendar.open_min[6], -1);
        assert_false(c->followup.enabled);
        assert_false(c->mqtt.enabled);
        /* "92345678" is Norwegian */
        assert_string_equal(config_person(c, "ola")->phone, "+4792345678");
        assert_int_equal(config_gateway(c, "out")->channel, CHANNEL_ANY);
        assert_int_equal(config_chain(c, "k")->steps[1].via, CHANNEL_SMS);
        assert_string_equal(config_chain(c, "k")->name, "k");
        config_free(c);
}

static const char full_conf[] =
        "site = \"full\";\n"
        "timezone = \"Europe/Oslo\";\n"
        "spool = \"/srv/beredd\";\n"
        "language = \"en\";\n"
        "calendar: {\n"
        "  office_hours = \"Mon-Thu 08:00-15:30, Fri 08:00-15:00, Sat 10:00-12:00\";\n"
        "  holidays = \"none\";\n"
        "  closed = [ \"2026-12-24\", \"2028-02-29\" ];\n"
        "  heightened = ( { from = \"2026-12-18\"; to = \"2027-01-03\"; name = \"Jul\"; } );\n"
        "};\n"
        "people = (\n"
        "  { id = \"kari\"; name = \"Kari\"; phone = \"0047 912 34 567\"; email = \"Kari@Kommune.example\"; roles = [ \"leader\", \"member\" ]; lang = \"nb\"; },\n"
        "  { id = \"ola\"; name = \"Ola\"; phone = \"+46701234567\"; roles = [ \"member\" ]; },\n"
        "  { id = \"per\"; name = \"Per\"; email = \"per@kommune.example\"; roles = [ \"member\" ]; },\n"
        "  { id = \"lv\"; name = \"Legevakt\"; phone = \"73000000\"; roles = [ \"fallback\" ]; }\n"
        ");\n"
        "rosters = (\n"
        "  { id = \"vakt\"; rotation = \"weekly\"; handoff = \"Wed 07:30\"; members = [ \"ola\", \"per\" ]; },\n"
        "  { id = \"natt\"; rotation = \"daily\"; handoff = \"20:00\"; start = \"2026-03-01\"; members = [ \"kari\" ]; }\n"
        ");\n"
        "gateways = (\n"
        "  { id = \"sms\"; type = \"http\"; url = \"https://sms.example/send\"; body = \"to={{to}}\";\n"
        "    headers = [ \"X-Api:  abc\", \"Accept: */*\" ]; success = \"200-202\"; timeout = \"30s\"; retries = 5; method = \"GET\"; },\n"
        "  { id = \"mail\"; type = \"smtp\"; url = \"smtp://relay.example:587\"; from = \"team@kommune.example\"; },\n"
        "  { id = \"local\"; type = \"smtp\"; channel = \"email\"; url = \"smtp://localhost\"; from = \"team@localhost\"; }\n"
        ");\n"
        "chains = (\n"
        "  { id = \"kriseteam\"; name = \"Kriseteamet\"; may_trigger = [ \"kari\", \"role:fallback\" ];\n"
        "    need = { total = 3; roles = { leader = 1; member = 2; }; };\n"
        "    steps = (\n"
        "      { notify = [ \"role:leader\" ]; via = [ \"sms\", \"email\" ]; wait = \"1h30m\"; },\n"
        "      { notify = [ \"roster:vakt\", \"per\" ]; mode = \"sequential\"; wait = \"90s\"; when = \"outside-office\"; },\n"
        "      { notify = [ \"lv\" ]; final = true; template = \"unreachable\"; }\n"
        "    );\n"
        "    repeat = 2; }\n"
        ");\n"
        "followup: {\n"
        "  levels = ( { level = 1; name = \"lav\"; every = \"2w\"; }, { level = 2; name = \"hoy\"; every = \"2d\"; } );\n"
        "  remind = \"morning\"; overdue_after = \"12h\"; escalate_after = \"1d\"; coordinator = \"kari\";\n"
        "  heightened_factor = 0.5; unreached_max = 2;\n"
        "};\n"
        "mqtt: { tls = true; username = \"u\"; commands = [ \"trigger\", \"resolve\" ]; queue_size = 10;\n"
        "  homeassistant = true; trigger_identity = \"role:fallback\"; qos = 2; keepalive = 60; };\n";

static void test_full_config(_unused_ void **state) {
        struct config *c = test_config_from_text(tmpdir, "ok.conf", full_conf);
        const struct person *p;
        const struct roster *r;
        const struct gateway *g;
        const struct chain *ch;

        assert_string_equal(c->spool, "/srv/beredd");
        assert_int_equal(c->lang, LANG_EN);

        /* calendar */
        assert_false(c->calendar.holidays_no);
        assert_int_equal(c->calendar.open_min[4], 480);  /* Thu */
        assert_int_equal(c->calendar.close_min[4], 930);
        assert_int_equal(c->calendar.close_min[5], 900); /* Fri */
        assert_int_equal(c->calendar.open_min[6], 600);  /* Sat */
        assert_int_equal(c->calendar.close_min[6], 720);
        assert_int_equal(c->calendar.open_min[0], -1);   /* Sun */
        assert_int_equal(c->calendar.n_closed, 2);
        assert_int_equal(c->calendar.closed[1].y, 2028);
        assert_int_equal(c->calendar.closed[1].m, 2);
        assert_int_equal(c->calendar.closed[1].d, 29);
        assert_int_equal(c->calendar.n_heightened, 1);
        assert_string_equal(c->calendar.heightened[0].name, "Jul");
        assert_int_equal(c->calendar.heightened[0].to.y, 2027);
        assert_int_equal(c->calendar.heightened[0].line, 9);

        /* people */
        assert_int_equal(c->n_people, 4);
        p = config_person(c, "kari");
        assert_string_equal(p->phone, "+4791234567");
        assert_int_equal(p->lang, LANG_NB);
        assert_int_equal(p->n_roles, 2);
        assert_true(person_has_role(p, "member"));
        assert_false(person_has_role(p, "fallback"));
        assert_int_equal(p->line, 12);
        assert_string_equal(config_person(c, "ola")->phone, "+46701234567");
        assert_int_equal(config_person(c, "ola")->lang, LANG_EN); /* the top-level language */
        assert_null(config_person(c, "per")->phone);
        assert_string_equal(config_person(c, "lv")->phone, "+4773000000");
        assert_null(config_person(c, "nobody"));

        /* rosters */
        r = config_roster(c, "vakt");
        assert_int_equal(r->rotation, ROTATION_WEEKLY);
        assert_int_equal(r->handoff_wday, 3);
        assert_int_equal(r->handoff_min, 7 * 60 + 30);
        assert_int_equal(r->n_members, 2);
        assert_string_equal(r->members[1], "per");
        assert_int_equal(r->start.y, 2026);
        assert_int_equal(r->start.m, 1);
        assert_int_equal(r->start.d, 5);
        r = config_roster(c, "natt");
        assert_int_equal(r->rotation, ROTATION_DAILY);
        assert_int_equal(r->handoff_wday, -1);
        assert_int_equal(r->handoff_min, 20 * 60);
        assert_int_equal(r->start.m, 3);

        /* gateways */
        g = config_gateway(c, "sms");
        assert_int_equal(g->type, GATEWAY_HTTP);
        assert_int_equal(g->channel, CHANNEL_SMS);
        assert_string_equal(g->method, "GET");
        assert_string_equal(g->content_type, "application/x-www-form-urlencoded");
        assert_int_equal(g->n_headers, 2);
        assert_string_equal(g->headers[0].name, "X-Api");
        assert_string_equal(g->headers[0].value, "abc");
        assert_string_equal(g->headers[1].value, "*/*");
        assert_int_equal(g->success_min, 200);
        assert_int_equal(g->success_max, 202);
        assert_int_equal(g->timeout, 30 * USEC_PER_SEC);
        assert_int_equal(g->retries, 5);
        assert_null(g->password);
        g = config_gateway(c, "mail");
        assert_int_equal(g->channel, CHANNEL_EMAIL);
        assert_true(g->starttls);
        assert_int_equal(g->timeout, 10 * USEC_PER_SEC);
        assert_int_equal(g->retries, 3);
        assert_false(config_gateway(c, "local")->starttls);
        assert_string_equal(gateway_type_name(g->type), "smtp");

        /* chains */
        ch = config_chain(c, "kriseteam");
        assert_string_equal(ch->name, "Kriseteamet");
        assert_int_equal(ch->n_may_trigger, 2);
        assert_int_equal(ch->may_trigger[1].kind, TARGET_ROLE);
        assert_string_equal(ch->may_trigger[1].ref, "fallback");
        assert_int_equal(ch->need_total, 3);
        assert_int_equal(ch->n_need_roles, 2);
        assert_string_equal(ch->need_roles[1].role, "member");
        assert_int_equal(ch->need_roles[1].n, 2);
        assert_int_equal(ch->n_steps, 3);
        assert_int_equal(ch->steps[0].via, CHANNEL_SMS | CHANNEL_EMAIL);
        assert_int_equal(ch->steps[0].wait, USEC_PER_HOUR + 30 * USEC_PER_MIN);
        assert_int_equal(ch->steps[0].mode, STEP_PARALLEL);
        assert_null(ch->steps[0].template);
        assert_int_equal(ch->steps[1].targets[0].kind, TARGET_ROSTER);
        assert_string_equal(ch->steps[1].targets[0].ref, "vakt");
        assert_int_equal(ch->steps[1].targets[1].kind, TARGET_PERSON);
        assert_int_equal(ch->steps[1].mode, STEP_SEQUENTIAL);
        assert_int_equal(ch->steps[1].when, WHEN_OUTSIDE_OFFICE);
        assert_int_equal(ch->steps[1].wait, 90 * USEC_PER_SEC);
        assert_true(ch->steps[2].final);
        assert_string_equal(ch->steps[2].template, "unreachable");
        assert_int_equal(ch->repeat, 2);
        assert_int_equal(ch->line, 28);

        /* followup */
        assert_true(c->followup.enabled);
        assert_int_equal(c->followup.n_levels, 2);
        assert_int_equal(c->followup.levels[0].every, 14 * USEC_PER_DAY);
        assert_string_equal(c->followup.levels[1].name, "hoy");
        assert_int_equal(c->followup.remind, REMIND_MORNING);
        assert_int_equal(c->followup.overdue_after, 12 * USEC_PER_HOUR);
        assert_int_equal(c->followup.escalate_after, USEC_PER_DAY);
        assert_int_equal(c->followup.retention, 90 * USEC_PER_DAY);
        assert_string_equal(c->followup.coordinator, "kari");
        assert_true(c->followup.heightened_factor == 0.5);
        assert_int_equal(c->followup.unreached_max, 2);

        /* mqtt: defaults derived from the site and tls */
        assert_true(c->mqtt.enabled);
        assert_string_equal(c->mqtt.host, "localhost");
        assert_int_equal(c->mqtt.port, 8883);
        assert_string_equal(c->mqtt.base, "beredd/full");
        assert_string_equal(c->mqtt.client_id, "beredd-full");
        assert_int_equal(c->mqtt.qos, 2);
        assert_int_equal(c->mqtt.keepalive, 60);
        assert_int_equal(c->mqtt.commands, (1u << CMD_TRIGGER) | (1u << CMD_RESOLVE));
        assert_int_equal(c->mqtt.queue_size, 10);
        assert_true(c->mqtt.homeassistant);
        assert_string_equal(c->mqtt.trigger_identity, "role:fallback");
        assert_null(c->mqtt.password);

        /* contacts: any Norwegian form of the number, e-mail in any case */
        assert_ptr_equal(config_person_by_contact(c, "91234567"), config_person(c, "kari"));
        assert_ptr_equal(config_person_by_contact(c, "+47 912 34 567"), config_person(c, "kari"));
        assert_ptr_equal(config_person_by_contact(c, "004791234567"), config_person(c, "kari"));
        assert_ptr_equal(config_person_by_contact(c, "kari@KOMMUNE.example"), config_person(c, "kari"));
        assert_ptr_equal(config_person_by_contact(c, "PER@kommune.example"), config_person(c, "per"));
        assert_null(config_person_by_contact(c, "99999999"));
        assert_null(config_person_by_contact(c, "not a number"));
        assert_null(config_person_by_contact(c, "x@kommune.example"));
        config_free(c);
}

static void test_mqtt_defaults(_unused_ void **state) {
        struct config *c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK "mqtt: { };\n");

        assert_true(c->mqtt.enabled);
        assert_string_equal(c->mqtt.host, "localhost");
        assert_int_equal(c->mqtt.port, 1883);
        assert_int_equal(c->mqtt.qos, 1);
        assert_int_equal(c->mqtt.keepalive, 30);
        assert_int_equal(c->mqtt.queue_size, 1000);
        assert_int_equal(c->mqtt.commands, 0); /* read-only unless opened */
        assert_true(c->mqtt.drill_only);
        assert_false(c->mqtt.tls);
        assert_null(c->mqtt.trigger_identity);
        config_free(c);
}

static void test_demo_conf(_unused_ void **state) {
        _cleanup_free_ char *path = NULL;
        struct errlist errs = {};
        struct config *c;
        const struct chain *ch;

        assert_true(asprintf(&path, "%s/conf/demo.conf", srcdir()) > 0);
        c = config_load(path, &errs);
        for (size_t i = 0; i < errs.n; i++)
                print_message("%s\n", errs.v[i]);
        assert_int_equal(errs.n, 0);
        assert_non_null(c);

        assert_string_equal(c->site, "demo");
        assert_string_equal(c->spool, "/var/tmp/beredd-demo");
        assert_int_equal(c->n_gateways, 1);
        assert_int_equal(c->gateways[0].type, GATEWAY_FILE);
        assert_int_equal(c->gateways[0].channel, CHANNEL_ANY);
        assert_true(c->n_people >= 4 && c->n_people <= 5);
        ch = config_chain(c, "kriseteam");
        assert_non_null(ch);
        assert_int_equal(ch->n_steps, 3);
        assert_int_equal(ch->steps[0].via, CHANNEL_SMS | CHANNEL_EMAIL);
        assert_int_equal(ch->steps[0].mode, STEP_PARALLEL);
        assert_int_equal(ch->steps[0].wait, 20 * USEC_PER_SEC);
        assert_int_equal(ch->steps[1].mode, STEP_SEQUENTIAL);
        assert_int_equal(ch->steps[1].wait, 10 * USEC_PER_SEC);
        assert_true(ch->steps[2].final);
        assert_true(c->followup.enabled);
        assert_true(c->mqtt.enabled);
        assert_string_equal(c->mqtt.host, "localhost");
        assert_int_equal(c->mqtt.port, 18830);
        assert_string_equal(c->mqtt.base, "beredd/demo");
        for (size_t i = 0; i < c->n_people; i++)
                assert_true(!c->people[i].email || strstr(c->people[i].email, "@example.org"));
        config_free(c);
        errlist_free(&errs);
}

static void test_example_conf_with_credentials(_unused_ void **state) {
        static const char *const secrets[] = { "sms-main.token", "sms-backup.password", "sms-backup.inbound", "mail.password",
                                                "mqtt.password" };
        char creds[] = "/tmp/beredd-test-creds-XXXXXX";
        _cleanup_free_ char *path = NULL;
        struct errlist errs = {};
        struct config *c;

        assert_non_null(mkdtemp(creds));
        for (size_t i = 0; i < ELEMENTSOF(secrets); i++)
                free(test_write_file(creds, secrets[i], "dummy-secret\n", 0600));
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);

        assert_true(asprintf(&path, "%s/conf/beredd.conf", srcdir()) > 0);
        c = config_load(path, &errs);
        for (size_t i = 0; i < errs.n; i++)
                print_message("%s\n", errs.v[i]);
        assert_int_equal(errs.n, 0);
        assert_non_null(c);
        assert_string_equal(c->site, "trondheim");
        assert_string_equal(config_gateway(c, "sms-main")->password, "dummy-secret");
        assert_string_equal(config_gateway(c, "sms-main")->url, "https://api.twilio.com");
        assert_string_equal(config_gateway(c, "mail")->password, "dummy-secret");
        assert_string_equal(c->mqtt.password, "dummy-secret");
        assert_string_equal(config_person(c, "kari")->phone, "+4791234567");
        assert_non_null(config_roster(c, "vakt"));
        assert_true(config_chain(c, "kriseteam")->steps[config_chain(c, "kriseteam")->n_steps - 1].final);
        config_free(c);
        errlist_free(&errs);

        assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
        for (size_t i = 0; i < ELEMENTSOF(secrets); i++) {
                _cleanup_free_ char *p = NULL;
                assert_true(asprintf(&p, "%s/%s", creds, secrets[i]) > 0);
                assert_int_equal(unlink(p), 0);
        }
        assert_int_equal(rmdir(creds), 0);
}

/* ---- one kind of mistake at a time ---- */

static void test_unknown_keys(_unused_ void **state) {
        EXPECT(BASE CHAIN_OK "colour = \"blue\";\n",
               "10: unknown setting \"colour\"");
        EXPECT(BASE CHAIN_OK "calendar: { office_hours = \"Mon-Fri 08:00-15:30\"; holiday = \"no\"; };\n",
               "10: unknown setting \"holiday\" in calendar");
        EXPECT("site = \"t\";\n"
               "people = (\n"
               "  { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; },\n"
               "  { id = \"ola\"; name = \"Ola\";\n"
               "    phnoe = \"92345678\"; email = \"ola@example.org\"; }\n"
               ");\n",
               "5: unknown setting \"phnoe\" in people[1]");
        EXPECT(BASE
               "chains = ( { id = \"k\";\n"
               "  steps = ( { notify = [ \"kari\" ]; wiat = \"5m\"; wait = \"5m\"; } ); } );\n",
               "8: unknown setting \"wiat\" in chains[0].steps[0]");
}

static void test_wrong_types(_unused_ void **state) {
        EXPECT("site = 5;\n", "1: site: expected a string");
        EXPECT(BASE CHAIN_OK "mqtt: { port = \"1883\"; tls = \"yes\"; };\n",
               "10: mqtt.tls: expected true or false",
               "10: mqtt.port: expected an integer");
        EXPECT(BASE CHAIN_OK "calendar = \"Mon-Fri\";\n",
               "10: calendar: expected a group { ... }");
        EXPECT("site = \"t\";\n"
               "people = ( { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; roles = \"leader\"; } );\n",
               "2: people[0].roles: expected a list of strings, e.g. [ \"a\", \"b\" ]");
}

static void test_missing_required(_unused_ void **state) {
        EXPECT("site = \"t\";\n"
               "people = (\n"
               "  { name = \"Kari\"; phone = \"+4791234567\"; }\n"
               ");\n",
               "3: people[0]: missing required setting \"id\"");
        EXPECT("site = \"t\";\n"
               "people = ( { id = \"kari\"; name = \"Kari\"; } );\n",
               "2: people[0]: needs a phone or an email");
        EXPECT("people = ( );\n", "0: missing required setting \"site\"");
        EXPECT(BASE
               "chains = ( { id = \"k\";\n"
               "  steps = ( { notify = [ \"kari\" ]; },\n"
               "            { notify = [ \"ola\" ]; final = true; } ); } );\n",
               "8: chains[0].steps[0]: missing required setting \"wait\"");
}

static void test_bad_duration(_unused_ void **state) {
        EXPECT(BASE
               "chains = ( { id = \"k\";\n"
               "  steps = ( { notify = [ \"kari\" ]; wait = \"5m\"; },\n"
               "            { notify = [ \"ola\" ];\n"
               "              wait = \"5 minutes\"; } ); } );\n",
               "10: chains[0].steps[1].wait: bad duration \"5 minutes\" (use e.g. \"90s\", \"5m\", \"1h30m\", \"14d\")");
}

#define FOLLOWUP_LEVELS "  levels = ( { level = 1; name = \"lav\"; every = \"14d\"; } ); coordinator = \"kari\";\n"

/* followup.factors: the municipality's vocabulary, else the built-in one. */
static void test_followup_factors(_unused_ void **state) {
        struct config *c = test_config_from_text(tmpdir, "ok.conf", BASE "followup: {\n" FOLLOWUP_LEVELS "};\n");
        const struct followup_conf *fc = &c->followup;
        static const char *const ids[] = { "violence", "mental-illness", "substance-abuse", "loneliness", "refugee",
                                           "severe-illness", "health-personnel", "quarantine", "elderly",
                                           "physical-illness", "relative-burden" };
        static const char *const names[] = { "Utsatt for vold", "Psykisk sykdom", "Rusproblemer", "Ensomhet", "Flyktninger",
                                             "Alvorlig syke smittede og pårørende", "Helsepersonell",
                                             "Karantene eller isolasjon", "Eldre", "Somatisk sykdom",
                                             "Pårørende med økt belastning" };
        assert_true(fc->factors_default);
        assert_int_equal(fc->n_factors, ELEMENTSOF(ids));
        for (size_t k = 0; k < ELEMENTSOF(ids); k++) {
                assert_string_equal(fc->factors[k].id, ids[k]);
                assert_string_equal(fc->factors[k].name, names[k]);
                assert_true(fc->factors[k].name_en[0]);
                assert_int_equal(config_factor_index(fc, ids[k]), (int) k);
        }
        config_free(c);

        /* No followup section: the built-in vocabulary all the same. */
        c = test_config_from_text(tmpdir, "ok.conf", BASE);
        assert_false(c->followup.enabled);
        assert_int_equal(c->followup.n_factors, ELEMENTSOF(ids));
        config_free(c);

        c = test_config_from_text(tmpdir, "ok.conf", BASE "followup: {\n" FOLLOWUP_LEVELS
                                  "  factors = ( { id = \"vold\"; name = \"Utsatt for vold\"; },\n"
                                  "              { id = \"skolefravaer\"; name = \"Skolefravær\"; name_en = \"school absence\"; },\n"
                                  "              { id = \"loneliness\"; name = \"Ensomhet\"; } );\n"
                                  "};\n");
        fc = &c->followup;
        assert_false(fc->factors_default);
        assert_int_equal(fc->n_factors, 3);
        assert_string_equal(fc->factors[0].id, "vold");
        assert_string_equal(fc->factors[0].name, "Utsatt for vold");
        assert_string_equal(fc->factors[0].name_en, "");
        assert_string_equal(fc->factors[1].name, "Skolefravær");
        assert_string_equal(fc->factors[1].name_en, "school absence");
        assert_int_equal(config_factor_index(fc, "loneliness"), 2);
        assert_int_equal(config_factor_index(fc, "violence"), -1);
        config_free(c);

        /* Sixteen is the most a case's index entry holds. */
        char text[4096];
        int n = snprintf(text, sizeof(text), "%s", BASE "followup: {\n" FOLLOWUP_LEVELS "  factors = (");
        for (int k = 0; k < FACTORS_MAX; k++)
                n += snprintf(text + n, sizeof(text) - (size_t) n, "%s{ id = \"f%d\"; name = \"F %d\"; }", k ? ", " : "", k, k);
        snprintf(text + n, sizeof(text) - (size_t) n, " );\n};\n");
        c = test_config_from_text(tmpdir, "ok.conf", text);
        assert_int_equal(c->followup.n_factors, FACTORS_MAX);
        config_free(c);
}

static void test_followup_factor_errors(_unused_ void **state) {
        EXPECT(BASE "followup: {\n" FOLLOWUP_LEVELS
               "  factors = ( { id = \"vold\"; name = \"Utsatt for vold\"; },\n"
               "              { id = \"Rus\"; name = \"Rusproblemer\"; },\n"
               "              { id = \"ensomhet\"; },\n"
               "              { id = \"2fa\"; name = \"x\"; },\n"
               "              { id = \"eldre\"; name = \"\"; navn = \"Eldre\"; },\n"
               "              { name = \"Flyktninger\"; },\n"
               "              { id = \"vold\";\n"
               "                name = \"Vold igjen\"; } );\n"
               "};\n",
               "10: followup.factors[1].id: bad id \"Rus\" (use 1-32 lowercase letters, digits, '-' and '_', starting with a letter)",
               "11: followup.factors[2]: missing required setting \"name\"",
               "12: followup.factors[3].id: bad id \"2fa\" (use 1-32 lowercase letters, digits, '-' and '_', starting with a letter)",
               "13: unknown setting \"navn\" in followup.factors[4]",
               "13: followup.factors[4].name: must not be empty",
               "14: followup.factors[5]: missing required setting \"id\"",
               "15: followup.factors[6].id: duplicate id \"vold\" (first defined at line 9)");
        EXPECT(BASE "followup: {\n" FOLLOWUP_LEVELS "  factors = ();\n};\n",
               "9: followup.factors: needs at least one factor (leave the setting out for the built-in ones)");
        EXPECT(BASE "followup: {\n" FOLLOWUP_LEVELS "  factors = [ \"vold\" ];\n};\n",
               "9: followup.factors: expected a list of groups, e.g. ( { ... }, { ... } )");
        char text[4096];
        int n = snprintf(text, sizeof(text), "%s", BASE "followup: {\n" FOLLOWUP_LEVELS "  factors = (");
        for (int k = 0; k <= FACTORS_MAX; k++)
                n += snprintf(text + n, sizeof(text) - (size_t) n, "%s{ id = \"f%d\"; name = \"F %d\"; }", k ? ", " : "", k, k);
        snprintf(text + n, sizeof(text) - (size_t) n, " );\n};\n");
        EXPECT(text, "9: followup.factors: at most 16 factors (17 given)");
        /* case.list lists case references: never over MQTT. */
        EXPECT(BASE "mqtt: { commands = [ \"case.list\" ]; };\n",
               "7: mqtt.commands: \"case.list\" is read-only and accepted on the control socket only");
}

static void test_duplicate_id(_unused_ void **state) {
        EXPECT("site = \"t\";\n"
               "people = (\n"
               "  { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; },\n"
               "  { id = \"ola\"; name = \"Ola\"; phone = \"92345678\"; },\n"
               "  { name = \"Kari 2\"; phone = \"93456789\";\n"
               "    id = \"kari\"; }\n"
               ");\n",
               "6: people[2].id: duplicate id \"kari\" (first defined at line 3)");
}

static void test_unknown_references(_unused_ void **state) {
        EXPECT(BASE
               "rosters = ( { id = \"vakt\"; rotation = \"weekly\"; handoff = \"Mon 08:00\"; members = [ \"kari\", \"per\" ]; } );\n"
               "chains = ( { id = \"k\"; may_trigger = [ \"role:police\" ];\n"
               "  steps = ( { notify = [ \"kari\", \"per\", \"role:prest\", \"roster:vakt2\" ]; wait = \"5m\"; } ); } );\n"
               "followup: { levels = ( { level = 1; name = \"lav\"; every = \"14d\"; } ); coordinator = \"per\"; };\n"
               "mqtt: { trigger_identity = \"nobody\"; };\n",
               "7: rosters[0].members: unknown person \"per\"",
               "8: chains[0].may_trigger: unknown role \"police\"",
               "9: chains[0].steps[0].notify: unknown person \"per\"",
               "9: chains[0].steps[0].notify: unknown role \"prest\"",
               "9: chains[0].steps[0].notify: unknown roster \"vakt2\"",
               "10: followup.coordinator: unknown person \"per\"",
               "11: mqtt.trigger_identity: unknown person \"nobody\"");
}

static void test_unreachable_quorum(_unused_ void **state) {
        EXPECT(BASE
               "chains = ( { id = \"k\";\n"
               "  need = { total = 5; };\n"
               "  steps = ( { notify = [ \"kari\", \"role:member\" ]; wait = \"5m\"; },\n"
               "            { notify = [ \"ola\", \"kari\" ]; final = true; } ); } );\n",
               "8: chains[0].need: quorum cannot be reached: total = 5 but the chain's steps reach only 2 people");
        /* The final step does not count: it hands over, it does not mobilise. */
        EXPECT(BASE
               "chains = ( { id = \"k\";\n"
               "  need = { total = 1;\n"
               "    roles = { leader = 1; member = 1; }; };\n"
               "  steps = ( { notify = [ \"kari\" ]; wait = \"5m\"; },\n"
               "            { notify = [ \"ola\" ]; final = true; } ); } );\n",
               "9: chains[0].need: quorum cannot be reached: need.roles.member = 1 but only 0 people with role \"member\" are reachable");
        EXPECT(BASE
               "chains = ( { id = \"k\";\n"
               "  need = { roles = { leader = 2; }; };\n"
               "  steps = ( { notify = [ \"kari\", \"ola\" ]; wait = \"5m\"; } ); } );\n",
               "8: chains[0].need: quorum cannot be reached: need.roles.leader = 2 but only 1 person with role \"leader\" is reachable");
        /* roster members are reachable too */
        EXPECT_OK(BASE
                  "rosters = ( { id = \"v\"; rotation = \"daily\"; handoff = \"08:00\"; members = [ \"ola\" ]; } );\n"
                  "chains = ( { id = \"k\"; need = { total = 2; };\n"
                  "  steps = ( { notify = [ \"kari\" ]; wait = \"5m\"; }, { notify = [ \"roster:v\" ]; wait = \"5m\"; } ); } );\n");
}

static void test_bad_phone_and_email(_unused_ void **state) {
        EXPECT("site = \"t\";\n"
               "people = (\n"
               "  { id = \"kari\"; name = \"Kari\"; phone = \"1234567\"; },\n"
               "  { id = \"ola\"; name = \"Ola\"; phone = \"+47 9123 456\"; },\n"
               "  { id = \"per\"; name = \"Per\"; phone = \"91-23-45-67\"; },\n"
               "  { id = \"ida\"; name = \"Ida\"; email = \"ida@a@b\"; },\n"
               "  { id = \"ane\"; name = \"Ane\"; email = \"ane @b.no\"; }\n"
               ");\n",
               "3: people[0].phone: bad phone number (use \"+4791234567\", \"004791234567\" or 8 digits)",
               "4: people[1].phone: bad phone number (use \"+4791234567\", \"004791234567\" or 8 digits)",
               "5: people[2].phone: bad phone number (use \"+4791234567\", \"004791234567\" or 8 digits)",
               "6: people[3].email: bad e-mail address",
               "7: people[4].email: bad e-mail address");
        EXPECT("site = \"t\";\n"
               "people = (\n"
               "  { id = \"kari\"; name = \"Kari\"; phone = \"91234567\"; },\n"
               "  { id = \"ola\"; name = \"Ola\"; phone = \"+4791234567\"; }\n"
               ");\n",
               "4: people[1].phone: the same number as the phone of \"kari\"");
}

static void test_smtp_helo(_unused_ void **state) {
        struct config *c = test_config_from_text(tmpdir, "ok.conf", "site = \"t\";\n"
                                   "gateways = (\n"
                                   "  { id = \"m1\"; type = \"smtp\"; url = \"smtp://mx.kommune.no:587\"; from = \"k@kommune.no\";\n"
                                   "    helo = \"beredd.kommune.no\"; },\n"
                                   "  { id = \"m2\"; type = \"smtp\"; url = \"smtp://mx.kommune.no/vm.kommune.no\"; from = \"k@kommune.no\"; },\n"
                                   "  { id = \"m3\"; type = \"smtp\"; url = \"smtp://mx.kommune.no\"; from = \"k@kommune.no\"; helo = \"[192.0.2.1]\"; }\n"
                                   ");\n");
        assert_string_equal(config_gateway(c, "m1")->helo, "beredd.kommune.no");
        assert_null(config_gateway(c, "m2")->helo); /* the url's path is the name, as libcurl sends it */
        assert_string_equal(config_gateway(c, "m3")->helo, "[192.0.2.1]");
        config_free(c);

        EXPECT("site = \"t\";\n"
               "gateways = (\n"
               "  { id = \"m1\"; type = \"smtp\"; url = \"smtp://mx\"; from = \"k@kommune.no\"; helo = \"vm_1.kommune.no\"; },\n"
               "  { id = \"m2\"; type = \"smtp\"; url = \"smtp://mx/x.no\"; from = \"k@kommune.no\"; helo = \"beredd.kommune.no\"; },\n"
               "  { id = \"f\"; type = \"file\"; helo = \"beredd.kommune.no\"; },\n"
               "  { id = \"m3\"; type = \"smtp\"; url = \"smtp://mx\"; from = \"k@kommune.no\"; helo = \"-a.no\"; },\n"
               "  { id = \"m4\"; type = \"smtp\"; url = \"smtp://mx\"; from = \"k@kommune.no\"; helo = \"[300.1.1.1]\"; }\n"
               ");\n",
               "3: gateways[0].helo: not a host name for EHLO (use the fully qualified name of this "
               "machine, e.g. \"beredd.kommune.no\")",
               "4: gateways[1].helo: set the EHLO name either here or as the path of url, not both",
               "5: gateways[2].helo: only an smtp gateway has a helo name",
               "6: gateways[3].helo: not a host name for EHLO (use the fully qualified name of this "
               "machine, e.g. \"beredd.kommune.no\")",
               "7: gateways[4].helo: not a host name for EHLO (use the fully qualified name of this "
               "machine, e.g. \"beredd.kommune.no\")");

        assert_true(config_helo_ok("vm"));
        assert_true(config_helo_ok("beredd.kommune.no"));
        assert_true(config_helo_ok("[IPv6:2001:db8::1]"));
        assert_false(config_helo_ok(""));
        assert_false(config_helo_ok("a..no"));
        assert_false(config_helo_ok("a.no."));
        assert_false(config_helo_ok("a-.no"));
        assert_false(config_helo_ok("[IPv6:1.2.3.4]"));
        assert_false(config_helo_ok("a b"));
        assert_false(config_helo_ok("a/b"));
}

static void test_via_without_gateway(_unused_ void **state) {
        EXPECT("site = \"t\";\n"
               "people = ( { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; email = \"kari@example.org\"; } );\n"
               "gateways = ( { id = \"sms\"; type = \"http\"; url = \"https://sms.example/\"; body = \"b\"; } );\n"
               "chains = ( { id = \"k\";\n"
               "  steps = ( { notify = [ \"kari\" ]; wait = \"5m\"; },\n"
               "            { notify = [ \"kari\" ]; via = [ \"sms\", \"email\" ]; wait = \"5m\"; } ); } );\n",
               "6: chains[0].steps[1].via: no gateway for channel \"email\"");
        /* the default via is sms */
        EXPECT("site = \"t\";\n"
               "people = ( { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; } );\n"
               "chains = ( { id = \"k\";\n"
               "  steps = ( { notify = [ \"kari\" ]; wait = \"5m\"; } ); } );\n",
               "4: chains[0].steps[0]: no gateway for channel \"sms\"");
}

static void test_final_step_not_last(_unused_ void **state) {
        EXPECT(BASE
               "chains = ( { id = \"k\";\n"
               "  steps = ( { notify = [ \"ola\" ]; final = true; },\n"
               "            { notify = [ \"kari\" ]; wait = \"5m\"; } ); } );\n",
               "8: chains[0].steps[0].final: the final step must be the last step");
}

static void test_syntax_error(_unused_ void **state) {
        EXPECT("site = \"t\";\n"
               "people = (\n"
               "  { id = \"a\";; }\n"
               ");\n",
               "3: syntax error");
}

static void test_missing_file(_unused_ void **state) {
        struct errlist errs = {};

        assert_null(config_load("/nonexistent/beredd.conf", &errs));
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.v[0], "/nonexistent/beredd.conf:0: cannot read: No such file or directory");
        errlist_free(&errs);
}

static void test_five_mistakes(_unused_ void **state) {
        EXPECT("site = \"t\";\n"
               "timezone = \"Mars/Olympus\";\n"
               "people = (\n"
               "  { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; roles = [ \"leader\" ]; },\n"
               "  { id = \"ola\"; name = \"Ola\"; phone = \"12\"; roles = [ \"member\" ]; }\n"
               ");\n"
               "gateways = ( { id = \"out\"; type = \"file\"; retries = 11; } );\n"
               "chains = ( { id = \"k\";\n"
               "  steps = ( { notify = [ \"kari\", \"ola\" ]; wait = \"5\"; } ); } );\n"
               "mqtt: { qos = 1; colour = \"red\"; };\n",
               "2: timezone: unknown time zone \"Mars/Olympus\" (no /usr/share/zoneinfo/Mars/Olympus)",
               "5: people[1].phone: bad phone number (use \"+4791234567\", \"004791234567\" or 8 digits)",
               "7: gateways[0].retries: 11 is out of range (1..10)",
               "9: chains[0].steps[0].wait: bad duration \"5\" (use e.g. \"90s\", \"5m\", \"1h30m\", \"14d\")",
               "10: unknown setting \"colour\" in mqtt");
}

static void test_max_segments(_unused_ void **state) {
        struct config *c;

        /* default 3; the smallest of the SMS gateways counts (failover) */
        c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK);
        assert_int_equal(config_gateway(c, "out")->max_segments, 3);
        assert_int_equal(config_sms_max_segments(c), 3);
        config_free(c);
        c = test_config_from_text(tmpdir, "ok.conf", "site = \"t\";\n"
                    "gateways = ( { id = \"a\"; type = \"file\"; max_segments = 10; },\n"
                    "  { id = \"b\"; type = \"http\"; url = \"https://x/send\"; body = \"to={to}&msg={text}\"; max_segments = 6; },\n"
                    "  { id = \"m\"; type = \"file\"; channel = \"email\"; max_segments = 1; },\n"
                    "  { id = \"s\"; type = \"smtp\"; url = \"smtp://localhost\"; from = \"a@localhost\"; } );\n");
        assert_int_equal(config_gateway(c, "a")->max_segments, 10);
        assert_int_equal(config_gateway(c, "b")->max_segments, 6);
        assert_int_equal(config_sms_max_segments(c), 6); /* the e-mail-only file gateway does not count */
        config_free(c);
        assert_int_equal(config_sms_max_segments(NULL), 3);

        /* what each profile can carry */
        EXPECT("site = \"t\";\n"
               "gateways = ( { id = \"a\"; type = \"file\"; max_segments = 11; },\n"
               "  { id = \"b\"; type = \"http\"; url = \"https://x/send\"; body = \"msg={text}\"; max_segments = 7; },\n"
               "  { id = \"l\"; type = \"linkmobility\"; account = \"1\"; username = \"u\"; password_file = \"/nonexistent/pw\"; max_segments = 0; },\n"
               "  { id = \"s\"; type = \"smtp\"; url = \"smtp://localhost\"; from = \"a@localhost\"; max_segments = 2; },\n"
               "  { id = \"f\"; type = \"file\"; max_segments = \"3\"; } );\n",
               "2: gateways[0].max_segments: 11 is out of range for a file gateway (1..10 SMS segments)",
               "3: gateways[1].max_segments: 7 is out of range for a http gateway (1..6 SMS segments)",
               "4: gateways[2].max_segments: 0 is out of range for a linkmobility gateway (1..6 SMS segments)",
               "4: gateways[2].password_file: \"/nonexistent/pw\": cannot open /nonexistent/pw: No such file or directory",
               "5: gateways[3].max_segments: a smtp gateway sends e-mail; max_segments is for SMS gateways",
               "6: gateways[4].max_segments: expected an integer");
}

static void test_more_rules(_unused_ void **state) {
        /* gateway profiles */
        EXPECT("site = \"t\";\n"
               "gateways = (\n"
               "  { id = \"m\"; type = \"smtp\"; url = \"http://x\"; from = \"nobody\"; },\n"
               "  { id = \"h\"; type = \"http\"; channel = \"email\"; url = \"https://x\"; },\n"
               "  { id = \"l\"; type = \"linkmobility\"; account = \"1\"; },\n"
               "  { id = \"f\"; type = \"fax\"; }\n"
               ");\n",
               "3: gateways[0].url: bad URL \"http://x\" (an smtp gateway needs smtp:// or smtps://, a host and a numeric port if any)",
               "3: gateways[0].from: bad e-mail address \"nobody\"",
               "4: gateways[1].channel: a http gateway sends SMS only; use channel \"sms\" or \"voice\"",
               "4: gateways[1]: missing required setting \"body\"",
               "5: gateways[2]: missing required setting \"username\"",
               "5: gateways[2]: missing required setting \"password_file\"",
               "6: gateways[3].type: unknown value \"fax\" (use \"file\", \"smtp\", \"http\", \"twilio\" or \"linkmobility\")");
        /* a port is digits (an unexpanded shell variable is caught at load) */
        EXPECT("site = \"t\";\n"
               "gateways = ( { id = \"h\"; type = \"http\"; url = \"http://127.0.0.1:$SMS_PORT/x\"; body = \"b\"; },\n"
               "  { id = \"i\"; type = \"http\"; url = \"http://u:p@[::1]:99999\"; body = \"b\"; },\n"
               "  { id = \"j\"; type = \"http\"; url = \"http:///x\"; body = \"b\"; },\n"
               "  { id = \"k\"; type = \"http\"; url = \"http://[::1]:8080/ok?a=b:c\"; body = \"b\"; } );\n",
               "2: gateways[0].url: bad URL \"http://127.0.0.1:$SMS_PORT/x\" (an http gateway needs http:// or https://, a host and a numeric port if any)",
               "3: gateways[1].url: bad URL (an http gateway needs http:// or https://, a host and a numeric port if any)",
               "4: gateways[2].url: bad URL \"http:///x\" (an http gateway needs http:// or https://, a host and a numeric port if any)");
        /* headers cannot smuggle a second line */
        EXPECT("site = \"t\";\n"
               "gateways = ( { id = \"h\"; type = \"http\"; url = \"https://x\"; body = \"b\";\n"
               "  headers = [ \"X-A: 1\\r\\nX-B: 2\", \"no colon\" ]; success = \"99\"; } );\n",
               "3: gateways[0].success: bad HTTP status range \"99\" (use e.g. \"200-299\" or \"202\")",
               "3: gateways[0].headers[0]: bad header (use \"Name: value\", no CR/LF)",
               "3: gateways[0].headers[1]: bad header (use \"Name: value\", no CR/LF)");
        /* header values are templates, checked at load */
        EXPECT("site = \"t\";\n"
               "gateways = ( { id = \"h\"; type = \"http\"; url = \"https://x\"; body = \"b\";\n"
               "  headers = [ \"Idempotency-Key: {reff}\", \"X-B: {ref\" ]; } );\n",
               "3: gateways[0].headers[0]: header \"Idempotency-Key\": unknown placeholder {reff}",
               "3: gateways[0].headers[1]: header \"X-B\": unterminated placeholder at offset 0 (write {{ for a literal brace)");
        /* calendar */
        EXPECT("site = \"t\";\n"
               "calendar: {\n"
               "  office_hours = \"Mon-Fri 15:30-08:00\";\n"
               "  closed = [ \"2027-02-29\" ];\n"
               "  heightened = ( { from = \"2027-01-03\"; to = \"2026-12-18\"; name = \"Jul\"; } );\n"
               "  holidays = \"se\";\n"
               "};\n",
               "3: calendar.office_hours: bad office hours \"Mon-Fri 15:30-08:00\" (use e.g. \"Mon-Fri 08:00-15:30\" or \"Mon-Thu 08:00-15:30, Fri 08:00-15:00\")",
               "6: calendar.holidays: unknown value \"se\" (use \"no\" or \"none\")",
               "4: calendar.closed[0]: bad date \"2027-02-29\" (use YYYY-MM-DD, e.g. \"2026-12-24\")",
               "5: calendar.heightened[0].to: \"2026-12-18\" is before from");
        /* follow-up and mqtt */
        EXPECT(BASE
               "followup: {\n"
               "  levels = ( { level = 1; name = \"lav\"; every = \"14d\"; },\n"
               "             { level = 3; name = \"hoy\"; every = \"2d\"; } );\n"
               "  overdue_after = \"2d\"; escalate_after = \"1d\"; coordinator = \"kari\"; heightened_factor = 0;\n"
               "};\n"
               "mqtt: { base = \"/beredd/+\"; commands = [ \"status\", \"case.open\", \"fly\" ]; qos = 3; };\n",
               "9: followup.levels[1].level: levels must be numbered 1, 2, 3... in order: expected 2, got 3",
               "10: followup.escalate_after: must be longer than overdue_after",
               "10: followup.heightened_factor: 0 is out of range (0 < factor <= 1)",
               "12: mqtt.base: bad topic base \"/beredd/+\" (no '+' or '#', no leading, trailing or double '/')",
               "12: mqtt.qos: 3 is out of range (0..2)",
               "12: mqtt.commands: \"status\" is read-only and accepted on the control socket only",
               "12: mqtt.commands: \"case.open\" cannot go over MQTT: its reply would carry a case reference "
               "(use the drop folder or the control socket)",
               "12: mqtt.commands: unknown command \"fly\"");
        /* site, spool, language */
        EXPECT("site = \"Trond heim\";\n"
               "spool = \"var/spool\";\n"
               "language = \"de\";\n"
               "timezone = \"../etc/passwd\";\n",
               "1: site: bad site id \"Trond heim\" (use lowercase letters, digits and '-')",
               "3: language: unknown value \"de\" (use \"nb\" or \"en\")",
               "4: timezone: bad time zone \"../etc/passwd\" (use e.g. \"Europe/Oslo\")",
               "2: spool: \"var/spool\" is not an absolute path");
        /* roster hand-off forms */
        EXPECT(BASE
               "rosters = ( { id = \"a\"; rotation = \"daily\"; handoff = \"Mon 08:00\"; members = [ \"kari\" ]; },\n"
               "            { id = \"b\"; rotation = \"weekly\"; handoff = \"Mon 25:00\"; members = [ ]; } );\n",
               "7: rosters[0].handoff: bad hand-off \"Mon 08:00\" (daily rosters use e.g. \"08:00\")",
               "8: rosters[1].handoff: bad hand-off \"Mon 25:00\" (weekly rosters use e.g. \"Mon 08:00\")",
               "8: rosters[1].members: needs at least one member");
}

/* ---- parsers ---- */

static void test_durations(_unused_ void **state) {
        static const struct {
                const char *s;
                uint64_t usec;
        } good[] = {
                { "90s", 90 * USEC_PER_SEC },
                { "5m", 5 * USEC_PER_MIN },
                { "1h30m", USEC_PER_HOUR + 30 * USEC_PER_MIN },
                { "14d", 14 * USEC_PER_DAY },
                { "2w", 14 * USEC_PER_DAY },
                { "0s", 0 },
                { "1d2h3m4s", USEC_PER_DAY + 2 * USEC_PER_HOUR + 3 * USEC_PER_MIN + 4 * USEC_PER_SEC },
        };
        static const char *const bad[] = {
                "", "5", "5x", "m5", "-1m", "1h30", "5 m", " 5m", "5m ", "1.5h", "+5m",
                "99999999999999999999s",    /* the number overflows */
                "18446744073709551615s",    /* the number fits, the microseconds do not */
                "40000000w", "10000000000000s10000000000000s" /* each fits, the sum does not */,
        };
        uint64_t u;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                u = 1;
                assert_int_equal(parse_duration(good[i].s, &u), 0);
                assert_int_equal(u, good[i].usec);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                u = 12345;
                if (parse_duration(bad[i], &u) != -EINVAL)
                        fail_msg("\"%s\" was accepted", bad[i]);
                assert_int_equal(u, 12345); /* untouched on failure */
        }
        assert_int_equal(parse_duration(NULL, &u), -EINVAL);
}

static void test_dates(_unused_ void **state) {
        struct ymd d = {};

        assert_int_equal(parse_date("2028-02-29", &d), 0);
        assert_int_equal(d.y, 2028);
        assert_int_equal(d.m, 2);
        assert_int_equal(d.d, 29);
        assert_int_equal(parse_date("2000-02-29", &d), 0); /* divisible by 400 */
        assert_int_equal(parse_date("2026-12-31", &d), 0);
        assert_int_equal(parse_date("2027-02-29", &d), -EINVAL);
        assert_int_equal(parse_date("2100-02-29", &d), -EINVAL); /* divisible by 100 */
        assert_int_equal(parse_date("2026-04-31", &d), -EINVAL);
        assert_int_equal(parse_date("2026-13-01", &d), -EINVAL);
        assert_int_equal(parse_date("2026-00-10", &d), -EINVAL);
        assert_int_equal(parse_date("2026-01-00", &d), -EINVAL);
        assert_int_equal(parse_date("2026-1-5", &d), -EINVAL);
        assert_int_equal(parse_date("2026-01-05x", &d), -EINVAL);
        assert_int_equal(parse_date("26-01-05", &d), -EINVAL);
        assert_int_equal(parse_date("", &d), -EINVAL);
        assert_int_equal(d.y, 2026); /* the last good parse */
}

static void test_names_and_errlist(_unused_ void **state) {
        struct errlist e = {};

        assert_string_equal(channel_name(CHANNEL_SMS), "sms");
        assert_string_equal(channel_name(CHANNEL_EMAIL), "email");
        assert_string_equal(channel_name(CHANNEL_ANY), "any");
        assert_string_equal(gateway_type_name(GATEWAY_LINKMOBILITY), "linkmobility");
        assert_null(gateway_type_name((enum gateway_type) 99));

        errlist_add(&e, "%s:%d: %s", "f", 3, "x");
        errlist_add(&e, "second");
        assert_int_equal(e.n, 2);
        assert_string_equal(e.v[0], "f:3: x");
        assert_string_equal(e.v[1], "second");
        errlist_free(&e);
        assert_int_equal(e.n, 0);
        assert_null(e.v);
        errlist_free(&e); /* twice is harmless */
}

/* ---- secrets ---- */

static void test_secret_world_readable(_unused_ void **state) {
        _cleanup_free_ char *path = test_write_file(tmpdir, "open.secret", "TOPSECRET\n", 0644);
        _cleanup_free_ char *want = NULL;
        char err[512] = "";
        char *v = NULL;

        assert_int_equal(config_read_secret("/etc/beredd/beredd.conf", path, &v, err, sizeof err), -EPERM);
        assert_null(v);
        assert_true(asprintf(&want, "\"%s\" is readable by others (mode 0644); chmod 0640", path) > 0);
        assert_string_equal(err, want);
        assert_null(strstr(err, "TOPSECRET"));

        /* world-writable is refused as well */
        assert_int_equal(chmod(path, 0602), 0);
        assert_int_equal(config_read_secret("/etc/beredd/beredd.conf", path, &v, err, sizeof err), -EPERM);
        assert_int_equal(unlink(path), 0);
}

static void test_secret_in_config(_unused_ void **state) {
        _cleanup_free_ char *tok = test_write_file(tmpdir, "sms.token", "TOPSECRET\r\n", 0644);
        static const char conf[] =
                "site = \"t\";\n"
                "people = ( { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; } );\n"
                "gateways = ( { id = \"a\"; type = \"file\"; },\n"
                "  { id = \"tw\"; type = \"twilio\"; account = \"AC1\"; token_file = \"sms.token\"; } );\n";
        _cleanup_free_ char *want = NULL;
        struct config *c;

        assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
        EXPECT(conf, "4: gateways[1].token_file: \"sms.token\" is readable by others (mode 0644); chmod 0640");

        assert_int_equal(chmod(tok, 0640), 0);
        c = test_config_from_text(tmpdir, "ok.conf", conf);
        assert_string_equal(config_gateway(c, "tw")->password, "TOPSECRET");
        config_free(c);

        assert_int_equal(unlink(tok), 0);
        assert_true(asprintf(&want, "4: gateways[1].token_file: \"sms.token\" not found (looked for %s/sms.token)", tmpdir) > 0);
        EXPECT(conf, want);
}

static void test_secret_lookup_order(_unused_ void **state) {
        char creds[] = "/tmp/beredd-test-creds-XXXXXX";
        _cleanup_free_ char *conf = NULL, *in_conf = NULL, *in_creds = NULL, *only_conf = NULL;
        char err[512] = "";
        char *v = NULL;

        assert_non_null(mkdtemp(creds));
        assert_true(asprintf(&conf, "%s/beredd.conf", tmpdir) > 0);
        in_conf = test_write_file(tmpdir, "tok", "from-config-folder\n", 0600);
        in_creds = test_write_file(creds, "tok", "from-credentials\n\n", 0400);
        only_conf = test_write_file(tmpdir, "other", "abc\r\n", 0640);

        /* $CREDENTIALS_DIRECTORY first ... */
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
        assert_int_equal(config_read_secret(conf, "tok", &v, err, sizeof err), 0);
        assert_string_equal(v, "from-credentials");
        free(v);
        /* ... then the config file's folder, trailing CR/LF stripped */
        assert_int_equal(config_read_secret(conf, "other", &v, err, sizeof err), 0);
        assert_string_equal(v, "abc");
        free(v);
        /* without $CREDENTIALS_DIRECTORY, the folder */
        assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
        assert_int_equal(config_read_secret(conf, "tok", &v, err, sizeof err), 0);
        assert_string_equal(v, "from-config-folder");
        free(v);
        /* an absolute path is taken as is */
        assert_int_equal(config_read_secret("/nonexistent/x.conf", in_creds, &v, err, sizeof err), 0);
        assert_string_equal(v, "from-credentials");
        free(v);

        /* a relative name must not wander off */
        v = NULL;
        assert_int_equal(config_read_secret(conf, "../tok", &v, err, sizeof err), -EINVAL);
        assert_string_equal(err, "\"../tok\": a relative secret name must not contain '/'");
        assert_int_equal(config_read_secret(conf, "..", &v, err, sizeof err), -EINVAL);
        assert_int_equal(config_read_secret(conf, "missing", &v, err, sizeof err), -ENOENT);
        assert_null(v);

        assert_int_equal(unlink(in_conf), 0);
        assert_int_equal(unlink(in_creds), 0);
        assert_int_equal(unlink(only_conf), 0);
        assert_int_equal(rmdir(creds), 0);
}

static void test_secret_limits(_unused_ void **state) {
        _cleanup_free_ char *big = NULL, *path = NULL, *empty = NULL;
        char err[512] = "";
        char *v = NULL;

        /* The limit is on the file: 64 KiB with its newline is fine, one byte more is not. */
        big = malloc(64 * 1024 + 2);
        assert_non_null(big);
        memset(big, 'x', 64 * 1024 + 1);
        big[64 * 1024 + 1] = '\0';
        path = test_write_file(tmpdir, "big", big, 0600);
        assert_int_equal(config_read_secret(NULL, path, &v, err, sizeof err), -EFBIG);
        assert_string_equal(strstr(err, "is larger than 64 KiB"), "is larger than 64 KiB");
        big[64 * 1024 - 1] = '\n';
        big[64 * 1024] = '\0';
        assert_int_equal(unlink(path), 0);
        free(path);
        path = test_write_file(tmpdir, "big", big, 0600);
        assert_int_equal(config_read_secret(NULL, path, &v, err, sizeof err), 0);
        assert_int_equal(strlen(v), 64 * 1024 - 1);
        free(v);
        assert_int_equal(unlink(path), 0);

        empty = test_write_file(tmpdir, "empty", "\n", 0600);
        v = NULL;
        assert_int_equal(config_read_secret(NULL, empty, &v, err, sizeof err), -EINVAL);
        assert_null(v);
        assert_int_equal(unlink(empty), 0);
}

/* ---- http (issue 6) ---- */

static void test_http_section(_unused_ void **state) {
        struct config *c;

        c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK);
        assert_false(c->http.enabled);
        assert_null(c->http.listen);
        assert_null(c->http.public_url);
        config_free(c);

        c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK
                    "http = { listen = \"127.0.0.1:8470\"; public_url = \"https://beredd.kommune.no//\";\n"
                    "  heartbeat = { url = \"https://hc.example/ping/x\"; }; };\n");
        assert_true(c->http.enabled);
        assert_string_equal(c->http.listen, "127.0.0.1:8470");
        assert_string_equal(c->http.listen_host, "127.0.0.1");
        assert_int_equal(c->http.listen_port, 8470);
        assert_string_equal(c->http.public_url, "https://beredd.kommune.no"); /* no trailing '/' */
        assert_string_equal(c->http.heartbeat_url, "https://hc.example/ping/x");
        assert_int_equal(c->http.heartbeat_every, 5 * USEC_PER_MIN);
        assert_int_equal(c->http.line, 10);
        config_free(c);

        c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK "http = { listen = \"[::1]:80\"; heartbeat = { url = \"http://h.example/\"; every = \"30s\"; }; };\n");
        assert_string_equal(c->http.listen_host, "::1");
        assert_int_equal(c->http.listen_port, 80);
        assert_null(c->http.public_url);
        assert_int_equal(c->http.heartbeat_every, 30 * USEC_PER_SEC);
        config_free(c);

        /* a heartbeat alone, without a listener */
        c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK "http = { heartbeat = { url = \"http://h.example/\"; }; };\n");
        assert_true(c->http.enabled);
        assert_null(c->http.listen);
        config_free(c);
}

static void test_http_errors(_unused_ void **state) {
        EXPECT(BASE CHAIN_OK
               "http = { listen = \"localhost:8470\"; public_url = \"https://x.example/?a=1\"; port = 1;\n"
               "  heartbeat = { every = \"5\"; }; };\n",
               "10: unknown setting \"port\" in http",
               "10: http.listen: bad address \"localhost:8470\" (use a numeric address and a port, e.g. \"127.0.0.1:8470\" or \"[::1]:8470\")",
               "10: http.public_url: bad URL \"https://x.example/?a=1\" (use e.g. \"https://beredd.kommune.no\", no ? or #)",
               "11: http.heartbeat: missing required setting \"url\"",
               "11: http.heartbeat.every: bad duration \"5\" (use e.g. \"90s\", \"5m\", \"1h30m\", \"14d\")");

        static const char *const bad[] = { "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x", "1.2.3:80",
                                           "[::1]8470", "::1:8470", "[::1:8470", "127.0.0.1:", ":8470", "[127.0.0.1]:80" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = NULL, *want = NULL;
                assert_true(asprintf(&text, BASE CHAIN_OK "http = { listen = \"%s\"; };\n", bad[i]) > 0);
                assert_true(asprintf(&want, "10: http.listen: bad address \"%s\" (use a numeric address and a port, "
                                            "e.g. \"127.0.0.1:8470\" or \"[::1]:8470\")", bad[i]) > 0);
                EXPECT(text, want);
        }
        EXPECT(BASE CHAIN_OK "http = { public_url = \"ftp://x.example\"; heartbeat = { url = \"smtp://x\"; every = \"0s\"; }; };\n",
               "10: http.public_url: bad URL \"ftp://x.example\" (use e.g. \"https://beredd.kommune.no\", no ? or #)",
               "10: http.heartbeat.url: bad URL \"smtp://x\" (use http:// or https://)",
               "10: http.heartbeat.every: must be longer than 0");
        EXPECT(BASE CHAIN_OK "http = \"on\";\n", "10: http: expected a group { ... }");
}

static void test_retention_section(_unused_ void **state) {
        struct config *c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK);
        /* absent: the defaults */
        assert_int_equal(c->retention.activations, 90 * USEC_PER_DAY);
        assert_int_equal(c->retention.outbox, 7 * USEC_PER_DAY);
        assert_int_equal(c->retention.failed, 30 * USEC_PER_DAY);
        assert_int_equal(c->retention.stale_after, USEC_PER_DAY);
        assert_int_equal(c->retention.line, 0);
        config_free(c);

        c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK
                    "retention = { activations = \"2s\"; outbox = \"1h30m\"; stale_after = \"6m\"; };\n");
        assert_int_equal(c->retention.activations, 2 * USEC_PER_SEC);
        assert_int_equal(c->retention.outbox, 90 * USEC_PER_MIN);
        assert_int_equal(c->retention.failed, 30 * USEC_PER_DAY); /* not given: the default */
        assert_int_equal(c->retention.stale_after, 6 * USEC_PER_MIN);
        assert_int_equal(c->retention.line, 10);
        config_free(c);

        EXPECT(BASE CHAIN_OK "retention = { outbox = \"7 days\"; failed = \"0s\"; keep = \"1d\"; };\n",
               "10: unknown setting \"keep\" in retention",
               "10: retention.outbox: bad duration \"7 days\" (use e.g. \"90s\", \"5m\", \"1h30m\", \"14d\")",
               "10: retention.failed: must be longer than 0");
        /* stale_after must outlast every wait, or a restart in a long step
         * would close a live call-out */
        EXPECT(BASE CHAIN_OK "retention = { stale_after = \"5m\"; };\n",
               "10: retention.stale_after: must be longer than every step's wait (chain \"k\" waits longer)");
        EXPECT(BASE CHAIN_OK "retention = 1;\n", "10: retention: expected a group { ... }");
}

static void test_http_gateway_inbound(_unused_ void **state) {
        _cleanup_free_ char *tok = test_write_file(tmpdir, "in.token", "s3cret\n", 0600);
        _cleanup_free_ char *conf = NULL;
        struct config *c;
        const struct gateway *gw;

        assert_true(asprintf(&conf,
                             "site = \"t\";\n"
                             "people = ( { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; } );\n"
                             "gateways = (\n"
                             "  { id = \"gen\"; type = \"http\"; url = \"https://sms.example/send\"; body = \"to={to}\"; },\n"
                             "  { id = \"gen2\"; type = \"http\"; url = \"https://sms.example/send\"; body = \"to={to}\";\n"
                             "    inbound_from = \"message.from\"; inbound_text = \"msg\"; inbound_ref = \"id\"; inbound_status = \"dlr-status\";\n"
                             "    inbound_token_file = \"%s\"; },\n"
                             "  { id = \"lm\"; type = \"linkmobility\"; account = \"1:2\"; username = \"u\"; password_file = \"%s\";\n"
                             "    inbound_token_file = \"%s\"; },\n"
                             "  { id = \"tw\"; type = \"twilio\"; account = \"AC1\"; token_file = \"%s\"; }\n"
                             ");\n"
                             "http = { listen = \"127.0.0.1:8470\"; public_url = \"https://b.example\"; };\n",
                             tok, tok, tok, tok) > 0);
        c = test_config_from_text(tmpdir, "ok.conf", conf);
        gw = config_gateway(c, "gen");
        assert_string_equal(gw->inbound_from, "from");
        assert_string_equal(gw->inbound_text, "text");
        assert_string_equal(gw->inbound_ref, "ref");
        assert_string_equal(gw->inbound_status, "status");
        assert_null(gw->inbound_token);
        gw = config_gateway(c, "gen2");
        assert_string_equal(gw->inbound_from, "message.from");
        assert_string_equal(gw->inbound_text, "msg");
        assert_string_equal(gw->inbound_ref, "id");
        assert_string_equal(gw->inbound_status, "dlr-status");
        assert_string_equal(gw->inbound_token, "s3cret");
        gw = config_gateway(c, "lm");
        assert_null(gw->inbound_from);
        assert_string_equal(gw->inbound_token, "s3cret");
        assert_null(config_gateway(c, "tw")->inbound_from);
        config_free(c);

        free(conf);
        assert_true(asprintf(&conf,
                             "site = \"t\";\n"
                             "people = ( { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; } );\n"
                             "gateways = (\n"
                             "  { id = \"tw\"; type = \"twilio\"; account = \"AC1\"; token_file = \"%s\"; inbound_from = \"From\";\n"
                             "    inbound_token_file = \"%s\"; },\n"
                             "  { id = \"gen\"; type = \"http\"; url = \"https://s.example/\"; body = \"x\"; inbound_text = \"a b\"; inbound_ref = \".x\"; },\n"
                             "  { id = \"f\"; type = \"file\"; inbound_status = \"s\"; inbound_token_file = \"%s\"; receipt_gate = \"G1\"; }\n"
                             ");\n"
                             "http = { listen = \"127.0.0.1:8470\"; };\n",
                             tok, tok, tok) > 0);
        EXPECT(conf,
               "4: gateways[0].inbound_from: only a gateway of type \"http\" has configurable webhook fields (twilio webhooks have a fixed format)",
               "5: gateways[0].inbound_token_file: a twilio gateway takes no webhook token: its webhooks are checked by their signature",
               "6: gateways[1].inbound_text: bad field name \"a b\" (letters, digits, '_', '-'; '.' between JSON object names)",
               "6: gateways[1].inbound_ref: bad field name \".x\" (letters, digits, '_', '-'; '.' between JSON object names)",
               "7: gateways[2].inbound_status: a file gateway takes no webhooks",
               "7: gateways[2].receipt_gate: only a linkmobility gateway has a receipt_gate (the gate id its delivery reports go to)",
               "7: gateways[2].inbound_token_file: a file gateway takes no webhooks",
               "9: http: missing setting \"public_url\": Twilio webhooks (gateway \"tw\") are signed over it",
               "6: gateways[1].inbound_text: gateway \"gen\" takes webhooks but has no \"inbound_token_file\": "
               "its /sms/gen/ routes would be open to anyone (they answer 404)");

        /* a linkmobility gateway asking for receipts without a token: an
         * error with a listener, fine without one (nothing listens) */
        free(conf);
        assert_true(asprintf(&conf,
                             "site = \"t\";\n"
                             "people = ( { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; } );\n"
                             "gateways = (\n"
                             "  { id = \"lm\"; type = \"linkmobility\"; account = \"1:2\"; username = \"u\"; password_file = \"%s\";\n"
                             "    receipt_gate = \"G1\"; }\n"
                             ");\n"
                             "http = { listen = \"127.0.0.1:8470\"; };\n",
                             tok) > 0);
        EXPECT(conf, "5: gateways[0].receipt_gate: gateway \"lm\" takes webhooks but has no \"inbound_token_file\": "
                     "its /sms/lm/ routes would be open to anyone (they answer 404)");
        *strstr(conf, "http = ") = '\0';
        EXPECT_OK(conf);
        assert_int_equal(unlink(tok), 0);
}

/* Issue 14: role display names, report_to, contact, receipt. */
static void test_roles_and_reports(_unused_ void **state) {
        struct config *c = test_config_from_text(tmpdir, "ok.conf", BASE
                                   "roles = ( { id = \"leader\"; name = \"leder\"; name_en = \"team leader\"; },\n"
                                   "          { id = \"member\"; name = \"medlem\"; } );\n"
                                   "chains = ( { id = \"k\"; need = { total = 2; }; report_to = [ \"ola\" ]; contact = \"kari\";\n"
                                   "  receipt = false;\n"
                                   "  steps = ( { notify = [ \"kari\", \"role:member\" ]; wait = \"5m\"; } ); } );\n");
        assert_int_equal(c->n_roles, 2);
        assert_string_equal(config_role_name(c, "leader", LANG_NB), "leder");
        assert_string_equal(config_role_name(c, "leader", LANG_EN), "team leader");
        assert_string_equal(config_role_name(c, "member", LANG_EN), "medlem"); /* name_en defaults to name */
        assert_string_equal(config_role_name(c, "other", LANG_NB), "other");   /* no entry: the id */
        const struct chain *ch = config_chain(c, "k");
        assert_int_equal(ch->n_report_to, 1);
        assert_string_equal(ch->report_to[0], "ola");
        assert_string_equal(ch->contact, "kari");
        assert_false(ch->receipt);
        config_free(c);

        /* receipt defaults to true, report_to and contact to none */
        c = test_config_from_text(tmpdir, "ok.conf", BASE CHAIN_OK);
        assert_true(c->chains[0].receipt);
        assert_int_equal(c->chains[0].n_report_to, 0);
        assert_null(c->chains[0].contact);
        config_free(c);

        EXPECT(BASE
               "roles = ( { id = \"leader\"; name = \"leder\"; },\n"
               "          { id = \"leader\"; name = \"sjef\"; },\n"
               "          { id = \"prest\"; name = \"prest\"; },\n"
               "          { id = \"member\"; },\n"
               "          { id = \"member\"; name = \"x\"; nick = \"y\"; } );\n",
               "8: roles[1].id: duplicate id \"leader\" (first defined at line 7)",
               "9: roles[2].id: unknown role \"prest\" (no person has it)",
               "10: roles[3]: missing required setting \"name\"",
               "11: unknown setting \"nick\" in roles[4]");
        EXPECT("site = \"t\";\n"
               "people = (\n"
               "  { id = \"kari\"; name = \"Kari\"; phone = \"+4791234567\"; roles = [ \"leader\" ]; },\n"
               "  { id = \"ida\"; name = \"Ida\"; email = \"ida@example.org\"; }\n"
               ");\n"
               "gateways = ( { id = \"out\"; type = \"file\"; } );\n"
               "chains = ( { id = \"k\"; need = { total = 1; };\n"
               "  report_to = [ \"ida\", \"nobody\", \"role:leader\", \"kari\", \"kari\" ];\n"
               "  contact = \"ida\"; receipt = \"yes\";\n"
               "  steps = ( { notify = [ \"kari\" ]; wait = \"5m\"; } ); } );\n",
               "8: chains[0].report_to: person \"ida\" has no phone (reports go by SMS)",
               "8: chains[0].report_to: unknown person \"nobody\"",
               "8: chains[0].report_to: \"role:leader\": use person ids here",
               "8: chains[0].report_to: person \"kari\" is named twice",
               "9: chains[0].contact: person \"ida\" has no phone (the final step is told to call them)",
               "9: chains[0].receipt: expected true or false");
}

/* ---- voice gateways (issue 16) ---- */

static void test_voice_gateways(_unused_ void **state) {
        _cleanup_free_ char *tok = test_write_file(tmpdir, "v.token", "s3cret\n", 0600);
        _cleanup_free_ char *conf = NULL;
        struct config *c;
        const struct gateway *gw;

        assert_true(asprintf(&conf,
                             "site = \"t\";\n"
                             "gateways = (\n"
                             "  { id = \"voice\"; type = \"twilio\"; channel = \"voice\"; account = \"AC1\"; from = \"+4759440000\";\n"
                             "    token_file = \"%s\"; },\n"
                             "  { id = \"v2\"; type = \"twilio\"; channel = \"voice\"; account = \"AC1\"; from = \"+4759440000\";\n"
                             "    token_file = \"%s\"; max_calls = 100; ring_timeout = \"10m\"; call_limit = \"30s\";\n"
                             "    machine_detection = \"detect-message-end\"; say_voice = \"Google.nb-NO-Standard-A\"; say_voice_en = \"alice\"; },\n"
                             "  { id = \"gvoice\"; type = \"http\"; channel = \"voice\"; url = \"https://call.example/{lang}\";\n"
                             "    body = \"to={to}&say={text}&prompt={prompt}&answer={answer_url}&status={status_url}&ref={ref}\";\n"
                             "    inbound_token_file = \"%s\"; inbound_digits = \"dtmf\"; max_calls = 1; ring_timeout = \"5s\"; call_limit = \"1h\";\n"
                             "    machine_detection = \"enable\"; },\n"
                             "  { id = \"fvoice\"; type = \"file\"; channel = \"voice\"; },\n"
                             "  { id = \"out\"; type = \"file\"; },\n"
                             "  { id = \"sms\"; type = \"twilio\"; account = \"AC1\"; token_file = \"%s\"; from = \"+4759440000\"; }\n"
                             ");\n"
                             "http = { listen = \"127.0.0.1:8470\"; public_url = \"https://b.example\"; };\n",
                             tok, tok, tok, tok) > 0);
        c = test_config_from_text(tmpdir, "ok.conf", conf);
        gw = config_gateway(c, "voice");
        assert_int_equal(gw->channel, CHANNEL_VOICE);
        assert_string_equal(gw->url, "https://api.twilio.com");
        assert_int_equal(gw->max_calls, 10);
        assert_int_equal(gw->ring_timeout, 30 * USEC_PER_SEC);
        assert_int_equal(gw->call_limit, 3 * USEC_PER_MIN);
        assert_int_equal(gw->machine_detection, MACHINE_DETECTION_OFF);
        assert_string_equal(gw->say_voice, "Polly.Liv");
        assert_string_equal(gw->say_voice_en, "Polly.Joanna");
        assert_null(gw->inbound_digits);
        gw = config_gateway(c, "v2");
        assert_int_equal(gw->max_calls, 100);
        assert_int_equal(gw->ring_timeout, 10 * USEC_PER_MIN);
        assert_int_equal(gw->call_limit, 30 * USEC_PER_SEC);
        assert_int_equal(gw->machine_detection, MACHINE_DETECTION_DETECT_MESSAGE_END);
        assert_string_equal(gw->say_voice, "Google.nb-NO-Standard-A");
        assert_string_equal(gw->say_voice_en, "alice");
        gw = config_gateway(c, "gvoice");
        assert_int_equal(gw->channel, CHANNEL_VOICE);
        assert_int_equal(gw->max_calls, 1);
        assert_int_equal(gw->ring_timeout, 5 * USEC_PER_SEC);
        assert_int_equal(gw->call_limit, USEC_PER_HOUR);
        assert_int_equal(gw->machine_detection, MACHINE_DETECTION_ENABLE);
        assert_string_equal(gw->inbound_digits, "dtmf");
        assert_string_equal(gw->inbound_token, "s3cret");
        assert_int_equal(config_gateway(c, "fvoice")->channel, CHANNEL_VOICE);
        assert_int_equal(config_gateway(c, "fvoice")->max_calls, 10);
        /* a file gateway's "any" is SMS and e-mail, not calls */
        assert_int_equal(config_gateway(c, "out")->channel, CHANNEL_ANY);
        assert_int_equal(config_gateway(c, "out")->channel & CHANNEL_VOICE, 0);
        assert_int_equal(config_gateway(c, "out")->max_calls, 0);
        assert_null(config_gateway(c, "out")->say_voice);
        assert_int_equal(config_gateway(c, "sms")->channel, CHANNEL_SMS);
        /* the other channels still map to their bits */
        config_free(c);

        c = test_config_from_text(tmpdir, "ok.conf", "site = \"t\";\n"
                    "gateways = ( { id = \"a\"; type = \"file\"; channel = \"sms\"; },\n"
                    "  { id = \"b\"; type = \"file\"; channel = \"email\"; },\n"
                    "  { id = \"c\"; type = \"file\"; channel = \"any\"; } );\n");
        assert_int_equal(config_gateway(c, "a")->channel, CHANNEL_SMS);
        assert_int_equal(config_gateway(c, "b")->channel, CHANNEL_EMAIL);
        assert_int_equal(config_gateway(c, "c")->channel, CHANNEL_ANY);
        config_free(c);

        /* what only a voice gateway has, where it can be, and its ranges */
        free(conf);
        assert_true(asprintf(&conf,
                             "site = \"t\";\n"
                             "gateways = (\n"
                             "  { id = \"m\"; type = \"smtp\"; channel = \"voice\"; url = \"smtp://localhost\"; from = \"a@localhost\"; },\n"
                             "  { id = \"l\"; type = \"linkmobility\"; channel = \"voice\"; account = \"1\"; username = \"u\"; password_file = \"%s\"; },\n"
                             "  { id = \"s\"; type = \"twilio\"; account = \"AC1\"; token_file = \"%s\"; max_calls = 5; say_voice = \"Polly.Liv\"; },\n"
                             "  { id = \"f\"; type = \"file\"; ring_timeout = \"30s\"; call_limit = \"3m\"; machine_detection = \"off\"; say_voice_en = \"x\"; inbound_digits = \"d\"; },\n"
                             "  { id = \"v\"; type = \"twilio\"; channel = \"voice\"; account = \"AC1\"; token_file = \"%s\"; from = \"+4759440000\"; max_calls = 101;\n"
                             "    ring_timeout = \"4s\"; call_limit = \"2h\"; machine_detection = \"on\"; say_voice = \"Polly Liv\"; max_segments = 2;\n"
                             "    inbound_digits = \"Digits\"; },\n"
                             "  { id = \"g\"; type = \"http\"; channel = \"voice\"; url = \"https://x/\"; body = \"to={to}&a={answer_url}&z={zap}\"; max_calls = 0; },\n"
                             "  { id = \"h\"; type = \"http\"; url = \"https://x/{lang}\"; body = \"a={answer_url}\"; },\n"
                             "  { id = \"e\"; type = \"http\"; channel = \"email\"; url = \"https://x/\"; body = \"x\"; },\n"
                             "  { id = \"n\"; type = \"twilio\"; channel = \"voice\"; account = \"AC1\"; token_file = \"%s\"; from = \"Kriseteam\"; },\n"
                             "  { id = \"o\"; type = \"twilio\"; channel = \"voice\"; account = \"AC1\"; token_file = \"%s\"; }\n"
                             ");\n"
                             "http = { listen = \"127.0.0.1:8470\"; public_url = \"https://b.example\"; };\n",
                             tok, tok, tok, tok, tok) > 0);
        EXPECT(conf,
               "3: gateways[0].channel: a smtp gateway cannot place calls (channel \"voice\" is for twilio, http and file gateways)",
               "4: gateways[1].channel: a linkmobility gateway cannot place calls (channel \"voice\" is for twilio, http and file gateways)",
               "5: gateways[2].max_calls: only a voice gateway (channel \"voice\") has max_calls",
               "5: gateways[2].say_voice: only a voice gateway (channel \"voice\") has say_voice",
               "6: gateways[3].ring_timeout: only a voice gateway (channel \"voice\") has ring_timeout",
               "6: gateways[3].call_limit: only a voice gateway (channel \"voice\") has call_limit",
               "6: gateways[3].machine_detection: only a voice gateway (channel \"voice\") has machine_detection",
               "6: gateways[3].say_voice_en: only a voice gateway (channel \"voice\") has say_voice_en",
               "6: gateways[3].inbound_digits: only a voice gateway (channel \"voice\") has inbound_digits",
               "8: gateways[4].max_segments: a voice gateway places calls; max_segments is for SMS gateways",
               "7: gateways[4].max_calls: 101 is out of range (1..100)",
               "8: gateways[4].ring_timeout: 4s is out of range (5s..10m)",
               "8: gateways[4].call_limit: 2h is out of range (30s..1h)",
               "8: gateways[4].machine_detection: unknown value \"on\" (use \"off\", \"enable\" or \"detect-message-end\")",
               "8: gateways[4].say_voice: bad voice name \"Polly Liv\" (use e.g. \"Polly.Liv\")",
               "9: gateways[4].inbound_digits: only a gateway of type \"http\" has configurable webhook fields (twilio webhooks have a fixed format)",
               "10: gateways[5].body: unknown placeholder {zap}",
               "10: gateways[5].max_calls: 0 is out of range (1..100)",
               "10: gateways[5]: missing required setting \"inbound_token_file\" (the key presses of a generic voice gateway's calls come back with it)",
               "11: gateways[6].url: unknown placeholder {lang}",
               "11: gateways[6].body: unknown placeholder {answer_url}",
               "12: gateways[7].channel: a http gateway sends SMS only; use channel \"sms\" or \"voice\"",
               "13: gateways[8].from: bad number \"Kriseteam\" (a call comes from a phone number, e.g. \"+4759440000\")",
               "14: gateways[9]: missing required setting \"from\" (the number the calls come from, e.g. \"+4759440000\")");

        /* the listener its key presses come back to */
        free(conf);
        assert_true(asprintf(&conf,
                             "site = \"t\";\n"
                             "gateways = (\n"
                             "  { id = \"sms\"; type = \"file\"; },\n"
                             "  { id = \"voice\"; type = \"twilio\"; channel = \"voice\"; account = \"AC1\"; from = \"+4759440000\";\n"
                             "    token_file = \"%s\"; },\n"
                             "  { id = \"fvoice\"; type = \"file\"; channel = \"voice\"; }\n"
                             ");\n",
                             tok) > 0);
        EXPECT(conf, "4: gateways[1].channel: a voice gateway needs http.listen and http.public_url: the call's key "
                     "presses come back over them");
        _cleanup_free_ char *c2 = NULL, *c3 = NULL;
        assert_true(asprintf(&c2, "%shttp = { listen = \"127.0.0.1:8470\"; };\n", conf) > 0);
        EXPECT(c2, "4: gateways[1].channel: a voice gateway needs http.public_url: the call's key presses come back over it");
        assert_true(asprintf(&c3, "%shttp = { public_url = \"https://b.example\"; };\n", conf) > 0);
        EXPECT(c3, "4: gateways[1].channel: a voice gateway needs http.listen: the call's key presses come back over it");
        assert_int_equal(unlink(tok), 0);
}

static int group_setup(_unused_ void **state) {
        if (!mkdtemp(tmpdir))
                return -1;
        unsetenv("CREDENTIALS_DIRECTORY");
        return 0;
}

static int group_teardown(_unused_ void **state) {
        static const char *const names[] = { "t.conf", "ok.conf" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char path[256];
                snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
                (void) unlink(path);
        }
        return rmdir(tmpdir) < 0 ? -1 : 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_base_loads),
                cmocka_unit_test(test_full_config),
                cmocka_unit_test(test_mqtt_defaults),
                cmocka_unit_test(test_demo_conf),
                cmocka_unit_test(test_example_conf_with_credentials),
                cmocka_unit_test(test_unknown_keys),
                cmocka_unit_test(test_wrong_types),
                cmocka_unit_test(test_missing_required),
                cmocka_unit_test(test_bad_duration),
                cmocka_unit_test(test_duplicate_id),
                cmocka_unit_test(test_followup_factors),
                cmocka_unit_test(test_followup_factor_errors),
                cmocka_unit_test(test_unknown_references),
                cmocka_unit_test(test_unreachable_quorum),
                cmocka_unit_test(test_bad_phone_and_email),
                cmocka_unit_test(test_smtp_helo),
                cmocka_unit_test(test_via_without_gateway),
                cmocka_unit_test(test_final_step_not_last),
                cmocka_unit_test(test_syntax_error),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_five_mistakes),
                cmocka_unit_test(test_more_rules),
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_dates),
                cmocka_unit_test(test_names_and_errlist),
                cmocka_unit_test(test_secret_world_readable),
                cmocka_unit_test(test_secret_in_config),
                cmocka_unit_test(test_secret_lookup_order),
                cmocka_unit_test(test_secret_limits),
                cmocka_unit_test(test_http_section),
                cmocka_unit_test(test_http_errors),
                cmocka_unit_test(test_http_gateway_inbound),
                cmocka_unit_test(test_retention_section),
                cmocka_unit_test(test_max_segments),
                cmocka_unit_test(test_roles_and_reports),
                cmocka_unit_test(test_voice_gateways),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
