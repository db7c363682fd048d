/* gateway.h - sending one message to one person over one channel (an
 * SMS, an e-mail, or a call with a key press to answer).
 *
 * Every gateway runs on the daemon's sd-event loop: HTTP SMS providers and
 * SMTP through one libcurl multi handle (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION
 * mapped to sd_event io/time sources, finished transfers drained from a defer
 * source), the file gateway by an atomic write into spool/outbox/. Nothing
 * here blocks the loop.
 *
 * For a channel, the configured gateways serving it (channel equal, or "any")
 * are tried in configuration order: each gets `retries` attempts with
 * exponential backoff and jitter on timeouts, connection errors, 5xx and 429
 * (honouring Retry-After); then the next gateway (failover). A permanent
 * refusal (4xx other than 408/429, an invalid number; for SMTP only a 5xx
 * to RCPT about the mailbox, e.g. 5.1.1) ends it at once: the person is
 * unreachable on that channel. A refusal about the gateway itself (SMTP
 * relay/HELO/auth/TLS policy, HTTP 401) fails over at once.
 *
 * The caller logs "sending" durably before gateway_send() and "sent"/"failed"
 * from the callback (write-ahead). The idempotency KEY names the message in
 * logs and the outbox file; the client reference (gw_message.ref, by
 * default the key) travels to providers that take one (Link Mobility refId,
 * the generic {ref}). Both are the same in a resend after a crash, so it is
 * recognisable. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "store.h"

struct gateways;

/* keep_trying for call-outs and reminders: through a gateway outage of up
 * to a day, rounds while the message is still wanted. */
#define GW_KEEP_TRYING_USEC (24 * USEC_PER_HOUR)

struct gw_message {
        const char *key;     /* idempotency key, safe id ([A-Za-z0-9._-]) */
        /* The client reference sent to providers that take one (Link
         * Mobility refId, the generic {ref}) and that comes back in their
         * receipts: NULL = the key. Follow-up reminders send "fu." and a hash
         * of their key (which names the case). Activations send the key plus a secret
         * per-notification nonce, so that a receipt cannot be forged from
         * the activation id alone; stable across a resend. */
        const char *ref;
        enum channel channel; /* CHANNEL_SMS, CHANNEL_EMAIL or CHANNEL_VOICE */
        const char *person;  /* person id (for logs; never the name or address) */
        const char *to;      /* E.164 phone, or e-mail address */
        const char *subject; /* e-mail subject (UTF-8), NULL for SMS */
        const char *text;    /* body, UTF-8; for a call, what is said before the key-press prompt */
        /* Calls only: the answer token of this call (the gateway puts
         * {public_url}/voice/{gateway id}/answer/{token} in the call) and
         * the language spoken (English, else bokmål). */
        const char *token;
        bool en;
        /* Calls to an English speaker: the chain's name and the operator's
         * text, said in bokmål after TEXT (NULL: none; see voice.h). */
        const char *text_nb;
        uint64_t validity;   /* SMS validity in usec where the provider allows (0 = provider default) */
        /* When every gateway has failed for a reason that may pass (5xx,
         * timeouts, refused connections, a gateway that cannot send), start
         * over with the first gateway every round interval (30 x the backoff
         * base: 30 s) until KEEP_TRYING usec after gateway_send() (0 = report
         * GW_FAILED at once). Before each new round WANTED, when set, is
         * asked: false ends it with GW_FAILED ("no longer needed"); so too
         * before a call that waited for a free line (max_calls) starts. */
        uint64_t keep_trying;
        bool (*wanted)(void *userdata, const char *key);
};

enum gw_result {
        GW_SENT,        /* a gateway accepted the message */
        GW_FAILED,      /* every gateway for the channel failed (temporary errors exhausted) */
        GW_UNREACHABLE, /* permanently refused (bad number/address): unreachable on this channel */
};

/* Called once per gateway_send(), always from the event loop (never from
 * inside gateway_send). GATEWAY_ID is the gateway that sent it (or the last
 * one tried); ERROR a short reason without personal data, NULL on success;
 * PROVIDER_REF the provider's message id when it returned one. The callback
 * may call gateway_send() again, but must not call gateways_free(). */
typedef void (*gw_done_t)(void *userdata, const char *key, enum gw_result result, const char *gateway_id,
                          const char *error, const char *provider_ref);

int gateways_new(sd_event *e, struct store *store, const struct config *cfg, struct gateways **ret);
/* Cancel transfers in flight (their callbacks are not called) and free. */
void gateways_free(struct gateways *g);
/* After a reload: new transfers use CFG; transfers in flight finish with the
 * gateway they started on (it is copied). */
void gateways_set_config(struct gateways *g, const struct config *cfg);

/* Queue M (copied) for delivery; DONE is called later with USERDATA.
 * Returns 0, or -errno (-ENOENT: no gateway serves the channel). */
int gateway_send(struct gateways *g, const struct gw_message *m, gw_done_t done, void *userdata);

/* Calls (CHANNEL_VOICE): a call holds one of its gateway's max_calls
 * slots from its request until gateway_call_ended(KEY) (its final status
 * came back) or until ring_timeout + call_limit + 60 s have passed since
 * the provider took it; calls beyond max_calls wait in the queue, in
 * order. gateway_call_ended is idempotent and ignores unknown keys.
 * A failed attempt gives its slot back at once; waiting for a slot is
 * neither a failure nor a failover (gateways_waiting does not count it).
 * Slots are counted by gateway id across a reload. The file gateway
 * places no call and holds no slot. gateway_send() refuses a call without
 * a token (-EINVAL). The 60 s grace is $BEREDD_CALL_GRACE_MS when set
 * (read by gateways_new; for tests). */
void gateway_call_ended(struct gateways *g, const char *key);
/* The gateway whose request for call KEY is in flight now (sent, its
 * answer not in), or NULL: a provider may post the call's status, or its
 * key press, before it has answered the request. */
const char *gateway_call_in_flight_on(const struct gateways *g, const char *key);
/* Calls the providers have taken that have not ended (holding a slot). */
unsigned gateways_calls_in_flight(const struct gateways *g);

/* Messages queued or in flight. */
unsigned gateways_in_flight(const struct gateways *g);
/* Of those, messages every gateway has failed, waiting for the next round. */
unsigned gateways_waiting(const struct gateways *g);
/* HOOK(USERDATA, n) whenever gateways_waiting() changes (for STATUS=). */
void gateways_set_waiting_hook(struct gateways *g, void (*hook)(void *userdata, unsigned waiting), void *userdata);

/* Base of the retry backoff (default 1 s, or $BEREDD_GW_BACKOFF_MS read by
 * gateways_new): attempt n waits a random time in [0, min(30 x base,
 * base x 2^(n-1))] (full jitter), unless the server sent Retry-After. For tests. */
void gateways_set_backoff(struct gateways *g, uint64_t base_usec);

/* ---- gateway health (issue 14: trouble is visible everywhere) ----
 *
 * Every configured gateway is "unknown" until an attempt through it ends.
 * It is DOWN after an attempt failed for a reason on the gateway's side
 * (a timeout, a refused or broken connection, TLS, 5xx, 408/429, our
 * credentials or settings refused, an outbox that cannot be written), and
 * stays down until an attempt through it succeeds. It is UP after an
 * attempt it answered properly: accepted the message, or refused it for the
 * recipient (an invalid number: the gateway works, the person is
 * unreachable). beredd does not probe: with nothing to send, a gateway stays
 * as it was last seen. A reload keeps the health of a gateway whose id and
 * settings are unchanged and makes a changed one unknown again. Every
 * attempt's outcome goes through one place (handle_outcome in gateway.c),
 * whichever transport made it. */
enum gw_state {
        GW_STATE_UNKNOWN, /* not tried since start or since its settings changed */
        GW_STATE_UP,
        GW_STATE_DOWN,
};
const char *gw_state_name(enum gw_state s); /* "unknown", "up", "down" */

struct gw_health {
        const char *id;          /* the configuration id (valid until the next reload) */
        enum channel channel;    /* what it serves */
        enum gateway_type type;
        enum gw_state state;
        uint64_t since;          /* CLOCK_REALTIME usec when STATE began (0: unknown) */
        uint64_t last_ok;        /* last attempt it answered properly (0: none) */
        uint64_t last_failure;   /* last attempt that failed on its side (0: none) */
        /* The last failure's class, without personal data or secrets:
         * "http 503", "smtp 554", "timeout", "connect", "dns", "network",
         * "tls", "auth", "config", "outbox", "unexpected answer"; "" = none. */
        const char *last_error;
        unsigned failures;       /* failed attempts in a row */
        uint64_t attempts_ok, attempts_failed, attempts_refused; /* since start */
};

/* The health of the I-th configured gateway (configuration order).
 * Returns 0, or -ENOENT past the end. */
int gateway_health(const struct gateways *g, size_t i, struct gw_health *ret);
/* Gateways serving channel C (one of CHANNEL_SMS, CHANNEL_EMAIL, CHANNEL_VOICE) in *SERVED,
 * of those down in *DOWN. The channel works when SERVED > DOWN. */
void gateways_channel_health(const struct gateways *g, enum channel c, unsigned *served, unsigned *down);
/* Messages waiting for a gateway (see gateways_waiting) on channel C, and
 * the longest any of them has waited (usec; 0 = none) in *OLDEST. */
unsigned gateways_waiting_on(const struct gateways *g, enum channel c, uint64_t *oldest);
/* HOOK(USERDATA) whenever a gateway's state changes (for STATUS=, MQTT). */
void gateways_set_health_hook(struct gateways *g, void (*hook)(void *userdata), void *userdata);
