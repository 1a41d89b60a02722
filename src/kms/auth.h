/*
 * auth.h - KMS users and sessions (docs/api.md): Argon2id password hashes
 * (libargon2, the cost of src/lib/card.c; TKMS_ARGON2_FAST=1 makes it
 * cheap for tests), bearer tokens with an idle expiry, lock-out after
 * repeated failed logins, and the four roles of the spec:
 *   configurator  系统配置员  institutions, HSM deployment, users
 *   key_manager   系统密钥管理员  key generation, issuance, lifecycle
 *   supervisor    密钥监督员  reads everything, signs off records
 *   auditor                   reads the audit
 *
 * Every fallible call returns TKM_OK or a negative tkm_err and, where it
 * takes one, sets *why to a static message for the user.
 */
#ifndef KMS_AUTH_H
#define KMS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "kdb.h"
#include "tkm/err.h"

#define KMS_NAME_MAX     64 /* user names: [a-z0-9_.-], from a letter */
#define KMS_PW_MIN       8  /* password length in bytes */
#define KMS_PW_MAX       256
#define KMS_HASH_MAX     160   /* an encoded Argon2id hash, with the NUL */
#define KMS_TOKEN_LEN    64    /* hex characters of a bearer token */
#define KMS_LOCK_AFTER   5     /* consecutive failed logins ... */
#define KMS_LOCK_SECS    900   /* ... lock the account this long */
#define KMS_IDLE_SECS    900   /* a session unused this long expires */
#define KMS_SESSION_SECS 43200 /* and any session after 12 hours */

enum kms_role {
	KMS_ROLE_NONE = 0,
	KMS_ROLE_CONFIGURATOR = 1 << 0,
	KMS_ROLE_KEY_MANAGER = 1 << 1,
	KMS_ROLE_SUPERVISOR = 1 << 2,
	KMS_ROLE_AUDITOR = 1 << 3,
};
#define KMS_ROLE_ANY                                                           \
	(KMS_ROLE_CONFIGURATOR | KMS_ROLE_KEY_MANAGER | KMS_ROLE_SUPERVISOR |  \
	    KMS_ROLE_AUDITOR)

/* "configurator" ... -> the bit; KMS_ROLE_NONE for anything else. */
enum kms_role kms_role_of(const char *name);
/* The bit -> its name; NULL for anything but one known bit. */
const char *kms_role_name(enum kms_role r);

struct kms_user {
	int64_t id;
	char name[KMS_NAME_MAX + 1];
	enum kms_role role;
};

/* 1 if name is a valid user name, else 0 and *why says why. */
int kms_user_name_ok(const char *name, const char **why);
/* 1 if pw is acceptable as a new password, else 0 and *why. */
int kms_password_ok(const char *pw, const char **why);

/* The encoded Argon2id hash of pw ($argon2id$v=19$...) into out. */
int kms_password_hash(const char *pw, char out[KMS_HASH_MAX]) TKM_MUST_CHECK;

/*
 * Insert an active user with an already encoded hash. TKM_ERR_INPUT for a
 * bad name or role (*why), or a name that exists (kdb_fail() is
 * KDB_FAIL_UNIQUE; *why "user exists"). Part of the caller's transaction
 * if one is open.
 */
int kms_user_insert(struct kdb *db, int64_t now, const char *name,
    const char *role, const char *pwhash, int64_t *id,
    const char **why) TKM_MUST_CHECK;

/*
 * Check name and password and open a session. On success token holds
 * KMS_TOKEN_LEN hex characters (and a NUL), u the user, and the failure
 * count is reset; the session expires after idle seconds unused. Failures (all
 * with *why; the same message for an unknown user and a wrong password):
 *   TKM_ERR_VERIFY      wrong name or password (counted; the
 *                       KMS_LOCK_AFTER-th locks the account)
 *   TKM_ERR_PERMISSION  account locked or disabled (password not tried)
 * Runs Argon2id outside any transaction; the writes in short ones of
 * their own. Audits nothing: the caller does.
 */
int kms_login(struct kdb *db, int64_t now, int64_t idle, const char *name,
    const char *pw, char token[KMS_TOKEN_LEN + 1], struct kms_user *u,
    const char **why) TKM_MUST_CHECK;

/*
 * The user of a bearer token, and the session's idle expiry pushed on by
 * idle seconds (at most once per 10 s, or idle / 4 if less; best-effort:
 * a push the database refuses leaves the recorded expiry). TKM_ERR_PERMISSION
 * (*why "not logged in", "session expired", "account disabled") when there is
 * none, it expired, or its user may no longer log in; an expired session is
 * deleted.
 */
int kms_session_check(struct kdb *db, int64_t now, int64_t idle,
    const char *token, struct kms_user *u, const char **why) TKM_MUST_CHECK;

/* End the session of token (no error if there is none). */
int kms_logout(struct kdb *db, const char *token) TKM_MUST_CHECK;

#endif
