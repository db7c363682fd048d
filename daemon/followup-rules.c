/* followup-rules.c - the pure rules of the follow-up engine and its texts:
 * state and stage names, the next action of a case (followup_next_action),
 * the check-in rules (followup_plan_checkin), the reminder and coordinator
 * texts (followup_text). No I/O, no clock: everything comes in as arguments
 * (see followup.h; the parts are listed in followup-internal.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "followup-internal.h"
#include "macro.h"
#include "wording.h"

/* ---- names ---- */

const char *const fu_state_names[FU_CLOSED + 1] = { [FU_OPEN] = "open", [FU_ESCALATED] = "escalated",
                                                   [FU_CLOSED] = "closed" };
const char *const fu_stage_names[FU_STAGE_ESCALATED + 1] = { [FU_STAGE_NONE] = "none", [FU_STAGE_FIRST] = "first",
                                                            [FU_STAGE_SECOND] = "second",
                                                            [FU_STAGE_ESCALATED] = "escalated" };

const char *fu_state_name(enum fu_state s) {
        return (unsigned) s < ELEMENTSOF(fu_state_names) ? fu_state_names[s] : NULL;
}

const char *fu_stage_name(enum fu_stage s) {
        return (unsigned) s < ELEMENTSOF(fu_stage_names) ? fu_stage_names[s] : NULL;
}

bool followup_is_code(const char *code) {
        if (!code || strlen(code) != 5 || code[0] == '0')
                return false;
        for (const char *p = code; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

/* ---- the pure rules ---- */

static bool heightened(const struct calendar *cal, uint64_t t) {
        struct calendar_local l;
        calendar_local(cal, t, &l);
        return calendar_heightened(cal, l.date) != NULL;
}

static uint64_t scale(const struct followup_conf *fc, uint64_t d, bool height) {
        if (!height || fc->heightened_factor >= 1.0 || fc->heightened_factor <= 0.0)
                return d;
        return (uint64_t) ((double) d * fc->heightened_factor);
}

/* BASE + D; whole days as civil days at the same wall-clock time. */
static uint64_t add_delay(const struct calendar *cal, uint64_t base, uint64_t d) {
        if (d == 0 || d % USEC_PER_DAY != 0)
                return base + d;
        struct calendar_local l;
        calendar_local(cal, base, &l);
        return calendar_from_local(cal, calendar_add_days(l.date, (int64_t) (d / USEC_PER_DAY)), l.day_min) +
               (uint64_t) l.second * USEC_PER_SEC + (uint64_t) l.usec;
}

uint64_t fu_to_office(const struct followup_conf *fc, const struct calendar *cal, uint64_t t) {
        if (fc->remind != REMIND_OFFICE_HOURS || calendar_is_office(cal, t))
                return t;
        uint64_t o = calendar_next_office_start(cal, t);
        return o == CALENDAR_NEVER ? t : o;
}

uint64_t fu_first_reminder(const struct followup_conf *fc, const struct calendar *cal, struct ymd due) {
        if (fc->remind == REMIND_OFFICE_HOURS) {
                uint64_t o = calendar_next_office_start(cal, calendar_from_local(cal, due, 0));
                if (o != CALENDAR_NEVER)
                        return o;
        }
        return calendar_from_local(cal, due, 8 * 60);
}

uint64_t followup_next_action(const struct followup_conf *fc, const struct calendar *cal, const struct fu_sched *s,
                              enum fu_action *ret_action) {
        enum fu_action a = FU_ACT_NONE;
        uint64_t t = UINT64_MAX;

        if (s->state == FU_CLOSED) {
                struct calendar_local l;
                calendar_local(cal, s->closed + fc->retention, &l);
                a = FU_ACT_PURGE;
                t = calendar_from_local(cal, calendar_add_days(l.date, 1), 3 * 60);
        } else if (s->stage == FU_STAGE_NONE) {
                a = FU_ACT_REMIND;
                t = fu_first_reminder(fc, cal, s->due);
                if (s->now && t < s->now)
                        t = fu_to_office(fc, cal, s->now);
        } else if (s->stage == FU_STAGE_FIRST) {
                bool h = heightened(cal, s->reminded);
                a = FU_ACT_SECOND;
                t = fu_to_office(fc, cal, add_delay(cal, s->reminded, scale(fc, fc->overdue_after, h)));
        } else if (s->stage == FU_STAGE_SECOND) {
                bool h = heightened(cal, s->reminded);
                uint64_t esc = scale(fc, fc->escalate_after, h), over = scale(fc, fc->overdue_after, h);
                a = FU_ACT_ESCALATE;
                t = fu_to_office(fc, cal, add_delay(cal, s->reminded, esc));
                /* Never sooner after the second reminder than planned. */
                uint64_t after_second = fu_to_office(fc, cal, s->second + (esc > over ? esc - over : 0));
                if (after_second > t)
                        t = after_second;
                if (t <= s->second)
                        t = fu_to_office(fc, cal, s->second + 1);
        }
        if (ret_action)
                *ret_action = a;
        return t;
}

uint64_t followup_interval(const struct followup_conf *fc, const struct calendar *cal, int level, struct ymd today) {
        if (level < 1 || (size_t) level > fc->n_levels)
                return 0;
        return scale(fc, fc->levels[level - 1].every, calendar_heightened(cal, today) != NULL);
}

struct ymd fu_date_after(const struct calendar *cal, uint64_t now, struct ymd today, uint64_t d) {
        if (d >= USEC_PER_DAY)
                return calendar_add_days(today, (int64_t) ((d + USEC_PER_DAY / 2) / USEC_PER_DAY));
        struct calendar_local l;
        calendar_local(cal, now + d, &l);
        return l.date;
}

int followup_plan_checkin(const struct followup_conf *fc, const struct calendar *cal,
                          const struct fu_checkin_state *st, enum outcome outcome, const struct ymd *next,
                          uint64_t next_in, int postpone_days, uint64_t now, struct fu_plan *ret, char *err,
                          size_t errlen) {
        struct calendar_local l;
        calendar_local(cal, now, &l);
        struct ymd today = l.date;
        int max = fc->n_levels > 0 ? (int) fc->n_levels : st->level;
        struct fu_plan p = { .level = st->level, .task = st->task, .unreached_in_row = 0 };

        switch (outcome) {
        case OUTCOME_NO_NEEDS:
                p.task = false;
                break;
        case OUTCOME_NEEDS:
                p.level = st->level < max ? st->level + 1 : max;
                p.task = false;
                break;
        case OUTCOME_WORSE:
                /* LEON: absence of improvement is followed by more intensive follow-up. */
                p.level = st->level < max ? st->level + 1 : max;
                if (st->children) {
                        p.task = true;
                        p.tell_children = true;
                }
                break;
        case OUTCOME_BETTER:
                p.level = st->level > 1 ? st->level - 1 : 1;
                p.task = false;
                break;
        case OUTCOME_UNREACHED:
                p.unreached_in_row = st->unreached_in_row + 1;
                p.tell_unreached = fc->unreached_max > 0 && p.unreached_in_row % fc->unreached_max == 0;
                break;
        case OUTCOME_NONE: /* a postponement: nothing learnt */
                p.unreached_in_row = st->unreached_in_row;
                if (postpone_days <= 0) {
                        snprintf(err, errlen, "outcome: missing");
                        return -EINVAL;
                }
                break;
        }

        if (outcome == OUTCOME_UNREACHED) {
                if (calendar_next_working_day(cal, calendar_add_days(today, 1), &p.due) < 0)
                        p.due = calendar_add_days(today, 1);
        } else {
                p.due = fu_date_after(cal, now, today, followup_interval(fc, cal, p.level, today));
        }

        if (next) {
                if (ymd_cmp(*next, today) < 0) {
                        char d[16];
                        time_format_date(*next, d, sizeof(d));
                        snprintf(err, errlen, "next: %s is in the past", d);
                        return -EINVAL;
                }
                p.due = *next;
        } else if (next_in > 0)
                p.due = fu_date_after(cal, now, today, next_in);
        else if (postpone_days > 0)
                p.due = calendar_add_days(today, postpone_days);
        *ret = p;
        return 0;
}

/* ---- texts ---- */

static void join_contacts(const char *const *v, size_t n, char *buf, size_t len) {
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n && o < len; i++) {
                int k = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", v[i]);
                if (k < 0)
                        break;
                o += (size_t) k;
        }
}

/* "Ola er borte til og med 27.12 og Kari til og med 2.1". */
static void away_phrase(bool en, const struct fu_away *v, size_t n, char *buf, size_t len) {
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n && i < 2 && o < len; i++) {
                const struct fu_away *x = &v[i];
                int k = x->minute < 0 ? snprintf(buf + o, len - o, i ? W(en, W_FU_AWAY_DAY2) : W(en, W_FU_AWAY_DAY),
                                                 x->name, x->last.d, x->last.m)
                                      : snprintf(buf + o, len - o, i ? W(en, W_FU_AWAY_TIME2) : W(en, W_FU_AWAY_TIME),
                                                 x->name, x->last.d, x->last.m, x->minute / 60, x->minute % 60);
                if (k < 0)
                        break;
                o += (size_t) k;
        }
}

int followup_text(const struct fu_text_args *a, char *subject, size_t slen, char *text, size_t tlen) {
        bool en = a->lang == LANG_EN;
        char head[512], task[96], reply_long[192], reply_short[128], reply_min[128], who[160], away[256], why[320];
        int k;

        join_contacts(a->contacts, a->n_contacts, who, sizeof(who));
        away_phrase(en, a->away, a->n_away, away, sizeof(away));
        why[0] = '\0';
        switch (a->kind) {
        case FU_TEXT_REMIND:
        case FU_TEXT_SECOND:
                if (a->kind == FU_TEXT_REMIND) {
                        snprintf(head, sizeof(head), a->today ? W(en, W_FU_DUE_TODAY) : W(en, W_FU_OVERDUE), a->ref);
                        snprintf(subject, slen, a->today ? W(en, W_FU_DUE_TODAY_SUBJECT) : W(en, W_FU_OVERDUE_SUBJECT),
                                 a->ref);
                } else {
                        snprintf(head, sizeof(head), W(en, W_FU_SECOND), a->ref);
                        snprintf(subject, slen, W(en, W_FU_SECOND_SUBJECT), a->ref);
                }
                if (a->n_away) { /* "Ola er borte til og med 27.12, så oppfølgingen er sendt til deg. " */
                        size_t hl = strlen(head);
                        snprintf(head + hl, sizeof(head) - hl, "%s%s", away, W(en, W_FU_SENT_TO_YOU));
                }
                snprintf(task, sizeof(task), "%s", a->task ? W(en, W_FU_TASK_CHILDREN) : "");
                if (a->code) {
                        snprintf(reply_long, sizeof(reply_long), W(en, W_FU_REPLY_LONG), a->code, a->code, a->code);
                        snprintf(reply_short, sizeof(reply_short), W(en, W_FU_REPLY_SHORT), a->code, a->code, a->code);
                        /* The last resort for one SMS: without UTSETT. */
                        snprintf(reply_min, sizeof(reply_min), W(en, W_FU_REPLY_MIN), a->code, a->code);
                } else {
                        reply_long[0] = reply_short[0] = reply_min[0] = '\0';
                }
                k = snprintf(text, tlen, "%s%s%s", head, task, reply_long);
                /* By SMS the longest instruction that keeps one segment. */
                const char *shorter[] = { reply_short, reply_min };
                for (size_t v = 0; v < ELEMENTSOF(shorter) && k >= 0 && (size_t) k < tlen && a->ch == CHANNEL_SMS; v++) {
                        struct text_sms_info info;
                        if (text_sms_count(text, (size_t) k, &info) < 0 || info.segments <= 1)
                                break;
                        k = snprintf(text, tlen, "%s%s%s", head, task, shorter[v]);
                }
                break;
        case FU_TEXT_ESCALATE:
                snprintf(subject, slen, W(en, W_FU_NOT_RECORDED_SUBJECT), a->ref);
                if (a->n_away)
                        snprintf(why, sizeof(why), W(en, W_FU_ESC_REMINDED), away,
                                 a->reminded ? a->reminded : W(en, W_FU_ESC_YOU));
                k = snprintf(text, tlen, a->n == 1 ? W(en, W_FU_NOT_RECORDED_DAY) : W(en, W_FU_NOT_RECORDED_DAYS), a->ref,
                             a->n, who);
                if (k >= 0 && (size_t) k < tlen)
                        k += snprintf(text + k, tlen - (size_t) k, "%s", why);
                break;
        case FU_TEXT_RESPONSIBLE:
                snprintf(subject, slen, W(en, W_FU_RESPONSIBLE_SUBJECT), a->ref);
                k = snprintf(text, tlen, W(en, W_FU_RESPONSIBLE), a->ref, away, a->due.d, a->due.m);
                break;
        case FU_TEXT_CHILDREN:
                snprintf(subject, slen, W(en, W_FU_CHILDREN_SUBJECT), a->ref);
                k = snprintf(text, tlen, W(en, W_FU_CHILDREN), a->ref, who);
                break;
        case FU_TEXT_UNREACHED:
                snprintf(subject, slen, W(en, W_FU_UNREACHED_SUBJECT), a->ref);
                if (a->n == 1)
                        k = snprintf(text, tlen, W(en, W_FU_UNREACHED_ONCE), a->ref, who);
                else
                        k = snprintf(text, tlen, W(en, W_FU_UNREACHED), a->ref, a->n, who);
                break;
        default:
                return -EINVAL;
        }
        if (k < 0 || (size_t) k >= tlen)
                return -ENOBUFS;
        return 0;
}
