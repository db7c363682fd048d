/* test_strmap.c - the string-to-index maps behind the large lists: strmap
 * and its compact form strmap32 (the follow-up case index). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* Removal keeps every other key findable, also across wrapped probe runs:
 * remove every third of many keys, then look all of them up, then put the
 * removed ones back. */
static void test_remove(void **state) {
        enum { N = 20000 };
        struct strmap m = {};
        char (*keys)[16] = calloc(N, sizeof(*keys));
        size_t v;
        (void) state;
        assert_non_null(keys);
        assert_false(strmap_remove(&m, "kari")); /* empty */
        assert_false(strmap_remove(&m, NULL));
        for (size_t i = 0; i < N; i++) {
                snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
                assert_int_equal(strmap_put(&m, keys[i], i), 0);
        }
        for (size_t i = 0; i < N; i += 3)
                assert_true(strmap_remove(&m, keys[i]));
        assert_false(strmap_remove(&m, keys[0])); /* gone already */
        assert_false(strmap_remove(&m, "nobody"));
        assert_int_equal(m.n, N - (N + 2) / 3);
        for (size_t i = 0; i < N; i++) {
                bool there = strmap_get(&m, keys[i], &v);
                assert_int_equal(there, i % 3 != 0);
                if (there)
                        assert_int_equal(v, i);
        }
        for (size_t i = 0; i < N; i += 3)
                assert_int_equal(strmap_put(&m, keys[i], i + 1), 0);
        assert_int_equal(m.n, N);
        for (size_t i = 0; i < N; i++) {
                assert_true(strmap_get(&m, keys[i], &v));
                assert_int_equal(v, i % 3 ? i : i + 1);
        }
        strmap_clear(&m);
        free(keys);
}

/* The smallest table, half full: whatever a removal shifts back, the keys
 * left are all still found, down to none. */
static void test_remove_wrap(void **state) {
        struct strmap m = {};
        char keys[8][8];
        (void) state;
        for (size_t i = 0; i < 8; i++) {
                snprintf(keys[i], sizeof(keys[i]), "w%zu", i);
                assert_int_equal(strmap_put(&m, keys[i], i), 0); /* 16 slots, half full */
        }
        for (size_t r = 0; r < 8; r++) {
                assert_true(strmap_remove(&m, keys[r]));
                for (size_t i = 0; i < 8; i++)
                        assert_int_equal(strmap_get(&m, keys[i], NULL), i > r);
        }
        assert_int_equal(m.n, 0);
        strmap_clear(&m);
}

/* strmap32: the keys live in the caller's table (here one arena that moves
 * as it grows), the map holds ids. */
struct arena {
        char *p;
        size_t len, cap;
        uint32_t *off; /* id -> offset */
};

static const char *arena_key(const void *ctx, uint32_t id) {
        const struct arena *a = ctx;
        return a->p + a->off[id];
}

static void arena_add(struct arena *a, uint32_t id, const char *s) {
        size_t n = strlen(s) + 1;
        if (a->len + n > a->cap) {
                a->cap = a->cap ? a->cap * 2 : 64;
                while (a->cap < a->len + n)
                        a->cap *= 2;
                a->p = realloc(a->p, a->cap);
                assert_non_null(a->p);
        }
        memcpy(a->p + a->len, s, n);
        a->off[id] = (uint32_t) a->len;
        a->len += n;
}

static void test_map32(void **state) {
        enum { N = 100000 };
        struct arena a = { .off = calloc(N, sizeof(uint32_t)) };
        struct strmap32 m = { .key = arena_key, .ctx = &a };
        uint32_t v = 7;
        char k[16];
        (void) state;
        assert_non_null(a.off);
        assert_false(strmap32_get(&m, "K-1", &v));
        assert_int_equal(v, 7);
        assert_false(strmap32_get(&m, NULL, NULL));
        assert_false(strmap32_remove(&m, "K-1"));
        assert_int_equal(strmap32_reserve(&m, 1), 0);
        assert_int_equal(m.cap, 1024); /* the first table */
        for (uint32_t i = 0; i < N; i++) {
                snprintf(k, sizeof(k), "K-%u", i);
                arena_add(&a, i, k); /* moves the arena now and then */
                assert_int_equal(strmap32_put(&m, i), 0);
                assert_true((uint64_t) m.n * 2 <= m.cap);
        }
        assert_int_equal(m.n, N);
        for (uint32_t i = 0; i < N; i++) {
                snprintf(k, sizeof(k), "K-%u", i);
                assert_true(strmap32_get(&m, k, &v));
                assert_int_equal(v, i);
        }
        assert_false(strmap32_get(&m, "K-", NULL));
        for (uint32_t i = 0; i < N; i += 2) {
                snprintf(k, sizeof(k), "K-%u", i);
                assert_true(strmap32_remove(&m, k));
                assert_false(strmap32_remove(&m, k));
        }
        assert_int_equal(m.n, N / 2);
        for (uint32_t i = 0; i < N; i++) {
                snprintf(k, sizeof(k), "K-%u", i);
                assert_int_equal(strmap32_get(&m, k, &v), i % 2 == 1);
                if (i % 2)
                        assert_int_equal(v, i);
        }
        /* A removed id may come back (a purged case opened again). */
        assert_int_equal(strmap32_put(&m, 0), 0);
        assert_true(strmap32_get(&m, "K-0", &v));
        assert_int_equal(v, 0);
        assert_int_equal(strmap32_put(&m, UINT32_MAX), -ENOMEM); /* not an id */
        strmap32_clear(&m);
        assert_false(strmap32_get(&m, "K-1", NULL));
        assert_int_equal(m.n, 0);
        free(a.p);
        free(a.off);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_put_get_replace),
                cmocka_unit_test(test_many),
                cmocka_unit_test(test_remove),
                cmocka_unit_test(test_remove_wrap),
                cmocka_unit_test(test_map32),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
