/* server.h - the daemon: one sd-event loop owning the configuration, the
 * spool, the control socket and the drop folder, and the one place where a
 * command from any way in is carried out. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "command.h"

struct server;

struct server_options {
        const char *config_path;
        const char *socket_path;
        bool foreground;
};

/* Load the configuration (errors are logged), open the spool, listen on the
 * control socket and watch incoming/. Returns 0 or -errno (already logged). */
int server_new(const struct server_options *o, struct server **ret);
/* Run the loop until SIGTERM/SIGINT. Returns the exit status. */
int server_run(struct server *s);
void server_free(struct server *s);

/* Carry out a parsed command from SRC and return its JSON reply (malloc'd,
 * one line): {"ok":true,...} or {"ok":false,"error":"..."}. ORIGIN names a
 * drop file (so a second processing after a crash is recognised), or NULL. */
char *server_execute(struct server *s, const struct command *cmd, enum source src, const char *origin);

/* ---- for the HTTP listener (issue 6) ---- */

/* An SMS arrived at a gateway webhook. FROM is the sender's number in any
 * common form ("+4791234567", "004791234567", "91234567"); TEXT is what they
 * typed ("JA 4821", "ja", "OK 48213", "UTSETT 48213 3", ...). The sender is
 * looked up among the configured people (unknown senders: logged, ignored,
 * -ENOENT). Returns 0 when it was taken as an answer. Some answers need a
 * word back to the sender (asking for the code when the answer could belong
 * to several activations, or was not understood): when SMS_BACK is not NULL
 * that text is returned there (malloc'd) for the caller to put in the
 * webhook's response (Twilio TwiML); when SMS_BACK is NULL the server sends
 * it through the SMS gateways itself. */
int server_sms_inbound(struct server *s, const char *gateway_id, const char *provider_msg_id, const char *from,
                       const char *text, char **sms_back);

/* Replay protection for inbound SMS (see seen.h): record the provider's
 * message id PROVIDER_MSG_ID of a message through GATEWAY_ID durably before
 * the message is acted on. 1 when it was seen before (acknowledge, ignore),
 * 0 when recorded (or when there is no id), -errno when it could not be
 * written (answer "try again"). _forget takes it back when acting failed. */
int server_message_seen(struct server *s, const char *gateway_id, const char *provider_msg_id);
void server_message_forget(struct server *s, const char *gateway_id, const char *provider_msg_id);

/* A delivery receipt that came in through gateway GATEWAY_ID's route: REF is
 * the provider's message id (as returned when it accepted the message) or
 * the client reference beredd sent (Link Mobility refId, {ref}: key plus a
 * secret nonce). Applies only to a notification sent through GATEWAY_ID.
 * DELIVERED false means undeliverable (counts as unreachable on that
 * channel, so the chain does not wait for that person). Returns 0, or
 * -ENOENT when no notification of that gateway has that reference. */
int server_receipt(struct server *s, const char *gateway_id, const char *ref, bool delivered, const char *detail);

/* One-tap e-mail answers. TOKEN is the token from the link. _lookup fills
 * *INFO with {"activation","chain","state","drill","person","answer","valid",
 * "verify"} for the confirmation page (GET); _answer records yes/no, or a
 * check's OK (POST). A token
 * is valid while its activation is open; -ENOENT for an unknown or forged
 * token, -ESTALE when the activation has ended. */
int server_token_lookup(struct server *s, const char *token, json_t **info);
/* VERIFY: the link is a contact-list check's OK link (ANSWER is then
 * ANSWER_YES); a call-out's token on an OK link, or a check's token on a
 * JA/NEI link, is no link (-ENOENT) and changes nothing. */
int server_token_answer(struct server *s, const char *token, bool verify, enum answer answer, json_t **reply,
                        char *err, size_t errlen);

/* Health: true when the loop runs and the spool takes writes. */
bool server_healthy(struct server *s);
/* Readiness (/readyz): healthy, no channel in use with every gateway down,
 * and no message waiting for a gateway longer than a minute. WHY (LEN
 * bytes, may be NULL) says why not, without personal data. */
bool server_ready(struct server *s, char *why, size_t len);
/* Prometheus text exposition (malloc'd): activations by state,
 * notifications by channel and result, gateway latency histogram,
 * follow-up counts, mqtt connected. */
char *server_metrics(struct server *s);
