/* main.c - beredd: command line, logging set-up, and the server's life. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "log.h"
#include "paths.h"
#include "server.h"

#define DEFAULT_CONFIG "/etc/beredd/beredd.conf"

static void help(void) {
        printf("Usage: beredd [OPTION]...\n"
               "Alert a crisis team, remind follow-up contacts, publish status over MQTT.\n\n"
               "  -c, --config FILE    configuration file (default " DEFAULT_CONFIG ")\n"
               "      --check-config   validate the configuration, print every error, and exit\n"
               "  -f, --foreground     also log to standard error\n"
               "  -s, --socket PATH    control socket (default " DEFAULT_SOCKET ")\n"
               "  -v, --verbose        log debug messages\n"
               "  -h, --help           show this help and exit\n"
               "      --version        show the version and exit\n");
}

static int check_config(const char *path) {
        struct errlist errs = {};
        struct config *c = config_load(path, &errs);
        if (!c) {
                for (size_t i = 0; i < errs.n; i++)
                        fprintf(stderr, "%s\n", errs.v[i]);
                fprintf(stderr, "%s: %zu error%s\n", path, errs.n, errs.n == 1 ? "" : "s");
                errlist_free(&errs);
                return EXIT_FAILURE;
        }
        /* The daemon initialises libcurl (and OpenSSL with its configuration)
         * only for its first request; the unit's ExecStartPre finds a broken
         * one here instead, at start. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fprintf(stderr, "%s: libcurl (OpenSSL and its configuration) cannot be initialised: no message "
                        "could be sent\n", path);
                config_free(c);
                return EXIT_FAILURE;
        }
        curl_global_cleanup();
        printf("%s: configuration OK (site %s: %zu people, %zu chains, %zu gateways%s%s)\n", path, c->site,
               c->n_people, c->n_chains, c->n_gateways, c->followup.enabled ? ", follow-up" : "",
               c->mqtt.enabled ? ", mqtt" : "");
        config_free(c);
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        enum { ARG_CHECK = 0x100, ARG_VERSION };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, ARG_CHECK },
                { "foreground", no_argument, NULL, 'f' },
                { "socket", required_argument, NULL, 's' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        struct server_options o = { .config_path = DEFAULT_CONFIG, .socket_path = DEFAULT_SOCKET };
        bool check = false, verbose = false;
        int c;

        while ((c = getopt_long(argc, argv, "c:fs:vh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        o.config_path = optarg;
                        break;
                case ARG_CHECK:
                        check = true;
                        break;
                case 'f':
                        o.foreground = true;
                        break;
                case 's':
                        o.socket_path = optarg;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case ARG_VERSION:
                        printf("beredd %s\n", PACKAGE_VERSION);
                        return EXIT_SUCCESS;
                default:
                        fprintf(stderr, "Try 'beredd --help'.\n");
                        return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "beredd: unexpected argument '%s'. Try 'beredd --help'.\n", argv[optind]);
                return 2;
        }

        if (check)
                return check_config(o.config_path);

        log_setup(o.foreground, verbose ? LOG_DEBUG : LOG_INFO);

        struct server *s;
        if (server_new(&o, &s) < 0)
                return EXIT_FAILURE;
        int r = server_run(s);
        server_free(s);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
