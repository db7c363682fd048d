/* config.c - load and validate beredd.conf (libconfig) into struct config.
 *
 * The loader walks the libconfig tree once, section by section, and fills the
 * structs best-effort: an element with a mistake is still kept when it has an
 * id, so that one typo does not turn into a cascade of "unknown person" errors
 * further down. Whether the file is good is decided only by the error list.
 *
 * Every message is "FILE:LINE: PATH: text", where PATH is rebuilt from the
 * libconfig tree ("chains[0].steps[1].wait") so messages and the file agree. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command-kind.h"
#include "config.h"
#include "text.h"
#include "macro.h"

#define SECRET_MAX (64 * 1024)
#define ID_MAX 64

/* ---- error list ---- */

void errlist_add(struct errlist *e, const char *fmt, ...) {
        char *s = NULL, **v;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return;

        v = reallocarray(e->v, e->n + 1, sizeof(char *));
        if (!v) {
                free(s);
                return;
        }
        e->v = v;
        e->v[e->n++] = s;
}

void errlist_free(struct errlist *e) {
        if (!e)
                return;
        for (size_t i = 0; i < e->n; i++)
                free(e->v[i]);
        free(e->v);
        e->v = NULL;
        e->n = 0;
}

/* ---- names ---- */

const char *channel_name(enum channel c) {
        switch (c) {
        case CHANNEL_SMS:
                return "sms";
        case CHANNEL_EMAIL:
                return "email";
        case CHANNEL_ANY:
                return "any";
        }
        return NULL;
}

static const char *const gateway_type_names[] = {
        [GATEWAY_FILE] = "file",
        [GATEWAY_SMTP] = "smtp",
        [GATEWAY_HTTP] = "http",
        [GATEWAY_TWILIO] = "twilio",
        [GATEWAY_LINKMOBILITY] = "linkmobility",
};

const char *gateway_type_name(enum gateway_type t) {
        if ((size_t) t >= ELEMENTSOF(gateway_type_names))
                return NULL;
        return gateway_type_names[t];
}

const char *const gateway_template_names[3] = { "username", "password", "to_digits" };

static const char *const step_templates[] = { "activation", "unreachable", "standdown", "resolved" };

/* ---- pure parsers ---- */

/* "HH:MM" at *P (exactly five characters); 24:00 is allowed as an end of day.
 * Advances *P. Returns minutes since midnight, or -1. */
static int parse_hhmm(const char **p) {
        const char *s = *p;
        int h, m;

        if (!isdigit((unsigned char) s[0]) || !isdigit((unsigned char) s[1]) || s[2] != ':' ||
            !isdigit((unsigned char) s[3]) || !isdigit((unsigned char) s[4]))
                return -1;
        h = (s[0] - '0') * 10 + (s[1] - '0');
        m = (s[3] - '0') * 10 + (s[4] - '0');
        if (m > 59 || h > 24 || (h == 24 && m != 0))
                return -1;
        *p = s + 5;
        return h * 60 + m;
}

/* Day names in the order people write ranges in: Monday first. */
static const char *const day_names[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };

/* Monday-first index 0..6 -> tm_wday (0 = Sunday). */
static int mon0_to_wday(int i) {
        return (i + 1) % 7;
}

static int parse_day(const char **p) {
        for (size_t i = 0; i < ELEMENTSOF(day_names); i++)
                if (strncmp(*p, day_names[i], 3) == 0) {
                        *p += 3;
                        return (int) i;
                }
        return -1;
}

static void skip_spaces(const char **p) {
        while (**p == ' ')
                (*p)++;
}

/* "Mon-Fri 08:00-15:30, Sat 10:00-14:00", or "none". Days not named are closed. */
static int parse_office_hours(const char *s, int open_min[7], int close_min[7]) {
        const char *p = s;

        for (int d = 0; d < 7; d++)
                open_min[d] = close_min[d] = -1;
        if (streq(s, "none"))
                return 0;

        for (;;) {
                int from, to, o, c;

                skip_spaces(&p);
                from = parse_day(&p);
                if (from < 0)
                        return -EINVAL;
                to = from;
                if (*p == '-') {
                        p++;
                        to = parse_day(&p);
                        if (to < from) /* also catches to < 0; no wrapping past Sunday */
                                return -EINVAL;
                }
                if (*p != ' ')
                        return -EINVAL;
                skip_spaces(&p);
                o = parse_hhmm(&p);
                if (o < 0 || *p++ != '-')
                        return -EINVAL;
                c = parse_hhmm(&p);
                if (c < 0 || o >= c)
                        return -EINVAL;
                for (int d = from; d <= to; d++) {
                        int w = mon0_to_wday(d);
                        if (open_min[w] >= 0) /* the same day twice is a mistake */
                                return -EINVAL;
                        open_min[w] = o;
                        close_min[w] = c;
                }
                skip_spaces(&p);
                if (*p == '\0')
                        return 0;
                if (*p++ != ',')
                        return -EINVAL;
        }
}

/* A phone number as the file and sender lookups take it: digits, '+' and
 * spaces only (the configuration never took "-", "." or brackets, and a
 * sender is matched on the same terms), normalised by text_phone_e164(). */
static int phone_e164(const char *s, char out[static TEXT_E164_MAX]) {
        if (s[strspn(s, "0123456789+ ")] != '\0')
                return -EINVAL;
        return text_phone_e164(s, out, TEXT_E164_MAX);
}

static bool email_is_valid(const char *s) {
        const char *at = strchr(s, '@');

        if (!at || at == s || at[1] == '\0' || strchr(at + 1, '@'))
                return false;
        for (const char *p = s; *p; p++)
                if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
                        return false;
        return true;
}


/* The site id ends up in unit instance names and MQTT topics: keep it plain. */
static bool site_is_safe(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > ID_MAX || s[0] == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '-'))
                        return false;
        return true;
}

static bool has_ctrl(const char *s) {
        for (const char *p = s; *p; p++)
                if (iscntrl((unsigned char) *p))
                        return true;
        return false;
}

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- secrets ---- */

/* The folder secret file PATH really is in (a symlink from a safe folder
 * into an unsafe one does not make it safe) must be root's or ours and not
 * writable by group or others. 0, or -errno with the reason in ERRBUF. */
static int secret_folder_ok(const char *path, const char *name, char *errbuf, size_t errlen) {
        _cleanup_free_ char *dir = realpath(path, NULL);
        struct stat dst;

        if (!dir && !(dir = strdup(path))) {
                snprintf(errbuf, errlen, "\"%s\": out of memory", name);
                return -ENOMEM;
        }
        char *sl = strrchr(dir, '/');
        const char *folder = !sl ? "." : sl == dir ? "/" : dir;
        if (sl && sl != dir)
                *sl = '\0';
        if (stat(folder, &dst) < 0) {
                int r = negative_errno();
                snprintf(errbuf, errlen, "\"%s\": cannot stat the folder %s: %s", name, folder, strerror(-r));
                return r;
        }
        if (dst.st_uid != 0 && dst.st_uid != geteuid()) {
                snprintf(errbuf, errlen, "\"%s\": the folder %s is owned by uid %u, not by root or beredd's user (uid %u)",
                         name, folder, (unsigned) dst.st_uid, (unsigned) geteuid());
                return -EPERM;
        }
        if (dst.st_mode & 0022) {
                snprintf(errbuf, errlen, "\"%s\": the folder %s is writable by %s (mode %04o); chmod go-w it", name,
                         folder, dst.st_mode & 0002 ? "others" : "its group", (unsigned) (dst.st_mode & 07777));
                return -EPERM;
        }
        return 0;
}

static int read_secret_file(const char *path, const char *name, char **ret, char *errbuf, size_t errlen) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int r = negative_errno();
                snprintf(errbuf, errlen, "\"%s\": cannot open %s: %s", name, path, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                int r = negative_errno();
                snprintf(errbuf, errlen, "\"%s\": cannot stat %s: %s", name, path, strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(errbuf, errlen, "\"%s\": %s is not a regular file", name, path);
                return -EINVAL;
        }
        /* Whoever can replace a secret can redirect our messages or answer
         * for the team: the file must be root's or ours, writable by its
         * owner only, in a folder that nobody else can write either (a
         * sticky world-writable folder such as /tmp is refused too). */
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                snprintf(errbuf, errlen, "\"%s\": %s is owned by uid %u, not by root or beredd's user (uid %u); chown it",
                         name, path, (unsigned) st.st_uid, (unsigned) geteuid());
                return -EPERM;
        }
        if (st.st_mode & 0022) {
                snprintf(errbuf, errlen, "\"%s\": %s is writable by %s (mode %04o); chmod %04o", name, path,
                         st.st_mode & 0002 ? "others" : "its group", (unsigned) (st.st_mode & 07777),
                         (unsigned) (st.st_mode & 07700));
                return -EPERM;
        }
        int fr = secret_folder_ok(path, name, errbuf, errlen);
        if (fr < 0)
                return fr;
        /* A secret others can read is already leaked; one they can write lets
         * them redirect our messages. Refuse both rather than warn. */
        if (st.st_mode & 0007) {
                snprintf(errbuf, errlen, "\"%s\" is readable by others (mode %04o); chmod %04o", name,
                         (unsigned) (st.st_mode & 07777), (unsigned) (st.st_mode & 07770));
                return -EPERM;
        }
        if (st.st_size > SECRET_MAX) {
                snprintf(errbuf, errlen, "\"%s\" is larger than 64 KiB", name);
                return -EFBIG;
        }

        buf = malloc(SECRET_MAX + 1);
        if (!buf) {
                snprintf(errbuf, errlen, "\"%s\": out of memory", name);
                return -ENOMEM;
        }
        for (;;) {
                ssize_t k = read(fd, buf + n, SECRET_MAX + 1 - n);
                if (k < 0) {
                        int r;
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        snprintf(errbuf, errlen, "\"%s\": cannot read %s: %s", name, path, strerror(-r));
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > SECRET_MAX) {
                        snprintf(errbuf, errlen, "\"%s\" is larger than 64 KiB", name);
                        return -EFBIG;
                }
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        buf[n] = '\0';
        if (n == 0) {
                snprintf(errbuf, errlen, "\"%s\" is empty", name);
                return -EINVAL;
        }
        if (strlen(buf) != n) {
                snprintf(errbuf, errlen, "\"%s\" contains a NUL byte", name);
                return -EINVAL;
        }

        *ret = TAKE_PTR(buf);
        return 0;
}

int config_read_secret(const char *config_path, const char *name, char **ret, char *errbuf, size_t errlen) {
        _cleanup_free_ char *path = NULL;
        const char *creds, *slash;

        if (!name || !*name || streq(name, ".") || streq(name, "..") || has_ctrl(name)) {
                snprintf(errbuf, errlen, "bad secret file name");
                return -EINVAL;
        }
        if (name[0] == '/')
                return read_secret_file(name, name, ret, errbuf, errlen);
        /* A relative name is a credential name, not a path: "../x" or "a/b"
         * would escape the credentials folder. */
        if (strchr(name, '/')) {
                snprintf(errbuf, errlen, "\"%s\": a relative secret name must not contain '/'", name);
                return -EINVAL;
        }

        creds = getenv("CREDENTIALS_DIRECTORY");
        if (creds && *creds) {
                if (asprintf(&path, "%s/%s", creds, name) < 0) {
                        path = NULL;
                        snprintf(errbuf, errlen, "\"%s\": out of memory", name);
                        return -ENOMEM;
                }
                if (access(path, F_OK) == 0)
                        return read_secret_file(path, name, ret, errbuf, errlen);
                free(path);
                path = NULL;
        }

        slash = config_path ? strrchr(config_path, '/') : NULL;
        if (slash) {
                if (asprintf(&path, "%.*s/%s", (int) (slash - config_path), config_path, name) < 0)
                        path = NULL;
        } else
                path = strdup(name); /* the config file is in the working folder */
        if (!path) {
                snprintf(errbuf, errlen, "\"%s\": out of memory", name);
                return -ENOMEM;
        }
        if (access(path, F_OK) < 0 && errno == ENOENT) {
                if (creds && *creds)
                        snprintf(errbuf, errlen, "\"%s\" not found in %s nor as %s", name, creds, path);
                else
                        snprintf(errbuf, errlen, "\"%s\" not found (looked for %s)", name, path);
                return -ENOENT;
        }
        return read_secret_file(path, name, ret, errbuf, errlen);
}

/* ---- the loader: tree walking and error reporting ---- */

struct loader {
        const char *path; /* as given by the caller */
        struct errlist *errs;
        struct config *c;
        size_t n_errors; /* errors we meant to add; errs->n lags only on OOM */
        bool oom;
};

static int setting_line(const config_setting_t *s) {
        for (; s; s = config_setting_parent(s))
                if (config_setting_source_line(s) > 0)
                        return (int) config_setting_source_line(s);
        return 0;
}

static const char *setting_file(const struct loader *l, const config_setting_t *s) {
        /* Differs from l->path only for settings that came from an @include. */
        for (; s; s = config_setting_parent(s))
                if (config_setting_source_file(s))
                        return config_setting_source_file(s);
        return l->path;
}

/* "chains[0].steps[1].wait", rebuilt from the tree; "" for the root. */
static void setting_path(const config_setting_t *s, char *buf, size_t len) {
        const config_setting_t *chain[32];
        size_t depth = 0, k = 0;

        buf[0] = '\0';
        for (; s && !config_setting_is_root(s) && depth < ELEMENTSOF(chain); s = config_setting_parent(s))
                chain[depth++] = s;

        while (depth > 0 && k < len) {
                const config_setting_t *e = chain[--depth];
                int r;

                if (config_setting_name(e))
                        r = snprintf(buf + k, len - k, "%s%s", k > 0 ? "." : "", config_setting_name(e));
                else
                        r = snprintf(buf + k, len - k, "[%d]", config_setting_index(e));
                if (r < 0)
                        break;
                k += (size_t) r;
        }
}

/* PATH_S names the setting (NULL: no path prefix), LINE_S gives the line. */
static void loader_add(struct loader *l, const config_setting_t *path_s, const config_setting_t *line_s,
                       const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static void loader_add(struct loader *l, const config_setting_t *path_s, const config_setting_t *line_s,
                       const char *fmt, va_list ap) {
        char path[256], msg[1024];

        vsnprintf(msg, sizeof msg, fmt, ap);
        path[0] = '\0';
        if (path_s)
                setting_path(path_s, path, sizeof path);
        l->n_errors++;
        errlist_add(l->errs, "%s:%d: %s%s%s", setting_file(l, line_s), setting_line(line_s), path,
                    path[0] ? ": " : "", msg);
}

/* An error about setting S: "FILE:LINE: PATH: message". */
static void fail(struct loader *l, const config_setting_t *s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct loader *l, const config_setting_t *s, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        loader_add(l, s, s, fmt, ap);
        va_end(ap);
}

/* An error named after list S but placed at the line of its element E:
 * "chains[0].steps[0].notify: unknown person "per"" on the line of "per". */
static void fail_elem(struct loader *l, const config_setting_t *s, const config_setting_t *e, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void fail_elem(struct loader *l, const config_setting_t *s, const config_setting_t *e, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        loader_add(l, s, e, fmt, ap);
        va_end(ap);
}

/* The same, without the path prefix (the message names the place itself). */
static void fail_raw(struct loader *l, const config_setting_t *s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_raw(struct loader *l, const config_setting_t *s, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        loader_add(l, NULL, s, fmt, ap);
        va_end(ap);
}

static char *ldup(struct loader *l, const char *s) {
        char *r;

        if (!s)
                return NULL;
        r = strdup(s);
        if (!r)
                l->oom = true;
        return r;
}

static void *alloc_array(struct loader *l, size_t n, size_t size) {
        void *p;

        if (n == 0)
                return NULL;
        p = calloc(n, size);
        if (!p)
                l->oom = true;
        return p;
}

/* Unknown keys are errors everywhere: a misspelt "phnoe" must not silently
 * leave a person without a phone. */
static void check_keys(struct loader *l, const config_setting_t *g, const char *const *allowed) {
        char path[256];
        int n = config_setting_length(g);

        setting_path(g, path, sizeof path);
        for (int i = 0; i < n; i++) {
                const config_setting_t *m = config_setting_get_elem(g, (unsigned) i);
                const char *name = config_setting_name(m);
                bool ok = false;

                for (const char *const *a = allowed; *a; a++)
                        if (name && streq(name, *a)) {
                                ok = true;
                                break;
                        }
                if (ok)
                        continue;
                if (path[0])
                        fail_raw(l, m, "unknown setting \"%s\" in %s", name ? name : "", path);
                else
                        fail_raw(l, m, "unknown setting \"%s\"", name ? name : "");
        }
}

/* Member KEY of group G; reports a missing required one at G's line. */
static config_setting_t *member(struct loader *l, const config_setting_t *g, const char *key, bool required) {
        config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;

        if (!s && g && required)
                fail(l, g, "missing required setting \"%s\"", key);
        return s;
}

static const char *get_string(struct loader *l, const config_setting_t *g, const char *key, bool required,
                              config_setting_t **ret_s) {
        config_setting_t *s = member(l, g, key, required);

        if (ret_s)
                *ret_s = s;
        if (!s)
                return NULL;
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                fail(l, s, "expected a string");
                return NULL;
        }
        return config_setting_get_string(s);
}

/* A string with no control characters (CR/LF would let a value forge a
 * header or a second line in a message). */
static const char *get_text(struct loader *l, const config_setting_t *g, const char *key, bool required,
                            config_setting_t **ret_s) {
        config_setting_t *s;
        const char *v = get_string(l, g, key, required, &s);

        if (ret_s)
                *ret_s = s;
        if (v && (!*v || has_ctrl(v))) {
                fail(l, s, "%s", *v ? "must not contain control characters (CR, LF, ...)" : "must not be empty");
                return NULL;
        }
        return v;
}

static bool setting_is_int(const config_setting_t *s) {
        return config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64;
}

static long long get_int(struct loader *l, const config_setting_t *g, const char *key, bool required, long long min,
                         long long max, long long def, config_setting_t **ret_s) {
        config_setting_t *s = member(l, g, key, required);
        long long v;

        if (ret_s)
                *ret_s = s;
        if (!s)
                return def;
        if (!setting_is_int(s)) {
                fail(l, s, "expected an integer");
                return def;
        }
        v = config_setting_get_int64(s);
        if (v < min || v > max) {
                if (max == LLONG_MAX)
                        fail(l, s, "%lld is out of range (at least %lld)", v, min);
                else
                        fail(l, s, "%lld is out of range (%lld..%lld)", v, min, max);
                return def;
        }
        return v;
}

static bool get_bool(struct loader *l, const config_setting_t *g, const char *key, bool def, config_setting_t **ret_s) {
        config_setting_t *s = member(l, g, key, false);

        if (ret_s)
                *ret_s = s;
        if (!s)
                return def;
        if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
                fail(l, s, "expected true or false");
                return def;
        }
        return config_setting_get_bool(s);
}

static uint64_t get_duration(struct loader *l, const config_setting_t *g, const char *key, bool required,
                             uint64_t def, bool nonzero, config_setting_t **ret_s) {
        config_setting_t *s;
        const char *v = get_string(l, g, key, required, &s);
        uint64_t u;

        if (ret_s)
                *ret_s = s;
        if (!v)
                return def;
        if (parse_duration(v, &u) < 0) {
                fail(l, s, "bad duration \"%s\" (use e.g. \"90s\", \"5m\", \"1h30m\", \"14d\")", v);
                return def;
        }
        if (nonzero && u == 0) {
                fail(l, s, "must be longer than 0");
                return def;
        }
        return u;
}

static bool get_date(struct loader *l, const config_setting_t *s, struct ymd *ret) {
        const char *v;

        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                fail(l, s, "expected a string");
                return false;
        }
        v = config_setting_get_string(s);
        if (parse_date(v, ret) < 0) {
                fail(l, s, "bad date \"%s\" (use YYYY-MM-DD, e.g. \"2026-12-24\")", v);
                return false;
        }
        return true;
}

/* A list of strings: [ "a", "b" ] (array) or ( "a", "b" ) (list). Returns
 * the setting or NULL (absent or wrong type, reported). */
static config_setting_t *get_string_list(struct loader *l, const config_setting_t *g, const char *key, bool required) {
        config_setting_t *s = member(l, g, key, required);
        bool ok = true;

        if (!s)
                return NULL;
        if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST) {
                fail(l, s, "expected a list of strings, e.g. [ \"a\", \"b\" ]");
                return NULL;
        }
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                if (config_setting_type(e) != CONFIG_TYPE_STRING) {
                        fail(l, e, "expected a string");
                        ok = false;
                }
        }
        return ok ? s : NULL;
}

/* A list of groups: ( { ... }, { ... } ). An empty [] is accepted too. */
static config_setting_t *get_group_list(struct loader *l, const config_setting_t *g, const char *key, bool required) {
        config_setting_t *s = member(l, g, key, required);

        if (!s)
                return NULL;
        if (config_setting_type(s) == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0)
                return s;
        if (config_setting_type(s) != CONFIG_TYPE_LIST) {
                fail(l, s, "expected a list of groups, e.g. ( { ... }, { ... } )");
                return NULL;
        }
        return s;
}

/* Element I of a group list, or NULL when it is not a group (reported). */
static config_setting_t *group_elem(struct loader *l, const config_setting_t *list, int i) {
        config_setting_t *e = config_setting_get_elem(list, (unsigned) i);

        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
                fail(l, e, "expected a group { ... }");
                return NULL;
        }
        return e;
}

static config_setting_t *get_group(struct loader *l, const config_setting_t *g, const char *key, bool required) {
        config_setting_t *s = member(l, g, key, required);

        if (s && config_setting_type(s) != CONFIG_TYPE_GROUP) {
                fail(l, s, "expected a group { ... }");
                return NULL;
        }
        return s;
}

static const char *string_elem(const config_setting_t *list, int i) {
        return config_setting_get_string(config_setting_get_elem(list, (unsigned) i));
}

/* A string that must be one of NAMES; returns its index, or DEF. */
static int get_enum(struct loader *l, const config_setting_t *g, const char *key, bool required,
                    const char *const *names, size_t n, int def, config_setting_t **ret_s) {
        config_setting_t *s;
        const char *v = get_string(l, g, key, required, &s);
        char choices[256];
        size_t k = 0;
        int i;

        if (ret_s)
                *ret_s = s;
        if (!v)
                return def;
        i = string_table_lookup(names, n, v);
        if (i >= 0)
                return i;

        choices[0] = '\0';
        for (size_t j = 0; j < n && k < sizeof choices; j++) {
                int r = snprintf(choices + k, sizeof choices - k, "%s\"%s\"", j == 0 ? "" : j + 1 == n ? " or " : ", ",
                                 names[j]);
                if (r < 0)
                        break;
                k += (size_t) r;
        }
        fail(l, s, "unknown value \"%s\" (use %s)", v, choices);
        return def;
}

static bool id_setting(struct loader *l, const config_setting_t *g, const char **ret, config_setting_t **ret_s) {
        config_setting_t *s;
        const char *v = get_string(l, g, "id", true, &s);

        *ret_s = s;
        *ret = NULL;
        if (!v)
                return false;
        if (!id_is_safe(v)) {
                fail(l, s, "bad id \"%s\" (use up to 64 letters, digits, '.', '_' and '-')", v);
                return false;
        }
        *ret = v;
        return true;
}

static void load_secret(struct loader *l, const config_setting_t *s, const char *name, char **ret) {
        char err[512];

        if (config_read_secret(l->path, name, ret, err, sizeof err) < 0)
                fail(l, s, "%s", err);
}

/* Wipe and free a secret (NULL is fine). */
static void secret_free(char *s) {
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* ---- sections: a list of elements with ids, or one group ---- */

/* A zeroed array of SIZE-byte elements for the group list KEY of ROOT, with
 * the list in *RET_LIST and its length in *RET_N; NULL when the list is
 * absent, bad or empty, or the array cannot be had. */
static void *section_array(struct loader *l, const config_setting_t *root, const char *key, size_t size,
                           config_setting_t **ret_list, int *ret_n) {
        *ret_list = get_group_list(l, root, key, false);
        if (!*ret_list)
                return NULL;
        *ret_n = config_setting_length(*ret_list);
        return alloc_array(l, (size_t) *ret_n, size);
}

/* Element I of a section's LIST with its keys checked, or NULL when it is
 * not a group. *RET_ID is its id, or NULL when that is missing, bad or
 * taken: TAKEN_LINE(c, id) gives the line of an earlier element with that
 * id, or -1. */
static config_setting_t *section_elem(struct loader *l, const config_setting_t *list, int i, const char *const *keys,
                                      int (*taken_line)(const struct config *c, const char *id), const char **ret_id,
                                      config_setting_t **ret_sid) {
        config_setting_t *e = group_elem(l, list, i);
        int first;

        if (!e)
                return NULL;
        check_keys(l, e, keys);
        if (!id_setting(l, e, ret_id, ret_sid))
                *ret_id = NULL;
        else if ((first = taken_line(l->c, *ret_id)) >= 0) {
                fail(l, *ret_sid, "duplicate id \"%s\" (first defined at line %d)", *ret_id, first);
                *ret_id = NULL;
        }
        return e;
}

/* The line an element is reported at: its id's, else its own. */
static int elem_line(const config_setting_t *e, const config_setting_t *sid) {
        return sid ? setting_line(sid) : setting_line(e);
}

#define LINE_OF(x) ((x) ? (x)->line : -1)

static int person_line(const struct config *c, const char *id) {
        return LINE_OF(config_person(c, id));
}

static int role_line(const struct config *c, const char *id) {
        for (size_t j = 0; j < c->n_roles; j++)
                if (streq(c->roles[j].id, id))
                        return c->roles[j].line;
        return -1;
}

static int roster_line(const struct config *c, const char *id) {
        return LINE_OF(config_roster(c, id));
}

static int gateway_line(const struct config *c, const char *id) {
        return LINE_OF(config_gateway(c, id));
}

static int chain_line(const struct config *c, const char *id) {
        return LINE_OF(config_chain(c, id));
}

/* The group KEY of ROOT with its keys checked, or NULL when it is absent;
 * *ENABLED and *LINE say that it is there and where. */
static config_setting_t *section_group(struct loader *l, const config_setting_t *root, const char *key,
                                       const char *const *keys, bool *enabled, int *line) {
        config_setting_t *g = get_group(l, root, key, false);

        if (!g)
                return NULL;
        *enabled = true;
        *line = setting_line(g);
        check_keys(l, g, keys);
        return g;
}

/* ---- top level and calendar ---- */

static const char *const lang_names[] = { [LANG_NB] = "nb", [LANG_EN] = "en" };

static void load_top(struct loader *l, const config_setting_t *root) {
        struct config *c = l->c;
        config_setting_t *s;
        const char *v;

        v = get_string(l, root, "site", true, &s);
        if (v && !site_is_safe(v))
                fail(l, s, "bad site id \"%s\" (use lowercase letters, digits and '-')", v);
        else
                c->site = ldup(l, v);

        c->lang = (enum lang) get_enum(l, root, "language", false, lang_names, ELEMENTSOF(lang_names), LANG_NB, NULL);

        v = get_string(l, root, "timezone", false, &s);
        if (v) {
                _cleanup_free_ char *zpath = NULL;
                struct stat st;

                /* The name becomes a path below /usr/share/zoneinfo: no escaping it. */
                if (!*v || v[0] == '/' || strstr(v, "..") || has_ctrl(v))
                        fail(l, s, "bad time zone \"%s\" (use e.g. \"Europe/Oslo\")", v);
                else if (asprintf(&zpath, "/usr/share/zoneinfo/%s", v) < 0) {
                        zpath = NULL;
                        l->oom = true;
                } else if (stat(zpath, &st) < 0 || !S_ISREG(st.st_mode))
                        fail(l, s, "unknown time zone \"%s\" (no %s)", v, zpath);
                else
                        c->timezone = ldup(l, v);
        } else
                c->timezone = ldup(l, "Europe/Oslo");

        v = get_string(l, root, "spool", false, &s);
        if (v) {
                if (v[0] != '/' || has_ctrl(v))
                        fail(l, s, "\"%s\" is not an absolute path", v);
                else
                        c->spool = ldup(l, v);
        } else
                c->spool = ldup(l, "/var/spool/beredd");
}

static void load_calendar(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "office_hours", "holidays", "closed", "heightened", NULL };
        static const char *const holidays[] = { "no", "none" };
        static const char *const hkeys[] = { "from", "to", "name", NULL };
        struct calendar_conf *cal = &l->c->calendar;
        config_setting_t *g, *s, *list;
        const char *v;

        (void) parse_office_hours("Mon-Fri 08:00-15:30", cal->open_min, cal->close_min);
        cal->holidays_no = true;

        g = get_group(l, root, "calendar", false);
        if (!g)
                return;
        check_keys(l, g, keys);

        v = get_string(l, g, "office_hours", false, &s);
        if (v && parse_office_hours(v, cal->open_min, cal->close_min) < 0) {
                fail(l, s, "bad office hours \"%s\" (use e.g. \"Mon-Fri 08:00-15:30\" or \"Mon-Thu 08:00-15:30, Fri 08:00-15:00\")", v);
                (void) parse_office_hours("Mon-Fri 08:00-15:30", cal->open_min, cal->close_min);
        }

        cal->holidays_no = get_enum(l, g, "holidays", false, holidays, ELEMENTSOF(holidays), 0, NULL) == 0;

        list = get_string_list(l, g, "closed", false);
        if (list) {
                int n = config_setting_length(list);
                cal->closed = alloc_array(l, (size_t) n, sizeof(struct ymd));
                for (int i = 0; i < n && cal->closed; i++)
                        if (get_date(l, config_setting_get_elem(list, (unsigned) i), &cal->closed[cal->n_closed]))
                                cal->n_closed++;
        }

        list = get_group_list(l, g, "heightened", false);
        if (list) {
                int n = config_setting_length(list);
                cal->heightened = alloc_array(l, (size_t) n, sizeof(struct heightened));
                for (int i = 0; i < n && cal->heightened; i++) {
                        config_setting_t *e = group_elem(l, list, i), *sf, *st;
                        struct heightened *h = &cal->heightened[cal->n_heightened];
                        bool ok = true;

                        if (!e)
                                continue;
                        check_keys(l, e, hkeys);
                        sf = member(l, e, "from", true);
                        st = member(l, e, "to", true);
                        ok = sf && get_date(l, sf, &h->from);
                        ok = (st && get_date(l, st, &h->to)) && ok;
                        v = get_text(l, e, "name", true, NULL);
                        if (ok && ymd_cmp(h->from, h->to) > 0) {
                                fail(l, st, "\"%s\" is before from", config_setting_get_string(st));
                                ok = false;
                        }
                        if (!ok || !v)
                                continue;
                        h->name = ldup(l, v);
                        h->line = setting_line(e);
                        cal->n_heightened++;
                }
        }
}

/* ---- people ---- */

static void person_done(struct person *p) {
        free(p->id);
        free(p->name);
        free(p->phone);
        free(p->email);
        strv_free(p->roles, p->n_roles);
        *p = (struct person) {};
}

static void load_people(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "name", "phone", "email", "roles", "lang", NULL };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->people = section_array(l, root, "people", sizeof(struct person), &list, &n);
        for (int i = 0; c->people && i < n; i++) {
                config_setting_t *sid, *s, *roles;
                struct person *p = &c->people[c->n_people];
                const char *id, *v;
                config_setting_t *e = section_elem(l, list, i, keys, person_line, &id, &sid);

                if (!e)
                        continue;

                v = get_text(l, e, "name", true, NULL);
                p->name = ldup(l, v);

                v = get_string(l, e, "phone", false, &s);
                if (v) {
                        char e164[TEXT_E164_MAX];
                        if (phone_e164(v, e164) < 0)
                                fail(l, s, "bad phone number (use \"+4791234567\", \"004791234567\" or 8 digits)");
                        else if ((p->phone = ldup(l, e164)))
                                for (size_t j = 0; j < c->n_people; j++)
                                        if (c->people[j].phone && streq(c->people[j].phone, p->phone)) {
                                                /* A reply from this number could not be told apart. */
                                                fail(l, s, "the same number as the phone of \"%s\"", c->people[j].id);
                                                break;
                                        }
                }

                v = get_string(l, e, "email", false, &s);
                if (v) {
                        if (!email_is_valid(v))
                                fail(l, s, "bad e-mail address");
                        else {
                                p->email = ldup(l, v);
                                for (size_t j = 0; j < c->n_people; j++)
                                        if (c->people[j].email && strcasecmp(c->people[j].email, v) == 0) {
                                                fail(l, s, "the same address as the e-mail of \"%s\"", c->people[j].id);
                                                break;
                                        }
                        }
                }
                if (!member(l, e, "phone", false) && !member(l, e, "email", false))
                        fail(l, e, "needs a phone or an email");

                roles = get_string_list(l, e, "roles", false);
                if (roles) {
                        int k = config_setting_length(roles);
                        p->roles = alloc_array(l, (size_t) k, sizeof(char *));
                        for (int j = 0; j < k && p->roles; j++) {
                                v = string_elem(roles, j);
                                if (!id_is_safe(v))
                                        fail(l, config_setting_get_elem(roles, (unsigned) j),
                                             "bad role \"%s\" (use letters, digits, '.', '_' and '-')", v);
                                else
                                        p->roles[p->n_roles++] = ldup(l, v);
                        }
                }

                p->lang = (enum lang) get_enum(l, e, "lang", false, lang_names, ELEMENTSOF(lang_names), (int) c->lang, NULL);
                p->line = elem_line(e, sid);

                /* Keep the person only with a usable id; the rest of the
                 * element's mistakes are already reported. */
                if (id) {
                        p->id = ldup(l, id);
                        if (p->id && strmap_put(&c->people_map, p->id, c->n_people) < 0)
                                l->oom = true;
                        c->n_people++;
                } else
                        person_done(p);
        }
}

static bool role_exists(const struct config *c, const char *role) {
        for (size_t i = 0; i < c->n_people; i++)
                if (person_has_role(&c->people[i], role))
                        return true;
        return false;
}

/* ---- roles: display names ---- */

static void load_roles(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "name", "name_en", NULL };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->roles = section_array(l, root, "roles", sizeof(struct role_def), &list, &n);
        for (int i = 0; c->roles && i < n; i++) {
                config_setting_t *sid;
                struct role_def *r = &c->roles[c->n_roles];
                const char *id, *name, *name_en;
                config_setting_t *e = section_elem(l, list, i, keys, role_line, &id, &sid);

                if (!e)
                        continue;
                if (id && !role_exists(c, id)) {
                        /* Most likely a typo: a name for a role nobody has is never shown. */
                        fail(l, sid, "unknown role \"%s\" (no person has it)", id);
                        id = NULL;
                }
                name = get_text(l, e, "name", true, NULL);
                name_en = get_text(l, e, "name_en", false, NULL);
                if (!id || !name)
                        continue;
                *r = (struct role_def) { .id = ldup(l, id), .name = ldup(l, name), .name_en = ldup(l, name_en ?: name),
                                         .line = setting_line(sid) };
                c->n_roles++;
        }
}

/* ---- rosters ---- */

static int parse_handoff(const char *s, enum rotation rot, int *ret_wday, int *ret_min) {
        const char *p = s;
        int wday = -1, m;

        if (rot == ROTATION_WEEKLY) {
                int d = parse_day(&p);
                if (d < 0 || *p++ != ' ')
                        return -EINVAL;
                wday = mon0_to_wday(d);
        }
        m = parse_hhmm(&p);
        if (m < 0 || m >= 24 * 60 || *p)
                return -EINVAL;
        *ret_wday = wday;
        *ret_min = m;
        return 0;
}

static void roster_done(struct roster *r) {
        free(r->id);
        strv_free(r->members, r->n_members);
        *r = (struct roster) {};
}

static void load_rosters(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "rotation", "handoff", "members", "start", NULL };
        static const char *const rotations[] = { [ROTATION_WEEKLY] = "weekly", [ROTATION_DAILY] = "daily" };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->rosters = section_array(l, root, "rosters", sizeof(struct roster), &list, &n);
        for (int i = 0; c->rosters && i < n; i++) {
                config_setting_t *sid, *s, *members;
                struct roster *r = &c->rosters[c->n_rosters];
                const char *id, *v;
                config_setting_t *e = section_elem(l, list, i, keys, roster_line, &id, &sid);

                if (!e)
                        continue;

                r->rotation = (enum rotation) get_enum(l, e, "rotation", true, rotations, ELEMENTSOF(rotations),
                                                       ROTATION_WEEKLY, NULL);
                v = get_string(l, e, "handoff", true, &s);
                if (v && parse_handoff(v, r->rotation, &r->handoff_wday, &r->handoff_min) < 0)
                        fail(l, s, "bad hand-off \"%s\" (%s)", v,
                             r->rotation == ROTATION_WEEKLY ? "weekly rosters use e.g. \"Mon 08:00\"" : "daily rosters use e.g. \"08:00\"");

                r->start = (struct ymd) { 2026, 1, 5 };
                s = member(l, e, "start", false);
                if (s)
                        (void) get_date(l, s, &r->start);

                members = get_string_list(l, e, "members", true);
                if (members && config_setting_length(members) == 0)
                        fail(l, members, "needs at least one member");
                else if (members) {
                        int k = config_setting_length(members);
                        r->members = alloc_array(l, (size_t) k, sizeof(char *));
                        for (int j = 0; j < k && r->members; j++) {
                                v = string_elem(members, j);
                                if (!config_person(c, v))
                                        fail_elem(l, members, config_setting_get_elem(members, (unsigned) j),
                                                  "unknown person \"%s\"", v);
                                else
                                        r->members[r->n_members++] = ldup(l, v);
                        }
                }

                r->line = elem_line(e, sid);
                if (id) {
                        r->id = ldup(l, id);
                        c->n_rosters++;
                } else
                        roster_done(r);
        }
}

/* ---- gateways ---- */

static bool url_ok(const char *url, const char *const *schemes) {
        for (; *schemes; schemes++)
                if (has_prefix(url, *schemes) && url[strlen(*schemes)] != '\0')
                        break;
        if (!*schemes)
                return false;
        for (const char *p = url; *p; p++)
                if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
                        return false;
        return true;
}

/* STARTTLS is required by default: only smtps:// (already TLS) and a local
 * relay on the same host may go without it. */
/* The url of gateway E of type TYPE: there, and with one of SCHEMES. */
static void need_url(struct loader *l, const config_setting_t *e, const config_setting_t *surl, const char *url,
                     const char *const *schemes, const char *type, const char *choices) {
        if (!url)
                fail(l, e, "missing required setting \"url\" (%s)", choices);
        else if (!url_ok(url, schemes))
                fail(l, surl, "bad URL \"%s\" (an %s gateway needs %s)", url, type, choices);
}

static bool smtp_default_starttls(const char *url) {
        static const char *const local[] = { "smtp://localhost", "smtp://127.0.0.1", "smtp://[::1]" };

        if (!url || has_prefix(url, "smtps://"))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(local); i++) {
                size_t k = strlen(local[i]);
                if (strncmp(url, local[i], k) == 0 && (url[k] == '\0' || url[k] == ':' || url[k] == '/'))
                        return false;
        }
        return true;
}

static int parse_status_range(const char *s, int *ret_min, int *ret_max) {
        int a, b;

        /* "NNN" or "NNN-NNN", digits only. */
        if (strlen(s) == 3)
                a = b = atoi(s);
        else if (strlen(s) == 7 && s[3] == '-') {
                a = atoi(s);
                b = atoi(s + 4);
        } else
                return -EINVAL;
        for (size_t i = 0; s[i]; i++)
                if (i != 3 && !isdigit((unsigned char) s[i]))
                        return -EINVAL;
        if (a < 100 || b > 599 || a > b)
                return -EINVAL;
        *ret_min = a;
        *ret_max = b;
        return 0;
}

static void load_headers(struct loader *l, struct gateway *gw, const config_setting_t *list) {
        int n = config_setting_length(list);

        gw->headers = alloc_array(l, (size_t) n, sizeof(struct header_kv));
        for (int i = 0; i < n && gw->headers; i++) {
                const config_setting_t *e = config_setting_get_elem(list, (unsigned) i);
                const char *v = config_setting_get_string(e), *colon = strchr(v, ':'), *val;
                bool ok = colon && colon > v && !has_ctrl(v);

                /* A header name is an RFC 9110 token. */
                for (const char *p = v; ok && p < colon; p++)
                        if (!isalnum((unsigned char) *p) && !strchr("!#$%&'*+-.^_`|~", *p))
                                ok = false;
                if (!ok) {
                        fail(l, e, "bad header \"%s\" (use \"Name: value\", no CR/LF)", v);
                        continue;
                }
                for (val = colon + 1; *val == ' ' || *val == '\t'; val++)
                        ;
                gw->headers[gw->n_headers].name = strndup(v, (size_t) (colon - v));
                gw->headers[gw->n_headers].value = ldup(l, val);
                if (!gw->headers[gw->n_headers].name)
                        l->oom = true;
                gw->n_headers++;
        }
}

void gateway_conf_done(struct gateway *gw) {
        char *owned[] = { gw->id, gw->url, gw->from, gw->account, gw->username, gw->method, gw->body,
                          gw->content_type, gw->success_match, gw->inbound_from, gw->inbound_text, gw->inbound_ref,
                          gw->inbound_status, gw->inbound_id, gw->receipt_gate, gw->helo };

        for (size_t i = 0; i < ELEMENTSOF(owned); i++)
                free(owned[i]);
        for (size_t i = 0; i < gw->n_headers; i++) {
                free(gw->headers[i].name);
                free(gw->headers[i].value);
        }
        free(gw->headers);
        secret_free(gw->password);
        secret_free(gw->inbound_token);
}

/* A webhook field name: letters, digits, '_', '-', and '.' between JSON
 * object names ("message.from"). */
static bool field_name_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > ID_MAX || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_-.", *p))
                        return false;
        return true;
}

/* The inbound_* settings of gateway GW (element E): the field names only
 * the generic http profile has, and the shared webhook secret. */
static void load_gateway_inbound(struct loader *l, const config_setting_t *e, struct gateway *gw, int t) {
        static const char *const names[] = { "inbound_from", "inbound_text", "inbound_ref", "inbound_status" };
        static const char *const defaults[] = { "from", "text", "ref", "status" };
        char **dst[] = { &gw->inbound_from, &gw->inbound_text, &gw->inbound_ref, &gw->inbound_status };
        bool webhooks = t == GATEWAY_HTTP || t == GATEWAY_TWILIO || t == GATEWAY_LINKMOBILITY;
        config_setting_t *s;
        const char *v;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                v = get_text(l, e, names[i], false, &s);
                if (v && t >= 0 && !webhooks)
                        fail(l, s, "a %s gateway takes no webhooks", gateway_type_name((enum gateway_type) t));
                else if (v && t >= 0 && t != GATEWAY_HTTP)
                        fail(l, s, "only a gateway of type \"http\" has configurable webhook fields "
                                   "(%s webhooks have a fixed format)", gateway_type_name((enum gateway_type) t));
                else if (v && !field_name_ok(v))
                        fail(l, s, "bad field name \"%s\" (letters, digits, '_', '-'; '.' between JSON object names)", v);
                else if (t == GATEWAY_HTTP)
                        *dst[i] = ldup(l, v ?: defaults[i]);
        }

        /* The provider's message id of an inbound SMS (replay protection);
         * no default: none is read unless named. */
        v = get_text(l, e, "inbound_id", false, &s);
        if (v && t >= 0 && t != GATEWAY_HTTP)
                fail(l, s, "only a gateway of type \"http\" has configurable webhook fields "
                           "(%s webhooks have a fixed format)", gateway_type_name((enum gateway_type) t));
        else if (v && !field_name_ok(v))
                fail(l, s, "bad field name \"%s\" (letters, digits, '_', '-'; '.' between JSON object names)", v);
        else if (v)
                gw->inbound_id = ldup(l, v);

        v = get_text(l, e, "receipt_gate", false, &s);
        if (v && t >= 0 && t != GATEWAY_LINKMOBILITY)
                fail(l, s, "only a linkmobility gateway has a receipt_gate (the gate id its delivery reports go to)");
        else if (v && !field_name_ok(v))
                fail(l, s, "bad gate id \"%s\"", v);
        else if (v)
                gw->receipt_gate = ldup(l, v);

        v = get_text(l, e, "inbound_token_file", false, &s);
        if (!v)
                return;
        if (t >= 0 && !webhooks)
                fail(l, s, "a %s gateway takes no webhooks", gateway_type_name((enum gateway_type) t));
        else if (t == GATEWAY_TWILIO)
                fail(l, s, "a twilio gateway takes no webhook token: its webhooks are checked by their signature");
        else
                load_secret(l, s, v, &gw->inbound_token);
}

/* How many concatenated SMS parts one message may use, by what each profile
 * is known to carry: Twilio recommends at most 10 segments; for Link Mobility
 * and a generic HTTP provider (whose SMSC and routes are unknown) at most 6
 * is allowed; the file gateway takes what the others do. */
static unsigned max_segments_limit(enum gateway_type t) {
        switch (t) {
        case GATEWAY_TWILIO:
        case GATEWAY_FILE:
                return 10;
        case GATEWAY_LINKMOBILITY:
        case GATEWAY_HTTP:
                return 6;
        default:
                return 0;
        }
}

static void load_max_segments(struct loader *l, const config_setting_t *e, struct gateway *gw, int t) {
        config_setting_t *s = member(l, e, "max_segments", false);

        gw->max_segments = GATEWAY_MAX_SEGMENTS_DEFAULT;
        if (!s || t < 0)
                return;
        unsigned lim = max_segments_limit((enum gateway_type) t);
        if (lim == 0) {
                fail(l, s, "a %s gateway sends e-mail; max_segments is for SMS gateways",
                     gateway_type_name((enum gateway_type) t));
                return;
        }
        if (!setting_is_int(s)) {
                fail(l, s, "expected an integer");
                return;
        }
        long long v = config_setting_get_int64(s);
        if (v < 1 || v > (long long) lim)
                fail(l, s, "%lld is out of range for a %s gateway (1..%u SMS segments)", v,
                     gateway_type_name((enum gateway_type) t), lim);
        else
                gw->max_segments = (unsigned) v;
}

/* A host name for EHLO (RFC 5321 4.1.1.1: a domain, or an address literal
 * "[192.0.2.1]" / "[IPv6:2001:db8::1]"): labels of letters, digits and
 * inner '-', at most 63 each and 253 in all. */
bool config_helo_ok(const char *s) {
        size_t n = s ? strlen(s) : 0, label = 0;

        if (n == 0 || n > 253)
                return false;
        if (s[0] == '[') {
                char buf[64];
                bool v6 = has_prefix(s, "[IPv6:");
                size_t skip = v6 ? 6 : 1;
                unsigned char addr[16];

                if (s[n - 1] != ']' || n < skip + 2 || n - skip - 1 >= sizeof(buf))
                        return false;
                memcpy(buf, s + skip, n - skip - 1);
                buf[n - skip - 1] = '\0';
                return inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) == 1;
        }
        for (size_t i = 0; i <= n; i++) {
                char c = s[i];
                if (c == '.' || c == '\0') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                } else if (isalnum((unsigned char) c) || (c == '-' && label > 0)) {
                        if (++label > 63)
                                return false;
                } else
                        return false;
        }
        return true;
}

/* The path of an smtp:// URL, after scheme://host[:port]: libcurl sends it
 * as the EHLO name (lib/smtp.c, smtp_parse_url_path). "" or "/" is none. */
static const char *smtp_url_path(const char *url) {
        const char *p = url ? strstr(url, "://") : NULL;

        if (!p)
                return "";
        p = strchr(p + 3, '/');
        return !p || streq(p, "/") ? "" : p;
}

static void load_helo(struct loader *l, config_setting_t *e, struct gateway *gw, int t, const char *url) {
        config_setting_t *s;
        const char *v = get_text(l, e, "helo", false, &s);

        if (!v)
                return;
        if (t >= 0 && t != GATEWAY_SMTP)
                fail(l, s, "only an smtp gateway has a helo name");
        else if (!config_helo_ok(v))
                fail(l, s, "not a host name for EHLO (use the fully qualified name of this machine, "
                           "e.g. \"beredd.kommune.no\")");
        else if (*smtp_url_path(url))
                fail(l, s, "set the EHLO name either here or as the path of url, not both");
        else
                gw->helo = ldup(l, v);
}

/* The gateway's type and channel; returns the type, or -1 when it is bad. */
static int load_gateway_type(struct loader *l, const config_setting_t *e, struct gateway *gw) {
        /* Index i is the enum channel value i + 1. */
        static const char *const channels[] = { "sms", "email", "any" };
        config_setting_t *schan;
        int t, ch;

        t = get_enum(l, e, "type", true, gateway_type_names, ELEMENTSOF(gateway_type_names), -1, NULL);
        gw->type = t < 0 ? GATEWAY_FILE : (enum gateway_type) t;

        /* Each profile can only carry one kind of message; the channel
         * defaults to it, and a contradicting one is a mistake. */
        ch = get_enum(l, e, "channel", false, channels, ELEMENTSOF(channels), -1, &schan);
        if (ch >= 0)
                gw->channel = (enum channel) (ch + 1);
        else
                gw->channel = gw->type == GATEWAY_FILE ? CHANNEL_ANY : gw->type == GATEWAY_SMTP ? CHANNEL_EMAIL : CHANNEL_SMS;
        if (t >= 0 && ch >= 0 && gw->type != GATEWAY_FILE) {
                enum channel want = gw->type == GATEWAY_SMTP ? CHANNEL_EMAIL : CHANNEL_SMS;
                if (gw->channel != want)
                        fail(l, schan, "a %s gateway sends %s only; use channel \"%s\"", gateway_type_name(gw->type),
                             want == CHANNEL_EMAIL ? "e-mail" : "SMS", channel_name(want));
        }
        return t;
}

/* "success": the HTTP status, or range, counted as sent (default 200-299). */
static void load_success(struct loader *l, const config_setting_t *e, struct gateway *gw) {
        config_setting_t *s = member(l, e, "success", false);

        gw->success_min = 200;
        gw->success_max = 299;
        if (s && setting_is_int(s)) {
                long long k = config_setting_get_int64(s);
                if (k < 100 || k > 599)
                        fail(l, s, "bad HTTP status %lld (use e.g. 200 or \"200-299\")", k);
                else
                        gw->success_min = gw->success_max = (int) k;
        } else if (s && config_setting_type(s) == CONFIG_TYPE_STRING) {
                const char *v = config_setting_get_string(s);
                if (parse_status_range(v, &gw->success_min, &gw->success_max) < 0)
                        fail(l, s, "bad HTTP status range \"%s\" (use e.g. \"200-299\" or \"202\")", v);
        } else if (s)
                fail(l, s, "expected a string like \"200-299\" or an integer");
}

/* The secret's file name, password_file or token_file (not both), and its
 * setting in *RET_S; NULL when neither is set. */
static const char *secret_name(struct loader *l, const config_setting_t *e, const config_setting_t **ret_s) {
        config_setting_t *spw, *stok;
        const char *pw = get_text(l, e, "password_file", false, &spw);
        const char *tok = get_text(l, e, "token_file", false, &stok);

        *ret_s = pw ? spw : stok;
        if (pw && tok)
                fail(l, stok, "set either password_file or token_file, not both");
        return pw ?: tok;
}

/* What each gateway type needs: its url (or the profile's default, in
 * *URL), sender, account and secrets, and a template that renders. */
static void load_gateway_profile(struct loader *l, const config_setting_t *e, struct gateway *gw, int t,
                                 const config_setting_t *surl, const char **url) {
        static const char *const smtp_schemes[] = { "smtp://", "smtps://", NULL };
        static const char *const http_schemes[] = { "http://", "https://", NULL };

        switch (t) {
        case GATEWAY_FILE:
                break;
        case GATEWAY_SMTP:
                need_url(l, e, surl, *url, smtp_schemes, "smtp", "smtp:// or smtps://");
                if (!member(l, e, "from", false))
                        fail(l, e, "missing required setting \"from\"");
                else if (gw->from && !email_is_valid(gw->from))
                        fail(l, member(l, e, "from", false), "bad e-mail address \"%s\"", gw->from);
                break;
        case GATEWAY_HTTP:
                need_url(l, e, surl, *url, http_schemes, "http", "http:// or https://");
                if (!member(l, e, "body", false))
                        fail(l, e, "missing required setting \"body\"");
                if (!gw->content_type)
                        gw->content_type = ldup(l, "application/x-www-form-urlencoded");
                /* A template mistake must show now, not when the team is
                 * being called out. */
                for (int k = 0; k < 2; k++) {
                        const char *tmpl = k == 0 ? *url : gw->body;
                        char terr[160];
                        if (tmpl && text_template_check(tmpl, gateway_template_names, 3, terr, sizeof(terr)) < 0)
                                fail(l, k == 0 ? surl : member(l, e, "body", false), "%s", terr);
                }
                break;
        case GATEWAY_TWILIO:
        case GATEWAY_LINKMOBILITY:
                if (!*url)
                        *url = t == GATEWAY_TWILIO ? "https://api.twilio.com" : "https://n-eu.linkmobility.io";
                else if (!url_ok(*url, http_schemes))
                        fail(l, surl, "bad URL \"%s\" (use https://)", *url);
                if (!member(l, e, "account", false))
                        fail(l, e, "missing required setting \"account\"%s",
                             t == GATEWAY_TWILIO ? " (the account SID)" : " (the platform id)");
                if (t == GATEWAY_TWILIO && !member(l, e, "token_file", false))
                        fail(l, e, "missing required setting \"token_file\"");
                if (t == GATEWAY_LINKMOBILITY && !member(l, e, "username", false))
                        fail(l, e, "missing required setting \"username\"");
                if (t == GATEWAY_LINKMOBILITY && !member(l, e, "password_file", false))
                        fail(l, e, "missing required setting \"password_file\"");
                break;
        default:
                break;
        }
}

static void load_gateways(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "channel", "type", "url", "from", "account", "username",
                                            "password_file", "token_file", "method", "body", "content_type",
                                            "headers", "success", "success_match", "timeout", "retries",
                                            "starttls", "inbound_from", "inbound_text", "inbound_ref",
                                            "inbound_status", "inbound_id", "inbound_token_file", "receipt_gate",
                                            "max_segments", "helo", NULL };
        static const char *const methods[] = { "POST", "GET", "PUT" };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->gateways = section_array(l, root, "gateways", sizeof(struct gateway), &list, &n);
        for (int i = 0; c->gateways && i < n; i++) {
                config_setting_t *sid, *surl, *hdrs;
                struct gateway *gw = &c->gateways[c->n_gateways];
                const char *id, *url, *secret;
                const config_setting_t *secret_s;
                int t;
                config_setting_t *e = section_elem(l, list, i, keys, gateway_line, &id, &sid);

                if (!e)
                        continue;

                t = load_gateway_type(l, e, gw);

                url = get_text(l, e, "url", false, &surl);
                gw->from = ldup(l, get_text(l, e, "from", false, NULL));
                gw->account = ldup(l, get_text(l, e, "account", false, NULL));
                gw->username = ldup(l, get_text(l, e, "username", false, NULL));
                gw->body = ldup(l, get_string(l, e, "body", false, NULL));
                gw->content_type = ldup(l, get_text(l, e, "content_type", false, NULL));
                gw->success_match = ldup(l, get_string(l, e, "success_match", false, NULL));
                gw->method = ldup(l, methods[get_enum(l, e, "method", false, methods, ELEMENTSOF(methods), 0, NULL)]);
                gw->timeout = get_duration(l, e, "timeout", false, 10 * USEC_PER_SEC, true, NULL);
                gw->retries = (int) get_int(l, e, "retries", false, 1, 10, 3, NULL);

                load_success(l, e, gw);

                hdrs = get_string_list(l, e, "headers", false);
                if (hdrs)
                        load_headers(l, gw, hdrs);

                secret = secret_name(l, e, &secret_s);

                load_gateway_profile(l, e, gw, t, surl, &url);
                load_max_segments(l, e, gw, t);
                gw->url = ldup(l, url);
                load_helo(l, e, gw, t, url);
                gw->starttls = get_bool(l, e, "starttls", gw->type == GATEWAY_SMTP && smtp_default_starttls(url), NULL);

                if (secret)
                        load_secret(l, secret_s, secret, &gw->password);
                load_gateway_inbound(l, e, gw, t);

                gw->line = elem_line(e, sid);
                if (id) {
                        gw->id = ldup(l, id);
                        c->n_gateways++;
                } else {
                        gateway_conf_done(gw);
                        *gw = (struct gateway) {};
                }
        }
}

static bool gateway_serves(const struct config *c, enum channel ch) {
        for (size_t i = 0; i < c->n_gateways; i++)
                if (c->gateways[i].channel & ch)
                        return true;
        return false;
}

/* ---- chains ---- */

/* Parse one "person", "role:X" or "roster:Y" reference of list S, element
 * I. Returns true when it resolves; reports and returns false otherwise. */
static bool parse_target(struct loader *l, const config_setting_t *s, int i, bool allow_roster, struct target *t) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        const char *v = config_setting_get_string(e);

        if (has_prefix(v, "role:")) {
                t->kind = TARGET_ROLE;
                v += 5;
                if (!role_exists(l->c, v)) {
                        fail_elem(l, s, e, "unknown role \"%s\"", v);
                        return false;
                }
        } else if (has_prefix(v, "roster:")) {
                t->kind = TARGET_ROSTER;
                v += 7;
                if (!allow_roster) {
                        fail_elem(l, s, e, "\"roster:%s\": use a person id or \"role:NAME\" here", v);
                        return false;
                }
                if (!config_roster(l->c, v)) {
                        fail_elem(l, s, e, "unknown roster \"%s\"", v);
                        return false;
                }
        } else {
                t->kind = TARGET_PERSON;
                if (!config_person(l->c, v)) {
                        fail_elem(l, s, e, "unknown person \"%s\"", v);
                        return false;
                }
        }
        t->ref = ldup(l, v);
        return true;
}

/* Targets of list S into *RET; returns false if any did not resolve. */
static bool load_targets(struct loader *l, const config_setting_t *s, bool allow_roster, struct target **ret, size_t *ret_n) {
        int n = config_setting_length(s);
        bool ok = true;

        *ret = alloc_array(l, (size_t) n, sizeof(struct target));
        for (int i = 0; i < n && *ret; i++) {
                if (parse_target(l, s, i, allow_roster, &(*ret)[*ret_n]))
                        (*ret_n)++;
                else
                        ok = false;
        }
        return ok;
}

static void targets_free(struct target *t, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(t[i].ref);
        free(t);
}

static void mark_reachable(const struct config *c, const struct target *t, bool *reach) {
        for (size_t i = 0; i < c->n_people; i++) {
                const struct person *p = &c->people[i];
                switch (t->kind) {
                case TARGET_PERSON:
                        if (streq(p->id, t->ref))
                                reach[i] = true;
                        break;
                case TARGET_ROLE:
                        if (person_has_role(p, t->ref))
                                reach[i] = true;
                        break;
                case TARGET_ROSTER: {
                        const struct roster *r = config_roster(c, t->ref);
                        for (size_t j = 0; r && j < r->n_members; j++)
                                if (streq(p->id, r->members[j]))
                                        reach[i] = true;
                        break;
                }
                }
        }
}

/* A chain whose steps cannot reach its quorum would escalate to the end on
 * every activation: refuse it now instead of at 03:00 during a crisis. */
static void check_quorum(struct loader *l, const struct chain *ch, const config_setting_t *need_s,
                         const config_setting_t *const *role_s) {
        const struct config *c = l->c;
        _cleanup_free_ bool *reach = NULL;
        size_t total = 0;

        if (c->n_people == 0)
                return;
        reach = calloc(c->n_people, sizeof(bool));
        if (!reach) {
                l->oom = true;
                return;
        }
        for (size_t i = 0; i < ch->n_steps; i++)
                if (!ch->steps[i].final)
                        for (size_t j = 0; j < ch->steps[i].n_targets; j++)
                                mark_reachable(c, &ch->steps[i].targets[j], reach);
        for (size_t i = 0; i < c->n_people; i++)
                total += reach[i];

        if ((size_t) ch->need_total > total)
                fail(l, need_s, "quorum cannot be reached: total = %d but the chain's steps reach only %zu %s",
                     ch->need_total, total, total == 1 ? "person" : "people");

        for (size_t k = 0; k < ch->n_need_roles; k++) {
                size_t n = 0;
                for (size_t i = 0; i < c->n_people; i++)
                        if (reach[i] && person_has_role(&c->people[i], ch->need_roles[k].role))
                                n++;
                if ((size_t) ch->need_roles[k].n > n)
                        fail_elem(l, need_s, role_s[k],
                                  "quorum cannot be reached: need.roles.%s = %d but only %zu %s with role \"%s\" %s reachable",
                                  ch->need_roles[k].role, ch->need_roles[k].n, n, n == 1 ? "person" : "people",
                                  ch->need_roles[k].role, n == 1 ? "is" : "are");
        }
}

static bool load_step(struct loader *l, const config_setting_t *e, bool last, struct step *st) {
        static const char *const keys[] = { "notify", "via", "wait", "mode", "when", "final", "template", NULL };
        static const char *const modes[] = { [STEP_PARALLEL] = "parallel", [STEP_SEQUENTIAL] = "sequential" };
        static const char *const whens[] = { [WHEN_ALWAYS] = "always", [WHEN_OFFICE] = "office",
                                             [WHEN_OUTSIDE_OFFICE] = "outside-office" };
        config_setting_t *s, *sfinal;
        bool ok = true;
        int t;

        check_keys(l, e, keys);
        st->line = setting_line(e);

        s = get_string_list(l, e, "notify", true);
        if (s && config_setting_length(s) == 0)
                fail(l, s, "must name at least one person, role or roster");
        else if (s)
                ok = load_targets(l, s, true, &st->targets, &st->n_targets);
        else
                ok = false;

        st->via = CHANNEL_SMS;
        s = get_string_list(l, e, "via", false);
        if (s && config_setting_length(s) == 0)
                fail(l, s, "must name at least one channel (\"sms\", \"email\")");
        else if (s) {
                st->via = 0;
                for (int i = 0; i < config_setting_length(s); i++) {
                        const char *v = string_elem(s, i);
                        if (streq(v, "sms"))
                                st->via |= CHANNEL_SMS;
                        else if (streq(v, "email"))
                                st->via |= CHANNEL_EMAIL;
                        else
                                fail_elem(l, s, config_setting_get_elem(s, (unsigned) i),
                                          "unknown channel \"%s\" (use \"sms\" or \"email\")", v);
                }
        }
        for (enum channel ch = CHANNEL_SMS; ch <= CHANNEL_EMAIL; ch <<= 1)
                if ((st->via & ch) && !gateway_serves(l->c, ch))
                        fail(l, s ? s : e, "no gateway for channel \"%s\"", channel_name(ch));

        st->mode = (enum step_mode) get_enum(l, e, "mode", false, modes, ELEMENTSOF(modes), STEP_PARALLEL, NULL);
        st->when = (enum step_when) get_enum(l, e, "when", false, whens, ELEMENTSOF(whens), WHEN_ALWAYS, NULL);
        st->final = get_bool(l, e, "final", false, &sfinal);
        if (st->final && !last)
                fail(l, sfinal, "the final step must be the last step");

        /* The final step hands over to the fallback service and does not
         * wait for anything; every other step must say how long it waits. */
        st->wait = get_duration(l, e, "wait", !st->final, 0, false, NULL);

        t = get_enum(l, e, "template", false, step_templates, ELEMENTSOF(step_templates), -1, NULL);
        if (t >= 0)
                st->template = ldup(l, step_templates[t]);
        return ok;
}

static void chain_done(struct chain *ch) {
        free(ch->id);
        free(ch->name);
        targets_free(ch->may_trigger, ch->n_may_trigger);
        for (size_t i = 0; i < ch->n_need_roles; i++)
                free(ch->need_roles[i].role);
        free(ch->need_roles);
        for (size_t i = 0; i < ch->n_steps; i++) {
                targets_free(ch->steps[i].targets, ch->steps[i].n_targets);
                free(ch->steps[i].template);
        }
        free(ch->steps);
        for (size_t i = 0; i < ch->n_report_to; i++)
                free(ch->report_to[i]);
        free(ch->report_to);
        free(ch->contact);
}

/* Who hears how an activation goes: report_to (person ids with a phone:
 * the reports are SMS), contact (the person the final step is told to
 * call: needs a phone) and receipt. */
static void load_chain_reports(struct loader *l, const config_setting_t *e, struct chain *ch) {
        config_setting_t *s;
        const char *v;

        s = get_string_list(l, e, "report_to", false);
        if (s) {
                int k = config_setting_length(s);
                ch->report_to = alloc_array(l, (size_t) k, sizeof(char *));
                for (int j = 0; j < k && ch->report_to; j++) {
                        const config_setting_t *el = config_setting_get_elem(s, (unsigned) j);
                        const struct person *p;
                        v = string_elem(s, j);
                        if (has_prefix(v, "role:") || has_prefix(v, "roster:")) {
                                fail_elem(l, s, el, "\"%s\": use person ids here", v);
                                continue;
                        }
                        if (!(p = config_person(l->c, v))) {
                                fail_elem(l, s, el, "unknown person \"%s\"", v);
                                continue;
                        }
                        if (!p->phone) {
                                fail_elem(l, s, el, "person \"%s\" has no phone (reports go by SMS)", v);
                                continue;
                        }
                        bool dup = false;
                        for (size_t i = 0; i < ch->n_report_to; i++)
                                dup = dup || streq(ch->report_to[i], v);
                        if (dup) {
                                fail_elem(l, s, el, "person \"%s\" is named twice", v);
                                continue;
                        }
                        ch->report_to[ch->n_report_to++] = ldup(l, v);
                }
        }
        v = get_string(l, e, "contact", false, &s);
        if (v) {
                const struct person *p = config_person(l->c, v);
                if (!p)
                        fail(l, s, "unknown person \"%s\"", v);
                else if (!p->phone)
                        fail(l, s, "person \"%s\" has no phone (the final step is told to call them)", v);
                else
                        ch->contact = ldup(l, v);
        }
        ch->receipt = get_bool(l, e, "receipt", true, NULL);
}

/* The chain's quorum, "need": total and role minimums; the settings of the
 * roles in *ROLE_S (for check_quorum()). Returns the group, or NULL; an
 * unknown role clears *REFS_OK. */
static config_setting_t *load_need(struct loader *l, const config_setting_t *e, struct chain *ch,
                                   const config_setting_t ***role_s, bool *refs_ok) {
        static const char *const need_keys[] = { "total", "roles", NULL };
        config_setting_t *need, *s;

        ch->need_total = 1;
        need = get_group(l, e, "need", false);
        if (!need)
                return NULL;
        check_keys(l, need, need_keys);
        ch->need_total = (int) get_int(l, need, "total", false, 1, 10000, 1, NULL);
        s = get_group(l, need, "roles", false);
        if (!s)
                return need;
        int k = config_setting_length(s);
        ch->need_roles = alloc_array(l, (size_t) k, sizeof(struct role_need));
        *role_s = alloc_array(l, (size_t) k, sizeof(config_setting_t *));
        for (int j = 0; j < k && ch->need_roles && *role_s; j++) {
                config_setting_t *r = config_setting_get_elem(s, (unsigned) j);
                const char *role = config_setting_name(r);
                long long v;

                if (!setting_is_int(r)) {
                        fail(l, r, "expected an integer");
                        continue;
                }
                v = config_setting_get_int64(r);
                if (v < 1 || v > 10000) {
                        fail(l, r, "%lld is out of range (1..10000)", v);
                        continue;
                }
                if (!role_exists(l->c, role)) {
                        fail(l, r, "unknown role \"%s\"", role);
                        *refs_ok = false;
                        continue;
                }
                (*role_s)[ch->n_need_roles] = r;
                ch->need_roles[ch->n_need_roles].role = ldup(l, role);
                ch->need_roles[ch->n_need_roles++].n = (int) v;
        }
        return need;
}

/* The chain's steps; false when one is missing, bad or does not resolve. */
static bool load_steps(struct loader *l, const config_setting_t *e, struct chain *ch) {
        config_setting_t *steps = get_group_list(l, e, "steps", true);
        bool ok = true;

        if (!steps)
                return false;
        if (config_setting_length(steps) == 0) {
                fail(l, steps, "needs at least one step");
                return false;
        }
        int k = config_setting_length(steps);
        ch->steps = alloc_array(l, (size_t) k, sizeof(struct step));
        for (int j = 0; j < k && ch->steps; j++) {
                config_setting_t *se = group_elem(l, steps, j);
                if (!se) {
                        ok = false;
                        continue;
                }
                if (!load_step(l, se, j == k - 1, &ch->steps[ch->n_steps++]))
                        ok = false;
        }
        return ok;
}

static void load_chains(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "name", "may_trigger", "need", "steps", "repeat", "report_to",
                                            "contact", "receipt", NULL };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->chains = section_array(l, root, "chains", sizeof(struct chain), &list, &n);
        for (int i = 0; c->chains && i < n; i++) {
                config_setting_t *sid, *s, *need;
                _cleanup_free_ const config_setting_t **role_s = NULL;
                struct chain *ch = &c->chains[c->n_chains];
                const char *id;
                bool refs_ok = true;
                config_setting_t *e = section_elem(l, list, i, keys, chain_line, &id, &sid);

                if (!e)
                        continue;
                ch->name = ldup(l, get_text(l, e, "name", false, NULL) ?: id);

                s = get_string_list(l, e, "may_trigger", false);
                if (s)
                        (void) load_targets(l, s, false, &ch->may_trigger, &ch->n_may_trigger);

                need = load_need(l, e, ch, &role_s, &refs_ok);
                if (!load_steps(l, e, ch))
                        refs_ok = false;

                ch->repeat = (int) get_int(l, e, "repeat", false, 0, 100, 0, NULL);
                ch->line = elem_line(e, sid);
                load_chain_reports(l, e, ch);

                /* With an unresolved reference the count would be wrong and
                 * the quorum error only an echo of the first one. */
                if (refs_ok)
                        check_quorum(l, ch, need ? need : e, role_s);

                if (id) {
                        ch->id = ldup(l, id);
                        c->n_chains++;
                } else {
                        chain_done(ch);
                        *ch = (struct chain) {};
                }
        }
}

/* ---- followup ---- */

static void load_followup(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "levels", "remind", "overdue_after", "escalate_after", "coordinator",
                                            "retention", "heightened_factor", "unreached_max", NULL };
        static const char *const level_keys[] = { "level", "name", "every", NULL };
        static const char *const reminds[] = { [REMIND_OFFICE_HOURS] = "office-hours", [REMIND_MORNING] = "morning" };
        struct followup_conf *f = &l->c->followup;
        config_setting_t *g, *list, *s, *sesc, *sover;
        const char *v;

        f->heightened_factor = 1.0;
        f->unreached_max = 3;
        f->overdue_after = USEC_PER_DAY;
        f->escalate_after = 2 * USEC_PER_DAY;
        f->retention = 90 * USEC_PER_DAY;

        g = section_group(l, root, "followup", keys, &f->enabled, &f->line);
        if (!g)
                return;

        list = get_group_list(l, g, "levels", true);
        if (list && config_setting_length(list) == 0)
                fail(l, list, "needs at least one level");
        else if (list) {
                int n = config_setting_length(list);
                f->levels = alloc_array(l, (size_t) n, sizeof(struct level));
                for (int i = 0; i < n && f->levels; i++) {
                        config_setting_t *e = group_elem(l, list, i), *sl;
                        struct level *lv = &f->levels[f->n_levels];

                        if (!e)
                                continue;
                        check_keys(l, e, level_keys);
                        lv->level = (int) get_int(l, e, "level", true, 1, 100, 0, &sl);
                        /* Levels are stepped up and down by one (LEON), so
                         * they must be 1, 2, 3... with no gaps. */
                        if (sl && lv->level > 0 && lv->level != i + 1)
                                fail(l, sl, "levels must be numbered 1, 2, 3... in order: expected %d, got %d", i + 1,
                                     lv->level);
                        lv->name = ldup(l, get_text(l, e, "name", true, NULL));
                        lv->every = get_duration(l, e, "every", true, 0, true, NULL);
                        f->n_levels++;
                }
        }

        f->remind = (enum remind_mode) get_enum(l, g, "remind", false, reminds, ELEMENTSOF(reminds), REMIND_OFFICE_HOURS, NULL);
        f->overdue_after = get_duration(l, g, "overdue_after", false, USEC_PER_DAY, true, &sover);
        f->escalate_after = get_duration(l, g, "escalate_after", false, 2 * USEC_PER_DAY, true, &sesc);
        /* Overdue first (a second reminder), then escalation to the coordinator. */
        if (f->escalate_after <= f->overdue_after) {
                if (sesc)
                        fail(l, sesc, "must be longer than overdue_after");
                else
                        fail(l, sover, "must be shorter than escalate_after (default \"2d\")");
        }
        f->retention = get_duration(l, g, "retention", false, 90 * USEC_PER_DAY, true, NULL);

        v = get_string(l, g, "coordinator", true, &s);
        if (v && !config_person(l->c, v))
                fail(l, s, "unknown person \"%s\"", v);
        else
                f->coordinator = ldup(l, v);

        s = member(l, g, "heightened_factor", false);
        if (s) {
                double d = config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                           : setting_is_int(s)                         ? (double) config_setting_get_int64(s)
                                                                       : -1.0;
                if (config_setting_type(s) != CONFIG_TYPE_FLOAT && !setting_is_int(s))
                        fail(l, s, "expected a number");
                else if (!(d > 0.0 && d <= 1.0))
                        fail(l, s, "%g is out of range (0 < factor <= 1)", d);
                else
                        f->heightened_factor = d;
        }
        f->unreached_max = (int) get_int(l, g, "unreached_max", false, 1, 100, 3, NULL);
}

/* ---- mqtt ---- */

/* A person id or "role:x" that names someone who exists. */
static bool identity_resolves(const struct config *c, const char *v) {
        if (has_prefix(v, "role:"))
                return role_exists(c, v + 5);
        return config_person(c, v);
}

static void load_mqtt(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "host", "port", "base", "client_id", "qos", "tls", "cafile",
                                            "certfile", "keyfile", "username", "password_file", "keepalive",
                                            "commands", "queue_size", "homeassistant", "trigger_identity",
                                            "drill_only", NULL };
        static const char *const files[] = { "cafile", "certfile", "keyfile" };
        struct config *c = l->c;
        struct mqtt_conf *m = &c->mqtt;
        config_setting_t *g, *s;
        const char *v;

        g = section_group(l, root, "mqtt", keys, &m->enabled, &m->line);
        if (!g)
                return;

        v = get_text(l, g, "host", false, &s);
        if (v && strpbrk(v, " /"))
                fail(l, s, "bad host name \"%s\"", v);
        else
                m->host = ldup(l, v ?: "localhost");

        m->tls = get_bool(l, g, "tls", false, NULL);
        m->port = (int) get_int(l, g, "port", false, 1, 65535, m->tls ? 8883 : 1883, NULL);

        v = get_text(l, g, "base", false, &s);
        if (v) {
                /* Wildcards would make our own subscriptions match other
                 * tenants; empty levels make topics nobody expects. */
                if (strpbrk(v, "+#") || v[0] == '/' || v[strlen(v) - 1] == '/' || strstr(v, "//"))
                        fail(l, s, "bad topic base \"%s\" (no '+' or '#', no leading, trailing or double '/')", v);
                else
                        m->base = ldup(l, v);
        } else if (c->site && asprintf(&m->base, "beredd/%s", c->site) < 0) {
                m->base = NULL;
                l->oom = true;
        }

        v = get_text(l, g, "client_id", false, NULL);
        if (v)
                m->client_id = ldup(l, v);
        else if (c->site && asprintf(&m->client_id, "beredd-%s", c->site) < 0) {
                m->client_id = NULL;
                l->oom = true;
        }

        m->qos = (int) get_int(l, g, "qos", false, 0, 2, 1, NULL);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char **dst = i == 0 ? &m->cafile : i == 1 ? &m->certfile : &m->keyfile;
                v = get_text(l, g, files[i], false, &s);
                if (!v)
                        continue;
                if (v[0] != '/')
                        fail(l, s, "\"%s\" is not an absolute path", v);
                else if (!m->tls)
                        fail(l, s, "set, but tls is false");
                else
                        *dst = ldup(l, v);
        }
        if (!member(l, g, "certfile", false) != !member(l, g, "keyfile", false))
                fail(l, g, "certfile and keyfile go together");

        m->username = ldup(l, get_text(l, g, "username", false, NULL));
        v = get_text(l, g, "password_file", false, &s);
        if (v)
                load_secret(l, s, v, &m->password);
        m->keepalive = (int) get_int(l, g, "keepalive", false, 5, 65535, 30, NULL);

        s = get_string_list(l, g, "commands", false);
        if (s) {
                m->commands = 0;
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                        const char *name = config_setting_get_string(e);
                        int k = command_from_name(name);

                        if (k < 0)
                                fail_elem(l, s, e, "unknown command \"%s\"", name);
                        else if (command_is_read_only((enum command_kind) k))
                                /* Reads answer on the control socket; MQTT only carries actions. */
                                fail_elem(l, s, e, "\"%s\" is read-only and accepted on the control socket only", name);
                        else if (k >= CMD_CASE_OPEN && k <= CMD_CASE_CLOSE)
                                /* A case command's reply names the case: never on a broker. */
                                fail_elem(l, s, e, "\"%s\" cannot go over MQTT: its reply would carry a case reference "
                                                   "(use the drop folder or the control socket)", name);
                        else
                                m->commands |= 1u << k;
                }
        }
        /* Without a commands list MQTT is read-only (commands = 0): a
         * broker's clients are not the people who may call the team in.
         * Opened, MQTT touches drills only unless drill_only = false. */
        m->drill_only = get_bool(l, g, "drill_only", true, NULL);

        m->queue_size = (size_t) get_int(l, g, "queue_size", false, 1, 1000000, 1000, NULL);
        m->homeassistant = get_bool(l, g, "homeassistant", false, NULL);

        v = get_text(l, g, "trigger_identity", false, &s);
        if (v && !identity_resolves(c, v))
                fail(l, s, "unknown %s \"%s\"", has_prefix(v, "role:") ? "role" : "person",
                     has_prefix(v, "role:") ? v + 5 : v);
        else
                m->trigger_identity = ldup(l, v);
        if (!v && (m->commands & ((1u << CMD_TRIGGER) | (1u << CMD_RESOLVE))))
                fail(l, g, "commands: \"trigger\" and \"resolve\" need trigger_identity (who MQTT acts as)");
}

/* ---- http ---- */

/* "HOST:PORT" with a numeric IPv4 HOST, or "[IPv6]:PORT". Returns 0 and the
 * address (malloc'd, without brackets) and port, or -EINVAL. */
static int parse_listen(const char *s, char **ret_host, int *ret_port) {
        const char *colon, *h, *he;
        unsigned char buf[sizeof(struct in6_addr)];
        char host[INET6_ADDRSTRLEN + 1], *end;
        bool v6 = s[0] == '[';
        long port;

        if (v6) {
                h = s + 1;
                he = strchr(h, ']');
                if (!he || he[1] != ':')
                        return -EINVAL;
                colon = he + 1;
        } else {
                h = s;
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                he = colon;
        }
        if (he <= h || (size_t) (he - h) >= sizeof(host))
                return -EINVAL;
        memcpy(host, h, (size_t) (he - h));
        host[he - h] = '\0';
        if (inet_pton(v6 ? AF_INET6 : AF_INET, host, buf) != 1)
                return -EINVAL;
        if (!isdigit((unsigned char) colon[1]))
                return -EINVAL;
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
                return -EINVAL;
        *ret_host = strdup(host);
        if (!*ret_host)
                return -ENOMEM;
        *ret_port = (int) port;
        return 0;
}

static void load_http(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "listen", "public_url", "heartbeat", NULL };
        static const char *const hkeys[] = { "url", "every", NULL };
        static const char *const http_schemes[] = { "http://", "https://", NULL };
        struct config *c = l->c;
        struct http_conf *h = &c->http;
        config_setting_t *g, *hb, *s;
        const char *v;

        g = section_group(l, root, "http", keys, &h->enabled, &h->line);
        if (!g)
                return;

        v = get_text(l, g, "listen", false, &s);
        if (v) {
                int r = parse_listen(v, &h->listen_host, &h->listen_port);
                if (r == -ENOMEM)
                        l->oom = true;
                else if (r < 0)
                        fail(l, s, "bad address \"%s\" (use a numeric address and a port, e.g. \"127.0.0.1:8470\" or \"[::1]:8470\")", v);
                else
                        h->listen = ldup(l, v);
        }

        v = get_text(l, g, "public_url", false, &s);
        if (v) {
                size_t n = strlen(v);
                /* Links and signatures are built as <public_url><path>: a query
                 * or fragment would end up in the middle. */
                if (!url_ok(v, http_schemes) || strpbrk(v, "?#"))
                        fail(l, s, "bad URL \"%s\" (use e.g. \"https://beredd.kommune.no\", no ? or #)", v);
                else {
                        while (n > 0 && v[n - 1] == '/')
                                n--;
                        h->public_url = strndup(v, n);
                        if (!h->public_url)
                                l->oom = true;
                }
        }

        hb = get_group(l, g, "heartbeat", false);
        if (hb) {
                check_keys(l, hb, hkeys);
                v = get_text(l, hb, "url", true, &s);
                if (v && !url_ok(v, http_schemes))
                        fail(l, s, "bad URL \"%s\" (use http:// or https://)", v);
                else
                        h->heartbeat_url = ldup(l, v);
                h->heartbeat_every = get_duration(l, hb, "every", false, 5 * USEC_PER_MIN, true, NULL);
        }

        /* Twilio signs <public URL><path>: without it every webhook would be
         * refused as forged. */
        for (size_t i = 0; h->listen && !h->public_url && i < c->n_gateways; i++)
                if (c->gateways[i].type == GATEWAY_TWILIO) {
                        fail(l, g, "missing setting \"public_url\": Twilio webhooks (gateway \"%s\") are signed over it",
                             c->gateways[i].id);
                        break;
                }

        /* An http or linkmobility gateway set up to take SMS or receipts
         * needs a shared token: without one its routes answer 404 and
         * answers sent there would be lost. */
        const config_setting_t *gl = h->listen ? config_setting_get_member(root, "gateways") : NULL;
        for (int i = 0; gl && config_setting_is_list(gl) && i < config_setting_length(gl); i++) {
                static const char *const asks[] = { "inbound_from", "inbound_text", "inbound_ref", "inbound_status",
                                                    "receipt_gate" };
                const config_setting_t *e = config_setting_get_elem(gl, (unsigned) i);
                const char *id = NULL;
                const struct gateway *gw;

                if (!e || !config_setting_lookup_string(e, "id", &id) || !(gw = config_gateway(c, id)))
                        continue;
                if ((gw->type != GATEWAY_HTTP && gw->type != GATEWAY_LINKMOBILITY) || gw->inbound_token)
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(asks); k++) {
                        config_setting_t *m = config_setting_get_member(e, asks[k]);
                        if (m) {
                                fail(l, m, "gateway \"%s\" takes webhooks but has no \"inbound_token_file\": "
                                           "its /sms/%s/ routes would be open to anyone (they answer 404)", id, id);
                                break;
                        }
                }
        }
}

/* ---- life cycle ---- */

struct config *config_load(const char *path, struct errlist *errs) {
        static const char *const keys[] = { "site", "timezone", "spool", "language", "calendar", "people",
                                             "roles", "rosters", "gateways", "chains", "followup", "mqtt", "http", NULL };
        struct loader l = { .path = path, .errs = errs };
        config_t cf;
        config_setting_t *root;
        struct config *c;

        c = calloc(1, sizeof *c);
        if (!c) {
                errno = ENOMEM;
                return NULL;
        }
        c->path = strdup(path);
        if (!c->path) {
                free(c);
                errno = ENOMEM;
                return NULL;
        }
        l.c = c;

        config_init(&cf);
        if (!config_read_file(&cf, path)) {
                if (config_error_type(&cf) == CONFIG_ERR_FILE_IO) {
                        /* libconfig only says "file I/O error"; ask again for the reason. */
                        FILE *f = fopen(path, "re");
                        int r = f ? EIO : errno;
                        if (f)
                                fclose(f);
                        errlist_add(errs, "%s:0: cannot read: %s", path, strerror(r));
                } else
                        errlist_add(errs, "%s:%d: %s", config_error_file(&cf) ?: path, config_error_line(&cf),
                                    config_error_text(&cf));
                config_destroy(&cf);
                config_free(c);
                errno = EINVAL;
                return NULL;
        }

        root = config_root_setting(&cf);
        check_keys(&l, root, keys);
        load_top(&l, root);
        load_calendar(&l, root);
        load_people(&l, root);
        load_roles(&l, root);
        load_rosters(&l, root);
        load_gateways(&l, root);
        load_chains(&l, root);
        load_followup(&l, root);
        load_mqtt(&l, root);
        load_http(&l, root);
        config_destroy(&cf);

        if (l.n_errors > 0 || l.oom) {
                config_free(c);
                errno = l.oom ? ENOMEM : EINVAL;
                return NULL;
        }
        return c;
}

void config_free(struct config *c) {
        if (!c)
                return;

        free(c->path);
        free(c->site);
        free(c->timezone);
        free(c->spool);

        strmap_clear(&c->people_map);
        free(c->calendar.closed);
        for (size_t i = 0; i < c->calendar.n_heightened; i++)
                free(c->calendar.heightened[i].name);
        free(c->calendar.heightened);

        for (size_t i = 0; i < c->n_people; i++)
                person_done(&c->people[i]);
        free(c->people);

        for (size_t i = 0; i < c->n_roles; i++) {
                free(c->roles[i].id);
                free(c->roles[i].name);
                free(c->roles[i].name_en);
        }
        free(c->roles);

        for (size_t i = 0; i < c->n_rosters; i++)
                roster_done(&c->rosters[i]);
        free(c->rosters);

        for (size_t i = 0; i < c->n_gateways; i++)
                gateway_conf_done(&c->gateways[i]);
        free(c->gateways);

        for (size_t i = 0; i < c->n_chains; i++)
                chain_done(&c->chains[i]);
        free(c->chains);

        for (size_t i = 0; i < c->followup.n_levels; i++)
                free(c->followup.levels[i].name);
        free(c->followup.levels);
        free(c->followup.coordinator);

        char *owned[] = { c->mqtt.host, c->mqtt.base, c->mqtt.client_id, c->mqtt.cafile, c->mqtt.certfile,
                          c->mqtt.keyfile, c->mqtt.username, c->mqtt.trigger_identity, c->http.listen,
                          c->http.listen_host, c->http.public_url, c->http.heartbeat_url };
        for (size_t i = 0; i < ELEMENTSOF(owned); i++)
                free(owned[i]);
        secret_free(c->mqtt.password);

        free(c);
}

/* ---- lookups ---- */

const struct person *config_person(const struct config *c, const char *id) {
        size_t i;
        if (c && c->people_map.cap) /* a loaded configuration */
                return strmap_get(&c->people_map, id, &i) ? &c->people[i] : NULL;
        for (i = 0; c && id && i < c->n_people; i++)
                if (c->people[i].id && streq(c->people[i].id, id))
                        return &c->people[i];
        return NULL;
}

const struct chain *config_chain(const struct config *c, const char *id) {
        for (size_t i = 0; c && id && i < c->n_chains; i++)
                if (c->chains[i].id && streq(c->chains[i].id, id))
                        return &c->chains[i];
        return NULL;
}

unsigned config_sms_max_segments(const struct config *c) {
        unsigned n = 0;

        for (size_t i = 0; c && i < c->n_gateways; i++)
                if ((c->gateways[i].channel & CHANNEL_SMS) && c->gateways[i].max_segments > 0 &&
                    (n == 0 || c->gateways[i].max_segments < n))
                        n = c->gateways[i].max_segments;
        return n ? n : GATEWAY_MAX_SEGMENTS_DEFAULT;
}

const struct gateway *config_gateway(const struct config *c, const char *id) {
        for (size_t i = 0; c && id && i < c->n_gateways; i++)
                if (c->gateways[i].id && streq(c->gateways[i].id, id))
                        return &c->gateways[i];
        return NULL;
}

const struct roster *config_roster(const struct config *c, const char *id) {
        for (size_t i = 0; c && id && i < c->n_rosters; i++)
                if (c->rosters[i].id && streq(c->rosters[i].id, id))
                        return &c->rosters[i];
        return NULL;
}

const struct person *config_person_by_contact(const struct config *c, const char *phone_or_email) {
        char phone[TEXT_E164_MAX];

        if (!c || !phone_or_email)
                return NULL;
        if (strchr(phone_or_email, '@')) {
                for (size_t i = 0; i < c->n_people; i++)
                        if (c->people[i].email && strcasecmp(c->people[i].email, phone_or_email) == 0)
                                return &c->people[i];
                return NULL;
        }
        if (phone_e164(phone_or_email, phone) < 0)
                return NULL;
        for (size_t i = 0; i < c->n_people; i++)
                if (c->people[i].phone && streq(c->people[i].phone, phone))
                        return &c->people[i];
        return NULL;
}

const char *config_role_name(const struct config *c, const char *role, enum lang lang) {
        for (size_t i = 0; c && role && i < c->n_roles; i++)
                if (streq(c->roles[i].id, role))
                        return lang == LANG_EN ? c->roles[i].name_en : c->roles[i].name;
        return role;
}

bool person_has_role(const struct person *p, const char *role) {
        for (size_t i = 0; p && role && i < p->n_roles; i++)
                if (streq(p->roles[i], role))
                        return true;
        return false;
}
