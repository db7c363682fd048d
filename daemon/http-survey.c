/* http-survey.c - the pages behind the absence survey's e-mail links:
 * GET /s/<token>/ok shows a button, GET /s/<token>/away a form with the
 * first and the last day away (both change nothing: mail scanners open
 * every link); POST records the answer through the daemon's survey hooks
 * (an OK, or the absence as "beredctl away" would take it). Then thanks,
 * or why not: unknown link 404, period over 410, dates refused 400, try
 * later 503. Words: wording.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http-internal.h"
#include "log.h"
#include "macro.h"
#include "wording.h"

enum spage {
        SPAGE_FORM,
        SPAGE_THANKS,
        SPAGE_UNKNOWN,
        SPAGE_ENDED,
        SPAGE_BAD_DATES,
        SPAGE_TRY_LATER,
};

static char *render(const json_t *info, bool en, bool away, enum spage pg) {
        const char *title = away ? W(en, W_SPAGE_AWAY_TITLE) : W(en, W_SPAGE_OK_TITLE);
        const char *what = json_string_value(json_object_get(info, "title"));
        const char *from = json_string_value(json_object_get(info, "from"));
        const char *lo = json_string_value(json_object_get(info, "min"));
        const char *hi = json_string_value(json_object_get(info, "max"));
        const char *lo_t = json_string_value(json_object_get(info, "min_text"));
        const char *hi_t = json_string_value(json_object_get(info, "max_text"));
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        http_page_begin(f, en, title, "label{display:block;margin:.6em 0}input{font-size:1.1em}");
        if (what && pg != SPAGE_UNKNOWN) {
                fputs("<p><strong>", f);
                http_markup_escape(f, what, true);
                fputs("</strong> ", f);
                http_markup_escape(f, json_string_value(json_object_get(info, "range")) ?: "", true);
                fputs("</p>\n", f);
        }
        switch (pg) {
        case SPAGE_FORM:
                fputs("<p>", f);
                http_markup_escape(f, away ? W(en, W_SPAGE_AWAY_LEAD) : W(en, W_SPAGE_OK_LEAD), true);
                /* Relative target: the page may sit below a reverse proxy's prefix. */
                fprintf(f, "</p>\n<form method=\"post\" action=\"%s\">\n", away ? "away" : "ok");
                if (away && from && lo && hi)
                        fprintf(f, "<label>%s <input type=\"date\" name=\"from\" required value=\"%s\" min=\"%s\" "
                                   "max=\"%s\"></label>\n"
                                   "<label>%s <input type=\"date\" name=\"to\" required value=\"%s\" min=\"%s\" "
                                   "max=\"%s\"></label>\n",
                                W(en, W_SPAGE_FROM), from, lo, hi, W(en, W_SPAGE_TO), from, lo, hi);
                fprintf(f, "<button type=\"submit\">%s</button></form>\n",
                        away ? W(en, W_SPAGE_SEND_AWAY) : W(en, W_SPAGE_SEND_OK));
                break;
        case SPAGE_THANKS:
                fprintf(f, "<p>%s</p>\n", W(en, W_SPAGE_THANKS));
                break;
        case SPAGE_UNKNOWN:
                fprintf(f, "<p>%s</p>\n", W(en, W_SPAGE_UNKNOWN));
                break;
        case SPAGE_ENDED:
                fprintf(f, "<p>%s</p>\n", W(en, W_SPAGE_ENDED));
                break;
        case SPAGE_BAD_DATES:
                fprintf(f, "<p>");
                fprintf(f, W(en, W_SPAGE_BAD_DATES), lo_t ? lo_t : "?", hi_t ? hi_t : "?");
                fprintf(f, "</p>\n");
                break;
        case SPAGE_TRY_LATER:
                fprintf(f, "<p>%s</p>\n", W(en, W_SPAGE_TRY_LATER));
                break;
        }
        fputs("</body></html>\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static enum MHD_Result respond(struct req *q, struct MHD_Connection *c, unsigned code, const json_t *info, bool en,
                               bool away, enum spage pg) {
        _cleanup_free_ char *html = render(info, en, away, pg);
        if (!html)
                return http_respond_text(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
        return http_respond(q, c, code, "text/html; charset=utf-8", html, strlen(html), NULL, true);
}

/* 32 lowercase hex digits: anything else is no link of ours. */
static bool token_shape_ok(const char *s) {
        size_t n = 0;
        for (; s[n]; n++)
                if (!isdigit((unsigned char) s[n]) && !(s[n] >= 'a' && s[n] <= 'f'))
                        return false;
        return n == 32;
}

/* "YYYY-MM-DD" exactly (the form's date inputs send it so). */
static bool date_shape_ok(const char *s) {
        struct ymd d;
        return s && strlen(s) == 10 && parse_date(s, &d) == 0;
}

enum MHD_Result http_route_survey(struct req *q, struct MHD_Connection *c, const char *method, const char *token,
                                  bool away) {
        bool post = streq(method, "POST"), en = q->cfg->lang == LANG_EN;
        json_t *info = NULL;
        enum MHD_Result ok;

        if (!post && !streq(method, "GET") && !streq(method, "HEAD"))
                return http_respond_405(q, c, "GET, HEAD, POST");
        int r = token_shape_ok(token) && q->hooks->survey_lookup ? q->hooks->survey_lookup(q->hooks->userdata, token, &info)
                                                                 : -ENOENT;
        if (info)
                en = streq(json_string_value(json_object_get(info, "lang")) ?: "", "en");
        if (r == -ENOENT) {
                log_info("A survey answer link that does not exist was %s", post ? "used" : "opened");
                ok = respond(q, c, MHD_HTTP_NOT_FOUND, NULL, en, away, SPAGE_UNKNOWN);
        } else if (r == -ESTALE)
                ok = respond(q, c, MHD_HTTP_GONE, info, en, away, SPAGE_ENDED);
        else if (r < 0)
                ok = respond(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, en, away, SPAGE_TRY_LATER);
        else if (!post)
                ok = respond(q, c, MHD_HTTP_OK, info, en, away, SPAGE_FORM);
        else {
                struct http_form form = {};
                const char *from = NULL, *to = NULL;
                char err[256] = "";
                if (away) {
                        if (http_form_parse(q->body ? q->body : "", q->len, &form) == 0) {
                                from = http_form_get(&form, "from");
                                to = http_form_get(&form, "to");
                        }
                        r = date_shape_ok(from) && date_shape_ok(to) ? 0 : -EINVAL;
                }
                if (r == 0)
                        r = q->hooks->survey_answer(q->hooks->userdata, token, away ? from : NULL, away ? to : NULL, err,
                                                    sizeof(err));
                http_form_done(&form);
                if (r >= 0)
                        ok = respond(q, c, MHD_HTTP_OK, info, en, away, SPAGE_THANKS);
                else if (r == -ENOENT)
                        ok = respond(q, c, MHD_HTTP_NOT_FOUND, NULL, en, away, SPAGE_UNKNOWN);
                else if (r == -ESTALE)
                        ok = respond(q, c, MHD_HTTP_GONE, info, en, away, SPAGE_ENDED);
                else if (http_storage_error(r)) {
                        log_warning_errno(r, "A survey answer could not be recorded: %m");
                        ok = respond(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, en, away, SPAGE_TRY_LATER);
                } else {
                        log_notice("A survey answer by its link was refused: %s", err[0] ? err : "bad dates");
                        ok = respond(q, c, MHD_HTTP_BAD_REQUEST, info, en, away, SPAGE_BAD_DATES);
                }
        }
        json_decref(info);
        return ok;
}
