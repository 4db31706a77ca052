/* Private temporary directories for unit tests (tmpdir.h). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "tmpdir.h"

/* mkdtemp(3) replaces these six characters of the name it is given. */
#define MKDTEMP_TEMPLATE "XXXXXX"

int
kura_test_mkdtemp(char *dir, size_t n, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	int w = snprintf(dir, n, "%s/%s-" MKDTEMP_TEMPLATE,
			 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", prefix);

	if (w < 0 || (size_t)w >= n)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
kura_test_rmtree(const char *dir)
{
	if (dir != NULL && dir[0] != '\0')
		nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
