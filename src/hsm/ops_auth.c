/*
 * ops_auth.c - enrolment, login, logout, passwords (ops.h; the rules are
 * in docs/management.md, "Enrolment and login").
 *
 * Rows in mgmt_ops.c make enrol and login public and logout and
 * password.set need any role; what depends on the arguments is decided
 * here:
 *   enrol         initialisation (fewer than three of A1-A3 enrolled): an
 *                 A role not yet enrolled enrols itself without login;
 *                 anything else (B, C, D, a second card for a role) needs
 *                 A1+A2+A3 logged in on the session.
 *   password.set  a role logged in on the session sets its own; another
 *                 role's needs A1+A2+A3.
 * A login is a challenge of the session, signed by the card, plus the
 * password; the challenge is used up by the first login that names it,
 * right or wrong.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "ops.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/mem.h"

#define CHALLENGE_LEN sizeof(((struct hsm_session *)0)->challenge)

/* The text of a string argument, NULL if absent or not a string. */
static const char *
arg_str(json_t *args, const char *name)
{
	return json_string_value(json_object_get(args, name));
}

/* The role argument: one of A1..D, or 0 with *why set. */
static unsigned
arg_role(json_t *args, const char **why)
{
	unsigned role = hsm_role_parse(arg_str(args, "role"));

	if (role == 0)
		*why = "\"role\" must be one of A1, A2, A3, B, C, D";
	return role;
}

/* Exactly n bytes from a hex string argument. */
static int
arg_hex(json_t *args, const char *name, uint8_t *out, size_t n)
{
	const char *hex = arg_str(args, name);
	size_t got = 0;

	if (hex == NULL || strlen(hex) != 2 * n ||
	    tkm_hex_decode(hex, 2 * n, out, n, &got) != TKM_OK || got != n)
		return TKM_ERR_INPUT;
	return TKM_OK;
}

static unsigned
session_roles(const struct hsm_op_ctx *c)
{
	return c->s != NULL ? c->s->roles : 0;
}

static int
have_admin(const struct hsm_op_ctx *c, const char **why)
{
	if (c->admin != NULL)
		return 1;
	*why = "no admin database";
	return 0;
}

/* May this session enrol role, given the roles enrolled? */
static int
enrol_allowed(const struct hsm_op_ctx *c, unsigned role, unsigned enrolled,
    const char **why)
{
	if ((enrolled & HSM_ROLES_A) != HSM_ROLES_A && (role & HSM_ROLES_A) &&
	    (enrolled & role) == 0)
		return 1; /* initialisation */
	if ((session_roles(c) & HSM_ROLES_A) == HSM_ROLES_A)
		return 1;
	if ((enrolled & HSM_ROLES_A) != HSM_ROLES_A)
		*why = "during initialisation only A1, A2 and A3 enrol, once "
		       "each; a second card needs A1+A2+A3 logged in";
	else
		*why = "enrolling needs A1, A2 and A3 logged in";
	return 0;
}

int
op_enrol(struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	uint8_t pub[TKM_SM2_PUB_LEN];
	const char *pw = arg_str(args, "password");
	unsigned role;
	int rc;

	if (!have_admin(c, why))
		return TKM_ERR_INTERNAL;
	if ((role = arg_role(args, why)) == 0)
		return TKM_ERR_INPUT;
	if (arg_hex(args, "pub", pub, sizeof(pub)) != TKM_OK) {
		*why = "\"pub\" must be the card's public key, 128 hex digits";
		return TKM_ERR_INPUT;
	}
	if (!enrol_allowed(c, role, hsm_admin_enrolled(c->admin), why))
		return TKM_ERR_PERMISSION;
	rc = hsm_admin_enrol(c->admin, role, pub, pw);
	if (rc == TKM_ERR_INPUT)
		*why = "\"password\" must be 8 to 128 characters";
	else if (rc == TKM_ERR_ASYM_KEY)
		*why = "\"pub\" is not a point on the SM2 curve";
	if (rc != TKM_OK)
		return rc;
	json_object_set_new(result, "role", json_string(hsm_role_name(role)));
	json_object_set_new(
	    result, "enrolled", hsm_role_array(hsm_admin_enrolled(c->admin)));
	return TKM_OK;
}

int
op_login_challenge(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	char hex[2 * CHALLENGE_LEN + 1];
	unsigned role;
	int rc;

	if (!have_admin(c, why))
		return TKM_ERR_INTERNAL;
	if ((role = arg_role(args, why)) == 0)
		return TKM_ERR_INPUT;
	if (c->s == NULL) {
		*why = "no session"; /* the core always gives one */
		return TKM_ERR_INTERNAL;
	}
	if ((hsm_admin_enrolled(c->admin) & role) == 0) {
		*why = "that role has no card enrolled";
		return TKM_ERR_NO_KEY;
	}
	if ((rc = tkm_random(c->s->challenge, CHALLENGE_LEN)) != TKM_OK)
		return rc;
	c->s->challenge_role = role;
	tkm_hex_encode(c->s->challenge, CHALLENGE_LEN, hex);
	json_object_set_new(result, "challenge", json_string(hex));
	return TKM_OK;
}

/* Static text for *why with the seconds in it: the management thread runs
 * one operation at a time (mgmt.h), and the core copies *why out before
 * the next. */
static const char *
locked_text(const char *what, unsigned secs)
{
	static char buf[96];

	snprintf(buf, sizeof(buf), "%s: try again in %u s", what, secs);
	return buf;
}

/* Take the session's challenge for role: it is used up whatever follows. */
static int
take_challenge(struct hsm_op_ctx *c, unsigned role, uint8_t *out)
{
	if (c->s == NULL || c->s->challenge_role != role)
		return 0;
	memcpy(out, c->s->challenge, CHALLENGE_LEN);
	tkm_cleanse(c->s->challenge, CHALLENGE_LEN);
	c->s->challenge_role = 0;
	return 1;
}

int
op_login(struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	uint8_t chal[CHALLENGE_LEN], sig[TKM_SM2_SIG_LEN];
	const char *pw = arg_str(args, "password");
	unsigned role, retry = 0;
	int rc;

	if (!have_admin(c, why))
		return TKM_ERR_INTERNAL;
	if ((role = arg_role(args, why)) == 0)
		return TKM_ERR_INPUT;
	if (arg_hex(args, "signature", sig, sizeof(sig)) != TKM_OK) {
		*why = "\"signature\" must be 128 hex digits (r || s)";
		return TKM_ERR_INPUT;
	}
	if (pw == NULL) {
		*why = "\"password\" must be a string";
		return TKM_ERR_INPUT;
	}
	if (!take_challenge(c, role, chal)) {
		*why = "no challenge pending for that role on this session: "
		       "ask login.challenge first";
		return TKM_ERR_PERMISSION;
	}
	rc = hsm_admin_login(
	    c->admin, role, chal, sizeof(chal), sig, pw, time(NULL), &retry);
	tkm_cleanse(chal, sizeof(chal));
	if (retry > 0)
		json_object_set_new(result, "retry_after", json_integer(retry));
	switch (rc) {
	case TKM_OK:
		c->s->roles |= role;
		json_object_set_new(
		    result, "roles", hsm_role_array(c->s->roles));
		return TKM_OK;
	case TKM_ERR_VERIFY:
		*why = retry > 0 ? locked_text("wrong card or password; "
					       "locked",
				       retry)
				 : "wrong card or password";
		return rc;
	case TKM_ERR_PERMISSION:
		*why = locked_text("locked after repeated failures", retry);
		return rc;
	case TKM_ERR_NO_KEY:
		*why = "that role has no card enrolled";
		return rc;
	default:
		return rc;
	}
}

int
op_logout(struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	unsigned role = 0;

	if (c->s == NULL) {
		*why = "not logged in";
		return TKM_ERR_PERMISSION;
	}
	if (json_object_get(args, "role") != NULL &&
	    (role = arg_role(args, why)) == 0)
		return TKM_ERR_INPUT;
	if (role != 0 && (c->s->roles & role) == 0) {
		*why = "that role is not logged in on this session";
		return TKM_ERR_INPUT;
	}
	if (role != 0) {
		c->s->roles &= ~role;
	} else {
		c->s->roles = 0;
		c->s->challenge_role = 0;
		tkm_cleanse(c->s->challenge, CHALLENGE_LEN);
	}
	json_object_set_new(result, "roles", hsm_role_array(c->s->roles));
	return TKM_OK;
}

int
op_password_set(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	const char *pw = arg_str(args, "password");
	const char *code = arg_str(args, "issuer_code");
	unsigned role, have = session_roles(c);
	int rc;

	if (!have_admin(c, why))
		return TKM_ERR_INTERNAL;
	/* City HSM step 5: the password becomes the 8-digit issuer code
	 * (发卡机构代码, e.g. 02885820), which the city's admin then
	 * changes. */
	if (code != NULL) {
		if (pw != NULL || strlen(code) != 8 ||
		    strspn(code, "0123456789") != 8) {
			*why = "issuer_code must be 8 digits (and no password)";
			return TKM_ERR_INPUT;
		}
		pw = code;
	}
	if ((role = arg_role(args, why)) == 0)
		return TKM_ERR_INPUT;
	if ((have & role) == 0 && (have & HSM_ROLES_A) != HSM_ROLES_A) {
		*why = "another role's password needs A1, A2 and A3 logged in";
		return TKM_ERR_PERMISSION;
	}
	rc = hsm_admin_set_password(c->admin, role, pw);
	if (rc == TKM_ERR_INPUT)
		*why = "\"password\" must be 8 to 128 characters";
	else if (rc == TKM_ERR_NO_KEY)
		*why = "that role has no card enrolled";
	if (rc != TKM_OK)
		return rc;
	json_object_set_new(result, "role", json_string(hsm_role_name(role)));
	return TKM_OK;
}
