// SPDX-License-Identifier: Apache-2.0
/* libnl error codes → errno (see switchyard/nlerr.h). */
#include <errno.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include "switchyard/nlerr.h"

int sy_nl_errno(int nlerr)
{
	if (nlerr >= 0)
		return nlerr;
	switch (-nlerr) {
	case NLE_EXIST: return -EEXIST;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_PERM: return -EPERM;
	case NLE_NOACCESS: return -EACCES;
	case NLE_INVAL: return -EINVAL;
	case NLE_RANGE: return -ERANGE;
	case NLE_NODEV: return -ENODEV;
	case NLE_BUSY: return -EBUSY;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_INTR: case NLE_DUMP_INTR: return -EINTR;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	case NLE_MSGSIZE: return -EMSGSIZE;
	case NLE_MISSING_ATTR: return -EINVAL;
	default: return -EIO;
	}
}

int sy_nl_route_open(struct nl_sock **ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		return sy_nl_errno(r);
	}
	nl_socket_set_buffer_size(sk, 4 << 20, 4 << 20);
	*ret = sk;
	return 0;
}
