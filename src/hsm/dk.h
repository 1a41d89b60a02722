/*
 * dk.h - the device key DK (加密机设备密钥, DESIGN §3.1) and the keys the
 * HSM derives from it.
 *
 * DK is a 128-bit SM4 key, the XOR of three components. Nothing is ever
 * encrypted under DK itself: at unseal the HSM derives, with SP 800-108
 * KBKDF-HMAC-SM3 (tkm_kdf), a record-encryption key, a record-MAC key and
 * one wire key per (algorithm, key type code), all held in locked memory.
 * struct hsm_dk is immutable after hsm_dk_new() and may be shared by all
 * worker threads without locking.
 */
#ifndef HSM_DK_H
#define HSM_DK_H

#include <stddef.h>
#include <stdint.h>

#include "tkm/err.h"

#define HSM_DK_LEN        16
#define HSM_DK_PARTS      3
#define HSM_TYPE_LEN      3 /* key type code, e.g. "000" (protocol.md §2) */
#define HSM_WRAP_OVERHEAD (1 + 16 + 32) /* version, IV, HMAC-SM3 tag */
#define HSM_MAX_SECRET    4096 /* largest wrapped secret (RSA-4096 DER) */

struct hsm_dk;

/* DK = c[0] xor c[1] xor c[2]; each 16 bytes. */
int hsm_dk_new(const uint8_t c[HSM_DK_PARTS][HSM_DK_LEN],
    struct hsm_dk **out) TKM_MUST_CHECK;
void hsm_dk_free(struct hsm_dk *dk);
/* out = KBKDF-HMAC-SM3(DK, label, empty context), len bytes: a key of
 * another module (e.g. "tkms audit"). The labels dk.c uses itself ("tkms
 * wrap ...", "tkms lmk ...") are refused with TKM_ERR_INPUT. */
int hsm_dk_derive(const struct hsm_dk *dk, const char *label, uint8_t *out,
    size_t len) TKM_MUST_CHECK;
/* KCV of DK (SM4, 8 bytes; DESIGN §3.2). */
void hsm_dk_kcv(const struct hsm_dk *dk, uint8_t kcv[8]);
/* TKM_OK if type is one of the key type codes of protocol.md §2 (the
 * types that have wire keys), TKM_ERR_KEY_TYPE if not. */
int hsm_dk_type_check(const char *type) TKM_MUST_CHECK;

/*
 * What a wrapped secret is bound to. A blob made for one context does not
 * unwrap in another: copying a record to another index, library or type
 * fails with TKM_ERR_VERIFY.
 */
struct hsm_wrap_ctx {
	uint8_t lib;    /* enum hsm_lib, or 0 for a blob carried in a message */
	uint16_t index; /* 0..0xFFF, 1..20, or 99 for a message blob */
	char type[HSM_TYPE_LEN + 1];
	uint8_t alg; /* TKM_DES, TKM_SM4, or the asymmetric library */
};

/*
 * Authenticated encryption of a secret (SM4-CTR then HMAC-SM3 over the
 * context, IV and ciphertext). Layout:
 *   OFFSET SIZE FIELD
 *   0      1    version (1)
 *   1      16   IV, random
 *   17     n    SM4-CTR(K_enc, IV, secret)
 *   17+n   32   HMAC-SM3(K_mac, version || context || IV || ciphertext)
 * out MUST hold len + HSM_WRAP_OVERHEAD bytes.
 */
int hsm_dk_wrap(const struct hsm_dk *dk, const struct hsm_wrap_ctx *c,
    const uint8_t *secret, size_t len, uint8_t *out,
    size_t *outlen) TKM_MUST_CHECK;
/* out MUST hold len - HSM_WRAP_OVERHEAD bytes; TKM_ERR_VERIFY if the tag
 * fails (nothing is decrypted then). */
int hsm_dk_unwrap(const struct hsm_dk *dk, const struct hsm_wrap_ctx *c,
    const uint8_t *blob, size_t len, uint8_t *out,
    size_t *outlen) TKM_MUST_CHECK;

/*
 * Wire cryptograms, "key under DK" (protocol.md §2), for compatibility with
 * the Racal family: ECB under a wire key derived from DK for (alg, type).
 * DES keys of 8/16/24 bytes give 16H/32H/48H; SM4 keys 32H. Unwrapping a
 * DES key checks odd parity (TKM_ERR_PARITY), which catches most wrong
 * types or corrupted cryptograms.
 */
int hsm_dk_lmk_encrypt(const struct hsm_dk *dk, int alg, const char *type,
    const uint8_t *key, size_t len, uint8_t *out) TKM_MUST_CHECK;
int hsm_dk_lmk_decrypt(const struct hsm_dk *dk, int alg, const char *type,
    const uint8_t *in, size_t len, uint8_t *key) TKM_MUST_CHECK;

#endif
