/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* seen: the provider message ids (Twilio MessageSid, Link Mobility MO id, a
 * generic gateway's inbound_id field) of inbound SMS already taken, per
 * gateway, so that a replayed request (a captured, correctly signed webhook
 * sent again) is acknowledged and ignored instead of acted on a second time.
 *
 * Durable: activations/replay.seen in the spool, append-only, one line per
 * id: "<unix seconds> <gateway id> <message id>\n" (no personal data: the
 * ids are the provider's opaque message ids). Each add is appended and
 * fdatasync'd (store_append) before it returns, so the id is on disk before
 * the answer it belongs to is acted on. Entries older than the retention
 * (SEEN_RETENTION_USEC, 30 days: far longer than any provider retries) are
 * dropped when the file is read at start and when it is compacted (rewritten
 * atomically) once a day or when SEEN_MAX entries are reached; memory is
 * bounded by SEEN_MAX entries (when still full after expiry the oldest half
 * is dropped, logged). A torn last line (crash mid-append) is skipped. */

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define SEEN_FILE "replay.seen"
#define SEEN_RETENTION_USEC ((uint64_t) 30 * 24 * 3600 * 1000000)
#define SEEN_MAX 200000
#define SEEN_ID_MAX 128 /* longer ids (or with spaces/controls) are not kept: seen_add() -EINVAL */

struct seen;

/* Load DIR/NAME (missing = empty), dropping entries older than RETENTION
 * (usec) before NOW (usec, CLOCK_REALTIME), and compact it. 0 or -errno. */
int seen_open(struct store *st, enum store_dir dir, const char *name, uint64_t retention, uint64_t now,
              struct seen **ret);
void seen_free(struct seen *s);

/* true when (GATEWAY, ID) was added within the retention. */
bool seen_has(const struct seen *s, const char *gateway, const char *id);
/* Record (GATEWAY, ID) durably: 1 when it was already there (a replay: do
 * nothing), 0 when newly recorded (on disk), -EINVAL for an id that cannot
 * be kept, or -errno from the spool (nothing recorded). */
int seen_add(struct seen *s, const char *gateway, const char *id, uint64_t now);
/* Take (GATEWAY, ID) out again, in memory and (best effort) on disk: for
 * when acting on the message failed after seen_add(), so that the provider's
 * retry is taken. */
void seen_forget(struct seen *s, const char *gateway, const char *id);
/* Hold at most MAX entries instead of SEEN_MAX (for tests). */
void seen_set_max(struct seen *s, size_t max);
/* Entries held. */
size_t seen_count(const struct seen *s);
