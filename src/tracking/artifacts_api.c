/* artifacts_api.c - the artifact routes of `edgeflow server`: MLflow's artifact proxy
 * (/api/2.0/mlflow-artifacts/...: download, upload, delete, listing, and the multipart-upload
 * routes answering 501) and the run artifact listing (/api/2.0/mlflow/artifacts/list, which also
 * lists locations clients write directly). The repository behind them is artifacts.c (see its
 * header for the MLflow behaviour reproduced); paths go through artifact_path.h.
 */
#include "tracking/artifact_path.h"
#include "tracking/trk_int.h"

#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What MLflow answers on the proxy routes when the server does not serve artifacts. */
static int proxy_enabled(ef_http_req *r, ef_tracking *t)
{
    if (t->artifacts) return 1;
    trk_err e;
    trk__artifacts_fail(
        &e, TRK_TEMPORARILY_UNAVAILABLE,
        "Endpoint: %s disabled due to the mlflow server running with `--no-serve-artifacts`. "
        "To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`",
        ef_http_req_path(r));
    trk__reply_error(r, &e);
    return 0;
}

/* The {path*} parameter, normalised into norm (root "" refused). 0, or -1 after replying. */
static int path_param(ef_http_req *r, char *norm, size_t len)
{
    trk_err e;
    if (trk__artifact_path_normalize(ef_http_req_param(r, "path"), norm, len, &e) != 0 ||
        (!*norm && trk__artifacts_fail(&e, TRK_INVALID_PARAMETER_VALUE, "Invalid path"))) {
        trk__reply_error(r, &e);
        return -1;
    }
    return 0;
}

static void art_download(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    char norm[TRK_ARTIFACT_PATH_MAX + 1], disp[TRK_ARTIFACT_PATH_MAX + 32];
    trk_err e;
    ef_buf data;
    (void)msg;
    if (!proxy_enabled(r, t) || path_param(r, norm, sizeof norm) != 0) return;
    ef_buf_init(&data);
    if (trk__artifacts_get(t->artifacts, norm, &data, &e) != 0) {
        ef_buf_release(&data);
        trk__reply_error(r, &e);
        return;
    }
    const char *leaf = strrchr(norm, '/');
    snprintf(disp, sizeof disp, "attachment; filename=%s", leaf ? leaf + 1 : norm);
    ef_http_add_header(r, "Content-Disposition", disp);
    ef_http_add_header(r, "X-Content-Type-Options", "nosniff");
    size_t len;
    char *body = ef_buf_take(&data, &len);
    if (!body) {
        trk__artifacts_fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        trk__reply_error(r, &e);
        return;
    }
    ef_http_reply_take(r, 200, trk__artifact_mime_type(norm), body, len);
}

static void art_upload(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    char norm[TRK_ARTIFACT_PATH_MAX + 1];
    trk_err e;
    size_t len;
    (void)msg;
    if (!proxy_enabled(r, t) || path_param(r, norm, sizeof norm) != 0) return;
    const char *body = ef_http_req_body(r, &len);
    if (trk__artifacts_put(t->artifacts, norm, body, len, &e) != 0) {
        trk__reply_error(r, &e);
        return;
    }
    trk__reply(r, json_object());
}

static void art_delete(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    char norm[TRK_ARTIFACT_PATH_MAX + 1];
    trk_err e;
    (void)msg;
    if (!proxy_enabled(r, t) || path_param(r, norm, sizeof norm) != 0) return;
    if (trk__artifacts_delete(t->artifacts, norm, &e) != 0) {
        trk__reply_error(r, &e);
        return;
    }
    trk__reply(r, json_object());
}

/* {"files": [...]} from l (omitted when empty, as proto3 JSON does); prefix: prepended with '/'
 * to each name (run listings), or NULL. NULL on OOM. */
static json_t *files_json(json_t *doc, const trk_file_list *l, const char *prefix)
{
    if (!doc || l->n == 0) return doc;
    json_t *files = json_array();
    if (!files || json_object_set_new(doc, "files", files) != 0) goto fail;
    for (size_t i = 0; i < l->n; i++) {
        const trk_file_info *f = &l->items[i];
        json_t *fi = json_object(), *path;
        if (!fi || json_array_append_new(files, fi) != 0) goto fail;
        if (prefix && *prefix) {
            char *p = NULL;
            if (asprintf(&p, "%s/%s", prefix, f->path) < 0) goto fail;
            path = json_string(p);
            free(p);
        } else {
            path = json_string(f->path);
        }
        if (json_object_set_new(fi, "path", path) != 0 ||
            json_object_set_new(fi, "is_dir", json_boolean(f->is_dir)) != 0 ||
            (!f->is_dir && json_object_set_new(fi, "file_size", json_integer(f->size)) != 0))
            goto fail;
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

static void art_list(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    trk_err e;
    trk_file_list l = {0};
    const char *path = "";
    if (!proxy_enabled(r, t)) return;
    if (trk__str(msg, "path", 0, &path, &e) < 0 ||
        trk__artifacts_list(t->artifacts, path, &l, &e) != 0) {
        trk__reply_error(r, &e);
        return;
    }
    json_t *doc = files_json(json_object(), &l, NULL);
    trk__file_list_release(&l);
    if (!doc) {
        trk__artifacts_fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        trk__reply_error(r, &e);
        return;
    }
    trk__reply(r, doc);
}

/* mpu/create, mpu/complete, mpu/abort: the checks MLflow makes, in its order, then 501. */
static void art_mpu(ef_http_req *r, ef_tracking *t, const json_t *msg, int needs_parts)
{
    char norm[TRK_ARTIFACT_PATH_MAX + 1];
    trk_err e;
    const char *path;
    if (!proxy_enabled(r, t) || path_param(r, norm, sizeof norm) != 0) return;
    if (trk__str(msg, "path", 1, &path, &e) < 0) {
        trk__reply_error(r, &e);
        return;
    }
    if (needs_parts && !json_object_get(msg, "parts")) {
        trk__artifacts_fail(
            &e, TRK_INVALID_PARAMETER_VALUE,
            "Missing value for required parameter 'parts'. See the API docs for more "
            "information about request parameters.");
        trk__reply_error(r, &e);
        return;
    }
    trk__artifacts_fail(&e, TRK_NOT_IMPLEMENTED,
                        "Multipart upload is not supported for the current artifact repository");
    trk__reply_error(r, &e);
}

static void art_mpu_create(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    art_mpu(r, t, msg, 0);
}

static void art_mpu_complete(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    art_mpu(r, t, msg, 1);
}

static void art_mpu_abort(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    art_mpu(r, t, msg, 0);
}

/* The run's artifact_uri into *uri (malloc'd). 0 or -1 with e. */
static int run_artifact_uri(ef_tracking *t, const char *run_id, char **uri, trk_err *e)
{
    ef_sql *db = NULL;
    ef_sql_stmt *st = NULL;
    int rc = -1;
    *uri = NULL;
    if (trk__reader(t, &db, e) != 0) return -1;
    if (ef_sql_prepare(db, "SELECT artifact_uri FROM runs WHERE run_uuid = ?", &st) != EF_OK ||
        ef_sql_bind_text(st, 1, run_id, strlen(run_id)) != EF_OK) {
        trk__fail_db(e, db, "artifacts/list");
        goto out;
    }
    int s = ef_sql_step(st);
    if (s == EF_SQL_DONE) {
        trk__artifacts_fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", run_id);
        goto out;
    }
    if (s != EF_SQL_ROW) {
        trk__fail_db(e, db, "artifacts/list");
        goto out;
    }
    const char *v = ef_sql_column_text(st, 0, NULL);
    *uri = strdup(v ? v : "");
    if (!*uri) {
        trk__artifacts_fail(e, TRK_INTERNAL_ERROR, "out of memory");
        goto out;
    }
    rc = 0;
out:
    ef_sql_finalize(st);
    trk__release(t, db);
    return rc;
}

/* GET /mlflow/artifacts/list: a run's artifacts, paths relative to the run's artifact root. */
static void run_list_artifacts(ef_http_req *r, ef_tracking *t, const json_t *msg)
{
    char norm[TRK_ARTIFACT_PATH_MAX + 1] = "", dest[2 * TRK_ARTIFACT_PATH_MAX + 2];
    trk_err e;
    const char *run_id, *path = NULL;
    char *uri = NULL, *errmsg = NULL;
    struct trk_artifacts *other = NULL;
    trk_file_list l = {0};
    json_t *doc = NULL;
    if (trk__run_id(msg, &run_id, &e) < 0 || trk__str(msg, "path", 0, &path, &e) < 0) goto error;
    if (path && trk__artifact_path_normalize(path, norm, sizeof norm, &e) != 0) goto error;
    if (run_artifact_uri(t, run_id, &uri, &e) != 0) goto error;
    if (strncmp(uri, "mlflow-artifacts:", 17) == 0) {
        /* mlflow-artifacts:/<rest> or mlflow-artifacts://host:port/<rest>: <rest> is a path
         * under the proxy's destination */
        const char *rest = uri + 17;
        if (strncmp(rest, "//", 2) == 0) {
            rest = strchr(rest + 2, '/');
            if (!rest) rest = "";
        }
        while (*rest == '/')
            rest++;
        if (!proxy_enabled(r, t)) goto out;
        snprintf(dest, sizeof dest, "%s%s%s", rest, *rest && *norm ? "/" : "", norm);
        if (trk__artifacts_list(t->artifacts, dest, &l, &e) != 0) goto error;
    } else if (*uri) {
        /* a location clients write directly (folder or S3): list it like MLflow's repository */
        int orc =
            trk__artifacts_open_uri(uri, 0, trk__artifacts_s3_endpoint(t->artifacts),
                                    trk__artifacts_s3_region(t->artifacts), 0, &other, &errmsg);
        if (orc == EF_OK) {
            if (trk__artifacts_list(other, norm, &l, &e) != 0) goto error;
        } else if (orc != EF_ENOTFOUND) {
            trk__artifacts_fail(&e, TRK_INTERNAL_ERROR, "%s",
                                errmsg ? errmsg : "cannot open the artifact root");
            goto error;
        }
    }
    doc = json_object();
    if (!doc || json_object_set_new(doc, "root_uri", json_string(uri)) != 0 ||
        !(doc = files_json(doc, &l, norm))) {
        trk__artifacts_fail(&e, TRK_INTERNAL_ERROR, "out of memory");
        goto error;
    }
    trk__reply(r, doc);
    doc = NULL;
    goto out;
error:
    trk__reply_error(r, &e);
out:
    json_decref(doc);
    trk__file_list_release(&l);
    trk__artifacts_free(other);
    free(errmsg);
    free(uri);
}

const trk_route trk__artifact_routes[] = {
    {"GET", "/mlflow-artifacts/artifacts/{path*}", art_download, 1},
    {"PUT", "/mlflow-artifacts/artifacts/{path*}", art_upload, 1},
    {"DELETE", "/mlflow-artifacts/artifacts/{path*}", art_delete, 1},
    {"GET", "/mlflow-artifacts/artifacts", art_list, 0},
    {"POST", "/mlflow-artifacts/mpu/create/{path*}", art_mpu_create, 0},
    {"POST", "/mlflow-artifacts/mpu/complete/{path*}", art_mpu_complete, 0},
    {"POST", "/mlflow-artifacts/mpu/abort/{path*}", art_mpu_abort, 0},
    {"GET", "/mlflow/artifacts/list", run_list_artifacts, 0},
    {NULL, NULL, NULL, 0},
};
