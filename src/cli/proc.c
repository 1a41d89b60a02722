/*
 * proc.c - child processes: daemons and captured commands (proc.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "tkm/mem.h"

#define CAPTURE_MAX (4u << 20)
#define TERM_GRACE  3000 /* ms after SIGTERM on an interrupted run */

/* The registry: the handler reads it; threads change it under kids_mu
 * with the signals blocked (so the handler never sees half a slot).
 * exited/status: reaped early by proc_alive. */
static struct {
	volatile pid_t pid;
	int exited, status;
} kids[PROC_MAX];
static pthread_mutex_t kids_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	size_t i;
	int saved = errno;

	interrupted = sig;
	for (i = 0; i < PROC_MAX; i++)
		if (kids[i].pid > 0 && !kids[i].exited)
			(void)kill(kids[i].pid, SIGTERM);
	errno = saved;
}

int
proc_signals_install(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll and sleep wake */
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) != 0)
			return -1;
	/* A daemon that dies closes the pipe we write to. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int
proc_interrupted(void)
{
	return interrupted;
}

long long
proc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	(void)nanosleep(&ts, NULL); /* EINTR: the caller looks again */
}

static int
exit_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

static int
slot_of(pid_t pid)
{
	size_t i;

	for (i = 0; i < PROC_MAX; i++)
		if (kids[i].pid == pid)
			return (int)i;
	return -1;
}

static void
block_signals(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &s, old);
	pthread_mutex_lock(&kids_mu);
}

static void
unblock_signals(const sigset_t *old)
{
	pthread_mutex_unlock(&kids_mu);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void
unregister(pid_t pid)
{
	sigset_t old;
	int i;

	block_signals(&old);
	if ((i = slot_of(pid)) >= 0) {
		kids[i].pid = 0;
		kids[i].exited = 0;
		kids[i].status = 0;
	}
	unblock_signals(&old);
}

/*
 * fork with the child registered before any signal can be handled; in
 * the child: own session, SIGTERM on our death, fds 0/1/2 from in, out,
 * err, then exec. Only async-signal-safe calls after fork.
 */
static pid_t
start(char *const argv[], int in, int out, int err, char *why, size_t cap)
{
	sigset_t old, none;
	pid_t parent = getpid(), pid;
	int slot;
	static const char msg[] = "exec failed\n";

	block_signals(&old);
	if ((slot = slot_of(0)) < 0) {
		unblock_signals(&old);
		snprintf(why, cap, "more than %d children", PROC_MAX);
		return -1;
	}
	if ((pid = fork()) < 0) {
		unblock_signals(&old);
		snprintf(why, cap, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		(void)setsid();
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(127);
	}
	kids[slot].exited = 0;
	kids[slot].status = 0;
	kids[slot].pid = pid;
	unblock_signals(&old);
	return pid;
}

pid_t
proc_spawn(char *const argv[], const char *log, char *why, size_t cap)
{
	int in, fd;
	pid_t pid;

	if ((in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(why, cap, "/dev/null: %s", strerror(errno));
		return -1;
	}
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) <
	    0) {
		snprintf(why, cap, "%s: %s", log, strerror(errno));
		close(in);
		return -1;
	}
	pid = start(argv, in, fd, fd, why, cap);
	close(in);
	close(fd);
	return pid;
}

int
proc_alive(pid_t pid)
{
	int i = slot_of(pid), st;

	if (pid <= 0 || i < 0)
		return 0;
	if (kids[i].exited)
		return 0;
	if (waitpid(pid, &st, WNOHANG) == pid) {
		kids[i].status = exit_status(st);
		kids[i].exited = 1;
		return 0;
	}
	return 1;
}

int
proc_wait_file(
    pid_t pid, const char *path, int timeout_ms, char *why, size_t cap)
{
	long long end = proc_now_ms() + timeout_ms;
	struct stat sb;
	int i;

	for (;;) {
		if (stat(path, &sb) == 0)
			return 0;
		if (!proc_alive(pid)) {
			i = slot_of(pid);
			snprintf(why, cap, "exited with status %d",
			    i >= 0 ? kids[i].status : -1);
			return -1;
		}
		if (proc_interrupted()) {
			snprintf(why, cap, "interrupted");
			return -1;
		}
		if (proc_now_ms() > end) {
			snprintf(why, cap, "did not write %s in %d s", path,
			    timeout_ms / 1000);
			return -1;
		}
		sleep_ms(20);
	}
}

/* Reap pid within the deadline; SIGKILL after it. The exit status. */
static int
reap(pid_t pid, long long deadline)
{
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return exit_status(st);
		if (r < 0 && errno != EINTR)
			return 255;
		if (proc_now_ms() > deadline)
			break;
		sleep_ms(10);
	}
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 255;
	return exit_status(st);
}

int
proc_stop(pid_t pid, int timeout_ms, int *status)
{
	int i = slot_of(pid);

	*status = -1;
	if (pid <= 0 || i < 0)
		return -1;
	if (proc_alive(pid)) {
		(void)kill(pid, SIGTERM);
		*status = reap(pid, proc_now_ms() + timeout_ms);
	} else {
		*status = kids[i].status;
	}
	unregister(pid);
	return 0;
}

void
proc_stop_all(int timeout_ms)
{
	long long deadline = proc_now_ms() + timeout_ms;
	size_t i;
	int st;

	for (i = 0; i < PROC_MAX; i++)
		if (kids[i].pid > 0 && proc_alive(kids[i].pid))
			(void)kill(kids[i].pid, SIGTERM);
	for (i = 0; i < PROC_MAX; i++)
		if (kids[i].pid > 0)
			(void)proc_stop(kids[i].pid,
			    (int)(deadline > proc_now_ms()
				      ? deadline - proc_now_ms()
				      : 0),
			    &st);
}

/* --- captured commands ---------------------------------------------------- */

struct sink {
	char *p;
	size_t len, cap;
};

/* Append n bytes (dropped beyond CAPTURE_MAX); -1 out of memory. */
static int
sink_add(struct sink *s, const char *b, size_t n)
{
	char *np;
	size_t want;

	if (s->len + n > CAPTURE_MAX)
		n = CAPTURE_MAX - s->len;
	if (s->len + n + 1 > s->cap) {
		want = s->cap != 0 ? s->cap : 4096;
		while (want < s->len + n + 1)
			want *= 2;
		/* Grow by copying, wiping the old block: a console's output
		 * may hold a generated component (realloc would leave it). */
		if ((np = malloc(want)) == NULL)
			return -1;
		if (s->p != NULL) {
			memcpy(np, s->p, s->len);
			tkm_cleanse(s->p, s->cap);
			free(s->p);
		}
		s->p = np;
		s->cap = want;
	}
	memcpy(s->p + s->len, b, n);
	s->len += n;
	s->p[s->len] = '\0';
	return 0;
}

int
proc_run(char *const argv[], int timeout_ms, struct proc_out *o, char *why,
    size_t cap)
{
	struct sink sk[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
	struct pollfd pfd[2];
	long long end = proc_now_ms() + timeout_ms, left;
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, in = -1, rc = -1, open_fds, k;
	int killed = 0;
	char buf[8192];
	ssize_t n;
	pid_t pid = -1;

	memset(o, 0, sizeof(*o));
	o->status = -1;
	if ((in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
	    pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
		snprintf(why, cap, "pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = start(argv, in, po[1], pe[1], why, cap)) < 0)
		goto out;
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	pfd[0] = (struct pollfd){po[0], POLLIN, 0};
	pfd[1] = (struct pollfd){pe[0], POLLIN, 0};
	open_fds = 2;
	while (open_fds > 0) {
		left = end - proc_now_ms();
		if (left <= 0 && !killed) {
			/* The child leads its own session: its children go
			 * too, else they would hold the pipes open. */
			(void)kill(-pid, SIGKILL);
			(void)kill(pid, SIGKILL);
			killed = 1;
			snprintf(
			    why, cap, "no answer in %d s", timeout_ms / 1000);
		}
		/* Whatever still holds the pipes after that: stop reading. */
		if (killed && left <= -TERM_GRACE)
			break;
		if (proc_interrupted() && !killed &&
		    end - proc_now_ms() > TERM_GRACE)
			end = proc_now_ms() + TERM_GRACE; /* TERM was sent */
		if (poll(pfd, 2,
			left > 0 ? (left > 200 ? 200 : (int)left) : 200) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (k = 0; k < 2; k++) {
			if (pfd[k].fd < 0 ||
			    (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) ==
				0)
				continue;
			n = read(pfd[k].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				pfd[k].fd = -1;
				open_fds--;
			} else if (sink_add(&sk[k], buf, (size_t)n) != 0) {
				snprintf(why, cap, "out of memory");
				killed = 1;
				(void)kill(pid, SIGKILL);
			}
		}
	}
	o->status = reap(pid, proc_now_ms() + (killed ? 0 : 5000));
	unregister(pid);
	if (proc_interrupted()) {
		snprintf(why, cap, "interrupted");
		goto out;
	}
	if (killed)
		goto out;
	rc = 0;
out:
	if (sink_add(&sk[0], "", 0) != 0 || sink_add(&sk[1], "", 0) != 0)
		rc = -1;
	o->out = sk[0].p;
	o->out_len = sk[0].len;
	o->err = sk[1].p;
	o->err_len = sk[1].len;
	for (k = 0; k < 2; k++) {
		if (po[k] >= 0)
			close(po[k]);
		if (pe[k] >= 0)
			close(pe[k]);
	}
	if (in >= 0)
		close(in);
	return rc;
}

void
proc_out_free(struct proc_out *o)
{
	/* A console's answer may hold a generated component. */
	if (o->out != NULL)
		tkm_cleanse(o->out, o->out_len);
	if (o->err != NULL)
		tkm_cleanse(o->err, o->err_len);
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof(*o));
}
