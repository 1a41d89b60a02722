/*
 * test_dk.c - the device key: record wrapping bound to its context, and
 * the wire ("under DK") cryptograms (dk.h, docs/keystore.md).
 */
#include "hsmtest.h"

#include "dk.h"
#include "tkm/crypto.h"

static const struct hsm_wrap_ctx ctx0 = {HSM_LIB_DES, 0x123, "001", TKM_DES};

static int
setup(void **state)
{
	*state = hsmtest_dk();
	return 0;
}

static int
teardown(void **state)
{
	hsm_dk_free(*state);
	return 0;
}

static void
fill(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + 7 * i);
}

/* --- KCV ---------------------------------------------------------------- */

static void
test_kcv(void **state)
{
	static const char *const hex[HSM_DK_PARTS] = {
	    HSMTEST_DK_C1, HSMTEST_DK_C2, HSMTEST_DK_C3};
	uint8_t c[HSM_DK_LEN], dk[HSM_DK_LEN] = {0}, want[8], got[8];
	size_t i, j, n;

	for (i = 0; i < HSM_DK_PARTS; i++) {
		assert_int_equal(
		    tkm_hex_decode(hex[i], 32, c, sizeof(c), &n), TKM_OK);
		for (j = 0; j < HSM_DK_LEN; j++)
			dk[j] ^= c[j];
	}
	assert_int_equal(tkm_kcv(TKM_SM4, dk, sizeof(dk), want), TKM_OK);
	hsm_dk_kcv(*state, got);
	assert_memory_equal(got, want, 8);
}

/*
 * Known answers for the test DK, computed independently of libtkm with
 * Python (hashlib's SM3 in HMAC, KBKDF written out per SP 800-108 §4.1,
 * the cryptography package's SM4 and 3DES): they pin the labels, the
 * contexts and the record layout of docs/keystore.md.
 */
static void
test_kat(void **state)
{
	static const char blob_hex[] =
	    "01F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF"         /* version, IV */
	    "BF0D0E4F30EA145D9C21A41D9004CE96E70F3EFAF6" /* SM4-CTR */
	    "3B8672A701BAFA1D54901D0738153B9BF3870E4366E29641176B9EF097D8FB3D";
	uint8_t key[16], want[16], got[16], blob[128], secret[32], kcv[8];
	size_t n, bl;

	hsm_dk_kcv(*state, kcv);
	assert_int_equal(
	    tkm_hex_decode("C8FABC567BA0A5C6", 16, want, 8, &n), TKM_OK);
	assert_memory_equal(kcv, want, 8);

	assert_int_equal(tkm_hex_decode("0123456789ABCDEFFEDCBA9876543210", 32,
			     key, sizeof(key), &n),
	    TKM_OK);
	assert_int_equal(tkm_hex_decode("B192F07C0CA334463A81DB98CC8167BD", 32,
			     want, sizeof(want), &n),
	    TKM_OK);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_DES, "000", key, 16, got), TKM_OK);
	assert_memory_equal(got, want, 16);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_DES, "000", key, 8, got), TKM_OK);
	assert_memory_equal(got, want, 8);
	assert_int_equal(tkm_hex_decode("1F4983EE2C66ADACAECE4F2E48BCA06D", 32,
			     want, sizeof(want), &n),
	    TKM_OK);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_SM4, "001", key, 16, got), TKM_OK);
	assert_memory_equal(got, want, 16);

	assert_int_equal(
	    tkm_hex_decode(blob_hex, strlen(blob_hex), blob, sizeof(blob), &bl),
	    TKM_OK);
	assert_int_equal(
	    hsm_dk_unwrap(*state, &ctx0, blob, bl, secret, &n), TKM_OK);
	assert_int_equal(n, 21);
	assert_int_equal(tkm_hex_decode("00112233445566778899AABBCCDDEEFF"
					"0123456789",
			     42, blob, sizeof(blob), &bl),
	    TKM_OK);
	assert_memory_equal(secret, blob, 21);
}

static void
test_type_check(void **state)
{
	static const char *const good[] = {"000", "001", "002", "003", "008",
	    "00A", "109", "209", "309", "509"};
	static const char *const bad[] = {
	    "", "00", "0000", "00a", "004", "SM2", "RSA", "999"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(hsm_dk_type_check(good[i]), TKM_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hsm_dk_type_check(bad[i]), TKM_ERR_KEY_TYPE);
	assert_int_equal(hsm_dk_type_check(NULL), TKM_ERR_KEY_TYPE);
}

/* --- wrap / unwrap -------------------------------------------------------- */

#define BIG (HSM_MAX_SECRET + HSM_WRAP_OVERHEAD)

static void
test_wrap_round_trip(void **state)
{
	static const size_t lens[] = {
	    1, 8, 16, 17, 24, 32, 1200, HSM_MAX_SECRET};
	static uint8_t in[HSM_MAX_SECRET], blob[BIG], out[HSM_MAX_SECRET];
	size_t i, bl, ol;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		fill(in, lens[i], (uint8_t)i);
		assert_int_equal(
		    hsm_dk_wrap(*state, &ctx0, in, lens[i], blob, &bl), TKM_OK);
		assert_int_equal(bl, lens[i] + HSM_WRAP_OVERHEAD);
		assert_int_equal(blob[0], 1);
		/* Not the plaintext (CTR of a non-zero key stream). */
		assert_memory_not_equal(
		    blob + 17, in, lens[i] < 8 ? lens[i] : 8);
		assert_int_equal(
		    hsm_dk_unwrap(*state, &ctx0, blob, bl, out, &ol), TKM_OK);
		assert_int_equal(ol, lens[i]);
		assert_memory_equal(out, in, lens[i]);
	}
}

static void
test_wrap_iv_random(void **state)
{
	uint8_t in[16] = {0}, a[16 + HSM_WRAP_OVERHEAD],
		b[16 + HSM_WRAP_OVERHEAD];
	size_t al, bl;

	assert_int_equal(hsm_dk_wrap(*state, &ctx0, in, 16, a, &al), TKM_OK);
	assert_int_equal(hsm_dk_wrap(*state, &ctx0, in, 16, b, &bl), TKM_OK);
	assert_memory_not_equal(a + 1, b + 1, 16);
	assert_memory_not_equal(a + 17, b + 17, 16);
}

static void
test_wrap_bad_args(void **state)
{
	static uint8_t in[HSM_MAX_SECRET + 1], blob[BIG + 1];
	struct hsm_wrap_ctx c = ctx0;
	size_t bl = 99;

	assert_int_equal(
	    hsm_dk_wrap(*state, &ctx0, in, 0, blob, &bl), TKM_ERR_DATA_LEN);
	assert_int_equal(bl, 0);
	assert_int_equal(
	    hsm_dk_wrap(*state, &ctx0, in, HSM_MAX_SECRET + 1, blob, &bl),
	    TKM_ERR_DATA_LEN);
	memcpy(c.type, "01", 3);
	assert_int_equal(
	    hsm_dk_wrap(*state, &c, in, 16, blob, &bl), TKM_ERR_INPUT);
	assert_int_equal(bl, 0);
}

/* Every field of the context is bound: change any one and the tag fails,
 * and nothing is written to out. */
static void
test_wrap_context(void **state)
{
	uint8_t in[16], blob[16 + HSM_WRAP_OVERHEAD], out[16];
	struct hsm_wrap_ctx c[12];
	size_t i, bl, ol;

	for (i = 0; i < 12; i++)
		c[i] = ctx0;
	c[0].lib = HSM_LIB_SM4;
	c[1].lib = 0;
	c[2].index = 0x122;
	c[3].index = 0x023;  /* high byte */
	c[4].index = 0x1123; /* beyond 12 bits */
	c[5].type[0] = '1';
	c[6].type[1] = '1';
	c[7].type[2] = '2';
	c[8].alg = TKM_SM4;
	c[9].alg = 0;
	c[10].index = 99;
	c[10].lib = 0;
	memcpy(c[11].type, "003", 4);
	fill(in, sizeof(in), 1);
	assert_int_equal(hsm_dk_wrap(*state, &ctx0, in, 16, blob, &bl), TKM_OK);
	for (i = 0; i < 12; i++) {
		memset(out, 0xAA, sizeof(out));
		ol = 5;
		assert_int_equal(
		    hsm_dk_unwrap(*state, &c[i], blob, bl, out, &ol),
		    TKM_ERR_VERIFY);
		assert_int_equal(ol, 0);
		assert_true(out[0] == 0xAA && out[15] == 0xAA);
	}
}

static void
test_wrap_flipped(void **state)
{
	uint8_t in[24], blob[24 + HSM_WRAP_OVERHEAD], out[24], zero[24] = {0};
	size_t i, b, bl, ol;

	fill(in, sizeof(in), 3);
	assert_int_equal(hsm_dk_wrap(*state, &ctx0, in, 24, blob, &bl), TKM_OK);
	for (i = 0; i < bl; i++) {
		for (b = 0; b < 8; b++) {
			blob[i] ^= (uint8_t)(1u << b);
			memset(out, 0, sizeof(out));
			assert_int_equal(
			    hsm_dk_unwrap(*state, &ctx0, blob, bl, out, &ol),
			    TKM_ERR_VERIFY);
			assert_memory_equal(out, zero, sizeof(out));
			blob[i] ^= (uint8_t)(1u << b);
		}
	}
	assert_int_equal(
	    hsm_dk_unwrap(*state, &ctx0, blob, bl, out, &ol), TKM_OK);
}

static void
test_wrap_truncated(void **state)
{
	static uint8_t blob[BIG + 1], out[BIG];
	uint8_t in[32];
	size_t n, bl, ol;

	fill(in, sizeof(in), 5);
	assert_int_equal(hsm_dk_wrap(*state, &ctx0, in, 32, blob, &bl), TKM_OK);
	for (n = 0; n < bl; n++)
		assert_int_equal(
		    hsm_dk_unwrap(*state, &ctx0, blob, n, out, &ol),
		    TKM_ERR_VERIFY);
	/* Longer (an extra byte), and the tag moved. */
	blob[bl] = 0;
	assert_int_equal(hsm_dk_unwrap(*state, &ctx0, blob, bl + 1, out, &ol),
	    TKM_ERR_VERIFY);
	/* Absurd lengths are refused before any work. */
	assert_int_equal(hsm_dk_unwrap(*state, &ctx0, blob, BIG + 1, out, &ol),
	    TKM_ERR_VERIFY);
	/* A blob with another version byte, even with a good tag layout. */
	blob[0] = 2;
	assert_int_equal(
	    hsm_dk_unwrap(*state, &ctx0, blob, bl, out, &ol), TKM_ERR_VERIFY);
}

static void
test_wrap_other_dk(void **state)
{
	uint8_t c[HSM_DK_PARTS][HSM_DK_LEN] = {{1}, {2}, {4}};
	uint8_t in[16] = {9}, blob[16 + HSM_WRAP_OVERHEAD], out[16];
	struct hsm_dk *other;
	size_t bl, ol;

	assert_int_equal(hsm_dk_new(c, &other), TKM_OK);
	assert_int_equal(hsm_dk_wrap(*state, &ctx0, in, 16, blob, &bl), TKM_OK);
	assert_int_equal(
	    hsm_dk_unwrap(other, &ctx0, blob, bl, out, &ol), TKM_ERR_VERIFY);
	hsm_dk_free(other);
}

/* --- wire cryptograms ------------------------------------------------------
 */

static void
test_lmk_round_trip(void **state)
{
	static const struct {
		int alg;
		size_t len;
	} cases[] = {{TKM_DES, 8}, {TKM_DES, 16}, {TKM_DES, 24}, {TKM_SM4, 16}};
	uint8_t key[24], ct[24], back[24];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fill(key, cases[i].len, (uint8_t)(0x30 + i));
		if (cases[i].alg == TKM_DES)
			tkm_des_parity_set(key, cases[i].len);
		assert_int_equal(hsm_dk_lmk_encrypt(*state, cases[i].alg, "000",
				     key, cases[i].len, ct),
		    TKM_OK);
		assert_memory_not_equal(ct, key, cases[i].len);
		assert_int_equal(hsm_dk_lmk_decrypt(*state, cases[i].alg, "000",
				     ct, cases[i].len, back),
		    TKM_OK);
		assert_memory_equal(back, key, cases[i].len);
	}
}

/* The same key under two types, or two algorithms, gives two cryptograms:
 * the wire key is bound to (alg, type). */
static void
test_lmk_bound_to_type(void **state)
{
	uint8_t key[16], a[16], b[16], c[16], back[16];
	int rc;

	fill(key, 16, 0x41);
	tkm_des_parity_set(key, 16);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_DES, "000", key, 16, a), TKM_OK);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_DES, "003", key, 16, b), TKM_OK);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_SM4, "000", key, 16, c), TKM_OK);
	assert_memory_not_equal(a, b, 16);
	assert_memory_not_equal(a, c, 16);
	/* Under the wrong type it decrypts to garbage: parity catches it
	 * (or, with probability 2^-16, a different key). */
	rc = hsm_dk_lmk_decrypt(*state, TKM_DES, "003", a, 16, back);
	if (rc == TKM_OK)
		assert_memory_not_equal(back, key, 16);
	else
		assert_int_equal(rc, TKM_ERR_PARITY);
}

static void
test_lmk_parity(void **state)
{
	uint8_t key[16], ct[16], back[16], zero[16] = {0};

	fill(key, 16, 0x10);
	tkm_des_parity_set(key, 16);
	key[5] ^= 1; /* one byte of even parity */
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_DES, "001", key, 16, ct), TKM_OK);
	memset(back, 0x55, sizeof(back));
	assert_int_equal(
	    hsm_dk_lmk_decrypt(*state, TKM_DES, "001", ct, 16, back),
	    TKM_ERR_PARITY);
	/* The bad key is not handed out. */
	assert_memory_equal(back, zero, 16);
	/* SM4 keys have no parity. */
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_SM4, "001", key, 16, ct), TKM_OK);
	assert_int_equal(
	    hsm_dk_lmk_decrypt(*state, TKM_SM4, "001", ct, 16, back), TKM_OK);
	assert_memory_equal(back, key, 16);
}

static void
test_lmk_errors(void **state)
{
	uint8_t key[32] = {0}, out[32];

	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_DES, "004", key, 16, out),
	    TKM_ERR_KEY_TYPE);
	assert_int_equal(
	    hsm_dk_lmk_decrypt(*state, TKM_SM4, "SM2", key, 16, out),
	    TKM_ERR_KEY_TYPE);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_DES, NULL, key, 16, out),
	    TKM_ERR_KEY_TYPE);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_DES, "000", key, 12, out),
	    TKM_ERR_KEY_LEN);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, TKM_DES, "000", key, 32, out),
	    TKM_ERR_KEY_LEN);
	assert_int_equal(
	    hsm_dk_lmk_decrypt(*state, TKM_SM4, "000", key, 8, out),
	    TKM_ERR_KEY_LEN);
	assert_int_equal(
	    hsm_dk_lmk_decrypt(*state, TKM_SM4, "000", key, 24, out),
	    TKM_ERR_KEY_LEN);
	assert_int_equal(
	    hsm_dk_lmk_encrypt(*state, 3, "000", key, 16, out), TKM_ERR_MODE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kcv),
	    cmocka_unit_test(test_kat),
	    cmocka_unit_test(test_type_check),
	    cmocka_unit_test(test_wrap_round_trip),
	    cmocka_unit_test(test_wrap_iv_random),
	    cmocka_unit_test(test_wrap_bad_args),
	    cmocka_unit_test(test_wrap_context),
	    cmocka_unit_test(test_wrap_flipped),
	    cmocka_unit_test(test_wrap_truncated),
	    cmocka_unit_test(test_wrap_other_dk),
	    cmocka_unit_test(test_lmk_round_trip),
	    cmocka_unit_test(test_lmk_bound_to_type),
	    cmocka_unit_test(test_lmk_parity),
	    cmocka_unit_test(test_lmk_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
