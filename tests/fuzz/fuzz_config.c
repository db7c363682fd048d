/* fuzz_config.c - libFuzzer target for the configuration loader: any bytes
 * as a config file must give a configuration or a list of FILE:LINE errors,
 * never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_input(void) {
        unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!path[0]) {
                /* tmpfs if there is one: rewriting a file on a disk mounted
                 * with discard waits for the device on every input (54
                 * exec/s instead of thousands) */
                const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
                snprintf(path, sizeof(path), "%s/beredd-fuzz-config.%d", dir, (int) getpid());
                atexit(remove_input);
                /* secrets named by the input resolve nowhere useful */
                setenv("CREDENTIALS_DIRECTORY", "/nonexistent", 1);
        }
        FILE *f = fopen(path, "we");
        if (!f)
                return 0;
        fwrite(data, 1, size, f);
        fclose(f);
        struct errlist errs = {};
        struct config *c = config_load(path, &errs);
        if (c && errs.n)
                abort();
        for (size_t i = 0; i < errs.n; i++)
                if (strncmp(errs.v[i], path, strlen(path)) != 0) /* every error names the file */
                        abort();
        config_free(c);
        errlist_free(&errs);
        return 0;
}
