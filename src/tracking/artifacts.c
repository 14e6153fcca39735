/* artifacts.c - the artifact repository behind `edgeflow server`'s MLflow artifact proxy
 * (/api/2.0/mlflow-artifacts/...) and the run artifact listing (/api/2.0/mlflow/artifacts/list);
 * the HTTP routes themselves are in artifacts_api.c.
 *
 * Two backends behind one small interface (artifact_path.h):
 *   local  a folder. Every path component is opened relative to a directory fd held for the
 *          repository's lifetime, with O_NOFOLLOW|O_DIRECTORY, so neither ".." (already refused by
 *          the normaliser) nor a symlink planted under the root can reach outside it; a symlink
 *          met on the way is refused as "Invalid path". Uploads are written to a hidden temp file
 *          in the target folder and renamed over the name, so readers never see a torn file.
 *   s3     s3://bucket/prefix through s3/s3.h. An ef_s3 handle serves one thread at a time, so
 *          idle handles wait on a small mutex-guarded stack and a request takes one (or makes one).
 *
 * MLflow behaviour reproduced (2.12.2 handlers.py, local/S3 artifact repositories):
 *   - listing of the proxy answers entries by base name, of a run by run-relative path, sorted,
 *     file_size for files only, no "files" key when the folder is empty or missing;
 *   - downloading a missing file answers 500 INTERNAL_ERROR (what 2.12.2 does, spec §6.1: clients
 *     treat any non-200 as failure, and fidelity with the reference server is the contract);
 *   - multipart upload (the mpu routes) answers 501 NOT_IMPLEMENTED "Multipart upload is not
 * supported for the current artifact repository", as MLflow does for a destination without
 * multipart; for S3 destinations too, since presigned part URLs are not implemented here;
 *   - downloads carry Content-Disposition: attachment and X-Content-Type-Options: nosniff.
 * Deliberate difference: DELETE of a single file works (MLflow's local repository calls rmtree on
 * it and fails with 500).
 */
#include "tracking/artifact_path.h"
#include "tracking/trk_int.h"

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "s3/s3.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ART_MAGIC 0x41525446u /* "ARTF" */
#define TMP_PREFIX ".ef-tmp-"

enum { ART_LOCAL = 1, ART_S3 = 2 };

struct trk_artifacts {
    uint32_t magic;
    int kind;
    int durable;
    /* local */
    int root_fd;
    char *root;
    /* s3 */
    char *bucket, *prefix; /* prefix without leading/trailing '/', may be "" */
    char *s3_endpoint, *s3_region;
    pthread_mutex_t lock;
    ef_s3 **idle;
    size_t nidle, capidle;
};

static atomic_uint tmp_counter;

int trk__artifacts_fail(trk_err *e, trk_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int invalid_path(trk_err *e)
{
    return trk__artifacts_fail(e, TRK_INVALID_PARAMETER_VALUE, "Invalid path");
}

/* --- open / free -------------------------------------------------------------------------------
 */

void trk__artifacts_free(struct trk_artifacts *a)
{
    if (!a) return;
    if (a->kind == ART_S3) {
        for (size_t i = 0; i < a->nidle; i++)
            ef_s3_free(a->idle[i]);
        pthread_mutex_destroy(&a->lock);
    }
    if (a->root_fd >= 0) close(a->root_fd);
    free(a->idle);
    free(a->root);
    free(a->bucket);
    free(a->prefix);
    free(a->s3_endpoint);
    free(a->s3_region);
    a->magic = 0;
    free(a);
}

static char *dup_opt(const char *s, int *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

int trk__artifacts_open_uri(const char *uri, int create, const char *s3_endpoint,
                            const char *s3_region, int durable, struct trk_artifacts **out,
                            char **errmsg)
{
    int rc = EF_ENOMEM, oom = 0;
    struct trk_artifacts *a = calloc(1, sizeof *a);
    *out = NULL;
    *errmsg = NULL;
    if (!a) goto fail;
    a->magic = ART_MAGIC;
    a->root_fd = -1;
    a->durable = durable;
    a->s3_endpoint = dup_opt(s3_endpoint, &oom);
    a->s3_region = dup_opt(s3_region, &oom);
    if (oom) goto fail;
    if (!uri || !*uri) {
        rc = EF_EINVAL;
        *errmsg = strdup("no artifact location given");
        goto fail;
    }
    if (strncmp(uri, "s3://", 5) == 0) {
        const char *b = uri + 5, *slash = strchr(b, '/');
        size_t blen = slash ? (size_t)(slash - b) : strlen(b);
        if (blen == 0) {
            rc = EF_EINVAL;
            if (asprintf(errmsg, "bad S3 URI '%s': no bucket", uri) < 0) *errmsg = NULL;
            goto fail;
        }
        a->kind = ART_S3;
        a->bucket = strndup(b, blen);
        const char *p = slash ? slash : "";
        while (*p == '/')
            p++;
        size_t plen = strlen(p);
        while (plen && p[plen - 1] == '/')
            plen--;
        a->prefix = strndup(p, plen);
        if (!a->bucket || !a->prefix) goto fail;
        if (pthread_mutex_init(&a->lock, NULL) != 0) {
            a->kind = 0;
            goto fail;
        }
        /* check the configuration (credentials, endpoint) now rather than on the first upload */
        char *err = NULL;
        ef_s3_config cfg = {.endpoint = a->s3_endpoint, .region = a->s3_region};
        ef_s3 *s = ef_s3_new(&cfg, &err);
        if (!s) {
            rc = EF_EINVAL;
            *errmsg = err;
            goto fail;
        }
        ef_s3_free(s);
        *out = a;
        return EF_OK;
    }
    const char *path = uri;
    if (strncmp(uri, "file://", 7) == 0) {
        path = uri + 7;
        if (strncmp(path, "localhost/", 10) == 0) path += 9;
    } else if (strncmp(uri, "file:", 5) == 0) {
        path = uri + 5;
    }
    if (!*path || strstr(path, "://")) {
        rc = EF_EINVAL;
        if (asprintf(errmsg, "unsupported artifact location '%s'", uri) < 0) *errmsg = NULL;
        goto fail;
    }
    a->kind = ART_LOCAL;
    a->root = strdup(path);
    if (!a->root) goto fail;
    if (create && ef_fs_mkdir_p(a->root) != EF_OK) {
        rc = EF_EIO;
        if (asprintf(errmsg, "cannot create artifact folder %s: %s", a->root, strerror(errno)) < 0)
            *errmsg = NULL;
        goto fail;
    }
    a->root_fd = open(a->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (a->root_fd < 0) {
        rc = errno == ENOENT ? EF_ENOTFOUND : EF_EIO;
        if (asprintf(errmsg, "cannot open artifact folder %s: %s", a->root, strerror(errno)) < 0)
            *errmsg = NULL;
        goto fail;
    }
    *out = a;
    return EF_OK;
fail:
    if (rc == EF_ENOMEM && !*errmsg) *errmsg = strdup("out of memory");
    trk__artifacts_free(a);
    return rc;
}

int trk__artifacts_open(const ef_tracking_options *opt, struct trk_artifacts **out, char **errmsg)
{
    *out = NULL;
    *errmsg = NULL;
    if (!opt || !opt->artifacts_destination) return EF_OK; /* proxy disabled */
    return trk__artifacts_open_uri(opt->artifacts_destination, 1, opt->s3_endpoint, opt->s3_region,
                                   opt->durable, out, errmsg);
}

/* --- local backend ------------------------------------------------------------------------------
 */

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int local_put(struct trk_artifacts *a, const char *norm, const void *data, size_t len,
                     trk_err *e)
{
    char buf[TRK_ARTIFACT_PATH_MAX + 1], tmp[64];
    const char *leaf;
    int dfd, fd = -1, rc = -1, made = 0;
    if (trk__artifact_path_walk(a->root_fd, norm, 1, buf, sizeof buf, &dfd, &leaf, e) != 0)
        return -1;
    snprintf(tmp, sizeof tmp, TMP_PREFIX "%ld-%u", (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1));
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "cannot create '%s': %s", norm, strerror(errno));
        goto out;
    }
    made = 1;
    if (write_all(fd, data, len) != 0 || (a->durable && fsync(fd) != 0)) {
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "cannot write '%s': %s", norm, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "cannot write '%s': %s", norm, strerror(errno));
        goto out;
    }
    fd = -1;
    /* renameat replaces a symlink named leaf by the file; it never writes through one */
    if (renameat(dfd, tmp, dfd, leaf) != 0) {
        if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST)
            trk__artifacts_fail(e, TRK_INVALID_PARAMETER_VALUE, "'%s' is a directory", norm);
        else
            trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "cannot store '%s': %s", norm,
                                strerror(errno));
        goto out;
    }
    made = 0;
    if (a->durable) fsync(dfd);
    rc = 0;
out:
    if (fd >= 0) close(fd);
    if (made) unlinkat(dfd, tmp, 0);
    close(dfd);
    return rc;
}

static int local_get(struct trk_artifacts *a, const char *norm, ef_buf *out, trk_err *e)
{
    char buf[TRK_ARTIFACT_PATH_MAX + 1];
    const char *leaf;
    int dfd, fd = -1, rc = -1;
    struct stat st;
    if (trk__artifact_path_walk(a->root_fd, norm, 0, buf, sizeof buf, &dfd, &leaf, e) != 0)
        return -1;
    fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        trk__artifact_path_errno(dfd, leaf, norm, e);
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "Not a file: '%s'", norm);
        goto out;
    }
    if (ef_buf_reserve(out, (size_t)st.st_size + 1) != EF_OK) {
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "out of memory reading '%s'", norm);
        goto out;
    }
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "cannot read '%s': %s", norm,
                                strerror(errno));
            goto out;
        }
        if (n == 0) break;
        if (ef_buf_append(out, chunk, (size_t)n) != EF_OK) {
            trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "out of memory reading '%s'", norm);
            goto out;
        }
    }
    rc = 0;
out:
    if (fd >= 0) close(fd);
    close(dfd);
    return rc;
}

static int local_list(struct trk_artifacts *a, const char *norm, trk_file_list *out, trk_err *e)
{
    char buf[TRK_ARTIFACT_PATH_MAX + 1];
    const char *leaf;
    int dfd, fd = -1, rc = -1;
    DIR *d = NULL;
    int wrc = trk__artifact_path_walk(a->root_fd, norm, 0, buf, sizeof buf, &dfd, &leaf, e);
    if (wrc != 0) return wrc == TRK_ARTIFACT_MISSING ? 0 : -1; /* a missing parent lists as empty */
    fd = *leaf ? openat(dfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dup(dfd);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            struct stat st;
            if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                invalid_path(e);
            else
                rc = 0;
        } else {
            trk__artifact_path_errno(dfd, leaf, norm, e);
        }
        goto out;
    }
    d = fdopendir(fd);
    if (!d) {
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "cannot list '%s': %s", norm, strerror(errno));
        goto out;
    }
    fd = -1; /* owned by d */
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        const char *name = de->d_name;
        struct stat st;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        if (strncmp(name, TMP_PREFIX, sizeof TMP_PREFIX - 1) == 0) continue;  /* in-flight upload */
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue; /* raced a delete */
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue; /* symlinks are not shown */
        if (trk__file_list_add(out, name, strlen(name), S_ISDIR(st.st_mode), (int64_t)st.st_size) !=
            0) {
            trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "out of memory");
            goto out;
        }
    }
    trk__file_list_sort(out);
    rc = 0;
out:
    if (d) closedir(d);
    if (fd >= 0) close(fd);
    close(dfd);
    return rc;
}

/* Removes name under dfd: a file or symlink is unlinked, a folder emptied first. */
static int rm_tree_at(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int rc = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (rm_tree_at(dirfd(d), de->d_name) != 0) rc = -1;
    }
    closedir(d);
    if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) rc = -1;
    return rc;
}

static int local_delete(struct trk_artifacts *a, const char *norm, trk_err *e)
{
    char buf[TRK_ARTIFACT_PATH_MAX + 1];
    const char *leaf;
    int dfd;
    int wrc = trk__artifact_path_walk(a->root_fd, norm, 0, buf, sizeof buf, &dfd, &leaf, e);
    if (wrc != 0) return wrc == TRK_ARTIFACT_MISSING ? 0 : -1; /* nothing to delete */
    int rc = 0;
    if (rm_tree_at(dfd, leaf) != 0)
        rc = trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "cannot delete '%s': %s", norm,
                                 strerror(errno));
    close(dfd);
    return rc;
}

/* --- S3 backend ---------------------------------------------------------------------------------
 */

static ef_s3 *s3_take(struct trk_artifacts *a, trk_err *e)
{
    ef_s3 *s = NULL;
    pthread_mutex_lock(&a->lock);
    if (a->nidle) s = a->idle[--a->nidle];
    pthread_mutex_unlock(&a->lock);
    if (s) return s;
    char *err = NULL;
    ef_s3_config cfg = {.endpoint = a->s3_endpoint, .region = a->s3_region};
    s = ef_s3_new(&cfg, &err);
    if (!s)
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "S3: %s", err ? err : "cannot create a client");
    free(err);
    return s;
}

static void s3_give(struct trk_artifacts *a, ef_s3 *s)
{
    pthread_mutex_lock(&a->lock);
    if (a->nidle == a->capidle) {
        size_t cap = a->capidle ? a->capidle * 2 : 8;
        ef_s3 **p = realloc(a->idle, cap * sizeof *p);
        if (p) {
            a->idle = p;
            a->capidle = cap;
        }
    }
    if (a->nidle < a->capidle) {
        a->idle[a->nidle++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&a->lock);
    ef_s3_free(s);
}

/* prefix + "/" + norm (either may be empty); sep: append a trailing '/' when non-empty. */
static int s3_key(const struct trk_artifacts *a, const char *norm, int sep, ef_buf *key)
{
    int rc = ef_buf_appends(key, a->prefix);
    if (rc == EF_OK && *a->prefix && *norm) rc = ef_buf_appendc(key, '/');
    if (rc == EF_OK) rc = ef_buf_appends(key, norm);
    if (rc == EF_OK && sep && key->len) rc = ef_buf_appendc(key, '/');
    if (rc == EF_OK && !key->data) rc = ef_buf_appends(key, ""); /* never NULL */
    return rc;
}

typedef struct s3_list_ctx {
    size_t skip;
    trk_file_list *out;
    int oom;
} s3_list_ctx;

static int s3_list_cb(void *ctx, const char *key, int64_t size)
{
    s3_list_ctx *c = ctx;
    if (strlen(key) <= c->skip) return 0;
    const char *rel = key + c->skip;
    const char *slash = strchr(rel, '/');
    int rc = slash ? trk__file_list_add(c->out, rel, (size_t)(slash - rel), 1, 0)
                   : trk__file_list_add(c->out, rel, strlen(rel), 0, size);
    if (rc != EF_OK) c->oom = 1;
    return rc != EF_OK;
}

typedef struct s3_keys {
    ef_buf keys; /* NUL-separated */
    int oom;
} s3_keys;

static int s3_keys_cb(void *ctx, const char *key, int64_t size)
{
    s3_keys *k = ctx;
    (void)size;
    if (ef_buf_append(&k->keys, key, strlen(key) + 1) != EF_OK) k->oom = 1;
    return k->oom;
}

static int s3_op(struct trk_artifacts *a, int op, const char *norm, const void *data, size_t len,
                 ef_buf *out, trk_file_list *list, trk_err *e)
{
    char err[512] = "";
    ef_buf key;
    ef_buf_init(&key);
    int rc = -1, src = EF_OK;
    ef_s3 *s = s3_take(a, e);
    if (!s) return -1;
    if (s3_key(a, norm, op == 'L' || op == 'D', &key) != EF_OK) {
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    if (op == 'P') {
        src = ef_s3_put(s, a->bucket, key.data, data, len, trk__artifact_mime_type(norm), err,
                        sizeof err);
    } else if (op == 'G') {
        src = ef_s3_get(s, a->bucket, key.data, out, err, sizeof err);
        if (src == EF_ENOTFOUND) {
            trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "No such file or directory: '%s'", norm);
            goto out;
        }
    } else if (op == 'L') {
        s3_list_ctx c = {key.len, list, 0};
        src = ef_s3_list(s, a->bucket, key.data, s3_list_cb, &c, err, sizeof err);
        if (c.oom) src = EF_ENOMEM;
        if (src == EF_OK) trk__file_list_sort(list);
    } else { /* 'D': every key under "<key>/", then the key itself */
        s3_keys k = {{0}, 0};
        ef_buf_init(&k.keys);
        src = ef_s3_list(s, a->bucket, key.data, s3_keys_cb, &k, err, sizeof err);
        if (k.oom) src = EF_ENOMEM;
        for (size_t off = 0; src == EF_OK && off < k.keys.len;
             off += strlen(k.keys.data + off) + 1) {
            src = ef_s3_delete(s, a->bucket, k.keys.data + off, err, sizeof err);
            if (src == EF_ENOTFOUND) src = EF_OK;
        }
        ef_buf_release(&k.keys);
        if (src == EF_OK) {
            key.data[--key.len] = '\0'; /* drop the '/' */
            src = ef_s3_delete(s, a->bucket, key.data, err, sizeof err);
            if (src == EF_ENOTFOUND) src = EF_OK;
        }
    }
    if (src != EF_OK) {
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "%s", src == EF_ENOMEM ? "out of memory" : err);
        goto out;
    }
    rc = 0;
out:
    ef_buf_release(&key);
    s3_give(a, s);
    return rc;
}

/* --- the interface ------------------------------------------------------------------------------
 */

int trk__artifacts_put(struct trk_artifacts *a, const char *path, const void *data, size_t len,
                       trk_err *e)
{
    char norm[TRK_ARTIFACT_PATH_MAX + 1];
    if (trk__artifact_path_normalize(path, norm, sizeof norm, e) != 0) return -1;
    if (!*norm) return invalid_path(e);
    return a->kind == ART_LOCAL ? local_put(a, norm, data, len, e)
                                : s3_op(a, 'P', norm, data, len, NULL, NULL, e);
}

int trk__artifacts_get(struct trk_artifacts *a, const char *path, ef_buf *out, trk_err *e)
{
    char norm[TRK_ARTIFACT_PATH_MAX + 1];
    if (trk__artifact_path_normalize(path, norm, sizeof norm, e) != 0) return -1;
    if (!*norm) return invalid_path(e);
    return a->kind == ART_LOCAL ? local_get(a, norm, out, e)
                                : s3_op(a, 'G', norm, NULL, 0, out, NULL, e);
}

int trk__artifacts_list(struct trk_artifacts *a, const char *path, trk_file_list *out, trk_err *e)
{
    char norm[TRK_ARTIFACT_PATH_MAX + 1];
    if (trk__artifact_path_normalize(path, norm, sizeof norm, e) != 0) return -1;
    int rc = a->kind == ART_LOCAL ? local_list(a, norm, out, e)
                                  : s3_op(a, 'L', norm, NULL, 0, NULL, out, e);
    if (rc != 0) trk__file_list_release(out);
    return rc;
}

int trk__artifacts_delete(struct trk_artifacts *a, const char *path, trk_err *e)
{
    char norm[TRK_ARTIFACT_PATH_MAX + 1];
    if (trk__artifact_path_normalize(path, norm, sizeof norm, e) != 0) return -1;
    if (!*norm) return invalid_path(e);
    return a->kind == ART_LOCAL ? local_delete(a, norm, e)
                                : s3_op(a, 'D', norm, NULL, 0, NULL, NULL, e);
}

const char *trk__artifacts_s3_endpoint(const struct trk_artifacts *a)
{
    return a ? a->s3_endpoint : NULL;
}

const char *trk__artifacts_s3_region(const struct trk_artifacts *a)
{
    return a ? a->s3_region : NULL;
}
