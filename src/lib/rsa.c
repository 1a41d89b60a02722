/*
 * rsa.c - RSA over OpenSSL 3 EVP (rsa.h).
 *
 * Keys are EVP_PKEYs; PKCS#1 DER (RFC 8017 appendix A.1) goes through
 * OSSL_DECODER / OSSL_ENCODER with the "type-specific" structure, which for
 * RSA is RSAPublicKey / RSAPrivateKey; a key read must encode back to the
 * bytes it was read from. The modulus is kept next to the key to check raw
 * inputs against N without asking OpenSSL.
 *
 * Signatures are PKCS#1 v1.5 (RFC 8017 §8.2) with SHA-1, SHA-256 or MD5.
 * SM3 is refused with TKM_ERR_MODE: OpenSSL 3.0's RSA signature code has
 * no DigestInfo for SM3 ("digest not allowed").
 *
 * The private key lives only inside the EVP_PKEY, which wipes it when
 * freed.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "tkm/crypto.h"
#include "tkm/mem.h"
#include "tkm/rsa.h"

/* A 4096-bit RSAPrivateKey is about 2.4 KB; anything far larger is not a
 * key we accept. */
#define DER_MAX   8192
#define E_MAX_LEN 8
/* RFC 8017 §7.2.1: PKCS#1 v1.5 padding takes at least 11 bytes */
#define PKCS1_OVERHEAD 11

struct tkm_rsa {
	EVP_PKEY *pkey;
	EVP_PKEY_CTX *ctx; /* re-initialised by every operation */
	int has_priv;
	unsigned bits;
	size_t nlen; /* modulus bytes */
	uint8_t n[TKM_RSA_MAX_LEN];
};

/* OpenSSL failures we report as a cause leave nothing on its error queue
 * for an unrelated caller to find later. */
static int
ossl_fail(int err)
{
	ERR_clear_error();
	return err;
}

/* --- keys ---------------------------------------------------------------- */

/* e odd and >= 3; RFC 8017 §3.1 asks 3 <= e <= n-1. */
static int
exponent_ok(const BIGNUM *e)
{
	return BN_is_odd(e) && !BN_is_one(e) && !BN_is_negative(e);
}

/* Wrap pkey (owned by the new object on success, freed on failure). */
static int
rsa_wrap(EVP_PKEY *pkey, int has_priv, struct tkm_rsa **out)
{
	struct tkm_rsa *k = calloc(1, sizeof(*k));
	BIGNUM *n = NULL, *e = NULL;
	int bits, r = TKM_ERR_INTERNAL;

	if (k == NULL) {
		EVP_PKEY_free(pkey);
		return TKM_ERR_NOMEM;
	}
	k->pkey = pkey;
	k->has_priv = has_priv;
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e))
		goto out;
	bits = BN_num_bits(n);
	if (bits < TKM_RSA_MIN_BITS || bits > TKM_RSA_MAX_BITS) {
		r = TKM_ERR_KEY_LEN;
		goto out;
	}
	if (!exponent_ok(e) || BN_cmp(e, n) >= 0 || !BN_is_odd(n)) {
		r = TKM_ERR_ASYM_KEY;
		goto out;
	}
	k->bits = (unsigned)bits;
	k->nlen = (size_t)BN_num_bytes(n);
	if (BN_bn2bin(n, k->n) != (int)k->nlen)
		goto out;
	k->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (k->ctx == NULL)
		goto out;
	*out = k;
	k = NULL;
	r = TKM_OK;
out:
	BN_free(n);
	BN_free(e);
	tkm_rsa_free(k);
	return r == TKM_OK ? r : ossl_fail(r);
}

int
tkm_rsa_generate(
    unsigned bits, const uint8_t *e, size_t elen, struct tkm_rsa **out)
{
	static const uint8_t f4[] = {0x01, 0x00, 0x01}; /* 65537 */
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *be = NULL;
	int r = TKM_ERR_INTERNAL;

	*out = NULL;
	if (bits % 8 != 0 || bits < TKM_RSA_MIN_BITS || bits > TKM_RSA_MAX_BITS)
		return TKM_ERR_KEY_LEN;
	if (e == NULL) {
		e = f4;
		elen = sizeof(f4);
	}
	if (elen == 0 || elen > E_MAX_LEN)
		return TKM_ERR_ASYM_KEY;
	be = BN_bin2bn(e, (int)elen, NULL);
	if (be == NULL)
		goto out;
	if (!exponent_ok(be)) {
		r = TKM_ERR_ASYM_KEY;
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, be) <= 0 ||
	    EVP_PKEY_generate(ctx, &pkey) <= 0)
		goto out;
	r = rsa_wrap(pkey, 1, out);
out:
	BN_free(be);
	EVP_PKEY_CTX_free(ctx);
	return r == TKM_OK ? r : ossl_fail(r);
}

/* PKCS#1 DER of pkey into a new OpenSSL buffer (*buf, *len), which the
 * caller frees with OPENSSL_clear_free. */
static int
encode(EVP_PKEY *pkey, int is_private, unsigned char **buf, size_t *len)
{
	OSSL_ENCODER_CTX *ectx;
	int ok;

	*buf = NULL;
	*len = 0;
	ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey,
	    is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, "DER",
	    "type-specific", NULL);
	ok = ectx != NULL && OSSL_ENCODER_to_data(ectx, buf, len) > 0 &&
	     *len > 0;
	OSSL_ENCODER_CTX_free(ectx);
	return ok ? TKM_OK : ossl_fail(TKM_ERR_INTERNAL);
}

int
tkm_rsa_from_der(
    const uint8_t *der, size_t len, int is_private, struct tkm_rsa **out)
{
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY *pkey = NULL;
	const unsigned char *p = der;
	unsigned char *again = NULL;
	size_t left = len, alen = 0;
	int sel = is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
	int r = TKM_ERR_ASYM_KEY;

	*out = NULL;
	if (der == NULL || len == 0 || len > DER_MAX)
		return TKM_ERR_ASYM_KEY;
	dctx = OSSL_DECODER_CTX_new_for_pkey(
	    &pkey, "DER", "type-specific", "RSA", sel, NULL, NULL);
	if (dctx == NULL)
		return ossl_fail(TKM_ERR_INTERNAL);
	if (!OSSL_DECODER_from_data(dctx, &p, &left) || left != 0)
		goto out;
	/*
	 * OpenSSL 3.0's decoders also unwrap PKCS#8 and accept some BER.
	 * PKCS#1 DER is what encodes back to the same bytes.
	 */
	if (encode(pkey, is_private, &again, &alen) != TKM_OK || alen != len ||
	    !tkm_ct_eq(again, der, len))
		goto out;
	r = rsa_wrap(pkey, is_private != 0, out);
	pkey = NULL; /* owned or freed by rsa_wrap */
out:
	OPENSSL_clear_free(again, alen);
	OSSL_DECODER_CTX_free(dctx);
	EVP_PKEY_free(pkey);
	return r == TKM_OK ? r : ossl_fail(r);
}

void
tkm_rsa_free(struct tkm_rsa *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_CTX_free(k->ctx);
	EVP_PKEY_free(k->pkey);
	free(k);
}

unsigned
tkm_rsa_bits(const struct tkm_rsa *k)
{
	return k->bits;
}

int
tkm_rsa_has_priv(const struct tkm_rsa *k)
{
	return k->has_priv;
}

int
tkm_rsa_to_der(const struct tkm_rsa *k, int is_private, uint8_t *der,
    size_t cap, size_t *len)
{
	unsigned char *buf;
	size_t blen;
	int r;

	*len = 0;
	if (is_private && !k->has_priv)
		return TKM_ERR_NO_KEY;
	r = encode(k->pkey, is_private, &buf, &blen);
	if (r != TKM_OK)
		return r;
	if (blen > cap) {
		r = TKM_ERR_SPACE;
	} else {
		memcpy(der, buf, blen);
		*len = blen;
	}
	OPENSSL_clear_free(buf, blen);
	return r;
}

static const struct {
	const char *param;
	int secret;
} part_tab[] = {
    [TKM_RSA_N] = {OSSL_PKEY_PARAM_RSA_N, 0},
    [TKM_RSA_E] = {OSSL_PKEY_PARAM_RSA_E, 0},
    [TKM_RSA_D] = {OSSL_PKEY_PARAM_RSA_D, 1},
    [TKM_RSA_P] = {OSSL_PKEY_PARAM_RSA_FACTOR1, 1},
    [TKM_RSA_Q] = {OSSL_PKEY_PARAM_RSA_FACTOR2, 1},
    [TKM_RSA_DP] = {OSSL_PKEY_PARAM_RSA_EXPONENT1, 1},
    [TKM_RSA_DQ] = {OSSL_PKEY_PARAM_RSA_EXPONENT2, 1},
    [TKM_RSA_QINV] = {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 1},
};
#define N_PART (sizeof(part_tab) / sizeof(part_tab[0]))

int
tkm_rsa_component(
    const struct tkm_rsa *k, int part, uint8_t *out, size_t cap, size_t *len)
{
	BIGNUM *v = NULL;
	size_t n;
	int r = TKM_ERR_INTERNAL;

	*len = 0;
	if (part < 0 || (size_t)part >= N_PART)
		return TKM_ERR_MODE;
	if (part_tab[part].secret && !k->has_priv)
		return TKM_ERR_NO_KEY;
	if (!EVP_PKEY_get_bn_param(k->pkey, part_tab[part].param, &v))
		goto out;
	n = (size_t)BN_num_bytes(v);
	if (n > cap) {
		r = TKM_ERR_SPACE;
		goto out;
	}
	if (BN_bn2bin(v, out) != (int)n)
		goto out;
	*len = n;
	r = TKM_OK;
out:
	BN_clear_free(v);
	return r == TKM_OK ? r : ossl_fail(r);
}

/* --- encryption ----------------------------------------------------------- */

static int
pad_mode(int pad)
{
	switch (pad) {
	case TKM_RSA_RAW:
		return RSA_NO_PADDING;
	case TKM_RSA_PKCS1:
		return RSA_PKCS1_PADDING;
	default:
		return -1;
	}
}

/* A raw input is exactly nlen bytes below N (RFC 8017 §5.1.1 step 1,
 * §5.1.2 step 1); big-endian strings of equal length compare as numbers.
 * N is public, so memcmp's timing is of no concern. */
static int
below_n(const struct tkm_rsa *k, const uint8_t *in, size_t len)
{
	return len == k->nlen && memcmp(in, k->n, len) < 0;
}

int
tkm_rsa_encrypt(struct tkm_rsa *k, int pad, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen)
{
	int mode = pad_mode(pad);
	size_t n = k->nlen;

	*outlen = 0;
	if (mode < 0)
		return TKM_ERR_MODE;
	if (pad == TKM_RSA_RAW ? !below_n(k, in, len)
			       : len > k->nlen - PKCS1_OVERHEAD)
		return TKM_ERR_DATA_LEN;
	if (EVP_PKEY_encrypt_init(k->ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(k->ctx, mode) <= 0 ||
	    EVP_PKEY_encrypt(k->ctx, out, &n, in, len) <= 0)
		return ossl_fail(TKM_ERR_INTERNAL);
	*outlen = n;
	return TKM_OK;
}

int
tkm_rsa_decrypt(struct tkm_rsa *k, int pad, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen)
{
	int mode = pad_mode(pad);
	size_t n = k->nlen;

	*outlen = 0;
	if (mode < 0)
		return TKM_ERR_MODE;
	if (!k->has_priv)
		return TKM_ERR_NO_KEY;
	if (!below_n(k, in, len))
		return TKM_ERR_DATA_LEN;
	if (EVP_PKEY_decrypt_init(k->ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(k->ctx, mode) <= 0)
		return ossl_fail(TKM_ERR_INTERNAL);
	if (EVP_PKEY_decrypt(k->ctx, out, &n, in, len) <= 0) {
		/* only a PKCS#1 padding check can fail on a valid input */
		tkm_cleanse(out, k->nlen);
		return ossl_fail(
		    pad == TKM_RSA_RAW ? TKM_ERR_INTERNAL : TKM_ERR_VERIFY);
	}
	*outlen = n;
	return TKM_OK;
}

/* --- signatures ----------------------------------------------------------- */

static const char *
md_name(int hash)
{
	switch (hash) {
	case TKM_SHA1:
		return "SHA1";
	case TKM_SHA256:
		return "SHA256";
	case TKM_MD5:
		return "MD5";
	default:
		return NULL; /* SM3 included: see the top of the file */
	}
}

int
tkm_rsa_sign(struct tkm_rsa *k, int hash, const void *msg, size_t len,
    uint8_t *sig, size_t *siglen)
{
	const char *md = md_name(hash);
	EVP_MD_CTX *mctx;
	EVP_PKEY_CTX *pctx = NULL;
	size_t n = k->nlen;
	int ok;

	*siglen = 0;
	if (md == NULL)
		return TKM_ERR_MODE;
	if (!k->has_priv)
		return TKM_ERR_NO_KEY;
	mctx = EVP_MD_CTX_new();
	ok = mctx != NULL &&
	     EVP_DigestSignInit_ex(mctx, &pctx, md, NULL, NULL, k->pkey, NULL) >
		 0 &&
	     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0 &&
	     EVP_DigestSign(mctx, sig, &n, msg, len) > 0;
	EVP_MD_CTX_free(mctx);
	if (!ok)
		return ossl_fail(TKM_ERR_INTERNAL);
	*siglen = n;
	return TKM_OK;
}

int
tkm_rsa_verify(struct tkm_rsa *k, int hash, const void *msg, size_t len,
    const uint8_t *sig, size_t siglen)
{
	const char *md = md_name(hash);
	EVP_MD_CTX *mctx;
	EVP_PKEY_CTX *pctx = NULL;
	int r;

	if (md == NULL)
		return TKM_ERR_MODE;
	/* RFC 8017 §8.2.2 step 1: a signature is exactly k bytes */
	if (siglen != k->nlen)
		return TKM_ERR_VERIFY;
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL ||
	    EVP_DigestVerifyInit_ex(
		mctx, &pctx, md, NULL, NULL, k->pkey, NULL) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
		r = TKM_ERR_INTERNAL;
	else if (EVP_DigestVerify(mctx, sig, siglen, msg, len) != 1)
		r = TKM_ERR_VERIFY;
	else
		r = TKM_OK;
	EVP_MD_CTX_free(mctx);
	return r == TKM_OK ? r : ossl_fail(r);
}
