/* curl-util.h - one libcurl multi handle on the sd-event loop (in the manner
 * of systemd's src/import/curl-util.c): curl's sockets in an epoll set of
 * their own watched as one io source, its timer as a time source (and "now"
 * as a defer source), finished transfers handed to a callback right after
 * each socket or timer action. Used by the gateways and the heartbeat.
 * Nothing here blocks the loop and nothing logs except at debug level and
 * for a watch that cannot be set up. */
#pragma once

#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <systemd/sd-event.h>

struct curl_glue;

/* A transfer EASY has ended with RC. The callback owns EASY again: it must
 * take it out of the multi (curl_glue_remove) before anything else uses
 * it; it may add and remove other transfers. */
typedef void (*curl_glue_finished_t)(void *userdata, CURL *easy, CURLcode rc);

/* A multi handle on E, made (with curl_global_init, undone by
 * curl_glue_free) only when the first transfer is added or
 * curl_glue_ready() is called: until then libcurl and OpenSSL are loaded
 * but not initialised, ~2 MB less resident. NAME prefixes the event sources' descriptions
 * ("gateway" gives "gateway-curl-io", "gateway-curl-timer"). Returns 0 or
 * -errno. */
int curl_glue_new(sd_event *e, const char *name, curl_glue_finished_t finished, void *userdata, struct curl_glue **ret);
/* Frees the multi handle (transfers still in it must have been removed)
 * and the event sources. */
void curl_glue_free(struct curl_glue *g);
/* CURLMOPT_MAX_HOST_CONNECTIONS and CURLMOPT_MAXCONNECTS (0: curl's
 * defaults), now or when the multi handle is made. */
void curl_glue_set_limits(struct curl_glue *g, long max_host, long max_total);
/* libcurl initialised and the multi handle made: call it before
 * curl_easy_init(). 0 or -errno. */
int curl_glue_ready(struct curl_glue *g);
/* The multi handle (made now if need be; NULL if it cannot be). */
CURLM *curl_glue_multi(struct curl_glue *g);
/* Hand EASY to the multi / take it out. Return 0 or -errno. */
int curl_glue_add(struct curl_glue *g, CURL *easy);
void curl_glue_remove(struct curl_glue *g, CURL *easy);

/* The loop's idea of now on CLOCK (the time of the current iteration), or
 * the clock's own when the loop has not run yet. */
uint64_t event_now_usec(sd_event *e, clockid_t clock);
