/* wording.h - every text a team member, contact person, leader or legevakten
 * reads, bokmål first, English second.
 *
 * Each W_ name below stands for a pair of string literals, "bokmål",
 * "English"; W(en, W_NAME) picks one of them by the receiver's language. The
 * result is a conditional between two string literals, so when it is the
 * format of snprintf/fprintf, gcc and clang check BOTH texts against the
 * arguments (-Wformat): a text with one %s too many does not compile.
 *
 *   snprintf(buf, n, W(en, W_CALLOUT_PREFIX), drill, chain);
 *
 * W_NB(W_NAME) and W_EN(W_NAME) give one of the two as a constant (for
 * static tables). Both texts of a pair take the same arguments in the same
 * order (tests/unit/test_wording.c checks that, and the spacing, for every
 * W_ name here). Texts for operators (logs, config errors, beredctl) are not
 * here: they are English and stay next to their code.
 *
 * Placeholders in the comments: DRILL is W_DRILL_PREFIX or "", CHAIN the
 * chain's display name, CODE the reply code. */
#pragma once

#define W(en, text) W_PICK(en, text)
#define W_PICK(en, ...) W_PICK_(en, __VA_ARGS__)
#define W_PICK_(en, nb, en_text) ((en) ? (en_text) : (nb))
#define W_NB(text) W_NB_(text)
#define W_NB_(nb, en_text) nb
#define W_EN(text) W_EN_(text)
#define W_EN_(nb, en_text) en_text

/* ---- to team members: call-out, stand-down, ended, contact-list check ----
 * Sent by activation.c to every member asked (SMS: prefix, the operator's
 * text, reply; e-mail: the same with one-tap links), and later to all who
 * were told: a stand-down when the team is complete, the end when the
 * activation is resolved. A contact-list check (beredctl verify) asks for OK
 * only and says it is not a call-out. */
/* Before the chain name of everything sent in a drill. */
#define W_DRILL_PREFIX "ØVELSE: ", "ØVELSE/DRILL: "
/* DRILL, CHAIN; then the operator's text (or W_CALLOUT_DEFAULT_TEXT). */
#define W_CALLOUT_PREFIX "%s%s kalles inn: ", "%s%s call-out: "
#define W_CALLOUT_DEFAULT_TEXT "Kan du møte?", "Can you come?"
/* CODE, CODE. */
#define W_CALLOUT_REPLY " Svar JA %s eller NEI %s", " Reply YES %s or NO %s"
/* DRILL, CHAIN. */
#define W_CALLOUT_SUBJECT "%s%s kalles inn", "%s%s call-out"
/* E-mail only: public URL, token, public URL, token. */
#define W_CALLOUT_LINKS \
        "\n\nSvar med ett trykk:\n  JA:  %s/a/%s/yes\n  NEI: %s/a/%s/no", \
        "\n\nAnswer with one tap:\n  YES: %s/a/%s/yes\n  NO:  %s/a/%s/no"
/* DRILL. */
#define W_STANDDOWN_PREFIX "%sTeamet er fulltallig - du trenger ikke å møte. ", \
        "%sThe team is complete - you need not come. "
/* DRILL, CHAIN. */
#define W_STANDDOWN_SUBJECT "%s%s: du trenger ikke å møte", "%s%s: stand down"
/* DRILL, CHAIN: the call-out ended, not the team. */
#define W_ENDED_PREFIX "%sUtkallingen av %s er avsluttet. Takk for innsatsen! ", \
        "%sThe call-out of %s has ended. Thank you! "
/* DRILL, CHAIN. */
#define W_ENDED_SUBJECT "%s%s: utkallingen er avsluttet", "%s%s: call-out ended"
/* CHAIN. */
#define W_VERIFY_PREFIX "Kontroll av varslingslisten for %s: dette er IKKE en utkalling. ", \
        "Contact list check for %s: this is NOT a call-out. "
/* CODE, the time to answer in (one of the three below). */
#define W_VERIFY_REPLY "Svar OK %s innen %s.", "Reply OK %s within %s."
#define W_VERIFY_HOURS "%u timer", "%u hours"
#define W_VERIFY_ONE_MINUTE "1 minutt", "1 minute"
#define W_VERIFY_MINUTES "%u minutter", "%u minutes"
/* CHAIN. */
#define W_VERIFY_SUBJECT "%s: kontroll av varslingslisten", "%s: contact list check"
/* E-mail only: public URL, token. No JA/NEI here, ever. */
#define W_VERIFY_LINK "\n\nSvar OK med ett trykk:\n  OK: %s/a/%s/ok", \
        "\n\nAnswer OK with one tap:\n  OK: %s/a/%s/ok"

/* ---- receipts and texts back ----
 * The receipt is sent after an answer by SMS was recorded (the chain's
 * receipt setting); the texts back answer an SMS that could not be taken
 * (server.c), at most a few per sender. */
/* DRILL. */
#define W_RECEIPT_NO "%sRegistrert: du kommer ikke.", "%sRecorded: you are not coming."
/* DRILL, how many said yes. */
#define W_RECEIPT_YES_MOBILISED "%sRegistrert: du kommer. Teamet er mobilisert, %d har bekreftet.", \
        "%sRecorded: you are coming. The team is mobilised, %d have confirmed."
/* DRILL, how many said yes, how many are needed. */
#define W_RECEIPT_YES "%sRegistrert: du kommer. %d av %d bekreftet.", \
        "%sRecorded: you are coming. %d of %d confirmed."
#define W_BACK_NOT_UNDERSTOOD "beredd: svaret ble ikke forstått. Svar JA eller NEI og koden, f.eks. JA 4821.", \
        "beredd: the answer was not understood. Reply YES or NO and the code, e.g. YES 4821."
/* A follow-up code that matches no reminder of the sender. */
#define W_BACK_NO_SUCH_REMINDER "beredd: ingen påminnelse til deg har den koden; ingenting er endret.", \
        "beredd: no reminder of yours has that code; nothing changed."
/* HJELP or UTSETT without a code. */
#define W_BACK_REMINDER_CODE "beredd: oppgi koden fra påminnelsen, f.eks. OK 48213.", \
        "beredd: give the code from the reminder, e.g. OK 48213."
#define W_BACK_OK_NOT_CALLOUT "beredd: OK er ikke et svar på en utkalling. Svar JA eller NEI og koden, f.eks. JA 4821.", \
        "beredd: OK is not an answer to a call-out. Reply YES or NO and the code, e.g. YES 4821."
/* OK without a code, and more than one thing it could answer. */
#define W_BACK_OK_WHICH \
        "beredd: svar med koden: JA eller NEI og koden for en utkalling (JA 4821), OK og koden for en påminnelse eller kontroll (OK 48213).", \
        "beredd: reply with the code: YES or NO and the code of a call-out (YES 4821), OK and the code of a reminder or check (OK 48213)."
#define W_BACK_NO_OPEN_CALLOUT "beredd: ingen åpen utkalling venter på svar fra deg.", \
        "beredd: no open call-out is waiting for your answer."
#define W_BACK_SEVERAL_OPEN "beredd: flere utkallinger er åpne. Svar med koden, f.eks. JA 4821.", \
        "beredd: several call-outs are open. Reply with the code, e.g. YES 4821."
#define W_BACK_NOT_ASKED "beredd: svaret ditt ble ikke telt: du ble ikke spurt i denne utkallingen.", \
        "beredd: your answer was not counted: you were not asked in this call-out."
/* Appended to the last text back an hour allows (5): what the silence after it means. */
#define W_BACK_LAST " (Den neste timen får du ikke flere svar på SMS-ene dine; gyldige svar blir likevel registrert.)", \
        " (For the next hour you get no more replies to your texts; valid answers are still recorded.)"
/* ---- absences by SMS (BORTE / TILBAKE; server-away.c) ----
 * The receipt repeats the period understood. A day is written "fredag
 * 24.12" (the year too when it is not this year's: "lørdag 2.1.2027"). */
/* From day, to day (both included). */
#define W_AWAY_RECEIPT "Registrert: borte fra %s til og med %s. Send TILBAKE hvis du kommer tilbake før.", \
        "Recorded: away from %s to %s inclusive. Send BACK if you are back earlier."
/* One day. */
#define W_AWAY_RECEIPT_DAY "Registrert: borte %s. Send TILBAKE hvis du kommer tilbake før.", \
        "Recorded: away on %s. Send BACK if you are back earlier."
/* "BORTE TIL 2.1": to day (included). */
#define W_AWAY_RECEIPT_NOW "Registrert: borte fra nå til og med %s. Send TILBAKE hvis du kommer tilbake før.", \
        "Recorded: away from now to %s inclusive. Send BACK if you are back earlier."
/* The weekdays of a receipt's days, Sunday first (not W_ pairs: tables). */
#define AWAY_WEEKDAYS_NB { "søndag", "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag" }
#define AWAY_WEEKDAYS_EN { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" }
#define W_AWAY_BACK "Registrert: du er tilbake og kan kalles inn igjen.", \
        "Recorded: you are back and can be called out again."
#define W_AWAY_NOT_AWAY "beredd: du er ikke registrert borte nå; ingenting er endret.", \
        "beredd: you are not recorded as away now; nothing changed."
#define W_AWAY_BAD_DATE "beredd: datoen ble ikke forstått. Skriv f.eks. BORTE 24.12-27.12, BORTE 24.12 eller BORTE TIL 2.1.", \
        "beredd: the date was not understood. Write e.g. AWAY 24.12-27.12, AWAY 24.12 or AWAY UNTIL 2.1."
#define W_AWAY_BACK_EXTRA "beredd: send TILBAKE alene, uten noe mer i meldingen, når du er tilbake; ingenting er registrert. Svar på en utkalling i en egen melding.", \
        "beredd: send BACK on its own, with nothing else in the message, when you are back; nothing was recorded. Answer a call-out in a message of its own."
#define W_AWAY_PAST "beredd: den perioden er allerede over; ingenting er registrert.", \
        "beredd: that period is over already; nothing was recorded."
#define W_AWAY_TOO_LONG "beredd: fravær kan registreres for høyst ett år om gangen; ingenting er registrert.", \
        "beredd: an absence can be recorded for one year at most; nothing was recorded."
#define W_AWAY_NEEDS_YEAR "beredd: uten år ble det et fravær til %s. Skriv året hvis du mener det, f.eks. BORTE %s; ingenting er registrert.", \
        "beredd: without a year that is an absence until %s. Write the year if you mean it, e.g. AWAY %s; nothing was recorded."
#define W_AWAY_TOO_FAR "beredd: fravær kan registreres høyst ett år fram i tid; ingenting er registrert.", \
        "beredd: an absence can be recorded at most a year ahead; nothing was recorded."
#define W_AWAY_TOO_MANY "beredd: du har for mange fravær registrert; be koordinatoren rydde i dem. Ingenting er registrert.", \
        "beredd: you have too many absences recorded; ask the coordinator to tidy them up. Nothing was recorded."
#define W_AWAY_FAILED "beredd: fraværet kunne ikke lagres nå; prøv igjen senere.", \
        "beredd: the absence could not be saved now; try again later."

/* An OK to a contact-list check ("verify"), by SMS. */
#define W_RECEIPT_VERIFY "Registrert: OK. Takk, nummeret ditt virker for varsling.", \
        "Recorded: OK. Thank you, your number works for alerts."

/* ---- how the call-out goes: the final step (legevakten) and the leader ----
 * The final step is told at once when the quorum is out of reach
 * ("impossible"), at the end when the team could not be mobilised
 * ("unreachable"), and again if it was mobilised after all ("update"). The
 * leader (and whoever triggered) gets the same news as reports
 * ("report-impossible", "report-short", "report-mobilised"). */
/* Out of reach, while the call-out goes on: DRILL, CHAIN; then
 * W_OUT_OF_REACH_ROLES and/or W_OUT_OF_REACH_TOO_FEW, then
 * W_OUT_OF_REACH_CONFIRMED. */
#define W_OUT_OF_REACH "%s%s kan IKKE mobiliseres: ", "%s%s can NOT be mobilised: "
/* The roles, joined by W_ROLE_* and W_AND below ("leder og prest (høyst 1 av 2)"). */
#define W_OUT_OF_REACH_ROLES "mangler %s", "no %s"
/* W_AND or "", how many can still come at most, how many are needed. */
#define W_OUT_OF_REACH_TOO_FEW "%sfor få kan komme (høyst %d av %d)", "%stoo few can come (at most %d of %d)"
/* Yes so far, needed. */
#define W_OUT_OF_REACH_CONFIRMED ". %d av %d bekreftet.", ". %d of %d confirmed."
/* DRILL, CHAIN. */
#define W_OUT_OF_REACH_SUBJECT "%s%s kan ikke mobiliseres", "%s%s can not be mobilised"
/* Short at the end: DRILL, CHAIN, yes, needed; then W_SHORT_MISSING and
 * W_SHORT_AND_ROLES, or W_SHORT_BUT_ROLES; then ".". */
#define W_SHORT "%s%s kunne IKKE mobiliseres: %d av %d bekreftet", "%s%s could NOT be mobilised: %d of %d confirmed"
/* How many are missing. */
#define W_SHORT_MISSING ", %d mangler", ", %d missing"
/* The roles not met ("ingen leder og for få prest (1 av 2)"). */
#define W_SHORT_AND_ROLES ", og %s", ", and %s"
#define W_SHORT_BUT_ROLES ", men %s", ", but %s"
/* DRILL, CHAIN. */
#define W_SHORT_SUBJECT "%s%s kunne ikke mobiliseres", "%s%s could not be mobilised"
/* Role phrases of the two above: a role out of reach (name, at most,
 * needed), a role nobody (name) or too few (name, yes, needed) said yes
 * to; joined by ", " and, before the last, W_AND. */
#define W_ROLE_AT_MOST "%s (høyst %d av %d)", "%s (at most %d of %d)"
#define W_ROLE_NONE "ingen %s", "no %s"
#define W_ROLE_TOO_FEW "for få %s (%d av %d)", "too few %s (%d of %d)"
#define W_AND " og ", " and "

/* ---- the final step (legevakten) only ---- */
/* After "impossible" and "unreachable". */
#define W_FINAL_SUPPORT " Gi umiddelbar støtte.", " Please give immediate support."
/* Whom to call: phone, name (the number first, so a cut keeps it; not to
 * the contact person himself). */
#define W_FINAL_CONTACT " Kontakt: %s (%s).", " Contact: %s (%s)."
/* After "impossible" and "unreachable". */
#define W_FINAL_TOLD_LATER " Dere får beskjed hvis teamet likevel mobiliseres.", \
        " You will be told if the team is mobilised after all."
/* "update": DRILL, CHAIN, yes, needed. */
#define W_FINAL_UPDATE "%s%s er likevel mobilisert: %d av %d bekreftet. Teamet tar over.", \
        "%s%s has been mobilised after all: %d of %d confirmed. The team takes over."
/* DRILL, CHAIN. */
#define W_FINAL_UPDATE_SUBJECT "%s%s er likevel mobilisert", "%s%s has been mobilised after all"

/* ---- when a quorum changes back ----
 * A team mobilised and then no longer complete (someone who said yes says
 * no): whoever was told it was mobilised (the leader, report_to, the final
 * step) hears it ("unmobilised", "report-unmobilised"), and those who were
 * stood down are asked again ("recall"). A quorum told out of reach that
 * can be met after all (a no became a yes): whoever was told hears it
 * ("reachable", "report-reachable"). */
/* "unmobilised": DRILL, CHAIN, who withdrew ("Ola Nordmann (medlem)"), yes,
 * needed; then W_SHORT_MISSING and W_SHORT_AND_ROLES, or W_SHORT_BUT_ROLES;
 * then W_UNMOB_GOES_ON. */
#define W_UNMOB "%s%s er ikke lenger fulltallig: %s har trukket sitt ja. %d av %d bekreftet", \
        "%s%s is no longer complete: %s has withdrawn their yes. %d of %d confirmed"
#define W_UNMOB_GOES_ON ". Utkallingen fortsetter; dere får beskjed når teamet er mobilisert.", \
        ". The call-out goes on; you will be told when the team is mobilised."
/* DRILL, CHAIN. */
#define W_UNMOB_SUBJECT "%s%s er ikke lenger fulltallig", "%s%s is no longer complete"
/* "recall", to those stood down: DRILL, CHAIN, CODE, CODE. */
#define W_RECALL "%s%s trenger deg likevel: teamet er ikke lenger fulltallig. Svar JA %s eller NEI %s", \
        "%s%s needs you after all: the team is no longer complete. Reply YES %s or NO %s"
/* DRILL, CHAIN. */
#define W_RECALL_SUBJECT "%s%s trenger deg likevel", "%s%s needs you after all"
/* "reachable": DRILL, CHAIN, who said yes ("Kari Nordmann (leder)"), yes, needed. */
#define W_REACHABLE "%s%s kan likevel nås: %s har svart ja. %d av %d bekreftet. Utkallingen fortsetter; " \
        "dere får beskjed når teamet er mobilisert.", \
        "%s%s is within reach after all: %s has said yes. %d of %d confirmed. The call-out goes on; " \
        "you will be told when the team is mobilised."
/* The same when no new answer is behind it (a roster or the configuration
 * changed): DRILL, CHAIN, yes, needed. */
#define W_REACHABLE_NOBODY "%s%s kan likevel nås: %d av %d bekreftet. Utkallingen fortsetter; " \
        "dere får beskjed når teamet er mobilisert.", \
        "%s%s is within reach after all: %d of %d confirmed. The call-out goes on; " \
        "you will be told when the team is mobilised."
/* DRILL, CHAIN. */
#define W_REACHABLE_SUBJECT "%s%s kan likevel nås", "%s%s is within reach after all"

/* ---- the leader's reports ----
 * Out of reach and short as above, then who is coming, who of the final
 * step was told and whether the call-out goes on; and "report-mobilised". */
/* DRILL, CHAIN, yes, needed. */
#define W_REPORT_MOBILISED "%s%s er mobilisert: %d av %d bekreftet.", "%s%s is mobilised: %d of %d confirmed."
/* DRILL, CHAIN. */
#define W_REPORT_MOBILISED_SUBJECT "%s%s er mobilisert", "%s%s is mobilised"
/* "Kari Nordmann (leder), Ola Nordmann (medlem)". */
#define W_REPORT_COMING " Kommer: %s.", " Coming: %s."
/* After the names that fit: how many more. */
#define W_REPORT_MORE " og %d til", " and %d more"
/* Who of the final step was told (names). */
#define W_REPORT_TOLD " Varslet: %s.", " Told: %s."
/* After "report-impossible". */
#define W_REPORT_GOES_ON " Utkallingen fortsetter.", " The call-out goes on."

/* ---- follow-up reminders and escalations ----
 * Reminders go to a case's contact persons when its follow-up is due or
 * overdue (and a second one later); escalations go to the leader when a
 * follow-up is not recorded, a worsening is recorded, or the contact
 * persons are not reached. REF is the case reference. */
/* REF. */
#define W_FU_DUE_TODAY "Påminnelse: oppfølging av %s forfaller i dag. ", "Reminder: follow-up of %s is due today. "
#define W_FU_DUE_TODAY_SUBJECT "Oppfølging av %s forfaller i dag", "Follow-up of %s is due today"
#define W_FU_OVERDUE "Påminnelse: oppfølging av %s er forfalt. ", "Reminder: follow-up of %s is overdue. "
#define W_FU_OVERDUE_SUBJECT "Oppfølging av %s er forfalt", "Follow-up of %s is overdue"
#define W_FU_SECOND "Påminnelse 2: oppfølging av %s er ikke registrert. ", \
        "Reminder 2: follow-up of %s has not been recorded. "
#define W_FU_SECOND_SUBJECT "Oppfølging av %s: påminnelse 2", "Follow-up of %s: second reminder"
/* On the reminders of a case with the children task. */
#define W_FU_TASK_CHILDREN "Sjekk omsorgssituasjonen for barna. ", "Check the care situation of the children. "
/* CODE, CODE, CODE; by SMS the longest that keeps one segment. */
#define W_FU_REPLY_LONG \
        "Svar OK %s (ingen behov), HJELP %s (trenger oppfølging) eller UTSETT %s 3 (utsett 3 dager).", \
        "Reply OK %s (no needs), HELP %s (needs follow-up) or UTSETT %s 3 (postpone 3 days)."
#define W_FU_REPLY_SHORT "Svar OK %s (ingen behov), HJELP %s (trenger oppfølging) eller UTSETT %s 3.", \
        "Reply OK %s (no needs), HELP %s (needs follow-up) or UTSETT %s 3."
/* CODE, CODE: the last resort for one SMS, without UTSETT. */
#define W_FU_REPLY_MIN "Svar OK %s (ingen behov) eller HJELP %s (trenger oppfølging).", \
        "Reply OK %s (no needs) or HELP %s (needs follow-up)."
/* REF. */
#define W_FU_NOT_RECORDED_SUBJECT "%s: oppfølging ikke registrert", "%s: follow-up not recorded"
/* REF, days (1 / more), contact persons. */
#define W_FU_NOT_RECORDED_DAY "%s: oppfølging ikke registrert etter %d dag. Kontaktpersoner: %s.", \
        "%s: follow-up not recorded after %d day. Contact persons: %s."
#define W_FU_NOT_RECORDED_DAYS "%s: oppfølging ikke registrert etter %d dager. Kontaktpersoner: %s.", \
        "%s: follow-up not recorded after %d days. Contact persons: %s."
/* REF. */
#define W_FU_CHILDREN_SUBJECT "%s: sjekk omsorgssituasjonen for barna", "%s: check the care situation of the children"
/* REF, contact persons. */
#define W_FU_CHILDREN "%s: forverring registrert. Sjekk omsorgssituasjonen for barna. Kontaktpersoner: %s.", \
        "%s: worsening recorded. Check the care situation of the children. Contact persons: %s."
/* REF. */
#define W_FU_UNREACHED_SUBJECT "%s: ikke nådd", "%s: not reached"
/* REF, contact persons: not reached once (unreached_max = 1). */
#define W_FU_UNREACHED_ONCE "%s: ikke nådd. Kontaktpersoner: %s.", "%s: not reached. Contact persons: %s."
/* REF, times, contact persons. */
#define W_FU_UNREACHED "%s: ikke nådd %d ganger på rad. Kontaktpersoner: %s.", \
        "%s: not reached %d times in a row. Contact persons: %s."

/* A reminder rerouted because contact persons are away: why it came to
 * the reader. NAME and the last day (D.M) of the absence: the first away
 * contact; "og"/"and" NAME, D.M: the second. */
#define W_FU_AWAY_DAY "%s er borte til og med %d.%d", "%s is away through %d.%d"
/* NAME, D.M, HH:MM: an absence ending within a day. */
#define W_FU_AWAY_TIME "%s er borte til %d.%d kl. %02d:%02d", "%s is away until %d.%d at %02d:%02d"
#define W_FU_AWAY_DAY2 " og %s til og med %d.%d", " and %s through %d.%d"
#define W_FU_AWAY_TIME2 " og %s til %d.%d kl. %02d:%02d", " and %s until %d.%d at %02d:%02d"
/* After the away phrase, on a reminder to the one it was sent to instead. */
#define W_FU_SENT_TO_YOU ", så oppfølgingen er sendt til deg. ", ", so the follow-up has been sent to you. "
/* After the away phrase, on an escalation: NAMES the reminders went to. */
#define W_FU_ESC_REMINDED " %s; påminnelsene gikk til %s.", " %s; the reminders went to %s."
#define W_FU_ESC_YOU "deg", "you"
/* To the coordinator: the responsible contact is away on the due date.
 * REF, the away phrase, the due date D.M. */
#define W_FU_RESPONSIBLE_SUBJECT "%s: ansvarlig kontaktperson er borte", "%s: the responsible contact person is away"
#define W_FU_RESPONSIBLE "%s: %s, og er ansvarlig kontaktperson; oppfølgingen forfaller %d.%d. " \
        "Sørg for at de andre tjenestene følger opp.", \
        "%s: %s, and is the responsible contact person; the follow-up is due %d.%d. " \
        "Make sure the other services follow up."

/* ---- HTTP answer pages ----
 * The page behind a one-tap link of a call-out e-mail (/a/TOKEN/yes|no):
 * confirm, then thanks; or why the answer was not taken. Title and lead of
 * each page, then the parts of the confirm and thanks pages. */
#define W_PAGE_CONFIRM_TITLE "Bekreft svaret ditt", "Confirm your answer"
#define W_PAGE_CONFIRM_LEAD "Trykk på knappen for å sende svaret. Ingenting er registrert ennå.", \
        "Press the button to send your answer. Nothing has been recorded yet."
#define W_PAGE_THANKS_TITLE "Takk, svaret er registrert", "Thank you, your answer is recorded"
#define W_PAGE_THANKS_LEAD "Du kan lukke denne siden.", "You can close this page."
/* 404 */
#define W_PAGE_UNKNOWN_TITLE "Ukjent lenke", "Unknown link"
#define W_PAGE_UNKNOWN_LEAD "Denne svarlenken finnes ikke. Svar på SMS-en, eller kontakt den som kalte inn.", \
        "This answer link does not exist. Reply to the SMS, or contact whoever called you out."
/* 410 */
#define W_PAGE_ENDED_TITLE "Utkallingen er avsluttet", "The call-out has ended"
#define W_PAGE_ENDED_LEAD "Svaret ble ikke registrert: utkallingen er ikke lenger åpen.", \
        "Your answer was not recorded: the call-out is no longer open."
/* 400: the answer was refused. */
#define W_PAGE_FAILED_TITLE "Svaret ble ikke registrert", "Your answer was not recorded"
#define W_PAGE_FAILED_LEAD "Svar på SMS-en, eller kontakt den som kalte inn.", \
        "Reply to the SMS, or contact whoever called you out."
/* 503 */
#define W_PAGE_TRY_LATER_TITLE "Prøv igjen om litt", "Please try again shortly"
#define W_PAGE_TRY_LATER_LEAD "Svaret kunne ikke lagres akkurat nå. Prøv igjen, eller svar på SMS-en.", \
        "Your answer could not be saved just now. Try again, or reply to the SMS."
#define W_PAGE_DRILL "ØVELSE - dette er en øvelse", "DRILL - this is an exercise"
/* Labels of the call-out's facts. */
#define W_PAGE_CALLOUT "Utkalling", "Call-out"
#define W_PAGE_YOUR_ANSWER "Svaret ditt", "Your answer"
#define W_PAGE_RECORDED "Registrert", "Recorded"
#define W_PAGE_SO_FAR "Svart så langt", "Answered so far"
#define W_PAGE_COMING "JA, jeg kommer", "YES, I am coming"
#define W_PAGE_NOT_COMING "NEI, jeg kan ikke komme", "NO, I cannot come"
#define W_PAGE_YES "JA", "YES"
#define W_PAGE_NO "NEI", "NO"
/* The button: W_PAGE_YES, W_PAGE_NO or "OK". */
#define W_PAGE_SEND "Send svar: %s", "Send answer: %s"
/* The link to the other answer: W_PAGE_YES or W_PAGE_NO. */
#define W_PAGE_INSTEAD "Svar %s i stedet", "Answer %s instead"

/* The pages behind the OK link of a contact-list check (/a/TOKEN/ok). A
 * check is never a call-out, and its pages say so. */
#define W_CHECK_CONFIRM_TITLE "Bekreft at du kan nås", "Confirm that you can be reached"
#define W_CHECK_CONFIRM_LEAD \
        "Dette er en kontroll av varslingslisten, IKKE en utkalling. Trykk på knappen for å svare OK. Ingenting er registrert ennå.", \
        "This is a contact list check, NOT a call-out. Press the button to answer OK. Nothing has been recorded yet."
#define W_CHECK_THANKS_TITLE "Takk, OK er registrert", "Thank you, your OK is recorded"
#define W_CHECK_THANKS_LEAD "Kontrollen viser at du kan nås. Du kan lukke denne siden.", \
        "The check shows that you can be reached. You can close this page."
#define W_CHECK_UNKNOWN_TITLE "Ukjent lenke", "Unknown link"
#define W_CHECK_UNKNOWN_LEAD "Denne svarlenken finnes ikke. Svar OK på SMS-en, eller kontakt den som sendte kontrollen.", \
        "This answer link does not exist. Reply OK to the SMS, or contact whoever sent the check."
#define W_CHECK_ENDED_TITLE "Kontrollen er avsluttet", "The check has ended"
#define W_CHECK_ENDED_LEAD \
        "Svaret ble ikke registrert: kontrollen av varslingslisten er ikke lenger åpen. Det var ikke en utkalling.", \
        "Your answer was not recorded: the contact list check is no longer open. It was not a call-out."
#define W_CHECK_FAILED_TITLE "Svaret ble ikke registrert", "Your answer was not recorded"
#define W_CHECK_FAILED_LEAD "Svar OK på SMS-en, eller kontakt den som sendte kontrollen.", \
        "Reply OK to the SMS, or contact whoever sent the check."
#define W_CHECK_TRY_LATER_TITLE "Prøv igjen om litt", "Please try again shortly"
#define W_CHECK_TRY_LATER_LEAD "Svaret kunne ikke lagres akkurat nå. Prøv igjen, eller svar OK på SMS-en.", \
        "Your answer could not be saved just now. Try again, or reply OK to the SMS."
/* The label of the chain on a check's page. */
#define W_CHECK_LABEL "Kontroll av varslingslisten", "Contact list check"

/* ---- voice calls (voice.c) ----
 * A call-out by phone is read aloud by text-to-speech: the drill sentence,
 * the chain, the operator's text (or W_CALLOUT_DEFAULT_TEXT), then the
 * key-press prompt, asked twice, then the closing sentence. No name,
 * number or case reference is ever spoken. Written to be heard: whole
 * sentences, no abbreviations, no codes. */
#define W_VOICE_DRILL "Dette er en øvelse. ", "This is a drill. "
/* DRILL (W_VOICE_DRILL or ""), CHAIN, the operator's text. */
#define W_VOICE_CALLOUT "%sDette er en utkalling av %s. %s", "%sThis is a call-out of %s. %s"
/* For an English speaker, before the chain's name and the operator's text
 * said in bokmål (the bokmål text is the pair's, never spoken). */
#define W_VOICE_CALLOUT_FOREIGN "Dette er en utkalling. Meldingen kommer på norsk.", \
        "This is a call-out. The message follows in Norwegian."
#define W_VOICE_PROMPT "Trykk 1 hvis du kan komme, trykk 2 hvis du ikke kan.", \
        "Press 1 if you can come, press 2 if you cannot."
#define W_VOICE_CLOSING "Vi fikk ikke noe svar. Ha det bra.", \
        "We got no answer. Goodbye."
/* After a key press. */
#define W_VOICE_YES "Takk, du er registrert som kommer.", "Thank you, you are recorded as coming."
#define W_VOICE_NO "Takk, du er registrert som ikke kommer.", "Thank you, you are recorded as not coming."
/* Before the prompt once more. */
#define W_VOICE_INVALID "Det var ikke et gyldig valg.", "That was not a valid choice."
#define W_VOICE_ENDED "Denne utkallingen er avsluttet. Takk.", "This call-out has ended. Thank you."
#define W_VOICE_FAILED "Svaret kunne ikke registreres. Svar på en annen måte hvis du kan.", \
        "Your answer could not be recorded. Please answer another way if you can."

/* ---- the absence survey before a heightened period (server-survey.c) ----
 * TITLE is the chain's name and the period's ("Kriseteamet – Jul og nyttår"),
 * RANGE "18.12–3.1", EXAMPLE a range inside the period ("24.12-27.12"),
 * CODE the person's survey code. */
/* TITLE, RANGE, EXAMPLE, CODE. */
#define W_SURVEY_ASK "%s %s: hvilke dager er du borte? Svar BORTE og datoene, f.eks. BORTE %s, eller OK %s hvis du kan nås hele perioden.", \
        "%s %s: which days will you be away? Reply AWAY and the dates, e.g. AWAY %s, or OK %s if you can be reached the whole period."
/* Before W_SURVEY_ASK, to those who had not answered. */
#define W_SURVEY_REMIND "Påminnelse: ", "Reminder: "
/* The e-mail: TITLE, RANGE (the subject). */
#define W_SURVEY_SUBJECT "%s %s: hvilke dager er du borte?", "%s %s: which days will you be away?"
/* The e-mail's body: TITLE, RANGE; the OK link; the away link; EXAMPLE, CODE. */
#define W_SURVEY_MAIL "%s %s: vi trenger å vite hvem som kan kalles inn i denne perioden.\n\n" \
        "Kan du nås hele perioden:\n  %s\n\nEr du borte noen dager:\n  %s\n\n" \
        "Du kan også svare på SMS: BORTE og datoene (f.eks. BORTE %s), eller OK %s.\n", \
        "%s %s: we need to know who can be called out in this period.\n\n" \
        "Can you be reached the whole period:\n  %s\n\nWill you be away on some days:\n  %s\n\n" \
        "You can also reply by SMS: AWAY and the dates (e.g. AWAY %s), or OK %s.\n"
/* The e-mail without answer links (no http.public_url): TITLE, RANGE; EXAMPLE, CODE. */
#define W_SURVEY_MAIL_SMS "%s %s: vi trenger å vite hvem som kan kalles inn i denne perioden.\n\n" \
        "Svar på SMS: BORTE og datoene (f.eks. BORTE %s) hvis du er borte noen dager, eller OK %s hvis du kan nås hele perioden.\n", \
        "%s %s: we need to know who can be called out in this period.\n\n" \
        "Reply by SMS: AWAY and the dates (e.g. AWAY %s) if you will be away on some days, or OK %s if you can be reached the whole period.\n"
/* The receipt of an OK: TITLE, RANGE. */
#define W_SURVEY_OK_RECEIPT "Takk. Registrert for %s %s: du kan nås hele perioden.", \
        "Thank you. Recorded for %s %s: you can be reached the whole period."
/* The same, when they reported an absence in the period too. */
#define W_SURVEY_OK_RECEIPT_AWAY "Takk. Registrert for %s %s: du kan nås utenom fraværet du har meldt.", \
        "Thank you. Recorded for %s %s: you can be reached except in the absence you reported."
/* JA/NEI with a survey code, or without a code while a survey asks the
 * sender and no call-out does. CODE, EXAMPLE. */
#define W_SURVEY_WHICH "beredd: svar OK %s hvis du kan nås hele perioden, eller BORTE og datoene, f.eks. BORTE %s.", \
        "beredd: reply OK %s if you can be reached the whole period, or AWAY and the dates, e.g. AWAY %s."
/* JA/NEI without a code from someone asked by the survey after the one
 * open call-out began: which one is meant is not guessed. CODE (the
 * call-out's), CODE. */
#define W_SURVEY_JA_WHICH "beredd: svar med koden: JA %s eller NEI %s for utkallingen. Fravær svarer du på med BORTE og datoene.", \
        "beredd: reply with the code: YES %s or NO %s for the call-out. Absences are answered with AWAY and the dates."
/* A 6-digit code that is no survey's ask to the sender. */
#define W_SURVEY_NO_CODE "beredd: den koden hører ikke til noe spørsmål om fravær til deg.", \
        "beredd: that code belongs to no question about absences sent to you."
/* To the leader when the survey closes: after the forecast
 * (coverage_summary), ANSWERED, ASKED, AWAY (never cut from an SMS). */
#define W_SURVEY_FORECAST " %u av %u har svart på spørsmålet om fravær, %u melder fravær.", \
        " %u of %u answered the question about absences, %u reported absences."
/* After it, when not everyone answered. */
#define W_SURVEY_FORECAST_UNANSWERED " De som ikke har svart, er regnet som tilgjengelige.", \
        " Those who did not answer are counted as available."
/* After it: N of the chain were not asked (no way to answer, or added to
 * the configuration after the asks). */
#define W_SURVEY_FORECAST_NOT_ASKED " %u er ikke spurt (uten telefon og e-post, eller lagt til senere) og er regnet som tilgjengelige.", \
        " %u were not asked (no phone or e-mail, or added later) and are counted as available."
/* To the leader later: an absence turned a day uncoverable. NEW (the
 * parts that turned, in coverage_summary's words), then the forecast. */
#define W_SURVEY_NEWS "Nytt fravær: %s kan ikke lenger dekkes. Oppdatert oversikt: ", \
        "New absence: %s can no longer be covered. Updated forecast: "
/* The leader's e-mail subject: TITLE, RANGE. */
#define W_SURVEY_FORECAST_SUBJECT "Dekning %s %s", "Coverage %s %s"
/* The answer pages (/s/TOKEN/ok, /s/TOKEN/away). */
#define W_SPAGE_OK_TITLE "Kan nås hele perioden", "Reachable the whole period"
#define W_SPAGE_AWAY_TITLE "Borte noen dager", "Away on some days"
#define W_SPAGE_OK_LEAD "Trykk på knappen for å svare at du kan nås hele perioden.", \
        "Press the button to answer that you can be reached the whole period."
#define W_SPAGE_AWAY_LEAD "Velg første og siste dag du er borte, og trykk på knappen. Er du borte flere ganger, send skjemaet en gang for hver.", \
        "Choose the first and the last day you are away and press the button. Away more than once: send the form once for each."
#define W_SPAGE_FROM "Fra og med", "From"
#define W_SPAGE_TO "Til og med", "To (inclusive)"
#define W_SPAGE_SEND_OK "Send: jeg kan nås", "Send: I can be reached"
#define W_SPAGE_SEND_AWAY "Send: jeg er borte", "Send: I am away"
#define W_SPAGE_THANKS "Takk, svaret er registrert.", "Thank you, your answer is recorded."
#define W_SPAGE_UNKNOWN "Denne lenken finnes ikke.", "This link does not exist."
#define W_SPAGE_ENDED "Denne perioden er over; ingenting er endret.", "This period is over; nothing changed."
/* The form's dates: FROM and TO of what it takes ("4.12", "17.1"). */
#define W_SPAGE_BAD_DATES "Datoene kunne ikke brukes: velg dager mellom %s og %s som berører perioden, og en siste dag som ikke er før den første. Ingenting er registrert.", \
        "The dates could not be used: choose days between %s and %s that touch the period, and a last day not before the first. Nothing was recorded."
#define W_SPAGE_TRY_LATER "Svaret kunne ikke lagres nå. Prøv igjen senere.", \
        "Your answer could not be saved now. Please try again later."
