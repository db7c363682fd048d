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

const char *log_escape(const char *s, char *buf, size_t size) {
        size_t o = 0;

        if (size == 0)
                return buf;
        if (!s)
                s = "(null)";
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                char e[16];
                size_t k;
                unsigned char c = *p;

                if (c == '\n')
                        k = (size_t) snprintf(e, sizeof(e), "\\n");
                else if (c == '\r')
                        k = (size_t) snprintf(e, sizeof(e), "\\r");
                else if (c == '\t')
                        k = (size_t) snprintf(e, sizeof(e), "\\t");
                else if (c == '\\')
                        k = (size_t) snprintf(e, sizeof(e), "\\\\");
                else if (c < 0x20 || c == 0x7f)
                        k = (size_t) snprintf(e, sizeof(e), "\\x%02x", c);
                else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
                        /* U+0080..U+009F: C1 controls (CSI is U+009B). */
                        k = (size_t) snprintf(e, sizeof(e), "\\xc2\\x%02x", p[1]);
                        p++;
                } else {
                        e[0] = (char) c;
                        e[1] = '\0';
                        k = 1;
                }
                if (o + k + 4 > size) {
                        if (size >= 4) {
                                o = o + 4 > size ? size - 4 : o;
                                memcpy(buf + o, "...", 3);
                                o += 3;
                        }
                        break;
                }
                memcpy(buf + o, e, k);
                o += k;
        }
        buf[o < size ? o : size - 1] = '\0';
        return buf;
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
