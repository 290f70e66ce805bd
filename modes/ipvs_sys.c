// SPDX-License-Identifier: Apache-2.0
/* sysctls the IPVS mode needs (kube-proxy's set). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "ipvs_int.h"

int ipvs_sysctl_set(const char *path, const char *value)
{
	char full[256], cur[64];
	ssize_t n;
	int fd;

	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
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
	fd = open(full, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 1;
}
