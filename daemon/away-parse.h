/* away-parse.h - the absence texts people send by SMS: "BORTE 24.12-27.12",
 * "BORTE 24.12", "BORTE TIL 2.1", "BORTE 24.12.2026-2.1.2027", "TILBAKE";
 * in English "AWAY 24.12-27.12", "AWAY UNTIL 2.1", "BACK".
 *
 * Pure: no I/O, no clock (the caller gives "today", the local date), no
 * allocation. Dates are d.m or d.m.y (y with 2 or 4 digits; '/' works as
 * '.'); a date without a year is the next such date from today (today
 * included), so in December "2.1" is next January, and a range's end
 * without a year is the first such date on or after its start (a range
 * crosses New Year by itself). Between two dates: '-', an en or em dash,
 * "til", "to" or "until", with or without spaces; "fra"/"from" may come
 * before the first. Keywords in any case; ASCII punctuation . , ! : ; at
 * the end and spaces (incl. NBSP) are tolerated. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "time-util.h"

enum away_text_kind {
        AWAY_TEXT_NONE,     /* not an absence text: parse it as an answer */
        AWAY_TEXT_AWAY,     /* an absence: whole local days FROM to TO, both included */
        AWAY_TEXT_BACK,     /* TILBAKE / BACK */
        AWAY_TEXT_BAD_DATE, /* BORTE/AWAY with no date or one that is not understood */
        AWAY_TEXT_PAST,     /* the period is over already */
        AWAY_TEXT_TOO_LONG, /* longer than 366 days */
        AWAY_TEXT_NEEDS_YEAR, /* no year written, and the dates land more than
                               * AWAY_GUESS_MAX_DAYS ahead in a later year:
                               * "BORTE 2.12-1.12" on 2.12 is a typo far more
                               * often than a year away; ask for the year */
        AWAY_TEXT_TOO_FAR,  /* begins more than 366 days ahead */
        AWAY_TEXT_BACK_EXTRA, /* TILBAKE / BACK with more words after it
                               * ("TILBAKE JA 1748", "tilbake i morgen"):
                               * neither registered nor taken as an answer */
};

#define AWAY_GUESS_MAX_DAYS 183

struct away_text {
        enum away_text_kind kind;
        bool en;           /* the keyword was English (AWAY, BACK) */
        bool from_now;     /* "TIL 2.1": from now (FROM is today) */
        struct ymd from, to; /* AWAY: the days, both included; FROM >= today */
};

/* Parse S[0..LEN) with TODAY the local date. Fills *RET and returns its kind. */
enum away_text_kind away_text_parse(const char *s, size_t len, struct ymd today, struct away_text *ret);
