/*
 * proposal.c - dual control (proposal.h) and the kinds that change only
 * the database: user.create, user.disable, institution.update,
 * template.update.
 *
 * An approval is one transaction: the proposal re-read and checked, the
 * kind applied, the proposal marked and the audit row appended, so that a
 * change is never applied without its approval and audit, nor twice (a
 * second approver finds it no longer open). A refusal that matters to an
 * auditor (an attempt to approve one's own proposal, or another role's)
 * is committed as an audit row of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaudit.h"
#include "kjson.h"
#include "proposal.h"
#include "tkm/mem.h"

#define HTTP_BAD       400
#define HTTP_FORBIDDEN 403
#define HTTP_NOT_FOUND 404
#define HTTP_CONFLICT  409
#define TEXT_MAX       128 /* institution names */

/* --- helpers ------------------------------------------------------------- */

static int
fail(const char **why, int *http, const char *msg, int status, int rc)
{
	*why = msg;
	*http = status;
	return rc;
}

/* 1 if s is exactly n ASCII digits. */
static int
digits(const char *s, size_t n)
{
	size_t i;

	if (s == NULL || strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Printable text of 1..TEXT_MAX bytes (UTF-8 passes; no controls). */
static int
text_ok(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n < 1 || n > TEXT_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
			return 0;
	return 1;
}

/* A copy of a proposal payload fit to show: no password hashes. */
static json_t *
redacted(json_t *p)
{
	json_t *c = json_deep_copy(p);

	if (c != NULL && json_is_object(c) && json_object_get(c, "pwhash"))
		json_object_set_new(c, "pwhash", json_string("(hidden)"));
	return c;
}

/* --- user.create --------------------------------------------------------- */

static int
user_create_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	const char *name = json_string_value(json_object_get(p, "name"));
	const char *role = json_string_value(json_object_get(p, "role"));
	const char *pw = json_string_value(json_object_get(p, "password"));
	char hash[KMS_HASH_MAX];
	int64_t n;
	int rc;

	if (json_object_size(p) != 3)
		return fail(why, http,
		    "user.create: {\"name\", \"role\", \"password\"}", HTTP_BAD,
		    TKM_ERR_INPUT);
	if (!kms_user_name_ok(name, why) || !kms_password_ok(pw, why))
		return fail(why, http, *why, HTTP_BAD, TKM_ERR_INPUT);
	if (kms_role_of(role) == KMS_ROLE_NONE)
		return fail(why, http,
		    "role: configurator, key_manager, supervisor or auditor",
		    HTTP_BAD, TKM_ERR_INPUT);
	if ((rc = kdb_int1(db, &n, "SELECT count(*) FROM users WHERE name = $1",
		 KDB_TEXT(name))) != TKM_OK)
		return fail(why, http, "database error", 0, rc);
	if (n != 0)
		return fail(
		    why, http, "user exists", HTTP_CONFLICT, TKM_ERR_INPUT);
	if ((rc = kms_password_hash(pw, hash)) != TKM_OK)
		return fail(why, http, "password hash failed", 0, rc);
	*stored = json_pack(
	    "{s:s, s:s, s:s}", "name", name, "role", role, "pwhash", hash);
	tkm_cleanse(hash, sizeof(hash));
	return *stored != NULL
		   ? TKM_OK
		   : fail(why, http, "out of memory", 0, TKM_ERR_NOMEM);
}

static int
user_create_apply(struct kdb *db, int64_t now, json_t *s, json_t **result,
    const char **why, int *http)
{
	const char *name = json_string_value(json_object_get(s, "name"));
	const char *role = json_string_value(json_object_get(s, "role"));
	int64_t id;
	int rc;

	rc = kms_user_insert(db, now, name, role,
	    json_string_value(json_object_get(s, "pwhash")), &id, why);
	if (rc != TKM_OK) {
		*http = rc == TKM_ERR_INPUT && kdb_fail(db) == KDB_FAIL_UNIQUE
			    ? HTTP_CONFLICT
			    : 0;
		return rc;
	}
	*result = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "name",
	    name, "role", role);
	return TKM_OK;
}

/* --- user.disable -------------------------------------------------------- */

/* Dual control needs two configurators: never disable the second last. */
static int
user_disable_check(
    struct kdb *db, const char *name, const char **why, int *http)
{
	struct kdb_rows *r = NULL;
	char role[16] = "", state[16] = "";
	int64_t n;
	int rc;

	if (!kms_user_name_ok(name, why))
		return fail(why, http, *why, HTTP_BAD, TKM_ERR_INPUT);
	if ((rc = kdb_query(db, &r,
		 "SELECT role, state FROM users WHERE name = $1",
		 KDB_TEXT(name))) != TKM_OK ||
	    (rc = kdb_next(r)) < 0) {
		kdb_rows_free(r);
		return fail(why, http, "database error", 0, rc);
	}
	if (rc == 1) {
		snprintf(role, sizeof(role), "%s", kdb_text(r, 0));
		snprintf(state, sizeof(state), "%s", kdb_text(r, 1));
	}
	kdb_rows_free(r);
	if (rc == 0)
		return fail(
		    why, http, "no such user", HTTP_NOT_FOUND, TKM_ERR_NO_KEY);
	if (strcmp(state, "active") != 0)
		return fail(why, http, "user already disabled", HTTP_CONFLICT,
		    TKM_ERR_INPUT);
	if (strcmp(role, "configurator") != 0)
		return TKM_OK;
	if ((rc = kdb_int1(db, &n,
		 "SELECT count(*) FROM users WHERE role = 'configurator'"
		 " AND state = 'active'")) != TKM_OK)
		return fail(why, http, "database error", 0, rc);
	if (n <= 2)
		return fail(why, http,
		    "would leave fewer than two active configurators (no one "
		    "could approve a change any more)",
		    HTTP_CONFLICT, TKM_ERR_PERMISSION);
	return TKM_OK;
}

static int
user_disable_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	const char *name = json_string_value(json_object_get(p, "name"));
	int rc;

	if (json_object_size(p) != 1 || name == NULL)
		return fail(why, http, "user.disable: {\"name\"}", HTTP_BAD,
		    TKM_ERR_INPUT);
	if ((rc = user_disable_check(db, name, why, http)) != TKM_OK)
		return rc;
	*stored = json_pack("{s:s}", "name", name);
	return *stored != NULL ? TKM_OK : TKM_ERR_NOMEM;
}

static int
user_disable_apply(struct kdb *db, int64_t now, json_t *s, json_t **result,
    const char **why, int *http)
{
	const char *name = json_string_value(json_object_get(s, "name"));
	int rc;

	(void)now;
	if ((rc = user_disable_check(db, name, why, http)) != TKM_OK)
		return rc;
	if ((rc = kdb_exec(db,
		 "UPDATE users SET state = 'disabled' WHERE name = $1",
		 KDB_TEXT(name))) != TKM_OK ||
	    (rc = kdb_exec(db,
		 "DELETE FROM sessions WHERE user_id IN"
		 " (SELECT id FROM users WHERE name = $1)",
		 KDB_TEXT(name))) != TKM_OK)
		return fail(why, http, "database error", 0, rc);
	*result = json_pack("{s:s, s:s}", "name", name, "state", "disabled");
	return TKM_OK;
}

/* --- institution.update, template.update --------------------------------- */

/* A column that a proposal may set: its name is also the SQL column. */
struct column {
	const char *name;
	int (*ok)(json_t *v);
};

static int
ok_text(json_t *v)
{
	return text_ok(json_string_value(v));
}

static int
ok_city_code(json_t *v)
{
	return digits(json_string_value(v), 4);
}

static int
ok_cert_record(json_t *v)
{
	return digits(json_string_value(v), 6);
}

static int
ok_issuer_code(json_t *v)
{
	return digits(json_string_value(v), 8);
}

/* As printed in appendix 1: 6 digits, optionally "(NN)". */
static int
ok_iin(json_t *v)
{
	const char *s = json_string_value(v);
	size_t i;

	if (s == NULL)
		return 0;
	if (strlen(s) == 6)
		return digits(s, 6);
	if (strlen(s) != 10 || s[6] != '(' || s[9] != ')')
		return 0;
	for (i = 0; i < 9; i++)
		if (i != 6 && (s[i] < '0' || s[i] > '9'))
			return 0;
	return 1;
}

static int
ok_category(json_t *v)
{
	static const char *const c[] = {
	    "consumption", "recharge", "reserved", "maintenance"};
	const char *s = json_string_value(v);
	size_t i;

	for (i = 0; s != NULL && i < sizeof(c) / sizeof(c[0]); i++)
		if (strcmp(s, c[i]) == 0)
			return 1;
	return 0;
}

static int
ok_type_code(json_t *v)
{
	return digits(json_string_value(v), 3);
}

/* "cjt333", or "city:" and 12 hex digits (docs/kms-schema.md). */
static int
ok_factor_rule(json_t *v)
{
	const char *s = json_string_value(v);
	size_t i;

	if (s == NULL)
		return 0;
	if (strcmp(s, "cjt333") == 0)
		return 1;
	if (strlen(s) != 17 || strncmp(s, "city:", 5) != 0)
		return 0;
	for (i = 5; i < 17; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static int
ok_flag(json_t *v)
{
	return json_is_integer(v) &&
	       (json_integer_value(v) == 0 || json_integer_value(v) == 1);
}

static const struct column inst_cols[] = {
    {"name", ok_text},
    {"name_en", ok_text},
    {"city_code", ok_city_code},
    {"iin", ok_iin},
    {"cert_record", ok_cert_record},
    {"issuer_code", ok_issuer_code},
};

static const struct column tmpl_cols[] = {
    {"category", ok_category},
    {"type_code", ok_type_code},
    {"factor_rule", ok_factor_rule},
    {"clearing", ok_flag},
};

static const struct column *
column_find(const struct column *cols, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(cols[i].name, name) == 0)
			return &cols[i];
	return NULL;
}

/* "set": {column: value, ...}, every column known and its value valid. */
static int
set_ok(json_t *set, const struct column *cols, size_t n, const char **why,
    int *http)
{
	const struct column *c;
	const char *k;
	json_t *v;

	if (!json_is_object(set) || json_object_size(set) == 0)
		return fail(why, http, "\"set\": an object of fields to change",
		    HTTP_BAD, TKM_ERR_INPUT);
	json_object_foreach(set, k, v)
	{
		if ((c = column_find(cols, n, k)) == NULL)
			return fail(why, http,
			    "\"set\": a field that cannot be "
			    "changed",
			    HTTP_BAD, TKM_ERR_INPUT);
		if (!c->ok(v))
			return fail(why, http,
			    "\"set\": a value of the wrong "
			    "form (see docs/api.md)",
			    HTTP_BAD, TKM_ERR_INPUT);
	}
	return TKM_OK;
}

/* UPDATE table SET col = value WHERE key = id, one column at a time: the
 * column names come from the tables above, never from the request. */
static int
set_apply(struct kdb *db, const char *table, const struct column *cols,
    size_t n, json_t *set, int64_t id, const char **why, int *http)
{
	const struct column *c;
	char sql[160];
	const char *k;
	json_t *v;
	int rc;

	json_object_foreach(set, k, v)
	{
		if ((c = column_find(cols, n, k)) == NULL || !c->ok(v))
			return fail(
			    why, http, "bad field", HTTP_BAD, TKM_ERR_INPUT);
		snprintf(sql, sizeof(sql),
		    "UPDATE %s SET %s = $1 WHERE id = $2", table, c->name);
		rc = json_is_integer(v)
			 ? kdb_exec_(db, sql,
			       (struct kdb_val[]){
				   KDB_INT(json_integer_value(v)), KDB_INT(id)},
			       2)
			 : kdb_exec_(db, sql,
			       (struct kdb_val[]){
				   KDB_TEXT(json_string_value(v)), KDB_INT(id)},
			       2);
		if (rc == TKM_ERR_INPUT && kdb_fail(db) == KDB_FAIL_UNIQUE)
			return fail(why, http,
			    "another row already has that value", HTTP_CONFLICT,
			    rc);
		if (rc != TKM_OK)
			return fail(why, http, "database refused the change",
			    rc == TKM_ERR_INPUT ? HTTP_BAD : 0, rc);
		if (kdb_changes(db) != 1)
			return fail(why, http, "no such row", HTTP_NOT_FOUND,
			    TKM_ERR_NO_KEY);
	}
	return TKM_OK;
}

/* The institution a payload names by "id", "city_code" or "name". */
static int
inst_find(struct kdb *db, json_t *p, int64_t *id, const char **why, int *http)
{
	json_t *v;
	int rc;

	if ((v = json_object_get(p, "id")) != NULL && json_is_integer(v))
		rc = kdb_int1(db, id,
		    "SELECT id FROM institutions WHERE id = $1",
		    KDB_INT(json_integer_value(v)));
	else if ((v = json_object_get(p, "city_code")) != NULL &&
		 json_is_string(v))
		rc = kdb_int1(db, id,
		    "SELECT id FROM institutions WHERE city_code = $1",
		    KDB_TEXT(json_string_value(v)));
	else if ((v = json_object_get(p, "name")) != NULL && json_is_string(v))
		rc = kdb_int1(db, id,
		    "SELECT id FROM institutions WHERE name = $1",
		    KDB_TEXT(json_string_value(v)));
	else
		return fail(why, http,
		    "institution.update: {\"id\" | \"city_code\" | \"name\", "
		    "\"set\": {...}}",
		    HTTP_BAD, TKM_ERR_INPUT);
	if (rc == TKM_ERR_NO_KEY)
		return fail(
		    why, http, "no such institution", HTTP_NOT_FOUND, rc);
	return rc == TKM_OK ? TKM_OK : fail(why, http, "database error", 0, rc);
}

static int
inst_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	json_t *set = json_object_get(p, "set");
	int64_t id;
	int rc;

	if (json_object_size(p) != 2)
		return fail(why, http,
		    "institution.update: {\"id\" | \"city_code\" | \"name\", "
		    "\"set\": {...}}",
		    HTTP_BAD, TKM_ERR_INPUT);
	if ((rc = inst_find(db, p, &id, why, http)) != TKM_OK ||
	    (rc = set_ok(set, inst_cols,
		 sizeof(inst_cols) / sizeof(inst_cols[0]), why, http)) !=
		TKM_OK)
		return rc;
	*stored = json_pack("{s:I, s:O}", "id", (json_int_t)id, "set", set);
	return *stored != NULL ? TKM_OK : TKM_ERR_NOMEM;
}

static int
inst_apply(struct kdb *db, int64_t now, json_t *s, json_t **result,
    const char **why, int *http)
{
	json_int_t id = json_integer_value(json_object_get(s, "id"));
	int rc;

	(void)now;
	rc = set_apply(db, "institutions", inst_cols,
	    sizeof(inst_cols) / sizeof(inst_cols[0]), json_object_get(s, "set"),
	    id, why, http);
	if (rc == TKM_OK)
		*result = json_pack(
		    "{s:I, s:O}", "id", id, "set", json_object_get(s, "set"));
	return rc;
}

static int
tmpl_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	const char *name = json_string_value(json_object_get(p, "name"));
	json_t *set = json_object_get(p, "set");
	int64_t id;
	int rc;

	if (json_object_size(p) != 2 || name == NULL)
		return fail(why, http,
		    "template.update: {\"name\", \"set\": {...}}", HTTP_BAD,
		    TKM_ERR_INPUT);
	rc = kdb_int1(db, &id, "SELECT id FROM key_templates WHERE name = $1",
	    KDB_TEXT(name));
	if (rc == TKM_ERR_NO_KEY)
		return fail(
		    why, http, "no such key template", HTTP_NOT_FOUND, rc);
	if (rc != TKM_OK)
		return fail(why, http, "database error", 0, rc);
	if ((rc = set_ok(set, tmpl_cols,
		 sizeof(tmpl_cols) / sizeof(tmpl_cols[0]), why, http)) !=
	    TKM_OK)
		return rc;
	*stored = json_pack(
	    "{s:I, s:s, s:O}", "id", (json_int_t)id, "name", name, "set", set);
	return *stored != NULL ? TKM_OK : TKM_ERR_NOMEM;
}

static int
tmpl_apply(struct kdb *db, int64_t now, json_t *s, json_t **result,
    const char **why, int *http)
{
	json_int_t id = json_integer_value(json_object_get(s, "id"));
	int rc;

	(void)now;
	rc = set_apply(db, "key_templates", tmpl_cols,
	    sizeof(tmpl_cols) / sizeof(tmpl_cols[0]), json_object_get(s, "set"),
	    id, why, http);
	if (rc == TKM_OK)
		*result =
		    json_pack("{s:O, s:O}", "name", json_object_get(s, "name"),
			"set", json_object_get(s, "set"));
	return rc;
}

/* --- the table of kinds -------------------------------------------------- */

static const struct kms_kind builtin[] = {
    {"user.create", KMS_ROLE_CONFIGURATOR, user_create_prepare,
	user_create_apply, NULL, NULL},
    {"user.disable", KMS_ROLE_CONFIGURATOR, user_disable_prepare,
	user_disable_apply, NULL, NULL},
    {"institution.update", KMS_ROLE_CONFIGURATOR, inst_prepare, inst_apply,
	NULL, NULL},
    /* Category, HSM type and city factor decide how keys are issued:
     * key policy, so the key managers' (spec: 系统密钥管理员). */
    {"template.update", KMS_ROLE_KEY_MANAGER, tmpl_prepare, tmpl_apply, NULL,
	NULL},
};

static const struct kms_kind *extra[KMS_KINDS_MAX];
static size_t nextra;

const struct kms_kind *
kms_kind_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(builtin[i].name, name) == 0)
			return &builtin[i];
	for (i = 0; i < nextra; i++)
		if (strcmp(extra[i]->name, name) == 0)
			return extra[i];
	return NULL;
}

int
kms_kinds_register(const struct kms_kind *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (k[i].name == NULL || kms_kind_find(k[i].name) != NULL ||
		    k[i].prepare == NULL ||
		    (k[i].apply == NULL && k[i].execute == NULL))
			return TKM_ERR_INPUT;
		if (nextra == KMS_KINDS_MAX)
			return TKM_ERR_SPACE;
		extra[nextra++] = &k[i];
	}
	return TKM_OK;
}

/* --- creating ------------------------------------------------------------ */

struct create {
	int64_t now, expires, id;
	const struct kms_user *u;
	const char *kind, *text;
	json_t *shown;
};

static int
create_tx(struct kdb *db, void *arg)
{
	struct create *c = arg;
	json_t *d;
	int rc;

	if ((rc = kdb_int1(db, &c->id,
		 "INSERT INTO proposals (kind, role, payload, proposer_id,"
		 " created, expires) VALUES ($1, $2, $3, $4, $5, $6)"
		 " RETURNING id",
		 KDB_TEXT(c->kind), KDB_TEXT(kms_role_name(c->u->role)),
		 KDB_TEXT(c->text), KDB_INT(c->u->id), KDB_INT(c->now),
		 KDB_INT(c->expires))) != TKM_OK)
		return rc;
	d = json_pack("{s:I, s:s, s:O, s:I}", "id", (json_int_t)c->id, "kind",
	    c->kind, "payload", c->shown, "expires", (json_int_t)c->expires);
	if (d == NULL)
		return TKM_ERR_NOMEM;
	rc = kms_audit_append(db, c->now, c->u->name, "proposal.create", d);
	json_decref(d);
	return rc;
}

int
kms_proposal_create(struct kdb *db, int64_t now, int64_t ttl,
    const struct kms_user *u, const char *kind, json_t *payload, int64_t *id,
    const char **why, int *http)
{
	struct create c = {now, 0, 0, u, kind, NULL, NULL};
	const struct kms_kind *k = kms_kind_find(kind);
	json_t *stored = NULL;
	char *text = NULL;
	int rc;

	*id = 0;
	*http = 0;
	*why = NULL;
	if (k == NULL)
		return fail(why, http, "unknown proposal kind", HTTP_BAD,
		    TKM_ERR_INPUT);
	if ((k->roles & u->role) == 0)
		return fail(why, http, "your role may not propose this kind",
		    HTTP_FORBIDDEN, TKM_ERR_PERMISSION);
	if (!json_is_object(payload))
		return fail(why, http, "payload: a JSON object", HTTP_BAD,
		    TKM_ERR_INPUT);
	if (ttl < 0 || ttl > KMS_PROPOSAL_TTL_MAX)
		return fail(why, http, "expires_in: 1 second to 7 days",
		    HTTP_BAD, TKM_ERR_INPUT);
	c.expires = now + (ttl == 0 ? KMS_PROPOSAL_TTL : ttl);
	if ((rc = k->prepare(db, payload, &stored, why, http)) != TKM_OK)
		goto out;
	rc = TKM_ERR_NOMEM;
	if ((text = json_dumps(stored, JSON_COMPACT | JSON_SORT_KEYS)) ==
		NULL ||
	    (c.shown = redacted(stored)) == NULL) {
		fail(why, http, "out of memory", 0, rc);
		goto out;
	}
	c.text = text;
	if ((rc = kdb_tx(db, create_tx, &c)) != TKM_OK) {
		fail(why, http, "database error", 0, rc);
		goto out;
	}
	*id = c.id;
out:
	kms_json_free(text);
	json_decref(c.shown);
	json_decref(stored);
	return rc;
}

/* --- deciding ------------------------------------------------------------ */

struct decide {
	int64_t now, id;
	const struct kms_user *u;
	int approve;
	const char *reason;
	/* out, reset by each attempt of the transaction */
	int rc, http, apply_failed;
	const char *why;
	const struct kms_kind *k;
	char kind[64];
	json_t *stored, *result;
};

static void
decide_reset(struct decide *d)
{
	d->rc = TKM_OK;
	d->http = 0;
	d->apply_failed = 0;
	d->why = NULL;
	d->k = NULL;
	d->kind[0] = '\0';
	json_decref(d->stored);
	json_decref(d->result);
	d->stored = d->result = NULL;
}

/* An audit row for a step on proposal id; extra (may be NULL) is
 * merged into the detail. */
static int
audit_step(struct kdb *db, int64_t now, const char *actor, const char *action,
    int64_t id, const char *kind, json_t *more)
{
	json_t *d = json_pack("{s:I, s:s}", "id", (json_int_t)id, "kind", kind);
	int rc;

	if (d == NULL)
		return TKM_ERR_NOMEM;
	if (more != NULL)
		json_object_update(d, more);
	rc = kms_audit_append(db, now, actor, action, d);
	json_decref(d);
	return rc;
}

/* Commit a refusal as an audit row: dual control at work. */
static int
refuse(struct kdb *db, struct decide *d, const char *msg)
{
	json_t *x = json_pack("{s:s, s:s}", "refused", msg, "decision",
	    d->approve ? "approve" : "reject");
	int rc;

	if (x == NULL)
		return TKM_ERR_NOMEM;
	rc = audit_step(
	    db, d->now, d->u->name, "proposal.refused", d->id, d->kind, x);
	json_decref(x);
	d->rc = TKM_ERR_PERMISSION;
	d->http = HTTP_FORBIDDEN;
	d->why = msg;
	return rc;
}

static int
decide_tx(struct kdb *db, void *arg)
{
	struct decide *d = arg;
	struct kdb_rows *r = NULL;
	char role[16] = "", state[16] = "";
	int64_t proposer = 0, expires = 0;
	const char *next;
	json_t *x = NULL;
	char *res = NULL;
	int rc, found = 0;

	decide_reset(d);
	if ((rc = kdb_query(db, &r,
		 "SELECT kind, role, payload, proposer_id, state, expires"
		 " FROM proposals WHERE id = $1",
		 KDB_INT(d->id))) != TKM_OK ||
	    (rc = kdb_next(r)) < 0)
		goto out;
	if (rc == 1) {
		found = 1;
		snprintf(d->kind, sizeof(d->kind), "%s", kdb_text(r, 0));
		snprintf(role, sizeof(role), "%s", kdb_text(r, 1));
		d->stored = json_loads(kdb_text(r, 2), 0, NULL);
		proposer = kdb_int(r, 3);
		snprintf(state, sizeof(state), "%s", kdb_text(r, 4));
		expires = kdb_int(r, 5);
	}
	kdb_rows_free(r);
	r = NULL;
	rc = TKM_OK;
	if (!found) {
		d->rc = TKM_ERR_NO_KEY;
		d->http = HTTP_NOT_FOUND;
		d->why = "no such proposal";
		return TKM_ERR_NO_KEY; /* nothing to keep */
	}
	if (strcmp(state, "open") != 0) {
		d->rc = TKM_ERR_INPUT;
		d->http = HTTP_CONFLICT;
		d->why = "proposal is no longer open";
		return TKM_ERR_INPUT;
	}
	if (expires <= d->now) {
		if ((rc = kdb_exec(db,
			 "UPDATE proposals SET state = 'expired', decided = $1"
			 " WHERE id = $2",
			 KDB_INT(d->now), KDB_INT(d->id))) != TKM_OK ||
		    (rc = audit_step(db, d->now, "system", "proposal.expire",
			 d->id, d->kind, NULL)) != TKM_OK)
			goto out;
		d->rc = TKM_ERR_INPUT;
		d->http = HTTP_CONFLICT;
		d->why = "proposal expired";
		return TKM_OK; /* keep the expiry */
	}
	if (kms_role_of(role) != d->u->role)
		return refuse(db, d,
		    d->approve ? "only another user of the proposer's role may "
				 "approve this proposal"
			       : "only the proposer or another user of the "
				 "proposer's role may reject this proposal");
	if (proposer == d->u->id && d->approve)
		return refuse(db, d,
		    "you proposed this: another user of your role must approve "
		    "it (dual control)");
	if (!d->approve) {
		/* A proposer who rejects their own withdraws it. */
		next = proposer == d->u->id ? "withdrawn" : "rejected";
		x = json_pack("{s:s?}", "reason", d->reason);
		if (x == NULL || (res = json_dumps(x, JSON_COMPACT)) == NULL) {
			rc = TKM_ERR_NOMEM;
			goto out;
		}
		if ((rc = kdb_exec(db,
			 "UPDATE proposals SET state = $1, approver_id = $2,"
			 " decided = $3, result = $4 WHERE id = $5",
			 KDB_TEXT(next),
			 proposer == d->u->id ? KDB_NULL : KDB_INT(d->u->id),
			 KDB_INT(d->now), KDB_TEXT(res), KDB_INT(d->id))) !=
			TKM_OK ||
		    (rc = audit_step(db, d->now, d->u->name,
			 proposer == d->u->id ? "proposal.withdraw"
					      : "proposal.reject",
			 d->id, d->kind, x)) != TKM_OK)
			goto out;
		goto out;
	}
	if ((d->k = kms_kind_find(d->kind)) == NULL || d->stored == NULL) {
		d->apply_failed = 1;
		d->rc = TKM_ERR_INTERNAL;
		d->why = d->k == NULL ? "this server does not know the kind"
				      : "stored payload unreadable";
		return d->rc;
	}
	if (d->k->apply != NULL &&
	    (rc = d->k->apply(db, d->now, d->stored, &d->result, &d->why,
		 &d->http)) != TKM_OK) {
		/* Roll the change back; decide() records the failure. A
		 * retryable conflict goes back to kdb_tx instead. */
		if (kdb_fail(db) != KDB_FAIL_RETRY) {
			d->apply_failed = 1;
			d->rc = rc;
		}
		goto out;
	}
	next = d->k->execute != NULL ? "approved" : "executed";
	if (d->result != NULL &&
	    (res = json_dumps(d->result, JSON_COMPACT)) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	x = json_pack("{s:O?}", "result", d->result);
	if (x == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if ((rc = kdb_exec(db,
		 "UPDATE proposals SET state = $1, approver_id = $2,"
		 " decided = $3, result = $4 WHERE id = $5",
		 KDB_TEXT(next), KDB_INT(d->u->id), KDB_INT(d->now),
		 KDB_TEXT(res), KDB_INT(d->id))) != TKM_OK ||
	    (rc = audit_step(db, d->now, d->u->name, "proposal.approve", d->id,
		 d->kind, x)) != TKM_OK)
		goto out;
out:
	kdb_rows_free(r);
	json_decref(x);
	kms_json_free(res);
	return rc;
}

/*
 * PostgreSQL: an approval holds a session advisory lock on its proposal
 * from before the decision until its execution is recorded. Several
 * tkms-kmsd may share the database; one that dies loses its session and
 * with it the lock, which tells kms_proposal_recover on any other that
 * the proposal's execution was interrupted, not merely long. SQLite has
 * one daemon per database: nothing to take.
 */
#define EXEC_LOCK_NS ((int64_t)0x746B6D73 << 32) /* "tkms" */

static int
exec_lock(struct kdb *db, int64_t id)
{
	int64_t one;

	int rc;

	if (kdb_backend(db) != KDB_PG)
		return TKM_OK;
	rc = kdb_int1(db, &one,
	    "SELECT 1 FROM (SELECT pg_advisory_lock($1::bigint)) x",
	    KDB_INT(EXEC_LOCK_NS | id));
	if (rc == TKM_OK)
		kdb_pin(db, 1);
	return rc;
}

/* 1: taken (free before), 0: held by another session, < 0: error. */
static int
exec_trylock(struct kdb *db, int64_t id)
{
	int64_t got;
	int rc;

	if (kdb_backend(db) != KDB_PG)
		return 1;
	rc = kdb_int1(db, &got,
	    "SELECT CASE WHEN pg_try_advisory_lock($1::bigint) THEN 1"
	    " ELSE 0 END",
	    KDB_INT(EXEC_LOCK_NS | id));
	if (rc != TKM_OK)
		return rc;
	if (got == 1)
		kdb_pin(db, 1);
	return got == 1;
}

static void
exec_unlock(struct kdb *db, int64_t id)
{
	int64_t got;
	int rc;

	if (kdb_backend(db) != KDB_PG)
		return;
	/* An unlock that fails leaves the lock to the session's end (a lost
	 * session has lost it already). */
	rc = kdb_int1(db, &got,
	    "SELECT CASE WHEN pg_advisory_unlock($1::bigint) THEN 1"
	    " ELSE 0 END",
	    KDB_INT(EXEC_LOCK_NS | id));
	(void)rc;
	kdb_pin(db, -1);
}

/* After the transaction: the proposal "failed" (or "executed"), with
 * result, and its audit row. Only from open (apply failed) or approved
 * (execute ran). */
struct finish {
	int64_t now, id;
	const struct kms_user *u;
	const char *kind, *state, *from;
	json_t *result;
};

static int
finish_tx(struct kdb *db, void *arg)
{
	struct finish *f = arg;
	char *res = json_dumps(f->result, JSON_COMPACT);
	json_t *x = json_pack("{s:O}", "result", f->result);
	int rc = TKM_ERR_NOMEM;

	if (res == NULL || x == NULL)
		goto out;
	if ((rc = kdb_exec(db,
		 "UPDATE proposals SET state = $1, approver_id = $2,"
		 " decided = $3, result = $4 WHERE id = $5 AND state = $6",
		 KDB_TEXT(f->state), KDB_INT(f->u->id), KDB_INT(f->now),
		 KDB_TEXT(res), KDB_INT(f->id), KDB_TEXT(f->from))) != TKM_OK)
		goto out;
	if (kdb_changes(db) != 1) {
		/* No longer f->from: taken as interrupted meanwhile (a lost
		 * PostgreSQL session lost its lock). Nothing to claim. */
		rc = TKM_ERR_INPUT;
		goto out;
	}
	rc = audit_step(db, f->now, f->u->name,
	    strcmp(f->state, "failed") == 0 ? "proposal.failed"
					    : "proposal.executed",
	    f->id, f->kind, x);
out:
	kms_json_free(res);
	json_decref(x);
	return rc;
}

int
kms_proposal_decide(struct kdb *db, int64_t now, const struct kms_user *u,
    int64_t id, int approve, const char *reason, json_t **out, const char **why,
    int *http)
{
	struct decide d = {
	    now, id, u, approve, reason, 0, 0, 0, NULL, NULL, "", NULL, NULL};
	struct finish f = {now, id, u, NULL, "failed", "open", NULL};
	json_t *res = NULL;
	const char *xwhy = NULL;
	int rc, xrc;

	*out = NULL;
	*why = NULL;
	*http = 0;
	if (approve && (rc = exec_lock(db, id)) != TKM_OK) {
		*why = "database error";
		return rc;
	}
	rc = kdb_tx(db, decide_tx, &d);
	if (d.rc != TKM_OK) {
		rc = d.rc;
		*why = d.why != NULL ? d.why : "refused";
		*http = d.http;
	} else if (rc != TKM_OK) {
		*why = "database error";
		goto out;
	}
	if (d.apply_failed) {
		f.kind = d.kind;
		f.result = json_pack("{s:s}", "error", *why);
		if (f.result == NULL || kdb_tx(db, finish_tx, &f) != TKM_OK)
			*why = "could not apply, nor record the failure";
		json_decref(f.result);
		goto out;
	}
	if (rc != TKM_OK)
		goto out;
	if (approve && d.k != NULL && d.k->execute != NULL) {
		xrc = d.k->execute(db, now, id, d.stored, &res, &xwhy);
		f.kind = d.kind;
		f.from = "approved";
		f.state = xrc == TKM_OK ? "executed" : "failed";
		f.result = res != NULL ? res
				       : json_pack("{s:s?}", "error",
					     xrc != TKM_OK ? xwhy : NULL);
		if (f.result == NULL || kdb_tx(db, finish_tx, &f) != TKM_OK) {
			rc = TKM_ERR_IO;
			*why =
			    "executed, but the outcome could not be recorded";
		} else if (xrc != TKM_OK) {
			rc = xrc;
			*why = xwhy != NULL ? xwhy : "execution failed";
		}
		json_decref(f.result);
		res = NULL;
		if (rc != TKM_OK)
			goto out;
	}
	if ((rc = kms_proposal_list(db, NULL, id, out)) != TKM_OK)
		*why = "database error";
out:
	if (approve)
		exec_unlock(db, id);
	d.rc = TKM_OK;
	decide_reset(&d);
	return rc;
}

/* --- expiry and listing -------------------------------------------------- */

static int
expire_tx(struct kdb *db, void *arg)
{
	int64_t now = *(int64_t *)arg, ids[64];
	char kinds[64][64];
	struct kdb_rows *r = NULL;
	size_t i, n = 0;
	int rc;

	if ((rc = kdb_query(db, &r,
		 "SELECT id, kind FROM proposals WHERE state = 'open'"
		 " AND expires <= $1 ORDER BY id LIMIT 64",
		 KDB_INT(now))) != TKM_OK)
		return rc;
	while (n < 64 && (rc = kdb_next(r)) == 1) {
		ids[n] = kdb_int(r, 0);
		snprintf(kinds[n], sizeof(kinds[n]), "%s", kdb_text(r, 1));
		n++;
	}
	kdb_rows_free(r);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = kdb_exec(db,
			 "UPDATE proposals SET state = 'expired', decided = $1"
			 " WHERE id = $2",
			 KDB_INT(now), KDB_INT(ids[i]))) != TKM_OK ||
		    (rc = audit_step(db, now, "system", "proposal.expire",
			 ids[i], kinds[i], NULL)) != TKM_OK)
			return rc;
	return TKM_OK;
}

/* --- interrupted executions ---------------------------------------------- */

#define INTERRUPTED                                                            \
	"interrupted: tkms-kmsd stopped while executing this proposal. What"   \
	" it did is recorded as it was done (issued keys, their events) and"   \
	" the HSMs hold it; propose the same change again to continue"

/* Generation and rotation make a key with A0 before recording it: a stop
 * between the two leaves the key at the root HSM's planned index, and a
 * new proposal is refused (index taken) until it is deleted there. */
#define INTERRUPTED_A0                                                         \
	INTERRUPTED                                                            \
	". If the new root key is still 'planned', the root HSM"               \
	" may hold a key at its index that nobody recorded: delete it "        \
	"there"                                                                \
	" (keys.delete on the management port) first (docs/kms-flows.md)"

struct interrupted {
	int64_t now, id;
	const char *kind;
	int done;
};

/* The kind's repair of what a stopped execution left: *note, or NULL. */
static int
interrupted_repair(struct kdb *db, const struct interrupted *w, json_t **note)
{
	const struct kms_kind *k = kms_kind_find(w->kind);
	struct kdb_rows *r = NULL;
	json_t *stored = NULL;
	int rc;

	*note = NULL;
	if (k == NULL || k->recover == NULL)
		return TKM_OK;
	if ((rc = kdb_query(db, &r,
		 "SELECT payload FROM proposals WHERE id = $1",
		 KDB_INT(w->id))) != TKM_OK)
		return rc;
	if ((rc = kdb_next(r)) == 1 && kdb_text(r, 0) != NULL)
		stored = json_loads(kdb_text(r, 0), 0, NULL);
	kdb_rows_free(r);
	if (rc < 0)
		return rc;
	/* Nothing to repair from: the proposal is marked failed all the same.
	 */
	if (stored == NULL)
		return TKM_OK;
	rc = k->recover(db, w->now, stored, note);
	json_decref(stored);
	return rc;
}

static int
interrupted_tx(struct kdb *db, void *arg)
{
	struct interrupted *w = arg;
	int a0 = strcmp(w->kind, "key.generate") == 0 ||
		 strcmp(w->kind, "key.rotate") == 0;
	json_t *res = NULL, *note = NULL, *x = NULL;
	char *text = NULL;
	int rc;

	w->done = 0;
	if ((rc = kdb_exec(db,
		 "UPDATE proposals SET state = 'failed'"
		 " WHERE id = $1 AND state = 'approved'",
		 KDB_INT(w->id))) != TKM_OK ||
	    kdb_changes(db) != 1)
		return rc; /* finished meanwhile: nothing to do */
	if ((rc = interrupted_repair(db, w, &note)) != TKM_OK)
		return rc;
	rc = TKM_ERR_NOMEM;
	if ((res = json_pack("{s:s}", "error",
		 a0 ? INTERRUPTED_A0 : INTERRUPTED)) == NULL ||
	    (note != NULL && json_object_update(res, note) != 0) ||
	    (text = json_dumps(res, JSON_COMPACT)) == NULL ||
	    (x = json_pack("{s:O}", "result", res)) == NULL)
		goto out;
	if ((rc = kdb_exec(db, "UPDATE proposals SET result = $1 WHERE id = $2",
		 KDB_TEXT(text), KDB_INT(w->id))) == TKM_OK &&
	    (rc = audit_step(db, w->now, "system", "proposal.failed", w->id,
		 w->kind, x)) == TKM_OK)
		w->done = 1;
out:
	kms_json_free(text);
	json_decref(res);
	json_decref(note);
	json_decref(x);
	return rc;
}

int
kms_proposal_recover(struct kdb *db, int64_t now, size_t *n)
{
	struct kdb_rows *r = NULL;
	struct interrupted w;
	int64_t ids[64], after = 0;
	char kinds[64][64];
	size_t i, m;
	int rc, got;

	*n = 0;
	do {
		m = 0;
		if ((rc = kdb_query(db, &r,
			 "SELECT id, kind FROM proposals WHERE state ="
			 " 'approved' AND id > $1 ORDER BY id LIMIT 64",
			 KDB_INT(after))) != TKM_OK)
			return rc;
		while (m < 64 && (rc = kdb_next(r)) == 1) {
			ids[m] = kdb_int(r, 0);
			snprintf(
			    kinds[m], sizeof(kinds[m]), "%s", kdb_text(r, 1));
			m++;
		}
		kdb_rows_free(r);
		if (rc < 0)
			return rc;
		for (i = 0; i < m; i++) {
			after = ids[i];
			if ((got = exec_trylock(db, ids[i])) < 0)
				return got;
			if (got == 0)
				continue; /* running in another tkms-kmsd */
			w = (struct interrupted){now, ids[i], kinds[i], 0};
			rc = kdb_tx(db, interrupted_tx, &w);
			exec_unlock(db, ids[i]);
			if (rc != TKM_OK)
				return rc;
			*n += (size_t)w.done;
		}
	} while (m == 64);
	return TKM_OK;
}

int
kms_proposal_expire(struct kdb *db, int64_t now)
{
	int64_t n;
	size_t k;
	int rc;

	/* Several daemons may share PostgreSQL: one that died leaves its
	 * executions to the others (kms_proposal_recover). */
	if (kdb_backend(db) == KDB_PG &&
	    ((rc = kdb_int1(db, &n,
		  "SELECT count(*) FROM proposals WHERE state = 'approved'")) !=
		    TKM_OK ||
		(n > 0 && (rc = kms_proposal_recover(db, now, &k)) != TKM_OK)))
		return rc;

	/* Most calls find nothing: look before taking the write lock. */
	if ((rc = kdb_int1(db, &n,
		 "SELECT count(*) FROM proposals WHERE state = 'open'"
		 " AND expires <= $1",
		 KDB_INT(now))) != TKM_OK ||
	    n == 0)
		return rc;
	return kdb_tx(db, expire_tx, &now);
}

#define LIST_SQL                                                               \
	"SELECT p.id, p.kind, p.role, p.payload, pu.name, p.state, au.name,"   \
	" p.created, p.expires, p.decided, p.result FROM proposals p"          \
	" JOIN users pu ON pu.id = p.proposer_id"                              \
	" LEFT JOIN users au ON au.id = p.approver_id"

static json_t *
json_or_null(const char *s)
{
	json_t *v;

	if (s == NULL)
		return json_null();
	v = json_loads(s, 0, NULL);
	return v != NULL ? v : json_string(s);
}

int
kms_proposal_list(struct kdb *db, const char *state, int64_t id, json_t **out)
{
	struct kdb_rows *r = NULL;
	json_t *arr, *row, *payload, *shown;
	int rc;

	*out = NULL;
	if ((arr = json_array()) == NULL)
		return TKM_ERR_NOMEM;
	if (id > 0)
		rc =
		    kdb_query(db, &r, LIST_SQL " WHERE p.id = $1", KDB_INT(id));
	else if (state != NULL)
		rc = kdb_query(db, &r,
		    LIST_SQL " WHERE p.state = $1 ORDER BY p.id DESC LIMIT $2",
		    KDB_TEXT(state), KDB_INT(KMS_PROPOSAL_LIST));
	else
		rc = kdb_query(db, &r, LIST_SQL " ORDER BY p.id DESC LIMIT $1",
		    KDB_INT(KMS_PROPOSAL_LIST));
	if (rc != TKM_OK)
		goto out;
	while ((rc = kdb_next(r)) == 1) {
		payload = json_or_null(kdb_text(r, 3));
		shown = payload != NULL ? redacted(payload) : NULL;
		json_decref(payload);
		row = json_pack("{s:I, s:s?, s:s?, s:o*, s:s?, s:s?, s:s?, s:I,"
				" s:I, s:o, s:o}",
		    "id", (json_int_t)kdb_int(r, 0), "kind", kdb_text(r, 1),
		    "role", kdb_text(r, 2), "payload", shown, "proposer",
		    kdb_text(r, 4), "state", kdb_text(r, 5), "approver",
		    kdb_text(r, 6), "created", (json_int_t)kdb_int(r, 7),
		    "expires", (json_int_t)kdb_int(r, 8), "decided",
		    kdb_isnull(r, 9) ? json_null()
				     : json_integer(kdb_int(r, 9)),
		    "result", json_or_null(kdb_text(r, 10)));
		if (row == NULL || json_array_append_new(arr, row) != 0) {
			rc = TKM_ERR_NOMEM;
			goto out;
		}
	}
	if (rc < 0)
		goto out;
	rc = TKM_OK;
	if (id > 0) {
		if (json_array_size(arr) == 0) {
			rc = TKM_ERR_NO_KEY;
			goto out;
		}
		*out = json_incref(json_array_get(arr, 0));
	} else {
		*out = arr;
		arr = NULL;
	}
out:
	kdb_rows_free(r);
	json_decref(arr);
	return rc;
}
