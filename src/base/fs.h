/* fs.h - file-system helpers: directories, whole-file reads, crash-safe whole-file writes. */
#ifndef EF_BASE_FS_H
#define EF_BASE_FS_H

#include <stddef.h>

#include "base/buf.h"

/* mkdir -p with mode 0755. Returns 0 or EF_EIO (errno set). */
int ef_fs_mkdir_p(const char *path);
/* Reads a whole file into out (appended). Returns 0, EF_ENOTFOUND, EF_ETOOBIG (> max bytes)
 * or EF_EIO. */
int ef_fs_read(const char *path, size_t max, ef_buf *out);
/* Writes a whole file crash-safely: data goes to "<path>.tmp.<pid>", is fsync'd (when durable),
 * then renamed over path and the directory fsync'd. Readers see the old or the new file, never a
 * torn one. Returns 0 or EF_EIO. */
int ef_fs_write_atomic(const char *path, const void *data, size_t len, int durable);
/* fsyncs the directory holding path. */
int ef_fs_sync_dir_of(const char *path);
/* 1 if path exists. */
int ef_fs_exists(const char *path);
/* Removes a directory tree (like rm -rf). Returns 0 or EF_EIO. */
int ef_fs_rm_rf(const char *path);

#endif
