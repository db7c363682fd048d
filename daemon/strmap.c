/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* FNV-1a, 64 bit. */
static uint64_t hash(const char *s) {
        uint64_t h = 14695981039346656037ULL;
        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 1099511628211ULL;
        }
        return h;
}

static struct strmap_slot *slot(const struct strmap *m, const char *key) {
        size_t mask = m->cap - 1;
        for (size_t i = (size_t) hash(key) & mask;; i = (i + 1) & mask)
                if (!m->v[i].key || strcmp(m->v[i].key, key) == 0)
                        return &m->v[i];
}

static int grow(struct strmap *m) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct strmap old = *m;

        if (cap < m->cap)
                return -ENOMEM;
        m->v = calloc(cap, sizeof(*m->v));
        if (!m->v) {
                m->v = old.v;
                return -ENOMEM;
        }
        m->cap = cap;
        for (size_t i = 0; i < old.cap; i++)
                if (old.v[i].key)
                        *slot(m, old.v[i].key) = old.v[i];
        free(old.v);
        return 0;
}

int strmap_reserve(struct strmap *m, size_t n) {
        while (n * 2 > m->cap)
                if (grow(m) < 0)
                        return -ENOMEM;
        return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t val) {
        if ((m->n + 1) * 2 > m->cap && grow(m) < 0) /* at most half full */
                return -ENOMEM;
        struct strmap_slot *s = slot(m, key);
        if (!s->key)
                m->n++;
        *s = (struct strmap_slot) { .key = key, .val = val };
        return 0;
}

bool strmap_get(const struct strmap *m, const char *key, size_t *ret) {
        if (!m->cap || !key)
                return false;
        const struct strmap_slot *s = slot(m, key);
        if (!s->key)
                return false;
        if (ret)
                *ret = s->val;
        return true;
}

void strmap_clear(struct strmap *m) {
        free(m->v);
        *m = (struct strmap) {};
}
