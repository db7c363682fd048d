/* followup-internal.h - what the parts of the follow-up engine share (not
 * for other modules; they use followup.h):
 *
 *   followup.c       the engine: timer, actions, messages, commands, life cycle
 *   followup-rules.c the pure rules and the texts (no I/O, no clock)
 *   case-format.c    a case file's bytes: case_parse, case_json, the fast
 *                    start-up scanner (case_mini_parse)
 *   case-store.c     cases on disk, through store.h: the journal and its
 *                    fold, case reads and writes, loading the buckets at
 *                    start, cases/index
 *   case-index.c     the in-memory index: 24-byte entries, the ref arena and
 *                    map (strmap32), the heap of next actions (prioq), reply
 *                    codes, summary counts
 *
 * Memory: per case one struct fu_entry (24 bytes) in one array, its ref in
 * one arena (NUL-terminated, addressed by offset), a slot in the ref map (4
 * bytes, at most half full) and, while it has a next action, a slot in the
 * heap (4 bytes). Purged cases leave their entry on a free list and their
 * ref bytes in the arena (a few bytes each; the arena is rebuilt at the next
 * start). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "followup.h"
#include "prioq.h"
#include "strmap.h"
#include "time-util.h"

#define FU_CODE_MIN 10000u
#define FU_CODE_N 90000u             /* 10000..99999 */
#define CASE_MAX_SIZE (1024 * 1024)  /* a case file larger than this is damaged */
#define RETRY_USEC (60 * USEC_PER_SEC) /* after a spool error */
#define NIL UINT32_MAX
#define MAX_NOTIFY 16 /* messages of one round; a round has about 9 at most */

/* The journal's fold (see "the case journal" in case-store.c). */
#define FOLD_QUIET (1 * USEC_PER_SEC)
#define FOLD_MAX_AGE (30 * USEC_PER_SEC)
#define FOLD_MAX_DIRTY 50000
#define FOLD_CHUNK 512
#define JOURNAL_MAX_SIZE (1024u * 1024 * 1024)

/* ---- the in-memory index (case-index.c) ---- */

struct fu_entry {
        uint64_t next;    /* next action, UINT64_MAX: none */
        uint32_t ref;     /* offset in the arena; NIL: a free entry */
        uint32_t heap;    /* position in the heap, NIL: not in it; free entries: next free */
        int32_t due;      /* days since 1970-01-01 */
        uint16_t factors;
        uint8_t level;
        uint8_t flags;    /* state | stage << 2 | E_SENDING */
};
_Static_assert(sizeof(struct fu_entry) == 24, "keep the index compact");

#define E_STATE(e) ((enum fu_state) ((e)->flags & 3))
#define E_STAGE(e) ((enum fu_stage) (((e)->flags >> 2) & 3))
#define E_SENDING 0x10 /* its file has a message "sending": handed to a gateway, outcome not yet recorded */
#define E_UNLISTED 0x20 /* it has a factor that is not in followup.factors (any more) */

/* A case's factors as the index holds them: bit K for factor K of the
 * configured vocabulary (followup.factors, in its order), FU_UNLISTED for
 * any factor not in it. The bits follow the vocabulary: a reload that
 * changes it maps them (followup_set_config), cases/index names the
 * vocabulary it was written with. */
#define FU_UNLISTED (1u << FACTORS_MAX)
_Static_assert(FACTORS_MAX <= 16, "struct fu_entry holds 16 factor bits");

/* A case's newest state while only the journal has it. */
struct fu_dirty {
        char *ref;
        char *data; /* the case file's bytes */
        size_t len;
        uint32_t gen; /* the journal it is in */
};

struct fu_result {
        char *key;
        enum gw_result result;
};

struct daycount {
        int32_t day;
        uint32_t n;
};

struct followup {
        sd_event *event;
        struct store *store;
        struct gateways *gw;
        const struct config *cfg;
        const struct calendar *cal;
        fu_event_cb cb;
        void *userdata;

        /* The index (case-index.c). */
        struct fu_entry *e;
        uint32_t n_e, cap_e, free_head;
        char *arena;
        size_t arena_len, arena_cap;
        struct strmap32 refs; /* ref -> entry */
        uint32_t n_live;
        struct prioq queue;   /* entries by next action */
        uint32_t *codes; /* FU_CODE_N slots: entry index + 1 */

        /* Summary counts, kept as cases change. */
        uint32_t n_open, n_escalated, n_overdue, n_closed, n_damaged;
        uint32_t by_level[256];
        uint32_t by_factor[FACTORS_MAX]; /* by position in followup.factors */
        uint32_t n_unlisted;             /* open cases with a factor not in followup.factors */
        struct daycount *days; /* open cases per due day (open addressing) */
        uint32_t days_cap, days_used;

        sd_event_source *timer;
        sd_event_source *post;
        struct fu_result *results;
        size_t n_results, cap_results;

        /* The case journal (see "the case journal" in case-store.c). */
        struct fu_dirty *dirty;
        size_t n_dirty, cap_dirty;
        struct strmap dirty_map;  /* ref -> index in dirty */
        uint32_t jgen;            /* appended to: cases/journal.<jgen> */
        uint32_t jgen_first;      /* the oldest journal that may still be on disk */
        uint32_t fold_gen;        /* a fold in progress covers journals up to this one */
        size_t fold_n, fold_pos;  /* ... and dirty[0..fold_n), done up to fold_pos */
        bool folding;
        uint64_t first_dirty;     /* CLOCK_MONOTONIC of the oldest unfolded record; 0 = none */
        sd_event_source *fold;

        const struct absences *absences; /* NULL: nobody is away (absence.h) */

        bool loaded;               /* the index below may be written at the stop */
        bool bucket_damaged[256];  /* has a damaged file: never in cases/index */
};

/* ---- a case (case-format.c) ---- */

struct fu_notify {
        char key[128];
        char person[COMMAND_MAX_ID + 1];
        enum channel ch;
        char kind[16];
        char state[16];
        uint64_t ts;
        /* A reminder rerouted (a contact person away, followup.h): the
         * contacts this message stands in for and the end of each one's
         * absence, recorded with the message so that a resend after a crash
         * says the same. A "responsible" notice: the responsible contact. */
        char covers[2][COMMAND_MAX_ID + 1];
        uint64_t covers_to[2];
        uint8_t n_covers;
        bool fresh; /* added since the file was read: not yet handed to a gateway (never stored) */
};

struct fu_case {
        char ref[COMMAND_MAX_ID + 1];
        char contacts[2][COMMAND_MAX_ID + 1];
        size_t n_contacts;
        int level;
        json_t *factors; /* the ids as the file has them (strings only): some may not be in followup.factors */
        bool children, task;
        enum fu_state state;
        enum fu_stage stage;
        struct ymd due;
        uint64_t reminded, second, escalated_at, opened, closed;
        char closed_by[COMMAND_MAX_ID + 1];
        char responsible[COMMAND_MAX_ID + 1]; /* "": none; else one of contacts */
        /* The coordinator was told that the responsible contact is away on
         * due date TOLD_DUE (absence TOLD_ABSENCE): not told again for the
         * same due date and absence. */
        char told_absence[COMMAND_MAX_ID + 1];
        struct ymd told_due;
        unsigned code;
        int unreached;
        unsigned seq;
        char *origin;
        struct fu_notify notify[MAX_NOTIFY];
        size_t n_notify;
        json_t *history;
};

/* What the fast scanner reads of a case file: the index fields. */
struct mini {
        char ref[COMMAND_MAX_ID + 1];
        int level;
        uint32_t factors; /* as the index holds them (FU_UNLISTED ...) */
        int state, stage;
        struct ymd due;
        uint64_t reminded, second, closed;
        unsigned code;
        unsigned seen;
};

void case_done(struct fu_case *c);
/* Whether a message of C is "sending" (in a gateway's hands). */
bool case_sending(const struct fu_case *c);
/* Parse a case file. Returns 0 or -EBADMSG (-ENOMEM). */
int case_parse(const char *data, size_t len, struct fu_case *c);
json_t *case_json(const struct fu_case *c);
/* C as the bytes of its file (JSON and a newline), in *RET (caller frees). */
int case_serialize(const struct fu_case *c, char **ret, size_t *ret_len);
/* A date as "YYYY-MM-DD". */
json_t *case_date_json(struct ymd d);
/* The index fields of a file we wrote, its factors as bits of FC's
 * vocabulary, or -1: the full parser must read it. */
int case_mini_parse(const char *p, size_t len, const struct followup_conf *fc, struct mini *m);
/* The bit of factor ID in FC's vocabulary (FU_UNLISTED when it is not in it). */
uint32_t fu_factor_bit(const struct followup_conf *fc, const char *id);
/* The factors of C as bits of FC's vocabulary. */
uint32_t fu_case_factors(const struct followup_conf *fc, const struct fu_case *c);

/* ---- the rules' helpers (followup-rules.c) ---- */

extern const char *const fu_state_names[FU_CLOSED + 1];
extern const char *const fu_stage_names[FU_STAGE_ESCALATED + 1];
/* T, or in office-hours mode the next opening when T is outside office hours. */
uint64_t fu_to_office(const struct followup_conf *fc, const struct calendar *cal, uint64_t t);
/* The instant of the first reminder of a case due on DUE. */
uint64_t fu_first_reminder(const struct followup_conf *fc, const struct calendar *cal, struct ymd due);
/* The date D after NOW: whole days (rounded) from TODAY, shorter ones by the clock. */
struct ymd fu_date_after(const struct calendar *cal, uint64_t now, struct ymd today, uint64_t d);

/* ---- the index (case-index.c) ---- */

/* Set up the empty index: the ref map and the heap read F's entries. 0 or -ENOMEM. */
int fu_index_init(struct followup *f);
void fu_index_free(struct followup *f);

static inline const char *eref(const struct followup *f, uint32_t i) {
        return f->arena + f->e[i].ref;
}

/* The entry of REF, or -1. */
static inline int32_t fu_lookup(const struct followup *f, const char *ref) {
        uint32_t i;
        return strmap32_get(&f->refs, ref, &i) ? (int32_t) i : -1;
}

int fu_entry_add(struct followup *f, const char *ref, uint32_t *ret);
void fu_entry_remove(struct followup *f, uint32_t i);
void fu_entry_fill_raw(struct followup *f, uint32_t i, struct ymd due, uint32_t factors, int level,
                       enum fu_state state, enum fu_stage stage, bool sending);
/* A new entry I takes its index fields from C and counts in the summary. */
void fu_entry_init(struct followup *f, uint32_t i, const struct fu_case *c);
/* Copy the index fields from C into entry I (counts adjusted). */
void fu_entry_set(struct followup *f, uint32_t i, const struct fu_case *c);
/* Add (+1) or remove (-1) entry I's share of the summary counts. */
void fu_account(struct followup *f, uint32_t i, int sign);
/* Set entry I's next action to WHEN and keep the heap in order. */
void fu_set_next(struct followup *f, uint32_t i, uint64_t when);
/* Loading: entry I (its next action set) into the heap, in room reserved
 * with fu_heap_reserve(), in order after fu_heapify(). */
void fu_heap_append(struct followup *f, uint32_t i);
int fu_heap_reserve(struct followup *f, uint32_t n);
void fu_heapify(struct followup *f);
unsigned fu_code_take(struct followup *f, uint32_t i);
void fu_code_release(struct followup *f, unsigned code, uint32_t i);

/* First-reminder instants per due day: most cases share a few hundred days. */
struct fr_cache {
        int32_t day[1024];
        uint64_t t[1024];
        uint64_t now, now_t; /* the present and when a reminder already due goes (0: not yet known) */
};
/* The next action of SC (its NOW unset) as of FR->NOW, which the caller sets. */
uint64_t fu_next_cached(struct followup *f, struct fr_cache *fr, const struct fu_sched *sc);

/* ---- the store (case-store.c) ---- */

/* A change staged for the journal: the case's bytes under its ref. */
struct fu_rec {
        char ref[COMMAND_MAX_ID + 1];
        char *data;
        size_t len;
        int r;
};

static inline struct fu_dirty *dirty_get(const struct followup *f, const char *ref) {
        size_t k;
        return f->n_dirty && strmap_get(&f->dirty_map, ref, &k) ? &f->dirty[k] : NULL;
}

/* Put the changes V[0..N) on disk: appended to the journal with one
 * fdatasync, then kept as dirty. Each V[k].r says how it went; the data of
 * each one written is taken. */
void fu_journal_commit(struct followup *f, struct fu_rec *const *v, size_t n);
/* C as a change for the journal. */
int fu_stage_rec(const struct fu_case *c, struct fu_rec *rec);
/* Read case REF: its dirty copy, else its file. 0 or -errno. */
int fu_case_read(struct followup *f, const char *ref, struct fu_case *c);
/* Write C through the journal (CREATE: refuse when REF has a file already,
 * damaged or not). */
int fu_case_write(struct followup *f, const struct fu_case *c, bool create);
void fu_fold_schedule(struct followup *f);
int fu_on_fold(sd_event_source *s, uint64_t usec, void *userdata);
/* At a clean stop: every change into the case files. */
void fu_fold_all(struct followup *f);
void fu_journal_free(struct followup *f);
/* At start: the journals, cases/index and the bucket folders into the index
 * (as of NOW), the heap in order; the entries with messages in flight in
 * *RESEND (caller frees). 0 or -errno. */
int fu_load(struct followup *f, uint64_t now, uint32_t **resend, size_t *n_resend);
/* At a clean stop, once everything is folded. */
void fu_index_write(struct followup *f);
