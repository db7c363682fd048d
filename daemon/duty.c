/* duty.c - roster swaps on top of the rotation. The list is small (a
 * municipality swaps a few shifts a month), so it is kept whole in memory
 * and rewritten atomically on each change; swaps that ended more than 30
 * days ago are dropped then. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duty.h"
#include "macro.h"
#include "time-util.h"

#define OVERRIDES_FILE "overrides.json"
#define KEEP_ENDED_USEC (30 * USEC_PER_DAY)

struct swap {
        char *roster, *person, *by;
        uint64_t from, to, created;
};

struct duty {
        struct store *store;
        struct swap *v;
        size_t n;
};

static void swap_done(struct swap *w) {
        free(w->roster);
        free(w->person);
        free(w->by);
}

int duty_new(struct store *store, struct duty **ret) {
        struct duty *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->store = store;
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = store_read(store, STORE_ROSTERS, OVERRIDES_FILE, 1024 * 1024, &data, &len);
        if (r == -ENOENT) {
                *ret = d;
                return 0;
        }
        if (r < 0) {
                free(d);
                return r;
        }
        json_t *arr = json_loadb(data, len, 0, NULL), *o;
        size_t i;
        if (!json_is_array(arr)) {
                json_decref(arr);
                free(d);
                return -EBADMSG;
        }
        d->v = calloc(json_array_size(arr) + 1, sizeof(*d->v));
        json_array_foreach(arr, i, o) {
                const char *ro = json_string_value(json_object_get(o, "roster"));
                const char *pe = json_string_value(json_object_get(o, "person"));
                const char *by = json_string_value(json_object_get(o, "by"));
                if (!d->v || !ro || !pe)
                        continue;
                d->v[d->n++] = (struct swap) {
                        .roster = strdup(ro), .person = strdup(pe), .by = by ? strdup(by) : NULL,
                        .from = (uint64_t) json_integer_value(json_object_get(o, "from")),
                        .to = (uint64_t) json_integer_value(json_object_get(o, "to")),
                        .created = (uint64_t) json_integer_value(json_object_get(o, "created")),
                };
        }
        json_decref(arr);
        *ret = d;
        return 0;
}

void duty_free(struct duty *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                swap_done(&d->v[i]);
        free(d->v);
        free(d);
}

static json_t *swap_json(const struct swap *w) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "roster", w->roster, "person", w->person, "from",
                              (json_int_t) w->from, "to", (json_int_t) w->to, "created", (json_int_t) w->created);
        if (w->by)
                json_object_set_new(o, "by", json_string(w->by));
        return o;
}

static int save(struct duty *d) {
        json_t *arr = json_array();
        for (size_t i = 0; i < d->n; i++)
                json_array_append_new(arr, swap_json(&d->v[i]));
        char *s = json_dumps(arr, JSON_INDENT(1));
        json_decref(arr);
        if (!s)
                return -ENOMEM;
        int r = store_write_atomic(d->store, STORE_ROSTERS, OVERRIDES_FILE, s, strlen(s));
        free(s);
        return r;
}

/* "YYYY-MM-DD HH:MM" (or with a 'T') in the configured zone -> usec. */
static int parse_local(const struct calendar *cal, const char *s, uint64_t *ret) {
        char date[11];
        int hh, mm;
        char sep, end;
        if (!s || strlen(s) != 16)
                return -EINVAL;
        struct ymd d;
        memcpy(date, s, 10);
        date[10] = '\0';
        if (parse_date(date, &d) < 0 || sscanf(s + 10, "%c%2d:%2d%c", &sep, &hh, &mm, &end) != 3 ||
            (sep != ' ' && sep != 'T') || hh < 0 || hh > 23 || mm < 0 || mm > 59)
                return -EINVAL;
        *ret = calendar_from_local(cal, d, hh * 60 + mm);
        return 0;
}

static void format_local(const struct calendar *cal, uint64_t t, char *buf, size_t len) {
        struct calendar_local l;
        calendar_local(cal, t, &l);
        time_format_date_time(l.date, l.hour, l.minute, buf, len);
}

int duty_override(struct duty *d, const struct config *cfg, const struct calendar *cal, const char *roster,
                  const char *person, const char *from, const char *to, const char *by, json_t **reply, char *err,
                  size_t errlen) {
        uint64_t f, t;
        if (!config_roster(cfg, roster)) {
                snprintf(err, errlen, "roster: no roster \"%s\" in the configuration", roster);
                return -ENOENT;
        }
        if (!config_person(cfg, person)) {
                snprintf(err, errlen, "person: no person \"%s\" in the configuration", person);
                return -ENOENT;
        }
        if (parse_local(cal, from, &f) < 0) {
                snprintf(err, errlen, "from: expected local time \"YYYY-MM-DD HH:MM\"");
                return -EINVAL;
        }
        if (parse_local(cal, to, &t) < 0) {
                snprintf(err, errlen, "to: expected local time \"YYYY-MM-DD HH:MM\"");
                return -EINVAL;
        }
        if (t <= f) {
                snprintf(err, errlen, "to: must be after from");
                return -EINVAL;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now = (uint64_t) ts.tv_sec * USEC_PER_SEC;

        /* Drop long-ended swaps, add the new one last (the last one wins). */
        size_t k = 0;
        for (size_t i = 0; i < d->n; i++) {
                if (d->v[i].to + KEEP_ENDED_USEC < now)
                        swap_done(&d->v[i]);
                else
                        d->v[k++] = d->v[i];
        }
        d->n = k;
        struct swap *v = realloc(d->v, (d->n + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        d->v = v;
        v[d->n] = (struct swap) { .roster = strdup(roster), .person = strdup(person), .by = by ? strdup(by) : NULL,
                                  .from = f, .to = t, .created = now };
        d->n++;
        int r = save(d);
        if (r < 0) {
                swap_done(&d->v[--d->n]);
                snprintf(err, errlen, "spool: cannot save the swap (%s)", strerror(-r));
                return r;
        }
        char fb[32], tb[32];
        format_local(cal, f, fb, sizeof(fb));
        format_local(cal, t, tb, sizeof(tb));
        *reply = json_pack("{s:s, s:s, s:s, s:s}", "roster", roster, "person", person, "from", fb, "to", tb);
        return 0;
}

/* Swaps in the shape calendar_roster_on_duty takes (pointers into D). */
static size_t swaps_for(struct duty *d, const char *roster, struct calendar_override *out, size_t max) {
        size_t n = 0;
        for (size_t i = 0; i < d->n && n < max; i++)
                if (streq(d->v[i].roster, roster))
                        out[n++] = (struct calendar_override) { .roster = d->v[i].roster, .from = d->v[i].from,
                                                                .to = d->v[i].to, .person = d->v[i].person };
        return n;
}

const char *duty_on_duty(struct duty *d, const struct calendar *cal, const struct roster *r, uint64_t now) {
        struct calendar_override ov[256];
        size_t n = d ? swaps_for(d, r->id, ov, ELEMENTSOF(ov)) : 0;
        struct calendar_duty duty;
        if (calendar_roster_on_duty(cal, r, now, ov, n, &duty) < 0)
                return NULL;
        return duty.person;
}

const char *duty_on_duty_present(struct duty *d, const struct calendar *cal, const struct roster *r, uint64_t now,
                                 const struct absences *abs, const char **ret_away) {
        const char *who = duty_on_duty(d, cal, r, now);
        *ret_away = NULL;
        if (!who || !absences_away_at(abs, who, now))
                return who;
        *ret_away = who;
        size_t start = 0;
        for (size_t i = 0; i < r->n_members; i++)
                if (streq(r->members[i], who))
                        start = i;
        for (size_t k = 1; k <= r->n_members; k++) {
                const char *m = r->members[(start + k) % r->n_members];
                if (!streq(m, who) && !absences_away_at(abs, m, now))
                        return m;
        }
        return NULL;
}

int duty_show(struct duty *d, const struct config *cfg, const struct calendar *cal, const char *roster, uint64_t now,
              json_t **reply, char *err, size_t errlen) {
        const struct roster *r = config_roster(cfg, roster);
        if (!r) {
                snprintf(err, errlen, "roster: no roster \"%s\" in the configuration", roster);
                return -ENOENT;
        }
        struct calendar_override ov[256];
        size_t n = swaps_for(d, r->id, ov, ELEMENTSOF(ov));
        struct calendar_duty duty;
        if (calendar_roster_on_duty(cal, r, now, ov, n, &duty) < 0) {
                snprintf(err, errlen, "roster: \"%s\" has nobody on duty", roster);
                return -ENOENT;
        }
        char sb[32], eb[32];
        format_local(cal, duty.shift_start, sb, sizeof(sb));
        format_local(cal, duty.shift_end, eb, sizeof(eb));
        json_t *sw = json_array();
        for (size_t i = 0; i < n; i++) {
                if (ov[i].to <= now)
                        continue;
                char fb[32], tb[32];
                format_local(cal, ov[i].from, fb, sizeof(fb));
                format_local(cal, ov[i].to, tb, sizeof(tb));
                json_array_append_new(sw, json_pack("{s:s, s:s, s:s}", "person", ov[i].person, "from", fb, "to", tb));
        }
        *reply = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "roster", r->id, "on_duty", duty.person, "scheduled",
                           r->members[duty.scheduled], "shift_start", sb, "shift_end", eb, "swaps", sw);
        return 0;
}
