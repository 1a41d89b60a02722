/*
 * kinds_keys.c - the proposal kinds of the HSMs and the key flows
 * (kinds_keys.h, docs/api.md "HSMs", "Keys").
 *
 * Payloads are checked when proposed (400 form, 404 what they name, 409
 * a state that does not allow it) and stored resolved, so that the
 * approver sees exactly what will run: every template named, the city of
 * a business HSM, the root key's template and version.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kjson.h"
#include "auth.h"
#include "flows.h"
#include "kinds_keys.h"
#include "lifecycle.h"
#include "refdata.h"
#include "tkm/net.h"
#include "tkm/wire.h"

#define HTTP_BAD       400
#define HTTP_NOT_FOUND 404
#define HTTP_CONFLICT  409
#define NAME_MAX_LEN   127 /* hsms.name: struct kms_hsm holds 128 */
#define SERIAL_MAX_LEN 63
#define HOST_MAX_LEN   255
#define REASON_MAX     500
#define CITIES_MAX     64
#define ACTOR_MAX      (2 * KMS_NAME_MAX + 2)
#define BATCH_MAX      (2 * KMS_NKEYTYPES + 2) /* keys of one city */

/*
 * Messages with names in them. A kind's *why is read by its caller
 * before this thread runs anything else (proposal.h, api.c), so one
 * buffer per thread serves: msg for the message, tmp for what a callee
 * writes before it goes into msg.
 */
static _Thread_local char msg[KMS_WHY];
static _Thread_local char tmp[KMS_WHY];

/* --- helpers ------------------------------------------------------------- */

/* Cut an incomplete UTF-8 sequence that truncation left at the end:
 * JSON strings must be valid UTF-8. */
static void
utf8_end(char *s)
{
	size_t n = strlen(s), i = n, need;
	unsigned char c;

	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	c = (unsigned char)s[i - 1];
	if (c < 0x80)
		return;
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	if (i - 1 + need > n)
		s[i - 1] = '\0';
}

static int fail(const char **why, int *http, int status, int rc,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
fail(const char **why, int *http, int status, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_end(msg);
	*why = msg;
	*http = status;
	return rc;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
}

void
kms_keys_index(unsigned idx, char out[8])
{
	snprintf(out, 8, "K%03X", idx & 0xFFFu);
}

/* A positive integer id, else 0. */
static int64_t
id_of(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) > 0
		   ? (int64_t)json_integer_value(v)
		   : 0;
}

/* An integer in [lo, hi], else -1. */
static int64_t
num_of(json_t *v, int64_t lo, int64_t hi)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return -1;
	return (int64_t)json_integer_value(v);
}

/* 1..max bytes, no control characters (UTF-8 passes). */
static int
text_ok(const char *s, size_t max)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n < 1 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
			return 0;
	return 1;
}

/* A host name or address: letters, digits, . : - _ */
static int
host_ok(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n < 1 || n > HOST_MAX_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (strchr(
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789.:-_",
			s[i]) == NULL)
			return 0;
	return 1;
}

/* Printable ASCII without blanks (an HSM serial number). */
static int
serial_ok(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n < 1 || n > SERIAL_MAX_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7F)
			return 0;
	return 1;
}

/* An array of 1..max distinct strings. */
static int
list_ok(json_t *a, size_t max)
{
	size_t i, j;

	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > max)
		return 0;
	for (i = 0; i < json_array_size(a); i++) {
		if (!json_is_string(json_array_get(a, i)))
			return 0;
		for (j = 0; j < i; j++)
			if (strcmp(json_string_value(json_array_get(a, i)),
				json_string_value(json_array_get(a, j))) == 0)
				return 0;
	}
	return 1;
}

/* "proposer+approver" of proposal id: who the key events name. */
static int
actor_of(struct kdb *db, int64_t id, char out[ACTOR_MAX])
{
	struct kdb_rows *r = NULL;
	int rc;

	rc = kdb_query(db, &r,
	    "SELECT pu.name, COALESCE(au.name, '') FROM proposals p"
	    " JOIN users pu ON pu.id = p.proposer_id"
	    " LEFT JOIN users au ON au.id = p.approver_id WHERE p.id = $1",
	    KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		snprintf(out, ACTOR_MAX, "%.64s+%.64s", kdb_text(r, 0),
		    kdb_text(r, 1));
		rc = TKM_OK;
	} else {
		say("reading proposal %lld: %s", (long long)id,
		    rc == 0 ? "not found" : kdb_errmsg(db));
		rc = rc < 0 ? rc : TKM_ERR_INTERNAL;
	}
	kdb_rows_free(r);
	return rc;
}

/*
 * The end of an execution: the error beside what was done, and a cause
 * the API answers with the message. An unreachable HSM is TKM_ERR_IO,
 * which api.c would turn into "database error" (500): answer it as
 * TKM_ERR_CLOSED (502) with the sentence that names the HSM.
 */
static int
finish(int rc, json_t *res, json_t **result, const char **why)
{
	json_t *e;

	*result = res;
	if (rc == TKM_OK)
		return TKM_OK;
	if (rc == TKM_ERR_NOMEM || msg[0] == '\0')
		say("%s", tkm_strerror(rc));
	utf8_end(msg);
	*why = msg;
	if (res != NULL && (e = json_string(msg)) != NULL)
		json_object_set_new(res, "error", e);
	return rc == TKM_ERR_IO ? TKM_ERR_CLOSED : rc;
}

/* --- rows the payloads name ---------------------------------------------- */

static int
hsm_get(
    struct kdb *db, int64_t id, struct kms_hsm *h, const char **why, int *http)
{
	int rc;

	if (id == 0)
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "hsm: an HSM id (GET /api/hsms)");
	rc = kms_fleet_get(db, id, h, tmp, sizeof(tmp));
	if (rc == TKM_ERR_NO_KEY)
		return fail(why, http, HTTP_NOT_FOUND, rc, "no HSM %lld",
		    (long long)id);
	if (rc != TKM_OK)
		return fail(why, http, 0, rc, "database error");
	return TKM_OK;
}

static int
city_by_code(
    struct kdb *db, json_t *v, int64_t *id, const char **why, int *http)
{
	const char *code = json_string_value(v);
	int rc;

	if (code == NULL || strlen(code) != 4 ||
	    strspn(code, "0123456789") != 4)
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "city: a 4-digit city code (GET /api/institutions)");
	rc = kdb_int1(db, id,
	    "SELECT id FROM institutions WHERE kind = 'city'"
	    " AND city_code = $1",
	    KDB_TEXT(code));
	if (rc == TKM_ERR_NO_KEY)
		return fail(why, http, HTTP_NOT_FOUND, rc,
		    "no city with code %s (GET /api/institutions)", code);
	return rc == TKM_OK ? TKM_OK : fail(why, http, 0, rc, "database error");
}

/* The city code of a city row into out[8]. */
static int
city_code(struct kdb *db, int64_t id, char out[8])
{
	struct kdb_rows *r = NULL;
	int rc;

	out[0] = '\0';
	rc = kdb_query(db, &r,
	    "SELECT COALESCE(city_code, '') FROM institutions WHERE id = $1",
	    KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		snprintf(out, 8, "%.7s", kdb_text(r, 0));
		rc = TKM_OK;
	} else if (rc == 0) {
		rc = TKM_ERR_NO_KEY;
	}
	kdb_rows_free(r);
	return rc;
}

/* Template by name: id and clearing flag. */
static int
tmpl_get(struct kdb *db, const char *name, int64_t *id, int *clearing,
    const char **why, int *http)
{
	struct kdb_rows *r = NULL;
	int rc;

	rc = kdb_query(db, &r,
	    "SELECT id, clearing FROM key_templates WHERE name = $1",
	    KDB_TEXT(name));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		*id = kdb_int(r, 0);
		*clearing = (int)kdb_int(r, 1);
		rc = TKM_OK;
	} else if (rc == 0) {
		rc = TKM_ERR_NO_KEY;
	}
	kdb_rows_free(r);
	if (rc == TKM_ERR_NO_KEY)
		return fail(why, http, HTTP_NOT_FOUND, rc,
		    "no key template '%.64s' (GET /api/templates)", name);
	return rc == TKM_OK ? TKM_OK : fail(why, http, 0, rc, "database error");
}

/* "templates": a list of known names (checked, and for a clearing HSM
 * only templates issued there), or absent: every template in the
 * appendix's order (clearing ones only for a clearing HSM). *out: a new
 * array. */
static int
tmpl_list(struct kdb *db, json_t *v, int clearing_only, json_t **out,
    const char **why, int *http)
{
	struct kdb_rows *r = NULL;
	int64_t id;
	size_t i;
	int rc, clearing;

	*out = NULL;
	if (v != NULL) {
		if (!list_ok(v, KMS_NKEYTYPES))
			return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
			    "templates: an array of distinct template names");
		for (i = 0; i < json_array_size(v); i++) {
			const char *n = json_string_value(json_array_get(v, i));

			if ((rc = tmpl_get(db, n, &id, &clearing, why, http)) !=
			    TKM_OK)
				return rc;
			if (clearing_only && !clearing)
				return fail(why, http, HTTP_CONFLICT,
				    TKM_ERR_INPUT,
				    "template '%.64s' is not issued to the"
				    " clearing HSM (clearing = 0)",
				    n);
		}
		*out = json_deep_copy(v);
		return *out != NULL
			   ? TKM_OK
			   : fail(why, http, 0, TKM_ERR_NOMEM, "out of memory");
	}
	if ((*out = json_array()) == NULL)
		return fail(why, http, 0, TKM_ERR_NOMEM, "out of memory");
	rc = kdb_query(db, &r,
	    "SELECT name FROM key_templates WHERE clearing = 1 OR $1 = 0"
	    " ORDER BY seq",
	    KDB_INT(clearing_only));
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		rc = json_array_append_new(*out, json_string(kdb_text(r, 0)))
			 ? TKM_ERR_NOMEM
			 : TKM_OK;
	}
	kdb_rows_free(r);
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
		return fail(why, http, 0, rc, "database error");
	}
	return TKM_OK;
}

/* --- hsm.add ------------------------------------------------------------- */

static const char *const hsm_roles[] = {
    "root", "provincial_business", "clearing", "city", "standby", NULL};

static int
role_known(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && hsm_roles[i] != NULL; i++)
		if (strcmp(s, hsm_roles[i]) == 0)
			return 1;
	return 0;
}

/* Business and city HSMs serve one city (docs/kms-schema.md). */
static int
role_has_city(const char *role)
{
	return strcmp(role, "provincial_business") == 0 ||
	       strcmp(role, "city") == 0;
}

/* The row of a stored hsm.add payload (city resolved). */
static int
add_row(
    struct kdb *db, json_t *p, struct kms_hsm *h, const char **why, int *http)
{
	static const char *const names[] = {"name", "role", "city", "host",
	    "port", "header_len", "mgmt_host", "mgmt_port", "serial", NULL};
	const char *name = json_string_value(json_object_get(p, "name"));
	const char *role = json_string_value(json_object_get(p, "role"));
	const char *host = json_string_value(json_object_get(p, "host"));
	json_t *city = json_object_get(p, "city"), *v;
	const char *bad;
	int64_t n;
	int rc;

	memset(h, 0, sizeof(*h));
	if (!kms_json_keys_ok(p, names, &bad))
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "hsm.add: unknown field '%.64s' (docs/api.md)", bad);
	if (!text_ok(name, NAME_MAX_LEN))
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "name: 1 to %d bytes, no control characters", NAME_MAX_LEN);
	if (!role_known(role))
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "role: root, provincial_business, clearing, city or"
		    " standby");
	if (role_has_city(role) != (city != NULL))
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "city: a %s HSM %s a city code", role,
		    role_has_city(role) ? "needs" : "takes no");
	if (!host_ok(host))
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "host: a host name or address");
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->role, sizeof(h->role), "%s", role);
	snprintf(h->host, sizeof(h->host), "%s", host);
	if ((n = num_of(json_object_get(p, "port"), 1, 65535)) < 0)
		return fail(
		    why, http, HTTP_BAD, TKM_ERR_INPUT, "port: 1 to 65535");
	h->port = (unsigned)n;
	h->header_len = 8;
	if ((v = json_object_get(p, "header_len")) != NULL) {
		if ((n = num_of(v, 0, TKM_WIRE_MAX_HDR)) < 0)
			return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
			    "header_len: 0 to %d", TKM_WIRE_MAX_HDR);
		h->header_len = (unsigned)n;
	}
	if ((v = json_object_get(p, "mgmt_host")) != NULL) {
		if (!host_ok(json_string_value(v)))
			return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
			    "mgmt_host: a host name or address");
		snprintf(h->mgmt_host, sizeof(h->mgmt_host), "%s",
		    json_string_value(v));
	}
	if ((v = json_object_get(p, "mgmt_port")) != NULL) {
		if ((n = num_of(v, 1, 65535)) < 0)
			return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
			    "mgmt_port: 1 to 65535");
		h->mgmt_port = (unsigned)n;
	}
	if ((v = json_object_get(p, "serial")) != NULL) {
		if (!serial_ok(json_string_value(v)))
			return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
			    "serial: 1 to %d printable ASCII characters, no"
			    " blanks",
			    SERIAL_MAX_LEN);
		snprintf(
		    h->serial, sizeof(h->serial), "%s", json_string_value(v));
	}
	if (city != NULL &&
	    (rc = city_by_code(db, city, &h->city_id, why, http)) != TKM_OK)
		return rc;
	return TKM_OK;
}

static int
hsm_add_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	struct kms_hsm h;
	int64_t n;
	int rc;

	if ((rc = add_row(db, p, &h, why, http)) != TKM_OK)
		return rc;
	rc = kdb_int1(db, &n,
	    "SELECT COUNT(*) FROM hsms WHERE name = $1"
	    " OR (host = $2 AND port = $3)",
	    KDB_TEXT(h.name), KDB_TEXT(h.host), KDB_INT(h.port));
	if (rc != TKM_OK)
		return fail(why, http, 0, rc, "database error");
	if (n > 0)
		return fail(why, http, HTTP_CONFLICT, TKM_ERR_INPUT,
		    "an HSM named '%s' or at %s:%u exists", h.name, h.host,
		    h.port);
	if ((*stored = json_deep_copy(p)) == NULL ||
	    json_object_set_new(
		*stored, "header_len", json_integer(h.header_len)) != 0)
		return fail(why, http, 0, TKM_ERR_NOMEM, "out of memory");
	return TKM_OK;
}

static int
hsm_add_apply(struct kdb *db, int64_t now, json_t *s, json_t **result,
    const char **why, int *http)
{
	struct kms_hsm h;
	int64_t id;
	int rc;

	(void)now;
	if ((rc = add_row(db, s, &h, why, http)) != TKM_OK)
		return rc;
	rc = kms_fleet_add(db, &h, &id, tmp, sizeof(tmp));
	if (rc == TKM_ERR_INPUT && kdb_fail(db) == KDB_FAIL_UNIQUE)
		return fail(why, http, HTTP_CONFLICT, rc, "%s", tmp);
	if (rc != TKM_OK)
		return fail(why, http, rc == TKM_ERR_INPUT ? HTTP_BAD : 0, rc,
		    "%s", tmp);
	*result = json_pack("{s:I, s:s}", "id", (json_int_t)id, "name", h.name);
	return TKM_OK;
}

/* --- hsm.update ---------------------------------------------------------- */

/* Live keys in HSM id: issued copies, or root keys (a root HSM). */
static int
live_keys(struct kdb *db, int64_t id, int64_t *n)
{
	return kdb_int1(db, n,
	    "SELECT (SELECT COUNT(*) FROM issued_keys WHERE hsm_id = $1"
	    " AND state IN ('pending', 'active', 'archived', 'compromised'))"
	    " + (SELECT COUNT(*) FROM root_keys WHERE hsm_id = $1"
	    " AND state IN ('active', 'archived', 'compromised'))",
	    KDB_INT(id));
}

static int
ok_host(json_t *v)
{
	return host_ok(json_string_value(v));
}

static int
ok_port(json_t *v)
{
	return num_of(v, 1, 65535) > 0;
}

static int
ok_header(json_t *v)
{
	return num_of(v, 0, TKM_WIRE_MAX_HDR) >= 0;
}

static int
ok_serial(json_t *v)
{
	return serial_ok(json_string_value(v));
}

static int
ok_state(json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL &&
	       (strcmp(s, "active") == 0 || strcmp(s, "retired") == 0);
}

/* The columns hsm.update may set (the names are also the SQL columns);
 * nullable ones may be set to null to forget them. */
static const struct column {
	const char *name;
	int (*ok)(json_t *v);
	int nullable;
} hsm_cols[] = {
    {"host", ok_host, 0},
    {"port", ok_port, 0},
    {"header_len", ok_header, 0},
    {"mgmt_host", ok_host, 1},
    {"mgmt_port", ok_port, 1},
    {"serial", ok_serial, 1},
    {"state", ok_state, 0},
};

static const struct column *
hsm_col(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(hsm_cols) / sizeof(hsm_cols[0]); i++)
		if (strcmp(hsm_cols[i].name, name) == 0)
			return &hsm_cols[i];
	return NULL;
}

/* The checks of prepare and apply: fields, and no retiring of an HSM
 * that holds live keys. */
static int
update_check(
    struct kdb *db, json_t *p, struct kms_hsm *h, const char **why, int *http)
{
	json_t *set = json_object_get(p, "set"), *v;
	const struct column *c;
	const char *k;
	int64_t n;
	int rc;

	if (json_object_size(p) != 2 + (json_object_get(p, "name") != NULL) ||
	    !json_is_object(set) || json_object_size(set) == 0)
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "hsm.update: {\"id\", \"set\": {field: value}}");
	if ((rc = hsm_get(db, id_of(json_object_get(p, "id")), h, why, http)) !=
	    TKM_OK)
		return rc;
	json_object_foreach(set, k, v)
	{
		if ((c = hsm_col(k)) == NULL)
			return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
			    "set: '%.64s' cannot be changed (host, port,"
			    " header_len, mgmt_host, mgmt_port, serial,"
			    " state)",
			    k);
		if (!(json_is_null(v) && c->nullable) && !c->ok(v))
			return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
			    "set: %s of the wrong form (docs/api.md)", k);
	}
	v = json_object_get(set, "state");
	if (v != NULL && strcmp(json_string_value(v), "retired") == 0 &&
	    strcmp(h->state, "retired") != 0) {
		if ((rc = live_keys(db, h->id, &n)) != TKM_OK)
			return fail(why, http, 0, rc, "database error");
		if (n > 0)
			return fail(why, http, HTTP_CONFLICT, TKM_ERR_INPUT,
			    "HSM '%s' holds %lld live keys: rotate or mark"
			    " them compromised and destroy them first",
			    h->name, (long long)n);
	}
	return TKM_OK;
}

static int
hsm_update_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	json_t *set = json_object_get(p, "set");
	const char *host;
	struct kms_hsm h;
	int64_t n, port;
	int rc;

	if (json_object_get(p, "name") != NULL)
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "hsm.update: {\"id\", \"set\": {field: value}}");
	if ((rc = update_check(db, p, &h, why, http)) != TKM_OK)
		return rc;
	host = json_string_value(json_object_get(set, "host"));
	port = json_is_integer(json_object_get(set, "port"))
		   ? (int64_t)json_integer_value(json_object_get(set, "port"))
		   : (int64_t)h.port;
	if ((rc = kdb_int1(db, &n,
		 "SELECT COUNT(*) FROM hsms WHERE host = $1 AND port = $2"
		 " AND id <> $3",
		 KDB_TEXT(host != NULL ? host : h.host), KDB_INT(port),
		 KDB_INT(h.id))) != TKM_OK)
		return fail(why, http, 0, rc, "database error");
	if (n > 0)
		return fail(why, http, HTTP_CONFLICT, TKM_ERR_INPUT,
		    "another HSM is at %s:%lld", host != NULL ? host : h.host,
		    (long long)port);
	/* The name goes along for the approver to read. */
	*stored = json_pack("{s:I, s:s, s:O}", "id", (json_int_t)h.id, "name",
	    h.name, "set", set);
	return *stored != NULL
		   ? TKM_OK
		   : fail(why, http, 0, TKM_ERR_NOMEM, "out of memory");
}

static int
hsm_update_apply(struct kdb *db, int64_t now, json_t *s, json_t **result,
    const char **why, int *http)
{
	json_t *set = json_object_get(s, "set"), *v;
	struct kms_hsm h;
	const char *k;
	char sql[96];
	int rc;

	(void)now;
	if ((rc = update_check(db, s, &h, why, http)) != TKM_OK)
		return rc;
	json_object_foreach(set, k, v)
	{
		/* k is one of hsm_cols (update_check): never the request's
		 * own text in the SQL. */
		snprintf(sql, sizeof(sql),
		    "UPDATE hsms SET %s = $1 WHERE id = $2", hsm_col(k)->name);
		rc = kdb_exec_(db, sql,
		    (struct kdb_val[]){json_is_null(v) ? KDB_NULL
				       : json_is_integer(v)
					   ? KDB_INT(json_integer_value(v))
					   : KDB_TEXT(json_string_value(v)),
			KDB_INT(h.id)},
		    2);
		if (rc == TKM_ERR_INPUT && kdb_fail(db) == KDB_FAIL_UNIQUE)
			return fail(why, http, HTTP_CONFLICT, rc,
			    "another HSM is at that address");
		if (rc != TKM_OK)
			return fail(why, http,
			    rc == TKM_ERR_INPUT ? HTTP_BAD : 0, rc,
			    "the database refused the change");
	}
	/* Another address is another check: what NC said before was about
	 * the old one. The DK KCV stays, so that a different device there is
	 * noticed. */
	if ((json_object_get(set, "host") != NULL ||
		json_object_get(set, "port") != NULL) &&
	    (rc = kdb_exec(db,
		 "UPDATE hsms SET health = 'unknown' WHERE id = $1",
		 KDB_INT(h.id))) != TKM_OK)
		return fail(why, http, 0, rc, "database error");
	*result = json_pack("{s:I, s:s, s:O}", "id", (json_int_t)h.id, "name",
	    h.name, "set", set);
	return TKM_OK;
}

/* --- key.generate -------------------------------------------------------- */

/* An active HSM of a role the kind may use. */
static int
hsm_usable(struct kdb *db, json_t *p, const char *const *roles,
    const char *need, struct kms_hsm *h, const char **why, int *http)
{
	size_t i;
	int rc;

	if ((rc = hsm_get(
		 db, id_of(json_object_get(p, "hsm")), h, why, http)) != TKM_OK)
		return rc;
	if (strcmp(h->state, "active") != 0)
		return fail(why, http, HTTP_CONFLICT, TKM_ERR_INPUT,
		    "HSM '%s' is %s", h->name, h->state);
	for (i = 0; roles[i] != NULL; i++)
		if (strcmp(h->role, roles[i]) == 0)
			return TKM_OK;
	return fail(why, http, HTTP_CONFLICT, TKM_ERR_INPUT,
	    "HSM '%s' is a %s HSM: this needs %s", h->name, h->role, need);
}

static int
generate_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	static const char *const names[] = {"hsm", "templates", "algs", NULL};
	static const char *const roles[] = {"root", NULL};
	json_t *algs = json_object_get(p, "algs"), *tl = NULL;
	struct kms_hsm h;
	const char *bad, *a;
	size_t i;
	int rc;

	if (!kms_json_keys_ok(p, names, &bad))
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "key.generate: unknown field '%.64s' (hsm, templates,"
		    " algs)",
		    bad);
	if (algs != NULL) {
		if (!list_ok(algs, 2))
			return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
			    "algs: [\"DES\", \"SM4\"] or one of them");
		for (i = 0; i < json_array_size(algs); i++) {
			a = json_string_value(json_array_get(algs, i));
			if (strcmp(a, "DES") != 0 && strcmp(a, "SM4") != 0)
				return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
				    "algs: DES or SM4, not '%.16s'", a);
		}
	}
	if ((rc = hsm_usable(db, p, roles, "the root HSM", &h, why, http)) !=
		TKM_OK ||
	    (rc = tmpl_list(db, json_object_get(p, "templates"), 0, &tl, why,
		 http)) != TKM_OK)
		return rc;
	*stored =
	    algs != NULL
		? json_pack("{s:I, s:o, s:O}", "hsm", (json_int_t)h.id,
		      "templates", tl, "algs", algs)
		: json_pack("{s:I, s:o, s:[s, s]}", "hsm", (json_int_t)h.id,
		      "templates", tl, "algs", "DES", "SM4");
	return *stored != NULL
		   ? TKM_OK
		   : fail(why, http, 0, TKM_ERR_NOMEM, "out of memory");
}

struct generated {
	const char *actor;
	int64_t proposal;
};

/* kms_flow_generate's in_tx hook: the key becomes active with its event,
 * so that its generation record always names who generated it. */
static int
generated_tx(struct kdb *db, void *arg, const struct kms_recorded *r)
{
	const struct generated *w = arg;

	return kms_lc_note(
	    db, r->root_key_id, "generated", w->actor, w->proposal, NULL);
}

static int
generate_exec(struct kdb *db, int64_t now, int64_t id, json_t *s,
    json_t **result, const char **why)
{
	json_t *tl = json_object_get(s, "templates"),
	       *algs = json_object_get(s, "algs");
	json_t *res = json_object(), *keys = json_array(), *k;
	struct kms_flow_opts o;
	struct kms_rootgen g;
	char actor[ACTOR_MAX], ix[8];
	struct generated w = {actor, id};
	const char *tn, *alg;
	int64_t tid;
	size_t i, j;
	int rc, clearing, http;

	(void)now;
	memset(&o, 0, sizeof(o));
	o.in_tx = generated_tx;
	o.tx_arg = &w;
	msg[0] = '\0';
	if (res == NULL || keys == NULL ||
	    json_object_set(res, "keys", keys) != 0) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if ((rc = actor_of(db, id, actor)) != TKM_OK)
		goto out;
	for (i = 0; i < json_array_size(tl); i++) {
		tn = json_string_value(json_array_get(tl, i));
		if ((rc = tmpl_get(db, tn, &tid, &clearing, why, &http)) !=
		    TKM_OK)
			goto out;
		for (j = 0; j < json_array_size(algs); j++) {
			alg = json_string_value(json_array_get(algs, j));
			rc = kms_flow_generate(db,
			    id_of(json_object_get(s, "hsm")), tid, alg, &o, &g,
			    msg, sizeof(msg));
			if (rc != TKM_OK)
				goto out;
			kms_keys_index(g.idx, ix);
			k = json_pack(
			    "{s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:b}",
			    "root_key_id", (json_int_t)g.root_key_id,
			    "template", tn, "alg", alg, "version",
			    (json_int_t)g.version, "idx", (json_int_t)g.idx,
			    "index", ix, "kcv", g.kcv, "existed", g.existed);
			if (k == NULL || json_array_append_new(keys, k) != 0) {
				rc = TKM_ERR_NOMEM;
				goto out;
			}
		}
	}
out:
	json_decref(keys);
	return finish(rc, res, result, why);
}

/* --- key.issue ----------------------------------------------------------- */

static int
issue_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	static const char *const names[] = {"hsm", "cities", "templates", NULL};
	static const char *const roles[] = {
	    "provincial_business", "city", "clearing", NULL};
	json_t *cities = json_object_get(p, "cities"), *tl = NULL, *cl;
	struct kms_hsm h;
	const char *bad;
	char own[8];
	int64_t cid;
	size_t i;
	int rc, clearing;

	if (!kms_json_keys_ok(p, names, &bad))
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "key.issue: unknown field '%.64s' (hsm, cities,"
		    " templates)",
		    bad);
	if (cities != NULL && !list_ok(cities, CITIES_MAX))
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "cities: an array of distinct city codes");
	if ((rc = hsm_usable(db, p, roles,
		 "a provincial_business, city or clearing HSM", &h, why,
		 http)) != TKM_OK)
		return rc;
	clearing = strcmp(h.role, "clearing") == 0;
	if (clearing && cities == NULL)
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "cities: the clearing HSM holds the keys of the cities"
		    " named");
	for (i = 0; cities != NULL && i < json_array_size(cities); i++)
		if ((rc = city_by_code(db, json_array_get(cities, i), &cid, why,
			 http)) != TKM_OK)
			return rc;
	if (!clearing) {
		if ((rc = city_code(db, h.city_id, own)) != TKM_OK)
			return fail(why, http, 0, rc, "database error");
		if (cities != NULL &&
		    (json_array_size(cities) != 1 ||
			strcmp(json_string_value(json_array_get(cities, 0)),
			    own) != 0))
			return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
			    "HSM '%s' serves city %s only: leave cities out",
			    h.name, own);
	}
	if (json_object_get(p, "templates") != NULL &&
	    (rc = tmpl_list(db, json_object_get(p, "templates"), clearing, &tl,
		 why, http)) != TKM_OK)
		return rc;
	cl = clearing ? json_deep_copy(cities) : json_pack("[s]", own);
	*stored =
	    json_pack("{s:I, s:o}", "hsm", (json_int_t)h.id, "cities", cl);
	if (*stored == NULL) {
		json_decref(tl);
		return fail(why, http, 0, TKM_ERR_NOMEM, "out of memory");
	}
	if (tl != NULL && json_object_set_new(*stored, "templates", tl) != 0) {
		json_decref(*stored);
		*stored = NULL;
		return fail(why, http, 0, TKM_ERR_NOMEM, "out of memory");
	}
	return TKM_OK;
}

/*
 * Key events "issued" of one run: each new copy's is written in the
 * transaction that records the copy (issued_tx, the flow's in_tx hook),
 * so that a KMS stopped in mid-city (a crash, a kill) leaves no copy
 * without its event. A copy found issued (existed) with no event of a
 * key.issue for its HSM and city (or of a key.reissue) was recorded by
 * an older kmsd that wrote events after the copy and stopped in between:
 * this run, which found and checked it, writes it. The distribution
 * record therefore names who issued every copy.
 */
struct issued_log {
	struct kdb *db;
	const char *actor;
	int64_t proposal, hsm;
	const char *city;  /* city code */
	int rc;            /* the first event that could not be written */
	char why[KMS_WHY]; /* its message (msg is the flow's meanwhile) */
};

/* The active root key of a template and algorithm; 0 when none. */
static int
active_root(struct kdb *db, const char *tmpl, const char *alg, int64_t *id)
{
	int rc = kdb_int1(db, id,
	    "SELECT k.id FROM root_keys k JOIN key_templates t"
	    " ON t.id = k.template_id WHERE t.name = $1 AND k.alg = $2"
	    " AND k.state = 'active'",
	    KDB_TEXT(tmpl), KDB_TEXT(alg));

	if (rc == TKM_ERR_NO_KEY) {
		*id = 0;
		return TKM_OK;
	}
	return rc;
}

/* Does payload (a key.issue's, as stored) name HSM hsm and city code? */
static int
payload_covers(const char *text, int64_t hsm, const char *city)
{
	json_t *p = json_loads(text != NULL ? text : "", 0, NULL), *c;
	size_t i;
	int yes = 0;

	if (p != NULL && id_of(json_object_get(p, "hsm")) == hsm) {
		c = json_object_get(p, "cities");
		for (i = 0; i < json_array_size(c) && !yes; i++)
			yes = json_is_string(json_array_get(c, i)) &&
			      strcmp(json_string_value(json_array_get(c, i)),
				  city) == 0;
	}
	json_decref(p);
	return yes;
}

/* 1: root key rk has an "issued" event of a proposal that issued it to
 * l's HSM and city (a key.issue naming them, or a key.reissue); 0: none;
 * < 0: a database error. */
static int
has_event(struct issued_log *l, int64_t rk)
{
	struct kdb_rows *r = NULL;
	int rc, yes = 0;

	rc = kdb_query(l->db, &r,
	    "SELECT p.kind, p.payload FROM key_events e"
	    " JOIN proposals p ON p.id = e.proposal_id"
	    " WHERE e.root_key_id = $1 AND e.kind = 'issued'",
	    KDB_INT(rk));
	while (rc == TKM_OK && !yes && (rc = kdb_next(r)) == 1) {
		rc = TKM_OK;
		yes = strcmp(kdb_text(r, 0), "key.reissue") == 0 ||
		      (strcmp(kdb_text(r, 0), "key.issue") == 0 &&
			  payload_covers(kdb_text(r, 1), l->hsm, l->city));
	}
	kdb_rows_free(r);
	return rc < 0 ? rc : yes;
}

/* The flows' in_tx hook: a new copy commits with its event. */
static int
issued_tx(struct kdb *db, void *arg, const struct kms_recorded *r)
{
	const struct issued_log *l = arg;

	return kms_lc_note(
	    db, r->root_key_id, "issued", l->actor, l->proposal, NULL);
}

/* The event of a copy of root key rk found issued (existed), when it has
 * none. */
static void
note_found(struct issued_log *l, int64_t rk)
{
	int rc;

	if (l->rc != TKM_OK)
		return;
	if (rk == 0)
		rc = TKM_ERR_INTERNAL; /* rotated meanwhile */
	else
		rc = has_event(l, rk);
	if (rc == 0) /* found without its event */
		rc = kms_lc_note(
		    l->db, rk, "issued", l->actor, l->proposal, NULL);
	if (rc < 0) {
		snprintf(l->why, sizeof(l->why),
		    "root key %lld was issued but its event could not be"
		    " recorded: %s (issuing again records it)",
		    (long long)rk, kdb_errmsg(l->db));
		l->rc = rc;
	}
}

/* Progress of kms_flow_issue_city: each key found issued. */
static void
log_key(void *arg, const struct kms_progress *p)
{
	struct issued_log *l = arg;
	int64_t rk = 0;

	if (p->step != KMS_STEP_DONE || p->rc != TKM_OK || !p->existed ||
	    l->rc != TKM_OK)
		return;
	if ((l->rc = active_root(l->db, p->template_name, p->alg, &rk)) !=
	    TKM_OK) {
		snprintf(l->why, sizeof(l->why),
		    "%s %s was issued but its event could not be recorded: %s"
		    " (issuing again records it)",
		    p->template_name, p->alg, kdb_errmsg(l->db));
		return;
	}
	note_found(l, rk);
}

/* Issue the templates tl (every template: NULL) for one city. */
static int
issue_city(struct kdb *db, int64_t hsm, int64_t city, json_t *tl,
    const int64_t *roots, size_t nroots, struct issued_log *l,
    struct kms_batch *b)
{
	struct kms_flow_opts o;
	struct kms_issue one;
	int64_t t0 = tkm_mono_ms();
	size_t i;
	int rc = TKM_OK;

	memset(&o, 0, sizeof(o));
	memset(b, 0, sizeof(*b));
	o.in_tx = issued_tx;
	o.tx_arg = l;
	if (tl == NULL) {
		o.progress = log_key;
		o.arg = l;
		rc =
		    kms_flow_issue_city(db, city, hsm, &o, b, msg, sizeof(msg));
		goto out;
	}
	b->total = nroots;
	for (i = 0; i < nroots; i++) {
		rc = kms_flow_issue(
		    db, roots[i], city, hsm, &o, &one, msg, sizeof(msg));
		if (rc != TKM_OK) {
			b->failed = 1;
			break;
		}
		if (one.existed) {
			b->existed++;
			note_found(l, roots[i]);
		} else {
			b->issued++;
		}
		if (l->rc != TKM_OK)
			break;
	}
	b->elapsed_ms = tkm_mono_ms() - t0;
out:
	if (rc == TKM_OK && l->rc != TKM_OK) {
		snprintf(msg, sizeof(msg), "%s", l->why);
		rc = l->rc;
	}
	return rc;
}

/* The active root keys of the templates tl, DES before SM4, all found
 * before any host command (as kms_flow_issue_city does). */
static int
issue_roots(struct kdb *db, json_t *tl, int64_t *roots, size_t *n)
{
	static const char *const algs[] = {"DES", "SM4"};
	const char *tn;
	size_t i, a;
	int rc;

	*n = 0;
	for (i = 0; i < json_array_size(tl) && *n + 2 <= BATCH_MAX; i++) {
		tn = json_string_value(json_array_get(tl, i));
		for (a = 0; a < 2; a++) {
			if ((rc = active_root(db, tn, algs[a], &roots[*n])) !=
			    TKM_OK) {
				say("reading root keys: %s", kdb_errmsg(db));
				return rc;
			}
			if (roots[*n] == 0) {
				say("template %s has no active %s root key:"
				    " generate it first",
				    tn, algs[a]);
				return TKM_ERR_INPUT;
			}
			(*n)++;
		}
	}
	return TKM_OK;
}

static int
issue_exec(struct kdb *db, int64_t now, int64_t id, json_t *s, json_t **result,
    const char **why)
{
	json_t *cities = json_object_get(s, "cities"),
	       *tl = json_object_get(s, "templates");
	json_t *res = json_object(), *arr = json_array(), *e;
	int64_t hsm = id_of(json_object_get(s, "hsm")), roots[BATCH_MAX], cid;
	struct issued_log l;
	char actor[ACTOR_MAX];
	struct kms_batch b;
	const char *code;
	size_t i, nroots = 0, keys = 0;
	int rc, http;

	(void)now;
	msg[0] = '\0';
	if (res == NULL || arr == NULL ||
	    json_object_set(res, "cities", arr) != 0) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if ((rc = actor_of(db, id, actor)) != TKM_OK ||
	    (tl != NULL &&
		(rc = issue_roots(db, tl, roots, &nroots)) != TKM_OK))
		goto out;
	for (i = 0; i < json_array_size(cities); i++) {
		code = json_string_value(json_array_get(cities, i));
		if ((rc = city_by_code(db, json_array_get(cities, i), &cid, why,
			 &http)) != TKM_OK)
			goto out;
		l = (struct issued_log){db, actor, id, hsm, code, TKM_OK, ""};
		/* Each copy's event is written with it (issued_tx), also
		 * before a failure. */
		rc = issue_city(db, hsm, cid, tl, roots, nroots, &l, &b);
		keys += b.issued + b.existed;
		e = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "city_code",
		    code, "total", (json_int_t)b.total, "issued",
		    (json_int_t)b.issued, "existed", (json_int_t)b.existed,
		    "failed", (json_int_t)(rc != TKM_OK ? 1 : 0), "elapsed_ms",
		    (json_int_t)b.elapsed_ms);
		if (e == NULL || json_array_append_new(arr, e) != 0) {
			rc = TKM_ERR_NOMEM;
			goto out;
		}
		if (rc != TKM_OK)
			goto out;
	}
out:
	if (res != NULL)
		json_object_set_new(
		    res, "keys", json_integer((json_int_t)keys));
	json_decref(arr);
	return finish(rc, res, result, why);
}

/* --- lifecycle kinds ----------------------------------------------------- */

struct rkey {
	int64_t id, version;
	char tname[64], alg[4], state[16];
};

/* The root key a payload names by "root_key", and *stored with its
 * template and version for the approver to read. */
static int
rk_prepare(struct kdb *db, json_t *p, const char *const *names, struct rkey *k,
    json_t **stored, const char **why, int *http)
{
	int64_t id = id_of(json_object_get(p, "root_key"));
	struct kdb_rows *r = NULL;
	const char *bad;
	int rc;

	memset(k, 0, sizeof(*k));
	if (!kms_json_keys_ok(p, names, &bad) || id == 0)
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "{\"root_key\": id%s}: %s", names[1] != NULL ? ", ..." : "",
		    id == 0 ? "root_key: a root key id" : "unknown field");
	rc = kdb_query(db, &r,
	    "SELECT k.id, k.version, t.name, k.alg, k.state FROM root_keys k"
	    " JOIN key_templates t ON t.id = k.template_id WHERE k.id = $1",
	    KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		k->id = kdb_int(r, 0);
		k->version = kdb_int(r, 1);
		snprintf(k->tname, sizeof(k->tname), "%s", kdb_text(r, 2));
		snprintf(k->alg, sizeof(k->alg), "%s", kdb_text(r, 3));
		snprintf(k->state, sizeof(k->state), "%s", kdb_text(r, 4));
		rc = TKM_OK;
	} else if (rc == 0) {
		rc = TKM_ERR_NO_KEY;
	}
	kdb_rows_free(r);
	if (rc == TKM_ERR_NO_KEY)
		return fail(why, http, HTTP_NOT_FOUND, rc, "no root key %lld",
		    (long long)id);
	if (rc != TKM_OK)
		return fail(why, http, 0, rc, "database error");
	*stored = json_pack("{s:I, s:s, s:s, s:I}", "root_key",
	    (json_int_t)k->id, "template", k->tname, "alg", k->alg, "version",
	    (json_int_t)k->version);
	return *stored != NULL
		   ? TKM_OK
		   : fail(why, http, 0, TKM_ERR_NOMEM, "out of memory");
}

/* 1 if k's state is one of the list. */
static int
state_in(const struct rkey *k, const char *a, const char *b)
{
	return strcmp(k->state, a) == 0 ||
	       (b != NULL && strcmp(k->state, b) == 0);
}

static int
state_refused(const struct rkey *k, json_t **stored, const char **why,
    int *http, const char *what)
{
	json_decref(*stored);
	*stored = NULL;
	return fail(why, http, HTTP_CONFLICT, TKM_ERR_INPUT,
	    "root key %s %s v%lld is %s: %s", k->tname, k->alg,
	    (long long)k->version, k->state, what);
}

static const char *const rk_only[] = {"root_key", NULL};

static int
rotate_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	struct rkey k;
	int rc;

	if ((rc = rk_prepare(db, p, rk_only, &k, stored, why, http)) != TKM_OK)
		return rc;
	/* archived: a rotation that stopped, which continues. */
	if (!state_in(&k, "active", "archived"))
		return state_refused(
		    &k, stored, why, http, "only an active key is rotated");
	return TKM_OK;
}

static int
compromise_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	static const char *const names[] = {"root_key", "reason", NULL};
	const char *reason = json_string_value(json_object_get(p, "reason"));
	struct rkey k;
	int rc;

	if (!text_ok(reason, REASON_MAX))
		return fail(why, http, HTTP_BAD, TKM_ERR_INPUT,
		    "reason: why the key is compromised, 1 to %d bytes on"
		    " one line",
		    REASON_MAX);
	if ((rc = rk_prepare(db, p, names, &k, stored, why, http)) != TKM_OK)
		return rc;
	if (!state_in(&k, "active", "archived"))
		return state_refused(&k, stored, why, http,
		    "only an active or archived key is marked compromised"
		    " (GET /api/root-keys/{id}/plan)");
	if (json_object_set_new(*stored, "reason", json_string(reason)) != 0)
		return fail(why, http, 0, TKM_ERR_NOMEM, "out of memory");
	return TKM_OK;
}

static int
reissue_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	struct rkey k;
	int64_t active;
	int rc;

	if ((rc = rk_prepare(db, p, rk_only, &k, stored, why, http)) != TKM_OK)
		return rc;
	if (!state_in(&k, "archived", "compromised"))
		return state_refused(&k, stored, why, http,
		    "only archived or compromised keys are replaced");
	if ((rc = active_root(db, k.tname, k.alg, &active)) != TKM_OK) {
		json_decref(*stored);
		*stored = NULL;
		return fail(why, http, 0, rc, "database error");
	}
	if (active == 0)
		return state_refused(&k, stored, why, http,
		    "its template has no active version: generate the"
		    " replacement first (key.generate)");
	return TKM_OK;
}

static int
destroy_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	struct rkey k;
	int rc;

	if ((rc = rk_prepare(db, p, rk_only, &k, stored, why, http)) != TKM_OK)
		return rc;
	if (!state_in(&k, "archived", "compromised"))
		return state_refused(&k, stored, why, http,
		    "only archived or compromised keys are destroyed (rotate"
		    " it, or mark it compromised, first)");
	return TKM_OK;
}

/* The start of each lifecycle execution: result, actor, root key. */
static int
lc_begin(struct kdb *db, int64_t id, json_t *s, json_t **res,
    char actor[ACTOR_MAX], int64_t *rk)
{
	msg[0] = '\0';
	*rk = id_of(json_object_get(s, "root_key"));
	if ((*res = json_pack("{s:I}", "root_key", (json_int_t)*rk)) == NULL)
		return TKM_ERR_NOMEM;
	return actor_of(db, id, actor);
}

static int
rotate_exec(struct kdb *db, int64_t now, int64_t id, json_t *s, json_t **result,
    const char **why)
{
	struct kms_flow_opts o;
	struct kms_rotation rot;
	char actor[ACTOR_MAX], ix[8];
	json_t *res = NULL, *x;
	int64_t rk;
	int rc;

	(void)now;
	memset(&o, 0, sizeof(o));
	if ((rc = lc_begin(db, id, s, &res, actor, &rk)) != TKM_OK)
		goto out;
	rc = kms_lc_rotate(db, rk, actor, id, &o, &rot, msg, sizeof(msg));
	if (rc != TKM_OK)
		goto out;
	kms_keys_index(rot.new_idx, ix);
	x = json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:b}", "old_id",
	    (json_int_t)rot.old_id, "new_id", (json_int_t)rot.new_id,
	    "new_version", (json_int_t)rot.new_version, "new_idx",
	    (json_int_t)rot.new_idx, "new_index", ix, "new_kcv", rot.new_kcv,
	    "archived_copies", (json_int_t)rot.archived_copies, "existed",
	    rot.existed);
	if (x == NULL || json_object_update(res, x) != 0)
		rc = TKM_ERR_NOMEM;
	json_decref(x);
out:
	return finish(rc, res, result, why);
}

/* A rotation stopped between archiving and recording: the old version
 * serves on (kms_lc_rotate_recover). */
static int
rotate_recover(struct kdb *db, int64_t now, json_t *s, json_t **note)
{
	int64_t rk = id_of(json_object_get(s, "root_key"));
	int restored = 0, rc;

	*note = NULL;
	if ((rc = kms_lc_rotate_recover(db, rk, now, &restored)) != TKM_OK ||
	    !restored)
		return rc;
	*note = json_pack("{s:I, s:s}", "root_key", (json_int_t)rk, "recovered",
	    "the rotation did not happen: this version is active"
	    " again");
	return *note != NULL ? TKM_OK : TKM_ERR_NOMEM;
}

static int
compromise_exec(struct kdb *db, int64_t now, int64_t id, json_t *s,
    json_t **result, const char **why)
{
	struct kms_lc_plan plan;
	char actor[ACTOR_MAX];
	json_t *res = NULL, *x = NULL;
	int64_t rk;
	int rc;

	(void)now;
	memset(&plan, 0, sizeof(plan));
	if ((rc = lc_begin(db, id, s, &res, actor, &rk)) != TKM_OK)
		goto out;
	rc = kms_lc_compromise(db, rk, actor, id,
	    json_string_value(json_object_get(s, "reason")), &plan, msg,
	    sizeof(msg));
	if (rc != TKM_OK)
		goto out;
	if ((rc = kms_keys_plan_json(db, &plan, &x)) != TKM_OK) {
		say("root key %lld is marked compromised, but its plan could"
		    " not be read (GET /api/root-keys/%lld/plan)",
		    (long long)rk, (long long)rk);
		goto out;
	}
	json_decref(res);
	res = x;
out:
	kms_lc_plan_free(&plan);
	return finish(rc, res, result, why);
}

static int
reissue_exec(struct kdb *db, int64_t now, int64_t id, json_t *s,
    json_t **result, const char **why)
{
	struct kms_flow_opts o;
	struct kms_reissue re;
	char actor[ACTOR_MAX];
	json_t *res = NULL, *x;
	int64_t rk;
	int rc;

	(void)now;
	memset(&o, 0, sizeof(o));
	memset(&re, 0, sizeof(re));
	if ((rc = lc_begin(db, id, s, &res, actor, &rk)) != TKM_OK)
		goto out;
	/* Each new copy commits with its "issued" event, the first with the
	 * old key's "reissued" (lifecycle.c), also before a failure. */
	rc = kms_lc_reissue(db, rk, actor, id, &o, &re, msg, sizeof(msg));
	x = json_pack("{s:I, s:I, s:I, s:I}", "new_root_id",
	    (json_int_t)re.new_root_id, "total", (json_int_t)re.total, "issued",
	    (json_int_t)re.issued, "existed", (json_int_t)re.existed);
	if (x == NULL || json_object_update(res, x) != 0)
		rc = rc != TKM_OK ? rc : TKM_ERR_NOMEM;
	json_decref(x);
out:
	return finish(rc, res, result, why);
}

static int
destroy_exec(struct kdb *db, int64_t now, int64_t id, json_t *s,
    json_t **result, const char **why)
{
	struct kms_lc_destroy d;
	char actor[ACTOR_MAX];
	json_t *res = NULL, *x;
	int64_t rk;
	int rc;

	(void)now;
	memset(&d, 0, sizeof(d));
	if ((rc = lc_begin(db, id, s, &res, actor, &rk)) != TKM_OK)
		goto out;
	rc = kms_lc_destroy_request(db, rk, actor, id, &d, msg, sizeof(msg));
	if (rc != TKM_OK)
		goto out;
	if ((x = kms_keys_destroy_json(rk, &d, 0)) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	json_decref(res);
	res = x;
out:
	kms_lc_destroy_free(&d);
	return finish(rc, res, result, why);
}

/* --- JSON shapes --------------------------------------------------------- */

static json_t *
int_or_null(int64_t v)
{
	return v != 0 ? json_integer((json_int_t)v) : json_null();
}

json_t *
kms_keys_root_row(struct kdb_rows *r)
{
	char ix[8];

	kms_keys_index((unsigned)kdb_int(r, 7), ix);
	return json_pack("{s:I, s:s?, s:I, s:s?, s:I, s:o, s:s?, s:I, s:s,"
			 " s:s?, s:s?, s:I, s:I, s:I}",
	    "id", (json_int_t)kdb_int(r, 0), "template", kdb_text(r, 1),
	    "template_id", (json_int_t)kdb_int(r, 2), "alg", kdb_text(r, 3),
	    "version", (json_int_t)kdb_int(r, 4), "hsm_id",
	    int_or_null(kdb_int(r, 5)), "hsm", kdb_text(r, 6), "idx",
	    (json_int_t)kdb_int(r, 7), "index", ix, "kcv", kdb_text(r, 8),
	    "state", kdb_text(r, 9), "created", (json_int_t)kdb_int(r, 10),
	    "changed", (json_int_t)kdb_int(r, 11), "copies",
	    (json_int_t)kdb_int(r, 12));
}

int
kms_keys_root_json(struct kdb *db, int64_t id, json_t **out)
{
	struct kdb_rows *r = NULL;
	int rc;

	*out = NULL;
	rc = kdb_query(
	    db, &r, KMS_KEYS_ROOT_SQL " WHERE k.id = $1", KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1)
		rc = (*out = kms_keys_root_row(r)) != NULL ? TKM_OK
							   : TKM_ERR_NOMEM;
	else if (rc == 0)
		rc = TKM_ERR_NO_KEY;
	kdb_rows_free(r);
	return rc;
}

int
kms_keys_plan_json(struct kdb *db, const struct kms_lc_plan *p, json_t **out)
{
	const struct kms_lc_copy *c;
	json_t *root = NULL, *copies = json_array(), *e;
	char ix[8], nix[8], code[8];
	size_t i;
	int rc;

	*out = NULL;
	if (copies == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = kms_keys_root_json(db, p->root_key_id, &root)) != TKM_OK)
		goto fail;
	for (i = 0; i < p->ncopies; i++) {
		c = &p->copies[i];
		if ((rc = city_code(db, c->city_id, code)) != TKM_OK)
			goto fail;
		kms_keys_index(c->idx, ix);
		kms_keys_index(c->new_idx, nix);
		e = json_pack("{s:I, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:s,"
			      " s:s, s:s, s:I, s:s}",
		    "issued_id", (json_int_t)c->issued_id, "city", c->city,
		    "city_code", code, "hsm_id", (json_int_t)c->hsm_id, "hsm",
		    c->hsm, "hsm_role", c->hsm_role, "alg", c->alg, "idx",
		    (json_int_t)c->idx, "index", ix, "kcv", c->kcv, "state",
		    c->state, "new_idx", (json_int_t)c->new_idx, "new_index",
		    nix);
		if (e == NULL || json_array_append_new(copies, e) != 0) {
			rc = TKM_ERR_NOMEM;
			goto fail;
		}
	}
	kms_keys_index(p->next_idx, nix);
	*out = json_pack("{s:o, s:I, s:I, s:s, s:o}", "root_key", root,
	    "next_version", (json_int_t)p->next_version, "next_idx",
	    (json_int_t)p->next_idx, "next_index", nix, "copies", copies);
	return *out != NULL ? TKM_OK : TKM_ERR_NOMEM;
fail:
	json_decref(root);
	json_decref(copies);
	return rc;
}

json_t *
kms_keys_destroy_json(
    int64_t root_key_id, const struct kms_lc_destroy *d, int confirm)
{
	const struct kms_lc_kill *e;
	json_t *keys = json_array(), *x;
	char ix[8], why[sizeof(e->why)];
	size_t i;

	if (keys == NULL)
		return NULL;
	for (i = 0; i < d->n; i++) {
		e = &d->keys[i];
		kms_keys_index(e->idx, ix);
		x = json_pack("{s:I, s:o, s:I, s:s, s:s, s:I, s:s, s:s, s:s,"
			      " s:s}",
		    "id", (json_int_t)e->id, "issued_id",
		    int_or_null(e->issued_id), "hsm_id", (json_int_t)e->hsm_id,
		    "hsm", e->hsm, "alg", e->alg, "idx", (json_int_t)e->idx,
		    "index", ix, "kcv", e->kcv, "state", e->state, "command",
		    e->command);
		if (x != NULL && confirm) {
			snprintf(why, sizeof(why), "%s", e->why);
			utf8_end(why);
			json_object_set_new(x, "ok",
			    json_boolean(strcmp(e->state, "destroyed") == 0));
			json_object_set_new(x, "why",
			    why[0] != '\0' ? json_string(why) : json_null());
		}
		if (x == NULL || json_array_append_new(keys, x) != 0) {
			json_decref(keys);
			return NULL;
		}
	}
	return json_pack("{s:I, s:o, s:I, s:I, s:b}", "root_key_id",
	    (json_int_t)root_key_id, "keys", keys, "pending",
	    (json_int_t)d->pending, "destroyed", (json_int_t)d->destroyed,
	    "root_destroyed", d->root_destroyed);
}

/* --- the table ----------------------------------------------------------- */

const struct kms_kind kms_kinds_keys[] = {
    {"hsm.add", KMS_ROLE_CONFIGURATOR, hsm_add_prepare, hsm_add_apply, NULL,
	NULL},
    {"hsm.update", KMS_ROLE_CONFIGURATOR, hsm_update_prepare, hsm_update_apply,
	NULL, NULL},
    {"key.generate", KMS_ROLE_KEY_MANAGER, generate_prepare, NULL,
	generate_exec, NULL},
    {"key.issue", KMS_ROLE_KEY_MANAGER, issue_prepare, NULL, issue_exec, NULL},
    {"key.rotate", KMS_ROLE_KEY_MANAGER, rotate_prepare, NULL, rotate_exec,
	rotate_recover},
    {"key.compromise", KMS_ROLE_KEY_MANAGER, compromise_prepare, NULL,
	compromise_exec, NULL},
    {"key.reissue", KMS_ROLE_KEY_MANAGER, reissue_prepare, NULL, reissue_exec,
	NULL},
    {"key.destroy", KMS_ROLE_KEY_MANAGER, destroy_prepare, NULL, destroy_exec,
	NULL},
};
const size_t kms_kinds_keys_n =
    sizeof(kms_kinds_keys) / sizeof(kms_kinds_keys[0]);
