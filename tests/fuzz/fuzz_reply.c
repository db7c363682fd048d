/* fuzz_reply.c - libFuzzer target for the text code that sees untrusted
 * bytes: SMS replies from the gateways (answers, and the absence texts
 * BORTE/TILBAKE), and the texts we count and fit.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -I daemon \
 *         daemon/text.c tests/fuzz/fuzz_reply.c -o fuzz_reply
 *   ./fuzz_reply -max_total_time=60 tests/fuzz/corpus/reply
 *
 * Besides memory safety it checks the contracts callers rely on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "away-parse.h"
#include "calendar.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *s = (const char *) data;
        struct text_reply r;
        struct text_sms_info info;
        enum text_reply_kind k;
        int c;

        /* the reply parser: a code is 4-6 digits or empty, days only for UTSETT */
        k = text_parse_reply(s, size, &r);
        if (k != r.kind || (unsigned) k > TEXT_REPLY_HELP)
                abort();
        size_t cl = strnlen(r.code, sizeof r.code);
        if (cl == sizeof r.code || (cl != 0 && (cl < TEXT_REPLY_CODE_MIN || cl > TEXT_REPLY_CODE_MAX)))
                abort();
        if (k == TEXT_REPLY_UNKNOWN && (cl != 0 || r.days != 0))
                abort();
        if (r.days != 0 && (k != TEXT_REPLY_POSTPONE || r.days > 999))
                abort();

        /* absence texts: a period is real dates, in order, from today on,
         * at most 366 days; seen from a December and from a February 28 */
        static const struct ymd todays[] = { { 2026, 12, 2 }, { 2027, 2, 28 }, { 2028, 2, 29 } };
        for (size_t i = 0; i < sizeof todays / sizeof todays[0]; i++) {
                struct away_text at;
                enum away_text_kind ak = away_text_parse(s, size, todays[i], &at);
                if (ak != at.kind || (unsigned) ak > AWAY_TEXT_BACK_EXTRA)
                        abort();
                if (ak == AWAY_TEXT_AWAY &&
                    (!ymd_valid(at.from) || !ymd_valid(at.to) || ymd_cmp(at.from, todays[i]) < 0 ||
                     ymd_cmp(at.to, at.from) < 0 ||
                     calendar_days_from_ymd(at.to) - calendar_days_from_ymd(at.from) >= 366))
                        abort();
        }

        /* segment counting: succeeds exactly on valid UTF-8 */
        c = text_sms_count(s, size, &info);
        if ((c == 0) != text_utf8_valid(s, size))
                abort();
        if (c == 0 && (info.segments == 0 || info.units < info.chars || info.chars > size))
                abort();

        /* compose (needs a C string): the result is one SMS and keeps the suffix */
        if (c == 0 && size < 4096) {
                static const char suffix[] = " Svar JA 4821 eller NEI 4821";
                char *z = malloc(size + 1), out[8192];
                struct text_sms_info o;

                if (!z)
                        return 0;
                memcpy(z, data, size);
                z[size] = 0;
                c = text_sms_compose("Kriseteam: ", z, suffix, out, sizeof out);
                if (c < 0 || text_sms_count(out, strlen(out), &o) < 0 || o.segments != 1 ||
                    strcmp(out + strlen(out) - strlen(suffix), suffix) != 0)
                        abort();
                /* in 1..10 segments: the result fits, keeps the suffix, is
                 * the whole text transliterated when it says "fits", and
                 * transliterating it again changes nothing */
                for (unsigned max = 1; max <= 10; max += 3) {
                        char tr[8192];
                        c = text_sms_compose_n("Kriseteam: ", z, suffix, max, out, sizeof out, &o);
                        if (c < 0 || o.segments > max || text_sms_count(out, strlen(out), &info) < 0 ||
                            info.segments != o.segments || strcmp(out + strlen(out) - strlen(suffix), suffix) != 0)
                                abort();
                        if (text_sms_transliterate(out, tr, sizeof tr) < 0 ||
                            (strcmp(tr, out) != 0 && o.encoding == TEXT_SMS_GSM7))
                                abort();
                        if (c == 0 && (text_sms_transliterate(z, tr, sizeof tr) < 0 ||
                                       strncmp(out + strlen("Kriseteam: "), tr, strlen(tr)) != 0))
                                abort();
                }
                /* and the same bytes as a reply prefix and suffix may not fit: never crash */
                (void) text_sms_compose(z, "x", z, out, sizeof out);
                (void) text_sms_compose_n(z, z, z, 3, out, sizeof out, NULL);
                /* the same bytes as a sender's number: E.164 or refused */
                char e164[TEXT_E164_MAX];
                if (text_phone_e164(z, e164, sizeof e164) == 0) {
                        size_t n = strlen(e164);
                        if (e164[0] != '+' || n < 9 || n > 16 || strspn(e164 + 1, "0123456789") != n - 1)
                                abort();
                }
                free(z);
        }
        return 0;
}
