/*
 * test_crypto.c - block ciphers, digests, HMAC, random, DES parity, KCV and
 * key components (crypto.h).
 *
 * Expected values come from the standards and public test suites named at
 * each table; "computed" values were recomputed independently with
 * Debian's python3-botan (see tests/kat/sym.txt).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tkm/buf.h"
#include "tkm/crypto.h"

#define MAXB 512

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	assert_int_equal(
	    tkm_hex_decode(hex, strlen(hex), out, cap, &n), TKM_OK);
	return n;
}

/* --- block ciphers ----------------------------------------------------- */

static const struct cipher_kat {
	const char *src;
	int alg, mode;
	const char *key, *iv, *in, *out;
} cipher_kats[] = {
    {"FIPS 81 / public.txt des.ecb", TKM_DES, TKM_ECB, "0123456789ABCDEF", NULL,
	"4E6F772069732074", "3FA40E8A984D4815"},
    {"SP 800-67 / public.txt tdes3.ecb", TKM_DES, TKM_ECB,
	"0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123", NULL,
	"54686520717566636B2062726F776E20666F78206A756D70",
	"A826FD8CE53B855FCCE21C8112256FE668D5C05DD9B6B900"},
    {"Botan des.vec TripleDES", TKM_DES, TKM_ECB,
	"0123456789ABCDEFFEDCBA9876543210", NULL, "0123456789ABCDE7",
	"7F1D0A77826B8AFF"},
    {"Botan des.vec TripleDES", TKM_DES, TKM_ECB,
	"4BC59E2C68ACA60767A9A4B623BBBCCC", NULL, "AFA4284FCCEAA61A",
	"32527D5701D92B90"},
    {"FIPS 81 appendix C CBC", TKM_DES, TKM_CBC, "0123456789ABCDEF",
	"1234567890ABCDEF", "4E6F77206973207468652074696D6520666F7220616C6C20",
	"E5C7CDDE872BF27C43E934008C389C0F683788499A7C05F6"},
    {"computed 3-key CBC", TKM_DES, TKM_CBC,
	"0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123", "F0F1F2F3F4F5F6F7",
	"54686520717566636B2062726F776E20666F78206A756D70",
	"846073E455ECD64ED2D6734618D4B9AE3B7E6D9134C0383C"},
    {"GB/T 32907 example 1 / public.txt sm4.ecb", TKM_SM4, TKM_ECB,
	"0123456789ABCDEFFEDCBA9876543210", NULL,
	"0123456789ABCDEFFEDCBA9876543210", "681EDF34D206965E86B3E94F536E4246"},
    {"draft-ribose-cfrg-sm4 A.2.2.1", TKM_SM4, TKM_CBC,
	"0123456789ABCDEFFEDCBA9876543210", "000102030405060708090A0B0C0D0E0F",
	"AAAAAAAABBBBBBBBCCCCCCCCDDDDDDDDEEEEEEEEFFFFFFFFAAAAAAAABBBBBBBB",
	"78EBB11CC40B0A48312AAEB2040244CB4CB7016951909226979B0D15DC6A8F6D"},
    {"draft-ribose-cfrg-sm4 A.2.2.2", TKM_SM4, TKM_CBC,
	"FEDCBA98765432100123456789ABCDEF", "000102030405060708090A0B0C0D0E0F",
	"AAAAAAAABBBBBBBBCCCCCCCCDDDDDDDDEEEEEEEEFFFFFFFFAAAAAAAABBBBBBBB",
	"0D3A6DDC2D21C698857215587B7BB59A91F2C147911A4144665E1FA1D40BAE38"},
};

static void
run_cipher_kat(const struct cipher_kat *k)
{
	uint8_t key[32], iv[16], in[MAXB], want[MAXB], got[MAXB], ivcopy[16];
	size_t kl = unhex(k->key, key, sizeof(key));
	size_t n = unhex(k->in, in, sizeof(in));
	const uint8_t *ivp = NULL;
	size_t ivl = 0;

	assert_int_equal(unhex(k->out, want, sizeof(want)), n);
	if (k->iv != NULL) {
		ivl = unhex(k->iv, iv, sizeof(iv));
		assert_int_equal(ivl, tkm_block_len(k->alg));
		memcpy(ivcopy, iv, ivl);
		ivp = iv;
	}
	assert_int_equal(
	    tkm_cipher(k->alg, k->mode, TKM_ENCRYPT, key, kl, ivp, in, n, got),
	    TKM_OK);
	assert_memory_equal(got, want, n);
	assert_int_equal(tkm_cipher(k->alg, k->mode, TKM_DECRYPT, key, kl, ivp,
			     want, n, got),
	    TKM_OK);
	assert_memory_equal(got, in, n);
	/* in place, both ways */
	memcpy(got, in, n);
	assert_int_equal(
	    tkm_cipher(k->alg, k->mode, TKM_ENCRYPT, key, kl, ivp, got, n, got),
	    TKM_OK);
	assert_memory_equal(got, want, n);
	assert_int_equal(
	    tkm_cipher(k->alg, k->mode, TKM_DECRYPT, key, kl, ivp, got, n, got),
	    TKM_OK);
	assert_memory_equal(got, in, n);
	/* the IV is not updated */
	if (ivp != NULL)
		assert_memory_equal(iv, ivcopy, ivl);
}

static void
test_cipher_kats(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cipher_kats) / sizeof(cipher_kats[0]); i++)
		run_cipher_kat(&cipher_kats[i]);
}

/* GB/T 32907 example 2 (public.txt sm4.ecb.1e6): 1,000,000 encryptions. */
static void
test_sm4_1e6(void **state)
{
	uint8_t key[16], b[16], want[16];
	long i;

	(void)state;
	unhex("0123456789ABCDEFFEDCBA9876543210", key, sizeof(key));
	unhex("0123456789ABCDEFFEDCBA9876543210", b, sizeof(b));
	unhex("595298C7C6FD271F0402F804C33D3F66", want, sizeof(want));
	for (i = 0; i < 1000000; i++)
		assert_int_equal(
		    tkm_encrypt_block(TKM_SM4, key, 16, b, b), TKM_OK);
	assert_memory_equal(b, want, 16);
}

/* K, K|K and K|K|K are the same single-DES key (X9.52 keying option 3). */
static void
test_des_key_forms(void **state)
{
	uint8_t k[24], in[8], a[8], b[8], c[8];

	(void)state;
	unhex("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", k, sizeof(k));
	unhex("4E6F772069732074", in, sizeof(in));
	assert_int_equal(tkm_encrypt_block(TKM_DES, k, 8, in, a), TKM_OK);
	assert_int_equal(tkm_encrypt_block(TKM_DES, k, 16, in, b), TKM_OK);
	assert_int_equal(tkm_encrypt_block(TKM_DES, k, 24, in, c), TKM_OK);
	assert_memory_equal(a, b, 8);
	assert_memory_equal(a, c, 8);
	assert_int_equal(tkm_decrypt_block(TKM_DES, k, 8, a, b), TKM_OK);
	assert_memory_equal(b, in, 8);
	/* K1|K2 is K1|K2|K1: a 24-byte key with K3 = K1 gives the same */
	unhex("0123456789ABCDEFFEDCBA98765432100123456789ABCDEF", k, sizeof(k));
	assert_int_equal(tkm_encrypt_block(TKM_DES, k, 16, in, a), TKM_OK);
	assert_int_equal(tkm_encrypt_block(TKM_DES, k, 24, in, b), TKM_OK);
	assert_memory_equal(a, b, 8);
}

/* CBC in two calls, the second with the last ciphertext block as IV,
 * equals one call; a NULL IV is the zero IV. */
static void
test_cbc_chaining(void **state)
{
	static const int algs[] = {TKM_DES, TKM_SM4};
	uint8_t key[16], in[96], one[96], two[96], zero[16] = {0};
	size_t i, bs;

	(void)state;
	unhex("0123456789ABCDEFFEDCBA9876543210", key, sizeof(key));
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);
	for (i = 0; i < 2; i++) {
		bs = tkm_block_len(algs[i]);
		assert_int_equal(tkm_cipher(algs[i], TKM_CBC, TKM_ENCRYPT, key,
				     16, NULL, in, sizeof(in), one),
		    TKM_OK);
		assert_int_equal(tkm_cipher(algs[i], TKM_CBC, TKM_ENCRYPT, key,
				     16, zero, in, 2 * bs, two),
		    TKM_OK);
		assert_int_equal(
		    tkm_cipher(algs[i], TKM_CBC, TKM_ENCRYPT, key, 16, two + bs,
			in + 2 * bs, sizeof(in) - 2 * bs, two + 2 * bs),
		    TKM_OK);
		assert_memory_equal(one, two, sizeof(in));
		/* ECB differs from CBC after the first block */
		assert_int_equal(tkm_cipher(algs[i], TKM_ECB, TKM_ENCRYPT, key,
				     16, NULL, in, sizeof(in), two),
		    TKM_OK);
		assert_memory_equal(one, two, bs);
		assert_memory_not_equal(one + bs, two + bs, bs);
	}
}

static void
test_cipher_errors(void **state)
{
	uint8_t key[32] = {0}, in[32] = {0}, out[32];
	static const struct {
		int alg, mode, dir;
		size_t klen, len;
		int rc;
	} t[] = {
	    {0, TKM_ECB, TKM_ENCRYPT, 16, 16, TKM_ERR_MODE},
	    {3, TKM_ECB, TKM_ENCRYPT, 16, 16, TKM_ERR_MODE},
	    {TKM_DES, 2, TKM_ENCRYPT, 16, 16, TKM_ERR_MODE}, /* no DES CTR */
	    {TKM_SM4, 3, TKM_ENCRYPT, 16, 16, TKM_ERR_MODE},
	    {TKM_DES, TKM_ECB, 2, 16, 16, TKM_ERR_MODE},
	    {TKM_DES, TKM_ECB, -1, 16, 16, TKM_ERR_MODE},
	    {TKM_DES, TKM_ECB, TKM_ENCRYPT, 0, 8, TKM_ERR_KEY_LEN},
	    {TKM_DES, TKM_ECB, TKM_ENCRYPT, 7, 8, TKM_ERR_KEY_LEN},
	    {TKM_DES, TKM_ECB, TKM_ENCRYPT, 15, 8, TKM_ERR_KEY_LEN},
	    {TKM_DES, TKM_ECB, TKM_ENCRYPT, 32, 8, TKM_ERR_KEY_LEN},
	    {TKM_SM4, TKM_ECB, TKM_ENCRYPT, 8, 16, TKM_ERR_KEY_LEN},
	    {TKM_SM4, TKM_ECB, TKM_ENCRYPT, 24, 16, TKM_ERR_KEY_LEN},
	    {TKM_DES, TKM_ECB, TKM_ENCRYPT, 8, 7, TKM_ERR_DATA_LEN},
	    {TKM_DES, TKM_CBC, TKM_DECRYPT, 16, 12, TKM_ERR_DATA_LEN},
	    {TKM_SM4, TKM_ECB, TKM_ENCRYPT, 16, 8, TKM_ERR_DATA_LEN},
	    {TKM_SM4, TKM_CBC, TKM_ENCRYPT, 16, 17, TKM_ERR_DATA_LEN},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(tkm_cipher(t[i].alg, t[i].mode, t[i].dir, key,
				     t[i].klen, NULL, in, t[i].len, out),
		    t[i].rc);
	assert_int_equal(tkm_cipher(TKM_DES, TKM_ECB, TKM_ENCRYPT, NULL, 8,
			     NULL, in, 8, out),
	    TKM_ERR_INPUT);
	assert_int_equal(tkm_cipher(TKM_DES, TKM_ECB, TKM_ENCRYPT, key, 8, NULL,
			     NULL, 8, out),
	    TKM_ERR_INPUT);
	assert_int_equal(tkm_cipher(TKM_SM4, TKM_ECB, TKM_ENCRYPT, key, 16,
			     NULL, in, 16, NULL),
	    TKM_ERR_INPUT);
	/* empty data is fine and writes nothing */
	memset(out, 0xA5, sizeof(out));
	assert_int_equal(tkm_cipher(TKM_SM4, TKM_CBC, TKM_ENCRYPT, key, 16,
			     NULL, NULL, 0, out),
	    TKM_OK);
	assert_int_equal(out[0], 0xA5);
	assert_int_equal(tkm_encrypt_block(9, key, 16, in, out), TKM_ERR_MODE);
}

static void
test_lengths(void **state)
{
	(void)state;
	assert_int_equal(tkm_block_len(TKM_DES), 8);
	assert_int_equal(tkm_block_len(TKM_SM4), 16);
	assert_int_equal(tkm_block_len(0), 0);
	assert_int_equal(tkm_key_len_ok(TKM_DES, 8), TKM_OK);
	assert_int_equal(tkm_key_len_ok(TKM_DES, 16), TKM_OK);
	assert_int_equal(tkm_key_len_ok(TKM_DES, 24), TKM_OK);
	assert_int_equal(tkm_key_len_ok(TKM_DES, 32), TKM_ERR_KEY_LEN);
	assert_int_equal(tkm_key_len_ok(TKM_SM4, 16), TKM_OK);
	assert_int_equal(tkm_key_len_ok(TKM_SM4, 8), TKM_ERR_KEY_LEN);
	assert_int_equal(tkm_key_len_ok(7, 16), TKM_ERR_KEY_LEN);
	assert_int_equal(tkm_hash_len(TKM_SHA1), 20);
	assert_int_equal(tkm_hash_len(TKM_MD5), 16);
	assert_int_equal(tkm_hash_len(TKM_SHA256), 32);
	assert_int_equal(tkm_hash_len(TKM_SM3), 32);
	assert_int_equal(tkm_hash_len(3), 0);
}

/* --- digests and HMAC ------------------------------------------------- */

static const struct hash_kat {
	int hash;
	const char *in, *out;
} hash_kats[] = {
    /* GB/T 32905 examples 1 and 2 (public.txt sm3) */
    {TKM_SM3, "616263",
	"66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0"},
    {TKM_SM3,
	"61626364616263646162636461626364616263646162636461626364616263646162"
	"636461626364616263646162636461626364616263646162636461626364",
	"DEBE9FF92275B8A138604889C18E5A4D6FDB70E5387E5765293DCBA39C0C5732"},
    /* FIPS 180-2 */
    {TKM_SHA1, "", "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"},
    {TKM_SHA1, "616263", "A9993E364706816ABA3E25717850C26C9CD0D89D"},
    {TKM_SHA256, "",
	"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"},
    {TKM_SHA256, "616263",
	"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"},
    /* RFC 1321 A.5 */
    {TKM_MD5, "", "D41D8CD98F00B204E9800998ECF8427E"},
    {TKM_MD5, "6D65737361676520646967657374",
	"F96B697D7CB7938D525A2F31AAF161D0"},
};

static void
test_hash_kats(void **state)
{
	uint8_t in[MAXB], want[32], got[32];
	size_t i, n, h;

	(void)state;
	for (i = 0; i < sizeof(hash_kats) / sizeof(hash_kats[0]); i++) {
		n = unhex(hash_kats[i].in, in, sizeof(in));
		h = unhex(hash_kats[i].out, want, sizeof(want));
		assert_int_equal(h, tkm_hash_len(hash_kats[i].hash));
		assert_int_equal(
		    tkm_hash(hash_kats[i].hash, in, n, got), TKM_OK);
		assert_memory_equal(got, want, h);
	}
}

/* The digest of parts is the digest of their concatenation, wherever
 * the cuts are, empty parts included. */
static void
test_hashv(void **state)
{
	uint8_t msg[200], whole[32], got[32];
	const void *parts[4];
	size_t lens[4], a, b;

	(void)state;
	for (a = 0; a < sizeof(msg); a++)
		msg[a] = (uint8_t)a;
	assert_int_equal(tkm_hash(TKM_SM3, msg, sizeof(msg), whole), TKM_OK);
	for (a = 0; a <= sizeof(msg); a += 37)
		for (b = a; b <= sizeof(msg); b += 53) {
			parts[0] = msg;
			lens[0] = a;
			parts[1] = NULL;
			lens[1] = 0;
			parts[2] = msg + a;
			lens[2] = b - a;
			parts[3] = msg + b;
			lens[3] = sizeof(msg) - b;
			assert_int_equal(
			    tkm_hashv(TKM_SM3, parts, lens, 4, got), TKM_OK);
			assert_memory_equal(got, whole, 32);
		}
	/* n = 0 is the empty message */
	assert_int_equal(tkm_hashv(TKM_SHA256, NULL, NULL, 0, got), TKM_OK);
	assert_int_equal(tkm_hash(TKM_SHA256, NULL, 0, whole), TKM_OK);
	assert_memory_equal(got, whole, 32);
}

static void
test_hash_errors(void **state)
{
	uint8_t out[32];
	const void *parts[1] = {NULL};
	size_t lens[1] = {5};

	(void)state;
	assert_int_equal(tkm_hash(0, "abc", 3, out), TKM_ERR_MODE);
	assert_int_equal(tkm_hash(TKM_SM3, NULL, 3, out), TKM_ERR_INPUT);
	assert_int_equal(tkm_hash(TKM_SM3, "abc", 3, NULL), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_hashv(TKM_SM3, parts, lens, 1, out), TKM_ERR_INPUT);
	assert_int_equal(tkm_hashv(TKM_SM3, NULL, lens, 1, out), TKM_ERR_INPUT);
}

static const struct hmac_kat {
	const char *src;
	int hash;
	const char *key, *in, *out;
} hmac_kats[] = {
    {"GM/T 0042-2015 D.3 #3", TKM_SM3,
	"0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B",
	"4869205468657265",
	"C0BA18C68B90C88BC07DE794BFC7D2C8D19EC31ED8773BC2B390C9604E0BE11E"},
    {"GM/T 0042-2015 D.3 #4", TKM_SM3, "4A656665",
	"7768617420646F2079612077616E7420666F72206E6F7468696E673F",
	"2E87F1D16862E6D964B50A5200BF2B10B764FAA9680A296A2405F24BEC39F882"},
    {"GM/T 0042-2015 D.3 #2 (37-byte key)", TKM_SM3,
	"0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20"
	"2122232425",
	"CDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCD"
	"CDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCD",
	"220BF579DED555393F0159F66C99877822A3ECF610D1552154B41D44B94DB3AE"},
    {"RFC 4231 #1", TKM_SHA256, "0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B",
	"4869205468657265",
	"B0344C61D8DB38535CA8AFCEAF0BF12B881DC200C9833DA726E9376C2E32CFF7"},
    {"RFC 4231 #2", TKM_SHA256, "4A656665",
	"7768617420646F2079612077616E7420666F72206E6F7468696E673F",
	"5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"},
    {"RFC 2202 #1", TKM_SHA1, "0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B",
	"4869205468657265", "B617318655057264E28BC0B6FB378C8EF146BE00"},
    {"RFC 2202 #1", TKM_MD5, "0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B",
	"4869205468657265", "9294727A3638BB1C13F48EF8158BFC9D"},
    {"computed, empty key and data", TKM_SHA256, "", "",
	"B613679A0814D9EC772F95D778C35FC5FF1697C493715653C6C712144292C5AD"},
    {"computed, empty key", TKM_SM3, "", "616263",
	"36525058CA466791502435C910517F1A7E86613D5F35AC1F18A94DEF0EAAC81F"},
};

static void
test_hmac_kats(void **state)
{
	uint8_t key[64], in[MAXB], want[32], got[32];
	size_t i, r, kl, n, h;

	(void)state;
	/* Twice round, so that every per-thread HMAC context is re-keyed
	 * after holding another key (and an empty key after a real one). */
	for (r = 0; r < 2; r++)
		for (i = 0; i < sizeof(hmac_kats) / sizeof(hmac_kats[0]); i++) {
			kl = unhex(hmac_kats[i].key, key, sizeof(key));
			n = unhex(hmac_kats[i].in, in, sizeof(in));
			h = unhex(hmac_kats[i].out, want, sizeof(want));
			assert_int_equal(
			    tkm_hmac(hmac_kats[i].hash, key, kl, in, n, got),
			    TKM_OK);
			assert_memory_equal(got, want, h);
		}
}

static void
test_hmac_errors(void **state)
{
	uint8_t key[16] = {0}, out[32];

	(void)state;
	assert_int_equal(tkm_hmac(4, key, 16, "a", 1, out), TKM_ERR_MODE);
	assert_int_equal(
	    tkm_hmac(TKM_SM3, NULL, 16, "a", 1, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_hmac(TKM_SM3, key, 16, NULL, 1, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_hmac(TKM_SM3, key, 16, "a", 1, NULL), TKM_ERR_INPUT);
	assert_int_equal(tkm_hmac(TKM_SM3, NULL, 0, NULL, 0, out), TKM_OK);
}

/* --- random, parity, KCV, components ------------------------------------ */

static void
test_random(void **state)
{
	uint8_t a[32] = {0}, b[32] = {0}, z[32] = {0};

	(void)state;
	assert_int_equal(tkm_random(a, sizeof(a)), TKM_OK);
	assert_int_equal(tkm_random(b, sizeof(b)), TKM_OK);
	/* 2^-256 chance each of a false failure */
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, z, sizeof(a));
	assert_int_equal(tkm_random(NULL, 0), TKM_OK);
	assert_int_equal(tkm_random(NULL, 1), TKM_ERR_INPUT);
}

static void
test_parity(void **state)
{
	uint8_t k[256], orig[256], good[8];
	unsigned i, ones;

	(void)state;
	for (i = 0; i < 256; i++)
		k[i] = orig[i] = (uint8_t)i;
	assert_false(tkm_des_parity_ok(k, sizeof(k)));
	tkm_des_parity_set(k, sizeof(k));
	assert_true(tkm_des_parity_ok(k, sizeof(k)));
	for (i = 0; i < 256; i++) {
		/* only the low bit may change, and the count is odd */
		assert_int_equal(k[i] & 0xFE, orig[i] & 0xFE);
		ones = (unsigned)__builtin_popcount(k[i]);
		assert_int_equal(ones % 2, 1);
	}
	assert_int_equal(k[0x00], 0x01);
	assert_int_equal(k[0xFF], 0xFE);
	assert_int_equal(k[0x01], 0x01);
	/* the FIPS 81 key already has odd parity */
	unhex("0123456789ABCDEF", good, sizeof(good));
	assert_true(tkm_des_parity_ok(good, 8));
	good[7] ^= 1;
	assert_false(tkm_des_parity_ok(good, 8));
	assert_true(tkm_des_parity_ok(good, 0));
}

static void
test_kcv(void **state)
{
	static const struct {
		int alg;
		const char *key, *kcv, *src;
	} t[] = {
	    {TKM_DES, "0123456789ABCDEF", "D5D44FF720683D0D", "computed"},
	    {TKM_DES, "0123456789ABCDEFFEDCBA9876543210", "08D7B4FB629D0885",
		"pyemv test_kd_hsm.py (08D7)"},
	    {TKM_DES, "FEDCBA98765432100123456789ABCDEF", "7B83586D405902B3",
		"pyemv test_kd_hsm.py (7B83)"},
	    {TKM_DES, "0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123",
		"4EBA739C998BCB60", "computed"},
	    {TKM_SM4, "0123456789ABCDEFFEDCBA9876543210", "2677F46B09C122CC",
		"computed"},
	};
	uint8_t key[24], want[8], got[8];
	size_t i, kl;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		kl = unhex(t[i].key, key, sizeof(key));
		unhex(t[i].kcv, want, sizeof(want));
		assert_int_equal(tkm_kcv(t[i].alg, key, kl, got), TKM_OK);
		assert_memory_equal(got, want, 8);
	}
	memset(got, 0xA5, sizeof(got));
	assert_int_equal(tkm_kcv(TKM_SM4, key, 8, got), TKM_ERR_KEY_LEN);
	assert_int_equal(got[0] | got[7], 0);
	assert_int_equal(tkm_kcv(0, key, 16, got), TKM_ERR_MODE);
	assert_int_equal(tkm_kcv(TKM_DES, NULL, 16, got), TKM_ERR_INPUT);
	assert_int_equal(tkm_kcv(TKM_DES, key, 16, NULL), TKM_ERR_INPUT);
}

static void
test_component_random(void **state)
{
	static const size_t des_len[] = {8, 16, 24};
	uint8_t a[24], b[24];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(
		    tkm_component_random(TKM_DES, des_len[i], a), TKM_OK);
		assert_true(tkm_des_parity_ok(a, des_len[i]));
	}
	assert_int_equal(tkm_component_random(TKM_SM4, 16, a), TKM_OK);
	assert_int_equal(tkm_component_random(TKM_SM4, 16, b), TKM_OK);
	assert_memory_not_equal(a, b, 16);
	assert_int_equal(tkm_component_random(TKM_SM4, 24, a), TKM_ERR_KEY_LEN);
	assert_int_equal(tkm_component_random(TKM_DES, 12, a), TKM_ERR_KEY_LEN);
	assert_int_equal(tkm_component_random(5, 16, a), TKM_ERR_MODE);
	assert_int_equal(
	    tkm_component_random(TKM_DES, 16, NULL), TKM_ERR_INPUT);
}

static void
test_components_combine(void **state)
{
	uint8_t p1[16], p2[16], p3[16], want[16], out[16];
	const uint8_t *parts[10];
	size_t i;

	(void)state;
	unhex("0123456789ABCDEFFEDCBA9876543210", p1, 16);
	unhex("11111111111111111111111111111111", p2, 16);
	unhex("FEDCBA98765432100123456789ABCDEF", p3, 16);
	parts[0] = p1;
	parts[1] = p2;
	parts[2] = p3;
	/* SM4: plain XOR, 01..10 ^ 11.. ^ FE..EF */
	unhex("EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE", want, 16);
	assert_int_equal(
	    tkm_components_combine(TKM_SM4, 16, parts, 3, out), TKM_OK);
	assert_memory_equal(out, want, 16);
	/* DES: the same XOR with odd parity set (EE -> EF) */
	unhex("EFEFEFEFEFEFEFEFEFEFEFEFEFEFEFEF", want, 16);
	assert_int_equal(
	    tkm_components_combine(TKM_DES, 16, parts, 3, out), TKM_OK);
	assert_memory_equal(out, want, 16);
	/* two odd-parity parts XOR to even parity (FF..); the result is
	 * given odd parity (FE..) */
	parts[1] = p3;
	assert_int_equal(
	    tkm_components_combine(TKM_DES, 8, parts, 2, out), TKM_OK);
	unhex("FEFEFEFEFEFEFEFE", want, 8);
	assert_memory_equal(out, want, 8);
	parts[1] = p2;
	/* out may be one of the parts */
	memcpy(out, p1, 16);
	parts[0] = out;
	assert_int_equal(
	    tkm_components_combine(TKM_SM4, 16, parts, 3, out), TKM_OK);
	unhex("EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE", want, 16);
	assert_memory_equal(out, want, 16);
	/* 2..9 parts */
	for (i = 0; i < 10; i++)
		parts[i] = p2;
	assert_int_equal(
	    tkm_components_combine(TKM_SM4, 16, parts, 9, out), TKM_OK);
	assert_memory_equal(out, p2, 16);
	assert_int_equal(
	    tkm_components_combine(TKM_SM4, 16, parts, 10, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_components_combine(TKM_SM4, 16, parts, 1, out), TKM_ERR_INPUT);
	parts[1] = NULL;
	assert_int_equal(
	    tkm_components_combine(TKM_SM4, 16, parts, 2, out), TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_components_combine(TKM_SM4, 8, parts, 2, out), TKM_ERR_KEY_LEN);
	assert_int_equal(
	    tkm_components_combine(0, 16, parts, 2, out), TKM_ERR_MODE);
}

/* --- threads ---------------------------------------------------------- */

/* Each thread has its own contexts: run the table from several threads
 * at once; ASan and valgrind also see the contexts freed at thread end. */
/* CTR takes any length and is its own inverse; the KAT file pins values. */
static void
test_ctr(void **state)
{
	static const uint8_t key[16] = {1, 2, 3};
	uint8_t iv[16], in[37], out[37], back[37];
	size_t n;

	(void)state;
	memset(iv, 0xFF, sizeof(iv));
	for (n = 0; n < sizeof(in); n++)
		in[n] = (uint8_t)n;
	for (n = 0; n <= sizeof(in); n++) {
		assert_int_equal(tkm_cipher(TKM_SM4, TKM_CTR, TKM_ENCRYPT, key,
				     16, iv, in, n, out),
		    TKM_OK);
		assert_int_equal(tkm_cipher(TKM_SM4, TKM_CTR, TKM_DECRYPT, key,
				     16, iv, out, n, back),
		    TKM_OK);
		assert_memory_equal(back, in, n);
	}
	/* a different IV gives a different key stream */
	iv[15] ^= 1;
	assert_int_equal(tkm_cipher(TKM_SM4, TKM_CTR, TKM_ENCRYPT, key, 16, iv,
			     in, 16, back),
	    TKM_OK);
	assert_memory_not_equal(back, out, 16);
}

static void
test_kdf_errors(void **state)
{
	static const uint8_t key[16] = {1};
	uint8_t out[65], a[32], b[32];

	(void)state;
	assert_int_equal(
	    tkm_kdf(0, key, 16, "l", 1, NULL, 0, out, 16), TKM_ERR_MODE);
	assert_int_equal(tkm_kdf(TKM_SM3, NULL, 16, "l", 1, NULL, 0, out, 16),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_kdf(TKM_SM3, key, 0, "l", 1, NULL, 0, out, 16), TKM_ERR_INPUT);
	assert_int_equal(tkm_kdf(TKM_SM3, key, 16, NULL, 1, NULL, 0, out, 16),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    tkm_kdf(TKM_SM3, key, 16, "l", 1, NULL, 2, out, 16), TKM_ERR_INPUT);
	assert_int_equal(tkm_kdf(TKM_SM3, key, 16, "l", 1, NULL, 0, out, 0),
	    TKM_ERR_DATA_LEN);
	assert_int_equal(tkm_kdf(TKM_SM3, key, 16, "l", 1, NULL, 0, out, 65),
	    TKM_ERR_DATA_LEN);
	/* label and context are both bound: changing either changes out */
	assert_int_equal(tkm_kdf(TKM_SM3, key, 16, "l", 1, "c", 1, a, 32), 0);
	assert_int_equal(tkm_kdf(TKM_SM3, key, 16, "m", 1, "c", 1, b, 32), 0);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(tkm_kdf(TKM_SM3, key, 16, "l", 1, "d", 1, b, 32), 0);
	assert_memory_not_equal(a, b, 32);
}

static void *
thread_body(void *arg)
{
	size_t i, r;
	uint8_t out[32];

	(void)arg;
	for (r = 0; r < 50; r++) {
		for (i = 0; i < sizeof(cipher_kats) / sizeof(cipher_kats[0]);
		     i++)
			run_cipher_kat(&cipher_kats[i]);
		if (tkm_hmac(TKM_SM3, (const uint8_t *)"k", 1, "m", 1, out) !=
		    TKM_OK)
			return (void *)1;
	}
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t t[4];
	void *ret;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, thread_body, NULL), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cipher_kats),
	    cmocka_unit_test(test_sm4_1e6),
	    cmocka_unit_test(test_des_key_forms),
	    cmocka_unit_test(test_cbc_chaining),
	    cmocka_unit_test(test_ctr),
	    cmocka_unit_test(test_kdf_errors),
	    cmocka_unit_test(test_cipher_errors),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_hash_kats),
	    cmocka_unit_test(test_hashv),
	    cmocka_unit_test(test_hash_errors),
	    cmocka_unit_test(test_hmac_kats),
	    cmocka_unit_test(test_hmac_errors),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_parity),
	    cmocka_unit_test(test_kcv),
	    cmocka_unit_test(test_component_random),
	    cmocka_unit_test(test_components_combine),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
