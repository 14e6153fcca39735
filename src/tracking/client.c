/* client.c - the tracking client: MLflow's REST API spoken over libcurl (see client.h).
 *
 * Hand-written because there is no packaged C client for MLflow (the official clients are
 * Python, Java, R and JavaScript); the HTTP, TLS and JSON work is done by libcurl and jansson,
 * so the client is request building, MLflow's conventions (limits, tags, models:/ rules), a retry
 * loop, and artifact transfer. This file holds the handle, the HTTP exchange with its retry
 * loop and the request helpers; client_runs.c holds the experiment and run calls,
 * client_artifacts.c artifact transfer and client_registry.c the model registry calls. The four
 * share client_int.h.
 */
#include "tracking/client_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "json/json.h"
#include "s3/s3.h"

#define TC_MAX_ANSWER ((size_t)1 << 30) /* largest JSON answer kept in memory */
#define TC_MAX_BACKOFF_MS 10000

static pthread_once_t tc_curl_once = PTHREAD_ONCE_INIT;
static void tc_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int tc__fail(ef_tc_error *err, int code, long status, const char *ecode, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->http_status = status;
        snprintf(err->error_code, sizeof err->error_code, "%s", ecode ? ecode : "");
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

void tc__err_clear(ef_tc_error *err)
{
    if (err) memset(err, 0, sizeof *err);
}

const char *tc__env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static long tc_env_long(const char *name, long def)
{
    const char *v = tc__env(name);
    char *end = NULL;
    long x;
    if (!v) return def;
    errno = 0;
    x = strtol(v, &end, 10);
    return errno || end == v || *end ? def : x;
}

static char *tc_strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- handle --------------------------------------------------------------------------------- */

ef_tc *ef_tc_new(const ef_tc_options *opt, ef_tc_error *err)
{
    ef_tc_options def = {0};
    ef_tc *c = NULL;
    const char *uri, *host, *user, *pass, *token, *ins;
    size_t n;
    tc__err_clear(err);
    if (!opt) opt = &def;
    pthread_once(&tc_curl_once, tc_curl_init);
    uri = opt->tracking_uri ? opt->tracking_uri : tc__env("MLFLOW_TRACKING_URI");
    if (!uri || !*uri) {
        tc__fail(err, EF_EINVAL, 0, NULL, "no tracking URI: pass one or set MLFLOW_TRACKING_URI");
        return NULL;
    }
    if (strncmp(uri, "http://", 7) == 0)
        host = uri + 7;
    else if (strncmp(uri, "https://", 8) == 0)
        host = uri + 8;
    else {
        tc__fail(err, EF_EUNSUPPORTED, 0, NULL,
                 "tracking URI '%s': only http(s)://host[:port] servers are supported", uri);
        return NULL;
    }
    if (!*host || *host == '/' || strpbrk(uri, " \t\r\n?#")) {
        tc__fail(err, EF_EINVAL, 0, NULL, "tracking URI '%s' has no host or bad characters", uri);
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c || !(c->base = strdup(uri))) goto oom;
    c->magic = TC_MAGIC;
    n = strlen(c->base);
    while (n > (size_t)(host - uri) && c->base[n - 1] == '/')
        c->base[--n] = 0;
    token = opt->token ? opt->token : tc__env("MLFLOW_TRACKING_TOKEN");
    user = opt->username ? opt->username : tc__env("MLFLOW_TRACKING_USERNAME");
    pass = opt->password ? opt->password : tc__env("MLFLOW_TRACKING_PASSWORD");
    if (token) {
        size_t hl = strlen(token) + 32;
        if (!(c->bearer_hdr = malloc(hl))) goto oom;
        snprintf(c->bearer_hdr, hl, "Authorization: Bearer %s", token);
    } else if (user) {
        if (!(c->username = strdup(user)) || !(c->password = strdup(pass ? pass : ""))) goto oom;
    }
    const char *ca = opt->ca_bundle ? opt->ca_bundle : tc__env("MLFLOW_TRACKING_SERVER_CERT_PATH");
    if (ca && !(c->ca_bundle = strdup(ca))) goto oom;
    ins = tc__env("MLFLOW_TRACKING_INSECURE_TLS");
    c->insecure = opt->insecure_tls || (ins && strcasecmp(ins, "true") == 0);
    c->connect_timeout_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 10000;
    c->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms
                                         : 1000 * tc_env_long("MLFLOW_HTTP_REQUEST_TIMEOUT", 120);
    c->max_retries = opt->max_retries < 0   ? 0
                     : opt->max_retries > 0 ? opt->max_retries
                                            : (int)tc_env_long("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 5);
    if (c->max_retries < 0 || c->max_retries > 100) c->max_retries = 5;
    c->backoff_ms = opt->backoff_ms > 0 ? opt->backoff_ms : 250;
    c->rng = (unsigned)getpid() ^ (unsigned)ef_mono_us();
    if (!(c->curl = curl_easy_init())) goto oom;
    return c;
oom:
    ef_tc_free(c);
    tc__fail(err, EF_ENOMEM, 0, NULL, "out of memory");
    return NULL;
}

void ef_tc_free(ef_tc *c)
{
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    ef_s3_free(c->s3);
    free(c->base);
    free(c->username);
    if (c->password) {
        volatile char *p = c->password;
        while (*p)
            *p++ = 0;
        free(c->password);
    }
    free(c->bearer_hdr);
    free(c->ca_bundle);
    c->magic = 0;
    free(c);
}

const char *ef_tc_uri(const ef_tc *c)
{
    return c && c->magic == TC_MAGIC ? c->base : NULL;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

/* RFC 3986 percent-encoding; '/' kept when keep_slash. */
int tc__urlenc(ef_buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
                    ch == '~' || (keep_slash && ch == '/');
        char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        if ((plain ? ef_buf_appendc(b, (char)ch) : ef_buf_append(b, esc, 3)) != EF_OK)
            return EF_ENOMEM;
    }
    return EF_OK;
}

static size_t tc_write_cb(char *p, size_t sz, size_t nm, void *ud)
{
    tc_resp *r = ud;
    size_t len = sz * nm;
    long st = 0;
    if (r->download) {
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &st);
        if (st >= 200 && st < 300) {
            if (fwrite(p, 1, len, r->download) != len) {
                r->werr = 1;
                return 0;
            }
            return len;
        }
    }
    if (r->body.len + len > TC_MAX_ANSWER || ef_buf_append(&r->body, p, len) != EF_OK) {
        r->werr = 2;
        return 0;
    }
    return len;
}

static size_t tc_read_cb(char *p, size_t sz, size_t nm, void *ud)
{
    FILE *f = ud;
    size_t got = fread(p, 1, sz * nm, f);
    if (got == 0 && ferror(f)) return CURL_READFUNC_ABORT;
    return got;
}

/* Transport errors where the request cannot have reached the server. */
static int tc_unsent(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_COULDNT_RESOLVE_PROXY;
}

static int tc_transient_read(CURLcode cc)
{
    return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
           cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE || cc == CURLE_SSL_CONNECT_ERROR;
}

static void tc_backoff(ef_tc *c, int attempt, long retry_after_s)
{
    int64_t ms = c->backoff_ms;
    for (int i = 0; i < attempt && ms < TC_MAX_BACKOFF_MS; i++)
        ms *= 2;
    if (ms > TC_MAX_BACKOFF_MS) ms = TC_MAX_BACKOFF_MS;
    c->rng = c->rng * 1103515245u + 12345u;
    ms = ms * 3 / 4 + (int64_t)((c->rng >> 8) % (unsigned)(ms / 2 + 1));
    if (retry_after_s > 0 && retry_after_s * 1000 > ms)
        ms = retry_after_s * 1000 > TC_MAX_BACKOFF_MS ? TC_MAX_BACKOFF_MS : retry_after_s * 1000;
    ef_sleep_ms(ms);
}

/* Maps a non-2xx answer to an EF code and fills err from MLflow's {"error_code","message"}. */
static int tc_status_error(long status, const ef_buf *body, const char *what, ef_tc_error *err)
{
    json_t *j = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    const char *ec = json_string_value(json_object_get(j, "error_code"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    int code;
    if ((ec && (!strcmp(ec, "RESOURCE_DOES_NOT_EXIST") || !strcmp(ec, "NOT_FOUND"))) ||
        (!ec && status == 404))
        code = EF_ENOTFOUND;
    else if (ec && (!strcmp(ec, "RESOURCE_ALREADY_EXISTS") || !strcmp(ec, "ALREADY_EXISTS")))
        code = EF_EEXIST;
    else if (status == 401 || status == 403)
        code = EF_EAUTH;
    else if (status == 413)
        code = EF_ETOOBIG;
    else if (status == 429 || status == 503)
        code = EF_EAGAIN;
    else if (status >= 400 && status < 500)
        code = EF_EINVAL;
    else
        code = EF_EPROTO;
    if (ec)
        tc__fail(err, code, status, ec, "%s: %s", ec, msg ? msg : "");
    else {
        /* Not MLflow's JSON (a proxy's or a router's page): the first line, printable only. */
        char line[160];
        size_t k = 0;
        for (size_t i = 0; i < body->len && k + 1 < sizeof line && body->data[i] != '\n'; i++)
            line[k++] = (unsigned char)body->data[i] < 0x20 ? ' ' : body->data[i];
        line[k] = 0;
        tc__fail(err, code, status, NULL, "HTTP %ld from %s%s%s", status, what, k ? ": " : "",
                 line);
    }
    json_decref(j);
    return code;
}

static void tc_setopts(ef_tc *c, const tc_req *q, tc_resp *r, struct curl_slist *hdrs)
{
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, q->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "edgeflow-tracking-client/1");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, tc_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    if (c->username) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
    }
    if (c->ca_bundle) curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_bundle);
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (q->upload) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, tc_read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, q->upload);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, q->upload_size);
    } else if (strcmp(q->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
        if (strcmp(q->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    }
}

/* Runs one exchange with retries. 0 when the answer is 2xx (body in r->body unless streamed to
 * q->download), else an EF code with err filled. */
int tc__perform(ef_tc *c, const tc_req *q, tc_resp *r, const char *what, ef_tc_error *err)
{
    struct curl_slist *hdrs = NULL, *t;
    char ct[160];
    int rc = EF_OK;
    CURLcode cc = CURLE_OK;
    r->curl = c->curl;
    r->download = q->download;
    snprintf(ct, sizeof ct, "Content-Type: %s",
             q->content_type ? q->content_type : "application/json");
    if (!(t = curl_slist_append(hdrs, "Expect:"))) goto oom;
    hdrs = t;
    if (strcmp(q->method, "GET") != 0) {
        if (!(t = curl_slist_append(hdrs, ct))) goto oom;
        hdrs = t;
    }
    if (c->bearer_hdr) {
        if (!(t = curl_slist_append(hdrs, c->bearer_hdr))) goto oom;
        hdrs = t;
    }
    for (int attempt = 0;; attempt++) {
        int retry;
        curl_off_t retry_after = 0;
        ef_buf_clear(&r->body);
        r->status = 0;
        r->werr = 0;
        c->curl_err[0] = 0;
        if (q->upload && fseeko(q->upload, 0, SEEK_SET) != 0) goto io;
        if (q->download) {
            fflush(q->download);
            if (fseeko(q->download, 0, SEEK_SET) != 0 || ftruncate(fileno(q->download), 0) != 0)
                goto io;
        }
        curl_easy_reset(c->curl);
        tc_setopts(c, q, r, hdrs);
        cc = curl_easy_perform(c->curl);
        if (r->werr == 1) goto io;
        if (r->werr == 2) goto oom;
        if (cc == CURLE_OK) {
            curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
            if (r->status >= 200 && r->status < 300) break;
            curl_easy_getinfo(c->curl, CURLINFO_RETRY_AFTER, &retry_after);
            retry = r->status == 429 || r->status == 503 ||
                    (q->idempotent && (r->status == 408 || r->status == 500 ||
                                       r->status == 502 || r->status == 504));
        } else {
            retry = tc_unsent(cc) || (q->idempotent && tc_transient_read(cc));
        }
        if (!retry || attempt >= c->max_retries) break;
        tc_backoff(c, attempt, (long)retry_after);
    }
    if (cc != CURLE_OK)
        rc = tc__fail(err, cc == CURLE_OPERATION_TIMEDOUT ? EF_ETIMEDOUT : EF_EIO, 0, NULL,
                      "%s: %s", what, c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
    else if (r->status < 200 || r->status >= 300)
        rc = tc_status_error(r->status, &r->body, what, err);
    goto out;
io:
    rc = tc__fail(err, EF_EIO, 0, NULL, "%s: local file: %s", what, strerror(errno));
    goto out;
oom:
    rc = tc__fail(err, EF_ENOMEM, 0, NULL, "%s: out of memory", what);
out:
    curl_slist_free_all(hdrs);
    return rc;
}

/* Appends key=value pairs of a JSON object as a query string (arrays repeat the key). */
static int tc_query(ef_buf *b, json_t *req)
{
    const char *key;
    json_t *v;
    int first = 1;
    json_object_foreach(req, key, v)
    {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
            char num[EF_JSON_DOUBLE_MAX];
            const char *s = NULL;
            if (json_is_string(e))
                s = json_string_value(e);
            else if (json_is_integer(e))
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(e)), s = num;
            else if (json_is_real(e)) {
                if (ef_json_format_double(json_real_value(e), num, sizeof num) < 0)
                    return EF_EINVAL;
                s = num;
            } else if (json_is_boolean(e))
                s = json_is_true(e) ? "true" : "false";
            if (!s) continue;
            if (ef_buf_appendc(b, first ? '?' : '&') || tc__urlenc(b, key, 0) ||
                ef_buf_appendc(b, '=') || tc__urlenc(b, s, 0))
                return EF_ENOMEM;
            first = 0;
        }
    }
    return EF_OK;
}

int ef_tc_call(ef_tc *c, const char *method, const char *endpoint, json_t *req, int idempotent,
               json_t **resp, ef_tc_error *err)
{
    ef_buf url, what, body;
    tc_resp r = {0};
    tc_req q = {0};
    int rc, is_get;
    json_t *empty = NULL, *ans = NULL;
    ef_buf_init(&url);
    ef_buf_init(&what);
    ef_buf_init(&body);
    ef_buf_init(&r.body);
    tc__err_clear(err);
    if (resp) *resp = NULL;
    if (!c || c->magic != TC_MAGIC || !method || !endpoint)
        return tc__fail(err, EF_EINVAL, 0, NULL, "ef_tc_call: bad arguments");
    is_get = strcmp(method, "GET") == 0;
    if (ef_buf_appendf(&url, "%s/api/2.0/%s", c->base, endpoint) ||
        ef_buf_appendf(&what, "%s /api/2.0/%s", method, endpoint))
        goto oom;
    if (is_get && req && (rc = tc_query(&url, req)) != EF_OK) goto fail;
    if (!is_get) {
        if (!req && !(req = empty = json_object())) goto oom;
        if ((rc = ef_json_dump(req, &body)) != EF_OK) goto fail;
    }
    q.method = method;
    q.url = url.data;
    q.body = body.data;
    q.body_len = body.len;
    q.idempotent = idempotent || is_get;
    if ((rc = tc__perform(c, &q, &r, what.data, err)) != EF_OK) goto out;
    if (resp) {
        if (r.body.len == 0)
            ans = json_object();
        else
            ans = json_loadb(r.body.data, r.body.len, 0, NULL);
        if (!json_is_object(ans)) {
            rc = tc__fail(err, EF_EPROTO, r.status, NULL, "%s: the answer is not a JSON object",
                          what.data);
            goto out;
        }
        *resp = ans;
        ans = NULL;
    }
    rc = EF_OK;
    goto out;
oom:
    rc = EF_ENOMEM;
fail:
    tc__fail(err, rc, 0, NULL, "%s: %s", what.data ? what.data : endpoint, ef_strerror(rc));
out:
    json_decref(ans);
    json_decref(empty);
    ef_buf_release(&url);
    ef_buf_release(&what);
    ef_buf_release(&body);
    ef_buf_release(&r.body);
    return rc;
}

/* ---- JSON helpers --------------------------------------------------------------------------- */

char *tc__jdup(json_t *o, const char *key)
{
    return tc_strdup_or_null(json_string_value(json_object_get(o, key)));
}

/* Builds a request object from a json_pack format; NULL strings in %s? are left out by jansson
 * ("s?" packs null, which we strip so the server sees the field as unset). */
json_t *tc__strip_nulls(json_t *o)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, k, v)
    {
        if (json_is_null(v)) json_object_del(o, k);
    }
    return o;
}

int tc__post(ef_tc *c, const char *endpoint, json_t *req, int idempotent, json_t **resp,
             ef_tc_error *err)
{
    int rc;
    if (!req)
        return tc__fail(err, EF_ENOMEM, 0, NULL, "%s: out of memory (or NULL argument)", endpoint);
    rc = ef_tc_call(c, "POST", endpoint, tc__strip_nulls(req), idempotent, resp, err);
    json_decref(req);
    return rc;
}

int tc__get(ef_tc *c, const char *endpoint, json_t *req, json_t **resp, ef_tc_error *err)
{
    int rc;
    if (!req)
        return tc__fail(err, EF_ENOMEM, 0, NULL, "%s: out of memory (or NULL argument)", endpoint);
    rc = ef_tc_call(c, "GET", endpoint, tc__strip_nulls(req), 1, resp, err);
    json_decref(req);
    return rc;
}
