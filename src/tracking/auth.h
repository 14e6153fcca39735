/* auth.h - optional authentication for `edgeflow server`: HTTP basic against a users file of
 * argon2id hashes, and/or bearer tokens from a tokens file. Plugs into the HTTP server's
 * authorize hook (http/server.h):
 *
 *   ef_tracking_auth *auth;
 *   ef_tracking_auth_open(users_file, tokens_file, &auth, &errmsg);
 *   static const char *const exempt[] = {"/health", "/metrics", NULL};
 *   cfg.authorize = ef_tracking_auth_authorize; cfg.authorize_ctx = auth;
 *   cfg.auth_exempt = protect_health ? NULL : exempt;
 *
 * Users file: one "user:$argon2id$..." line per user (the hash as printed by
 * `edgeflow server --hash-password`); tokens file: one token per line. In both, blank lines and
 * lines starting with '#' are ignored. Files are read once, at open.
 * A refused request gets 401 {"error_code": "UNAUTHENTICATED", "message": ...} with one
 * WWW-Authenticate header per configured scheme (Basic realm="edgeflow", Bearer realm="edgeflow").
 */
#ifndef EF_TRACKING_AUTH_H
#define EF_TRACKING_AUTH_H

#include <stddef.h>

struct ef_http_req;
typedef struct ef_tracking_auth ef_tracking_auth;

/* Size of a password hash string including its NUL (libsodium's crypto_pwhash_STRBYTES). */
#define EF_TRACKING_AUTH_HASH_BYTES 128

/* Loads the files (either may be NULL, not both). Returns 0, EF_EINVAL (bad line: *errmsg names
 * file and line), EF_ENOTFOUND / EF_EIO (unreadable file) or EF_ENOMEM; *errmsg malloc'd. */
int ef_tracking_auth_open(const char *users_file, const char *tokens_file, ef_tracking_auth **out,
                          char **errmsg);
void ef_tracking_auth_free(ef_tracking_auth *a);

/* The ef_http_config.authorize hook: ctx is the ef_tracking_auth. 0 = authenticated; otherwise
 * it has replied 401. Thread-safe. */
int ef_tracking_auth_authorize(void *ctx, struct ef_http_req *r);

/* Hashes password with argon2id (libsodium crypto_pwhash_str, interactive limits) into out.
 * Returns 0, or EF_ENOMEM when the hash's memory cannot be had. */
int ef_tracking_auth_hash(const char *password, char out[EF_TRACKING_AUTH_HASH_BYTES]);
/* Checks a password against a hash string: 1 match, 0 otherwise. */
int ef_tracking_auth_verify(const char *hash, const char *password);

#endif
