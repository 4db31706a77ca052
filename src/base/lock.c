/* The data directory's lock (kura/lock.h): flock(2) on <data_dir>/kurad.lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "kura/lock.h"

enum kura_err
kura_datadir_lock(const char *data_dir, int *fd, char *err, size_t n)
{
	char path[4096];
	int f;

	*fd = -1;
	if (snprintf(path, sizeof(path), "%s/kurad.lock", data_dir) >= (int)sizeof(path)) {
		snprintf(err, n, "data directory path too long");
		return KURA_E_IO;
	}
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f < 0) {
		snprintf(err, n, "cannot open %s: %s", path, strerror(errno));
		return KURA_E_IO;
	}
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		int busy = errno == EWOULDBLOCK;

		snprintf(err, n, busy ? "kurad is running on %s" : "cannot lock %s: %s", data_dir,
			 strerror(errno));
		close(f);
		return busy ? KURA_E_BUSY : KURA_E_IO;
	}
	*fd = f;
	return KURA_OK;
}

void
kura_datadir_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing releases the flock */
}
