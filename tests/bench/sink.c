/* sink.c - the loopback HTTP sink of the benchmarks, in C: one thread,
 * epoll, HTTP/1.1 keep-alive, every request answered 200 {"status":"ok"}.
 * For each request it writes one line to stdout: CLOCK_MONOTONIC
 * nanoseconds at the moment the request's headers were complete (as
 * tests/bench/sink.py does, which tops out near 15,000 requests/s: too
 * slow for a fan-out of 10,000 that takes well under a second).
 *
 * usage: sink PORT-FILE          bind 127.0.0.1:0, write the port to
 *                                PORT-FILE (atomically), serve until killed
 *        sink -l PORT CONNS N    load generator: N requests over CONNS
 *                                keep-alive connections to 127.0.0.1:PORT,
 *                                one in flight per connection; prints
 *                                "requests_per_second R"
 *
 * Lines on stdout are flushed after every round of epoll events, so a
 * reader sees each request within one round. Bodies are skipped by
 * Content-Length or, for chunked requests, up to the last chunk.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ANSWER "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}"
#define MAXCONN 65536

struct conn {
	char *buf;
	size_t len, cap;
	long long head_ns; /* headers complete, body not yet: their time */
};

static struct conn conns[MAXCONN];
static char out[1 << 16];
static size_t outlen;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void flush_out(void)
{
	size_t off = 0;
	while (off < outlen) {
		ssize_t n = write(1, out + off, outlen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			exit(0); /* the reader went away */
		off += (size_t)n;
	}
	outlen = 0;
}

static void emit(long long ns)
{
	if (outlen + 24 > sizeof out)
		flush_out();
	outlen += (size_t)snprintf(out + outlen, sizeof out - outlen, "%lld\n", ns);
}

/* The value of header NAME (lower case, with the colon) in HEAD, or NULL. */
static const char *header(const char *head, size_t hlen, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = head; p + nl < head + hlen; p++) {
		if ((p == head || p[-1] == '\n') && strncasecmp(p, name, nl) == 0)
			return p + nl;
	}
	return NULL;
}

/* Bytes of a chunked body at B (LEN bytes) when it is complete, else -1. */
static long chunked_len(const char *b, size_t len)
{
	size_t off = 0;
	for (;;) {
		const char *crlf = memmem(b + off, len - off, "\r\n", 2);
		if (!crlf)
			return -1;
		unsigned long sz = strtoul(b + off, NULL, 16);
		off = (size_t)(crlf - b) + 2;
		if (sz == 0) { /* trailers, then an empty line */
			const char *end = memmem(b + off - 2, len - off + 2, "\r\n\r\n", 4);
			return end ? (long)(end - b) + 4 : -1;
		}
		if (off + sz + 2 > len)
			return -1;
		off += sz + 2;
	}
}

/* Every whole request in C's buffer: a line each, an answer each. 0, or
 * -1 when the connection is to be closed. */
static int serve(int fd, struct conn *c)
{
	size_t start = 0;
	for (;;) {
		char *b = c->buf + start;
		size_t len = c->len - start;
		char *end = memmem(b, len, "\r\n\r\n", 4);
		if (!end)
			break;
		size_t hlen = (size_t)(end - b) + 4;
		if (!c->head_ns)
			c->head_ns = now_ns();
		long body = 0;
		const char *te = header(b, hlen, "transfer-encoding:");
		const char *cl = header(b, hlen, "content-length:");
		if (te && strncasecmp(te + strspn(te, " \t"), "chunked", 7) == 0)
			body = chunked_len(b + hlen, len - hlen);
		else if (cl)
			body = strtol(cl, NULL, 10);
		if (body < 0 || hlen + (size_t)body > len)
			break;
		emit(c->head_ns);
		c->head_ns = 0;
		start += hlen + (size_t)body;
		if (send(fd, ANSWER, sizeof ANSWER - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof ANSWER - 1))
			return -1; /* a 100-byte answer fits a fresh socket buffer */
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	return 0;
}

static void drop(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd].buf);
	memset(&conns[fd], 0, sizeof conns[fd]);
}

static int run_sink(const char *portfile)
{
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4096) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
		perror("sink: listen");
		return 1;
	}
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", portfile);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d", ntohs(sa.sin_port)) < 0 || fclose(f) != 0 || rename(tmp, portfile) < 0) {
		perror("sink: port file");
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls };
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno == EINTR)
			continue;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls) {
				int c;
				while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (c >= MAXCONN) {
						close(c);
						continue;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
				}
				continue;
			}
			struct conn *c = &conns[fd];
			for (;;) {
				if (c->cap - c->len < 16384) {
					size_t cap = c->cap ? c->cap * 2 : 65536;
					char *nb = realloc(c->buf, cap);
					if (!nb) {
						perror("sink");
						return 1;
					}
					c->buf = nb;
					c->cap = cap;
				}
				ssize_t r = recv(fd, c->buf + c->len, c->cap - c->len, 0);
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
					break;
				if (r <= 0) {
					drop(ep, fd);
					break;
				}
				c->len += (size_t)r;
				if (serve(fd, c) < 0) {
					drop(ep, fd);
					break;
				}
			}
		}
		flush_out();
	}
}

/* ---- the load generator: how many requests a second the sink takes ---- */

static int run_load(int port, int nconn, long total)
{
	static const char req[] = "POST /load HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
				  "Content-Length: 26\r\n\r\n{\"to\":\"+4790000000\",\"x\":1}";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int ep = epoll_create1(EPOLL_CLOEXEC), one = 1;
	long sent = 0, done = 0;
	size_t *got = calloc((size_t)nconn, sizeof *got);
	int *fds = calloc((size_t)nconn, sizeof *fds);
	if (!got || !fds)
		return 1;
	long long t0 = now_ns();
	for (int i = 0; i < nconn && sent < total; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0) {
			perror("sink -l: connect");
			return 1;
		}
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (unsigned)i };
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
		if (send(fds[i], req, sizeof req - 1, MSG_NOSIGNAL) < 0)
			return 1;
		sent++;
	}
	char buf[65536];
	struct epoll_event evs[256];
	while (done < total) {
		int n = epoll_wait(ep, evs, 256, 10000);
		if (n <= 0) {
			fprintf(stderr, "sink -l: no answer for 10 s (%ld of %ld done)\n", done, total);
			return 1;
		}
		for (int i = 0; i < n; i++) {
			unsigned k = evs[i].data.u32;
			ssize_t r = recv(fds[k], buf, sizeof buf, 0);
			if (r <= 0) {
				fprintf(stderr, "sink -l: connection closed\n");
				return 1;
			}
			got[k] += (size_t)r;
			while (got[k] >= sizeof ANSWER - 1) { /* answers are fixed-size */
				got[k] -= sizeof ANSWER - 1;
				done++;
				if (sent < total) {
					if (send(fds[k], req, sizeof req - 1, MSG_NOSIGNAL) < 0)
						return 1;
					sent++;
				}
			}
		}
	}
	double s = (double)(now_ns() - t0) / 1e9;
	printf("requests_per_second %.0f\n", (double)total / s);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 5 && strcmp(argv[1], "-l") == 0)
		return run_load(atoi(argv[2]), atoi(argv[3]), atol(argv[4]));
	if (argc != 2) {
		fprintf(stderr, "usage: sink PORT-FILE | sink -l PORT CONNS N\n");
		return 2;
	}
	return run_sink(argv[1]);
}
