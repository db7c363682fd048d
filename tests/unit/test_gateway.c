/* test_gateway.c - the gateways against real servers on loopback.
 *
 * Nothing is mocked: a real sd_event loop drives libcurl, and the peers are
 * tests/integration/fake-sms.py (generic HTTP, Twilio and Link Mobility
 * profiles, with fault injection) and tests/integration/fake-smtp.py, started
 * per test on a free port and killed by PID in the teardown. The scripts are
 * found through $top_srcdir (exported by `make check`), else relative to this
 * source file. Retries wait BEREDD_GW_BACKOFF_MS=10 ms.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "gateway.h"
#include "log.h"
#include "macro.h"
#include "store.h"
#include "text.h"
#include "test.h"

#define MAX_RESULTS 512
#define MAX_SERVERS 4
#define TEXT_NO "Møt på rådhuset & \"ta med\""

struct result {
        char key[64];
        enum gw_result result;
        char gateway[32];
        char error[256];
        char ref[64];
};

struct server {
        pid_t pid;
        int port;
        char log[PATH_MAX];
};

struct fixture {
        char dir[PATH_MAX / 2];
        sd_event *e;
        struct store *store;
        struct gateways *g;
        struct config cfg;
        struct gateway gws[4];
        struct server srv[MAX_SERVERS];
        size_t n_srv;
        struct result res[MAX_RESULTS];
        size_t n_res;
        bool in_send;
};

static struct fixture *F; /* for the callback's sanity check */

/* ---- helpers ---- */

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void script_path(const char *name, char *buf, size_t len) {
        const char *top = getenv("top_srcdir");

        if (top && *top) {
                snprintf(buf, len, "%s/tests/integration/%s", top, name);
                if (access(buf, R_OK) == 0)
                        return;
        }
        char file[PATH_MAX];
        snprintf(file, sizeof(file), "%s", __FILE__);
        snprintf(buf, len, "%s/../integration/%s", dirname(file), name);
}

/* Start SCRIPT with ARGS (NULL-terminated) and wait for its port file. */
static struct server *start_server(struct fixture *f, const char *script, ...) {
        struct server *s;
        char path[PATH_MAX], portfile[PATH_MAX], *argv[40];
        size_t n = 0;
        va_list ap;

        assert_true(f->n_srv < MAX_SERVERS);
        s = &f->srv[f->n_srv];
        script_path(script, path, sizeof(path));
        char dir[sizeof(f->dir)];
        memcpy(dir, f->dir, sizeof(dir));
        snprintf(s->log, sizeof(s->log), "%s/%s.%zu.log", dir, script, f->n_srv);
        snprintf(portfile, sizeof(portfile), "%s/%s.%zu.port", dir, script, f->n_srv);
        argv[n++] = (char *) "python3";
        argv[n++] = path;
        argv[n++] = (char *) "--port=0";
        argv[n++] = (char *) "--port-file";
        argv[n++] = portfile;
        argv[n++] = (char *) "--log";
        argv[n++] = s->log;
        va_start(ap, script);
        for (const char *a; (a = va_arg(ap, const char *)) && n < ELEMENTSOF(argv) - 1;)
                argv[n++] = (char *) a;
        va_end(ap);
        argv[n] = NULL;

        s->pid = fork();
        assert_true(s->pid >= 0);
        if (s->pid == 0) {
                execvp("python3", argv);
                _exit(127);
        }
        f->n_srv++;
        for (int i = 0; i < 500; i++) { /* 10 s */
                FILE *p = fopen(portfile, "re");
                if (p) {
                        int ok = fscanf(p, "%d", &s->port);
                        fclose(p);
                        if (ok == 1 && s->port > 0)
                                return s;
                }
                int st;
                if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
                        s->pid = 0;
                        fail_msg("%s exited before listening", script);
                }
                usleep(20000);
        }
        fail_msg("%s did not start", script);
        return NULL;
}

static void stop_servers(struct fixture *f) {
        for (size_t i = 0; i < f->n_srv; i++) {
                pid_t pid = f->srv[i].pid;
                int st;
                if (pid <= 0)
                        continue;
                kill(pid, SIGTERM);
                for (int k = 0; k < 100; k++) { /* 2 s, then SIGKILL */
                        if (waitpid(pid, &st, WNOHANG) == pid) {
                                pid = 0;
                                break;
                        }
                        usleep(20000);
                }
                if (pid > 0) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &st, 0);
                }
                f->srv[i].pid = 0;
        }
        f->n_srv = 0;
}

/* Every line of a JSON Lines log. */
static json_t *read_log(const char *path) {
        json_t *a = json_array();
        FILE *p = fopen(path, "re");
        char *line = NULL;
        size_t cap = 0;

        if (!p)
                return a;
        while (getline(&line, &cap, p) > 0) {
                json_error_t err;
                json_t *o = json_loads(line, 0, &err);
                assert_non_null(o);
                json_array_append_new(a, o);
        }
        free(line);
        fclose(p);
        return a;
}

static size_t log_count(const struct server *s) {
        json_t *a = read_log(s->log);
        size_t n = json_array_size(a);
        json_decref(a);
        return n;
}

static const char *jstr(json_t *o, const char *path) {
        /* "a.b" */
        char buf[128], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", path);
        for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
                o = json_object_get(o, k);
        return json_is_string(o) ? json_string_value(o) : NULL;
}

static void on_done(void *userdata, const char *key, enum gw_result result, const char *gateway_id, const char *error,
                    const char *provider_ref) {
        struct fixture *f = userdata;

        assert_ptr_equal(f, F);
        assert_false(f->in_send); /* never from inside gateway_send() */
        assert_true(f->n_res < MAX_RESULTS);
        struct result *r = &f->res[f->n_res++];
        snprintf(r->key, sizeof(r->key), "%s", key);
        r->result = result;
        snprintf(r->gateway, sizeof(r->gateway), "%s", gateway_id ? gateway_id : "");
        snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
        snprintf(r->ref, sizeof(r->ref), "%s", provider_ref ? provider_ref : "");
        if (result == GW_SENT)
                assert_null(error);
        else
                assert_non_null(error);
}

static struct gateway *add_gw(struct fixture *f, const char *id, enum gateway_type type, const char *url) {
        struct gateway *gw = &f->gws[f->cfg.n_gateways++];

        *gw = (struct gateway) {
                .id = (char *) id,
                .type = type,
                .channel = type == GATEWAY_FILE ? CHANNEL_ANY : type == GATEWAY_SMTP ? CHANNEL_EMAIL : CHANNEL_SMS,
                .url = (char *) url,
                .method = (char *) "POST",
                .success_min = 200,
                .success_max = 299,
                .timeout = 2 * USEC_PER_SEC,
                .retries = 3,
        };
        return gw;
}

static char *url_of(const struct server *s, const char *path) {
        char *u;
        assert_true(asprintf(&u, "http://127.0.0.1:%d%s", s->port, path) > 0);
        return u;
}

static void start_gateways(struct fixture *f) {
        assert_int_equal(gateways_new(f->e, f->store, &f->cfg, &f->g), 0);
        gateways_set_backoff(f->g, 10 * 1000);
}

static void send_msg(struct fixture *f, const char *key, enum channel ch, const char *to, const char *subject,
                 const char *text, uint64_t validity) {
        struct gw_message m = {
                .key = key, .channel = ch, .person = "kari", .to = to, .subject = subject, .text = text,
                .validity = validity,
        };
        f->in_send = true;
        assert_int_equal(gateway_send(f->g, &m, on_done, f), 0);
        f->in_send = false;
}

/* Run the loop until N results are in (or fail after TIMEOUT_S). */
static void run_until(struct fixture *f, size_t n, unsigned timeout_s) {
        uint64_t deadline = mono_usec() + timeout_s * USEC_PER_SEC;

        while (f->n_res < n) {
                assert_true(mono_usec() < deadline);
                assert_true(sd_event_run(f->e, 100 * 1000) >= 0);
        }
        assert_int_equal(f->n_res, n);
}

/* Start the gateways as configured, send one SMS to kari and wait for its result. */
static void send_one(struct fixture *f, const char *key, const char *to, const char *text, uint64_t validity) {
        start_gateways(f);
        send_msg(f, key, CHANNEL_SMS, to, NULL, text, validity);
        run_until(f, 1, 10);
}

static const struct result *result_of(struct fixture *f, const char *key) {
        for (size_t i = 0; i < f->n_res; i++)
                if (streq(f->res[i].key, key))
                        return &f->res[i];
        fail_msg("no result for %s", key);
        return NULL;
}

/* ---- fixture ---- */

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        char root[PATH_MAX];

        assert_non_null(f);
        test_dir_make(f->dir, "test-gateway");
        snprintf(root, sizeof(root), "%s/spool", f->dir);
        assert_int_equal(store_open(root, &f->store, NULL), 0);
        assert_int_equal(sd_event_new(&f->e), 0);
        f->cfg = (struct config) { .site = (char *) "test", .gateways = f->gws };
        F = f;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        gateways_free(f->g);
        stop_servers(f);
        store_free(f->store);
        sd_event_unref(f->e);
        (void) test_dir_remove(f->dir);
        F = NULL;
        free(f);
        return 0;
}

/* ---- tests ---- */

static void test_file(void **state) {
        struct fixture *f = *state;
        char path[PATH_MAX];
        json_t *o;
        DIR *d;
        size_t files = 0;

        add_gw(f, "outbox", GATEWAY_FILE, NULL);
        start_gateways(f);
        send_msg(f, "a1.k1", CHANNEL_SMS, "+4791234567", NULL, "Hei æøå, kan du møte?", 0);
        send_msg(f, "a1.k2", CHANNEL_EMAIL, "kari@kommune.no", "Møte", "Tekst", 0);
        assert_int_equal(f->n_res, 0);
        assert_int_equal(gateways_in_flight(f->g), 2);
        run_until(f, 2, 5);
        assert_int_equal(result_of(f, "a1.k1")->result, GW_SENT);
        assert_string_equal(result_of(f, "a1.k1")->gateway, "outbox");
        assert_int_equal(result_of(f, "a1.k2")->result, GW_SENT);
        assert_int_equal(gateways_in_flight(f->g), 0);

        snprintf(path, sizeof(path), "%s/spool/outbox/a1.k1.json", f->dir);
        o = json_load_file(path, 0, NULL);
        assert_non_null(o);
        assert_string_equal(jstr(o, "key"), "a1.k1");
        assert_string_equal(jstr(o, "channel"), "sms");
        assert_string_equal(jstr(o, "person"), "kari");
        assert_string_equal(jstr(o, "to"), "+4791234567");
        assert_string_equal(jstr(o, "text"), "Hei æøå, kan du møte?");
        assert_string_equal(jstr(o, "encoding"), "gsm");
        assert_int_equal(json_integer_value(json_object_get(o, "segments")), 1);
        assert_null(json_object_get(o, "subject"));
        assert_non_null(jstr(o, "ts"));
        assert_int_equal(strlen(jstr(o, "ts")), strlen("2026-01-01T00:00:00.000Z"));
        json_decref(o);

        snprintf(path, sizeof(path), "%s/spool/outbox/a1.k2.json", f->dir);
        o = json_load_file(path, 0, NULL);
        assert_non_null(o);
        assert_string_equal(jstr(o, "channel"), "email");
        assert_string_equal(jstr(o, "subject"), "Møte");
        assert_null(json_object_get(o, "segments"));
        json_decref(o);

        /* A resend after a crash: the same key is sent, without a second file. */
        send_msg(f, "a1.k1", CHANNEL_SMS, "+4791234567", NULL, "Hei æøå, kan du møte?", 0);
        run_until(f, 3, 5);
        assert_int_equal(f->res[2].result, GW_SENT);
        snprintf(path, sizeof(path), "%s/spool/outbox", f->dir);
        d = opendir(path);
        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        files++;
        closedir(d);
        assert_int_equal(files, 2);

        /* Refused at once: bad key, no gateway for nothing. */
        struct gw_message bad = { .key = "../x", .channel = CHANNEL_SMS, .to = "+47", .text = "x" };
        assert_int_equal(gateway_send(f->g, &bad, on_done, f), -EINVAL);
}

static void test_no_gateway(void **state) {
        struct fixture *f = *state;
        struct gw_message m = { .key = "k", .channel = CHANNEL_EMAIL, .person = "kari", .to = "a@b.no", .text = "x" };

        add_gw(f, "sms", GATEWAY_HTTP, "http://127.0.0.1:9/")->body = (char *) "x";
        start_gateways(f);
        assert_int_equal(gateway_send(f->g, &m, on_done, f), -ENOENT);
}

static void test_http_json(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *url = url_of(s, "/api/send?to={to}&ref={ref}");
        struct header_kv hdr[] = { { (char *) "X-Api-Key", (char *) "abc123" },
                                   { (char *) "Idempotency-Key", (char *) "\"{ref}\"" } };
        struct gateway *gw = add_gw(f, "json", GATEWAY_HTTP, url);
        json_t *a, *r;

        gw->body = (char *) "{{\"to\":\"{to}\",\"text\":\"{text}\",\"from\":\"{from}\",\"ttl\":{validity}}";
        gw->content_type = (char *) "application/json";
        gw->from = (char *) "Kriseteam";
        gw->headers = hdr;
        gw->n_headers = 2;
        send_one(f, "a2.k1", "+4791234567", TEXT_NO, 5 * USEC_PER_MIN);
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_string_equal(f->res[0].gateway, "json");

        a = read_log(s->log);
        assert_int_equal(json_array_size(a), 1);
        r = json_array_get(a, 0);
        assert_string_equal(jstr(r, "method"), "POST");
        assert_string_equal(jstr(r, "path"), "/api/send");
        assert_string_equal(jstr(r, "query.to"), "+4791234567");
        assert_string_equal(jstr(r, "query.ref"), "a2.k1");
        assert_string_equal(jstr(r, "headers.Content-Type"), "application/json");
        assert_string_equal(jstr(r, "headers.X-Api-Key"), "abc123");
        /* header values are templates: an idempotency key as the IETF draft writes it */
        assert_string_equal(jstr(r, "headers.Idempotency-Key"), "\"a2.k1\"");
        /* one request id per attempt: <16 hex digits of this process>.<n> */
        const char *rid = jstr(r, "headers.X-Request-Id");
        assert_non_null(rid);
        assert_int_equal(strspn(rid, "0123456789abcdef"), 16);
        assert_int_equal(rid[16], '.');
        assert_true(rid[17] >= '1' && rid[17] <= '9');
        assert_true(strncmp(jstr(r, "headers.User-Agent"), "beredd/", 7) == 0);
        assert_null(json_object_get(json_object_get(r, "headers"), "Expect"));
        assert_string_equal(jstr(r, "json.text"), TEXT_NO);
        assert_string_equal(jstr(r, "json.to"), "+4791234567");
        assert_string_equal(jstr(r, "json.from"), "Kriseteam");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "json"), "ttl")), 300);
        json_decref(a);
}

static void test_http_form_and_get(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--reply", "OK: queued", NULL);
        _cleanup_free_ char *url = url_of(s, "/form");
        _cleanup_free_ char *url2 = url_of(s, "/get?user=u&to={to}&msg={text}");
        struct gateway *gw = add_gw(f, "form", GATEWAY_HTTP, url);
        json_t *a, *r;

        gw->body = (char *) "to={to}&msg={text}&ref={ref}";
        gw->content_type = (char *) "application/x-www-form-urlencoded";
        gw->username = (char *) "user";
        gw->password = (char *) "pass word";
        gw->success_match = (char *) "OK";
        send_one(f, "a3.k1", "+4791234567", TEXT_NO, 0);
        assert_int_equal(f->res[0].result, GW_SENT);

        /* The same server as a GET gateway, after a reload. */
        gateways_free(f->g);
        f->g = NULL;
        f->cfg.n_gateways = 0;
        gw = add_gw(f, "get", GATEWAY_HTTP, url2);
        gw->method = (char *) "GET";
        start_gateways(f);
        send_msg(f, "a3.k2", CHANNEL_SMS, "+4791234567", NULL, TEXT_NO, 0);
        run_until(f, 2, 10);
        assert_int_equal(f->res[1].result, GW_SENT);

        a = read_log(s->log);
        assert_int_equal(json_array_size(a), 2);
        r = json_array_get(a, 0);
        assert_string_equal(jstr(r, "method"), "POST");
        assert_string_equal(jstr(r, "headers.Content-Type"), "application/x-www-form-urlencoded");
        assert_string_equal(jstr(r, "form.msg"), TEXT_NO);
        assert_string_equal(jstr(r, "form.to"), "+4791234567");
        assert_string_equal(jstr(r, "form.ref"), "a3.k1");
        /* & and " are escaped, so the form has exactly three fields */
        assert_int_equal(json_object_size(json_object_get(r, "form")), 3);
        assert_string_equal(json_string_value(json_array_get(json_object_get(r, "auth"), 0)), "user");
        assert_string_equal(json_string_value(json_array_get(json_object_get(r, "auth"), 1)), "pass word");
        r = json_array_get(a, 1);
        assert_string_equal(jstr(r, "method"), "GET");
        assert_string_equal(jstr(r, "path"), "/get");
        assert_string_equal(jstr(r, "query.msg"), TEXT_NO);
        assert_string_equal(jstr(r, "query.user"), "u");
        json_decref(a);
}

static void test_success_match(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--reply", "ERROR 17", NULL);
        _cleanup_free_ char *url = url_of(s, "/x");
        struct gateway *gw = add_gw(f, "m", GATEWAY_HTTP, url);

        gw->body = (char *) "{text}";
        gw->content_type = (char *) "text/plain";
        gw->success_match = (char *) "OK";
        gw->retries = 2;
        send_one(f, "a4.k1", "+4791234567", "hei", 0);
        assert_int_equal(f->res[0].result, GW_FAILED);
        assert_int_equal(log_count(s), 2);
        json_t *a = read_log(s->log);
        assert_string_equal(jstr(json_array_get(a, 0), "body"), "hei");
        json_decref(a);
}

static void test_twilio(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--twilio-token", "tok3n", NULL);
        _cleanup_free_ char *url = url_of(s, "/");
        struct gateway *gw = add_gw(f, "twilio", GATEWAY_TWILIO, url);
        json_t *a, *r;

        gw->account = (char *) "ACabc123";
        gw->password = (char *) "tok3n";
        gw->from = (char *) "+4759440000";
        start_gateways(f);
        send_msg(f, "a5.k1", CHANNEL_SMS, "+4791234567", NULL, TEXT_NO, 5 * USEC_PER_MIN);
        send_msg(f, "a5.k2", CHANNEL_SMS, "+4791234568", NULL, "Hei", 100 * USEC_PER_HOUR);
        run_until(f, 2, 10);
        assert_int_equal(result_of(f, "a5.k1")->result, GW_SENT);
        assert_true(strncmp(result_of(f, "a5.k1")->ref, "SM", 2) == 0);
        assert_int_equal(strlen(result_of(f, "a5.k1")->ref), 34);

        a = read_log(s->log);
        assert_int_equal(json_array_size(a), 2);
        for (size_t i = 0; i < 2; i++) {
                r = json_array_get(a, i);
                assert_string_equal(jstr(r, "method"), "POST");
                assert_string_equal(jstr(r, "path"), "/2010-04-01/Accounts/ACabc123/Messages.json");
                assert_string_equal(jstr(r, "form.From"), "+4759440000");
                assert_string_equal(json_string_value(json_array_get(json_object_get(r, "auth"), 0)), "ACabc123");
                assert_int_equal(json_integer_value(json_object_get(r, "status")), 201);
                if (streq(jstr(r, "form.To"), "+4791234567")) {
                        assert_string_equal(jstr(r, "form.Body"), TEXT_NO);
                        assert_string_equal(jstr(r, "form.ValidityPeriod"), "300");
                } else {
                        assert_string_equal(jstr(r, "form.Body"), "Hei");
                        assert_string_equal(jstr(r, "form.ValidityPeriod"), "36000"); /* clamped */
                }
        }
        json_decref(a);
}

static void test_twilio_bad_token(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--twilio-token", "right", NULL);
        struct server *b = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *url = url_of(s, ""), *urlb = url_of(b, "/b");
        struct gateway *gw = add_gw(f, "twilio", GATEWAY_TWILIO, url);

        gw->account = (char *) "ACabc123";
        gw->password = (char *) "wrong";
        gw->from = (char *) "+4759440000";
        add_gw(f, "backup", GATEWAY_HTTP, urlb)->body = (char *) "{text}";
        send_one(f, "a6.k1", "+4791234567", "Hei", 0);
        /* 401 is our configuration: no retry, straight to the next gateway. */
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_string_equal(f->res[0].gateway, "backup");
        assert_int_equal(log_count(s), 1);
        assert_int_equal(log_count(b), 1);
}

static void test_linkmobility(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--lm-user", "lmuser", "--lm-password", "lmpass", NULL);
        _cleanup_free_ char *url = url_of(s, "");
        struct gateway *gw = add_gw(f, "link", GATEWAY_LINKMOBILITY, url);
        json_t *a, *r;

        gw->account = (char *) "COMMON_API:4242";
        gw->username = (char *) "lmuser";
        gw->password = (char *) "lmpass";
        gw->from = (char *) "Kriseteam";
        gw->receipt_gate = (char *) "BEREDD01";
        send_one(f, "a7.k1", "+4791234567", TEXT_NO, 5 * USEC_PER_MIN);
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_string_equal(f->res[0].ref, "lm-1");

        a = read_log(s->log);
        assert_int_equal(json_array_size(a), 1);
        r = json_array_get(a, 0);
        assert_string_equal(jstr(r, "path"), "/sms/send");
        assert_string_equal(jstr(r, "headers.Content-Type"), "application/json");
        assert_string_equal(jstr(r, "json.source"), "Kriseteam");
        assert_string_equal(jstr(r, "json.sourceTON"), "ALPHANUMERIC");
        assert_string_equal(jstr(r, "json.destination"), "+4791234567");
        assert_string_equal(jstr(r, "json.userData"), TEXT_NO);
        assert_string_equal(jstr(r, "json.platformId"), "COMMON_API");
        assert_string_equal(jstr(r, "json.platformPartnerId"), "4242");
        assert_string_equal(jstr(r, "json.refId"), "a7.k1");
        assert_true(json_is_true(json_object_get(json_object_get(r, "json"), "useDeliveryReport")));
        assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(r, "json"), "deliveryReportGates"), 0)),
                            "BEREDD01");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "json"), "relativeValidityTime")), 300000);
        assert_int_equal(json_integer_value(json_object_get(r, "status")), 202);
        json_decref(a);
}

static void test_smtp(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-smtp.py", "--auth", "mailer:s3cret", "--reject-rcpt", "nobody@", NULL);
        _cleanup_free_ char *url = NULL;
        const char *subject = "Kriseteamet kalles inn: møt på rådhuset";
        char enc[512], want[600];
        struct gateway *gw;
        json_t *a, *r;
        const char *data;

        assert_true(asprintf(&url, "smtp://127.0.0.1:%d", s->port) > 0);
        gw = add_gw(f, "mail", GATEWAY_SMTP, url);
        gw->from = (char *) "kriseteam@kommune.no";
        gw->username = (char *) "mailer";
        gw->password = (char *) "s3cret";
        gw->starttls = false;
        start_gateways(f);
        send_msg(f, "a8.k1", CHANNEL_EMAIL, "kari@kommune.no", subject, "Hei æøå\nLinje to\n.punktum først\n", 0);
        send_msg(f, "a8.k2", CHANNEL_EMAIL, "kari@kommune.no", "Hei\r\nBcc: evil@example.com", "x", 0);
        send_msg(f, "a8.k3", CHANNEL_EMAIL, "kari@kommune.no\r\nRCPT TO:<evil@example.com>", "Hei", "x", 0);
        send_msg(f, "a8.k4", CHANNEL_EMAIL, "nobody@kommune.no", "Hei", "x", 0);
        run_until(f, 4, 10);

        assert_int_equal(result_of(f, "a8.k1")->result, GW_SENT);
        assert_int_equal(result_of(f, "a8.k2")->result, GW_UNREACHABLE);
        assert_non_null(strstr(result_of(f, "a8.k2")->error, "CR/LF"));
        assert_int_equal(result_of(f, "a8.k3")->result, GW_UNREACHABLE);
        assert_int_equal(result_of(f, "a8.k4")->result, GW_UNREACHABLE);
        assert_string_equal(result_of(f, "a8.k4")->gateway, "mail");

        a = read_log(s->log);
        assert_int_equal(json_array_size(a), 1); /* nothing of the refused ones went out */
        r = json_array_get(a, 0);
        assert_string_equal(jstr(r, "mail_from"), "kriseteam@kommune.no");
        assert_string_equal(json_string_value(json_array_get(json_object_get(r, "rcpt"), 0)), "kari@kommune.no");
        assert_string_equal(jstr(r, "auth"), "mailer");
        data = jstr(r, "data");
        assert_non_null(data);
        assert_true(text_rfc2047_encode(subject, strlen("Subject: "), enc, sizeof(enc)) > 0);
        assert_non_null(strstr(enc, "=?UTF-8?B?"));
        snprintf(want, sizeof(want), "\r\nSubject: %s\r\n", enc);
        assert_non_null(strstr(data, want));
        assert_true(strncmp(data, "Date: ", 6) == 0);
        assert_non_null(strstr(data, " +0000\r\n"));
        assert_non_null(strstr(data, "\r\nFrom: kriseteam@kommune.no\r\n"));
        assert_non_null(strstr(data, "\r\nTo: kari@kommune.no\r\n"));
        /* under the domain of from; the key is not in it */
        const char *mid = strstr(data, "\r\nMessage-ID: <beredd.");
        assert_non_null(mid);
        assert_true(strncmp(mid + strlen("\r\nMessage-ID: <beredd.") + 32, "@kommune.no>\r\n", 14) == 0);
        assert_non_null(strstr(data, "\r\nMIME-Version: 1.0\r\n"));
        assert_non_null(strstr(data, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
        assert_non_null(strstr(data, "\r\nContent-Transfer-Encoding: quoted-printable\r\n"));
        assert_non_null(strstr(data, "\r\nAuto-Submitted: auto-generated\r\n"));
        assert_non_null(strstr(data, "\r\n\r\nHei =C3=A6=C3=B8=C3=A5\r\nLinje to\r\n.punktum f=C3=B8rst\r\n"));
        for (size_t i = 0; data[i]; i++)
                assert_true((unsigned char) data[i] < 0x80); /* 7-bit on the wire */
        assert_null(strstr(data, "Bcc"));
        json_decref(a);
}

/* Which SMTP refusals make the recipient unreachable and which are the
 * gateway's (fail over, trouble), against a real SMTP conversation. */
static void test_smtp_classify(void **state) {
        struct fixture *f = *state;
        static const struct {
                const char *who, *reply;
                enum gw_result want;
        } cases[] = {
                { "relay", "554 5.7.1 <{addr}>: Relay access denied", GW_SENT },
                { "helo", "504 5.5.2 <vm>: Helo command rejected: need fully-qualified hostname", GW_SENT },
                { "sender", "553 5.1.8 <kriseteam@kommune.no>: Sender address rejected: Domain not found", GW_SENT },
                { "client", "450 4.7.1 Client host rejected: cannot find your hostname", GW_SENT },
                { "plainrelay", "550 Relaying not permitted", GW_SENT },
                { "policy", "550 5.7.1 <{addr}>: Recipient address rejected: Access denied", GW_SENT },
                { "nouser", "550 5.1.1 <{addr}>: Recipient address rejected: User unknown in local recipient table",
                  GW_UNREACHABLE },
                { "nodomain", "550 5.1.2 Host or domain name not found", GW_UNREACHABLE },
                { "nullmx", "556 5.1.10 Recipient address has null MX", GW_UNREACHABLE },
                { "disabled", "550 5.2.1 Mailbox disabled", GW_UNREACHABLE },
                { "plainuser", "550 User unknown", GW_UNREACHABLE },
                { "plain553", "553 sorry, that mailbox name is not allowed", GW_UNREACHABLE },
                { "kari.nordmann", "550 5.1.1 Kari.Nordmann... User unknown", GW_UNREACHABLE },
                { "ola", "552 5.2.2 Ola Nordmann tlf 4791234568 \x1b[31mmailbox full", GW_UNREACHABLE },
        };
        const char *argv[2 * ELEMENTSOF(cases) + 1];
        char opts[ELEMENTSOF(cases)][160];
        size_t n = 0;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                snprintf(opts[i], sizeof(opts[i]), "--rcpt-reply=%s@=%s", cases[i].who, cases[i].reply);
                argv[n++] = opts[i];
        }
        argv[n] = NULL;
        struct server *s1 = start_server(f, "fake-smtp.py", argv[0], argv[1], argv[2], argv[3], argv[4], argv[5],
                                         argv[6], argv[7], argv[8], argv[9], argv[10], argv[11], argv[12], argv[13], NULL);
        struct server *s2 = start_server(f, "fake-smtp.py", NULL);
        _cleanup_free_ char *u1 = NULL, *u2 = NULL;
        char key[32], to[64];

        assert_true(asprintf(&u1, "smtp://127.0.0.1:%d", s1->port) > 0);
        assert_true(asprintf(&u2, "smtp://127.0.0.1:%d", s2->port) > 0);
        add_gw(f, "mail1", GATEWAY_SMTP, u1)->from = (char *) "kriseteam@kommune.no";
        add_gw(f, "mail2", GATEWAY_SMTP, u2)->from = (char *) "kriseteam@kommune.no";
        f->gws[1].helo = (char *) "beredd.kommune.no";
        start_gateways(f);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                snprintf(key, sizeof(key), "c.%zu", i);
                snprintf(to, sizeof(to), "%s@kommune.no", cases[i].who);
                send_msg(f, key, CHANNEL_EMAIL, to, "Hei", "x", 0);
        }
        run_until(f, ELEMENTSOF(cases), 20);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                snprintf(key, sizeof(key), "c.%zu", i);
                const struct result *r = result_of(f, key);
                print_message("%-10s -> %d via %s %s\n", cases[i].who, r->result, r->gateway, r->error);
                assert_int_equal(r->result, cases[i].want);
                assert_string_equal(r->gateway, cases[i].want == GW_SENT ? "mail2" : "mail1");
                if (r->result == GW_UNREACHABLE) {
                        assert_non_null(strstr(r->error, "RCPT TO refused: 5"));
                        assert_null(strchr(r->error, '@')); /* the echoed address is not passed on */
                }
        }
        assert_string_equal(result_of(f, "c.0")->error, "");
        /* Only the enhanced status and a word of beredd's own list reach
         * the log: never the server's words (a name, a number). */
        assert_string_equal(result_of(f, "c.6")->error, "RCPT TO refused: 550 5.1.1 (user)");
        assert_string_equal(result_of(f, "c.12")->error, "RCPT TO refused: 550 5.1.1 (user)");
        assert_string_equal(result_of(f, "c.13")->error, "RCPT TO refused: 552 5.2.2 (mailbox)");

        /* mail2 got the six, each once; its EHLO name is its helo setting,
         * mail1's the machine's FQDN or the domain of from */
        json_t *a = read_log(s2->log);
        assert_int_equal(json_array_size(a), 6);
        for (size_t i = 0; i < json_array_size(a); i++)
                assert_string_equal(jstr(json_array_get(a, i), "helo"), "beredd.kommune.no");
        json_decref(a);
        assert_int_equal(log_count(s1), 0);

        /* mail1 takes a message it may relay */
        send_msg(f, "c.ok", CHANNEL_EMAIL, "kari@kommune.no", "Hei", "x", 0);
        run_until(f, ELEMENTSOF(cases) + 1, 10);
        assert_string_equal(result_of(f, "c.ok")->gateway, "mail1");
        a = read_log(s1->log);
        assert_int_equal(json_array_size(a), 1);
        const char *helo = jstr(json_array_get(a, 0), "helo");
        assert_non_null(helo);
        assert_true(streq(helo, "kommune.no") || strchr(helo, '.'));
        json_decref(a);
}

static void test_retry_500(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--fail-first", "2", "--status", "500", NULL);
        _cleanup_free_ char *url = url_of(s, "/send");

        add_gw(f, "a", GATEWAY_HTTP, url)->body = (char *) "to={to}&text={text}";
        send_one(f, "b1.k1", "+4791234567", "Hei", 0);
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_string_equal(f->res[0].gateway, "a");
        assert_int_equal(log_count(s), 3);
}

static void test_failover_500(void **state) {
        struct fixture *f = *state;
        struct server *sa = start_server(f, "fake-sms.py", "--fail-first", "-1", "--status", "503", NULL);
        struct server *sb = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *ua = url_of(sa, "/a"), *ub = url_of(sb, "/b");

        add_gw(f, "A", GATEWAY_HTTP, ua)->body = (char *) "{text}";
        f->gws[0].retries = 2;
        add_gw(f, "B", GATEWAY_HTTP, ub)->body = (char *) "{text}";
        send_one(f, "b2.k1", "+4791234567", "Hei", 0);
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_string_equal(f->res[0].gateway, "B");
        assert_int_equal(log_count(sa), 2);
        assert_int_equal(log_count(sb), 1);
}

static void test_all_fail(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--fail-first", "-1", "--status", "500", NULL);
        _cleanup_free_ char *url = url_of(s, "/a");

        add_gw(f, "A", GATEWAY_HTTP, url)->body = (char *) "{text}";
        f->gws[0].retries = 3;
        send_one(f, "b3.k1", "+4791234567", "Hei", 0);
        assert_int_equal(f->res[0].result, GW_FAILED);
        assert_string_equal(f->res[0].gateway, "A");
        assert_non_null(strstr(f->res[0].error, "500"));
        assert_int_equal(log_count(s), 3);
}

static void test_hang_timeout(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--hang-first", "1", "--hang-seconds", "3", NULL);
        _cleanup_free_ char *url = url_of(s, "/a");
        uint64_t t0;

        add_gw(f, "A", GATEWAY_HTTP, url)->body = (char *) "{text}";
        f->gws[0].timeout = 300 * 1000;
        start_gateways(f);
        t0 = mono_usec();
        send_msg(f, "b4.k1", CHANNEL_SMS, "+4791234567", NULL, "Hei", 0);
        run_until(f, 1, 10);
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_true(mono_usec() - t0 >= 300 * 1000);
        assert_true(mono_usec() - t0 < 2 * USEC_PER_SEC);
        assert_int_equal(log_count(s), 2);
}

static void test_retry_after(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--fail-first", "1", "--status", "429", "--retry-after", "1",
                                        NULL);
        _cleanup_free_ char *url = url_of(s, "/a");
        uint64_t t0;
        json_t *a;

        add_gw(f, "A", GATEWAY_HTTP, url)->body = (char *) "{text}";
        start_gateways(f);
        t0 = mono_usec();
        send_msg(f, "b5.k1", CHANNEL_SMS, "+4791234567", NULL, "Hei", 0);
        run_until(f, 1, 10);
        assert_int_equal(f->res[0].result, GW_SENT);
        a = read_log(s->log);
        assert_int_equal(json_array_size(a), 2);
        double gap = json_real_value(json_object_get(json_array_get(a, 1), "time")) -
                     json_real_value(json_object_get(json_array_get(a, 0), "time"));
        assert_true(gap >= 0.95); /* waited the server's second, not 10 ms */
        assert_true(mono_usec() - t0 < 5 * USEC_PER_SEC);
        json_decref(a);
}

static void test_twilio_invalid_number(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--fail-first", "-1", "--status", "400", "--twilio-code",
                                        "21211", NULL);
        struct server *b = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *url = url_of(s, ""), *urlb = url_of(b, "/b");
        struct gateway *gw = add_gw(f, "twilio", GATEWAY_TWILIO, url);

        gw->account = (char *) "ACabc123";
        gw->password = (char *) "tok";
        gw->from = (char *) "+4759440000";
        add_gw(f, "backup", GATEWAY_HTTP, urlb)->body = (char *) "{text}";
        send_one(f, "b6.k1", "+4712", "Hei", 0);
        assert_int_equal(f->res[0].result, GW_UNREACHABLE);
        assert_string_equal(f->res[0].gateway, "twilio");
        assert_non_null(strstr(f->res[0].error, "21211"));
        assert_int_equal(log_count(s), 1); /* no retry */
        assert_int_equal(log_count(b), 0); /* no failover */
}

static int free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        close(fd); /* nobody listens there now */
        return ntohs(sa.sin_port);
}

static void test_refused_failover(void **state) {
        struct fixture *f = *state;
        struct server *b = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *ua = NULL, *ub = url_of(b, "/b");

        assert_true(asprintf(&ua, "http://127.0.0.1:%d/a", free_port()) > 0);
        add_gw(f, "A", GATEWAY_HTTP, ua)->body = (char *) "{text}";
        f->gws[0].retries = 2;
        add_gw(f, "B", GATEWAY_HTTP, ub)->body = (char *) "{text}";
        add_gw(f, "outbox", GATEWAY_FILE, NULL);
        send_one(f, "b7.k1", "+4791234567", "Hei", 0);
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_string_equal(f->res[0].gateway, "B");
        assert_int_equal(log_count(b), 1);

        /* B gone too: the file gateway (channel "any") is the last resort. */
        stop_servers(f);
        send_msg(f, "b7.k2", CHANNEL_SMS, "+4791234567", NULL, "Hei", 0);
        run_until(f, 2, 10);
        assert_int_equal(f->res[1].result, GW_SENT);
        assert_string_equal(f->res[1].gateway, "outbox");
}

/* ---- calls (issue 16) ---- */

#define CALL_TOKEN "0123456789abcdef0123456789abcdef"
#define CALL_TEXT "Dette er en øvelse. Dette er en utkalling av Kriseteam Nord. Møt på rådhuset & ta med \"jakke\"."

static struct gateway *add_voice_gw(struct fixture *f, const char *id, enum gateway_type type, const char *url) {
        struct gateway *gw = add_gw(f, id, type, url);

        gw->channel = CHANNEL_VOICE;
        gw->account = (char *) "ACabc123";
        gw->password = (char *) "tok3n";
        gw->from = (char *) "+4759440000";
        gw->max_calls = 10;
        gw->ring_timeout = 30 * USEC_PER_SEC;
        gw->call_limit = 3 * USEC_PER_MIN;
        gw->say_voice = (char *) "Polly.Liv";
        gw->say_voice_en = (char *) "Polly.Joanna";
        f->cfg.http.listen = (char *) "127.0.0.1:8470";
        f->cfg.http.public_url = (char *) "https://b.example";
        return gw;
}

static void send_call(struct fixture *f, const char *key, const char *to, bool en) {
        char ref[96];
        snprintf(ref, sizeof(ref), "%s.n0nce", key);
        struct gw_message m = {
                .key = key, .ref = ref, .channel = CHANNEL_VOICE, .person = "kari", .to = to, .text = CALL_TEXT,
                .token = CALL_TOKEN, .en = en,
        };
        f->in_send = true;
        assert_int_equal(gateway_send(f->g, &m, on_done, f), 0);
        f->in_send = false;
}

/* Run the loop for MSEC, for what must NOT happen in that time. */
static void run_for(struct fixture *f, unsigned msec) {
        uint64_t end = mono_usec() + msec * 1000;

        while (mono_usec() < end)
                assert_true(sd_event_run(f->e, 10 * 1000) >= 0);
}

static void test_twilio_call(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--twilio-token", "tok3n", NULL);
        _cleanup_free_ char *url = url_of(s, "");
        struct gateway *gw = add_voice_gw(f, "voice", GATEWAY_TWILIO, url);
        static const char *const fields[] = { "To", "From", "Twiml", "StatusCallback", "StatusCallbackEvent",
                                              "StatusCallbackMethod", "Timeout", "TimeLimit", "MachineDetection" };
        json_t *a, *r;

        gw->machine_detection = MACHINE_DETECTION_DETECT_MESSAGE_END;
        start_gateways(f);
        send_call(f, "a9.k1", "+4791234567", false);
        run_until(f, 1, 10);
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_string_equal(f->res[0].gateway, "voice");
        assert_true(strncmp(f->res[0].ref, "CA", 2) == 0); /* the 201's sid */
        assert_int_equal(strlen(f->res[0].ref), 34);
        assert_int_equal(gateways_calls_in_flight(f->g), 1); /* until its final status */
        assert_int_equal(gateways_in_flight(f->g), 0);

        a = read_log(s->log);
        assert_int_equal(json_array_size(a), 1);
        r = json_array_get(a, 0);
        assert_string_equal(jstr(r, "method"), "POST");
        assert_string_equal(jstr(r, "path"), "/2010-04-01/Accounts/ACabc123/Calls.json");
        assert_string_equal(jstr(r, "headers.Content-Type"), "application/x-www-form-urlencoded");
        assert_string_equal(json_string_value(json_array_get(json_object_get(r, "auth"), 0)), "ACabc123");
        assert_string_equal(json_string_value(json_array_get(json_object_get(r, "auth"), 1)), "tok3n");
        assert_string_equal(jstr(r, "form.To"), "+4791234567");
        assert_string_equal(jstr(r, "form.From"), "+4759440000");
        assert_string_equal(jstr(r, "form.StatusCallback"), "https://b.example/voice/voice/status?ref=a9.k1.n0nce");
        assert_string_equal(jstr(r, "form.StatusCallbackMethod"), "POST");
        assert_string_equal(jstr(r, "form.Timeout"), "30");
        assert_string_equal(jstr(r, "form.TimeLimit"), "180");
        assert_string_equal(jstr(r, "form.MachineDetection"), "DetectMessageEnd");
        /* exactly these fields, StatusCallbackEvent four times in order */
        json_t *l = json_object_get(r, "form_list");
        const char *events[4];
        size_t n_events = 0;
        for (size_t i = 0; i < json_array_size(l); i++) {
                const char *k = json_string_value(json_array_get(json_array_get(l, i), 0));
                bool known = false;
                for (size_t j = 0; j < ELEMENTSOF(fields); j++)
                        known |= streq(k, fields[j]);
                if (!known)
                        fail_msg("unexpected field %s", k);
                if (streq(k, "StatusCallbackEvent")) {
                        assert_true(n_events < 4);
                        events[n_events++] = json_string_value(json_array_get(json_array_get(l, i), 1));
                }
        }
        assert_int_equal(json_array_size(l), ELEMENTSOF(fields) + 3);
        assert_int_equal(n_events, 4);
        assert_string_equal(events[0], "initiated");
        assert_string_equal(events[1], "ringing");
        assert_string_equal(events[2], "answered");
        assert_string_equal(events[3], "completed");
        /* the TwiML: the text and the prompt, to the call's answer URL, in bokmål */
        const char *t = jstr(r, "form.Twiml");
        assert_true(strncmp(t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n", 50) == 0);
        assert_non_null(strstr(t, "<Gather input=\"dtmf\" numDigits=\"1\" timeout=\"8\" "
                                  "action=\"https://b.example/voice/voice/answer/" CALL_TOKEN "\" method=\"POST\">\n"
                                  "<Say language=\"nb-NO\" voice=\"Polly.Liv\">Dette er en øvelse. Dette er en utkalling av "
                                  "Kriseteam Nord. Møt på rådhuset &amp; ta med &quot;jakke&quot;. Trykk 1 hvis du kan "
                                  "komme, trykk 2 hvis du ikke kan.</Say>\n</Gather>\n"));
        assert_null(strstr(t, "+4791234567"));
        json_decref(a);

        /* English, no answering-machine detection */
        gw->machine_detection = MACHINE_DETECTION_OFF;
        send_call(f, "a9.k2", "+4791234568", true);
        run_until(f, 2, 10);
        assert_int_equal(f->res[1].result, GW_SENT);
        a = read_log(s->log);
        r = json_array_get(a, 1);
        assert_null(json_object_get(json_object_get(r, "form"), "MachineDetection"));
        assert_non_null(strstr(jstr(r, "form.Twiml"), "<Say language=\"en-US\" voice=\"Polly.Joanna\">"));
        assert_non_null(strstr(jstr(r, "form.Twiml"), "Press 1 if you can come, press 2 if you cannot."));
        json_decref(a);
        assert_int_equal(gateways_calls_in_flight(f->g), 2);

        /* final statuses free the slots; repeats and strangers are ignored */
        gateway_call_ended(f->g, "a9.k1");
        assert_int_equal(gateways_calls_in_flight(f->g), 1);
        gateway_call_ended(f->g, "a9.k1");
        gateway_call_ended(f->g, "zz.nobody");
        assert_int_equal(gateways_calls_in_flight(f->g), 1);
        gateway_call_ended(f->g, "a9.k2");
        assert_int_equal(gateways_calls_in_flight(f->g), 0);

        unsigned served, down;
        gateways_channel_health(f->g, CHANNEL_VOICE, &served, &down);
        assert_int_equal(served, 1);
        assert_int_equal(down, 0);
        gateways_channel_health(f->g, CHANNEL_SMS, &served, &down);
        assert_int_equal(served, 0);

        /* a call needs its token */
        struct gw_message bad = { .key = "a9.k3", .channel = CHANNEL_VOICE, .to = "+4791234567", .text = "x" };
        assert_int_equal(gateway_send(f->g, &bad, on_done, f), -EINVAL);
        /* and only goes through voice gateways */
        struct gw_message sms = { .key = "a9.k4", .channel = CHANNEL_SMS, .to = "+4791234567", .text = "x" };
        assert_int_equal(gateway_send(f->g, &sms, on_done, f), -ENOENT);
}

/* max_calls = 2 and five calls: two requests, the others wait in order
 * until a call ends; then one more each time. */
static void test_max_calls(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *url = url_of(s, "");
        char key[32];

        struct gateway *gw = add_voice_gw(f, "voice", GATEWAY_TWILIO, url);

        gw->max_calls = 2;
        /* Waiting for a line is not waiting for the server: the queued
         * calls outlive the request timeout without failing. */
        gw->timeout = 500 * 1000;
        start_gateways(f);
        for (int i = 1; i <= 5; i++) {
                snprintf(key, sizeof(key), "b1.k%d", i);
                send_call(f, key, "+4791234567", false);
        }
        run_until(f, 2, 10);
        run_for(f, 700);
        assert_int_equal(log_count(s), 2);
        assert_int_equal(f->n_res, 2);
        assert_int_equal(gateways_calls_in_flight(f->g), 2);
        assert_int_equal(gateways_in_flight(f->g), 3);
        assert_int_equal(gateways_waiting(f->g), 0); /* busy, not failing */

        gateway_call_ended(f->g, "b1.k2");
        run_until(f, 3, 10);
        run_for(f, 100);
        assert_int_equal(log_count(s), 3);
        gateway_call_ended(f->g, "b1.k1");
        gateway_call_ended(f->g, "b1.k3");
        run_until(f, 5, 10);
        assert_int_equal(log_count(s), 5);
        assert_int_equal(gateways_calls_in_flight(f->g), 2);

        /* in the order they were sent: k1 and k2 together (the server logs
         * them as they come), then k3, then k4 and k5 */
        static const char *const turn[5][2] = { { "k1.", "k2." }, { "k1.", "k2." }, { "k3.", "k3." },
                                                 { "k4.", "k5." }, { "k4.", "k5." } };
        json_t *a = read_log(s->log);
        for (size_t i = 0; i < 5; i++) {
                const char *cb = jstr(json_array_get(a, i), "form.StatusCallback");
                assert_non_null(cb);
                assert_true(strstr(cb, turn[i][0]) || strstr(cb, turn[i][1]));
        }
        json_decref(a);
        for (size_t i = 0; i < 5; i++) {
                snprintf(key, sizeof(key), "b1.k%zu", i + 1);
                assert_int_equal(result_of(f, key)->result, GW_SENT);
        }
        /* the first three in turn; k4 and k5 went together */
        assert_string_equal(f->res[2].key, "b1.k3");

        /* a reload keeps the slots counted; a bigger max_calls lets more go */
        for (int i = 6; i <= 8; i++) {
                snprintf(key, sizeof(key), "b1.k%d", i);
                send_call(f, key, "+4791234567", false);
        }
        run_for(f, 200);
        assert_int_equal(log_count(s), 5);
        f->gws[0].max_calls = 4;
        gateways_set_config(f->g, &f->cfg);
        run_until(f, 7, 10);
        run_for(f, 100);
        assert_int_equal(log_count(s), 7);
        assert_int_equal(gateways_calls_in_flight(f->g), 4);
        assert_int_equal(gateways_in_flight(f->g), 1);
}

/* A failed attempt gives its slot back at once: an invalid number is
 * unreachable by voice, a refused geo permission fails over. */
static void test_call_refused(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--fail-first", "1", "--status", "400", "--twilio-code",
                                        "13224", NULL);
        struct server *b = start_server(f, "fake-sms.py", "--fail-first", "1", "--status", "400", "--twilio-code",
                                        "21215", NULL);
        _cleanup_free_ char *url = url_of(s, ""), *urlb = url_of(b, "");

        add_voice_gw(f, "voice", GATEWAY_TWILIO, url)->max_calls = 1;
        start_gateways(f);
        send_call(f, "c1.k1", "+4791234567", false);
        send_call(f, "c1.k2", "+4791234568", false);
        run_until(f, 2, 10);
        assert_int_equal(result_of(f, "c1.k1")->result, GW_UNREACHABLE);
        assert_non_null(strstr(result_of(f, "c1.k1")->error, "Twilio error 13224"));
        assert_int_equal(result_of(f, "c1.k2")->result, GW_SENT);
        assert_int_equal(log_count(s), 2);
        assert_int_equal(gateways_calls_in_flight(f->g), 1);

        /* geo permissions: the gateway's fault, the next one places it */
        gateways_free(f->g);
        f->g = NULL;
        f->cfg.n_gateways = 0;
        f->n_res = 0;
        add_voice_gw(f, "geo", GATEWAY_TWILIO, urlb);
        add_voice_gw(f, "fvoice", GATEWAY_FILE, NULL);
        start_gateways(f);
        send_call(f, "c2.k1", "+4791234567", false);
        run_until(f, 1, 10);
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_string_equal(f->res[0].gateway, "fvoice");
        assert_int_equal(log_count(b), 1); /* no retry on the same gateway */
        unsigned served, down;
        gateways_channel_health(f->g, CHANNEL_VOICE, &served, &down);
        assert_int_equal(served, 2);
        assert_int_equal(down, 1);
        assert_int_equal(gateways_calls_in_flight(f->g), 0); /* a file gateway places no call */

        /* a voice gateway down: the call waits for the next round, counted
         * on the voice channel, without holding a line */
        struct server *d = start_server(f, "fake-sms.py", "--fail-first", "-1", "--status", "503", NULL);
        _cleanup_free_ char *urld = url_of(d, "");
        gateways_free(f->g);
        f->g = NULL;
        f->cfg.n_gateways = 0;
        add_voice_gw(f, "down", GATEWAY_TWILIO, urld)->retries = 1;
        start_gateways(f);
        struct gw_message m = { .key = "c3.k1", .channel = CHANNEL_VOICE, .person = "kari", .to = "+4791234567",
                                .text = "x", .token = CALL_TOKEN, .keep_trying = USEC_PER_HOUR };
        assert_int_equal(gateway_send(f->g, &m, on_done, f), 0);
        uint64_t deadline = mono_usec() + 10 * USEC_PER_SEC;
        while (gateways_waiting(f->g) == 0) {
                assert_true(mono_usec() < deadline);
                assert_true(sd_event_run(f->e, 20 * 1000) >= 0);
        }
        uint64_t oldest;
        assert_int_equal(gateways_waiting_on(f->g, CHANNEL_VOICE, &oldest), 1);
        assert_int_equal(gateways_waiting_on(f->g, CHANNEL_SMS, &oldest), 0);
        gateways_channel_health(f->g, CHANNEL_VOICE, &served, &down);
        assert_int_equal(served, 1);
        assert_int_equal(down, 1);
        assert_int_equal(gateways_calls_in_flight(f->g), 0);
}

/* Without its final status a slot is free after ring_timeout + call_limit
 * + the grace ($BEREDD_CALL_GRACE_MS, 60 s in production). */
static void test_call_slot_expiry(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *url = url_of(s, "");
        struct gateway *gw = add_voice_gw(f, "voice", GATEWAY_TWILIO, url);

        gw->max_calls = 1;
        gw->ring_timeout = gw->call_limit = 0;
        setenv("BEREDD_CALL_GRACE_MS", "300", 1);
        start_gateways(f);
        unsetenv("BEREDD_CALL_GRACE_MS");
        uint64_t t0 = mono_usec();
        send_call(f, "d2.k1", "+4791234567", false);
        send_call(f, "d2.k2", "+4791234567", false);
        run_until(f, 1, 10);
        assert_int_equal(gateways_calls_in_flight(f->g), 1);
        run_until(f, 2, 10);
        assert_true(mono_usec() - t0 >= 300 * 1000);
        assert_int_equal(log_count(s), 2);
        assert_int_equal(gateways_calls_in_flight(f->g), 1);
}

static bool not_wanted(void *userdata, const char *key) {
        (void) userdata;
        return !streq(key, "d3.k2");
}

/* A call that waited for a line is asked whether it is still wanted. */
static void test_call_not_wanted(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *url = url_of(s, "");

        add_voice_gw(f, "voice", GATEWAY_TWILIO, url)->max_calls = 1;
        start_gateways(f);
        for (int i = 1; i <= 3; i++) {
                char key[16];
                snprintf(key, sizeof(key), "d3.k%d", i);
                struct gw_message m = { .key = key, .channel = CHANNEL_VOICE, .person = "kari", .to = "+4791234567",
                                        .text = "x", .token = CALL_TOKEN, .wanted = not_wanted };
                assert_int_equal(gateway_send(f->g, &m, on_done, f), 0);
        }
        run_until(f, 1, 10);
        gateway_call_ended(f->g, "d3.k1");
        run_until(f, 3, 10);
        assert_int_equal(result_of(f, "d3.k2")->result, GW_FAILED);
        assert_string_equal(result_of(f, "d3.k2")->error, "no longer needed");
        assert_int_equal(result_of(f, "d3.k3")->result, GW_SENT);
        assert_int_equal(log_count(s), 2);
}

/* 100 calls through max_calls = 10, each ending as soon as it was placed
 * (its final status at once): never more than 10 in flight, and how long
 * until every request has left. */
static void test_call_fanout(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *url = url_of(s, "");
        char key[32];
        unsigned most = 0;
        size_t ended = 0;

        add_voice_gw(f, "voice", GATEWAY_TWILIO, url)->max_calls = 10;
        start_gateways(f);
        uint64_t t0 = mono_usec(), deadline = t0 + 30 * USEC_PER_SEC;
        for (int i = 0; i < 100; i++) {
                snprintf(key, sizeof(key), "h1.k%d", i);
                send_call(f, key, "+4791234567", false);
        }
        while (f->n_res < 100) {
                assert_true(mono_usec() < deadline);
                assert_true(sd_event_run(f->e, 20 * 1000) >= 0);
                if (gateways_calls_in_flight(f->g) > most)
                        most = gateways_calls_in_flight(f->g);
                for (; ended < f->n_res; ended++)
                        gateway_call_ended(f->g, f->res[ended].key);
        }
        uint64_t ms = (mono_usec() - t0) / 1000;
        for (size_t i = 0; i < f->n_res; i++)
                assert_int_equal(f->res[i].result, GW_SENT);
        assert_int_equal(log_count(s), 100);
        assert_int_equal(most, 10);
        print_message("100 calls through max_calls 10 in %" PRIu64 " ms\n", ms);
}

static void test_file_call(void **state) {
        struct fixture *f = *state;
        char path[PATH_MAX];

        add_voice_gw(f, "fvoice", GATEWAY_FILE, NULL);
        add_gw(f, "out", GATEWAY_FILE, NULL); /* "any": SMS and e-mail, never calls */
        start_gateways(f);
        send_call(f, "e1.k1", "+4791234567", true);
        run_until(f, 1, 5);
        assert_int_equal(f->res[0].result, GW_SENT);
        assert_string_equal(f->res[0].gateway, "fvoice");
        snprintf(path, sizeof(path), "%s/spool/outbox/e1.k1.json", f->dir);
        json_t *o = json_load_file(path, 0, NULL);
        assert_non_null(o);
        assert_string_equal(jstr(o, "channel"), "voice");
        assert_string_equal(jstr(o, "text"), CALL_TEXT);
        assert_string_equal(jstr(o, "lang"), "en-US");
        assert_string_equal(jstr(o, "to"), "+4791234567");
        assert_non_null(strstr(jstr(o, "twiml"), "action=\"https://b.example/voice/fvoice/answer/" CALL_TOKEN "\""));
        assert_non_null(strstr(jstr(o, "twiml"), "<Say language=\"en-US\" voice=\"Polly.Joanna\">"));
        assert_null(json_object_get(o, "segments"));
        json_decref(o);
        assert_int_equal(gateways_calls_in_flight(f->g), 0);
}

static void test_http_call(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *url = url_of(s, "/call/{lang}");
        struct gateway *gw = add_voice_gw(f, "gvoice", GATEWAY_HTTP, url);

        gw->body = (char *) "to={to}&say={text}&prompt={prompt}&answer={answer_url}&status={status_url}&ref={ref}&lang={lang}";
        gw->inbound_token = (char *) "s3cret&x";
        start_gateways(f);
        send_call(f, "g1.k1", "+4791234567", false);
        run_until(f, 1, 10);
        assert_int_equal(f->res[0].result, GW_SENT);
        json_t *a = read_log(s->log);
        json_t *r = json_array_get(a, 0);
        assert_string_equal(jstr(r, "path"), "/call/nb-NO");
        assert_string_equal(jstr(r, "form.to"), "+4791234567");
        assert_string_equal(jstr(r, "form.say"), CALL_TEXT);
        assert_string_equal(jstr(r, "form.prompt"), "Trykk 1 hvis du kan komme, trykk 2 hvis du ikke kan.");
        assert_string_equal(jstr(r, "form.answer"), "https://b.example/voice/gvoice/answer/" CALL_TOKEN "?token=s3cret%26x");
        assert_string_equal(jstr(r, "form.status"), "https://b.example/voice/gvoice/status?ref=g1.k1.n0nce&token=s3cret%26x");
        assert_string_equal(jstr(r, "form.ref"), "g1.k1.n0nce");
        assert_string_equal(jstr(r, "form.lang"), "nb-NO");
        json_decref(a);
        assert_int_equal(gateways_calls_in_flight(f->g), 1);
}

static void test_fanout(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", NULL);
        _cleanup_free_ char *url = url_of(s, "/bulk?ref={ref}");
        char key[32];
        uint64_t t0;

        add_gw(f, "A", GATEWAY_HTTP, url)->body = (char *) "to={to}&text={text}";
        start_gateways(f);
        t0 = mono_usec();
        for (int i = 0; i < 200; i++) {
                snprintf(key, sizeof(key), "c1.k%d", i);
                send_msg(f, key, CHANNEL_SMS, "+4791234567", NULL, "Kriseteamet kalles inn. Svar JA 4821 eller NEI 4821", 0);
        }
        assert_int_equal(gateways_in_flight(f->g), 200);
        run_until(f, 200, 20);
        for (size_t i = 0; i < f->n_res; i++)
                assert_int_equal(f->res[i].result, GW_SENT);
        assert_int_equal(gateways_in_flight(f->g), 0);
        assert_int_equal(log_count(s), 200);
        print_message("200 parallel sends in %" PRIu64 " ms\n", (mono_usec() - t0) / 1000);
}

static void test_cancel(void **state) {
        struct fixture *f = *state;
        struct server *s = start_server(f, "fake-sms.py", "--hang-first", "5", "--hang-seconds", "3", NULL);
        _cleanup_free_ char *url = url_of(s, "/a");

        add_gw(f, "A", GATEWAY_HTTP, url)->body = (char *) "{text}";
        start_gateways(f);
        send_msg(f, "d1.k1", CHANNEL_SMS, "+4791234567", NULL, "Hei", 0);
        send_msg(f, "d1.k2", CHANNEL_SMS, "+4791234567", NULL, "Hei", 0);
        for (int i = 0; i < 20; i++)
                assert_true(sd_event_run(f->e, 10 * 1000) >= 0);
        assert_int_equal(gateways_in_flight(f->g), 2);
        gateways_free(f->g); /* cancels; no callbacks */
        f->g = NULL;
        assert_int_equal(f->n_res, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_gateway, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_form_and_get, setup, teardown),
                cmocka_unit_test_setup_teardown(test_success_match, setup, teardown),
                cmocka_unit_test_setup_teardown(test_twilio, setup, teardown),
                cmocka_unit_test_setup_teardown(test_twilio_bad_token, setup, teardown),
                cmocka_unit_test_setup_teardown(test_linkmobility, setup, teardown),
                cmocka_unit_test_setup_teardown(test_smtp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_smtp_classify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_500, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failover_500, setup, teardown),
                cmocka_unit_test_setup_teardown(test_all_fail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hang_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
                cmocka_unit_test_setup_teardown(test_twilio_invalid_number, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_failover, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fanout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
                cmocka_unit_test_setup_teardown(test_twilio_call, setup, teardown),
                cmocka_unit_test_setup_teardown(test_max_calls, setup, teardown),
                cmocka_unit_test_setup_teardown(test_call_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_call_slot_expiry, setup, teardown),
                cmocka_unit_test_setup_teardown(test_call_not_wanted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_call_fanout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_call, setup, teardown),
                cmocka_unit_test_setup_teardown(test_http_call, setup, teardown),
        };

        setenv("BEREDD_GW_BACKOFF_MS", "10", 1);
        signal(SIGPIPE, SIG_IGN);
        log_setup(getenv("BEREDD_TEST_VERBOSE") != NULL, getenv("BEREDD_TEST_VERBOSE") ? LOG_DEBUG : LOG_WARNING);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
