/* test_time_util.c - the leaf below config, command and calendar: date rules,
 * the formatters, the name-table lookup and the test time offset. (Durations
 * and dates are parsed in test_config.c, id_is_safe in test_command.c.) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "macro.h"
#include "time-util.h"

static void test_dates(void **state) {
        (void) state;
        assert_true(ymd_is_leap(2024));
        assert_true(ymd_is_leap(2000));
        assert_false(ymd_is_leap(1900));
        assert_false(ymd_is_leap(2026));
        assert_int_equal(ymd_days_in_month(2024, 2), 29);
        assert_int_equal(ymd_days_in_month(2026, 2), 28);
        assert_int_equal(ymd_days_in_month(2026, 12), 31);
        assert_int_equal(ymd_days_in_month(2026, 0), 0);
        assert_int_equal(ymd_days_in_month(2026, 13), 0);
        assert_true(ymd_valid((struct ymd) { 2028, 2, 29 }));
        assert_false(ymd_valid((struct ymd) { 2027, 2, 29 }));
        assert_false(ymd_valid((struct ymd) { 2026, 4, 31 }));
        assert_false(ymd_valid((struct ymd) { 2026, 1, 0 }));
        assert_true(ymd_cmp((struct ymd) { 2026, 1, 5 }, (struct ymd) { 2026, 1, 6 }) < 0);
        assert_true(ymd_cmp((struct ymd) { 2027, 1, 1 }, (struct ymd) { 2026, 12, 31 }) > 0);
        assert_int_equal(ymd_cmp((struct ymd) { 2026, 5, 17 }, (struct ymd) { 2026, 5, 17 }), 0);
}

static void test_format(void **state) {
        char buf[32];
        (void) state;
        time_format_date((struct ymd) { 2026, 5, 7 }, buf, sizeof buf);
        assert_string_equal(buf, "2026-05-07");
        time_format_date_time((struct ymd) { 2026, 12, 24 }, 8, 5, buf, sizeof buf);
        assert_string_equal(buf, "2026-12-24 08:05");
        time_format_date_time((struct ymd) { 2026, 12, 24 }, 8, 5, buf, 11);
        assert_string_equal(buf, "2026-12-24"); /* cut, still terminated */
}

static void test_string_table(void **state) {
        static const char *const names[] = { "office-hours", "morning" };
        (void) state;
        assert_int_equal(string_table_lookup(names, 2, "office-hours"), 0);
        assert_int_equal(string_table_lookup(names, 2, "morning"), 1);
        assert_int_equal(string_table_lookup(names, 2, "Morning"), -1);
        assert_int_equal(string_table_lookup(names, 2, ""), -1);
        assert_int_equal(string_table_lookup(names, 2, NULL), -1);
        assert_int_equal(string_table_lookup(names, 0, "morning"), -1);
}

static void test_offset(void **state) {
        (void) state;
        /* Read once, at the first call: set it before. */
        setenv("BEREDD_TEST_TIME_OFFSET", "3600", 1);
        assert_int_equal(time_offset(), (int64_t) 3600 * (int64_t) USEC_PER_SEC);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t real = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
        uint64_t now = beredd_now();
        assert_true(now >= real + 3600 * USEC_PER_SEC);
        assert_true(now < real + 3610 * USEC_PER_SEC);
        setenv("BEREDD_TEST_TIME_OFFSET", "0", 1);
        assert_int_equal(time_offset(), (int64_t) 3600 * (int64_t) USEC_PER_SEC);
}

static void test_env_msec(void **state) {
        (void) state;
        uint64_t v = 7;

        unsetenv("BEREDD_TEST_MS");
        assert_int_equal(env_msec("BEREDD_TEST_MS", &v), 0);
        assert_int_equal(v, 7);
        setenv("BEREDD_TEST_MS", "", 1);
        assert_int_equal(env_msec("BEREDD_TEST_MS", &v), 0);
        setenv("BEREDD_TEST_MS", "250", 1);
        assert_int_equal(env_msec("BEREDD_TEST_MS", &v), 1);
        assert_int_equal(v, 250000);
        setenv("BEREDD_TEST_MS", "3600000", 1);
        assert_int_equal(env_msec("BEREDD_TEST_MS", &v), 1);
        assert_int_equal(v, 3600000000ULL);
        static const char *const bad[] = { "3600001", "-5", "12ms", "x", "99999999999999999999999" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                v = 7;
                setenv("BEREDD_TEST_MS", bad[i], 1);
                assert_int_equal(env_msec("BEREDD_TEST_MS", &v), -EINVAL);
                assert_int_equal(v, 7);
        }
        unsetenv("BEREDD_TEST_MS");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dates),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_string_table),
                cmocka_unit_test(test_offset),
                cmocka_unit_test(test_env_msec),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
