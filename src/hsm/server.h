/*
 * server.h - the network side of tkms-hsmd: worker threads, listeners,
 * connections (docs/hsmd.md).
 *
 * One process, N worker threads. Each worker has its own libevent base and
 * its own struct hsm_worker (key store connection, key slots), and opens
 * every configured listener itself with SO_REUSEPORT, so the kernel
 * spreads connections over the workers and the hot path takes no
 * process-wide lock. A connection stays on the worker that accepted it;
 * its requests are answered in order.
 */
#ifndef HSM_SERVER_H
#define HSM_SERVER_H

#include <stddef.h>

#include "hsm.h"
#include "tkm/err.h"

struct hsm_server;

/*
 * Set up the workers (hsm_worker_init) and bind every listener of st->cfg
 * in every worker; st MUST outlive the server. A listener with port 0 gets
 * one ephemeral port shared by all workers. Nothing is served until
 * hsm_server_start().
 */
int hsm_server_new(
    struct hsm_state *st, struct hsm_server **out) TKM_MUST_CHECK;
/* The port listener i is bound to (useful with port 0). */
unsigned hsm_server_port(const struct hsm_server *s, size_t i);
/*
 * Block SIGTERM and SIGINT in the calling thread (the workers inherit the
 * mask) and start the worker threads.
 */
int hsm_server_start(struct hsm_server *s) TKM_MUST_CHECK;
/*
 * Wait for SIGTERM or SIGINT (or a worker that failed), stop every
 * worker's loop and join the threads. Returns the signal number, or 0
 * when a worker failed.
 */
int hsm_server_wait(struct hsm_server *s);
/* Close every connection and listener, clean up the workers. NULL is a
 * no-op. */
void hsm_server_free(struct hsm_server *s);

/* One log line on stderr with a UTC timestamp. */
void hsm_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
