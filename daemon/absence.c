/* absence.c - absences kept whole in memory, one spool file each
 * (absence.h). The array is sorted by start, so iteration over a range
 * is in the order a forecast wants it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "absence.h"
#include "macro.h"
#include "time-util.h"

#define FILE_MAX (64 * 1024) /* store_folder_read starts with a 64 KiB buffer */

struct absences {
        struct store *store;
        struct absence *v;
        size_t n, cap;
};

static void absence_done(struct absence *x) {
        free(x->person);
        free(x->note);
        *x = (struct absence) {};
}

static bool id_ok(const char *s) {
        if (!s || strlen(s) != ABSENCE_ID_LEN || s[0] != 'a')
                return false;
        for (const char *p = s + 1; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '2' && *p <= '9')))
                        return false;
        return true;
}

static int file_name(const char *id, char buf[static ABSENCE_ID_LEN + 6]) {
        if (!id_ok(id))
                return -EINVAL;
        snprintf(buf, ABSENCE_ID_LEN + 6, "%s.json", id);
        return 0;
}

json_t *absence_json(const struct absence *x, void (*fmt)(void *ud, uint64_t usec, char *buf, size_t len), void *ud) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:I}", "id", x->id, "person", x->person, "from_usec",
                              (json_int_t) x->from, "to_usec", (json_int_t) x->to, "source", x->source, "created_usec",
                              (json_int_t) x->created);
        if (!o)
                return NULL;
        if (x->note)
                json_object_set_new(o, "note", json_string(x->note));
        if (x->ended)
                json_object_set_new(o, "ended_usec", json_integer((json_int_t) x->ended));
        if (fmt) {
                char b[32];
                fmt(ud, x->from, b, sizeof(b));
                json_object_set_new(o, "from", json_string(b));
                fmt(ud, x->to, b, sizeof(b));
                json_object_set_new(o, "to", json_string(b));
        }
        return o;
}

static int save(struct absences *a, const struct absence *x) {
        char name[ABSENCE_ID_LEN + 6];
        if (!a->store)
                return 0;
        int r = file_name(x->id, name);
        if (r < 0)
                return r;
        json_t *o = absence_json(x, NULL, NULL);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!s)
                return -ENOMEM;
        r = store_write_atomic(a->store, STORE_ABSENCES, name, s, strlen(s));
        free(s);
        return r;
}

static int cmp_from(const void *x, const void *y) {
        const struct absence *p = x, *q = y;
        return p->from < q->from ? -1 : p->from > q->from ? 1 : strcmp(p->id, q->id);
}

static int grow(struct absences *a) {
        if (a->n < a->cap)
                return 0;
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct absence *v = realloc(a->v, cap * sizeof(*v));
        if (!v)
                return -ENOMEM;
        a->v = v;
        a->cap = cap;
        return 0;
}

static int parse_one(const char *data, size_t len, const char *name, struct absence *x) {
        json_t *o = json_loadb(data, len, 0, NULL);
        int r = -EBADMSG;
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *person = json_string_value(json_object_get(o, "person"));
        const char *note = json_string_value(json_object_get(o, "note"));
        const char *src = json_string_value(json_object_get(o, "source"));
        json_t *f = json_object_get(o, "from_usec"), *t = json_object_get(o, "to_usec");
        char want[ABSENCE_ID_LEN + 6];
        if (!json_is_object(o) || !id_ok(id) || !person || !id_is_safe(person) || !json_is_integer(f) ||
            !json_is_integer(t) || file_name(id, want) < 0 || !streq(want, name))
                goto out;
        *x = (struct absence) { .from = (uint64_t) json_integer_value(f), .to = (uint64_t) json_integer_value(t),
                                .created = (uint64_t) json_integer_value(json_object_get(o, "created_usec")),
                                .ended = (uint64_t) json_integer_value(json_object_get(o, "ended_usec")) };
        snprintf(x->id, sizeof(x->id), "%s", id);
        snprintf(x->source, sizeof(x->source), "%s", src ? src : "?");
        x->person = strdup(person);
        x->note = note ? strdup(note) : NULL;
        r = x->person && (!note || x->note) ? 0 : -ENOMEM;
        if (r < 0)
                absence_done(x);
out:
        json_decref(o);
        return r;
}

int absences_new(struct store *store, struct absences **ret, unsigned *ret_broken) {
        struct absences *a = calloc(1, sizeof(*a));
        unsigned broken = 0;
        int r = 0;
        if (!a)
                return -ENOMEM;
        a->store = store;
        if (store) {
                struct store_folder *f;
                char *buf = NULL;
                size_t cap = 0, len;
                r = store_folder_open(store, STORE_ABSENCES, NULL, &f);
                if (r < 0) {
                        free(a);
                        return r;
                }
                for (const char *name; (name = store_folder_next(f));) {
                        struct absence x;
                        if (a->n >= ABSENCES_MAX || store_folder_read(f, name, FILE_MAX, &buf, &cap, &len) < 0 ||
                            parse_one(buf, len, name, &x) < 0) {
                                broken++;
                                continue;
                        }
                        if ((r = grow(a)) < 0) {
                                absence_done(&x);
                                break;
                        }
                        a->v[a->n++] = x;
                }
                free(buf);
                store_folder_close(f);
                if (r < 0) {
                        absences_free(a);
                        return r;
                }
                if (a->n > 1)
                        qsort(a->v, a->n, sizeof(*a->v), cmp_from);
        }
        if (ret_broken)
                *ret_broken = broken;
        *ret = a;
        return 0;
}

void absences_free(struct absences *a) {
        if (!a)
                return;
        for (size_t i = 0; i < a->n; i++)
                absence_done(&a->v[i]);
        free(a->v);
        free(a);
}

/* "a" and 7 characters of a-z2-9 (no 0/1 to be confused with o/l): 35
 * bits, enough that an id cannot be guessed to cancel someone else's. */
static int new_id(const struct absences *a, char id[static ABSENCE_ID_LEN + 1]) {
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz23456789";
        for (int tries = 0; tries < 16; tries++) {
                unsigned char rnd[ABSENCE_ID_LEN - 1];
                if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd))
                        return -EIO;
                id[0] = 'a';
                for (size_t i = 0; i < sizeof(rnd); i++)
                        id[1 + i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
                id[ABSENCE_ID_LEN] = '\0';
                if (!absences_find(a, id))
                        return 0;
        }
        return -EEXIST;
}

int absences_add(struct absences *a, const char *person, uint64_t from, uint64_t to, const char *note,
                 const char *source, uint64_t now, const struct absence **ret) {
        struct absence x = { .from = from, .to = to, .created = now };
        int r;
        if (!person || !id_is_safe(person) || to <= from || to - from > ABSENCE_MAX_PERIOD ||
            (note && strlen(note) > ABSENCE_NOTE_MAX))
                return -EINVAL;
        if (from > now + ABSENCE_MAX_AHEAD)
                return -EINVAL;
        if (a->n >= ABSENCES_MAX)
                return -E2BIG;
        size_t mine = 0;
        for (size_t i = 0; i < a->n; i++)
                mine += streq(a->v[i].person, person);
        if (mine >= ABSENCES_PER_PERSON_MAX)
                return -EDQUOT;
        if ((r = new_id(a, x.id)) < 0 || (r = grow(a)) < 0)
                return r;
        snprintf(x.source, sizeof(x.source), "%s", source ? source : "?");
        x.person = strdup(person);
        x.note = note && *note ? strdup(note) : NULL;
        if (!x.person || (note && *note && !x.note)) {
                absence_done(&x);
                return -ENOMEM;
        }
        r = save(a, &x);
        if (r < 0) {
                absence_done(&x);
                return r;
        }
        /* Insert in order of start. */
        size_t i = a->n;
        while (i > 0 && cmp_from(&a->v[i - 1], &x) > 0)
                i--;
        memmove(&a->v[i + 1], &a->v[i], (a->n - i) * sizeof(*a->v));
        a->v[i] = x;
        a->n++;
        if (ret)
                *ret = &a->v[i];
        return 0;
}

static ssize_t index_of(const struct absences *a, const char *id) {
        for (size_t i = 0; id && i < a->n; i++)
                if (streq(a->v[i].id, id))
                        return (ssize_t) i;
        return -1;
}

const struct absence *absences_find(const struct absences *a, const char *id) {
        ssize_t i = a ? index_of(a, id) : -1;
        return i >= 0 ? &a->v[i] : NULL;
}

static void drop(struct absences *a, size_t i) {
        absence_done(&a->v[i]);
        memmove(&a->v[i], &a->v[i + 1], (a->n - i - 1) * sizeof(*a->v));
        a->n--;
}

int absences_cancel(struct absences *a, const char *id) {
        char name[ABSENCE_ID_LEN + 6];
        ssize_t i = index_of(a, id);
        if (i < 0)
                return -ENOENT;
        if (a->store) {
                int r = file_name(id, name);
                if (r >= 0)
                        r = store_remove(a->store, STORE_ABSENCES, name);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        drop(a, (size_t) i);
        return 0;
}

int absences_end_now(struct absences *a, const char *person, uint64_t now) {
        int n = 0;
        for (size_t i = 0; i < a->n; i++) {
                struct absence *x = &a->v[i];
                if (!streq(x->person, person) || x->from > now || x->to <= now)
                        continue;
                uint64_t old_to = x->to, old_ended = x->ended;
                /* An absence that had not really begun yet (the same minute) is empty then. */
                x->to = now > x->from ? now : x->from + 1;
                x->ended = now;
                int r = save(a, x);
                if (r < 0) {
                        x->to = old_to;
                        x->ended = old_ended;
                        return r;
                }
                n++;
        }
        return n;
}

const struct absence *absences_covering(const struct absences *a, const char *person, uint64_t usec) {
        const struct absence *best = NULL;
        for (size_t i = 0; a && person && i < a->n && a->v[i].from <= usec; i++) {
                const struct absence *x = &a->v[i];
                if (x->to > usec && streq(x->person, person) && (!best || x->to > best->to))
                        best = x;
        }
        return best;
}

bool absences_away_at(const struct absences *a, const char *person, uint64_t usec) {
        return absences_covering(a, person, usec) != NULL;
}

const struct absence *absences_next(const struct absences *a, const char *person, uint64_t from, uint64_t to,
                                    size_t *iter) {
        for (; a && *iter < a->n; (*iter)++) {
                const struct absence *x = &a->v[*iter];
                if (x->from >= to)
                        break;
                if (x->to > from && (!person || streq(x->person, person))) {
                        (*iter)++;
                        return x;
                }
        }
        if (a)
                *iter = a->n;
        return NULL;
}

size_t absences_count(const struct absences *a) {
        return a ? a->n : 0;
}

unsigned absences_active(const struct absences *a, uint64_t now) {
        unsigned n = 0;
        for (size_t i = 0; a && i < a->n && a->v[i].from <= now; i++)
                n += a->v[i].to > now;
        return n;
}

int absences_purge(struct absences *a, uint64_t before, unsigned *ret_n) {
        unsigned n = 0;
        int err = 0;
        for (size_t i = 0; i < a->n;) {
                char name[ABSENCE_ID_LEN + 6];
                if (a->v[i].to >= before) {
                        i++;
                        continue;
                }
                if (a->store && file_name(a->v[i].id, name) >= 0) {
                        int r = store_unlink(a->store, STORE_ABSENCES, name);
                        if (r < 0 && r != -ENOENT) {
                                err = err ?: r;
                                i++;
                                continue;
                        }
                }
                drop(a, i);
                n++;
        }
        if (n && a->store) {
                int r = store_sync_dir(a->store, STORE_ABSENCES);
                err = err ?: r;
        }
        if (ret_n)
                *ret_n = n;
        return err;
}
