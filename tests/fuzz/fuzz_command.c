/* fuzz_command.c - libFuzzer target for the one command parser that every
 * way in shares (control socket, MQTT, drop files). Memory safety, and: a
 * parse either succeeds with a known kind or fails with a message. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct command c;
        char err[256] = "";
        int r = command_parse((const char *) data, size, &c, err, sizeof(err));
        if (r == 0) {
                if ((unsigned) c.kind >= _CMD_MAX || !command_name(c.kind))
                        abort();
                /* ids that passed must be safe to use as file names */
                if ((c.case_ref && !id_is_safe(c.case_ref)) || (c.activation && !id_is_safe(c.activation)) ||
                    (c.chain && !id_is_safe(c.chain)))
                        abort();
                if (c.message && (strchr(c.message, '\r') || strlen(c.message) > COMMAND_MAX_MESSAGE * 4))
                        abort();
                command_done(&c);
        } else if (r != -EINVAL || err[0] == '\0') {
                abort();
        }
        return 0;
}
