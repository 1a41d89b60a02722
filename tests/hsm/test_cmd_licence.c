/*
 * test_cmd_licence.c - maintenance licences through the real dispatcher
 * (licence.h, dispatch.c): UB, U3 and EH on licensed keys count exactly
 * once per answer given, refuse with A1/A2 when used up or expired (HSM
 * time), refuse listed keys without a licence under enforcement, count
 * nothing for a failing handler or a key given as a cryptogram, and never
 * answer a success when the licence store cannot be read.
 */
#include "hsmtest.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "licence.h"
#include "tkm/crypto.h"

/* tests/kat: the purchase TAC (scheme 2) of DTK = DLK, as in
 * test_cmd_mac.c */
#define DLK "11223344556677888877665544332211"
#define PTAC_IN                                                                \
	"00001000"                                                             \
	"06"                                                                   \
	"001122334455"                                                         \
	"00000001"                                                             \
	"20120229"                                                             \
	"135100"
#define PTAC "F5B221C9"
#define IV0  "0000000000000000"
/* UB generate / verify with the key at DES K001 */
#define UB_GEN    "UBX02109K00100" IV0 "022" PTAC_IN "04"
#define UB_VERIFY "UBX22109K00100" IV0 "022" PTAC_IN "04"
#define UB_OK     "UC00" PTAC

#define K2   "0123456789ABCDEFFEDCBA9876543210"
#define K2B  "89ABCDEF0123456776543210FEDCBA98"
#define SM4K "0123456789ABCDEFFEDCBA9876543210"
#define F1   "5810FF0000000000"
/* U3 exporting the 509 at K040 under the TK at K000 (test_cmd_data.c) */
#define U3_TK "U3X00509K0401" F1 "0K000N0001020304050607"

static void
put(struct hsmtest *t, int alg, unsigned index, const char *type,
    const char *keyhex)
{
	struct hsm_cmd_ctx c = hsmtest_ctx(t);
	struct hsm_key key;

	memset(&key, 0, sizeof(key));
	key.alg = alg;
	key.len = hsmtest_unhex(keyhex, key.k, sizeof(key.k));
	memcpy(key.type, type, HSM_TYPE_LEN + 1);
	assert_int_equal(hsm_key_store(&c, &key, index, "test"), TKM_OK);
}

static void
expect(struct hsmtest *t, const char *req, const char *want)
{
	const char *got = hsmtest_cmd(t, req, NULL);

	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("%.20s...: got %.20s, want %s", req, got, want);
}

static int64_t
hsm_now(struct hsmtest *t)
{
	return (int64_t)time(NULL) + atomic_load(&t->st.time_offset);
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

/* Replace the licences as maint.apply would, through a connection of its
 * own (the workers have theirs). */
static void
licences(struct hsmtest *t, int enforce, const struct hsm_licence *x, size_t n)
{
	static uint64_t seq;
	struct hsm_lic *l = NULL;
	uint8_t nonce[16];

	seq++;
	memset(nonce, 0x3C, sizeof(nonce));
	memcpy(nonce, &seq, sizeof(seq));
	assert_int_equal(hsm_lic_open(hsmtest_dir(t), &l), TKM_OK);
	assert_int_equal(hsm_lic_set_nonce(l, nonce), TKM_OK);
	assert_int_equal(
	    hsm_lic_replace(l, nonce, seq, enforce, x, n, hsm_now(t)), TKM_OK);
	hsm_lic_close(l);
}

struct one {
	int lib;
	unsigned index;
	const char *cmd;
	int found;
	uint32_t remaining;
};

static int
find_one(void *arg, const struct hsm_licence *x)
{
	struct one *o = arg;

	if (x->lib == o->lib && x->index == o->index &&
	    strcmp(x->cmd, o->cmd) == 0) {
		o->found = 1;
		o->remaining = x->remaining;
	}
	return TKM_OK;
}

static uint32_t
left(struct hsmtest *t, int lib, unsigned index, const char *cmd)
{
	struct one o = {lib, index, cmd, 0, 0};
	struct hsm_lic *l = NULL;

	assert_int_equal(hsm_lic_open(hsmtest_dir(t), &l), TKM_OK);
	assert_int_equal(hsm_lic_list(l, find_one, &o), TKM_OK);
	hsm_lic_close(l);
	assert_true(o.found);
	return o.remaining;
}

static struct hsmtest *
ub_harness(void)
{
	struct hsmtest *t = hsmtest_new(0);

	put(t, TKM_DES, 0x001, "109", DLK);
	put(t, TKM_DES, 0x002, "109", DLK);
	return t;
}

/* --- UB ------------------------------------------------------------------- */

static void
test_ub_quota(void **state)
{
	struct hsmtest *t = ub_harness();
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 1, "UB", 3, hsm_now(t) + 3600),
	};
	int i;

	(void)state;
	/* No licences yet: nothing counted, nothing refused. */
	expect(t, UB_GEN, UB_OK);
	licences(t, 0, x, 1);
	for (i = 0; i < 3; i++)
		expect(t, UB_GEN, UB_OK);
	expect(t, UB_GEN, "UCA1");
	expect(t, UB_VERIFY PTAC, "UCA1");
	assert_int_equal(left(t, HSM_LIB_DES, 1, "UB"), 0);
	/* Another key, and the same index in the SM4 library: not listed. */
	expect(t, "UBX02109K00200" IV0 "022" PTAC_IN "04", UB_OK);
	/* Renewed. */
	x[0].remaining = 1;
	licences(t, 0, x, 1);
	expect(t, UB_VERIFY PTAC, "UC00");
	expect(t, UB_GEN, "UCA1");
	hsmtest_free(t);
}

/* Expiry follows HSM time (system time + time.set's offset). */
static void
test_ub_expiry(void **state)
{
	struct hsmtest *t = ub_harness();
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 1, "UB", 5, hsm_now(t) + 100),
	};

	(void)state;
	licences(t, 0, x, 1);
	expect(t, UB_GEN, UB_OK);
	atomic_store(&t->st.time_offset, 200);
	expect(t, UB_GEN, "UCA2");
	assert_int_equal(left(t, HSM_LIB_DES, 1, "UB"), 4);
	atomic_store(&t->st.time_offset, -200);
	expect(t, UB_GEN, UB_OK);
	assert_int_equal(left(t, HSM_LIB_DES, 1, "UB"), 3);
	hsmtest_free(t);
}

/* With enforcement, a listed key needs a licence for the command; keys
 * given as cryptograms under DK are not stored keys and never counted. */
static void
test_ub_enforce(void **state)
{
	struct hsmtest *t = ub_harness();
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 1, "U1", 5, hsm_now(t) + 100),
	};
	uint8_t k[16], ct[16];
	char req[256];
	size_t n;

	(void)state;
	licences(t, 1, x, 1);
	expect(t, UB_GEN, "UCA1");
	expect(t, "UBX02109K00200" IV0 "022" PTAC_IN "04", UB_OK);
	n = hsmtest_unhex(DLK, k, sizeof(k));
	tkm_des_parity_set(k, n);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(t->st.dk, TKM_DES, "109", k, n, ct), TKM_OK);
	snprintf(req, sizeof(req), "UBX02109X%s00" IV0 "022" PTAC_IN "04",
	    hsmtest_hex(ct, n));
	expect(t, req, UB_OK);
	assert_int_equal(left(t, HSM_LIB_DES, 1, "U1"), 5);
	/* Without enforcement the listed key is served, and not counted. */
	licences(t, 0, x, 1);
	expect(t, UB_GEN, UB_OK);
	assert_int_equal(left(t, HSM_LIB_DES, 1, "U1"), 5);
	hsmtest_free(t);
}

/* Only answers that succeed are counted. */
static void
test_ub_failure_not_counted(void **state)
{
	struct hsmtest *t = ub_harness();
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 1, "UB", 2, hsm_now(t) + 100),
	};

	(void)state;
	licences(t, 0, x, 1);
	expect(t, UB_VERIFY "00000000", "UC01");       /* MAC mismatch */
	expect(t, UB_GEN "00", "UC15");                /* bytes after */
	expect(t, "UBX02003K00100" IV0 "022", "UC28"); /* wrong key type */
	assert_int_equal(left(t, HSM_LIB_DES, 1, "UB"), 2);
	expect(t, UB_VERIFY PTAC, "UC00");
	assert_int_equal(left(t, HSM_LIB_DES, 1, "UB"), 1);
	hsmtest_free(t);
}

/* A licence store that cannot be opened: never a success for a stored
 * key; a command with keys under DK only does not need the store. */
static void
test_ub_store_broken(void **state)
{
	struct hsmtest *t = ub_harness();
	uint8_t k[16], ct[16];
	char path[128], req[256];
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/licences.db", hsmtest_dir(t));
	assert_int_equal(mkdir(path, 0700), 0);
	expect(t, UB_GEN, "UC41");
	n = hsmtest_unhex(DLK, k, sizeof(k));
	tkm_des_parity_set(k, n);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(t->st.dk, TKM_DES, "109", k, n, ct), TKM_OK);
	snprintf(req, sizeof(req), "UBX02109X%s00" IV0 "022" PTAC_IN "04",
	    hsmtest_hex(ct, n));
	expect(t, req, UB_OK);
	assert_int_equal(rmdir(path), 0);
	expect(t, UB_GEN, UB_OK);
	hsmtest_free(t);
}

/* --- U3: two stored keys, all or nothing ---------------------------------- */

static void
test_u3_two_keys(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 0x040, "U3", 5, hsm_now(t) + 100),
	    lic(HSM_LIB_DES, 0x000, "U3", 1, hsm_now(t) + 100),
	};

	(void)state;
	put(t, TKM_DES, 0x040, "509", K2);
	put(t, TKM_DES, 0x000, "000", K2B);
	licences(t, 0, x, 2);
	expect(t, U3_TK, "U400");
	assert_int_equal(left(t, HSM_LIB_DES, 0x040, "U3"), 4);
	assert_int_equal(left(t, HSM_LIB_DES, 0x000, "U3"), 0);
	/* The TK's count is used up: the exported key's is not touched. */
	expect(t, U3_TK, "U4A1");
	assert_int_equal(left(t, HSM_LIB_DES, 0x040, "U3"), 4);
	hsmtest_free(t);
}

/* --- EH: a key pair at an index ------------------------------------------- */

static void
test_eh_key_pair(void **state)
{
	struct hsmtest *t = hsmtest_new(1);
	struct hsm_licence x[] = {
	    lic(HSM_LIB_SM2, 1, "EH", 1, hsm_now(t) + 100),
	};

	(void)state;
	put(t, TKM_SM4, 0x010, "000", SM4K);
	expect(t, "EIS00256;01", "EJ00");
	licences(t, 0, x, 1);
	expect(t, "EH00000K010S0S0101", "EI00");
	expect(t, "EH00000K010S0S0101", "EIA1");
	/* The protection key alone is not listed. */
	expect(t, "EIS00256;02", "EJ00");
	expect(t, "EH00000K010S0S0201", "EI00");
	hsmtest_free(t);
}

/* --- 16 workers ------------------------------------------------------------
 */

#define THREADS 16
#define QUOTA   48

struct client {
	struct hsmtest *t;
	pthread_barrier_t *start;
	int ok, refused, other;
};

/* One UB through a worker of this thread's own. */
static void *
client(void *arg)
{
	static const char cmd[] = HSMTEST_HDR UB_GEN;
	struct client *c = arg;
	struct hsm_worker w;
	uint8_t resp[256];
	struct tkm_wr out;
	int i;

	if (hsm_worker_init(&w, &c->t->st) != TKM_OK) {
		c->other++;
		pthread_barrier_wait(c->start);
		return NULL;
	}
	pthread_barrier_wait(c->start);
	/* Bounded: a quota that is never used up fails, not hangs. */
	for (i = 0; i <= QUOTA; i++) {
		tkm_wr_init(&out, resp, sizeof(resp));
		hsm_dispatch(&w, &c->t->cfg.listeners[0], (const uint8_t *)cmd,
		    sizeof(cmd) - 1, &out);
		if (out.len >= 14 && memcmp(resp + 10, "UC00", 4) == 0)
			c->ok++;
		else if (out.len >= 14 && memcmp(resp + 10, "UCA1", 4) == 0)
			break;
		else {
			c->other++;
			break;
		}
	}
	if (i > QUOTA)
		c->other++;
	hsm_worker_cleanup(&w);
	return NULL;
}

static void
test_ub_workers(void **state)
{
	struct hsmtest *t = ub_harness();
	struct hsm_licence x[] = {
	    lic(HSM_LIB_DES, 1, "UB", QUOTA, hsm_now(t) + 3600),
	};
	struct client c[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t start;
	int i, ok = 0;

	(void)state;
	licences(t, 1, x, 1);
	memset(c, 0, sizeof(c));
	assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
	for (i = 0; i < THREADS; i++) {
		c[i].t = t;
		c[i].start = &start;
		assert_int_equal(
		    pthread_create(&th[i], NULL, client, &c[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(c[i].other, 0);
		ok += c[i].ok;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(ok, QUOTA);
	assert_int_equal(left(t, HSM_LIB_DES, 1, "UB"), 0);
	expect(t, UB_GEN, "UCA1");
	hsmtest_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ub_quota),
	    cmocka_unit_test(test_ub_expiry),
	    cmocka_unit_test(test_ub_enforce),
	    cmocka_unit_test(test_ub_failure_not_counted),
	    cmocka_unit_test(test_ub_store_broken),
	    cmocka_unit_test(test_u3_two_keys),
	    cmocka_unit_test(test_eh_key_pair),
	    cmocka_unit_test(test_ub_workers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
