/*
 * hsmproc.h - start and stop local tkms-hsmd processes: for the KMS
 * benchmark (bench/kms_bench.c), and small enough to serve a demo.
 *
 * Each daemon lives in a directory of its own:
 *   DIR/hsmd.conf  one listener and a management port, both 127.0.0.1:0
 *   DIR/ports      the port file the daemon writes once it listens
 *   DIR/log        its stdout and stderr
 *   DIR/keys       its key store (--dir)
 *
 * The children are recorded in a process-wide table so that a signal
 * handler can stop them all (hsmproc_signal_all, async-signal-safe), and
 * each child asks the kernel for SIGTERM when the process that forked it
 * dies (PR_SET_PDEATHSIG): no daemon outlives its parent, not even one
 * killed with SIGKILL. Fork from the main thread: the death signal follows
 * the forking thread, not the process.
 *
 * Errors: TKM_OK or a negative enum tkm_err, and why (why_len bytes, may
 * be NULL) says what happened.
 */
#ifndef BENCH_HSMPROC_H
#define BENCH_HSMPROC_H

#include <stddef.h>
#include <sys/types.h>

#include "tkm/err.h"

/* The development DK components of the tests (docs/keystore.md): every
 * daemon started with them shares DK, so keys under DK are portable. */
#define HSMPROC_DEV_COMPONENTS                                                 \
	"0123456789ABCDEFFEDCBA9876543210,11111111111111112222222222222222,"   \
	"0F0E0D0C0B0A09080706050403020100"

#define HSMPROC_MAX  64   /* children at a time */
#define HSMPROC_PATH 1024 /* directory names, with the NUL */

struct hsmproc_opts {
	const char *components; /* --dev-components; NULL: sealed */
	int authorised;         /* --dev-authorised */
	unsigned workers;       /* --workers; 0: the daemon's default */
	const char *commands;   /* the listener's whitelist; NULL: all */
};

struct hsmproc {
	char dir[HSMPROC_PATH];
	pid_t pid; /* 0: not running */
	unsigned port, mport;
};

/*
 * Start hsmd in dir (created 0700 when missing; it MUST NOT hold a
 * running daemon's files). Returns once the child is forked; the ports
 * are known after hsmproc_wait. *p is cleared first.
 */
int hsmproc_spawn(struct hsmproc *p, const char *hsmd, const char *dir,
    const struct hsmproc_opts *o, char *why, size_t why_len) TKM_MUST_CHECK;

/* Wait up to timeout_ms for the port file; fails early when the daemon
 * exits (why names its log). */
int hsmproc_wait(struct hsmproc *p, int timeout_ms, char *why,
    size_t why_len) TKM_MUST_CHECK;

/*
 * SIGTERM, wait up to timeout_ms, then SIGKILL. TKM_OK when the daemon
 * exited with status 0; TKM_ERR_INTERNAL otherwise (*status, if not NULL,
 * is the wait status). A stopped or never started p is TKM_OK.
 */
int hsmproc_stop(struct hsmproc *p, int timeout_ms, int *status);

/* Send sig to every running child. Async-signal-safe. */
void hsmproc_signal_all(int sig);

#endif
