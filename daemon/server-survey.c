/* server-survey.c - the absence survey before a heightened period, in the
 * daemon (survey.h keeps the state):
 *
 *  - opened survey_before ahead of the period's first day (at 09:00 local
 *    that day, or later while the period has not begun), or on demand
 *    ("beredctl survey CHAIN --period NAME", which also adds a chain to a
 *    survey already open);
 *  - everyone on the survey's chains (the people of their steps but the
 *    final one: persons, role members, every roster member) is asked once,
 *    by SMS and by e-mail with two links (/s/TOKEN/ok, /s/TOKEN/away);
 *  - answers: "OK <code>" (or a bare OK when nothing else is open that OK
 *    could answer), "BORTE 24.12-27.12" (an absence that overlaps the
 *    period: server-away.c registers it and tells us), the links;
 *  - survey_remind after the first ask, a second ask to those who had not
 *    answered; the survey closes when everyone has answered, or twice
 *    survey_remind after it opened, or when the period begins (while it
 *    runs: when it ends), and each chain's leader (report_to, else the
 *    follow-up coordinator) gets the forecast (coverage_summary);
 *  - after it closed, until the period is over, an absence that turns a day
 *    (or part) uncoverable sends the leader the news and the forecast again.
 *
 * Scheduled messages (asks, reminders, the forecast at close) go out
 * between 09:00 and 21:00 local; asks on demand and news go at once.
 * Every message is recorded in the survey's file before it is handed to a
 * gateway; one found "sending" at start is sent again (the process died).
 * The journal gets survey ids, person ids and counts, never a code, a
 * token or a text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "followup.h"
#include "gateway.h"
#include "log.h"
#include "macro.h"
#include "server-internal.h"
#include "survey.h"
#include "text.h"
#include "wording.h"

#define DAY_START_MIN (9 * 60)  /* scheduled survey messages: from 09:00 ... */
#define DAY_END_MIN   (21 * 60) /* ... to 21:00 local */
#define CHECK_MAX_USEC (60 * USEC_PER_SEC)
#define NEWS_PER_DAY  6         /* news messages to one leader of one survey per 24 h */

/* ---- small helpers ---- */

/* NOW, or when NOW is outside 09:00-21:00 local, the next 09:00. */
static uint64_t daytime_from(struct server *s, uint64_t now) {
        struct calendar_local l;
        calendar_local(s->cal, now, &l);
        if (l.day_min >= DAY_START_MIN && l.day_min < DAY_END_MIN)
                return now;
        struct ymd d = l.day_min < DAY_START_MIN ? l.date : calendar_add_days(l.date, 1);
        return calendar_from_local(s->cal, d, DAY_START_MIN);
}

static struct ymd today(struct server *s, uint64_t now) {
        struct calendar_local l;
        calendar_local(s->cal, now, &l);
        return l.date;
}

static void range_text(const struct survey *sv, char *buf, size_t len) {
        snprintf(buf, len, "%d.%d\xe2\x80\x93%d.%d", sv->from.d, sv->from.m, sv->to.d, sv->to.m);
}

/* A range inside the period for the example: a third in, four days. */
static void example_text(const struct survey *sv, char *buf, size_t len) {
        int64_t f = calendar_days_from_ymd(sv->from), t = calendar_days_from_ymd(sv->to), a = f + (t - f) / 3;
        int64_t b = a + 3 > t ? t : a + 3;
        struct ymd x = calendar_ymd_from_days(a), y = calendar_ymd_from_days(b);
        if (a == b)
                snprintf(buf, len, "%d.%d", x.d, x.m);
        else
                snprintf(buf, len, "%d.%d-%d.%d", x.d, x.m, y.d, y.m);
}

/* "Kriseteamet – Jul og nyttår" */
static void title_text(const struct chain *c, const struct survey *sv, char *buf, size_t len) {
        snprintf(buf, len, "%s \xe2\x80\x93 %s", c ? (c->name ? c->name : c->id) : "beredd", sv->period);
}

static bool step_names(const struct config *cfg, const struct step *st, const char *person) {
        for (size_t t = 0; t < st->n_targets; t++) {
                const struct target *tg = &st->targets[t];
                if (tg->kind == TARGET_PERSON && streq(tg->ref, person))
                        return true;
                if (tg->kind == TARGET_ROLE && person_has_role(config_person(cfg, person), tg->ref))
                        return true;
                const struct roster *ro = tg->kind == TARGET_ROSTER ? config_roster(cfg, tg->ref) : NULL;
                for (size_t k = 0; ro && k < ro->n_members; k++)
                        if (streq(ro->members[k], person))
                                return true;
        }
        return false;
}

/* PERSON is one of chain C's people (a step but the final one names them). */
static bool chain_has(const struct config *cfg, const struct chain *c, const char *person) {
        for (size_t k = 0; k < c->n_steps; k++)
                if (!c->steps[k].final && step_names(cfg, &c->steps[k], person))
                        return true;
        return false;
}

/* The first of SV's chains that has PERSON (for the message's title). */
static const struct chain *chain_of(const struct config *cfg, const struct survey *sv, const char *person) {
        for (size_t i = 0; i < sv->n_chains; i++) {
                const struct chain *c = config_chain(cfg, sv->chains[i]);
                if (c && chain_has(cfg, c, person))
                        return c;
        }
        return sv->n_chains ? config_chain(cfg, sv->chains[0]) : NULL;
}

/* ---- sending ---- */

static void save_later(struct server *s, struct survey *sv) {
        sv->dirty = true;
        if (s->survey_save)
                sd_event_source_set_enabled(s->survey_save, SD_EVENT_ONESHOT);
}

static int on_save_later(sd_event_source *es _unused_, void *userdata) {
        struct server *s = userdata;
        for (size_t i = 0; i < surveys_count(s->surveys); i++) {
                struct survey *sv = surveys_at(s->surveys, i);
                if (!sv->dirty)
                        continue;
                int r = survey_save(s->surveys, sv);
                if (r < 0) {
                        log_warning_errno(r, "Survey %s could not be saved: %m", sv->id);
                        server_spool_failed(s, r, "saving a survey");
                        continue;
                }
                sv->dirty = false;
        }
        return 0;
}

static void on_msg_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id _unused_,
                        const char *error, const char *provider_ref _unused_) {
        struct server *s = userdata;
        struct survey *sv;
        struct survey_msg *m = surveys_msg(s->surveys, key, &sv);
        if (!m || m->state != SURVEY_MSG_SENDING)
                return; /* purged meanwhile, or a repeat */
        m->handed = false;
        if (result != GW_SENT)
                log_warning("Survey %s: a message to %s (%s) could not be sent: %s", sv->id, m->person,
                            channel_name(m->ch), error ? error : "?");
        survey_msg_done(m, result == GW_SENT);
        save_later(s, sv);
}

/* Hand M to a gateway (it is on disk as "sending"). */
static void msg_send(struct server *s, struct survey *sv, struct survey_msg *m) {
        const struct person *p = config_person(s->config, m->person);
        const char *to = !p ? NULL : m->ch == CHANNEL_SMS ? p->phone : p->email;
        struct gw_message g = { .key = m->key, .channel = m->ch, .person = m->person, .to = to,
                                .subject = m->subject, .text = m->text, .keep_trying = GW_KEEP_TRYING_USEC };
        int r = to ? gateway_send(s->gw, &g, on_msg_done, s) : -ENOENT;
        if (r >= 0)
                m->handed = true;
        if (r < 0) {
                log_warning("Survey %s: a message to %s (%s) was not sent: %s", sv->id, m->person, channel_name(m->ch),
                            r == -ENOENT ? "no such person or address any more" : strerror(-r));
                survey_msg_done(m, false);
                save_later(s, sv);
        }
}

/* Hand over every message of SV that is on disk as "sending" and not with
 * a gateway yet: the new ones, and those a restart or a failed save held
 * back. A held-back ask, reminder or forecast (recorded over LATE_USEC ago)
 * waits for the daytime window; news goes at once. */
#define LATE_USEC (10 * USEC_PER_MIN)
static void send_pending(struct server *s, struct survey *sv) {
        uint64_t now = beredd_now();
        bool day = daytime_from(s, now) == now;
        unsigned late = 0;
        for (size_t i = 0; i < sv->n_msgs; i++) {
                struct survey_msg *m = &sv->msgs[i];
                if (m->state != SURVEY_MSG_SENDING || m->handed)
                        continue;
                bool is_late = m->at + LATE_USEC < now;
                if (ymd_cmp(sv->to, today(s, now)) < 0) {
                        /* Held back past the period's end: of no use now. */
                        log_notice("Survey %s: a message to %s held back until after the period was not sent", sv->id,
                                   m->person);
                        survey_msg_done(m, false);
                        save_later(s, sv);
                        continue;
                }
                if (is_late && !day && m->kind != SURVEY_MSG_NEWS)
                        continue;
                late += is_late;
                msg_send(s, sv, m);
        }
        if (late)
                log_info("Survey %s: %u message(s) recorded earlier (before a restart or a failed save) sent now", sv->id,
                         late);
}

/* Record the ask (or with REMIND the second ask) to P in SV. */
static int record_ask(struct server *s, struct survey *sv, struct survey_person *sp, bool remind, uint64_t now) {
        const struct person *p = config_person(s->config, sp->person);
        if (!p)
                return 0;
        bool en = p->lang == LANG_EN;
        char title[256], range[32], ex[32], sms[640], subject[320], body[2048], ok[512], away[512];
        title_text(chain_of(s->config, sv, p->id), sv, title, sizeof(title));
        range_text(sv, range, sizeof(range));
        example_text(sv, ex, sizeof(ex));
        int n = snprintf(sms, sizeof(sms), "%s", remind ? W(en, W_SURVEY_REMIND) : "");
        snprintf(sms + n, sizeof(sms) - (size_t) n, W(en, W_SURVEY_ASK), title, range, ex, sp->code);
        enum survey_msg_kind kind = remind ? SURVEY_MSG_REMIND : SURVEY_MSG_ASK;
        int r = 0;
        if (p->phone)
                r = survey_msg_add(sv, p->id, CHANNEL_SMS, kind, NULL, sms, now, NULL);
        const char *url = s->config->http.public_url;
        if (r >= 0 && p->email && (url || p->phone)) {
                n = snprintf(subject, sizeof(subject), "%s", remind ? W(en, W_SURVEY_REMIND) : "");
                snprintf(subject + n, sizeof(subject) - (size_t) n, W(en, W_SURVEY_SUBJECT), title, range);
                if (url) {
                        snprintf(ok, sizeof(ok), "%s/s/%s/ok", url, sp->token);
                        snprintf(away, sizeof(away), "%s/s/%s/away", url, sp->token);
                        snprintf(body, sizeof(body), W(en, W_SURVEY_MAIL), title, range, ok, away, ex, sp->code);
                } else
                        snprintf(body, sizeof(body), W(en, W_SURVEY_MAIL_SMS), title, range, ex, sp->code);
                r = survey_msg_add(sv, p->id, CHANNEL_EMAIL, kind, subject, body, now, NULL);
        }
        if (r >= 0)
                sp->asks = remind ? 2 : 1;
        return r;
}

/* Save SV, then send what it recorded; on a failed save nothing is sent
 * (the next check saves again and sends then: the state in memory is
 * kept, and the messages stay "sending"). */
static int commit(struct server *s, struct survey *sv) {
        int r = survey_save(s->surveys, sv);
        if (r < 0) {
                log_warning_errno(r, "Survey %s could not be saved; nothing sent: %m", sv->id);
                server_spool_failed(s, r, "saving a survey");
                sv->dirty = true;
                return r;
        }
        sv->dirty = false;
        send_pending(s, sv);
        server_coverage_publish(s, false); /* the survey's counts ride with the coverage topic */
        return 0;
}

/* Add chain C's people to SV and ask those not asked before. Counts into
 * *ASKED, *ALREADY and *NO_WAY (no phone and no e-mail to answer with). */
static int ask_chain(struct server *s, struct survey *sv, const struct chain *c, uint64_t now, unsigned *asked,
                     unsigned *already, unsigned *no_way) {
        int r = survey_add_chain(sv, c->id);
        for (size_t i = 0; r >= 0 && i < s->config->n_people; i++) {
                const struct person *p = &s->config->people[i];
                struct survey_person *sp = survey_person(sv, p->id);
                if (!chain_has(s->config, c, p->id))
                        continue;
                if (sp && sp->asks) {
                        (*already)++;
                        continue;
                }
                if (!p->phone && !(p->email && s->config->http.public_url)) {
                        (*no_way)++;
                        continue;
                }
                if (!sp && (r = survey_add_person(s->surveys, sv, p->id, &sp)) < 0)
                        break;
                if ((r = record_ask(s, sv, sp, false, now)) >= 0)
                        (*asked)++;
        }
        return r;
}

/* The close time of a survey opened at OPENED: twice survey_remind later,
 * but not after the period begins (or, opened while it runs, ends). */
static uint64_t close_time(struct server *s, const struct survey *sv, uint64_t remind, uint64_t opened) {
        uint64_t start = calendar_from_local(s->cal, sv->from, 0);
        uint64_t end = calendar_from_local(s->cal, calendar_add_days(sv->to, 1), 0);
        uint64_t cap = opened < start ? start : end, t = opened + 2 * remind;
        return t < cap ? t : cap;
}

static int open_survey(struct server *s, const struct heightened *h, bool manual, uint64_t now, struct survey **ret) {
        struct survey *sv;
        int r = surveys_create(s->surveys, h->name, h->from, h->to, now, manual, &sv);
        if (r < 0)
                return r;
        sv->remind_at = now + h->survey_remind;
        sv->close_at = close_time(s, sv, h->survey_remind, now);
        *ret = sv;
        return 0;
}

/* ---- the leader's forecast ---- */

/* The people told about chain C's coverage. */
static size_t leaders_of(const struct config *cfg, const struct chain *c, const char **v, size_t max) {
        size_t n = 0;
        for (size_t i = 0; i < c->n_report_to && n < max; i++)
                v[n++] = c->report_to[i];
        if (!n && cfg->followup.enabled && cfg->followup.coordinator)
                v[n++] = cfg->followup.coordinator;
        return n;
}

/* The forecast of chain C over the rest of SV's period (from today). */
static int forecast(struct server *s, const struct survey *sv, const struct chain *c, uint64_t now,
                    struct coverage **ret) {
        struct ymd t = today(s, now), from = ymd_cmp(t, sv->from) > 0 ? t : sv->from, to = sv->to;
        if (ymd_cmp(from, to) > 0)
                return -ESTALE;
        if (calendar_days_from_ymd(to) - calendar_days_from_ymd(from) >= COVERAGE_MAX_DAYS)
                to = calendar_ymd_from_days(calendar_days_from_ymd(from) + COVERAGE_MAX_DAYS - 1);
        return coverage_compute(s->config, s->cal, s->duty, s->absences, c, from, to, ret);
}

static json_t *unmet_keys(const struct coverage *cv) {
        json_t *arr = json_array();
        char k[40];
        for (size_t i = 0; arr && i < cv->n_parts; i++)
                if (!cv->parts[i].met) {
                        coverage_part_key(&cv->parts[i], k, sizeof(k));
                        json_array_append_new(arr, json_string(k));
                }
        return arr;
}

static bool keys_has(const json_t *arr, const char *k) {
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) if (json_string_value(v) && streq(json_string_value(v), k)) return true;
        return false;
}

/* News messages to PERSON of SV within the last day. */
static unsigned news_recent(const struct survey *sv, const char *person, uint64_t now) {
        unsigned n = 0;
        for (size_t i = 0; i < sv->n_msgs; i++)
                n += sv->msgs[i].kind == SURVEY_MSG_NEWS && streq(sv->msgs[i].person, person) &&
                     sv->msgs[i].at + USEC_PER_DAY > now;
        return n;
}

/* The counts of SV's people on chain C (a survey may cover several), and
 * of C's people it never asked (no phone and no e-mail to answer with). */
static void chain_counts(const struct config *cfg, const struct survey *sv, const struct chain *c, unsigned *asked,
                         unsigned *answered, unsigned *away, unsigned *not_asked) {
        *asked = *answered = *away = 0;
        if (not_asked)
                *not_asked = 0;
        for (size_t i = 0; i < cfg->n_people; i++) {
                const struct person *q = &cfg->people[i];
                if (!chain_has(cfg, c, q->id))
                        continue;
                const struct survey_person *p = survey_person_const(sv, q->id);
                if (!p || !p->asks) {
                        if (not_asked)
                                (*not_asked)++;
                        continue;
                }
                (*asked)++;
                *answered += p->answer != SURVEY_UNANSWERED;
                *away += p->answer == SURVEY_AWAY;
        }
}

/* The forecast's SMS: PREFIX and SUFFIX never cut, the day list (SUM) ends
 * in "..." when the whole does not fit the gateways' max_segments (the
 * e-mail has it all, with the table). */
static void sms_fit(const struct config *cfg, const char *prefix, const char *sum, const char *suffix, char *out,
                    size_t len) {
        if (text_sms_compose_n(prefix, sum, suffix, config_sms_max_segments(cfg), out, len, NULL) < 0)
                snprintf(out, len, "%s%s%s", prefix, sum, suffix);
}

/* Record the forecast of chain C (or, with NEW, the news of the parts
 * NEW[i] and the forecast) to C's leaders, by SMS and by e-mail. Returns
 * how many leaders a message was recorded for, or -errno. */
static int record_forecast(struct server *s, struct survey *sv, const struct chain *c, const struct coverage *cv,
                           const bool *new, uint64_t now) {
        const char *leaders[32];
        size_t n = leaders_of(s->config, c, leaders, ELEMENTSOF(leaders));
        unsigned asked, answered, away, not_asked;
        int r = 0, told = 0;
        chain_counts(s->config, sv, c, &asked, &answered, &away, &not_asked);
        for (size_t i = 0; i < n && r >= 0; i++) {
                const struct person *p = config_person(s->config, leaders[i]);
                if (!p || (new && news_recent(sv, p->id, now) >= NEWS_PER_DAY)) {
                        if (p)
                                log_notice("Survey %s: %u news messages to %s within a day; no more today", sv->id,
                                           NEWS_PER_DAY, p->id);
                        continue;
                }
                bool en = p->lang == LANG_EN;
                char title[256], range[32], subject[320];
                title_text(c, sv, title, sizeof(title));
                range_text(sv, range, sizeof(range));
                _cleanup_free_ char *sum = coverage_summary(s->config, cv, title, p->lang);
                _cleanup_free_ char *parts = new ? coverage_unmet_text(s->config, cv, new, p->lang) : NULL;
                _cleanup_free_ char *table = coverage_text(s->config, cv, p->lang);
                _cleanup_free_ char *body = NULL;
                char prefix[1024] = "", suffix[512] = "";
                if (!sum || (new && !parts) || !table)
                        return -ENOMEM;
                if (new)
                        snprintf(prefix, sizeof(prefix), W(en, W_SURVEY_NEWS), parts);
                else {
                        int k = snprintf(suffix, sizeof(suffix), W(en, W_SURVEY_FORECAST), answered, asked, away);
                        /* Nobody's silence is taken for "available" without saying so. */
                        if (answered < asked && k >= 0 && (size_t) k < sizeof(suffix))
                                k += snprintf(suffix + k, sizeof(suffix) - (size_t) k, "%s",
                                              W(en, W_SURVEY_FORECAST_UNANSWERED));
                        if (not_asked && k >= 0 && (size_t) k < sizeof(suffix))
                                snprintf(suffix + k, sizeof(suffix) - (size_t) k, W(en, W_SURVEY_FORECAST_NOT_ASKED),
                                         not_asked);
                }
                if (asprintf(&body, "%s%s%s\n\n%s", prefix, sum, suffix, table) < 0)
                        return -ENOMEM;
                snprintf(subject, sizeof(subject), W(en, W_SURVEY_FORECAST_SUBJECT), title, range);
                enum survey_msg_kind kind = new ? SURVEY_MSG_NEWS : SURVEY_MSG_FORECAST;
                char sms[2048];
                if (p->phone)
                        sms_fit(s->config, prefix, sum, suffix, sms, sizeof(sms));
                if (p->phone)
                        r = survey_msg_add(sv, p->id, CHANNEL_SMS, kind, NULL, sms, now, NULL);
                if (r >= 0 && p->email)
                        r = survey_msg_add(sv, p->id, CHANNEL_EMAIL, kind, subject, body, now, NULL);
                told += r >= 0 && (p->phone || p->email);
        }
        return r < 0 ? r : told;
}

/* Close SV: the forecast to the leaders of each chain not told before (a
 * chain added to a closed survey reopens it for itself only). */
static int close_survey(struct server *s, struct survey *sv, uint64_t now) {
        int r = 0, leaders = 0;
        for (size_t i = 0; i < sv->n_chains && r >= 0; i++) {
                const struct chain *c = config_chain(s->config, sv->chains[i]);
                struct coverage *cv = NULL;
                if (!c || json_object_get(sv->told, c->id) || forecast(s, sv, c, now, &cv) < 0)
                        continue;
                r = record_forecast(s, sv, c, cv, NULL, now);
                leaders += r > 0 ? r : 0;
                json_t *keys = r >= 0 ? unmet_keys(cv) : NULL;
                if (keys)
                        json_object_set_new(sv->told, c->id, keys);
                coverage_free(cv);
        }
        if (r < 0)
                return r;
        unsigned asked, answered, away;
        survey_counts(sv, &asked, &answered, &away);
        sv->closed = now;
        if (leaders)
                log_info("Survey %s (%s) closed: %u of %u answered, %u away; the forecast goes to %d leader(s)", sv->id,
                         sv->period, answered, asked, away, leaders);
        else
                log_warning("Survey %s (%s) closed: %u of %u answered, %u away; nobody to send the forecast to "
                            "(its chains are gone from the configuration, or have no leader with a phone or e-mail)",
                            sv->id, sv->period, answered, asked, away);
        return commit(s, sv);
}

/* ---- the schedule ---- */

static bool all_answered(const struct survey *sv) {
        unsigned asked, answered, away;
        survey_counts(sv, &asked, &answered, &away);
        return asked > 0 && answered == asked;
}

static void remind_survey(struct server *s, struct survey *sv, uint64_t now) {
        unsigned n = 0;
        int r = 0;
        for (size_t i = 0; i < sv->n_people && r >= 0; i++) {
                struct survey_person *sp = &sv->people[i];
                if (sp->asks == 1 && sp->answer == SURVEY_UNANSWERED && (r = record_ask(s, sv, sp, true, now)) >= 0)
                        n++;
        }
        if (r < 0)
                return;
        sv->reminded = now;
        log_info("Survey %s (%s): a second ask to %u who had not answered", sv->id, sv->period, n);
        commit(s, sv);
}

/* Open the surveys that survey_before says are due. */
static void open_due(struct server *s, uint64_t now) {
        for (size_t i = 0; i < s->config->calendar.n_heightened; i++) {
                const struct heightened *h = &s->config->calendar.heightened[i];
                char id[SURVEY_ID_LEN + 1];
                if (!h->survey_before)
                        continue;
                survey_id_of(h->from, h->to, id);
                uint64_t start = calendar_from_local(s->cal, h->from, 0);
                if (surveys_get(s->surveys, id) || now >= start || now + h->survey_before < start ||
                    daytime_from(s, now) != now)
                        continue;
                struct survey *sv;
                unsigned asked = 0, already = 0, no_way = 0;
                if (open_survey(s, h, false, now, &sv) < 0)
                        continue;
                int r = 0;
                for (size_t k = 0; k < s->config->n_chains && r >= 0; k++) {
                        const struct chain *c = &s->config->chains[k];
                        bool want = !h->n_survey_chains;
                        for (size_t j = 0; j < h->n_survey_chains; j++)
                                want = want || streq(h->survey_chains[j], c->id);
                        if (want)
                                r = ask_chain(s, sv, c, now, &asked, &already, &no_way);
                }
                if (r < 0)
                        log_warning_errno(r, "Survey %s: the asks could not all be recorded: %m", sv->id);
                log_info("Survey %s (%s) opened: %u asked%s", sv->id, h->name, asked,
                         no_way ? ", some people have no phone or e-mail to answer with" : "");
                commit(s, sv);
        }
}

static void arm(struct server *s, uint64_t next, uint64_t now) {
        uint64_t mono = server_now_monotonic(), d = next > now ? next - now : 0;
        if (d > CHECK_MAX_USEC)
                d = CHECK_MAX_USEC;
        if (d < 100 * 1000)
                d = 100 * 1000;
        if (s->survey_timer) {
                sd_event_source_set_time(s->survey_timer, mono + d);
                sd_event_source_set_enabled(s->survey_timer, SD_EVENT_ONESHOT);
        }
}

void server_survey_check(struct server *s) {
        if (!s->surveys)
                return;
        uint64_t now = beredd_now(), next = now + CHECK_MAX_USEC;
        open_due(s, now);
        for (size_t i = 0; i < surveys_count(s->surveys); i++) {
                struct survey *sv = surveys_at(s->surveys, i);
                if (sv->dirty && survey_save(s->surveys, sv) >= 0)
                        sv->dirty = false;
                if (!sv->dirty)
                        send_pending(s, sv);
                if (sv->closed)
                        continue;
                uint64_t day = daytime_from(s, now);
                /* (A reminder due after the close, or once the close is due
                 * as well, after a long stop, is no use: the close comes.) */
                if (!sv->reminded && sv->remind_at && now >= sv->remind_at && sv->remind_at < sv->close_at &&
                    now < sv->close_at && !all_answered(sv)) {
                        if (day == now)
                                remind_survey(s, sv, now);
                        else if (day < next)
                                next = day;
                }
                if (now >= sv->close_at || all_answered(sv)) {
                        if (day == now)
                                close_survey(s, sv, now);
                        else if (day < next)
                                next = day;
                }
                /* What is due later; what is due now but waits for the
                 * morning set NEXT above (never a time past: no busy loop). */
                if (!sv->closed && sv->close_at > now && sv->close_at < next)
                        next = sv->close_at;
                if (!sv->closed && !sv->reminded && sv->remind_at > now && sv->remind_at < next)
                        next = sv->remind_at;
        }
        /* Retention: a survey (who answered what) goes its retention after its period. */
        struct ymd before = calendar_ymd_from_days(calendar_days_from_ymd(today(s, now)) -
                                                   (int64_t) (s->config->retention.surveys / USEC_PER_DAY));
        unsigned purged = 0;
        int r = surveys_purge(s->surveys, before, &purged);
        if (purged)
                log_info("Retention: %u survey(s) whose period ended longer ago than retention.surveys removed", purged);
        if (r < 0)
                log_warning_errno(r, "Retention: a survey could not be removed: %m");
        arm(s, next, now);
}

static int on_survey_timer(sd_event_source *es _unused_, uint64_t usec _unused_, void *userdata) {
        server_survey_check(userdata);
        return 0;
}

/* After absences changed: news to the leaders of closed surveys whose
 * period is not over, for parts that turned uncoverable. */
void server_survey_absences_changed(struct server *s) {
        uint64_t now = beredd_now();
        for (size_t i = 0; s->surveys && i < surveys_count(s->surveys); i++) {
                struct survey *sv = surveys_at(s->surveys, i);
                bool any = false;
                for (size_t k = 0; k < sv->n_chains; k++) {
                        const struct chain *c = config_chain(s->config, sv->chains[k]);
                        json_t *told = c ? json_object_get(sv->told, c->id) : NULL;
                        struct coverage *cv = NULL;
                        /* Only chains whose leaders had the forecast (closed for them). */
                        if (!told || forecast(s, sv, c, now, &cv) < 0)
                                continue;
                        bool *new = calloc(cv->n_parts + 1, sizeof(bool)), turned = false;
                        char key[40];
                        for (size_t j = 0; new && j < cv->n_parts; j++) {
                                coverage_part_key(&cv->parts[j], key, sizeof(key));
                                new[j] = !cv->parts[j].met && !keys_has(told, key);
                                turned = turned || new[j];
                        }
                        json_t *keys = unmet_keys(cv);
                        int rr = new && turned ? record_forecast(s, sv, c, cv, new, now) : 0;
                        if (rr > 0)
                                log_info("Survey %s: an absence turned a part of %s's period uncoverable; the leaders are told",
                                         sv->id, c->id);
                        if (rr < 0) { /* tried again at the next change */
                                log_warning_errno(rr, "Survey %s: the news to %s's leaders could not be recorded: %m",
                                                  sv->id, c->id);
                                json_decref(keys);
                                keys = NULL;
                        }
                        /* Also when parts became coverable again (a later
                         * turn is news again); saved only when it changed. */
                        if (keys && !json_equal(keys, told)) {
                                json_object_set_new(sv->told, c->id, keys);
                                any = true;
                        } else
                                json_decref(keys);
                        free(new);
                        coverage_free(cv);
                }
                if (any)
                        commit(s, sv);
        }
}

/* ---- answers ---- */

/* P reported an absence [FROM, TO) (SMS BORTE, the link's form): an answer
 * to every survey that asked them whose period it overlaps. */
void server_survey_absence(struct server *s, const struct person *p, uint64_t from, uint64_t to, const char *via) {
        uint64_t now = beredd_now();
        bool any = false;
        for (size_t i = 0; s->surveys && i < surveys_count(s->surveys); i++) {
                struct survey *sv = surveys_at(s->surveys, i);
                struct survey_person *sp = survey_person(sv, p->id);
                uint64_t pf = calendar_from_local(s->cal, sv->from, 0);
                uint64_t pt = calendar_from_local(s->cal, calendar_add_days(sv->to, 1), 0);
                if (!sp || !sp->asks || from >= pt || to <= pf)
                        continue;
                survey_answer(sp, SURVEY_AWAY, via, now);
                log_info("Survey %s: %s reported an absence (%s)", sv->id, p->id, via);
                commit(s, sv);
                any = true;
        }
        if (any)
                server_survey_check(s); /* the last answer closes it */
}

void server_absences_changed(struct server *s) {
        server_coverage_publish(s, false);
        server_survey_absences_changed(s);
}

static void ok_receipt(struct server *s, const struct survey *sv, const struct person *p,
                       const struct survey_person *sp, char *back, size_t backlen) {
        bool en = p->lang == LANG_EN;
        char title[256], range[32];
        title_text(chain_of(s->config, sv, p->id), sv, title, sizeof(title));
        range_text(sv, range, sizeof(range));
        snprintf(back, backlen, sp->answer == SURVEY_AWAY ? W(en, W_SURVEY_OK_RECEIPT_AWAY) : W(en, W_SURVEY_OK_RECEIPT),
                 title, range);
}

/* Record P's OK to SV; 0, or -errno (not saved: the text back says so). */
static int answer_ok(struct server *s, struct survey *sv, struct survey_person *sp, const char *via) {
        enum survey_answer old = sp->answer;
        uint64_t at = sp->answered;
        char old_via[sizeof(sp->via)];
        memcpy(old_via, sp->via, sizeof(old_via));
        survey_answer(sp, SURVEY_OK, via, beredd_now());
        int r = survey_save(s->surveys, sv);
        if (r < 0) {
                sp->answer = old;
                sp->answered = at;
                memcpy(sp->via, old_via, sizeof(old_via));
                server_spool_failed(s, r, "saving a survey");
                return r;
        }
        log_info("Survey %s: %s can be reached (%s)", sv->id, sp->person, via);
        server_coverage_publish(s, false); /* the counts */
        server_survey_check(s);            /* the last answer closes it */
        return 0;
}

/* When SV last asked PERSON (the ask or the reminder), 0 never. */
static uint64_t last_ask_to(const struct survey *sv, const char *person) {
        uint64_t t = 0;
        for (size_t i = 0; i < sv->n_msgs; i++)
                if ((sv->msgs[i].kind == SURVEY_MSG_ASK || sv->msgs[i].kind == SURVEY_MSG_REMIND) &&
                    streq(sv->msgs[i].person, person) && sv->msgs[i].at > t)
                        t = sv->msgs[i].at;
        return t;
}

/* The first open survey (not closed, period not over) that asked PERSON
 * and has no answer from them, or NULL. */
static struct survey *unanswered(struct server *s, const char *person, struct survey_person **ret) {
        struct ymd t = today(s, beredd_now());
        for (size_t i = 0; i < surveys_count(s->surveys); i++) {
                struct survey *sv = surveys_at(s->surveys, i);
                struct survey_person *sp = survey_person(sv, person);
                if (sp && sp->asks && sp->answer == SURVEY_UNANSWERED && !sv->closed && ymd_cmp(sv->to, t) >= 0) {
                        *ret = sp;
                        return sv;
                }
        }
        return NULL;
}

/* Follow-up cases due for PERSON today or earlier (a bare OK may be meant for them). */
static bool followup_due_for(struct server *s, const char *person) {
        json_t *due = NULL;
        if (!s->config->followup.enabled || followup_due(s->fu, false, person, &due) < 0)
                return false;
        bool any = json_integer_value(json_object_get(due, "count")) > 0;
        json_decref(due);
        return any;
}

int server_survey_sms(struct server *s, const struct person *p, const struct text_reply *rp, bool *wrong_code,
                      char *back, size_t backlen) {
        struct survey_person *sp = NULL;
        struct survey *sv = NULL;
        bool en = p->lang == LANG_EN;
        *wrong_code = false;
        if (strlen(rp->code) == SURVEY_CODE_LEN) {
                sv = surveys_by_code(s->surveys, rp->code, p->id, &sp);
                if (!sv) {
                        *wrong_code = true;
                        snprintf(back, backlen, "%s", W(en, W_SURVEY_NO_CODE));
                        return -ENOENT;
                }
        } else if (!rp->code[0] && rp->kind == TEXT_REPLY_OK) {
                /* A bare OK: only when a survey is the one open thing it
                 * can answer (no call-out, no check, no follow-up reminder
                 * due to them: those get "reply with the code"). */
                if (surveys_open_for(s->surveys, p->id, today(s, beredd_now()), &sv) != 1 ||
                    activations_open_for_kind(s->acts, p->id, false, NULL) > 0 ||
                    activations_open_for_kind(s->acts, p->id, true, NULL) > 0 || followup_due_for(s, p->id))
                        return 0;
                sp = survey_person(sv, p->id);
        } else if (!rp->code[0] && (rp->kind == TEXT_REPLY_YES || rp->kind == TEXT_REPLY_NO) &&
                   (sv = unanswered(s, p->id, &sp))) {
                /* A bare "Ja" from someone the open survey asked and who has
                 * not answered it. Without a call-out it is the survey's:
                 * say how to answer that. With one call-out that began
                 * before the survey's last ask to them, which one is meant
                 * is not guessed (a false yes is the worst failure); with
                 * one that began after it, it is the call-out's, as always. */
                const char *id = NULL;
                json_t *sum = NULL;
                unsigned n = activations_open_for_kind(s->acts, p->id, false, &id);
                if (n > 1)
                        return 0; /* "several open: reply with the code" */
                if (n == 1) {
                        uint64_t created = activations_summary(s->acts, id, &sum) >= 0 ?
                                (uint64_t) json_integer_value(json_object_get(sum, "created")) * USEC_PER_SEC : 0;
                        const char *code = json_string_value(json_object_get(sum, "code"));
                        bool ambiguous = code && last_ask_to(sv, p->id) >= created;
                        if (ambiguous)
                                snprintf(back, backlen, W(en, W_SURVEY_JA_WHICH), code, code);
                        json_decref(sum);
                        if (!ambiguous)
                                return 0;
                        log_info("SMS answer from %s: not recorded, asked which (a call-out and the survey %s)", p->id,
                                 sv->id);
                        return -EAGAIN;
                }
                char ex[32];
                example_text(sv, ex, sizeof(ex));
                snprintf(back, backlen, W(en, W_SURVEY_WHICH), sp->code, ex);
                return -EINVAL;
        } else
                return 0;
        if (rp->kind != TEXT_REPLY_OK) {
                char ex[32];
                example_text(sv, ex, sizeof(ex));
                snprintf(back, backlen, W(en, W_SURVEY_WHICH), sp->code, ex);
                return -EINVAL;
        }
        if (ymd_cmp(sv->to, today(s, beredd_now())) < 0) {
                snprintf(back, backlen, "%s", W(en, W_SPAGE_ENDED));
                return -ESTALE;
        }
        int r = answer_ok(s, sv, sp, "sms");
        if (r < 0)
                snprintf(back, backlen, W(en, W_AWAY_FAILED));
        else
                ok_receipt(s, sv, p, sp, back, backlen);
        return r < 0 ? r : 1;
}

/* The days the away form takes: the period and FORM_MARGIN_DAYS around it. */
#define FORM_MARGIN_DAYS 14
static void form_bounds(const struct survey *sv, struct ymd *lo, struct ymd *hi) {
        *lo = calendar_add_days(sv->from, -FORM_MARGIN_DAYS);
        *hi = calendar_add_days(sv->to, FORM_MARGIN_DAYS);
}

int server_survey_token(struct server *s, const char *token, json_t **info) {
        struct survey_person *sp;
        struct survey *sv = surveys_by_token(s->surveys, token, &sp);
        if (!sv)
                return -ENOENT;
        const struct person *p = config_person(s->config, sp->person);
        if (!p)
                return -ENOENT; /* no longer in the configuration: no link of anyone's */
        char from[16], to[16], lo[16], hi[16], lo_t[16], hi_t[16], title[256];
        struct ymd a, b;
        form_bounds(sv, &a, &b);
        time_format_date(sv->from, from, sizeof(from));
        time_format_date(sv->to, to, sizeof(to));
        time_format_date(a, lo, sizeof(lo));
        time_format_date(b, hi, sizeof(hi));
        snprintf(lo_t, sizeof(lo_t), "%d.%d", a.d, a.m);
        snprintf(hi_t, sizeof(hi_t), "%d.%d", b.d, b.m);
        title_text(chain_of(s->config, sv, sp->person), sv, title, sizeof(title));
        char range[32];
        range_text(sv, range, sizeof(range));
        *info = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "title", title, "range", range, "from",
                          from, "to", to, "min", lo, "max", hi, "min_text", lo_t, "max_text", hi_t, "answer",
                          survey_answer_name(sp->answer), "lang", p->lang == LANG_EN ? "en" : "nb");
        if (!*info)
                return -ENOMEM;
        return ymd_cmp(sv->to, today(s, beredd_now())) >= 0 ? 0 : -ESTALE;
}

int server_survey_token_answer(struct server *s, const char *token, const char *from, const char *to, char *err,
                               size_t errlen) {
        struct survey_person *sp;
        struct survey *sv = surveys_by_token(s->surveys, token, &sp);
        if (!sv) {
                snprintf(err, errlen, "no such link");
                return -ENOENT;
        }
        const struct person *p = config_person(s->config, sp->person);
        if (!p) {
                snprintf(err, errlen, "no such link");
                return -ENOENT;
        }
        if (ymd_cmp(sv->to, today(s, beredd_now())) < 0) {
                snprintf(err, errlen, "the period is over");
                return -ESTALE;
        }
        if (!from)
                return answer_ok(s, sv, sp, "email");
        /* A mis-tap in a date picker must not take someone out of
         * call-outs for a year: days around the period, touching it. */
        struct ymd f, t, lo, hi;
        form_bounds(sv, &lo, &hi);
        if (parse_date(from, &f) < 0 || parse_date(to, &t) < 0 || ymd_cmp(f, t) > 0 || ymd_cmp(f, lo) < 0 ||
            ymd_cmp(t, hi) > 0 || ymd_cmp(t, sv->from) < 0 || ymd_cmp(f, sv->to) > 0) {
                snprintf(err, errlen, "dates: outside the days around the period, or reversed");
                return -EINVAL;
        }
        /* The form's dates are whole days, as "beredctl away" takes them. */
        struct command cmd = { .kind = CMD_AWAY, .person = (char *) p->id, .from = (char *) from, .to = (char *) to };
        json_t *reply = NULL;
        int r = server_away(s, &cmd, SOURCE_EMAIL, &reply, err, errlen);
        if (r >= 0) {
                json_t *a = json_object_get(reply, "absence");
                server_survey_absence(s, p, (uint64_t) json_integer_value(json_object_get(a, "from_usec")),
                                      (uint64_t) json_integer_value(json_object_get(a, "to_usec")), "email");
                server_absences_changed(s);
        }
        json_decref(reply);
        return r;
}

/* ---- commands ---- */

int server_survey(struct server *s, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        const struct chain *c = config_chain(s->config, cmd->chain);
        const struct heightened *h = NULL;
        uint64_t now = beredd_now();
        for (size_t i = 0; i < s->config->calendar.n_heightened && !h; i++)
                if (streq(s->config->calendar.heightened[i].name, cmd->period))
                        h = &s->config->calendar.heightened[i];
        if (!c) {
                snprintf(err, errlen, "chain: no such chain in the configuration");
                return -ENOENT;
        }
        if (!h) {
                snprintf(err, errlen, "period: no heightened period of that name in calendar.heightened");
                return -ENOENT;
        }
        if (ymd_cmp(h->to, today(s, now)) < 0) {
                snprintf(err, errlen, "period: it is over");
                return -ESTALE;
        }
        if (calendar_days_from_ymd(h->to) - calendar_days_from_ymd(h->from) >= COVERAGE_MAX_DAYS) {
                snprintf(err, errlen, "period: a surveyed period is at most %d days (the forecast's length)",
                         COVERAGE_MAX_DAYS);
                return -EINVAL;
        }
        const char *leaders[1];
        if (!leaders_of(s->config, c, leaders, 1)) {
                snprintf(err, errlen, "chain: it has no report_to and there is no followup.coordinator to get the forecast");
                return -EINVAL;
        }
        char id[SURVEY_ID_LEN + 1];
        survey_id_of(h->from, h->to, id);
        struct survey *sv = surveys_get(s->surveys, id);
        bool opened = !sv;
        int r = sv ? 0 : open_survey(s, h, true, now, &sv);
        if (r == -E2BIG)
                snprintf(err, errlen, "spool: %d surveys kept already", SURVEYS_MAX);
        else if (r < 0)
                snprintf(err, errlen, "survey: %s", strerror(-r));
        if (r < 0)
                return r;
        unsigned asked = 0, already = 0, no_way = 0;
        if ((sv->closed || sv->reminded) && !survey_has_chain(sv, c->id)) {
                /* A chain added after the reminder or the close: a round of
                 * its own (its second ask and its leader's forecast; those
                 * reminded or told before are not again). */
                uint64_t close = close_time(s, sv, h->survey_remind, now);
                if (sv->closed || close > sv->close_at)
                        sv->close_at = close;
                sv->closed = sv->reminded = 0;
                sv->remind_at = now + h->survey_remind;
        }
        r = ask_chain(s, sv, c, now, &asked, &already, &no_way);
        if (r >= 0)
                r = commit(s, sv);
        if (r < 0) {
                snprintf(err, errlen, "spool: cannot save the survey (%s); the asks go out once it can be saved",
                         strerror(-r));
                return r;
        }
        log_info("Survey %s (%s) %s for chain %s by %s: %u asked, %u asked before", sv->id, sv->period,
                 opened ? "opened" : "extended", c->id, cmd->by ? cmd->by : "?", asked, already);
        *reply = json_pack("{s:o, s:i, s:i, s:i, s:b}", "survey", survey_json(sv, false), "asked_now", (int) asked,
                           "asked_before", (int) already, "no_way_to_answer", (int) no_way, "opened", opened);
        server_survey_check(s);
        return 0;
}

int server_survey_list(struct server *s, json_t **reply) {
        static const char *const times[] = { "opened", "remind_at", "close_at", "reminded", "closed" };
        json_t *arr = json_array();
        for (size_t i = 0; i < surveys_count(s->surveys); i++) {
                json_t *o = survey_json(surveys_at(s->surveys, i), true);
                /* The times also as local "YYYY-MM-DD HH:MM" (beredd's zone and clock). */
                for (size_t k = 0; o && k < ELEMENTSOF(times); k++) {
                        char key[32], b[32];
                        snprintf(key, sizeof(key), "%s_usec", times[k]);
                        json_int_t t = json_integer_value(json_object_get(o, key));
                        if (t <= 0)
                                continue;
                        struct calendar_local l;
                        calendar_local(s->cal, (uint64_t) t, &l);
                        time_format_date_time(l.date, l.hour, l.minute, b, sizeof(b));
                        json_object_set_new(o, times[k], json_string(b));
                }
                json_array_append_new(arr, o);
        }
        *reply = json_pack("{s:o}", "surveys", arr);
        return *reply ? 0 : -ENOMEM;
}

json_t *server_survey_counts(struct server *s, const struct chain *c, struct ymd from, struct ymd to) {
        char id[SURVEY_ID_LEN + 1];
        survey_id_of(from, to, id);
        struct survey *sv = surveys_get(s->surveys, id);
        if (!sv || !survey_has_chain(sv, c->id))
                return NULL;
        unsigned asked, answered, away;
        chain_counts(s->config, sv, c, &asked, &answered, &away, NULL);
        /* Closed for this chain once its leaders had the forecast. */
        return json_pack("{s:s, s:i, s:i, s:i}", "state", json_object_get(sv->told, c->id) ? "closed" : "open", "asked",
                         (int) asked, "answered", (int) answered, "away", (int) away);
}

/* ---- start and stop ---- */

int server_survey_start(struct server *s) {
        unsigned broken = 0;
        int r = surveys_new(s->store, &s->surveys, &broken);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the absence surveys: cannot read %s/surveys/: %m",
                                       store_root(s->store));
        if (broken)
                log_warning("%u file(s) in %s/surveys/ could not be read; ignored (and kept)", broken,
                            store_root(s->store));
        r = sd_event_add_defer(s->event, &s->survey_save, on_save_later, s);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the absence surveys: %m");
        sd_event_source_set_enabled(s->survey_save, SD_EVENT_OFF);
        sd_event_source_set_priority(s->survey_save, SD_EVENT_PRIORITY_IDLE);
        sd_event_source_set_description(s->survey_save, "survey-save");
        r = sd_event_add_time(s->event, &s->survey_timer, CLOCK_MONOTONIC, server_now_monotonic() + 100 * 1000,
                              10 * 1000, on_survey_timer, s);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the absence surveys: %m");
        sd_event_source_set_description(s->survey_timer, "survey");
        /* Messages the last run recorded but may not have handed over. */
        for (size_t i = 0; i < surveys_count(s->surveys); i++) {
                struct survey *sv = surveys_at(s->surveys, i);
                unsigned n = 0;
                for (size_t k = 0; k < sv->n_msgs; k++)
                        n += sv->msgs[k].state == SURVEY_MSG_SENDING;
                if (n)
                        log_info("Survey %s: %u message(s) recorded before a restart are to be sent (again)", sv->id, n);
        }
        return sd_event_source_set_enabled(s->survey_timer, SD_EVENT_ONESHOT);
}

void server_survey_stop(struct server *s) {
        if (s->survey_save)
                on_save_later(s->survey_save, s);
        s->survey_timer = sd_event_source_disable_unref(s->survey_timer);
        s->survey_save = sd_event_source_disable_unref(s->survey_save);
        surveys_free(s->surveys);
        s->surveys = NULL;
}
