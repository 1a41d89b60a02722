/*
 * tkm-vec - compute libtkm results for the differential tests.
 *
 * Reads requests on stdin, one a line, and writes one answer a line:
 *
 *   request   OP ARG ARG ...        tokens separated by spaces or tabs
 *   answer    HEX [HEX ...]         results in upper-case hex
 *             OK                    a verification that passed
 *             ERR <text>            tkm_strerror() of the failure
 *
 * Arguments are hex bytes (either case) with "-" for no bytes; ALG, MODE,
 * PAD, PARITY and the like are one hex byte; PAN, PSN and CITY are decimal
 * text; an SM2 ID of "*" means NULL (the default ID). An empty result is
 * written as "-". SM2 KEY arguments are d (32 bytes) or X || Y (64 bytes).
 * The op table below lists every op with its arguments.
 *
 * Lines of LINE_CAP bytes or more are refused whole with the text of
 * TKM_ERR_FRAME_LEN; an unknown op gets TKM_ERR_NO_CMD, a wrong number of
 * arguments TKM_ERR_INPUT. stdout is flushed whenever the driver is about
 * to wait for input, so a caller may send everything at once or talk to it
 * one line at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/emv.h"
#include "tkm/mac.h"
#include "tkm/mem.h"
#include "tkm/purse.h"
#include "tkm/sm2.h"

#define LINE_CAP 65536 /* longest request line, newline excluded */
#define DATA_CAP (LINE_CAP / 2 + 256)
#define OUT_CAP  (2 * DATA_CAP + 64)
#define MAX_TOKS 8
#define TXN_LEN  32 /* struct tkm_purse_txn fields, in order, packed */

struct req {
	char *tok[MAX_TOKS]; /* tok[0] is the op */
	size_t toklen[MAX_TOKS];
	int ntok;
	size_t used; /* bytes of arena[] holding decoded arguments */
	struct tkm_wr *out;
	int a; /* the row's parameters */
	int b;
	int c;
};

struct op {
	const char *name;
	int argc;
	int (*fn)(struct req *r);
	int a, b, c;
};

static uint8_t arena[LINE_CAP / 2 + 16];
static uint8_t work[DATA_CAP];
static uint8_t outbuf[OUT_CAP];
static char line[LINE_CAP + 1];

/* --- arguments and results ------------------------------------------- */

/* Argument i as bytes in the arena; "-" is zero bytes (p not NULL). */
static int
hex_arg(struct req *r, int i, const uint8_t **p, size_t *len)
{
	const char *s = r->tok[i];
	size_t n;
	int rc;

	*p = arena + r->used;
	*len = 0;
	if (strcmp(s, "-") == 0)
		return TKM_OK;
	rc = tkm_hex_decode(
	    s, r->toklen[i], arena + r->used, sizeof(arena) - r->used, &n);
	if (rc != TKM_OK)
		return rc;
	r->used += n;
	*len = n;
	return TKM_OK;
}

/* Argument i as exactly n bytes. */
static int
hex_fixed(struct req *r, int i, uint8_t *out, size_t n)
{
	const uint8_t *p;
	size_t len;
	int rc;

	if ((rc = hex_arg(r, i, &p, &len)) != TKM_OK)
		return rc;
	if (len != n)
		return TKM_ERR_INPUT;
	memcpy(out, p, n);
	return TKM_OK;
}

/* Argument i as one hex byte: a small number. */
static int
num_arg(struct req *r, int i, int *v)
{
	uint8_t b;
	int rc;

	*v = 0;
	if ((rc = hex_fixed(r, i, &b, 1)) != TKM_OK)
		return rc;
	*v = b;
	return TKM_OK;
}

/* Argument i as text ("-" is the empty string). */
static const char *
text_arg(struct req *r, int i)
{
	return strcmp(r->tok[i], "-") == 0 ? "" : r->tok[i];
}

/* One result: hex, space-separated from the previous one. */
static void
put(struct req *r, const void *p, size_t n)
{
	if (r->out->len > 0)
		tkm_wr_str(r->out, " ");
	if (n == 0)
		tkm_wr_str(r->out, "-");
	else
		tkm_wr_hex(r->out, p, n);
}

/* --- symmetric primitives --------------------------------------------- */

/* KEY [IV] DATA; row: alg, mode, dir. An empty IV means NULL (zero). */
static int
op_cipher(struct req *r)
{
	const uint8_t *key, *iv = NULL, *data;
	size_t klen, ivlen = 0, len;
	int rc, i = 1;

	if ((rc = hex_arg(r, i++, &key, &klen)) != TKM_OK)
		return rc;
	if (r->b == TKM_CBC && (rc = hex_arg(r, i++, &iv, &ivlen)) != TKM_OK)
		return rc;
	if (ivlen == 0)
		iv = NULL;
	else if (ivlen != tkm_block_len(r->a))
		return TKM_ERR_INPUT;
	if ((rc = hex_arg(r, i, &data, &len)) != TKM_OK)
		return rc;
	rc = tkm_cipher(r->a, r->b, r->c, key, klen, iv, data, len, work);
	if (rc == TKM_OK)
		put(r, work, len);
	return rc;
}

/* DATA; row: hash. */
static int
op_hash(struct req *r)
{
	const uint8_t *data;
	size_t len;
	int rc;

	if ((rc = hex_arg(r, 1, &data, &len)) != TKM_OK)
		return rc;
	if ((rc = tkm_hash(r->a, data, len, work)) == TKM_OK)
		put(r, work, tkm_hash_len(r->a));
	return rc;
}

/* KEY DATA; row: hash. */
static int
op_hmac(struct req *r)
{
	const uint8_t *key, *data;
	size_t klen, len;
	int rc;

	if ((rc = hex_arg(r, 1, &key, &klen)) != TKM_OK ||
	    (rc = hex_arg(r, 2, &data, &len)) != TKM_OK)
		return rc;
	rc = tkm_hmac(r->a, key, klen, data, len, work);
	if (rc == TKM_OK)
		put(r, work, tkm_hash_len(r->a));
	return rc;
}

/* KEY; row: alg. */
static int
op_kcv(struct req *r)
{
	const uint8_t *key;
	size_t klen;
	int rc;

	if ((rc = hex_arg(r, 1, &key, &klen)) != TKM_OK)
		return rc;
	if ((rc = tkm_kcv(r->a, key, klen, work)) == TKM_OK)
		put(r, work, TKM_KCV_LEN);
	return rc;
}

/* MACALG ALG PAD KEY IV DATA; an empty IV means NULL (zero). */
static int
op_mac(struct req *r)
{
	const uint8_t *key, *iv, *data;
	size_t klen, ivlen, len, outlen;
	int mac_alg, alg, pad, rc;

	if ((rc = num_arg(r, 1, &mac_alg)) != TKM_OK ||
	    (rc = num_arg(r, 2, &alg)) != TKM_OK ||
	    (rc = num_arg(r, 3, &pad)) != TKM_OK ||
	    (rc = hex_arg(r, 4, &key, &klen)) != TKM_OK ||
	    (rc = hex_arg(r, 5, &iv, &ivlen)) != TKM_OK ||
	    (rc = hex_arg(r, 6, &data, &len)) != TKM_OK)
		return rc;
	if (ivlen == 0)
		iv = NULL;
	else if (ivlen != tkm_block_len(alg))
		return TKM_ERR_INPUT;
	rc =
	    tkm_mac(mac_alg, alg, key, klen, iv, data, len, pad, work, &outlen);
	if (rc == TKM_OK)
		put(r, work, outlen);
	return rc;
}

/* --- diversification --------------------------------------------------- */

/* MK FACTORS (8 bytes a level, "-" for none); row: alg. */
static int
op_derive(struct req *r)
{
	const uint8_t *mk, *f;
	size_t mklen, flen;
	int rc;

	if ((rc = hex_arg(r, 1, &mk, &mklen)) != TKM_OK ||
	    (rc = hex_arg(r, 2, &f, &flen)) != TKM_OK)
		return rc;
	if (flen % TKM_FACTOR_LEN != 0)
		return TKM_ERR_INPUT;
	rc = tkm_derive(r->a, mk, mklen, f, flen / TKM_FACTOR_LEN, work);
	if (rc == TKM_OK)
		put(r, work, TKM_DERIVED_LEN);
	return rc;
}

/* CITY (decimal text) */
static int
op_city_factor(struct req *r)
{
	int rc = tkm_city_factor(text_arg(r, 1), work);

	if (rc == TKM_OK)
		put(r, work, TKM_FACTOR_LEN);
	return rc;
}

/* ASN */
static int
op_card_factor(struct req *r)
{
	const uint8_t *asn;
	size_t len;
	int rc;

	if ((rc = hex_arg(r, 1, &asn, &len)) != TKM_OK)
		return rc;
	if ((rc = tkm_card_factor(asn, len, work)) == TKM_OK)
		put(r, work, TKM_FACTOR_LEN);
	return rc;
}

/* --- electronic purse -------------------------------------------------- */

/*
 * TXN argument: the fields of struct tkm_purse_txn in declaration order,
 * packed, 32 bytes:
 *
 *   OFFSET SIZE FIELD      OFFSET SIZE FIELD
 *   0      4    balance    19     3    time
 *   4      4    amount     22     4    rnd
 *   8      1    type       26     2    serial
 *   9      6    term       28     4    term_sn
 *   15     4    date
 */
static int
txn_arg(struct req *r, int i, struct tkm_purse_txn *t)
{
	uint8_t raw[TXN_LEN];
	struct tkm_rd rd;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = hex_fixed(r, i, raw, sizeof(raw))) != TKM_OK)
		return rc;
	rd = tkm_rd_of(raw, sizeof(raw));
	if ((rc = tkm_rd_bytes(&rd, t->balance, 4)) != TKM_OK ||
	    (rc = tkm_rd_bytes(&rd, t->amount, 4)) != TKM_OK ||
	    (rc = tkm_rd_bytes(&rd, &t->type, 1)) != TKM_OK ||
	    (rc = tkm_rd_bytes(&rd, t->term, 6)) != TKM_OK ||
	    (rc = tkm_rd_bytes(&rd, t->date, 4)) != TKM_OK ||
	    (rc = tkm_rd_bytes(&rd, t->time, 3)) != TKM_OK ||
	    (rc = tkm_rd_bytes(&rd, t->rnd, 4)) != TKM_OK ||
	    (rc = tkm_rd_bytes(&rd, t->serial, 2)) != TKM_OK ||
	    (rc = tkm_rd_bytes(&rd, t->term_sn, 4)) != TKM_OK)
		return rc;
	return tkm_rd_end(&rd);
}

/* The purse functions of one shape, indexed by the row's parameter a. */
static int (*const purse_sk[])(int, const uint8_t *,
    const struct tkm_purse_txn *, uint8_t *,
    size_t *) = {tkm_purse_load_sk, tkm_purse_purchase_sk};
static int (*const purse_mac[])(int, const uint8_t *, size_t,
    const struct tkm_purse_txn *, uint8_t *) = {tkm_purse_load_mac1,
    tkm_purse_load_mac2, tkm_purse_purchase_mac1, tkm_purse_purchase_mac2};
static int (*const purse_tac[])(int, const uint8_t *,
    const struct tkm_purse_txn *,
    uint8_t *) = {tkm_purse_load_tac, tkm_purse_purchase_tac};

/* ALG KEY TXN; row: which session key. */
static int
op_purse_sk(struct req *r)
{
	struct tkm_purse_txn t;
	uint8_t key[16];
	size_t sklen;
	int alg, rc;

	if ((rc = num_arg(r, 1, &alg)) != TKM_OK ||
	    (rc = hex_fixed(r, 2, key, sizeof(key))) != TKM_OK ||
	    (rc = txn_arg(r, 3, &t)) != TKM_OK)
		goto out;
	if ((rc = purse_sk[r->a](alg, key, &t, work, &sklen)) == TKM_OK)
		put(r, work, sklen);
out:
	tkm_cleanse(key, sizeof(key));
	return rc;
}

/* ALG SK TXN; row: which MAC. */
static int
op_purse_mac(struct req *r)
{
	struct tkm_purse_txn t;
	const uint8_t *sk;
	size_t sklen;
	int alg, rc;

	if ((rc = num_arg(r, 1, &alg)) != TKM_OK ||
	    (rc = hex_arg(r, 2, &sk, &sklen)) != TKM_OK ||
	    (rc = txn_arg(r, 3, &t)) != TKM_OK)
		return rc;
	rc = purse_mac[r->a](alg, sk, sklen, &t, work);
	if (rc == TKM_OK)
		put(r, work, TKM_PURSE_MAC_LEN);
	return rc;
}

/* ALG DTK TXN; row: which TAC. */
static int
op_purse_tac(struct req *r)
{
	struct tkm_purse_txn t;
	uint8_t dtk[16];
	int alg, rc;

	if ((rc = num_arg(r, 1, &alg)) != TKM_OK ||
	    (rc = hex_fixed(r, 2, dtk, sizeof(dtk))) != TKM_OK ||
	    (rc = txn_arg(r, 3, &t)) != TKM_OK)
		goto out;
	if ((rc = purse_tac[r->a](alg, dtk, &t, work)) == TKM_OK)
		put(r, work, TKM_PURSE_MAC_LEN);
out:
	tkm_cleanse(dtk, sizeof(dtk));
	return rc;
}

/* ALG DTK */
static int
op_purse_tac_key(struct req *r)
{
	uint8_t dtk[16];
	size_t klen;
	int alg, rc;

	if ((rc = num_arg(r, 1, &alg)) != TKM_OK ||
	    (rc = hex_fixed(r, 2, dtk, sizeof(dtk))) != TKM_OK)
		goto out;
	if ((rc = tkm_purse_tac_key(alg, dtk, work, &klen)) == TKM_OK)
		put(r, work, klen);
out:
	tkm_cleanse(dtk, sizeof(dtk));
	return rc;
}

/* --- EMV, PBOC 2.0, SCP02 ---------------------------------------------- */

/* IMK PAN PSN PARITY; row: 0 option A, 1 option B. */
static int
op_icc_mk(struct req *r)
{
	uint8_t imk[16];
	int parity, rc;

	if ((rc = hex_fixed(r, 1, imk, sizeof(imk))) != TKM_OK ||
	    (rc = num_arg(r, 4, &parity)) != TKM_OK)
		goto out;
	if (r->a == 0)
		rc = tkm_emv_icc_mk_a(
		    imk, text_arg(r, 2), text_arg(r, 3), parity, work);
	else
		rc = tkm_emv_icc_mk_b(
		    imk, text_arg(r, 2), text_arg(r, 3), parity, work);
	if (rc == TKM_OK)
		put(r, work, 16);
out:
	tkm_cleanse(imk, sizeof(imk));
	return rc;
}

/* MK R PARITY */
static int
op_emv_csk(struct req *r)
{
	uint8_t mk[16], rr[8];
	int parity, rc;

	if ((rc = hex_fixed(r, 1, mk, sizeof(mk))) != TKM_OK ||
	    (rc = hex_fixed(r, 2, rr, sizeof(rr))) != TKM_OK ||
	    (rc = num_arg(r, 3, &parity)) != TKM_OK)
		goto out;
	if ((rc = tkm_emv_csk(mk, rr, parity, work)) == TKM_OK)
		put(r, work, 16);
out:
	tkm_cleanse(mk, sizeof(mk));
	return rc;
}

/* MK ATC */
static int
op_pboc_sk(struct req *r)
{
	uint8_t mk[16], atc[2];
	int rc;

	if ((rc = hex_fixed(r, 1, mk, sizeof(mk))) != TKM_OK ||
	    (rc = hex_fixed(r, 2, atc, sizeof(atc))) != TKM_OK)
		goto out;
	if ((rc = tkm_pboc_sk(mk, atc, work)) == TKM_OK)
		put(r, work, 16);
out:
	tkm_cleanse(mk, sizeof(mk));
	return rc;
}

/* MK IV B H ATC */
static int
op_emv2000_sk(struct req *r)
{
	uint8_t mk[16], iv[16], atc[2];
	int b, h, rc;

	if ((rc = hex_fixed(r, 1, mk, sizeof(mk))) != TKM_OK ||
	    (rc = hex_fixed(r, 2, iv, sizeof(iv))) != TKM_OK ||
	    (rc = num_arg(r, 3, &b)) != TKM_OK ||
	    (rc = num_arg(r, 4, &h)) != TKM_OK ||
	    (rc = hex_fixed(r, 5, atc, sizeof(atc))) != TKM_OK)
		goto out;
	rc = tkm_emv2000_sk(mk, iv, (unsigned)b, (unsigned)h, atc, work);
	if (rc == TKM_OK)
		put(r, work, 16);
out:
	tkm_cleanse(mk, sizeof(mk));
	return rc;
}

/* SK PAD DATA */
static int
op_emv_ac(struct req *r)
{
	const uint8_t *data;
	uint8_t sk[16];
	size_t len;
	int pad, rc;

	if ((rc = hex_fixed(r, 1, sk, sizeof(sk))) != TKM_OK ||
	    (rc = num_arg(r, 2, &pad)) != TKM_OK ||
	    (rc = hex_arg(r, 3, &data, &len)) != TKM_OK)
		goto out;
	if ((rc = tkm_emv_ac(sk, data, len, pad, work)) == TKM_OK)
		put(r, work, 8);
out:
	tkm_cleanse(sk, sizeof(sk));
	return rc;
}

/* SK ARQC ARC */
static int
op_emv_arpc1(struct req *r)
{
	uint8_t sk[16], arqc[8], arc[2];
	int rc;

	if ((rc = hex_fixed(r, 1, sk, sizeof(sk))) != TKM_OK ||
	    (rc = hex_fixed(r, 2, arqc, sizeof(arqc))) != TKM_OK ||
	    (rc = hex_fixed(r, 3, arc, sizeof(arc))) != TKM_OK)
		goto out;
	if ((rc = tkm_emv_arpc1(sk, arqc, arc, work)) == TKM_OK)
		put(r, work, 8);
out:
	tkm_cleanse(sk, sizeof(sk));
	return rc;
}

/* SK ARQC CSU PROPRIETARY ("-" for none) */
static int
op_emv_arpc2(struct req *r)
{
	uint8_t sk[16], arqc[8], csu[4];
	const uint8_t *prop;
	size_t plen;
	int rc;

	if ((rc = hex_fixed(r, 1, sk, sizeof(sk))) != TKM_OK ||
	    (rc = hex_fixed(r, 2, arqc, sizeof(arqc))) != TKM_OK ||
	    (rc = hex_fixed(r, 3, csu, sizeof(csu))) != TKM_OK ||
	    (rc = hex_arg(r, 4, &prop, &plen)) != TKM_OK)
		goto out;
	rc = tkm_emv_arpc2(sk, arqc, csu, prop, plen, work);
	if (rc == TKM_OK)
		put(r, work, 4);
out:
	tkm_cleanse(sk, sizeof(sk));
	return rc;
}

/* KEY CONST (2 bytes) SEQ */
static int
op_scp02_sk(struct req *r)
{
	uint8_t key[16], c[2], seq[2];
	int rc;

	if ((rc = hex_fixed(r, 1, key, sizeof(key))) != TKM_OK ||
	    (rc = hex_fixed(r, 2, c, sizeof(c))) != TKM_OK ||
	    (rc = hex_fixed(r, 3, seq, sizeof(seq))) != TKM_OK)
		goto out;
	rc = tkm_scp02_sk(key, (unsigned)(c[0] << 8 | c[1]), seq, work);
	if (rc == TKM_OK)
		put(r, work, 16);
out:
	tkm_cleanse(key, sizeof(key));
	return rc;
}

/* --- SM2 ---------------------------------------------------------------- */

/* KEY argument: d (32 bytes) or X || Y (64 bytes). */
static int
sm2_arg(struct req *r, int i, struct tkm_sm2 **k)
{
	const uint8_t *p;
	size_t len;
	int rc;

	*k = NULL;
	if ((rc = hex_arg(r, i, &p, &len)) != TKM_OK)
		return rc;
	if (len == TKM_SM2_PRIV_LEN)
		return tkm_sm2_from_priv(p, k);
	if (len == TKM_SM2_PUB_LEN)
		return tkm_sm2_from_pub(p, k);
	return TKM_ERR_ASYM_KEY;
}

/* ID argument: "*" is NULL (the default ID), "-" the empty ID. */
static int
id_arg(struct req *r, int i, const uint8_t **id, size_t *len)
{
	if (strcmp(r->tok[i], "*") == 0) {
		*id = NULL;
		*len = 0;
		return TKM_OK;
	}
	return hex_arg(r, i, id, len);
}

/* KEY */
static int
op_sm2_pub(struct req *r)
{
	struct tkm_sm2 *k;
	int rc;

	if ((rc = sm2_arg(r, 1, &k)) != TKM_OK)
		goto out;
	if ((rc = tkm_sm2_pub(k, work)) == TKM_OK)
		put(r, work, TKM_SM2_PUB_LEN);
out:
	tkm_sm2_free(k);
	return rc;
}

/* KEY ID */
static int
op_sm2_za(struct req *r)
{
	struct tkm_sm2 *k;
	const uint8_t *id;
	size_t idlen;
	int rc;

	if ((rc = sm2_arg(r, 1, &k)) != TKM_OK ||
	    (rc = id_arg(r, 2, &id, &idlen)) != TKM_OK)
		goto out;
	if ((rc = tkm_sm2_za(k, id, idlen, work)) == TKM_OK)
		put(r, work, TKM_SM2_ZA_LEN);
out:
	tkm_sm2_free(k);
	return rc;
}

/* KEY MSG ID -> SIG PUB */
static int
op_sm2_sign(struct req *r)
{
	struct tkm_sm2 *k;
	const uint8_t *msg, *id;
	size_t len, idlen;
	int rc;

	if ((rc = sm2_arg(r, 1, &k)) != TKM_OK ||
	    (rc = hex_arg(r, 2, &msg, &len)) != TKM_OK ||
	    (rc = id_arg(r, 3, &id, &idlen)) != TKM_OK)
		goto out;
	if ((rc = tkm_sm2_sign(k, id, idlen, msg, len, work)) != TKM_OK ||
	    (rc = tkm_sm2_pub(k, work + TKM_SM2_SIG_LEN)) != TKM_OK)
		goto out;
	put(r, work, TKM_SM2_SIG_LEN);
	put(r, work + TKM_SM2_SIG_LEN, TKM_SM2_PUB_LEN);
out:
	tkm_sm2_free(k);
	return rc;
}

/* KEY MSG ID SIG -> OK */
static int
op_sm2_verify(struct req *r)
{
	struct tkm_sm2 *k;
	const uint8_t *msg, *id;
	uint8_t sig[TKM_SM2_SIG_LEN];
	size_t len, idlen;
	int rc;

	if ((rc = sm2_arg(r, 1, &k)) != TKM_OK ||
	    (rc = hex_arg(r, 2, &msg, &len)) != TKM_OK ||
	    (rc = id_arg(r, 3, &id, &idlen)) != TKM_OK ||
	    (rc = hex_fixed(r, 4, sig, sizeof(sig))) != TKM_OK)
		goto out;
	if ((rc = tkm_sm2_verify(k, id, idlen, msg, len, sig)) == TKM_OK)
		tkm_wr_str(r->out, "OK");
out:
	tkm_sm2_free(k);
	return rc;
}

/* KEY E -> SIG */
static int
op_sm2_sign_digest(struct req *r)
{
	struct tkm_sm2 *k;
	uint8_t e[32];
	int rc;

	if ((rc = sm2_arg(r, 1, &k)) != TKM_OK ||
	    (rc = hex_fixed(r, 2, e, sizeof(e))) != TKM_OK)
		goto out;
	if ((rc = tkm_sm2_sign_digest(k, e, work)) == TKM_OK)
		put(r, work, TKM_SM2_SIG_LEN);
out:
	tkm_sm2_free(k);
	return rc;
}

/* KEY E SIG -> OK */
static int
op_sm2_verify_digest(struct req *r)
{
	struct tkm_sm2 *k;
	uint8_t e[32], sig[TKM_SM2_SIG_LEN];
	int rc;

	if ((rc = sm2_arg(r, 1, &k)) != TKM_OK ||
	    (rc = hex_fixed(r, 2, e, sizeof(e))) != TKM_OK ||
	    (rc = hex_fixed(r, 3, sig, sizeof(sig))) != TKM_OK)
		goto out;
	if ((rc = tkm_sm2_verify_digest(k, e, sig)) == TKM_OK)
		tkm_wr_str(r->out, "OK");
out:
	tkm_sm2_free(k);
	return rc;
}

/* KEY MSG -> C1 || C3 || C2 */
static int
op_sm2_encrypt(struct req *r)
{
	struct tkm_sm2 *k;
	const uint8_t *msg;
	size_t len, outlen;
	int rc;

	if ((rc = sm2_arg(r, 1, &k)) != TKM_OK ||
	    (rc = hex_arg(r, 2, &msg, &len)) != TKM_OK)
		goto out;
	if (len > sizeof(work) - TKM_SM2_ENC_OVERHEAD) {
		rc = TKM_ERR_DATA_LEN;
		goto out;
	}
	if ((rc = tkm_sm2_encrypt(k, msg, len, work, &outlen)) == TKM_OK)
		put(r, work, outlen);
out:
	tkm_sm2_free(k);
	return rc;
}

/* KEY CT -> MSG */
static int
op_sm2_decrypt(struct req *r)
{
	struct tkm_sm2 *k;
	const uint8_t *ct;
	size_t len, outlen;
	int rc;

	if ((rc = sm2_arg(r, 1, &k)) != TKM_OK ||
	    (rc = hex_arg(r, 2, &ct, &len)) != TKM_OK)
		goto out;
	if ((rc = tkm_sm2_decrypt(k, ct, len, work, &outlen)) == TKM_OK)
		put(r, work, outlen);
out:
	tkm_sm2_free(k);
	return rc;
}

/* SIG -> DER */
static int
op_sm2_sig_to_der(struct req *r)
{
	uint8_t sig[TKM_SM2_SIG_LEN];
	size_t len;
	int rc;

	if ((rc = hex_fixed(r, 1, sig, sizeof(sig))) != TKM_OK)
		return rc;
	rc = tkm_sm2_sig_to_der(sig, work, sizeof(work), &len);
	if (rc == TKM_OK)
		put(r, work, len);
	return rc;
}

/* DER -> SIG */
static int
op_sm2_sig_from_der(struct req *r)
{
	const uint8_t *der;
	size_t len;
	int rc;

	if ((rc = hex_arg(r, 1, &der, &len)) != TKM_OK)
		return rc;
	if ((rc = tkm_sm2_sig_from_der(der, len, work)) == TKM_OK)
		put(r, work, TKM_SM2_SIG_LEN);
	return rc;
}

/* --- the op table ------------------------------------------------------- */

/* argc counts the arguments after the op name. */
static const struct op ops[] = {
    {"des-ecb-enc", 2, op_cipher, TKM_DES, TKM_ECB, TKM_ENCRYPT},
    {"des-ecb-dec", 2, op_cipher, TKM_DES, TKM_ECB, TKM_DECRYPT},
    {"des-cbc-enc", 3, op_cipher, TKM_DES, TKM_CBC, TKM_ENCRYPT},
    {"des-cbc-dec", 3, op_cipher, TKM_DES, TKM_CBC, TKM_DECRYPT},
    {"sm4-ecb-enc", 2, op_cipher, TKM_SM4, TKM_ECB, TKM_ENCRYPT},
    {"sm4-ecb-dec", 2, op_cipher, TKM_SM4, TKM_ECB, TKM_DECRYPT},
    {"sm4-cbc-enc", 3, op_cipher, TKM_SM4, TKM_CBC, TKM_ENCRYPT},
    {"sm4-cbc-dec", 3, op_cipher, TKM_SM4, TKM_CBC, TKM_DECRYPT},
    {"sm3", 1, op_hash, TKM_SM3},
    {"sha1", 1, op_hash, TKM_SHA1},
    {"sha256", 1, op_hash, TKM_SHA256},
    {"md5", 1, op_hash, TKM_MD5},
    {"hmac-sm3", 2, op_hmac, TKM_SM3},
    {"hmac-sha1", 2, op_hmac, TKM_SHA1},
    {"hmac-sha256", 2, op_hmac, TKM_SHA256},
    {"hmac-md5", 2, op_hmac, TKM_MD5},
    {"kcv-des", 1, op_kcv, TKM_DES},
    {"kcv-sm4", 1, op_kcv, TKM_SM4},
    {"mac", 6, op_mac},
    {"derive-des", 2, op_derive, TKM_DES},
    {"derive-sm4", 2, op_derive, TKM_SM4},
    {"city-factor", 1, op_city_factor},
    {"card-factor", 1, op_card_factor},
    {"purse-load-sk", 3, op_purse_sk, 0},
    {"purse-purchase-sk", 3, op_purse_sk, 1},
    {"purse-load-mac1", 3, op_purse_mac, 0},
    {"purse-load-mac2", 3, op_purse_mac, 1},
    {"purse-purchase-mac1", 3, op_purse_mac, 2},
    {"purse-purchase-mac2", 3, op_purse_mac, 3},
    {"purse-load-tac", 3, op_purse_tac, 0},
    {"purse-purchase-tac", 3, op_purse_tac, 1},
    {"purse-tac-key", 2, op_purse_tac_key},
    {"emv-icc-mk-a", 4, op_icc_mk, 0},
    {"emv-icc-mk-b", 4, op_icc_mk, 1},
    {"emv-csk", 3, op_emv_csk},
    {"pboc-sk", 2, op_pboc_sk},
    {"emv2000-sk", 5, op_emv2000_sk},
    {"emv-ac", 3, op_emv_ac},
    {"emv-arpc1", 3, op_emv_arpc1},
    {"emv-arpc2", 4, op_emv_arpc2},
    {"scp02-sk", 3, op_scp02_sk},
    {"sm2-pub", 1, op_sm2_pub},
    {"sm2-za", 2, op_sm2_za},
    {"sm2-sign", 3, op_sm2_sign},
    {"sm2-verify", 4, op_sm2_verify},
    {"sm2-sign-digest", 2, op_sm2_sign_digest},
    {"sm2-verify-digest", 3, op_sm2_verify_digest},
    {"sm2-encrypt", 2, op_sm2_encrypt},
    {"sm2-decrypt", 2, op_sm2_decrypt},
    {"sm2-sig-to-der", 1, op_sm2_sig_to_der},
    {"sm2-sig-from-der", 1, op_sm2_sig_from_der},
};

/* --- request loop ------------------------------------------------------- */

/* Split s (NUL-terminated) into at most MAX_TOKS tokens. */
static int
tokenize(char *s, struct req *r)
{
	char *save = NULL, *t;

	r->ntok = 0;
	for (t = strtok_r(s, " \t\r", &save); t != NULL;
	     t = strtok_r(NULL, " \t\r", &save)) {
		if (r->ntok == MAX_TOKS)
			return TKM_ERR_INPUT;
		r->tok[r->ntok] = t;
		r->toklen[r->ntok] = strlen(t);
		r->ntok++;
	}
	return r->ntok > 0 ? TKM_OK : TKM_ERR_INPUT;
}

static int
dispatch(char *s, struct req *r)
{
	size_t i;
	int rc;

	if ((rc = tokenize(s, r)) != TKM_OK)
		return rc;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(r->tok[0], ops[i].name) != 0)
			continue;
		if (r->ntok - 1 != ops[i].argc)
			return TKM_ERR_INPUT;
		r->a = ops[i].a;
		r->b = ops[i].b;
		r->c = ops[i].c;
		return ops[i].fn(r);
	}
	return TKM_ERR_NO_CMD;
}

/* Answer one line (NUL-terminated, without its newline). */
static void
answer(char *s, int too_long)
{
	struct tkm_wr w;
	struct req r;
	int rc;

	memset(&r, 0, sizeof(r));
	tkm_wr_init(&w, outbuf, sizeof(outbuf));
	r.out = &w;
	rc = too_long ? TKM_ERR_FRAME_LEN : dispatch(s, &r);
	if (rc == TKM_OK && tkm_wr_error(&w) != TKM_OK)
		rc = tkm_wr_error(&w);
	if (rc != TKM_OK) {
		tkm_wr_init(&w, outbuf, sizeof(outbuf));
		tkm_wr_str(&w, "ERR ");
		tkm_wr_str(&w, tkm_strerror(rc));
	}
	fwrite(outbuf, 1, w.len, stdout);
	fputc('\n', stdout);
	/* Test keys only, but the driver keeps the library's habits. */
	tkm_cleanse(arena, r.used);
	tkm_cleanse(work, sizeof(work));
}

/*
 * Line reader over read(2) so that stdout is flushed exactly when the
 * driver would otherwise block waiting for the caller.
 */
struct lines {
	size_t len;   /* bytes in line[] */
	int skipping; /* inside a line that was too long */
	int eof;
};

/* Returns 1 with a line in line[0..*n), 0 at the end of input. */
static int
next_line(struct lines *L, size_t *n, int *too_long)
{
	for (;;) {
		char *nl = memchr(line, '\n', L->len);
		ssize_t got;

		if (nl != NULL || (L->eof && (L->len > 0 || L->skipping))) {
			*n = nl != NULL ? (size_t)(nl - line) : L->len;
			*too_long = L->skipping;
			L->skipping = 0;
			return 1;
		}
		if (L->eof)
			return 0;
		if (L->len == LINE_CAP) { /* keep only the verdict */
			L->skipping = 1;
			L->len = 0;
		}
		fflush(stdout);
		got = read(STDIN_FILENO, line + L->len, LINE_CAP - L->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			L->eof = 1;
		else
			L->len += (size_t)got;
	}
}

int
main(void)
{
	struct lines L = {0, 0, 0};
	size_t n;
	int too_long;

	while (next_line(&L, &n, &too_long)) {
		size_t rest = n < L.len ? L.len - n - 1 : 0;

		line[n] = '\0';
		answer(line, too_long);
		memmove(line, line + L.len - rest, rest);
		L.len = rest;
	}
	fflush(stdout);
	return ferror(stdout) ? 1 : 0;
}
