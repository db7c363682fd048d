/* config-followup.c - the "followup" section: levels, reminders, overdue
 * and escalation times, the coordinator, the factor vocabulary. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"

/* The vulnerability factors of the source documents (DOMAIN.md, table 1 of
 * the Directorate of Health's guidance): existing ones, then those new with
 * the pandemic. The ids are those beredd has always stored, so case files
 * and cases/index written before followup.factors existed keep their
 * meaning; tests/docs.py holds the man pages to this table. */
static const struct factor factor_defaults[] = {
        { "violence", "Utsatt for vold", "exposed to violence" },
        { "mental-illness", "Psykisk sykdom", "mental illness" },
        { "substance-abuse", "Rusproblemer", "substance or alcohol abuse" },
        { "loneliness", "Ensomhet", "loneliness" },
        { "refugee", "Flyktninger", "refugees" },
        { "severe-illness", "Alvorlig syke smittede og pårørende", "seriously ill infected persons and their relatives" },
        { "health-personnel", "Helsepersonell", "health personnel" },
        { "quarantine", "Karantene eller isolasjon", "persons in quarantine or isolation" },
        { "elderly", "Eldre", "elderly persons" },
        { "physical-illness", "Somatisk sykdom", "persons with physical illness" },
        { "relative-burden", "Pårørende med økt belastning", "relatives with an increased burden" },
};
_Static_assert(ELEMENTSOF(factor_defaults) <= FACTORS_MAX, "the defaults fit the index");

const struct factor *config_default_factors(size_t *n) {
        *n = ELEMENTSOF(factor_defaults);
        return factor_defaults;
}

int config_factor_index(const struct followup_conf *fc, const char *id) {
        for (size_t k = 0; id && k < fc->n_factors; k++)
                if (streq(fc->factors[k].id, id))
                        return (int) k;
        return -1;
}

bool config_factor_id_ok(const char *id) {
        size_t n = id ? strlen(id) : 0;
        if (n == 0 || n > FACTOR_ID_MAX || id[0] < 'a' || id[0] > 'z')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
                        return false;
        return true;
}

/* A display name of factor E (KEY "name" or "name_en") into BUF. */
static void factor_name(struct loader *l, const config_setting_t *e, const char *key, bool required, char *buf) {
        config_setting_t *s;
        const char *v = cfg_get_text(l, e, key, required, &s);
        if (v && strlen(v) > FACTOR_NAME_MAX)
                cfg_fail(l, s, "too long (%zu bytes, at most %d)", strlen(v), FACTOR_NAME_MAX);
        else if (v)
                memcpy(buf, v, strlen(v) + 1);
}

/* followup.factors = ( { id = "violence"; name = "Utsatt for vold"; [name_en = "..."] }, ... ) */
static void load_factors(struct loader *l, const config_setting_t *g, struct followup_conf *f) {
        static const char *const keys[] = { "id", "name", "name_en", NULL };
        config_setting_t *list = cfg_get_group_list(l, g, "factors", false);
        int lines[FACTORS_MAX];

        if (!list)
                return;
        int n = config_setting_length(list);
        if (n == 0) {
                cfg_fail(l, list, "needs at least one factor (leave the setting out for the built-in ones)");
                return;
        }
        if (n > FACTORS_MAX) {
                cfg_fail(l, list, "at most %d factors (%d given)", FACTORS_MAX, n);
                return;
        }
        f->n_factors = 0;
        f->factors_default = false;
        for (int i = 0; i < n; i++) {
                config_setting_t *e = cfg_group_elem(l, list, i), *sid;
                struct factor *fc = &f->factors[f->n_factors];
                if (!e)
                        continue;
                cfg_check_keys(l, e, keys);
                *fc = (struct factor) {};
                const char *id = cfg_get_string(l, e, "id", true, &sid);
                int first;
                if (id && !config_factor_id_ok(id))
                        cfg_fail(l, sid,
                                 "bad id \"%.*s\" (use 1-%d lowercase letters, digits, '-' and '_', starting with a letter)",
                                 FACTOR_ID_MAX + 8, id, FACTOR_ID_MAX);
                else if (id && (first = config_factor_index(f, id)) >= 0)
                        cfg_fail(l, sid, "duplicate id \"%s\" (first defined at line %d)", id, lines[first]);
                else if (id)
                        memcpy(fc->id, id, strlen(id) + 1);
                factor_name(l, e, "name", true, fc->name);
                factor_name(l, e, "name_en", false, fc->name_en);
                if (fc->id[0]) {
                        lines[f->n_factors] = cfg_elem_line(e, sid);
                        f->n_factors++;
                }
        }
}

void cfg_load_followup(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "levels", "remind", "overdue_after", "escalate_after", "coordinator",
                                            "retention", "heightened_factor", "unreached_max", "factors", NULL };
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
        f->n_factors = ELEMENTSOF(factor_defaults);
        memcpy(f->factors, factor_defaults, sizeof(factor_defaults));
        f->factors_default = true;

        g = cfg_section_group(l, root, "followup", keys, &f->enabled, &f->line);
        if (!g)
                return;

        list = cfg_get_group_list(l, g, "levels", true);
        if (list && config_setting_length(list) == 0)
                cfg_fail(l, list, "needs at least one level");
        else if (list) {
                int n = config_setting_length(list);
                f->levels = cfg_alloc_array(l, (size_t) n, sizeof(struct level));
                for (int i = 0; i < n && f->levels; i++) {
                        config_setting_t *e = cfg_group_elem(l, list, i), *sl;
                        struct level *lv = &f->levels[f->n_levels];

                        if (!e)
                                continue;
                        cfg_check_keys(l, e, level_keys);
                        lv->level = (int) cfg_get_int(l, e, "level", true, 1, 100, 0, &sl);
                        /* Levels are stepped up and down by one (LEON), so
                         * they must be 1, 2, 3... with no gaps. */
                        if (sl && lv->level > 0 && lv->level != i + 1)
                                cfg_fail(l, sl, "levels must be numbered 1, 2, 3... in order: expected %d, got %d", i + 1,
                                         lv->level);
                        lv->name = cfg_ldup(l, cfg_get_text(l, e, "name", true, NULL));
                        lv->every = cfg_get_duration(l, e, "every", true, 0, true, NULL);
                        f->n_levels++;
                }
        }

        f->remind = (enum remind_mode) cfg_get_enum(l, g, "remind", false, reminds, ELEMENTSOF(reminds), REMIND_OFFICE_HOURS, NULL);
        f->overdue_after = cfg_get_duration(l, g, "overdue_after", false, USEC_PER_DAY, true, &sover);
        f->escalate_after = cfg_get_duration(l, g, "escalate_after", false, 2 * USEC_PER_DAY, true, &sesc);
        /* Overdue first (a second reminder), then escalation to the coordinator. */
        if (f->escalate_after <= f->overdue_after) {
                if (sesc)
                        cfg_fail(l, sesc, "must be longer than overdue_after");
                else
                        cfg_fail(l, sover, "must be shorter than escalate_after (default \"2d\")");
        }
        f->retention = cfg_get_duration(l, g, "retention", false, 90 * USEC_PER_DAY, true, NULL);

        v = cfg_get_string(l, g, "coordinator", true, &s);
        if (v && !config_person(l->c, v))
                cfg_fail(l, s, "unknown person \"%s\"", v);
        else
                f->coordinator = cfg_ldup(l, v);

        s = cfg_member(l, g, "heightened_factor", false);
        if (s) {
                double d = config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                           : cfg_setting_is_int(s)                         ? (double) config_setting_get_int64(s)
                                                                       : -1.0;
                if (config_setting_type(s) != CONFIG_TYPE_FLOAT && !cfg_setting_is_int(s))
                        cfg_fail(l, s, "expected a number");
                else if (!(d > 0.0 && d <= 1.0))
                        cfg_fail(l, s, "%g is out of range (0 < factor <= 1)", d);
                else
                        f->heightened_factor = d;
        }
        f->unreached_max = (int) cfg_get_int(l, g, "unreached_max", false, 1, 100, 3, NULL);
        load_factors(l, g, f);
}
