/* test_json_util.c - unit tests for json-util.c (the {"ok":...} reply
 * envelope every way in answers with, and json_text) and for the markup
 * entities of text.c that the HTTP pages and TwiML share. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "text.h"

static void test_reply_fixed(void **state) {
        char buf[128];

        (void) state;
        assert_int_equal(reply_fixed(buf, sizeof(buf), "bad token", NULL, "\n"), 33);
        assert_string_equal(buf, "{\"ok\":false,\"error\":\"bad token\"}\n");
        reply_fixed(buf, sizeof(buf), "permission denied", NULL, "");
        assert_string_equal(buf, "{\"ok\":false,\"error\":\"permission denied\"}");
        reply_fixed(buf, sizeof(buf), NULL, NULL, "\n");
        assert_string_equal(buf, "{\"ok\":true}\n");
        reply_fixed(buf, sizeof(buf), NULL, "\"known\":false", NULL);
        assert_string_equal(buf, "{\"ok\":true,\"known\":false}");
}

static void test_reply_json(void **state) {
        char *s;
        json_t *o;

        (void) state;
        s = reply_error(NULL, "cmd: \"x\" is not supported");
        assert_string_equal(s, "{\"ok\":false,\"error\":\"cmd: \\\"x\\\" is not supported\"}");
        free(s);
        s = reply_error("r-1", "spool: full");
        assert_string_equal(s, "{\"ok\":false,\"error\":\"spool: full\",\"id\":\"r-1\"}");
        free(s);
        o = reply_ok("r-2");
        json_object_set_new(o, "activation", json_string("20270111-0800-ab12"));
        json_object_set_new(o, "text", json_string("\xc3\xa6"));
        s = reply_dump(o); /* consumes O; ASCII only */
        assert_string_equal(s, "{\"ok\":true,\"id\":\"r-2\",\"activation\":\"20270111-0800-ab12\",\"text\":\"\\u00E6\"}");
        free(s);
        s = reply_dump(reply_ok(NULL));
        assert_string_equal(s, "{\"ok\":true}");
        free(s);
}

static void test_json_text(void **state) {
        json_t *o = json_loads("{\"s\":\"abc\",\"n\":42,\"z\":\"a\\u0000b\",\"b\":true,\"o\":{}}", JSON_ALLOW_NUL, NULL);
        char buf[32];

        (void) state;
        assert_non_null(o);
        assert_string_equal(json_text(o, "s", NULL, 0), "abc");
        assert_null(json_text(o, "n", NULL, 0));              /* numbers only with a buffer */
        assert_string_equal(json_text(o, "n", buf, sizeof(buf)), "42");
        assert_null(json_text(o, "z", buf, sizeof(buf)));     /* a NUL inside */
        assert_null(json_text(o, "b", buf, sizeof(buf)));
        assert_null(json_text(o, "o", buf, sizeof(buf)));
        assert_null(json_text(o, "missing", buf, sizeof(buf)));
        assert_null(json_text(NULL, "s", NULL, 0));
        json_decref(o);
}

static void test_markup_entity(void **state) {
        (void) state;
        assert_string_equal(text_markup_entity('&', false), "&amp;");
        assert_string_equal(text_markup_entity('<', false), "&lt;");
        assert_string_equal(text_markup_entity('>', true), "&gt;");
        assert_null(text_markup_entity('"', false)); /* TwiML text: quotes stay */
        assert_null(text_markup_entity('\'', false));
        assert_string_equal(text_markup_entity('"', true), "&quot;");
        assert_string_equal(text_markup_entity('\'', true), "&#39;");
        assert_null(text_markup_entity('a', true));
        assert_null(text_markup_entity('\xc3', true));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reply_fixed),
                cmocka_unit_test(test_reply_json),
                cmocka_unit_test(test_json_text),
                cmocka_unit_test(test_markup_entity),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
