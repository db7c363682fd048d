/* retention.h - removing personal data from the spool once it is old:
 * ended activations' logs (activations/), the file gateway's messages
 * (outbox/: numbers and texts), rejected input (failed/ with its
 * .reason files) and absences that are over (absences/, counted from
 * their end), after the ages of the "retention" section. Closed
 * follow-up cases have their own retention (followup.h).
 *
 * A sweep runs at start and then every hour (BEREDD_RETENTION_SWEEP_MS in
 * tests), and logs one journal line with the counts per kind, never a
 * file's name (it may hold a number) or a person. */
#pragma once

#include <stdint.h>

#include <systemd/sd-event.h>

#include "absence.h"
#include "activation.h"
#include "config.h"
#include "store.h"

#define RETENTION_SWEEP_USEC USEC_PER_HOUR

struct retention;

struct retention_counts {
        unsigned activations, outbox, failed; /* failed: rejected inputs, each with its .reason */
        unsigned absences;
        int error; /* the first -errno, 0 none (what could not go is tried again next sweep) */
};

/* Sweep once now (at start, before anything new comes in), then every hour. */
int retention_new(sd_event *e, struct store *store, struct activations *acts, struct absences *abs,
                  const struct config *cfg, struct retention **ret);
void retention_free(struct retention *r);
void retention_set_config(struct retention *r, const struct config *cfg);

/* One sweep at NOW (beredd's time; file ages by the real clock of their
 * modification times, i.e. NOW minus the test offset), logged. */
void retention_sweep(struct store *store, struct activations *acts, struct absences *abs,
                     const struct retention_conf *rc, uint64_t now, struct retention_counts *ret);
