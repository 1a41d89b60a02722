/*
 * test_licence.c - the licence store (licence.h): every outcome of a use,
 * the expiry boundary, replace and its refusals, caches of other
 * connections, a quota under 16 connections, counters across reopen and
 * across SIGKILLs of a process using them.
 */
#include "hsmtest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include <time.h>

#include "licence.h"

#define T0 1700000000LL /* an HSM time */

struct fix {
	char dir[64];
	struct hsm_lic *l;
	uint64_t seq;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	hsmtest_mkdtemp(f->dir);
	hsmtest_remember(f->dir, 1);
	assert_int_equal(hsm_lic_open(f->dir, &f->l), TKM_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	hsm_lic_close(f->l);
	hsmtest_rmdir(f->dir);
	hsmtest_remember(f->dir, 0);
	free(f);
	return 0;
}

static void
reopen(struct fix *f)
{
	hsm_lic_close(f->l);
	f->l = NULL;
	assert_int_equal(hsm_lic_open(f->dir, &f->l), TKM_OK);
}

static struct hsm_licence
lic(int lib, unsigned index, const char *cmd, uint32_t remaining, int64_t until)
{
	struct hsm_licence x;

	memset(&x, 0, sizeof(x));
	x.lib = lib;
	x.index = index;
	snprintf(x.cmd, sizeof(x.cmd), "%s", cmd);
	x.remaining = remaining;
	x.until = until;
	return x;
}

static void
nonce_of(uint8_t nonce[16], uint64_t n)
{
	memset(nonce, 0xA5, 16);
	memcpy(nonce, &n, sizeof(n));
}

/* Request (a fresh nonce) then update with the next sequence. */
static void
apply(struct hsm_lic *l, uint64_t *seq, int enforce,
    const struct hsm_licence *x, size_t n)
{
	uint8_t nonce[16];

	*seq += 1;
	nonce_of(nonce, *seq);
	assert_int_equal(hsm_lic_set_nonce(l, nonce), TKM_OK);
	assert_int_equal(
	    hsm_lic_replace(l, nonce, *seq, enforce, x, n, T0), TKM_OK);
}

/* --- reading the licences back ------------------------------------------- */

#define MAXROWS 16

struct rows {
	size_t n;
	struct hsm_licence r[MAXROWS];
};

static int
collect(void *arg, const struct hsm_licence *x)
{
	struct rows *rows = arg;

	if (rows->n == MAXROWS)
		return TKM_ERR_SPACE;
	rows->r[rows->n++] = *x;
	return TKM_OK;
}

static struct rows
list(struct hsm_lic *l)
{
	struct rows rows;

	memset(&rows, 0, sizeof(rows));
	assert_int_equal(hsm_lic_list(l, collect, &rows), TKM_OK);
	return rows;
}

/* remaining and used of one licence; fails the test if it is absent. */
static void
counts(struct hsm_lic *l, int lib, unsigned index, const char *cmd,
    uint32_t *remaining, uint32_t *used)
{
	struct rows rows = list(l);
	size_t i;

	for (i = 0; i < rows.n; i++) {
		if (rows.r[i].lib == lib && rows.r[i].index == index &&
		    strcmp(rows.r[i].cmd, cmd) == 0) {
			*remaining = rows.r[i].remaining;
			*used = rows.r[i].used;
			return;
		}
	}
	fail_msg("no licence %d/%u/%s", lib, index, cmd);
}

static uint32_t
remaining(struct hsm_lic *l, int lib, unsigned index, const char *cmd)
{
	uint32_t r, u;

	counts(l, lib, index, cmd, &r, &u);
	return r;
}

/* --- outcomes --------------------------------------------------------------
 */

static void
test_fresh_store(void **state)
{
	struct fix *f = *state;
	struct hsm_lic_state st;
	static const uint8_t zero[16];

	assert_int_equal(hsm_lic_state_get(f->l, &st), TKM_OK);
	assert_int_equal(st.enforce, 0);
	assert_int_equal(st.last_seq, 0);
	assert_int_equal(st.last_applied, 0);
	assert_memory_equal(st.nonce, zero, 16);
	assert_int_equal(list(f->l).n, 0);
	/* No licences at all: nothing to count, for any command. */
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 1, T0), TKM_OK);
	assert_int_equal(hsm_lic_use(f->l, "EH", HSM_LIB_SM2, 20, T0), TKM_OK);
	assert_int_equal(
	    hsm_lic_use(f->l, "U", HSM_LIB_DES, 1, T0), TKM_ERR_INPUT);
	assert_int_equal(
	    hsm_lic_use(f->l, "UBX", HSM_LIB_DES, 1, T0), TKM_ERR_INPUT);
}

static void
test_outcomes(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_SM4, 1, "UB", 2, T0 + 1000),
	    lic(HSM_LIB_SM4, 1, "U1", 0, T0 + 1000),
	    lic(HSM_LIB_SM4, 2, "UB", 5, T0 + 500),
	    lic(HSM_LIB_SM2, 3, "EH", 1, T0 + 500),
	};
	uint32_t r, u;

	apply(f->l, &f->seq, 0, x, 4);
	/* Counted while the count lasts, then exhausted. */
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 1, T0), TKM_OK);
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 1, T0 + 10), TKM_OK);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 1, T0 + 20),
	    TKM_ERR_LIC_EXHAUSTED);
	counts(f->l, HSM_LIB_SM4, 1, "UB", &r, &u);
	assert_int_equal(r, 0);
	assert_int_equal(u, 2);
	/* A licence of zero uses. */
	assert_int_equal(
	    hsm_lic_use(f->l, "U1", HSM_LIB_SM4, 1, T0), TKM_ERR_LIC_EXHAUSTED);
	/* Listed for other commands only, enforcement off: not counted. */
	assert_int_equal(hsm_lic_use(f->l, "U3", HSM_LIB_SM4, 1, T0), TKM_OK);
	/* Another library, another key. */
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 1, T0), TKM_OK);
	/* Expired: refused and not counted. */
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 2, T0 + 501),
	    TKM_ERR_LIC_EXPIRED);
	counts(f->l, HSM_LIB_SM4, 2, "UB", &r, &u);
	assert_int_equal(r, 5);
	assert_int_equal(u, 0);
	/* Asymmetric keys. */
	assert_int_equal(hsm_lic_use(f->l, "EH", HSM_LIB_SM2, 3, T0), TKM_OK);
	assert_int_equal(
	    hsm_lic_use(f->l, "EH", HSM_LIB_SM2, 3, T0), TKM_ERR_LIC_EXHAUSTED);
	assert_int_equal(hsm_lic_use(f->l, "EH", HSM_LIB_RSA, 3, T0), TKM_OK);
}

static void
test_enforce(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_SM4, 1, "UB", 3, T0 + 1000),
	    lic(HSM_LIB_DES, 0x10, "U3", 3, T0 + 1000),
	};
	struct hsm_lic_state st;

	apply(f->l, &f->seq, 1, x, 2);
	assert_int_equal(hsm_lic_state_get(f->l, &st), TKM_OK);
	assert_int_equal(st.enforce, 1);
	/* Listed, but not for this command: refused. */
	assert_int_equal(
	    hsm_lic_use(f->l, "U1", HSM_LIB_SM4, 1, T0), TKM_ERR_LIC_EXHAUSTED);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0x10, T0),
	    TKM_ERR_LIC_EXHAUSTED);
	/* Not listed at all: enforcement is about listed keys. */
	assert_int_equal(hsm_lic_use(f->l, "U1", HSM_LIB_SM4, 2, T0), TKM_OK);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 1, T0), TKM_OK);
	assert_int_equal(remaining(f->l, HSM_LIB_SM4, 1, "UB"), 2);
	/* The refusals counted nothing. */
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 0x10, "U3"), 3);
	/* Enforcement off again (only an update turns it). */
	apply(f->l, &f->seq, 0, x, 2);
	assert_int_equal(hsm_lic_use(f->l, "U1", HSM_LIB_SM4, 1, T0), TKM_OK);
}

/* Valid while now <= until; expired wins over exhausted. */
static void
test_expiry_boundary(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 0xFFF, "UB", 10, T0),
	    lic(HSM_LIB_DES, 0xFFE, "UB", 0, T0),
	    lic(HSM_LIB_DES, 0xFFD, "UB", 1, -5),
	};

	apply(f->l, &f->seq, 0, x, 3);
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0xFFF, T0 - 1), TKM_OK);
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0xFFF, T0), TKM_OK);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0xFFF, T0 + 1),
	    TKM_ERR_LIC_EXPIRED);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0xFFF, INT64_MAX),
	    TKM_ERR_LIC_EXPIRED);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 0xFFF, "UB"), 8);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0xFFE, T0),
	    TKM_ERR_LIC_EXHAUSTED);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0xFFE, T0 + 1),
	    TKM_ERR_LIC_EXPIRED);
	/* Negative times are times too. */
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0xFFD, -6), TKM_OK);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0xFFD, -4),
	    TKM_ERR_LIC_EXPIRED);
}

/* Several keys of one command: all counted, or none. */
static void
test_use_keys(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 1, "U3", 5, T0),
	    lic(HSM_LIB_DES, 2, "U3", 1, T0),
	    lic(HSM_LIB_DES, 3, "U3", 5, T0 - 1),
	    lic(HSM_LIB_DES, 4, "U1", 5, T0),
	};
	struct hsm_lic_key k[HSM_LIC_KEYS + 1] = {{HSM_LIB_DES, 1},
	    {HSM_LIB_DES, 2}, {HSM_LIB_DES, 2}, {HSM_LIB_DES, 9},
	    {HSM_LIB_DES, 1}};
	struct hsm_lic_key expired[] = {{HSM_LIB_DES, 1}, {HSM_LIB_DES, 3}};
	struct hsm_lic_key other[] = {{HSM_LIB_DES, 1}, {HSM_LIB_DES, 4}};

	apply(f->l, &f->seq, 0, x, 4);
	assert_int_equal(hsm_lic_use_keys(f->l, "U3", k, 0, T0), TKM_OK);
	assert_int_equal(hsm_lic_use_keys(f->l, "U3", k, HSM_LIC_KEYS + 1, T0),
	    TKM_ERR_INPUT);
	/* 1 and 2 (twice: once), 9 not listed. */
	assert_int_equal(
	    hsm_lic_use_keys(f->l, "U3", k, HSM_LIC_KEYS, T0), TKM_OK);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 1, "U3"), 4);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 2, "U3"), 1 - 1);
	/* 2 is used up: 1 is not counted either. */
	assert_int_equal(
	    hsm_lic_use_keys(f->l, "U3", k, 2, T0), TKM_ERR_LIC_EXHAUSTED);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 1, "U3"), 4);
	/* The same with an expired second key. */
	assert_int_equal(
	    hsm_lic_use_keys(f->l, "U3", expired, 2, T0), TKM_ERR_LIC_EXPIRED);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 1, "U3"), 4);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 3, "U3"), 5);
	/* Listed for another command: counted nothing without
	 * enforcement, and refused with it, with nothing counted. */
	assert_int_equal(hsm_lic_use_keys(f->l, "U3", other, 2, T0), TKM_OK);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 1, "U3"), 3);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 4, "U1"), 5);
	apply(f->l, &f->seq, 1, x, 4);
	assert_int_equal(
	    hsm_lic_use_keys(f->l, "U3", other, 2, T0), TKM_ERR_LIC_EXHAUSTED);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 1, "U3"), 5);
	/* A refusal the cache cannot see (another connection used the
	 * count up) rolls back the first key's count too. */
	{
		struct hsm_lic *b = NULL;

		assert_int_equal(hsm_lic_open(f->dir, &b), TKM_OK);
		assert_int_equal(
		    hsm_lic_use(b, "U3", HSM_LIB_DES, 2, T0), TKM_OK);
		hsm_lic_close(b);
	}
	assert_int_equal(
	    hsm_lic_use_keys(f->l, "U3", k, 2, T0), TKM_ERR_LIC_EXHAUSTED);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 1, "U3"), 5);
	assert_int_equal(remaining(f->l, HSM_LIB_DES, 2, "U3"), 0);
}

/* --- replace ---------------------------------------------------------------
 */

/* Everything the store holds, to show that a refusal changed nothing. */
struct snap {
	struct rows rows;
	struct hsm_lic_state st;
};

static struct snap
snap(struct hsm_lic *l)
{
	struct snap s;

	memset(&s, 0, sizeof(s));
	s.rows = list(l);
	assert_int_equal(hsm_lic_state_get(l, &s.st), TKM_OK);
	return s;
}

static void
same(struct snap a, struct snap b)
{
	size_t i;

	assert_int_equal(a.rows.n, b.rows.n);
	for (i = 0; i < a.rows.n; i++) {
		assert_int_equal(a.rows.r[i].lib, b.rows.r[i].lib);
		assert_int_equal(a.rows.r[i].index, b.rows.r[i].index);
		assert_string_equal(a.rows.r[i].cmd, b.rows.r[i].cmd);
		assert_int_equal(a.rows.r[i].remaining, b.rows.r[i].remaining);
		assert_int_equal(a.rows.r[i].until, b.rows.r[i].until);
		assert_int_equal(a.rows.r[i].used, b.rows.r[i].used);
	}
	assert_int_equal(a.st.enforce, b.st.enforce);
	assert_int_equal(a.st.last_seq, b.st.last_seq);
	assert_int_equal(a.st.last_applied, b.st.last_applied);
	assert_memory_equal(a.st.nonce, b.st.nonce, 16);
}

static void
test_replace(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_SM4, 7, "UB", 3, T0 + 1000),
	    lic(HSM_LIB_SM4, 7, "U1", 4, T0 + 1000),
	};
	struct hsm_licence y[] = {
	    lic(HSM_LIB_SM4, 8, "UB", 9, T0 + 2000),
	};
	uint8_t nonce[16], zero[16] = {0};
	struct hsm_lic_state st;
	struct rows rows;

	nonce_of(nonce, 41);
	assert_int_equal(hsm_lic_set_nonce(f->l, nonce), TKM_OK);
	assert_int_equal(hsm_lic_state_get(f->l, &st), TKM_OK);
	assert_memory_equal(st.nonce, nonce, 16);
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 5, 1, x, 2, T0 + 3), TKM_OK);
	assert_int_equal(hsm_lic_state_get(f->l, &st), TKM_OK);
	assert_int_equal(st.enforce, 1);
	assert_int_equal(st.last_seq, 5);
	assert_int_equal(st.last_applied, T0 + 3);
	assert_memory_equal(st.nonce, zero, 16); /* used up */
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 7, T0), TKM_OK);
	rows = list(f->l);
	assert_int_equal(rows.n, 2);
	assert_int_equal(rows.r[0].lib, HSM_LIB_SM4);
	assert_int_equal(rows.r[0].index, 7);
	assert_string_equal(rows.r[0].cmd, "U1"); /* (lib, index, cmd) order */
	assert_int_equal(rows.r[0].remaining, 4);
	assert_int_equal(rows.r[0].until, T0 + 1000);
	assert_int_equal(rows.r[0].used, 0);
	assert_string_equal(rows.r[1].cmd, "UB");
	assert_int_equal(rows.r[1].remaining, 2);
	assert_int_equal(rows.r[1].used, 1);

	/* The same update again: the nonce is gone. */
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 6, 1, x, 2, T0 + 4), TKM_ERR_VERIFY);
	/* Nor with an all-zero nonce (no request). */
	assert_int_equal(
	    hsm_lic_replace(f->l, zero, 6, 1, x, 2, T0 + 4), TKM_ERR_VERIFY);

	/* A new request: everything replaced, used starts over. */
	nonce_of(nonce, 42);
	assert_int_equal(hsm_lic_set_nonce(f->l, nonce), TKM_OK);
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 6, 0, y, 1, T0 + 5), TKM_OK);
	rows = list(f->l);
	assert_int_equal(rows.n, 1);
	assert_int_equal(rows.r[0].index, 8);
	assert_int_equal(rows.r[0].remaining, 9);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 7, T0), TKM_OK);
	/* And an update with no licences at all. */
	nonce_of(nonce, 43);
	assert_int_equal(hsm_lic_set_nonce(f->l, nonce), TKM_OK);
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 7, 0, NULL, 0, T0 + 6), TKM_OK);
	assert_int_equal(list(f->l).n, 0);
}

/* Zeroise: no licence, enforcement off, no pending request, the sequence
 * kept; another connection (a worker's) sees it at its next use. */
static void
test_wipe(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x = lic(HSM_LIB_DES, 0x2A0, "UB", 2, T0 + 100);
	struct hsm_lic_state st;
	uint8_t nonce[16];

	apply(f->l, &f->seq, 1, &x, 1);
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0x2A0, T0), TKM_OK);
	/* listed for UB only: with enforcement, U1 on it is refused */
	assert_int_equal(hsm_lic_use(f->l, "U1", HSM_LIB_DES, 0x2A0, T0),
	    TKM_ERR_LIC_EXHAUSTED);
	nonce_of(nonce, 99);
	assert_int_equal(hsm_lic_set_nonce(f->l, nonce), TKM_OK);
	assert_int_equal(hsm_lic_wipe(f->dir), TKM_OK);
	assert_int_equal(list(f->l).n, 0);
	assert_int_equal(hsm_lic_state_get(f->l, &st), TKM_OK);
	assert_int_equal(st.enforce, 0);
	assert_int_equal(st.last_seq, f->seq);
	/* the pending request is gone: its update no longer applies */
	assert_int_equal(hsm_lic_replace(f->l, nonce, f->seq + 1, 1, &x, 1, T0),
	    TKM_ERR_VERIFY);
	/* nothing listed, nothing enforced: any use passes uncounted */
	assert_int_equal(
	    hsm_lic_use(f->l, "U1", HSM_LIB_DES, 0x2A0, T0), TKM_OK);
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0x2A0, T0), TKM_OK);
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_DES, 0x2A0, T0), TKM_OK);
}

static void
test_replace_refused(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_SM4, 7, "UB", 3, T0 + 1000),
	    lic(HSM_LIB_RSA, 20, "EH", 4, T0 + 1000),
	};
	struct hsm_licence bad[HSM_LIC_MAX + 1];
	uint8_t nonce[16], other[16];
	struct snap before;
	size_t i;

	f->seq = 10;
	apply(f->l, &f->seq, 0, x, 2);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 7, T0), TKM_OK);
	nonce_of(nonce, 99);
	nonce_of(other, 98);
	assert_int_equal(hsm_lic_set_nonce(f->l, nonce), TKM_OK);
	before = snap(f->l);

	/* Wrong nonce, stale or equal sequence: TKM_ERR_VERIFY. */
	assert_int_equal(
	    hsm_lic_replace(f->l, other, 12, 1, x, 1, T0 + 9), TKM_ERR_VERIFY);
	same(before, snap(f->l));
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 11, 1, x, 1, T0 + 9), TKM_ERR_VERIFY);
	same(before, snap(f->l));
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 3, 1, x, 1, T0 + 9), TKM_ERR_VERIFY);
	same(before, snap(f->l));

	/* Malformed licences: nothing written either. */
	bad[0] = lic(HSM_LIB_SM4, 1, "UB", 1, T0);
	bad[1] = lic(HSM_LIB_SM4, 1, "UB", 2, T0); /* the same twice */
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 12, 1, bad, 2, T0 + 9), TKM_ERR_INPUT);
	same(before, snap(f->l));
	bad[1] = lic(HSM_LIB_SM4, 1, "A0", 2, T0); /* not counted */
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 12, 1, bad, 2, T0 + 9), TKM_ERR_INPUT);
	bad[1] = lic(HSM_LIB_SM4, 1, "ZZ", 2, T0); /* no such command */
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 12, 1, bad, 2, T0 + 9), TKM_ERR_INPUT);
	bad[1] = lic(HSM_LIB_SM4, 1, "U", 2, T0);
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 12, 1, bad, 2, T0 + 9), TKM_ERR_INPUT);
	bad[1] = lic(5, 1, "U1", 2, T0); /* no such library */
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 12, 1, bad, 2, T0 + 9), TKM_ERR_INPUT);
	bad[1] = lic(HSM_LIB_DES, 0x1000, "U1", 2, T0);
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 12, 1, bad, 2, T0 + 9), TKM_ERR_INDEX);
	bad[1] = lic(HSM_LIB_SM2, 0, "EH", 2, T0);
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 12, 1, bad, 2, T0 + 9), TKM_ERR_INDEX);
	bad[1] = lic(HSM_LIB_SM2, 21, "EH", 2, T0);
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 12, 1, bad, 2, T0 + 9), TKM_ERR_INDEX);
	for (i = 0; i <= HSM_LIC_MAX; i++)
		bad[i] = lic(HSM_LIB_DES, (unsigned)i, "UB", 1, T0);
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, 12, 1, bad, HSM_LIC_MAX + 1, T0 + 9),
	    TKM_ERR_INPUT);
	same(before, snap(f->l));

	/* The request is still open: the right update still applies, and
	 * HSM_LIC_MAX licences fit. */
	assert_int_equal(hsm_lic_replace(f->l, nonce, UINT64_MAX, 1, bad,
			     HSM_LIC_MAX, T0 + 9),
	    TKM_OK);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 255, T0), TKM_OK);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 255, T0),
	    TKM_ERR_LIC_EXHAUSTED);
	/* Nothing is above the largest sequence (kept as its bits). */
	reopen(f);
	assert_int_equal(hsm_lic_set_nonce(f->l, nonce), TKM_OK);
	assert_int_equal(
	    hsm_lic_replace(f->l, nonce, UINT64_MAX, 1, x, 1, T0 + 9),
	    TKM_ERR_VERIFY);
}

static int
stop_at_two(void *arg, const struct hsm_licence *x)
{
	int *n = arg;

	(void)x;
	return ++*n == 2 ? TKM_ERR_SPACE : TKM_OK;
}

static void
test_list_stops(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_SM4, 1, "UB", 1, T0),
	    lic(HSM_LIB_SM4, 2, "UB", 1, T0),
	    lic(HSM_LIB_SM4, 3, "UB", 1, T0),
	};
	int n = 0;

	apply(f->l, &f->seq, 0, x, 3);
	assert_int_equal(hsm_lic_list(f->l, stop_at_two, &n), TKM_ERR_SPACE);
	assert_int_equal(n, 2);
	/* The statement was reset: the next call works. */
	assert_int_equal(list(f->l).n, 3);
}

/* Counts, state and the nonce of an open request survive a reopen. */
static void
test_reopen(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 5, "U1", 10, T0 + 100),
	};
	uint8_t nonce[16];
	struct hsm_lic_state st;
	uint32_t r, u;
	int i;

	apply(f->l, &f->seq, 1, x, 1);
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    hsm_lic_use(f->l, "U1", HSM_LIB_DES, 5, T0), TKM_OK);
	nonce_of(nonce, 7777);
	assert_int_equal(hsm_lic_set_nonce(f->l, nonce), TKM_OK);
	reopen(f);
	counts(f->l, HSM_LIB_DES, 5, "U1", &r, &u);
	assert_int_equal(r, 6);
	assert_int_equal(u, 4);
	assert_int_equal(hsm_lic_state_get(f->l, &st), TKM_OK);
	assert_int_equal(st.enforce, 1);
	assert_int_equal(st.last_seq, f->seq);
	assert_int_equal(st.last_applied, T0);
	assert_memory_equal(st.nonce, nonce, 16);
	assert_int_equal(
	    hsm_lic_use(f->l, "U3", HSM_LIB_DES, 5, T0), TKM_ERR_LIC_EXHAUSTED);
}

/* A store written by a newer tkms-hsmd is refused. */
static void
test_newer_schema(void **state)
{
	struct fix *f = *state;
	struct hsm_lic *l = NULL;
	char path[128];
	sqlite3 *db;

	hsm_lic_close(f->l);
	f->l = NULL;
	snprintf(path, sizeof(path), "%s/licences.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(hsm_lic_open(f->dir, &l), TKM_ERR_IO);
	assert_null(l);
}

/*
 * Each connection caches which keys are listed: a replace or a use
 * through another connection must be seen by the next use.
 */
static void
test_other_connection(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_SM4, 1, "UB", 1, T0),
	};
	struct hsm_licence y[] = {
	    lic(HSM_LIB_SM4, 1, "U1", 5, T0),
	};
	struct hsm_lic *b = NULL;
	uint64_t seq = 0;

	assert_int_equal(hsm_lic_open(f->dir, &b), TKM_OK);
	/* f->l has seen "no licences". */
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 1, T0), TKM_OK);
	apply(b, &seq, 0, x, 1);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 1, T0), TKM_OK);
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 1, T0), TKM_ERR_LIC_EXHAUSTED);
	assert_int_equal(
	    hsm_lic_use(b, "UB", HSM_LIB_SM4, 1, T0), TKM_ERR_LIC_EXHAUSTED);
	/* The key now listed for U1 only, enforcement on: f->l still
	 * believes UB is licensed, and must not count or allow it. */
	assert_int_equal(hsm_lic_use(f->l, "U3", HSM_LIB_SM4, 1, T0), TKM_OK);
	apply(b, &seq, 1, y, 1);
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 1, T0), TKM_ERR_LIC_EXHAUSTED);
	assert_int_equal(
	    hsm_lic_use(f->l, "U3", HSM_LIB_SM4, 1, T0), TKM_ERR_LIC_EXHAUSTED);
	assert_int_equal(hsm_lic_use(f->l, "U1", HSM_LIB_SM4, 1, T0), TKM_OK);
	assert_int_equal(remaining(b, HSM_LIB_SM4, 1, "U1"), 4);
	/* Everything removed: f->l's cache said "listed". */
	apply(b, &seq, 1, NULL, 0);
	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_SM4, 1, T0), TKM_OK);
	assert_int_equal(hsm_lic_use(f->l, "U1", HSM_LIB_SM4, 1, T0), TKM_OK);
	hsm_lic_close(b);
}

/*
 * A replace by another process is not announced to this one's caches:
 * they look at the file again at least every second (licence.c).
 */
static void
test_other_process(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 9, "UB", 0, T0),
	};
	struct hsm_lic *b = NULL;
	uint8_t nonce[16];
	int status;
	pid_t pid;

	assert_int_equal(hsm_lic_use(f->l, "UB", HSM_LIB_DES, 9, T0), TKM_OK);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Ends by SIGKILL when done: an exit would have valgrind
		 * report f->l, which the child inherited, as leaked. */
		nonce_of(nonce, 1);
		if (hsm_lic_open(f->dir, &b) == TKM_OK &&
		    hsm_lic_set_nonce(b, nonce) == TKM_OK &&
		    hsm_lic_replace(b, nonce, 1, 0, x, 1, T0) == TKM_OK) {
			hsm_lic_close(b);
			raise(SIGKILL);
		}
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	usleep(1100 * 1000);
	assert_int_equal(
	    hsm_lic_use(f->l, "UB", HSM_LIB_DES, 9, T0), TKM_ERR_LIC_EXHAUSTED);
}

/* --- concurrency -----------------------------------------------------------
 */

#define THREADS 16
#define QUOTA   400

struct user {
	const char *dir;
	pthread_barrier_t *start;
	int ok, ok2, other;
};

static const struct hsm_lic_key two[] = {
    {HSM_LIB_SM4, 0x042}, {HSM_LIB_SM4, 0x043}};

static void *
user(void *arg)
{
	struct user *u = arg;
	struct hsm_lic *l = NULL;
	int rc;

	if (hsm_lic_open(u->dir, &l) != TKM_OK)
		u->other++;
	/* All connections open before the first use, so that they race. */
	pthread_barrier_wait(u->start);
	while (l != NULL) {
		rc = hsm_lic_use(l, "UB", HSM_LIB_DES, 0x042, T0);
		if (rc == TKM_OK)
			u->ok++;
		else if (rc == TKM_ERR_LIC_EXHAUSTED)
			break;
		else {
			u->other++;
			break;
		}
		/* Unlisted keys in between, through the cache. */
		if (hsm_lic_use(l, "UB", HSM_LIB_DES, 0x043, T0) != TKM_OK)
			u->other++;
		/* Two keys at once: both counted or neither. */
		rc = hsm_lic_use_keys(l, "U3", two, 2, T0);
		if (rc == TKM_OK)
			u->ok2++;
		else if (rc != TKM_ERR_LIC_EXHAUSTED)
			u->other++;
	}
	hsm_lic_close(l);
	return NULL;
}

static void
test_concurrent_quota(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 0x042, "UB", QUOTA, T0),
	    lic(HSM_LIB_SM4, 0x042, "U3", QUOTA / 2, T0),
	    lic(HSM_LIB_SM4, 0x043, "U3", QUOTA / 4, T0),
	};
	pthread_t th[THREADS];
	pthread_barrier_t start;
	struct user u[THREADS];
	uint32_t r, used;
	int i, ok = 0, ok2 = 0, busy = 0;

	apply(f->l, &f->seq, 1, x, 3);
	memset(u, 0, sizeof(u));
	assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
	for (i = 0; i < THREADS; i++) {
		u[i].dir = f->dir;
		u[i].start = &start;
		assert_int_equal(pthread_create(&th[i], NULL, user, &u[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(u[i].other, 0);
		ok += u[i].ok;
		ok2 += u[i].ok2;
		busy += u[i].ok > 0;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(ok, QUOTA);
	counts(f->l, HSM_LIB_DES, 0x042, "UB", &r, &used);
	assert_int_equal(r, 0);
	assert_int_equal(used, QUOTA);
	assert_int_equal(ok2, QUOTA / 4);
	counts(f->l, HSM_LIB_SM4, 0x042, "U3", &r, &used);
	assert_int_equal(used, QUOTA / 4);
	assert_int_equal(r, QUOTA / 2 - QUOTA / 4);
	assert_int_equal(remaining(f->l, HSM_LIB_SM4, 0x043, "U3"), 0);
	print_message("%d of %d threads got uses\n", busy, THREADS);
}

/* --- SIGKILL ---------------------------------------------------------------
 */

#define KILL_QUOTA  1000000
#define KILL_CYCLES 8

/* The child: use until killed, one byte down the pipe per TKM_OK. */
static void
hammer(const char *dir, int fd)
{
	struct hsm_lic *l = NULL;

	if (hsm_lic_open(dir, &l) != TKM_OK)
		_exit(3);
	for (;;) {
		if (hsm_lic_use(l, "U3", HSM_LIB_SM4, 0x100, T0) != TKM_OK)
			_exit(2);
		if (write(fd, "+", 1) != 1)
			_exit(4);
	}
}

static long
drain(int fd)
{
	char buf[4096];
	long n = 0;
	ssize_t r;

	while (
	    (r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			n += r;
	assert_int_equal(r, 0);
	return n;
}

/*
 * Kill a process that uses a licence at random moments: every use it
 * acknowledged (TKM_OK, then a byte to us) must still be counted, and at
 * most the one it was in the middle of may be counted on top, per kill.
 */
static void
test_sigkill(void **state)
{
	struct fix *f = *state;
	struct hsm_licence x[] = {
	    lic(HSM_LIB_SM4, 0x100, "U3", KILL_QUOTA, T0),
	};
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	long acked = 0, got;
	uint32_t r, used;
	int i, p[2], status;
	pid_t pid;
	char c;

	print_message("seed %u\n", seed);
	apply(f->l, &f->seq, 0, x, 1);
	hsm_lic_close(f->l); /* no connection across fork */
	f->l = NULL;
	for (i = 0; i < KILL_CYCLES; i++) {
		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			hammer(f->dir, p[1]);
		}
		close(p[1]);
		/* Kill it in the middle of its uses, not while it opens. */
		assert_int_equal(read(p[0], &c, 1), 1);
		acked++;
		usleep((useconds_t)(rand_r(&seed) % 100000));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		got = drain(p[0]);
		close(p[0]);
		acked += got;
		assert_int_equal(hsm_lic_open(f->dir, &f->l), TKM_OK);
		counts(f->l, HSM_LIB_SM4, 0x100, "U3", &r, &used);
		hsm_lic_close(f->l);
		f->l = NULL;
		print_message("kill %d: %ld acknowledged in all, %u counted\n",
		    i + 1, acked, used);
		assert_int_equal((long)r + (long)used, KILL_QUOTA);
		assert_true((long)used >= acked);
		assert_true((long)used <= acked + i + 1);
	}
	assert_true(acked > 0);
	assert_int_equal(hsm_lic_open(f->dir, &f->l), TKM_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fresh_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enforce, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wipe, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_expiry_boundary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_use_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_replace_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_stops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_other_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_other_process, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_concurrent_quota, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigkill, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
