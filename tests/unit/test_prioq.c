/* test_prioq.c - the min-heap of 32-bit ids behind the follow-up timer
 * (daemon/prioq.c): order, removal from anywhere, a changed key, loading
 * many out of order, and each id's position kept right throughout. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prioq.h"

/* The caller's side: a key and a position per id, as struct fu_entry. */
struct item {
        uint64_t key;
        uint32_t pos;
};

static uint64_t item_key(const void *ctx, uint32_t id) {
        return ((const struct item *) ctx)[id].key;
}

static uint32_t *item_pos(void *ctx, uint32_t id) {
        return &((struct item *) ctx)[id].pos;
}

static const struct prioq_ops ops = { .key = item_key, .idx = item_pos };

/* Every queued id sits where its position says, no parent above a child. */
static void check(const struct prioq *q, const struct item *it) {
        for (uint32_t p = 0; p < q->n; p++) {
                assert_int_equal(it[q->v[p]].pos, p);
                if (p > 0)
                        assert_true(it[q->v[(p - 1) / 2]].key <= it[q->v[p]].key);
        }
}

static uint64_t rnd(uint64_t *s) { /* xorshift64: the same run each time */
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static void test_empty(void **state) {
        struct item it[1] = { { .key = 1, .pos = PRIOQ_NIL } };
        struct prioq q = { .ops = &ops, .ctx = it };
        (void) state;
        assert_int_equal(prioq_peek(&q), PRIOQ_NIL);
        prioq_remove(&q, 0); /* not queued: nothing */
        assert_int_equal(it[0].pos, PRIOQ_NIL);
        prioq_heapify(&q);
        assert_int_equal(prioq_put(&q, 0), 0);
        assert_int_equal(q.cap, 1024); /* the first room */
        assert_int_equal(prioq_peek(&q), 0);
        assert_int_equal(it[0].pos, 0);
        prioq_remove(&q, 0);
        assert_int_equal(it[0].pos, PRIOQ_NIL);
        assert_int_equal(prioq_peek(&q), PRIOQ_NIL);
        prioq_clear(&q);
        assert_int_equal(q.n, 0);
}

/* Puts in random order come out sorted. */
static void test_order(void **state) {
        enum { N = 5000 };
        struct item *it = calloc(N, sizeof(*it));
        struct prioq q = { .ops = &ops, .ctx = it };
        uint64_t s = 88172645463325252ULL, last = 0;
        (void) state;
        assert_non_null(it);
        for (uint32_t i = 0; i < N; i++) {
                it[i] = (struct item) { .key = rnd(&s) % 1000, .pos = PRIOQ_NIL };
                assert_int_equal(prioq_put(&q, i), 0);
        }
        check(&q, it);
        assert_true(q.cap >= N);
        for (uint32_t k = 0; k < N; k++) {
                uint32_t id = prioq_peek(&q);
                assert_int_not_equal(id, PRIOQ_NIL);
                assert_true(it[id].key >= last);
                last = it[id].key;
                prioq_remove(&q, id);
                assert_int_equal(it[id].pos, PRIOQ_NIL);
        }
        assert_int_equal(prioq_peek(&q), PRIOQ_NIL);
        prioq_clear(&q);
        free(it);
}

/* Removal from the middle, changed keys (up and down) and appends with one
 * heapify keep the heap whole. */
static void test_remove_reshuffle_append(void **state) {
        enum { N = 3000 };
        struct item *it = calloc(N, sizeof(*it));
        struct prioq q = { .ops = &ops, .ctx = it };
        uint64_t s = 1234567;
        (void) state;
        assert_non_null(it);
        assert_int_equal(prioq_reserve(&q, N), 0);
        for (uint32_t i = 0; i < N; i++) {
                it[i] = (struct item) { .key = rnd(&s) % 100000, .pos = PRIOQ_NIL };
                prioq_append(&q, i);
        }
        prioq_heapify(&q);
        check(&q, it);
        for (uint32_t i = 0; i < N; i += 7) { /* out from anywhere */
                prioq_remove(&q, i);
                assert_int_equal(it[i].pos, PRIOQ_NIL);
        }
        check(&q, it);
        for (uint32_t i = 1; i < N; i += 5) { /* new keys, sooner and later */
                if (it[i].pos == PRIOQ_NIL)
                        continue;
                it[i].key = i % 2 ? it[i].key / 3 : it[i].key * 3 + 7;
                prioq_reshuffle(&q, i);
        }
        check(&q, it);
        it[N - 1].key = 0; /* to the front */
        if (it[N - 1].pos == PRIOQ_NIL)
                assert_int_equal(prioq_put(&q, N - 1), 0);
        else
                prioq_reshuffle(&q, N - 1);
        assert_int_equal(it[prioq_peek(&q)].key, 0);
        check(&q, it);
        uint64_t last = 0;
        uint32_t n = q.n;
        for (uint32_t k = 0; k < n; k++) {
                uint32_t id = prioq_peek(&q);
                assert_true(it[id].key >= last);
                last = it[id].key;
                prioq_remove(&q, id);
        }
        assert_int_equal(q.n, 0);
        prioq_clear(&q);
        free(it);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_remove_reshuffle_append),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
