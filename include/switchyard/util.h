/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_UTIL_H
#define SWITCHYARD_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "switchyard/addr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* Parse a Go-style duration ("1s", "500ms", "2m30s", "1h"); seconds. */
int sy_parse_duration(const char *s, double *ret_seconds);
/* Monotonic and wall clock in seconds. */
double sy_now_mono(void);
double sy_now_wall(void);
/* Parse RFC 3339 ("2024-01-02T03:04:05Z", optional fraction / offset). */
int sy_parse_rfc3339(const char *s, double *ret_epoch);
/* Format RFC 3339 with nanoseconds like Go's time.Time MarshalJSON. */
void sy_format_rfc3339(double epoch, char *buf, size_t len);
/* malloc/calloc/strdup that abort on OOM (the daemon cannot continue). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/*
 * Errors with context for the caller to log: write the reason (printf)
 * into err (NULL or errlen 0: nothing) and return r, a -errno, so that
 * `return sy_err(err, errlen, -EINVAL, "no server");` reads as one step.
 */
int sy_err(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same, but only while err is still "": the first error of a call that goes on. */
int sy_err_first(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * Room for element n of a growing array of size-byte elements: when n ==
 * *cap, *cap doubles (from first) and the array moves.  Returns the array:
 * `l->v = sy_grow(l->v, l->n, &l->cap, sizeof(*l->v), 16); l->v[l->n++] = x;`
 */
void *sy_grow(void *v, unsigned n, unsigned *cap, size_t size, unsigned first);
/*
 * The same array cut to its n elements, without sy_grow's doubling slack
 * (for arrays that live long once filled); an empty one is left as it is.
 */
void *sy_trim(void *v, unsigned n, unsigned *cap, size_t size);
/*
 * A growing array of elements of one size, for the callbacks that collect
 * what a kernel dump hands them one by one: sy_vec_push(arg, e, sizeof(*e),
 * 16) appends *e (room from sy_grow, first elements at the start); the
 * caller reads v as its element type and frees it.
 */
struct sy_vec {
	void *v;
	unsigned n, cap;
};
void sy_vec_push(struct sy_vec *l, const void *elem, size_t size, unsigned first);
/*
 * free() each of the n pointers in v: a struct's owned fields in one call,
 * sy_free_all(s->name, s->key, s) (evaluated before the first free, so the
 * struct itself may come last).
 */
void sy_free_n(void *const *v, size_t n);
/*
 * Take pointer p out of the array v of *n object pointers (of any one
 * pointer type), the last one moving into its place: true if it was there.
 */
bool sy_ptrs_remove(void *v, unsigned *n, const void *p);
#define sy_free_all(...) \
	sy_free_n((void *const[]){ __VA_ARGS__ }, ARRAY_SIZE(((void *const[]){ __VA_ARGS__ })))
/*
 * A byte buffer *p of *cap bytes with room for need: grown by doubling
 * (from 4096) when short; 0, or -ENOMEM with *p and *cap untouched (for
 * buffers whose size the input decides: a failure is the input's, not ours).
 */
int sy_reserve(char **p, size_t *cap, size_t need);
/* Read a whole file into a NUL-terminated buffer; -errno on failure. */
int sy_read_file(const char *path, char **ret_buf, size_t *ret_len);
/* Write atomically (tmp + rename); -errno. */
int sy_write_file_atomic(const char *path, const char *data, size_t len, int mode);
/* Write value to a sysctl unless it already reads so (trailing newline
 * ignored).  name is under /proc/sys ("net/ipv4/ip_forward"); a name
 * starting with '/' is a path taken as is (a module parameter).  Returns 1
 * when written, 0 when already set, or -errno. */
int sy_sysctl_set(const char *name, const char *value);
/* Take /run/xtables.lock, the lock every iptables writer shares, waiting at
 * most timeout_seconds (this blocks: not for the event loop, which uses
 * sy_xtables_trylock); returns the descriptor for sy_xtables_unlock, -EAGAIN
 * on timeout or another -errno.  Path: SY_XTABLES_LOCK when set (tests).
 * The lock is process-wide: while this process holds it, both calls return
 * at once and nest (each needs its own sy_xtables_unlock). */
int sy_xtables_lock(double timeout_seconds);
/* The same without waiting: -EAGAIN while another process holds it. */
int sy_xtables_trylock(void);
/* The lock file's path (this process opens it read-write, iptables and
 * kube-proxy read-only: an IN_CLOSE_NOWRITE on it is someone else). */
const char *sy_xtables_lock_path(void);
void sy_xtables_unlock(int fd);

#endif
