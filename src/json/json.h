/* json.h - jansson helpers: the one JSON writer and the one double formatter of edgeflow.
 *
 * jansson's json_dumps() prints reals with 17 significant digits ("0.94999999999999996"); users
 * see what the agent publishes, what ingest stores and what the search API returns, so every
 * document text that leaves the process is written by ef_json_dump() instead, which prints reals
 * as the shortest text that reads back to the same double (Python's repr: "0.95", "1.0",
 * "1e-05", "1e+16"). Everything else is byte-for-byte what json_dumps(v, JSON_COMPACT) writes:
 * no spaces, object keys in insertion order, strings escaped per RFC 8259 (", \, and control
 * characters as \b \f \n \r \t or \u00XX with upper-case hex; '/' and non-ASCII UTF-8 as is).
 *
 * ef_json_format_double() is also what csv/ (pandas-compatible cells) and transform/ (cast to
 * string) use, so a number prints the same everywhere.
 */
#ifndef EF_JSON_JSON_H
#define EF_JSON_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "base/buf.h"

/* Deepest nesting of arrays/objects ef_json_dump() writes; jansson's parser accepts the same. */
#define EF_JSON_MAX_DEPTH 2048

/* Bytes (with the NUL) that always suffice for ef_json_format_double(). */
#define EF_JSON_DOUBLE_MAX 32

/* Formats v like Python's repr(float): the shortest digit string that strtod() reads back as v
 * (the closest to v among equally short ones), in fixed notation with at least one fractional
 * digit for decimal exponents -4..15 ("0.0001", "23.0", "1000000000000000.0") and otherwise in
 * exponent notation with at least two exponent digits ("1e-05", "1.5e+16", "5e-324"); "-0.0",
 * "nan", "inf", "-inf". Writes a NUL-terminated string to out and returns its length, or
 * EF_ETOOBIG when outlen is too small (EF_JSON_DOUBLE_MAX always suffices; out is then
 * untouched). */
int ef_json_format_double(double v, char *out, size_t outlen);

/* Appends v (any JSON value, not only objects and arrays) to out as compact JSON text as
 * described at the top of this file; reals via ef_json_format_double(), and a non-finite real
 * (jansson refuses to create one, so it cannot normally appear) as null. Allocates nothing but
 * the buffer's growth (and, past 64 levels of nesting, one stack array).
 * Returns 0, EF_EINVAL (v is NULL or nested deeper than EF_JSON_MAX_DEPTH, which includes a
 * container holding itself) or EF_ENOMEM; on failure out is as it was before the call. */
int ef_json_dump(const json_t *v, ef_buf *out);

/* ef_json_dump() into a new malloc'd NUL-terminated string the caller frees; its length (without
 * the NUL) goes to *len when len is not NULL. NULL on EF_EINVAL or EF_ENOMEM. */
char *ef_json_dumps(const json_t *v, size_t *len);

#endif
