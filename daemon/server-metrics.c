/* server-metrics.c - the daemon's part of /metrics (Prometheus text format
 * 0.0.4): up, spool, MQTT, readiness, messages waiting and in flight,
 * channel and gateway health, activations by state, notifications by
 * channel and result, the gateway latency histogram and follow-up counts.
 * Ids, states and counts only; no references, no people. The listener adds
 * its own counters (http.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "followup.h"
#include "gateway.h"
#include "macro.h"
#include "mqtt.h"
#include "absence.h"
#include "server-internal.h"

static const double latency_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10 };

/* The final outcomes of a call, as the "call" events name them. */
static const char *const call_outcomes[6] = { "completed", "no-answer", "busy", "failed", "canceled", "machine" };

void server_count_event(struct server_counts *s, const struct act_event *ev) {
        static const char *const results[] = { "sent", "failed", "delivered", "undeliverable" };
        if (!ev->channel)
                return;
        int ch = streq(ev->channel, "email") ? 1 : streq(ev->channel, "voice") ? 2 : 0;
        if (streq(ev->type, "call")) {
                for (size_t k = 0; ev->detail && k < ELEMENTSOF(call_outcomes); k++)
                        s->n_calls[k] += streq(ev->detail, call_outcomes[k]);
                return;
        }
        for (int r = 0; r < 4; r++)
                if (streq(ev->type, results[r]))
                        s->n_notif[ch][r]++;
        if ((streq(ev->type, "sent") || streq(ev->type, "failed")) && ev->latency >= 0) {
                s->latency_sum += ev->latency;
                s->latency_count++;
                for (size_t i = 0; i < ELEMENTSOF(latency_bounds); i++)
                        if (ev->latency <= latency_bounds[i]) {
                                s->latency_bucket[i]++;
                                break;
                        }
        }
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void prom_label(FILE *f, const char *v) {
        for (; v && *v; v++) {
                if (*v == '\\' || *v == '"')
                        fputc('\\', f);
                if (*v == '\n')
                        fputs("\\n", f);
                else
                        fputc(*v, f);
        }
}

/* Gateways and waiting messages (issue 14). */
static void metrics_trouble(struct server *s, FILE *f) {
        struct trouble t;
        struct gw_health h;

        trouble_get(s, &t);
        fprintf(f, "# HELP beredd_ready 1 while /readyz answers 200.\n# TYPE beredd_ready gauge\nberedd_ready %d\n",
                server_ready(s, NULL, 0));
        fprintf(f, "# HELP beredd_messages_waiting Messages every gateway of their channel failed, kept for the next round.\n"
                   "# TYPE beredd_messages_waiting gauge\n");
        for (size_t c = 0; c < ELEMENTSOF(trouble_channels); c++)
                fprintf(f, "beredd_messages_waiting{channel=\"%s\"} %u\n", channel_name(trouble_channels[c]),
                        t.waiting_on[c]);
        fprintf(f, "# HELP beredd_messages_waiting_oldest_seconds How long the longest-waiting message has waited (0: none).\n"
                   "# TYPE beredd_messages_waiting_oldest_seconds gauge\n");
        for (size_t c = 0; c < ELEMENTSOF(trouble_channels); c++)
                fprintf(f, "beredd_messages_waiting_oldest_seconds{channel=\"%s\"} %.3f\n",
                        channel_name(trouble_channels[c]), (double) t.oldest[c] / USEC_PER_SEC);
        fprintf(f, "# HELP beredd_messages_in_flight Messages handed to the gateways and not yet finished.\n"
                   "# TYPE beredd_messages_in_flight gauge\nberedd_messages_in_flight %u\n", gateways_in_flight(s->gw));
        fprintf(f, "# HELP beredd_channel_up 1 while a channel in use has a gateway that is not down.\n"
                   "# TYPE beredd_channel_up gauge\n");
        for (size_t c = 0; c < ELEMENTSOF(trouble_channels); c++)
                if (t.served[c] > 0)
                        fprintf(f, "beredd_channel_up{channel=\"%s\"} %d\n", channel_name(trouble_channels[c]),
                                !trouble_channel_dead(&t, c));
        fprintf(f, "# HELP beredd_gateway_up 0 after an attempt failed on the gateway's side, until one succeeds; "
                   "1 otherwise (also before the first attempt).\n# TYPE beredd_gateway_up gauge\n");
        for (size_t i = 0; gateway_health(s->gw, i, &h) >= 0; i++) {
                fputs("beredd_gateway_up{gateway=\"", f);
                prom_label(f, h.id);
                fprintf(f, "\",channel=\"%s\"} %d\n", channel_name(h.channel), h.state != GW_STATE_DOWN);
        }
        fprintf(f, "# HELP beredd_gateway_attempts_total Attempts by gateway and result (refused: the recipient, "
                   "the gateway answered).\n# TYPE beredd_gateway_attempts_total counter\n");
        for (size_t i = 0; gateway_health(s->gw, i, &h) >= 0; i++) {
                static const char *const res[] = { "ok", "failed", "refused" };
                const uint64_t v[] = { h.attempts_ok, h.attempts_failed, h.attempts_refused };
                for (size_t k = 0; k < ELEMENTSOF(res); k++) {
                        fputs("beredd_gateway_attempts_total{gateway=\"", f);
                        prom_label(f, h.id);
                        fprintf(f, "\",result=\"%s\"} %" PRIu64 "\n", res[k], v[k]);
                }
        }
}

char *server_metrics(struct server *s) {
        static const char *const results[] = { "sent", "failed", "delivered", "undeliverable" };
        static const char *const chans[] = { "sms", "email", "voice" };
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        json_t *list = NULL, *a;
        size_t i;
        if (!f)
                return NULL;
        fprintf(f, "# HELP beredd_up 1 while the daemon runs.\n# TYPE beredd_up gauge\nberedd_up 1\n");
        fprintf(f, "# HELP beredd_spool_ok 1 when the spool takes writes.\n# TYPE beredd_spool_ok gauge\n"
                   "beredd_spool_ok %d\n", !s->spool_error);
        fprintf(f, "# HELP beredd_mqtt_connected 1 while connected to the MQTT broker.\n"
                   "# TYPE beredd_mqtt_connected gauge\nberedd_mqtt_connected %d\n", mqtt_connected(s->mqtt));
        fprintf(f, "# HELP beredd_absences_active People's absences going on now (counts only).\n"
                   "# TYPE beredd_absences_active gauge\nberedd_absences_active %u\n",
                absences_active(s->absences, beredd_now()));
        fprintf(f, "# HELP beredd_absences Absences kept in the spool (going on, coming, or over and not yet purged).\n"
                   "# TYPE beredd_absences gauge\nberedd_absences %zu\n", absences_count(s->absences));

        metrics_trouble(s, f);

        unsigned by_state[6] = {};
        static const char *const states[] = { "mobilising", "mobilised", "short", "resolved", "verifying", "verified" };
        if (activations_list(s->acts, &list) >= 0)
                json_array_foreach(json_object_get(list, "activations"), i, a) {
                        const char *st = json_string_value(json_object_get(a, "state"));
                        for (size_t k = 0; st && k < ELEMENTSOF(states); k++)
                                by_state[k] += streq(st, states[k]);
                }
        json_decref(list);
        fprintf(f, "# HELP beredd_activations Activations by state.\n# TYPE beredd_activations gauge\n");
        for (size_t k = 0; k < ELEMENTSOF(states); k++)
                fprintf(f, "beredd_activations{state=\"%s\"} %u\n", states[k], by_state[k]);

        fprintf(f, "# HELP beredd_notifications_total Notifications by channel and result.\n"
                   "# TYPE beredd_notifications_total counter\n");
        for (int c = 0; c < 3; c++)
                for (int r = 0; r < 4; r++)
                        fprintf(f, "beredd_notifications_total{channel=\"%s\",result=\"%s\"} %" PRIu64 "\n", chans[c],
                                results[r], s->counts.n_notif[c][r]);

        fprintf(f, "# HELP beredd_calls_total Calls by how they ended.\n# TYPE beredd_calls_total counter\n");
        for (size_t k = 0; k < ELEMENTSOF(call_outcomes); k++)
                fprintf(f, "beredd_calls_total{outcome=\"%s\"} %" PRIu64 "\n", call_outcomes[k], s->counts.n_calls[k]);
        fprintf(f, "# HELP beredd_calls_in_flight Calls the providers have taken that have not ended.\n"
                   "# TYPE beredd_calls_in_flight gauge\nberedd_calls_in_flight %u\n",
                gateways_calls_in_flight(s->gw));
        static const char *const key_names[] = { "1", "2", "other" };
        fprintf(f, "# HELP beredd_voice_keypresses_total Keys pressed in calls (1 yes, 2 no).\n"
                   "# TYPE beredd_voice_keypresses_total counter\n");
        for (size_t k = 0; k < ELEMENTSOF(key_names); k++)
                fprintf(f, "beredd_voice_keypresses_total{digits=\"%s\"} %" PRIu64 "\n", key_names[k],
                        s->counts.n_keys[k]);

        fprintf(f, "# HELP beredd_gateway_latency_seconds From handing a message to a gateway to its answer.\n"
                   "# TYPE beredd_gateway_latency_seconds histogram\n");
        uint64_t cum = 0;
        for (size_t k = 0; k < ELEMENTSOF(latency_bounds); k++) {
                cum += s->counts.latency_bucket[k];
                fprintf(f, "beredd_gateway_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", latency_bounds[k], cum);
        }
        fprintf(f, "beredd_gateway_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", s->counts.latency_count);
        fprintf(f, "beredd_gateway_latency_seconds_sum %.6f\nberedd_gateway_latency_seconds_count %" PRIu64 "\n",
                s->counts.latency_sum, s->counts.latency_count);

        json_t *sum = NULL;
        if (s->config->followup.enabled && followup_summary(s->fu, &sum) >= 0) {
                static const char *const keys[] = { "open", "due_today", "overdue", "escalated", "closed" };
                fprintf(f, "# HELP beredd_followup_cases Follow-up cases (no references).\n"
                           "# TYPE beredd_followup_cases gauge\n");
                for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                        fprintf(f, "beredd_followup_cases{state=\"%s\"} %" JSON_INTEGER_FORMAT "\n", keys[k],
                                json_integer_value(json_object_get(sum, keys[k])));
                json_decref(sum);
        }
        fclose(f);
        return buf;
}
