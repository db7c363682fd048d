/* log.h - one log call for the journal (structured fields) and stderr.
 *
 * In foreground mode (-f) lines also go to stderr; under systemd (JOURNAL_STREAM
 * or NOTIFY_SOCKET set) they go to the journal only, with extra fields such as
 * BEREDD_ACTIVATION=... and a MESSAGE_ID for key events.
 * Never pass a secret, a name, a phone number or an e-mail address. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

/* MESSAGE_IDs of key events (128-bit ids, `journalctl MESSAGE_ID=...`). */
#define MSGID_STARTED        "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d01"
#define MSGID_STOPPED        "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d02"
#define MSGID_RELOADED       "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d03"
#define MSGID_RELOAD_FAILED  "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d04"
#define MSGID_INPUT_REJECTED "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d05"
#define MSGID_ACTIVATION     "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d06"
#define MSGID_SPOOL_ERROR    "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d07"
#define MSGID_REFUSED        "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d08"
#define MSGID_FOLLOWUP       "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d09"
#define MSGID_GATEWAY_DOWN   "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d0a"
#define MSGID_HTTP_STALLED   "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d20" /* the HTTP listener is not accepting (and again) */
#define MSGID_CODE_LOCKOUT   "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d21" /* too many wrong reply codes: ignored a while */
#define MSGID_BACK_LIMIT     "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d22" /* texts back to one person: hourly limit reached */
#define MSGID_TEXT_SHORTENED "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d30" /* a call-out's free text cut to fit max_segments SMS */
#define MSGID_GATEWAY_STATE_DOWN "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d3a" /* one gateway went down (its last attempt failed) */
#define MSGID_GATEWAY_STATE_UP   "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d3b" /* a gateway that was down answered again */
#define MSGID_NOT_READY          "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d3c" /* /readyz turned 503 (and 5d3d when ready again) */
#define MSGID_READY_AGAIN        "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d3d"
#define MSGID_QUORUM_IMPOSSIBLE "b3a1d2e0c6f94a5e8d7c1f2a3b4c5d35" /* the quorum can no longer be met: the final step is told at once */

void log_setup(bool to_stderr, int max_level);

/* Copy S into BUF (SIZE bytes) with every byte that could forge or colour a
 * log line escaped: control characters as \n, \r, \t or \xHH (ESC is \x1b),
 * DEL and C1 controls as \xHH, a backslash as \\. Cut with "..." when BUF
 * is too small. Returns BUF. Use it for file names and every other string
 * from outside that goes into a log line or a journal field. */
const char *log_escape(const char *s, char *buf, size_t size);
/* log_escape() into a buffer that lives until the end of the statement's block. */
#define LOG_ESC(s) log_escape((s), (char[1024]) { 0 }, 1024)
int log_max_level(void);

/* Log at LEVEL. Returns -abs(ERR) so callers can `return log_errno(...)`;
 * ERR (a positive or negative errno, or 0) is also rendered for "%m". */
int log_full(int level, int err, const char *msgid, const char *fields[], const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

#define log_debug(...)   log_full(LOG_DEBUG, 0, NULL, NULL, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, 0, NULL, NULL, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, 0, NULL, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, 0, NULL, NULL, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, 0, NULL, NULL, __VA_ARGS__)
#define log_error_errno(err, ...)   log_full(LOG_ERR, (err), NULL, NULL, __VA_ARGS__)
#define log_warning_errno(err, ...) log_full(LOG_WARNING, (err), NULL, NULL, __VA_ARGS__)
/* With a MESSAGE_ID and extra "KEY=value" fields (NULL-terminated array or NULL). */
#define log_event(level, msgid, fields, ...) log_full((level), 0, (msgid), (fields), __VA_ARGS__)
#define MSGID_QUORUM_LOST      "b3a1d2e0c6f94a5e8d7c1f2a3b4c5e14" /* a yes became a no: a mobilised team is no longer complete */
#define MSGID_QUORUM_REACHABLE "b3a1d2e0c6f94a5e8d7c1f2a3b4c5e15" /* a quorum told out of reach can be met after all */
#define MSGID_ACTIVATION_STALE "773869c3618d435495ffef6e99fa2929" /* an open activation too old at start (a restored spool): closed, nobody told */
#define MSGID_RETENTION        "ed846082bab24822a499084e448a5dc9" /* a retention sweep removed old personal data (counts only) */
