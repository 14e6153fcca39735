/* transform_int.h - internals shared by the files of the transform module (not a public API).
 *
 * transform_value.c: value text -> JSON scalar, JSON string unescaping, UTF-8 checks, casts.
 * transform.c:       compiled pipeline (paths, value templates), ef_transform_apply.
 * transform_yaml.c:  the YAML pipeline file.
 * transform_index.c: index names from a strftime-like pattern.
 */
#ifndef EF_TRANSFORM_TRANSFORM_INT_H
#define EF_TRANSFORM_TRANSFORM_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TRANSFORM_VAL_NULL,
    TRANSFORM_VAL_TRUE,
    TRANSFORM_VAL_FALSE,
    TRANSFORM_VAL_INT,
    TRANSFORM_VAL_REAL,
    TRANSFORM_VAL_STR,
} transform__val_kind;

/* A parsed scalar; s points into the text that was parsed (not owned). */
typedef struct transform__scalar {
    transform__val_kind kind;
    int64_t i;
    double d;
    const char *s;
    size_t slen;
} transform__scalar;

typedef enum {
    TRANSFORM_CAST_LONG,
    TRANSFORM_CAST_DOUBLE,
    TRANSFORM_CAST_STRING,
    TRANSFORM_CAST_BOOL,
} transform__cast_type;

/* 1 if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int transform__utf8_valid(const char *s, size_t len);

/* Unescapes the body of a JSON string (between the quotes) in place. Fails (EF_EINVAL) on a bare
 * '"', a control character, a bad escape or an unpaired surrogate. *outlen <= len. */
int transform__unescape(char *s, size_t len, size_t *outlen);

/* Parses value text (after placeholder expansion) into a scalar: a JSON number, true, false, null
 * or a quoted JSON string as jansson would read it, else the text itself as a plain string.
 * s must be NUL-terminated at len and may be modified in place (quoted strings are unescaped).
 * Returns 0, or EF_EINVAL when the resulting string is not valid UTF-8. */
int transform__scalar_parse(char *s, size_t len, transform__scalar *out);

/* A new JSON value for v (strings are copied); NULL on out-of-memory. */
json_t *transform__scalar_json(const transform__scalar *v);

/* Casts v. On success returns 0 and *out is the new value (owned by the caller) or NULL when v
 * already has the requested type (or is null, which every cast keeps). On failure returns
 * EF_EINVAL with the reason in why, or EF_ENOMEM. */
int transform__cast(const json_t *v, transform__cast_type type, json_t **out, char *why,
                    size_t whylen);

struct ef_transform;

/* Moves the operations of src to the end of dst, and src's index pattern / time field when set;
 * src is left empty. Returns 0, or EF_ENOMEM with dst and src unchanged. */
int transform__merge(struct ef_transform *dst, struct ef_transform *src);

/* ef_transform_index_name with the reason for EF_EINVAL in why. */
int transform__index_name(const char *pattern, int64_t epoch_ms, char *out, size_t outlen,
                          char *why, size_t whylen);

#endif
