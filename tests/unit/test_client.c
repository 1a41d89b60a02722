/*
 * test_client.c - the host-command client and pool (client.c) against a
 * scripted server thread on 127.0.0.1: framing and header counter, the
 * echoed-header check, timeouts, the one reconnect, buffer limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "tkm/client.h"

enum mode {
	ECHO,        /* header + "ND00" + the request's fields */
	BAD_HEADER,  /* answers with another header */
	SILENT,      /* reads, never answers */
	ONE_PER_CONN /* answers one request, then closes the connection */
};

struct server {
	int lfd;
	unsigned port;
	enum mode mode;
	size_t hdrlen;
	pthread_t thread;
	atomic_uint accepted;
	char last_hdr[33]; /* header of the last request */
};

static int
read_n(int fd, uint8_t *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		if ((k = read(fd, p, n)) <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Serve one connection until the peer closes. */
static void
serve(struct server *s, int fd)
{
	uint8_t in[70000], out[70100];
	size_t len, olen;

	while (read_n(fd, in, 2) == 0) {
		len = (size_t)in[0] << 8 | in[1];
		if (read_n(fd, in, len) != 0 || len < s->hdrlen + 2)
			break;
		memcpy(s->last_hdr, in, s->hdrlen);
		s->last_hdr[s->hdrlen] = '\0';
		if (s->mode == SILENT)
			continue;
		memcpy(out + 2, in, s->hdrlen);
		if (s->mode == BAD_HEADER)
			out[2] ^= 1;
		memcpy(out + 2 + s->hdrlen, "ND00", 4);
		memcpy(out + 6 + s->hdrlen, in + s->hdrlen + 2,
		    len - s->hdrlen - 2);
		olen = len + 2;
		out[0] = (uint8_t)(olen >> 8);
		out[1] = (uint8_t)olen;
		if (write(fd, out, olen + 2) != (ssize_t)(olen + 2) ||
		    s->mode == ONE_PER_CONN)
			break;
	}
	close(fd);
}

static void *
server_main(void *arg)
{
	struct server *s = arg;
	int fd;

	while ((fd = accept(s->lfd, NULL, NULL)) >= 0) {
		s->accepted++;
		serve(s, fd);
	}
	return NULL;
}

static void
server_start(struct server *s, enum mode mode, size_t hdrlen)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	memset(s, 0, sizeof(*s));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	s->mode = mode;
	s->hdrlen = hdrlen;
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void
server_stop(struct server *s)
{
	/* Wakes accept() in the thread. */
	shutdown(s->lfd, SHUT_RDWR);
	close(s->lfd);
	pthread_join(s->thread, NULL);
}

#define CALL(c, s, resp, rlen)                                                 \
	tkm_client_call(                                                       \
	    c, (const uint8_t *)(s), strlen(s), resp, sizeof(resp), &(rlen))

static void
test_call_and_counter(void **state)
{
	struct tkm_client *c;
	struct server s;
	uint8_t resp[64];
	size_t rlen;

	(void)state;
	server_start(&s, ECHO, 8);
	assert_int_equal(
	    tkm_client_new("127.0.0.1", s.port, 8, 2000, &c), TKM_OK);
	assert_int_equal(CALL(c, "NCxyz", resp, rlen), TKM_OK);
	assert_int_equal(rlen, 7);
	assert_memory_equal(resp, "ND00xyz", 7);
	assert_string_equal(s.last_hdr, "00000000");
	assert_int_equal(CALL(c, "NC", resp, rlen), TKM_OK);
	assert_int_equal(rlen, 4);
	assert_string_equal(s.last_hdr, "00000001");
	/* A fixed header. */
	assert_int_equal(
	    tkm_client_call_hdr(c, (const uint8_t *)"ABCDEFGH",
		(const uint8_t *)"NC", 2, resp, sizeof(resp), &rlen),
	    TKM_OK);
	assert_string_equal(s.last_hdr, "ABCDEFGH");
	/* Answers longer than the buffer. */
	assert_int_equal(CALL(c,
			     "NC0123456789012345678901234567890123456789"
			     "0123456789012345678901234567890123456789",
			     resp, rlen),
	    TKM_ERR_SPACE);
	assert_int_equal(rlen, 0);
	/* ... and the next call works, on a new connection. */
	assert_int_equal(CALL(c, "NC", resp, rlen), TKM_OK);
	assert_int_equal(s.accepted, 2);
	tkm_client_free(c);
	server_stop(&s);
}

static void
test_header_len_4_and_0(void **state)
{
	struct tkm_client *c;
	struct server s;
	uint8_t resp[64];
	size_t rlen;

	(void)state;
	server_start(&s, ECHO, 4);
	assert_int_equal(
	    tkm_client_new("localhost", s.port, 4, 2000, &c), TKM_OK);
	assert_int_equal(CALL(c, "NC", resp, rlen), TKM_OK);
	assert_memory_equal(resp, "ND00", 4);
	tkm_client_free(c);
	server_stop(&s);

	server_start(&s, ECHO, 0);
	assert_int_equal(
	    tkm_client_new("127.0.0.1", s.port, 0, 2000, &c), TKM_OK);
	assert_int_equal(CALL(c, "NC", resp, rlen), TKM_OK);
	assert_memory_equal(resp, "ND00", 4);
	tkm_client_free(c);
	server_stop(&s);
}

static void
test_bad_header(void **state)
{
	struct tkm_client *c;
	struct server s;
	uint8_t resp[64];
	size_t rlen;

	(void)state;
	server_start(&s, BAD_HEADER, 8);
	assert_int_equal(
	    tkm_client_new("127.0.0.1", s.port, 8, 2000, &c), TKM_OK);
	assert_int_equal(CALL(c, "NC", resp, rlen), TKM_ERR_INPUT);
	tkm_client_free(c);
	server_stop(&s);
}

static void
test_timeout(void **state)
{
	struct tkm_client *c;
	struct server s;
	uint8_t resp[64];
	size_t rlen;

	(void)state;
	server_start(&s, SILENT, 8);
	assert_int_equal(
	    tkm_client_new("127.0.0.1", s.port, 8, 200, &c), TKM_OK);
	assert_int_equal(CALL(c, "NC", resp, rlen), TKM_ERR_TIMEOUT);
	tkm_client_free(c);
	server_stop(&s);
}

static void
test_reconnect_once(void **state)
{
	struct tkm_client *c;
	struct server s;
	uint8_t resp[64];
	size_t rlen;
	int i;

	(void)state;
	/* The server closes after each answer, as an idle timeout would:
	 * every call after the first finds its kept connection closed. */
	server_start(&s, ONE_PER_CONN, 8);
	assert_int_equal(
	    tkm_client_new("127.0.0.1", s.port, 8, 2000, &c), TKM_OK);
	for (i = 0; i < 5; i++) {
		usleep(20000); /* let the close arrive */
		assert_int_equal(CALL(c, "NC", resp, rlen), TKM_OK);
	}
	assert_int_equal(s.accepted, 5);
	tkm_client_free(c);
	server_stop(&s);
}

static void
test_refused_and_bad_args(void **state)
{
	struct tkm_client *c;
	struct server s;
	uint8_t resp[16];
	size_t rlen;
	unsigned port;

	(void)state;
	server_start(&s, ECHO, 8);
	port = s.port;
	server_stop(&s);
	assert_int_equal(tkm_client_new("127.0.0.1", port, 8, 500, &c), TKM_OK);
	assert_int_not_equal(CALL(c, "NC", resp, rlen), TKM_OK);
	tkm_client_free(c);
	tkm_client_free(NULL);

	assert_int_equal(
	    tkm_client_new("127.0.0.1", 0, 8, 500, &c), TKM_ERR_INPUT);
	assert_null(c);
	assert_int_equal(
	    tkm_client_new("127.0.0.1", 1, 33, 500, &c), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_client_new("127.0.0.1", 1, 8, 0, &c), TKM_ERR_INPUT);
}

static void
test_pool(void **state)
{
	struct tkm_client *a, *b, *x;
	struct tkm_pool *p;
	struct server s;
	uint8_t resp[16];
	size_t rlen;

	(void)state;
	server_start(&s, ECHO, 8);
	assert_int_equal(
	    tkm_pool_new(2, "127.0.0.1", s.port, 8, 100, &p), TKM_OK);
	assert_int_equal(tkm_pool_get(p, &a), TKM_OK);
	assert_int_equal(tkm_pool_get(p, &b), TKM_OK);
	assert_ptr_not_equal(a, b);
	assert_int_equal(tkm_pool_get(p, &x), TKM_ERR_TIMEOUT);
	assert_null(x);
	assert_int_equal(CALL(a, "NC", resp, rlen), TKM_OK);
	tkm_pool_put(p, a);
	assert_int_equal(tkm_pool_get(p, &x), TKM_OK);
	assert_ptr_equal(x, a);
	tkm_pool_put(p, x);
	tkm_pool_put(p, b);
	tkm_pool_free(p);
	tkm_pool_free(NULL);
	assert_int_equal(
	    tkm_pool_new(0, "127.0.0.1", 1, 8, 100, &p), TKM_ERR_INPUT);
	server_stop(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_and_counter),
	    cmocka_unit_test(test_header_len_4_and_0),
	    cmocka_unit_test(test_bad_header),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_reconnect_once),
	    cmocka_unit_test(test_refused_and_bad_args),
	    cmocka_unit_test(test_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
