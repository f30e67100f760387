/* fsio.c - see fsio.h. */
#include "fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/err.h"

/* fsyncs the directory that holds <path> (cut at its last '/'). */
static int sync_parent(char *path)
{
    char *slash = strrchr(path, '/');
    int fd, rc, err;

    if (slash)
        *slash = '\0';
    fd = open(slash == path ? "/" : slash ? path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (slash)
        *slash = '/';
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    err = errno;
    close(fd);
    errno = err;
    return rc;
}

int sl_fsio_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return SL_EIO;
    }
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0755) == 0) {
            /* A new directory survives a crash only once its parent's entry
             * for it is on disk, like a new file's. */
            if (sync_parent(path) != 0)
                return SL_EIO;
        } else if (errno != EEXIST) {
            return SL_EIO;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    return SL_OK;
}

/* Writes the <n> pieces <iov> whole, 64 to a call. */
static int write_all(int fd, const struct iovec *iov, size_t n)
{
    struct iovec v[64];
    size_t k = 0, skip = 0;           /* the next piece, and its bytes written */
    ssize_t w;

    while (k < n) {
        int m = 0;
        for (size_t i = k; i < n && m < 64; i++)
            v[m++] = iov[i];
        v[0].iov_base = (uint8_t *)v[0].iov_base + skip;
        v[0].iov_len -= skip;
        if ((w = writev(fd, v, m)) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (size_t left = (size_t)w;; k++, skip = 0) {
            if (k == n || left < iov[k].iov_len - skip) {
                skip += left;
                break;
            }
            left -= iov[k].iov_len - skip;
        }
    }
    return 0;
}

/*
 * Puts the whole, fsynced <tmp> in place as <dst>: rename(2), which
 * replaces, or with <exclusive> link(2), which never does. Either way the
 * directory is fsynced last, so the new entry (and a removed temp) is on
 * disk when this returns SL_OK or SL_EEXIST.
 */
static int publish(char *tmp, char *dst, int exclusive, const char **what)
{
    int rc = SL_OK, err;
    struct stat st;

    if (!exclusive) {
        *what = "rename";
        if (rename(tmp, dst) != 0)
            goto fail;
    } else {
        *what = "link";
        if (link(tmp, dst) != 0) {
            if (errno != EEXIST)
                goto fail;
            /* A directory or a device by that name is no object: answering
             * "there already" would settle the batch into nothing. */
            if (stat(dst, &st) != 0 || !S_ISREG(st.st_mode)) {
                errno = EEXIST;
                goto fail;
            }
            rc = SL_EEXIST;
        }
        *what = "unlink temp";
        if (unlink(tmp) != 0)
            return SL_EIO;      /* dst is whole; a retry finds it (SL_EEXIST) */
    }
    /* Also after SL_EEXIST: the file there may be an earlier attempt's whose
     * directory fsync failed, and the caller is about to rely on it. */
    *what = "fsync dir";
    if (sync_parent(dst) != 0)
        return SL_EIO;
    if (rc == SL_EEXIST)
        errno = EEXIST;
    return rc;
fail:
    err = errno;
    unlink(tmp);
    errno = err;
    return SL_EIO;
}

/* sl_fsio_write_atomic() and sl_fsio_write_exclusive(): see fsio.h. */
static int write_file(const char *dir, const char *name, const struct iovec *iov, size_t n,
                      int exclusive, const char **what)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    int fd = -1, err;

    if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= (int)sizeof(tmp) ||
        snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst)) {
        *what = "path";
        errno = ENAMETOOLONG;
        return SL_EIO;
    }
    *what = "mkdir";
    if (sl_fsio_mkdirs(dir) != SL_OK)
        return SL_EIO;
    /* A temp left by a crash is removed, not written over: after a link
     * into place it is a second name of the published object, which
     * O_TRUNC would cut. O_EXCL: this file is ours alone. */
    *what = "unlink";
    if (unlink(tmp) != 0 && errno != ENOENT)
        return SL_EIO;
    *what = "open";
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return SL_EIO;
    *what = "write";
    if (write_all(fd, iov, n) != 0)
        goto fail;
    *what = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return publish(tmp, dst, exclusive, what);
fail:
    err = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = err;
    return SL_EIO;
}

int sl_fsio_write_atomic(const char *dir, const char *name, const void *data,
                         size_t len, const char **what)
{
    struct iovec v = { (void *)data, len };

    return write_file(dir, name, &v, 1, 0, what);
}

int sl_fsio_write_exclusive(const char *dir, const char *name, const void *data,
                            size_t len, const char **what)
{
    struct iovec v = { (void *)data, len };

    return write_file(dir, name, &v, 1, 1, what);
}

int sl_fsio_write_pieces(const char *dir, const char *name, const struct iovec *iov, size_t n,
                         int exclusive, const char **what)
{
    return write_file(dir, name, iov, n, exclusive, what);
}

int sl_fsio_read_small(const char *path, size_t max, char **text, size_t *n, char *err,
                       size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    ssize_t r = 1;
    int fd, rc = SL_EINVAL;

    *text = NULL;
    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0 ||
        fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size <= max && !(buf = malloc(max + 2))) {
        snprintf(err, errlen, "out of memory");
        rc = SL_ENOMEM;
        goto out;
    }
    while (buf && got <= max && r != 0) {   /* one byte past the bound: it grew */
        r = read(fd, buf + got, max + 1 - got);
        if (r < 0 && errno != EINTR) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto out;
        }
        got += r > 0 ? (size_t)r : 0;
    }
    if (!buf || got > max) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
        goto out;
    }
    buf[got] = '\0';
    *text = buf;
    *n = got;
    buf = NULL;
    rc = SL_OK;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}
