/* schema.c - the tracking database's schema, versioned in code (sql/pool.h ef_sql_migrate,
 * component "tracking"). Modelled on MLflow's SQLAlchemy store so its concepts map one to one.
 *
 * experiments        experiment_id (int, "0" = Default), name (unique), artifact_location,
 *                    lifecycle_stage ('active'|'deleted'), creation_time, last_update_time (ms)
 * experiment_tags    (experiment_id, key) -> value
 * runs               run_uuid (32 hex), name, experiment_id, user_id, status ('RUNNING',
 *                    'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'), start_time, end_time,
 *                    lifecycle_stage, artifact_uri, deleted_time
 * metrics            every logged point; id orders insertion; a repeat of the same
 *                    (run_uuid, key, timestamp, step, value) is ignored like MLflow's SQL store
 * latest_metrics     (run_uuid, key) -> the point with the greatest (step, timestamp, value);
 *                    what run search filters and sorts on, and what runs/get returns
 * params             (run_uuid, key) -> value (immutable once set)
 * tags               (run_uuid, key) -> value
 * datasets, inputs, input_tags    runs/log-inputs (dataset inputs of a run)
 * registered_models  name, creation_time, last_updated_time, description
 * registered_model_tags, registered_model_aliases (name, alias) -> version
 * model_versions     (name, version) with current_stage ('None','Staging','Production',
 *                    'Archived'), source, run_id, run_link, status ('READY'...), user_id,
 *                    description, creation_time, last_updated_time, storage_location
 * model_version_tags
 * Booleans are integers (0/1) in both dialects; times are epoch ms in 64-bit integers.
 */
#include "tracking/trk_int.h"

#define TRK_SCHEMA_STEPS 1

/* Step 1 in either dialect: the tables are the same, only these column types differ.
 * INT: a 64-bit integer; REAL: a double; EXP_ID / METRIC_ID: the generated primary keys. */
#define SCHEMA_STEP1(INT, REAL, EXP_ID, METRIC_ID)                                                 \
    "CREATE TABLE experiments(experiment_id " EXP_ID " PRIMARY KEY, name TEXT NOT NULL UNIQUE,"   \
    " artifact_location TEXT, lifecycle_stage TEXT NOT NULL DEFAULT 'active',"                   \
    " creation_time " INT ", last_update_time " INT ");"                                          \
    "CREATE TABLE experiment_tags(experiment_id " INT " NOT NULL, key TEXT NOT NULL,"              \
    " value TEXT, PRIMARY KEY(experiment_id, key));"                                              \
    "CREATE TABLE runs(run_uuid TEXT PRIMARY KEY, name TEXT, experiment_id " INT " NOT NULL,"      \
    " user_id TEXT, status TEXT NOT NULL, start_time " INT ", end_time " INT ","                  \
    " lifecycle_stage TEXT NOT NULL DEFAULT 'active', artifact_uri TEXT, deleted_time " INT ");"  \
    "CREATE INDEX runs_experiment ON runs(experiment_id, start_time);"                            \
    "CREATE TABLE metrics(id " METRIC_ID " PRIMARY KEY, run_uuid TEXT NOT NULL,"                  \
    " key TEXT NOT NULL, value " REAL " NOT NULL, timestamp " INT " NOT NULL,"                    \
    " step " INT " NOT NULL DEFAULT 0, is_nan INTEGER NOT NULL DEFAULT 0,"                        \
    " UNIQUE(run_uuid, key, timestamp, step, value, is_nan));"                                    \
    "CREATE TABLE latest_metrics(run_uuid TEXT NOT NULL, key TEXT NOT NULL,"                      \
    " value " REAL " NOT NULL, timestamp " INT " NOT NULL, step " INT " NOT NULL,"                \
    " is_nan INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(run_uuid, key));"                            \
    "CREATE TABLE params(run_uuid TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"         \
    " PRIMARY KEY(run_uuid, key));"                                                               \
    "CREATE TABLE tags(run_uuid TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"                    \
    " PRIMARY KEY(run_uuid, key));"                                                               \
    "CREATE TABLE datasets(dataset_uuid TEXT PRIMARY KEY, experiment_id " INT " NOT NULL,"        \
    " name TEXT NOT NULL, digest TEXT NOT NULL, dataset_source_type TEXT NOT NULL,"               \
    " dataset_source TEXT NOT NULL, dataset_schema TEXT, dataset_profile TEXT,"                   \
    " UNIQUE(experiment_id, name, digest));"                                                      \
    "CREATE TABLE inputs(input_uuid TEXT PRIMARY KEY, source_type TEXT NOT NULL,"                 \
    " source_id TEXT NOT NULL, destination_type TEXT NOT NULL, destination_id TEXT NOT NULL,"     \
    " UNIQUE(source_type, source_id, destination_type, destination_id));"                         \
    "CREATE TABLE input_tags(input_uuid TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"  \
    " PRIMARY KEY(input_uuid, name));"                                                            \
    "CREATE TABLE registered_models(name TEXT PRIMARY KEY, creation_time " INT ","                \
    " last_updated_time " INT ", description TEXT);"                                              \
    "CREATE TABLE registered_model_tags(name TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"       \
    " PRIMARY KEY(name, key));"                                                                   \
    "CREATE TABLE registered_model_aliases(name TEXT NOT NULL, alias TEXT NOT NULL,"              \
    " version " INT " NOT NULL, PRIMARY KEY(name, alias));"                                       \
    "CREATE TABLE model_versions(name TEXT NOT NULL, version " INT " NOT NULL,"                   \
    " creation_time " INT ", last_updated_time " INT ", description TEXT, user_id TEXT,"          \
    " current_stage TEXT NOT NULL DEFAULT 'None', source TEXT, run_id TEXT, run_link TEXT,"       \
    " status TEXT NOT NULL DEFAULT 'READY', status_message TEXT, storage_location TEXT,"          \
    " PRIMARY KEY(name, version));"                                                               \
    "CREATE TABLE model_version_tags(name TEXT NOT NULL, version " INT " NOT NULL,"               \
    " key TEXT NOT NULL, value TEXT, PRIMARY KEY(name, version, key));"

static const char *const sqlite_steps[TRK_SCHEMA_STEPS] = {
    SCHEMA_STEP1("INTEGER", "REAL", "INTEGER", "INTEGER"),
};

static const char *const pg_steps[TRK_SCHEMA_STEPS] = {
    SCHEMA_STEP1("BIGINT", "DOUBLE PRECISION",
                 "BIGINT GENERATED BY DEFAULT AS IDENTITY (START WITH 1)",
                 "BIGINT GENERATED BY DEFAULT AS IDENTITY"),
};

int trk__migrate(ef_sql *db, char **errmsg)
{
    return ef_sql_migrate(db, "tracking", sqlite_steps, pg_steps, TRK_SCHEMA_STEPS, errmsg);
}
