/*
 * test_proposal.c - dual control (src/kms/proposal.h) and the audit chain
 * (src/kms/kaudit.h): nobody approves their own proposal nor another
 * role's; approval applies the change and its audit in one transaction;
 * proposals expire, are rejected or withdrawn; bad payloads are refused
 * before anything is stored; a failed apply leaves nothing of the change;
 * the chain verifies and an edited or deleted row is found. On SQLite,
 * and on PostgreSQL through tests/kms/pg.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "auth.h"
#include "kaudit.h"
#include "kmsfx.h"
#include "proposal.h"

#define T0 1800000000

struct who {
	struct kms_user ca, cb, ka, kb, sup;
};
static struct who w;

static void
add(struct kdb *db, struct kms_user *u, const char *name, const char *role)
{
	char hash[KMS_HASH_MAX];
	const char *why;

	assert_int_equal(kms_password_hash("password-1", hash), TKM_OK);
	assert_int_equal(
	    kms_user_insert(db, T0, name, role, hash, &u->id, &why), TKM_OK);
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->role = kms_role_of(role);
}

static int
setup(void **state)
{
	struct fx *f;

	fx_setup(state);
	f = *state;
	add(f->db, &w.ca, "ca", "configurator");
	add(f->db, &w.cb, "cb", "configurator");
	add(f->db, &w.ka, "ka", "key_manager");
	add(f->db, &w.kb, "kb", "key_manager");
	add(f->db, &w.sup, "sup", "supervisor");
	return 0;
}

static int64_t
propose(struct kdb *db, const struct kms_user *u, const char *kind,
    const char *payload, int64_t ttl)
{
	json_t *p = json_loads(payload, 0, NULL);
	const char *why;
	int64_t id;
	int http, rc;

	assert_non_null(p);
	rc = kms_proposal_create(db, T0, ttl, u, kind, p, &id, &why, &http);
	json_decref(p);
	if (rc != TKM_OK)
		fail_msg("propose %s: %s", kind, why);
	return id;
}

/* Decide; returns the tkm_err, *http the status, and checks that a
 * success gives the proposal back. */
static int
decide(struct kdb *db, int64_t now, const struct kms_user *u, int64_t id,
    int approve, int *http)
{
	const char *why;
	json_t *out = NULL;
	int rc;

	rc = kms_proposal_decide(
	    db, now, u, id, approve, "because", &out, &why, http);
	if (rc == TKM_OK) {
		assert_non_null(out);
		assert_int_equal(
		    json_integer_value(json_object_get(out, "id")), id);
	} else {
		assert_null(out);
		assert_non_null(why);
	}
	json_decref(out);
	return rc;
}

static void
state_is(struct kdb *db, int64_t id, const char *state)
{
	json_t *p;

	assert_int_equal(kms_proposal_list(db, NULL, id, &p), TKM_OK);
	assert_string_equal(
	    json_string_value(json_object_get(p, "state")), state);
	json_decref(p);
}

static int64_t
count(struct kdb *db, const char *sql)
{
	int64_t n;

	assert_int_equal(kdb_int1_(db, &n, sql, NULL, 0), TKM_OK);
	return n;
}

static void
chain_ok(struct kdb *db)
{
	struct kms_audit_report rep;

	assert_int_equal(kms_audit_verify(db, &rep), TKM_OK);
	if (!rep.ok)
		fail_msg("audit chain broken at %lld: %s",
		    (long long)rep.first_bad, rep.why);
}

static void
t_dual_control(void **state)
{
	struct fx *f = *state;
	int64_t id;
	int http;

	id = propose(f->db, &w.ca, "user.create",
	    "{\"name\":\"kc\",\"role\":\"key_manager\","
	    "\"password\":\"password-2\"}",
	    0);
	state_is(f->db, id, "open");
	/* The payload keeps a hash, never the password. */
	assert_int_equal(count(f->db, "SELECT count(*) FROM proposals WHERE"
				      " payload LIKE '%password-2%'"),
	    0);
	/* Own proposal: refused, and the refusal is audited. */
	assert_int_equal(
	    decide(f->db, T0 + 1, &w.ca, id, 1, &http), TKM_ERR_PERMISSION);
	assert_int_equal(http, 403);
	assert_int_equal(count(f->db, "SELECT count(*) FROM audit WHERE"
				      " action = 'proposal.refused'"),
	    1);
	/* Another role: refused. */
	assert_int_equal(
	    decide(f->db, T0 + 1, &w.ka, id, 1, &http), TKM_ERR_PERMISSION);
	assert_int_equal(
	    decide(f->db, T0 + 1, &w.sup, id, 1, &http), TKM_ERR_PERMISSION);
	state_is(f->db, id, "open");
	assert_int_equal(
	    count(f->db, "SELECT count(*) FROM users WHERE name = 'kc'"), 0);
	/* Another configurator: applied. */
	assert_int_equal(decide(f->db, T0 + 2, &w.cb, id, 1, &http), TKM_OK);
	state_is(f->db, id, "executed");
	assert_int_equal(count(f->db, "SELECT count(*) FROM users WHERE"
				      " name = 'kc' AND role = 'key_manager'"),
	    1);
	/* Once only. */
	assert_int_equal(
	    decide(f->db, T0 + 3, &w.cb, id, 1, &http), TKM_ERR_INPUT);
	assert_int_equal(http, 409);
	assert_int_equal(
	    decide(f->db, T0 + 3, &w.cb, 9999, 1, &http), TKM_ERR_NO_KEY);
	assert_int_equal(http, 404);
	/* The new user logs in with the proposed password. */
	char tok[KMS_TOKEN_LEN + 1];
	struct kms_user u;
	const char *why;
	assert_int_equal(
	    kms_login(f->db, T0 + 4, 60, "kc", "password-2", tok, &u, &why),
	    TKM_OK);
	assert_int_equal(count(f->db, "SELECT count(*) FROM audit WHERE"
				      " action = 'proposal.approve'"),
	    1);
	chain_ok(f->db);
}

static void
t_roles_of_kinds(void **state)
{
	struct fx *f = *state;
	json_t *p = json_pack("{s:s}", "name", "ka");
	const char *why;
	int64_t id;
	int http;

	/* Key managers do not manage users; supervisors propose nothing. */
	assert_int_equal(kms_proposal_create(f->db, T0, 0, &w.ka,
			     "user.disable", p, &id, &why, &http),
	    TKM_ERR_PERMISSION);
	assert_int_equal(http, 403);
	assert_int_equal(kms_proposal_create(f->db, T0, 0, &w.sup,
			     "user.disable", p, &id, &why, &http),
	    TKM_ERR_PERMISSION);
	assert_int_equal(kms_proposal_create(f->db, T0, 0, &w.ca, "no.such", p,
			     &id, &why, &http),
	    TKM_ERR_INPUT);
	assert_int_equal(http, 400);
	json_decref(p);
	/* Key managers' kind, approved by the other key manager only. */
	id = propose(f->db, &w.ka, "template.update",
	    "{\"name\":\"tac\",\"set\":{\"factor_rule\":\"city:FF0000000001\"}"
	    "}",
	    0);
	assert_int_equal(
	    decide(f->db, T0, &w.ka, id, 1, &http), TKM_ERR_PERMISSION);
	assert_int_equal(
	    decide(f->db, T0, &w.ca, id, 1, &http), TKM_ERR_PERMISSION);
	assert_int_equal(decide(f->db, T0, &w.kb, id, 1, &http), TKM_OK);
	assert_int_equal(count(f->db, "SELECT count(*) FROM key_templates"
				      " WHERE name = 'tac' AND factor_rule ="
				      " 'city:FF0000000001'"),
	    1);
	chain_ok(f->db);
}

static void
t_bad_payloads(void **state)
{
	static const struct {
		const char *kind, *payload;
		int http;
	} t[] = {
	    {"user.create", "{}", 400},
	    {"user.create",
		"{\"name\":\"x\",\"role\":\"god\",\"password\":\"password-2\"}",
		400},
	    {"user.create",
		"{\"name\":\"x\",\"role\":\"auditor\",\"password\":\"short\"}",
		400},
	    {"user.create",
		"{\"name\":\"X Y\",\"role\":\"auditor\",\"password\":"
		"\"password-2\"}",
		400},
	    {"user.create",
		"{\"name\":\"ka\",\"role\":\"auditor\",\"password\":"
		"\"password-2\"}",
		409},
	    {"user.create",
		"{\"name\":\"x\",\"role\":\"auditor\",\"password\":"
		"\"password-2\",\"extra\":1}",
		400},
	    {"user.disable", "{\"name\":\"nobody\"}", 404},
	    {"user.disable", "{\"name\":\"ca\"}", 409}, /* two are needed */
	    {"user.disable", "{\"name\":5}", 400},
	    {"institution.update", "{\"city_code\":\"5810\"}", 400},
	    {"institution.update",
		"{\"city_code\":\"9999\",\"set\":{\"name_en\":\"X\"}}", 404},
	    {"institution.update",
		"{\"city_code\":\"5810\",\"set\":{\"city_code\":\"58100\"}}",
		400},
	    {"institution.update",
		"{\"city_code\":\"5810\",\"set\":{\"iin\":\"310487(3)\"}}",
		400},
	    {"institution.update",
		"{\"city_code\":\"5810\",\"set\":{\"kind\":\"operator\"}}",
		400},
	    {"institution.update",
		"{\"city_code\":\"5810\",\"set\":{\"id; DROP TABLE users\":"
		"\"1\"}}",
		400},
	    {"institution.update",
		"{\"city_code\":\"5810\",\"set\":{\"name_en\":\"a\\nb\"}}",
		400},
	    {"template.update", "{\"name\":\"tac\",\"set\":{\"clearing\":2}}",
		400},
	};
	struct fx *f = *state;
	const struct kms_user *u;
	const char *why;
	json_t *p;
	int64_t id;
	size_t i;
	int http, rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		p = json_loads(t[i].payload, 0, NULL);
		assert_non_null(p);
		u = strcmp(t[i].kind, "template.update") == 0 ? &w.ka : &w.ca;
		http = 0;
		rc = kms_proposal_create(
		    f->db, T0, 0, u, t[i].kind, p, &id, &why, &http);
		json_decref(p);
		if (rc == TKM_OK || http != t[i].http)
			fail_msg("row %zu: rc %d http %d (%s)", i, rc, http,
			    why ? why : "");
	}
	assert_int_equal(count(f->db, "SELECT count(*) FROM proposals"), 0);
	/* A ttl out of range. */
	p = json_pack("{s:s}", "name", "ka");
	assert_int_equal(
	    kms_proposal_create(f->db, T0, KMS_PROPOSAL_TTL_MAX + 1, &w.ca,
		"user.disable", p, &id, &why, &http),
	    TKM_ERR_INPUT);
	json_decref(p);
}

static void
t_expire_reject_withdraw(void **state)
{
	struct fx *f = *state;
	int64_t a, b, c, d;
	json_t *list;
	int http;

	a = propose(f->db, &w.ca, "user.disable", "{\"name\":\"ka\"}", 10);
	b = propose(f->db, &w.ca, "user.disable", "{\"name\":\"kb\"}", 0);
	c = propose(f->db, &w.ca, "user.disable", "{\"name\":\"sup\"}", 0);
	d = propose(f->db, &w.ca, "user.disable", "{\"name\":\"kb\"}", 5);
	/* Past its time: expired, also for the right approver. */
	assert_int_equal(
	    decide(f->db, T0 + 10, &w.cb, a, 1, &http), TKM_ERR_INPUT);
	assert_int_equal(http, 409);
	state_is(f->db, a, "expired");
	assert_int_equal(
	    count(f->db, "SELECT count(*) FROM users WHERE state <> 'active'"),
	    0);
	/* Rejected by the other configurator; withdrawn by the proposer. */
	assert_int_equal(decide(f->db, T0 + 1, &w.cb, b, 0, &http), TKM_OK);
	state_is(f->db, b, "rejected");
	assert_int_equal(decide(f->db, T0 + 1, &w.ca, c, 0, &http), TKM_OK);
	state_is(f->db, c, "withdrawn");
	assert_int_equal(
	    decide(f->db, T0 + 2, &w.cb, b, 1, &http), TKM_ERR_INPUT);
	/* The sweep. */
	assert_int_equal(kms_proposal_expire(f->db, T0 + 5), TKM_OK);
	state_is(f->db, d, "expired");
	assert_int_equal(kms_proposal_list(f->db, "open", 0, &list), TKM_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(kms_proposal_list(f->db, "expired", 0, &list), TKM_OK);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	assert_int_equal(count(f->db, "SELECT count(*) FROM audit WHERE"
				      " action = 'proposal.expire'"),
	    2);
	chain_ok(f->db);
}

static void
t_institution_and_failure(void **state)
{
	struct fx *f = *state;
	int64_t a, b;
	int http;

	a = propose(f->db, &w.ca, "institution.update",
	    "{\"city_code\":\"5810\",\"set\":{\"name_en\":\"Canton\","
	    "\"iin\":\"310487(99)\"}}",
	    0);
	assert_int_equal(decide(f->db, T0, &w.cb, a, 1, &http), TKM_OK);
	assert_int_equal(count(f->db, "SELECT count(*) FROM institutions WHERE"
				      " city_code = '5810' AND name_en ="
				      " 'Canton' AND iin = '310487(99)'"),
	    1);
	/* Valid when proposed, refused when applied (another city has that
	 * issuer code): failed, and nothing of it kept. */
	b = propose(f->db, &w.ca, "institution.update",
	    "{\"city_code\":\"5810\",\"set\":{\"name_en\":\"Guangzhou\","
	    "\"issuer_code\":\"02926060\"}}",
	    0);
	assert_int_equal(decide(f->db, T0, &w.cb, b, 1, &http), TKM_ERR_INPUT);
	assert_int_equal(http, 409);
	state_is(f->db, b, "failed");
	assert_int_equal(count(f->db, "SELECT count(*) FROM institutions WHERE"
				      " name_en = 'Canton'"),
	    1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM audit WHERE"
				      " action = 'proposal.failed'"),
	    1);
	chain_ok(f->db);
}

static void
t_audit_chain(void **state)
{
	struct fx *f = *state;
	struct kms_audit_report rep;
	json_t *d, *rows;
	int i;

	for (i = 0; i < 5; i++) {
		d = json_pack("{s:i, s:s}", "n", i, "zh", "广州市");
		assert_int_equal(
		    kms_audit_append(f->db, T0 + i, "ca", "test.step", d),
		    TKM_OK);
		json_decref(d);
	}
	assert_int_equal(
	    kms_audit_append(f->db, T0, "ca", "test.empty", NULL), TKM_OK);
	assert_int_equal(kms_audit_verify(f->db, &rep), TKM_OK);
	assert_true(rep.ok);
	assert_int_equal(rep.records, 6);
	assert_int_equal(kms_audit_list(f->db, 2, 3, &rows), TKM_OK);
	assert_int_equal(json_array_size(rows), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(rows, 0), "seq")),
	    2);
	json_decref(rows);
	/* An edited detail. */
	struct kdb_rows *r;
	char orig[256];
	assert_int_equal(
	    kdb_query(f->db, &r, "SELECT detail FROM audit WHERE seq = 3"),
	    TKM_OK);
	assert_int_equal(kdb_next(r), 1);
	snprintf(orig, sizeof(orig), "%s", kdb_text(r, 0));
	kdb_rows_free(r);
	assert_non_null(strstr(orig, "\\u"));
	assert_int_equal(kdb_exec(f->db, "UPDATE audit SET detail = '{\"n\":9}'"
					 " WHERE seq = 3"),
	    TKM_OK);
	assert_int_equal(kms_audit_verify(f->db, &rep), TKM_OK);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad, 3);
	/* Edited back: whole again. A deleted row: missing. */
	assert_int_equal(
	    kdb_exec(f->db, "UPDATE audit SET detail = $1 WHERE seq = 3",
		KDB_TEXT(orig)),
	    TKM_OK);
	assert_int_equal(kms_audit_verify(f->db, &rep), TKM_OK);
	assert_true(rep.ok);
	assert_int_equal(
	    kdb_exec(f->db, "DELETE FROM audit WHERE seq = 4"), TKM_OK);
	assert_int_equal(kms_audit_verify(f->db, &rep), TKM_OK);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad, 4);
	/* An edited time of the last row. */
	assert_int_equal(
	    kdb_exec(f->db, "DELETE FROM audit WHERE seq > 3"), TKM_OK);
	assert_int_equal(
	    kdb_exec(f->db, "UPDATE audit SET time = time + 1 WHERE seq = 3"),
	    TKM_OK);
	assert_int_equal(kms_audit_verify(f->db, &rep), TKM_OK);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad, 3);
}

static int
x_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	(void)db;
	(void)why;
	(void)http;
	*stored = json_deep_copy(p);
	return TKM_OK;
}

static int
x_execute(struct kdb *db, int64_t now, int64_t id, json_t *stored,
    json_t **result, const char **why)
{
	(void)db;
	(void)now;
	(void)id;
	if (json_is_true(json_object_get(stored, "fail"))) {
		*why = "the HSM said no";
		return TKM_ERR_VERIFY;
	}
	*result = json_pack("{s:s}", "kcv", "0123456789ABCDEF");
	return TKM_OK;
}

/* The hook for flows that drive HSMs: approved, then executed or failed. */
static void
t_registered_execute(void **state)
{
	static const struct kms_kind k[] = {
	    {"test.flow", KMS_ROLE_KEY_MANAGER, x_prepare, NULL, x_execute,
		NULL},
	};
	struct fx *f = *state;
	int64_t a, b;
	int http;

	if (kms_kind_find("test.flow") == NULL)
		assert_int_equal(kms_kinds_register(k, 1), TKM_OK);
	assert_int_equal(kms_kinds_register(k, 1), TKM_ERR_INPUT);
	a = propose(f->db, &w.ka, "test.flow", "{}", 0);
	b = propose(f->db, &w.ka, "test.flow", "{\"fail\":true}", 0);
	assert_int_equal(decide(f->db, T0, &w.kb, a, 1, &http), TKM_OK);
	state_is(f->db, a, "executed");
	assert_int_equal(decide(f->db, T0, &w.kb, b, 1, &http), TKM_ERR_VERIFY);
	state_is(f->db, b, "failed");
	assert_int_equal(count(f->db, "SELECT count(*) FROM audit WHERE"
				      " action = 'proposal.executed'"),
	    1);
	chain_ok(f->db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(t_dual_control, setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		t_roles_of_kinds, setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(t_bad_payloads, setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		t_expire_reject_withdraw, setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		t_institution_and_failure, setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(t_audit_chain, setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		t_registered_execute, setup, fx_teardown),
	};
	int rc;

	if (fx_init("test_proposal") != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fx_done();
	return rc;
}
