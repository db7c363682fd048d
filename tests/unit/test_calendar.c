/* test_calendar.c - civil dates, TZif zones, Norwegian holidays, office hours,
 * rosters. Expected values are hand-checked against a printed calendar; the
 * zone code is also cross-checked against the C library hour by hour. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

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
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "macro.h"
#include "test.h"

#define MON 1
#define FRI 5

static struct ymd D(int y, int m, int d) {
        return (struct ymd) { .y = y, .m = m, .d = d };
}

static void assert_ymd(struct ymd got, int y, int m, int d) {
        if (got.y != y || got.m != m || got.d != d) {
                print_error("date %04d-%02d-%02d, expected %04d-%02d-%02d\n", got.y, got.m, got.d, y, m, d);
                fail();
        }
}

static bool have_zone(const char *name) {
        char path[256];
        snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
        return access(path, R_OK) == 0;
}

static struct calendar_tz *load_zone(const char *name) {
        struct calendar_tz *tz = NULL;
        if (!have_zone(name))
                return NULL;
        assert_int_equal(calendar_tz_load(name, &tz), 0);
        assert_non_null(tz);
        return tz;
}

/* Mon-Fri 08:00-15:30, Norwegian holidays. */
static struct calendar_conf office_conf(void) {
        struct calendar_conf c = { .holidays_no = true };
        for (int i = 0; i < 7; i++) {
                c.open_min[i] = -1;
                c.close_min[i] = -1;
        }
        for (int i = MON; i <= FRI; i++) {
                c.open_min[i] = 8 * 60;
                c.close_min[i] = 15 * 60 + 30;
        }
        return c;
}

static struct calendar *oslo_calendar(const struct calendar_conf *conf) {
        struct calendar *c = NULL;
        if (!have_zone("Europe/Oslo"))
                return NULL;
        assert_int_equal(calendar_new(conf, "Europe/Oslo", &c), 0);
        assert_non_null(c);
        return c;
}

#define NEED_OSLO(c)                                                    \
        do {                                                            \
                if (!(c)) {                                             \
                        print_message("tzdata missing, skipping\n");    \
                        skip();                                         \
                }                                                       \
        } while (0)

/* ---- civil dates ---- */

static void test_civil(_unused_ void **state) {
        assert_int_equal(calendar_days_from_ymd(D(1970, 1, 1)), 0);
        assert_int_equal(calendar_days_from_ymd(D(1969, 12, 31)), -1);
        assert_int_equal(calendar_days_from_ymd(D(2000, 3, 1)), 11017);
        assert_int_equal(calendar_days_from_ymd(D(2026, 1, 5)), 20458);
        assert_ymd(calendar_ymd_from_days(20458), 2026, 1, 5);
        assert_ymd(calendar_ymd_from_days(-719468), 0, 3, 1);

        /* Round trip and agreement with timegm() over 1800..2300. */
        for (int64_t z = -62000; z < 120000; z++) {
                struct ymd d = calendar_ymd_from_days(z);
                assert_true(ymd_valid(d));
                assert_int_equal(calendar_days_from_ymd(d), z);
                if (z % 97 == 0) {
                        struct tm tm = { .tm_year = d.y - 1900, .tm_mon = d.m - 1, .tm_mday = d.d };
                        assert_int_equal((int64_t) timegm(&tm), z * 86400);
                        assert_int_equal(calendar_weekday(d), tm.tm_wday);
                }
        }

        assert_int_equal(calendar_weekday(D(1970, 1, 1)), 4);
        assert_int_equal(calendar_weekday(D(2026, 1, 5)), MON);
        assert_int_equal(calendar_weekday(D(2026, 3, 29)), 0);
        assert_int_equal(calendar_weekday(D(2026, 10, 25)), 0);
        assert_int_equal(calendar_weekday(D(2026, 5, 14)), 4);
        assert_int_equal(calendar_weekday(D(1969, 12, 28)), 0);

        assert_ymd(calendar_add_days(D(2028, 2, 28), 1), 2028, 2, 29);
        assert_ymd(calendar_add_days(D(2027, 2, 28), 1), 2027, 3, 1);
        assert_ymd(calendar_add_days(D(2026, 12, 31), 1), 2027, 1, 1);
        assert_ymd(calendar_add_days(D(2026, 1, 1), -1), 2025, 12, 31);
        assert_ymd(calendar_add_days(D(2026, 1, 5), 365 * 4 + 1), 2030, 1, 5);

        assert_int_equal(ymd_days_in_month(2024, 2), 29);
        assert_int_equal(ymd_days_in_month(1900, 2), 28);
        assert_int_equal(ymd_days_in_month(2000, 2), 29);
        assert_int_equal(ymd_days_in_month(2026, 4), 30);
        assert_int_equal(ymd_days_in_month(2026, 13), 0);
        assert_true(ymd_valid(D(2028, 2, 29)));
        assert_false(ymd_valid(D(2026, 2, 29)));
        assert_false(ymd_valid(D(2026, 4, 31)));
        assert_false(ymd_valid(D(2026, 0, 1)));
        assert_false(ymd_valid(D(2026, 1, 0)));

        assert_true(ymd_cmp(D(2026, 1, 5), D(2026, 1, 6)) < 0);
        assert_true(ymd_cmp(D(2026, 2, 1), D(2026, 1, 31)) > 0);
        assert_true(ymd_cmp(D(2025, 12, 31), D(2026, 1, 1)) < 0);
        assert_int_equal(ymd_cmp(D(2026, 1, 5), D(2026, 1, 5)), 0);

        /* Extreme inputs stay defined (UBSan watches). */
        (void) calendar_ymd_from_days(INT64_MAX);
        (void) calendar_ymd_from_days(INT64_MIN);
        (void) calendar_add_days(D(2026, 1, 1), INT64_MAX);
        (void) calendar_days_from_ymd(D(2026, 13, 1));
        assert_int_equal(calendar_days_from_ymd(D(2026, 13, 1)), calendar_days_from_ymd(D(2027, 1, 1)));
}

/* ---- holidays ---- */

static void test_easter(_unused_ void **state) {
        assert_ymd(calendar_easter(2025), 2025, 4, 20);
        assert_ymd(calendar_easter(2026), 2026, 4, 5);
        assert_ymd(calendar_easter(2027), 2027, 3, 28);
        assert_ymd(calendar_easter(2028), 2028, 4, 16);
        assert_ymd(calendar_easter(2029), 2029, 4, 1);
        assert_ymd(calendar_easter(2030), 2030, 4, 21);
        /* The extremes of the Gregorian range. */
        assert_ymd(calendar_easter(1818), 1818, 3, 22);
        assert_ymd(calendar_easter(2285), 2285, 3, 22);
        assert_ymd(calendar_easter(1943), 1943, 4, 25);
        assert_ymd(calendar_easter(2038), 2038, 4, 25);
        assert_ymd(calendar_easter(2000), 2000, 4, 23);
        for (int y = 1583; y < 3000; y++) {
                struct ymd e = calendar_easter(y);
                assert_int_equal(calendar_weekday(e), 0);
                assert_true(ymd_cmp(e, D(y, 3, 22)) >= 0);
                assert_true(ymd_cmp(e, D(y, 4, 25)) <= 0);
        }
}

static void test_holidays_2026(_unused_ void **state) {
        static const struct {
                int m, d;
                const char *name;
        } want[] = {
                { 1, 1, "Første nyttårsdag" },
                { 4, 2, "Skjærtorsdag" },
                { 4, 3, "Langfredag" },
                { 4, 5, "Første påskedag" },
                { 4, 6, "Andre påskedag" },
                { 5, 1, "Arbeidernes dag" },
                { 5, 14, "Kristi himmelfartsdag" },
                { 5, 17, "Grunnlovsdag" },
                { 5, 24, "Første pinsedag" },
                { 5, 25, "Andre pinsedag" },
                { 12, 25, "Første juledag" },
                { 12, 26, "Andre juledag" },
        };
        struct calendar_holiday h[CALENDAR_N_HOLIDAYS_NO];
        size_t k = 0;

        for (struct ymd d = D(2026, 1, 1); d.y == 2026; d = calendar_add_days(d, 1)) {
                const char *name = calendar_holiday_no(d);
                if (!name)
                        continue;
                assert_true(k < ELEMENTSOF(want));
                assert_ymd(d, 2026, want[k].m, want[k].d);
                assert_string_equal(name, want[k].name);
                k++;
        }
        assert_int_equal(k, ELEMENTSOF(want));

        assert_int_equal(calendar_holidays_no_year(2026, h), CALENDAR_N_HOLIDAYS_NO);
        for (size_t i = 0; i < CALENDAR_N_HOLIDAYS_NO; i++) {
                assert_ymd(h[i].date, 2026, want[i].m, want[i].d);
                assert_string_equal(h[i].name, want[i].name);
        }

        assert_null(calendar_holiday_no(D(2026, 12, 24))); /* julaften: not a public holiday */
        assert_null(calendar_holiday_no(D(2026, 12, 31)));
        assert_null(calendar_holiday_no(D(2026, 4, 4)));   /* påskeaften */
        assert_null(calendar_holiday_no(D(2026, 4, 1)));
        assert_null(calendar_holiday_no(D(2026, 5, 13)));
}

static void test_holidays_2025_2030(_unused_ void **state) {
        for (int y = 2025; y <= 2030; y++) {
                struct calendar_holiday h[CALENDAR_N_HOLIDAYS_NO];
                int n = 0;

                for (struct ymd d = D(y, 1, 1); d.y == y; d = calendar_add_days(d, 1))
                        n += calendar_holiday_no(d) != NULL;
                /* 12 holidays on 12 dates, except 2027: Whit Monday (Easter
                 * 28 March + 50) falls on 17 May, so 11 dates. */
                assert_int_equal(n, y == 2027 ? 11 : 12);

                assert_int_equal(calendar_holidays_no_year(y, h), 12);
                for (size_t i = 0; i < 12; i++) {
                        assert_int_equal(h[i].date.y, y);
                        assert_non_null(calendar_holiday_no(h[i].date));
                        if (i > 0)
                                assert_true(ymd_cmp(h[i - 1].date, h[i].date) <= 0);
                }
        }

        assert_string_equal(calendar_holiday_no(D(2025, 4, 17)), "Skjærtorsdag");
        assert_string_equal(calendar_holiday_no(D(2025, 4, 18)), "Langfredag");
        assert_string_equal(calendar_holiday_no(D(2025, 5, 29)), "Kristi himmelfartsdag");
        assert_string_equal(calendar_holiday_no(D(2025, 6, 9)), "Andre pinsedag");
        assert_string_equal(calendar_holiday_no(D(2027, 3, 25)), "Skjærtorsdag");
        assert_string_equal(calendar_holiday_no(D(2027, 5, 6)), "Kristi himmelfartsdag");
        assert_string_equal(calendar_holiday_no(D(2027, 5, 16)), "Første pinsedag");
        assert_string_equal(calendar_holiday_no(D(2027, 5, 17)), "Grunnlovsdag"); /* and Whit Monday */
        assert_string_equal(calendar_holiday_no(D(2028, 4, 17)), "Andre påskedag");
        assert_string_equal(calendar_holiday_no(D(2028, 5, 25)), "Kristi himmelfartsdag");
        assert_string_equal(calendar_holiday_no(D(2029, 3, 29)), "Skjærtorsdag");
        assert_string_equal(calendar_holiday_no(D(2029, 5, 21)), "Andre pinsedag");
        assert_string_equal(calendar_holiday_no(D(2030, 4, 19)), "Langfredag");
        assert_string_equal(calendar_holiday_no(D(2030, 6, 10)), "Andre pinsedag");
        assert_string_equal(calendar_holiday_no(D(2030, 12, 26)), "Andre juledag");
}

/* ---- time zones ---- */

static void assert_local(const struct calendar_local *l, int y, int m, int d, int h, int mi, int32_t off) {
        if (l->date.y != y || l->date.m != m || l->date.d != d || l->hour != h || l->minute != mi ||
            l->utc_offset != off) {
                print_error("local %04d-%02d-%02d %02d:%02d %+d, expected %04d-%02d-%02d %02d:%02d %+d\n",
                            l->date.y, l->date.m, l->date.d, l->hour, l->minute, (int) l->utc_offset, y, m, d,
                            h, mi, (int) off);
                fail();
        }
        assert_int_equal(l->day_min, h * 60 + mi);
}

static void test_oslo_spring(_unused_ void **state) {
        struct calendar_tz *tz = load_zone("Europe/Oslo");
        struct calendar_local l;
        NEED_OSLO(tz);

        assert_string_equal(calendar_tz_name(tz), "Europe/Oslo");
        /* 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST. */
        calendar_tz_to_local(tz, U(2026, 3, 29, 1, 0) - 1, &l);
        assert_local(&l, 2026, 3, 29, 1, 59, 3600);
        assert_int_equal(l.second, 59);
        assert_int_equal(l.usec, 999999);
        assert_false(l.dst);
        assert_string_equal(l.abbr, "CET");
        assert_int_equal(l.wday, 0);
        calendar_tz_to_local(tz, U(2026, 3, 29, 1, 0), &l);
        assert_local(&l, 2026, 3, 29, 3, 0, 7200);
        assert_true(l.dst);
        assert_string_equal(l.abbr, "CEST");
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2026, 3, 29, 1, 0) / USEC_PER_SEC) - 1), 3600);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2026, 3, 29, 1, 0) / USEC_PER_SEC)), 7200);

        /* Local -> UTC; the gap 02:00-02:59 maps to 03:00 CEST = 01:00 UTC. */
        struct ymd day = D(2026, 3, 29);
        assert_int_equal(calendar_tz_from_local(tz, day, 60), U(2026, 3, 29, 0, 0));
        assert_int_equal(calendar_tz_from_local(tz, day, 119), U(2026, 3, 29, 0, 59));
        assert_int_equal(calendar_tz_from_local(tz, day, 120), U(2026, 3, 29, 1, 0));
        assert_int_equal(calendar_tz_from_local(tz, day, 150), U(2026, 3, 29, 1, 0));
        assert_int_equal(calendar_tz_from_local(tz, day, 179), U(2026, 3, 29, 1, 0));
        assert_int_equal(calendar_tz_from_local(tz, day, 180), U(2026, 3, 29, 1, 0));
        assert_int_equal(calendar_tz_from_local(tz, day, 181), U(2026, 3, 29, 1, 1));
        assert_int_equal(calendar_tz_from_local(tz, day, 480), U(2026, 3, 29, 6, 0));
        /* Minutes outside the day roll over. */
        assert_int_equal(calendar_tz_from_local(tz, D(2026, 3, 28), 24 * 60 + 480), U(2026, 3, 29, 6, 0));
        assert_int_equal(calendar_tz_from_local(tz, D(2026, 3, 29), -60), U(2026, 3, 28, 22, 0));
        /* Before 1970 clamps to 0. */
        assert_int_equal(calendar_tz_from_local(tz, D(1969, 12, 31), 0), 0);

        /* Every minute around the change round-trips. */
        for (uint64_t t = U(2026, 3, 28, 22, 0); t < U(2026, 3, 29, 4, 0); t += USEC_PER_MIN) {
                calendar_tz_to_local(tz, t, &l);
                assert_int_equal(calendar_tz_from_local(tz, l.date, l.day_min), t);
                assert_false(l.hour == 2 && l.date.d == 29);
        }
        calendar_tz_free(tz);
}

static void test_oslo_autumn(_unused_ void **state) {
        struct calendar_tz *tz = load_zone("Europe/Oslo");
        struct calendar_local l;
        NEED_OSLO(tz);

        /* 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET. */
        calendar_tz_to_local(tz, U(2026, 10, 25, 1, 0) - 1, &l);
        assert_local(&l, 2026, 10, 25, 2, 59, 7200);
        assert_true(l.dst);
        calendar_tz_to_local(tz, U(2026, 10, 25, 1, 0), &l);
        assert_local(&l, 2026, 10, 25, 2, 0, 3600);
        assert_false(l.dst);
        assert_string_equal(l.abbr, "CET");
        calendar_tz_to_local(tz, U(2026, 10, 25, 0, 30), &l);
        assert_local(&l, 2026, 10, 25, 2, 30, 7200);
        calendar_tz_to_local(tz, U(2026, 10, 25, 1, 30), &l);
        assert_local(&l, 2026, 10, 25, 2, 30, 3600);

        /* The overlap 02:00-02:59 maps to the earlier (CEST) instant. */
        struct ymd day = D(2026, 10, 25);
        assert_int_equal(calendar_tz_from_local(tz, day, 119), U(2026, 10, 24, 23, 59));
        assert_int_equal(calendar_tz_from_local(tz, day, 120), U(2026, 10, 25, 0, 0));
        assert_int_equal(calendar_tz_from_local(tz, day, 150), U(2026, 10, 25, 0, 30));
        assert_int_equal(calendar_tz_from_local(tz, day, 179), U(2026, 10, 25, 0, 59));
        assert_int_equal(calendar_tz_from_local(tz, day, 180), U(2026, 10, 25, 2, 0));
        assert_int_equal(calendar_tz_from_local(tz, day, 480), U(2026, 10, 25, 7, 0));

        /* Round trips: identical, except the second pass through 02:xx,
         * which maps back to the first. */
        for (uint64_t t = U(2026, 10, 24, 22, 0); t < U(2026, 10, 25, 4, 0); t += USEC_PER_MIN) {
                calendar_tz_to_local(tz, t, &l);
                uint64_t back = calendar_tz_from_local(tz, l.date, l.day_min);
                if (t >= U(2026, 10, 25, 1, 0) && t < U(2026, 10, 25, 2, 0))
                        assert_int_equal(back, t - USEC_PER_HOUR);
                else
                        assert_int_equal(back, t);
        }
        calendar_tz_free(tz);
}

static void test_oslo_footer(_unused_ void **state) {
        struct calendar_tz *tz = load_zone("Europe/Oslo");
        struct calendar_local l;
        NEED_OSLO(tz);

        /* 2040 is past the end of even a "fat" table (2037): the footer rule. */
        calendar_tz_to_local(tz, U(2040, 7, 1, 12, 0), &l);
        assert_local(&l, 2040, 7, 1, 14, 0, 7200);
        assert_true(l.dst);
        assert_string_equal(l.abbr, "CEST");
        calendar_tz_to_local(tz, U(2040, 1, 15, 12, 0), &l);
        assert_local(&l, 2040, 1, 15, 13, 0, 3600);
        assert_string_equal(l.abbr, "CET");

        /* Last Sundays of March and October 2040: the 25th and the 28th. */
        assert_int_equal(calendar_weekday(D(2040, 3, 25)), 0);
        assert_int_equal(calendar_weekday(D(2040, 4, 1)), 0);
        assert_int_equal(calendar_weekday(D(2040, 10, 28)), 0);
        assert_int_equal(calendar_weekday(D(2040, 11, 4)), 0);
        int64_t s = (int64_t) (U(2040, 3, 25, 1, 0) / USEC_PER_SEC);
        int64_t e = (int64_t) (U(2040, 10, 28, 1, 0) / USEC_PER_SEC);
        assert_int_equal(calendar_tz_offset(tz, s - 1), 3600);
        assert_int_equal(calendar_tz_offset(tz, s), 7200);
        assert_int_equal(calendar_tz_offset(tz, e - 1), 7200);
        assert_int_equal(calendar_tz_offset(tz, e), 3600);
        assert_int_equal(calendar_tz_from_local(tz, D(2040, 3, 25), 150), U(2040, 3, 25, 1, 0));
        assert_int_equal(calendar_tz_from_local(tz, D(2040, 10, 28), 150), U(2040, 10, 28, 0, 30));

        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2100, 7, 1, 0, 0) / USEC_PER_SEC)), 7200);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2100, 12, 1, 0, 0) / USEC_PER_SEC)), 3600);
        /* Far away and extreme values stay defined. */
        (void) calendar_tz_offset(tz, INT64_MAX);
        (void) calendar_tz_offset(tz, INT64_MIN);
        (void) calendar_tz_from_local_sec(tz, INT64_MAX);
        (void) calendar_tz_from_local_sec(tz, INT64_MIN);
        calendar_tz_to_local(tz, UINT64_MAX, &l);
        calendar_tz_free(tz);
}

/* Compare with the C library, which reads the same file (or TZ string). */
static void crosscheck(const struct calendar_tz *tz, const char *tzenv, int64_t from, int64_t to, int64_t step) {
        unsigned overlaps = 0;

        assert_int_equal(setenv("TZ", tzenv, 1), 0);
        tzset();
        for (int64_t t = from; t < to; t += step) {
                struct calendar_local l;
                struct tm tm;
                time_t tt = (time_t) t;

                assert_non_null(localtime_r(&tt, &tm));
                calendar_tz_to_local(tz, (uint64_t) t * USEC_PER_SEC, &l);
                if (l.date.y != tm.tm_year + 1900 || l.date.m != tm.tm_mon + 1 || l.date.d != tm.tm_mday ||
                    l.hour != tm.tm_hour || l.minute != tm.tm_min || l.second != tm.tm_sec ||
                    l.wday != tm.tm_wday || l.utc_offset != tm.tm_gmtoff || l.dst != (tm.tm_isdst > 0) ||
                    strcmp(l.abbr, tm.tm_zone) != 0) {
                        print_error("%s at %lld: ours %04d-%02d-%02d %02d:%02d:%02d %+d %s dst=%d, "
                                    "libc %04d-%02d-%02d %02d:%02d:%02d %+ld %s dst=%d\n",
                                    tzenv, (long long) t, l.date.y, l.date.m, l.date.d, l.hour, l.minute,
                                    l.second, (int) l.utc_offset, l.abbr, l.dst, tm.tm_year + 1900,
                                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_gmtoff,
                                    tm.tm_zone, tm.tm_isdst);
                        fail();
                }

                /* Back again: the same instant, or in an overlap the earlier
                 * one with the same wall clock. */
                int64_t back = calendar_tz_from_local_sec(tz, t + l.utc_offset);
                if (back != t) {
                        assert_true(back < t);
                        assert_int_equal(back + calendar_tz_offset(tz, back), t + l.utc_offset);
                        overlaps++;
                }
        }
        (void) overlaps;
        assert_int_equal(unsetenv("TZ"), 0);
        tzset();
}

static int64_t year_start(int y) {
        return (int64_t) (U(y, 1, 1, 0, 0) / USEC_PER_SEC);
}

static void test_libc_oslo(_unused_ void **state) {
        struct calendar_tz *tz = load_zone("Europe/Oslo");
        NEED_OSLO(tz);

        unsetenv("TZDIR");
        /* Every hour of 2026 (the table), every hour of 2040 (the footer),
         * and every 2h47m from 1970 to 2060 (odd step: hits all minutes). */
        crosscheck(tz, "Europe/Oslo", year_start(2026), year_start(2027), 3600);
        crosscheck(tz, "Europe/Oslo", year_start(2040), year_start(2041), 3600);
        crosscheck(tz, "Europe/Oslo", 0, year_start(2060), 2 * 3600 + 47 * 60 + 13);
        calendar_tz_free(tz);
}

static void test_libc_zones(_unused_ void **state) {
        /* Southern hemisphere, negative DST (Dublin), negative rule times
         * (Nuuk), half and quarter hours, zones whose footer has no DST. */
        static const char *const zones[] = {
                "America/New_York", "Australia/Sydney", "Europe/Dublin", "America/Nuuk",
                "Asia/Tehran", "Pacific/Chatham", "Africa/Casablanca", "America/Sao_Paulo",
                "Europe/London", "Pacific/Apia", "Asia/Kolkata", "UTC", "Europe/Lisbon",
                "America/Santiago", "Pacific/Kiritimati",
        };
        unsigned checked = 0;

        unsetenv("TZDIR");
        for (size_t i = 0; i < ELEMENTSOF(zones); i++) {
                struct calendar_tz *tz = load_zone(zones[i]);
                if (!tz)
                        continue;
                crosscheck(tz, zones[i], year_start(2026), year_start(2027), 3600);
                crosscheck(tz, zones[i], year_start(2039), year_start(2041), 3 * 3600 + 17);
                crosscheck(tz, zones[i], 0, year_start(2039), 5 * 3600 + 11 * 60 + 7);
                calendar_tz_free(tz);
                checked++;
        }
        if (checked == 0)
                skip();
}

static void test_posix(_unused_ void **state) {
        static const char *const good[] = {
                "CET-1CEST,M3.5.0,M10.5.0/3",
                "AEST-10AEDT,M10.1.0,M4.1.0/3",
                "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",
                "<+0330>-3:30",
                "NZST-12NZDT,M9.5.0,M4.1.0/3",
                "IST-1GMT0,M10.5.0,M3.5.0/1",
                "XXX-2YYY,J60/2,J300/2",
                "XXX-2YYY,59/2,299/2",
                "XXX-2YYY-3:30,M4.1.0/1:30:15,M9.5.6/26",
                "UTC0",
        };
        static const char *const bad[] = {
                "", "CE", "CET", "CET-", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
                "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-25", "<CET-1",
                "CET-1CEST,M3.5.0,M10.5.0/3x", "CET-1CEST,J0,J100", "CET-1CEST,366,1",
                "CET-1CEST,M3.5.0/168,M10.5.0", "C3T-1", "<+0330-3:30",
        };
        struct calendar_tz *tz;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                tz = NULL;
                if (calendar_tz_from_posix(bad[i], &tz) != -EINVAL) {
                        print_error("accepted bad TZ string \"%s\"\n", bad[i]);
                        fail();
                }
                assert_null(tz);
        }

        unsetenv("TZDIR");
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_int_equal(calendar_tz_from_posix(good[i], &tz), 0);
                assert_string_equal(calendar_tz_name(tz), good[i]);
                crosscheck(tz, good[i], year_start(2024), year_start(2029), 3600 + 13);
                calendar_tz_free(tz);
        }

        /* No rule given: the US rule, like glibc (which takes it from posixrules). */
        assert_int_equal(calendar_tz_from_posix("XST5XDT", &tz), 0);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2026, 3, 8, 7, 0) / USEC_PER_SEC) - 1), -5 * 3600);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2026, 3, 8, 7, 0) / USEC_PER_SEC)), -4 * 3600);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2026, 11, 1, 6, 0) / USEC_PER_SEC) - 1), -4 * 3600);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2026, 11, 1, 6, 0) / USEC_PER_SEC)), -5 * 3600);
        calendar_tz_free(tz);

        /* "UTC0": offset 0 everywhere. */
        assert_int_equal(calendar_tz_from_posix("UTC0", &tz), 0);
        assert_int_equal(calendar_tz_from_local(tz, D(2026, 3, 29), 150), U(2026, 3, 29, 2, 30));
        calendar_tz_free(tz);
}

/* ---- TZif images built by hand ---- */

struct tzif_img {
        uint8_t b[4096];
        size_t n;
};

static void put(struct tzif_img *img, const void *p, size_t n) {
        assert_true(img->n + n <= sizeof img->b);
        memcpy(img->b + img->n, p, n);
        img->n += n;
}

static void put32(struct tzif_img *img, uint32_t v) {
        uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };
        put(img, b, 4);
}

static void put64(struct tzif_img *img, int64_t v) {
        put32(img, (uint32_t) ((uint64_t) v >> 32));
        put32(img, (uint32_t) v);
}

/* A zone with CET/CEST types and the given transitions (alternating, starting
 * with CEST), as VERSION ('\0' or '2'), with FOOTER (v2 only). */
static void build_tzif(struct tzif_img *img, char version, const int64_t *trans, size_t n, const char *footer) {
        static const char chars[] = "CET\0CEST";
        img->n = 0;
        for (int pass = 0; pass < (version ? 2 : 1); pass++) {
                bool v2 = pass == 1;
                put(img, "TZif", 4);
                put(img, &version, 1);
                put(img, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
                put32(img, 0);              /* isutcnt */
                put32(img, 0);              /* isstdcnt */
                put32(img, 0);              /* leapcnt */
                put32(img, (uint32_t) n);   /* timecnt */
                put32(img, 2);              /* typecnt */
                put32(img, sizeof chars);   /* charcnt */
                for (size_t i = 0; i < n; i++) {
                        if (v2)
                                put64(img, trans[i]);
                        else
                                put32(img, (uint32_t) (int32_t) trans[i]);
                }
                for (size_t i = 0; i < n; i++) {
                        uint8_t idx = i % 2 == 0 ? 1 : 0;
                        put(img, &idx, 1);
                }
                put32(img, 3600);
                put(img, "\0\0", 2);
                put32(img, 7200);
                put(img, "\1\4", 2);
                put(img, chars, sizeof chars);
        }
        if (version) {
                put(img, "\n", 1);
                put(img, footer, strlen(footer));
                put(img, "\n", 1);
        }
}

static void test_tzif_slim(_unused_ void **state) {
        /* A "slim" Oslo: only 2025's changes in the table, the rest from the
         * footer, like Debian's files may be. */
        const int64_t trans[] = {
                (int64_t) (U(2025, 3, 30, 1, 0) / USEC_PER_SEC),
                (int64_t) (U(2025, 10, 26, 1, 0) / USEC_PER_SEC),
        };
        struct tzif_img img;
        struct calendar_tz *tz, *oslo;
        struct calendar_local l;

        build_tzif(&img, '2', trans, 2, "CET-1CEST,M3.5.0,M10.5.0/3");
        assert_int_equal(calendar_tz_from_tzif("slim", img.b, img.n, &tz), 0);
        assert_string_equal(calendar_tz_name(tz), "slim");
        calendar_tz_to_local(tz, U(2025, 7, 1, 12, 0), &l);
        assert_local(&l, 2025, 7, 1, 14, 0, 7200);
        calendar_tz_to_local(tz, U(2026, 7, 1, 12, 0), &l);
        assert_local(&l, 2026, 7, 1, 14, 0, 7200);
        assert_string_equal(l.abbr, "CEST");
        assert_int_equal(calendar_tz_from_local(tz, D(2026, 3, 29), 150), U(2026, 3, 29, 1, 0));
        assert_int_equal(calendar_tz_from_local(tz, D(2026, 10, 25), 150), U(2026, 10, 25, 0, 30));
        /* Before the first transition: type 0 (CET). */
        assert_int_equal(calendar_tz_offset(tz, 0), 3600);

        oslo = load_zone("Europe/Oslo");
        if (oslo) {
                for (int64_t t = year_start(2025); t < year_start(2031); t += 1800)
                        assert_int_equal(calendar_tz_offset(tz, t), calendar_tz_offset(oslo, t));
                calendar_tz_free(oslo);
        }
        calendar_tz_free(tz);

        /* Version 1: 32-bit table only, no footer; after the table, the last type. */
        build_tzif(&img, '\0', trans, 2, "");
        assert_int_equal(calendar_tz_from_tzif("v1", img.b, img.n, &tz), 0);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2025, 7, 1, 0, 0) / USEC_PER_SEC)), 7200);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2026, 7, 1, 0, 0) / USEC_PER_SEC)), 3600);
        calendar_tz_free(tz);

        /* Empty footer: the table alone. */
        build_tzif(&img, '2', trans, 2, "");
        assert_int_equal(calendar_tz_from_tzif("nofooter", img.b, img.n, &tz), 0);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2026, 7, 1, 0, 0) / USEC_PER_SEC)), 3600);
        calendar_tz_free(tz);

        /* No transitions at all: the footer everywhere. */
        build_tzif(&img, '2', NULL, 0, "CET-1CEST,M3.5.0,M10.5.0/3");
        assert_int_equal(calendar_tz_from_tzif("rule", img.b, img.n, &tz), 0);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2026, 7, 1, 0, 0) / USEC_PER_SEC)), 7200);
        calendar_tz_free(tz);

        /* Malformed: bad footer, transitions out of order, bad magic. */
        tz = NULL;
        build_tzif(&img, '2', trans, 2, "CET-1CEST,M3.5.0");
        assert_int_equal(calendar_tz_from_tzif("x", img.b, img.n, &tz), -EBADMSG);
        const int64_t backwards[] = { trans[1], trans[0] };
        build_tzif(&img, '2', backwards, 2, "CET-1");
        assert_int_equal(calendar_tz_from_tzif("x", img.b, img.n, &tz), -EBADMSG);
        build_tzif(&img, '2', trans, 2, "CET-1");
        img.b[0] = 'X';
        assert_int_equal(calendar_tz_from_tzif("x", img.b, img.n, &tz), -EBADMSG);
        assert_null(tz);
}

static void test_tzif_load(_unused_ void **state) {
        const int64_t trans[] = { (int64_t) (U(2025, 3, 30, 1, 0) / USEC_PER_SEC) };
        char dir[] = "/tmp/test_calendar.XXXXXX", path[128];
        struct tzif_img img;
        struct calendar_tz *tz = NULL;
        int fd;

        assert_non_null(mkdtemp(dir));
        build_tzif(&img, '2', trans, 1, "CET-1CEST,M3.5.0,M10.5.0/3");
        snprintf(path, sizeof path, "%s/Slim", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, img.b, img.n), (ssize_t) img.n);
        close(fd);
        snprintf(path, sizeof path, "%s/Junk", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "not a zone\n", 11), 11);
        close(fd);
        snprintf(path, sizeof path, "%s/Sub", dir);
        assert_int_equal(mkdir(path, 0755), 0);

        assert_int_equal(setenv("TZDIR", dir, 1), 0);
        assert_int_equal(calendar_tz_load("Slim", &tz), 0);
        assert_int_equal(calendar_tz_offset(tz, (int64_t) (U(2030, 7, 1, 0, 0) / USEC_PER_SEC)), 7200);
        calendar_tz_free(tz);
        tz = NULL;
        assert_int_equal(calendar_tz_load("Junk", &tz), -EBADMSG);
        assert_int_equal(calendar_tz_load("Sub", &tz), -EISDIR);
        assert_int_equal(calendar_tz_load("Nowhere/Zone", &tz), -ENOENT);
        assert_int_equal(calendar_tz_load("../etc/passwd", &tz), -EINVAL);
        assert_int_equal(calendar_tz_load("Europe/../../etc/passwd", &tz), -EINVAL);
        assert_int_equal(calendar_tz_load("Sub/..", &tz), -EINVAL);
        assert_int_equal(calendar_tz_load(".hidden", &tz), -EINVAL);
        assert_int_equal(calendar_tz_load("", &tz), -EINVAL);
        assert_int_equal(calendar_tz_load(NULL, &tz), -EINVAL);
        assert_null(tz);
        /* "UTC" works without tzdata. */
        assert_int_equal(calendar_tz_load("UTC", &tz), 0);
        assert_int_equal(calendar_tz_offset(tz, 1000000000), 0);
        calendar_tz_free(tz);
        /* Absolute paths bypass TZDIR. */
        snprintf(path, sizeof path, "%s/Slim", dir);
        assert_int_equal(calendar_tz_load(path, &tz), 0);
        calendar_tz_free(tz);
        assert_int_equal(unsetenv("TZDIR"), 0);

        if (have_zone("Europe/Oslo")) {
                assert_int_equal(calendar_tz_load(":Europe/Oslo", &tz), 0);
                assert_string_equal(calendar_tz_name(tz), "Europe/Oslo");
                calendar_tz_free(tz);
        }

        snprintf(path, sizeof path, "%s/Slim", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/Junk", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/Sub", dir);
        rmdir(path);
        rmdir(dir);
}

static int read_all(const char *path, uint8_t **ret, size_t *ret_len) {
        FILE *f = fopen(path, "rbe");
        uint8_t *buf = NULL;
        size_t n = 0, k;

        if (!f)
                return -errno;
        buf = malloc(1 << 20);
        assert_non_null(buf);
        while ((k = fread(buf + n, 1, (1 << 20) - n, f)) > 0)
                n += k;
        fclose(f);
        *ret = buf;
        *ret_len = n;
        return 0;
}

static void test_tzif_robust(_unused_ void **state) {
        uint8_t *data = NULL, *copy;
        size_t len = 0;
        struct calendar_tz *tz = NULL;
        unsigned seed = 12345, ok = 0;

        if (read_all("/usr/share/zoneinfo/Europe/Oslo", &data, &len) < 0)
                skip();
        assert_int_equal(calendar_tz_from_tzif("Europe/Oslo", data, len, &tz), 0);
        calendar_tz_free(tz);

        /* Every truncation is refused (v2+ files end with the footer's "\n"). */
        for (size_t n = 0; n < len; n++) {
                tz = NULL;
                copy = malloc(n ? n : 1);
                assert_non_null(copy);
                memcpy(copy, data, n);
                assert_true(calendar_tz_from_tzif("t", copy, n, &tz) < 0);
                assert_null(tz);
                free(copy);
        }

        /* Random corruption never crashes; whatever parses gives sane offsets. */
        copy = malloc(len);
        assert_non_null(copy);
        for (int round = 0; round < 3000; round++) {
                memcpy(copy, data, len);
                int flips = 1 + round % 4;
                for (int i = 0; i < flips; i++) {
                        seed = seed * 1103515245 + 12345;
                        size_t pos = (seed >> 8) % len;
                        seed = seed * 1103515245 + 12345;
                        copy[pos] = (uint8_t) (seed >> 16);
                }
                tz = NULL;
                if (calendar_tz_from_tzif("f", copy, len, &tz) == 0) {
                        ok++;
                        for (int64_t t = -(INT64_C(1) << 40); t < (INT64_C(1) << 40); t += INT64_C(1) << 36) {
                                struct calendar_local l;
                                int32_t off = calendar_tz_offset(tz, t);
                                assert_true(off > -90000 && off < 93600);
                                (void) calendar_tz_from_local_sec(tz, t);
                                calendar_tz_to_local(tz, t < 0 ? 0 : (uint64_t) t * USEC_PER_SEC, &l);
                                assert_non_null(l.abbr);
                        }
                        calendar_tz_free(tz);
                }
        }
        print_message("%u of 3000 corrupted images parsed\n", ok);
        free(copy);
        free(data);
}

/* ---- office hours ---- */

static const struct ymd closed_days[] = { { 2026, 12, 24 }, { 2026, 12, 31 } };

static void test_office_weekdays(_unused_ void **state) {
        struct calendar_conf conf = office_conf();
        conf.closed = (struct ymd *) closed_days;
        conf.n_closed = ELEMENTSOF(closed_days);
        struct calendar *c = oslo_calendar(&conf);
        NEED_OSLO(c);

        /* Monday after the spring change (CEST, UTC+2). */
        assert_false(calendar_is_office(c, U(2026, 3, 30, 5, 59)));
        assert_true(calendar_is_office(c, U(2026, 3, 30, 6, 0)));
        assert_true(calendar_is_office(c, U(2026, 3, 30, 13, 29)));
        assert_true(calendar_is_office(c, U(2026, 3, 30, 13, 30) - 1));
        assert_false(calendar_is_office(c, U(2026, 3, 30, 13, 30)));
        /* Monday after the autumn change (CET, UTC+1). */
        assert_false(calendar_is_office(c, U(2026, 10, 26, 6, 59)));
        assert_true(calendar_is_office(c, U(2026, 10, 26, 7, 0)));
        assert_false(calendar_is_office(c, U(2026, 10, 26, 14, 30)));
        /* The change days are Sundays: closed. */
        assert_false(calendar_is_office(c, U(2026, 3, 29, 8, 0)));
        assert_false(calendar_is_office(c, U(2026, 10, 25, 9, 0)));
        /* Saturday, a holiday, a closed day, and an ordinary Wednesday. */
        assert_false(calendar_is_office(c, U(2026, 6, 6, 8, 0)));
        assert_false(calendar_is_office(c, U(2026, 5, 14, 8, 0)));
        assert_false(calendar_is_office(c, U(2026, 12, 24, 9, 0)));
        assert_true(calendar_is_office(c, U(2026, 12, 23, 9, 0)));
        assert_true(calendar_is_office(c, U(2026, 5, 13, 8, 0)));

        assert_true(calendar_is_working_day(c, D(2026, 5, 13)));
        assert_false(calendar_is_working_day(c, D(2026, 5, 14)));
        assert_true(calendar_is_working_day(c, D(2026, 5, 15)));
        assert_false(calendar_is_working_day(c, D(2026, 5, 16)));
        assert_false(calendar_is_working_day(c, D(2026, 12, 24)));
        assert_false(calendar_is_working_day(c, D(2026, 12, 25)));
        assert_true(calendar_is_closed(c, D(2026, 12, 31)));
        assert_false(calendar_is_closed(c, D(2026, 12, 30)));
        assert_string_equal(calendar_holiday(c, D(2026, 5, 14)), "Kristi himmelfartsdag");
        assert_null(calendar_holiday(c, D(2026, 5, 13)));

        struct calendar_local l;
        calendar_local(c, U(2026, 6, 1, 6, 0), &l);
        assert_local(&l, 2026, 6, 1, 8, 0, 7200);
        assert_int_equal(calendar_from_local(c, D(2026, 6, 1), 480), U(2026, 6, 1, 6, 0));
        assert_string_equal(calendar_tz_name(calendar_get_tz(c)), "Europe/Oslo");
        calendar_free(c);

        /* Without built-in holidays Ascension Day is a working day. */
        conf.holidays_no = false;
        c = oslo_calendar(&conf);
        assert_true(calendar_is_office(c, U(2026, 5, 14, 8, 0)));
        assert_true(calendar_is_working_day(c, D(2026, 5, 14)));
        assert_null(calendar_holiday(c, D(2026, 5, 14)));
        assert_false(calendar_is_working_day(c, D(2026, 12, 24))); /* still closed */
        calendar_free(c);
}

static void test_office_dst_sunday(_unused_ void **state) {
        struct calendar_conf conf = office_conf();
        conf.open_min[0] = 8 * 60;
        conf.close_min[0] = 15 * 60 + 30;
        struct calendar *c = oslo_calendar(&conf);
        NEED_OSLO(c);

        /* The change days themselves, with Sunday office hours. */
        assert_false(calendar_is_office(c, U(2026, 3, 29, 5, 59))); /* 07:59 CEST */
        assert_true(calendar_is_office(c, U(2026, 3, 29, 6, 0)));   /* 08:00 CEST */
        assert_false(calendar_is_office(c, U(2026, 10, 25, 6, 59))); /* 07:59 CET */
        assert_true(calendar_is_office(c, U(2026, 10, 25, 7, 0)));   /* 08:00 CET */
        assert_false(calendar_is_office(c, U(2026, 10, 25, 6, 0)));  /* 07:00 CET: an hour early in CEST terms */
        assert_int_equal(calendar_next_office_start(c, U(2026, 3, 28, 20, 0)), U(2026, 3, 29, 6, 0));
        assert_int_equal(calendar_next_office_start(c, U(2026, 10, 24, 20, 0)), U(2026, 10, 25, 7, 0));
        calendar_free(c);

        /* Opening inside the gap/overlap: 02:30 every day. */
        for (int i = 0; i < 7; i++) {
                conf.open_min[i] = 2 * 60 + 30;
                conf.close_min[i] = 4 * 60;
        }
        c = oslo_calendar(&conf);
        assert_int_equal(calendar_next_office_start(c, U(2026, 3, 28, 20, 0)), U(2026, 3, 29, 1, 0));
        assert_false(calendar_is_office(c, U(2026, 3, 29, 1, 0) - 1)); /* 01:59:59 CET */
        assert_true(calendar_is_office(c, U(2026, 3, 29, 1, 0)));      /* 03:00 CEST */
        assert_int_equal(calendar_next_office_start(c, U(2026, 10, 24, 20, 0)), U(2026, 10, 25, 0, 30));
        assert_true(calendar_is_office(c, U(2026, 10, 25, 0, 30)));
        assert_false(calendar_is_office(c, U(2026, 10, 25, 1, 0))); /* 02:00 CET, second pass */
        assert_true(calendar_is_office(c, U(2026, 10, 25, 1, 30)));  /* 02:30 CET, second pass */
        /* From just after the first 02:30, the next opening is Monday's. */
        assert_int_equal(calendar_next_office_start(c, U(2026, 10, 25, 0, 31)), U(2026, 10, 26, 1, 30));
        calendar_free(c);
}

static void test_next_office_start(_unused_ void **state) {
        struct calendar_conf conf = office_conf();
        conf.closed = (struct ymd *) closed_days;
        conf.n_closed = ELEMENTSOF(closed_days);
        struct calendar *c = oslo_calendar(&conf);
        NEED_OSLO(c);

        /* Friday 16:00 -> Monday 08:00 (over the spring change: CET -> CEST). */
        assert_int_equal(calendar_next_office_start(c, U(2026, 3, 27, 15, 0)), U(2026, 3, 30, 6, 0));
        assert_int_equal(calendar_next_office_start(c, U(2026, 6, 5, 14, 0)), U(2026, 6, 8, 6, 0));
        /* Wednesday evening before Ascension Day -> Friday 08:00. */
        assert_int_equal(calendar_next_office_start(c, U(2026, 5, 13, 18, 0)), U(2026, 5, 15, 6, 0));
        /* Saturday -> Monday. */
        assert_int_equal(calendar_next_office_start(c, U(2026, 6, 6, 8, 0)), U(2026, 6, 8, 6, 0));
        /* Closed 24 Dec, holidays 25-26 Dec, Sunday 27 -> Monday 28 Dec 08:00 CET. */
        assert_int_equal(calendar_next_office_start(c, U(2026, 12, 23, 15, 0)), U(2026, 12, 28, 7, 0));
        assert_int_equal(calendar_next_office_start(c, U(2026, 12, 23, 23, 0)), U(2026, 12, 28, 7, 0));
        /* Closed 31 Dec, holiday 1 Jan (Friday) -> Monday 4 Jan 2027. */
        assert_int_equal(calendar_next_office_start(c, U(2026, 12, 30, 15, 0)), U(2027, 1, 4, 7, 0));
        /* Easter 2026: Maundy Thursday to Easter Monday -> Tuesday 7 April. */
        assert_int_equal(calendar_next_office_start(c, U(2026, 4, 1, 14, 0)), U(2026, 4, 7, 6, 0));
        /* At the opening itself: that instant; a microsecond later: the next day. */
        assert_int_equal(calendar_next_office_start(c, U(2026, 6, 8, 6, 0)), U(2026, 6, 8, 6, 0));
        assert_int_equal(calendar_next_office_start(c, U(2026, 6, 8, 6, 0) + 1), U(2026, 6, 9, 6, 0));
        /* Early morning -> the same day. */
        assert_int_equal(calendar_next_office_start(c, U(2026, 6, 8, 3, 0)), U(2026, 6, 8, 6, 0));
        /* The follow-up use: start of office hours on a due day, or later. */
        assert_int_equal(calendar_next_office_start(c, calendar_from_local(c, D(2026, 5, 14), 0)),
                         U(2026, 5, 15, 6, 0));

        struct ymd d;
        assert_int_equal(calendar_next_working_day(c, D(2026, 12, 24), &d), 0);
        assert_ymd(d, 2026, 12, 28);
        assert_int_equal(calendar_next_working_day(c, D(2026, 12, 22), &d), 0);
        assert_ymd(d, 2026, 12, 22);
        assert_int_equal(calendar_next_working_day(c, D(2026, 5, 14), &d), 0);
        assert_ymd(d, 2026, 5, 15);
        assert_int_equal(calendar_next_working_day(c, D(2026, 4, 2), &d), 0);
        assert_ymd(d, 2026, 4, 7);
        assert_int_equal(calendar_next_working_day(c, D(2026, 12, 31), &d), 0);
        assert_ymd(d, 2027, 1, 4);
        assert_int_equal(calendar_next_working_day(c, D(2027, 5, 15), &d), 0);
        assert_ymd(d, 2027, 5, 18); /* Sat, Sun = Whit Sunday, Mon = 17 May + Whit Monday */
        calendar_free(c);

        /* No office hours at all: never. */
        struct calendar_conf none = office_conf();
        for (int i = 0; i < 7; i++)
                none.open_min[i] = -1;
        none.open_min[3] = 600; /* Wednesday with close < open: closed too */
        none.close_min[3] = 500;
        c = oslo_calendar(&none);
        assert_int_equal(calendar_next_office_start(c, U(2026, 1, 1, 0, 0)), CALENDAR_NEVER);
        assert_int_equal(calendar_next_working_day(c, D(2026, 1, 1), &d), -ENOENT);
        assert_false(calendar_is_office(c, U(2026, 1, 7, 9, 0)));
        calendar_free(c);
}

static void test_heightened(_unused_ void **state) {
        struct heightened h[] = {
                { .from = { 2026, 12, 18 }, .to = { 2027, 1, 3 }, .name = (char *) "Jul og nyttår" },
                { .from = { 2026, 6, 1 }, .to = { 2026, 6, 1 }, .name = (char *) "Én dag" },
                { .from = { 2026, 12, 24 }, .to = { 2026, 12, 26 }, .name = (char *) "Overlapper" },
        };
        struct calendar_conf conf = office_conf();
        conf.heightened = h;
        conf.n_heightened = ELEMENTSOF(h);
        struct calendar *c = oslo_calendar(&conf);
        NEED_OSLO(c);

        assert_null(calendar_heightened(c, D(2026, 12, 17)));
        assert_ptr_equal(calendar_heightened(c, D(2026, 12, 18)), &h[0]);
        assert_ptr_equal(calendar_heightened(c, D(2026, 12, 24)), &h[0]); /* first in order wins */
        assert_ptr_equal(calendar_heightened(c, D(2027, 1, 1)), &h[0]);
        assert_ptr_equal(calendar_heightened(c, D(2027, 1, 3)), &h[0]);
        assert_null(calendar_heightened(c, D(2027, 1, 4)));
        assert_null(calendar_heightened(c, D(2026, 5, 31)));
        assert_string_equal(calendar_heightened(c, D(2026, 6, 1))->name, "Én dag");
        assert_null(calendar_heightened(c, D(2026, 6, 2)));
        assert_null(calendar_heightened(c, D(2025, 12, 24)));
        calendar_free(c);
}

/* ---- rosters ---- */

static char *abc[] = { (char *) "a", (char *) "b", (char *) "c" };

static struct roster weekly_roster(void) {
        return (struct roster) {
                .id = (char *) "vakt",
                .rotation = ROTATION_WEEKLY,
                .handoff_wday = MON,
                .handoff_min = 8 * 60,
                .start = { 2026, 1, 5 },
                .members = abc,
                .n_members = 3,
        };
}

static void test_roster_weekly(_unused_ void **state) {
        struct calendar_conf conf = office_conf();
        struct calendar *c = oslo_calendar(&conf);
        struct roster r = weekly_roster();
        struct calendar_duty duty;
        NEED_OSLO(c);

        /* Monday 5 January 2026, 08:00 CET = 07:00 UTC: "a" begins. */
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 5, 6, 59)), 2);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 5, 7, 0)), 0);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 12, 6, 59)), 0);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 12, 7, 0)), 1);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 14, 12, 0)), 1);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 18, 23, 0)), 1);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 19, 7, 0)), 2);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 26, 7, 0)), 0);
        /* Monday 30 March, after the spring change: 08:00 CEST = 06:00 UTC; week 12. */
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 3, 30, 5, 59)), 2);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 3, 30, 6, 0)), 0);
        /* Before the start: backwards, never negative. */
        assert_int_equal(calendar_roster_index(c, &r, U(2025, 12, 29, 7, 0)), 2);
        assert_int_equal(calendar_roster_index(c, &r, U(2025, 12, 22, 7, 0)), 1);
        assert_int_equal(calendar_roster_index(c, &r, U(2025, 1, 6, 7, 0)), 2);    /* week -52 */
        assert_int_equal(calendar_roster_index(c, &r, U(2025, 1, 6, 6, 59)), 1);   /* week -53 */
        assert_int_equal(calendar_roster_index(c, &r, U(1971, 1, 4, 12, 0)),
                         (ssize_t) (((calendar_days_from_ymd(D(1971, 1, 4)) - 20458) / 7 % 3 + 3) % 3));

        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 1, 14, 12, 0), NULL, 0, &duty), 0);
        assert_string_equal(duty.person, "b");
        assert_int_equal(duty.index, 1);
        assert_int_equal(duty.scheduled, 1);
        assert_null(duty.override);
        assert_int_equal(duty.shift_start, U(2026, 1, 12, 7, 0));
        assert_int_equal(duty.shift_end, U(2026, 1, 19, 7, 0));
        /* A shift across the spring change is an hour short. */
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 3, 25, 12, 0), NULL, 0, &duty), 0);
        assert_int_equal(duty.shift_start, U(2026, 3, 23, 7, 0));
        assert_int_equal(duty.shift_end, U(2026, 3, 30, 6, 0));
        assert_string_equal(duty.person, "c");

        /* A start that is not a hand-off weekday (Wednesday): its week counts. */
        r.start = D(2026, 1, 7);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 7, 11, 0)), 0);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 5, 7, 0)), 0);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 12, 7, 0)), 1);

        /* Friday 15:00 hand-off. */
        r = weekly_roster();
        r.handoff_wday = FRI;
        r.handoff_min = 15 * 60;
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 9, 13, 59)), 0); /* week of Fri 2 Jan */
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 9, 14, 0)), 1);

        /* Bad rosters. */
        r = weekly_roster();
        r.n_members = 0;
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 9, 0, 0)), -ENOENT);
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 1, 9, 0, 0), NULL, 0, &duty), -ENOENT);
        r = weekly_roster();
        r.handoff_wday = 7;
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 9, 0, 0)), -EINVAL);
        r = weekly_roster();
        r.handoff_min = 24 * 60;
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 9, 0, 0)), -EINVAL);
        r = weekly_roster();
        r.start = D(2026, 2, 30);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 9, 0, 0)), -EINVAL);
        calendar_free(c);
}

static void test_roster_daily(_unused_ void **state) {
        struct calendar_conf conf = office_conf();
        struct calendar *c = oslo_calendar(&conf);
        struct roster r = weekly_roster();
        struct calendar_duty duty;
        NEED_OSLO(c);

        r.rotation = ROTATION_DAILY;
        r.handoff_wday = -1;
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 5, 6, 59)), 2);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 5, 7, 0)), 0);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 6, 8, 0)), 1);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 7, 8, 0)), 2);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 8, 8, 0)), 0);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 4, 11, 0)), 2);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 4, 6, 0)), 1);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 1, 3, 6, 0)), 0);

        /* Saturday 28 March's shift lasts 23 hours (the clock springs forward). */
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 3, 28, 12, 0), NULL, 0, &duty), 0);
        assert_int_equal(duty.shift_start, U(2026, 3, 28, 7, 0));
        assert_int_equal(duty.shift_end, U(2026, 3, 29, 6, 0));
        assert_int_equal(duty.scheduled, (calendar_days_from_ymd(D(2026, 3, 28)) - 20458) % 3);

        /* A 02:30 hand-off on the change days. */
        r.handoff_min = 2 * 60 + 30;
        int64_t k = calendar_days_from_ymd(D(2026, 3, 29)) - 20458;
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 3, 29, 1, 0) - 1), (k - 1) % 3);
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 3, 29, 1, 0)), k % 3);
        k = calendar_days_from_ymd(D(2026, 10, 25)) - 20458;
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 10, 25, 0, 15)), (k - 1) % 3); /* 02:15 CEST */
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 10, 25, 0, 30)), k % 3);       /* 02:30 CEST */
        assert_int_equal(calendar_roster_index(c, &r, U(2026, 10, 25, 1, 15)), k % 3);       /* 02:15 CET */
        calendar_free(c);
}

static void test_roster_overrides(_unused_ void **state) {
        struct calendar_conf conf = office_conf();
        struct calendar *c = oslo_calendar(&conf);
        struct roster r = weekly_roster();
        struct calendar_duty duty;
        NEED_OSLO(c);

        struct calendar_override ov[] = {
                { .roster = "vakt", .from = U(2026, 1, 12, 7, 0), .to = U(2026, 1, 19, 7, 0), .person = "dora" },
                { .roster = "annen", .from = U(2026, 1, 1, 0, 0), .to = U(2026, 2, 1, 0, 0), .person = "x" },
                { .roster = "vakt", .from = U(2026, 1, 14, 0, 0), .to = U(2026, 1, 15, 0, 0), .person = "a" },
        };

        /* Week of "b", taken over by "dora" (not a member). */
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 1, 13, 12, 0), ov, 3, &duty), 0);
        assert_string_equal(duty.person, "dora");
        assert_int_equal(duty.index, -1);
        assert_int_equal(duty.scheduled, 1);
        assert_ptr_equal(duty.override, &ov[0]);
        /* The later-added one-day swap wins over the week. */
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 1, 14, 12, 0), ov, 3, &duty), 0);
        assert_string_equal(duty.person, "a");
        assert_int_equal(duty.index, 0);
        assert_int_equal(duty.scheduled, 1);
        assert_ptr_equal(duty.override, &ov[2]);
        /* Ends are exclusive, starts inclusive. */
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 1, 15, 0, 0), ov, 3, &duty), 0);
        assert_string_equal(duty.person, "dora");
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 1, 19, 7, 0), ov, 3, &duty), 0);
        assert_string_equal(duty.person, "c");
        assert_null(duty.override);
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 1, 12, 7, 0) - 1, ov, 3, &duty), 0);
        assert_string_equal(duty.person, "a");
        assert_null(duty.override);
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 1, 12, 7, 0), ov, 3, &duty), 0);
        assert_string_equal(duty.person, "dora");
        /* Order decides, not span: with the week added last, it wins. */
        struct calendar_override rev[] = { ov[2], ov[1], ov[0] };
        assert_int_equal(calendar_roster_on_duty(c, &r, U(2026, 1, 14, 12, 0), rev, 3, &duty), 0);
        assert_string_equal(duty.person, "dora");
        assert_ptr_equal(duty.override, &rev[2]);
        /* Another roster's override is ignored. */
        struct roster other = weekly_roster();
        other.id = (char *) "tredje";
        assert_int_equal(calendar_roster_on_duty(c, &other, U(2026, 1, 14, 12, 0), ov, 3, &duty), 0);
        assert_string_equal(duty.person, "b");
        assert_null(duty.override);
        calendar_free(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_civil),
                cmocka_unit_test(test_easter),
                cmocka_unit_test(test_holidays_2026),
                cmocka_unit_test(test_holidays_2025_2030),
                cmocka_unit_test(test_oslo_spring),
                cmocka_unit_test(test_oslo_autumn),
                cmocka_unit_test(test_oslo_footer),
                cmocka_unit_test(test_libc_oslo),
                cmocka_unit_test(test_libc_zones),
                cmocka_unit_test(test_posix),
                cmocka_unit_test(test_tzif_slim),
                cmocka_unit_test(test_tzif_load),
                cmocka_unit_test(test_tzif_robust),
                cmocka_unit_test(test_office_weekdays),
                cmocka_unit_test(test_office_dst_sunday),
                cmocka_unit_test(test_next_office_start),
                cmocka_unit_test(test_heightened),
                cmocka_unit_test(test_roster_weekly),
                cmocka_unit_test(test_roster_daily),
                cmocka_unit_test(test_roster_overrides),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
