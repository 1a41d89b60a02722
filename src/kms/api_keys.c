/*
 * api_keys.c - routes and proposal kinds of the key flows (docs/api.md
 * "HSMs", "Key templates", "Keys", "Records"): HSMs, templates, root
 * keys, issued keys, the destruction check and the work forms. The kinds
 * (hsm.add ... key.destroy) are in kinds_keys.c.
 *
 * Everything here reads, but for two routes that record what an HSM
 * answered: POST /api/hsms/{id}/check (NC) and POST
 * /api/root-keys/{id}/confirm-destroy (BU); neither changes a key, so
 * neither needs a proposal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_impl.h"
#include "fleet.h"
#include "kinds_keys.h"
#include "lifecycle.h"
#include "proposal.h"
#include "records.h"

#define ISSUED_LIST_MAX 5000

static void
db_error(struct kms_ctx *c)
{
	kms_resp_error(c->resp, 500, "database error");
}

/* 1 if s is one of the NULL-terminated list. */
static int
one_of(const char *s, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

static json_t *
int_or_null(struct kdb_rows *r, int col)
{
	return kdb_isnull(r, col) ? json_null()
				  : json_integer((json_int_t)kdb_int(r, col));
}

/*
 * Rows of a query into an array under name: the answer, or 500. build
 * makes one element (NULL: out of memory). The query is already run.
 */
static void
answer_rows(struct kms_ctx *c, struct kdb_rows *r, int rc, const char *name,
    json_t *(*build)(struct kdb_rows *r))
{
	json_t *arr = json_array(), *row;

	if (arr == NULL || rc != TKM_OK)
		goto fail;
	while ((rc = kdb_next(r)) == 1) {
		row = build(r);
		if (row == NULL || json_array_append_new(arr, row) != 0)
			goto fail;
	}
	if (rc < 0)
		goto fail;
	kdb_rows_free(r);
	kms_api_answer(c, 200, json_pack("{s:o}", name, arr));
	return;
fail:
	kdb_rows_free(r);
	json_decref(arr);
	db_error(c);
}

/* --- HSMs ---------------------------------------------------------------- */

#define HSM_SQL                                                                \
	"SELECT h.id, h.name, h.role, h.city_id, c.name, c.city_code,"         \
	" h.host, h.port, h.header_len, h.mgmt_host, h.mgmt_port, h.serial,"   \
	" h.dk_kcv, h.health, h.last_nc, h.state, h.authorised FROM hsms h"    \
	" LEFT JOIN institutions c ON c.id = h.city_id"

static json_t *
hsm_row(struct kdb_rows *r)
{
	return json_pack("{s:I, s:s?, s:s?, s:o, s:s?, s:s?, s:s?, s:I, s:I,"
			 " s:s?, s:o, s:s?, s:s?, s:s?, s:o, s:s?, s:o}",
	    "id", (json_int_t)kdb_int(r, 0), "name", kdb_text(r, 1), "role",
	    kdb_text(r, 2), "city_id", int_or_null(r, 3), "city",
	    kdb_text(r, 4), "city_code", kdb_text(r, 5), "host", kdb_text(r, 6),
	    "port", (json_int_t)kdb_int(r, 7), "header_len",
	    (json_int_t)kdb_int(r, 8), "mgmt_host", kdb_text(r, 9), "mgmt_port",
	    int_or_null(r, 10), "serial", kdb_text(r, 11), "dk_kcv",
	    kdb_text(r, 12), "health", kdb_text(r, 13), "last_nc",
	    int_or_null(r, 14), "state", kdb_text(r, 15), "authorised",
	    kdb_isnull(r, 16) ? json_null() : json_boolean(kdb_int(r, 16)));
}

/* H of one HSM; TKM_ERR_NO_KEY when there is none. */
static int
hsm_json(struct kdb *db, int64_t id, json_t **out)
{
	struct kdb_rows *r = NULL;
	int rc;

	*out = NULL;
	rc = kdb_query(db, &r, HSM_SQL " WHERE h.id = $1", KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1)
		rc = (*out = hsm_row(r)) != NULL ? TKM_OK : TKM_ERR_NOMEM;
	else if (rc == 0)
		rc = TKM_ERR_NO_KEY;
	kdb_rows_free(r);
	return rc;
}

static void
r_hsms(struct kms_ctx *c)
{
	struct kdb_rows *r = NULL;
	int rc = kdb_query(c->db, &r, HSM_SQL " ORDER BY h.id");

	answer_rows(c, r, rc, "hsms", hsm_row);
}

static void
r_hsm(struct kms_ctx *c)
{
	json_t *h;
	int rc = hsm_json(c->db, c->id, &h);

	if (rc != TKM_OK) {
		kms_api_error(
		    c, rc, rc == TKM_ERR_NO_KEY ? "no such HSM" : NULL, 0);
		return;
	}
	kms_api_answer(c, 200, h);
}

/* NC now. An HSM that does not answer well is not an error of the
 * request: 200 with ok false and what to do. */
static void
r_hsm_check(struct kms_ctx *c)
{
	struct kms_health hl;
	char why[KMS_WHY] = "";
	json_t *h = NULL;
	int rc;

	if ((rc = hsm_json(c->db, c->id, &h)) != TKM_OK) {
		kms_api_error(
		    c, rc, rc == TKM_ERR_NO_KEY ? "no such HSM" : NULL, 0);
		return;
	}
	json_decref(h);
	rc = kms_fleet_check(c->db, c->id, 0, &hl, why, sizeof(why));
	if (hl.health[0] == '\0') {
		/* Nothing recorded: the database failed, not the HSM. */
		kms_log("hsm check %lld: %s", (long long)c->id, why);
		db_error(c);
		return;
	}
	if (hsm_json(c->db, c->id, &h) != TKM_OK) {
		db_error(c);
		return;
	}
	kms_api_audit(c, c->user.name, "hsm.check",
	    json_pack("{s:I, s:O?, s:b, s:s}", "id", (json_int_t)c->id, "name",
		json_object_get(h, "name"), "ok", rc == TKM_OK, "health",
		hl.health));
	kms_api_answer(c, 200,
	    json_pack("{s:o, s:b, s:s, s:s?, s:s?, s:I, s:s?}", "hsm", h, "ok",
		rc == TKM_OK, "health", hl.health, "dk_kcv",
		hl.dk_kcv[0] != '\0' ? hl.dk_kcv : NULL, "firmware",
		hl.firmware[0] != '\0' ? hl.firmware : NULL, "latency_ms",
		(json_int_t)hl.latency_ms, "message",
		rc != TKM_OK ? why : NULL));
}

/* --- templates ----------------------------------------------------------- */

static json_t *
template_row(struct kdb_rows *r)
{
	return json_pack("{s:I, s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I,"
			 " s:s?, s:I}",
	    "id", (json_int_t)kdb_int(r, 0), "seq", (json_int_t)kdb_int(r, 1),
	    "name", kdb_text(r, 2), "name_zh", kdb_text(r, 3), "description",
	    kdb_text(r, 4), "category", kdb_text(r, 5), "type_code",
	    kdb_text(r, 6), "des_index", (json_int_t)kdb_int(r, 7), "sm4_index",
	    (json_int_t)kdb_int(r, 8), "factor_rule", kdb_text(r, 9),
	    "clearing", (json_int_t)kdb_int(r, 10));
}

static void
r_templates(struct kms_ctx *c)
{
	struct kdb_rows *r = NULL;
	int rc = kdb_query(c->db, &r,
	    "SELECT id, seq, name, name_zh, description, category,"
	    " type_code, des_index, sm4_index, factor_rule, clearing"
	    " FROM key_templates ORDER BY seq");

	answer_rows(c, r, rc, "templates", template_row);
}

/* --- root keys ----------------------------------------------------------- */

static const char *const root_states[] = {
    "planned", "active", "archived", "compromised", "destroyed", NULL};
static const char *const algs[] = {"DES", "SM4", NULL};

static void
r_root_keys(struct kms_ctx *c)
{
	const char *st = kms_req_arg(c->req, "state"),
		   *tn = kms_req_arg(c->req, "template"),
		   *alg = kms_req_arg(c->req, "alg");
	struct kdb_rows *r = NULL;
	int rc;

	if ((st != NULL && !one_of(st, root_states)) ||
	    (alg != NULL && !one_of(alg, algs))) {
		kms_resp_error(c->resp, 400,
		    "state: planned, active, archived, compromised or"
		    " destroyed; alg: DES or SM4");
		return;
	}
	/* '' stands for "any": the parameters stay typed on PostgreSQL. */
	rc = kdb_query(c->db, &r,
	    KMS_KEYS_ROOT_SQL " WHERE ($1 = '' OR k.state = $1)"
			      " AND ($2 = '' OR t.name = $2)"
			      " AND ($3 = '' OR k.alg = $3)"
			      " ORDER BY t.seq, k.alg, k.version",
	    KDB_TEXT(st != NULL ? st : ""), KDB_TEXT(tn != NULL ? tn : ""),
	    KDB_TEXT(alg != NULL ? alg : ""));
	answer_rows(c, r, rc, "root_keys", kms_keys_root_row);
}

static json_t *
event_row(struct kdb_rows *r)
{
	return json_pack("{s:I, s:s?, s:s?, s:o, s:s?}", "time",
	    (json_int_t)kdb_int(r, 0), "kind", kdb_text(r, 1), "actor",
	    kdb_text(r, 2), "proposal_id", int_or_null(r, 3), "reason",
	    kdb_text(r, 4));
}

static void
r_root_key(struct kms_ctx *c)
{
	struct kdb_rows *r = NULL;
	json_t *k, *ev = json_array(), *e;
	int rc;

	if ((rc = kms_keys_root_json(c->db, c->id, &k)) != TKM_OK) {
		json_decref(ev);
		kms_api_error(
		    c, rc, rc == TKM_ERR_NO_KEY ? "no such root key" : NULL, 0);
		return;
	}
	if (ev == NULL || json_object_set_new(k, "events", ev) != 0)
		goto fail;
	rc = kdb_query(c->db, &r,
	    "SELECT time, kind, actor, proposal_id, reason FROM key_events"
	    " WHERE root_key_id = $1 ORDER BY time, id",
	    KDB_INT(c->id));
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		if ((e = event_row(r)) == NULL ||
		    json_array_append_new(ev, e) != 0)
			goto fail;
		rc = TKM_OK;
	}
	if (rc < 0)
		goto fail;
	kdb_rows_free(r);
	kms_api_answer(c, 200, k);
	return;
fail:
	kdb_rows_free(r);
	json_decref(k);
	db_error(c);
}

static void
r_plan(struct kms_ctx *c)
{
	struct kms_lc_plan p;
	char why[KMS_WHY];
	json_t *out = NULL;
	int rc;

	if ((rc = kms_keys_root_json(c->db, c->id, &out)) != TKM_OK) {
		kms_api_error(
		    c, rc, rc == TKM_ERR_NO_KEY ? "no such root key" : NULL, 0);
		return;
	}
	json_decref(out);
	if ((rc = kms_lc_plan(c->db, c->id, &p, why, sizeof(why))) != TKM_OK) {
		kms_log("plan %lld: %s", (long long)c->id, why);
		db_error(c);
		return;
	}
	rc = kms_keys_plan_json(c->db, &p, &out);
	kms_lc_plan_free(&p);
	if (rc != TKM_OK) {
		db_error(c);
		return;
	}
	kms_api_answer(c, 200, out);
}

/*
 * What was asked to be destroyed. Without a request there is nothing;
 * with one, kms_lc_destroy_request returns the rows it wrote before and
 * writes nothing (lifecycle.h: "again: the same rows"), which gives each
 * row its command as the request printed it.
 */
static void
r_destruction(struct kms_ctx *c)
{
	struct kms_lc_destroy d;
	char why[KMS_WHY];
	json_t *k = NULL;
	int64_t n;
	int rc;

	memset(&d, 0, sizeof(d));
	if ((rc = kms_keys_root_json(c->db, c->id, &k)) != TKM_OK) {
		kms_api_error(
		    c, rc, rc == TKM_ERR_NO_KEY ? "no such root key" : NULL, 0);
		return;
	}
	json_decref(k);
	if ((rc = kdb_int1(c->db, &n,
		 "SELECT COUNT(*) FROM key_destructions WHERE root_key_id = $1",
		 KDB_INT(c->id))) != TKM_OK) {
		db_error(c);
		return;
	}
	if (n > 0 && (rc = kms_lc_destroy_request(c->db, c->id, c->user.name, 0,
			  &d, why, sizeof(why))) != TKM_OK) {
		kms_log("destruction %lld: %s", (long long)c->id, why);
		db_error(c);
		return;
	}
	kms_api_answer(c, 200, kms_keys_destroy_json(c->id, &d, 0));
	kms_lc_destroy_free(&d);
}

/* BU at every HSM with a pending deletion: facts the HSMs report, not a
 * decision (that was key.destroy), hence no proposal. */
static void
r_confirm(struct kms_ctx *c)
{
	struct kms_lc_destroy d;
	char why[KMS_WHY] = "";
	json_t *k = NULL;
	int rc;

	memset(&d, 0, sizeof(d));
	if ((rc = kms_keys_root_json(c->db, c->id, &k)) != TKM_OK) {
		kms_api_error(
		    c, rc, rc == TKM_ERR_NO_KEY ? "no such root key" : NULL, 0);
		return;
	}
	json_decref(k);
	rc = kms_lc_destroy_confirm(
	    c->db, c->id, c->user.name, 0, NULL, &d, why, sizeof(why));
	if (rc == TKM_ERR_INPUT) {
		kms_api_error(c, rc, why, 409);
		return;
	}
	if (rc != TKM_OK) {
		kms_log("confirm-destroy %lld: %s", (long long)c->id, why);
		kms_lc_destroy_free(&d);
		db_error(c);
		return;
	}
	kms_api_audit(c, c->user.name, "key.destroy.confirm",
	    json_pack("{s:I, s:I, s:I, s:b}", "root_key_id", (json_int_t)c->id,
		"pending", (json_int_t)d.pending, "destroyed",
		(json_int_t)d.destroyed, "root_destroyed", d.root_destroyed));
	kms_api_answer(c, 200, kms_keys_destroy_json(c->id, &d, 1));
	kms_lc_destroy_free(&d);
}

/* --- issued keys --------------------------------------------------------- */

static const char *const issued_states[] = {"pending", "active", "archived",
    "compromised", "destroyed", "failed", NULL};

static json_t *
issued_row(struct kdb_rows *r)
{
	char ix[8];

	kms_keys_index((unsigned)kdb_int(r, 14), ix);
	return json_pack("{s:I, s:I, s:s?, s:s?, s:I, s:I, s:s?, s:s?, s:I,"
			 " s:s?, s:s?, s:I, s:s, s:s?, s:s?, s:I, s:I}",
	    "id", (json_int_t)kdb_int(r, 0), "root_key_id",
	    (json_int_t)kdb_int(r, 1), "template", kdb_text(r, 2), "alg",
	    kdb_text(r, 3), "version", (json_int_t)kdb_int(r, 4), "city_id",
	    (json_int_t)kdb_int(r, 5), "city", kdb_text(r, 6), "city_code",
	    kdb_text(r, 7), "hsm_id", (json_int_t)kdb_int(r, 8), "hsm",
	    kdb_text(r, 9), "hsm_role", kdb_text(r, 10), "idx",
	    (json_int_t)kdb_int(r, 14), "index", ix, "kcv", kdb_text(r, 11),
	    "state", kdb_text(r, 12), "created", (json_int_t)kdb_int(r, 13),
	    "changed", (json_int_t)kdb_int(r, 15));
}

static void
r_issued(struct kms_ctx *c)
{
	const char *city = kms_req_arg(c->req, "city"),
		   *st = kms_req_arg(c->req, "state");
	int64_t hsm = kms_api_arg_num(c, "hsm", 0, 1, INT64_MAX),
		rk = kms_api_arg_num(c, "root_key", 0, 1, INT64_MAX);
	struct kdb_rows *r = NULL;
	int rc;

	if (hsm < 0 || rk < 0 || (st != NULL && !one_of(st, issued_states))) {
		kms_resp_error(c->resp, 400,
		    "hsm, root_key: ids; state: pending, active, archived,"
		    " compromised, destroyed or failed; city: a city code");
		return;
	}
	rc = kdb_query(c->db, &r,
	    "SELECT i.id, i.root_key_id, t.name, i.alg, i.version, i.city_id,"
	    " c.name, c.city_code, i.hsm_id, h.name, h.role, i.kcv, i.state,"
	    " i.created, i.idx, i.changed FROM issued_keys i"
	    " JOIN root_keys k ON k.id = i.root_key_id"
	    " JOIN key_templates t ON t.id = k.template_id"
	    " JOIN institutions c ON c.id = i.city_id"
	    " JOIN hsms h ON h.id = i.hsm_id"
	    " WHERE ($1 = '' OR c.city_code = $1) AND ($2 = 0 OR i.hsm_id = $2)"
	    " AND ($3 = 0 OR i.root_key_id = $3) AND ($4 = '' OR i.state = $4)"
	    " ORDER BY c.seq, i.hsm_id, t.seq, i.alg, i.version LIMIT $5",
	    KDB_TEXT(city != NULL ? city : ""), KDB_INT(hsm), KDB_INT(rk),
	    KDB_TEXT(st != NULL ? st : ""), KDB_INT(ISSUED_LIST_MAX));
	answer_rows(c, r, rc, "issued_keys", issued_row);
}

/* --- records ------------------------------------------------------------- */

/* The kind in /api/records/<kind>/#[/sign], checked against records.h. */
static int
record_kind(struct kms_ctx *c, char kind[16])
{
	const char *p = c->req->path + strlen("/api/records/");
	size_t n = strcspn(p, "/");

	if (n == 0 || n >= 16) {
		kms_resp_error(c->resp, 404, "no such record kind");
		return -1;
	}
	memcpy(kind, p, n);
	kind[n] = '\0';
	if (kms_rec_title(kind) == NULL) {
		kms_resp_error(c->resp, 404, "no such record kind");
		return -1;
	}
	return 0;
}

/* The sign-offs of a record, and whether each is of its current text. */
static json_t *
signoffs_json(struct kdb *db, const char *kind, int64_t id)
{
	char now[KMS_REC_SM3_HEX + 1];
	struct kdb_rows *r = NULL;
	json_t *arr = json_array(), *row;
	int rc;

	if (arr == NULL)
		return NULL;
	if (kms_rec_digest(db, kind, id, now, NULL, 0) != TKM_OK)
		now[0] = '\0';
	rc = kdb_query(db, &r,
	    "SELECT r.id, u.name, r.signed, r.sm3 FROM records r"
	    " JOIN users u ON u.id = r.signed_by WHERE r.kind = $1"
	    " AND r.root_key_id = $2 ORDER BY r.id",
	    KDB_TEXT(kind), KDB_INT(id));
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		row = json_pack("{s:I, s:s?, s:I, s:s?, s:b}", "id",
		    (json_int_t)kdb_int(r, 0), "by", kdb_text(r, 1), "time",
		    (json_int_t)kdb_int(r, 2), "sm3", kdb_text(r, 3), "current",
		    kdb_text(r, 3) != NULL && strcmp(kdb_text(r, 3), now) == 0);
		if (row == NULL || json_array_append_new(arr, row) != 0)
			rc = TKM_ERR_NOMEM;
	}
	kdb_rows_free(r);
	if (rc < 0) {
		kms_log("sign-offs: %s", kdb_errmsg(db));
		json_decref(arr);
		return NULL;
	}
	return arr;
}

static void
r_record(struct kms_ctx *c)
{
	const char *fmt = kms_req_arg(c->req, "format");
	struct kms_rec_opts o = {KMS_REC_HTML, 0, 1};
	char why[KMS_WHY] = "", *doc = NULL, kind[16];
	char hex[KMS_REC_SM3_HEX + 1];
	json_t *k, *so;
	int rc;

	if (record_kind(c, kind) != 0)
		return;
	if (fmt != NULL && strcmp(fmt, "md") == 0)
		o.fmt = KMS_REC_MD;
	else if (fmt != NULL && strcmp(fmt, "html") != 0) {
		kms_resp_error(c->resp, 400, "format: md or html");
		return;
	}
	if ((rc = kms_keys_root_json(c->db, c->id, &k)) != TKM_OK) {
		kms_api_error(
		    c, rc, rc == TKM_ERR_NO_KEY ? "no such root key" : NULL, 0);
		return;
	}
	json_decref(k);
	if ((rc = kms_rec_render(
		 c->db, kind, c->id, &o, &doc, why, sizeof(why))) != TKM_OK ||
	    (rc = kms_rec_digest(c->db, kind, c->id, hex, why, sizeof(why))) !=
		TKM_OK ||
	    (so = signoffs_json(c->db, kind, c->id)) == NULL) {
		kms_log("record %s %lld: %s", kind, (long long)c->id, why);
		free(doc);
		db_error(c);
		return;
	}
	kms_api_audit(c, c->user.name, "record.export",
	    json_pack("{s:s, s:I, s:s}", "kind", kind, "root_key_id",
		(json_int_t)c->id, "format",
		o.fmt == KMS_REC_MD ? "md" : "html"));
	kms_api_answer(c, 200,
	    json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:o}", "kind", kind,
		"root_key_id", (json_int_t)c->id, "format",
		o.fmt == KMS_REC_MD ? "md" : "html", "title",
		kms_rec_title(kind), "document", doc, "sm3", hex, "sign_offs",
		so));
	free(doc);
}

/* A supervisor signs off the record as it is (records.h kms_rec_sign). */
static void
r_record_sign(struct kms_ctx *c)
{
	char why[KMS_WHY] = "", kind[16], hex[KMS_REC_SM3_HEX + 1];
	const char *seen;
	int64_t id;
	json_t *k;
	int rc;

	if (record_kind(c, kind) != 0)
		return;
	/* What the supervisor read: a sign-off covers that text only. */
	seen = json_string_value(json_object_get(c->req->body, "sm3"));
	if (json_object_size(c->req->body) != 1 || seen == NULL ||
	    strlen(seen) != KMS_REC_SM3_HEX) {
		kms_resp_error(c->resp, 400,
		    "body: {\"sm3\": the record's \"sm3\" as it was read}");
		return;
	}
	if ((rc = kms_keys_root_json(c->db, c->id, &k)) != TKM_OK) {
		kms_api_error(
		    c, rc, rc == TKM_ERR_NO_KEY ? "no such root key" : NULL, 0);
		return;
	}
	json_decref(k);
	rc = kms_rec_sign(c->db, c->now, kind, c->id, c->user.id, seen, &id,
	    hex, why, sizeof(why));
	if (rc == TKM_ERR_INPUT || rc == TKM_ERR_VERIFY) {
		kms_resp_error(c->resp, 409, why);
		return;
	}
	if (rc != TKM_OK) {
		kms_log("record sign %s %lld: %s", kind, (long long)c->id, why);
		db_error(c);
		return;
	}
	kms_api_audit(c, c->user.name, "record.sign",
	    json_pack("{s:s, s:I, s:s}", "kind", kind, "root_key_id",
		(json_int_t)c->id, "sm3", hex));
	kms_api_answer(c, 201,
	    json_pack("{s:I, s:s, s:I, s:s, s:s, s:I}", "id", (json_int_t)id,
		"kind", kind, "root_key_id", (json_int_t)c->id, "sm3", hex,
		"signed_by", c->user.name, "signed", (json_int_t)c->now));
}

/* --- the table ----------------------------------------------------------- */

#define CHECKERS                                                               \
	(KMS_ROLE_CONFIGURATOR | KMS_ROLE_KEY_MANAGER | KMS_ROLE_SUPERVISOR)
#define CONFIRMERS (KMS_ROLE_KEY_MANAGER | KMS_ROLE_SUPERVISOR)

const struct kms_route kms_routes_keys[] = {
    {"GET", "/api/hsms", KMS_ROLE_ANY, 0, r_hsms},
    {"GET", "/api/hsms/#", KMS_ROLE_ANY, 0, r_hsm},
    {"POST", "/api/hsms/#/check", CHECKERS, 0, r_hsm_check, 1},
    {"GET", "/api/templates", KMS_ROLE_ANY, 0, r_templates},
    {"GET", "/api/root-keys", KMS_ROLE_ANY, 0, r_root_keys},
    {"GET", "/api/root-keys/#", KMS_ROLE_ANY, 0, r_root_key},
    {"GET", "/api/root-keys/#/plan", KMS_ROLE_ANY, 0, r_plan},
    {"GET", "/api/root-keys/#/destruction", KMS_ROLE_ANY, 0, r_destruction},
    {"POST", "/api/root-keys/#/confirm-destroy", CONFIRMERS, 0, r_confirm, 1},
    {"GET", "/api/issued-keys", KMS_ROLE_ANY, 0, r_issued},
    {"GET", "/api/records/generation/#", KMS_ROLE_ANY, 0, r_record},
    {"GET", "/api/records/distribution/#", KMS_ROLE_ANY, 0, r_record},
    {"GET", "/api/records/destruction/#", KMS_ROLE_ANY, 0, r_record},
    {"GET", "/api/records/compromise/#", KMS_ROLE_ANY, 0, r_record},
    {"POST", "/api/records/generation/#/sign", KMS_ROLE_SUPERVISOR, 1,
	r_record_sign},
    {"POST", "/api/records/distribution/#/sign", KMS_ROLE_SUPERVISOR, 1,
	r_record_sign},
    {"POST", "/api/records/destruction/#/sign", KMS_ROLE_SUPERVISOR, 1,
	r_record_sign},
    {"POST", "/api/records/compromise/#/sign", KMS_ROLE_SUPERVISOR, 1,
	r_record_sign},
};
const size_t kms_routes_keys_n =
    sizeof(kms_routes_keys) / sizeof(kms_routes_keys[0]);

/* kms_api_init may run more than once in a process (tests): the kinds
 * go into the table once. */
int
kms_keys_kinds_register(void)
{
	static int done;
	int rc;

	if (done)
		return TKM_OK;
	if ((rc = kms_kinds_register(kms_kinds_keys, kms_kinds_keys_n)) ==
	    TKM_OK)
		done = 1;
	return rc;
}
