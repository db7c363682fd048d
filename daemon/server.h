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
