/*
 * crypto.h - symmetric primitives, digests, HMAC, random, DES parity, KCV
 * and key components. Everything is OpenSSL 3 libcrypto (EVP) underneath;
 * this layer fixes the conventions of the card system once (DESIGN §3.2).
 *
 * Algorithms: TKM_DES takes 8-byte (single DES, run as 3DES K|K|K),
 * 16-byte (2-key 3DES) and 24-byte (3-key 3DES) keys, 8-byte blocks.
 * TKM_SM4 takes 16-byte keys, 16-byte blocks. Data lengths MUST be whole
 * blocks (TKM_ERR_DATA_LEN otherwise) except in TKM_CTR, which is SM4 only
 * (the key store's record cipher) and takes any length; in and out may be
 * the same buffer.
 *
 * Thread safety: all functions may be called from any thread; cipher and
 * digest implementations are fetched once per process, contexts are per
 * thread.
 */
#ifndef TKM_CRYPTO_H
#define TKM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum tkm_alg { TKM_DES = 1, TKM_SM4 = 2 };
enum tkm_mode { TKM_ECB = 0, TKM_CBC = 1, TKM_CTR = 2 };
enum tkm_dir { TKM_DECRYPT = 0, TKM_ENCRYPT = 1 };

#define TKM_MAX_KEY   24 /* longest symmetric key */
#define TKM_MAX_BLOCK 16 /* longest block */
#define TKM_KCV_LEN   8  /* KCV bytes on the wire (16 H) */

/* Block size of alg (8 or 16), 0 for an unknown alg. */
size_t tkm_block_len(int alg);
/* TKM_OK if klen is a valid key length for alg, TKM_ERR_KEY_LEN if not. */
int tkm_key_len_ok(int alg, size_t klen) TKM_MUST_CHECK;

/* Encrypt or decrypt len bytes. iv is used for TKM_CBC and TKM_CTR (block
 * bytes, NULL means zero; in CTR the whole block is the initial counter)
 * and is not updated. */
int tkm_cipher(int alg, int mode, int dir, const uint8_t *key, size_t klen,
    const uint8_t *iv, const uint8_t *in, size_t len,
    uint8_t *out) TKM_MUST_CHECK;

/* Shorthands for one block in ECB. */
int tkm_encrypt_block(int alg, const uint8_t *key, size_t klen,
    const uint8_t *in, uint8_t *out) TKM_MUST_CHECK;
int tkm_decrypt_block(int alg, const uint8_t *key, size_t klen,
    const uint8_t *in, uint8_t *out) TKM_MUST_CHECK;

/* Digests: the GM hash ids of protocol.md (GM command). */
enum tkm_hash {
	TKM_SHA1 = 1,
	TKM_MD5 = 2,
	TKM_SHA256 = 6,
	TKM_SM3 = 20,
};
#define TKM_MAX_HASH 32
/* Digest length of hash (16, 20 or 32), 0 if unknown. */
size_t tkm_hash_len(int hash);
/* out MUST hold tkm_hash_len(hash) bytes. */
int tkm_hash(int hash, const void *in, size_t len, uint8_t *out) TKM_MUST_CHECK;
/* Digest of the concatenation of n parts (avoids copying Z_A || M). */
int tkm_hashv(int hash, const void *const *parts, const size_t *lens, size_t n,
    uint8_t *out) TKM_MUST_CHECK;
/* HMAC (RFC 2104) with any of the digests, e.g. HMAC-SM3. */
int tkm_hmac(int hash, const uint8_t *key, size_t klen, const void *in,
    size_t len, uint8_t *out) TKM_MUST_CHECK;

/*
 * Key derivation, NIST SP 800-108 counter mode with HMAC (OpenSSL KBKDF):
 * out = HMAC(key, [i]32 || label || 00 || context || [L]32) for i = 1..,
 * truncated to outlen (1..64) bytes.
 */
int tkm_kdf(int hash, const uint8_t *key, size_t klen, const void *label,
    size_t labellen, const void *context, size_t ctxlen, uint8_t *out,
    size_t outlen) TKM_MUST_CHECK;

/* Cryptographically strong random bytes (RAND_priv_bytes). */
int tkm_random(void *out, size_t len) TKM_MUST_CHECK;

/* DES odd parity: set on every byte, or test every byte (1 = all odd). */
void tkm_des_parity_set(uint8_t *key, size_t klen);
int tkm_des_parity_ok(const uint8_t *key, size_t klen);

/*
 * Key check value (DESIGN §3.2): DES E(K, 0^8), SM4 first 8 bytes of
 * E(K, 0^16). out receives TKM_KCV_LEN bytes; displays show the first 3.
 */
int tkm_kcv(int alg, const uint8_t *key, size_t klen,
    uint8_t out[TKM_KCV_LEN]) TKM_MUST_CHECK;

/*
 * Key components: a key is the XOR of 2..9 components of klen bytes.
 * DES components are generated with odd parity; the combined DES key is
 * given odd parity too (XOR of an even number of odd-parity parts is even).
 */
#define TKM_MIN_PARTS 2
#define TKM_MAX_PARTS 9
int tkm_component_random(int alg, size_t klen, uint8_t *out) TKM_MUST_CHECK;
int tkm_components_combine(int alg, size_t klen, const uint8_t *const *parts,
    size_t n, uint8_t *out) TKM_MUST_CHECK;

#endif
