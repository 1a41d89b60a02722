/*
 * cmd.h - host commands: the handler contract, the command table and the
 * dispatcher (protocol.md §4-§5).
 *
 * The dispatcher (dispatch.c) parses the frame, finds the command's row,
 * and checks, once and before any handler runs: the listener's command and
 * IP whitelists, that DK is available, the authorised state. Then the
 * handler reads its fields from in and writes the response fields (after
 * ERR) to out. A handler returns TKM_OK, or a cause: the dispatcher then
 * discards what the handler wrote and answers with the cause's wire code.
 * Key slots (keys.h) are wiped by the dispatcher after every command.
 * For a command flagged HSM_F_LICENSED that succeeded, the dispatcher
 * then counts one use of each stored key the handler read (licence.h)
 * and answers A1/A2 instead if a licence refuses.
 */
#ifndef HSM_CMD_H
#define HSM_CMD_H

#include "config.h"
#include "hsm.h"
#include "licence.h"
#include "tkm/buf.h"
#include "tkm/wire.h"

struct hsm_cmd_ctx {
	struct hsm_worker *w;
	const struct hsm_listener_cfg *l;
	const struct tkm_req *req;
	/* The stored keys the handler read (keys.c fills this in), each
	 * once: the dispatcher counts a licensed command's uses of them
	 * (licence.h). over: more than fit, so the list is not all. */
	size_t nused;
	int over;
	struct hsm_lic_key used[HSM_LIC_KEYS];
};

typedef int hsm_cmd_fn(
    struct hsm_cmd_ctx *c, struct tkm_rd *in, struct tkm_wr *out);

enum hsm_cmd_flag {
	HSM_F_DK = 1,       /* needs DK (else ERR 13) */
	HSM_F_AUTH = 2,     /* needs the authorised state (else ERR 17) */
	HSM_F_LICENSED = 4, /* counted by maintenance licences (DESIGN §7) */
	HSM_F_RAW = 8,      /* binary last field: no trailer split */
};

struct hsm_cmd {
	const char *code;
	hsm_cmd_fn *fn;
	unsigned flags;
};

const struct hsm_cmd *hsm_cmd_find(const char *code);

/* A whole request frame (bytes after LEN) in, a whole response frame (with
 * LEN) out. Always produces a response unless out is too small for even
 * an error answer, which cannot happen with a writer of at least
 * TKM_WIRE_MAX_HDR + 64 bytes. */
void hsm_dispatch(struct hsm_worker *w, const struct hsm_listener_cfg *l,
    const uint8_t *frame, size_t len, struct tkm_wr *out);

/* An error answer to a frame that gets no handler (oversized frame,
 * refused source address). */
void hsm_answer_error(const struct hsm_listener_cfg *l, const uint8_t *frame,
    size_t len, int err, struct tkm_wr *out);

/* The same for a frame refused before dispatch (source address not on the
 * IP whitelist): audited, as the dispatcher audits its refusals. */
void hsm_refuse(struct hsm_worker *w, const struct hsm_listener_cfg *l,
    const uint8_t *frame, size_t len, int err, struct tkm_wr *out);

/* Handlers, one family per file (cmd_<family>.c). */
hsm_cmd_fn cmd_nc, cmd_te, cmd_bu;                 /* cmd_misc.c */
hsm_cmd_fn cmd_a0, cmd_a6, cmd_a8, cmd_ne;         /* cmd_keys.c */
hsm_cmd_fn cmd_ub;                                 /* cmd_mac.c */
hsm_cmd_fn cmd_kw, cmd_g1;                         /* cmd_emv.c */
hsm_cmd_fn cmd_u1, cmd_u3, cmd_uy;                 /* cmd_data.c */
hsm_cmd_fn cmd_ei, cmd_ej, cmd_eh, cmd_ek;         /* cmd_asym.c */
hsm_cmd_fn cmd_ep, cmd_er, cmd_ew, cmd_ey, cmd_gm; /* cmd_asym.c */

#endif
