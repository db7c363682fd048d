/* absence.h - people's absences ("beredctl away", SMS "BORTE 24.12-27.12"):
 * periods in which a person is not to be asked. Activations skip a person
 * away when a step starts (and a roster's on-duty person is replaced);
 * the coverage forecast and the follow-up use the same questions.
 *
 * One JSON file per absence in spool/absences/<id>.json, written as every
 * spool file is (tmp/ + fsync + rename + folder fsync), so a crash leaves
 * each absence either whole or absent. All of them are kept in memory
 * (a municipality has a few hundred a year at most), sorted by start.
 *
 * The note is the person's free text: it stays in the spool and goes to the
 * operator's tool (beredctl), never to logs, MQTT or metrics.
 *
 * Times are usec of beredd's real-time clock (beredd_now()); a period is
 * [from, to). Functions return 0 (or a count) or -errno and do not log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

#define ABSENCE_ID_LEN      8                  /* "a" + 7 random base-32 characters */
#define ABSENCE_NOTE_MAX    200                /* bytes of a note */
#define ABSENCE_MAX_PERIOD  (366 * USEC_PER_DAY) /* the longest absence accepted */
#define ABSENCES_MAX        10000              /* in the spool at once */
#define ABSENCES_PER_PERSON_MAX 50             /* of one person, at once (one phone cannot fill the spool) */
#define ABSENCE_MAX_AHEAD   (366 * USEC_PER_DAY) /* the latest start accepted, from now */

struct absence {
        char id[ABSENCE_ID_LEN + 1];
        char *person;      /* person id */
        uint64_t from, to; /* [from, to), usec realtime */
        char *note;        /* NULL: none. Personal: never logged or published */
        char source[16];   /* "socket", "incoming", "mqtt", "sms", ... */
        uint64_t created;
        uint64_t ended;    /* 0, or when it was ended early (TILBAKE: to was set to then) */
};

struct absences;

/* Load every absence in the spool's absences/ folder; STORE NULL keeps them
 * in memory only (tests). A file that cannot be read is skipped and counted
 * in *RET_BROKEN (when not NULL), never removed. */
int absences_new(struct store *store, struct absences **ret, unsigned *ret_broken);
void absences_free(struct absences *a);

/* Add PERSON's absence [FROM, TO) (durable before it returns 0), made at
 * NOW from SOURCE, with NOTE (NULL: none). -EINVAL when TO <= FROM, the
 * period is longer than ABSENCE_MAX_PERIOD or begins more than
 * ABSENCE_MAX_AHEAD after NOW, -E2BIG when ABSENCES_MAX are kept already,
 * -EDQUOT when ABSENCES_PER_PERSON_MAX of PERSON's are. *RET (may be NULL) points to the new absence, valid until
 * the next change. */
int absences_add(struct absences *a, const char *person, uint64_t from, uint64_t to, const char *note,
                 const char *source, uint64_t now, const struct absence **ret);
/* Remove absence ID (durably). -ENOENT when there is none. */
int absences_cancel(struct absences *a, const char *id);
/* PERSON is back at NOW (SMS TILBAKE): every absence of theirs that has
 * begun and not ended is ended at NOW. Returns how many, or -errno. */
int absences_end_now(struct absences *a, const char *person, uint64_t now);

/* The absence ID, or NULL. */
const struct absence *absences_find(const struct absences *a, const char *id);
/* PERSON is away at USEC. */
bool absences_away_at(const struct absences *a, const char *person, uint64_t usec);
/* PERSON's absence covering USEC (the one ending last), or NULL. */
const struct absence *absences_covering(const struct absences *a, const char *person, uint64_t usec);
/* Iterate over the absences of PERSON (NULL: everyone's) that overlap
 * [FROM, TO), in order of their start: start with *ITER = 0; NULL at the
 * end. Valid until the next change. E.g. who is away on day D: FROM and TO
 * the local day's bounds (calendar_from_local). */
const struct absence *absences_next(const struct absences *a, const char *person, uint64_t from, uint64_t to,
                                    size_t *iter);
/* How many absences are kept, and how many cover NOW (metrics). */
size_t absences_count(const struct absences *a);
unsigned absences_active(const struct absences *a, uint64_t now);

/* Retention: remove every absence that ended before BEFORE. *RET_N (may be
 * NULL) gets the count removed; returns 0 or the first -errno. */
int absences_purge(struct absences *a, uint64_t before, unsigned *ret_n);

/* An absence as JSON for beredctl (with the note), FROM/TO also as local
 * times when FMT is given: FMT(USEC, BUF, LEN) writes "YYYY-MM-DD HH:MM". */
json_t *absence_json(const struct absence *x, void (*fmt)(void *ud, uint64_t usec, char *buf, size_t len), void *ud);
