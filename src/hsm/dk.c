/*
 * dk.c - the device key DK and the keys derived from it (docs/keystore.md).
 *
 * Everything is derived once, in hsm_dk_new(), with SP 800-108
 * KBKDF-HMAC-SM3 keyed by DK:
 *   K_enc  16 bytes  label "tkms wrap enc"  context empty
 *   K_mac  32 bytes  label "tkms wrap mac"  context empty
 *   W_des  16 bytes  label "tkms lmk des"   context = type code (3 A)
 *   W_sm4  16 bytes  label "tkms lmk sm4"   context = type code (3 A)
 * so that struct hsm_dk is read-only afterwards and threads share it
 * without locks. DK itself is kept (locked memory) for its KCV and for
 * hsm_dk_derive(), which gives other modules their own keys (the audit
 * log's MAC key) without seeing DK.
 */
#include <string.h>

#include "dk.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define WRAP_VERSION 1
#define IV_LEN       16
#define TAG_LEN      32
#define CTX_LEN      7 /* lib(1) || index(2, big-endian) || type(3) || alg(1) */
#define WIRE_LEN     16

_Static_assert(HSM_WRAP_OVERHEAD == 1 + IV_LEN + TAG_LEN, "wrap layout");

/* Key type codes of protocol.md §2, each with its own wire keys. */
static const char *const dk_types[] = {
    "000", "001", "002", "003", "008", "00A", "109", "209", "309", "509"};
#define NTYPES (sizeof(dk_types) / sizeof(dk_types[0]))

struct hsm_dk {
	uint8_t dk[HSM_DK_LEN];
	uint8_t kcv[8];
	uint8_t enc[16];
	uint8_t mac[TAG_LEN];
	uint8_t wire[2][NTYPES][WIRE_LEN]; /* [0] DES, [1] SM4 */
};

static int
type_index(const char *type, size_t *i)
{
	for (*i = 0; *i < NTYPES; (*i)++)
		if (strcmp(type, dk_types[*i]) == 0)
			return TKM_OK;
	return TKM_ERR_KEY_TYPE;
}

int
hsm_dk_type_check(const char *type)
{
	size_t i;

	if (type == NULL)
		return TKM_ERR_KEY_TYPE;
	return type_index(type, &i);
}

static int
kdf(const uint8_t dk[HSM_DK_LEN], const char *label, const char *ctx,
    uint8_t *out, size_t len)
{
	return tkm_kdf(TKM_SM3, dk, HSM_DK_LEN, label, strlen(label), ctx,
	    ctx != NULL ? strlen(ctx) : 0, out, len);
}

static int
derive_all(struct hsm_dk *d, const uint8_t dk[HSM_DK_LEN])
{
	size_t i;
	int rc;

	if ((rc = tkm_kcv(TKM_SM4, dk, HSM_DK_LEN, d->kcv)) != TKM_OK ||
	    (rc = kdf(dk, "tkms wrap enc", NULL, d->enc, sizeof(d->enc))) !=
		TKM_OK ||
	    (rc = kdf(dk, "tkms wrap mac", NULL, d->mac, sizeof(d->mac))) !=
		TKM_OK)
		return rc;
	for (i = 0; i < NTYPES; i++) {
		if ((rc = kdf(dk, "tkms lmk des", dk_types[i], d->wire[0][i],
			 WIRE_LEN)) != TKM_OK ||
		    (rc = kdf(dk, "tkms lmk sm4", dk_types[i], d->wire[1][i],
			 WIRE_LEN)) != TKM_OK)
			return rc;
		/* Not needed by OpenSSL, but a DES key should look like one. */
		tkm_des_parity_set(d->wire[0][i], WIRE_LEN);
	}
	return TKM_OK;
}

int
hsm_dk_new(const uint8_t c[HSM_DK_PARTS][HSM_DK_LEN], struct hsm_dk **out)
{
	struct hsm_dk *d;
	uint8_t *dk = NULL;
	size_t i, j;
	int rc;

	*out = NULL;
	d = tkm_secure_alloc(sizeof(*d));
	dk = tkm_secure_alloc(HSM_DK_LEN);
	if (d == NULL || dk == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < HSM_DK_PARTS; i++)
		for (j = 0; j < HSM_DK_LEN; j++)
			dk[j] ^= c[i][j];
	if ((rc = derive_all(d, dk)) != TKM_OK)
		goto out;
	memcpy(d->dk, dk, HSM_DK_LEN);
	*out = d;
	d = NULL;
out:
	tkm_secure_free(dk, HSM_DK_LEN);
	tkm_secure_free(d, sizeof(*d));
	return rc;
}

void
hsm_dk_free(struct hsm_dk *dk)
{
	tkm_secure_free(dk, sizeof(*dk));
}

int
hsm_dk_derive(
    const struct hsm_dk *dk, const char *label, uint8_t *out, size_t len)
{
	/* The labels of the keys above are this file's own: a caller of
	 * hsm_dk_derive must never obtain the wrap or wire keys. */
	if (label == NULL || strncmp(label, "tkms wrap", 9) == 0 ||
	    strncmp(label, "tkms lmk", 8) == 0)
		return TKM_ERR_INPUT;
	return kdf(dk->dk, label, NULL, out, len);
}

void
hsm_dk_kcv(const struct hsm_dk *dk, uint8_t kcv[8])
{
	memcpy(kcv, dk->kcv, 8);
}

/*
 * The tag input:
 *   OFFSET SIZE FIELD
 *   0      1    version
 *   1      1    lib
 *   2      2    index, big-endian
 *   4      3    type code
 *   7      1    alg
 *   8      16   IV
 *   24     n    ciphertext
 */
static int
tag(const struct hsm_dk *dk, const struct hsm_wrap_ctx *c, uint8_t version,
    const uint8_t *iv, const uint8_t *ct, size_t n, uint8_t out[TAG_LEN])
{
	uint8_t hdr[1 + CTX_LEN + IV_LEN];
	uint8_t m[sizeof(hdr) + HSM_MAX_SECRET];

	if (strlen(c->type) != HSM_TYPE_LEN || n > HSM_MAX_SECRET)
		return TKM_ERR_INPUT;
	hdr[0] = version;
	hdr[1] = c->lib;
	hdr[2] = (uint8_t)(c->index >> 8);
	hdr[3] = (uint8_t)c->index;
	memcpy(hdr + 4, c->type, HSM_TYPE_LEN);
	hdr[7] = c->alg;
	memcpy(hdr + 8, iv, IV_LEN);
	memcpy(m, hdr, sizeof(hdr));
	memcpy(m + sizeof(hdr), ct, n);
	return tkm_hmac(
	    TKM_SM3, dk->mac, sizeof(dk->mac), m, sizeof(hdr) + n, out);
}

int
hsm_dk_wrap(const struct hsm_dk *dk, const struct hsm_wrap_ctx *c,
    const uint8_t *secret, size_t len, uint8_t *out, size_t *outlen)
{
	uint8_t *iv = out + 1, *ct = out + 1 + IV_LEN;
	int rc;

	*outlen = 0;
	if (len == 0 || len > HSM_MAX_SECRET)
		return TKM_ERR_DATA_LEN;
	out[0] = WRAP_VERSION;
	if ((rc = tkm_random(iv, IV_LEN)) != TKM_OK ||
	    (rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_ENCRYPT, dk->enc,
		 sizeof(dk->enc), iv, secret, len, ct)) != TKM_OK ||
	    (rc = tag(dk, c, WRAP_VERSION, iv, ct, len, ct + len)) != TKM_OK) {
		tkm_cleanse(out, len + HSM_WRAP_OVERHEAD);
		return rc;
	}
	*outlen = len + HSM_WRAP_OVERHEAD;
	return TKM_OK;
}

int
hsm_dk_unwrap(const struct hsm_dk *dk, const struct hsm_wrap_ctx *c,
    const uint8_t *blob, size_t len, uint8_t *out, size_t *outlen)
{
	const uint8_t *iv = blob + 1, *ct = blob + 1 + IV_LEN;
	uint8_t want[TAG_LEN];
	size_t n;
	int rc;

	*outlen = 0;
	/* A blob that cannot hold a secret cannot be authentic either. */
	if (len <= HSM_WRAP_OVERHEAD ||
	    len > HSM_MAX_SECRET + HSM_WRAP_OVERHEAD)
		return TKM_ERR_VERIFY;
	n = len - HSM_WRAP_OVERHEAD;
	if ((rc = tag(dk, c, blob[0], iv, ct, n, want)) != TKM_OK)
		return rc;
	if (!tkm_ct_eq(want, ct + n, TAG_LEN) || blob[0] != WRAP_VERSION)
		return TKM_ERR_VERIFY;
	if ((rc = tkm_cipher(TKM_SM4, TKM_CTR, TKM_DECRYPT, dk->enc,
		 sizeof(dk->enc), iv, ct, n, out)) != TKM_OK) {
		tkm_cleanse(out, n);
		return rc;
	}
	*outlen = n;
	return TKM_OK;
}

/* The wire key for (alg, type) and the key lengths alg takes on the wire. */
static int
wire_key(const struct hsm_dk *dk, int alg, const char *type, size_t len,
    const uint8_t **key)
{
	size_t i;
	int rc;

	*key = NULL;
	if (alg != TKM_DES && alg != TKM_SM4)
		return TKM_ERR_MODE;
	if (type == NULL || (rc = type_index(type, &i)) != TKM_OK)
		return TKM_ERR_KEY_TYPE;
	if (alg == TKM_DES ? len != 8 && len != 16 && len != 24 : len != 16)
		return TKM_ERR_KEY_LEN;
	*key = dk->wire[alg == TKM_DES ? 0 : 1][i];
	return TKM_OK;
}

int
hsm_dk_lmk_encrypt(const struct hsm_dk *dk, int alg, const char *type,
    const uint8_t *key, size_t len, uint8_t *out)
{
	const uint8_t *w;
	int rc;

	if ((rc = wire_key(dk, alg, type, len, &w)) != TKM_OK)
		return rc;
	return tkm_cipher(
	    alg, TKM_ECB, TKM_ENCRYPT, w, WIRE_LEN, NULL, key, len, out);
}

int
hsm_dk_lmk_decrypt(const struct hsm_dk *dk, int alg, const char *type,
    const uint8_t *in, size_t len, uint8_t *key)
{
	const uint8_t *w;
	int rc;

	if ((rc = wire_key(dk, alg, type, len, &w)) != TKM_OK)
		return rc;
	rc = tkm_cipher(
	    alg, TKM_ECB, TKM_DECRYPT, w, WIRE_LEN, NULL, in, len, key);
	if (rc == TKM_OK && alg == TKM_DES && !tkm_des_parity_ok(key, len))
		rc = TKM_ERR_PARITY;
	if (rc != TKM_OK)
		tkm_cleanse(key, len);
	return rc;
}
