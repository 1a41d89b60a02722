/*
 * fuzz_frame.c - the host-command framer, request split and response
 * builder (wire.h, protocol.md §1).
 *
 * Input layout:
 *   OFFSET  SIZE  FIELD
 *   0       1     header length h (mod 33)
 *   1       2     maximum LEN, big-endian (0: the default, 32768)
 *   3       1     k, number of chunk sizes (mod 16)
 *   4       k     chunk sizes, used in turn (0: an empty feed, then 1 byte);
 *                 k = 0 feeds the whole stream at once
 *   4+k     ...   the byte stream, as a client would send it
 *
 * Every frame the framer reports is checked against an independent walk
 * of the stream, split into a request and answered; the answer must carry
 * the right LEN, the request's header, the response code and the trailer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkm/wire.h"

/* Not assert(): the check must stay in release (NDEBUG) builds too. */
#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #x);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

#define CFG_LEN 4

/* Room for the largest answer: hex of a 65535-byte body and more. */
static uint8_t out[2 + 2 * TKM_WIRE_LIMIT + 256];

struct expect {
	const uint8_t *s; /* the stream */
	size_t n, pos;    /* pos: start of the next whole frame */
	size_t max, hdrlen;
};

static int
is_print(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* The next frame by a direct walk of the stream; 0 if none is whole. */
static int
expect_next(struct expect *e, const uint8_t **frame, size_t *len)
{
	size_t l;
	int rc;

	if (e->n - e->pos < 2)
		return 0;
	l = (size_t)e->s[e->pos] << 8 | e->s[e->pos + 1];
	if (e->n - e->pos - 2 < l)
		return 0;
	*frame = e->s + e->pos + 2;
	rc = l > e->max ? TKM_ERR_FRAME_LEN : 1;
	*len = rc == 1 ? l : (l < e->hdrlen ? l : e->hdrlen);
	e->pos += 2 + l;
	return rc;
}

static void
check_req(const uint8_t *frame, size_t len, size_t hdrlen,
    const struct tkm_req *req, int prc)
{
	struct tkm_rd raw;
	size_t i, blen;

	CHECK(req->hdr == frame);
	CHECK(req->hdrlen == (len < hdrlen ? len : hdrlen));
	if (prc != TKM_OK) {
		CHECK(
		    prc == (len < hdrlen + 2 ? TKM_ERR_HEADER : TKM_ERR_INPUT));
		CHECK(req->cmd[0] == '\0' && req->trl == NULL);
		CHECK(req->body.len == 0 && tkm_req_raw_body(req).len == 0);
		return;
	}
	CHECK(len >= hdrlen + 2);
	CHECK(is_print(frame[hdrlen]) && is_print(frame[hdrlen + 1]));
	CHECK(memcmp(req->cmd, frame + hdrlen, 2) == 0 && !req->cmd[2]);
	blen = len - hdrlen - 2;
	CHECK(req->body.p == frame + hdrlen + 2);
	if (req->trl != NULL) {
		CHECK(req->trllen <= TKM_WIRE_MAX_TRAILER);
		CHECK(req->trl[-1] == TKM_WIRE_TRAILER_SEP);
		CHECK(req->body.p + req->body.len + 1 == req->trl);
		CHECK(req->trl + req->trllen == frame + len);
		for (i = 0; i < req->trllen; i++)
			CHECK(is_print(req->trl[i]));
	} else {
		CHECK(req->body.len == blen && req->trllen == 0);
	}
	raw = tkm_req_raw_body(req);
	CHECK(raw.p == req->body.p && raw.len == blen);
}

/* Answer with the body as hex (as TE answers with random data), so that
 * big frames also test the 65535-byte limit of the answer. */
static void
answer(const struct tkm_req *req, int err)
{
	size_t want = 2 + req->hdrlen + 2 + 2 + 2 * req->body.len +
		      (req->trl != NULL ? 1 + req->trllen : 0);
	char rsp[3] = "ZZ";
	struct tkm_wr w;
	int rc;

	tkm_wr_init(&w, out, sizeof(out));
	tkm_resp_begin(&w, req, err);
	tkm_wr_hex(&w, req->body.p, req->body.len);
	rc = tkm_resp_end(&w, req);
	if (want - 2 > TKM_WIRE_LIMIT) {
		CHECK(rc == TKM_ERR_SPACE);
		return;
	}
	CHECK(rc == TKM_OK && w.len == want);
	CHECK(((size_t)out[0] << 8 | out[1]) == want - 2);
	CHECK(req->hdrlen == 0 || memcmp(out + 2, req->hdr, req->hdrlen) == 0);
	if (req->cmd[0] != '\0') { /* second character + 1 */
		rsp[0] = req->cmd[0];
		rsp[1] = (char)(req->cmd[1] + 1);
	}
	CHECK(memcmp(out + 2 + req->hdrlen, rsp, 2) == 0);
	CHECK(memcmp(out + 4 + req->hdrlen, tkm_err_wire(err), 2) == 0);
	if (req->trl != NULL) {
		CHECK(out[want - req->trllen - 1] == TKM_WIRE_TRAILER_SEP);
		CHECK(req->trllen == 0 || memcmp(out + want - req->trllen,
					      req->trl, req->trllen) == 0);
	}
}

static void
on_frame(struct expect *e, int rc, const uint8_t *frame, size_t len)
{
	const uint8_t *xframe = NULL;
	size_t xlen = 0;
	struct tkm_req req;
	int prc;

	CHECK(expect_next(e, &xframe, &xlen) == rc);
	CHECK(len == xlen && frame != NULL);
	CHECK(len == 0 || memcmp(frame, xframe, len) == 0);

	prc = tkm_req_parse(frame, len, e->hdrlen, &req);
	check_req(frame, len, e->hdrlen, &req, prc);
	answer(&req, rc == TKM_ERR_FRAME_LEN ? rc : prc);
}

/* Feed p[0..n) in one call or several, until the framer took it all. */
static void
feed(struct tkm_framer *f, struct expect *e, const uint8_t *p, size_t n)
{
	const uint8_t *frame;
	size_t used, len;
	int rc;

	while (n > 0) {
		rc = tkm_framer_feed(f, p, n, &used, &frame, &len);
		CHECK(used > 0 && used <= n);
		CHECK(f->have <= 2 + (f->max > f->hdrlen ? f->max : f->hdrlen));
		if (rc == 0)
			CHECK(used == n && frame == NULL);
		else
			on_frame(e, rc, frame, len);
		p += used;
		n -= used;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *chunks, *frame, *xframe;
	size_t k, ci = 0, m, used, len, xlen;
	struct tkm_framer f;
	struct expect e;
	int rc;

	if (size < CFG_LEN)
		return 0;
	e.hdrlen = data[0] % (TKM_WIRE_MAX_HDR + 1);
	e.max = (size_t)data[1] << 8 | data[2];
	if (e.max == 0)
		e.max = TKM_WIRE_DEFAULT_MAX;
	k = data[3] % 16;
	if (size < CFG_LEN + k)
		return 0;
	chunks = data + CFG_LEN;
	e.s = data + CFG_LEN + k;
	e.n = size - CFG_LEN - k;
	e.pos = 0;

	rc = tkm_framer_init(&f, e.max, e.hdrlen);
	CHECK(rc == TKM_OK);
	for (m = 0; m < e.n; m += len) {
		len = k == 0 ? e.n : chunks[ci++ % k];
		if (len == 0) {
			rc = tkm_framer_feed(
			    &f, e.s + m, 0, &used, &frame, &xlen);
			CHECK(rc == 0 && used == 0 && frame == NULL);
			len = 1;
		}
		if (len > e.n - m)
			len = e.n - m;
		feed(&f, &e, e.s + m, len);
	}
	/* Every whole frame of the stream was reported. */
	CHECK(expect_next(&e, &xframe, &xlen) == 0);
	tkm_framer_cleanup(&f);
	return 0;
}
