/* text.c - pure text code for the gateways (see text.h). No I/O. */
#include "text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- UTF-8 ---- */

/* Decode one code point at S[*I], advancing *I. Strict (RFC 3629): rejects
 * overlong forms, surrogates, values above U+10FFFF and truncated sequences.
 * Returns 0 or -EILSEQ. */
static int utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *ret) {
        size_t p = *i;
        uint32_t c = s[p], min;
        unsigned n;

        if (c < 0x80) {
                *ret = c;
                *i = p + 1;
                return 0;
        }
        if (c >= 0xC2 && c <= 0xDF) {
                n = 1;
                c &= 0x1F;
                min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
                n = 2;
                c &= 0x0F;
                min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
                n = 3;
                c &= 0x07;
                min = 0x10000;
        } else
                return -EILSEQ;
        if (len - p - 1 < n)
                return -EILSEQ;
        for (unsigned k = 1; k <= n; k++) {
                if ((s[p + k] & 0xC0) != 0x80)
                        return -EILSEQ;
                c = (c << 6) | (s[p + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                return -EILSEQ;
        *ret = c;
        *i = p + 1 + n;
        return 0;
}

bool text_utf8_valid(const char *s, size_t len) {
        const unsigned char *u = (const unsigned char *) s;
        uint32_t cp;

        if (!s)
                return len == 0;
        for (size_t i = 0; i < len;) {
                if (utf8_next(u, len, &i, &cp) < 0 || cp == 0)
                        return false;
        }
        return true;
}

/* Start of the code point before byte offset I (I > 0) in valid UTF-8. */
static size_t utf8_prev(const char *s, size_t i) {
        do
                i--;
        while (i > 0 && ((unsigned char) s[i] & 0xC0) == 0x80);
        return i;
}

/* ---- SMS segments ---- */

/* GSM 03.38 default alphabet, non-ASCII part. (Ç is the official 0x09; ç is
 * not in the alphabet, and many SMSCs would send it as UCS-2.) */
static const uint16_t gsm7_basic_nonascii[] = {
        0x00A1, 0x00A3, 0x00A4, 0x00A5, 0x00A7, 0x00BF, 0x00C4, 0x00C5, 0x00C6, 0x00C7, 0x00C9, 0x00D1,
        0x00D6, 0x00D8, 0x00DC, 0x00DF, 0x00E0, 0x00E4, 0x00E5, 0x00E6, 0x00E8, 0x00E9, 0x00EC, 0x00F1,
        0x00F2, 0x00F6, 0x00F8, 0x00F9, 0x00FC, 0x0393, 0x0394, 0x0398, 0x039B, 0x039E, 0x03A0, 0x03A3,
        0x03A6, 0x03A8, 0x03A9,
};

unsigned text_gsm7_septets(uint32_t cp) {
        if (cp < 0x80) {
                switch (cp) {
                case '\n':
                case '\r':
                        return 1;
                case '\f': /* extension table 0x0A (page break) */
                case '^':
                case '{':
                case '}':
                case '\\':
                case '[':
                case '~':
                case ']':
                case '|':
                        return 2;
                case '`':
                        return 0;
                default:
                        return cp >= 0x20 && cp < 0x7F ? 1 : 0;
                }
        }
        if (cp == 0x20AC) /* € */
                return 2;
        for (size_t k = 0; k < sizeof gsm7_basic_nonascii / sizeof gsm7_basic_nonascii[0]; k++)
                if (gsm7_basic_nonascii[k] == cp)
                        return 1;
        return 0;
}

static unsigned ucs2_units(uint32_t cp) {
        return cp >= 0x10000 ? 2 : 1;
}

/* Running count of a message, one code point at a time. Parts are packed
 * greedily without splitting an escape pair or a surrogate pair. */
struct sms_acc {
        size_t gsm_units, gsm_parts, gsm_cur;
        size_t ucs_units, ucs_parts, ucs_cur;
        size_t chars;
        bool gsm;
};

static void sms_acc_init(struct sms_acc *a) {
        *a = (struct sms_acc){ .gsm_parts = 1, .ucs_parts = 1, .gsm = true };
}

static void sms_acc_add(struct sms_acc *a, uint32_t cp) {
        unsigned g = text_gsm7_septets(cp), u = ucs2_units(cp);

        a->chars++;
        if (g == 0)
                a->gsm = false;
        else {
                a->gsm_units += g;
                if (a->gsm_cur + g > TEXT_SMS_GSM7_PART) {
                        a->gsm_parts++;
                        a->gsm_cur = 0;
                }
                a->gsm_cur += g;
        }
        a->ucs_units += u;
        if (a->ucs_cur + u > TEXT_SMS_UCS2_PART) {
                a->ucs_parts++;
                a->ucs_cur = 0;
        }
        a->ucs_cur += u;
}

static int sms_acc_feed(struct sms_acc *a, const char *s, size_t len) {
        uint32_t cp;

        for (size_t i = 0; i < len;) {
                if (utf8_next((const unsigned char *) s, len, &i, &cp) < 0 || cp == 0)
                        return -EILSEQ;
                sms_acc_add(a, cp);
        }
        return 0;
}

static void sms_acc_result(const struct sms_acc *a, struct text_sms_info *ret) {
        if (a->gsm)
                *ret = (struct text_sms_info){
                        .encoding = TEXT_SMS_GSM7,
                        .units = a->gsm_units,
                        .chars = a->chars,
                        .segments = a->gsm_units <= TEXT_SMS_GSM7_SINGLE ? 1 : a->gsm_parts,
                };
        else
                *ret = (struct text_sms_info){
                        .encoding = TEXT_SMS_UCS2,
                        .units = a->ucs_units,
                        .chars = a->chars,
                        .segments = a->ucs_units <= TEXT_SMS_UCS2_SINGLE ? 1 : a->ucs_parts,
                };
}

int text_sms_count(const char *s, size_t len, struct text_sms_info *ret) {
        struct sms_acc a;
        int r;

        if (!s && len > 0)
                return -EINVAL;
        sms_acc_init(&a);
        r = sms_acc_feed(&a, s, len);
        if (r < 0)
                return r;
        sms_acc_result(&a, ret);
        return 0;
}

/* ---- transliteration ---- */

static int put(char *out, size_t outlen, size_t *pos, const char *s, size_t n) {
        if (n >= outlen - *pos)
                return -ENOBUFS;
        memcpy(out + *pos, s, n);
        *pos += n;
        out[*pos] = 0;
        return 0;
}


/* Typographic characters outside GSM 03.38 that have an obvious equivalent
 * in it, sorted by code point. Every replacement is ASCII in the GSM default
 * alphabet (or "^" and "~" from its extension table) and never longer in
 * bytes than the UTF-8 it replaces, so a transliterated text never grows. */
static const struct {
        uint32_t cp;
        const char *to;
} translit_table[] = {
        { 0x0009, " " },   /* tab */
        { 0x0060, "'" },   /* ` grave accent (not in GSM) */
        { 0x00A0, " " },   /* no-break space */
        { 0x00AB, "\"" },  /* « */
        { 0x00AD, "" },    /* soft hyphen (invisible) */
        { 0x00B4, "'" },   /* ´ acute accent */
        { 0x00BB, "\"" },  /* » */
        { 0x02B9, "'" },   /* ʹ modifier prime */
        { 0x02BA, "\"" },  /* ʺ modifier double prime */
        { 0x02BB, "'" },   /* ʻ turned comma */
        { 0x02BC, "'" },   /* ʼ modifier apostrophe */
        { 0x02C6, "^" },   /* ˆ modifier circumflex */
        { 0x02C8, "'" },   /* ˈ vertical line */
        { 0x02DC, "~" },   /* ˜ small tilde */
        { 0x1680, " " },   /* ogham space mark */
        { 0x2000, " " },   /* en quad */
        { 0x2001, " " },   /* em quad */
        { 0x2002, " " },   /* en space */
        { 0x2003, " " },   /* em space */
        { 0x2004, " " },   /* three-per-em space */
        { 0x2005, " " },   /* four-per-em space */
        { 0x2006, " " },   /* six-per-em space */
        { 0x2007, " " },   /* figure space */
        { 0x2008, " " },   /* punctuation space */
        { 0x2009, " " },   /* thin space */
        { 0x200A, " " },   /* hair space */
        { 0x200B, "" },    /* zero width space */
        { 0x2010, "-" },   /* ‐ hyphen */
        { 0x2011, "-" },   /* ‑ non-breaking hyphen */
        { 0x2012, "-" },   /* ‒ figure dash */
        { 0x2013, "-" },   /* – en dash */
        { 0x2014, "-" },   /* — em dash */
        { 0x2015, "-" },   /* ― horizontal bar */
        { 0x2018, "'" },   /* ‘ */
        { 0x2019, "'" },   /* ’ (also the apostrophe) */
        { 0x201A, "'" },   /* ‚ */
        { 0x201B, "'" },   /* ‛ */
        { 0x201C, "\"" },  /* “ */
        { 0x201D, "\"" },  /* ” */
        { 0x201E, "\"" },  /* „ */
        { 0x201F, "\"" },  /* ‟ */
        { 0x2024, "." },   /* ․ one dot leader */
        { 0x2026, "..." }, /* … */
        { 0x2028, "\n" },  /* line separator */
        { 0x2029, "\n" },  /* paragraph separator */
        { 0x202F, " " },   /* narrow no-break space */
        { 0x2032, "'" },   /* ′ prime */
        { 0x2033, "\"" },  /* ″ double prime */
        { 0x2035, "'" },   /* ‵ reversed prime */
        { 0x2036, "\"" },  /* ‶ reversed double prime */
        { 0x2039, "'" },   /* ‹ */
        { 0x203A, "'" },   /* › */
        { 0x2043, "-" },   /* ⁃ hyphen bullet */
        { 0x2044, "/" },   /* ⁄ fraction slash */
        { 0x205F, " " },   /* medium mathematical space */
        { 0x2060, "" },    /* word joiner */
        { 0x2212, "-" },   /* − minus sign */
        { 0x2215, "/" },   /* ∕ division slash */
        { 0x3000, " " },   /* ideographic space */
        { 0xFEFF, "" },    /* zero width no-break space (BOM) */
        { 0xFF02, "\"" },  /* ＂ fullwidth quotation mark */
        { 0xFF07, "'" },   /* ＇ fullwidth apostrophe */
};

const char *text_sms_transliteration(uint32_t cp) {
        size_t lo = 0, hi = sizeof translit_table / sizeof translit_table[0];

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (translit_table[mid].cp == cp)
                        return translit_table[mid].to;
                if (translit_table[mid].cp < cp)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* Feed S[0..LEN) as it will be sent: transliterated. */
static int sms_acc_feed_tr(struct sms_acc *a, const char *s, size_t len) {
        uint32_t cp;

        for (size_t i = 0; i < len;) {
                if (utf8_next((const unsigned char *) s, len, &i, &cp) < 0 || cp == 0)
                        return -EILSEQ;
                const char *t = text_sms_transliteration(cp);
                if (!t)
                        sms_acc_add(a, cp);
                else
                        for (; *t; t++)
                                sms_acc_add(a, (unsigned char) *t);
        }
        return 0;
}

/* Append S[0..N) (valid UTF-8) transliterated to OUT at *POS. */
static int put_tr(char *out, size_t outlen, size_t *pos, const char *s, size_t n) {
        uint32_t cp;
        int r;

        for (size_t i = 0; i < n;) {
                size_t start = i;
                if (utf8_next((const unsigned char *) s, n, &i, &cp) < 0)
                        return -EILSEQ;
                const char *t = text_sms_transliteration(cp);
                r = t ? put(out, outlen, pos, t, strlen(t)) : put(out, outlen, pos, s + start, i - start);
                if (r < 0)
                        return r;
        }
        return 0;
}

int text_sms_transliterate(const char *in, char *out, size_t outlen) {
        size_t len, pos = 0;
        int r;

        if (!in)
                return -EINVAL;
        if (!out || outlen == 0)
                return -ENOBUFS;
        out[0] = 0;
        len = strlen(in);
        if (!text_utf8_valid(in, len))
                return -EILSEQ;
        r = put_tr(out, outlen, &pos, in, len);
        if (r < 0) {
                out[0] = 0;
                return r;
        }
        return pos > INT32_MAX ? -ENOBUFS : (int) pos;
}

/* ---- fitting ---- */

/* Code points that must stay with the character before them. Not full
 * grapheme segmentation (UAX #29), but the cases an SMS realistically holds:
 * combining diacritics, ZWJ sequences, variation selectors, skin tones and
 * keycaps. */
static bool is_extender(uint32_t cp) {
        return (cp >= 0x0300 && cp <= 0x036F) || cp == 0x200D || (cp >= 0xFE00 && cp <= 0xFE0F) ||
               (cp >= 0x1F3FB && cp <= 0x1F3FF) || cp == 0x20E3 || (cp >= 0xE0020 && cp <= 0xE007F);
}

/* Whitespace as sent (after transliteration), or nothing at all. */
static bool is_blank(uint32_t cp) {
        const char *t = text_sms_transliteration(cp);
        return cp == ' ' || cp == '\n' || cp == '\r' || (t && (!t[0] || ((t[0] == ' ' || t[0] == '\n') && !t[1])));
}

static uint32_t cp_at(const char *s, size_t len, size_t i) {
        uint32_t cp = 0;

        (void) utf8_next((const unsigned char *) s, len, &i, &cp);
        return cp;
}

/* Move a cut at byte I of S back so that it does not strand a base
 * character's marks, does not end on a ZWJ, and drops trailing whitespace. */
static size_t adjust_cut(const char *s, size_t len, size_t i) {
        while (i > 0 && ((i < len && is_extender(cp_at(s, len, i))) || cp_at(s, len, utf8_prev(s, i)) == 0x200D))
                i = utf8_prev(s, i);
        while (i > 0 && is_blank(cp_at(s, len, utf8_prev(s, i))))
                i = utf8_prev(s, i);
        return i;
}

static size_t count_cps(const char *s, size_t n) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                k += ((unsigned char) s[i] & 0xC0) != 0x80;
        return k;
}

/* Segments of A counted in GSM 7-bit (GSM) or UCS-2. */
static size_t acc_segments(const struct sms_acc *a, bool gsm) {
        if (gsm)
                return a->gsm_units <= TEXT_SMS_GSM7_SINGLE ? 1 : a->gsm_parts;
        return a->ucs_units <= TEXT_SMS_UCS2_SINGLE ? 1 : a->ucs_parts;
}

/* Longest prefix of S[0..LEN) such that HEAD (the prefix, counted) + that
 * prefix of S + ELL + SUFFIX is at most MAX segments, all in GSM 7-bit
 * (GSM=true: S is cut before its first character outside GSM) or in UCS-2.
 * Returns the cut (bytes) with *OK, or sets *OK false when even the fixed
 * parts and the ellipsis do not fit. S and SUFFIX are valid UTF-8. */
static size_t fit_prefix(const char *s, size_t len, const struct sms_acc *head, const char *ell, const char *suffix,
                         size_t ls, bool gsm, size_t max, bool *ok) {
        struct sms_acc a = *head;
        size_t i = 0, best = 0;
        size_t cap = max * (gsm ? TEXT_SMS_GSM7_SINGLE : TEXT_SMS_UCS2_SINGLE);

        *ok = false;
        for (;;) {
                struct sms_acc t = a;
                (void) sms_acc_feed(&t, ell, strlen(ell));
                (void) sms_acc_feed_tr(&t, suffix, ls);
                if (!(gsm && !t.gsm) && acc_segments(&t, gsm) <= max) {
                        *ok = true;
                        best = i;
                }
                if (i >= len || (gsm ? t.gsm_units : t.ucs_units) > cap)
                        break;
                size_t j = i;
                uint32_t cp;
                (void) utf8_next((const unsigned char *) s, len, &j, &cp);
                (void) sms_acc_feed_tr(&a, s + i, j - i);
                if (gsm && !a.gsm)
                        break;
                i = j;
        }
        return best;
}

int text_sms_compose_n(const char *prefix, const char *free_text, const char *suffix, unsigned max_segments,
                       char *out, size_t outlen, struct text_sms_info *info) {
        static const char ell_gsm[] = "...", ell_ucs[] = "\xE2\x80\xA6"; /* U+2026 */
        size_t lp, lf, ls, cut, pos, max = max_segments ? max_segments : 1;
        struct sms_acc head, whole;
        struct text_sms_info res;
        const char *ell;
        int r;

        prefix = prefix ? prefix : "";
        free_text = free_text ? free_text : "";
        suffix = suffix ? suffix : "";
        lp = strlen(prefix);
        lf = strlen(free_text);
        ls = strlen(suffix);
        if (!out || outlen == 0)
                return -ENOBUFS;
        out[0] = 0;

        sms_acc_init(&head);
        r = sms_acc_feed_tr(&head, prefix, lp);
        if (r < 0)
                return r;
        whole = head;
        r = sms_acc_feed_tr(&whole, free_text, lf);
        if (r >= 0)
                r = sms_acc_feed_tr(&whole, suffix, ls);
        if (r < 0)
                return r;

        sms_acc_result(&whole, &res);
        if (res.segments <= max) {
                cut = lf;
                ell = "";
                r = 0;
        } else {
                size_t cut_gsm, cut_ucs;
                bool ok_gsm, ok_ucs;

                /* Keep GSM ("..." costs 3 septets) or go UCS-2 ("…" costs 1
                 * unit): whichever keeps more of the free text. */
                cut_gsm = fit_prefix(free_text, lf, &head, ell_gsm, suffix, ls, true, max, &ok_gsm);
                cut_ucs = fit_prefix(free_text, lf, &head, ell_ucs, suffix, ls, false, max, &ok_ucs);
                cut_gsm = adjust_cut(free_text, lf, cut_gsm);
                cut_ucs = adjust_cut(free_text, lf, cut_ucs);
                if (ok_gsm && (!ok_ucs || count_cps(free_text, cut_gsm) >= count_cps(free_text, cut_ucs))) {
                        cut = cut_gsm;
                        ell = ell_gsm;
                } else if (ok_ucs) {
                        cut = cut_ucs;
                        ell = ell_ucs;
                } else
                        return -EMSGSIZE;
                r = 1;
        }

        for (;;) {
                pos = 0;
                out[0] = 0;
                if (put_tr(out, outlen, &pos, prefix, lp) < 0 || put_tr(out, outlen, &pos, free_text, cut) < 0 ||
                    put(out, outlen, &pos, ell, strlen(ell)) < 0 || put_tr(out, outlen, &pos, suffix, ls) < 0) {
                        out[0] = 0;
                        return -ENOBUFS;
                }
                (void) text_sms_count(out, pos, &res);
                /* A shorter cut never needs more segments; this only guards
                 * the promise that the result fits. */
                if (res.segments <= max || cut == 0)
                        break;
                cut = adjust_cut(free_text, lf, utf8_prev(free_text, cut));
        }
        if (res.segments > max) {
                out[0] = 0;
                return -EMSGSIZE;
        }
        if (info)
                *info = res;
        return r;
}

int text_sms_compose(const char *prefix, const char *free_text, const char *suffix, char *out, size_t outlen) {
        return text_sms_compose_n(prefix, free_text, suffix, 1, out, outlen, NULL);
}

/* ---- escaping and templates ---- */

const char *const text_template_std_names[] = { "to", "from", "text", "ref", "validity", NULL };

static const char hexdig[] = "0123456789ABCDEF";

static bool url_unreserved(unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
               c == '_' || c == '~';
}

/* Append S[0..LEN) escaped to OUT at *POS, keeping OUT NUL-terminated. */
static int escape_into(enum text_escape esc, const char *s, size_t len, char *out, size_t outlen, size_t *pos) {
        const unsigned char *u = (const unsigned char *) s;
        char buf[8];
        int r;

        if (!text_utf8_valid(s, len))
                return -EILSEQ;

        switch (esc) {
        case TEXT_ESCAPE_NONE:
                return put(out, outlen, pos, s, len);

        case TEXT_ESCAPE_URL:
                for (size_t i = 0; i < len; i++) {
                        if (url_unreserved(u[i]))
                                r = put(out, outlen, pos, s + i, 1);
                        else {
                                buf[0] = '%';
                                buf[1] = hexdig[u[i] >> 4];
                                buf[2] = hexdig[u[i] & 0xF];
                                r = put(out, outlen, pos, buf, 3);
                        }
                        if (r < 0)
                                return r;
                }
                return 0;

        case TEXT_ESCAPE_JSON:
                for (size_t i = 0; i < len; i++) {
                        const char *e = NULL;
                        size_t n = 0;

                        switch (u[i]) {
                        case '"':
                                e = "\\\"";
                                break;
                        case '\\':
                                e = "\\\\";
                                break;
                        case '\n':
                                e = "\\n";
                                break;
                        case '\r':
                                e = "\\r";
                                break;
                        case '\t':
                                e = "\\t";
                                break;
                        default:
                                if (u[i] < 0x20 || u[i] == 0x7F) {
                                        snprintf(buf, sizeof buf, "\\u%04x", u[i]);
                                        e = buf;
                                } else if (u[i] == 0xE2 && i + 2 < len && u[i + 1] == 0x80 &&
                                           (u[i + 2] == 0xA8 || u[i + 2] == 0xA9)) {
                                        /* U+2028/U+2029: legal JSON, but not in JavaScript strings */
                                        e = u[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
                                        i += 2;
                                }
                        }
                        if (e)
                                n = strlen(e);
                        else {
                                e = s + i;
                                n = 1;
                        }
                        r = put(out, outlen, pos, e, n);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        return -EINVAL;
}

int text_escape(enum text_escape esc, const char *s, size_t len, char *out, size_t outlen) {
        size_t pos = 0;
        int r;

        if (!out || outlen == 0)
                return -ENOBUFS;
        out[0] = 0;
        r = escape_into(esc, s, len, out, outlen, &pos);
        if (r < 0)
                return r;
        return pos > INT32_MAX ? -ENOBUFS : (int) pos;
}

#define NAME_MAX_LEN 63

static bool name_start(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static bool name_char(char c) {
        return name_start(c) || (c >= '0' && c <= '9');
}

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;

        if (!err || errlen == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

/* Walk TMPL. For each literal run call emit_lit; for each placeholder call
 * emit_var. Syntax errors are reported here. */
struct tmpl_ops {
        int (*lit)(void *u, const char *s, size_t n);
        int (*var)(void *u, const char *name, size_t n, char *err, size_t errlen);
};

static int tmpl_walk(const char *tmpl, const struct tmpl_ops *ops, void *u, char *err, size_t errlen) {
        const char *p = tmpl, *lit = tmpl;
        int r;

        if (!tmpl) {
                seterr(err, errlen, "no template");
                return -EINVAL;
        }
        while (*p) {
                if (*p != '{') {
                        p++;
                        continue;
                }
                r = ops->lit(u, lit, (size_t) (p - lit));
                if (r < 0)
                        return r;
                if (p[1] == '{') {
                        r = ops->lit(u, "{", 1);
                        if (r < 0)
                                return r;
                        p += 2;
                        lit = p;
                        continue;
                }
                const char *name = p + 1, *q = name;
                if (!name_start(*q)) {
                        seterr(err, errlen, "stray '{' at offset %zu (write {{ for a literal brace)",
                               (size_t) (p - tmpl));
                        return -EINVAL;
                }
                while (name_char(*q))
                        q++;
                if (*q != '}') {
                        seterr(err, errlen, "unterminated placeholder at offset %zu (write {{ for a literal brace)",
                               (size_t) (p - tmpl));
                        return -EINVAL;
                }
                if (q - name > NAME_MAX_LEN) {
                        seterr(err, errlen, "placeholder name too long at offset %zu", (size_t) (p - tmpl));
                        return -EINVAL;
                }
                r = ops->var(u, name, (size_t) (q - name), err, errlen);
                if (r < 0)
                        return r;
                p = q + 1;
                lit = p;
        }
        return ops->lit(u, lit, (size_t) (p - lit));
}

struct render_ctx {
        enum text_escape esc;
        const struct text_var *vars;
        size_t n_vars;
        char *out;
        size_t outlen, pos;
};

static int render_lit(void *u, const char *s, size_t n) {
        struct render_ctx *c = u;
        return put(c->out, c->outlen, &c->pos, s, n);
}

static int render_var(void *u, const char *name, size_t n, char *err, size_t errlen) {
        struct render_ctx *c = u;
        int r;

        for (size_t k = 0; k < c->n_vars; k++) {
                const struct text_var *v = &c->vars[k];
                if (!v->name || strlen(v->name) != n || memcmp(v->name, name, n) != 0)
                        continue;
                if (!v->value)
                        break;
                r = escape_into(c->esc, v->value, strlen(v->value), c->out, c->outlen, &c->pos);
                if (r == -EILSEQ)
                        seterr(err, errlen, "{%.*s}: value is not valid UTF-8", (int) n, name);
                else if (r == -ENOBUFS)
                        seterr(err, errlen, "{%.*s}: result too long", (int) n, name);
                return r;
        }
        seterr(err, errlen, "unknown placeholder {%.*s}", (int) n, name);
        return -ENOENT;
}

int text_template_render(const char *tmpl, enum text_escape esc, const struct text_var *vars, size_t n_vars,
                         char *out, size_t outlen, char *err, size_t errlen) {
        static const struct tmpl_ops ops = { render_lit, render_var };
        struct render_ctx c = { .esc = esc, .vars = vars, .n_vars = n_vars, .out = out, .outlen = outlen };
        int r;

        if (err && errlen > 0)
                err[0] = 0;
        if (esc != TEXT_ESCAPE_NONE && esc != TEXT_ESCAPE_URL && esc != TEXT_ESCAPE_JSON)
                return -EINVAL;
        if (!out || outlen == 0)
                return -ENOBUFS;
        out[0] = 0;
        r = tmpl_walk(tmpl, &ops, &c, err, errlen);
        if (r == -ENOBUFS && err && errlen > 0 && !err[0])
                seterr(err, errlen, "result longer than %zu bytes", outlen - 1);
        if (r < 0) {
                out[0] = 0;
                return r;
        }
        return c.pos > INT32_MAX ? -ENOBUFS : (int) c.pos;
}

struct check_ctx {
        const char *const *extra;
        size_t n_extra;
};

static int check_lit(void *u, const char *s, size_t n) {
        (void) u, (void) s, (void) n;
        return 0;
}

static bool name_eq(const char *a, const char *name, size_t n) {
        return a && strlen(a) == n && memcmp(a, name, n) == 0;
}

static int check_var(void *u, const char *name, size_t n, char *err, size_t errlen) {
        struct check_ctx *c = u;

        for (const char *const *s = text_template_std_names; *s; s++)
                if (name_eq(*s, name, n))
                        return 0;
        for (size_t k = 0; k < c->n_extra; k++)
                if (name_eq(c->extra[k], name, n))
                        return 0;
        seterr(err, errlen, "unknown placeholder {%.*s}", (int) n, name);
        return -ENOENT;
}

int text_template_check(const char *tmpl, const char *const *extra, size_t n_extra, char *err, size_t errlen) {
        static const struct tmpl_ops ops = { check_lit, check_var };
        struct check_ctx c = { .extra = extra, .n_extra = n_extra };

        if (err && errlen > 0)
                err[0] = 0;
        return tmpl_walk(tmpl, &ops, &c, err, errlen);
}

/* ---- e-mail headers ---- */

bool text_header_safe_n(const char *s, size_t len) {
        if (!s)
                return false;
        for (size_t i = 0; i < len; i++)
                if (s[i] == '\r' || s[i] == '\n' || s[i] == 0)
                        return false;
        return true;
}

bool text_header_safe(const char *s) {
        return s && text_header_safe_n(s, strlen(s));
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int put_base64(char *out, size_t outlen, size_t *pos, const unsigned char *s, size_t n) {
        char q[4];
        int r;

        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) s[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t) s[i + 1] << 8;
                if (i + 2 < n)
                        v |= s[i + 2];
                q[0] = b64[(v >> 18) & 63];
                q[1] = b64[(v >> 12) & 63];
                q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
                q[3] = i + 2 < n ? b64[v & 63] : '=';
                r = put(out, outlen, pos, q, 4);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* RFC 2047 2.: an encoded-word is at most 75 characters, and a header line
 * holding one at most 76 (folding included: the leading space of a
 * continuation line counts). "=?UTF-8?B?" and "?=" take 12 of them; base64
 * carries 3 bytes in 4 characters. */
#define RFC2047_LINE     76
#define RFC2047_OVERHEAD 12
#define RFC2047_COL_MAX  50 /* longest header name ("Name: ") the first line can take */

/* Bytes of UTF-8 an encoded word may carry on a line whose first USED
 * characters are taken (the header name, or the folding space). */
static size_t rfc2047_room(size_t used) {
        size_t chars = RFC2047_LINE - used - RFC2047_OVERHEAD;
        if (chars > 75 - RFC2047_OVERHEAD)
                chars = 75 - RFC2047_OVERHEAD;
        return chars / 4 * 3;
}

/* Printable ASCII is folded (RFC 5322 2.2.3) before a space wherever a
 * line would pass 76 characters; a word longer than a line stays whole
 * (the hard limit is 998). Unfolding (removing each CRLF) gives IN back. */
static int fold_plain(const char *in, size_t len, size_t col, char *out, size_t outlen, size_t *pos) {
        size_t i = 0, line = col;
        int r;

        while (i < len) {
                /* the next word: its leading spaces and the text up to the next space */
                size_t j = i;
                while (j < len && in[j] == ' ')
                        j++;
                while (j < len && in[j] != ' ')
                        j++;
                /* Fold before this word's first space, if the line has text and the
                 * word would pass the limit. A fold may not leave a line of spaces
                 * only, so it goes before the last of several spaces. */
                if (i > 0 && in[i] == ' ' && line + (j - i) > RFC2047_LINE) {
                        size_t k = i;
                        while (k + 1 < j && in[k + 1] == ' ')
                                k++;
                        if ((r = put(out, outlen, pos, in + i, k - i)) < 0 || (r = put(out, outlen, pos, "\r\n", 2)) < 0)
                                return r;
                        line = 0;
                        i = k;
                }
                if ((r = put(out, outlen, pos, in + i, j - i)) < 0)
                        return r;
                line += j - i;
                i = j;
        }
        return 0;
}

int text_rfc2047_encode(const char *in, size_t col, char *out, size_t outlen) {
        size_t len, pos = 0;
        bool plain = true;
        int r;

        if (!in || col > RFC2047_COL_MAX)
                return -EINVAL;
        if (!out || outlen == 0)
                return -ENOBUFS;
        out[0] = 0;
        len = strlen(in);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) in[i];
                if (c < 0x20 && c != '\t')
                        return -EINVAL;
                if (c >= 0x7F || c == '\t')
                        plain = false;
        }
        if (!text_utf8_valid(in, len))
                return -EILSEQ;
        if (strstr(in, "=?"))
                plain = false;
        if (plain) {
                r = fold_plain(in, len, col, out, outlen, &pos);
                if (r < 0)
                        out[0] = 0;
                return r < 0 ? r : (int) pos;
        }

        for (size_t i = 0; i < len;) {
                size_t n = len - i, room = rfc2047_room(i == 0 ? col : 1);
                if (n > room) {
                        n = room;
                        /* back up to the start of a UTF-8 sequence */
                        while (n > 0 && ((unsigned char) in[i + n] & 0xC0) == 0x80)
                                n--;
                }
                if ((i > 0 && (r = put(out, outlen, &pos, "\r\n ", 3)) < 0) ||
                    (r = put(out, outlen, &pos, "=?UTF-8?B?", 10)) < 0 ||
                    (r = put_base64(out, outlen, &pos, (const unsigned char *) in + i, n)) < 0 ||
                    (r = put(out, outlen, &pos, "?=", 2)) < 0) {
                        out[0] = 0;
                        return r;
                }
                i += n;
        }
        return pos > INT32_MAX ? -ENOBUFS : (int) pos;
}

/* ---- SMS replies ---- */

static const struct {
        const char *word;
        enum text_reply_kind kind;
} reply_words[] = {
        { "JA", TEXT_REPLY_YES },        { "YES", TEXT_REPLY_YES },     { "NEI", TEXT_REPLY_NO },
        { "NO", TEXT_REPLY_NO },         { "OK", TEXT_REPLY_OK },       { "OKAY", TEXT_REPLY_OK },
        { "OKEI", TEXT_REPLY_OK },       { "UTSETT", TEXT_REPLY_POSTPONE }, { "HJELP", TEXT_REPLY_HELP },
        { "HELP", TEXT_REPLY_HELP },
};

const char *text_reply_kind_name(enum text_reply_kind k) {
        static const char *const names[] = {
                [TEXT_REPLY_UNKNOWN] = "unknown", [TEXT_REPLY_YES] = "yes",       [TEXT_REPLY_NO] = "no",
                [TEXT_REPLY_OK] = "ok",           [TEXT_REPLY_POSTPONE] = "postpone", [TEXT_REPLY_HELP] = "help",
        };
        return (unsigned) k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

/* Characters that carry no meaning in a reply. */
static bool reply_ignorable(uint32_t cp) {
        switch (cp) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
        case '.':
        case ',':
        case '!':
        case ':':
        case ';':
        case '-':
        case ')':
        case 0x00A0: /* NBSP */
        case 0x202F: /* narrow NBSP */
        case 0x200D: /* ZWJ */
        case 0xFE0F: /* emoji presentation */
                return true;
        }
        return (cp >= 0x2190 && cp <= 0x21FF) ||   /* arrows */
               (cp >= 0x2600 && cp <= 0x27BF) ||   /* misc symbols, dingbats (✔ ✅ ☺) */
               (cp >= 0x1F000 && cp <= 0x1FAFF);   /* emoji, incl. skin tones */
}

static bool ascii_alpha(uint32_t c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
static bool ascii_digit(uint32_t c) {
        return c >= '0' && c <= '9';
}

/* A reply cut into its one keyword and the numbers before and after it. */
struct reply_tokens {
        enum text_reply_kind kind;
        const char *before, *after[2];
        size_t len_before, len_after[2], n_after;
};

/* Cut S into T; false when it is not a reply: bad UTF-8, no keyword or
 * two, an unknown word, more numbers than a reply has, anything else. */
static bool reply_scan(const char *s, size_t len, struct reply_tokens *t) {
        const unsigned char *u = (const unsigned char *) s;
        bool have_word = false;

        *t = (struct reply_tokens) { .kind = TEXT_REPLY_UNKNOWN };
        for (size_t i = 0; i < len;) {
                size_t start = i;
                uint32_t cp;

                if (utf8_next(u, len, &i, &cp) < 0)
                        return false;
                if (reply_ignorable(cp))
                        continue;
                if (ascii_alpha(cp)) {
                        char w[8];
                        size_t n = 0;

                        if (have_word)
                                return false; /* one keyword only */
                        i = start;
                        while (i < len && ascii_alpha(u[i])) {
                                if (n == sizeof w - 1)
                                        return false;
                                w[n++] = (char) (u[i++] & ~0x20); /* ASCII upper case */
                        }
                        w[n] = 0;
                        for (size_t k = 0; k < sizeof reply_words / sizeof reply_words[0]; k++)
                                if (strcmp(w, reply_words[k].word) == 0)
                                        t->kind = reply_words[k].kind;
                        if (t->kind == TEXT_REPLY_UNKNOWN)
                                return false;
                        have_word = true;
                        continue;
                }
                if (ascii_digit(cp)) {
                        i = start;
                        while (i < len && ascii_digit(u[i]))
                                i++;
                        if (!have_word) {
                                if (t->before)
                                        return false;
                                t->before = s + start;
                                t->len_before = i - start;
                        } else {
                                if (t->n_after == 2)
                                        return false;
                                t->after[t->n_after] = s + start;
                                t->len_after[t->n_after++] = i - start;
                        }
                        continue;
                }
                return false; /* "?", other letters, anything else */
        }
        return have_word;
}

enum text_reply_kind text_parse_reply(const char *s, size_t len, struct text_reply *ret) {
        struct text_reply res = { .kind = TEXT_REPLY_UNKNOWN };
        struct reply_tokens t;

        if (!ret)
                return TEXT_REPLY_UNKNOWN;
        *ret = res;
        if (!s || !reply_scan(s, len, &t))
                return TEXT_REPLY_UNKNOWN;

#define IS_CODE(n) ((n) >= TEXT_REPLY_CODE_MIN && (n) <= TEXT_REPLY_CODE_MAX)
        const char *code = NULL, *days = NULL;
        size_t code_len = 0, days_len = 0;

        if (t.before) {
                if (!IS_CODE(t.len_before))
                        return TEXT_REPLY_UNKNOWN;
                code = t.before;
                code_len = t.len_before;
        }
        if (t.kind == TEXT_REPLY_POSTPONE) {
                size_t k = 0;
                if (!code && k < t.n_after && IS_CODE(t.len_after[k])) {
                        code = t.after[k];
                        code_len = t.len_after[k++];
                }
                if (k < t.n_after) {
                        if (t.len_after[k] > 3)
                                return TEXT_REPLY_UNKNOWN;
                        days = t.after[k];
                        days_len = t.len_after[k++];
                }
                if (k < t.n_after)
                        return TEXT_REPLY_UNKNOWN;
        } else {
                if (t.n_after > 1 || (t.n_after == 1 && (code || !IS_CODE(t.len_after[0]))))
                        return TEXT_REPLY_UNKNOWN;
                if (t.n_after == 1) {
                        code = t.after[0];
                        code_len = t.len_after[0];
                }
        }
#undef IS_CODE

        if (days) {
                for (size_t k = 0; k < days_len; k++)
                        res.days = res.days * 10 + (unsigned) (days[k] - '0');
                if (res.days == 0)
                        return TEXT_REPLY_UNKNOWN;
        }
        if (code) {
                memcpy(res.code, code, code_len);
                res.code[code_len] = 0;
        }
        res.kind = t.kind;
        *ret = res;
        return t.kind;
}

/* ---- phone numbers ---- */

int text_phone_e164(const char *in, char *out, size_t outlen) {
        char d[17]; /* "00" + 15 digits */
        size_t n = 0;
        bool plus = false, intl, started = false;

        if (!in)
                return -EINVAL;
        for (const char *p = in; *p; p++) {
                char c = *p;
                if (c == ' ' || c == '\t' || c == '-' || c == '.' || c == '(' || c == ')')
                        continue;
                if (c == '+') {
                        if (started)
                                return -EINVAL;
                        plus = true;
                        started = true;
                        continue;
                }
                if (c < '0' || c > '9')
                        return -EINVAL;
                started = true;
                if (n == sizeof d)
                        return -EINVAL; /* too long even with a 00 prefix */
                d[n++] = c;
        }

        const char *digits = d;
        if (plus)
                intl = true;
        else if (n >= 2 && d[0] == '0' && d[1] == '0') {
                intl = true;
                digits += 2;
                n -= 2;
        } else
                intl = false;

        char res[TEXT_E164_MAX];
        if (!intl) {
                /* a bare national number: Norwegian, 8 digits */
                if (n != 8 || digits[0] == '0' || digits[0] == '1')
                        return -EINVAL;
                res[0] = '+';
                res[1] = '4';
                res[2] = '7';
                memcpy(res + 3, digits, 8);
                res[11] = 0;
        } else {
                if (n < 8 || n > 15 || digits[0] == '0')
                        return -EINVAL;
                if (digits[0] == '4' && digits[1] == '7' &&
                    (n != 10 || digits[2] == '0' || digits[2] == '1'))
                        return -EINVAL;
                res[0] = '+';
                memcpy(res + 1, digits, n);
                res[n + 1] = 0;
        }
        size_t rl = strlen(res);
        if (!out || rl >= outlen)
                return -ENOBUFS;
        memcpy(out, res, rl + 1);
        return 0;
}

const char *text_markup_entity(char c, bool quotes) {
        switch (c) {
        case '&':
                return "&amp;";
        case '<':
                return "&lt;";
        case '>':
                return "&gt;";
        case '"':
                return quotes ? "&quot;" : NULL;
        case '\'':
                return quotes ? "&#39;" : NULL;
        default:
                return NULL;
        }
}
