/*
 * keys.h - what handlers use to get keys: parse a key reference, load the
 * key from a library or unwrap its cryptogram, check its type, and hand it
 * over in a slot of locked memory that the dispatcher wipes after the
 * command. Asymmetric keys come back as libtkm objects from a per-worker
 * cache (so SM2's Z_A and OpenSSL contexts are set up once per key), which
 * is dropped when the key's version in the store changes.
 */
#ifndef HSM_KEYS_H
#define HSM_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "cmd.h"
#include "tkm/rsa.h"
#include "tkm/sm2.h"

#define HSM_KEY_SLOTS 4

struct hsm_key {
	int alg; /* TKM_DES or TKM_SM4 */
	char type[HSM_TYPE_LEN + 1];
	size_t len; /* 8, 16 or 24 */
	uint8_t k[24];
};

struct hsm_keys;
int hsm_keys_new(struct hsm_keys **out) TKM_MUST_CHECK;
void hsm_keys_free(struct hsm_keys *keys);
/* Wipe every slot (the dispatcher calls this after each command). */
void hsm_keys_wipe(struct hsm_keys *keys);
/* Wipe every slot and drop every cached asymmetric key: they belong to a
 * DK that was retired (hsm_worker_enter). */
void hsm_keys_flush(struct hsm_keys *keys);

/* Slot i (0..HSM_KEY_SLOTS-1) of the worker, in locked memory. */
struct hsm_key *hsm_slot(struct hsm_cmd_ctx *c, unsigned i);

/* Does the comma-separated list allow type? e.g. ("003", "003,008"). */
int hsm_type_allowed(const char *type, const char *list);

/*
 * Read a symmetric key reference (tkm_keyref_parse) of the given type and
 * algorithm and load it into slot:
 *   K+3H  the key at that index of alg's library; its stored type MUST
 *         equal type (TKM_ERR_TYPE_USE otherwise), TKM_ERR_NO_KEY if empty;
 *   16H/X/Y/S cryptograms, unwrapped under DK for (alg, type); the scheme
 *         must fit alg (S for SM4; 16H, X, Y for DES), else TKM_ERR_SCHEME.
 * Nothing is consumed from rd on failure.
 */
int hsm_key_read(struct hsm_cmd_ctx *c, struct tkm_rd *rd, int alg,
    const char *type, struct hsm_key *slot) TKM_MUST_CHECK;

/* Write key as a cryptogram under DK for its (alg, type): 16H, X+32H,
 * Y+48H or S+32H. */
void hsm_key_write_lmk(
    struct hsm_cmd_ctx *c, const struct hsm_key *key, struct tkm_wr *out);

/* Store key at a free index of alg's library with its type (A0/A6 mode
 * store); TKM_ERR_INDEX if the index holds a key. */
int hsm_key_store(struct hsm_cmd_ctx *c, const struct hsm_key *key,
    unsigned index, const char *label) TKM_MUST_CHECK;

/*
 * Asymmetric keys by reference (tkm_asymref_parse): an index 01..20 of the
 * SM2 or RSA library, or 99 with a DK-protected blob (hsm_dk_wrap with
 * lib 0, index 99). The object belongs to the worker's cache: do not free
 * it, do not keep it past the command.
 */
int hsm_sm2_read(struct hsm_cmd_ctx *c, struct tkm_rd *rd,
    struct tkm_sm2 **out) TKM_MUST_CHECK;
int hsm_rsa_read(struct hsm_cmd_ctx *c, struct tkm_rd *rd,
    struct tkm_rsa **out) TKM_MUST_CHECK;

/*
 * Write a private key (SM2: d, 32 bytes; RSA: PKCS#1 RSAPrivateKey DER) as
 * the message form that index 99 reads back: len 4N + blob B, the blob
 * being hsm_dk_wrap with {lib 0, index 99, type "SM2"/"RSA", alg lib}.
 * lib is HSM_LIB_SM2 or HSM_LIB_RSA. On failure out's error is set too.
 */
int hsm_asym_blob(struct hsm_cmd_ctx *c, int lib, const uint8_t *secret,
    size_t len, struct tkm_wr *out) TKM_MUST_CHECK;

#endif
