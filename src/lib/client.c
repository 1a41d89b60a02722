/*
 * client.c - host-command client and pool (client.h).
 *
 * Plain POSIX sockets: a non-blocking descriptor and poll() against one
 * deadline per call, so that no step (resolve aside) can wait longer than
 * the timeout.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tkm/client.h"
#include "tkm/mem.h"
#include "tkm/net.h"
#include "tkm/wire.h"

#define FRAME_CAP (2 + TKM_WIRE_LIMIT)

struct tkm_client {
	char host[256];
	char port[8];
	size_t hdrlen;
	int timeout_ms;
	int fd;     /* -1 while not connected */
	int reused; /* fd has carried a whole exchange already */
	unsigned long counter;
	uint8_t *buf; /* FRAME_CAP bytes: the request, then the answer */
};

static void
drop(struct tkm_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->reused = 0;
}

static int
connect_to(struct tkm_client *c, int64_t deadline)
{
	c->reused = 0;
	return tkm_net_connect(c->host, c->port, deadline, &c->fd);
}

static int
send_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
	ssize_t k;
	int rc;

	while (n > 0) {
		k = send(fd, p, n, MSG_NOSIGNAL);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return TKM_ERR_CLOSED;
		if (errno != EAGAIN && errno != EINTR)
			return TKM_ERR_IO;
		if ((rc = tkm_net_wait(fd, POLLOUT, deadline)) != TKM_OK)
			return rc;
	}
	return TKM_OK;
}

/* Read exactly n bytes; *got counts what arrived (for the retry rule). */
static int
recv_all(int fd, uint8_t *p, size_t n, int64_t deadline, size_t *got)
{
	ssize_t k;
	int rc;

	while (n > 0) {
		k = recv(fd, p, n, 0);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			*got += (size_t)k;
			continue;
		}
		if (k == 0 || errno == ECONNRESET)
			return TKM_ERR_CLOSED;
		if (errno != EAGAIN && errno != EINTR)
			return TKM_ERR_IO;
		if ((rc = tkm_net_wait(fd, POLLIN, deadline)) != TKM_OK)
			return rc;
	}
	return TKM_OK;
}

/*
 * Send the frame in c->buf (flen bytes), read the answer into c->buf and
 * copy it, after the header, to resp.
 */
static int
exchange(struct tkm_client *c, size_t flen, uint8_t *resp, size_t cap,
    size_t *rlen, int64_t deadline, size_t *got)
{
	uint8_t hdr[TKM_WIRE_MAX_HDR];
	size_t alen;
	int rc;

	memcpy(hdr, c->buf + 2, c->hdrlen);
	if ((rc = send_all(c->fd, c->buf, flen, deadline)) != TKM_OK ||
	    (rc = recv_all(c->fd, c->buf, 2, deadline, got)) != TKM_OK)
		return rc;
	alen = (size_t)c->buf[0] << 8 | c->buf[1];
	if ((rc = recv_all(c->fd, c->buf, alen, deadline, got)) != TKM_OK)
		return rc;
	if (alen < c->hdrlen || memcmp(c->buf, hdr, c->hdrlen) != 0)
		return TKM_ERR_INPUT;
	if (alen - c->hdrlen > cap)
		return TKM_ERR_SPACE;
	if (alen > c->hdrlen)
		memcpy(resp, c->buf + c->hdrlen, alen - c->hdrlen);
	*rlen = alen - c->hdrlen;
	return TKM_OK;
}

/* LEN | header | cmd into c->buf. */
static int
build(struct tkm_client *c, const uint8_t *hdr, const uint8_t *cmd, size_t len,
    size_t *flen)
{
	unsigned long v = c->counter++;
	size_t i, n = c->hdrlen + len;

	if (len > TKM_WIRE_LIMIT || n > TKM_WIRE_LIMIT)
		return TKM_ERR_DATA_LEN;
	c->buf[0] = (uint8_t)(n >> 8);
	c->buf[1] = (uint8_t)n;
	for (i = c->hdrlen; i > 0; i--, v /= 10)
		c->buf[2 + i - 1] =
		    hdr != NULL ? hdr[i - 1] : (uint8_t)('0' + v % 10);
	if (len > 0)
		memcpy(c->buf + 2 + c->hdrlen, cmd, len);
	*flen = 2 + n;
	return TKM_OK;
}

int
tkm_client_call_hdr(struct tkm_client *c, const uint8_t *hdr,
    const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap, size_t *rlen)
{
	int64_t deadline = tkm_mono_ms() + c->timeout_ms;
	size_t flen, got;
	int attempt, reused, rc;

	*rlen = 0;
	if ((rc = build(c, hdr, cmd, len, &flen)) != TKM_OK)
		return rc;
	for (attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0 && (rc = connect_to(c, deadline)) != TKM_OK)
			break;
		got = 0;
		rc = exchange(c, flen, resp, cap, rlen, deadline, &got);
		if (rc == TKM_OK) {
			c->reused = 1;
			break;
		}
		reused = c->reused;
		drop(c);
		/* No byte of the answer came (got == 0), so c->buf still
		 * holds the request for the one retry. */
		if (rc != TKM_ERR_CLOSED || !reused || got > 0)
			break;
	}
	tkm_cleanse(c->buf, FRAME_CAP);
	return rc;
}

int
tkm_client_call(struct tkm_client *c, const uint8_t *cmd, size_t len,
    uint8_t *resp, size_t cap, size_t *rlen)
{
	return tkm_client_call_hdr(c, NULL, cmd, len, resp, cap, rlen);
}

int
tkm_client_new(const char *host, unsigned port, size_t hdrlen, int timeout_ms,
    struct tkm_client **out)
{
	struct tkm_client *c;

	*out = NULL;
	if (strlen(host) >= sizeof(c->host) || port < 1 || port > 65535 ||
	    hdrlen > TKM_WIRE_MAX_HDR || timeout_ms <= 0)
		return TKM_ERR_INPUT;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TKM_ERR_NOMEM;
	if ((c->buf = malloc(FRAME_CAP)) == NULL) {
		free(c);
		return TKM_ERR_NOMEM;
	}
	memcpy(c->host, host, strlen(host) + 1);
	snprintf(c->port, sizeof(c->port), "%u", port);
	c->hdrlen = hdrlen;
	c->timeout_ms = timeout_ms;
	c->fd = -1;
	*out = c;
	return TKM_OK;
}

void
tkm_client_free(struct tkm_client *c)
{
	if (c == NULL)
		return;
	drop(c);
	tkm_cleanse(c->buf, FRAME_CAP);
	free(c->buf);
	free(c);
}

/* --- pool --------------------------------------------------------------- */

struct tkm_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tkm_client **all;
	struct tkm_client **free; /* stack of nfree idle clients */
	size_t n, nfree;
	int timeout_ms;
};

int
tkm_pool_new(size_t n, const char *host, unsigned port, size_t hdrlen,
    int timeout_ms, struct tkm_pool **out)
{
	struct tkm_pool *p;
	pthread_condattr_t ca;
	int rc = TKM_ERR_NOMEM;

	*out = NULL;
	if (n == 0 || n > 4096)
		return TKM_ERR_INPUT;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return TKM_ERR_NOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	p->timeout_ms = timeout_ms;
	p->all = calloc(n, sizeof(*p->all));
	p->free = calloc(n, sizeof(*p->free));
	if (p->all == NULL || p->free == NULL)
		goto out;
	for (p->n = 0; p->n < n; p->n++) {
		rc = tkm_client_new(
		    host, port, hdrlen, timeout_ms, &p->all[p->n]);
		if (rc != TKM_OK)
			goto out;
		p->free[p->nfree++] = p->all[p->n];
	}
	*out = p;
	p = NULL;
	rc = TKM_OK;
out:
	tkm_pool_free(p);
	return rc;
}

void
tkm_pool_free(struct tkm_pool *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; p->all != NULL && i < p->n; i++)
		tkm_client_free(p->all[i]);
	free(p->all);
	free(p->free);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int
tkm_pool_get(struct tkm_pool *p, struct tkm_client **out)
{
	struct timespec until;
	int rc = TKM_OK;

	*out = NULL;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += p->timeout_ms / 1000;
	until.tv_nsec += (long)(p->timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->mu);
	while (p->nfree == 0 && rc == TKM_OK)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0)
			rc = TKM_ERR_TIMEOUT;
	/* A client may have come back just as the wait timed out. */
	if (p->nfree > 0) {
		*out = p->free[--p->nfree];
		rc = TKM_OK;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void
tkm_pool_put(struct tkm_pool *p, struct tkm_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->free[p->nfree++] = c;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}
