/* fuzz_trk_filter.c - libFuzzer target for the tracking search grammar (src/tracking/search.c).
 *
 * Input: byte 0 picks the kind (bits 0-1) and the dialect (bit 2); the rest is the filter up to
 * the first '\n', then one order_by clause per line. Every compile that succeeds for SQLite is
 * also prepared, bound and stepped on an in-memory database with the real schema, so the SQL the
 * compiler emits must always be valid and its placeholder count must match its parameters. The
 * whole input is also fed to the page-token decoder.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "sql/sql.h"
#include "tracking/search.h"
#include "tracking/trk_int.h"

static ef_sql *g_db;

static ef_sql *db(void)
{
    if (!g_db) {
        char *err = NULL;
        ef_log_set_level(EF_LOG_ERROR);
        if (ef_sql_open("sqlite::memory:", NULL, &g_db, &err) || trk__migrate(g_db, &err)) abort();
    }
    return g_db;
}

static void run(trk_search_kind kind, const trk_search_sql *s)
{
    static const char *const tables[] = {"runs", "experiments", "registered_models",
                                         "model_versions"};
    size_t n = s->where.len + s->order.len + 128;
    char *sql = malloc(n);
    ef_sql_stmt *st = NULL;
    if (!sql) abort();
    snprintf(sql, n, "SELECT 1 FROM %s WHERE (%s) %s LIMIT ?", tables[kind], s->where.data,
             s->order.data);
    if (ef_sql_prepare(db(), sql, &st)) {
        fprintf(stderr, "emitted SQL does not prepare: %s\n%s\n", ef_sql_errmsg(db()), sql);
        abort();
    }
    int next = trk__search_bind(s, st, 1);
    if (next != (int)s->nparams + 1 || ef_sql_bind_int64(st, next, 5)) abort();
    while (ef_sql_step(st) == EF_SQL_ROW) {
    }
    ef_sql_finalize(st);
    free(sql);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    trk_search_kind kind = (trk_search_kind)(data[0] & 3);
    ef_sql_dialect_t dialect = data[0] & 4 ? EF_SQL_POSTGRES : EF_SQL_SQLITE;
    char *text = malloc(size);
    if (!text) abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';

    char *nl = strchr(text, '\n');
    json_t *order = NULL;
    if (nl) {
        *nl = '\0';
        order = json_array();
        for (char *line = nl + 1; line;) {
            char *end = strchr(line, '\n');
            if (end) *end = '\0';
            json_array_append_new(order, json_string(line)); /* NULL for bad UTF-8: skipped */
            line = end ? end + 1 : NULL;
        }
    }
    trk_search_sql s;
    trk_err e;
    if (trk__search_compile(kind, dialect, text, order, &s, &e) == 0) {
        if (dialect == EF_SQL_SQLITE) run(kind, &s);
        trk__search_sql_release(&s);
    } else if (e.code != TRK_INVALID_PARAMETER_VALUE || !e.message[0]) {
        abort();
    }
    json_decref(order);

    int64_t off;
    if (trk__page_token_decode(text, &off, &e) == 0 && off < 0) abort();
    free(text);
    return 0;
}
