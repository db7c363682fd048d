/* server.c - the daemon's one event loop and the one place commands run.
 *
 * Inputs (control socket, the incoming/ drop folder of incoming.c, MQTT)
 * all end in server_execute(). Here too: status and trouble (STATUS=,
 * `beredctl status`, /readyz, the MQTT status), MQTT publishing after the
 * durable writes, the spool probe, reload and the life cycle. */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "absence.h"
#include "activation.h"
#include "calendar.h"
#include "command.h"
#include "config.h"
#include "ctl.h"
#include "duty.h"
#include "followup.h"
#include "gateway.h"
#include "http.h"
#include "incoming.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "mqtt.h"
#include "server-internal.h"
#include "seen.h"
#include "store.h"
#include "text.h"

/* How long to wait before retrying input that could not be persisted. */
#define RETRY_USEC (5 * USEC_PER_SEC)

/* ---- trouble: gateways down, messages waiting (issue 14) ----
 *
 * What every monitor sees comes from here: STATUS=, `beredctl status`,
 * /metrics, /readyz and the retained MQTT status. Ids, states and counts
 * only; a gateway's last error is a class ("http 503", "timeout"), never a
 * server's text. */

/* Messages waiting longer than this make /readyz say 503 even while every
 * channel has a gateway that is not down (two rounds at the default backoff).
 * Tests set $BEREDD_READY_GRACE_MS. */
#define READY_GRACE_USEC (60 * USEC_PER_SEC)

const enum channel trouble_channels[3] = { CHANNEL_SMS, CHANNEL_EMAIL, CHANNEL_VOICE };

void trouble_get(struct server *s, struct trouble *t) {
        *t = (struct trouble) {};
        for (size_t c = 0; c < ELEMENTSOF(trouble_channels); c++) {
                gateways_channel_health(s->gw, trouble_channels[c], &t->served[c], &t->down[c]);
                t->waiting_on[c] = gateways_waiting_on(s->gw, trouble_channels[c], &t->oldest[c]);
                t->waiting += t->waiting_on[c];
                if (t->oldest[c] > t->oldest_all)
                        t->oldest_all = t->oldest[c];
        }
        struct gw_health h;
        for (size_t i = 0; gateway_health(s->gw, i, &h) >= 0; i++)
                t->gateways_down += h.state == GW_STATE_DOWN;
}

static bool trouble_any(const struct trouble *t) {
        return t->gateways_down > 0 || t->waiting > 0;
}

/* A channel in use (served by a gateway) whose every gateway is down. */
bool trouble_channel_dead(const struct trouble *t, size_t c) {
        return t->served[c] > 0 && t->down[c] >= t->served[c];
}

/* Readiness for /readyz: alive (server_healthy), and no channel in use has
 * only gateways that are down, and no message has waited for a gateway
 * longer than READY_GRACE_USEC. WHY (may be NULL) says what is wrong. */
bool server_ready(struct server *s, char *why, size_t len) {
        struct trouble t;
        char buf[160] = "";

        trouble_get(s, &t);
        if (!server_healthy(s))
                snprintf(buf, sizeof(buf), "%s", s->spool_error ? "the spool takes no writes" : "the HTTP listener is not accepting");
        for (size_t c = 0; !buf[0] && c < ELEMENTSOF(trouble_channels); c++)
                if (trouble_channel_dead(&t, c))
                        snprintf(buf, sizeof(buf), "no working %s gateway (%u of %u down), %u message(s) waiting",
                                 channel_name(trouble_channels[c]), t.down[c], t.served[c], t.waiting_on[c]);
        if (!buf[0] && t.oldest_all > s->ready_grace)
                snprintf(buf, sizeof(buf), "%u message(s) waiting for a gateway, the oldest for %.1f s", t.waiting,
                         (double) t.oldest_all / USEC_PER_SEC);
        bool ready = !buf[0];
        if (s->ready != (int) ready) {
                if (!ready)
                        log_event(LOG_WARNING, MSGID_NOT_READY, NULL, "Not ready: %s", buf);
                else if (s->ready == 0)
                        log_event(LOG_NOTICE, MSGID_READY_AGAIN, NULL, "Ready again: every channel has a working gateway "
                                  "and no message waits");
                s->ready = ready;
        }
        if (why && len)
                snprintf(why, len, "%s", buf);
        return ready;
}

/* The per-channel part of the trouble: {"sms":{"up":..,"gateways":..,"down":..,"waiting":..},...}
 * for the channels in use. */
static json_t *trouble_channels_json(const struct trouble *t) {
        json_t *o = json_object();
        for (size_t c = 0; o && c < ELEMENTSOF(trouble_channels); c++) {
                if (t->served[c] == 0 && t->waiting_on[c] == 0)
                        continue;
                json_object_set_new(o, channel_name(trouble_channels[c]),
                                    json_pack("{s:b, s:i, s:i, s:i}", "up", !trouble_channel_dead(t, c), "gateways",
                                              (int) t->served[c], "down", (int) t->down[c], "waiting",
                                              (int) t->waiting_on[c]));
        }
        return o;
}

static json_t *unix_or_null(uint64_t usec) {
        return usec ? json_integer((json_int_t) (usec / USEC_PER_SEC)) : json_null();
}

/* The fields `beredctl status` adds (DETAIL) or the MQTT status carries. */
static json_t *trouble_json(struct server *s, bool detail) {
        struct trouble t;
        trouble_get(s, &t);
        json_t *o = json_pack("{s:b, s:i, s:i}", "trouble", trouble_any(&t), "messages_waiting", (int) t.waiting,
                              "gateways_down", (int) t.gateways_down);
        if (!o)
                return NULL;
        json_object_set_new(o, "channels", trouble_channels_json(&t));
        if (!detail)
                return o;
        char why[160];
        bool ready = server_ready(s, why, sizeof(why));
        json_object_set_new(o, "ready", json_boolean(ready));
        if (!ready)
                json_object_set_new(o, "not_ready", json_string(why));
        json_object_set_new(o, "oldest_waiting_seconds", json_integer((json_int_t) (t.oldest_all / USEC_PER_SEC)));
        json_t *list = json_array();
        struct gw_health h;
        for (size_t i = 0; list && gateway_health(s->gw, i, &h) >= 0; i++) {
                json_t *g = json_pack("{s:s, s:s, s:s, s:s}", "id", h.id, "channel", channel_name(h.channel), "type",
                                      gateway_type_name(h.type), "state", gw_state_name(h.state));
                if (!g)
                        continue;
                json_object_set_new(g, "since", unix_or_null(h.since));
                json_object_set_new(g, "last_ok", unix_or_null(h.last_ok));
                json_object_set_new(g, "last_failure", unix_or_null(h.last_failure));
                json_object_set_new(g, "last_error", h.last_error[0] ? json_string(h.last_error) : json_null());
                json_object_set_new(g, "failures_in_a_row", json_integer(h.failures));
                json_object_set_new(g, "attempts", json_pack("{s:I, s:I, s:I}", "ok", (json_int_t) h.attempts_ok,
                                                             "failed", (json_int_t) h.attempts_failed, "refused",
                                                             (json_int_t) h.attempts_refused));
                json_array_append_new(list, g);
        }
        json_object_set_new(o, "gateway_health", list);
        return o;
}

void server_update_status(struct server *s) {
        char buf[512], down[200] = "";
        struct trouble t;
        struct gw_health h;
        size_t n = 0;

        trouble_get(s, &t);
        for (size_t i = 0; gateway_health(s->gw, i, &h) >= 0; i++)
                if (h.state == GW_STATE_DOWN && n + strlen(h.id) + 3 < sizeof(down))
                        n += (size_t) snprintf(down + n, sizeof(down) - n, "%s%s", n ? ", " : "", h.id);
        if (s->spool_error)
                snprintf(buf, sizeof(buf), "STATUS=site %s: SPOOL ERROR (%s); refusing new input", s->config->site,
                         s->spool_error_text);
        else if (t.waiting > 0)
                snprintf(buf, sizeof(buf), "STATUS=site %s: GATEWAY TROUBLE: %u message(s) failed on every gateway, "
                         "trying again%s%s; %u open activation(s)", s->config->site, t.waiting, n ? "; down: " : "",
                         down, s->acts ? activations_open(s->acts) : 0);
        else if (t.gateways_down > 0)
                snprintf(buf, sizeof(buf), "STATUS=site %s: GATEWAY TROUBLE: down: %s; %u open activation(s)",
                         s->config->site, down, s->acts ? activations_open(s->acts) : 0);
        else
                snprintf(buf, sizeof(buf), "STATUS=site %s: running; %u open activation(s); drop files %" PRIu64
                         " accepted, %" PRIu64 " rejected", s->config->site, s->acts ? activations_open(s->acts) : 0,
                         incoming_accepted(s->incoming), incoming_rejected(s->incoming));
        if (s->status_sent && streq(s->status_sent, buf))
                return;
        sd_notify(0, buf);
        free(s->status_sent);
        s->status_sent = strdup(buf);
}

/* Events since the last trim that make the next idle moment trim: a step
 * to a few thousand people leaves megabytes of freed transfers, texts and
 * log lines that glibc would otherwise keep. */
#define TRIM_EVENTS 1000

static void server_trim(struct server *s) {
        s->trim_seq = activations_logged_seq(s->acts);
        (void) malloc_trim(0);
}

static int on_trim(sd_event_source *es, void *userdata) {
        struct server *s = userdata;
        /* Only once the burst is over: nothing with a gateway. */
        if (gateways_in_flight(s->gw) == 0)
                server_trim(s);
        return 0;
}

static void server_trim_soon(struct server *s) {
        if (s->trim && activations_logged_seq(s->acts) - s->trim_seq >= TRIM_EVENTS)
                (void) sd_event_source_set_enabled(s->trim, SD_EVENT_ONESHOT);
}

static int on_status_later(sd_event_source *es, void *userdata) {
        server_update_status(userdata);
        return 0;
}

/* server_update_status, once the loop has nothing else to do. */
static void server_update_status_later(struct server *s) {
        if (!s->status_later || sd_event_source_set_enabled(s->status_later, SD_EVENT_ONESHOT) < 0)
                server_update_status(s);
}

/* A gateway changed state or the number of waiting messages changed. */
static void server_trouble_changed(struct server *s) {
        server_update_status(s);
        (void) server_ready(s, NULL, 0); /* logs a change */
        if (s->mqtt) {
                s->mq_status = true;
                sd_event_source_set_enabled(s->mqtt_flush, SD_EVENT_ON);
        }
}

static void publish_status(struct server *s) {
        json_t *o = trouble_json(s, false);
        char *p = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (p)
                mqtt_set_status(s->mqtt, p);
        free(p);
}

static void on_gateways_waiting(void *userdata, unsigned waiting) {
        (void) waiting;
        server_trouble_changed(userdata);
}

static void on_gateways_health(void *userdata) {
        server_trouble_changed(userdata);
}

static void arm_retry(struct server *s);

/* A write failed with -errno R: remember it for status and STATUS=, once. */
void server_spool_failed(struct server *s, int r, const char *what) {
        if (!s->spool_error)
                log_event(LOG_ERR, MSGID_SPOOL_ERROR, NULL, "Spool %s: %s failed: %s; refusing new input until it can be written",
                          store_root(s->store), what, strerror(-r));
        s->spool_error = true;
        snprintf(s->spool_error_text, sizeof(s->spool_error_text), "%s: %s", what, strerror(-r));
        server_update_status(s);
        arm_retry(s); /* the probe notices when the spool takes writes again */
}

static void server_spool_ok(struct server *s) {
        if (!s->spool_error)
                return;
        s->spool_error = false;
        log_notice("Spool %s is writable again", store_root(s->store));
        server_update_status(s);
}

/* ---- the spool probe ---- */

static int on_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        struct server *s = userdata;
        /* Probe: if a durable write of a block works again, the spool is
         * back (an empty file can be made on a full file system). */
        static const char block[4096];
        int r = store_write_atomic(s->store, STORE_TMP, ".probe", block, sizeof(block));
        if (r < 0) {
                arm_retry(s);
                return 0;
        }
        (void) unlinkat(store_dirfd(s->store, STORE_TMP), ".probe", 0);
        server_spool_ok(s);
        incoming_rescan(s->incoming);
        return 0;
}

static void arm_retry(struct server *s) {
        uint64_t now;
        sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(s->retry, now + RETRY_USEC);
        sd_event_source_set_enabled(s->retry, SD_EVENT_ONESHOT);
}

/* ---- replies ---- */

static char *cmd_error(const struct command *cmd, const char *msg) {
        return reply_error(cmd ? cmd->request_id : NULL, msg);
}

static json_t *cmd_ok(const struct command *cmd) {
        return reply_ok(cmd ? cmd->request_id : NULL);
}

static char *execute_status(struct server *s, const struct command *cmd) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
        int64_t free_bytes = store_free_bytes(s->store);

        json_t *o = cmd_ok(cmd);
        json_object_set_new(o, "site", json_string(s->config->site));
        json_object_set_new(o, "version", json_string(PACKAGE_VERSION));
        json_object_set_new(o, "state", json_string(s->spool_error ? "spool-error" : "running"));
        if (s->spool_error)
                json_object_set_new(o, "spool_error", json_string(s->spool_error_text));
        json_object_set_new(o, "uptime_seconds", json_integer((json_int_t) ((now - s->started_usec) / USEC_PER_SEC)));
        json_object_set_new(o, "config", json_string(s->config_path));
        json_object_set_new(o, "spool", json_string(store_root(s->store)));
        if (free_bytes >= 0)
                json_object_set_new(o, "spool_free_bytes", json_integer(free_bytes));
        json_object_set_new(o, "timezone", json_string(s->config->timezone));
        json_object_set_new(o, "people", json_integer((json_int_t) s->config->n_people));
        json_object_set_new(o, "chains", json_integer((json_int_t) s->config->n_chains));
        json_object_set_new(o, "gateways", json_integer((json_int_t) s->config->n_gateways));
        json_object_set_new(o, "reloads", json_integer((json_int_t) s->n_reloads));
        json_object_set_new(o, "activations", json_pack("{s:i, s:i}", "open", (int) activations_open(s->acts), "total",
                                                        (int) activations_total(s->acts)));
        json_object_set_new(o, "notifications_in_flight", json_integer((json_int_t) gateways_in_flight(s->gw)));
        json_object_set_new(o, "notifications_waiting_for_gateway", json_integer((json_int_t) gateways_waiting(s->gw)));
        json_t *tr = trouble_json(s, true);
        if (tr)
                json_object_update(o, tr);
        json_decref(tr);
        json_object_set_new(o, "incoming", json_pack("{s:I, s:I}", "accepted",
                                                     (json_int_t) incoming_accepted(s->incoming), "rejected",
                                                     (json_int_t) incoming_rejected(s->incoming)));
        json_object_set_new(o, "mqtt", json_string(!s->mqtt ? "off" : mqtt_connected(s->mqtt) ? "connected" : "disconnected"));
        json_t *sum = NULL;
        if (s->config->followup.enabled && followup_summary(s->fu, &sum) >= 0)
                json_object_set_new(o, "followup", sum);
        else
                json_object_set_new(o, "followup", json_string("off"));
        json_object_set_new(o, "control_clients", json_integer((json_int_t) ctl_clients(s->ctl)));
        return reply_dump(o);
}

/* Merge an engine's reply fields into {"ok":true}, or make the error reply. */
static char *engine_reply(const struct command *cmd, int r, json_t *fields, const char *err) {
        if (r < 0) {
                json_decref(fields);
                return cmd_error(cmd, err[0] ? err : strerror(-r));
        }
        json_t *o = cmd_ok(cmd);
        if (fields)
                json_object_update(o, fields);
        json_decref(fields);
        return reply_dump(o);
}

/* A reply to a follow-up reminder: yes = no needs (OK), no = needs (HJELP),
 * postpone = UTSETT N days. The sender is a person id, phone or e-mail. */
static int followup_reply_command(struct server *s, const struct command *cmd, json_t **fields, char *err,
                                  size_t errlen) {
        const struct person *p = cmd->person ? config_person(s->config, cmd->person)
                                             : config_person_by_contact(s->config, cmd->phone ? cmd->phone : cmd->email);
        if (!p) {
                snprintf(err, errlen, "person: the sender is not a configured person; nothing changed");
                return -ENOENT;
        }
        enum text_reply_kind k = cmd->postpone_days ? TEXT_REPLY_POSTPONE
                                 : cmd->answer == ANSWER_NO ? TEXT_REPLY_HELP
                                                            : TEXT_REPLY_OK;
        return followup_reply(s->fu, cmd->code, p->id, k, cmd->postpone_days, fields, err, errlen);
}

/* The activation a show or report names: its id, or its reply code found
 * as a reply finds it (an open activation first). NULL with ERR set. */
static const char *named_activation(struct server *s, const struct command *cmd, char *err, size_t errlen) {
        const char *id = NULL;
        if (!cmd->code)
                return cmd->activation;
        if (activations_code_target(s->acts, cmd->code, &id, NULL) < 0 || !id) {
                snprintf(err, errlen, "code: no activation with this reply code");
                return NULL;
        }
        return id;
}

char *server_execute(struct server *s, const struct command *cmd, enum source src, const char *origin) {
        char err[640] = ""; /* room for the valid ids of an unknown factor */
        json_t *fields = NULL;
        const char *id;
        int r;

        if (command_is_read_only(cmd->kind) && src != SOURCE_SOCKET)
                return cmd_error(cmd, "cmd: read-only commands are accepted on the control socket only");
        if (command_validate(cmd, s->config, err, sizeof(err)) < 0)
                return cmd_error(cmd, err);
        if (!command_is_read_only(cmd->kind) && s->spool_error) {
                snprintf(err, sizeof(err), "spool: cannot persist new input (%s); try again later", s->spool_error_text);
                return cmd_error(cmd, err);
        }

        switch (cmd->kind) {
        case CMD_STATUS:
                return execute_status(s, cmd);
        case CMD_TRIGGER:
                r = activations_trigger(s->acts, cmd, src, origin, &fields, err, sizeof(err));
                break;
        case CMD_REPLY:
                /* Follow-up reminder codes have 5 digits, activation codes 4. */
                if (cmd->code && followup_is_code(cmd->code))
                        r = followup_reply_command(s, cmd, &fields, err, sizeof(err));
                else
                        r = activations_reply(s->acts, cmd, src, &fields, err, sizeof(err));
                break;
        case CMD_RESOLVE:
                r = activations_resolve(s->acts, cmd, &fields, err, sizeof(err));
                break;
        case CMD_VERIFY:
                r = activations_verify(s->acts, cmd, &fields, err, sizeof(err));
                break;
        case CMD_ROSTER_OVERRIDE:
                r = duty_override(s->duty, s->config, s->cal, cmd->roster, cmd->person, cmd->from, cmd->to, cmd->by,
                                  &fields, err, sizeof(err));
                if (r >= 0)
                        log_info("Roster %s: %s on duty from %s to %s (set by %s)", cmd->roster, cmd->person, cmd->from,
                                 cmd->to, cmd->by);
                break;
        case CMD_ROSTER_SHOW:
                r = duty_show(s->duty, s->config, s->cal, cmd->roster, beredd_now(), &fields, err, sizeof(err));
                break;
        case CMD_LIST:
                r = activations_list(s->acts, &fields);
                break;
        case CMD_SHOW:
                if (cmd->case_ref)
                        r = followup_show(s->fu, cmd->case_ref, &fields, err, sizeof(err));
                else if (!(id = named_activation(s, cmd, err, sizeof(err))))
                        r = -ENOENT;
                else
                        r = activations_show(s->acts, id, &fields, err, sizeof(err));
                break;
        case CMD_CASE_OPEN:
                r = followup_open(s->fu, cmd, origin, &fields, err, sizeof(err));
                break;
        case CMD_CASE_CHECKIN:
                r = followup_checkin(s->fu, cmd, &fields, err, sizeof(err));
                break;
        case CMD_CASE_LEVEL:
                r = followup_level(s->fu, cmd, &fields, err, sizeof(err));
                break;
        case CMD_CASE_UPDATE:
                r = followup_update(s->fu, cmd, &fields, err, sizeof(err));
                break;
        case CMD_CASE_CLOSE:
                r = followup_close(s->fu, cmd, &fields, err, sizeof(err));
                break;
        case CMD_DUE:
        case CMD_FOLLOWUP_SUMMARY:
                r = !s->config->followup.enabled ? -ENOTSUP
                    : cmd->kind == CMD_DUE       ? followup_due(s->fu, cmd->overdue, cmd->contact, &fields)
                                                 : followup_summary(s->fu, &fields);
                if (r == -ENOTSUP)
                        snprintf(err, sizeof(err), "cmd: follow-up is not configured (no followup section)");
                break;
        case CMD_CASE_LIST: /* case refs and contacts: read-only, so the control socket's only */
                r = followup_list(s->fu, cmd->state, cmd->contact, &fields);
                break;
        case CMD_REPORT:
                if (!(id = named_activation(s, cmd, err, sizeof(err))))
                        r = -ENOENT;
                else
                        r = activations_report(s->acts, id, &fields, err, sizeof(err));
                break;
        case CMD_PREVIEW:
                r = activations_preview(s->acts, cmd, &fields, err, sizeof(err));
                break;
        case CMD_AWAY:
                r = server_away(s, cmd, src, &fields, err, sizeof(err));
                break;
        case CMD_AWAY_LIST:
                r = server_away_list(s, cmd, &fields);
                break;
        case CMD_AWAY_CANCEL:
                r = server_away_cancel(s, cmd, &fields, err, sizeof(err));
                break;
        case CMD_COVERAGE:
                r = server_coverage(s, cmd, &fields, err, sizeof(err));
                break;
        case CMD_SURVEY:
                r = server_survey(s, cmd, &fields, err, sizeof(err));
                break;
        case CMD_SURVEY_LIST:
                r = server_survey_list(s, &fields);
                break;
        default:
                snprintf(err, sizeof(err), "cmd: \"%s\" is not supported by this version of beredd", command_name(cmd->kind));
                return cmd_error(cmd, err);
        }
        if (r == -ENOSPC || r == -EDQUOT || r == -EIO)
                server_spool_failed(s, r, "writing to the spool");
        if (r >= 0 && (cmd->kind == CMD_AWAY || cmd->kind == CMD_AWAY_CANCEL))
                server_absences_changed(s);
        server_update_status_later(s);
        return engine_reply(cmd, r, fields, err);
}

/* The retained <base>/activation/<id> payload: states and counts only (no
 * reply code, no message text, no people). Resolved ones are cleared. */
static void publish_activation(struct server *s, const char *id) {
        json_t *sum;
        char topic[128];
        if (!s->mqtt || activations_summary(s->acts, id, &sum) < 0)
                return;
        snprintf(topic, sizeof(topic), "activation/%s", id);
        const char *state = json_string_value(json_object_get(sum, "state"));
        if (state && streq(state, "resolved")) {
                mqtt_retain(s->mqtt, topic, NULL);
        } else {
                json_t *o = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "activation", id, "chain",
                                      json_object_get(sum, "chain"), "state", json_object_get(sum, "state"), "confirmed",
                                      json_object_get(sum, "confirmed"), "needed", json_object_get(sum, "needed"),
                                      "step", json_object_get(sum, "step"), "drill", json_object_get(sum, "drill"),
                                      "created", json_object_get(sum, "created"));
                /* For the crisis room: the chain's display name, step N of
                 * M, the countdown, role minimums by display name. */
                static const char *const more[] = { "chain_name", "steps", "next_step_at", "roles" };
                for (size_t k = 0; o && k < ELEMENTSOF(more); k++)
                        if (json_object_get(sum, more[k]))
                                json_object_set(o, more[k], json_object_get(sum, more[k]));
                /* Which requirement is unmet, as flags (no role ids, no people). */
                json_t *unmet = json_object_get(sum, "unmet"), *u;
                size_t i;
                bool un_total = false, un_role = false;
                json_array_foreach(unmet, i, u) {
                        const char *w = json_string_value(u);
                        un_total = un_total || (w && streq(w, "total"));
                        un_role = un_role || (w && strncmp(w, "role:", 5) == 0);
                }
                if (json_object_get(sum, "impossible")) {
                        json_object_set(o, "impossible", json_object_get(sum, "impossible"));
                        json_object_set_new(o, "unmet_total", json_boolean(un_total));
                        json_object_set_new(o, "unmet_role", json_boolean(un_role));
                }
                char *p = json_dumps(o, JSON_COMPACT);
                json_decref(o);
                if (p)
                        mqtt_retain(s->mqtt, topic, p);
                free(p);
        }
        json_decref(sum);
}

static void publish_followup_summary(struct server *s) {
        json_t *sum;
        if (!s->mqtt || !s->config->followup.enabled || followup_summary(s->fu, &sum) < 0)
                return;
        char *p = json_dumps(sum, JSON_COMPACT);
        json_decref(sum);
        if (p)
                mqtt_retain(s->mqtt, "followup/summary", p);
        free(p);
}

/* The retained <base>/followup/factors: the vocabulary, id -> display
 * names, so that a dashboard can name the ids of by_factor. Configuration,
 * no case data. */
static void publish_followup_factors(struct server *s) {
        const struct followup_conf *fc = &s->config->followup;
        if (!s->mqtt || !fc->enabled)
                return;
        json_t *arr = json_array();
        for (size_t k = 0; k < fc->n_factors; k++) {
                json_t *o = json_pack("{s:s, s:s}", "id", fc->factors[k].id, "name", fc->factors[k].name);
                if (o && fc->factors[k].name_en[0])
                        json_object_set_new(o, "name_en", json_string(fc->factors[k].name_en));
                json_array_append_new(arr, o);
        }
        json_t *o = json_pack("{s:o, s:b}", "factors", arr, "default", fc->factors_default);
        char *p = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (p)
                mqtt_retain(s->mqtt, "followup/factors", p);
        free(p);
}

static void on_mqtt_republish(void *userdata) {
        struct server *s = userdata;
        json_t *list, *a;
        size_t i;
        if (activations_list(s->acts, &list) < 0)
                return;
        json_array_foreach(json_object_get(list, "activations"), i, a)
                publish_activation(s, json_string_value(json_object_get(a, "activation")));
        json_decref(list);
        publish_followup_factors(s);
        publish_followup_summary(s);
        server_coverage_publish(s, true);
}


/* Wrong reply codes over MQTT: after MQTT_BAD_CODES within
 * MQTT_BAD_WINDOW, answers over MQTT are refused for MQTT_LOCKOUT (every
 * client of the broker is one sender to us). */
#define MQTT_BAD_CODES 5
#define MQTT_BAD_WINDOW (10 * USEC_PER_MIN)
#define MQTT_LOCKOUT (15 * USEC_PER_MIN)

/* What a reply over MQTT may say: ids, states and counts, the person id only
 * when the request named that person; never the reply code, a phone number,
 * an e-mail address or anyone else's id (the broker's clients are not the
 * team). REPLY is consumed. */
static char *mqtt_reply_filter(char *reply, const char *person, bool hide_by_error) {
        static const char *const keep[] = { "ok", "error", "id", "activation", "chain", "state", "drill",
                                            "confirmed", "needed", "step", "created", "answer", "note",
                                            "verify", "asked", "roster", "from", "to", NULL };
        json_t *o = reply ? json_loads(reply, 0, NULL) : NULL;
        free(reply);
        if (!json_is_object(o)) {
                json_decref(o);
                return reply_error(NULL, "internal error (reply)");
        }
        const char *key;
        json_t *v, *out = json_object();
        json_object_foreach(o, key, v) {
                bool ok = streq(key, "person") && person && json_is_string(v) && streq(json_string_value(v), person);
                for (size_t i = 0; !ok && keep[i]; i++)
                        ok = streq(key, keep[i]);
                if (ok)
                        json_object_set(out, key, v);
        }
        const char *e = json_string_value(json_object_get(out, "error"));
        if (hide_by_error && e && strncmp(e, "by: ", 4) == 0)
                /* It would name the trigger identity. */
                json_object_set_new(out, "error",
                                    json_string("by: mqtt.trigger_identity may not do this (see may_trigger)"));
        json_decref(o);
        return reply_dump(out);
}

/* Checks only MQTT has: what opening a command allows (beredd-mqtt(7)).
 * Returns NULL to go on, or the error reply. */
static char *mqtt_policy(struct server *s, const struct command *cmd) {
        const struct mqtt_conf *mc = &s->config->mqtt;
        char err[256];

        enum command_kind k = cmd->kind;

        if (k == CMD_TRIGGER && mc->drill_only && !cmd->drill)
                return reply_error(NULL, "drill: MQTT starts drills only (mqtt.drill_only); a real activation is "
                                         "started with beredctl or the drop folder");
        if (k == CMD_VERIFY && mc->drill_only)
                return reply_error(NULL, "cmd: a contact-list check messages everyone; not over MQTT while "
                                         "mqtt.drill_only is on");
        /* With drill_only on, MQTT carries only what can be scoped to a
         * drill: trigger, reply and resolve, each checked here. Anything
         * else (absences, a roster's duty, a survey to a whole chain, and
         * any command added later) is refused by default. */
        if (mc->drill_only && k != CMD_TRIGGER && k != CMD_REPLY && k != CMD_RESOLVE) {
                snprintf(err, sizeof(err),
                         "cmd: \"%s\" changes who real call-outs reach or messages a whole chain; not over MQTT "
                         "while mqtt.drill_only is on",
                         command_name(k));
                return reply_error(NULL, err);
        }
        if (k == CMD_RESOLVE && mc->drill_only) {
                json_t *sum = NULL;
                if (cmd->activation && activations_summary(s->acts, cmd->activation, &sum) >= 0) {
                        bool drill = json_is_true(json_object_get(sum, "drill"));
                        json_decref(sum);
                        if (!drill)
                                return reply_error(NULL, "activation: MQTT resolves drills only (mqtt.drill_only)");
                }
        }
        if (k != CMD_REPLY)
                return NULL;

        const char *code = cmd->code, *act = cmd->activation;
        if (!code)
                return reply_error(NULL, "code: an answer over MQTT needs the reply code");
        if (!cmd->person)
                return reply_error(NULL, "person: an answer over MQTT names the person by id (not phone or email)");
        if (followup_is_code(code))
                return reply_error(NULL, "code: follow-up reminders are not answered over MQTT");
        uint64_t now = server_now_monotonic();
        if (code_window_locked(&s->mq_codes, now))
                return reply_error(NULL, "code: too many wrong reply codes over MQTT; answers over MQTT are "
                                         "refused for a while");
        const char *tid = NULL;
        bool drill = false;
        if (activations_code_target(s->acts, code, &tid, &drill) >= 0 && (!act || streq(act, tid)) &&
            (!mc->drill_only || drill))
                return NULL;
        if (code_window_wrong(&s->mq_codes, now, MQTT_BAD_CODES, MQTT_BAD_WINDOW, MQTT_LOCKOUT))
                log_event(LOG_WARNING, MSGID_REFUSED, NULL,
                          "MQTT: %d wrong reply codes within %d minutes; answers over MQTT refused for %d minutes",
                          MQTT_BAD_CODES, (int) (MQTT_BAD_WINDOW / USEC_PER_MIN),
                          (int) (MQTT_LOCKOUT / USEC_PER_MIN));
        /* The same words whether the code is unknown, another activation's
         * or a real activation's while MQTT answers drills only. */
        snprintf(err, sizeof(err), "code: no %s with reply code \"%s\"; nothing changed",
                 mc->drill_only ? "drill" : "activation", code);
        return reply_error(NULL, err);
}

/* A command from <base>/cmd/<name>: the topic names the command; the same
 * parser and validation as every other way in, and mqtt_policy() on top.
 * Triggers act as the configured mqtt.trigger_identity, never as whoever the
 * payload claims. The reply goes through mqtt_reply_filter(). */
static char *on_mqtt_command(void *userdata, const char *name, const char *payload, size_t len) {
        struct server *s = userdata;
        const struct mqtt_conf *mc = &s->config->mqtt;
        struct command cmd;
        char err[256];
        int k = command_from_name(name);

        if (k < 0) {
                snprintf(err, sizeof(err), "cmd: unknown command \"%.40s\"", name);
                return reply_error(NULL, err);
        }
        if (!(mc->commands & (1u << k)) || (k >= CMD_CASE_OPEN && k <= CMD_CASE_CLOSE)) {
                snprintf(err, sizeof(err), "cmd: \"%s\" is not allowed over MQTT (see mqtt.commands)", name);
                return reply_error(NULL, err);
        }
        json_error_t jerr;
        json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!o || !json_is_object(o)) {
                snprintf(err, sizeof(err), "not valid JSON: %s", o ? "expected a JSON object" : jerr.text);
                json_decref(o);
                return reply_error(NULL, err);
        }
        const char *c = json_string_value(json_object_get(o, "cmd"));
        if (c && !streq(c, name)) {
                json_decref(o);
                return reply_error(NULL, "cmd: differs from the topic");
        }
        json_object_set_new(o, "cmd", json_string(name));
        const char *by = json_string_value(json_object_get(o, "by"));
        bool hide_by = false;
        if (k == CMD_TRIGGER || k == CMD_RESOLVE) {
                const char *id = mc->trigger_identity;
                if (!id) {
                        json_decref(o);
                        return reply_error(NULL, "by: MQTT has no identity to act as (set mqtt.trigger_identity)");
                }
                if (strncmp(id, "role:", 5) != 0) {
                        if (by && !streq(by, id)) {
                                json_decref(o);
                                return reply_error(NULL, "by: MQTT commands act as mqtt.trigger_identity; leave by out");
                        }
                        hide_by = !by;
                        json_object_set_new(o, "by", json_string(id));
                } else {
                        const struct person *p = by ? config_person(s->config, by) : NULL;
                        if (!p || !person_has_role(p, id + 5)) {
                                json_decref(o);
                                snprintf(err, sizeof(err), "by: must be a person with role \"%s\"", id + 5);
                                return reply_error(NULL, err);
                        }
                }
        }
        char *text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!text)
                return reply_error(NULL, "out of memory");
        int r = command_parse(text, strlen(text), &cmd, err, sizeof(err));
        free(text);
        if (r < 0)
                return reply_error(NULL, err);
        char *reply = mqtt_policy(s, &cmd);
        if (!reply)
                reply = server_execute(s, &cmd, SOURCE_MQTT, NULL);
        reply = mqtt_reply_filter(reply, cmd.person, hide_by);
        command_done(&cmd);
        return reply;
}

/* Queue event P (consumed) for MQTT, tagged with the activation log's
 * sequence now: published once everything logged up to here is on disk. */
static void queue_event(struct server *s, char *p) {
        struct mq_event *v = p ? realloc(s->mq_events, (s->n_mq_events + 1) * sizeof(*v)) : NULL;
        if (!v) {
                free(p);
                return;
        }
        s->mq_events = v;
        v[s->n_mq_events++] = (struct mq_event) { .payload = p, .seq = activations_logged_seq(s->acts) };
}

/* Follow-up events: journal, and MQTT without any case reference. */
static void on_followup_event(void *userdata, const struct fu_event *ev) {
        struct server *s = userdata;
        char f_type[64];
        const char *fields[] = { f_type, NULL };
        snprintf(f_type, sizeof(f_type), "BEREDD_EVENT=%s", ev->type);
        log_event(LOG_INFO, MSGID_FOLLOWUP_EVENT, fields, "Follow-up: %s%s%s", ev->type, ev->detail ? " " : "",
                  ev->detail ? ev->detail : "");
        if (!s->mqtt)
                return;
        json_t *o = json_pack("{s:s, s:I}", "type", ev->type, "ts", (json_int_t) (ev->ts / USEC_PER_SEC));
        if (ev->level > 0)
                json_object_set_new(o, "level", json_integer(ev->level));
        char *p = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        queue_event(s, p);
        s->mq_summary = true;
        sd_event_source_set_enabled(s->mqtt_flush, SD_EVENT_ON);
}

/* A post source: runs after every dispatch, and publishes only what is on
 * disk already. */
static int on_mqtt_flush(sd_event_source *es, void *userdata) {
        struct server *s = userdata;
        /* Nothing before it is on disk: events in order up to the last one
         * committed; "sent" outcomes wait for their group commit (at most a
         * few ms), and this runs again after it. */
        uint64_t committed = activations_committed_seq(s->acts);
        size_t i = 0, k = 0;
        for (; i < s->n_mq_events && s->mq_events[i].seq <= committed; i++) {
                mqtt_event(s->mqtt, s->mq_events[i].payload);
                free(s->mq_events[i].payload);
        }
        if (i > 0) {
                memmove(s->mq_events, s->mq_events + i, (s->n_mq_events - i) * sizeof(*s->mq_events));
                s->n_mq_events -= i;
        }
        for (i = 0; i < s->n_mq_activations; i++) {
                if (activations_dirty(s->acts, s->mq_activations[i])) {
                        s->mq_activations[k++] = s->mq_activations[i];
                        continue;
                }
                publish_activation(s, s->mq_activations[i]);
                free(s->mq_activations[i]);
        }
        s->n_mq_activations = k;
        if (s->mq_summary)
                publish_followup_summary(s);
        s->mq_summary = false;
        if (s->mq_status)
                publish_status(s);
        s->mq_status = false;
        if (s->n_mq_events == 0 && s->n_mq_activations == 0)
                sd_event_source_set_enabled(es, SD_EVENT_OFF);
        return 0;
}


/* Every activation event goes to the journal with structured fields, and to
 * MQTT's event stream when connected. Person ids only, never contact data. */
static void on_activation_event(void *userdata, const struct act_event *ev) {
        struct server *s = userdata;
        server_count_event(&s->counts, ev);
        server_trim_soon(s);
        char f_act[96], f_type[64], f_person[96], f_ch[32], f_step[32];
        const char *fields[6] = {};
        size_t n = 0;
        snprintf(f_act, sizeof(f_act), "BEREDD_ACTIVATION=%s", ev->activation);
        snprintf(f_type, sizeof(f_type), "BEREDD_EVENT=%s", ev->type);
        fields[n++] = f_act;
        fields[n++] = f_type;
        if (ev->person) {
                snprintf(f_person, sizeof(f_person), "BEREDD_PERSON=%s", ev->person);
                fields[n++] = f_person;
        }
        if (ev->channel) {
                snprintf(f_ch, sizeof(f_ch), "BEREDD_CHANNEL=%s", ev->channel);
                fields[n++] = f_ch;
        }
        if (ev->step >= 0) {
                snprintf(f_step, sizeof(f_step), "BEREDD_STEP=%d", ev->step);
                fields[n++] = f_step;
        }
        log_event(LOG_INFO, NULL, fields, "Activation %s: %s%s%s%s%s%s%s", ev->activation, ev->type,
                  ev->person ? " person=" : "", ev->person ? ev->person : "", ev->channel ? " channel=" : "",
                  ev->channel ? ev->channel : "", ev->detail ? " " : "", ev->detail ? ev->detail : "");

        if (s->mqtt) {
                json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:I}", "type", ev->type, "activation", ev->activation,
                                      "chain", ev->chain, "drill", ev->drill, "ts", (json_int_t) (ev->ts / USEC_PER_SEC));
                if (ev->step >= 0)
                        json_object_set_new(o, "step", json_integer(ev->step));
                if (ev->person)
                        json_object_set_new(o, "person", json_string(ev->person));
                if (ev->channel)
                        json_object_set_new(o, "channel", json_string(ev->channel));
                /* A call's progress is a word of our own list (ringing,
                 * no-answer, machine, ...): never a number. */
                if (streq(ev->type, "call") && ev->detail)
                        json_object_set_new(o, "status", json_string(ev->detail));
                char *p = json_dumps(o, JSON_COMPACT);
                json_decref(o);
                queue_event(s, p);
                if (!streq(ev->type, "notify") && !streq(ev->type, "sent") && !streq(ev->type, "failed")) {
                        bool have = false;
                        for (size_t i = 0; i < s->n_mq_activations; i++)
                                have = have || streq(s->mq_activations[i], ev->activation);
                        char **w = have ? NULL : realloc(s->mq_activations, (s->n_mq_activations + 1) * sizeof(char *));
                        if (w) {
                                s->mq_activations = w;
                                if ((w[s->n_mq_activations] = strdup(ev->activation)))
                                        s->n_mq_activations++;
                        }
                }
                sd_event_source_set_enabled(s->mqtt_flush, SD_EVENT_ON);
        }
}

/* ---- control socket ---- */

static void on_ctl_line(void *userdata, const char *line, size_t len, uid_t uid, char **reply) {
        struct server *s = userdata;
        struct command cmd;
        char err[256];

        if (command_parse(line, len, &cmd, err, sizeof(err)) < 0) {
                log_info("Control socket: uid %u: request rejected: %s", (unsigned) uid, LOG_ESC(err));
                *reply = reply_error(NULL, err);
                return;
        }
        /* Who asked: at info for what changes something, at debug for reads. */
        log_full(command_is_read_only(cmd.kind) ? LOG_DEBUG : LOG_INFO, 0, NULL, NULL,
                 "Control socket: uid %u: %s", (unsigned) uid, command_name(cmd.kind));
        *reply = server_execute(s, &cmd, SOURCE_SOCKET, NULL);
        command_done(&cmd);
}

/* ---- incoming/ (incoming.c) ---- */

static char *on_incoming_command(void *userdata, const struct command *cmd, const char *origin) {
        return server_execute(userdata, cmd, SOURCE_INCOMING, origin);
}

static bool on_incoming_spool_error(void *userdata) {
        return ((struct server *) userdata)->spool_error;
}

static void on_incoming_spool_failed(void *userdata, int r, const char *what) {
        server_spool_failed(userdata, r, what);
}

static void on_incoming_retry(void *userdata) {
        arm_retry(userdata);
}

static void on_incoming_changed(void *userdata) {
        server_update_status_later(userdata);
}

/* ---- for the HTTP listener ---- */

bool server_healthy(struct server *s) {
        return !s->spool_error && http_accepting(s->http);
}

/* ---- signals, reload ---- */

static int on_terminate(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        struct server *s = userdata;
        sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
        sd_event_source_set_enabled(s->status_later, SD_EVENT_OFF); /* "Stopping" is the last word */
        log_event(LOG_INFO, MSGID_STOPPED, NULL, "Received %s, stopping", strsignal((int) si->ssi_signo));
        sd_event_exit(s->event, 0);
        return 0;
}

static bool str_same(const char *a, const char *b) {
        return a == b || (a && b && streq(a, b));
}

/* The broker connection (address, identity, TLS files) cannot move on a reload. */
static bool mqtt_conf_same(const struct mqtt_conf *a, const struct mqtt_conf *b) {
        return a->enabled == b->enabled && a->port == b->port && a->tls == b->tls && str_same(a->host, b->host) &&
               str_same(a->base, b->base) && str_same(a->client_id, b->client_id) &&
               str_same(a->username, b->username) && str_same(a->password, b->password) &&
               str_same(a->cafile, b->cafile) && str_same(a->certfile, b->certfile) &&
               str_same(a->keyfile, b->keyfile) && a->keepalive == b->keepalive;
}

static void server_reload(struct server *s) {
        struct errlist errs = {};
        char buf[96];

        snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, server_now_monotonic());
        sd_notify(0, buf);
        struct config *c = config_load(s->config_path, &errs);
        if (!c) {
                for (size_t i = 0; i < errs.n; i++)
                        log_error("%s", errs.v[i]);
                log_event(LOG_ERR, MSGID_RELOAD_FAILED, NULL,
                          "Reload of %s failed with %zu error(s); keeping the running configuration", s->config_path,
                          errs.n);
                errlist_free(&errs);
        } else if (!streq(c->spool, s->config->spool) || !streq(c->site, s->config->site) ||
                   !mqtt_conf_same(&c->mqtt, &s->config->mqtt)) {
                log_event(LOG_ERR, MSGID_RELOAD_FAILED, NULL,
                          "Reload of %s: site, spool or MQTT broker changed; that needs a restart. "
                          "Keeping the running configuration", s->config_path);
                config_free(c);
        } else {
                struct calendar *cal = NULL;
                int r = calendar_new(&c->calendar, c->timezone, &cal);
                if (r < 0) {
                        log_event(LOG_ERR, MSGID_RELOAD_FAILED, NULL,
                                  "Reload of %s: cannot load time zone %s: %s; keeping the running configuration",
                                  s->config_path, c->timezone, strerror(-r));
                        config_free(c);
                        goto done;
                }
                mqtt_set_config(s->mqtt, c);
                gateways_set_config(s->gw, c);
                activations_set_config(s->acts, c, cal);
                activations_set_public_url(s->acts, c->http.public_url);
                http_set_config(s->http, c);
                followup_set_config(s->fu, c, cal);
                retention_set_config(s->ret, c);
                calendar_free(s->cal);
                s->cal = cal;
                config_free(s->config);
                s->config = c;
                s->n_reloads++;
                publish_followup_factors(s); /* the vocabulary may have changed */
                publish_followup_summary(s);
                server_coverage_publish(s, false);
                server_survey_check(s); /* a survey_before may be new */
                log_event(LOG_INFO, MSGID_RELOADED, NULL, "Reloaded %s", s->config_path);
        }
done:
        server_trim(s); /* the old configuration and the parse of the new one */
        sd_notify(0, "READY=1");
        server_trouble_changed(s); /* gateways may have come, gone or changed */
}

static int on_hup(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        server_reload(userdata);
        return 0;
}

/* ---- life cycle ---- */

static bool hook_healthy(void *userdata) {
        return server_healthy(userdata);
}
static bool hook_ready(void *userdata, char *why, size_t len) {
        return server_ready(userdata, why, len);
}
static char *hook_metrics(void *userdata) {
        return server_metrics(userdata);
}
static int hook_sms_inbound(void *userdata, const char *gateway_id, const char *provider_msg_id, const char *from,
                            const char *text, char **sms_back) {
        return server_sms_inbound(userdata, gateway_id, provider_msg_id, from, text, sms_back);
}
static int hook_message_seen(void *userdata, const char *gateway_id, const char *provider_msg_id) {
        return server_message_seen(userdata, gateway_id, provider_msg_id);
}
static void hook_message_forget(void *userdata, const char *gateway_id, const char *provider_msg_id) {
        server_message_forget(userdata, gateway_id, provider_msg_id);
}
static int hook_receipt(void *userdata, const char *gateway_id, const char *ref, bool delivered, const char *detail) {
        return server_receipt(userdata, gateway_id, ref, delivered, detail);
}
static int hook_token_lookup(void *userdata, const char *token, json_t **info) {
        return server_token_lookup(userdata, token, info);
}
static int hook_token_answer(void *userdata, const char *token, bool verify, enum answer answer, json_t **reply,
                             char *err, size_t errlen) {
        return server_token_answer(userdata, token, verify, answer, reply, err, errlen);
}

static int hook_survey_lookup(void *userdata, const char *token, json_t **info) {
        return server_survey_token(userdata, token, info);
}
static int hook_survey_answer(void *userdata, const char *token, const char *from, const char *to, char *err,
                              size_t errlen) {
        return server_survey_token_answer(userdata, token, from, to, err, errlen);
}

static int hook_voice_answer(void *userdata, const char *gateway_id, const char *call_sid, const char *token,
                             const char *digits, enum voice_reply *what, bool *en) {
        return server_voice_answer(userdata, gateway_id, call_sid, token, digits, what, en);
}
static int hook_call_status(void *userdata, const char *gateway_id, const char *call_sid, const char *ref,
                            const char *status, const char *answered_by, int duration) {
        return server_call_status(userdata, gateway_id, call_sid, ref, status, answered_by, duration);
}

/* READY_GRACE_USEC, or $BEREDD_READY_GRACE_MS (tests). */
static uint64_t ready_grace(void) {
        uint64_t usec;
        int r = env_msec("BEREDD_READY_GRACE_MS", &usec);
        if (r > 0)
                return usec;
        if (r < 0)
                log_warning("Ignoring BEREDD_READY_GRACE_MS=%s (expected milliseconds)",
                            LOG_ESC(getenv("BEREDD_READY_GRACE_MS")));
        return READY_GRACE_USEC;
}

/* The configuration, the spool and the replay records. */
static int server_load(struct server *s) {
        struct errlist errs = {};
        unsigned stale = 0;
        int r;

        s->config = config_load(s->config_path, &errs);
        if (!s->config) {
                for (size_t i = 0; i < errs.n; i++)
                        log_error("%s", errs.v[i]);
                r = log_error_errno(EINVAL, "Configuration %s has %zu error(s), not starting", s->config_path, errs.n);
                errlist_free(&errs);
                return r;
        }

        r = store_open(s->config->spool, &s->store, &stale);
        if (r < 0) {
                log_error_errno(r, "Cannot open spool %s: %s", s->config->spool,
                                r == -EBUSY ? "another beredd is already using it" : strerror(-r));
                return r;
        }
        if (stale > 0)
                log_notice("Spool: removed %u unfinished temporary file(s) from tmp/", stale);
        uint64_t pause = 0;
        if (env_msec("BEREDD_TEST_SPARE_PAUSE_MS", &pause) < 0)
                log_warning("Ignoring BEREDD_TEST_SPARE_PAUSE_MS=%s (expected milliseconds)",
                            getenv("BEREDD_TEST_SPARE_PAUSE_MS"));
        store_set_spare_pause(s->store, pause);
        /* A log a crash left under its tmp/ name: it may have been sending. */
        unsigned recovered = 0, dropped = 0;
        r = store_recover_spares(s->store, STORE_ACTIVATIONS, activation_log_name, &recovered, &dropped);
        if (r < 0)
                return log_error_errno(r, "Spool: cannot move activation logs from tmp/ into activations/: %m");
        if (recovered + dropped > 0)
                log_notice("Spool: %u activation log(s) moved from tmp/ into activations/ after a crash; %u unfinished "
                           "one(s) removed or set aside in failed/", recovered, dropped);

        r = seen_open(s->store, STORE_ACTIVATIONS, SEEN_FILE, SEEN_RETENTION_USEC, beredd_now(), &s->seen);
        if (r < 0) {
                log_error_errno(r, "Cannot read %s/activations/%s: %m", store_root(s->store), SEEN_FILE);
                return r;
        }
        return 0;
}

/* The loop, its signals and watchdog, and the control socket. */
static int server_watch(struct server *s) {
        int r;

        r = sd_event_default(&s->event);
        if (r < 0) {
                log_error_errno(r, "Cannot create the event loop: %m");
                return r;
        }

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if ((r = sd_event_add_signal(s->event, &s->sig_term, SIGTERM, on_terminate, s)) < 0 ||
            (r = sd_event_add_signal(s->event, &s->sig_int, SIGINT, on_terminate, s)) < 0 ||
            (r = sd_event_add_signal(s->event, &s->sig_hup, SIGHUP, on_hup, s)) < 0) {
                log_error_errno(r, "Cannot watch signals: %m");
                return r;
        }
        r = sd_event_set_watchdog(s->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot enable the watchdog: %m, ignoring");

        r = ctl_new(s->event, s->socket_path, on_ctl_line, s, &s->ctl);
        if (r < 0) {
                log_error_errno(r, "Cannot listen on control socket %s: %m%s", s->socket_path,
                                r == -ENOENT ? " (does its folder exist? use --socket)" : "");
                return r;
        }
        return 0;
}

/* The calendar, the gateways and the engines that use them. */
static int server_start_engines(struct server *s) {
        int r;

        r = calendar_new(&s->config->calendar, s->config->timezone, &s->cal);
        if (r < 0) {
                log_error_errno(r, "Cannot load time zone %s: %m", s->config->timezone);
                return r;
        }
        r = gateways_new(s->event, s->store, s->config, &s->gw);
        if (r >= 0) {
                gateways_set_waiting_hook(s->gw, on_gateways_waiting, s);
                gateways_set_health_hook(s->gw, on_gateways_health, s);
        }
        if (r < 0) {
                log_error_errno(r, "Cannot set up the gateways: %m");
                return r;
        }
        /* Open activations continue from their logs before anything new
         * comes in. */
        r = duty_new(s->store, &s->duty);
        if (r < 0) {
                log_error_errno(r, "Cannot read %s/rosters/overrides.json: %m", store_root(s->store));
                return r;
        }
        unsigned broken = 0;
        r = absences_new(s->store, &s->absences, &broken);
        if (r < 0) {
                log_error_errno(r, "Cannot read %s/absences/: %m", store_root(s->store));
                return r;
        }
        if (broken > 0)
                log_warning("%u file(s) in %s/absences/ could not be read; ignored (and kept)", broken,
                            store_root(s->store));
        r = activations_new(s->event, s->store, s->gw, s->duty, s->config, s->cal, s->config->http.public_url,
                            on_activation_event, s, &s->acts);
        if (r < 0) {
                log_error_errno(r, "Cannot load the activations: %m");
                return r;
        }
        activations_set_absences(s->acts, s->absences);

        r = followup_new(s->event, s->store, s->gw, s->config, s->cal, on_followup_event, s, &s->fu);
        if (r < 0) {
                log_error_errno(r, "Cannot load the follow-up cases: %m");
                return r;
        }
        followup_set_absences(s->fu, s->absences);
        /* After the activations are loaded (an ended one may go), before
         * anything new comes in. */
        r = retention_new(s->event, s->store, s->acts, s->absences, s->config, &s->ret);
        if (r < 0) {
                log_error_errno(r, "Cannot set up the retention sweep: %m");
                return r;
        }
        return 0;
}

/* The ways in and out besides the control socket: HTTP, MQTT, incoming/,
 * and the spool probe. */
static int server_start_io(struct server *s) {
        int r;

        const struct http_hooks http_hooks = {
                .healthy = hook_healthy, .ready = hook_ready, .metrics = hook_metrics,
                .sms_inbound = hook_sms_inbound, .message_seen = hook_message_seen,
                .message_forget = hook_message_forget, .receipt = hook_receipt,
                .token_lookup = hook_token_lookup, .token_answer = hook_token_answer,
                .voice_answer = hook_voice_answer, .call_status = hook_call_status,
                .survey_lookup = hook_survey_lookup, .survey_answer = hook_survey_answer, .userdata = s,
        };
        r = http_new(s->event, s->config, &http_hooks, &s->http);
        if (r < 0)
                return r;

        if (s->config->mqtt.enabled) {
                const struct mqtt_hooks hooks = { .execute = on_mqtt_command, .republish = on_mqtt_republish, .userdata = s };
                r = mqtt_new(s->event, s->config, &hooks, &s->mqtt);
                if (r < 0) {
                        log_error_errno(r, "Cannot set up MQTT: %m");
                        return r;
                }
                r = sd_event_add_post(s->event, &s->mqtt_flush, on_mqtt_flush, s);
                if (r < 0) {
                        log_error_errno(r, "Cannot add event sources: %m");
                        return r;
                }
                sd_event_source_set_enabled(s->mqtt_flush, SD_EVENT_OFF);
                sd_event_source_set_priority(s->mqtt_flush, SD_EVENT_PRIORITY_IDLE);
                sd_event_source_set_description(s->mqtt_flush, "mqtt-flush");
                publish_status(s); /* the trouble fields (none yet) go with every status */
        }

        const struct incoming_hooks in_hooks = {
                .execute = on_incoming_command, .spool_error = on_incoming_spool_error,
                .spool_failed = on_incoming_spool_failed, .retry = on_incoming_retry,
                .changed = on_incoming_changed, .userdata = s,
        };
        r = incoming_new(s->event, s->store, &in_hooks, &s->incoming);
        if (r < 0)
                return r;
        r = sd_event_add_time(s->event, &s->retry, CLOCK_MONOTONIC, UINT64_MAX, USEC_PER_SEC, on_retry, s);
        if (r < 0) {
                log_error_errno(r, "Cannot add event sources: %m");
                return r;
        }
        sd_event_source_set_enabled(s->retry, SD_EVENT_OFF);
        r = sd_event_add_defer(s->event, &s->status_later, on_status_later, s);
        if (r < 0) {
                log_error_errno(r, "Cannot add event sources: %m");
                return r;
        }
        sd_event_source_set_enabled(s->status_later, SD_EVENT_OFF);
        sd_event_source_set_priority(s->status_later, SD_EVENT_PRIORITY_IDLE);
        sd_event_source_set_description(s->status_later, "status-later");
        r = sd_event_add_defer(s->event, &s->trim, on_trim, s);
        if (r < 0) {
                log_error_errno(r, "Cannot add event sources: %m");
                return r;
        }
        sd_event_source_set_enabled(s->trim, SD_EVENT_OFF);
        sd_event_source_set_priority(s->trim, SD_EVENT_PRIORITY_IDLE);
        sd_event_source_set_description(s->trim, "malloc-trim");
        r = server_coverage_start(s);
        if (r < 0) {
                log_error_errno(r, "Cannot add event sources: %m");
                return r;
        }
        r = server_survey_start(s); /* logs its own error */
        if (r < 0)
                return r;
        return 0;
}

int server_new(const struct server_options *o, struct server **ret) {
        int r;

        struct server *s = calloc(1, sizeof(*s));
        if (!s)
                return log_error_errno(ENOMEM, "Out of memory");
        s->ready = -1;
        s->ready_grace = ready_grace();
        s->foreground = o->foreground;
        s->config_path = strdup(o->config_path);
        s->socket_path = strdup(o->socket_path);
        if (!s->config_path || !s->socket_path) {
                r = log_error_errno(ENOMEM, "Out of memory");
                goto fail;
        }
        if ((r = server_load(s)) < 0 || (r = server_watch(s)) < 0 || (r = server_start_engines(s)) < 0 ||
            (r = server_start_io(s)) < 0)
                goto fail;

        sd_event_source_set_description(s->sig_term, "sigterm");
        sd_event_source_set_description(s->sig_int, "sigint");
        sd_event_source_set_description(s->sig_hup, "sighup");
        sd_event_source_set_description(s->retry, "spool-retry");

        *ret = s;
        return 0;
fail:
        server_free(s);
        return r;
}

int server_run(struct server *s) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->started_usec = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;

        /* Files that arrived while we were down, in arrival order, before
         * READY=1: the inotify watch is already in place, so nothing falls
         * between the scan and the watch. */
        incoming_scan(s->incoming);
        /* What loading the configuration and the spool freed (libconfig's
         * tree of a large people list is most of it) back to the system. */
        server_trim(s);

        log_event(LOG_INFO, MSGID_STARTED, NULL, "beredd %s started: site %s, spool %s, control socket %s",
                  PACKAGE_VERSION, s->config->site, store_root(s->store), s->socket_path);
        sd_notify(0, "READY=1");
        server_update_status(s);

        int r = sd_event_loop(s->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r;
}

void server_free(struct server *s) {
        if (!s)
                return;
        ctl_free(s->ctl);
        http_free(s->http);
        retention_free(s->ret);
        followup_free(s->fu);
        activations_free(s->acts);
        server_limits_free(s);
        duty_free(s->duty);
        absences_free(s->absences);
        gateways_free(s->gw);
        sd_event_source_disable_unref(s->mqtt_flush);
        sd_event_source_disable_unref(s->status_later);
        sd_event_source_disable_unref(s->trim);
        free(s->status_sent);
        for (size_t i = 0; i < s->n_mq_events; i++)
                free(s->mq_events[i].payload);
        free(s->mq_events);
        for (size_t i = 0; i < s->n_mq_activations; i++)
                free(s->mq_activations[i]);
        free(s->mq_activations);
        calendar_free(s->cal);
        mqtt_free(s->mqtt);
        incoming_free(s->incoming);
        sd_event_source_disable_unref(s->retry);
        server_coverage_stop(s);
        server_survey_stop(s);
        sd_event_source_disable_unref(s->sig_term);
        sd_event_source_disable_unref(s->sig_int);
        sd_event_source_disable_unref(s->sig_hup);
        sd_event_unref(s->event);
        seen_free(s->seen);
        store_free(s->store);
        config_free(s->config);
        free(s->config_path);
        free(s->socket_path);
        free(s);
}
