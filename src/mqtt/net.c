/* net.c - the MQTT client's transport: non-blocking TCP, optional TLS (OpenSSL), broker URLs.
 *
 * Everything here is non-blocking; the client's poll() loop (mqtt.c) decides when to call in.
 * TLS: the SSL_CTX verifies the broker against a CA file or the system store, checks the host
 * name (or IP address) unless insecure, sends SNI for names, and may present a client cert.
 * Writes use partial-write mode because the client's write buffer can move between retries.
 */
#include "mqtt/mqtt_int.h"
#include "mqtt/mqtt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/err.h"
#include "base/log.h"

void mqtt__net_init(mqtt__net *n)
{
    memset(n, 0, sizeof(*n));
    n->fd = -1;
}

int mqtt__net_connect(mqtt__net *n, const char *host, uint16_t port)
{
    struct addrinfo hints, *res = NULL;
    char portstr[8];
    int rc = EF_EIO;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        EF_WARN("mqtt: cannot resolve %s: %s", host, gai_strerror(gai));
        rc = EF_ENOTFOUND;
        goto out;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            n->fd = fd;
            n->tcp_pending = errno == EINPROGRESS;
            rc = EF_OK;
            goto out;
        }
        n->err = errno;
        close(fd);
    }
out:
    if (res) freeaddrinfo(res);
    return rc;
}

int mqtt__net_connect_finish(mqtt__net *n)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) {
        n->err = err;
        return EF_EIO;
    }
    n->tcp_pending = 0;
    return EF_OK;
}

SSL_CTX *mqtt__tls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                           int insecure)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            EF_ERROR("mqtt: cannot load TLS CA file %s", ca_file);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        EF_ERROR("mqtt: cannot load the system CA store");
        goto fail;
    }
    if (cert_file && SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        EF_ERROR("mqtt: cannot load TLS certificate %s", cert_file);
        goto fail;
    }
    if (key_file && SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        EF_ERROR("mqtt: cannot load TLS key %s", key_file);
        goto fail;
    }
    if (cert_file && key_file && SSL_CTX_check_private_key(ctx) != 1) {
        EF_ERROR("mqtt: TLS key %s does not match certificate %s", key_file, cert_file);
        goto fail;
    }
    SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

int mqtt__net_tls_start(mqtt__net *n, SSL_CTX *ctx, const char *host, int insecure)
{
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    n->ssl = SSL_new(ctx);
    if (!n->ssl || SSL_set_fd(n->ssl, n->fd) != 1) goto fail;
    if (!is_ip && SSL_set_tlsext_host_name(n->ssl, host) != 1) goto fail;
    if (!insecure) {
        X509_VERIFY_PARAM *param = SSL_get0_param(n->ssl);
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
                       : X509_VERIFY_PARAM_set1_host(param, host, 0);
        if (ok != 1) goto fail;
    }
    n->tls_done = 0;
    return EF_OK;
fail:
    ERR_clear_error();
    return EF_ENOMEM;
}

int mqtt__net_tls_handshake(mqtt__net *n)
{
    ERR_clear_error();
    int r = SSL_connect(n->ssl);
    if (r == 1) {
        n->tls_done = 1;
        n->want_write = 0;
        return EF_OK;
    }
    int e = SSL_get_error(n->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        n->want_write = e == SSL_ERROR_WANT_WRITE;
        return EF_EAGAIN;
    }
    long vr = SSL_get_verify_result(n->ssl);
    if (vr != X509_V_OK) {
        EF_WARN("mqtt: TLS verification failed: %s", X509_verify_cert_error_string(vr));
        ERR_clear_error();
        return EF_EAUTH;
    }
    char msg[256];
    unsigned long ec = ERR_get_error();
    ERR_error_string_n(ec, msg, sizeof(msg));
    EF_WARN("mqtt: TLS handshake failed: %s", ec ? msg : "connection closed");
    ERR_clear_error();
    return EF_EIO;
}

static long tls_result(mqtt__net *n, int r)
{
    int e = SSL_get_error(n->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        n->want_write = e == SSL_ERROR_WANT_WRITE;
        return EF_EAGAIN;
    }
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN ? EF_ECLOSED : EF_EIO;
}

long mqtt__net_read(mqtt__net *n, void *buf, size_t len)
{
    if (n->ssl) {
        ERR_clear_error();
        int r = SSL_read(n->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
        if (r > 0) {
            n->want_write = 0;
            return r;
        }
        return tls_result(n, r);
    }
    ssize_t r = recv(n->fd, buf, len, 0);
    if (r > 0) return (long)r;
    if (r == 0) return EF_ECLOSED;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return EF_EAGAIN;
    n->err = errno;
    return EF_EIO;
}

long mqtt__net_write(mqtt__net *n, const void *buf, size_t len)
{
    if (n->ssl) {
        ERR_clear_error();
        int r = SSL_write(n->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
        if (r > 0) {
            n->want_write = 0;
            return r;
        }
        return tls_result(n, r);
    }
    ssize_t r = send(n->fd, buf, len, MSG_NOSIGNAL);
    if (r >= 0) return (long)r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return EF_EAGAIN;
    n->err = errno;
    return EF_EIO;
}

int mqtt__net_pending(const mqtt__net *n)
{
    return n->ssl && SSL_pending(n->ssl) > 0;
}

void mqtt__net_close(mqtt__net *n)
{
    if (n->ssl) {
        if (n->tls_done) SSL_shutdown(n->ssl); /* best effort close_notify, non-blocking */
        SSL_free(n->ssl);
        ERR_clear_error();
    }
    if (n->fd >= 0) close(n->fd);
    mqtt__net_init(n);
}

/* ---- URLs ------------------------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into dst (NUL-terminated); returns the end of dst or NULL. */
static char *pct_decode(char *dst, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len) return NULL;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return NULL;
            *dst++ = (char)(h << 4 | l);
            i += 2;
        } else {
            *dst++ = s[i];
        }
    }
    *dst++ = '\0';
    return dst;
}

int ef_mqtt_parse_url(const char *url, ef_mqtt_options *opt, char **storage)
{
    int rc = EF_EINVAL;
    char *st = NULL;
    int tls = 0;
    const char *p = url;
    *storage = NULL;
    if (!url || !*url) goto fail;
    const char *sep = strstr(url, "://");
    if (sep) {
        size_t sl = (size_t)(sep - url);
        if ((sl == 4 && !strncasecmp(url, "mqtt", 4)) || (sl == 3 && !strncasecmp(url, "tcp", 3)))
            tls = 0;
        else if ((sl == 5 && !strncasecmp(url, "mqtts", 5)) ||
                 (sl == 3 && !strncasecmp(url, "ssl", 3)) ||
                 (sl == 3 && !strncasecmp(url, "tls", 3)))
            tls = 1;
        else
            goto fail;
        p = sep + 3;
    }
    size_t alen = strcspn(p, "/?#");
    if (p[alen] == '/' && p[alen + 1] != '\0') goto fail; /* no path component in MQTT URLs */
    if (p[alen] == '?' || p[alen] == '#') goto fail;
    st = malloc(3 * (alen + 1));
    if (!st) {
        rc = EF_ENOMEM;
        goto fail;
    }
    char *w = st;
    const char *user = NULL, *pass = NULL;
    const char *at = memrchr(p, '@', alen);
    const char *hp = p;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
        user = w;
        if (!(w = pct_decode(w, p, ulen))) goto fail;
        if (colon) {
            pass = w;
            if (!(w = pct_decode(w, colon + 1, (size_t)(at - colon - 1)))) goto fail;
        }
        hp = at + 1;
    }
    size_t hplen = (size_t)(p + alen - hp);
    const char *host = hp, *port = NULL;
    size_t hlen = hplen;
    if (hplen && hp[0] == '[') {
        const char *rb = memchr(hp, ']', hplen);
        if (!rb) goto fail;
        host = hp + 1;
        hlen = (size_t)(rb - hp - 1);
        if (rb + 1 < hp + hplen) {
            if (rb[1] != ':') goto fail;
            port = rb + 2;
        }
    } else {
        const char *colon = memrchr(hp, ':', hplen);
        if (colon) {
            hlen = (size_t)(colon - hp);
            port = colon + 1;
        }
    }
    if (hlen == 0) goto fail;
    unsigned long portv = tls ? 8883 : 1883;
    if (port) {
        size_t plen = (size_t)(hp + hplen - port);
        if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen) goto fail;
        portv = 0;
        for (size_t i = 0; i < plen; i++)
            portv = portv * 10 + (unsigned long)(port[i] - '0');
        if (portv == 0 || portv > 65535) goto fail;
    }
    char *hostcopy = w;
    memcpy(w, host, hlen);
    w[hlen] = '\0';
    opt->host = hostcopy;
    opt->port = (uint16_t)portv;
    opt->tls = tls;
    if (user) opt->username = user;
    if (pass) opt->password = pass;
    *storage = st;
    return EF_OK;
fail:
    free(st);
    return rc;
}
