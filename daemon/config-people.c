/* config-people.c - the "people" and "roles" sections, and finding a person
 * by phone or e-mail (sender lookups). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"
#include "text.h"

/* A phone number as the file and sender lookups take it: digits, '+' and
 * spaces only (the configuration never took "-", "." or brackets, and a
 * sender is matched on the same terms), normalised by text_phone_e164(). */
static int phone_e164(const char *s, char out[static TEXT_E164_MAX]) {
        if (s[strspn(s, "0123456789+ ")] != '\0')
                return -EINVAL;
        return text_phone_e164(s, out, TEXT_E164_MAX);
}

static int person_line(const struct config *c, const char *id) {
        return CFG_LINE_OF(config_person(c, id));
}

static int role_line(const struct config *c, const char *id) {
        for (size_t j = 0; j < c->n_roles; j++)
                if (streq(c->roles[j].id, id))
                        return c->roles[j].line;
        return -1;
}

void cfg_person_done(struct person *p) {
        free(p->id);
        free(p->name);
        free(p->phone);
        free(p->email);
        cfg_strv_free(p->roles, p->n_roles);
        *p = (struct person) {};
}

void cfg_load_people(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "name", "phone", "email", "roles", "lang", NULL };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->people = cfg_section_array(l, root, "people", sizeof(struct person), &list, &n);
        for (int i = 0; c->people && i < n; i++) {
                config_setting_t *sid, *s, *roles;
                struct person *p = &c->people[c->n_people];
                const char *id, *v;
                config_setting_t *e = cfg_section_elem(l, list, i, keys, person_line, &id, &sid);

                if (!e)
                        continue;

                v = cfg_get_text(l, e, "name", true, NULL);
                p->name = cfg_ldup(l, v);

                v = cfg_get_string(l, e, "phone", false, &s);
                if (v) {
                        char e164[TEXT_E164_MAX];
                        if (phone_e164(v, e164) < 0)
                                cfg_fail(l, s, "bad phone number (use \"+4791234567\", \"004791234567\" or 8 digits)");
                        else if ((p->phone = cfg_ldup(l, e164)))
                                for (size_t j = 0; j < c->n_people; j++)
                                        if (c->people[j].phone && streq(c->people[j].phone, p->phone)) {
                                                /* A reply from this number could not be told apart. */
                                                cfg_fail(l, s, "the same number as the phone of \"%s\"", c->people[j].id);
                                                break;
                                        }
                }

                v = cfg_get_string(l, e, "email", false, &s);
                if (v) {
                        if (!cfg_email_is_valid(v))
                                cfg_fail(l, s, "bad e-mail address");
                        else {
                                p->email = cfg_ldup(l, v);
                                for (size_t j = 0; j < c->n_people; j++)
                                        if (c->people[j].email && strcasecmp(c->people[j].email, v) == 0) {
                                                cfg_fail(l, s, "the same address as the e-mail of \"%s\"", c->people[j].id);
                                                break;
                                        }
                        }
                }
                if (!cfg_member(l, e, "phone", false) && !cfg_member(l, e, "email", false))
                        cfg_fail(l, e, "needs a phone or an email");

                roles = cfg_get_string_list(l, e, "roles", false);
                if (roles) {
                        int k = config_setting_length(roles);
                        p->roles = cfg_alloc_array(l, (size_t) k, sizeof(char *));
                        for (int j = 0; j < k && p->roles; j++) {
                                v = cfg_string_elem(roles, j);
                                if (!id_is_safe(v))
                                        cfg_fail(l, config_setting_get_elem(roles, (unsigned) j),
                                                 "bad role \"%s\" (use letters, digits, '.', '_' and '-')", v);
                                else
                                        p->roles[p->n_roles++] = cfg_ldup(l, v);
                        }
                }

                p->lang = (enum lang) cfg_get_enum(l, e, "lang", false, cfg_lang_names, ELEMENTSOF(cfg_lang_names), (int) c->lang, NULL);
                p->line = cfg_elem_line(e, sid);

                /* Keep the person only with a usable id; the rest of the
                 * element's mistakes are already reported. */
                if (id) {
                        p->id = cfg_ldup(l, id);
                        if (p->id && strmap_put(&c->people_map, p->id, c->n_people) < 0)
                                l->oom = true;
                        c->n_people++;
                } else
                        cfg_person_done(p);
        }
}

bool cfg_role_exists(const struct config *c, const char *role) {
        for (size_t i = 0; i < c->n_people; i++)
                if (person_has_role(&c->people[i], role))
                        return true;
        return false;
}

void cfg_load_roles(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "name", "name_en", NULL };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->roles = cfg_section_array(l, root, "roles", sizeof(struct role_def), &list, &n);
        for (int i = 0; c->roles && i < n; i++) {
                config_setting_t *sid;
                struct role_def *r = &c->roles[c->n_roles];
                const char *id, *name, *name_en;
                config_setting_t *e = cfg_section_elem(l, list, i, keys, role_line, &id, &sid);

                if (!e)
                        continue;
                if (id && !cfg_role_exists(c, id)) {
                        /* Most likely a typo: a name for a role nobody has is never shown. */
                        cfg_fail(l, sid, "unknown role \"%s\" (no person has it)", id);
                        id = NULL;
                }
                name = cfg_get_text(l, e, "name", true, NULL);
                name_en = cfg_get_text(l, e, "name_en", false, NULL);
                if (!id || !name)
                        continue;
                *r = (struct role_def) { .id = cfg_ldup(l, id), .name = cfg_ldup(l, name), .name_en = cfg_ldup(l, name_en ?: name),
                                         .line = cfg_setting_line(sid) };
                c->n_roles++;
        }
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
