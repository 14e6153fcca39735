/* fs.c - file-system helpers; see fs.h. */
#include "base/fs.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ef_fs_mkdir_p(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return EF_EINVAL;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return EF_EIO;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return EF_EIO;
    return EF_OK;
}

int ef_fs_read(const char *path, size_t max, ef_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? EF_ENOTFOUND : EF_EIO;
    int rc = EF_OK;
    char chunk[65536];
    size_t total = 0;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = EF_EIO;
            break;
        }
        if (r == 0) break;
        total += (size_t)r;
        if (total > max) {
            rc = EF_ETOOBIG;
            break;
        }
        if (ef_buf_append(out, chunk, (size_t)r) != EF_OK) {
            rc = EF_ENOMEM;
            break;
        }
    }
    close(fd);
    return rc;
}

int ef_fs_sync_dir_of(const char *path)
{
    char tmp[4096];
    if (strlen(path) >= sizeof tmp) return EF_EINVAL;
    strcpy(tmp, path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return EF_EIO;
    int rc = fsync(fd) == 0 ? EF_OK : EF_EIO;
    close(fd);
    return rc;
}

int ef_fs_write_atomic(const char *path, const void *data, size_t len, int durable)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return EF_EIO;
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (durable && fsync(fd) != 0) goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) goto fail;
    if (durable) return ef_fs_sync_dir_of(path);
    return EF_OK;
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
    return EF_EIO;
}

int ef_fs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int ef_fs_rm_rf(const char *path)
{
    if (!ef_fs_exists(path)) return EF_OK;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? EF_OK : EF_EIO;
}
