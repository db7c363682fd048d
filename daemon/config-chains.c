/* config-chains.c - the "chains" section: who may trigger, the quorum, the
 * steps and their targets, reports; and the check that the steps can reach
 * the quorum at all. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"

static const char *const step_templates[] = { "activation", "unreachable", "standdown", "resolved" };

static int chain_line(const struct config *c, const char *id) {
        return CFG_LINE_OF(config_chain(c, id));
}

static bool gateway_serves(const struct config *c, enum channel ch) {
        for (size_t i = 0; i < c->n_gateways; i++)
                if (c->gateways[i].channel & ch)
                        return true;
        return false;
}

/* Parse one "person", "role:X" or "roster:Y" reference of list S, element
 * I. Returns true when it resolves; reports and returns false otherwise. */
static bool parse_target(struct loader *l, const config_setting_t *s, int i, bool allow_roster, struct target *t) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        const char *v = config_setting_get_string(e);

        if (cfg_has_prefix(v, "role:")) {
                t->kind = TARGET_ROLE;
                v += 5;
                if (!cfg_role_exists(l->c, v)) {
                        cfg_fail_elem(l, s, e, "unknown role \"%s\"", v);
                        return false;
                }
        } else if (cfg_has_prefix(v, "roster:")) {
                t->kind = TARGET_ROSTER;
                v += 7;
                if (!allow_roster) {
                        cfg_fail_elem(l, s, e, "\"roster:%s\": use a person id or \"role:NAME\" here", v);
                        return false;
                }
                if (!config_roster(l->c, v)) {
                        cfg_fail_elem(l, s, e, "unknown roster \"%s\"", v);
                        return false;
                }
        } else {
                t->kind = TARGET_PERSON;
                if (!config_person(l->c, v)) {
                        cfg_fail_elem(l, s, e, "unknown person \"%s\"", v);
                        return false;
                }
        }
        t->ref = cfg_ldup(l, v);
        return true;
}

/* Targets of list S into *RET; returns false if any did not resolve. */
static bool load_targets(struct loader *l, const config_setting_t *s, bool allow_roster, struct target **ret, size_t *ret_n) {
        int n = config_setting_length(s);
        bool ok = true;

        *ret = cfg_alloc_array(l, (size_t) n, sizeof(struct target));
        for (int i = 0; i < n && *ret; i++) {
                if (parse_target(l, s, i, allow_roster, &(*ret)[*ret_n]))
                        (*ret_n)++;
                else
                        ok = false;
        }
        return ok;
}

static void targets_free(struct target *t, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(t[i].ref);
        free(t);
}

static void mark_reachable(const struct config *c, const struct target *t, bool *reach) {
        for (size_t i = 0; i < c->n_people; i++) {
                const struct person *p = &c->people[i];
                switch (t->kind) {
                case TARGET_PERSON:
                        if (streq(p->id, t->ref))
                                reach[i] = true;
                        break;
                case TARGET_ROLE:
                        if (person_has_role(p, t->ref))
                                reach[i] = true;
                        break;
                case TARGET_ROSTER: {
                        const struct roster *r = config_roster(c, t->ref);
                        for (size_t j = 0; r && j < r->n_members; j++)
                                if (streq(p->id, r->members[j]))
                                        reach[i] = true;
                        break;
                }
                }
        }
}

/* A chain whose steps cannot reach its quorum would escalate to the end on
 * every activation: refuse it now instead of at 03:00 during a crisis. */
static void check_quorum(struct loader *l, const struct chain *ch, const config_setting_t *need_s,
                         const config_setting_t *const *role_s) {
        const struct config *c = l->c;
        _cleanup_free_ bool *reach = NULL;
        size_t total = 0;

        if (c->n_people == 0)
                return;
        reach = calloc(c->n_people, sizeof(bool));
        if (!reach) {
                l->oom = true;
                return;
        }
        for (size_t i = 0; i < ch->n_steps; i++)
                if (!ch->steps[i].final)
                        for (size_t j = 0; j < ch->steps[i].n_targets; j++)
                                mark_reachable(c, &ch->steps[i].targets[j], reach);
        for (size_t i = 0; i < c->n_people; i++)
                total += reach[i];

        if ((size_t) ch->need_total > total)
                cfg_fail(l, need_s, "quorum cannot be reached: total = %d but the chain's steps reach only %zu %s",
                         ch->need_total, total, total == 1 ? "person" : "people");

        for (size_t k = 0; k < ch->n_need_roles; k++) {
                size_t n = 0;
                for (size_t i = 0; i < c->n_people; i++)
                        if (reach[i] && person_has_role(&c->people[i], ch->need_roles[k].role))
                                n++;
                if ((size_t) ch->need_roles[k].n > n)
                        cfg_fail_elem(l, need_s, role_s[k],
                                      "quorum cannot be reached: need.roles.%s = %d but only %zu %s with role \"%s\" %s reachable",
                                      ch->need_roles[k].role, ch->need_roles[k].n, n, n == 1 ? "person" : "people",
                                      ch->need_roles[k].role, n == 1 ? "is" : "are");
        }
}

static bool load_step(struct loader *l, const config_setting_t *e, bool last, struct step *st) {
        static const char *const keys[] = { "notify", "via", "voice_after", "wait", "mode", "when", "final", "template", NULL };
        static const char *const modes[] = { [STEP_PARALLEL] = "parallel", [STEP_SEQUENTIAL] = "sequential" };
        static const char *const whens[] = { [WHEN_ALWAYS] = "always", [WHEN_OFFICE] = "office",
                                             [WHEN_OUTSIDE_OFFICE] = "outside-office" };
        config_setting_t *s, *sfinal, *svoice;
        bool ok = true;
        int t;

        cfg_check_keys(l, e, keys);
        st->line = cfg_setting_line(e);

        s = cfg_get_string_list(l, e, "notify", true);
        if (s && config_setting_length(s) == 0)
                cfg_fail(l, s, "must name at least one person, role or roster");
        else if (s)
                ok = load_targets(l, s, true, &st->targets, &st->n_targets);
        else
                ok = false;

        st->via = CHANNEL_SMS;
        s = cfg_get_string_list(l, e, "via", false);
        if (s && config_setting_length(s) == 0)
                cfg_fail(l, s, "must name at least one channel (\"sms\", \"email\", \"voice\")");
        else if (s) {
                st->via = 0;
                for (int i = 0; i < config_setting_length(s); i++) {
                        const char *v = cfg_string_elem(s, i);
                        if (streq(v, "sms"))
                                st->via |= CHANNEL_SMS;
                        else if (streq(v, "email"))
                                st->via |= CHANNEL_EMAIL;
                        else if (streq(v, "voice"))
                                st->via |= CHANNEL_VOICE;
                        else
                                cfg_fail_elem(l, s, config_setting_get_elem(s, (unsigned) i),
                                              "unknown channel \"%s\" (use \"sms\", \"email\" or \"voice\")", v);
                }
        }
        for (enum channel ch = CHANNEL_SMS; ch <= CHANNEL_VOICE; ch <<= 1)
                if ((st->via & ch) && !gateway_serves(l->c, ch))
                        cfg_fail(l, s ? s : e, "no gateway for channel \"%s\"", channel_name(ch));

        /* A call asks (press 1 or 2); after an SMS it waits voice_after
         * for an answer first. */
        st->voice_after = cfg_get_duration(l, e, "voice_after", false, 0, false, &svoice);
        if (svoice && !(st->via & CHANNEL_VOICE))
                cfg_fail(l, svoice, "voice_after needs \"voice\" in via");
        else if (svoice && st->via == CHANNEL_VOICE)
                cfg_fail(l, svoice, "voice_after is the wait after the other channels; with via = [\"voice\"] the call goes at once");

        st->mode = (enum step_mode) cfg_get_enum(l, e, "mode", false, modes, ELEMENTSOF(modes), STEP_PARALLEL, NULL);
        st->when = (enum step_when) cfg_get_enum(l, e, "when", false, whens, ELEMENTSOF(whens), WHEN_ALWAYS, NULL);
        st->final = cfg_get_bool(l, e, "final", false, &sfinal);
        if (st->final && !last)
                cfg_fail(l, sfinal, "the final step must be the last step");
        if (st->final && (st->via & CHANNEL_VOICE))
                cfg_fail(l, s ? s : e, "a call asks for a key press; the final step tells, so it cannot use \"voice\"");

        /* The final step hands over to the fallback service and does not
         * wait for anything; every other step must say how long it waits. */
        st->wait = cfg_get_duration(l, e, "wait", !st->final, 0, false, NULL);
        if (svoice && st->voice_after > 0 && st->wait > 0 && st->voice_after >= st->wait)
                cfg_fail(l, svoice, "voice_after must be shorter than wait: a call is placed only while its step waits");

        t = cfg_get_enum(l, e, "template", false, step_templates, ELEMENTSOF(step_templates), -1, NULL);
        if (t >= 0)
                st->template = cfg_ldup(l, step_templates[t]);
        return ok;
}

void cfg_chain_done(struct chain *ch) {
        free(ch->id);
        free(ch->name);
        targets_free(ch->may_trigger, ch->n_may_trigger);
        for (size_t i = 0; i < ch->n_need_roles; i++)
                free(ch->need_roles[i].role);
        free(ch->need_roles);
        for (size_t i = 0; i < ch->n_steps; i++) {
                targets_free(ch->steps[i].targets, ch->steps[i].n_targets);
                free(ch->steps[i].template);
        }
        free(ch->steps);
        for (size_t i = 0; i < ch->n_report_to; i++)
                free(ch->report_to[i]);
        free(ch->report_to);
        free(ch->contact);
}

/* Who hears how an activation goes: report_to (person ids with a phone:
 * the reports are SMS), contact (the person the final step is told to
 * call: needs a phone) and receipt. */
static void load_chain_reports(struct loader *l, const config_setting_t *e, struct chain *ch) {
        config_setting_t *s;
        const char *v;

        s = cfg_get_string_list(l, e, "report_to", false);
        if (s) {
                int k = config_setting_length(s);
                ch->report_to = cfg_alloc_array(l, (size_t) k, sizeof(char *));
                for (int j = 0; j < k && ch->report_to; j++) {
                        const config_setting_t *el = config_setting_get_elem(s, (unsigned) j);
                        const struct person *p;
                        v = cfg_string_elem(s, j);
                        if (cfg_has_prefix(v, "role:") || cfg_has_prefix(v, "roster:")) {
                                cfg_fail_elem(l, s, el, "\"%s\": use person ids here", v);
                                continue;
                        }
                        if (!(p = config_person(l->c, v))) {
                                cfg_fail_elem(l, s, el, "unknown person \"%s\"", v);
                                continue;
                        }
                        if (!p->phone) {
                                cfg_fail_elem(l, s, el, "person \"%s\" has no phone (reports go by SMS)", v);
                                continue;
                        }
                        bool dup = false;
                        for (size_t i = 0; i < ch->n_report_to; i++)
                                dup = dup || streq(ch->report_to[i], v);
                        if (dup) {
                                cfg_fail_elem(l, s, el, "person \"%s\" is named twice", v);
                                continue;
                        }
                        ch->report_to[ch->n_report_to++] = cfg_ldup(l, v);
                }
        }
        v = cfg_get_string(l, e, "contact", false, &s);
        if (v) {
                const struct person *p = config_person(l->c, v);
                if (!p)
                        cfg_fail(l, s, "unknown person \"%s\"", v);
                else if (!p->phone)
                        cfg_fail(l, s, "person \"%s\" has no phone (the final step is told to call them)", v);
                else
                        ch->contact = cfg_ldup(l, v);
        }
        ch->receipt = cfg_get_bool(l, e, "receipt", true, NULL);
}

/* The chain's quorum, "need": total and role minimums; the settings of the
 * roles in *ROLE_S (for check_quorum()). Returns the group, or NULL; an
 * unknown role clears *REFS_OK. */
static config_setting_t *load_need(struct loader *l, const config_setting_t *e, struct chain *ch,
                                   const config_setting_t ***role_s, bool *refs_ok) {
        static const char *const need_keys[] = { "total", "roles", NULL };
        config_setting_t *need, *s;

        ch->need_total = 1;
        need = cfg_get_group(l, e, "need", false);
        if (!need)
                return NULL;
        cfg_check_keys(l, need, need_keys);
        ch->need_total = (int) cfg_get_int(l, need, "total", false, 1, 10000, 1, NULL);
        s = cfg_get_group(l, need, "roles", false);
        if (!s)
                return need;
        int k = config_setting_length(s);
        ch->need_roles = cfg_alloc_array(l, (size_t) k, sizeof(struct role_need));
        *role_s = cfg_alloc_array(l, (size_t) k, sizeof(config_setting_t *));
        for (int j = 0; j < k && ch->need_roles && *role_s; j++) {
                config_setting_t *r = config_setting_get_elem(s, (unsigned) j);
                const char *role = config_setting_name(r);
                long long v;

                if (!cfg_setting_is_int(r)) {
                        cfg_fail(l, r, "expected an integer");
                        continue;
                }
                v = config_setting_get_int64(r);
                if (v < 1 || v > 10000) {
                        cfg_fail(l, r, "%lld is out of range (1..10000)", v);
                        continue;
                }
                if (!cfg_role_exists(l->c, role)) {
                        cfg_fail(l, r, "unknown role \"%s\"", role);
                        *refs_ok = false;
                        continue;
                }
                (*role_s)[ch->n_need_roles] = r;
                ch->need_roles[ch->n_need_roles].role = cfg_ldup(l, role);
                ch->need_roles[ch->n_need_roles++].n = (int) v;
        }
        return need;
}

/* The chain's steps; false when one is missing, bad or does not resolve. */
static bool load_steps(struct loader *l, const config_setting_t *e, struct chain *ch) {
        config_setting_t *steps = cfg_get_group_list(l, e, "steps", true);
        bool ok = true;

        if (!steps)
                return false;
        if (config_setting_length(steps) == 0) {
                cfg_fail(l, steps, "needs at least one step");
                return false;
        }
        int k = config_setting_length(steps);
        ch->steps = cfg_alloc_array(l, (size_t) k, sizeof(struct step));
        for (int j = 0; j < k && ch->steps; j++) {
                config_setting_t *se = cfg_group_elem(l, steps, j);
                if (!se) {
                        ok = false;
                        continue;
                }
                if (!load_step(l, se, j == k - 1, &ch->steps[ch->n_steps++]))
                        ok = false;
        }
        return ok;
}

void cfg_load_chains(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "name", "may_trigger", "need", "steps", "repeat", "report_to",
                                            "contact", "receipt", NULL };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->chains = cfg_section_array(l, root, "chains", sizeof(struct chain), &list, &n);
        for (int i = 0; c->chains && i < n; i++) {
                config_setting_t *sid, *s, *need;
                _cleanup_free_ const config_setting_t **role_s = NULL;
                struct chain *ch = &c->chains[c->n_chains];
                const char *id;
                bool refs_ok = true;
                config_setting_t *e = cfg_section_elem(l, list, i, keys, chain_line, &id, &sid);

                if (!e)
                        continue;
                ch->name = cfg_ldup(l, cfg_get_text(l, e, "name", false, NULL) ?: id);

                s = cfg_get_string_list(l, e, "may_trigger", false);
                if (s)
                        (void) load_targets(l, s, false, &ch->may_trigger, &ch->n_may_trigger);

                need = load_need(l, e, ch, &role_s, &refs_ok);
                if (!load_steps(l, e, ch))
                        refs_ok = false;

                ch->repeat = (int) cfg_get_int(l, e, "repeat", false, 0, 100, 0, NULL);
                ch->line = cfg_elem_line(e, sid);
                load_chain_reports(l, e, ch);

                /* With an unresolved reference the count would be wrong and
                 * the quorum error only an echo of the first one. */
                if (refs_ok)
                        check_quorum(l, ch, need ? need : e, role_s);

                if (id) {
                        ch->id = cfg_ldup(l, id);
                        c->n_chains++;
                } else {
                        cfg_chain_done(ch);
                        *ch = (struct chain) {};
                }
        }
}
