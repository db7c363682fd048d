/* duty.h - who is on duty: roster rotation (calendar.c) plus swaps
 * ("beredctl roster override"), persisted in rosters/overrides.json. */
#pragma once

#include <jansson.h>

#include "absence.h"
#include "calendar.h"
#include "config.h"
#include "store.h"

struct duty;

/* Load the saved swaps from the spool (a missing file is no swaps). */
int duty_new(struct store *store, struct duty **ret);
void duty_free(struct duty *d);

/* Put PERSON on duty for ROSTER from FROM to TO ("YYYY-MM-DD HH:MM", local
 * time in the configured zone). Durable before it returns 0. */
int duty_override(struct duty *d, const struct config *cfg, const struct calendar *cal, const char *roster,
                  const char *person, const char *from, const char *to, const char *by, json_t **reply, char *err,
                  size_t errlen);
/* Who is on duty for ROSTER at NOW, whom the rotation names, and the swaps
 * that are current or coming. */
int duty_show(struct duty *d, const struct config *cfg, const struct calendar *cal, const char *roster, uint64_t now,
              json_t **reply, char *err, size_t errlen);
/* The person on duty for R at NOW (swaps applied), or NULL. */
const char *duty_on_duty(struct duty *d, const struct calendar *cal, const struct roster *r, uint64_t now);
/* The same, but when that person is away at NOW (ABS; NULL: nobody is), the
 * roster's next member after them (in the roster's order, wrapping) who is
 * not, and *RET_AWAY the away on-duty person (NULL when nobody was away).
 * NULL when nobody is on duty or every member is away. */
const char *duty_on_duty_present(struct duty *d, const struct calendar *cal, const struct roster *r, uint64_t now,
                                 const struct absences *abs, const char **ret_away);
