/* SPDX-License-Identifier: GPL-3.0-or-later */
/* strmap.c - the string maps of strmap.h: strmap (key pointers) and the
 * compact strmap32 (32-bit ids whose keys the caller keeps). */
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

/* Backward-shift deletion: with a hole at I, the entry at J (whose home
 * slot is K) moves into it unless K lies cyclically in (I, J]. */
static bool fills_hole(size_t i, size_t j, size_t k) {
        return i <= j ? (k <= i || k > j) : (k <= i && k > j);
}

bool strmap_remove(struct strmap *m, const char *key) {
        if (!m->cap || !key)
                return false;
        struct strmap_slot *s = slot(m, key);
        if (!s->key)
                return false;
        size_t mask = m->cap - 1, i = (size_t) (s - m->v), j = i;
        m->v[i].key = NULL;
        m->n--;
        for (;;) {
                j = (j + 1) & mask;
                if (!m->v[j].key)
                        return true;
                if (fills_hole(i, j, (size_t) hash(m->v[j].key) & mask)) {
                        m->v[i] = m->v[j];
                        m->v[j].key = NULL;
                        i = j;
                }
        }
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

/* ---- strmap32 ---- */

static const char *key32(const struct strmap32 *m, uint32_t slotval) {
        return m->key(m->ctx, slotval - 1);
}

static uint32_t *slot32(const struct strmap32 *m, const char *key) {
        uint32_t mask = m->cap - 1;
        for (uint32_t s = (uint32_t) hash(key) & mask;; s = (s + 1) & mask)
                if (m->v[s] == 0 || strcmp(key32(m, m->v[s]), key) == 0)
                        return &m->v[s];
}

static int grow32(struct strmap32 *m) {
        uint32_t cap = m->cap ? m->cap * 2 : 1024;
        uint32_t *old = m->v, old_cap = m->cap;

        if (cap < m->cap)
                return -ENOMEM;
        m->v = calloc(cap, sizeof(uint32_t));
        if (!m->v) {
                m->v = old;
                return -ENOMEM;
        }
        m->cap = cap;
        for (uint32_t s = 0; s < old_cap; s++)
                if (old[s])
                        *slot32(m, key32(m, old[s])) = old[s];
        free(old);
        return 0;
}

int strmap32_reserve(struct strmap32 *m, uint32_t n) {
        while ((uint64_t) n * 2 > m->cap)
                if (grow32(m) < 0)
                        return -ENOMEM;
        return 0;
}

int strmap32_put(struct strmap32 *m, uint32_t id) {
        if (id == UINT32_MAX || strmap32_reserve(m, m->n + 1) < 0)
                return -ENOMEM;
        *slot32(m, m->key(m->ctx, id)) = id + 1;
        m->n++;
        return 0;
}

bool strmap32_get(const struct strmap32 *m, const char *key, uint32_t *ret) {
        if (!m->cap || !key)
                return false;
        uint32_t v = *slot32(m, key);
        if (!v)
                return false;
        if (ret)
                *ret = v - 1;
        return true;
}

bool strmap32_remove(struct strmap32 *m, const char *key) {
        if (!m->cap || !key)
                return false;
        uint32_t *s = slot32(m, key);
        if (!*s)
                return false;
        uint32_t mask = m->cap - 1, i = (uint32_t) (s - m->v), j = i;
        m->v[i] = 0;
        m->n--;
        for (;;) {
                j = (j + 1) & mask;
                if (m->v[j] == 0)
                        return true;
                if (fills_hole(i, j, (uint32_t) hash(key32(m, m->v[j])) & mask)) {
                        m->v[i] = m->v[j];
                        m->v[j] = 0;
                        i = j;
                }
        }
}

void strmap32_clear(struct strmap32 *m) {
        free(m->v);
        m->v = NULL;
        m->cap = m->n = 0;
}
