/*
 * test_wire.c - host-command framing and key references.
 *
 * Expected values come from the layouts in docs/protocol.md (§1 framing,
 * §2 key references) and wire.h; the frames are the ministry client's
 * (8-byte header "12345678") and payShield tools' (4-byte header) forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tkm/wire.h"

/* A byte string that may hold NULs. */
struct bs {
	const char *p;
	size_t n;
};
#define S(lit)                                                                 \
	{                                                                      \
		(lit), sizeof(lit) - 1                                         \
	}
#define NONE                                                                   \
	{                                                                      \
		NULL, 0                                                        \
	}

static void
assert_bytes(const void *got, size_t gotlen, struct bs want)
{
	assert_int_equal(gotlen, want.n);
	if (want.n > 0)
		assert_memory_equal(got, want.p, want.n);
}

/* --- framer ------------------------------------------------------------ */

#define MAX_FRAMES 4

struct framer_case {
	const char *name;
	size_t max, hdrlen;
	struct bs stream;
	size_t nframes;
	int rc[MAX_FRAMES];
	struct bs frame[MAX_FRAMES];
	size_t left; /* bytes of an unfinished frame buffered at the end */
};

static const struct framer_case framer_cases[] = {
    {"one NC frame, 8-byte header", 32768, 8,
	S("\x00\x0a"
	  "12345678NC"),
	1, {1}, {S("12345678NC")}, 0},
    {"LEN 0, then a frame", 32768, 8, S("\x00\x00\x00\x02NC"), 2, {1, 1},
	{S(""), S("NC")}, 0},
    {"pipelined frames and a partial one", 32768, 4,
	S("\x00\x06"
	  "0000NC"
	  "\x00\x0a"
	  "0000TE0008"
	  "\x00\x09"
	  "0000"),
	2, {1, 1}, {S("0000NC"), S("0000TE0008")}, 6},
    {"LEN exactly max", 10, 8,
	S("\x00\x0a"
	  "12345678NC"),
	1, {1}, {S("12345678NC")}, 0},
    {"LEN max + 1: header kept, body skipped, stream in step", 10, 8,
	S("\x00\x0b"
	  "12345678NCX"
	  "\x00\x02NC"),
	2, {TKM_ERR_FRAME_LEN, 1}, {S("12345678"), S("NC")}, 0},
    {"oversized frame shorter than the header", 4, 8,
	S("\x00\x06"
	  "123456"),
	1, {TKM_ERR_FRAME_LEN}, {S("123456")}, 0},
    {"oversized frame, nothing kept", 2, 0,
	S("\x00\x03"
	  "NCX"
	  "\x00\x02"
	  "NC"),
	2, {TKM_ERR_FRAME_LEN, 1}, {S(""), S("NC")}, 0},
    {"oversized frame not finished", 4, 4,
	S("\x00\x08"
	  "0000NC"),
	0, {0}, {NONE}, 6},
    {"half a LEN", 32768, 8, S("\x00"), 0, {0}, {NONE}, 1},
    {"frame with a trailer", 32768, 8,
	S("\x00\x0e"
	  "12345678NC\x19"
	  "ABC"),
	1, {1},
	{S("12345678NC\x19"
	   "ABC")},
	0},
};

/* Feed the whole stream in pieces of chunk bytes; record the frames. */
static void
run_framer(const struct framer_case *c, size_t chunk)
{
	struct tkm_framer f;
	const uint8_t *p = (const uint8_t *)c->stream.p, *frame;
	size_t n = c->stream.n, got = 0, used, len, m;
	int rc;

	assert_int_equal(tkm_framer_init(&f, c->max, c->hdrlen), TKM_OK);
	while (n > 0) {
		m = chunk < n ? chunk : n;
		rc = tkm_framer_feed(&f, p, m, &used, &frame, &len);
		assert_in_range(used, 1, m);
		if (rc == 0) {
			assert_int_equal(used, m);
			assert_null(frame);
		} else {
			assert_true(got < c->nframes);
			assert_int_equal(rc, c->rc[got]);
			assert_bytes(frame, len, c->frame[got]);
			got++;
		}
		p += used;
		n -= used;
	}
	assert_int_equal(got, c->nframes);
	assert_int_equal(f.have, c->left);
	tkm_framer_cleanup(&f);
}

static void
test_framer_table(void **state)
{
	static const size_t chunks[] = {1, 2, 3, 7, 64, SIZE_MAX};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(framer_cases) / sizeof(framer_cases[0]); i++) {
		for (j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++) {
			print_message("%s, chunk %zu\n", framer_cases[i].name,
			    chunks[j] == SIZE_MAX ? 0 : chunks[j]);
			run_framer(&framer_cases[i], chunks[j]);
		}
	}
}

/* used stops at the end of a frame, so the next frame stays with us. */
static void
test_framer_stops_at_frame_end(void **state)
{
	static const uint8_t two[] = "\x00\x02NC\x00\x02NC";
	struct tkm_framer f;
	const uint8_t *frame;
	size_t used, len;

	(void)state;
	assert_int_equal(tkm_framer_init(&f, 100, 0), TKM_OK);
	assert_int_equal(tkm_framer_feed(&f, two, 8, &used, &frame, &len), 1);
	assert_int_equal(used, 4);
	assert_ptr_not_equal(frame, NULL);
	assert_int_equal(len, 2);
	assert_int_equal(
	    tkm_framer_feed(&f, two + 4, 4, &used, &frame, &len), 1);
	assert_int_equal(used, 4);
	/* No input: nothing happens, out-params cleared. */
	used = 99;
	assert_int_equal(tkm_framer_feed(&f, NULL, 0, &used, &frame, &len), 0);
	assert_int_equal(used, 0);
	assert_null(frame);
	assert_int_equal(len, 0);
	tkm_framer_cleanup(&f);
}

/* The largest frame a 2-byte LEN can announce, accepted and refused. */
static void
test_framer_limit(void **state)
{
	size_t n = 2 + TKM_WIRE_LIMIT, used, len;
	uint8_t *s = malloc(n);
	const uint8_t *frame;
	struct tkm_framer f;

	(void)state;
	assert_non_null(s);
	memset(s, 'A', n);
	s[0] = 0xff;
	s[1] = 0xff;
	assert_int_equal(tkm_framer_init(&f, TKM_WIRE_LIMIT, 8), TKM_OK);
	assert_int_equal(tkm_framer_feed(&f, s, n, &used, &frame, &len), 1);
	assert_int_equal(used, n);
	assert_int_equal(len, TKM_WIRE_LIMIT);
	tkm_framer_cleanup(&f);

	assert_int_equal(tkm_framer_init(&f, TKM_WIRE_DEFAULT_MAX, 8), TKM_OK);
	assert_int_equal(tkm_framer_feed(&f, s, 1000, &used, &frame, &len), 0);
	assert_int_equal(used, 1000);
	assert_int_equal(
	    tkm_framer_feed(&f, s + 1000, n - 1000, &used, &frame, &len),
	    TKM_ERR_FRAME_LEN);
	assert_int_equal(used, n - 1000);
	assert_int_equal(len, 8);
	assert_memory_equal(frame, "AAAAAAAA", 8);
	tkm_framer_cleanup(&f);
	free(s);
}

static void
test_framer_init_args(void **state)
{
	static const struct {
		size_t max, hdrlen;
		int rc;
	} t[] = {
	    {0, 8, TKM_ERR_INPUT},
	    {1, 8, TKM_OK},
	    {TKM_WIRE_LIMIT, 8, TKM_OK},
	    {TKM_WIRE_LIMIT + 1, 8, TKM_ERR_INPUT},
	    {100, TKM_WIRE_MAX_HDR, TKM_OK},
	    {100, TKM_WIRE_MAX_HDR + 1, TKM_ERR_INPUT},
	};
	struct tkm_framer f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(
		    tkm_framer_init(&f, t[i].max, t[i].hdrlen), t[i].rc);
		if (t[i].rc != TKM_OK)
			assert_null(f.buf);
		tkm_framer_cleanup(&f);
		tkm_framer_cleanup(&f); /* twice is harmless */
	}
}

/* --- request split ----------------------------------------------------- */

struct req_case {
	const char *name;
	struct bs frame;
	size_t hdrlen;
	int rc;
	size_t hdrlen_out;
	const char *cmd;
	struct bs body;
	struct bs trl; /* NONE: no trailer */
	struct bs raw;
};

#define T32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

static const struct req_case req_cases[] = {
    {"NC, 8-byte header", S("12345678NC"), 8, TKM_OK, 8, "NC", S(""), NONE,
	S("")},
    {"TE, 4-byte header", S("0000TE0008"), 4, TKM_OK, 4, "TE", S("0008"), NONE,
	S("0008")},
    {"no header", S("NC"), 0, TKM_OK, 0, "NC", S(""), NONE, S("")},
    {"trailer",
	S("12345678TE0008\x19"
	  "ABC"),
	8, TKM_OK, 8, "TE", S("0008"), S("ABC"),
	S("0008\x19"
	  "ABC")},
    {"trailer with spaces",
	S("12345678NC\x19"
	  " A B "),
	8, TKM_OK, 8, "NC", S(""), S(" A B "),
	S("\x19"
	  " A B ")},
    {"empty trailer", S("12345678NC\x19"), 8, TKM_OK, 8, "NC", S(""), S(""),
	S("\x19")},
    {"trailer of 32, the maximum", S("0000NC\x19" T32), 4, TKM_OK, 4, "NC",
	S(""), S(T32), S("\x19" T32)},
    {"trailer of 32 after a field", S("0000TE0008\x19" T32), 4, TKM_OK, 4, "TE",
	S("0008"), S(T32), S("0008\x19" T32)},
    {"DEL is not printable",
	S("0000NC\x19"
	  "A\x7f"),
	4, TKM_OK, 4, "NC",
	S("\x19"
	  "A\x7f"),
	NONE,
	S("\x19"
	  "A\x7f")},
    {"33 characters are not a trailer", S("0000NC\x19" T32 "6"), 4, TKM_OK, 4,
	"NC", S("\x19" T32 "6"), NONE, S("\x19" T32 "6")},
    {"binary after 0x19 is not a trailer", S("0000EP\x19\x01"), 4, TKM_OK, 4,
	"EP", S("\x19\x01"), NONE, S("\x19\x01")},
    {"the last 0x19 starts the trailer",
	S("0000NCA\x19"
	  "B\x19"
	  "C"),
	4, TKM_OK, 4, "NC",
	S("A\x19"
	  "B"),
	S("C"),
	S("A\x19"
	  "B\x19"
	  "C")},
    {"0x19 in the header is not a trailer", S("000\x19NC"), 4, TKM_OK, 4, "NC",
	S(""), NONE, S("")},
    {"shorter than the header", S("1234567"), 8, TKM_ERR_HEADER, 7, "", S(""),
	NONE, S("")},
    {"header without command", S("12345678N"), 8, TKM_ERR_HEADER, 8, "", S(""),
	NONE, S("")},
    {"empty frame", S(""), 8, TKM_ERR_HEADER, 0, "", S(""), NONE, S("")},
    {"command not printable", S("12345678N\x01"), 8, TKM_ERR_INPUT, 8, "",
	S(""), NONE, S("")},
};

static void
test_req_parse_table(void **state)
{
	struct tkm_req req;
	struct tkm_rd raw;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		const uint8_t *frame = (const uint8_t *)c->frame.p;

		print_message("%s\n", c->name);
		assert_int_equal(
		    tkm_req_parse(frame, c->frame.n, c->hdrlen, &req), c->rc);
		assert_ptr_equal(req.hdr, frame);
		assert_int_equal(req.hdrlen, c->hdrlen_out);
		assert_string_equal(req.cmd, c->cmd);
		assert_bytes(req.body.p, req.body.len, c->body);
		if (c->trl.p == NULL) {
			assert_null(req.trl);
			assert_int_equal(req.trllen, 0);
		} else {
			assert_non_null(req.trl);
			assert_bytes(req.trl, req.trllen, c->trl);
		}
		/* Consuming the body must not change the raw body. */
		assert_int_equal(
		    tkm_rd_bytes(&req.body, NULL, req.body.len), TKM_OK);
		raw = tkm_req_raw_body(&req);
		assert_bytes(raw.p, raw.len, c->raw);
	}
}

static void
test_resp_code(void **state)
{
	/* protocol.md §1: NC->ND, UB->UC, U1->U2, EI->EJ; §5: A0->A1. */
	static const char *t[][2] = {
	    {"NC", "ND"},
	    {"UB", "UC"},
	    {"U1", "U2"},
	    {"EI", "EJ"},
	    {"A0", "A1"},
	    {"TE", "TF"},
	};
	char out[3];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		tkm_resp_code(t[i][0], out);
		assert_string_equal(out, t[i][1]);
	}
}

/* --- response builder -------------------------------------------------- */

struct resp_case {
	const char *name;
	struct bs frame;
	size_t hdrlen;
	int parse_rc;
	int err;
	const char *fields;
	struct bs want;
};

static const struct resp_case resp_cases[] = {
    {"NC answered", S("12345678NC"), 8, TKM_OK, TKM_OK, "0123456789ABCDEF",
	S("\x00\x1c"
	  "12345678ND000123456789ABCDEF")},
    {"error code from the table", S("0000UBX"), 4, TKM_OK, TKM_ERR_VERIFY, "",
	S("\x00\x08"
	  "0000UC01")},
    {"trailer echoed",
	S("0000TE0001\x19"
	  "T1"),
	4, TKM_OK, TKM_OK, "AB",
	S("\x00\x0d"
	  "0000TF00AB\x19"
	  "T1")},
    {"short frame: partial header, placeholder code", S("1234"), 8,
	TKM_ERR_HEADER, TKM_ERR_HEADER, "",
	S("\x00\x08"
	  "1234ZZ51")},
    {"no such command", S("12345678QQ"), 8, TKM_OK, TKM_ERR_NO_CMD, "",
	S("\x00\x0c"
	  "12345678QR60")},
};

static void
test_resp_table(void **state)
{
	uint8_t buf[128];
	struct tkm_wr w;
	struct tkm_req req;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
		const struct resp_case *c = &resp_cases[i];

		print_message("%s\n", c->name);
		assert_int_equal(tkm_req_parse((const uint8_t *)c->frame.p,
				     c->frame.n, c->hdrlen, &req),
		    c->parse_rc);
		tkm_wr_init(&w, buf, sizeof(buf));
		tkm_resp_begin(&w, &req, c->err);
		tkm_wr_str(&w, c->fields);
		assert_int_equal(tkm_resp_end(&w, &req), TKM_OK);
		assert_bytes(buf, w.len, c->want);
	}
}

static void
test_resp_errors(void **state)
{
	static const uint8_t frame[] = "12345678NC\x19T";
	/* LEN + "12345678" "ND" "00" + 0x19 "T": 16 bytes, 14 after LEN. */
	enum { RESP = 16, AFTER_LEN = 14 };
	size_t big = 2 + TKM_WIRE_LIMIT + 1;
	uint8_t small[RESP - 1], *buf = malloc(big), *fill = calloc(1, big);
	struct tkm_req req;
	struct tkm_wr w;

	(void)state;
	assert_non_null(buf);
	assert_non_null(fill);
	assert_int_equal(
	    tkm_req_parse(frame, sizeof(frame) - 1, 8, &req), TKM_OK);

	/* One byte short: the trailer does not fit. */
	tkm_wr_init(&w, small, sizeof(small));
	tkm_resp_begin(&w, &req, TKM_OK);
	assert_int_equal(tkm_resp_end(&w, &req), TKM_ERR_SPACE);
	/* Not even the header fits. */
	tkm_wr_init(&w, small, 5);
	tkm_resp_begin(&w, &req, TKM_OK);
	assert_int_equal(tkm_resp_end(&w, &req), TKM_ERR_SPACE);

	/* LEN exactly 65535 fits; one byte more does not. */
	tkm_wr_init(&w, buf, big);
	tkm_resp_begin(&w, &req, TKM_OK);
	tkm_wr_bytes(&w, fill, TKM_WIRE_LIMIT - AFTER_LEN);
	assert_int_equal(tkm_resp_end(&w, &req), TKM_OK);
	assert_int_equal(w.len, 2 + TKM_WIRE_LIMIT);
	assert_int_equal(buf[0], 0xff);
	assert_int_equal(buf[1], 0xff);
	assert_memory_equal(buf + w.len - 2, "\x19T", 2);

	tkm_wr_init(&w, buf, big);
	tkm_resp_begin(&w, &req, TKM_OK);
	tkm_wr_bytes(&w, fill, TKM_WIRE_LIMIT - AFTER_LEN + 1);
	assert_int_equal(tkm_resp_end(&w, &req), TKM_ERR_SPACE);

	/* The response must start at offset 0, where LEN goes. */
	tkm_wr_init(&w, buf, big);
	tkm_wr_str(&w, "x");
	tkm_resp_begin(&w, &req, TKM_OK);
	assert_int_equal(tkm_resp_end(&w, &req), TKM_ERR_INTERNAL);
	free(fill);
	free(buf);
}

/* Nothing at all (a frame of LEN 0 has no bytes to point at). */
static void
test_req_null_frame(void **state)
{
	uint8_t buf[16];
	struct tkm_req req;
	struct tkm_wr w;

	(void)state;
	assert_int_equal(tkm_req_parse(NULL, 0, 8, &req), TKM_ERR_HEADER);
	assert_int_equal(req.hdrlen, 0);
	assert_int_equal(req.body.len, 0);
	assert_int_equal(tkm_req_raw_body(&req).len, 0);
	tkm_wr_init(&w, buf, sizeof(buf));
	tkm_resp_begin(&w, &req, TKM_ERR_HEADER);
	assert_int_equal(tkm_resp_end(&w, &req), TKM_OK);
	assert_bytes(buf, w.len, (struct bs)S("\x00\x04ZZ51"));
}

/* --- key references ---------------------------------------------------- */

#define H16 "0123456789ABCDEF"
#define B8  "\x01\x23\x45\x67\x89\xab\xcd\xef"

struct keyref_case {
	struct bs in;
	int rc;
	size_t consumed;
	int kind;
	unsigned index;
	char scheme;
	struct bs blob;
};

static const struct keyref_case keyref_cases[] = {
    /* K + 3H: index 000..FFF, either case of hex. */
    {S("K000"), TKM_OK, 4, TKM_KREF_INDEX, 0, 0, S("")},
    {S("KFFF"), TKM_OK, 4, TKM_KREF_INDEX, 0xfff, 0, S("")},
    {S("Kabc;"), TKM_OK, 4, TKM_KREF_INDEX, 0xabc, 0, S("")},
    {S("K12"), TKM_ERR_TRUNC},
    {S("K"), TKM_ERR_TRUNC},
    {S("K1G3"), TKM_ERR_HEX},
    {S("k001"), TKM_ERR_SCHEME},
    /* 16H: single DES under DK, no prefix. */
    {S(H16), TKM_OK, 16, TKM_KREF_LMK, 0, 'Z', S(B8)},
    {S("0123456789abcdef1"), TKM_OK, 16, TKM_KREF_LMK, 0, 'Z', S(B8)},
    {S("0123456789ABCDE"), TKM_ERR_TRUNC},
    {S("0123456789ABCDEG"), TKM_ERR_HEX},
    /* X / S + 32H, Y + 48H. */
    {S("X" H16 H16), TKM_OK, 33, TKM_KREF_LMK, 0, 'X', S(B8 B8)},
    {S("S" H16 H16 "0"), TKM_OK, 33, TKM_KREF_LMK, 0, 'S', S(B8 B8)},
    {S("Y" H16 H16 H16), TKM_OK, 49, TKM_KREF_LMK, 0, 'Y', S(B8 B8 B8)},
    {S("X" H16 "0123456789ABCDE"), TKM_ERR_TRUNC},
    {S("Y" H16 H16), TKM_ERR_TRUNC},
    {S("S"), TKM_ERR_TRUNC},
    {S("X" H16 "0123456789ABCDEx"), TKM_ERR_HEX},
    /* payShield's U/T schemes and anything else are not ours. */
    {S("U" H16 H16), TKM_ERR_SCHEME},
    {S("T" H16 H16 H16), TKM_ERR_SCHEME},
    {S("Z" H16), TKM_ERR_SCHEME},
    {S("\x00"), TKM_ERR_SCHEME},
    {S(""), TKM_ERR_TRUNC},
};

static void
test_keyref_table(void **state)
{
	static const struct tkm_keyref zero;
	struct tkm_keyref k;
	struct tkm_rd rd;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keyref_cases) / sizeof(keyref_cases[0]); i++) {
		const struct keyref_case *c = &keyref_cases[i];

		print_message("keyref %zu: %.*s\n", i, (int)c->in.n, c->in.p);
		rd = tkm_rd_of(c->in.p, c->in.n);
		memset(&k, 0x5a, sizeof(k));
		assert_int_equal(tkm_keyref_parse(&rd, &k), c->rc);
		if (c->rc != TKM_OK) {
			/* Nothing consumed, nothing left in out. */
			assert_ptr_equal(rd.p, c->in.p);
			assert_int_equal(rd.len, c->in.n);
			assert_memory_equal(&k, &zero, sizeof(k));
			continue;
		}
		assert_int_equal(c->in.n - rd.len, c->consumed);
		assert_ptr_equal(rd.p, c->in.p + c->consumed);
		assert_int_equal(k.kind, c->kind);
		assert_int_equal(k.index, c->index);
		assert_int_equal(k.scheme, c->scheme);
		assert_bytes(k.blob, k.bloblen, c->blob);
	}
}

struct asym_case {
	struct bs in;
	int rc;
	size_t consumed;
	unsigned index;
	size_t bloboff; /* offset of the blob in the input */
	size_t bloblen;
};

static const struct asym_case asym_cases[] = {
    {S("01"), TKM_OK, 2, 1},
    {S("20;"), TKM_OK, 2, 20},
    {S("00"), TKM_ERR_INDEX},
    {S("21"), TKM_ERR_INDEX},
    {S("98"), TKM_ERR_INDEX},
    {S("A1"), TKM_ERR_INDEX},
    {S("0"), TKM_ERR_TRUNC},
    {S(""), TKM_ERR_TRUNC},
    /* 99 + 4N length + that many bytes. */
    {S("990003ABC"), TKM_OK, 9, 99, 6, 3},
    {S("990002\x00\xff;01"), TKM_OK, 8, 99, 6, 2},
    {S("990003AB"), TKM_ERR_TRUNC},
    {S("99000"), TKM_ERR_TRUNC},
    {S("99"), TKM_ERR_TRUNC},
    {S("9900A3ABC"), TKM_ERR_INPUT},
    {S("990000"), TKM_ERR_ASYM_KEY},
};

static void
test_asymref_table(void **state)
{
	struct tkm_asymref a;
	struct tkm_rd rd;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(asym_cases) / sizeof(asym_cases[0]); i++) {
		const struct asym_case *c = &asym_cases[i];

		print_message("asymref %zu\n", i);
		rd = tkm_rd_of(c->in.p, c->in.n);
		memset(&a, 0x5a, sizeof(a));
		assert_int_equal(tkm_asymref_parse(&rd, &a), c->rc);
		if (c->rc != TKM_OK) {
			assert_ptr_equal(rd.p, c->in.p);
			assert_int_equal(rd.len, c->in.n);
			assert_int_equal(a.index, 0);
			assert_null(a.blob);
			assert_int_equal(a.bloblen, 0);
			continue;
		}
		assert_int_equal(c->in.n - rd.len, c->consumed);
		assert_int_equal(a.index, c->index);
		assert_int_equal(a.bloblen, c->bloblen);
		if (c->bloblen == 0)
			assert_null(a.blob);
		else
			assert_ptr_equal(a.blob, c->in.p + c->bloboff);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_framer_table),
	    cmocka_unit_test(test_framer_stops_at_frame_end),
	    cmocka_unit_test(test_framer_limit),
	    cmocka_unit_test(test_framer_init_args),
	    cmocka_unit_test(test_req_parse_table),
	    cmocka_unit_test(test_resp_code),
	    cmocka_unit_test(test_resp_table),
	    cmocka_unit_test(test_resp_errors),
	    cmocka_unit_test(test_req_null_frame),
	    cmocka_unit_test(test_keyref_table),
	    cmocka_unit_test(test_asymref_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
