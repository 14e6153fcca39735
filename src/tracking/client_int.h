/* client_int.h - what the files of the tracking client share (prefix tc__; not a public API):
 * the handle, one HTTP exchange with retries, and the request/answer helpers of client.c that
 * client_runs.c (experiment and run calls), client_artifacts.c (artifact transfer) and
 * client_registry.c (model registry calls) build on.
 *
 * Errors: EF_* codes from base/err.h with the ef_tc_error filled, as in client.h.
 */
#ifndef EF_TRACKING_CLIENT_INT_H
#define EF_TRACKING_CLIENT_INT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/buf.h"
#include "s3/s3.h"
#include "tracking/client.h"

#define TC_MAGIC 0x54434c49u

struct ef_tc {
    unsigned magic;
    CURL *curl;
    char *base; /* scheme://host[:port][/prefix], no trailing '/' */
    char *username, *password;
    char *bearer_hdr; /* "Authorization: Bearer <token>" */
    char *ca_bundle;
    long connect_timeout_ms, timeout_ms, backoff_ms;
    int max_retries, insecure;
    unsigned rng;
    unsigned tmp_seq;
    ef_s3 *s3; /* created on the first s3:// artifact URI */
    char curl_err[CURL_ERROR_SIZE];
};

/* One HTTP exchange. */
typedef struct tc_req {
    const char *method;
    const char *url;
    const char *body;
    size_t body_len;
    const char *content_type;
    FILE *upload; /* PUT body streamed from a file */
    curl_off_t upload_size;
    FILE *download; /* 2xx body streamed to a file */
    int idempotent;
} tc_req;

typedef struct tc_resp {
    CURL *curl;
    long status;
    ef_buf body;
    FILE *download;
    int werr; /* 1: local write failed, 2: OOM or answer too big */
} tc_resp;

/* Fills err (when not NULL: HTTP status, MLflow error_code, printf-style message) and returns
 * code, so `return tc__fail(err, EF_EINVAL, 0, NULL, "...")` reads well. */
int tc__fail(ef_tc_error *err, int code, long status, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void tc__err_clear(ef_tc_error *err);
/* RFC 3986 percent-encoding of s appended to b; '/' kept when keep_slash. EF_ENOMEM or 0. */
int tc__urlenc(ef_buf *b, const char *s, int keep_slash);
/* Runs one exchange with retries. 0 when the answer is 2xx (body in r->body unless streamed to
 * q->download), else an EF code with err filled. r is the caller's (zeroed, or r->body
 * initialised); the caller releases r->body. */
int tc__perform(ef_tc *c, const tc_req *q, tc_resp *r, const char *what, ef_tc_error *err);
/* malloc'd copy of the string member key of o, NULL if absent (or OOM). */
char *tc__jdup(json_t *o, const char *key);
/* The environment variable name, NULL when unset or empty. */
const char *tc__env(const char *name);
/* Deletes the null members of o (what json_pack's "s?" gives for a NULL string, so the server
 * sees the field as unset) and returns o. */
json_t *tc__strip_nulls(json_t *o);
/* POST / GET endpoint ("mlflow/...") with req (a new reference, consumed even on error; NULL
 * from a failed json_pack gives EF_ENOMEM); null members of req are dropped first. *resp (if
 * resp) is the answer object, a new reference. */
int tc__post(ef_tc *c, const char *endpoint, json_t *req, int idempotent, json_t **resp,
             ef_tc_error *err);
int tc__get(ef_tc *c, const char *endpoint, json_t *req, json_t **resp, ef_tc_error *err);

#endif
