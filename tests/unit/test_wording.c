/* test_wording.c - the texts people read (daemon/wording.h): every W_ pair
 * is read from the header at run time and checked (two texts, the same
 * printf conversions in both, clean spacing, really translated), and a few
 * texts are composed through W() in both languages. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wording.h"

#ifndef WORDING_H_PATH
#define WORDING_H_PATH "daemon/wording.h"
#endif

/* The header: $top_srcdir/daemon/wording.h (set by the test harness), else
 * the path the build gave. */
static char *read_header(void) {
        const char *top = getenv("top_srcdir");
        char path[4096];
        if (top && *top)
                snprintf(path, sizeof(path), "%s/daemon/wording.h", top);
        else
                snprintf(path, sizeof(path), "%s", WORDING_H_PATH);
        FILE *f = fopen(path, "r");
        if (!f) {
                print_error("cannot open %s\n", path);
                return NULL;
        }
        size_t cap = 1 << 16, len = 0;
        char *buf = malloc(cap);
        size_t k;
        while (buf && (k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
                len += k;
                if (len + 1 == cap) {
                        char *nb = realloc(buf, cap *= 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                        }
                        buf = nb;
                }
        }
        fclose(f);
        if (buf)
                buf[len] = '\0';
        return buf;
}

/* The length of the printf conversion at P ("%-5.2lf": 7; "%%": 2). */
static size_t spec_len(const char *p) {
        if (p[1] == '%')
                return 2;
        const char *q = p + 1;
        q += strspn(q, "-+ #0'");
        q += strspn(q, "0123456789*");
        if (*q == '.') {
                q++;
                q += strspn(q, "0123456789*");
        }
        q += strspn(q, "hlLqjzt");
        if (*q)
                q++;
        return (size_t) (q - p);
}

/* The printf conversions of S, one after the other ("%s%d"), without %%. */
static void conversions(const char *s, char *out, size_t len) {
        size_t o = 0;
        out[0] = '\0';
        for (const char *p = s; *p; p++) {
                if (*p != '%')
                        continue;
                size_t n = spec_len(p);
                if (p[1] != '%' && o + n + 1 < len) {
                        memcpy(out + o, p, n);
                        o += n;
                        out[o] = '\0';
                }
                p += n - 1;
        }
}

/* Letters outside the printf conversions (UTF-8: any non-ASCII byte). */
static bool has_letter(const char *s) {
        for (; *s; s++) {
                if (*s == '%') {
                        s += spec_len(s) - 1;
                        continue;
                }
                if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (unsigned char) *s >= 0x80)
                        return true;
        }
        return false;
}

/* Double spaces in running text. A line that starts indented (the one-tap
 * links of an e-mail: "  NO:  https://...") may align its columns. */
static bool double_space(const char *s) {
        const char *line = s;
        for (const char *p = s; *p; p++) {
                if (*p == '\n') {
                        line = p + 1;
                        continue;
                }
                if (p[0] == ' ' && p[1] == ' ' && strncmp(line, "  ", 2) != 0)
                        return true;
        }
        return false;
}

/* NULL if the pair NB/EN is fine, else what is wrong with it. */
static const char *check_pair(const char *nb, const char *en) {
        char cn[256], ce[256];
        if (!*nb || !*en)
                return "an empty text";
        conversions(nb, cn, sizeof(cn));
        conversions(en, ce, sizeof(ce));
        if (strcmp(cn, ce) != 0)
                return "not the same printf conversions in both";
        for (int i = 0; i < 2; i++) {
                const char *s = i ? en : nb;
                if (double_space(s))
                        return "a double space";
                if (strstr(s, " .") || strstr(s, " ,"))
                        return "a space before . or ,";
        }
        if (strcmp(nb, en) == 0 && has_letter(nb))
                return "the bokmål text is the English one";
        return NULL;
}

struct pair {
        char name[64];
        char text[2][1024];
        int n_texts;
        const char *error; /* of the parse */
};

/* Parse the body of an object-like #define (after its name): string
 * literals, concatenated, separated by commas, nothing else. */
static void parse_body(const char *s, const char *end, struct pair *pr) {
        size_t o = 0;
        bool in_text = false;
        pr->n_texts = 0;
        pr->error = NULL;
        while (s < end) {
                if (*s == ' ' || *s == '\t' || *s == '\n' || (*s == '\\' && s[1] == '\n')) {
                        s += *s == '\\' ? 2 : 1;
                } else if (*s == ',') {
                        if (!in_text) {
                                pr->error = "a comma without a text before it";
                                return;
                        }
                        in_text = false;
                        s++;
                } else if (*s == '"') {
                        if (!in_text) {
                                if (pr->n_texts == 2) {
                                        pr->error = "more than two texts";
                                        return;
                                }
                                pr->n_texts++;
                                o = 0;
                                in_text = true;
                        }
                        char *t = pr->text[pr->n_texts - 1];
                        for (s++; s < end && *s != '"'; s++) {
                                char c = *s;
                                if (c == '\\' && s + 1 < end) {
                                        s++;
                                        c = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
                                }
                                if (o + 1 < sizeof(pr->text[0]))
                                        t[o++] = c;
                        }
                        t[o] = '\0';
                        if (s >= end) {
                                pr->error = "an unterminated string literal";
                                return;
                        }
                        s++;
                } else {
                        pr->error = "something else than string literals";
                        return;
                }
        }
        if (!in_text && pr->n_texts)
                pr->error = "a comma at the end";
        else if (pr->n_texts != 2)
                pr->error = "not exactly two texts";
}

/* Every object-like W_ define of the header (at most MAX), into V. */
static size_t parse_header(const char *h, struct pair *v, size_t max) {
        size_t n = 0;
        for (const char *p = h; (p = strstr(p, "#define W_")) != NULL;) {
                if (p != h && p[-1] != '\n') {
                        p++;
                        continue;
                }
                const char *name = p + strlen("#define ");
                const char *q = name;
                while ((*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_')
                        q++;
                /* The end of the define: a newline not after a backslash. */
                const char *end = q;
                while (*end && !(*end == '\n' && end[-1] != '\\'))
                        end++;
                if (*q != '(' && n < max) {
                        struct pair *pr = &v[n++];
                        snprintf(pr->name, sizeof(pr->name), "%.*s", (int) (q - name), name);
                        parse_body(q, end, pr);
                }
                p = end;
        }
        return n;
}

static void test_every_pair(void **state) {
        (void) state;
        char *h = read_header();
        assert_non_null(h);
        static struct pair v[400];
        size_t n = parse_header(h, v, 400);
        free(h);
        /* The parser really saw the header: the names it must know. */
        assert_true(n > 100);
        assert_true(n < 400);
        bool seen_callout = false, seen_page = false;
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
                seen_callout |= strcmp(v[i].name, "W_CALLOUT_PREFIX") == 0;
                seen_page |= strcmp(v[i].name, "W_CHECK_LABEL") == 0;
                for (size_t k = 0; k < i; k++)
                        if (strcmp(v[i].name, v[k].name) == 0) {
                                print_error("%s: defined twice\n", v[i].name);
                                bad++;
                        }
                const char *why = v[i].error ? v[i].error : check_pair(v[i].text[0], v[i].text[1]);
                /* Some of the answer pages' words go into the HTML unescaped. */
                bool page = strncmp(v[i].name, "W_PAGE_", 7) == 0 || strncmp(v[i].name, "W_CHECK_", 8) == 0;
                if (!why && page && strpbrk(v[i].text[0], "<>&\"") != NULL)
                        why = "HTML markup in the bokmål text of a page";
                if (!why && page && strpbrk(v[i].text[1], "<>&\"") != NULL)
                        why = "HTML markup in the English text of a page";
                if (why) {
                        print_error("wording.h: %s: %s\n", v[i].name, why);
                        bad++;
                }
        }
        assert_true(seen_callout);
        assert_true(seen_page);
        assert_int_equal(bad, 0);
}

/* The checks catch what they are for. */
static void test_checker(void **state) {
        (void) state;
        static const char *const bad[][2] = {
                { "", "text" },
                { "tekst %s", "text %d" },
                { "tekst %s %s", "text %s" },
                { "to  mellomrom", "two spaces" },
                { "mellomrom .", "space." },
                { "komma, her", "comma , here" },
                { "Samme tekst", "Samme tekst" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_non_null(check_pair(bad[i][0], bad[i][1]));
        assert_null(check_pair("%s%s kalles inn: ", "%s%s call-out: "));
        assert_null(check_pair("%d %%", "%d %%"));
        assert_null(check_pair("\n  JA:  %s\n  NEI: %s", "\n  YES: %s\n  NO:  %s"));
        assert_null(check_pair("100%% %-5.2lf", "100%% %-5.2lf x"));

        struct pair pr;
        static const char ok[] = " \"a \" \"b\", \\\n \"c\"";
        parse_body(ok, ok + strlen(ok), &pr);
        assert_null(pr.error);
        assert_string_equal(pr.text[0], "a b");
        assert_string_equal(pr.text[1], "c");
        static const char three[] = " \"a\", \"b\", \"c\"", one[] = " \"a\"", other[] = " \"a\", B";
        parse_body(three, three + strlen(three), &pr);
        assert_non_null(pr.error);
        parse_body(one, one + strlen(one), &pr);
        assert_non_null(pr.error);
        parse_body(other, other + strlen(other), &pr);
        assert_non_null(pr.error);
}

/* A few texts composed as the daemon composes them, in both languages. */
static void test_composed(void **state) {
        (void) state;
        char buf[512];
        for (int i = 0; i < 2; i++) {
                bool en = i == 1;
                snprintf(buf, sizeof(buf), W(en, W_CALLOUT_PREFIX), W(en, W_DRILL_PREFIX), "Kriseteam Nord");
                assert_string_equal(buf, en ? "ØVELSE/DRILL: Kriseteam Nord call-out: " : "ØVELSE: Kriseteam Nord kalles inn: ");
                snprintf(buf, sizeof(buf), W(en, W_CALLOUT_REPLY), "4821", "4821");
                assert_string_equal(buf, en ? " Reply YES 4821 or NO 4821" : " Svar JA 4821 eller NEI 4821");
                snprintf(buf, sizeof(buf), W(en, W_RECEIPT_YES), "", 2, 3);
                assert_string_equal(buf, en ? "Recorded: you are coming. 2 of 3 confirmed."
                                            : "Registrert: du kommer. 2 av 3 bekreftet.");
                snprintf(buf, sizeof(buf), W(en, W_FU_UNREACHED_ONCE), "K-1", "kari");
                assert_string_equal(buf, en ? "K-1: not reached. Contact persons: kari."
                                            : "K-1: ikke nådd. Kontaktpersoner: kari.");
                snprintf(buf, sizeof(buf), W(en, W_FU_NOT_RECORDED_DAYS), "K-2", 3, "kari, ola");
                assert_string_equal(buf, en ? "K-2: follow-up not recorded after 3 days. Contact persons: kari, ola."
                                            : "K-2: oppfølging ikke registrert etter 3 dager. Kontaktpersoner: kari, ola.");
                snprintf(buf, sizeof(buf), W(en, W_PAGE_INSTEAD), W(en, W_PAGE_NO));
                assert_string_equal(buf, en ? "Answer NO instead" : "Svar NEI i stedet");
        }
        assert_string_equal(W_NB(W_PAGE_YES), "JA");
        assert_string_equal(W_EN(W_PAGE_YES), "YES");
        static const char *const table[] = { W_NB(W_PAGE_THANKS_TITLE), W_EN(W_PAGE_THANKS_TITLE) };
        assert_string_equal(table[0], "Takk, svaret er registrert");
        assert_string_equal(table[1], "Thank you, your answer is recorded");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_pair),
                cmocka_unit_test(test_checker),
                cmocka_unit_test(test_composed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
