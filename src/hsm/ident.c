/*
 * ident.c - serial, identity key, maintenance public key (ident.h,
 * docs/identity.md).
 *
 * Kept in admin.db's settings as hex text:
 *   serial    "TKMS" and 12 upper-case hex digits (plain text)
 *   identity  hex of
 *               OFFSET SIZE FIELD
 *               0      8    KCV of the DK it is under
 *               8      64   public key X || Y
 *               72     81   hsm_dk_wrap(d) for {lib 0, index 98, "IDK",
 *                           HSM_LIB_SM2}
 *   mkey      hex of
 *               OFFSET SIZE FIELD
 *               0      8    KCV of the DK it is under
 *               8      113  hsm_dk_wrap(X || Y) for {lib 0, index 97,
 *                           "MPK", HSM_LIB_SM2}
 * An empty value counts as none (admin.h has no delete: forget writes "").
 *
 * The public key next to the wrapped d is what people read; it is checked
 * against d at every use, so an edited one is TKM_ERR_VERIFY like an
 * edited blob. A KCV other than DK's means the value was made under an
 * earlier DK (before a zeroise): the identity is then made anew, the
 * maintenance key counts as not imported.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "ident.h"
#include "keystore.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define SET_SERIAL   "serial"
#define SET_IDENTITY "identity"
#define SET_MKEY     "mkey"

#define SERIAL_PREFIX "TKMS"
#define SERIAL_RAND   6 /* bytes: 12 hex digits */

#define KCV_LEN     8
#define IDK_BLOB    (TKM_SM2_PRIV_LEN + HSM_WRAP_OVERHEAD)
#define MPK_BLOB    (TKM_SM2_PUB_LEN + HSM_WRAP_OVERHEAD)
#define ID_PUB      KCV_LEN
#define ID_BLOB     (ID_PUB + TKM_SM2_PUB_LEN)
#define ID_LEN      (ID_BLOB + IDK_BLOB)
#define MK_BLOB     KCV_LEN
#define MK_LEN      (MK_BLOB + MPK_BLOB)
#define SETTING_MAX (2 * ID_LEN + 2) /* hex, NUL, and one to spot more */

_Static_assert(ID_LEN == 153 && MK_LEN == 121, "docs/identity.md layout");
_Static_assert(sizeof(SERIAL_PREFIX) - 1 + 2 * SERIAL_RAND == HSM_SERIAL_MAX,
    "serial length");

static const struct hsm_wrap_ctx idk_ctx = {0, 98, "IDK", HSM_LIB_SM2};
static const struct hsm_wrap_ctx mpk_ctx = {0, 97, "MPK", HSM_LIB_SM2};

/* admin.db's own mutex covers one statement; "read, and make if absent"
 * is two, and two threads doing it at once would each make a serial or an
 * identity and keep the one written last while the first caller already
 * used the other. One lock for the process (one daemon per directory). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* --- settings as hex ------------------------------------------------------ */

/* Setting key as exactly len bytes: TKM_ERR_NO_KEY if absent or empty,
 * TKM_ERR_VERIFY if it is not len bytes of hex. */
static int
get_hex(struct hsm_admin *a, const char *key, uint8_t *out, size_t len)
{
	char hex[SETTING_MAX];
	size_t n, hlen;
	int rc;

	rc = hsm_admin_get(a, key, hex, sizeof(hex));
	if (rc == TKM_ERR_SPACE)
		return TKM_ERR_VERIFY;
	if (rc != TKM_OK)
		return rc;
	if ((hlen = strlen(hex)) == 0)
		return TKM_ERR_NO_KEY;
	if (hlen != 2 * len ||
	    tkm_hex_decode(hex, hlen, out, len, &n) != TKM_OK || n != len)
		return TKM_ERR_VERIFY;
	return TKM_OK;
}

static int
set_hex(struct hsm_admin *a, const char *key, const uint8_t *p, size_t len)
{
	char hex[SETTING_MAX];

	if (2 * len + 1 > sizeof(hex))
		return TKM_ERR_INTERNAL;
	tkm_hex_encode(p, len, hex);
	return hsm_admin_set(a, key, hex);
}

/* --- serial --------------------------------------------------------------- */

/* What hsm_ident_serial makes; anything else was written by someone
 * else. */
static int
serial_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n != HSM_SERIAL_MAX ||
	    memcmp(s, SERIAL_PREFIX, sizeof(SERIAL_PREFIX) - 1) != 0)
		return 0;
	for (i = sizeof(SERIAL_PREFIX) - 1; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

int
hsm_ident_serial(struct hsm_admin *a, char out[HSM_SERIAL_MAX + 1])
{
	char val[HSM_SERIAL_MAX + 2];
	uint8_t r[SERIAL_RAND];
	int rc;

	out[0] = '\0';
	pthread_mutex_lock(&mu);
	rc = hsm_admin_get(a, SET_SERIAL, val, sizeof(val));
	if (rc == TKM_OK && val[0] == '\0')
		rc = TKM_ERR_NO_KEY;
	if (rc == TKM_ERR_NO_KEY) {
		memcpy(val, SERIAL_PREFIX, sizeof(SERIAL_PREFIX) - 1);
		if ((rc = tkm_random(r, sizeof(r))) != TKM_OK)
			goto out;
		tkm_hex_encode(r, sizeof(r), val + sizeof(SERIAL_PREFIX) - 1);
		if ((rc = hsm_admin_set(a, SET_SERIAL, val)) != TKM_OK)
			goto out;
	} else if (rc == TKM_ERR_SPACE) {
		rc = TKM_ERR_VERIFY;
	}
	if (rc == TKM_OK && !serial_ok(val))
		rc = TKM_ERR_VERIFY;
	if (rc == TKM_OK)
		memcpy(out, val, HSM_SERIAL_MAX + 1);
out:
	pthread_mutex_unlock(&mu);
	return rc;
}

/* --- identity key --------------------------------------------------------- */

/* The key pair from a stored record (mu held). */
static int
ident_open(
    const uint8_t rec[ID_LEN], const struct hsm_dk *dk, struct tkm_sm2 **out)
{
	uint8_t *d, pub[TKM_SM2_PUB_LEN];
	size_t n;
	int rc;

	if ((d = tkm_secure_alloc(TKM_SM2_PRIV_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	rc = hsm_dk_unwrap(dk, &idk_ctx, rec + ID_BLOB, IDK_BLOB, d, &n);
	if (rc != TKM_OK)
		goto out;
	/* Authentic, so a bad d is a bug; say VERIFY all the same. */
	if (n != TKM_SM2_PRIV_LEN || tkm_sm2_from_priv(d, out) != TKM_OK) {
		rc = TKM_ERR_VERIFY;
		goto out;
	}
	if ((rc = tkm_sm2_pub(*out, pub)) == TKM_OK &&
	    memcmp(pub, rec + ID_PUB, TKM_SM2_PUB_LEN) != 0)
		rc = TKM_ERR_VERIFY; /* the public key next to it was edited */
out:
	if (rc != TKM_OK) {
		tkm_sm2_free(*out);
		*out = NULL;
	}
	tkm_secure_free(d, TKM_SM2_PRIV_LEN);
	return rc;
}

/* A new identity under dk, stored (mu held). */
static int
ident_make(struct hsm_admin *a, const struct hsm_dk *dk, struct tkm_sm2 **out)
{
	uint8_t rec[ID_LEN], *d;
	size_t n;
	int rc;

	if ((d = tkm_secure_alloc(TKM_SM2_PRIV_LEN)) == NULL)
		return TKM_ERR_NOMEM;
	hsm_dk_kcv(dk, rec);
	if ((rc = tkm_sm2_generate(out)) != TKM_OK ||
	    (rc = tkm_sm2_pub(*out, rec + ID_PUB)) != TKM_OK ||
	    (rc = tkm_sm2_priv(*out, d)) != TKM_OK ||
	    (rc = hsm_dk_wrap(dk, &idk_ctx, d, TKM_SM2_PRIV_LEN, rec + ID_BLOB,
		 &n)) != TKM_OK)
		goto out;
	rc = set_hex(a, SET_IDENTITY, rec, sizeof(rec));
out:
	if (rc != TKM_OK) {
		tkm_sm2_free(*out);
		*out = NULL;
	}
	tkm_secure_free(d, TKM_SM2_PRIV_LEN);
	return rc;
}

int
hsm_ident_key(
    struct hsm_admin *a, const struct hsm_dk *dk, struct tkm_sm2 **out)
{
	uint8_t rec[ID_LEN], kcv[KCV_LEN];
	int rc;

	*out = NULL;
	if (a == NULL || dk == NULL)
		return TKM_ERR_INPUT;
	hsm_dk_kcv(dk, kcv);
	pthread_mutex_lock(&mu);
	rc = get_hex(a, SET_IDENTITY, rec, sizeof(rec));
	if (rc == TKM_OK && memcmp(rec, kcv, KCV_LEN) != 0)
		rc = TKM_ERR_NO_KEY; /* under an earlier DK: not ours now */
	if (rc == TKM_OK)
		rc = ident_open(rec, dk, out);
	else if (rc == TKM_ERR_NO_KEY)
		rc = ident_make(a, dk, out);
	pthread_mutex_unlock(&mu);
	return rc;
}

int
hsm_ident_pub(
    struct hsm_admin *a, const struct hsm_dk *dk, uint8_t pub[TKM_SM2_PUB_LEN])
{
	struct tkm_sm2 *k = NULL;
	int rc;

	memset(pub, 0, TKM_SM2_PUB_LEN);
	if ((rc = hsm_ident_key(a, dk, &k)) == TKM_OK)
		rc = tkm_sm2_pub(k, pub);
	tkm_sm2_free(k);
	return rc;
}

/* --- maintenance public key ---------------------------------------------- */

int
hsm_mkey_set(struct hsm_admin *a, const struct hsm_dk *dk,
    const uint8_t pub[TKM_SM2_PUB_LEN])
{
	struct tkm_sm2 *k = NULL;
	uint8_t rec[MK_LEN];
	size_t n;
	int rc;

	if (a == NULL || dk == NULL)
		return TKM_ERR_INPUT;
	/* A point off the curve would only fail later, at every check. */
	if ((rc = tkm_sm2_from_pub(pub, &k)) != TKM_OK)
		return rc;
	tkm_sm2_free(k);
	hsm_dk_kcv(dk, rec);
	if ((rc = hsm_dk_wrap(dk, &mpk_ctx, pub, TKM_SM2_PUB_LEN, rec + MK_BLOB,
		 &n)) != TKM_OK)
		return rc;
	pthread_mutex_lock(&mu);
	rc = set_hex(a, SET_MKEY, rec, sizeof(rec));
	pthread_mutex_unlock(&mu);
	return rc;
}

int
hsm_mkey_get(
    struct hsm_admin *a, const struct hsm_dk *dk, uint8_t pub[TKM_SM2_PUB_LEN])
{
	uint8_t rec[MK_LEN], kcv[KCV_LEN];
	size_t n;
	int rc;

	memset(pub, 0, TKM_SM2_PUB_LEN);
	if (a == NULL || dk == NULL)
		return TKM_ERR_INPUT;
	if ((rc = get_hex(a, SET_MKEY, rec, sizeof(rec))) != TKM_OK)
		return rc;
	hsm_dk_kcv(dk, kcv);
	if (memcmp(rec, kcv, KCV_LEN) != 0)
		return TKM_ERR_NO_KEY; /* imported under an earlier DK */
	rc = hsm_dk_unwrap(dk, &mpk_ctx, rec + MK_BLOB, MPK_BLOB, pub, &n);
	if (rc == TKM_OK && n != TKM_SM2_PUB_LEN)
		rc = TKM_ERR_VERIFY;
	if (rc != TKM_OK)
		memset(pub, 0, TKM_SM2_PUB_LEN);
	return rc;
}

/* --- zeroise and display -------------------------------------------------- */

int
hsm_ident_forget(struct hsm_admin *a)
{
	int rc;

	if (a == NULL)
		return TKM_ERR_INPUT;
	pthread_mutex_lock(&mu);
	if ((rc = hsm_admin_set(a, SET_IDENTITY, "")) == TKM_OK)
		rc = hsm_admin_set(a, SET_MKEY, "");
	pthread_mutex_unlock(&mu);
	return rc;
}

void
hsm_pub_fingerprint(const uint8_t pub[TKM_SM2_PUB_LEN], char out[17])
{
	uint8_t h[TKM_MAX_HASH];

	out[0] = '\0';
	if (tkm_hash(TKM_SM3, pub, TKM_SM2_PUB_LEN, h) == TKM_OK)
		tkm_hex_encode(h, 8, out);
}
