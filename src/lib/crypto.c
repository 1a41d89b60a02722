/*
 * crypto.c - block ciphers, digests, HMAC, random, DES parity, KCV and key
 * components over OpenSSL 3 EVP (DESIGN §3.2).
 *
 * The HSM runs a cipher call per MAC block and several per transaction, so
 * the costs of OpenSSL 3 that do not depend on the data are paid once:
 * algorithm implementations are fetched once per process (pthread_once),
 * and every thread keeps one EVP context per (algorithm, mode), digest and
 * HMAC digest, created on first use and re-keyed with EVP_CipherInit_ex2.
 * Nothing is allocated on the cipher path after the first call of a thread.
 * The contexts are freed by a pthread key destructor when the thread ends.
 *
 * A thread's contexts keep the key schedule of the last key they used until
 * the next call re-keys them; they live in OpenSSL's heap, like every EVP
 * key schedule.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "tkm/crypto.h"
#include "tkm/mem.h"

#define DES_BLOCK 8
#define SM4_BLOCK 16
#define DES3_KEY  24

/* The GM hash ids of protocol.md and their OpenSSL names. */
static const struct hash_def {
	int id;
	const char *name;
	size_t len;
} hash_tab[] = {
    {TKM_SHA1, "SHA1", 20},
    {TKM_MD5, "MD5", 16},
    {TKM_SHA256, "SHA256", 32},
    {TKM_SM3, "SM3", 32},
};
#define N_HASH (sizeof(hash_tab) / sizeof(hash_tab[0]))

/* OpenSSL names, indexed [alg - 1][mode]. Single and double-length DES keys
 * are expanded to three-key form (DESIGN §3.2: the legacy provider with
 * plain DES is not loaded). */
static const char *const cipher_name[2][3] = {
    {"DES-EDE3-ECB", "DES-EDE3-CBC", NULL},
    {"SM4-ECB", "SM4-CBC", "SM4-CTR"},
};

/* Process-wide, written once under pthread_once. */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static int fetch_ok;
static EVP_CIPHER *ciphers[2][3];
static EVP_MD *mds[N_HASH];
static EVP_MAC *hmac_impl;

/* Per thread, created lazily. */
struct tls {
	EVP_CIPHER_CTX *cctx[2][3];
	EVP_MD_CTX *mdctx[N_HASH];
	EVP_MAC_CTX *macctx[N_HASH];
};
static __thread struct tls *tls;

static void
tls_free(void *p)
{
	struct tls *t = p;
	size_t i, j;

	if (t == NULL)
		return;
	for (i = 0; i < 2; i++)
		for (j = 0; j < 3; j++)
			EVP_CIPHER_CTX_free(t->cctx[i][j]);
	for (i = 0; i < N_HASH; i++) {
		EVP_MD_CTX_free(t->mdctx[i]);
		EVP_MAC_CTX_free(t->macctx[i]);
	}
	free(t);
	tls = NULL;
}

static void
fetch_all(void)
{
	size_t i, j;

	if (pthread_key_create(&tls_key, tls_free) != 0)
		return;
	for (i = 0; i < 2; i++)
		for (j = 0; j < 3; j++)
			if (cipher_name[i][j] != NULL &&
			    (ciphers[i][j] = EVP_CIPHER_fetch(
				 NULL, cipher_name[i][j], NULL)) == NULL)
				return;
	for (i = 0; i < N_HASH; i++)
		if ((mds[i] = EVP_MD_fetch(NULL, hash_tab[i].name, NULL)) ==
		    NULL)
			return;
	if ((hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return;
	fetch_ok = 1;
}

static struct tls *
get_tls(void)
{
	struct tls *t;

	if (tls != NULL)
		return tls;
	if (pthread_once(&fetch_once, fetch_all) != 0 || !fetch_ok)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (pthread_setspecific(tls_key, t) != 0) {
		free(t);
		return NULL;
	}
	tls = t;
	return t;
}

/* The thread's context for (alg, mode), padding off. */
static EVP_CIPHER_CTX *
cipher_ctx(int alg, int mode)
{
	struct tls *t = get_tls();
	EVP_CIPHER_CTX *c;

	if (t == NULL)
		return NULL;
	if (t->cctx[alg - 1][mode] != NULL)
		return t->cctx[alg - 1][mode];
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return NULL;
	if (!EVP_CipherInit_ex2(
		c, ciphers[alg - 1][mode], NULL, NULL, 1, NULL) ||
	    !EVP_CIPHER_CTX_set_padding(c, 0)) {
		EVP_CIPHER_CTX_free(c);
		return NULL;
	}
	t->cctx[alg - 1][mode] = c;
	return c;
}

static int
hash_index(int hash)
{
	size_t i;

	for (i = 0; i < N_HASH; i++)
		if (hash_tab[i].id == hash)
			return (int)i;
	return -1;
}

static EVP_MD_CTX *
md_ctx(int i)
{
	struct tls *t = get_tls();

	if (t == NULL)
		return NULL;
	if (t->mdctx[i] == NULL)
		t->mdctx[i] = EVP_MD_CTX_new();
	return t->mdctx[i];
}

/* The thread's HMAC context for digest i; the digest is set once. */
static EVP_MAC_CTX *
mac_ctx(int i)
{
	struct tls *t = get_tls();
	OSSL_PARAM params[2];
	EVP_MAC_CTX *c;

	if (t == NULL)
		return NULL;
	if (t->macctx[i] != NULL)
		return t->macctx[i];
	if ((c = EVP_MAC_CTX_new(hmac_impl)) == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(
	    "digest", (char *)hash_tab[i].name, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(c, params)) {
		EVP_MAC_CTX_free(c);
		return NULL;
	}
	t->macctx[i] = c;
	return c;
}

size_t
tkm_block_len(int alg)
{
	switch (alg) {
	case TKM_DES:
		return DES_BLOCK;
	case TKM_SM4:
		return SM4_BLOCK;
	default:
		return 0;
	}
}

int
tkm_key_len_ok(int alg, size_t klen)
{
	if (alg == TKM_DES && (klen == 8 || klen == 16 || klen == 24))
		return TKM_OK;
	if (alg == TKM_SM4 && klen == 16)
		return TKM_OK;
	return TKM_ERR_KEY_LEN;
}

/* K -> K|K|K and K1|K2 -> K1|K2|K1 (ANSI X9.52 keying options 3 and 2). */
static void
des_expand(const uint8_t *key, size_t klen, uint8_t k3[DES3_KEY])
{
	if (klen == 8) {
		memcpy(k3, key, 8);
		memcpy(k3 + 8, key, 8);
		memcpy(k3 + 16, key, 8);
	} else if (klen == 16) {
		memcpy(k3, key, 16);
		memcpy(k3 + 16, key, 8);
	} else {
		memcpy(k3, key, DES3_KEY);
	}
}

int
tkm_cipher(int alg, int mode, int dir, const uint8_t *key, size_t klen,
    const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out)
{
	static const uint8_t zero_iv[TKM_MAX_BLOCK];
	uint8_t k3[DES3_KEY];
	const uint8_t *k = key;
	size_t bs = tkm_block_len(alg);
	EVP_CIPHER_CTX *c;
	int outl = 0, rc;

	if (bs == 0 || mode < TKM_ECB || mode > TKM_CTR ||
	    cipher_name[alg - 1][mode] == NULL ||
	    (dir != TKM_ENCRYPT && dir != TKM_DECRYPT))
		return TKM_ERR_MODE;
	if ((rc = tkm_key_len_ok(alg, klen)) != TKM_OK)
		return rc;
	if ((mode != TKM_CTR && len % bs != 0) || len > INT_MAX)
		return TKM_ERR_DATA_LEN;
	if (key == NULL || (len > 0 && (in == NULL || out == NULL)))
		return TKM_ERR_INPUT;
	if (len == 0)
		return TKM_OK;
	if (iv == NULL)
		iv = zero_iv;
	if (alg == TKM_DES) {
		des_expand(key, klen, k3);
		k = k3;
	}
	if ((c = cipher_ctx(alg, mode)) == NULL) {
		rc = TKM_ERR_INTERNAL;
		goto out;
	}
	if (!EVP_CipherInit_ex2(
		c, NULL, k, mode != TKM_ECB ? iv : NULL, dir, NULL) ||
	    !EVP_CipherUpdate(c, out, &outl, in, (int)len) ||
	    (size_t)outl != len) {
		tkm_cleanse(out, len);
		rc = TKM_ERR_INTERNAL;
		goto out;
	}
	rc = TKM_OK;
out:
	tkm_cleanse(k3, sizeof(k3));
	return rc;
}

int
tkm_encrypt_block(
    int alg, const uint8_t *key, size_t klen, const uint8_t *in, uint8_t *out)
{
	return tkm_cipher(alg, TKM_ECB, TKM_ENCRYPT, key, klen, NULL, in,
	    tkm_block_len(alg), out);
}

int
tkm_decrypt_block(
    int alg, const uint8_t *key, size_t klen, const uint8_t *in, uint8_t *out)
{
	return tkm_cipher(alg, TKM_ECB, TKM_DECRYPT, key, klen, NULL, in,
	    tkm_block_len(alg), out);
}

size_t
tkm_hash_len(int hash)
{
	int i = hash_index(hash);

	return i < 0 ? 0 : hash_tab[i].len;
}

int
tkm_hash(int hash, const void *in, size_t len, uint8_t *out)
{
	const void *parts[1] = {in};
	size_t lens[1] = {len};

	return tkm_hashv(hash, parts, lens, 1, out);
}

int
tkm_hashv(int hash, const void *const *parts, const size_t *lens, size_t n,
    uint8_t *out)
{
	int i = hash_index(hash);
	unsigned int outl = 0;
	EVP_MD_CTX *c;
	size_t k;

	if (i < 0)
		return TKM_ERR_MODE;
	if (out == NULL || (n > 0 && (parts == NULL || lens == NULL)))
		return TKM_ERR_INPUT;
	memset(out, 0, hash_tab[i].len);
	for (k = 0; k < n; k++)
		if (lens[k] > 0 && parts[k] == NULL)
			return TKM_ERR_INPUT;
	if ((c = md_ctx(i)) == NULL || !EVP_DigestInit_ex2(c, mds[i], NULL))
		return TKM_ERR_INTERNAL;
	for (k = 0; k < n; k++)
		if (lens[k] > 0 && !EVP_DigestUpdate(c, parts[k], lens[k]))
			return TKM_ERR_INTERNAL;
	if (!EVP_DigestFinal_ex(c, out, &outl) || outl != hash_tab[i].len) {
		memset(out, 0, hash_tab[i].len);
		return TKM_ERR_INTERNAL;
	}
	return TKM_OK;
}

int
tkm_hmac(int hash, const uint8_t *key, size_t klen, const void *in, size_t len,
    uint8_t *out)
{
	/* EVP_MAC_init() takes a NULL key as "keep the previous key", so
	 * an empty key must still be a real pointer. */
	static const uint8_t empty[1];
	int i = hash_index(hash);
	size_t outl = 0;
	EVP_MAC_CTX *c;

	if (i < 0)
		return TKM_ERR_MODE;
	if (out == NULL || (klen > 0 && key == NULL) || (len > 0 && in == NULL))
		return TKM_ERR_INPUT;
	memset(out, 0, hash_tab[i].len);
	if (klen == 0)
		key = empty;
	if ((c = mac_ctx(i)) == NULL || !EVP_MAC_init(c, key, klen, NULL) ||
	    (len > 0 && !EVP_MAC_update(c, in, len)) ||
	    !EVP_MAC_final(c, out, &outl, hash_tab[i].len) ||
	    outl != hash_tab[i].len) {
		memset(out, 0, hash_tab[i].len);
		return TKM_ERR_INTERNAL;
	}
	return TKM_OK;
}

int
tkm_kdf(int hash, const uint8_t *key, size_t klen, const void *label,
    size_t labellen, const void *context, size_t ctxlen, uint8_t *out,
    size_t outlen)
{
	int i = hash_index(hash);
	OSSL_PARAM p[7], *q = p;
	EVP_KDF_CTX *c = NULL;
	EVP_KDF *kdf;
	int rc = TKM_ERR_INTERNAL;

	if (i < 0)
		return TKM_ERR_MODE;
	if (key == NULL || klen == 0 || out == NULL ||
	    (labellen > 0 && label == NULL) || (ctxlen > 0 && context == NULL))
		return TKM_ERR_INPUT;
	if (outlen == 0 || outlen > 64)
		return TKM_ERR_DATA_LEN;
	/* Not on a hot path (unseal, set-up): fetched per call. */
	if ((kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL)) == NULL ||
	    (c = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	*q++ = OSSL_PARAM_construct_utf8_string("mode", "counter", 0);
	*q++ = OSSL_PARAM_construct_utf8_string("mac", "HMAC", 0);
	*q++ = OSSL_PARAM_construct_utf8_string(
	    "digest", (char *)hash_tab[i].name, 0);
	*q++ = OSSL_PARAM_construct_octet_string("key", (void *)key, klen);
	*q++ = OSSL_PARAM_construct_octet_string(
	    "salt", (void *)(label != NULL ? label : ""), labellen);
	*q++ = OSSL_PARAM_construct_octet_string(
	    "info", (void *)(context != NULL ? context : ""), ctxlen);
	*q = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(c, out, outlen, p) == 1)
		rc = TKM_OK;
	else
		tkm_cleanse(out, outlen);
out:
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(kdf);
	return rc;
}

int
tkm_random(void *out, size_t len)
{
	uint8_t *p = out;
	size_t n;

	if (len > 0 && out == NULL)
		return TKM_ERR_INPUT;
	while (len > 0) {
		n = len < INT_MAX ? len : INT_MAX;
		if (RAND_priv_bytes(p, (int)n) != 1)
			return TKM_ERR_INTERNAL;
		p += n;
		len -= n;
	}
	return TKM_OK;
}

/* The least significant bit of each byte makes its number of ones odd
 * (FIPS 46-3 §3: bits 8, 16, ... are parity bits). */
void
tkm_des_parity_set(uint8_t *key, size_t klen)
{
	size_t i;

	for (i = 0; i < klen; i++)
		key[i] = (uint8_t)((key[i] & 0xFE) |
				   !__builtin_parity(key[i] & 0xFE));
}

int
tkm_des_parity_ok(const uint8_t *key, size_t klen)
{
	size_t i;

	for (i = 0; i < klen; i++)
		if (!__builtin_parity(key[i]))
			return 0;
	return 1;
}

int
tkm_kcv(int alg, const uint8_t *key, size_t klen, uint8_t out[TKM_KCV_LEN])
{
	static const uint8_t zero[TKM_MAX_BLOCK];
	uint8_t e[TKM_MAX_BLOCK];
	int rc;

	if (out == NULL)
		return TKM_ERR_INPUT;
	memset(out, 0, TKM_KCV_LEN);
	if (tkm_block_len(alg) == 0)
		return TKM_ERR_MODE;
	rc = tkm_encrypt_block(alg, key, klen, zero, e);
	if (rc == TKM_OK)
		memcpy(out, e, TKM_KCV_LEN);
	tkm_cleanse(e, sizeof(e));
	return rc;
}

int
tkm_component_random(int alg, size_t klen, uint8_t *out)
{
	int rc;

	if (tkm_block_len(alg) == 0)
		return TKM_ERR_MODE;
	if ((rc = tkm_key_len_ok(alg, klen)) != TKM_OK)
		return rc;
	if (out == NULL)
		return TKM_ERR_INPUT;
	if ((rc = tkm_random(out, klen)) != TKM_OK) {
		tkm_cleanse(out, klen);
		return rc;
	}
	if (alg == TKM_DES)
		tkm_des_parity_set(out, klen);
	return TKM_OK;
}

int
tkm_components_combine(
    int alg, size_t klen, const uint8_t *const *parts, size_t n, uint8_t *out)
{
	uint8_t acc[TKM_MAX_KEY] = {0};
	size_t i, j;
	int rc;

	if (tkm_block_len(alg) == 0)
		return TKM_ERR_MODE;
	if ((rc = tkm_key_len_ok(alg, klen)) != TKM_OK)
		return rc;
	if (out == NULL || parts == NULL)
		return TKM_ERR_INPUT;
	if (n < TKM_MIN_PARTS || n > TKM_MAX_PARTS)
		return TKM_ERR_INPUT;
	for (i = 0; i < n; i++)
		if (parts[i] == NULL)
			return TKM_ERR_INPUT;
	/* Accumulate apart from out, which may be one of the parts. */
	for (i = 0; i < n; i++)
		for (j = 0; j < klen; j++)
			acc[j] ^= parts[i][j];
	if (alg == TKM_DES)
		tkm_des_parity_set(acc, klen);
	memcpy(out, acc, klen);
	tkm_cleanse(acc, sizeof(acc));
	return TKM_OK;
}
