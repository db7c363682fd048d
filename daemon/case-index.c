/* case-index.c - the follow-up engine's in-memory index: one 24-byte
 * entry per case (struct fu_entry), the refs in one arena, the ref map
 * (strmap32), the heap of next actions (prioq), the reply-code table, the
 * summary counts with the open cases per due day, and the next actions of
 * cases at start (cached per due day). See followup-internal.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "followup-internal.h"
#include "log.h"
#include "macro.h"

/* ---- per-day counts of open cases (for "due today") ---- */

static struct daycount *day_slot(struct followup *f, int32_t day) {
        uint32_t mask = f->days_cap - 1;
        for (uint32_t s = ((uint32_t) day * 2654435761u) & mask;; s = (s + 1) & mask)
                if (f->days[s].n == 0 && f->days[s].day == INT32_MIN)
                        return &f->days[s];
                else if (f->days[s].day == day)
                        return &f->days[s];
}

static int day_add(struct followup *f, int32_t day, int delta) {
        if (f->days_used * 2 >= f->days_cap) {
                uint32_t cap = f->days_cap ? f->days_cap * 2 : 256;
                struct daycount *old = f->days;
                uint32_t old_cap = f->days_cap;
                f->days = malloc(cap * sizeof(*f->days));
                if (!f->days) {
                        f->days = old;
                        return -ENOMEM;
                }
                for (uint32_t s = 0; s < cap; s++)
                        f->days[s] = (struct daycount) { .day = INT32_MIN };
                f->days_cap = cap;
                f->days_used = 0;
                for (uint32_t s = 0; s < old_cap; s++)
                        if (old[s].n) {
                                *day_slot(f, old[s].day) = old[s];
                                f->days_used++;
                        }
                free(old);
        }
        struct daycount *d = day_slot(f, day);
        if (d->day == INT32_MIN) {
                d->day = day;
                f->days_used++;
        }
        d->n = (uint32_t) ((int64_t) d->n + delta);
        return 0;
}

void fu_account(struct followup *f, uint32_t i, int sign) {
        const struct fu_entry *e = &f->e[i];
        if (E_STATE(e) == FU_CLOSED) {
                f->n_closed += (uint32_t) sign;
                return;
        }
        f->n_open += (uint32_t) sign;
        f->n_escalated += (uint32_t) (E_STATE(e) == FU_ESCALATED ? sign : 0);
        f->n_overdue += (uint32_t) (E_STAGE(e) >= FU_STAGE_SECOND ? sign : 0);
        f->by_level[e->level] += (uint32_t) sign;
        for (int k = 0; k < FACTORS_MAX; k++)
                if (e->factors & (1u << k))
                        f->by_factor[k] += (uint32_t) sign;
        f->n_unlisted += (uint32_t) (e->flags & E_UNLISTED ? sign : 0);
        day_add(f, e->due, sign);
}

/* ---- the heap of next actions ---- */

static uint64_t entry_next(const void *ctx, uint32_t i) {
        const struct followup *f = ctx;
        return f->e[i].next;
}

static uint32_t *entry_heap(void *ctx, uint32_t i) {
        struct followup *f = ctx;
        return &f->e[i].heap;
}

_Static_assert(NIL == PRIOQ_NIL, "an entry out of the heap is NIL to both");
static const struct prioq_ops entry_queue = { .key = entry_next, .idx = entry_heap };

void fu_set_next(struct followup *f, uint32_t i, uint64_t when) {
        struct fu_entry *e = &f->e[i];
        e->next = when;
        if (when == UINT64_MAX) {
                prioq_remove(&f->queue, i);
                return;
        }
        if (e->heap == NIL) {
                if (prioq_put(&f->queue, i) < 0)
                        log_error("Follow-up: out of memory scheduling a case");
        } else {
                prioq_reshuffle(&f->queue, i);
        }
}

int fu_heap_reserve(struct followup *f, uint32_t n) {
        return prioq_reserve(&f->queue, n);
}

void fu_heap_append(struct followup *f, uint32_t i) {
        prioq_append(&f->queue, i);
}

void fu_heapify(struct followup *f) {
        prioq_heapify(&f->queue);
}

/* ---- entries ---- */

static const char *entry_ref(const void *ctx, uint32_t i) {
        return eref(ctx, i);
}

int fu_index_init(struct followup *f) {
        f->free_head = NIL;
        f->refs = (struct strmap32) { .key = entry_ref, .ctx = f };
        f->queue = (struct prioq) { .ops = &entry_queue, .ctx = f };
        f->codes = calloc(FU_CODE_N, sizeof(uint32_t));
        return f->codes ? 0 : -ENOMEM;
}

void fu_index_free(struct followup *f) {
        free(f->e);
        free(f->arena);
        strmap32_clear(&f->refs);
        prioq_clear(&f->queue);
        free(f->codes);
        free(f->days);
}

static int arena_add(struct followup *f, const char *ref, uint32_t *ret) {
        size_t n = strlen(ref) + 1;
        if (f->arena_len + n > f->arena_cap) {
                size_t cap = f->arena_cap ? f->arena_cap * 2 : 64 * 1024;
                while (cap < f->arena_len + n)
                        cap *= 2;
                if (cap > UINT32_MAX)
                        return -ENOMEM;
                char *a = realloc(f->arena, cap);
                if (!a)
                        return -ENOMEM;
                f->arena = a;
                f->arena_cap = cap;
        }
        memcpy(f->arena + f->arena_len, ref, n);
        *ret = (uint32_t) f->arena_len;
        f->arena_len += n;
        return 0;
}

int fu_entry_add(struct followup *f, const char *ref, uint32_t *ret) {
        uint32_t i, off;
        int r;

        if ((r = strmap32_reserve(&f->refs, f->n_live + 1)) < 0) /* the put below cannot fail */
                return r;
        r = arena_add(f, ref, &off);
        if (r < 0)
                return r;
        if (f->free_head != NIL) {
                i = f->free_head;
                f->free_head = f->e[i].heap;
        } else {
                if (f->n_e == f->cap_e) {
                        uint32_t cap = f->cap_e ? f->cap_e * 2 : 1024;
                        struct fu_entry *v = realloc(f->e, cap * sizeof(*v));
                        if (!v)
                                return -ENOMEM;
                        f->e = v;
                        f->cap_e = cap;
                }
                i = f->n_e++;
        }
        f->e[i] = (struct fu_entry) { .next = UINT64_MAX, .ref = off, .heap = NIL };
        (void) strmap32_put(&f->refs, i);
        f->n_live++;
        *ret = i;
        return 0;
}

void fu_entry_remove(struct followup *f, uint32_t i) {
        prioq_remove(&f->queue, i);
        strmap32_remove(&f->refs, eref(f, i));
        f->e[i].ref = NIL;
        f->e[i].heap = f->free_head;
        f->free_head = i;
        f->n_live--;
}

void fu_entry_fill_raw(struct followup *f, uint32_t i, struct ymd due, uint32_t factors, int level,
                           enum fu_state state, enum fu_stage stage, bool sending) {
        struct fu_entry *e = &f->e[i];
        e->due = (int32_t) calendar_days_from_ymd(due);
        e->factors = (uint16_t) (factors & (FU_UNLISTED - 1));
        e->level = (uint8_t) (level > 0 && level < 256 ? level : 0);
        e->flags = (uint8_t) (state | stage << 2 | (sending ? E_SENDING : 0) | (factors & FU_UNLISTED ? E_UNLISTED : 0));
}

static void entry_fill(struct followup *f, uint32_t i, const struct fu_case *c) {
        fu_entry_fill_raw(f, i, c->due, fu_case_factors(&f->cfg->followup, c), c->level, c->state, c->stage,
                          case_sending(c));
}

void fu_entry_init(struct followup *f, uint32_t i, const struct fu_case *c) {
        entry_fill(f, i, c);
        fu_account(f, i, +1);
}

void fu_entry_set(struct followup *f, uint32_t i, const struct fu_case *c) {
        fu_account(f, i, -1);
        entry_fill(f, i, c);
        fu_account(f, i, +1);
}

/* ---- reply codes ---- */

unsigned fu_code_take(struct followup *f, uint32_t i) {
        uint32_t rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                rnd = (uint32_t) rand();
        for (uint32_t k = 0; k < FU_CODE_N; k++) {
                uint32_t s = (rnd + k) % FU_CODE_N;
                if (!f->codes[s]) {
                        f->codes[s] = i + 1;
                        return FU_CODE_MIN + s;
                }
        }
        return 0; /* all taken: reminders go out without a code */
}

void fu_code_release(struct followup *f, unsigned code, uint32_t i) {
        if (code >= FU_CODE_MIN && code < FU_CODE_MIN + FU_CODE_N && f->codes[code - FU_CODE_MIN] == i + 1)
                f->codes[code - FU_CODE_MIN] = 0;
}

/* ---- next actions at start and after a reload ---- */

uint64_t fu_next_cached(struct followup *f, struct fr_cache *fr, const struct fu_sched *sc) {
        if (sc->state != FU_CLOSED && sc->stage == FU_STAGE_NONE) {
                int32_t d = (int32_t) calendar_days_from_ymd(sc->due);
                uint32_t s = (uint32_t) d & 1023;
                if (fr->day[s] != d || fr->t[s] == 0) {
                        fr->day[s] = d;
                        fr->t[s] = fu_first_reminder(&f->cfg->followup, f->cal, sc->due);
                }
                if (fr->t[s] >= fr->now)
                        return fr->t[s];
                /* Already due: now, or at the next opening (as followup_next_action). */
                if (!fr->now_t)
                        fr->now_t = fu_to_office(&f->cfg->followup, f->cal, fr->now);
                return fr->now_t;
        }
        struct fu_sched s = *sc;
        if (!s.now)
                s.now = fr->now;
        return followup_next_action(&f->cfg->followup, f->cal, &s, NULL);
}
