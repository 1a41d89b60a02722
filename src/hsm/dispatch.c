/*
 * dispatch.c - from a request frame to a response frame: parse, find the
 * command, check whitelist and state once, run the handler, answer.
 */
#include "cmd.h"
#include "keys.h"

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

/* The checks every command passes before its handler. */
static int
admit(struct hsm_worker *w, const struct hsm_listener_cfg *l,
    const struct hsm_cmd *cmd, const char *code)
{
	if (cmd == NULL)
		return TKM_ERR_NO_CMD;
	if (!hsm_listener_allows_cmd(l, code))
		return TKM_ERR_WHITELIST;
	if ((cmd->flags & HSM_F_DK) && w->st->dk == NULL)
		return TKM_ERR_SEALED;
	if ((cmd->flags & HSM_F_AUTH) && !atomic_load(&w->st->authorised))
		return TKM_ERR_NOT_AUTH;
	return TKM_OK;
}

void
hsm_dispatch(struct hsm_worker *w, const struct hsm_listener_cfg *l,
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
	if (rc != TKM_OK)
		answer_error(out, &req, rc);
}
