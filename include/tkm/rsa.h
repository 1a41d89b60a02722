/*
 * rsa.h - RSA 1024..4096 bits: generation with a chosen public exponent,
 * PKCS#1 v1.5 and raw (no padding) encryption, PKCS#1 v1.5 signatures.
 *
 * Key encodings: PKCS#1 DER (RSAPublicKey / RSAPrivateKey). Components for
 * EH export: M E D P Q DP DQ QINV as big-endian byte strings.
 * struct tkm_rsa is opaque; not safe for concurrent use.
 */
#ifndef TKM_RSA_H
#define TKM_RSA_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TKM_RSA_MIN_BITS 1024
#define TKM_RSA_MAX_BITS 4096
#define TKM_RSA_MAX_LEN  (TKM_RSA_MAX_BITS / 8)

enum tkm_rsa_pad { TKM_RSA_RAW = 0, TKM_RSA_PKCS1 = 1 };

struct tkm_rsa;

/* bits a multiple of 8 in 1024..4096; e odd, >= 3, as big-endian bytes
 * (elen 1..8); e NULL means 65537. */
int tkm_rsa_generate(unsigned bits, const uint8_t *e, size_t elen,
    struct tkm_rsa **out) TKM_MUST_CHECK;
int tkm_rsa_from_der(const uint8_t *der, size_t len, int is_private,
    struct tkm_rsa **out) TKM_MUST_CHECK;
void tkm_rsa_free(struct tkm_rsa *k);

unsigned tkm_rsa_bits(const struct tkm_rsa *k);
int tkm_rsa_has_priv(const struct tkm_rsa *k);
/* DER of the public (RSAPublicKey) or private (RSAPrivateKey) key. The
 * private DER is a secret: wipe it. */
int tkm_rsa_to_der(const struct tkm_rsa *k, int is_private, uint8_t *der,
    size_t cap, size_t *len) TKM_MUST_CHECK;

enum tkm_rsa_part {
	TKM_RSA_N,
	TKM_RSA_E,
	TKM_RSA_D,
	TKM_RSA_P,
	TKM_RSA_Q,
	TKM_RSA_DP,
	TKM_RSA_DQ,
	TKM_RSA_QINV
};
int tkm_rsa_component(const struct tkm_rsa *k, int part, uint8_t *out,
    size_t cap, size_t *len) TKM_MUST_CHECK;

/* Public-key encrypt / private-key decrypt. RAW: len MUST equal the modulus
 * length and the value be below N. out MUST hold the modulus length. */
int tkm_rsa_encrypt(struct tkm_rsa *k, int pad, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen) TKM_MUST_CHECK;
int tkm_rsa_decrypt(struct tkm_rsa *k, int pad, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen) TKM_MUST_CHECK;

/* PKCS#1 v1.5 signature of msg hashed with hash (crypto.h ids: SHA-1,
 * SHA-256, MD5; SM3 has no DigestInfo and gives TKM_ERR_MODE). sig MUST
 * hold the modulus length. A PKCS#1 decryption failure is TKM_ERR_VERIFY:
 * a server MUST NOT tell it apart from other errors to a client
 * (Bleichenbacher). */
int tkm_rsa_sign(struct tkm_rsa *k, int hash, const void *msg, size_t len,
    uint8_t *sig, size_t *siglen) TKM_MUST_CHECK;
int tkm_rsa_verify(struct tkm_rsa *k, int hash, const void *msg, size_t len,
    const uint8_t *sig, size_t siglen) TKM_MUST_CHECK;

#endif
