/* curl-util.c - libcurl's multi interface on the sd-event loop, for every
 * user of curl in the daemon (the gateways, the heartbeat).
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to call it back (CURLMOPT_TIMERFUNCTION); we call
 * curl_multi_socket_action() from those sources and drain finished
 * transfers with curl_multi_info_read() right after. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "curl-util.h"
#include "log.h"
#include "macro.h"

struct glue_sock {
        struct curl_glue *g;
        curl_socket_t fd;
        uint32_t events; /* what it is watched for in g->epfd */
        struct glue_sock *prev, *next;
};

struct curl_glue {
        sd_event *event;
        CURLM *multi;  /* made for the first transfer (glue_init) */
        bool global;   /* curl_global_init done */
        long max_host; /* CURLMOPT_MAX_HOST_CONNECTIONS, MAXCONNECTS (0: curl's) */
        long max_total;
        char name[32];
        curl_glue_finished_t finished;
        void *userdata;
        sd_event_source *timer;
        sd_event_source *now; /* curl's "time out now": a defer, no timerfd re-arm */
        int epfd;             /* curl's sockets, one io source for all of them */
        sd_event_source *ep_src;
        struct glue_sock *socks;
};

uint64_t event_now_usec(sd_event *e, clockid_t clock) {
        uint64_t t = 0;

        if (!e || sd_event_now(e, clock, &t) < 0) {
                struct timespec ts;
                clock_gettime(clock, &ts);
                t = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
        }
        return t;
}

static void sock_free(struct glue_sock *s) {
        struct curl_glue *g = s->g;

        if (g->epfd >= 0)
                (void) epoll_ctl(g->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        if (s->prev)
                s->prev->next = s->next;
        else
                g->socks = s->next;
        if (s->next)
                s->next->prev = s->prev;
        free(s);
}

static void drain(struct curl_glue *g) {
        CURLMsg *m;
        int left;

        while ((m = curl_multi_info_read(g->multi, &left))) {
                CURL *easy;
                CURLcode rc;

                if (m->msg != CURLMSG_DONE)
                        continue;
                /* M is invalid once the handle is removed, which the
                 * callback does. */
                easy = m->easy_handle;
                rc = m->data.result;
                g->finished(g->userdata, easy, rc);
        }
}

/* curl's sockets live in an epoll set of their own, watched as one io
 * source: a single dispatch serves every socket that is ready (sd-event
 * dispatches one source per iteration, and with hundreds of transfers in
 * flight, one iteration per socket spent its time re-reading the ready list).
 * Entries carry the fd, not the glue_sock: handling one socket may make curl
 * close another whose event is still in the batch; curl ignores an fd it no
 * longer knows. */
static int on_epoll(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        struct curl_glue *g = userdata;
        struct epoll_event ev[256];
        int n, running;

        n = epoll_wait(g->epfd, ev, (int) ELEMENTSOF(ev), 0);
        if (n < 0 && errno != EINTR)
                log_debug("epoll_wait on the %s curl sockets failed: %m", g->name);
        for (int i = 0; i < n; i++) {
                int action = 0;
                if (ev[i].events & EPOLLIN)
                        action |= CURL_CSELECT_IN;
                if (ev[i].events & EPOLLOUT)
                        action |= CURL_CSELECT_OUT;
                if (ev[i].events & (EPOLLERR | EPOLLHUP))
                        action |= CURL_CSELECT_ERR;
                if (curl_multi_socket_action(g->multi, ev[i].data.fd, action, &running) != CURLM_OK)
                        log_debug("curl_multi_socket_action failed on fd %d", ev[i].data.fd);
        }
        drain(g);
        return 0;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        struct curl_glue *g = userp;
        struct glue_sock *s = socketp;
        struct epoll_event ev = { .data.fd = fd };

        if (what == CURL_POLL_REMOVE) {
                /* curl tells us before it closes the socket. */
                if (s)
                        sock_free(s);
                return 0;
        }
        if (what & CURL_POLL_IN)
                ev.events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                ev.events |= EPOLLOUT;

        if (s) {
                if (s->events == ev.events)
                        return 0;
                if (epoll_ctl(g->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
                        log_error_errno(-errno, "Cannot update the watch of a %s socket: %m", g->name);
                        return -1;
                }
                s->events = ev.events;
                return 0;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                return -1;
        *s = (struct glue_sock) { .g = g, .fd = fd, .events = ev.events };
        if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                log_error_errno(-errno, "Cannot watch a %s socket: %m", g->name);
                free(s);
                return -1;
        }
        s->next = g->socks;
        if (g->socks)
                g->socks->prev = s;
        g->socks = s;
        if (curl_multi_assign(g->multi, fd, s) != CURLM_OK) {
                sock_free(s);
                return -1;
        }
        return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        struct curl_glue *g = userdata;
        int running;

        if (curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
                log_debug("curl_multi_socket_action failed on timeout");
        drain(g);
        return 0;
}

static int on_now(sd_event_source *src, void *userdata) {
        return on_timer(src, 0, userdata);
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp) {
        struct curl_glue *g = userp;
        uint64_t when, accuracy;
        char desc[48];
        int r;

        /* curl keeps one timeout: a new one replaces the old. A timer left
         * armed only wakes curl early, which costs a call and no harm. */
        if (timeout_ms < 0 && g->timer)
                (void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
        if (timeout_ms != 0 && g->now)
                (void) sd_event_source_set_enabled(g->now, SD_EVENT_OFF);
        if (timeout_ms < 0)
                return 0;
        /* 0 = "as soon as possible", which curl asks for with every new
         * transfer: the next iteration of the loop, without re-arming a
         * timerfd each time (that was a sixth of the CPU in a fan-out). */
        if (timeout_ms == 0) {
                if (!g->now || sd_event_source_set_enabled(g->now, SD_EVENT_ONESHOT) < 0) {
                        log_error("Cannot arm the %s timer", g->name);
                        return -1;
                }
                return 0;
        }
        /* Short waits (connection set-up, retries) to the microsecond: the
         * default accuracy (250 ms) would delay every request. The request
         * timeouts, seconds away and moving with every finished transfer,
         * may fire up to 250 ms late; sd-event then re-arms its timerfd
         * only when the 250 ms slot changes, not after every transfer. */
        accuracy = timeout_ms >= 1000 ? 250 * 1000 : 1;
        when = event_now_usec(g->event, CLOCK_MONOTONIC) + (uint64_t) timeout_ms * 1000;
        if (g->timer) {
                r = sd_event_source_set_time(g->timer, when);
                if (r >= 0)
                        r = sd_event_source_set_time_accuracy(g->timer, accuracy);
                if (r >= 0)
                        r = sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time(g->event, &g->timer, CLOCK_MONOTONIC, when, accuracy, on_timer, g);
                snprintf(desc, sizeof(desc), "%s-curl-timer", g->name);
                if (r >= 0)
                        (void) sd_event_source_set_description(g->timer, desc);
        }
        if (r < 0) {
                log_error_errno(r, "Cannot arm the %s timer: %m", g->name);
                return -1;
        }
        return 0;
}

int curl_glue_new(sd_event *e, const char *name, curl_glue_finished_t finished, void *userdata, struct curl_glue **ret) {
        struct curl_glue *g;
        char desc[48];
        int r;

        if (!e || !finished || !ret)
                return -EINVAL;
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        *g = (struct curl_glue) { .event = sd_event_ref(e), .finished = finished, .userdata = userdata, .epfd = -1 };
        snprintf(g->name, sizeof(g->name), "%s", name ? name : "curl");
        g->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (g->epfd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(e, &g->ep_src, g->epfd, EPOLLIN, on_epoll, g);
        if (r < 0)
                goto fail;
        snprintf(desc, sizeof(desc), "%s-curl-io", g->name);
        (void) sd_event_source_set_description(g->ep_src, desc);
        r = sd_event_add_defer(e, &g->now, on_now, g);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(g->now, SD_EVENT_OFF);
        snprintf(desc, sizeof(desc), "%s-curl-now", g->name);
        (void) sd_event_source_set_description(g->now, desc);
        *ret = g;
        return 0;
fail:
        curl_glue_free(g);
        return r;
}

void curl_glue_free(struct curl_glue *g) {
        if (!g)
                return;
        if (g->multi)
                curl_multi_cleanup(g->multi); /* may report CURL_POLL_REMOVE for pooled sockets */
        while (g->socks)
                sock_free(g->socks);
        sd_event_source_disable_unref(g->timer);
        sd_event_source_disable_unref(g->now);
        sd_event_source_disable_unref(g->ep_src);
        if (g->epfd >= 0)
                close(g->epfd);
        sd_event_unref(g->event);
        if (g->global)
                curl_global_cleanup();
        free(g);
}

/* libcurl and what it initialises (OpenSSL: its configuration, providers
 * and error strings, ~2 MB resident) only once a transfer is wanted: a
 * daemon that waits for its first alarm does not hold them, and the first
 * request pays ~0.5 ms for it (curl_global_init, measured on Debian 12). */
static int glue_init(struct curl_glue *g) {
        if (g->multi)
                return 0;
        if (!g->global) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return -EIO;
                g->global = true;
        }
        CURLM *m = curl_multi_init();
        if (!m)
                return -ENOMEM;
        if (curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
            curl_multi_setopt(m, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
            curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer_change) != CURLM_OK ||
            curl_multi_setopt(m, CURLMOPT_TIMERDATA, g) != CURLM_OK ||
            (g->max_host > 0 && curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, g->max_host) != CURLM_OK) ||
            (g->max_total > 0 && curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, g->max_total) != CURLM_OK)) {
                curl_multi_cleanup(m);
                return -EINVAL;
        }
        g->multi = m;
        return 0;
}

int curl_glue_ready(struct curl_glue *g) {
        return g ? glue_init(g) : -EINVAL;
}

CURLM *curl_glue_multi(struct curl_glue *g) {
        return g && glue_init(g) >= 0 ? g->multi : NULL;
}

void curl_glue_set_limits(struct curl_glue *g, long max_host, long max_total) {
        if (!g)
                return;
        g->max_host = max_host;
        g->max_total = max_total;
        if (g->multi) {
                (void) curl_multi_setopt(g->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
                (void) curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, max_total);
        }
}

int curl_glue_add(struct curl_glue *g, CURL *easy) {
        int r = glue_init(g);
        if (r < 0)
                return r;
        CURLMcode mc = curl_multi_add_handle(g->multi, easy);
        return mc == CURLM_OK ? 0 : mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
}

void curl_glue_remove(struct curl_glue *g, CURL *easy) {
        if (g->multi)
                (void) curl_multi_remove_handle(g->multi, easy);
}
