/* SPDX-License-Identifier: GPL-3.0-or-later */
/* prioq.c - the min-heap of 32-bit ids of prioq.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "prioq.h"

static bool less(const struct prioq *q, uint32_t a, uint32_t b) {
        return q->ops->key(q->ctx, q->v[a]) < q->ops->key(q->ctx, q->v[b]);
}

static void swap(struct prioq *q, uint32_t a, uint32_t b) {
        uint32_t t = q->v[a];
        q->v[a] = q->v[b];
        q->v[b] = t;
        *q->ops->idx(q->ctx, q->v[a]) = a;
        *q->ops->idx(q->ctx, q->v[b]) = b;
}

static void up(struct prioq *q, uint32_t p) {
        while (p > 0 && less(q, p, (p - 1) / 2)) {
                swap(q, p, (p - 1) / 2);
                p = (p - 1) / 2;
        }
}

static void down(struct prioq *q, uint32_t p) {
        for (;;) {
                uint32_t l = 2 * p + 1, r = l + 1, m = p;
                if (l < q->n && less(q, l, m))
                        m = l;
                if (r < q->n && less(q, r, m))
                        m = r;
                if (m == p)
                        return;
                swap(q, p, m);
                p = m;
        }
}

int prioq_reserve(struct prioq *q, uint32_t n) {
        if (n <= q->cap)
                return 0;
        uint32_t cap = q->cap ? q->cap : 1024;
        while (cap < n) {
                if (cap > UINT32_MAX / 2)
                        return -ENOMEM;
                cap *= 2;
        }
        uint32_t *v = realloc(q->v, (size_t) cap * sizeof(uint32_t));
        if (!v)
                return -ENOMEM;
        q->v = v;
        q->cap = cap;
        return 0;
}

void prioq_append(struct prioq *q, uint32_t id) {
        *q->ops->idx(q->ctx, id) = q->n;
        q->v[q->n++] = id;
}

int prioq_put(struct prioq *q, uint32_t id) {
        if (prioq_reserve(q, q->n + 1) < 0)
                return -ENOMEM;
        prioq_append(q, id);
        up(q, q->n - 1);
        return 0;
}

void prioq_heapify(struct prioq *q) {
        for (uint32_t p = q->n / 2; p-- > 0;)
                down(q, p);
}

void prioq_remove(struct prioq *q, uint32_t id) {
        uint32_t *idx = q->ops->idx(q->ctx, id), p = *idx;
        if (p == PRIOQ_NIL)
                return;
        *idx = PRIOQ_NIL;
        if (--q->n == p)
                return;
        uint32_t moved = q->v[q->n];
        q->v[p] = moved;
        *q->ops->idx(q->ctx, moved) = p;
        up(q, p);
        down(q, *q->ops->idx(q->ctx, moved));
}

void prioq_reshuffle(struct prioq *q, uint32_t id) {
        up(q, *q->ops->idx(q->ctx, id));
        down(q, *q->ops->idx(q->ctx, id));
}

void prioq_clear(struct prioq *q) {
        free(q->v);
        q->v = NULL;
        q->n = q->cap = 0;
}
