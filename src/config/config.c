/* config.c - flags > env > YAML option parsing; see config.h. YAML is read with libyaml. */
#include "config/config.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/version.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

static ef_strlist g_owned; /* strings handed out through EF_OPT_STR pointers */

const char *ef_config_home(void)
{
    const char *h = getenv("EDGEFLOW_HOME");
    return h && *h ? h : "edgeflow-data";
}

int ef_config_default_store(char *out, size_t n, int create)
{
    const char *home = ef_config_home();
    if (create && ef_fs_mkdir_p(home) != EF_OK) {
        EF_ERROR("cannot create the data dir %s: %s (set EDGEFLOW_HOME)", home, strerror(errno));
        return EF_EIO;
    }
    snprintf(out, n, "sqlite:%s/series.db", home);
    return EF_OK;
}

void ef_config_default_models(char *out, size_t n)
{
    snprintf(out, n, "%s/models", ef_config_home());
}

void ef_config_release(void)
{
    ef_strlist_release(&g_owned);
}

static const ef_opt *find_opt(const ef_command *cmd, const char *name, size_t len)
{
    for (const ef_opt *o = cmd->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "on")) {
        *out = 1;
        return EF_OK;
    }
    if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
        !strcasecmp(v, "off")) {
        *out = 0;
        return EF_OK;
    }
    return EF_EINVAL;
}

/* Sets one option from text. from_cli: LIST values append (repeated flags) instead of split. */
static int set_value(const ef_opt *o, const char *v, const char *origin, int list_append)
{
    char *end;
    switch (o->type) {
    case EF_OPT_STR: {
        if (ef_strlist_push(&g_owned, v) != EF_OK) return EF_ENOMEM;
        *(const char **)o->ptr = g_owned.v[g_owned.n - 1];
        return EF_OK;
    }
    case EF_OPT_INT: {
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno || end == v || *end) break;
        *(int64_t *)o->ptr = n;
        return EF_OK;
    }
    case EF_OPT_DOUBLE: {
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end) break;
        *(double *)o->ptr = d;
        return EF_OK;
    }
    case EF_OPT_BOOL:
        if (parse_bool(v, (int *)o->ptr) == EF_OK) return EF_OK;
        break;
    case EF_OPT_LIST: {
        ef_strlist *l = o->ptr;
        if (!list_append) ef_strlist_clear(l);
        int rc = list_append ? ef_strlist_push(l, v) : ef_strlist_push_split(l, v, ',');
        return rc;
    }
    case EF_OPT_DURATION:
        if (ef_parse_duration_ms(v, (int64_t *)o->ptr) == EF_OK) return EF_OK;
        fprintf(stderr, "edgeflow: invalid duration '%s' for --%s (%s); use e.g. 250ms, 15s, 1h\n",
                v, o->name, origin);
        return EF_EINVAL;
    case EF_OPT_SIZE:
        if (ef_parse_size(v, (int64_t *)o->ptr) == EF_OK) return EF_OK;
        fprintf(stderr, "edgeflow: invalid size '%s' for --%s (%s); use e.g. 1000, 64k, 10MiB\n",
                v, o->name, origin);
        return EF_EINVAL;
    }
    fprintf(stderr, "edgeflow: invalid value '%s' for --%s (%s)\n", v, o->name, origin);
    return EF_EINVAL;
}

/* --- YAML ---------------------------------------------------------------------------------- */

static const char *scalar(yaml_document_t *doc, yaml_node_t *n)
{
    (void)doc;
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int apply_yaml_mapping(const ef_command *cmd, yaml_document_t *doc, yaml_node_t *map,
                              const char *file, int strict)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *key = scalar(doc, yaml_document_get_node(doc, p->key));
        yaml_node_t *val = yaml_document_get_node(doc, p->value);
        if (!key) continue;
        if (!strcmp(key, "log-level") || !strcmp(key, "config")) {
            const char *s = scalar(doc, val);
            ef_log_level lvl;
            if (!strcmp(key, "log-level") && s && ef_log_parse_level(s, &lvl) == EF_OK)
                ef_log_set_level(lvl);
            continue;
        }
        const ef_opt *o = find_opt(cmd, key, strlen(key));
        if (!o) {
            if (strict) {
                fprintf(stderr, "edgeflow: unknown option '%s' in section '%s' of %s\n", key,
                        cmd->name, file);
                return EF_EINVAL;
            }
            continue;
        }
        char origin[512];
        snprintf(origin, sizeof origin, "from %s", file);
        if (val->type == YAML_SEQUENCE_NODE && o->type == EF_OPT_LIST) {
            ef_strlist_clear(o->ptr);
            for (yaml_node_item_t *it = val->data.sequence.items.start;
                 it < val->data.sequence.items.top; it++) {
                const char *s = scalar(doc, yaml_document_get_node(doc, *it));
                if (!s) continue;
                if (set_value(o, s, origin, 1) != EF_OK) return EF_EINVAL;
            }
            continue;
        }
        const char *s = scalar(doc, val);
        if (!s) {
            fprintf(stderr, "edgeflow: option '%s' in %s must be a scalar\n", key, file);
            return EF_EINVAL;
        }
        if (set_value(o, s, origin, 0) != EF_OK) return EF_EINVAL;
    }
    return EF_OK;
}

static int apply_yaml(const ef_command *cmd, const char *file)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "edgeflow: cannot open config file %s: %s\n", file, strerror(errno));
        return EF_EIO;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = EF_OK;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(stderr, "edgeflow: %s:%zu: YAML error: %s\n", file,
                parser.problem_mark.line + 1, parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        fclose(f);
        return EF_EINVAL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        rc = apply_yaml_mapping(cmd, &doc, root, file, 0);
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             rc == EF_OK && p < root->data.mapping.pairs.top; p++) {
            const char *key = scalar(&doc, yaml_document_get_node(&doc, p->key));
            yaml_node_t *val = yaml_document_get_node(&doc, p->value);
            if (key && !strcmp(key, cmd->name) && val->type == YAML_MAPPING_NODE)
                rc = apply_yaml_mapping(cmd, &doc, val, file, 1);
        }
    } else if (root) {
        fprintf(stderr, "edgeflow: %s: the top level must be a mapping\n", file);
        rc = EF_EINVAL;
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* --- env ----------------------------------------------------------------------------------- */

static void env_name(const char *opt, char *out, size_t n)
{
    size_t i = (size_t)snprintf(out, n, "EDGEFLOW_");
    for (; *opt && i + 1 < n; opt++)
        out[i++] = *opt == '-' ? '_' : (char)toupper((unsigned char)*opt);
    out[i] = '\0';
}

static int apply_env(const ef_command *cmd)
{
    for (const ef_opt *o = cmd->opts; o && o->name; o++) {
        char name[128];
        env_name(o->name, name, sizeof name);
        const char *v = getenv(name);
        if (!v) continue;
        char origin[160];
        snprintf(origin, sizeof origin, "from $%s", name);
        if (set_value(o, v, origin, 0) != EF_OK) return EF_EINVAL;
    }
    return EF_OK;
}

/* --- help ---------------------------------------------------------------------------------- */

void ef_config_print_help(const ef_command *cmd)
{
    printf("Usage: %s\n\n%s\n", cmd->usage, cmd->summary);
    if (cmd->description) printf("\n%s\n", cmd->description);
    printf("\nOptions:\n");
    for (const ef_opt *o = cmd->opts; o && o->name; o++) {
        char left[96];
        if (o->type == EF_OPT_BOOL) snprintf(left, sizeof left, "--%s", o->name);
        else snprintf(left, sizeof left, "--%s %s", o->name, o->metavar ? o->metavar : "VALUE");
        printf("  %-30s %s\n", left, o->help ? o->help : "");
    }
    printf("  %-30s %s\n", "--config FILE",
           "YAML file: top-level keys and the section named after the command");
    printf("  %-30s %s\n", "--log-level LEVEL", "error, warn, info (default) or debug");
    printf("  %-30s %s\n", "-h, --help", "show this help");
    printf("  %-30s %s\n", "--version", "show the version");
    printf("\nEvery option can also be set as EDGEFLOW_<OPTION> in the environment (e.g. "
           "--log-level -> EDGEFLOW_LOG_LEVEL) or in the config file. Precedence: flags > "
           "environment > config file > defaults. Commands started by this one (e.g. by `up`) "
           "read the same --config file, each its own section.\n");
}

/* --- flags --------------------------------------------------------------------------------- */

int ef_config_parse(const ef_command *cmd, int argc, char **argv, ef_strlist *positional)
{
    const char *config_file = getenv("EDGEFLOW_CONFIG");
    const char *log_level = getenv("EDGEFLOW_LOG_LEVEL");
    int config_flag = 0;
    ef_log_level lvl;

    /* First pass: help, version, --config and --log-level, which steer the rest. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) break;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            ef_config_print_help(cmd);
            return EF_CONFIG_EXIT_OK;
        }
        if (!strcmp(a, "--version")) {
            printf("edgeflow %s\n", EF_VERSION);
            return EF_CONFIG_EXIT_OK;
        }
        if (!strcmp(a, "--config") || !strcmp(a, "--log-level")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "edgeflow %s: %s needs a value\n", cmd->name, a);
                return EF_CONFIG_EXIT_USAGE;
            }
            if (!strcmp(a, "--config")) config_file = argv[i + 1], config_flag = 1;
            else log_level = argv[i + 1];
            i++;
        } else if (!strncmp(a, "--config=", 9)) {
            config_file = a + 9;
            config_flag = 1;
        } else if (!strncmp(a, "--log-level=", 12)) {
            log_level = a + 12;
        }
    }
    if (config_file && *config_file && apply_yaml(cmd, config_file) != EF_OK)
        return EF_CONFIG_EXIT_USAGE;
    /* Commands this one starts (up's children, the demo's steps) read the same file, each its
     * own section: hand it on as EDGEFLOW_CONFIG, made absolute. */
    char abs[PATH_MAX];
    if (config_flag && *config_file && realpath(config_file, abs))
        setenv("EDGEFLOW_CONFIG", abs, 1);
    if (apply_env(cmd) != EF_OK) return EF_CONFIG_EXIT_USAGE;
    if (log_level) {
        if (ef_log_parse_level(log_level, &lvl) != EF_OK) {
            fprintf(stderr, "edgeflow %s: unknown log level '%s' (use error, warn, info, debug)\n",
                    cmd->name, log_level);
            return EF_CONFIG_EXIT_USAGE;
        }
        ef_log_set_level(lvl);
    }

    /* LIST options given on the command line replace what env/YAML set, then accumulate. */
    unsigned char cleared[128] = {0};
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            if (!positional) {
                fprintf(stderr, "edgeflow %s: unexpected argument '%s' (see --help)\n",
                        cmd->name, a);
                return EF_CONFIG_EXIT_USAGE;
            }
            if (ef_strlist_push(positional, a) != EF_OK) return EF_CONFIG_EXIT_USAGE;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(a, "--config") || !strcmp(a, "--log-level")) {
            i++;
            continue;
        }
        if (!strncmp(a, "--config=", 9) || !strncmp(a, "--log-level=", 12)) continue;
        if (a[1] != '-') {
            fprintf(stderr, "edgeflow %s: unknown option '%s' (see --help)\n", cmd->name, a);
            return EF_CONFIG_EXIT_USAGE;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const ef_opt *o = find_opt(cmd, name, nlen);
        const char *value = eq ? eq + 1 : NULL;
        if (!o && nlen > 3 && !strncmp(name, "no-", 3)) {
            o = find_opt(cmd, name + 3, nlen - 3);
            if (o && o->type == EF_OPT_BOOL && !value) {
                *(int *)o->ptr = 0;
                continue;
            }
            o = NULL;
        }
        if (!o) {
            fprintf(stderr, "edgeflow %s: unknown option '--%.*s' (see --help)\n", cmd->name,
                    (int)nlen, name);
            return EF_CONFIG_EXIT_USAGE;
        }
        if (o->type == EF_OPT_BOOL && !value) {
            *(int *)o->ptr = 1;
            continue;
        }
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "edgeflow %s: --%s needs a value (%s)\n", cmd->name, o->name,
                        o->metavar ? o->metavar : "VALUE");
                return EF_CONFIG_EXIT_USAGE;
            }
            value = argv[++i];
        }
        size_t idx = (size_t)(o - cmd->opts);
        if (o->type == EF_OPT_LIST && idx < sizeof cleared && !cleared[idx]) {
            ef_strlist_clear(o->ptr);
            cleared[idx] = 1;
        }
        if (set_value(o, value, "on the command line", 1) != EF_OK) return EF_CONFIG_EXIT_USAGE;
    }
    return EF_CONFIG_RUN;
}
