/* coverage.c - the coverage forecast (see coverage.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "macro.h"

static const char *const wday_nb[7] = { "sø.", "ma.", "ti.", "on.", "to.", "fr.", "lø." };
static const char *const wday_en[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

const char *coverage_part_id(enum coverage_part_kind k) {
        return k == COVERAGE_OFFICE ? "office" : k == COVERAGE_OUTSIDE ? "outside-office" : "day";
}

static const char *part_name(enum coverage_part_kind k, enum lang lang) {
        if (k == COVERAGE_DAY)
                return "";
        if (lang == LANG_EN)
                return k == COVERAGE_OFFICE ? "office hours" : "outside office hours";
        return k == COVERAGE_OFFICE ? "kontortid" : "utenfor kontortid";
}

bool coverage_chain_splits(const struct chain *c) {
        bool office = false, outside = false;
        for (size_t k = 0; k < c->n_steps; k++) {
                if (c->steps[k].final)
                        continue;
                office |= c->steps[k].when == WHEN_OFFICE;
                outside |= c->steps[k].when == WHEN_OUTSIDE_OFFICE;
        }
        return office || outside;
}

/* A part of a day: up to two intervals [from, to). */
struct span {
        uint64_t from[2], to[2];
        int n;
};

static bool away_in(const struct absences *abs, const char *person, const struct span *sp) {
        if (!abs)
                return false;
        for (int i = 0; i < sp->n; i++) {
                size_t iter = 0;
                if (sp->from[i] < sp->to[i] && absences_next(abs, person, sp->from[i], sp->to[i], &iter))
                        return true;
        }
        return false;
}

/* A small set of person ids (the configuration's or the roster's). */
struct idv {
        const char **v;
        size_t n, cap;
};

static bool idv_has(const struct idv *s, const char *id) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->v[i], id))
                        return true;
        return false;
}

static int idv_add(struct idv *s, const char *id) {
        if (idv_has(s, id))
                return 0;
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                const char **v = realloc(s->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = id;
        return 0;
}

struct ctx {
        const struct config *cfg;
        const struct calendar *cal;
        struct duty *duty;
        const struct absences *abs;
};

/* The people of step S in part SP: everyone named (PEOPLE), and of them
 * those available (AVAIL) and away (AWAY). */
static int step_people(const struct ctx *x, const struct step *s, const struct span *sp, struct idv *people,
                       struct idv *avail, struct idv *away) {
        const struct config *cfg = x->cfg;
        int r = 0;
        for (size_t t = 0; t < s->n_targets && r >= 0; t++) {
                const struct target *tg = &s->targets[t];
                if (tg->kind == TARGET_ROSTER) {
                        const struct roster *ro = config_roster(cfg, tg->ref);
                        if (!ro || ro->n_members == 0)
                                continue;
                        const char *who = duty_on_duty(x->duty, x->cal, ro, sp->from[0]);
                        if (!who)
                                continue;
                        r = idv_add(people, who);
                        if (r < 0)
                                break;
                        if (!away_in(x->abs, who, sp)) {
                                r = idv_add(avail, who);
                                continue;
                        }
                        r = idv_add(away, who);
                        size_t start = 0;
                        for (size_t i = 0; i < ro->n_members; i++)
                                if (streq(ro->members[i], who))
                                        start = i;
                        for (size_t k = 1; k <= ro->n_members && r >= 0; k++) {
                                const char *m = ro->members[(start + k) % ro->n_members];
                                if (!streq(m, who) && !away_in(x->abs, m, sp)) {
                                        r = idv_add(avail, m);
                                        break;
                                }
                        }
                        continue;
                }
                size_t n = tg->kind == TARGET_PERSON ? 1 : cfg->n_people;
                for (size_t i = 0; i < n && r >= 0; i++) {
                        const char *who = tg->kind == TARGET_PERSON ? tg->ref
                                       : person_has_role(&cfg->people[i], tg->ref) ? cfg->people[i].id
                                                                                  : NULL;
                        if (!who)
                                continue;
                        r = idv_add(people, who);
                        if (r >= 0)
                                r = idv_add(away_in(x->abs, who, sp) ? away : avail, who);
                }
        }
        return r;
}

static int compute_part(const struct ctx *x, const struct chain *c, const struct span *sp, bool office,
                        struct coverage_part *p) {
        struct idv people = {}, avail = {}, away = {};
        int r = 0;
        for (size_t k = 0; k < c->n_steps && r >= 0; k++) {
                const struct step *s = &c->steps[k];
                if (s->final || (s->when == WHEN_OFFICE && !office) || (s->when == WHEN_OUTSIDE_OFFICE && office))
                        continue;
                r = step_people(x, s, sp, &people, &avail, &away);
        }
        /* Someone away as a roster's on-duty person but available through another step counts as available. */
        size_t k = 0;
        for (size_t i = 0; i < away.n; i++)
                if (!idv_has(&avail, away.v[i]))
                        away.v[k++] = away.v[i];
        away.n = k;
        if (r >= 0) {
                p->people = (int) people.n;
                for (size_t i = 0; i < avail.n; i++)
                        if (!idv_has(&people, avail.v[i]))
                                p->people++; /* a roster's stand-in */
                p->available = (int) avail.n;
                p->need_total = c->need_total;
                p->met = p->available >= c->need_total;
                p->roles = calloc(c->n_need_roles ? c->n_need_roles : 1, sizeof(*p->roles));
                if (!p->roles)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r >= 0 && i < c->n_need_roles; i++) {
                struct coverage_role *w = &p->roles[i];
                w->role = c->need_roles[i].role;
                w->need = c->need_roles[i].n;
                for (size_t j = 0; j < avail.n; j++)
                        w->available += person_has_role(config_person(x->cfg, avail.v[j]), w->role);
                if (w->available < w->need)
                        p->met = false;
                p->n_roles++;
        }
        free(people.v);
        free(avail.v);
        if (r < 0) {
                free(away.v);
                return r;
        }
        p->away = away.v;
        p->n_away = away.n;
        return 0;
}

void coverage_free(struct coverage *cv) {
        if (!cv)
                return;
        for (size_t i = 0; i < cv->n_parts; i++) {
                free(cv->parts[i].roles);
                free(cv->parts[i].away);
        }
        free(cv->parts);
        free(cv);
}

int coverage_compute(const struct config *cfg, const struct calendar *cal, struct duty *duty,
                     const struct absences *abs, const struct chain *c, struct ymd from, struct ymd to,
                     struct coverage **ret) {
        int64_t d0 = calendar_days_from_ymd(from), d1 = calendar_days_from_ymd(to);
        *ret = NULL;
        if (d1 < d0)
                return -EINVAL;
        if (d1 - d0 + 1 > COVERAGE_MAX_DAYS)
                return -E2BIG;
        struct coverage *cv = calloc(1, sizeof(*cv));
        if (!cv)
                return -ENOMEM;
        cv->chain = c;
        cv->from = from;
        cv->to = to;
        cv->parts = calloc((size_t) (d1 - d0 + 1) * 2, sizeof(*cv->parts));
        if (!cv->parts) {
                free(cv);
                return -ENOMEM;
        }
        const struct ctx x = { cfg, cal, duty, abs };
        bool splits = coverage_chain_splits(c);
        for (int64_t day = d0; day <= d1; day++) {
                struct ymd d = calendar_ymd_from_days(day);
                int wday = calendar_weekday(d);
                uint64_t start = calendar_from_local(cal, d, 0), end = calendar_from_local(cal, d, 24 * 60);
                bool working = calendar_is_working_day(cal, d);
                struct coverage_part base = {
                        .date = d,
                        .wday = wday,
                        .holiday = calendar_holiday(cal, d),
                        .closed = calendar_is_closed(cal, d),
                };
                const struct heightened *h = calendar_heightened(cal, d);
                base.heightened = h ? h->name : NULL;
                bool unmet = false;
                if (!splits || !working) {
                        struct span sp = { .from = { start }, .to = { end }, .n = 1 };
                        struct coverage_part *p = &cv->parts[cv->n_parts];
                        *p = base;
                        p->kind = splits ? COVERAGE_OUTSIDE : COVERAGE_DAY;
                        int r = compute_part(&x, c, &sp, false, p);
                        if (r < 0) {
                                coverage_free(cv);
                                return r;
                        }
                        cv->n_parts++;
                        unmet = !p->met;
                        cv->n_unmet += !p->met;
                } else {
                        uint64_t open = calendar_from_local(cal, d, cfg->calendar.open_min[wday]);
                        uint64_t close = calendar_from_local(cal, d, cfg->calendar.close_min[wday]);
                        /* The outside part's roster is the one on duty after closing (the evening and night). */
                        const struct span spans[2] = {
                                { .from = { open }, .to = { close }, .n = 1 },
                                { .from = { close, start }, .to = { end, open }, .n = 2 },
                        };
                        for (int i = 0; i < 2; i++) {
                                struct coverage_part *p = &cv->parts[cv->n_parts];
                                *p = base;
                                p->kind = i == 0 ? COVERAGE_OFFICE : COVERAGE_OUTSIDE;
                                int r = compute_part(&x, c, &spans[i], i == 0, p);
                                if (r < 0) {
                                        coverage_free(cv);
                                        return r;
                                }
                                cv->n_parts++;
                                unmet |= !p->met;
                                cv->n_unmet += !p->met;
                        }
                }
                cv->n_unmet_days += unmet;
        }
        *ret = cv;
        return 0;
}

static void date_str(const struct ymd d, char *buf, size_t len) {
        snprintf(buf, len, "%04d-%02d-%02d", d.y, d.m, d.d);
}

json_t *coverage_json(const struct config *cfg, const struct coverage *cv, bool with_people) {
        char from[16], to[16];
        date_str(cv->from, from, sizeof(from));
        date_str(cv->to, to, sizeof(to));
        json_t *days = json_array();
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "chain", cv->chain->id, "from", from, "to", to,
                              "unmet", (json_int_t) cv->n_unmet, "unmet_days", (json_int_t) cv->n_unmet_days, "days",
                              days);
        if (!o)
                return NULL;
        for (size_t i = 0; i < cv->n_parts; i++) {
                const struct coverage_part *p = &cv->parts[i];
                char date[16];
                date_str(p->date, date, sizeof(date));
                json_t *missing = json_array();
                for (size_t r = 0; r < p->n_roles; r++)
                        if (p->roles[r].available < p->roles[r].need)
                                json_array_append_new(missing,
                                                      json_pack("{s:s, s:s, s:i, s:i}", "role", p->roles[r].role,
                                                                "name", config_role_name(cfg, p->roles[r].role, LANG_NB),
                                                                "need", p->roles[r].need, "available",
                                                                p->roles[r].available));
                json_t *e = json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:i, s:o}", "date", date, "part",
                                      coverage_part_id(p->kind), "available", p->available, "people", p->people,
                                      "need", p->need_total, "met", p->met, "short",
                                      p->need_total > p->available ? p->need_total - p->available : 0, "missing",
                                      missing);
                if (!e)
                        continue;
                if (p->holiday)
                        json_object_set_new(e, "holiday", json_string(p->holiday));
                if (p->closed)
                        json_object_set_new(e, "closed", json_true());
                if (p->heightened)
                        json_object_set_new(e, "heightened", json_string(p->heightened));
                if (with_people) {
                        json_t *a = json_array();
                        for (size_t k = 0; k < p->n_away; k++)
                                json_array_append_new(a, json_string(p->away[k]));
                        json_object_set_new(e, "away", a);
                }
                json_array_append_new(days, e);
        }
        return o;
}

/* A growing string. */
struct buf {
        char *s;
        size_t n, cap;
        bool oom;
};

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...) {
        va_list ap;
        if (b->oom)
                return;
        for (;;) {
                va_start(ap, fmt);
                int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
                va_end(ap);
                if (k < 0) {
                        b->oom = true;
                        return;
                }
                if (b->s && b->n + (size_t) k < b->cap) {
                        b->n += (size_t) k;
                        return;
                }
                size_t cap = (b->cap + (size_t) k + 1) * 2;
                char *s = realloc(b->s, cap);
                if (!s) {
                        b->oom = true;
                        return;
                }
                b->s = s;
                b->cap = cap;
        }
}

static char *bdone(struct buf *b) {
        if (b->oom) {
                free(b->s);
                return NULL;
        }
        if (!b->s)
                return strdup("");
        return b->s;
}

/* "mangler leder (0 av 1) og 1 av 3" — what part P lacks: the role
 * minimums not met, then the shortfall of need.total. */
static void missing_text(struct buf *b, const struct config *cfg, const struct coverage_part *p, enum lang lang,
                         bool counts) {
        bool first = true;
        for (size_t r = 0; r < p->n_roles; r++) {
                const struct coverage_role *w = &p->roles[r];
                if (w->available >= w->need)
                        continue;
                bprintf(b, "%s%s", first ? (lang == LANG_EN ? "missing " : "mangler ") : ", ",
                        config_role_name(cfg, w->role, lang));
                if (counts || w->need > 1)
                        bprintf(b, lang == LANG_EN ? " (%d of %d)" : " (%d av %d)", w->available, w->need);
                first = false;
        }
        if (p->available < p->need_total)
                bprintf(b, "%s%d %s %d", first ? (lang == LANG_EN ? "missing " : "mangler ") : lang == LANG_EN ? " and " : " og ",
                        p->need_total - p->available, lang == LANG_EN ? "of" : "av", p->need_total);
}

char *coverage_text(const struct config *cfg, const struct coverage *cv, enum lang lang) {
        struct buf b = {};
        for (size_t i = 0; i < cv->n_parts; i++) {
                const struct coverage_part *p = &cv->parts[i];
                const char *part = part_name(p->kind, lang);
                bprintf(&b, "%s %02d.%02d", lang == LANG_EN ? wday_en[p->wday] : wday_nb[p->wday], p->date.d,
                        p->date.m);
                if (*part)
                        bprintf(&b, "  %-20s", part);
                bprintf(&b, lang == LANG_EN ? "  %d of %d available" : "  %d av %d tilgjengelige", p->available,
                        p->people);
                if (!p->met) {
                        bprintf(&b, "  %s: ", lang == LANG_EN ? "CANNOT BE COVERED" : "KAN IKKE DEKKES");
                        missing_text(&b, cfg, p, lang, true);
                }
                if (p->holiday)
                        bprintf(&b, "  (%s)", p->holiday);
                else if (p->closed)
                        bprintf(&b, lang == LANG_EN ? "  (closed)" : "  (stengt)");
                bprintf(&b, "\n");
        }
        return bdone(&b);
}

/* The unmet parts (of ONLY, when given: only those with ONLY[i]) as
 * "to. 24.12 (mangler leder), fr. 25.12 utenfor kontortid (...)", at most
 * COVERAGE_SUMMARY_MAX, then " og N til". */
static void unmet_list(struct buf *b, const struct config *cfg, const struct coverage *cv, const bool *only,
                       enum lang lang) {
        size_t shown = 0, total = 0;
        for (size_t i = 0; i < cv->n_parts; i++)
                total += !cv->parts[i].met && (!only || only[i]);
        for (size_t i = 0; i < cv->n_parts; i++) {
                const struct coverage_part *p = &cv->parts[i];
                if (p->met || (only && !only[i]))
                        continue;
                if (shown == COVERAGE_SUMMARY_MAX) {
                        bprintf(b, lang == LANG_EN ? " and %zu more" : " og %zu til", total - shown);
                        break;
                }
                bprintf(b, "%s%s %d.%d", shown ? ", " : "", lang == LANG_EN ? wday_en[p->wday] : wday_nb[p->wday],
                        p->date.d, p->date.m);
                shown++;
                /* The part only where the day has two (on a closed day, a holiday or a weekend it is all of it). */
                bool split = (i > 0 && ymd_cmp(cv->parts[i - 1].date, p->date) == 0) ||
                             (i + 1 < cv->n_parts && ymd_cmp(cv->parts[i + 1].date, p->date) == 0);
                if (split)
                        bprintf(b, " %s", part_name(p->kind, lang));
                bprintf(b, " (");
                missing_text(b, cfg, p, lang, false);
                bprintf(b, ")");
        }
}

char *coverage_summary(const struct config *cfg, const struct coverage *cv, const char *title, enum lang lang) {
        struct buf b = {};
        bprintf(&b, "%s %d.%d\xe2\x80\x93%d.%d: ", title ? title : cv->chain->name ? cv->chain->name : cv->chain->id,
                cv->from.d, cv->from.m, cv->to.d, cv->to.m);
        if (cv->n_unmet_days == 0) {
                bprintf(&b, lang == LANG_EN ? "every day can be covered." : "alle dager kan dekkes.");
                return bdone(&b);
        }
        if (lang == LANG_EN)
                bprintf(&b, "%zu day%s cannot be covered: ", cv->n_unmet_days, cv->n_unmet_days == 1 ? "" : "s");
        else
                bprintf(&b, "%zu dag%s kan ikke dekkes: ", cv->n_unmet_days, cv->n_unmet_days == 1 ? "" : "er");
        unmet_list(&b, cfg, cv, NULL, lang);
        bprintf(&b, ".");
        return bdone(&b);
}

char *coverage_unmet_text(const struct config *cfg, const struct coverage *cv, const bool *only, enum lang lang) {
        struct buf b = {};
        unmet_list(&b, cfg, cv, only, lang);
        return bdone(&b);
}

void coverage_part_key(const struct coverage_part *p, char *buf, size_t len) {
        char d[16];
        date_str(p->date, d, sizeof(d));
        snprintf(buf, len, "%s/%s", d, coverage_part_id(p->kind));
}
