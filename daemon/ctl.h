/* ctl.h - the control socket: AF_UNIX stream, one JSON object per line in,
 * one JSON reply per line out. Callers are checked with SO_PEERCRED. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

struct ctl;

/* Handle one request line (without its newline) from a caller with UID.
 * Returns a malloc'd reply (one line of JSON, no newline) in *REPLY. */
typedef void (*ctl_handler_t)(void *userdata, const char *line, size_t len, uid_t uid, char **reply);

/* Listen on PATH (a stale socket there is replaced), mode 0660. */
int ctl_new(sd_event *e, const char *path, ctl_handler_t handler, void *userdata, struct ctl **ret);
void ctl_free(struct ctl *c);
/* Number of connected clients. */
size_t ctl_clients(const struct ctl *c);
