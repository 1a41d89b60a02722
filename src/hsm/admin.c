/*
 * admin.c - the administrators' database (admin.h): DIR/admin.db.
 *
 * One connection guarded by a mutex; Argon2id runs outside it (it takes a
 * good fraction of a second at the interactive cost), so that workers
 * reading settings never wait for a login.
 *
 * Tables (schema version 1, PRAGMA user_version):
 *   roles     role TEXT ("A1".."D") PRIMARY KEY, card_pub BLOB (X || Y, 64),
 *             pw_hash TEXT (Argon2id encoded, "$argon2id$v=19$m=..."),
 *             failures INTEGER (consecutive failed logins),
 *             locked_until INTEGER (seconds since 1970; 0 = not locked),
 *             updated INTEGER (last enrolment or password change)
 *   settings  key TEXT PRIMARY KEY, value TEXT
 * The failure count lives in the database, so that restarting the daemon
 * does not give an attacker fresh guesses.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <argon2.h>
#include <sqlite3.h>

#include "admin.h"
#include "mgmt.h"
#include "db.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define SCHEMA_VERSION 1
#define DB_NAME        "admin.db"

/* Password hashing: the interactive cost of RFC 9106 §4 scaled to a
 * console login; TKMS_ARGON2_FAST=1 (tests only, as for cards in card.c)
 * makes it 64 KiB. The parameters are part of each encoded hash, so a
 * hash made at one cost verifies at any other. */
#define PW_T      3
#define PW_M      (64u * 1024) /* KiB */
#define PW_M_TEST 64u
#define PW_P      1
#define PW_SALT   16
#define PW_LEN    32
#define PW_ENC    160 /* encoded hash, with room to spare */

/* A failure count beyond this changes nothing (HSM_LOCK_MAX is reached
 * long before) and keeps the shift below in range. */
#define FAILURES_CAP 1000

static const char schema_sql[] = "CREATE TABLE roles ("
				 " role TEXT PRIMARY KEY,"
				 " card_pub BLOB NOT NULL,"
				 " pw_hash TEXT NOT NULL,"
				 " failures INTEGER NOT NULL DEFAULT 0,"
				 " locked_until INTEGER NOT NULL DEFAULT 0,"
				 " updated INTEGER NOT NULL);"
				 "CREATE TABLE settings ("
				 " key TEXT PRIMARY KEY,"
				 " value TEXT NOT NULL);"
				 "PRAGMA user_version = 1;";

enum {
	ST_ENROLLED,
	ST_ROLE,
	ST_ENROL,
	ST_SET_PW,
	ST_COUNT,
	ST_GET,
	ST_SET,
	ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_ENROLLED] = "SELECT role FROM roles",
    [ST_ROLE] = "SELECT card_pub, pw_hash, failures, locked_until"
		" FROM roles WHERE role = ?1",
    [ST_ENROL] = "INSERT INTO roles (role, card_pub, pw_hash, failures,"
		 " locked_until, updated) VALUES (?1, ?2, ?3, 0, 0, ?4)"
		 " ON CONFLICT (role) DO UPDATE SET"
		 " card_pub = excluded.card_pub, pw_hash = excluded.pw_hash,"
		 " failures = 0, locked_until = 0, updated = excluded.updated",
    /* A new password also lifts a lock-out: it is what a reset is for. */
    [ST_SET_PW] = "UPDATE roles SET pw_hash = ?2, failures = 0,"
		  " locked_until = 0, updated = ?3 WHERE role = ?1",
    [ST_COUNT] = "UPDATE roles SET failures = ?2, locked_until = ?3"
		 " WHERE role = ?1",
    [ST_GET] = "SELECT value FROM settings WHERE key = ?1",
    [ST_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2)"
	       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
};

struct hsm_admin {
	pthread_mutex_t mu;
	sqlite3 *db;
	sqlite3_stmt *st[ST_N];
};

/* What a login needs of a role's row. */
struct role_row {
	uint8_t pub[TKM_SM2_PUB_LEN];
	char hash[PW_ENC];
	unsigned failures;
	time_t locked_until;
};

static int
role_ok(unsigned role)
{
	return role != 0 && (role & (role - 1)) == 0 &&
	       (role & ~(unsigned)HSM_ROLES_ALL) == 0;
}

static int
password_ok(const char *pw)
{
	size_t n;

	if (pw == NULL)
		return 0;
	n = strnlen(pw, HSM_PASSWORD_MAX + 1);
	return n >= HSM_PASSWORD_MIN && n <= HSM_PASSWORD_MAX;
}

/* A prepared statement, reset, for one use under the mutex. */
static sqlite3_stmt *
stmt(struct hsm_admin *a, int which)
{
	sqlite3_reset(a->st[which]);
	sqlite3_clear_bindings(a->st[which]);
	return a->st[which];
}

/* Run a statement that returns no row. */
static int
step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s) == SQLITE_DONE ? TKM_OK : TKM_ERR_IO;

	sqlite3_reset(s);
	return rc;
}

/* --- opening ------------------------------------------------------------ */

static int
init_db(sqlite3 *db)
{
	int rc, ver = 0;

	if ((rc = hsm_db_exec(db, "BEGIN IMMEDIATE")) != TKM_OK)
		return rc;
	if ((rc = hsm_db_user_version(db, &ver)) != TKM_OK)
		goto out;
	rc = TKM_ERR_IO;
	if (ver > SCHEMA_VERSION)
		goto out; /* written by a newer tkms-hsmd */
	if (ver == 0 && hsm_db_exec(db, schema_sql) != TKM_OK)
		goto out;
	rc = hsm_db_exec(db, "COMMIT");
out:
	if (rc != TKM_OK)
		sqlite3_exec(
		    db, "ROLLBACK", NULL, NULL, NULL); /* rc says why */
	return rc;
}

static int
open_db(struct hsm_admin *a, const char *dir)
{
	size_t i;
	int rc;

	if ((rc = hsm_db_open(dir, DB_NAME, &a->db)) != TKM_OK ||
	    (rc = init_db(a->db)) != TKM_OK)
		return rc;
	for (i = 0; i < ST_N; i++)
		if (sqlite3_prepare_v3(a->db, stmt_sql[i], -1,
			SQLITE_PREPARE_PERSISTENT, &a->st[i],
			NULL) != SQLITE_OK)
			return TKM_ERR_IO;
	return TKM_OK;
}

int
hsm_admin_open(const char *dir, struct hsm_admin **out)
{
	struct hsm_admin *a;
	int rc;

	if (out == NULL)
		return TKM_ERR_INPUT;
	*out = NULL;
	if (dir == NULL)
		return TKM_ERR_INPUT;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return TKM_ERR_NOMEM;
	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		free(a);
		return TKM_ERR_INTERNAL;
	}
	if ((rc = open_db(a, dir)) != TKM_OK) {
		hsm_admin_close(a);
		return rc;
	}
	*out = a;
	return TKM_OK;
}

void
hsm_admin_close(struct hsm_admin *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < ST_N; i++)
		sqlite3_finalize(a->st[i]);
	sqlite3_close(a->db);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* --- roles -------------------------------------------------------------- */

unsigned
hsm_admin_enrolled(struct hsm_admin *a)
{
	sqlite3_stmt *s;
	unsigned roles = 0;

	if (a == NULL)
		return 0;
	pthread_mutex_lock(&a->mu);
	s = stmt(a, ST_ENROLLED);
	while (sqlite3_step(s) == SQLITE_ROW)
		roles |=
		    hsm_role_parse((const char *)sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	pthread_mutex_unlock(&a->mu);
	return roles;
}

static uint32_t
pw_memory(void)
{
	const char *fast = getenv("TKMS_ARGON2_FAST");

	return fast != NULL && strcmp(fast, "1") == 0 ? PW_M_TEST : PW_M;
}

/* An Argon2id encoded hash of pw with a fresh salt. */
static int
hash_password(const char *pw, char out[PW_ENC])
{
	uint8_t salt[PW_SALT];
	int rc;

	if ((rc = tkm_random(salt, sizeof(salt))) != TKM_OK)
		return rc;
	if (argon2id_hash_encoded(PW_T, pw_memory(), PW_P, pw, strlen(pw), salt,
		sizeof(salt), PW_LEN, out, PW_ENC) != ARGON2_OK) {
		tkm_cleanse(out, PW_ENC);
		return TKM_ERR_INTERNAL;
	}
	return TKM_OK;
}

int
hsm_admin_enrol(struct hsm_admin *a, unsigned role,
    const uint8_t pub[TKM_SM2_PUB_LEN], const char *password)
{
	struct tkm_sm2 *k = NULL;
	sqlite3_stmt *s;
	char hash[PW_ENC];
	int rc;

	if (a == NULL || !role_ok(role) || pub == NULL)
		return TKM_ERR_INPUT;
	if (!password_ok(password))
		return TKM_ERR_INPUT;
	/* A key not on the curve could never verify a login. */
	if ((rc = tkm_sm2_from_pub(pub, &k)) != TKM_OK)
		return rc;
	tkm_sm2_free(k);
	if ((rc = hash_password(password, hash)) != TKM_OK)
		return rc;
	pthread_mutex_lock(&a->mu);
	s = stmt(a, ST_ENROL);
	rc = TKM_ERR_IO;
	if (sqlite3_bind_text(s, 1, hsm_role_name(role), -1, SQLITE_STATIC) ==
		SQLITE_OK &&
	    sqlite3_bind_blob(s, 2, pub, TKM_SM2_PUB_LEN, SQLITE_STATIC) ==
		SQLITE_OK &&
	    sqlite3_bind_text(s, 3, hash, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(s, 4, (sqlite3_int64)time(NULL)) == SQLITE_OK)
		rc = step_done(s);
	sqlite3_clear_bindings(s);
	pthread_mutex_unlock(&a->mu);
	tkm_cleanse(hash, sizeof(hash));
	return rc;
}

int
hsm_admin_set_password(struct hsm_admin *a, unsigned role, const char *password)
{
	sqlite3_stmt *s;
	char hash[PW_ENC];
	int rc;

	if (a == NULL || !role_ok(role) || !password_ok(password))
		return TKM_ERR_INPUT;
	if ((rc = hash_password(password, hash)) != TKM_OK)
		return rc;
	pthread_mutex_lock(&a->mu);
	s = stmt(a, ST_SET_PW);
	rc = TKM_ERR_IO;
	if (sqlite3_bind_text(s, 1, hsm_role_name(role), -1, SQLITE_STATIC) ==
		SQLITE_OK &&
	    sqlite3_bind_text(s, 2, hash, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(s, 3, (sqlite3_int64)time(NULL)) == SQLITE_OK)
		rc = step_done(s);
	if (rc == TKM_OK && sqlite3_changes(a->db) == 0)
		rc = TKM_ERR_NO_KEY; /* not enrolled */
	sqlite3_clear_bindings(s);
	pthread_mutex_unlock(&a->mu);
	tkm_cleanse(hash, sizeof(hash));
	return rc;
}

/* The row of role; the caller holds the mutex. TKM_ERR_NO_KEY if not
 * enrolled. */
static int
load_locked(struct hsm_admin *a, unsigned role, struct role_row *r)
{
	sqlite3_stmt *s = stmt(a, ST_ROLE);
	const unsigned char *hash;
	int rc = TKM_ERR_IO, step;

	if (sqlite3_bind_text(s, 1, hsm_role_name(role), -1, SQLITE_STATIC) !=
	    SQLITE_OK)
		goto out;
	step = sqlite3_step(s);
	if (step == SQLITE_DONE)
		rc = TKM_ERR_NO_KEY;
	if (step != SQLITE_ROW)
		goto out;
	hash = sqlite3_column_text(s, 1);
	if (sqlite3_column_bytes(s, 0) != TKM_SM2_PUB_LEN || hash == NULL ||
	    (size_t)sqlite3_column_bytes(s, 1) >= sizeof(r->hash))
		goto out; /* not written by us */
	memcpy(r->pub, sqlite3_column_blob(s, 0), TKM_SM2_PUB_LEN);
	memcpy(r->hash, hash, (size_t)sqlite3_column_bytes(s, 1) + 1);
	r->failures = (unsigned)sqlite3_column_int(s, 2);
	r->locked_until = (time_t)sqlite3_column_int64(s, 3);
	rc = TKM_OK;
out:
	sqlite3_reset(s);
	return rc;
}

static int
load_role(struct hsm_admin *a, unsigned role, struct role_row *r)
{
	int rc;

	pthread_mutex_lock(&a->mu);
	rc = load_locked(a, role, r);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

/* Seconds of lock-out after the given number of consecutive failures. */
static unsigned
lock_for(unsigned failures)
{
	unsigned secs = HSM_LOCK_BASE;

	if (failures < HSM_LOCK_AFTER)
		return 0;
	for (failures -= HSM_LOCK_AFTER; failures > 0; failures--)
		if ((secs *= 2) >= HSM_LOCK_MAX)
			return HSM_LOCK_MAX;
	return secs;
}

/* Record the outcome of a checked attempt: reset on success, or count a
 * failure and lock for lock_for() seconds. *lock: the lock it set. Read
 * and write under one hold of the mutex, so that no failure is lost. */
static int
record(struct hsm_admin *a, unsigned role, int ok, time_t now, unsigned *lock)
{
	struct role_row r;
	sqlite3_stmt *s;
	unsigned failures = 0;
	int rc;

	*lock = 0;
	pthread_mutex_lock(&a->mu);
	if (!ok) {
		if ((rc = load_locked(a, role, &r)) != TKM_OK)
			goto out;
		failures =
		    r.failures < FAILURES_CAP ? r.failures + 1 : FAILURES_CAP;
		*lock = lock_for(failures);
	}
	s = stmt(a, ST_COUNT);
	rc = TKM_ERR_IO;
	if (sqlite3_bind_text(s, 1, hsm_role_name(role), -1, SQLITE_STATIC) ==
		SQLITE_OK &&
	    sqlite3_bind_int(s, 2, (int)failures) == SQLITE_OK &&
	    sqlite3_bind_int64(
		s, 3, *lock != 0 ? (sqlite3_int64)now + *lock : 0) == SQLITE_OK)
		rc = step_done(s);
out:
	pthread_mutex_unlock(&a->mu);
	tkm_cleanse(&r, sizeof(r));
	return rc;
}

static int
card_ok(const uint8_t pub[TKM_SM2_PUB_LEN], const uint8_t *challenge,
    size_t clen, const uint8_t sig[TKM_SM2_SIG_LEN])
{
	struct tkm_sm2 *k = NULL;
	int ok;

	if (tkm_sm2_from_pub(pub, &k) != TKM_OK)
		return 0;
	ok = tkm_sm2_verify(k, NULL, 0, challenge, clen, sig) == TKM_OK;
	tkm_sm2_free(k);
	return ok;
}

int
hsm_admin_login(struct hsm_admin *a, unsigned role, const uint8_t *challenge,
    size_t clen, const uint8_t sig[TKM_SM2_SIG_LEN], const char *password,
    time_t now, unsigned *retry_after)
{
	struct role_row r;
	unsigned lock;
	int rc, card, pw;

	if (retry_after != NULL)
		*retry_after = 0;
	if (a == NULL || !role_ok(role) || (challenge == NULL && clen > 0) ||
	    sig == NULL || password == NULL || retry_after == NULL)
		return TKM_ERR_INPUT;
	if ((rc = load_role(a, role, &r)) != TKM_OK)
		return rc;
	if (r.locked_until > now) {
		*retry_after = (unsigned)(r.locked_until - now);
		rc = TKM_ERR_PERMISSION;
		goto out;
	}
	/* Both factors, always, so that the time taken does not tell which
	 * one was wrong. */
	card = card_ok(r.pub, challenge, clen, sig);
	pw = password_ok(password) &&
	     argon2id_verify(r.hash, password, strlen(password)) == ARGON2_OK;
	if ((rc = record(a, role, card & pw, now, &lock)) != TKM_OK)
		goto out;
	*retry_after = lock;
	rc = (card & pw) ? TKM_OK : TKM_ERR_VERIFY;
out:
	tkm_cleanse(&r, sizeof(r));
	return rc;
}

/* --- settings ----------------------------------------------------------- */

int
hsm_admin_get(struct hsm_admin *a, const char *key, char *val, size_t cap)
{
	sqlite3_stmt *s;
	const unsigned char *v;
	size_t n;
	int rc = TKM_ERR_IO, step;

	if (val != NULL && cap > 0)
		val[0] = '\0';
	if (a == NULL || key == NULL || val == NULL || cap == 0)
		return TKM_ERR_INPUT;
	pthread_mutex_lock(&a->mu);
	s = stmt(a, ST_GET);
	if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
		goto out;
	step = sqlite3_step(s);
	if (step == SQLITE_DONE)
		rc = TKM_ERR_NO_KEY;
	if (step != SQLITE_ROW || (v = sqlite3_column_text(s, 0)) == NULL)
		goto out;
	n = (size_t)sqlite3_column_bytes(s, 0);
	rc = TKM_ERR_SPACE;
	if (n >= cap)
		goto out;
	memcpy(val, v, n + 1);
	rc = TKM_OK;
out:
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int
hsm_admin_set(struct hsm_admin *a, const char *key, const char *val)
{
	sqlite3_stmt *s;
	int rc = TKM_ERR_IO;

	if (a == NULL || key == NULL || val == NULL)
		return TKM_ERR_INPUT;
	pthread_mutex_lock(&a->mu);
	s = stmt(a, ST_SET);
	if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(s, 2, val, -1, SQLITE_STATIC) == SQLITE_OK)
		rc = step_done(s);
	sqlite3_clear_bindings(s);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

/* --- zeroise ------------------------------------------------------------ */

#define RESET_KEEP_MAX 8

/* Unbound parameters are NULL: "key IN (..., NULL)" is then NULL, not
 * false, for a key that is not kept, hence coalesce. */
static const char reset_settings_sql[] =
    "DELETE FROM settings WHERE coalesce(key IN"
    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8), 0) = 0";

/*
 * One transaction, so that a failure leaves every enrolment in place (the
 * administrators can log in and run zeroise again). secure_delete (db.c)
 * overwrites the freed pages; the checkpoint then copies them over the
 * database file and empties the WAL, which would otherwise still hold the
 * old pages with the password hashes.
 */
int
hsm_admin_reset(struct hsm_admin *a, const char *const *keep)
{
	sqlite3_stmt *s = NULL;
	size_t i, n = 0;
	int rc, log = 0, done = 0;

	if (a == NULL)
		return TKM_ERR_INPUT;
	while (keep != NULL && keep[n] != NULL)
		n++;
	if (n > RESET_KEEP_MAX)
		return TKM_ERR_INPUT;
	pthread_mutex_lock(&a->mu);
	rc = TKM_ERR_IO;
	if (sqlite3_prepare_v2(a->db, reset_settings_sql, -1, &s, NULL) !=
	    SQLITE_OK)
		goto out;
	for (i = 0; i < n; i++)
		if (sqlite3_bind_text(
			s, (int)i + 1, keep[i], -1, SQLITE_STATIC) != SQLITE_OK)
			goto out;
	if (hsm_db_exec(a->db, "BEGIN IMMEDIATE") != TKM_OK)
		goto out;
	if (hsm_db_exec(a->db, "DELETE FROM roles") != TKM_OK ||
	    sqlite3_step(s) != SQLITE_DONE ||
	    hsm_db_exec(a->db, "COMMIT") != TKM_OK) {
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	if (sqlite3_wal_checkpoint_v2(a->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
		&log, &done) == SQLITE_OK)
		rc = TKM_OK;
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&a->mu);
	return rc;
}
