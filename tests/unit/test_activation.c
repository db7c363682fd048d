/* test_activation.c - the escalation engine's pure core with a fake clock:
 * quorum total and role minimums, a decline moving a sequential step on,
 * parallel steps, `when` office/outside-office, repeat and exhaustion,
 * stand-down, resolve, drills, receipts, early impossibility, a person with
 * no address, a yes that becomes a no, contact-list checks, answer links, a
 * restart that finishes what the log began, the counts; and what the
 * recorded events tell the outside (act_narrate: the callback's events, in
 * order; nothing from a replay). The test plays
 * the shell: it hands the decisions their inputs (answers, gateway
 * outcomes, timeouts, the time, fixed random bytes) and, after every
 * scenario, replays the log the live path wrote into a fresh activation and
 * compares the two states field by field. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "activation-internal.h"
#include "calendar.h"
#include "config.h"
#include "macro.h"
#include "test.h"

/* Oslo is UTC+1 in January: Monday 2027-01-11 10:00 local is office hours,
 * Saturday 2027-01-09 12:00 local is not. */
#define MONDAY_10 U(2027, 1, 11, 9, 0)
#define SATURDAY_12 U(2027, 1, 9, 11, 0)

static char tmpdir[256];

static const char config_text[] =
        "site = \"test\";\n"
        "spool = \"%s/spool\";\n"
        "calendar: { office_hours = \"Mon-Fri 08:00-15:30\"; holidays = \"no\"; };\n"
        "people = (\n"
        "  { id = \"kari\"; name = \"Kari Nordmann\"; phone = \"+4791234567\"; email = \"kari@kommune.example\"; roles = [\"leader\"]; },\n"
        "  { id = \"ola\"; name = \"Ola Nordmann\"; phone = \"+4791234568\"; roles = [\"member\"]; },\n"
        "  { id = \"per\"; name = \"Per Hansen\"; phone = \"+4791234569\"; roles = [\"member\"]; },\n"
        "  { id = \"siri\"; name = \"Siri Berg\"; phone = \"+4791234570\"; roles = [\"member\"]; },\n"
        "  { id = \"ann\"; name = \"Ann Smith\"; email = \"ann@kommune.example\"; lang = \"en\"; roles = [\"member\"]; },\n"
        "  { id = \"sjef\"; name = \"Sigrid Sjef\"; phone = \"+4791234580\"; roles = [\"boss\"]; },\n"
        "  { id = \"legevakt\"; name = \"Legevakten\"; phone = \"+4773000000\"; roles = [\"fallback\"]; }\n"
        ");\n"
        "gateways = ( { id = \"outbox\"; channel = \"any\"; type = \"file\"; },\n"
        "             { id = \"calls\"; channel = \"voice\"; type = \"file\"; } );\n"
        "http = { listen = \"127.0.0.1:8470\"; public_url = \"https://beredd.example\"; };\n"
        "chains = (\n"
        /* quorum total 2, a leader among them; one parallel step, then the final one */
        "  { id = \"team\"; may_trigger = [ \"kari\" ]; report_to = [ \"sjef\" ];\n"
        "    need = { total = 2; roles = { leader = 1; }; };\n"
        "    steps = ( { notify = [ \"kari\", \"ola\", \"per\" ]; wait = \"10m\"; },\n"
        "              { notify = [ \"legevakt\" ]; final = true; } ); },\n"
        /* sequential, then a second (parallel) step */
        "  { id = \"seq\"; may_trigger = [ \"kari\" ];\n"
        "    need = { total = 1; };\n"
        "    steps = ( { notify = [ \"ola\", \"per\", \"siri\" ]; mode = \"sequential\"; wait = \"5m\"; },\n"
        "              { notify = [ \"kari\", \"ann\" ]; via = [ \"sms\", \"email\" ]; wait = \"5m\"; },\n"
        "              { notify = [ \"legevakt\" ]; final = true; } ); },\n"
        /* when: an office-hours step and an outside-office one */
        "  { id = \"when\"; may_trigger = [ \"kari\" ];\n"
        "    need = { total = 1; };\n"
        "    steps = ( { notify = [ \"ola\" ]; wait = \"1m\"; when = \"office\"; },\n"
        "              { notify = [ \"per\" ]; wait = \"1m\"; when = \"outside-office\"; } ); },\n"
        /* repeat once, then short */
        "  { id = \"again\"; may_trigger = [ \"kari\" ]; repeat = 1;\n"
        "    need = { total = 1; };\n"
        "    steps = ( { notify = [ \"ola\" ]; wait = \"1m\"; },\n"
        "              { notify = [ \"legevakt\" ]; final = true; } ); },\n"
        /* three needed of three: one no and it cannot be done */
        "  { id = \"all\"; may_trigger = [ \"kari\" ]; report_to = [ \"sjef\" ];\n"
        "    need = { total = 3; };\n"
        "    steps = ( { notify = [ \"ola\", \"per\", \"siri\" ]; wait = \"10m\"; },\n"
        "              { notify = [ \"legevakt\" ]; final = true; } ); },\n"
        /* SMS first, a call 2 minutes later to whoever has not answered */
        "  { id = \"voice\"; may_trigger = [ \"kari\" ];\n"
        "    need = { total = 2; };\n"
        "    steps = ( { notify = [ \"ola\", \"per\", \"ann\" ]; via = [ \"sms\", \"voice\" ]; voice_after = \"2m\"; wait = \"10m\"; },\n"
        "              { notify = [ \"legevakt\" ]; final = true; } ); },\n"
        /* calls only, one after the other */
        "  { id = \"calls\"; may_trigger = [ \"kari\" ];\n"
        "    need = { total = 1; };\n"
        "    steps = ( { notify = [ \"ola\", \"per\" ]; mode = \"sequential\"; via = [ \"voice\" ]; wait = \"5m\"; } ); },\n"
        /* ann has no phone: an SMS-only step cannot reach her */
        "  { id = \"nophone\"; may_trigger = [ \"kari\" ];\n"
        "    need = { total = 1; };\n"
        "    steps = ( { notify = [ \"ann\", \"ola\" ]; mode = \"sequential\"; via = [ \"sms\" ]; wait = \"5m\"; } ); },\n"
        /* a roster's on-duty person (per on Monday 2027-01-11), then the final step */
        "  { id = \"duty\"; may_trigger = [ \"kari\" ];\n"
        "    need = { total = 1; };\n"
        "    steps = ( { notify = [ \"roster:vakt\" ]; wait = \"5m\"; },\n"
        "              { notify = [ \"legevakt\" ]; final = true; } ); }\n"
        ");\n"
        "rosters = ( { id = \"vakt\"; rotation = \"daily\"; handoff = \"08:00\"; start = \"2027-01-11\";\n"
        "              members = [ \"per\", \"siri\", \"ola\" ]; } );\n";

struct world {
        struct config *cfg;
        struct calendar *cal;
        sd_event *event;
        struct absences *abs; /* in memory: who is away */
        struct activations m;
        uint64_t now;     /* the fake clock */
        uint64_t counter; /* the fake random source */
        unsigned n_ids;
        char *emitted; /* what the narrator handed the callback, a line each */
        size_t emitted_len;
};

static struct world *the_world; /* for the random source */

/* Random bytes that are not random: a counter, so every run is the same. */
static int fake_random(void *buf, size_t n) {
        unsigned char *b = buf;
        for (size_t i = 0; i < n; i++)
                b[i] = (unsigned char) (the_world->counter >> (8 * (i % 8)));
        the_world->counter += 0x9e3779b97f4a7c15ULL;
        return 0;
}

/* The callback as the server has it, recording: "TYPE STEP PERSON CHANNEL
 * DETAIL" ("-" for none), a line each. */
static void record_emit(void *userdata, const struct act_event *ev) {
        struct world *w = userdata;
        char *line;
        assert_true(asprintf(&line, "%s %d %s %s %s\n", ev->type, ev->step, ev->person ?: "-", ev->channel ?: "-",
                             ev->detail ?: "-") > 0);
        size_t n = strlen(line);
        char *v = realloc(w->emitted, w->emitted_len + n + 1);
        assert_non_null(v);
        memcpy(v + w->emitted_len, line, n + 1);
        w->emitted = v;
        w->emitted_len += n;
        free(line);
}

static int setup(void **state) {
        struct world *w = calloc(1, sizeof(*w));
        _cleanup_free_ char *text = NULL;
        assert_non_null(w);
        assert_true(asprintf(&text, config_text, tmpdir) > 0);
        w->cfg = test_config_from_text(tmpdir, "beredd.conf", text);
        struct calendar_tz *tz = NULL;
        /* The rule alone, so the test does not need tzdata. */
        assert_int_equal(calendar_tz_from_posix("CET-1CEST,M3.5.0,M10.5.0/3", &tz), 0);
        assert_int_equal(calendar_new_with_tz(&w->cfg->calendar, tz, &w->cal), 0);
        assert_int_equal(sd_event_new(&w->event), 0);
        /* The manager as the core sees it: no spool (nothing is committed,
         * the log stays in each activation's buffer), no gateways. */
        w->m = (struct activations) { .event = w->event, .cfg = w->cfg, .cal = w->cal, .random = fake_random,
                                      .narrate = act_narrate, .cb = record_emit, .userdata = w };
        assert_int_equal(absences_new(NULL, &w->abs, NULL), 0);
        w->m.absences = w->abs;
        w->now = MONDAY_10;
        the_world = w;
        *state = w;
        return 0;
}

static int teardown(void **state) {
        struct world *w = *state;
        while (w->m.list) {
                struct activation *a = w->m.list;
                w->m.list = a->next;
                activation_free(a);
        }
        sd_event_unref(w->event);
        absences_free(w->abs);
        calendar_free(w->cal);
        config_free(w->cfg);
        free(w->emitted);
        free(w);
        return 0;
}

/* ---- the shell, played by the test ---- */

/* A new activation of CHAIN, as activations_trigger creates it. */
static struct activation *create(struct world *w, const char *chain, bool drill, bool verify) {
        struct activation *a = calloc(1, sizeof(*a));
        char id[32];
        assert_non_null(a);
        snprintf(id, sizeof(id), "20270111-1000-%04x", w->n_ids++);
        *a = (struct activation) { .mgr = &w->m, .id = strdup(id), .step = -1 };
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "t", "created", "id", id, "code", "4821", "chain",
                              chain, "drill", drill, "by", "kari", "src", "socket");
        if (verify) {
                json_object_set_new(o, "verify", json_true());
                json_object_set_new(o, "window", json_integer((json_int_t) USEC_PER_HOUR));
        }
        assert_int_equal(act_record(a, o, w->now), 0);
        a->next = w->m.list;
        w->m.list = a;
        return a;
}

static struct activation *trigger(struct world *w, const char *chain, bool drill) {
        struct activation *a = create(w, chain, drill, false);
        act_start(a, w->now);
        return a;
}

/* Every notification waiting for the commit goes to the fake gateway, which
 * takes it ("sent", with a provider reference). */
static void deliver(struct world *w, struct activation *a) {
        for (size_t i = 0; i < a->n_notifs; i++) {
                struct notif *n = &a->notifs[i];
                if (n->state != N_QUEUED)
                        continue;
                n->state = N_SENDING;
                char ref[64];
                snprintf(ref, sizeof(ref), "prov-%zu", i);
                assert_int_equal(act_record(a, json_pack("{s:s, s:s, s:s, s:s}", "t", "sent", "key", n->key, "gw",
                                                         "outbox", "ref", ref),
                                            w->now),
                                 0);
        }
}

static void answer(struct world *w, struct activation *a, const char *person, enum answer ans) {
        deliver(w, a);
        assert_true(act_answer(a, person, ans, "sms", w->now));
        deliver(w, a);
}

static void timeout(struct world *w, struct activation *a) {
        deliver(w, a);
        assert_true(a->deadline > 0);
        w->now = a->deadline;
        act_timeout(a, w->now);
        deliver(w, a);
}

/* The notification of KIND to PERSON (the last one), or NULL. */
static const struct notif *notif(const struct activation *a, const char *person, const char *kind) {
        for (size_t i = a->n_notifs; i > 0; i--)
                if (streq(a->notifs[i - 1].person, person) && streq(a->notifs[i - 1].kind, kind))
                        return &a->notifs[i - 1];
        return NULL;
}

static unsigned n_notifs(const struct activation *a, const char *person, const char *kind) {
        unsigned n = 0;
        for (size_t i = 0; i < a->n_notifs; i++)
                n += streq(a->notifs[i].person, person) && streq(a->notifs[i].kind, kind);
        return n;
}

static const struct member *member(const struct activation *a, const char *person) {
        size_t i;
        return strmap_get(&a->member_map, person, &i) ? &a->members[i] : NULL;
}

/* ---- replay equivalence ---- */

static json_t *opt_str(const char *s) {
        return s ? json_string(s) : json_null();
}

/* All the state of A, as JSON (in-flight notifications, queued for the
 * commit or handed to a gateway, are one state: "sending"). */
static json_t *state_json(const struct activation *a) {
        json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:I, s:I, s:s, s:I, s:i, s:i, s:b, s:I, s:I}", "code",
                              opt_str(a->code), "chain", opt_str(a->chain), "message", opt_str(a->message), "by",
                              opt_str(a->by), "origin", opt_str(a->origin), "drill", a->drill, "verify", a->verify,
                              "window", (json_int_t) a->window, "created", (json_int_t) a->created, "state",
                              act_state_names[a->state], "state_ts", (json_int_t) a->state_ts, "run", a->run, "step",
                              a->step, "parallel", a->parallel, "seq_pos", (json_int_t) a->seq_pos, "deadline",
                              (json_int_t) a->deadline);
        json_object_set_new(o, "src", opt_str(a->src));
        json_object_set_new(o, "n_unsolicited", json_integer(a->n_unsolicited));
        json_object_set_new(o, "seq", json_integer(a->seq));
        json_object_set_new(o, "mobilised_at", json_integer((json_int_t) a->mobilised_at));
        json_object_set_new(o, "impossible_at", json_integer((json_int_t) a->impossible_at));
        json_object_set_new(o, "reachable_at", json_integer((json_int_t) a->reachable_at));
        json_object_set_new(o, "unmobilised_at", json_integer((json_int_t) a->unmobilised_at));
        json_object_set_new(o, "n_unmobilised", json_integer(a->n_unmobilised));
        json_object_set_new(o, "quorum_by", opt_str(a->quorum_by));
        json_object_set_new(o, "told_at", json_integer((json_int_t) a->told_at));
        json_t *people = json_array();
        for (size_t i = 0; i < a->n_people; i++)
                json_array_append_new(people, json_string(a->people[i]));
        json_object_set_new(o, "people", people);
        json_t *members = json_array();
        for (size_t i = 0; i < a->n_members; i++) {
                const struct member *m = &a->members[i];
                json_t *mo = json_pack("{s:s, s:i, s:I, s:I, s:i, s:i, s:i, s:b, s:b, s:b, s:b, s:b, s:b, s:b}", "person",
                                       m->person, "answer", m->answer, "answered", (json_int_t) m->answered,
                                       "first_notified", (json_int_t) m->first_notified, "notified_run",
                                       m->notified_run, "channels", m->channels, "dead", m->dead, "stood_down",
                                       m->stood_down, "thanked", m->thanked, "told_short", m->told_short,
                                       "told_update", m->told_update, "report_short", m->report_short,
                                       "report_mobilised", m->report_mobilised, "owed_update", m->owed_update);
                json_t *tokens = json_array();
                for (size_t k = 0; k < m->n_tokens; k++)
                        json_array_append_new(tokens, json_pack("{s:s, s:o, s:b}", "hash", m->tokens[k].hash, "key",
                                                                opt_str(m->tokens[k].key), "voice", m->tokens[k].voice));
                json_object_set_new(mo, "tokens", tokens);
                json_object_set_new(mo, "call_at", json_integer((json_int_t) m->call_at));
                json_object_set_new(mo, "call_step", json_integer(m->call_at ? m->call_step : 0));
                json_array_append_new(members, mo);
        }
        json_object_set_new(o, "members", members);
        json_t *notifs = json_array();
        for (size_t i = 0; i < a->n_notifs; i++) {
                const struct notif *n = &a->notifs[i];
                enum nstate st = n->state == N_QUEUED ? N_SENDING : n->state;
                json_array_append_new(notifs,
                                      json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:o, s:o, s:s}", "key", n->key,
                                                "person", n->person, "ch", channel_name(n->ch), "kind", n->kind,
                                                "step", n->step, "state", nstate_names[st], "ts_sending",
                                                (json_int_t) n->ts_sending, "ts_done", (json_int_t) n->ts_done,
                                                "gateway", opt_str(n->gateway), "provider_ref",
                                                opt_str(n->provider_ref), "nonce", n->nonce));
                json_t *no = json_array_get(notifs, json_array_size(notifs) - 1);
                json_object_set_new(no, "call", json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:i}", "state", n->call,
                                                          "status", n->call_status, "digits", n->digits, "ringing",
                                                          (json_int_t) n->ts_ringing, "answered",
                                                          (json_int_t) n->ts_answered, "ended",
                                                          (json_int_t) n->ts_ended, "duration", n->duration));
        }
        json_object_set_new(o, "notifs", notifs);
        json_t *skips = json_array();
        for (size_t i = 0; i < a->n_skips; i++) {
                const struct act_skip *k = &a->skips[i];
                json_array_append_new(skips, json_pack("{s:s, s:o, s:o, s:i, s:i, s:I}", "person", k->person, "roster",
                                                       opt_str(k->roster), "instead", opt_str(k->instead), "step",
                                                       k->step, "run", k->run, "ts", (json_int_t) k->ts));
        }
        json_object_set_new(o, "skips", skips);
        return o;
}

/* Replaying what A's live path logged gives exactly A's state. */
static void assert_replays(struct world *w, const struct activation *a) {
        struct activation *b = calloc(1, sizeof(*b));
        assert_non_null(b);
        *b = (struct activation) { .mgr = &w->m, .id = strdup(a->id), .step = -1 };
        unsigned n = act_replay_log(b, a->buf ? a->buf : "", a->buf_len, "test.log");
        assert_false(b->broken);
        assert_true(n > 0);
        json_t *live = state_json(a), *replayed = state_json(b);
        if (!json_equal(live, replayed)) {
                char *x = json_dumps(live, JSON_INDENT(1) | JSON_SORT_KEYS);
                char *y = json_dumps(replayed, JSON_INDENT(1) | JSON_SORT_KEYS);
                print_error("live:\n%s\nreplayed:\n%s\nlog:\n%.*s\n", x, y, (int) a->buf_len, a->buf);
                free(x);
                free(y);
                fail();
        }
        json_decref(live);
        json_decref(replayed);
        activation_free(b);
}

/* The log has an event of type T (with "kind" KIND when not NULL). */
static bool logged(const struct activation *a, const char *t, const char *kind) {
        char pat[96];
        if (kind)
                snprintf(pat, sizeof(pat), "\"t\":\"%s\",\"person\"", t);
        else
                snprintf(pat, sizeof(pat), "\"t\":\"%s\"", t);
        for (const char *p = a->buf; p && (p = memmem(p, a->buf_len - (size_t) (p - a->buf), pat, strlen(pat)));
             p++) {
                const char *nl = memchr(p, '\n', a->buf_len - (size_t) (p - a->buf));
                char want[96];
                snprintf(want, sizeof(want), "\"kind\":\"%s\"", kind ? kind : "");
                if (!kind || (nl && memmem(p, (size_t) (nl - p), want, strlen(want))))
                        return true;
        }
        return false;
}

/* ---- scenarios ---- */

static void test_quorum_total_and_roles(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "team", false);
        assert_int_equal(a->state, ACT_MOBILISING);
        assert_int_equal(a->step, 0);
        assert_true(a->parallel);
        assert_int_equal(a->n_people, 3);
        assert_non_null(notif(a, "kari", "callout"));
        assert_non_null(notif(a, "ola", "callout"));
        assert_non_null(notif(a, "per", "callout"));
        assert_int_equal(a->deadline, w->now + 10 * USEC_PER_MIN);
        w->now += USEC_PER_MIN;
        answer(w, a, "ola", ANSWER_YES);
        answer(w, a, "per", ANSWER_YES);
        /* Two yes, but no leader among them: not yet. */
        assert_int_equal(a->state, ACT_MOBILISING);
        assert_false(act_quorum_met(a));
        w->now += USEC_PER_MIN;
        answer(w, a, "kari", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        assert_int_equal(a->mobilised_at, w->now);
        /* The leader who triggered hears it is mobilised; report_to too. */
        assert_non_null(notif(a, "kari", "report-mobilised"));
        assert_non_null(notif(a, "sjef", "report-mobilised"));
        assert_false(a->drill);
        assert_replays(w, a);
}

static void test_sequential_decline_moves_on(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "seq", false);
        assert_false(a->parallel);
        assert_non_null(notif(a, "ola", "callout"));
        assert_null(notif(a, "per", "callout"));
        w->now += USEC_PER_MIN;
        answer(w, a, "ola", ANSWER_NO);
        /* The decline moved the step on at once, with a fresh wait. */
        assert_int_equal(a->seq_pos, 1);
        assert_non_null(notif(a, "per", "callout"));
        assert_null(notif(a, "siri", "callout"));
        assert_int_equal(a->deadline, w->now + 5 * USEC_PER_MIN);
        assert_true(logged(a, "next", NULL));
        assert_replays(w, a);
        /* No answer from per: after the wait, siri. */
        timeout(w, a);
        assert_int_equal(a->seq_pos, 2);
        assert_non_null(notif(a, "siri", "callout"));
        assert_replays(w, a);
}

static void test_parallel_steps(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "seq", false);
        timeout(w, a);
        timeout(w, a);
        timeout(w, a);
        /* Step 1 (parallel, SMS and e-mail): kari on both, ann by e-mail only. */
        assert_int_equal(a->step, 1);
        assert_true(a->parallel);
        assert_int_equal(a->n_people, 2);
        assert_int_equal(n_notifs(a, "kari", "callout"), 2);
        assert_int_equal(n_notifs(a, "ann", "callout"), 1);
        assert_int_equal(notif(a, "ann", "callout")->ch, CHANNEL_EMAIL);
        assert_replays(w, a);
        /* Both decline: the steps are exhausted, the final step is told. */
        answer(w, a, "kari", ANSWER_NO);
        answer(w, a, "ann", ANSWER_NO);
        assert_int_equal(a->state, ACT_SHORT);
        assert_int_equal(a->step, 2);
        assert_non_null(notif(a, "legevakt", "unreachable"));
        assert_replays(w, a);
}

static void test_when_office(void **state) {
        struct world *w = *state;
        w->now = MONDAY_10;
        struct activation *a = trigger(w, "when", false);
        assert_int_equal(a->step, 0);
        assert_non_null(notif(a, "ola", "callout"));
        timeout(w, a);
        /* The outside-office step is skipped in office hours: short. */
        assert_int_equal(a->state, ACT_SHORT);
        assert_null(notif(a, "per", "callout"));
        assert_true(logged(a, "skip", NULL));
        assert_replays(w, a);
}

static void test_when_outside_office(void **state) {
        struct world *w = *state;
        w->now = SATURDAY_12;
        struct activation *a = trigger(w, "when", false);
        assert_int_equal(a->step, 1);
        assert_null(notif(a, "ola", "callout"));
        assert_non_null(notif(a, "per", "callout"));
        answer(w, a, "per", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        assert_replays(w, a);
}

static void test_repeat_and_exhaustion(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "again", false);
        assert_int_equal(a->run, 0);
        timeout(w, a);
        /* The second run asks ola again. */
        assert_int_equal(a->run, 1);
        assert_int_equal(a->state, ACT_MOBILISING);
        assert_int_equal(n_notifs(a, "ola", "callout"), 2);
        assert_replays(w, a);
        timeout(w, a);
        assert_int_equal(a->state, ACT_SHORT);
        assert_int_equal(n_notifs(a, "ola", "callout"), 2);
        assert_int_equal(n_notifs(a, "legevakt", "unreachable"), 1);
        assert_replays(w, a);
}

static void test_standdown_and_resolve(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "team", false);
        answer(w, a, "kari", ANSWER_YES);
        answer(w, a, "ola", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        /* per has not answered: stood down, once. */
        assert_int_equal(n_notifs(a, "per", "standdown"), 1);
        assert_true(member(a, "per")->stood_down);
        assert_replays(w, a);
        w->now += USEC_PER_HOUR;
        act_resolve(a, "kari", w->now);
        deliver(w, a);
        assert_int_equal(a->state, ACT_RESOLVED);
        assert_int_equal(n_notifs(a, "kari", "resolved"), 1); /* on the channel she was asked on */
        assert_int_equal(n_notifs(a, "ola", "resolved"), 1);
        assert_int_equal(n_notifs(a, "per", "standdown"), 1); /* not stood down twice */
        assert_replays(w, a);
}

static void test_drill(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "team", true);
        assert_true(a->drill);
        answer(w, a, "kari", ANSWER_YES);
        answer(w, a, "per", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        assert_replays(w, a);
}

static void test_receipt_undeliverable(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "seq", false);
        deliver(w, a);
        const struct notif *n = notif(a, "ola", "callout");
        assert_non_null(n);
        /* The provider says ola's SMS will never arrive: the step moves on. */
        assert_int_equal(act_record(a, json_pack("{s:s, s:s, s:b}", "t", "receipt", "key", n->key, "delivered", 0),
                                    w->now),
                         0);
        act_unreachable(a, "ola", w->now);
        assert_int_equal(notif(a, "ola", "callout")->state, N_UNDELIVERABLE);
        assert_int_equal(member(a, "ola")->dead, CHANNEL_SMS);
        assert_non_null(notif(a, "per", "callout"));
        deliver(w, a);
        /* A delivered one changes only the notification. */
        n = notif(a, "per", "callout");
        assert_int_equal(act_record(a, json_pack("{s:s, s:s, s:b}", "t", "receipt", "key", n->key, "delivered", 1),
                                    w->now),
                         0);
        assert_int_equal(notif(a, "per", "callout")->state, N_DELIVERED);
        assert_replays(w, a);
}

static void test_gateway_failure(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "seq", false);
        const struct notif *n = notif(a, "ola", "callout");
        assert_int_equal(act_record(a, json_pack("{s:s, s:s, s:s, s:s, s:b}", "t", "failed", "key", n->key, "gw",
                                                 "outbox", "error", "refused", "unreachable", 1),
                                    w->now),
                         0);
        act_unreachable(a, "ola", w->now);
        assert_int_equal(notif(a, "ola", "callout")->state, N_UNREACHABLE);
        assert_non_null(notif(a, "per", "callout"));
        assert_replays(w, a);
}

static void test_early_impossibility(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "all", false);
        assert_int_equal(a->impossible_at, 0);
        w->now += USEC_PER_MIN;
        answer(w, a, "per", ANSWER_NO);
        /* Three needed, only two left: the final step and the reports hear
         * it at once, the call-out goes on. */
        assert_int_equal(a->impossible_at, w->now);
        assert_int_equal(a->state, ACT_MOBILISING);
        assert_int_equal(n_notifs(a, "legevakt", "impossible"), 1);
        assert_int_equal(n_notifs(a, "sjef", "report-impossible"), 1);
        assert_true(member(a, "legevakt")->told_short);
        assert_true(logged(a, "impossible", NULL));
        assert_replays(w, a);
        /* per changes his mind: within reach again, and they hear that. */
        w->now += USEC_PER_MIN;
        answer(w, a, "per", ANSWER_YES);
        assert_int_equal(a->impossible_at, 0);
        assert_int_equal(a->reachable_at, w->now);
        assert_string_equal(a->quorum_by, "per");
        assert_int_equal(n_notifs(a, "legevakt", "reachable"), 1);
        assert_true(member(a, "legevakt")->owed_update);
        assert_replays(w, a);
        answer(w, a, "ola", ANSWER_YES);
        answer(w, a, "siri", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        assert_int_equal(n_notifs(a, "legevakt", "update"), 1);
        assert_replays(w, a);
}

static void test_unmobilised(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "team", false);
        answer(w, a, "kari", ANSWER_YES);
        answer(w, a, "ola", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        w->now += USEC_PER_MIN;
        /* ola's yes becomes a no: mobilising again, per (stood down) is asked again. */
        answer(w, a, "ola", ANSWER_NO);
        assert_int_equal(a->state, ACT_MOBILISING);
        assert_int_equal(a->n_unmobilised, 1);
        assert_string_equal(a->quorum_by, "ola");
        assert_int_equal(n_notifs(a, "per", "recall"), 1);
        assert_int_equal(n_notifs(a, "sjef", "report-unmobilised"), 1);
        assert_replays(w, a);
        answer(w, a, "per", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        assert_replays(w, a);
}

static void test_no_address(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "nophone", false);
        /* ann has no phone: nothing can be sent, she counts as unreachable
         * and the sequential step goes on to ola; the log says so. */
        assert_int_equal(n_notifs(a, "ann", "callout"), 0);
        assert_int_equal(member(a, "ann")->dead, CHANNEL_ALL);
        assert_true(logged(a, "unaddressed", "callout"));
        assert_replays(w, a);
        timeout(w, a);
        assert_non_null(notif(a, "ola", "callout"));
        assert_replays(w, a);
}

static void test_contact_list_check(void **state) {
        struct world *w = *state;
        struct activation *a = create(w, "seq", false, true);
        act_start_check(a, w->now);
        deliver(w, a);
        assert_int_equal(a->state, ACT_VERIFYING);
        /* Everyone the chain can reach, at once (the final step too). */
        assert_int_equal(a->n_people, 6);
        assert_non_null(notif(a, "legevakt", "verify"));
        assert_int_equal(n_notifs(a, "kari", "verify"), 2);
        assert_int_equal(a->deadline, w->now + USEC_PER_HOUR);
        answer(w, a, "ola", ANSWER_YES);
        assert_replays(w, a);
        timeout(w, a);
        assert_int_equal(a->state, ACT_VERIFIED);
        assert_replays(w, a);
}

/* PERSON is away from now for a week (the fake clock's now). */
static void away(struct world *w, const char *person) {
        assert_int_equal(absences_add(w->abs, person, w->now - USEC_PER_HOUR, w->now + 7 * USEC_PER_DAY, "ferie", "test",
                                      w->now, NULL),
                         0);
}

static void test_away_skipped_in_sequential_step(void **state) {
        struct world *w = *state;
        away(w, "ola");
        struct activation *a = trigger(w, "seq", false);
        /* ola is skipped: not notified, not a decline; per is asked first. */
        assert_true(logged(a, "skipped", NULL));
        assert_int_equal(a->n_skips, 1);
        assert_string_equal(a->skips[0].person, "ola");
        assert_int_equal(a->skips[0].step, 0);
        assert_null(a->skips[0].roster);
        assert_null(notif(a, "ola", "callout"));
        assert_null(member(a, "ola"));
        assert_int_equal(a->n_people, 2);
        assert_non_null(notif(a, "per", "callout"));
        assert_non_null(strstr(w->emitted, "skipped 0 ola - away\n"));
        assert_replays(w, a);
        /* The quorum is reached by the others. */
        answer(w, a, "per", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        assert_replays(w, a);
        /* Shown as away, never as a no. */
        json_t *o = json_object();
        act_summary(a, o);
        json_t *aw = json_object_get(o, "away");
        assert_int_equal(json_array_size(aw), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(aw, 0), "person")), "ola");
        json_decref(o);
}

static void test_away_in_a_later_step_and_quorum(void **state) {
        struct world *w = *state;
        /* All of step 1 away: it is skipped whole, step 2 asks kari and ann. */
        away(w, "ola");
        away(w, "per");
        away(w, "siri");
        struct activation *a = trigger(w, "seq", false);
        assert_int_equal(a->n_skips, 3);
        assert_int_equal(a->step, 1);
        assert_non_null(notif(a, "kari", "callout"));
        assert_null(notif(a, "per", "callout"));
        assert_replays(w, a);
        answer(w, a, "ann", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        assert_replays(w, a);
}

static void test_away_on_duty_replaced(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "duty", false);
        /* Nobody away: per is on duty. */
        assert_non_null(notif(a, "per", "callout"));
        assert_int_equal(a->n_skips, 0);
        w->now += USEC_PER_MIN;
        away(w, "per");
        struct activation *b = trigger(w, "duty", false);
        /* per away: the roster's next member, siri, instead. */
        assert_null(notif(b, "per", "callout"));
        assert_non_null(notif(b, "siri", "callout"));
        assert_int_equal(b->n_skips, 1);
        assert_string_equal(b->skips[0].person, "per");
        assert_string_equal(b->skips[0].roster, "vakt");
        assert_string_equal(b->skips[0].instead, "siri");
        assert_replays(w, b);
        /* siri away too: ola. */
        away(w, "siri");
        struct activation *c = trigger(w, "duty", false);
        assert_non_null(notif(c, "ola", "callout"));
        assert_string_equal(c->skips[0].instead, "ola");
        assert_replays(w, c);
        /* Everyone away: the step is skipped, the quorum out of reach. */
        away(w, "ola");
        struct activation *d = trigger(w, "duty", false);
        assert_int_equal(d->n_skips, 1);
        assert_null(d->skips[0].instead);
        assert_true(logged(d, "skip", NULL));
        assert_replays(w, d);
        json_t *o = json_object();
        act_summary(b, o);
        json_t *x = json_array_get(json_object_get(o, "away"), 0);
        assert_string_equal(json_string_value(json_object_get(x, "roster")), "vakt");
        assert_string_equal(json_string_value(json_object_get(x, "instead")), "siri");
        json_decref(o);
}

static void test_away_in_contact_list_check(void **state) {
        struct world *w = *state;
        away(w, "ola");
        struct activation *a = create(w, "seq", false, true);
        act_start_check(a, w->now);
        deliver(w, a);
        /* Five asked, ola skipped and listed (not "missing"). */
        assert_int_equal(a->n_people, 5);
        assert_null(notif(a, "ola", "verify"));
        assert_int_equal(a->n_skips, 1);
        assert_int_equal(a->skips[0].step, -1);
        json_t *o = json_object();
        act_summary(a, o);
        assert_int_equal(json_array_size(json_object_get(o, "missing")), 5);
        assert_int_equal(json_array_size(json_object_get(o, "away")), 1);
        json_decref(o);
        assert_replays(w, a);
}

static void test_replay_of_an_old_log(void **state) {
        struct world *w = *state;
        /* A log as the engine wrote it before "unaddressed" (and without a
         * step in "short"): it replays as it always did. */
        static const char old[] =
                "{\"t\":\"created\",\"id\":\"x\",\"code\":\"1234\",\"chain\":\"nophone\",\"drill\":false,\"by\":\"kari\","
                "\"src\":\"socket\",\"ts\":1}\n"
                "{\"t\":\"step\",\"step\":0,\"run\":0,\"parallel\":false,\"people\":[\"ann\",\"ola\"],\"deadline\":300000001,"
                "\"ts\":1}\n"
                "{\"t\":\"timeout\",\"step\":0,\"ts\":300000001}\n"
                "{\"t\":\"next\",\"step\":0,\"pos\":1,\"deadline\":600000001,\"ts\":300000001}\n"
                "{\"t\":\"sending\",\"key\":\"x.0\",\"person\":\"ola\",\"ch\":\"sms\",\"kind\":\"callout\",\"step\":0,"
                "\"ts\":300000001}\n"
                "{\"t\":\"state\",\"state\":\"short\",\"ts\":600000001}\n";
        struct activation *b = calloc(1, sizeof(*b));
        assert_non_null(b);
        *b = (struct activation) { .mgr = &w->m, .id = strdup("x"), .step = -1 };
        assert_int_equal(act_replay_log(b, old, strlen(old), "x.log"), 6);
        assert_false(b->broken);
        assert_int_equal(b->state, ACT_SHORT);
        assert_int_equal(b->step, 0);
        assert_null(member(b, "ann"));
        assert_int_equal(member(b, "ola")->channels, CHANNEL_SMS);
        assert_int_equal(b->notifs[0].state, N_SENDING);
        activation_free(b);
        assert_int_equal(activation_log_check(old, strlen(old), NULL), 6);
}

static void test_answer_links(void **state) {
        struct world *w = *state;
        char url[] = "https://beredd.example";
        w->m.public_url = url;
        struct activation *a = trigger(w, "seq", false);
        timeout(w, a);
        timeout(w, a);
        timeout(w, a);
        /* The e-mail call-outs carry a link; only its hash is logged. */
        const struct notif *n = notif(a, "ann", "callout");
        assert_int_equal(n->ch, CHANNEL_EMAIL);
        assert_int_equal(strlen(n->token), 32);
        assert_int_equal(member(a, "ann")->n_tokens, 1);
        assert_int_equal(member(a, "kari")->n_tokens, 1);
        assert_null(memmem(a->buf, a->buf_len, n->token, strlen(n->token)));
        char h[2 * SHA256_DIGEST_LENGTH + 1];
        act_token_hash(n->token, h);
        assert_string_equal(member(a, "ann")->tokens[0].hash, h);
        assert_false(member(a, "ann")->tokens[0].voice);
        assert_replays(w, a);
        w->m.public_url = NULL;
}

/* The notification of KIND to PERSON on channel CH (the last one), or NULL. */
static struct notif *notif_on(struct activation *a, const char *person, const char *kind, enum channel ch) {
        for (size_t i = a->n_notifs; i > 0; i--)
                if (streq(a->notifs[i - 1].person, person) && streq(a->notifs[i - 1].kind, kind) &&
                    a->notifs[i - 1].ch == ch)
                        return &a->notifs[i - 1];
        return NULL;
}

/* The clock reaches the next pending call; the shell's timer places it. */
static void calls_due(struct world *w, struct activation *a) {
        deliver(w, a);
        uint64_t t = act_next_call(a);
        assert_true(t > 0);
        w->now = t;
        act_calls_due(a, w->now);
        deliver(w, a);
}

static void test_voice_after_sms(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "voice", false);
        /* SMS now (ann: e-mail only, no phone: neither SMS nor call), the calls later. */
        assert_non_null(notif_on(a, "ola", "callout", CHANNEL_SMS));
        assert_null(notif_on(a, "ola", "callout", CHANNEL_VOICE));
        assert_int_equal(member(a, "ola")->call_at, w->now + 2 * USEC_PER_MIN);
        assert_int_equal(member(a, "per")->call_at, w->now + 2 * USEC_PER_MIN);
        assert_int_equal(member(a, "ann")->call_at, 0);
        assert_true(logged(a, "call-later", NULL));
        /* per answers by SMS before the call is due: only ola is called. */
        w->now += USEC_PER_MIN;
        answer(w, a, "per", ANSWER_YES);
        calls_due(w, a);
        struct notif *n = notif_on(a, "ola", "callout", CHANNEL_VOICE);
        assert_non_null(n);
        assert_null(notif_on(a, "per", "callout", CHANNEL_VOICE));
        assert_true(logged(a, "call-skipped", NULL));
        assert_int_equal(member(a, "ola")->call_at, 0);
        assert_int_equal(act_next_call(a), 0);
        /* The call's token is a call's, made for that notification; only its hash is logged. */
        const struct member *mb = member(a, "ola");
        assert_int_equal(mb->n_tokens, 1);
        assert_true(mb->tokens[0].voice);
        assert_string_equal(mb->tokens[0].key, n->key);
        assert_int_equal(a->state, ACT_MOBILISING);
        assert_replays(w, a);
        /* It rings, is answered, 1 is pressed: mobilised (2 of 2). */
        act_call_status(a, n, "ringing", NULL, -1, NULL, w->now);
        act_call_status(a, n, "in-progress", "human", -1, NULL, w->now);
        act_keypress(a, n, "1", w->now);
        assert_int_equal(member(a, "ola")->answer, ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        assert_true(logged(a, "keypress", NULL));
        act_call_status(a, n, "completed", "human", 42, NULL, w->now);
        assert_int_equal(n->call, CALL_ENDED);
        assert_int_equal(n->duration, 42);
        assert_string_equal(n->digits, "1");
        assert_replays(w, a);
}

static void test_voice_only_not_reached_moves_on(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "calls", false);
        struct notif *n = notif_on(a, "ola", "callout", CHANNEL_VOICE);
        assert_non_null(n);
        assert_null(notif_on(a, "ola", "callout", CHANNEL_SMS));
        assert_int_equal(strlen(n->token), 32);
        deliver(w, a);
        /* Nobody picks up: the sequential step moves to per at once. */
        act_call_status(a, n, "no-answer", NULL, 0, NULL, w->now);
        assert_int_equal(n->state, N_UNDELIVERABLE);
        assert_int_equal(member(a, "ola")->dead, CHANNEL_VOICE);
        struct notif *p = notif_on(a, "per", "callout", CHANNEL_VOICE);
        assert_non_null(p);
        assert_int_equal(a->seq_pos, 1);
        deliver(w, a);
        /* A wrong key is logged and asks again; 2 is a no. */
        act_keypress(a, p, "9", w->now);
        assert_int_equal(member(a, "per")->answer, ANSWER_NONE);
        act_keypress(a, p, "2", w->now);
        assert_int_equal(member(a, "per")->answer, ANSWER_NO);
        assert_replays(w, a);
        /* A late status for ola's call changes nothing. */
        act_call_status(a, n, "completed", NULL, 3, NULL, w->now);
        assert_int_equal(n->call, CALL_NOT_REACHED);
        assert_replays(w, a);
}

static void test_voice_machine_and_sms_failure(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "voice", false);
        deliver(w, a);
        /* ola's SMS fails for good: the call goes at once, not after 2 minutes. */
        const struct notif *s = notif_on(a, "ola", "callout", CHANNEL_SMS);
        assert_int_equal(act_record(a, json_pack("{s:s, s:s, s:s, s:s, s:b}", "t", "failed", "key", s->key, "gw",
                                                 "outbox", "error", "refused", "unreachable", 1),
                                    w->now),
                         0);
        act_unreachable(a, "ola", w->now);
        struct notif *n = notif_on(a, "ola", "callout", CHANNEL_VOICE);
        assert_non_null(n);
        assert_int_equal(n->ts_sending, w->now);
        deliver(w, a);
        /* A machine answers: not reached; ola is out of the count. */
        act_call_status(a, n, "machine", "machine_start", 5, NULL, w->now);
        assert_int_equal(n->call, CALL_NOT_REACHED);
        assert_int_equal(member(a, "ola")->dead, CHANNEL_SMS | CHANNEL_VOICE);
        /* 2 needed, and only per is left (ann has neither phone nor e-mail in
         * this step's channels): out of reach, said at once. */
        assert_true(member(a, "ann")->dead == CHANNEL_ALL);
        assert_true(a->impossible_at);
        /* Resolved: thanks and stand-downs never go as calls. */
        act_resolve(a, "kari", w->now);
        for (size_t i = 0; i < a->n_notifs; i++)
                if (a->notifs[i].ch == CHANNEL_VOICE)
                        assert_string_equal(a->notifs[i].kind, "callout");
        assert_non_null(notif_on(a, "per", "standdown", CHANNEL_SMS));
        assert_replays(w, a);
}

static void test_voice_calls_drop_when_mobilised(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "voice", false);
        w->now += USEC_PER_MIN;
        answer(w, a, "ola", ANSWER_YES);
        answer(w, a, "per", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        /* The team stands: no call is left to come (skipped, and logged,
         * at once: a yes that becomes a no later rings nobody at night). */
        assert_int_equal(act_next_call(a), 0);
        assert_true(logged(a, "call-skipped", NULL));
        assert_null(notif_on(a, "ola", "callout", CHANNEL_VOICE));
        assert_null(notif_on(a, "per", "callout", CHANNEL_VOICE));
        assert_replays(w, a);
}

static void test_restart_completes(void **state) {
        struct world *w = *state;
        /* A crash between "created" and the first step: the restart starts it. */
        struct activation *a = create(w, "team", false, false);
        struct activation *b = calloc(1, sizeof(*b));
        assert_non_null(b);
        *b = (struct activation) { .mgr = &w->m, .id = strdup(a->id), .step = -1, .next = w->m.list };
        w->m.list = b;
        assert_int_equal(act_replay_log(b, a->buf, a->buf_len, "b.log"), 1);
        /* What it logs from now on goes after what was on disk. */
        b->buf = malloc(a->buf_len);
        assert_non_null(b->buf);
        memcpy(b->buf, a->buf, a->buf_len);
        b->buf_len = b->buf_cap = a->buf_len;
        act_resume(b, w->now);
        assert_int_equal(b->step, 0);
        assert_int_equal(n_notifs(b, "kari", "callout"), 1);
        assert_replays(w, b);
}

/* A restored spool: closing a stale call-out ends it by "stale", fails
 * what was in flight, skips the calls to come and sends nothing; the log
 * replays to the same state. */
static void test_close_stale(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "voice", false); /* SMS now, calls in 2 minutes */
        assert_int_equal(a->last_ts, w->now);
        assert_true(member(a, "ola")->call_at != 0);
        size_t n = a->n_notifs;
        assert_true(n > 0);
        assert_int_equal(a->notifs[0].state, N_QUEUED);

        w->now += 2 * USEC_PER_DAY;
        free(w->emitted);
        w->emitted = NULL;
        w->emitted_len = 0;
        act_close_stale(a, w->now);
        assert_int_equal(a->state, ACT_RESOLVED);
        assert_int_equal(a->last_ts, w->now);
        assert_int_equal(a->n_notifs, n); /* no stand-down, no thanks */
        for (size_t i = 0; i < n; i++)
                assert_int_equal(a->notifs[i].state, N_FAILED);
        assert_int_equal(member(a, "ola")->call_at, 0);
        assert_int_equal(member(a, "per")->call_at, 0);
        assert_non_null(w->emitted);
        assert_non_null(strstr(w->emitted, "resolved"));
        assert_null(strstr(w->emitted, "notify"));
        assert_replays(w, a);

        /* A contact-list check ends as verified. */
        struct activation *v = create(w, "team", false, true);
        act_start_check(v, w->now);
        act_close_stale(v, w->now + USEC_PER_DAY);
        assert_int_equal(v->state, ACT_VERIFIED);
        assert_replays(w, v);
}

static void test_counts(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "team", false);
        trigger(w, "seq", true);
        struct activation *c = create(w, "seq", false, true);
        act_start_check(c, w->now);
        answer(w, a, "kari", ANSWER_YES);
        answer(w, a, "ola", ANSWER_YES);
        struct act_counts k;
        activations_count(&w->m, &k);
        assert_int_equal(k.total, 3);
        assert_int_equal(k.open, 2); /* never the check */
        assert_int_equal(k.mobilised, 1);
        assert_int_equal(k.mobilising, 1);
        assert_int_equal(k.short_, 0);
        assert_int_equal(k.drills, 1);
        assert_int_equal(activations_open(&w->m), 2);
        assert_int_equal(activations_total(&w->m), 3);
}

/* ---- what the decisions' events tell the outside (act_narrate) ---- */

/* The narrator was asked to emit exactly EXPECTED since the last call. */
static void assert_emitted(struct world *w, const char *expected) {
        const char *got = w->emitted ? w->emitted : "";
        if (!streq(got, expected)) {
                print_error("emitted:\n%s\nexpected:\n%s\n", got, expected);
                fail();
        }
        free(w->emitted);
        w->emitted = NULL;
        w->emitted_len = 0;
}

static void test_narrate_reply_then_mobilised(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "team", false);
        assert_emitted(w, "step 0 - - parallel\n"
                          "notify 0 kari sms callout\n"
                          "notify 0 ola sms callout\n"
                          "notify 0 per sms callout\n");
        answer(w, a, "ola", ANSWER_YES);
        assert_emitted(w, "reply 0 ola - yes\n");
        answer(w, a, "kari", ANSWER_YES);
        /* The reply, then the state it made, then the messages it causes. */
        assert_emitted(w, "reply 0 kari - yes\n"
                          "mobilised 0 - - -\n"
                          "notify -1 per sms standdown\n"
                          "notify -1 kari sms report-mobilised\n"
                          "notify -1 sjef sms report-mobilised\n");
        act_resolve(a, "kari", w->now);
        assert_emitted(w, "resolved 0 kari - -\n"
                          "notify -1 kari sms resolved\n"
                          "notify -1 ola sms resolved\n"); /* per was stood down already */
        /* Replay applies the same events and tells nobody anything. */
        assert_replays(w, a);
        assert_emitted(w, "");
}

static void test_narrate_quorum_turns(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "all", false);
        assert_emitted(w, "step 0 - - parallel\n"
                          "notify 0 ola sms callout\n"
                          "notify 0 per sms callout\n"
                          "notify 0 siri sms callout\n");
        answer(w, a, "ola", ANSWER_NO);
        assert_emitted(w, "reply 0 ola - no\n"
                          "impossible 0 - - total\n"
                          "notify 1 legevakt sms impossible\n"
                          "notify -1 kari sms report-impossible\n"
                          "notify -1 sjef sms report-impossible\n");
        assert_replays(w, a);
        assert_emitted(w, "");
}

static void test_narrate_unmobilised_and_steps(void **state) {
        struct world *w = *state;
        struct activation *a = trigger(w, "team", false);
        answer(w, a, "kari", ANSWER_YES);
        answer(w, a, "ola", ANSWER_YES);
        assert_int_equal(a->state, ACT_MOBILISED);
        free(w->emitted); /* the call-out and mobilised: seen above */
        w->emitted = NULL;
        w->emitted_len = 0;
        answer(w, a, "ola", ANSWER_NO);
        assert_emitted(w, "reply 0 ola - no\n"
                          "unmobilised 0 - - total\n"
                          "mobilising 0 - - -\n"
                          "notify -1 kari sms report-unmobilised\n"
                          "notify 0 per sms recall\n"
                          "notify -1 sjef sms report-unmobilised\n"
                          "resume 0 - - -\n");
        struct activation *b = trigger(w, "when", false);
        assert_emitted(w, "step 0 - - parallel\n"
                          "notify 0 ola sms callout\n");
        timeout(w, b);
        assert_emitted(w, "skip 1 - - when\n"
                          "short 2 - - -\n"
                          "notify -1 kari sms report-short\n");
        /* A contact-list check asks everyone at once: no "step". */
        struct activation *c = create(w, "seq", false, true);
        act_start_check(c, w->now);
        assert_null(strstr(w->emitted ? w->emitted : "", "step "));
        assert_non_null(strstr(w->emitted ? w->emitted : "", "notify -1 ola sms verify\n"));
        assert_replays(w, a);
        assert_replays(w, b);
        assert_replays(w, c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_quorum_total_and_roles, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sequential_decline_moves_on, setup, teardown),
                cmocka_unit_test_setup_teardown(test_away_skipped_in_sequential_step, setup, teardown),
                cmocka_unit_test_setup_teardown(test_away_in_a_later_step_and_quorum, setup, teardown),
                cmocka_unit_test_setup_teardown(test_away_on_duty_replaced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_away_in_contact_list_check, setup, teardown),
                cmocka_unit_test_setup_teardown(test_parallel_steps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_when_office, setup, teardown),
                cmocka_unit_test_setup_teardown(test_when_outside_office, setup, teardown),
                cmocka_unit_test_setup_teardown(test_repeat_and_exhaustion, setup, teardown),
                cmocka_unit_test_setup_teardown(test_standdown_and_resolve, setup, teardown),
                cmocka_unit_test_setup_teardown(test_drill, setup, teardown),
                cmocka_unit_test_setup_teardown(test_receipt_undeliverable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gateway_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_early_impossibility, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unmobilised, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_address, setup, teardown),
                cmocka_unit_test_setup_teardown(test_contact_list_check, setup, teardown),
                cmocka_unit_test_setup_teardown(test_replay_of_an_old_log, setup, teardown),
                cmocka_unit_test_setup_teardown(test_answer_links, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_completes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_voice_after_sms, setup, teardown),
                cmocka_unit_test_setup_teardown(test_voice_only_not_reached_moves_on, setup, teardown),
                cmocka_unit_test_setup_teardown(test_voice_machine_and_sms_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_voice_calls_drop_when_mobilised, setup, teardown),
                cmocka_unit_test_setup_teardown(test_close_stale, setup, teardown),
                cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_narrate_reply_then_mobilised, setup, teardown),
                cmocka_unit_test_setup_teardown(test_narrate_quorum_turns, setup, teardown),
                cmocka_unit_test_setup_teardown(test_narrate_unmobilised_and_steps, setup, teardown),
        };
        test_dir_make(tmpdir, "beredd-test-activation");
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        if (test_dir_remove(tmpdir) < 0)
                r = r ? r : 1;
        return r;
}
