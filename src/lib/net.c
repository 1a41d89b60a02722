/*
 * net.c - monotonic clock, connect and wait against a deadline (net.h).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tkm/err.h"
#include "tkm/net.h"

int64_t
tkm_mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int
tkm_net_wait(int fd, short events, int64_t deadline)
{
	struct pollfd p = {fd, events, 0};
	int64_t left;
	int n;

	for (;;) {
		left = deadline - tkm_mono_ms();
		if (left <= 0)
			return TKM_ERR_TIMEOUT;
		n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (n > 0)
			return TKM_OK;
		if (n < 0 && errno != EINTR)
			return TKM_ERR_IO;
	}
}

static int
connect_one(const struct addrinfo *ai, int64_t deadline, int *out)
{
	int fd, err = 0, one = 1, rc = TKM_ERR_IO;
	socklen_t len = sizeof(err);

	fd = socket(ai->ai_family,
	    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return TKM_ERR_IO;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS)
			goto fail;
		if ((rc = tkm_net_wait(fd, POLLOUT, deadline)) != TKM_OK)
			goto fail;
		rc = TKM_ERR_IO;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0)
			goto fail;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return TKM_OK;
fail:
	close(fd);
	return rc;
}

int
tkm_net_connect(const char *host, const char *port, int64_t deadline, int *fd)
{
	struct addrinfo hints, *res = NULL, *ai;
	int rc = TKM_ERR_IO;

	*fd = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return TKM_ERR_IO;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		rc = connect_one(ai, deadline, fd);
		if (rc == TKM_OK || rc == TKM_ERR_TIMEOUT)
			break;
	}
	freeaddrinfo(res);
	return rc;
}
