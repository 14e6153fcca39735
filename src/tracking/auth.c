/* auth.c - optional HTTP authentication for `edgeflow server` (contract in auth.h).
 *
 * Passwords are argon2id hashes made and checked by libsodium (crypto_pwhash_str*): nothing
 * cryptographic is hand-written here, only the file parsing and the header handling.
 *
 * Cost control. argon2id with libsodium's interactive limits takes ~50 ms and 64 MiB per check,
 * which is the point against offline guessing but would cap an authenticated client at ~20
 * requests/s and let a flood of bad logins exhaust memory. So:
 *   - a successful (user, password) pair is remembered as a keyed BLAKE2b digest (the key is
 *     random per process, so the cache holds nothing an attacker could reuse) in a small
 *     round-robin cache; later requests compare digests in constant time;
 *   - at most one argon2 verification runs at a time (verify_lock): failed logins are serialised,
 *     which bounds memory to one hash's worth and slows guessing further.
 * Bearer tokens are compared as SHA-256 digests with sodium_memcmp against every configured
 * token (no early exit), so timing reveals neither a token nor its length.
 */
#include "tracking/auth.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "http/server.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

_Static_assert(EF_TRACKING_AUTH_HASH_BYTES == crypto_pwhash_STRBYTES, "hash string size");

#define AUTH_MAGIC 0x41555448u /* "AUTH" */
#define CACHE_SLOTS 64
#define FILE_MAX (4u << 20)
#define CRED_MAX 1024 /* decoded "user:password" */

typedef struct auth_user {
    char *name;
    char *hash;
} auth_user;

typedef struct cache_slot {
    int used;
    unsigned char digest[crypto_generichash_BYTES];
} cache_slot;

struct ef_tracking_auth {
    uint32_t magic;
    auth_user *users;
    size_t nusers;
    unsigned char (*tokens)[crypto_hash_sha256_BYTES];
    size_t ntokens;
    pthread_mutex_t verify_lock, cache_lock;
    unsigned char cache_key[crypto_generichash_KEYBYTES];
    cache_slot cache[CACHE_SLOTS];
    size_t cache_next;
};

void ef_tracking_auth_free(ef_tracking_auth *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->nusers; i++) {
        free(a->users[i].name);
        if (a->users[i].hash) sodium_memzero(a->users[i].hash, strlen(a->users[i].hash));
        free(a->users[i].hash);
    }
    free(a->users);
    if (a->tokens) sodium_memzero(a->tokens, a->ntokens * sizeof *a->tokens);
    free(a->tokens);
    pthread_mutex_destroy(&a->verify_lock);
    pthread_mutex_destroy(&a->cache_lock);
    sodium_memzero(a, sizeof *a);
    free(a);
}

/* Calls line(ctx, text, len, lineno) for each non-blank, non-comment line (trimmed). */
typedef int (*line_fn)(ef_tracking_auth *a, const char *s, size_t len, const char *file,
                       unsigned lineno, char **errmsg);

static int read_lines(ef_tracking_auth *a, const char *file, line_fn fn, char **errmsg)
{
    ef_buf b;
    ef_buf_init(&b);
    int rc = ef_fs_read(file, FILE_MAX, &b);
    if (rc != EF_OK) {
        if (asprintf(errmsg, "cannot read %s: %s", file, ef_strerror(rc)) < 0) *errmsg = NULL;
        goto out;
    }
    unsigned lineno = 0;
    for (size_t i = 0; i < b.len && rc == EF_OK;) {
        size_t start = i;
        while (i < b.len && b.data[i] != '\n')
            i++;
        size_t end = i++;
        lineno++;
        while (start < end && (b.data[start] == ' ' || b.data[start] == '\t'))
            start++;
        while (end > start &&
               (b.data[end - 1] == ' ' || b.data[end - 1] == '\t' || b.data[end - 1] == '\r'))
            end--;
        if (start == end || b.data[start] == '#') continue;
        rc = fn(a, b.data + start, end - start, file, lineno, errmsg);
    }
out:
    if (b.data) sodium_memzero(b.data, b.len);
    ef_buf_release(&b);
    return rc;
}

static int user_line(ef_tracking_auth *a, const char *s, size_t len, const char *file,
                     unsigned lineno, char **errmsg)
{
    const char *colon = memchr(s, ':', len);
    if (!colon || colon == s || (size_t)(s + len - colon - 1) >= crypto_pwhash_STRBYTES ||
        strncmp(colon + 1, "$argon2", 7) != 0 || memchr(s, '\0', len)) {
        if (asprintf(errmsg, "%s:%u: expected user:$argon2id$... (from --hash-password)", file,
                     lineno) < 0)
            *errmsg = NULL;
        return EF_EINVAL;
    }
    size_t nlen = (size_t)(colon - s);
    for (size_t i = 0; i < a->nusers; i++)
        if (strlen(a->users[i].name) == nlen && memcmp(a->users[i].name, s, nlen) == 0) {
            if (asprintf(errmsg, "%s:%u: user '%.*s' listed twice", file, lineno, (int)nlen, s) < 0)
                *errmsg = NULL;
            return EF_EINVAL;
        }
    auth_user *u = realloc(a->users, (a->nusers + 1) * sizeof *u);
    if (!u) return EF_ENOMEM;
    a->users = u;
    u = &a->users[a->nusers];
    u->name = strndup(s, nlen);
    u->hash = strndup(colon + 1, len - nlen - 1);
    if (!u->name || !u->hash) {
        free(u->name);
        free(u->hash);
        return EF_ENOMEM;
    }
    a->nusers++;
    return EF_OK;
}

static int token_line(ef_tracking_auth *a, const char *s, size_t len, const char *file,
                      unsigned lineno, char **errmsg)
{
    (void)file;
    (void)lineno;
    (void)errmsg;
    unsigned char(*t)[crypto_hash_sha256_BYTES] = realloc(a->tokens, (a->ntokens + 1) * sizeof *t);
    if (!t) return EF_ENOMEM;
    a->tokens = t;
    crypto_hash_sha256(a->tokens[a->ntokens++], (const unsigned char *)s, len);
    return EF_OK;
}

int ef_tracking_auth_open(const char *users_file, const char *tokens_file, ef_tracking_auth **out,
                          char **errmsg)
{
    int rc = EF_ENOMEM;
    ef_tracking_auth *a = NULL;
    *out = NULL;
    *errmsg = NULL;
    if (!users_file && !tokens_file) {
        *errmsg = strdup("authentication needs a users file or a tokens file");
        return EF_EINVAL;
    }
    if (sodium_init() < 0) {
        *errmsg = strdup("libsodium failed to initialise");
        return EF_EIO;
    }
    a = calloc(1, sizeof *a);
    if (!a) goto fail;
    if (pthread_mutex_init(&a->verify_lock, NULL) != 0) {
        free(a);
        a = NULL;
        goto fail;
    }
    if (pthread_mutex_init(&a->cache_lock, NULL) != 0) {
        pthread_mutex_destroy(&a->verify_lock);
        free(a);
        a = NULL;
        goto fail;
    }
    a->magic = AUTH_MAGIC;
    crypto_generichash_keygen(a->cache_key);
    if (users_file && (rc = read_lines(a, users_file, user_line, errmsg)) != EF_OK) goto fail;
    if (tokens_file && (rc = read_lines(a, tokens_file, token_line, errmsg)) != EF_OK) goto fail;
    if (a->nusers == 0 && a->ntokens == 0) {
        rc = EF_EINVAL;
        *errmsg = strdup("authentication files list no user and no token");
        goto fail;
    }
    *out = a;
    return EF_OK;
fail:
    if (rc == EF_ENOMEM && !*errmsg) *errmsg = strdup("out of memory");
    ef_tracking_auth_free(a);
    return rc;
}

int ef_tracking_auth_hash(const char *password, char out[EF_TRACKING_AUTH_HASH_BYTES])
{
    if (sodium_init() < 0) return EF_EIO;
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return EF_ENOMEM;
    return EF_OK;
}

int ef_tracking_auth_verify(const char *hash, const char *password)
{
    if (sodium_init() < 0) return 0;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

/* --- the hook ------------------------------------------------------------------------------------
 */

static int cache_has(ef_tracking_auth *a, const unsigned char *d)
{
    int hit = 0;
    pthread_mutex_lock(&a->cache_lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        hit |= a->cache[i].used &
               (sodium_memcmp(a->cache[i].digest, d, sizeof a->cache[i].digest) == 0);
    pthread_mutex_unlock(&a->cache_lock);
    return hit;
}

static void cache_put(ef_tracking_auth *a, const unsigned char *d)
{
    pthread_mutex_lock(&a->cache_lock);
    cache_slot *s = &a->cache[a->cache_next++ % CACHE_SLOTS];
    s->used = 1;
    memcpy(s->digest, d, sizeof s->digest);
    pthread_mutex_unlock(&a->cache_lock);
}

/* "user:password" (base64 of it in b64) against the users file. */
static int check_basic(ef_tracking_auth *a, const char *b64)
{
    unsigned char cred[CRED_MAX + 1], digest[crypto_generichash_BYTES];
    size_t len = 0;
    int ok = 0;
    if (sodium_base642bin(cred, CRED_MAX, b64, strlen(b64), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        goto out;
    cred[len] = '\0';
    unsigned char *colon = memchr(cred, ':', len);
    if (!colon || memchr(cred, '\0', len)) goto out;
    *colon = '\0';
    const char *user = (const char *)cred, *pass = (const char *)colon + 1;
    const auth_user *u = NULL;
    for (size_t i = 0; i < a->nusers; i++)
        if (strcmp(a->users[i].name, user) == 0) u = &a->users[i];
    if (!u) goto out;
    *colon = ':'; /* the digest covers "user:password" */
    crypto_generichash(digest, sizeof digest, cred, len, a->cache_key, sizeof a->cache_key);
    if (cache_has(a, digest)) {
        ok = 1;
        goto out;
    }
    pthread_mutex_lock(&a->verify_lock);
    ok = crypto_pwhash_str_verify(u->hash, pass, strlen(pass)) == 0;
    pthread_mutex_unlock(&a->verify_lock);
    if (ok) cache_put(a, digest);
out:
    sodium_memzero(cred, sizeof cred);
    sodium_memzero(digest, sizeof digest);
    return ok;
}

static int check_bearer(ef_tracking_auth *a, const char *token)
{
    unsigned char d[crypto_hash_sha256_BYTES];
    int ok = 0;
    crypto_hash_sha256(d, (const unsigned char *)token, strlen(token));
    for (size_t i = 0; i < a->ntokens; i++)
        ok |= sodium_memcmp(a->tokens[i], d, sizeof d) == 0;
    sodium_memzero(d, sizeof d);
    return ok;
}

int ef_tracking_auth_authorize(void *ctx, ef_http_req *r)
{
    ef_tracking_auth *a = ctx;
    const char *h = ef_http_req_header(r, "Authorization");
    int ok = 0;
    if (h) {
        while (*h == ' ')
            h++;
        if (a->nusers && strncasecmp(h, "Basic ", 6) == 0) {
            h += 6;
            while (*h == ' ')
                h++;
            ok = check_basic(a, h);
        } else if (a->ntokens && strncasecmp(h, "Bearer ", 7) == 0) {
            h += 7;
            while (*h == ' ')
                h++;
            ok = *h && check_bearer(a, h);
        }
    }
    if (ok) return 0;
    EF_DEBUG("auth: refused %s %s from %s", ef_http_req_method(r), ef_http_req_path(r),
             ef_http_req_remote(r));
    if (a->nusers) ef_http_add_header(r, "WWW-Authenticate", "Basic realm=\"edgeflow\"");
    if (a->ntokens) ef_http_add_header(r, "WWW-Authenticate", "Bearer realm=\"edgeflow\"");
    json_t *doc = json_pack("{s:s,s:s}", "error_code", "UNAUTHENTICATED", "message",
                            h ? "Invalid credentials: the user name, password or token is not "
                                "accepted."
                              : "You are not authenticated. Please provide credentials (HTTP "
                                "basic or a bearer token).");
    ef_http_reply_json(r, 401, doc);
    return -1;
}
