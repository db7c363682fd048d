/* time-util.c - civil-date rules, the duration and date parsers, the date
 * formatters, the safe-identifier rule and beredd's clock with its test
 * offset (time-util.h). Pure except beredd_now(), which reads the clock and,
 * once, the environment. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "time-util.h"

/* ---- civil dates ---- */

bool ymd_is_leap(int64_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int ymd_days_in_month(int64_t y, int m) {
        static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        if (m < 1 || m > 12)
                return 0;
        return dim[m - 1] + (m == 2 && ymd_is_leap(y));
}

bool ymd_valid(struct ymd d) {
        return d.m >= 1 && d.m <= 12 && d.d >= 1 && d.d <= ymd_days_in_month(d.y, d.m);
}

int ymd_cmp(struct ymd a, struct ymd b) {
        if (a.y != b.y)
                return a.y < b.y ? -1 : 1;
        if (a.m != b.m)
                return a.m < b.m ? -1 : 1;
        if (a.d != b.d)
                return a.d < b.d ? -1 : 1;
        return 0;
}

/* ---- parsers ---- */

int parse_duration(const char *s, uint64_t *ret_usec) {
        uint64_t total = 0;

        if (!s || !*s)
                return -EINVAL;

        while (*s) {
                uint64_t n = 0, unit;

                /* Each group is digits then exactly one unit: "5" alone, "-1m"
                 * and "m5" are refused rather than guessed at. */
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                for (; isdigit((unsigned char) *s); s++) {
                        if (n > (UINT64_MAX - 9) / 10)
                                return -EINVAL;
                        n = n * 10 + (uint64_t) (*s - '0');
                }
                switch (*s) {
                case 's':
                        unit = USEC_PER_SEC;
                        break;
                case 'm':
                        unit = USEC_PER_MIN;
                        break;
                case 'h':
                        unit = USEC_PER_HOUR;
                        break;
                case 'd':
                        unit = USEC_PER_DAY;
                        break;
                case 'w':
                        unit = 7 * USEC_PER_DAY;
                        break;
                default:
                        return -EINVAL;
                }
                s++;
                if (n > UINT64_MAX / unit || total > UINT64_MAX - n * unit)
                        return -EINVAL;
                total += n * unit;
        }

        *ret_usec = total;
        return 0;
}

int parse_date(const char *s, struct ymd *ret) {
        struct ymd d;

        if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
                return -EINVAL;
        for (int i = 0; i < 10; i++)
                if (i != 4 && i != 7 && !isdigit((unsigned char) s[i]))
                        return -EINVAL;

        d.y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        d.m = (s[5] - '0') * 10 + (s[6] - '0');
        d.d = (s[8] - '0') * 10 + (s[9] - '0');
        if (d.y < 1970 || !ymd_valid(d))
                return -EINVAL;

        *ret = d;
        return 0;
}

/* ---- formatters ---- */

void time_format_date(struct ymd d, char *buf, size_t len) {
        snprintf(buf, len, "%04d-%02d-%02d", d.y, d.m, d.d);
}

void time_format_date_time(struct ymd d, int hour, int minute, char *buf, size_t len) {
        snprintf(buf, len, "%04d-%02d-%02d %02d:%02d", d.y, d.m, d.d, hour, minute);
}

/* ---- identifiers ---- */

bool id_is_safe(const char *s) {
        return word_is_safe(s, ID_SAFE_MAX);
}

bool word_is_safe(const char *s, size_t max) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > max || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

int string_table_lookup(const char *const *v, size_t n, const char *s) {
        for (size_t i = 0; s && i < n; i++)
                if (v[i] && strcmp(v[i], s) == 0)
                        return (int) i;
        return -1;
}

/* ---- the clock ---- */

static int64_t time_offset_usec = INT64_MIN;

int64_t time_offset(void) {
        if (time_offset_usec == INT64_MIN) {
                const char *e = getenv("BEREDD_TEST_TIME_OFFSET");
                time_offset_usec = e ? strtoll(e, NULL, 10) * (int64_t) USEC_PER_SEC : 0;
        }
        return time_offset_usec;
}

uint64_t beredd_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ((int64_t) ts.tv_sec * (int64_t) USEC_PER_SEC + ts.tv_nsec / 1000 + time_offset());
}

int env_msec(const char *name, uint64_t *ret_usec) {
        const char *e = getenv(name);
        char *end;
        unsigned long long ms;

        if (!e || !*e)
                return 0;
        errno = 0;
        ms = strtoull(e, &end, 10);
        if (errno != 0 || *end != '\0' || ms > 3600 * 1000 || *e == '-')
                return -EINVAL;
        *ret_usec = (uint64_t) ms * 1000;
        return 1;
}
