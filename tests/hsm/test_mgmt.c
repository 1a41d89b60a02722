/*
 * test_mgmt.c - the management plane without a network: requests through
 * hsm_mgmt_handle(), the op table against the permission matrix
 * (docs/management.md), hsm_op_admit() for every role set, sessions and
 * their expiry, and the audit record of every request.
 */
#include "hsmtest.h"

#include "admin.h"
#include "audit.h"
#include "mgmt.h"
#include "ops.h"
#include "tkm/sm2.h"

#define PASSWORD "correct horse 1"

struct fx {
	char dir[64];
	struct hsm_config cfg;
	struct hsm_state st;
	struct hsm_op_ctx c;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	hsmtest_mkdtemp(f->dir);
	hsmtest_remember(f->dir, 1);
	f->st.cfg = &f->cfg;
	f->st.dir = f->dir;
	atomic_store(&f->st.dk, hsmtest_dk());
	assert_int_equal(hsm_admin_open(f->dir, &f->st.admin), TKM_OK);
	assert_int_equal(hsm_audit_open(f->dir, &f->st.audit), TKM_OK);
	f->c.st = &f->st;
	f->c.admin = f->st.admin;
	f->c.audit = f->st.audit;
	f->c.peer = "127.0.0.1:4242";
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	hsm_audit_close(f->st.audit);
	hsm_admin_close(f->st.admin);
	hsm_dk_free(f->st.dk);
	hsmtest_rmdir(f->dir);
	hsmtest_remember(f->dir, 0);
	free(f);
	return 0;
}

/* Run a request given as JSON text; the response (caller decrefs). */
static json_t *
call(struct fx *f, const char *text)
{
	json_error_t e;
	json_t *req = json_loads(text, 0, &e), *resp;

	assert_non_null(req);
	resp = hsm_mgmt_handle(&f->c, req);
	json_decref(req);
	assert_non_null(resp);
	return resp;
}

static void
assert_error(json_t *resp, const char *code, const char *text)
{
	assert_true(json_is_false(json_object_get(resp, "ok")));
	assert_string_equal(
	    json_string_value(json_object_get(resp, "code")), code);
	if (text != NULL)
		assert_non_null(strstr(
		    json_string_value(json_object_get(resp, "error")), text));
	json_decref(resp);
}

/* --- roles and the table ------------------------------------------------ */

static void
test_role_names(void **state)
{
	static const char *const names[] = {"A1", "A2", "A3", "B", "C", "D"};
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++) {
		assert_int_equal(hsm_role_parse(names[i]), 1u << i);
		assert_string_equal(hsm_role_name(1u << i), names[i]);
	}
	assert_int_equal(hsm_role_parse("A4"), 0);
	assert_int_equal(hsm_role_parse("a1"), 0);
	assert_int_equal(hsm_role_parse(""), 0);
	assert_int_equal(hsm_role_parse(NULL), 0);
	assert_string_equal(hsm_role_name(0), "?");
	assert_string_equal(hsm_role_name(HSM_ROLE_A1 | HSM_ROLE_B), "?");
}

#define A1  HSM_ROLE_A1
#define A2  HSM_ROLE_A2
#define A3  HSM_ROLE_A3
#define B   HSM_ROLE_B
#define C   HSM_ROLE_C
#define D   HSM_ROLE_D
#define ALL HSM_ROLES_ALL
#define PUB HSM_OP_PUBLIC
#define DK  HSM_OP_DK
#define ANY HSM_OP_ANY

/* The permission matrix (DESIGN §5) as the table must say it. */
static const struct {
	const char *name;
	hsm_op_fn *fn;
	unsigned need, flags;
} matrix[] = {
    {"status", op_status, 0, PUB},
    {"enrol", op_enrol, 0, PUB},
    {"login.challenge", op_login_challenge, 0, PUB},
    {"login", op_login, 0, PUB},
    {"logout", op_logout, ALL, ANY},
    {"password.set", op_password_set, ALL, ANY},
    {"keys.list", op_keys_list, C, DK},
    {"keys.delete", op_keys_delete, C, DK},
    {"auth.open", op_auth_open, C, 0},
    {"auth.close", op_auth_close, C, 0},
    {"whitelist.get", op_whitelist_get, B | C, ANY},
    {"whitelist.set", op_whitelist_set, B | C, ANY},
    {"time.get", op_time_get, B | D, ANY},
    {"time.set", op_time_set, B, 0},
    {"audit.show", op_audit_show, D, 0},
    {"audit.verify", op_audit_verify, D, 0},
    {"audit.export", op_audit_export, D, 0},
    {"dk.component", op_dk_component, A1 | A2 | A3, ANY},
    {"dk.combine", op_dk_combine, A1 | A2 | A3, 0},
    {"unseal", op_unseal, A1 | A2 | A3, 0},
    {"tk.component", op_tk_component, C, DK},
    {"tk.combine", op_tk_combine, C, DK},
    {"tk.initial", op_tk_initial, C, DK},
    {"dk.export", op_dk_export, C, DK},
    {"dk.restore", op_dk_restore, A1 | A2 | A3, 0},
    {"backup.create", op_backup_create, C, DK},
    {"backup.restore", op_backup_restore, C, DK},
    {"mkey.generate", op_mkey_generate, A1 | A2 | A3, DK},
    {"mkey.import", op_mkey_import, A1 | A2 | A3, DK},
    {"mkey.show", op_mkey_show, ALL, ANY | DK},
    {"zeroise", op_zeroise, A1 | A2 | A3, 0},
    {"net.get", op_net_get, B, 0},
    {"net.set", op_net_set, B, 0},
    {"audit.checkpoint", op_audit_checkpoint, D, DK},
    {"maint.request", op_maint_request, C, DK},
    {"maint.apply", op_maint_apply, C, DK},
    {"maint.show", op_maint_show, B | C, ANY | DK},
};
#define NMATRIX (sizeof(matrix) / sizeof(matrix[0]))

static void
test_table(void **state)
{
	const struct hsm_op *op;
	size_t i;

	(void)state;
	for (i = 0; i < NMATRIX; i++) {
		op = hsm_op_find(matrix[i].name);
		assert_non_null(op);
		assert_string_equal(op->name, matrix[i].name);
		assert_ptr_equal(op->fn, matrix[i].fn);
		assert_int_equal(op->need, matrix[i].need);
		assert_int_equal(op->flags, matrix[i].flags);
	}
	/* Every row is in the matrix: nothing slips in unchecked. */
	for (i = 0; (op = hsm_op_at(i)) != NULL; i++)
		assert_non_null(op->fn);
	assert_int_equal(i, NMATRIX);
	assert_null(hsm_op_find("nope"));
	assert_null(hsm_op_find(""));
	assert_null(hsm_op_find(NULL));
	assert_null(hsm_op_find("STATUS"));
}

/* For every op, every set of roles, sealed and not: admitted exactly as
 * the flags say. */
static void
test_admit_all(void **state)
{
	struct fx *f = *state;
	struct hsm_session s;
	struct hsm_dk *dk = f->st.dk;
	const struct hsm_op *op;
	unsigned roles, sealed;
	int want, ok_roles;
	size_t i;

	memset(&s, 0, sizeof(s));
	for (sealed = 0; sealed < 2; sealed++) {
		atomic_store(&f->st.dk, sealed ? NULL : dk);
		for (i = 0; (op = hsm_op_at(i)) != NULL; i++) {
			for (roles = 0; roles <= ALL; roles++) {
				s.roles = roles;
				f->c.s = &s;
				if (op->flags & PUB)
					ok_roles = 1;
				else if (op->flags & ANY)
					ok_roles = (roles & op->need) != 0;
				else
					ok_roles =
					    (roles & op->need) == op->need;
				want = !ok_roles ? TKM_ERR_PERMISSION
				       : sealed && (op->flags & DK)
					   ? TKM_ERR_SEALED
					   : TKM_OK;
				assert_int_equal(hsm_op_admit(op, &f->c), want);
			}
			/* No session is no role. */
			f->c.s = NULL;
			assert_int_equal(hsm_op_admit(op, &f->c),
			    (op->flags & PUB) == 0       ? TKM_ERR_PERMISSION
			    : sealed && (op->flags & DK) ? TKM_ERR_SEALED
							 : TKM_OK);
		}
	}
	atomic_store(&f->st.dk, dk);
	f->c.s = NULL;
}

/* Cases of the matrix spelled out, should the formula above be wrong. */
static void
test_admit_cases(void **state)
{
	static const struct {
		const char *op;
		unsigned roles;
		int sealed, want;
	} cases[] = {
	    {"status", 0, 1, TKM_OK},
	    {"keys.list", C, 0, TKM_OK},
	    {"keys.list", C, 1, TKM_ERR_SEALED},
	    {"keys.list", B, 1, TKM_ERR_PERMISSION},
	    {"keys.delete", ALL & ~C, 0, TKM_ERR_PERMISSION},
	    {"auth.open", C, 1, TKM_OK},
	    {"whitelist.get", B, 0, TKM_OK},
	    {"whitelist.get", C, 0, TKM_OK},
	    {"whitelist.get", D, 0, TKM_ERR_PERMISSION},
	    {"time.get", D, 0, TKM_OK},
	    {"time.set", D, 0, TKM_ERR_PERMISSION},
	    {"time.set", B, 0, TKM_OK},
	    {"audit.show", D, 1, TKM_OK},
	    {"audit.verify", C, 0, TKM_ERR_PERMISSION},
	    {"dk.component", A2, 1, TKM_OK},
	    {"dk.combine", A1 | A2, 1, TKM_ERR_PERMISSION},
	    {"dk.combine", A1 | A2 | A3, 1, TKM_OK},
	    {"unseal", A1 | A3, 1, TKM_ERR_PERMISSION},
	    {"unseal", A1 | A2 | A3, 1, TKM_OK},
	    {"tk.component", C, 1, TKM_ERR_SEALED},
	    {"logout", D, 0, TKM_OK},
	    {"logout", 0, 0, TKM_ERR_PERMISSION},
	    {"password.set", B, 0, TKM_OK},
	};
	struct fx *f = *state;
	struct hsm_dk *dk = f->st.dk;
	struct hsm_session s;
	size_t i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s.roles = cases[i].roles;
		f->c.s = &s;
		atomic_store(&f->st.dk, cases[i].sealed ? NULL : dk);
		assert_int_equal(hsm_op_admit(hsm_op_find(cases[i].op), &f->c),
		    cases[i].want);
	}
	atomic_store(&f->st.dk, dk);
	f->c.s = NULL;
}

/* --- requests ----------------------------------------------------------- */

static void
test_bad_requests(void **state)
{
	struct fx *f = *state;
	json_t *arr = json_array();

	assert_error(hsm_mgmt_handle(&f->c, arr), "15", "JSON object");
	json_decref(arr);
	assert_error(call(f, "{}"), "15", "missing \"op\"");
	assert_error(call(f, "{\"op\": 7}"), "15", "missing \"op\"");
	assert_error(call(f, "{\"op\": \"nope\"}"), "60", "unknown op");
	assert_error(call(f, "{\"op\": \"status\", \"args\": []}"), "15",
	    "\"args\" must be an object");
	assert_error(call(f, "{\"op\": \"status\", \"session\": 5}"), "15",
	    "\"session\" must be a string");
	assert_null(f->c.s);
}

static void
test_status_public(void **state)
{
	struct fx *f = *state;
	json_t *r, *res;

	r = call(f, "{\"op\": \"status\"}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_null(json_object_get(r, "session"));
	res = json_object_get(r, "result");
	assert_true(json_is_false(json_object_get(res, "sealed")));
	assert_int_equal(
	    json_string_length(json_object_get(res, "dk_kcv")), 16);
	assert_int_equal(json_array_size(json_object_get(res, "roles")), 0);
	json_decref(r);
	/* Sealed: said so, and no KCV. */
	{
		struct hsm_dk *dk = f->st.dk;

		atomic_store(&f->st.dk, NULL);
		r = call(f, "{\"op\": \"status\"}");
		res = json_object_get(r, "result");
		assert_true(json_is_true(json_object_get(res, "sealed")));
		assert_null(json_object_get(res, "dk_kcv"));
		json_decref(r);
		atomic_store(&f->st.dk, dk);
	}
}

static void
test_needs_login(void **state)
{
	struct fx *f = *state;

	assert_error(call(f, "{\"op\": \"keys.list\"}"), "29", NULL);
	assert_error(call(f, "{\"op\": \"audit.show\", \"session\": "
			     "\"00112233445566778899AABBCCDDEEFF\"}"),
	    "29", "unknown or expired session");
	assert_error(call(f, "{\"op\": \"time.set\", \"session\": \"xyz\"}"),
	    "29", "unknown or expired session");
	/* A public op ignores a stale token. */
	json_decref(call(f, "{\"op\": \"status\", \"session\": \"zz\"}"));
	assert_null(f->c.s);
}

/* --- sessions (needs the auth operations: a real card login) ------------ */

static struct tkm_sm2 *
enrol(struct fx *f, unsigned role)
{
	uint8_t pub[TKM_SM2_PUB_LEN];
	struct tkm_sm2 *k = NULL;

	assert_int_equal(tkm_sm2_generate(&k), TKM_OK);
	assert_int_equal(tkm_sm2_pub(k, pub), TKM_OK);
	assert_int_equal(
	    hsm_admin_enrol(f->st.admin, role, pub, PASSWORD), TKM_OK);
	return k;
}

/* login.challenge then login for role; the session token (static). */
static const char *
login(struct fx *f, struct tkm_sm2 *k, unsigned role, const char *session)
{
	static char token[64];
	uint8_t chal[256], sig[TKM_SM2_SIG_LEN];
	char sighex[2 * TKM_SM2_SIG_LEN + 1];
	json_t *req, *r;
	const char *hex;
	size_t n;

	req = json_pack("{s:s, s:{s:s}}", "op", "login.challenge", "args",
	    "role", hsm_role_name(role));
	if (session != NULL)
		json_object_set_new(req, "session", json_string(session));
	r = hsm_mgmt_handle(&f->c, req);
	json_decref(req);
	assert_true(json_is_true(json_object_get(r, "ok")));
	hex = json_string_value(
	    json_object_get(json_object_get(r, "result"), "challenge"));
	assert_non_null(hex);
	assert_int_equal(
	    tkm_hex_decode(hex, strlen(hex), chal, sizeof(chal), &n), TKM_OK);
	snprintf(token, sizeof(token), "%s",
	    json_string_value(json_object_get(r, "session")));
	assert_int_equal(strlen(token), 32);
	if (session != NULL)
		assert_string_equal(token, session);
	json_decref(r);
	assert_int_equal(tkm_sm2_sign(k, (const uint8_t *)TKM_SM2_DEFAULT_ID,
			     TKM_SM2_DEFAULT_ID_LEN, chal, n, sig),
	    TKM_OK);
	tkm_hex_encode(sig, sizeof(sig), sighex);
	req = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "op", "login",
	    "session", token, "args", "role", hsm_role_name(role), "signature",
	    sighex, "password", PASSWORD);
	r = hsm_mgmt_handle(&f->c, req);
	json_decref(req);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(
	    json_string_value(json_object_get(r, "session")), token);
	json_decref(r);
	return token;
}

static json_t *
call_s(struct fx *f, const char *op, const char *token)
{
	json_t *req = json_pack("{s:s, s:s}", "op", op, "session", token);
	json_t *r = hsm_mgmt_handle(&f->c, req);

	json_decref(req);
	assert_non_null(r);
	return r;
}

/* A request refused before any op runs (op missing, not a string, unknown;
 * args not an object) still names the caller's live session, or the
 * console would forget it (docs/management.md). fuzz_mgmt found the missing
 * op; the other cases were fixed before. */
static void
test_refusal_keeps_session(void **state)
{
	static const char *const bad[] = {
	    "{}",
	    "{\"op\": 7}",
	    "{\"Op\": \"logout\"}",
	    "{\"op\": \"no.such\"}",
	    "{\"op\": \"status\", \"args\": []}",
	};
	struct fx *f = *state;
	struct tkm_sm2 *kc = enrol(f, C);
	char token[64];
	json_error_t jerr;
	json_t *req, *r;
	size_t i;

	snprintf(token, sizeof(token), "%s", login(f, kc, C, NULL));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req = json_loads(bad[i], 0, &jerr);
		assert_non_null(req);
		json_object_set_new(req, "session", json_string(token));
		r = hsm_mgmt_handle(&f->c, req);
		json_decref(req);
		assert_false(json_is_true(json_object_get(r, "ok")));
		assert_string_equal(
		    json_string_value(json_object_get(r, "session")), token);
		json_decref(r);
	}
	r = call_s(f, "status", token); /* and it still works */
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	tkm_sm2_free(kc);
}

static void
test_session_roles(void **state)
{
	struct fx *f = *state;
	struct tkm_sm2 *kc = enrol(f, C), *kd = enrol(f, D);
	char token[64];
	json_t *r, *roles;

	snprintf(token, sizeof(token), "%s", login(f, kc, C, NULL));
	assert_non_null(f->c.s);
	assert_int_equal(f->c.s->roles, C);
	/* A second role joins the same session. */
	(void)login(f, kd, D, token);
	r = call_s(f, "status", token);
	roles = json_object_get(json_object_get(r, "result"), "roles");
	assert_int_equal(json_array_size(roles), 2);
	assert_string_equal(json_string_value(json_array_get(roles, 0)), "C");
	assert_string_equal(json_string_value(json_array_get(roles, 1)), "D");
	assert_string_equal(
	    json_string_value(json_object_get(r, "session")), token);
	json_decref(r);
	/* C may not run a D operation's sibling B-only one. */
	assert_error(call_s(f, "time.set", token), "29", NULL);
	tkm_sm2_free(kc);
	tkm_sm2_free(kd);
}

static void
test_session_expiry(void **state)
{
	struct fx *f = *state;
	struct tkm_sm2 *k = enrol(f, C);
	char token[64];
	json_t *r;

	snprintf(token, sizeof(token), "%s", login(f, k, C, NULL));
	/* Unused for longer than HSM_MGMT_IDLE: gone. */
	f->c.s->last_use -= HSM_MGMT_IDLE + 1;
	assert_error(
	    call_s(f, "auth.close", token), "29", "unknown or expired session");
	r = call_s(f, "status", token);
	assert_null(json_object_get(r, "session"));
	json_decref(r);
	tkm_sm2_free(k);
}

static void
test_session_logout(void **state)
{
	struct fx *f = *state;
	struct tkm_sm2 *k = enrol(f, B);
	char token[64];
	json_t *r;

	snprintf(token, sizeof(token), "%s", login(f, k, B, NULL));
	r = call_s(f, "logout", token);
	assert_true(json_is_true(json_object_get(r, "ok")));
	/* The last role gone, the session is too. */
	assert_null(json_object_get(r, "session"));
	json_decref(r);
	assert_null(f->c.s);
	assert_error(call_s(f, "time.get", token), "29", NULL);
	tkm_sm2_free(k);
}

/* --- audit -------------------------------------------------------------- */

struct seen {
	unsigned n;
	char last_actor[64], last_op[32], last_detail[256];
	int last_result;
};

static int
collect(void *arg, const struct hsm_audit_rec *r)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last_actor, sizeof(s->last_actor), "%s", r->actor);
	snprintf(s->last_op, sizeof(s->last_op), "%s", r->op);
	snprintf(s->last_detail, sizeof(s->last_detail), "%s",
	    r->detail != NULL ? r->detail : "");
	s->last_result = r->result;
	return TKM_OK;
}

static struct seen
audit_seen(struct fx *f)
{
	struct seen s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    hsm_audit_list(f->st.audit, 0, 100000, collect, &s), TKM_OK);
	return s;
}

static void
test_audit_every_request(void **state)
{
	struct fx *f = *state;
	struct seen s0 = audit_seen(f), s;

	json_decref(call(f, "{\"op\": \"status\"}"));
	s = audit_seen(f);
	assert_int_equal(s.n, s0.n + 1);
	assert_string_equal(s.last_op, "status");
	assert_string_equal(s.last_actor, "127.0.0.1:4242");
	assert_int_equal(s.last_result, TKM_OK);

	assert_error(call(f, "{\"op\": \"keys.delete\", \"args\": "
			     "{\"lib\": \"sm4\", \"index\": 3}}"),
	    "29", NULL);
	s = audit_seen(f);
	assert_int_equal(s.n, s0.n + 2);
	assert_string_equal(s.last_op, "keys.delete");
	assert_int_equal(s.last_result, TKM_ERR_PERMISSION);
	assert_non_null(strstr(s.last_detail, "\"sm4\""));

	assert_error(call(f, "{\"op\": \"nope\"}"), "60", NULL);
	s = audit_seen(f);
	assert_int_equal(s.n, s0.n + 3);
	assert_int_equal(s.last_result, TKM_ERR_NO_CMD);
}

/* Secrets never reach the audit log. */
static void
test_audit_no_secrets(void **state)
{
	struct fx *f = *state;
	struct seen s;

	json_decref(call(f, "{\"op\": \"password.set\", \"args\": "
			    "{\"role\": \"B\", \"password\": \"s3cret-pw\", "
			    "\"new_password\": \"s3cret-new\", \"pin\": "
			    "\"123456\", \"component\": \"0011AABB\", "
			    "\"issuer_code\": \"02885820\"}}"));
	s = audit_seen(f);
	assert_string_equal(s.last_op, "password.set");
	assert_null(strstr(s.last_detail, "s3cret"));
	assert_null(strstr(s.last_detail, "123456"));
	assert_null(strstr(s.last_detail, "0011AABB"));
	assert_null(strstr(s.last_detail, "02885820")); /* a password */
	assert_non_null(strstr(s.last_detail, "\"B\""));

	/* A file argument is shown by size and digest, so that why the op
	 * failed still fits: an unknown lib with a 1000-character file. */
	{
		char req[1200];
		int n;

		n = snprintf(req, sizeof(req),
		    "{\"op\": \"backup.restore\", \"args\": {\"file\": \"");
		memset(req + n, 'Q', 1000);
		snprintf(
		    req + n + 1000, sizeof(req) - (size_t)n - 1000, "\"}}");
		json_decref(call(f, req));
		s = audit_seen(f);
		assert_string_equal(s.last_op, "backup.restore");
		assert_null(strstr(s.last_detail, "QQQQ"));
		assert_non_null(
		    strstr(s.last_detail, "(1000 characters, SM3 "));
	}
}

/* --- the manage line of the config file -------------------------------- */

static int
load_line(const char *line, struct hsm_config *cfg, const char **why)
{
	char dir[64], path[80];
	unsigned n;
	FILE *fp;
	int rc;

	hsmtest_mkdtemp(dir);
	hsmtest_remember(dir, 1);
	snprintf(path, sizeof(path), "%s/c", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "%s\n", line);
	fclose(fp);
	hsm_config_defaults(cfg);
	rc = hsm_config_load(path, cfg, &n, why);
	hsmtest_rmdir(dir);
	hsmtest_remember(dir, 0);
	return rc;
}

static void
test_config_manage(void **state)
{
	static const struct {
		const char *line, *addr;
		unsigned port;
		const char *cert, *why;
	} cases[] = {
	    {"", "127.0.0.1", 1501, "", NULL},
	    {"manage 127.0.0.1:0", "127.0.0.1", 0, "", NULL},
	    {"manage 127.9.8.7:1600", "127.9.8.7", 1600, "", NULL},
	    {"manage [::1]:1501", "::1", 1501, "", NULL},
	    {"manage 10.0.0.5:1501 tls-cert=/c.pem tls-key=/k.pem", "10.0.0.5",
		1501, "/c.pem", NULL},
	    {"manage 0.0.0.0:1501 tls-key=/k tls-cert=/c", "0.0.0.0", 1501,
		"/c", NULL},
	    {"manage 10.0.0.5:1501", NULL, 0, NULL, "tls-cert"},
	    {"manage 0.0.0.0:1501", NULL, 0, NULL, "tls-cert"},
	    {"manage [::]:1501", NULL, 0, NULL, "tls-cert"},
	    {"manage 127.0.0.1:1501 tls-cert=/c", NULL, 0, NULL, "together"},
	    {"manage 127.0.0.1:1501 tls-key=/k", NULL, 0, NULL, "together"},
	    {"manage 127.0.0.1:1 tls-cert=/a tls-cert=/b tls-key=/k", NULL, 0,
		NULL, "twice"},
	    {"manage 127.0.0.1:1 tls-cert= tls-key=/k", NULL, 0, NULL, "empty"},
	    {"manage 127.0.0.1:1 tls=1", NULL, 0, NULL, "tls-cert=FILE"},
	    {"manage 127.0.0.1:70000", NULL, 0, NULL, "port"},
	    {"manage localhost:1501", NULL, 0, NULL, "numeric"},
	    {"manage", NULL, 0, NULL, "ADDR:PORT"},
	};
	struct hsm_config *cfg = malloc(sizeof(*cfg));
	const char *why;
	size_t i;
	int rc;

	(void)state;
	assert_non_null(cfg);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = load_line(cases[i].line, cfg, &why);
		if (cases[i].why != NULL) {
			assert_int_equal(rc, TKM_ERR_INPUT);
			assert_non_null(strstr(why, cases[i].why));
			continue;
		}
		assert_int_equal(rc, TKM_OK);
		assert_string_equal(cfg->manage.addr, cases[i].addr);
		assert_int_equal(cfg->manage.port, cases[i].port);
		assert_string_equal(cfg->manage.tls_cert, cases[i].cert);
	}
	assert_true(hsm_addr_is_loopback("127.0.0.1"));
	assert_true(hsm_addr_is_loopback("127.255.0.1"));
	assert_true(hsm_addr_is_loopback("::1"));
	assert_false(hsm_addr_is_loopback("128.0.0.1"));
	assert_false(hsm_addr_is_loopback("::"));
	assert_false(hsm_addr_is_loopback("::ffff:127.0.0.1"));
	assert_false(hsm_addr_is_loopback("nonsense"));
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_role_names),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_config_manage),
	    cmocka_unit_test_setup_teardown(test_admit_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admit_cases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_status_public, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_needs_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_refusal_keeps_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_session_roles, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_session_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_session_logout, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_audit_every_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_audit_no_secrets, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
