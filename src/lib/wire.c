/*
 * wire.c - host-command framing (protocol.md §1) and key references (§2).
 *
 * Everything here parses bytes from the network, so every length is checked
 * before it is used and a failed parse consumes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "tkm/mem.h"
#include "tkm/wire.h"

#define LENSZ 2 /* the LEN field */
#define CMDSZ 2 /* the command / response code */

/* Response code written when the request has no usable command code
 * (frame too short, or not two printable characters): a placeholder that
 * keeps ERR at its usual offset, where clients look for it. */
static const char no_cmd_rsp[] = "ZZ";

/* What an empty reader points at: never NULL, so that no caller does
 * arithmetic on a null pointer (undefined even with a zero offset). */
static const uint8_t no_bytes[1];

static size_t
min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Printable ASCII, space included (protocol.md §1 "A"). */
static int
is_print(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* An oversized frame keeps hdrlen bytes even when max is smaller. */
static size_t
framer_bufsize(size_t max, size_t hdrlen)
{
	return LENSZ + (max > hdrlen ? max : hdrlen);
}

int
tkm_framer_init(struct tkm_framer *f, size_t max, size_t hdrlen)
{
	memset(f, 0, sizeof(*f));
	if (max < 1 || max > TKM_WIRE_LIMIT || hdrlen > TKM_WIRE_MAX_HDR)
		return TKM_ERR_INPUT;
	f->buf = malloc(framer_bufsize(max, hdrlen));
	if (f->buf == NULL)
		return TKM_ERR_NOMEM;
	f->max = max;
	f->hdrlen = hdrlen;
	return TKM_OK;
}

void
tkm_framer_cleanup(struct tkm_framer *f)
{
	if (f->buf != NULL) {
		/* Frames carry data to encrypt and key cryptograms. */
		tkm_cleanse(f->buf, framer_bufsize(f->max, f->hdrlen));
		free(f->buf);
	}
	memset(f, 0, sizeof(*f));
}

/* Bytes of the current frame that go into buf: all of it, or for an
 * oversized frame its LEN and first hdrlen bytes. */
static size_t
framer_keep(const struct tkm_framer *f)
{
	size_t l = f->want - LENSZ;

	return l > f->max ? LENSZ + min_sz(l, f->hdrlen) : f->want;
}

/* Move up to limit - f->have bytes from *p into buf. */
static void
framer_take(struct tkm_framer *f, size_t limit, const uint8_t **p, size_t *n)
{
	size_t k = min_sz(limit - f->have, *n);

	if (k > 0)
		memcpy(f->buf + f->have, *p, k);
	f->have += k;
	*p += k;
	*n -= k;
}

int
tkm_framer_feed(struct tkm_framer *f, const uint8_t *p, size_t n, size_t *used,
    const uint8_t **frame, size_t *len)
{
	size_t left = n, k;
	int oversized;

	*used = 0;
	*frame = NULL;
	*len = 0;
	if (left == 0)
		return 0;
	if (f->want == 0) {
		framer_take(f, LENSZ, &p, &left);
		if (f->have < LENSZ) {
			*used = n;
			return 0;
		}
		f->want = LENSZ + ((size_t)f->buf[0] << 8 | f->buf[1]);
		if (f->want - LENSZ > f->max)
			f->skip = f->want - framer_keep(f);
	}
	framer_take(f, framer_keep(f), &p, &left);
	/* Once the kept part is full, the rest of an oversized frame is
	 * dropped as it arrives, so memory never exceeds the buffer. */
	k = f->have == framer_keep(f) ? min_sz(f->skip, left) : 0;
	f->skip -= k;
	left -= k;
	*used = n - left;
	if (f->have < framer_keep(f) || f->skip > 0)
		return 0;

	/* A whole frame. Reset for the next one now; buf keeps this frame's
	 * bytes until the next call writes over them. */
	oversized = f->want - LENSZ > f->max;
	*frame = f->buf + LENSZ;
	*len = f->have - LENSZ;
	f->have = 0;
	f->want = 0;
	return oversized ? TKM_ERR_FRAME_LEN : 1;
}

/*
 * The trailer is optional and has no length field, so it is recognised by
 * shape (protocol.md §1): the last 0x19 among the final 1 + 32 bytes of the
 * body, followed only by printable characters. Returns the offset of that
 * 0x19 in body, or len when there is no trailer.
 */
static size_t
trailer_sep(const uint8_t *body, size_t len)
{
	size_t from = len > TKM_WIRE_MAX_TRAILER + 1
			  ? len - (TKM_WIRE_MAX_TRAILER + 1)
			  : 0;
	size_t i, j;

	for (i = len; i > from; i--) {
		if (body[i - 1] != TKM_WIRE_TRAILER_SEP)
			continue;
		for (j = i; j < len; j++) {
			if (!is_print(body[j]))
				return len;
		}
		return i - 1;
	}
	return len;
}

int
tkm_req_parse(
    const uint8_t *frame, size_t len, size_t hdrlen, struct tkm_req *req)
{
	const uint8_t *body;
	size_t blen, sep;

	memset(req, 0, sizeof(*req));
	req->body = tkm_rd_of(no_bytes, 0);
	req->hdr = frame;
	req->hdrlen = min_sz(len, hdrlen);
	if (len < CMDSZ || len - CMDSZ < hdrlen) /* no overflow */
		return TKM_ERR_HEADER;
	if (!is_print(frame[hdrlen]) || !is_print(frame[hdrlen + 1]))
		return TKM_ERR_INPUT;
	req->cmd[0] = (char)frame[hdrlen];
	req->cmd[1] = (char)frame[hdrlen + 1];
	req->cmd[2] = '\0';

	body = frame + hdrlen + CMDSZ;
	blen = len - hdrlen - CMDSZ;
	sep = trailer_sep(body, blen);
	req->body = tkm_rd_of(body, sep);
	if (sep < blen) {
		req->trl = body + sep + 1;
		req->trllen = blen - sep - 1;
	}
	return TKM_OK;
}

struct tkm_rd
tkm_req_raw_body(const struct tkm_req *req)
{
	const uint8_t *start, *end;

	if (req->cmd[0] == '\0')
		return tkm_rd_of(no_bytes, 0);
	/* The body reader may have been consumed, but p + len does not move,
	 * and the trailer, when there is one, ends the frame. */
	start = req->hdr + req->hdrlen + CMDSZ;
	end = req->trl != NULL ? req->trl + req->trllen
			       : req->body.p + req->body.len;
	return tkm_rd_of(start, (size_t)(end - start));
}

void
tkm_resp_code(const char cmd[2], char out[3])
{
	out[0] = cmd[0];
	out[1] = (char)(cmd[1] + 1);
	out[2] = '\0';
}

/*
 * The response MUST start at offset 0 of w (LEN is patched there); a
 * writer that already holds bytes is refused with TKM_ERR_INTERNAL.
 */
void
tkm_resp_begin(struct tkm_wr *w, const struct tkm_req *req, int err)
{
	static const uint8_t len_placeholder[LENSZ];
	char rsp[3];

	if (w->err == TKM_OK && w->len != 0)
		w->err = TKM_ERR_INTERNAL;
	tkm_wr_bytes(w, len_placeholder, LENSZ);
	tkm_wr_bytes(w, req->hdr, req->hdrlen);
	if (req->cmd[0] != '\0') {
		tkm_resp_code(req->cmd, rsp);
		tkm_wr_bytes(w, rsp, CMDSZ);
	} else {
		tkm_wr_bytes(w, no_cmd_rsp, CMDSZ);
	}
	tkm_wr_str(w, tkm_err_wire(err));
}

int
tkm_resp_end(struct tkm_wr *w, const struct tkm_req *req)
{
	static const uint8_t sep = TKM_WIRE_TRAILER_SEP;
	size_t l;

	if (req->trl != NULL) {
		tkm_wr_bytes(w, &sep, 1);
		tkm_wr_bytes(w, req->trl, req->trllen);
	}
	if (w->err != TKM_OK)
		return w->err;
	if (w->len < LENSZ)
		return w->err = TKM_ERR_INTERNAL;
	l = w->len - LENSZ;
	if (l > TKM_WIRE_LIMIT)
		return w->err = TKM_ERR_SPACE;
	w->p[0] = (uint8_t)(l >> 8);
	w->p[1] = (uint8_t)l;
	return TKM_OK;
}

static int
is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') ||
	       (c >= 'a' && c <= 'f');
}

/* Scheme letter to cryptogram length in bytes (protocol.md §2). */
static size_t
lmk_blob_len(uint8_t scheme)
{
	switch (scheme) {
	case 'X':
	case 'S':
		return 16;
	case 'Y':
		return 24;
	default:
		return 0;
	}
}

int
tkm_keyref_parse(struct tkm_rd *rd, struct tkm_keyref *out)
{
	struct tkm_rd r = *rd;
	uint32_t idx = 0;
	size_t n;
	uint8_t c;
	int rc;

	memset(out, 0, sizeof(*out));
	if (r.len == 0)
		return TKM_ERR_TRUNC;
	c = r.p[0];
	if (c == 'K') {
		(void)tkm_rd_accept(&r, c);
		rc = tkm_rd_hexnum(&r, 3, &idx);
		out->kind = TKM_KREF_INDEX;
		out->index = idx;
	} else {
		/* Single-length DES has no prefix: 16H, scheme Z. */
		n = is_hex(c) ? 8 : lmk_blob_len(c);
		if (n == 0)
			return TKM_ERR_SCHEME;
		if (!is_hex(c))
			(void)tkm_rd_accept(&r, c);
		rc = tkm_rd_hex(&r, out->blob, n);
		out->kind = TKM_KREF_LMK;
		out->scheme = is_hex(c) ? 'Z' : (char)c;
		out->bloblen = n;
	}
	if (rc != TKM_OK) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	*rd = r;
	return TKM_OK;
}

int
tkm_asymref_parse(struct tkm_rd *rd, struct tkm_asymref *out)
{
	struct tkm_rd r = *rd;
	unsigned idx, n;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = tkm_rd_num(&r, 2, &idx)) != TKM_OK)
		/* The field is an index: report it as one (wire code 21). */
		return rc == TKM_ERR_INPUT ? TKM_ERR_INDEX : rc;
	if (idx == TKM_ASYM_IN_MSG) {
		if ((rc = tkm_rd_num(&r, 4, &n)) != TKM_OK)
			return rc;
		/* An empty blob cannot be a key; refuse it here so that no
		 * handler mistakes it for "no key given". */
		if (n == 0)
			return TKM_ERR_ASYM_KEY;
		if ((rc = tkm_rd_view(&r, &out->blob, n)) != TKM_OK) {
			out->blob = NULL;
			return rc;
		}
		out->bloblen = n;
	} else if (idx < 1 || idx > TKM_ASYM_MAX_INDEX) {
		return TKM_ERR_INDEX;
	}
	out->index = idx;
	*rd = r;
	return TKM_OK;
}
