/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* strmap: an open-addressing map from a string to an index, for the lists
 * that grow to thousands of entries (the people in a step, the members of an
 * activation, the people in the configuration). It does not own its keys:
 * each key must stay valid, unchanged, while it is in the map. No deletion;
 * strmap_clear() empties it. */

#include <stdbool.h>
#include <stddef.h>

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
void strmap_clear(struct strmap *m);
