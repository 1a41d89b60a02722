/*
 * test_sm2.c - SM2 (sm2.c): keys, Z_A, signatures, DER signatures,
 * C1C3C2 encryption.
 *
 * Where the expected values come from:
 * - GMT_*: the examples of GM/T 0003.5-2012 (= GB/T 32918.5-2017) annex A
 *   on the recommended curve, as in tests/kat/public.txt (sm2.pub, sm2.za,
 *   sm2.e, sm2.sign, sm2.encrypt).
 * - CURVE_*: the recommended curve parameters of GB/T 32918.5 §3.
 * - The public key of [n-2]G: a pure-Python SM2 (affine arithmetic over
 *   the parameters above) that reproduces the GM/T key pair.
 * - digest_vec: signatures over e (not over a message) from the Linux
 *   kernel's crypto/testmgr.h sm2_tv_template (one from openssl, one from
 *   libgcrypt) and from OpenSSL's test/recipes/30-test_evp_data/
 *   evppkey_sm2.txt (Verify, SM2_key1, digest SM3); each was checked with
 *   the same pure-Python SM2.
 * - msg_vec: signatures over a message with a user ID, also in
 *   tests/kat/asym.txt: RustCrypto elliptic-curves sm2/tests/sm2dsa.rs
 *   (made with openssl pkeyutl), and three made with Botan 2.19.3
 *   (Debian python3-botan) to cover an 18-byte, an empty and a 40-byte ID
 *   (ENTL 0140, so its high byte counts).
 * - Bad inputs follow from GB/T 32918.2 §7.1 (r, s in [1, n-1]),
 *   GB/T 32918.4 §7.1 (C1 on the curve, C3 check) and DER (X.690 §10).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/err.h"
#include "tkm/sm2.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* clang-format off */
#define CURVE_P \
	"FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF"
#define CURVE_N \
	"FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123"
#define CURVE_XG \
	"32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
#define CURVE_YG \
	"BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"

#define GMT_D \
	"3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
#define GMT_X \
	"09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
#define GMT_Y \
	"CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
#define GMT_ZA \
	"B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
#define GMT_MSG "message digest"
#define GMT_E \
	"F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
#define GMT_R \
	"F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
#define GMT_S \
	"B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
#define GMT_PT "encryption standard"
#define GMT_C \
	"04" \
	"04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73" \
	"E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0" \
	"59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766" \
	"21886CA989CA9C7D58087307CA93092D651EFA"

/* [n-2]G */
#define NM2_X \
	"56CEFD60D7C87C000D58EF57FA73BA4D9C0DFA08C08A7331495C2E1DA3F2BD52"
#define NM2_Y \
	"CE481818337E760997ACA31F07150E429217B3E6D093718F9087F2C568F5DC3C"

static const struct {
	const char *src, *xy, *e, *r, *s, *der;
} digest_vec[] = {
	{"testmgr.h openssl",
	 "8EA03369917E3DECAD8EF0455E133E685B8CAB5CC6C850DF9100E024734D31F2"
	 "2EC0D56BEEDA9893ECD836AAB9CF6382EFA71A03ED16BA74B88BF9E57039A470",
	 "47A7BFD3DAC479EEDA8B4FE84094D4328FF1CD684DBD9B1DE0D89A5DAD85475C",
	 "70ABB67DD6548064427E2D050836C99625C2BBFF08E543155EF306D92B2F0A9F",
	 "BF215F7E5D3F1A4D8F84C2E9A64CA418B2B846F43296FA57C629D489AECCDADB",
	 "3045022070ABB67DD6548064427E2D050836C99625C2BBFF08E543155EF306D9"
	 "2B2F0A9F022100BF215F7E5D3F1A4D8F84C2E9A64CA418B2B846F43296FA57C6"
	 "29D489AECCDADB"},
	/* Its DER is not DER: r has the top bit set and no 00 byte, so it
	 * reads as a negative INTEGER (X.690 §8.3.3); checked in
	 * test_sig_der_bad. */
	{"testmgr.h libgcrypt",
	 "8759389A34AAAD07ECF4E0C8C2650A4459C8D926EE2378324E0261C52538CB47"
	 "7528106B1E0B7C8DD5FF29A9C86A89065656EB33154BC0556091EF8AC9D17D78",
	 "112233445566778899AABBCCDDEEFF00123456789ABCDEF0123456789ABCDEF0",
	 "D9ECEFE85FEE3C59578E5BABB302E1424B672C0B26B6512C3EFCC649ECFE89E5",
	 "4345D0A5FFE5132726D0EC37AD241E9A719AA489B07E0FC4BB2D50D0E57F7A68",
	 NULL},
	{"evppkey_sm2.txt 1",
	 "393A2AD9E27E43ACAAAB85A19D3B85591E14406157175ADDD37BF77FF0CAF9ED"
	 "37FCF3A8B4F55C038523261FCA6636AFE6A7AFA2A1482A606F5CB3A18B2E2A1E",
	 "D7AD397F6FFA5D4F7F11E7217F241607DC30618C236D2C09C1B9EA8FDADEE2E8",
	 "AB1DB64DE7C40EDBDE6651C9B8EBDB804673DB836E5D5C7FE15DCF9ED2725037",
	 "EBA714451FF69B0BB930B379E192E7CD5FA6E3C41C7FBD8303B799AB54A54621",
	 "3046022100AB1DB64DE7C40EDBDE6651C9B8EBDB804673DB836E5D5C7FE15DCF"
	 "9ED2725037022100EBA714451FF69B0BB930B379E192E7CD5FA6E3C41C7FBD83"
	 "03B799AB54A54621"},
	{"evppkey_sm2.txt 2",
	 "393A2AD9E27E43ACAAAB85A19D3B85591E14406157175ADDD37BF77FF0CAF9ED"
	 "37FCF3A8B4F55C038523261FCA6636AFE6A7AFA2A1482A606F5CB3A18B2E2A1E",
	 "B1139602C6ECC9E15E2F3F9C635A1AFE737058BC15387479C1EA0D0B3D90E9E5",
	 "E6E0414EBD3A656C35602AF14AB20287DBF30D57AF75C49A188ED4B42391F224",
	 "2F54F277C606F4605E1CE9514947FFDDF94C67A539804A4ED17F852288BDBE2E",
	 "3045022100E6E0414EBD3A656C35602AF14AB20287DBF30D57AF75C49A188ED4"
	 "B42391F22402202F54F277C606F4605E1CE9514947FFDDF94C67A539804A4ED1"
	 "7F852288BDBE2E"},
};
static const struct {
	const char *src, *x, *y, *id, *msg /* hex */, *r, *s;
} msg_vec[] = {
	{"RustCrypto sm2dsa.rs",
	 "08D77AE04C01CC4C1104360DD8AF6B6F7DF334283D7C1A6AFD5652407B87BEE5",
	 "014E2A57C36C150D16324DC664E31E6432359609C4E79847A5B161C8C7364C8A",
	 "example@rustcrypto.org", "74657374696E67",
	 "D1DCCCEDD9FB785E0F67C16B7C52901625C0B69DE9BCA2144ACC7BE713CAD2FC",
	 "F7D1EAE6E3A157B36C65F672F738CA8B46298BF149A6510072C431B49CD88B1C"},
	{"Botan, GM/T key, 18-byte ID", GMT_X, GMT_Y, "ALICE123@YAHOO.COM",
	 "6D65737361676520646967657374",
	 "626B7E3DF621C1704E25306B0DE2F5E3FDEB96AB1ACDDBEA847679D6354DEFD6",
	 "1BC2E44613783CD0C2FB82560020EEEF4DD425738E513ADDD57AF3DEA44D22E0"},
	{"Botan, OpenSSL SM2_key1, empty ID and message",
	 "393A2AD9E27E43ACAAAB85A19D3B85591E14406157175ADDD37BF77FF0CAF9ED",
	 "37FCF3A8B4F55C038523261FCA6636AFE6A7AFA2A1482A606F5CB3A18B2E2A1E",
	 "", "",
	 "FE6752F7E88066489B2EF74F4BA0D3867E2102C1B92068658EEAC571BAAFAD95",
	 "E371BCBAF67381B7453B01C434B91B77E35243950EA197E1A8ABE60680B8DC9F"},
	{"Botan, RustCrypto sm2pke.rs key, 40-byte ID",
	 "12D4950F2E684E4747229D334AB4A029A94CAA7506B22E2BB472CC4B65EAD116",
	 "C92353DDA604544B2AA0A8A90202493EEAD66ED0DCC1E025380DFECE3B6403D1",
	 "0123456789012345678901234567890123456789",
	 "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
	 "202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F"
	 "404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F"
	 "60616263",
	 "13B4F30198DD51AF2883C0BE0099A1F17C826DA3FA9AA9D26A4EBC816CB86E61",
	 "573660DCDD93A26051D365FB2CD9FB7BC68D7BFB531905002864B5D5057AABC3"},
};
/* clang-format on */

/* Hex to bytes; spaces are skipped so long values can be split. */
static size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
	char buf[1024];
	size_t i, j = 0, n = 0;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] != ' ') {
			assert_true(j < sizeof(buf));
			buf[j++] = s[i];
		}
	assert_int_equal(tkm_hex_decode(buf, j, out, cap, &n), TKM_OK);
	return n;
}

static struct tkm_sm2 *
priv_key(const char *dhex)
{
	uint8_t d[32];
	struct tkm_sm2 *k = NULL;

	assert_int_equal(unhex(dhex, d, sizeof(d)), 32);
	assert_int_equal(tkm_sm2_from_priv(d, &k), TKM_OK);
	assert_non_null(k);
	return k;
}

static struct tkm_sm2 *
pub_key(const char *x, const char *y)
{
	uint8_t xy[64];
	struct tkm_sm2 *k = NULL;

	assert_int_equal(unhex(x, xy, 32), 32);
	assert_int_equal(unhex(y, xy + 32, 32), 32);
	assert_int_equal(tkm_sm2_from_pub(xy, &k), TKM_OK);
	assert_non_null(k);
	return k;
}

static void
assert_hex(const uint8_t *got, size_t len, const char *want)
{
	uint8_t w[512];
	size_t n = unhex(want, w, sizeof(w));

	assert_int_equal(len, n);
	assert_memory_equal(got, w, n);
}

static void
gmt_sig(uint8_t sig[64])
{
	unhex(GMT_R, sig, 32);
	unhex(GMT_S, sig + 32, 32);
}

/* --- keys ----------------------------------------------------------------- */

static void
test_from_priv(void **state)
{
	static const struct {
		const char *d, *x, *y;
	} t[] = {
	    {GMT_D, GMT_X, GMT_Y},
	    {"0000000000000000000000000000000000000000000000000000000000000001",
		CURVE_XG, CURVE_YG},
	    {"FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54121",
		NM2_X, NM2_Y},
	};
	uint8_t xy[64], d[32];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		struct tkm_sm2 *k = priv_key(t[i].d);

		assert_true(tkm_sm2_has_priv(k));
		assert_int_equal(tkm_sm2_pub(k, xy), TKM_OK);
		assert_hex(xy, 32, t[i].x);
		assert_hex(xy + 32, 32, t[i].y);
		assert_int_equal(tkm_sm2_priv(k, d), TKM_OK);
		assert_hex(d, 32, t[i].d);
		tkm_sm2_free(k);
	}
}

static void
test_from_priv_bad(void **state)
{
	/* GB/T 32918.1 §6.1: d in [1, n-2] */
	static const char *const bad[] = {
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54122",
	    CURVE_N,
	    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	};
	uint8_t d[32];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		struct tkm_sm2 *k = (struct tkm_sm2 *)d; /* must be cleared */

		unhex(bad[i], d, sizeof(d));
		assert_int_equal(tkm_sm2_from_priv(d, &k), TKM_ERR_ASYM_KEY);
		assert_null(k);
	}
}

static void
test_from_pub(void **state)
{
	static const struct {
		const char *x, *y;
		int want;
	} t[] = {
	    {GMT_X, GMT_Y, TKM_OK},
	    {CURVE_XG, CURVE_YG, TKM_OK},
	    /* y flipped in its last bit: off the curve */
	    {GMT_X,
		"CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD"
		"12",
		TKM_ERR_ASYM_KEY},
	    /* the point at infinity has no affine encoding; (0, 0) is not
	     * on the curve (b != 0) */
	    {"0000000000000000000000000000000000000000000000000000000000000000",
		"00000000000000000000000000000000000000000000000000000000000000"
		"00",
		TKM_ERR_ASYM_KEY},
	    /* coordinates >= p */
	    {CURVE_P, GMT_Y, TKM_ERR_ASYM_KEY},
	    {GMT_X, CURVE_P, TKM_ERR_ASYM_KEY},
	};
	uint8_t xy[64], back[64], d[32];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		struct tkm_sm2 *k = (struct tkm_sm2 *)xy;

		unhex(t[i].x, xy, 32);
		unhex(t[i].y, xy + 32, 32);
		assert_int_equal(tkm_sm2_from_pub(xy, &k), t[i].want);
		if (t[i].want != TKM_OK) {
			assert_null(k);
			continue;
		}
		assert_false(tkm_sm2_has_priv(k));
		assert_int_equal(tkm_sm2_pub(k, back), TKM_OK);
		assert_memory_equal(back, xy, 64);
		memset(d, 0xAA, sizeof(d));
		assert_int_equal(tkm_sm2_priv(k, d), TKM_ERR_NO_KEY);
		assert_memory_equal(d, (uint8_t[32]){0}, 32);
		tkm_sm2_free(k);
	}
	tkm_sm2_free(NULL);
}

static void
test_generate(void **state)
{
	struct tkm_sm2 *k = NULL, *again = NULL, *pub = NULL;
	uint8_t xy[64], xy2[64], d[32], sig[64];

	(void)state;
	assert_int_equal(tkm_sm2_generate(&k), TKM_OK);
	assert_true(tkm_sm2_has_priv(k));
	assert_int_equal(tkm_sm2_pub(k, xy), TKM_OK);
	assert_int_equal(tkm_sm2_priv(k, d), TKM_OK);
	/* the pair is consistent: d gives the same point, which is on the
	 * curve, and signatures cross over */
	assert_int_equal(tkm_sm2_from_priv(d, &again), TKM_OK);
	assert_int_equal(tkm_sm2_pub(again, xy2), TKM_OK);
	assert_memory_equal(xy, xy2, 64);
	assert_int_equal(tkm_sm2_from_pub(xy, &pub), TKM_OK);
	assert_int_equal(tkm_sm2_sign(k, NULL, 0, "m", 1, sig), TKM_OK);
	assert_int_equal(tkm_sm2_verify(pub, NULL, 0, "m", 1, sig), TKM_OK);
	tkm_sm2_free(again);
	tkm_sm2_free(pub);
	tkm_sm2_free(k);
	/* two keys differ */
	assert_int_equal(tkm_sm2_generate(&k), TKM_OK);
	assert_int_equal(tkm_sm2_pub(k, xy2), TKM_OK);
	assert_memory_not_equal(xy, xy2, 64);
	tkm_sm2_free(k);
}

/* --- Z_A ------------------------------------------------------------------ */

static void
test_za(void **state)
{
	struct tkm_sm2 *k = pub_key(GMT_X, GMT_Y);
	uint8_t za[32], za2[32], e[32];
	uint8_t *id = malloc(8192);
	const void *parts[2] = {za, GMT_MSG};
	size_t lens[2] = {32, strlen(GMT_MSG)};

	(void)state;
	assert_non_null(id);
	/* NULL is the default ID of GM/T 0009 */
	assert_int_equal(tkm_sm2_za(k, NULL, 0, za), TKM_OK);
	assert_hex(za, 32, GMT_ZA);
	assert_int_equal(tkm_hashv(TKM_SM3, parts, lens, 2, e), TKM_OK);
	assert_hex(e, 32, GMT_E);
	/* another ID changes Z_A, and the cache gives the right one back */
	assert_int_equal(
	    tkm_sm2_za(k, (const uint8_t *)"ALICE", 5, za2), TKM_OK);
	assert_memory_not_equal(za, za2, 32);
	assert_int_equal(tkm_sm2_za(k, (const uint8_t *)TKM_SM2_DEFAULT_ID,
			     TKM_SM2_DEFAULT_ID_LEN, za2),
	    TKM_OK);
	assert_memory_equal(za, za2, 32);
	/* same length, different bytes: not served from the cache */
	assert_int_equal(
	    tkm_sm2_za(k, (const uint8_t *)"1234567812345679", 16, za2),
	    TKM_OK);
	assert_memory_not_equal(za, za2, 32);
	/* the empty ID is not the default one */
	assert_int_equal(tkm_sm2_za(k, (const uint8_t *)"", 0, za2), TKM_OK);
	assert_memory_not_equal(za, za2, 32);
	/* ENTL is 16 bits of bit length: 8191 bytes fit, 8192 do not */
	memset(id, 'A', 8192);
	assert_int_equal(tkm_sm2_za(k, id, 8191, za2), TKM_OK);
	memset(za2, 0xAA, sizeof(za2));
	assert_int_equal(tkm_sm2_za(k, id, 8192, za2), TKM_ERR_DATA_LEN);
	assert_memory_equal(za2, (uint8_t[32]){0}, 32);
	free(id);
	tkm_sm2_free(k);
}

/* --- signatures ----------------------------------------------------------- */

static void
test_verify_gmt(void **state)
{
	struct tkm_sm2 *k = pub_key(GMT_X, GMT_Y);
	uint8_t e[32], sig[64];

	(void)state;
	unhex(GMT_E, e, 32);
	gmt_sig(sig);
	assert_int_equal(tkm_sm2_verify_digest(k, e, sig), TKM_OK);
	assert_int_equal(
	    tkm_sm2_verify(k, NULL, 0, GMT_MSG, strlen(GMT_MSG), sig), TKM_OK);
	assert_int_equal(
	    tkm_sm2_verify(k, (const uint8_t *)TKM_SM2_DEFAULT_ID,
		TKM_SM2_DEFAULT_ID_LEN, GMT_MSG, strlen(GMT_MSG), sig),
	    TKM_OK);
	/* another ID, another message, another digest, a changed r or s */
	assert_int_equal(tkm_sm2_verify(k, (const uint8_t *)"", 0, GMT_MSG,
			     strlen(GMT_MSG), sig),
	    TKM_ERR_VERIFY);
	assert_int_equal(
	    tkm_sm2_verify(k, NULL, 0, "message digesT", strlen(GMT_MSG), sig),
	    TKM_ERR_VERIFY);
	e[31] ^= 1;
	assert_int_equal(tkm_sm2_verify_digest(k, e, sig), TKM_ERR_VERIFY);
	e[31] ^= 1;
	sig[0] ^= 0x01;
	assert_int_equal(tkm_sm2_verify_digest(k, e, sig), TKM_ERR_VERIFY);
	sig[0] ^= 0x01;
	sig[63] ^= 0x80;
	assert_int_equal(tkm_sm2_verify_digest(k, e, sig), TKM_ERR_VERIFY);
	tkm_sm2_free(k);
}

/* GB/T 32918.2 §7.1 B1-B2: r and s outside [1, n-1] fail. */
static void
test_verify_range(void **state)
{
	static const char *const bad[] = {
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    CURVE_N,
	    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	};
	struct tkm_sm2 *k = pub_key(GMT_X, GMT_Y);
	uint8_t e[32], sig[64];
	size_t i;

	(void)state;
	unhex(GMT_E, e, 32);
	for (i = 0; i < NELEM(bad); i++) {
		gmt_sig(sig);
		unhex(bad[i], sig, 32);
		assert_int_equal(
		    tkm_sm2_verify_digest(k, e, sig), TKM_ERR_VERIFY);
		gmt_sig(sig);
		unhex(bad[i], sig + 32, 32);
		assert_int_equal(
		    tkm_sm2_verify_digest(k, e, sig), TKM_ERR_VERIFY);
	}
	tkm_sm2_free(k);
}

static void
test_verify_digest_vectors(void **state)
{
	uint8_t xy[64], e[32], der[80], sig[64], back[64];
	size_t i, n;

	(void)state;
	for (i = 0; i < NELEM(digest_vec); i++) {
		struct tkm_sm2 *k = NULL;

		assert_int_equal(unhex(digest_vec[i].xy, xy, 64), 64);
		assert_int_equal(unhex(digest_vec[i].e, e, 32), 32);
		assert_int_equal(unhex(digest_vec[i].r, sig, 32), 32);
		assert_int_equal(unhex(digest_vec[i].s, sig + 32, 32), 32);
		assert_int_equal(tkm_sm2_from_pub(xy, &k), TKM_OK);
		assert_int_equal(tkm_sm2_verify_digest(k, e, sig), TKM_OK);
		if (digest_vec[i].der != NULL) {
			/* the published DER is ours, both ways */
			n = unhex(digest_vec[i].der, der, sizeof(der));
			assert_int_equal(
			    tkm_sm2_sig_from_der(der, n, back), TKM_OK);
			assert_memory_equal(back, sig, 64);
			assert_int_equal(tkm_sm2_sig_to_der(sig, back, 0, &n),
			    TKM_ERR_SPACE);
			assert_int_equal(
			    tkm_sm2_sig_to_der(sig, der, sizeof(der), &n),
			    TKM_OK);
			assert_hex(der, n, digest_vec[i].der);
		}
		e[0] ^= 0x01;
		assert_int_equal(
		    tkm_sm2_verify_digest(k, e, sig), TKM_ERR_VERIFY);
		tkm_sm2_free(k);
	}
}

/* Signatures over messages with user IDs (msg_vec). */
static void
test_verify_msg_vectors(void **state)
{
	uint8_t msg[100], sig[64];
	size_t i, mlen;

	(void)state;
	for (i = 0; i < NELEM(msg_vec); i++) {
		struct tkm_sm2 *k = pub_key(msg_vec[i].x, msg_vec[i].y);
		const uint8_t *id = (const uint8_t *)msg_vec[i].id;
		size_t idlen = strlen(msg_vec[i].id);

		mlen = unhex(msg_vec[i].msg, msg, sizeof(msg));
		unhex(msg_vec[i].r, sig, 32);
		unhex(msg_vec[i].s, sig + 32, 32);
		print_message("%s\n", msg_vec[i].src);
		assert_int_equal(
		    tkm_sm2_verify(k, id, idlen, msg, mlen, sig), TKM_OK);
		/* again, with Z_A from the cache */
		assert_int_equal(
		    tkm_sm2_verify(k, id, idlen, msg, mlen, sig), TKM_OK);
		assert_int_equal(
		    tkm_sm2_verify(k, NULL, 0, msg, mlen, sig), TKM_ERR_VERIFY);
		sig[40] ^= 0x04;
		assert_int_equal(tkm_sm2_verify(k, id, idlen, msg, mlen, sig),
		    TKM_ERR_VERIFY);
		tkm_sm2_free(k);
	}
}

static void
test_sign(void **state)
{
	static const struct {
		const char *id;
		size_t idlen, msglen;
	} t[] = {
	    {NULL, 0, 0},
	    {NULL, 0, 14},
	    {"", 0, 1},
	    {"ALICE123@YAHOO.COM", 18, 100},
	    {"0123456789012345678901234567890123456789", 40, 1000},
	};
	struct tkm_sm2 *k = priv_key(GMT_D), *pub = pub_key(GMT_X, GMT_Y);
	uint8_t msg[1000], sig[64], sig2[64], e[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	for (i = 0; i < NELEM(t); i++) {
		const uint8_t *id = (const uint8_t *)t[i].id;

		assert_int_equal(
		    tkm_sm2_sign(k, id, t[i].idlen, msg, t[i].msglen, sig),
		    TKM_OK);
		assert_int_equal(
		    tkm_sm2_verify(pub, id, t[i].idlen, msg, t[i].msglen, sig),
		    TKM_OK);
		/* k is random: signing again gives another signature */
		assert_int_equal(
		    tkm_sm2_sign(k, id, t[i].idlen, msg, t[i].msglen, sig2),
		    TKM_OK);
		assert_memory_not_equal(sig, sig2, 64);
		assert_int_equal(
		    tkm_sm2_verify(pub, id, t[i].idlen, msg, t[i].msglen, sig2),
		    TKM_OK);
		msg[0] ^= 1;
		assert_int_equal(tkm_sm2_verify(pub, id, t[i].idlen, msg,
				     t[i].msglen == 0 ? 1 : t[i].msglen, sig),
		    TKM_ERR_VERIFY);
		msg[0] ^= 1;
	}
	/* the digest API is the same signature */
	unhex(GMT_E, e, 32);
	assert_int_equal(tkm_sm2_sign_digest(k, e, sig), TKM_OK);
	assert_int_equal(tkm_sm2_verify_digest(pub, e, sig), TKM_OK);
	assert_int_equal(
	    tkm_sm2_verify(pub, NULL, 0, GMT_MSG, strlen(GMT_MSG), sig),
	    TKM_OK);
	/* a public key cannot sign; the output is cleared */
	memset(sig, 0xAA, sizeof(sig));
	assert_int_equal(tkm_sm2_sign_digest(pub, e, sig), TKM_ERR_NO_KEY);
	assert_memory_equal(sig, (uint8_t[64]){0}, 64);
	assert_int_equal(
	    tkm_sm2_sign(pub, NULL, 0, "m", 1, sig), TKM_ERR_NO_KEY);
	tkm_sm2_free(k);
	tkm_sm2_free(pub);
}

/* --- DER signatures --------------------------------------------------------
 */

static void
test_sig_der(void **state)
{
	uint8_t sig[64], back[64], der[80];
	size_t n;

	(void)state;
	gmt_sig(sig);
	/* both have the top bit set, so both INTEGERs get a 00 byte
	 * (X.690 §8.3.2): 30 46 02 21 00 r 02 21 00 s */
	assert_int_equal(tkm_sm2_sig_to_der(sig, der, sizeof(der), &n), TKM_OK);
	assert_int_equal(n, 72);
	assert_hex(der, 5, "3046022100");
	assert_memory_equal(der + 5, sig, 32);
	assert_hex(der + 37, 3, "022100");
	assert_int_equal(tkm_sm2_sig_from_der(der, n, back), TKM_OK);
	assert_memory_equal(back, sig, 64);
	/* exact room, one byte short */
	assert_int_equal(tkm_sm2_sig_to_der(sig, der, 72, &n), TKM_OK);
	assert_int_equal(tkm_sm2_sig_to_der(sig, der, 71, &n), TKM_ERR_SPACE);
	assert_int_equal(n, 0);

	/* small values: r = 1, s = 0x80 (needs a 00 byte) */
	memset(sig, 0, sizeof(sig));
	sig[31] = 0x01;
	sig[63] = 0x80;
	assert_int_equal(tkm_sm2_sig_to_der(sig, der, sizeof(der), &n), TKM_OK);
	assert_hex(der, n, "300702010102020080");
	assert_int_equal(tkm_sm2_sig_from_der(der, n, back), TKM_OK);
	assert_memory_equal(back, sig, 64);

	/* the smallest DER signature */
	assert_int_equal(unhex("3006020101020101", der, sizeof(der)), 8);
	assert_int_equal(tkm_sm2_sig_from_der(der, 8, back), TKM_OK);
	assert_int_equal(back[31], 1);
	assert_int_equal(back[63], 1);

	/* r = 0 or s >= n cannot be encoded */
	sig[31] = 0;
	assert_int_equal(
	    tkm_sm2_sig_to_der(sig, der, sizeof(der), &n), TKM_ERR_INPUT);
	gmt_sig(sig);
	unhex(CURVE_N, sig + 32, 32);
	assert_int_equal(
	    tkm_sm2_sig_to_der(sig, der, sizeof(der), &n), TKM_ERR_INPUT);
}

static void
test_sig_der_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "30",
	    "3007020101020101",         /* SEQUENCE longer than the input */
	    "300602010102010100",       /* a byte after the SEQUENCE */
	    "300702010102010100",       /* a byte after s, inside */
	    "3106020101020101",         /* SET, not SEQUENCE */
	    "3006040101020101",         /* OCTET STRING for r */
	    "308106020101020101",       /* length in long form */
	    "300702020001020101",       /* r with a needless 00 byte */
	    "30060201FF020101",         /* r negative */
	    "3006020100020101",         /* r = 0 */
	    "3006020101020100",         /* s = 0 */
	    "3009020101020101020101",   /* three INTEGERs */
	    "3026020101022100" CURVE_N, /* s = n */
	    "30270222"
	    "01" CURVE_N "020101", /* r of 33 bytes of value */
	    /* the libgcrypt signature of testmgr.h: r reads as negative */
	    "30440220D9ECEFE85FEE3C59578E5BABB302E1424B672C0B26B6512C3EFCC649"
	    "ECFE89E502204345D0A5FFE5132726D0EC37AD241E9A719AA489B07E0FC4BB2D"
	    "50D0E57F7A68",
	};
	uint8_t der[128], sig[64];
	size_t i, n;

	(void)state;
	for (i = 0; i < NELEM(bad); i++) {
		n = unhex(bad[i], der, sizeof(der));
		memset(sig, 0xAA, sizeof(sig));
		assert_int_equal(
		    tkm_sm2_sig_from_der(der, n, sig), TKM_ERR_INPUT);
		assert_memory_equal(sig, (uint8_t[64]){0}, 64);
	}
	assert_int_equal(tkm_sm2_sig_from_der(NULL, 0, sig), TKM_ERR_INPUT);
	/* longer than any DER signature of this curve */
	memset(der, 0, sizeof(der));
	assert_int_equal(tkm_sm2_sig_from_der(der, 73, sig), TKM_ERR_INPUT);
}

/* --- encryption ----------------------------------------------------------- */

static void
test_decrypt_gmt(void **state)
{
	struct tkm_sm2 *k = priv_key(GMT_D);
	uint8_t c[256], m[256];
	size_t n, mlen = 1;

	(void)state;
	n = unhex(GMT_C, c, sizeof(c));
	assert_int_equal(n, 97 + strlen(GMT_PT));
	assert_int_equal(tkm_sm2_decrypt(k, c, n, m, &mlen), TKM_OK);
	assert_int_equal(mlen, strlen(GMT_PT));
	assert_memory_equal(m, GMT_PT, mlen);
	tkm_sm2_free(k);
}

static void
test_encrypt_roundtrip(void **state)
{
	/* KDF blocks are 32 bytes: below, at and across block ends */
	static const size_t lens[] = {1, 31, 32, 33, 64, 100, 1000};
	struct tkm_sm2 *k = priv_key(GMT_D), *pub = pub_key(GMT_X, GMT_Y);
	uint8_t msg[1000], c[1000 + 97], c2[1000 + 97], m[1000];
	size_t i, n, n2, mlen;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13);
	for (i = 0; i < NELEM(lens); i++) {
		assert_int_equal(
		    tkm_sm2_encrypt(pub, msg, lens[i], c, &n), TKM_OK);
		assert_int_equal(n, lens[i] + TKM_SM2_ENC_OVERHEAD);
		assert_int_equal(c[0], 0x04);
		assert_int_equal(tkm_sm2_decrypt(k, c, n, m, &mlen), TKM_OK);
		assert_int_equal(mlen, lens[i]);
		assert_memory_equal(m, msg, mlen);
		/* a private key encrypts too, with a fresh k each time */
		assert_int_equal(
		    tkm_sm2_encrypt(k, msg, lens[i], c2, &n2), TKM_OK);
		assert_int_equal(n2, n);
		assert_memory_not_equal(c, c2, 65);
	}
	n = 1;
	assert_int_equal(tkm_sm2_encrypt(pub, msg, 0, c, &n), TKM_ERR_DATA_LEN);
	assert_int_equal(n, 0);
	tkm_sm2_free(k);
	tkm_sm2_free(pub);
}

enum ct_edit {
	CT_FLIP,      /* flip one bit at off */
	CT_SET,       /* set the byte at off to val */
	CT_LEN,       /* give only off bytes */
	CT_OFF_CURVE, /* C1.y + 1 */
	CT_X_IS_P,    /* C1.x = p */
};

static void
test_decrypt_bad(void **state)
{
	static const struct {
		const char *why;
		enum ct_edit edit;
		size_t off;
		uint8_t val;
		int want;
	} t[] = {
	    {"C3 first byte", CT_FLIP, 65, 0, TKM_ERR_VERIFY},
	    {"C3 last byte", CT_FLIP, 96, 0, TKM_ERR_VERIFY},
	    {"C2 first byte", CT_FLIP, 97, 0, TKM_ERR_VERIFY},
	    {"C2 last byte", CT_FLIP, 97 + 18, 0, TKM_ERR_VERIFY},
	    {"C1.x", CT_FLIP, 1, 0, TKM_ERR_VERIFY},
	    {"compressed C1", CT_SET, 0, 0x02, TKM_ERR_VERIFY},
	    {"hybrid C1", CT_SET, 0, 0x06, TKM_ERR_VERIFY},
	    {"C1 off the curve", CT_OFF_CURVE, 0, 0, TKM_ERR_VERIFY},
	    {"C1.x = p", CT_X_IS_P, 0, 0, TKM_ERR_VERIFY},
	    {"no C2", CT_LEN, 97, 0, TKM_ERR_DATA_LEN},
	    {"C3 cut", CT_LEN, 96, 0, TKM_ERR_DATA_LEN},
	    {"C1 only", CT_LEN, 65, 0, TKM_ERR_DATA_LEN},
	    {"empty", CT_LEN, 0, 0, TKM_ERR_DATA_LEN},
	    {"C2 cut by one", CT_LEN, 97 + 18, 0, TKM_ERR_VERIFY},
	};
	struct tkm_sm2 *k = priv_key(GMT_D), *pub = pub_key(GMT_X, GMT_Y);
	uint8_t c[256], m[256];
	size_t i, n, mlen;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		n = unhex(GMT_C, c, sizeof(c));
		switch (t[i].edit) {
		case CT_FLIP:
			c[t[i].off] ^= 0x01;
			break;
		case CT_SET:
			c[t[i].off] = t[i].val;
			break;
		case CT_LEN:
			n = t[i].off;
			break;
		case CT_OFF_CURVE:
			c[64] ^= 0x01;
			break;
		case CT_X_IS_P:
			unhex(CURVE_P, c + 1, 32);
			break;
		}
		memset(m, 0xAA, sizeof(m));
		mlen = 1;
		print_message("%s\n", t[i].why);
		assert_int_equal(tkm_sm2_decrypt(k, c, n, m, &mlen), t[i].want);
		assert_int_equal(mlen, 0);
		/* out is cleared: no guess of M is left behind */
		if (n > 97) {
			uint8_t zero[256] = {0};

			assert_memory_equal(m, zero, n - 97);
		}
	}
	/* a public key cannot decrypt; another private key fails C3 */
	n = unhex(GMT_C, c, sizeof(c));
	assert_int_equal(tkm_sm2_decrypt(pub, c, n, m, &mlen), TKM_ERR_NO_KEY);
	tkm_sm2_free(k);
	k = priv_key(
	    "0000000000000000000000000000000000000000000000000000000000000001");
	assert_int_equal(tkm_sm2_decrypt(k, c, n, m, &mlen), TKM_ERR_VERIFY);
	tkm_sm2_free(k);
	tkm_sm2_free(pub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_from_priv),
	    cmocka_unit_test(test_from_priv_bad),
	    cmocka_unit_test(test_from_pub),
	    cmocka_unit_test(test_generate),
	    cmocka_unit_test(test_za),
	    cmocka_unit_test(test_verify_gmt),
	    cmocka_unit_test(test_verify_range),
	    cmocka_unit_test(test_verify_digest_vectors),
	    cmocka_unit_test(test_verify_msg_vectors),
	    cmocka_unit_test(test_sign),
	    cmocka_unit_test(test_sig_der),
	    cmocka_unit_test(test_sig_der_bad),
	    cmocka_unit_test(test_decrypt_gmt),
	    cmocka_unit_test(test_encrypt_roundtrip),
	    cmocka_unit_test(test_decrypt_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
