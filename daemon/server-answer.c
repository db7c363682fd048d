/* server-answer.c - answers that come in through the HTTP listener: SMS
 * answers (JA/NEI with or without a code, OK to a check or a reminder,
 * UTSETT/HJELP to a reminder) routed to the activation or follow-up they
 * belong to, with per-sender limits (wrong codes lock a sender's codes out
 * for a while; texts back are capped per hour) and the texts back; replay
 * records of provider message ids; delivery receipts; one-tap e-mail
 * answer tokens. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "absence.h"
#include "followup.h"
#include "gateway.h"
#include "log.h"
#include "macro.h"
#include "seen.h"
#include "server-internal.h"
#include "text.h"
#include "wording.h"

static void on_back_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                         const char *error, const char *provider_ref) {
        if (result != GW_SENT)
                log_warning("A text back to an SMS sender (%s) could not be sent: %s", key, error ? error : "?");
}

/* ---- per-sender limits (in memory: a restart resets them) ----
 * Only configured people's numbers get this far, and at most LIMITS_MAX
 * entries are kept (the least recently used one is reused), so an attacker
 * cannot grow it. */
#define WRONG_CODES_MAX     5u                      /* wrong reply codes ... */
#define WRONG_CODES_WINDOW  (15u * 60u * USEC_PER_SEC) /* ... within 15 min ... */
#define WRONG_CODES_LOCKOUT (30u * 60u * USEC_PER_SEC) /* ... ignore codes for 30 min */
#define BACK_MAX            5u                      /* texts back to one person ... */
#define BACK_WINDOW         (60u * 60u * USEC_PER_SEC) /* ... per hour */
#define LIMITS_MAX          4096u

struct sender_limit {
        char *person;
        uint64_t used;
        struct code_window codes;
        uint64_t back_since;
        unsigned n_back;
        bool back_logged;
};

static struct sender_limit *limit_of(struct server *s, const char *person) {
        uint64_t now = server_now_monotonic();
        struct sender_limit *oldest = NULL;
        for (size_t i = 0; i < s->n_limits; i++) {
                if (streq(s->limits[i].person, person)) {
                        s->limits[i].used = now;
                        return &s->limits[i];
                }
                if (!oldest || s->limits[i].used < oldest->used)
                        oldest = &s->limits[i];
        }
        char *id = strdup(person);
        if (!id)
                return NULL;
        if (s->n_limits < LIMITS_MAX) {
                struct sender_limit *v = realloc(s->limits, (s->n_limits + 1) * sizeof(*v));
                if (!v) {
                        free(id);
                        return NULL;
                }
                s->limits = v;
                oldest = &v[s->n_limits++];
        } else {
                free(oldest->person);
        }
        *oldest = (struct sender_limit) { .person = id, .used = now };
        return oldest;
}

/* Codes from PERSON are being ignored. */
static bool codes_locked(struct server *s, const char *person) {
        struct sender_limit *l = limit_of(s, person);
        return l && code_window_locked(&l->codes, server_now_monotonic());
}

/* PERSON sent a reply code that matches nothing. */
static void code_wrong(struct server *s, const char *person) {
        struct sender_limit *l = limit_of(s, person);
        uint64_t now = server_now_monotonic();
        if (!l || !code_window_wrong(&l->codes, now, WRONG_CODES_MAX, WRONG_CODES_WINDOW, WRONG_CODES_LOCKOUT))
                return;
        const char *fields[] = { "BEREDD_PERSON=", NULL, NULL };
        _cleanup_free_ char *f = NULL;
        if (asprintf(&f, "BEREDD_PERSON=%s", person) >= 0)
                fields[0] = f;
        log_event(LOG_WARNING, MSGID_CODE_LOCKOUT, fields,
                  "%u wrong reply codes from %s within %u min: codes from this person are ignored for %u min",
                  WRONG_CODES_MAX, person, (unsigned) (WRONG_CODES_WINDOW / USEC_PER_SEC / 60),
                  (unsigned) (WRONG_CODES_LOCKOUT / USEC_PER_SEC / 60));
}

/* May one more text go back to PERSON now? Counts it if so; *LAST says it
 * is the last one the hour allows. */
static bool back_allowed(struct server *s, const char *person, bool *last) {
        struct sender_limit *l = limit_of(s, person);
        uint64_t now = server_now_monotonic();
        if (!l)
                return false;
        if (!l->back_since || now - l->back_since > BACK_WINDOW) {
                l->back_since = now;
                l->n_back = 0;
                l->back_logged = false;
        }
        if (l->n_back >= BACK_MAX) {
                if (!l->back_logged)
                        log_event(LOG_NOTICE, MSGID_BACK_LIMIT, NULL,
                                  "%u texts were sent back to %s within the hour: no more until the hour is over",
                                  BACK_MAX, person);
                l->back_logged = true;
                return false;
        }
        l->n_back++;
        *last = l->n_back == BACK_MAX;
        return true;
}

void server_limits_free(struct server *s) {
        for (size_t i = 0; i < s->n_limits; i++)
                free(s->limits[i].person);
        free(s->limits);
        s->limits = NULL;
        s->n_limits = 0;
}

/* Send TEXT to PERSON by SMS, outside any activation (answers to answers). */
static void sms_back_send(struct server *s, const struct person *p, const char *text) {
        char key[64];
        if (!p->phone)
                return;
        snprintf(key, sizeof(key), "back.%" PRIu64 ".%u", beredd_now() / USEC_PER_SEC, s->n_back++);
        struct gw_message m = { .key = key, .channel = CHANNEL_SMS, .person = p->id, .to = p->phone, .text = text };
        int r = gateway_send(s->gw, &m, on_back_done, s);
        if (r < 0)
                log_warning_errno(r, "A text back to an SMS sender could not be queued: %m");
}

int server_message_seen(struct server *s, const char *gateway_id, const char *provider_msg_id) {
        if (!s->seen || !provider_msg_id || !*provider_msg_id)
                return 0;
        return seen_add(s->seen, gateway_id, provider_msg_id, beredd_now());
}

void server_message_forget(struct server *s, const char *gateway_id, const char *provider_msg_id) {
        if (s->seen && provider_msg_id && *provider_msg_id)
                seen_forget(s->seen, gateway_id, provider_msg_id);
}

/* An SMS answer that is not to a follow-up reminder: to a call-out or a
 * contact-list check, by its code or as the one open for P. Returns what
 * activations_reply() did, or -EINVAL/-EAGAIN when a text back (in BACK)
 * must ask or explain first; *WANT_BACK says BACK is to be sent. */
static int answer_activation(struct server *s, const struct person *p, const struct text_reply *rp, char *back,
                             size_t backlen, bool *want_back, char *err, size_t errlen) {
        bool en = p->lang == LANG_EN;
        struct command cmd = { .kind = CMD_REPLY, .person = (char *) p->id,
                               .answer = rp->kind == TEXT_REPLY_NO ? ANSWER_NO : ANSWER_YES };
        json_t *fields = NULL;
        const char *only = NULL;
        int r;

        *want_back = true;
        if (rp->kind == TEXT_REPLY_POSTPONE || rp->kind == TEXT_REPLY_HELP) {
                snprintf(back, backlen, W(en, W_BACK_REMINDER_CODE));
                return -EINVAL;
        }
        /* OK answers a contact-list check or a reminder, never a
         * call-out: only JA/YES are a yes to those. */
        if (rp->kind == TEXT_REPLY_OK && rp->code[0] && activations_code_target(s->acts, rp->code, NULL, NULL) == 0) {
                snprintf(back, backlen, W(en, W_BACK_OK_NOT_CALLOUT));
                return -EINVAL;
        }
        if (rp->code[0]) {
                cmd.code = (char *) rp->code;
        } else if (rp->kind == TEXT_REPLY_OK) {
                unsigned n_call = activations_open_for_kind(s->acts, p->id, false, NULL);
                unsigned n_check = activations_open_for_kind(s->acts, p->id, true, &only);
                if (n_call > 0 || n_check != 1) {
                        /* Could be a reminder, a check or (wrongly) a
                         * call-out: ask, never guess. */
                        snprintf(back, backlen, W(en, W_BACK_OK_WHICH));
                        return -EAGAIN;
                }
                cmd.activation = (char *) only;
        } else {
                unsigned n = activations_open_for(s->acts, p->id, &only);
                if (n != 1) {
                        snprintf(back, backlen, n == 0 ? W(en, W_BACK_NO_OPEN_CALLOUT) : W(en, W_BACK_SEVERAL_OPEN));
                        return -EAGAIN;
                }
                cmd.activation = (char *) only;
        }
        r = activations_reply(s->acts, &cmd, SOURCE_SMS, &fields, err, errlen);
        log_info("SMS answer from %s: %s", p->id, r >= 0 ? "recorded" : r == -EPERM ? "not asked, not counted" : "not recorded");
        /* A code that matches nothing, or an activation that did
         * not ask the sender: both count toward the lockout (it also
         * bounds the "unsolicited" records one sender can cause). */
        if ((r == -ENOENT || r == -EPERM) && cmd.code)
                code_wrong(s, p->id);
        if (r == -EPERM)
                snprintf(back, backlen, W(en, W_BACK_NOT_ASKED));
        /* A recorded answer to a call-out gets a short receipt (the
         * chain's receipt setting), as a text back: limited like
         * the others, never one of the activation's notifications. */
        else if (!(r >= 0 && activations_answer_receipt(s->acts, json_string_value(json_object_get(fields, "activation")),
                                                        p->id, back, backlen) == 0))
                *want_back = false;
        json_decref(fields);
        return r;
}

/* An SMS answer to a follow-up reminder (its 5-digit code). */
static int answer_followup(struct server *s, const struct person *p, const struct text_reply *rp, char *back,
                           size_t backlen, bool *want_back, char *err, size_t errlen) {
        json_t *fields = NULL;
        int r = followup_reply(s->fu, rp->code, p->id, rp->kind, rp->days, &fields, err, errlen);

        json_decref(fields);
        log_info("SMS answer from %s to a follow-up reminder: %s", p->id, r >= 0 ? "recorded" : "not recorded");
        *want_back = r == -ENOENT;
        if (r == -ENOENT) {
                /* The same text whether no case holds the code or
                 * the sender is not one of its contacts. */
                code_wrong(s, p->id);
                snprintf(back, backlen, W(p->lang == LANG_EN, W_BACK_NO_SUCH_REMINDER));
        }
        return r;
}

int server_sms_inbound(struct server *s, const char *gateway_id _unused_, const char *provider_msg_id _unused_,
                       const char *from, const char *text, char **sms_back) {
        const struct person *p = config_person_by_contact(s->config, from);
        struct text_reply rp;
        char err[256] = "", back[512] = "";
        bool want_back = true;
        int r;

        if (sms_back)
                *sms_back = NULL;
        if (!p) {
                /* No number in the log: it is someone's personal data. */
                log_notice("An SMS from a number that is not in the configuration was ignored");
                return -ENOENT;
        }
        /* BORTE/TILBAKE: an absence, never an answer to a call-out. */
        if (server_away_sms(s, p, text, back, sizeof(back))) {
                server_absences_changed(s);
                r = 0;
                goto back;
        }
        text_parse_reply(text, strlen(text), &rp);
        if (rp.code[0] && codes_locked(s, p->id)) {
                /* Logged once when the lockout began; no text back. */
                log_debug("SMS answer from %s ignored: too many wrong reply codes", p->id);
                return -EACCES;
        }
        bool wrong = false;
        if (rp.kind == TEXT_REPLY_UNKNOWN) {
                snprintf(back, sizeof(back), W(p->lang == LANG_EN, W_BACK_NOT_UNDERSTOOD));
                r = -EINVAL;
        } else if ((r = server_survey_sms(s, p, &rp, &wrong, back, sizeof(back))) != 0) {
                r = r > 0 ? 0 : r;
                /* A survey's OK (its 6-digit code, or a bare OK when a survey is all it can answer). */
                if (wrong)
                        code_wrong(s, p->id);
        } else if (rp.code[0] && followup_is_code(rp.code))
                r = answer_followup(s, p, &rp, back, sizeof(back), &want_back, err, sizeof(err));
        else
                r = answer_activation(s, p, &rp, back, sizeof(back), &want_back, err, sizeof(err));
        if (!want_back && r < 0 && r != -ESTALE) {
                snprintf(back, sizeof(back), "beredd: %s", err);
                want_back = true;
        }
        server_update_status(s);
        if (!want_back)
                return r;

back:;
        bool last = false;
        if (!back_allowed(s, p->id, &last))
                return r;
        if (last) {
                size_t l = strlen(back);
                snprintf(back + l, sizeof(back) - l, "%s", W(p->lang == LANG_EN, W_BACK_LAST));
        }
        if (sms_back)
                *sms_back = strdup(back);
        else
                sms_back_send(s, p, back);
        return r;
}

int server_receipt(struct server *s, const char *gateway_id, const char *ref, bool delivered, const char *detail) {
        /* Follow-up reminders ("fu." keys) are not tracked: a receipt for
         * one matches nothing and changes nothing (-ENOENT), forged or not. */
        return activations_receipt(s->acts, gateway_id, ref, delivered, detail);
}

int server_token_lookup(struct server *s, const char *token, json_t **info) {
        return activations_token(s->acts, token, info, NULL, NULL);
}

int server_token_answer(struct server *s, const char *token, bool verify, enum answer answer, json_t **reply,
                        char *err, size_t errlen) {
        const char *id = NULL, *person = NULL;
        json_t *info = NULL;
        int r = activations_token(s->acts, token, &info, &id, &person);
        bool is_check = json_is_true(json_object_get(info, "verify"));
        json_decref(info);
        if (r == -ENOENT || is_check != verify || (verify && answer != ANSWER_YES)) {
                /* A check's OK is never a yes to a call-out, a call-out's
                 * JA/NEI never an OK to a check. */
                snprintf(err, errlen, "no such answer link");
                return -ENOENT;
        }
        if (r == -ESTALE) {
                snprintf(err, errlen, is_check ? "this contact-list check has ended; nothing changed"
                                               : "this call-out has ended; nothing changed");
                return r;
        }
        struct command cmd = { .kind = CMD_REPLY, .activation = (char *) id, .person = (char *) person, .answer = answer };
        r = activations_reply(s->acts, &cmd, SOURCE_EMAIL, reply, err, errlen);
        server_update_status(s);
        return r;
}

int server_voice_answer(struct server *s, const char *gateway_id, const char *call_sid, const char *token,
                        const char *digits, enum voice_reply *what, bool *en) {
        int r = activations_voice_answer(s->acts, gateway_id, call_sid, token, digits, what, en);
        if (r == 0) /* recorded (a repeat is not a key press) */
                s->counts.n_keys[*what == VOICE_REPLY_YES ? 0 : *what == VOICE_REPLY_NO ? 1 : 2]++;
        server_update_status(s);
        return r;
}

int server_call_status(struct server *s, const char *gateway_id, const char *call_sid, const char *ref,
                       const char *status, const char *answered_by, int duration) {
        int r = activations_call_status(s->acts, gateway_id, call_sid, ref, status, answered_by, duration);
        server_update_status(s);
        return r;
}
