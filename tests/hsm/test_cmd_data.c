/*
 * test_cmd_data.c - U1, U3 and UY through the real dispatcher
 * (docs/protocol.md). Expected results are computed here with libtkm's
 * derive.h, crypto.h and mac.h, which the KATs pin.
 */
#include "hsmtest.h"

#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mac.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define K2   "0123456789ABCDEFFEDCBA9876543210"
#define K2B  "89ABCDEF0123456776543210FEDCBA98"
#define SM4K "0123456789ABCDEFFEDCBA9876543210"
#define F1   "5810FF0000000000"
#define F2   "0000000012345678"

#define BIG 4096

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
	memcpy(s, p, strlen(p));
	tkm_hex_encode(ct, n, s + strlen(p));
	return s;
}

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

	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", req, got, want);
}

/* printf into a rotating buffer */
static const char *fmt(const char *f, ...)
    __attribute__((format(printf, 1, 2)));
static const char *
fmt(const char *f, ...)
{
	char *s = hsmtest_strbuf();
	va_list ap;

	va_start(ap, f);
	vsnprintf(s, BIG, f, ap);
	va_end(ap);
	return s;
}

/* key (hex) derived through the factors (hex, n * 16H), into k; length */
static size_t
ref_key(int alg, const char *keyhex, const char *f, uint8_t k[24])
{
	uint8_t mk[24], fb[40];
	size_t n = hsmtest_unhex(keyhex, mk, sizeof(mk)),
	       nf = hsmtest_unhex(f, fb, sizeof(fb));

	if (nf == 0) {
		memcpy(k, mk, n);
		return n;
	}
	assert_int_equal(tkm_derive(alg, mk, n, fb, nf / 8, k), TKM_OK);
	return 16;
}

/* pad (80 or zeros) data to whole blocks, as the U1 pad flags do */
static size_t
ref_pad(uint8_t *d, size_t len, int pad, size_t bs)
{
	size_t n = tkm_pad_len(pad, len, bs);

	memset(d + len, 0, n - len);
	if (pad == TKM_PAD_80)
		d[len] = 0x80;
	return n;
}

/* --- U1 ---------------------------------------------------------------- */

/* Encrypt with the derived key and decrypt back, ECB and CBC, DES. */
static void
test_u1_des_enc_dec(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t k[24], d[64], ct[64], iv[8];
	size_t kl, n;

	(void)state;
	put(t, TKM_DES, 0x020, "509", K2);
	/* ECB, no derivation, no pad */
	kl = ref_key(TKM_DES, K2, "", k);
	n = hsmtest_unhex("0011223344556677"
			  "8899AABBCCDDEEFF",
	    d, sizeof(d));
	assert_int_equal(
	    tkm_cipher(TKM_DES, TKM_ECB, TKM_ENCRYPT, k, kl, NULL, d, n, ct),
	    TKM_OK);
	expect(t,
	    "U1X001509K020000016"
	    "00112233445566778899AABBCCDDEEFF",
	    fmt("U200016%s", hsmtest_hex(ct, n)));
	expect(t, fmt("U1X101509K020000016%s", hsmtest_hex(ct, n)),
	    "U200016"
	    "00112233445566778899AABBCCDDEEFF");
	/* CBC, two levels, force 80, lower-case hex in */
	kl = ref_key(TKM_DES, K2, F1 F2, k);
	hsmtest_unhex("0102030405060708", iv, sizeof(iv));
	n = ref_pad(
	    d, hsmtest_unhex("AABBCCDDEE", d, sizeof(d)), TKM_PAD_80, 8);
	assert_int_equal(
	    tkm_cipher(TKM_DES, TKM_CBC, TKM_ENCRYPT, k, kl, iv, d, n, ct),
	    TKM_OK);
	expect(t, "U1X002509K0202" F1 F2 "010102030405060708005aabbccddee",
	    fmt("U200008%s", hsmtest_hex(ct, n)));
	/* decrypt with pad 01 takes the 80 00.. off again */
	expect(t,
	    fmt("U1X102509K0202" F1 F2 "010102030405060708008%s",
		hsmtest_hex(ct, n)),
	    "U200005AABBCCDDEE");
	/* with pad 00 it does not */
	expect(t,
	    fmt("U1X102509K0202" F1 F2 "000102030405060708008%s",
		hsmtest_hex(ct, n)),
	    "U200008AABBCCDDEE800000");
	hsmtest_free(t);
}

/* SM4, CBC, zero padding (02), key as a cryptogram. */
static void
test_u1_sm4(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t k[24], d[64], ct[64], iv[16];
	size_t kl, n;

	(void)state;
	kl = ref_key(TKM_SM4, SM4K, F1, k);
	hsmtest_unhex("000102030405060708090A0B0C0D0E0F", iv, sizeof(iv));
	n = ref_pad(d, hsmtest_unhex("31323334353637383930", d, sizeof(d)),
	    TKM_PAD_ZERO, 16);
	assert_int_equal(
	    tkm_cipher(TKM_SM4, TKM_CBC, TKM_ENCRYPT, k, kl, iv, d, n, ct),
	    TKM_OK);
	expect(t,
	    fmt("U1S00200A%s1" F1 "02000102030405060708090A0B0C0D0E0F010"
		"31323334353637383930",
		lmk(t, TKM_SM4, "00A", SM4K)),
	    fmt("U200016%s", hsmtest_hex(ct, n)));
	expect(t,
	    fmt("U1S10200A%s1" F1 "02000102030405060708090A0B0C0D0E0F016%s",
		lmk(t, TKM_SM4, "00A", SM4K), hsmtest_hex(ct, n)),
	    fmt("U200016%s", hsmtest_hex(d, n)));
	hsmtest_free(t);
}

/* Modes 2 and 3: PBOC MACs (single DES under K_L; ISO 9797-1 alg 3; SM4
 * CBC-MAC), with and without an IV. */
static void
test_u1_mac(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t k[24], m[16], iv[16] = {0};
	const char *data = "0102030405060708090A0B";
	uint8_t d[16];
	size_t kl, n, dl;

	(void)state;
	put(t, TKM_DES, 0x020, "509", K2);
	put(t, TKM_SM4, 0x020, "509", SM4K);
	put(t, TKM_DES, 0x021, "008", K2B);
	dl = hsmtest_unhex(data, d, sizeof(d));
	kl = ref_key(TKM_DES, K2, F1, k);
	(void)kl;
	assert_int_equal(tkm_mac(TKM_MAC_ALG1, TKM_DES, k, 8, NULL, d, dl,
			     TKM_PAD_80, m, &n),
	    TKM_OK);
	expect(t, fmt("U1X201509K0201" F1 "01011%s", data),
	    fmt("U2000%02zu%s", n, hsmtest_hex(m, n)));
	assert_int_equal(tkm_mac(TKM_MAC_ALG3, TKM_DES, k, 16, NULL, d, dl,
			     TKM_PAD_80, m, &n),
	    TKM_OK);
	expect(t, fmt("U1X301509K0201" F1 "01011%s", data),
	    fmt("U2000%02zu%s", n, hsmtest_hex(m, n)));
	/* with an IV (card challenge), zero padding, a MAC key (008) */
	hsmtest_unhex("1122334400000000", iv, sizeof(iv));
	kl = ref_key(TKM_DES, K2B, "", k);
	assert_int_equal(tkm_mac(TKM_MAC_ALG3, TKM_DES, k, 16, iv, d, dl,
			     TKM_PAD_ZERO, m, &n),
	    TKM_OK);
	expect(t, fmt("U1X302008K0210021122334400000000011%s", data),
	    fmt("U2000%02zu%s", n, hsmtest_hex(m, n)));
	/* SM4 */
	memset(iv, 0, sizeof(iv));
	kl = ref_key(TKM_SM4, SM4K, "", k);
	assert_int_equal(tkm_mac(TKM_MAC_ALG1, TKM_SM4, k, 16, NULL, d, dl,
			     TKM_PAD_80, m, &n),
	    TKM_OK);
	expect(t, fmt("U1S301509K020001011%s", data),
	    fmt("U2000%02zu%s", n, hsmtest_hex(m, n)));
	hsmtest_free(t);
}

/* Modes 4-7: single DES under K_L, and the process key. */
static void
test_u1_single_and_process(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t k[24], pk[16], p[8], d[16], ct[16];
	size_t n;

	(void)state;
	put(t, TKM_DES, 0x020, "509", K2);
	put(t, TKM_SM4, 0x020, "509", SM4K);
	n = hsmtest_unhex("00112233445566778899AABBCCDDEEFF", d, sizeof(d));
	/* mode 4/5: single DES under the left half */
	ref_key(TKM_DES, K2, F1, k);
	assert_int_equal(
	    tkm_cipher(TKM_DES, TKM_ECB, TKM_ENCRYPT, k, 8, NULL, d, n, ct),
	    TKM_OK);
	expect(t, fmt("U1X401509K0201" F1 "00016%s", hsmtest_hex(d, n)),
	    fmt("U200016%s", hsmtest_hex(ct, n)));
	expect(t, fmt("U1X501509K0201" F1 "00016%s", hsmtest_hex(ct, n)),
	    fmt("U200016%s", hsmtest_hex(d, n)));
	/* mode 6/7, DES: process key 3DES(K, P), single DES */
	hsmtest_unhex("1122334400018000", p, sizeof(p));
	assert_int_equal(tkm_encrypt_block(TKM_DES, k, 16, p, pk), TKM_OK);
	assert_int_equal(
	    tkm_cipher(TKM_DES, TKM_ECB, TKM_ENCRYPT, pk, 8, NULL, d, n, ct),
	    TKM_OK);
	expect(t,
	    fmt("U1X601509K0201" F1 "112233440001800000016%s",
		hsmtest_hex(d, n)),
	    fmt("U200016%s", hsmtest_hex(ct, n)));
	expect(t,
	    fmt("U1X701509K0201" F1 "112233440001800000016%s",
		hsmtest_hex(ct, n)),
	    fmt("U200016%s", hsmtest_hex(d, n)));
	/* SM4: process key SM4(K, P || ~P) */
	ref_key(TKM_SM4, SM4K, "", k);
	assert_int_equal(tkm_derive(TKM_SM4, k, 16, p, 1, pk), TKM_OK);
	assert_int_equal(
	    tkm_cipher(TKM_SM4, TKM_ECB, TKM_ENCRYPT, pk, 16, NULL, d, n, ct),
	    TKM_OK);
	expect(t,
	    fmt("U1S601509K0200112233440001800000016%s", hsmtest_hex(d, n)),
	    fmt("U200016%s", hsmtest_hex(ct, n)));
	hsmtest_free(t);
}

static void
test_u1_errors(void **state)
{
	static const struct {
		const char *req, *want;
	} cases[] = {
	    {"U1Z001509K0200000080011223344556677", "U205"},   /* alg */
	    {"U1X801509K0200000080011223344556677", "U205"},   /* mode 8 */
	    {"U1XA01509K0200000080011223344556677", "U205"},   /* mode A */
	    {"U1X000509K0200000080011223344556677", "U205"},   /* scheme 00 */
	    {"U1X003509K0200000080011223344556677", "U205"},   /* scheme 03 */
	    {"U1S201509K0200000080011223344556677", "U205"},   /* SM4 1DES */
	    {"U1X001509K0200030080011223344556677", "U205"},   /* pad 03 */
	    {"U1X001000K0200000080011223344556677", "U228"},   /* a TK */
	    {"U1X001109K0200000080011223344556677", "U228"},   /* MK-AC */
	    {"U1X001008K0210000080011223344556677", "U228"},   /* MAC key */
	    {"U1X30100AK0200000080011223344556677", "U228"},   /* ZEK MAC */
	    {"U1X00100AK0200000080011223344556677", "U228"},   /* stored 509 */
	    {"U1X0010X9K0200000080011223344556677", "U204"},   /* type code */
	    {"U1X001509K0FF0000080011223344556677", "U212"},   /* no key */
	    {"U1S001509K0210000080011223344556677", "U212"},   /* SM4 lib */
	    {"U1X001509K0206000080011223344556677", "U215"},   /* n = 6 */
	    {"U1X001509K0200000080011223344556G77", "U215"},   /* bad hex */
	    {"U1X001509K02000000800112233445566", "U215"},     /* short */
	    {"U1X001509K020000008001122334455667788", "U215"}, /* trail */
	    {"U1X001509K02000000A0011223344556677", "U215"},   /* len */
	    {"U1X001509K02000000700112233445566", "U280"},     /* pad 00 */
	    {"U1X001509K020000000", "U280"},                   /* empty */
	    {"U1X101509K02000000700112233445566", "U280"},     /* dec 7 */
	    {"U1X101509K0200010080011223344556677", "U215"},   /* no 80 */
	    {"U1X002509K020000001122334455667", "U215"},       /* IV short */
	    {"U1X601509K020011223344008", "U215"},             /* proc short */
	    {"U1X001509S0123456789ABCDEF0123456789ABCDEF000008"
	     "0011223344556677",
		"U226"}, /* SM4 scheme, DES alg */
	    {"U1", "U215"},
	    /* a single-length key cannot be derived */
	    {"U1X001509K0221" F1 "00008"
	     "0011223344556677",
		"U202"},
	    {"U1X001509K022000008"
	     "0011223344556677",
		"U200"},
	};
	struct hsmtest *t = hsmtest_new(0);
	char big[2100];
	size_t i;

	(void)state;
	put(t, TKM_DES, 0x020, "509", K2);
	put(t, TKM_DES, 0x021, "008", K2);
	put(t, TKM_DES, 0x022, "509", "0123456789ABCDEF");
	for (i = 0; i < NELEM(cases); i++) {
		const char *got = hsmtest_cmd(t, cases[i].req, NULL);

		if (strncmp(got, cases[i].want, 4) != 0)
			fail_msg("%s: got %s, want %s", cases[i].req, got,
			    cases[i].want);
	}
	/* 999 bytes padded to 1000 do not fit a 3N length */
	snprintf(big, sizeof(big), "U1X001509K020001999");
	for (i = 0; i < 999; i++)
		memcpy(big + 19 + 2 * i, "AB", 3);
	expect(t, big, "U280");
	/* sealed */
	{
		struct hsm_dk *dk = t->st.dk;

		t->st.dk = NULL;
		expect(t, cases[0].req, "U213");
		t->st.dk = dk;
	}
	hsmtest_free(t);
}

/* --- U3 ---------------------------------------------------------------- */

/* PBOC key writing: scheme 1 (len || key || 80..), protection by a key
 * derived from MK-SMC, MAC over 84D4 P1P2 Lc || ciphertext. */
static void
test_u3_pboc_mac(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t ek[24], pk[24], pt[32], ct[32], m[64], mac[16], iv[8];
	size_t n, mn;

	(void)state;
	put(t, TKM_DES, 0x040, "509", K2);
	put(t, TKM_DES, 0x041, "309", K2B);
	ref_key(TKM_DES, K2, F1 F2, ek);
	ref_key(TKM_DES, K2B, F2, pk);
	pt[0] = 16;
	memcpy(pt + 1, ek, 16);
	n = ref_pad(pt, 17, TKM_PAD_80, 8);
	assert_int_equal(n, 24);
	assert_int_equal(
	    tkm_cipher(TKM_DES, TKM_ECB, TKM_ENCRYPT, pk, 16, NULL, pt, n, ct),
	    TKM_OK);
	mn = hsmtest_unhex("84D401001C", m, sizeof(m));
	memcpy(m + mn, ct, n);
	hsmtest_unhex("A1B2C3D400000000", iv, sizeof(iv));
	assert_int_equal(tkm_mac(TKM_MAC_ALG3, TKM_DES, pk, 16, iv, m, mn + n,
			     TKM_PAD_80, mac, &mn),
	    TKM_OK);
	expect(t,
	    "U3X11509K0402" F1 F2 "1K0411" F2 "N"
	    "A1B2C3D400000000000584D401001C0005",
	    fmt("U400%s0024%s", hsmtest_hex(mac, 8), hsmtest_hex(ct, n)));
	/* the ciphertext in the middle of the MAC-fill (offset 2) */
	mn = hsmtest_unhex("84D4", m, sizeof(m));
	memcpy(m + mn, ct, n);
	mn += n;
	mn += hsmtest_unhex("01001C", m + mn, sizeof(m) - mn);
	assert_int_equal(tkm_mac(TKM_MAC_ALG3, TKM_DES, pk, 16, iv, m, mn,
			     TKM_PAD_80, mac, &mn),
	    TKM_OK);
	expect(t,
	    "U3X11509K0402" F1 F2 "1K0411" F2 "N"
	    "A1B2C3D400000000000584D401001C0002",
	    fmt("U400%s0024%s", hsmtest_hex(mac, 8), hsmtest_hex(ct, n)));
	hsmtest_free(t);
}

/* Scheme 0 under the TK (CBC, 80..), no MAC. */
static void
test_u3_tk_cbc(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t ek[24], tk[24], pt[32], ct[32], iv[8];
	size_t n;

	(void)state;
	put(t, TKM_DES, 0x040, "509", K2);
	put(t, TKM_DES, 0x000, "000", K2B);
	ref_key(TKM_DES, K2, F1, ek);
	ref_key(TKM_DES, K2B, "", tk);
	memcpy(pt, ek, 16);
	n = ref_pad(pt, 16, TKM_PAD_80, 8);
	hsmtest_unhex("0001020304050607", iv, sizeof(iv));
	assert_int_equal(
	    tkm_cipher(TKM_DES, TKM_CBC, TKM_ENCRYPT, tk, 16, iv, pt, n, ct),
	    TKM_OK);
	expect(t, "U3X00509K0401" F1 "0K000N0001020304050607",
	    fmt("U4000024%s", hsmtest_hex(ct, n)));
	/* the TK as a cryptogram */
	expect(t,
	    fmt("U3X00509K0401" F1 "0%sN0001020304050607",
		lmk(t, TKM_DES, "000", K2B)),
	    fmt("U4000024%s", hsmtest_hex(ct, n)));
	hsmtest_free(t);
}

/* Scheme 2 (fill data), SM4, process key, MAC. */
static void
test_u3_sm4_fill_process(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t ek[24], pk[24], pp[16], p[8], pt[64], ct[64], m[96], mac[16];
	size_t n, mn;

	(void)state;
	put(t, TKM_SM4, 0x040, "109", SM4K);
	put(t, TKM_SM4, 0x041, "309", K2B);
	ref_key(TKM_SM4, SM4K, F1, ek);
	ref_key(TKM_SM4, K2B, F1, pk);
	hsmtest_unhex("0000000000000102", p, sizeof(p));
	assert_int_equal(tkm_derive(TKM_SM4, pk, 16, p, 1, pp), TKM_OK);
	memcpy(pt, ek, 16);
	n = 16 + hsmtest_unhex("0102030405060708090A0B0C0D0E0F10", pt + 16, 16);
	assert_int_equal(
	    tkm_cipher(TKM_SM4, TKM_ECB, TKM_ENCRYPT, pp, 16, NULL, pt, n, ct),
	    TKM_OK);
	memcpy(m, ct, n);
	mn = n + hsmtest_unhex("84D4", m + n, 2);
	assert_int_equal(tkm_mac(TKM_MAC_ALG1, TKM_SM4, pp, 16, NULL, m, mn,
			     TKM_PAD_80, mac, &mn),
	    TKM_OK);
	expect(t,
	    "U3S12109K0401" F1 "1K0411" F1 "Y0000000000000102"
	    "00100102030405060708090A0B0C0D0E0F10"
	    "00000000000000000000000000000000000284D40000",
	    fmt("U400%s0032%s", hsmtest_hex(mac, 8), hsmtest_hex(ct, n)));
	hsmtest_free(t);
}

static void
test_u3_errors(void **state)
{
	static const struct {
		const char *req, *want;
	} cases[] = {
	    {"U3X00509K04000K000N0000000000000000", "U400"}, /* valid */
	    /* a TK does not compute MACs */
	    {"U3X10509K04000K000N0000000000000000000000000000000000000000",
		"U428"},
	    {"U3X00000K04000K000N0000000000000000", "U428"},    /* export TK */
	    {"U3X00008K04000K000N0000000000000000", "U428"},    /* a ZAK */
	    {"U3X00509K04100K000N0000000000000000", "U428"},    /* 309 as 509 */
	    {"U3X00509K04000K041N0000000000000000", "U428"},    /* TK is 309 */
	    {"U3X00509K04001K0000N0000000000000000", "U428"},   /* SMC 000 */
	    {"U3X00509K04000K0FFN0000000000000000", "U412"},    /* no TK */
	    {"U3X00509K0FF00K000N0000000000000000", "U412"},    /* no key */
	    {"U3Z00509K04000K000N0000000000000000", "U405"},    /* alg */
	    {"U3X20509K04000K000N0000000000000000", "U405"},    /* mode */
	    {"U3X03509K04000K000N0000000000000000", "U405"},    /* scheme */
	    {"U3X00509K04002K000N0000000000000000", "U405"},    /* prot 2 */
	    {"U3X00509K04000K000X0000000000000000", "U405"},    /* process */
	    {"U3X0050XK04000K000N0000000000000000", "U404"},    /* type */
	    {"U3X00509K04000K000N00000000000000", "U415"},      /* IV short */
	    {"U3X00509K04000K000N00000000000000000", "U415"},   /* trailing */
	    {"U3X00509K04000K000Y00000000", "U415"},            /* proc short */
	    {"U3X00509K04060K000N0000000000000000", "U415"},    /* n = 6 */
	    {"U3X02509K04000K000N0004AABBCCDD", "U480"},        /* not whole */
	    {"U3X02509K04000K000N0101", "U480"},                /* fill > 256 */
	    {"U3X02509K04000K000N0008AABBCCDDEEFF001", "U415"}, /* short */
	    /* offset beyond the MAC-fill, offset missing */
	    {"U3X11509K04001K0410N000000000000000000024444"
	     "0003",
		"U415"},
	    {"U3X11509K04001K0410N000000000000000000024444", "U415"},
	    {"U3", "U415"},
	    {"U3X00509K0421" F1 "0K000N0000000000000000", "U402"},
	};
	struct hsmtest *t = hsmtest_new(0);
	size_t i;

	(void)state;
	put(t, TKM_DES, 0x040, "509", K2);
	put(t, TKM_DES, 0x041, "309", K2B);
	put(t, TKM_DES, 0x000, "000", K2B);
	put(t, TKM_DES, 0x042, "509", "0123456789ABCDEF");
	for (i = 0; i < NELEM(cases); i++) {
		const char *got = hsmtest_cmd(t, cases[i].req, NULL);

		if (strncmp(got, cases[i].want, 4) != 0)
			fail_msg("%s: got %s, want %s", cases[i].req, got,
			    cases[i].want);
	}
	hsmtest_free(t);
}

/* --- UY ---------------------------------------------------------------- */

static void
test_uy_translate(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t sk[24], dk[24], d[32], ct[32], out[32], siv[16], div[16];
	size_t n;

	(void)state;
	put(t, TKM_DES, 0x030, "509", K2);
	put(t, TKM_SM4, 0x030, "509", SM4K);
	/* DES, ECB: stored 509 with derivation -> 00A cryptogram */
	ref_key(TKM_DES, K2, F1, sk);
	ref_key(TKM_DES, K2B, "", dk);
	n = hsmtest_unhex("00112233445566778899AABBCCDDEEFF", d, sizeof(d));
	assert_int_equal(
	    tkm_cipher(TKM_DES, TKM_ECB, TKM_ENCRYPT, sk, 16, NULL, d, n, ct),
	    TKM_OK);
	assert_int_equal(
	    tkm_cipher(TKM_DES, TKM_ECB, TKM_ENCRYPT, dk, 16, NULL, d, n, out),
	    TKM_OK);
	expect(t,
	    fmt("UYX509K0301" F1 "00A%s001016%s", lmk(t, TKM_DES, "00A", K2B),
		hsmtest_hex(ct, n)),
	    fmt("UZ00016%s", hsmtest_hex(out, n)));
	/* SM4, CBC with two IVs, both sides derived */
	ref_key(TKM_SM4, SM4K, F1, sk);
	ref_key(TKM_SM4, SM4K, F2 F1, dk);
	hsmtest_unhex("000102030405060708090A0B0C0D0E0F", siv, sizeof(siv));
	hsmtest_unhex("F0E0D0C0B0A090807060504030201000", div, sizeof(div));
	n = hsmtest_unhex("00112233445566778899AABBCCDDEEFF"
			  "0102030405060708090A0B0C0D0E0F10",
	    d, sizeof(d));
	assert_int_equal(
	    tkm_cipher(TKM_SM4, TKM_CBC, TKM_ENCRYPT, sk, 16, siv, d, n, ct),
	    TKM_OK);
	assert_int_equal(
	    tkm_cipher(TKM_SM4, TKM_CBC, TKM_ENCRYPT, dk, 16, div, d, n, out),
	    TKM_OK);
	expect(t,
	    fmt("UYS509K0301" F1 "509K0302" F2 F1
		"02000102030405060708090A0B0C0D0E0F"
		"F0E0D0C0B0A090807060504030201000032%s",
		hsmtest_hex(ct, n)),
	    fmt("UZ00032%s", hsmtest_hex(out, n)));
	hsmtest_free(t);
}

static void
test_uy_errors(void **state)
{
	static const struct {
		const char *req, *want;
	} cases[] = {
	    {"UYX509K0300509K030001008AABBCCDDEEFF0011", "UZ00"}, /* ok */
	    {"UYZ509K0300509K030001008AABBCCDDEEFF0011", "UZ05"},
	    {"UYX509K0300509K030003008AABBCCDDEEFF0011", "UZ05"},
	    {"UYX509K0300509K030000008AABBCCDDEEFF0011", "UZ05"},
	    {"UYX000K0300509K030001008AABBCCDDEEFF0011", "UZ28"},
	    {"UYX509K0300008K030001008AABBCCDDEEFF0011", "UZ28"},
	    {"UYX50XK0300509K030001008AABBCCDDEEFF0011", "UZ04"},
	    {"UYX509K0FF0509K030001008AABBCCDDEEFF0011", "UZ12"},
	    {"UYX509K0300509K030001007AABBCCDDEEFF00", "UZ80"},
	    {"UYX509K0300509K030001000", "UZ80"},
	    {"UYX509K0300509K030001008AABBCCDDEEFF001122", "UZ15"},
	    {"UYX509K0300509K030001008AABBCCDDEEFF00", "UZ15"},
	    {"UYX509K0300509K030002008AABBCCDDEEFF0011", "UZ15"},
	    {"UYX509K0306509K030001008AABBCCDDEEFF0011", "UZ15"},
	    {"UY", "UZ15"},
	    {"UYX509K0311" F1 "509K030001008AABBCCDDEEFF0011", "UZ02"},
	};
	struct hsmtest *t = hsmtest_new(0);
	size_t i;

	(void)state;
	put(t, TKM_DES, 0x030, "509", K2);
	put(t, TKM_DES, 0x031, "509", "0123456789ABCDEF");
	for (i = 0; i < NELEM(cases); i++) {
		const char *got = hsmtest_cmd(t, cases[i].req, NULL);

		if (strncmp(got, cases[i].want, 4) != 0)
			fail_msg("%s: got %s, want %s", cases[i].req, got,
			    cases[i].want);
	}
	hsmtest_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_u1_des_enc_dec),
	    cmocka_unit_test(test_u1_sm4),
	    cmocka_unit_test(test_u1_mac),
	    cmocka_unit_test(test_u1_single_and_process),
	    cmocka_unit_test(test_u1_errors),
	    cmocka_unit_test(test_u3_pboc_mac),
	    cmocka_unit_test(test_u3_tk_cbc),
	    cmocka_unit_test(test_u3_sm4_fill_process),
	    cmocka_unit_test(test_u3_errors),
	    cmocka_unit_test(test_uy_translate),
	    cmocka_unit_test(test_uy_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
