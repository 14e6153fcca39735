/* Unit tests for src/s3 without any S3 server: the static helpers (SigV4 URI encoding, the
 * tolerant XML reader) and the signature libcurl puts on a request. For the latter a thread
 * here plays the server, captures one request, and the test recomputes the SigV4 signature with
 * its own small signer (OpenSSL HMAC), which is first checked against AWS's published example
 * (GET /test.txt, 20130524T000000Z, AKIAIOSFODNN7EXAMPLE -> f0e8bdb8...). The integration test
 * test_40_export.py checks the same against botocore. s3.c is included to reach its statics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/s3/s3.c"

static void test_uri_encode(void **state)
{
    (void)state;
    ef_buf b;
    ef_buf_init(&b);
    const char *k = "a b/ü+~._-&=%";
    assert_int_equal(s3__uri_encode(&b, k, strlen(k), 1), EF_OK);
    assert_string_equal(b.data, "a%20b/%C3%BC%2B~._-%26%3D%25");
    ef_buf_clear(&b);
    assert_int_equal(s3__uri_encode(&b, "x/y", 3, 0), EF_OK);
    assert_string_equal(b.data, "x%2Fy");
    ef_buf_release(&b);
}

static void test_xml_tag(void **state)
{
    (void)state;
    const char *xml = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
                      "<Message>a &lt;b&gt; &amp; &quot;c&quot; &#233;&#x41;</Message>"
                      "<Codex>no</Codex><Empty/></Error>";
    ef_buf b;
    ef_buf_init(&b);
    assert_int_equal(s3__xml_tag(xml, strlen(xml), NULL, "Code", &b, 1), 1);
    assert_string_equal(b.data, "NoSuchKey");
    ef_buf_clear(&b);
    assert_int_equal(s3__xml_tag(xml, strlen(xml), NULL, "Message", &b, 1), 1);
    assert_string_equal(b.data, "a <b> & \"c\" \xc3\xa9"
                                "A");
    ef_buf_clear(&b);
    assert_int_equal(s3__xml_tag(xml, strlen(xml), NULL, "Empty", &b, 1), 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(s3__xml_tag(xml, strlen(xml), NULL, "Missing", &b, 1), 0);
    assert_int_equal(s3__xml_tag(xml, 30, NULL, "Code", &b, 1), 0); /* truncated */
    /* iteration with pos, raw mode for the container */
    const char *list = "<R><Contents><Key>a&amp;b</Key><Size>3</Size></Contents>"
                       "<Contents><Key>c</Key><Size>10</Size></Contents></R>";
    size_t pos = 0;
    int n = 0;
    ef_buf_clear(&b);
    while (s3__xml_tag(list, strlen(list), &pos, "Contents", &b, 0) == 1) {
        ef_buf key;
        ef_buf_init(&key);
        assert_int_equal(s3__xml_tag(b.data, b.len, NULL, "Key", &key, 1), 1);
        assert_string_equal(key.data, n == 0 ? "a&b" : "c");
        ef_buf_release(&key);
        ef_buf_clear(&b);
        n++;
    }
    assert_int_equal(n, 2);
    ef_buf_release(&b);
}

/* ---- an independent SigV4 signer for the oracle ---- */

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", in[i]);
}

/* signature for canonical request cr at amz_date (yyyymmddThhmmssZ) */
static void sign(const char *secret, const char *amz_date, const char *region, const char *cr,
                 char sig[65])
{
    char date[9], sts[512], crhash[65], key[128];
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    sha256_hex(cr, strlen(cr), crhash);
    snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s", amz_date, date,
             region, crhash);
    unsigned char k1[32], k2[32], k3[32], k4[32], s[32];
    snprintf(key, sizeof key, "AWS4%s", secret);
    hmac(key, strlen(key), date, k1);
    hmac(k1, 32, region, k2);
    hmac(k2, 32, "s3", k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts, s);
    hex(s, 32, sig);
}

static void test_signer_matches_aws_example(void **state)
{
    (void)state;
    const char *cr = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                     "x-amz-content-sha256:"
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                     "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    char sig[65];
    sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524T000000Z", "us-east-1", cr, sig);
    assert_string_equal(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* ---- capture one request ---- */

typedef struct capture {
    int fd;
    char req[65536];
    size_t len;
} capture;

static void *serve_one(void *arg)
{
    capture *c = arg;
    int conn = accept(c->fd, NULL, NULL);
    if (conn < 0) return NULL;
    for (;;) { /* read until headers + Content-Length bytes */
        ssize_t n = read(conn, c->req + c->len, sizeof c->req - 1 - c->len);
        if (n <= 0) break;
        c->len += (size_t)n;
        c->req[c->len] = '\0';
        char *end = strstr(c->req, "\r\n\r\n");
        if (!end) continue;
        char *cl = strcasestr(c->req, "\r\ncontent-length:");
        size_t body = cl && cl < end ? (size_t)atol(cl + 17) : 0;
        if (c->len >= (size_t)(end + 4 - c->req) + body) break;
    }
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (write(conn, ok, strlen(ok)) < 0) { /* nothing to do */
    }
    close(conn);
    return NULL;
}

static const char *header(const char *req, const char *name, char *out, size_t outlen)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *p = strcasestr(req, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r");
    if (n >= outlen) n = outlen - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static void test_curl_signature(void **state)
{
    (void)state;
    capture *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(c->fd, 1), 0);
    getsockname(c->fd, (struct sockaddr *)&a, &al);
    pthread_t th;
    pthread_create(&th, NULL, serve_one, c);

    char ep[64], err[256];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", ntohs(a.sin_port));
    ef_s3_config cfg = {
        .endpoint = ep, .region = "eu-west-1", .access_key = "AKID", .secret_key = "SECRET"};
    char *e = NULL;
    ef_s3 *s = ef_s3_new(&cfg, &e);
    assert_non_null(s);
    assert_int_equal(
        ef_s3_put(s, "bkt", "dir/a b.csv", "x,y\n1,2\n", 8, "text/csv", err, sizeof err), EF_OK);
    pthread_join(th, NULL);
    ef_s3_free(s);
    close(c->fd);

    char date[32], hash[80], ctype[64], auth[512], host[64];
    assert_non_null(header(c->req, "x-amz-date", date, sizeof date));
    assert_non_null(header(c->req, "x-amz-content-sha256", hash, sizeof hash));
    assert_non_null(header(c->req, "authorization", auth, sizeof auth));
    assert_non_null(header(c->req, "host", host, sizeof host));
    assert_non_null(header(c->req, "content-type", ctype, sizeof ctype));
    char bodyhash[65];
    sha256_hex("x,y\n1,2\n", 8, bodyhash);
    assert_string_equal(hash, bodyhash);
    assert_memory_equal(c->req, "PUT /bkt/dir/a%20b.csv HTTP/1.1\r\n", 33);

    const char *sh = strstr(auth, "SignedHeaders=");
    assert_non_null(sh);
    char signed_hdrs[256];
    size_t n = strcspn(sh + 14, ",");
    memcpy(signed_hdrs, sh + 14, n);
    signed_hdrs[n] = '\0';
    /* canonical headers in SignedHeaders order, from what was actually sent */
    ef_buf cr;
    ef_buf_init(&cr);
    ef_buf_appends(&cr, "PUT\n/bkt/dir/a%20b.csv\n\n");
    char list[256], val[256];
    strcpy(list, signed_hdrs);
    for (char *save = NULL, *h = strtok_r(list, ";", &save); h; h = strtok_r(NULL, ";", &save)) {
        assert_non_null(header(c->req, h, val, sizeof val));
        ef_buf_appendf(&cr, "%s:%s\n", h, val);
    }
    ef_buf_appendf(&cr, "\n%s\n%s", signed_hdrs, bodyhash);
    char sig[65], want[512];
    sign("SECRET", date, "eu-west-1", cr.data, sig);
    snprintf(want, sizeof want,
             "AWS4-HMAC-SHA256 Credential=AKID/%.8s/eu-west-1/s3/aws4_request, "
             "SignedHeaders=%s, Signature=%s",
             date, signed_hdrs, sig);
    assert_string_equal(auth, want);
    assert_non_null(strstr(signed_hdrs, "host"));
    assert_non_null(strstr(signed_hdrs, "x-amz-content-sha256"));
    assert_non_null(strstr(signed_hdrs, "x-amz-date"));
    sign("WRONG", date, "eu-west-1", cr.data, sig); /* a wrong secret signs differently */
    assert_null(strstr(auth, sig));
    ef_buf_release(&cr);
    free(c);
}

static void test_new_errors(void **state)
{
    (void)state;
    char *e = NULL;
    ef_s3_config cfg = {.endpoint = "ftp://x", .access_key = "a", .secret_key = "b"};
    assert_null(ef_s3_new(&cfg, &e));
    assert_non_null(strstr(e, "scheme"));
    free(e);
    cfg.endpoint = "nohost";
    assert_null(ef_s3_new(&cfg, &e));
    free(e);
    unsetenv("AWS_ACCESS_KEY_ID");
    cfg.endpoint = "http://127.0.0.1:1";
    cfg.access_key = NULL;
    assert_null(ef_s3_new(&cfg, &e));
    assert_non_null(strstr(e, "AWS_ACCESS_KEY_ID"));
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_xml_tag),
        cmocka_unit_test(test_signer_matches_aws_example),
        cmocka_unit_test(test_curl_signature),
        cmocka_unit_test(test_new_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
