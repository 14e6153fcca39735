/* search.c - MLflow's search grammar (spec §8) compiled to parameterised SQL for the schema of
 * schema.c: the compile context, the identifier tables, the grammar rules of filters, MLflow's
 * validation, and the SQL emitted for each comparison. The order_by items are compiled in
 * search_order.c; the tokenizer, value parsing and the offset page tokens of spec §9 are in
 * search_lex.c; the three share search_int.h.
 *
 * Hand-written because MLflow parses filters with Python's sqlparse, which has no C equivalent;
 * these files reproduce the subset of sqlparse's behaviour MLflow relies on:
 *
 *   filter     := item (AND item)*            AND is case-insensitive; anything else (OR, NOT,
 *   item       := ident op value              parentheses, stray tokens) is collected and
 *               | ident [NOT] IN list         reported as "Invalid clause(s) in filter string"
 *   ident      := part ('.' part)*            part: bare word, `backticked` or "double quoted";
 *                                             the first part is the entity, the rest the key
 *   value      := 'string' | "string" | number | bare word (rejected later with MLflow's text)
 *   list       := '(' 'string' (',' 'string')* ')'
 *   op         := = != <> < <= > >= == LIKE ILIKE   (validated per entity, upper-cased)
 *   order_by   := ident [ASC|DESC]
 *
 * Validation follows MLflow 2.12.2's search_utils.py + SQLAlchemy stores check by check, with
 * their messages (Python set/tuple reprs printed in a fixed order), except that every error is
 * INVALID_PARAMETER_VALUE (MLflow raises some comparator errors without a code, i.e. 500).
 *
 * Deliberate choices, documented because they differ from MLflow's SQL store in corner cases:
 *  - LIKE is case-sensitive and ILIKE case-insensitive in both dialects, with '\' as the escape
 *    character in both (PostgreSQL's default). SQLite's LIKE ignores ASCII case, so on SQLite
 *    LIKE compiles to GLOB with the pattern translated (% -> *, _ -> ?, literal * ? [ -> [*] [?]
 *    [[]), which is exact and case-sensitive; ILIKE compiles to LIKE ... ESCAPE '\'. A trailing
 *    lone '\' is taken literally instead of being an error.
 *  - Metric comparisons follow Python semantics for NaN (the file store): a NaN latest value
 *    satisfies only '!='. MLflow's SQL store compares the stored placeholder 0 instead.
 *  - Text in ORDER BY uses COLLATE "C" on PostgreSQL so both dialects sort bytewise.
 *  - run_id IN lists drop values that are not lower-case, like MLflow; dataset lists don't.
 */
#include "tracking/search_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/strlist.h"

/* --- compile context (the type is in search_int.h) --------------------------------------- */
void trk__search_ap(trk_search_cctx *c, ef_buf *b, const char *fmt, ...)
{
    va_list v;
    va_start(v, fmt);
    if (ef_buf_vappendf(b, fmt, v)) c->oom = 1;
    va_end(v);
}

static trk_sql_param *param_new(trk_search_cctx *c)
{
    trk_search_sql *s = c->ps;
    if (s->nparams == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        trk_sql_param *v = realloc(s->params, cap * sizeof *v);
        if (!v) {
            c->oom = 1;
            return NULL;
        }
        s->params = v;
        s->cap = cap;
    }
    trk_sql_param *p = &s->params[s->nparams];
    memset(p, 0, sizeof *p);
    return p;
}

void trk__search_param_text(trk_search_cctx *c, const char *s, size_t n)
{
    trk_sql_param *p = param_new(c);
    if (!p) return;
    p->s = malloc(n + 1);
    if (!p->s) {
        c->oom = 1;
        return;
    }
    memcpy(p->s, s, n);
    p->s[n] = '\0';
    p->type = 't';
    c->ps->nparams++;
}

static void param_double(trk_search_cctx *c, double d)
{
    trk_sql_param *p = param_new(c);
    if (!p) return;
    p->type = 'd';
    p->d = d;
    c->ps->nparams++;
}

/* Binds a number literal: an int64 when it is an integer that fits, else a double. */
static void param_number(trk_search_cctx *c, const char *s, size_t n)
{
    char tmp[128];
    trk_sql_param *p = param_new(c);
    if (!p) return;
    snprintf(tmp, sizeof tmp, "%.*s", (int)n, s);
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (*end == '\0' && errno == 0) {
        p->type = 'i';
        p->i = v;
    } else {
        p->type = 'd';
        p->d = strtod(tmp, NULL);
    }
    c->ps->nparams++;
}

/* --- identifiers -------------------------------------------------------------------------- */
/* Maps a run entity name (MLflow's identifiers and their alternates). -1 if unknown. */
int trk__search_run_entity(const char *s)
{
    static const struct {
        const char *name;
        trk_search_entity e;
    } map[] = {
        {"metric", TRK_ENT_METRIC},    {"metrics", TRK_ENT_METRIC},   {"parameter", TRK_ENT_PARAM},
        {"parameters", TRK_ENT_PARAM}, {"param", TRK_ENT_PARAM},      {"params", TRK_ENT_PARAM},
        {"tag", TRK_ENT_TAG},          {"tags", TRK_ENT_TAG},         {"attribute", TRK_ENT_ATTR},
        {"attr", TRK_ENT_ATTR},        {"attributes", TRK_ENT_ATTR},  {"run", TRK_ENT_ATTR},
        {"dataset", TRK_ENT_DATASET},  {"datasets", TRK_ENT_DATASET},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i].name) == 0) return (int)map[i].e;
    return -1;
}

int trk__search_in_list(const char *s, const char *const *l)
{
    for (; *l; l++)
        if (strcmp(s, *l) == 0) return 1;
    return 0;
}

static const char *const run_search_keys[] = {
    "run_id",  "run_name", "user_id",  "status",   "start_time", "end_time", "artifact_uri",
    "created", "Created",  "run name", "Run name", "Run Name",   NULL};
#define RUN_SEARCH_KEYS_REPR                                                                       \
    "{'run_id', 'run_name', 'user_id', 'status', 'start_time', "                                   \
    "'end_time', 'artifact_uri', 'created', 'Created', 'run name', 'Run name', 'Run Name'}"
static const char *const dataset_keys[] = {"name", "digest", "context", NULL};
static const char *const exp_search_keys[] = {"name", "creation_time", "last_update_time", NULL};
static const char *const mv_search_keys[] = {"name", "version_number", "run_id", "source_path",
                                             NULL};
const char *trk__search_canonical_run_key(const char *k)
{
    if (strcmp(k, "created") == 0 || strcmp(k, "Created") == 0) return "start_time";
    if (strcmp(k, "run name") == 0 || strcmp(k, "Run name") == 0 || strcmp(k, "Run Name") == 0)
        return "run_name";
    return k;
}

/* Column of a (canonical) attribute key, table-qualified. */
const char *trk__search_attr_column(trk_search_kind kind, const char *k)
{
    static const struct {
        trk_search_kind kind;
        const char *key, *col;
    } map[] = {
        {TRK_SEARCH_RUNS, "run_id", "runs.run_uuid"},
        {TRK_SEARCH_RUNS, "run_name", "runs.name"},
        {TRK_SEARCH_RUNS, "user_id", "runs.user_id"},
        {TRK_SEARCH_RUNS, "status", "runs.status"},
        {TRK_SEARCH_RUNS, "start_time", "runs.start_time"},
        {TRK_SEARCH_RUNS, "end_time", "runs.end_time"},
        {TRK_SEARCH_RUNS, "artifact_uri", "runs.artifact_uri"},
        {TRK_SEARCH_EXPERIMENTS, "name", "experiments.name"},
        {TRK_SEARCH_EXPERIMENTS, "experiment_id", "experiments.experiment_id"},
        {TRK_SEARCH_EXPERIMENTS, "creation_time", "experiments.creation_time"},
        {TRK_SEARCH_EXPERIMENTS, "last_update_time", "experiments.last_update_time"},
        {TRK_SEARCH_REGISTERED_MODELS, "name", "registered_models.name"},
        {TRK_SEARCH_REGISTERED_MODELS, "timestamp", "registered_models.last_updated_time"},
        {TRK_SEARCH_REGISTERED_MODELS, "last_updated_timestamp",
         "registered_models.last_updated_time"},
        {TRK_SEARCH_MODEL_VERSIONS, "name", "model_versions.name"},
        {TRK_SEARCH_MODEL_VERSIONS, "run_id", "model_versions.run_id"},
        {TRK_SEARCH_MODEL_VERSIONS, "source_path", "model_versions.source"},
        {TRK_SEARCH_MODEL_VERSIONS, "version_number", "model_versions.version"},
        {TRK_SEARCH_MODEL_VERSIONS, "creation_timestamp", "model_versions.creation_time"},
        {TRK_SEARCH_MODEL_VERSIONS, "last_updated_timestamp", "model_versions.last_updated_time"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].kind == kind && strcmp(map[i].key, k) == 0) return map[i].col;
    return NULL;
}

int trk__search_is_text_column(const char *col)
{
    return !strstr(col, "time") && !strstr(col, "version") && !strstr(col, "experiment_id");
}

/* --- SQL emission ------------------------------------------------------------------------- */
/* Appends a LIKE pattern converted for `glob` (SQLite GLOB) or for LIKE/ILIKE with '\' as the
 * escape character. */
static void like_pattern(trk_search_cctx *c, const char *pat, int glob, ef_buf *o)
{
    for (const char *p = pat; *p; p++) {
        char ch = *p;
        int lit = 1;
        if (ch == '\\' && p[1])
            ch = *++p;
        else if (ch == '%' || ch == '_')
            lit = 0;
        int rc;
        if (!lit)
            rc = ef_buf_appendc(o, glob ? (ch == '%' ? '*' : '?') : ch);
        else if (glob && (ch == '*' || ch == '?' || ch == '['))
            rc = ef_buf_appendf(o, "[%c]", ch);
        else if (!glob && (ch == '%' || ch == '_' || ch == '\\'))
            rc = ef_buf_appendf(o, "\\%c", ch);
        else
            rc = ef_buf_appendc(o, ch);
        if (rc) c->oom = 1;
    }
}

/* Appends `col <op> ?` for a string comparison op (=, !=, LIKE, ILIKE) and binds val. */
static void str_cond(trk_search_cctx *c, ef_buf *b, const char *col, const char *op,
                     const char *val)
{
    if (strcmp(op, "=") == 0 || strcmp(op, "!=") == 0) {
        trk__search_ap(c, b, "%s %s ?", col, op[0] == '=' ? "=" : "<>");
        trk__search_param_text(c, val, strlen(val));
        return;
    }
    int ilike = strcmp(op, "ILIKE") == 0;
    int glob = !ilike && c->dialect == EF_SQL_SQLITE;
    ef_buf pat;
    ef_buf_init(&pat);
    like_pattern(c, val, glob, &pat);
    if (glob)
        trk__search_ap(c, b, "%s GLOB ?", col);
    else
        trk__search_ap(c, b, "%s %s ? ESCAPE '\\'", col,
                       ilike && c->dialect == EF_SQL_POSTGRES ? "ILIKE" : "LIKE");
    trk__search_param_text(c, pat.data ? pat.data : "", pat.len);
    ef_buf_release(&pat);
}

static void in_cond(trk_search_cctx *c, ef_buf *b, const char *col, int negate,
                    const trk_search_value *v)
{
    if (v->nlist == 0) { /* like SQLAlchemy's empty IN */
        trk__search_ap(c, b, negate ? "1=1" : "1=0");
        return;
    }
    trk__search_ap(c, b, "%s %sIN (", col, negate ? "NOT " : "");
    for (size_t i = 0; i < v->nlist; i++) {
        trk__search_ap(c, b, i ? ", ?" : "?");
        trk__search_param_text(c, v->list[i], strlen(v->list[i]));
    }
    trk__search_ap(c, b, ")");
}

/* A string condition of any comparator on col (lists only with IN / NOT IN). */
static int any_str_cond(trk_search_cctx *c, ef_buf *b, const char *col, const char *op,
                        const trk_search_value *v)
{
    int in = strcmp(op, "IN") == 0, notin = strcmp(op, "NOT IN") == 0;
    if (v->is_list != (in || notin)) {
        if (v->is_list)
            return trk__search_fail(
                c->e, "Invalid comparator '%s': a list of values needs IN or NOT IN", op);
        return trk__search_fail(c->e,
                                "Invalid comparator '%s': IN and NOT IN need a list of values", op);
    }
    if (v->is_list)
        in_cond(c, b, col, notin, v);
    else
        str_cond(c, b, col, op, v->s);
    return 0;
}

static const char *sql_op(const char *op)
{
    return strcmp(op, "!=") == 0 ? "<>" : op;
}

static int is_numeric_op(const char *op)
{
    static const char *const ops[] = {">", ">=", "!=", "=", "<", "<=", NULL};
    return trk__search_in_list(op, ops);
}

static int is_string_op(const char *op)
{
    static const char *const ops[] = {"!=", "=", "LIKE", "ILIKE", NULL};
    return trk__search_in_list(op, ops);
}

#define METRIC_OPS_REPR "{'>', '>=', '!=', '=', '<', '<='}"
#define STRING_OPS_REPR "{'!=', '=', 'LIKE', 'ILIKE'}"
#define STRING_ATTR_OPS_REPR "{'!=', '=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}"

/* --- one comparison per kind -------------------------------------------------------------- */
typedef struct cmp {
    size_t ident, val, vend; /* token indexes; vend > val for a list */
    char op[8];              /* upper-cased: = != < ... LIKE ILIKE IN "NOT IN" */
} cmp;

/* A value token of a comparison, interpreted as MLflow's _get_value would for `expect`:
 * 'n' number, 's' string, 'l' string or list. */
static int get_value(trk_search_cctx *c, const trk_toks *ts, const cmp *k, char expect,
                     int lower_only, trk_search_value *v)
{
    const trk_tok *t = &ts->v[k->val];
    if (k->vend > k->val) return trk__search_parse_list(c->e, ts, k->val, k->vend, lower_only, v);
    if (expect == 'n') {
        v->is_number = 1;
        v->s = trk__search_dup_n(t->p, t->n);
        return v->s ? 0 : trk__search_oom(c->e);
    }
    return trk__search_string_value(c->e, t, v);
}

static int compile_run_cmp(trk_search_cctx *c, const trk_toks *ts, const cmp *k, const char *entity,
                           const char *key, ef_buf *b)
{
    const trk_tok *vt = &ts->v[k->val];
    int vtn = k->vend > k->val ? (int)(ts->v[k->vend].p + ts->v[k->vend].n - vt->p) : (int)vt->n;
    trk_search_value v = {0};
    int rc = -1;
    int et = entity ? trk__search_run_entity(entity) : TRK_ENT_ATTR;
    if (et < 0) {
        trk__search_fail(
            c->e,
            "Invalid entity type '%s'. Valid values are ['metric', 'parameter', 'tag', "
            "'attribute', 'dataset']",
            entity);
        goto out;
    }
    if (et == TRK_ENT_ATTR && !trk__search_in_list(key, run_search_keys)) {
        trk__search_fail(c->e, "Invalid attribute key '%s' specified. Valid keys are '%s'", key,
                         RUN_SEARCH_KEYS_REPR);
        goto out;
    }
    if (et == TRK_ENT_DATASET && !trk__search_in_list(key, dataset_keys)) {
        trk__search_fail(c->e,
                         "Invalid dataset key '%s' specified. Valid keys are "
                         "'{'name', 'digest', 'context'}'",
                         key);
        goto out;
    }
    const char *ck = trk__search_canonical_run_key(key);
    int numeric_attr =
        et == TRK_ENT_ATTR && (strcmp(ck, "start_time") == 0 || strcmp(ck, "end_time") == 0);
    int is_list = k->vend > k->val;
    /* _get_value */
    if (et == TRK_ENT_METRIC || numeric_attr) {
        if (vt->type != TRK_TOK_NUMBER || is_list) {
            if (et == TRK_ENT_METRIC)
                trk__search_fail(c->e, "Expected numeric value type for metric. Found %.*s", vtn,
                                 vt->p);
            else
                trk__search_fail(
                    c->e, "Expected numeric value type for numeric attribute: %s. Found %.*s", key,
                    vtn, vt->p);
            goto out;
        }
        if (get_value(c, ts, k, 'n', 0, &v)) goto out;
    } else if (is_list && (et == TRK_ENT_PARAM || et == TRK_ENT_TAG)) {
        trk__search_fail(c->e,
                         "Expected a quoted string value for %s (e.g. 'my-value'). Got value %.*s",
                         et == TRK_ENT_PARAM ? "parameter" : "tag", vtn, vt->p);
        goto out;
    } else if (is_list && et == TRK_ENT_ATTR && strcmp(ck, "run_id") != 0) {
        trk__search_fail(c->e,
                         "Only the 'run_id' attribute supports comparison with a list of quoted "
                         "string values.");
        goto out;
    } else if (vt->type == TRK_TOK_NUMBER) {
        if (et == TRK_ENT_PARAM || et == TRK_ENT_TAG)
            trk__search_fail(
                c->e, "Expected a quoted string value for %s (e.g. 'my-value'). Got value %.*s",
                et == TRK_ENT_PARAM ? "parameter" : "tag", vtn, vt->p);
        else if (et == TRK_ENT_ATTR)
            trk__search_fail(c->e, "Expected a quoted string value for attributes. Got value %.*s",
                             vtn, vt->p);
        else
            trk__search_fail(
                c->e, "Expected a quoted string value for dataset attributes. Got value %.*s", vtn,
                vt->p);
        goto out;
    } else if (get_value(c, ts, k, 'l', et == TRK_ENT_ATTR, &v)) {
        goto out;
    }
    /* comparators (the store's is_metric / is_param / ... checks) */
    const char *op = k->op;
    if ((et == TRK_ENT_METRIC || numeric_attr) && !is_numeric_op(op)) {
        trk__search_fail(c->e, "Invalid comparator '%s' not one of '%s'", op, METRIC_OPS_REPR);
        goto out;
    }
    if ((et == TRK_ENT_PARAM || et == TRK_ENT_TAG) && !is_string_op(op)) {
        trk__search_fail(c->e, "Invalid comparator '%s' not one of '%s'", op, STRING_OPS_REPR);
        goto out;
    }
    if ((et == TRK_ENT_DATASET || (et == TRK_ENT_ATTR && !numeric_attr)) && !is_string_op(op) &&
        strcmp(op, "IN") != 0 && strcmp(op, "NOT IN") != 0) {
        trk__search_fail(c->e, "Invalid comparator '%s' not one of '%s'", op, STRING_ATTR_OPS_REPR);
        goto out;
    }
    switch ((trk_search_entity)et) {
    case TRK_ENT_METRIC:
        trk__search_ap(c, b,
                       "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = runs.run_uuid"
                       " AND m.key = ? AND ");
        trk__search_param_text(c, key, strlen(key));
        if (strcmp(op, "!=") == 0)
            trk__search_ap(c, b, "(m.is_nan = 1 OR m.value <> ?))");
        else
            trk__search_ap(c, b, "m.is_nan = 0 AND m.value %s ?)", op);
        param_double(c, strtod(v.s, NULL)); /* Python's float(): overflow gives +-inf */
        break;
    case TRK_ENT_PARAM:
    case TRK_ENT_TAG:
        trk__search_ap(
            c, b, "EXISTS (SELECT 1 FROM %s x WHERE x.run_uuid = runs.run_uuid AND x.key = ? AND ",
            et == TRK_ENT_PARAM ? "params" : "tags");
        trk__search_param_text(c, key, strlen(key));
        str_cond(c, b, "x.value", op, v.s);
        trk__search_ap(c, b, ")");
        break;
    case TRK_ENT_ATTR:
        if (numeric_attr) {
            trk__search_ap(c, b, "%s %s ?", trk__search_attr_column(c->kind, ck), sql_op(op));
            param_number(c, v.s, strlen(v.s));
        } else if (any_str_cond(c, b, trk__search_attr_column(c->kind, ck), op, &v)) {
            goto out;
        }
        break;
    case TRK_ENT_DATASET:
        if (strcmp(key, "context") == 0) {
            trk__search_ap(
                c, b,
                "EXISTS (SELECT 1 FROM inputs i JOIN input_tags it ON it.input_uuid ="
                " i.input_uuid WHERE i.destination_id = runs.run_uuid AND it.name = ? AND ");
            trk__search_param_text(c, "mlflow.data.context", strlen("mlflow.data.context"));
            if (any_str_cond(c, b, "it.value", op, &v)) goto out;
        } else {
            trk__search_ap(c, b,
                           "EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.dataset_uuid ="
                           " i.source_id WHERE i.destination_id = runs.run_uuid AND ");
            if (any_str_cond(c, b, strcmp(key, "name") == 0 ? "d.name" : "d.digest", op, &v))
                goto out;
        }
        trk__search_ap(c, b, ")");
        break;
    }
    rc = 0;
out:
    trk__search_value_release(&v);
    return rc;
}

/* Experiments, registered models and model versions share MLflow's narrower identifier rules
 * (entity: none, attribute, tag, tags) and their stores' comparator checks. */
static int compile_other_cmp(trk_search_cctx *c, const trk_toks *ts, const cmp *k,
                             const char *entity, const char *key, ef_buf *b)
{
    const trk_tok *vt = &ts->v[k->val];
    int is_list = k->vend > k->val;
    int vtn = is_list ? (int)(ts->v[k->vend].p + ts->v[k->vend].n - vt->p) : (int)vt->n;
    const char *op = k->op;
    trk_search_value v = {0};
    int rc = -1;
    if (entity && strcmp(entity, "attribute") != 0 && strcmp(entity, "tag") != 0 &&
        strcmp(entity, "tags") != 0) {
        trk__search_fail(c->e,
                         "Invalid entity type '%s'. Valid entity types are ('attribute', 'tag', "
                         "'tags')",
                         entity);
        goto out;
    }
    int is_tag = entity && strcmp(entity, "attribute") != 0;
    if (is_tag) {
        if (is_list || vt->type == TRK_TOK_NUMBER) {
            trk__search_fail(
                c->e, "Expected a quoted string value for tag (e.g. 'my-value'). Got value %.*s",
                vtn, vt->p);
            goto out;
        }
        if (get_value(c, ts, k, 's', 0, &v)) goto out;
        if (!is_string_op(op)) {
            trk__search_fail(c->e, "Invalid comparator for tag: %s", op);
            goto out;
        }
        if (c->kind == TRK_SEARCH_EXPERIMENTS)
            trk__search_ap(c, b,
                           "EXISTS (SELECT 1 FROM experiment_tags x WHERE x.experiment_id ="
                           " experiments.experiment_id AND x.key = ? AND ");
        else if (c->kind == TRK_SEARCH_REGISTERED_MODELS)
            trk__search_ap(c, b,
                           "EXISTS (SELECT 1 FROM registered_model_tags x WHERE x.name ="
                           " registered_models.name AND x.key = ? AND ");
        else
            trk__search_ap(c, b,
                           "EXISTS (SELECT 1 FROM model_version_tags x WHERE x.name ="
                           " model_versions.name AND x.version = model_versions.version AND"
                           " x.key = ? AND ");
        trk__search_param_text(c, key, strlen(key));
        str_cond(c, b, "x.value", op, v.s);
        trk__search_ap(c, b, ")");
        rc = 0;
        goto out;
    }
    const char *const *keys = c->kind == TRK_SEARCH_EXPERIMENTS      ? exp_search_keys
                              : c->kind == TRK_SEARCH_MODEL_VERSIONS ? mv_search_keys
                                                                     : NULL;
    int valid = keys ? trk__search_in_list(key, keys) : strcmp(key, "name") == 0;
    if (!valid) {
        trk__search_fail(c->e, "Invalid attribute key '%s' specified. Valid keys are '%s'", key,
                         c->kind == TRK_SEARCH_EXPERIMENTS
                             ? "{'name', 'creation_time', 'last_update_time'}"
                         : c->kind == TRK_SEARCH_MODEL_VERSIONS
                             ? "{'name', 'version_number', 'run_id', 'source_path'}"
                             : "{'name'}");
        goto out;
    }
    int numeric = strstr(key, "time") || strcmp(key, "version_number") == 0;
    const char *col = trk__search_attr_column(c->kind, key);
    if (is_list && strcmp(key, "run_id") != 0) {
        trk__search_fail(c->e,
                         "Only the 'run_id' attribute supports comparison with a list of quoted "
                         "string values.");
        goto out;
    }
    if (vt->type == TRK_TOK_NUMBER && !numeric) {
        if (c->kind == TRK_SEARCH_MODEL_VERSIONS)
            trk__search_fail(c->e, "Only the '{'version_number', 'creation_timestamp', "
                                   "'last_updated_timestamp'}' attributes support comparison with "
                                   "numeric values.");
        else if (c->kind == TRK_SEARCH_EXPERIMENTS)
            trk__search_fail(c->e, "Expected a quoted string value for attributes. Got value %.*s",
                             vtn, vt->p);
        else
            trk__search_fail(c->e,
                             "Expected a quoted string value or a list of quoted string values for "
                             "attributes. Got value %.*s",
                             vtn, vt->p);
        goto out;
    }
    if (numeric) {
        int f;
        if (vt->type == TRK_TOK_NUMBER) {
            if (get_value(c, ts, k, 'n', 0, &v)) goto out;
        } else if (c->kind == TRK_SEARCH_MODEL_VERSIONS && !is_list &&
                   (vt->type == TRK_TOK_STRING || vt->quoted) && vt->n > 2 &&
                   trk__search_scan_number(vt->p + 1, &f) == vt->n - 2 && !f) {
            if (get_value(c, ts, k, 's', 0, &v)) goto out; /* version_number = '3' */
        } else {
            trk__search_fail(c->e,
                             "Expected numeric value type for numeric attribute: %s. Found %.*s",
                             key, vtn, vt->p);
            goto out;
        }
        if (!is_numeric_op(op)) {
            if (c->kind == TRK_SEARCH_MODEL_VERSIONS)
                trk__search_fail(c->e, "Invalid comparator for attribute %s: %s", key, op);
            else
                trk__search_fail(c->e, "Invalid comparator for numeric attribute: %s", op);
            goto out;
        }
        trk__search_ap(c, b, "%s %s ?", col, sql_op(op));
        param_number(c, v.s, strlen(v.s));
        rc = 0;
        goto out;
    }
    if (get_value(c, ts, k, 'l', 1, &v)) goto out;
    int ok = is_string_op(op) || (c->kind == TRK_SEARCH_MODEL_VERSIONS && strcmp(op, "IN") == 0 &&
                                  strcmp(key, "run_id") == 0);
    if (!ok) {
        trk__search_fail(c->e,
                         c->kind == TRK_SEARCH_EXPERIMENTS ? "Invalid comparator for string "
                                                             "attribute: %s"
                                                           : "Invalid comparator for attribute: %s",
                         op);
        goto out;
    }
    rc = any_str_cond(c, b, col, op, &v);
out:
    trk__search_value_release(&v);
    return rc;
}

/* --- filter ------------------------------------------------------------------------------- */
static int compile_filter(trk_search_cctx *c, const char *filter, ef_buf *where)
{
    trk_toks ts = {0};
    cmp *cmps = NULL;
    size_t ncmp = 0;
    ef_buf inv;
    int rc = -1;
    ef_buf_init(&inv);
    int lx = trk__search_lex(filter, &ts);
    if (lx == EF_ENOMEM) {
        trk__search_oom(c->e);
        goto out;
    }
    if (lx) {
        trk__search_fail(c->e, "Error on parsing filter '%s'", filter);
        goto out;
    }
    cmps = calloc(ts.n, sizeof *cmps); /* at most one comparison per token */
    if (!cmps) {
        trk__search_oom(c->e);
        goto out;
    }
    /* pass 1: split into comparisons and invalid clauses (sqlparse's grouping) */
    for (size_t i = 0; ts.v[i].type != TRK_TOK_END;) {
        const trk_tok *t = &ts.v[i], *a = &ts.v[i + 1];
        if (t->type == TRK_TOK_AND) {
            i++;
            continue;
        }
        if (t->type == TRK_TOK_IDENT) {
            cmp k = {.ident = i};
            size_t vi = 0;
            if (a->type == TRK_TOK_OP) {
                snprintf(k.op, sizeof k.op, "%.*s", (int)a->n, a->p);
                vi = i + 2;
            } else if (a->type == TRK_TOK_IN && ts.v[i + 2].type == TRK_TOK_LPAREN) {
                strcpy(k.op, "IN");
                vi = i + 2;
            } else if (a->type == TRK_TOK_NOT && ts.v[i + 2].type == TRK_TOK_IN &&
                       ts.v[i + 3].type == TRK_TOK_LPAREN) {
                strcpy(k.op, "NOT IN");
                vi = i + 3;
            }
            trk_tok_type vt = vi ? ts.v[vi].type : TRK_TOK_END;
            if (vt == TRK_TOK_STRING || vt == TRK_TOK_NUMBER || vt == TRK_TOK_IDENT ||
                vt == TRK_TOK_LPAREN) {
                for (char *p = k.op; *p; p++)
                    *p = (char)toupper((unsigned char)*p);
                k.val = k.vend = vi;
                if (vt == TRK_TOK_LPAREN) k.vend = trk__search_match_paren(&ts, vi);
                cmps[ncmp++] = k;
                i = k.vend + 1;
                continue;
            }
        }
        size_t j = t->type == TRK_TOK_LPAREN ? trk__search_match_paren(&ts, i) : i;
        int len = (int)(ts.v[j].p + ts.v[j].n - t->p);
        if (c->kind == TRK_SEARCH_RUNS)
            trk__search_ap(c, &inv, "%s'%.*s'", inv.len ? ", " : "", len, t->p);
        else
            trk__search_ap(c, &inv, "%s%.*s", inv.len ? ", " : "", len, t->p);
        i = j + 1;
    }
    if (inv.len) {
        trk__search_fail(c->e, "Invalid clause(s) in filter string: %s", inv.data);
        goto out;
    }
    /* pass 2: each comparison to SQL */
    for (size_t i = 0; i < ncmp; i++) {
        char *entity = NULL, *key = NULL;
        const trk_tok *it = &ts.v[cmps[i].ident];
        if (trk__search_split_ident(it->p, it->n, &entity, &key)) {
            trk__search_oom(c->e);
            goto out;
        }
        trk__search_ap(c, where, "%s(", i ? " AND " : "");
        int r = c->kind == TRK_SEARCH_RUNS
                    ? compile_run_cmp(c, &ts, &cmps[i], entity, key, where)
                    : compile_other_cmp(c, &ts, &cmps[i], entity, key, where);
        trk__search_ap(c, where, ")");
        free(entity);
        free(key);
        if (r) goto out;
    }
    if (!ncmp) trk__search_ap(c, where, "1=1");
    rc = 0;
out:
    ef_buf_release(&inv);
    free(cmps);
    free(ts.v);
    return rc;
}

/* --- public ------------------------------------------------------------------------------- */
int trk__search_compile(trk_search_kind kind, ef_sql_dialect_t dialect, const char *filter,
                        const json_t *order_by, trk_search_sql *out, trk_err *e)
{
    trk_search_sql ord = {0};
    trk_search_cctx c = {.kind = kind, .dialect = dialect, .ps = out, .e = e};
    int rc = -1;
    assert(out && e);
    memset(out, 0, sizeof *out);
    ef_buf_init(&out->where);
    ef_buf_init(&out->order);
    ef_buf_init(&ord.where);
    ef_buf_init(&ord.order);
    if (filter && *filter) {
        if (compile_filter(&c, filter, &out->where)) goto out;
    } else {
        trk__search_ap(&c, &out->where, "1=1");
    }
    c.ps = &ord; /* order's parameters follow where's */
    if (trk__search_compile_order(&c, order_by, &out->order)) goto out;
    if (c.oom) {
        trk__search_oom(e);
        goto out;
    }
    if (ord.nparams) {
        size_t need = out->nparams + ord.nparams;
        if (need > out->cap) {
            trk_sql_param *v = realloc(out->params, need * sizeof *v);
            if (!v) {
                trk__search_oom(e);
                goto out;
            }
            out->params = v;
            out->cap = need;
        }
        memcpy(out->params + out->nparams, ord.params, ord.nparams * sizeof *ord.params);
        out->nparams = need;
        ord.nparams = 0;
    }
    rc = 0;
out:
    if (!rc && c.oom) rc = trk__search_oom(e);
    trk__search_sql_release(&ord);
    if (rc) trk__search_sql_release(out);
    return rc;
}

void trk__search_sql_release(trk_search_sql *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nparams; i++)
        free(s->params[i].s);
    free(s->params);
    ef_buf_release(&s->where);
    ef_buf_release(&s->order);
    s->params = NULL;
    s->nparams = s->cap = 0;
}

int trk__search_bind(const trk_search_sql *s, ef_sql_stmt *st, int first)
{
    int idx = first;
    for (size_t i = 0; i < s->nparams; i++, idx++) {
        const trk_sql_param *p = &s->params[i];
        int rc = p->type == 'i'   ? ef_sql_bind_int64(st, idx, p->i)
                 : p->type == 'd' ? ef_sql_bind_double(st, idx, p->d)
                                  : ef_sql_bind_text(st, idx, p->s, strlen(p->s));
        if (rc) return -1;
    }
    return idx;
}
