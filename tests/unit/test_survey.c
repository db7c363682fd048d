/* test_survey.c - the absence survey's state (survey.h): people with codes
 * unique across surveys and tokens, answers (an OK after an absence keeps
 * the absence), messages recorded "sending" and marked done, lookups by
 * code (only the person's own), by token and by key; durable in the spool
 * across a reopen (a message still "sending" keeps its text for the resend),
 * broken files skipped and kept; the retention purge. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "survey.h"
#include "test.h"

static const struct ymd FROM = { 2026, 12, 18 }, TO = { 2027, 1, 3 };

static void test_id_and_people(void **state) {
        struct surveys *s;
        struct survey *sv, *sv2;
        struct survey_person *kari, *ola, *p;
        char id[SURVEY_ID_LEN + 1];

        survey_id_of(FROM, TO, id);
        assert_string_equal(id, "s20261218-20270103");
        assert_int_equal(surveys_new(NULL, &s, NULL), 0);
        assert_int_equal(surveys_create(s, "Jul og nyttår", FROM, TO, U(2026, 12, 4, 9, 0), false, &sv), 0);
        assert_int_equal(surveys_create(s, "Jul", FROM, TO, 1, true, &sv2), -EEXIST);
        assert_ptr_equal(surveys_get(s, id), sv);
        assert_int_equal(survey_add_chain(sv, "kriseteam"), 0);
        assert_int_equal(survey_add_chain(sv, "kriseteam"), 0);
        assert_int_equal(sv->n_chains, 1);
        assert_true(survey_has_chain(sv, "kriseteam"));
        assert_false(survey_has_chain(sv, "other"));

        assert_int_equal(survey_add_person(s, sv, "kari", &kari), 0);
        assert_int_equal(survey_add_person(s, sv, "kari", &p), -EEXIST);
        assert_int_equal(strlen(kari->code), SURVEY_CODE_LEN);
        assert_true(kari->code[0] >= '1');
        assert_int_equal(strlen(kari->token), SURVEY_TOKEN_LEN);
        /* Codes are unique across every survey kept: 300 people in two. */
        assert_int_equal(surveys_create(s, "Påske", (struct ymd) { 2027, 3, 25 }, (struct ymd) { 2027, 3, 29 }, 1, true,
                                        &sv2),
                         0);
        for (int i = 0; i < 300; i++) {
                char who[16];
                snprintf(who, sizeof(who), "p%d", i);
                assert_int_equal(survey_add_person(s, i % 2 ? sv : sv2, who, NULL), 0);
        }
        for (size_t a = 0; a < surveys_count(s); a++)
                for (size_t i = 0; i < surveys_at(s, a)->n_people; i++)
                        for (size_t b = 0; b < surveys_count(s); b++)
                                for (size_t k = 0; k < surveys_at(s, b)->n_people; k++)
                                        if (a != b || i != k)
                                                assert_string_not_equal(surveys_at(s, a)->people[i].code,
                                                                        surveys_at(s, b)->people[k].code);
        kari = survey_person(sv, "kari"); /* the array may have moved */
        assert_int_equal(survey_add_person(s, sv, "ola", &ola), 0);
        kari = survey_person(sv, "kari");
        kari->asks = 1;
        ola->asks = 1;

        /* A code finds only its own person's ask. */
        assert_ptr_equal(surveys_by_code(s, kari->code, "kari", &p), sv);
        assert_ptr_equal(p, kari);
        assert_null(surveys_by_code(s, kari->code, "ola", &p));
        assert_null(surveys_by_code(s, "000000", "kari", &p));
        assert_ptr_equal(surveys_by_token(s, ola->token, &p), sv);
        assert_ptr_equal(p, ola);
        assert_null(surveys_by_token(s, "0123456789abcdef0123456789abcdef", &p));
        assert_null(surveys_by_token(s, "../../etc/passwd", &p));

        /* Open for ola until the period's last day. */
        assert_int_equal(surveys_open_for(s, "ola", (struct ymd) { 2026, 12, 10 }, &sv2), 1);
        assert_ptr_equal(sv2, sv);
        assert_int_equal(surveys_open_for(s, "ola", (struct ymd) { 2027, 1, 3 }, NULL), 1);
        assert_int_equal(surveys_open_for(s, "ola", (struct ymd) { 2027, 1, 4 }, NULL), 0);
        assert_int_equal(surveys_open_for(s, "per", (struct ymd) { 2026, 12, 10 }, NULL), 0);

        /* Answers: an OK after an absence keeps "away". */
        unsigned asked, answered, away;
        survey_answer(kari, SURVEY_AWAY, "sms", 5);
        survey_answer(kari, SURVEY_OK, "email", 6);
        assert_int_equal(kari->answer, SURVEY_AWAY);
        assert_string_equal(kari->via, "email");
        survey_answer(ola, SURVEY_OK, "sms", 7);
        survey_counts(sv, &asked, &answered, &away);
        assert_int_equal(asked, 2);
        assert_int_equal(answered, 2);
        assert_int_equal(away, 1);

        /* The JSON for beredctl has no code and no token. */
        json_t *o = survey_json(sv, true);
        char *txt = json_dumps(o, 0);
        assert_null(strstr(txt, kari->code));
        assert_null(strstr(txt, kari->token));
        assert_non_null(strstr(txt, "\"kari\""));
        free(txt);
        json_decref(o);
        o = survey_json(sv, false);
        assert_null(json_object_get(o, "people"));
        json_decref(o);
        surveys_free(s);
}

static void test_durable(void **state) {
        char root[256];
        struct store *st;
        struct surveys *s;
        struct survey *sv;
        struct survey_person *kari;
        struct survey_msg *m1, *m2;
        unsigned broken = 9;

        test_dir_make(root, "test_survey");
        assert_int_equal(store_open(root, &st, NULL), 0);
        assert_int_equal(surveys_new(st, &s, &broken), 0);
        assert_int_equal(broken, 0);
        assert_int_equal(surveys_create(s, "Jul og nyttår", FROM, TO, U(2026, 12, 4, 9, 0), false, &sv), 0);
        sv->remind_at = U(2026, 12, 7, 9, 0);
        sv->close_at = U(2026, 12, 10, 9, 0);
        assert_int_equal(survey_add_chain(sv, "kriseteam"), 0);
        assert_int_equal(survey_add_person(s, sv, "kari", &kari), 0);
        kari->asks = 1;
        char code[SURVEY_CODE_LEN + 1], token[SURVEY_TOKEN_LEN + 1];
        memcpy(code, kari->code, sizeof(code));
        memcpy(token, kari->token, sizeof(token));
        assert_int_equal(survey_msg_add(sv, "kari", CHANNEL_SMS, SURVEY_MSG_ASK, NULL, "Kriseteamet – ask", 10, &m1), 0);
        assert_int_equal(survey_msg_add(sv, "kari", CHANNEL_EMAIL, SURVEY_MSG_ASK, "Emne", "Brødtekst", 10, &m2), 0);
        char key1[64], key2[64];
        snprintf(key1, sizeof(key1), "%s", sv->msgs[0].key);
        snprintf(key2, sizeof(key2), "%s", sv->msgs[1].key);
        assert_string_equal(key1, "sv.s20261218-20270103.0");
        assert_string_equal(key2, "sv.s20261218-20270103.1");
        survey_msg_done(&sv->msgs[0], true);
        assert_null(sv->msgs[0].text);
        json_object_set_new(sv->told, "kriseteam", json_pack("[s]", "2026-12-24/day"));
        assert_int_equal(survey_save(s, sv), 0);
        surveys_free(s);

        /* Reopened: the same; the message still "sending" has its text. */
        assert_int_equal(surveys_new(st, &s, &broken), 0);
        assert_int_equal(broken, 0);
        assert_int_equal(surveys_count(s), 1);
        sv = surveys_at(s, 0);
        assert_string_equal(sv->period, "Jul og nyttår");
        assert_int_equal(sv->remind_at, U(2026, 12, 7, 9, 0));
        assert_int_equal(sv->close_at, U(2026, 12, 10, 9, 0));
        assert_int_equal(sv->n_chains, 1);
        kari = survey_person(sv, "kari");
        assert_non_null(kari);
        assert_string_equal(kari->code, code);
        assert_string_equal(kari->token, token);
        assert_int_equal(kari->asks, 1);
        assert_int_equal(sv->n_msgs, 2);
        struct survey *owner;
        m1 = surveys_msg(s, key1, &owner);
        assert_ptr_equal(owner, sv);
        assert_int_equal(m1->state, SURVEY_MSG_SENT);
        m2 = surveys_msg(s, key2, NULL);
        assert_int_equal(m2->state, SURVEY_MSG_SENDING);
        assert_int_equal(m2->ch, CHANNEL_EMAIL);
        assert_string_equal(m2->subject, "Emne");
        assert_string_equal(m2->text, "Brødtekst");
        assert_null(surveys_msg(s, "sv.nosuch.0", NULL));
        /* The next key goes on from the last. */
        assert_int_equal(survey_msg_add(sv, "kari", CHANNEL_SMS, SURVEY_MSG_REMIND, NULL, "igjen", 11, &m1), 0);
        assert_string_equal(m1->key, "sv.s20261218-20270103.2");
        assert_true(json_is_array(json_object_get(sv->told, "kriseteam")));

        /* Broken files are skipped and kept: bad JSON, a name that is not
         * its id, a code of the wrong shape, a message "sending" without text. */
        int dfd = store_dirfd(st, STORE_SURVEYS);
        static const char *const bad[][2] = {
                { "s20270325-20270329.json", "{" },
                { "s20270401-20270402.json",
                  "{\"survey\":\"s20270401-20270403\",\"period\":\"x\",\"from\":\"2027-04-01\",\"to\":\"2027-04-03\",\"chains\":[],\"people\":[],\"messages\":[]}" },
                { "s20270501-20270502.json",
                  "{\"survey\":\"s20270501-20270502\",\"period\":\"x\",\"from\":\"2027-05-01\",\"to\":\"2027-05-02\",\"chains\":[],"
                  "\"people\":[{\"person\":\"a\",\"code\":\"12x456\",\"token\":\"0123456789abcdef0123456789abcdef\",\"asks\":1,\"answer\":\"none\"}],\"messages\":[]}" },
                { "s20270601-20270602.json",
                  "{\"survey\":\"s20270601-20270602\",\"period\":\"x\",\"from\":\"2027-06-01\",\"to\":\"2027-06-02\",\"chains\":[],\"people\":[],"
                  "\"messages\":[{\"key\":\"k\",\"person\":\"a\",\"channel\":\"sms\",\"kind\":\"ask\",\"state\":\"sending\"}]}" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                FILE *f = fdopen(openat(dfd, bad[i][0], O_WRONLY | O_CREAT | O_TRUNC, 0640), "w");
                assert_non_null(f);
                fputs(bad[i][1], f);
                fclose(f);
        }
        surveys_free(s);
        assert_int_equal(surveys_new(st, &s, &broken), 0);
        assert_int_equal(broken, ELEMENTSOF(bad));
        assert_int_equal(surveys_count(s), 1);

        /* Retention: purged when the period ended before the day given. */
        unsigned n = 9;
        assert_int_equal(surveys_purge(s, (struct ymd) { 2027, 1, 3 }, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(surveys_purge(s, (struct ymd) { 2027, 1, 4 }, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(surveys_count(s), 0);
        surveys_free(s);
        assert_int_equal(surveys_new(st, &s, &broken), 0);
        assert_int_equal(surveys_count(s), 0);
        surveys_free(s);
        store_free(st);
        assert_int_equal(test_dir_remove(root), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_id_and_people),
                cmocka_unit_test(test_durable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
