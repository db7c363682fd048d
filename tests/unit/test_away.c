/* test_away.c - absences: the SMS date forms (BORTE/AWAY/TILBAKE, with and
 * without a year, ranges across New Year, en dashes, garbage) with a fake
 * "today", and the absence store (durable in the spool across a reopen,
 * iteration over a range, TILBAKE, cancel, the retention purge). */
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
#include <string.h>

#include "absence.h"
#include "away-parse.h"
#include "store.h"
#include "test.h"

static const struct ymd DEC2 = { 2026, 12, 2 };

static enum away_text_kind P(const char *s, struct ymd today, struct away_text *t) {
        return away_text_parse(s, strlen(s), today, t);
}

#define assert_ymd(x, Y, M, D)                       \
        do {                                         \
                assert_int_equal((x).y, (Y));        \
                assert_int_equal((x).m, (M));        \
                assert_int_equal((x).d, (D));        \
        } while (0)

static void test_range_without_year(void **state) {
        struct away_text t;
        assert_int_equal(P("BORTE 24.12-27.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_false(t.en);
        assert_false(t.from_now);
        assert_ymd(t.from, 2026, 12, 24);
        assert_ymd(t.to, 2026, 12, 27);
        /* Spaces, lower case, an en dash, "til", a trailing full stop. */
        assert_int_equal(P("  borte  24.12 \xe2\x80\x93 27.12. ", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.to, 2026, 12, 27);
        assert_int_equal(P("Borte 24.12 til 27.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 24);
        assert_int_equal(P("BORTE fra 24.12 til 27.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.to, 2026, 12, 27);
        assert_int_equal(P("borte 24/12-27/12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.to, 2026, 12, 27);
        assert_int_equal(P("BORTE\xc2\xa0" "24.12\xe2\x80\x94" "27.12", DEC2, &t), AWAY_TEXT_AWAY);
}

static void test_across_new_year(void **state) {
        struct away_text t;
        /* The end before the start: next January. */
        assert_int_equal(P("BORTE 28.12-2.1", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 28);
        assert_ymd(t.to, 2027, 1, 2);
        /* A date without a year in December: next January. */
        assert_int_equal(P("BORTE 2.1", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2027, 1, 2);
        assert_ymd(t.to, 2027, 1, 2);
        /* With years, both. */
        assert_int_equal(P("BORTE 24.12.2026-2.1.2027", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 24);
        assert_ymd(t.to, 2027, 1, 2);
        /* A year on the end only: the start is the one before it. */
        assert_int_equal(P("BORTE 24.12-2.1.2027", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 24);
        assert_ymd(t.to, 2027, 1, 2);
        /* The same day and month with a year on the end: a year from the
         * start that has passed (yesterday), so from today. */
        assert_int_equal(P("BORTE fra 1.12 til 1.12.2027", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 2);
        assert_ymd(t.to, 2027, 12, 1);
        assert_int_equal(P("BORTE 2.12-2.12.2027", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 2);
        assert_ymd(t.to, 2027, 12, 2);
        /* Without a year on either, the same day twice is that one day. */
        assert_int_equal(P("BORTE 24.12-24.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 24);
        assert_ymd(t.to, 2026, 12, 24);
        /* Two-digit years. */
        assert_int_equal(P("BORTE 24.12.26-2.1.27", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.to, 2027, 1, 2);
        /* Seen from January, "24.12" is next Christmas. */
        assert_int_equal(P("BORTE 24.12", (struct ymd) { 2027, 1, 5 }, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2027, 12, 24);
}

static void test_single_day_and_until(void **state) {
        struct away_text t;
        assert_int_equal(P("BORTE 24.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 24);
        assert_ymd(t.to, 2026, 12, 24);
        /* Today is the next 2.12. */
        assert_int_equal(P("BORTE 2.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 2);
        assert_int_equal(P("BORTE TIL 2.1", DEC2, &t), AWAY_TEXT_AWAY);
        assert_true(t.from_now);
        assert_ymd(t.from, 2026, 12, 2);
        assert_ymd(t.to, 2027, 1, 2);
        assert_int_equal(P("borte til: 6.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.to, 2026, 12, 6);
        /* A range that began and goes on: from today, not next year. */
        assert_int_equal(P("BORTE 1.12-3.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2026, 12, 2);
        assert_ymd(t.to, 2026, 12, 3);
        /* 29.2: the next leap year's, 2028: more than a year ahead, refused. */
        assert_int_equal(P("BORTE 29.2", DEC2, &t), AWAY_TEXT_TOO_FAR);
        assert_int_equal(P("BORTE 29.2", ((struct ymd) { 2027, 12, 2 }), &t), AWAY_TEXT_AWAY);
        assert_ymd(t.from, 2028, 2, 29);
}

static void test_english(void **state) {
        struct away_text t;
        assert_int_equal(P("AWAY 24.12-27.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_true(t.en);
        assert_ymd(t.to, 2026, 12, 27);
        assert_int_equal(P("away until 2.1", DEC2, &t), AWAY_TEXT_AWAY);
        assert_true(t.from_now);
        assert_ymd(t.to, 2027, 1, 2);
        assert_int_equal(P("Away 24.12 to 27.12", DEC2, &t), AWAY_TEXT_AWAY);
        assert_ymd(t.to, 2026, 12, 27);
        assert_int_equal(P("BACK", DEC2, &t), AWAY_TEXT_BACK);
        assert_true(t.en);
        assert_int_equal(P("back!", DEC2, &t), AWAY_TEXT_BACK);
}

static void test_back(void **state) {
        struct away_text t;
        assert_int_equal(P("TILBAKE", DEC2, &t), AWAY_TEXT_BACK);
        assert_false(t.en);
        assert_int_equal(P(" tilbake. ", DEC2, &t), AWAY_TEXT_BACK);
        assert_int_equal(P("tilbake i morgen", DEC2, &t), AWAY_TEXT_BACK_EXTRA);
        assert_int_equal(P("TILBAKE JA 1748", DEC2, &t), AWAY_TEXT_BACK_EXTRA);
        assert_false(t.en);
        assert_int_equal(P("back yes 1748", DEC2, &t), AWAY_TEXT_BACK_EXTRA);
        assert_true(t.en);
}

static void test_garbage(void **state) {
        struct away_text t;
        /* Not absence texts at all: answers go their own way. */
        assert_int_equal(P("JA 4821", DEC2, &t), AWAY_TEXT_NONE);
        assert_int_equal(P("OK", DEC2, &t), AWAY_TEXT_NONE);
        assert_int_equal(P("", DEC2, &t), AWAY_TEXT_NONE);
        assert_int_equal(P("bortebane", DEC2, &t), AWAY_TEXT_NONE);
        assert_int_equal(P("tilbakemelding", DEC2, &t), AWAY_TEXT_NONE);
        assert_int_equal(P("blåbær", DEC2, &t), AWAY_TEXT_NONE);
        /* BORTE with a bad date: the help text. */
        assert_int_equal(P("BORTE", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE i jula", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 32.12", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 24.13", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 31.4", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 24.12-", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 24.12-27.12 og 30.12", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 24.12.202", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 2412", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 24.12.2027-2.1.2027", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 24.12 \xe2\x9c\x88", DEC2, &t), AWAY_TEXT_NONE); /* ✈: not ours */
        assert_int_equal(P("BORTE 24.12\xff", DEC2, &t), AWAY_TEXT_NONE);
        /* Over, or too long. */
        assert_int_equal(P("BORTE 1.12.2026", DEC2, &t), AWAY_TEXT_PAST);
        assert_int_equal(P("BORTE 1.11.2026-1.12.2026", DEC2, &t), AWAY_TEXT_PAST);
        assert_int_equal(P("BORTE 3.12.2026-3.12.2028", DEC2, &t), AWAY_TEXT_TOO_LONG);
        /* A year guessed far into the next one is asked for (a reversed
         * range, yesterday's date): not a silent year away. */
        assert_int_equal(P("BORTE 2.12-1.12", DEC2, &t), AWAY_TEXT_NEEDS_YEAR);
        assert_true(t.to.y == 2027 && t.to.m == 12 && t.to.d == 1);
        assert_int_equal(P("BORTE TIL 1.12", DEC2, &t), AWAY_TEXT_NEEDS_YEAR);
        assert_int_equal(P("BORTE 1.12", DEC2, &t), AWAY_TEXT_NEEDS_YEAR);
        assert_int_equal(P("BORTE 2.12-1.12.2027", DEC2, &t), AWAY_TEXT_AWAY); /* a year written: as written */
        assert_int_equal(P("BORTE 18.12-3.1", DEC2, &t), AWAY_TEXT_AWAY);      /* over New Year: fine */
        assert_int_equal(P("BORTE 10.2-20.2", DEC2, &t), AWAY_TEXT_AWAY);      /* winter holiday ahead */
        /* Years: "0000" is no year, a start more than a year ahead is refused. */
        assert_int_equal(P("BORTE 1.1.0000", DEC2, &t), AWAY_TEXT_BAD_DATE);
        assert_int_equal(P("BORTE 1.1.9999", DEC2, &t), AWAY_TEXT_TOO_FAR);
        assert_int_equal(P("BORTE 5.12.2027-6.12.2027", DEC2, &t), AWAY_TEXT_TOO_FAR);
}

/* ---- the store ---- */

static void test_store_durable(void **state) {
        char root[256];
        struct store *st;
        struct absences *a;
        const struct absence *x;
        unsigned broken = 9;
        const uint64_t now = U(2026, 12, 2, 10, 0);
        test_dir_make(root, "test_away");
        assert_int_equal(store_open(root, &st, NULL), 0);
        assert_int_equal(absences_new(st, &a, &broken), 0);
        assert_int_equal(broken, 0);
        assert_int_equal(absences_add(a, "kari", U(2026, 12, 23, 23, 0), U(2026, 12, 27, 23, 0), "hytta på Røros", "sms",
                                      now, &x),
                         0);
        char id[ABSENCE_ID_LEN + 1];
        snprintf(id, sizeof(id), "%s", x->id);
        assert_int_equal(strlen(id), ABSENCE_ID_LEN);
        assert_int_equal(absences_add(a, "ola", U(2026, 12, 20, 0, 0), U(2026, 12, 21, 0, 0), NULL, "socket", now, NULL), 0);
        assert_int_equal(absences_add(a, "ola", U(2027, 1, 1, 0, 0), U(2026, 12, 31, 0, 0), NULL, "socket", now, NULL),
                         -EINVAL);
        assert_int_equal(absences_add(a, "ola", U(2027, 1, 1, 0, 0), U(2028, 1, 3, 0, 0), NULL, "socket", now, NULL),
                         -EINVAL);
        absences_free(a);

        /* Reopened: the same, in order of start. */
        assert_int_equal(absences_new(st, &a, &broken), 0);
        assert_int_equal(absences_count(a), 2);
        x = absences_find(a, id);
        assert_non_null(x);
        assert_string_equal(x->person, "kari");
        assert_string_equal(x->note, "hytta på Røros");
        assert_string_equal(x->source, "sms");
        assert_true(absences_away_at(a, "kari", U(2026, 12, 24, 12, 0)));
        assert_false(absences_away_at(a, "kari", U(2026, 12, 27, 23, 0))); /* to is exclusive */
        assert_false(absences_away_at(a, "ola", U(2026, 12, 24, 12, 0)));
        assert_int_equal(absences_active(a, U(2026, 12, 20, 12, 0)), 1);

        /* Who is away on 20-25 December: ola's first, then kari's. */
        size_t it = 0;
        x = absences_next(a, NULL, U(2026, 12, 20, 0, 0), U(2026, 12, 25, 0, 0), &it);
        assert_non_null(x);
        assert_string_equal(x->person, "ola");
        x = absences_next(a, NULL, U(2026, 12, 20, 0, 0), U(2026, 12, 25, 0, 0), &it);
        assert_non_null(x);
        assert_string_equal(x->person, "kari");
        assert_null(absences_next(a, NULL, U(2026, 12, 20, 0, 0), U(2026, 12, 25, 0, 0), &it));
        it = 0;
        assert_null(absences_next(a, "per", 0, UINT64_MAX, &it));

        /* TILBAKE on the 25th ends kari's at once, durably. */
        assert_int_equal(absences_end_now(a, "kari", U(2026, 12, 25, 9, 0)), 1);
        assert_int_equal(absences_end_now(a, "kari", U(2026, 12, 25, 9, 5)), 0);
        absences_free(a);
        assert_int_equal(absences_new(st, &a, NULL), 0);
        x = absences_find(a, id);
        assert_non_null(x);
        assert_int_equal(x->to, U(2026, 12, 25, 9, 0));
        assert_false(absences_away_at(a, "kari", U(2026, 12, 25, 10, 0)));

        /* The purge on 22 January with 30 days' retention (before 23
         * December): ola's (over on the 21st) goes, kari's stays. */
        unsigned n = 9;
        assert_int_equal(absences_purge(a, U(2026, 12, 23, 0, 0), &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(absences_count(a), 1);
        assert_int_equal(absences_cancel(a, id), 0);
        assert_int_equal(absences_cancel(a, id), -ENOENT);
        absences_free(a);
        assert_int_equal(absences_new(st, &a, NULL), 0);
        assert_int_equal(absences_count(a), 0);
        absences_free(a);

        /* A broken file is counted and kept, never taken. */
        assert_int_equal(store_write_atomic(st, STORE_ABSENCES, "abcdefgh.json", "{nope", 5), 0);
        assert_int_equal(absences_new(st, &a, &broken), 0);
        assert_int_equal(broken, 1);
        assert_int_equal(absences_count(a), 0);
        absences_free(a);
        store_free(st);
        assert_int_equal(test_dir_remove(root), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_range_without_year),
                cmocka_unit_test(test_across_new_year),
                cmocka_unit_test(test_single_day_and_until),
                cmocka_unit_test(test_english),
                cmocka_unit_test(test_back),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_store_durable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
