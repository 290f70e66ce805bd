// SPDX-License-Identifier: Apache-2.0
/* util and hmap. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <netlink/errno.h>
#include "helpers.h"
#include "switchyard/hmap.h"
#include "switchyard/nlerr.h"
#include "switchyard/util.h"

/* sy_err writes and returns; sy_err_first keeps the first of several; NULL is fine. */
static void test_err(void **state)
{
	char err[16] = "";

	assert_int_equal(sy_err(err, sizeof(err), -EINVAL, "bad %s", "thing"), -EINVAL);
	assert_string_equal(err, "bad thing");
	assert_int_equal(sy_err(err, sizeof(err), -ENOENT, "gone"), -ENOENT);
	assert_string_equal(err, "gone");
	assert_int_equal(sy_err(NULL, 0, -EIO, "nowhere"), -EIO);
	err[0] = '\0';
	assert_int_equal(sy_err_first(err, sizeof(err), -EIO, "first %d", 1), -EIO);
	assert_int_equal(sy_err_first(err, sizeof(err), -EPERM, "second"), -EPERM);
	assert_string_equal(err, "first 1");
	assert_int_equal(sy_err(err, sizeof(err), -E2BIG, "%s", "a reason longer than err"), -E2BIG);
	assert_string_equal(err, "a reason longer");
}

static void test_duration(void **state)
{
	double d;

	assert_int_equal(sy_parse_duration("1s", &d), 0);
	assert_true(d == 1);
	assert_int_equal(sy_parse_duration("2m30s", &d), 0);
	assert_true(d == 150);
	assert_int_equal(sy_parse_duration("250ms", &d), 0);
	assert_true(d == 0.25);
	assert_int_equal(sy_parse_duration("1h", &d), 0);
	assert_true(d == 3600);
	assert_int_equal(sy_parse_duration("0", &d), 0);
	assert_int_equal(sy_parse_duration("5", &d), -EINVAL);
	assert_int_equal(sy_parse_duration("1x", &d), -EINVAL);
	assert_int_equal(sy_parse_duration("", &d), -EINVAL);
}

static void test_rfc3339(void **state)
{
	double t;
	char buf[64];

	assert_int_equal(sy_parse_rfc3339("1970-01-01T00:01:00Z", &t), 0);
	assert_true(t == 60);
	assert_int_equal(sy_parse_rfc3339("1970-01-01T01:00:00.5+01:00", &t), 0);
	assert_true(t == 0.5);
	assert_int_equal(sy_parse_rfc3339("yesterday", &t), -EINVAL);
	sy_format_rfc3339(60.25, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:01:00.250000000Z");
}

static unsigned freed;

static void count_free(void *v)
{
	freed++;
	free(v);
}

static void test_grow_trim(void **state)
{
	unsigned *v = NULL, n = 0, cap = 0;

	for (unsigned i = 0; i < 5; i++) {
		v = sy_grow(v, n, &cap, sizeof(*v), 4);
		v[n++] = i;
	}
	assert_int_equal(cap, 8);
	v = sy_trim(v, n, &cap, sizeof(*v));
	assert_int_equal(cap, 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(v[i], i);
	v = sy_trim(v, n, &cap, sizeof(*v));	/* already tight */
	assert_int_equal(cap, 5);
	v = sy_trim(v, 0, &cap, sizeof(*v));	/* empty: left as it is */
	assert_int_equal(cap, 5);
	assert_non_null(v);
	free(v);
}

static void test_vec_free_all(void **state)
{
	struct sy_vec l = { 0 };
	struct { char c; uint32_t x; } e, *v;
	char *a = strdup("a"), *b = NULL, *c = strdup("c");

	for (unsigned i = 0; i < 20; i++) {
		e.c = (char)('a' + i);
		e.x = i * 7;
		sy_vec_push(&l, &e, sizeof(e), 16);
	}
	assert_int_equal(l.n, 20);
	assert_int_equal(l.cap, 32);
	v = l.v;
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(v[i].c, 'a' + i);
		assert_int_equal(v[i].x, i * 7);
	}
	free(l.v);

	{
		int x[4];
		int *p[4] = { &x[0], &x[1], &x[2], &x[3] };
		unsigned n = 4;

		assert_true(sy_ptrs_remove(p, &n, &x[1]));
		assert_int_equal(n, 3);
		assert_ptr_equal(p[1], &x[3]);	/* the last took its place */
		assert_false(sy_ptrs_remove(p, &n, &x[1]));
		assert_true(sy_ptrs_remove(p, &n, &x[3]));
		assert_true(sy_ptrs_remove(p, &n, &x[2]));
		assert_true(sy_ptrs_remove(p, &n, &x[0]));
		assert_int_equal(n, 0);
	}
	/* NULLs are fine; ASan catches a leak or a double free */
	sy_free_all(a, b, c);
	sy_free_all(NULL);
}

static void test_hmap_clear_free(void **state)
{
	struct hmap m;

	hmap_init(&m);
	for (int i = 0; i < 100; i++) {
		char *k = malloc(16);

		snprintf(k, 16, "k%d", i);
		hmap_put(&m, k, k);	/* the key lives in the value */
	}
	freed = 0;
	hmap_clear_free(&m, count_free);
	assert_int_equal(freed, 100);
	assert_int_equal(hmap_count(&m), 0);
	hmap_clear_free(&m, count_free);	/* empty: nothing to free */
	assert_int_equal(freed, 100);
}

static void test_hmap(void **state)
{
	struct hmap m;
	char *keys[5000];
	struct hmap_iter it;
	const char *k;
	void *v;
	unsigned n = 0;

	hmap_init(&m);
	for (int i = 0; i < 5000; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "k%d", i);
		keys[i] = strdup(buf);
		assert_null(hmap_put(&m, keys[i], (void *)(intptr_t)(i + 1)));
	}
	assert_int_equal(hmap_count(&m), 5000);
	assert_int_equal((intptr_t)hmap_get(&m, "k4321"), 4322);
	assert_null(hmap_get(&m, "nope"));
	/* delete every other one while iterating */
	hmap_iter_init(&it, &m);
	while (hmap_iter_next(&it, &k, &v))
		if (((intptr_t)v) % 2)
			hmap_del(&m, k);
	assert_int_equal(hmap_count(&m), 2500);
	hmap_iter_init(&it, &m);
	while (hmap_iter_next(&it, &k, &v)) {
		assert_int_equal(((intptr_t)v) % 2, 0);
		n++;
	}
	assert_int_equal(n, 2500);
	hmap_clear(&m);
	for (int i = 0; i < 5000; i++)
		free(keys[i]);
}

/* Another process's hold on the lock file: its own open file description. */
static int other_holder(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The shared iptables lock: held elsewhere → trylock answers -EAGAIN at
 * once and a timed taker times out; held here → calls nest and the lock
 * is released by the outermost unlock only.
 */
static void test_xtables_lock(void **state)
{
	char path[] = "/tmp/sy-xtlock-XXXXXX";
	int fd0 = mkstemp(path), a, b, o;

	(void)state;
	assert_true(fd0 >= 0);
	close(fd0);
	setenv("SY_XTABLES_LOCK", path, 1);
	o = other_holder(path);
	assert_true(o >= 0);
	assert_int_equal(sy_xtables_trylock(), -EAGAIN);
	assert_int_equal(sy_xtables_lock(0.02), -EAGAIN);
	close(o);

	a = sy_xtables_trylock();
	assert_true(a >= 0);
	b = sy_xtables_lock(0);		/* nests: no wait for ourselves */
	assert_int_equal(b, a);
	assert_int_equal(other_holder(path), -1);
	sy_xtables_unlock(b);
	assert_int_equal(other_holder(path), -1);	/* still held by the outer taker */
	sy_xtables_unlock(a);
	o = other_holder(path);
	assert_true(o >= 0);
	close(o);
	b = sy_xtables_lock(0);
	assert_true(b >= 0);
	sy_xtables_unlock(b);
	unsetenv("SY_XTABLES_LOCK");
	unlink(path);
}

/* One libnl → errno table for every libnl user: the superset of the three it replaced. */
static void test_nl_errno(void **state)
{
	assert_int_equal(sy_nl_errno(0), 0);
	assert_int_equal(sy_nl_errno(5), 5);
	assert_int_equal(sy_nl_errno(-NLE_EXIST), -EEXIST);
	assert_int_equal(sy_nl_errno(-NLE_OBJ_NOTFOUND), -ENOENT);
	assert_int_equal(sy_nl_errno(-NLE_NOMEM), -ENOMEM);
	assert_int_equal(sy_nl_errno(-NLE_PERM), -EPERM);
	assert_int_equal(sy_nl_errno(-NLE_NOACCESS), -EACCES);
	assert_int_equal(sy_nl_errno(-NLE_INVAL), -EINVAL);
	assert_int_equal(sy_nl_errno(-NLE_RANGE), -ERANGE);
	assert_int_equal(sy_nl_errno(-NLE_NODEV), -ENODEV);
	assert_int_equal(sy_nl_errno(-NLE_BUSY), -EBUSY);
	assert_int_equal(sy_nl_errno(-NLE_AGAIN), -EAGAIN);
	assert_int_equal(sy_nl_errno(-NLE_INTR), -EINTR);
	assert_int_equal(sy_nl_errno(-NLE_DUMP_INTR), -EINTR);
	assert_int_equal(sy_nl_errno(-NLE_NOADDR), -EADDRNOTAVAIL);
	assert_int_equal(sy_nl_errno(-NLE_OPNOTSUPP), -EOPNOTSUPP);
	assert_int_equal(sy_nl_errno(-NLE_AF_NOSUPPORT), -EAFNOSUPPORT);
	assert_int_equal(sy_nl_errno(-NLE_MSGSIZE), -EMSGSIZE);
	assert_int_equal(sy_nl_errno(-NLE_MISSING_ATTR), -EINVAL);
	assert_int_equal(sy_nl_errno(-NLE_FAILURE), -EIO);
	assert_int_equal(sy_nl_errno(-NLE_PROTO_MISMATCH), -EIO);
	assert_int_equal(sy_nl_errno(-9999), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nl_errno),
		cmocka_unit_test(test_grow_trim),
		cmocka_unit_test(test_vec_free_all),
		cmocka_unit_test(test_hmap_clear_free),
		cmocka_unit_test(test_err),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_hmap),
		cmocka_unit_test(test_xtables_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
