/*
 * test_cmd_misc.c - NC, TE and BU through the real dispatcher
 * (docs/protocol.md). Expected KCVs are computed with libtkm (tkm_kcv) and,
 * for the classic test key 0123456789ABCDEF FEDCBA9876543210, also given
 * as a constant (3DES of zeros, published in many payShield examples).
 */
#include "hsmtest.h"

#include "tkm/crypto.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define K2    "0123456789ABCDEFFEDCBA9876543210"
#define K2KCV "08D7B4FB629D0885"
#define K1    "0123456789ABCDEF"
#define K3    "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567"

/* KCV of a clear key in hex, by libtkm. */
static const char *
kcv(int alg, const char *keyhex)
{
	uint8_t k[24], v[TKM_KCV_LEN];
	size_t n = hsmtest_unhex(keyhex, k, sizeof(k));

	assert_int_equal(tkm_kcv(alg, k, n, v), TKM_OK);
	return hsmtest_hex(v, sizeof(v));
}

/* The key reference of a clear key under the test DK: 16H, X/Y/S+hex. */
static const char *
lmk(struct hsmtest *t, int alg, const char *type, const char *keyhex)
{
	uint8_t k[24], ct[24];
	size_t n = hsmtest_unhex(keyhex, k, sizeof(k));
	char *s = hsmtest_strbuf();
	const char *p;

	assert_int_equal(
	    hsm_dk_lmk_encrypt(t->st.dk, alg, type, k, n, ct), TKM_OK);
	p = alg == TKM_SM4 ? "S" : n == 16 ? "X" : n == 24 ? "Y" : "";
	snprintf(s, 256, "%s%s", p, hsmtest_hex(ct, n));
	return s;
}

/* Store a clear key at index of alg's library. */
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

static const char *
cat(const char *a, const char *b)
{
	char *s = hsmtest_strbuf();

	snprintf(s, 256, "%s%s", a, b);
	return s;
}

static void
expect(struct hsmtest *t, const char *req, const char *want)
{
	const char *got = hsmtest_cmd(t, req, NULL);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", req, got, want);
}

/* --- NC ---------------------------------------------------------------- */

static void
test_nc(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t v[8];
	struct hsm_dk *dk;

	(void)state;
	hsm_dk_kcv(t->st.dk, v);
	/* SM4(DK, 0^16) of the test DK, computed independently with
	 * `openssl enc -sm4-ecb -nopad` (as in tests/e2e/test_transport.py). */
	assert_string_equal(hsmtest_hex(v, 8), "C8FABC567BA0A5C6");
	expect(t, "NC", cat(cat("ND00", hsmtest_hex(v, 8)), HSM_FIRMWARE));
	assert_int_equal(strlen(HSM_FIRMWARE), 9);
	/* Trailer echoed, trailing data refused. */
	expect(t, "NC\x19tr1",
	    cat(cat(cat("ND00", hsmtest_hex(v, 8)), HSM_FIRMWARE), "\x19tr1"));
	expect(t, "NC0", "ND15");
	expect(t, "NC;", "ND15");
	expect(t, "NCXXXXXXXX", "ND15");
	expect(t, "NC\x19\x01", "ND15"); /* not a trailer: a field */
	/* The authorised state does not matter. */
	atomic_store(&t->st.authorised, 1);
	expect(t, "NC", cat(cat("ND00", hsmtest_hex(v, 8)), HSM_FIRMWARE));
	/* Repeatable. */
	expect(t, "NC", cat(cat("ND00", hsmtest_hex(v, 8)), HSM_FIRMWARE));
	/* Sealed: still answers, with a KCV of zeros. */
	dk = t->st.dk;
	t->st.dk = NULL;
	expect(t, "NC", "ND000000000000000000" HSM_FIRMWARE);
	t->st.dk = dk;
	hsmtest_free(t);
}

/* --- TE ---------------------------------------------------------------- */

static int
all_upper_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static void
test_te_ok(void **state)
{
	static const unsigned lens[] = {1, 8, 16, 255, 1000, 2048};
	struct hsmtest *t = hsmtest_new(0);
	char req[16], first[40];
	const char *r;
	struct hsm_dk *dk;
	size_t i, n;

	(void)state;
	for (i = 0; i < NELEM(lens); i++) {
		snprintf(req, sizeof(req), "TE%04u", lens[i]);
		r = hsmtest_cmd(t, req, &n);
		assert_int_equal(n, 4 + 2 * lens[i]);
		assert_memory_equal(r, "TF00", 4);
		assert_true(all_upper_hex(r + 4, 2 * lens[i]));
	}
	/* Two draws of 16 bytes differ. */
	r = hsmtest_cmd(t, "TE0016", NULL);
	snprintf(first, sizeof(first), "%s", r);
	r = hsmtest_cmd(t, "TE0016", NULL);
	assert_string_not_equal(first, r);
	/* No DK needed. */
	dk = t->st.dk;
	t->st.dk = NULL;
	r = hsmtest_cmd(t, "TE0004", &n);
	assert_int_equal(n, 12);
	assert_memory_equal(r, "TF00", 4);
	t->st.dk = dk;
	hsmtest_free(t);
}

static void
test_te_errors(void **state)
{
	static const struct {
		const char *req, *want;
	} cases[] = {
	    {"TE0000", "TF80"},  /* length 0 */
	    {"TE2049", "TF80"},  /* above 2048 */
	    {"TE9999", "TF80"},  /* far above */
	    {"TE", "TF15"},      /* no length */
	    {"TE008", "TF15"},   /* 3 digits */
	    {"TE00A8", "TF15"},  /* not decimal */
	    {"TE 008", "TF15"},  /* space */
	    {"TE00080", "TF15"}, /* trailing */
	    {"TE-001", "TF15"},  /* sign */
	    {"TE0008;", "TF15"}, /* trailing separator */
	};
	struct hsmtest *t = hsmtest_new(0);
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++)
		expect(t, cases[i].req, cases[i].want);
	hsmtest_free(t);
}

/* --- BU ---------------------------------------------------------------- */

static void
test_bu_ok(void **state)
{
	struct hsmtest *t = hsmtest_new(0);

	(void)state;
	assert_string_equal(kcv(TKM_DES, K2), K2KCV);
	put(t, TKM_DES, 0x001, "008", K2);
	put(t, TKM_SM4, 0x001, "008", K2);
	put(t, TKM_DES, 0xFFF, "109", K3);
	/* K-refs: DES library by default or with X, SM4 library with S. */
	expect(t, "BU008K001", "BV00" K2KCV);
	expect(t, "BU008K001X", "BV00" K2KCV);
	expect(t, "BU008k001", "BV26"); /* K is upper case only */
	expect(t, "BU008K001S", cat("BV00", kcv(TKM_SM4, K2)));
	expect(t, "BU109KfFf", cat("BV00", kcv(TKM_DES, K3)));
	/* Cryptograms under DK name their algorithm. */
	expect(t, cat("BU003", lmk(t, TKM_DES, "003", K2)), "BV00" K2KCV);
	expect(t, cat("BU003", lmk(t, TKM_DES, "003", K1)),
	    cat("BV00", kcv(TKM_DES, K1)));
	expect(t, cat("BU00A", lmk(t, TKM_DES, "00A", K3)),
	    cat("BV00", kcv(TKM_DES, K3)));
	expect(t, cat("BU003", lmk(t, TKM_SM4, "003", K2)),
	    cat("BV00", kcv(TKM_SM4, K2)));
	expect(t, cat(cat("BU003", lmk(t, TKM_SM4, "003", K2)), "S"),
	    cat("BV00", kcv(TKM_SM4, K2)));
	expect(t, cat(cat("BU003", lmk(t, TKM_DES, "003", K2)), "X"),
	    "BV00" K2KCV);
	hsmtest_free(t);
}

static void
test_bu_errors(void **state)
{
	struct hsmtest *t = hsmtest_new(1);
	const char *x003;
	struct hsm_dk *dk;

	(void)state;
	put(t, TKM_DES, 0x001, "008", K2);
	x003 = lmk(t, TKM_DES, "003", K2);
	expect(t, "BU0ZZK001", "BV04");   /* unknown key type code */
	expect(t, "BU", "BV15");          /* nothing */
	expect(t, "BU00", "BV15");        /* short type */
	expect(t, "BU008", "BV15");       /* no key */
	expect(t, "BU008K0", "BV15");     /* short index */
	expect(t, "BU008K0G1", "BV15");   /* index not hex */
	expect(t, "BU003K001", "BV28");   /* stored as 008 */
	expect(t, "BU008K002", "BV12");   /* empty index */
	expect(t, "BU008K001S", "BV12");  /* empty in the SM4 library */
	expect(t, "BU008K001Q", "BV05");  /* unknown alg flag */
	expect(t, "BU008K001XX", "BV15"); /* trailing */
	expect(t, "BU008Q0123", "BV26");  /* unknown scheme */
	expect(t, "BU008X0123456789ABCDEF", "BV15"); /* truncated X */
	expect(t, "BU008X0123456789ABCDEFFEDCBA987654321G", "BV15");
	/* Cryptogram of another type: parity breaks (odds 2^-16). */
	expect(t, cat("BU008", x003), "BV10");
	/* Flag contradicting the scheme. */
	expect(t, cat(cat("BU003", x003), "S"), "BV26");
	expect(t, cat(cat("BU003", lmk(t, TKM_SM4, "003", K2)), "X"), "BV26");
	/* Sealed. */
	dk = t->st.dk;
	t->st.dk = NULL;
	expect(t, "BU008K001", "BV13");
	t->st.dk = dk;
	hsmtest_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nc),
	    cmocka_unit_test(test_te_ok),
	    cmocka_unit_test(test_te_errors),
	    cmocka_unit_test(test_bu_ok),
	    cmocka_unit_test(test_bu_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
