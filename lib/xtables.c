// SPDX-License-Identifier: Apache-2.0
/* Reading x_tables tables from the kernel (see switchyard/xtables.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include "switchyard/xtables.h"

int sy_xt_socket_af(int family)
{
	int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);

	return fd < 0 ? -errno : fd;
}

int sy_xt_socket(void)
{
	return sy_xt_socket_af(AF_INET);
}

/*
 * The sockopt level of fd's family: ip6tables' IP6T_SO_* are IPT_SO_*'s
 * numbers at IPPROTO_IPV6 (and ip6t_getinfo / ip6t_get_entries are laid
 * out as the IPv4 structs).
 */
static int xt_level(int fd)
{
	int domain = AF_INET;
	socklen_t len = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		domain = AF_INET;
	return domain == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
}

int sy_xt_get_info(int fd, const char *table, struct ipt_getinfo *info)
{
	socklen_t len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", table);
	if (getsockopt(fd, xt_level(fd), IPT_SO_GET_INFO, info, &len) < 0)
		return -errno;
	return 0;
}

int sy_xt_read(int fd, const char *table, struct ipt_getinfo *info,
	       struct ipt_get_entries **ret)
{
	struct ipt_get_entries *ge;
	socklen_t len;
	int r;

	*ret = NULL;
	r = sy_xt_get_info(fd, table, info);
	if (r < 0)
		return r;
	len = (socklen_t)(sizeof(*ge) + info->size);
	ge = calloc(1, len);
	if (!ge)
		return -ENOMEM;
	snprintf(ge->name, sizeof(ge->name), "%s", table);
	ge->size = info->size;
	if (getsockopt(fd, xt_level(fd), IPT_SO_GET_ENTRIES, ge, &len) < 0) {
		r = -errno;	/* EAGAIN: the table changed since IPT_SO_GET_INFO */
		free(ge);
		return r;
	}
	*ret = ge;
	return 0;
}
