/*
 * hsmtest.h - a test harness for tkms-hsmd without a network: a temporary
 * key-store directory, DK from the documented test components, one worker
 * and one listener (h = 8, header "12345678", no whitelists). Commands go
 * through hsm_dispatch() exactly as a connection's frames would.
 *
 * Header only (each tests/hsm/test_*.c is its own program); include it
 * after <cmocka.h>'s prerequisites or let it include them. Failures of the
 * harness itself fail the test through cmocka.
 */
#ifndef HSMTEST_H
#define HSMTEST_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "hsm.h"
#include "keys.h"
#include "tkm/buf.h"
#include "tkm/wire.h"

/* Test DK components (never for production; also the daemon's dev
 * bootstrap). DK = C1 xor C2 xor C3. */
#define HSMTEST_DK_C1 "0123456789ABCDEFFEDCBA9876543210"
#define HSMTEST_DK_C2 "11111111111111112222222222222222"
#define HSMTEST_DK_C3 "0F0E0D0C0B0A09080706050403020100"

#define HSMTEST_HDR "12345678"
#define HSMTEST_BUF (TKM_WIRE_LIMIT + 2)

struct hsmtest {
	char dir[64];
	struct hsm_config cfg;
	struct hsm_state st;
	struct hsm_worker w;
	uint8_t req[HSMTEST_BUF];
	uint8_t resp[HSMTEST_BUF + 1]; /* + NUL */
};

/* The test DK (for tests that need struct hsm_dk without a harness). */
static inline struct hsm_dk *
hsmtest_dk(void)
{
	static const char *const hex[HSM_DK_PARTS] = {
	    HSMTEST_DK_C1, HSMTEST_DK_C2, HSMTEST_DK_C3};
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN];
	struct hsm_dk *dk = NULL;
	size_t i, n;

	for (i = 0; i < HSM_DK_PARTS; i++) {
		assert_int_equal(tkm_hex_decode(hex[i], strlen(hex[i]), c[i],
				     HSM_DK_LEN, &n),
		    TKM_OK);
		assert_int_equal(n, HSM_DK_LEN);
	}
	assert_int_equal(hsm_dk_new(c, &dk), TKM_OK);
	return dk;
}

/* A fresh directory under /tmp; out MUST hold 64 bytes. */
static inline void
hsmtest_mkdtemp(char *out)
{
	snprintf(out, 64, "/tmp/hsmtest.XXXXXX");
	assert_non_null(mkdtemp(out));
}

/* Remove dir and the files in it (keys.db, -wal, -shm). */
static inline void
hsmtest_rmdir(const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/*
 * A test that fails inside cmocka jumps past its hsmtest_free(): remember
 * every harness directory and remove what is left at exit.
 */
#define HSMTEST_MAX_DIRS 64
static char hsmtest_dirs[HSMTEST_MAX_DIRS][64];

static inline void
hsmtest_rm_left(void)
{
	size_t i;

	for (i = 0; i < HSMTEST_MAX_DIRS; i++)
		if (hsmtest_dirs[i][0] != '\0')
			hsmtest_rmdir(hsmtest_dirs[i]);
}

static inline void
hsmtest_remember(const char *dir, int add)
{
	static int registered;
	size_t i;

	if (!registered && atexit(hsmtest_rm_left) == 0)
		registered = 1;
	for (i = 0; i < HSMTEST_MAX_DIRS; i++) {
		if (add && hsmtest_dirs[i][0] == '\0') {
			snprintf(hsmtest_dirs[i], 64, "%s", dir);
			return;
		}
		if (!add && strcmp(hsmtest_dirs[i], dir) == 0) {
			hsmtest_dirs[i][0] = '\0';
			return;
		}
	}
}

static inline struct hsmtest *
hsmtest_new(int authorised)
{
	struct hsm_listener_cfg *l;
	struct hsmtest *t;

	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	hsmtest_mkdtemp(t->dir);
	hsmtest_remember(t->dir, 1);
	/* Filled by hand (not hsm_config_defaults) so that the harness
	 * depends on nothing but the dispatcher and the key store. */
	l = &t->cfg.listeners[0];
	snprintf(l->addr, sizeof(l->addr), "127.0.0.1");
	l->hdrlen = 8;
	l->max_frame = TKM_WIRE_DEFAULT_MAX;
	t->cfg.nlisteners = 1;
	t->cfg.workers = 1;
	t->st.cfg = &t->cfg;
	t->st.dir = t->dir;
	atomic_store(&t->st.dk, hsmtest_dk());
	atomic_init(&t->st.authorised, authorised);
	assert_int_equal(hsm_worker_init(&t->w, &t->st), TKM_OK);
	return t;
}

static inline struct hsm_worker *
hsmtest_worker(struct hsmtest *t)
{
	return &t->w;
}

static inline const char *
hsmtest_dir(struct hsmtest *t)
{
	return t->dir;
}

/* A command context as the dispatcher builds it (no request). */
static inline struct hsm_cmd_ctx
hsmtest_ctx(struct hsmtest *t)
{
	struct hsm_cmd_ctx c = {&t->w, &t->cfg.listeners[0], NULL};
	return c;
}

/*
 * Send HDR || cmd through the dispatcher. Returns the response after the
 * header (response code, ERR, fields, any trailer), NUL-terminated, valid
 * until the next call; *rlen (if not NULL) is its length.
 */
static inline const char *
hsmtest_cmdn(struct hsmtest *t, const void *cmd, size_t len, size_t *rlen)
{
	const size_t h = sizeof(HSMTEST_HDR) - 1;
	struct tkm_wr out;
	size_t n;

	assert_true(len <= sizeof(t->req) - h);
	memcpy(t->req, HSMTEST_HDR, h);
	memcpy(t->req + h, cmd, len);
	tkm_wr_init(&out, t->resp, sizeof(t->resp) - 1);
	hsm_dispatch(&t->w, &t->cfg.listeners[0], t->req, h + len, &out);
	assert_int_equal(tkm_wr_error(&out), TKM_OK);
	/* LEN | HDR | ...: LEN must count the rest, the header be echoed. */
	assert_true(out.len >= 2 + h + 4);
	n = (size_t)t->resp[0] << 8 | t->resp[1];
	assert_int_equal(n, out.len - 2);
	assert_memory_equal(t->resp + 2, HSMTEST_HDR, h);
	t->resp[out.len] = '\0';
	if (rlen != NULL)
		*rlen = out.len - 2 - h;
	return (const char *)t->resp + 2 + h;
}

static inline const char *
hsmtest_cmd(struct hsmtest *t, const char *cmd, size_t *rlen)
{
	return hsmtest_cmdn(t, cmd, strlen(cmd), rlen);
}

static inline void
hsmtest_free(struct hsmtest *t)
{
	if (t == NULL)
		return;
	hsm_worker_cleanup(&t->w);
	hsm_dk_free(t->st.dk);
	hsmtest_rmdir(t->dir);
	hsmtest_remember(t->dir, 0);
	free(t);
}

/* --- text helpers for building requests ------------------------------- */

#define HSMTEST_STR 4096 /* each ring buffer; hex of up to 2047 bytes */

/* A ring of result buffers, so that several can be used in one
 * expression (a request built from a few hex fields). */
static inline char *
hsmtest_strbuf(void)
{
	static char bufs[16][HSMTEST_STR];
	static unsigned i;

	return bufs[i++ % 16];
}

/* n bytes as upper-case hex, in a ring buffer. */
static inline const char *
hsmtest_hex(const uint8_t *p, size_t n)
{
	char *s = hsmtest_strbuf();

	assert_true(2 * n < HSMTEST_STR);
	tkm_hex_encode(p, n, s);
	return s;
}

/* Hex text (must be valid) into out; its byte length. */
static inline size_t
hsmtest_unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n;

	assert_int_equal(tkm_hex_decode(s, strlen(s), out, cap, &n), TKM_OK);
	return n;
}

#endif
