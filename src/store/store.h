/* store.h - the embedded time-series document store behind ingest, export and the query API.
 *
 * Documents are JSON objects grouped in logical indices ("sensor-2026-11"), each with an id, a
 * globally unique de-duplication key and a time (`collected`, epoch ms) used by range queries.
 * The default backend is SQLite (WAL mode, one file); PostgreSQL sits behind the same functions
 * (through sql/) for deployments at scale.
 *
 * Thread safety: every function may be called from several threads at once (the HTTP server's
 * pool); writers are serialised internally. Several processes may open the same SQLite file
 * (ingest writes while server reads).
 */
#ifndef EF_STORE_STORE_H
#define EF_STORE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ef_store ef_store;

typedef struct ef_store_options {
    const char *uri;  /* "sqlite:/path/series.db", a plain path, or "postgresql://..." */
    int durable;      /* 1: fsync on every commit (SQLite synchronous=FULL); 0: OS-buffered
                         (synchronous=NORMAL in WAL: a power cut may lose the last commits, a
                         process crash loses nothing) */
    int busy_timeout_ms; /* wait for other writers, default 10000 */
} ef_store_options;

/* Opens (creating and migrating the schema if needed). On failure returns an EF_E* code and sets
 * *errmsg to a malloc'd readable message (caller frees). */
int ef_store_open(const ef_store_options *opt, ef_store **out, char **errmsg);
void ef_store_free(ef_store *s);

typedef struct ef_store_doc {
    const char *index;  /* logical index name, e.g. "sensor-2026-11" */
    const char *id;     /* document id shown as _id; NULL = generated */
    const char *key;    /* global de-duplication key; NULL = "<index>/<id>" */
    int64_t collected;  /* epoch ms; INT64_MIN when the document has none */
    const char *source; /* JSON object text (the _source) */
    size_t source_len;
} ef_store_doc;

typedef struct ef_store_dead {
    const char *topic;  /* where it came from (MQTT topic, or "_bulk") */
    const char *reason; /* why it was refused, e.g. "invalid JSON: ... at byte 17" */
    const void *payload; /* the raw bytes, stored as a BLOB unchanged */
    size_t payload_len;
    int64_t received;   /* epoch ms */
} ef_store_dead;

typedef struct ef_store_batch_result {
    size_t inserted;   /* new documents */
    size_t duplicates; /* skipped because their key already existed */
    size_t dead;       /* dead letters written */
} ef_store_batch_result;

/* Writes docs (create semantics: an existing key is skipped and counted as a duplicate) and dead
 * letters in ONE transaction, and returns only after it has committed (EF_OK) or rolled back
 * (EF_EDB, nothing written). */
int ef_store_write_batch(ef_store *s, const ef_store_doc *docs, size_t ndocs,
                         const ef_store_dead *dead, size_t ndead, ef_store_batch_result *res);

/* Calls cb for each document of the indices matching pattern (Elasticsearch-style: "sensor-*",
 * comma lists, "_all"), optionally one device (source field "device"), with from <= collected < to,
 * in (collected, insertion) order. cb returns 0 to go on, non-zero to stop (returned as is). */
typedef int (*ef_store_scan_cb)(void *ctx, const char *index, const char *id, int64_t collected,
                                const char *source, size_t len);
int ef_store_scan(ef_store *s, const char *pattern, const char *device, int64_t from, int64_t to,
                  ef_store_scan_cb cb, void *ctx);

/* Counts: documents in total and dead letters. */
int ef_store_stats(ef_store *s, int64_t *docs, int64_t *dead);

/* Verifies the on-disk structure (SQLite integrity_check, schema version, that every key is
 * unique and every source is a JSON object). Returns 0 or EF_ECORRUPT with *report (malloc'd). */
int ef_store_check(ef_store *s, char **report);

/* Elasticsearch-compatible subset, as JSON in and JSON out (the caller owns *out):
 *   _search / _count bodies: query match_all|term|terms|range|bool{filter,must,must_not,should},
 *   size, from, sort, _source; range date math ("now-1h"). Unsupported parts give EF_EINVAL with
 *   *out set to an Elasticsearch-shaped error object ({"error":{"root_cause":[...],"type":...,
 *   "reason":...},"status":400}) naming the part. */
int ef_store_search(ef_store *s, const char *pattern, const json_t *body, json_t **out);
int ef_store_count(ef_store *s, const char *pattern, const json_t *body, json_t **out);
/* NDJSON _bulk (index/create actions); default_index used when an action names none. */
int ef_store_bulk(ef_store *s, const char *default_index, const char *ndjson, size_t len,
                  json_t **out);

struct ef_http_server;
/* Registers the store's HTTP API on a server:
 *   GET /api/v1/indices, GET /api/v1/series?index=&device=&from=&to=&format=json|csv,
 *   POST /_bulk, POST /{index}/_bulk, GET|POST /{index}/_search, /_search, /{index}/_count,
 *   /_count. The store must outlive the server. */
int ef_store_api_register(struct ef_http_server *http, ef_store *s);

#endif
