/* server-away.c - absences as commands (away, away.list, away.cancel) and
 * as SMS texts (BORTE / TILBAKE, AWAY / BACK) from a person's own number.
 * The journal gets absence ids, person ids and counts, never a note. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "absence.h"
#include "away-parse.h"
#include "calendar.h"
#include "followup.h"
#include "log.h"
#include "macro.h"
#include "server-internal.h"
#include "wording.h"

static void fmt_local(void *ud, uint64_t t, char *buf, size_t len) {
        const struct calendar *cal = ud;
        struct calendar_local l;
        calendar_local(cal, t, &l);
        time_format_date_time(l.date, l.hour, l.minute, buf, len);
}

/* "YYYY-MM-DD" (the start of that day, or with END the start of the next:
 * "to" a date means to its end) or "YYYY-MM-DD HH:MM" local -> usec. */
static int parse_local(const struct calendar *cal, const char *s, bool end, uint64_t *ret) {
        char date[11];
        int hh = 0, mm = 0;
        char sep, extra;
        struct ymd d;
        size_t n = s ? strlen(s) : 0;
        if (n != 10 && n != 16)
                return -EINVAL;
        memcpy(date, s, 10);
        date[10] = '\0';
        if (parse_date(date, &d) < 0)
                return -EINVAL;
        if (n == 16 && (sscanf(s + 10, "%c%2d:%2d%c", &sep, &hh, &mm, &extra) != 3 || (sep != ' ' && sep != 'T') ||
                        hh < 0 || hh > 23 || mm < 0 || mm > 59))
                return -EINVAL;
        if (n == 10 && end)
                d = calendar_add_days(d, 1);
        *ret = calendar_from_local(cal, d, hh * 60 + mm);
        return 0;
}

static const char *source_word(enum source src) {
        switch (src) {
        case SOURCE_SOCKET:
                return "socket";
        case SOURCE_MQTT:
                return "mqtt";
        case SOURCE_INCOMING:
                return "incoming";
        case SOURCE_SMS:
                return "sms";
        case SOURCE_EMAIL:
                return "email";
        }
        return "?";
}

int server_away(struct server *s, const struct command *cmd, enum source src, json_t **reply, char *err,
                size_t errlen) {
        uint64_t from, to, now = beredd_now();
        const struct absence *x;
        if (parse_local(s->cal, cmd->from, false, &from) < 0) {
                snprintf(err, errlen, "from: expected local time \"YYYY-MM-DD[ HH:MM]\"");
                return -EINVAL;
        }
        if (parse_local(s->cal, cmd->to, true, &to) < 0) {
                snprintf(err, errlen, "to: expected local time \"YYYY-MM-DD[ HH:MM]\"");
                return -EINVAL;
        }
        if (to <= from) {
                snprintf(err, errlen, "to: must be after from");
                return -EINVAL;
        }
        if (to - from > ABSENCE_MAX_PERIOD) {
                snprintf(err, errlen, "to: an absence is at most 366 days long");
                return -EINVAL;
        }
        if (to <= now) {
                snprintf(err, errlen, "to: the absence would be over already");
                return -EINVAL;
        }
        if (from > now + ABSENCE_MAX_AHEAD) {
                snprintf(err, errlen, "from: an absence begins at most 366 days ahead");
                return -EINVAL;
        }
        /* The same period again (a drop file processed a second time after
         * a crash, a command repeated) is the absence already kept. */
        size_t it = 0;
        while ((x = absences_next(s->absences, cmd->person, from, to, &it)))
                if (x->from == from && x->to == to) {
                        *reply = json_pack("{s:o, s:b}", "absence", absence_json(x, fmt_local, s->cal), "existing", 1);
                        return 0;
                }
        int r = absences_add(s->absences, cmd->person, from, to, cmd->note, source_word(src), now, &x);
        if (r == -E2BIG)
                snprintf(err, errlen, "spool: too many absences kept (%d); cancel some first", ABSENCES_MAX);
        else if (r == -EDQUOT)
                snprintf(err, errlen, "person: %d absences kept for them already; cancel some first",
                         ABSENCES_PER_PERSON_MAX);
        else if (r < 0)
                snprintf(err, errlen, "spool: cannot save the absence (%s)", strerror(-r));
        if (r < 0)
                return r;
        log_info("Absence %s of %s registered (from %s%s%s)", x->id, x->person, x->source, cmd->by ? ", by " : "",
                 cmd->by ? cmd->by : "");
        *reply = json_pack("{s:o}", "absence", absence_json(x, fmt_local, s->cal));
        followup_absence_added(s->fu, x->person, x->from, x->to); /* a responsible contact away on a due date */
        return 0;
}

int server_away_list(struct server *s, const struct command *cmd, json_t **reply) {
        json_t *arr = json_array();
        size_t it = 0;
        uint64_t now = beredd_now();
        for (const struct absence *x; (x = absences_next(s->absences, cmd->person, 0, UINT64_MAX, &it));) {
                json_t *o = absence_json(x, fmt_local, s->cal);
                json_object_set_new(o, "current", json_boolean(x->from <= now && now < x->to));
                json_object_set_new(o, "over", json_boolean(x->to <= now));
                json_array_append_new(arr, o);
        }
        *reply = json_pack("{s:o}", "absences", arr);
        return 0;
}

int server_away_cancel(struct server *s, const struct command *cmd, json_t **reply, char *err, size_t errlen) {
        const struct absence *x = absences_find(s->absences, cmd->absence);
        if (!x) {
                snprintf(err, errlen, "absence: no such absence");
                return -ENOENT;
        }
        char *person = strdup(x->person);
        int r = person ? absences_cancel(s->absences, cmd->absence) : -ENOMEM;
        if (r < 0) {
                snprintf(err, errlen, "spool: cannot remove the absence (%s)", strerror(-r));
                free(person);
                return r;
        }
        log_info("Absence %s of %s cancelled%s%s", cmd->absence, person, cmd->by ? " by " : "", cmd->by ? cmd->by : "");
        *reply = json_pack("{s:s, s:s}", "absence", cmd->absence, "person", person);
        free(person);
        return 0;
}

/* "fredag 24.12", with the year when it is not TODAY's. */
static void day_text(bool en, struct ymd d, struct ymd today, char *buf, size_t len) {
        static const char *const nb[] = AWAY_WEEKDAYS_NB, *const eng[] = AWAY_WEEKDAYS_EN;
        char year[8] = "";
        if (d.y != today.y)
                snprintf(year, sizeof(year), ".%d", d.y);
        snprintf(buf, len, "%s %d.%d%s", (en ? eng : nb)[calendar_weekday(d)], d.d, d.m, year);
}

bool server_away_sms(struct server *s, const struct person *p, const char *text, char *back, size_t backlen) {
        uint64_t now = beredd_now();
        struct calendar_local l;
        struct away_text at;
        bool en = p->lang == LANG_EN;
        char a[48], b[48];

        calendar_local(s->cal, now, &l);
        switch (away_text_parse(text, strlen(text), l.date, &at)) {
        case AWAY_TEXT_NONE:
                return false;
        case AWAY_TEXT_BAD_DATE:
                snprintf(back, backlen, W(en, W_AWAY_BAD_DATE));
                break;
        case AWAY_TEXT_BACK_EXTRA:
                snprintf(back, backlen, W(en, W_AWAY_BACK_EXTRA));
                break;
        case AWAY_TEXT_PAST:
                snprintf(back, backlen, W(en, W_AWAY_PAST));
                break;
        case AWAY_TEXT_TOO_LONG:
                snprintf(back, backlen, W(en, W_AWAY_TOO_LONG));
                break;
        case AWAY_TEXT_TOO_FAR:
                snprintf(back, backlen, W(en, W_AWAY_TOO_FAR));
                break;
        case AWAY_TEXT_NEEDS_YEAR: {
                char ex[64];
                day_text(en, at.to, (struct ymd) { 0, 1, 1 }, a, sizeof(a)); /* with its year */
                if (ymd_cmp(at.from, at.to) == 0 || at.from_now)
                        snprintf(ex, sizeof(ex), "%s%d.%d.%d", at.from_now ? (en ? "UNTIL " : "TIL ") : "", at.to.d,
                                 at.to.m, at.to.y);
                else
                        snprintf(ex, sizeof(ex), "%d.%d.%d-%d.%d.%d", at.from.d, at.from.m, at.from.y, at.to.d, at.to.m,
                                 at.to.y);
                snprintf(back, backlen, W(en, W_AWAY_NEEDS_YEAR), a, ex);
                break;
        }
        case AWAY_TEXT_BACK: {
                int r = absences_end_now(s->absences, p->id, now);
                if (r < 0) {
                        log_warning_errno(r, "SMS TILBAKE from %s could not be saved: %m", p->id);
                        snprintf(back, backlen, W(en, W_AWAY_FAILED));
                } else if (r == 0) {
                        snprintf(back, backlen, W(en, W_AWAY_NOT_AWAY));
                } else {
                        log_info("SMS from %s: back, %d absence(s) ended", p->id, r);
                        snprintf(back, backlen, W(en, W_AWAY_BACK));
                }
                break;
        }
        case AWAY_TEXT_AWAY: {
                uint64_t from = at.from_now ? now : calendar_from_local(s->cal, at.from, 0);
                uint64_t to = calendar_from_local(s->cal, calendar_add_days(at.to, 1), 0);
                const struct absence *x;
                if (from < now)
                        from = now;
                /* The same text again (or a gateway delivering it twice):
                 * an absence of theirs that covers the period already is
                 * the one kept, with the same receipt. */
                const struct absence *old = NULL;
                size_t it = 0;
                while (!old && (x = absences_next(s->absences, p->id, from, to, &it)))
                        if (x->from <= from && x->to >= to)
                                old = x;
                int r = old ? 0 : absences_add(s->absences, p->id, from, to, NULL, "sms", now, &x);
                if (old)
                        x = old;
                if (r == -EDQUOT) {
                        log_notice("SMS absence from %s refused: too many absences kept for them", p->id);
                        snprintf(back, backlen, W(en, W_AWAY_TOO_MANY));
                        break;
                }
                if (r < 0) {
                        log_warning_errno(r, "SMS absence from %s could not be saved: %m", p->id);
                        snprintf(back, backlen, W(en, W_AWAY_FAILED));
                        break;
                }
                if (old)
                        log_info("Absence %s of %s: the same period again by sms, kept as it was", x->id, p->id);
                else {
                        log_info("Absence %s of %s registered (from sms)", x->id, p->id);
                        followup_absence_added(s->fu, x->person, x->from, x->to);
                }
                server_survey_absence(s, p, x->from, x->to, "sms"); /* an answer to a survey, too */
                day_text(en, at.from, l.date, a, sizeof(a));
                day_text(en, at.to, l.date, b, sizeof(b));
                if (at.from_now)
                        snprintf(back, backlen, W(en, W_AWAY_RECEIPT_NOW), b);
                else if (ymd_cmp(at.from, at.to) == 0)
                        snprintf(back, backlen, W(en, W_AWAY_RECEIPT_DAY), a);
                else
                        snprintf(back, backlen, W(en, W_AWAY_RECEIPT), a, b);
                break;
        }
        }
        return true;
}
