/* beredctl - command-line client for beredd's control socket.
 *
 * Exit status: 0 ok, 1 refused by the daemon, 2 usage, 3 daemon unreachable. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#define DEFAULT_SOCKET "/run/beredd/control"
#define TIMEOUT_MS 15000

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static const char *socket_path;
static bool json_output;

static void help(void) {
        printf("Usage: beredctl [-s SOCKET] [--json] COMMAND [ARGS]\n\n"
               "Commands:\n"
               "  status            the daemon's state\n\n"
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
        if (strlen(socket_path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "beredctl: socket path too long: %s\n", socket_path);
                free(line);
                return EXIT_USAGE;
        }
        strcpy(sa.sun_path, socket_path);

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
        /* Allow trailing --json after the command's own words. */
        for (int i = 1; i < cargc; i++)
                if (strcmp(cargv[i], "--json") == 0 || strcmp(cargv[i], "-j") == 0) {
                        json_output = true;
                        memmove(&cargv[i], &cargv[i + 1], (size_t) (cargc - i - 1) * sizeof(char *));
                        cargc--;
                        i--;
                }

        if (strcmp(cargv[0], "status") == 0)
                return cmd_status(cargc, cargv);
        fprintf(stderr, "beredctl: unknown command '%s'. Try 'beredctl --help'.\n", cargv[0]);
        return EXIT_USAGE;
}
