/* config.h - one option table per command, filled from flags > EDGEFLOW_* env > YAML file.
 *
 * A command declares its options once (ef_opt[]); ef_config_parse() then
 *   1. reads the YAML file named by --config / EDGEFLOW_CONFIG (top-level keys that name an option,
 *      then the mapping under the command's own section, e.g. `agent:`),
 *   2. overrides with environment variables EDGEFLOW_<NAME> (upper case, '-' -> '_'),
 *   3. overrides with command-line flags (--name value, --name=value, --no-name for booleans),
 * and prints --help (generated from the table) and --version. --log-level and --config are
 * accepted by every command. Positional arguments may appear anywhere; "--" ends options.
 * A --config flag is also exported as EDGEFLOW_CONFIG (absolute path), so the commands this one
 * starts (`up`'s children, the demo's steps) read the same file, each its own section.
 *
 * String values set by the parser are owned by the config module until ef_config_release().
 */
#ifndef EF_CONFIG_CONFIG_H
#define EF_CONFIG_CONFIG_H

#include <stdint.h>

#include "base/strlist.h"

typedef enum {
    EF_OPT_STR,      /* ptr: const char **            */
    EF_OPT_INT,      /* ptr: int64_t *                */
    EF_OPT_DOUBLE,   /* ptr: double *                 */
    EF_OPT_BOOL,     /* ptr: int * (0/1)              */
    EF_OPT_LIST,     /* ptr: ef_strlist * (repeatable; env/YAML scalar is comma-separated) */
    EF_OPT_DURATION, /* ptr: int64_t * milliseconds ("15s", "250ms", "1h"; bare = seconds) */
    EF_OPT_SIZE,     /* ptr: int64_t * bytes/count ("64k", "10MiB") */
} ef_opt_type;

typedef struct ef_opt {
    const char *name; /* long flag without "--"; also the YAML key and env suffix */
    ef_opt_type type;
    void *ptr;
    const char *metavar; /* shown in --help, e.g. "URL"; NULL for booleans */
    const char *help;    /* one line; mention the default */
} ef_opt;

typedef struct ef_command {
    const char *name;        /* "agent" */
    const char *summary;     /* one line, shown by `edgeflow --help` */
    const char *usage;       /* "edgeflow agent [options]" */
    const char *description; /* free text printed after the usage line; may be NULL */
    const ef_opt *opts;      /* terminated by an entry with name == NULL */
} ef_command;

enum { EF_CONFIG_RUN = 0, EF_CONFIG_EXIT_OK = 1, EF_CONFIG_EXIT_USAGE = 2 };

/* Parses argv[1..argc-1] (argv[0] is the command name). Positional arguments are appended to
 * positional (may be NULL when the command takes none: then any is an error).
 * Returns EF_CONFIG_RUN, EF_CONFIG_EXIT_OK (help/version printed) or EF_CONFIG_EXIT_USAGE (one
 * readable error line printed to stderr). Sets the log level from --log-level. */
int ef_config_parse(const ef_command *cmd, int argc, char **argv, ef_strlist *positional);

/* Prints the generated help of cmd to stdout. */
void ef_config_print_help(const ef_command *cmd);

/* The data directory: $EDGEFLOW_HOME, else "./edgeflow-data" (ARCHITECTURE.md §4). */
const char *ef_config_home(void);

/* Formats the default store URI, "sqlite:$EDGEFLOW_HOME/series.db". create: make the data dir
 * first (writers do; readers should fail on a missing store). Returns 0 or EF_EIO with a log
 * line naming the folder. */
int ef_config_default_store(char *out, size_t n, int create);

/* Formats the default cache of downloaded model versions, "$EDGEFLOW_HOME/models" (shared by
 * predict, serve and server --serve). */
void ef_config_default_models(char *out, size_t n);

/* Frees every string the parser allocated. Safe to call more than once. */
void ef_config_release(void);

#endif
