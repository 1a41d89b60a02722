/*
 * test_net - the monotonic clock and TCP connect and wait against a
 * deadline (include/tkm/net.h), on loopback sockets of the test's own.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tkm/err.h"
#include "tkm/net.h"

/* A listening loopback socket; its port as digits in port. */
static int
listener(char port[8])
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(port, 8, "%u", ntohs(a.sin_port));
	return fd;
}

static void
t_clock(void **state)
{
	int64_t a = tkm_mono_ms(), b;

	(void)state;
	usleep(20000);
	b = tkm_mono_ms();
	assert_true(a > 0);
	assert_true(b - a >= 20);
}

/* Connected: non-blocking, close-on-exec, no Nagle; a wait for data
 * times out until the peer writes. */
static void
t_connect_wait(void **state)
{
	char port[8];
	int l = listener(port), fd = -1, p, one = 0;
	socklen_t len = sizeof(one);

	(void)state;
	assert_int_equal(
	    tkm_net_connect("127.0.0.1", port, tkm_mono_ms() + 2000, &fd),
	    TKM_OK);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(
	    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len), 0);
	assert_int_not_equal(one, 0);
	assert_true((p = accept(l, NULL, NULL)) >= 0);
	assert_int_equal(
	    tkm_net_wait(fd, POLLIN, tkm_mono_ms() + 30), TKM_ERR_TIMEOUT);
	assert_int_equal(
	    tkm_net_wait(fd, POLLOUT, tkm_mono_ms() + 2000), TKM_OK);
	assert_int_equal(write(p, "x", 1), 1);
	assert_int_equal(
	    tkm_net_wait(fd, POLLIN, tkm_mono_ms() + 2000), TKM_OK);
	/* A deadline already past: no wait at all, even with data. */
	assert_int_equal(
	    tkm_net_wait(fd, POLLIN, tkm_mono_ms() - 1), TKM_ERR_TIMEOUT);
	close(p);
	close(fd);
	close(l);
}

/* Nobody listening; a port that is not digits. */
static void
t_connect_fails(void **state)
{
	char port[8];
	int l = listener(port), fd = 7;

	(void)state;
	close(l); /* the port is free again: connections are refused */
	assert_int_equal(
	    tkm_net_connect("127.0.0.1", port, tkm_mono_ms() + 2000, &fd),
	    TKM_ERR_IO);
	assert_int_equal(fd, -1);
	assert_int_equal(
	    tkm_net_connect("127.0.0.1", "http", tkm_mono_ms() + 2000, &fd),
	    TKM_ERR_IO);
	assert_int_equal(fd, -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_clock),
	    cmocka_unit_test(t_connect_wait),
	    cmocka_unit_test(t_connect_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
