/* survey.h - the absence survey before a heightened period ("Jul og nyttår
 * 18.12–3.1: er du borte noen dager?"): whom it asked, with which code and
 * answer link, what they answered, and the messages it sent.
 *
 * One survey per heightened period (its id names the period's dates, so a
 * reload that renames the period keeps the survey), covering one or more
 * chains: a person on two chains is asked once, since an absence is the
 * person's, not the chain's. One JSON file per survey in spool/surveys/,
 * written as every spool file is (tmp/ + fsync + rename + folder fsync).
 *
 * Messages are recorded here ("sending") before they are handed to a
 * gateway, and marked "sent" or "failed" when the gateway has answered; a
 * message found "sending" at start is sent again with the same key (the
 * process died while it was out). The text is dropped once it is out.
 *
 * Personal data: person ids, codes, answer tokens, answer times and the
 * texts of messages not yet out. Never on MQTT (survey_json without people
 * gives counts only); removed after the period's end plus a retention.
 * Functions return 0 (or a count) or -errno and do not log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "store.h"

#define SURVEY_ID_LEN     18      /* "s20261218-20270103" */
#define SURVEY_CODE_LEN   6       /* the SMS code: OK 482913 */
#define SURVEY_TOKEN_LEN  32      /* the e-mail link: 128 bits in hex */
#define SURVEYS_MAX       64      /* surveys kept at once */
#define SURVEY_PEOPLE_MAX 10000
#define SURVEY_MSGS_MAX   (4 * SURVEY_PEOPLE_MAX + 1000)

enum survey_answer {
        SURVEY_UNANSWERED,
        SURVEY_OK,   /* can be reached the whole period (outside what they reported away) */
        SURVEY_AWAY, /* reported an absence in the period */
};
const char *survey_answer_name(enum survey_answer a); /* "none", "ok", "away" */

enum survey_msg_kind {
        SURVEY_MSG_ASK,      /* the first ask */
        SURVEY_MSG_REMIND,   /* the second ask, to those who had not answered */
        SURVEY_MSG_FORECAST, /* the forecast to a leader when the survey closes */
        SURVEY_MSG_NEWS,     /* to a leader: an absence turned a day uncoverable */
        _SURVEY_MSG_MAX,
};

enum survey_msg_state {
        SURVEY_MSG_SENDING,
        SURVEY_MSG_SENT,
        SURVEY_MSG_FAILED,
};

struct survey_msg {
        char *key;     /* the gateway key: "sv.<survey>.<n>" */
        char *person;
        enum channel ch; /* CHANNEL_SMS or CHANNEL_EMAIL */
        enum survey_msg_kind kind;
        enum survey_msg_state state;
        char *subject; /* e-mail only; NULL once out */
        char *text;    /* NULL once out */
        uint64_t at;   /* when it was recorded */
        bool handed;   /* in memory only: with a gateway now (its answer not in) */
};

struct survey_person {
        char *person;
        char code[SURVEY_CODE_LEN + 1];
        char token[SURVEY_TOKEN_LEN + 1];
        unsigned asks; /* 1: asked, 2: reminded too */
        enum survey_answer answer;
        uint64_t answered; /* usec, 0: not yet */
        char via[8];       /* "sms", "email" */
};

struct survey {
        char id[SURVEY_ID_LEN + 1];
        char *period;         /* the period's name when the survey opened */
        struct ymd from, to;  /* the period (inclusive local days) */
        char **chains;        /* chain ids, in the order they were added */
        size_t n_chains;
        bool manual;          /* opened by "beredctl survey", not by survey_before */
        uint64_t opened;      /* usec */
        uint64_t remind_at;   /* the second ask is due (0: none) */
        uint64_t close_at;    /* the forecast is due, if not everyone answered before */
        uint64_t reminded;    /* 0: not yet */
        uint64_t closed;      /* 0: not yet */
        struct survey_person *people;
        size_t n_people;
        struct survey_msg *msgs;
        size_t n_msgs;
        unsigned msg_seq;     /* the next message's number in its key */
        /* chain id -> [ "YYYY-MM-DD/part", ... ]: the parts the leader was
         * last told could not be covered (set at close) */
        json_t *told;
        bool dirty; /* in memory only: changed since the last save */
};

struct surveys;

/* Load every survey in the spool's surveys/ folder (STORE NULL: in memory
 * only, for tests). A file that cannot be read is skipped, counted in
 * *RET_BROKEN, and kept. */
int surveys_new(struct store *store, struct surveys **ret, unsigned *ret_broken);
void surveys_free(struct surveys *s);

size_t surveys_count(const struct surveys *s);
struct survey *surveys_at(struct surveys *s, size_t i);
struct survey *surveys_get(struct surveys *s, const char *id);

/* "s20261218-20270103" for the period FROM..TO. */
void survey_id_of(struct ymd from, struct ymd to, char id[static SURVEY_ID_LEN + 1]);

/* A new survey of the period FROM..TO named PERIOD, opened at OPENED (in
 * memory until survey_save). -EEXIST when there is one, -E2BIG over
 * SURVEYS_MAX. */
int surveys_create(struct surveys *s, const char *period, struct ymd from, struct ymd to, uint64_t opened, bool manual,
                   struct survey **ret);
/* Add chain CHAIN (no-op when there). */
int survey_add_chain(struct survey *sv, const char *chain);
bool survey_has_chain(const struct survey *sv, const char *chain);
/* PERSON's entry, or NULL. */
struct survey_person *survey_person(struct survey *sv, const char *person);
const struct survey_person *survey_person_const(const struct survey *sv, const char *person);
/* Add PERSON with a fresh code (unique among every survey kept) and token.
 * -EEXIST when there. */
int survey_add_person(struct surveys *s, struct survey *sv, const char *person, struct survey_person **ret);

/* Record a message to send (state "sending"); the key is made here. */
int survey_msg_add(struct survey *sv, const char *person, enum channel ch, enum survey_msg_kind kind,
                   const char *subject, const char *text, uint64_t now, struct survey_msg **ret);
/* The message KEY of any survey, or NULL (*RET_SV gets its survey). */
struct survey_msg *surveys_msg(struct surveys *s, const char *key, struct survey **ret_sv);
/* Message M is out (SENT) or given up (FAILED): its text is dropped. */
void survey_msg_done(struct survey_msg *m, bool sent);

/* The survey and entry asked PERSON with CODE, or NULL. */
struct survey *surveys_by_code(struct surveys *s, const char *code, const char *person, struct survey_person **ret);
/* The survey and entry of answer link TOKEN, or NULL. */
struct survey *surveys_by_token(struct surveys *s, const char *token, struct survey_person **ret);
/* Surveys that asked PERSON and whose period has not ended at local day
 * TODAY; *RET the last of them (may be NULL). */
unsigned surveys_open_for(struct surveys *s, const char *person, struct ymd today, struct survey **ret);

/* PERSON answered ANSWER via VIA at NOW. An "ok" after an "away" keeps
 * "away" (the absence stands). */
void survey_answer(struct survey_person *p, enum survey_answer answer, const char *via, uint64_t now);
/* Counts: asked, answered, away. */
void survey_counts(const struct survey *sv, unsigned *asked, unsigned *answered, unsigned *away);

/* Write SV durably. */
int survey_save(struct surveys *s, const struct survey *sv);
/* Remove every survey whose period ended before local day BEFORE (after
 * the retention): *RET_N gets the count. */
int surveys_purge(struct surveys *s, struct ymd before, unsigned *ret_n);

/* Fuzzing: read DATA as a survey file named after the id it holds; when it
 * is one, write it back and read that again, which must give the same file.
 * 0 (read and round-tripped), -EBADMSG (not a survey file), -ENOMEM; abort()s
 * when the round trip differs. */
int survey_file_check(const char *data, size_t len);

/* SV as JSON: id, period, from, to, chains, opened/remind_at/close_at/
 * reminded/closed (usec), counts; WITH_PEOPLE adds people [ {person,
 * answer, asks, answered_usec, via} ] (beredctl; never codes or tokens). */
json_t *survey_json(const struct survey *sv, bool with_people);
