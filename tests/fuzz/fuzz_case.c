/* fuzz_case.c - libFuzzer target for the follow-up case file loaders: the
 * fast index parser used when a million cases are loaded at start, and the
 * full parser used for everything else (cases/<hash>/<ref>.json); and, on
 * the same input, the readers of cases/index and of the case journal
 * (cases/journal.<n>, records that are case files back to back), and of
 * the absence surveys (surveys/<id>.json: what it reads it must write back
 * and read again the same).
 *
 *   make fuzz && tests/fuzz/fuzz_case tests/fuzz/corpus/case
 *
 * Besides memory safety it checks that the two agree: the fast scanner may
 * give up (the start then uses the full parser), and it does not check every
 * value, but whatever both accept they must read the same way, or a case
 * would be scheduled from values its file does not hold; and that what the
 * full parser reads comes back the same from being written and read again,
 * or a save would lose it. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <syslog.h>

#include "followup.h"
#include "log.h"
#include "survey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool quiet;
        if (!quiet) {
                log_setup(true, LOG_EMERG);
                quiet = true;
        }
        if (followup_case_check((const char *) data, size) == -EBADMSG)
                abort();
        (void) followup_index_check((const char *) data, size);
        if (followup_journal_check((const char *) data, size) < 0)
                abort(); /* only out of memory can fail it */
        (void) survey_file_check((const char *) data, size);
        return 0;
}
