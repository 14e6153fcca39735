/* transform_int.h - internals shared by the files of the transform module (not a public API).
 *
 * transform_value.c: value text -> JSON scalar, JSON string unescaping, UTF-8 checks, casts.
 * transform.c:       compiled pipeline (value templates, ops), ef_transform_apply.
 * transform_path.c:  dotted field paths, compiled and walked through documents.
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

/* A dotted field path, split once. seg[] and end[] live in one allocation with the segment text. */
typedef struct transform__path {
    char *text;  /* as written, for messages */
    char **seg;  /* n NUL-terminated, unescaped names; NULL when unset */
    size_t *end; /* end[i]: offset in text where segment i ends (messages name the prefix) */
    size_t n;
} transform__path;

/* Compiles text ("a.b"; "\." is a literal dot, "\\" a backslash) into p (overwritten). 0,
 * EF_ENOMEM, or EF_EINVAL with the reason in why (empty name, not UTF-8). */
int transform__path_compile(transform__path *p, const char *text, char *why, size_t whylen);
/* Frees p's memory and zeroes it (a zeroed path is fine). */
void transform__path_release(transform__path *p);
/* The object holding the path's last segment, or NULL when an intermediate is missing or is not
 * an object (reading ops treat both as "field missing"). */
json_t *transform__walk_find(json_t *doc, const transform__path *p);
/* Like transform__walk_find, creating missing or null intermediates as {} (*parent: the holder
 * of the last segment). 0, EF_ENOMEM, or EF_EINVAL with the reason in why when an intermediate
 * is some other type. */
int transform__walk_create(json_t *doc, const transform__path *p, json_t **parent, char *why,
                           size_t whylen);
/* The path's last segment. */
const char *transform__path_leaf(const transform__path *p);

struct ef_transform;

/* Moves the operations of src to the end of dst, and src's index pattern / time field when set;
 * src is left empty. Returns 0, or EF_ENOMEM with dst and src unchanged. */
int transform__merge(struct ef_transform *dst, struct ef_transform *src);

/* ef_transform_index_name with the reason for EF_EINVAL in why. */
int transform__index_name(const char *pattern, int64_t epoch_ms, char *out, size_t outlen,
                          char *why, size_t whylen);

#endif
