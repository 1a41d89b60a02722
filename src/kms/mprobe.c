/*
 * mprobe.c - the management port's status (mprobe.h): one frame out,
 * one frame in (4-byte big-endian length, then a JSON object).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mprobe.h"

static int64_t
mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Wait for fd to be ready for events before the deadline. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {fd, events, 0};
	int64_t left;
	int n;

	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return TKM_ERR_TIMEOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return TKM_OK;
		if (n == 0)
			return TKM_ERR_TIMEOUT;
		if (errno != EINTR)
			return TKM_ERR_IO;
	}
}

static int
connect_to(const char *host, unsigned port, int64_t deadline, int *out)
{
	struct addrinfo hints = {0}, *res = NULL;
	char svc[8];
	int fd, rc, err = 0;
	socklen_t len = sizeof(err);

	*out = -1;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(svc, sizeof(svc), "%u", port);
	if (getaddrinfo(host, svc, &hints, &res) != 0)
		return TKM_ERR_IO;
	fd = socket(
	    res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return TKM_ERR_IO;
	}
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0 && errno != EINPROGRESS) {
		close(fd);
		return TKM_ERR_IO;
	}
	if (rc != 0 &&
	    ((rc = wait_fd(fd, POLLOUT, deadline)) != TKM_OK ||
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		err != 0)) {
		close(fd);
		return rc != TKM_OK ? rc : TKM_ERR_IO;
	}
	*out = fd;
	return TKM_OK;
}

static int
io_all(int fd, void *p, size_t n, int writing, int64_t deadline)
{
	uint8_t *b = p;
	ssize_t k;
	int rc;

	while (n > 0) {
		if ((rc = wait_fd(fd, writing ? POLLOUT : POLLIN, deadline)) !=
		    TKM_OK)
			return rc;
		k = writing ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);
		if (k == 0)
			return TKM_ERR_CLOSED;
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return TKM_ERR_IO;
		}
		b += k;
		n -= (size_t)k;
	}
	return TKM_OK;
}

/* A numeric loopback address (127.0.0.0/8, ::1): a name could resolve
 * anywhere. */
static int
loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* {"ok": true, "result": {"sealed": B, "authorised": B, ...}} */
static int
parse(const char *text, size_t len, struct kms_mstatus *out)
{
	json_t *a = json_loadb(text, len, 0, NULL), *res, *s, *au;
	int rc = TKM_ERR_INPUT;

	res = json_object_get(a, "result");
	s = json_object_get(res, "sealed");
	au = json_object_get(res, "authorised");
	if (json_is_true(json_object_get(a, "ok")) && json_is_boolean(s) &&
	    json_is_boolean(au)) {
		out->sealed = json_is_true(s);
		out->authorised = json_is_true(au);
		rc = TKM_OK;
	}
	json_decref(a);
	return rc;
}

int
kms_mprobe_status(
    const char *host, unsigned port, int timeout_ms, struct kms_mstatus *out)
{
	static const char req[] = "{\"op\":\"status\"}";
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
	uint8_t hdr[4];
	uint32_t n;
	char *ans = NULL;
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	if (!loopback(host) || port == 0 || port > 65535)
		return TKM_ERR_INPUT;
	if ((rc = connect_to(host, port, deadline, &fd)) != TKM_OK)
		return rc;
	n = htonl((uint32_t)(sizeof(req) - 1));
	memcpy(hdr, &n, 4);
	if ((rc = io_all(fd, hdr, 4, 1, deadline)) != TKM_OK ||
	    (rc = io_all(fd, (void *)req, sizeof(req) - 1, 1, deadline)) !=
		TKM_OK ||
	    (rc = io_all(fd, hdr, 4, 0, deadline)) != TKM_OK)
		goto out;
	memcpy(&n, hdr, 4);
	n = ntohl(n);
	rc = TKM_ERR_DATA_LEN;
	if (n == 0 || n > KMS_MPROBE_FRAME_MAX || (ans = malloc(n)) == NULL)
		goto out;
	if ((rc = io_all(fd, ans, n, 0, deadline)) == TKM_OK)
		rc = parse(ans, n, out);
out:
	free(ans);
	close(fd);
	return rc;
}
