/*
 * b64.c - base64 over OpenSSL's block codec (b64.h).
 */

#include <string.h>

#include <openssl/evp.h>

#include "tkm/b64.h"

void
tkm_b64_encode(const void *p, size_t n, char *out)
{
	/* EVP_EncodeBlock takes an int length: encode in chunks that are a
	 * multiple of 3 bytes, so no padding appears but at the end. */
	const uint8_t *in = p;
	const size_t chunk = 3u << 20;
	size_t take;

	out[0] = '\0';
	while (n > 0) {
		take = n > chunk ? chunk : n;
		out += EVP_EncodeBlock((unsigned char *)out, in, (int)take);
		in += take;
		n -= take;
	}
}

static int
b64_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Index of c in the alphabet (c is one of it). */
static unsigned
b64_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (unsigned)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0' + 52);
	return c == '+' ? 62 : 63;
}

/* Canonical form: only alphabet characters, then 0-2 '=' at the end, and
 * the bits the padding drops are zero. EVP_DecodeBlock alone would skip
 * leading whitespace and accept non-canonical tails. */
static int
b64_canonical(const char *in, size_t len, size_t *pad)
{
	size_t i, body;

	if (len % 4 != 0)
		return 0;
	*pad = 0;
	if (len > 0 && in[len - 1] == '=')
		*pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
	body = len - *pad;
	for (i = 0; i < body; i++)
		if (!b64_char((unsigned char)in[i]))
			return 0;
	if (*pad == 1 && (b64_val(in[body - 1]) & 0x03) != 0)
		return 0;
	if (*pad == 2 && (b64_val(in[body - 1]) & 0x0F) != 0)
		return 0;
	return 1;
}

int
tkm_b64_decode(
    const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	const size_t chunk = 4u << 20; /* a multiple of 4 */
	size_t pad, take, n = 0;
	uint8_t last[3];
	int got;

	*outlen = 0;
	if (!b64_canonical(in, len, &pad))
		return TKM_ERR_INPUT;
	if (len / 4 * 3 - pad > cap)
		return TKM_ERR_SPACE;
	/* EVP_DecodeBlock writes padding as zero bytes, for which out need
	 * not have room: a padded last group goes through last[]. */
	if (pad > 0)
		len -= 4;
	while (len > 0) {
		take = len > chunk ? chunk : len;
		got = EVP_DecodeBlock(
		    out + n, (const unsigned char *)in, (int)take);
		if (got < 0)
			return TKM_ERR_INPUT;
		n += (size_t)got;
		in += take;
		len -= take;
	}
	if (pad > 0) {
		if (EVP_DecodeBlock(last, (const unsigned char *)in, 4) != 3)
			return TKM_ERR_INPUT;
		memcpy(out + n, last, 3 - pad);
		n += 3 - pad;
	}
	*outlen = n;
	return TKM_OK;
}
