/* cache.c - models:/ URIs of `edgeflow serve`: resolving one through the tracking server
 * (tracking/client.h) and keeping the model version in the local cache, cache_dir/<name>/<version>
 * (downloaded into a temp directory, then renamed, so a version is never half there); when the
 * tracking server does not answer at start, the newest cached version is served instead.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "serving/serve_int.h"
#include "serving/serving.h"
#include "tracking/client.h"

/* The registered model's name in models:/NAME/..., models:/NAME@ALIAS. */
static int uri_model_name(const char *uri, char *out, size_t len, const char **tail)
{
    const char *p = uri + strlen("models:/");
    size_t n = strcspn(p, "/@");
    if (n == 0 || n >= len || !p[n] || !p[n + 1])
        return EF_EINVAL;
    memcpy(out, p, n);
    out[n] = '\0';
    *tail = p + n + 1;
    return strstr(out, "..") ? EF_EINVAL : EF_OK;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* The cached version to serve when the tracking server cannot be reached: the requested version
 * when the URI names one and it is cached, else the highest cached version number. */
static int newest_cached(const char *cache, const char *name, const char *tail, char *ver,
                         size_t len)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", cache, name);
    DIR *d = opendir(dir);
    if (!d)
        return EF_ENOTFOUND;
    long best = -1;
    int exact = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!all_digits(e->d_name))
            continue;
        if (all_digits(tail) && !strcmp(tail, e->d_name))
            exact = 1;
        long v = strtol(e->d_name, NULL, 10);
        if (v > best)
            best = v;
    }
    closedir(d);
    if (exact)
        snprintf(ver, len, "%s", tail);
    else if (best >= 0)
        snprintf(ver, len, "%ld", best);
    return exact || best >= 0 ? EF_OK : EF_ENOTFOUND;
}

int serve__fetch(serve__ctx *s, const char *uri, int allow_cache, char *name, size_t name_len,
                 char *ver, size_t ver_len, char *dir, size_t dir_len, char *stage,
                 size_t stage_len, ef_ml_err *err)
{
    const char *tail;
    if (uri_model_name(uri, name, name_len, &tail))
        return ef_ml_errf(err, EF_EINVAL, "%s: expected models:/NAME/VERSION, "
                          "models:/NAME/STAGE or models:/NAME@ALIAS", uri);
    const char *cache = serve__opts(s)->cache_dir ? serve__opts(s)->cache_dir : "models";
    if (stage)
        *stage = '\0';
    ef_tc_error e = {0};
    ef_tc_options topt = {.tracking_uri = serve__tracking_uri(s), .connect_timeout_ms = 3000,
                          .max_retries = 1, .token = serve__opts(s)->tracking_token,
                          .insecure_tls = serve__opts(s)->tracking_insecure_tls};
    ef_tc_model_version mv = {0};
    int rc;
    ef_tc *tc = ef_tc_new(&topt, &e);
    if (!tc) {
        rc = EF_EINVAL;
        e.http_status = 0;
    } else {
        rc = ef_tc_model_resolve(tc, uri, &mv, &e);
    }
    if (rc && e.http_status == 0 && !allow_cache) {
        rc = ef_ml_errf(err, rc, "cannot resolve %s: %s", uri, e.message);
        goto out;
    }
    if (rc && e.http_status == 0) {
        /* no tracking server (unset or unreachable): serve what the cache has */
        if (newest_cached(cache, name, tail, ver, ver_len)) {
            rc = ef_ml_errf(err, rc ? rc : EF_EIO, "cannot resolve %s (%s) and no version of "
                            "%s is cached in %s", uri, e.message, name, cache);
            goto out;
        }
        snprintf(dir, dir_len, "%s/%s/%s", cache, name, ver);
        EF_WARN("cannot reach the tracking server for %s (%s): serving the cached version %s "
                "from %s", uri, e.message, ver, dir);
        rc = EF_OK;
        goto out;
    }
    if (rc) {
        rc = ef_ml_errf(err, rc, "cannot resolve %s: %s", uri, e.message);
        goto out;
    }
    snprintf(name, name_len, "%s", mv.name);
    snprintf(ver, ver_len, "%s", mv.version);
    if (stage)
        snprintf(stage, stage_len, "%s", mv.current_stage ? mv.current_stage : "");
    snprintf(dir, dir_len, "%s/%s/%s", cache, mv.name, mv.version);
    if (!ef_fs_exists(dir)) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp-%d", dir, (int)getpid());
        ef_fs_rm_rf(tmp);
        if (ef_fs_mkdir_p(tmp)) {
            rc = ef_ml_errf(err, EF_EIO, "cannot create %s: %s", tmp, strerror(errno));
        } else if ((rc = ef_tc_artifacts_download(tc, mv.download_uri ? mv.download_uri
                                                                      : mv.source,
                                                  "", tmp, &e))) {
            rc = ef_ml_errf(err, rc, "cannot download %s: %s", uri, e.message);
        } else if (rename(tmp, dir)) {
            rc = ef_ml_errf(err, EF_EIO, "cannot move the model into %s: %s", dir,
                            strerror(errno));
        }
        if (rc)
            ef_fs_rm_rf(tmp);
        else
            EF_INFO("downloaded %s (version %s) into %s", uri, mv.version, dir);
    }
out:
    ef_tc_model_version_release(&mv);
    ef_tc_free(tc);
    return rc;
}

int serve__movable_uri(const char *uri)
{
    char name[256];
    const char *tail;
    if (!uri || strncmp(uri, "models:/", 8) || uri_model_name(uri, name, sizeof name, &tail))
        return 0;
    return !all_digits(tail);
}
