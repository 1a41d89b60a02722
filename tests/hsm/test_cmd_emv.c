/*
 * test_cmd_emv.c - KW (ARQC/ARPC) and G1 (SCP02 session keys) through the
 * real dispatcher (docs/protocol.md). The PBOC vectors of
 * tests/kat/public.txt go through KW end to end; the EMV schemes are
 * checked against libtkm's emv.h, itself pinned by KATs.
 */
#include "hsmtest.h"

#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/emv.h"
#include "tkm/mac.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* public.txt pboc.* */
#define PBOC_IMK "F0C34A8124CEE0A91A0B034AA97D6EAC"
#define PBOC_Y   "0622800010000101"
#define PBOC_ATC "0240"
#define PBOC_DATA                                                              \
	"000000000001000000000000015600800460000156140701001E78EEBC7D00024003" \
	"A04002"
#define PBOC_ARQC "5D016C91005E7CC2"
#define PBOC_ARPC "21415243527CE78F" /* ARC "01" = 3031 */

#define IMK2 "0123456789ABCDEFFEDCBA9876543210"

/* The key under the test DK as a key reference: 16H, X/Y/S+hex. */
static const char *
lmk(struct hsmtest *t, int alg, const char *type, const uint8_t *k, size_t n)
{
	uint8_t ct[24];
	char *s = hsmtest_strbuf();
	const char *p;

	assert_int_equal(
	    hsm_dk_lmk_encrypt(t->st.dk, alg, type, k, n, ct), TKM_OK);
	p = alg == TKM_SM4 ? "S" : n == 16 ? "X" : n == 24 ? "Y" : "";
	snprintf(s, 512, "%s%s", p, hsmtest_hex(ct, n));
	return s;
}

static const char *
lmkx(struct hsmtest *t, int alg, const char *type, const char *keyhex)
{
	uint8_t k[24];

	return lmk(t, alg, type, k, hsmtest_unhex(keyhex, k, sizeof(k)));
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

/* A binary request under construction. */
struct msg {
	uint8_t b[1024];
	size_t n;
};

static void
add(struct msg *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void
adds(struct msg *m, const char *s)
{
	add(m, s, strlen(s));
}

/* hex given, bytes appended */
static void
addx(struct msg *m, const char *h)
{
	uint8_t b[512];

	add(m, b, hsmtest_unhex(h, b, sizeof(b)));
}

/* Send m; the response must be want (code) followed by the bytes wantx
 * (hex, may be ""). */
static void
expect(
    struct hsmtest *t, const struct msg *m, const char *want, const char *wantx)
{
	uint8_t w[64];
	size_t rlen, wn = hsmtest_unhex(wantx, w, sizeof(w));
	const char *r = hsmtest_cmdn(t, m->b, m->n, &rlen);

	if (rlen != 4 + wn || memcmp(r, want, 4) != 0 ||
	    memcmp(r + 4, w, wn) != 0)
		fail_msg("%s: got %.4s + %s, want %s + %s",
		    hsmtest_hex(m->b, m->n), r,
		    hsmtest_hex(
			(const uint8_t *)r + 4, rlen > 4 ? rlen - 4 : 0),
		    want, wantx);
}

static void
expect_str(struct hsmtest *t, const char *req, const char *want)
{
	const char *got = hsmtest_cmd(t, req, NULL);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", req, got, want);
}

/* --- KW ---------------------------------------------------------------- */

/* The PBOC example: mode, MK-AC reference, then the rest per mode. */
static void
kw_pboc(struct msg *m, char mode, const char *mk, const char *arqc)
{
	char head[3] = {'K', 'W', '\0'};

	memset(m, 0, sizeof(*m));
	adds(m, head);
	add(m, &mode, 1);
	adds(m, "9");
	adds(m, mk);
	adds(m, "0");
	addx(m, PBOC_Y);
	addx(m, PBOC_ATC);
	if (mode == '0' || mode == '1' || mode == '3') {
		adds(m, "25"); /* 37 bytes */
		addx(m, PBOC_DATA);
		adds(m, ";");
	}
	addx(m, arqc);
	if (mode == '1' || mode == '2')
		adds(m, "01");
	if (mode == '3' || mode == '4') {
		addx(m, "00000000");
		adds(m, "0000");
	}
}

static void
test_kw_pboc_vector(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t imk[16];
	struct msg m;

	(void)state;
	hsmtest_unhex(PBOC_IMK, imk, sizeof(imk));
	tkm_des_parity_set(imk, sizeof(imk));
	put(t, TKM_DES, 0x001, "109", PBOC_IMK);
	/* verify + ARPC method 1: public.txt pboc.arpc1 */
	kw_pboc(&m, '1', "K001", PBOC_ARQC);
	expect(t, &m, "KX00", PBOC_ARPC);
	/* the same with the MK-AC as a cryptogram under DK: the vector's IMK
	 * has even parity, which a cryptogram may not carry (ERR 10); DES
	 * ignores the parity bits, so the adjusted key gives the same ARPC */
	kw_pboc(&m, '1', lmkx(t, TKM_DES, "109", PBOC_IMK), PBOC_ARQC);
	expect(t, &m, "KX10", "");
	kw_pboc(&m, '1', lmk(t, TKM_DES, "109", imk, 16), PBOC_ARQC);
	expect(t, &m, "KX00", PBOC_ARPC);
	/* verify only, ARPC only */
	kw_pboc(&m, '0', "K001", PBOC_ARQC);
	expect(t, &m, "KX00", "");
	kw_pboc(&m, '2', "K001", PBOC_ARQC);
	expect(t, &m, "KX00", PBOC_ARPC);
	/* a lower-case index */
	put(t, TKM_DES, 0x00A, "109", PBOC_IMK);
	kw_pboc(&m, '2', "K00a", PBOC_ARQC);
	expect(t, &m, "KX00", PBOC_ARPC);
	hsmtest_free(t);
}

static void
test_kw_pboc_verify_fails(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	struct msg m;

	(void)state;
	put(t, TKM_DES, 0x001, "109", PBOC_IMK);
	kw_pboc(&m, '0', "K001", "5D016C91005E7CC3");
	expect(t, &m, "KX01", "");
	kw_pboc(&m, '1', "K001", "5D016C91005E7CC3");
	expect(t, &m, "KX01", "");
	kw_pboc(&m, '3', "K001", "0000000000000000");
	expect(t, &m, "KX01", "");
	/* a data byte changed */
	kw_pboc(&m, '0', "K001", PBOC_ARQC);
	m.b[25] ^= 1;
	expect(t, &m, "KX01", "");
	/* another key */
	put(t, TKM_DES, 0x002, "109", IMK2);
	kw_pboc(&m, '0', "K002", PBOC_ARQC);
	expect(t, &m, "KX01", "");
	hsmtest_free(t);
}

/* The session key libtkm makes for scheme from IMK2, Y, factors. */
static void
ref_sk(int scheme, const char *f, const char *pan, const char *psn,
    const uint8_t iv[16], unsigned b, unsigned h, const uint8_t atc[2],
    uint8_t sk[16])
{
	uint8_t mk[16], imk[16], icc[16], fb[40], r[8] = {0};
	size_t nf = hsmtest_unhex(f, fb, sizeof(fb)) / 8;

	hsmtest_unhex(IMK2, mk, sizeof(mk));
	assert_int_equal(tkm_derive(TKM_DES, mk, 16, fb, nf, imk), TKM_OK);
	if (scheme == 1)
		assert_int_equal(
		    tkm_emv_icc_mk_b(imk, pan, psn, 1, icc), TKM_OK);
	else
		assert_int_equal(
		    tkm_emv_icc_mk_a(imk, pan, psn, scheme != 9, icc), TKM_OK);
	if (scheme == 0 || scheme == 1) {
		assert_int_equal(
		    tkm_emv2000_sk(icc, iv, b, h, atc, sk), TKM_OK);
	} else if (scheme == 2) {
		memcpy(r, atc, 2);
		assert_int_equal(tkm_emv_csk(icc, r, 1, sk), TKM_OK);
	} else {
		assert_int_equal(tkm_pboc_sk(icc, atc, sk), TKM_OK);
	}
}

static const uint8_t atc7[2] = {0x00, 0x07};
static const uint8_t txn[] = "transaction data 29 bytes....";

/* Scheme 2 (EMV CSK), verify + ARPC method 2 with proprietary data. */
static void
test_kw_csk_arpc2(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t sk[16], ac[8], arpc[4], iv[16] = {0};
	const uint8_t csu[4] = {0x00, 0x82, 0x00, 0x00}, prop[2] = {1, 2};
	struct msg m;

	(void)state;
	put(t, TKM_DES, 0x003, "109", IMK2);
	ref_sk(2, "", "45123456789012", "34", iv, 0, 0, atc7, sk);
	assert_int_equal(
	    tkm_emv_ac(sk, txn, sizeof(txn) - 1, TKM_PAD_80, ac), TKM_OK);
	assert_int_equal(tkm_emv_arpc2(sk, ac, csu, prop, 2, arpc), TKM_OK);
	memset(&m, 0, sizeof(m));
	adds(&m, "KW32K003");
	adds(&m, "0");
	addx(&m, "4512345678901234");
	add(&m, atc7, 2);
	adds(&m, "1D");
	add(&m, txn, sizeof(txn) - 1);
	adds(&m, ";");
	add(&m, ac, 8);
	add(&m, csu, 4);
	adds(&m, "0002");
	add(&m, prop, 2);
	expect(t, &m, "KX00", hsmtest_hex(arpc, 4));
	/* ARPC method 2 only (mode 4), no proprietary data */
	assert_int_equal(tkm_emv_arpc2(sk, ac, csu, NULL, 0, arpc), TKM_OK);
	memset(&m, 0, sizeof(m));
	adds(&m, "KW42K003");
	adds(&m, "0");
	addx(&m, "4512345678901234");
	add(&m, atc7, 2);
	add(&m, ac, 8);
	add(&m, csu, 4);
	adds(&m, "0000");
	expect(t, &m, "KX00", hsmtest_hex(arpc, 4));
	hsmtest_free(t);
}

/* Scheme 0 (EMV2000 tree, option A) with IV-AC as 32H and as 16B, both
 * B/H settings, and one level of MK-AC derivation. */
static void
test_kw_tree_a(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t sk[16], ac[8], arpc[8], iv[16];
	const uint8_t arc[2] = {'0', '0'};
	unsigned bh;
	int bin;
	struct msg m;

	(void)state;
	put(t, TKM_DES, 0x004, "109", IMK2);
	hsmtest_unhex("00112233445566778899AABBCCDDEEFF", iv, sizeof(iv));
	for (bh = 0; bh < 2; bh++)
		for (bin = 0; bin < 2; bin++) {
			ref_sk(0, "5810FF0000000000", "45123456789012", "34",
			    iv, bh ? 4 : 2, bh ? 8 : 16, atc7, sk);
			assert_int_equal(tkm_emv_ac(sk, txn, sizeof(txn) - 1,
					     TKM_PAD_80, ac),
			    TKM_OK);
			assert_int_equal(
			    tkm_emv_arpc1(sk, ac, arc, arpc), TKM_OK);
			memset(&m, 0, sizeof(m));
			adds(&m, "KW10K004");
			if (bin)
				add(&m, iv, 16);
			else
				adds(&m, "00112233445566778899aabbccddeeff");
			adds(&m, "1");
			addx(&m, "5810FF0000000000");
			addx(&m, "4512345678901234");
			adds(&m, bh ? "1" : "0");
			add(&m, atc7, 2);
			adds(&m, "1D");
			add(&m, txn, sizeof(txn) - 1);
			adds(&m, ";");
			add(&m, ac, 8);
			add(&m, arc, 2);
			expect(t, &m, "KX00", hsmtest_hex(arpc, 8));
		}
	hsmtest_free(t);
}

/* Scheme 1: option B with a 19-digit PAN, BCD with a leading 0 pad and
 * with a trailing F pad. */
static void
test_kw_tree_b(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t sk[16], ac[8], iv[16] = {0};
	struct msg m;

	(void)state;
	put(t, TKM_DES, 0x005, "109", IMK2);
	ref_sk(1, "", "6212345678901234567", "80", iv, 2, 16, atc7, sk);
	assert_int_equal(
	    tkm_emv_ac(sk, txn, sizeof(txn) - 1, TKM_PAD_80, ac), TKM_OK);
	/* leading 0 pad: 0 6212345678901234567 80 = 22 digits */
	memset(&m, 0, sizeof(m));
	adds(&m, "KW01K005");
	add(&m, iv, 16);
	adds(&m, "0");
	adds(&m, "11");
	addx(&m, "0621234567890123456780");
	adds(&m, ";0");
	add(&m, atc7, 2);
	adds(&m, "1D");
	add(&m, txn, sizeof(txn) - 1);
	adds(&m, ";");
	add(&m, ac, 8);
	expect(t, &m, "KX00", "");
	/* trailing F pad: 6212345678901234567 80 F */
	memset(&m, 0, sizeof(m));
	adds(&m, "KW01K005");
	add(&m, iv, 16);
	adds(&m, "0");
	adds(&m, "11");
	addx(&m, "621234567890123456780F");
	adds(&m, ";0");
	add(&m, atc7, 2);
	adds(&m, "1D");
	add(&m, txn, sizeof(txn) - 1);
	adds(&m, ";");
	add(&m, ac, 8);
	expect(t, &m, "KX00", "");
	/* a 16-digit PAN is option A again */
	ref_sk(1, "", "6212345678901234", "01", iv, 2, 16, atc7, sk);
	assert_int_equal(
	    tkm_emv_ac(sk, txn, sizeof(txn) - 1, TKM_PAD_80, ac), TKM_OK);
	memset(&m, 0, sizeof(m));
	adds(&m, "KW01K005");
	add(&m, iv, 16);
	adds(&m, "0");
	adds(&m, "09");
	addx(&m, "621234567890123401");
	adds(&m, ";0");
	add(&m, atc7, 2);
	adds(&m, "1D");
	add(&m, txn, sizeof(txn) - 1);
	adds(&m, ";");
	add(&m, ac, 8);
	expect(t, &m, "KX00", "");
	hsmtest_free(t);
}

/* Every strict prefix of a valid request is refused as truncated (15),
 * and so is a byte more. */
static void
test_kw_truncated(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	struct msg m, p;
	size_t i;

	(void)state;
	put(t, TKM_DES, 0x001, "109", PBOC_IMK);
	kw_pboc(&m, '1', "K001", PBOC_ARQC);
	for (i = 2; i < m.n; i++) {
		memset(&p, 0, sizeof(p));
		add(&p, m.b, i);
		expect(t, &p, "KX15", "");
	}
	add(&m, "0", 1);
	expect(t, &m, "KX15", "");
	hsmtest_free(t);
}

static void
test_kw_errors(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	struct msg m;

	(void)state;
	put(t, TKM_DES, 0x001, "109", PBOC_IMK);
	put(t, TKM_DES, 0x002, "509", PBOC_IMK);
	put(t, TKM_DES, 0x003, "109", "0123456789ABCDEF");
	/* mode 5, mode A, scheme 3 */
	kw_pboc(&m, '1', "K001", PBOC_ARQC);
	m.b[2] = '5';
	expect(t, &m, "KX05", "");
	m.b[2] = 'A';
	expect(t, &m, "KX05", "");
	kw_pboc(&m, '1', "K001", PBOC_ARQC);
	m.b[3] = '3';
	expect(t, &m, "KX05", "");
	/* MK-AC of another type: stored, and as a cryptogram */
	kw_pboc(&m, '1', "K002", PBOC_ARQC);
	expect(t, &m, "KX28", "");
	/* nothing stored at the index */
	kw_pboc(&m, '1', "K0FF", PBOC_ARQC);
	expect(t, &m, "KX12", "");
	/* a single-length MK-AC */
	kw_pboc(&m, '1', "K003", PBOC_ARQC);
	expect(t, &m, "KX02", "");
	/* an SM4 key scheme for a DES command */
	kw_pboc(&m, '1', lmkx(t, TKM_SM4, "109", PBOC_IMK), PBOC_ARQC);
	expect(t, &m, "KX26", "");
	/* the Y block is not BCD */
	kw_pboc(&m, '1', "K001", PBOC_ARQC);
	m.b[9] = 0x0A;
	expect(t, &m, "KX15", "");
	/* n = 6 derivation levels */
	kw_pboc(&m, '1', "K001", PBOC_ARQC);
	m.b[8] = '6';
	expect(t, &m, "KX15", "");
	/* transaction data length 00, then a non-hex length */
	kw_pboc(&m, '1', "K001", PBOC_ARQC);
	m.b[19] = '0';
	m.b[20] = '0';
	expect(t, &m, "KX80", "");
	m.b[19] = 'G';
	expect(t, &m, "KX15", "");
	/* the ';' after the data is missing */
	kw_pboc(&m, '1', "K001", PBOC_ARQC);
	m.b[21 + 37] = ':';
	expect(t, &m, "KX15", "");
	/* proprietary data longer than 8 bytes */
	kw_pboc(&m, '4', "K001", PBOC_ARQC);
	memcpy(m.b + m.n - 4, "0009", 4);
	add(&m, "123456789", 9);
	expect(t, &m, "KX80", "");
	/* sealed */
	{
		struct hsm_dk *dk = t->st.dk;

		kw_pboc(&m, '1', "K001", PBOC_ARQC);
		t->st.dk = NULL;
		expect(t, &m, "KX13", "");
		t->st.dk = dk;
	}
	hsmtest_free(t);
}

static void
test_kw_tree_errors(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t iv[16] = {0};
	struct msg m;

	(void)state;
	put(t, TKM_DES, 0x005, "109", IMK2);
	/* B/H 2 */
	memset(&m, 0, sizeof(m));
	adds(&m, "KW20K005");
	add(&m, iv, 16);
	adds(&m, "0");
	addx(&m, "4512345678901234");
	adds(&m, "2");
	add(&m, atc7, 2);
	addx(&m, "0000000000000000");
	adds(&m, "00");
	expect(t, &m, "KX05", "");
	/* scheme 1: PAN length 01, 12, missing ';', nibble A */
	memset(&m, 0, sizeof(m));
	adds(&m, "KW21K005");
	add(&m, iv, 16);
	adds(&m, "001");
	addx(&m, "01");
	adds(&m, ";0");
	add(&m, atc7, 2);
	addx(&m, "0000000000000000");
	adds(&m, "00");
	expect(t, &m, "KX80", "");
	memcpy(m.b + 25, "12", 2);
	expect(t, &m, "KX80", "");
	memset(&m, 0, sizeof(m));
	adds(&m, "KW21K005");
	add(&m, iv, 16);
	adds(&m, "009");
	addx(&m, "621234567890123401");
	adds(&m, ":0");
	add(&m, atc7, 2);
	addx(&m, "0000000000000000");
	adds(&m, "00");
	expect(t, &m, "KX15", "");
	m.b[27 + 9] = ';';
	m.b[27] = 0x6A;
	expect(t, &m, "KX15", "");
	hsmtest_free(t);
}

/* --- G1 ---------------------------------------------------------------- */

/* G2 fields expected for card key (hex) and sequence counter. */
static const char *
g1_want(struct hsmtest *t, const char *cardhex, const char *seqhex)
{
	static const unsigned consts[] = {
	    TKM_SCP02_ENC, TKM_SCP02_CMAC, TKM_SCP02_RMAC, TKM_SCP02_DEK};
	static const char *const types[] = {"00A", "008", "008", "00A"};
	static char want[256];
	uint8_t card[16], seq[2], sk[16];
	size_t i;

	hsmtest_unhex(cardhex, card, sizeof(card));
	hsmtest_unhex(seqhex, seq, sizeof(seq));
	snprintf(want, sizeof(want), "G200");
	for (i = 0; i < 4; i++) {
		assert_int_equal(
		    tkm_scp02_sk(card, consts[i], seq, sk), TKM_OK);
		tkm_des_parity_set(sk, sizeof(sk));
		snprintf(want + 4 + 33 * i, sizeof(want) - 4 - 33 * i, "%s",
		    lmk(t, TKM_DES, types[i], sk, 16));
	}
	return want;
}

static void
test_g1_session_keys(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	char req[128];

	(void)state;
	put(t, TKM_DES, 0x010, "309", IMK2);
	expect_str(t, "G11309K0100001", g1_want(t, IMK2, "0001"));
	snprintf(
	    req, sizeof(req), "G11209%s00ff", lmkx(t, TKM_DES, "209", IMK2));
	expect_str(t, req, g1_want(t, IMK2, "00FF"));
	hsmtest_free(t);
}

static void
test_g1_derived(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t mk[16], d[8], card[16];

	(void)state;
	put(t, TKM_DES, 0x010, "309", IMK2);
	hsmtest_unhex(IMK2, mk, sizeof(mk));
	hsmtest_unhex("1122334455667788", d, sizeof(d));
	assert_int_equal(tkm_derive(TKM_DES, mk, 16, d, 1, card), TKM_OK);
	expect_str(t, "G10309K0101122334455667788002A",
	    g1_want(t, hsmtest_hex(card, 16), "002A"));
	/* a 24-byte master key derives to a 16-byte card key */
	put(t, TKM_DES, 0x011, "309", IMK2 "0123456789ABCDEF");
	{
		uint8_t mk3[24];

		hsmtest_unhex(IMK2 "0123456789ABCDEF", mk3, sizeof(mk3));
		assert_int_equal(
		    tkm_derive(TKM_DES, mk3, 24, d, 1, card), TKM_OK);
	}
	expect_str(t, "G10309K0111122334455667788002A",
	    g1_want(t, hsmtest_hex(card, 16), "002A"));
	hsmtest_free(t);
}

/* The S-ENC key G1 returns is a working key for U1 (type 00A). */
static void
test_g1_key_usable(void **state)
{
	struct hsmtest *t = hsmtest_new(0);
	uint8_t card[16], seq[2] = {0, 1}, sk[16], ct[8];
	const uint8_t pt[8] = "12345678";
	char senc[40], req[128], want[64];
	const char *r;

	(void)state;
	put(t, TKM_DES, 0x010, "309", IMK2);
	r = hsmtest_cmd(t, "G11309K0100001", NULL);
	assert_memory_equal(r, "G200", 4);
	snprintf(senc, sizeof(senc), "%.33s", r + 4);
	hsmtest_unhex(IMK2, card, sizeof(card));
	assert_int_equal(tkm_scp02_sk(card, TKM_SCP02_ENC, seq, sk), TKM_OK);
	assert_int_equal(
	    tkm_cipher(TKM_DES, TKM_ECB, TKM_ENCRYPT, sk, 16, NULL, pt, 8, ct),
	    TKM_OK);
	snprintf(
	    req, sizeof(req), "U1X00100A%s000008%s", senc, hsmtest_hex(pt, 8));
	snprintf(want, sizeof(want), "U200008%s", hsmtest_hex(ct, 8));
	expect_str(t, req, want);
	hsmtest_free(t);
}

static void
test_g1_errors(void **state)
{
	static const struct {
		const char *req, *want;
	} cases[] = {
	    {"G12309K0100001", "G205"},               /* flag 2 */
	    {"G1X309K0100001", "G205"},               /* flag not a digit */
	    {"G11000K0100001", "G228"},               /* a TK */
	    {"G11509K0100001", "G228"},               /* a data key */
	    {"G110X9K0100001", "G204"},               /* unknown type code */
	    {"G11209K0100001", "G228"},               /* stored as 309 */
	    {"G11309K0FF0001", "G212"},               /* empty index */
	    {"G11309K0120001", "G202"},               /* 24-byte card key */
	    {"G11309K0130001", "G202"},               /* single length */
	    {"G11309K010000G", "G215"},               /* bad hex counter */
	    {"G11309K010001", "G215"},                /* counter truncated */
	    {"G11309K01000010", "G215"},              /* trailing */
	    {"G10309K010112233445566770001", "G215"}, /* short factor */
	    {"G11309", "G215"},                       /* no key */
	    {"G1", "G215"},                           /* nothing */
	    {"G11309S0123456789ABCDEF0123456789ABCDEF0001", "G226"},
	};
	struct hsmtest *t = hsmtest_new(0);
	size_t i;

	(void)state;
	put(t, TKM_DES, 0x010, "309", IMK2);
	put(t, TKM_DES, 0x012, "309", IMK2 "0123456789ABCDEF");
	put(t, TKM_DES, 0x013, "309", "0123456789ABCDEF");
	for (i = 0; i < NELEM(cases); i++)
		expect_str(t, cases[i].req, cases[i].want);
	hsmtest_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kw_pboc_vector),
	    cmocka_unit_test(test_kw_pboc_verify_fails),
	    cmocka_unit_test(test_kw_csk_arpc2),
	    cmocka_unit_test(test_kw_tree_a),
	    cmocka_unit_test(test_kw_tree_b),
	    cmocka_unit_test(test_kw_truncated),
	    cmocka_unit_test(test_kw_errors),
	    cmocka_unit_test(test_kw_tree_errors),
	    cmocka_unit_test(test_g1_session_keys),
	    cmocka_unit_test(test_g1_derived),
	    cmocka_unit_test(test_g1_key_usable),
	    cmocka_unit_test(test_g1_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
