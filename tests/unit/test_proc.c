/* Unit tests for src/base/proc: spawn with a log file, exit statuses, signals, a missing program,
 * the child's own process group, and the parent-death signal (children never outlive a
 * SIGKILLed supervisor). Real processes (/bin/sh, sleep). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/proc.h"

static char g_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/ef_test_proc.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return ef_fs_rm_rf(g_dir);
}

static void read_log(const char *path, ef_buf *out)
{
    ef_buf_clear(out);
    assert_int_equal(ef_fs_read(path, 1 << 20, out), EF_OK);
}

static void test_exit_status_and_log(void **state)
{
    (void)state;
    char log[128], desc[64];
    snprintf(log, sizeof log, "%s/child.log", g_dir);
    char *argv[] = {"/bin/sh", "-c", "echo out-$0; echo err >&2; read x; echo got=$x; exit 3", "A",
                    NULL};
    pid_t pid;
    int st;
    assert_int_equal(ef_proc_spawn(argv, log, &pid), EF_OK);
    assert_int_equal(ef_proc_wait(pid, 10000, &st), 1);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 3);
    assert_string_equal(ef_proc_describe(st, desc, sizeof desc), "exit 3");
    /* A second run appends: the log keeps both. */
    argv[3] = "B";
    assert_int_equal(ef_proc_spawn(argv, log, &pid), EF_OK);
    assert_int_equal(ef_proc_wait(pid, 10000, &st), 1);
    ef_buf b;
    ef_buf_init(&b);
    read_log(log, &b);
    /* stdin is /dev/null: `read` gets EOF, x stays empty. */
    assert_string_equal(b.data, "out-A\nerr\ngot=\nout-B\nerr\ngot=\n");
    ef_buf_release(&b);
    /* Reaped already: not our child any more. */
    assert_int_equal(ef_proc_reap(pid, &st), EF_ENOTFOUND);
}

static void test_signal_group_and_stop(void **state)
{
    (void)state;
    char log[128], desc[64];
    snprintf(log, sizeof log, "%s/sleep.log", g_dir);
    char *argv[] = {"sleep", "30", NULL};
    pid_t pid;
    int st;
    assert_int_equal(ef_proc_spawn(argv, log, &pid), EF_OK);
    assert_int_equal(getpgid(pid), pid); /* own process group: no terminal Ctrl-C */
    assert_int_not_equal(getpgid(pid), getpgid(0));
    assert_int_equal(ef_proc_reap(pid, &st), 0);
    assert_int_equal(ef_proc_wait(pid, 50, &st), 0);
    assert_int_equal(ef_proc_signal(pid, SIGKILL), EF_OK);
    assert_int_equal(ef_proc_wait(pid, 10000, &st), 1);
    assert_true(WIFSIGNALED(st));
    assert_string_equal(ef_proc_describe(st, desc, sizeof desc), "signal 9 (Killed)");

    /* ef_proc_stop: SIGTERM is enough for sleep. */
    assert_int_equal(ef_proc_spawn(argv, log, &pid), EF_OK);
    assert_int_equal(ef_proc_stop(pid, 5000, &st), 1);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    /* ... and SIGKILL after the timeout for a child that ignores SIGTERM. */
    char *stubborn[] = {"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done",
                        NULL};
    assert_int_equal(ef_proc_spawn(stubborn, log, &pid), EF_OK);
    ef_buf b;
    ef_buf_init(&b);
    for (int i = 0; i < 500; i++) {
        read_log(log, &b);
        if (strstr(b.data ? b.data : "", "ready")) break;
        ef_sleep_ms(10);
    }
    ef_buf_release(&b);
    int64_t t0 = ef_mono_ms();
    assert_int_equal(ef_proc_stop(pid, 300, &st), 2);
    assert_true(ef_mono_ms() - t0 >= 300);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(ef_proc_signal(pid, 0), EF_ENOTFOUND);
}

static void test_missing_program_and_log(void **state)
{
    (void)state;
    char log[128];
    snprintf(log, sizeof log, "%s/x.log", g_dir);
    char *argv[] = {"edgeflow-no-such-program", NULL};
    pid_t pid = 0;
    assert_int_equal(ef_proc_spawn(argv, log, &pid), EF_ENOTFOUND);
    assert_int_equal(errno, ENOENT);
    char *argv2[] = {"/bin/true", NULL};
    snprintf(log, sizeof log, "%s/no-such-dir/x.log", g_dir);
    assert_int_equal(ef_proc_spawn(argv2, log, &pid), EF_EIO);
    /* No zombie or stray child left behind by the failures. */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* A middle process spawns `sleep 30` and is SIGKILLed: the sleep gets SIGTERM from the kernel.
 * We are the subreaper, so the orphan becomes our child and we can reap and check it. */
static void test_parent_death_signal(void **state)
{
    (void)state;
    char log[128];
    snprintf(log, sizeof log, "%s/orphan.log", g_dir);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t middle = fork();
    assert_true(middle >= 0);
    if (middle == 0) {
        char *argv[] = {"sleep", "30", NULL};
        pid_t p = 0;
        int rc = ef_proc_spawn(argv, log, &p);
        ssize_t w = write(pfd[1], &p, sizeof p);
        (void)w;
        (void)rc;
        pause();
        _exit(0);
    }
    pid_t orphan = 0;
    assert_int_equal(read(pfd[0], &orphan, sizeof orphan), (ssize_t)sizeof orphan);
    close(pfd[0]);
    close(pfd[1]);
    assert_true(orphan > 0);
    kill(middle, SIGKILL);
    int st;
    assert_int_equal(waitpid(middle, &st, 0), middle);
    assert_int_equal(ef_proc_wait(orphan, 10000, &st), 1);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* ef_proc_spawn_out: stdout into the caller's pipe, stderr into the log. */
static void test_stdout_to_fd(void **state)
{
    (void)state;
    char log[128], out[64] = "";
    snprintf(log, sizeof log, "%s/out.log", g_dir);
    int p[2];
    assert_int_equal(pipe(p), 0);
    char *argv[] = {"/bin/sh", "-c", "echo to-pipe; echo to-log >&2", NULL};
    pid_t pid;
    int st;
    assert_int_equal(ef_proc_spawn_out(argv, log, p[1], &pid), EF_OK);
    close(p[1]);
    assert_int_equal(ef_proc_wait(pid, 10000, &st), 1);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ssize_t n = read(p[0], out, sizeof out - 1);
    close(p[0]);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "to-pipe\n");
    ef_buf b = {0};
    read_log(log, &b);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "to-log\n", 7);
    ef_buf_release(&b);
}

/* ef_proc_spawn_detached: the child has a session of its own and survives its parent's
 * SIGKILL (no death signal). The parent is a forked copy of this test. */
static void test_detached_outlives_parent(void **state)
{
    (void)state;
    char log[128];
    snprintf(log, sizeof log, "%s/detached.log", g_dir);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t mid = fork();
    assert_true(mid >= 0);
    if (mid == 0) {
        char *argv[] = {"sleep", "30", NULL};
        pid_t child;
        if (ef_proc_spawn_detached(argv, log, &child)) _exit(1);
        ssize_t w = write(p[1], &child, sizeof child);
        (void)w;
        pause(); /* until SIGKILLed */
        _exit(0);
    }
    pid_t child = 0;
    assert_int_equal(read(p[0], &child, sizeof child), (ssize_t)sizeof child);
    close(p[0]);
    close(p[1]);
    assert_int_equal(getsid(child), child);
    kill(mid, SIGKILL);
    waitpid(mid, NULL, 0);
    ef_sleep_ms(300);
    assert_int_equal(kill(child, 0), 0); /* still running */
    kill(child, SIGKILL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status_and_log),
        cmocka_unit_test(test_stdout_to_fd),
        cmocka_unit_test(test_detached_outlives_parent),
        cmocka_unit_test(test_signal_group_and_stop),
        cmocka_unit_test(test_missing_program_and_log),
        cmocka_unit_test(test_parent_death_signal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
