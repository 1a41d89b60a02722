/*
 * sm2.c - SM2 on the recommended curve over OpenSSL 3 (sm2.h).
 *
 * OpenSSL does the curve arithmetic; this file fixes the conventions that
 * OpenSSL 3.0 leaves open:
 *
 * - Z_A is computed here with the caller's user ID (GB/T 32918.2 §5.5) and
 *   e = SM3(Z_A || M) is handed to EVP_PKEY_sign / EVP_PKEY_verify, whose
 *   SM2 implementation takes its input as e itself. OpenSSL would otherwise
 *   hash with an empty ID unless one is set on every context.
 * - Ciphertexts travel raw as 04 || C1 || C3 || C2 (GB/T 32918.4 §6.1, the
 *   C1C3C2 order of GM/T 0009); OpenSSL speaks the DER SM2Ciphertext of
 *   GM/T 0009 §7.2, converted here with an ASN.1 template.
 * - Signatures travel raw as r || s; DER only at the EVP boundary.
 *
 * The private key lives only inside the EVP_PKEY, which wipes it when
 * freed (BN_clear_free).
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include "tkm/crypto.h"
#include "tkm/mem.h"
#include "tkm/sm2.h"

#define COORD       32              /* bytes of a coordinate or scalar */
#define POINT_LEN   (1 + 2 * COORD) /* 04 || X || Y */
#define SM3_LEN     32              /* e and C3 are SM3 digests */
#define SIG_DER_MAX 72              /* SEQUENCE of two 33-byte INTEGERs */
#define ID_MAX      8191            /* ENTL is 16 bits of bit length */

struct tkm_sm2 {
	EVP_PKEY *pkey;
	EVP_PKEY_CTX *ctx; /* re-initialised by every operation */
	int has_priv;
	uint8_t pub[POINT_LEN];
	/* Z_A of the last user ID (za_id, za_idlen), once za_ok. */
	int za_ok;
	uint8_t za[TKM_SM2_ZA_LEN];
	uint8_t *za_id;
	size_t za_idlen;
};

/*
 * The curve, built once per process: the group (for point checks and
 * d*G) and a || b || xG || yG, the curve part of Z_A. Read-only after
 * curve_init; OpenSSL's EC_POINT functions take the group as const.
 */
static pthread_once_t curve_once = PTHREAD_ONCE_INIT;
static EC_GROUP *curve;
static uint8_t curve_abg[4 * COORD];
static int curve_ok;

static void
curve_init(void)
{
	BIGNUM *p = BN_new(), *a = BN_new(), *b = BN_new();
	BIGNUM *xg = BN_new(), *yg = BN_new();
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);

	if (g == NULL || p == NULL || a == NULL || b == NULL || xg == NULL ||
	    yg == NULL || !EC_GROUP_get_curve(g, p, a, b, NULL) ||
	    !EC_POINT_get_affine_coordinates(
		g, EC_GROUP_get0_generator(g), xg, yg, NULL) ||
	    BN_bn2binpad(a, curve_abg, COORD) != COORD ||
	    BN_bn2binpad(b, curve_abg + COORD, COORD) != COORD ||
	    BN_bn2binpad(xg, curve_abg + 2 * COORD, COORD) != COORD ||
	    BN_bn2binpad(yg, curve_abg + 3 * COORD, COORD) != COORD) {
		EC_GROUP_free(g);
	} else {
		curve = g;
		curve_ok = 1;
	}
	BN_free(p);
	BN_free(a);
	BN_free(b);
	BN_free(xg);
	BN_free(yg);
}

static const EC_GROUP *
sm2_curve(void)
{
	if (pthread_once(&curve_once, curve_init) != 0 || !curve_ok)
		return NULL;
	return curve;
}

/* OpenSSL failures we report as a cause leave nothing on its error queue
 * for an unrelated caller to find later. */
static int
ossl_fail(int err)
{
	ERR_clear_error();
	return err;
}

/* --- keys ---------------------------------------------------------------- */

/* 1 if the uncompressed point is on the curve (GB/T 32918.1 §6.2.1). The
 * cofactor is 1, so a point on the curve is in the group; oct2point also
 * refuses coordinates >= p. */
static int
point_ok(const EC_GROUP *g, const uint8_t pt[POINT_LEN])
{
	EC_POINT *q = EC_POINT_new(g);
	int ok;

	ok = q != NULL && pt[0] == 0x04 &&
	     EC_POINT_oct2point(g, q, pt, POINT_LEN, NULL) == 1;
	EC_POINT_free(q);
	ERR_clear_error();
	return ok;
}

/* The EVP_PKEY of a public point and, if d is not NULL, a private key. */
static int
pkey_build(const uint8_t pub[POINT_LEN], const BIGNUM *d, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int r = TKM_ERR_INTERNAL;

	*out = NULL;
	if (bld == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(
		bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_sm2, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(
		bld, OSSL_PKEY_PARAM_PUB_KEY, pub, POINT_LEN) ||
	    (d != NULL &&
		!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out,
		d != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
		params) <= 0)
		goto out;
	r = TKM_OK;
out:
	/* params holds a copy of d in OpenSSL's secure heap, cleared on free */
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return r == TKM_OK ? r : ossl_fail(r);
}

/* Wrap pkey (owned by the new object on success, freed on failure). */
static int
sm2_wrap(EVP_PKEY *pkey, const uint8_t pub[POINT_LEN], int has_priv,
    struct tkm_sm2 **out)
{
	struct tkm_sm2 *k = calloc(1, sizeof(*k));

	if (k == NULL) {
		EVP_PKEY_free(pkey);
		return TKM_ERR_NOMEM;
	}
	k->pkey = pkey;
	k->has_priv = has_priv;
	memcpy(k->pub, pub, POINT_LEN);
	k->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (k->ctx == NULL) {
		tkm_sm2_free(k);
		return ossl_fail(TKM_ERR_INTERNAL);
	}
	*out = k;
	return TKM_OK;
}

int
tkm_sm2_from_pub(const uint8_t xy[64], struct tkm_sm2 **out)
{
	const EC_GROUP *g = sm2_curve();
	uint8_t pub[POINT_LEN];
	EVP_PKEY *pkey;
	int r;

	*out = NULL;
	if (g == NULL)
		return TKM_ERR_INTERNAL;
	pub[0] = 0x04;
	memcpy(pub + 1, xy, TKM_SM2_PUB_LEN);
	if (!point_ok(g, pub))
		return TKM_ERR_ASYM_KEY;
	r = pkey_build(pub, NULL, &pkey);
	return r != TKM_OK ? r : sm2_wrap(pkey, pub, 0, out);
}

/* GB/T 32918.1 §6.1: d in [1, n-2], so that 1 + d is invertible mod n
 * for signing (GB/T 32918.2 §6.1 A5). */
static int
priv_in_range(const EC_GROUP *g, const BIGNUM *d)
{
	BIGNUM *max = BN_dup(EC_GROUP_get0_order(g)); /* public */
	int ok;

	ok = max != NULL && BN_sub_word(max, 1) && !BN_is_zero(d) &&
	     BN_cmp(d, max) < 0;
	BN_free(max);
	return ok;
}

int
tkm_sm2_from_priv(const uint8_t d[32], struct tkm_sm2 **out)
{
	const EC_GROUP *g = sm2_curve();
	BN_CTX *bnctx = BN_CTX_secure_new();
	BIGNUM *bd = BN_secure_new();
	EC_POINT *q = NULL;
	EVP_PKEY *pkey = NULL;
	uint8_t pub[POINT_LEN];
	int r = TKM_ERR_INTERNAL;

	*out = NULL;
	if (g == NULL || bnctx == NULL || bd == NULL ||
	    BN_bin2bn(d, TKM_SM2_PRIV_LEN, bd) == NULL)
		goto out;
	if (!priv_in_range(g, bd)) {
		r = TKM_ERR_ASYM_KEY;
		goto out;
	}
	/* P = [d]G (GB/T 32918.1 §6.1) */
	q = EC_POINT_new(g);
	if (q == NULL || !EC_POINT_mul(g, q, bd, NULL, NULL, bnctx) ||
	    EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub,
		sizeof(pub), bnctx) != sizeof(pub))
		goto out;
	r = pkey_build(pub, bd, &pkey);
	if (r == TKM_OK)
		r = sm2_wrap(pkey, pub, 1, out);
out:
	EC_POINT_clear_free(q);
	BN_clear_free(bd);
	BN_CTX_free(bnctx);
	return r == TKM_OK || r == TKM_ERR_ASYM_KEY ? r : ossl_fail(r);
}

int
tkm_sm2_generate(struct tkm_sm2 **out)
{
	EVP_PKEY *gen;
	BIGNUM *d = NULL;
	uint8_t db[TKM_SM2_PRIV_LEN];
	int r = TKM_ERR_INTERNAL;

	*out = NULL;
	/* OpenSSL draws d; from_priv then checks it against [1, n-2] like
	 * any imported key, so both paths build the same object. */
	gen = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
	if (gen == NULL ||
	    !EVP_PKEY_get_bn_param(gen, OSSL_PKEY_PARAM_PRIV_KEY, &d) ||
	    BN_bn2binpad(d, db, sizeof(db)) != sizeof(db))
		goto out;
	r = tkm_sm2_from_priv(db, out);
out:
	tkm_cleanse(db, sizeof(db));
	BN_clear_free(d);
	EVP_PKEY_free(gen);
	return r == TKM_OK ? r : ossl_fail(r);
}

void
tkm_sm2_free(struct tkm_sm2 *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_CTX_free(k->ctx);
	EVP_PKEY_free(k->pkey);
	free(k->za_id);
	tkm_cleanse(k, sizeof(*k));
	free(k);
}

int
tkm_sm2_has_priv(const struct tkm_sm2 *k)
{
	return k->has_priv;
}

int
tkm_sm2_pub(const struct tkm_sm2 *k, uint8_t xy[64])
{
	memcpy(xy, k->pub + 1, TKM_SM2_PUB_LEN);
	return TKM_OK;
}

int
tkm_sm2_priv(const struct tkm_sm2 *k, uint8_t d[32])
{
	BIGNUM *bd = NULL;
	int r = TKM_ERR_INTERNAL;

	memset(d, 0, TKM_SM2_PRIV_LEN);
	if (!k->has_priv)
		return TKM_ERR_NO_KEY;
	if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bd) &&
	    BN_bn2binpad(bd, d, TKM_SM2_PRIV_LEN) == TKM_SM2_PRIV_LEN)
		r = TKM_OK;
	BN_clear_free(bd);
	return r == TKM_OK ? r : ossl_fail(r);
}

/* --- Z_A and signatures --------------------------------------------------- */

int
tkm_sm2_za(struct tkm_sm2 *k, const uint8_t *id, size_t idlen, uint8_t za[32])
{
	uint8_t entl[2];
	const void *parts[4];
	size_t lens[4];
	uint8_t *copy = NULL;
	int r;

	memset(za, 0, TKM_SM2_ZA_LEN);
	if (id == NULL) {
		id = (const uint8_t *)TKM_SM2_DEFAULT_ID;
		idlen = TKM_SM2_DEFAULT_ID_LEN;
	}
	if (idlen > ID_MAX)
		return TKM_ERR_DATA_LEN;
	if (k->za_ok && idlen == k->za_idlen &&
	    (idlen == 0 || memcmp(id, k->za_id, idlen) == 0)) {
		memcpy(za, k->za, TKM_SM2_ZA_LEN);
		return TKM_OK;
	}
	if (idlen > 0 && (copy = malloc(idlen)) == NULL)
		return TKM_ERR_NOMEM;
	if (sm2_curve() == NULL) {
		free(copy);
		return TKM_ERR_INTERNAL;
	}
	/* GB/T 32918.2 §5.5: ENTL is the bit length of ID, two bytes BE */
	entl[0] = (uint8_t)(idlen * 8 >> 8);
	entl[1] = (uint8_t)(idlen * 8);
	parts[0] = entl;
	lens[0] = sizeof(entl);
	parts[1] = id;
	lens[1] = idlen;
	parts[2] = curve_abg;
	lens[2] = sizeof(curve_abg);
	parts[3] = k->pub + 1;
	lens[3] = TKM_SM2_PUB_LEN;
	r = tkm_hashv(TKM_SM3, parts, lens, 4, za);
	if (r != TKM_OK) {
		free(copy);
		return r;
	}
	if (idlen > 0)
		memcpy(copy, id, idlen);
	free(k->za_id);
	k->za_id = copy;
	k->za_idlen = idlen;
	memcpy(k->za, za, TKM_SM2_ZA_LEN);
	k->za_ok = 1;
	return TKM_OK;
}

/* e = SM3(Z_A || M), GB/T 32918.2 §6.1 A1-A2. */
static int
msg_digest(struct tkm_sm2 *k, const uint8_t *id, size_t idlen, const void *msg,
    size_t len, uint8_t e[32])
{
	uint8_t za[TKM_SM2_ZA_LEN];
	const void *parts[2] = {za, msg};
	size_t lens[2] = {sizeof(za), len};
	int r;

	r = tkm_sm2_za(k, id, idlen, za);
	return r != TKM_OK ? r : tkm_hashv(TKM_SM3, parts, lens, 2, e);
}

/* 1 if 1 <= v <= n-1 (GB/T 32918.2 §7.1 B1-B2). */
static int
scalar_ok(const BIGNUM *v)
{
	return !BN_is_zero(v) && !BN_is_negative(v) &&
	       BN_cmp(v, EC_GROUP_get0_order(curve)) < 0;
}

/* r || s -> DER; TKM_ERR_INPUT if r or s is out of range. */
static int
sig_encode(const uint8_t sig[64], uint8_t *der, size_t cap, size_t *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(sig, COORD, NULL);
	BIGNUM *bs = BN_bin2bn(sig + COORD, COORD, NULL);
	unsigned char *p = der;
	int n, r = TKM_ERR_INTERNAL;

	*derlen = 0;
	if (es == NULL || br == NULL || bs == NULL || sm2_curve() == NULL)
		goto out;
	if (!scalar_ok(br) || !scalar_ok(bs)) {
		r = TKM_ERR_INPUT;
		goto out;
	}
	if (!ECDSA_SIG_set0(es, br, bs))
		goto out;
	br = bs = NULL; /* owned by es */
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0)
		goto out;
	if ((size_t)n > cap) {
		r = TKM_ERR_SPACE;
		goto out;
	}
	if (i2d_ECDSA_SIG(es, &p) != n)
		goto out;
	*derlen = (size_t)n;
	r = TKM_OK;
out:
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	return r == TKM_OK ? r : ossl_fail(r);
}

int
tkm_sm2_sig_to_der(
    const uint8_t sig[64], uint8_t *der, size_t cap, size_t *derlen)
{
	return sig_encode(sig, der, cap, derlen);
}

int
tkm_sm2_sig_from_der(const uint8_t *der, size_t len, uint8_t sig[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *es = NULL;
	const BIGNUM *br, *bs;
	uint8_t again[SIG_DER_MAX];
	unsigned char *q = again;
	int r = TKM_ERR_INPUT;

	memset(sig, 0, TKM_SM2_SIG_LEN);
	if (der == NULL || len == 0 || len > SIG_DER_MAX)
		return TKM_ERR_INPUT;
	if (sm2_curve() == NULL)
		return TKM_ERR_INTERNAL;
	es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (es == NULL || p != der + len)
		goto out;
	/* d2i accepts some BER; DER is what re-encodes to the same bytes */
	if (i2d_ECDSA_SIG(es, NULL) != (int)len ||
	    i2d_ECDSA_SIG(es, &q) != (int)len || memcmp(again, der, len) != 0)
		goto out;
	ECDSA_SIG_get0(es, &br, &bs);
	if (!scalar_ok(br) || !scalar_ok(bs) ||
	    BN_bn2binpad(br, sig, COORD) != COORD ||
	    BN_bn2binpad(bs, sig + COORD, COORD) != COORD) {
		memset(sig, 0, TKM_SM2_SIG_LEN);
		goto out;
	}
	r = TKM_OK;
out:
	ECDSA_SIG_free(es);
	return r == TKM_OK ? r : ossl_fail(r);
}

int
tkm_sm2_sign_digest(struct tkm_sm2 *k, const uint8_t e[32], uint8_t sig[64])
{
	uint8_t der[SIG_DER_MAX];
	size_t derlen = sizeof(der);

	memset(sig, 0, TKM_SM2_SIG_LEN);
	if (!k->has_priv)
		return TKM_ERR_NO_KEY;
	/* OpenSSL's SM2 signature takes the tbs as e (GB/T 32918.2 §6.1
	 * A3-A7); k is drawn from OpenSSL's DRBG. */
	if (EVP_PKEY_sign_init(k->ctx) <= 0 ||
	    EVP_PKEY_sign(k->ctx, der, &derlen, e, SM3_LEN) <= 0)
		return ossl_fail(TKM_ERR_INTERNAL);
	return tkm_sm2_sig_from_der(der, derlen, sig) == TKM_OK
		   ? TKM_OK
		   : TKM_ERR_INTERNAL;
}

int
tkm_sm2_verify_digest(
    struct tkm_sm2 *k, const uint8_t e[32], const uint8_t sig[64])
{
	uint8_t der[SIG_DER_MAX];
	size_t derlen;
	int r;

	r = sig_encode(sig, der, sizeof(der), &derlen);
	if (r == TKM_ERR_INPUT)
		return TKM_ERR_VERIFY; /* r or s outside [1, n-1] */
	if (r != TKM_OK)
		return r;
	if (EVP_PKEY_verify_init(k->ctx) <= 0)
		return ossl_fail(TKM_ERR_INTERNAL);
	if (EVP_PKEY_verify(k->ctx, der, derlen, e, SM3_LEN) != 1)
		return ossl_fail(TKM_ERR_VERIFY);
	return TKM_OK;
}

int
tkm_sm2_sign(struct tkm_sm2 *k, const uint8_t *id, size_t idlen,
    const void *msg, size_t len, uint8_t sig[64])
{
	uint8_t e[32];
	int r;

	memset(sig, 0, TKM_SM2_SIG_LEN);
	if (!k->has_priv)
		return TKM_ERR_NO_KEY;
	r = msg_digest(k, id, idlen, msg, len, e);
	return r != TKM_OK ? r : tkm_sm2_sign_digest(k, e, sig);
}

int
tkm_sm2_verify(struct tkm_sm2 *k, const uint8_t *id, size_t idlen,
    const void *msg, size_t len, const uint8_t sig[64])
{
	uint8_t e[32];
	int r;

	r = msg_digest(k, id, idlen, msg, len, e);
	return r != TKM_OK ? r : tkm_sm2_verify_digest(k, e, sig);
}

/* --- encryption ----------------------------------------------------------- */

/*
 * SM2Ciphertext, GM/T 0009-2012 §7.2, as OpenSSL reads and writes it:
 *   SEQUENCE { XCoordinate INTEGER, YCoordinate INTEGER,
 *              HASH OCTET STRING (32), CipherText OCTET STRING }
 */
typedef struct {
	BIGNUM *x;
	BIGNUM *y;
	ASN1_OCTET_STRING *c3;
	ASN1_OCTET_STRING *c2;
} SM2_CT;

/* The ASN.1 template is at the end of the file: clang-format cannot lay
 * out what follows its macros. These are the functions it defines. */
static SM2_CT *SM2_CT_new(void);
static void SM2_CT_free(SM2_CT *ct);
static SM2_CT *d2i_SM2_CT(SM2_CT **ct, const unsigned char **in, long len);
static int i2d_SM2_CT(const SM2_CT *ct, unsigned char **out);

/*
 * Raw ciphertext layout (GB/T 32918.4 §6.1 C1 || C3 || C2):
 *   OFFSET SIZE  FIELD
 *   0      1     04 (uncompressed C1)
 *   1      32    C1.x
 *   33     32    C1.y
 *   65     32    C3 = SM3(x2 || M || y2)
 *   97     n     C2 = M xor KDF(x2 || y2, n)
 */
#define OFF_C3 POINT_LEN
#define OFF_C2 (POINT_LEN + SM3_LEN)

/* The largest message: ASN.1 lengths are ints in OpenSSL. */
#define MSG_MAX ((size_t)INT_MAX - 256)

/* DER from OpenSSL -> raw; the message was mlen bytes. */
static int
ct_from_der(const uint8_t *der, size_t derlen, size_t mlen, uint8_t *out)
{
	const unsigned char *p = der;
	SM2_CT *ct = d2i_SM2_CT(NULL, &p, (long)derlen);
	int ok;

	ok = ct != NULL && p == der + derlen && ct->c3->length == SM3_LEN &&
	     (size_t)ct->c2->length == mlen &&
	     BN_bn2binpad(ct->x, out + 1, COORD) == COORD &&
	     BN_bn2binpad(ct->y, out + 1 + COORD, COORD) == COORD;
	if (ok) {
		out[0] = 0x04;
		memcpy(out + OFF_C3, ct->c3->data, SM3_LEN);
		memcpy(out + OFF_C2, ct->c2->data, mlen);
	}
	SM2_CT_free(ct);
	return ok ? TKM_OK : ossl_fail(TKM_ERR_INTERNAL);
}

/* Raw -> DER for OpenSSL; *der is OPENSSL_malloc'd. */
static int
ct_to_der(const uint8_t *in, size_t len, unsigned char **der, int *derlen)
{
	SM2_CT *ct = SM2_CT_new();
	int ok;

	*der = NULL;
	ok = ct != NULL && BN_bin2bn(in + 1, COORD, ct->x) != NULL &&
	     BN_bin2bn(in + 1 + COORD, COORD, ct->y) != NULL &&
	     ASN1_OCTET_STRING_set(ct->c3, in + OFF_C3, SM3_LEN) &&
	     ASN1_OCTET_STRING_set(ct->c2, in + OFF_C2, (int)(len - OFF_C2)) &&
	     (*derlen = i2d_SM2_CT(ct, der)) > 0;
	SM2_CT_free(ct);
	return ok ? TKM_OK : ossl_fail(TKM_ERR_INTERNAL);
}

int
tkm_sm2_encrypt(struct tkm_sm2 *k, const void *msg, size_t len, uint8_t *out,
    size_t *outlen)
{
	uint8_t *der = NULL;
	size_t derlen = 0;
	int r = TKM_ERR_INTERNAL;

	*outlen = 0;
	/* An empty message has an empty KDF output t, which GB/T 32918.4
	 * §6.1 A5 rejects as all-zero. */
	if (len == 0 || len > MSG_MAX)
		return TKM_ERR_DATA_LEN;
	if (EVP_PKEY_encrypt_init(k->ctx) <= 0 ||
	    EVP_PKEY_encrypt(k->ctx, NULL, &derlen, msg, len) <= 0 ||
	    (der = malloc(derlen)) == NULL ||
	    EVP_PKEY_encrypt(k->ctx, der, &derlen, msg, len) <= 0)
		goto out;
	r = ct_from_der(der, derlen, len, out);
	if (r == TKM_OK)
		*outlen = len + TKM_SM2_ENC_OVERHEAD;
out:
	free(der);
	return r == TKM_OK ? r : ossl_fail(r);
}

/* Decrypt a ciphertext of a valid length; out holds len - 97 bytes. */
static int
decrypt_ct(struct tkm_sm2 *k, const uint8_t *in, size_t len, uint8_t *out)
{
	unsigned char *der = NULL;
	int derlen = 0, r;
	size_t mlen = len - OFF_C2;

	if (sm2_curve() == NULL)
		return TKM_ERR_INTERNAL;
	/* GB/T 32918.4 §7.1 B1: C1 must be a point of the curve */
	if (!point_ok(curve, in))
		return TKM_ERR_VERIFY;
	r = ct_to_der(in, len, &der, &derlen);
	if (r != TKM_OK)
		return r;
	/* OpenSSL checks C3 (B6) in constant time and fails otherwise */
	if (EVP_PKEY_decrypt_init(k->ctx) <= 0 ||
	    EVP_PKEY_decrypt(k->ctx, out, &mlen, der, (size_t)derlen) <= 0 ||
	    mlen != len - OFF_C2)
		r = ossl_fail(TKM_ERR_VERIFY);
	OPENSSL_free(der);
	return r;
}

int
tkm_sm2_decrypt(struct tkm_sm2 *k, const uint8_t *in, size_t len, uint8_t *out,
    size_t *outlen)
{
	int r;

	*outlen = 0;
	if (!k->has_priv)
		return TKM_ERR_NO_KEY;
	if (len <= TKM_SM2_ENC_OVERHEAD || len - OFF_C2 > MSG_MAX)
		return TKM_ERR_DATA_LEN;
	r = decrypt_ct(k, in, len, out);
	if (r != TKM_OK) {
		/* OpenSSL leaves M' in out when C3 does not match */
		tkm_cleanse(out, len - OFF_C2);
		return r;
	}
	*outlen = len - OFF_C2;
	return TKM_OK;
}

/* SM2Ciphertext (see SM2_CT above); unformatted to the end of file. */
/* clang-format off */
ASN1_SEQUENCE(SM2_CT) = {
	ASN1_SIMPLE(SM2_CT, x, BIGNUM),
	ASN1_SIMPLE(SM2_CT, y, BIGNUM),
	ASN1_SIMPLE(SM2_CT, c3, ASN1_OCTET_STRING),
	ASN1_SIMPLE(SM2_CT, c2, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(SM2_CT)
IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(SM2_CT)
IMPLEMENT_STATIC_ASN1_ENCODE_FUNCTIONS(SM2_CT)
