/* test_coverage.c - the coverage forecast with a fake clock (absences given
 * as instants, the calendar from a TZ rule): role minimums, office and
 * outside-office parts where steps differ by `when`, holidays and closed
 * days, a roster's away on-duty person replaced by the next member, a person
 * in two steps counted once, the final step not counted, a range across New
 * Year, the range limits, and the texts (beredctl's lines, the leader's
 * summary) and the JSON without person ids. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "absence.h"
#include "calendar.h"
#include "config.h"
#include "coverage.h"
#include "macro.h"
#include "test.h"

static char tmpdir[256];

static const char config_text[] =
        "site = \"test\";\n"
        "spool = \"%s/spool\";\n"
        "calendar: { office_hours = \"Mon-Fri 08:00-15:30\"; holidays = \"no\";\n"
        "  closed = [ \"2026-12-24\", \"2026-12-31\" ];\n"
        "  heightened = ( { from = \"2026-12-18\"; to = \"2027-01-03\"; name = \"Jul og nyttår\"; } ); };\n"
        "roles = ( { id = \"leader\"; name = \"leder\"; name_en = \"leader\"; },\n"
        "          { id = \"member\"; name = \"medlem\"; name_en = \"member\"; } );\n"
        "people = (\n"
        "  { id = \"kari\"; name = \"Kari Nordmann\"; phone = \"+4791234567\"; roles = [\"leader\"]; },\n"
        "  { id = \"lise\"; name = \"Lise Leder\"; phone = \"+4791234571\"; roles = [\"leader\"]; },\n"
        "  { id = \"ola\"; name = \"Ola Nordmann\"; phone = \"+4791234568\"; roles = [\"member\"]; },\n"
        "  { id = \"per\"; name = \"Per Hansen\"; phone = \"+4791234569\"; roles = [\"member\"]; },\n"
        "  { id = \"siri\"; name = \"Siri Berg\"; phone = \"+4791234570\"; roles = [\"member\"]; },\n"
        "  { id = \"v1\"; name = \"Vakt En\"; phone = \"+4791234581\"; roles = [\"member\"]; },\n"
        "  { id = \"v2\"; name = \"Vakt To\"; phone = \"+4791234582\"; roles = [\"member\"]; },\n"
        "  { id = \"legevakt\"; name = \"Legevakten\"; phone = \"+4773000000\"; roles = [\"fallback\"]; }\n"
        ");\n"
        "rosters = ( { id = \"vakt\"; rotation = \"daily\"; handoff = \"08:00\"; start = \"2026-12-01\";\n"
        "              members = [ \"v1\", \"v2\" ]; } );\n"
        "gateways = ( { id = \"outbox\"; channel = \"any\"; type = \"file\"; } );\n"
        "chains = (\n"
        /* every step always: one part a day; kari in two steps */
        "  { id = \"team\"; may_trigger = [ \"kari\" ];\n"
        "    need = { total = 3; roles = { leader = 1; member = 2; }; };\n"
        "    steps = ( { notify = [ \"kari\", \"ola\", \"per\" ]; wait = \"10m\"; },\n"
        "              { notify = [ \"kari\", \"siri\" ]; wait = \"10m\"; },\n"
        "              { notify = [ \"legevakt\", \"lise\" ]; final = true; } ); },\n"
        /* office: the leaders; outside: the roster and kari */
        "  { id = \"split\"; may_trigger = [ \"kari\" ];\n"
        "    need = { total = 2; roles = { leader = 1; }; };\n"
        "    steps = ( { notify = [ \"role:leader\", \"ola\" ]; wait = \"10m\"; when = \"office\"; },\n"
        "              { notify = [ \"kari\", \"roster:vakt\" ]; wait = \"10m\"; when = \"outside-office\"; } ); }\n"
        ");\n";

struct world {
        struct config *cfg;
        struct calendar *cal;
        struct absences *abs;
};

static int setup(void **state) {
        struct world *w = calloc(1, sizeof(*w));
        _cleanup_free_ char *text = NULL;
        assert_non_null(w);
        assert_true(asprintf(&text, config_text, tmpdir) > 0);
        w->cfg = test_config_from_text(tmpdir, "beredd.conf", text);
        struct calendar_tz *tz = NULL;
        assert_int_equal(calendar_tz_from_posix("CET-1CEST,M3.5.0,M10.5.0/3", &tz), 0);
        assert_int_equal(calendar_new_with_tz(&w->cfg->calendar, tz, &w->cal), 0);
        assert_int_equal(absences_new(NULL, &w->abs, NULL), 0);
        *state = w;
        return 0;
}

static int teardown(void **state) {
        struct world *w = *state;
        absences_free(w->abs);
        calendar_free(w->cal);
        config_free(w->cfg);
        free(w);
        return 0;
}

/* PERSON away from local D1 H1:00 to local D2 H2:00 (December/January: UTC+1). */
static void away(struct world *w, const char *person, struct ymd d1, int h1, struct ymd d2, int h2) {
        uint64_t from = calendar_from_local(w->cal, d1, h1 * 60), to = calendar_from_local(w->cal, d2, h2 * 60);
        assert_int_equal(absences_add(w->abs, person, from, to, NULL, "test", from, NULL), 0);
}

static struct coverage *cover(struct world *w, const char *chain, struct ymd from, struct ymd to) {
        struct coverage *cv = NULL;
        assert_int_equal(coverage_compute(w->cfg, w->cal, NULL, w->abs, config_chain(w->cfg, chain), from, to, &cv),
                         0);
        assert_non_null(cv);
        return cv;
}

#define D(y, m, d) ((struct ymd) { (y), (m), (d) })

static void test_roles_once_final(void **state) {
        struct world *w = *state;
        _cleanup_(coverage_freep) struct coverage *cv = cover(w, "team", D(2027, 1, 4), D(2027, 1, 6));
        assert_int_equal(cv->n_parts, 3);
        /* kari in two steps counts once; the final step (lise, legevakt) not at all */
        assert_int_equal(cv->parts[0].kind, COVERAGE_DAY);
        assert_int_equal(cv->parts[0].people, 4);
        assert_int_equal(cv->parts[0].available, 4);
        assert_true(cv->parts[0].met);
        assert_int_equal(cv->n_unmet, 0);
        coverage_free(cv);

        /* kari away on the 5th from 14:00 to the 6th 09:00: no leader both days */
        away(w, "kari", D(2027, 1, 5), 14, D(2027, 1, 6), 9);
        cv = cover(w, "team", D(2027, 1, 4), D(2027, 1, 7));
        assert_true(cv->parts[0].met);
        assert_false(cv->parts[1].met);
        assert_int_equal(cv->parts[1].available, 3);
        assert_int_equal(cv->parts[1].n_roles, 2);
        assert_string_equal(cv->parts[1].roles[0].role, "leader");
        assert_int_equal(cv->parts[1].roles[0].available, 0);
        assert_int_equal(cv->parts[1].roles[1].available, 3);
        assert_int_equal(cv->parts[1].n_away, 1);
        assert_string_equal(cv->parts[1].away[0], "kari");
        assert_false(cv->parts[2].met);
        assert_true(cv->parts[3].met);
        assert_int_equal(cv->n_unmet, 2);
        assert_int_equal(cv->n_unmet_days, 2);
        _cleanup_free_ char *t = coverage_text(w->cfg, cv, LANG_NB);
        assert_non_null(strstr(t, "ti. 05.01  3 av 4 tilgjengelige  KAN IKKE DEKKES: mangler leder (0 av 1)\n"));
        _cleanup_free_ char *te = coverage_text(w->cfg, cv, LANG_EN);
        assert_non_null(strstr(te, "Tue 05.01  3 of 4 available  CANNOT BE COVERED: missing leader (0 of 1)\n"));

        /* two members away too: the member minimum and the total */
        away(w, "ola", D(2027, 1, 7), 0, D(2027, 1, 8), 0);
        away(w, "per", D(2027, 1, 7), 12, D(2027, 1, 7), 13);
        coverage_free(cv);
        cv = cover(w, "team", D(2027, 1, 7), D(2027, 1, 7));
        assert_false(cv->parts[0].met);
        assert_int_equal(cv->parts[0].available, 2);
        assert_int_equal(cv->parts[0].roles[0].available, 1);
        assert_int_equal(cv->parts[0].roles[1].available, 1);
        _cleanup_free_ char *s = coverage_summary(w->cfg, cv, NULL, LANG_NB);
        assert_string_equal(s, "team 7.1\xe2\x80\x93" "7.1: 1 dag kan ikke dekkes: to. 7.1 (mangler medlem (1 av 2) og 1 av 3).");
}

static void test_split_office_outside(void **state) {
        struct world *w = *state;
        assert_true(coverage_chain_splits(config_chain(w->cfg, "split")));
        assert_false(coverage_chain_splits(config_chain(w->cfg, "team")));
        /* Friday 8 January 2027 and the weekend */
        _cleanup_(coverage_freep) struct coverage *cv = cover(w, "split", D(2027, 1, 8), D(2027, 1, 9));
        assert_int_equal(cv->n_parts, 3);
        assert_int_equal(cv->parts[0].kind, COVERAGE_OFFICE);
        assert_int_equal(cv->parts[0].people, 3); /* kari, lise, ola */
        assert_int_equal(cv->parts[1].kind, COVERAGE_OUTSIDE);
        assert_int_equal(cv->parts[1].people, 2); /* kari, who is on duty */
        assert_int_equal(cv->parts[2].kind, COVERAGE_OUTSIDE); /* Saturday: all of it */
        assert_true(cv->parts[0].met && cv->parts[1].met && cv->parts[2].met);
        coverage_free(cv);

        /* kari away in the evening only: office hours still covered (lise), the outside part not */
        away(w, "kari", D(2027, 1, 8), 18, D(2027, 1, 8), 22);
        cv = cover(w, "split", D(2027, 1, 8), D(2027, 1, 8));
        assert_true(cv->parts[0].met);
        assert_false(cv->parts[1].met);
        assert_int_equal(cv->parts[1].roles[0].available, 0);
        assert_int_equal(cv->parts[1].available, 1);
        _cleanup_free_ char *t = coverage_text(w->cfg, cv, LANG_NB);
        _cleanup_free_ char *s = coverage_summary(w->cfg, cv, NULL, LANG_NB);
        assert_string_equal(s, "split 8.1\xe2\x80\x93" "8.1: 1 dag kan ikke dekkes: fr. 8.1 utenfor kontortid (mangler leder og 1 av 2).");
        assert_non_null(strstr(t, "fr. 08.01  kontortid"));
        assert_non_null(strstr(t, "fr. 08.01  utenfor kontortid     1 av 2 tilgjengelige  KAN IKKE DEKKES: "
                                  "mangler leder (0 av 1) og 1 av 2\n"));
}

static void test_roster_away_replaced(void **state) {
        struct world *w = *state;
        /* Saturday 9 January 2027 from 00:00: who is on duty? */
        const struct roster *r = config_roster(w->cfg, "vakt");
        const char *on = duty_on_duty(NULL, w->cal, r, calendar_from_local(w->cal, D(2027, 1, 9), 0));
        assert_non_null(on);
        const char *other = streq(on, "v1") ? "v2" : "v1";
        away(w, on, D(2027, 1, 9), 0, D(2027, 1, 10), 0);
        _cleanup_(coverage_freep) struct coverage *cv = cover(w, "split", D(2027, 1, 9), D(2027, 1, 9));
        assert_int_equal(cv->n_parts, 1);
        assert_true(cv->parts[0].met);
        assert_int_equal(cv->parts[0].available, 2); /* kari and the stand-in */
        assert_int_equal(cv->parts[0].n_away, 1);
        assert_string_equal(cv->parts[0].away[0], on);
        coverage_free(cv);
        /* both roster members away: kari alone */
        away(w, other, D(2027, 1, 9), 10, D(2027, 1, 9), 11);
        cv = cover(w, "split", D(2027, 1, 9), D(2027, 1, 9));
        assert_false(cv->parts[0].met);
        assert_int_equal(cv->parts[0].available, 1);
        assert_int_equal(cv->parts[0].roles[0].available, 1);
}

static void test_holidays_new_year(void **state) {
        struct world *w = *state;
        away(w, "kari", D(2026, 12, 24), 0, D(2026, 12, 27), 0);
        _cleanup_(coverage_freep) struct coverage *cv = cover(w, "split", D(2026, 12, 23), D(2027, 1, 4));
        /* 23.12 Wed: 2 parts; 24 closed, 25/26 holidays, 27 Sun, 28-30 working (2 parts),
         * 31 closed, 1.1 holiday, 2-3 weekend, 4 Mon: 2 parts */
        assert_int_equal(cv->n_parts, 2 + 1 + 1 + 1 + 1 + 6 + 1 + 1 + 1 + 1 + 2);
        assert_int_equal(cv->parts[2].date.d, 24);
        assert_true(cv->parts[2].closed);
        assert_int_equal(cv->parts[2].kind, COVERAGE_OUTSIDE);
        assert_string_equal(cv->parts[2].heightened, "Jul og nyttår");
        assert_non_null(cv->parts[3].holiday); /* 1. juledag */
        assert_false(cv->parts[2].met);
        assert_false(cv->parts[3].met);
        assert_false(cv->parts[4].met);
        assert_true(cv->parts[5].met);
        assert_int_equal(cv->n_unmet_days, 3);
        assert_int_equal(cv->parts[cv->n_parts - 1].date.y, 2027);
        _cleanup_free_ char *s = coverage_summary(w->cfg, cv, "Jul og nyttår", LANG_NB);
        assert_string_equal(s, "Jul og nyttår 23.12\xe2\x80\x93" "4.1: 3 dager kan ikke dekkes: to. 24.12 "
                               "(mangler leder og 1 av 2), fr. 25.12 (mangler leder og 1 av 2), "
                               "lø. 26.12 (mangler leder og 1 av 2).");
        json_t *j = coverage_json(w->cfg, cv, false);
        _cleanup_free_ char *js = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_null(strstr(js, "kari"));
        assert_null(strstr(js, "\"away\""));
        assert_non_null(strstr(js, "{\"role\":\"leader\",\"name\":\"leder\",\"need\":1,\"available\":0}"));
        j = coverage_json(w->cfg, cv, true);
        _cleanup_free_ char *jp = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_non_null(strstr(jp, "\"away\":[\"kari\"]"));
}

static void test_limits(void **state) {
        struct world *w = *state;
        struct coverage *cv = NULL;
        const struct chain *c = config_chain(w->cfg, "team");
        assert_int_equal(coverage_compute(w->cfg, w->cal, NULL, w->abs, c, D(2027, 1, 2), D(2027, 1, 1), &cv), -EINVAL);
        assert_int_equal(coverage_compute(w->cfg, w->cal, NULL, w->abs, c, D(2027, 1, 1), D(2027, 3, 4), &cv), -E2BIG);
        assert_int_equal(coverage_compute(w->cfg, w->cal, NULL, w->abs, c, D(2027, 1, 1), D(2027, 3, 3), &cv), 0);
        assert_int_equal(cv->n_parts, 62);
        _cleanup_free_ char *s = coverage_summary(w->cfg, cv, NULL, LANG_NB);
        assert_string_equal(s, "team 1.1\xe2\x80\x93" "3.3: alle dager kan dekkes.");
        coverage_free(cv);

        /* the only leader of "team" away for ten days: eight named, then how many more */
        away(w, "kari", D(2027, 1, 4), 0, D(2027, 1, 14), 0);
        assert_int_equal(coverage_compute(w->cfg, w->cal, NULL, w->abs, c, D(2027, 1, 1), D(2027, 1, 31), &cv), 0);
        assert_int_equal(cv->n_unmet_days, 10);
        _cleanup_free_ char *l = coverage_summary(w->cfg, cv, "Januar", LANG_NB);
        assert_string_equal(l, "Januar 1.1\xe2\x80\x93" "31.1: 10 dager kan ikke dekkes: ma. 4.1 (mangler leder), "
                               "ti. 5.1 (mangler leder), on. 6.1 (mangler leder), to. 7.1 (mangler leder), "
                               "fr. 8.1 (mangler leder), lø. 9.1 (mangler leder), sø. 10.1 (mangler leder), "
                               "ma. 11.1 (mangler leder) og 2 til.");
        _cleanup_free_ char *e = coverage_summary(w->cfg, cv, NULL, LANG_EN);
        assert_non_null(strstr(e, "team 1.1\xe2\x80\x93" "31.1: 10 days cannot be covered: Mon 4.1 (missing leader), "));
        assert_non_null(strstr(e, " and 2 more."));
        coverage_free(cv);
}

int main(void) {
        test_dir_make(tmpdir, "test_coverage");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_roles_once_final, setup, teardown),
                cmocka_unit_test_setup_teardown(test_split_office_outside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_roster_away_replaced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_holidays_new_year, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        test_dir_remove(tmpdir);
        return r;
}
