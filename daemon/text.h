/* text.h - pure text code for the gateways: SMS segment counting and fitting,
 * a tiny template engine with URL/JSON escaping, RFC 2047 subjects, header
 * safety, the SMS reply parser and phone number normalisation.
 *
 * No I/O, no allocation, no logging. Functions return 0 (or a non-negative
 * value) on success and -errno on failure:
 *   -EILSEQ   input is not valid UTF-8 (strict: no overlongs, no surrogates,
 *             nothing above U+10FFFF, no NUL inside a counted string)
 *   -ENOBUFS  the result (with its NUL) would not fit in the caller's buffer;
 *             nothing is ever silently truncated
 *   -EMSGSIZE the fixed parts of an SMS do not fit in the segments allowed
 *   -EINVAL   malformed input (template syntax, phone number, CR/LF in a header)
 *   -ENOENT   a template names a placeholder that has no value
 * Output buffers are always NUL-terminated when the call succeeds.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- UTF-8 ---- */

/* True if S[0..LEN) is strict UTF-8 without NUL bytes. */
bool text_utf8_valid(const char *s, size_t len);

/* ---- SMS segments (3GPP TS 23.038 / GSM 03.38, TS 23.040 concatenation) ---- */

enum text_sms_encoding {
        TEXT_SMS_GSM7, /* GSM 03.38 default alphabet + extension table */
        TEXT_SMS_UCS2, /* UTF-16 code units */
};

#define TEXT_SMS_GSM7_SINGLE 160 /* septets in a single SMS */
#define TEXT_SMS_GSM7_PART   153 /* septets per part of a concatenated SMS */
#define TEXT_SMS_UCS2_SINGLE 70
#define TEXT_SMS_UCS2_PART   67

struct text_sms_info {
        enum text_sms_encoding encoding;
        size_t units;    /* septets (GSM7: extension characters count 2) or UTF-16 units */
        size_t chars;    /* Unicode code points */
        size_t segments; /* SMS parts; an empty text is still one SMS */
};

/* Count S[0..LEN): GSM 7-bit if every character is in the default alphabet or
 * its extension table, else UCS-2. Parts of a concatenated message never split
 * an escape pair or a surrogate pair, as handsets and SMSCs do, so a long text
 * may need one part more than units/153 suggests. -EILSEQ on invalid UTF-8. */
int text_sms_count(const char *s, size_t len, struct text_sms_info *ret);

/* Septets of code point CP in GSM 7-bit: 1 (default alphabet), 2 (extension
 * table: FF ^ { } \ [ ~ ] | €), 0 (not representable). */
unsigned text_gsm7_septets(uint32_t cp);

/* Typographic characters with an obvious GSM 03.38 equivalent are sent as
 * that equivalent, so that one of them does not force UCS-2 and halve the
 * room: dashes and the minus (- for – — ‒ ― − ‐ ‑), double quotes (" for
 * « » “ ” „ ‟ ″), single quotes and apostrophes (' for ‘ ’ ‚ ‛ ′ ‹ › ´ `),
 * … as "...", no-break, narrow, thin and other Unicode spaces and the tab as
 * a space, U+2028/2029 as a line break, ⁄ ∕ as "/"; invisible ones (soft
 * hyphen, zero-width space, word joiner, BOM) are dropped. Letters are never
 * changed (ç, á, č stay and force UCS-2), nor the ZWJ of emoji sequences.
 * Only SMS text is transliterated; e-mail is UTF-8.
 *
 * The replacement of code point CP (ASCII, possibly ""), or NULL if it is
 * sent as it is. */
const char *text_sms_transliteration(uint32_t cp);

/* Transliterate IN into OUT (never longer than IN). Returns the length
 * written, -EINVAL (IN NULL), -EILSEQ, -ENOBUFS. */
int text_sms_transliterate(const char *in, char *out, size_t outlen);

/* Compose PREFIX FREE_TEXT SUFFIX (NULL = ""), transliterated, into OUT so
 * that it is at most MAX_SEGMENTS SMS parts (0 counts as 1). FREE_TEXT is
 * never altered while the whole fits. Only if it does not, FREE_TEXT alone
 * is shortened and ends with an ellipsis: "..." when the result stays GSM
 * 7-bit (U+2026 is not in GSM 03.38 and would force UCS-2 and halve the
 * room), "…" when it is UCS-2 anyway. Of the two ways to shorten (keep GSM
 * and cut before the first character outside it, or go UCS-2) the one
 * keeping more of FREE_TEXT wins. The cut never splits a UTF-8 sequence,
 * never separates a base character from a following combining mark,
 * variation selector or ZWJ, and drops whitespace before the ellipsis.
 * PREFIX and SUFFIX (the reply-code instruction) are never cut. INFO (may be
 * NULL) gets the count of the result. Returns 0 (fits as is), 1 (shortened),
 * -EMSGSIZE (PREFIX+SUFFIX and an ellipsis alone exceed MAX_SEGMENTS),
 * -ENOBUFS, -EILSEQ. */
int text_sms_compose_n(const char *prefix, const char *free_text, const char *suffix, unsigned max_segments,
                       char *out, size_t outlen, struct text_sms_info *info);

/* The same in one segment. */
int text_sms_compose(const char *prefix, const char *free_text, const char *suffix, char *out, size_t outlen);

/* ---- templates ----
 *
 * "{name}" is replaced by the value of NAME, escaped per the template's mode;
 * "{{" is a literal "{". Any other "{" is a syntax error (a JSON body is
 * written "{{\"to\":\"{to}\"}"), so a typo never goes out verbatim. "}" is
 * always literal. Names are [A-Za-z_][A-Za-z0-9_]*, at most 63 characters.
 * The gateways provide {to} {from} {text} {ref} (idempotency key) and
 * {validity} (seconds); a profile may add its own. */

enum text_escape {
        TEXT_ESCAPE_NONE,
        TEXT_ESCAPE_URL,  /* percent-encode all but RFC 3986 unreserved (A-Z a-z 0-9 - . _ ~);
                           * space is %20; valid in a URL and in x-www-form-urlencoded */
        TEXT_ESCAPE_JSON, /* inside a JSON string: \" \\ \n \r \t, other controls and DEL
                           * as \u00XX, U+2028/2029 as \u2028/\u2029; UTF-8 kept */
};

struct text_var {
        const char *name;
        const char *value; /* must be valid UTF-8 */
};

/* The placeholder names the gateways always provide. */
extern const char *const text_template_std_names[];

/* Escape S[0..LEN) per ESC into OUT. Returns the length written, -ENOBUFS,
 * -EILSEQ. */
int text_escape(enum text_escape esc, const char *s, size_t len, char *out, size_t outlen);

/* Render TMPL with VARS into OUT (at most OUTLEN bytes with the NUL). Returns
 * the length written, -EINVAL (syntax), -ENOENT (unknown placeholder), -EILSEQ
 * (a value is not UTF-8), -ENOBUFS. On error, ERR (if not NULL) says why,
 * naming the placeholder or the offset. */
int text_template_render(const char *tmpl, enum text_escape esc, const struct text_var *vars, size_t n_vars,
                         char *out, size_t outlen, char *err, size_t errlen);

/* Check TMPL's syntax and that every placeholder is a standard name or one of
 * EXTRA (N_EXTRA names), for use at configuration load. 0, -EINVAL, -ENOENT. */
int text_template_check(const char *tmpl, const char *const *extra, size_t n_extra, char *err, size_t errlen);

/* ---- e-mail headers ---- */

/* False if S contains CR or LF (header injection), or if S is NULL. */
bool text_header_safe(const char *s);
/* Same for S[0..LEN), which must also be free of NUL. */
bool text_header_safe_n(const char *s, size_t len);

/* Encode a header value (a subject) per RFC 2047. COL is what the first line
 * holds before the value: the header name and ": " (9 for "Subject: "; at
 * most 50). Printable ASCII without "=?" is copied as is, folded before a
 * space where a line would pass 76 characters; anything else becomes
 * "=?UTF-8?B?...?=" words, each holding whole UTF-8 sequences, joined by
 * CRLF SP (folding, RFC 5322 2.2.3), so that no word is longer than 75
 * characters and no line (the first with its COL) longer than 76 (RFC 2047
 * 2.). Run text_header_safe on the input, not the output. Returns the
 * length written, -EINVAL (CR, LF or other C0 control in IN, COL > 50),
 * -EILSEQ, -ENOBUFS. */
int text_rfc2047_encode(const char *in, size_t col, char *out, size_t outlen);

/* ---- SMS replies ---- */

enum text_reply_kind {
        TEXT_REPLY_UNKNOWN,
        TEXT_REPLY_YES,      /* JA, YES */
        TEXT_REPLY_NO,       /* NEI, NO */
        TEXT_REPLY_OK,       /* OK, OKAY, OKEI: the caller maps it (yes for an activation,
                              * "no needs" for a follow-up check-in) */
        TEXT_REPLY_POSTPONE, /* UTSETT [code] [days] */
        TEXT_REPLY_HELP,     /* HJELP, HELP */
};

#define TEXT_REPLY_CODE_MIN 4
#define TEXT_REPLY_CODE_MAX 6

struct text_reply {
        enum text_reply_kind kind;
        char code[TEXT_REPLY_CODE_MAX + 1]; /* digits, "" if none */
        unsigned days;                      /* POSTPONE only, 1-999; 0 if not given */
};

/* Parse an SMS reply S[0..LEN) forgivingly: one keyword, case-insensitive, an
 * optional 4-6 digit code before or after it with or without spaces ("JA4821",
 * "4821 ja"), and for UTSETT an optional day count after the code. Whitespace
 * (incl. NBSP), the punctuation . , ! : ; - ) and emoji are ignored. Anything
 * else makes the reply UNKNOWN, because counting a guess toward the quorum is
 * worse than asking again: a second word ("ja nei", "ja jeg kommer"), a "?",
 * non-ASCII letters, or a number that is not a 4-6 digit code ("ja 12",
 * "ja 1234567"). Invalid UTF-8 is UNKNOWN. Fills *RET and returns its kind. */
enum text_reply_kind text_parse_reply(const char *s, size_t len, struct text_reply *ret);
const char *text_reply_kind_name(enum text_reply_kind k);

/* ---- phone numbers ---- */

#define TEXT_E164_MAX 17 /* "+" + 15 digits + NUL */

/* Normalise a phone number to E.164 ("+4791234567"): the one normaliser, used
 * for the configured phones and for sender lookups (config.c, which accepts
 * only digits, '+' and spaces there). Spaces, tabs, "-", "." and "()" are
 * ignored. "+CC..." and "00CC..." are international (8-15 digits); a bare
 * 8-digit number is Norwegian and gets +47. Norwegian numbers must have 8
 * digits not starting with 0 or 1. Anything else is -EINVAL; -ENOBUFS if
 * OUTLEN < the result + 1 (TEXT_E164_MAX always suffices). */
int text_phone_e164(const char *in, char *out, size_t outlen);

/* The HTML/XML entity for C ("&amp;", "&lt;", "&gt;"; with QUOTES also
 * "&quot;" and "&#39;", for text that may stand in an attribute), or NULL
 * when C stands for itself. */
const char *text_markup_entity(char c, bool quotes);
