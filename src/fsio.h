/*
 * fsio.h - durable file writes: what the file sink and the backup share.
 *
 * Blocking calls: delivery workers only, never an I/O or batcher thread.
 */
#ifndef SL_FSIO_H
#define SL_FSIO_H

#include <stddef.h>
#include <sys/uio.h>

/* Creates <dir> and its missing parents (mode 0755). On failure returns
 * SL_EIO with errno set by the failing call. */
int sl_fsio_mkdirs(const char *dir);

/*
 * Writes <len> bytes at <data> to <dir>/<name> so that a reader never sees
 * half a file: a hidden temp name in the same directory (".<name>.tmp",
 * removed first if a crash left one), fsync, rename, fsync of the directory.
 * Replaces a file already there. Creates <dir> if needed. On failure
 * nothing is left behind and errno says why; *<what> names the step that
 * failed.
 */
int sl_fsio_write_atomic(const char *dir, const char *name, const void *data,
                         size_t len, const char **what);

/*
 * As sl_fsio_write_atomic(), but never replaces: the temp is put in place
 * with link(2), which fails if <dir>/<name> exists. Then the temp is
 * removed, the existing file is left as it was, and SL_EEXIST returned
 * (errno EEXIST), once the directory is fsynced. A temp a crash left after
 * its link is another name of the object: it is unlinked, never written
 * through. Two writers of one <name> at once share the temp: callers
 * write a name from one thread at a time.
 * A file system without hard links (some FUSE and network ones) fails
 * every call at "link".
 */
int sl_fsio_write_exclusive(const char *dir, const char *name, const void *data,
                            size_t len, const char **what);

/* sl_fsio_write_exclusive() (<exclusive>) or sl_fsio_write_atomic() of the
 * object made of the <n> pieces <iov>, in order. */
int sl_fsio_write_pieces(const char *dir, const char *name, const struct iovec *iov, size_t n,
                         int exclusive, const char **what);

/*
 * Reads the small file <path> (a key, a token, a certificate) whole into
 * *<text>, NUL-terminated and malloc'd (the caller frees it), its length
 * in *<n>. Only a regular file of at most <max> bytes: a device or a FIFO
 * (/dev/zero, a pipe) would be read forever or block, so it is refused,
 * and the open itself is non-blocking. On failure *<text> is NULL and
 * <err> says why, naming <path>.
 */
int sl_fsio_read_small(const char *path, size_t max, char **text, size_t *n, char *err,
                       size_t errlen);

#endif
