/* coverage.h - the coverage forecast: for a chain and a range of local days,
 * how many of the chain's people are available in each day (or each office /
 * outside-office part of a day, when the chain's steps differ by `when`) and
 * whether the quorum (need.total and every role minimum) can still be met.
 *
 * Pure code: no clock, no I/O. The absences, the calendar and the duty
 * roster are passed in, so it is tested with a fake clock.
 *
 * The rules (as an activation starting in that part would see them):
 *  - A part applies the steps whose `when` matches it (always; office on an
 *    office part; outside-office on an outside part); the final step's people
 *    do not count toward the quorum. A person named by several steps counts once.
 *  - A person is available in a part when they are not away at any time of
 *    that part (an absence that touches the part at all makes them unavailable).
 *  - A roster counts the person on duty at the part's start (swaps applied;
 *    for the outside-office part of a working day: at closing time, the
 *    evening's and night's shift);
 *    when that person is away in the part, the roster's next member (in the
 *    roster's order, wrapping) who is not away in it, as activations do.
 *  - Parts: a day whose steps do not differ by `when` (or a day without office
 *    hours: weekend, holiday, closed day) is one part, COVERAGE_DAY or
 *    COVERAGE_OUTSIDE. On a working day of a chain whose steps differ, the
 *    office part is [open, close) and the outside part the rest of the day
 *    ([00:00, open) and [close, 24:00)).
 * Personal data: the result holds person ids only in `away` (for beredctl);
 * coverage_json(..., false) leaves them out (MQTT). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "absence.h"
#include "calendar.h"
#include "config.h"
#include "duty.h"

#define COVERAGE_MAX_DAYS 62   /* the longest range asked for */
#define COVERAGE_SUMMARY_MAX 8 /* parts named in coverage_summary(); then "og N til" */

enum coverage_part_kind {
        COVERAGE_DAY,     /* the whole day: the chain's steps do not differ by `when` */
        COVERAGE_OFFICE,  /* office hours of a working day */
        COVERAGE_OUTSIDE, /* outside office hours (on a day without office hours: all of it) */
};

struct coverage_role {
        const char *role; /* role id (the configuration's) */
        int need, available;
};

struct coverage_part {
        struct ymd date;
        int wday;
        enum coverage_part_kind kind;
        const char *holiday;    /* holiday name, or NULL */
        bool closed;            /* a `closed` day */
        const char *heightened; /* name of the heightened period covering the date, or NULL */
        int people;             /* the chain's people in this part (non-final steps that apply) */
        int available;          /* of them, not away at any time in the part */
        int need_total;
        bool met;               /* need.total and every role minimum can be met */
        struct coverage_role *roles; /* one per role minimum, in need order */
        size_t n_roles;
        const char **away;      /* person ids of the chain's people away in the part (config's) */
        size_t n_away;
};

struct coverage {
        const struct chain *chain;
        struct ymd from, to;
        struct coverage_part *parts;
        size_t n_parts;
        size_t n_unmet; /* parts that cannot be covered */
        size_t n_unmet_days; /* days with at least one such part */
};

/* True when the chain's non-final steps differ by `when` (so days are split). */
bool coverage_chain_splits(const struct chain *c);

/* The forecast for chain C over the local days FROM..TO (inclusive). ABS and
 * DUTY may be NULL (nobody away; rosters without swaps are then not known:
 * DUTY NULL counts a roster's scheduled member). -EINVAL when TO < FROM,
 * -E2BIG over COVERAGE_MAX_DAYS days, -ENOMEM. Free with coverage_free(). */
int coverage_compute(const struct config *cfg, const struct calendar *cal, struct duty *duty,
                     const struct absences *abs, const struct chain *c, struct ymd from, struct ymd to,
                     struct coverage **ret);
void coverage_free(struct coverage *cv);

/* "office", "outside-office", "day". */
const char *coverage_part_id(enum coverage_part_kind k);

/* The forecast as JSON: { chain, from, to, unmet, unmet_days, days: [ { date,
 * part, available, people, need, met, missing: [ { role, name, need,
 * available } ], short (need.total - available when positive)
 * [, away: [ids]] } ] }. WITH_PEOPLE adds the away person ids (beredctl only;
 * never MQTT). */
json_t *coverage_json(const struct config *cfg, const struct coverage *cv, bool with_people);

/* One line per part into a malloc'ed string (beredctl's text):
 * "to. 24.12  utenfor kontortid  4 av 9 tilgjengelige  KAN IKKE DEKKES: mangler leder (0 av 1)". */
char *coverage_text(const struct config *cfg, const struct coverage *cv, enum lang lang);

/* A short message for the leader (SMS / e-mail), e.g. "Jul og nyttår
 * 18.12–3.1: 2 dager kan ikke dekkes: to. 24.12 (mangler leder), fr. 25.12
 * utenfor kontortid (mangler 1 av 3)." or "…: alle dager kan dekkes.".
 * The part is named only where the day has two; at most
 * COVERAGE_SUMMARY_MAX parts are named, then " og N til" (N more parts).
 * TITLE NULL: the chain's name. malloc'ed, or NULL. */
char *coverage_summary(const struct config *cfg, const struct coverage *cv, const char *title, enum lang lang);

/* Only the parts that cannot be covered, of ONLY (when not NULL: the parts
 * i with ONLY[i]), in coverage_summary's words: "to. 24.12 (mangler
 * leder), fr. 25.12 utenfor kontortid (mangler 1 av 3)". malloc'ed, or NULL. */
char *coverage_unmet_text(const struct config *cfg, const struct coverage *cv, const bool *only, enum lang lang);

/* "YYYY-MM-DD/part" of part P (part: coverage_part_id), for comparing
 * forecasts. */
void coverage_part_key(const struct coverage_part *p, char *buf, size_t len);

static inline void coverage_freep(struct coverage **p) {
        coverage_free(*p);
}
