/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "seen.h"
#include "strmap.h"

#define USEC_PER_SEC_ ((uint64_t) 1000000)
#define COMPACT_EVERY_USEC ((uint64_t) 24 * 3600 * USEC_PER_SEC_)
#define SEEN_FILE_MAX (64u << 20)

struct entry {
        uint64_t ts; /* usec; 0 = forgotten */
        char *key;   /* "<gateway> <id>" */
};

struct seen {
        struct store *st;
        enum store_dir dir;
        char *name;
        uint64_t retention;
        uint64_t compacted; /* when last compacted */
        size_t max;         /* SEEN_MAX, or less (tests) */
        struct entry *v;
        size_t n, cap;
        struct strmap map; /* key -> index in v */
};

static bool word_ok(const char *w, size_t max) {
        size_t k = w ? strlen(w) : 0;
        if (k == 0 || k >= max)
                return false;
        for (size_t i = 0; i < k; i++)
                if ((unsigned char) w[i] <= ' ' || (unsigned char) w[i] >= 0x7f)
                        return false;
        return true;
}

static char *make_key(const char *gateway, const char *id) {
        char *k;
        if (!word_ok(gateway, 256) || !word_ok(id, SEEN_ID_MAX))
                return NULL;
        return asprintf(&k, "%s %s", gateway, id) < 0 ? NULL : k;
}

static int rebuild_map(struct seen *s) {
        strmap_clear(&s->map);
        if (strmap_reserve(&s->map, s->n + 1) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < s->n; i++)
                if (strmap_put(&s->map, s->v[i].key, i) < 0)
                        return -ENOMEM;
        return 0;
}

/* Keep live entries newer than the retention (and, when still over
 * KEEP_MAX, only the newest KEEP_MAX of them). */
static void prune(struct seen *s, uint64_t now, size_t keep_max) {
        size_t k = 0, live = 0;
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i].ts != 0 && s->v[i].ts + s->retention >= now)
                        live++;
        size_t skip = live > keep_max ? live - keep_max : 0;
        if (skip > 0)
                log_warning("Replay protection: %zu message ids within the retention, more than %zu; forgetting the "
                            "oldest %zu",
                            live, keep_max, skip);
        for (size_t i = 0; i < s->n; i++) {
                bool keep = s->v[i].ts != 0 && s->v[i].ts + s->retention >= now;
                if (keep && skip > 0) {
                        skip--;
                        keep = false;
                }
                if (keep)
                        s->v[k++] = s->v[i];
                else
                        free(s->v[i].key);
        }
        s->n = k;
}

static int compact(struct seen *s, uint64_t now, size_t keep_max) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        prune(s, now, keep_max);
        r = rebuild_map(s);
        if (r < 0)
                return r;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < s->n; i++)
                fprintf(f, "%" PRIu64 " %s\n", s->v[i].ts / USEC_PER_SEC_, s->v[i].key);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        r = store_write_atomic(s->st, s->dir, s->name, buf ? buf : "", len);
        free(buf);
        if (r >= 0)
                s->compacted = now;
        return r;
}

static int push(struct seen *s, uint64_t ts, char *key) {
        if (s->n == s->cap) {
                size_t cap = s->cap ? 2 * s->cap : 256;
                struct entry *v = realloc(s->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n] = (struct entry) { .ts = ts, .key = key };
        if (strmap_put(&s->map, key, s->n) < 0)
                return -ENOMEM;
        s->n++;
        return 0;
}

static struct entry *find(const struct seen *s, const char *key) {
        size_t i;
        if (!strmap_get(&s->map, key, &i) || i >= s->n || s->v[i].ts == 0)
                return NULL;
        return &s->v[i];
}

static void parse(struct seen *s, char *data) {
        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
                if (!sp2)
                        continue;
                *sp1 = *sp2 = '\0';
                _cleanup_free_ char *key = make_key(sp1 + 1, sp2 + 1);
                if (!key)
                        continue;
                if (streq(line, "-")) {
                        struct entry *e = find(s, key);
                        if (e)
                                e->ts = 0;
                        continue;
                }
                if (strspn(line, "0123456789") != strlen(line) || strlen(line) > 12)
                        continue;
                uint64_t ts = strtoull(line, NULL, 10) * USEC_PER_SEC_;
                if (ts == 0)
                        continue;
                struct entry *e = find(s, key);
                if (e) {
                        if (ts > e->ts)
                                e->ts = ts;
                        continue;
                }
                if (push(s, ts, key) < 0)
                        return;
                key = NULL;
        }
}

int seen_open(struct store *st, enum store_dir dir, const char *name, uint64_t retention, uint64_t now,
              struct seen **ret) {
        struct seen *s = calloc(1, sizeof(*s));
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        if (!s)
                return -ENOMEM;
        *s = (struct seen) { .st = st, .dir = dir, .name = strdup(name), .retention = retention, .max = SEEN_MAX };
        if (!s->name) {
                seen_free(s);
                return -ENOMEM;
        }
        r = store_read(st, dir, name, SEEN_FILE_MAX, &data, &len);
        if (r < 0 && r != -ENOENT) {
                seen_free(s);
                return r;
        }
        if (r >= 0) {
                /* A torn last line (no '\n': a crash mid-append) is dropped. */
                char *nl = len > 0 ? memrchr(data, '\n', len) : NULL;
                if (nl)
                        nl[1] = '\0';
                else
                        data[0] = '\0';
                parse(s, data);
        }
        r = compact(s, now, SEEN_MAX);
        if (r < 0) {
                seen_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void seen_free(struct seen *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i].key);
        free(s->v);
        strmap_clear(&s->map);
        free(s->map.v);
        free(s->name);
        free(s);
}

bool seen_has(const struct seen *s, const char *gateway, const char *id) {
        _cleanup_free_ char *key = make_key(gateway, id);
        return key && find(s, key);
}

int seen_add(struct seen *s, const char *gateway, const char *id, uint64_t now) {
        char *key = make_key(gateway, id), line[512];
        int r;

        if (!key)
                return -EINVAL;
        if (find(s, key)) {
                free(key);
                return 1;
        }
        if (s->n >= s->max || now >= s->compacted + COMPACT_EVERY_USEC) {
                r = compact(s, now, s->n >= s->max ? s->max / 2 : s->max);
                if (r < 0)
                        log_warning_errno(r, "Replay protection: cannot compact %s: %m", s->name);
        }
        snprintf(line, sizeof(line), "%" PRIu64 " %s\n", now / USEC_PER_SEC_, key);
        r = store_append(s->st, s->dir, s->name, line, strlen(line));
        if (r < 0) {
                free(key);
                return r;
        }
        r = push(s, now ? now : 1, key);
        if (r < 0) {
                free(key);
                return r;
        }
        return 0;
}

void seen_forget(struct seen *s, const char *gateway, const char *id) {
        _cleanup_free_ char *key = make_key(gateway, id);
        struct entry *e = key ? find(s, key) : NULL;
        char line[512];

        if (!e)
                return;
        e->ts = 0;
        snprintf(line, sizeof(line), "- %s\n", key);
        (void) store_append(s->st, s->dir, s->name, line, strlen(line));
}

void seen_set_max(struct seen *s, size_t max) {
        s->max = max > 1 ? max : 2;
}

size_t seen_count(const struct seen *s) {
        size_t k = 0;
        for (size_t i = 0; i < s->n; i++)
                k += s->v[i].ts != 0;
        return k;
}
