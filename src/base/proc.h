/* proc.h - child processes for supervisors: spawn with an argv and a log file, signal, reap
 * without blocking, describe an exit status.
 *
 * A spawned child
 *   - has stdin on /dev/null and stdout + stderr appended to its log file,
 *   - runs in its own process group, so a terminal's Ctrl-C reaches only the supervisor, which
 *     then stops its children in the order it chooses,
 *   - gets SIGTERM when the supervisor dies (PR_SET_PDEATHSIG, plus a getppid() check for a
 *     parent that died before the prctl), so children never outlive a SIGKILLed supervisor,
 *   - starts with default signal dispositions and an empty signal mask.
 * The death signal is tied to the thread that spawned: spawn from a thread that lives as long as
 * the supervisor (its main thread).
 */
#ifndef EF_BASE_PROC_H
#define EF_BASE_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Starts argv[0] (searched in PATH when it holds no '/') with argv, its output appended to
 * log_path (created 0644 when missing). Returns 0 and *pid once the exec succeeded;
 * EF_ENOTFOUND when the program does not exist, EF_EIO when the log cannot be opened, fork
 * fails or exec fails otherwise (errno set in each case). */
int ef_proc_spawn(char *const argv[], const char *log_path, pid_t *pid);

/* The same with the child's stdout on out_fd (-1: the log too), e.g. a pipe whose read end the
 * caller collects; stderr still goes to log_path. out_fd is only duplicated: the caller keeps
 * it. */
int ef_proc_spawn_out(char *const argv[], const char *log_path, int out_fd, pid_t *pid);

/* The same for a child meant to outlive the caller: a session of its own (setsid) and no
 * parent-death signal; still the caller's child while both run (reap or stop it as usual). */
int ef_proc_spawn_detached(char *const argv[], const char *log_path, pid_t *pid);

/* Sends sig to the child pid. Returns 0, EF_ENOTFOUND (no such process) or EF_EIO. */
int ef_proc_signal(pid_t pid, int sig);

/* Reaps pid without blocking. Returns 1 with *status (a waitpid status) when it has exited,
 * 0 while it runs, EF_ENOTFOUND when pid is not our child (already reaped). */
int ef_proc_reap(pid_t pid, int *status);

/* Waits up to timeout_ms for pid to exit (polling). Returns 1 with *status, 0 on timeout,
 * or EF_ENOTFOUND. */
int ef_proc_wait(pid_t pid, int64_t timeout_ms, int *status);

/* Stops pid: SIGTERM, waits up to timeout_ms, then SIGKILL and reaps. Returns 1 when it exited
 * after SIGTERM, 2 when it had to be killed, EF_ENOTFOUND when it was not our child,
 * EF_ETIMEDOUT when it outlived SIGKILL by 10 s (stuck in the kernel); *status gets the waitpid
 * status. */
int ef_proc_stop(pid_t pid, int64_t timeout_ms, int *status);

/* Writes "exit 3" or "signal 9 (Killed)" for a waitpid status into buf; returns buf. */
const char *ef_proc_describe(int status, char *buf, size_t n);

#endif
