/* Unit tests for src/config: precedence flags > env > YAML > defaults, lists, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

static const char *g_url;
static int64_t g_interval;
static int g_flag;
static ef_strlist g_list;

static const ef_opt opts[] = {
    {"url", EF_OPT_STR, &g_url, "URL", "broker"},
    {"interval", EF_OPT_DURATION, &g_interval, "DUR", "interval"},
    {"flag", EF_OPT_BOOL, &g_flag, NULL, "a flag"},
    {"topic", EF_OPT_LIST, &g_list, "FILTER", "topics"},
    {0},
};
static const ef_command cmd = {"agent", "test", "edgeflow agent", NULL, opts};

static void reset(void)
{
    g_url = "default";
    g_interval = 15000;
    g_flag = 1;
    ef_strlist_release(&g_list);
    unsetenv("EDGEFLOW_URL");
    unsetenv("EDGEFLOW_CONFIG");
    unsetenv("EDGEFLOW_TOPIC");
}

static void test_precedence(void **state)
{
    (void)state;
    reset();
    char path[] = "/tmp/ef_cfg_XXXXXX";
    int fd = mkstemp(path);
    const char *yaml = "url: top\ninterval: 1m\nagent:\n  url: section\n  topic: [a/+, b/#]\n"
                       "ingest:\n  whatever: 1\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (int)strlen(yaml));
    close(fd);
    setenv("EDGEFLOW_CONFIG", path, 1);
    char *argv1[] = {"agent", NULL};
    assert_int_equal(ef_config_parse(&cmd, 1, argv1, NULL), EF_CONFIG_RUN);
    assert_string_equal(g_url, "section");
    assert_int_equal(g_interval, 60000);
    assert_int_equal(g_list.n, 2);
    assert_string_equal(g_list.v[1], "b/#");

    setenv("EDGEFLOW_URL", "env", 1);
    setenv("EDGEFLOW_TOPIC", "x, y, z", 1);
    assert_int_equal(ef_config_parse(&cmd, 1, argv1, NULL), EF_CONFIG_RUN);
    assert_string_equal(g_url, "env");
    assert_int_equal(g_list.n, 3);

    char *argv2[] = {"agent", "--url=flag", "--no-flag", "--topic", "t1", "--topic", "t2",
                     "--interval", "250ms", NULL};
    ef_strlist pos;
    ef_strlist_init(&pos);
    assert_int_equal(ef_config_parse(&cmd, 9, argv2, &pos), EF_CONFIG_RUN);
    assert_string_equal(g_url, "flag");
    assert_int_equal(g_flag, 0);
    assert_int_equal(g_interval, 250);
    assert_int_equal(g_list.n, 2);
    assert_string_equal(g_list.v[0], "t1");
    ef_strlist_release(&pos);
    unlink(path);
    reset();
    ef_config_release();
}

static void test_errors(void **state)
{
    (void)state;
    reset();
    char *a1[] = {"agent", "--bogus", NULL};
    assert_int_equal(ef_config_parse(&cmd, 2, a1, NULL), EF_CONFIG_EXIT_USAGE);
    char *a2[] = {"agent", "--interval", "soon", NULL};
    assert_int_equal(ef_config_parse(&cmd, 3, a2, NULL), EF_CONFIG_EXIT_USAGE);
    char *a3[] = {"agent", "--url", NULL};
    assert_int_equal(ef_config_parse(&cmd, 2, a3, NULL), EF_CONFIG_EXIT_USAGE);
    char *a4[] = {"agent", "stray", NULL};
    assert_int_equal(ef_config_parse(&cmd, 2, a4, NULL), EF_CONFIG_EXIT_USAGE);
    char *a5[] = {"agent", "--config", "/nonexistent.yaml", NULL};
    assert_int_equal(ef_config_parse(&cmd, 3, a5, NULL), EF_CONFIG_EXIT_USAGE);
    char path[] = "/tmp/ef_cfg_XXXXXX";
    int fd = mkstemp(path);
    const char *yaml = "agent:\n  unknown-key: 1\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (int)strlen(yaml));
    close(fd);
    char *a6[] = {"agent", "--config", path, NULL};
    assert_int_equal(ef_config_parse(&cmd, 3, a6, NULL), EF_CONFIG_EXIT_USAGE);
    unlink(path);
    ef_config_release();
}

/* A --config flag is exported as EDGEFLOW_CONFIG (absolute) for the commands this one starts;
 * the environment's own EDGEFLOW_CONFIG is left as it was. */
static void test_config_handed_on(void **state)
{
    (void)state;
    reset();
    char dir[] = "/tmp/ef_cfgdir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], cwd[4096];
    snprintf(path, sizeof path, "%s/edgeflow.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("agent:\n  url: from-file\n", f);
    fclose(f);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    char *argv[] = {"agent", "--config", "edgeflow.yaml", NULL}; /* relative */
    assert_int_equal(ef_config_parse(&cmd, 3, argv, NULL), EF_CONFIG_RUN);
    assert_int_equal(chdir(cwd), 0);
    assert_string_equal(g_url, "from-file");
    char want[4096];
    assert_non_null(realpath(path, want));
    assert_non_null(getenv("EDGEFLOW_CONFIG"));
    assert_string_equal(getenv("EDGEFLOW_CONFIG"), want);
    /* a child reading only the environment finds the same file */
    g_url = "default";
    char *child[] = {"agent", NULL};
    assert_int_equal(ef_config_parse(&cmd, 1, child, NULL), EF_CONFIG_RUN);
    assert_string_equal(g_url, "from-file");
    unlink(path);
    rmdir(dir);
    reset();
    ef_config_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_config_handed_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
