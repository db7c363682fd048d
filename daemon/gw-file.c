/* gw-file.c - the file gateway: each message as one JSON file written
 * atomically into spool/outbox/ (for another program to send, and for
 * tests); a call as the record of what it would say (its TwiML). Every
 * spool write fsyncs; this is the only gateway that does I/O on the loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gateway-internal.h"
#include "log.h"
#include "macro.h"

/* ---- file gateway ---- */

static void iso_now(char *buf, size_t len) {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (long) (ts.tv_nsec / 1000000) % 1000);
}

void gw_file_send(struct msg *x) {
        char ts[96], name[256], err[128];
        json_t *o;
        char *data;
        int r;

        iso_now(ts, sizeof(ts));
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "key", x->key, "channel", channel_name(x->channel), "person",
                      x->person, "to", x->to, "text", x->text, "ts", ts);
        if (!o) {
                gw_handle_outcome(x, OUT_TEMP, "cannot build the outbox record", NULL, 0);
                return;
        }
        if (x->channel == CHANNEL_EMAIL)
                json_object_set_new(o, "subject", json_string(x->subject ? x->subject : ""));
        else if (x->channel == CHANNEL_VOICE) {
                if (x->text_nb)
                        json_object_set_new(o, "text_nb", json_string(x->text_nb));
                /* What Twilio would be given: the TwiML (its answer URL
                 * carries the call's token) and the language. */
                char *twiml = NULL;
                r = gw_call_twiml(x, &twiml);
                if (r == -E2BIG)
                        log_warning("Call %s (person %s): its TwiML is longer than Twilio's 4000 characters", x->lkey,
                                    x->person);
                json_object_set_new(o, "lang", json_string(x->en ? "en-US" : "nb-NO"));
                json_object_set_new(o, "twiml", r >= 0 ? json_string(twiml) : json_null());
                free(twiml);
        } else {
                struct text_sms_info info = {};
                if (text_sms_count(x->text, strlen(x->text), &info) >= 0) {
                        json_object_set_new(o, "segments", json_integer((json_int_t) info.segments));
                        json_object_set_new(o, "encoding", json_string(info.encoding == TEXT_SMS_GSM7 ? "gsm" : "ucs2"));
                }
        }
        data = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!data) {
                gw_handle_outcome(x, OUT_TEMP, "cannot build the outbox record", NULL, 0);
                return;
        }
        size_t len = strlen(data);
        snprintf(name, sizeof(name), "%s.json", x->key);
        /* One file per key, created exclusively: a resend after a crash finds
         * the file written before it and counts as sent. */
        r = store_create_atomic(x->g->store, STORE_OUTBOX, name, data, len);
        explicit_bzero(data, len);
        free(data);
        if (r >= 0 || r == -EEXIST) {
                if (r == -EEXIST)
                        log_info("Message %s (person %s) was already in the outbox", x->lkey, x->person);
                gw_handle_outcome(x, OUT_SENT, NULL, NULL, 0);
                return;
        }
        snprintf(err, sizeof(err), "cannot write to the outbox: %s", strerror(-r));
        gw_handle_outcome(x, OUT_TEMP, err, NULL, 0);
}
