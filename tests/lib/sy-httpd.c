// SPDX-License-Identifier: Apache-2.0
/*
 * A tiny HTTP/1.1 server for tests, benchmarks and the demo: answers every
 * request with "<name> <client-ip>\n", honours keep-alive and
 * "Connection: close".  Single-threaded epoll; fast enough that wrk
 * measures the network path, not the server.
 *   sy-httpd PORT NAME [BIND_ADDR]
 * BIND_ADDR: IPv4 (default 0.0.0.0) or IPv6; "::" serves both families
 * (an IPv4 client is still named by its IPv4 address).
 */
#include <arpa/inet.h>
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
#include <unistd.h>

#define MAXCONN 65536

struct conn {
	char buf[4096];
	size_t len;
	char peer[INET6_ADDRSTRLEN];
};

static struct conn *conns[MAXCONN];

static void drop(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	if (fd < MAXCONN) {
		free(conns[fd]);
		conns[fd] = NULL;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6 };
	struct epoll_event ev, evs[256];
	const char *name;
	int ls, ep, one = 1, zero = 0, v6 = argc > 3 && strchr(argv[3], ':');

	if (argc < 3) {
		fprintf(stderr, "usage: sy-httpd PORT NAME [BIND_ADDR]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	name = argv[2];
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa6.sin6_port = sa.sin_port;
	if (argc > 3 && (v6 ? inet_pton(AF_INET6, argv[3], &sa6.sin6_addr)
			    : inet_pton(AF_INET, argv[3], &sa.sin_addr)) != 1)
		return 2;
	ls = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if ((v6 ? bind(ls, (struct sockaddr *)&sa6, sizeof(sa6))
		: bind(ls, (struct sockaddr *)&sa, sizeof(sa))) < 0 || listen(ls, 4096) < 0) {
		perror("sy-httpd: bind/listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == ls) {
				for (;;) {
					struct sockaddr_in6 pa;
					socklen_t pl = sizeof(pa);
					int c = accept4(ls, (struct sockaddr *)&pa, &pl, SOCK_NONBLOCK);

					if (c < 0)
						break;
					if (c >= MAXCONN) {
						close(c);
						continue;
					}
					conns[c] = calloc(1, sizeof(struct conn));
					if (pa.sin6_family == AF_INET)
						inet_ntop(AF_INET, &((struct sockaddr_in *)&pa)->sin_addr,
							  conns[c]->peer, sizeof(conns[c]->peer));
					else if (IN6_IS_ADDR_V4MAPPED(&pa.sin6_addr))
						inet_ntop(AF_INET, &pa.sin6_addr.s6_addr[12],
							  conns[c]->peer, sizeof(conns[c]->peer));
					else
						inet_ntop(AF_INET6, &pa.sin6_addr, conns[c]->peer,
							  sizeof(conns[c]->peer));
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			{
				struct conn *c = conns[fd];
				ssize_t r = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
				char *end;

				if (r <= 0) {
					drop(ep, fd);
					continue;
				}
				c->len += (size_t)r;
				c->buf[c->len] = '\0';
				while ((end = strstr(c->buf, "\r\n\r\n"))) {
					char body[256], resp[512];
					int bl, rl;
					size_t used = (size_t)(end + 4 - c->buf);
					int close_it;

					*end = '\0';
					close_it = strcasestr(c->buf, "connection: close") != NULL ||
						   strstr(c->buf, "HTTP/1.0") != NULL;
					bl = snprintf(body, sizeof(body), "%s %s\n", name, c->peer);
					rl = snprintf(resp, sizeof(resp),
						      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
						      "Content-Length: %d\r\n%s\r\n%s", bl,
						      close_it ? "Connection: close\r\n" : "", body);
					if (write(fd, resp, (size_t)rl) != rl || close_it) {
						drop(ep, fd);
						c = NULL;
						break;
					}
					memmove(c->buf, c->buf + used, c->len - used);
					c->len -= used;
					c->buf[c->len] = '\0';
				}
				if (c && c->len >= sizeof(c->buf) - 1)
					drop(ep, fd);
			}
		}
	}
}
