/*
 * dispatch.c - from a request frame to a response frame: parse, find the
 * command, check whitelist and state once, run the handler, count the
 * maintenance licences of a licensed command (licence.h), answer.
 * Refusals by whitelist, IP whitelist, state or licence are audited
 * (audit.h, rate-limited there).
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "audit.h"
#include "cmd.h"
#include "keys.h"
#include "server.h"

/* Start over with an error answer (the handler's fields are dropped). */
static void
answer_error(struct tkm_wr *out, const struct tkm_req *req, int err)
{
	int rc;

	out->len = 0;
	out->err = TKM_OK;
	tkm_resp_begin(out, req, err);
	/* An error answer is header + 4 bytes + trailer: it always fits the
	 * writer the server gives (cmd.h), so rc can only be TKM_OK. */
	rc = tkm_resp_end(out, req);
	(void)rc;
}

void
hsm_answer_error(const struct hsm_listener_cfg *l, const uint8_t *frame,
    size_t len, int err, struct tkm_wr *out)
{
	struct tkm_req req;
	int rc;

	/* Even a frame too short to parse leaves req usable for an answer. */
	rc = tkm_req_parse(frame, len, l->hdrlen, &req);
	(void)rc;
	answer_error(out, &req, err);
}

int
hsm_authorised(struct hsm_state *st)
{
	return atomic_load(&st->authorised) != 0 ||
	       (long long)time(NULL) < atomic_load(&st->authorised_until);
}

const struct hsm_listener_cfg *
hsm_listener_live(struct hsm_state *st, const struct hsm_listener_cfg *l)
{
	uintptr_t p = (uintptr_t)l, base;
	struct hsm_wl *wl;
	size_t i;

	/* Integer compare: a test's own listener is outside the array. */
	if (st->cfg == NULL)
		return l;
	base = (uintptr_t)st->cfg->listeners;
	if (p < base || p >= base + sizeof(st->cfg->listeners))
		return l;
	i = (p - base) / sizeof(*l);
	wl = atomic_load(&st->wl[i]);
	return wl != NULL ? &wl->l : l;
}

void
hsm_wl_reset(struct hsm_state *st)
{
	struct hsm_wl *wl, *tail;
	size_t i;

	for (i = 0; i < HSM_MAX_LISTENERS; i++) {
		if ((wl = atomic_exchange(&st->wl[i], NULL)) == NULL)
			continue;
		/* Workers read only ->l of a published copy; ->older is
		 * the management thread's (and cleanup's). */
		for (tail = wl; tail->older != NULL; tail = tail->older)
			;
		tail->older = st->wl_dropped;
		st->wl_dropped = wl;
	}
}

static void
wl_free_chain(struct hsm_wl *wl)
{
	struct hsm_wl *older;

	for (; wl != NULL; wl = older) {
		older = wl->older;
		free(wl);
	}
}

void
hsm_state_cleanup(struct hsm_state *st)
{
	size_t i;

	for (i = 0; i < HSM_MAX_LISTENERS; i++)
		wl_free_chain(atomic_exchange(&st->wl[i], NULL));
	wl_free_chain(st->wl_dropped);
	st->wl_dropped = NULL;
}

/* Audit a refused command; a failing audit must not stop the answer.
 * Between hsm_worker_enter() and leave: w->dk is held. */
static void
audit_refusal(struct hsm_worker *w, const char *code, int err)
{
	struct hsm_state *st = w->st;

	if (st->audit == NULL)
		return;
	if (hsm_audit_refusal(st->audit, w->dk, w->peer, code, err) != TKM_OK)
		hsm_log("audit: cannot record a refused %s", code);
}

void
hsm_refuse(struct hsm_worker *w, const struct hsm_listener_cfg *l,
    const uint8_t *frame, size_t len, int err, struct tkm_wr *out)
{
	struct tkm_req req;
	int rc;

	rc = tkm_req_parse(frame, len, l->hdrlen, &req);
	(void)rc;
	(void)hsm_worker_enter(w); /* the audit MACs with DK */
	audit_refusal(w, req.cmd, err);
	hsm_worker_leave(w);
	answer_error(out, &req, err);
}

/* The checks every command passes before its handler. */
static int
admit(struct hsm_worker *w, const struct hsm_listener_cfg *l,
    const struct hsm_cmd *cmd, const char *code)
{
	if (cmd == NULL)
		return TKM_ERR_NO_CMD;
	if (!hsm_listener_allows_cmd(hsm_listener_live(w->st, l), code))
		return TKM_ERR_WHITELIST;
	if ((cmd->flags & HSM_F_DK) && hsm_worker_ks(w) == NULL)
		return TKM_ERR_SEALED;
	if ((cmd->flags & HSM_F_AUTH) && !hsm_authorised(w->st))
		return TKM_ERR_NOT_AUTH;
	return TKM_OK;
}

/*
 * A licensed command's handler succeeded and its answer is complete: one
 * use of each stored key it read, committed before the answer goes out
 * (licence.h), all or none. A refusal (A1, A2) is audited; a licence store
 * that cannot be read or written refuses too (TKM_ERR_IO), because an
 * answer that was not counted would be a use no licence allowed.
 */
static int
count_uses(
    struct hsm_worker *w, const struct hsm_cmd_ctx *ctx, const char *code)
{
	struct hsm_lic *lic;
	int64_t now;
	int rc;

	if (ctx->over)
		return TKM_ERR_INTERNAL; /* a key we could not note */
	if (ctx->nused == 0)
		return TKM_OK;
	if ((lic = hsm_worker_lic(w)) == NULL)
		return TKM_ERR_IO;
	now = (int64_t)time(NULL) + atomic_load(&w->st->time_offset);
	rc = hsm_lic_use_keys(lic, code, ctx->used, ctx->nused, now);
	if (rc == TKM_ERR_LIC_EXHAUSTED || rc == TKM_ERR_LIC_EXPIRED)
		audit_refusal(w, code, rc);
	else if (rc != TKM_OK)
		hsm_log("licence store: %s", tkm_strerror(rc));
	return rc;
}

static void
dispatch(struct hsm_worker *w, const struct hsm_listener_cfg *l,
    const uint8_t *frame, size_t len, struct tkm_wr *out)
{
	struct hsm_cmd_ctx ctx = {w, l, NULL};
	const struct hsm_cmd *cmd;
	struct tkm_req req;
	struct tkm_rd body;
	int rc;

	rc = tkm_req_parse(frame, len, l->hdrlen, &req);
	if (rc != TKM_OK) {
		answer_error(out, &req, rc);
		return;
	}
	cmd = hsm_cmd_find(req.cmd);
	if ((rc = admit(w, l, cmd, req.cmd)) != TKM_OK) {
		/* An unknown code is not a refused command: not audited. */
		if (rc != TKM_ERR_NO_CMD)
			audit_refusal(w, req.cmd, rc);
		answer_error(out, &req, rc);
		return;
	}
	body = req.body;
	if (cmd->flags & HSM_F_RAW) {
		/* A binary last field may look like a trailer: keep it. */
		body = tkm_req_raw_body(&req);
		req.trl = NULL;
		req.trllen = 0;
	}
	ctx.req = &req;
	tkm_resp_begin(out, &req, TKM_OK);
	rc = cmd->fn(&ctx, &body, out);
	hsm_keys_wipe(w->keys);
	if (rc == TKM_OK)
		rc = tkm_resp_end(out, &req);
	/* Counted last: once counted, this answer is the one given. */
	if (rc == TKM_OK && (cmd->flags & HSM_F_LICENSED))
		rc = count_uses(w, &ctx, req.cmd);
	if (rc != TKM_OK)
		answer_error(out, &req, rc);
}

void
hsm_dispatch(struct hsm_worker *w, const struct hsm_listener_cfg *l,
    const uint8_t *frame, size_t len, struct tkm_wr *out)
{
	/* DK, if there is one, stays alive until leave (hsm.h): the
	 * handlers, the key store and the audit use w->dk meanwhile. */
	(void)hsm_worker_enter(w);
	dispatch(w, l, frame, len, out);
	hsm_worker_leave(w);
}
