/*
 * hsm_interop.c - the card and PSAM emulators against tkms-hsmd's real
 * dispatcher (tests/hsm/hsmtest.h), DES and SM4: the host commands a
 * personalisation system, a load host and the clearing send
 * (docs/sim.md):
 *   - U3 (mode 1, scheme 1, protection 309) writes ecash_enc under the
 *     card's transport key, then the load, purchase and TAC keys under
 *     ecash_enc, and the business purchase key into the PSAM;
 *   - UB scheme 1 verifies the card's MAC1 and makes MAC2 of a load;
 *   - the PSAM makes MAC1 and checks MAC2 of a purchase;
 *   - UB scheme 2 verifies both TACs as the clearing does;
 *   - KW scheme 9 verifies the card's ARQC and makes the ARPC it accepts.
 *
 * Not matched by the tests/sim/test_*.c glob (it needs hsmcore too); the
 * CMake lines that build it are in the lead's hands (see docs/sim.md).
 */
#include "hsmtest.h"

#include "card.h"
#include "psam.h"
#include "sm.h"
#include "tkm/crypto.h"

#define ASN      "3104581000001234"
#define TK       "11111111111111111111111111111111"
#define BK_LOAD  "000102030405060708090A0B0C0D0E0F"
#define BK_PURCH "101112131415161718191A1B1C1D1E1F"
#define BK_TAC   "202122232425262728292A2B2C2D2E2F"
#define BK_AC    "404142434445464748494A4B4C4D4E4F"
#define BK_ENC   "505152535455565758595A5B5C5D5E5F"
#define TERM     "112233445566"

/* HSM key indexes */
#define K_LOAD  "K040"
#define K_ENC   "K041"
#define K_TK    "K042"
#define K_TAC   "K043"
#define K_AC    "K044"
#define K_PURCH "K045"

static void
put(struct hsmtest *t, int alg, unsigned index, const char *type,
    const char *keyhex)
{
	struct hsm_cmd_ctx c = hsmtest_ctx(t);
	struct hsm_key key;

	memset(&key, 0, sizeof(key));
	key.alg = alg;
	key.len = hsmtest_unhex(keyhex, key.k, sizeof(key.k));
	if (alg == TKM_DES)
		tkm_des_parity_set(key.k, key.len);
	memcpy(key.type, type, HSM_TYPE_LEN + 1);
	assert_int_equal(hsm_key_store(&c, &key, index, "test"), TKM_OK);
}

/* An APDU as hex to the card or PSAM (one of c, s); the response data
 * into out (may be NULL), the status word. */
static unsigned
tx(struct sim_card *c, struct sim_psam *s, const uint8_t *cmd, size_t len,
    uint8_t *out, size_t *olen)
{
	uint8_t resp[SIM_APDU_MAX_RESP];
	size_t n = 0;

	if (c != NULL)
		assert_int_equal(
		    sim_card_apdu(c, cmd, len, resp, sizeof(resp), &n), TKM_OK);
	else
		assert_int_equal(
		    sim_psam_apdu(s, cmd, len, resp, sizeof(resp), &n), TKM_OK);
	assert_true(n >= 2);
	if (out != NULL)
		memcpy(out, resp, n - 2);
	if (olen != NULL)
		*olen = n - 2;
	return sim_sw(resp, n);
}

static unsigned
txh(struct sim_card *c, struct sim_psam *s, const char *hex, uint8_t *out)
{
	uint8_t cmd[SIM_APDU_MAX_CMD];
	size_t len = hsmtest_unhex(hex, cmd, sizeof(cmd));

	return tx(c, s, cmd, len, out, NULL);
}

static const char *
zero_iv(int alg)
{
	return alg == TKM_DES ? "0000000000000000"
			      : "00000000000000000000000000000000";
}

static const char *
expect_ok(struct hsmtest *t, const char *req, const char *want)
{
	const char *r = hsmtest_cmd(t, req, NULL);

	if (strncmp(r, want, strlen(want)) != 0)
		fail_msg("%s -> %s", req, r);
	return r + strlen(want);
}

/*
 * WRITE KEY through U3: key `type` at kx (derived by the ASN when kd),
 * under the 309 key px (derived by the ASN when pd), P1 P2.
 */
static void
write_key(struct hsmtest *t, struct sim_card *c, struct sim_psam *s, int alg,
    const char *type, const char *kx, int kd, const char *px, int pd,
    uint8_t p1, uint8_t p2)
{
	uint8_t iv[16] = {0}, fill[SIM_SM_FILL_LEN], ct[SIM_SM_MAX_CT];
	uint8_t mac[8], apdu[64];
	char req[512], mhex[17], lhex[5];
	const char *r;
	size_t n = 0, ctlen;

	assert_int_equal(txh(c, s, "0084000004", iv), SIM_SW_OK);
	assert_int_equal(sim_sm_mac_fill(alg, p1, p2, fill), TKM_OK);
	snprintf(req, sizeof(req), "U3%c11%s%s%s%s1%s%s%sN%s0005%s0005",
	    alg == TKM_DES ? 'X' : 'S', type, kx, kd ? "1" : "0", kd ? ASN : "",
	    px, pd ? "1" : "0", pd ? ASN : "",
	    hsmtest_hex(iv, tkm_block_len(alg)), hsmtest_hex(fill, 5));
	r = expect_ok(t, req, "U400");
	memcpy(mhex, r, 16);
	mhex[16] = '\0';
	memcpy(lhex, r + 16, 4);
	lhex[4] = '\0';
	hsmtest_unhex(mhex, mac, sizeof(mac));
	ctlen = (size_t)strtoul(lhex, NULL, 10);
	assert_int_equal(ctlen, sim_sm_ct_len(alg));
	assert_int_equal(hsmtest_unhex(r + 20, ct, sizeof(ct)), ctlen);
	assert_int_equal(sim_sm_write_key_apdu(alg, p1, p2, ct, ctlen, mac,
			     apdu, sizeof(apdu), &n),
	    TKM_OK);
	assert_int_equal(tx(c, s, apdu, n, NULL, NULL), SIM_SW_OK);
}

/* A load with MAC1 verified and MAC2 made by UB scheme 1, the TAC
 * verified by UB scheme 2. */
static void
load(struct hsmtest *t, struct sim_card *c, int alg)
{
	const char *a = alg == TKM_DES ? "X" : "S", *mac2;
	uint8_t r[16];
	char req[512], cmd[64], proc[17];

	assert_int_equal(
	    txh(c, NULL, "805000020B0100002710" TERM "10", r), SIM_SW_OK);
	snprintf(proc, sizeof(proc), "%s%s8000", hsmtest_hex(r + 8, 4),
	    hsmtest_hex(r + 4, 2));
	snprintf(req, sizeof(req),
	    "UB%s21509" K_LOAD "1" ASN "%s0%s015%s0000271002" TERM "04%s", a,
	    proc, zero_iv(alg), hsmtest_hex(r, 4), hsmtest_hex(r + 12, 4));
	expect_ok(t, req, "UC00");
	snprintf(req, sizeof(req),
	    "UB%s11509" K_LOAD "1" ASN "%s0%s0180000271002" TERM
	    "2024013112000004",
	    a, proc, zero_iv(alg));
	mac2 = expect_ok(t, req, "UC00");
	snprintf(cmd, sizeof(cmd), "805200000B20240131120000%s04", mac2);
	assert_int_equal(txh(c, NULL, cmd, r), SIM_SW_OK);
	/* new balance || online SN || amount || type || term || date time */
	snprintf(req, sizeof(req),
	    "UB%s22509" K_TAC "1" ASN "0%s"
	    "024"
	    "00002710"
	    "0000"
	    "00002710"
	    "02" TERM "20240131"
	    "120000"
	    "04%s",
	    a, zero_iv(alg), hsmtest_hex(r, 4));
	expect_ok(t, req, "UC00");
	assert_int_equal(sim_card_balance(c), 10000);
}

/* A purchase between card and PSAM; the TAC verified by UB scheme 2. */
static void
purchase(struct hsmtest *t, struct sim_card *c, struct sim_psam *s, int alg)
{
	uint8_t r[16], m[8];
	char cmd[160], req[512];

	assert_int_equal(
	    txh(c, NULL, "805001020B01000005DC" TERM "0F", r), SIM_SW_OK);
	/* rnd | offline SN | amount | 06 | date | time | version | alg | ASN */
	snprintf(cmd, sizeof(cmd),
	    "807000001C%s%s"
	    "000005DC"
	    "06"
	    "20240201"
	    "083000"
	    "%s" ASN "08",
	    hsmtest_hex(r + 11, 4), hsmtest_hex(r + 4, 2),
	    hsmtest_hex(r + 9, 2));
	assert_int_equal(txh(NULL, s, cmd, m), SIM_SW_OK);
	snprintf(cmd, sizeof(cmd), "805401000F%s20240201083000%s08",
	    hsmtest_hex(m, 4), hsmtest_hex(m + 4, 4));
	assert_int_equal(txh(c, NULL, cmd, r), SIM_SW_OK);
	snprintf(cmd, sizeof(cmd), "8072000004%s", hsmtest_hex(r + 4, 4));
	assert_int_equal(txh(NULL, s, cmd, NULL), SIM_SW_OK);
	/* amount || type || term || terminal SN || date || time */
	snprintf(req, sizeof(req),
	    "UB%s22509" K_TAC "1" ASN "0%s022000005DC06" TERM "%s"
	    "2024020108300004%s",
	    alg == TKM_DES ? "X" : "S", zero_iv(alg), hsmtest_hex(m, 4),
	    hsmtest_hex(r, 4));
	expect_ok(t, req, "UC00");
	assert_int_equal(sim_card_balance(c), 10000 - 1500);
}

/* GENERATE AC, KW scheme 9 verify + ARPC method 1, issuer auth. */
static void
emv(struct hsmtest *t, struct sim_card *c)
{
	uint8_t r[16], kw[128], apdu[16];
	const char *resp;
	size_t kl = 0, n = 0;

	assert_int_equal(txh(c, NULL,
			     "80AE8000050102030405"
			     "00",
			     r),
	    SIM_SW_OK);
	memcpy(kw, "KW19" K_AC "0", 9);
	kl = 9;
	kl += hsmtest_unhex(ASN, kw + kl, 8);
	memcpy(kw + kl, r + 3, 2); /* ATC */
	kl += 2;
	memcpy(kw + kl, "07", 2); /* data: CDOL1 || ATC */
	kl += 2;
	kl += hsmtest_unhex("0102030405", kw + kl, 5);
	memcpy(kw + kl, r + 3, 2);
	kl += 2;
	kw[kl++] = ';';
	memcpy(kw + kl, r + 5, 8); /* ARQC */
	kl += 8;
	memcpy(kw + kl, "00", 2); /* ARC */
	kl += 2;
	resp = hsmtest_cmdn(t, kw, kl, &n);
	assert_int_equal(n, 12);
	assert_memory_equal(resp, "KX00", 4);
	memcpy(apdu, "\x00\x82\x00\x00\x0A", 5);
	memcpy(apdu + 5, resp + 4, 8);
	memcpy(apdu + 13, "00", 2);
	assert_int_equal(tx(c, NULL, apdu, 15, NULL, NULL), SIM_SW_OK);
}

static void
run(int alg)
{
	struct hsmtest *t = hsmtest_new(0);
	struct sim_card_params p = {.alg = alg};
	struct sim_psam_params pp = {.term_sn = 1};
	struct sim_card *c = NULL;
	struct sim_psam *s = NULL;

	put(t, alg, 0x040, "509", BK_LOAD);
	put(t, alg, 0x041, "309", BK_ENC);
	put(t, alg, 0x042, "309", TK);
	put(t, alg, 0x043, "509", BK_TAC);
	put(t, alg, 0x045, "509", BK_PURCH);
	hsmtest_unhex(ASN, p.asn, sizeof(p.asn));
	hsmtest_unhex(TK, p.tk, sizeof(p.tk));
	assert_int_equal(sim_card_new(&p, &c), TKM_OK);
	hsmtest_unhex(TERM, pp.term, sizeof(pp.term));
	pp.has_tk_des = alg == TKM_DES;
	pp.has_tk_sm4 = alg == TKM_SM4;
	hsmtest_unhex(TK, alg == TKM_DES ? pp.tk_des : pp.tk_sm4, 16);
	assert_int_equal(sim_psam_new(&pp, &s), TKM_OK);
	/* personalisation */
	assert_int_equal(
	    txh(c, NULL, "00A4040008A000000632010105", NULL), SIM_SW_OK);
	write_key(t, c, NULL, alg, "309", K_ENC, 1, K_TK, 0, SIM_KEY_SM_ENC, 1);
	write_key(t, c, NULL, alg, "509", K_LOAD, 1, K_ENC, 1, SIM_KEY_LOAD, 1);
	write_key(
	    t, c, NULL, alg, "509", K_PURCH, 1, K_ENC, 1, SIM_KEY_PURCHASE, 1);
	write_key(t, c, NULL, alg, "509", K_TAC, 1, K_ENC, 1, SIM_KEY_TAC, 1);
	assert_int_equal(txh(NULL, s, "00A40000021001", NULL), SIM_SW_OK);
	write_key(
	    t, NULL, s, alg, "509", K_PURCH, 0, K_TK, 0, sim_alg_id(alg), 1);
	load(t, c, alg);
	purchase(t, c, s, alg);
	if (alg == TKM_DES) {
		put(t, alg, 0x044, "109", BK_AC);
		write_key(
		    t, c, NULL, alg, "109", K_AC, 1, K_ENC, 1, SIM_KEY_AC, 1);
		emv(t, c);
	}
	sim_card_free(c);
	sim_psam_free(s);
	hsmtest_free(t);
}

static void
test_des(void **state)
{
	(void)state;
	run(TKM_DES);
}

static void
test_sm4(void **state)
{
	(void)state;
	run(TKM_SM4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_des),
	    cmocka_unit_test(test_sm4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
