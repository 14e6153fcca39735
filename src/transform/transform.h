/* transform.h - the ingest pipeline's document transforms (what NiFi's JoltTransformJSON did).
 *
 * A pipeline is an ordered list of operations applied to one JSON object:
 *   default   field = value   set only when the field is missing (or null)
 *   overwrite field = value   always set
 *   cast      field -> long | double | string | bool   (missing field: no-op; impossible cast: error)
 *   rename    field -> new name   (missing: no-op)
 *   remove    field
 * Values are JSON scalars written as text; placeholders are expanded before parsing:
 *   ${now_ms} (receive time, epoch ms), ${topic} (whole topic), ${topic[N]} (Nth level, 0-based).
 * Field names may be dotted paths into nested objects ("meta.site").
 *
 * YAML pipeline file:
 *   index: sensor-%Y-%m          # strftime-like pattern on the time field, UTC (optional)
 *   time_field: collected        # (optional, default collected)
 *   transforms:
 *     - default: {collected: "${now_ms}"}
 *     - cast: {collected: long}
 *     - rename: {temp: temperature}
 *     - remove: [debug]
 * Flags use "field=value" text: ef_transform_add(t, "default", "collected=${now_ms}").
 */
#ifndef EF_TRANSFORM_TRANSFORM_H
#define EF_TRANSFORM_TRANSFORM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ef_transform ef_transform;

ef_transform *ef_transform_new(void);
void ef_transform_free(ef_transform *t);

/* Appends one operation. op: "default", "overwrite", "cast", "rename", "remove"; arg:
 * "field=value" (default/overwrite), "field=type" (cast), "old=new" (rename), "field" (remove).
 * Returns 0 or EF_EINVAL with a readable message in err. */
int ef_transform_add(ef_transform *t, const char *op, const char *arg, char *err, size_t errlen);

/* Appends the operations of a YAML pipeline file; also reads `index` and `time_field` when present
 * (returned through ef_transform_index_pattern / ef_transform_time_field). Returns 0 or EF_EINVAL /
 * EF_EIO with err naming the file, line and problem. */
int ef_transform_load_yaml(ef_transform *t, const char *path, char *err, size_t errlen);

/* NULL when the pipeline file set none. */
const char *ef_transform_index_pattern(const ef_transform *t);
const char *ef_transform_time_field(const ef_transform *t);

typedef struct ef_transform_ctx {
    int64_t now_ms;    /* receive time */
    const char *topic; /* MQTT topic, or NULL */
} ef_transform_ctx;

/* Applies the pipeline to doc (a JSON object) in place. Returns 0, or EF_EINVAL with err saying
 * which operation failed on which field (e.g. "cast collected to long: not a number: \"abc\""). */
int ef_transform_apply(const ef_transform *t, json_t *doc, const ef_transform_ctx *ctx, char *err,
                       size_t errlen);

/* Formats an index name from a strftime-like pattern and epoch ms, in UTC (%Y %m %d %H %j %G %V
 * %%). Returns 0 or EF_EINVAL (pattern would produce an empty or over-long name, or contains
 * characters Elasticsearch forbids in index names: \ / * ? " < > | space , #). */
int ef_transform_index_name(const char *pattern, int64_t epoch_ms, char *out, size_t outlen);

/* --- Additions (same semantics as above, for callers that already have the parts apart) ---- */

/* Like ef_transform_add with the field and the value/type/new name given separately (value is
 * NULL for remove), so field names may contain '='. Returns 0, EF_EINVAL (err says why) or
 * EF_ENOMEM. */
int ef_transform_add_field(ef_transform *t, const char *op, const char *field, const char *value,
                           char *err, size_t errlen);

/* Like ef_transform_load_yaml on a pipeline held in memory; name is used in messages. */
int ef_transform_load_yaml_mem(ef_transform *t, const char *name, const char *data, size_t len,
                               char *err, size_t errlen);

/* Sets (replaces) the index pattern, e.g. from a --index flag. The pattern is checked by
 * formatting it once. Returns 0, EF_EINVAL or EF_ENOMEM. */
int ef_transform_set_index_pattern(ef_transform *t, const char *pattern, char *err, size_t errlen);

/* Sets (replaces) the time field (a dotted path). Returns 0, EF_EINVAL or EF_ENOMEM. */
int ef_transform_set_time_field(ef_transform *t, const char *field, char *err, size_t errlen);

/* Number of operations in the pipeline. */
size_t ef_transform_count(const ef_transform *t);

/* Reads the time field of doc (time_field, or "collected" when none was set) as epoch ms: an
 * integer as is, a finite real truncated toward zero. Returns 0, EF_ENOTFOUND (missing or null)
 * or EF_EINVAL (not a number, or out of the int64 range). */
int ef_transform_doc_time_ms(const ef_transform *t, const json_t *doc, int64_t *out_ms);

#endif
