/*
 * test_psam.c - the PSAM emulator (src/sim/psam.h), alone and with the
 * card: a load, then a purchase between card and PSAM.
 *
 * Known answers: VEC_* of simtest.h, computed by tests/sim/vectors.py with
 * python3-cryptography, independently of libtkm. Each test runs for DES
 * and SM4.
 */
#include <stdlib.h>
#include <unistd.h>

#include "simtest.h"
#include "tkm/purse.h"

#define CARD_SELECT "00A4040008A000000632010105"
#define PSAM_SELECT "00A4000002100100"
#define V(alg, n)   ((alg) == TKM_DES ? VEC_DES_##n : VEC_SM4_##n)

static int des = TKM_DES, sm4 = TKM_SM4;

struct fx {
	int alg;
	struct simtest_rng rng;
	struct sim_card *c;
	struct sim_psam *s;
};

static struct sim_psam *
new_psam(int alg, struct simtest_rng *rng)
{
	struct sim_psam_params p = {.term_sn = 1};
	struct sim_psam *s = NULL;

	unhex_n(T_TERM, p.term, SIM_TERM_ID_LEN);
	if (alg == TKM_DES) {
		p.has_tk_des = 1;
		unhex_n(T_TK, p.tk_des, SIM_KEY_LEN);
	} else {
		p.has_tk_sm4 = 1;
		unhex_n(T_TK, p.tk_sm4, SIM_KEY_LEN);
	}
	assert_int_equal(sim_psam_new(&p, &s), TKM_OK);
	sim_psam_set_rng(s, simtest_rng, rng);
	return s;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->alg = *(int *)*state;
	f->c = simtest_card(f->alg, &f->rng);
	f->s = new_psam(f->alg, &f->rng);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	sim_card_free(f->c);
	sim_psam_free(f->s);
	free(f);
	return 0;
}

/* The business purchase key into the PSAM by 84D4 under its transport
 * key, as the HSM's U3 makes it (n = 0: no diversification). */
static unsigned
psam_write_key(struct fx *f, const char *bk_hex, unsigned version)
{
	uint8_t tk[16], bk[16], rnd[4] = {9, 8, 7, 6}, apdu[64];
	uint8_t resp[SIM_APDU_MAX_RESP];
	size_t n = 0;

	unhex_n(T_TK, tk, 16);
	unhex_n(bk_hex, bk, 16);
	simtest_rng_set(&f->rng, "09080706");
	assert_int_equal(psam_tx(f->s, "0084000004", NULL), SIM_SW_OK);
	assert_int_equal(sim_sm_wrap_key(f->alg, tk, rnd, 4, sim_alg_id(f->alg),
			     (uint8_t)version, bk, apdu, sizeof(apdu), &n),
	    TKM_OK);
	assert_int_equal(
	    sim_psam_apdu(f->s, apdu, n, resp, sizeof(resp), &n), TKM_OK);
	return simtest_resp(resp, n, NULL);
}

/* The card's load of vectors.py (KAT), the host being an HSM. */
static void
kat_load(struct fx *f)
{
	char cmd[80], out[HEXBUF];

	simtest_personalise(f->c, &f->rng, f->alg);
	simtest_rng_set(&f->rng, "A1A2A3A4");
	assert_int_equal(
	    card_tx(f->c, "805000020B0100002710" T_TERM "10", out), SIM_SW_OK);
	assert_string_equal(out, V(f->alg, INIT_LOAD));
	snprintf(cmd, sizeof(cmd), "805200000B20240131120000%s04",
	    V(f->alg, LOAD_MAC2));
	assert_int_equal(card_tx(f->c, cmd, out), SIM_SW_OK);
	assert_string_equal(out, V(f->alg, LOAD_TAC));
}

/* Load, then the purchase of vectors.py through card and PSAM. */
static void
test_purchase_kat(void **state)
{
	struct fx *f = *state;
	char cmd[128], out[HEXBUF], mac1[9], mac2[9];
	uint8_t term[6];

	kat_load(f);
	assert_int_equal(psam_tx(f->s, PSAM_SELECT, NULL), SIM_SW_OK);
	assert_int_equal(psam_write_key(f, T_BK_PURCH, 1), SIM_SW_OK);
	assert_true(sim_psam_has_key(f->s, f->alg, 1));
	/* the terminal reads its number from the PSAM */
	assert_int_equal(psam_tx(f->s, "00B0960006", out), SIM_SW_OK);
	assert_string_equal(out, T_TERM);
	sim_psam_term(f->s, term);
	simtest_rng_set(&f->rng, "B1B2B3B4");
	assert_int_equal(
	    card_tx(f->c, "805001020B01000005DC" T_TERM "0F", out), SIM_SW_OK);
	assert_string_equal(out, V(f->alg, INIT_BUY));
	snprintf(cmd, sizeof(cmd), "807000001C%s08", V(f->alg, PSAM_INIT));
	assert_int_equal(psam_tx(f->s, cmd, out), SIM_SW_OK);
	assert_string_equal(out, V(f->alg, PSAM_MAC1));
	assert_int_equal(sim_psam_term_sn(f->s), 2);
	memcpy(mac1, out + 8, 9);
	snprintf(
	    cmd, sizeof(cmd), "805401000F0000000120240201083000%s08", mac1);
	assert_int_equal(card_tx(f->c, cmd, out), SIM_SW_OK);
	assert_string_equal(out, V(f->alg, DEBIT));
	memcpy(mac2, out + 8, 9);
	snprintf(cmd, sizeof(cmd), "8072000004%s", mac2);
	assert_int_equal(psam_tx(f->s, cmd, NULL), SIM_SW_OK);
	assert_int_equal(sim_card_balance(f->c), 8500);
	/* one MAC2 check per session */
	assert_int_equal(psam_tx(f->s, cmd, NULL), SIM_SW_CONDITIONS);
}

/* A purchase between card and PSAM: card INIT -> PSAM MAC1 -> card DEBIT
 * -> PSAM MAC2. Returns the PSAM's answer to MAC2 (flip: a bit of it). */
static unsigned
purchase(struct fx *f, uint32_t amount, int flip, char *tac_out)
{
	char cmd[128], out[HEXBUF], mac2[9];
	uint8_t r[15], asn[8];
	uint32_t tsn = sim_psam_term_sn(f->s);
	unsigned sw;

	simtest_rng_set(&f->rng, "C0C1C2C3");
	snprintf(cmd, sizeof(cmd), "805001020B01%08lX%s0F",
	    (unsigned long)amount, T_TERM);
	assert_int_equal(card_tx(f->c, cmd, out), SIM_SW_OK);
	unhex_n(out, r, 15);
	unhex_n(T_ASN, asn, 8);
	snprintf(cmd, sizeof(cmd),
	    "807000001C%02X%02X%02X%02X%02X%02X%08lX06202403041230"
	    "00%02X%02X" T_ASN "08",
	    r[11], r[12], r[13], r[14], r[4], r[5], (unsigned long)amount, r[9],
	    r[10]);
	assert_int_equal(psam_tx(f->s, cmd, out), SIM_SW_OK);
	assert_int_equal(strtoul((char[9]){out[0], out[1], out[2], out[3],
				     out[4], out[5], out[6], out[7], 0},
			     NULL, 16),
	    tsn);
	snprintf(cmd, sizeof(cmd), "805401000F%.8s20240304123000%.8s08", out,
	    out + 8);
	if ((sw = card_tx(f->c, cmd, out)) != SIM_SW_OK)
		return sw;
	if (tac_out != NULL)
		memcpy(tac_out, out, 9);
	memcpy(mac2, out + 8, 9);
	mac2[7] ^= (char)flip;
	snprintf(cmd, sizeof(cmd), "8072000004%s", mac2);
	return psam_tx(f->s, cmd, NULL);
}

/* Load (MAC2 from the host's HSM maths) then purchases through the PSAM;
 * the TAC checked as the clearing checks it. */
static void
test_load_then_purchase(void **state)
{
	struct fx *f = *state;
	struct tkm_purse_txn t;
	uint8_t dtk[16], tac[4];
	char tac_hex[9], want[9];

	kat_load(f);
	assert_int_equal(psam_tx(f->s, PSAM_SELECT, NULL), SIM_SW_OK);
	assert_int_equal(psam_write_key(f, T_BK_PURCH, 1), SIM_SW_OK);
	assert_int_equal(purchase(f, 250, 0, tac_hex), SIM_SW_OK);
	memset(&t, 0, sizeof(t));
	sim_put_be32(t.amount, 250);
	t.type = 6;
	unhex_n(T_TERM, t.term, 6);
	sim_put_be32(t.term_sn, 1);
	unhex_n("20240304", t.date, 4);
	unhex_n("123000", t.time, 3);
	simtest_card_key(f->alg, T_BK_TAC, dtk);
	assert_int_equal(tkm_purse_purchase_tac(f->alg, dtk, &t, tac), TKM_OK);
	tkm_hex_encode(tac, 4, want);
	tac_hex[8] = '\0';
	assert_string_equal(tac_hex, want);
	assert_int_equal(purchase(f, 750, 0, NULL), SIM_SW_OK);
	assert_int_equal(sim_card_balance(f->c), 10000 - 1000);
	assert_int_equal(sim_card_offline_sn(f->c), 2);
	assert_int_equal(sim_psam_term_sn(f->s), 3);
	/* a wrong MAC2 is the PSAM's 9302 (the card has paid already) */
	assert_int_equal(purchase(f, 1, 1, NULL), SIM_SW_MAC_INVALID);
	assert_int_equal(sim_card_balance(f->c), 10000 - 1001);
}

static void
test_psam_refusals(void **state)
{
	struct fx *f = *state;
	char cmd[128], before[SIM_FILE_MAX], after[SIM_FILE_MAX];
	size_t n;

	assert_int_equal(psam_tx(f->s,
			     "8072000004"
			     "01020304",
			     NULL),
	    SIM_SW_CONDITIONS); /* not selected */
	assert_int_equal(psam_tx(f->s, PSAM_SELECT, NULL), SIM_SW_OK);
	assert_int_equal(psam_tx(f->s,
			     "8072000004"
			     "01020304",
			     NULL),
	    SIM_SW_CONDITIONS); /* no session */
	snprintf(cmd, sizeof(cmd), "807000001C%s08", V(f->alg, PSAM_INIT));
	assert_int_equal(psam_tx(f->s, cmd, NULL), SIM_SW_NO_KEY);
	assert_int_equal(psam_write_key(f, T_BK_PURCH, 1), SIM_SW_OK);
	assert_int_equal(
	    sim_psam_write(f->s, before, sizeof(before), &n), TKM_OK);
	before[n] = '\0';
	cmd[10 + 2 * 19] = '9'; /* alg id 90 / 94 */
	assert_int_equal(psam_tx(f->s, cmd, NULL), SIM_SW_BAD_DATA);
	snprintf(cmd, sizeof(cmd), "807000001D%s0008", V(f->alg, PSAM_INIT));
	assert_int_equal(psam_tx(f->s, cmd, NULL), SIM_SW_WRONG_LENGTH);
	snprintf(cmd, sizeof(cmd), "807000001C%s07", V(f->alg, PSAM_INIT));
	assert_int_equal(psam_tx(f->s, cmd, NULL), SIM_SW_WRONG_LE | 8);
	snprintf(cmd, sizeof(cmd), "807001001C%s08", V(f->alg, PSAM_INIT));
	assert_int_equal(psam_tx(f->s, cmd, NULL), SIM_SW_WRONG_P1P2);
	assert_int_equal(
	    sim_psam_write(f->s, after, sizeof(after), &n), TKM_OK);
	after[n] = '\0';
	assert_string_equal(before, after); /* term SN unchanged */
	/* key writing: no transport key of the other algorithm, version 0 */
	simtest_rng_set(&f->rng, "01020304");
	assert_int_equal(psam_tx(f->s, "0084000004", NULL), SIM_SW_OK);
	assert_int_equal(psam_tx(f->s,
			     simtest_zeros(cmd, sizeof(cmd),
				 f->alg == TKM_DES ? "84D40401" : "84D40001",
				 f->alg == TKM_DES ? 0x24 : 0x1C),
			     NULL),
	    SIM_SW_CONDITIONS);
	assert_int_equal(
	    psam_tx(
		f->s, simtest_zeros(cmd, sizeof(cmd), "84D40000", 0x1C), NULL),
	    SIM_SW_WRONG_P1P2);
	assert_int_equal(
	    psam_tx(f->s, "00B0960007", NULL), SIM_SW_WRONG_LE | 6);
	assert_int_equal(psam_tx(f->s, "00B0950006", NULL), SIM_SW_NOT_FOUND);
	assert_int_equal(
	    psam_tx(f->s, "00B0960602", NULL), SIM_SW_WRONG_OFFSET);
	assert_int_equal(psam_tx(f->s, "805C000204", NULL), SIM_SW_INS);
	assert_int_equal(
	    psam_tx(f->s, "00A4040008A000000632010105", NULL), SIM_SW_OK);
	assert_int_equal(
	    psam_tx(f->s, "00A40000021002", NULL), SIM_SW_NOT_FOUND);
}

/* Two- and three-level diversification: the extra factors are the upper
 * levels, applied first. */
static void
test_psam_levels(void **state)
{
	struct fx *f = *state;
	uint8_t mk[16], fac[24], dpk[16], sk[16], mac1[4];
	struct tkm_purse_txn t;
	char cmd[160], out[HEXBUF], want[17];
	size_t sklen = 0;

	assert_int_equal(psam_tx(f->s, PSAM_SELECT, NULL), SIM_SW_OK);
	assert_int_equal(psam_write_key(f, T_BK_PURCH, 1), SIM_SW_OK);
	unhex_n(T_BK_PURCH, mk, 16);
	/* factors in derivation order: level 3, level 2, ASN */
	unhex_n("5810FF0000000000"
		"1122334455667788" T_ASN,
	    fac, 24);
	assert_int_equal(tkm_derive(f->alg, mk, 16, fac, 3, dpk), TKM_OK);
	memset(&t, 0, sizeof(t));
	unhex_n("B1B2B3B4", t.rnd, 4);
	unhex_n("000005DC", t.amount, 4);
	t.type = 6;
	unhex_n("20240201", t.date, 4);
	unhex_n("083000", t.time, 3);
	unhex_n(T_TERM, t.term, 6);
	sim_put_be32(t.term_sn, 1);
	assert_int_equal(
	    tkm_purse_purchase_sk(f->alg, dpk, &t, sk, &sklen), TKM_OK);
	assert_int_equal(
	    tkm_purse_purchase_mac1(f->alg, sk, sklen, &t, mac1), TKM_OK);
	snprintf(cmd, sizeof(cmd),
	    "807000002C%s11223344556677885810FF000000000008",
	    V(f->alg, PSAM_INIT));
	assert_int_equal(psam_tx(f->s, cmd, out), SIM_SW_OK);
	tkm_hex_encode(mac1, 4, want);
	assert_string_equal(out + 8, want);
	/* two levels: the one extra factor first */
	assert_int_equal(tkm_derive(f->alg, mk, 16, fac + 8, 2, dpk), TKM_OK);
	sim_put_be32(t.term_sn, 2);
	assert_int_equal(
	    tkm_purse_purchase_sk(f->alg, dpk, &t, sk, &sklen), TKM_OK);
	assert_int_equal(
	    tkm_purse_purchase_mac1(f->alg, sk, sklen, &t, mac1), TKM_OK);
	snprintf(cmd, sizeof(cmd), "8070000024%s112233445566778808",
	    V(f->alg, PSAM_INIT));
	assert_int_equal(psam_tx(f->s, cmd, out), SIM_SW_OK);
	assert_memory_equal(out, "00000002", 8);
	tkm_hex_encode(mac1, 4, want);
	assert_string_equal(out + 8, want);
}

static void
test_psam_save_load(void **state)
{
	struct fx *f = *state;
	char a[SIM_FILE_MAX], b[SIM_FILE_MAX], cmd[128], path[64], out[HEXBUF];
	struct sim_psam *s2 = NULL;
	struct sim_file_err err;
	uint8_t k[16];
	size_t n = 0;
	int fd;

	kat_load(f);
	assert_int_equal(psam_tx(f->s, PSAM_SELECT, NULL), SIM_SW_OK);
	assert_int_equal(psam_write_key(f, T_BK_PURCH, 1), SIM_SW_OK);
	/* more keys, out of order: the file keeps them sorted */
	unhex_n(T_BK_LOAD, k, 16);
	assert_int_equal(sim_psam_set_key(f->s, TKM_SM4, 7, k), TKM_OK);
	assert_int_equal(sim_psam_set_key(f->s, TKM_DES, 9, k), TKM_OK);
	assert_int_equal(sim_psam_set_key(f->s, TKM_DES, 3, k), TKM_OK);
	assert_int_equal(sim_psam_set_key(f->s, TKM_DES, 0, k), TKM_ERR_INDEX);
	assert_int_equal(sim_psam_set_key(f->s, 7, 1, k), TKM_ERR_MODE);
	/* a session open across processes */
	simtest_rng_set(&f->rng, "B1B2B3B4");
	assert_int_equal(
	    card_tx(f->c, "805001020B01000005DC" T_TERM "0F", NULL), SIM_SW_OK);
	snprintf(cmd, sizeof(cmd), "807000001C%s08", V(f->alg, PSAM_INIT));
	assert_int_equal(psam_tx(f->s, cmd, out), SIM_SW_OK);
	assert_int_equal(sim_psam_write(f->s, a, sizeof(a) - 1, &n), TKM_OK);
	a[n] = '\0';
	assert_non_null(strstr(a, "key DES 3 "));
	assert_true(strstr(a, "key DES 3 ") < strstr(a, "key DES 9 "));
	assert_true(strstr(a, "key DES 9 ") < strstr(a, "key SM4 7 "));
	assert_int_equal(sim_psam_parse(a, n, &s2, &err), TKM_OK);
	assert_int_equal(sim_psam_write(s2, b, sizeof(b) - 1, &n), TKM_OK);
	b[n] = '\0';
	assert_string_equal(a, b);
	sim_psam_free(s2);
	s2 = NULL;
	snprintf(path, sizeof(path), "/tmp/simpsam.XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	assert_int_equal(sim_psam_save(f->s, path), TKM_OK);
	assert_int_equal(sim_psam_load(path, &s2, &err), TKM_OK);
	unlink(path);
	snprintf(cmd, sizeof(cmd), "805401000F0000000120240201083000%s08",
	    V(f->alg, PSAM_MAC1) + 8);
	assert_int_equal(card_tx(f->c, cmd, out), SIM_SW_OK);
	snprintf(cmd, sizeof(cmd), "8072000004%.8s", out + 8);
	assert_int_equal(psam_tx(s2, cmd, NULL), SIM_SW_OK);
	assert_int_equal(sim_psam_term_sn(s2), 2);
	sim_psam_free(s2);
	s2 = NULL;
	/* malformed files */
	assert_int_equal(sim_psam_parse("", 0, &s2, &err), TKM_ERR_TRUNC);
	assert_int_equal(
	    sim_psam_parse("TKMS-SIMPSAM 1\nterm 11\n", 23, &s2, &err),
	    TKM_ERR_INPUT);
	assert_int_equal(err.line, 2);
	memcpy(strstr(a, "key DES 9"), "key DES 1", 9); /* twice, or order */
	assert_int_equal(
	    sim_psam_parse(a, strlen(a), &s2, &err), TKM_ERR_INPUT);
	assert_null(s2);
	assert_non_null(err.why);
	assert_int_equal(
	    sim_psam_load("/nonexistent/psam", &s2, &err), TKM_ERR_IO);
}

static void
test_psam_malformed(void **state)
{
	struct fx *f = *state;
	uint8_t cmd[SIM_APDU_MAX_CMD + 4], resp[SIM_APDU_MAX_RESP];
	uint32_t seed = 0x9E3779B9;
	size_t i, j, len, n;

	assert_int_equal(psam_tx(f->s, PSAM_SELECT, NULL), SIM_SW_OK);
	assert_int_equal(psam_write_key(f, T_BK_PURCH, 1), SIM_SW_OK);
	for (i = 0; i < 20000; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		len = seed % (SIM_APDU_MAX_CMD + 3);
		for (j = 0; j < len; j++) {
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			cmd[j] = (uint8_t)seed;
		}
		if (len > 2 && i % 2) {
			cmd[0] = (uint8_t[]){0x00, 0x80, 0x84}[i % 3];
			cmd[1] = (uint8_t[]){0x70, 0x72, 0xD4, 0xB0}[i % 4];
		}
		if (len > 4 && i % 3 == 0)
			cmd[4] = (uint8_t)(len - 5 - (i % 2));
		simtest_rng_set(&f->rng, "0102030405060708");
		assert_int_equal(
		    sim_psam_apdu(f->s, cmd, len, resp, sizeof(resp), &n),
		    TKM_OK);
		assert_true(n >= 2 && n <= SIM_APDU_MAX_RESP);
	}
	assert_int_equal(psam_tx(f->s, "", NULL), SIM_SW_WRONG_LENGTH);
	assert_int_equal(psam_tx(f->s, "807000", NULL), SIM_SW_WRONG_LENGTH);
	assert_int_equal(psam_tx(f->s, "FF70000000", NULL), SIM_SW_CLA);
	assert_int_equal(
	    sim_psam_apdu(NULL, cmd, 5, resp, sizeof(resp), &n), TKM_ERR_INPUT);
	assert_int_equal(
	    sim_psam_apdu(f->s, cmd, 5, resp, 10, &n), TKM_ERR_SPACE);
}

#define BOTH(fn)                                                               \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &des),   \
	    cmocka_unit_test_prestate_setup_teardown(                          \
		fn, setup, teardown, &sm4)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_purchase_kat),
	    BOTH(test_load_then_purchase),
	    BOTH(test_psam_refusals),
	    BOTH(test_psam_levels),
	    BOTH(test_psam_save_load),
	    BOTH(test_psam_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
