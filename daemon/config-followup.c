/* config-followup.c - the "followup" section: levels, reminders, overdue
 * and escalation times, the coordinator. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"

void cfg_load_followup(struct loader *l, const config_setting_t *root) {
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
}
