/* http-page.c - the pages behind the one-tap answer links in e-mails:
 * GET /a/<token>/yes|no|ok shows a confirmation page (it changes nothing:
 * mail scanners open every link), POST records the answer through the
 * daemon's token hooks; the page then says thanks, or why not (unknown
 * link 404, ended 410, refused 400, try later 503). Words: wording.h. */
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

#define TOKEN_MIN       22            /* 128 bits in URL-safe base64; hex is 32 */
#define TOKEN_MAX       128

enum page {
        PAGE_CONFIRM,
        PAGE_THANKS,
        PAGE_UNKNOWN,  /* 404 */
        PAGE_ENDED,    /* 410 */
        PAGE_FAILED,   /* 400: the answer was refused */
        PAGE_TRY_LATER /* 503 */
};

struct page_text {
        const char *title, *lead;
};

/* The words: wording.h. */
static const struct page_text page_texts[2][6] = {
        [LANG_NB] = {
                [PAGE_CONFIRM] = { W_NB(W_PAGE_CONFIRM_TITLE), W_NB(W_PAGE_CONFIRM_LEAD) },
                [PAGE_THANKS] = { W_NB(W_PAGE_THANKS_TITLE), W_NB(W_PAGE_THANKS_LEAD) },
                [PAGE_UNKNOWN] = { W_NB(W_PAGE_UNKNOWN_TITLE), W_NB(W_PAGE_UNKNOWN_LEAD) },
                [PAGE_ENDED] = { W_NB(W_PAGE_ENDED_TITLE), W_NB(W_PAGE_ENDED_LEAD) },
                [PAGE_FAILED] = { W_NB(W_PAGE_FAILED_TITLE), W_NB(W_PAGE_FAILED_LEAD) },
                [PAGE_TRY_LATER] = { W_NB(W_PAGE_TRY_LATER_TITLE), W_NB(W_PAGE_TRY_LATER_LEAD) },
        },
        [LANG_EN] = {
                [PAGE_CONFIRM] = { W_EN(W_PAGE_CONFIRM_TITLE), W_EN(W_PAGE_CONFIRM_LEAD) },
                [PAGE_THANKS] = { W_EN(W_PAGE_THANKS_TITLE), W_EN(W_PAGE_THANKS_LEAD) },
                [PAGE_UNKNOWN] = { W_EN(W_PAGE_UNKNOWN_TITLE), W_EN(W_PAGE_UNKNOWN_LEAD) },
                [PAGE_ENDED] = { W_EN(W_PAGE_ENDED_TITLE), W_EN(W_PAGE_ENDED_LEAD) },
                [PAGE_FAILED] = { W_EN(W_PAGE_FAILED_TITLE), W_EN(W_PAGE_FAILED_LEAD) },
                [PAGE_TRY_LATER] = { W_EN(W_PAGE_TRY_LATER_TITLE), W_EN(W_PAGE_TRY_LATER_LEAD) },
        },
};

/* The pages of a contact-list check's OK link (beredctl verify). A check is
 * never a call-out, and its page says so. */
static const struct page_text check_page_texts[2][6] = {
        [LANG_NB] = {
                [PAGE_CONFIRM] = { W_NB(W_CHECK_CONFIRM_TITLE), W_NB(W_CHECK_CONFIRM_LEAD) },
                [PAGE_THANKS] = { W_NB(W_CHECK_THANKS_TITLE), W_NB(W_CHECK_THANKS_LEAD) },
                [PAGE_UNKNOWN] = { W_NB(W_CHECK_UNKNOWN_TITLE), W_NB(W_CHECK_UNKNOWN_LEAD) },
                [PAGE_ENDED] = { W_NB(W_CHECK_ENDED_TITLE), W_NB(W_CHECK_ENDED_LEAD) },
                [PAGE_FAILED] = { W_NB(W_CHECK_FAILED_TITLE), W_NB(W_CHECK_FAILED_LEAD) },
                [PAGE_TRY_LATER] = { W_NB(W_CHECK_TRY_LATER_TITLE), W_NB(W_CHECK_TRY_LATER_LEAD) },
        },
        [LANG_EN] = {
                [PAGE_CONFIRM] = { W_EN(W_CHECK_CONFIRM_TITLE), W_EN(W_CHECK_CONFIRM_LEAD) },
                [PAGE_THANKS] = { W_EN(W_CHECK_THANKS_TITLE), W_EN(W_CHECK_THANKS_LEAD) },
                [PAGE_UNKNOWN] = { W_EN(W_CHECK_UNKNOWN_TITLE), W_EN(W_CHECK_UNKNOWN_LEAD) },
                [PAGE_ENDED] = { W_EN(W_CHECK_ENDED_TITLE), W_EN(W_CHECK_ENDED_LEAD) },
                [PAGE_FAILED] = { W_EN(W_CHECK_FAILED_TITLE), W_EN(W_CHECK_FAILED_LEAD) },
                [PAGE_TRY_LATER] = { W_EN(W_CHECK_TRY_LATER_TITLE), W_EN(W_CHECK_TRY_LATER_LEAD) },
        },
};

/* The page of a check's OK link. */
static void page_check_body(FILE *f, const struct config *cfg, bool en, enum page pg, const json_t *info) {
        if (info && (pg == PAGE_CONFIRM || pg == PAGE_THANKS)) {
                const char *chain_id = json_string_value(json_object_get(info, "chain"));
                const struct chain *ch = config_chain(cfg, chain_id);
                const char *prev = json_string_value(json_object_get(info, "answer"));

                fprintf(f, "<dl><dt>%s</dt><dd>", W(en, W_CHECK_LABEL));
                http_markup_escape(f, ch && ch->name ? ch->name : chain_id ? chain_id : "?", true);
                fprintf(f, "</dd><dt>%s</dt><dd>OK</dd>", pg == PAGE_CONFIRM ? W(en, W_PAGE_YOUR_ANSWER)
                                                                            : W(en, W_PAGE_RECORDED));
                if (pg == PAGE_CONFIRM && prev && streq(prev, "yes"))
                        fprintf(f, "<dt>%s</dt><dd>OK</dd>", W(en, W_PAGE_SO_FAR));
                fputs("</dl>\n", f);
        }
}

/* The page for a link. INFO (from the token_lookup hook, may be NULL) gives
 * the chain and the drill flag; ANSWER is what the link records; CHECK: the
 * OK link of a contact-list check. */
void http_page_begin(FILE *f, bool en, const char *title, const char *css) {
        fprintf(f, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   "<meta name=\"robots\" content=\"noindex, nofollow\"><title>",
                en ? "en" : "nb");
        http_markup_escape(f, title, true);
        fprintf(f, "</title><style>body{font-family:system-ui,sans-serif;max-width:32em;margin:2em auto;padding:0 1em;"
                   "line-height:1.5}button{font-size:1.3em;padding:.6em 1.4em;border:0;border-radius:.3em;color:#fff;"
                   "background:#15803d}%s</style></head><body>\n<h1>",
                css);
        http_markup_escape(f, title, true);
        fputs("</h1>\n", f);
}

static char *page_render(const struct config *cfg, enum lang lang, enum page pg, const json_t *info, enum answer answer,
                         bool check) {
        const struct page_text *t = &(check ? check_page_texts : page_texts)[lang == LANG_EN ? LANG_EN : LANG_NB][pg];
        bool en = lang == LANG_EN;
        const char *yes = W(en, W_PAGE_YES), *no = W(en, W_PAGE_NO), *word = answer == ANSWER_NO ? no : yes;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        http_page_begin(f, en, t->title, ".drill{background:#fde68a;padding:.3em .6em;font-weight:bold}"
                                         "button.no{background:#b91c1c}dt{font-weight:bold}");

        if (check)
                page_check_body(f, cfg, en, pg, info);
        else if (info && (pg == PAGE_CONFIRM || pg == PAGE_THANKS)) {
                const char *chain_id = json_string_value(json_object_get(info, "chain"));
                const struct chain *ch = config_chain(cfg, chain_id);
                const char *prev = json_string_value(json_object_get(info, "answer"));

                if (json_is_true(json_object_get(info, "drill")))
                        fprintf(f, "<p class=\"drill\">%s</p>\n", W(en, W_PAGE_DRILL));
                fprintf(f, "<dl><dt>%s</dt><dd>", W(en, W_PAGE_CALLOUT));
                http_markup_escape(f, ch && ch->name ? ch->name : chain_id ? chain_id : "?", true);
                fprintf(f, "</dd><dt>%s</dt><dd>%s</dd>", pg == PAGE_CONFIRM ? W(en, W_PAGE_YOUR_ANSWER)
                                                                             : W(en, W_PAGE_RECORDED),
                        answer == ANSWER_NO ? W(en, W_PAGE_NOT_COMING) : W(en, W_PAGE_COMING));
                if (pg == PAGE_CONFIRM && prev && (streq(prev, "yes") || streq(prev, "no")))
                        fprintf(f, "<dt>%s</dt><dd>%s</dd>", W(en, W_PAGE_SO_FAR),
                                streq(prev, "yes") ? yes : no);
                fputs("</dl>\n", f);
        }
        fputs("<p>", f);
        http_markup_escape(f, t->lead, true);
        fputs("</p>\n", f);
        if (pg == PAGE_CONFIRM && check) {
                fputs("<form method=\"post\" action=\"ok\"><button type=\"submit\">", f);
                fprintf(f, W(en, W_PAGE_SEND), "OK");
                fputs("</button></form>\n", f);
        } else if (pg == PAGE_CONFIRM) {
                /* Relative targets: the page may sit below a prefix of the
                 * reverse proxy that this daemon does not know about. */
                fprintf(f, "<form method=\"post\" action=\"%s\"><button type=\"submit\"%s>",
                        answer == ANSWER_NO ? "no" : "yes", answer == ANSWER_NO ? " class=\"no\"" : "");
                fprintf(f, W(en, W_PAGE_SEND), word);
                fprintf(f, "</button></form>\n<p><a href=\"%s\">", answer == ANSWER_NO ? "yes" : "no");
                fprintf(f, W(en, W_PAGE_INSTEAD), answer == ANSWER_NO ? yes : no);
                fputs("</a></p>\n", f);
        }
        fputs("</body></html>\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static enum MHD_Result respond_page(struct req *q, struct MHD_Connection *c, unsigned code, enum lang lang,
                                    enum page pg, const json_t *info, enum answer answer, bool check) {
        _cleanup_free_ char *html = page_render(q->cfg, lang, pg, info, answer, check);

        if (!html)
                return http_respond_text(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
        return http_respond(q, c, code, "text/html; charset=utf-8", html, strlen(html), NULL, true);
}

static bool token_shape_ok(const char *s) {
        size_t n = strlen(s);

        if (n < TOKEN_MIN || n > TOKEN_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && *p != '-' && *p != '_')
                        return false;
        return true;
}

static enum lang token_lang(const struct config *cfg, const json_t *info) {
        const struct person *p = config_person(cfg, json_string_value(json_object_get(info, "person")));
        return p ? p->lang : cfg->lang;
}

/* A link /a/TOKEN/yes|no (a call-out's, ANSWER) or /a/TOKEN/ok (CHECK: a
 * contact-list check's; ANSWER is ANSWER_YES). A token on the other kind's
 * link is no link: 404, nothing recorded. */
enum MHD_Result http_route_answer(struct req *q, struct MHD_Connection *c, const char *method, const char *token,
                                  enum answer answer, bool check) {
        bool post = streq(method, "POST");
        json_t *info = NULL;
        enum MHD_Result ok;
        int r;

        if (!post && !streq(method, "GET") && !streq(method, "HEAD"))
                return http_respond_405(q, c, "GET, HEAD, POST");
        /* The shape first: a lookup for garbage costs a hash and a scan. */
        if (!token_shape_ok(token))
                return respond_page(q, c, MHD_HTTP_NOT_FOUND, q->cfg->lang, PAGE_UNKNOWN, NULL, answer, check);

        r = q->hooks->token_lookup(q->hooks->userdata, token, &info);
        if (r == -ENOENT) {
                json_decref(info);
                log_info("An e-mail answer link that does not exist was %s", post ? "used" : "opened");
                return respond_page(q, c, MHD_HTTP_NOT_FOUND, q->cfg->lang, PAGE_UNKNOWN, NULL, answer, check);
        }
        enum lang lang = info ? token_lang(q->cfg, info) : q->cfg->lang;
        if (info && json_is_true(json_object_get(info, "verify")) != check) {
                json_decref(info);
                log_info("An e-mail answer link was %s with the answer of the other kind (%s); nothing changed",
                         post ? "used" : "opened", check ? "OK to a call-out" : "JA/NEI to a contact-list check");
                return respond_page(q, c, MHD_HTTP_NOT_FOUND, lang, PAGE_UNKNOWN, NULL, answer, check);
        }
        if (r == -ESTALE || (r >= 0 && info && json_is_false(json_object_get(info, "valid")))) {
                ok = respond_page(q, c, MHD_HTTP_GONE, lang, PAGE_ENDED, info, answer, check);
                json_decref(info);
                return ok;
        }
        if (r < 0) {
                json_decref(info);
                log_warning_errno(r, "Looking up an e-mail answer link failed: %m");
                return respond_page(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, lang, PAGE_TRY_LATER, NULL, answer, check);
        }

        if (!post) {
                /* GET only shows: mail scanners open every link they see. */
                ok = respond_page(q, c, MHD_HTTP_OK, lang, PAGE_CONFIRM, info, answer, check);
                json_decref(info);
                return ok;
        }

        json_t *reply = NULL;
        char err[256] = "";
        r = q->hooks->token_answer(q->hooks->userdata, token, check, check ? ANSWER_YES : answer, &reply, err, sizeof(err));
        json_decref(reply);
        if (r >= 0)
                ok = respond_page(q, c, MHD_HTTP_OK, lang, PAGE_THANKS, info, answer, check);
        else if (r == -ENOENT)
                ok = respond_page(q, c, MHD_HTTP_NOT_FOUND, lang, PAGE_UNKNOWN, NULL, answer, check);
        else if (r == -ESTALE)
                ok = respond_page(q, c, MHD_HTTP_GONE, lang, PAGE_ENDED, info, answer, check);
        else if (http_storage_error(r)) {
                log_warning_errno(r, "An e-mail answer could not be recorded: %m");
                ok = respond_page(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, lang, PAGE_TRY_LATER, NULL, answer, check);
        } else {
                log_notice("An e-mail answer was refused: %s", err[0] ? err : strerror(-r));
                ok = respond_page(q, c, MHD_HTTP_BAD_REQUEST, lang, PAGE_FAILED, NULL, answer, check);
        }
        json_decref(info);
        return ok;
}
