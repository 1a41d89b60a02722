/*
 * sm2.h - SM2 on the recommended curve (GB/T 32918, GM/T 0003): key pairs,
 * Z_A, signatures with a user ID, encryption in the C1C3C2 layout.
 *
 * Raw formats used on the wire and in files:
 *   public key   64 bytes  X || Y
 *   private key  32 bytes  d
 *   signature    64 bytes  r || s
 *   ciphertext   97 + n    04 || C1.X || C1.Y || C3 (32) || C2 (n)
 *
 * struct tkm_sm2 is opaque. It caches, per key, the Z_A of the last user ID
 * and the OpenSSL contexts, because computing Z_A costs a few digests and
 * OpenSSL 3.0 would otherwise recompute it (and use an empty ID unless told
 * otherwise) on every signature.
 *
 * A key object is not safe for concurrent use; give each thread its own.
 */
#ifndef TKM_SM2_H
#define TKM_SM2_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TKM_SM2_PUB_LEN      64
#define TKM_SM2_PRIV_LEN     32
#define TKM_SM2_SIG_LEN      64
#define TKM_SM2_ZA_LEN       32
#define TKM_SM2_ENC_OVERHEAD 97
/* The default user ID of GM/T 0009. */
#define TKM_SM2_DEFAULT_ID     "1234567812345678"
#define TKM_SM2_DEFAULT_ID_LEN 16

struct tkm_sm2;

int tkm_sm2_generate(struct tkm_sm2 **out) TKM_MUST_CHECK;
/* From d (the public key is computed). TKM_ERR_ASYM_KEY if d is 0 or >= n-1. */
int tkm_sm2_from_priv(const uint8_t d[32], struct tkm_sm2 **out) TKM_MUST_CHECK;
/* From X || Y; TKM_ERR_ASYM_KEY if the point is not on the curve. */
int tkm_sm2_from_pub(const uint8_t xy[64], struct tkm_sm2 **out) TKM_MUST_CHECK;
/* Wipes the private key; NULL is a no-op. */
void tkm_sm2_free(struct tkm_sm2 *k);

int tkm_sm2_has_priv(const struct tkm_sm2 *k);
int tkm_sm2_pub(const struct tkm_sm2 *k, uint8_t xy[64]) TKM_MUST_CHECK;
/* Export d (for sealing under DK only); TKM_ERR_NO_KEY for a public key. */
int tkm_sm2_priv(const struct tkm_sm2 *k, uint8_t d[32]) TKM_MUST_CHECK;

/* Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA), GB/T 32918.2 §5.5.
 * id may be NULL for the default ID. idlen MUST be < 8192. */
int tkm_sm2_za(struct tkm_sm2 *k, const uint8_t *id, size_t idlen,
    uint8_t za[32]) TKM_MUST_CHECK;

/* Sign / verify the digest e = SM3(Z_A || M) directly. */
int tkm_sm2_sign_digest(
    struct tkm_sm2 *k, const uint8_t e[32], uint8_t sig[64]) TKM_MUST_CHECK;
/* TKM_OK if valid, TKM_ERR_VERIFY if not. */
int tkm_sm2_verify_digest(struct tkm_sm2 *k, const uint8_t e[32],
    const uint8_t sig[64]) TKM_MUST_CHECK;

/* Sign / verify a message with user ID (NULL = default ID). */
int tkm_sm2_sign(struct tkm_sm2 *k, const uint8_t *id, size_t idlen,
    const void *msg, size_t len, uint8_t sig[64]) TKM_MUST_CHECK;
int tkm_sm2_verify(struct tkm_sm2 *k, const uint8_t *id, size_t idlen,
    const void *msg, size_t len, const uint8_t sig[64]) TKM_MUST_CHECK;

/* C1C3C2 raw ciphertext; out MUST hold len + TKM_SM2_ENC_OVERHEAD. An empty
 * message is refused (TKM_ERR_DATA_LEN): its key stream is empty, which
 * GB/T 32918.4 §6.1 A5 treats as all zero, so the standard has no
 * ciphertext for it. */
int tkm_sm2_encrypt(struct tkm_sm2 *k, const void *msg, size_t len,
    uint8_t *out, size_t *outlen) TKM_MUST_CHECK;
/* out MUST hold len - TKM_SM2_ENC_OVERHEAD; TKM_ERR_VERIFY if C3 fails. */
int tkm_sm2_decrypt(struct tkm_sm2 *k, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen) TKM_MUST_CHECK;

/* Signature DER (SEQUENCE of two INTEGERs) <-> r || s. */
int tkm_sm2_sig_to_der(const uint8_t sig[64], uint8_t *der, size_t cap,
    size_t *derlen) TKM_MUST_CHECK;
int tkm_sm2_sig_from_der(
    const uint8_t *der, size_t len, uint8_t sig[64]) TKM_MUST_CHECK;

#endif
