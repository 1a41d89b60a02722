/*
 * proc.h - child processes of a tool that drives other programs (tkms
 * demo): daemons started with a port file and stopped again, and one-shot
 * commands whose output is captured.
 *
 * Every child runs in a session of its own (setsid: no controlling
 * terminal, so a command that would ask for a secret fails at once
 * instead of stopping in the background, and the terminal's ^C reaches
 * only this process), gets SIGTERM when the thread that started it ends
 * (PR_SET_PDEATHSIG), has stdin on /dev/null, and is kept in a registry
 * until it is reaped.
 *
 * Threads: proc_run may run in several threads at once (its child ends
 * before it returns). Everything else — daemons above all, which must
 * outlive no thread but the main one — is for the main thread, while no
 * other thread runs commands.
 * proc_signals_install() makes SIGINT, SIGTERM and SIGHUP mark the run
 * interrupted and send SIGTERM to every registered child, so a blocked
 * exchange with a daemon ends and the caller finds proc_interrupted()
 * set; proc_stop_all() then reaps what is left.
 *
 * Exit statuses are given as the shell does: the code, or 128 + signal.
 */
#ifndef TKMS_PROC_H
#define TKMS_PROC_H

#include <stddef.h>
#include <sys/types.h>

#define PROC_MAX 32 /* children alive at once */

/* Install the handlers; 0 or -1. */
int proc_signals_install(void);
/* The signal that interrupted the run, or 0. */
int proc_interrupted(void);

/*
 * A daemon: argv[0] is a path; stdout and stderr go to log (created or
 * appended, mode 0600). Returns the pid, or -1 after a message in why.
 */
pid_t proc_spawn(char *const argv[], const char *log, char *why, size_t cap);

/*
 * Wait until path exists (the daemon's port file) or the child exits,
 * at most timeout_ms. 0 when it exists; -1 with why (exited with its
 * status and reaped, timed out, interrupted).
 */
int proc_wait_file(
    pid_t pid, const char *path, int timeout_ms, char *why, size_t cap);

/* 1 if pid is registered and still running; reaps it (and records its
 * status for proc_stop) if it exited. */
int proc_alive(pid_t pid);

/*
 * SIGTERM, wait up to timeout_ms, then SIGKILL; reaped and unregistered.
 * *status the exit status (or that of an earlier exit seen by
 * proc_alive). 0, or -1 if pid is not one of ours.
 */
int proc_stop(pid_t pid, int timeout_ms, int *status);
/* Stop every registered child, the same way, all at once. */
void proc_stop_all(int timeout_ms);

/* What a one-shot command printed, NUL terminated, and how it ended. */
struct proc_out {
	char *out, *err;
	size_t out_len, err_len;
	int status;
};

/*
 * Run argv to its end (at most timeout_ms, then SIGKILL), capturing
 * stdout and stderr (at most 4 MiB each; more is read and dropped).
 * 0 when it ran (its exit status in o->status); -1 with why when it
 * could not be started, timed out or was interrupted. o is freed with
 * proc_out_free (also after -1).
 */
int proc_run(char *const argv[], int timeout_ms, struct proc_out *o, char *why,
    size_t cap);
void proc_out_free(struct proc_out *o);

/* Milliseconds of a monotonic clock. */
long long proc_now_ms(void);

#endif
