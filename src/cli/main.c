/* main.c - the edgeflow binary: dispatches `edgeflow <command> ...` to one cli/cmd_*.c file.
 * Commands hold no logic beyond wiring options to their role's module. */
#include <stdio.h>
#include <string.h>

#include "base/version.h"
#include "cli/commands.h"
#include "config/config.h"

static const struct {
    const ef_command *spec;
    int (*run)(int argc, char **argv);
} commands[] = {
#define EF_CMD(name) {&ef_cmd_##name##_spec, ef_cmd_##name},
    EF_CLI_COMMANDS
#undef EF_CMD
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: edgeflow <command> [options]\n\n"
                 "edgeflow - an edge-to-cloud machine-learning platform in one binary.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].spec->name, commands[i].spec->summary);
    fprintf(out, "\nRun `edgeflow <command> --help` for the options of one command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("edgeflow %s\n", EF_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].spec->name) == 0) {
            int rc = commands[i].run(argc - 1, argv + 1);
            ef_config_release();
            return rc;
        }
    }
    fprintf(stderr, "edgeflow: unknown command '%s' (run `edgeflow --help` for the list)\n",
            argv[1]);
    return 2;
}
