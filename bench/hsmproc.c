/*
 * hsmproc.c - local tkms-hsmd processes (hsmproc.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsmproc.h"

#define POLL_NS 10000000L /* 10 ms between looks at the port file */

/* The running children, for hsmproc_signal_all; 0 marks a free slot, -1
 * one reserved for a fork under way.
 * Written only with every signal blocked, read by handlers. */
static volatile sig_atomic_t children[HSMPROC_MAX];

static void say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || why_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* DIR/name into out; -1 when it does not fit. */
static int
path_in(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Replace old by pid in the table, signals blocked by the caller; -1 when
 * old is not there (for old 0: the table is full). */
static int
swap_child(pid_t old, pid_t pid)
{
	size_t i;

	for (i = 0; i < HSMPROC_MAX; i++)
		if (children[i] == old) {
			children[i] = pid;
			return 0;
		}
	return -1;
}

static void
forget(pid_t pid)
{
	sigset_t all, prev;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &prev);
	(void)swap_child(pid, 0);
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
}

void
hsmproc_signal_all(int sig)
{
	size_t i;

	for (i = 0; i < HSMPROC_MAX; i++)
		if (children[i] > 0)
			kill((pid_t)children[i], sig);
}

static int
write_conf(const char *path, const struct hsmproc_opts *o)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return -1;
	fprintf(f, "listen 127.0.0.1:0%s%s\nmanage 127.0.0.1:0\n",
	    o->commands != NULL ? " commands=" : "",
	    o->commands != NULL ? o->commands : "");
	ok = fflush(f) == 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void
exec_child(
    const char *hsmd, const char *const *argv, const char *log, pid_t parent)
{
	sigset_t none;
	int fd;

	/* Die with the parent; it may have died before this line. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(126);
	signal(SIGPIPE, SIG_DFL); /* ignored dispositions survive exec */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0)
		_exit(126);
	/* Not the parent's database files, sockets to other HSMs, ... */
	close_range(STDERR_FILENO + 1, ~0U, 0);
	execv(hsmd, (char *const *)argv);
	_exit(127);
}

int
hsmproc_spawn(struct hsmproc *p, const char *hsmd, const char *dir,
    const struct hsmproc_opts *o, char *why, size_t why_len)
{
	char conf[HSMPROC_PATH], ports[HSMPROC_PATH], keys[HSMPROC_PATH];
	char log[HSMPROC_PATH], workers[16];
	const char *argv[16];
	sigset_t all, prev;
	pid_t parent = getpid(), pid;
	int n = 0, err;

	memset(p, 0, sizeof(*p));
	if (snprintf(p->dir, sizeof(p->dir), "%s", dir) >=
		(int)sizeof(p->dir) ||
	    path_in(conf, sizeof(conf), dir, "hsmd.conf") != 0 ||
	    path_in(ports, sizeof(ports), dir, "ports") != 0 ||
	    path_in(keys, sizeof(keys), dir, "keys") != 0 ||
	    path_in(log, sizeof(log), dir, "log") != 0) {
		say(why, why_len, "%s: path too long", dir);
		return TKM_ERR_INPUT;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		say(why, why_len, "mkdir %s: %s", dir, strerror(errno));
		return TKM_ERR_IO;
	}
	(void)unlink(ports); /* a stale one would look like a ready daemon */
	if (write_conf(conf, o) != 0) {
		say(why, why_len, "%s: %s", conf, strerror(errno));
		return TKM_ERR_IO;
	}
	argv[n++] = hsmd;
	argv[n++] = "--dir";
	argv[n++] = keys;
	argv[n++] = "--config";
	argv[n++] = conf;
	argv[n++] = "--port-file";
	argv[n++] = ports;
	if (o->workers > 0) {
		snprintf(workers, sizeof(workers), "%u", o->workers);
		argv[n++] = "--workers";
		argv[n++] = workers;
	}
	if (o->components != NULL) {
		argv[n++] = "--dev-components";
		argv[n++] = o->components;
	}
	if (o->authorised)
		argv[n++] = "--dev-authorised";
	argv[n] = NULL;

	/* No signal between fork and the table entry: a handler must see
	 * every child that can be running. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &prev);
	if (swap_child(0, -1) != 0) {
		pthread_sigmask(SIG_SETMASK, &prev, NULL);
		say(why, why_len, "more than %d daemons", HSMPROC_MAX);
		return TKM_ERR_SPACE;
	}
	pid = fork();
	if (pid == 0)
		exec_child(hsmd, argv, log, parent);
	err = errno;
	(void)swap_child(-1, pid > 0 ? pid : 0);
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	if (pid < 0) {
		say(why, why_len, "fork: %s", strerror(err));
		return TKM_ERR_IO;
	}
	p->pid = pid;
	return TKM_OK;
}

/* The port file: "ADDR PORT" per listener, then "manage ADDR PORT". */
static int
read_ports(struct hsmproc *p, FILE *f)
{
	char line[256], addr[64];
	unsigned port;

	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "manage %63s %u", addr, &port) == 2)
			p->mport = port;
		else if (p->port == 0 &&
			 sscanf(line, "%63s %u", addr, &port) == 2)
			p->port = port;
	}
	return p->port > 0 && p->port < 65536 && p->mport < 65536 ? 0 : -1;
}

int
hsmproc_wait(struct hsmproc *p, int timeout_ms, char *why, size_t why_len)
{
	struct timespec nap = {0, POLL_NS};
	char ports[HSMPROC_PATH];
	long waited_ms;
	FILE *f = NULL;
	int status, rc;

	if (p->pid <= 0) {
		say(why, why_len, "no daemon started in %s", p->dir);
		return TKM_ERR_INPUT;
	}
	if (path_in(ports, sizeof(ports), p->dir, "ports") != 0)
		return TKM_ERR_INPUT;
	for (waited_ms = 0; waited_ms <= timeout_ms;
	     waited_ms += POLL_NS / 1000000) {
		if ((f = fopen(ports, "r")) != NULL)
			break;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			forget(p->pid);
			p->pid = 0;
			say(why, why_len,
			    "tkms-hsmd in %s exited (status %d) before"
			    " listening; see %s/log",
			    p->dir, status, p->dir);
			return TKM_ERR_IO;
		}
		nanosleep(&nap, NULL);
	}
	if (f == NULL) {
		say(why, why_len, "tkms-hsmd in %s wrote no port file in %d ms",
		    p->dir, timeout_ms);
		return TKM_ERR_TIMEOUT;
	}
	rc = read_ports(p, f) == 0 ? TKM_OK : TKM_ERR_INPUT;
	fclose(f);
	if (rc != TKM_OK)
		say(why, why_len, "%s: no listener in the port file", ports);
	return rc;
}

int
hsmproc_stop(struct hsmproc *p, int timeout_ms, int *status)
{
	struct timespec nap = {0, POLL_NS};
	long waited_ms = 0;
	int st = 0;
	pid_t r;

	if (status != NULL)
		*status = 0;
	if (p->pid <= 0)
		return TKM_OK;
	kill(p->pid, SIGTERM);
	while ((r = waitpid(p->pid, &st, WNOHANG)) == 0 &&
	       waited_ms < timeout_ms) {
		nanosleep(&nap, NULL);
		waited_ms += POLL_NS / 1000000;
	}
	if (r == 0) {
		kill(p->pid, SIGKILL);
		while ((r = waitpid(p->pid, &st, 0)) < 0 && errno == EINTR)
			;
	}
	forget(p->pid);
	p->pid = 0;
	if (status != NULL)
		*status = st;
	return r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0
		   ? TKM_OK
		   : TKM_ERR_INTERNAL;
}
