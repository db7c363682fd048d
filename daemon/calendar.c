/* calendar.c - civil dates, TZif time zones, Norwegian holidays, office hours
 * and rosters.
 *
 * Time zones are parsed from TZif files (RFC 8536) ourselves rather than
 * through setenv("TZ") + localtime_r(): the C library keeps one process-global
 * zone, and a parsed table is both faster and free of hidden state. The POSIX
 * TZ footer of v2+ files is evaluated too, because Debian ships "slim" files
 * whose transition table stops early and leaves every later year to the
 * footer rule (the fat ones stop in 2037).
 *
 * Office hours, holidays and rosters are all decided on the local wall clock
 * and turned into instants only with calendar_tz_from_local(), so a hand-off
 * at "Mon 08:00" stays at 08:00 across DST changes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calendar.h"
#include "macro.h"

#define SEC_PER_DAY INT64_C(86400)
#define TZIF_MAX_SIZE (1024 * 1024)
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
/* Clamp for instants and local times handed to the zone code (about 142
 * million years): keeps every sum and product below free of overflow. */
#define TZ_T_LIMIT (INT64_C(1) << 52)
/* Clamp for day numbers: keeps the year of calendar_ymd_from_days() in an int. */
#define DAYS_LIMIT INT64_C(700000000000)

/* ---- small arithmetic ---- */

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0)))
                q--;
        return q;
}

static int64_t floor_mod(int64_t a, int64_t b) {
        return a - floor_div(a, b) * b;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
        return v < lo ? lo : v > hi ? hi : v;
}

/* ---- civil dates (H. Hinnant's days_from_civil / civil_from_days) ---- */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
        /* Normalise the month so that any int input is defined; an out-of-range
         * day simply counts on from the first of the month. */
        y += floor_div(m - 1, 12);
        m = floor_mod(m - 1, 12) + 1;
        y -= m <= 2;
        int64_t era = floor_div(y, 400);
        int64_t yoe = y - era * 400;                                /* [0, 399] */
        int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;        /* [0, 146096] */
        return era * 146097 + doe - 719468;
}

int64_t calendar_days_from_ymd(struct ymd d) {
        return days_from_civil(d.y, d.m, d.d);
}

struct ymd calendar_ymd_from_days(int64_t z) {
        z = clamp64(z, -DAYS_LIMIT, DAYS_LIMIT) + 719468;
        int64_t era = floor_div(z, 146097);
        int64_t doe = z - era * 146097;                                       /* [0, 146096] */
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
        int64_t y = yoe + era * 400;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* [0, 365] */
        int64_t mp = (5 * doy + 2) / 153;                      /* [0, 11] */
        int64_t d = doy - (153 * mp + 2) / 5 + 1;              /* [1, 31] */
        int64_t m = mp < 10 ? mp + 3 : mp - 9;                 /* [1, 12] */
        return (struct ymd) { .y = (int) (y + (m <= 2)), .m = (int) m, .d = (int) d };
}

static int weekday_of_days(int64_t days) {
        return (int) floor_mod(days + 4, 7); /* 1970-01-01 was a Thursday */
}

int calendar_weekday(struct ymd d) {
        return weekday_of_days(calendar_days_from_ymd(d));
}

struct ymd calendar_add_days(struct ymd d, int64_t n) {
        return calendar_ymd_from_days(calendar_days_from_ymd(d) + clamp64(n, -DAYS_LIMIT, DAYS_LIMIT));
}


/* ---- time zones ---- */

struct tz_type {
        int32_t off; /* seconds east of UTC */
        bool dst;
        size_t abbr; /* index into abbrs */
};

/* One end of a POSIX DST rule: Jn, n or Mm.w.d, at TIME seconds local. */
struct tz_rule_date {
        char kind; /* 'J' (1..365, no Feb 29), 'N' (0..365), 'M' */
        int n, m, w, d;
        int32_t time;
};

struct tz_rule {
        int32_t std_off, dst_off; /* seconds east of UTC */
        bool has_dst;
        struct tz_rule_date start, end;
        char std_abbr[16], dst_abbr[16];
};

struct calendar_tz {
        char *name;
        int64_t *trans; /* UTC seconds, strictly ascending */
        uint8_t *trans_type;
        size_t n_trans;
        struct tz_type *types;
        size_t n_types;
        char *abbrs; /* NUL-terminated at abbrs[n_abbrs] whatever the file says */
        size_t n_abbrs;
        bool has_rule;
        struct tz_rule rule;
};

void calendar_tz_free(struct calendar_tz *tz) {
        if (!tz)
                return;
        free(tz->name);
        free(tz->trans);
        free(tz->trans_type);
        free(tz->types);
        free(tz->abbrs);
        free(tz);
}

const char *calendar_tz_name(const struct calendar_tz *tz) {
        return tz->name;
}

/* -- POSIX TZ strings: "CET-1CEST,M3.5.0,M10.5.0/3", "<+0330>-3:30", "UTC0" -- */

static bool parse_abbr(const char **pp, char *buf, size_t size) {
        const char *p = *pp;
        size_t n = 0;

        if (*p == '<') {
                p++;
                while (*p && *p != '>') {
                        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                              (*p >= '0' && *p <= '9') || *p == '+' || *p == '-'))
                                return false;
                        if (n + 1 >= size)
                                return false;
                        buf[n++] = *p++;
                }
                if (*p != '>')
                        return false;
                p++;
        } else
                while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
                        if (n + 1 >= size)
                                return false;
                        buf[n++] = *p++;
                }
        if (n < 3)
                return false;
        buf[n] = '\0';
        *pp = p;
        return true;
}

static bool parse_uint(const char **pp, int max, int *ret) {
        const char *p = *pp;
        int v = 0;

        if (*p < '0' || *p > '9')
                return false;
        while (*p >= '0' && *p <= '9') {
                v = v * 10 + (*p++ - '0');
                if (v > max)
                        return false;
        }
        *pp = p;
        *ret = v;
        return true;
}

/* [+-]hh[:mm[:ss]] with hh <= MAX_H; returns seconds (sign applied). */
static bool parse_hms(const char **pp, int max_h, int32_t *ret) {
        const char *p = *pp;
        int sign = 1, h, m = 0, s = 0;

        if (*p == '+' || *p == '-')
                sign = *p++ == '-' ? -1 : 1;
        if (!parse_uint(&p, max_h, &h))
                return false;
        if (*p == ':') {
                p++;
                if (!parse_uint(&p, 59, &m))
                        return false;
                if (*p == ':') {
                        p++;
                        if (!parse_uint(&p, 59, &s))
                                return false;
                }
        }
        *pp = p;
        *ret = sign * (h * 3600 + m * 60 + s);
        return true;
}

static bool parse_rule_date(const char **pp, struct tz_rule_date *ret) {
        const char *p = *pp;
        struct tz_rule_date r = { .time = 2 * 3600 };

        if (*p == 'J') {
                p++;
                r.kind = 'J';
                if (!parse_uint(&p, 365, &r.n) || r.n < 1)
                        return false;
        } else if (*p == 'M') {
                p++;
                r.kind = 'M';
                if (!parse_uint(&p, 12, &r.m) || r.m < 1 || *p++ != '.' ||
                    !parse_uint(&p, 5, &r.w) || r.w < 1 || *p++ != '.' ||
                    !parse_uint(&p, 6, &r.d))
                        return false;
        } else {
                r.kind = 'N';
                if (!parse_uint(&p, 365, &r.n))
                        return false;
        }
        /* RFC 8536 section 3.3.1 allows -167..167 hours here. */
        if (*p == '/') {
                p++;
                if (!parse_hms(&p, 167, &r.time))
                        return false;
        }
        *pp = p;
        *ret = r;
        return true;
}

static bool parse_posix(const char *s, struct tz_rule *ret) {
        struct tz_rule r = {};
        const char *p = s;
        int32_t v;

        if (!parse_abbr(&p, r.std_abbr, sizeof r.std_abbr) || !parse_hms(&p, 24, &v))
                return false;
        r.std_off = -v; /* POSIX counts west as positive */
        if (*p == '\0') {
                *ret = r;
                return true;
        }
        if (!parse_abbr(&p, r.dst_abbr, sizeof r.dst_abbr))
                return false;
        r.has_dst = true;
        r.dst_off = r.std_off + 3600;
        if (*p != ',' && *p != '\0') {
                if (!parse_hms(&p, 24, &v))
                        return false;
                r.dst_off = -v;
        }
        if (*p == '\0') {
                /* No rule: POSIX leaves it to the implementation; glibc and
                 * tzcode use the US rule, and so do we. */
                r.start = (struct tz_rule_date) { .kind = 'M', .m = 3, .w = 2, .d = 0, .time = 7200 };
                r.end = (struct tz_rule_date) { .kind = 'M', .m = 11, .w = 1, .d = 0, .time = 7200 };
        } else {
                if (*p++ != ',' || !parse_rule_date(&p, &r.start) || *p++ != ',' ||
                    !parse_rule_date(&p, &r.end) || *p != '\0')
                        return false;
        }
        *ret = r;
        return true;
}

/* Day number (since 1970-01-01) on which rule date R falls in year Y. */
static int64_t rule_day(const struct tz_rule_date *r, int y) {
        int64_t jan1 = days_from_civil(y, 1, 1);

        switch (r->kind) {
        case 'J':
                return jan1 + r->n - 1 + (ymd_is_leap(y) && r->n >= 60);
        case 'N':
                return jan1 + r->n;
        default: {
                int64_t first = days_from_civil(y, r->m, 1);
                int64_t day = first + floor_mod(r->d - weekday_of_days(first), 7) + (int64_t) (r->w - 1) * 7;
                while (day >= first + ymd_days_in_month(y, r->m))
                        day -= 7;
                return day;
        }
        }
}

static void rule_lookup(const struct tz_rule *r, int64_t t, int32_t *off, bool *dst, const char **abbr) {
        bool in_dst = false;

        if (r->has_dst) {
                int y = calendar_ymd_from_days(floor_div(t + r->std_off, SEC_PER_DAY)).y;
                /* Start is given in standard time, end in daylight time. */
                int64_t s = rule_day(&r->start, y) * SEC_PER_DAY + r->start.time - r->std_off;
                int64_t e = rule_day(&r->end, y) * SEC_PER_DAY + r->end.time - r->dst_off;
                if (s < e)
                        in_dst = t >= s && t < e;
                else /* southern hemisphere: DST spans the new year */
                        in_dst = !(t >= e && t < s);
        }
        *off = in_dst ? r->dst_off : r->std_off;
        *dst = in_dst;
        *abbr = in_dst ? r->dst_abbr : r->std_abbr;
}

static void tz_lookup(const struct calendar_tz *tz, int64_t t, int32_t *off, bool *dst, const char **abbr) {
        const struct tz_type *ty;

        t = clamp64(t, -TZ_T_LIMIT, TZ_T_LIMIT);
        if (tz->has_rule && (tz->n_trans == 0 || t > tz->trans[tz->n_trans - 1])) {
                rule_lookup(&tz->rule, t, off, dst, abbr);
                return;
        }

        if (tz->n_trans == 0 || t < tz->trans[0])
                ty = &tz->types[0]; /* RFC 8536: before the first transition, type 0 */
        else {
                /* Last transition at or before t. */
                size_t lo = 0, hi = tz->n_trans;
                while (hi - lo > 1) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (tz->trans[mid] <= t)
                                lo = mid;
                        else
                                hi = mid;
                }
                ty = &tz->types[tz->trans_type[lo]];
        }
        *off = ty->off;
        *dst = ty->dst;
        *abbr = tz->abbrs + ty->abbr;
}

int32_t calendar_tz_offset(const struct calendar_tz *tz, int64_t t) {
        int32_t off;
        bool dst;
        const char *abbr;

        tz_lookup(tz, t, &off, &dst, &abbr);
        return off;
}

void calendar_tz_to_local(const struct calendar_tz *tz, uint64_t usec, struct calendar_local *ret) {
        int64_t t = (int64_t) (usec / USEC_PER_SEC);
        int32_t off;
        bool dst;
        const char *abbr;

        tz_lookup(tz, t, &off, &dst, &abbr);
        int64_t local = t + off;
        int64_t days = floor_div(local, SEC_PER_DAY);
        int sod = (int) (local - days * SEC_PER_DAY);

        *ret = (struct calendar_local) {
                .date = calendar_ymd_from_days(days),
                .wday = weekday_of_days(days),
                .hour = sod / 3600,
                .minute = sod / 60 % 60,
                .second = sod % 60,
                .usec = (int) (usec % USEC_PER_SEC),
                .day_min = sod / 60,
                .utc_offset = off,
                .dst = dst,
                .abbr = abbr,
        };
}

int64_t calendar_tz_from_local_sec(const struct calendar_tz *tz, int64_t local) {
        local = clamp64(local, -TZ_T_LIMIT, TZ_T_LIMIT);

        /* The offsets in force a day before and a day after LOCAL (probing as if
         * it were UTC; offsets are below 26 h, so the probes straddle any
         * change that concerns LOCAL). Each gives a candidate instant, valid if
         * that offset really applies there. */
        int32_t o1 = calendar_tz_offset(tz, local - SEC_PER_DAY);
        int32_t o2 = calendar_tz_offset(tz, local + SEC_PER_DAY);
        int64_t t1 = local - o1, t2 = local - o2;
        bool v1 = calendar_tz_offset(tz, t1) == o1;
        bool v2 = calendar_tz_offset(tz, t2) == o2;

        if (v1 && v2)
                return t1 < t2 ? t1 : t2; /* overlap (or no change): the earlier instant */
        if (v1)
                return t1;
        if (v2)
                return t2;

        /* In a gap: the first valid instant after it is the transition itself,
         * which lies between the two candidates. Bisect for it. */
        int64_t lo = t1 < t2 ? t1 : t2, hi = t1 < t2 ? t2 : t1;
        int32_t base = calendar_tz_offset(tz, lo);
        while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                if (calendar_tz_offset(tz, mid) == base)
                        lo = mid;
                else
                        hi = mid;
        }
        return hi;
}

static uint64_t sec_to_usec(int64_t t) {
        if (t <= 0)
                return 0;
        if ((uint64_t) t > UINT64_MAX / USEC_PER_SEC - 1)
                return (UINT64_MAX / USEC_PER_SEC - 1) * USEC_PER_SEC; /* never CALENDAR_NEVER */
        return (uint64_t) t * USEC_PER_SEC;
}

uint64_t calendar_tz_from_local(const struct calendar_tz *tz, struct ymd d, int min) {
        int64_t local = calendar_days_from_ymd(d) * SEC_PER_DAY + (int64_t) min * 60;
        return sec_to_usec(calendar_tz_from_local_sec(tz, local));
}

/* -- TZif -- */

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static int64_t be64s(const uint8_t *p) {
        return (int64_t) ((uint64_t) be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
        uint32_t isut, isstd, leap, time, type, chars;
};

static void tzif_counts(const uint8_t *h, struct tzif_counts *c) {
        *c = (struct tzif_counts) {
                .isut = be32(h + 20),
                .isstd = be32(h + 24),
                .leap = be32(h + 28),
                .time = be32(h + 32),
                .type = be32(h + 36),
                .chars = be32(h + 40),
        };
}

/* Size of a data block with TSIZE-byte times (4 in v1, 8 in v2+). */
static uint64_t tzif_block_size(const struct tzif_counts *c, unsigned tsize) {
        return (uint64_t) c->time * tsize + c->time + (uint64_t) c->type * 6 + c->chars +
               (uint64_t) c->leap * (tsize + 4) + c->isstd + c->isut;
}

static int tzif_block(struct calendar_tz *tz, const uint8_t *p, const struct tzif_counts *c, unsigned tsize) {
        if (c->leap > 0)
                return -EOPNOTSUPP; /* "right/" zones count leap seconds; beredd's clock does not */
        if (c->type == 0 || c->type > 256 || c->chars == 0 ||
            (c->isut != 0 && c->isut != c->type) || (c->isstd != 0 && c->isstd != c->type))
                return -EBADMSG;

        if (c->time > 0) {
                tz->trans = calloc(c->time, sizeof *tz->trans);
                tz->trans_type = calloc(c->time, 1);
                if (!tz->trans || !tz->trans_type)
                        return -ENOMEM;
        }
        tz->types = calloc(c->type, sizeof *tz->types);
        tz->abbrs = calloc((size_t) c->chars + 1, 1);
        if (!tz->types || !tz->abbrs)
                return -ENOMEM;

        for (uint32_t i = 0; i < c->time; i++, p += tsize) {
                tz->trans[i] = tsize == 8 ? be64s(p) : (int64_t) (int32_t) be32(p);
                if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
                        return -EBADMSG;
        }
        for (uint32_t i = 0; i < c->time; i++, p++) {
                if (*p >= c->type)
                        return -EBADMSG;
                tz->trans_type[i] = *p;
        }
        for (uint32_t i = 0; i < c->type; i++, p += 6) {
                int32_t off = (int32_t) be32(p);
                /* RFC 8536: -89999..93599; also keeps our arithmetic simple. */
                if (off < -89999 || off > 93599 || p[4] > 1 || p[5] >= c->chars)
                        return -EBADMSG;
                tz->types[i] = (struct tz_type) { .off = off, .dst = p[4], .abbr = p[5] };
        }
        memcpy(tz->abbrs, p, c->chars);
        tz->n_trans = c->time;
        tz->n_types = c->type;
        tz->n_abbrs = c->chars;
        return 0;
}

static int tzif_parse(struct calendar_tz *tz, const uint8_t *p, size_t len) {
        struct tzif_counts c;
        uint64_t size;

        if (len < 44 || memcmp(p, "TZif", 4) != 0)
                return -EBADMSG;
        tzif_counts(p, &c);
        size = tzif_block_size(&c, 4);
        if (size > len - 44)
                return -EBADMSG;
        if (p[4] == 0) /* version 1: 32-bit data only, no footer */
                return tzif_block(tz, p + 44, &c, 4);

        /* Version 2+: skip the v1 block, use the 64-bit one and the footer. */
        p += 44 + size;
        len -= 44 + size;
        if (len < 44 || memcmp(p, "TZif", 4) != 0)
                return -EBADMSG;
        tzif_counts(p, &c);
        size = tzif_block_size(&c, 8);
        if (size > len - 44)
                return -EBADMSG;
        int r = tzif_block(tz, p + 44, &c, 8);
        if (r < 0)
                return r;
        p += 44 + size;
        len -= 44 + size;

        /* Footer: "\n" TZ-string "\n"; the string may be empty. */
        if (len < 2 || p[0] != '\n')
                return -EBADMSG;
        const uint8_t *nl = memchr(p + 1, '\n', len - 1);
        if (!nl)
                return -EBADMSG;
        size_t flen = (size_t) (nl - (p + 1));
        if (flen > 0) {
                char buf[128];
                if (flen >= sizeof buf || memchr(p + 1, '\0', flen))
                        return -EBADMSG;
                memcpy(buf, p + 1, flen);
                buf[flen] = '\0';
                if (!parse_posix(buf, &tz->rule))
                        return -EBADMSG;
                tz->has_rule = true;
        }
        return 0;
}

int calendar_tz_from_tzif(const char *name, const void *data, size_t len, struct calendar_tz **ret) {
        struct calendar_tz *tz;
        int r;

        tz = calloc(1, sizeof *tz);
        if (!tz)
                return -ENOMEM;
        tz->name = strdup(name ? name : "");
        if (!tz->name) {
                calendar_tz_free(tz);
                return -ENOMEM;
        }
        r = tzif_parse(tz, data, len);
        if (r < 0) {
                calendar_tz_free(tz);
                return r;
        }
        *ret = tz;
        return 0;
}

int calendar_tz_from_posix(const char *spec, struct calendar_tz **ret) {
        struct calendar_tz *tz;
        struct tz_rule rule;

        if (!parse_posix(spec, &rule))
                return -EINVAL;

        /* One type standing for "before the first transition"; the rule covers
         * all time since there are no transitions. */
        tz = calloc(1, sizeof *tz);
        if (!tz)
                return -ENOMEM;
        tz->name = strdup(spec);
        tz->types = calloc(1, sizeof *tz->types);
        tz->abbrs = strdup(rule.std_abbr);
        if (!tz->name || !tz->types || !tz->abbrs) {
                calendar_tz_free(tz);
                return -ENOMEM;
        }
        tz->types[0] = (struct tz_type) { .off = rule.std_off };
        tz->n_types = 1;
        tz->n_abbrs = strlen(tz->abbrs);
        tz->rule = rule;
        tz->has_rule = true;
        *ret = tz;
        return 0;
}

static bool tz_name_ok(const char *name) {
        /* Relative names stay inside the zone folder. */
        if (name[0] == '\0' || name[0] == '.' || strlen(name) >= PATH_MAX - 64)
                return false;
        for (const char *p = name; (p = strstr(p, "..")); p += 2)
                if ((p == name || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
                        return false;
        return true;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return S_ISDIR(st.st_mode) ? -EISDIR : -EBADMSG;
        if (st.st_size > TZIF_MAX_SIZE)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > (size_t) st.st_size)
                        return -EFBIG; /* grew while we read it */
        }
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

int calendar_tz_load(const char *name, struct calendar_tz **ret) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *path = NULL;
        size_t len = 0;
        int r;

        if (!name)
                return -EINVAL;
        if (name[0] == ':') /* POSIX TZ-style ":Europe/Oslo" */
                name++;
        if (name[0] == '/')
                path = strdup(name);
        else {
                const char *dir = secure_getenv("TZDIR");
                if (!tz_name_ok(name))
                        return -EINVAL;
                if (asprintf(&path, "%s/%s", dir && dir[0] ? dir : TZ_DEFAULT_DIR, name) < 0)
                        path = NULL;
        }
        if (!path)
                return -ENOMEM;

        r = read_file(path, &data, &len);
        if (r == -ENOENT && (streq(name, "UTC") || streq(name, "Etc/UTC")))
                return calendar_tz_from_posix("UTC0", ret); /* minimal containers lack tzdata */
        if (r < 0)
                return r;
        return calendar_tz_from_tzif(name, data, len, ret);
}

/* ---- Norwegian public holidays ---- */

struct ymd calendar_easter(int y) {
        int a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4;
        int f = (b + 8) / 25, g = (b - f + 1) / 3;
        int h = (19 * a + b - d - g + 15) % 30;
        int i = c / 4, k = c % 4;
        int l = (32 + 2 * e + 2 * i - h - k) % 7;
        int m = (a + 11 * h + 22 * l) / 451;
        int month = (h + l - 7 * m + 114) / 31;
        int day = (h + l - 7 * m + 114) % 31 + 1;
        return (struct ymd) { .y = y, .m = month, .d = day };
}

/* Fixed-date holidays first, so they win when a moveable one coincides. */
static const struct {
        int m, d;
        const char *name;
} fixed_holidays[] = {
        { 1, 1, "Første nyttårsdag" },
        { 5, 1, "Arbeidernes dag" },
        { 5, 17, "Grunnlovsdag" },
        { 12, 25, "Første juledag" },
        { 12, 26, "Andre juledag" },
};

static const struct {
        int offset; /* days from Easter Sunday */
        const char *name;
} easter_holidays[] = {
        { -3, "Skjærtorsdag" },
        { -2, "Langfredag" },
        { 0, "Første påskedag" },
        { 1, "Andre påskedag" },
        { 39, "Kristi himmelfartsdag" },
        { 49, "Første pinsedag" },
        { 50, "Andre pinsedag" },
};

const char *calendar_holiday_no(struct ymd d) {
        for (size_t i = 0; i < ELEMENTSOF(fixed_holidays); i++)
                if (d.m == fixed_holidays[i].m && d.d == fixed_holidays[i].d)
                        return fixed_holidays[i].name;

        /* Moveable feasts fall between 19 March and 14 June. */
        if (d.m < 3 || d.m > 6)
                return NULL;
        int64_t diff = calendar_days_from_ymd(d) - calendar_days_from_ymd(calendar_easter(d.y));
        for (size_t i = 0; i < ELEMENTSOF(easter_holidays); i++)
                if (diff == easter_holidays[i].offset)
                        return easter_holidays[i].name;
        return NULL;
}

size_t calendar_holidays_no_year(int y, struct calendar_holiday out[static CALENDAR_N_HOLIDAYS_NO]) {
        struct ymd easter = calendar_easter(y);
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(fixed_holidays); i++)
                out[n++] = (struct calendar_holiday) {
                        .date = { .y = y, .m = fixed_holidays[i].m, .d = fixed_holidays[i].d },
                        .name = fixed_holidays[i].name,
                };
        for (size_t i = 0; i < ELEMENTSOF(easter_holidays); i++)
                out[n++] = (struct calendar_holiday) {
                        .date = calendar_add_days(easter, easter_holidays[i].offset),
                        .name = easter_holidays[i].name,
                };

        /* Insertion sort into calendar order; stable, so a fixed-date holiday
         * stays before a moveable one on the same day. */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && ymd_cmp(out[j - 1].date, out[j].date) > 0; j--) {
                        struct calendar_holiday t = out[j];
                        out[j] = out[j - 1];
                        out[j - 1] = t;
                }
        return n;
}

/* ---- the calendar ---- */

struct calendar {
        const struct calendar_conf *conf; /* borrowed */
        struct calendar_tz *tz;
};

int calendar_new_with_tz(const struct calendar_conf *conf, struct calendar_tz *tz, struct calendar **ret) {
        struct calendar *c;

        if (!conf || !tz) {
                calendar_tz_free(tz);
                return -EINVAL;
        }
        c = malloc(sizeof *c);
        if (!c) {
                calendar_tz_free(tz);
                return -ENOMEM;
        }
        *c = (struct calendar) { .conf = conf, .tz = tz };
        *ret = c;
        return 0;
}

int calendar_new(const struct calendar_conf *conf, const char *tzname, struct calendar **ret) {
        struct calendar_tz *tz = NULL;
        int r;

        r = calendar_tz_load(tzname, &tz);
        if (r < 0)
                return r;
        return calendar_new_with_tz(conf, tz, ret);
}

void calendar_free(struct calendar *c) {
        if (!c)
                return;
        calendar_tz_free(c->tz);
        free(c);
}

const struct calendar_tz *calendar_get_tz(const struct calendar *c) {
        return c->tz;
}

void calendar_local(const struct calendar *c, uint64_t usec, struct calendar_local *ret) {
        calendar_tz_to_local(c->tz, usec, ret);
}

uint64_t calendar_from_local(const struct calendar *c, struct ymd d, int min) {
        return calendar_tz_from_local(c->tz, d, min);
}

const char *calendar_holiday(const struct calendar *c, struct ymd d) {
        return c->conf->holidays_no ? calendar_holiday_no(d) : NULL;
}

bool calendar_is_closed(const struct calendar *c, struct ymd d) {
        for (size_t i = 0; i < c->conf->n_closed; i++)
                if (ymd_cmp(c->conf->closed[i], d) == 0)
                        return true;
        return false;
}

/* Office hours of weekday WDAY as [*open, *close) minutes; false if closed all day
 * (including a nonsensical range, which config.c should have refused). */
static bool office_hours(const struct calendar *c, int wday, int *open, int *close) {
        int o = c->conf->open_min[wday], e = c->conf->close_min[wday];

        if (o < 0 || o >= 24 * 60 || e <= o || e > 24 * 60)
                return false;
        *open = o;
        *close = e;
        return true;
}

static bool working_day(const struct calendar *c, struct ymd d, int wday, int *open, int *close) {
        return office_hours(c, wday, open, close) && !calendar_holiday(c, d) && !calendar_is_closed(c, d);
}

bool calendar_is_working_day(const struct calendar *c, struct ymd d) {
        int open, close;
        return working_day(c, d, calendar_weekday(d), &open, &close);
}

bool calendar_is_office(const struct calendar *c, uint64_t usec) {
        struct calendar_local l;
        int open, close;

        calendar_local(c, usec, &l);
        return working_day(c, l.date, l.wday, &open, &close) && l.day_min >= open && l.day_min < close;
}

uint64_t calendar_next_office_start(const struct calendar *c, uint64_t usec_from) {
        struct calendar_local l;
        int open, close;

        calendar_local(c, usec_from, &l);
        int64_t day = calendar_days_from_ymd(l.date);
        for (int i = 0; i < CALENDAR_HORIZON_DAYS; i++, day++) {
                struct ymd d = calendar_ymd_from_days(day);
                if (!working_day(c, d, weekday_of_days(day), &open, &close))
                        continue;
                uint64_t t = calendar_from_local(c, d, open);
                if (t >= usec_from)
                        return t;
        }
        return CALENDAR_NEVER;
}

int calendar_next_working_day(const struct calendar *c, struct ymd d, struct ymd *ret) {
        int64_t day = calendar_days_from_ymd(d);

        for (int i = 0; i < CALENDAR_HORIZON_DAYS; i++, day++) {
                int open, close;
                struct ymd x = calendar_ymd_from_days(day);
                if (working_day(c, x, weekday_of_days(day), &open, &close)) {
                        *ret = x;
                        return 0;
                }
        }
        return -ENOENT;
}

const struct heightened *calendar_heightened(const struct calendar *c, struct ymd d) {
        for (size_t i = 0; i < c->conf->n_heightened; i++) {
                const struct heightened *h = &c->conf->heightened[i];
                if (ymd_cmp(h->from, d) <= 0 && ymd_cmp(d, h->to) <= 0)
                        return h;
        }
        return NULL;
}

/* ---- rosters ---- */

/* The scheduled shift containing USEC: its number K (0 = members[0]'s first
 * shift at `start`, negative before) and its bounds. */
static int roster_shift(const struct calendar *c, const struct roster *r, uint64_t usec,
                        int64_t *ret_k, uint64_t *ret_start, uint64_t *ret_end) {
        struct calendar_local l;
        int64_t step, anchor, day;
        uint64_t t0;

        if (r->n_members == 0 || !r->members)
                return -ENOENT;
        if (r->handoff_min < 0 || r->handoff_min >= 24 * 60 || !ymd_valid(r->start))
                return -EINVAL;
        if (r->rotation == ROTATION_WEEKLY) {
                if (r->handoff_wday < 0 || r->handoff_wday > 6)
                        return -EINVAL;
                step = 7;
        } else if (r->rotation == ROTATION_DAILY)
                step = 1;
        else
                return -EINVAL;

        /* Shifts begin on hand-off days; for weekly rosters these are the
         * hand-off weekdays, and `start` is moved back to one. */
        anchor = calendar_days_from_ymd(r->start);
        calendar_local(c, usec, &l);
        day = calendar_days_from_ymd(l.date);
        if (step == 7) {
                anchor -= floor_mod(weekday_of_days(anchor) - r->handoff_wday, 7);
                day -= floor_mod(l.wday - r->handoff_wday, 7);
        }

        /* Compare instants, not wall-clock minutes: on the autumn DST day a
         * 02:30 hand-off happens at the first 02:30, and a local 02:15 after
         * the change is already past it. */
        t0 = calendar_from_local(c, calendar_ymd_from_days(day), r->handoff_min);
        if (usec < t0) {
                day -= step;
                t0 = calendar_from_local(c, calendar_ymd_from_days(day), r->handoff_min);
        }

        *ret_k = floor_div(day - anchor, step);
        *ret_start = t0;
        *ret_end = calendar_from_local(c, calendar_ymd_from_days(day + step), r->handoff_min);
        return 0;
}

ssize_t calendar_roster_index(const struct calendar *c, const struct roster *r, uint64_t usec) {
        int64_t k;
        uint64_t s, e;
        int ret;

        ret = roster_shift(c, r, usec, &k, &s, &e);
        if (ret < 0)
                return ret;
        return (ssize_t) floor_mod(k, (int64_t) r->n_members);
}

int calendar_roster_on_duty(const struct calendar *c, const struct roster *r, uint64_t usec,
                            const struct calendar_override *ov, size_t n_ov, struct calendar_duty *ret) {
        struct calendar_duty duty = { .index = -1 };
        int64_t k;
        int q;

        q = roster_shift(c, r, usec, &k, &duty.shift_start, &duty.shift_end);
        if (q < 0)
                return q;
        duty.scheduled = (size_t) floor_mod(k, (int64_t) r->n_members);
        duty.index = (ssize_t) duty.scheduled;
        duty.person = r->members[duty.scheduled];

        for (size_t i = n_ov; i > 0; i--) {
                const struct calendar_override *o = &ov[i - 1];
                if (!o->roster || !o->person || !r->id || !streq(o->roster, r->id))
                        continue;
                if (usec < o->from || usec >= o->to)
                        continue;
                duty.override = o;
                duty.person = o->person;
                duty.index = -1;
                for (size_t j = 0; j < r->n_members; j++)
                        if (r->members[j] && streq(r->members[j], o->person)) {
                                duty.index = (ssize_t) j;
                                break;
                        }
                break;
        }
        *ret = duty;
        return 0;
}
