/*
 * auth.c - users, passwords and sessions of the KMS (auth.h).
 *
 * Tokens: 32 random bytes, given to the client as 64 hex characters; the
 * database keeps only SM3 of those characters (sessions.token_hash), so
 * a copy of the database opens no session.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>

#include "auth.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

/* The cost of card PINs (src/lib/card.c): RFC 9106 §4 scaled to what an
 * interactive login tolerates; the test cost is never for real users. */
#define COST_T      3
#define COST_M      (64u * 1024) /* KiB */
#define COST_M_TEST 64u          /* KiB, TKMS_ARGON2_FAST=1 */
#define COST_P      1
#define SALT_LEN    16
#define RAW_LEN     32
#define TOKEN_BYTES (KMS_TOKEN_LEN / 2)

static const struct {
	const char *name;
	enum kms_role role;
} roles[] = {
    {"configurator", KMS_ROLE_CONFIGURATOR},
    {"key_manager", KMS_ROLE_KEY_MANAGER},
    {"supervisor", KMS_ROLE_SUPERVISOR},
    {"auditor", KMS_ROLE_AUDITOR},
};

enum kms_role
kms_role_of(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(name, roles[i].name) == 0)
			return roles[i].role;
	return KMS_ROLE_NONE;
}

const char *
kms_role_name(enum kms_role r)
{
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (roles[i].role == r)
			return roles[i].name;
	return NULL;
}

int
kms_user_name_ok(const char *name, const char **why)
{
	size_t i, n = name != NULL ? strlen(name) : 0;
	char c;

	*why = "user name: 1 to 64 of a-z 0-9 _ . -, starting with a letter";
	if (n < 1 || n > KMS_NAME_MAX || name[0] < 'a' || name[0] > 'z')
		return 0;
	for (i = 0; i < n; i++) {
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '_' || c == '.' || c == '-'))
			return 0;
	}
	*why = NULL;
	return 1;
}

int
kms_password_ok(const char *pw, const char **why)
{
	size_t n = pw != NULL ? strlen(pw) : 0;

	if (n < KMS_PW_MIN || n > KMS_PW_MAX) {
		*why = "password: 8 to 256 bytes";
		return 0;
	}
	*why = NULL;
	return 1;
}

static uint32_t
cost_m(void)
{
	const char *fast = getenv("TKMS_ARGON2_FAST");

	return fast != NULL && strcmp(fast, "1") == 0 ? COST_M_TEST : COST_M;
}

int
kms_password_hash(const char *pw, char out[KMS_HASH_MAX])
{
	uint8_t salt[SALT_LEN];
	int rc;

	out[0] = '\0';
	if (pw == NULL || strlen(pw) > KMS_PW_MAX)
		return TKM_ERR_INPUT;
	if ((rc = tkm_random(salt, sizeof(salt))) != TKM_OK)
		return rc;
	if (argon2_encodedlen(COST_T, cost_m(), COST_P, SALT_LEN, RAW_LEN,
		Argon2_id) > KMS_HASH_MAX ||
	    argon2id_hash_encoded(COST_T, cost_m(), COST_P, pw, strlen(pw),
		salt, sizeof(salt), RAW_LEN, out, KMS_HASH_MAX) != ARGON2_OK) {
		out[0] = '\0';
		return TKM_ERR_INTERNAL;
	}
	return TKM_OK;
}

int
kms_user_insert(struct kdb *db, int64_t now, const char *name, const char *role,
    const char *pwhash, int64_t *id, const char **why)
{
	int rc;

	*id = 0;
	if (!kms_user_name_ok(name, why))
		return TKM_ERR_INPUT;
	if (kms_role_of(role) == KMS_ROLE_NONE) {
		*why = "role: configurator, key_manager, supervisor or auditor";
		return TKM_ERR_INPUT;
	}
	if (pwhash == NULL || strncmp(pwhash, "$argon2id$", 10) != 0) {
		*why = "password hash: not Argon2id";
		return TKM_ERR_INPUT;
	}
	rc = kdb_int1(db, id,
	    "INSERT INTO users (name, role, pwhash, created)"
	    " VALUES ($1, $2, $3, $4) RETURNING id",
	    KDB_TEXT(name), KDB_TEXT(role), KDB_TEXT(pwhash), KDB_INT(now));
	if (rc == TKM_ERR_INPUT && kdb_fail(db) == KDB_FAIL_UNIQUE)
		*why = "user exists";
	else if (rc != TKM_OK)
		*why = "database error";
	return rc;
}

/* SM3 of the token's characters: what the sessions table keys on. */
static int
token_hash(const char *token, uint8_t out[32])
{
	return tkm_hash(TKM_SM3, token, strlen(token), out);
}

struct fail_arg {
	int64_t id, now;
	int locked; /* out: this failure locked the account */
};

static int
count_failure(struct kdb *db, void *arg)
{
	struct fail_arg *f = arg;
	int64_t n;
	int rc;

	f->locked = 0;
	if ((rc = kdb_int1(db, &n,
		 "UPDATE users SET failures = failures + 1 WHERE id = $1"
		 " RETURNING failures",
		 KDB_INT(f->id))) != TKM_OK)
		return rc;
	if (n < KMS_LOCK_AFTER)
		return TKM_OK;
	f->locked = 1;
	return kdb_exec(db,
	    "UPDATE users SET failures = 0, locked_until = $1 WHERE id = $2",
	    KDB_INT(f->now + KMS_LOCK_SECS), KDB_INT(f->id));
}

/* Checked for unknown names too, so that timing does not tell which names
 * exist: the hash of a random password nobody knows, at today's cost. */
static char dummy[KMS_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
dummy_make(void)
{
	uint8_t raw[16];
	char pw[33];

	if (tkm_random(raw, sizeof(raw)) != TKM_OK)
		memset(raw, 0x5A, sizeof(raw));
	tkm_hex_encode(raw, sizeof(raw), pw);
	if (kms_password_hash(pw, dummy) != TKM_OK)
		dummy[0] = '\0'; /* verify then fails fast: still a failure */
	tkm_cleanse(pw, sizeof(pw));
}

struct open_arg {
	int64_t id, now, idle;
	const uint8_t *th;
};

static int
open_session(struct kdb *db, void *arg)
{
	struct open_arg *o = arg;
	int64_t exp = o->now + o->idle;
	int rc;

	if ((rc = kdb_exec(db,
		 "UPDATE users SET failures = 0, locked_until = 0"
		 " WHERE id = $1",
		 KDB_INT(o->id))) != TKM_OK)
		return rc;
	/* Sessions of anyone that ended long ago go with each login. */
	if ((rc = kdb_exec(db, "DELETE FROM sessions WHERE expires <= $1",
		 KDB_INT(o->now))) != TKM_OK)
		return rc;
	return kdb_exec(db,
	    "INSERT INTO sessions (token_hash, user_id, created, expires,"
	    " last_seen) VALUES ($1, $2, $3, $4, $5)",
	    KDB_BLOB(o->th, 32), KDB_INT(o->id), KDB_INT(o->now), KDB_INT(exp),
	    KDB_INT(o->now));
}

int
kms_login(struct kdb *db, int64_t now, int64_t idle, const char *name,
    const char *pw, char token[KMS_TOKEN_LEN + 1], struct kms_user *u,
    const char **why)
{
	char hash[KMS_HASH_MAX] = "", role[16] = "", state[16] = "";
	uint8_t raw[TOKEN_BYTES], th[32];
	struct kdb_rows *r = NULL;
	struct fail_arg fa;
	struct open_arg oa;
	int64_t locked = 0;
	int rc, found = 0, ok;

	memset(u, 0, sizeof(*u));
	token[0] = '\0';
	*why = "wrong user name or password";
	if (name == NULL || pw == NULL || strlen(name) > KMS_NAME_MAX ||
	    strlen(pw) > KMS_PW_MAX)
		return TKM_ERR_VERIFY;
	if ((rc = kdb_query(db, &r,
		 "SELECT id, role, pwhash, locked_until, state FROM users"
		 " WHERE name = $1",
		 KDB_TEXT(name))) != TKM_OK)
		goto dberr;
	if ((rc = kdb_next(r)) < 0)
		goto dberr;
	if (rc == 1 && kdb_text(r, 2) != NULL &&
	    strlen(kdb_text(r, 2)) < sizeof(hash)) {
		found = 1;
		u->id = kdb_int(r, 0);
		snprintf(u->name, sizeof(u->name), "%s", name);
		snprintf(role, sizeof(role), "%s", kdb_text(r, 1));
		snprintf(hash, sizeof(hash), "%s", kdb_text(r, 2));
		locked = kdb_int(r, 3);
		snprintf(state, sizeof(state), "%s",
		    kdb_text(r, 4) ? kdb_text(r, 4) : "");
	}
	kdb_rows_free(r);
	r = NULL;
	if (found && strcmp(state, "active") != 0) {
		*why = "account disabled";
		return TKM_ERR_PERMISSION;
	}
	if (found && locked > now) {
		*why = "account locked after repeated failed logins: try later";
		return TKM_ERR_PERMISSION;
	}
	pthread_once(&dummy_once, dummy_make);
	ok = argon2id_verify(found ? hash : dummy, pw, strlen(pw)) == ARGON2_OK;
	tkm_cleanse(hash, sizeof(hash));
	if (!found || !ok) {
		if (!found)
			return TKM_ERR_VERIFY;
		fa.id = u->id;
		fa.now = now;
		if ((rc = kdb_tx(db, count_failure, &fa)) != TKM_OK)
			goto dberr;
		if (fa.locked)
			*why = "wrong user name or password; account now "
			       "locked after repeated failures";
		memset(u, 0, sizeof(*u));
		return TKM_ERR_VERIFY;
	}
	u->role = kms_role_of(role);
	if ((rc = tkm_random(raw, sizeof(raw))) != TKM_OK)
		goto dberr;
	tkm_hex_encode(raw, sizeof(raw), token);
	tkm_cleanse(raw, sizeof(raw));
	if ((rc = token_hash(token, th)) != TKM_OK)
		goto dberr;
	oa.id = u->id;
	oa.now = now;
	oa.idle = idle;
	oa.th = th;
	if ((rc = kdb_tx(db, open_session, &oa)) != TKM_OK)
		goto dberr;
	*why = NULL;
	return TKM_OK;
dberr:
	kdb_rows_free(r);
	tkm_cleanse(token, KMS_TOKEN_LEN + 1);
	memset(u, 0, sizeof(*u));
	*why = "database error";
	return rc < 0 ? rc : TKM_ERR_IO;
}

static int
token_ok(const char *token)
{
	size_t i;

	if (token == NULL || strlen(token) != KMS_TOKEN_LEN)
		return 0;
	for (i = 0; i < KMS_TOKEN_LEN; i++)
		if (!((token[i] >= '0' && token[i] <= '9') ||
			(token[i] >= 'A' && token[i] <= 'F') ||
			(token[i] >= 'a' && token[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * How long after a push a session's expiry is left alone: 10 s, or a
 * quarter of a short idle time, so a session ends at most that much
 * before idle seconds after its last use.
 */
static int64_t
touch_secs(int64_t idle)
{
	return idle >= 40 ? 10 : idle / 4;
}

int
kms_session_check(struct kdb *db, int64_t now, int64_t idle, const char *token,
    struct kms_user *u, const char **why)
{
	struct kdb_rows *r = NULL;
	int64_t expires = 0, created = 0;
	char state[16] = "", role[16] = "";
	uint8_t th[32];
	int rc, found = 0;

	memset(u, 0, sizeof(*u));
	*why = "not logged in";
	if (!token_ok(token))
		return TKM_ERR_PERMISSION;
	if ((rc = token_hash(token, th)) != TKM_OK) {
		*why = NULL; /* not the caller's fault: the code's words */
		return rc;
	}
	if ((rc = kdb_query(db, &r,
		 "SELECT u.id, u.name, u.role, u.state, s.expires, s.created"
		 " FROM sessions s JOIN users u ON u.id = s.user_id"
		 " WHERE s.token_hash = $1",
		 KDB_BLOB(th, sizeof(th)))) != TKM_OK)
		goto out;
	if ((rc = kdb_next(r)) < 0)
		goto out;
	if (rc == 1) {
		found = 1;
		u->id = kdb_int(r, 0);
		snprintf(u->name, sizeof(u->name), "%s",
		    kdb_text(r, 1) ? kdb_text(r, 1) : "");
		snprintf(role, sizeof(role), "%s",
		    kdb_text(r, 2) ? kdb_text(r, 2) : "");
		snprintf(state, sizeof(state), "%s",
		    kdb_text(r, 3) ? kdb_text(r, 3) : "");
		expires = kdb_int(r, 4);
		created = kdb_int(r, 5);
	}
	kdb_rows_free(r);
	r = NULL;
	rc = TKM_ERR_PERMISSION;
	if (!found)
		goto fail;
	if (expires <= now || now - created >= KMS_SESSION_SECS ||
	    strcmp(state, "active") != 0) {
		*why = strcmp(state, "active") != 0 ? "account disabled"
						    : "session expired";
		if (kdb_exec(db, "DELETE FROM sessions WHERE token_hash = $1",
			KDB_BLOB(th, sizeof(th))) != TKM_OK)
			*why = "session expired"; /* swept at the next login */
		goto fail;
	}
	u->role = kms_role_of(role);
	/*
	 * Push the idle expiry on, at most once per touch_secs(idle): a
	 * write per request would cost every GET an fsync. An expiry beyond
	 * now + idle (a shorter --session-idle since) is pulled in at once.
	 * The push is best-effort: a session that cannot be pushed on stays
	 * valid until its recorded expiry, so reads keep working on a full
	 * disk while writes are refused with their cause (kdb logs a storage
	 * fault; any other shows at the request's next query).
	 */
	if ((expires > now + idle ||
		now + idle - expires >= touch_secs(idle)) &&
	    kdb_exec(db,
		"UPDATE sessions SET last_seen = $1, expires = $2"
		" WHERE token_hash = $3",
		KDB_INT(now), KDB_INT(now + idle),
		KDB_BLOB(th, sizeof(th))) != TKM_OK) {
		/* Not this request's failure: see above. */
	}
	*why = NULL;
	return TKM_OK;
out:
	kdb_rows_free(r);
	*why = "database error";
fail:
	memset(u, 0, sizeof(*u));
	return rc;
}

int
kms_logout(struct kdb *db, const char *token)
{
	uint8_t th[32];
	int rc;

	if (!token_ok(token))
		return TKM_OK;
	if ((rc = token_hash(token, th)) != TKM_OK)
		return rc;
	return kdb_exec(db, "DELETE FROM sessions WHERE token_hash = $1",
	    KDB_BLOB(th, sizeof(th)));
}
