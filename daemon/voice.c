/* voice.c - what a call says, as TwiML (see voice.h). The words are
 * wording.h's W_VOICE_*; every text and URL is XML-escaped, in elements
 * and attributes alike, and characters XML 1.0 cannot carry (C0 controls
 * other than tab and line breaks) are spoken as a space. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "text.h"
#include "voice.h"
#include "wording.h"

/* Twilio takes an inline Twiml parameter of at most 4000 characters and
 * refuses a longer one (error 32018, "Twiml size exceeded maximum allowed
 * value of 4000 characters", twilio.com/docs/api/errors/32018): refused
 * here, before it would be sent. */
#define TWIML_MAX_CHARS 4000

#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n"
#define XML_TAIL "</Response>\n"

/* S, escaped for XML text and attribute values, onto F. */
static void put_escaped(FILE *f, const char *s) {
        for (; s && *s; s++) {
                const char *e = text_markup_entity(*s, true);
                if (e)
                        fputs(e, f);
                else if ((unsigned char) *s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
                        fputc(' ', f);
                else
                        fputc(*s, f);
        }
}

/* <Say language=".." voice="..">TEXT[ TEXT2]</Say> */
static void put_say(FILE *f, const struct voice_say *say, const char *text, const char *text2) {
        fprintf(f, "<Say language=\"%s\"", say->en ? "en-US" : "nb-NO");
        if (say->voice && *say->voice) {
                fputs(" voice=\"", f);
                put_escaped(f, say->voice);
                fputc('"', f);
        }
        fputc('>', f);
        put_escaped(f, text);
        if (text && *text && text2 && *text2)
                fputc(' ', f);
        put_escaped(f, text2);
        fputs("</Say>\n", f);
}

/* A <Gather> of one key press, posted to ACTION_URL, saying TEXT (and in
 * an English call TEXT_NB in bokmål) and the prompt. */
static void put_gather(FILE *f, const struct voice_say *say, const char *text, const char *text_nb,
                       const char *action_url) {
        fputs("<Gather input=\"dtmf\" numDigits=\"1\" timeout=\"8\" action=\"", f);
        put_escaped(f, action_url);
        fputs("\" method=\"POST\">\n", f);
        if (say->en && text_nb && *text_nb) {
                struct voice_say nb = { .en = false, .voice = say->voice_nb };
                put_say(f, say, text, NULL);
                put_say(f, &nb, text_nb, NULL);
                put_say(f, say, W(say->en, W_VOICE_PROMPT), NULL);
        } else
                put_say(f, say, text, W(say->en, W_VOICE_PROMPT));
        fputs("</Gather>\n", f);
}

/* The code points of UTF-8 S (continuation bytes do not count). */
static size_t utf8_chars(const char *s, size_t len) {
        size_t n = 0;

        for (size_t i = 0; i < len; i++)
                n += ((unsigned char) s[i] & 0xc0) != 0x80;
        return n;
}

/* Close F (an open_memstream of *BUF, *LEN) and hand the result over. */
static int finish(FILE *f, char **buf, size_t *len, char **ret) {
        if (ferror(f)) {
                fclose(f);
                free(*buf);
                return -ENOMEM;
        }
        if (fclose(f) != 0) {
                free(*buf);
                return -ENOMEM;
        }
        if (*len > (size_t) INT32_MAX) {
                free(*buf);
                return -E2BIG;
        }
        *ret = *buf;
        return (int) *len;
}

static bool ok_text(const char *s) {
        return !s || text_utf8_valid(s, strlen(s));
}

int voice_twiml_call(const struct voice_say *say, const char *text, const char *text_nb, const char *action_url,
                     char **ret) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        if (!say || !action_url || !*action_url || !ret)
                return -EINVAL;
        if (!ok_text(text) || !ok_text(text_nb) || !ok_text(action_url) || !ok_text(say->voice) ||
            !ok_text(say->voice_nb))
                return -EILSEQ;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fputs(XML_HEAD, f);
        /* Asked twice: a half-awake person often misses the first. */
        put_gather(f, say, text, text_nb, action_url);
        put_gather(f, say, text, text_nb, action_url);
        put_say(f, say, W(say->en, W_VOICE_CLOSING), NULL);
        fputs(XML_TAIL, f);
        r = finish(f, &buf, &len, ret);
        if (r >= 0 && utf8_chars(*ret, (size_t) r) > TWIML_MAX_CHARS) {
                free(*ret);
                *ret = NULL;
                return -E2BIG;
        }
        return r;
}

int voice_twiml_reply(const struct voice_say *say, enum voice_reply what, const char *action_url, char **ret) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        if (!say || !ret || (what == VOICE_REPLY_INVALID && (!action_url || !*action_url)))
                return -EINVAL;
        if (!ok_text(action_url) || !ok_text(say->voice))
                return -EILSEQ;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fputs(XML_HEAD, f);
        switch (what) {
        case VOICE_REPLY_YES:
                put_say(f, say, W(say->en, W_VOICE_YES), NULL);
                break;
        case VOICE_REPLY_NO:
                put_say(f, say, W(say->en, W_VOICE_NO), NULL);
                break;
        case VOICE_REPLY_INVALID:
                put_gather(f, say, W(say->en, W_VOICE_INVALID), NULL, action_url);
                put_say(f, say, W(say->en, W_VOICE_CLOSING), NULL);
                break;
        case VOICE_REPLY_CLOSING:
                put_say(f, say, W(say->en, W_VOICE_CLOSING), NULL);
                break;
        case VOICE_REPLY_ENDED:
                put_say(f, say, W(say->en, W_VOICE_ENDED), NULL);
                break;
        case VOICE_REPLY_FAILED:
                put_say(f, say, W(say->en, W_VOICE_FAILED), NULL);
                break;
        default:
                fclose(f);
                free(buf);
                return -EINVAL;
        }
        fputs(XML_TAIL, f);
        return finish(f, &buf, &len, ret);
}

int voice_callout_text(bool en, bool drill, const char *chain, const char *message, char *buf, size_t len, char *nb,
                       size_t nblen) {
        const char *msg = message && *message ? message : NULL;
        if (nb && nblen)
                nb[0] = '\0';
        if (!en || !nb || !nblen || !msg)
                return snprintf(buf, len, W(en, W_VOICE_CALLOUT), drill ? W(en, W_VOICE_DRILL) : "", chain ? chain : "",
                                msg ? msg : W(en, W_CALLOUT_DEFAULT_TEXT));
        /* English: our sentences in English, the chain's name and what the
         * operator wrote (in Norwegian) in bokmål, not read as English. */
        snprintf(nb, nblen, "%s. %s", chain ? chain : "", msg);
        return snprintf(buf, len, "%s%s", drill ? W_EN(W_VOICE_DRILL) : "", W_EN(W_VOICE_CALLOUT_FOREIGN));
}
