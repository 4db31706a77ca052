/*
 * The data directory's lock: kurad holds an exclusive lock on
 * <data_dir>/kurad.lock for as long as it runs, so that a second kurad
 * cannot serve the same files and the operator commands that must not run
 * beside it (a master-key rotation, a tenant deletion) can tell.
 */
#ifndef KURA_LOCK_H
#define KURA_LOCK_H

#include <stddef.h>

#include "kura/err.h"

/*
 * Takes the lock without waiting: *fd holds it until kura_datadir_unlock.
 * KURA_E_BUSY when another process holds it; KURA_E_IO (message in err) when
 * the file cannot be opened.
 */
enum kura_err kura_datadir_lock(const char *data_dir, int *fd, char *err, size_t n);
void kura_datadir_unlock(int fd); /* -1 is a no-op */

#endif
