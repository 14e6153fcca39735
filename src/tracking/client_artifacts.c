/* client_artifacts.c - artifact transfer of the tracking client (see client.h): upload and
 * download for the three kinds of artifact location. Built on client.c's HTTP exchange and
 * request helpers, shared through client_int.h (the registry calls are in client_registry.c).
 *
 *   artifact URI                     upload                         download (tree)
 *   mlflow-artifacts:/<p>            PUT  /api/2.0/mlflow-artifacts/artifacts/<p>/<file>
 *                                    GET  .../artifacts?path=<dir> (listing, per directory)
 *                                    GET  .../artifacts/<p>/<file>
 *   file:///dir, /dir                copy                           copy
 *   s3://bucket/prefix               s3/s3.h put                    s3 list + get
 *
 * Downloads go to "<dest>.tmp.<pid>.<n>" and are swapped in with renameat2(RENAME_EXCHANGE) (or
 * two renames where that is unavailable), so a reader never sees a half-downloaded model.
 */
#include "tracking/client_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/strlist.h"
#include "s3/s3.h"

#define TC_MAX_DEPTH 64 /* artifact directory nesting */

/* ---- artifact locations --------------------------------------------------------------------- */

enum { TC_LOC_PROXY, TC_LOC_FILE, TC_LOC_S3 };

typedef struct tc_loc {
    int kind;
    char *base;   /* proxy: server base URL to put /api/2.0/mlflow-artifacts/ after */
    char *bucket; /* s3 */
    ef_buf path;  /* proxy: path in the artifact service, s3: key prefix (both without leading or
                     trailing '/'); file: a file-system path */
} tc_loc;

static void tc_loc_release(tc_loc *l)
{
    free(l->base);
    free(l->bucket);
    ef_buf_release(&l->path);
    memset(l, 0, sizeof *l);
}

/* Appends the relative path rel to p, component by component; refuses "..". */
static int tc_path_join(ef_buf *p, const char *rel, ef_tc_error *err)
{
    while (rel && *rel) {
        size_t n = strcspn(rel, "/");
        if (n == 2 && rel[0] == '.' && rel[1] == '.')
            return tc__fail(err, EF_EINVAL, 0, NULL, "artifact path must not contain '..'");
        if (n > 0 && !(n == 1 && rel[0] == '.')) {
            if (p->len > 0 && p->data[p->len - 1] != '/' && ef_buf_appendc(p, '/')) goto oom;
            if (ef_buf_append(p, rel, n)) goto oom;
        }
        rel += n;
        while (*rel == '/')
            rel++;
    }
    if (!p->data && ef_buf_appends(p, "")) goto oom;
    return EF_OK;
oom:
    return tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
}

static int tc_loc_resolve(ef_tc *c, const char *uri, const char *sub, tc_loc *loc, int depth,
                          ef_tc_error *err);

/* runs:/<run_id>[/path] -> the run's artifact_uri joined with path. */
static int tc_loc_runs(ef_tc *c, const char *uri, tc_loc *loc, int depth, ef_tc_error *err)
{
    const char *p = uri + 6;
    char run_id[260];
    ef_tc_run run;
    int rc;
    while (*p == '/')
        p++;
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= sizeof run_id)
        return tc__fail(err, EF_EINVAL, 0, NULL, "bad runs:/ URI '%s'", uri);
    memcpy(run_id, p, n);
    run_id[n] = 0;
    if ((rc = ef_tc_run_get(c, run_id, &run, err)) != EF_OK) return rc;
    if (!run.artifact_uri)
        rc = tc__fail(err, EF_EPROTO, 200, NULL, "run %s has no artifact_uri", run_id);
    else
        rc = tc_loc_resolve(c, run.artifact_uri, p + n, loc, depth + 1, err);
    ef_tc_run_release(&run);
    return rc;
}

static int tc_loc_resolve(ef_tc *c, const char *uri, const char *sub, tc_loc *loc, int depth,
                          ef_tc_error *err)
{
    const char *p;
    int rc;
    memset(loc, 0, sizeof *loc);
    ef_buf_init(&loc->path);
    if (!uri) return tc__fail(err, EF_EINVAL, 0, NULL, "artifact URI is NULL");
    if (depth > 3) return tc__fail(err, EF_EINVAL, 0, NULL, "artifact URI '%s' loops", uri);
    if (strncmp(uri, "runs:/", 6) == 0) {
        if ((rc = tc_loc_runs(c, uri, loc, depth, err)) != EF_OK) return rc;
        return tc_path_join(&loc->path, sub, err);
    }
    if (strncmp(uri, "models:/", 8) == 0) {
        ef_tc_model_version mv;
        if ((rc = ef_tc_model_resolve(c, uri, &mv, err)) != EF_OK) return rc;
        rc = tc_loc_resolve(c, mv.download_uri, sub, loc, depth + 1, err);
        ef_tc_model_version_release(&mv);
        return rc;
    }
    if (strncmp(uri, "mlflow-artifacts:", 17) == 0) {
        p = uri + 17;
        loc->kind = TC_LOC_PROXY;
        if (p[0] == '/' && p[1] == '/') { /* mlflow-artifacts://host:port/path: another server */
            size_t n = strcspn(p + 2, "/");
            int https = strncmp(c->base, "https:", 6) == 0;
            if (n == 0) {
                loc->base = strdup(c->base);
            } else if ((loc->base = malloc(n + 9))) {
                snprintf(loc->base, n + 9, "%s://%.*s", https ? "https" : "http", (int)n, p + 2);
            }
            p += 2 + n;
        } else {
            loc->base = strdup(c->base);
        }
        if (!loc->base) return tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
    } else if (strncmp(uri, "s3://", 5) == 0) {
        size_t n = strcspn(uri + 5, "/");
        loc->kind = TC_LOC_S3;
        if (n == 0) return tc__fail(err, EF_EINVAL, 0, NULL, "s3 URI '%s' has no bucket", uri);
        if (!(loc->bucket = strndup(uri + 5, n)))
            return tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
        p = uri + 5 + n;
    } else if (strncmp(uri, "file:", 5) == 0) {
        p = uri + 5;
        if (p[0] == '/' && p[1] == '/') {
            p += 2;
            if (strncmp(p, "localhost/", 10) == 0) p += 9;
        }
        if (*p != '/')
            return tc__fail(err, EF_EINVAL, 0, NULL, "file URI '%s' is not absolute", uri);
        loc->kind = TC_LOC_FILE;
    } else {
        size_t n = strcspn(uri, ":/");
        if (uri[n] == ':' && n > 1)
            return tc__fail(err, EF_EUNSUPPORTED, 0, NULL,
                            "artifact URI '%s': scheme not supported (mlflow-artifacts:, "
                            "file:, s3:, runs:/, models:/ or a path)",
                            uri);
        loc->kind = TC_LOC_FILE;
        p = uri;
    }
    if (loc->kind == TC_LOC_FILE && *p == '/' && ef_buf_appendc(&loc->path, '/'))
        return tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
    if ((rc = tc_path_join(&loc->path, p, err)) != EF_OK) return rc;
    return tc_path_join(&loc->path, sub, err);
}

static int tc_s3(ef_tc *c, ef_tc_error *err)
{
    char *e = NULL;
    if (c->s3) return EF_OK;
    if (!(c->s3 = ef_s3_new(NULL, &e))) {
        tc__fail(err, EF_EINVAL, 0, NULL, "S3: %s", e ? e : "out of memory");
        free(e);
        return EF_EINVAL;
    }
    return EF_OK;
}

/* "<loc.path>/<rel>" into out (rel may be ""). */
static int tc_loc_child(const tc_loc *loc, const char *rel, ef_buf *out, ef_tc_error *err)
{
    ef_buf_clear(out);
    if (ef_buf_append(out, loc->path.data ? loc->path.data : "", loc->path.len))
        return tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
    return tc_path_join(out, rel, err);
}

static int tc_proxy_url(const tc_loc *loc, const char *path, ef_buf *url)
{
    ef_buf_clear(url);
    if (ef_buf_appendf(url, "%s/api/2.0/mlflow-artifacts/artifacts/", loc->base) ||
        tc__urlenc(url, path, 1))
        return EF_ENOMEM;
    return EF_OK;
}

/* ---- local files ---------------------------------------------------------------------------- */

/* Copies src to dst through "<dst>.tmp.<pid>" + rename; creates dst's directory. */
static int tc_copy_file(const char *src, const char *dst, ef_tc_error *err)
{
    char tmp[4200], dir[4200], buf[65536];
    int in = -1, out = -1, rc = EF_OK;
    ssize_t n;
    const char *slash = strrchr(dst, '/');
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dst, (long)getpid()) >= (int)sizeof tmp)
        return tc__fail(err, EF_EINVAL, 0, NULL, "path too long: %s", dst);
    if (slash && slash != dst) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - dst), dst);
        if (ef_fs_mkdir_p(dir) != EF_OK) goto io;
    }
    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) goto io;
    if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) goto io;
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            goto io;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) goto io;
            off += w;
        }
    }
    if (close(out) != 0) {
        out = -1;
        goto io;
    }
    out = -1;
    if (rename(tmp, dst) != 0) goto io;
    goto out;
io:
    rc = tc__fail(err, EF_EIO, 0, NULL, "copy %s -> %s: %s", src, dst, strerror(errno));
    unlink(tmp);
out:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return rc;
}

/* ---- upload --------------------------------------------------------------------------------- */

static int tc_upload_file(ef_tc *c, const tc_loc *loc, const char *local, const char *rel,
                          ef_tc_error *err)
{
    ef_buf path, url, data;
    tc_resp r = {0};
    FILE *f = NULL;
    struct stat st;
    int rc;
    ef_buf_init(&path);
    ef_buf_init(&url);
    ef_buf_init(&data);
    ef_buf_init(&r.body);
    if ((rc = tc_loc_child(loc, rel, &path, err)) != EF_OK) goto out;
    if (loc->kind == TC_LOC_FILE) {
        rc = tc_copy_file(local, path.data, err);
    } else if (loc->kind == TC_LOC_S3) {
        char e[512] = "";
        if ((rc = tc_s3(c, err)) != EF_OK) goto out;
        if ((rc = ef_fs_read(local, (size_t)1 << 34, &data)) != EF_OK) {
            rc = tc__fail(err, rc, 0, NULL, "read %s: %s", local, ef_strerror(rc));
            goto out;
        }
        if ((rc = ef_s3_put(c->s3, loc->bucket, path.data, data.data, data.len, NULL, e,
                            sizeof e)) != EF_OK)
            tc__fail(err, rc, 0, NULL, "%s", e);
    } else {
        tc_req q = {.method = "PUT", .content_type = "application/octet-stream", .idempotent = 1};
        if (tc_proxy_url(loc, path.data, &url) != EF_OK) {
            rc = tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
            goto out;
        }
        if (!(f = fopen(local, "rbe")) || fstat(fileno(f), &st) != 0) {
            rc = tc__fail(err, EF_EIO, 0, NULL, "open %s: %s", local, strerror(errno));
            goto out;
        }
        q.url = url.data;
        q.upload = f;
        q.upload_size = (curl_off_t)st.st_size;
        rc = tc__perform(c, &q, &r, url.data, err);
    }
out:
    if (f) fclose(f);
    ef_buf_release(&path);
    ef_buf_release(&url);
    ef_buf_release(&data);
    ef_buf_release(&r.body);
    return rc;
}

static int tc_upload_tree(ef_tc *c, const tc_loc *loc, const char *dir, const char *rel,
                          int depth, ef_tc_error *err)
{
    DIR *d;
    struct dirent *de;
    ef_buf lp, rp;
    int rc = EF_OK;
    if (depth > TC_MAX_DEPTH) return tc__fail(err, EF_EINVAL, 0, NULL, "%s: nested too deep", dir);
    if (!(d = opendir(dir)))
        return tc__fail(err, EF_EIO, 0, NULL, "opendir %s: %s", dir, strerror(errno));
    ef_buf_init(&lp);
    ef_buf_init(&rp);
    while (rc == EF_OK && (de = readdir(d))) {
        struct stat st, lst;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        ef_buf_clear(&lp);
        ef_buf_clear(&rp);
        if (ef_buf_appendf(&lp, "%s/%s", dir, de->d_name) ||
            ef_buf_appendf(&rp, "%s%s%s", rel, *rel ? "/" : "", de->d_name)) {
            rc = tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
            break;
        }
        if (stat(lp.data, &st) != 0 || lstat(lp.data, &lst) != 0) {
            rc = tc__fail(err, EF_EIO, 0, NULL, "stat %s: %s", lp.data, strerror(errno));
            break;
        }
        if (S_ISDIR(st.st_mode) && !S_ISLNK(lst.st_mode)) /* like os.walk: no dir symlinks */
            rc = tc_upload_tree(c, loc, lp.data, rp.data, depth + 1, err);
        else if (S_ISREG(st.st_mode))
            rc = tc_upload_file(c, loc, lp.data, rp.data, err);
    }
    closedir(d);
    ef_buf_release(&lp);
    ef_buf_release(&rp);
    return rc;
}

int ef_tc_artifacts_upload(ef_tc *c, const char *artifact_uri, const char *artifact_path,
                           const char *local_path, ef_tc_error *err)
{
    tc_loc loc;
    struct stat st;
    int rc;
    tc__err_clear(err);
    if (!c || c->magic != TC_MAGIC || !local_path)
        return tc__fail(err, EF_EINVAL, 0, NULL, "artifacts upload: bad arguments");
    if (stat(local_path, &st) != 0)
        return tc__fail(err, errno == ENOENT ? EF_ENOTFOUND : EF_EIO, 0, NULL, "%s: %s", local_path,
                        strerror(errno));
    if ((rc = tc_loc_resolve(c, artifact_uri, artifact_path, &loc, 0, err)) != EF_OK) goto out;
    if (S_ISDIR(st.st_mode)) {
        rc = tc_upload_tree(c, &loc, local_path, "", 0, err);
    } else {
        const char *base = strrchr(local_path, '/');
        rc = tc_upload_file(c, &loc, local_path, base ? base + 1 : local_path, err);
    }
out:
    tc_loc_release(&loc);
    return rc;
}

/* ---- download ------------------------------------------------------------------------------- */

/* GET of one proxied file into dest. probe: the path may not exist (MLflow answers 500 then),
 * so 5xx is not retried. */
static int tc_proxy_get(ef_tc *c, const tc_loc *loc, const char *path, const char *dest,
                        int probe, ef_tc_error *err)
{
    ef_buf url;
    tc_resp r = {0};
    tc_req q = {.method = "GET", .idempotent = !probe};
    FILE *f;
    int rc;
    ef_buf_init(&url);
    ef_buf_init(&r.body);
    if (tc_proxy_url(loc, path, &url) != EF_OK)
        return tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
    if (!(f = fopen(dest, "w+be"))) {
        rc = tc__fail(err, EF_EIO, 0, NULL, "create %s: %s", dest, strerror(errno));
        goto out;
    }
    q.url = url.data;
    q.download = f;
    rc = tc__perform(c, &q, &r, url.data, err);
    if (fclose(f) != 0 && rc == EF_OK)
        rc = tc__fail(err, EF_EIO, 0, NULL, "write %s: %s", dest, strerror(errno));
out:
    ef_buf_release(&url);
    ef_buf_release(&r.body);
    return rc;
}

/* Lists a proxied directory: *files (owned) is the "files" array, possibly empty. */
static int tc_proxy_list(ef_tc *c, const tc_loc *loc, const char *path, json_t **files,
                         ef_tc_error *err)
{
    ef_buf url;
    tc_resp r = {0};
    tc_req q = {.method = "GET", .idempotent = 1};
    json_t *ans = NULL;
    int rc;
    *files = NULL;
    ef_buf_init(&url);
    ef_buf_init(&r.body);
    if (ef_buf_appendf(&url, "%s/api/2.0/mlflow-artifacts/artifacts", loc->base) ||
        (*path && (ef_buf_appends(&url, "?path=") || tc__urlenc(&url, path, 0)))) {
        rc = tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
        goto out;
    }
    q.url = url.data;
    if ((rc = tc__perform(c, &q, &r, url.data, err)) != EF_OK) goto out;
    ans = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : json_object();
    if (!json_is_object(ans)) {
        rc = tc__fail(err, EF_EPROTO, r.status, NULL, "%s: answer is not a JSON object", url.data);
        goto out;
    }
    *files = json_object_get(ans, "files");
    *files = *files ? json_incref(*files) : json_array();
    if (!json_is_array(*files)) {
        json_decref(*files);
        *files = NULL;
        rc = tc__fail(err, EF_EPROTO, r.status, NULL, "%s: 'files' is not an array", url.data);
    }
out:
    json_decref(ans);
    ef_buf_release(&url);
    ef_buf_release(&r.body);
    return rc;
}

/* The last component of a listed path; NULL when it is unusable as a local file name. */
static const char *tc_safe_name(const char *p)
{
    const char *s;
    if (!p) return NULL;
    s = strrchr(p, '/');
    s = s ? s + 1 : p;
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..")) return NULL;
    return s;
}

static int tc_proxy_tree(ef_tc *c, const tc_loc *loc, const char *path, json_t *files,
                         const char *dest, int depth, ef_tc_error *err)
{
    ef_buf child, local;
    json_t *f, *sub = NULL;
    size_t i;
    int rc = EF_OK;
    if (depth > TC_MAX_DEPTH) return tc__fail(err, EF_EINVAL, 0, NULL, "%s: nested too deep", path);
    ef_buf_init(&child);
    ef_buf_init(&local);
    json_array_foreach(files, i, f)
    {
        const char *name = tc_safe_name(json_string_value(json_object_get(f, "path")));
        if (!name) {
            rc = tc__fail(err, EF_EPROTO, 200, NULL, "listing of '%s' holds a bad path", path);
            break;
        }
        ef_buf_clear(&child);
        ef_buf_clear(&local);
        if (ef_buf_appendf(&child, "%s%s%s", path, *path ? "/" : "", name) ||
            ef_buf_appendf(&local, "%s/%s", dest, name)) {
            rc = tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
            break;
        }
        if (json_is_true(json_object_get(f, "is_dir"))) {
            if (mkdir(local.data, 0755) != 0 && errno != EEXIST) {
                rc = tc__fail(err, EF_EIO, 0, NULL, "mkdir %s: %s", local.data, strerror(errno));
                break;
            }
            if ((rc = tc_proxy_list(c, loc, child.data, &sub, err)) == EF_OK)
                rc = tc_proxy_tree(c, loc, child.data, sub, local.data, depth + 1, err);
            json_decref(sub);
            sub = NULL;
        } else {
            rc = tc_proxy_get(c, loc, child.data, local.data, 0, err);
        }
        if (rc != EF_OK) break;
    }
    ef_buf_release(&child);
    ef_buf_release(&local);
    return rc;
}

static int tc_copy_tree(const char *src, const char *dst, int depth, ef_tc_error *err)
{
    DIR *d;
    struct dirent *de;
    ef_buf s, t;
    int rc = EF_OK;
    if (depth > TC_MAX_DEPTH) return tc__fail(err, EF_EINVAL, 0, NULL, "%s: nested too deep", src);
    if (!(d = opendir(src)))
        return tc__fail(err, EF_EIO, 0, NULL, "opendir %s: %s", src, strerror(errno));
    ef_buf_init(&s);
    ef_buf_init(&t);
    while (rc == EF_OK && (de = readdir(d))) {
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        ef_buf_clear(&s);
        ef_buf_clear(&t);
        if (ef_buf_appendf(&s, "%s/%s", src, de->d_name) ||
            ef_buf_appendf(&t, "%s/%s", dst, de->d_name)) {
            rc = tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
            break;
        }
        if (lstat(s.data, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (mkdir(t.data, 0755) != 0 && errno != EEXIST)
                rc = tc__fail(err, EF_EIO, 0, NULL, "mkdir %s: %s", t.data, strerror(errno));
            else
                rc = tc_copy_tree(s.data, t.data, depth + 1, err);
        } else if (S_ISREG(st.st_mode)) {
            rc = tc_copy_file(s.data, t.data, err);
        }
    }
    closedir(d);
    ef_buf_release(&s);
    ef_buf_release(&t);
    return rc;
}

static int tc_s3_collect(void *ctx, const char *key, int64_t size)
{
    (void)size;
    return ef_strlist_push(ctx, key) == EF_OK ? 0 : 1;
}

static int tc_s3_download(ef_tc *c, const tc_loc *loc, const char *dest, ef_tc_error *err)
{
    ef_strlist keys;
    ef_buf prefix, local, data;
    char e[512] = "";
    int rc;
    ef_strlist_init(&keys);
    ef_buf_init(&prefix);
    ef_buf_init(&local);
    ef_buf_init(&data);
    if ((rc = tc_s3(c, err)) != EF_OK) goto out;
    if (ef_buf_appendf(&prefix, "%s%s", loc->path.data ? loc->path.data : "",
                       loc->path.len ? "/" : "")) {
        rc = tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
        goto out;
    }
    if ((rc = ef_s3_list(c->s3, loc->bucket, prefix.data, tc_s3_collect, &keys, e, sizeof e))) {
        tc__fail(err, rc, 0, NULL, "%s", e);
        goto out;
    }
    if (keys.n == 0 && loc->path.len) { /* a single object? */
        const char *name = tc_safe_name(loc->path.data);
        if ((rc = ef_s3_get(c->s3, loc->bucket, loc->path.data, &data, e, sizeof e)) != EF_OK) {
            tc__fail(err, rc, 0, NULL, "%s", e);
            goto out;
        }
        if (!name || ef_buf_appendf(&local, "%s/%s", dest, name)) {
            rc = tc__fail(err, EF_EINVAL, 0, NULL, "bad object name '%s'", loc->path.data);
            goto out;
        }
        if ((rc = ef_fs_write_atomic(local.data, data.data, data.len, 0)) != EF_OK)
            tc__fail(err, rc, 0, NULL, "write %s: %s", local.data, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < keys.n; i++) {
        const char *rel = keys.v[i] + prefix.len;
        ef_buf relp;
        ef_buf_init(&relp);
        ef_buf_clear(&local);
        ef_buf_clear(&data);
        /* Keys come from the bucket: normalise them so none escapes dest. */
        rc = tc_path_join(&relp, rel, err);
        if (rc == EF_OK && (!relp.len || ef_buf_appendf(&local, "%s/%s", dest, relp.data)))
            rc = tc__fail(err, EF_EPROTO, 0, NULL, "bad key '%s'", keys.v[i]);
        ef_buf_release(&relp);
        if (rc != EF_OK) goto out;
        char *slash = strrchr(local.data, '/');
        *slash = 0;
        int mk = ef_fs_mkdir_p(local.data);
        *slash = '/';
        if (mk != EF_OK ||
            (rc = ef_s3_get(c->s3, loc->bucket, keys.v[i], &data, e, sizeof e)) != EF_OK) {
            rc = mk != EF_OK ? EF_EIO : rc;
            tc__fail(err, rc, 0, NULL, "%s", mk != EF_OK ? strerror(errno) : e);
            goto out;
        }
        if ((rc = ef_fs_write_atomic(local.data, data.data, data.len, 0)) != EF_OK) {
            tc__fail(err, rc, 0, NULL, "write %s: %s", local.data, strerror(errno));
            goto out;
        }
    }
out:
    ef_strlist_release(&keys);
    ef_buf_release(&prefix);
    ef_buf_release(&local);
    ef_buf_release(&data);
    return rc;
}

/* Fills the empty directory tmp from loc. */
static int tc_download_into(ef_tc *c, const tc_loc *loc, const char *tmp, ef_tc_error *err)
{
    json_t *files = NULL;
    ef_buf local;
    struct stat st;
    int rc;
    const char *name = tc_safe_name(loc->path.data);
    ef_buf_init(&local);
    if (name && ef_buf_appendf(&local, "%s/%s", tmp, name))
        return tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
    if (loc->kind == TC_LOC_S3) {
        rc = tc_s3_download(c, loc, tmp, err);
    } else if (loc->kind == TC_LOC_FILE) {
        if (stat(loc->path.data, &st) != 0)
            rc = tc__fail(err, errno == ENOENT ? EF_ENOTFOUND : EF_EIO, 0, NULL, "%s: %s",
                          loc->path.data, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = tc_copy_tree(loc->path.data, tmp, 0, err);
        else if (!name)
            rc = tc__fail(err, EF_EINVAL, 0, NULL, "bad artifact path '%s'", loc->path.data);
        else
            rc = tc_copy_file(loc->path.data, local.data, err);
    } else if ((rc = tc_proxy_list(c, loc, loc->path.data, &files, err)) == EF_OK) {
        if (json_array_size(files) > 0) {
            rc = tc_proxy_tree(c, loc, loc->path.data, files, tmp, 0, err);
        } else if (!name) {
            rc = EF_OK; /* the root of an empty artifact store */
        } else {
            /* An empty listing is a file, an empty directory or nothing at all. */
            rc = tc_proxy_get(c, loc, loc->path.data, local.data, 1, err);
            if (rc == EF_ENOTFOUND || rc == EF_EPROTO || rc == EF_EINVAL) {
                unlink(local.data);
                rc = tc__fail(err, EF_ENOTFOUND, err ? err->http_status : 0, NULL,
                              "no artifacts at '%s'", loc->path.data);
            }
        }
    }
    json_decref(files);
    ef_buf_release(&local);
    return rc;
}

/* Puts the directory tmp in place of dest (which may exist, as a file or a directory). */
static int tc_swap_in(const char *tmp, const char *dest, ef_tc_error *err)
{
    struct stat st;
    char old[4200];
    if (lstat(dest, &st) != 0) {
        if (rename(tmp, dest) == 0) return EF_OK;
    } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_EXCHANGE) == 0) {
        ef_fs_rm_rf(tmp); /* now holds the old contents */
        return EF_OK;
    } else if (errno == EINVAL || errno == ENOSYS) { /* file system without exchange */
        snprintf(old, sizeof old, "%s.old.%ld", dest, (long)getpid());
        if (rename(dest, old) == 0) {
            if (rename(tmp, dest) == 0) {
                ef_fs_rm_rf(old);
                return EF_OK;
            }
            rename(old, dest);
        }
    }
    return tc__fail(err, EF_EIO, 0, NULL, "rename %s -> %s: %s", tmp, dest, strerror(errno));
}

int ef_tc_artifacts_download(ef_tc *c, const char *artifact_uri, const char *artifact_path,
                             const char *local_dir, ef_tc_error *err)
{
    tc_loc loc;
    ef_buf dest, tmp;
    int rc, made = 0;
    tc__err_clear(err);
    if (!c || c->magic != TC_MAGIC || !local_dir || !*local_dir)
        return tc__fail(err, EF_EINVAL, 0, NULL, "artifacts download: bad arguments");
    ef_buf_init(&dest);
    ef_buf_init(&tmp);
    if ((rc = tc_loc_resolve(c, artifact_uri, artifact_path, &loc, 0, err)) != EF_OK) goto out;
    if (ef_buf_appends(&dest, local_dir)) goto oom;
    while (dest.len > 1 && dest.data[dest.len - 1] == '/')
        dest.data[--dest.len] = 0;
    if (ef_buf_appendf(&tmp, "%s.tmp.%ld.%u", dest.data, (long)getpid(), c->tmp_seq++)) goto oom;
    {
        char *slash = strrchr(dest.data, '/');
        if (slash && slash != dest.data) {
            *slash = 0;
            rc = ef_fs_mkdir_p(dest.data);
            *slash = '/';
            if (rc != EF_OK) {
                rc = tc__fail(err, EF_EIO, 0, NULL, "mkdir %s: %s", dest.data, strerror(errno));
                goto out;
            }
        }
    }
    if (mkdir(tmp.data, 0755) != 0) {
        rc = tc__fail(err, EF_EIO, 0, NULL, "mkdir %s: %s", tmp.data, strerror(errno));
        goto out;
    }
    made = 1;
    if ((rc = tc_download_into(c, &loc, tmp.data, err)) != EF_OK) goto out;
    if ((rc = tc_swap_in(tmp.data, dest.data, err)) == EF_OK) made = 0;
    goto out;
oom:
    rc = tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
out:
    if (made) ef_fs_rm_rf(tmp.data);
    tc_loc_release(&loc);
    ef_buf_release(&dest);
    ef_buf_release(&tmp);
    return rc;
}
