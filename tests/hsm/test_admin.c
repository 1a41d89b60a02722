/*
 * test_admin.c - the administrators' database (admin.c): enrolment,
 * logins with card signature and password, lock-out growth and reset,
 * persistence across a reopen, password bounds, settings.
 *
 * Runs with TKMS_ARGON2_FAST=1 (64 KiB per Argon2id). Lock-out times are
 * driven through the explicit "now" of hsm_admin_login.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "admin.h"
#include "mgmt.h"
#include "tkm/sm2.h"

#define PW   "correct horse"
#define NOW  1000000
#define CHAL "0123456789abcdef0123456789abcdef"
#define CLEN 32
#define A1   HSM_ROLE_A1

struct fx {
	char dir[64];
	struct hsm_admin *a;
	struct tkm_sm2 *card;  /* A1's card */
	struct tkm_sm2 *other; /* a card nobody enrolled */
	uint8_t pub[TKM_SM2_PUB_LEN];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/admintest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(hsm_admin_open(f->dir, &f->a), TKM_OK);
	assert_int_equal(tkm_sm2_generate(&f->card), TKM_OK);
	assert_int_equal(tkm_sm2_generate(&f->other), TKM_OK);
	assert_int_equal(tkm_sm2_pub(f->card, f->pub), TKM_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	static const char *const files[] = {
	    "admin.db", "admin.db-wal", "admin.db-shm"};
	struct fx *f = *state;
	char path[128];
	size_t i;

	hsm_admin_close(f->a);
	tkm_sm2_free(f->card);
	tkm_sm2_free(f->other);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		unlink(path);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
reopen(struct fx *f)
{
	hsm_admin_close(f->a);
	f->a = NULL;
	assert_int_equal(hsm_admin_open(f->dir, &f->a), TKM_OK);
}

/* One login attempt for A1 signed by card (of f), with password pw. */
static int
attempt(struct fx *f, struct tkm_sm2 *card, const char *pw, time_t now,
    unsigned *retry)
{
	uint8_t sig[TKM_SM2_SIG_LEN];

	assert_int_equal(tkm_sm2_sign(card, NULL, 0, CHAL, CLEN, sig), TKM_OK);
	return hsm_admin_login(
	    f->a, A1, (const uint8_t *)CHAL, CLEN, sig, pw, now, retry);
}

static void
enrol_and_login(void **state)
{
	struct fx *f = *state;
	unsigned retry = 99;
	struct stat sb;
	char path[128];

	assert_int_equal(hsm_admin_enrolled(f->a), 0);
	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, PW), TKM_OK);
	assert_int_equal(hsm_admin_enrolled(f->a), A1);
	assert_int_equal(hsm_admin_enrol(f->a, HSM_ROLE_C, f->pub, PW), TKM_OK);
	assert_int_equal(hsm_admin_enrolled(f->a), A1 | HSM_ROLE_C);

	assert_int_equal(attempt(f, f->card, PW, NOW, &retry), TKM_OK);
	assert_int_equal(retry, 0);
	assert_int_equal(
	    attempt(f, f->card, "wrong password", NOW, &retry), TKM_ERR_VERIFY);
	assert_int_equal(attempt(f, f->other, PW, NOW, &retry), TKM_ERR_VERIFY);
	assert_int_equal(attempt(f, f->other, "wrong password", NOW, &retry),
	    TKM_ERR_VERIFY);
	assert_int_equal(retry, HSM_LOCK_BASE); /* third failure */

	snprintf(path, sizeof(path), "%s/admin.db", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void
signature_binds_the_challenge(void **state)
{
	struct fx *f = *state;
	uint8_t sig[TKM_SM2_SIG_LEN];
	unsigned retry;

	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, PW), TKM_OK);
	assert_int_equal(
	    tkm_sm2_sign(f->card, NULL, 0, CHAL, CLEN, sig), TKM_OK);
	assert_int_equal(
	    hsm_admin_login(f->a, A1,
		(const uint8_t *)"1123456789abcdef0123456789abcdef", CLEN, sig,
		PW, NOW, &retry),
	    TKM_ERR_VERIFY);
	/* Signed with another ID than the default: refused. */
	assert_int_equal(
	    tkm_sm2_sign(f->card, (const uint8_t *)"ALICE", 5, CHAL, CLEN, sig),
	    TKM_OK);
	assert_int_equal(hsm_admin_login(f->a, A1, (const uint8_t *)CHAL, CLEN,
			     sig, PW, NOW, &retry),
	    TKM_ERR_VERIFY);
	assert_int_equal(attempt(f, f->card, PW, NOW, &retry), TKM_OK);
}

static void
not_enrolled_and_bad_arguments(void **state)
{
	struct fx *f = *state;
	uint8_t sig[TKM_SM2_SIG_LEN] = {0};
	unsigned retry;

	assert_int_equal(attempt(f, f->card, PW, NOW, &retry), TKM_ERR_NO_KEY);
	assert_int_equal(hsm_admin_login(f->a, 0, (const uint8_t *)CHAL, CLEN,
			     sig, PW, NOW, &retry),
	    TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_login(f->a, A1 | HSM_ROLE_A2,
			     (const uint8_t *)CHAL, CLEN, sig, PW, NOW, &retry),
	    TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_login(f->a, 1u << 6, (const uint8_t *)CHAL,
			     CLEN, sig, PW, NOW, &retry),
	    TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_login(f->a, A1, (const uint8_t *)CHAL, CLEN,
			     sig, NULL, NOW, &retry),
	    TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_login(f->a, A1, (const uint8_t *)CHAL, CLEN,
			     sig, PW, NOW, NULL),
	    TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_enrol(f->a, 0, f->pub, PW), TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_enrol(f->a, 3, f->pub, PW), TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_enrol(f->a, A1, NULL, PW), TKM_ERR_INPUT);
	assert_int_equal(
	    hsm_admin_enrol(f->a, A1, f->pub, NULL), TKM_ERR_INPUT);
	memset(sig, 0x11, sizeof(sig)); /* not a point on the curve */
	assert_int_equal(hsm_admin_enrol(f->a, A1, sig, PW), TKM_ERR_ASYM_KEY);
	assert_int_equal(
	    hsm_admin_set_password(f->a, A1, "12345678"), TKM_ERR_NO_KEY);
	assert_int_equal(hsm_admin_enrolled(f->a), 0);
}

static void
password_bounds(void **state)
{
	struct fx *f = *state;
	char pw[HSM_PASSWORD_MAX + 2];
	unsigned retry;

	memset(pw, 'p', sizeof(pw));
	pw[HSM_PASSWORD_MIN - 1] = '\0';
	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, pw), TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, ""), TKM_ERR_INPUT);
	memset(pw, 'p', sizeof(pw));
	pw[HSM_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, pw), TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_enrolled(f->a), 0);

	pw[HSM_PASSWORD_MAX] = '\0';
	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, pw), TKM_OK);
	assert_int_equal(attempt(f, f->card, pw, NOW, &retry), TKM_OK);
	/* The 8-digit issuer code of a reset is the shortest there is. */
	assert_int_equal(hsm_admin_set_password(f->a, A1, "44010000"), TKM_OK);
	assert_int_equal(attempt(f, f->card, "44010000", NOW, &retry), TKM_OK);
	assert_int_equal(
	    hsm_admin_set_password(f->a, A1, "4401000"), TKM_ERR_INPUT);
	pw[HSM_PASSWORD_MAX] = 'p';
	assert_int_equal(hsm_admin_set_password(f->a, A1, pw), TKM_ERR_INPUT);
	/* A wrong-length password at login is just wrong. */
	assert_int_equal(attempt(f, f->card, pw, NOW, &retry), TKM_ERR_VERIFY);
	assert_int_equal(
	    attempt(f, f->card, "4401", NOW, &retry), TKM_ERR_VERIFY);
}

static void
lockout_grows_and_resets(void **state)
{
	struct fx *f = *state;
	time_t now = NOW;
	unsigned retry, want = HSM_LOCK_BASE;
	int i;

	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, PW), TKM_OK);
	for (i = 1; i < HSM_LOCK_AFTER; i++) {
		assert_int_equal(
		    attempt(f, f->card, "bad password", now, &retry),
		    TKM_ERR_VERIFY);
		assert_int_equal(retry, 0);
	}
	for (i = 0; i < 12; i++) {
		assert_int_equal(
		    attempt(f, f->card, "bad password", now, &retry),
		    TKM_ERR_VERIFY);
		assert_int_equal(retry, want);
		/* Locked: even the right answer is not looked at, nor
		 * counted. */
		assert_int_equal(attempt(f, f->card, PW, now + 1, &retry),
		    TKM_ERR_PERMISSION);
		assert_int_equal(retry, want - 1);
		assert_int_equal(
		    attempt(f, f->card, PW, now + want - 1, &retry),
		    TKM_ERR_PERMISSION);
		assert_int_equal(retry, 1);
		now += want;
		want = want * 2 > HSM_LOCK_MAX ? HSM_LOCK_MAX : want * 2;
	}
	assert_int_equal(want, HSM_LOCK_MAX);
	/* Success resets the count: the next failures lock only after
	 * HSM_LOCK_AFTER again. */
	assert_int_equal(attempt(f, f->card, PW, now, &retry), TKM_OK);
	assert_int_equal(retry, 0);
	for (i = 1; i < HSM_LOCK_AFTER; i++)
		assert_int_equal(
		    attempt(f, f->card, "bad password", now, &retry),
		    TKM_ERR_VERIFY);
	assert_int_equal(retry, 0);
	assert_int_equal(attempt(f, f->card, PW, now, &retry), TKM_OK);
}

static void
persists_across_reopen(void **state)
{
	struct fx *f = *state;
	unsigned retry;
	char val[32];
	int i;

	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, PW), TKM_OK);
	assert_int_equal(
	    hsm_admin_set(f->a, "authorised_until", "123"), TKM_OK);
	for (i = 0; i < HSM_LOCK_AFTER; i++)
		assert_int_equal(
		    attempt(f, f->card, "bad password", NOW, &retry),
		    TKM_ERR_VERIFY);
	assert_int_equal(retry, HSM_LOCK_BASE);
	reopen(f);
	assert_int_equal(hsm_admin_enrolled(f->a), A1);
	assert_int_equal(
	    attempt(f, f->card, PW, NOW + 1, &retry), TKM_ERR_PERMISSION);
	assert_int_equal(retry, HSM_LOCK_BASE - 1);
	/* The count survived too: one more failure doubles the lock. */
	assert_int_equal(
	    attempt(f, f->card, "bad password", NOW + HSM_LOCK_BASE, &retry),
	    TKM_ERR_VERIFY);
	assert_int_equal(retry, 2 * HSM_LOCK_BASE);
	reopen(f);
	assert_int_equal(
	    hsm_admin_get(f->a, "authorised_until", val, sizeof(val)), TKM_OK);
	assert_string_equal(val, "123");
	assert_int_equal(
	    attempt(f, f->card, PW, NOW + 3 * HSM_LOCK_BASE, &retry), TKM_OK);
}

static void
password_change_and_reset(void **state)
{
	struct fx *f = *state;
	unsigned retry;
	int i;

	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, PW), TKM_OK);
	assert_int_equal(
	    hsm_admin_set_password(f->a, A1, "new password"), TKM_OK);
	assert_int_equal(attempt(f, f->card, PW, NOW, &retry), TKM_ERR_VERIFY);
	assert_int_equal(
	    attempt(f, f->card, "new password", NOW, &retry), TKM_OK);
	/* A reset lifts a lock-out. */
	for (i = 0; i < HSM_LOCK_AFTER; i++)
		assert_int_equal(
		    attempt(f, f->card, PW, NOW, &retry), TKM_ERR_VERIFY);
	assert_int_equal(attempt(f, f->card, "new password", NOW, &retry),
	    TKM_ERR_PERMISSION);
	assert_int_equal(hsm_admin_set_password(f->a, A1, "44010000"), TKM_OK);
	assert_int_equal(attempt(f, f->card, "44010000", NOW, &retry), TKM_OK);
}

static void
reenrol_replaces_card(void **state)
{
	struct fx *f = *state;
	uint8_t pub2[TKM_SM2_PUB_LEN];
	unsigned retry;

	assert_int_equal(hsm_admin_enrol(f->a, A1, f->pub, PW), TKM_OK);
	assert_int_equal(tkm_sm2_pub(f->other, pub2), TKM_OK);
	assert_int_equal(
	    hsm_admin_enrol(f->a, A1, pub2, "other password"), TKM_OK);
	assert_int_equal(attempt(f, f->card, PW, NOW, &retry), TKM_ERR_VERIFY);
	assert_int_equal(
	    attempt(f, f->other, "other password", NOW, &retry), TKM_OK);
	assert_int_equal(hsm_admin_enrolled(f->a), A1);
}

static void
settings(void **state)
{
	struct fx *f = *state;
	char val[8];

	assert_int_equal(
	    hsm_admin_get(f->a, "whitelist", val, sizeof(val)), TKM_ERR_NO_KEY);
	assert_string_equal(val, "");
	assert_int_equal(hsm_admin_set(f->a, "whitelist", "A0,A6"), TKM_OK);
	assert_int_equal(
	    hsm_admin_get(f->a, "whitelist", val, sizeof(val)), TKM_OK);
	assert_string_equal(val, "A0,A6");
	assert_int_equal(hsm_admin_set(f->a, "whitelist", "A0,A6,UB"), TKM_OK);
	assert_int_equal(
	    hsm_admin_get(f->a, "whitelist", val, sizeof(val)), TKM_ERR_SPACE);
	assert_int_equal(hsm_admin_set(f->a, "whitelist", ""), TKM_OK);
	assert_int_equal(
	    hsm_admin_get(f->a, "whitelist", val, sizeof(val)), TKM_OK);
	assert_string_equal(val, "");
	assert_int_equal(hsm_admin_get(f->a, NULL, val, 8), TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_get(f->a, "x", NULL, 8), TKM_ERR_INPUT);
	assert_int_equal(hsm_admin_set(f->a, "x", NULL), TKM_ERR_INPUT);
}

static void
newer_schema_refused(void **state)
{
	struct fx *f = *state;
	struct hsm_admin *b = NULL;
	sqlite3 *db = NULL;
	char path[128];

	hsm_admin_close(f->a);
	f->a = NULL;
	snprintf(path, sizeof(path), "%s/admin.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(hsm_admin_open(f->dir, &b), TKM_ERR_IO);
	assert_null(b);
	assert_int_equal(hsm_admin_open("/nonexistent/dir", &f->a), TKM_ERR_IO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(enrol_and_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		signature_binds_the_challenge, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		not_enrolled_and_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(password_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		lockout_grows_and_resets, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		persists_across_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		password_change_and_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		reenrol_replaces_card, setup, teardown),
	    cmocka_unit_test_setup_teardown(settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		newer_schema_refused, setup, teardown),
	};

	setenv("TKMS_ARGON2_FAST", "1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
