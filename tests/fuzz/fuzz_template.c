/* fuzz_template.c - libFuzzer target for the SMS template engine and
 * segment fitting: the first byte picks the escaping, the rest is split into
 * a template and a value. Output is always NUL-terminated on success, and a
 * composed SMS is always one segment; the configuration's template check
 * agrees with the renderer, and the value as an e-mail subject is folded
 * and encoded as RFC 2047 says. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2)
                return 0;
        enum text_escape esc = (enum text_escape) (data[0] % 3);
        const char *sep = memchr(data + 1, '\n', size - 1);
        size_t tl = sep ? (size_t) (sep - (const char *) data - 1) : size - 1;
        char *tmpl = strndup((const char *) data + 1, tl);
        char *val = sep ? strndup(sep + 1, size - 1 - tl - 1) : strdup("");
        if (!tmpl || !val)
                goto out;
        char out[512], err[128];
        if (text_utf8_valid(val, strlen(val))) {
                const struct text_var vars[] = { { "to", "+4791234567" }, { "text", val }, { "ref", "k.1" } };
                int r = text_template_render(tmpl, esc, vars, 3, out, sizeof(out), err, sizeof(err));
                if (r >= 0 && memchr(out, '\0', sizeof(out)) == NULL)
                        abort();
                /* the check at configuration load accepts what rendered (its
                 * names are standard ones) */
                if (text_template_check(tmpl, NULL, 0, err, sizeof(err)) != 0 && r >= 0)
                        abort();
                /* the value as an e-mail subject: printable ASCII, folded with
                 * CRLF SP, encoded words on lines of at most 76 characters */
                size_t col = (size_t) (data[0] / 3) % 51;
                char subj[4096];
                r = text_rfc2047_encode(val, col, subj, sizeof(subj));
                if (r >= 0) {
                        bool encoded = strncmp(subj, "=?UTF-8?B?", 10) == 0;
                        size_t line = col;
                        if ((size_t) r != strlen(subj))
                                abort();
                        for (const char *p = subj; *p; p++) {
                                if (*p == '\r') {
                                        if (p[1] != '\n' || p[2] != ' ')
                                                abort();
                                        line = 0;
                                        p++;
                                        continue;
                                }
                                if (*p < 0x20 || *p > 0x7E || ++line > (encoded ? 76u : 998u))
                                        abort();
                        }
                }
                char sms[1024];
                r = text_sms_compose("Kriseteamet kalles inn: ", val, " Svar JA 4821 eller NEI 4821", sms, sizeof(sms));
                if (r >= 0) {
                        struct text_sms_info info;
                        if (text_sms_count(sms, strlen(sms), &info) < 0 || info.segments != 1)
                                abort();
                        if (!strstr(sms, " Svar JA 4821 eller NEI 4821"))
                                abort();
                }
        }
out:
        free(tmpl);
        free(val);
        return 0;
}
