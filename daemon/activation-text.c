/* activation-text.c - what an activation's messages say: the call-out,
 * stand-down, thanks and check texts, the final step's messages and the
 * reports (finish_text), the texts when a quorum changes back, the receipt
 * for an answer and the trigger's preview of the call-out. */
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
#include "voice.h"
#include "wording.h"

/* Compose the text of notification N (RES, when not NULL, says what the SMS
 * became). */
static bool quorum_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                           size_t slen, char *text, size_t tlen);
static bool change_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                           size_t slen, char *text, size_t tlen);

void act_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                 size_t slen, char *text, size_t tlen, struct composed *res) {
        if (quorum_compose(a, n, p, subject, slen, text, tlen))
                return; /* the final step's messages and the reports: see "who hears how it goes" */
        if (change_compose(a, n, p, subject, slen, text, tlen))
                return; /* a quorum that changed back: see "when a quorum changes back" */
        const struct chain *c = act_chain(a);
        bool en = p && p->lang == LANG_EN;
        const char *chain_name = c && c->name ? c->name : a->chain;
        const char *drill = a->drill ? W(en, W_DRILL_PREFIX) : "";
        char prefix[256], suffix[128];

        if (streq(n->kind, "callout")) {
                snprintf(prefix, sizeof(prefix), W(en, W_CALLOUT_PREFIX), drill, chain_name);
                snprintf(suffix, sizeof(suffix), W(en, W_CALLOUT_REPLY), a->code, a->code);
                snprintf(subject, slen, W(en, W_CALLOUT_SUBJECT), drill, chain_name);
        } else if (streq(n->kind, "standdown")) {
                snprintf(prefix, sizeof(prefix), W(en, W_STANDDOWN_PREFIX), drill);
                snprintf(suffix, sizeof(suffix), "(%s)", a->code);
                snprintf(subject, slen, W(en, W_STANDDOWN_SUBJECT), drill, chain_name);
        } else if (streq(n->kind, "resolved")) {
                /* The call-out ended, not the team. */
                snprintf(prefix, sizeof(prefix), W(en, W_ENDED_PREFIX), drill, chain_name);
                snprintf(suffix, sizeof(suffix), "(%s)", a->code);
                snprintf(subject, slen, W(en, W_ENDED_SUBJECT), drill, chain_name);
        } else if (streq(n->kind, "verify")) {
                unsigned mins = (unsigned) (a->window / USEC_PER_MIN);
                char w[32];
                if (mins >= 120 && mins % 60 == 0)
                        snprintf(w, sizeof(w), W(en, W_VERIFY_HOURS), mins / 60);
                else if (mins <= 1)
                        snprintf(w, sizeof(w), W(en, W_VERIFY_ONE_MINUTE));
                else
                        snprintf(w, sizeof(w), W(en, W_VERIFY_MINUTES), mins);
                snprintf(prefix, sizeof(prefix), W(en, W_VERIFY_PREFIX), chain_name);
                snprintf(suffix, sizeof(suffix), W(en, W_VERIFY_REPLY), a->code, w);
                snprintf(subject, slen, W(en, W_VERIFY_SUBJECT), chain_name);
        } else { /* not a kind this engine writes */
                snprintf(prefix, sizeof(prefix), "%s%s. ", drill, chain_name);
                snprintf(suffix, sizeof(suffix), "(%s)", a->code);
                snprintf(subject, slen, "%s%s", drill, chain_name);
        }

        const char *free_text = streq(n->kind, "callout") ? a->message : "";
        if (!free_text)
                free_text = W(en, W_CALLOUT_DEFAULT_TEXT);
        /* The operator's text without the blanks around it, and ended like
         * a sentence, so "... kl 23" and "Svar JA 4821" do not run together. */
        char free_buf[4096];
        size_t fl = strlen(free_text);
        while (fl > 0 && strchr(" \t\r\n", free_text[fl - 1]))
                fl--;
        while (fl > 0 && strchr(" \t\r\n", free_text[0]))
                free_text++, fl--;
        if (fl > 0 && fl + 2 <= sizeof(free_buf)) {
                bool ended = strchr(".!?:;)\"'", free_text[fl - 1]) ||
                             (fl >= 2 && (unsigned char) free_text[fl - 2] == 0xC2 &&
                              (unsigned char) free_text[fl - 1] == 0xBB) || /* » */
                             (fl >= 3 && (unsigned char) free_text[fl - 3] == 0xE2 &&
                              (unsigned char) free_text[fl - 2] == 0x80 &&
                              strchr("\xA6\x9D\x99", free_text[fl - 1])); /* … ” ’ */
                snprintf(free_buf, sizeof(free_buf), "%.*s%s", (int) fl, free_text, ended ? "" : ".");
                free_text = free_buf;
        } else if (fl == 0)
                free_text = "";
        if (n->ch == CHANNEL_VOICE) {
                /* What the call says before its key-press prompt. To an
                 * English speaker the chain's name and the operator's text
                 * are said in bokmål: in RES->call_nb, or (no RES: a
                 * preview) after a space. */
                char nbtmp[sizeof(res->call_nb)];
                if (res)
                        *res = (struct composed) {};
                char *nb = res ? res->call_nb : nbtmp;
                subject[0] = '\0';
                (void) voice_callout_text(en, a->drill, chain_name, a->message ? free_text : NULL, text, tlen, nb,
                                          sizeof(nbtmp));
                size_t l = strlen(text);
                if (!res && nb[0] && l + 1 < tlen)
                        snprintf(text + l, tlen - l, " %s", nb);
                return;
        }
        if (n->ch == CHANNEL_SMS) {
                struct composed c0 = {};
                int k = text_sms_compose_n(prefix, free_text, suffix, config_sms_max_segments(a->mgr->cfg), text,
                                           tlen, &c0.sms);
                if (k < 0) {
                        /* Not even the fixed parts fit (a very long chain
                         * name): they go whole, without the free text. */
                        char raw[512];
                        snprintf(raw, sizeof(raw), "%s%s", prefix, suffix);
                        if (text_sms_transliterate(raw, text, tlen) < 0)
                                snprintf(text, tlen, "%s", raw);
                        (void) text_sms_count(text, strlen(text), &c0.sms);
                        c0.shortened = *free_text != '\0';
                } else
                        c0.shortened = k == 1;
                if (res)
                        *res = c0;
        } else {
                char links[512] = "";
                if (n->token[0] && a->mgr->public_url && streq(n->kind, "verify"))
                        /* A check asks for OK only: no JA/NEI here, ever. */
                        snprintf(links, sizeof(links), W(en, W_VERIFY_LINK), a->mgr->public_url, n->token);
                else if (n->token[0] && a->mgr->public_url)
                        snprintf(links, sizeof(links), W(en, W_CALLOUT_LINKS), a->mgr->public_url, n->token,
                                 a->mgr->public_url, n->token);
                /* An e-mail in paragraphs: no blank line for a text the
                 * kind has none of, no blank at a line's start or end. */
                size_t pl = strlen(prefix);
                while (pl > 0 && prefix[pl - 1] == ' ')
                        pl--;
                const char *sfx = suffix + strspn(suffix, " ");
                snprintf(text, tlen, "%.*s%s%s\n\n%s%s\n\n-- \nberedd (%s)\n", (int) pl, prefix,
                         *free_text ? " " : "", free_text, sfx, links, a->mgr->cfg->site);
        }
}

/* ---- the final step's messages, the reports and the receipts ----
 * Their words are in wording.h. */

/* Append to BUF (LEN bytes), as snprintf would, never past its end. */
static void cat(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t len, const char *fmt, ...) {
        size_t l = strnlen(buf, len);
        if (l + 1 >= len)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + l, len - l, fmt, ap);
        va_end(ap);
}

/* The role requirements of V, by display name: those out of reach
 * (OUT_OF_REACH: "leder og prest (høyst 1 av 2)") or those not met yet
 * ("ingen leder og for få prest (1 av 2)"). */
static void needs_phrase(const struct activation *a, const struct need_view *v, size_t n, bool out_of_reach, bool en,
                         char *buf, size_t len) {
        size_t k = 0, total = 0;
        for (size_t i = 1; i < n; i++)
                total += out_of_reach ? v[i].possible < v[i].need : v[i].yes < v[i].need;
        buf[0] = '\0';
        for (size_t i = 1; i < n; i++) {
                if (!(out_of_reach ? v[i].possible < v[i].need : v[i].yes < v[i].need))
                        continue;
                const char *name = config_role_name(a->mgr->cfg, v[i].role, en ? LANG_EN : LANG_NB);
                k++;
                cat(buf, len, "%s", k == 1 ? "" : k == total ? W(en, W_AND) : ", ");
                if (out_of_reach && v[i].need == 1)
                        cat(buf, len, "%s", name);
                else if (out_of_reach)
                        cat(buf, len, W(en, W_ROLE_AT_MOST), name, v[i].possible,
                            v[i].need);
                else if (v[i].yes == 0)
                        cat(buf, len, W(en, W_ROLE_NONE), name);
                else
                        cat(buf, len, W(en, W_ROLE_TOO_FEW), name, v[i].yes, v[i].need);
        }
}

/* What is missing, after the numbers of a short or no longer complete team:
 * how many more, and which roles (appended to BODY). */
static void missing_phrase(const struct activation *a, const struct need_view *v, size_t nv, bool en, char *body,
                           size_t len) {
        struct need_view total = nv ? v[0] : (struct need_view) {};
        char roles[256];
        needs_phrase(a, v, nv, false, en, roles, sizeof(roles));
        if (total.yes < total.need) {
                cat(body, len, W(en, W_SHORT_MISSING), total.need - total.yes);
                if (roles[0])
                        cat(body, len, W(en, W_SHORT_AND_ROLES), roles);
        } else if (roles[0]) {
                cat(body, len, W(en, W_SHORT_BUT_ROLES), roles);
        }
}

/* The role PERSON is shown with: a role the chain requires, else one with a
 * display name, else the first; NULL for none. */
static const char *shown_role(const struct config *cfg, const struct chain *c, const struct person *p) {
        for (size_t r = 0; c && r < c->n_need_roles; r++)
                if (person_has_role(p, c->need_roles[r].role))
                        return c->need_roles[r].role;
        for (size_t i = 0; i < p->n_roles; i++)
                for (size_t k = 0; k < cfg->n_roles; k++)
                        if (streq(cfg->roles[k].id, p->roles[i]))
                                return p->roles[i];
        return p->n_roles ? p->roles[0] : NULL;
}

/* "Kari Nordmann (leder), Ola Nordmann (medlem)": who said yes, by role
 * (names: in an SMS to the leader only, never in logs), within about MAX
 * bytes, then "og 3 til". */
static void coming_list(const struct activation *a, const struct chain *c, bool en, char *buf, size_t len, size_t max) {
        const struct config *cfg = a->mgr->cfg;
        int more = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < a->n_members; i++) {
                if (a->members[i].answer != ANSWER_YES)
                        continue;
                const struct person *p = config_person(cfg, a->members[i].person);
                const char *role = p ? shown_role(cfg, c, p) : NULL;
                char one[256];
                snprintf(one, sizeof(one), "%s%s%s%s", p ? p->name : a->members[i].person, role ? " (" : "",
                         role ? config_role_name(cfg, role, en ? LANG_EN : LANG_NB) : "", role ? ")" : "");
                if (strlen(buf) + strlen(one) + 2 > max || strlen(buf) + strlen(one) + 2 >= len) {
                        more++;
                        continue;
                }
                cat(buf, len, "%s%s", buf[0] ? ", " : "", one);
        }
        if (more)
                cat(buf, len, W(en, W_REPORT_MORE), more);
}

/* Whom the final step is told to call: the chain's contact, else whoever
 * triggered (with a phone); NULL for none. */
static const struct person *contact_of(const struct activation *a, const struct chain *c) {
        const struct config *cfg = a->mgr->cfg;
        const struct person *p = c && c->contact ? config_person(cfg, c->contact) : NULL;
        if (!p || !p->phone)
                p = a->by ? config_person(cfg, a->by) : NULL;
        return p && p->phone ? p : NULL;
}

/* Compose the messages of kinds "impossible", "unreachable" (the final
 * step: early, and at the end), "update" (to them: mobilised after all) and
 * "report-impossible", "report-short", "report-mobilised" (the leader).
 * False for any other kind. */
/* The end of every message to the final step and the leader: the reply
 * code in parentheses, like the team's own (a message sent again after a
 * crash, or a second activation, can be told apart), and for SMS the fit
 * to max_segments like a call-out: LATER (whom else was told, "you will
 * hear") gives way first, then the end of BODY; the code stays. */
static void finish_text(const struct activation *a, const struct notif *n, const char *body, const char *later,
                        char *text, size_t tlen) {
        char code[32];
        snprintf(code, sizeof(code), " (%s)", a->code);
        if (n->ch != CHANNEL_SMS) {
                snprintf(text, tlen, "%s%s%s\n\n-- \nberedd (%s)\n", body, later, code, a->mgr->cfg->site);
                return;
        }
        struct text_sms_info info = {};
        unsigned max = config_sms_max_segments(a->mgr->cfg);
        char whole[2048];
        snprintf(whole, sizeof(whole), "%s%s", body, later);
        int k = text_sms_compose_n("", whole, code, max, text, tlen, &info);
        bool cut = k == 1;
        if (cut && later[0])
                k = text_sms_compose_n("", body, code, max, text, tlen, &info);
        if (k < 0) /* not even the code fits: the text goes whole */
                snprintf(text, tlen, "%s%s", body, code);
        if (cut)
                log_event(LOG_WARNING, MSGID_TEXT_SHORTENED, ACT_FIELDS(a),
                          "Activation %s: the %s message does not fit %u SMS segments; shortened (%zu segments, %s)",
                          a->id, n->kind, max, info.segments,
                          info.encoding == TEXT_SMS_GSM7 ? "GSM 7-bit" : "UCS-2");
}

static bool quorum_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                           size_t slen, char *text, size_t tlen) {
        enum { K_IMPOSSIBLE, K_UNREACHABLE, K_UPDATE, K_REPORT_IMPOSSIBLE, K_REPORT_SHORT, K_REPORT_MOBILISED, K_N };
        static const char *const kinds[K_N] = { "impossible", "unreachable", "update", "report-impossible",
                                                "report-short", "report-mobilised" };
        int kind = K_N;
        for (int i = 0; i < K_N; i++)
                if (streq(n->kind, kinds[i]))
                        kind = i;
        if (kind == K_N)
                return false;

        const struct chain *c = act_chain(a);
        bool en = p && p->lang == LANG_EN;
        const char *chain_name = c && c->name ? c->name : a->chain;
        const char *drill = a->drill ? W(en, W_DRILL_PREFIX) : "";
        _cleanup_free_ struct need_view *v = NULL;
        size_t nv = act_quorum_view(a, beredd_now(), &v);
        struct need_view total = nv ? v[0] : (struct need_view) {};
        bool report = kind >= K_REPORT_IMPOSSIBLE;
        char body[1024] = "", later[640] = "", roles[256], list[512];

        if (kind == K_UPDATE) {
                cat(body, sizeof(body), W(en, W_FINAL_UPDATE),
                    drill, chain_name, total.yes, total.need);
                snprintf(subject, slen, W(en, W_FINAL_UPDATE_SUBJECT), drill,
                         chain_name);
        } else if (kind == K_REPORT_MOBILISED) {
                cat(body, sizeof(body), W(en, W_REPORT_MOBILISED),
                    drill, chain_name, total.yes, total.need);
                snprintf(subject, slen, W(en, W_REPORT_MOBILISED_SUBJECT), drill, chain_name);
        } else if (kind == K_UNREACHABLE || kind == K_REPORT_SHORT) {
                /* Short at the end: the numbers, and which roles are missing. */
                cat(body, sizeof(body), W(en, W_SHORT),
                    drill, chain_name, total.yes, total.need);
                missing_phrase(a, v, nv, en, body, sizeof(body));
                cat(body, sizeof(body), ".");
                snprintf(subject, slen, W(en, W_SHORT_SUBJECT), drill,
                         chain_name);
        } else {
                /* Out of reach while the call-out goes on: what cannot be met. */
                cat(body, sizeof(body), W(en, W_OUT_OF_REACH), drill,
                    chain_name);
                needs_phrase(a, v, nv, true, en, roles, sizeof(roles));
                if (roles[0])
                        cat(body, sizeof(body), W(en, W_OUT_OF_REACH_ROLES), roles);
                if (total.possible < total.need)
                        cat(body, sizeof(body), W(en, W_OUT_OF_REACH_TOO_FEW),
                            roles[0] ? W(en, W_AND) : "", total.possible, total.need);
                cat(body, sizeof(body), W(en, W_OUT_OF_REACH_CONFIRMED), total.yes, total.need);
                snprintf(subject, slen, W(en, W_OUT_OF_REACH_SUBJECT), drill, chain_name);
        }

        if (!report) {
                /* For the fallback service: what to do and whom to call. */
                const struct person *ct = contact_of(a, c);
                if (kind != K_UPDATE)
                        cat(body, sizeof(body), "%s", W(en, W_FINAL_SUPPORT));
                /* The number first: a cut (max_segments) keeps it. */
                if (ct && (!p || !streq(ct->id, p->id)))
                        cat(body, sizeof(body), W(en, W_FINAL_CONTACT), ct->phone, ct->name);
                if (kind != K_UPDATE)
                        cat(later, sizeof(later), "%s", W(en, W_FINAL_TOLD_LATER));
        } else {
                /* For the leader: who is coming, who was told, what goes on. */
                coming_list(a, c, en, list, sizeof(list), 400);
                if (list[0])
                        cat(body, sizeof(body), W(en, W_REPORT_COMING), list);
                if (kind != K_REPORT_MOBILISED) {
                        list[0] = '\0';
                        for (size_t i = 0; i < a->n_members; i++)
                                if (a->members[i].told_short) {
                                        const struct person *f = config_person(a->mgr->cfg, a->members[i].person);
                                        cat(list, sizeof(list), "%s%s", list[0] ? ", " : "",
                                            f ? f->name : a->members[i].person);
                                }
                        if (list[0])
                                cat(later, sizeof(later), W(en, W_REPORT_TOLD), list);
                        if (kind == K_REPORT_IMPOSSIBLE)
                                cat(later, sizeof(later), "%s", W(en, W_REPORT_GOES_ON));
                }
        }

        finish_text(a, n, body, later, text, tlen);
        return true;
}

/* "Ola Nordmann (medlem)": PERSON by name and shown role; for the texts of
 * "when a quorum changes back" (to the final step and the leader only). */
static void person_phrase(const struct activation *a, const struct chain *c, bool en, const char *person, char *buf,
                          size_t len) {
        const struct config *cfg = a->mgr->cfg;
        const struct person *p = person ? config_person(cfg, person) : NULL;
        const char *role = p ? shown_role(cfg, c, p) : NULL;
        snprintf(buf, len, "%s%s%s%s", p ? p->name : person, role ? " (" : "",
                 role ? config_role_name(cfg, role, en ? LANG_EN : LANG_NB) : "", role ? ")" : "");
}

/* Compose the messages of kinds "recall" (asked again), "unmobilised",
 * "report-unmobilised", "reachable" and "report-reachable". False for any
 * other kind. */
static bool change_compose(const struct activation *a, const struct notif *n, const struct person *p, char *subject,
                           size_t slen, char *text, size_t tlen) {
        bool recall = streq(n->kind, "recall");
        bool unmob = streq(n->kind, "unmobilised") || streq(n->kind, "report-unmobilised");
        bool reach = streq(n->kind, "reachable") || streq(n->kind, "report-reachable");
        if (!recall && !unmob && !reach)
                return false;
        const struct chain *c = act_chain(a);
        bool en = p && p->lang == LANG_EN;
        bool final = streq(n->kind, "unmobilised") || streq(n->kind, "reachable");
        const char *chain_name = c && c->name ? c->name : a->chain;
        const char *drill = a->drill ? W(en, W_DRILL_PREFIX) : "";
        char body[1024] = "", who[256];

        if (recall) {
                cat(body, sizeof(body), W(en, W_RECALL), drill, chain_name, a->code, a->code);
                snprintf(subject, slen, W(en, W_RECALL_SUBJECT), drill, chain_name);
                if (n->ch == CHANNEL_SMS)
                        snprintf(text, tlen, "%s", body);
                else {
                        char links[512] = "";
                        if (n->token[0] && a->mgr->public_url)
                                snprintf(links, sizeof(links), W(en, W_CALLOUT_LINKS), a->mgr->public_url, n->token,
                                         a->mgr->public_url, n->token);
                        snprintf(text, tlen, "%s%s\n\n-- \nberedd (%s)\n", body, links, a->mgr->cfg->site);
                }
                return true;
        }

        _cleanup_free_ struct need_view *v = NULL;
        size_t nv = act_quorum_view(a, beredd_now(), &v);
        struct need_view total = nv ? v[0] : (struct need_view) {};
        person_phrase(a, c, en, a->quorum_by ? a->quorum_by : "?", who, sizeof(who));
        if (unmob) {
                cat(body, sizeof(body), W(en, W_UNMOB), drill, chain_name, who, total.yes, total.need);
                missing_phrase(a, v, nv, en, body, sizeof(body));
                cat(body, sizeof(body), "%s", W(en, W_UNMOB_GOES_ON));
                snprintf(subject, slen, W(en, W_UNMOB_SUBJECT), drill, chain_name);
        } else {
                if (a->quorum_by)
                        cat(body, sizeof(body), W(en, W_REACHABLE), drill, chain_name, who, total.yes, total.need);
                else
                        cat(body, sizeof(body), W(en, W_REACHABLE_NOBODY), drill, chain_name, total.yes, total.need);
                snprintf(subject, slen, W(en, W_REACHABLE_SUBJECT), drill, chain_name);
        }
        if (final) {
                /* The number first: a cut (max_segments) keeps it. */
                const struct person *ct = contact_of(a, c);
                if (ct && (!p || !streq(ct->id, p->id)))
                        cat(body, sizeof(body), W(en, W_FINAL_CONTACT), ct->phone, ct->name);
        }
        finish_text(a, n, body, "", text, tlen);
        return true;
}

/* The receipt for an answer by SMS. */
void act_receipt_text(const struct activation *a, bool en, bool yes, char *buf, size_t len) {
        const struct chain *c = act_chain(a);
        const char *drill = a->drill ? W(en, W_DRILL_PREFIX) : "";
        int n_yes = 0;
        bool roles_ok;
        act_count_yes(a, c, &n_yes, &roles_ok);
        if (!yes)
                snprintf(buf, len, W(en, W_RECEIPT_NO), drill);
        else if (a->state == ACT_MOBILISED)
                snprintf(buf, len, W(en, W_RECEIPT_YES_MOBILISED),
                         drill, n_yes);
        else
                snprintf(buf, len, W(en, W_RECEIPT_YES),
                         drill, n_yes, c ? c->need_total : 0);
}
/* ---- what the call-out says (the trigger's reply, beredctl trigger --dry-run) ---- */

/* The channels (a bit set of enum channel) on which the call-out steps of C
 * can reach person P, whoever is on duty (rosters whole); 0 = not at all. */
static unsigned chain_reaches(const struct config *cfg, const struct chain *c, const struct person *p) {
        unsigned via = 0;
        for (size_t k = 0; k < act_chain_n_regular(c); k++) {
                const struct step *st = &c->steps[k];
                for (size_t t = 0; t < st->n_targets; t++) {
                        const struct target *tg = &st->targets[t];
                        bool hit = false;
                        if (tg->kind == TARGET_PERSON)
                                hit = streq(tg->ref, p->id);
                        else if (tg->kind == TARGET_ROLE)
                                hit = person_has_role(p, tg->ref);
                        else {
                                const struct roster *ro = config_roster(cfg, tg->ref);
                                for (size_t i = 0; ro && i < ro->n_members && !hit; i++)
                                        hit = streq(ro->members[i], p->id);
                        }
                        if (hit)
                                via |= st->via;
                }
        }
        return via;
}

static const char *sms_encoding_name(enum text_sms_encoding e) {
        return e == TEXT_SMS_GSM7 ? "gsm" : "ucs2";
}

/* The call-out of A exactly as each language used in its chain gets it: for
 * each language the people (ids), the channels, the SMS text with its
 * encoding and segment count, and the e-mail subject and text. Answer links
 * show "<token>" for each person's own. *SHORTENED: the free text had to be
 * cut to fit the SMS; *SMS_INFO gets the longest SMS. */
static json_t *callout_messages(const struct activation *a, bool *shortened, struct text_sms_info *longest) {
        const struct config *cfg = a->mgr->cfg;
        const struct chain *c = act_chain(a);
        static const char *const lang_names[] = { [LANG_NB] = "nb", [LANG_EN] = "en" };
        json_t *arr = json_array();

        *shortened = false;
        *longest = (struct text_sms_info) {};
        for (int lang = LANG_NB; c && lang <= LANG_EN; lang++) {
                json_t *people = json_array();
                unsigned via = 0;
                for (size_t i = 0; i < cfg->n_people; i++) {
                        const struct person *p = &cfg->people[i];
                        unsigned v = p->lang == (enum lang) lang ? chain_reaches(cfg, c, p) : 0;
                        if (v) {
                                json_array_append_new(people, json_string(p->id));
                                via |= v;
                        }
                }
                if (json_array_size(people) == 0) {
                        json_decref(people);
                        continue;
                }
                struct person fake = { .lang = (enum lang) lang };
                struct notif n = { .kind = (char *) "callout", .ch = CHANNEL_SMS, .step = 0 };
                struct composed res = {};
                char subject[256], text[8192];
                json_t *o = json_pack("{s:s, s:o}", "lang", lang_names[lang], "people", people);
                json_t *chans = json_array();
                if (via & CHANNEL_SMS)
                        json_array_append_new(chans, json_string("sms"));
                if (via & CHANNEL_EMAIL)
                        json_array_append_new(chans, json_string("email"));
                if (via & CHANNEL_VOICE)
                        json_array_append_new(chans, json_string("voice"));
                json_object_set_new(o, "channels", chans);

                act_compose(a, &n, &fake, subject, sizeof(subject), text, sizeof(text), &res);
                json_object_set_new(o, "sms",
                                    json_pack("{s:s, s:s, s:I, s:I, s:b}", "text", text, "encoding",
                                              sms_encoding_name(res.sms.encoding), "segments",
                                              (json_int_t) res.sms.segments, "characters", (json_int_t) res.sms.chars,
                                              "shortened", res.shortened));
                if (res.shortened)
                        *shortened = true;
                if (res.sms.segments > longest->segments)
                        *longest = res.sms;

                n.ch = CHANNEL_EMAIL;
                snprintf(n.token, sizeof(n.token), "<token>");
                act_compose(a, &n, &fake, subject, sizeof(subject), text, sizeof(text), NULL);
                json_object_set_new(o, "email", json_pack("{s:s, s:s}", "subject", subject, "text", text));
                if (via & CHANNEL_VOICE) {
                        /* What a call says before "Trykk 1 ...". */
                        n.ch = CHANNEL_VOICE;
                        act_compose(a, &n, &fake, subject, sizeof(subject), text, sizeof(text), NULL);
                        json_object_set_new(o, "voice", json_pack("{s:s}", "text", text));
                }
                json_array_append_new(arr, o);
        }
        return arr;
}

/* Add what the call-out says to REPLY; log when the free text was cut. */
void act_reply_messages(const struct activation *a, json_t *reply, bool log) {
        bool shortened;
        struct text_sms_info longest;
        unsigned max = config_sms_max_segments(a->mgr->cfg);
        json_t *msgs = callout_messages(a, &shortened, &longest);

        json_object_set_new(reply, "messages", msgs);
        json_object_set_new(reply, "max_segments", json_integer(max));
        json_object_set_new(reply, "shortened", json_boolean(shortened));
        if (shortened && log) {
                size_t chars = 0;
                for (const unsigned char *p = (const unsigned char *) (a->message ? a->message : ""); *p; p++)
                        chars += (*p & 0xC0) != 0x80;
                log_event(LOG_WARNING, MSGID_TEXT_SHORTENED, ACT_FIELDS(a),
                          "Activation %s of chain %s: the message (%zu characters) does not fit %u SMS segments; "
                          "the SMS carries it shortened (%zu segments, %s), an e-mail whole",
                          a->id, a->chain, chars, max, longest.segments,
                          longest.encoding == TEXT_SMS_GSM7 ? "GSM 7-bit" : "UCS-2");
        }
}
