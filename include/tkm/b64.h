/*
 * b64.h - base64 (RFC 4648 §4, with padding) for files carried in JSON
 * (backups, licence files). OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do
 * the work; these wrappers add strict checking: no whitespace, no missing
 * or misplaced padding, no bits left over.
 */
#ifndef TKM_B64_H
#define TKM_B64_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Characters tkm_b64_encode writes for n bytes (without the NUL). */
#define TKM_B64_LEN(n) (((n) + 2) / 3 * 4)

/* Encode n bytes into out (TKM_B64_LEN(n) + 1 bytes, NUL-terminated). */
void tkm_b64_encode(const void *p, size_t n, char *out);

/*
 * Decode len characters into out (cap bytes; len / 4 * 3 always suffices):
 * *outlen bytes. TKM_ERR_INPUT for anything but canonical base64 (length
 * not a multiple of 4, a character outside the alphabet, padding in the
 * middle, non-zero bits in the last character before padding),
 * TKM_ERR_SPACE if out is too small.
 */
int tkm_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
    size_t *outlen) TKM_MUST_CHECK;

#endif
