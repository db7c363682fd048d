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

/* MESSAGE_IDs of key events (`journalctl MESSAGE_ID=...`): one per distinct
 * event, random 128-bit ids generated once (never change one: operators
 * alert on them). Each is explained in systemd/beredd.catalog (journalctl -x)
 * and listed in beredd(8); tests/catalog.py checks the three agree. */
#define MSGID_STARTED            "8d23c952087244da991d2fe15b5ad34e" /* the daemon started */
#define MSGID_STOPPED            "41c0a50b7b8f4dd180d41830fe106f50" /* the daemon stops on a signal */
#define MSGID_RELOADED           "6d47de58e8f142ac9bc1f5f389672a40" /* the configuration was reloaded */
#define MSGID_RELOAD_FAILED      "5d08b8ff71bf48aeac18927feeaed2c3" /* a reload failed: the old configuration stays */
#define MSGID_INPUT_REJECTED     "cd4bc8897c62433b9376c0c6a66104a1" /* a drop file was moved to failed/ */
#define MSGID_ACTIVATION_STARTED "351a97133c15466bb73fb3d37fdb4aba" /* a call-out started */
#define MSGID_ACTIVATION_MOBILISED "1b96466a1d33458f95cda47c3d4bde6b" /* the team is mobilised (quorum met) */
#define MSGID_ACTIVATION_SHORT   "a4bfa11cb6294eea8406121e7700b19b" /* the steps ran out: team NOT mobilised */
#define MSGID_ACTIVATION_MOBILISING "30e1ce7e3f4d497093154ab991278d4b" /* mobilising again after a quorum was lost */
#define MSGID_ACTIVATION_RESOLVED "a5b66042e6cd4b44b723835b37313b44" /* a call-out was resolved (ended) */
#define MSGID_VERIFY_STARTED     "d5b51f60ad8142749e234ceeacb3873f" /* a contact-list check started */
#define MSGID_VERIFY_ENDED       "7db6c4c0e32d44138289364f8b65cfee" /* a contact-list check ended */
#define MSGID_SPOOL_ERROR        "8e56c371e2f7426093a72df8fdc8dab6" /* the spool cannot be written or read */
#define MSGID_REFUSED            "1d6a555daf5f420892adfe2b80ccbf6e" /* a request was refused (not allowed) */
#define MSGID_FOLLOWUP_EVENT     "90beb3f0ec2f46c7a8f1d7764e62a7cf" /* any follow-up event (BEREDD_EVENT= says which) */
#define MSGID_FOLLOWUP_CASE      "9dbd0574a30d41399e085386a26f7776" /* a case opened, checked in, re-levelled, closed */
#define MSGID_FOLLOWUP_REMINDER  "d849f6761c6242b5a7b5962fbbaac92f" /* a case's first reminder was sent */
#define MSGID_FOLLOWUP_OVERDUE   "d865012cd729431f89a3b178019b7861" /* a case is overdue: second reminder sent */
#define MSGID_FOLLOWUP_ESCALATED "1d55805e6bea4e67a13b7713f25b5463" /* not recorded in time: coordinator told */
#define MSGID_FOLLOWUP_PURGED    "4be5a339ff694b058c321ef9bfc9bfec" /* closed cases purged after retention */
#define MSGID_GATEWAY_DOWN       "547a3ae8edd44c538638716a37ef207c" /* every gateway of a channel failed: messages wait */
#define MSGID_GATEWAYS_RECOVERED "7c33c0ded6a2463f96f78228aa0a015a" /* no message waits for a gateway any more */
#define MSGID_GATEWAY_STATE_DOWN "b60917e122b647e79943ee34abd061ea" /* one gateway went down (its last attempt failed) */
#define MSGID_GATEWAY_STATE_UP   "59bc33dc5f9b43bab71859a85778920e" /* a gateway that was down answered again */
#define MSGID_HTTP_STALLED       "f235256e263d4f339f4390d8c4d63f9c" /* the HTTP listener is not accepting */
#define MSGID_HTTP_ACCEPTING     "38c6e1b9e69346088c35bdaa0cd3cdec" /* the HTTP listener accepts again */
#define MSGID_CODE_LOCKOUT       "034e96156ac74670b77292daefc1141b" /* too many wrong reply codes: ignored a while */
#define MSGID_BACK_LIMIT         "7695ff1e4755457b8cec87568b41a10a" /* texts back to one person: hourly limit reached */
#define MSGID_TEXT_SHORTENED     "4c01b9e998d0442a8d95ad0c7542e862" /* a call-out's free text cut to fit max_segments SMS */
#define MSGID_NOT_READY          "d5ea57a732f944e2a8a2069189c306c8" /* /readyz turned 503 */
#define MSGID_READY_AGAIN        "db563ab771a849aab28cdfcee510aa33" /* /readyz is 200 again */
#define MSGID_QUORUM_IMPOSSIBLE  "3850e4ee16fe4576bed876f90327ac5c" /* the quorum can no longer be met: final step told */
#define MSGID_QUORUM_REACHABLE   "3d29063f7d9749d9ac7bcda5f00db6f9" /* a quorum told out of reach can be met after all */
#define MSGID_QUORUM_LOST        "5299d0e7f09f487ca96b2776c63fc511" /* a yes became a no: the team is no longer complete */
#define MSGID_ACTIVATION_STALE   "773869c3618d435495ffef6e99fa2929" /* an open activation too old at start (a restored spool): closed, nobody told */
#define MSGID_RETENTION          "ed846082bab24822a499084e448a5dc9" /* a retention sweep removed old personal data (counts only) */
/* Old names, for code written before the split: say which event you mean. */
#define MSGID_ACTIVATION MSGID_ACTIVATION_STARTED
#define MSGID_FOLLOWUP   MSGID_FOLLOWUP_EVENT

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
