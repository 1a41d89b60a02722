/*
 * buf.h - bounded reader and capped writer, hex codec.
 *
 * Untrusted bytes are read only through struct tkm_rd. Every tkm_rd_*
 * function checks the remaining length first and consumes input only on
 * success, so a failed field leaves the reader where it was and the caller
 * can try another layout (protocol.md tolerance rules).
 *
 * Output goes through struct tkm_wr, which never writes past its cap. The
 * first failure is sticky: later writes are no-ops and tkm_wr_error()
 * reports it, so a builder can write a whole response and check once.
 */
#ifndef TKM_BUF_H
#define TKM_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct tkm_rd {
	const uint8_t *p;
	size_t len;
};

static inline struct tkm_rd
tkm_rd_of(const void *p, size_t len)
{
	struct tkm_rd rd = {(const uint8_t *)p, len};
	return rd;
}

/* Copy n raw bytes to out (out may be NULL to skip). */
int tkm_rd_bytes(struct tkm_rd *rd, void *out, size_t n) TKM_MUST_CHECK;
/* Point *out at the next n bytes without copying. */
int tkm_rd_view(
    struct tkm_rd *rd, const uint8_t **out, size_t n) TKM_MUST_CHECK;
/* Decode 2n hex characters (either case) into n bytes. */
int tkm_rd_hex(struct tkm_rd *rd, uint8_t *out, size_t n) TKM_MUST_CHECK;
/* Read exactly width decimal digits (width 1..9). */
int tkm_rd_num(struct tkm_rd *rd, size_t width, unsigned *out) TKM_MUST_CHECK;
/* Read exactly width hex digits as a number (width 1..8). */
int tkm_rd_hexnum(
    struct tkm_rd *rd, size_t width, uint32_t *out) TKM_MUST_CHECK;
/* If the next byte is c, consume it and return 1; else return 0. */
int tkm_rd_accept(struct tkm_rd *rd, uint8_t c);
/* Point *out at the bytes before the next c and consume them and c.
 * TKM_ERR_TRUNC when c does not occur. */
int tkm_rd_until(
    struct tkm_rd *rd, uint8_t c, struct tkm_rd *out) TKM_MUST_CHECK;
/* TKM_OK if nothing is left, TKM_ERR_TRAILING otherwise. */
int tkm_rd_end(const struct tkm_rd *rd) TKM_MUST_CHECK;

struct tkm_wr {
	uint8_t *p;
	size_t cap;
	size_t len;
	int err; /* first failure, sticky */
};

void tkm_wr_init(struct tkm_wr *w, void *buf, size_t cap);
void tkm_wr_bytes(struct tkm_wr *w, const void *p, size_t n);
void tkm_wr_str(struct tkm_wr *w, const char *s);
/* Bytes as upper-case hex (2n characters). */
void tkm_wr_hex(struct tkm_wr *w, const void *p, size_t n);
/* v as exactly width decimal digits; TKM_ERR_INPUT if it does not fit. */
void tkm_wr_num(struct tkm_wr *w, unsigned long v, size_t width);
/* v as exactly width upper-case hex digits. */
void tkm_wr_hexnum(struct tkm_wr *w, unsigned long v, size_t width);
static inline int
tkm_wr_error(const struct tkm_wr *w)
{
	return w->err;
}

/*
 * Hex codec. tkm_hex_decode accepts either case and fails with TKM_ERR_HEX
 * on an odd length or a non-hex character, TKM_ERR_SPACE if out is too
 * small. tkm_hex_encode writes 2n upper-case characters and a NUL, so out
 * MUST hold 2n+1 bytes.
 */
int tkm_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t cap,
    size_t *outlen) TKM_MUST_CHECK;
void tkm_hex_encode(const void *p, size_t n, char *out);

#endif
