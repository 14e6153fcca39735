/* s3.c - a small S3 client over libcurl; see s3.h and shared/specs/s3.md.
 *
 * Hand-written on top of libcurl because Debian 12 packages no C S3 SDK (libaws-cpp is C++ and
 * enormous); libcurl already signs requests (CURLOPT_AWS_SIGV4), so what is left here is URL
 * building, the payload hash header, a tolerant reader for the few XML elements S3 answers with,
 * and the multipart state machine:
 *
 *   put(len <= threshold):  PUT /b/k                                   -> done
 *   put(len >  threshold):  POST /b/k?uploads=            -> UploadId
 *                           PUT  /b/k?partNumber=N&uploadId=U  (N = 1..) -> ETag each
 *                           POST /b/k?uploadId=U  <CompleteMultipartUpload> -> done
 *                           any failure after the first step: DELETE /b/k?uploadId=U (abort)
 *   so the object appears whole or not at all.
 *
 * libcurl 7.88 puts the query string into the canonical request as it is, so every query here
 * is written already canonical: parameters sorted by name, values SigV4-encoded, "name=" for
 * flags. The object key is SigV4-encoded too ('/' kept), which is what S3 canonicalises it to.
 */
#include "s3/s3.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#define S3_MAGIC 0x53334346u
#define S3_MIN_PART (5u * 1024 * 1024)
#define S3_MAX_PARTS 10000u

struct ef_s3 {
    unsigned magic;
    CURL *curl;
    char *endpoint; /* scheme://host[:port], no trailing slash */
    char *scheme;   /* "http" / "https" */
    char *hostport; /* host[:port] */
    char *region;
    char *access_key, *secret_key, *session_token;
    char sigv4[128];
    int virtual_host;
    long timeout_s;
    size_t multipart_threshold;
    char curl_err[CURL_ERROR_SIZE];
};

/* One request's answer. */
typedef struct s3_resp {
    long status;
    ef_buf body;
    char etag[128];
    int64_t content_length;
} s3_resp;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static const char *first_env(const char *a, const char *b)
{
    const char *v = getenv(a);
    if ((!v || !*v) && b) v = getenv(b);
    return v && *v ? v : NULL;
}

static int set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return 0;
}

ef_s3 *ef_s3_new(const ef_s3_config *cfg, char **err)
{
    ef_s3_config def = {0};
    ef_s3 *s = NULL;
    const char *what = "out of memory";
    const char *ep = NULL;
    if (!cfg) cfg = &def;
    pthread_once(&curl_once, curl_init_once);
    s = calloc(1, sizeof *s);
    if (!s) goto fail;
    s->magic = S3_MAGIC;
    const char *region = cfg->region ? cfg->region : first_env("AWS_REGION", "AWS_DEFAULT_REGION");
    if (!region) region = "us-east-1";
    const char *ak = cfg->access_key ? cfg->access_key : first_env("AWS_ACCESS_KEY_ID", NULL);
    const char *sk = cfg->secret_key ? cfg->secret_key : first_env("AWS_SECRET_ACCESS_KEY", NULL);
    const char *tok =
        cfg->session_token ? cfg->session_token : first_env("AWS_SESSION_TOKEN", NULL);
    ep = cfg->endpoint ? cfg->endpoint : first_env("MLFLOW_S3_ENDPOINT_URL", NULL);
    char awsep[160];
    if (!ep) {
        snprintf(awsep, sizeof awsep, "https://s3.%s.amazonaws.com", region);
        ep = awsep;
    }
    if (!ak || !sk) {
        what = "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
        goto fail;
    }
    const char *sep = strstr(ep, "://");
    if (!sep || sep == ep || !sep[3]) {
        what = "bad S3 endpoint (want http://host[:port] or https://host[:port])";
        goto fail;
    }
    if (strlen(region) > 64 || strpbrk(region, ":/ ")) {
        what = "bad S3 region";
        goto fail;
    }
    s->scheme = strndup(ep, (size_t)(sep - ep));
    const char *host = sep + 3;
    size_t hl = strcspn(host, "/?#");
    s->hostport = strndup(host, hl);
    s->region = strdup(region);
    s->access_key = strdup(ak);
    s->secret_key = strdup(sk);
    s->session_token = dup_or_null(tok);
    if (!s->scheme || !s->hostport || !s->region || !s->access_key || !s->secret_key ||
        (tok && !s->session_token))
        goto fail;
    if (strcmp(s->scheme, "http") != 0 && strcmp(s->scheme, "https") != 0) {
        what = "bad S3 endpoint scheme (want http or https)";
        goto fail;
    }
    size_t el = strlen(s->scheme) + 3 + hl + 1;
    s->endpoint = malloc(el);
    if (!s->endpoint) goto fail;
    snprintf(s->endpoint, el, "%s://%s", s->scheme, s->hostport);
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->region);
    s->virtual_host = cfg->virtual_host;
    s->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 60;
    s->multipart_threshold = cfg->multipart_threshold ? cfg->multipart_threshold : 16u << 20;
    s->curl = curl_easy_init();
    if (!s->curl) goto fail;
    return s;
fail:
    if (err) *err = strdup(what);
    ef_s3_free(s);
    return NULL;
}

void ef_s3_free(ef_s3 *s)
{
    if (!s) return;
    if (s->curl) curl_easy_cleanup(s->curl);
    free(s->endpoint);
    free(s->scheme);
    free(s->hostport);
    free(s->region);
    free(s->access_key);
    if (s->secret_key) {
        volatile char *p = s->secret_key;
        while (*p)
            *p++ = 0;
        free(s->secret_key);
    }
    free(s->session_token);
    s->magic = 0;
    free(s);
}

/* ---- encoding and XML ------------------------------------------------------------------- */

/* SigV4 URI encoding: A-Z a-z 0-9 - _ . ~ as is, '/' as is when keep_slash, else %XX. */
static int s3__uri_encode(ef_buf *b, const char *s, size_t len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if ((plain ? ef_buf_appendc(b, (char)c) : ef_buf_append(b, esc, 3)) != EF_OK)
            return EF_ENOMEM;
    }
    return EF_OK;
}

/* Appends the text of the first <tag>...</tag> found at or after *pos, XML entities decoded;
 * advances *pos past it. Returns 1 when found, 0 when not, EF_ENOMEM. With decode 0 the text
 * is copied raw (for an element whose children are read next). Tolerant: ignores attributes and
 * namespaces, does not validate. */
static int s3__xml_tag(const char *xml, size_t len, size_t *pos, const char *tag, ef_buf *out,
                       int decode)
{
    size_t tl = strlen(tag);
    size_t i = pos ? *pos : 0;
    while (i + tl + 2 <= len) {
        const char *lt = memchr(xml + i, '<', len - i);
        if (!lt) return 0;
        i = (size_t)(lt - xml) + 1;
        if (i + tl > len || memcmp(xml + i, tag, tl) != 0) continue;
        char after = i + tl < len ? xml[i + tl] : '\0';
        if (after != '>' && after != ' ' && after != '/') continue;
        const char *gt = memchr(xml + i, '>', len - i);
        if (!gt) return 0;
        size_t start = (size_t)(gt - xml) + 1;
        if (gt[-1] == '/') { /* <Tag/> */
            if (pos) *pos = start;
            return 1;
        }
        size_t end = start;
        while (end + tl + 3 <= len &&
               !(xml[end] == '<' && xml[end + 1] == '/' && memcmp(xml + end + 2, tag, tl) == 0 &&
                 xml[end + 2 + tl] == '>'))
            end++;
        if (end + tl + 3 > len) return 0;
        for (size_t k = start; k < end; k++) {
            int rc;
            if (!decode || xml[k] != '&') {
                rc = ef_buf_appendc(out, xml[k]);
            } else {
                const char *semi = memchr(xml + k, ';', end - k);
                size_t el = semi ? (size_t)(semi - (xml + k)) + 1 : 0;
                static const char *ents[][2] = {{"&amp;", "&"},
                                                {"&lt;", "<"},
                                                {"&gt;", ">"},
                                                {"&quot;", "\""},
                                                {"&apos;", "'"}};
                const char *rep = NULL;
                for (size_t e = 0; el && e < 5; e++)
                    if (strlen(ents[e][0]) == el && memcmp(xml + k, ents[e][0], el) == 0)
                        rep = ents[e][1];
                if (rep) {
                    rc = ef_buf_appends(out, rep);
                    k += el - 1;
                } else if (el > 3 && xml[k + 1] == '#') {
                    unsigned long cp = xml[k + 2] == 'x' ? strtoul(xml + k + 3, NULL, 16)
                                                         : strtoul(xml + k + 2, NULL, 10);
                    char u[4];
                    size_t ul = 0;
                    if (cp < 0x80) {
                        u[ul++] = (char)cp;
                    } else if (cp < 0x800) {
                        u[ul++] = (char)(0xc0 | (cp >> 6));
                        u[ul++] = (char)(0x80 | (cp & 0x3f));
                    } else if (cp < 0x10000) {
                        u[ul++] = (char)(0xe0 | (cp >> 12));
                        u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        u[ul++] = (char)(0x80 | (cp & 0x3f));
                    } else {
                        u[ul++] = (char)(0xf0 | ((cp >> 18) & 0x07));
                        u[ul++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                        u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        u[ul++] = (char)(0x80 | (cp & 0x3f));
                    }
                    rc = ef_buf_append(out, u, ul);
                    k += el - 1;
                } else {
                    rc = ef_buf_appendc(out, '&');
                }
            }
            if (rc != EF_OK) return EF_ENOMEM;
        }
        if (pos) *pos = end + tl + 3;
        return 1;
    }
    return 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* ---- one request ------------------------------------------------------------------------ */

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    s3_resp *r = ud;
    return ef_buf_append(&r->body, p, sz * n) == EF_OK ? sz * n : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    s3_resp *r = ud;
    size_t len = sz * n;
    if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
        size_t i = 5, j = len;
        while (i < j && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' '))
            j--;
        if (j - i < sizeof r->etag) {
            memcpy(r->etag, p + i, j - i);
            r->etag[j - i] = '\0';
        }
    }
    return len;
}

/* Builds the URL of bucket/key (key may be NULL) plus an already canonical query. */
static int build_url(ef_s3 *s, const char *bucket, const char *key, const char *query, ef_buf *url)
{
    int rc = s->virtual_host ? ef_buf_appendf(url, "%s://%s.%s/", s->scheme, bucket, s->hostport)
                             : ef_buf_appendf(url, "%s/%s%s", s->endpoint, bucket, key ? "/" : "");
    if (rc == EF_OK && key) rc = s3__uri_encode(url, key, strlen(key), 1);
    if (rc == EF_OK && query && *query) rc = ef_buf_appendf(url, "?%s", query);
    return rc;
}

/* Performs one signed request. Returns 0 when the server answered 2xx, else an EF_E* code with
 * err set to "<op> s3://bucket/key: <status> <Code>: <Message>" or the transport error. */
static int s3_request(ef_s3 *s, const char *op, const char *method, const char *bucket,
                      const char *key, const char *query, const void *body, size_t len,
                      const char *content_type, s3_resp *resp, char *err, size_t errlen)
{
    int rc = EF_ENOMEM;
    struct curl_slist *hdrs = NULL, *h;
    ef_buf url, line, code, message;
    char hash[65], hdr[256];
    CURL *c = s->curl;
    ef_buf_init(&url);
    ef_buf_init(&line);
    ef_buf_init(&code);
    ef_buf_init(&message);
    resp->status = 0;
    resp->etag[0] = '\0';
    resp->content_length = -1;
    ef_buf_clear(&resp->body);
    if (build_url(s, bucket, key, query, &url) != EF_OK) goto fail;

    sha256_hex(body ? body : "", body ? len : 0, hash);
    snprintf(hdr, sizeof hdr, "x-amz-content-sha256: %s", hash);
    if (!(h = curl_slist_append(hdrs, hdr))) goto fail;
    hdrs = h;
    if (s->session_token) {
        if (ef_buf_appendf(&line, "x-amz-security-token: %s", s->session_token) != EF_OK ||
            !(h = curl_slist_append(hdrs, line.data)))
            goto fail;
        hdrs = h;
    }
    if (body) {
        snprintf(hdr, sizeof hdr, "Content-Type: %s",
                 content_type ? content_type : "application/octet-stream");
        if (!(h = curl_slist_append(hdrs, hdr))) goto fail;
        hdrs = h;
    }
    /* No "Expect:" override here: libcurl 7.88 lists every custom header in SignedHeaders,
     * including one given only to be removed, which a verifying server cannot match. */

    curl_easy_reset(c);
    s->curl_err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret_key);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, s->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, s->timeout_s < 10 ? s->timeout_s : 10L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "edgeflow-s3/1");
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (body) {
        /* POSTFIELDS (not a read callback) so libcurl sends exactly these bytes with a
         * Content-Length; CUSTOMREQUEST turns the POST into PUT where needed. */
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, len ? body : "");
        if (strcmp(method, "POST") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (cc == CURLE_WRITE_ERROR && !s->curl_err[0]) {
            rc = EF_ENOMEM;
            set_err(err, errlen, "%s s3://%s/%s: out of memory", op, bucket, key ? key : "");
        } else {
            rc = cc == CURLE_OPERATION_TIMEDOUT ? EF_ETIMEDOUT : EF_EIO;
            set_err(err, errlen, "cannot reach S3 endpoint %s: %s", s->endpoint,
                    s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc));
        }
        goto fail;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_off_t cl = -1;
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    resp->content_length = cl;
    if (resp->status >= 200 && resp->status < 300) {
        rc = EF_OK;
        goto out;
    }
    if (resp->body.len) {
        if (s3__xml_tag(resp->body.data, resp->body.len, NULL, "Code", &code, 1) < 0 ||
            s3__xml_tag(resp->body.data, resp->body.len, NULL, "Message", &message, 1) < 0)
            goto fail;
    }
    if (!code.len && resp->status == 404 && ef_buf_appends(&code, "NotFound") != EF_OK) goto fail;
    rc = resp->status == 404                          ? EF_ENOTFOUND
         : resp->status == 403 || resp->status == 401 ? EF_EAUTH
                                                      : EF_EPROTO;
    set_err(err, errlen, "%s s3://%s/%s: %ld %s%s%s", op, bucket, key ? key : "", resp->status,
            code.len ? code.data : "error", message.len ? ": " : "",
            message.len ? message.data : "");
    goto out;
fail:
    if (rc == EF_ENOMEM && err && errlen && !err[0])
        set_err(err, errlen, "%s s3://%s/%s: out of memory", op, bucket, key ? key : "");
out:
    curl_slist_free_all(hdrs);
    ef_buf_release(&url);
    ef_buf_release(&line);
    ef_buf_release(&code);
    ef_buf_release(&message);
    return rc;
}

static void resp_init(s3_resp *r)
{
    memset(r, 0, sizeof *r);
    ef_buf_init(&r->body);
}

/* ---- operations ------------------------------------------------------------------------- */

int ef_s3_create_bucket(ef_s3 *s, const char *bucket, char *err, size_t errlen)
{
    s3_resp r;
    ef_buf body;
    resp_init(&r);
    ef_buf_init(&body);
    int rc = EF_ENOMEM;
    if (err && errlen) err[0] = '\0';
    if (strcmp(s->region, "us-east-1") != 0 &&
        ef_buf_appendf(
            &body,
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
            s->region) != EF_OK)
        goto out;
    rc = s3_request(s, "CreateBucket", "PUT", bucket, NULL, NULL, body.len ? body.data : NULL,
                    body.len, "application/xml", &r, err, errlen);
    if (rc != EF_OK && r.status == 409 &&
        (strstr(r.body.data ? r.body.data : "", "BucketAlreadyOwnedByYou") ||
         strstr(r.body.data ? r.body.data : "", "BucketAlreadyExists"))) {
        rc = EF_OK;
        if (err && errlen) err[0] = '\0';
    }
out:
    ef_buf_release(&body);
    ef_buf_release(&r.body);
    return rc;
}

static int put_single(ef_s3 *s, const char *bucket, const char *key, const void *data, size_t len,
                      const char *content_type, char *err, size_t errlen)
{
    s3_resp r;
    resp_init(&r);
    int rc = s3_request(s, "PUT", "PUT", bucket, key, NULL, data ? data : "", len, content_type, &r,
                        err, errlen);
    ef_buf_release(&r.body);
    return rc;
}

static int put_multipart(ef_s3 *s, const char *bucket, const char *key, const char *data,
                         size_t len, const char *content_type, char *err, size_t errlen)
{
    int rc = EF_ENOMEM;
    s3_resp r;
    ef_buf upload_id, query, complete;
    resp_init(&r);
    ef_buf_init(&upload_id);
    ef_buf_init(&query);
    ef_buf_init(&complete);
    size_t part = s->multipart_threshold;
    if (len / part >= S3_MAX_PARTS) part = len / (S3_MAX_PARTS - 1) + 1;

    rc = s3_request(s, "CreateMultipartUpload", "POST", bucket, key, "uploads=", "", 0,
                    content_type, &r, err, errlen);
    if (rc != EF_OK) goto out;
    int found =
        s3__xml_tag(r.body.data ? r.body.data : "", r.body.len, NULL, "UploadId", &upload_id, 1);
    if (found <= 0 || !upload_id.len) {
        rc = found < 0 ? EF_ENOMEM : EF_EPROTO;
        set_err(err, errlen, "CreateMultipartUpload s3://%s/%s: no UploadId in the answer", bucket,
                key);
        goto out;
    }
    rc = EF_ENOMEM;
    if (ef_buf_appends(&complete, "<CompleteMultipartUpload>") != EF_OK) goto abort;
    size_t n = 0;
    for (size_t off = 0; off < len; off += part) {
        size_t chunk = len - off < part ? len - off : part;
        n++;
        ef_buf_clear(&query);
        if (ef_buf_appendf(&query, "partNumber=%zu&uploadId=", n) != EF_OK ||
            s3__uri_encode(&query, upload_id.data, upload_id.len, 0) != EF_OK)
            goto abort;
        rc = s3_request(s, "UploadPart", "PUT", bucket, key, query.data, data + off, chunk,
                        content_type, &r, err, errlen);
        if (rc != EF_OK) goto abort;
        if (!r.etag[0]) {
            rc = EF_EPROTO;
            set_err(err, errlen, "UploadPart s3://%s/%s: no ETag for part %zu", bucket, key, n);
            goto abort;
        }
        rc = EF_ENOMEM;
        if (ef_buf_appendf(&complete, "<Part><PartNumber>%zu</PartNumber><ETag>", n) != EF_OK)
            goto abort;
        for (const char *p = r.etag; *p; p++) {
            int arc = *p == '"'   ? ef_buf_appends(&complete, "&quot;")
                      : *p == '&' ? ef_buf_appends(&complete, "&amp;")
                      : *p == '<' ? ef_buf_appends(&complete, "&lt;")
                                  : ef_buf_appendc(&complete, *p);
            if (arc != EF_OK) goto abort;
        }
        if (ef_buf_appends(&complete, "</ETag></Part>") != EF_OK) goto abort;
    }
    if (ef_buf_appends(&complete, "</CompleteMultipartUpload>") != EF_OK) goto abort;
    ef_buf_clear(&query);
    if (ef_buf_appends(&query, "uploadId=") != EF_OK ||
        s3__uri_encode(&query, upload_id.data, upload_id.len, 0) != EF_OK)
        goto abort;
    rc = s3_request(s, "CompleteMultipartUpload", "POST", bucket, key, query.data, complete.data,
                    complete.len, "application/xml", &r, err, errlen);
    if (rc != EF_OK) goto abort;
    /* S3 may answer 200 and still fail: the error is then in the body. */
    if (r.body.data && strstr(r.body.data, "<Error>")) {
        ef_buf code;
        ef_buf_init(&code);
        s3__xml_tag(r.body.data, r.body.len, NULL, "Code", &code, 1);
        set_err(err, errlen, "CompleteMultipartUpload s3://%s/%s: %s", bucket, key,
                code.len ? code.data : "error");
        ef_buf_release(&code);
        rc = EF_EPROTO;
        goto abort;
    }
    goto out;
abort:
    if (upload_id.len) {
        /* Best effort; keep the first error's message. */
        char ignored[256];
        ef_buf_clear(&query);
        if (ef_buf_appends(&query, "uploadId=") == EF_OK &&
            s3__uri_encode(&query, upload_id.data, upload_id.len, 0) == EF_OK)
            s3_request(s, "AbortMultipartUpload", "DELETE", bucket, key, query.data, NULL, 0, NULL,
                       &r, ignored, sizeof ignored);
    }
out:
    ef_buf_release(&r.body);
    ef_buf_release(&upload_id);
    ef_buf_release(&query);
    ef_buf_release(&complete);
    return rc;
}

int ef_s3_put(ef_s3 *s, const char *bucket, const char *key, const void *data, size_t len,
              const char *content_type, char *err, size_t errlen)
{
    if (!s || s->magic != S3_MAGIC || !bucket || !key || !*key || (!data && len)) return EF_EINVAL;
    if (err && errlen) err[0] = '\0';
    if (len > s->multipart_threshold)
        return put_multipart(s, bucket, key, data, len, content_type, err, errlen);
    return put_single(s, bucket, key, data, len, content_type, err, errlen);
}

int ef_s3_get(ef_s3 *s, const char *bucket, const char *key, ef_buf *out, char *err, size_t errlen)
{
    if (!s || s->magic != S3_MAGIC || !bucket || !key || !out) return EF_EINVAL;
    if (err && errlen) err[0] = '\0';
    s3_resp r;
    resp_init(&r);
    int rc = s3_request(s, "GET", "GET", bucket, key, NULL, NULL, 0, NULL, &r, err, errlen);
    if (rc == EF_OK && r.body.len && ef_buf_append(out, r.body.data, r.body.len) != EF_OK)
        rc = EF_ENOMEM;
    ef_buf_release(&r.body);
    return rc;
}

int ef_s3_head(ef_s3 *s, const char *bucket, const char *key, int64_t *size, char *err,
               size_t errlen)
{
    if (!s || s->magic != S3_MAGIC || !bucket || !key) return EF_EINVAL;
    if (err && errlen) err[0] = '\0';
    s3_resp r;
    resp_init(&r);
    int rc = s3_request(s, "HEAD", "HEAD", bucket, key, NULL, NULL, 0, NULL, &r, err, errlen);
    if (rc == EF_OK && size) *size = r.content_length;
    ef_buf_release(&r.body);
    return rc;
}

int ef_s3_delete(ef_s3 *s, const char *bucket, const char *key, char *err, size_t errlen)
{
    if (!s || s->magic != S3_MAGIC || !bucket || !key) return EF_EINVAL;
    if (err && errlen) err[0] = '\0';
    s3_resp r;
    resp_init(&r);
    int rc = s3_request(s, "DELETE", "DELETE", bucket, key, NULL, NULL, 0, NULL, &r, err, errlen);
    ef_buf_release(&r.body);
    return rc;
}

int ef_s3_list(ef_s3 *s, const char *bucket, const char *prefix, ef_s3_list_cb cb, void *ctx,
               char *err, size_t errlen)
{
    if (!s || s->magic != S3_MAGIC || !bucket || !cb) return EF_EINVAL;
    if (err && errlen) err[0] = '\0';
    int rc = EF_ENOMEM;
    s3_resp r;
    ef_buf query, token, contents, keybuf, sizebuf, trunc;
    resp_init(&r);
    ef_buf_init(&query);
    ef_buf_init(&token);
    ef_buf_init(&contents);
    ef_buf_init(&keybuf);
    ef_buf_init(&sizebuf);
    ef_buf_init(&trunc);
    for (;;) {
        ef_buf_clear(&query);
        if (token.len && (ef_buf_appends(&query, "continuation-token=") != EF_OK ||
                          s3__uri_encode(&query, token.data, token.len, 0) != EF_OK ||
                          ef_buf_appendc(&query, '&') != EF_OK))
            goto out;
        if (ef_buf_appends(&query, "list-type=2") != EF_OK) goto out;
        if (prefix && *prefix &&
            (ef_buf_appends(&query, "&prefix=") != EF_OK ||
             s3__uri_encode(&query, prefix, strlen(prefix), 0) != EF_OK))
            goto out;
        rc = s3_request(s, "ListObjectsV2", "GET", bucket, NULL, query.data, NULL, 0, NULL, &r, err,
                        errlen);
        if (rc != EF_OK) goto out;
        rc = EF_ENOMEM;
        const char *xml = r.body.data ? r.body.data : "";
        size_t pos = 0;
        for (;;) {
            ef_buf_clear(&contents);
            int f = s3__xml_tag(xml, r.body.len, &pos, "Contents", &contents, 0);
            if (f < 0) goto out;
            if (f == 0) break;
            ef_buf_clear(&keybuf);
            ef_buf_clear(&sizebuf);
            if (s3__xml_tag(contents.data, contents.len, NULL, "Key", &keybuf, 1) < 0 ||
                s3__xml_tag(contents.data, contents.len, NULL, "Size", &sizebuf, 1) < 0)
                goto out;
            int stop = cb(ctx, keybuf.data ? keybuf.data : "",
                          sizebuf.len ? strtoll(sizebuf.data, NULL, 10) : -1);
            if (stop) {
                rc = stop;
                goto out;
            }
        }
        ef_buf_clear(&trunc);
        ef_buf_clear(&token);
        if (s3__xml_tag(xml, r.body.len, NULL, "IsTruncated", &trunc, 1) < 0 ||
            s3__xml_tag(xml, r.body.len, NULL, "NextContinuationToken", &token, 1) < 0)
            goto out;
        if (!trunc.len || strcmp(trunc.data, "true") != 0 || !token.len) break;
    }
    rc = EF_OK;
out:
    if (rc == EF_ENOMEM && err && errlen && !err[0])
        set_err(err, errlen, "ListObjectsV2 s3://%s: out of memory", bucket);
    ef_buf_release(&r.body);
    ef_buf_release(&query);
    ef_buf_release(&token);
    ef_buf_release(&contents);
    ef_buf_release(&keybuf);
    ef_buf_release(&sizebuf);
    ef_buf_release(&trunc);
    return rc;
}
