/* server-coverage.c - the coverage forecast in the daemon: the read-only
 * "coverage" command (beredctl coverage) and the retained MQTT topic
 * <base>/coverage/<chain>.
 *
 * MQTT carries counts and flags only: per day/part the date, the part,
 * available and needed counts, met, and the missing roles by id and display
 * name (a role is no personal data); never a name or a person id. The window
 * published is the coming COVERAGE_MQTT_DAYS days (today included), or the
 * heightened period when one covers today or begins within that window (from
 * today, or its start, to its end; at most COVERAGE_MAX_DAYS days): the
 * forecast a crisis team leader wants in December is the whole of Christmas.
 *
 * With the heightened period, the counts of its absence survey when there
 * is one: "survey": { state (open/closed), asked, answered, away }.
 *
 * Published when an absence is added, cancelled or ended by SMS, on reload,
 * on every (re)connect, and otherwise checked once a minute, when what would
 * be published has changed (an absence ended or was purged, a new local day
 * began, a swap took effect): unchanged payloads are not sent again.
 * Tests set the check's interval with $BEREDD_COVERAGE_CHECK_MS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "log.h"
#include "macro.h"
#include "mqtt.h"
#include "server-internal.h"
#include "time-util.h"

#define COVERAGE_MQTT_DAYS 14
#define COVERAGE_CHECK_USEC (60 * USEC_PER_SEC)

int server_coverage(struct server *s, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        const struct chain *c = config_chain(s->config, cmd->chain);
        struct ymd from, to;
        if (!c) {
                snprintf(err, errlen, "chain: no such chain in the configuration");
                return -ENOENT;
        }
        if (parse_date(cmd->from, &from) < 0 || parse_date(cmd->to, &to) < 0) {
                snprintf(err, errlen, "%s: expected a date \"YYYY-MM-DD\"", parse_date(cmd->from, &from) < 0 ? "from" : "to");
                return -EINVAL;
        }
        struct coverage *cv = NULL;
        int r = coverage_compute(s->config, s->cal, s->duty, s->absences, c, from, to, &cv);
        if (r == -EINVAL) {
                snprintf(err, errlen, "to: must not be before from");
                return r;
        }
        if (r == -E2BIG) {
                snprintf(err, errlen, "to: at most %d days from from", COVERAGE_MAX_DAYS);
                return r;
        }
        if (r < 0) {
                snprintf(err, errlen, "coverage: %s", strerror(-r));
                return r;
        }
        json_t *o = coverage_json(s->config, cv, true);
        char *text = coverage_text(s->config, cv, s->config->lang);
        char *sum = coverage_summary(s->config, cv, NULL, s->config->lang);
        if (o) {
                json_object_set_new(o, "chain_name", json_string(c->name ? c->name : c->id));
                json_object_set_new(o, "text", json_string(text ? text : ""));
                json_object_set_new(o, "summary", json_string(sum ? sum : ""));
        }
        free(text);
        free(sum);
        coverage_free(cv);
        if (!o) {
                snprintf(err, errlen, "coverage: out of memory");
                return -ENOMEM;
        }
        *reply = o;
        return 0;
}

/* The window published for MQTT at NOW (see above). */
static void mqtt_window(struct server *s, uint64_t now, struct ymd *ret_from, struct ymd *ret_to,
                        const struct heightened **ret_period) {
        struct calendar_local l;
        calendar_local(s->cal, now, &l);
        int64_t today = calendar_days_from_ymd(l.date), end = today + COVERAGE_MQTT_DAYS - 1;
        *ret_from = l.date;
        *ret_to = calendar_ymd_from_days(end);
        *ret_period = NULL;
        int64_t best = INT64_MAX;
        for (size_t i = 0; i < s->config->calendar.n_heightened; i++) {
                const struct heightened *h = &s->config->calendar.heightened[i];
                int64_t hf = calendar_days_from_ymd(h->from), ht = calendar_days_from_ymd(h->to);
                if (ht < today || hf > end || hf >= best)
                        continue;
                best = hf;
                int64_t f = hf > today ? hf : today;
                int64_t t = ht - f + 1 > COVERAGE_MAX_DAYS ? f + COVERAGE_MAX_DAYS - 1 : ht;
                *ret_from = calendar_ymd_from_days(f);
                *ret_to = calendar_ymd_from_days(t);
                *ret_period = h;
        }
}

/* The retained payload for chain C: counts and flags only. */
static char *mqtt_payload(struct server *s, const struct chain *c, uint64_t now) {
        struct ymd from, to;
        const struct heightened *period;
        mqtt_window(s, now, &from, &to, &period);
        struct coverage *cv = NULL;
        if (coverage_compute(s->config, s->cal, s->duty, s->absences, c, from, to, &cv) < 0)
                return NULL;
        json_t *o = coverage_json(s->config, cv, false);
        coverage_free(cv);
        if (!o)
                return NULL;
        json_object_set_new(o, "chain_name", json_string(c->name ? c->name : c->id));
        if (period) {
                json_object_set_new(o, "period", json_string(period->name));
                /* The period's absence survey: counts only. */
                json_t *sv = server_survey_counts(s, c, period->from, period->to);
                if (sv)
                        json_object_set_new(o, "survey", sv);
        }
        char *p = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        return p;
}

void server_coverage_publish(struct server *s, bool force) {
        if (!s->mqtt)
                return;
        if (!s->mq_coverage)
                s->mq_coverage = json_object();
        if (!s->mq_coverage)
                return;
        uint64_t now = beredd_now();
        char topic[128];
        /* Chains gone with a reload: their retained topic is cleared. */
        const char *id;
        json_t *v, *tmp;
        json_object_foreach_safe(s->mq_coverage, tmp, id, v) {
                if (config_chain(s->config, id))
                        continue;
                snprintf(topic, sizeof(topic), "coverage/%s", id);
                mqtt_retain(s->mqtt, topic, NULL);
                json_object_del(s->mq_coverage, id);
        }
        for (size_t i = 0; i < s->config->n_chains; i++) {
                const struct chain *c = &s->config->chains[i];
                char *p = mqtt_payload(s, c, now);
                if (!p)
                        continue;
                const char *last = json_string_value(json_object_get(s->mq_coverage, c->id));
                if (force || !last || !streq(last, p)) {
                        snprintf(topic, sizeof(topic), "coverage/%s", c->id);
                        mqtt_retain(s->mqtt, topic, p);
                        json_object_set_new(s->mq_coverage, c->id, json_string(p));
                }
                free(p);
        }
}

/* COVERAGE_CHECK_USEC, or $BEREDD_COVERAGE_CHECK_MS (tests). */
static uint64_t check_interval(void) {
        uint64_t usec;
        int r = env_msec("BEREDD_COVERAGE_CHECK_MS", &usec);
        if (r > 0)
                return usec;
        if (r < 0)
                log_warning("Ignoring BEREDD_COVERAGE_CHECK_MS=%s (expected milliseconds)",
                            LOG_ESC(getenv("BEREDD_COVERAGE_CHECK_MS")));
        return COVERAGE_CHECK_USEC;
}

static int on_coverage_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        struct server *s = userdata;
        server_coverage_publish(s, false);
        sd_event_source_set_time(es, usec + s->coverage_check);
        return 0;
}

int server_coverage_start(struct server *s) {
        if (!s->mqtt)
                return 0;
        uint64_t now;
        int r = sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        s->coverage_check = check_interval();
        r = sd_event_add_time(s->event, &s->coverage_timer, CLOCK_MONOTONIC, now + s->coverage_check,
                              s->coverage_check < 10 * USEC_PER_SEC ? 1000 : USEC_PER_SEC,
                              on_coverage_timer, s);
        if (r < 0)
                return r;
        sd_event_source_set_description(s->coverage_timer, "coverage-mqtt");
        return sd_event_source_set_enabled(s->coverage_timer, SD_EVENT_ON);
}

void server_coverage_stop(struct server *s) {
        s->coverage_timer = sd_event_source_disable_unref(s->coverage_timer);
        json_decref(s->mq_coverage);
        s->mq_coverage = NULL;
}
