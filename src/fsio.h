/*
 * fsio.h - durable file writes: what the file sink and the backup share.
 *
 * Blocking calls: delivery workers only, never an I/O or batcher thread.
 */
#ifndef SL_FSIO_H
#define SL_FSIO_H

#include <stddef.h>

/* Creates <dir> and its missing parents (mode 0755). On failure returns
 * SL_EIO with errno set by the failing call. */
int sl_fsio_mkdirs(const char *dir);

/*
 * Writes <len> bytes at <data> to <dir>/<name> so that a reader never sees
 * half a file: a hidden temp name in the same directory, fsync, rename,
 * fsync of the directory. Creates <dir> if needed. On failure nothing is
 * left behind and errno says why; *<what> names the step that failed.
 */
int sl_fsio_write_atomic(const char *dir, const char *name, const void *data,
                         size_t len, const char **what);

#endif
