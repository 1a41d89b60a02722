/*
 * admin.h - the HSM's administrators (DESIGN §5): for each role the public
 * key of its card and an Argon2id hash of its password, failure counters
 * and lock-out, plus the HSM's persistent settings. SQLite, DIR/admin.db,
 * WAL, synchronous=FULL. Thread-safe (internal mutex): the management
 * thread and the workers (settings) share one.
 */
#ifndef HSM_ADMIN_H
#define HSM_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tkm/err.h"
#include "tkm/sm2.h"

#define HSM_PASSWORD_MIN 8
#define HSM_PASSWORD_MAX 128

struct hsm_admin;

int hsm_admin_open(const char *dir, struct hsm_admin **out) TKM_MUST_CHECK;
void hsm_admin_close(struct hsm_admin *a);

/* Roles with a card enrolled (bit set of enum hsm_role). */
unsigned hsm_admin_enrolled(struct hsm_admin *a);

/* Enrol (or re-enrol) role with its card's public key and password. */
int hsm_admin_enrol(struct hsm_admin *a, unsigned role,
    const uint8_t pub[TKM_SM2_PUB_LEN], const char *password) TKM_MUST_CHECK;

/*
 * A login attempt for role: the card's signature over challenge (default
 * SM2 ID) and the password. TKM_OK, TKM_ERR_VERIFY (wrong card or
 * password: counted), TKM_ERR_PERMISSION (locked: *retry_after seconds to
 * wait; the attempt is not even checked), TKM_ERR_NO_KEY (not enrolled).
 * Each failure doubles the lock-out (HSM_LOCK_BASE seconds after
 * HSM_LOCK_AFTER failures, up to HSM_LOCK_MAX); success resets it.
 */
#define HSM_LOCK_AFTER 3
#define HSM_LOCK_BASE  30
#define HSM_LOCK_MAX   3600
int hsm_admin_login(struct hsm_admin *a, unsigned role,
    const uint8_t *challenge, size_t clen, const uint8_t sig[TKM_SM2_SIG_LEN],
    const char *password, time_t now, unsigned *retry_after) TKM_MUST_CHECK;

/* Set a role's password (reset to the issuer code, change). */
int hsm_admin_set_password(
    struct hsm_admin *a, unsigned role, const char *password) TKM_MUST_CHECK;

/* Persistent settings, text values (e.g. "authorised_until", "whitelist"). */
int hsm_admin_get(
    struct hsm_admin *a, const char *key, char *val, size_t cap) TKM_MUST_CHECK;
int hsm_admin_set(
    struct hsm_admin *a, const char *key, const char *val) TKM_MUST_CHECK;

/* Zeroise: remove every enrolment and every setting except those whose
 * name is in keep (NULL-terminated, e.g. {"serial", NULL}). */
int hsm_admin_reset(
    struct hsm_admin *a, const char *const *keep) TKM_MUST_CHECK;

#endif
