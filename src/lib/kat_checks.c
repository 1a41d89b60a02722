/*
 * kat_checks.c - one check per known-answer vector name. A check computes
 * with libtkm and compares; where an operation is randomised (SM2 signing
 * and encryption draw their own k) it checks the deterministic inverse
 * instead (verify, decrypt) and that a tampered input fails.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kat.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/emv.h"
#include "tkm/mac.h"
#include "tkm/mem.h"
#include "tkm/purse.h"
#include "tkm/rsa.h"
#include "tkm/sm2.h"

/* --- block ciphers, digests, MACs -------------------------------------- */

/* param: alg * 4 + mode. Checks encryption and decryption. */
static int
check_cipher(struct kat_vec *v, int param)
{
	int alg = param / 4, mode = param % 4;
	const uint8_t *data = kat_val(v, "data");
	size_t len = kat_len(v, "data");
	uint8_t out[KAT_MAX_VALUE], back[KAT_MAX_VALUE];
	int rc;

	rc = tkm_cipher(alg, mode, TKM_ENCRYPT, kat_val(v, "key"),
	    kat_len(v, "key"), kat_val(v, "iv"), data, len, out);
	if (rc != TKM_OK || kat_expect(v, "out", out, len) != 0)
		return rc != TKM_OK ? kat_ok(v, rc) : -1;
	rc = tkm_cipher(alg, mode, TKM_DECRYPT, kat_val(v, "key"),
	    kat_len(v, "key"), kat_val(v, "iv"), out, len, back);
	if (rc != TKM_OK)
		return kat_ok(v, rc);
	return memcmp(back, data, len) == 0 ? 0
					    : kat_fail(v, "decryption differs");
}

/* SM4 encryption iterated 1,000,000 times (GB/T 32907 example 2). */
static int
check_sm4_1e6(struct kat_vec *v, int param)
{
	uint8_t b[16];
	long i;

	(void)param;
	memcpy(b, kat_val(v, "data"), sizeof(b));
	for (i = 0; i < 1000000; i++)
		if (tkm_encrypt_block(TKM_SM4, kat_val(v, "key"), 16, b, b) !=
		    0)
			return kat_fail(v, "encryption failed");
	return kat_expect(v, "out", b, sizeof(b));
}

static int
check_hash(struct kat_vec *v, int hash)
{
	uint8_t out[TKM_MAX_HASH];
	int rc = tkm_hash(hash, kat_val(v, "data"), kat_len(v, "data"), out);

	return rc ? kat_ok(v, rc)
		  : kat_expect(v, "out", out, tkm_hash_len(hash));
}

static int
check_hmac(struct kat_vec *v, int hash)
{
	uint8_t out[TKM_MAX_HASH];
	int rc = tkm_hmac(hash, kat_val(v, "key"), kat_len(v, "key"),
	    kat_val(v, "data"), kat_len(v, "data"), out);

	return rc ? kat_ok(v, rc)
		  : kat_expect(v, "out", out, tkm_hash_len(hash));
}

/* KBKDF output of the length of "out". */
static int
check_kdf(struct kat_vec *v, int hash)
{
	uint8_t out[64];
	size_t n = kat_len(v, "out");
	int rc;

	if (n == 0 || n > sizeof(out))
		return kat_fail(v, "out must be 1..64 bytes");
	rc = tkm_kdf(hash, kat_val(v, "key"), kat_len(v, "key"),
	    kat_val(v, "label"), kat_len(v, "label"), kat_val(v, "context"),
	    kat_len(v, "context"), out, n);
	return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, n);
}

static int
check_kcv(struct kat_vec *v, int alg)
{
	uint8_t out[TKM_KCV_LEN];
	int rc = tkm_kcv(alg, kat_val(v, "key"), kat_len(v, "key"), out);

	return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, sizeof(out));
}

/* param: mac_alg * 16 + alg. Padding from the "pad" field, else PBOC's. */
static int
check_mac(struct kat_vec *v, int param)
{
	uint8_t out[TKM_MAX_BLOCK];
	size_t outlen;
	int pad = kat_fld(v, "pad") ? *kat_val(v, "pad") : TKM_PAD_80;
	int rc = tkm_mac(param / 16, param % 16, kat_val(v, "key"),
	    kat_len(v, "key"), NULL, kat_val(v, "data"), kat_len(v, "data"),
	    pad, out, &outlen);

	return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, outlen);
}

/* --- diversification and factors -------------------------------------- */

static int
check_derive(struct kat_vec *v, int alg)
{
	uint8_t out[TKM_DERIVED_LEN];
	size_t dlen = kat_len(v, "d");
	int rc;

	if (dlen % TKM_FACTOR_LEN != 0)
		return kat_fail(v, "d is not a whole number of 8-byte factors");
	rc = tkm_derive(alg, kat_val(v, "mk"), kat_len(v, "mk"),
	    kat_val(v, "d"), dlen / TKM_FACTOR_LEN, out);
	return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, sizeof(out));
}

static int
check_city(struct kat_vec *v, int param)
{
	uint8_t out[TKM_FACTOR_LEN];
	int rc = tkm_city_factor((const char *)kat_val(v, "city"), out);

	(void)param;
	return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, sizeof(out));
}

/* --- SM2 ---------------------------------------------------------------- */

static int
sm2_from_xy(struct kat_vec *v, struct tkm_sm2 **k)
{
	uint8_t xy[TKM_SM2_PUB_LEN];

	if (kat_len(v, "x") != 32 || kat_len(v, "y") != 32)
		return kat_fail(v, "x and y must be 32 bytes");
	memcpy(xy, kat_val(v, "x"), 32);
	memcpy(xy + 32, kat_val(v, "y"), 32);
	return kat_ok(v, tkm_sm2_from_pub(xy, k));
}

static int
check_sm2_pub(struct kat_vec *v, int param)
{
	struct tkm_sm2 *k = NULL;
	uint8_t xy[TKM_SM2_PUB_LEN];
	struct kat_sm2_entry *e;
	int r = -1;

	(void)param;
	if (kat_len(v, "d") != 32)
		return kat_fail(v, "d must be 32 bytes");
	if (kat_ok(v, tkm_sm2_from_priv(kat_val(v, "d"), &k)) != 0 ||
	    kat_ok(v, tkm_sm2_pub(k, xy)) != 0)
		goto out;
	if (kat_expect(v, "x", xy, 32) != 0 ||
	    kat_expect(v, "y", xy + 32, 32) != 0)
		goto out;
	if (v->nring < KAT_KEYRING) {
		e = &v->ring[v->nring++];
		memcpy(e->pub, xy, sizeof(e->pub));
		memcpy(e->d, kat_val(v, "d"), sizeof(e->d));
	}
	r = 0;
out:
	tkm_sm2_free(k);
	return r;
}

static int
check_sm2_za(struct kat_vec *v, int param)
{
	struct tkm_sm2 *k = NULL;
	uint8_t za[TKM_SM2_ZA_LEN];
	int r;

	(void)param;
	if (sm2_from_xy(v, &k) != 0)
		return -1;
	r = kat_ok(v, tkm_sm2_za(k, kat_val(v, "id"), kat_len(v, "id"), za));
	if (r == 0)
		r = kat_expect(v, "out", za, sizeof(za));
	tkm_sm2_free(k);
	return r;
}

static int
check_sm2_e(struct kat_vec *v, int param)
{
	const void *parts[2] = {kat_val(v, "za"), kat_val(v, "msg")};
	size_t lens[2] = {kat_len(v, "za"), kat_len(v, "msg")};
	uint8_t e[32];
	int rc = tkm_hashv(TKM_SM3, parts, lens, 2, e);

	(void)param;
	return rc ? kat_ok(v, rc) : kat_expect(v, "out", e, sizeof(e));
}

/* Verify r || s, and check that a signature with one bit flipped fails. */
static int
sm2_verify_both(struct kat_vec *v, struct tkm_sm2 *k, const uint8_t *e)
{
	uint8_t sig[TKM_SM2_SIG_LEN];

	if (kat_len(v, "r") != 32 || kat_len(v, "s") != 32)
		return kat_fail(v, "r and s must be 32 bytes");
	memcpy(sig, kat_val(v, "r"), 32);
	memcpy(sig + 32, kat_val(v, "s"), 32);
	if (kat_ok(v, tkm_sm2_verify_digest(k, e, sig)) != 0)
		return -1;
	sig[63] ^= 1;
	if (tkm_sm2_verify_digest(k, e, sig) != TKM_ERR_VERIFY)
		return kat_fail(v, "a tampered signature verified");
	return 0;
}

/*
 * sm2.sign gives d, e, k, r, s. OpenSSL draws its own k, so the engine
 * checks the deterministic half: (r, s) verifies under d's public key,
 * and a fresh signature by d verifies too. k is informational.
 */
static int
check_sm2_sign(struct kat_vec *v, int param)
{
	struct tkm_sm2 *k = NULL;
	uint8_t sig[TKM_SM2_SIG_LEN];
	int r = -1;

	(void)param;
	if (kat_len(v, "d") != 32 || kat_len(v, "e") != 32)
		return kat_fail(v, "d and e must be 32 bytes");
	if (kat_ok(v, tkm_sm2_from_priv(kat_val(v, "d"), &k)) != 0)
		goto out;
	if (sm2_verify_both(v, k, kat_val(v, "e")) != 0)
		goto out;
	if (kat_ok(v, tkm_sm2_sign_digest(k, kat_val(v, "e"), sig)) != 0 ||
	    kat_ok(v, tkm_sm2_verify_digest(k, kat_val(v, "e"), sig)) != 0)
		goto out;
	r = 0;
out:
	tkm_sm2_free(k);
	return r;
}

/* sm2.verify x y id msg r s: a signature over msg with user id. */
static int
check_sm2_verify(struct kat_vec *v, int param)
{
	struct tkm_sm2 *k = NULL;
	uint8_t za[32], e[32];
	const void *parts[2] = {za, kat_val(v, "msg")};
	size_t lens[2] = {sizeof(za), kat_len(v, "msg")};
	int r = -1;

	(void)param;
	if (sm2_from_xy(v, &k) != 0)
		return -1;
	if (kat_ok(v, tkm_sm2_za(k, kat_val(v, "id"), kat_len(v, "id"), za)) ||
	    kat_ok(v, tkm_hashv(TKM_SM3, parts, lens, 2, e)))
		goto out;
	r = sm2_verify_both(v, k, e);
out:
	tkm_sm2_free(k);
	return r;
}

/* Decrypt c with key k and compare with "out"/"msg"; then check that a
 * flipped C3 byte is refused. */
static int
sm2_decrypt_both(struct kat_vec *v, struct tkm_sm2 *k, uint8_t *c, size_t clen,
    const char *want)
{
	uint8_t *m = malloc(clen);
	size_t mlen;
	int r = -1;

	if (m == NULL)
		return kat_fail(v, "out of memory");
	if (kat_ok(v, tkm_sm2_decrypt(k, c, clen, m, &mlen)) != 0)
		goto out;
	if (mlen != kat_len(v, want) || kat_expect(v, want, m, mlen) != 0) {
		v->why = "wrong plaintext";
		goto out;
	}
	c[1 + 64] ^= 1;
	if (tkm_sm2_decrypt(k, c, clen, m, &mlen) != TKM_ERR_VERIFY) {
		v->why = "a tampered ciphertext decrypted";
		goto out;
	}
	r = 0;
out:
	free(m);
	return r;
}

/* sm2.decrypt d c out */
static int
check_sm2_decrypt(struct kat_vec *v, int param)
{
	struct tkm_sm2 *k = NULL;
	int r = -1;

	(void)param;
	if (kat_len(v, "d") != 32)
		return kat_fail(v, "d must be 32 bytes");
	if (kat_ok(v, tkm_sm2_from_priv(kat_val(v, "d"), &k)) == 0) {
		uint8_t c[KAT_MAX_VALUE];

		memcpy(c, kat_val(v, "c"), kat_len(v, "c"));
		r = sm2_decrypt_both(v, k, c, kat_len(v, "c"), "out");
	}
	tkm_sm2_free(k);
	return r;
}

/*
 * sm2.encrypt x y k msg c1x c1y c3 c2: the private key comes from an
 * earlier sm2.pub line. OpenSSL draws its own k, so the vector's
 * ciphertext is decrypted, and our own encryption is round-tripped.
 */
static int
check_sm2_encrypt(struct kat_vec *v, int param)
{
	struct tkm_sm2 *k = NULL;
	uint8_t c[KAT_MAX_VALUE];
	size_t n = 0, clen, i;
	const char *parts[] = {"c1x", "c1y", "c3", "c2"};
	int r = -1;

	(void)param;
	for (i = 0; i < v->nring; i++)
		if (memcmp(v->ring[i].pub, kat_val(v, "x"), 32) == 0 &&
		    memcmp(v->ring[i].pub + 32, kat_val(v, "y"), 32) == 0)
			break;
	if (i == v->nring)
		return kat_fail(
		    v, "no earlier sm2.pub line gives this key's d");
	if (kat_ok(v, tkm_sm2_from_priv(v->ring[i].d, &k)) != 0)
		return -1;
	c[n++] = 0x04;
	for (i = 0; i < 4; i++) {
		if (kat_len(v, parts[i]) > sizeof(c) - n)
			goto out;
		memcpy(c + n, kat_val(v, parts[i]), kat_len(v, parts[i]));
		n += kat_len(v, parts[i]);
	}
	if (sm2_decrypt_both(v, k, c, n, "msg") != 0)
		goto out;
	if (kat_ok(v, tkm_sm2_encrypt(k, kat_val(v, "msg"), kat_len(v, "msg"),
			  c, &clen)) != 0)
		goto out;
	r = sm2_decrypt_both(v, k, c, clen, "msg");
out:
	tkm_sm2_free(k);
	return r;
}

/* --- RSA ---------------------------------------------------------------- */

/* param 0: PKCS#1 v1.5 signature; 1: raw private op; 2: PKCS#1 decrypt. */
static int
check_rsa(struct kat_vec *v, int param)
{
	struct tkm_rsa *k = NULL;
	uint8_t out[TKM_RSA_MAX_LEN];
	size_t n = 0;
	int rc, r = -1;

	rc = tkm_rsa_from_der(kat_val(v, "der"), kat_len(v, "der"), 1, &k);
	if (rc != TKM_OK)
		return kat_ok(v, rc);
	if (param == 0)
		rc = tkm_rsa_sign(k, *kat_val(v, "hash"), kat_val(v, "msg"),
		    kat_len(v, "msg"), out, &n);
	else
		rc =
		    tkm_rsa_decrypt(k, param == 1 ? TKM_RSA_RAW : TKM_RSA_PKCS1,
			kat_val(v, "in"), kat_len(v, "in"), out, &n);
	if (kat_ok(v, rc) != 0)
		goto out;
	if (n != kat_len(v, "out") || kat_expect(v, "out", out, n) != 0) {
		v->why = "wrong answer";
		goto out;
	}
	if (param == 0)
		r = kat_ok(
		    v, tkm_rsa_verify(k, *kat_val(v, "hash"), kat_val(v, "msg"),
			   kat_len(v, "msg"), out, n));
	else
		r = 0;
out:
	tkm_cleanse(out, sizeof(out));
	tkm_rsa_free(k);
	return r;
}

/* --- e-purse ------------------------------------------------------------ */

/* Copy each transaction field present in the vector into t. */
static void
purse_txn(const struct kat_vec *v, struct tkm_purse_txn *t)
{
	static const struct {
		const char *name;
		size_t off, len;
	} map[] = {
	    {"bal", offsetof(struct tkm_purse_txn, balance), 4},
	    {"amt", offsetof(struct tkm_purse_txn, amount), 4},
	    {"type", offsetof(struct tkm_purse_txn, type), 1},
	    {"term", offsetof(struct tkm_purse_txn, term), 6},
	    {"date", offsetof(struct tkm_purse_txn, date), 4},
	    {"time", offsetof(struct tkm_purse_txn, time), 3},
	    {"rnd", offsetof(struct tkm_purse_txn, rnd), 4},
	    {"sn", offsetof(struct tkm_purse_txn, serial), 2},
	    {"termsn", offsetof(struct tkm_purse_txn, term_sn), 4},
	};
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		const struct kat_field *f = kat_fld(v, map[i].name);

		/* termsn in a session-key vector is its low 2 bytes */
		if (f != NULL && f->len <= map[i].len)
			memcpy((uint8_t *)t + map[i].off + map[i].len - f->len,
			    f->val, f->len);
	}
}

enum {
	P_LOAD_SK,
	P_PURCHASE_SK,
	P_LOAD_MAC1,
	P_LOAD_MAC2,
	P_PURCHASE_MAC1,
	P_PURCHASE_MAC2,
	P_LOAD_TAC,
	P_PURCHASE_TAC
};

typedef int purse_mac_fn(
    int, const uint8_t *, size_t, const struct tkm_purse_txn *, uint8_t *);
typedef int purse_key_fn(
    int, const uint8_t *, const struct tkm_purse_txn *, uint8_t *, size_t *);
typedef int purse_tac_fn(
    int, const uint8_t *, const struct tkm_purse_txn *, uint8_t *);

/* param: alg * 16 + one of P_*. */
static int
check_purse(struct kat_vec *v, int param)
{
	static purse_key_fn *const sk_fn[] = {
	    tkm_purse_load_sk, tkm_purse_purchase_sk};
	static purse_mac_fn *const mac_fn[] = {tkm_purse_load_mac1,
	    tkm_purse_load_mac2, tkm_purse_purchase_mac1,
	    tkm_purse_purchase_mac2};
	static purse_tac_fn *const tac_fn[] = {
	    tkm_purse_load_tac, tkm_purse_purchase_tac};
	static const char *const key_field[] = {
	    "dlk", "dpk", "seslk", "seslk", "sespk", "sespk", "dtk", "dtk"};
	int alg = param / 16, op = param % 16, rc;
	const char *kf = key_field[op];
	struct tkm_purse_txn t;
	uint8_t out[16];
	size_t n = 4;

	purse_txn(v, &t);
	if (op <= P_PURCHASE_SK || op >= P_LOAD_TAC) {
		if (kat_len(v, kf) != 16)
			return kat_fail(v, "process key must be 16 bytes");
		if (op <= P_PURCHASE_SK)
			rc = sk_fn[op](alg, kat_val(v, kf), &t, out, &n);
		else
			rc = tac_fn[op - P_LOAD_TAC](
			    alg, kat_val(v, kf), &t, out);
	} else {
		rc = mac_fn[op - P_LOAD_MAC1](
		    alg, kat_val(v, kf), kat_len(v, kf), &t, out);
	}
	return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, n);
}

/* --- EMV / PBOC / GlobalPlatform ---------------------------------------- */

/* pboc.udk / emv.mk_a / emv.mk_b. param: 0 PBOC (no parity), 1 A, 2 B. */
static int
check_icc_mk(struct kat_vec *v, int param)
{
	const char *pan = (const char *)kat_val(v, "pan");
	const char *psn = (const char *)kat_val(v, "psn");
	uint8_t out[16];
	int rc;

	if (kat_len(v, "imk") != 16)
		return kat_fail(v, "imk must be 16 bytes");
	if (param == 2)
		rc = tkm_emv_icc_mk_b(kat_val(v, "imk"), pan, psn, 1, out);
	else
		rc = tkm_emv_icc_mk_a(kat_val(v, "imk"), pan, psn, param, out);
	if (rc != TKM_OK)
		return kat_ok(v, rc);
	if (kat_fld(v, "y") != NULL) {
		/* y documents option A's input block: the rightmost 16
		 * digits of PAN || PSN; check the vector is consistent. */
		char digits[64] = "0000000000000000", y[17];
		size_t n = strlen(pan) + strlen(psn);

		if (n + 17 > sizeof(digits) || kat_len(v, "y") != 8)
			return kat_fail(v, "pan too long for y");
		snprintf(digits + 16, sizeof(digits) - 16, "%s%s", pan, psn);
		tkm_hex_encode(kat_val(v, "y"), 8, y);
		if (strcmp(digits + n, y) != 0)
			return kat_fail(
			    v, "y is not the last 16 digits of pan||psn");
	}
	return kat_expect(v, "out", out, sizeof(out));
}

static int
check_emv_key(struct kat_vec *v, int param)
{
	uint8_t out[16];
	int rc;

	if (param == 0) { /* emv.csk mk r */
		if (kat_len(v, "mk") != 16 || kat_len(v, "r") != 8)
			return kat_fail(v, "mk 16 bytes, r 8 bytes");
		rc = tkm_emv_csk(kat_val(v, "mk"), kat_val(v, "r"), 1, out);
	} else if (param == 1) { /* pboc.sk udk atc */
		if (kat_len(v, "udk") != 16 || kat_len(v, "atc") != 2)
			return kat_fail(v, "udk 16 bytes, atc 2 bytes");
		rc = tkm_pboc_sk(kat_val(v, "udk"), kat_val(v, "atc"), out);
	} else if (param == 2) { /* emv.tree mk iv b h atc */
		if (kat_len(v, "mk") != 16 || kat_len(v, "iv") != 16 ||
		    kat_len(v, "atc") != 2)
			return kat_fail(v, "mk 16, iv 16, atc 2 bytes");
		rc = tkm_emv2000_sk(kat_val(v, "mk"), kat_val(v, "iv"),
		    *kat_val(v, "b"), *kat_val(v, "h"), kat_val(v, "atc"), out);
	} else { /* scp02.sk key const seq */
		if (kat_len(v, "key") != 16 || kat_len(v, "const") != 2 ||
		    kat_len(v, "seq") != 2)
			return kat_fail(v, "key 16, const 2, seq 2 bytes");
		rc = tkm_scp02_sk(kat_val(v, "key"),
		    (unsigned)(kat_val(v, "const")[0] << 8 |
			       kat_val(v, "const")[1]),
		    kat_val(v, "seq"), out);
	}
	return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, sizeof(out));
}

/* pboc.arqc / emv.ac (pad from the field, PBOC's 80 by default). */
static int
check_ac(struct kat_vec *v, int param)
{
	uint8_t out[8];
	int pad = kat_fld(v, "pad") ? *kat_val(v, "pad") : TKM_PAD_80;
	int rc;

	(void)param;
	if (kat_len(v, "sk") != 16)
		return kat_fail(v, "sk must be 16 bytes");
	rc = tkm_emv_ac(
	    kat_val(v, "sk"), kat_val(v, "data"), kat_len(v, "data"), pad, out);
	return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, sizeof(out));
}

/* param 1: ARPC method 1 (arc); 2: method 2 (csu, optional prop). */
static int
check_arpc(struct kat_vec *v, int param)
{
	uint8_t out[8];
	int rc;

	if (kat_len(v, "sk") != 16 || kat_len(v, "arqc") != 8)
		return kat_fail(v, "sk 16 bytes, arqc 8 bytes");
	if (param == 1) {
		if (kat_len(v, "arc") != 2)
			return kat_fail(v, "arc must be 2 bytes");
		rc = tkm_emv_arpc1(kat_val(v, "sk"), kat_val(v, "arqc"),
		    kat_val(v, "arc"), out);
		return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, 8);
	}
	if (kat_len(v, "csu") != 4)
		return kat_fail(v, "csu must be 4 bytes");
	rc = tkm_emv_arpc2(kat_val(v, "sk"), kat_val(v, "arqc"),
	    kat_val(v, "csu"), kat_val(v, "prop"), kat_len(v, "prop"), out);
	return rc ? kat_ok(v, rc) : kat_expect(v, "out", out, 4);
}

/* --- the table ------------------------------------------------------------ */

#define CIPHER(alg, mode) ((alg)*4 + (mode))
#define MAC(m, alg)       ((m)*16 + (alg))
#define PURSE(alg, op)    ((alg)*16 + (op))

static const struct kat_row kat_table[] = {
    {"des.ecb", "key data out", check_cipher, CIPHER(TKM_DES, TKM_ECB)},
    {"tdes2.ecb", "key data out", check_cipher, CIPHER(TKM_DES, TKM_ECB)},
    {"tdes3.ecb", "key data out", check_cipher, CIPHER(TKM_DES, TKM_ECB)},
    {"des.cbc", "key iv data out", check_cipher, CIPHER(TKM_DES, TKM_CBC)},
    {"sm4.ecb", "key data out", check_cipher, CIPHER(TKM_SM4, TKM_ECB)},
    {"sm4.cbc", "key iv data out", check_cipher, CIPHER(TKM_SM4, TKM_CBC)},
    {"sm4.ctr", "key iv data out", check_cipher, CIPHER(TKM_SM4, TKM_CTR)},
    {"sm4.ecb.1e6", "key data out", check_sm4_1e6, 0},
    {"sm3", "data out", check_hash, TKM_SM3},
    {"sha1", "data out", check_hash, TKM_SHA1},
    {"sha256", "data out", check_hash, TKM_SHA256},
    {"md5", "data out", check_hash, TKM_MD5},
    {"hmac.sm3", "key data out", check_hmac, TKM_SM3},
    {"hmac.sha256", "key data out", check_hmac, TKM_SHA256},
    {"kdf.sha256", "key label context out", check_kdf, TKM_SHA256},
    {"kdf.sm3", "key label context out", check_kdf, TKM_SM3},
    {"kcv.des", "key out", check_kcv, TKM_DES},
    {"kcv.sm4", "key out", check_kcv, TKM_SM4},
    {"mac.alg1.des", "key data pad out", check_mac, MAC(TKM_MAC_ALG1, TKM_DES)},
    {"mac.alg3", "key data pad out", check_mac, MAC(TKM_MAC_ALG3, TKM_DES)},
    {"mac.alg1.sm4", "key data pad out", check_mac, MAC(TKM_MAC_ALG1, TKM_SM4)},
    {"mac.pboc.des", "key data out", check_mac, MAC(TKM_MAC_PBOC, TKM_DES)},
    {"mac.pboc.sm4", "key data out", check_mac, MAC(TKM_MAC_PBOC, TKM_SM4)},
    {"derive.des", "mk d out", check_derive, TKM_DES},
    {"derive.sm4", "mk d out", check_derive, TKM_SM4},
    {"factor.city", "city out", check_city, 0},
    {"sm2.pub", "d x y", check_sm2_pub, 0},
    {"sm2.za", "id x y out", check_sm2_za, 0},
    {"sm2.e", "za msg out", check_sm2_e, 0},
    {"sm2.sign", "d e k r s", check_sm2_sign, 0},
    {"sm2.encrypt", "x y k msg c1x c1y c3 c2", check_sm2_encrypt, 0},
    {"sm2.verify", "x y id msg r s", check_sm2_verify, 0},
    {"sm2.decrypt", "d c out", check_sm2_decrypt, 0},
    {"rsa.sign", "der hash msg out", check_rsa, 0},
    {"rsa.raw", "der in out", check_rsa, 1},
    {"rsa.dec.pkcs1", "der in out", check_rsa, 2},
    {"purse.seslk", "dlk rnd sn out", check_purse, PURSE(TKM_DES, P_LOAD_SK)},
    {"purse.sespk", "dpk rnd sn termsn out", check_purse,
	PURSE(TKM_DES, P_PURCHASE_SK)},
    {"purse.load.mac1", "seslk bal amt type term out", check_purse,
	PURSE(TKM_DES, P_LOAD_MAC1)},
    {"purse.load.mac2", "seslk amt type term date time out", check_purse,
	PURSE(TKM_DES, P_LOAD_MAC2)},
    {"purse.purchase.mac1", "sespk amt type term date time out", check_purse,
	PURSE(TKM_DES, P_PURCHASE_MAC1)},
    {"purse.purchase.mac2", "sespk amt out", check_purse,
	PURSE(TKM_DES, P_PURCHASE_MAC2)},
    {"purse.load.tac", "dtk bal sn amt type term date time out", check_purse,
	PURSE(TKM_DES, P_LOAD_TAC)},
    {"purse.purchase.tac", "dtk amt type term termsn date time out",
	check_purse, PURSE(TKM_DES, P_PURCHASE_TAC)},
    {"purse.sm4.seslk", "dlk rnd sn out", check_purse,
	PURSE(TKM_SM4, P_LOAD_SK)},
    {"purse.sm4.sespk", "dpk rnd sn termsn out", check_purse,
	PURSE(TKM_SM4, P_PURCHASE_SK)},
    {"purse.sm4.load.mac1", "seslk bal amt type term out", check_purse,
	PURSE(TKM_SM4, P_LOAD_MAC1)},
    {"purse.sm4.load.mac2", "seslk amt type term date time out", check_purse,
	PURSE(TKM_SM4, P_LOAD_MAC2)},
    {"purse.sm4.purchase.mac1", "sespk amt type term date time out",
	check_purse, PURSE(TKM_SM4, P_PURCHASE_MAC1)},
    {"purse.sm4.purchase.mac2", "sespk amt out", check_purse,
	PURSE(TKM_SM4, P_PURCHASE_MAC2)},
    {"purse.sm4.load.tac", "dtk bal sn amt type term date time out",
	check_purse, PURSE(TKM_SM4, P_LOAD_TAC)},
    {"purse.sm4.purchase.tac", "dtk amt type term termsn date time out",
	check_purse, PURSE(TKM_SM4, P_PURCHASE_TAC)},
    {"pboc.udk", "imk pan psn y out", check_icc_mk, 0},
    {"emv.mk_a", "imk pan psn out", check_icc_mk, 1},
    {"emv.mk_b", "imk pan psn out", check_icc_mk, 2},
    {"pboc.sk", "udk atc out", check_emv_key, 1},
    {"emv.csk", "mk r out", check_emv_key, 0},
    {"emv.tree", "mk iv b h atc out", check_emv_key, 2},
    {"scp02.sk", "key const seq out", check_emv_key, 3},
    {"pboc.arqc", "sk data out", check_ac, 0},
    {"emv.ac", "sk data pad out", check_ac, 0},
    {"pboc.arpc1", "sk arqc arc out", check_arpc, 1},
    {"emv.arpc1", "sk arqc arc out", check_arpc, 1},
    {"emv.arpc2", "sk arqc csu ?prop out", check_arpc, 2},
};

const struct kat_row *
kat_find_row(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(kat_table) / sizeof(kat_table[0]); i++)
		if (strlen(kat_table[i].name) == len &&
		    memcmp(kat_table[i].name, name, len) == 0)
			return &kat_table[i];
	return NULL;
}
