/* s3.h - a small S3 client over libcurl: SigV4 signing by libcurl's CURLOPT_AWS_SIGV4, path-style
 * requests by default, x-amz-content-sha256 on every request (computed with OpenSSL), multipart
 * upload for large objects so a failed upload never leaves a partial object. shared/specs/s3.md.
 *
 * Thread safety: one handle per thread.
 */
#ifndef EF_S3_S3_H
#define EF_S3_S3_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef struct ef_s3 ef_s3;

typedef struct ef_s3_config {
    const char *endpoint;   /* "http://127.0.0.1:9000"; NULL -> $MLFLOW_S3_ENDPOINT_URL, else AWS */
    const char *region;     /* NULL -> $AWS_REGION, $AWS_DEFAULT_REGION, "us-east-1" */
    const char *access_key; /* NULL -> $AWS_ACCESS_KEY_ID */
    const char *secret_key; /* NULL -> $AWS_SECRET_ACCESS_KEY */
    const char *session_token; /* NULL -> $AWS_SESSION_TOKEN (optional) */
    int virtual_host;       /* 1: bucket.host style */
    long timeout_s;         /* per request, default 60 */
    size_t multipart_threshold; /* default 16 MiB */
} ef_s3_config;

/* NULL with *err (malloc'd) on missing credentials or bad endpoint. */
ef_s3 *ef_s3_new(const ef_s3_config *cfg, char **err);
void ef_s3_free(ef_s3 *s);

/* Each call returns 0 or an EF_E* code (EF_ENOTFOUND for 404/NoSuchKey, EF_EAUTH for 403,
 * EF_EIO for transport errors, EF_EPROTO for other S3 errors) and, on failure, a readable message
 * in err ("PUT s3://b/k: 403 SignatureDoesNotMatch: ..."). */
int ef_s3_create_bucket(ef_s3 *s, const char *bucket, char *err, size_t errlen); /* exists = ok */
int ef_s3_put(ef_s3 *s, const char *bucket, const char *key, const void *data, size_t len,
              const char *content_type, char *err, size_t errlen);
int ef_s3_get(ef_s3 *s, const char *bucket, const char *key, ef_buf *out, char *err,
              size_t errlen);
int ef_s3_head(ef_s3 *s, const char *bucket, const char *key, int64_t *size, char *err,
               size_t errlen);
int ef_s3_delete(ef_s3 *s, const char *bucket, const char *key, char *err, size_t errlen);
/* ListObjectsV2 over all pages; cb per key, non-zero return stops. */
typedef int (*ef_s3_list_cb)(void *ctx, const char *key, int64_t size);
int ef_s3_list(ef_s3 *s, const char *bucket, const char *prefix, ef_s3_list_cb cb, void *ctx,
               char *err, size_t errlen);

#endif
