/* case-format.c - the follow-up case file format (cases/ab/<ref>.json):
 * case_parse and case_json/case_serialize (jansson), and the fast scanner
 * of start-up (case_mini_parse), with followup_case_check() that holds the
 * two to the same reading for the fuzzer.
 *
 * Case file:
 *   ref, contacts[], level, factors[], children, task (the children task is
 *   on the reminders), state (open/escalated/closed), due (YYYY-MM-DD), stage
 *   (none/first/second/escalated), reminded/second/escalated_at (usec; 0 =
 *   not yet), code ("48213" or null), unreached_in_row, opened, closed,
 *   closed_by, origin, seq (messages so far), responsible (null or one of
 *   contacts), responsible_told (null or {absence, due}: the coordinator was
 *   told the responsible contact is away on that due date), notify[] (the
 *   messages of the current round: key, person, channel, kind, state
 *   sending/sent/failed/unreachable, ts, and for a rerouted reminder or a
 *   "responsible" notice covers[]: {person, to}, the contacts it stands in
 *   for and the end of their absences) and history[] (check-ins {ts, by, outcome, next,
 *   level_before, level_after}, level changes, the close). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "followup-internal.h"
#include "macro.h"

void case_done(struct fu_case *c) {
        free(c->origin);
        json_decref(c->history);
        json_decref(c->factors);
        c->origin = NULL;
        c->history = NULL;
        c->factors = NULL;
}

uint32_t fu_factor_bit(const struct followup_conf *fc, const char *id) {
        int k = config_factor_index(fc, id);
        return k >= 0 ? 1u << k : FU_UNLISTED;
}

uint32_t fu_case_factors(const struct followup_conf *fc, const struct fu_case *c) {
        uint32_t bits = 0;
        size_t idx;
        json_t *v;
        json_array_foreach(c->factors, idx, v)
                bits |= fu_factor_bit(fc, json_string_value(v));
        return bits;
}

bool case_sending(const struct fu_case *c) {
        for (size_t k = 0; k < c->n_notify; k++)
                if (streq(c->notify[k].state, "sending"))
                        return true;
        return false;
}

static uint64_t jts(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);
        return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t) json_integer_value(v) : 0;
}

/* O's string K into BUF ("" when it is not a string). Every such field of a
 * file beredd wrote is an id, a key or a word (word_is_safe, shorter than
 * BUF): anything else, cut to fit or not, could not be written back the same
 * (cut inside a UTF-8 character it could not be written at all), so the file
 * is damaged: false. */
static bool jword(json_t *o, const char *k, char *buf, size_t len) {
        const char *s = json_string_value(json_object_get(o, k));
        buf[0] = '\0';
        if (!s || !*s)
                return true;
        if (!word_is_safe(s, len - 1))
                return false;
        memcpy(buf, s, strlen(s) + 1);
        return true;
}

int case_parse(const char *data, size_t len, struct fu_case *c) {
        json_error_t jerr;
        json_t *o = json_loadb(data, len, 0, &jerr);
        int r = -EBADMSG;
        int k;

        *c = (struct fu_case) {};
        if (!json_is_object(o))
                goto out;
        if (!jword(o, "ref", c->ref, sizeof(c->ref)) || !id_is_safe(c->ref))
                goto out;
        json_t *v, *arr = json_object_get(o, "contacts");
        size_t idx;
        json_array_foreach(arr, idx, v) {
                if (json_is_string(v) && !id_is_safe(json_string_value(v)))
                        goto out;
                if (c->n_contacts < 2 && json_is_string(v))
                        snprintf(c->contacts[c->n_contacts++], sizeof(c->contacts[0]), "%s", json_string_value(v));
        }
        c->level = (int) json_integer_value(json_object_get(o, "level"));
        if (c->level < 1 || c->level > 255)
                goto out;
        /* Kept as they are, listed in followup.factors or not: they are
         * data, and a vocabulary changed since must not lose them. */
        c->factors = json_array();
        json_array_foreach(json_object_get(o, "factors"), idx, v)
                if (json_is_string(v))
                        json_array_append(c->factors, v);
        c->children = json_is_true(json_object_get(o, "children"));
        c->task = json_is_true(json_object_get(o, "task"));
        k = string_table_lookup(fu_state_names, ELEMENTSOF(fu_state_names), json_string_value(json_object_get(o, "state")));
        if (k < 0)
                goto out;
        c->state = (enum fu_state) k;
        k = string_table_lookup(fu_stage_names, ELEMENTSOF(fu_stage_names), json_string_value(json_object_get(o, "stage")));
        if (k < 0)
                goto out;
        c->stage = (enum fu_stage) k;
        if (parse_date(json_string_value(json_object_get(o, "due")), &c->due) < 0)
                goto out;
        c->reminded = jts(o, "reminded");
        c->second = jts(o, "second");
        c->escalated_at = jts(o, "escalated_at");
        c->opened = jts(o, "opened");
        c->closed = jts(o, "closed");
        if (!jword(o, "closed_by", c->closed_by, sizeof(c->closed_by)))
                goto out;
        const char *code = json_string_value(json_object_get(o, "code"));
        c->code = followup_is_code(code) ? (unsigned) atoi(code) : 0;
        c->unreached = (int) json_integer_value(json_object_get(o, "unreached_in_row"));
        c->seq = (unsigned) json_integer_value(json_object_get(o, "seq"));
        const char *origin = json_string_value(json_object_get(o, "origin"));
        if (origin && !(c->origin = strdup(origin))) {
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach(json_object_get(o, "notify"), idx, v) {
                if (c->n_notify >= MAX_NOTIFY)
                        break;
                struct fu_notify *n = &c->notify[c->n_notify++];
                if (!jword(v, "key", n->key, sizeof(n->key)) || !jword(v, "person", n->person, sizeof(n->person)) ||
                    !jword(v, "kind", n->kind, sizeof(n->kind)) || !jword(v, "state", n->state, sizeof(n->state)))
                        goto out;
                const char *ch = json_string_value(json_object_get(v, "channel"));
                n->ch = ch && streq(ch, "email") ? CHANNEL_EMAIL : CHANNEL_SMS;
                n->ts = jts(v, "ts");
                size_t ci;
                json_t *cv;
                json_array_foreach(json_object_get(v, "covers"), ci, cv) {
                        const char *who = json_string_value(json_object_get(cv, "person"));
                        if (n->n_covers >= 2 || !who || !id_is_safe(who))
                                continue;
                        snprintf(n->covers[n->n_covers], sizeof(n->covers[0]), "%s", who);
                        n->covers_to[n->n_covers++] = jts(cv, "to");
                }
        }
        if (!jword(o, "responsible", c->responsible, sizeof(c->responsible)))
                goto out;
        json_t *told = json_object_get(o, "responsible_told");
        if (json_is_object(told) && parse_date(json_string_value(json_object_get(told, "due")), &c->told_due) >= 0 &&
            !jword(told, "absence", c->told_absence, sizeof(c->told_absence)))
                goto out;
        c->history = json_incref(json_object_get(o, "history"));
        if (!json_is_array(c->history)) {
                json_decref(c->history);
                c->history = json_array();
        }
        r = 0;
out:
        json_decref(o);
        if (r < 0)
                case_done(c);
        return r;
}

json_t *case_date_json(struct ymd d) {
        char buf[16];
        time_format_date(d, buf, sizeof(buf));
        return json_string(buf);
}

json_t *case_json(const struct fu_case *c) {
        json_t *contacts = json_array(), *factors = json_array(), *notify = json_array();
        for (size_t i = 0; i < c->n_contacts; i++)
                json_array_append_new(contacts, json_string(c->contacts[i]));
        size_t idx;
        json_t *v;
        json_array_foreach(c->factors, idx, v)
                json_array_append(factors, v);
        for (size_t i = 0; i < c->n_notify; i++) {
                const struct fu_notify *n = &c->notify[i];
                json_t *no = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "key", n->key, "person", n->person, "channel",
                                       channel_name(n->ch), "kind", n->kind, "state", n->state, "ts", (json_int_t) n->ts);
                if (no && n->n_covers) {
                        json_t *cv = json_array();
                        for (size_t k = 0; k < n->n_covers; k++)
                                json_array_append_new(cv, json_pack("{s:s, s:I}", "person", n->covers[k], "to",
                                                                    (json_int_t) n->covers_to[k]));
                        json_object_set_new(no, "covers", cv);
                }
                json_array_append_new(notify, no);
        }
        char code[8];
        snprintf(code, sizeof(code), "%u", c->code);
        json_t *o = json_pack("{s:s, s:o, s:i, s:o, s:b, s:b, s:s, s:o, s:s, s:I, s:I, s:I, s:o, s:i, s:I, s:I}", "ref",
                              c->ref, "contacts", contacts, "level", c->level, "factors", factors, "children",
                              c->children, "task", c->task, "state", fu_state_names[c->state], "due", case_date_json(c->due),
                              "stage", fu_stage_names[c->stage], "reminded", (json_int_t) c->reminded, "second",
                              (json_int_t) c->second, "escalated_at", (json_int_t) c->escalated_at, "code",
                              c->code ? json_string(code) : json_null(), "unreached_in_row", c->unreached, "opened",
                              (json_int_t) c->opened, "closed", (json_int_t) c->closed);
        if (!o)
                return NULL;
        json_object_set_new(o, "closed_by", c->closed_by[0] ? json_string(c->closed_by) : json_null());
        json_object_set_new(o, "origin", c->origin ? json_string(c->origin) : json_null());
        json_object_set_new(o, "seq", json_integer(c->seq));
        json_object_set_new(o, "responsible", c->responsible[0] ? json_string(c->responsible) : json_null());
        json_object_set_new(o, "responsible_told",
                            c->told_absence[0] ? json_pack("{s:s, s:o}", "absence", c->told_absence, "due",
                                                           case_date_json(c->told_due))
                                               : json_null());
        json_object_set_new(o, "notify", notify);
        json_object_set(o, "history", c->history ? c->history : json_array());
        return o;
}

int case_serialize(const struct fu_case *c, char **ret, size_t *ret_len) {
        json_t *o = case_json(c);
        if (!o)
                return -ENOMEM;
        char *s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        size_t n = strlen(s);
        s[n] = '\n'; /* replaces the NUL: the buffer is not a C string from here */
        *ret = s;
        *ret_len = n + 1;
        return 0;
}

/* ---- a fast reader for start-up ----
 *
 * Parsing a million case files with jansson costs ~7 us each; start-up needs
 * only the index fields. This scanner reads exactly those from the files we
 * write; anything it does not expect (escapes, a missing field, messages in
 * flight) sends the file to the full parser instead, so it is an
 * optimisation, never a second truth. */
static const char *ws(const char *p, const char *end) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
                p++;
        return p;
}

/* A string without escapes: [*RS, *RS + *RN). */
static const char *mstr(const char *p, const char *end, const char **rs, size_t *rn) {
        if (p >= end || *p != '"')
                return NULL;
        const char *q = ++p;
        while (q < end && *q != '"') {
                if (*q == '\\')
                        return NULL;
                q++;
        }
        if (q >= end)
                return NULL;
        *rs = p;
        *rn = (size_t) (q - p);
        return q + 1;
}

static const char *mskip(const char *p, const char *end) {
        int depth = 0;
        p = ws(p, end);
        do {
                if (p >= end)
                        return NULL;
                if (*p == '"') {
                        for (p++; p < end && *p != '"'; p++)
                                if (*p == '\\')
                                        p++;
                        if (p >= end)
                                return NULL;
                        p++;
                } else if (*p == '{' || *p == '[') {
                        depth++;
                        p++;
                } else if (*p == '}' || *p == ']') {
                        depth--;
                        p++;
                } else if (depth == 0) {
                        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
                                p++;
                        return p;
                } else
                        p++;
        } while (depth > 0);
        return p;
}

static const char *mnum(const char *p, const char *end, uint64_t *ret) {
        uint64_t v = 0;
        const char *q = p;
        while (q < end && *q >= '0' && *q <= '9' && q - p < 19)
                v = v * 10 + (uint64_t) (*q++ - '0');
        if (q == p || (q < end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E')))
                return NULL;
        *ret = v;
        return q;
}

enum { M_REF = 1, M_LEVEL = 2, M_STATE = 4, M_STAGE = 8, M_DUE = 16, M_NEEDED = 31 };

static bool keyis(const char *k, size_t n, const char *want) {
        return strlen(want) == n && memcmp(k, want, n) == 0;
}

static const char *const mini_keys[] = { "ref",  "level",    "state",  "stage",  "due",
                                         "code", "factors", "reminded", "second", "closed" };

int case_mini_parse(const char *p, size_t len, const struct followup_conf *fc, struct mini *m) {
        const char *end = p + len, *k, *v;
        size_t kn, vn;
        uint64_t num;
        unsigned keys = 0;

        *m = (struct mini) {};
        p = ws(p, end);
        if (p >= end || *p++ != '{')
                return -1;
        for (;;) {
                p = ws(p, end);
                if (p < end && *p == '}')
                        break;
                if (!(p = mstr(p, end, &k, &kn)))
                        return -1;
                p = ws(p, end);
                if (p >= end || *p++ != ':')
                        return -1;
                p = ws(p, end);
                /* A key given twice: the full parser takes the last one; leave
                 * such a file to it rather than guess. */
                for (unsigned b = 0; b < ELEMENTSOF(mini_keys); b++)
                        if (keyis(k, kn, mini_keys[b])) {
                                if (keys & (1u << b))
                                        return -1;
                                keys |= 1u << b;
                        }
                if (keyis(k, kn, "ref") || keyis(k, kn, "state") || keyis(k, kn, "stage") || keyis(k, kn, "due") ||
                    (keyis(k, kn, "code") && p < end && *p == '"')) {
                        char buf[COMMAND_MAX_ID + 1];
                        if (!(p = mstr(p, end, &v, &vn)) || vn >= sizeof(buf))
                                return -1;
                        memcpy(buf, v, vn);
                        buf[vn] = '\0';
                        if (keyis(k, kn, "ref")) {
                                memcpy(m->ref, buf, vn + 1);
                                m->seen |= M_REF;
                        } else if (keyis(k, kn, "state")) {
                                if ((m->state = string_table_lookup(fu_state_names, ELEMENTSOF(fu_state_names), buf)) < 0)
                                        return -1;
                                m->seen |= M_STATE;
                        } else if (keyis(k, kn, "stage")) {
                                if ((m->stage = string_table_lookup(fu_stage_names, ELEMENTSOF(fu_stage_names), buf)) < 0)
                                        return -1;
                                m->seen |= M_STAGE;
                        } else if (keyis(k, kn, "due")) {
                                if (parse_date(buf, &m->due) < 0)
                                        return -1;
                                m->seen |= M_DUE;
                        } else {
                                m->code = followup_is_code(buf) ? (unsigned) atoi(buf) : 0;
                        }
                } else if (keyis(k, kn, "level") || keyis(k, kn, "reminded") || keyis(k, kn, "second") ||
                           keyis(k, kn, "closed")) {
                        if (!(p = mnum(p, end, &num)))
                                return -1;
                        if (keyis(k, kn, "level")) {
                                if (num < 1 || num > 255)
                                        return -1;
                                m->level = (int) num;
                                m->seen |= M_LEVEL;
                        } else if (keyis(k, kn, "reminded"))
                                m->reminded = num;
                        else if (keyis(k, kn, "second"))
                                m->second = num;
                        else
                                m->closed = num;
                } else if (keyis(k, kn, "factors")) {
                        if (p >= end || *p++ != '[')
                                return -1;
                        for (;;) {
                                p = ws(p, end);
                                if (p < end && *p == ']') {
                                        p++;
                                        break;
                                }
                                char buf[FACTOR_ID_MAX + 1];
                                if (!(p = mstr(p, end, &v, &vn)) || vn >= sizeof(buf))
                                        return -1;
                                memcpy(buf, v, vn);
                                buf[vn] = '\0';
                                m->factors |= fu_factor_bit(fc, buf);
                                p = ws(p, end);
                                if (p < end && *p == ',')
                                        p++;
                        }
                } else {
                        const char *start = p;
                        if (!(p = mskip(p, end)))
                                return -1;
                        /* Messages in flight need the full record: leave it to jansson. */
                        if (keyis(k, kn, "notify") && memmem(start, (size_t) (p - start), "sending", 7))
                                return -1;
                }
                p = ws(p, end);
                if (p < end && *p == ',') {
                        p++;
                        continue;
                }
                if (p < end && *p == '}')
                        break;
                return -1;
        }
        if (ws(p + 1, end) != end) /* anything after the object: not a file we wrote */
                return -1;
        return (m->seen & M_NEEDED) == M_NEEDED && id_is_safe(m->ref) ? 0 : -1;
}

/* What the full parser read of a file must survive being written back: the
 * bytes written for C, read again and written again, are the same bytes (a
 * save that drops or changes a field the next read relies on, or that cannot
 * be written at all, would lose it). -EBADMSG when not. */
static int case_roundtrip(const struct fu_case *c) {
        char *s1 = NULL, *s2 = NULL;
        size_t n1, n2;
        struct fu_case *c2 = calloc(1, sizeof(*c2));
        int r = -EBADMSG;
        if (!c2)
                return -ENOMEM;
        if (case_serialize(c, &s1, &n1) < 0 || case_parse(s1, n1, c2) < 0)
                goto out;
        if (case_serialize(c2, &s2, &n2) >= 0 && n1 == n2 && memcmp(s1, s2, n1) == 0)
                r = 0;
        case_done(c2);
out:
        free(s1);
        free(s2);
        free(c2);
        return r;
}

int followup_case_check(const char *data, size_t len) {
        static struct followup_conf fc; /* the built-in vocabulary */
        struct mini m;
        struct fu_case *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        if (!fc.n_factors) {
                const struct factor *d = config_default_factors(&fc.n_factors);
                memcpy(fc.factors, d, fc.n_factors * sizeof(*d));
        }
        bool full = case_parse(data, len, c) >= 0, fast = case_mini_parse(data, len, &fc, &m) >= 0;
        int r = full && fast ? 1 : full ? 0 : fast ? 2 : -EINVAL;
        if (r == 1 && (!streq(m.ref, c->ref) || m.level != c->level || m.factors != fu_case_factors(&fc, c) ||
                       m.state != (int) c->state || m.stage != (int) c->stage || ymd_cmp(m.due, c->due) != 0 ||
                       m.reminded != c->reminded || m.second != c->second || m.closed != c->closed ||
                       m.code != c->code))
                r = -EBADMSG;
        if (full && r >= 0 && case_roundtrip(c) < 0)
                r = -EBADMSG;
        if (full)
                case_done(c);
        free(c);
        return r;
}

