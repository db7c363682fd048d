/* config.c - load and validate beredd.conf (libconfig) into struct config:
 * the loader core (errors, the tree-walking getters, sections), the top
 * level, the calendar and the rosters, config_load()/config_free() and the
 * lookups. Each other section has its own file sharing config-load.h:
 * config-people.c (people, roles), config-gateways.c, config-chains.c,
 * config-followup.c, config-mqtt.c, config-http.c, config-retention.c;
 * secrets are read by config-secret.c.
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

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"

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
        case CHANNEL_VOICE:
                return "voice";
        }
        return NULL;
}

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

bool cfg_email_is_valid(const char *s) {
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

        if (n == 0 || n > ID_SAFE_MAX || s[0] == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '-'))
                        return false;
        return true;
}

bool cfg_has_ctrl(const char *s) {
        for (const char *p = s; *p; p++)
                if (iscntrl((unsigned char) *p))
                        return true;
        return false;
}

bool cfg_has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- the loader: tree walking and error reporting ---- */

int cfg_setting_line(const config_setting_t *s) {
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
        errlist_add(l->errs, "%s:%d: %s%s%s", setting_file(l, line_s), cfg_setting_line(line_s), path,
                    path[0] ? ": " : "", msg);
}

void cfg_fail(struct loader *l, const config_setting_t *s, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        loader_add(l, s, s, fmt, ap);
        va_end(ap);
}

/* An error named after list S but placed at the line of its element E:
 * "chains[0].steps[0].notify: unknown person "per"" on the line of "per". */
void cfg_fail_elem(struct loader *l, const config_setting_t *s, const config_setting_t *e, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void cfg_fail_elem(struct loader *l, const config_setting_t *s, const config_setting_t *e, const char *fmt, ...) {
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

char *cfg_ldup(struct loader *l, const char *s) {
        char *r;

        if (!s)
                return NULL;
        r = strdup(s);
        if (!r)
                l->oom = true;
        return r;
}

void *cfg_alloc_array(struct loader *l, size_t n, size_t size) {
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
void cfg_check_keys(struct loader *l, const config_setting_t *g, const char *const *allowed) {
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
config_setting_t *cfg_member(struct loader *l, const config_setting_t *g, const char *key, bool required) {
        config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;

        if (!s && g && required)
                cfg_fail(l, g, "missing required setting \"%s\"", key);
        return s;
}

const char *cfg_get_string(struct loader *l, const config_setting_t *g, const char *key, bool required,
                           config_setting_t **ret_s) {
        config_setting_t *s = cfg_member(l, g, key, required);

        if (ret_s)
                *ret_s = s;
        if (!s)
                return NULL;
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                cfg_fail(l, s, "expected a string");
                return NULL;
        }
        return config_setting_get_string(s);
}

/* A string with no control characters (CR/LF would let a value forge a
 * header or a second line in a message). */
const char *cfg_get_text(struct loader *l, const config_setting_t *g, const char *key, bool required,
                         config_setting_t **ret_s) {
        config_setting_t *s;
        const char *v = cfg_get_string(l, g, key, required, &s);

        if (ret_s)
                *ret_s = s;
        if (v && (!*v || cfg_has_ctrl(v))) {
                cfg_fail(l, s, "%s", *v ? "must not contain control characters (CR, LF, ...)" : "must not be empty");
                return NULL;
        }
        return v;
}

bool cfg_setting_is_int(const config_setting_t *s) {
        return config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64;
}

long long cfg_get_int(struct loader *l, const config_setting_t *g, const char *key, bool required, long long min,
                      long long max, long long def, config_setting_t **ret_s) {
        config_setting_t *s = cfg_member(l, g, key, required);
        long long v;

        if (ret_s)
                *ret_s = s;
        if (!s)
                return def;
        if (!cfg_setting_is_int(s)) {
                cfg_fail(l, s, "expected an integer");
                return def;
        }
        v = config_setting_get_int64(s);
        if (v < min || v > max) {
                if (max == LLONG_MAX)
                        cfg_fail(l, s, "%lld is out of range (at least %lld)", v, min);
                else
                        cfg_fail(l, s, "%lld is out of range (%lld..%lld)", v, min, max);
                return def;
        }
        return v;
}

bool cfg_get_bool(struct loader *l, const config_setting_t *g, const char *key, bool def, config_setting_t **ret_s) {
        config_setting_t *s = cfg_member(l, g, key, false);

        if (ret_s)
                *ret_s = s;
        if (!s)
                return def;
        if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
                cfg_fail(l, s, "expected true or false");
                return def;
        }
        return config_setting_get_bool(s);
}

uint64_t cfg_get_duration(struct loader *l, const config_setting_t *g, const char *key, bool required,
                          uint64_t def, bool nonzero, config_setting_t **ret_s) {
        config_setting_t *s;
        const char *v = cfg_get_string(l, g, key, required, &s);
        uint64_t u;

        if (ret_s)
                *ret_s = s;
        if (!v)
                return def;
        if (parse_duration(v, &u) < 0) {
                cfg_fail(l, s, "bad duration \"%s\" (use e.g. \"90s\", \"5m\", \"1h30m\", \"14d\")", v);
                return def;
        }
        if (nonzero && u == 0) {
                cfg_fail(l, s, "must be longer than 0");
                return def;
        }
        return u;
}

bool cfg_get_date(struct loader *l, const config_setting_t *s, struct ymd *ret) {
        const char *v;

        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                cfg_fail(l, s, "expected a string");
                return false;
        }
        v = config_setting_get_string(s);
        if (parse_date(v, ret) < 0) {
                cfg_fail(l, s, "bad date \"%s\" (use YYYY-MM-DD, e.g. \"2026-12-24\")", v);
                return false;
        }
        return true;
}

/* A list of strings: [ "a", "b" ] (array) or ( "a", "b" ) (list). Returns
 * the setting or NULL (absent or wrong type, reported). */
config_setting_t *cfg_get_string_list(struct loader *l, const config_setting_t *g, const char *key, bool required) {
        config_setting_t *s = cfg_member(l, g, key, required);
        bool ok = true;

        if (!s)
                return NULL;
        if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST) {
                cfg_fail(l, s, "expected a list of strings, e.g. [ \"a\", \"b\" ]");
                return NULL;
        }
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                if (config_setting_type(e) != CONFIG_TYPE_STRING) {
                        cfg_fail(l, e, "expected a string");
                        ok = false;
                }
        }
        return ok ? s : NULL;
}

/* A list of groups: ( { ... }, { ... } ). An empty [] is accepted too. */
config_setting_t *cfg_get_group_list(struct loader *l, const config_setting_t *g, const char *key, bool required) {
        config_setting_t *s = cfg_member(l, g, key, required);

        if (!s)
                return NULL;
        if (config_setting_type(s) == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0)
                return s;
        if (config_setting_type(s) != CONFIG_TYPE_LIST) {
                cfg_fail(l, s, "expected a list of groups, e.g. ( { ... }, { ... } )");
                return NULL;
        }
        return s;
}

/* Element I of a group list, or NULL when it is not a group (reported). */
config_setting_t *cfg_group_elem(struct loader *l, const config_setting_t *list, int i) {
        config_setting_t *e = config_setting_get_elem(list, (unsigned) i);

        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
                cfg_fail(l, e, "expected a group { ... }");
                return NULL;
        }
        return e;
}

config_setting_t *cfg_get_group(struct loader *l, const config_setting_t *g, const char *key, bool required) {
        config_setting_t *s = cfg_member(l, g, key, required);

        if (s && config_setting_type(s) != CONFIG_TYPE_GROUP) {
                cfg_fail(l, s, "expected a group { ... }");
                return NULL;
        }
        return s;
}

const char *cfg_string_elem(const config_setting_t *list, int i) {
        return config_setting_get_string(config_setting_get_elem(list, (unsigned) i));
}

/* A string that must be one of NAMES; returns its index, or DEF. */
int cfg_get_enum(struct loader *l, const config_setting_t *g, const char *key, bool required,
                 const char *const *names, size_t n, int def, config_setting_t **ret_s) {
        config_setting_t *s;
        const char *v = cfg_get_string(l, g, key, required, &s);
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
        cfg_fail(l, s, "unknown value \"%s\" (use %s)", v, choices);
        return def;
}

static bool id_setting(struct loader *l, const config_setting_t *g, const char **ret, config_setting_t **ret_s) {
        config_setting_t *s;
        const char *v = cfg_get_string(l, g, "id", true, &s);

        *ret_s = s;
        *ret = NULL;
        if (!v)
                return false;
        if (!id_is_safe(v)) {
                cfg_fail(l, s, "bad id \"%s\" (use up to 64 letters, digits, '.', '_' and '-')", v);
                return false;
        }
        *ret = v;
        return true;
}

void cfg_strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* ---- sections: a list of elements with ids, or one group ---- */

/* A zeroed array of SIZE-byte elements for the group list KEY of ROOT, with
 * the list in *RET_LIST and its length in *RET_N; NULL when the list is
 * absent, bad or empty, or the array cannot be had. */
void *cfg_section_array(struct loader *l, const config_setting_t *root, const char *key, size_t size,
                        config_setting_t **ret_list, int *ret_n) {
        *ret_list = cfg_get_group_list(l, root, key, false);
        if (!*ret_list)
                return NULL;
        *ret_n = config_setting_length(*ret_list);
        return cfg_alloc_array(l, (size_t) *ret_n, size);
}

/* Element I of a section's LIST with its keys checked, or NULL when it is
 * not a group. *RET_ID is its id, or NULL when that is missing, bad or
 * taken: TAKEN_LINE(c, id) gives the line of an earlier element with that
 * id, or -1. */
config_setting_t *cfg_section_elem(struct loader *l, const config_setting_t *list, int i, const char *const *keys,
                                   int (*taken_line)(const struct config *c, const char *id), const char **ret_id,
                                   config_setting_t **ret_sid) {
        config_setting_t *e = cfg_group_elem(l, list, i);
        int first;

        if (!e)
                return NULL;
        cfg_check_keys(l, e, keys);
        if (!id_setting(l, e, ret_id, ret_sid))
                *ret_id = NULL;
        else if ((first = taken_line(l->c, *ret_id)) >= 0) {
                cfg_fail(l, *ret_sid, "duplicate id \"%s\" (first defined at line %d)", *ret_id, first);
                *ret_id = NULL;
        }
        return e;
}

/* The line an element is reported at: its id's, else its own. */
int cfg_elem_line(const config_setting_t *e, const config_setting_t *sid) {
        return sid ? cfg_setting_line(sid) : cfg_setting_line(e);
}

/* The group KEY of ROOT with its keys checked, or NULL when it is absent;
 * *ENABLED and *LINE say that it is there and where. */
config_setting_t *cfg_section_group(struct loader *l, const config_setting_t *root, const char *key,
                                    const char *const *keys, bool *enabled, int *line) {
        config_setting_t *g = cfg_get_group(l, root, key, false);

        if (!g)
                return NULL;
        *enabled = true;
        *line = cfg_setting_line(g);
        cfg_check_keys(l, g, keys);
        return g;
}

/* ---- top level and calendar ---- */

const char *const cfg_lang_names[2] = { [LANG_NB] = "nb", [LANG_EN] = "en" };

static void load_top(struct loader *l, const config_setting_t *root) {
        struct config *c = l->c;
        config_setting_t *s;
        const char *v;

        v = cfg_get_string(l, root, "site", true, &s);
        if (v && !site_is_safe(v))
                cfg_fail(l, s, "bad site id \"%s\" (use lowercase letters, digits and '-')", v);
        else
                c->site = cfg_ldup(l, v);

        /* Shown to people (the dashboard's heading): "Frøya kommune". */
        v = cfg_get_string(l, root, "site_name", false, &s);
        if (v && (!*v || cfg_has_ctrl(v) || strlen(v) > 80))
                cfg_fail(l, s, "site_name must be 1 to 80 characters without control characters");
        else if (v)
                c->site_name = cfg_ldup(l, v);

        c->lang = (enum lang) cfg_get_enum(l, root, "language", false, cfg_lang_names, ELEMENTSOF(cfg_lang_names), LANG_NB, NULL);

        v = cfg_get_string(l, root, "timezone", false, &s);
        if (v) {
                _cleanup_free_ char *zpath = NULL;
                struct stat st;

                /* The name becomes a path below /usr/share/zoneinfo: no escaping it. */
                if (!*v || v[0] == '/' || strstr(v, "..") || cfg_has_ctrl(v))
                        cfg_fail(l, s, "bad time zone \"%s\" (use e.g. \"Europe/Oslo\")", v);
                else if (asprintf(&zpath, "/usr/share/zoneinfo/%s", v) < 0) {
                        zpath = NULL;
                        l->oom = true;
                } else if (stat(zpath, &st) < 0 || !S_ISREG(st.st_mode))
                        cfg_fail(l, s, "unknown time zone \"%s\" (no %s)", v, zpath);
                else
                        c->timezone = cfg_ldup(l, v);
        } else
                c->timezone = cfg_ldup(l, "Europe/Oslo");

        v = cfg_get_string(l, root, "spool", false, &s);
        if (v) {
                if (v[0] != '/' || cfg_has_ctrl(v))
                        cfg_fail(l, s, "\"%s\" is not an absolute path", v);
                else
                        c->spool = cfg_ldup(l, v);
        } else
                c->spool = cfg_ldup(l, "/var/spool/beredd");
}

static void load_calendar(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "office_hours", "holidays", "closed", "heightened", NULL };
        static const char *const holidays[] = { "no", "none" };
        static const char *const hkeys[] = { "from", "to", "name", "survey_before", "survey_remind", "survey_chains", NULL };
        struct calendar_conf *cal = &l->c->calendar;
        config_setting_t *g, *s, *list;
        const char *v;

        (void) parse_office_hours("Mon-Fri 08:00-15:30", cal->open_min, cal->close_min);
        cal->holidays_no = true;

        g = cfg_get_group(l, root, "calendar", false);
        if (!g)
                return;
        cfg_check_keys(l, g, keys);

        v = cfg_get_string(l, g, "office_hours", false, &s);
        if (v && parse_office_hours(v, cal->open_min, cal->close_min) < 0) {
                cfg_fail(l, s, "bad office hours \"%s\" (use e.g. \"Mon-Fri 08:00-15:30\" or \"Mon-Thu 08:00-15:30, Fri 08:00-15:00\")", v);
                (void) parse_office_hours("Mon-Fri 08:00-15:30", cal->open_min, cal->close_min);
        }

        cal->holidays_no = cfg_get_enum(l, g, "holidays", false, holidays, ELEMENTSOF(holidays), 0, NULL) == 0;

        list = cfg_get_string_list(l, g, "closed", false);
        if (list) {
                int n = config_setting_length(list);
                cal->closed = cfg_alloc_array(l, (size_t) n, sizeof(struct ymd));
                for (int i = 0; i < n && cal->closed; i++)
                        if (cfg_get_date(l, config_setting_get_elem(list, (unsigned) i), &cal->closed[cal->n_closed]))
                                cal->n_closed++;
        }

        list = cfg_get_group_list(l, g, "heightened", false);
        if (list) {
                int n = config_setting_length(list);
                cal->heightened = cfg_alloc_array(l, (size_t) n, sizeof(struct heightened));
                for (int i = 0; i < n && cal->heightened; i++) {
                        config_setting_t *e = cfg_group_elem(l, list, i), *sf, *st;
                        struct heightened *h = &cal->heightened[cal->n_heightened];
                        bool ok = true;

                        if (!e)
                                continue;
                        cfg_check_keys(l, e, hkeys);
                        sf = cfg_member(l, e, "from", true);
                        st = cfg_member(l, e, "to", true);
                        ok = sf && cfg_get_date(l, sf, &h->from);
                        ok = (st && cfg_get_date(l, st, &h->to)) && ok;
                        v = cfg_get_text(l, e, "name", true, NULL);
                        if (ok && ymd_cmp(h->from, h->to) > 0) {
                                cfg_fail(l, st, "\"%s\" is before from", config_setting_get_string(st));
                                ok = false;
                        }
                        if (!ok || !v)
                                continue;
                        h->name = cfg_ldup(l, v);
                        h->line = cfg_setting_line(e);
                        h->survey_before = cfg_get_duration(l, e, "survey_before", false, 0, true, NULL);
                        h->survey_remind = cfg_get_duration(l, e, "survey_remind", false, SURVEY_REMIND_DEFAULT, true, NULL);
                        config_setting_t *sc = cfg_get_string_list(l, e, "survey_chains", false);
                        int k = sc ? config_setting_length(sc) : 0;
                        h->survey_chains = k > 0 ? cfg_alloc_array(l, (size_t) k, sizeof(char *)) : NULL;
                        for (int j = 0; j < k && h->survey_chains; j++)
                                h->survey_chains[h->n_survey_chains++] =
                                        cfg_ldup(l, config_setting_get_string_elem(sc, (unsigned) j));
                        cal->n_heightened++;
                }
        }
}

/* The days of period H, both included (timegm: civil dates, no zone). */
static long period_days(const struct heightened *h) {
        struct tm f = { .tm_year = h->from.y - 1900, .tm_mon = h->from.m - 1, .tm_mday = h->from.d, .tm_hour = 12 };
        struct tm t = { .tm_year = h->to.y - 1900, .tm_mon = h->to.m - 1, .tm_mday = h->to.d, .tm_hour = 12 };
        return (long) ((timegm(&t) - timegm(&f)) / 86400) + 1;
}

/* A heightened period's survey: its chains exist, and each has a leader
 * to receive the forecast (report_to, else the follow-up coordinator).
 * After the chains and the follow-up section are loaded. */
static void check_surveys(struct loader *l, const config_setting_t *root) {
        const struct calendar_conf *cal = &l->c->calendar;
        const config_setting_t *g = config_setting_get_member(root, "calendar");
        config_setting_t *list = g ? config_setting_get_member(g, "heightened") : NULL;
        int n = list ? config_setting_length(list) : 0;
        for (int i = 0; i < n; i++) {
                config_setting_t *e = config_setting_get_elem(list, (unsigned) i);
                const struct heightened *h = NULL;
                for (size_t k = 0; k < cal->n_heightened && !h; k++)
                        if (cal->heightened[k].line == cfg_setting_line(e))
                                h = &cal->heightened[k];
                if (!h)
                        continue;
                config_setting_t *sc = config_setting_get_member(e, "survey_chains");
                for (size_t k = 0; k < h->n_survey_chains; k++)
                        if (h->survey_chains[k] && !config_chain(l->c, h->survey_chains[k]))
                                cfg_fail_elem(l, sc, config_setting_get_elem(sc, (unsigned) k), "unknown chain \"%s\"",
                                              h->survey_chains[k]);
                for (const struct heightened *o = cal->heightened; o < h; o++)
                        if (!ymd_cmp(o->from, h->from) && !ymd_cmp(o->to, h->to))
                                cfg_fail(l, config_setting_get_member(e, "from"),
                                         "the same dates as the period on line %d (a survey is a period's)", o->line);
                if (!h->survey_before)
                        continue;
                if (period_days(h) > 62)
                        cfg_fail(l, config_setting_get_member(e, "survey_before"),
                                 "a surveyed period is at most 62 days (the forecast's length)");
                if (h->survey_before < USEC_PER_DAY)
                        cfg_fail(l, config_setting_get_member(e, "survey_before"),
                                 "must be at least a day (the asks go out between 09:00 and 21:00)");
                for (size_t k = 0; k < l->c->n_chains; k++) {
                        const struct chain *ch = &l->c->chains[k];
                        bool asked = !h->n_survey_chains;
                        for (size_t j = 0; j < h->n_survey_chains; j++)
                                asked = asked || (h->survey_chains[j] && streq(h->survey_chains[j], ch->id));
                        if (asked && !ch->n_report_to && !l->c->followup.coordinator)
                                cfg_fail(l, config_setting_get_member(e, "survey_before"),
                                         "chain \"%s\" has no report_to and there is no followup.coordinator: "
                                         "nobody would get the forecast",
                                         ch->id);
                }
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
        cfg_strv_free(r->members, r->n_members);
        *r = (struct roster) {};
}

static int roster_line(const struct config *c, const char *id) {
        return CFG_LINE_OF(config_roster(c, id));
}

static void load_rosters(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "rotation", "handoff", "members", "start", NULL };
        static const char *const rotations[] = { [ROTATION_WEEKLY] = "weekly", [ROTATION_DAILY] = "daily" };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->rosters = cfg_section_array(l, root, "rosters", sizeof(struct roster), &list, &n);
        for (int i = 0; c->rosters && i < n; i++) {
                config_setting_t *sid, *s, *members;
                struct roster *r = &c->rosters[c->n_rosters];
                const char *id, *v;
                config_setting_t *e = cfg_section_elem(l, list, i, keys, roster_line, &id, &sid);

                if (!e)
                        continue;

                r->rotation = (enum rotation) cfg_get_enum(l, e, "rotation", true, rotations, ELEMENTSOF(rotations),
                                                           ROTATION_WEEKLY, NULL);
                v = cfg_get_string(l, e, "handoff", true, &s);
                if (v && parse_handoff(v, r->rotation, &r->handoff_wday, &r->handoff_min) < 0)
                        cfg_fail(l, s, "bad hand-off \"%s\" (%s)", v,
                                 r->rotation == ROTATION_WEEKLY ? "weekly rosters use e.g. \"Mon 08:00\"" : "daily rosters use e.g. \"08:00\"");

                r->start = (struct ymd) { 2026, 1, 5 };
                s = cfg_member(l, e, "start", false);
                if (s)
                        (void) cfg_get_date(l, s, &r->start);

                members = cfg_get_string_list(l, e, "members", true);
                if (members && config_setting_length(members) == 0)
                        cfg_fail(l, members, "needs at least one member");
                else if (members) {
                        int k = config_setting_length(members);
                        r->members = cfg_alloc_array(l, (size_t) k, sizeof(char *));
                        for (int j = 0; j < k && r->members; j++) {
                                v = cfg_string_elem(members, j);
                                if (!config_person(c, v))
                                        cfg_fail_elem(l, members, config_setting_get_elem(members, (unsigned) j),
                                                      "unknown person \"%s\"", v);
                                else
                                        r->members[r->n_members++] = cfg_ldup(l, v);
                        }
                }

                r->line = cfg_elem_line(e, sid);
                if (id) {
                        r->id = cfg_ldup(l, id);
                        c->n_rosters++;
                } else
                        roster_done(r);
        }
}

/* ---- life cycle ---- */

struct config *config_load(const char *path, struct errlist *errs) {
        static const char *const keys[] = { "site", "site_name", "timezone", "spool", "language", "calendar", "people",
                                             "roles", "rosters", "gateways", "chains", "followup", "mqtt", "http", "retention", NULL };
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
        cfg_check_keys(&l, root, keys);
        load_top(&l, root);
        load_calendar(&l, root);
        cfg_load_people(&l, root);
        cfg_load_roles(&l, root);
        load_rosters(&l, root);
        cfg_load_gateways(&l, root);
        cfg_load_chains(&l, root);
        cfg_load_followup(&l, root);
        cfg_load_mqtt(&l, root);
        cfg_load_http(&l, root);
        cfg_load_retention(&l, root);
        check_surveys(&l, root);
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
        free(c->site_name);
        free(c->timezone);
        free(c->spool);

        strmap_clear(&c->people_map);
        free(c->calendar.closed);
        for (size_t i = 0; i < c->calendar.n_heightened; i++) {
                free(c->calendar.heightened[i].name);
                cfg_strv_free(c->calendar.heightened[i].survey_chains, c->calendar.heightened[i].n_survey_chains);
        }
        free(c->calendar.heightened);

        for (size_t i = 0; i < c->n_people; i++)
                cfg_person_done(&c->people[i]);
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
                cfg_chain_done(&c->chains[i]);
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
        cfg_secret_free(c->mqtt.password);

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
