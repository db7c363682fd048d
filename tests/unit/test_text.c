/* test_text.c - unit tests for text.c: SMS segments and fitting, templates
 * and escaping, RFC 2047, header safety, the reply parser, phone numbers.
 * Expected values were checked by hand or with Python (noted where so). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

static void repeat(char *buf, const char *unit, size_t n) {
        buf[0] = 0;
        for (size_t i = 0; i < n; i++)
                strcat(buf, unit);
}

static struct text_sms_info count(const char *s) {
        struct text_sms_info info;
        assert_int_equal(text_sms_count(s, strlen(s), &info), 0);
        return info;
}

/* ---- UTF-8 ---- */

static void test_utf8_valid(void **state) {
        (void) state;
        assert_true(text_utf8_valid("", 0));
        assert_true(text_utf8_valid("æøå €😀", strlen("æøå €😀")));
        assert_false(text_utf8_valid("\xC3", 1));                 /* truncated */
        assert_false(text_utf8_valid("\xC0\xAF", 2));             /* overlong '/' */
        assert_false(text_utf8_valid("\xE0\x80\xAF", 3));         /* overlong */
        assert_false(text_utf8_valid("\xED\xA0\x80", 3));         /* surrogate D800 */
        assert_false(text_utf8_valid("\xF4\x90\x80\x80", 4));     /* > U+10FFFF */
        assert_false(text_utf8_valid("\xFF", 1));
        assert_false(text_utf8_valid("a\0b", 3));                 /* NUL inside */
        assert_false(text_utf8_valid("\x80", 1));                 /* lone continuation */
}

/* ---- SMS counting ---- */

static void test_sms_standard_message(void **state) {
        (void) state;
        struct text_sms_info i = count("Kriseteamet kalles inn. Svar JA 4821 eller NEI 4821");
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_int_equal(i.units, 51);
        assert_int_equal(i.chars, 51);
        assert_int_equal(i.segments, 1);
}

static void test_sms_norwegian_stays_gsm(void **state) {
        (void) state;
        struct text_sms_info i = count("ØVELSE: Møt på rådhuset, Æ Ø Å æ ø å é ü Ä Ö ß");
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_int_equal(i.units, i.chars);
        assert_int_equal(i.segments, 1);

        /* not in GSM 03.38: ç (only Ç is), á, ê, the ellipsis, a backtick, a tab */
        assert_int_equal(count("ç").encoding, TEXT_SMS_UCS2);
        assert_int_equal(count("á").encoding, TEXT_SMS_UCS2);
        assert_int_equal(count("ê").encoding, TEXT_SMS_UCS2);
        assert_int_equal(count("…").encoding, TEXT_SMS_UCS2);
        assert_int_equal(count("`").encoding, TEXT_SMS_UCS2);
        assert_int_equal(count("a\tb").encoding, TEXT_SMS_UCS2);
        assert_int_equal(count("Ç@£$¥èéùìòØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\r\n").encoding, TEXT_SMS_GSM7);
}

static void test_sms_emoji_forces_ucs2(void **state) {
        (void) state;
        struct text_sms_info i = count("Møt opp 👍");
        assert_int_equal(i.encoding, TEXT_SMS_UCS2);
        assert_int_equal(i.chars, 9);
        assert_int_equal(i.units, 10); /* the emoji is a surrogate pair */
        assert_int_equal(i.segments, 1);
}

static void test_sms_gsm_boundaries(void **state) {
        (void) state;
        char buf[1024];
        struct text_sms_info i;

        repeat(buf, "a", 160);
        i = count(buf);
        assert_int_equal(i.units, 160);
        assert_int_equal(i.segments, 1);

        repeat(buf, "a", 161);
        assert_int_equal(count(buf).segments, 2);
        repeat(buf, "a", 306);
        assert_int_equal(count(buf).segments, 2);
        repeat(buf, "a", 307);
        assert_int_equal(count(buf).segments, 3);

        /* æøå are one septet each */
        repeat(buf, "æ", 160);
        assert_int_equal(count(buf).segments, 1);
        repeat(buf, "ø", 161);
        assert_int_equal(count(buf).segments, 2);
}

static void test_sms_ucs2_boundaries(void **state) {
        (void) state;
        char buf[1024];
        struct text_sms_info i;

        strcpy(buf, "ç");
        for (int k = 1; k < 70; k++)
                strcat(buf, "a");
        i = count(buf);
        assert_int_equal(i.encoding, TEXT_SMS_UCS2);
        assert_int_equal(i.units, 70);
        assert_int_equal(i.segments, 1);
        strcat(buf, "a");
        i = count(buf);
        assert_int_equal(i.units, 71);
        assert_int_equal(i.segments, 2);

        /* 35 emoji = 70 units: one SMS; 36 = 72 units: two parts of <= 67 */
        repeat(buf, "😀", 35);
        i = count(buf);
        assert_int_equal(i.chars, 35);
        assert_int_equal(i.units, 70);
        assert_int_equal(i.segments, 1);
        repeat(buf, "😀", 36);
        assert_int_equal(count(buf).segments, 2);
        /* 67 units per part, but a pair is not split: 34 emoji (68 units) need
         * 2 parts, and so 67 emoji (134 units = 2 * 67) need 3, not 2 */
        repeat(buf, "😀", 67);
        i = count(buf);
        assert_int_equal(i.units, 134);
        assert_int_equal(i.segments, 3);
        repeat(buf, "ç", 134);
        assert_int_equal(count(buf).segments, 2);
}

static void test_sms_extension_chars(void **state) {
        (void) state;
        char buf[1024];
        struct text_sms_info i;

        i = count("€");
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_int_equal(i.units, 2);
        assert_int_equal(count("[]{}\\^~|\f").units, 18);

        /* 158 + € = 160 septets: one SMS; 159 + € = 161: two */
        repeat(buf, "a", 158);
        strcat(buf, "€");
        assert_int_equal(count(buf).units, 160);
        assert_int_equal(count(buf).segments, 1);
        repeat(buf, "a", 159);
        strcat(buf, "€");
        assert_int_equal(count(buf).segments, 2);

        /* 152 a + € + 152 a = 306 septets would fill 2 parts exactly, but the
         * escape pair cannot straddle the part boundary: 3 parts */
        repeat(buf, "a", 152);
        strcat(buf, "€");
        for (int k = 0; k < 152; k++)
                strcat(buf, "a");
        i = count(buf);
        assert_int_equal(i.units, 306);
        assert_int_equal(i.segments, 3);
}

static void test_sms_empty_and_invalid(void **state) {
        (void) state;
        struct text_sms_info i;

        i = count("");
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_int_equal(i.units, 0);
        assert_int_equal(i.segments, 1);
        assert_int_equal(text_sms_count("ab\xC3", 3, &i), -EILSEQ);
        assert_int_equal(text_sms_count("a\0b", 3, &i), -EILSEQ);
        assert_int_equal(text_sms_count("\xED\xA0\x80", 3, &i), -EILSEQ);
}

/* ---- compose ---- */

static const char PREFIX[] = "Kriseteamet kalles inn: ";
static const char SUFFIX[] = " Svar JA 4821 eller NEI 4821";

static void test_compose_fits(void **state) {
        (void) state;
        char out[512];

        assert_int_equal(text_sms_compose(PREFIX, "Brann på skolen.", SUFFIX, out, sizeof out), 0);
        assert_string_equal(out, "Kriseteamet kalles inn: Brann på skolen. Svar JA 4821 eller NEI 4821");
        assert_int_equal(text_sms_compose(NULL, "x", NULL, out, sizeof out), 0);
        assert_string_equal(out, "x");
}

static void test_compose_shortens_gsm(void **state) {
        (void) state;
        char free_text[400], out[512], expect[512];
        struct text_sms_info i;
        size_t room = 160 - strlen(PREFIX) - strlen(SUFFIX) - 3; /* all ASCII here */

        repeat(free_text, "Møt på rådhuset ", 15);
        assert_int_equal(text_sms_compose(PREFIX, free_text, SUFFIX, out, sizeof out), 1);
        i = count(out);
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_int_equal(i.segments, 1);
        assert_true(i.units <= 160);
        /* the suffix is intact at the very end, the ellipsis right before it */
        assert_int_equal(strncmp(out, PREFIX, strlen(PREFIX)), 0);
        assert_string_equal(out + strlen(out) - strlen(SUFFIX), SUFFIX);
        assert_int_equal(strncmp(out + strlen(out) - strlen(SUFFIX) - 3, "...", 3), 0);
        /* room = 105 septets of free text; 16 per repetition: 6 whole ones
         * (96) + the first 9 characters of the 7th, "Møt på rå" */
        assert_int_equal(room, 105);
        snprintf(expect, sizeof expect, "%s%.*sMøt på rå...%s", PREFIX, (int) strlen("Møt på rådhuset ") * 6,
                 free_text, SUFFIX);
        assert_string_equal(out, expect);
        assert_int_equal(i.units, 160);
}

static void test_compose_never_splits_utf8(void **state) {
        (void) state;
        char free_text[800], out[512];
        struct text_sms_info i;

        /* every cut position lands between two-byte sequences */
        for (size_t n = 100; n < 200; n++) {
                repeat(free_text, "ø", n);
                assert_true(text_sms_compose(PREFIX, free_text, SUFFIX, out, sizeof out) >= 0);
                assert_int_equal(text_sms_count(out, strlen(out), &i), 0);
                assert_int_equal(i.segments, 1);
                assert_string_equal(out + strlen(out) - strlen(SUFFIX), SUFFIX);
        }
        /* extension characters: never over 160 septets */
        repeat(free_text, "€", 120);
        assert_int_equal(text_sms_compose(PREFIX, free_text, SUFFIX, out, sizeof out), 1);
        i = count(out);
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_true(i.units <= 160);
        assert_true(i.units >= 159);
}

static void test_compose_ucs2(void **state) {
        (void) state;
        char out[512];
        struct text_sms_info i;
        /* an emoji early: keeping GSM would cut after "Brann "; UCS-2 keeps more */
        const char *ft = "Brann 🔥 på skolen, alle elever er evakuert til idrettshallen";

        assert_int_equal(text_sms_compose("Kriseteam: ", ft, " Svar JA 4821", out, sizeof out), 1);
        i = count(out);
        assert_int_equal(i.encoding, TEXT_SMS_UCS2);
        assert_int_equal(i.segments, 1);
        assert_true(i.units <= 70);
        assert_non_null(strstr(out, "…"));
        assert_string_equal(out + strlen(out) - strlen(" Svar JA 4821"), " Svar JA 4821");

        /* an emoji late: GSM keeps more (and uses "...") */
        char ft2[400];
        repeat(ft2, "abcdefghij", 20);
        strcat(ft2, "🔥");
        assert_int_equal(text_sms_compose(PREFIX, ft2, SUFFIX, out, sizeof out), 1);
        i = count(out);
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_int_equal(i.segments, 1);
        assert_null(strstr(out, "…"));
        assert_non_null(strstr(out, "..."));

        /* a UCS-2 suffix makes the whole UCS-2 */
        char ft3[400];
        repeat(ft3, "a", 100);
        assert_int_equal(text_sms_compose("Å ", ft3, " ✅ JA 4821", out, sizeof out), 1);
        i = count(out);
        assert_int_equal(i.encoding, TEXT_SMS_UCS2);
        assert_int_equal(i.units, 70);
        assert_string_equal(out + strlen(out) - strlen("… ✅ JA 4821"), "… ✅ JA 4821");
}

static void test_compose_keeps_clusters(void **state) {
        (void) state;
        char ft[800], out[512];
        size_t before, len;

        /* "e" + combining acute repeated: a cut must not leave a bare "e" before
         * its accent, i.e. the kept text ends in U+0301 (CC 81) */
        repeat(ft, "e\xCC\x81", 100);
        /* 70 - 10 - 8 - 1 = 51 units: the cut would fall between e and U+0301 */
        assert_int_equal(text_sms_compose("Kriseteam:", ft, " JA 4821", out, sizeof out), 1);
        len = strlen(out);
        before = len - strlen("… JA 4821");
        assert_string_equal(out + before, "… JA 4821");
        assert_memory_equal(out + before - 2, "\xCC\x81", 2);

        /* ZWJ family emoji: never end on a ZWJ (E2 80 8D) */
        repeat(ft, "👩‍👩‍👧", 30);
        assert_int_equal(text_sms_compose("K: ", ft, " JA 4821", out, sizeof out), 1);
        before = strlen(out) - strlen("… JA 4821");
        assert_false(before >= 3 && memcmp(out + before - 3, "\xE2\x80\x8D", 3) == 0);
}

static void test_compose_errors(void **state) {
        (void) state;
        char big[400], out[512];

        repeat(big, "a", 158);
        /* the fixed parts alone fill the SMS: -EMSGSIZE rather than dropping the suffix */
        assert_int_equal(text_sms_compose(big, "some text", " JA 4821", out, sizeof out), -EMSGSIZE);
        /* the result would not fit the buffer */
        assert_int_equal(text_sms_compose(PREFIX, "x", SUFFIX, out, 20), -ENOBUFS);
        assert_int_equal(text_sms_compose(PREFIX, "x\xC3", SUFFIX, out, sizeof out), -EILSEQ);
        /* exactly full without the free text: it goes, with its ellipsis */
        repeat(big, "a", 150);
        assert_int_equal(text_sms_compose(big, "bbbbbbbbbbbbbbbbbbbbbbbb", " JA 42", out, sizeof out), 1);
        assert_int_equal(count(out).units, 160);
        assert_string_equal(out + 150, "b... JA 42");
}

/* ---- transliteration and several segments ---- */

static void test_transliterate_each(void **state) {
        (void) state;
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "a\xE2\x80\x93" "b", "a-b" },   /* – en dash */
                { "a\xE2\x80\x94" "b", "a-b" },   /* — em dash */
                { "a\xE2\x80\x92" "b", "a-b" },   /* ‒ figure dash */
                { "a\xE2\x80\x95" "b", "a-b" },   /* ― horizontal bar */
                { "a\xE2\x88\x92" "b", "a-b" },   /* − minus */
                { "a\xE2\x80\x90" "b", "a-b" },   /* ‐ hyphen */
                { "a\xE2\x80\x91" "b", "a-b" },   /* ‑ non-breaking hyphen */
                { "\xC2\xAB" "a\xC2\xBB", "\"a\"" },   /* « » */
                { "\xE2\x80\x9C" "a\xE2\x80\x9D", "\"a\"" }, /* “ ” */
                { "\xE2\x80\x9E" "a\xE2\x80\x9F", "\"a\"" }, /* „ ‟ */
                { "\xE2\x80\x98" "a\xE2\x80\x99", "'a'" },   /* ‘ ’ */
                { "\xE2\x80\x9A" "a\xE2\x80\x9B", "'a'" },   /* ‚ ‛ */
                { "\xE2\x80\xB9" "a\xE2\x80\xBA", "'a'" },   /* ‹ › */
                { "a\xE2\x80\xB2 b\xE2\x80\xB3", "a' b\"" }, /* ′ ″ */
                { "`a\xC2\xB4", "'a'" },                     /* ` ´ */
                { "vent\xE2\x80\xA6", "vent..." },           /* … */
                { "kl\xC2\xA0" "23", "kl 23" },              /* NBSP */
                { "kl\xE2\x80\xAF" "23", "kl 23" },          /* narrow NBSP */
                { "kl\xE2\x80\x89" "23", "kl 23" },          /* thin space */
                { "kl\xE2\x80\x82" "23\xE2\x80\x83" "x", "kl 23 x" }, /* en, em space */
                { "kl\xE2\x80\x87" "2\xE3\x80\x80" "3", "kl 2 3" },   /* figure, ideographic space */
                { "a\tb", "a b" },                           /* tab */
                { "a\xE2\x80\xA8" "b\xE2\x80\xA9" "c", "a\nb\nc" }, /* line, paragraph separator */
                { "fire\xC2\xAD" "vakt", "firevakt" },       /* soft hyphen */
                { "a\xE2\x80\x8B" "b\xE2\x81\xA0" "c\xEF\xBB\xBF", "abc" }, /* ZWSP, WJ, BOM */
                { "1\xE2\x81\x84" "2 1\xE2\x88\x95" "2", "1/2 1/2" },    /* ⁄ ∕ */
                /* what has no equivalent stays: letters, the euro, emoji and their ZWJ */
                { "Ærlig på Frøya, ç é \xE2\x82\xAC", "Ærlig på Frøya, ç é \xE2\x82\xAC" },
                { "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7", "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7" },
        };
        char out[128];

        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
                int r = text_sms_transliterate(cases[k].in, out, sizeof out);
                assert_int_equal(r, (int) strlen(cases[k].out));
                assert_string_equal(out, cases[k].out);
                assert_true(strlen(out) <= strlen(cases[k].in));
        }
        assert_null(text_sms_transliteration('a'));
        assert_null(text_sms_transliteration(0x00F8)); /* ø is GSM */
        assert_string_equal(text_sms_transliteration(0x2013), "-");
        assert_int_equal(text_sms_transliterate("a\xC3", out, sizeof out), -EILSEQ);
        assert_int_equal(text_sms_transliterate("abc\xE2\x80\x93", out, 4), -ENOBUFS);
        assert_int_equal(text_sms_transliterate(NULL, out, sizeof out), -EINVAL);
}

static void test_transliterate_keeps_gsm(void **state) {
        (void) state;
        /* the message: one en dash used to force UCS-2 and a cut */
        const char *m = "Brann i skolen \xE2\x80\x93 m\xC3\xB8t p\xC3\xA5 r\xC3\xA5" "dhuset kl 23";
        char out[512];
        struct text_sms_info i;

        assert_int_equal(count(m).encoding, TEXT_SMS_UCS2);
        assert_int_equal(text_sms_compose_n("kriseteam kalles inn: ", m, " Svar JA 6637 eller NEI 6637", 3, out,
                                            sizeof out, &i),
                         0);
        assert_string_equal(out, "kriseteam kalles inn: Brann i skolen - møt på rådhuset kl 23 Svar JA 6637 eller NEI 6637");
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_int_equal(i.segments, 1);
        /* transliterated quotes and ellipsis in the fixed parts count too */
        assert_int_equal(text_sms_compose_n("\xC2\xAB" "K\xC2\xBB ", "x\xE2\x80\xA6", NULL, 1, out, sizeof out, &i), 0);
        assert_string_equal(out, "\"K\" x...");
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_int_equal(i.units, 8);
        /* an emoji still forces UCS-2; the dash next to it is still "-" */
        assert_int_equal(text_sms_compose_n("K: ", "Brann \xE2\x80\x93 \xF0\x9F\x94\xA5", NULL, 3, out, sizeof out, &i), 0);
        assert_string_equal(out, "K: Brann - \xF0\x9F\x94\xA5");
        assert_int_equal(i.encoding, TEXT_SMS_UCS2);
}

/* Compose FREE_LEN copies of UNIT with PREFIX/SUFFIX into MAX segments. */
static int compose_rep(const char *unit, size_t n, unsigned max, char *out, size_t outlen, struct text_sms_info *i) {
        static char ft[8192];
        repeat(ft, unit, n);
        return text_sms_compose_n(PREFIX, ft, SUFFIX, max, out, outlen, i);
}

static void test_compose_segments(void **state) {
        (void) state;
        char out[8192], ft[8192];
        struct text_sms_info i;
        const size_t fixed = strlen(PREFIX) + strlen(SUFFIX); /* 52 septets */

        for (unsigned max = 1; max <= 10; max++) {
                size_t cap_gsm = max == 1 ? 160 : 153 * max, cap_ucs = max == 1 ? 70 : 67 * max;

                /* GSM: exactly full fits untouched, one more is shortened */
                assert_int_equal(compose_rep("a", cap_gsm - fixed, max, out, sizeof out, &i), 0);
                assert_int_equal(i.segments, max);
                assert_int_equal(i.units, cap_gsm);
                assert_int_equal(compose_rep("a", cap_gsm - fixed + 1, max, out, sizeof out, &i), 1);
                assert_int_equal(i.encoding, TEXT_SMS_GSM7);
                assert_int_equal(i.segments, max);
                assert_int_equal(i.units, cap_gsm); /* as much as fits, then "..." */
                assert_string_equal(out + strlen(out) - strlen(SUFFIX) - 3, "..." " Svar JA 4821 eller NEI 4821");

                /* UCS-2 (a Sámi č): exactly full fits, one more is shortened with "…" */
                assert_int_equal(compose_rep("\xC4\x8D", cap_ucs - fixed, max, out, sizeof out, &i), 0);
                assert_int_equal(i.encoding, TEXT_SMS_UCS2);
                assert_int_equal(i.segments, max);
                assert_int_equal(compose_rep("\xC4\x8D", cap_ucs - fixed + 1, max, out, sizeof out, &i), 1);
                assert_int_equal(i.encoding, TEXT_SMS_UCS2);
                assert_int_equal(i.segments, max);
                assert_int_equal(i.units, cap_ucs);
                assert_non_null(strstr(out, "\xE2\x80\xA6 Svar JA"));

                /* extension characters (2 septets) never straddle parts: the
                 * count of the result is what compose promised */
                assert_true(compose_rep("\xE2\x82\xAC", 800, max, out, sizeof out, &i) == 1);
                assert_int_equal(i.encoding, TEXT_SMS_GSM7);
                assert_true(i.segments <= max);
                struct text_sms_info j = count(out);
                assert_int_equal(j.segments, i.segments);
        }

        /* the 160-character case: a plain message that used to lose
         * its last line now goes whole in two segments */
        repeat(ft, "Brann i skolen. ", 8);
        strcat(ft, "Oppmøte Frøya sykehjem kl 23:30");
        assert_int_equal(text_sms_compose_n(PREFIX, ft, SUFFIX, 3, out, sizeof out, &i), 0);
        assert_non_null(strstr(out, "Oppmøte Frøya sykehjem kl 23:30 Svar JA"));
        assert_int_equal(i.segments, 2);
        assert_int_equal(text_sms_compose(PREFIX, ft, SUFFIX, out, sizeof out), 1); /* one segment: cut */

        /* max 0 counts as 1 */
        assert_int_equal(compose_rep("a", 200, 0, out, sizeof out, &i), 1);
        assert_int_equal(i.segments, 1);
        /* fixed parts longer than max segments */
        repeat(ft, "a", 500);
        assert_int_equal(text_sms_compose_n(ft, "x", SUFFIX, 3, out, sizeof out, &i), -EMSGSIZE);
        assert_int_equal(text_sms_compose_n(ft, "x", SUFFIX, 4, out, sizeof out, &i), 0);
}

static void test_compose_segments_cut_rules(void **state) {
        (void) state;
        char out[8192], ft[8192];
        struct text_sms_info i;

        /* a cut in a run of combining marks keeps each e with its accent */
        repeat(ft, "e\xCC\x81", 400);
        assert_int_equal(text_sms_compose_n("K:", ft, " JA 4821", 3, out, sizeof out, &i), 1);
        assert_int_equal(i.encoding, TEXT_SMS_UCS2);
        assert_true(i.segments <= 3);
        size_t before = strlen(out) - strlen("\xE2\x80\xA6 JA 4821");
        assert_memory_equal(out + before - 2, "\xCC\x81", 2);
        /* whitespace (also a transliterated NBSP) is dropped before the ellipsis */
        repeat(ft, "abcdefgh\xC2\xA0", 60);
        assert_int_equal(text_sms_compose_n("K: ", ft, " JA 4821", 2, out, sizeof out, &i), 1);
        assert_null(strstr(out, " ... JA"));
        assert_null(strstr(out, "\xC2\xA0"));
        assert_true(i.segments <= 2);
        /* GSM wins over UCS-2 when it keeps more: an emoji late in the text */
        repeat(ft, "abcdefghij", 40);
        strcat(ft, "\xF0\x9F\x94\xA5");
        assert_int_equal(text_sms_compose_n(PREFIX, ft, SUFFIX, 2, out, sizeof out, &i), 1);
        assert_int_equal(i.encoding, TEXT_SMS_GSM7);
        assert_int_equal(i.units, 306);
        /* an emoji early: UCS-2 keeps more */
        snprintf(ft, sizeof ft, "Brann \xF0\x9F\x94\xA5 ");
        for (int k = 0; k < 30; k++)
                strcat(ft, "p\xC3\xA5 skolen ");
        assert_int_equal(text_sms_compose_n(PREFIX, ft, SUFFIX, 3, out, sizeof out, &i), 1);
        assert_int_equal(i.encoding, TEXT_SMS_UCS2);
        assert_true(i.units <= 201 && i.units >= 199);
}

/* ---- escaping ---- */

static const char MEET[] = "Møt på rådhuset & ta med \"ID\"\n";

static void test_escape_url(void **state) {
        (void) state;
        char out[256];

        /* checked with urllib.parse.quote(s, safe='-._~') */
        assert_int_equal(text_escape(TEXT_ESCAPE_URL, MEET, strlen(MEET), out, sizeof out),
                         (int) strlen("M%C3%B8t%20p%C3%A5%20r%C3%A5dhuset%20%26%20ta%20med%20%22ID%22%0A"));
        assert_string_equal(out, "M%C3%B8t%20p%C3%A5%20r%C3%A5dhuset%20%26%20ta%20med%20%22ID%22%0A");
        text_escape(TEXT_ESCAPE_URL, "a-b.c_d~e+f=g/h?", 16, out, sizeof out);
        assert_string_equal(out, "a-b.c_d~e%2Bf%3Dg%2Fh%3F");
        /* bounded: "%0A" needs 3 bytes + NUL */
        assert_int_equal(text_escape(TEXT_ESCAPE_URL, "\n", 1, out, 3), -ENOBUFS);
        assert_int_equal(text_escape(TEXT_ESCAPE_URL, "\n", 1, out, 4), 3);
}

static void test_escape_json(void **state) {
        (void) state;
        char out[256];

        /* checked with json.dumps(s, ensure_ascii=False) */
        text_escape(TEXT_ESCAPE_JSON, MEET, strlen(MEET), out, sizeof out);
        assert_string_equal(out, "Møt på rådhuset & ta med \\\"ID\\\"\\n");
        text_escape(TEXT_ESCAPE_JSON, "a\\b\tc\rd\x01\x1f\x7f/", 11, out, sizeof out);
        assert_string_equal(out, "a\\\\b\\tc\\rd\\u0001\\u001f\\u007f/");
        text_escape(TEXT_ESCAPE_JSON, "x\xE2\x80\xA8y\xE2\x80\xA9", 8, out, sizeof out);
        assert_string_equal(out, "x\\u2028y\\u2029");
        assert_int_equal(text_escape(TEXT_ESCAPE_JSON, "bad\xC3", 4, out, sizeof out), -EILSEQ);
        assert_int_equal(text_escape(TEXT_ESCAPE_NONE, MEET, strlen(MEET), out, sizeof out), (int) strlen(MEET));
        assert_string_equal(out, MEET);
}

/* ---- templates ---- */

static const struct text_var VARS[] = {
        { "to", "+4791234567" }, { "from", "Kommune" },   { "text", MEET },
        { "ref", "a1b2-3" },     { "validity", "300" }, { "api_key", "k&y" },
};

static void test_template_url_and_json(void **state) {
        (void) state;
        char out[512], err[128];
        int r;

        r = text_template_render("https://sms.example/send?to={to}&from={from}&msg={text}&ref={ref}&ttl={validity}",
                                 TEXT_ESCAPE_URL, VARS, 6, out, sizeof out, err, sizeof err);
        assert_true(r > 0);
        assert_int_equal((size_t) r, strlen(out));
        assert_string_equal(out, "https://sms.example/send?to=%2B4791234567&from=Kommune&msg="
                                 "M%C3%B8t%20p%C3%A5%20r%C3%A5dhuset%20%26%20ta%20med%20%22ID%22%0A&ref=a1b2-3&ttl=300");

        r = text_template_render("{{\"to\":\"{to}\",\"text\":\"{text}\",\"key\":\"{api_key}\",\"ttl\":{validity}}",
                                 TEXT_ESCAPE_JSON, VARS, 6, out, sizeof out, err, sizeof err);
        assert_true(r > 0);
        assert_string_equal(out, "{\"to\":\"+4791234567\",\"text\":\"Møt på rådhuset & ta med \\\"ID\\\"\\n\","
                                 "\"key\":\"k&y\",\"ttl\":300}");

        r = text_template_render("{text}", TEXT_ESCAPE_NONE, VARS, 6, out, sizeof out, err, sizeof err);
        assert_string_equal(out, MEET);
        r = text_template_render("", TEXT_ESCAPE_NONE, VARS, 6, out, sizeof out, err, sizeof err);
        assert_int_equal(r, 0);
        assert_string_equal(out, "");
        r = text_template_render("a {{ b }} {{{to}}", TEXT_ESCAPE_NONE, VARS, 6, out, sizeof out, err, sizeof err);
        assert_string_equal(out, "a { b }} {+4791234567}");
}

static void test_template_errors(void **state) {
        (void) state;
        char out[512], err[128];

        assert_int_equal(text_template_render("to={to}&x={nope}", TEXT_ESCAPE_URL, VARS, 6, out, sizeof out, err,
                                              sizeof err),
                         -ENOENT);
        assert_string_equal(err, "unknown placeholder {nope}");
        assert_string_equal(out, "");
        assert_int_equal(text_template_render("{\"to\":1}", TEXT_ESCAPE_JSON, VARS, 6, out, sizeof out, err, sizeof err),
                         -EINVAL);
        assert_non_null(strstr(err, "offset 0"));
        assert_int_equal(text_template_render("x{to", TEXT_ESCAPE_NONE, VARS, 6, out, sizeof out, err, sizeof err),
                         -EINVAL);
        assert_non_null(strstr(err, "offset 1"));
        assert_int_equal(text_template_render("x{ to}", TEXT_ESCAPE_NONE, VARS, 6, out, sizeof out, err, sizeof err),
                         -EINVAL);
        assert_int_equal(text_template_render("x{}", TEXT_ESCAPE_NONE, VARS, 6, out, sizeof out, err, sizeof err),
                         -EINVAL);
        /* bounded: an error, not a truncated request */
        assert_int_equal(text_template_render("{text}", TEXT_ESCAPE_URL, VARS, 6, out, 20, err, sizeof err), -ENOBUFS);
        assert_string_equal(err, "{text}: result too long");
        assert_int_equal(text_template_render("0123456789", TEXT_ESCAPE_NONE, VARS, 6, out, 10, err, sizeof err),
                         -ENOBUFS);
        assert_int_equal(text_template_render("0123456789", TEXT_ESCAPE_NONE, VARS, 6, out, 11, err, sizeof err), 10);
        /* a value that is not UTF-8 */
        struct text_var bad[] = { { "text", "ab\xFF" } };
        assert_int_equal(text_template_render("{text}", TEXT_ESCAPE_JSON, bad, 1, out, sizeof out, err, sizeof err),
                         -EILSEQ);
        assert_string_equal(err, "{text}: value is not valid UTF-8");
        /* err may be NULL */
        assert_int_equal(text_template_render("{x}", TEXT_ESCAPE_NONE, VARS, 6, out, sizeof out, NULL, 0), -ENOENT);
}

static void test_template_check(void **state) {
        (void) state;
        char err[128];
        const char *extra[] = { "api_key" };

        assert_int_equal(text_template_check("{to}{from}{text}{ref}{validity}", NULL, 0, err, sizeof err), 0);
        assert_int_equal(text_template_check("{api_key}", extra, 1, err, sizeof err), 0);
        assert_int_equal(text_template_check("{api_key}", NULL, 0, err, sizeof err), -ENOENT);
        assert_string_equal(err, "unknown placeholder {api_key}");
        assert_int_equal(text_template_check("{{\"a\":{text}}", NULL, 0, err, sizeof err), 0);
        assert_int_equal(text_template_check("{\"a\":{text}}", NULL, 0, err, sizeof err), -EINVAL);
}

/* ---- e-mail headers ---- */

static int b64val(char c) {
        const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = strchr(t, c);
        return c && p ? (int) (p - t) : -1;
}

/* Decode a folded sequence of =?UTF-8?B?...?= words; returns bytes written. */
static size_t rfc2047_decode(const char *in, char *out) {
        size_t n = 0;
        const char *p = in;

        while (*p) {
                if (strncmp(p, "\r\n ", 3) == 0) {
                        p += 3;
                        continue;
                }
                assert_int_equal(strncmp(p, "=?UTF-8?B?", 10), 0);
                p += 10;
                const char *end = strstr(p, "?=");
                assert_non_null(end);
                assert_true(end - p + 12 <= 75);
                assert_int_equal((end - p) % 4, 0);
                for (; p < end; p += 4) {
                        int a = b64val(p[0]), b = b64val(p[1]), c = p[2] == '=' ? 0 : b64val(p[2]),
                            d = p[3] == '=' ? 0 : b64val(p[3]);
                        assert_true(a >= 0 && b >= 0 && c >= 0 && d >= 0);
                        uint32_t v = (uint32_t) (a << 18 | b << 12 | c << 6 | d);
                        out[n++] = (char) (v >> 16);
                        if (p[2] != '=')
                                out[n++] = (char) (v >> 8);
                        if (p[3] != '=')
                                out[n++] = (char) v;
                }
                p = end + 2;
        }
        out[n] = 0;
        return n;
}

static void test_rfc2047(void **state) {
        (void) state;
        char out[1024], dec[1024], big[400];

        /* base64 of the UTF-8 checked with Python:
         * base64.b64encode('Kriseteam: øvelse'.encode()) */
        assert_int_equal(text_rfc2047_encode("Kriseteam: øvelse", 0, out, sizeof out),
                         (int) strlen("=?UTF-8?B?S3Jpc2V0ZWFtOiDDuHZlbHNl?="));
        assert_string_equal(out, "=?UTF-8?B?S3Jpc2V0ZWFtOiDDuHZlbHNl?=");
        rfc2047_decode(out, dec);
        assert_string_equal(dec, "Kriseteam: øvelse");

        /* plain ASCII is left alone; "=?" in it is encoded */
        assert_int_equal(text_rfc2047_encode("Kriseteam kalles inn", 0, out, sizeof out), 20);
        assert_string_equal(out, "Kriseteam kalles inn");
        text_rfc2047_encode("a =?x?= b", 0, out, sizeof out);
        assert_int_equal(strncmp(out, "=?UTF-8?B?", 10), 0);

        /* long: several words, each <= 75 chars, none splitting a sequence (each
         * word decodes to valid UTF-8 on its own) */
        strcpy(big, "Øvelse: ");
        for (int k = 0; k < 30; k++)
                strcat(big, "æøå");
        assert_true(text_rfc2047_encode(big, 0, out, sizeof out) > 0);
        rfc2047_decode(out, dec);
        assert_string_equal(dec, big);
        for (const char *w = out; w; w = strstr(w, "\r\n ")) {
                char one[128], d1[128];
                if (strncmp(w, "\r\n ", 3) == 0)
                        w += 3;
                const char *e = strstr(w, "?=");
                snprintf(one, sizeof one, "%.*s", (int) (e + 2 - w), w);
                assert_true(strlen(one) <= 75);
                size_t n = rfc2047_decode(one, d1);
                assert_true(text_utf8_valid(d1, n));
        }

        /* refused: CR/LF, invalid UTF-8, too small a buffer */
        assert_int_equal(text_rfc2047_encode("a\r\nBcc: x", 0, out, sizeof out), -EINVAL);
        assert_int_equal(text_rfc2047_encode("ø\n", 0, out, sizeof out), -EINVAL);
        assert_int_equal(text_rfc2047_encode("\xC3(", 0, out, sizeof out), -EILSEQ);
        assert_int_equal(text_rfc2047_encode("Kriseteam: øvelse", 0, out, 20), -ENOBUFS);
        assert_int_equal(text_rfc2047_encode("Kriseteam: øvelse", 0, out, 37), 36);
        assert_int_equal(text_rfc2047_encode("Kriseteam: øvelse", 0, out, 36), -ENOBUFS);
}

/* Every line of "Subject: " + ENC (CRLF-separated) is at most 76 characters,
 * and every encoded word at most 75. */
static void assert_lines_76(const char *name, const char *enc) {
        size_t line = strlen(name);
        for (const char *p = enc;; p++) {
                if (*p == '\r' || !*p) {
                        assert_true(line <= 76);
                        if (!*p)
                                break;
                        assert_int_equal(p[1], '\n');
                        p++;
                        line = 0;
                } else
                        line++;
        }
        for (const char *w = strstr(enc, "=?"); w; w = strstr(w + 2, "=?")) {
                const char *e = strstr(w + 10, "?=");
                assert_non_null(e);
                assert_true(e + 2 - w <= 75);
                w = e;
        }
}

static void test_rfc2047_header_name(void **state) {
        (void) state;
        char out[2048], dec[2048], big[600];

        /* The subject beredd sends for a call-out: the first line of the
         * header was "Subject: " + a 72-character word = 81 before. */
        const char *subj = "Psykososialt kriseteam Frøya kalles inn: møt på rådhuset kl 23";
        assert_true(text_rfc2047_encode(subj, 9, out, sizeof out) > 0);
        assert_lines_76("Subject: ", out);
        rfc2047_decode(out, dec);
        assert_string_equal(dec, subj);
        /* first word: 76 - 9 - 12 = 55 -> 52 base64 characters (39 bytes) */
        assert_int_equal(strcspn(out, "\r"), 12 + 52);
        assert_int_equal((int) strlen("Subject: ") + (int) strcspn(out, "\r"), 73);

        /* long, every header name length up to 50, all whole UTF-8 sequences */
        strcpy(big, "Øvelse: ");
        for (int k = 0; k < 40; k++)
                strcat(big, k % 3 ? "æøå" : "€𝄞 ");
        for (size_t col = 0; col <= 50; col++) {
                char name[64];
                memset(name, 'X', col);
                name[col] = 0;
                assert_true(text_rfc2047_encode(big, col, out, sizeof out) > 0);
                assert_lines_76(name, out);
                rfc2047_decode(out, dec);
                assert_string_equal(dec, big);
        }
        assert_int_equal(text_rfc2047_encode(big, 51, out, sizeof out), -EINVAL);

        /* a short one stays one word, also with the header name */
        assert_true(text_rfc2047_encode("Kriseteam: øvelse", 9, out, sizeof out) > 0);
        assert_string_equal(out, "=?UTF-8?B?S3Jpc2V0ZWFtOiDDuHZlbHNl?=");

        /* plain ASCII is folded before a space; unfolding gives it back */
        const char *ascii = "Kriseteam kalles inn: oppmote ved radhuset i sentrum kl 23:30, ta med legitimasjon og mobil";
        assert_true(text_rfc2047_encode(ascii, 9, out, sizeof out) > 0);
        assert_lines_76("Subject: ", out);
        assert_non_null(strstr(out, "\r\n "));
        char *q = dec;
        for (const char *p = out; *p; p++)
                if (*p != '\r' && *p != '\n')
                        *q++ = *p;
        *q = 0;
        assert_string_equal(dec, ascii);
        /* a word longer than a line is not cut */
        memset(big, 'a', 100);
        big[100] = 0;
        assert_int_equal(text_rfc2047_encode(big, 9, out, sizeof out), 100);
        assert_string_equal(out, big);
        /* short ASCII: untouched */
        assert_int_equal(text_rfc2047_encode("Kriseteam kalles inn", 9, out, sizeof out), 20);
}

static void test_header_safe(void **state) {
        (void) state;
        assert_true(text_header_safe("Kriseteam: øvelse"));
        assert_true(text_header_safe(""));
        assert_false(text_header_safe("a\r\nBcc: x"));
        assert_false(text_header_safe("a\nBcc: x"));
        assert_false(text_header_safe("a\rb"));
        assert_false(text_header_safe(NULL));
        assert_false(text_header_safe_n("a\0b", 3));
        assert_true(text_header_safe_n("a\tb", 3));
}

/* ---- replies ---- */

static void test_parse_reply(void **state) {
        (void) state;
        static const struct {
                const char *in;
                enum text_reply_kind kind;
                const char *code;
                unsigned days;
        } t[] = {
                { "JA", TEXT_REPLY_YES, "", 0 },
                { "ja 4821", TEXT_REPLY_YES, "4821", 0 },
                { "Ja!", TEXT_REPLY_YES, "", 0 },
                { "OK", TEXT_REPLY_OK, "", 0 },
                { "NEI 4821", TEXT_REPLY_NO, "4821", 0 },
                { "nei", TEXT_REPLY_NO, "", 0 },
                { "yes", TEXT_REPLY_YES, "", 0 },
                { "no", TEXT_REPLY_NO, "", 0 },
                { "JA4821", TEXT_REPLY_YES, "4821", 0 },
                { "NEI4821", TEXT_REPLY_NO, "4821", 0 },
                { "  ja   4821 ", TEXT_REPLY_YES, "4821", 0 },
                { "OK 4821", TEXT_REPLY_OK, "4821", 0 },
                { "UTSETT 4821 3", TEXT_REPLY_POSTPONE, "4821", 3 },
                { "utsett 4821", TEXT_REPLY_POSTPONE, "4821", 0 },
                { "Utsett 7", TEXT_REPLY_POSTPONE, "", 7 },
                { "HJELP 4821", TEXT_REPLY_HELP, "4821", 0 },
                { "help", TEXT_REPLY_HELP, "", 0 },
                { "Ja, 482193.", TEXT_REPLY_YES, "482193", 0 },
                { "4821 ja", TEXT_REPLY_YES, "4821", 0 },
                { "jA\r\n", TEXT_REPLY_YES, "", 0 },
                { "Ja 👍", TEXT_REPLY_YES, "", 0 },
                { "\xC2\xA0ja\xC2\xA0" "4821", TEXT_REPLY_YES, "4821", 0 }, /* NBSP */
                { "Okei", TEXT_REPLY_OK, "", 0 },
                { "JA-04821", TEXT_REPLY_YES, "04821", 0 },
                /* unknown: garbage, a second word, a question, a bad number */
                { "", TEXT_REPLY_UNKNOWN, "", 0 },
                { "   ", TEXT_REPLY_UNKNOWN, "", 0 },
                { "hei", TEXT_REPLY_UNKNOWN, "", 0 },
                { "ja 12", TEXT_REPLY_UNKNOWN, "", 0 },      /* too short to be a code: ask again */
                { "ja 1234567", TEXT_REPLY_UNKNOWN, "", 0 }, /* too long */
                { "ja nei", TEXT_REPLY_UNKNOWN, "", 0 },
                { "ja jeg kommer", TEXT_REPLY_UNKNOWN, "", 0 },
                { "ja?", TEXT_REPLY_UNKNOWN, "", 0 },
                { "jaa", TEXT_REPLY_UNKNOWN, "", 0 },
                { "4821", TEXT_REPLY_UNKNOWN, "", 0 },
                { "ja 4821 4821", TEXT_REPLY_UNKNOWN, "", 0 },
                { "4821 ja 4821", TEXT_REPLY_UNKNOWN, "", 0 },
                { "nei å", TEXT_REPLY_UNKNOWN, "", 0 },
                { "UTSETT 4821 0", TEXT_REPLY_UNKNOWN, "", 0 },
                { "UTSETT 4821 1000", TEXT_REPLY_UNKNOWN, "", 0 },
                { "UTSETT 4821 3 4", TEXT_REPLY_UNKNOWN, "", 0 },
                { "UTSETT 3 4821", TEXT_REPLY_UNKNOWN, "", 0 },
                { "OK 4821 3", TEXT_REPLY_UNKNOWN, "", 0 },
                { "JAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", TEXT_REPLY_UNKNOWN, "", 0 },
                { "ja\xC3", TEXT_REPLY_UNKNOWN, "", 0 },
        };

        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
                struct text_reply r;
                enum text_reply_kind kind = text_parse_reply(t[k].in, strlen(t[k].in), &r);
                if (kind != t[k].kind || r.kind != t[k].kind || strcmp(r.code, t[k].code) != 0 || r.days != t[k].days)
                        fail_msg("row %zu \"%s\": got %s \"%s\" %u, want %s \"%s\" %u", k, t[k].in,
                                 text_reply_kind_name(r.kind), r.code, r.days, text_reply_kind_name(t[k].kind),
                                 t[k].code, t[k].days);
        }

        /* embedded NUL (from an SMS gateway's binary-safe field) is not ignorable */
        struct text_reply r;
        assert_int_equal(text_parse_reply("ja\0", 3, &r), TEXT_REPLY_UNKNOWN);
        assert_int_equal(text_parse_reply("ja 4821", 2, &r), TEXT_REPLY_YES); /* honours LEN */
        assert_string_equal(r.code, "");
        assert_string_equal(text_reply_kind_name(TEXT_REPLY_POSTPONE), "postpone");
}

/* ---- phone numbers ---- */

static void test_phone(void **state) {
        (void) state;
        static const struct {
                const char *in, *out; /* out NULL = -EINVAL */
        } t[] = {
                { "+47 912 34 567", "+4791234567" },
                { "0047 91234567", "+4791234567" },
                { "91234567", "+4791234567" },
                { "+4791234567", "+4791234567" },
                { "912 34 567", "+4791234567" },
                { "73 00 00 00", "+4773000000" },
                { "+47 (0)...", NULL },
                { "+46 70 123 45 67", "+46701234567" },
                { "0046701234567", "+46701234567" },
                { "+1-202-555-0143", "+12025550143" },
                { "+44 20 7946 0958", "+442079460958" },
                { "", NULL },
                { "+", NULL },
                { "1234567", NULL },         /* 7 digits, no country */
                { "912345678", NULL },       /* 9 digits, no country */
                { "4791234567", NULL },      /* 47 without + or 00: ambiguous */
                { "01234567", NULL },        /* Norwegian numbers do not start with 0 */
                { "+47 1234 5678", NULL },
                { "+47 9123456", NULL },     /* 7 national digits */
                { "+47 912345678", NULL },   /* 9 national digits */
                { "+0123456789", NULL },
                { "+46 12", NULL },          /* too short */
                { "+1234567890123456", NULL }, /* 16 digits */
                { "00 1234567890123456", NULL },
                { "9123 4567 ext 2", NULL },
                { "91+234567", NULL },
                { "++4791234567", NULL },
                { "+47 912 34 567\n", NULL },
        };
        char out[TEXT_E164_MAX];

        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
                int r = text_phone_e164(t[k].in, out, sizeof out);
                if (t[k].out ? (r != 0 || strcmp(out, t[k].out) != 0) : r != -EINVAL)
                        fail_msg("row %zu \"%s\": got %d \"%s\"", k, t[k].in, r, r == 0 ? out : "");
        }
        assert_int_equal(text_phone_e164("+123456789012345", out, sizeof out), 0); /* 15 digits: max */
        assert_string_equal(out, "+123456789012345");
        assert_int_equal(text_phone_e164("00123456789012345", out, sizeof out), 0);
        assert_int_equal(text_phone_e164("91234567", out, 11), -ENOBUFS);
        assert_int_equal(text_phone_e164("91234567", out, 12), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_utf8_valid),
                cmocka_unit_test(test_sms_standard_message),
                cmocka_unit_test(test_sms_norwegian_stays_gsm),
                cmocka_unit_test(test_sms_emoji_forces_ucs2),
                cmocka_unit_test(test_sms_gsm_boundaries),
                cmocka_unit_test(test_sms_ucs2_boundaries),
                cmocka_unit_test(test_sms_extension_chars),
                cmocka_unit_test(test_sms_empty_and_invalid),
                cmocka_unit_test(test_compose_fits),
                cmocka_unit_test(test_compose_shortens_gsm),
                cmocka_unit_test(test_compose_never_splits_utf8),
                cmocka_unit_test(test_compose_ucs2),
                cmocka_unit_test(test_compose_keeps_clusters),
                cmocka_unit_test(test_compose_errors),
                cmocka_unit_test(test_transliterate_each),
                cmocka_unit_test(test_transliterate_keeps_gsm),
                cmocka_unit_test(test_compose_segments),
                cmocka_unit_test(test_compose_segments_cut_rules),
                cmocka_unit_test(test_escape_url),
                cmocka_unit_test(test_escape_json),
                cmocka_unit_test(test_template_url_and_json),
                cmocka_unit_test(test_template_errors),
                cmocka_unit_test(test_template_check),
                cmocka_unit_test(test_rfc2047),
                cmocka_unit_test(test_rfc2047_header_name),
                cmocka_unit_test(test_header_safe),
                cmocka_unit_test(test_parse_reply),
                cmocka_unit_test(test_phone),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
