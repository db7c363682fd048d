/* away-parse.c - the SMS absence texts (away-parse.h). The text is first
 * folded to a small ASCII form (lowercase, dashes as '-', one space for any
 * run of blanks), then read word by word; anything left over makes it not
 * understood rather than guessed. */
#include <string.h>

#include "away-parse.h"
#include "calendar.h"

#define FOLD_MAX 160

/* Fold S into OUT: ASCII letters lowercased, en/em dash and minus as '-',
 * blanks (incl. NBSP, tab, newline) as one space. False for any other
 * non-ASCII character (the text is then not ours) or when it is too long. */
static bool fold(const char *s, size_t len, char *out) {
        size_t n = 0;
        for (size_t i = 0; i < len;) {
                unsigned char c = (unsigned char) s[i];
                char o;
                if (c == 0xE2 && i + 2 < len && (unsigned char) s[i + 1] == 0x80 &&
                    ((unsigned char) s[i + 2] == 0x93 || (unsigned char) s[i + 2] == 0x94)) {
                        o = '-', i += 3; /* – — */
                } else if (c == 0xE2 && i + 2 < len && (unsigned char) s[i + 1] == 0x88 && (unsigned char) s[i + 2] == 0x92) {
                        o = '-', i += 3; /* − */
                } else if (c == 0xC2 && i + 1 < len && (unsigned char) s[i + 1] == 0xA0) {
                        o = ' ', i += 2;
                } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                        o = ' ', i++;
                } else if (c >= 0x80 || c < 0x20) {
                        return false;
                } else {
                        o = (char) (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
                        i++;
                }
                if (o == ' ' && (n == 0 || out[n - 1] == ' '))
                        continue;
                if (n + 1 >= FOLD_MAX)
                        return false;
                out[n++] = o;
        }
        while (n > 0 && (out[n - 1] == ' ' || strchr(".,!:;", out[n - 1])))
                n--;
        out[n] = '\0';
        return true;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static void skip_spaces(const char **p) {
        while (**p == ' ')
                (*p)++;
}

/* The word W (followed by a space, a digit, the end or a ':') at *P. */
static bool take_word(const char **p, const char *w) {
        size_t n = strlen(w);
        if (strncmp(*p, w, n) != 0)
                return false;
        char c = (*p)[n];
        if (c && c != ' ' && c != ':' && !is_digit(c))
                return false;
        *p += n;
        if (**p == ':')
                (*p)++;
        skip_spaces(p);
        return true;
}

struct pdate {
        int d, m, y; /* y 0: not given */
};

static bool take_number(const char **p, int max_digits, int *ret, int *ret_digits) {
        int v = 0, n = 0;
        while (is_digit(**p) && n < max_digits + 1) {
                v = v * 10 + (**p - '0');
                (*p)++;
                n++;
        }
        if (n == 0 || n > max_digits)
                return false;
        *ret = v;
        if (ret_digits)
                *ret_digits = n;
        return true;
}

/* d.m or d.m.y (or with '/'), and an optional trailing '.'. */
static bool take_date(const char **p, struct pdate *ret) {
        const char *q = *p;
        int digits;
        *ret = (struct pdate) {};
        if (!take_number(&q, 2, &ret->d, NULL) || (*q != '.' && *q != '/'))
                return false;
        char sep = *q++;
        if (!take_number(&q, 2, &ret->m, NULL))
                return false;
        if (*q == sep && is_digit(q[1])) {
                q++;
                if (!take_number(&q, 4, &ret->y, &digits) || (digits != 2 && digits != 4) ||
                    (digits == 4 && ret->y < 2000))
                        return false; /* "0000" is not "no year" */
                if (digits == 2)
                        ret->y += 2000;
        } else if (*q == '.') {
                q++;
        }
        if (ret->d < 1 || ret->d > 31 || ret->m < 1 || ret->m > 12)
                return false;
        *p = q;
        skip_spaces(p);
        return true;
}

/* The first valid date D.M on or after ON (year Y and the next few: 29.2). */
static bool next_date(int d, int m, struct ymd on, struct ymd *ret) {
        for (int y = on.y; y <= on.y + 8; y++) {
                struct ymd x = { y, m, d };
                if (ymd_valid(x) && ymd_cmp(x, on) >= 0) {
                        *ret = x;
                        return true;
                }
        }
        return false;
}

static bool resolve(const struct pdate *p, struct ymd on, struct ymd *ret) {
        if (p->y) {
                *ret = (struct ymd) { p->y, p->m, p->d };
                return ymd_valid(*ret);
        }
        return next_date(p->d, p->m, on, ret);
}

static bool take_range_sep(const char **p) {
        if (**p == '-') {
                (*p)++;
                skip_spaces(p);
                return true;
        }
        return take_word(p, "til") || take_word(p, "to") || take_word(p, "until");
}

enum away_text_kind away_text_parse(const char *s, size_t len, struct ymd today, struct away_text *ret) {
        char buf[FOLD_MAX];
        const char *p = buf;
        struct pdate a = {}, b = {};
        bool until = false, has_b = false;

        *ret = (struct away_text) {};
        if (!s || !fold(s, len, buf))
                return AWAY_TEXT_NONE;
        if (take_word(&p, "tilbake") || take_word(&p, "back")) {
                ret->en = buf[0] == 'b';
                return ret->kind = *p ? AWAY_TEXT_BACK_EXTRA : AWAY_TEXT_BACK;
        }
        if (take_word(&p, "borte") || take_word(&p, "bortreist"))
                ret->en = false;
        else if (take_word(&p, "away"))
                ret->en = true;
        else
                return AWAY_TEXT_NONE;

        ret->kind = AWAY_TEXT_BAD_DATE;
        if (take_word(&p, "til") || take_word(&p, "until") || take_word(&p, "to"))
                until = true;
        else
                (void) (take_word(&p, "fra") || take_word(&p, "from"));
        if (!take_date(&p, &a))
                return ret->kind;
        if (!until && *p) {
                if (!take_range_sep(&p) || !take_date(&p, &b))
                        return ret->kind;
                has_b = true;
        }
        if (*p)
                return ret->kind;

        struct ymd from, to;
        if (until) {
                from = today;
                if (!resolve(&a, today, &to))
                        return ret->kind;
                ret->from_now = true;
        } else if (!has_b) {
                if (!resolve(&a, today, &from))
                        return ret->kind;
                to = from;
        } else {
                /* The start: its year; or (none) the last such date on or
                 * before the end, whose year is its own or (none) the next
                 * such date from today: "24.12-2.1" in December is this
                 * Christmas to next January, and a range that began and
                 * goes on ("1.12-3.12" on the 2nd) is not moved a year on.
                 * With a year on the end, the start's day and month are
                 * before it: "1.12-1.12.2027" is a year, not one day. */
                struct ymd end;
                if (a.y) {
                        if (!resolve(&a, today, &from))
                                return ret->kind;
                } else {
                        if (!resolve(&b, today, &end))
                                return ret->kind;
                        from = (struct ymd) { end.y, a.m, a.d };
                        if (!ymd_valid(from) || ymd_cmp(from, end) > 0 || (b.y && ymd_cmp(from, end) == 0))
                                from.y--;
                        if (!ymd_valid(from))
                                return ret->kind;
                }
                if (!resolve(&b, from, &to))
                        return ret->kind;
                if (!b.y && ymd_cmp(to, from) < 0)
                        return ret->kind;
        }
        if (ymd_cmp(to, from) < 0)
                return ret->kind; /* an end with a year before its start */
        if (ymd_cmp(to, today) < 0)
                return ret->kind = AWAY_TEXT_PAST;
        if (ymd_cmp(from, today) < 0)
                from = today;
        ret->from = from;
        ret->to = to;
        if (calendar_days_from_ymd(from) - calendar_days_from_ymd(today) > 366)
                return ret->kind = AWAY_TEXT_TOO_FAR;
        if (calendar_days_from_ymd(to) - calendar_days_from_ymd(from) + 1 > 366)
                return ret->kind = AWAY_TEXT_TOO_LONG;
        if (!a.y && !b.y && to.y > today.y &&
            calendar_days_from_ymd(to) - calendar_days_from_ymd(today) > AWAY_GUESS_MAX_DAYS)
                return ret->kind = AWAY_TEXT_NEEDS_YEAR;
        ret->from = from;
        ret->to = to;
        return ret->kind = AWAY_TEXT_AWAY;
}
