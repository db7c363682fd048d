/* activation.h - crisis team activations: alerting chains that escalate step
 * by step over SMS and e-mail until the chain's quorum has said yes.
 *
 * Each activation is an append-only JSON Lines log, activations/<id>.log;
 * its state is the replay of that log. Every decision (which step started,
 * who was asked, what they answered) is logged, so a restart continues from
 * the log without recomputing rosters or calendars. A notification is logged
 * "sending" and made durable before it goes to a gateway, and "sent" or
 * "failed" after: after a crash only the in-flight ones are sent again, with
 * the same idempotency key.
 *
 * Events that leave no trace outside (a notification was sent, a reply was
 * recorded) are group-committed: one fdatasync per log per loop iteration. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "absence.h"
#include "calendar.h"
#include "command.h"
#include "config.h"
#include "duty.h"
#include "gateway.h"
#include "store.h"
#include "time-util.h"
#include "voice.h"

struct activations;

/* One event, as handed to the journal and (later) MQTT. No names, phone
 * numbers or e-mail addresses: person ids only. */
struct act_event {
        const char *type;       /* "triggered", "step", "notify", "sent", "failed", "reply", "mobilised", ... */
        const char *activation; /* id */
        const char *chain;
        int step;               /* -1 when not tied to a step */
        const char *person;     /* person id or NULL */
        const char *channel;    /* "sms", "email" or NULL */
        const char *detail;     /* "yes"/"no", a reason, ...; never personal data */
        bool drill;
        uint64_t ts;            /* usec, realtime */
        double latency;         /* sent/failed: seconds from handing it to a gateway to the answer; else -1 */
};
typedef void (*act_event_cb)(void *userdata, const struct act_event *ev);

/* Load every log in activations/, replay it, re-arm timers and resend
 * notifications that were in flight. Returns 0 or -errno (logged). */
int activations_new(sd_event *e, struct store *store, struct gateways *gw, struct duty *duty, const struct config *cfg,
                    const struct calendar *cal, const char *public_url, act_event_cb cb, void *userdata,
                    struct activations **ret);
void activations_free(struct activations *a);
void activations_set_config(struct activations *a, const struct config *cfg, const struct calendar *cal);
/* People away (absence.h): a person away when a step starts is skipped (a
 * "skipped" event, shown and reported; not asked, not a decline), and a
 * roster's away on-duty person is replaced by the roster's next member who
 * is not away. A contact-list check skips and lists them too. */
void activations_set_absences(struct activations *a, const struct absences *abs);

/* Commands. Each returns 0 and sets *REPLY to the reply object's extra
 * fields, or -errno with a message in ERR. ORIGIN identifies a drop file so
 * that processing it again after a crash does not start a second activation
 * (NULL otherwise). */
int activations_trigger(struct activations *a, const struct command *cmd, enum source src, const char *origin,
                        json_t **reply, char *err, size_t errlen);
/* The trigger's reply also says what the call-out says, per language used
 * in the chain: "messages" [{lang, people, channels, sms {text, encoding,
 * segments, characters, shortened}, email {subject, text}}], "max_segments"
 * and "shortened" (the free text was cut to fit the SMS; logged with
 * MSGID_TEXT_SHORTENED). activations_preview gives the same without starting
 * anything, sending or writing ("dry_run": true, the reply code "0000"). */
int activations_preview(struct activations *a, const struct command *cmd, json_t **reply, char *err, size_t errlen);
/* activations_reply: only a person the activation asked (a call-out or check
 * sent to them, any channel) counts; anyone else's answer is logged as an
 * "unsolicited" event (replayed, never counted; "unsolicited" in show) and
 * -EPERM is returned with a message in ERR. */
int activations_reply(struct activations *a, const struct command *cmd, enum source src, json_t **reply, char *err,
                      size_t errlen);
int activations_resolve(struct activations *a, const struct command *cmd, json_t **reply, char *err, size_t errlen);
/* Contact-list check ("beredctl verify CHAIN"): ask everyone the chain can
 * reach (rosters whole) to answer within cmd->window (default 1 h); the
 * summary lists who has not answered ("missing"). */
int activations_verify(struct activations *a, const struct command *cmd, json_t **reply, char *err, size_t errlen);
int activations_list(struct activations *a, json_t **reply);
int activations_show(struct activations *a, const char *id, json_t **reply, char *err, size_t errlen);
int activations_report(struct activations *a, const char *id, json_t **reply, char *err, size_t errlen);

/* The short summary of activation ID (id, code, chain, state, drill,
 * confirmed, needed, step, created; and for a call-out chain_name, steps,
 * next_step_at while mobilising, roles [{name, confirmed, needed}]), or
 * -ENOENT. */
int activations_summary(struct activations *a, const char *id, json_t **reply);

/* A delivery receipt that came through gateway GATEWAY_ID for REF (the
 * provider's message id returned at send time, or the client reference
 * "<key>.<nonce>" beredd sent; never the bare key): delivered, or
 * undeliverable (unreachable on that channel: the chain moves on). Only a
 * notification sent through GATEWAY_ID matches; the first final state stays
 * (repeats and late receipts return 0 and change nothing). -ENOENT when no
 * notification of that gateway has that reference. */
int activations_receipt(struct activations *a, const char *gateway_id, const char *ref, bool delivered,
                        const char *detail);
/* The activation and person an e-mail answer-link TOKEN belongs to, with a
 * summary for the confirmation page in *INFO (when not NULL). 0 while the
 * activation is open, -ESTALE when it has ended, -ENOENT for no such token. */
int activations_token(struct activations *a, const char *token, json_t **info, const char **activation,
                      const char **person);
/* The short receipt for PERSON's recorded answer in activation ID, in their
 * language ("Registrert: du kommer. 2 av 3 bekreftet."), for the text back
 * to an SMS answer: not a notification of the activation, never logged in
 * it. 0 with the text in BUF; -ENOENT (no such activation, or no answer of
 * PERSON), -EPERM (the chain has receipt = false, or a contact-list check). */
int activations_answer_receipt(struct activations *a, const char *id, const char *person, char *buf, size_t len);
/* A key press (DIGITS, as the provider sent it; NULL or "" none) in the
 * call whose answer TOKEN it is, through gateway GATEWAY_ID's route, in the
 * provider's call CALL_SID (NULL: not known): 1 records yes, 2 no, for
 * exactly the person and activation the token was made for, durably
 * before this returns; anything else is logged and asks again (twice at
 * most). *WHAT says what the caller hears, *EN in which language. 0 when
 * recorded; 1 when nothing was (the call has answered already: its answer
 * is said again; or no more questions); -ENOENT (no such call token, not
 * placed through GATEWAY_ID, or another call; *WHAT unset); -ESTALE (the
 * activation or the call has ended: VOICE_REPLY_ENDED); a storage error
 * (VOICE_REPLY_FAILED). */
int activations_voice_answer(struct activations *a, const char *gateway_id, const char *call_sid, const char *token,
                             const char *digits, enum voice_reply *what, bool *en);
/* A call's status callback through GATEWAY_ID for the provider's call
 * CALL_SID and/or beredd's client reference REF (either may be NULL):
 * STATUS Twilio's word (queued, initiated, ringing, in-progress, completed,
 * busy, no-answer, failed, canceled); ANSWERED_BY (may be NULL) a machine or
 * fax makes it "machine" (not reached); DURATION seconds (< 0 unknown).
 * Matched by CALL_SID, else by REF unless the call is known by another
 * provider id. Not reached means unreachable by voice (the chain moves
 * on); an ended call frees its line (gateway_call_ended). 0, or -ENOENT
 * when no call of that gateway matches. */
int activations_call_status(struct activations *a, const char *gateway_id, const char *call_sid, const char *ref,
                            const char *status, const char *answered_by, int duration);
/* Open activations that asked PERSON; *ONLY_ID is one of them. */
unsigned activations_open_for(struct activations *a, const char *person, const char **only_id);
/* The same, counting only contact-list checks (VERIFY) or only call-outs. */
unsigned activations_open_for_kind(struct activations *a, const char *person, bool verify, const char **only_id);
/* The activation reply code CODE answers, as a reply picks it (an unresolved
 * one first): 1 when it is a contact-list check, 0 a call-out, -ENOENT none;
 * *ID (valid until the activation is freed) and *DRILL when not NULL. */
int activations_code_target(struct activations *a, const char *code, const char **id, bool *drill);
/* Base URL for e-mail answer links (NULL: no links). */
void activations_set_public_url(struct activations *a, const char *url);

/* For the fuzz target and tests: replay an activation log's text DATA as a
 * restart would, into a throwaway activation. Returns the events applied
 * (*RET_BROKEN: an unreadable event stopped the replay), or -EINVAL when the
 * log has no "created" event. */
int activation_log_check(const char *data, size_t len, bool *ret_broken);
/* The name in activations/ of the log whose text begins DATA[0..LEN):
 * "<id>.log" from its first line, a complete "created" event with a plain
 * "id". -EINVAL when there is no such line (store_spare_name_fn: start-up
 * gives a log left in tmp/ by a crash its name back). */
int activation_log_name(const char *data, size_t len, char *name, size_t size);

/* Counts for status and the MQTT summary. Open: call-outs mobilising,
 * mobilised or short (never contact-list checks); drills: open drills. */
struct act_counts {
        unsigned open, mobilising, mobilised, short_, drills;
        unsigned total; /* every activation, of any kind and state */
};
void activations_count(const struct activations *a, struct act_counts *ret);
unsigned activations_open(const struct activations *a);
unsigned activations_total(const struct activations *a);
/* Events logged so far (a sequence number), and the highest number up to
 * which every event is on disk: an MQTT event tagged with the first may be
 * published once the second has reached it. */
uint64_t activations_logged_seq(const struct activations *a);
uint64_t activations_committed_seq(const struct activations *a);
/* Retention: remove the log of every ended activation (resolved, or a
 * verified check) whose last event is before BEFORE (beredd's time) and
 * forget it (list, show, report). An open or short activation, or one with
 * anything still in flight, is never removed. *RET_N is the count removed;
 * returns 0 or the first -errno (what failed is kept for the next sweep). */
int activations_purge(struct activations *a, uint64_t before, unsigned *ret_n);
/* Activation ID has events not on disk yet. */
bool activations_dirty(struct activations *a, const char *id);
