/* Private temporary directories for unit tests. */
#ifndef KURA_TEST_TMPDIR_H
#define KURA_TEST_TMPDIR_H

#include <stddef.h>

/*
 * Makes a new directory, mode 0700, under $TMPDIR (or /tmp), named
 * "<prefix>-" and six characters mkdtemp(3) chooses, and writes its path
 * into dir (n bytes). Returns 0, or -1 when it cannot.
 */
int kura_test_mkdtemp(char *dir, size_t n, const char *prefix);

/* Removes dir and everything under it (symbolic links are not followed). */
void kura_test_rmtree(const char *dir);

#endif
