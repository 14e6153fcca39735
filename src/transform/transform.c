/* transform.c - the ingest pipeline's document transforms (NiFi's JoltTransformJSON, compiled).
 *
 * Everything that can be decided once is decided in ef_transform_add: field paths are split into
 * segments, value text is cut into literal pieces and placeholders, and a value without
 * placeholders is parsed to its JSON scalar up front. ef_transform_apply then walks the ops with
 * no allocation except the jansson values it puts into the document (a value longer than 512
 * bytes after expansion borrows a heap buffer for the duration of the call). The pipeline is
 * read-only during apply, so several threads may apply one pipeline concurrently.
 *
 * Paths: "meta.site" addresses doc.meta.site; "\." is a literal dot and "\\" a backslash in a
 * name. Writing ops (default, overwrite, the destination of rename) create missing or null
 * intermediate objects and fail with EF_EINVAL when an intermediate is some other type. Reading
 * ops (cast, remove, the source of rename) treat a path through a non-object as a missing field.
 *
 * Value templates: ${now_ms}, ${topic}, ${topic[N]} are expanded, "$$" is a literal "$"; then the
 * text is read by transform__scalar_parse (JSON scalar, else plain string). A template written as a
 * JSON string ("\"${topic[1]}\"") always gives a string and the expanded text is inserted verbatim
 * (not unescaped), so topic levels such as "007" or "123" stay strings.
 *
 * Hand-written because no Debian-packaged library implements Jolt-style transforms in C. Field
 * paths are compiled and walked by transform_path.c (shared through transform_int.h).
 */
#include "transform/transform.h"
#include "transform/transform_int.h"
#include "base/clock.h"
#include "base/err.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRANSFORM_MAGIC 0x7446524du /* "tFRM" */
#define TEMPLATE_STACK 512
#define MAX_TOPIC_LEVEL 65535u

typedef enum { OP_DEFAULT, OP_OVERWRITE, OP_CAST, OP_RENAME, OP_REMOVE } op_kind;

static const char *const op_names[] = {"default", "overwrite", "cast", "rename", "remove"};
static const char *const cast_names[] = {"long", "double", "string", "bool"};

typedef enum { PART_LIT, PART_NOW, PART_TOPIC, PART_LEVEL } part_kind;

typedef struct part {
    part_kind kind;
    uint32_t level; /* PART_LEVEL */
    size_t off;     /* PART_LIT: bytes [off, off+len) of tmpl.lit */
    size_t len;
} part;

typedef struct tmpl {
    char *lit; /* literal bytes, NUL-terminated; a constant is parsed in place here */
    size_t litlen;
    part *parts;
    size_t nparts;
    size_t nnow, ntopic; /* placeholder counts, to size the expansion */
    int quoted;          /* written as a JSON string: the result is always a string */
    int is_const;        /* no placeholders: cval is the value */
    transform__scalar cval;
} tmpl;

typedef struct op {
    op_kind kind;
    transform__path src;
    transform__path dst; /* rename */
    transform__cast_type cast;
    tmpl val;    /* default, overwrite */
    char *label; /* "default collected", "cast collected to long", "rename a to b" */
} op;

struct ef_transform {
    uint32_t magic;
    op *ops;
    size_t n, cap;
    char *index_pattern;
    int time_field_set;
    transform__path time_path; /* "collected" unless set */
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* --- value templates ------------------------------------------------------------------------ */

static void tmpl_release(tmpl *t)
{
    free(t->lit);
    free(t->parts);
    memset(t, 0, sizeof *t);
}

/* Parses the placeholder name in [s, e) (between "${" and "}"). */
static int placeholder(const char *s, size_t len, part *out)
{
    if (len == 6 && memcmp(s, "now_ms", 6) == 0) {
        out->kind = PART_NOW;
        return EF_OK;
    }
    if (len == 5 && memcmp(s, "topic", 5) == 0) {
        out->kind = PART_TOPIC;
        return EF_OK;
    }
    if (len < 8 || memcmp(s, "topic[", 6) != 0 || s[len - 1] != ']') return EF_EINVAL;
    uint32_t n = 0;
    for (size_t i = 6; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9') return EF_EINVAL;
        n = n * 10 + (uint32_t)(s[i] - '0');
        if (n > MAX_TOPIC_LEVEL) return EF_EINVAL;
    }
    out->kind = PART_LEVEL;
    out->level = n;
    return EF_OK;
}

/* Strips the quotes of a template written as a JSON string and unescapes its literal pieces.
 * Leaves the template untouched and returns 0 when it is not one. */
static int tmpl_try_quoted(tmpl *t)
{
    if (t->nparts < 2) return 0;
    part *first = &t->parts[0], *last = &t->parts[t->nparts - 1];
    if (first->kind != PART_LIT || last->kind != PART_LIT) return 0;
    if (t->lit[first->off] != '"' || last->len == 0 || t->lit[last->off + last->len - 1] != '"')
        return 0;
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < t->nparts; i++) {
            part *pt = &t->parts[i];
            if (pt->kind != PART_LIT) continue;
            size_t off = pt->off + (pt == first), len = pt->len - (pt == first) - (pt == last);
            size_t n;
            if (pass == 0) {
                char *copy = t->lit + off; /* dry run on a scratch copy */
                char scratch[TEMPLATE_STACK];
                char *tmp = len <= sizeof scratch ? scratch : malloc(len);
                if (!tmp) return EF_ENOMEM;
                memcpy(tmp, copy, len);
                int bad =
                    transform__unescape(tmp, len, &n) != EF_OK || !transform__utf8_valid(tmp, n);
                if (tmp != scratch) free(tmp);
                if (bad) return 0;
            } else {
                transform__unescape(t->lit + off, len, &n);
                pt->off = off;
                pt->len = n;
            }
        }
    }
    t->quoted = 1;
    return 1;
}

static int tmpl_compile(tmpl *t, const char *text, char *why, size_t whylen)
{
    size_t len = strlen(text), np = 0, cap = 4;
    int rc = EF_EINVAL;
    memset(t, 0, sizeof *t);
    t->lit = malloc(len + 1);
    t->parts = malloc(cap * sizeof *t->parts);
    if (!t->lit || !t->parts) {
        rc = EF_ENOMEM;
        goto fail;
    }
    size_t i = 0, w = 0;
    while (i < len) {
        part pt = {PART_LIT, 0, w, 0};
        if (text[i] == '$' && i + 1 < len && text[i + 1] == '{') {
            const char *close = memchr(text + i + 2, '}', len - i - 2);
            if (!close) {
                snprintf(why, whylen, "unterminated placeholder '%s'", text + i);
                goto fail;
            }
            size_t nlen = (size_t)(close - (text + i + 2));
            if (placeholder(text + i + 2, nlen, &pt) != EF_OK) {
                snprintf(why, whylen,
                         "unknown placeholder '%.*s' (use ${now_ms}, ${topic} or ${topic[N]})",
                         (int)(nlen + 3), text + i);
                goto fail;
            }
            if (pt.kind == PART_NOW)
                t->nnow++;
            else
                t->ntopic++;
            i += nlen + 3;
        } else {
            while (i < len && !(text[i] == '$' && i + 1 < len && text[i + 1] == '{')) {
                if (text[i] == '$' && i + 1 < len && text[i + 1] == '$') i++;
                t->lit[w++] = text[i++];
            }
            pt.len = w - pt.off;
        }
        if (np == cap) {
            part *grown = realloc(t->parts, 2 * cap * sizeof *grown);
            if (!grown) {
                rc = EF_ENOMEM;
                goto fail;
            }
            t->parts = grown;
            cap *= 2;
        }
        t->parts[np++] = pt;
    }
    t->lit[w] = '\0';
    t->litlen = w;
    t->nparts = np;
    if (t->nnow + t->ntopic == 0) {
        t->is_const = 1;
        if (transform__scalar_parse(t->lit, t->litlen, &t->cval) != EF_OK) {
            snprintf(why, whylen, "value is not valid UTF-8");
            goto fail;
        }
        return EF_OK;
    }
    if (tmpl_try_quoted(t) < 0) {
        rc = EF_ENOMEM;
        goto fail;
    }
    return EF_OK;
fail:
    tmpl_release(t);
    return rc;
}

/* Level n of topic ("a/b/c": 0 a, 1 b, 2 c). Returns 0, or EF_EINVAL with the level count. */
static int topic_level(const char *topic, size_t tlen, uint32_t n, const char **s, size_t *len,
                       size_t *levels)
{
    size_t level = 0, start = 0;
    for (size_t i = 0; i <= tlen; i++) {
        if (i < tlen && topic[i] != '/') continue;
        if (level == n) {
            *s = topic + start;
            *len = i - start;
            return EF_OK;
        }
        level++;
        start = i + 1;
    }
    *levels = level;
    return EF_EINVAL;
}

/* Builds the value of a default/overwrite op for this reading. */
static int make_value(const op *o, const ef_transform_ctx *ctx, json_t **out, char *err,
                      size_t errlen)
{
    const tmpl *tp = &o->val;
    char stack[TEMPLATE_STACK];
    char *buf = stack;
    int rc = EF_OK;
    *out = NULL;
    if (tp->is_const) {
        *out = transform__scalar_json(&tp->cval);
        return *out ? EF_OK : EF_ENOMEM;
    }
    int64_t now = ctx ? ctx->now_ms : ef_now_ms();
    if (tp->nparts == 1 && tp->parts[0].kind == PART_NOW) {
        *out = json_integer((json_int_t)now);
        return *out ? EF_OK : EF_ENOMEM;
    }
    const char *topic = ctx ? ctx->topic : NULL;
    size_t tlen = topic ? strlen(topic) : 0;
    if (tp->ntopic && !topic) {
        seterr(err, errlen, "%s: ${topic} used but the reading has no topic", o->label);
        return EF_EINVAL;
    }
    size_t need = tp->litlen + tp->nnow * 24 + tp->ntopic * tlen + 1;
    if (need > sizeof stack) {
        buf = malloc(need);
        if (!buf) return EF_ENOMEM;
    }
    size_t w = 0;
    for (size_t i = 0; i < tp->nparts; i++) {
        const part *pt = &tp->parts[i];
        switch (pt->kind) {
        case PART_LIT:
            memcpy(buf + w, tp->lit + pt->off, pt->len);
            w += pt->len;
            break;
        case PART_NOW:
            w += (size_t)snprintf(buf + w, need - w, "%" PRId64, now);
            break;
        case PART_TOPIC:
            memcpy(buf + w, topic, tlen);
            w += tlen;
            break;
        case PART_LEVEL: {
            const char *s;
            size_t len, levels;
            if (topic_level(topic, tlen, pt->level, &s, &len, &levels) != EF_OK) {
                seterr(err, errlen,
                       "%s: ${topic[%" PRIu32 "]} out of range: topic '%.200s' has "
                       "%zu level%s",
                       o->label, pt->level, topic, levels, levels == 1 ? "" : "s");
                rc = EF_EINVAL;
                goto out;
            }
            memcpy(buf + w, s, len);
            w += len;
            break;
        }
        }
    }
    buf[w] = '\0';
    if (tp->quoted) {
        if (!transform__utf8_valid(buf, w)) goto bad_utf8;
        *out = json_stringn_nocheck(buf, w);
    } else {
        transform__scalar sv;
        if (transform__scalar_parse(buf, w, &sv) != EF_OK) goto bad_utf8;
        *out = transform__scalar_json(&sv);
    }
    rc = *out ? EF_OK : EF_ENOMEM;
    goto out;
bad_utf8:
    seterr(err, errlen, "%s: value is not valid UTF-8", o->label);
    rc = EF_EINVAL;
out:
    if (buf != stack) free(buf);
    return rc;
}

/* --- pipeline ------------------------------------------------------------------------------- */

ef_transform *ef_transform_new(void)
{
    ef_transform *t = calloc(1, sizeof *t);
    char why[64];
    if (!t) return NULL;
    if (transform__path_compile(&t->time_path, "collected", why, sizeof why) != EF_OK) {
        free(t);
        return NULL;
    }
    t->magic = TRANSFORM_MAGIC;
    return t;
}

static void op_release(op *o)
{
    transform__path_release(&o->src);
    transform__path_release(&o->dst);
    tmpl_release(&o->val);
    free(o->label);
}

void ef_transform_free(ef_transform *t)
{
    if (!t) return;
    assert(t->magic == TRANSFORM_MAGIC);
    for (size_t i = 0; i < t->n; i++)
        op_release(&t->ops[i]);
    free(t->ops);
    free(t->index_pattern);
    transform__path_release(&t->time_path);
    t->magic = 0;
    free(t);
}

size_t ef_transform_count(const ef_transform *t)
{
    assert(t && t->magic == TRANSFORM_MAGIC);
    return t->n;
}

int ef_transform_add_field(ef_transform *t, const char *opname, const char *field,
                           const char *value, char *err, size_t errlen)
{
    assert(t && t->magic == TRANSFORM_MAGIC && opname && field);
    op o;
    char why[256] = "";
    int rc = EF_EINVAL;
    size_t k;
    memset(&o, 0, sizeof o);
    for (k = 0; k < sizeof op_names / sizeof *op_names; k++)
        if (strcmp(opname, op_names[k]) == 0) break;
    if (k == sizeof op_names / sizeof *op_names) {
        seterr(err, errlen,
               "unknown operation '%s' (use default, overwrite, cast, rename or remove)", opname);
        goto fail;
    }
    o.kind = (op_kind)k;
    if (o.kind == OP_REMOVE && value) {
        seterr(err, errlen, "remove %s: remove takes no value", field);
        goto fail;
    }
    if (o.kind != OP_REMOVE && !value) {
        seterr(err, errlen, "%s %s: missing value", opname, field);
        goto fail;
    }
    rc = transform__path_compile(&o.src, field, why, sizeof why);
    if (rc != EF_OK) {
        seterr(err, errlen, "%s: %s", opname, why);
        goto fail;
    }
    switch (o.kind) {
    case OP_DEFAULT:
    case OP_OVERWRITE:
        rc = tmpl_compile(&o.val, value, why, sizeof why);
        if (rc != EF_OK) {
            seterr(err, errlen, "%s %s: %s", opname, field, why);
            goto fail;
        }
        break;
    case OP_CAST:
        for (k = 0; k < 4; k++)
            if (strcmp(value, cast_names[k]) == 0) break;
        if (k == 4) {
            seterr(err, errlen, "cast: unknown type '%s' (use long, double, string or bool)",
                   value);
            rc = EF_EINVAL;
            goto fail;
        }
        o.cast = (transform__cast_type)k;
        break;
    case OP_RENAME:
        rc = transform__path_compile(&o.dst, value, why, sizeof why);
        if (rc != EF_OK) {
            seterr(err, errlen, "rename %s: %s", field, why);
            goto fail;
        }
        break;
    case OP_REMOVE:
        break;
    }
    {
        size_t n = strlen(opname) + strlen(field) + (value ? strlen(value) : 0) + 8;
        o.label = malloc(n);
        if (!o.label) {
            rc = EF_ENOMEM;
            goto fail;
        }
        if (o.kind == OP_CAST || o.kind == OP_RENAME)
            snprintf(o.label, n, "%s %s to %s", opname, field, value);
        else
            snprintf(o.label, n, "%s %s", opname, field);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        op *grown = realloc(t->ops, cap * sizeof *grown);
        if (!grown) {
            rc = EF_ENOMEM;
            goto fail;
        }
        t->ops = grown;
        t->cap = cap;
    }
    t->ops[t->n++] = o;
    return EF_OK;
fail:
    if (rc == EF_ENOMEM) seterr(err, errlen, "out of memory");
    op_release(&o);
    return rc;
}

static char *trimmed_dup(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return strndup(s, len);
}

int ef_transform_add(ef_transform *t, const char *opname, const char *arg, char *err, size_t errlen)
{
    assert(t && t->magic == TRANSFORM_MAGIC && opname && arg);
    char *field = NULL, *value = NULL;
    int rc = EF_ENOMEM;
    const char *eq = strchr(arg, '=');
    if (strcmp(opname, "remove") == 0) {
        field = trimmed_dup(arg, strlen(arg));
    } else if (!eq) {
        seterr(err, errlen, "%s: expected %s, got '%s'", opname,
               strcmp(opname, "cast") == 0     ? "field=type"
               : strcmp(opname, "rename") == 0 ? "old=new"
                                               : "field=value",
               arg);
        return EF_EINVAL;
    } else {
        field = trimmed_dup(arg, (size_t)(eq - arg));
        /* default/overwrite values are kept verbatim: surrounding spaces may be meant */
        if (strcmp(opname, "default") == 0 || strcmp(opname, "overwrite") == 0)
            value = strdup(eq + 1);
        else
            value = trimmed_dup(eq + 1, strlen(eq + 1));
        if (!value) goto out;
    }
    if (!field) goto out;
    rc = ef_transform_add_field(t, opname, field, value, err, errlen);
out:
    if (rc == EF_ENOMEM) seterr(err, errlen, "out of memory");
    free(field);
    free(value);
    return rc;
}

int ef_transform_set_index_pattern(ef_transform *t, const char *pattern, char *err, size_t errlen)
{
    assert(t && t->magic == TRANSFORM_MAGIC && pattern);
    char name[256], why[160];
    if (transform__index_name(pattern, ef_now_ms(), name, sizeof name, why, sizeof why) != EF_OK) {
        seterr(err, errlen, "index: invalid pattern '%s': %s", pattern, why);
        return EF_EINVAL;
    }
    char *copy = strdup(pattern);
    if (!copy) {
        seterr(err, errlen, "out of memory");
        return EF_ENOMEM;
    }
    free(t->index_pattern);
    t->index_pattern = copy;
    return EF_OK;
}

int ef_transform_set_time_field(ef_transform *t, const char *field, char *err, size_t errlen)
{
    assert(t && t->magic == TRANSFORM_MAGIC && field);
    transform__path p;
    char why[256];
    int rc = transform__path_compile(&p, field, why, sizeof why);
    if (rc != EF_OK) {
        seterr(err, errlen, "time_field: %s", rc == EF_ENOMEM ? "out of memory" : why);
        return rc;
    }
    transform__path_release(&t->time_path);
    t->time_path = p;
    t->time_field_set = 1;
    return EF_OK;
}

const char *ef_transform_index_pattern(const ef_transform *t)
{
    assert(t && t->magic == TRANSFORM_MAGIC);
    return t->index_pattern;
}

const char *ef_transform_time_field(const ef_transform *t)
{
    assert(t && t->magic == TRANSFORM_MAGIC);
    return t->time_field_set ? t->time_path.text : NULL;
}

int ef_transform_doc_time_ms(const ef_transform *t, const json_t *doc, int64_t *out_ms)
{
    assert(t && t->magic == TRANSFORM_MAGIC && out_ms);
    json_t *parent =
        json_is_object(doc) ? transform__walk_find((json_t *)doc, &t->time_path) : NULL;
    json_t *v = parent ? json_object_get(parent, transform__path_leaf(&t->time_path)) : NULL;
    if (!v || json_is_null(v)) return EF_ENOTFOUND;
    if (json_is_integer(v)) {
        *out_ms = (int64_t)json_integer_value(v);
        return EF_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return EF_EINVAL;
        *out_ms = (int64_t)d;
        return EF_OK;
    }
    return EF_EINVAL;
}

int transform__merge(ef_transform *dst, ef_transform *src)
{
    assert(dst && dst->magic == TRANSFORM_MAGIC && src && src->magic == TRANSFORM_MAGIC);
    if (dst->cap - dst->n < src->n) {
        size_t cap = dst->n + src->n;
        op *grown = realloc(dst->ops, cap * sizeof *grown);
        if (!grown) return EF_ENOMEM;
        dst->ops = grown;
        dst->cap = cap;
    }
    if (src->n) memcpy(dst->ops + dst->n, src->ops, src->n * sizeof *src->ops);
    dst->n += src->n;
    src->n = 0;
    if (src->index_pattern) {
        free(dst->index_pattern);
        dst->index_pattern = src->index_pattern;
        src->index_pattern = NULL;
    }
    if (src->time_field_set) {
        transform__path tmp = dst->time_path;
        dst->time_path = src->time_path;
        dst->time_field_set = 1;
        src->time_path = tmp;
        src->time_field_set = 0;
    }
    return EF_OK;
}

/* --- apply ---------------------------------------------------------------------------------- */

static int apply_set(const op *o, json_t *doc, const ef_transform_ctx *ctx, char *err,
                     size_t errlen)
{
    char why[256];
    json_t *parent = transform__walk_find(doc, &o->src);
    if (o->kind == OP_DEFAULT && parent) {
        json_t *cur = json_object_get(parent, transform__path_leaf(&o->src));
        if (cur && !json_is_null(cur)) return EF_OK;
    }
    json_t *v;
    int rc = make_value(o, ctx, &v, err, errlen);
    if (rc != EF_OK) return rc;
    if (!parent) {
        rc = transform__walk_create(doc, &o->src, &parent, why, sizeof why);
        if (rc != EF_OK) {
            json_decref(v);
            if (rc == EF_EINVAL) seterr(err, errlen, "%s: %s", o->label, why);
            return rc;
        }
    }
    return json_object_set_new_nocheck(parent, transform__path_leaf(&o->src), v) == 0 ? EF_OK
                                                                                      : EF_ENOMEM;
}

static int apply_cast(const op *o, json_t *doc, char *err, size_t errlen)
{
    char why[256];
    json_t *parent = transform__walk_find(doc, &o->src);
    json_t *cur = parent ? json_object_get(parent, transform__path_leaf(&o->src)) : NULL;
    json_t *v;
    if (!cur) return EF_OK;
    int rc = transform__cast(cur, o->cast, &v, why, sizeof why);
    if (rc == EF_EINVAL) seterr(err, errlen, "%s: %s", o->label, why);
    if (rc != EF_OK || !v) return rc;
    return json_object_set_new_nocheck(parent, transform__path_leaf(&o->src), v) == 0 ? EF_OK
                                                                                      : EF_ENOMEM;
}

static int apply_rename(const op *o, json_t *doc, char *err, size_t errlen)
{
    char why[256];
    json_t *sparent = transform__walk_find(doc, &o->src), *dparent;
    json_t *v = sparent ? json_object_get(sparent, transform__path_leaf(&o->src)) : NULL;
    if (!v) return EF_OK;
    json_incref(v);
    json_object_del(sparent, transform__path_leaf(&o->src));
    int rc = transform__walk_create(doc, &o->dst, &dparent, why, sizeof why);
    if (rc != EF_OK) {
        /* put the field back so a failed rename leaves the document as it was */
        json_object_set_nocheck(sparent, transform__path_leaf(&o->src), v);
        json_decref(v);
        if (rc == EF_EINVAL) seterr(err, errlen, "%s: %s", o->label, why);
        return rc;
    }
    return json_object_set_new_nocheck(dparent, transform__path_leaf(&o->dst), v) == 0 ? EF_OK
                                                                                       : EF_ENOMEM;
}

int ef_transform_apply(const ef_transform *t, json_t *doc, const ef_transform_ctx *ctx, char *err,
                       size_t errlen)
{
    assert(t && t->magic == TRANSFORM_MAGIC);
    int rc = EF_OK;
    if (!json_is_object(doc)) {
        seterr(err, errlen, "document is not a JSON object");
        return EF_EINVAL;
    }
    for (size_t i = 0; i < t->n && rc == EF_OK; i++) {
        const op *o = &t->ops[i];
        switch (o->kind) {
        case OP_DEFAULT:
        case OP_OVERWRITE:
            rc = apply_set(o, doc, ctx, err, errlen);
            break;
        case OP_CAST:
            rc = apply_cast(o, doc, err, errlen);
            break;
        case OP_RENAME:
            rc = apply_rename(o, doc, err, errlen);
            break;
        case OP_REMOVE: {
            json_t *parent = transform__walk_find(doc, &o->src);
            if (parent) json_object_del(parent, transform__path_leaf(&o->src));
            break;
        }
        }
    }
    if (rc == EF_ENOMEM) seterr(err, errlen, "out of memory");
    return rc;
}
