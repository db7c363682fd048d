/* time-util.h - the leaf below everything that deals in time or names: the
 * USEC_* units, civil dates (struct ymd) and their rules, the duration and
 * date formats the configuration and the commands share, beredd's clock
 * (beredd_now() and the test time offset), the date formatters, the
 * safe-identifier rule and the lookup of a word in a table of names.
 * Includes no other beredd header.
 *
 * Durations are microseconds (uint64_t, like sd-event's usec_t). Dates are
 * civil dates without a time zone; calendar.h turns them into instants. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MIN  (UINT64_C(60) * USEC_PER_SEC)
#define USEC_PER_HOUR (UINT64_C(60) * USEC_PER_MIN)
#define USEC_PER_DAY  (UINT64_C(24) * USEC_PER_HOUR)

/* ---- civil dates (proleptic Gregorian) ---- */

struct ymd {
        int y, m, d;
};

/* True for a Gregorian leap year. */
bool ymd_is_leap(int64_t y);
/* Number of days in month M (1-12) of year Y; 0 for a bad month. */
int ymd_days_in_month(int64_t y, int m);
/* True when D is a real date (month 1-12, day within the month). */
bool ymd_valid(struct ymd d);
/* <0, 0, >0 as A is before, equal to or after B. */
int ymd_cmp(struct ymd a, struct ymd b);

/* ---- the formats of the configuration and the commands ---- */

/* Parse a duration: one or more <number><unit> groups, unit s, m, h, d or w
 * ("90s", "5m", "1h30m", "14d"). Returns 0, or -EINVAL. */
int parse_duration(const char *s, uint64_t *ret_usec);
/* Parse "YYYY-MM-DD" into a valid civil date from 1970 on. Returns 0, or -EINVAL. */
int parse_date(const char *s, struct ymd *ret);

/* "YYYY-MM-DD" into BUF. */
void time_format_date(struct ymd d, char *buf, size_t len);
/* "YYYY-MM-DD HH:MM" into BUF (a local time as calendar_local() gives it). */
void time_format_date_time(struct ymd d, int hour, int minute, char *buf, size_t len);

/* Longest identifier id_is_safe() accepts. */
#define ID_SAFE_MAX 64
/* True when S is a safe identifier: 1..ID_SAFE_MAX of [A-Za-z0-9._-],
 * not starting with '.' or '-' (never a path). */
bool id_is_safe(const char *s);
/* The same letters and first character, 1..MAX long: a key or word made of
 * ids (a notification key can be longer than one id). */
bool word_is_safe(const char *s, size_t max);

/* Index of S in the table V of N names (NULL entries: holes), or -1 (also for S NULL):
 * for enums spelled as words in the configuration and in spool files. */
int string_table_lookup(const char *const *v, size_t n, const char *s);

/* ---- beredd's clock ---- */

/* The current time as beredd sees it (usec, realtime). Tests may shift it
 * with BEREDD_TEST_TIME_OFFSET=<seconds> to put "now" in or out of office
 * hours; timers are shifted alike. */
uint64_t beredd_now(void);
/* BEREDD_TEST_TIME_OFFSET in usec (0 in production): beredd_now() minus the
 * real clock, for arming real-clock timers at beredd times. */
int64_t time_offset(void);

/* A test knob NAME in milliseconds from the environment, at most an hour:
 * 1 with *RET_USEC set, 0 when NAME is unset or empty, -EINVAL when it is
 * not such a number (the caller says it ignores it). */
int env_msec(const char *name, uint64_t *ret_usec);
