/* test_strmap.c - the string-to-index map behind the large lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strmap.h"

static void test_empty(void **state) {
        struct strmap m = {};
        size_t v = 7;
        (void) state;
        assert_false(strmap_get(&m, "kari", &v));
        assert_int_equal(v, 7);
        assert_false(strmap_get(&m, NULL, NULL));
        strmap_clear(&m);
}

static void test_put_get_replace(void **state) {
        struct strmap m = {};
        size_t v;
        (void) state;
        assert_int_equal(strmap_put(&m, "kari", 1), 0);
        assert_int_equal(strmap_put(&m, "ola", 2), 0);
        assert_int_equal(strmap_put(&m, "", 3), 0);
        assert_true(strmap_get(&m, "kari", &v));
        assert_int_equal(v, 1);
        assert_true(strmap_get(&m, "", &v));
        assert_int_equal(v, 3);
        assert_false(strmap_get(&m, "Kari", NULL));
        assert_int_equal(strmap_put(&m, "kari", 9), 0); /* replaces */
        assert_true(strmap_get(&m, "kari", &v));
        assert_int_equal(v, 9);
        assert_int_equal(m.n, 3);
        strmap_clear(&m);
        assert_false(strmap_get(&m, "kari", NULL));
        assert_int_equal(m.n, 0);
}

/* 100,000 keys through many growths: every one found with its own value,
 * and the table never more than half full. */
static void test_many(void **state) {
        enum { N = 100000 };
        struct strmap m = {};
        char (*keys)[16] = calloc(N, sizeof(*keys));
        size_t v;
        (void) state;
        assert_non_null(keys);
        for (size_t i = 0; i < N; i++) {
                snprintf(keys[i], sizeof(keys[i]), "p%zu", i);
                assert_int_equal(strmap_put(&m, keys[i], i), 0);
                assert_true(m.n * 2 <= m.cap);
        }
        assert_int_equal(m.n, N);
        for (size_t i = 0; i < N; i++) {
                assert_true(strmap_get(&m, keys[i], &v));
                assert_int_equal(v, i);
        }
        assert_false(strmap_get(&m, "p100000", NULL));
        assert_false(strmap_get(&m, "p", NULL));
        strmap_clear(&m);
        free(keys);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_put_get_replace),
                cmocka_unit_test(test_many),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
