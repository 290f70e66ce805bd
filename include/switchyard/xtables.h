/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_XTABLES_H
#define SWITCHYARD_XTABLES_H
/*
 * lib/xtables.c: reading an x_tables table straight from the kernel,
 * once for every reader (the iptables mode's writer, the pod network's
 * check).  The locking is util.h's sy_xtables_lock.  IPv4 (iptables) or
 * IPv6 (ip6tables): the calls below follow the family of the socket (the
 * IP6T_SO_* calls are the IPT_SO_* numbers at IPPROTO_IPV6, with the same
 * struct layouts), so struct ipt_getinfo / ipt_get_entries serve both.
 */

struct ipt_getinfo;
struct ipt_get_entries;

/* A raw socket for the IPT_SO_* calls: the descriptor or -errno. */
int sy_xt_socket(void);
/* The same for family AF_INET or AF_INET6 (the IP6T_SO_* calls). */
int sy_xt_socket_af(int family);
/* IPT_SO_GET_INFO of table ("nat", "filter", ...): 0 or -errno. */
int sy_xt_get_info(int fd, const char *table, struct ipt_getinfo *info);
/*
 * The whole table: IPT_SO_GET_INFO into *info, then IPT_SO_GET_ENTRIES into
 * *ret (malloc'd and zeroed first, as the kernel leaves the tail of short
 * extension names untouched; ->entrytable holds info->size bytes).
 * 0 or -errno; -EAGAIN: the table changed between the two calls.
 */
int sy_xt_read(int fd, const char *table, struct ipt_getinfo *info,
	       struct ipt_get_entries **ret);

#endif
