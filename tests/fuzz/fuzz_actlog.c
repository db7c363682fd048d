/* fuzz_actlog.c - libFuzzer target for the activation log loader: what a
 * restart replays from activations/<id>.log (JSON Lines written by the
 * engine, but read back after crashes, disk errors and hand edits).
 *
 *   make fuzz && tests/fuzz/fuzz_actlog tests/fuzz/corpus/actlog
 *
 * Besides memory safety (ASan, UBSan) it checks the contract: the replay
 * never claims more events than the text has lines. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "activation.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool quiet;
        bool broken = false;
        size_t lines = 0;

        if (!quiet) { /* the loader logs every bad line; keep the run fast */
                log_setup(true, LOG_EMERG);
                quiet = true;
        }
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';
        int n = activation_log_check((const char *) data, size, &broken);
        if (n == -ENOMEM)
                return 0;
        if (n != -EINVAL && (n < 0 || (size_t) n > lines))
                abort();
        if (n >= 0 && !broken && (size_t) n != lines)
                abort(); /* a clean replay reads every complete line */
        return 0;
}
