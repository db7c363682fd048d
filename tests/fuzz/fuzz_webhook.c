/* fuzz_webhook.c - libFuzzer target for the HTTP listener's body parsers:
 * what an SMS provider (or anyone who finds the address) posts to
 * /sms/<gateway>/inbound and /sms/<gateway>/receipt.
 *
 *   make fuzz && tests/fuzz/fuzz_webhook tests/fuzz/corpus/webhook
 *
 * The first byte picks the parser (form, Twilio receipt, Link Mobility MO,
 * Link Mobility receipt, generic form fields, generic JSON fields); the rest
 * is the body. Besides memory safety it checks the contracts the handlers
 * rely on: decoded fields are valid UTF-8 without NULs, receipt fields are
 * terminated, the receipt state is one of the three, a value is either
 * absent or text. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s) {
        if (!s || !text_utf8_valid(s, strlen(s)))
                abort();
}

static void check_receipt(const struct http_receipt *r) {
        if (!memchr(r->ref, '\0', sizeof(r->ref)) || !memchr(r->alt_ref, '\0', sizeof(r->alt_ref)) ||
            !memchr(r->detail, '\0', sizeof(r->detail)))
                abort();
        if (r->state != HTTP_DLR_PENDING && r->state != HTTP_DLR_DELIVERED && r->state != HTTP_DLR_UNDELIVERABLE)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* the generic gateway's inbound_* fields: the tests' (msisdn, msg) and nested JSON paths */
        static const char *const names[] = { "from", "text", "msg.from", "payload.message.text", "status", "msisdn", "msg" };
        enum { N_NAMES = sizeof(names) / sizeof(names[0]) };
        struct http_form f;
        struct http_receipt rc;
        char *from = NULL, *text = NULL, *values[N_NAMES];
        int r;

        if (size < 1)
                return 0;
        const char *body = (const char *) data + 1;
        size_t len = size - 1;
        switch (data[0] % 6) {
        case 0:
        case 1:
                r = http_form_parse(body, len, &f);
                if (r == -ENOMEM)
                        return 0;
                if (r < 0) {
                        if (r != -EINVAL || f.n != 0 || f.v)
                                abort();
                        return 0;
                }
                for (size_t i = 0; i < f.n; i++) {
                        check_text(f.v[i].name);
                        check_text(f.v[i].value);
                        if (http_form_get(&f, f.v[i].name) == NULL)
                                abort();
                }
                if (data[0] % 6 == 1) {
                        memset(&rc, 0xff, sizeof(rc));
                        if (http_twilio_dlr(&f, &rc) == 0)
                                check_receipt(&rc);
                } else {
                        char sig[29];
                        if (http_twilio_signature("token", "https://x.example/sms/g/inbound", &f, sig) == 0) {
                                if (strlen(sig) != 28 ||
                                    !http_twilio_valid("token", "https://x.example/sms/g/inbound", &f, sig))
                                        abort();
                        }
                }
                http_form_done(&f);
                return 0;
        case 2:
                r = http_linkmobility_mo(body, len, &from, &text);
                if (r == 0) {
                        check_text(from);
                        check_text(text);
                }
                free(from);
                free(text);
                return 0;
        case 3:
                memset(&rc, 0xff, sizeof(rc));
                if (http_linkmobility_dlr(body, len, &rc) == 0)
                        check_receipt(&rc);
                return 0;
        default:
                r = http_generic_fields(body, len, data[0] % 6 == 5, names, N_NAMES, values);
                if (r < 0) {
                        for (size_t i = 0; i < N_NAMES; i++)
                                if (values[i])
                                        abort(); /* nothing left behind on failure */
                        return 0;
                }
                for (size_t i = 0; i < N_NAMES; i++) {
                        if (values[i])
                                check_text(values[i]);
                        free(values[i]);
                }
                return 0;
        }
}
