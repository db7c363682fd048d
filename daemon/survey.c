/* survey.c - the absence surveys kept in memory, one spool file each
 * (survey.h). A municipality has a survey or two a year of some dozens of
 * people, so lookups are linear scans. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "macro.h"
#include "survey.h"
#include "time-util.h"

#define FILE_MAX (16 * 1024 * 1024)

struct surveys {
        struct store *store;
        struct survey **v;
        size_t n;
};

static const char *const answer_names[] = {
        [SURVEY_UNANSWERED] = "none",
        [SURVEY_OK] = "ok",
        [SURVEY_AWAY] = "away",
};
static const char *const kind_names[] = {
        [SURVEY_MSG_ASK] = "ask",
        [SURVEY_MSG_REMIND] = "remind",
        [SURVEY_MSG_FORECAST] = "forecast",
        [SURVEY_MSG_NEWS] = "news",
};
static const char *const state_names[] = {
        [SURVEY_MSG_SENDING] = "sending",
        [SURVEY_MSG_SENT] = "sent",
        [SURVEY_MSG_FAILED] = "failed",
};

const char *survey_answer_name(enum survey_answer a) {
        return (unsigned) a < ELEMENTSOF(answer_names) ? answer_names[a] : "none";
}

static void msg_done(struct survey_msg *m) {
        free(m->key);
        free(m->person);
        free(m->subject);
        free(m->text);
}

static void survey_free(struct survey *sv) {
        if (!sv)
                return;
        free(sv->period);
        for (size_t i = 0; i < sv->n_chains; i++)
                free(sv->chains[i]);
        free(sv->chains);
        for (size_t i = 0; i < sv->n_people; i++)
                free(sv->people[i].person);
        free(sv->people);
        for (size_t i = 0; i < sv->n_msgs; i++)
                msg_done(&sv->msgs[i]);
        free(sv->msgs);
        json_decref(sv->told);
        free(sv);
}

void survey_id_of(struct ymd from, struct ymd to, char id[static SURVEY_ID_LEN + 1]) {
        snprintf(id, SURVEY_ID_LEN + 1, "s%04u%02u%02u-%04u%02u%02u", (unsigned) from.y % 10000u,
                 (unsigned) from.m % 100u, (unsigned) from.d % 100u, (unsigned) to.y % 10000u, (unsigned) to.m % 100u,
                 (unsigned) to.d % 100u);
}

static bool digits_ok(const char *s, size_t n) {
        if (!s || strlen(s) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static bool hex_ok(const char *s, size_t n) {
        if (!s || strlen(s) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* ---- JSON ---- */

static json_t *date_json(struct ymd d) {
        char b[16];
        time_format_date(d, b, sizeof(b));
        return json_string(b);
}

static json_t *file_json(const struct survey *sv) {
        json_t *o = survey_json(sv, false), *people = json_array(), *msgs = json_array();
        if (!o || !people || !msgs) {
                json_decref(o);
                json_decref(people);
                json_decref(msgs);
                return NULL;
        }
        for (size_t i = 0; i < sv->n_people; i++) {
                const struct survey_person *p = &sv->people[i];
                json_array_append_new(people, json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:s}", "person", p->person,
                                                        "code", p->code, "token", p->token, "asks", (int) p->asks,
                                                        "answer", survey_answer_name(p->answer), "answered_usec",
                                                        (json_int_t) p->answered, "via", p->via));
        }
        for (size_t i = 0; i < sv->n_msgs; i++) {
                const struct survey_msg *m = &sv->msgs[i];
                json_t *x = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "key", m->key, "person", m->person, "channel",
                                      channel_name(m->ch), "kind", kind_names[m->kind], "state", state_names[m->state],
                                      "at_usec", (json_int_t) m->at);
                if (x && m->subject)
                        json_object_set_new(x, "subject", json_string(m->subject));
                if (x && m->text)
                        json_object_set_new(x, "text", json_string(m->text));
                json_array_append_new(msgs, x);
        }
        json_object_set_new(o, "people", people);
        json_object_set_new(o, "messages", msgs);
        json_object_set_new(o, "msg_seq", json_integer(sv->msg_seq));
        json_object_set_new(o, "told", sv->told ? json_incref(sv->told) : json_object());
        return o;
}

json_t *survey_json(const struct survey *sv, bool with_people) {
        unsigned asked, answered, away;
        json_t *chains = json_array();
        for (size_t i = 0; i < sv->n_chains; i++)
                json_array_append_new(chains, json_string(sv->chains[i]));
        survey_counts(sv, &asked, &answered, &away);
        json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:i}", "survey", sv->id,
                              "period", sv->period, "from", date_json(sv->from), "to", date_json(sv->to), "chains",
                              chains, "manual", sv->manual, "opened_usec", (json_int_t) sv->opened, "remind_at_usec",
                              (json_int_t) sv->remind_at, "close_at_usec", (json_int_t) sv->close_at,
                              "reminded_usec", (json_int_t) sv->reminded, "closed_usec", (json_int_t) sv->closed,
                              "asked", (int) asked, "answered", (int) answered, "away", (int) away);
        if (!o || !with_people)
                return o;
        json_t *arr = json_array();
        for (size_t i = 0; i < sv->n_people; i++) {
                const struct survey_person *p = &sv->people[i];
                json_t *x = json_pack("{s:s, s:s, s:i}", "person", p->person, "answer", survey_answer_name(p->answer),
                                      "asks", (int) p->asks);
                if (x && p->answered) {
                        json_object_set_new(x, "answered_usec", json_integer((json_int_t) p->answered));
                        json_object_set_new(x, "via", json_string(p->via));
                }
                json_array_append_new(arr, x);
        }
        json_object_set_new(o, "people", arr);
        return o;
}

static uint64_t get_usec(const json_t *o, const char *name) {
        json_int_t v = json_integer_value(json_object_get(o, name));
        return v > 0 ? (uint64_t) v : 0;
}

static int parse_people(struct survey *sv, const json_t *arr) {
        size_t i;
        json_t *x;
        if (!json_is_array(arr) || json_array_size(arr) > SURVEY_PEOPLE_MAX)
                return -EBADMSG;
        sv->people = calloc(json_array_size(arr) + 1, sizeof(*sv->people));
        if (!sv->people)
                return -ENOMEM;
        json_array_foreach(arr, i, x) {
                struct survey_person *p = &sv->people[sv->n_people];
                const char *person = json_string_value(json_object_get(x, "person"));
                const char *code = json_string_value(json_object_get(x, "code"));
                const char *token = json_string_value(json_object_get(x, "token"));
                const char *via = json_string_value(json_object_get(x, "via"));
                int a = string_table_lookup(answer_names, ELEMENTSOF(answer_names),
                                            json_string_value(json_object_get(x, "answer")));
                json_int_t asks = json_integer_value(json_object_get(x, "asks"));
                if (!id_is_safe(person) || !digits_ok(code, SURVEY_CODE_LEN) || !hex_ok(token, SURVEY_TOKEN_LEN) ||
                    a < 0 || asks < 0 || asks > 2)
                        return -EBADMSG;
                if (!(p->person = strdup(person)))
                        return -ENOMEM;
                memcpy(p->code, code, SURVEY_CODE_LEN + 1);
                memcpy(p->token, token, SURVEY_TOKEN_LEN + 1);
                p->asks = (unsigned) asks;
                p->answer = (enum survey_answer) a;
                p->answered = get_usec(x, "answered_usec");
                snprintf(p->via, sizeof(p->via), "%s", via && id_is_safe(via) ? via : "");
                sv->n_people++;
        }
        return 0;
}

static int parse_msgs(struct survey *sv, const json_t *arr) {
        size_t i;
        json_t *x;
        if (!json_is_array(arr) || json_array_size(arr) > SURVEY_MSGS_MAX)
                return -EBADMSG;
        sv->msgs = calloc(json_array_size(arr) + 1, sizeof(*sv->msgs));
        if (!sv->msgs)
                return -ENOMEM;
        json_array_foreach(arr, i, x) {
                struct survey_msg *m = &sv->msgs[sv->n_msgs];
                const char *key = json_string_value(json_object_get(x, "key"));
                const char *person = json_string_value(json_object_get(x, "person"));
                const char *ch = json_string_value(json_object_get(x, "channel"));
                const char *subject = json_string_value(json_object_get(x, "subject"));
                const char *text = json_string_value(json_object_get(x, "text"));
                int k = string_table_lookup(kind_names, ELEMENTSOF(kind_names), json_string_value(json_object_get(x, "kind")));
                int st = string_table_lookup(state_names, ELEMENTSOF(state_names),
                                             json_string_value(json_object_get(x, "state")));
                if (!id_is_safe(key) || !id_is_safe(person) || !ch || (!streq(ch, "sms") && !streq(ch, "email")) ||
                    k < 0 || st < 0 || (st == SURVEY_MSG_SENDING && !text))
                        return -EBADMSG;
                *m = (struct survey_msg) { .ch = streq(ch, "sms") ? CHANNEL_SMS : CHANNEL_EMAIL,
                                           .kind = (enum survey_msg_kind) k, .state = (enum survey_msg_state) st,
                                           .at = get_usec(x, "at_usec") };
                m->key = strdup(key);
                m->person = strdup(person);
                m->subject = subject ? strdup(subject) : NULL;
                m->text = text ? strdup(text) : NULL;
                sv->n_msgs++;
                if (!m->key || !m->person || (subject && !m->subject) || (text && !m->text))
                        return -ENOMEM;
        }
        return 0;
}

static int parse_one(const char *data, size_t len, const char *name, struct survey **ret) {
        json_t *o = json_loadb(data, len, 0, NULL);
        struct survey *sv = calloc(1, sizeof(*sv));
        const char *id = json_string_value(json_object_get(o, "survey"));
        const char *period = json_string_value(json_object_get(o, "period"));
        json_t *chains = json_object_get(o, "chains"), *c;
        char want[SURVEY_ID_LEN + 8];
        size_t i;
        int r = -EBADMSG;

        if (!sv) {
                json_decref(o);
                return -ENOMEM;
        }
        if (!json_is_object(o) || !id || strlen(id) != SURVEY_ID_LEN || !period || !json_is_array(chains) ||
            parse_date(json_string_value(json_object_get(o, "from")), &sv->from) < 0 ||
            parse_date(json_string_value(json_object_get(o, "to")), &sv->to) < 0)
                goto out;
        if (ymd_cmp(sv->from, sv->to) > 0)
                goto out;
        survey_id_of(sv->from, sv->to, sv->id);
        snprintf(want, sizeof(want), "%s.json", sv->id);
        if (!streq(sv->id, id) || !streq(want, name))
                goto out;
        r = -ENOMEM;
        if (!(sv->period = strdup(period)))
                goto out;
        sv->manual = json_is_true(json_object_get(o, "manual"));
        sv->opened = get_usec(o, "opened_usec");
        sv->remind_at = get_usec(o, "remind_at_usec");
        sv->close_at = get_usec(o, "close_at_usec");
        sv->reminded = get_usec(o, "reminded_usec");
        sv->closed = get_usec(o, "closed_usec");
        sv->msg_seq = (unsigned) json_integer_value(json_object_get(o, "msg_seq"));
        json_array_foreach(chains, i, c) {
                r = id_is_safe(json_string_value(c)) ? survey_add_chain(sv, json_string_value(c)) : -EBADMSG;
                if (r < 0)
                        goto out;
        }
        if ((r = parse_people(sv, json_object_get(o, "people"))) < 0 ||
            (r = parse_msgs(sv, json_object_get(o, "messages"))) < 0)
                goto out;
        /* Keys are never used twice, even if the count was lost. */
        if (sv->msg_seq < sv->n_msgs)
                sv->msg_seq = (unsigned) sv->n_msgs;
        for (size_t k = 0; k < sv->n_msgs; k++) {
                const char *dot = strrchr(sv->msgs[k].key, '.');
                unsigned long n = dot ? strtoul(dot + 1, NULL, 10) : 0;
                if (n < UINT32_MAX && n >= sv->msg_seq)
                        sv->msg_seq = (unsigned) n + 1;
        }
        sv->told = json_is_object(json_object_get(o, "told")) ? json_incref(json_object_get(o, "told")) : json_object();
        r = sv->told ? 0 : -ENOMEM;
out:
        json_decref(o);
        if (r < 0)
                survey_free(sv);
        else
                *ret = sv;
        return r;
}

/* ---- the set ---- */

static int push(struct surveys *s, struct survey *sv) {
        if (s->n >= SURVEYS_MAX)
                return -E2BIG;
        struct survey **v = realloc(s->v, (s->n + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        s->v = v;
        s->v[s->n++] = sv;
        return 0;
}

int surveys_new(struct store *store, struct surveys **ret, unsigned *ret_broken) {
        struct surveys *s = calloc(1, sizeof(*s));
        unsigned broken = 0;
        int r = 0;
        if (!s)
                return -ENOMEM;
        s->store = store;
        if (store) {
                struct store_folder *f;
                char *buf = NULL;
                size_t cap = 0, len;
                r = store_folder_open(store, STORE_SURVEYS, NULL, &f);
                if (r < 0) {
                        free(s);
                        return r;
                }
                for (const char *name; r >= 0 && (name = store_folder_next(f));) {
                        struct survey *sv = NULL;
                        if (store_folder_read(f, name, FILE_MAX, &buf, &cap, &len) < 0 ||
                            parse_one(buf, len, name, &sv) < 0 || surveys_get(s, sv->id)) {
                                survey_free(sv);
                                broken++;
                                continue;
                        }
                        if ((r = push(s, sv)) < 0)
                                survey_free(sv);
                }
                free(buf);
                store_folder_close(f);
                if (r < 0) {
                        surveys_free(s);
                        return r;
                }
        }
        if (ret_broken)
                *ret_broken = broken;
        *ret = s;
        return 0;
}

void surveys_free(struct surveys *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                survey_free(s->v[i]);
        free(s->v);
        free(s);
}

size_t surveys_count(const struct surveys *s) {
        return s ? s->n : 0;
}

struct survey *surveys_at(struct surveys *s, size_t i) {
        return s && i < s->n ? s->v[i] : NULL;
}

struct survey *surveys_get(struct surveys *s, const char *id) {
        for (size_t i = 0; s && id && i < s->n; i++)
                if (streq(s->v[i]->id, id))
                        return s->v[i];
        return NULL;
}

int surveys_create(struct surveys *s, const char *period, struct ymd from, struct ymd to, uint64_t opened, bool manual,
                   struct survey **ret) {
        char id[SURVEY_ID_LEN + 1];
        survey_id_of(from, to, id);
        if (surveys_get(s, id))
                return -EEXIST;
        struct survey *sv = calloc(1, sizeof(*sv));
        if (!sv)
                return -ENOMEM;
        memcpy(sv->id, id, sizeof(id));
        sv->period = strdup(period);
        sv->told = json_object();
        sv->from = from;
        sv->to = to;
        sv->opened = opened;
        sv->manual = manual;
        int r = sv->period && sv->told ? push(s, sv) : -ENOMEM;
        if (r < 0) {
                survey_free(sv);
                return r;
        }
        *ret = sv;
        return 0;
}

bool survey_has_chain(const struct survey *sv, const char *chain) {
        for (size_t i = 0; i < sv->n_chains; i++)
                if (streq(sv->chains[i], chain))
                        return true;
        return false;
}

int survey_add_chain(struct survey *sv, const char *chain) {
        if (survey_has_chain(sv, chain))
                return 0;
        char **v = realloc(sv->chains, (sv->n_chains + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        sv->chains = v;
        if (!(v[sv->n_chains] = strdup(chain)))
                return -ENOMEM;
        sv->n_chains++;
        return 0;
}

static ssize_t person_index(const struct survey *sv, const char *person) {
        for (size_t i = 0; person && i < sv->n_people; i++)
                if (streq(sv->people[i].person, person))
                        return (ssize_t) i;
        return -1;
}

struct survey_person *survey_person(struct survey *sv, const char *person) {
        ssize_t i = person_index(sv, person);
        return i < 0 ? NULL : &sv->people[i];
}

const struct survey_person *survey_person_const(const struct survey *sv, const char *person) {
        ssize_t i = person_index(sv, person);
        return i < 0 ? NULL : &sv->people[i];
}

static bool code_used(struct surveys *s, const char *code) {
        for (size_t i = 0; i < s->n; i++)
                for (size_t k = 0; k < s->v[i]->n_people; k++)
                        if (streq(s->v[i]->people[k].code, code))
                                return true;
        return false;
}

int survey_add_person(struct surveys *s, struct survey *sv, const char *person, struct survey_person **ret) {
        uint8_t rnd[16];
        uint32_t n;
        if (survey_person(sv, person))
                return -EEXIST;
        if (sv->n_people >= SURVEY_PEOPLE_MAX)
                return -E2BIG;
        struct survey_person *v = realloc(sv->people, (sv->n_people + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        sv->people = v;
        struct survey_person *p = &v[sv->n_people];
        *p = (struct survey_person) {};
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return -EIO;
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(p->token + 2 * i, 3, "%02x", rnd[i]);
        /* 100000..999999, not one kept already (a code names one person's ask) */
        for (unsigned tries = 0;; tries++) {
                if (tries == 100 || getrandom(&n, sizeof(n), 0) != (ssize_t) sizeof(n))
                        return -EIO;
                snprintf(p->code, sizeof(p->code), "%06" PRIu32, 100000 + n % 900000);
                if (!code_used(s, p->code))
                        break;
        }
        if (!(p->person = strdup(person)))
                return -ENOMEM;
        sv->n_people++;
        if (ret)
                *ret = p;
        return 0;
}

int survey_msg_add(struct survey *sv, const char *person, enum channel ch, enum survey_msg_kind kind,
                   const char *subject, const char *text, uint64_t now, struct survey_msg **ret) {
        char key[64];
        if (sv->n_msgs >= SURVEY_MSGS_MAX)
                return -E2BIG;
        struct survey_msg *v = realloc(sv->msgs, (sv->n_msgs + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        sv->msgs = v;
        snprintf(key, sizeof(key), "sv.%s.%u", sv->id, sv->msg_seq);
        struct survey_msg *m = &v[sv->n_msgs];
        *m = (struct survey_msg) { .ch = ch, .kind = kind, .state = SURVEY_MSG_SENDING, .at = now };
        m->key = strdup(key);
        m->person = strdup(person);
        m->subject = subject ? strdup(subject) : NULL;
        m->text = strdup(text);
        if (!m->key || !m->person || !m->text || (subject && !m->subject)) {
                msg_done(m);
                return -ENOMEM;
        }
        sv->msg_seq++;
        sv->n_msgs++;
        sv->dirty = true; /* nothing recorded goes out before it is saved */
        if (ret)
                *ret = m;
        return 0;
}

struct survey_msg *surveys_msg(struct surveys *s, const char *key, struct survey **ret_sv) {
        for (size_t i = 0; s && key && i < s->n; i++)
                for (size_t k = 0; k < s->v[i]->n_msgs; k++)
                        if (streq(s->v[i]->msgs[k].key, key)) {
                                if (ret_sv)
                                        *ret_sv = s->v[i];
                                return &s->v[i]->msgs[k];
                        }
        return NULL;
}

void survey_msg_done(struct survey_msg *m, bool sent) {
        m->state = sent ? SURVEY_MSG_SENT : SURVEY_MSG_FAILED;
        free(m->subject);
        free(m->text);
        m->subject = m->text = NULL;
}

struct survey *surveys_by_code(struct surveys *s, const char *code, const char *person, struct survey_person **ret) {
        for (size_t i = 0; s && code && i < s->n; i++) {
                struct survey_person *p = survey_person(s->v[i], person);
                if (p && streq(p->code, code)) {
                        *ret = p;
                        return s->v[i];
                }
        }
        return NULL;
}

struct survey *surveys_by_token(struct surveys *s, const char *token, struct survey_person **ret) {
        if (!s || !hex_ok(token, SURVEY_TOKEN_LEN))
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                for (size_t k = 0; k < s->v[i]->n_people; k++)
                        if (streq(s->v[i]->people[k].token, token)) {
                                *ret = &s->v[i]->people[k];
                                return s->v[i];
                        }
        return NULL;
}

unsigned surveys_open_for(struct surveys *s, const char *person, struct ymd today, struct survey **ret) {
        unsigned n = 0;
        if (ret)
                *ret = NULL;
        for (size_t i = 0; s && i < s->n; i++) {
                struct survey_person *p = survey_person(s->v[i], person);
                if (!p || !p->asks || ymd_cmp(s->v[i]->to, today) < 0)
                        continue;
                n++;
                if (ret)
                        *ret = s->v[i];
        }
        return n;
}

void survey_answer(struct survey_person *p, enum survey_answer answer, const char *via, uint64_t now) {
        if (!(answer == SURVEY_OK && p->answer == SURVEY_AWAY))
                p->answer = answer;
        p->answered = now;
        snprintf(p->via, sizeof(p->via), "%s", via);
}

void survey_counts(const struct survey *sv, unsigned *asked, unsigned *answered, unsigned *away) {
        *asked = *answered = *away = 0;
        for (size_t i = 0; i < sv->n_people; i++) {
                *asked += sv->people[i].asks > 0;
                *answered += sv->people[i].answer != SURVEY_UNANSWERED;
                *away += sv->people[i].answer == SURVEY_AWAY;
        }
}

int survey_save(struct surveys *s, const struct survey *sv) {
        char name[SURVEY_ID_LEN + 8];
        if (!s->store)
                return 0;
        json_t *o = file_json(sv);
        char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!data)
                return -ENOMEM;
        snprintf(name, sizeof(name), "%s.json", sv->id);
        int r = store_write_atomic(s->store, STORE_SURVEYS, name, data, strlen(data));
        free(data);
        return r;
}

int surveys_purge(struct surveys *s, struct ymd before, unsigned *ret_n) {
        unsigned n = 0;
        int first = 0;
        for (size_t i = 0; i < s->n;) {
                struct survey *sv = s->v[i];
                if (ymd_cmp(sv->to, before) >= 0) {
                        i++;
                        continue;
                }
                char name[SURVEY_ID_LEN + 8];
                snprintf(name, sizeof(name), "%s.json", sv->id);
                int r = s->store ? store_remove(s->store, STORE_SURVEYS, name) : 0;
                if (r < 0 && r != -ENOENT) {
                        if (!first)
                                first = r;
                        i++;
                        continue;
                }
                survey_free(sv);
                memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
                s->n--;
                n++;
        }
        if (ret_n)
                *ret_n = n;
        return first;
}

int survey_file_check(const char *data, size_t len) {
        json_t *o = json_loadb(data, len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "survey"));
        char name[SURVEY_ID_LEN + 8];
        struct survey *sv = NULL, *again = NULL;
        if (!id || strlen(id) != SURVEY_ID_LEN) {
                json_decref(o);
                return -EBADMSG;
        }
        snprintf(name, sizeof(name), "%s.json", id);
        json_decref(o);
        int r = parse_one(data, len, name, &sv);
        if (r < 0)
                return r;
        json_t *f = file_json(sv);
        char *out = f ? json_dumps(f, JSON_COMPACT) : NULL;
        json_decref(f);
        if (!out) {
                survey_free(sv);
                return -ENOMEM;
        }
        r = parse_one(out, strlen(out), name, &again);
        if (r == -ENOMEM) {
                free(out);
                survey_free(sv);
                return r;
        }
        json_t *g = r >= 0 ? file_json(again) : NULL;
        char *out2 = g ? json_dumps(g, JSON_COMPACT) : NULL;
        json_decref(g);
        if (r < 0 || (out2 && strcmp(out, out2) != 0))
                abort(); /* what we write we must read back the same */
        free(out);
        free(out2);
        survey_free(sv);
        survey_free(again);
        return 0;
}
