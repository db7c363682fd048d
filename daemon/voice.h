/* voice.h - what a call says: the TwiML of a call-out (the operator's text,
 * the key-press prompt, asked twice, a closing sentence) and of the
 * answers to a key press. Pure functions: no I/O, no state; the gateways
 * (the call) and the HTTP listener (the answers) use them. Every text is
 * XML-escaped; the words are wording.h's (W_VOICE_*). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* How a <Say> speaks: English (en-US) or bokmål (nb-NO), and the
 * text-to-speech voice (NULL or "": Twilio's default for the language). */
struct voice_say {
        bool en;
        const char *voice;
        const char *voice_nb; /* the voice of the bokmål part of an English call (TEXT_NB) */
};

/* The TwiML of a call: TEXT (what the call-out says: drill sentence, chain,
 * the operator's text), for an English call (SAY->en) then TEXT_NB (the
 * chain's name and the operator's text, in bokmål, said in nb-NO with
 * SAY->voice_nb; NULL: none), and the prompt inside a <Gather input="dtmf"
 * numDigits="1"> whose action is ACTION_URL (POST), twice, then the
 * closing sentence. *RET is malloc'd and NUL-terminated; returns its
 * length, or -errno. */
int voice_twiml_call(const struct voice_say *say, const char *text, const char *text_nb, const char *action_url,
                     char **ret);

/* What is said after a key press. */
enum voice_reply {
        VOICE_REPLY_YES,      /* "Takk, du er registrert som kommer." */
        VOICE_REPLY_NO,       /* "Takk, du er registrert som ikke kommer." */
        VOICE_REPLY_INVALID,  /* "Det var ikke et gyldig valg." + the prompt once more (ACTION_URL) + closing */
        VOICE_REPLY_CLOSING,  /* the closing sentence only (a second invalid key) */
        VOICE_REPLY_ENDED,    /* "Denne utkallingen er avsluttet. Takk." */
        VOICE_REPLY_FAILED,   /* "Svaret kunne ikke registreres. Svar på en annen måte hvis du kan." (storage error) */
};
/* The TwiML answering a key press. ACTION_URL is used by
 * VOICE_REPLY_INVALID only (may be NULL otherwise). Returns the length of
 * *RET (malloc'd), or -errno. */
int voice_twiml_reply(const struct voice_say *say, enum voice_reply what, const char *action_url, char **ret);

/* The spoken text of a call-out, into BUF (LEN bytes): "[Dette er en
 * øvelse. ]Dette er en utkalling av CHAIN. MESSAGE". For an English
 * speaker (EN) BUF gets "[This is a drill. ]This is a call-out. The
 * message follows in Norwegian." and NB (NBLEN bytes) "CHAIN. MESSAGE",
 * to be said in bokmål (the operator wrote it so); NB is "" otherwise.
 * MESSAGE NULL or "": the default question, all in the speaker's
 * language (NB ""). Returns what snprintf does for BUF. */
int voice_callout_text(bool en, bool drill, const char *chain, const char *message, char *buf, size_t len, char *nb,
                       size_t nblen);
