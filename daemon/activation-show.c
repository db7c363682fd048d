/* activation-show.c - what beredctl list, show and report say of an
 * activation: the summary, the people and their notifications, the quorum's
 * requirements and the timeline read back from the log. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "activation-internal.h"
#include "log.h"
#include "macro.h"
#include "text.h"
#include "wording.h"

void act_summary(struct activation *a, json_t *o) {
        const struct chain *c = act_chain(a);
        int yes;
        bool roles_ok;
        act_count_yes(a, c, &yes, &roles_ok);
        json_object_set_new(o, "activation", json_string(a->id));
        json_object_set_new(o, "code", json_string(a->code));
        json_object_set_new(o, "chain", json_string(a->chain));
        json_object_set_new(o, "state", json_string(act_state_names[a->state]));
        json_object_set_new(o, "drill", json_boolean(a->drill));
        json_object_set_new(o, "confirmed", json_integer(yes));
        json_object_set_new(o, "needed", json_integer(c ? c->need_total : 0));
        json_object_set_new(o, "step", json_integer(a->step));
        json_object_set_new(o, "created", json_integer((json_int_t) (a->created / USEC_PER_SEC)));
        if (!a->verify) {
                /* Which requirements are not met yet ("total", "role:ID");
                 * "impossible": the final step was told they cannot be. */
                _cleanup_free_ struct need_view *v = NULL;
                size_t n = a->state == ACT_RESOLVED ? 0 : act_quorum_view(a, beredd_now(), &v);
                char what[256];
                json_object_set_new(o, "unmet", act_needs_unmet(v, n, false, what, sizeof(what)));
                json_object_set_new(o, "impossible", json_boolean(a->impossible_at != 0));
        }
        if (a->n_skips) {
                /* Skipped as away when their step started (person ids only). */
                json_t *away = json_array();
                for (size_t i = 0; i < a->n_skips; i++) {
                        const struct act_skip *k = &a->skips[i];
                        json_t *x = json_pack("{s:s, s:i}", "person", k->person, "step", k->step);
                        if (k->roster)
                                json_object_set_new(x, "roster", json_string(k->roster));
                        if (k->roster)
                                json_object_set_new(x, "instead", k->instead ? json_string(k->instead) : json_null());
                        json_array_append_new(away, x);
                }
                json_object_set_new(o, "away", away);
        }
        if (a->verify) {
                json_t *missing = json_array();
                for (size_t i = 0; i < a->n_people; i++) {
                        struct member *mb = act_find_member(a, a->people[i], false);
                        if (!mb || mb->answer == ANSWER_NONE)
                                json_array_append_new(missing, json_string(a->people[i]));
                }
                json_object_set_new(o, "verify", json_true());
                json_object_set_new(o, "asked", json_integer((json_int_t) a->n_people));
                json_object_set_new(o, "missing", missing);
        }
}

static json_t *after(const struct activation *a, uint64_t ts) {
        return json_real((double) ((int64_t) ts - (int64_t) a->created) / 1e6);
}

/* What became of call N: when it was placed, rang, was answered and
 * ended, how, the key pressed, how long it lasted, through which gateway
 * (never the number). */
static json_t *call_json(const struct activation *a, const struct notif *n) {
        json_t *o = json_pack("{s:o, s:s}", "placed_after_s", after(a, n->ts_sending), "state", nstate_names[n->state]);
        if (n->ts_ringing)
                json_object_set_new(o, "ringing_after_s", after(a, n->ts_ringing));
        if (n->ts_answered)
                json_object_set_new(o, "answered_after_s", after(a, n->ts_answered));
        if (n->ts_ended)
                json_object_set_new(o, "ended_after_s", after(a, n->ts_ended));
        if (n->call_status[0])
                json_object_set_new(o, "outcome", json_string(n->call_status));
        if (n->digits[0])
                json_object_set_new(o, "digits", json_string(n->digits));
        if (n->duration >= 0)
                json_object_set_new(o, "duration_s", json_integer(n->duration));
        if (n->gateway)
                json_object_set_new(o, "gateway", json_string(n->gateway));
        return o;
}

/* One word for the person's last call, for beredctl show's VOICE column. */
static const char *call_word(const struct member *mb, const struct notif *n) {
        if (!n)
                return mb->call_at ? "later" : "-";
        if (streq(n->digits, "1") || streq(n->digits, "2")) /* an answer; another key is not */
                return n->digits;
        if (n->call_status[0])
                return streq(n->call_status, "in-progress") ? "answered" : n->call_status;
        switch (n->state) {
        case N_QUEUED:
        case N_SENDING:
                return "queued";
        case N_SENT:
                return "calling";
        case N_FAILED:
        case N_UNREACHABLE:
                return "failed";
        default:
                return nstate_names[n->state];
        }
}

static json_t *people_json(struct activation *a) {
        json_t *arr = json_array();
        for (size_t i = 0; i < a->n_members; i++) {
                struct member *mb = &a->members[i];
                json_t *o = json_pack("{s:s, s:s}", "person", mb->person, "answer",
                                      mb->answer == ANSWER_YES ? "yes" : mb->answer == ANSWER_NO ? "no" : "none");
                if (mb->first_notified)
                        json_object_set_new(o, "notified_after_s",
                                            json_real((double) (mb->first_notified - a->created) / 1e6));
                if (mb->answered)
                        json_object_set_new(o, "answered_after_s", json_real((double) (mb->answered - a->created) / 1e6));
                json_t *ch = json_array(), *calls = json_array();
                const struct notif *last_call = NULL;
                for (size_t k = 0; k < a->n_notifs; k++) {
                        struct notif *n = &a->notifs[k];
                        if (!streq(n->person, mb->person))
                                continue;
                        json_array_append_new(ch, json_pack("{s:s, s:s, s:s, s:f}", "kind", n->kind, "channel",
                                                            channel_name(n->ch), "state", nstate_names[n->state],
                                                            "after_s", (double) (n->ts_sending - a->created) / 1e6));
                        if (n->ch == CHANNEL_VOICE) {
                                json_array_append_new(calls, call_json(a, n));
                                last_call = n;
                        }
                }
                json_object_set_new(o, "notifications", ch);
                json_object_set_new(o, "voice", json_string(call_word(mb, last_call)));
                if (mb->call_at)
                        json_object_set_new(o, "call_after_s", after(a, mb->call_at));
                if (json_array_size(calls))
                        json_object_set_new(o, "calls", calls);
                else
                        json_decref(calls);
                json_array_append_new(arr, o);
        }
        return arr;
}

/* Each requirement of the quorum with its counts: confirmed, needed, and at
 * most how many the people still left can make (possible). */
static json_t *requirements_json(struct activation *a) {
        _cleanup_free_ struct need_view *v = NULL;
        size_t n = act_quorum_view(a, beredd_now(), &v);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:b, s:b}", "need", v[i].role ? "role" : "total", "confirmed",
                                      v[i].yes, "needed", v[i].need, "possible", v[i].possible, "met",
                                      v[i].yes >= v[i].need, "out_of_reach", v[i].possible < v[i].need);
                if (v[i].role) {
                        json_object_set_new(o, "role", json_string(v[i].role));
                        json_object_set_new(o, "name", json_string(config_role_name(a->mgr->cfg, v[i].role, LANG_NB)));
                }
                json_array_append_new(arr, o);
        }
        return arr;
}

void act_progress(struct activation *a, json_t *o) {
        const struct chain *c = act_chain(a);
        if (!c || a->verify)
                return;
        json_object_set_new(o, "chain_name", json_string(c->name ? c->name : c->id));
        json_object_set_new(o, "steps", json_integer((json_int_t) act_chain_n_regular(c)));
        if (a->deadline && a->state == ACT_MOBILISING)
                json_object_set_new(o, "next_step_at", json_integer((json_int_t) (a->deadline / USEC_PER_SEC)));
        /* Each role minimum by its display name, with its counts: "2/3"
         * alone hides that the priest is missing. */
        json_t *roles = json_array(), *r;
        size_t i;
        json_t *req = a->state == ACT_RESOLVED ? json_array() : requirements_json(a);
        json_array_foreach(req, i, r) {
                if (!json_object_get(r, "role"))
                        continue;
                json_array_append_new(roles, json_pack("{s:O, s:O, s:O}", "name", json_object_get(r, "name"), "confirmed",
                                                       json_object_get(r, "confirmed"), "needed",
                                                       json_object_get(r, "needed")));
        }
        json_decref(req);
        json_object_set_new(o, "roles", roles);
}

int activations_show(struct activations *m, const char *id, json_t **reply, char *err, size_t errlen) {
        struct activation *a = act_find_activation(m, id);
        if (!a) {
                snprintf(err, errlen, "activation: no such activation");
                return -ENOENT;
        }
        *reply = json_object();
        act_summary(a, *reply);
        json_object_set_new(*reply, "by", json_string(a->by));
        if (a->message)
                json_object_set_new(*reply, "message", json_string(a->message));
        json_object_set_new(*reply, "people", people_json(a));
        json_object_set_new(*reply, "unsolicited", json_integer((json_int_t) a->n_unsolicited));
        if (!a->verify)
                json_object_set_new(*reply, "requirements", requirements_json(a));
        if (a->impossible_at)
                json_object_set_new(*reply, "impossible_after_s",
                                    json_real((double) ((int64_t) a->impossible_at - (int64_t) a->created) / 1e6));
        if (a->reachable_at)
                json_object_set_new(*reply, "reachable_after_s",
                                    json_real((double) ((int64_t) a->reachable_at - (int64_t) a->created) / 1e6));
        if (a->unmobilised_at) {
                json_object_set_new(*reply, "unmobilised_after_s",
                                    json_real((double) ((int64_t) a->unmobilised_at - (int64_t) a->created) / 1e6));
                json_object_set_new(*reply, "unmobilised", json_integer((json_int_t) a->n_unmobilised));
        }
        if (a->deadline && a->state == ACT_MOBILISING)
                json_object_set_new(*reply, "next_step_in_s",
                                    json_real((double) ((int64_t) a->deadline - (int64_t) beredd_now()) / 1e6));
        return 0;
}

int activations_report(struct activations *m, const char *id, json_t **reply, char *err, size_t errlen) {
        struct activation *a = act_find_activation(m, id);
        if (!a) {
                snprintf(err, errlen, "activation: no such activation");
                return -ENOENT;
        }
        /* The timeline is the log itself, read back from disk. */
        char name[128];
        snprintf(name, sizeof(name), "%s.log", a->id);
        _cleanup_free_ char *data = NULL;
        size_t len;
        act_commit(a);
        int r = store_read(m->store, STORE_ACTIVATIONS, name, LOG_MAX_SIZE, &data, &len);
        if (r < 0) {
                snprintf(err, errlen, "activation %s: cannot read its log: %s", a->id, strerror(-r));
                return r;
        }
        json_t *timeline = json_array();
        for (char *line = data, *nl; line < data + len && (nl = memchr(line, '\n', (size_t) (data + len - line)));
             line = nl + 1) {
                json_t *o = json_loadb(line, (size_t) (nl - line), 0, NULL);
                if (!o)
                        continue;
                /* "sent"/"failed" name only the key: add whom and how. */
                const char *key = json_string_value(json_object_get(o, "key"));
                struct notif *n = key && !json_object_get(o, "person") ? act_find_notif(a, key) : NULL;
                if (n) {
                        json_object_set_new(o, "person", json_string(n->person));
                        json_object_set_new(o, "ch", json_string(channel_name(n->ch)));
                        json_object_set_new(o, "kind", json_string(n->kind));
                }
                uint64_t ts = act_jts(o);
                json_object_del(o, "ts");
                json_object_del(o, "message");
                json_object_del(o, "nonce"); /* the secret part of the receipt reference */
                json_object_set_new(o, "after_s", json_real((double) ((int64_t) ts - (int64_t) a->created) / 1e6));
                json_array_append_new(timeline, o);
        }
        *reply = json_object();
        act_summary(a, *reply);
        json_object_set_new(*reply, "by", json_string(a->by));
        if (a->mobilised_at)
                json_object_set_new(*reply, "time_to_quorum_s", json_real((double) (a->mobilised_at - a->created) / 1e6));
        json_object_set_new(*reply, "people", people_json(a));
        json_object_set_new(*reply, "timeline", timeline);
        return 0;
}
