/* test_followup.c - the follow-up rules with a fake clock: when reminders,
 * second reminders, escalations and purges fall (office hours, weekends,
 * Ascension Day, the DST weekend, heightened periods), what each check-in
 * outcome does to level and due date, the texts; then the engine itself on a
 * real spool and sd-event loop with a recording gateway: reminders once,
 * write-ahead re-sends with the same key after a "crash", reply codes,
 * duplicates, summary counts. */
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "absence.h"
#include "activation.h"
#include "calendar.h"
#include "config.h"
#include "followup.h"
#include "macro.h"
#include "store.h"
#include "text.h"
#include "test.h"

static struct ymd D(int y, int m, int d) {
        return (struct ymd) { .y = y, .m = m, .d = d };
}

#define assert_ymd(got, yy, mm, dd)                                                                          \
        do {                                                                                                 \
                struct ymd g_ = (got);                                                                       \
                if (g_.y != (yy) || g_.m != (mm) || g_.d != (dd)) {                                          \
                        print_error("date %04d-%02d-%02d, expected %04d-%02d-%02d\n", g_.y, g_.m, g_.d, yy, mm, \
                                    dd);                                                                     \
                        fail();                                                                              \
                }                                                                                            \
        } while (0)

#define assert_instant(got, want)                                                                            \
        do {                                                                                                 \
                uint64_t g_ = (got), w_ = (want);                                                            \
                if (g_ != w_) {                                                                              \
                        print_error("instant %" PRIu64 " (%+.2f h off)\n", g_, ((double) g_ - (double) w_) / 3.6e9); \
                        fail();                                                                              \
                }                                                                                            \
        } while (0)

static char tmpdir[] = "/tmp/beredd-test-followup-XXXXXX";

static const char config_text[] =
        "site = \"test\";\n"
        "timezone = \"Europe/Oslo\";\n"
        "spool = \"%s/spool\";\n"
        "calendar: { office_hours = \"Mon-Fri 08:00-15:30\"; holidays = \"no\";\n"
        "  heightened = ( { from = \"2026-12-18\"; to = \"2027-01-03\"; name = \"Jul og nyttår\"; } ); };\n"
        "people = (\n"
        "  { id = \"kari\"; name = \"Kari Nordmann\"; phone = \"+4791234567\"; email = \"kari@kommune.example\"; roles = [\"leader\"]; },\n"
        "  { id = \"ola\"; name = \"Ola Nordmann\"; phone = \"+4791234568\"; roles = [\"member\"]; },\n"
        "  { id = \"ann\"; name = \"Ann Smith\"; email = \"ann@kommune.example\"; lang = \"en\"; roles = [\"member\"]; },\n"
        "  { id = \"per\"; name = \"Per Hansen\"; phone = \"+4791234569\"; roles = [\"member\"]; }\n"
        ");\n"
        "gateways = ( { id = \"outbox\"; channel = \"any\"; type = \"file\"; } );\n"
        "followup: {\n"
        "  levels = ( { level = 1; name = \"lav\"; every = \"14d\"; },\n"
        "             { level = 2; name = \"middels\"; every = \"7d\"; },\n"
        "             { level = 3; name = \"intensiv\"; every = \"2d\"; } );\n"
        "  remind = \"%s\"; overdue_after = \"1d\"; escalate_after = \"2d\";\n"
        "  coordinator = \"kari\"; retention = \"90d\"; heightened_factor = 0.5; unreached_max = 3;\n"
        "};\n";

struct world {
        struct config *cfg;
        struct calendar *cal;
};

static void world_load(struct world *w, const char *remind) {
        _cleanup_free_ char *text = NULL, *name = NULL, *path = NULL;
        assert_true(asprintf(&text, config_text, tmpdir, remind) > 0);
        assert_true(asprintf(&name, "%s.conf", remind) > 0);
        path = test_write_file(tmpdir, name, text, 0644);
        struct errlist errs = {};
        w->cfg = config_load(path, &errs);
        for (size_t i = 0; i < errs.n; i++)
                print_error("%s\n", errs.v[i]);
        assert_non_null(w->cfg);
        errlist_free(&errs);
        struct calendar_tz *tz = NULL;
        /* The rule alone, so the test does not need tzdata. */
        assert_int_equal(calendar_tz_from_posix("CET-1CEST,M3.5.0,M10.5.0/3", &tz), 0);
        assert_int_equal(calendar_new_with_tz(&w->cfg->calendar, tz, &w->cal), 0);
}

static void world_free(struct world *w) {
        calendar_free(w->cal);
        config_free(w->cfg);
}

static int setup_office(void **state) {
        struct world *w = calloc(1, sizeof(*w));
        world_load(w, "office-hours");
        *state = w;
        return 0;
}

static int setup_morning(void **state) {
        struct world *w = calloc(1, sizeof(*w));
        world_load(w, "morning");
        *state = w;
        return 0;
}

static int teardown(void **state) {
        world_free(*state);
        free(*state);
        return 0;
}

static uint64_t next_of(struct world *w, struct fu_sched s, enum fu_action want) {
        enum fu_action a;
        uint64_t t = followup_next_action(&w->cfg->followup, w->cal, &s, &a);
        assert_int_equal(a, want);
        return t;
}

static uint64_t first_for(struct world *w, struct ymd due) {
        return next_of(w, (struct fu_sched) { .state = FU_OPEN, .stage = FU_STAGE_NONE, .due = due }, FU_ACT_REMIND);
}

/* ---- when reminders fall ---- */

static void test_first_reminder(void **state) {
        struct world *w = *state;
        /* Monday 2 March 2026: 08:00 CET = 07:00 UTC. */
        assert_instant(first_for(w, D(2026, 3, 2)), U(2026, 3, 2, 7, 0));
        /* Saturday 7 March -> Monday 9 March 08:00. */
        assert_instant(first_for(w, D(2026, 3, 7)), U(2026, 3, 9, 7, 0));
        assert_instant(first_for(w, D(2026, 3, 8)), U(2026, 3, 9, 7, 0));
        /* Ascension Day, Thursday 14 May 2026 -> Friday 15 May 08:00 CEST = 06:00 UTC. */
        assert_instant(first_for(w, D(2026, 5, 14)), U(2026, 5, 15, 6, 0));
        /* Easter 2026: Maundy Thursday 2 April .. Easter Monday 6 April -> Tuesday 7 April. */
        assert_instant(first_for(w, D(2026, 4, 2)), U(2026, 4, 7, 6, 0));
        /* DST weekend: Friday 27 March is CET, the Monday after is CEST. */
        assert_instant(first_for(w, D(2026, 3, 27)), U(2026, 3, 27, 7, 0));
        assert_instant(first_for(w, D(2026, 3, 28)), U(2026, 3, 30, 6, 0));
        assert_instant(first_for(w, D(2026, 3, 29)), U(2026, 3, 30, 6, 0));
        /* The autumn change: Sunday 25 October 2026 -> Monday 26 October 08:00 CET. */
        assert_instant(first_for(w, D(2026, 10, 25)), U(2026, 10, 26, 7, 0));
}

static void test_first_reminder_morning(void **state) {
        struct world *w = *state;
        /* remind = "morning": 08:00 on the due day, weekends too. */
        assert_instant(first_for(w, D(2026, 3, 7)), U(2026, 3, 7, 7, 0));
        assert_instant(first_for(w, D(2026, 3, 29)), U(2026, 3, 29, 6, 0));
        assert_instant(first_for(w, D(2026, 5, 14)), U(2026, 5, 14, 6, 0));
}

/* A first reminder whose time has passed when the case is opened, postponed
 * or rescheduled: in office-hours mode at once within office hours, else at
 * the next opening (next working day: weekends, holidays, closed days). */
static void test_first_reminder_late(void **state) {
        struct world *w = *state;
        struct fu_sched s = { .state = FU_OPEN, .stage = FU_STAGE_NONE, .due = D(2026, 3, 2) };
        /* Opened Monday 2 March 21:00 CET (20:00 UTC), due today: Tuesday 08:00, not at once. */
        s.now = U(2026, 3, 2, 20, 0);
        assert_instant(next_of(w, s, FU_ACT_REMIND), U(2026, 3, 3, 7, 0));
        /* 21:16, the time of the report. */
        s.now = U(2026, 3, 2, 20, 16);
        assert_instant(next_of(w, s, FU_ACT_REMIND), U(2026, 3, 3, 7, 0));
        /* Before the opening on the due day: the opening, as without NOW. */
        s.now = U(2026, 3, 2, 5, 0);
        assert_instant(next_of(w, s, FU_ACT_REMIND), U(2026, 3, 2, 7, 0));
        /* Within office hours, after the opening: at once. */
        s.now = U(2026, 3, 2, 12, 34);
        assert_instant(next_of(w, s, FU_ACT_REMIND), s.now);
        /* After closing on Friday 6 March (15:30 CET): Monday 9 March 08:00. */
        s.due = D(2026, 3, 6);
        s.now = U(2026, 3, 6, 14, 31);
        assert_instant(next_of(w, s, FU_ACT_REMIND), U(2026, 3, 9, 7, 0));
        /* Wednesday 13 May 21:00 CEST, before Ascension Day: Friday 15 May 08:00 CEST. */
        s.due = D(2026, 5, 13);
        s.now = U(2026, 5, 13, 19, 0);
        assert_instant(next_of(w, s, FU_ACT_REMIND), U(2026, 5, 15, 6, 0));
        /* Due long ago (the daemon was stopped), started on a Saturday night: Monday. */
        s.due = D(2026, 2, 20);
        s.now = U(2026, 3, 7, 22, 0);
        assert_instant(next_of(w, s, FU_ACT_REMIND), U(2026, 3, 9, 7, 0));
        /* A due date in the future is not moved by NOW. */
        s.due = D(2026, 3, 10);
        s.now = U(2026, 3, 2, 20, 0);
        assert_instant(next_of(w, s, FU_ACT_REMIND), U(2026, 3, 10, 7, 0));
}

static void test_first_reminder_late_morning(void **state) {
        struct world *w = *state;
        /* remind = "morning" knows no office hours: at once, as before. */
        struct fu_sched s = { .state = FU_OPEN, .stage = FU_STAGE_NONE, .due = D(2026, 3, 2),
                              .now = U(2026, 3, 2, 20, 0) };
        assert_instant(next_of(w, s, FU_ACT_REMIND), s.now);
}

static void test_second_and_escalation(void **state) {
        struct world *w = *state;
        struct fu_sched s = { .state = FU_OPEN, .stage = FU_STAGE_FIRST, .due = D(2026, 3, 2),
                              .reminded = U(2026, 3, 2, 7, 0) };
        /* overdue_after = 1d: Tuesday 08:00. */
        assert_instant(next_of(w, s, FU_ACT_SECOND), U(2026, 3, 3, 7, 0));
        /* escalate_after = 2d after the first: Wednesday 08:00. */
        s.stage = FU_STAGE_SECOND;
        s.second = U(2026, 3, 3, 7, 0);
        assert_instant(next_of(w, s, FU_ACT_ESCALATE), U(2026, 3, 4, 7, 0));
        /* Escalated: nothing more until a check-in. */
        s.stage = FU_STAGE_ESCALATED;
        s.state = FU_ESCALATED;
        assert_true(next_of(w, s, FU_ACT_NONE) == UINT64_MAX);

        /* First reminder on a Friday: Saturday is outside office hours, the
         * second reminder waits for Monday 08:00; the escalation (Sunday)
         * never comes with or before the second: Tuesday 08:00. */
        s = (struct fu_sched) { .state = FU_OPEN, .stage = FU_STAGE_FIRST, .due = D(2026, 3, 6),
                                .reminded = U(2026, 3, 6, 7, 0) };
        assert_instant(next_of(w, s, FU_ACT_SECOND), U(2026, 3, 9, 7, 0));
        s.stage = FU_STAGE_SECOND;
        s.second = U(2026, 3, 9, 7, 0);
        assert_instant(next_of(w, s, FU_ACT_ESCALATE), U(2026, 3, 10, 7, 0));

        /* A reminder at 10:30 (sent late, e.g. after a restart): whole days
         * keep the time of day, and 10:30 is within office hours. */
        s = (struct fu_sched) { .state = FU_OPEN, .stage = FU_STAGE_FIRST, .due = D(2026, 3, 2),
                                .reminded = U(2026, 3, 2, 9, 30) };
        assert_instant(next_of(w, s, FU_ACT_SECOND), U(2026, 3, 3, 9, 30));

        /* Down over the second reminder: sent at start on Thursday 12:00, the
         * escalation still waits escalate_after - overdue_after (1d). */
        s = (struct fu_sched) { .state = FU_OPEN, .stage = FU_STAGE_SECOND, .due = D(2026, 3, 2),
                                .reminded = U(2026, 3, 2, 7, 0), .second = U(2026, 3, 5, 11, 0) };
        assert_instant(next_of(w, s, FU_ACT_ESCALATE), U(2026, 3, 6, 11, 0));
}

static void test_dst_weekend(void **state) {
        struct world *w = *state;
        /* First reminder Friday 27 March 08:00 CET; the second falls on
         * Saturday, so Monday 30 March 08:00 CEST (06:00 UTC). */
        struct fu_sched s = { .state = FU_OPEN, .stage = FU_STAGE_FIRST, .due = D(2026, 3, 27),
                              .reminded = U(2026, 3, 27, 7, 0) };
        assert_instant(next_of(w, s, FU_ACT_SECOND), U(2026, 3, 30, 6, 0));
}

static void test_dst_weekend_morning(void **state) {
        struct world *w = *state;
        /* Morning mode: Saturday 28 March 08:00 CET + 1d = Sunday 08:00 CEST,
         * 23 hours later: a day is a civil day, not 24 hours. */
        struct fu_sched s = { .state = FU_OPEN, .stage = FU_STAGE_FIRST, .due = D(2026, 3, 28),
                              .reminded = U(2026, 3, 28, 7, 0) };
        assert_instant(next_of(w, s, FU_ACT_SECOND), U(2026, 3, 29, 6, 0));
        s.stage = FU_STAGE_SECOND;
        s.second = U(2026, 3, 29, 6, 0);
        assert_instant(next_of(w, s, FU_ACT_ESCALATE), U(2026, 3, 30, 6, 0));
}

static void test_heightened(void **state) {
        struct world *w = *state;
        /* Christmas period, factor 0.5: overdue_after 1d -> 12 h after Monday
         * 21 December 08:00 is 20:00, outside office hours -> Tuesday 08:00. */
        struct fu_sched s = { .state = FU_OPEN, .stage = FU_STAGE_FIRST, .due = D(2026, 12, 21),
                              .reminded = U(2026, 12, 21, 7, 0) };
        assert_instant(next_of(w, s, FU_ACT_SECOND), U(2026, 12, 22, 7, 0));
        /* Level 2 (7d) is 3.5 days, rounded to 4. */
        assert_true(followup_interval(&w->cfg->followup, w->cal, 2, D(2026, 12, 21)) == 84 * USEC_PER_HOUR);
        assert_true(followup_interval(&w->cfg->followup, w->cal, 2, D(2026, 12, 17)) == 7 * USEC_PER_DAY);
        struct fu_checkin_state st = { .level = 2 };
        struct fu_plan p;
        char err[128];
        assert_int_equal(followup_plan_checkin(&w->cfg->followup, w->cal, &st, OUTCOME_NO_NEEDS, NULL, 0, 0,
                                               U(2026, 12, 21, 9, 0), &p, err, sizeof(err)), 0);
        assert_ymd(p.due, 2026, 12, 25);
        /* ... which is Christmas Day: reminded Monday 28 December. */
        assert_instant(first_for(w, p.due), U(2026, 12, 28, 7, 0));
}

static void test_purge(void **state) {
        struct world *w = *state;
        /* Closed Monday 2 March 10:00; 90 days later is 31 May; the daily
         * sweep at 03:00 on 1 June (CEST) purges it. */
        struct fu_sched s = { .state = FU_CLOSED, .closed = U(2026, 3, 2, 9, 0) };
        assert_instant(next_of(w, s, FU_ACT_PURGE), U(2026, 6, 1, 1, 0));
}

/* ---- check-ins ---- */

static struct fu_plan plan(struct world *w, struct fu_checkin_state st, enum outcome o, uint64_t now) {
        struct fu_plan p;
        char err[128] = "";
        int r = followup_plan_checkin(&w->cfg->followup, w->cal, &st, o, NULL, 0, 0, now, &p, err, sizeof(err));
        if (r < 0)
                print_error("%s\n", err);
        assert_int_equal(r, 0);
        return p;
}

static void test_outcomes(void **state) {
        struct world *w = *state;
        uint64_t mon = U(2026, 3, 2, 9, 0); /* Monday 10:00 local */
        struct fu_checkin_state l2 = { .level = 2, .unreached_in_row = 2, .task = true };
        struct fu_plan p;

        p = plan(w, l2, OUTCOME_NO_NEEDS, mon); /* the level's interval: 7d */
        assert_int_equal(p.level, 2);
        assert_ymd(p.due, 2026, 3, 9);
        assert_int_equal(p.unreached_in_row, 0);
        assert_false(p.task);
        assert_false(p.tell_children || p.tell_unreached);

        p = plan(w, l2, OUTCOME_NEEDS, mon); /* one step up, the new level's 2d */
        assert_int_equal(p.level, 3);
        assert_ymd(p.due, 2026, 3, 4);
        assert_false(p.tell_children);

        p = plan(w, l2, OUTCOME_WORSE, mon); /* no children: no task */
        assert_int_equal(p.level, 3);
        assert_ymd(p.due, 2026, 3, 4);
        assert_false(p.tell_children);

        struct fu_checkin_state l3 = { .level = 3 };
        p = plan(w, l3, OUTCOME_NEEDS, mon); /* capped at the highest level */
        assert_int_equal(p.level, 3);
        assert_ymd(p.due, 2026, 3, 4);

        p = plan(w, l2, OUTCOME_BETTER, mon); /* one step down: 14d */
        assert_int_equal(p.level, 1);
        assert_ymd(p.due, 2026, 3, 16);
        struct fu_checkin_state l1 = { .level = 1 };
        p = plan(w, l1, OUTCOME_BETTER, mon);
        assert_int_equal(p.level, 1);
}

static void test_children_task(void **state) {
        struct world *w = *state;
        uint64_t mon = U(2026, 3, 2, 9, 0);
        struct fu_checkin_state st = { .level = 2, .children = true };
        struct fu_plan p = plan(w, st, OUTCOME_WORSE, mon);
        assert_int_equal(p.level, 3);
        assert_true(p.task);
        assert_true(p.tell_children);
        /* The task stays on the reminders while the person is unreached ... */
        st = (struct fu_checkin_state) { .level = 3, .children = true, .task = true };
        p = plan(w, st, OUTCOME_UNREACHED, mon);
        assert_true(p.task);
        assert_false(p.tell_children);
        /* ... and goes with the next real check-in. */
        p = plan(w, st, OUTCOME_NO_NEEDS, mon);
        assert_false(p.task);

        char subject[256], text[512];
        const char *contacts[] = { "kari", "ola" };
        struct fu_text_args a = { .kind = FU_TEXT_REMIND, .ch = CHANNEL_SMS, .ref = "K-2041", .code = "48213",
                                  .task = true, .today = true, .contacts = contacts, .n_contacts = 2 };
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_non_null(strstr(text, "Sjekk omsorgssituasjonen for barna."));
        assert_non_null(strstr(text, "OK 48213"));
        struct text_sms_info info;
        assert_int_equal(text_sms_count(text, strlen(text), &info), 0);
        assert_int_equal(info.segments, 1);
        assert_non_null(strstr(text, "Svar OK 48213 (ingen behov) eller HJELP 48213 (trenger oppfølging)."));
        a.kind = FU_TEXT_CHILDREN;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(text, "K-2041: forverring registrert. Sjekk omsorgssituasjonen for barna. "
                                  "Kontaktpersoner: kari, ola.");
}

static void test_unreached(void **state) {
        struct world *w = *state;
        struct fu_checkin_state st = { .level = 2 };
        /* Monday -> Tuesday; three in a row tell the coordinator, then every third. */
        uint64_t days[] = { U(2026, 3, 2, 9, 0), U(2026, 3, 3, 9, 0), U(2026, 3, 4, 9, 0),
                            U(2026, 3, 5, 9, 0), U(2026, 3, 6, 9, 0), U(2026, 3, 9, 9, 0) };
        bool tell[] = { false, false, true, false, false, true };
        for (size_t i = 0; i < ELEMENTSOF(days); i++) {
                struct fu_plan p = plan(w, st, OUTCOME_UNREACHED, days[i]);
                assert_int_equal(p.unreached_in_row, (int) i + 1);
                assert_int_equal(p.tell_unreached, tell[i]);
                assert_int_equal(p.level, 2);
                st.unreached_in_row = p.unreached_in_row;
                if (i == 4) /* Friday -> the next working day is Monday */
                        assert_ymd(p.due, 2026, 3, 9);
                else if (i == 0)
                        assert_ymd(p.due, 2026, 3, 3);
        }
        /* The day before Ascension Day -> Friday. */
        st.unreached_in_row = 0;
        assert_ymd(plan(w, st, OUTCOME_UNREACHED, U(2026, 5, 13, 9, 0)).due, 2026, 5, 15);
        /* Reached again: the count starts over. */
        st.unreached_in_row = 5;
        assert_int_equal(plan(w, st, OUTCOME_NEEDS, U(2026, 3, 2, 9, 0)).unreached_in_row, 0);
}

static void test_overrides(void **state) {
        struct world *w = *state;
        const struct followup_conf *fc = &w->cfg->followup;
        uint64_t mon = U(2026, 3, 2, 9, 0);
        struct fu_checkin_state st = { .level = 2, .unreached_in_row = 1 };
        struct fu_plan p;
        char err[128] = "";
        struct ymd next = D(2026, 4, 1);

        assert_int_equal(followup_plan_checkin(fc, w->cal, &st, OUTCOME_NEEDS, &next, 0, 0, mon, &p, err, sizeof(err)), 0);
        assert_int_equal(p.level, 3);
        assert_ymd(p.due, 2026, 4, 1);
        next = D(2026, 3, 2); /* today is allowed */
        assert_int_equal(followup_plan_checkin(fc, w->cal, &st, OUTCOME_NO_NEEDS, &next, 0, 0, mon, &p, err, sizeof(err)), 0);
        next = D(2026, 3, 1);
        assert_int_equal(followup_plan_checkin(fc, w->cal, &st, OUTCOME_NO_NEEDS, &next, 0, 0, mon, &p, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "next: 2026-03-01 is in the past");

        assert_int_equal(followup_plan_checkin(fc, w->cal, &st, OUTCOME_NO_NEEDS, NULL, 5 * USEC_PER_DAY, 0, mon, &p,
                                               err, sizeof(err)), 0);
        assert_ymd(p.due, 2026, 3, 7);
        assert_int_equal(followup_plan_checkin(fc, w->cal, &st, OUTCOME_NO_NEEDS, NULL, 12 * USEC_PER_HOUR, 0, mon, &p,
                                               err, sizeof(err)), 0);
        assert_ymd(p.due, 2026, 3, 2);
        /* UTSETT 3: no outcome, the level and the unreached count unchanged. */
        assert_int_equal(followup_plan_checkin(fc, w->cal, &st, OUTCOME_NONE, NULL, 0, 3, mon, &p, err, sizeof(err)), 0);
        assert_ymd(p.due, 2026, 3, 5);
        assert_int_equal(p.level, 2);
        assert_int_equal(p.unreached_in_row, 1);
        assert_int_equal(followup_plan_checkin(fc, w->cal, &st, OUTCOME_NONE, NULL, 0, 0, mon, &p, err, sizeof(err)),
                         -EINVAL);
}

/* ---- texts ---- */

static void test_texts(void **state) {
        (void) state;
        char subject[256], text[512];
        const char *contacts[] = { "kari", "ola" };
        struct fu_text_args a = { .kind = FU_TEXT_REMIND, .ch = CHANNEL_SMS, .ref = "K-2041", .code = "48213",
                                  .today = true, .contacts = contacts, .n_contacts = 2 };
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(text, "Påminnelse: oppfølging av K-2041 forfaller i dag. Svar OK 48213 (ingen behov), "
                                  "HJELP 48213 (trenger oppfølging) eller UTSETT 48213 3 (utsett 3 dager).");
        assert_string_equal(subject, "Oppfølging av K-2041 forfaller i dag");
        struct text_sms_info info;
        assert_int_equal(text_sms_count(text, strlen(text), &info), 0);
        assert_int_equal(info.encoding, TEXT_SMS_GSM7);
        assert_int_equal(info.segments, 1);

        a.today = false;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_non_null(strstr(text, "oppfølging av K-2041 er forfalt. Svar OK 48213"));
        assert_string_equal(subject, "Oppfølging av K-2041 er forfalt");

        a.kind = FU_TEXT_SECOND;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_non_null(strstr(text, "Påminnelse 2: oppfølging av K-2041 er ikke registrert."));
        assert_int_equal(text_sms_count(text, strlen(text), &info), 0);
        assert_int_equal(info.segments, 1);

        a.kind = FU_TEXT_ESCALATE;
        a.n = 2;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(text, "K-2041: oppfølging ikke registrert etter 2 dager. Kontaktpersoner: kari, ola.");
        a.n = 1;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(text, "K-2041: oppfølging ikke registrert etter 1 dag. Kontaktpersoner: kari, ola.");

        a.kind = FU_TEXT_UNREACHED;
        a.n = 3;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(text, "K-2041: ikke nådd 3 ganger på rad. Kontaktpersoner: kari, ola.");

        a = (struct fu_text_args) { .kind = FU_TEXT_REMIND, .lang = LANG_EN, .ch = CHANNEL_EMAIL, .ref = "K-2041",
                                    .code = "48213", .today = true };
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(subject, "Follow-up of K-2041 is due today");
        assert_string_equal(text, "Reminder: follow-up of K-2041 is due today. Reply OK 48213 (no needs), HELP 48213 "
                                  "(needs follow-up) or UTSETT 48213 3 (postpone 3 days).");
        a.today = false;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(subject, "Follow-up of K-2041 is overdue");
        assert_non_null(strstr(text, "Reminder: follow-up of K-2041 is overdue. Reply OK 48213"));

        /* A long reference: the short reply instruction keeps one segment. */
        a = (struct fu_text_args) { .kind = FU_TEXT_REMIND, .ch = CHANNEL_SMS, .ref = "TRONDHEIM-OPPFOLGING-2026-000123",
                                    .code = "48213", .today = true };
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_int_equal(text_sms_count(text, strlen(text), &info), 0);
        assert_int_equal(info.segments, 1);
        assert_null(strstr(text, "utsett 3 dager"));
        assert_non_null(strstr(text, "HJELP 48213 (trenger oppfølging) eller UTSETT 48213 3."));

        assert_true(followup_is_code("48213"));
        assert_false(followup_is_code("4821"));  /* an activation code */
        assert_false(followup_is_code("04821"));
        assert_false(followup_is_code("482131"));
        assert_false(followup_is_code("4821a"));
        assert_false(followup_is_code(NULL));
        assert_string_equal(fu_stage_name(FU_STAGE_SECOND), "second");
        assert_string_equal(fu_state_name(FU_ESCALATED), "escalated");
}

/* The texts of a reminder rerouted around absences, the escalation after
 * one, the notice about the responsible contact: bokmål and English. */
static void test_texts_away(void **state) {
        (void) state;
        char subject[256], text[1024];
        const char *contacts[] = { "ola", "ann" };
        struct fu_away away[2] = { { .name = "Ola", .last = D(2026, 12, 27), .minute = -1 },
                                   { .name = "Ann", .last = D(2027, 1, 2), .minute = 12 * 60 + 30 } };
        struct fu_text_args a = { .kind = FU_TEXT_REMIND, .ch = CHANNEL_SMS, .ref = "K-2041", .code = "48213",
                                  .today = true, .contacts = contacts, .n_contacts = 2, .away = away, .n_away = 1 };
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(text, "Påminnelse: oppfølging av K-2041 forfaller i dag. Ola er borte til og med 27.12, "
                                  "så oppfølgingen er sendt til deg. Svar OK 48213 (ingen behov) eller HJELP 48213 "
                                  "(trenger oppfølging).");
        /* By e-mail the whole reply instruction. */
        a.ch = CHANNEL_EMAIL;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_non_null(strstr(text, "sendt til deg. Svar OK 48213 (ingen behov), HJELP 48213 (trenger oppfølging) "
                                     "eller UTSETT 48213 3 (utsett 3 dager)."));
        a.ch = CHANNEL_SMS;
        assert_string_equal(subject, "Oppfølging av K-2041 forfaller i dag");
        a.lang = LANG_EN;
        a.n_away = 2;
        a.kind = FU_TEXT_SECOND;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_non_null(strstr(text, "Reminder 2: follow-up of K-2041 has not been recorded. Ola is away through "
                                     "27.12 and Ann until 2.1 at 12:30, so the follow-up has been sent to you. Reply OK"));
        /* The escalation: where the reminders went (to Per, or to the reader). */
        a.lang = LANG_NB;
        a.kind = FU_TEXT_ESCALATE;
        a.n = 2;
        a.n_away = 1;
        a.reminded = "Ann";
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(text, "K-2041: oppfølging ikke registrert etter 2 dager. Kontaktpersoner: ola, ann. Ola er "
                                  "borte til og med 27.12; påminnelsene gikk til Ann.");
        a.reminded = NULL;
        a.lang = LANG_EN;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_non_null(strstr(text, "Ola is away through 27.12; the reminders went to you."));
        /* Nobody away: the text of before. */
        a.n_away = 0;
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(text, "K-2041: follow-up not recorded after 2 days. Contact persons: ola, ann.");
        a.kind = FU_TEXT_RESPONSIBLE;
        a.n_away = 1;
        a.due = D(2026, 12, 24);
        assert_int_equal(followup_text(&a, subject, sizeof(subject), text, sizeof(text)), 0);
        assert_string_equal(text, "K-2041: Ola is away through 27.12, and is the responsible contact person; the "
                                  "follow-up is due 24.12. Make sure the other services follow up.");
        assert_string_equal(subject, "K-2041: the responsible contact person is away");
}

/* ---- the engine, with a recording gateway ---- */

struct sent {
        char key[160], person[64], text[512];
        enum channel ch;
        gw_done_t done;
        void *userdata;
        bool delivered;
};
static struct sent outbox[64];
static size_t n_outbox;

int gateways_new(sd_event *e, struct store *store, const struct config *cfg, struct gateways **ret) {
        (void) e, (void) store, (void) cfg;
        *ret = NULL;
        return 0;
}
void gateways_free(struct gateways *g) {
        (void) g;
}
void gateways_set_config(struct gateways *g, const struct config *cfg) {
        (void) g, (void) cfg;
}
unsigned gateways_in_flight(const struct gateways *g) {
        (void) g;
        return 0;
}
int gateway_send(struct gateways *g, const struct gw_message *m, gw_done_t done, void *userdata) {
        (void) g;
        assert_true(n_outbox < ELEMENTSOF(outbox));
        struct sent *s = &outbox[n_outbox++];
        *s = (struct sent) { .ch = m->channel, .done = done, .userdata = userdata };
        snprintf(s->key, sizeof(s->key), "%s", m->key);
        snprintf(s->person, sizeof(s->person), "%s", m->person);
        snprintf(s->text, sizeof(s->text), "%s", m->text);
        assert_true(id_is_safe(m->key) || strlen(m->key) > COMMAND_MAX_ID);
        return 0;
}

/* The gateway reports everything handed to it as sent. */
static void deliver_all(void) {
        for (size_t i = 0; i < n_outbox; i++)
                if (!outbox[i].delivered) {
                        outbox[i].delivered = true;
                        outbox[i].done(outbox[i].userdata, outbox[i].key, GW_SENT, "outbox", NULL, NULL);
                }
}

static size_t count_sent(const char *person, const char *pattern) {
        size_t n = 0;
        for (size_t i = 0; i < n_outbox; i++)
                if ((!person || streq(outbox[i].person, person)) && (!pattern || strstr(outbox[i].text, pattern)))
                        n++;
        return n;
}

static void spin(sd_event *e) {
        for (int i = 0; i < 20; i++)
                assert_true(sd_event_run(e, 1000) >= 0);
}

static struct command cmd_parse(const char *json) {
        struct command c;
        char err[256];
        int r = command_parse(json, strlen(json), &c, err, sizeof(err));
        if (r < 0)
                print_error("%s\n", err);
        assert_int_equal(r, 0);
        return c;
}

static json_t *run(struct followup *f, const char *json, const char *origin, int expect, char *err, size_t errlen) {
        struct command c = cmd_parse(json);
        json_t *reply = NULL;
        int r = -EINVAL;
        err[0] = '\0';
        switch (c.kind) {
        case CMD_CASE_OPEN:
                r = followup_open(f, &c, origin, &reply, err, errlen);
                break;
        case CMD_CASE_CHECKIN:
                r = followup_checkin(f, &c, &reply, err, errlen);
                break;
        case CMD_CASE_LEVEL:
                r = followup_level(f, &c, &reply, err, errlen);
                break;
        case CMD_CASE_CLOSE:
                r = followup_close(f, &c, &reply, err, errlen);
                break;
        case CMD_CASE_UPDATE:
                r = followup_update(f, &c, &reply, err, errlen);
                break;
        default:
                fail();
        }
        if (r != expect)
                print_error("r=%d: %s\n", r, err);
        assert_int_equal(r, expect);
        command_done(&c);
        return reply;
}

static json_t *summary(struct followup *f) {
        json_t *s = NULL;
        assert_int_equal(followup_summary(f, &s), 0);
        return s;
}

static json_int_t sget(json_t *s, const char *k) {
        return json_integer_value(json_object_get(s, k));
}

/* A spool at ROOT, an event loop and the engine on them. */
static struct followup *engine_open(struct world *w, const char *root, struct store **store, sd_event **e) {
        struct followup *f = NULL;
        assert_int_equal(store_open(root, store, NULL), 0);
        assert_int_equal(sd_event_new(e), 0);
        assert_int_equal(followup_new(*e, *store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        return f;
}

static void test_engine(void **state) {
        struct world *w = *state;
        char root[300], err[256];
        snprintf(root, sizeof(root), "%s/spool", tmpdir);
        struct store *store = NULL;
        sd_event *e = NULL;
        struct followup *f = engine_open(w, root, &store, &e);
        n_outbox = 0;

        /* "Now" is Monday 2 March 2026 10:00 local (BEREDD_TEST_TIME_OFFSET,
         * set in main). A case due today is reminded at once (08:00 passed). */
        json_t *r = run(f, "{\"cmd\":\"case.open\",\"case\":\"K-2041\",\"contacts\":[\"kari\",\"ola\"],\"level\":2,"
                           "\"factors\":[\"loneliness\",\"elderly\"],\"children\":true,\"due\":\"2026-03-02\"}",
                        "incoming/k2041.json@1.2.3", 0, err, sizeof(err));
        assert_string_equal(json_string_value(json_object_get(r, "due")), "2026-03-02");
        json_decref(r);
        r = run(f, "{\"cmd\":\"case.open\",\"case\":\"K-2042\",\"contacts\":[\"ann\"]}", NULL, 0, err, sizeof(err));
        assert_string_equal(json_string_value(json_object_get(r, "due")), "2026-03-16"); /* level 1: 14d */
        json_decref(r);

        /* Duplicates: refused, unless it is the same drop file again. */
        r = run(f, "{\"cmd\":\"case.open\",\"case\":\"K-2041\",\"contacts\":[\"ola\"]}", "incoming/other.json@4.5.6",
                -EEXIST, err, sizeof(err));
        assert_string_equal(err, "case: a case with this reference exists already; not overwritten");
        r = run(f, "{\"cmd\":\"case.open\",\"case\":\"K-2041\",\"contacts\":[\"kari\",\"ola\"]}",
                "incoming/k2041.json@1.2.3", 0, err, sizeof(err));
        assert_true(json_is_true(json_object_get(r, "already")));
        json_decref(r);

        json_t *s = summary(f);
        assert_int_equal(sget(s, "open"), 2);
        assert_int_equal(sget(s, "due_today"), 1);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "by_factor"), "loneliness")), 1);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "by_level"), "2")), 1);
        char *dump = json_dumps(s, 0);
        assert_null(strstr(dump, "K-204"));
        free(dump);
        json_decref(s);

        spin(e);
        assert_int_equal(count_sent("kari", "Påminnelse: oppfølging av K-2041 forfaller i dag."), 1);
        assert_int_equal(count_sent("ola", "Påminnelse: oppfølging av K-2041"), 1);
        assert_int_equal(count_sent(NULL, "K-2042"), 0);
        assert_null(strstr(outbox[0].text, "loneliness"));
        assert_null(strstr(outbox[0].text, "middels"));
        json_t *show = NULL;
        assert_int_equal(followup_show(f, "K-2041", &show, err, sizeof(err)), 0);
        assert_string_equal(json_string_value(json_object_get(show, "stage")), "first");
        const char *code_s = json_string_value(json_object_get(show, "code"));
        assert_non_null(code_s);
        char code[8];
        snprintf(code, sizeof(code), "%s", code_s);
        assert_true(followup_is_code(code));
        assert_non_null(strstr(outbox[0].text, code));
        json_t *nt = json_object_get(show, "notify");
        assert_int_equal(json_array_size(nt), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(nt, 0), "state")), "sending");
        json_decref(show);

        /* A crash before the gateway reported: the messages go again at
         * start, with the same keys; the stage is not repeated. */
        char key0[160];
        snprintf(key0, sizeof(key0), "%s", outbox[0].key);
        followup_free(f);
        n_outbox = 0;
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        assert_int_equal(n_outbox, 2);
        assert_true(streq(outbox[0].key, key0) || streq(outbox[1].key, key0));
        deliver_all();
        spin(e);
        assert_int_equal(followup_show(f, "K-2041", &show, err, sizeof(err)), 0);
        nt = json_object_get(show, "notify");
        assert_string_equal(json_string_value(json_object_get(json_array_get(nt, 0), "state")), "sent");
        assert_string_equal(json_string_value(json_object_get(json_array_get(nt, 1), "state")), "sent");
        json_decref(show);

        /* A clean restart: nothing is sent again. */
        followup_free(f);
        n_outbox = 0;
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        spin(e);
        assert_int_equal(n_outbox, 0);

        /* The work list. */
        json_t *due = NULL;
        assert_int_equal(followup_due(f, false, NULL, &due), 0);
        assert_int_equal(json_integer_value(json_object_get(due, "count")), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(due, "cases"), 0), "case")),
                            "K-2041");
        json_decref(due);
        assert_int_equal(followup_due(f, false, "ann", &due), 0);
        assert_int_equal(json_integer_value(json_object_get(due, "count")), 0);
        json_decref(due);
        assert_int_equal(followup_due(f, true, NULL, &due), 0);
        assert_int_equal(json_integer_value(json_object_get(due, "count")), 0);
        json_decref(due);

        /* Reply codes: an activation code is not ours; someone else's reply
         * is refused; JA is not a follow-up answer; HJELP from ola is. */
        json_t *reply = NULL;
        assert_int_equal(followup_reply(f, "4821", "ola", TEXT_REPLY_OK, 0, &reply, err, sizeof(err)), -ENOENT);
        /* Someone else's case answers exactly as a code no case holds (no
         * oracle for live codes): same error, same text. */
        char err_none[256], code_none[8];
        snprintf(code_none, sizeof(code_none), "%05u", (unsigned) (atoi(code) == 99999 ? 10000 : atoi(code) + 1));
        assert_int_equal(followup_reply(f, code_none, "ann", TEXT_REPLY_OK, 0, &reply, err_none, sizeof(err_none)), -ENOENT);
        assert_int_equal(followup_reply(f, code, "ann", TEXT_REPLY_OK, 0, &reply, err, sizeof(err)), -ENOENT);
        assert_null(strstr(err, "contact"));
        assert_int_equal(strlen(err), strlen(err_none));
        assert_int_equal(followup_reply(f, code, "ola", TEXT_REPLY_YES, 0, &reply, err, sizeof(err)), -EINVAL);
        assert_int_equal(followup_reply(f, code, "ola", TEXT_REPLY_HELP, 0, &reply, err, sizeof(err)), 0);
        assert_int_equal(json_integer_value(json_object_get(reply, "level")), 3);
        assert_string_equal(json_string_value(json_object_get(reply, "due")), "2026-03-04");
        assert_string_equal(json_string_value(json_object_get(reply, "stage")), "none");
        json_decref(reply);
        /* The code is released with the check-in. */
        assert_int_equal(followup_reply(f, code, "ola", TEXT_REPLY_OK, 0, &reply, err, sizeof(err)), -ENOENT);

        /* worse with children: the coordinator is told at once. */
        n_outbox = 0;
        r = run(f, "{\"cmd\":\"case.checkin\",\"case\":\"K-2041\",\"by\":\"ola\",\"outcome\":\"worse\"}", NULL, 0, err,
                sizeof(err));
        assert_true(json_is_true(json_object_get(r, "task")));
        assert_true(json_is_true(json_object_get(r, "coordinator_told")));
        json_decref(r);
        assert_int_equal(count_sent("kari", "Sjekk omsorgssituasjonen for barna"), 1);
        assert_int_equal(count_sent("ola", NULL), 0);
        deliver_all();
        spin(e);

        /* Errors name the field. */
        r = run(f, "{\"cmd\":\"case.checkin\",\"case\":\"K-9999\",\"by\":\"ola\",\"outcome\":\"worse\"}", NULL, -ENOENT,
                err, sizeof(err));
        assert_string_equal(err, "case: no such case");
        r = run(f, "{\"cmd\":\"case.checkin\",\"case\":\"K-2041\",\"by\":\"ola\",\"outcome\":\"needs\",\"next\":\"2026-01-01\"}",
                NULL, -EINVAL, err, sizeof(err));
        assert_string_equal(err, "next: 2026-01-01 is in the past");

        /* A level change to 1 keeps the due date; close; the summary follows. */
        r = run(f, "{\"cmd\":\"case.level\",\"case\":\"K-2042\",\"level\":3}", NULL, 0, err, sizeof(err));
        assert_string_equal(json_string_value(json_object_get(r, "due")), "2026-03-04"); /* sooner at level 3 */
        json_decref(r);
        r = run(f, "{\"cmd\":\"case.close\",\"case\":\"K-2042\",\"by\":\"kari\"}", NULL, 0, err, sizeof(err));
        assert_string_equal(json_string_value(json_object_get(r, "state")), "closed");
        json_decref(r);
        r = run(f, "{\"cmd\":\"case.close\",\"case\":\"K-2042\",\"by\":\"kari\"}", NULL, 0, err, sizeof(err));
        assert_true(json_is_true(json_object_get(r, "already")));
        json_decref(r);
        r = run(f, "{\"cmd\":\"case.checkin\",\"case\":\"K-2042\",\"by\":\"ola\",\"outcome\":\"worse\"}", NULL, -ESTALE,
                err, sizeof(err));
        assert_string_equal(err, "case: the case is closed; nothing changed");
        s = summary(f);
        assert_int_equal(sget(s, "open"), 1);
        assert_int_equal(sget(s, "closed"), 1);
        assert_int_equal(sget(s, "due_today"), 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "by_level"), "3")), 1);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "by_factor"), "loneliness")), 1);
        json_decref(s);

        /* The counts after a restart are the same as kept incrementally. */
        followup_free(f);
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        s = summary(f);
        assert_int_equal(sget(s, "open"), 1);
        assert_int_equal(sget(s, "closed"), 1);
        json_decref(s);

        /* A damaged case file is reported, never overwritten. */
        char bucket[3], path[512];
        store_case_bucket("K-BAD", bucket);
        snprintf(path, sizeof(path), "%s/cases/%s", root, bucket);
        mkdir(path, 0750);
        snprintf(path, sizeof(path), "%s/cases/%s/K-BAD.json", root, bucket);
        FILE *fp = fopen(path, "we");
        fputs("{not json", fp);
        fclose(fp);
        followup_free(f);
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        s = summary(f);
        assert_int_equal(sget(s, "damaged"), 1);
        json_decref(s);
        r = run(f, "{\"cmd\":\"case.open\",\"case\":\"K-BAD\",\"contacts\":[\"ola\"]}", NULL, -EEXIST, err, sizeof(err));

        followup_free(f);
        sd_event_unref(e);
        store_free(store);
}

/* What the full parser accepts of a case file it can write back and read
 * again the same; an id, key or word it could not (too long, cut inside a
 * UTF-8 character, letters an id never has) makes the file damaged, as a
 * broken ref always did, instead of being cut or dropped at the next save. */
static void test_case_file_contract(void **state) {
        (void) state;
        const char *ok = "{\"ref\": \"K-77\", \"contacts\": [\"ola\", \"kari\"], \"level\": 2, \"factors\": [\"x\"],"
                         " \"children\": false, \"task\": false, \"state\": \"open\", \"due\": \"2026-12-10\","
                         " \"stage\": \"first\", \"reminded\": 5, \"second\": 0, \"escalated_at\": 0, \"code\": \"48213\","
                         " \"unreached_in_row\": 0, \"opened\": 1, \"closed\": 0, \"closed_by\": null, \"origin\": null,"
                         " \"seq\": 1, \"responsible\": \"ola\", \"responsible_told\": null, \"notify\": [{\"key\":"
                         " \"fu.K-77.1.0\", \"person\": \"ola\", \"channel\": \"sms\", \"kind\": \"reminder\", \"state\":"
                         " \"sent\", \"ts\": 5}], \"history\": []}";
        int r = followup_case_check(ok, strlen(ok));
        assert_true(r == 0 || r == 1);

        char long_name[128] = "a";
        for (int i = 0; i < 40; i++)
                strcat(long_name, "\xc3\xa9"); /* 81 bytes: cut at 64, inside an 'é' */
        const char *fields[][3] = {
                { "\"closed_by\": null", "\"closed_by\": \"", "\"" },
                { "\"responsible\": \"ola\"", "\"responsible\": \"", "\"" },
                { "\"person\": \"ola\"", "\"person\": \"", "\"" },
                { "\"contacts\": [\"ola\", \"kari\"]", "\"contacts\": [\"ola\", \"", "\"]" },
                { "\"kind\": \"reminder\"", "\"kind\": \"", "\"" },
        };
        const char *bad[] = { long_name, "ola nordmann", "\xc3\xa5se" };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                        char with[256], file[2048];
                        snprintf(with, sizeof(with), "%s%s%s", fields[i][1], bad[k], fields[i][2]);
                        const char *at = strstr(ok, fields[i][0]);
                        assert_non_null(at);
                        snprintf(file, sizeof(file), "%.*s%s%s", (int) (at - ok), ok, with, at + strlen(fields[i][0]));
                        r = followup_case_check(file, strlen(file));
                        /* not read in full: 2 (the start's scanner takes its
                         * scheduling fields, the case is reported damaged when
                         * next read in full) or -EINVAL */
                        assert_true(r == 2 || r == -EINVAL);
                }
}

static char *slurp(const char *path, size_t *len) {
        FILE *fp = fopen(path, "re");
        if (!fp)
                return NULL;
        char *buf = calloc(1, 1 << 20);
        *len = fread(buf, 1, (1 << 20) - 1, fp);
        fclose(fp);
        return buf;
}

static void spit(const char *path, const char *mode, const char *data, size_t len) {
        FILE *fp = fopen(path, mode);
        assert_non_null(fp);
        assert_int_equal(fwrite(data, 1, len, fp), len);
        fclose(fp);
}

static json_t *show_case(struct followup *f, const char *ref, int expect) {
        char err[256];
        json_t *show = NULL;
        assert_int_equal(followup_show(f, ref, &show, err, sizeof(err)), expect);
        return show;
}

/* The case journal: changes are in cases/journal.<n> at once and in the case
 * files after a fold; a crash image (the spool copied while the daemon runs)
 * comes back whole; a torn last record is dropped, a damaged one skipped. */
static void test_journal(void **state) {
        struct world *w = *state;
        char root[300], crash[300], path[700], cmd[700], err[256], bucket[3];
        snprintf(root, sizeof(root), "%s/spool-journal", tmpdir);
        snprintf(crash, sizeof(crash), "%s/spool-crash", tmpdir);
        struct store *store = NULL;
        sd_event *e = NULL;
        struct followup *f = engine_open(w, root, &store, &e);
        n_outbox = 0;
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"J-1\",\"contacts\":[\"ann\"],\"due\":\"2026-04-01\"}", NULL,
                        0, err, sizeof(err)));
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"J-2\",\"contacts\":[\"ola\"],\"due\":\"2026-04-02\"}", NULL,
                        0, err, sizeof(err)));
        json_decref(run(f, "{\"cmd\":\"case.checkin\",\"case\":\"J-2\",\"by\":\"ola\",\"outcome\":\"needs\"}", NULL, 0,
                        err, sizeof(err)));
        struct stat st;
        snprintf(path, sizeof(path), "%s/cases/journal.1", root);
        assert_int_equal(stat(path, &st), 0);
        store_case_bucket("J-1", bucket);
        snprintf(path, sizeof(path), "%s/cases/%s/J-1.json", root, bucket);
        assert_int_equal(stat(path, &st), -1); /* not folded yet */
        json_t *show = show_case(f, "J-2", 0);  /* read from the journal */
        assert_int_equal(json_integer_value(json_object_get(show, "level")), 2);
        json_decref(show);

        /* A crash image, then a clean stop: everything folded, no journal. */
        snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", root, crash);
        assert_int_equal(system(cmd), 0);
        followup_free(f);
        assert_int_equal(stat(path, &st), 0);
        snprintf(path, sizeof(path), "%s/cases/journal.1", root);
        assert_int_equal(stat(path, &st), -1);
        store_free(store);

        /* The crash image, with a torn record at the end of its journal and a
         * later journal holding a damaged record and then a good one. */
        size_t len;
        snprintf(path, sizeof(path), "%s/cases/journal.1", crash);
        char *j = slurp(path, &len);
        assert_non_null(j);
        const char *rec = strstr(j, "{\n \"ref\": \"J-1\"");
        assert_non_null(rec);
        const char *rec_end = strstr(rec, "\n}\n");
        assert_non_null(rec_end);
        char *good = strndup(rec, (size_t) (rec_end + 3 - rec));
        char *due = strstr(good, "\"due\": \"2026-04-01\"");
        assert_non_null(due);
        memcpy(due, "\"due\": \"2026-05-01\"", 19);
        spit(path, "ae", "{\n \"ref\": \"J-9\",\n \"contacts\": [", 30);
        snprintf(path, sizeof(path), "%s/cases/journal.7", crash);
        spit(path, "we", "{\n \"ref\": 17\n}\n", 15);
        spit(path, "ae", good, strlen(good));
        free(good);
        free(j);

        assert_int_equal(store_open(crash, &store, NULL), 0);
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        show = show_case(f, "J-1", 0);
        assert_string_equal(json_string_value(json_object_get(show, "due")), "2026-05-01"); /* journal.7 last */
        json_decref(show);
        show = show_case(f, "J-2", 0);
        assert_int_equal(json_integer_value(json_object_get(show, "level")), 2);
        assert_int_equal(json_array_size(json_object_get(show, "history")), 1);
        json_decref(show);
        show = show_case(f, "J-9", -ENOENT);
        json_t *s = summary(f);
        assert_int_equal(sget(s, "open"), 2);
        json_decref(s);
        /* New changes go to a journal after the ones read back. */
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"J-3\",\"contacts\":[\"ann\"]}", NULL, 0, err, sizeof(err)));
        snprintf(path, sizeof(path), "%s/cases/journal.8", crash);
        assert_int_equal(stat(path, &st), 0);
        /* J-3, only in the journal so far, cannot be opened twice. */
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"J-3\",\"contacts\":[\"ann\"]}", NULL, -EEXIST, err,
                        sizeof(err)));
        followup_free(f);
        for (int g = 1; g <= 8; g++) {
                snprintf(path, sizeof(path), "%s/cases/journal.%d", crash, g);
                assert_int_equal(stat(path, &st), -1);
        }
        store_case_bucket("J-3", bucket);
        snprintf(path, sizeof(path), "%s/cases/%s/J-3.json", crash, bucket);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(n_outbox, 0);
        sd_event_unref(e);
        store_free(store);
}

/* cases/index: written at a clean stop; a start takes unchanged buckets from
 * it (a file changed in place is not even read), reads changed buckets file
 * by file, and ignores a damaged index. Refs starting with "B" and "E" must
 * not be taken for the index's own lines. */
static void test_index(void **state) {
        struct world *w = *state;
        char root[300], path[700], err[256], bucket[3];
        snprintf(root, sizeof(root), "%s/spool-index", tmpdir);
        struct store *store = NULL;
        sd_event *e = NULL;
        struct followup *f = engine_open(w, root, &store, &e);
        n_outbox = 0;
        /* Plain cases, one reminded today (its message in flight), one closed. */
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"B-1\",\"contacts\":[\"ann\"],\"due\":\"2026-04-01\"}", NULL,
                        0, err, sizeof(err)));
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"E-2\",\"contacts\":[\"ann\"],\"level\":2,"
                           "\"factors\":[\"elderly\"],\"due\":\"2026-04-02\"}", NULL, 0, err, sizeof(err)));
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"R-3\",\"contacts\":[\"ola\"],\"due\":\"2026-03-02\"}", NULL,
                        0, err, sizeof(err)));
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"C-4\",\"contacts\":[\"ola\"]}", NULL, 0, err, sizeof(err)));
        json_decref(run(f, "{\"cmd\":\"case.close\",\"case\":\"C-4\",\"by\":\"kari\"}", NULL, 0, err, sizeof(err)));
        spin(e);
        assert_int_equal(count_sent("ola", "R-3"), 1); /* not delivered: stays "sending" */
        followup_free(f);

        snprintf(path, sizeof(path), "%s/cases/index", root);
        size_t len;
        char *idx = slurp(path, &len);
        assert_non_null(idx);
        assert_non_null(strstr(idx, "\nB-1 "));     /* plain */
        assert_non_null(strstr(idx, "\nE-2 "));
        assert_non_null(strstr(idx, "\nR-3\n"));    /* in flight: its file is read */
        assert_non_null(strstr(idx, "\nC-4\n"));    /* closed: its file is read */
        /* The vocabulary the factor bits are of; an index without that line
         * (beredd before followup.factors) has the built-in one. */
        char *fl = strstr(idx, "\nF violence mental-illness substance-abuse loneliness refugee severe-illness "
                               "health-personnel quarantine elderly physical-illness relative-burden\n");
        assert_non_null(fl);
        char *rest = strchr(fl + 1, '\n');
        memmove(fl, rest, strlen(rest) + 1);
        spit(path, "we", idx, strlen(idx));
        free(idx);

        /* A start from the index: the same cases, counts, and the message in
         * flight goes again. B-1's file changed in place is not read. */
        store_case_bucket("B-1", bucket);
        snprintf(path, sizeof(path), "%s/cases/%s/B-1.json", root, bucket);
        FILE *fp = fopen(path, "r+e");
        assert_non_null(fp);
        fputs("XXXX", fp);
        fclose(fp);
        n_outbox = 0;
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        assert_int_equal(count_sent("ola", "R-3"), 1);
        json_t *s = summary(f);
        assert_int_equal(sget(s, "open"), 3);
        assert_int_equal(sget(s, "closed"), 1);
        assert_int_equal(sget(s, "damaged"), 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "by_level"), "2")), 1);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "by_factor"), "elderly")), 1);
        json_decref(s);
        json_t *due = NULL;
        assert_int_equal(followup_due(f, false, NULL, &due), 0);
        assert_int_equal(json_integer_value(json_object_get(due, "count")), 1); /* */
        json_decref(due);
        followup_free(f);

        /* A file renamed into B-1's bucket changes the folder: read file by
         * file, so the damage is seen, and the new case is found. */
        char other[700];
        snprintf(other, sizeof(other), "%s/cases/%s/.new", root, bucket);
        fp = fopen(other, "we");
        assert_non_null(fp);
        fputs("{broken", fp);
        fclose(fp);
        snprintf(path, sizeof(path), "%s/cases/%s/X-9.json", root, bucket);
        assert_int_equal(rename(other, path), 0);
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        s = summary(f);
        assert_int_equal(sget(s, "damaged"), 2); /* B-1 and X-9 */
        assert_int_equal(sget(s, "open"), 2);
        json_decref(s);
        followup_free(f);

        /* A damaged index is not used: every file is read. */
        assert_int_equal(unlink(path), 0);
        store_case_bucket("B-1", bucket);
        snprintf(path, sizeof(path), "%s/cases/%s/B-1.json", root, bucket);
        assert_int_equal(unlink(path), 0);
        snprintf(path, sizeof(path), "%s/cases/index", root);
        spit(path, "we", "beredd case index 1\nB 00 1 2.3\nnot a line\n", 42);
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        s = summary(f);
        assert_int_equal(sget(s, "open"), 2);
        assert_int_equal(sget(s, "closed"), 1);
        assert_int_equal(sget(s, "damaged"), 0);
        json_decref(s);
        json_t *show = show_case(f, "E-2", 0);
        assert_int_equal(json_integer_value(json_object_get(show, "level")), 2);
        json_decref(show);
        followup_free(f);
        sd_event_unref(e);
        store_free(store);
}

/* The world's configuration with followup.factors = FACTORS (a libconfig
 * list), on the world's calendar. */
static struct config *config_with_factors(const char *factors) {
        _cleanup_free_ char *base = NULL, *text = NULL, *path = NULL;
        assert_true(asprintf(&base, config_text, tmpdir, "office-hours") > 0);
        size_t n = strlen(base) - strlen("};\n"); /* the end of the followup section */
        assert_true(asprintf(&text, "%.*s  factors = %s;\n};\n", (int) n, base, factors) > 0);
        path = test_write_file(tmpdir, "factors.conf", text, 0644);
        struct errlist errs = {};
        struct config *c = config_load(path, &errs);
        for (size_t i = 0; i < errs.n; i++)
                print_error("%s\n", errs.v[i]);
        assert_non_null(c);
        errlist_free(&errs);
        return c;
}

static json_int_t factor_count(struct followup *f, const char *id) {
        json_t *s = summary(f);
        json_t *v = json_object_get(json_object_get(s, "by_factor"), id);
        json_int_t n = v ? json_integer_value(v) : -1;
        json_decref(s);
        return n;
}

/* followup.factors changed by a reload or between two starts: the cases keep
 * their factors (they are data), those no longer in the vocabulary are
 * counted as unlisted and shown by id, flagged; the counts follow the ids. */
static void test_vocabulary(void **state) {
        struct world *w = *state;
        char root[300], path[700], err[256];
        snprintf(root, sizeof(root), "%s/spool-vocabulary", tmpdir);
        struct store *store = NULL;
        sd_event *e = NULL;
        struct followup *f = engine_open(w, root, &store, &e);
        struct config *mine = config_with_factors("( { id = \"elderly\"; name = \"Eldre\"; },\n"
                                                  "  { id = \"skole\"; name = \"Skolefravær\"; name_en = \"school absence\"; } )");

        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"V-1\",\"contacts\":[\"kari\"],"
                           "\"factors\":[\"elderly\",\"loneliness\"],\"due\":\"2026-04-01\"}", NULL, 0, err, sizeof(err)));
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"V-2\",\"contacts\":[\"ola\"],"
                           "\"factors\":[\"violence\"],\"due\":\"2026-04-02\"}", NULL, 0, err, sizeof(err)));
        assert_int_equal(factor_count(f, "loneliness"), 1);
        assert_int_equal(factor_count(f, "skole"), -1);
        json_t *show = show_case(f, "V-1", 0);
        /* In the vocabulary's order, whatever the command's. */
        assert_string_equal(json_string_value(json_array_get(json_object_get(show, "factors"), 0)), "loneliness");
        assert_string_equal(json_string_value(json_object_get(json_object_get(show, "factor_names"), "loneliness")),
                            "Ensomhet");
        assert_null(json_object_get(show, "unlisted_factors"));
        json_decref(show);

        /* A reload with the municipality's own vocabulary. */
        followup_set_config(f, mine, w->cal);
        json_t *s = summary(f);
        assert_int_equal(json_object_size(json_object_get(s, "by_factor")), 2); /* its ids only */
        assert_int_equal(factor_count(f, "elderly"), 1);
        assert_int_equal(factor_count(f, "skole"), 0);
        assert_int_equal(sget(s, "unlisted_factors"), 2); /* V-1 (loneliness), V-2 (violence) */
        assert_int_equal(sget(s, "open"), 2);
        json_decref(s);
        show = show_case(f, "V-1", 0);
        json_t *fs = json_object_get(show, "factors");
        assert_int_equal(json_array_size(fs), 2); /* kept */
        assert_string_equal(json_string_value(json_array_get(json_object_get(show, "unlisted_factors"), 0)), "loneliness");
        assert_string_equal(json_string_value(json_object_get(json_object_get(show, "factor_names"), "elderly")), "Eldre");
        json_decref(show);
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"V-3\",\"contacts\":[\"ann\"],"
                           "\"factors\":[\"skole\"],\"due\":\"2026-04-03\"}", NULL, 0, err, sizeof(err)));
        assert_int_equal(factor_count(f, "skole"), 1);
        /* A change to a case does not lose a factor no longer listed. */
        json_decref(run(f, "{\"cmd\":\"case.level\",\"case\":\"V-2\",\"level\":2}", NULL, 0, err, sizeof(err)));
        show = show_case(f, "V-2", 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(show, "factors"), 0)), "violence");
        json_decref(show);

        /* Back to the built-in one: V-1 and V-2 were unlisted, so their files
         * are read again and their factors counted; V-3's "skole" is not in it. */
        followup_set_config(f, w->cfg, w->cal);
        s = summary(f);
        assert_int_equal(sget(s, "unlisted_factors"), 1);
        json_decref(s);
        assert_int_equal(factor_count(f, "loneliness"), 1);
        assert_int_equal(factor_count(f, "violence"), 1);
        assert_int_equal(factor_count(f, "elderly"), 1);

        /* A stop with the municipality's vocabulary: cases/index names it,
         * and lists the unlisted cases by ref only, so a start reads them. */
        followup_set_config(f, mine, w->cal);
        followup_free(f);
        snprintf(path, sizeof(path), "%s/cases/index", root);
        size_t len;
        char *idx = slurp(path, &len);
        assert_non_null(strstr(idx, "beredd case index 1\nF elderly skole\n"));
        assert_non_null(strstr(idx, "\nV-1\n"));
        assert_non_null(strstr(idx, "\nV-3 ")); /* plain: skole is bit 1 */
        free(idx);

        /* A start with the built-in vocabulary maps the index's bits by id. */
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        s = summary(f);
        assert_int_equal(sget(s, "open"), 3);
        assert_int_equal(sget(s, "unlisted_factors"), 1); /* V-3 */
        json_decref(s);
        assert_int_equal(factor_count(f, "loneliness"), 1);
        assert_int_equal(factor_count(f, "violence"), 1);
        assert_int_equal(factor_count(f, "elderly"), 1);
        show = show_case(f, "V-3", 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(show, "unlisted_factors"), 0)), "skole");
        json_decref(show);

        /* case.list: by due date, the contacts; filtered by contact, state. */
        json_decref(run(f, "{\"cmd\":\"case.close\",\"case\":\"V-2\",\"by\":\"kari\"}", NULL, 0, err, sizeof(err)));
        json_t *l = NULL;
        assert_int_equal(followup_list(f, CASE_FILTER_OPEN, NULL, &l), 0);
        assert_int_equal(json_integer_value(json_object_get(l, "count")), 2);
        assert_string_equal(json_string_value(json_object_get(l, "state")), "open");
        json_t *c0 = json_array_get(json_object_get(l, "cases"), 0);
        assert_string_equal(json_string_value(json_object_get(c0, "case")), "V-1");
        assert_string_equal(json_string_value(json_object_get(c0, "due")), "2026-04-01");
        assert_string_equal(json_string_value(json_object_get(c0, "state")), "open");
        assert_int_equal(json_integer_value(json_object_get(c0, "level")), 1);
        assert_string_equal(json_string_value(json_array_get(json_object_get(c0, "contacts"), 0)), "kari");
        assert_true(json_is_false(json_object_get(c0, "overdue")));
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(l, "cases"), 1), "case")), "V-3");
        json_decref(l);
        assert_int_equal(followup_list(f, CASE_FILTER_OPEN, "ann", &l), 0);
        assert_int_equal(json_integer_value(json_object_get(l, "count")), 1);
        json_decref(l);
        assert_int_equal(followup_list(f, CASE_FILTER_CLOSED, NULL, &l), 0);
        assert_int_equal(json_integer_value(json_object_get(l, "count")), 1);
        c0 = json_array_get(json_object_get(l, "cases"), 0);
        assert_string_equal(json_string_value(json_object_get(c0, "case")), "V-2");
        assert_string_equal(json_string_value(json_object_get(c0, "closed")), "2026-03-02");
        json_decref(l);
        assert_int_equal(followup_list(f, CASE_FILTER_ALL, "ola", &l), 0);
        assert_int_equal(json_integer_value(json_object_get(l, "count")), 1);
        json_decref(l);
        assert_int_equal(followup_list(f, CASE_FILTER_ALL, "kari", &l), 0);
        assert_int_equal(json_integer_value(json_object_get(l, "count")), 1); /* closed_by is not a contact */
        json_decref(l);
        followup_free(f);
        config_free(mine);
        sd_event_unref(e);
        store_free(store);
}

/* Many cases: the index and heap stay consistent through opens, check-ins
 * and closes in random order. */
static void test_many(void **state) {
        struct world *w = *state;
        char root[300], err[256], json[256];
        snprintf(root, sizeof(root), "%s/spool-many", tmpdir);
        struct store *store = NULL;
        sd_event *e = NULL;
        struct followup *f = engine_open(w, root, &store, &e);
        n_outbox = 0;
        enum { N = 300 };
        for (int i = 0; i < N; i++) {
                snprintf(json, sizeof(json),
                         "{\"cmd\":\"case.open\",\"case\":\"M-%d\",\"contacts\":[\"ann\"],\"level\":%d,\"due\":\"2026-%02d-%02d\"}",
                         i, 1 + i % 3, 4 + i % 6, 1 + (i * 7) % 28);
                json_decref(run(f, json, NULL, 0, err, sizeof(err)));
        }
        for (int i = 0; i < N; i += 3) {
                snprintf(json, sizeof(json), "{\"cmd\":\"case.close\",\"case\":\"M-%d\",\"by\":\"kari\"}", i);
                json_decref(run(f, json, NULL, 0, err, sizeof(err)));
        }
        for (int i = 1; i < N; i += 3) {
                snprintf(json, sizeof(json),
                         "{\"cmd\":\"case.checkin\",\"case\":\"M-%d\",\"by\":\"kari\",\"outcome\":\"better\"}", i);
                json_decref(run(f, json, NULL, 0, err, sizeof(err)));
        }
        json_t *s = summary(f);
        assert_int_equal(sget(s, "open"), N - N / 3);
        assert_int_equal(sget(s, "closed"), N / 3);
        json_decref(s);
        spin(e);
        assert_int_equal(n_outbox, 0); /* nothing due before April */
        followup_free(f);
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        s = summary(f);
        assert_int_equal(sget(s, "open"), N - N / 3);
        assert_int_equal(sget(s, "closed"), N / 3);
        json_decref(s);
        followup_free(f);
        sd_event_unref(e);
        store_free(store);
}


/* ---- follow-up follows absences ---- */

/* Local midnight of D (Oslo, CET in March) as usec: 23:00 UTC the day before. */
static uint64_t midnight(int y, int m, int d) {
        return U(y, m, d, 0, 0) - 3600 * USEC_PER_SEC;
}

static const char *sent_text(const char *person, const char *pattern) {
        for (size_t i = 0; i < n_outbox; i++)
                if (streq(outbox[i].person, person) && (!pattern || strstr(outbox[i].text, pattern)))
                        return outbox[i].text;
        return NULL;
}

static const char *code_of(struct followup *f, const char *ref, char buf[static 8]) {
        json_t *show = show_case(f, ref, 0);
        const char *c = json_string_value(json_object_get(show, "code"));
        snprintf(buf, 8, "%s", c ? c : "");
        json_decref(show);
        return buf;
}

/* Rewrite case REF's file at ROOT (the engine stopped): stage, reminded and
 * second as given; cases/index removed so the start reads the files. */
static void set_stage(const char *root, const char *ref, const char *stage, uint64_t reminded, uint64_t second) {
        char bucket[3], path[700];
        store_case_bucket(ref, bucket);
        snprintf(path, sizeof(path), "%s/cases/%s/%s.json", root, bucket, ref);
        json_error_t jerr;
        json_t *o = json_load_file(path, 0, &jerr);
        assert_non_null(o);
        json_object_set_new(o, "stage", json_string(stage));
        json_object_set_new(o, "reminded", json_integer((json_int_t) reminded));
        json_object_set_new(o, "second", json_integer((json_int_t) second));
        assert_int_equal(json_dump_file(o, path, JSON_INDENT(1)), 0);
        json_decref(o);
        snprintf(path, sizeof(path), "%s/cases/index", root);
        unlink(path);
}

static void test_away_reroute(void **state) {
        struct world *w = *state;
        char root[300], err[256], code[8];
        snprintf(root, sizeof(root), "%s/spool-away", tmpdir);
        struct store *store = NULL;
        sd_event *e = NULL;
        struct absences *abs = NULL;
        uint64_t now = beredd_now();
        assert_int_equal(absences_new(NULL, &abs, NULL), 0);
        /* Ola away Sunday 1 March through Friday 6 March. */
        assert_int_equal(absences_add(abs, "ola", midnight(2026, 3, 1), midnight(2026, 3, 7), "ferie", "test", now, NULL), 0);
        struct followup *f = engine_open(w, root, &store, &e);
        followup_set_absences(f, abs);
        n_outbox = 0;

        /* Two contacts, one away: the other one gets it, and why (in English, Ann's language). */
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"A-1\",\"contacts\":[\"ola\",\"ann\"],\"due\":\"2026-03-02\"}",
                        NULL, 0, err, sizeof(err)));
        /* One contact, away: the coordinator. */
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"A-2\",\"contacts\":[\"ola\"],\"due\":\"2026-03-02\"}", NULL,
                        0, err, sizeof(err)));
        /* Nobody away: as always. */
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"A-4\",\"contacts\":[\"per\"],\"due\":\"2026-03-02\"}", NULL,
                        0, err, sizeof(err)));
        spin(e);
        assert_int_equal(count_sent("ola", NULL), 0);
        assert_int_equal(count_sent("ann", "Reminder: follow-up of A-1 is due today. Ola is away through 6.3, "
                                           "so the follow-up has been sent to you. "), 1);
        assert_int_equal(count_sent("kari", "Påminnelse: oppfølging av A-2 forfaller i dag. Ola er borte til og "
                                            "med 6.3, så oppfølgingen er sendt til deg. Svar OK "), 1);
        assert_int_equal(count_sent("per", "A-4"), 1);
        assert_null(strstr(sent_text("per", "A-4"), "borte"));
        assert_null(strstr(sent_text("kari", "A-2"), "ferie")); /* the note stays in the spool */
        assert_int_equal(n_outbox, 3);

        /* The decision is in the case file before it is sent: a crash now
         * sends the same text to the same person again, with the same key. */
        char key[160], text[512];
        snprintf(key, sizeof(key), "%s", outbox[1].key);
        snprintf(text, sizeof(text), "%s", outbox[1].text);
        json_t *show = show_case(f, "A-2", 0);
        json_t *nt = json_array_get(json_object_get(show, "notify"), 0);
        assert_string_equal(json_string_value(json_object_get(nt, "person")), "kari");
        assert_string_equal(json_string_value(json_object_get(nt, "state")), "sending");
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(nt, "covers"), 0), "person")),
                            "ola");
        json_decref(show);
        followup_free(f);
        n_outbox = 0;
        assert_int_equal(absences_cancel(abs, absences_next(abs, "ola", 0, UINT64_MAX, &(size_t) { 0 })->id), 0);
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        followup_set_absences(f, abs);
        /* Ola's absence was cancelled meanwhile: the resend still says what was decided. */
        assert_int_equal(n_outbox, 3);
        assert_int_equal(count_sent("kari", text), 1);
        assert_true(streq(outbox[0].key, key) || streq(outbox[1].key, key) || streq(outbox[2].key, key));
        deliver_all();
        spin(e);

        /* Both away: the coordinator, naming both. */
        assert_int_equal(absences_add(abs, "ola", midnight(2026, 3, 1), midnight(2026, 3, 7), NULL, "test", now, NULL), 0);
        assert_int_equal(absences_add(abs, "ann", midnight(2026, 3, 2), U(2026, 3, 9, 11, 0), NULL, "test", now, NULL), 0);
        n_outbox = 0;
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"A-3\",\"contacts\":[\"ola\",\"ann\"],\"due\":\"2026-03-02\"}",
                        NULL, 0, err, sizeof(err)));
        spin(e);
        assert_int_equal(n_outbox, 1);
        assert_int_equal(count_sent("kari", "A-3 forfaller i dag. Ola er borte til og med 6.3 og Ann til "
                                            "9.3 kl. 12:00, så oppfølgingen er sendt til deg."), 1);
        deliver_all();
        spin(e);

        /* due --contact: who is away and who covers. */
        json_t *due = NULL;
        assert_int_equal(followup_due(f, false, "ola", &due), 0);
        assert_int_equal(json_integer_value(json_object_get(due, "count")), 3);
        json_t *c0 = json_array_get(json_object_get(due, "cases"), 0); /* */
        assert_string_equal(json_string_value(json_object_get(c0, "case")), "A-1");
        json_t *cov = json_object_get(c0, "covered");
        assert_int_equal(json_array_size(cov), 2); /* both away when its second reminder goes (Tuesday) */
        assert_string_equal(json_string_value(json_object_get(json_array_get(cov, 0), "contact")), "ola");
        assert_string_equal(json_string_value(json_object_get(json_array_get(cov, 0), "covered_by")), "kari");
        assert_string_equal(json_string_value(json_object_get(json_array_get(cov, 0), "until")), "2026-03-07 00:00");
        json_decref(due);
        /* The coordinator's list: the cases she covers, not being a contact. */
        assert_int_equal(followup_due(f, false, "kari", &due), 0);
        assert_int_equal(json_integer_value(json_object_get(due, "count")), 3);
        assert_true(json_is_true(json_object_get(json_array_get(json_object_get(due, "cases"), 1), "covering")));
        json_decref(due);
        assert_int_equal(followup_due(f, false, "per", &due), 0);
        assert_int_equal(json_integer_value(json_object_get(due, "count")), 1); /* A-4 only */
        json_decref(due);

        /* Answers: whoever the reminder went to, the contacts, nobody else. */
        json_t *reply = NULL;
        code_of(f, "A-3", code);
        assert_int_equal(followup_reply(f, code, "per", TEXT_REPLY_OK, 0, &reply, err, sizeof(err)), -ENOENT);
        assert_int_equal(followup_reply(f, code, "kari", TEXT_REPLY_OK, 0, &reply, err, sizeof(err)), 0);
        json_decref(reply);
        code_of(f, "A-1", code);
        assert_int_equal(followup_reply(f, code, "per", TEXT_REPLY_OK, 0, &reply, err, sizeof(err)), -ENOENT);

        /* The second reminder and the escalation follow the same rerouting:
         * A-1 reminded on Friday, A-2 reminded twice by Sunday. */
        followup_free(f);
        set_stage(root, "A-1", "first", U(2026, 2, 27, 9, 0), 0);
        set_stage(root, "A-2", "second", U(2026, 2, 27, 9, 0), U(2026, 3, 1, 8, 0));
        n_outbox = 0;
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        followup_set_absences(f, abs);
        spin(e);
        /* Both of A-1's contacts are away now: the coordinator. */
        assert_int_equal(count_sent("kari", "Påminnelse 2: oppfølging av A-1 er ikke registrert. Ola er borte "
                                            "til og med 6.3 og Ann til 9.3 kl. 12:00, så oppfølgingen er sendt til deg."),
                         1);
        assert_int_equal(count_sent("ann", NULL), 0);
        assert_int_equal(count_sent("ola", NULL), 0);
        /* A-2's escalation says its reminders went to the coordinator. */
        assert_int_equal(count_sent("kari", "A-2: oppfølging ikke registrert etter 3 dager. Kontaktpersoner: ola. Ola er "
                                            "borte til og med 6.3; påminnelsene gikk til deg."), 1);
        code_of(f, "A-1", code);
        assert_int_equal(followup_reply(f, code, "kari", TEXT_REPLY_HELP, 0, &reply, err, sizeof(err)), 0);
        json_decref(reply);
        deliver_all();
        spin(e);

        followup_free(f);
        absences_free(abs);
        sd_event_unref(e);
        store_free(store);
}

/* The responsible contact person: one of the contacts; the coordinator is
 * told once when they are away on a coming due date (at the open, at an
 * update, when the absence is added), not again after a restart. */
static void test_away_responsible(void **state) {
        struct world *w = *state;
        char root[300], err[256];
        snprintf(root, sizeof(root), "%s/spool-responsible", tmpdir);
        struct store *store = NULL;
        sd_event *e = NULL;
        struct absences *abs = NULL;
        uint64_t now = beredd_now();
        assert_int_equal(absences_new(NULL, &abs, NULL), 0);
        assert_int_equal(absences_add(abs, "ola", midnight(2026, 3, 3), midnight(2026, 3, 7), NULL, "test", now, NULL), 0);
        struct followup *f = engine_open(w, root, &store, &e);
        followup_set_absences(f, abs);
        n_outbox = 0;

        json_t *r = run(f, "{\"cmd\":\"case.open\",\"case\":\"R-1\",\"contacts\":[\"ann\"],\"responsible\":\"ola\"}", NULL,
                        -EINVAL, err, sizeof(err));
        assert_string_equal(err, "responsible: must be one of the contacts");
        r = run(f, "{\"cmd\":\"case.open\",\"case\":\"R-1\",\"contacts\":[\"ann\",\"ola\"],\"responsible\":\"ola\","
                   "\"due\":\"2026-03-04\"}", NULL, 0, err, sizeof(err));
        assert_string_equal(json_string_value(json_object_get(r, "responsible")), "ola");
        json_decref(r);
        assert_int_equal(count_sent("kari", "R-1: Ola er borte til og med 6.3, og er ansvarlig kontaktperson; "
                                            "oppfølgingen forfaller 4.3. Sørg for at de andre tjenestene følger opp."), 1);
        assert_int_equal(n_outbox, 1);
        /* Not away then: nothing. */
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"R-2\",\"contacts\":[\"ann\",\"ola\"],\"responsible\":\"ann\","
                           "\"due\":\"2026-03-11\"}", NULL, 0, err, sizeof(err)));
        json_decref(run(f, "{\"cmd\":\"case.open\",\"case\":\"R-3\",\"contacts\":[\"per\",\"ola\"],\"due\":\"2026-03-05\"}",
                        NULL, 0, err, sizeof(err)));
        assert_int_equal(n_outbox, 1);
        /* Named by an update: told. */
        r = run(f, "{\"cmd\":\"case.update\",\"case\":\"R-3\",\"responsible\":\"ola\"}", NULL, 0, err, sizeof(err));
        assert_true(json_is_true(json_object_get(r, "coordinator_told")));
        json_decref(r);
        assert_int_equal(count_sent("kari", "R-3: Ola er borte"), 1);
        r = run(f, "{\"cmd\":\"case.update\",\"case\":\"R-3\",\"responsible\":\"ann\"}", NULL, -EINVAL, err, sizeof(err));
        deliver_all();
        spin(e);

        /* A restart repeats nothing; an update naming the same again neither. */
        followup_free(f);
        n_outbox = 0;
        assert_int_equal(followup_new(e, store, NULL, w->cfg, w->cal, NULL, NULL, &f), 0);
        followup_set_absences(f, abs);
        spin(e);
        json_decref(run(f, "{\"cmd\":\"case.update\",\"case\":\"R-3\",\"responsible\":\"ola\"}", NULL, 0, err, sizeof(err)));
        assert_int_equal(n_outbox, 0);

        /* An absence added later that covers R-2's due date: told, once. */
        const struct absence *x = NULL;
        assert_int_equal(absences_add(abs, "ann", midnight(2026, 3, 10), midnight(2026, 3, 13), NULL, "test", now, &x), 0);
        followup_absence_added(f, "ann", x->from, x->to);
        assert_int_equal(n_outbox, 1);
        assert_int_equal(count_sent("kari", "R-2: Ann er borte til og med 12.3"), 1);
        followup_absence_added(f, "ann", x->from, x->to);
        assert_int_equal(n_outbox, 1);
        json_t *show = show_case(f, "R-2", 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(show, "responsible_told"), "due")),
                            "2026-03-11");
        json_decref(show);
        /* No responsible contact any more. */
        r = run(f, "{\"cmd\":\"case.update\",\"case\":\"R-2\",\"responsible\":\"\"}", NULL, 0, err, sizeof(err));
        assert_true(json_is_null(json_object_get(r, "responsible")));
        json_decref(r);
        deliver_all();
        spin(e);

        followup_free(f);
        absences_free(abs);
        sd_event_unref(e);
        store_free(store);
}

static int setup_group(void **state) {
        (void) state;
        assert_non_null(mkdtemp(tmpdir));
        /* Now = Monday 2 March 2026 10:00 Europe/Oslo (09:00 UTC). */
        char off[32];
        snprintf(off, sizeof(off), "%lld", (long long) (U(2026, 3, 2, 9, 0) / USEC_PER_SEC) - (long long) time(NULL));
        setenv("BEREDD_TEST_TIME_OFFSET", off, 1);
        return 0;
}

static int teardown_group(void **state) {
        (void) state;
        return test_dir_remove(tmpdir); /* KEEP_TMP=1 keeps the spools, to look at after a failure */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_first_reminder, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_first_reminder_morning, setup_morning, teardown),
                cmocka_unit_test_setup_teardown(test_first_reminder_late, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_first_reminder_late_morning, setup_morning, teardown),
                cmocka_unit_test_setup_teardown(test_second_and_escalation, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_dst_weekend, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_dst_weekend_morning, setup_morning, teardown),
                cmocka_unit_test_setup_teardown(test_heightened, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_purge, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_outcomes, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_children_task, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_unreached, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_overrides, setup_office, teardown),
                cmocka_unit_test(test_texts),
                cmocka_unit_test(test_texts_away),
                cmocka_unit_test_setup_teardown(test_engine, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_many, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_journal, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_index, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_vocabulary, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_away_reroute, setup_office, teardown),
                cmocka_unit_test_setup_teardown(test_away_responsible, setup_office, teardown),
                cmocka_unit_test(test_case_file_contract),
        };
        return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
