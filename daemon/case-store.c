/* case-store.c - the follow-up cases on disk, every access through
 * store.h: the case journal (cases/journal.<n>) and its fold into the case
 * files, reading and writing a case, loading the journals, cases/index and
 * the bucket folders at start, and writing cases/index at a clean stop.
 * See followup-internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "followup-internal.h"
#include "log.h"
#include "macro.h"
#include "store.h"

/* ---- the case journal ----
 *
 * Replacing a case file (tmp/, sync, rename over the old one, sync) costs a
 * new inode, a freed one and, on a file system mounted with "discard", a
 * synchronous discard: a burst of 10,000 reminders at office start spent most
 * of its time there, twice per case (the reminder, then its outcome). So a
 * case change is appended to cases/journal.<gen> instead (one write and one
 * fdatasync per batch) and kept in memory, "dirty", until a fold writes it
 * into its case file: once the journal has been quiet for FOLD_QUIET, at the
 * latest FOLD_MAX_AGE after its oldest record, at once past FOLD_MAX_DIRTY
 * cases. A journal record is the case file's own bytes: indented JSON whose
 * strings are escaped, so "\n}\n" ends a record and nothing else. A fold
 * starts a new journal, writes the dirty cases in group commits of
 * FOLD_CHUNK files (a loop iteration each), then removes the journals it
 * covered. Readers take the dirty copy over the file. At start the journals
 * are read back (a record torn by a crash was never acted on and is
 * dropped) and folded soon after; a clean stop folds everything, so a
 * stopped daemon leaves plain case files. */

static void journal_name(uint32_t gen, char *buf, size_t len) {
        snprintf(buf, len, "journal.%" PRIu32, gen);
}

/* Room for N more dirty cases, so that dirty_put() cannot fail for them. */
static int dirty_reserve(struct followup *f, size_t n) {
        if (f->n_dirty + n > f->cap_dirty) {
                size_t cap = f->cap_dirty * 2 > f->n_dirty + n ? f->cap_dirty * 2 : f->n_dirty + n;
                struct fu_dirty *v = realloc(f->dirty, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                f->dirty = v;
                f->cap_dirty = cap;
        }
        return strmap_reserve(&f->dirty_map, f->n_dirty + n);
}

/* DATA (malloc'd, taken) is the newest state of REF, in journal GEN. Only
 * the copy of REF can fail (-ENOMEM); DATA is then still the caller's. */
static int dirty_put(struct followup *f, const char *ref, char *data, size_t len, uint32_t gen) {
        struct fu_dirty *d = dirty_get(f, ref);
        if (!d) {
                char *r = strdup(ref);
                if (!r || dirty_reserve(f, 1) < 0) {
                        free(r);
                        return -ENOMEM;
                }
                d = &f->dirty[f->n_dirty];
                *d = (struct fu_dirty) { .ref = r };
                (void) strmap_put(&f->dirty_map, r, f->n_dirty++); /* reserved */
        }
        free(d->data);
        *d = (struct fu_dirty) { .ref = d->ref, .data = data, .len = len, .gen = gen };
        return 0;
}

void fu_journal_commit(struct followup *f, struct fu_rec *const *v, size_t n) {
        size_t total = 0;
        for (size_t k = 0; k < n; k++)
                total += v[k]->len;
        char *buf = dirty_reserve(f, n) >= 0 ? malloc(total ? total : 1) : NULL;
        int r = -ENOMEM;
        if (buf) {
                char name[32];
                size_t at = 0;
                for (size_t k = 0; k < n; k++) {
                        memcpy(buf + at, v[k]->data, v[k]->len);
                        at += v[k]->len;
                }
                journal_name(f->jgen, name, sizeof(name));
                r = store_append(f->store, STORE_CASES, name, buf, total);
                free(buf);
        }
        for (size_t k = 0; k < n; k++) {
                v[k]->r = r;
                if (r < 0)
                        continue;
                if (dirty_put(f, v[k]->ref, v[k]->data, v[k]->len, f->jgen) >= 0) {
                        v[k]->data = NULL;
                        continue;
                }
                /* No memory to keep it: write it through, so that readers of
                 * the file see what the journal says. */
                char file[128];
                v[k]->r = store_case_relpath(f->store, v[k]->ref, file, sizeof(file));
                if (v[k]->r >= 0)
                        v[k]->r = store_write_atomic(f->store, STORE_CASES, file, v[k]->data, v[k]->len);
        }
        if (r >= 0)
                fu_fold_schedule(f);
}

void fu_fold_schedule(struct followup *f) {
        uint64_t now;
        if (!f->fold || f->folding || f->n_dirty == 0)
                return;
        sd_event_now(f->event, CLOCK_MONOTONIC, &now);
        if (!f->first_dirty)
                f->first_dirty = now;
        uint64_t when = now + FOLD_QUIET;
        if (when > f->first_dirty + FOLD_MAX_AGE)
                when = f->first_dirty + FOLD_MAX_AGE;
        if (f->n_dirty >= FOLD_MAX_DIRTY)
                when = 1;
        sd_event_source_set_time(f->fold, when);
        sd_event_source_set_enabled(f->fold, SD_EVENT_ONESHOT);
}

/* A case file to replace in a group commit. */
struct fu_write {
        char name[128];
        char tmp[STORE_TMP_NAME_SIZE];
        const char *data;
        size_t len;
        int r;
};

/* Replace the case files of V[0..N): all staged in tmp/, one sync, all
 * renamed, one more sync. Returns 0 or the first error. */
static int files_commit(struct followup *f, struct fu_write *v, size_t n) {
        int r = 0;
        for (size_t k = 0; k < n; k++) {
                v[k].r = store_stage(f->store, v[k].data, v[k].len, v[k].tmp);
                if (v[k].r < 0) {
                        v[k].tmp[0] = '\0';
                        r = r < 0 ? r : v[k].r;
                }
        }
        int rs = store_sync(f->store);
        for (size_t k = 0; k < n; k++) {
                if (v[k].r < 0)
                        continue;
                if (rs < 0 || (v[k].r = store_publish(f->store, v[k].tmp, STORE_CASES, v[k].name)) < 0) {
                        store_unstage(f->store, v[k].tmp);
                        v[k].r = rs < 0 ? rs : v[k].r;
                        r = r < 0 ? r : v[k].r;
                }
        }
        if (rs >= 0)
                rs = store_sync(f->store);
        return r < 0 ? r : rs;
}

/* One chunk of the fold: the next FOLD_CHUNK dirty cases into their files;
 * after the last, the journals covered are removed and what the files now
 * hold is no longer dirty. 1 while more is to do, 0 when done, or -errno
 * (the fold is given up and starts over later; the journals keep all). */
static int fold_step(struct followup *f) {
        if (!f->folding) {
                if (f->n_dirty == 0)
                        return 0;
                f->folding = true;
                f->fold_gen = f->jgen++; /* new changes go to a new journal */
                f->fold_n = f->n_dirty;
                f->fold_pos = 0;
        }
        size_t n = f->fold_n - f->fold_pos < FOLD_CHUNK ? f->fold_n - f->fold_pos : FOLD_CHUNK;
        if (n > 0) {
                struct fu_write *v = calloc(n, sizeof(*v));
                int r = v ? 0 : -ENOMEM;
                for (size_t k = 0; k < n && r >= 0; k++) {
                        const struct fu_dirty *d = &f->dirty[f->fold_pos + k];
                        r = store_case_relpath(f->store, d->ref, v[k].name, sizeof(v[k].name));
                        v[k].data = d->data;
                        v[k].len = d->len;
                }
                if (r >= 0)
                        r = files_commit(f, v, n);
                free(v);
                if (r < 0) {
                        f->folding = false;
                        return r;
                }
                f->fold_pos += n;
                if (f->fold_pos < f->fold_n)
                        return 1;
        }
        for (; f->jgen_first <= f->fold_gen; f->jgen_first++) {
                char name[32];
                journal_name(f->jgen_first, name, sizeof(name));
                int r = store_remove(f->store, STORE_CASES, name);
                if (r < 0 && r != -ENOENT) {
                        f->folding = false;
                        return r;
                }
        }
        f->folding = false;
        /* Keep what changed since the fold began. Without memory for a new
         * map, all stays dirty: folded again next time, no harm done. */
        size_t m = 0;
        for (size_t k = 0; k < f->n_dirty; k++)
                m += f->dirty[k].gen > f->fold_gen;
        struct strmap map = {};
        if (m > 0 && strmap_reserve(&map, m) < 0)
                return 0;
        m = 0;
        for (size_t k = 0; k < f->n_dirty; k++) {
                struct fu_dirty *d = &f->dirty[k];
                if (d->gen > f->fold_gen) {
                        f->dirty[m] = *d;
                        (void) strmap_put(&map, d->ref, m++); /* reserved */
                        continue;
                }
                free(d->ref);
                free(d->data);
        }
        strmap_clear(&f->dirty_map);
        f->dirty_map = map;
        f->n_dirty = m;
        return 0;
}

int fu_on_fold(sd_event_source *s, uint64_t usec, void *userdata) {
        struct followup *f = userdata;
        (void) usec;
        int r = fold_step(f);
        if (r > 0) { /* the next chunk in the next loop iteration */
                sd_event_source_set_time(s, 1);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        if (r < 0) {
                uint64_t now;
                log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL,
                          "Follow-up: cannot write the case journal into the case files (%s); the journal keeps "
                          "every change, will retry", strerror(-r));
                sd_event_now(f->event, CLOCK_MONOTONIC, &now);
                sd_event_source_set_time(s, now + RETRY_USEC);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        f->first_dirty = 0;
        fu_fold_schedule(f);
        return 0;
}

void fu_fold_all(struct followup *f) {
        int r;
        while ((r = fold_step(f)) > 0)
                ;
        if (r >= 0 && f->n_dirty > 0) /* a fold had begun: the rest */
                while ((r = fold_step(f)) > 0)
                        ;
        if (r < 0)
                log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL,
                          "Follow-up: cannot write the case journal into the case files (%s); it is read back at "
                          "the next start", strerror(-r));
}

void fu_journal_free(struct followup *f) {
        for (size_t k = 0; k < f->n_dirty; k++) {
                free(f->dirty[k].ref);
                free(f->dirty[k].data);
        }
        free(f->dirty);
        strmap_clear(&f->dirty_map);
}

/* Each record of journal DATA (named NAME in messages), in order: CB with
 * the parsed case and the record's bytes. A damaged record is skipped and a
 * torn last one dropped, each with a message. 0, or CB's error. */
static int journal_scan(const char *data, size_t len, const char *name,
                        int (*cb)(void *u, const struct fu_case *c, const char *rec, size_t rl), void *u) {
        for (const char *p = data, *end = data + len; p < end;) {
                const char *q = memmem(p, (size_t) (end - p), "\n}\n", 3);
                if (!q) {
                        /* Torn by a crash in the write: never acted on. */
                        log_warning("cases/%s: its last record is incomplete (a crash while it was written); "
                                    "dropped, it was never acted on", name);
                        return 0;
                }
                size_t rl = (size_t) (q + 3 - p);
                struct fu_case c;
                if (case_parse(p, rl, &c) < 0) {
                        log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL, "cases/%s: a damaged record at byte %zu skipped",
                                  name, (size_t) (p - data));
                } else {
                        int r = cb(u, &c, p, rl);
                        case_done(&c);
                        if (r < 0)
                                return r;
                }
                p = q + 3;
        }
        return 0;
}

struct recover_ctx {
        struct followup *f;
        uint32_t gen;
        size_t records;
};

static int recover_one(void *u, const struct fu_case *c, const char *rec, size_t rl) {
        struct recover_ctx *ctx = u;
        char *copy = malloc(rl);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, rec, rl);
        if (dirty_put(ctx->f, c->ref, copy, rl, ctx->gen) < 0) {
                free(copy);
                return -ENOMEM;
        }
        ctx->records++;
        return 0;
}

static int count_one(void *u, const struct fu_case *c, const char *rec, size_t rl) {
        (void) c;
        (void) rec;
        (void) rl;
        ++*(size_t *) u;
        return 0;
}

int followup_journal_check(const char *data, size_t len) {
        size_t n = 0;
        int r = journal_scan(data, len, "journal", count_one, &n);
        return r < 0 ? r : (int) (n > INT32_MAX ? INT32_MAX : n);
}

/* At start: every journal left by a crash (or a failed fold) read back into
 * the dirty set, oldest first. */
static int journal_recover(struct followup *f) {
        _cleanup_free_ uint32_t *gens = NULL;
        size_t n = 0, records = 0;
        struct store_folder *d;
        int r = store_folder_open(f->store, STORE_CASES, NULL, &d);
        if (r < 0)
                return r;
        for (const char *name; (name = store_folder_next(d));) {
                const char *g = name + 8;
                char *end;
                if (strncmp(name, "journal.", 8) != 0)
                        continue;
                unsigned long v = *g >= '1' && *g <= '9' ? strtoul(g, &end, 10) : 0;
                if (v == 0 || *end || v >= UINT32_MAX / 2) {
                        log_warning("cases/%s: not a journal beredd writes; left alone", name);
                        continue;
                }
                uint32_t *nv = realloc(gens, (n + 1) * sizeof(*nv));
                if (!nv) {
                        store_folder_close(d);
                        return -ENOMEM;
                }
                gens = nv;
                gens[n++] = (uint32_t) v;
        }
        store_folder_close(d);
        if (n == 0) {
                f->jgen = f->jgen_first = 1;
                return 0;
        }
        for (size_t i = 1; i < n; i++) /* a handful: insertion sort */
                for (size_t j = i; j > 0 && gens[j - 1] > gens[j]; j--) {
                        uint32_t t = gens[j];
                        gens[j] = gens[j - 1];
                        gens[j - 1] = t;
                }
        f->jgen_first = gens[0];
        f->jgen = gens[n - 1] + 1;
        for (size_t i = 0; i < n; i++) {
                char name[32];
                _cleanup_free_ char *data = NULL;
                size_t len;
                journal_name(gens[i], name, sizeof(name));
                r = store_read(f->store, STORE_CASES, name, JOURNAL_MAX_SIZE, &data, &len);
                if (r < 0) {
                        log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL, "cases/%s: cannot read it (%s); its changes are lost",
                                  name, strerror(-r));
                        continue;
                }
                struct recover_ctx ctx = { .f = f, .gen = gens[i] };
                r = journal_scan(data, len, name, recover_one, &ctx);
                if (r < 0)
                        return r;
                records += ctx.records;
        }
        log_info("Follow-up: %zu change(s) to %zu case(s) read back from the case journal", records, f->n_dirty);
        return 0;
}

int fu_stage_rec(const struct fu_case *c, struct fu_rec *rec) {
        snprintf(rec->ref, sizeof(rec->ref), "%s", c->ref);
        return case_serialize(c, &rec->data, &rec->len);
}

int fu_case_read(struct followup *f, const char *ref, struct fu_case *c) {
        const struct fu_dirty *d = dirty_get(f, ref);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;
        if (d) {
                r = case_parse(d->data, d->len, c);
        } else {
                char name[128];
                r = store_case_name(ref, name, sizeof(name));
                if (r >= 0)
                        r = store_read(f->store, STORE_CASES, name, CASE_MAX_SIZE, &data, &len);
                if (r < 0)
                        return r;
                r = case_parse(data, len, c);
        }
        if (r >= 0 && !streq(c->ref, ref)) {
                case_done(c);
                return -EBADMSG;
        }
        return r;
}

int fu_case_write(struct followup *f, const struct fu_case *c, bool create) {
        struct fu_rec rec = {}, *v[1] = { &rec };
        int r;
        if (create) {
                char name[128];
                struct stat st;
                if ((r = store_case_relpath(f->store, c->ref, name, sizeof(name))) < 0)
                        return r;
                if (dirty_get(f, c->ref))
                        return -EEXIST;
                r = store_stat(f->store, STORE_CASES, name, &st);
                if (r >= 0)
                        return -EEXIST;
                if (r != -ENOENT)
                        return r;
        }
        if ((r = fu_stage_rec(c, &rec)) < 0)
                return r;
        fu_journal_commit(f, v, 1);
        free(rec.data);
        return rec.r;
}

/* ---- loading at start ---- */

/* What a start reads the cases with. */
struct load {
        struct followup *f;
        struct fr_cache fr;
        char *buf; /* one buffer for every file read */
        size_t cap;
        uint32_t *resend; /* entries with messages in flight */
        size_t n_resend;
};

/* "ab" -> 0xab, or -1. */
static int bucket_no(const char *b) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
                char c = b[k];
                v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1000);
        }
        return v >= 0 && b[2] == '\0' ? v : -1;
}

/* A name a case file has in its bucket: "<ref>.json", not hidden. */
static bool is_case_file(const char *name) {
        size_t l = strlen(name);
        return name[0] != '.' && l >= 6 && streq(name + l - 5, ".json");
}

/* Case file cases/BUCKET/NAME cannot be followed up: counted and said. */
static int load_damaged(struct followup *f, const char *bucket, const char *name) {
        f->n_damaged++;
        if (bucket_no(bucket) >= 0)
                f->bucket_damaged[bucket_no(bucket)] = true;
        log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL, "cases/%s/%s: damaged or unreadable, not followed up; fix or remove it",
                  bucket, name);
        return 0;
}

/* A new entry for REF with the index fields of SC, FACTORS and LEVEL, its
 * next action set and appended to the heap (in order after fu_heapify()). */
static int load_entry(struct load *ld, const char *ref, const struct fu_sched *sc, uint32_t factors, int level,
                      bool sending, uint32_t *ret) {
        struct followup *f = ld->f;
        uint32_t i;
        int r = fu_entry_add(f, ref, &i);
        if (r < 0)
                return r;
        fu_entry_fill_raw(f, i, sc->due, factors, level, sc->state, sc->stage, sending);
        fu_account(f, i, +1);
        f->e[i].next = fu_next_cached(f, &ld->fr, sc);
        if (f->e[i].next != UINT64_MAX)
                fu_heap_append(f, i);
        *ret = i;
        return 0;
}

/* Index the case of file cases/BUCKET/NAME, whose bytes are DATA. */
static int load_data(struct load *ld, const char *bucket, const char *name, const char *data, size_t len) {
        struct followup *f = ld->f;
        struct mini m;
        bool sending = false;
        if (case_mini_parse(data, len, &f->cfg->followup, &m) < 0) {
                struct fu_case *c = calloc(1, sizeof(*c)); /* the full parser, for the unusual file */
                if (!c)
                        return -ENOMEM;
                if (case_parse(data, len, c) < 0) {
                        free(c);
                        goto damaged;
                }
                m = (struct mini) { .level = c->level, .factors = fu_case_factors(&f->cfg->followup, c),
                                    .state = c->state, .stage = c->stage,
                                    .due = c->due, .reminded = c->reminded, .second = c->second, .closed = c->closed,
                                    .code = c->code };
                memcpy(m.ref, c->ref, sizeof(m.ref));
                sending = case_sending(c);
                case_done(c);
                free(c);
        }
        size_t rl = strlen(m.ref);
        if (strlen(name) != rl + 5 || strncmp(name, m.ref, rl) != 0 || fu_lookup(f, m.ref) >= 0)
                goto damaged;
        uint32_t i;
        struct fu_sched sc = { .state = (enum fu_state) m.state, .stage = (enum fu_stage) m.stage, .due = m.due,
                               .reminded = m.reminded, .second = m.second, .closed = m.closed };
        int r = load_entry(ld, m.ref, &sc, m.factors, m.level, sending, &i);
        if (r < 0)
                return r;
        if (m.code && m.state != FU_CLOSED) {
                uint32_t *slot = &f->codes[m.code - FU_CODE_MIN];
                if (!*slot)
                        *slot = i + 1;
                else
                        log_warning("A follow-up case's reply code is already held by another case; replies by code go there");
        }
        if (sending) {
                uint32_t *v = realloc(ld->resend, (ld->n_resend + 1) * sizeof(uint32_t));
                if (!v)
                        return -ENOMEM;
                ld->resend = v;
                v[ld->n_resend++] = i;
        }
        return 0;
damaged:
        return load_damaged(f, bucket, name);
}

/* Index case file NAME of folder DIR (cases/BUCKET/), or its dirty copy. */
static int load_file(struct load *ld, const struct store_folder *dir, const char *bucket, const char *name) {
        char ref[COMMAND_MAX_ID + 1];
        size_t nl = strlen(name) - 5; /* ".json" */
        if (nl < sizeof(ref)) {
                memcpy(ref, name, nl);
                ref[nl] = '\0';
                const struct fu_dirty *d = dirty_get(ld->f, ref);
                if (d) /* the journal has it newer */
                        return load_data(ld, bucket, name, d->data, d->len);
        }
        size_t len;
        int r = store_folder_read(dir, name, CASE_MAX_SIZE, &ld->buf, &ld->cap, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return load_damaged(ld->f, bucket, name);
        return load_data(ld, bucket, name, ld->buf, len);
}

/* ---- cases/index: a start without reading a million files ----
 *
 * At a clean stop the index entries are written to cases/index, per bucket
 * folder with the folder's inode and ctime. Any change to a folder's entries
 * (a case written, opened, purged; by beredd or by anyone) moves its ctime,
 * which no one can set back; a restored copy has new inodes. At start, a
 * bucket whose folder is unchanged is taken from the index; every other one
 * is read file by file. An open case waiting for its due day, with nothing
 * in flight, is a plain line "ref due-day level factors"; any other case is
 * listed by ref and its file read at start. The factors are bits of the
 * vocabulary on the line "F id id ..." after the first (followup.factors
 * at the stop; an index without it has the built-in one): a start with
 * another vocabulary maps them by id, and a case with a factor that was not
 * in the vocabulary is listed by ref only, so its file says which. Buckets with damaged files, or
 * with cases in the journal, are always read. The index is a cache: remove
 * it and every file is read. A case file edited in place (not replaced by a
 * rename) while beredd is stopped is not noticed; remove cases/index after
 * such an edit. */
#define INDEX_NAME "index"
#define INDEX_MAGIC "beredd case index 1\n"
#define INDEX_MAX_SIZE (512u * 1024 * 1024)
#define INDEX_MARGIN_NSEC 20000000 /* ctimes are stamped from a coarse clock */

struct bucket_id {
        uint64_t ino;
        int64_t sec, nsec;
};

static int bucket_stat(struct followup *f, int b, struct bucket_id *ret) {
        char name[3];
        struct stat st;
        snprintf(name, sizeof(name), "%02x", (unsigned) b);
        int r = store_stat(f->store, STORE_CASES, name, &st);
        if (r < 0)
                return r;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        *ret = (struct bucket_id) { .ino = st.st_ino, .sec = st.st_ctim.tv_sec, .nsec = st.st_ctim.tv_nsec };
        return 0;
}

struct outbuf {
        char *p;
        size_t n, cap;
        bool oom;
};

static void out(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct outbuf *o, const char *fmt, ...) {
        for (int tries = 0; tries < 2 && !o->oom; tries++) {
                va_list ap;
                va_start(ap, fmt);
                int k = vsnprintf(o->p ? o->p + o->n : NULL, o->p ? o->cap - o->n : 0, fmt, ap);
                va_end(ap);
                if (k < 0) {
                        o->oom = true;
                        return;
                }
                if (o->p && o->n + (size_t) k < o->cap) {
                        o->n += (size_t) k;
                        return;
                }
                size_t cap = o->cap ? o->cap : 1 << 20;
                while (cap < o->n + (size_t) k + 1)
                        cap *= 2;
                char *p = realloc(o->p, cap);
                if (!p) {
                        o->oom = true;
                        return;
                }
                o->p = p;
                o->cap = cap;
        }
}

/* Whether folder B holds exactly N case files, each one of ours. */
static bool bucket_matches(struct followup *f, int b, uint32_t n) {
        char name[3];
        snprintf(name, sizeof(name), "%02x", (unsigned) b);
        struct store_folder *d;
        if (store_folder_open(f->store, STORE_CASES, name, &d) < 0)
                return false;
        const char *fn;
        uint32_t seen = 0;
        bool ok = true;
        while (ok && (fn = store_folder_next(d))) {
                size_t l = strlen(fn);
                if (!is_case_file(fn))
                        continue;
                char ref[COMMAND_MAX_ID + 1];
                ok = l - 5 < sizeof(ref);
                if (ok) {
                        memcpy(ref, fn, l - 5);
                        ref[l - 5] = '\0';
                        ok = fu_lookup(f, ref) >= 0;
                        seen++;
                }
        }
        store_folder_close(d);
        return ok && seen == n;
}

void fu_index_write(struct followup *f) {
        struct timespec ts;
        struct bucket_id id[256];
        bool ok[256];
        uint32_t *count = calloc(257, sizeof(uint32_t)), *order = calloc(f->n_e ? f->n_e : 1, sizeof(uint32_t));
        uint8_t *bucket_of = calloc(f->n_e ? f->n_e : 1, 1), *coded = calloc(f->n_e ? f->n_e : 1, 1);
        struct outbuf o = {};

        if (!count || !order || !bucket_of || !coded)
                goto out;
        for (uint32_t c = 0; c < FU_CODE_N; c++)
                if (f->codes[c])
                        coded[f->codes[c] - 1] = 1;
        for (uint32_t i = 0; i < f->n_e; i++) {
                char b[3];
                if (f->e[i].ref == NIL)
                        continue;
                store_case_bucket(eref(f, i), b);
                bucket_of[i] = (uint8_t) bucket_no(b);
                count[bucket_of[i] + 1]++;
        }
        for (int b = 0; b < 256; b++)
                count[b + 1] += count[b];
        for (uint32_t i = 0; i < f->n_e; i++)
                if (f->e[i].ref != NIL)
                        order[count[bucket_of[i]]++] = i; /* count[b] ends as the end of bucket b */
        /* A folder changed within a tick of the write could change again
         * with the same ctime: wait out the margin once, then leave out what
         * still is that fresh. */
        for (int pass = 0; pass < 2; pass++) {
                bool fresh = false;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t now = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
                for (int b = 0; b < 256; b++) {
                        ok[b] = !f->bucket_damaged[b] && bucket_stat(f, b, &id[b]) >= 0;
                        if (ok[b] && id[b].sec * 1000000000 + id[b].nsec > now - INDEX_MARGIN_NSEC) {
                                ok[b] = false;
                                fresh = true;
                        }
                }
                if (!fresh)
                        break;
                if (pass == 0)
                        nanosleep(&(struct timespec) { .tv_nsec = INDEX_MARGIN_NSEC + 5000000 }, NULL);
        }
        /* Files put into a folder behind our back (a case restored from a
         * backup while we run) are in the ctime just taken: a folder whose
         * case files are not exactly the ones we know is read at start. */
        for (int b = 0; b < 256; b++)
                if (ok[b])
                        ok[b] = bucket_matches(f, b, count[b] - (b ? count[b - 1] : 0));
        size_t n = 0;
        out(&o, "%s", INDEX_MAGIC);
        const struct followup_conf *fc = &f->cfg->followup;
        out(&o, "F");
        for (size_t k = 0; k < fc->n_factors; k++)
                out(&o, " %s", fc->factors[k].id);
        out(&o, "\n");
        for (int b = 0; b < 256; b++) {
                if (!ok[b])
                        continue;
                out(&o, "B %02x %" PRIu64 " %" PRId64 ".%09" PRId64 "\n", (unsigned) b, id[b].ino, id[b].sec, id[b].nsec);
                for (uint32_t k = b ? count[b - 1] : 0; k < count[b]; k++, n++) {
                        const struct fu_entry *e = &f->e[order[k]];
                        if (E_STATE(e) == FU_OPEN && E_STAGE(e) == FU_STAGE_NONE &&
                            !(e->flags & (E_SENDING | E_UNLISTED)) && !coded[order[k]])
                                out(&o, "%s %" PRId32 " %u %u\n", eref(f, order[k]), e->due, e->level, e->factors);
                        else
                                out(&o, "%s\n", eref(f, order[k]));
                }
        }
        out(&o, "E %zu\n", n);
        if (!o.oom) {
                int r = store_write_atomic(f->store, STORE_CASES, INDEX_NAME, o.p, o.n);
                if (r < 0)
                        log_warning("Follow-up: cannot write cases/index (%s); the next start reads every case file",
                                    strerror(-r));
        }
out:
        if (!count || !order || !bucket_of || !coded || o.oom)
                log_warning("Follow-up: out of memory writing cases/index; the next start reads every case file");
        free(count);
        free(order);
        free(bucket_of);
        free(coded);
        free(o.p);
}

/* The vocabulary of an index: the ids of its "F" line, in bit order. */
struct index_vocab {
        char id[FACTORS_MAX][FACTOR_ID_MAX + 1];
        size_t n;
};

/* The "F id id ..." line LINE (LEN bytes, no newline) into *V, or false. */
static bool index_vocab_line(const char *line, size_t len, struct index_vocab *v) {
        *v = (struct index_vocab) {};
        if (len < 1 || line[0] != 'F')
                return false;
        for (size_t p = 1; p < len;) {
                if (line[p] != ' ' || v->n == FACTORS_MAX)
                        return false;
                size_t q = ++p;
                while (q < len && line[q] != ' ')
                        q++;
                if (q - p > FACTOR_ID_MAX)
                        return false;
                memcpy(v->id[v->n], line + p, q - p);
                v->id[v->n][q - p] = '\0';
                if (!config_factor_id_ok(v->id[v->n]))
                        return false;
                for (size_t k = 0; k < v->n; k++)
                        if (streq(v->id[k], v->id[v->n]))
                                return false;
                v->n++;
                p = q;
        }
        return true;
}

/* An index without an "F" line has the built-in vocabulary. */
static void index_vocab_default(struct index_vocab *v) {
        size_t n;
        const struct factor *d = config_default_factors(&n);
        *v = (struct index_vocab) { .n = n };
        for (size_t k = 0; k < n; k++)
                memcpy(v->id[k], d[k].id, sizeof(v->id[k]));
}

/* MAP[k]: the bit of V's factor k in FC's vocabulary (once per start, not per case). */
static void index_vocab_map(const struct index_vocab *v, const struct followup_conf *fc, uint32_t map[static FACTORS_MAX]) {
        for (size_t k = 0; k < FACTORS_MAX; k++)
                map[k] = k < v->n ? fu_factor_bit(fc, v->id[k]) : FU_UNLISTED;
}

static uint32_t index_bits(const uint32_t map[static FACTORS_MAX], unsigned bits) {
        uint32_t r = 0;
        for (size_t k = 0; bits && k < FACTORS_MAX; k++, bits >>= 1)
                if (bits & 1)
                        r |= map[k];
        return r;
}

/* One index line "ref [due level factors]": its parts, or false. Factor
 * bits are those of a vocabulary of N_FACTORS. */
static bool index_line(char *line, size_t n_factors, char **ref, bool *plain, int32_t *due, unsigned *level,
                       unsigned *factors) {
        char *sp = strchr(line, ' ');
        *ref = line;
        *plain = sp != NULL;
        if (sp) {
                unsigned long v[3];
                char *p = sp + 1;
                *sp = '\0';
                for (int k = 0; k < 3; k++) {
                        if (*p < '0' || *p > '9')
                                return false;
                        v[k] = strtoul(p, &p, 10);
                        if (*p != (k < 2 ? ' ' : '\0'))
                                return false;
                        p += k < 2;
                }
                if (v[0] > 2932896 /* 9999-12-31 */ || v[1] > 255 || v[2] >= (1u << n_factors))
                        return false;
                *due = (int32_t) v[0];
                *level = (unsigned) v[1];
                *factors = (unsigned) v[2];
        }
        return id_is_safe(*ref) && strlen(*ref) <= COMMAND_MAX_ID;
}

/* Why DATA is not a usable index, or NULL: it is used entirely or not at
 * all, so it is checked whole before any of it is used. Its vocabulary in
 * *V, and where its buckets begin in *BODY. */
static const char *index_check(const char *data, size_t len, struct index_vocab *v, size_t *body) {
        const char *why = NULL;
        if (len < strlen(INDEX_MAGIC) || memcmp(data, INDEX_MAGIC, strlen(INDEX_MAGIC)) != 0)
                return "not an index beredd wrote";
        bool seen[256] = {};
        int cur = -1;
        size_t n = 0, expect = SIZE_MAX;
        const char *p = data + strlen(INDEX_MAGIC), *end = data + len;
        index_vocab_default(v);
        if (p < end && p[0] == 'F') {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                if (!nl || !index_vocab_line(p, (size_t) (nl - p), v))
                        return "a bad factor line";
                p = nl + 1;
        }
        *body = (size_t) (p - data);
        while (!why && p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                if (!nl) {
                        why = "truncated";
                        break;
                }
                if (p[0] == 'B' && p[1] == ' ') {
                        char b[3] = { nl - p > 4 ? p[2] : 'x', nl - p > 4 ? p[3] : 'x', '\0' };
                        cur = nl - p > 4 && p[4] == ' ' ? bucket_no(b) : -1;
                        if (cur < 0 || seen[cur])
                                why = "a bad bucket line";
                        else
                                seen[cur] = true;
                } else if (p[0] == 'E' && p[1] == ' ') {
                        char *e;
                        expect = strtoul(p + 2, &e, 10);
                        if (e != nl || nl + 1 != end)
                                why = "a bad end line";
                } else {
                        char tmp[COMMAND_MAX_ID + 64], *ref, b[3];
                        bool plain;
                        int32_t due;
                        unsigned level, factors;
                        size_t l = (size_t) (nl - p);
                        if (cur < 0 || l >= sizeof(tmp)) {
                                why = "a bad case line";
                                break;
                        }
                        memcpy(tmp, p, l);
                        tmp[l] = '\0';
                        if (!index_line(tmp, v->n, &ref, &plain, &due, &level, &factors)) {
                                why = "a bad case line";
                        } else {
                                store_case_bucket(ref, b);
                                if (bucket_no(b) != cur)
                                        why = "a case in the wrong bucket";
                        }
                        n++;
                }
                p = nl + 1;
        }
        if (!why && expect != n)
                why = "incomplete";
        return why;
}

int followup_index_check(const char *data, size_t len) {
        struct index_vocab v;
        size_t body;
        return index_check(data, len, &v, &body) ? -EINVAL : 0;
}

/* The buckets cases/index may stand for (DONE[b] set), loaded. 0 also when
 * there is no usable index; -errno only for what stops the start. */
static int index_load(struct load *ld, bool done[static 256]) {
        struct followup *f = ld->f;
        _cleanup_free_ char *data = NULL;
        size_t len, from_index = 0;
        int r = store_read(f->store, STORE_CASES, INDEX_NAME, INDEX_MAX_SIZE, &data, &len);
        if (r == -ENOENT)
                return 0;
        struct index_vocab vocab;
        size_t body = 0;
        const char *why = r < 0 ? strerror(-r) : index_check(data, len, &vocab, &body);
        if (why) {
                log_warning("Follow-up: cases/index is not usable (%s); reading every case file", why);
                return 0;
        }

        uint32_t map[FACTORS_MAX];
        index_vocab_map(&vocab, &f->cfg->followup, map);
        bool skip[256] = {};
        for (size_t k = 0; k < f->n_dirty; k++) {
                char b[3];
                store_case_bucket(f->dirty[k].ref, b);
                skip[bucket_no(b)] = true;
        }
        struct store_folder *dir = NULL;
        int cur = -1;
        bool use = false;
        for (char *p = data + body, *end = data + len; r >= 0 && p < end;) {
                char *nl = memchr(p, '\n', (size_t) (end - p));
                *nl = '\0';
                if (p[0] == 'B' && p[1] == ' ') {
                        char b[3] = { p[2], p[3], '\0' };
                        struct bucket_id now, was = {};
                        cur = bucket_no(b);
                        use = !skip[cur] &&
                              sscanf(p + 5, "%" SCNu64 " %" SCNd64 ".%" SCNd64, &was.ino, &was.sec, &was.nsec) == 3 &&
                              bucket_stat(f, cur, &now) >= 0 && now.ino == was.ino && now.sec == was.sec &&
                              now.nsec == was.nsec;
                        store_folder_close(dir);
                        dir = NULL;
                        use = use && store_folder_open(f->store, STORE_CASES, b, &dir) >= 0;
                        done[cur] = use;
                } else if (!(p[0] == 'E' && p[1] == ' ') && use) {
                        char *ref, b[3], name[COMMAND_MAX_ID + 8];
                        bool plain;
                        int32_t due;
                        unsigned level, factors;
                        (void) index_line(p, vocab.n, &ref, &plain, &due, &level, &factors); /* checked above */
                        snprintf(b, sizeof(b), "%02x", (unsigned) cur);
                        r = fu_heap_reserve(f, f->queue.n + 1);
                        if (r >= 0 && !plain) {
                                snprintf(name, sizeof(name), "%s.json", ref);
                                r = load_file(ld, dir, b, name);
                        } else if (r >= 0 && fu_lookup(f, ref) < 0) {
                                uint32_t i;
                                struct fu_sched sc = { .state = FU_OPEN, .stage = FU_STAGE_NONE,
                                                       .due = calendar_ymd_from_days(due) };
                                r = load_entry(ld, ref, &sc, index_bits(map, factors), (int) level, false, &i);
                                if (r >= 0)
                                        from_index++;
                        }
                }
                p = nl + 1;
        }
        store_folder_close(dir);
        if (r >= 0)
                log_info("Follow-up: %zu case(s) taken from cases/index without reading their files", from_index);
        return r;
}

/* Every case file of the buckets not DONE. */
static int load_buckets(struct load *ld, const bool done[static 256]) {
        struct followup *f = ld->f;
        struct store_folder *top;
        int r = store_folder_open(f->store, STORE_CASES, NULL, &top);
        if (r < 0)
                return r;
        for (const char *b; r >= 0 && (b = store_folder_next(top));) {
                struct store_folder *d;
                if (bucket_no(b) < 0 || done[bucket_no(b)])
                        continue;
                if (store_folder_open(f->store, STORE_CASES, b, &d) < 0)
                        continue;
                for (const char *name; r >= 0 && (name = store_folder_next(d));) {
                        if (!is_case_file(name))
                                continue;
                        if (fu_heap_reserve(f, f->queue.n + 1) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        r = load_file(ld, d, b, name);
                }
                store_folder_close(d);
        }
        store_folder_close(top);
        return r;
}

int fu_load(struct followup *f, uint64_t now, uint32_t **resend, size_t *n_resend) {
        struct load *ld = calloc(1, sizeof(*ld));
        bool done[256] = {};
        int r;

        if (!ld)
                return -ENOMEM;
        *ld = (struct load) { .f = f, .fr.now = now };
        r = journal_recover(f);
        if (r >= 0)
                r = index_load(ld, done);
        if (r >= 0)
                r = load_buckets(ld, done);
        /* Cases opened since the last fold: only the journal has them. */
        for (size_t k = 0; r >= 0 && k < f->n_dirty; k++) {
                const struct fu_dirty *d = &f->dirty[k];
                char b[3], name[COMMAND_MAX_ID + 8];
                if (fu_lookup(f, d->ref) >= 0)
                        continue;
                store_case_bucket(d->ref, b);
                snprintf(name, sizeof(name), "%s.json", d->ref);
                r = fu_heap_reserve(f, f->queue.n + 1);
                if (r >= 0)
                        r = load_data(ld, b, name, d->data, d->len);
        }
        if (r >= 0)
                fu_heapify(f);
        free(ld->buf);
        *resend = ld->resend;
        *n_resend = ld->n_resend;
        free(ld);
        return r;
}
