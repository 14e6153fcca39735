/* commands.h - the list of edgeflow commands. Each EF_CMD(x) needs, in cli/cmd_x.c,
 *   const ef_command ef_cmd_x_spec;   and   int ef_cmd_x(int argc, char **argv);
 * where argv[0] is the command name. The return value is the process exit code. */
#ifndef EF_CLI_COMMANDS_H
#define EF_CLI_COMMANDS                                                                            \
    EF_CMD(up) EF_CMD(demo) EF_CMD(agent) EF_CMD(ingest) EF_CMD(export) EF_CMD(server)            \
        EF_CMD(train) EF_CMD(predict) EF_CMD(serve)

#include "config/config.h"

#define EF_CLI_COMMANDS                                                                            \
    EF_CMD(up) EF_CMD(demo) EF_CMD(agent) EF_CMD(ingest) EF_CMD(export) EF_CMD(server)            \
        EF_CMD(train) EF_CMD(predict) EF_CMD(serve)

#define EF_CMD(name)                                                                               \
    extern const ef_command ef_cmd_##name##_spec;                                                  \
    int ef_cmd_##name(int argc, char **argv);
EF_CLI_COMMANDS
#undef EF_CMD

#endif
