/* test_seen.c - the replay seen-set (seen.c) on a real spool: durable
 * across a reopen, a torn last line dropped, expiry, forget, the bound. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
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
#include <unistd.h>

#include "macro.h"
#include "seen.h"
#include "store.h"
#include "test.h"

#define SEC ((uint64_t) 1000000)
#define DAY (24 * 3600 * SEC)
#define T0 (1700000000 * SEC)

struct fixture {
        char dir[128];
        struct store *st;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        char root[200];
        assert_non_null(f);
        test_dir_make(f->dir, "test_seen");
        snprintf(root, sizeof(root), "%s/spool", f->dir);
        assert_int_equal(store_open(root, &f->st, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        store_free(f->st);
        assert_int_equal(test_dir_remove(f->dir), 0);
        free(f);
        return 0;
}

static char *file_text(struct fixture *f) {
        char *data = NULL;
        size_t len;
        assert_int_equal(store_read(f->st, STORE_ACTIVATIONS, SEEN_FILE, 1 << 20, &data, &len), 0);
        return data;
}

static void test_add_reopen(void **state) {
        struct fixture *f = *state;
        struct seen *s;

        assert_int_equal(seen_open(f->st, STORE_ACTIVATIONS, SEEN_FILE, 30 * DAY, T0, &s), 0);
        assert_false(seen_has(s, "sms-main", "SM1"));
        assert_int_equal(seen_add(s, "sms-main", "SM1", T0), 0);
        assert_int_equal(seen_add(s, "sms-main", "SM1", T0 + SEC), 1);
        /* per gateway: the same id through another gateway is another message */
        assert_int_equal(seen_add(s, "sms-lm", "SM1", T0), 0);
        assert_int_equal(seen_add(s, "sms-main", "bad id", T0), -EINVAL);
        assert_int_equal(seen_add(s, "sms-main", "", T0), -EINVAL);
        assert_int_equal(seen_count(s), 2);
        seen_free(s);

        /* on disk before seen_add() returned: a reopen (a crash) keeps it */
        assert_int_equal(seen_open(f->st, STORE_ACTIVATIONS, SEEN_FILE, 30 * DAY, T0 + DAY, &s), 0);
        assert_true(seen_has(s, "sms-main", "SM1"));
        assert_true(seen_has(s, "sms-lm", "SM1"));
        assert_int_equal(seen_add(s, "sms-main", "SM1", T0 + DAY), 1);
        seen_free(s);
}

static void test_torn_and_junk(void **state) {
        struct fixture *f = *state;
        struct seen *s;
        const char *data = "1700000000 gw A\njunk\n1700000000 gw\nx gw B\n1700000001 gw C\n1700000002 gw D";

        assert_int_equal(store_write_atomic(f->st, STORE_ACTIVATIONS, SEEN_FILE, data, strlen(data)), 0);
        assert_int_equal(seen_open(f->st, STORE_ACTIVATIONS, SEEN_FILE, 30 * DAY, T0, &s), 0);
        assert_true(seen_has(s, "gw", "A"));
        assert_false(seen_has(s, "gw", "B"));
        assert_true(seen_has(s, "gw", "C"));
        assert_false(seen_has(s, "gw", "D")); /* torn: no '\n' */
        assert_int_equal(seen_count(s), 2);
        seen_free(s);
        /* compacted: only the good lines remain */
        char *text = file_text(f);
        assert_string_equal(text, "1700000000 gw A\n1700000001 gw C\n");
        free(text);
}

static void test_expiry_and_forget(void **state) {
        struct fixture *f = *state;
        struct seen *s;

        assert_int_equal(seen_open(f->st, STORE_ACTIVATIONS, SEEN_FILE, 30 * DAY, T0, &s), 0);
        assert_int_equal(seen_add(s, "gw", "old", T0), 0);
        assert_int_equal(seen_add(s, "gw", "new", T0 + 20 * DAY), 0);
        assert_int_equal(seen_add(s, "gw", "gone", T0 + 20 * DAY), 0);
        seen_forget(s, "gw", "gone");
        assert_false(seen_has(s, "gw", "gone"));
        seen_free(s);

        assert_int_equal(seen_open(f->st, STORE_ACTIVATIONS, SEEN_FILE, 30 * DAY, T0 + 31 * DAY, &s), 0);
        assert_false(seen_has(s, "gw", "old")); /* past the retention */
        assert_true(seen_has(s, "gw", "new"));
        assert_false(seen_has(s, "gw", "gone")); /* forgotten, durably */
        assert_int_equal(seen_add(s, "gw", "gone", T0 + 31 * DAY), 0);
        assert_int_equal(seen_count(s), 2);
        seen_free(s);
}

static void test_bounded(void **state) {
        struct fixture *f = *state;
        struct seen *s;
        char id[32];

        assert_int_equal(seen_open(f->st, STORE_ACTIVATIONS, SEEN_FILE, 30 * DAY, T0, &s), 0);
        seen_set_max(s, 200);
        for (unsigned i = 0; i < 210; i++) {
                snprintf(id, sizeof(id), "id%u", i);
                assert_int_equal(seen_add(s, "gw", id, T0 + i), 0);
        }
        assert_true(seen_count(s) <= 200);
        assert_true(seen_has(s, "gw", "id209"));
        assert_false(seen_has(s, "gw", "id0"));
        seen_free(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_add_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_torn_and_junk, setup, teardown),
                cmocka_unit_test_setup_teardown(test_expiry_and_forget, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
