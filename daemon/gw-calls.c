/* gw-calls.c - how many calls are in flight: each voice gateway places at
 * most max_calls at once (gateway.h).
 *
 * A call takes a slot of the gateway it is attempted on when its attempt
 * starts; a failed attempt gives it back at once. A call the provider took
 * keeps it until its final status comes back (gateway_call_ended) or, if
 * that is lost, until ring_timeout + call_limit + a grace (60 s;
 * $BEREDD_CALL_GRACE_MS for tests) have passed: by then the provider has
 * ended it anyway. Calls that find every slot taken wait here in order,
 * for that gateway: not failed over (the gateway works, it is only busy)
 * and not handed to curl, whose CURLOPT_TIMEOUT would count the wait.
 * Before a call that waited starts, its WANTED (gw_message) is asked:
 * false ends it as "no longer needed", as a new round would.
 *
 * Slots are kept by gateway id and key, not by configuration entry, so a
 * reload keeps them counted; the new max_calls applies from then on. The
 * file gateway places no call and holds no slot. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl-util.h"
#include "gateway-internal.h"
#include "log.h"
#include "macro.h"

struct call_slot {
        struct call_slot *next;
        struct gateways *g;
        char *key;
        char *gw_id;
        struct msg *x; /* the attempt holding it while its request is in flight, else NULL */
        bool ended;    /* gateway_call_ended() came while the request was still in flight */
        sd_event_source *expiry;
};

static unsigned slots_held(const struct gateways *g, const char *id) {
        unsigned n = 0;

        for (const struct call_slot *s = g->slots; s; s = s->next)
                n += streq(s->gw_id, id);
        return n;
}

static unsigned max_calls(const struct gateway *gw) {
        return gw->max_calls > 0 ? gw->max_calls : GATEWAY_MAX_CALLS_DEFAULT;
}

static void slot_free(struct call_slot *slot) {
        struct gateways *g = slot->g;

        for (struct call_slot **p = &g->slots; *p; p = &(*p)->next)
                if (*p == slot) {
                        *p = slot->next;
                        g->n_slots--;
                        break;
                }
        if (slot->x)
                slot->x->slot = NULL;
        sd_event_source_disable_unref(slot->expiry);
        free(slot->key);
        free(slot->gw_id);
        free(slot);
}

/* Give SLOT back and let a waiting call have it. */
static void slot_release(struct call_slot *slot) {
        struct gateways *g = slot->g;

        slot_free(slot);
        if (g->call_q)
                gw_kick(g);
}

static int on_expiry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct call_slot *slot = userdata;

        log_debug("Call %s: no final status from gateway %s in time; its slot is free again", slot->key, slot->gw_id);
        slot_release(slot);
        return 0;
}

static bool queued_for(const struct gateways *g, const char *id) {
        for (const struct msg *q = g->call_q; q; q = q->q_next)
                if (q->n_ids > 0 && streq(q->ids[q->i_id < q->n_ids ? q->i_id : q->n_ids - 1], id))
                        return true;
        return false;
}

bool gw_call_slot_take(struct msg *x, const struct gateway *src) {
        struct gateways *g = x->g;
        bool go = x->call_go;

        x->call_go = false;
        if (x->channel != CHANNEL_VOICE || src->type == GATEWAY_FILE)
                return true;
        if (x->slot && streq(x->slot->gw_id, src->id))
                return true; /* still held: it waited for curl, not for a line */
        if (x->slot)
                slot_release(x->slot);
        /* In order: a new call does not overtake one already waiting. */
        if (slots_held(g, src->id) >= max_calls(src) || (!go && queued_for(g, src->id))) {
                log_debug("Call %s (person %s) waits for a free line on gateway %s (max_calls %u)", x->lkey, x->person,
                          src->id, max_calls(src));
                x->q_next = NULL;
                if (g->call_tail)
                        g->call_tail->q_next = x;
                else
                        g->call_q = x;
                g->call_tail = x;
                return false;
        }
        struct call_slot *slot = calloc(1, sizeof(*slot));
        if (!slot || !(slot->key = strdup(x->key)) || !(slot->gw_id = strdup(src->id))) {
                /* Without memory for the count the call still goes: a
                 * call-out matters more than the limit. */
                if (slot) {
                        free(slot->key);
                        free(slot);
                }
                log_warning("Call %s: out of memory counting it against max_calls of gateway %s", x->lkey, src->id);
                return true;
        }
        *slot = (struct call_slot) { .next = g->slots, .g = g, .key = slot->key, .gw_id = slot->gw_id, .x = x };
        g->slots = slot;
        g->n_slots++;
        x->slot = slot;
        return true;
}

void gw_call_attempt_ended(struct msg *x, enum outcome out) {
        struct call_slot *slot = x->slot;

        if (!slot)
                return;
        if (out != OUT_SENT || slot->ended) {
                slot_release(slot);
                return;
        }
        /* The provider took it: held until its final status, or until it
         * must have ended (rung out, then talked to the limit). */
        x->slot = NULL;
        slot->x = NULL;
        struct gateways *g = slot->g;
        uint64_t hold = (x->gw ? x->gw->ring_timeout + x->gw->call_limit : 0) + g->call_grace;
        int r = sd_event_add_time(g->event, &slot->expiry, CLOCK_MONOTONIC,
                                  event_now_usec(g->event, CLOCK_MONOTONIC) + hold, USEC_PER_SEC, on_expiry, slot);
        if (r < 0) {
                log_warning_errno(r, "Call %s: cannot arm its slot's expiry, freeing the slot now: %m", x->lkey);
                slot_release(slot);
                return;
        }
        (void) sd_event_source_set_description(slot->expiry, "gateway-call-slot");
}

void gw_calls_kick(struct gateways *g) {
        /* Start, in order, every waiting call whose gateway has a free slot
         * (or is gone: the attempt then moves on). Each start may end at
         * once and free a slot again; the scan begins anew after each. */
        for (bool again = true; again;) {
                again = false;
                for (struct msg **p = &g->call_q, *prev = NULL; *p; prev = *p, p = &(*p)->q_next) {
                        struct msg *x = *p;
                        const struct gateway *src = x->i_id < x->n_ids ? config_gateway(g->cfg, x->ids[x->i_id]) : NULL;
                        if (src && slots_held(g, src->id) >= max_calls(src))
                                continue;
                        *p = x->q_next;
                        if (g->call_tail == x)
                                g->call_tail = prev;
                        x->q_next = NULL;
                        again = true;
                        /* It may have waited long: the person may have
                         * answered another way meanwhile. */
                        if (x->wanted && !x->wanted(x->userdata, x->key)) {
                                log_info("Call %s (person %s): no longer needed; not placed", x->lkey, x->person);
                                gw_complete(x, GW_FAILED, "no longer needed", NULL);
                                break;
                        }
                        x->call_go = true;
                        gw_start_attempt(x);
                        break;
                }
        }
}

void gateway_call_ended(struct gateways *g, const char *key) {
        for (struct call_slot *s = g ? g->slots : NULL; key && s; s = s->next)
                if (streq(s->key, key) && !s->ended) {
                        log_debug("Call %s through gateway %s ended", s->key, s->gw_id);
                        if (s->x)
                                s->ended = true; /* its request is still in flight: freed when it ends */
                        else
                                slot_release(s);
                        return;
                }
}

const char *gateway_call_in_flight_on(const struct gateways *g, const char *key) {
        for (const struct call_slot *s = g ? g->slots : NULL; key && s; s = s->next)
                if (s->x && streq(s->key, key))
                        return s->gw_id;
        return NULL;
}

unsigned gateways_calls_in_flight(const struct gateways *g) {
        return g ? g->n_slots : 0;
}

void gw_calls_free(struct gateways *g) {
        g->call_q = g->call_tail = NULL;
        while (g->slots)
                slot_free(g->slots);
}
