/* gw-smtp.c - e-mail through SMTP (libcurl's smtp/smtps, STARTTLS): the
 * message (RFC 5322 headers, an RFC 2047 subject, quoted-printable when a
 * line needs it, a Message-ID from the key), EHLO with the configured helo
 * or the machine's name, and how the server's replies are read: a 5xx to
 * RCPT about the mailbox refuses the recipient, a refusal about us (relay,
 * auth, TLS policy) fails over, anything else may pass. Addresses never
 * reach the log (smtp_reply_clean). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gateway-internal.h"
#include "log.h"
#include "macro.h"

/* ---- SMTP ---- */

static void rfc5322_date(char *buf, size_t len) {
        static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        time_t t = time(NULL);
        struct tm tm;

        /* UTC, so no locale or time zone database is involved. */
        gmtime_r(&t, &tm);
        snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Append S[0..N) to the growing buffer *BUF. */
static int buf_put(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
        if (*len + n + 1 > *cap) {
                size_t c = *cap ? *cap : 1024;
                while (*len + n + 1 > c)
                        c *= 2;
                char *p = realloc(*buf, c);
                if (!p)
                        return -ENOMEM;
                *buf = p;
                *cap = c;
        }
        memcpy(*buf + *len, s, n);
        *len += n;
        (*buf)[*len] = '\0';
        return 0;
}

static int buf_puts(char **buf, size_t *len, size_t *cap, const char *s) {
        return buf_put(buf, len, cap, s, strlen(s));
}

/* Quoted-printable (RFC 2045 6.7) of one line without its line break. */
static int qp_line(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
        static const char hex[] = "0123456789ABCDEF";
        size_t col = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                char enc[4];
                size_t k;
                bool last = i + 1 == n;

                /* "From " at the start of a line is encoded too: mbox
                 * readers would quote it with ">". */
                bool from = i == 0 && n >= 5 && memcmp(s, "From ", 5) == 0;
                if (!from && ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last))) {
                        enc[0] = (char) c;
                        k = 1;
                } else {
                        enc[0] = '=';
                        enc[1] = hex[c >> 4];
                        enc[2] = hex[c & 15];
                        k = 3;
                }
                if (col + k > 75) {
                        if (buf_puts(buf, len, cap, "=\r\n") < 0)
                                return -ENOMEM;
                        col = 0;
                }
                if (buf_put(buf, len, cap, enc, k) < 0)
                        return -ENOMEM;
                col += k;
        }
        return 0;
}

/* Body with every line break made CRLF. 7bit when it is ASCII with lines
 * of at most 998 octets (RFC 5322 2.1.1), else quoted-printable (RFC 2045
 * 6.7: lines of at most 76). libcurl cannot announce an 8-bit body (its
 * MAIL FROM takes AUTH=, SIZE= and SMTPUTF8, never BODY=8BITMIME, in 7.88
 * as today), and a relay that gets 8-bit data unannounced may mangle or
 * refuse it: the body is always 7-bit on the wire. */
static int smtp_body(const char *text, char **buf, size_t *len, size_t *cap, bool *ret_qp) {
        bool qp = false;
        size_t run = 0;

        for (const char *p = text; *p; p++) {
                if ((unsigned char) *p >= 0x80)
                        qp = true;
                if (*p == '\r' || *p == '\n')
                        run = 0;
                else if (++run > 998)
                        qp = true;
        }
        *ret_qp = qp;
        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\r\n");
                int r = qp ? qp_line(buf, len, cap, p, n) : buf_put(buf, len, cap, p, n);
                if (r < 0 || buf_puts(buf, len, cap, "\r\n") < 0)
                        return -ENOMEM;
                p += n;
                if (p[0] == '\r' && p[1] == '\n')
                        p += 2;
                else if (*p)
                        p++;
        }
        return 0;
}

static const char *email_domain(const char *addr) {
        const char *at = addr ? strrchr(addr, '@') : NULL;
        return at && at[1] ? at + 1 : NULL;
}

/* The EHLO name: the gateway's helo, else this machine's FQDN, else the
 * domain of its `from`. Postfix with smtpd_helo_restrictions refuses a name
 * without a dot (504 5.5.2), and says so only at RCPT. */
static const char *smtp_helo(const struct gateways *g, const struct gateway *gw) {
        if (gw->helo)
                return gw->helo;
        if (g->fqdn)
                return g->fqdn;
        return email_domain(gw->from);
}

/* libcurl (lib/smtp.c, smtp_parse_url_path) sends the URL's path, URL
 * decoded, as the EHLO name, and without a path the short host name
 * (gethostname). A path in the configured url is kept (the configuration
 * refuses it together with helo). */
static char *smtp_url(const struct gateways *g, const struct gateway *gw) {
        const char *sep = strstr(gw->url, "://"), *path = sep ? strchr(sep + 3, '/') : NULL;
        const char *helo = smtp_helo(g, gw);
        size_t base = path ? (size_t) (path - gw->url) : strlen(gw->url);
        char *u = NULL;

        if ((path && path[1]) || !helo || !*helo)
                return strdup(gw->url);
        /* A host name is URL-safe; the brackets and colons of an address
         * literal are escaped. */
        char esc[256 * 3 + 1];
        size_t k = 0;
        for (const char *p = helo; *p && k + 3 < sizeof(esc); p++) {
                if (isalnum((unsigned char) *p) || *p == '.' || *p == '-')
                        esc[k++] = *p;
                else
                        k += (size_t) snprintf(esc + k, sizeof(esc) - k, "%%%02X", (unsigned char) *p);
        }
        esc[k] = '\0';
        return asprintf(&u, "%.*s/%s", (int) base, gw->url, esc) < 0 ? NULL : u;
}

/* The machine's fully qualified name: the canonical name of gethostname()
 * (getaddrinfo AI_CANONNAME, /etc/hosts first), else the host name itself,
 * when it has a dot and is not localhost. Asked once, when the gateways
 * are made (it may ask the resolver, which must not happen on the loop). */
char *gw_machine_fqdn(void) {
        struct addrinfo hints = { .ai_flags = AI_CANONNAME, .ai_socktype = SOCK_STREAM }, *ai = NULL;
        char host[256], name[256] = "";

        if (gethostname(host, sizeof(host)) < 0)
                return NULL;
        host[sizeof(host) - 1] = '\0';
        if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai && ai->ai_canonname)
                snprintf(name, sizeof(name), "%s", ai->ai_canonname);
        if (ai)
                freeaddrinfo(ai);
        for (int k = 0; k < 2; k++) {
                char *n = k == 0 ? name : host;
                size_t len = strlen(n);
                if (len > 0 && n[len - 1] == '.')
                        n[len - 1] = '\0';
                if (strchr(n, '.') && strncasecmp(n, "localhost", 9) != 0 && config_helo_ok(n))
                        return strdup(n);
        }
        return NULL;
}

/* The left part of the Message-ID: 32 hex digits of SHA-256 over the key and
 * the site. The same in every attempt and resend (a receiver can see a
 * duplicate), unique across sites sending from one domain, and without the
 * key itself, which for a follow-up names the case. */
static void message_id_left(const char *key, const char *site, char out[static 40]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        char *in = NULL;
        int n = asprintf(&in, "%s\n%s", key, site ? site : "");

        snprintf(out, 40, "beredd.%s", "0");
        if (n < 0)
                return;
        if (EVP_Digest(in, (size_t) n, md, &len, EVP_sha256(), NULL) == 1 && len >= 16) {
                memcpy(out, "beredd.", 7);
                for (unsigned i = 0; i < 16; i++)
                        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
        }
        free(in);
}

/* CURLOPT_DEBUGFUNCTION (with CURLOPT_VERBOSE; libcurl calls it only then):
 * which command a reply answers, and the reply. Only known verbs are kept
 * from what we send (an AUTH line and its continuations carry credentials,
 * MAIL and RCPT addresses), and only the cleaned last line of what we get. */
static void smtp_reply_clean(const char *s, size_t n, const char *to, char *out, size_t outlen);

static int on_smtp_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *userp) {
        static const char *const verbs[] = { "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET",
                                             "QUIT" };
        struct msg *x = userp;

        (void) easy;
        if (x->smtp_quit)
                return 0;
        if (type == CURLINFO_HEADER_OUT) {
                size_t n = 0;
                while (n < size && n < 8 && isalpha((unsigned char) data[n]))
                        n++;
                if (n < size && data[n] != ' ' && data[n] != '\r')
                        return 0;
                for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                        if (strlen(verbs[i]) == n && strncasecmp(data, verbs[i], n) == 0) {
                                if (streq(verbs[i], "QUIT"))
                                        x->smtp_quit = true; /* what came before is the outcome */
                                else
                                        snprintf(x->smtp_verb, sizeof(x->smtp_verb), "%s", verbs[i]);
                                break;
                        }
                return 0;
        }
        if (type != CURLINFO_HEADER_IN || size < 3 || !isdigit((unsigned char) data[0]) ||
            !isdigit((unsigned char) data[1]) || !isdigit((unsigned char) data[2]))
                return 0;
        if (size > 3 && data[3] == '-')
                return 0; /* not the last line of the reply */
        x->smtp_code = (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0');
        smtp_reply_clean(size > 4 ? data + 4 : "", size > 4 ? size - 4 : 0, x->to, x->smtp_text, sizeof(x->smtp_text));
        if (x->smtp_code == 354 && streq(x->smtp_verb, "DATA"))
                snprintf(x->smtp_verb, sizeof(x->smtp_verb), ".");
        return 0;
}

/* The message, for curl to send after DATA. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata) {
        struct msg *x = userdata;
        size_t n = size * nitems, left = x->req_len - x->req_off;

        if (n > left)
                n = left;
        memcpy(buf, x->req + x->req_off, n);
        x->req_off += n;
        return n;
}

#define SUBJECT_HEADER "Subject: "

int gw_build_smtp(struct msg *x, char *err, size_t errlen) {
        const struct gateway *gw = x->gw;
        const char *subject = x->subject ? x->subject : "";
        _cleanup_free_ char *subj = NULL, *mail_from = NULL, *head = NULL, *body = NULL, *url = NULL;
        size_t body_len = 0, body_cap = 0, subj_cap = strlen(subject) * 4 + 128;
        char date[64], mid[40];
        bool qp;
        int r;

        /* Header injection: nothing that lands in a header or an SMTP command
         * may carry CR or LF. Refused as unreachable: resending will not help. */
        if (!gw->from || !gw->url || !email_domain(gw->from)) {
                snprintf(err, errlen, "smtp needs from (an e-mail address) and url");
                return -EINVAL;
        }
        if (!text_header_safe(gw->from) || !text_header_safe(x->to) || !text_header_safe(subject) ||
            strpbrk(x->to, "<>,") || strpbrk(gw->from, "<>,")) {
                snprintf(err, errlen, "CR/LF or a forbidden character in a header field (From, To or Subject): refused");
                return -EBADMSG;
        }
        subj = malloc(subj_cap);
        if (!subj)
                return -ENOMEM;
        /* Lines of at most 76 with the header name (RFC 2047 2.). */
        r = text_rfc2047_encode(subject, strlen(SUBJECT_HEADER), subj, subj_cap);
        if (r < 0) {
                snprintf(err, errlen, "cannot encode the subject: %s", strerror(-r));
                return -EBADMSG;
        }
        r = smtp_body(x->text, &body, &body_len, &body_cap, &qp);
        if (r < 0)
                return r;
        rfc5322_date(date, sizeof(date));
        message_id_left(x->key, x->g->cfg ? x->g->cfg->site : NULL, mid);
        r = asprintf(&head,
                     "Date: %s\r\n"
                     "From: %s\r\n"
                     "To: %s\r\n"
                     SUBJECT_HEADER "%s\r\n"
                     "Message-ID: <%s@%s>\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=UTF-8\r\n"
                     "Content-Transfer-Encoding: %s\r\n"
                     "Auto-Submitted: auto-generated\r\n"
                     "\r\n",
                     date, gw->from, x->to, subj, mid, email_domain(gw->from), qp ? "quoted-printable" : "7bit");
        if (r < 0) {
                head = NULL;
                return -ENOMEM;
        }
        x->req_len = (size_t) r + body_len;
        x->req = malloc(x->req_len + 1);
        if (!x->req)
                return -ENOMEM;
        memcpy(x->req, head, (size_t) r);
        memcpy(x->req + r, body ? body : "", body_len);
        x->req[x->req_len] = '\0';
        x->req_off = 0;

        if (asprintf(&mail_from, "<%s>", gw->from) < 0) {
                mail_from = NULL;
                return -ENOMEM;
        }
        x->rcpt = curl_slist_append(NULL, x->to);
        url = smtp_url(x->g, gw);
        if (!x->rcpt || !url)
                return -ENOMEM;
        r = gw_easy_common(x, url);
        if (r < 0)
                goto fail;
        /* curl does the dot-stuffing of the DATA phase. One recipient per
         * transfer, so CURLOPT_MAIL_RCPT_ALLOWFAILS would change nothing:
         * a refused RCPT ends it with CURLE_SEND_ERROR and the reply's code
         * in CURLINFO_RESPONSE_CODE. */
        if (curl_easy_setopt(x->easy, CURLOPT_MAIL_FROM, mail_from) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_MAIL_RCPT, x->rcpt) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, on_read) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_READDATA, x) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t) x->req_len) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_USE_SSL, (long) (gw->starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE)) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_DEBUGFUNCTION, on_smtp_debug) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_DEBUGDATA, x) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_VERBOSE, 1L) != CURLE_OK) {
                r = -EINVAL;
                goto fail;
        }
        if (gw->username && (curl_easy_setopt(x->easy, CURLOPT_USERNAME, gw->username) != CURLE_OK ||
                             curl_easy_setopt(x->easy, CURLOPT_PASSWORD, gw->password ? gw->password : "") != CURLE_OK)) {
                r = -EINVAL;
                goto fail;
        }
        return 0;
fail:
        snprintf(err, errlen, "cannot set up the request: %s", strerror(-r));
        return r;
}
static void smtp_reply_clean(const char *s, size_t n, const char *to, char *out, size_t outlen) {
        size_t k = 0, local = to ? strcspn(to, "@") : 0;
        char lp[65] = "";

        if (local >= 3 && local < sizeof(lp)) {
                memcpy(lp, to, local);
                lp[local] = '\0';
        }

        while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
                n--;
        for (size_t i = 0; i < n && k + 1 < outlen;) {
                while (i < n && s[i] == ' ')
                        i++;
                size_t j = i;
                while (j < n && s[j] != ' ')
                        j++;
                if (j == i)
                        break;
                char word[128];
                snprintf(word, sizeof(word), "%.*s", (int) (j - i), s + i);
                if (s[i] != '<' && !memchr(s + i, '@', j - i) && !(lp[0] && strcasestr(word, lp))) {
                        if (k > 0 && k + 1 < outlen)
                                out[k++] = ' ';
                        for (size_t m = i; m < j && k + 1 < outlen; m++)
                                out[k++] = (unsigned char) s[m] >= 0x20 && (unsigned char) s[m] < 0x7F ? s[m] : '?';
                }
                i = j;
        }
        out[k] = '\0';
}

/* RFC 3463 enhanced status "C.S.D" at the start of TEXT (RFC 2034). */
static bool smtp_enhanced(const char *text, int *cls, int *subj, int *det) {
        char *end;

        if (!text || !strchr("245", text[0]) || text[0] == '\0' || text[1] != '.')
                return false;
        *cls = text[0] - '0';
        long a = strtol(text + 2, &end, 10);
        if (end == text + 2 || *end != '.' || a < 0 || a > 999)
                return false;
        const char *p = end + 1;
        long b = strtol(p, &end, 10);
        if (end == p || (*end != '\0' && *end != ' ') || b < 0 || b > 999)
                return false;
        *subj = (int) a;
        *det = (int) b;
        return true;
}

static bool contains_word(const char *text, const char *const *words) {
        for (; *words; words++)
                if (strcasestr(text, *words))
                        return true;
        return false;
}

/* A 5xx to RCPT that is about the recipient's mailbox, not about us.
 * With an enhanced status: X.1.1 bad destination mailbox, X.1.2 bad
 * destination system, X.1.3 bad address syntax, X.1.4 ambiguous, X.1.6
 * mailbox has moved, X.1.10 null MX (RFC 7505), X.2.0-X.2.2 the mailbox's
 * status (disabled, full: that one person's mailbox, not this gateway).
 * Not X.1.7/X.1.8 (the sender's address: ours) nor X.1.0. Without one
 * (servers that do not announce ENHANCEDSTATUSCODES): 550, 551 or 553 whose
 * text names the mailbox and no policy. */
static bool smtp_recipient_refusal(int code, const char *text) {
        static const char *const mailbox[] = { "user", "mailbox", "recipient", "no such", "unknown", "not exist",
                                               "not found", "invalid address", "address invalid", "not local",
                                               "unrouteable", "undeliverable", NULL };
        static const char *const policy[] = { "relay", "helo", "ehlo", "policy", "spam", "block", "denied", "auth",
                                              "tls", "ssl", "sender", "client", "listed", "rbl", "reverse", "rate",
                                              "limit", "grey", "gray", "access", NULL };
        int cls, subj, det;

        if (smtp_enhanced(text, &cls, &subj, &det))
                return cls == 5 && ((subj == 1 && (det == 1 || det == 2 || det == 3 || det == 4 || det == 6 || det == 10)) ||
                                    (subj == 2 && det <= 2));
        return (code == 550 || code == 551 || code == 553) && contains_word(text, mailbox) &&
               !contains_word(text, policy);
}

/* How an SMTP transfer ended: RC from libcurl, CODE the last reply (0 =
 * none), to the command VERB ("" = the greeting, "." = the end of data).
 * Only a 5xx to RCPT about the mailbox makes the recipient unreachable by
 * e-mail. Every other refusal is about this gateway: a relay, HELO, client,
 * sender, auth or TLS policy (Postfix's smtpd_delay_reject gives those at
 * RCPT too: "554 5.7.1 Relay access denied", "504 5.5.2 Helo command
 * rejected"), so the next gateway is tried at once (OUT_GATEWAY); a 4xx is
 * tried again here first (OUT_TEMP). */
static enum outcome smtp_classify(CURLcode rc, const char *verb, int code, const char *text) {
        if (rc == CURLE_OK)
                return OUT_SENT;
        if (code >= 400 && code <= 499)
                return OUT_TEMP;
        if (code >= 500 && code <= 599)
                return streq(verb, "RCPT") && smtp_recipient_refusal(code, text ? text : "") ? OUT_PERMANENT
                                                                                              : OUT_GATEWAY;
        return gw_classify_curl(rc);
}

/* What of the reply TEXT may reach a log: its enhanced status and the first
 * of a fixed list of words it contains, never the server's own words (they
 * may hold a name, a number or an address in any form). */
static void smtp_reply_gist(const char *text, char *out, size_t outlen) {
        static const char *const words[] = { "relay", "helo", "ehlo", "policy", "spam", "blocked", "denied",
                                             "authentication", "tls", "sender", "client", "rate", "greylist",
                                             "mailbox", "user", "recipient", "unknown", "full", "quota",
                                             "disabled", "too large", NULL };
        int cls, subj, det;
        size_t k = 0;

        out[0] = '\0';
        if (smtp_enhanced(text, &cls, &subj, &det))
                k = (size_t) snprintf(out, outlen, "%d.%d.%d", cls, subj, det);
        for (size_t i = 0; words[i] && k < outlen; i++)
                if (strcasestr(text, words[i])) {
                        snprintf(out + k, outlen - k, "%s(%s)", k ? " " : "", words[i]);
                        break;
                }
}

void gw_smtp_finished(struct msg *x, CURLcode rc) {
        long info = 0;
        char err[160];
        enum outcome out;
        int code = x->smtp_code;

        if (rc == CURLE_OK) {
                gw_handle_outcome(x, OUT_SENT, NULL, NULL, 0);
                return;
        }
        /* The debug callback saw the reply; CURLINFO_RESPONSE_CODE (the last
         * code before QUIT) is the fallback. */
        (void) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &info);
        if (code < 400 && info >= 400 && info <= 599) {
                code = (int) info;
                x->smtp_text[0] = '\0';
        }
        out = smtp_classify(rc, x->smtp_verb, code, x->smtp_text);
        char gist[64];
        smtp_reply_gist(x->smtp_text, gist, sizeof(gist));
        if (code >= 400 && code <= 599)
                snprintf(err, sizeof(err), "%s refused: %d%s%s",
                         !x->smtp_verb[0]             ? "greeting"
                         : streq(x->smtp_verb, ".")   ? "end of data"
                         : streq(x->smtp_verb, "RCPT") ? "RCPT TO"
                         : streq(x->smtp_verb, "MAIL") ? "MAIL FROM"
                                                       : x->smtp_verb,
                         code, gist[0] ? " " : "", gist);
        else
                snprintf(err, sizeof(err), "%.60s%s%.90s", curl_easy_strerror(rc), x->errbuf[0] ? ": " : "", x->errbuf);
        gw_handle_outcome(x, out, err, NULL, 0);
}
