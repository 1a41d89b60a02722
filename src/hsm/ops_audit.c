/*
 * ops_audit.c - the audit admin's view of the audit log (audit.h,
 * docs/management.md, docs/audit.md): show, verify, export, checkpoint;
 * and the signer that gives the log the HSM identity (ident.h).
 *
 * A response is one management frame (HSM_MGMT_MAX bytes): listings stop
 * at a byte budget well below it and say where to go on ("next").
 */
#include <stdatomic.h>
#include <string.h>

#include "audit.h"
#include "backup.h"
#include "ident.h"
#include "ops.h"
#include "tkm/buf.h"

#define SHOW_DEFAULT 100
#define LIST_MAX     1000
#define BUDGET       (HSM_MGMT_MAX / 2) /* bytes of records per response */

struct lister {
	json_t *records;
	int with_hash; /* export: hash and mac too */
	size_t used;   /* bytes, roughly as JSON */
	uint64_t next; /* seq after the last one listed */
};

static json_t *
rec_json(const struct hsm_audit_rec *r, int with_hash)
{
	char hex[2 * HSM_AUDIT_HASH_LEN + 1];
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
	json_object_set_new(o, "time", json_integer(r->time));
	json_object_set_new(o, "actor", json_string(r->actor));
	json_object_set_new(o, "op", json_string(r->op));
	json_object_set_new(o, "result", json_string(tkm_err_wire(r->result)));
	json_object_set_new(o, "error", json_string(tkm_strerror(r->result)));
	json_object_set_new(o, "detail", json_string(r->detail));
	if (!with_hash)
		return o;
	tkm_hex_encode(r->hash, HSM_AUDIT_HASH_LEN, hex);
	json_object_set_new(o, "hash", json_string(hex));
	if (r->mac != NULL) {
		tkm_hex_encode(r->mac, HSM_AUDIT_HASH_LEN, hex);
		json_object_set_new(o, "mac", json_string(hex));
	} else {
		json_object_set_new(o, "mac", json_null());
	}
	return o;
}

static int
list_one(void *arg, const struct hsm_audit_rec *r)
{
	struct lister *ls = arg;
	json_t *o;

	/* Escaping may double a field; the fixed part is under 400. */
	ls->used +=
	    400 + 2 * (strlen(r->actor) + strlen(r->op) + strlen(r->detail));
	if (ls->used > BUDGET && json_array_size(ls->records) > 0)
		return TKM_ERR_SPACE;
	if ((o = rec_json(r, ls->with_hash)) == NULL ||
	    json_array_append_new(ls->records, o) != 0)
		return TKM_ERR_NOMEM;
	ls->next = r->seq + 1;
	return TKM_OK;
}

/* List into result: "records", and "next" when more may follow. */
static int
list(struct hsm_op_ctx *c, uint64_t from, unsigned n, int with_hash,
    json_t *result)
{
	struct lister ls = {json_array(), with_hash, 0, from};
	uint64_t last = hsm_audit_last(c->audit);
	int rc;

	if (ls.records == NULL)
		return TKM_ERR_NOMEM;
	rc = hsm_audit_list(c->audit, from, n, list_one, &ls);
	if (rc == TKM_ERR_SPACE)
		rc = TKM_OK;
	if (rc == TKM_OK) {
		json_object_set_new(result, "records", ls.records);
		json_object_set_new(
		    result, "last", json_integer((json_int_t)last));
		json_object_set_new(result, "next",
		    ls.next <= last ? json_integer((json_int_t)ls.next)
				    : json_null());
	} else {
		json_decref(ls.records);
	}
	return rc;
}

/* from and n arguments; from defaults to def_from. */
static int
range_args(json_t *args, uint64_t def_from, unsigned def_n, uint64_t *from,
    unsigned *n)
{
	json_t *f = json_object_get(args, "from"),
	       *k = json_object_get(args, "n");

	*from = def_from;
	*n = def_n;
	if (f != NULL) {
		if (!json_is_integer(f) || json_integer_value(f) < 1)
			return TKM_ERR_INPUT;
		*from = (uint64_t)json_integer_value(f);
	}
	if (k != NULL) {
		if (!json_is_integer(k) || json_integer_value(k) < 1 ||
		    json_integer_value(k) > LIST_MAX)
			return TKM_ERR_INPUT;
		*n = (unsigned)json_integer_value(k);
	}
	return TKM_OK;
}

static int
need_audit(struct hsm_op_ctx *c, const char **why)
{
	if (c->audit != NULL)
		return TKM_OK;
	*why = "this HSM keeps no audit log";
	return TKM_ERR_INTERNAL;
}

/* audit.show {from?, n?}: records from seq from (default: the newest n),
 * n at most 1000 (default 100). */
int
op_audit_show(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	uint64_t from, last, def;
	unsigned n;
	json_t *k;
	int rc;

	if ((rc = need_audit(c, why)) != TKM_OK)
		return rc;
	last = hsm_audit_last(c->audit);
	k = json_object_get(args, "n");
	n = json_is_integer(k) && json_integer_value(k) >= 1 &&
		    json_integer_value(k) <= LIST_MAX
		? (unsigned)json_integer_value(k)
		: SHOW_DEFAULT;
	def = last >= n ? last - n + 1 : 1;
	if (range_args(args, def, SHOW_DEFAULT, &from, &n) != TKM_OK) {
		*why = "from: a seq (1..); n: 1..1000";
		return TKM_ERR_INPUT;
	}
	return list(c, from, n, 0, result);
}

/* audit.export {from?, n?}: as show, oldest first from seq 1 by default,
 * with each record's hash and MAC, so that a copy kept off the machine
 * can be checked against the log later. */
int
op_audit_export(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	uint64_t from;
	unsigned n;
	int rc;

	if ((rc = need_audit(c, why)) != TKM_OK)
		return rc;
	if (range_args(args, 1, LIST_MAX, &from, &n) != TKM_OK) {
		*why = "from: a seq (1..); n: 1..1000";
		return TKM_ERR_INPUT;
	}
	json_object_set_new(result, "hash", json_string("SM3"));
	json_object_set_new(result, "mac", json_string("HMAC-SM3"));
	return list(c, from, n, 1, result);
}

/* audit.verify {checkpoint?}: the whole chain, the MACs when unsealed,
 * the checkpoints in DIR/audit.checkpoints and those given (lines as
 * audit.checkpoint answered, or a copy of that file, kept off the
 * machine). */
int
op_audit_verify(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	json_t *cp = json_object_get(args, "checkpoint");
	struct hsm_audit_report rep;
	int rc;

	if ((rc = need_audit(c, why)) != TKM_OK)
		return rc;
	if (cp != NULL &&
	    (!json_is_string(cp) ||
		strlen(json_string_value(cp)) != json_string_length(cp))) {
		*why = "checkpoint: text, checkpoint lines as audit.checkpoint "
		       "returns them";
		return TKM_ERR_INPUT;
	}
	if ((rc = hsm_audit_verify_with(c->audit, dk,
		 cp != NULL ? json_string_value(cp) : NULL, &rep)) != TKM_OK)
		return rc;
	json_object_set_new(result, "ok", json_boolean(rep.ok));
	json_object_set_new(
	    result, "records", json_integer((json_int_t)rep.records));
	json_object_set_new(
	    result, "unmacked", json_integer((json_int_t)rep.unmacked));
	json_object_set_new(result, "macs_checked", json_boolean(dk != NULL));
	json_object_set_new(result, "checkpoints_checked",
	    json_integer((json_int_t)rep.checkpoints));
	json_object_set_new(
	    result, "keys_checked", json_boolean(rep.keys_checked));
	json_object_set_new(result, "first_bad",
	    rep.first_bad != 0 ? json_integer((json_int_t)rep.first_bad)
			       : json_null());
	json_object_set_new(result, "why",
	    rep.why != NULL ? json_string(rep.why) : json_null());
	return TKM_OK;
}

/* audit.checkpoint {}: sign a checkpoint of the newest record now (it is
 * also appended to DIR/audit.checkpoints). */
int
op_audit_checkpoint(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);
	char line[HSM_AUDIT_CP_MAX];
	uint64_t seq;
	int rc;

	(void)args;
	if ((rc = need_audit(c, why)) != TKM_OK)
		return rc;
	rc = hsm_audit_checkpoint(c->audit, dk, line, &seq);
	if (rc == TKM_ERR_NO_KEY)
		*why = "no identity key to sign checkpoints with";
	else if (rc == TKM_ERR_SEALED)
		*why = "sealed: the identity key needs the device key";
	else if (rc == TKM_ERR_IO)
		*why = "cannot write audit.checkpoints";
	else if (rc != TKM_OK)
		*why = "cannot sign the checkpoint (identity key or serial)";
	if (rc != TKM_OK)
		return rc;
	json_object_set_new(result, "checkpoint", json_string(line));
	json_object_set_new(result, "seq", json_integer((json_int_t)seq));
	return TKM_OK;
}

/* --- the identity as the log's signer ------------------------------------ */

_Static_assert(HSM_AUDIT_SERIAL_MAX == HSM_SERIAL_MAX, "serial lengths");

static int
ident_serial(void *arg, char out[HSM_AUDIT_SERIAL_MAX + 1])
{
	return hsm_ident_serial(arg, out);
}

static int
ident_key(void *arg, const struct hsm_dk *dk, struct tkm_sm2 **out)
{
	return hsm_ident_key(arg, dk, out);
}

static int
ident_pub(void *arg, const struct hsm_dk *dk, uint8_t pub[TKM_SM2_PUB_LEN])
{
	return hsm_ident_pub(arg, dk, pub);
}

void
hsm_audit_use_ident(struct hsm_audit *au, struct hsm_admin *a)
{
	const struct hsm_audit_signer s = {
	    a, ident_serial, ident_key, ident_pub};

	hsm_audit_set_signer(au, a != NULL ? &s : NULL);
}
