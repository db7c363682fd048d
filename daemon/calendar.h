/* calendar.h - civil dates, time zones, Norwegian holidays, office hours and
 * duty rosters.
 *
 * Pure code: no global state, no clock. Every "now" is passed in by the caller
 * (usec since the epoch, CLOCK_REALTIME, like sd-event's usec_t), so the rules
 * are tested with a fake clock. The only I/O is reading a TZif file in
 * calendar_tz_load() / calendar_new(), done once at configuration load.
 *
 * Instants are uint64_t usec since 1970-01-01 UTC; instants before 1970 are
 * not representable and results that would fall before it are clamped to 0.
 * Civil dates are struct ymd (proleptic Gregorian; years within +-1 billion).
 * Weekdays: 0 = Sunday ... 6 = Saturday (struct tm).
 * "Local" always means the wall clock of the calendar's time zone.
 *
 * Local -> UTC is made deterministic at DST changes: a local time that does not
 * exist (spring-forward gap) maps to the first instant after the gap (02:30 on
 * the spring day in Europe/Oslo -> 03:00 CEST); a local time that exists twice
 * (autumn overlap) maps to the earlier instant (02:30 CEST, not 02:30 CET).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "time-util.h"

/* Returned by the "next ..." functions when nothing is found within
 * CALENDAR_HORIZON_DAYS (e.g. no weekday has office hours). */
#define CALENDAR_NEVER UINT64_MAX
#define CALENDAR_HORIZON_DAYS 1100

/* ---- civil dates ---- */

/* Days since 1970-01-01 of D (negative before). D must be a valid date. */
int64_t calendar_days_from_ymd(struct ymd d);
/* The civil date DAYS days after 1970-01-01. */
struct ymd calendar_ymd_from_days(int64_t days);
/* Weekday of D: 0 = Sunday ... 6 = Saturday. */
int calendar_weekday(struct ymd d);
/* D plus N days (N may be negative). */
struct ymd calendar_add_days(struct ymd d, int64_t n);
/* ---- time zones ---- */

struct calendar_tz;

/* A UTC instant seen on the local wall clock. */
struct calendar_local {
        struct ymd date;
        int wday;           /* 0 = Sunday */
        int hour, minute, second;
        int usec;           /* 0..999999 */
        int day_min;        /* minutes since local midnight: hour * 60 + minute */
        int32_t utc_offset; /* seconds east of UTC (Oslo: 3600 or 7200) */
        bool dst;
        const char *abbr;   /* "CET", "CEST"; owned by the tz */
};

/* Load zone NAME ("Europe/Oslo") from $TZDIR or /usr/share/zoneinfo, or an
 * absolute path. "UTC" works even without tzdata. Names with ".." are refused
 * (-EINVAL); a malformed file gives -EBADMSG; leap-second ("right/") files
 * -EOPNOTSUPP. Returns 0 or -errno. */
int calendar_tz_load(const char *name, struct calendar_tz **ret);
/* Parse a TZif image (v1, or v2+ with its POSIX footer) held in memory. */
int calendar_tz_from_tzif(const char *name, const void *data, size_t len, struct calendar_tz **ret);
/* Build a zone from a POSIX TZ rule alone ("CET-1CEST,M3.5.0,M10.5.0/3"). */
int calendar_tz_from_posix(const char *spec, struct calendar_tz **ret);
void calendar_tz_free(struct calendar_tz *tz);
/* The name the zone was loaded as. */
const char *calendar_tz_name(const struct calendar_tz *tz);
/* UTC offset in seconds east of UTC at UTC second T (any int64). */
int32_t calendar_tz_offset(const struct calendar_tz *tz, int64_t t);
/* UTC instant USEC -> local wall clock. */
void calendar_tz_to_local(const struct calendar_tz *tz, uint64_t usec, struct calendar_local *ret);
/* Local wall-clock seconds since 1970-01-01 00:00 (local) -> UTC seconds,
 * with the gap/overlap rule above. */
int64_t calendar_tz_from_local_sec(const struct calendar_tz *tz, int64_t local_sec);
/* Local date D at MIN minutes since midnight (may be outside 0..1439; it
 * rolls over to other days) -> UTC usec, with the gap/overlap rule above. */
uint64_t calendar_tz_from_local(const struct calendar_tz *tz, struct ymd d, int min);

/* ---- Norwegian public holidays ---- */

/* Easter Sunday of year Y (Gregorian; Meeus/Jones/Butcher). */
struct ymd calendar_easter(int y);
/* Norwegian name of the public holiday on D ("Skjærtorsdag"), or NULL. When
 * two coincide (17 May 2027 is also Whit Monday) the fixed-date name wins. */
const char *calendar_holiday_no(struct ymd d);

struct calendar_holiday {
        struct ymd date;
        const char *name;
};
#define CALENDAR_N_HOLIDAYS_NO 12
/* Fill OUT with the 12 Norwegian public holidays of year Y in calendar order
 * (dates may repeat when two coincide). Returns CALENDAR_N_HOLIDAYS_NO. */
size_t calendar_holidays_no_year(int y, struct calendar_holiday out[static CALENDAR_N_HOLIDAYS_NO]);

/* ---- the calendar: zone + office hours + closed days + heightened periods ---- */

struct calendar;

/* Create a calendar for CONF in zone TZNAME (loads the zone: the only I/O).
 * CONF is borrowed: it must outlive the calendar (make a new calendar with
 * every configuration). Returns 0 or -errno as calendar_tz_load(). */
int calendar_new(const struct calendar_conf *conf, const char *tzname, struct calendar **ret);
/* As calendar_new() with an already loaded zone; takes ownership of TZ (also on failure). */
int calendar_new_with_tz(const struct calendar_conf *conf, struct calendar_tz *tz, struct calendar **ret);
void calendar_free(struct calendar *c);
/* The calendar's zone (owned by the calendar). */
const struct calendar_tz *calendar_get_tz(const struct calendar *c);
/* UTC instant -> local wall clock in the calendar's zone. */
void calendar_local(const struct calendar *c, uint64_t usec, struct calendar_local *ret);
/* Local date D at MIN minutes since midnight -> UTC usec (gap/overlap rule above). */
uint64_t calendar_from_local(const struct calendar *c, struct ymd d, int min);

/* Holiday name on D when built-in holidays are enabled (holidays = "no"), else NULL. */
const char *calendar_holiday(const struct calendar *c, struct ymd d);
/* True when D is listed in `closed`. */
bool calendar_is_closed(const struct calendar *c, struct ymd d);
/* True when D's weekday has office hours and D is neither a holiday nor closed. */
bool calendar_is_working_day(const struct calendar *c, struct ymd d);
/* True when USEC falls within [open, close) local on a working day. */
bool calendar_is_office(const struct calendar *c, uint64_t usec);
/* The first office-hours opening instant at or after USEC_FROM, or CALENDAR_NEVER. */
uint64_t calendar_next_office_start(const struct calendar *c, uint64_t usec_from);
/* The first working day on or after D (D itself if it is one); -ENOENT if none within the horizon. */
int calendar_next_working_day(const struct calendar *c, struct ymd d, struct ymd *ret);
/* The heightened period covering D (first in configuration order), or NULL. */
const struct heightened *calendar_heightened(const struct calendar *c, struct ymd d);

/* ---- rosters ---- */

/* A swap: PERSON is on duty for ROSTER in [from, to). Owned by the caller. */
struct calendar_override {
        const char *roster; /* roster id */
        uint64_t from, to;  /* usec, realtime; to exclusive */
        const char *person; /* person id */
};

struct calendar_duty {
        const char *person;   /* who is on duty: a member, or the override's person */
        ssize_t index;        /* PERSON's index in members, -1 if the override names a non-member */
        size_t scheduled;     /* index of the member the rotation puts on duty (ignores overrides) */
        const struct calendar_override *override; /* the override that applied, or NULL */
        uint64_t shift_start; /* the scheduled shift containing now: [shift_start, shift_end) */
        uint64_t shift_end;
};

/* Index of the member the rotation puts on duty at USEC (no overrides);
 * -ENOENT for a roster without members, -EINVAL for a bad roster. Weekly shifts
 * start on handoff_wday at handoff_min local; daily ones every day at
 * handoff_min. members[0]'s first shift starts at `start` (for weekly, at the
 * hand-off weekday on or before `start`); earlier times count backwards. */
ssize_t calendar_roster_index(const struct calendar *c, const struct roster *r, uint64_t usec);
/* Who is on duty at USEC, given the caller's overrides OV[0..N_OV): among
 * those for R covering USEC the last in the array (latest added) wins.
 * Returns 0, or -ENOENT / -EINVAL as calendar_roster_index(). */
int calendar_roster_on_duty(const struct calendar *c, const struct roster *r, uint64_t usec,
                            const struct calendar_override *ov, size_t n_ov, struct calendar_duty *ret);
