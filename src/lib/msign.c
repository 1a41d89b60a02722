/*
 * msign.c - EJ and EW at the root HSM for maintenance updates (msign.h,
 * docs/maintenance.md; the commands' layouts: docs/protocol.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/maint.h"
#include "tkm/msign.h"

#define RESP_CAP 512 /* EK: 4 + 64 bytes; EX: 8 + 64 bytes */

static void say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || why_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

void
tkm_maint_fingerprint(
    const uint8_t pub[TKM_SM2_PUB_LEN], char out[TKM_MAINT_FP_HEX + 1])
{
	uint8_t h[32];

	if (tkm_hash(TKM_SM3, pub, TKM_SM2_PUB_LEN, h) != TKM_OK)
		memset(h, 0, sizeof(h));
	tkm_hex_encode(h, TKM_MAINT_FP_HEX / 2, out);
}

/* The cause of an ERR code: the first row of err.c with that code (the
 * general one where several share it). Never a transport cause: those
 * share 41 with TKM_ERR_INTERNAL, which comes first. */
static int
wire_cause(const uint8_t code[2])
{
	int e;

	for (e = TKM_ERR_VERIFY; e > TKM_ERR__LAST; e--)
		if (memcmp(tkm_err_wire(e), code, 2) == 0)
			return e;
	return TKM_ERR_INTERNAL;
}

/* One exchange; a client failure is one of the three transport causes. */
static int
call(struct tkm_client *c, const uint8_t *req, size_t len, uint8_t *resp,
    size_t *rlen, char *why, size_t why_len)
{
	int rc = tkm_client_call(c, req, len, resp, RESP_CAP, rlen);

	if (rc == TKM_OK)
		return TKM_OK;
	say(why, why_len, "%s", tkm_strerror(rc));
	return rc == TKM_ERR_TIMEOUT || rc == TKM_ERR_CLOSED ? rc : TKM_ERR_IO;
}

/* The answer's response code and ERR "00"; else why and the cause. */
static int
answer_ok(const uint8_t *resp, size_t rlen, const char *code, const char *cmd,
    char *why, size_t why_len)
{
	if (rlen < 4 || memcmp(resp, code, 2) != 0) {
		say(why, why_len,
		    "the root HSM answered %s with something other than %s",
		    cmd, code);
		return TKM_ERR_INPUT;
	}
	if (memcmp(resp + 2, "00", 2) == 0)
		return TKM_OK;
	say(why, why_len, "the root HSM refused %s: ERR %.2s%s", cmd, resp + 2,
	    memcmp(resp + 2, "12", 2) == 0
		? " (no key at that index: --key-index)"
	    : memcmp(resp + 2, "17", 2) == 0
		? " (the root HSM is not in the authorised state: its "
		  "security admin opens it with tkms hsm auth open)"
	    : memcmp(resp + 2, "68", 2) == 0
		? " (not on the listener's command whitelist)"
	    : memcmp(resp + 2, "13", 2) == 0 ? " (the HSM is sealed)"
					     : "");
	return wire_cause(resp + 2);
}

int
tkm_maint_root_pub(struct tkm_client *c, unsigned key_index,
    uint8_t pub[TKM_SM2_PUB_LEN], char *why, size_t why_len)
{
	uint8_t req[16], resp[RESP_CAP];
	size_t rlen;
	int n, rc;

	memset(pub, 0, TKM_SM2_PUB_LEN);
	if (key_index < 1 || key_index > 20) {
		say(why, why_len, "key index %u: 1 to 20", key_index);
		return TKM_ERR_INDEX;
	}
	/* EJ | algorithm S | key 2N (docs/protocol.md). */
	n = snprintf((char *)req, sizeof(req), "EJS%02u", key_index);
	if ((rc = call(c, req, (size_t)n, resp, &rlen, why, why_len)) !=
		TKM_OK ||
	    (rc = answer_ok(resp, rlen, "EK", "EJ", why, why_len)) != TKM_OK)
		return rc;
	if (rlen != 4 + TKM_SM2_PUB_LEN) {
		say(why, why_len,
		    "the key at index %02u of the root HSM is not an SM2 key "
		    "pair",
		    key_index);
		return TKM_ERR_ASYM_KEY;
	}
	memcpy(pub, resp + 4, TKM_SM2_PUB_LEN);
	return TKM_OK;
}

/* EW: the signature (r || s) of data by the pair at key_index. */
static int
ew(struct tkm_client *c, unsigned key_index, const char *data, size_t len,
    uint8_t sig[TKM_SM2_SIG_LEN], char *why, size_t why_len)
{
	uint8_t *req, resp[RESP_CAP];
	struct tkm_wr w;
	size_t rlen, cap = len + 32;
	int rc;

	if (len > TKM_MAINT_SIGNED_MAX) {
		say(why, why_len,
		    "the update's signed part is %zu bytes, EW takes %d", len,
		    TKM_MAINT_SIGNED_MAX);
		return TKM_ERR_DATA_LEN;
	}
	if ((req = malloc(cap)) == NULL) {
		say(why, why_len, "%s", tkm_strerror(TKM_ERR_NOMEM));
		return TKM_ERR_NOMEM;
	}
	/* EW | hash 20 (SM3) | algorithm 07 (SM2) | ID 0000 (GM/T 0009's
	 * default) | data 4N + B | ; | key 2N. */
	tkm_wr_init(&w, req, cap);
	tkm_wr_str(&w, "EW2007");
	tkm_wr_num(&w, 0, 4);
	tkm_wr_num(&w, len, 4);
	tkm_wr_bytes(&w, data, len);
	tkm_wr_str(&w, ";");
	tkm_wr_num(&w, key_index, 2);
	if ((rc = tkm_wr_error(&w)) != TKM_OK)
		say(why, why_len, "%s", tkm_strerror(rc));
	else
		rc = call(c, req, w.len, resp, &rlen, why, why_len);
	free(req);
	if (rc != TKM_OK ||
	    (rc = answer_ok(resp, rlen, "EX", "EW", why, why_len)) != TKM_OK)
		return rc;
	/* EX00 | sig len 4N | r || s. */
	if (rlen != 8 + TKM_SM2_SIG_LEN || memcmp(resp + 4, "0064", 4) != 0) {
		say(why, why_len,
		    "the root HSM's signature is not an SM2 signature");
		return TKM_ERR_INPUT;
	}
	memcpy(sig, resp + 8, TKM_SM2_SIG_LEN);
	return TKM_OK;
}

int
tkm_maint_root_sign(struct tkm_client *c, unsigned key_index,
    const uint8_t pub[TKM_SM2_PUB_LEN], char *file, size_t cap, size_t *len,
    char *why, size_t why_len)
{
	uint8_t sig[TKM_SM2_SIG_LEN];
	size_t n = *len;
	int rc;

	if (key_index < 1 || key_index > 20) {
		say(why, why_len, "key index %u: 1 to 20", key_index);
		return TKM_ERR_INDEX;
	}
	if ((rc = ew(c, key_index, file, *len, sig, why, why_len)) != TKM_OK)
		return rc;
	if (tkm_maint_verify(file, *len, pub, sig) != TKM_OK) {
		say(why, why_len,
		    "the root HSM's signature does not verify: nothing "
		    "written");
		return TKM_ERR_VERIFY;
	}
	if ((rc = tkm_maint_sig_append(file, cap, &n, sig)) != TKM_OK) {
		say(why, why_len, "no room for the signature line");
		return rc;
	}
	*len = n;
	return TKM_OK;
}
