/* config-load.h - private to config*.c: the loader that walks the libconfig
 * tree (config.c), shared by the files that load one section each
 * (config-people.c, config-gateways.c, config-chains.c, config-followup.c,
 * config-mqtt.c, config-http.c, config-retention.c) and the secrets (config-secret.c).
 *
 * Every error goes through cfg_fail() or cfg_fail_elem() as "FILE:LINE:
 * PATH: message" and is collected, never printed; the getters report a
 * missing or mistyped setting themselves and return NULL or the default,
 * so a section loader goes on after a mistake. */
#pragma once

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* From config.h, which every config*.c includes first. */
struct chain;
struct config;
struct errlist;
struct person;
struct ymd;

struct loader {
        const char *path; /* as given by the caller */
        struct errlist *errs;
        struct config *c;
        size_t n_errors; /* errors we meant to add; errs->n lags only on OOM */
        bool oom;
};

/* ---- errors ---- */

/* The line of S (or of its nearest parent that has one); 0 if none does. */
int cfg_setting_line(const config_setting_t *s);
/* An error about setting S: "FILE:LINE: PATH: message". */
void cfg_fail(struct loader *l, const config_setting_t *s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An error named after list S but placed at the line of its element E:
 * "chains[0].steps[0].notify: unknown person "per"" on the line of "per". */
void cfg_fail_elem(struct loader *l, const config_setting_t *s, const config_setting_t *e, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* ---- memory (a failure sets l->oom) ---- */

char *cfg_ldup(struct loader *l, const char *s);
/* N zeroed elements of SIZE bytes; NULL for N == 0 too. */
void *cfg_alloc_array(struct loader *l, size_t n, size_t size);
void cfg_strv_free(char **v, size_t n);

/* ---- settings ---- */

/* Unknown keys of group G (not in the NULL-terminated ALLOWED) are errors. */
void cfg_check_keys(struct loader *l, const config_setting_t *g, const char *const *allowed);
/* Member KEY of group G; reports a missing required one at G's line. */
config_setting_t *cfg_member(struct loader *l, const config_setting_t *g, const char *key, bool required);
const char *cfg_get_string(struct loader *l, const config_setting_t *g, const char *key, bool required,
                           config_setting_t **ret_s);
/* A string with no control characters and not empty. */
const char *cfg_get_text(struct loader *l, const config_setting_t *g, const char *key, bool required,
                         config_setting_t **ret_s);
bool cfg_setting_is_int(const config_setting_t *s);
long long cfg_get_int(struct loader *l, const config_setting_t *g, const char *key, bool required, long long min,
                      long long max, long long def, config_setting_t **ret_s);
bool cfg_get_bool(struct loader *l, const config_setting_t *g, const char *key, bool def, config_setting_t **ret_s);
uint64_t cfg_get_duration(struct loader *l, const config_setting_t *g, const char *key, bool required, uint64_t def,
                          bool nonzero, config_setting_t **ret_s);
/* Setting S as a "YYYY-MM-DD" date; false (reported) when it is not one. */
bool cfg_get_date(struct loader *l, const config_setting_t *s, struct ymd *ret);
/* A list of strings, [ ... ] or ( ... ); NULL when absent or bad (reported). */
config_setting_t *cfg_get_string_list(struct loader *l, const config_setting_t *g, const char *key, bool required);
/* A list of groups ( { ... }, ... ); an empty [] is accepted too. */
config_setting_t *cfg_get_group_list(struct loader *l, const config_setting_t *g, const char *key, bool required);
/* Element I of a group list, or NULL when it is not a group (reported). */
config_setting_t *cfg_group_elem(struct loader *l, const config_setting_t *list, int i);
config_setting_t *cfg_get_group(struct loader *l, const config_setting_t *g, const char *key, bool required);
const char *cfg_string_elem(const config_setting_t *list, int i);
/* A string that must be one of NAMES[0..N); returns its index, or DEF. */
int cfg_get_enum(struct loader *l, const config_setting_t *g, const char *key, bool required,
                 const char *const *names, size_t n, int def, config_setting_t **ret_s);

/* ---- sections: a list of elements with ids, or one group ---- */

/* A zeroed array of SIZE-byte elements for the group list KEY of ROOT, with
 * the list in *RET_LIST and its length in *RET_N; NULL when the list is
 * absent, bad or empty, or the array cannot be had. */
void *cfg_section_array(struct loader *l, const config_setting_t *root, const char *key, size_t size,
                        config_setting_t **ret_list, int *ret_n);
/* Element I of a section's LIST with its keys checked, or NULL when it is
 * not a group. *RET_ID is its id, or NULL when that is missing, bad or
 * taken: TAKEN_LINE(c, id) gives the line of an earlier element with that
 * id, or -1. */
config_setting_t *cfg_section_elem(struct loader *l, const config_setting_t *list, int i, const char *const *keys,
                                   int (*taken_line)(const struct config *c, const char *id), const char **ret_id,
                                   config_setting_t **ret_sid);
/* The line an element is reported at: its id's, else its own. */
int cfg_elem_line(const config_setting_t *e, const config_setting_t *sid);
/* The line of a looked-up element X, or -1 for none (for taken_line). */
#define CFG_LINE_OF(x) ((x) ? (x)->line : -1)
/* The group KEY of ROOT with its keys checked, or NULL when it is absent;
 * *ENABLED and *LINE say that it is there and where. */
config_setting_t *cfg_section_group(struct loader *l, const config_setting_t *root, const char *key,
                                    const char *const *keys, bool *enabled, int *line);

/* ---- values several sections check ---- */

bool cfg_has_prefix(const char *s, const char *prefix);
/* S has a control character (CR, LF, ...). */
bool cfg_has_ctrl(const char *s);
bool cfg_email_is_valid(const char *s);
/* URL has one of the NULL-terminated SCHEMES and something after it. */
bool cfg_url_ok(const char *url, const char *const *schemes);
/* Some configured person has ROLE. */
bool cfg_role_exists(const struct config *c, const char *role);
/* "nb", "en": the names of enum lang, by value. */
extern const char *const cfg_lang_names[2];

/* ---- secrets (config-secret.c) ---- */

/* The secret file NAME named by setting S into *RET (config_read_secret()). */
void cfg_load_secret(struct loader *l, const config_setting_t *s, const char *name, char **ret);
/* Wipe and free a secret (NULL is fine). */
void cfg_secret_free(char *s);

/* ---- the sections, in the order config_load() reads them ---- */

void cfg_load_people(struct loader *l, const config_setting_t *root);   /* config-people.c */
void cfg_load_roles(struct loader *l, const config_setting_t *root);    /* config-people.c */
void cfg_load_gateways(struct loader *l, const config_setting_t *root); /* config-gateways.c */
void cfg_load_chains(struct loader *l, const config_setting_t *root);   /* config-chains.c */
void cfg_load_followup(struct loader *l, const config_setting_t *root); /* config-followup.c */
void cfg_load_mqtt(struct loader *l, const config_setting_t *root);     /* config-mqtt.c */
void cfg_load_http(struct loader *l, const config_setting_t *root);     /* config-http.c */
void cfg_load_retention(struct loader *l, const config_setting_t *root); /* config-retention.c */

/* What a person and a chain own, freed (for config_free()). */
void cfg_person_done(struct person *p);
void cfg_chain_done(struct chain *ch);
