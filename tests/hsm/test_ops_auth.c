/*
 * test_ops_auth.c - enrolment, login, logout and passwords (ops_auth.c):
 * first the handlers called directly with a hand-built context (the
 * initialisation rule, the A1+A2+A3 rule, single-use challenges, generic
 * failures, lock-out), then the same through hsm_mgmt_handle() with its
 * sessions.
 *
 * Runs with TKMS_ARGON2_FAST=1 (64 KiB per Argon2id).
 */
#include "hsmtest.h"

#include "admin.h"
#include "audit.h"
#include "mgmt.h"
#include "ops.h"
#include "tkm/sm2.h"

#define PW "correct horse"
#define A1 HSM_ROLE_A1
#define A2 HSM_ROLE_A2
#define A3 HSM_ROLE_A3
#define B  HSM_ROLE_B
#define C  HSM_ROLE_C
#define NR 6 /* roles */

struct fx {
	char dir[64];
	struct hsm_config cfg;
	struct hsm_state st;
	struct hsm_op_ctx c;
	struct hsm_session sess; /* for direct handler calls */
	struct tkm_sm2 *card[NR];
	json_t *res;     /* result of the last direct call */
	const char *why; /* its message */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	size_t i;

	assert_non_null(f);
	hsmtest_mkdtemp(f->dir);
	hsmtest_remember(f->dir, 1);
	f->st.cfg = &f->cfg;
	f->st.dir = f->dir;
	assert_int_equal(hsm_admin_open(f->dir, &f->st.admin), TKM_OK);
	f->c.st = &f->st;
	f->c.admin = f->st.admin;
	f->c.peer = "127.0.0.1:4242";
	for (i = 0; i < NR; i++)
		assert_int_equal(tkm_sm2_generate(&f->card[i]), TKM_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	size_t i;

	json_decref(f->res);
	hsm_audit_close(f->st.audit);
	hsm_admin_close(f->st.admin);
	hsm_dk_free(f->st.dk);
	for (i = 0; i < NR; i++)
		tkm_sm2_free(f->card[i]);
	hsmtest_rmdir(f->dir);
	hsmtest_remember(f->dir, 0);
	free(f);
	return 0;
}

static size_t
role_index(unsigned role)
{
	size_t i;

	for (i = 0; i < NR; i++)
		if (role == 1u << i)
			return i;
	fail();
	return 0;
}

static void
pub_hex(struct tkm_sm2 *k, char out[2 * TKM_SM2_PUB_LEN + 1])
{
	uint8_t pub[TKM_SM2_PUB_LEN];

	assert_int_equal(tkm_sm2_pub(k, pub), TKM_OK);
	tkm_hex_encode(pub, sizeof(pub), out);
}

/* --- direct calls --------------------------------------------------------
 * c.s is &f->sess when session is set, NULL otherwise. */

static int
run(struct fx *f, hsm_op_fn *fn, json_t *args, int session)
{
	int rc;

	json_decref(f->res);
	f->res = json_object();
	f->why = NULL;
	f->c.s = session ? &f->sess : NULL;
	rc = fn(&f->c, args, f->res, &f->why);
	json_decref(args);
	return rc;
}

static int
enrol(struct fx *f, unsigned role, const char *pw, int session)
{
	char hex[2 * TKM_SM2_PUB_LEN + 1];

	pub_hex(f->card[role_index(role)], hex);
	return run(f, op_enrol,
	    json_pack("{s:s, s:s, s:s}", "role", hsm_role_name(role), "pub",
		hex, "password", pw),
	    session);
}

/* A challenge for role on f->sess, signed by card. */
static void
challenge(struct fx *f, unsigned role, struct tkm_sm2 *card,
    char sighex[2 * TKM_SM2_SIG_LEN + 1])
{
	uint8_t chal[32], sig[TKM_SM2_SIG_LEN];
	const char *hex;
	size_t n;

	assert_int_equal(
	    run(f, op_login_challenge,
		json_pack("{s:s}", "role", hsm_role_name(role)), 1),
	    TKM_OK);
	hex = json_string_value(json_object_get(f->res, "challenge"));
	assert_non_null(hex);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(
	    tkm_hex_decode(hex, 64, chal, sizeof(chal), &n), TKM_OK);
	assert_int_equal(f->sess.challenge_role, role);
	assert_memory_equal(f->sess.challenge, chal, sizeof(chal));
	assert_int_equal(
	    tkm_sm2_sign(card, NULL, 0, chal, sizeof(chal), sig), TKM_OK);
	tkm_hex_encode(sig, sizeof(sig), sighex);
}

static int
login_with(struct fx *f, unsigned role, const char *sighex, const char *pw)
{
	return run(f, op_login,
	    json_pack("{s:s, s:s, s:s}", "role", hsm_role_name(role),
		"signature", sighex, "password", pw),
	    1);
}

static int
login(struct fx *f, unsigned role, const char *pw)
{
	char sighex[2 * TKM_SM2_SIG_LEN + 1];

	challenge(f, role, f->card[role_index(role)], sighex);
	return login_with(f, role, sighex, pw);
}

static void
initialisation_rule(void **state)
{
	struct fx *f = *state;

	/* A1-A3 enrol themselves without a login, once each. */
	assert_int_equal(enrol(f, A1, PW, 0), TKM_OK);
	assert_string_equal(
	    json_string_value(json_object_get(f->res, "role")), "A1");
	assert_int_equal(enrol(f, A1, PW, 0), TKM_ERR_PERMISSION);
	assert_non_null(f->why);
	/* Nobody else before the three are there. */
	assert_int_equal(enrol(f, B, PW, 0), TKM_ERR_PERMISSION);
	assert_int_equal(enrol(f, C, PW, 0), TKM_ERR_PERMISSION);
	assert_int_equal(enrol(f, A2, PW, 0), TKM_OK);
	/* A logged-in A1 cannot enrol for the others either. */
	assert_int_equal(login(f, A1, PW), TKM_OK);
	assert_int_equal(enrol(f, C, PW, 1), TKM_ERR_PERMISSION);
	assert_int_equal(enrol(f, A3, PW, 1), TKM_OK);
	assert_int_equal(
	    json_array_size(json_object_get(f->res, "enrolled")), 3);
	assert_int_equal(hsm_admin_enrolled(f->st.admin), HSM_ROLES_A);

	/* Initialised: every enrolment needs A1+A2+A3. */
	memset(&f->sess, 0, sizeof(f->sess));
	assert_int_equal(enrol(f, C, PW, 0), TKM_ERR_PERMISSION);
	assert_string_equal(f->why, "enrolling needs A1, A2 and A3 logged in");
	assert_int_equal(login(f, A1, PW), TKM_OK);
	assert_int_equal(login(f, A2, PW), TKM_OK);
	assert_int_equal(enrol(f, C, PW, 1), TKM_ERR_PERMISSION);
	assert_int_equal(login(f, A3, PW), TKM_OK);
	assert_int_equal(f->sess.roles, HSM_ROLES_A);
	assert_int_equal(enrol(f, C, PW, 1), TKM_OK);
	assert_int_equal(enrol(f, B, PW, 1), TKM_OK);
	assert_int_equal(hsm_admin_enrolled(f->st.admin), HSM_ROLES_A | B | C);
}

static void
reenrol_needs_all_three(void **state)
{
	struct fx *f = *state;
	struct tkm_sm2 *old;

	assert_int_equal(enrol(f, A1, PW, 0), TKM_OK);
	assert_int_equal(enrol(f, A2, PW, 0), TKM_OK);
	assert_int_equal(enrol(f, A3, PW, 0), TKM_OK);
	/* A1 alone (logged in) may not replace its own card. */
	assert_int_equal(login(f, A1, PW), TKM_OK);
	old = f->card[0];
	assert_int_equal(tkm_sm2_generate(&f->card[0]), TKM_OK);
	assert_int_equal(enrol(f, A1, "new password", 1), TKM_ERR_PERMISSION);
	f->sess.roles |= A2 | A3; /* as if they had logged in */
	assert_int_equal(enrol(f, A1, "new password", 1), TKM_OK);
	/* The old card no longer logs in; the new one does. */
	{
		char sighex[2 * TKM_SM2_SIG_LEN + 1];

		challenge(f, A1, old, sighex);
		assert_int_equal(
		    login_with(f, A1, sighex, "new password"), TKM_ERR_VERIFY);
	}
	assert_int_equal(login(f, A1, "new password"), TKM_OK);
	tkm_sm2_free(old);
}

static void
enrol_bad_arguments(void **state)
{
	struct fx *f = *state;
	char hex[2 * TKM_SM2_PUB_LEN + 1];
	struct hsm_admin *a = f->c.admin;

	pub_hex(f->card[0], hex);
	assert_int_equal(run(f, op_enrol,
			     json_pack("{s:s, s:s, s:s}", "role", "E", "pub",
				 hex, "password", PW),
			     0),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(f->why, "role"));
	assert_int_equal(
	    run(f, op_enrol,
		json_pack("{s:s, s:s}", "pub", hex, "password", PW), 0),
	    TKM_ERR_INPUT);
	assert_int_equal(run(f, op_enrol,
			     json_pack("{s:s, s:i, s:s}", "role", "A1", "pub",
				 5, "password", PW),
			     0),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(f->why, "pub"));
	hex[127] = '\0';
	assert_int_equal(run(f, op_enrol,
			     json_pack("{s:s, s:s, s:s}", "role", "A1", "pub",
				 hex, "password", PW),
			     0),
	    TKM_ERR_INPUT);
	hex[127] = 'G';
	assert_int_equal(run(f, op_enrol,
			     json_pack("{s:s, s:s, s:s}", "role", "A1", "pub",
				 hex, "password", PW),
			     0),
	    TKM_ERR_INPUT);
	memset(hex, '1', 128);
	assert_int_equal(run(f, op_enrol,
			     json_pack("{s:s, s:s, s:s}", "role", "A1", "pub",
				 hex, "password", PW),
			     0),
	    TKM_ERR_ASYM_KEY);
	assert_int_equal(enrol(f, A1, "short", 0), TKM_ERR_INPUT);
	assert_non_null(strstr(f->why, "8 to 128"));
	assert_int_equal(
	    run(f, op_enrol, json_pack("{s:s, s:s}", "role", "A1", "pub", hex),
		0),
	    TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_enrolled(a), 0);
	f->c.admin = NULL;
	assert_int_equal(enrol(f, A1, PW, 0), TKM_ERR_INTERNAL);
	f->c.admin = a;
}

static void
challenge_is_single_use(void **state)
{
	struct fx *f = *state;
	char sighex[2 * TKM_SM2_SIG_LEN + 1];
	json_t *roles;

	assert_int_equal(
	    run(f, op_login_challenge, json_pack("{s:s}", "role", "A1"), 1),
	    TKM_ERR_NO_KEY); /* not enrolled */
	assert_int_equal(f->sess.challenge_role, 0);
	assert_int_equal(enrol(f, A1, PW, 0), TKM_OK);
	assert_int_equal(
	    run(f, op_login_challenge, json_pack("{s:s}", "role", "X"), 1),
	    TKM_ERR_INPUT);

	challenge(f, A1, f->card[0], sighex);
	/* Malformed requests do not use it up. */
	assert_int_equal(login_with(f, A1, "00", PW), TKM_ERR_INPUT);
	assert_int_equal(
	    run(f, op_login,
		json_pack("{s:s, s:s}", "role", "A1", "signature", sighex), 1),
	    TKM_ERR_INPUT);
	/* A login for another role does not match it. */
	assert_int_equal(login_with(f, A2, sighex, PW), TKM_ERR_PERMISSION);
	assert_int_equal(f->sess.challenge_role, A1);
	assert_int_equal(login_with(f, A1, sighex, PW), TKM_OK);
	roles = json_object_get(f->res, "roles");
	assert_int_equal(json_array_size(roles), 1);
	assert_string_equal(json_string_value(json_array_get(roles, 0)), "A1");
	assert_int_equal(f->sess.roles, A1);
	assert_int_equal(f->sess.challenge_role, 0);
	/* Replayed: no challenge any more. */
	assert_int_equal(login_with(f, A1, sighex, PW), TKM_ERR_PERMISSION);
	assert_non_null(strstr(f->why, "login.challenge"));
	/* A wrong login uses it up too. */
	challenge(f, A1, f->card[0], sighex);
	assert_int_equal(
	    login_with(f, A1, sighex, "wrong one"), TKM_ERR_VERIFY);
	assert_int_equal(f->sess.challenge_role, 0);
	assert_int_equal(login_with(f, A1, sighex, PW), TKM_ERR_PERMISSION);
	/* No session at all. */
	f->c.s = NULL;
	assert_int_equal(
	    run(f, op_login_challenge, json_pack("{s:s}", "role", "A1"), 0),
	    TKM_ERR_INTERNAL);
	assert_int_equal(run(f, op_login,
			     json_pack("{s:s, s:s, s:s}", "role", "A1",
				 "signature", sighex, "password", PW),
			     0),
	    TKM_ERR_PERMISSION);
}

static void
failures_are_generic_then_locked(void **state)
{
	struct fx *f = *state;
	char sighex[2 * TKM_SM2_SIG_LEN + 1];
	int i;

	assert_int_equal(enrol(f, C, PW, 0), TKM_ERR_PERMISSION);
	assert_int_equal(
	    hsm_admin_enrol(f->c.admin, C, (uint8_t[TKM_SM2_PUB_LEN]){0}, PW),
	    TKM_ERR_ASYM_KEY);
	{
		uint8_t pub[TKM_SM2_PUB_LEN];

		assert_int_equal(tkm_sm2_pub(f->card[4], pub), TKM_OK);
		assert_int_equal(
		    hsm_admin_enrol(f->c.admin, C, pub, PW), TKM_OK);
	}
	/* Wrong card and wrong password read the same. */
	challenge(f, C, f->card[0], sighex);
	assert_int_equal(login_with(f, C, sighex, PW), TKM_ERR_VERIFY);
	assert_string_equal(f->why, "wrong card or password");
	assert_int_equal(login(f, C, "wrong one"), TKM_ERR_VERIFY);
	assert_string_equal(f->why, "wrong card or password");
	assert_null(json_object_get(f->res, "retry_after"));
	for (i = HSM_LOCK_AFTER - 2; i > 0; i--)
		assert_int_equal(login(f, C, "wrong one"), TKM_ERR_VERIFY);
	assert_non_null(strstr(f->why, "locked"));
	assert_int_equal(
	    json_integer_value(json_object_get(f->res, "retry_after")),
	    HSM_LOCK_BASE);
	/* Locked: the right answer is refused as such. */
	assert_int_equal(login(f, C, PW), TKM_ERR_PERMISSION);
	assert_non_null(strstr(f->why, "locked after repeated failures"));
	assert_true(
	    json_integer_value(json_object_get(f->res, "retry_after")) > 0);
	assert_int_equal(f->sess.roles, 0);
}

static void
logout(void **state)
{
	struct fx *f = *state;

	assert_int_equal(enrol(f, A1, PW, 0), TKM_OK);
	assert_int_equal(enrol(f, A2, PW, 0), TKM_OK);
	assert_int_equal(login(f, A1, PW), TKM_OK);
	assert_int_equal(login(f, A2, PW), TKM_OK);
	assert_int_equal(run(f, op_logout, json_pack("{s:s}", "role", "A3"), 1),
	    TKM_ERR_INPUT);
	assert_int_equal(run(f, op_logout, json_pack("{s:s}", "role", "Q"), 1),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    run(f, op_logout, json_pack("{s:s}", "role", "A1"), 1), TKM_OK);
	assert_int_equal(f->sess.roles, A2);
	assert_int_equal(json_array_size(json_object_get(f->res, "roles")), 1);
	assert_int_equal(login(f, A1, PW), TKM_OK);
	assert_int_equal(f->sess.roles, A1 | A2);
	/* All roles, and a pending challenge too. */
	assert_int_equal(
	    run(f, op_login_challenge, json_pack("{s:s}", "role", "A1"), 1),
	    TKM_OK);
	assert_int_equal(run(f, op_logout, json_object(), 1), TKM_OK);
	assert_int_equal(f->sess.roles, 0);
	assert_int_equal(f->sess.challenge_role, 0);
	assert_int_equal(json_array_size(json_object_get(f->res, "roles")), 0);
	assert_int_equal(
	    run(f, op_logout, json_object(), 0), TKM_ERR_PERMISSION);
}

static void
password_set_rule(void **state)
{
	struct fx *f = *state;

	assert_int_equal(enrol(f, A1, PW, 0), TKM_OK);
	assert_int_equal(enrol(f, A2, PW, 0), TKM_OK);
	assert_int_equal(enrol(f, A3, PW, 0), TKM_OK);
	f->sess.roles = HSM_ROLES_A; /* as if logged in */
	assert_int_equal(enrol(f, B, PW, 1), TKM_OK);
	assert_int_equal(enrol(f, C, PW, 1), TKM_OK);

	/* B changes its own password. */
	memset(&f->sess, 0, sizeof(f->sess));
	assert_int_equal(login(f, B, PW), TKM_OK);
	assert_int_equal(run(f, op_password_set,
			     json_pack("{s:s, s:s}", "role", "B", "password",
				 "b's new password"),
			     1),
	    TKM_OK);
	assert_int_equal(
	    run(f, op_password_set,
		json_pack("{s:s, s:s}", "role", "B", "password", "short"), 1),
	    TKM_ERR_INPUT);
	/* ... but not C's. */
	assert_int_equal(run(f, op_password_set,
			     json_pack("{s:s, s:s}", "role", "C", "password",
				 "c's new password"),
			     1),
	    TKM_ERR_PERMISSION);
	assert_int_equal(login(f, B, "b's new password"), TKM_OK);

	/* The city ceremony: A1+A2+A3 reset B's to the issuer code. */
	memset(&f->sess, 0, sizeof(f->sess));
	assert_int_equal(login(f, A1, PW), TKM_OK);
	assert_int_equal(login(f, A2, PW), TKM_OK);
	assert_int_equal(
	    run(f, op_password_set,
		json_pack("{s:s, s:s}", "role", "B", "password", "44010000"),
		1),
	    TKM_ERR_PERMISSION);
	assert_int_equal(login(f, A3, PW), TKM_OK);
	assert_int_equal(
	    run(f, op_password_set,
		json_pack("{s:s, s:s}", "role", "B", "password", "44010000"),
		1),
	    TKM_OK);
	assert_int_equal(
	    run(f, op_password_set,
		json_pack("{s:s, s:s}", "role", "D", "password", "44010000"),
		1),
	    TKM_ERR_NO_KEY);
	memset(&f->sess, 0, sizeof(f->sess));
	assert_int_equal(login(f, B, "b's new password"), TKM_ERR_VERIFY);
	assert_int_equal(login(f, B, "44010000"), TKM_OK);
}

/* --- through hsm_mgmt_handle --------------------------------------------- */

static void
open_audit(struct fx *f)
{
	atomic_store(&f->st.dk, hsmtest_dk());
	assert_int_equal(hsm_audit_open(f->dir, &f->st.audit), TKM_OK);
	f->c.audit = f->st.audit;
}

static json_t *
handle(struct fx *f, json_t *req)
{
	json_t *r = hsm_mgmt_handle(&f->c, req);

	json_decref(req);
	assert_non_null(r);
	return r;
}

static const char *
code_of(json_t *r)
{
	const char *code = json_string_value(json_object_get(r, "code"));

	return code != NULL ? code : "00";
}

/* login.challenge + login for role on session token (NULL: new one);
 * the response to login (caller decrefs); *token gets the session. */
static json_t *
mlogin(struct fx *f, unsigned role, const char *pw, char token[33])
{
	uint8_t chal[32], sig[TKM_SM2_SIG_LEN];
	char sighex[2 * TKM_SM2_SIG_LEN + 1];
	json_t *req, *r;
	const char *hex;
	size_t n;

	req = json_pack("{s:s, s:{s:s}}", "op", "login.challenge", "args",
	    "role", hsm_role_name(role));
	if (token[0] != '\0')
		json_object_set_new(req, "session", json_string(token));
	r = handle(f, req);
	assert_string_equal(code_of(r), "00");
	hex = json_string_value(
	    json_object_get(json_object_get(r, "result"), "challenge"));
	assert_non_null(hex);
	assert_int_equal(
	    tkm_hex_decode(hex, strlen(hex), chal, sizeof(chal), &n), TKM_OK);
	snprintf(
	    token, 33, "%s", json_string_value(json_object_get(r, "session")));
	json_decref(r);
	assert_int_equal(
	    tkm_sm2_sign(f->card[role_index(role)], NULL, 0, chal, n, sig),
	    TKM_OK);
	tkm_hex_encode(sig, sizeof(sig), sighex);
	return handle(
	    f, json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "op", "login",
		   "session", token, "args", "role", hsm_role_name(role),
		   "signature", sighex, "password", pw));
}

static json_t *
menrol(struct fx *f, unsigned role, const char *token)
{
	char hex[2 * TKM_SM2_PUB_LEN + 1];
	json_t *req;

	pub_hex(f->card[role_index(role)], hex);
	req = json_pack("{s:s, s:{s:s, s:s, s:s}}", "op", "enrol", "args",
	    "role", hsm_role_name(role), "pub", hex, "password", PW);
	if (token != NULL)
		json_object_set_new(req, "session", json_string(token));
	return handle(f, req);
}

static void
expect(json_t *r, const char *code)
{
	assert_string_equal(code_of(r), code);
	json_decref(r);
}

static void
ceremony_through_the_core(void **state)
{
	struct fx *f = *state;
	char token[33] = "", other[33] = "";
	json_t *r;

	open_audit(f);
	expect(menrol(f, A1, NULL), "00");
	expect(menrol(f, A2, NULL), "00");
	expect(menrol(f, C, NULL), "29");
	expect(menrol(f, A3, NULL), "00");
	expect(menrol(f, C, NULL), "29");

	/* A1, A2, A3 at one console: one session. */
	expect(mlogin(f, A1, PW, token), "00");
	assert_int_equal(strlen(token), 32);
	expect(mlogin(f, A2, PW, token), "00");
	expect(menrol(f, C, token), "29");
	r = mlogin(f, A3, PW, token);
	assert_string_equal(code_of(r), "00");
	assert_string_equal(
	    json_string_value(json_object_get(r, "session")), token);
	assert_int_equal(json_array_size(json_object_get(
			     json_object_get(r, "result"), "roles")),
	    3);
	json_decref(r);
	expect(menrol(f, C, token), "00");
	expect(handle(f, json_pack("{s:s, s:s, s:{s:s, s:s}}", "op",
			     "password.set", "session", token, "args", "role",
			     "C", "password", "44010000")),
	    "00");

	/* C on its own session: a wrong first login ends it. */
	r = mlogin(f, C, "wrong one", other);
	assert_string_equal(code_of(r), "01");
	assert_string_equal(json_string_value(json_object_get(r, "error")),
	    "wrong card or password");
	assert_null(json_object_get(r, "session"));
	json_decref(r);
	other[0] = '\0';
	expect(mlogin(f, C, "44010000", other), "00");
	expect(handle(f, json_pack("{s:s, s:s, s:{s:s, s:s}}", "op",
			     "password.set", "session", other, "args", "role",
			     "A1", "password", "44010000")),
	    "29");

	/* Logout of the last role ends the session. */
	r = handle(
	    f, json_pack("{s:s, s:s}", "op", "logout", "session", other));
	assert_string_equal(code_of(r), "00");
	assert_null(json_object_get(r, "session"));
	json_decref(r);
	expect(handle(f,
		   json_pack("{s:s, s:s}", "op", "logout", "session", other)),
	    "29");
}

static void
lockout_through_the_core(void **state)
{
	struct fx *f = *state;
	char token[33];
	json_t *r = NULL;
	int i;

	open_audit(f);
	expect(menrol(f, A1, NULL), "00");
	for (i = 0; i < HSM_LOCK_AFTER; i++) {
		json_decref(r);
		token[0] = '\0';
		r = mlogin(f, A1, "wrong one", token);
		assert_string_equal(code_of(r), "01");
	}
	assert_non_null(
	    strstr(json_string_value(json_object_get(r, "error")), "locked"));
	json_decref(r);
	token[0] = '\0';
	r = mlogin(f, A1, PW, token);
	assert_string_equal(code_of(r), "29");
	assert_non_null(strstr(
	    json_string_value(json_object_get(r, "error")), "try again in"));
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		initialisation_rule, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		reenrol_needs_all_three, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		enrol_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		challenge_is_single_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		failures_are_generic_then_locked, setup, teardown),
	    cmocka_unit_test_setup_teardown(logout, setup, teardown),
	    cmocka_unit_test_setup_teardown(password_set_rule, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		ceremony_through_the_core, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		lockout_through_the_core, setup, teardown),
	};

	setenv("TKMS_ARGON2_FAST", "1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
