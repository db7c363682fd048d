/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* prioq: a binary min-heap of 32-bit ids, in the manner of systemd's
 * prioq.c (prioq_put, prioq_remove, prioq_reshuffle), for a million entries
 * (the follow-up cases by their next action): a slot is the id, 4 bytes.
 * The caller keeps each id's key (a uint64; the smallest comes first) and
 * its position in the heap (a uint32, PRIOQ_NIL while not in it), and hands
 * them out through OPS; after changing the key of a queued id it calls
 * prioq_reshuffle(). Ids of equal keys come out in no particular order. */

#include <stdint.h>

#define PRIOQ_NIL UINT32_MAX

struct prioq_ops {
        uint64_t (*key)(const void *ctx, uint32_t id);
        uint32_t *(*idx)(void *ctx, uint32_t id);
};

struct prioq {
        uint32_t *v;
        uint32_t n, cap;
        const struct prioq_ops *ops;
        void *ctx;
};

/* Room for N ids in all (from 1024, doubling), so that puts up to that
 * many cannot fail. 0 or -ENOMEM. */
int prioq_reserve(struct prioq *q, uint32_t n);
/* Queue ID (not queued yet). 0 or -ENOMEM. */
int prioq_put(struct prioq *q, uint32_t id);
/* Loading many: ID at the end, in room reserved before, out of order until
 * prioq_heapify(). */
void prioq_append(struct prioq *q, uint32_t id);
/* Put the whole heap in order (after appends, or after many keys changed). */
void prioq_heapify(struct prioq *q);
/* Take ID out of the queue; nothing when it is not in it. */
void prioq_remove(struct prioq *q, uint32_t id);
/* ID's key changed: move it to its place. */
void prioq_reshuffle(struct prioq *q, uint32_t id);
void prioq_clear(struct prioq *q);

/* The id with the smallest key, or PRIOQ_NIL when the queue is empty. */
static inline uint32_t prioq_peek(const struct prioq *q) {
        return q->n ? q->v[0] : PRIOQ_NIL;
}
