/* log.c - the journal, with structured fields, and stderr in foreground mode. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "log.h"
#include "macro.h"

static bool log_to_stderr = true;
static bool log_to_journal = false;
static int log_level = LOG_INFO;

void log_setup(bool to_stderr, int max_level) {
        /* Under systemd stdout/stderr usually reach the journal already; write
         * to the journal directly so the structured fields survive, and to
         * stderr only when asked (foreground) or when there is no journal. */
        log_to_journal = getenv("JOURNAL_STREAM") || getenv("NOTIFY_SOCKET") || getenv("INVOCATION_ID");
        log_to_stderr = to_stderr || !log_to_journal;
        log_level = max_level;
}

int log_max_level(void) {
        return log_level;
}

static const char *level_name(int level) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        return level >= 0 && level < (int) ELEMENTSOF(names) ? names[level] : "?";
}

int log_full(int level, int err, const char *msgid, const char *fields[], const char *fmt, ...) {
        int saved_errno = errno;
        int e = err < 0 ? -err : err;

        if (level > log_level)
                return -e;

        char msg[2048];
        va_list ap;
        errno = e; /* for %m */
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (log_to_stderr) {
                struct timespec ts;
                struct tm tm;
                char tbuf[32];
                clock_gettime(CLOCK_REALTIME, &ts);
                localtime_r(&ts.tv_sec, &tm);
                strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
                fprintf(stderr, "%s.%03ld beredd[%s]: %s\n", tbuf, ts.tv_nsec / 1000000L, level_name(level), msg);
        }

        if (log_to_journal) {
                /* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, MESSAGE_ID, ERRNO, and up
                 * to 16 caller fields. */
                struct iovec iov[22];
                char m[2100], p[16], id[48], en[24];
                size_t n = 0;
                snprintf(m, sizeof(m), "MESSAGE=%s", msg);
                snprintf(p, sizeof(p), "PRIORITY=%d", level);
                iov[n++] = (struct iovec) { m, strlen(m) };
                iov[n++] = (struct iovec) { p, strlen(p) };
                iov[n++] = (struct iovec) { (char *) "SYSLOG_IDENTIFIER=beredd", strlen("SYSLOG_IDENTIFIER=beredd") };
                if (msgid) {
                        snprintf(id, sizeof(id), "MESSAGE_ID=%s", msgid);
                        iov[n++] = (struct iovec) { id, strlen(id) };
                }
                if (e) {
                        snprintf(en, sizeof(en), "ERRNO=%d", e);
                        iov[n++] = (struct iovec) { en, strlen(en) };
                }
                for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++)
                        iov[n++] = (struct iovec) { (char *) fields[i], strlen(fields[i]) };
                sd_journal_sendv(iov, (int) n);
        }

        errno = saved_errno;
        return -e;
}
