/* registry_validate.c - the model registry's checks of what clients send, with MLflow's
 * messages (mlflow/utils/validation.py and the registry store): tag and alias names, version
 * numbers, stages, and model version sources -- _validate_source, and where the artifacts of a
 * new version with a models:/ or runs:/ source are. registry.c loads and renders the entities,
 * registry_api.c runs the RPCs; the three share registry_int.h.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/err.h"
#include "tracking/registry_int.h"

#define TAG_KEY_MAX 250
#define TAG_VALUE_MAX 5000
#define ALIAS_MAX 255

/* ---------------------------------------------------------------------------------------------
 * Validation, with MLflow's messages (mlflow/utils/validation.py).
 * ------------------------------------------------------------------------------------------- */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Bytes of the first max_chars characters of s, at most max_bytes (on a character boundary):
 * for quoting user text in messages without splitting a UTF-8 sequence. */
int trk__reg_utf8_prefix(const char *s, size_t max_chars, size_t max_bytes)
{
    size_t chars = 0, cut = 0;
    for (size_t i = 0;; i++) {
        if (s[i] == '\0' || ((unsigned char)s[i] & 0xC0) != 0x80) {
            if (i > max_bytes) break;
            cut = i;
            if (!s[i] || chars == max_chars) break;
            chars++;
        }
    }
    return (int)cut;
}

static int length_limit(const char *what, const char *v, size_t limit, trk_err *e)
{
    size_t n = v ? utf8_len(v) : 0;
    if (n <= limit) return 0;
    return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                     "%s '%.*s' had length %zu, which exceeded length limit of %zu", what,
                     trk__reg_utf8_prefix(v, 250, 400), v, n, limit);
}

/* Python's \w on str, approximated: ASCII alphanumerics, '_', and any non-ASCII byte. */
static int word_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}

/* posixpath.normpath(p) into out (which holds strlen(p) + 2 bytes). */
static void normpath(const char *p, char *out)
{
    size_t o = 0, lead = 0;
    const char *s = p;
    if (!*p) {
        strcpy(out, ".");
        return;
    }
    if (p[0] == '/') lead = (p[1] == '/' && p[2] != '/') ? 2 : 1;
    for (size_t i = 0; i < lead; i++) out[o++] = '/';
    while (*s) {
        const char *seg;
        size_t len;
        while (*s == '/') s++;
        seg = s;
        while (*s && *s != '/') s++;
        len = (size_t)(s - seg);
        if (len == 0 || (len == 1 && seg[0] == '.')) continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            /* pop the last component unless there is none (or it is "..") */
            size_t end = o, beg;
            if (end > lead) {
                beg = end;
                while (beg > lead && out[beg - 1] != '/') beg--;
                if (!(end - beg == 2 && out[beg] == '.' && out[beg + 1] == '.')) {
                    o = beg > lead ? beg - 1 : lead;
                    continue;
                }
            } else if (lead) {
                continue; /* "/.." is "/" */
            }
        }
        if (o > lead) out[o++] = '/';
        memcpy(out + o, seg, len);
        o += len;
    }
    if (o == 0) out[o++] = '.';
    out[o] = '\0';
}

/* _validate_tag_name + the registry's key/value length limits. */
int trk__reg_validate_tag(const char *key, const char *value, trk_err *e)
{
    char *norm;
    int bad;
    if (!key) return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Missing value for required parameter 'key'. See the API docs for more information about request parameters.");
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (!word_char(*p) && !strchr("/.- ", *p))
            return trk__fail(
                e, TRK_INVALID_PARAMETER_VALUE,
                "Invalid tag name: '%.*s'. Names may only contain alphanumerics, "
                "underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).",
                trk__reg_utf8_prefix(key, 250, 400), key);
    }
    if (!(norm = malloc(strlen(key) + 3))) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    normpath(key, norm);
    bad = strcmp(norm, key) != 0 || strcmp(norm, ".") == 0 || strncmp(norm, "..", 2) == 0 ||
          norm[0] == '/';
    if (bad) {
        trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                  "Invalid tag name: '%.*s'. Names may be treated as files in certain cases, and "
                  "must not resolve to other names when treated as such. This name would resolve "
                  "to '%.*s'",
                  trk__reg_utf8_prefix(key, 100, 200), key, trk__reg_utf8_prefix(norm, 100, 200),
                  norm);
    }
    free(norm);
    if (bad) return -1;
    if (length_limit("key", key, TAG_KEY_MAX, e) < 0) return -1;
    return length_limit("value", value, TAG_VALUE_MAX, e);
}

int trk__reg_validate_alias(const char *alias, trk_err *e)
{
    const char *p = alias;
    if (!*alias)
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Registered model alias name cannot be empty.");
    for (; *p; p++) {
        if (!word_char((unsigned char)*p) && *p != '-')
            return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                             "Invalid alias name: '%.*s'. Names may only contain alphanumerics, "
                             "underscores (_), and dashes (-).",
                             trk__reg_utf8_prefix(alias, 250, 400), alias);
    }
    if (length_limit("Registered model alias name", alias, ALIAS_MAX, e) < 0) return -1;
    if (strcasecmp(alias, "latest") == 0)
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "'latest' alias name (case insensitive) is reserved.");
    if ((alias[0] == 'v' || alias[0] == 'V') && alias[1]) {
        for (p = alias + 1; *p && isdigit((unsigned char)*p); p++) {
        }
        if (!*p) return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Version alias name '%s' is reserved.", alias);
    }
    return 0;
}

/* int(version) like Python: surrounding blanks, a sign, digits with single '_' between. */
int trk__reg_parse_version(const char *s, int64_t *out, trk_err *e)
{
    const char *p = s;
    int neg = 0, digits = 0;
    uint64_t v = 0;
    while (isspace((unsigned char)*p)) p++;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    for (; *p; p++) {
        if (*p == '_' && digits && isdigit((unsigned char)p[1])) continue;
        if (!isdigit((unsigned char)*p)) break;
        if (v > (uint64_t)INT64_MAX / 10) goto bad;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > (uint64_t)INT64_MAX) goto bad;
        digits++;
    }
    while (isspace((unsigned char)*p)) p++;
    if (!digits || *p) goto bad;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
bad:
    return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                     "Parameter 'version' must be an integer, got '%.*s'.",
                     trk__reg_utf8_prefix(s, 100, 200), s);
}

/* The canonical stage name for s (any case), or NULL with e set. */
const char *trk__reg_canonical_stage(const char *s, trk_err *e)
{
    for (size_t i = 0; i < sizeof trk__reg_stages / sizeof trk__reg_stages[0]; i++) {
        if (strcasecmp(s, trk__reg_stages[i]) == 0) return trk__reg_stages[i];
    }
    trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
              "Invalid Model Version stage: %.*s. Value must be one of None, Staging, Production, "
              "Archived.",
              trk__reg_utf8_prefix(s, 100, 200), s);
    return NULL;
}

/* The scheme of a URI the way urllib.parse.urlparse finds it ("" for none), into out[32]. */
static void uri_scheme(const char *uri, char out[32])
{
    size_t i = 0;
    out[0] = '\0';
    if (!isalpha((unsigned char)uri[0])) return;
    while (uri[i] && (isalnum((unsigned char)uri[i]) || strchr("+-.", uri[i]))) i++;
    if (uri[i] != ':' || i >= 32) return;
    for (size_t k = 0; k < i; k++) out[k] = (char)tolower((unsigned char)uri[k]);
    out[i] = '\0';
}

/* The path part of a URI: after "scheme:" and "//netloc", before '?' / '#'. malloc'd. */
static char *uri_path(const char *uri, const char *scheme)
{
    const char *p = uri + strlen(scheme) + (*scheme ? 1 : 0), *end;
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        while (*p && *p != '/' && *p != '?' && *p != '#') p++;
    }
    end = p + strcspn(p, "?#");
    return strndup(p, (size_t)(end - p));
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* unquote_plus in place: 1 if anything changed, 0 if not, -1 if it decoded a NUL byte. */
static int unquote_plus(char *s)
{
    char *w = s;
    int changed = 0;
    for (const char *r = s; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
            changed = 1;
        } else if (*r == '%' && hexval((unsigned char)r[1]) >= 0 && hexval((unsigned char)r[2]) >= 0) {
            *w = (char)(hexval((unsigned char)r[1]) * 16 + hexval((unsigned char)r[2]));
            if (*w++ == '\0') return -1;
            r += 2;
            changed = 1;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return changed;
}

/* MLflow's _validate_source for model-versions/create: a local path must lie inside the
 * artifact directory of the given run; any other URI must not hold relative path references
 * (after repeated percent-decoding). */
int trk__reg_validate_source(ef_sql *db, const char *source, const char *run_id, trk_err *e)
{
    char scheme[32], *path = NULL, *decoded = NULL;
    int rc = -1, relative;
    uri_scheme(source, scheme);
    if (!*scheme || strcmp(scheme, "file") == 0) {
        char *art = NULL, *ns = NULL, *na = NULL;
        size_t n;
        if (*run_id) {
            ef_sql_stmt *st = trk__reg_prep(
                db, e, "SELECT artifact_uri FROM runs WHERE run_uuid = ?", "t", run_id);
            int step;
            if (!st) return -1;
            step = ef_sql_step(st);
            if (step == EF_SQL_ROW && !ef_sql_column_is_null(st, 0)) {
                char s2[32];
                const char *a = ef_sql_column_text(st, 0, NULL);
                uri_scheme(a, s2);
                if (!*s2 || strcmp(s2, "file") == 0) art = uri_path(a, s2);
            }
            ef_sql_finalize(st);
            if (step < 0) return trk__fail_db(e, db, "read run");
            if (step != EF_SQL_ROW)
                return trk__fail(e, TRK_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", run_id);
        }
        path = uri_path(source, scheme);
        if (art && path && unquote_plus(path) >= 0 && unquote_plus(art) >= 0 &&
            (ns = malloc(strlen(path) + 3)) && (na = malloc(strlen(art) + 3))) {
            normpath(path, ns);
            normpath(art, na);
            n = strlen(na);
            if (ns[0] == '/' && na[0] == '/' &&
                strncmp(ns, na, n) == 0 && (ns[n] == '\0' || ns[n] == '/' || n == 1))
                rc = 0;
        }
        free(ns);
        free(na);
        free(art);
        free(path);
        if (rc == 0) return 0;
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                         "Invalid model version source: '%.*s'. To use a local path as a model "
                         "version source, the run_id request parameter has to be specified and the "
                         "local path has to be contained within the artifact directory of the run "
                         "specified by the run_id.",
                         trk__reg_utf8_prefix(source, 200, 400), source);
    }
    if (!(decoded = strdup(source))) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    while ((rc = unquote_plus(decoded)) > 0) {
    }
    relative = rc < 0; /* a NUL byte */
    if (!relative) {
        uri_scheme(decoded, scheme);
        if (!(path = uri_path(decoded, scheme))) {
            free(decoded);
            return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        }
        /* "." / ".." segments or a relative path: what makes resolve() != path in MLflow */
        relative = path[0] && path[0] != '/';
        for (const char *s = path; *s && !relative;) {
            size_t len;
            while (*s == '/') s++;
            len = strcspn(s, "/");
            relative = (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.');
            s += len;
        }
    }
    rc = 0;
    if (relative)
        rc = trk__fail(e, TRK_INVALID_PARAMETER_VALUE,
                       "Invalid model version source: '%.*s'. If supplying a source as an http, "
                       "https, local file path, ftp, objectstore, or mlflow-artifacts uri, an "
                       "absolute path to the model must be provided without relative path "
                       "references present. Please provide an absolute path.",
                       trk__reg_utf8_prefix(source, 200, 400), source);
    free(path);
    free(decoded);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Model version sources: the location a new version's artifacts are read from.
 * ------------------------------------------------------------------------------------------- */
/* models:/<name>/<version|stage|latest> and models:/<name>@<alias> -> (name, version). */
static int resolve_models_uri(ef_sql *db, const char *uri, char **name, int64_t *version, trk_err *e)
{
    const char *p = uri + strlen("models:/"), *sep = p + strcspn(p, "/@");
    int found = 0;
    char *suffix;
    trk_err sub;
    if (sep == p || !*sep || strchr(sep + 1, '/') || !sep[1])
        return trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Not a proper models:/ URI: %s", uri);
    if (!(*name = strndup(p, (size_t)(sep - p))) || !(suffix = strdup(sep + 1))) {
        free(*name);
        *name = NULL;
        return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
    }
    if (*sep == '@') {
        found = trk__reg_q_int(
            db,
            trk__reg_prep(
                db, e, "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                "tt", *name, suffix),
            version, e);
    } else if (strspn(suffix, "0123456789") == strlen(suffix)) {
        found = trk__reg_parse_version(suffix, version, e) < 0 ? -1 : 1;
    } else if (strcasecmp(suffix, "latest") == 0) {
        found = trk__reg_q_int(
            db,
            trk__reg_prep(
                db, e,
                "SELECT MAX(version) FROM model_versions WHERE name = ? AND " TRK_NOT_DELETED, "t",
                *name),
            version, e);
    } else {
        const char *stage = trk__reg_canonical_stage(suffix, &sub);
        found = stage ? trk__reg_q_int(
                            db,
                            trk__reg_prep(db, e,
                                          "SELECT MAX(version) FROM model_versions WHERE name = ?"
                                          " AND current_stage = ?",
                                          "tt", *name, stage),
                            version, e)
                      : 0;
    }
    free(suffix);
    if (found == 0) trk__fail(e, TRK_INVALID_PARAMETER_VALUE, "Could not find a model version for %s", uri);
    return found > 0 ? 0 : -1;
}

/* Where the artifacts of a new version with this source are (NULL: the source itself). */
int trk__reg_resolve_storage(ef_sql *db, const char *source, char **out, trk_err *e)
{
    *out = NULL;
    if (strncmp(source, "models:/", 8) == 0) {
        char *name = NULL;
        int64_t version = 0;
        trk_err sub;
        int rc = resolve_models_uri(db, source, &name, &version, &sub);
        if (rc == 0) rc = trk__mv_location(db, name, version, out, &sub);
        free(name);
        if (rc < 0)
            return trk__fail(
                e, TRK_INVALID_PARAMETER_VALUE,
                "Unable to fetch model from model URI source artifact location '%.*s'.Error: %s",
                trk__reg_utf8_prefix(source, 200, 400), source, sub.message);
    } else if (strncmp(source, "runs:/", 6) == 0) {
        const char *id = source + 6, *slash = id + strcspn(id, "/");
        char *run_id = strndup(id, (size_t)(slash - id));
        ef_sql_stmt *st;
        int step;
        if (!run_id) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        st = trk__reg_prep(db, e, "SELECT artifact_uri FROM runs WHERE run_uuid = ?", "t", run_id);
        free(run_id);
        if (!st) return -1;
        step = ef_sql_step(st);
        if (step == EF_SQL_ROW && !ef_sql_column_is_null(st, 0)) {
            ef_buf b;
            const char *art = ef_sql_column_text(st, 0, NULL);
            size_t n = strlen(art);
            ef_buf_init(&b);
            while (*slash == '/') slash++;
            if (ef_buf_append(&b, art, n && art[n - 1] == '/' ? n - 1 : n) < 0 ||
                (*slash && ef_buf_appendf(&b, "/%s", slash) < 0) || !(*out = ef_buf_take(&b, NULL))) {
                ef_buf_release(&b);
                step = EF_ENOMEM;
            }
        }
        ef_sql_finalize(st);
        if (step == EF_ENOMEM) return trk__fail(e, TRK_INTERNAL_ERROR, "out of memory");
        if (step < 0) return trk__fail_db(e, db, "read run");
    }
    return 0;
}
