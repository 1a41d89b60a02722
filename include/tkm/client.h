/*
 * client.h - a host-command client (protocol.md §1) and a small pool of
 * them, for the KMS, the command line and tests.
 *
 * A client owns one TCP connection, made on the first call and again when
 * it broke. Calls are synchronous; every one is bounded by the client's
 * timeout. A struct tkm_client is not thread-safe: give each thread its
 * own, or take one from a pool.
 */
#ifndef TKM_CLIENT_H
#define TKM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct tkm_client;

/*
 * host is a name or numeric address, port 1..65535, hdrlen the server's
 * header length h (0..TKM_WIRE_MAX_HDR), timeout_ms > 0 the limit for
 * connecting and for each call. Does not connect yet.
 */
int tkm_client_new(const char *host, unsigned port, size_t hdrlen,
    int timeout_ms, struct tkm_client **out) TKM_MUST_CHECK;
/* Close and free; NULL is a no-op. */
void tkm_client_free(struct tkm_client *c);

/*
 * Send one request and read its answer. cmd is the command code and its
 * fields (everything after the header); the client puts the header in
 * front: hdr (hdrlen bytes) when not NULL, else a counter of hdrlen
 * decimal digits that goes up by one per call. The answer's header MUST
 * echo the request's (TKM_ERR_INPUT, and the connection is dropped,
 * otherwise). resp receives the answer after its header: response code,
 * ERR, fields and any trailer; *rlen its length. TKM_ERR_SPACE if it does
 * not fit cap. TKM_ERR_TIMEOUT, TKM_ERR_CLOSED or TKM_ERR_IO when the
 * exchange fails; the connection is dropped then, and the next call makes
 * a new one.
 *
 * A request is sent a second time, on a new connection, only when a
 * reused connection turns out to be closed before any byte of the answer
 * came back (a server's idle timeout races with the request).
 */
int tkm_client_call_hdr(struct tkm_client *c, const uint8_t *hdr,
    const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap,
    size_t *rlen) TKM_MUST_CHECK;
int tkm_client_call(struct tkm_client *c, const uint8_t *cmd, size_t len,
    uint8_t *resp, size_t cap, size_t *rlen) TKM_MUST_CHECK;

/*
 * A fixed set of n clients to one server, shared by threads: get waits up
 * to the clients' timeout for a free one (TKM_ERR_TIMEOUT), put returns
 * it. Free only when every client is back.
 */
struct tkm_pool;

int tkm_pool_new(size_t n, const char *host, unsigned port, size_t hdrlen,
    int timeout_ms, struct tkm_pool **out) TKM_MUST_CHECK;
void tkm_pool_free(struct tkm_pool *p);
int tkm_pool_get(struct tkm_pool *p, struct tkm_client **out) TKM_MUST_CHECK;
void tkm_pool_put(struct tkm_pool *p, struct tkm_client *c);

#endif
