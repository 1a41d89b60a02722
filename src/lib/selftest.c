/*
 * selftest.c - known-answer test engine over vector text (selftest.h).
 *
 * Each vector name has one row in kat_table: the fields it takes and the
 * check that runs it. A check computes with libtkm and compares; where an
 * operation is randomised (SM2 signing and encryption draw their own k) it
 * checks the deterministic inverse instead (verify, decrypt) and that a
 * tampered input fails.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/emv.h"
#include "tkm/mac.h"
#include "tkm/mem.h"
#include "tkm/purse.h"
#include "tkm/rsa.h"
#include "tkm/selftest.h"
#include "tkm/sm2.h"

#define KAT_MAX_FIELDS 12
#define KAT_MAX_VALUE  4096 /* bytes; a 4096-bit RSA private key in DER */
#define KAT_MAX_LINE   (2 * KAT_MAX_VALUE * 2 + 256)
#define KAT_KEYRING    8

struct kat_field {
	char name[16];
	size_t len;
	uint8_t val[KAT_MAX_VALUE + 1]; /* text fields are NUL-terminated */
};

/* SM2 private keys seen in sm2.pub lines, found again by public key for
 * the sm2.encrypt vectors, which give only the public key. */
struct kat_sm2_entry {
	uint8_t pub[TKM_SM2_PUB_LEN];
	uint8_t d[TKM_SM2_PRIV_LEN];
};

struct kat_vec {
	unsigned nf;
	struct kat_field f[KAT_MAX_FIELDS];
	const char *why; /* failure text */
	struct kat_sm2_entry ring[KAT_KEYRING];
	unsigned nring;
};

struct kat_row {
	const char *name;
	const char *fields; /* required, space separated; '?' marks optional */
	int (*check)(struct kat_vec *v, int param);
	int param;
};

static const char *const text_fields[] = {"pan", "psn", "city"};

/* --- field access ------------------------------------------------------ */

static const struct kat_field *
fld(const struct kat_vec *v, const char *name)
{
	unsigned i;

	for (i = 0; i < v->nf; i++)
		if (strcmp(v->f[i].name, name) == 0)
			return &v->f[i];
	return NULL;
}

static const uint8_t *
val(const struct kat_vec *v, const char *name)
{
	const struct kat_field *f = fld(v, name);

	return f != NULL ? f->val : NULL;
}

static size_t
vlen(const struct kat_vec *v, const char *name)
{
	const struct kat_field *f = fld(v, name);

	return f != NULL ? f->len : 0;
}

/* Compare computed bytes with the field "out" (or another), on the
 * field's length, which must not exceed what was computed. */
static int
expect(struct kat_vec *v, const char *name, const uint8_t *got, size_t len)
{
	const struct kat_field *f = fld(v, name);

	if (f == NULL || f->len == 0 || f->len > len) {
		v->why = "expected value has the wrong length";
		return -1;
	}
	if (!tkm_ct_eq(f->val, got, f->len)) {
		v->why = "wrong answer";
		return -1;
	}
	return 0;
}

static int
fail(struct kat_vec *v, const char *why)
{
	v->why = why;
	return -1;
}

static int
ok_or_fail(struct kat_vec *v, int rc)
{
	return rc == TKM_OK ? 0 : fail(v, tkm_strerror(rc));
}

/* --- block ciphers, digests, MACs -------------------------------------- */

/* param: alg * 2 + mode. Checks encryption and decryption. */
static int
check_cipher(struct kat_vec *v, int param)
{
	int alg = param / 2, mode = param % 2;
	const uint8_t *data = val(v, "data");
	size_t len = vlen(v, "data");
	uint8_t out[KAT_MAX_VALUE], back[KAT_MAX_VALUE];
	int rc;

	rc = tkm_cipher(alg, mode, TKM_ENCRYPT, val(v, "key"), vlen(v, "key"),
	    val(v, "iv"), data, len, out);
	if (rc != TKM_OK || expect(v, "out", out, len) != 0)
		return rc != TKM_OK ? ok_or_fail(v, rc) : -1;
	rc = tkm_cipher(alg, mode, TKM_DECRYPT, val(v, "key"), vlen(v, "key"),
	    val(v, "iv"), out, len, back);
	if (rc != TKM_OK)
		return ok_or_fail(v, rc);
	return memcmp(back, data, len) == 0 ? 0 : fail(v, "decryption differs");
}

/* SM4 encryption iterated 1,000,000 times (GB/T 32907 example 2). */
static int
check_sm4_1e6(struct kat_vec *v, int param)
{
	uint8_t b[16];
	long i;

	(void)param;
	memcpy(b, val(v, "data"), sizeof(b));
	for (i = 0; i < 1000000; i++)
		if (tkm_encrypt_block(TKM_SM4, val(v, "key"), 16, b, b) != 0)
			return fail(v, "encryption failed");
	return expect(v, "out", b, sizeof(b));
}

static int
check_hash(struct kat_vec *v, int hash)
{
	uint8_t out[TKM_MAX_HASH];
	int rc = tkm_hash(hash, val(v, "data"), vlen(v, "data"), out);

	return rc ? ok_or_fail(v, rc)
		  : expect(v, "out", out, tkm_hash_len(hash));
}

static int
check_hmac(struct kat_vec *v, int hash)
{
	uint8_t out[TKM_MAX_HASH];
	int rc = tkm_hmac(hash, val(v, "key"), vlen(v, "key"), val(v, "data"),
	    vlen(v, "data"), out);

	return rc ? ok_or_fail(v, rc)
		  : expect(v, "out", out, tkm_hash_len(hash));
}

static int
check_kcv(struct kat_vec *v, int alg)
{
	uint8_t out[TKM_KCV_LEN];
	int rc = tkm_kcv(alg, val(v, "key"), vlen(v, "key"), out);

	return rc ? ok_or_fail(v, rc) : expect(v, "out", out, sizeof(out));
}

/* param: mac_alg * 16 + alg. Padding from the "pad" field, else PBOC's. */
static int
check_mac(struct kat_vec *v, int param)
{
	uint8_t out[TKM_MAX_BLOCK];
	size_t outlen;
	int pad = fld(v, "pad") ? *val(v, "pad") : TKM_PAD_80;
	int rc = tkm_mac(param / 16, param % 16, val(v, "key"), vlen(v, "key"),
	    NULL, val(v, "data"), vlen(v, "data"), pad, out, &outlen);

	return rc ? ok_or_fail(v, rc) : expect(v, "out", out, outlen);
}

/* --- diversification and factors -------------------------------------- */

static int
check_derive(struct kat_vec *v, int alg)
{
	uint8_t out[TKM_DERIVED_LEN];
	size_t dlen = vlen(v, "d");
	int rc;

	if (dlen % TKM_FACTOR_LEN != 0)
		return fail(v, "d is not a whole number of 8-byte factors");
	rc = tkm_derive(alg, val(v, "mk"), vlen(v, "mk"), val(v, "d"),
	    dlen / TKM_FACTOR_LEN, out);
	return rc ? ok_or_fail(v, rc) : expect(v, "out", out, sizeof(out));
}

static int
check_city(struct kat_vec *v, int param)
{
	uint8_t out[TKM_FACTOR_LEN];
	int rc = tkm_city_factor((const char *)val(v, "city"), out);

	(void)param;
	return rc ? ok_or_fail(v, rc) : expect(v, "out", out, sizeof(out));
}

/* --- SM2 ---------------------------------------------------------------- */

static int
sm2_from_xy(struct kat_vec *v, struct tkm_sm2 **k)
{
	uint8_t xy[TKM_SM2_PUB_LEN];

	if (vlen(v, "x") != 32 || vlen(v, "y") != 32)
		return fail(v, "x and y must be 32 bytes");
	memcpy(xy, val(v, "x"), 32);
	memcpy(xy + 32, val(v, "y"), 32);
	return ok_or_fail(v, tkm_sm2_from_pub(xy, k));
}

static int
check_sm2_pub(struct kat_vec *v, int param)
{
	struct tkm_sm2 *k = NULL;
	uint8_t xy[TKM_SM2_PUB_LEN];
	struct kat_sm2_entry *e;
	int r = -1;

	(void)param;
	if (vlen(v, "d") != 32)
		return fail(v, "d must be 32 bytes");
	if (ok_or_fail(v, tkm_sm2_from_priv(val(v, "d"), &k)) != 0 ||
	    ok_or_fail(v, tkm_sm2_pub(k, xy)) != 0)
		goto out;
	if (expect(v, "x", xy, 32) != 0 || expect(v, "y", xy + 32, 32) != 0)
		goto out;
	if (v->nring < KAT_KEYRING) {
		e = &v->ring[v->nring++];
		memcpy(e->pub, xy, sizeof(e->pub));
		memcpy(e->d, val(v, "d"), sizeof(e->d));
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
	r = ok_or_fail(v, tkm_sm2_za(k, val(v, "id"), vlen(v, "id"), za));
	if (r == 0)
		r = expect(v, "out", za, sizeof(za));
	tkm_sm2_free(k);
	return r;
}

static int
check_sm2_e(struct kat_vec *v, int param)
{
	const void *parts[2] = {val(v, "za"), val(v, "msg")};
	size_t lens[2] = {vlen(v, "za"), vlen(v, "msg")};
	uint8_t e[32];
	int rc = tkm_hashv(TKM_SM3, parts, lens, 2, e);

	(void)param;
	return rc ? ok_or_fail(v, rc) : expect(v, "out", e, sizeof(e));
}

/* Verify r || s, and check that a signature with one bit flipped fails. */
static int
sm2_verify_both(struct kat_vec *v, struct tkm_sm2 *k, const uint8_t *e)
{
	uint8_t sig[TKM_SM2_SIG_LEN];

	if (vlen(v, "r") != 32 || vlen(v, "s") != 32)
		return fail(v, "r and s must be 32 bytes");
	memcpy(sig, val(v, "r"), 32);
	memcpy(sig + 32, val(v, "s"), 32);
	if (ok_or_fail(v, tkm_sm2_verify_digest(k, e, sig)) != 0)
		return -1;
	sig[63] ^= 1;
	if (tkm_sm2_verify_digest(k, e, sig) != TKM_ERR_VERIFY)
		return fail(v, "a tampered signature verified");
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
	if (vlen(v, "d") != 32 || vlen(v, "e") != 32)
		return fail(v, "d and e must be 32 bytes");
	if (ok_or_fail(v, tkm_sm2_from_priv(val(v, "d"), &k)) != 0)
		goto out;
	if (sm2_verify_both(v, k, val(v, "e")) != 0)
		goto out;
	if (ok_or_fail(v, tkm_sm2_sign_digest(k, val(v, "e"), sig)) != 0 ||
	    ok_or_fail(v, tkm_sm2_verify_digest(k, val(v, "e"), sig)) != 0)
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
	const void *parts[2] = {za, val(v, "msg")};
	size_t lens[2] = {sizeof(za), vlen(v, "msg")};
	int r = -1;

	(void)param;
	if (sm2_from_xy(v, &k) != 0)
		return -1;
	if (ok_or_fail(v, tkm_sm2_za(k, val(v, "id"), vlen(v, "id"), za)) ||
	    ok_or_fail(v, tkm_hashv(TKM_SM3, parts, lens, 2, e)))
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
		return fail(v, "out of memory");
	if (ok_or_fail(v, tkm_sm2_decrypt(k, c, clen, m, &mlen)) != 0)
		goto out;
	if (mlen != vlen(v, want) || expect(v, want, m, mlen) != 0) {
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
	if (vlen(v, "d") != 32)
		return fail(v, "d must be 32 bytes");
	if (ok_or_fail(v, tkm_sm2_from_priv(val(v, "d"), &k)) == 0) {
		uint8_t c[KAT_MAX_VALUE];

		memcpy(c, val(v, "c"), vlen(v, "c"));
		r = sm2_decrypt_both(v, k, c, vlen(v, "c"), "out");
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
		if (memcmp(v->ring[i].pub, val(v, "x"), 32) == 0 &&
		    memcmp(v->ring[i].pub + 32, val(v, "y"), 32) == 0)
			break;
	if (i == v->nring)
		return fail(v, "no earlier sm2.pub line gives this key's d");
	if (ok_or_fail(v, tkm_sm2_from_priv(v->ring[i].d, &k)) != 0)
		return -1;
	c[n++] = 0x04;
	for (i = 0; i < 4; i++) {
		if (vlen(v, parts[i]) > sizeof(c) - n)
			goto out;
		memcpy(c + n, val(v, parts[i]), vlen(v, parts[i]));
		n += vlen(v, parts[i]);
	}
	if (sm2_decrypt_both(v, k, c, n, "msg") != 0)
		goto out;
	if (ok_or_fail(v, tkm_sm2_encrypt(
			      k, val(v, "msg"), vlen(v, "msg"), c, &clen)) != 0)
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

	rc = tkm_rsa_from_der(val(v, "der"), vlen(v, "der"), 1, &k);
	if (rc != TKM_OK)
		return ok_or_fail(v, rc);
	if (param == 0)
		rc = tkm_rsa_sign(
		    k, *val(v, "hash"), val(v, "msg"), vlen(v, "msg"), out, &n);
	else
		rc =
		    tkm_rsa_decrypt(k, param == 1 ? TKM_RSA_RAW : TKM_RSA_PKCS1,
			val(v, "in"), vlen(v, "in"), out, &n);
	if (ok_or_fail(v, rc) != 0)
		goto out;
	if (n != vlen(v, "out") || expect(v, "out", out, n) != 0) {
		v->why = "wrong answer";
		goto out;
	}
	if (param == 0)
		r = ok_or_fail(v, tkm_rsa_verify(k, *val(v, "hash"),
				      val(v, "msg"), vlen(v, "msg"), out, n));
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
		const struct kat_field *f = fld(v, map[i].name);

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
		if (vlen(v, kf) != 16)
			return fail(v, "process key must be 16 bytes");
		if (op <= P_PURCHASE_SK)
			rc = sk_fn[op](alg, val(v, kf), &t, out, &n);
		else
			rc = tac_fn[op - P_LOAD_TAC](alg, val(v, kf), &t, out);
	} else {
		rc = mac_fn[op - P_LOAD_MAC1](
		    alg, val(v, kf), vlen(v, kf), &t, out);
	}
	return rc ? ok_or_fail(v, rc) : expect(v, "out", out, n);
}

/* --- EMV / PBOC / GlobalPlatform ---------------------------------------- */

/* pboc.udk / emv.mk_a / emv.mk_b. param: 0 PBOC (no parity), 1 A, 2 B. */
static int
check_icc_mk(struct kat_vec *v, int param)
{
	const char *pan = (const char *)val(v, "pan");
	const char *psn = (const char *)val(v, "psn");
	uint8_t out[16];
	int rc;

	if (vlen(v, "imk") != 16)
		return fail(v, "imk must be 16 bytes");
	if (param == 2)
		rc = tkm_emv_icc_mk_b(val(v, "imk"), pan, psn, 1, out);
	else
		rc = tkm_emv_icc_mk_a(val(v, "imk"), pan, psn, param, out);
	if (rc != TKM_OK)
		return ok_or_fail(v, rc);
	if (fld(v, "y") != NULL) {
		/* y documents option A's input block: the rightmost 16
		 * digits of PAN || PSN; check the vector is consistent. */
		char digits[64] = "0000000000000000", y[17];
		size_t n = strlen(pan) + strlen(psn);

		if (n + 17 > sizeof(digits) || vlen(v, "y") != 8)
			return fail(v, "pan too long for y");
		snprintf(digits + 16, sizeof(digits) - 16, "%s%s", pan, psn);
		tkm_hex_encode(val(v, "y"), 8, y);
		if (strcmp(digits + n, y) != 0)
			return fail(
			    v, "y is not the last 16 digits of pan||psn");
	}
	return expect(v, "out", out, sizeof(out));
}

static int
check_emv_key(struct kat_vec *v, int param)
{
	uint8_t out[16];
	int rc;

	if (param == 0) { /* emv.csk mk r */
		if (vlen(v, "mk") != 16 || vlen(v, "r") != 8)
			return fail(v, "mk 16 bytes, r 8 bytes");
		rc = tkm_emv_csk(val(v, "mk"), val(v, "r"), 1, out);
	} else if (param == 1) { /* pboc.sk udk atc */
		if (vlen(v, "udk") != 16 || vlen(v, "atc") != 2)
			return fail(v, "udk 16 bytes, atc 2 bytes");
		rc = tkm_pboc_sk(val(v, "udk"), val(v, "atc"), out);
	} else if (param == 2) { /* emv.tree mk iv b h atc */
		if (vlen(v, "mk") != 16 || vlen(v, "iv") != 16 ||
		    vlen(v, "atc") != 2)
			return fail(v, "mk 16, iv 16, atc 2 bytes");
		rc = tkm_emv2000_sk(val(v, "mk"), val(v, "iv"), *val(v, "b"),
		    *val(v, "h"), val(v, "atc"), out);
	} else { /* scp02.sk key const seq */
		if (vlen(v, "key") != 16 || vlen(v, "const") != 2 ||
		    vlen(v, "seq") != 2)
			return fail(v, "key 16, const 2, seq 2 bytes");
		rc = tkm_scp02_sk(val(v, "key"),
		    (unsigned)(val(v, "const")[0] << 8 | val(v, "const")[1]),
		    val(v, "seq"), out);
	}
	return rc ? ok_or_fail(v, rc) : expect(v, "out", out, sizeof(out));
}

/* pboc.arqc / emv.ac (pad from the field, PBOC's 80 by default). */
static int
check_ac(struct kat_vec *v, int param)
{
	uint8_t out[8];
	int pad = fld(v, "pad") ? *val(v, "pad") : TKM_PAD_80;
	int rc;

	(void)param;
	if (vlen(v, "sk") != 16)
		return fail(v, "sk must be 16 bytes");
	rc =
	    tkm_emv_ac(val(v, "sk"), val(v, "data"), vlen(v, "data"), pad, out);
	return rc ? ok_or_fail(v, rc) : expect(v, "out", out, sizeof(out));
}

/* param 1: ARPC method 1 (arc); 2: method 2 (csu, optional prop). */
static int
check_arpc(struct kat_vec *v, int param)
{
	uint8_t out[8];
	int rc;

	if (vlen(v, "sk") != 16 || vlen(v, "arqc") != 8)
		return fail(v, "sk 16 bytes, arqc 8 bytes");
	if (param == 1) {
		if (vlen(v, "arc") != 2)
			return fail(v, "arc must be 2 bytes");
		rc = tkm_emv_arpc1(
		    val(v, "sk"), val(v, "arqc"), val(v, "arc"), out);
		return rc ? ok_or_fail(v, rc) : expect(v, "out", out, 8);
	}
	if (vlen(v, "csu") != 4)
		return fail(v, "csu must be 4 bytes");
	rc = tkm_emv_arpc2(val(v, "sk"), val(v, "arqc"), val(v, "csu"),
	    val(v, "prop"), vlen(v, "prop"), out);
	return rc ? ok_or_fail(v, rc) : expect(v, "out", out, 4);
}

/* --- the table ------------------------------------------------------------ */

#define CIPHER(alg, mode) ((alg)*2 + (mode))
#define MAC(m, alg)       ((m)*16 + (alg))
#define PURSE(alg, op)    ((alg)*16 + (op))

static const struct kat_row kat_table[] = {
    {"des.ecb", "key data out", check_cipher, CIPHER(TKM_DES, TKM_ECB)},
    {"tdes2.ecb", "key data out", check_cipher, CIPHER(TKM_DES, TKM_ECB)},
    {"tdes3.ecb", "key data out", check_cipher, CIPHER(TKM_DES, TKM_ECB)},
    {"des.cbc", "key iv data out", check_cipher, CIPHER(TKM_DES, TKM_CBC)},
    {"sm4.ecb", "key data out", check_cipher, CIPHER(TKM_SM4, TKM_ECB)},
    {"sm4.cbc", "key iv data out", check_cipher, CIPHER(TKM_SM4, TKM_CBC)},
    {"sm4.ecb.1e6", "key data out", check_sm4_1e6, 0},
    {"sm3", "data out", check_hash, TKM_SM3},
    {"sha1", "data out", check_hash, TKM_SHA1},
    {"sha256", "data out", check_hash, TKM_SHA256},
    {"md5", "data out", check_hash, TKM_MD5},
    {"hmac.sm3", "key data out", check_hmac, TKM_SM3},
    {"hmac.sha256", "key data out", check_hmac, TKM_SHA256},
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

/* --- parsing ----------------------------------------------------------------
 */

static int
is_text_field(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++)
		if (strcmp(name, text_fields[i]) == 0)
			return 1;
	return 0;
}

/* Does the row's field list name f (optional or not)? */
static int
row_has(const struct kat_row *row, const char *f, size_t flen, int *optional)
{
	const char *p = row->fields;

	while (*p != '\0') {
		size_t n;
		int opt = (*p == '?');

		p += opt;
		n = strcspn(p, " ");
		if (n == flen && memcmp(p, f, n) == 0) {
			*optional = opt;
			return 1;
		}
		p += n;
		p += (*p == ' ');
	}
	return 0;
}

/* Every required field of the row is present. */
static const char *
missing_field(const struct kat_row *row, const struct kat_vec *v)
{
	static char name[16];
	const char *p = row->fields;

	while (*p != '\0') {
		size_t n;
		int opt = (*p == '?');

		p += opt;
		n = strcspn(p, " ");
		if (!opt && n < sizeof(name)) {
			memcpy(name, p, n);
			name[n] = '\0';
			if (fld(v, name) == NULL)
				return name;
		}
		p += n;
		p += (*p == ' ');
	}
	return NULL;
}

/* Parse one "name=value" token into v. */
static const char *
parse_field(const struct kat_row *row, struct kat_vec *v, const char *tok,
    size_t toklen)
{
	const char *eq = memchr(tok, '=', toklen);
	struct kat_field *f;
	size_t nlen, vl;
	int opt;

	if (eq == NULL)
		return "field without '='";
	nlen = (size_t)(eq - tok);
	vl = toklen - nlen - 1;
	if (nlen == 0 || nlen >= sizeof(f->name) ||
	    !row_has(row, tok, nlen, &opt))
		return "field not taken by this vector name";
	if (v->nf == KAT_MAX_FIELDS)
		return "too many fields";
	f = &v->f[v->nf];
	memcpy(f->name, tok, nlen);
	f->name[nlen] = '\0';
	if (fld(v, f->name) != NULL)
		return "field given twice";
	if (is_text_field(f->name)) {
		if (vl > KAT_MAX_VALUE)
			return "text field too long";
		memcpy(f->val, eq + 1, vl);
		f->val[vl] = '\0';
		f->len = vl;
	} else if (tkm_hex_decode(eq + 1, vl, f->val, KAT_MAX_VALUE, &f->len) !=
		   TKM_OK) {
		return "value is not hex";
	}
	v->nf++;
	return NULL;
}

static const struct kat_row *
find_row(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(kat_table) / sizeof(kat_table[0]); i++)
		if (strlen(kat_table[i].name) == len &&
		    memcmp(kat_table[i].name, name, len) == 0)
			return &kat_table[i];
	return NULL;
}

/* Run one line (without its newline); returns 1 if it held no vector. */
static int
run_line(
    struct kat_vec *v, const char *line, size_t len, char *name, size_t namecap)
{
	const struct kat_row *row;
	const char *p = line, *end, *why = NULL;
	size_t n;

	end = memchr(line, '#', len);
	end = end != NULL ? end : line + len;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	if (p == end)
		return 1;
	n = strcspn(p, " \t\r#");
	n = n < (size_t)(end - p) ? n : (size_t)(end - p);
	snprintf(name, namecap, "%.*s", (int)n, p);
	v->nf = 0;
	v->why = NULL;
	row = find_row(p, n);
	if (row == NULL) {
		v->why = "unknown vector name";
		return 0;
	}
	for (p += n; p < end && why == NULL;) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		n = strcspn(p, " \t\r#");
		n = n < (size_t)(end - p) ? n : (size_t)(end - p);
		if (n > 0)
			why = parse_field(row, v, p, n);
		p += n;
	}
	if (why == NULL && missing_field(row, v) != NULL)
		why = "a required field is missing";
	if (why != NULL)
		v->why = why;
	else if (row->check(v, row->param) != 0 && v->why == NULL)
		v->why = "check failed";
	return 0;
}

int
tkm_kat_run(const char *text, size_t len, tkm_kat_report_fn *report, void *arg,
    struct tkm_kat_result *res)
{
	struct kat_vec *v = calloc(1, sizeof(*v));
	const char *p = text, *end = text + len;
	unsigned lineno = 0;
	char name[64];

	res->run = res->failed = 0;
	if (v == NULL)
		return TKM_ERR_NOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		if (n > KAT_MAX_LINE) {
			v->why = "line too long";
			snprintf(name, sizeof(name), "?");
		} else if (run_line(v, p, n, name, sizeof(name))) {
			p += n + (nl != NULL);
			continue;
		}
		res->run++;
		res->failed += v->why != NULL;
		if (report != NULL)
			report(arg, name, lineno, v->why == NULL, v->why);
		p += n + (nl != NULL);
	}
	tkm_cleanse(v, sizeof(*v));
	free(v);
	return res->failed == 0 && res->run > 0 ? TKM_OK : TKM_ERR_VERIFY;
}

extern const char tkm_kat_text[];
extern const unsigned long tkm_kat_text_len;

int
tkm_selftest(tkm_kat_report_fn *report, void *arg, struct tkm_kat_result *res)
{
	return tkm_kat_run(tkm_kat_text, tkm_kat_text_len, report, arg, res);
}
