/*
 * test_config.c - the tkms-hsmd configuration file (config.c, format in
 * docs/hsmd.md): defaults, every keyword and option, every refusal with
 * its line number, and the command and IP whitelists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "config.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Load text as a config file over the defaults. */
static int
load_text(
    const char *text, struct hsm_config *cfg, unsigned *line, const char **why)
{
	char path[] = "/tmp/tkms-config-XXXXXX";
	size_t n = strlen(text);
	int fd, rc;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	hsm_config_defaults(cfg);
	rc = hsm_config_load(path, cfg, line, why);
	unlink(path);
	return rc;
}

static void
test_defaults(void **state)
{
	struct hsm_config cfg;

	(void)state;
	hsm_config_defaults(&cfg);
	assert_int_equal(cfg.nlisteners, 1);
	assert_string_equal(cfg.listeners[0].addr, "127.0.0.1");
	assert_int_equal(cfg.listeners[0].port, 1500);
	assert_int_equal(cfg.listeners[0].hdrlen, 8);
	assert_int_equal(cfg.listeners[0].max_frame, 32768);
	assert_int_equal(cfg.listeners[0].ncmds, 0);
	assert_int_equal(cfg.listeners[0].nnets, 0);
	assert_int_equal(cfg.workers, 0);
	assert_int_equal(cfg.idle_timeout, 300);
	assert_int_equal(cfg.frame_timeout, 10);
	assert_int_equal(cfg.max_conns, 1024);
}

static void
test_full_file(void **state)
{
	static const char text[] =
	    "# tkms-hsmd\n"
	    "\n"
	    "workers 2\n"
	    "idle-timeout 0   # never\n"
	    "frame-timeout 86400\n"
	    "max-conns\t77\r\n"
	    "listen 127.0.0.1:1500 header=8 max-frame=32768 "
	    "commands=NC,TE,UB ip=10.0.0.0/8,127.0.0.1\n"
	    "  listen [::1]:0 header=4 ip=fe80::/10,::1\n"
	    "listen 0.0.0.0:65535 header=0 max-frame=64"; /* no newline */
	struct hsm_config cfg;
	const struct hsm_listener_cfg *l;
	const char *why;
	unsigned line;

	(void)state;
	assert_int_equal(load_text(text, &cfg, &line, &why), TKM_OK);
	assert_int_equal(line, 0);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.idle_timeout, 0);
	assert_int_equal(cfg.frame_timeout, 86400);
	assert_int_equal(cfg.max_conns, 77);
	assert_int_equal(cfg.nlisteners, 3);

	l = &cfg.listeners[0];
	assert_string_equal(l->addr, "127.0.0.1");
	assert_int_equal(l->port, 1500);
	assert_int_equal(l->ncmds, 3);
	assert_string_equal(l->cmds[0], "NC");
	assert_string_equal(l->cmds[2], "UB");
	assert_int_equal(l->nnets, 2);
	assert_int_equal(l->nets[0].family, AF_INET);
	assert_int_equal(l->nets[0].prefix, 8);
	assert_int_equal(l->nets[1].prefix, 32);

	l = &cfg.listeners[1];
	assert_string_equal(l->addr, "::1");
	assert_int_equal(l->port, 0);
	assert_int_equal(l->hdrlen, 4);
	assert_int_equal(l->max_frame, 32768); /* default kept */
	assert_int_equal(l->nnets, 2);
	assert_int_equal(l->nets[0].family, AF_INET6);
	assert_int_equal(l->nets[0].prefix, 10);
	assert_int_equal(l->nets[1].prefix, 128);

	l = &cfg.listeners[2];
	assert_string_equal(l->addr, "0.0.0.0");
	assert_int_equal(l->port, 65535);
	assert_int_equal(l->hdrlen, 0);
	assert_int_equal(l->max_frame, 64);
}

static void
test_empty_file_keeps_defaults(void **state)
{
	struct hsm_config cfg;
	const char *why;
	unsigned line;

	(void)state;
	assert_int_equal(load_text("# nothing\n\n", &cfg, &line, &why), TKM_OK);
	assert_int_equal(cfg.nlisteners, 1);
	assert_int_equal(cfg.listeners[0].port, 1500);
}

/* 0 turns the frame deadline off (server.c); the last line wins. */
static void
test_frame_timeout_off(void **state)
{
	struct hsm_config cfg;
	const char *why;
	unsigned line;

	(void)state;
	assert_int_equal(
	    load_text("frame-timeout 3\nframe-timeout 0\n", &cfg, &line, &why),
	    TKM_OK);
	assert_int_equal(cfg.frame_timeout, 0);
	assert_int_equal(cfg.idle_timeout, 300); /* independent */
}

static void
test_missing_file(void **state)
{
	struct hsm_config cfg;
	const char *why;
	unsigned line;

	(void)state;
	hsm_config_defaults(&cfg);
	assert_int_equal(
	    hsm_config_load("/nonexistent/tkms/hsmd.conf", &cfg, &line, &why),
	    TKM_ERR_IO);
	assert_int_equal(line, 0);
	assert_non_null(why);
}

/* Each text fails at line, with a reason containing why. */
static const struct bad {
	const char *text;
	unsigned line;
	const char *why;
} bad[] = {
    {"frobnicate 1\n", 1, "unknown keyword"},
    {"workers\n", 1, "workers must be"},
    {"workers 257\n", 1, "workers must be"},
    {"workers -1\n", 1, "workers must be"},
    {"workers 2 3\n", 1, "unexpected word"},
    {"workers 1x\n", 1, "workers must be"},
    {"workers 99999999999\n", 1, "workers must be"},
    {"\n\nidle-timeout 86401\n", 3, "idle-timeout"},
    {"max-conns 0\n", 1, "max-conns"},
    {"frame-timeout 86401\n", 1, "frame-timeout must be"},
    {"frame-timeout\n", 1, "frame-timeout must be"},
    {"frame-timeout 1.5\n", 1, "frame-timeout must be"},
    {"frame-timeout 5 s\n", 1, "unexpected word"},
    {"listen\n", 1, "ADDR:PORT"},
    {"listen 127.0.0.1\n", 1, "ADDR:PORT"},
    {"listen 127.0.0.1:\n", 1, "port"},
    {"listen 127.0.0.1:65536\n", 1, "port"},
    {"listen localhost:1500\n", 1, "numeric"},
    {"listen 1.2.3:1500\n", 1, "numeric"},
    {"listen ::1:1500\n", 1, "numeric"},
    {"listen [::1:1500\n", 1, "ADDR:PORT"},
    {"listen [::1]1500\n", 1, "ADDR:PORT"},
    {"listen [1.2.3.4]:1500\n", 1, "numeric"},
    {"listen 127.0.0.1:1500 header\n", 1, "NAME=VALUE"},
    {"listen 127.0.0.1:1500 colour=red\n", 1, "unknown listen option"},
    {"listen 127.0.0.1:1500 header=31\n", 1, "header must be"},
    {"listen 127.0.0.1:1500 header=\n", 1, "header must be"},
    {"listen 127.0.0.1:1500 header=4 header=8\n", 1, "twice"},
    {"listen 127.0.0.1:1500 max-frame=63\n", 1, "max-frame"},
    {"listen 127.0.0.1:1500 max-frame=65536\n", 1, "max-frame"},
    {"listen 127.0.0.1:1500 commands=\n", 1, "empty commands"},
    {"listen 127.0.0.1:1500 commands=NC,T\n", 1, "two characters"},
    {"listen 127.0.0.1:1500 commands=NC,,TE\n", 1, "two characters"},
    {"listen 127.0.0.1:1500 commands=NCTE\n", 1, "two characters"},
    {"listen 127.0.0.1:1500 commands=NC,XX\n", 1, "no such command"},
    {"listen 127.0.0.1:1500 ip=\n", 1, "empty ip"},
    {"listen 127.0.0.1:1500 ip=10.0.0.0/33\n", 1, "ip="},
    {"listen 127.0.0.1:1500 ip=::/129\n", 1, "ip="},
    {"listen 127.0.0.1:1500 ip=10.0.0.0/\n", 1, "ip="},
    {"listen 127.0.0.1:1500 ip=10.0.0.0/8x\n", 1, "ip="},
    {"listen 127.0.0.1:1500 ip=example.org\n", 1, "ip="},
    {"listen 127.0.0.1:1500 ip=[::1]\n", 1, "ip="},
    {"workers 1\nworkers 2 # ok\nworkers x\n", 3, "workers"},
    {"listen 127.0.0.1:1\nlisten 127.0.0.1:2\nlisten 127.0.0.1:3\n"
     "listen 127.0.0.1:4\nlisten 127.0.0.1:5\nlisten 127.0.0.1:6\n"
     "listen 127.0.0.1:7\nlisten 127.0.0.1:8\nlisten 127.0.0.1:9\n",
	9, "too many listen"},
};

static void
test_bad_lines(void **state)
{
	struct hsm_config cfg;
	const char *why;
	unsigned line;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		why = NULL;
		if (load_text(bad[i].text, &cfg, &line, &why) != TKM_ERR_INPUT)
			fail_msg("accepted: %s", bad[i].text);
		if (line != bad[i].line || why == NULL ||
		    strstr(why, bad[i].why) == NULL)
			fail_msg("%s: line %u: %s", bad[i].text, line,
			    why != NULL ? why : "(null)");
	}
}

static void
test_nul_byte(void **state)
{
	static const char text[] = "workers 2\0 3\n";
	char path[] = "/tmp/tkms-config-XXXXXX";
	struct hsm_config cfg;
	const char *why;
	unsigned line;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	hsm_config_defaults(&cfg);
	assert_int_equal(
	    hsm_config_load(path, &cfg, &line, &why), TKM_ERR_INPUT);
	unlink(path);
	assert_int_equal(line, 1);
	assert_non_null(strstr(why, "NUL"));
}

static void
test_allows_cmd(void **state)
{
	struct hsm_listener_cfg l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_true(hsm_listener_allows_cmd(&l, "UB")); /* no list: all */
	memcpy(l.cmds[0], "NC", 3);
	memcpy(l.cmds[1], "UB", 3);
	l.ncmds = 2;
	assert_true(hsm_listener_allows_cmd(&l, "NC"));
	assert_true(hsm_listener_allows_cmd(&l, "UB"));
	assert_false(hsm_listener_allows_cmd(&l, "TE"));
	assert_false(hsm_listener_allows_cmd(&l, "nc"));
}

static struct sockaddr_storage
sa_of(const char *addr)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
	}
	return ss;
}

static const struct addr_case {
	const char *addr;
	int allowed;
} addr_cases[] = {
    {"10.0.0.0", 1},
    {"10.255.255.255", 1},
    {"11.0.0.0", 0},
    {"9.255.255.255", 0},
    {"192.168.1.1", 1},
    {"192.168.1.2", 0},
    {"172.16.0.1", 1}, /* 172.16.0.0/12 */
    {"172.31.255.255", 1},
    {"172.32.0.0", 0},
    {"::ffff:10.1.2.3", 1}, /* IPv4-mapped: matched as IPv4 */
    {"::ffff:11.1.2.3", 0},
    {"2001:db8::1", 1}, /* 2001:db8::/32 */
    {"2001:db8:ffff::1", 1},
    {"2001:db9::1", 0},
    {"::1", 1},
    {"::2", 0},
    {"fe80::1", 0},
};

static void
test_allows_addr(void **state)
{
	static const char text[] =
	    "listen 127.0.0.1:0 ip=10.0.0.0/8,192.168.1.1,172.16.0.0/12,"
	    "2001:db8::/32,::1\n";
	struct hsm_config cfg;
	struct sockaddr_storage ss;
	const char *why;
	unsigned line;
	size_t i;

	(void)state;
	assert_int_equal(load_text(text, &cfg, &line, &why), TKM_OK);
	for (i = 0; i < NELEM(addr_cases); i++) {
		ss = sa_of(addr_cases[i].addr);
		if (hsm_listener_allows_addr(&cfg.listeners[0],
			(struct sockaddr *)&ss) != addr_cases[i].allowed)
			fail_msg("%s", addr_cases[i].addr);
	}
	/* No list: everyone; prefix 0: everyone of that family. */
	hsm_config_defaults(&cfg);
	ss = sa_of("203.0.113.9");
	assert_true(hsm_listener_allows_addr(
	    &cfg.listeners[0], (struct sockaddr *)&ss));
	assert_int_equal(
	    load_text("listen 127.0.0.1:0 ip=0.0.0.0/0\n", &cfg, &line, &why),
	    TKM_OK);
	assert_true(hsm_listener_allows_addr(
	    &cfg.listeners[0], (struct sockaddr *)&ss));
	ss = sa_of("2001:db8::1");
	assert_false(hsm_listener_allows_addr(
	    &cfg.listeners[0], (struct sockaddr *)&ss));
	ss.ss_family = AF_UNIX;
	assert_false(hsm_listener_allows_addr(
	    &cfg.listeners[0], (struct sockaddr *)&ss));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_empty_file_keeps_defaults),
	    cmocka_unit_test(test_frame_timeout_off),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_bad_lines),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_allows_cmd),
	    cmocka_unit_test(test_allows_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
