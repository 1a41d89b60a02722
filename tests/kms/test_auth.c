/*
 * test_auth.c - KMS users and sessions (src/kms/auth.h): roles, name and
 * password rules, Argon2id hashes, login, tokens, idle and absolute
 * expiry, lock-out after repeated failures, disabled accounts, logout.
 * On SQLite, and on PostgreSQL through tests/kms/pg.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "auth.h"
#include "kmsfx.h"

#define T0 1800000000 /* a fixed "now" */

static int64_t
add_user(struct kdb *db, const char *name, const char *role, const char *pw)
{
	char hash[KMS_HASH_MAX];
	const char *why;
	int64_t id;

	assert_int_equal(kms_password_hash(pw, hash), TKM_OK);
	assert_int_equal(
	    kms_user_insert(db, T0, name, role, hash, &id, &why), TKM_OK);
	return id;
}

static void
t_roles(void **state)
{
	(void)state;
	assert_int_equal(kms_role_of("configurator"), KMS_ROLE_CONFIGURATOR);
	assert_int_equal(kms_role_of("key_manager"), KMS_ROLE_KEY_MANAGER);
	assert_int_equal(kms_role_of("supervisor"), KMS_ROLE_SUPERVISOR);
	assert_int_equal(kms_role_of("auditor"), KMS_ROLE_AUDITOR);
	assert_int_equal(kms_role_of("root"), KMS_ROLE_NONE);
	assert_int_equal(kms_role_of(NULL), KMS_ROLE_NONE);
	assert_string_equal(kms_role_name(KMS_ROLE_AUDITOR), "auditor");
	assert_null(kms_role_name(KMS_ROLE_ANY));
}

static void
t_names_passwords(void **state)
{
	static const struct {
		const char *name;
		int ok;
	} names[] = {
	    {"alice", 1},
	    {"a", 1},
	    {"k.m-1_b", 1},
	    {"", 0},
	    {"1abc", 0},
	    {"Alice", 0},
	    {"al ice", 0},
	    {"al'ice", 0},
	    {"a\xe4", 0},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		1},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "a",
		0},
	};
	const char *why;
	char big[KMS_PW_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(
		    kms_user_name_ok(names[i].name, &why), names[i].ok);
	assert_int_equal(kms_password_ok("1234567", &why), 0);
	assert_int_equal(kms_password_ok("12345678", &why), 1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(kms_password_ok(big, &why), 0);
}

static void
t_insert(void **state)
{
	struct fx *f = *state;
	char hash[KMS_HASH_MAX];
	const char *why;
	int64_t id;

	assert_int_equal(kms_password_hash("password-1", hash), TKM_OK);
	assert_true(strncmp(hash, "$argon2id$v=19$", 15) == 0);
	assert_int_equal(kms_user_insert(f->db, T0, "alice", "configurator",
			     hash, &id, &why),
	    TKM_OK);
	assert_true(id > 0);
	assert_int_equal(
	    kms_user_insert(f->db, T0, "alice", "auditor", hash, &id, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(kdb_fail(f->db), KDB_FAIL_UNIQUE);
	assert_string_equal(why, "user exists");
	assert_int_equal(
	    kms_user_insert(f->db, T0, "bob", "admin", hash, &id, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(kms_user_insert(f->db, T0, "bob", "auditor",
			     "plaintext", &id, &why),
	    TKM_ERR_INPUT);
	assert_int_equal(
	    kms_user_insert(f->db, T0, "Bob", "auditor", hash, &id, &why),
	    TKM_ERR_INPUT);
}

static void
t_login_session_logout(void **state)
{
	struct fx *f = *state;
	char tok[KMS_TOKEN_LEN + 1], tok2[KMS_TOKEN_LEN + 1];
	struct kms_user u, v;
	const char *why;
	int64_t id = add_user(f->db, "alice", "key_manager", "password-1");
	size_t i;

	assert_int_equal(
	    kms_login(f->db, T0, 60, "alice", "password-1", tok, &u, &why),
	    TKM_OK);
	assert_int_equal(strlen(tok), KMS_TOKEN_LEN);
	for (i = 0; i < KMS_TOKEN_LEN; i++)
		assert_non_null(strchr("0123456789ABCDEF", tok[i]));
	assert_int_equal(u.id, id);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.role, KMS_ROLE_KEY_MANAGER);
	/* Two logins, two sessions. */
	assert_int_equal(
	    kms_login(f->db, T0, 60, "alice", "password-1", tok2, &u, &why),
	    TKM_OK);
	assert_string_not_equal(tok, tok2);
	assert_int_equal(
	    kms_session_check(f->db, T0 + 1, 60, tok, &v, &why), TKM_OK);
	assert_int_equal(v.id, id);
	assert_int_equal(v.role, KMS_ROLE_KEY_MANAGER);
	/* The database keeps no token, only its hash. */
	int64_t n;
	assert_int_equal(kdb_int1(f->db, &n,
			     "SELECT count(*) FROM sessions WHERE token_hash"
			     " = $1",
			     KDB_BLOB(tok, KMS_TOKEN_LEN)),
	    TKM_OK);
	assert_int_equal(n, 0);
	/* A changed token, a short one, garbage: not logged in. */
	tok2[0] = tok2[0] == 'A' ? 'B' : 'A';
	assert_int_equal(kms_session_check(f->db, T0, 60, tok2, &v, &why),
	    TKM_ERR_PERMISSION);
	assert_int_equal(kms_session_check(f->db, T0, 60, "ABCD", &v, &why),
	    TKM_ERR_PERMISSION);
	assert_int_equal(kms_session_check(f->db, T0, 60, NULL, &v, &why),
	    TKM_ERR_PERMISSION);
	assert_string_equal(why, "not logged in");
	assert_int_equal(kms_logout(f->db, tok), TKM_OK);
	assert_int_equal(kms_session_check(f->db, T0 + 2, 60, tok, &v, &why),
	    TKM_ERR_PERMISSION);
	assert_int_equal(kms_logout(f->db, "nonsense"), TKM_OK);
}

static void
t_wrong_and_unknown(void **state)
{
	struct fx *f = *state;
	char tok[KMS_TOKEN_LEN + 1], why1[64];
	struct kms_user u;
	const char *why;

	add_user(f->db, "alice", "auditor", "password-1");
	assert_int_equal(
	    kms_login(f->db, T0, 60, "alice", "password-2", tok, &u, &why),
	    TKM_ERR_VERIFY);
	assert_string_equal(tok, "");
	snprintf(why1, sizeof(why1), "%s", why);
	/* An unknown name is answered exactly like a wrong password. */
	assert_int_equal(
	    kms_login(f->db, T0, 60, "nobody", "password-1", tok, &u, &why),
	    TKM_ERR_VERIFY);
	assert_string_equal(why, why1);
	assert_int_equal(kms_login(f->db, T0, 60, "alice", "", tok, &u, &why),
	    TKM_ERR_VERIFY);
}

static void
t_idle_expiry(void **state)
{
	struct fx *f = *state;
	char tok[KMS_TOKEN_LEN + 1];
	struct kms_user u;
	const char *why;

	add_user(f->db, "alice", "auditor", "password-1");
	assert_int_equal(
	    kms_login(f->db, T0, 60, "alice", "password-1", tok, &u, &why),
	    TKM_OK);
	/* Each use pushes the idle expiry on. */
	assert_int_equal(
	    kms_session_check(f->db, T0 + 59, 60, tok, &u, &why), TKM_OK);
	assert_int_equal(
	    kms_session_check(f->db, T0 + 118, 60, tok, &u, &why), TKM_OK);
	assert_int_equal(kms_session_check(f->db, T0 + 178, 60, tok, &u, &why),
	    TKM_ERR_PERMISSION);
	assert_string_equal(why, "session expired");
	/* Expired sessions are gone, not merely refused. */
	assert_int_equal(kms_session_check(f->db, T0 + 100, 60, tok, &u, &why),
	    TKM_ERR_PERMISSION);
	assert_string_equal(why, "not logged in");
	/* However busy, a session ends after KMS_SESSION_SECS. */
	assert_int_equal(kms_login(f->db, T0, KMS_SESSION_SECS, "alice",
			     "password-1", tok, &u, &why),
	    TKM_OK);
	assert_int_equal(kms_session_check(f->db, T0 + KMS_SESSION_SECS - 1,
			     KMS_SESSION_SECS, tok, &u, &why),
	    TKM_OK);
	assert_int_equal(kms_session_check(f->db, T0 + KMS_SESSION_SECS,
			     KMS_SESSION_SECS, tok, &u, &why),
	    TKM_ERR_PERMISSION);
}

/* Refuse every UPDATE of sessions, as a full disk would. */
static void
freeze_sessions(struct kdb *db)
{
	const char *sql =
	    kdb_backend(db) == KDB_SQLITE
		? "CREATE TRIGGER cut_touch BEFORE UPDATE ON sessions BEGIN"
		  " SELECT RAISE(ABORT, 'injected fault: disk full'); END"
		: "CREATE FUNCTION cut_touch() RETURNS trigger LANGUAGE plpgsql"
		  " AS $$ BEGIN RAISE EXCEPTION 'injected fault: disk full';"
		  " END $$; CREATE TRIGGER cut_touch BEFORE UPDATE ON sessions"
		  " FOR EACH ROW EXECUTE PROCEDURE cut_touch()";

	assert_int_equal(kdb_script(db, sql), TKM_OK);
}

/*
 * A session's life as a script: L logs alice in at T0 + t with idle time
 * idle, C checks the session at T0 + t, F makes every UPDATE of sessions
 * fail from then on. rc: what the step must return.
 */
struct step {
	char op;
	int64_t t, idle;
	int rc;
};

static void
play(struct fx *f, const struct step *s, size_t n)
{
	char tok[KMS_TOKEN_LEN + 1];
	struct kms_user u;
	const char *why;
	size_t i;
	int rc = TKM_OK;

	add_user(f->db, "alice", "auditor", "password-1");
	for (i = 0; i < n; i++) {
		if (s[i].op == 'L')
			rc = kms_login(f->db, T0 + s[i].t, s[i].idle, "alice",
			    "password-1", tok, &u, &why);
		else if (s[i].op == 'C')
			rc = kms_session_check(
			    f->db, T0 + s[i].t, s[i].idle, tok, &u, &why);
		else
			freeze_sessions(f->db);
		if (rc != s[i].rc)
			fail_msg("step %zu (%c at T0 + %lld): %d, not %d", i,
			    s[i].op, (long long)s[i].t, rc, s[i].rc);
		if (s[i].op == 'C' && rc == TKM_OK)
			assert_string_equal(u.name, "alice");
	}
}

/*
 * A use within 10 s of the last push leaves the expiry alone (no write per
 * request); a session that cannot be pushed on still serves until its
 * recorded expiry, so reads work on a full disk. A short idle time is
 * pushed on after a quarter of it; a shorter one than the session's (a
 * restart with a smaller --session-idle) applies at its next use.
 */
static void
t_touch(void **state)
{
	static const struct step s[] = {
	    {'L', 0, 8, TKM_OK},
	    {'C', 1, 8, TKM_OK}, /* idle 8: pushed after 2 s */
	    {'C', 8, 8, TKM_ERR_PERMISSION},
	    {'L', 0, 8, TKM_OK},
	    {'C', 2, 8, TKM_OK}, /* pushed to 10 */
	    {'C', 9, 8, TKM_OK},
	    {'L', 0, 60, TKM_OK},
	    {'C', 5, 8, TKM_OK}, /* idle now 8: pulled in to 13 */
	    {'C', 13, 8, TKM_ERR_PERMISSION},
	    {'L', 0, 60, TKM_OK},
	    {'C', 9, 60, TKM_OK}, /* not pushed: expires at 60 */
	    {'C', 60, 60, TKM_ERR_PERMISSION},
	    {'L', 0, 60, TKM_OK},
	    {'C', 10, 60, TKM_OK}, /* pushed to 70 */
	    {'F', 0, 0, TKM_OK},
	    {'C', 60, 60, TKM_OK}, /* the push fails: still valid */
	    {'C', 69, 60, TKM_OK},
	    {'C', 70, 60, TKM_ERR_PERMISSION},
	};

	play(*state, s, sizeof(s) / sizeof(s[0]));
}

static void
t_lockout(void **state)
{
	struct fx *f = *state;
	char tok[KMS_TOKEN_LEN + 1];
	struct kms_user u;
	const char *why;
	int i;

	add_user(f->db, "alice", "auditor", "password-1");
	/* Failures below the limit are forgotten by a good login. */
	for (i = 0; i < KMS_LOCK_AFTER - 1; i++)
		assert_int_equal(kms_login(f->db, T0, 60, "alice", "wrong-pw",
				     tok, &u, &why),
		    TKM_ERR_VERIFY);
	assert_int_equal(
	    kms_login(f->db, T0, 60, "alice", "password-1", tok, &u, &why),
	    TKM_OK);
	for (i = 0; i < KMS_LOCK_AFTER - 1; i++)
		assert_int_equal(kms_login(f->db, T0, 60, "alice", "wrong-pw",
				     tok, &u, &why),
		    TKM_ERR_VERIFY);
	assert_int_equal(
	    kms_login(f->db, T0, 60, "alice", "wrong-pw", tok, &u, &why),
	    TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "locked"));
	/* Locked: the right password does not help until the time is up. */
	assert_int_equal(
	    kms_login(f->db, T0 + 1, 60, "alice", "password-1", tok, &u, &why),
	    TKM_ERR_PERMISSION);
	assert_non_null(strstr(why, "locked"));
	assert_int_equal(kms_login(f->db, T0 + KMS_LOCK_SECS - 1, 60, "alice",
			     "password-1", tok, &u, &why),
	    TKM_ERR_PERMISSION);
	assert_int_equal(kms_login(f->db, T0 + KMS_LOCK_SECS, 60, "alice",
			     "password-1", tok, &u, &why),
	    TKM_OK);
}

static void
t_disabled(void **state)
{
	struct fx *f = *state;
	char tok[KMS_TOKEN_LEN + 1];
	struct kms_user u;
	const char *why;

	add_user(f->db, "alice", "auditor", "password-1");
	assert_int_equal(
	    kms_login(f->db, T0, 60, "alice", "password-1", tok, &u, &why),
	    TKM_OK);
	assert_int_equal(kdb_exec(f->db, "UPDATE users SET state = 'disabled'"
					 " WHERE name = 'alice'"),
	    TKM_OK);
	assert_int_equal(kms_session_check(f->db, T0 + 1, 60, tok, &u, &why),
	    TKM_ERR_PERMISSION);
	assert_string_equal(why, "account disabled");
	assert_int_equal(
	    kms_login(f->db, T0, 60, "alice", "password-1", tok, &u, &why),
	    TKM_ERR_PERMISSION);
	assert_string_equal(why, "account disabled");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_roles),
	    cmocka_unit_test(t_names_passwords),
	    cmocka_unit_test_setup_teardown(t_insert, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		t_login_session_logout, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		t_wrong_and_unknown, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		t_idle_expiry, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(t_touch, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(t_lockout, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(t_disabled, fx_setup, fx_teardown),
	};
	int rc;

	if (fx_init("test_auth") != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fx_done();
	return rc;
}
