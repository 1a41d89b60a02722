/*
 * mgmt.h - the management plane (DESIGN §5): the listener the HSM
 * management software (`tkms hsm ...`) talks to.
 *
 * Wire: each message is LEN (4 bytes, big-endian, 1..HSM_MGMT_MAX) then a
 * UTF-8 JSON object.
 *   request   {"op": "keys.list", "session": "<token>", "args": {...}}
 *   response  {"ok": true, "result": {...}}
 *             {"ok": false, "code": "29", "error": "needs role C"}
 * A session is a server-side object named by a random 128-bit token that
 * `login` returns: each login adds its role to the session given (several
 * roles at once, e.g. A1, A2 and A3 for a device-key ceremony, each
 * entering card and password at the same console), so that a command-line
 * tool can keep the token in a file between invocations. A session ends
 * on logout of its last role or after HSM_MGMT_IDLE seconds unused.
 * Bound to a non-loopback address the listener speaks TLS (OpenSSL).
 */
#ifndef HSM_MGMT_H
#define HSM_MGMT_H

#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "hsm.h"

#define HSM_MGMT_MAX  (1u << 20)
#define HSM_MGMT_IDLE 600

/* Roles (DESIGN §5), as bits so that a session can hold several. */
enum hsm_role {
	HSM_ROLE_A1 = 1 << 0,
	HSM_ROLE_A2 = 1 << 1,
	HSM_ROLE_A3 = 1 << 2,
	HSM_ROLE_B = 1 << 3, /* system admin: network, IP whitelist, time */
	HSM_ROLE_C = 1 << 4, /* security admin: keys, backups, whitelist,
				TK, deletion, authorised state */
	HSM_ROLE_D = 1 << 5, /* audit admin: audit, time check */
};
#define HSM_ROLES_A   (HSM_ROLE_A1 | HSM_ROLE_A2 | HSM_ROLE_A3)
#define HSM_ROLES_ALL 0x3F

/* "A1" -> HSM_ROLE_A1; 0 if unknown. And back ("?" if not one role). */
unsigned hsm_role_parse(const char *name);
const char *hsm_role_name(unsigned role);
/* ["A1", "C", ...] for a set of role bits (new reference). */
json_t *hsm_role_array(unsigned roles);

struct hsm_admin; /* admin.h */
struct hsm_audit; /* audit.h */

/* One console session. */
struct hsm_session {
	uint8_t token[16];
	unsigned roles; /* logged in */
	time_t last_use;
	uint8_t challenge[32];   /* pending login challenge */
	unsigned challenge_role; /* role it was issued for, 0 = none */
	char peer[64];           /* address, for the audit */
};

struct hsm_op_ctx {
	struct hsm_state *st;
	struct hsm_admin *admin;
	struct hsm_audit *audit;
	struct hsm_session *s;
	const char *peer; /* client address "ADDR:PORT", for the audit */
};

/*
 * An operation: fills result (an empty object) and returns TKM_OK, or a
 * cause (the response then carries tkm_err_wire(cause) and, if the handler
 * set it, a message in *why (static text)). The management server audits
 * every operation (actor = roles of the session, op, result) after it
 * runs; handlers audit nothing themselves unless they have more to say.
 */
typedef int hsm_op_fn(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why);

enum hsm_op_flag {
	HSM_OP_PUBLIC = 1, /* no login needed (status, login.*) */
	HSM_OP_DK = 2,     /* needs the HSM unsealed */
	HSM_OP_ANY = 4,    /* any ONE of the roles in need suffices */
};

struct hsm_op {
	const char *name;
	hsm_op_fn *fn;
	unsigned need; /* roles that must all be logged in (or any, with
			  HSM_OP_ANY) */
	unsigned flags;
};

/* The table of operations (mgmt_ops.c) and lookup. */
const struct hsm_op *hsm_op_find(const char *name);
/* Check the session may run op: TKM_OK, TKM_ERR_PERMISSION (not logged in
 * with the needed roles), TKM_ERR_SEALED. */
int hsm_op_admit(const struct hsm_op *op, const struct hsm_op_ctx *c);

/* The server: its own thread and event loop. */
struct hsm_mgmt;
/* struct hsm_mgmt_cfg (address, port, TLS files) is in config.h. */
int hsm_mgmt_start(struct hsm_state *st, const struct hsm_mgmt_cfg *cfg,
    struct hsm_mgmt **out) TKM_MUST_CHECK;
unsigned hsm_mgmt_port(const struct hsm_mgmt *m);
void hsm_mgmt_stop(struct hsm_mgmt *m);

/*
 * Run one request object (for the server and for tests without a
 * network): returns the response object (new reference; NULL only when
 * out of memory). c->st, c->admin, c->audit and c->peer are the caller's;
 * c->s is set here:
 *   1. "session" names a live session: c->s is it (its idle clock
 *      restarts). A token that is unknown or expired fails every
 *      operation that is not HSM_OP_PUBLIC with TKM_ERR_PERMISSION; a
 *      public one then runs with c->s NULL, except login.challenge.
 *   2. login.challenge without a live session gets a fresh one (no
 *      roles) in c->s: its handler stores the challenge and its role in
 *      c->s->challenge / challenge_role. login finds them there, and on
 *      success adds the role to c->s->roles and clears challenge_role;
 *      c->s is NULL for login without a live session.
 *   3. hsm_op_admit(), then the handler.
 *   4. A session left with no role and no pending challenge (logout of
 *      its last role, a failed first login) ends, and c->s becomes NULL.
 *   5. The response carries "session": token whenever c->s is set, so
 *      login.challenge and login always return the token to keep.
 *   6. One audit record (hsm_audit_append): actor = the session's roles
 *      before and after, joined by "+" ("A1+A2"), or c->peer when there
 *      are none; op; result; the args as JSON without the values of any
 *      argument whose name contains password, pin, component, secret or
 *      signature.
 * Not thread-safe: the sessions are one table, used by the management
 * thread only (or by one test thread). c->s stays valid until the next
 * call.
 */
json_t *hsm_mgmt_handle(struct hsm_op_ctx *c, json_t *req);

/* End every session (zeroise), the caller's included: its slot is wiped,
 * so hsm_mgmt_handle() answers the request that ran this without a
 * session. Management thread only. */
void hsm_mgmt_end_sessions(void);

#endif
