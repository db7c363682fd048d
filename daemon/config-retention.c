/* config-retention.c - the "retention" section: how long personal data is
 * kept in the spool (ended activations' logs, the file gateway's outbox,
 * rejected input, absences that are over), and when an open activation found at start is too old
 * to resume (a restored spool). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"

void cfg_load_retention(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "activations", "outbox", "failed", "absences", "surveys", "stale_after", NULL };
        struct retention_conf *r = &l->c->retention;
        config_setting_t *g, *s = NULL;
        bool enabled = false;

        r->activations = RETENTION_ACTIVATIONS_DEFAULT;
        r->outbox = RETENTION_OUTBOX_DEFAULT;
        r->failed = RETENTION_FAILED_DEFAULT;
        r->absences = RETENTION_ABSENCES_DEFAULT;
        r->surveys = RETENTION_SURVEYS_DEFAULT;
        r->stale_after = RETENTION_STALE_AFTER_DEFAULT;

        g = cfg_section_group(l, root, "retention", keys, &enabled, &r->line);
        if (!g)
                return;
        r->activations = cfg_get_duration(l, g, "activations", false, r->activations, true, NULL);
        r->outbox = cfg_get_duration(l, g, "outbox", false, r->outbox, true, NULL);
        r->failed = cfg_get_duration(l, g, "failed", false, r->failed, true, NULL);
        r->absences = cfg_get_duration(l, g, "absences", false, r->absences, true, NULL);
        r->surveys = cfg_get_duration(l, g, "surveys", false, r->surveys, true, NULL);
        r->stale_after = cfg_get_duration(l, g, "stale_after", false, r->stale_after, true, &s);

        /* A call-out waiting out a long step across a restart must not be
         * taken for a restored copy: stale_after has to outlast every wait. */
        for (size_t i = 0; s && i < l->c->n_chains; i++) {
                const struct chain *ch = &l->c->chains[i];
                for (size_t k = 0; k < ch->n_steps; k++)
                        if (ch->steps[k].wait >= r->stale_after) {
                                cfg_fail(l, s, "must be longer than every step's wait (chain \"%s\" waits longer)",
                                         ch->id);
                                return;
                        }
        }
}
