/*
 * mprobe.c - the management port's status (mprobe.h): one frame out,
 * one frame in (4-byte big-endian length, then a JSON object).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "mprobe.h"
#include "tkm/net.h"

static int
io_all(int fd, void *p, size_t n, int writing, int64_t deadline)
{
	uint8_t *b = p;
	ssize_t k;
	int rc;

	while (n > 0) {
		if ((rc = tkm_net_wait(
			 fd, writing ? POLLOUT : POLLIN, deadline)) != TKM_OK)
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
	int64_t deadline = tkm_mono_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
	uint8_t hdr[4];
	uint32_t n;
	char *ans = NULL, svc[8];
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	if (!loopback(host) || port == 0 || port > 65535)
		return TKM_ERR_INPUT;
	snprintf(svc, sizeof(svc), "%u", port);
	if ((rc = tkm_net_connect(host, svc, deadline, &fd)) != TKM_OK)
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
