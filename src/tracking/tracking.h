/* tracking.h - experiment tracking and model registry speaking MLflow 2.x's REST API, served by
 * `edgeflow server` next to the store API, so MLflow clients work unchanged with
 * MLFLOW_TRACKING_URI=http://host:port. Reference: shared/specs/mlflow-api.md (MLflow 2.12.2).
 *
 * State lives in a database behind sql/ (SQLite by default, PostgreSQL at scale); artifacts in a
 * local folder or S3, proxied through /api/2.0/mlflow-artifacts/ so clients need only the URI.
 * Thread safety: every route handler may run on any HTTP thread; the handle is shared.
 */
#ifndef EF_TRACKING_TRACKING_H
#define EF_TRACKING_TRACKING_H

#include <stdint.h>

struct ef_http_server;
typedef struct ef_tracking ef_tracking;

typedef struct ef_tracking_options {
    const char *backend_uri;          /* "sqlite:/path/tracking.db" or "postgresql://..." */
    const char *artifacts_destination; /* where proxied artifacts live: a folder path,
                                          "file:///dir" or "s3://bucket/prefix" */
    const char *default_artifact_root; /* artifact_location of new experiments; default
                                          "mlflow-artifacts:/" (proxied) */
    int durable;                      /* fsync every commit (SQLite synchronous=FULL) */
    /* S3 for artifacts (NULL: environment, as s3/s3.h documents) */
    const char *s3_endpoint, *s3_region;
} ef_tracking_options;

/* Opens the backend (creating/migrating the schema, creating experiment "0" "Default") and the
 * artifact repository. On failure returns an EF_E* code and *errmsg (malloc'd). */
int ef_tracking_open(const ef_tracking_options *opt, ef_tracking **out, char **errmsg);
void ef_tracking_free(ef_tracking *t);

/* Registers every MLflow route under /api/2.0/ and /ajax-api/2.0/ (tracking, registry,
 * artifact proxy), plus GET /version. The handle must outlive the server. 0 or EF_E*. */
int ef_tracking_register(struct ef_http_server *http, ef_tracking *t);

#endif
