/* followup-list.c - case.list (followup_list(), see followup.h): the cases
 * with their references, levels, due dates and contacts, for the control
 * socket only (a case reference is personal data). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "followup-internal.h"
#include "macro.h"

/* An entry in the order case.list shows them: by due date, then ref. */
struct listed {
        int32_t due;
        uint32_t i;
        const char *ref;
};
static int cmp_listed(const void *x, const void *y) {
        const struct listed *a = x, *b = y;
        if (a->due != b->due)
                return a->due < b->due ? -1 : 1;
        return strcmp(a->ref, b->ref);
}

int followup_list(struct followup *f, enum case_filter state, const char *contact, json_t **reply) {
        static const char *const filters[] = { [CASE_FILTER_OPEN] = "open", [CASE_FILTER_CLOSED] = "closed",
                                               [CASE_FILTER_ALL] = "all" };
        struct listed *v = malloc((f->n_e ? f->n_e : 1) * sizeof(*v));
        size_t n = 0, shown = 0;
        bool truncated = false;

        if (!v)
                return -ENOMEM;
        for (uint32_t i = 0; i < f->n_e; i++) {
                const struct fu_entry *e = &f->e[i];
                bool closed = E_STATE(e) == FU_CLOSED;
                if (e->ref != NIL && (state == CASE_FILTER_ALL || closed == (state == CASE_FILTER_CLOSED)))
                        v[n++] = (struct listed) { .due = e->due, .i = i, .ref = eref(f, i) };
        }
        qsort(v, n, sizeof(*v), cmp_listed);
        json_t *arr = json_array();
        for (size_t k = 0; k < n; k++) {
                struct fu_case c;
                if (fu_case_read(f, v[k].ref, &c) < 0)
                        continue;
                bool mine = !contact;
                json_t *contacts = json_array();
                for (size_t j = 0; j < c.n_contacts; j++) {
                        json_array_append_new(contacts, json_string(c.contacts[j]));
                        mine = mine || streq(c.contacts[j], contact);
                }
                if (mine && shown == FOLLOWUP_LIST_MAX) {
                        truncated = true;
                        mine = false;
                }
                if (!mine) {
                        json_decref(contacts);
                        case_done(&c);
                        if (truncated)
                                break;
                        continue;
                }
                json_t *o = json_pack("{s:s, s:s, s:i, s:o, s:o}", "case", c.ref, "state", fu_state_names[c.state],
                                      "level", c.level, "due", case_date_json(c.due), "contacts", contacts);
                if (c.state == FU_CLOSED && c.closed) {
                        struct calendar_local l;
                        calendar_local(f->cal, c.closed, &l);
                        json_object_set_new(o, "closed", case_date_json(l.date));
                } else {
                        json_object_set_new(o, "overdue", json_boolean(c.stage >= FU_STAGE_SECOND));
                }
                case_done(&c);
                json_array_append_new(arr, o);
                shown++;
        }
        free(v);
        *reply = json_pack("{s:s, s:I, s:o}", "state", filters[state], "count", (json_int_t) shown, "cases", arr);
        if (*reply && truncated)
                json_object_set_new(*reply, "truncated", json_true());
        return *reply ? 0 : -ENOMEM;
}
