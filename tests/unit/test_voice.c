/* test_voice.c - what a call says (daemon/voice.c): the TwiML of a
 * call-out exactly as VOICE.md shows it, in bokmål and English, with the
 * drill sentence; the answers to a key press; XML escaping of the
 * operator's text, the URLs and the voice; Twilio's 4000-character limit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "voice.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n"
#define TAIL "</Response>\n"
#define NB_SAY "<Say language=\"nb-NO\" voice=\"Polly.Liv\">"
#define EN_SAY "<Say language=\"en-US\" voice=\"Polly.Joanna\">"
#define GATHER(url) "<Gather input=\"dtmf\" numDigits=\"1\" timeout=\"8\" action=\"" url "\" method=\"POST\">\n"
#define NB_PROMPT "Trykk 1 hvis du kan komme, trykk 2 hvis du ikke kan."
#define EN_PROMPT "Press 1 if you can come, press 2 if you cannot."
#define NB_CLOSING "Vi fikk ikke noe svar. Ha det bra."
#define EN_CLOSING "We got no answer. Goodbye."

static const struct voice_say NB = { .en = false, .voice = "Polly.Liv" };
static const struct voice_say EN = { .en = true, .voice = "Polly.Joanna" };

static void test_callout_text(_unused_ void **state) {
        char buf[256];

        assert_int_equal(voice_callout_text(false, false, "Kriseteam Nord", "Møt på rådhuset.", buf, sizeof(buf), NULL, 0),
                         (int) strlen("Dette er en utkalling av Kriseteam Nord. Møt på rådhuset."));
        assert_string_equal(buf, "Dette er en utkalling av Kriseteam Nord. Møt på rådhuset.");
        voice_callout_text(false, true, "Kriseteam Nord", "Møt på rådhuset.", buf, sizeof(buf), NULL, 0);
        assert_string_equal(buf, "Dette er en øvelse. Dette er en utkalling av Kriseteam Nord. Møt på rådhuset.");
        voice_callout_text(true, true, "Crisis team", "Meet at the town hall.", buf, sizeof(buf), NULL, 0);
        assert_string_equal(buf, "This is a drill. This is a call-out of Crisis team. Meet at the town hall.");
        /* no operator text: the default question */
        voice_callout_text(false, false, "Kriseteam Nord", NULL, buf, sizeof(buf), NULL, 0);
        assert_string_equal(buf, "Dette er en utkalling av Kriseteam Nord. Kan du møte?");
        voice_callout_text(true, false, "Crisis team", "", buf, sizeof(buf), NULL, 0);
        assert_string_equal(buf, "This is a call-out of Crisis team. Can you come?");
        /* English with an operator's text: our words in English, the
         * chain's name and the text (Norwegian) to be said in bokmål */
        char nb[128];
        voice_callout_text(true, true, "Kriseteamet", "Møt på brannstasjonen.", buf, sizeof(buf), nb, sizeof(nb));
        assert_string_equal(buf, "This is a drill. This is a call-out. The message follows in Norwegian.");
        assert_string_equal(nb, "Kriseteamet. Møt på brannstasjonen.");
        voice_callout_text(true, false, "Kriseteamet", NULL, buf, sizeof(buf), nb, sizeof(nb));
        assert_string_equal(buf, "This is a call-out of Kriseteamet. Can you come?");
        assert_string_equal(nb, "");
        voice_callout_text(false, false, "Kriseteamet", "Møt.", buf, sizeof(buf), nb, sizeof(nb));
        assert_string_equal(nb, "");
        /* what snprintf says when it does not fit */
        assert_true(voice_callout_text(false, false, "Kriseteam Nord", "x", buf, 10, NULL, 0) > 10);
        assert_int_equal(strlen(buf), 9);
}

static void test_call_twiml(_unused_ void **state) {
        _cleanup_free_ char *t = NULL, *e = NULL;
        const char *text = "Dette er en øvelse. Dette er en utkalling av Kriseteam Nord. Møt på rådhuset.";
        int r = voice_twiml_call(&NB, text, NULL, "https://b.example/voice/voice/answer/0123abcd", &t);

        assert_true(r > 0);
        assert_int_equal((size_t) r, strlen(t));
        assert_string_equal(t, HEAD
                            GATHER("https://b.example/voice/voice/answer/0123abcd")
                            NB_SAY "Dette er en øvelse. Dette er en utkalling av Kriseteam Nord. Møt på rådhuset. " NB_PROMPT "</Say>\n"
                            "</Gather>\n"
                            GATHER("https://b.example/voice/voice/answer/0123abcd")
                            NB_SAY "Dette er en øvelse. Dette er en utkalling av Kriseteam Nord. Møt på rådhuset. " NB_PROMPT "</Say>\n"
                            "</Gather>\n"
                            NB_SAY NB_CLOSING "</Say>\n"
                            TAIL);

        assert_true(voice_twiml_call(&EN, "This is a call-out of Crisis team. Can you come?", NULL, "https://b.example/a", &e) > 0);
        assert_string_equal(e, HEAD
                            GATHER("https://b.example/a")
                            EN_SAY "This is a call-out of Crisis team. Can you come? " EN_PROMPT "</Say>\n"
                            "</Gather>\n"
                            GATHER("https://b.example/a")
                            EN_SAY "This is a call-out of Crisis team. Can you come? " EN_PROMPT "</Say>\n"
                            "</Gather>\n"
                            EN_SAY EN_CLOSING "</Say>\n"
                            TAIL);
}

static void test_escaping(_unused_ void **state) {
        _cleanup_free_ char *t = NULL, *u = NULL;
        const struct voice_say odd = { .en = false, .voice = "a\"b<c>" };

        assert_true(voice_twiml_call(&NB, "Møt <her> & \"der\", 'nå'\x01!", NULL, "https://b.example/v?a=1&b='2'<\">", &t) > 0);
        assert_non_null(strstr(t, "Møt &lt;her&gt; &amp; &quot;der&quot;, &#39;nå&#39; ! " NB_PROMPT "</Say>"));
        assert_non_null(strstr(t, "action=\"https://b.example/v?a=1&amp;b=&#39;2&#39;&lt;&quot;&gt;\" method=\"POST\""));
        /* nothing unescaped is left between the tags */
        assert_null(strstr(t, "<her>"));
        assert_null(strstr(t, "& "));
        assert_null(strstr(t, "\x01"));

        assert_true(voice_twiml_reply(&odd, VOICE_REPLY_YES, NULL, &u) > 0);
        assert_string_equal(u, HEAD "<Say language=\"nb-NO\" voice=\"a&quot;b&lt;c&gt;\">Takk, du er registrert som kommer.</Say>\n" TAIL);
}

static void test_no_voice(_unused_ void **state) {
        _cleanup_free_ char *t = NULL, *u = NULL;
        const struct voice_say plain = { .en = true, .voice = NULL }, empty = { .en = false, .voice = "" };

        assert_true(voice_twiml_reply(&plain, VOICE_REPLY_ENDED, NULL, &t) > 0);
        assert_string_equal(t, HEAD "<Say language=\"en-US\">This call-out has ended. Thank you.</Say>\n" TAIL);
        assert_true(voice_twiml_reply(&empty, VOICE_REPLY_NO, NULL, &u) > 0);
        assert_string_equal(u, HEAD "<Say language=\"nb-NO\">Takk, du er registrert som ikke kommer.</Say>\n" TAIL);
}

static void test_replies(_unused_ void **state) {
        static const struct {
                enum voice_reply what;
                const char *nb, *en;
        } says[] = {
                { VOICE_REPLY_YES, "Takk, du er registrert som kommer.", "Thank you, you are recorded as coming." },
                { VOICE_REPLY_NO, "Takk, du er registrert som ikke kommer.", "Thank you, you are recorded as not coming." },
                { VOICE_REPLY_CLOSING, NB_CLOSING, EN_CLOSING },
                { VOICE_REPLY_ENDED, "Denne utkallingen er avsluttet. Takk.", "This call-out has ended. Thank you." },
                { VOICE_REPLY_FAILED, "Svaret kunne ikke registreres. Svar på en annen måte hvis du kan.",
                  "Your answer could not be recorded. Please answer another way if you can." },
        };
        for (size_t i = 0; i < ELEMENTSOF(says); i++)
                for (int k = 0; k < 2; k++) {
                        _cleanup_free_ char *t = NULL, *want = NULL;
                        int r = voice_twiml_reply(k ? &EN : &NB, says[i].what, NULL, &t);
                        assert_true(r > 0);
                        assert_int_equal((size_t) r, strlen(t));
                        assert_true(asprintf(&want, HEAD "%s%s</Say>\n" TAIL, k ? EN_SAY : NB_SAY,
                                             k ? says[i].en : says[i].nb) > 0);
                        assert_string_equal(t, want);
                }

        /* an invalid key: said so, the prompt once more, then goodbye */
        _cleanup_free_ char *t = NULL, *e = NULL, *x = NULL;
        assert_true(voice_twiml_reply(&NB, VOICE_REPLY_INVALID, "https://b.example/voice/v/answer/ab?again=1", &t) > 0);
        assert_string_equal(t, HEAD
                            GATHER("https://b.example/voice/v/answer/ab?again=1")
                            NB_SAY "Det var ikke et gyldig valg. " NB_PROMPT "</Say>\n"
                            "</Gather>\n"
                            NB_SAY NB_CLOSING "</Say>\n"
                            TAIL);
        assert_true(voice_twiml_reply(&EN, VOICE_REPLY_INVALID, "https://b.example/x", &e) > 0);
        assert_non_null(strstr(e, EN_SAY "That was not a valid choice. " EN_PROMPT "</Say>\n"));
        assert_int_equal(voice_twiml_reply(&NB, VOICE_REPLY_INVALID, NULL, &x), -EINVAL);
        assert_int_equal(voice_twiml_reply(&NB, (enum voice_reply) 99, NULL, &x), -EINVAL);
        assert_null(x);
}

/* The TwiML read by a real XML parser (Python's), as Twilio reads it: the
 * escaped text and URL come back as they were. */
static void test_parses_as_xml(_unused_ void **state) {
        static const char check[] =
                "python3 -c 'import sys, xml.etree.ElementTree as ET\n"
                "r = ET.fromstring(sys.stdin.buffer.read())\n"
                "g = r.findall(\"Gather\")\n"
                "assert r.tag == \"Response\" and len(g) == 2, r\n"
                "for x in g:\n"
                "    assert x.get(\"action\") == \"https://b.example/v/answer/t?a=1&b=<2>\", x.get(\"action\")\n"
                "    assert x.get(\"input\") == \"dtmf\" and x.get(\"numDigits\") == \"1\" and x.get(\"method\") == \"POST\"\n"
                "    s = x.find(\"Say\")\n"
                "    assert s.get(\"language\") == \"nb-NO\" and s.get(\"voice\") == \"Polly.Liv\"\n"
                "    assert s.text.startswith(\"Dette er en øvelse. Møt <her> & \\\"der\\\" \\u2019nå\\u2019.\"), s.text\n"
                "assert r.findall(\"Say\")[0].text.startswith(\"Vi fikk ikke\")\n"
                "'";
        _cleanup_free_ char *t = NULL;

        assert_true(voice_twiml_call(&NB, "Dette er en øvelse. Møt <her> & \"der\" ’nå’.", NULL, "https://b.example/v/answer/t?a=1&b=<2>",
                                     &t) > 0);
        FILE *p = popen(check, "w");
        assert_non_null(p);
        assert_int_equal(fputs(t, p) >= 0, 1);
        assert_int_equal(pclose(p), 0);
}

static void test_limits(_unused_ void **state) {
        char *t = NULL;
        char text[4000];

        /* Twilio's inline Twiml is at most 4000 characters (not bytes):
         * "ø" is one character. */
        size_t n = 0;
        while (n + 2 < 2000) {
                memcpy(text + n, "ø", 2);
                n += 2;
        }
        text[n] = '\0';
        int r = voice_twiml_call(&NB, text, NULL, "https://b.example/a", &t);
        assert_true(r > 4000); /* bytes */
        free(t);
        t = NULL;
        memset(text, 'a', 1900);
        text[1900] = '\0';
        assert_int_equal(voice_twiml_call(&NB, text, NULL, "https://b.example/a", &t), -E2BIG);
        assert_null(t);
        /* &amp; counts as five */
        memset(text, '&', 400);
        text[400] = '\0';
        assert_int_equal(voice_twiml_call(&NB, text, NULL, "https://b.example/a", &t), -E2BIG);

        assert_int_equal(voice_twiml_call(&NB, "x", NULL, NULL, &t), -EINVAL);
        assert_int_equal(voice_twiml_call(&NB, "x", NULL, "", &t), -EINVAL);
        assert_int_equal(voice_twiml_call(&NB, "bad \xc3", NULL, "https://b.example/a", &t), -EILSEQ);
        assert_null(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_callout_text), cmocka_unit_test(test_call_twiml), cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_no_voice),     cmocka_unit_test(test_replies),    cmocka_unit_test(test_limits),
                cmocka_unit_test(test_parses_as_xml),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
