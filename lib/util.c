// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "switchyard/util.h"

void *sy_grow(void *v, unsigned n, unsigned *cap, size_t size, unsigned first)
{
	if (n < *cap)
		return v;
	*cap = *cap ? *cap * 2 : first;
	return xrealloc(v, (size_t)*cap * size);
}

void *sy_trim(void *v, unsigned n, unsigned *cap, size_t size)
{
	if (!n || n >= *cap)
		return v;
	*cap = n;
	return xrealloc(v, (size_t)n * size);
}

void sy_vec_push(struct sy_vec *l, const void *elem, size_t size, unsigned first)
{
	l->v = sy_grow(l->v, l->n, &l->cap, size, first);
	memcpy((char *)l->v + (size_t)l->n++ * size, elem, size);
}

void sy_free_n(void *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
}

bool sy_ptrs_remove(void *v, unsigned *n, const void *p)
{
	char *a = v;

	for (unsigned i = 0; i < *n; i++)
		if (!memcmp(a + i * sizeof(p), &p, sizeof(p))) {
			memmove(a + i * sizeof(p), a + --*n * sizeof(p), sizeof(p));
			return true;
		}
	return false;
}

int sy_reserve(char **p, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 4096;
	char *n;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*p, c);
	if (!n)
		return -ENOMEM;
	*p = n;
	*cap = c;
	return 0;
}

int sy_err(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

int sy_err_first(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen && !err[0]) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

int sy_parse_duration(const char *s, double *ret_seconds)
{
	double total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*ret_seconds = 0;
		return 0;
	}
	while (*p) {
		char *end;
		double v;

		errno = 0;
		v = strtod(p, &end);
		if (errno || end == p || v < 0)
			return -EINVAL;
		p = end;
		if (strncmp(p, "ns", 2) == 0) { v /= 1e9; p += 2; }
		else if (strncmp(p, "us", 2) == 0) { v /= 1e6; p += 2; }
		else if (strncmp(p, "ms", 2) == 0) { v /= 1e3; p += 2; }
		else if (*p == 's') { p++; }
		else if (*p == 'm') { v *= 60; p++; }
		else if (*p == 'h') { v *= 3600; p++; }
		else
			return -EINVAL;
		total += v;
	}
	*ret_seconds = total;
	return 0;
}

double sy_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double sy_now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int sy_parse_rfc3339(const char *s, double *ret_epoch)
{
	struct tm tm = { 0 };
	const char *p;
	double frac = 0;
	long off = 0;
	time_t t;

	if (!s)
		return -EINVAL;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		char *end;

		frac = strtod(p, &end);
		p = end;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;

		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -EINVAL;
		off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret_epoch = (double)(t - off) + frac;
	return 0;
}

void sy_format_rfc3339(double epoch, char *buf, size_t len)
{
	time_t t = (time_t)floor(epoch);
	long ns = (long)((epoch - (double)t) * 1e9);
	struct tm tm;
	char base[32];

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09ldZ", base, ns);
}

static void oom(void)
{
	fputs("switchyard: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom();
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (!p)
		oom();
	return p;
}

int sy_read_file(const char *path, char **ret_buf, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, len = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	buf = xmalloc(cap);
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			int r = -errno;

			if (errno == EINTR)
				continue;
			free(buf);
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*ret_buf = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

int sy_write_file_atomic(const char *path, const char *data, size_t len, int mode)
{
	char tmp[4096];
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		data += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

int sy_sysctl_set(const char *name, const char *value)
{
	char path[256], cur[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s%s", name[0] == '/' ? "" : "/proc/sys/", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, cur, sizeof(cur) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	cur[n] = 0;
	cur[strcspn(cur, "\n")] = 0;
	if (strcmp(cur, value) == 0)
		return 0;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 1;
}

/*
 * flock() belongs to an open file description: a second open + flock by this
 * process would wait for itself.  So the lock is process-wide: the sync
 * runner takes it without waiting around a whole sync (sy_xtables_trylock)
 * and the modes' and the pod network's own sy_xtables_lock calls inside
 * that sync nest instead of waiting.
 */
static int xlock_fd = -1;
static unsigned xlock_depth;

const char *sy_xtables_lock_path(void)
{
	const char *path = getenv("SY_XTABLES_LOCK");

	return path && *path ? path : "/run/xtables.lock";
}

static int xlock_open(void)
{
	int fd = open(sy_xtables_lock_path(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);

	/* read-write: iptables opens it read-only, so its closes tell it apart */
	return fd < 0 ? -errno : fd;
}

/* 1 = taken, 0 = someone else holds it, -errno */
static int xlock_try(int fd)
{
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 1;
		if (errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int sy_xtables_trylock(void)
{
	return sy_xtables_lock(0);	/* one try */
}

int sy_xtables_lock(double timeout_seconds)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	double waited = 0;
	int fd, r;

	if (xlock_fd >= 0) {
		xlock_depth++;
		return xlock_fd;
	}
	fd = xlock_open();
	if (fd < 0)
		return fd;
	while ((r = xlock_try(fd)) == 0) {
		if (waited >= timeout_seconds) {
			r = -EAGAIN;
			break;
		}
		nanosleep(&ts, NULL);
		waited += 0.005;
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	xlock_fd = fd;
	xlock_depth = 1;
	return fd;
}

void sy_xtables_unlock(int fd)
{
	if (fd < 0)
		return;
	if (fd == xlock_fd && --xlock_depth > 0)
		return;
	if (fd == xlock_fd)
		xlock_fd = -1;
	close(fd);	/* releases the flock */
}
