/*
 * net.h - a monotonic clock, and TCP connect and wait against a deadline.
 *
 * The host-command client, the KMS's management probe and the daemons'
 * timers share these: every network step is bounded by one deadline on
 * CLOCK_MONOTONIC, which a wall-clock step cannot move.
 */
#ifndef TKM_NET_H
#define TKM_NET_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin). */
int64_t tkm_mono_ms(void);

/*
 * Wait until fd is ready for events (POLLIN, POLLOUT) or the deadline
 * (tkm_mono_ms) passes: TKM_OK, TKM_ERR_TIMEOUT, or TKM_ERR_IO.
 */
int tkm_net_wait(int fd, short events, int64_t deadline);

/*
 * A TCP connection to host (a name or an address) and port (digits),
 * non-blocking, close-on-exec, TCP_NODELAY, made before the deadline: each
 * address getaddrinfo gives is tried in turn until one connects or time
 * runs out. *fd: the socket, or -1. TKM_OK, TKM_ERR_TIMEOUT, TKM_ERR_IO.
 */
int tkm_net_connect(
    const char *host, const char *port, int64_t deadline, int *fd);

#endif
