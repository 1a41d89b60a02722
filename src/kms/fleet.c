/*
 * fleet.c - the KMS's HSMs (fleet.h, docs/kms-flows.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ksay.h"
#include "fleet.h"
#include "mprobe.h"
#include "tkm/mem.h"
#include "tkm/net.h"
#include "tkm/wire.h"

#define RESP_CAP 4096 /* the longest answer the KMS reads (NC, A0, A6, A8) */

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

/* Copy a column into a fixed buffer; "" for NULL. */
static void
col(struct kdb_rows *r, int i, char *dst, size_t cap)
{
	const char *s = kdb_text(r, i);

	snprintf(dst, cap, "%s", s != NULL ? s : "");
}

/* --- rows ---------------------------------------------------------------- */

#define HSM_COLS                                                               \
	"id, name, role, city_id, host, port, header_len, mgmt_host,"          \
	" mgmt_port, serial, dk_kcv, health, last_nc, state, authorised"

static void
read_row(struct kdb_rows *r, struct kms_hsm *h)
{
	memset(h, 0, sizeof(*h));
	h->id = kdb_int(r, 0);
	col(r, 1, h->name, sizeof(h->name));
	col(r, 2, h->role, sizeof(h->role));
	h->city_id = kdb_int(r, 3);
	col(r, 4, h->host, sizeof(h->host));
	h->port = (unsigned)kdb_int(r, 5);
	h->header_len = (unsigned)kdb_int(r, 6);
	col(r, 7, h->mgmt_host, sizeof(h->mgmt_host));
	h->mgmt_port = (unsigned)kdb_int(r, 8);
	col(r, 9, h->serial, sizeof(h->serial));
	col(r, 10, h->dk_kcv, sizeof(h->dk_kcv));
	col(r, 11, h->health, sizeof(h->health));
	h->last_nc = kdb_int(r, 12);
	col(r, 13, h->state, sizeof(h->state));
	h->authorised = kdb_isnull(r, 14) ? -1 : (int)kdb_int(r, 14);
}

int
kms_fleet_add(struct kdb *db, const struct kms_hsm *h, int64_t *id, char *why,
    size_t why_len)
{
	static const char *const roles[] = {
	    "root", "provincial_business", "clearing", "city", "standby"};
	int needs_city, rc;
	size_t i;

	*id = 0;
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(h->role, roles[i]) == 0)
			break;
	if (i == sizeof(roles) / sizeof(roles[0])) {
		kms_say(why, why_len, "unknown HSM role '%s'", h->role);
		return TKM_ERR_INPUT;
	}
	/* A business or city HSM serves one city: the index plan leaves the
	 * city out of their indexes (docs/kms-schema.md). */
	needs_city = strcmp(h->role, "provincial_business") == 0 ||
		     strcmp(h->role, "city") == 0;
	if (needs_city != (h->city_id != 0)) {
		kms_say(why, why_len, "%s HSM %s a city", h->role,
		    needs_city ? "needs" : "takes no");
		return TKM_ERR_INPUT;
	}
	if (h->name[0] == '\0' || h->host[0] == '\0' || h->port == 0 ||
	    h->port > 65535 || h->header_len > TKM_WIRE_MAX_HDR ||
	    h->mgmt_port > 65535) {
		kms_say(why, why_len,
		    "an HSM needs a name, a host, a port 1..65535 and a"
		    " header length 0..%d",
		    TKM_WIRE_MAX_HDR);
		return TKM_ERR_INPUT;
	}
	rc = kdb_int1(db, id,
	    "INSERT INTO hsms (name, role, city_id, host, port, header_len,"
	    " mgmt_host, mgmt_port, serial, created)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
	    KDB_TEXT(h->name), KDB_TEXT(h->role),
	    h->city_id != 0 ? KDB_INT(h->city_id) : KDB_NULL, KDB_TEXT(h->host),
	    KDB_INT(h->port), KDB_INT(h->header_len),
	    KDB_TEXT(h->mgmt_host[0] != '\0' ? h->mgmt_host : NULL),
	    h->mgmt_port != 0 ? KDB_INT(h->mgmt_port) : KDB_NULL,
	    KDB_TEXT(h->serial[0] != '\0' ? h->serial : NULL),
	    KDB_INT(now_s()));
	if (rc == TKM_ERR_INPUT && kdb_fail(db) == KDB_FAIL_UNIQUE)
		kms_say(why, why_len, "an HSM named '%s' or at %s:%u exists",
		    h->name, h->host, h->port);
	else if (rc != TKM_OK)
		kms_say(why, why_len, "adding HSM '%s': %s", h->name,
		    kdb_errmsg(db));
	return rc;
}

int
kms_fleet_get(
    struct kdb *db, int64_t id, struct kms_hsm *out, char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = kdb_query(
	    db, &r, "SELECT " HSM_COLS " FROM hsms WHERE id = $1", KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		read_row(r, out);
		rc = TKM_OK;
	} else if (rc == 0) {
		kms_say(why, why_len, "no HSM %lld", (long long)id);
		rc = TKM_ERR_NO_KEY;
	} else {
		kms_say(why, why_len, "reading HSM %lld: %s", (long long)id,
		    kdb_errmsg(db));
	}
	kdb_rows_free(r);
	return rc;
}

int
kms_fleet_list(
    struct kdb *db, struct kms_hsm **out, size_t *n, char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	struct kms_hsm *v = NULL, *t;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = kdb_query(db, &r, "SELECT " HSM_COLS " FROM hsms ORDER BY id");
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			if ((t = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = TKM_ERR_NOMEM;
				break;
			}
			v = t;
		}
		read_row(r, &v[(*n)++]);
		rc = TKM_OK;
	}
	kdb_rows_free(r);
	if (rc != 0) {
		kms_say(why, why_len, "listing HSMs: %s",
		    rc == TKM_ERR_NOMEM ? "out of memory" : kdb_errmsg(db));
		free(v);
		*n = 0;
		return rc < 0 ? rc : TKM_ERR_INTERNAL;
	}
	*out = v;
	return TKM_OK;
}

/* --- host commands ------------------------------------------------------- */

int
kms_link_verify(struct kms_link *l, char *why, size_t why_len)
{
	static const char zero[] = "0000000000000000";
	char resp[64];
	size_t n;
	int rc;

	/* NC goes through kms_link_cmd: mark first, or it would recurse. */
	l->verified = 1;
	rc = kms_link_cmd(l, "NC", resp, sizeof(resp), &n, NULL, why, why_len);
	l->verified = 0;
	if (rc != TKM_OK)
		return rc;
	if (n != KMS_KCV_HEX + KMS_FIRMWARE_LEN) {
		kms_say(why, why_len, "HSM '%s' answered NC with %zu bytes",
		    l->hsm.name, n);
		return TKM_ERR_INPUT;
	}
	if (memcmp(resp, zero, KMS_KCV_HEX) == 0) {
		kms_say(why, why_len,
		    "HSM '%s' is sealed: NC answers with no DK", l->hsm.name);
		return TKM_ERR_SEALED;
	}
	if (l->hsm.dk_kcv[0] != '\0' &&
	    memcmp(resp, l->hsm.dk_kcv, KMS_KCV_HEX) != 0) {
		kms_say(why, why_len,
		    "HSM '%s': the device at %s:%u answers with DK KCV %.16s,"
		    " the KMS recorded %s: another device or another DK;"
		    " nothing was sent to it",
		    l->hsm.name, l->hsm.host, l->hsm.port, resp, l->hsm.dk_kcv);
		return TKM_ERR_VERIFY;
	}
	l->verified = 1;
	return TKM_OK;
}

int
kms_err_unreachable(int err)
{
	return err == TKM_ERR_IO || err == TKM_ERR_TIMEOUT ||
	       err == TKM_ERR_CLOSED;
}

int
kms_link_open(struct kms_link *l, const struct kms_hsm *h, int timeout_ms)
{
	memset(l, 0, sizeof(*l));
	l->hsm = *h;
	return tkm_client_new(h->host, h->port, h->header_len,
	    timeout_ms > 0 ? timeout_ms : KMS_HSM_TIMEOUT_MS, &l->c);
}

void
kms_link_close(struct kms_link *l)
{
	tkm_client_free(l->c);
	l->c = NULL;
}

/* The wire code's cause: the first row of err.c with that code, which is
 * the general one where several share it (15: TKM_ERR_INPUT, 41:
 * TKM_ERR_INTERNAL). */
static int
wire_err(const char code[2])
{
	int e;

	for (e = TKM_ERR_VERIFY; e > TKM_ERR__LAST; e--)
		if (memcmp(tkm_err_wire(e), code, 2) == 0)
			return e;
	return TKM_ERR_INTERNAL;
}

static void
explain(const struct kms_hsm *h, const char *cmd, const char code[3], int err,
    char *why, size_t why_len)
{
	switch (err) {
	case TKM_ERR_SEALED:
		kms_say(why, why_len,
		    "HSM '%s' is sealed (ERR 13 to %.2s): its DK components"
		    " must be loaded first",
		    h->name, cmd);
		break;
	case TKM_ERR_NOT_AUTH:
		kms_say(why, why_len,
		    "HSM '%s' is not in the authorised state (ERR 17 to %.2s):"
		    " its security administrators must open it for key"
		    " management",
		    h->name, cmd);
		break;
	case TKM_ERR_WHITELIST:
		kms_say(why, why_len,
		    "HSM '%s' refuses %.2s: not on the whitelist of the"
		    " listener %s:%u (ERR 68)",
		    h->name, cmd, h->host, h->port);
		break;
	case TKM_ERR_IP:
		kms_say(why, why_len,
		    "HSM '%s' refuses %.2s: this KMS's address is not on its"
		    " IP whitelist (ERR 69)",
		    h->name, cmd);
		break;
	default:
		kms_say(why, why_len, "HSM '%s' answered %.2s with ERR %s (%s)",
		    h->name, cmd, code, tkm_strerror(err));
	}
}

int
kms_link_cmd(struct kms_link *l, const char *req, char *resp, size_t cap,
    size_t *rlen, char err_code[3], char *why, size_t why_len)
{
	uint8_t *buf;
	size_t len = strlen(req), n = 0;
	char code[3] = "";
	int rc;

	*rlen = 0;
	if (cap > 0)
		resp[0] = '\0';
	if (err_code != NULL)
		err_code[0] = '\0';
	if (len < 2 || cap == 0)
		return TKM_ERR_INTERNAL;
	if (!l->verified && (rc = kms_link_verify(l, why, why_len)) != TKM_OK)
		return rc;
	/* Answers can carry keys under TK or DK: keep them in locked memory
	 * and wipe them. */
	if ((buf = tkm_secure_alloc(RESP_CAP)) == NULL)
		return TKM_ERR_NOMEM;
	rc = tkm_client_call(
	    l->c, (const uint8_t *)req, len, buf, RESP_CAP - 1, &n);
	if (rc != TKM_OK) {
		kms_say(why, why_len,
		    "HSM '%s' at %s:%u is unreachable (%.2s: %s)", l->hsm.name,
		    l->hsm.host, l->hsm.port, req, tkm_strerror(rc));
		goto out;
	}
	if (n < 4 || buf[0] != (uint8_t)req[0] ||
	    buf[1] != (uint8_t)(req[1] + 1)) {
		kms_say(why, why_len,
		    "HSM '%s' answered %.2s with a malformed"
		    " response",
		    l->hsm.name, req);
		rc = TKM_ERR_INPUT;
		goto out;
	}
	memcpy(code, buf + 2, 2);
	if (err_code != NULL)
		memcpy(err_code, code, 3);
	if (memcmp(code, "00", 2) != 0) {
		rc = wire_err(code);
		explain(&l->hsm, req, code, rc, why, why_len);
		goto out;
	}
	if (n - 4 >= cap) {
		rc = TKM_ERR_SPACE;
		goto out;
	}
	memcpy(resp, buf + 4, n - 4);
	resp[n - 4] = '\0';
	*rlen = n - 4;
out:
	tkm_secure_free(buf, RESP_CAP);
	return rc;
}

/* --- health -------------------------------------------------------------- */

static int
record_health(struct kdb *db, int64_t id, const char *health,
    const char *dk_kcv, int64_t last_nc, int authorised)
{
	/* dk_kcv and last_nc NULL keep the recorded values. */
	return kdb_exec(db,
	    "UPDATE hsms SET health = $1, dk_kcv = COALESCE($2, dk_kcv),"
	    " last_nc = COALESCE($3, last_nc), authorised = $4 WHERE id = $5",
	    KDB_TEXT(health), KDB_TEXT(dk_kcv),
	    last_nc != 0 ? KDB_INT(last_nc) : KDB_NULL,
	    authorised >= 0 ? KDB_INT(authorised) : KDB_NULL, KDB_INT(id));
}

/* The authorised state from the management port, -1 when unknown. */
static int
probe_authorised(const struct kms_hsm *h, int timeout_ms)
{
	struct kms_mstatus st;

	if (h->mgmt_port == 0 || h->mgmt_host[0] == '\0' ||
	    kms_mprobe_status(h->mgmt_host, h->mgmt_port, timeout_ms, &st) !=
		TKM_OK)
		return -1;
	return st.authorised;
}

int
kms_fleet_check(struct kdb *db, int64_t id, int timeout_ms,
    struct kms_health *out, char *why, size_t why_len)
{
	static const char zero[] = "0000000000000000";
	struct kms_link l;
	struct kms_hsm h;
	char resp[64];
	const char *health = "error";
	const char *kcv = NULL;
	size_t n;
	int64_t t0;
	int rc, rc2;

	memset(out, 0, sizeof(*out));
	out->authorised = -1;
	if ((rc = kms_fleet_get(db, id, &h, why, why_len)) != TKM_OK)
		return rc;
	if ((rc = kms_link_open(&l, &h, timeout_ms)) != TKM_OK) {
		kms_say(why, why_len, "HSM '%s': %s", h.name, tkm_strerror(rc));
		return rc;
	}
	t0 = tkm_mono_ms();
	l.verified = 1; /* this NC is the check: it compares below */
	rc = kms_link_cmd(&l, "NC", resp, sizeof(resp), &n, NULL, why, why_len);
	out->latency_ms = (unsigned)(tkm_mono_ms() - t0);
	kms_link_close(&l);
	if (kms_err_unreachable(rc)) {
		health = "unreachable";
	} else if (rc == TKM_OK) {
		/* ND00 | DK KCV 16H | firmware 9A (protocol.md, NC). */
		if (n != KMS_KCV_HEX + KMS_FIRMWARE_LEN) {
			kms_say(why, why_len,
			    "HSM '%s' answered NC with %zu bytes", h.name, n);
			rc = TKM_ERR_INPUT;
		} else {
			memcpy(out->dk_kcv, resp, KMS_KCV_HEX);
			memcpy(out->firmware, resp + KMS_KCV_HEX,
			    KMS_FIRMWARE_LEN);
			out->last_nc = now_s();
			if (strcmp(out->dk_kcv, zero) == 0) {
				health = "sealed";
				rc = TKM_ERR_SEALED;
				kms_say(why, why_len,
				    "HSM '%s' is sealed: NC answers with no DK"
				    " (firmware %s)",
				    h.name, out->firmware);
			} else if (h.dk_kcv[0] != '\0' &&
				   strcmp(h.dk_kcv, out->dk_kcv) != 0) {
				rc = TKM_ERR_VERIFY;
				kms_say(why, why_len,
				    "HSM '%s' answers with DK KCV %s, recorded"
				    " %s: another device or another DK is at"
				    " %s:%u",
				    h.name, out->dk_kcv, h.dk_kcv, h.host,
				    h.port);
			} else {
				health = "ok";
				kcv = out->dk_kcv;
			}
		}
	}
	snprintf(out->health, sizeof(out->health), "%s", health);
	if (!kms_err_unreachable(rc))
		out->authorised = probe_authorised(&h, timeout_ms);
	rc2 =
	    record_health(db, h.id, health, kcv, out->last_nc, out->authorised);
	if (rc2 != TKM_OK) {
		kms_say(why, why_len, "recording the health of HSM '%s': %s",
		    h.name, kdb_errmsg(db));
		return rc2;
	}
	return rc;
}
