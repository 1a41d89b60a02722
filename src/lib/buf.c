/*
 * buf.c - bounded reader, capped writer, hex codec.
 */
#include <string.h>

#include "tkm/buf.h"

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
tkm_rd_bytes(struct tkm_rd *rd, void *out, size_t n)
{
	if (n > rd->len)
		return TKM_ERR_TRUNC;
	if (n == 0) /* no arithmetic on the NULL of an empty reader */
		return TKM_OK;
	if (out != NULL)
		memcpy(out, rd->p, n);
	rd->p += n;
	rd->len -= n;
	return TKM_OK;
}

int
tkm_rd_view(struct tkm_rd *rd, const uint8_t **out, size_t n)
{
	if (n > rd->len)
		return TKM_ERR_TRUNC;
	*out = rd->p;
	if (n == 0)
		return TKM_OK;
	rd->p += n;
	rd->len -= n;
	return TKM_OK;
}

int
tkm_rd_hex(struct tkm_rd *rd, uint8_t *out, size_t n)
{
	size_t i;

	if (n > rd->len / 2)
		return TKM_ERR_TRUNC;
	for (i = 0; i < 2 * n; i++) {
		if (hexval(rd->p[i]) < 0)
			return TKM_ERR_HEX;
	}
	if (n == 0)
		return TKM_OK;
	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(hexval(rd->p[2 * i]) << 4 |
				   hexval(rd->p[2 * i + 1]));
	rd->p += 2 * n;
	rd->len -= 2 * n;
	return TKM_OK;
}

int
tkm_rd_num(struct tkm_rd *rd, size_t width, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (width == 0 || width > 9)
		return TKM_ERR_INPUT;
	if (width > rd->len)
		return TKM_ERR_TRUNC;
	for (i = 0; i < width; i++) {
		if (rd->p[i] < '0' || rd->p[i] > '9')
			return TKM_ERR_INPUT;
		v = v * 10 + (unsigned)(rd->p[i] - '0');
	}
	*out = v;
	rd->p += width;
	rd->len -= width;
	return TKM_OK;
}

int
tkm_rd_hexnum(struct tkm_rd *rd, size_t width, uint32_t *out)
{
	uint32_t v = 0;
	size_t i;

	if (width == 0 || width > 8)
		return TKM_ERR_INPUT;
	if (width > rd->len)
		return TKM_ERR_TRUNC;
	for (i = 0; i < width; i++) {
		int d = hexval(rd->p[i]);

		if (d < 0)
			return TKM_ERR_HEX;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	rd->p += width;
	rd->len -= width;
	return TKM_OK;
}

int
tkm_rd_accept(struct tkm_rd *rd, uint8_t c)
{
	if (rd->len == 0 || rd->p[0] != c)
		return 0;
	rd->p++;
	rd->len--;
	return 1;
}

int
tkm_rd_until(struct tkm_rd *rd, uint8_t c, struct tkm_rd *out)
{
	const uint8_t *q = rd->len ? memchr(rd->p, c, rd->len) : NULL;
	size_t n;

	if (q == NULL)
		return TKM_ERR_TRUNC;
	n = (size_t)(q - rd->p);
	*out = tkm_rd_of(rd->p, n);
	rd->p += n + 1;
	rd->len -= n + 1;
	return TKM_OK;
}

int
tkm_rd_end(const struct tkm_rd *rd)
{
	return rd->len == 0 ? TKM_OK : TKM_ERR_TRAILING;
}

void
tkm_wr_init(struct tkm_wr *w, void *buf, size_t cap)
{
	w->p = buf;
	w->cap = cap;
	w->len = 0;
	w->err = TKM_OK;
}

/* Reserve n bytes, or set the sticky error and return NULL. */
static uint8_t *
wr_reserve(struct tkm_wr *w, size_t n)
{
	uint8_t *q;

	if (w->err != TKM_OK)
		return NULL;
	if (n > w->cap - w->len) {
		w->err = TKM_ERR_SPACE;
		return NULL;
	}
	if (n == 0)
		return w->p; /* no arithmetic on the NULL of an empty writer */
	q = w->p + w->len;
	w->len += n;
	return q;
}

void
tkm_wr_bytes(struct tkm_wr *w, const void *p, size_t n)
{
	uint8_t *q = wr_reserve(w, n);

	if (q != NULL && n > 0)
		memcpy(q, p, n);
}

void
tkm_wr_str(struct tkm_wr *w, const char *s)
{
	tkm_wr_bytes(w, s, strlen(s));
}

static const char hexdig[] = "0123456789ABCDEF";

void
tkm_wr_hex(struct tkm_wr *w, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t *q;
	size_t i;

	if (n > SIZE_MAX / 2) {
		w->err = w->err ? w->err : TKM_ERR_SPACE;
		return;
	}
	q = wr_reserve(w, 2 * n);
	if (q == NULL)
		return;
	for (i = 0; i < n; i++) {
		q[2 * i] = (uint8_t)hexdig[b[i] >> 4];
		q[2 * i + 1] = (uint8_t)hexdig[b[i] & 15];
	}
}

static void
wr_digits(struct tkm_wr *w, unsigned long v, size_t width, unsigned base)
{
	uint8_t d[16];
	size_t i;

	if (w->err != TKM_OK)
		return;
	if (width > sizeof(d)) {
		w->err = TKM_ERR_INPUT;
		return;
	}
	for (i = width; i > 0; i--) {
		d[i - 1] = (uint8_t)hexdig[v % base];
		v /= base;
	}
	if (v != 0) { /* does not fit in width digits */
		w->err = TKM_ERR_INPUT;
		return;
	}
	tkm_wr_bytes(w, d, width);
}

void
tkm_wr_num(struct tkm_wr *w, unsigned long v, size_t width)
{
	wr_digits(w, v, width, 10);
}

void
tkm_wr_hexnum(struct tkm_wr *w, unsigned long v, size_t width)
{
	wr_digits(w, v, width, 16);
}

int
tkm_hex_decode(
    const char *hex, size_t hexlen, uint8_t *out, size_t cap, size_t *outlen)
{
	struct tkm_rd rd = tkm_rd_of(hex, hexlen);
	int rc;

	*outlen = 0;
	if (hexlen % 2 != 0)
		return TKM_ERR_HEX;
	if (hexlen / 2 > cap)
		return TKM_ERR_SPACE;
	rc = tkm_rd_hex(&rd, out, hexlen / 2);
	if (rc == TKM_OK)
		*outlen = hexlen / 2;
	return rc;
}

void
tkm_hex_encode(const void *p, size_t n, char *out)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdig[b[i] >> 4];
		out[2 * i + 1] = hexdig[b[i] & 15];
	}
	out[2 * n] = '\0';
}
