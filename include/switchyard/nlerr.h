/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_NLERR_H
#define SWITCHYARD_NLERR_H
/*
 * lib/nlerr.c: libnl's -NLE_* codes → -errno, once for every libnl user
 * (the pod network's rtnetlink layer, IPVS's genl socket and kube-ipvs0).
 */

/* 0 and positive values pass through; an unknown code becomes -EIO. */
int sy_nl_errno(int nlerr);

struct nl_sock;
/*
 * A connected rtnetlink socket with 4 MB buffers (large dumps in one go):
 * 0, or -errno with *ret untouched.  nl_socket_free() closes it.
 */
int sy_nl_route_open(struct nl_sock **ret);

#endif
