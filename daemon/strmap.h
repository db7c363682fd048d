/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* strmap: an open-addressing map from a string to an index, for the lists
 * that grow to thousands of entries (the people in a step, the members of an
 * activation, the people in the configuration). It does not own its keys:
 * each key must stay valid, unchanged, while it is in the map.
 * strmap_clear() empties it.
 *
 * strmap32 is the compact form for a million keys (the follow-up cases): a
 * slot is a 32-bit id, 4 bytes where a strmap slot takes 16, and it keeps
 * no key pointers: the key of id I is KEY(CTX, I), from the caller's own
 * table, which may move (an arena that grows). Both hash with FNV-1a, probe
 * linearly, stay at most half full and delete by backward shift (no
 * tombstones: lookups stay short however many keys come and go). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
        const char *key; /* NULL = empty */
        size_t val;
};

struct strmap {
        struct strmap_slot *v;
        size_t cap; /* a power of two, or 0 */
        size_t n;
};

/* Set KEY to VAL (replacing a value it had). 0 or -ENOMEM. */
int strmap_put(struct strmap *m, const char *key, size_t val);
/* Room for N keys in all, so that puts up to that many cannot fail. 0 or -ENOMEM. */
int strmap_reserve(struct strmap *m, size_t n);
/* true and *RET (may be NULL) when KEY is in the map. */
bool strmap_get(const struct strmap *m, const char *key, size_t *ret);
/* Remove KEY; true when it was in the map. */
bool strmap_remove(struct strmap *m, const char *key);
void strmap_clear(struct strmap *m);

struct strmap32 {
        uint32_t *v; /* id + 1; 0 = empty */
        uint32_t cap; /* a power of two (the first table 1024 slots), or 0 */
        uint32_t n;
        const char *(*key)(const void *ctx, uint32_t id);
        const void *ctx;
};

/* Room for N ids in all, so that puts up to that many cannot fail. 0 or -ENOMEM. */
int strmap32_reserve(struct strmap32 *m, uint32_t n);
/* Add ID (< UINT32_MAX) under its key, which must be readable already and
 * not be in the map. 0 or -ENOMEM. */
int strmap32_put(struct strmap32 *m, uint32_t id);
/* true and *RET (may be NULL) when KEY is in the map. */
bool strmap32_get(const struct strmap32 *m, const char *key, uint32_t *ret);
/* Remove KEY; true when it was in the map. */
bool strmap32_remove(struct strmap32 *m, const char *key);
/* Empty it (KEY and CTX stay). */
void strmap32_clear(struct strmap32 *m);
