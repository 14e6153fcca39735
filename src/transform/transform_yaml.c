/* transform_yaml.c - the YAML pipeline file (libyaml's document API).
 *
 *   index: sensor-%Y-%m              # optional: ef_transform_set_index_pattern
 *   time_field: collected            # optional: ef_transform_set_time_field
 *   transforms:                      # optional: ops in order
 *     - default: {collected: "${now_ms}"}     # mapping field: value, applied in written order
 *     - cast: {collected: long}
 *     - rename: {temp: temperature}
 *     - remove: [debug, meta.raw]             # or a single name: `remove: debug`
 *     - overwrite: "source=edge"              # the flag form "field=value" also works
 *
 * Values are the scalar's text (YAML quoting only protects "${...}" from YAML's flow syntax; the
 * text is then read by the value rules of transform_value.c, so "${now_ms}" and 42 both give
 * integers). A plain ~ or empty value means null. Unknown top-level keys are errors, so a typo
 * ("transform:") is caught instead of silently giving an empty pipeline.
 *
 * Errors read "<file>:<line>: <problem>". The file is loaded into a scratch pipeline and merged
 * only when it loaded completely, so a failed load leaves the caller's pipeline unchanged.
 */
#include "transform/transform.h"
#include "transform/transform_int.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define PIPELINE_MAX_BYTES (1u << 20)

typedef struct loader {
    ef_transform *t;
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t errlen;
} loader;

static int fail_at(loader *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(loader *l, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (l->err && l->errlen)
        snprintf(l->err, l->errlen, "%s:%zu: %s", l->name, n ? n->start_mark.line + 1 : 1, msg);
    return EF_EINVAL;
}

static yaml_node_t *node(loader *l, int id)
{
    return yaml_document_get_node(l->doc, id);
}

/* The scalar's text, or NULL when n is not a scalar or holds a NUL byte. */
static const char *scalar_text(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE) return NULL;
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) return NULL;
    return s;
}

static const char *value_text(const yaml_node_t *n)
{
    const char *s = scalar_text(n);
    if (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!*s || strcmp(s, "~") == 0))
        return "null";
    return s;
}

/* Runs one add; its message gets the node's line. */
static int add(loader *l, const yaml_node_t *at, const char *op, const char *field,
               const char *value)
{
    char msg[400];
    int rc = ef_transform_add_field(l->t, op, field, value, msg, sizeof msg);
    if (rc == EF_EINVAL) return fail_at(l, at, "%s", msg);
    if (rc != EF_OK && l->err && l->errlen)
        snprintf(l->err, l->errlen, "%s: %s", l->name, ef_strerror(rc));
    return rc;
}

static int load_op(loader *l, const yaml_node_t *item)
{
    if (item->type != YAML_MAPPING_NODE ||
        item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1)
        return fail_at(l, item,
                       "each transforms entry must be a mapping with one operation, e.g. "
                       "'- cast: {collected: long}'");
    yaml_node_pair_t *pair = item->data.mapping.pairs.start;
    const yaml_node_t *kn = node(l, pair->key), *vn = node(l, pair->value);
    const char *op = scalar_text(kn);
    int rc = EF_OK;
    if (!op) return fail_at(l, kn, "operation name must be a string");
    if (strcmp(op, "default") && strcmp(op, "overwrite") && strcmp(op, "cast") &&
        strcmp(op, "rename") && strcmp(op, "remove"))
        return fail_at(
            l, kn, "unknown operation '%s' (use default, overwrite, cast, rename or remove)", op);
    if (strcmp(op, "remove") == 0) {
        if (vn->type == YAML_SCALAR_NODE) {
            const char *f = scalar_text(vn);
            if (!f) return fail_at(l, vn, "remove: field name contains a NUL byte");
            return add(l, vn, op, f, NULL);
        }
        if (vn->type != YAML_SEQUENCE_NODE)
            return fail_at(l, vn, "remove: expected a field name or a list of field names");
        for (yaml_node_item_t *it = vn->data.sequence.items.start;
             rc == EF_OK && it < vn->data.sequence.items.top; it++) {
            const yaml_node_t *fn = node(l, *it);
            const char *f = scalar_text(fn);
            if (!f) return fail_at(l, fn, "remove: each entry must be a field name");
            rc = add(l, fn, op, f, NULL);
        }
        return rc;
    }
    if (vn->type == YAML_SCALAR_NODE) {
        const char *s = scalar_text(vn);
        char msg[400];
        if (!s) return fail_at(l, vn, "%s: value contains a NUL byte", op);
        rc = ef_transform_add(l->t, op, s, msg, sizeof msg);
        if (rc == EF_EINVAL) return fail_at(l, vn, "%s", msg);
        return rc;
    }
    if (vn->type != YAML_MAPPING_NODE)
        return fail_at(l, vn, "%s: expected a mapping of field: %s", op,
                       strcmp(op, "cast") == 0     ? "type"
                       : strcmp(op, "rename") == 0 ? "new name"
                                                   : "value");
    for (yaml_node_pair_t *p = vn->data.mapping.pairs.start;
         rc == EF_OK && p < vn->data.mapping.pairs.top; p++) {
        const yaml_node_t *fk = node(l, p->key), *fv = node(l, p->value);
        const char *field = scalar_text(fk);
        const char *value = value_text(fv);
        if (!field) return fail_at(l, fk, "%s: field names must be strings", op);
        if (!value && fv->type == YAML_SCALAR_NODE)
            return fail_at(l, fv, "%s %s: the value contains a NUL byte", op, field);
        if (!value)
            return fail_at(l, fv,
                           "%s %s: the value must be a scalar (use dotted names for "
                           "nested fields)",
                           op, field);
        rc = add(l, fv, op, field, value);
    }
    return rc;
}

static int load_root(loader *l, const yaml_node_t *root)
{
    int rc = EF_OK;
    char msg[400];
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(l, root, "the top level must be a mapping (index, time_field, transforms)");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         rc == EF_OK && p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *kn = node(l, p->key), *vn = node(l, p->value);
        const char *key = scalar_text(kn);
        if (!key) return fail_at(l, kn, "keys must be strings");
        if (strcmp(key, "index") == 0 || strcmp(key, "time_field") == 0) {
            const char *s = scalar_text(vn);
            if (!s) return fail_at(l, vn, "%s: expected a string", key);
            rc = key[0] == 'i' ? ef_transform_set_index_pattern(l->t, s, msg, sizeof msg)
                               : ef_transform_set_time_field(l->t, s, msg, sizeof msg);
            if (rc == EF_EINVAL) return fail_at(l, vn, "%s", msg);
        } else if (strcmp(key, "transforms") == 0) {
            const char *s = value_text(vn);
            if (s && strcmp(s, "null") == 0) continue; /* "transforms:" with nothing under it */
            if (vn->type != YAML_SEQUENCE_NODE)
                return fail_at(l, vn, "transforms: expected a list of operations");
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 rc == EF_OK && it < vn->data.sequence.items.top; it++)
                rc = load_op(l, node(l, *it));
        } else {
            return fail_at(l, kn, "unknown key '%s' (expected index, time_field or transforms)",
                           key);
        }
    }
    return rc;
}

int ef_transform_load_yaml_mem(ef_transform *t, const char *name, const char *data, size_t len,
                               char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    ef_transform *scratch = ef_transform_new();
    loader l = {scratch, &doc, name ? name : "pipeline", err, errlen};
    int rc = EF_ENOMEM, have_doc = 0;
    if (err && errlen) err[0] = '\0';
    if (!scratch || !yaml_parser_initialize(&parser)) {
        if (err && errlen) snprintf(err, errlen, "%s: out of memory", l.name);
        ef_transform_free(scratch);
        return EF_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        if (parser.error == YAML_MEMORY_ERROR) {
            if (err && errlen) snprintf(err, errlen, "%s: out of memory", l.name);
            goto out;
        }
        yaml_node_t at;
        memset(&at, 0, sizeof at);
        at.start_mark = parser.problem_mark;
        rc = fail_at(&l, &at, "YAML syntax error: %s%s%s",
                     parser.problem ? parser.problem : "unknown problem", parser.context ? " " : "",
                     parser.context ? parser.context : "");
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    rc = root ? load_root(&l, root) : EF_OK;
    if (rc == EF_OK) {
        rc = transform__merge(t, scratch);
        if (rc != EF_OK && err && errlen) snprintf(err, errlen, "%s: out of memory", l.name);
    }
out:
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    ef_transform_free(scratch);
    return rc;
}

int ef_transform_load_yaml(ef_transform *t, const char *path, char *err, size_t errlen)
{
    ef_buf b;
    ef_buf_init(&b);
    int rc = ef_fs_read(path, PIPELINE_MAX_BYTES, &b);
    if (rc != EF_OK) {
        if (err && errlen) {
            if (rc == EF_ETOOBIG)
                snprintf(err, errlen, "%s: pipeline file larger than %u bytes", path,
                         PIPELINE_MAX_BYTES);
            else
                snprintf(err, errlen, "%s: cannot read: %s", path,
                         rc == EF_ENOTFOUND ? "no such file" : strerror(errno));
        }
        rc = rc == EF_ETOOBIG ? EF_EINVAL : EF_EIO;
        goto out;
    }
    rc = ef_transform_load_yaml_mem(t, path, b.data ? b.data : "", b.len, err, errlen);
out:
    ef_buf_release(&b);
    return rc;
}
