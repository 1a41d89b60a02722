/*
 * api.c - the routes of tkms-kmsd (api.h, docs/api.md).
 *
 * One row per route: method, path, the roles that may call it (0: no
 * session needed) and the handler. Session and role are checked once,
 * here, before any handler runs; a path that exists with another method
 * answers 405, an unknown one 404.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_impl.h"
#include "auth.h"
#include "kaudit.h"
#include "kdb.h"
#include "proposal.h"
#include "tkm/mem.h"

/* --- answers ------------------------------------------------------------- */

/* The status of a failure: the function's own, else from the cause. */
void
kms_api_error(struct kms_ctx *c, int rc, const char *why, int http)
{
	int status = http;

	if (status == 0) {
		switch (rc) {
		case TKM_ERR_PERMISSION:
			status = 403;
			break;
		case TKM_ERR_NO_KEY:
			status = 404;
			break;
		case TKM_ERR_INPUT:
			status = 400;
			break;
		case TKM_ERR_IO:
			/* A storage fault names itself ("kms.db: disk
			 * full (...)"); other database texts may quote
			 * rows. */
			status = 500;
			why = kdb_cause(c->db) != NULL ? kdb_cause(c->db)
						       : "database error";
			break;
		default:
			status = tkm_err_http(rc);
		}
	}
	kms_resp_error(c->resp, status, why != NULL ? why : tkm_strerror(rc));
}

void
kms_api_answer(struct kms_ctx *c, int status, json_t *body)
{
	if (body == NULL) {
		kms_resp_error(c->resp, 500, "out of memory");
		return;
	}
	c->resp->status = status;
	c->resp->body = body;
}

/* A query argument as a number in [lo, hi], else def; -1 on garbage. */
int64_t
kms_api_arg_num(
    struct kms_ctx *c, const char *name, int64_t def, int64_t lo, int64_t hi)
{
	const char *s = kms_req_arg(c->req, name);
	char *end;
	long long v;

	if (s == NULL)
		return def;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

/* --- sessions ------------------------------------------------------------ */

void
kms_api_audit(
    struct kms_ctx *c, const char *actor, const char *action, json_t *d)
{
	if (kms_audit_append(c->db, c->now, actor, action, d) != TKM_OK)
		kms_log(
		    "audit: cannot append %s: %s", action, kdb_errmsg(c->db));
	json_decref(d);
}

static void
r_login(struct kms_ctx *c)
{
	const char *name, *pw, *why = NULL, *lwhy = NULL;
	char token[KMS_TOKEN_LEN + 1];
	struct kms_user u;
	int rc;

	name = json_string_value(json_object_get(c->req->body, "name"));
	pw = json_string_value(json_object_get(c->req->body, "password"));
	if (name == NULL || pw == NULL) {
		kms_resp_error(
		    c->resp, 400, "body: {\"name\": ..., \"password\": ...}");
		return;
	}
	rc = kms_login(c->db, c->now, c->api->idle, name, pw, token, &u, &lwhy);
	if (rc != TKM_OK) {
		/* Names that are not user names are not written down:
		 * someone may have typed a password into that field. */
		kms_api_audit(c, kms_user_name_ok(name, &why) ? name : "?",
		    "login.failed",
		    json_pack("{s:s, s:s}", "peer", c->req->peer, "reason",
			rc == TKM_ERR_VERIFY       ? "credentials"
			: rc == TKM_ERR_PERMISSION ? "locked or disabled"
						   : "error"));
		kms_api_error(c, rc, lwhy, rc == TKM_ERR_VERIFY ? 401 : 0);
		return;
	}
	kms_api_audit(
	    c, u.name, "login", json_pack("{s:s}", "peer", c->req->peer));
	kms_api_answer(c, 200,
	    json_pack("{s:s, s:{s:I, s:s, s:s}, s:I}", "token", token, "user",
		"id", (json_int_t)u.id, "name", u.name, "role",
		kms_role_name(u.role), "idle_expiry",
		(json_int_t)c->api->idle));
	tkm_cleanse(token, sizeof(token));
}

static void
r_logout(struct kms_ctx *c)
{
	int rc = kms_logout(c->db, c->req->token);

	if (rc != TKM_OK) {
		kms_api_error(c, rc, NULL, 0);
		return;
	}
	kms_api_audit(c, c->user.name, "logout", NULL);
	kms_api_answer(c, 200, json_pack("{s:b}", "ok", 1));
}

static void
r_me(struct kms_ctx *c)
{
	kms_api_answer(c, 200,
	    json_pack("{s:I, s:s, s:s}", "id", (json_int_t)c->user.id, "name",
		c->user.name, "role", kms_role_name(c->user.role)));
}

/* --- reads --------------------------------------------------------------- */

static void
r_users(struct kms_ctx *c)
{
	struct kdb_rows *r = NULL;
	json_t *arr = json_array(), *row;
	int rc;

	if (arr == NULL ||
	    (rc = kdb_query(c->db, &r,
		 "SELECT id, name, role, state, failures, locked_until,"
		 " created FROM users ORDER BY id")) != TKM_OK)
		goto fail;
	while ((rc = kdb_next(r)) == 1) {
		row = json_pack("{s:I, s:s?, s:s?, s:s?, s:I, s:b, s:I}", "id",
		    (json_int_t)kdb_int(r, 0), "name", kdb_text(r, 1), "role",
		    kdb_text(r, 2), "state", kdb_text(r, 3), "failures",
		    (json_int_t)kdb_int(r, 4), "locked", kdb_int(r, 5) > c->now,
		    "created", (json_int_t)kdb_int(r, 6));
		if (row == NULL || json_array_append_new(arr, row) != 0)
			goto fail;
	}
	if (rc < 0)
		goto fail;
	kdb_rows_free(r);
	kms_api_answer(c, 200, json_pack("{s:o}", "users", arr));
	return;
fail:
	kdb_rows_free(r);
	json_decref(arr);
	kms_resp_error(c->resp, 500, "database error");
}

static void
r_institutions(struct kms_ctx *c)
{
	struct kdb_rows *r = NULL;
	json_t *arr = json_array(), *row;
	int rc;

	if (arr == NULL ||
	    (rc = kdb_query(c->db, &r,
		 "SELECT id, kind, name, name_en, city_code, iin,"
		 " cert_record, issuer_code, seq FROM institutions"
		 " ORDER BY kind <> 'authority', kind <> 'operator', seq, "
		 "id")) != TKM_OK)
		goto fail;
	while ((rc = kdb_next(r)) == 1) {
		row =
		    json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?,"
			      " s:I}",
			"id", (json_int_t)kdb_int(r, 0), "kind", kdb_text(r, 1),
			"name", kdb_text(r, 2), "name_en", kdb_text(r, 3),
			"city_code", kdb_text(r, 4), "iin", kdb_text(r, 5),
			"cert_record", kdb_text(r, 6), "issuer_code",
			kdb_text(r, 7), "seq", (json_int_t)kdb_int(r, 8));
		if (row == NULL || json_array_append_new(arr, row) != 0)
			goto fail;
	}
	if (rc < 0)
		goto fail;
	kdb_rows_free(r);
	kms_api_answer(c, 200, json_pack("{s:o}", "institutions", arr));
	return;
fail:
	kdb_rows_free(r);
	json_decref(arr);
	kms_resp_error(c->resp, 500, "database error");
}

/* --- proposals ----------------------------------------------------------- */

static const char *const states[] = {"open", "approved", "rejected", "expired",
    "withdrawn", "executed", "failed"};

static void
r_proposals(struct kms_ctx *c)
{
	const char *st = kms_req_arg(c->req, "state");
	json_t *list;
	size_t i;
	int rc;

	if (st != NULL) {
		for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			if (strcmp(st, states[i]) == 0)
				break;
		if (i == sizeof(states) / sizeof(states[0])) {
			kms_resp_error(c->resp, 400,
			    "state: open, approved, "
			    "rejected, expired, "
			    "withdrawn, executed or "
			    "failed");
			return;
		}
	}
	if ((rc = kms_proposal_expire(c->db, c->now)) != TKM_OK ||
	    (rc = kms_proposal_list(c->db, st, 0, &list)) != TKM_OK) {
		kms_api_error(c, rc, NULL, 0);
		return;
	}
	kms_api_answer(c, 200, json_pack("{s:o}", "proposals", list));
}

static void
r_proposal(struct kms_ctx *c)
{
	json_t *p;
	int rc;

	if ((rc = kms_proposal_expire(c->db, c->now)) != TKM_OK ||
	    (rc = kms_proposal_list(c->db, NULL, c->id, &p)) != TKM_OK) {
		kms_api_error(
		    c, rc, rc == TKM_ERR_NO_KEY ? "no such proposal" : NULL, 0);
		return;
	}
	kms_api_answer(c, 200, p);
}

static void
r_propose(struct kms_ctx *c)
{
	json_t *b = c->req->body, *ttl, *p;
	const char *kind, *why = NULL;
	int64_t id;
	int http = 0, rc;

	kind = json_string_value(json_object_get(b, "kind"));
	ttl = json_object_get(b, "expires_in");
	if (kind == NULL || !json_is_object(json_object_get(b, "payload")) ||
	    (ttl != NULL && !json_is_integer(ttl))) {
		kms_resp_error(c->resp, 400,
		    "body: {\"kind\": ..., \"payload\": {...}, "
		    "\"expires_in\": seconds (optional)}");
		return;
	}
	rc = kms_proposal_create(c->db, c->now,
	    ttl != NULL ? json_integer_value(ttl) : 0, &c->user, kind,
	    json_object_get(b, "payload"), &id, &why, &http);
	if (rc != TKM_OK) {
		kms_api_error(c, rc, why, http);
		return;
	}
	if ((rc = kms_proposal_list(c->db, NULL, id, &p)) != TKM_OK) {
		kms_api_error(c, rc, NULL, 0);
		return;
	}
	kms_api_answer(c, 201, p);
}

static void
decide(struct kms_ctx *c, int approve)
{
	const char *reason = NULL, *why = NULL;
	json_t *out = NULL, *v;
	int http = 0, rc;

	if (c->req->body != NULL &&
	    (v = json_object_get(c->req->body, "reason")) != NULL) {
		if (!json_is_string(v) || strlen(json_string_value(v)) > 500) {
			kms_resp_error(c->resp, 400,
			    "reason: a string of at most 500 bytes");
			return;
		}
		reason = json_string_value(v);
	}
	rc = kms_proposal_decide(
	    c->db, c->now, &c->user, c->id, approve, reason, &out, &why, &http);
	if (rc != TKM_OK) {
		kms_api_error(c, rc, why, http);
		return;
	}
	kms_api_answer(c, 200, out);
}

static void
r_approve(struct kms_ctx *c)
{
	decide(c, 1);
}

static void
r_reject(struct kms_ctx *c)
{
	decide(c, 0);
}

/* --- audit --------------------------------------------------------------- */

static void
r_audit(struct kms_ctx *c)
{
	int64_t from = kms_api_arg_num(c, "from", 1, 1, INT64_MAX),
		limit = kms_api_arg_num(c, "limit", 100, 1, KMS_AUDIT_LIST_MAX);
	json_t *rows;
	int rc;

	if (from < 0 || limit < 0) {
		kms_resp_error(
		    c->resp, 400, "from: a seq from 1; limit: 1..1000");
		return;
	}
	if ((rc = kms_audit_list(c->db, from, limit, &rows)) != TKM_OK) {
		kms_api_error(c, rc, NULL, 0);
		return;
	}
	kms_api_answer(c, 200, json_pack("{s:o}", "records", rows));
}

static void
r_audit_verify(struct kms_ctx *c)
{
	struct kms_audit_report rep;
	int rc;

	if ((rc = kms_audit_verify(c->db, &rep)) != TKM_OK) {
		kms_api_error(c, rc, NULL, 0);
		return;
	}
	kms_api_answer(c, 200,
	    json_pack("{s:b, s:I, s:I, s:s?}", "ok", rep.ok, "records",
		(json_int_t)rep.records, "first_bad", (json_int_t)rep.first_bad,
		"why", rep.ok ? NULL : rep.why));
}

/* --- dispatch ------------------------------------------------------------ */

static const struct kms_route routes[] = {
    {"POST", "/api/login", 0, 1, r_login},
    {"POST", "/api/logout", KMS_ROLE_ANY, 0, r_logout},
    {"GET", "/api/me", KMS_ROLE_ANY, 0, r_me},
    {"GET", "/api/users", KMS_READERS, 0, r_users},
    {"GET", "/api/institutions", KMS_ROLE_ANY, 0, r_institutions},
    {"GET", "/api/proposals", KMS_ROLE_ANY, 0, r_proposals},
    {"POST", "/api/proposals", KMS_PROPOSERS, 1, r_propose},
    {"GET", "/api/proposals/#", KMS_ROLE_ANY, 0, r_proposal},
    {"POST", "/api/proposals/#/approve", KMS_ROLE_ANY, 0, r_approve, 1},
    {"POST", "/api/proposals/#/reject", KMS_ROLE_ANY, 0, r_reject},
    {"GET", "/api/audit", KMS_AUDITORS, 0, r_audit},
    {"GET", "/api/audit/verify", KMS_AUDITORS, 0, r_audit_verify},
};

/* Every route file's table, searched in this order. */
static const struct {
	const struct kms_route *r;
	const size_t *n;
} tables[] = {
    {routes, NULL},
    {kms_routes_keys, &kms_routes_keys_n},
    {kms_routes_maint, &kms_routes_maint_n},
};

/* 1 if path matches pattern ('#': 1..18 digits, stored in *id). */
static int
match(const char *pattern, const char *path, int64_t *id)
{
	int64_t v;
	int n;

	while (*pattern != '\0') {
		if (*pattern == '#') {
			for (v = 0, n = 0; *path >= '0' && *path <= '9'; path++)
				if (++n <= 18)
					v = v * 10 + (*path - '0');
			if (n < 1 || n > 18 || v == 0)
				return 0;
			*id = v;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return *path == '\0';
}

static void
destroy_db(void *p)
{
	kdb_close(p);
}

int
kms_api_init(struct kms_api *a, const char *db_url, int64_t idle)
{
	int rc;

	a->db_url = db_url;
	a->idle = idle;
	a->slow_max = 1;
	a->slow_now = 0;
	if ((rc = kms_keys_kinds_register()) != TKM_OK ||
	    (rc = kms_maint_kinds_register()) != TKM_OK)
		return rc;
	if (pthread_mutex_init(&a->slow_mu, NULL) != 0)
		return TKM_ERR_NOMEM;
	return pthread_key_create(&a->key, destroy_db) == 0 ? TKM_OK
							    : TKM_ERR_NOMEM;
}

void
kms_api_cleanup(struct kms_api *a)
{
	struct kdb *db = pthread_getspecific(a->key);

	kdb_close(db);
	(void)pthread_setspecific(a->key, NULL);
	pthread_key_delete(a->key);
	pthread_mutex_destroy(&a->slow_mu);
}

static struct kdb *
thread_db(struct kms_api *a)
{
	struct kdb *db = pthread_getspecific(a->key);
	char why[KDB_WHY];

	if (db != NULL)
		return db;
	if (kdb_open(a->db_url, &db, why, sizeof(why)) != TKM_OK) {
		kms_log("database: %s", why);
		return NULL;
	}
	if (pthread_setspecific(a->key, db) != 0) {
		kdb_close(db);
		return NULL;
	}
	return db;
}

static int
slow_enter(struct kms_api *a)
{
	int ok;

	pthread_mutex_lock(&a->slow_mu);
	ok = a->slow_now < a->slow_max;
	if (ok)
		a->slow_now++;
	pthread_mutex_unlock(&a->slow_mu);
	return ok;
}

static void
slow_leave(struct kms_api *a)
{
	pthread_mutex_lock(&a->slow_mu);
	a->slow_now--;
	pthread_mutex_unlock(&a->slow_mu);
}

void
kms_api_handle(void *arg, const struct kms_req *req, struct kms_resp *resp)
{
	struct kms_ctx c = {arg, NULL, req, resp, {0}, (int64_t)time(NULL), 0};
	const struct kms_route *rt = NULL;
	const char *why = NULL;
	int path_known = 0, rc;
	size_t i, n, t;

	for (t = 0; t < sizeof(tables) / sizeof(tables[0]) && rt == NULL; t++) {
		n = tables[t].n != NULL ? *tables[t].n
					: sizeof(routes) / sizeof(routes[0]);
		for (i = 0; i < n; i++) {
			if (!match(tables[t].r[i].path, req->path, &c.id))
				continue;
			path_known = 1;
			if (strcmp(tables[t].r[i].method, req->method) == 0) {
				rt = &tables[t].r[i];
				break;
			}
		}
	}
	if (rt == NULL) {
		kms_resp_error(resp, path_known ? 405 : 404,
		    path_known ? "method not allowed on this path"
			       : "no such endpoint (see docs/api.md)");
		return;
	}
	if (rt->body && req->body == NULL) {
		kms_resp_error(resp, 400, "a JSON object body is required");
		return;
	}
	if ((c.db = thread_db(c.api)) == NULL) {
		kms_resp_error(resp, 503, "database unavailable");
		return;
	}
	if (rt->roles != 0) {
		rc = kms_session_check(
		    c.db, c.now, c.api->idle, req->token, &c.user, &why);
		if (rc != TKM_OK) {
			kms_api_error(
			    &c, rc, why, rc == TKM_ERR_PERMISSION ? 401 : 0);
			return;
		}
		if ((rt->roles & c.user.role) == 0) {
			/* A change attempted by a role that may not make it
			 * is for the auditor to see (reads are not logged). */
			if (strcmp(rt->method, "GET") != 0)
				kms_api_audit(&c, c.user.name,
				    "request.refused",
				    json_pack("{s:s, s:s, s:s}", "method",
					req->method, "path", req->path, "role",
					kms_role_name(c.user.role)));
			kms_resp_error(resp, 403, "your role may not do this");
			return;
		}
	}
	if (rt->slow && !slow_enter(c.api)) {
		kms_resp_error(resp, 503,
		    "as many requests that wait for HSMs run as the server "
		    "allows at once: try again in a moment");
		return;
	}
	rt->fn(&c);
	if (rt->slow)
		slow_leave(c.api);
}
