/* test_http.c - the listener's pure parts: form decoding, the Twilio
 * signature (against Twilio's own published example), and the webhook
 * payloads of Link Mobility, Twilio and the generic profile. The listener
 * itself is tested end to end by tests/integration/110-http.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "macro.h"

#define S(x) (x), strlen(x)

static void test_form(_unused_ void **state) {
        struct http_form f;

        assert_int_equal(http_form_parse(S("From=%2B4791234567&Body=Ja+4821%21&&Empty=&Flag"), &f), 0);
        assert_int_equal(f.n, 4);
        assert_string_equal(http_form_get(&f, "From"), "+4791234567");
        assert_string_equal(http_form_get(&f, "Body"), "Ja 4821!");
        assert_string_equal(http_form_get(&f, "Empty"), "");
        assert_string_equal(http_form_get(&f, "Flag"), "");
        assert_null(http_form_get(&f, "from")); /* names are case-sensitive */
        http_form_done(&f);

        /* UTF-8 survives, escaped or not */
        assert_int_equal(http_form_parse(S("t=%C3%A6%C3%B8%C3%A5&u=\xc3\xa6"), &f), 0);
        assert_string_equal(http_form_get(&f, "t"), "æøå");
        assert_string_equal(http_form_get(&f, "u"), "æ");
        http_form_done(&f);

        assert_int_equal(http_form_parse(S(""), &f), 0);
        assert_int_equal(f.n, 0);
        http_form_done(&f);

        /* broken escapes, a NUL, invalid UTF-8 */
        assert_int_equal(http_form_parse(S("a=%4"), &f), -EINVAL);
        assert_int_equal(http_form_parse(S("a=%zz"), &f), -EINVAL);
        assert_int_equal(http_form_parse(S("a=x%00y"), &f), -EINVAL);
        assert_int_equal(http_form_parse(S("a=%C3"), &f), -EINVAL);
        assert_int_equal(http_form_parse(S("a=%FF%FE"), &f), -EINVAL);
        assert_int_equal(http_form_parse("a=b\0c", 5, &f), -EINVAL);
        assert_int_equal(f.n, 0);
}

/* https://www.twilio.com/docs/usage/security#validating-requests: auth
 * token 12345, this URL and these fields sign to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=. */
static void test_twilio_signature(_unused_ void **state) {
        static const char url[] = "https://mycompany.com/myapp.php?foo=1&bar=2";
        static const char want[] = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        struct http_form f;
        char sig[29];

        /* out of order on purpose: the signature sorts them */
        assert_int_equal(http_form_parse(S("To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234"
                                           "&From=%2B12349013030&Caller=%2B12349013030"),
                                         &f),
                         0);
        assert_int_equal(http_twilio_signature("12345", url, &f, sig), 0);
        assert_string_equal(sig, want);
        assert_true(http_twilio_valid("12345", url, &f, want));

        assert_false(http_twilio_valid("12346", url, &f, want));                      /* another token */
        assert_false(http_twilio_valid("12345", "https://mycompany.com/myapp.php", &f, want)); /* another URL */
        assert_false(http_twilio_valid("12345", url, &f, "0/KCTR6DLpKmkAf8muzZqo1nDgQ"));  /* one short */
        assert_false(http_twilio_valid("12345", url, &f, "1/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert_false(http_twilio_valid("12345", url, &f, NULL));
        assert_false(http_twilio_valid("", url, &f, want));
        free(f.v[2].value); /* Digits */
        f.v[2].value = strdup("9999");
        assert_false(http_twilio_valid("12345", url, &f, want));
        http_form_done(&f);

        /* no fields: the URL alone is signed */
        assert_int_equal(http_twilio_signature("12345", url, NULL, sig), 0);
        assert_int_equal(strlen(sig), 28);
        assert_string_not_equal(sig, want);

        /* Signed with the default port written out, checked without it,
         * and the other way round, as Twilio's validator accepts both;
         * another port is another URL. */
        static const char with_port[] = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        char sig443[29], sig80[29];
        assert_int_equal(http_twilio_signature("12345", with_port, NULL, sig443), 0);
        assert_true(http_twilio_valid("12345", url, NULL, sig443));
        assert_true(http_twilio_valid("12345", with_port, NULL, sig));
        assert_false(http_twilio_valid("12345", "https://mycompany.com:8443/myapp.php?foo=1&bar=2", NULL, sig));
        assert_int_equal(http_twilio_signature("12345", "http://h.example:80/v", NULL, sig80), 0);
        assert_true(http_twilio_valid("12345", "http://h.example/v", NULL, sig80));
        assert_false(http_twilio_valid("12345", "https://h.example/v", NULL, sig80));
        assert_int_equal(http_twilio_signature("12345", "https://[2001:db8::1]:443/v", NULL, sig80), 0);
        assert_true(http_twilio_valid("12345", "https://[2001:db8::1]/v", NULL, sig80));
}

static void test_linkmobility_mo(_unused_ void **state) {
        char *from = NULL, *text = NULL;

        /* the documented shape: the text is in content.userData */
        assert_int_equal(http_linkmobility_mo(S("{\"destination\":\"NO-2333\",\"subNumber\":null,\"source\":\"+4741560067\","
                                                "\"content\":{\"type\":\"SMS\",\"userData\":\"Ja 4821\",\"encoding\":\"TEXT\"},"
                                                "\"operator\":\"no.telenor\",\"messageId\":\"0\"}"),
                                              &from, &text),
                         0);
        assert_string_equal(from, "+4741560067");
        assert_string_equal(text, "Ja 4821");
        free(from);
        free(text);

        /* older gates: userData at the top */
        assert_int_equal(http_linkmobility_mo(S("{\"source\":\"+4791234567\",\"userData\":\"NEI\"}"), &from, &text), 0);
        assert_string_equal(text, "NEI");
        free(from);
        free(text);

        assert_int_equal(http_linkmobility_mo(S("{\"source\":\"+4791234567\"}"), &from, &text), -EINVAL);
        assert_int_equal(http_linkmobility_mo(S("{\"content\":{\"userData\":\"JA\"}}"), &from, &text), -EINVAL);
        assert_int_equal(http_linkmobility_mo(S("[1,2]"), &from, &text), -EINVAL);
        assert_int_equal(http_linkmobility_mo(S("{\"source\":"), &from, &text), -EINVAL);
        assert_int_equal(http_linkmobility_mo(S("{\"source\":\"+47\\u00001\",\"userData\":\"JA\"}"), &from, &text), -EINVAL);
        assert_int_equal(http_linkmobility_mo(S("{\"source\":1,\"userData\":\"JA\"}"), &from, &text), -EINVAL);
}

static void test_linkmobility_dlr(_unused_ void **state) {
        struct http_receipt rc;

        assert_int_equal(http_linkmobility_dlr(S("{\"refId\":\"20260101-0001.3\",\"id\":\"Dcshuhod0PMAAAFQ$0\",\"operator\":"
                                                 "\"no.telenor\",\"resultCode\":1001,\"segments\":1}"),
                                               &rc),
                         0);
        assert_string_equal(rc.ref, "20260101-0001.3");
        assert_string_equal(rc.alt_ref, "Dcshuhod0PMAAAFQ"); /* the part suffix goes */
        assert_int_equal(rc.state, HTTP_DLR_DELIVERED);
        assert_string_equal(rc.detail, "linkmobility resultCode 1001");

        /* refId null: their id is the reference */
        assert_int_equal(http_linkmobility_dlr(S("{\"refId\":null,\"id\":\"abc123$1\",\"resultCode\":1006}"), &rc), 0);
        assert_string_equal(rc.ref, "abc123");
        assert_string_equal(rc.alt_ref, "");
        assert_int_equal(rc.state, HTTP_DLR_UNDELIVERABLE);

        static const struct {
                const char *code;
                enum http_dlr state;
        } codes[] = {
                { "1000", HTTP_DLR_PENDING },       { "1005", HTTP_DLR_PENDING },       { "\"1001\"", HTTP_DLR_DELIVERED },
                { "1002", HTTP_DLR_UNDELIVERABLE }, { "1003", HTTP_DLR_UNDELIVERABLE }, { "1004", HTTP_DLR_UNDELIVERABLE },
                { "2104", HTTP_DLR_UNDELIVERABLE }, { "4001", HTTP_DLR_UNDELIVERABLE }, { "1010", HTTP_DLR_PENDING },
                { "0", HTTP_DLR_PENDING },
        };
        for (size_t i = 0; i < ELEMENTSOF(codes); i++) {
                char body[128];
                snprintf(body, sizeof(body), "{\"refId\":\"k.1\",\"resultCode\":%s}", codes[i].code);
                assert_int_equal(http_linkmobility_dlr(S(body), &rc), 0);
                assert_int_equal(rc.state, codes[i].state);
        }

        assert_int_equal(http_linkmobility_dlr(S("{\"refId\":\"k.1\"}"), &rc), -EINVAL);               /* no code */
        assert_int_equal(http_linkmobility_dlr(S("{\"resultCode\":1001}"), &rc), -EINVAL);             /* no ref */
        assert_int_equal(http_linkmobility_dlr(S("{\"refId\":\"a b\",\"resultCode\":1001}"), &rc), -EINVAL);
        assert_int_equal(http_linkmobility_dlr(S("{\"refId\":\"k\",\"resultCode\":\"x\"}"), &rc), -EINVAL);
        assert_int_equal(http_linkmobility_dlr(S("nonsense"), &rc), -EINVAL);
}

static void test_twilio_dlr(_unused_ void **state) {
        struct http_form f;
        struct http_receipt rc;

        assert_int_equal(http_form_parse(S("MessageSid=SM0001&MessageStatus=undelivered&ErrorCode=30003&To=%2B4791234567"), &f), 0);
        assert_int_equal(http_twilio_dlr(&f, &rc), 0);
        assert_string_equal(rc.ref, "SM0001");
        assert_int_equal(rc.state, HTTP_DLR_UNDELIVERABLE);
        assert_string_equal(rc.detail, "twilio undelivered 30003");
        assert_null(strstr(rc.detail, "4791234567"));
        http_form_done(&f);

        static const struct {
                const char *st;
                enum http_dlr state;
        } sts[] = { { "delivered", HTTP_DLR_DELIVERED }, { "failed", HTTP_DLR_UNDELIVERABLE },
                    { "queued", HTTP_DLR_PENDING },      { "sent", HTTP_DLR_PENDING },
                    { "accepted", HTTP_DLR_PENDING },    { "sending", HTTP_DLR_PENDING } };
        for (size_t i = 0; i < ELEMENTSOF(sts); i++) {
                char body[128];
                snprintf(body, sizeof(body), "SmsSid=SM9&SmsStatus=%s&ErrorCode=x", sts[i].st);
                assert_int_equal(http_form_parse(S(body), &f), 0);
                assert_int_equal(http_twilio_dlr(&f, &rc), 0);
                assert_int_equal(rc.state, sts[i].state);
                assert_null(strchr(rc.detail + strlen("twilio "), ' ')); /* a bad ErrorCode is left out */
                http_form_done(&f);
        }

        assert_int_equal(http_form_parse(S("MessageStatus=delivered"), &f), 0);
        assert_int_equal(http_twilio_dlr(&f, &rc), -EINVAL);
        http_form_done(&f);
}

static void test_generic(_unused_ void **state) {
        static const char *const names[] = { "msisdn", "msg" };
        static const char *const paths[] = { "message.from", "message.text", "missing" };
        char *v[3];

        assert_int_equal(http_generic_fields(S("msisdn=4791234567&msg=ja&other=1"), false, names, 2, v), 0);
        assert_string_equal(v[0], "4791234567");
        assert_string_equal(v[1], "ja");
        free(v[0]);
        free(v[1]);

        /* JSON: paths into objects, numbers as text, absent is NULL */
        assert_int_equal(http_generic_fields(S("{\"message\":{\"from\":4791234567,\"text\":\"Ja!\"}}"), true, paths, 3, v), 0);
        assert_string_equal(v[0], "4791234567");
        assert_string_equal(v[1], "Ja!");
        assert_null(v[2]);
        free(v[0]);
        free(v[1]);

        assert_int_equal(http_generic_fields(S("{\"msisdn\":\"+47\",\"msg\":"), true, names, 2, v), -EINVAL);
        assert_int_equal(http_generic_fields(S("{\"msisdn\":\"a\\u0000b\"}"), true, names, 2, v), -EINVAL);
        assert_null(v[0]);
        assert_int_equal(http_generic_fields(S("msisdn=%G0"), false, names, 2, v), -EINVAL);
        assert_int_equal(http_generic_fields(S("{\"msisdn\":[1],\"msg\":true}"), true, names, 2, v), 0);
        assert_null(v[0]);
        assert_null(v[1]);

        assert_int_equal(http_dlr_from_word("DELIVRD"), HTTP_DLR_DELIVERED);
        assert_int_equal(http_dlr_from_word("delivered"), HTTP_DLR_DELIVERED);
        assert_int_equal(http_dlr_from_word("UNDELIV"), HTTP_DLR_UNDELIVERABLE);
        assert_int_equal(http_dlr_from_word("Failed"), HTTP_DLR_UNDELIVERABLE);
        assert_int_equal(http_dlr_from_word("expired"), HTTP_DLR_UNDELIVERABLE);
        assert_int_equal(http_dlr_from_word("sent"), HTTP_DLR_PENDING);
        assert_int_equal(http_dlr_from_word("accepted"), HTTP_DLR_PENDING);
        assert_int_equal(http_dlr_from_word(""), HTTP_DLR_PENDING);
        assert_int_equal(http_dlr_from_word(NULL), HTTP_DLR_PENDING);
}

static void test_content_length_conflict(_unused_ void **state) {
        assert_false(http_content_length_conflict("5", "5"));
        assert_false(http_content_length_conflict("5", "005"));
        assert_false(http_content_length_conflict(" 5", "5\t"));
        assert_true(http_content_length_conflict("5", "40"));
        assert_true(http_content_length_conflict("0", "1"));
        assert_true(http_content_length_conflict("5", ""));
        assert_true(http_content_length_conflict("5", "5,5"));
        assert_true(http_content_length_conflict("5", "+5"));
        assert_true(http_content_length_conflict("5", "-5"));
        assert_true(http_content_length_conflict("99999999999999999999999", "99999999999999999999999"));
}

static void test_conn_overdue(_unused_ void **state) {
        const uint64_t s = 1000000000ULL, sec = 1000000ULL;

        /* the head: 5 s from connect (or the last response) */
        assert_false(http_conn_overdue(false, s, s));
        assert_false(http_conn_overdue(false, s, s + 5 * sec));
        assert_true(http_conn_overdue(false, s, s + 5 * sec + 1));
        /* head in: 20 s to the end of the response */
        assert_false(http_conn_overdue(true, s, s + 19 * sec));
        assert_true(http_conn_overdue(true, s, s + 20 * sec + 1));
        /* a clock that seems to go back never cuts */
        assert_false(http_conn_overdue(false, s, s - 1));
}

static void test_webhook_authenticated(_unused_ void **state) {
        char tok[] = "secret", empty[] = "";
        struct gateway g = { .type = GATEWAY_HTTP };

        assert_false(http_webhook_authenticated(NULL, "https://x"));
        assert_false(http_webhook_authenticated(&g, "https://x"));
        g.inbound_token = empty;
        assert_false(http_webhook_authenticated(&g, "https://x"));
        g.inbound_token = tok;
        assert_true(http_webhook_authenticated(&g, NULL));
        g.type = GATEWAY_LINKMOBILITY;
        assert_true(http_webhook_authenticated(&g, NULL));
        g.inbound_token = NULL;
        assert_false(http_webhook_authenticated(&g, "https://x"));
        /* Twilio: the auth token and the public URL it signs over */
        g = (struct gateway) { .type = GATEWAY_TWILIO, .password = tok };
        assert_false(http_webhook_authenticated(&g, NULL));
        assert_false(http_webhook_authenticated(&g, ""));
        assert_true(http_webhook_authenticated(&g, "https://x"));
        g.password = NULL;
        assert_false(http_webhook_authenticated(&g, "https://x"));
        /* no other type takes webhooks */
        g = (struct gateway) { .type = GATEWAY_FILE, .inbound_token = tok };
        assert_false(http_webhook_authenticated(&g, "https://x"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_form),
                cmocka_unit_test(test_twilio_signature),
                cmocka_unit_test(test_linkmobility_mo),
                cmocka_unit_test(test_linkmobility_dlr),
                cmocka_unit_test(test_twilio_dlr),
                cmocka_unit_test(test_generic),
                cmocka_unit_test(test_content_length_conflict),
                cmocka_unit_test(test_conn_overdue),
                cmocka_unit_test(test_webhook_authenticated),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
