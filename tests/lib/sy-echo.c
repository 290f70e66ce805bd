// SPDX-License-Identifier: Apache-2.0
/*
 * Who-answered-and-from-where probe for tests, in C because the IPVS tests
 * run under CPU emulation where every Python start costs seconds.
 *
 *   sy-echo serve tcp|udp PORT NAME
 *       answers "NAME <peer-ip>\n" to every TCP connection (then closes)
 *       or UDP datagram, as tests/lib/echo_server.py does; listens on both
 *       families (an IPv4 peer is printed as a.b.c.d, an IPv6 one as is).
 *   sy-echo ask TIMEOUT_MS
 *       reads "LABEL PROTO HOST PORT COUNT [SPORT]" lines from stdin and
 *       prints "LABEL <answer>" per ask: the server's line, or REFUSED (RST
 *       or ICMP unreachable), TIMEOUT, ERROR_<errno>.  HOST: IPv4 or IPv6;
 *       SPORT: the source port (a fixed 5-tuple), 0 or none: any.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The peer's address: a.b.c.d for an IPv4 (v4-mapped) one. */
static void peer_str(const struct sockaddr_in6 *p, char *buf, size_t len)
{
	if (IN6_IS_ADDR_V4MAPPED(&p->sin6_addr))
		inet_ntop(AF_INET, &p->sin6_addr.s6_addr[12], buf, len);
	else
		inet_ntop(AF_INET6, &p->sin6_addr, buf, len);
}

static int serve(const char *proto, int port, const char *name)
{
	bool udp = !strcmp(proto, "udp");
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int one = 1, zero = 0, s = socket(AF_INET6, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	char buf[512], peer[INET6_ADDRSTRLEN];

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || (!udp && listen(s, 512) < 0)) {
		perror("sy-echo: socket");
		return 1;
	}
	for (;;) {
		struct sockaddr_in6 p;
		socklen_t pl = sizeof(p);
		int n;

		if (udp) {
			if (recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&p, &pl) < 0)
				continue;
		} else {
			int c = accept(s, (struct sockaddr *)&p, &pl);

			if (c < 0)
				continue;
			peer_str(&p, peer, sizeof(peer));
			n = snprintf(buf, sizeof(buf), "%s %s\n", name, peer);
			if (write(c, buf, n) < 0)
				perror("sy-echo: write");
			close(c);
			continue;
		}
		peer_str(&p, peer, sizeof(peer));
		n = snprintf(buf, sizeof(buf), "%s %s\n", name, peer);
		sendto(s, buf, n, 0, (struct sockaddr *)&p, pl);
	}
}

/* one ask: the answer (without newline) into out */
static void ask(const char *proto, const char *host, int port, int sport, int timeout_ms,
		char *out, size_t len)
{
	bool udp = !strcmp(proto, "udp");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	bool v6 = strchr(host, ':') != NULL;
	struct pollfd pfd;
	int s, r, err = 0;
	socklen_t el = sizeof(err);
	ssize_t n;

	if (v6 ? inet_pton(AF_INET6, host, &a6.sin6_addr) != 1 : inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		snprintf(out, len, "ERROR_BADHOST");
		return;
	}
	s = socket(v6 ? AF_INET6 : AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
	if (s < 0) {
		snprintf(out, len, "ERROR_%d", errno);
		return;
	}
	pfd.fd = s;
	if (sport > 0) {
		struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons(sport) };
		struct sockaddr_in6 b6 = { .sin6_family = AF_INET6, .sin6_port = htons(sport) };
		int one = 1;

		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if ((v6 ? bind(s, (struct sockaddr *)&b6, sizeof(b6)) : bind(s, (struct sockaddr *)&b, sizeof(b))) < 0)
			goto fail;
	}
	r = v6 ? connect(s, (struct sockaddr *)&a6, sizeof(a6)) : connect(s, (struct sockaddr *)&a, sizeof(a));
	if (r < 0 && errno != EINPROGRESS)
		goto fail;
	if (!udp) {
		pfd.events = POLLOUT;
		r = poll(&pfd, 1, timeout_ms);
		if (r == 0)
			goto timeout;
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			errno = err;
			goto fail;
		}
	} else if (send(s, "hi\n", 3, 0) < 0) {
		goto fail;
	}
	pfd.events = POLLIN;
	r = poll(&pfd, 1, timeout_ms);
	if (r == 0)
		goto timeout;
	n = recv(s, out, len - 1, 0);
	if (n < 0)
		goto fail;
	out[n] = 0;
	out[strcspn(out, "\n")] = 0;
	if (!n)
		snprintf(out, len, "EMPTY");
	close(s);
	return;
timeout:
	snprintf(out, len, "TIMEOUT");
	close(s);
	return;
fail:
	if (errno == ECONNREFUSED || errno == EHOSTUNREACH)
		snprintf(out, len, errno == ECONNREFUSED ? "REFUSED" : "UNREACHABLE");
	else
		snprintf(out, len, "ERROR_%d", errno);
	close(s);
}

int main(int argc, char **argv)
{
	char line[512], label[128], proto[8], host[64], ans[512];
	int port, count, sport;

	if (argc == 5 && !strcmp(argv[1], "serve"))
		return serve(argv[2], atoi(argv[3]), argv[4]);
	if (argc != 3 || strcmp(argv[1], "ask") != 0) {
		fprintf(stderr, "usage: sy-echo serve tcp|udp PORT NAME | sy-echo ask TIMEOUT_MS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		sport = 0;
		if (sscanf(line, "%127s %7s %63s %d %d %d", label, proto, host, &port, &count, &sport) < 5)
			continue;
		for (int i = 0; i < count; i++) {
			ask(proto, host, port, sport, atoi(argv[2]), ans, sizeof(ans));
			printf("%s %s\n", label, ans);
		}
	}
	return 0;
}
