/* search_order.c - the order_by half of the search compiler (spec §8): each order_by item
 * ("<ident> [ASC|DESC]") parsed and checked with MLflow's messages, then turned into ORDER BY
 * terms for its kind -- run attributes, latest metric values, params and tags (missing values
 * last), or the columns of experiments, registered models and model versions -- followed by
 * MLflow's default order and tie-breakers. search.c holds the compile context, the identifier
 * tables and the filters; the files share search_int.h.
 */
#include "tracking/search_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/strlist.h"

static const char *const run_order_keys[] = {"run_id",     "run_name", "user_id",      "status",
                                             "start_time", "end_time", "artifact_uri", "created",
                                             "Created",    NULL};
#define RUN_ORDER_KEYS_REPR                                                                        \
    "{'run_id', 'run_name', 'user_id', 'status', 'start_time', "                                   \
    "'end_time', 'artifact_uri', 'created', 'Created'}"
static const char *const exp_order_keys[] = {"name", "experiment_id", "creation_time",
                                             "last_update_time", NULL};
static const char *const mv_order_keys[] = {"name", "version_number", "creation_timestamp",
                                            "last_updated_timestamp", NULL};
static const char *const rm_order_keys[] = {"name", "timestamp", "last_updated_timestamp", NULL};

/* --- order_by ----------------------------------------------------------------------------- */
typedef struct order_item {
    char *entity, *key;
    int asc;
} order_item;

/* Parses one order_by string "<ident> [ASC|DESC]". */
static int parse_order_item(trk_search_cctx *c, const char *s, order_item *o)
{
    trk_toks ts = {0};
    int rc = -1;
    int lx = trk__search_lex(s, &ts);
    if (lx == EF_ENOMEM) {
        trk__search_oom(c->e);
        goto out;
    }
    if (lx || ts.n < 2 || ts.n > 3 || ts.v[0].type != TRK_TOK_IDENT) {
        trk__search_fail(c->e, "Invalid order_by clause '%s'. Could not be parsed.", s);
        goto out;
    }
    o->asc = 1;
    if (ts.n == 3) {
        const trk_tok *d = &ts.v[1];
        if (d->type != TRK_TOK_IDENT && d->type != TRK_TOK_AND && d->type != TRK_TOK_OR &&
            d->type != TRK_TOK_NOT && d->type != TRK_TOK_IN &&
            !(d->type == TRK_TOK_OP && isalpha((unsigned char)d->p[0]))) {
            trk__search_fail(c->e, "Invalid order_by clause '%s'. Could not be parsed.", s);
            goto out;
        }
        if (trk__search_word_is(d->p, d->n, "desc"))
            o->asc = 0;
        else if (!trk__search_word_is(d->p, d->n, "asc")) {
            trk__search_fail(c->e, "Invalid ordering key in order_by clause '%s'.", s);
            goto out;
        }
    }
    if (trk__search_split_ident(ts.v[0].p, ts.v[0].n, &o->entity, &o->key)) {
        trk__search_oom(c->e);
        goto out;
    }
    rc = 0;
out:
    free(ts.v);
    return rc;
}

static int order_dup(trk_search_cctx *c, const json_t *order_by)
{
    ef_buf l;
    size_t i;
    json_t *v;
    ef_buf_init(&l);
    json_array_foreach(order_by, i, v)
        trk__search_ap(c, &l, "%s'%s'", i ? ", " : "", json_string_value(v));
    trk__search_fail(c->e, "`order_by` contains duplicate fields: [%s]", l.data ? l.data : "");
    ef_buf_release(&l);
    return -1;
}

/* Appends one ORDER BY term for a run item. seen: canonical "<entity>\x1f<key>" list. */
static int run_order_term(trk_search_cctx *c, const order_item *o, ef_buf *b)
{
    int et = o->entity ? trk__search_run_entity(o->entity) : TRK_ENT_ATTR;
    const char *dir = o->asc ? "ASC" : "DESC";
    const char *coll = c->dialect == EF_SQL_POSTGRES ? " COLLATE \"C\"" : "";
    if (et < 0)
        return trk__search_fail(
            c->e,
            "Invalid entity type '%s'. Valid values are ['metric', 'parameter', "
            "'tag', 'attribute', 'dataset']",
            o->entity);
    if (et == TRK_ENT_ATTR && !trk__search_in_list(o->key, run_order_keys))
        return trk__search_fail(c->e, "Invalid attribute key '%s' specified. Valid keys are '%s'",
                                o->key, RUN_ORDER_KEYS_REPR);
    if (et == TRK_ENT_DATASET) return trk__search_fail(c->e, "Invalid identifier type 'dataset'");
    if (et == TRK_ENT_ATTR) {
        const char *col =
            trk__search_attr_column(TRK_SEARCH_RUNS, trk__search_canonical_run_key(o->key));
        trk__search_ap(c, b, "CASE WHEN %s IS NULL THEN 1 ELSE 0 END, %s%s %s", col, col,
                       trk__search_is_text_column(col) ? coll : "", dir);
    } else if (et == TRK_ENT_METRIC) {
        trk__search_ap(c, b,
                       "COALESCE((SELECT m.is_nan FROM latest_metrics m WHERE m.run_uuid ="
                       " runs.run_uuid AND m.key = ?), 2), (SELECT m.value FROM latest_metrics m"
                       " WHERE m.run_uuid = runs.run_uuid AND m.key = ?) %s",
                       dir);
        trk__search_param_text(c, o->key, strlen(o->key));
        trk__search_param_text(c, o->key, strlen(o->key));
    } else {
        const char *t = et == TRK_ENT_PARAM ? "params" : "tags";
        trk__search_ap(c, b,
                       "CASE WHEN (SELECT x.value FROM %s x WHERE x.run_uuid = runs.run_uuid AND"
                       " x.key = ?) IS NULL THEN 1 ELSE 0 END, (SELECT x.value FROM %s x WHERE"
                       " x.run_uuid = runs.run_uuid AND x.key = ?)%s %s",
                       t, t, coll, dir);
        trk__search_param_text(c, o->key, strlen(o->key));
        trk__search_param_text(c, o->key, strlen(o->key));
    }
    return 0;
}

/* Resolves a non-run order item to its column; NULL after filling e. */
static const char *other_order_column(trk_search_cctx *c, const order_item *o)
{
    if (c->kind == TRK_SEARCH_REGISTERED_MODELS) {
        if (o->entity || !trk__search_in_list(o->key, rm_order_keys)) {
            trk__search_fail(c->e,
                             "Invalid order by key '%s%s%s' specified. Valid keys are "
                             "'{'name', 'timestamp'}'",
                             o->entity ? o->entity : "", o->entity ? "." : "", o->key);
            return NULL;
        }
        return trk__search_attr_column(c->kind, o->key);
    }
    if (o->entity && strcmp(o->entity, "attribute") != 0 && strcmp(o->entity, "tag") != 0 &&
        strcmp(o->entity, "tags") != 0) {
        trk__search_fail(c->e,
                         "Invalid entity type '%s'. Valid entity types are ('attribute', 'tag', "
                         "'tags')",
                         o->entity);
        return NULL;
    }
    int exp = c->kind == TRK_SEARCH_EXPERIMENTS;
    if (o->entity && strcmp(o->entity, "attribute") != 0) {
        trk__search_fail(c->e, "Invalid order_by entity: tag");
        return NULL;
    }
    if (!trk__search_in_list(o->key, exp ? exp_order_keys : mv_order_keys)) {
        trk__search_fail(c->e, "Invalid attribute key '%s' specified. Valid keys are '%s'", o->key,
                         exp ? "{'name', 'experiment_id', 'creation_time', 'last_update_time'}"
                             : "{'name', 'version_number', 'creation_timestamp', "
                               "'last_updated_timestamp'}");
        return NULL;
    }
    return trk__search_attr_column(c->kind, o->key);
}

/* The identity of an order field for the duplicate check: the run entity class and canonical
 * key, or the column for the other kinds. malloc'd, NULL on OOM. */
static char *order_identity(trk_search_cctx *c, const order_item *o, const char *field)
{
    ef_buf id;
    ef_buf_init(&id);
    if (c->kind == TRK_SEARCH_RUNS) {
        int et = o->entity ? trk__search_run_entity(o->entity) : TRK_ENT_ATTR;
        trk__search_ap(c, &id, "%d:%s", et,
                       et == TRK_ENT_ATTR ? trk__search_canonical_run_key(o->key) : o->key);
    } else {
        trk__search_ap(c, &id, "%s", field);
    }
    return c->oom ? (ef_buf_release(&id), NULL) : ef_buf_take(&id, NULL);
}

static int seen_has(const ef_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0) return 1;
    return 0;
}

int trk__search_compile_order(trk_search_cctx *c, const json_t *order_by, ef_buf *b)
{
    static const char *const exp_default[] = {"creation_time DESC", "experiment_id ASC", NULL};
    static const char *const mv_default[] = {"last_updated_timestamp DESC", "name ASC",
                                             "version_number DESC", NULL};
    const char *const *defaults = NULL;
    ef_strlist seen;
    size_t n = order_by ? json_array_size(order_by) : 0;
    int rc = -1;
    ef_strlist_init(&seen);
    if (order_by && !json_is_array(order_by))
        return trk__search_fail(c->e, "Invalid value for order_by: expected a list of strings");
    if (!n)
        defaults = c->kind == TRK_SEARCH_EXPERIMENTS      ? exp_default
                   : c->kind == TRK_SEARCH_MODEL_VERSIONS ? mv_default
                                                          : NULL;
    if (defaults)
        while (defaults[n])
            n++;
    trk__search_ap(c, b, "ORDER BY ");
    for (size_t i = 0; i < n; i++) {
        const char *s = defaults ? defaults[i] : json_string_value(json_array_get(order_by, i));
        order_item o = {0};
        const char *field = NULL;
        char *id = NULL;
        int bad = 1;
        if (!s) {
            trk__search_fail(c->e, "Invalid value for order_by: expected a list of strings");
            goto next;
        }
        if (parse_order_item(c, s, &o)) goto next;
        if (i) trk__search_ap(c, b, ", ");
        if (c->kind == TRK_SEARCH_RUNS) {
            if (run_order_term(c, &o, b)) goto next;
        } else {
            if (!(field = other_order_column(c, &o))) goto next;
            trk__search_ap(c, b, "%s%s %s", field,
                           c->dialect == EF_SQL_POSTGRES && trk__search_is_text_column(field)
                               ? " COLLATE \"C\""
                               : "",
                           o.asc ? "ASC" : "DESC");
        }
        if (!(id = order_identity(c, &o, field))) {
            trk__search_oom(c->e);
            goto next;
        }
        /* MLflow's experiment search has no duplicate check */
        if (c->kind != TRK_SEARCH_EXPERIMENTS && seen_has(&seen, id)) {
            order_dup(c, order_by);
            goto next;
        }
        if (ef_strlist_push(&seen, id)) {
            trk__search_oom(c->e);
            goto next;
        }
        bad = 0;
    next:
        free(id);
        free(o.entity);
        free(o.key);
        if (bad) goto out;
    }
    /* tie-breakers */
    const char *sep = n ? ", " : "";
    if (c->kind == TRK_SEARCH_RUNS) {
        char start[32];
        snprintf(start, sizeof start, "%d:start_time", TRK_ENT_ATTR);
        if (!seen_has(&seen, start))
            trk__search_ap(c, b, "%sruns.start_time DESC", sep), sep = ", ";
        trk__search_ap(c, b, "%sruns.run_uuid ASC", sep);
    } else if (c->kind == TRK_SEARCH_EXPERIMENTS) {
        if (!seen_has(&seen, "experiments.experiment_id"))
            trk__search_ap(c, b, "%sexperiments.experiment_id DESC", sep);
    } else if (c->kind == TRK_SEARCH_REGISTERED_MODELS) {
        if (!seen_has(&seen, "registered_models.name"))
            trk__search_ap(c, b, "%sregistered_models.name%s ASC", sep,
                           c->dialect == EF_SQL_POSTGRES ? " COLLATE \"C\"" : "");
    } else {
        if (!seen_has(&seen, "model_versions.name"))
            trk__search_ap(c, b, "%smodel_versions.name%s ASC", sep,
                           c->dialect == EF_SQL_POSTGRES ? " COLLATE \"C\"" : ""),
                sep = ", ";
        if (!seen_has(&seen, "model_versions.version"))
            trk__search_ap(c, b, "%smodel_versions.version DESC", sep);
    }
    rc = 0;
out:
    ef_strlist_release(&seen);
    return rc;
}
