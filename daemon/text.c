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

/* Code points that must stay with the character before them. Not full
 * grapheme segmentation (UAX #29), but the cases an SMS realistically holds:
 * combining diacritics, ZWJ sequences, variation selectors, skin tones and
 * keycaps. */
static bool is_extender(uint32_t cp) {
        return (cp >= 0x0300 && cp <= 0x036F) || cp == 0x200D || (cp >= 0xFE00 && cp <= 0xFE0F) ||
               (cp >= 0x1F3FB && cp <= 0x1F3FF) || cp == 0x20E3 || (cp >= 0xE0020 && cp <= 0xE007F);
}

static uint32_t cp_at(const char *s, size_t len, size_t i) {
        uint32_t cp = 0;

        (void) utf8_next((const unsigned char *) s, len, &i, &cp);
        return cp;
}

/* Longest prefix of S (bytes) that fits in BUDGET units, counting with the
 * GSM table (GSM=true: stop at the first non-GSM character) or UTF-16 units.
 * *CHARS gets the code points kept. S is valid UTF-8. */
static size_t fit_prefix(const char *s, size_t len, bool gsm, size_t budget, size_t *chars) {
        size_t i = 0, used = 0, n = 0;

        while (i < len) {
                size_t j = i;
                uint32_t cp;
                unsigned w;

                (void) utf8_next((const unsigned char *) s, len, &j, &cp);
                w = gsm ? text_gsm7_septets(cp) : ucs2_units(cp);
                if (w == 0 || used + w > budget)
                        break;
                used += w;
                n++;
                i = j;
        }

        /* Do not strand a base character's marks, nor end on a ZWJ. */
        while (i > 0 && ((i < len && is_extender(cp_at(s, len, i))) || cp_at(s, len, utf8_prev(s, i)) == 0x200D)) {
                i = utf8_prev(s, i);
                n--;
        }
        while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n' || s[i - 1] == '\r')) {
                i--;
                n--;
        }
        *chars = n;
        return i;
}

static int put(char *out, size_t outlen, size_t *pos, const char *s, size_t n) {
        if (n >= outlen - *pos)
                return -ENOBUFS;
        memcpy(out + *pos, s, n);
        *pos += n;
        out[*pos] = 0;
        return 0;
}

int text_sms_compose(const char *prefix, const char *free_text, const char *suffix, char *out, size_t outlen) {
        static const char ell_gsm[] = "...", ell_ucs[] = "\xE2\x80\xA6"; /* U+2026 */
        size_t lp, lf, ls, cut, pos = 0;
        struct sms_acc a, fixed;
        struct text_sms_info whole, fx;
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

        sms_acc_init(&fixed);
        r = sms_acc_feed(&fixed, prefix, lp);
        if (r >= 0)
                r = sms_acc_feed(&fixed, suffix, ls);
        if (r < 0)
                return r;
        a = fixed;
        r = sms_acc_feed(&a, free_text, lf);
        if (r < 0)
                return r;

        sms_acc_result(&a, &whole);
        if (whole.segments == 1) {
                cut = lf;
                ell = "";
                r = 0;
        } else {
                size_t n_gsm = 0, n_ucs = 0, cut_gsm = 0, cut_ucs = 0;
                bool ok_gsm = false, ok_ucs = false;

                sms_acc_result(&fixed, &fx);
                /* Fixed parts in GSM: keep GSM, "..." costs 3 septets. */
                if (fixed.gsm && fixed.gsm_units + 3 <= TEXT_SMS_GSM7_SINGLE) {
                        ok_gsm = true;
                        cut_gsm = fit_prefix(free_text, lf, true, TEXT_SMS_GSM7_SINGLE - fixed.gsm_units - 3, &n_gsm);
                }
                /* Or UCS-2, "…" costs 1 unit. */
                if (fixed.ucs_units + 1 <= TEXT_SMS_UCS2_SINGLE) {
                        ok_ucs = true;
                        cut_ucs = fit_prefix(free_text, lf, false, TEXT_SMS_UCS2_SINGLE - fixed.ucs_units - 1, &n_ucs);
                }
                if (ok_gsm && (!ok_ucs || n_gsm >= n_ucs)) {
                        cut = cut_gsm;
                        ell = ell_gsm;
                } else if (ok_ucs) {
                        cut = cut_ucs;
                        ell = ell_ucs;
                } else
                        return -EMSGSIZE;
                r = 1;
                if (cut == lf)
                        ell = ""; /* cannot happen (the whole did not fit), but never add a false ellipsis */
        }

        if (put(out, outlen, &pos, prefix, lp) < 0 || put(out, outlen, &pos, free_text, cut) < 0 ||
            put(out, outlen, &pos, ell, strlen(ell)) < 0 || put(out, outlen, &pos, suffix, ls) < 0)
                return -ENOBUFS;
        return r;
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

enum text_reply_kind text_parse_reply(const char *s, size_t len, struct text_reply *ret) {
        const unsigned char *u = (const unsigned char *) s;
        struct text_reply res = { .kind = TEXT_REPLY_UNKNOWN };
        enum text_reply_kind kind = TEXT_REPLY_UNKNOWN;
        /* numbers in order, relative to the keyword */
        const char *num_before = NULL, *nums_after[2] = { NULL, NULL };
        size_t len_before = 0, lens_after[2] = { 0, 0 }, n_after = 0;
        bool have_word = false;

        if (!ret)
                return TEXT_REPLY_UNKNOWN;
        *ret = res;
        if (!s)
                return TEXT_REPLY_UNKNOWN;

        for (size_t i = 0; i < len;) {
                size_t start = i;
                uint32_t cp;

                if (utf8_next(u, len, &i, &cp) < 0)
                        return TEXT_REPLY_UNKNOWN;
                if (reply_ignorable(cp))
                        continue;
                if (ascii_alpha(cp)) {
                        char w[8];
                        size_t n = 0;

                        if (have_word)
                                return TEXT_REPLY_UNKNOWN; /* one keyword only */
                        i = start;
                        while (i < len && ascii_alpha(u[i])) {
                                if (n == sizeof w - 1)
                                        return TEXT_REPLY_UNKNOWN;
                                w[n++] = (char) (u[i++] & ~0x20); /* ASCII upper case */
                        }
                        w[n] = 0;
                        for (size_t k = 0; k < sizeof reply_words / sizeof reply_words[0]; k++)
                                if (strcmp(w, reply_words[k].word) == 0)
                                        kind = reply_words[k].kind;
                        if (kind == TEXT_REPLY_UNKNOWN)
                                return TEXT_REPLY_UNKNOWN;
                        have_word = true;
                        continue;
                }
                if (ascii_digit(cp)) {
                        i = start;
                        while (i < len && ascii_digit(u[i]))
                                i++;
                        if (!have_word) {
                                if (num_before)
                                        return TEXT_REPLY_UNKNOWN;
                                num_before = s + start;
                                len_before = i - start;
                        } else {
                                if (n_after == 2)
                                        return TEXT_REPLY_UNKNOWN;
                                nums_after[n_after] = s + start;
                                lens_after[n_after++] = i - start;
                        }
                        continue;
                }
                return TEXT_REPLY_UNKNOWN; /* "?", other letters, anything else */
        }
        if (!have_word)
                return TEXT_REPLY_UNKNOWN;

#define IS_CODE(n) ((n) >= TEXT_REPLY_CODE_MIN && (n) <= TEXT_REPLY_CODE_MAX)
        const char *code = NULL, *days = NULL;
        size_t code_len = 0, days_len = 0;

        if (num_before) {
                if (!IS_CODE(len_before))
                        return TEXT_REPLY_UNKNOWN;
                code = num_before;
                code_len = len_before;
        }
        if (kind == TEXT_REPLY_POSTPONE) {
                size_t k = 0;
                if (!code && k < n_after && IS_CODE(lens_after[k])) {
                        code = nums_after[k];
                        code_len = lens_after[k++];
                }
                if (k < n_after) {
                        if (lens_after[k] > 3)
                                return TEXT_REPLY_UNKNOWN;
                        days = nums_after[k];
                        days_len = lens_after[k++];
                }
                if (k < n_after)
                        return TEXT_REPLY_UNKNOWN;
        } else {
                if (n_after > 1 || (n_after == 1 && (code || !IS_CODE(lens_after[0]))))
                        return TEXT_REPLY_UNKNOWN;
                if (n_after == 1) {
                        code = nums_after[0];
                        code_len = lens_after[0];
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
        res.kind = kind;
        *ret = res;
        return kind;
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
                if (n < 7 || n > 15 || digits[0] == '0')
                        return -EINVAL;
                if (digits[0] == '4' && digits[1] == '7' &&
                    (n != 10 || digits[2] == '0' || digits[2] == '1'))
                        return -EINVAL;
                res[0] = '+';
                memcpy(res + 1, digits, n);
                res[n + 1] = 0;
        }
        if (!out || strlen(res) >= outlen)
                return -ENOBUFS;
        strcpy(out, res);
        return 0;
}
