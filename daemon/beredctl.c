/* beredctl - command-line client for beredd's control socket.
 *
 * Exit status: 0 ok, 1 refused by the daemon, 2 usage, 3 daemon unreachable. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "paths.h"

#define TIMEOUT_MS 15000

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static const char *socket_path;
static bool json_output;

static void help(void) {
        printf("Usage: beredctl [-s SOCKET] [--json] COMMAND [ARGS]\n\n"
               "Commands:\n"
               "  status                               the daemon's state\n"
               "  trigger CHAIN [-m TEXT] [--drill] [--by PERSON] [--dry-run]\n"
               "                                       start an activation of CHAIN; says what each\n"
               "                                       language gets by SMS and e-mail\n"
               "  preview CHAIN [-m TEXT] [--drill] [--by PERSON]\n"
               "                                       the same as trigger --dry-run: the exact texts,\n"
               "                                       nothing started or sent\n"
               "  reply CODE|ID yes|no|ja|nei (--person P | --phone N | --email A)\n"
               "                                       record an answer (any case: JA, Nei, YES ...)\n"
               "  resolve ID [--by PERSON]             stand an activation down\n"
               "  verify CHAIN [--window 1h] [--by PERSON]\n"
               "                                       ask everyone on CHAIN to answer OK; lists who did not\n"
               "  case open REF --contact P [--contact P2] [--level N] [--factor F]... [--due DATE] [--children]\n"
               "            [--responsible P]\n"
               "  case checkin REF --outcome no-needs|needs|worse|better|unreached\n"
               "               [--next DATE|--in 5d|--postpone DAYS] [--by P]\n"
               "  case level REF N | case close REF [--by P] | case show REF\n"
               "  case update REF --responsible P|''      the responsible contact person (one of the contacts)\n"
               "                                       watchful-waiting follow-up cases; factors F:\n"
               "                                       followup.factors, see beredd.conf(5)\n"
               "  case list [--contact P] [--state open|closed|all]\n"
               "                                       the cases with their contacts (default: open)\n"
               "  due [--overdue] [--contact P]        today's follow-up work list\n"
               "  followup summary                     counts by state, level and factor\n"
               "  roster show ROSTER                   who is on duty now, and swaps\n"
               "  roster override ROSTER PERSON --from 'YYYY-MM-DD HH:MM' --to 'YYYY-MM-DD HH:MM'\n"
               "               [--by PERSON]\n"
               "                                       put PERSON on duty instead (a swap)\n"
               "  away PERSON --from 'YYYY-MM-DD[ HH:MM]' --to 'YYYY-MM-DD[ HH:MM]' [--note TEXT]\n"
               "                                       PERSON is away (not asked); a date alone is the\n"
               "                                       start of that day (--from) or its end (--to)\n"
               "  away list [--person P]               absences, with their ids and notes\n"
               "  away cancel ID                       remove an absence\n"
               "  coverage CHAIN --from DATE --to DATE  per day (and office/outside-office part) how many\n"
               "                                       of CHAIN are available and whether the quorum and\n"
               "                                       its role minimums can be met (at most 62 days)\n"
               "  survey CHAIN --period NAME [--by PERSON]\n"
               "                                       ask CHAIN's people now whether they are away in the\n"
               "                                       heightened period NAME (SMS and e-mail, once each)\n"
               "  survey list                          the surveys: who answered, who did not\n"
               "  list                                 activations, newest first\n"
               "  show ID|CODE                         one activation and its people\n"
               "  report ID|CODE [--csv]               the timeline of an activation\n\n"
               "PERSON defaults to $BEREDD_PERSON, then to your login name.\n\n"
               "Options:\n"
               "  -s, --socket PATH control socket (default $BEREDD_SOCKET or " DEFAULT_SOCKET ")\n"
               "  -j, --json        print the daemon's JSON reply\n"
               "  -h, --help        show this help\n"
               "      --version     show the version\n\n"
               "Exit status: 0 ok, 1 refused by the daemon, 2 usage error, 3 daemon unreachable.\n");
}

/* Send one request line and read one reply line. Returns an exit status. */
static int call(json_t *req, json_t **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *line = json_dumps(req, JSON_COMPACT);
        if (!line) {
                fprintf(stderr, "beredctl: out of memory\n");
                return EXIT_USAGE;
        }
        size_t path_len = strlen(socket_path);
        if (path_len >= sizeof(sa.sun_path)) {
                fprintf(stderr, "beredctl: socket path too long: %s\n", socket_path);
                free(line);
                return EXIT_USAGE;
        }
        memcpy(sa.sun_path, socket_path, path_len + 1);

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "beredctl: cannot reach beredd at %s: %s\n", socket_path, strerror(errno));
                if (errno == EACCES)
                        fprintf(stderr, "beredctl: run as root or as a member of the beredd group\n");
                free(line);
                if (fd >= 0)
                        close(fd);
                return EXIT_UNREACHABLE;
        }
        size_t n = strlen(line);
        line[n] = '\n'; /* json_dumps leaves room: replace the NUL, send n+1 */
        size_t off = 0;
        while (off < n + 1) {
                ssize_t k = send(fd, line + off, n + 1 - off, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        /* The daemon may have refused us and closed already:
                         * its answer, if any, is still there to read. */
                        if (errno == EPIPE || errno == ECONNRESET)
                                break;
                        fprintf(stderr, "beredctl: sending to beredd failed: %s\n", strerror(errno));
                        free(line);
                        close(fd);
                        return EXIT_UNREACHABLE;
                }
                off += (size_t) k;
        }
        free(line);

        size_t cap = 65536, len = 0;
        char *buf = malloc(cap);
        while (buf) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int pr = poll(&p, 1, TIMEOUT_MS);
                if (pr <= 0) {
                        fprintf(stderr, "beredctl: no answer from beredd within %d s\n", TIMEOUT_MS / 1000);
                        free(buf);
                        close(fd);
                        return EXIT_UNREACHABLE;
                }
                if (len + 1 >= cap) {
                        char *nb = realloc(buf, cap *= 2);
                        if (!nb)
                                break;
                        buf = nb;
                }
                ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                len += (size_t) k;
                if (memchr(buf + len - (size_t) k, '\n', (size_t) k))
                        break;
        }
        close(fd);
        if (!buf || len == 0) {
                fprintf(stderr, "beredctl: beredd closed the connection without an answer\n");
                free(buf);
                return EXIT_UNREACHABLE;
        }
        json_error_t jerr;
        *ret = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &jerr);
        free(buf);
        if (!*ret) {
                fprintf(stderr, "beredctl: unreadable answer from beredd: %s\n", jerr.text);
                return EXIT_UNREACHABLE;
        }
        return EXIT_OK;
}

/* Print the reply (JSON or via PRINT) and map it to an exit status. */
static int finish(json_t *reply, void (*print)(json_t *)) {
        int r = json_is_true(json_object_get(reply, "ok")) ? EXIT_OK : EXIT_REFUSED;
        if (json_output) {
                char *s = json_dumps(reply, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                if (s)
                        printf("%s\n", s);
                free(s);
        } else if (r == EXIT_OK) {
                print(reply);
        } else {
                const char *e = json_string_value(json_object_get(reply, "error"));
                fprintf(stderr, "beredctl: refused: %s\n", e ? e : "(no reason given)");
        }
        json_decref(reply);
        return r;
}

static void print_kv(json_t *o, const char *key, const char *label) {
        json_t *v = json_object_get(o, key);
        if (json_is_string(v))
                printf("%-16s %s\n", label, json_string_value(v));
        else if (json_is_integer(v))
                printf("%-16s %" JSON_INTEGER_FORMAT "\n", label, json_integer_value(v));
}

/* "2026-12-02 01:23:45" in local time, or "-". */
static const char *local_time(json_t *v, char *buf, size_t len) {
        struct tm tm;
        time_t t;

        if (!json_is_integer(v))
                return "-";
        t = (time_t) json_integer_value(v);
        if (!localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                return "-";
        return buf;
}

/* Issue 14: per gateway up/down since when and why, what waits, readiness. */
static void print_gateway_health(json_t *o) {
        json_t *list = json_object_get(o, "gateway_health"), *g;
        size_t i;
        char tb[32];

        json_array_foreach(list, i, g) {
                const char *state = json_string_value(json_object_get(g, "state"));
                const char *err = json_string_value(json_object_get(g, "last_error"));
                printf("  %-14s %-6s %-13s", json_string_value(json_object_get(g, "id")),
                       json_string_value(json_object_get(g, "channel")), json_string_value(json_object_get(g, "type")));
                if (state && strcmp(state, "down") == 0)
                        printf(" DOWN since %s, %" JSON_INTEGER_FORMAT " failed attempt(s) in a row, last: %s\n",
                               local_time(json_object_get(g, "since"), tb, sizeof(tb)),
                               json_integer_value(json_object_get(g, "failures_in_a_row")), err ? err : "-");
                else if (state && strcmp(state, "up") == 0)
                        printf(" up since %s\n", local_time(json_object_get(g, "since"), tb, sizeof(tb)));
                else
                        printf(" not tried yet\n");
        }
        json_t *ch = json_object_get(o, "channels"), *c;
        const char *name;
        if (json_is_true(json_object_get(o, "trouble"))) {
                printf("%-16s GATEWAY TROUBLE:", "Trouble:");
                json_object_foreach(ch, name, c) {
                        if (!json_is_true(json_object_get(c, "up")))
                                printf(" no working %s gateway;", name);
                        else if (json_integer_value(json_object_get(c, "down")) > 0)
                                printf(" %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " %s gateway(s) down;",
                                       json_integer_value(json_object_get(c, "down")),
                                       json_integer_value(json_object_get(c, "gateways")), name);
                }
                printf(" %" JSON_INTEGER_FORMAT " message(s) waiting\n",
                       json_integer_value(json_object_get(o, "messages_waiting")));
        }
        if (json_integer_value(json_object_get(o, "messages_waiting")) > 0) {
                const char *sep = " ";
                printf("%-16s", "Waiting:");
                json_object_foreach(ch, name, c) {
                        printf("%s%s %" JSON_INTEGER_FORMAT, sep, name, json_integer_value(json_object_get(c, "waiting")));
                        sep = ", ";
                }
                printf("; the oldest for %" JSON_INTEGER_FORMAT " s\n",
                       json_integer_value(json_object_get(o, "oldest_waiting_seconds")));
        }
        json_t *ready = json_object_get(o, "ready");
        if (json_is_boolean(ready))
                printf("%-16s %s%s%s\n", "Ready:", json_is_true(ready) ? "yes" : "NO",
                       json_is_true(ready) ? "" : ": ",
                       json_is_true(ready) ? "" : json_string_value(json_object_get(o, "not_ready")) ?: "");
}

static void print_status(json_t *o) {
        print_kv(o, "site", "Site:");
        print_kv(o, "state", "State:");
        print_kv(o, "spool_error", "Spool error:");
        print_kv(o, "version", "Version:");
        print_kv(o, "uptime_seconds", "Uptime (s):");
        print_kv(o, "config", "Configuration:");
        print_kv(o, "spool", "Spool:");
        print_kv(o, "timezone", "Time zone:");
        print_kv(o, "people", "People:");
        print_kv(o, "chains", "Chains:");
        print_kv(o, "gateways", "Gateways:");
        print_gateway_health(o);
        json_t *in = json_object_get(o, "incoming");
        if (in)
                printf("%-16s %" JSON_INTEGER_FORMAT " accepted, %" JSON_INTEGER_FORMAT " rejected\n", "Drop files:",
                       json_integer_value(json_object_get(in, "accepted")),
                       json_integer_value(json_object_get(in, "rejected")));
        print_kv(o, "followup", "Follow-up:");
        print_kv(o, "mqtt", "MQTT:");
}

static int cmd_status(int argc, char **argv) {
        if (argc > 1) {
                fprintf(stderr, "beredctl: status takes no arguments\n");
                return EXIT_USAGE;
        }
        json_t *reply, *req = json_pack("{s:s}", "cmd", "status");
        int r = call(req, &reply);
        json_decref(req);
        return r == EXIT_OK ? finish(reply, print_status) : r;
}

/* Who is acting: --by, else $BEREDD_PERSON, else the (sudo) login name. */
static const char *default_person(void) {
        const char *p = getenv("BEREDD_PERSON");
        if (p && *p)
                return p;
        p = getenv("SUDO_USER");
        if (p && *p)
                return p;
        struct passwd *pw = getpwuid(getuid());
        return pw ? pw->pw_name : "root";
}

static int run(json_t *req, void (*print)(json_t *)) {
        json_t *reply;
        int r = call(req, &reply);
        json_decref(req);
        return r == EXIT_OK ? finish(reply, print) : r;
}

static const char *jstr(json_t *o, const char *k) {
        const char *s = json_string_value(json_object_get(o, k));
        return s ? s : "-";
}

static void print_messages(json_t *o, bool full_email);
static void print_away(json_t *o);

static void print_accepted(json_t *o) {
        if (json_is_true(json_object_get(o, "verify"))) {
                json_t *miss = json_object_get(o, "missing"), *m;
                size_t i;
                printf("Contact-list check %s of %s: %s (reply code %s), %" JSON_INTEGER_FORMAT " asked, %zu not answered%s",
                       jstr(o, "activation"), jstr(o, "chain"), jstr(o, "state"), jstr(o, "code"),
                       json_integer_value(json_object_get(o, "asked")), json_array_size(miss),
                       json_array_size(miss) ? ":" : "");
                json_array_foreach(miss, i, m)
                        printf(" %s", json_string_value(m));
                printf("\n");
                print_away(o);
                return;
        }
        printf("Activation %s of %s: %s%s (reply code %s), %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
               " confirmed\n",
               jstr(o, "activation"), jstr(o, "chain"), jstr(o, "state"),
               json_is_true(json_object_get(o, "drill")) ? ", drill" : "", jstr(o, "code"),
               json_integer_value(json_object_get(o, "confirmed")), json_integer_value(json_object_get(o, "needed")));
        if (json_object_get(o, "note"))
                printf("(%s)\n", jstr(o, "note"));
        if (json_object_get(o, "messages")) /* a trigger's reply (show lists them with the people) */
                print_away(o);
        print_messages(o, false);
}

static const char *encoding_label(const char *e) {
        return !strcmp(e, "gsm") ? "GSM 7-bit" : !strcmp(e, "ucs2") ? "UCS-2" : e;
}

/* What the call-out says, per language (trigger and preview replies). */
static void print_messages(json_t *o, bool full_email) {
        json_t *arr = json_object_get(o, "messages"), *m;
        size_t i;
        if (!arr)
                return;
        if (json_is_true(json_object_get(o, "shortened")))
                printf("SHORTENED: the message does not fit %" JSON_INTEGER_FORMAT
                       " SMS segments; the SMS carries the text below, an e-mail the whole message.\n",
                       json_integer_value(json_object_get(o, "max_segments")));
        json_array_foreach(arr, i, m) {
                json_t *sms = json_object_get(m, "sms"), *em = json_object_get(m, "email"), *p, *ch;
                size_t k;
                char people[512] = "", chans[48] = "";
                json_array_foreach(json_object_get(m, "people"), k, p) {
                        size_t l = strlen(people);
                        snprintf(people + l, sizeof(people) - l, "%s%s", l ? ", " : "", json_string_value(p));
                }
                json_array_foreach(json_object_get(m, "channels"), k, ch) {
                        size_t l = strlen(chans);
                        snprintf(chans + l, sizeof(chans) - l, "%s%s", l ? "+" : "", json_string_value(ch));
                }
                printf("\n[%s] %s (%s)\n", jstr(m, "lang"), people, chans);
                if (sms) {
                        json_int_t seg = json_integer_value(json_object_get(sms, "segments"));
                        printf("SMS, %s, %" JSON_INTEGER_FORMAT " segment%s, %" JSON_INTEGER_FORMAT " characters%s:\n  %s\n",
                               encoding_label(jstr(sms, "encoding")), seg, seg == 1 ? "" : "s",
                               json_integer_value(json_object_get(sms, "characters")),
                               json_is_true(json_object_get(sms, "shortened")) ? ", SHORTENED" : "", jstr(sms, "text"));
                }
                if (em) {
                        printf("E-mail subject: %s\n", jstr(em, "subject"));
                        if (full_email)
                                printf("E-mail text:\n%s", jstr(em, "text"));
                }
                json_t *vo = json_object_get(m, "voice");
                if (vo)
                        printf("Call says: %s\n  (then it asks: 1 coming, 2 not coming)\n", jstr(vo, "text"));
        }
}

static void print_preview(json_t *o) {
        printf("Dry run of %s%s: nothing started or sent (the reply code shows as %s)\n", jstr(o, "chain"),
               json_is_true(json_object_get(o, "drill")) ? ", drill" : "", jstr(o, "code"));
        print_messages(o, true);
}

static void print_list(json_t *o) {
        json_t *arr = json_object_get(o, "activations"), *a;
        size_t i;
        printf("%-20s %-12s %-10s %-5s %-9s %s\n", "ID", "CHAIN", "STATE", "DRILL", "CONFIRMED", "CODE");
        json_array_foreach(arr, i, a)
                printf("%-20s %-12s %-10s %-5s %4" JSON_INTEGER_FORMAT "/%-4" JSON_INTEGER_FORMAT " %s\n",
                       jstr(a, "activation"), jstr(a, "chain"), jstr(a, "state"),
                       json_is_true(json_object_get(a, "drill")) ? "yes" : "no",
                       json_integer_value(json_object_get(a, "confirmed")),
                       json_integer_value(json_object_get(a, "needed")), jstr(a, "code"));
        if (json_array_size(arr) == 0)
                printf("(no activations)\n");
}

/* Who was skipped as away ("away" in show, report, a check). */
static void print_away(json_t *o) {
        json_t *arr = json_object_get(o, "away"), *x;
        size_t i;
        json_array_foreach(arr, i, x) {
                json_int_t step = json_integer_value(json_object_get(x, "step"));
                if (json_object_get(x, "roster")) {
                        printf("Away, not asked: %s (on duty for roster %s; ", jstr(x, "person"), jstr(x, "roster"));
                        if (json_is_string(json_object_get(x, "instead")))
                                printf("%s asked instead)\n", jstr(x, "instead"));
                        else
                                printf("nobody else in the roster was there)\n");
                } else if (step < 0) {
                        printf("Away, not asked: %s\n", jstr(x, "person"));
                } else {
                        printf("Away, not asked: %s (step %" JSON_INTEGER_FORMAT ")\n", jstr(x, "person"), step + 1);
                }
        }
}

static void print_people(json_t *o) {
        json_t *arr = json_object_get(o, "people"), *p;
        size_t i;
        if (!json_is_true(json_object_get(o, "verify"))) /* a check's are listed with its summary */
                print_away(o);
        printf("%-16s %-7s %-12s %-12s %-10s %s\n", "PERSON", "ANSWER", "NOTIFIED(s)", "ANSWERED(s)", "VOICE",
               "NOTIFICATIONS");
        json_array_foreach(arr, i, p) {
                char nb[32] = "-", ab[32] = "-", chans[256] = "";
                json_t *v;
                if ((v = json_object_get(p, "notified_after_s")))
                        snprintf(nb, sizeof(nb), "%.1f", json_number_value(v));
                if ((v = json_object_get(p, "answered_after_s")))
                        snprintf(ab, sizeof(ab), "%.1f", json_number_value(v));
                json_t *ns = json_object_get(p, "notifications"), *n;
                size_t k;
                json_array_foreach(ns, k, n) {
                        size_t l = strlen(chans);
                        snprintf(chans + l, sizeof(chans) - l, "%s%s/%s:%s", l ? " " : "", jstr(n, "kind"),
                                 jstr(n, "channel"), jstr(n, "state"));
                }
                printf("%-16s %-7s %-12s %-12s %-10s %s\n", jstr(p, "person"), jstr(p, "answer"), nb, ab,
                       json_object_get(p, "voice") ? jstr(p, "voice") : "-", chans);
        }
}

static void print_show(json_t *o) {
        print_accepted(o);
        printf("Triggered by %s", jstr(o, "by"));
        if (json_object_get(o, "message"))
                printf(": %s", jstr(o, "message"));
        printf("\n");
        json_t *req = json_object_get(o, "requirements"), *q;
        size_t i;
        json_array_foreach(req, i, q) {
                char what[160];
                if (json_object_get(q, "role"))
                        snprintf(what, sizeof(what), "role %s (%s)", jstr(q, "role"), jstr(q, "name"));
                else
                        snprintf(what, sizeof(what), "in total");
                printf("Needs %s: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " confirmed, at most %" JSON_INTEGER_FORMAT
                       " possible%s\n",
                       what, json_integer_value(json_object_get(q, "confirmed")),
                       json_integer_value(json_object_get(q, "needed")), json_integer_value(json_object_get(q, "possible")),
                       json_is_true(json_object_get(q, "met"))            ? " (met)"
                       : json_is_true(json_object_get(q, "out_of_reach")) ? " - OUT OF REACH"
                                                                           : "");
        }
        if (json_object_get(o, "impossible_after_s"))
                printf("Quorum out of reach after %.1f s (the final step and the leader were told); the call-out went on\n",
                       json_number_value(json_object_get(o, "impossible_after_s")));
        if (json_object_get(o, "reachable_after_s"))
                printf("Quorum within reach again after %.1f s (those told it was out of reach were told)\n",
                       json_number_value(json_object_get(o, "reachable_after_s")));
        if (json_object_get(o, "unmobilised_after_s"))
                printf("No longer complete after %.1f s (a yes became a no; mobilising again, %" JSON_INTEGER_FORMAT
                       " time(s) in all)\n",
                       json_number_value(json_object_get(o, "unmobilised_after_s")),
                       json_integer_value(json_object_get(o, "unmobilised")));
        if (json_object_get(o, "next_step_in_s"))
                printf("Next step in %.0f s\n", json_number_value(json_object_get(o, "next_step_in_s")));
        if (json_integer_value(json_object_get(o, "unsolicited")) > 0)
                printf("Answers from people not asked (not counted; who: beredctl report): %" JSON_INTEGER_FORMAT "\n",
                       json_integer_value(json_object_get(o, "unsolicited")));
        printf("\n");
        print_people(o);
}

static void print_roster(json_t *o) {
        if (json_object_get(o, "on_duty")) {
                printf("Roster %s: %s is on duty (shift %s to %s", jstr(o, "roster"), jstr(o, "on_duty"),
                       jstr(o, "shift_start"), jstr(o, "shift_end"));
                if (strcmp(jstr(o, "on_duty"), jstr(o, "scheduled")))
                        printf("; the rotation names %s", jstr(o, "scheduled"));
                printf(")\n");
                json_t *sw = json_object_get(o, "swaps"), *w;
                size_t i;
                json_array_foreach(sw, i, w)
                        printf("  swap: %s from %s to %s\n", jstr(w, "person"), jstr(w, "from"), jstr(w, "to"));
        } else {
                printf("Roster %s: %s is on duty from %s to %s\n", jstr(o, "roster"), jstr(o, "person"), jstr(o, "from"),
                       jstr(o, "to"));
        }
}

static bool report_csv;

/* The DETAIL of a timeline entry: a call's status or key first (those
 * entries carry the notification's kind too), then the answer, the state,
 * the kind, the error, the reason. */
static const char *timeline_detail(json_t *e) {
        static const char *const fields[] = { "status", "digits", "answer", "state", "kind", "error", "reason", "why" };
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
                if (json_is_string(json_object_get(e, fields[k])))
                        return jstr(e, fields[k]);
        return "";
}

static void print_report(json_t *o) {
        json_t *tl = json_object_get(o, "timeline"), *e;
        size_t i;
        if (report_csv) {
                printf("after_s,event,step,person,channel,detail\n");
                json_array_foreach(tl, i, e) {
                        const char *t = jstr(e, "t");
                        const char *detail = timeline_detail(e);
                        json_t *st = json_object_get(e, "step");
                        printf("%.3f,%s,%s%" JSON_INTEGER_FORMAT ",%s,%s,%s\n",
                               json_number_value(json_object_get(e, "after_s")), t, st ? "" : "",
                               st ? json_integer_value(st) : (json_int_t) -1,
                               json_object_get(e, "person") ? jstr(e, "person") : "",
                               json_object_get(e, "ch") ? jstr(e, "ch") : "", detail);
                }
                return;
        }
        print_accepted(o);
        if (json_object_get(o, "time_to_quorum_s"))
                printf("Time to quorum: %.1f s\n", json_number_value(json_object_get(o, "time_to_quorum_s")));
        printf("\n");
        print_people(o);
        printf("\n%-9s %-10s %-5s %-16s %-6s %s\n", "AFTER(s)", "EVENT", "STEP", "PERSON", "CH", "DETAIL");
        json_array_foreach(tl, i, e) {
                json_t *st = json_object_get(e, "step");
                char sb[16] = "";
                if (st)
                        snprintf(sb, sizeof(sb), "%" JSON_INTEGER_FORMAT, json_integer_value(st));
                const char *detail = timeline_detail(e);
                printf("%9.1f %-10s %-5s %-16s %-6s %s\n", json_number_value(json_object_get(e, "after_s")),
                       jstr(e, "t"), sb, json_object_get(e, "person") ? jstr(e, "person") : "",
                       json_object_get(e, "ch") ? jstr(e, "ch") : "", detail);
        }
}

static int usage(const char *msg) {
        fprintf(stderr, "beredctl: %s. Try 'beredctl --help'.\n", msg);
        return EXIT_USAGE;
}

/* A usage error that names the option and the command it was given to,
 * so that a typo in a script is found without guessing. */
static int usagef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usagef(const char *fmt, ...) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return usage(msg);
}

/* Parse "--opt VALUE" / "-o VALUE" pairs and positional words of a subcommand. */
struct opts {
        const char *pos[4];
        int n_pos;
        const char *message, *by, *person, *phone, *email, *window, *from, *to;
        bool drill, csv, dry_run;
};

static int parse_opts(int argc, char **argv, struct opts *o) {
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char **dst = NULL;
                if (!strcmp(a, "-m") || !strcmp(a, "--message"))
                        dst = &o->message;
                else if (!strcmp(a, "--by"))
                        dst = &o->by;
                else if (!strcmp(a, "--person"))
                        dst = &o->person;
                else if (!strcmp(a, "--phone"))
                        dst = &o->phone;
                else if (!strcmp(a, "--email"))
                        dst = &o->email;
                else if (!strcmp(a, "--window"))
                        dst = &o->window;
                else if (!strcmp(a, "--from"))
                        dst = &o->from;
                else if (!strcmp(a, "--to"))
                        dst = &o->to;
                else if (!strcmp(a, "--drill"))
                        o->drill = true;
                else if (!strcmp(a, "--csv"))
                        o->csv = true;
                else if (!strcmp(a, "--dry-run") || !strcmp(a, "-n"))
                        o->dry_run = true;
                else if (a[0] == '-' && a[1])
                        return usagef("unknown option %s for %s", a, argv[0]);
                else if (o->n_pos < 4)
                        o->pos[o->n_pos++] = a;
                else
                        return usage("too many arguments");
                if (dst) {
                        if (++i >= argc)
                                return usagef("option %s of %s needs a value", a, argv[0]);
                        *dst = argv[i];
                }
        }
        return 0;
}

static int cmd_activation(int argc, char **argv) {
        struct opts o = {};
        const char *c = argv[0];
        static const char *const mine[] = { "trigger", "preview", "reply", "resolve", "verify", "roster", "list", "show", "report" };
        bool found = false;
        for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
                found = found || !strcmp(c, mine[i]);
        if (!found)
                return -1;
        int r = parse_opts(argc, argv, &o);
        if (r != 0)
                return r;
        if (!strcmp(c, "trigger") || !strcmp(c, "preview")) {
                bool dry = o.dry_run || !strcmp(c, "preview");
                if (o.n_pos != 1)
                        return usage(dry ? "preview needs a chain" : "trigger needs a chain");
                json_t *req = json_pack("{s:s, s:s, s:b}", "cmd", dry ? "preview" : "trigger", "chain", o.pos[0],
                                        "drill", o.drill);
                /* A preview checks may_trigger only for a --by given: the
                 * login name need not be a configured person to look. */
                if (o.by || !dry)
                        json_object_set_new(req, "by", json_string(o.by ? o.by : default_person()));
                if (o.message)
                        json_object_set_new(req, "message", json_string(o.message));
                return run(req, dry ? print_preview : print_accepted);
        }
        if (o.dry_run)
                return usage("--dry-run is for trigger");
        if (!strcmp(c, "reply")) {
                if (o.n_pos != 2)
                        return usage("reply needs a code (or activation id) and yes or no (ja or nei)");
                bool is_code = strspn(o.pos[0], "0123456789") == strlen(o.pos[0]);
                json_t *req = json_pack("{s:s, s:s, s:s}", "cmd", "reply", is_code ? "code" : "activation", o.pos[0],
                                        "answer", o.pos[1]);
                if (o.phone)
                        json_object_set_new(req, "phone", json_string(o.phone));
                else if (o.email)
                        json_object_set_new(req, "email", json_string(o.email));
                else
                        json_object_set_new(req, "person", json_string(o.person ? o.person : default_person()));
                return run(req, print_accepted);
        }
        if (!strcmp(c, "resolve")) {
                if (o.n_pos != 1)
                        return usage("resolve needs an activation id");
                return run(json_pack("{s:s, s:s, s:s}", "cmd", "resolve", "activation", o.pos[0], "by",
                                     o.by ? o.by : default_person()),
                           print_accepted);
        }
        if (!strcmp(c, "verify")) {
                if (o.n_pos != 1)
                        return usage("verify needs a chain");
                json_t *req = json_pack("{s:s, s:s, s:s}", "cmd", "verify", "chain", o.pos[0], "by",
                                        o.by ? o.by : default_person());
                if (o.window)
                        json_object_set_new(req, "window", json_string(o.window));
                return run(req, print_accepted);
        }
        if (!strcmp(c, "roster")) {
                if (o.n_pos == 2 && !strcmp(o.pos[0], "show"))
                        return run(json_pack("{s:s, s:s}", "cmd", "roster.show", "roster", o.pos[1]), print_roster);
                if (o.n_pos != 3 || strcmp(o.pos[0], "override") || !o.from || !o.to)
                        return usage("use: roster show ROSTER, or roster override ROSTER PERSON --from TIME --to TIME");
                return run(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "cmd", "roster.override", "roster", o.pos[1],
                                     "person", o.pos[2], "from", o.from, "to", o.to, "by",
                                     o.by ? o.by : default_person()),
                           print_roster);
        }
        if (!strcmp(c, "list")) {
                if (o.n_pos != 0)
                        return usage("list takes no arguments");
                return run(json_pack("{s:s}", "cmd", "list"), print_list);
        }
        if (!strcmp(c, "show") || !strcmp(c, "report")) {
                if (o.n_pos != 1)
                        return usage("an activation id or reply code is needed");
                report_csv = o.csv;
                /* Digits are a reply code, as for reply. */
                bool is_code = strspn(o.pos[0], "0123456789") == strlen(o.pos[0]);
                return run(json_pack("{s:s, s:s}", "cmd", c, is_code ? "code" : "activation", o.pos[0]),
                           !strcmp(c, "show") ? print_show : print_report);
        }
        return -1;
}

/* ---- follow-up ---- */

static void print_case(json_t *o) {
        printf("Case %s: %s, level %" JSON_INTEGER_FORMAT ", due %s, reminders: %s", jstr(o, "case"), jstr(o, "state"),
               json_integer_value(json_object_get(o, "level")), jstr(o, "due"), jstr(o, "stage"));
        if (json_is_string(json_object_get(o, "code")))
                printf(" (reply code %s)", jstr(o, "code"));
        printf("\n");
        if (json_is_string(json_object_get(o, "next_action")))
                printf("Next: %s at %s\n", json_object_get(o, "next_action_kind") ? jstr(o, "next_action_kind") : "action",
                       jstr(o, "next_action"));
        if (json_is_true(json_object_get(o, "task")))
                printf("Task: check the care situation of the children\n");
        /* Factors by name; one no longer in followup.factors by its id. */
        json_t *fs = json_object_get(o, "factors"), *names = json_object_get(o, "factor_names"), *fv;
        size_t fi;
        json_array_foreach(fs, fi, fv) {
                const char *name = json_string_value(json_object_get(names, json_string_value(fv)));
                if (name)
                        printf("%s%s (%s)", fi ? ", " : "Factors: ", name, json_string_value(fv));
                else
                        printf("%s%s (not in followup.factors)", fi ? ", " : "Factors: ", json_string_value(fv));
        }
        if (json_array_size(fs))
                printf("\n");
        if (json_is_string(json_object_get(o, "responsible")))
                printf("Responsible contact person: %s\n", jstr(o, "responsible"));
        if (json_is_true(json_object_get(o, "coordinator_told")))
                printf("The coordinator has been told.\n");
        json_t *h = json_object_get(o, "history"), *e;
        size_t i;
        if (json_array_size(h))
                printf("\n%-20s %-10s %-10s %-12s %s\n", "WHEN", "BY", "OUTCOME", "NEXT", "LEVEL");
        json_array_foreach(h, i, e) {
                json_t *ts = json_object_get(e, "ts");
                printf("%-20s %-10s %-10s %-12s %" JSON_INTEGER_FORMAT " -> %" JSON_INTEGER_FORMAT "\n",
                       json_is_string(ts) ? json_string_value(ts) : "-", jstr(e, "by"), jstr(e, "outcome"),
                       jstr(e, "next"), json_integer_value(json_object_get(e, "level_before")),
                       json_integer_value(json_object_get(e, "level_after")));
        }
}

static void print_due(json_t *o) {
        json_t *arr = json_object_get(o, "cases"), *c;
        size_t i;
        printf("Work list for %s: %" JSON_INTEGER_FORMAT " case(s)\n", jstr(o, "date"),
               json_integer_value(json_object_get(o, "count")));
        if (json_array_size(arr))
                printf("%-14s %-10s %-5s %-11s %-10s %s\n", "CASE", "STATE", "LEVEL", "DUE", "STAGE", "CONTACTS");
        json_array_foreach(arr, i, c) {
                char contacts[160] = "";
                json_t *ct = json_object_get(c, "contacts"), *p;
                size_t k;
                json_array_foreach(ct, k, p) {
                        size_t l = strlen(contacts);
                        snprintf(contacts + l, sizeof(contacts) - l, "%s%s", l ? "," : "", json_string_value(p));
                }
                const char *resp = json_string_value(json_object_get(c, "responsible"));
                printf("%-14s %-10s %-5" JSON_INTEGER_FORMAT " %-11s %-10s %s%s%s%s%s\n", jstr(c, "case"),
                       jstr(c, "state"), json_integer_value(json_object_get(c, "level")), jstr(c, "due"),
                       jstr(c, "stage"), contacts, resp ? " (responsible: " : "", resp ? resp : "", resp ? ")" : "",
                       json_is_true(json_object_get(c, "overdue")) ? "  OVERDUE" : "");
                if (json_is_true(json_object_get(c, "covering")))
                        printf("%-14s   (not a contact person: covering for the ones away)\n", "");
                /* Who is away when the next reminder goes, and who covers. */
                json_t *cov = json_object_get(c, "covered"), *x;
                json_array_foreach(cov, k, x) {
                        const char *by = json_string_value(json_object_get(x, "covered_by"));
                        printf("%-14s   %s is away until %s: %s%s\n", "", jstr(x, "contact"), jstr(x, "until"),
                               by ? "covered by " : "nobody covers (no coordinator), reminded anyway",
                               by ? by : "");
                }
        }
}

static void print_cases(json_t *o) {
        json_t *arr = json_object_get(o, "cases"), *c;
        size_t i;
        printf("%" JSON_INTEGER_FORMAT " %s case(s)%s\n", json_integer_value(json_object_get(o, "count")),
               jstr(o, "state"), json_is_true(json_object_get(o, "truncated")) ? " (the first ones only)" : "");
        if (json_array_size(arr))
                printf("%-14s %-10s %-5s %-11s %s\n", "CASE", "STATE", "LEVEL", "DUE", "CONTACTS");
        json_array_foreach(arr, i, c) {
                char contacts[160] = "";
                json_t *ct = json_object_get(c, "contacts"), *p;
                size_t k;
                json_array_foreach(ct, k, p) {
                        size_t l = strlen(contacts);
                        snprintf(contacts + l, sizeof(contacts) - l, "%s%s", l ? "," : "", json_string_value(p));
                }
                printf("%-14s %-10s %-5" JSON_INTEGER_FORMAT " %-11s %s", jstr(c, "case"), jstr(c, "state"),
                       json_integer_value(json_object_get(c, "level")), jstr(c, "due"), contacts);
                if (json_is_string(json_object_get(c, "closed")))
                        printf("  closed %s", jstr(c, "closed"));
                printf("%s\n", json_is_true(json_object_get(c, "overdue")) ? "  OVERDUE" : "");
        }
}

static void print_summary(json_t *o) {
        static const char *const keys[] = { "open", "due_today", "overdue", "escalated", "closed" };
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (json_object_get(o, keys[i]))
                        printf("%-10s %" JSON_INTEGER_FORMAT "\n", keys[i], json_integer_value(json_object_get(o, keys[i])));
        const char *k;
        json_t *v;
        printf("by level: ");
        json_object_foreach(json_object_get(o, "by_level"), k, v)
                printf(" %s=%" JSON_INTEGER_FORMAT, k, json_integer_value(v));
        printf("\nby factor:");
        json_object_foreach(json_object_get(o, "by_factor"), k, v)
                printf(" %s=%" JSON_INTEGER_FORMAT, k, json_integer_value(v));
        if (json_integer_value(json_object_get(o, "unlisted_factors")))
                printf(" (and %" JSON_INTEGER_FORMAT " case(s) with a factor not in followup.factors)",
                       json_integer_value(json_object_get(o, "unlisted_factors")));
        printf("\n");
}

/* beredctl case open|checkin|level|close|show REF ..., due, followup summary */
/* beredctl case list [--contact P] [--state S] */
static int cmd_case_list(int argc, char **argv) {
        json_t *req = json_pack("{s:s}", "cmd", "case.list");
        for (int i = 2; i < argc; i++) {
                if ((!strcmp(argv[i], "--contact") || !strcmp(argv[i], "--state")) && i + 1 < argc) {
                        json_object_set_new(req, argv[i] + 2, json_string(argv[i + 1]));
                        i++;
                } else {
                        json_decref(req);
                        if (!strcmp(argv[i], "--contact") || !strcmp(argv[i], "--state"))
                                return usagef("option %s of case list needs a value", argv[i]);
                        return usagef(argv[i][0] == '-' ? "unknown option %s for case list (it takes "
                                                          "--contact PERSON and --state open|closed|all)"
                                                        : "unexpected argument '%s' for case list",
                                      argv[i]);
                }
        }
        return run(req, print_cases);
}

static int cmd_followup(int argc, char **argv) {
        const char *c = argv[0];
        if (!strcmp(c, "due")) {
                json_t *req = json_pack("{s:s}", "cmd", "due");
                for (int i = 1; i < argc; i++) {
                        if (!strcmp(argv[i], "--overdue"))
                                json_object_set_new(req, "overdue", json_true());
                        else if (!strcmp(argv[i], "--contact") && i + 1 < argc)
                                json_object_set_new(req, "contact", json_string(argv[++i]));
                        else {
                                json_decref(req);
                                if (!strcmp(argv[i], "--contact"))
                                        return usagef("option %s of %s needs a value", argv[i], c);
                                return usagef(argv[i][0] == '-' ? "unknown option %s for %s (it takes --overdue "
                                                                        "and --contact PERSON)"
                                                                      : "unexpected argument '%s' for %s",
                                                    argv[i], c);
                        }
                }
                return run(req, print_due);
        }
        if (!strcmp(c, "followup")) {
                if (argc != 2 || strcmp(argv[1], "summary"))
                        return usage("use: followup summary");
                return run(json_pack("{s:s}", "cmd", "followup.summary"), print_summary);
        }
        if (strcmp(c, "case"))
                return -1;
        if (argc >= 2 && !strcmp(argv[1], "list"))
                return cmd_case_list(argc, argv);
        if (argc < 3)
                return usage("use: case open|checkin|level|update|close|show REF ..., or case list");
        const char *sub = argv[1], *ref = argv[2];
        json_t *req = json_pack("{s:s}", "case", ref);
        const char *by = NULL;
        json_t *contacts = json_array(), *factors = json_array();
        int level_pos = 0;
        for (int i = 3; i < argc; i++) {
                const char *a = argv[i];
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(a, "--contact") && v)
                        json_array_append_new(contacts, json_string(v)), i++;
                else if (!strcmp(a, "--factor") && v)
                        json_array_append_new(factors, json_string(v)), i++;
                else if (!strcmp(a, "--level") && v)
                        json_object_set_new(req, "level", json_integer(atoi(v))), i++;
                else if (!strcmp(a, "--due") && v)
                        json_object_set_new(req, "due", json_string(v)), i++;
                else if (!strcmp(a, "--children"))
                        json_object_set_new(req, "children", json_true());
                else if (!strcmp(a, "--outcome") && v)
                        json_object_set_new(req, "outcome", json_string(v)), i++;
                else if (!strcmp(a, "--next") && v)
                        json_object_set_new(req, "next", json_string(v)), i++;
                else if (!strcmp(a, "--in") && v)
                        json_object_set_new(req, "in", json_string(v)), i++;
                else if (!strcmp(a, "--postpone") && v)
                        json_object_set_new(req, "postpone", json_integer(atoi(v))), i++;
                else if (!strcmp(a, "--by") && v)
                        by = v, i++;
                else if (!strcmp(a, "--responsible") && v)
                        json_object_set_new(req, "responsible", json_string(v)), i++;
                else if (!strcmp(sub, "level") && a[0] != '-' && !level_pos)
                        json_object_set_new(req, "level", json_integer(atoi(a))), level_pos = 1;
                else {
                        static const char *const with_value[] = { "--contact", "--factor",   "--level", "--due",
                                                                  "--outcome", "--next",     "--in",    "--postpone",
                                                                  "--by",      "--responsible" };
                        bool known = false;
                        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
                                known = known || !strcmp(a, with_value[k]);
                        char what[64];
                        snprintf(what, sizeof(what), "case %s", sub);
                        json_decref(req);
                        json_decref(contacts);
                        json_decref(factors);
                        if (known)
                                return usagef("option %s of %s needs a value", a, what);
                        return usagef(a[0] == '-' ? "unknown option %s for %s" : "unexpected argument '%s' for %s",
                                            a, what);
                }
        }
        if (!strcmp(sub, "open")) {
                json_object_set_new(req, "contacts", contacts);
                if (json_array_size(factors))
                        json_object_set_new(req, "factors", factors);
                else
                        json_decref(factors);
        } else {
                json_decref(contacts);
                json_decref(factors);
        }
        static const char *const subs[][2] = { { "open", "case.open" },   { "checkin", "case.checkin" },
                                               { "level", "case.level" }, { "close", "case.close" },
                                               { "update", "case.update" }, { "show", "show" } };
        const char *cmd = NULL;
        for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
                if (!strcmp(sub, subs[i][0]))
                        cmd = subs[i][1];
        if (!cmd) {
                json_decref(req);
                return usage("use: case open|checkin|level|update|close|show REF ...");
        }
        json_object_set_new(req, "cmd", json_string(cmd));
        if (!strcmp(sub, "checkin") || !strcmp(sub, "close"))
                json_object_set_new(req, "by", json_string(by ? by : default_person()));
        return run(req, print_case);
}

/* ARGV[1..ARGC) of command CMD: one positional argument into *POS and
 * "--NAME VALUE" options, NAMES[k] into *VALS[k] (N of them); TAKES says
 * which in the error. Returns 0, or usagef()'s code. */
static int take_options(int argc, char **argv, const char *cmd, const char *const *names, const char ***vals,
                        size_t n, const char *takes, const char **pos) {
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], **dst = NULL;
                for (size_t k = 0; k < n && !dst; k++)
                        if (a[0] == '-' && a[1] == '-' && !strcmp(a + 2, names[k]))
                                dst = vals[k];
                if (!dst && a[0] == '-' && a[1])
                        return usagef("unknown option %s for %s (it takes %s)", a, cmd, takes);
                if (!dst) {
                        if (*pos)
                                return usagef("unexpected argument '%s' for %s", a, cmd);
                        *pos = a;
                        continue;
                }
                if (++i >= argc)
                        return usagef("option %s of %s needs a value", a, cmd);
                *dst = argv[i];
        }
        return 0;
}

/* ---- absences ---- */

static void print_absence(json_t *x) {
        const char *when = json_is_true(json_object_get(x, "current")) ? " (now)"
                           : json_is_true(json_object_get(x, "over"))  ? " (over)"
                                                                        : "";
        printf("%-9s %-16s %s to %s%s  [%s]", jstr(x, "id"), jstr(x, "person"), jstr(x, "from"), jstr(x, "to"), when,
               jstr(x, "source"));
        if (json_object_get(x, "note"))
                printf("  %s", jstr(x, "note"));
        printf("\n");
}

static void print_away_added(json_t *o) {
        json_t *x = json_object_get(o, "absence");
        printf("Absence %s: %s is away from %s to %s\n", jstr(x, "id"), jstr(x, "person"), jstr(x, "from"),
               jstr(x, "to"));
}

static void print_away_list(json_t *o) {
        json_t *arr = json_object_get(o, "absences"), *x;
        size_t i;
        if (json_array_size(arr) == 0) {
                printf("No absences.\n");
                return;
        }
        printf("%-9s %-16s %s\n", "ID", "PERSON", "PERIOD");
        json_array_foreach(arr, i, x)
                print_absence(x);
}

static void print_away_cancelled(json_t *o) {
        printf("Absence %s of %s cancelled\n", jstr(o, "absence"), jstr(o, "person"));
}

/* "YYYY-MM-DD" or "YYYY-MM-DD HH:MM" (or with a 'T'), as the daemon takes it. */
static bool local_time_ok(const char *s) {
        size_t n = strlen(s);
        if (n != 10 && n != 16)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool ok = i == 4 || i == 7 ? c == '-' : i == 10 ? (c == ' ' || c == 'T') : i == 13 ? c == ':'
                                                                                     : (c >= '0' && c <= '9');
                if (!ok)
                        return false;
        }
        return true;
}

static int cmd_away(int argc, char **argv) {
        if (strcmp(argv[0], "away"))
                return -1;
        if (argc >= 2 && !strcmp(argv[1], "list")) {
                json_t *req = json_pack("{s:s}", "cmd", "away.list");
                for (int i = 2; i < argc; i++) {
                        if (!strcmp(argv[i], "--person") && i + 1 < argc)
                                json_object_set_new(req, "person", json_string(argv[++i]));
                        else {
                                json_decref(req);
                                if (!strcmp(argv[i], "--person"))
                                        return usagef("option %s of away list needs a value", argv[i]);
                                return usagef(argv[i][0] == '-' ? "unknown option %s for away list (it takes --person)"
                                                                : "unexpected argument '%s' for away list",
                                              argv[i]);
                        }
                }
                return run(req, print_away_list);
        }
        if (argc >= 2 && !strcmp(argv[1], "cancel")) {
                if (argc != 3 || argv[2][0] == '-')
                        return usage("use: away cancel ID (the id from 'beredctl away list')");
                return run(json_pack("{s:s, s:s}", "cmd", "away.cancel", "absence", argv[2]), print_away_cancelled);
        }
        const char *person = NULL, *from = NULL, *to = NULL, *note = NULL;
        static const char *const names[] = { "from", "to", "note" };
        const char **vals[] = { &from, &to, &note };
        int r = take_options(argc, argv, "away", names, vals, 3, "--from, --to and --note", &person);
        if (r != 0)
                return r;
        if (!person)
                return usage("use: away PERSON --from 'YYYY-MM-DD[ HH:MM]' --to 'YYYY-MM-DD[ HH:MM]' [--note TEXT], "
                             "away list [--person P] or away cancel ID");
        if (!from)
                return usage("away needs --from 'YYYY-MM-DD[ HH:MM]'");
        if (!to)
                return usage("away needs --to 'YYYY-MM-DD[ HH:MM]'");
        if (!local_time_ok(from))
                return usagef("option --from of away: expected 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM', not '%s'", from);
        if (!local_time_ok(to))
                return usagef("option --to of away: expected 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM', not '%s'", to);
        json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "cmd", "away", "person", person, "from", from, "to", to);
        if (note)
                json_object_set_new(req, "note", json_string(note));
        return run(req, print_away_added);
}

/* The forecast: the daemon's lines (in the configuration's language), then
 * for the parts that cannot be covered, who of the chain is away (ids). */
static void print_coverage(json_t *o) {
        json_t *days = json_object_get(o, "days"), *d, *a;
        size_t i, k;
        fputs(jstr(o, "text"), stdout);
        if (json_integer_value(json_object_get(o, "unmet")) == 0)
                return;
        printf("\n%s\n", jstr(o, "summary"));
        json_array_foreach(days, i, d) {
                if (json_is_true(json_object_get(d, "met")) || json_array_size(json_object_get(d, "away")) == 0)
                        continue;
                printf("  away %s %s:", jstr(d, "date"), jstr(d, "part"));
                json_array_foreach(json_object_get(d, "away"), k, a)
                        printf(" %s", json_string_value(a));
                printf("\n");
        }
}

static bool date_ok(const char *s) {
        return strlen(s) == 10 && local_time_ok(s);
}

static int cmd_coverage(int argc, char **argv) {
        if (strcmp(argv[0], "coverage"))
                return -1;
        const char *chain = NULL, *from = NULL, *to = NULL;
        static const char *const names[] = { "from", "to" };
        const char **vals[] = { &from, &to };
        int r = take_options(argc, argv, "coverage", names, vals, 2, "--from and --to", &chain);
        if (r != 0)
                return r;
        if (!chain)
                return usage("use: coverage CHAIN --from YYYY-MM-DD --to YYYY-MM-DD");
        if (!from)
                return usage("coverage needs --from YYYY-MM-DD");
        if (!to)
                return usage("coverage needs --to YYYY-MM-DD");
        if (!date_ok(from))
                return usagef("option --from of coverage: expected 'YYYY-MM-DD', not '%s'", from);
        if (!date_ok(to))
                return usagef("option --to of coverage: expected 'YYYY-MM-DD', not '%s'", to);
        return run(json_pack("{s:s, s:s, s:s, s:s}", "cmd", "coverage", "chain", chain, "from", from, "to", to),
                   print_coverage);
}

static void print_survey_started(json_t *o) {
        json_t *sv = json_object_get(o, "survey");
        printf("survey %s (%s %s to %s) %s: %lld asked now, %lld asked before",
               jstr(sv, "survey"), jstr(sv, "period"), jstr(sv, "from"), jstr(sv, "to"),
               json_is_true(json_object_get(o, "opened")) ? "opened" : "extended",
               (long long) json_integer_value(json_object_get(o, "asked_now")),
               (long long) json_integer_value(json_object_get(o, "asked_before")));
        if (json_integer_value(json_object_get(o, "no_way_to_answer")))
                printf(", %lld without a phone or e-mail to answer with",
                       (long long) json_integer_value(json_object_get(o, "no_way_to_answer")));
        printf("\n");
}

static void print_local(const char *what, json_t *o, const char *key) {
        if (json_string_value(json_object_get(o, key)))
                printf("  %-9s %s\n", what, jstr(o, key));
}

static void print_survey_list(json_t *o) {
        json_t *sv, *p;
        size_t i, k;
        if (json_array_size(json_object_get(o, "surveys")) == 0)
                printf("no surveys\n");
        json_array_foreach(json_object_get(o, "surveys"), i, sv) {
                printf("%s  %s %s to %s  %s: %lld of %lld answered, %lld away\n", jstr(sv, "survey"), jstr(sv, "period"),
                       jstr(sv, "from"), jstr(sv, "to"), json_integer_value(json_object_get(sv, "closed_usec")) ? "closed" : "open",
                       (long long) json_integer_value(json_object_get(sv, "answered")),
                       (long long) json_integer_value(json_object_get(sv, "asked")),
                       (long long) json_integer_value(json_object_get(sv, "away")));
                print_local("opened", sv, "opened");
                print_local("reminded", sv, "reminded");
                print_local("closed", sv, "closed");
                if (!json_integer_value(json_object_get(sv, "closed_usec"))) {
                        if (!json_integer_value(json_object_get(sv, "reminded_usec")))
                                print_local("reminds", sv, "remind_at");
                        print_local("closes", sv, "close_at");
                }
                printf("  not answered:");
                int none = 1;
                json_array_foreach(json_object_get(sv, "people"), k, p)
                        if (!strcmp(jstr(p, "answer"), "none")) {
                                printf(" %s", jstr(p, "person"));
                                none = 0;
                        }
                printf("%s\n", none ? " -" : "");
        }
}

static int cmd_survey(int argc, char **argv) {
        if (strcmp(argv[0], "survey"))
                return -1;
        if (argc == 2 && !strcmp(argv[1], "list"))
                return run(json_pack("{s:s}", "cmd", "survey.list"), print_survey_list);
        const char *chain = NULL, *period = NULL, *by = NULL;
        static const char *const names[] = { "period", "by" };
        const char **vals[] = { &period, &by };
        int r = take_options(argc, argv, "survey", names, vals, 2, "--period and --by", &chain);
        if (r != 0)
                return r;
        if (!chain || !period)
                return usage("use: survey CHAIN --period NAME [--by PERSON], or survey list");
        return run(json_pack("{s:s, s:s, s:s, s:s}", "cmd", "survey", "chain", chain, "period", period, "by",
                             by ? by : default_person()),
                   print_survey_started);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c;

        socket_path = getenv("BEREDD_SOCKET");
        if (!socket_path || !*socket_path)
                socket_path = DEFAULT_SOCKET;

        /* Options may come before or after the command ("status --json"). */
        while ((c = getopt_long(argc, argv, "+s:jh", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'j':
                        json_output = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case 'V':
                        printf("beredctl %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                default:
                        fprintf(stderr, "Try 'beredctl --help'.\n");
                        return EXIT_USAGE;
                }
        if (optind >= argc) {
                help();
                return EXIT_USAGE;
        }
        int cargc = argc - optind;
        char **cargv = argv + optind;
        /* Allow trailing --json after the command's own words, and
         * "beredctl trigger --help" to mean what it says. */
        for (int i = 1; i < cargc; i++) {
                if (strcmp(cargv[i], "--help") == 0 || strcmp(cargv[i], "-h") == 0) {
                        help();
                        return EXIT_OK;
                }
                if (strcmp(cargv[i], "--json") == 0 || strcmp(cargv[i], "-j") == 0) {
                        json_output = true;
                        memmove(&cargv[i], &cargv[i + 1], (size_t) (cargc - i - 1) * sizeof(char *));
                        cargc--;
                        i--;
                }
        }

        if (strcmp(cargv[0], "status") == 0)
                return cmd_status(cargc, cargv);
        int r = cmd_activation(cargc, cargv);
        if (r < 0)
                r = cmd_away(cargc, cargv);
        if (r < 0)
                r = cmd_coverage(cargc, cargv);
        if (r < 0)
                r = cmd_survey(cargc, cargv);
        if (r < 0)
                r = cmd_followup(cargc, cargv);
        if (r >= 0)
                return r;
        fprintf(stderr, "beredctl: unknown command '%s'. Try 'beredctl --help'.\n", cargv[0]);
        return EXIT_USAGE;
}
