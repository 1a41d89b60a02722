/*
 * wire.h - host-command framing (protocol.md §1) and key references (§2).
 *
 * Frame on the wire:
 *   OFFSET  SIZE   FIELD
 *   0       2      LEN, big-endian, bytes after LEN
 *   2       h      header, echoed (h per listener, default 8)
 *   2+h     2      command code (2 A)
 *   4+h     ...    fields
 *   ...     1+t    optional 0x19 and trailer (t <= 32 printable chars)
 *
 * Response: LEN | header | command with 2nd char + 1 | ERR (2 N) | fields
 * [| 0x19 | trailer echoed].
 */
#ifndef TKM_WIRE_H
#define TKM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define TKM_WIRE_MAX_HDR     32
#define TKM_WIRE_MAX_TRAILER 32
#define TKM_WIRE_DEFAULT_MAX 32768
#define TKM_WIRE_LIMIT       65535 /* what a 2-byte LEN can say */
#define TKM_WIRE_TRAILER_SEP 0x19

/*
 * Incremental frame reader. Bytes arrive in pieces of any size; the reader
 * keeps at most max + 2 bytes. A frame whose LEN exceeds max is not
 * buffered: its first hdrlen bytes are kept (so the caller can answer with
 * the client's header), the rest is skipped as it arrives, and the frame is
 * then reported as TKM_ERR_FRAME_LEN. The stream stays in step either way.
 */
struct tkm_framer {
	uint8_t *buf;
	size_t max;    /* largest accepted LEN */
	size_t hdrlen; /* header bytes kept of an oversized frame */
	size_t have;   /* bytes of the current frame in buf (incl. LEN) */
	size_t want;   /* LEN + 2 once known, else 0 */
	size_t skip;   /* oversized: bytes still to discard */
};

/* max in 1..TKM_WIRE_LIMIT, hdrlen <= TKM_WIRE_MAX_HDR. */
int tkm_framer_init(
    struct tkm_framer *f, size_t max, size_t hdrlen) TKM_MUST_CHECK;
void tkm_framer_cleanup(struct tkm_framer *f);

/*
 * Feed up to n bytes; *used tells how many were consumed (it stops at the
 * end of a frame so that pipelined frames stay with the caller). Returns
 *   1                  a whole frame: *frame, *len = bytes after LEN
 *   0                  all input consumed, frame not complete yet
 *   TKM_ERR_FRAME_LEN  an oversized frame ended: *frame, *len = the kept
 *                      header bytes (fewer if the frame was shorter)
 * *frame stays valid until the next call.
 */
int tkm_framer_feed(struct tkm_framer *f, const uint8_t *p, size_t n,
    size_t *used, const uint8_t **frame, size_t *len) TKM_MUST_CHECK;

/* A parsed request; pointers refer into the frame. */
struct tkm_req {
	const uint8_t *hdr;
	size_t hdrlen;
	char cmd[3];        /* NUL-terminated */
	struct tkm_rd body; /* fields, trailer removed */
	const uint8_t *trl; /* trailer without 0x19, NULL if none */
	size_t trllen;
};

/*
 * Split a frame (bytes after LEN). TKM_ERR_HEADER when shorter than
 * hdrlen + 2 (req->hdr still points at what there is, for the answer),
 * TKM_ERR_INPUT when the command code is not two printable characters.
 * The trailer is recognised as the last 0x19 among the final 33 bytes when
 * every byte after it is printable ASCII; a command whose last field is
 * binary can ask for the untouched body with tkm_req_raw_body().
 */
int tkm_req_parse(const uint8_t *frame, size_t len, size_t hdrlen,
    struct tkm_req *req) TKM_MUST_CHECK;
struct tkm_rd tkm_req_raw_body(const struct tkm_req *req);

/* Response code of a command: second character + 1 ("NC" -> "ND"). */
void tkm_resp_code(const char cmd[2], char out[3]);

/*
 * Response builder. begin writes a LEN placeholder, the header, the
 * response code and err (a tkm_err, mapped by tkm_err_wire); the caller
 * then writes fields into w; end echoes the trailer and patches LEN.
 * end returns the writer's first error, or TKM_ERR_SPACE above 65535.
 */
void tkm_resp_begin(struct tkm_wr *w, const struct tkm_req *req, int err);
int tkm_resp_end(struct tkm_wr *w, const struct tkm_req *req) TKM_MUST_CHECK;

/*
 * Symmetric key reference (protocol.md §2):
 *   K + 3H   stored at index 000..FFF     kind TKM_KREF_INDEX
 *   16H      single DES under DK          kind TKM_KREF_LMK, scheme 'Z'
 *   X + 32H  double DES under DK          scheme 'X'
 *   Y + 48H  triple DES under DK          scheme 'Y'
 *   S + 32H  SM4 under DK                 scheme 'S'
 */
enum tkm_kref_kind { TKM_KREF_INDEX = 1, TKM_KREF_LMK = 2 };
struct tkm_keyref {
	int kind;
	unsigned index; /* TKM_KREF_INDEX */
	char scheme;    /* TKM_KREF_LMK: 'Z', 'X', 'Y' or 'S' */
	uint8_t blob[24];
	size_t bloblen;
};
int tkm_keyref_parse(struct tkm_rd *rd, struct tkm_keyref *out) TKM_MUST_CHECK;

/*
 * Asymmetric key reference: 2N index 01..20, or 99 followed by a 4N length
 * and that many bytes (a DK-protected blob, or a public key where the
 * command says so). blob points into the reader's input.
 */
#define TKM_ASYM_MAX_INDEX 20
#define TKM_ASYM_IN_MSG    99
struct tkm_asymref {
	unsigned index;
	const uint8_t *blob;
	size_t bloblen;
};
int tkm_asymref_parse(
    struct tkm_rd *rd, struct tkm_asymref *out) TKM_MUST_CHECK;

#endif
