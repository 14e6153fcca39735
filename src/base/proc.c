/* proc.c - spawning, signalling and reaping child processes; see proc.h. */
#include "base/proc.h"
#include "base/clock.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the child between fork and exec: only async-signal-safe calls. Never returns. */
static void exec_child(char *const argv[], pid_t parent, int nullfd, int outfd, int logfd,
                       int errfd, int detached)
{
    if (detached) {
        setsid(); /* outlives us: no death signal, no controlling terminal */
    } else {
        setpgid(0, 0);
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(127);
    }
    static const int sigs[] = {SIGPIPE, SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
                               SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(nullfd, 0) < 0 || dup2(outfd, 1) < 0 || dup2(logfd, 2) < 0) {
        int e = errno;
        ssize_t w = write(errfd, &e, sizeof e);
        (void)w;
        _exit(127);
    }
    execvp(argv[0], argv);
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(127);
}

static int spawn(char *const argv[], const char *log_path, int out_fd, int detached, pid_t *pid)
{
    int rc = EF_EIO, saved = 0;
    int logfd = -1, nullfd = -1, pfd[2] = {-1, -1};
    if (!argv || !argv[0] || !log_path || !pid) return EF_EINVAL;
    logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) goto out;
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0 || pipe2(pfd, O_CLOEXEC) != 0) goto out;
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) goto out;
    if (child == 0)
        exec_child(argv, parent, nullfd, out_fd >= 0 ? out_fd : logfd, logfd, pfd[1], detached);
    /* Also from the parent: no window where the child is still in our group. */
    if (!detached) setpgid(child, child);
    close(pfd[1]);
    pfd[1] = -1;
    int e = 0;
    ssize_t n;
    do {
        n = read(pfd[0], &e, sizeof e);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof e) {
        int st;
        while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
        }
        errno = e;
        rc = e == ENOENT ? EF_ENOTFOUND : EF_EIO;
        goto out;
    }
    *pid = child;
    rc = EF_OK;
out:
    saved = errno;
    if (pfd[0] >= 0) close(pfd[0]);
    if (pfd[1] >= 0) close(pfd[1]);
    if (nullfd >= 0) close(nullfd);
    if (logfd >= 0) close(logfd);
    errno = saved;
    return rc;
}

int ef_proc_spawn(char *const argv[], const char *log_path, pid_t *pid)
{
    return spawn(argv, log_path, -1, 0, pid);
}

int ef_proc_spawn_out(char *const argv[], const char *log_path, int out_fd, pid_t *pid)
{
    return spawn(argv, log_path, out_fd, 0, pid);
}

int ef_proc_spawn_detached(char *const argv[], const char *log_path, pid_t *pid)
{
    return spawn(argv, log_path, -1, 1, pid);
}

int ef_proc_signal(pid_t pid, int sig)
{
    if (pid <= 0) return EF_EINVAL;
    if (kill(pid, sig) == 0) return EF_OK;
    return errno == ESRCH ? EF_ENOTFOUND : EF_EIO;
}

int ef_proc_reap(pid_t pid, int *status)
{
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid, &st, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < 0) return EF_ENOTFOUND;
    if (status) *status = st;
    return 1;
}

int ef_proc_wait(pid_t pid, int64_t timeout_ms, int *status)
{
    int64_t deadline = ef_mono_ms() + timeout_ms;
    for (;;) {
        int rc = ef_proc_reap(pid, status);
        if (rc != 0) return rc;
        if (ef_mono_ms() >= deadline) return 0;
        ef_sleep_ms(10);
    }
}

int ef_proc_stop(pid_t pid, int64_t timeout_ms, int *status)
{
    int rc = ef_proc_reap(pid, status);
    if (rc != 0) return rc;
    ef_proc_signal(pid, SIGTERM);
    rc = ef_proc_wait(pid, timeout_ms, status);
    if (rc != 0) return rc;
    ef_proc_signal(pid, SIGKILL);
    rc = ef_proc_wait(pid, 10000, status);
    return rc == 1 ? 2 : rc == 0 ? EF_ETIMEDOUT : rc;
}

const char *ef_proc_describe(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "status 0x%x", (unsigned)status);
    return buf;
}
