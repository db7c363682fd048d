/* ctl.c - control socket server on the sd-event loop.
 *
 * Each connection has a bounded input buffer (COMMAND_MAX_LINE) and an output
 * queue; a line longer than the limit gets an error reply and the connection
 * is closed, so a misbehaving client can neither grow our memory nor stall
 * the loop. Writes never block: leftovers wait for EPOLLOUT. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "command.h"
#include "ctl.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"

#define CTL_MAX_CLIENTS 64
#define CTL_MAX_OUT     (4 * 1024 * 1024)
/* A client that neither sends nor takes a byte for this long is closed; when
 * all slots are taken, the one idle longest makes room for a new caller, so
 * idle connections can never lock out `beredctl status`. */
#define CTL_IDLE_USEC   (10 * 1000000ULL)

struct client {
        struct ctl *ctl;
        int fd;
        uid_t uid;
        sd_event_source *io;
        sd_event_source *idle;
        uint64_t last_active; /* CLOCK_MONOTONIC */
        char *in;
        size_t in_len;
        char *out;
        size_t out_len, out_off;
        bool closing; /* close once the output queue is written */
        struct client *next;
};

struct ctl {
        sd_event *event;
        char *path;
        int fd;
        sd_event_source *listen;
        ctl_handler_t handler;
        void *userdata;
        struct client *clients;
        size_t n_clients;
};

static void client_free(struct client *cl) {
        struct ctl *c = cl->ctl;
        for (struct client **p = &c->clients; *p; p = &(*p)->next)
                if (*p == cl) {
                        *p = cl->next;
                        break;
                }
        c->n_clients--;
        sd_event_source_disable_unref(cl->io);
        sd_event_source_disable_unref(cl->idle);
        close(cl->fd);
        free(cl->in);
        free(cl->out);
        free(cl);
}

/* May the caller talk to us? root, our own user, or a member of our group
 * (primary or supplementary). The groups come from the socket itself
 * (SO_PEERGROUPS), not from /proc or NSS: no race with PID reuse, nothing
 * hidden by ProtectProc=, and nothing that can block the loop. */
static bool peer_allowed(int fd, const struct ucred *cr) {
        if (cr->uid == 0 || cr->uid == geteuid() || cr->gid == getegid())
                return true;
        gid_t groups[256];
        socklen_t len = sizeof(groups);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
                return false;
        for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (groups[i] == getegid())
                        return true;
        return false;
}

static int client_queue(struct client *cl, const char *s, size_t n) {
        if (cl->out_len + n + 1 > CTL_MAX_OUT)
                return -ENOBUFS;
        char *p = realloc(cl->out, cl->out_len + n + 1);
        if (!p)
                return -ENOMEM;
        cl->out = p;
        memcpy(cl->out + cl->out_len, s, n);
        cl->out[cl->out_len + n] = '\n';
        cl->out_len += n + 1;
        return 0;
}

/* Write what we can; returns <0 when the client is gone. */
static int client_flush(struct client *cl) {
        while (cl->out_off < cl->out_len) {
                ssize_t k = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -errno;
                }
                cl->out_off += (size_t) k;
        }
        if (cl->out_off == cl->out_len) {
                cl->out_off = cl->out_len = 0;
                if (cl->closing)
                        return -ECONNRESET;
        }
        return sd_event_source_set_io_events(cl->io, EPOLLIN | (cl->out_len ? EPOLLOUT : 0));
}

static void client_reply_error(struct client *cl, const char *msg) {
        char buf[256];
        int n = reply_fixed(buf, sizeof(buf), msg, NULL, "");
        client_queue(cl, buf, (size_t) n < sizeof(buf) ? (size_t) n : sizeof(buf) - 1);
}

static int client_process(struct client *cl) {
        char *nl;
        size_t start = 0;
        while ((nl = memchr(cl->in + start, '\n', cl->in_len - start))) {
                size_t len = (size_t) (nl - (cl->in + start));
                if (len > 0) {
                        char *reply = NULL;
                        cl->ctl->handler(cl->ctl->userdata, cl->in + start, len, cl->uid, &reply);
                        int r = reply ? client_queue(cl, reply, strlen(reply)) : -ENOMEM;
                        free(reply);
                        if (r < 0)
                                return r;
                }
                start += len + 1;
        }
        memmove(cl->in, cl->in + start, cl->in_len - start);
        cl->in_len -= start;
        if (cl->in_len > COMMAND_MAX_LINE) {
                client_reply_error(cl, "request line too long");
                cl->closing = true;
                cl->in_len = 0;
        }
        return 0;
}

static void client_touch(struct client *cl) {
        uint64_t now = 0;
        sd_event_now(cl->ctl->event, CLOCK_MONOTONIC, &now);
        cl->last_active = now;
        if (cl->idle)
                sd_event_source_set_time(cl->idle, now + CTL_IDLE_USEC);
}

static int client_idle(sd_event_source *s, uint64_t usec, void *userdata) {
        struct client *cl = userdata;
        log_debug("Control socket: closing a client of uid %u idle for %llu s", (unsigned) cl->uid,
                  (unsigned long long) (CTL_IDLE_USEC / 1000000ULL));
        client_free(cl);
        return 0;
}

static int client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct client *cl = userdata;
        size_t off_before = cl->out_off, len_before = cl->out_len;
        int r;

        if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !cl->closing) {
                if (!cl->in && !(cl->in = malloc(COMMAND_MAX_LINE + 2)))
                        goto gone;
                ssize_t k = recv(fd, cl->in + cl->in_len, COMMAND_MAX_LINE + 1 - cl->in_len, MSG_DONTWAIT);
                if (k < 0 && errno != EAGAIN && errno != EINTR)
                        goto gone;
                if (k == 0) {
                        /* Peer closed its side: answer what is complete, then go. */
                        cl->closing = true;
                } else if (k > 0) {
                        cl->in_len += (size_t) k;
                        client_touch(cl);
                }
                r = client_process(cl);
                if (r < 0)
                        goto gone;
        }
        r = client_flush(cl);
        if (r < 0)
                goto gone;
        if (cl->out_off != off_before || cl->out_len != len_before)
                client_touch(cl);
        if (cl->closing && cl->out_len == 0)
                goto gone;
        return 0;
gone:
        client_free(cl);
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct ctl *c = userdata;

        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning_errno(errno, "Control socket: accept failed: %m, ignoring");
                return 0;
        }
        struct ucred cr;
        socklen_t len = sizeof(cr);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || !peer_allowed(cfd, &cr)) {
                log_event(LOG_WARNING, MSGID_REFUSED, NULL,
                          "Control socket: refused a caller with uid %d (not root or in our group)", (int) cr.uid);
                char msg[64];
                int n = reply_fixed(msg, sizeof(msg), "permission denied", NULL, "\n");
                (void) !send(cfd, msg, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT);
                close(cfd);
                return 0;
        }
        if (c->n_clients >= CTL_MAX_CLIENTS) {
                /* Make room: close the client idle the longest. */
                struct client *oldest = NULL;
                for (struct client *i = c->clients; i; i = i->next)
                        if (!oldest || i->last_active <= oldest->last_active)
                                oldest = i;
                if (oldest) {
                        log_debug("Control socket: %zu clients, closing the one idle longest (uid %u)",
                                  c->n_clients, (unsigned) oldest->uid);
                        client_free(oldest);
                }
        }
        struct client *cl = calloc(1, sizeof(*cl));
        if (!cl) {
                close(cfd);
                return 0;
        }
        *cl = (struct client) { .ctl = c, .fd = cfd, .uid = cr.uid, .next = c->clients };
        if (sd_event_add_io(c->event, &cl->io, cfd, EPOLLIN, client_io, cl) < 0) {
                close(cfd);
                free(cl);
                return 0;
        }
        sd_event_source_set_description(cl->io, "ctl-client");
        c->clients = cl;
        c->n_clients++;
        if (sd_event_add_time(c->event, &cl->idle, CLOCK_MONOTONIC, 0, 0, client_idle, cl) >= 0)
                sd_event_source_set_description(cl->idle, "ctl-client-idle");
        client_touch(cl);
        return 0;
}

int ctl_new(sd_event *e, const char *path, ctl_handler_t handler, void *userdata, struct ctl **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r;

        size_t len = strlen(path);
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len + 1);

        struct ctl *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (struct ctl) { .event = sd_event_ref(e), .fd = -1, .handler = handler, .userdata = userdata };
        c->path = strdup(path);
        if (!c->path) {
                r = -ENOMEM;
                goto fail;
        }

        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
                r = -errno;
                goto fail;
        }
        /* Replace a stale socket from an earlier run, never any other file. */
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                unlink(path);
        mode_t old = umask(0117);
        r = bind(c->fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0) {
                r = -errno;
                goto fail;
        }
        if (listen(c->fd, SOMAXCONN) < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(e, &c->listen, c->fd, EPOLLIN, on_accept, c);
        if (r < 0)
                goto fail;
        sd_event_source_set_description(c->listen, "ctl-listen");
        *ret = c;
        return 0;
fail:
        ctl_free(c);
        return r;
}

size_t ctl_clients(const struct ctl *c) {
        return c ? c->n_clients : 0;
}

void ctl_free(struct ctl *c) {
        if (!c)
                return;
        while (c->clients)
                client_free(c->clients);
        sd_event_source_disable_unref(c->listen);
        if (c->fd >= 0) {
                close(c->fd);
                if (c->path)
                        unlink(c->path);
        }
        free(c->path);
        sd_event_unref(c->event);
        free(c);
}
