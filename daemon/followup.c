/* followup.c - the follow-up engine (see followup.h).
 *
 * Memory: per case one struct fu_entry (24 bytes) in one array, its ref in
 * one arena (NUL-terminated, addressed by offset), a slot in an
 * open-addressing ref hash (4 bytes, at most half full) and, while it has a
 * next action, a slot in the min-heap (4 bytes). Purged cases leave their
 * entry on a free list and their ref bytes in the arena (a few bytes each;
 * the arena is rebuilt at the next start).
 *
 * Case file (cases/ab/<ref>.json):
 *   ref, contacts[], level, factors[], children, task (the children task is
 *   on the reminders), state (open/escalated/closed), due (YYYY-MM-DD), stage
 *   (none/first/second/escalated), reminded/second/escalated_at (usec; 0 =
 *   not yet), code ("48213" or null), unreached_in_row, opened, closed,
 *   closed_by, origin, seq (messages so far), notify[] (the messages of the
 *   current round: key, person, channel, kind, state sending/sent/failed/
 *   unreachable, ts) and history[] (check-ins {ts, by, outcome, next,
 *   level_before, level_after}, level changes, the close). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "activation.h" /* beredd_now() */
#include "followup.h"
#include "log.h"
#include "macro.h"
#include "strmap.h"
#include "wording.h"

#define FU_CODE_MIN 10000u
#define FU_CODE_N 90000u             /* 10000..99999 */
#define CASE_MAX_SIZE (1024 * 1024)  /* a case file larger than this is damaged */
#define KEEP_TRYING_USEC (24 * USEC_PER_HOUR) /* a gateway outage: rounds while still_wanted() */
#define BATCH 200                    /* actions per timer run, so the loop stays responsive */
#define RETRY_USEC (60 * USEC_PER_SEC) /* after a spool error */
#define NIL UINT32_MAX
#define MAX_NOTIFY 16 /* messages of one round; a round has about 9 at most */

/* ---- names ---- */

static const char *const state_names[] = { [FU_OPEN] = "open", [FU_ESCALATED] = "escalated", [FU_CLOSED] = "closed" };
static const char *const stage_names[] = { [FU_STAGE_NONE] = "none", [FU_STAGE_FIRST] = "first",
                                           [FU_STAGE_SECOND] = "second", [FU_STAGE_ESCALATED] = "escalated" };

const char *fu_state_name(enum fu_state s) {
        return (unsigned) s < ELEMENTSOF(state_names) ? state_names[s] : NULL;
}

const char *fu_stage_name(enum fu_stage s) {
        return (unsigned) s < ELEMENTSOF(stage_names) ? stage_names[s] : NULL;
}

static int name_index(const char *const *names, size_t n, const char *s) {
        for (size_t i = 0; s && i < n; i++)
                if (streq(names[i], s))
                        return (int) i;
        return -1;
}

bool followup_is_code(const char *code) {
        if (!code || strlen(code) != 5 || code[0] == '0')
                return false;
        for (const char *p = code; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

/* ---- the pure rules ---- */

static bool heightened(const struct calendar *cal, uint64_t t) {
        struct calendar_local l;
        calendar_local(cal, t, &l);
        return calendar_heightened(cal, l.date) != NULL;
}

static uint64_t scale(const struct followup_conf *fc, uint64_t d, bool height) {
        if (!height || fc->heightened_factor >= 1.0 || fc->heightened_factor <= 0.0)
                return d;
        return (uint64_t) ((double) d * fc->heightened_factor);
}

/* BASE + D; whole days as civil days at the same wall-clock time. */
static uint64_t add_delay(const struct calendar *cal, uint64_t base, uint64_t d) {
        if (d == 0 || d % USEC_PER_DAY != 0)
                return base + d;
        struct calendar_local l;
        calendar_local(cal, base, &l);
        return calendar_from_local(cal, calendar_add_days(l.date, (int64_t) (d / USEC_PER_DAY)), l.day_min) +
               (uint64_t) l.second * USEC_PER_SEC + (uint64_t) l.usec;
}

static uint64_t to_office(const struct followup_conf *fc, const struct calendar *cal, uint64_t t) {
        if (fc->remind != REMIND_OFFICE_HOURS || calendar_is_office(cal, t))
                return t;
        uint64_t o = calendar_next_office_start(cal, t);
        return o == CALENDAR_NEVER ? t : o;
}

static uint64_t first_reminder(const struct followup_conf *fc, const struct calendar *cal, struct ymd due) {
        if (fc->remind == REMIND_OFFICE_HOURS) {
                uint64_t o = calendar_next_office_start(cal, calendar_from_local(cal, due, 0));
                if (o != CALENDAR_NEVER)
                        return o;
        }
        return calendar_from_local(cal, due, 8 * 60);
}

uint64_t followup_next_action(const struct followup_conf *fc, const struct calendar *cal, const struct fu_sched *s,
                              enum fu_action *ret_action) {
        enum fu_action a = FU_ACT_NONE;
        uint64_t t = UINT64_MAX;

        if (s->state == FU_CLOSED) {
                struct calendar_local l;
                calendar_local(cal, s->closed + fc->retention, &l);
                a = FU_ACT_PURGE;
                t = calendar_from_local(cal, calendar_add_days(l.date, 1), 3 * 60);
        } else if (s->stage == FU_STAGE_NONE) {
                a = FU_ACT_REMIND;
                t = first_reminder(fc, cal, s->due);
                if (s->now && t < s->now)
                        t = to_office(fc, cal, s->now);
        } else if (s->stage == FU_STAGE_FIRST) {
                bool h = heightened(cal, s->reminded);
                a = FU_ACT_SECOND;
                t = to_office(fc, cal, add_delay(cal, s->reminded, scale(fc, fc->overdue_after, h)));
        } else if (s->stage == FU_STAGE_SECOND) {
                bool h = heightened(cal, s->reminded);
                uint64_t esc = scale(fc, fc->escalate_after, h), over = scale(fc, fc->overdue_after, h);
                a = FU_ACT_ESCALATE;
                t = to_office(fc, cal, add_delay(cal, s->reminded, esc));
                /* Never sooner after the second reminder than planned. */
                uint64_t after_second = to_office(fc, cal, s->second + (esc > over ? esc - over : 0));
                if (after_second > t)
                        t = after_second;
                if (t <= s->second)
                        t = to_office(fc, cal, s->second + 1);
        }
        if (ret_action)
                *ret_action = a;
        return t;
}

uint64_t followup_interval(const struct followup_conf *fc, const struct calendar *cal, int level, struct ymd today) {
        if (level < 1 || (size_t) level > fc->n_levels)
                return 0;
        return scale(fc, fc->levels[level - 1].every, calendar_heightened(cal, today) != NULL);
}

/* The date D after NOW: whole days (rounded) from TODAY, shorter ones by the clock. */
static struct ymd date_after(const struct calendar *cal, uint64_t now, struct ymd today, uint64_t d) {
        if (d >= USEC_PER_DAY)
                return calendar_add_days(today, (int64_t) ((d + USEC_PER_DAY / 2) / USEC_PER_DAY));
        struct calendar_local l;
        calendar_local(cal, now + d, &l);
        return l.date;
}

static void format_date(struct ymd d, char *buf, size_t len) {
        snprintf(buf, len, "%04d-%02d-%02d", d.y, d.m, d.d);
}

int followup_plan_checkin(const struct followup_conf *fc, const struct calendar *cal,
                          const struct fu_checkin_state *st, enum outcome outcome, const struct ymd *next,
                          uint64_t next_in, int postpone_days, uint64_t now, struct fu_plan *ret, char *err,
                          size_t errlen) {
        struct calendar_local l;
        calendar_local(cal, now, &l);
        struct ymd today = l.date;
        int max = fc->n_levels > 0 ? (int) fc->n_levels : st->level;
        struct fu_plan p = { .level = st->level, .task = st->task, .unreached_in_row = 0 };

        switch (outcome) {
        case OUTCOME_NO_NEEDS:
                p.task = false;
                break;
        case OUTCOME_NEEDS:
                p.level = st->level < max ? st->level + 1 : max;
                p.task = false;
                break;
        case OUTCOME_WORSE:
                /* LEON: absence of improvement is followed by more intensive follow-up. */
                p.level = st->level < max ? st->level + 1 : max;
                if (st->children) {
                        p.task = true;
                        p.tell_children = true;
                }
                break;
        case OUTCOME_BETTER:
                p.level = st->level > 1 ? st->level - 1 : 1;
                p.task = false;
                break;
        case OUTCOME_UNREACHED:
                p.unreached_in_row = st->unreached_in_row + 1;
                p.tell_unreached = fc->unreached_max > 0 && p.unreached_in_row % fc->unreached_max == 0;
                break;
        case OUTCOME_NONE: /* a postponement: nothing learnt */
                p.unreached_in_row = st->unreached_in_row;
                if (postpone_days <= 0) {
                        snprintf(err, errlen, "outcome: missing");
                        return -EINVAL;
                }
                break;
        }

        if (outcome == OUTCOME_UNREACHED) {
                if (calendar_next_working_day(cal, calendar_add_days(today, 1), &p.due) < 0)
                        p.due = calendar_add_days(today, 1);
        } else {
                p.due = date_after(cal, now, today, followup_interval(fc, cal, p.level, today));
        }

        if (next) {
                if (calendar_ymd_cmp(*next, today) < 0) {
                        char d[16];
                        format_date(*next, d, sizeof(d));
                        snprintf(err, errlen, "next: %s is in the past", d);
                        return -EINVAL;
                }
                p.due = *next;
        } else if (next_in > 0)
                p.due = date_after(cal, now, today, next_in);
        else if (postpone_days > 0)
                p.due = calendar_add_days(today, postpone_days);
        *ret = p;
        return 0;
}

/* ---- texts ---- */

static void join_contacts(const char *const *v, size_t n, char *buf, size_t len) {
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n && o < len; i++) {
                int k = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", v[i]);
                if (k < 0)
                        break;
                o += (size_t) k;
        }
}

int followup_text(const struct fu_text_args *a, char *subject, size_t slen, char *text, size_t tlen) {
        bool en = a->lang == LANG_EN;
        char head[256], task[96], reply_long[192], reply_short[128], reply_min[128], who[160];
        int k;

        join_contacts(a->contacts, a->n_contacts, who, sizeof(who));
        switch (a->kind) {
        case FU_TEXT_REMIND:
        case FU_TEXT_SECOND:
                if (a->kind == FU_TEXT_REMIND) {
                        snprintf(head, sizeof(head), a->today ? W(en, W_FU_DUE_TODAY) : W(en, W_FU_OVERDUE), a->ref);
                        snprintf(subject, slen, a->today ? W(en, W_FU_DUE_TODAY_SUBJECT) : W(en, W_FU_OVERDUE_SUBJECT),
                                 a->ref);
                } else {
                        snprintf(head, sizeof(head), W(en, W_FU_SECOND), a->ref);
                        snprintf(subject, slen, W(en, W_FU_SECOND_SUBJECT), a->ref);
                }
                snprintf(task, sizeof(task), "%s", a->task ? W(en, W_FU_TASK_CHILDREN) : "");
                if (a->code) {
                        snprintf(reply_long, sizeof(reply_long), W(en, W_FU_REPLY_LONG), a->code, a->code, a->code);
                        snprintf(reply_short, sizeof(reply_short), W(en, W_FU_REPLY_SHORT), a->code, a->code, a->code);
                        /* The last resort for one SMS: without UTSETT. */
                        snprintf(reply_min, sizeof(reply_min), W(en, W_FU_REPLY_MIN), a->code, a->code);
                } else {
                        reply_long[0] = reply_short[0] = reply_min[0] = '\0';
                }
                k = snprintf(text, tlen, "%s%s%s", head, task, reply_long);
                /* By SMS the longest instruction that keeps one segment. */
                const char *shorter[] = { reply_short, reply_min };
                for (size_t v = 0; v < ELEMENTSOF(shorter) && k >= 0 && (size_t) k < tlen && a->ch == CHANNEL_SMS; v++) {
                        struct text_sms_info info;
                        if (text_sms_count(text, (size_t) k, &info) < 0 || info.segments <= 1)
                                break;
                        k = snprintf(text, tlen, "%s%s%s", head, task, shorter[v]);
                }
                break;
        case FU_TEXT_ESCALATE:
                snprintf(subject, slen, W(en, W_FU_NOT_RECORDED_SUBJECT), a->ref);
                k = snprintf(text, tlen, a->n == 1 ? W(en, W_FU_NOT_RECORDED_DAY) : W(en, W_FU_NOT_RECORDED_DAYS), a->ref,
                             a->n, who);
                break;
        case FU_TEXT_CHILDREN:
                snprintf(subject, slen, W(en, W_FU_CHILDREN_SUBJECT), a->ref);
                k = snprintf(text, tlen, W(en, W_FU_CHILDREN), a->ref, who);
                break;
        case FU_TEXT_UNREACHED:
                snprintf(subject, slen, W(en, W_FU_UNREACHED_SUBJECT), a->ref);
                if (a->n == 1)
                        k = snprintf(text, tlen, W(en, W_FU_UNREACHED_ONCE), a->ref, who);
                else
                        k = snprintf(text, tlen, W(en, W_FU_UNREACHED), a->ref, a->n, who);
                break;
        default:
                return -EINVAL;
        }
        if (k < 0 || (size_t) k >= tlen)
                return -ENOBUFS;
        return 0;
}

/* ---- the engine ---- */

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

        struct fu_entry *e;
        uint32_t n_e, cap_e, free_head;
        char *arena;
        size_t arena_len, arena_cap;
        uint32_t *hash; /* entry index + 1; 0 = empty */
        uint32_t hash_cap, n_live;
        uint32_t *heap;
        uint32_t n_heap, cap_heap;
        uint32_t *codes; /* FU_CODE_N slots: entry index + 1 */

        /* Summary counts, kept as cases change. */
        uint32_t n_open, n_escalated, n_overdue, n_closed, n_damaged;
        uint32_t by_level[256];
        uint32_t by_factor[_FACTOR_MAX];
        struct daycount *days; /* open cases per due day (open addressing) */
        uint32_t days_cap, days_used;

        sd_event_source *timer;
        sd_event_source *post;
        struct fu_result *results;
        size_t n_results, cap_results;

        /* The case journal (see "the case journal" below). */
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

        bool loaded;               /* the index below may be written at the stop */
        bool bucket_damaged[256];  /* has a damaged file: never in cases/index */
};

struct fu_notify {
        char key[128];
        char person[COMMAND_MAX_ID + 1];
        enum channel ch;
        char kind[16];
        char state[16];
        uint64_t ts;
        bool fresh; /* added since the file was read: not yet handed to a gateway (never stored) */
};

struct fu_case {
        char ref[COMMAND_MAX_ID + 1];
        char contacts[2][COMMAND_MAX_ID + 1];
        size_t n_contacts;
        int level;
        uint32_t factors;
        bool children, task;
        enum fu_state state;
        enum fu_stage stage;
        struct ymd due;
        uint64_t reminded, second, escalated_at, opened, closed;
        char closed_by[COMMAND_MAX_ID + 1];
        unsigned code;
        int unreached;
        unsigned seq;
        char *origin;
        struct fu_notify notify[MAX_NOTIFY];
        size_t n_notify;
        json_t *history;
};

static void case_done(struct fu_case *c) {
        free(c->origin);
        json_decref(c->history);
        c->origin = NULL;
        c->history = NULL;
}

static void emit(struct followup *f, const char *type, int level, const char *detail) {
        struct fu_event ev = { .type = type, .level = level, .detail = detail, .ts = beredd_now() };
        if (f->cb)
                f->cb(f->userdata, &ev);
}

static struct ymd today_of(const struct followup *f, uint64_t now) {
        struct calendar_local l;
        calendar_local(f->cal, now, &l);
        return l.date;
}

static const char *eref(const struct followup *f, uint32_t i) {
        return f->arena + f->e[i].ref;
}

/* ---- ref hash ---- */

static uint64_t hash_ref(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                h ^= *p;
                h *= UINT64_C(1099511628211);
        }
        return h;
}

static uint32_t *hash_find(struct followup *f, const char *ref) {
        uint32_t mask = f->hash_cap - 1;
        for (uint32_t s = (uint32_t) hash_ref(ref) & mask;; s = (s + 1) & mask)
                if (f->hash[s] == 0 || streq(eref(f, f->hash[s] - 1), ref))
                        return &f->hash[s];
}

static int hash_grow(struct followup *f) {
        uint32_t cap = f->hash_cap ? f->hash_cap * 2 : 1024;
        uint32_t *old = f->hash, old_cap = f->hash_cap;
        f->hash = calloc(cap, sizeof(uint32_t));
        if (!f->hash) {
                f->hash = old;
                return -ENOMEM;
        }
        f->hash_cap = cap;
        for (uint32_t s = 0; s < old_cap; s++)
                if (old[s])
                        *hash_find(f, eref(f, old[s] - 1)) = old[s];
        free(old);
        return 0;
}

/* Linear probing with backward-shift deletion: no tombstones. */
static void hash_delete(struct followup *f, uint32_t *slot) {
        uint32_t mask = f->hash_cap - 1, i = (uint32_t) (slot - f->hash), j = i;
        f->hash[i] = 0;
        for (;;) {
                j = (j + 1) & mask;
                if (f->hash[j] == 0)
                        return;
                uint32_t k = (uint32_t) hash_ref(eref(f, f->hash[j] - 1)) & mask;
                bool move = i <= j ? (k <= i || k > j) : (k <= i && k > j);
                if (move) {
                        f->hash[i] = f->hash[j];
                        f->hash[j] = 0;
                        i = j;
                }
        }
}

static int32_t lookup(struct followup *f, const char *ref) {
        if (!f->hash_cap)
                return -1;
        uint32_t v = *hash_find(f, ref);
        return v ? (int32_t) (v - 1) : -1;
}

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

/* Add (+1) or remove (-1) entry I's share of the summary counts. */
static void account(struct followup *f, uint32_t i, int sign) {
        const struct fu_entry *e = &f->e[i];
        if (E_STATE(e) == FU_CLOSED) {
                f->n_closed += (uint32_t) sign;
                return;
        }
        f->n_open += (uint32_t) sign;
        f->n_escalated += (uint32_t) (E_STATE(e) == FU_ESCALATED ? sign : 0);
        f->n_overdue += (uint32_t) (E_STAGE(e) >= FU_STAGE_SECOND ? sign : 0);
        f->by_level[e->level] += (uint32_t) sign;
        for (int k = 0; k < _FACTOR_MAX; k++)
                if (e->factors & (1u << k))
                        f->by_factor[k] += (uint32_t) sign;
        day_add(f, e->due, sign);
}

/* ---- heap of next actions ---- */

static bool heap_less(const struct followup *f, uint32_t a, uint32_t b) {
        return f->e[f->heap[a]].next < f->e[f->heap[b]].next;
}

static void heap_swap(struct followup *f, uint32_t a, uint32_t b) {
        uint32_t t = f->heap[a];
        f->heap[a] = f->heap[b];
        f->heap[b] = t;
        f->e[f->heap[a]].heap = a;
        f->e[f->heap[b]].heap = b;
}

static void heap_up(struct followup *f, uint32_t p) {
        while (p > 0 && heap_less(f, p, (p - 1) / 2)) {
                heap_swap(f, p, (p - 1) / 2);
                p = (p - 1) / 2;
        }
}

static void heap_down(struct followup *f, uint32_t p) {
        for (;;) {
                uint32_t l = 2 * p + 1, r = l + 1, m = p;
                if (l < f->n_heap && heap_less(f, l, m))
                        m = l;
                if (r < f->n_heap && heap_less(f, r, m))
                        m = r;
                if (m == p)
                        return;
                heap_swap(f, p, m);
                p = m;
        }
}

static void heap_remove(struct followup *f, uint32_t i) {
        uint32_t p = f->e[i].heap;
        if (p == NIL)
                return;
        f->e[i].heap = NIL;
        if (--f->n_heap == p)
                return;
        uint32_t moved = f->heap[f->n_heap];
        f->heap[p] = moved;
        f->e[moved].heap = p;
        heap_up(f, p);
        heap_down(f, f->e[moved].heap);
}

static int heap_reserve(struct followup *f, uint32_t n) {
        if (n <= f->cap_heap)
                return 0;
        uint32_t cap = f->cap_heap ? f->cap_heap : 1024;
        while (cap < n)
                cap *= 2;
        uint32_t *v = realloc(f->heap, cap * sizeof(uint32_t));
        if (!v)
                return -ENOMEM;
        f->heap = v;
        f->cap_heap = cap;
        return 0;
}

static void arm_timer(struct followup *f);

/* Set entry I's next action to WHEN and keep the heap in order. */
static void set_next(struct followup *f, uint32_t i, uint64_t when) {
        struct fu_entry *e = &f->e[i];
        e->next = when;
        if (when == UINT64_MAX) {
                heap_remove(f, i);
                return;
        }
        if (e->heap == NIL) {
                if (heap_reserve(f, f->n_heap + 1) < 0) {
                        log_error("Follow-up: out of memory scheduling a case");
                        return;
                }
                e->heap = f->n_heap;
                f->heap[f->n_heap++] = i;
                heap_up(f, e->heap);
        } else {
                heap_up(f, e->heap);
                heap_down(f, e->heap);
        }
}

static void heapify(struct followup *f) {
        for (uint32_t p = f->n_heap / 2; p-- > 0;)
                heap_down(f, p);
}

/* ---- entries ---- */

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

static int entry_add(struct followup *f, const char *ref, uint32_t *ret) {
        uint32_t i, off;
        int r;

        if ((f->n_live + 1) * 2 > f->hash_cap && (r = hash_grow(f)) < 0)
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
        *hash_find(f, ref) = i + 1;
        f->n_live++;
        *ret = i;
        return 0;
}

static void entry_remove(struct followup *f, uint32_t i) {
        heap_remove(f, i);
        hash_delete(f, hash_find(f, eref(f, i)));
        f->e[i].ref = NIL;
        f->e[i].heap = f->free_head;
        f->free_head = i;
        f->n_live--;
}

static void entry_fill_raw(struct followup *f, uint32_t i, struct ymd due, uint32_t factors, int level,
                           enum fu_state state, enum fu_stage stage, bool sending) {
        struct fu_entry *e = &f->e[i];
        e->due = (int32_t) calendar_days_from_ymd(due);
        e->factors = (uint16_t) factors;
        e->level = (uint8_t) (level > 0 && level < 256 ? level : 0);
        e->flags = (uint8_t) (state | stage << 2 | (sending ? E_SENDING : 0));
}

static bool case_sending(const struct fu_case *c) {
        for (size_t k = 0; k < c->n_notify; k++)
                if (streq(c->notify[k].state, "sending"))
                        return true;
        return false;
}

static void entry_fill(struct followup *f, uint32_t i, const struct fu_case *c) {
        entry_fill_raw(f, i, c->due, c->factors, c->level, c->state, c->stage, case_sending(c));
}

/* A new entry I takes its index fields from C and counts in the summary. */
static void entry_init(struct followup *f, uint32_t i, const struct fu_case *c) {
        entry_fill(f, i, c);
        account(f, i, +1);
}

/* Copy the index fields from C into entry I (counts adjusted). */
static void entry_set(struct followup *f, uint32_t i, const struct fu_case *c) {
        account(f, i, -1);
        entry_fill(f, i, c);
        account(f, i, +1);
}

static struct fu_sched sched_of(const struct fu_case *c, uint64_t now) {
        return (struct fu_sched) { .state = c->state, .stage = c->stage, .due = c->due, .reminded = c->reminded,
                                   .second = c->second, .closed = c->closed, .now = now };
}

static void reschedule(struct followup *f, uint32_t i, const struct fu_case *c) {
        struct fu_sched s = sched_of(c, beredd_now());
        set_next(f, i, followup_next_action(&f->cfg->followup, f->cal, &s, NULL));
        arm_timer(f);
}

/* ---- reply codes ---- */

static unsigned code_take(struct followup *f, uint32_t i) {
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

static void code_release(struct followup *f, unsigned code, uint32_t i) {
        if (code >= FU_CODE_MIN && code < FU_CODE_MIN + FU_CODE_N && f->codes[code - FU_CODE_MIN] == i + 1)
                f->codes[code - FU_CODE_MIN] = 0;
}

/* ---- case files ---- */

static void case_name(const char *ref, char *buf, size_t len) {
        char bucket[3];
        store_case_bucket(ref, bucket);
        snprintf(buf, len, "%s/%s.json", bucket, ref);
}

static uint64_t jts(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);
        return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t) json_integer_value(v) : 0;
}

static void jcopy(json_t *o, const char *k, char *buf, size_t len) {
        const char *s = json_string_value(json_object_get(o, k));
        snprintf(buf, len, "%s", s ? s : "");
}

/* Parse a case file. Returns 0 or -EBADMSG. */
static int case_parse(const char *data, size_t len, struct fu_case *c) {
        json_error_t jerr;
        json_t *o = json_loadb(data, len, 0, &jerr);
        int r = -EBADMSG;
        int k;

        *c = (struct fu_case) {};
        if (!json_is_object(o))
                goto out;
        jcopy(o, "ref", c->ref, sizeof(c->ref));
        if (!id_is_safe(c->ref))
                goto out;
        json_t *v, *arr = json_object_get(o, "contacts");
        size_t idx;
        json_array_foreach(arr, idx, v) {
                if (c->n_contacts < 2 && json_is_string(v))
                        snprintf(c->contacts[c->n_contacts++], sizeof(c->contacts[0]), "%s", json_string_value(v));
        }
        c->level = (int) json_integer_value(json_object_get(o, "level"));
        if (c->level < 1 || c->level > 255)
                goto out;
        json_array_foreach(json_object_get(o, "factors"), idx, v) {
                int fct = factor_from_name(json_string_value(v));
                if (fct >= 0)
                        c->factors |= 1u << fct;
        }
        c->children = json_is_true(json_object_get(o, "children"));
        c->task = json_is_true(json_object_get(o, "task"));
        k = name_index(state_names, ELEMENTSOF(state_names), json_string_value(json_object_get(o, "state")));
        if (k < 0)
                goto out;
        c->state = (enum fu_state) k;
        k = name_index(stage_names, ELEMENTSOF(stage_names), json_string_value(json_object_get(o, "stage")));
        if (k < 0)
                goto out;
        c->stage = (enum fu_stage) k;
        if (config_parse_date(json_string_value(json_object_get(o, "due")), &c->due) < 0)
                goto out;
        c->reminded = jts(o, "reminded");
        c->second = jts(o, "second");
        c->escalated_at = jts(o, "escalated_at");
        c->opened = jts(o, "opened");
        c->closed = jts(o, "closed");
        jcopy(o, "closed_by", c->closed_by, sizeof(c->closed_by));
        const char *code = json_string_value(json_object_get(o, "code"));
        c->code = followup_is_code(code) ? (unsigned) atoi(code) : 0;
        c->unreached = (int) json_integer_value(json_object_get(o, "unreached_in_row"));
        c->seq = (unsigned) json_integer_value(json_object_get(o, "seq"));
        const char *origin = json_string_value(json_object_get(o, "origin"));
        if (origin && !(c->origin = strdup(origin))) {
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach(json_object_get(o, "notify"), idx, v) {
                if (c->n_notify >= MAX_NOTIFY)
                        break;
                struct fu_notify *n = &c->notify[c->n_notify++];
                jcopy(v, "key", n->key, sizeof(n->key));
                jcopy(v, "person", n->person, sizeof(n->person));
                jcopy(v, "kind", n->kind, sizeof(n->kind));
                jcopy(v, "state", n->state, sizeof(n->state));
                const char *ch = json_string_value(json_object_get(v, "channel"));
                n->ch = ch && streq(ch, "email") ? CHANNEL_EMAIL : CHANNEL_SMS;
                n->ts = jts(v, "ts");
        }
        c->history = json_incref(json_object_get(o, "history"));
        if (!json_is_array(c->history)) {
                json_decref(c->history);
                c->history = json_array();
        }
        r = 0;
out:
        json_decref(o);
        if (r < 0)
                case_done(c);
        return r;
}

static json_t *jdate(struct ymd d) {
        char buf[16];
        format_date(d, buf, sizeof(buf));
        return json_string(buf);
}

static json_t *case_json(const struct fu_case *c) {
        json_t *contacts = json_array(), *factors = json_array(), *notify = json_array();
        for (size_t i = 0; i < c->n_contacts; i++)
                json_array_append_new(contacts, json_string(c->contacts[i]));
        for (int k = 0; k < _FACTOR_MAX; k++)
                if (c->factors & (1u << k))
                        json_array_append_new(factors, json_string(factor_name(k)));
        for (size_t i = 0; i < c->n_notify; i++) {
                const struct fu_notify *n = &c->notify[i];
                json_array_append_new(notify, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "key", n->key, "person",
                                                        n->person, "channel", channel_name(n->ch), "kind", n->kind,
                                                        "state", n->state, "ts", (json_int_t) n->ts));
        }
        char code[8];
        snprintf(code, sizeof(code), "%u", c->code);
        json_t *o = json_pack("{s:s, s:o, s:i, s:o, s:b, s:b, s:s, s:o, s:s, s:I, s:I, s:I, s:o, s:i, s:I, s:I}", "ref",
                              c->ref, "contacts", contacts, "level", c->level, "factors", factors, "children",
                              c->children, "task", c->task, "state", state_names[c->state], "due", jdate(c->due),
                              "stage", stage_names[c->stage], "reminded", (json_int_t) c->reminded, "second",
                              (json_int_t) c->second, "escalated_at", (json_int_t) c->escalated_at, "code",
                              c->code ? json_string(code) : json_null(), "unreached_in_row", c->unreached, "opened",
                              (json_int_t) c->opened, "closed", (json_int_t) c->closed);
        if (!o)
                return NULL;
        json_object_set_new(o, "closed_by", c->closed_by[0] ? json_string(c->closed_by) : json_null());
        json_object_set_new(o, "origin", c->origin ? json_string(c->origin) : json_null());
        json_object_set_new(o, "seq", json_integer(c->seq));
        json_object_set_new(o, "notify", notify);
        json_object_set(o, "history", c->history ? c->history : json_array());
        return o;
}

/* C as the bytes of its file (JSON and a newline), in *RET (caller frees). */
static int case_serialize(const struct fu_case *c, char **ret, size_t *ret_len) {
        json_t *o = case_json(c);
        if (!o)
                return -ENOMEM;
        char *s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        size_t n = strlen(s);
        s[n] = '\n'; /* replaces the NUL: the buffer is not a C string from here */
        *ret = s;
        *ret_len = n + 1;
        return 0;
}

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
#define FOLD_QUIET (1 * USEC_PER_SEC)
#define FOLD_MAX_AGE (30 * USEC_PER_SEC)
#define FOLD_MAX_DIRTY 50000
#define FOLD_CHUNK 512
#define JOURNAL_MAX_SIZE (1024u * 1024 * 1024)

/* A change staged for the journal: the case's bytes under its ref. */
struct fu_rec {
        char ref[COMMAND_MAX_ID + 1];
        char *data;
        size_t len;
        int r;
};

/* A due action whose case is written with others in one journal commit (a
 * burst of reminders at office start): prepared, committed, finished. */
struct fu_staged {
        struct fu_case c;
        enum fu_action a;
        struct fu_rec rec;
};

static void journal_name(uint32_t gen, char *buf, size_t len) {
        snprintf(buf, len, "journal.%" PRIu32, gen);
}

static struct fu_dirty *dirty_get(const struct followup *f, const char *ref) {
        size_t k;
        return f->n_dirty && strmap_get(&f->dirty_map, ref, &k) ? &f->dirty[k] : NULL;
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

static void fold_schedule(struct followup *f);

/* Put the changes V[0..N) on disk: appended to the journal with one
 * fdatasync, then kept as dirty. Each V[k].r says how it went; the data of
 * each one written is taken. */
static void journal_commit(struct followup *f, struct fu_rec *const *v, size_t n) {
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
                fold_schedule(f);
}

static void fold_schedule(struct followup *f) {
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

static int on_fold(sd_event_source *s, uint64_t usec, void *userdata) {
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
        fold_schedule(f);
        return 0;
}

/* At a clean stop: every change into the case files. */
static void fold_all(struct followup *f) {
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
        int cfd = openat(store_dirfd(f->store, STORE_CASES), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = cfd >= 0 ? fdopendir(cfd) : NULL;
        if (!d) {
                int r = negative_errno();
                if (cfd >= 0)
                        close(cfd);
                return r;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *g = de->d_name + 8;
                char *end;
                if (strncmp(de->d_name, "journal.", 8) != 0)
                        continue;
                unsigned long v = *g >= '1' && *g <= '9' ? strtoul(g, &end, 10) : 0;
                if (v == 0 || *end || v >= UINT32_MAX / 2) {
                        log_warning("cases/%s: not a journal beredd writes; left alone", de->d_name);
                        continue;
                }
                uint32_t *nv = realloc(gens, (n + 1) * sizeof(*nv));
                if (!nv) {
                        closedir(d);
                        return -ENOMEM;
                }
                gens = nv;
                gens[n++] = (uint32_t) v;
        }
        closedir(d);
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
                int r = store_read(f->store, STORE_CASES, name, JOURNAL_MAX_SIZE, &data, &len);
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

/* C as a change for the journal. */
static int stage_rec(const struct fu_case *c, struct fu_rec *rec) {
        snprintf(rec->ref, sizeof(rec->ref), "%s", c->ref);
        return case_serialize(c, &rec->data, &rec->len);
}

static int case_read(struct followup *f, const char *ref, struct fu_case *c) {
        const struct fu_dirty *d = dirty_get(f, ref);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;
        if (d) {
                r = case_parse(d->data, d->len, c);
        } else {
                char name[128];
                case_name(ref, name, sizeof(name));
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

/* Write C through the journal (CREATE: refuse when REF has a file already,
 * damaged or not). */
static int case_write(struct followup *f, const struct fu_case *c, bool create) {
        struct fu_rec rec = {}, *v[1] = { &rec };
        int r;
        if (create) {
                char name[128];
                struct stat st;
                if ((r = store_case_relpath(f->store, c->ref, name, sizeof(name))) < 0)
                        return r;
                if (dirty_get(f, c->ref))
                        return -EEXIST;
                if (fstatat(store_dirfd(f->store, STORE_CASES), name, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        return -EEXIST;
                if (errno != ENOENT)
                        return negative_errno();
        }
        if ((r = stage_rec(c, &rec)) < 0)
                return r;
        journal_commit(f, v, 1);
        free(rec.data);
        return rec.r;
}

/* ---- messages ---- */

static void on_gw_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                       const char *error, const char *provider_ref);

static int add_notify(struct followup *f, struct fu_case *c, const char *person, const char *kind, uint64_t now) {
        const struct person *p = config_person(f->cfg, person);
        if (c->n_notify >= MAX_NOTIFY) /* a round never has that many: drop the oldest */
                memmove(&c->notify[0], &c->notify[1], --c->n_notify * sizeof(c->notify[0]));
        struct fu_notify *n = &c->notify[c->n_notify++];
        *n = (struct fu_notify) { .ch = p && !p->phone && p->email ? CHANNEL_EMAIL : CHANNEL_SMS, .ts = now };
        /* Unique over the life of the spool: the same ref may be opened again
         * after a purge, so the opening instant is part of the key. */
        char key[sizeof(n->key)], who[sizeof(n->person)], k[sizeof(n->kind)];
        snprintf(key, sizeof(key), "fu.%s.%" PRIu64 ".%u", c->ref, c->opened / USEC_PER_SEC, c->seq++);
        snprintf(who, sizeof(who), "%s", person); /* PERSON may point into C */
        snprintf(k, sizeof(k), "%s", kind);
        memcpy(n->key, key, sizeof(key));
        memcpy(n->person, who, sizeof(who));
        memcpy(n->kind, k, sizeof(k));
        snprintf(n->state, sizeof(n->state), "sending");
        n->fresh = true;
        return 0;
}

static void push_result(struct followup *f, const char *key, enum gw_result result) {
        if (f->n_results == f->cap_results) {
                size_t cap = f->cap_results ? f->cap_results * 2 : 64;
                struct fu_result *v = realloc(f->results, cap * sizeof(*v));
                if (!v)
                        return;
                f->results = v;
                f->cap_results = cap;
        }
        char *k = strdup(key);
        if (!k)
                return;
        f->results[f->n_results++] = (struct fu_result) { .key = k, .result = result };
        sd_event_source_set_enabled(f->post, SD_EVENT_ONESHOT);
}

static bool key_ref(const char *key, char *ref, size_t len);

/* Asked by a gateway before it tries a reminder again after an outage: only
 * while the case is still followed up. */
static bool still_wanted(void *userdata, const char *key) {
        struct followup *f = userdata;
        char ref[COMMAND_MAX_ID + 1];
        if (!key_ref(key, ref, sizeof(ref)))
                return false;
        int32_t idx = lookup(f, ref);
        return idx >= 0 && E_STATE(&f->e[idx]) != FU_CLOSED;
}

/* Hand the notifications of C still "sending" to a gateway: only those added
 * since C was read (FRESH_ONLY), or every one (at start: the ones in flight
 * when the daemon stopped). Older "sending" ones of a running daemon are in
 * a gateway's hands already; sending them again would be a duplicate. The
 * file says "sending" already (write-ahead); outcomes come back through
 * on_gw_done. */
/* The client reference providers get for reminder KEY ("fu.<case>...",
 * which names the case): "fu." and 32 hex digits of its SHA-256, the same in
 * a resend. OUT holds 36 bytes. */
static void client_ref(const char *key, char out[static 36]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        memcpy(out, "fu.", 4);
        if (EVP_Digest(key, strlen(key), md, &len, EVP_sha256(), NULL) != 1 || len < 16)
                return; /* "fu." alone: still no case reference */
        for (unsigned i = 0; i < 16; i++)
                snprintf(out + 3 + 2 * i, 3, "%02x", md[i]);
}

static void dispatch(struct followup *f, const struct fu_case *c, uint64_t now, bool fresh_only) {
        const char *contacts[2] = { c->contacts[0], c->contacts[1] };
        struct ymd today = today_of(f, now);
        for (size_t i = 0; i < c->n_notify; i++) {
                const struct fu_notify *n = &c->notify[i];
                if (!streq(n->state, "sending") || (fresh_only && !n->fresh))
                        continue;
                const struct person *p = config_person(f->cfg, n->person);
                enum fu_text kind = streq(n->kind, "reminder")     ? FU_TEXT_REMIND
                                    : streq(n->kind, "second")     ? FU_TEXT_SECOND
                                    : streq(n->kind, "escalation") ? FU_TEXT_ESCALATE
                                    : streq(n->kind, "children")   ? FU_TEXT_CHILDREN
                                                                   : FU_TEXT_UNREACHED;
                char code[8], subject[256], text[1024];
                snprintf(code, sizeof(code), "%u", c->code);
                int days = c->reminded && now > c->reminded ?
                                   (int) ((now - c->reminded + USEC_PER_DAY / 2) / USEC_PER_DAY) : 0;
                struct fu_text_args a = {
                        .kind = kind, .lang = p ? p->lang : f->cfg->lang, .ch = n->ch, .ref = c->ref,
                        .code = c->code ? code : NULL, .task = c->task, .today = calendar_ymd_cmp(c->due, today) == 0,
                        .n = kind == FU_TEXT_UNREACHED ? c->unreached : days > 0 ? days : 1,
                        .contacts = contacts, .n_contacts = c->n_contacts,
                };
                int r = followup_text(&a, subject, sizeof(subject), text, sizeof(text));
                char cref[40];
                client_ref(n->key, cref);
                struct gw_message m = {
                        .key = n->key, .ref = cref, .channel = n->ch, .person = n->person,
                        .to = !p ? NULL : n->ch == CHANNEL_SMS ? p->phone : p->email,
                        .subject = n->ch == CHANNEL_EMAIL ? subject : NULL, .text = text,
                        .keep_trying = KEEP_TRYING_USEC, .wanted = still_wanted,
                };
                if (r >= 0 && m.to)
                        r = gateway_send(f->gw, &m, on_gw_done, f);
                else if (r >= 0)
                        r = -ENOENT;
                if (r < 0) /* reported from the loop like any failure */
                        push_result(f, n->key, GW_UNREACHABLE);
        }
}

/* "fu.<ref>.<opened>.<seq>" -> ref */
static bool key_ref(const char *key, char *ref, size_t len) {
        if (strncmp(key, "fu.", 3) != 0)
                return false;
        const char *end = strrchr(key, '.');
        if (!end || end < key + 3)
                return false;
        const char *p = end - 1;
        while (p > key + 3 && *p != '.')
                p--;
        if (p <= key + 3 || (size_t) (p - (key + 3)) >= len)
                return false;
        memcpy(ref, key + 3, (size_t) (p - (key + 3)));
        ref[p - (key + 3)] = '\0';
        return true;
}

static void on_gw_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                       const char *error, const char *provider_ref) {
        (void) gateway_id;
        (void) error;
        (void) provider_ref;
        push_result(userdata, key, result);
}

static int cmp_results(const void *x, const void *y) {
        const struct fu_result *a = x, *b = y;
        return strcmp(a->key, b->key);
}

/* ---- the timer ---- */

static int64_t clock_offset(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) beredd_now() - ((int64_t) ts.tv_sec * (int64_t) USEC_PER_SEC + ts.tv_nsec / 1000);
}

static void arm_timer(struct followup *f) {
        if (!f->timer)
                return;
        if (f->n_heap == 0) {
                sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
                return;
        }
        int64_t when = (int64_t) f->e[f->heap[0]].next - clock_offset();
        sd_event_source_set_time(f->timer, when > 1 ? (uint64_t) when : 1);
        sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT);
}

static const char *who_of(const struct followup *f) {
        return f->cfg->followup.coordinator;
}

/* The changes of V[0..N) into the journal, in one commit. */
static void staged_commit(struct followup *f, struct fu_staged *v, size_t n) {
        struct fu_rec **p = n > 0 ? malloc(n * sizeof(*p)) : NULL;
        for (size_t k = 0; k < n; k++)
                if (p)
                        p[k] = &v[k].rec;
                else
                        v[k].rec.r = -ENOMEM;
        if (p)
                journal_commit(f, p, n);
        free(p);
}

static void act_finish(struct followup *f, struct fu_staged *st, uint64_t now);

/* Prepare entry I's due action: the case with its new stage and message keys,
 * serialized into ST, not yet on disk. Returns 1 for a purge (done here), 2
 * when ST holds an action to commit, 0 otherwise. */
static int act_prepare(struct followup *f, uint32_t i, uint64_t now, struct fu_staged *st) {
        const struct followup_conf *fc = &f->cfg->followup;
        char ref[COMMAND_MAX_ID + 1];
        struct fu_case c;
        int r;

        *st = (struct fu_staged) {};
        snprintf(ref, sizeof(ref), "%s", eref(f, i));
        if (E_STATE(&f->e[i]) == FU_CLOSED) {
                char name[128];
                if (dirty_get(f, ref)) { /* its journal record would bring it back: after the fold */
                        set_next(f, i, now + FOLD_MAX_AGE + USEC_PER_SEC);
                        return 0;
                }
                case_name(ref, name, sizeof(name));
                r = store_remove(f->store, STORE_CASES, name);
                if (r < 0 && r != -ENOENT) {
                        log_error_errno(r, "Follow-up: cannot purge a closed case: %m; will retry");
                        set_next(f, i, now + RETRY_USEC);
                        return 0;
                }
                /* Only closed cases are purged; a read below would say the same. */
                account(f, i, -1);
                entry_remove(f, i);
                return 1;
        }

        r = case_read(f, ref, &c);
        if (r == -ENOENT) { /* removed behind our back: say so loudly, once */
                char bucket[3]; /* the folder, not the file: its name is the case reference */
                store_case_bucket(ref, bucket);
                log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL, "A case file in cases/%s/ is gone; that case is no longer followed up",
                          bucket);
                account(f, i, -1);
                entry_remove(f, i);
                return 0;
        }
        if (r < 0) {
                char bucket[3];
                store_case_bucket(ref, bucket);
                log_error_errno(r, "Cannot read a case file in cases/%s/: %m; will retry", bucket);
                set_next(f, i, now + RETRY_USEC);
                return 0;
        }
        enum fu_action a;
        struct fu_sched s = sched_of(&c, now);
        uint64_t when = followup_next_action(fc, f->cal, &s, &a);
        if (when > now || a == FU_ACT_NONE || a == FU_ACT_PURGE) { /* the index was behind the file */
                entry_set(f, i, &c);
                set_next(f, i, when);
                case_done(&c);
                return 0;
        }

        switch (a) {
        case FU_ACT_REMIND:
                if (!c.code)
                        c.code = code_take(f, i);
                c.stage = FU_STAGE_FIRST;
                c.reminded = now;
                for (size_t k = 0; k < c.n_contacts; k++)
                        add_notify(f, &c, c.contacts[k], "reminder", now);
                break;
        case FU_ACT_SECOND:
                c.stage = FU_STAGE_SECOND;
                c.second = now;
                for (size_t k = 0; k < c.n_contacts; k++)
                        add_notify(f, &c, c.contacts[k], "second", now);
                break;
        case FU_ACT_ESCALATE:
                c.stage = FU_STAGE_ESCALATED;
                c.state = FU_ESCALATED;
                c.escalated_at = now;
                if (who_of(f))
                        add_notify(f, &c, who_of(f), "escalation", now);
                break;
        default:
                break;
        }
        /* Write-ahead: the stage and its message keys are on disk before any
         * message leaves, so a crash never repeats a stage, and the in-flight
         * messages go again with the same keys. Until the commit says so, the
         * entry waits as after a spool error. */
        st->a = a;
        st->c = c;
        r = stage_rec(&c, &st->rec);
        set_next(f, i, now + RETRY_USEC);
        if (r < 0) {
                st->rec.r = r;
                act_finish(f, st, now);
                return 0;
        }
        return 2;
}

/* After the commit (ST->r < 0: it failed): send, log and reschedule, or hold
 * the action for a retry. Frees what ST holds. */
static void act_finish(struct followup *f, struct fu_staged *st, uint64_t now) {
        const struct followup_conf *fc = &f->cfg->followup;
        struct fu_case *c = &st->c;
        int32_t idx = lookup(f, c->ref);
        enum fu_action a = st->a;

        free(st->rec.data);
        st->rec.data = NULL;
        if (idx < 0) { /* cannot happen within one timer run; be safe */
                case_done(c);
                return;
        }
        uint32_t i = (uint32_t) idx;
        if (st->rec.r < 0) {
                char bucket[3];
                store_case_bucket(c->ref, bucket);
                log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL, "Cannot write a case file in cases/%s/ (%s); reminder held, will retry",
                          bucket, strerror(-st->rec.r));
                if (a == FU_ACT_REMIND)
                        code_release(f, c->code, i);
                set_next(f, i, now + RETRY_USEC);
                case_done(c);
                return;
        }
        entry_set(f, i, c);
        struct fu_sched s = sched_of(c, now);
        set_next(f, i, followup_next_action(fc, f->cal, &s, NULL));
        dispatch(f, c, now, true);
        /* No case reference in the journal: it is named in the spool and in
         * beredctl's answers only. */
        log_event(a == FU_ACT_ESCALATE ? LOG_WARNING : LOG_INFO, MSGID_FOLLOWUP, NULL, "Follow-up case at level %d: %s (%s)",
                  c->level,
                  a == FU_ACT_REMIND   ? "first reminder sent" :
                  a == FU_ACT_SECOND   ? "overdue, second reminder sent" :
                                         "not recorded in time, coordinator told",
                  stage_names[c->stage]);
        emit(f, a == FU_ACT_REMIND ? "reminder" : a == FU_ACT_SECOND ? "overdue" : "escalated", c->level,
             stage_names[c->stage]);
        case_done(c);
}

/* Record gateway outcomes in the case files: the cases an iteration's
 * outcomes touch are written together, with one group commit. A failed SMS
 * is tried again by e-mail when the person has one; a message nobody got is
 * logged and reported, and the escalation to the coordinator still follows
 * if no check-in comes. */
static int on_post(sd_event_source *s, void *userdata) {
        struct followup *f = userdata;
        uint64_t now = beredd_now();
        (void) s; /* a oneshot: off until the next result */
        size_t n = f->n_results;
        struct fu_result *v = f->results;
        f->results = NULL;
        f->n_results = f->cap_results = 0;
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_results);

        struct fu_staged *st = n > 0 ? calloc(n, sizeof(*st)) : NULL;
        bool *resends = n > 0 ? calloc(n, sizeof(*resends)) : NULL;
        size_t n_st = 0;
        if (n > 0 && (!st || !resends))
                /* The files keep saying "sending": sent again at the next start. */
                log_error("Follow-up: out of memory recording message outcomes");
        for (size_t i = 0; st && resends && i < n;) {
                char ref[COMMAND_MAX_ID + 1];
                size_t j = i + 1;
                if (!key_ref(v[i].key, ref, sizeof(ref))) {
                        i = j;
                        continue;
                }
                for (char r2[COMMAND_MAX_ID + 1]; j < n && key_ref(v[j].key, r2, sizeof(r2)) && streq(r2, ref);)
                        j++;
                struct fu_case c;
                int32_t idx = lookup(f, ref);
                if (idx < 0 || case_read(f, ref, &c) < 0) {
                        i = j;
                        continue;
                }
                bool changed = false, resend = false;
                for (size_t k = i; k < j; k++)
                        for (size_t m = 0; m < c.n_notify; m++) {
                                struct fu_notify *nt = &c.notify[m];
                                if (!streq(nt->key, v[k].key) || !streq(nt->state, "sending"))
                                        continue;
                                changed = true;
                                nt->ts = now;
                                if (v[k].result == GW_SENT) {
                                        snprintf(nt->state, sizeof(nt->state), "sent");
                                        continue;
                                }
                                snprintf(nt->state, sizeof(nt->state), "%s",
                                         v[k].result == GW_UNREACHABLE ? "unreachable" : "failed");
                                const struct person *p = config_person(f->cfg, nt->person);
                                log_warning("Follow-up: a %s message could not be delivered over %s", nt->kind,
                                            channel_name(nt->ch));
                                emit(f, "failed", c.level, nt->kind);
                                if (nt->ch == CHANNEL_SMS && p && p->email && c.state != FU_CLOSED) {
                                        char person[COMMAND_MAX_ID + 1], kind[16];
                                        snprintf(person, sizeof(person), "%s", nt->person);
                                        snprintf(kind, sizeof(kind), "%s", nt->kind);
                                        add_notify(f, &c, person, kind, now);
                                        c.notify[c.n_notify - 1].ch = CHANNEL_EMAIL;
                                        resend = true;
                                }
                        }
                int r = changed ? stage_rec(&c, &st[n_st].rec) : 0;
                if (r < 0)
                        log_error_errno(r, "A follow-up case cannot record message outcomes: %m");
                if (r < 0 || !changed) {
                        case_done(&c);
                } else {
                        st[n_st].c = c;
                        resends[n_st++] = resend;
                }
                i = j;
        }
        staged_commit(f, st, n_st);
        for (size_t k = 0; k < n_st; k++) {
                int32_t idx = lookup(f, st[k].c.ref);
                if (st[k].rec.r < 0)
                        log_error_errno(st[k].rec.r, "A follow-up case cannot record message outcomes: %m");
                else if (idx >= 0)
                        f->e[idx].flags = (uint8_t) ((f->e[idx].flags & ~E_SENDING) |
                                                     (case_sending(&st[k].c) ? E_SENDING : 0));
                if (st[k].rec.r >= 0 && resends[k])
                        dispatch(f, &st[k].c, now, true);
                case_done(&st[k].c);
                free(st[k].rec.data);
        }
        free(st);
        free(resends);
        for (size_t i = 0; i < n; i++)
                free(v[i].key);
        free(v);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct followup *f = userdata;
        uint64_t now = beredd_now();
        unsigned done = 0, purged = 0;
        (void) s;
        (void) usec;

        struct fu_staged *v = NULL;
        size_t n = 0;
        while (f->n_heap > 0 && f->e[f->heap[0]].next <= now && done < BATCH) {
                uint32_t i = f->heap[0];
                if (!v && !(v = calloc(BATCH, sizeof(*v)))) {
                        log_error("Follow-up: out of memory; due actions wait for the next run");
                        break;
                }
                int r = act_prepare(f, i, now, &v[n]);
                if (r == 1)
                        purged++;
                else if (r == 2)
                        n++;
                done++;
        }
        staged_commit(f, v, n);
        for (size_t k = 0; k < n; k++)
                act_finish(f, &v[k], now);
        free(v);
        if (purged) {
                char d[32];
                snprintf(d, sizeof(d), "%u", purged);
                log_event(LOG_INFO, MSGID_FOLLOWUP, NULL, "Follow-up: purged %u closed case%s after retention", purged,
                          purged == 1 ? "" : "s");
                emit(f, "purged", 0, d);
        }
        arm_timer(f); /* more due: the timer is in the past and fires on the next iteration */
        return 0;
}

/* ---- loading ---- */

/* First-reminder instants per due day: most cases share a few hundred days. */
struct fr_cache {
        int32_t day[1024];
        uint64_t t[1024];
        uint64_t now, now_t; /* the present and when a reminder already due goes (0: not yet known) */
};

static uint64_t next_cached(struct followup *f, struct fr_cache *fr, const struct fu_sched *sc) {
        if (sc->state != FU_CLOSED && sc->stage == FU_STAGE_NONE) {
                int32_t d = (int32_t) calendar_days_from_ymd(sc->due);
                uint32_t s = (uint32_t) d & 1023;
                if (fr->day[s] != d || fr->t[s] == 0) {
                        fr->day[s] = d;
                        fr->t[s] = first_reminder(&f->cfg->followup, f->cal, sc->due);
                }
                if (!fr->now)
                        fr->now = beredd_now();
                if (fr->t[s] >= fr->now)
                        return fr->t[s];
                /* Already due: now, or at the next opening (as followup_next_action). */
                if (!fr->now_t)
                        fr->now_t = to_office(&f->cfg->followup, f->cal, fr->now);
                return fr->now_t;
        }
        struct fu_sched s = *sc;
        if (!s.now)
                s.now = fr->now ? fr->now : beredd_now();
        return followup_next_action(&f->cfg->followup, f->cal, &s, NULL);
}

/* ---- a fast reader for start-up ----
 *
 * Parsing a million case files with jansson costs ~7 us each; start-up needs
 * only the index fields. This scanner reads exactly those from the files we
 * write; anything it does not expect (escapes, a missing field, messages in
 * flight) sends the file to the full parser instead, so it is an
 * optimisation, never a second truth. */
struct mini {
        char ref[COMMAND_MAX_ID + 1];
        int level;
        uint32_t factors;
        int state, stage;
        struct ymd due;
        uint64_t reminded, second, closed;
        unsigned code;
        unsigned seen;
};

static const char *ws(const char *p, const char *end) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
                p++;
        return p;
}

/* A string without escapes: [*RS, *RS + *RN). */
static const char *mstr(const char *p, const char *end, const char **rs, size_t *rn) {
        if (p >= end || *p != '"')
                return NULL;
        const char *q = ++p;
        while (q < end && *q != '"') {
                if (*q == '\\')
                        return NULL;
                q++;
        }
        if (q >= end)
                return NULL;
        *rs = p;
        *rn = (size_t) (q - p);
        return q + 1;
}

static const char *mskip(const char *p, const char *end) {
        int depth = 0;
        p = ws(p, end);
        do {
                if (p >= end)
                        return NULL;
                if (*p == '"') {
                        for (p++; p < end && *p != '"'; p++)
                                if (*p == '\\')
                                        p++;
                        if (p >= end)
                                return NULL;
                        p++;
                } else if (*p == '{' || *p == '[') {
                        depth++;
                        p++;
                } else if (*p == '}' || *p == ']') {
                        depth--;
                        p++;
                } else if (depth == 0) {
                        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
                                p++;
                        return p;
                } else
                        p++;
        } while (depth > 0);
        return p;
}

static const char *mnum(const char *p, const char *end, uint64_t *ret) {
        uint64_t v = 0;
        const char *q = p;
        while (q < end && *q >= '0' && *q <= '9' && q - p < 19)
                v = v * 10 + (uint64_t) (*q++ - '0');
        if (q == p || (q < end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E')))
                return NULL;
        *ret = v;
        return q;
}

enum { M_REF = 1, M_LEVEL = 2, M_STATE = 4, M_STAGE = 8, M_DUE = 16, M_NEEDED = 31 };

static bool keyis(const char *k, size_t n, const char *want) {
        return strlen(want) == n && memcmp(k, want, n) == 0;
}

static const char *const mini_keys[] = { "ref",  "level",    "state",  "stage",  "due",
                                         "code", "factors", "reminded", "second", "closed" };

static int mini_parse(const char *p, size_t len, struct mini *m) {
        const char *end = p + len, *k, *v;
        size_t kn, vn;
        uint64_t num;
        unsigned keys = 0;

        *m = (struct mini) {};
        p = ws(p, end);
        if (p >= end || *p++ != '{')
                return -1;
        for (;;) {
                p = ws(p, end);
                if (p < end && *p == '}')
                        break;
                if (!(p = mstr(p, end, &k, &kn)))
                        return -1;
                p = ws(p, end);
                if (p >= end || *p++ != ':')
                        return -1;
                p = ws(p, end);
                /* A key given twice: the full parser takes the last one; leave
                 * such a file to it rather than guess. */
                for (unsigned b = 0; b < ELEMENTSOF(mini_keys); b++)
                        if (keyis(k, kn, mini_keys[b])) {
                                if (keys & (1u << b))
                                        return -1;
                                keys |= 1u << b;
                        }
                if (keyis(k, kn, "ref") || keyis(k, kn, "state") || keyis(k, kn, "stage") || keyis(k, kn, "due") ||
                    (keyis(k, kn, "code") && p < end && *p == '"')) {
                        char buf[COMMAND_MAX_ID + 1];
                        if (!(p = mstr(p, end, &v, &vn)) || vn >= sizeof(buf))
                                return -1;
                        memcpy(buf, v, vn);
                        buf[vn] = '\0';
                        if (keyis(k, kn, "ref")) {
                                memcpy(m->ref, buf, vn + 1);
                                m->seen |= M_REF;
                        } else if (keyis(k, kn, "state")) {
                                if ((m->state = name_index(state_names, ELEMENTSOF(state_names), buf)) < 0)
                                        return -1;
                                m->seen |= M_STATE;
                        } else if (keyis(k, kn, "stage")) {
                                if ((m->stage = name_index(stage_names, ELEMENTSOF(stage_names), buf)) < 0)
                                        return -1;
                                m->seen |= M_STAGE;
                        } else if (keyis(k, kn, "due")) {
                                if (config_parse_date(buf, &m->due) < 0)
                                        return -1;
                                m->seen |= M_DUE;
                        } else {
                                m->code = followup_is_code(buf) ? (unsigned) atoi(buf) : 0;
                        }
                } else if (keyis(k, kn, "level") || keyis(k, kn, "reminded") || keyis(k, kn, "second") ||
                           keyis(k, kn, "closed")) {
                        if (!(p = mnum(p, end, &num)))
                                return -1;
                        if (keyis(k, kn, "level")) {
                                if (num < 1 || num > 255)
                                        return -1;
                                m->level = (int) num;
                                m->seen |= M_LEVEL;
                        } else if (keyis(k, kn, "reminded"))
                                m->reminded = num;
                        else if (keyis(k, kn, "second"))
                                m->second = num;
                        else
                                m->closed = num;
                } else if (keyis(k, kn, "factors")) {
                        if (p >= end || *p++ != '[')
                                return -1;
                        for (;;) {
                                p = ws(p, end);
                                if (p < end && *p == ']') {
                                        p++;
                                        break;
                                }
                                char buf[32];
                                if (!(p = mstr(p, end, &v, &vn)) || vn >= sizeof(buf))
                                        return -1;
                                memcpy(buf, v, vn);
                                buf[vn] = '\0';
                                int fct = factor_from_name(buf);
                                if (fct >= 0)
                                        m->factors |= 1u << fct;
                                p = ws(p, end);
                                if (p < end && *p == ',')
                                        p++;
                        }
                } else {
                        const char *start = p;
                        if (!(p = mskip(p, end)))
                                return -1;
                        /* Messages in flight need the full record: leave it to jansson. */
                        if (keyis(k, kn, "notify") && memmem(start, (size_t) (p - start), "sending", 7))
                                return -1;
                }
                p = ws(p, end);
                if (p < end && *p == ',') {
                        p++;
                        continue;
                }
                if (p < end && *p == '}')
                        break;
                return -1;
        }
        if (ws(p + 1, end) != end) /* anything after the object: not a file we wrote */
                return -1;
        return (m->seen & M_NEEDED) == M_NEEDED && id_is_safe(m->ref) ? 0 : -1;
}

int followup_case_check(const char *data, size_t len) {
        struct mini m;
        struct fu_case *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        bool full = case_parse(data, len, c) >= 0, fast = mini_parse(data, len, &m) >= 0;
        int r = full && fast ? 1 : full ? 0 : fast ? 2 : -EINVAL;
        if (r == 1 && (!streq(m.ref, c->ref) || m.level != c->level || m.factors != c->factors ||
                       m.state != (int) c->state || m.stage != (int) c->stage || calendar_ymd_cmp(m.due, c->due) != 0 ||
                       m.reminded != c->reminded || m.second != c->second || m.closed != c->closed ||
                       m.code != c->code))
                r = -EBADMSG;
        if (full)
                case_done(c);
        free(c);
        return r;
}

static int load_data(struct followup *f, const char *bucket, const char *name, const char *data, size_t len,
                     struct fr_cache *fr, uint32_t **resend, size_t *n_resend);

/* "ab" -> 0xab, or -1. */
static int bucket_no(const char *b) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
                char c = b[k];
                v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1000);
        }
        return v >= 0 && b[2] == '\0' ? v : -1;
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

static int load_file(struct followup *f, int dfd, const char *bucket, const char *name, struct fr_cache *fr,
                     char **buf, size_t *cap, uint32_t **resend, size_t *n_resend) {
        char ref[COMMAND_MAX_ID + 1];
        size_t nl = strlen(name) - 5; /* ".json" */
        if (nl < sizeof(ref)) {
                memcpy(ref, name, nl);
                ref[nl] = '\0';
                const struct fu_dirty *d = dirty_get(f, ref);
                if (d) /* the journal has it newer */
                        return load_data(f, bucket, name, d->data, d->len, fr, resend, n_resend);
        }
        /* No fstat: O_NONBLOCK keeps a FIFO from blocking, a folder fails the read. */
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                goto damaged;
        size_t len = 0;
        for (;;) {
                if (len + 1 >= *cap) {
                        size_t ncap = *cap ? *cap * 2 : 64 * 1024;
                        if (ncap > CASE_MAX_SIZE + 2)
                                goto damaged;
                        char *b = realloc(*buf, ncap);
                        if (!b)
                                return -ENOMEM;
                        *buf = b;
                        *cap = ncap;
                }
                size_t want = *cap - 1 - len;
                ssize_t k = read(fd, *buf + len, want);
                if (k < 0)
                        goto damaged;
                len += (size_t) k;
                /* Short: the end of a regular file (a million files: a
                 * million read()s saved). Anything else is damaged anyway. */
                if ((size_t) k < want)
                        break;
        }
        return load_data(f, bucket, name, *buf, len, fr, resend, n_resend);
damaged:
        return load_damaged(f, bucket, name);
}

/* Index the case of file cases/BUCKET/NAME, whose bytes are DATA. */
static int load_data(struct followup *f, const char *bucket, const char *name, const char *data, size_t len,
                     struct fr_cache *fr, uint32_t **resend, size_t *n_resend) {
        struct mini m;
        bool sending = false;
        if (mini_parse(data, len, &m) < 0) {
                struct fu_case *c = calloc(1, sizeof(*c)); /* the full parser, for the unusual file */
                if (!c)
                        return -ENOMEM;
                if (case_parse(data, len, c) < 0) {
                        free(c);
                        goto damaged;
                }
                m = (struct mini) { .level = c->level, .factors = c->factors, .state = c->state, .stage = c->stage,
                                    .due = c->due, .reminded = c->reminded, .second = c->second, .closed = c->closed,
                                    .code = c->code };
                memcpy(m.ref, c->ref, sizeof(m.ref));
                sending = case_sending(c);
                case_done(c);
                free(c);
        }
        size_t rl = strlen(m.ref);
        if (strlen(name) != rl + 5 || strncmp(name, m.ref, rl) != 0 || lookup(f, m.ref) >= 0)
                goto damaged;
        uint32_t i;
        int r = entry_add(f, m.ref, &i);
        if (r < 0)
                return r;
        entry_fill_raw(f, i, m.due, m.factors, m.level, (enum fu_state) m.state, (enum fu_stage) m.stage, sending);
        account(f, i, +1);
        struct fu_sched sc = { .state = m.state, .stage = m.stage, .due = m.due, .reminded = m.reminded,
                               .second = m.second, .closed = m.closed };
        f->e[i].next = next_cached(f, fr, &sc);
        if (f->e[i].next != UINT64_MAX) {
                f->e[i].heap = f->n_heap;
                f->heap[f->n_heap++] = i;
        }
        if (m.code && m.state != FU_CLOSED) {
                uint32_t *slot = &f->codes[m.code - FU_CODE_MIN];
                if (!*slot)
                        *slot = i + 1;
                else
                        log_warning("A follow-up case's reply code is already held by another case; replies by code go there");
        }
        if (sending) {
                uint32_t *v = realloc(*resend, (*n_resend + 1) * sizeof(uint32_t));
                if (!v)
                        return -ENOMEM;
                *resend = v;
                v[(*n_resend)++] = i;
        }
        return 0;
damaged:
        return load_damaged(f, bucket, name);
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
 * listed by ref and its file read at start. Buckets with damaged files, or
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
        if (fstatat(store_dirfd(f->store, STORE_CASES), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
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
        int fd = openat(store_dirfd(f->store, STORE_CASES), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return false;
        }
        struct dirent *de;
        uint32_t seen = 0;
        bool ok = true;
        while (ok && (de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (de->d_name[0] == '.' || l < 6 || !streq(de->d_name + l - 5, ".json"))
                        continue;
                char ref[COMMAND_MAX_ID + 1];
                ok = l - 5 < sizeof(ref);
                if (ok) {
                        memcpy(ref, de->d_name, l - 5);
                        ref[l - 5] = '\0';
                        ok = lookup(f, ref) >= 0;
                        seen++;
                }
        }
        closedir(d);
        return ok && seen == n;
}

/* At a clean stop, once everything is folded. */
static void index_write(struct followup *f) {
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
        for (int b = 0; b < 256; b++) {
                if (!ok[b])
                        continue;
                out(&o, "B %02x %" PRIu64 " %" PRId64 ".%09" PRId64 "\n", (unsigned) b, id[b].ino, id[b].sec, id[b].nsec);
                for (uint32_t k = b ? count[b - 1] : 0; k < count[b]; k++, n++) {
                        const struct fu_entry *e = &f->e[order[k]];
                        if (E_STATE(e) == FU_OPEN && E_STAGE(e) == FU_STAGE_NONE && !(e->flags & E_SENDING) &&
                            !coded[order[k]])
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

/* One index line "ref [due level factors]": its parts, or false. */
static bool index_line(char *line, char **ref, bool *plain, int32_t *due, unsigned *level, unsigned *factors) {
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
                if (v[0] > 2932896 /* 9999-12-31 */ || v[1] > 255 || v[2] >= (1u << _FACTOR_MAX))
                        return false;
                *due = (int32_t) v[0];
                *level = (unsigned) v[1];
                *factors = (unsigned) v[2];
        }
        return id_is_safe(*ref) && strlen(*ref) <= COMMAND_MAX_ID;
}

/* Why DATA is not a usable index, or NULL: it is used entirely or not at
 * all, so it is checked whole before any of it is used. */
static const char *index_check(const char *data, size_t len) {
        const char *why = NULL;
        if (len < strlen(INDEX_MAGIC) || memcmp(data, INDEX_MAGIC, strlen(INDEX_MAGIC)) != 0)
                why = "not an index beredd wrote";
        bool seen[256] = {};
        int cur = -1;
        size_t n = 0, expect = SIZE_MAX;
        for (const char *p = data + strlen(INDEX_MAGIC), *end = data + len; !why && p < end;) {
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
                        if (!index_line(tmp, &ref, &plain, &due, &level, &factors)) {
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
        return index_check(data, len) ? -EINVAL : 0;
}

/* The buckets cases/index may stand for (DONE[b] set), loaded. 0 also when
 * there is no usable index; -errno only for what stops the start. */
static int index_load(struct followup *f, struct fr_cache *fr, bool done[static 256], char **buf, size_t *cap,
                      uint32_t **resend, size_t *n_resend) {
        _cleanup_free_ char *data = NULL;
        size_t len, from_index = 0;
        int r = store_read(f->store, STORE_CASES, INDEX_NAME, INDEX_MAX_SIZE, &data, &len);
        if (r == -ENOENT)
                return 0;
        const char *why = r < 0 ? strerror(-r) : index_check(data, len);
        if (why) {
                log_warning("Follow-up: cases/index is not usable (%s); reading every case file", why);
                return 0;
        }

        bool skip[256] = {};
        for (size_t k = 0; k < f->n_dirty; k++) {
                char b[3];
                store_case_bucket(f->dirty[k].ref, b);
                skip[bucket_no(b)] = true;
        }
        int bfd = -1, cur = -1;
        bool use = false;
        for (char *p = data + strlen(INDEX_MAGIC), *end = data + len; r >= 0 && p < end;) {
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
                        if (bfd >= 0)
                                close(bfd);
                        bfd = use ? openat(store_dirfd(f->store, STORE_CASES), b, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
                                                                                         O_NOFOLLOW)
                                  : -1;
                        use = use && bfd >= 0;
                        done[cur] = use;
                } else if (!(p[0] == 'E' && p[1] == ' ') && use) {
                        char *ref, b[3], name[COMMAND_MAX_ID + 8];
                        bool plain;
                        int32_t due;
                        unsigned level, factors;
                        (void) index_line(p, &ref, &plain, &due, &level, &factors); /* checked above */
                        snprintf(b, sizeof(b), "%02x", (unsigned) cur);
                        r = heap_reserve(f, f->n_heap + 1);
                        if (r >= 0 && !plain) {
                                snprintf(name, sizeof(name), "%s.json", ref);
                                r = load_file(f, bfd, b, name, fr, buf, cap, resend, n_resend);
                        } else if (r >= 0 && lookup(f, ref) < 0) {
                                uint32_t i;
                                r = entry_add(f, ref, &i);
                                if (r >= 0) {
                                        struct ymd d = calendar_ymd_from_days(due);
                                        struct fu_sched sc = { .state = FU_OPEN, .stage = FU_STAGE_NONE, .due = d };
                                        entry_fill_raw(f, i, d, factors, (int) level, FU_OPEN, FU_STAGE_NONE, false);
                                        account(f, i, +1);
                                        f->e[i].next = next_cached(f, fr, &sc);
                                        if (f->e[i].next != UINT64_MAX) {
                                                f->e[i].heap = f->n_heap;
                                                f->heap[f->n_heap++] = i;
                                        }
                                        from_index++;
                                }
                        }
                }
                p = nl + 1;
        }
        if (bfd >= 0)
                close(bfd);
        if (r >= 0)
                log_info("Follow-up: %zu case(s) taken from cases/index without reading their files", from_index);
        return r;
}

static int load_all(struct followup *f) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ uint32_t *resend = NULL;
        size_t cap = 0, n_resend = 0;
        struct fr_cache *fr = calloc(1, sizeof(*fr));
        int r = 0;

        if (!fr)
                return -ENOMEM;
        bool done[256] = {};
        r = journal_recover(f);
        if (r >= 0)
                r = index_load(f, fr, done, &buf, &cap, &resend, &n_resend);
        if (r < 0) {
                free(fr);
                return r;
        }
        int cfd = openat(store_dirfd(f->store, STORE_CASES), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *top = cfd >= 0 ? fdopendir(cfd) : NULL;
        if (!top) {
                r = negative_errno();
                if (cfd >= 0)
                        close(cfd);
                free(fr);
                return r;
        }
        struct dirent *de;
        while (r >= 0 && (de = readdir(top))) {
                const char *b = de->d_name;
                if (strlen(b) != 2 || !((b[0] >= '0' && b[0] <= '9') || (b[0] >= 'a' && b[0] <= 'f')) ||
                    !((b[1] >= '0' && b[1] <= '9') || (b[1] >= 'a' && b[1] <= 'f')) || done[bucket_no(b)])
                        continue;
                int bfd = openat(dirfd(top), b, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                DIR *d = bfd >= 0 ? fdopendir(bfd) : NULL;
                if (!d) {
                        if (bfd >= 0)
                                close(bfd);
                        continue;
                }
                struct dirent *fe;
                while (r >= 0 && (fe = readdir(d))) {
                        size_t l = strlen(fe->d_name);
                        if (fe->d_name[0] == '.' || l < 6 || !streq(fe->d_name + l - 5, ".json"))
                                continue;
                        if (heap_reserve(f, f->n_heap + 1) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        r = load_file(f, dirfd(d), b, fe->d_name, fr, &buf, &cap, &resend, &n_resend);
                }
                closedir(d);
        }
        closedir(top);
        /* Cases opened since the last fold: only the journal has them. */
        for (size_t k = 0; r >= 0 && k < f->n_dirty; k++) {
                const struct fu_dirty *d = &f->dirty[k];
                char b[3], name[COMMAND_MAX_ID + 8];
                if (lookup(f, d->ref) >= 0)
                        continue;
                store_case_bucket(d->ref, b);
                snprintf(name, sizeof(name), "%s.json", d->ref);
                r = heap_reserve(f, f->n_heap + 1);
                if (r >= 0)
                        r = load_data(f, b, name, d->data, d->len, fr, &resend, &n_resend);
        }
        free(fr);
        if (r < 0)
                return r;
        heapify(f);

        /* Messages that were in flight when we stopped go again, same keys. */
        uint64_t now = beredd_now();
        for (size_t k = 0; k < n_resend; k++) {
                struct fu_case c;
                if (case_read(f, eref(f, resend[k]), &c) >= 0) {
                        dispatch(f, &c, now, false);
                        case_done(&c);
                }
        }
        if (n_resend)
                log_info("Follow-up: %zu case%s had messages in flight; sent again", n_resend, n_resend == 1 ? "" : "s");
        return 0;
}

/* ---- replies ---- */

static json_t *local_time(const struct followup *f, uint64_t t) {
        if (t == UINT64_MAX || t == 0)
                return json_null();
        struct calendar_local l;
        char buf[32];
        calendar_local(f->cal, t, &l);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d", l.date.y, l.date.m, l.date.d, l.hour, l.minute);
        return json_string(buf);
}

static json_t *case_reply(struct followup *f, const struct fu_case *c) {
        struct fu_sched s = sched_of(c, beredd_now());
        char code[8];
        snprintf(code, sizeof(code), "%u", c->code);
        json_t *o = json_pack("{s:s, s:s, s:i, s:o, s:s}", "case", c->ref, "state", state_names[c->state], "level",
                              c->level, "due", jdate(c->due), "stage", stage_names[c->stage]);
        json_object_set_new(o, "next_action", local_time(f, followup_next_action(&f->cfg->followup, f->cal, &s, NULL)));
        json_object_set_new(o, "code", c->code ? json_string(code) : json_null());
        json_object_set_new(o, "unreached_in_row", json_integer(c->unreached));
        json_object_set_new(o, "task", json_boolean(c->task));
        return o;
}

/* The case reference stays out of the journal (spool and beredctl only). */
static void log_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_case(const char *fmt, ...) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_event(LOG_INFO, MSGID_FOLLOWUP, NULL, "Follow-up case: %s", msg);
}

static int spool_err(int r, const char *what, char *err, size_t errlen) {
        snprintf(err, errlen, "spool: cannot persist the %s (%s); nothing changed", what, strerror(-r));
        return r;
}

/* ---- commands ---- */

int followup_open(struct followup *f, const struct command *cmd, const char *origin, json_t **reply, char *err,
                  size_t errlen) {
        const struct followup_conf *fc = &f->cfg->followup;
        uint64_t now = beredd_now();
        struct ymd today = today_of(f, now);
        int r;

        int32_t idx = lookup(f, cmd->case_ref);
        if (idx >= 0) {
                struct fu_case old;
                if (origin && case_read(f, cmd->case_ref, &old) >= 0) {
                        bool same = old.origin && streq(old.origin, origin);
                        if (same) { /* the same drop file again (a crash before it was removed) */
                                *reply = case_reply(f, &old);
                                json_object_set_new(*reply, "already", json_true());
                        }
                        case_done(&old);
                        if (same)
                                return 0;
                }
                snprintf(err, errlen, "case: a case with this reference exists already; not overwritten");
                return -EEXIST;
        }
        if (fc->n_levels == 0) {
                snprintf(err, errlen, "cmd: follow-up is not configured (no followup section)");
                return -EINVAL;
        }
        int level = cmd->level ? cmd->level : 1;
        if (level > (int) fc->n_levels) {
                snprintf(err, errlen, "level: must be between 1 and %zu", fc->n_levels);
                return -EINVAL;
        }
        for (size_t k = 0; k < cmd->n_contacts; k++)
                if (!config_person(f->cfg, cmd->contacts[k])) {
                        snprintf(err, errlen, "contacts: no such person in the configuration");
                        return -ENOENT;
                }

        struct fu_case c = {
                .level = level, .factors = cmd->factors, .children = cmd->children, .state = FU_OPEN,
                .stage = FU_STAGE_NONE, .opened = now, .n_contacts = cmd->n_contacts,
                .due = cmd->has_due ? cmd->due : date_after(f->cal, now, today, followup_interval(fc, f->cal, level, today)),
                .history = json_array(),
        };
        snprintf(c.ref, sizeof(c.ref), "%s", cmd->case_ref);
        for (size_t k = 0; k < cmd->n_contacts; k++)
                snprintf(c.contacts[k], sizeof(c.contacts[k]), "%s", cmd->contacts[k]);
        if (origin && !(c.origin = strdup(origin))) {
                case_done(&c);
                return -ENOMEM;
        }
        r = case_write(f, &c, true);
        if (r == -EEXIST) {
                /* On disk but not in the index: a damaged file. Never overwrite it. */
                snprintf(err, errlen, "case: a case with this reference exists already; not overwritten");
                case_done(&c);
                return r;
        }
        if (r < 0) {
                case_done(&c);
                return spool_err(r, "case", err, errlen);
        }
        uint32_t i;
        r = entry_add(f, c.ref, &i);
        if (r < 0) {
                case_done(&c);
                snprintf(err, errlen, "case: out of memory");
                return r;
        }
        entry_init(f, i, &c);
        reschedule(f, i, &c);
        char d[16];
        format_date(c.due, d, sizeof(d));
        log_case("opened at level %d, due %s", c.level, d);
        emit(f, "case.opened", c.level, NULL);
        *reply = case_reply(f, &c);
        case_done(&c);
        return 0;
}

/* Find and read an open case for a change. */
static int open_case(struct followup *f, const char *ref, bool allow_closed, uint32_t *ret_i, struct fu_case *c,
                     char *err, size_t errlen) {
        int32_t idx = lookup(f, ref);
        if (idx < 0) {
                snprintf(err, errlen, "case: no such case");
                return -ENOENT;
        }
        int r = case_read(f, ref, c);
        if (r < 0) {
                snprintf(err, errlen, "case: cannot read the case (%s)", strerror(-r));
                return r;
        }
        if (!allow_closed && c->state == FU_CLOSED) {
                snprintf(err, errlen, "case: the case is closed; nothing changed");
                case_done(c);
                return -ESTALE;
        }
        *ret_i = (uint32_t) idx;
        return 0;
}

static int do_checkin(struct followup *f, uint32_t i, struct fu_case *c, const char *by, enum outcome outcome,
                      const struct ymd *next, uint64_t next_in, int postpone, const char *via, json_t **reply, char *err,
                      size_t errlen) {
        const struct followup_conf *fc = &f->cfg->followup;
        uint64_t now = beredd_now();
        struct fu_checkin_state st = { .level = c->level, .children = c->children, .task = c->task,
                                       .unreached_in_row = c->unreached };
        struct fu_plan p;
        int r = followup_plan_checkin(fc, f->cal, &st, outcome, next, next_in, postpone, now, &p, err, errlen);
        if (r < 0)
                return r;

        unsigned old_code = c->code;
        json_t *h = json_pack("{s:s, s:I, s:s, s:s, s:o, s:i, s:i}", "event", "checkin", "ts", (json_int_t) now, "by",
                              by, "outcome", outcome == OUTCOME_NONE ? "postponed" : outcome_name(outcome), "next",
                              jdate(p.due), "level_before", c->level, "level_after", p.level);
        if (via)
                json_object_set_new(h, "via", json_string(via));
        json_array_append_new(c->history, h);
        c->level = p.level;
        c->due = p.due;
        c->task = p.task;
        c->unreached = p.unreached_in_row;
        c->state = FU_OPEN;
        c->stage = FU_STAGE_NONE;
        c->reminded = c->second = c->escalated_at = 0;
        c->code = 0;
        c->n_notify = 0; /* a new round; late outcomes of the old one are ignored */
        if (p.tell_children && who_of(f))
                add_notify(f, c, who_of(f), "children", now);
        if (p.tell_unreached && who_of(f))
                add_notify(f, c, who_of(f), "unreached", now);
        r = case_write(f, c, false);
        if (r < 0)
                return spool_err(r, "check-in", err, errlen);
        code_release(f, old_code, i);
        entry_set(f, i, c);
        reschedule(f, i, c);
        dispatch(f, c, now, true);
        char d[16];
        format_date(c->due, d, sizeof(d));
        log_case("check-in recorded (%s), level %d, next due %s",
                 outcome == OUTCOME_NONE ? "postponed" : outcome_name(outcome), c->level, d);
        emit(f, "checkin", c->level, outcome == OUTCOME_NONE ? "postponed" : outcome_name(outcome));
        *reply = case_reply(f, c);
        json_object_set_new(*reply, "recorded", json_string(outcome == OUTCOME_NONE ? "postponed" : outcome_name(outcome)));
        if (p.tell_children || p.tell_unreached)
                json_object_set_new(*reply, "coordinator_told", json_boolean(who_of(f) != NULL));
        return 0;
}

int followup_checkin(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        struct fu_case c;
        uint32_t i;
        int r = open_case(f, cmd->case_ref, false, &i, &c, err, errlen);
        if (r < 0)
                return r;
        r = do_checkin(f, i, &c, cmd->by, cmd->outcome, cmd->has_next ? &cmd->next : NULL, cmd->next_in,
                       cmd->postpone_days, NULL, reply, err, errlen);
        case_done(&c);
        return r;
}

int followup_level(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        const struct followup_conf *fc = &f->cfg->followup;
        struct fu_case c;
        uint32_t i;
        if (cmd->level < 1 || (size_t) cmd->level > fc->n_levels) {
                snprintf(err, errlen, "level: must be between 1 and %zu", fc->n_levels);
                return -EINVAL;
        }
        int r = open_case(f, cmd->case_ref, false, &i, &c, err, errlen);
        if (r < 0)
                return r;
        uint64_t now = beredd_now();
        struct ymd today = today_of(f, now);
        int before = c.level;
        json_array_append_new(c.history, json_pack("{s:s, s:I, s:i, s:i}", "event", "level", "ts", (json_int_t) now,
                                                   "level_before", before, "level_after", cmd->level));
        c.level = cmd->level;
        /* More intensive care must not wait for the old, longer interval. */
        if (c.stage == FU_STAGE_NONE) {
                struct ymd sooner = date_after(f->cal, now, today, followup_interval(fc, f->cal, c.level, today));
                if (calendar_ymd_cmp(sooner, c.due) < 0)
                        c.due = sooner;
        }
        r = case_write(f, &c, false);
        if (r < 0) {
                case_done(&c);
                return spool_err(r, "level change", err, errlen);
        }
        entry_set(f, i, &c);
        reschedule(f, i, &c);
        log_case("level %d -> %d", before, c.level);
        emit(f, "level", c.level, NULL);
        *reply = case_reply(f, &c);
        json_object_set_new(*reply, "level_before", json_integer(before));
        case_done(&c);
        return 0;
}

int followup_close(struct followup *f, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        struct fu_case c;
        uint32_t i;
        int r = open_case(f, cmd->case_ref, true, &i, &c, err, errlen);
        if (r < 0)
                return r;
        if (c.state == FU_CLOSED) { /* e.g. the same drop file after a crash */
                *reply = case_reply(f, &c);
                json_object_set_new(*reply, "already", json_true());
                case_done(&c);
                return 0;
        }
        uint64_t now = beredd_now();
        unsigned old_code = c.code;
        json_array_append_new(c.history, json_pack("{s:s, s:I, s:s}", "event", "close", "ts", (json_int_t) now, "by",
                                                   cmd->by));
        c.state = FU_CLOSED;
        c.closed = now;
        c.code = 0;
        snprintf(c.closed_by, sizeof(c.closed_by), "%s", cmd->by);
        r = case_write(f, &c, false);
        if (r < 0) {
                case_done(&c);
                return spool_err(r, "close", err, errlen);
        }
        code_release(f, old_code, i);
        entry_set(f, i, &c);
        reschedule(f, i, &c);
        log_case("closed");
        emit(f, "closed", c.level, NULL);
        *reply = case_reply(f, &c);
        json_object_set_new(*reply, "purge", local_time(f, f->e[i].next));
        case_done(&c);
        return 0;
}

int followup_show(struct followup *f, const char *ref, json_t **reply, char *err, size_t errlen) {
        struct fu_case c;
        uint32_t i;
        int r = open_case(f, ref, true, &i, &c, err, errlen);
        if (r < 0)
                return r;
        json_t *o = case_json(&c);
        if (!o) {
                case_done(&c);
                return -ENOMEM;
        }
        /* "ref" is "case" in replies, like the commands. */
        json_object_set(o, "case", json_object_get(o, "ref"));
        json_object_del(o, "ref");
        const struct followup_conf *fc = &f->cfg->followup;
        if (c.level >= 1 && (size_t) c.level <= fc->n_levels && fc->levels[c.level - 1].name)
                json_object_set_new(o, "level_name", json_string(fc->levels[c.level - 1].name));
        struct fu_sched s = sched_of(&c, beredd_now());
        enum fu_action a;
        uint64_t t = followup_next_action(fc, f->cal, &s, &a);
        static const char *const act_names[] = { "none", "reminder", "second reminder", "escalation", "purge" };
        json_object_set_new(o, "next_action", local_time(f, t));
        json_object_set_new(o, "next_action_kind", json_string(act_names[a]));
        *reply = o;
        case_done(&c);
        return 0;
}

static int cmp_due(const void *x, const void *y) {
        json_t *a = *(json_t *const *) x, *b = *(json_t *const *) y;
        int r = strcmp(json_string_value(json_object_get(a, "due")), json_string_value(json_object_get(b, "due")));
        return r ? r : strcmp(json_string_value(json_object_get(a, "case")), json_string_value(json_object_get(b, "case")));
}

int followup_due(struct followup *f, bool overdue_only, const char *contact, json_t **reply) {
        uint64_t now = beredd_now();
        struct ymd today = today_of(f, now);
        int32_t tday = (int32_t) calendar_days_from_ymd(today);
        json_t **v = NULL;
        size_t n = 0, cap = 0;

        for (uint32_t i = 0; i < f->n_e; i++) {
                const struct fu_entry *e = &f->e[i];
                if (e->ref == NIL || E_STATE(e) == FU_CLOSED || e->due > tday)
                        continue;
                if (overdue_only && E_STAGE(e) < FU_STAGE_SECOND)
                        continue;
                struct fu_case c;
                if (case_read(f, eref(f, i), &c) < 0)
                        continue;
                bool mine = !contact;
                json_t *contacts = json_array();
                for (size_t k = 0; k < c.n_contacts; k++) {
                        json_array_append_new(contacts, json_string(c.contacts[k]));
                        mine = mine || streq(c.contacts[k], contact);
                }
                if (!mine) {
                        json_decref(contacts);
                        case_done(&c);
                        continue;
                }
                json_t *o = case_reply(f, &c);
                json_object_set_new(o, "contacts", contacts);
                json_object_set_new(o, "overdue", json_boolean(c.stage >= FU_STAGE_SECOND));
                case_done(&c);
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        json_t **nv = realloc(v, cap * sizeof(*nv));
                        if (!nv) {
                                json_decref(o);
                                break;
                        }
                        v = nv;
                }
                v[n++] = o;
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_due);
        json_t *arr = json_array();
        for (size_t k = 0; k < n; k++)
                json_array_append_new(arr, v[k]);
        free(v);
        *reply = json_pack("{s:o, s:I, s:o}", "date", jdate(today), "count", (json_int_t) n, "cases", arr);
        return *reply ? 0 : -ENOMEM;
}

int followup_summary(struct followup *f, json_t **reply) {
        struct ymd today = today_of(f, beredd_now());
        int32_t tday = (int32_t) calendar_days_from_ymd(today);
        uint64_t due = 0;
        for (uint32_t s = 0; s < f->days_cap; s++) /* distinct due days, not cases */
                if (f->days[s].n && f->days[s].day <= tday)
                        due += f->days[s].n;
        json_t *levels = json_object(), *factors = json_object();
        size_t nl = f->cfg->followup.n_levels;
        for (size_t l = 1; l < ELEMENTSOF(f->by_level); l++)
                if (l <= nl || f->by_level[l]) {
                        char k[8];
                        snprintf(k, sizeof(k), "%zu", l);
                        json_object_set_new(levels, k, json_integer(f->by_level[l]));
                }
        for (int k = 0; k < _FACTOR_MAX; k++)
                json_object_set_new(factors, factor_name(k), json_integer(f->by_factor[k]));
        *reply = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "open", (json_int_t) f->n_open, "due_today",
                           (json_int_t) due, "overdue", (json_int_t) f->n_overdue, "escalated",
                           (json_int_t) f->n_escalated, "closed", (json_int_t) f->n_closed, "damaged",
                           (json_int_t) f->n_damaged, "by_level", levels, "by_factor", factors);
        return *reply ? 0 : -ENOMEM;
}

int followup_reply(struct followup *f, const char *code, const char *person, enum text_reply_kind kind, int days,
                   json_t **reply, char *err, size_t errlen) {
        snprintf(err, errlen, "code: no follow-up case holds this reply code (recorded or closed already?); "
                 "nothing changed");
        if (!followup_is_code(code))
                return -ENOENT;
        unsigned n = (unsigned) atoi(code);
        uint32_t owner = f->codes[n - FU_CODE_MIN];
        if (!owner)
                return -ENOENT;
        uint32_t i = owner - 1;
        struct fu_case c;
        if (case_read(f, eref(f, i), &c) < 0)
                return -ENOENT;
        if (c.code != n || c.state == FU_CLOSED) {
                case_done(&c);
                return -ENOENT;
        }
        bool allowed = person && who_of(f) && streq(person, who_of(f));
        for (size_t k = 0; person && k < c.n_contacts; k++)
                allowed = allowed || streq(c.contacts[k], person);
        if (!allowed) {
                /* Only the case's contacts may answer; and the same answer as
                 * for a code no case holds, so that it is no oracle. */
                case_done(&c);
                return -ENOENT;
        }
        err[0] = '\0';
        enum outcome o;
        int postpone = 0;
        switch (kind) {
        case TEXT_REPLY_OK:
                o = OUTCOME_NO_NEEDS;
                break;
        case TEXT_REPLY_HELP:
                o = OUTCOME_NEEDS;
                break;
        case TEXT_REPLY_POSTPONE:
                o = OUTCOME_NONE;
                postpone = days < 1 ? 1 : days > 365 ? 365 : days;
                break;
        default:
                snprintf(err, errlen, "answer: reply OK, HJELP or UTSETT to a follow-up reminder; nothing changed");
                case_done(&c);
                return -EINVAL;
        }
        int r = do_checkin(f, i, &c, person, o, NULL, 0, postpone, "reply", reply, err, errlen);
        case_done(&c);
        return r;
}

/* ---- life cycle ---- */

int followup_new(sd_event *e, struct store *store, struct gateways *gw, const struct config *cfg,
                 const struct calendar *cal, fu_event_cb cb, void *userdata, struct followup **ret) {
        struct followup *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        *f = (struct followup) { .event = sd_event_ref(e), .store = store, .gw = gw, .cfg = cfg, .cal = cal, .cb = cb,
                                 .userdata = userdata, .free_head = NIL };
        f->codes = calloc(FU_CODE_N, sizeof(uint32_t));
        int r = f->codes ? hash_grow(f) : -ENOMEM;
        if (r >= 0)
                r = sd_event_add_time(e, &f->timer, CLOCK_REALTIME, 1, 1000, on_timer, f);
        if (r >= 0)
                r = sd_event_add_defer(e, &f->post, on_post, f);
        if (r >= 0)
                r = sd_event_add_time(e, &f->fold, CLOCK_MONOTONIC, 1, 10000, on_fold, f);
        if (r < 0) {
                followup_free(f);
                return r;
        }
        sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
        sd_event_source_set_enabled(f->post, SD_EVENT_OFF);
        sd_event_source_set_description(f->timer, "followup-timer");
        sd_event_source_set_description(f->post, "followup-outcomes");
        sd_event_source_set_enabled(f->fold, SD_EVENT_OFF);
        sd_event_source_set_priority(f->fold, SD_EVENT_PRIORITY_IDLE);
        sd_event_source_set_description(f->fold, "followup-fold");

        r = load_all(f);
        if (r < 0) {
                log_error_errno(r, "Follow-up: cannot load the cases: %m");
                followup_free(f);
                return r;
        }
        if (f->n_live)
                log_info("Follow-up: %" PRIu32 " open, %" PRIu32 " escalated, %" PRIu32 " closed case(s) loaded%s",
                         f->n_open, f->n_escalated, f->n_closed, f->n_damaged ? "; some case files are damaged" : "");
        if (f->n_open && !cfg->followup.enabled)
                log_warning("Follow-up: there are open cases but no followup section in the configuration; "
                            "reminders continue, check-ins are refused");
        arm_timer(f); /* cases due while we were down are handled at once */
        fold_schedule(f); /* what the journal brought back */
        f->loaded = true;
        *ret = f;
        return 0;
}

void followup_set_config(struct followup *f, const struct config *cfg, const struct calendar *cal) {
        f->cfg = cfg;
        f->cal = cal;
        /* Cases not yet reminded move with new office hours or holidays now;
         * the others are checked against the new rules when their time comes. */
        struct fr_cache *fr = calloc(1, sizeof(*fr));
        if (!fr)
                return;
        for (uint32_t i = 0; i < f->n_e; i++) {
                struct fu_entry *e = &f->e[i];
                if (e->ref == NIL || E_STATE(e) == FU_CLOSED || E_STAGE(e) != FU_STAGE_NONE)
                        continue;
                struct fu_sched sc = { .state = E_STATE(e), .stage = FU_STAGE_NONE,
                                       .due = calendar_ymd_from_days(e->due) };
                e->next = next_cached(f, fr, &sc);
        }
        free(fr);
        heapify(f);
        arm_timer(f);
}

void followup_free(struct followup *f) {
        if (!f)
                return;
        if (f->fold)
                fold_all(f);
        if (f->loaded && f->n_dirty == 0)
                index_write(f);
        for (size_t k = 0; k < f->n_dirty; k++) {
                free(f->dirty[k].ref);
                free(f->dirty[k].data);
        }
        free(f->dirty);
        strmap_clear(&f->dirty_map);
        sd_event_source_disable_unref(f->fold);
        sd_event_source_disable_unref(f->timer);
        sd_event_source_disable_unref(f->post);
        for (size_t i = 0; i < f->n_results; i++)
                free(f->results[i].key);
        free(f->results);
        free(f->e);
        free(f->arena);
        free(f->hash);
        free(f->heap);
        free(f->codes);
        free(f->days);
        sd_event_unref(f->event);
        free(f);
}
