/*
 * test_derive.c - key diversification and factors (derive.h).
 *
 * No public worked example of the multi-level derivation was found; the
 * expected keys were computed independently with Debian's python3-botan
 * (as in tests/kat/sym.txt), and the structure (level by level, D || ~D)
 * is checked against tkm_cipher.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	assert_int_equal(
	    tkm_hex_decode(hex, strlen(hex), out, cap, &n), TKM_OK);
	return n;
}

#define CITY "5810FF0000000000"
#define CARD "0000000012345678"
#define F3   "0102030405060708"
#define F45  "FFFFFFFFFFFFFFFF0000000000000000"

static const struct derive_kat {
	int alg;
	const char *mk, *d, *out;
} derive_kats[] = {
    {TKM_DES, "11223344556677888877665544332211", CITY,
	"C3D1922DD76658CABB34C6A55D691A25"},
    {TKM_DES, "11223344556677888877665544332211", CITY CARD,
	"52743E479273522E302EA467C561CBE7"},
    {TKM_DES, "11223344556677888877665544332211", CITY CARD F3,
	"C9A2CFE6EF2194161596102915F5D6C2"},
    {TKM_DES, "11223344556677888877665544332211", CITY CARD F3 F45,
	"722FAE5C5EFF10199CDCC691BDDC1DC6"},
    {TKM_DES, "0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123", CITY,
	"65E02F8B34AC91A0A1BEE37062EF4F03"},
    {TKM_DES, "0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123", CITY CARD,
	"F5E8138FB22304E8EAC26295013743FB"},
    {TKM_SM4, "0123456789ABCDEFFEDCBA9876543210", CITY,
	"825E15DE01DE3A0425B54E3E2D6258A6"},
    {TKM_SM4, "0123456789ABCDEFFEDCBA9876543210", CITY CARD,
	"792F1A5B8C6510A55E44E0302C1224A0"},
    {TKM_SM4, "0123456789ABCDEFFEDCBA9876543210", CITY CARD F3,
	"6BF0787E2B6624FD322F8637CAFCBDEA"},
    {TKM_SM4, "0123456789ABCDEFFEDCBA9876543210", CITY CARD F3 F45,
	"FD628C8C6C70BE9AE99CB5A954C87A1D"},
};

static void
test_derive_kats(void **state)
{
	uint8_t mk[24], d[40], want[16], got[16];
	size_t i, ml, dl;

	(void)state;
	for (i = 0; i < sizeof(derive_kats) / sizeof(derive_kats[0]); i++) {
		ml = unhex(derive_kats[i].mk, mk, sizeof(mk));
		dl = unhex(derive_kats[i].d, d, sizeof(d));
		unhex(derive_kats[i].out, want, sizeof(want));
		assert_int_equal(
		    tkm_derive(derive_kats[i].alg, mk, ml, d, dl / 8, got),
		    TKM_OK);
		assert_memory_equal(got, want, 16);
	}
}

/* One level is E(MK, D) || E(MK, ~D) in ECB; n levels are n single
 * levels in a row; the result is not parity adjusted. */
static void
test_derive_structure(void **state)
{
	static const int algs[] = {TKM_DES, TKM_SM4};
	uint8_t mk[16], d[40], in[16], want[16], got[16], step[16];
	size_t a, i, n;

	(void)state;
	unhex("11223344556677888877665544332211", mk, sizeof(mk));
	unhex(CITY CARD F3 F45, d, sizeof(d));
	for (a = 0; a < 2; a++) {
		for (i = 0; i < 8; i++) {
			in[i] = d[i];
			in[i + 8] = (uint8_t)~d[i];
		}
		assert_int_equal(tkm_cipher(algs[a], TKM_ECB, TKM_ENCRYPT, mk,
				     16, NULL, in, 16, want),
		    TKM_OK);
		assert_int_equal(
		    tkm_derive(algs[a], mk, 16, d, 1, got), TKM_OK);
		assert_memory_equal(got, want, 16);
		for (n = 2; n <= TKM_MAX_LEVELS; n++) {
			assert_int_equal(
			    tkm_derive(algs[a], mk, 16, d, n - 1, step),
			    TKM_OK);
			assert_int_equal(tkm_derive(algs[a], step, 16,
					     d + (n - 1) * 8, 1, want),
			    TKM_OK);
			assert_int_equal(
			    tkm_derive(algs[a], mk, 16, d, n, got), TKM_OK);
			assert_memory_equal(got, want, 16);
		}
	}
	/* C3 D1 ..: 0xC3 has an even number of ones and is kept as is */
	assert_int_equal(tkm_derive(TKM_DES, mk, 16, d, 1, got), TKM_OK);
	assert_false(tkm_des_parity_ok(got, 16));
}

static void
test_derive_errors(void **state)
{
	uint8_t mk[24] = {1}, d[48] = {0}, out[16];

	(void)state;
	/* n = 0 copies a 16-byte MK */
	assert_int_equal(tkm_derive(TKM_SM4, mk, 16, NULL, 0, out), TKM_OK);
	assert_memory_equal(out, mk, 16);
	memset(out, 0xA5, sizeof(out));
	assert_int_equal(
	    tkm_derive(TKM_DES, mk, 24, d, 0, out), TKM_ERR_KEY_LEN);
	assert_int_equal(out[0] | out[15], 0);
	assert_int_equal(
	    tkm_derive(TKM_DES, mk, 8, d, 1, out), TKM_ERR_KEY_LEN);
	assert_int_equal(
	    tkm_derive(TKM_SM4, mk, 24, d, 1, out), TKM_ERR_KEY_LEN);
	assert_int_equal(
	    tkm_derive(TKM_SM4, mk, 16, d, TKM_MAX_LEVELS + 1, out),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_derive(TKM_SM4, mk, 16, NULL, 1, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_derive(TKM_SM4, NULL, 16, d, 1, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_derive(TKM_SM4, mk, 16, d, 1, NULL), TKM_ERR_INPUT);
	assert_int_equal(tkm_derive(0, mk, 16, d, 1, out), TKM_ERR_MODE);
}

static void
test_city_factor(void **state)
{
	static const struct {
		const char *city, *out;
		int rc;
	} t[] = {
	    {"5810", "5810FF0000000000", TKM_OK}, /* DESIGN §3.2 example */
	    {"0000", "0000FF0000000000", TKM_OK},
	    {"9999", "9999FF0000000000", TKM_OK},
	    {"581", NULL, TKM_ERR_INPUT},
	    {"58100", NULL, TKM_ERR_INPUT},
	    {"", NULL, TKM_ERR_INPUT},
	    {"58a0", NULL, TKM_ERR_INPUT},
	    {"58 0", NULL, TKM_ERR_INPUT},
	    {"5:10", NULL, TKM_ERR_INPUT},
	};
	uint8_t want[8], got[8];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(got, 0xA5, sizeof(got));
		assert_int_equal(tkm_city_factor(t[i].city, got), t[i].rc);
		if (t[i].out != NULL) {
			unhex(t[i].out, want, sizeof(want));
			assert_memory_equal(got, want, 8);
		} else {
			memset(want, 0, sizeof(want));
			assert_memory_equal(got, want, 8);
		}
	}
	assert_int_equal(tkm_city_factor(NULL, got), TKM_ERR_INPUT);
	assert_int_equal(tkm_city_factor("5810", NULL), TKM_ERR_INPUT);
}

static void
test_card_factor(void **state)
{
	uint8_t asn[11], out[8];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(asn); i++)
		asn[i] = (uint8_t)(0xA0 + i);
	for (i = 8; i <= 10; i++) {
		assert_int_equal(tkm_card_factor(asn, i, out), TKM_OK);
		assert_memory_equal(out, asn + i - 8, 8);
	}
	assert_int_equal(tkm_card_factor(asn, 7, out), TKM_ERR_DATA_LEN);
	assert_int_equal(tkm_card_factor(asn, 11, out), TKM_ERR_DATA_LEN);
	assert_int_equal(tkm_card_factor(NULL, 8, out), TKM_ERR_INPUT);
	assert_int_equal(tkm_card_factor(asn, 8, NULL), TKM_ERR_INPUT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_derive_kats),
	    cmocka_unit_test(test_derive_structure),
	    cmocka_unit_test(test_derive_errors),
	    cmocka_unit_test(test_city_factor),
	    cmocka_unit_test(test_card_factor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
