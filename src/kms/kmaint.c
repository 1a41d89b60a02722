/*
 * kmaint.c - maintenance applications (kmaint.h, docs/api.md
 * "Maintenance applications", docs/maintenance.md).
 *
 * Untrusted request files go through the library's parser (maint.h,
 * fuzzed by fuzz/fuzz_maint.c) and the signature check before anything
 * is stored; the update is built by the library's writer and signed at
 * the root HSM by the same code as `tkms maint sign` (msign.h).
 *
 * maint.licence runs in three steps (proposal.h): prepare checks the
 * payload and stores it resolved (seq and root HSM filled in); apply
 * checks it again in the approval's transaction; execute claims the
 * application (licensed, with the proposal id) in a transaction of its
 * own, has the root HSM sign, and stores the update (signed), or puts the
 * application back exactly as it was (imported) when anything failed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kjson.h"
#include "ksay.h"
#include "fleet.h"
#include "http.h"
#include "kaudit.h"
#include "kmaint.h"
#include "tkm/buf.h"
#include "tkm/maint.h"
#include "tkm/msign.h"

#define HTTP_BAD       400
#define HTTP_NOT_FOUND 404
#define HTTP_CONFLICT  409
#define PUB_HEX        (2 * TKM_SM2_PUB_LEN)
#define NONCE_HEX      (2 * TKM_MAINT_NONCE_LEN)

/*
 * Messages of the kind's steps: proposal.h passes a static *why, read by
 * the caller before this thread runs anything else, so one buffer per
 * thread serves.
 */
static _Thread_local char msg[KMS_WHY];

/* A refusal: the message, the status, the cause. */
static int refuse(char *why, size_t why_len, int *http, int status, int rc,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
refuse(char *why, size_t why_len, int *http, int status, int rc,
    const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && why_len > 0) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	*http = status;
	return rc;
}

static int
db_error(struct kdb *db, char *why, size_t why_len, int *http, int rc)
{
	kms_say(why, why_len, "database: %s", kdb_errmsg(db));
	*http = 0;
	return rc < 0 ? rc : TKM_ERR_INTERNAL;
}

/*
 * The state as read: a licensed application whose proposal is no longer
 * running (failed, or anything but approved and executed) is imported
 * again. Execution resets it itself; this covers a KMS that stopped
 * between the claim and the reset.
 */
static const char *
state_read(const char *state, const char *pstate)
{
	if (state == NULL)
		return "imported";
	if (strcmp(state, "licensed") == 0 &&
	    (pstate == NULL || (strcmp(pstate, "approved") != 0 &&
				   strcmp(pstate, "executed") != 0)))
		return "imported";
	return state;
}

/* --- import -------------------------------------------------------------- */

struct import {
	/* in */
	int64_t now, city_id, hsm_id;
	const char *actor, *text, *city_code;
	const struct tkm_maint_request *q;
	char nonce[NONCE_HEX + 1], identity[PUB_HEX + 1];
	char fp[TKM_MAINT_FP_HEX + 1];
	/* out */
	int64_t id;
	int http;
	char *why;
	size_t why_len;
};

/* The identity remembered for the serial, if any: a different one is a
 * refusal (the serial's first request named another key). */
static int
import_identity(struct kdb *db, struct import *im, int *known)
{
	struct kdb_rows *r = NULL;
	uint8_t pub[TKM_SM2_PUB_LEN];
	char was[TKM_MAINT_FP_HEX + 1] = "?";
	int64_t first = 0;
	size_t n;
	int rc, same = 0;

	*known = 0;
	if ((rc = kdb_query(db, &r,
		 "SELECT identity, app_id FROM maint_identities"
		 " WHERE serial = $1",
		 KDB_TEXT(im->q->serial))) != TKM_OK ||
	    (rc = kdb_next(r)) < 0) {
		kdb_rows_free(r);
		return db_error(db, im->why, im->why_len, &im->http, rc);
	}
	if (rc == 1) {
		*known = 1;
		same = strcmp(kdb_text(r, 0), im->identity) == 0;
		first = kdb_int(r, 1);
		if (tkm_hex_decode(kdb_text(r, 0), PUB_HEX, pub, sizeof(pub),
			&n) == TKM_OK)
			tkm_maint_fingerprint(pub, was);
	}
	kdb_rows_free(r);
	if (*known && !same)
		return refuse(im->why, im->why_len, &im->http, HTTP_CONFLICT,
		    TKM_ERR_VERIFY,
		    "HSM %s is known by the identity key %s (its first "
		    "request, application %lld); this request is signed by "
		    "%s: another device under that serial, or a new identity "
		    "key: check with the city before going on",
		    im->q->serial, was, (long long)first, im->fp);
	return TKM_OK;
}

static int
import_tx(struct kdb *db, void *arg)
{
	struct import *im = arg;
	json_t *d;
	int64_t other;
	int known, rc;

	im->id = 0;
	im->http = 0;
	if ((rc = import_identity(db, im, &known)) != TKM_OK)
		return rc;
	rc = kdb_int1(db, &other, "SELECT id FROM maint_apps WHERE nonce = $1",
	    KDB_TEXT(im->nonce));
	if (rc == TKM_OK)
		return refuse(im->why, im->why_len, &im->http, HTTP_CONFLICT,
		    TKM_ERR_INPUT,
		    "this request (nonce %s) was imported already: "
		    "application %lld",
		    im->nonce, (long long)other);
	if (rc != TKM_ERR_NO_KEY)
		return db_error(db, im->why, im->why_len, &im->http, rc);
	if ((rc = kdb_int1(db, &im->id,
		 "INSERT INTO maint_apps (hsm_id, city_id, serial,"
		 " issuer_code, request, state, created, changed, nonce,"
		 " identity) VALUES ($1, $2, $3, $4, $5, 'imported', $6, $6,"
		 " $7, $8) RETURNING id",
		 im->hsm_id != 0 ? KDB_INT(im->hsm_id) : KDB_NULL,
		 KDB_INT(im->city_id), KDB_TEXT(im->q->serial),
		 KDB_TEXT(im->q->form.v[TKM_MF_ISSUER_CODE]),
		 KDB_TEXT(im->text), KDB_INT(im->now), KDB_TEXT(im->nonce),
		 KDB_TEXT(im->identity))) != TKM_OK)
		return db_error(db, im->why, im->why_len, &im->http, rc);
	if (!known &&
	    (rc = kdb_exec(db,
		 "INSERT INTO maint_identities (serial, identity, app_id,"
		 " created) VALUES ($1, $2, $3, $4)",
		 KDB_TEXT(im->q->serial), KDB_TEXT(im->identity),
		 KDB_INT(im->id), KDB_INT(im->now))) != TKM_OK)
		return db_error(db, im->why, im->why_len, &im->http, rc);
	/* The issuer code stays out of the audit, as in the HSM's. */
	d = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I}", "id",
	    (json_int_t)im->id, "serial", im->q->serial, "nonce", im->nonce,
	    "identity", im->fp, "city_code", im->city_code, "last_seq",
	    (json_int_t)im->q->last_seq, "licences", (json_int_t)im->q->nlic);
	if (d == NULL)
		return TKM_ERR_NOMEM;
	if (im->hsm_id != 0)
		json_object_set_new(d, "hsm_id", json_integer(im->hsm_id));
	rc = kms_audit_append(db, im->now, im->actor, "maint.import", d);
	json_decref(d);
	if (rc != TKM_OK)
		return db_error(db, im->why, im->why_len, &im->http, rc);
	return TKM_OK;
}

/* The city of the request's issuer code (发卡机构代码). */
static int
import_city(struct kdb *db, struct import *im, char *code, size_t cap)
{
	struct kdb_rows *r = NULL;
	int rc;

	if ((rc = kdb_query(db, &r,
		 "SELECT id, city_code FROM institutions"
		 " WHERE kind = 'city' AND issuer_code = $1",
		 KDB_TEXT(im->q->form.v[TKM_MF_ISSUER_CODE]))) != TKM_OK ||
	    (rc = kdb_next(r)) < 0) {
		kdb_rows_free(r);
		return db_error(db, im->why, im->why_len, &im->http, rc);
	}
	if (rc == 1) {
		im->city_id = kdb_int(r, 0);
		snprintf(code, cap, "%s",
		    kdb_text(r, 1) != NULL ? kdb_text(r, 1) : "");
	}
	kdb_rows_free(r);
	if (rc == 0)
		return refuse(im->why, im->why_len, &im->http, HTTP_NOT_FOUND,
		    TKM_ERR_NO_KEY,
		    "no city has the issuer code %s (发卡机构代码) of the "
		    "request: see GET /api/institutions",
		    im->q->form.v[TKM_MF_ISSUER_CODE]);
	return TKM_OK;
}

/* The fleet's active HSM with the request's serial, if there is one; it
 * must serve the request's city. */
static int
import_hsm(struct kdb *db, struct import *im)
{
	struct kdb_rows *r = NULL;
	char name[128] = "";
	int64_t city = 0;
	int n = 0, rc;

	if ((rc = kdb_query(db, &r,
		 "SELECT id, name, city_id FROM hsms WHERE serial = $1"
		 " AND state = 'active' ORDER BY id",
		 KDB_TEXT(im->q->serial))) != TKM_OK)
		return db_error(db, im->why, im->why_len, &im->http, rc);
	while ((rc = kdb_next(r)) == 1) {
		if (n++ == 0) {
			im->hsm_id = kdb_int(r, 0);
			snprintf(name, sizeof(name), "%s", kdb_text(r, 1));
			city = kdb_int(r, 2);
		}
	}
	kdb_rows_free(r);
	if (rc < 0)
		return db_error(db, im->why, im->why_len, &im->http, rc);
	if (n > 1)
		return refuse(im->why, im->why_len, &im->http, HTTP_CONFLICT,
		    TKM_ERR_INPUT,
		    "%d active HSMs have the serial %s: correct the fleet "
		    "first (hsm.update)",
		    n, im->q->serial);
	if (n == 1 && city != 0 && city != im->city_id)
		return refuse(im->why, im->why_len, &im->http, HTTP_CONFLICT,
		    TKM_ERR_INPUT,
		    "HSM '%s' (serial %s) serves another city than the "
		    "request's issuer code %s",
		    name, im->q->serial, im->q->form.v[TKM_MF_ISSUER_CODE]);
	return TKM_OK;
}

int
kms_maint_import(struct kdb *db, int64_t now, const char *actor,
    const char *text, size_t len, const uint8_t *identity, int64_t *id,
    char *why, size_t why_len, int *http)
{
	struct tkm_maint_request *q = NULL;
	struct import im;
	char code[16] = "";
	const char *pwhy;
	int rc;

	*id = 0;
	*http = 0;
	memset(&im, 0, sizeof(im));
	im.now = now;
	im.actor = actor;
	im.text = text;
	im.why = why;
	im.why_len = why_len;
	if (len == 0 || len > TKM_MAINT_FILE_MAX || memchr(text, 0, len))
		return refuse(why, why_len, http, HTTP_BAD, TKM_ERR_INPUT,
		    "request: the text of a request file, at most %d bytes",
		    TKM_MAINT_FILE_MAX);
	if ((q = malloc(sizeof(*q))) == NULL)
		return refuse(
		    why, why_len, http, 0, TKM_ERR_NOMEM, "out of memory");
	im.q = q;
	if (tkm_maint_request_parse(text, len, q, &pwhy) != TKM_OK) {
		rc = refuse(why, why_len, http, HTTP_BAD, TKM_ERR_INPUT,
		    "request: %s", pwhy);
		goto out;
	}
	tkm_maint_fingerprint(q->identity, im.fp);
	if (tkm_maint_verify(text, q->signed_len, q->identity, q->sig) !=
	    TKM_OK) {
		rc = refuse(why, why_len, http, HTTP_BAD, TKM_ERR_VERIFY,
		    "the request's signature does not verify with the "
		    "identity key it names (%s): altered",
		    im.fp);
		goto out;
	}
	if (identity != NULL &&
	    memcmp(identity, q->identity, TKM_SM2_PUB_LEN) != 0) {
		rc = refuse(why, why_len, http, HTTP_BAD, TKM_ERR_VERIFY,
		    "the request was made by another HSM (identity %s) than "
		    "the identity key given",
		    im.fp);
		goto out;
	}
	tkm_hex_encode(q->nonce, sizeof(q->nonce), im.nonce);
	tkm_hex_encode(q->identity, sizeof(q->identity), im.identity);
	if ((rc = import_city(db, &im, code, sizeof(code))) != TKM_OK ||
	    (rc = import_hsm(db, &im)) != TKM_OK) {
		*http = im.http;
		goto out;
	}
	im.city_code = code;
	rc = kdb_tx(db, import_tx, &im);
	*http = im.http;
	if (rc == TKM_OK)
		*id = im.id;
out:
	free(q);
	return rc;
}

/* --- reading ------------------------------------------------------------- */

/* Open maint.licence proposals: which application each is for. */
struct pending {
	int64_t app, id;
};

static int
pending_load(struct kdb *db, int64_t now, struct pending **out, size_t *n)
{
	struct kdb_rows *r = NULL;
	struct pending *v = NULL, *t;
	json_t *p;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = kdb_query(db, &r,
		 "SELECT id, payload FROM proposals WHERE kind = "
		 "'maint.licence' AND state = 'open' AND expires > $1"
		 " ORDER BY id",
		 KDB_INT(now))) != TKM_OK)
		return rc;
	while ((rc = kdb_next(r)) == 1) {
		p = json_loads(
		    kdb_text(r, 1) != NULL ? kdb_text(r, 1) : "", 0, NULL);
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			if ((t = realloc(v, cap * sizeof(*v))) == NULL) {
				json_decref(p);
				rc = TKM_ERR_NOMEM;
				break;
			}
			v = t;
		}
		v[*n].id = kdb_int(r, 0);
		v[*n].app = json_integer_value(json_object_get(p, "app"));
		(*n)++;
		json_decref(p);
	}
	kdb_rows_free(r);
	if (rc < 0) {
		free(v);
		*n = 0;
		return rc;
	}
	*out = v;
	return TKM_OK;
}

static int64_t
pending_for(const struct pending *v, size_t n, int64_t app)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].app == app)
			return v[i].id;
	return 0;
}

#define APP_SQL                                                                \
	"SELECT a.id, a.serial, a.issuer_code, a.hsm_id, h.name, a.city_id,"   \
	" i.name, i.city_code, a.state, p.state, a.request, a.licences,"       \
	" a.seq, a.enforce, a.root_hsm_id, r.name, a.key_index, a.mkey,"       \
	" a.proposal_id, a.created, a.changed, a.nonce, a.identity"            \
	" FROM maint_apps a LEFT JOIN hsms h ON h.id = a.hsm_id"               \
	" LEFT JOIN institutions i ON i.id = a.city_id"                        \
	" LEFT JOIN proposals p ON p.id = a.proposal_id"                       \
	" LEFT JOIN hsms r ON r.id = a.root_hsm_id"

enum {
	C_ID,
	C_SERIAL,
	C_ISSUER,
	C_HSM_ID,
	C_HSM,
	C_CITY_ID,
	C_CITY,
	C_CITY_CODE,
	C_STATE,
	C_PSTATE,
	C_REQUEST,
	C_LICENCES,
	C_SEQ,
	C_ENFORCE,
	C_ROOT_ID,
	C_ROOT,
	C_KEY_INDEX,
	C_MKEY,
	C_PROPOSAL,
	C_CREATED,
	C_CHANGED,
	C_NONCE,
	C_IDENTITY
};

static json_t *
int_or_null(struct kdb_rows *r, int col)
{
	return kdb_isnull(r, col) ? json_null() : json_integer(kdb_int(r, col));
}

static json_t *
time_or_null(int64_t t)
{
	return t != 0 ? json_integer(t) : json_null();
}

/* The request's form fields, and its licence counters (when asked: up
 * to 200, for one application only, which keeps listings small). */
static int
request_json(const struct tkm_maint_request *q, json_t *a, int counters)
{
	json_t *form = json_object(), *ctr = json_array(), *c;
	char key[5];
	size_t i;

	if (form == NULL || ctr == NULL)
		goto fail;
	for (i = 0; i < TKM_MF_N; i++)
		if (json_object_set_new(form, tkm_maint_field_name(i),
			json_string(q->form.v[i])) != 0)
			goto fail;
	for (i = 0; counters && i < q->nlic; i++) {
		tkm_maint_key_format(&q->lic[i], key);
		c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "cmd",
		    q->lic[i].cmd, "key", key, "lib",
		    tkm_maint_lib_name(q->lic[i].lib), "remaining",
		    (json_int_t)q->lic[i].count, "used",
		    (json_int_t)q->lic[i].used, "until",
		    (json_int_t)q->lic[i].until);
		if (c == NULL || json_array_append_new(ctr, c) != 0)
			goto fail;
	}
	if (json_object_set_new(a, "form", form) != 0)
		goto fail_ctr;
	if (!counters) {
		json_decref(ctr);
	} else if (json_object_set_new(a, "counters", ctr) != 0) {
		return TKM_ERR_NOMEM;
	}
	if (json_object_set_new(a, "request_time", json_integer(q->time)) ||
	    json_object_set_new(
		a, "request_licences", json_integer((json_int_t)q->nlic)) ||
	    json_object_set_new(
		a, "request_enforce", json_boolean(q->enforce)) ||
	    json_object_set_new(
		a, "last_seq", json_integer((json_int_t)q->last_seq)) ||
	    json_object_set_new(
		a, "last_applied", time_or_null(q->last_applied)))
		return TKM_ERR_NOMEM;
	return TKM_OK;
fail:
	json_decref(form);
fail_ctr:
	json_decref(ctr);
	return TKM_ERR_NOMEM;
}

/* A as docs/api.md shows it, and for one application (with_request)
 * its counters and request file; q receives the parsed request. */
static json_t *
app_json(struct kdb_rows *r, struct tkm_maint_request *q, int64_t open,
    int with_request)
{
	const char *req = kdb_text(r, C_REQUEST), *pwhy;
	uint8_t pub[TKM_SM2_PUB_LEN];
	char fp[TKM_MAINT_FP_HEX + 1] = "";
	size_t n;
	json_t *a;

	if (kdb_text(r, C_IDENTITY) != NULL &&
	    tkm_hex_decode(kdb_text(r, C_IDENTITY), PUB_HEX, pub, sizeof(pub),
		&n) == TKM_OK)
		tkm_maint_fingerprint(pub, fp);
	a = json_pack("{s:I, s:s?, s:s?, s:o, s:s?, s:o, s:s?, s:s?, s:s,"
		      " s:s?, s:s?, s:s?, s:o, s:o, s:o, s:s?, s:o, s:s?,"
		      " s:o, s:o, s:I, s:I}",
	    "id", (json_int_t)kdb_int(r, C_ID), "serial", kdb_text(r, C_SERIAL),
	    "issuer_code", kdb_text(r, C_ISSUER), "hsm_id",
	    int_or_null(r, C_HSM_ID), "hsm", kdb_text(r, C_HSM), "city_id",
	    int_or_null(r, C_CITY_ID), "city", kdb_text(r, C_CITY), "city_code",
	    kdb_text(r, C_CITY_CODE), "state",
	    state_read(kdb_text(r, C_STATE), kdb_text(r, C_PSTATE)), "identity",
	    fp[0] != '\0' ? fp : NULL, "nonce", kdb_text(r, C_NONCE),
	    "licences", kdb_text(r, C_LICENCES), "seq", int_or_null(r, C_SEQ),
	    "enforce",
	    kdb_isnull(r, C_ENFORCE) ? json_null()
				     : json_boolean(kdb_int(r, C_ENFORCE)),
	    "root_hsm_id", int_or_null(r, C_ROOT_ID), "root_hsm",
	    kdb_text(r, C_ROOT), "key_index", int_or_null(r, C_KEY_INDEX),
	    "mkey", kdb_text(r, C_MKEY), "proposal_id",
	    int_or_null(r, C_PROPOSAL), "open_proposal",
	    open != 0 ? json_integer(open) : json_null(), "created",
	    (json_int_t)kdb_int(r, C_CREATED), "changed",
	    (json_int_t)kdb_int(r, C_CHANGED));
	if (a == NULL)
		return NULL;
	/* A licensed application read as imported (its proposal ended):
	 * what the proposal had set does not hold. */
	if (strcmp(json_string_value(json_object_get(a, "state")),
		kdb_text(r, C_STATE) != NULL ? kdb_text(r, C_STATE) : "") !=
	    0) {
		json_object_set_new(a, "licences", json_null());
		json_object_set_new(a, "seq", json_null());
		json_object_set_new(a, "enforce", json_null());
		json_object_set_new(a, "proposal_id", json_null());
	}
	if (req != NULL &&
	    tkm_maint_request_parse(req, strlen(req), q, &pwhy) == TKM_OK &&
	    request_json(q, a, with_request) != TKM_OK) {
		json_decref(a);
		return NULL;
	}
	if (with_request && json_object_set_new(a, "request",
				json_string(req != NULL ? req : "")) != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

int
kms_maint_list(struct kdb *db, const char *state, int64_t id, json_t **out,
    char *why, size_t why_len)
{
	struct tkm_maint_request *q = NULL;
	struct pending *pend = NULL;
	struct kdb_rows *r = NULL;
	json_t *arr = NULL, *a;
	size_t npend = 0;
	int64_t now = (int64_t)time(NULL);
	int rc, http;

	*out = NULL;
	if ((q = malloc(sizeof(*q))) == NULL || (arr = json_array()) == NULL) {
		rc = TKM_ERR_NOMEM;
		kms_say(why, why_len, "out of memory");
		goto out;
	}
	if ((rc = pending_load(db, now, &pend, &npend)) != TKM_OK) {
		rc = db_error(db, why, why_len, &http, rc);
		goto out;
	}
	if (id > 0)
		rc = kdb_query(db, &r, APP_SQL " WHERE a.id = $1", KDB_INT(id));
	else
		rc = kdb_query(db, &r, APP_SQL " ORDER BY a.id DESC");
	if (rc != TKM_OK) {
		rc = db_error(db, why, why_len, &http, rc);
		goto out;
	}
	while (
	    json_array_size(arr) < KMS_MAINT_LIST && (rc = kdb_next(r)) == 1) {
		a = app_json(
		    r, q, pending_for(pend, npend, kdb_int(r, C_ID)), id > 0);
		if (a == NULL) {
			rc = TKM_ERR_NOMEM;
			kms_say(why, why_len, "out of memory");
			goto out;
		}
		if (state != NULL &&
		    strcmp(state,
			json_string_value(json_object_get(a, "state"))) != 0) {
			json_decref(a);
			continue;
		}
		if (json_array_append_new(arr, a) != 0) {
			rc = TKM_ERR_NOMEM;
			goto out;
		}
	}
	if (rc < 0) {
		rc = db_error(db, why, why_len, &http, rc);
		goto out;
	}
	rc = TKM_OK;
	if (id > 0) {
		if (json_array_size(arr) == 0) {
			kms_say(why, why_len, "no maintenance application %lld",
			    (long long)id);
			rc = TKM_ERR_NO_KEY;
			goto out;
		}
		*out = json_incref(json_array_get(arr, 0));
	} else {
		*out = arr;
		arr = NULL;
	}
out:
	kdb_rows_free(r);
	json_decref(arr);
	free(pend);
	free(q);
	return rc;
}

/* --- export -------------------------------------------------------------- */

struct export
{
	int64_t now, id;
	const char *actor;
	json_t *out;
	int http;
	char *why;
	size_t why_len;
};

static int
export_tx(struct kdb *db, void *arg)
{
	struct export *e = arg;
	struct kdb_rows *r = NULL;
	const char *st;
	json_t *d = NULL;
	int rc, first;

	json_decref(e->out);
	e->out = NULL;
	e->http = 0;
	if ((rc = kdb_query(db, &r,
		 "SELECT a.state, p.state, a.serial, a.seq, a.update_file"
		 " FROM maint_apps a LEFT JOIN proposals p"
		 " ON p.id = a.proposal_id WHERE a.id = $1",
		 KDB_INT(e->id))) != TKM_OK ||
	    (rc = kdb_next(r)) < 0) {
		kdb_rows_free(r);
		return db_error(db, e->why, e->why_len, &e->http, rc);
	}
	if (rc == 0) {
		kdb_rows_free(r);
		return refuse(e->why, e->why_len, &e->http, HTTP_NOT_FOUND,
		    TKM_ERR_NO_KEY, "no maintenance application %lld",
		    (long long)e->id);
	}
	st = state_read(kdb_text(r, 0), kdb_text(r, 1));
	if ((strcmp(st, "signed") != 0 && strcmp(st, "exported") != 0) ||
	    kdb_text(r, 4) == NULL) {
		rc = refuse(e->why, e->why_len, &e->http, HTTP_CONFLICT,
		    TKM_ERR_INPUT,
		    "application %lld is %s: there is an update to export "
		    "once a maint.licence proposal for it is approved and "
		    "signed",
		    (long long)e->id, st);
		kdb_rows_free(r);
		return rc;
	}
	first = strcmp(st, "signed") == 0;
	e->out = json_pack("{s:I, s:s?, s:I, s:s}", "id", (json_int_t)e->id,
	    "serial", kdb_text(r, 2), "seq", (json_int_t)kdb_int(r, 3),
	    "update", kdb_text(r, 4));
	d = json_pack("{s:I, s:s?, s:I, s:b}", "id", (json_int_t)e->id,
	    "serial", kdb_text(r, 2), "seq", (json_int_t)kdb_int(r, 3), "first",
	    first);
	kdb_rows_free(r);
	if (e->out == NULL || d == NULL) {
		json_decref(d);
		return TKM_ERR_NOMEM;
	}
	if ((first && (rc = kdb_exec(db,
			   "UPDATE maint_apps SET state = 'exported',"
			   " changed = $1 WHERE id = $2",
			   KDB_INT(e->now), KDB_INT(e->id))) != TKM_OK) ||
	    (rc = kms_audit_append(db, e->now, e->actor, "maint.export", d)) !=
		TKM_OK)
		rc = db_error(db, e->why, e->why_len, &e->http, rc);
	json_decref(d);
	return rc;
}

int
kms_maint_export(struct kdb *db, int64_t now, const char *actor, int64_t id,
    json_t **out, char *why, size_t why_len, int *http)
{
	struct export e = {now, id, actor, NULL, 0, why, why_len};
	int rc;

	*out = NULL;
	rc = kdb_tx(db, export_tx, &e);
	*http = e.http;
	if (rc == TKM_OK) {
		*out = e.out;
		e.out = NULL;
	}
	json_decref(e.out);
	return rc;
}

/* --- maint.licence ------------------------------------------------------- */

/* A payload, checked and resolved. */
struct lic {
	int64_t app, hsm, seq;
	unsigned key_index;
	int enforce;
	const char *licences;
	struct tkm_maint_update u; /* serial, nonce, seq, enforce, licences */
	char root[128];            /* the root HSM's name */
};

enum { AS_PROPOSED, AS_STORED };

static const char *const proposed_keys[] = {
    "app", "licences", "enforce", "seq", "hsm", "key_index", NULL};
static const char *const stored_keys[] = {"app", "serial", "licences", "count",
    "enforce", "seq", "hsm", "key_index", NULL};

/* The fields of the payload, by their form alone. */
static int
lic_fields(json_t *p, int as, struct lic *L, int *http)
{
	json_t *v;
	const char *bad = "";

	if (!kms_json_keys_ok(
		p, as == AS_PROPOSED ? proposed_keys : stored_keys, &bad))
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "maint.licence: {\"app\", \"licences\", \"enforce\", "
		    "\"seq\", \"hsm\", \"key_index\"}; not \"%.64s\"",
		    bad);
	v = json_object_get(p, "app");
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "app: the id of a maintenance application");
	L->app = (int64_t)json_integer_value(v);
	v = json_object_get(p, "licences");
	if (!json_is_string(v) || json_string_length(v) > TKM_MAINT_FILE_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "licences: the licences file as text, one licence a "
		    "line (CMD KEY LIB COUNT UNTIL), at most %d bytes",
		    TKM_MAINT_FILE_MAX);
	L->licences = json_string_value(v);
	v = json_object_get(p, "enforce");
	if (v != NULL && !json_is_boolean(v))
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "enforce: true or false");
	L->enforce = v == NULL || json_is_true(v);
	v = json_object_get(p, "key_index");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
			     json_integer_value(v) > 20))
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "key_index: the SM2 index of the maintenance key pair in "
		    "the root HSM, 1 to 20");
	L->key_index =
	    v != NULL ? (unsigned)json_integer_value(v) : TKM_MAINT_KEY_INDEX;
	v = json_object_get(p, "seq");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1))
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "seq: the update's sequence number, from 1");
	L->seq = v != NULL ? (int64_t)json_integer_value(v) : 0;
	v = json_object_get(p, "hsm");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1))
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "hsm: the id of the root HSM that signs");
	L->hsm = v != NULL ? (int64_t)json_integer_value(v) : 0;
	return TKM_OK;
}

/* The application: it exists, is imported, and its request parses. */
static int
lic_app(struct kdb *db, struct lic *L, struct tkm_maint_request *q, int *http)
{
	struct kdb_rows *r = NULL;
	const char *st, *pwhy;
	int rc;

	if ((rc = kdb_query(db, &r,
		 "SELECT a.state, p.state, a.request FROM maint_apps a"
		 " LEFT JOIN proposals p ON p.id = a.proposal_id"
		 " WHERE a.id = $1",
		 KDB_INT(L->app))) != TKM_OK ||
	    (rc = kdb_next(r)) < 0) {
		kdb_rows_free(r);
		return db_error(db, msg, sizeof(msg), http, rc);
	}
	if (rc == 0) {
		kdb_rows_free(r);
		return refuse(msg, sizeof(msg), http, HTTP_NOT_FOUND,
		    TKM_ERR_NO_KEY, "no maintenance application %lld",
		    (long long)L->app);
	}
	st = state_read(kdb_text(r, 0), kdb_text(r, 1));
	if (strcmp(st, "imported") != 0) {
		rc =
		    refuse(msg, sizeof(msg), http, HTTP_CONFLICT, TKM_ERR_INPUT,
			"application %lld is %s: licences are set once per "
			"request (the city makes a new request for new "
			"licences)",
			(long long)L->app, st);
		kdb_rows_free(r);
		return rc;
	}
	rc = tkm_maint_request_parse(
	    kdb_text(r, 2), strlen(kdb_text(r, 2)), q, &pwhy);
	kdb_rows_free(r);
	if (rc != TKM_OK)
		return refuse(msg, sizeof(msg), http, 0, TKM_ERR_INTERNAL,
		    "application %lld: its stored request does not parse: "
		    "%s",
		    (long long)L->app, pwhy);
	return TKM_OK;
}

/* The licences: parsed, none over at now, and the update they make fits
 * what EW signs. */
static int
lic_licences(
    struct lic *L, const struct tkm_maint_request *q, int64_t now, int *http)
{
	struct tkm_maint_update *u = &L->u;
	char *file = NULL, key[5];
	const char *pwhy;
	size_t line = 0, len, i;
	int rc;

	memcpy(u->serial, q->serial, sizeof(u->serial));
	memcpy(u->nonce, q->nonce, sizeof(u->nonce));
	u->enforce = L->enforce;
	u->time = now;
	if (tkm_maint_licfile_parse(L->licences, strlen(L->licences), u->lic,
		TKM_MAINT_MAX_LIC, &u->nlic, &line, &pwhy) != TKM_OK)
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "licences, line %zu: %s", line, pwhy);
	for (i = 0; i < u->nlic; i++)
		if (u->lic[i].until < now) {
			tkm_maint_key_format(&u->lic[i], key);
			return refuse(msg, sizeof(msg), http, HTTP_BAD,
			    TKM_ERR_INPUT,
			    "licences: the licence %s %s %s ends in the "
			    "past",
			    u->lic[i].cmd, key,
			    tkm_maint_lib_name(u->lic[i].lib));
		}
	if (L->seq == 0 && q->last_seq >= (uint64_t)INT64_MAX)
		return refuse(msg, sizeof(msg), http, HTTP_CONFLICT,
		    TKM_ERR_INPUT,
		    "seq: the request's last_seq is the largest");
	if (L->seq == 0)
		L->seq = (int64_t)q->last_seq + 1;
	if ((uint64_t)L->seq <= q->last_seq)
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "seq %lld is not above the request's last_seq %llu: the "
		    "city HSM would refuse the update",
		    (long long)L->seq, (unsigned long long)q->last_seq);
	u->seq = (uint64_t)L->seq;
	if ((file = malloc(TKM_MAINT_FILE_MAX + 1)) == NULL)
		return refuse(
		    msg, sizeof(msg), http, 0, TKM_ERR_NOMEM, "out of memory");
	rc = tkm_maint_update_write(
	    u, file, TKM_MAINT_FILE_MAX + 1, &len, &pwhy);
	free(file);
	if (rc != TKM_OK)
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "licences: the update cannot be made: %s", pwhy);
	return TKM_OK;
}

/* The root HSM that signs: the one named (a root, active), else the only
 * active root. */
static int
lic_root(struct kdb *db, struct lic *L, int *http)
{
	struct kdb_rows *r = NULL;
	char role[24] = "", state[16] = "";
	int64_t ids[2] = {0, 0};
	int n = 0, rc;

	if (L->hsm != 0)
		rc = kdb_query(db, &r,
		    "SELECT id, name, role, state FROM hsms WHERE id = $1",
		    KDB_INT(L->hsm));
	else
		rc = kdb_query(db, &r,
		    "SELECT id, name, role, state FROM hsms WHERE role ="
		    " 'root' AND state = 'active' ORDER BY id");
	if (rc != TKM_OK)
		return db_error(db, msg, sizeof(msg), http, rc);
	while ((rc = kdb_next(r)) == 1) {
		if (n < 2)
			ids[n] = kdb_int(r, 0);
		if (n++ == 0) {
			snprintf(
			    L->root, sizeof(L->root), "%s", kdb_text(r, 1));
			snprintf(role, sizeof(role), "%s", kdb_text(r, 2));
			snprintf(state, sizeof(state), "%s", kdb_text(r, 3));
		}
	}
	kdb_rows_free(r);
	if (rc < 0)
		return db_error(db, msg, sizeof(msg), http, rc);
	if (n == 0 && L->hsm != 0)
		return refuse(msg, sizeof(msg), http, HTTP_NOT_FOUND,
		    TKM_ERR_NO_KEY, "no HSM %lld", (long long)L->hsm);
	if (n == 0)
		return refuse(msg, sizeof(msg), http, HTTP_CONFLICT,
		    TKM_ERR_NO_KEY,
		    "no active root HSM in the KMS: add it (hsm.add) or name "
		    "one with \"hsm\"");
	if (n > 1)
		return refuse(msg, sizeof(msg), http, HTTP_BAD, TKM_ERR_INPUT,
		    "%d active root HSMs (%lld, %lld, ...): name the one that "
		    "holds the maintenance key pair with \"hsm\"",
		    n, (long long)ids[0], (long long)ids[1]);
	if (strcmp(role, "root") != 0 || strcmp(state, "active") != 0)
		return refuse(msg, sizeof(msg), http, HTTP_CONFLICT,
		    TKM_ERR_INPUT,
		    "HSM %lld ('%s') is not an active root HSM (role %s, "
		    "%s): the maintenance key pair is in the root HSM",
		    (long long)ids[0], L->root, role, state);
	L->hsm = ids[0];
	return TKM_OK;
}

/* An open maint.licence proposal for the application (other than none:
 * prepare runs before the new one exists). */
static int
lic_open(struct kdb *db, struct lic *L, int64_t now, int *http)
{
	struct pending *v = NULL;
	int64_t other;
	size_t n;
	int rc;

	if ((rc = pending_load(db, now, &v, &n)) != TKM_OK)
		return db_error(db, msg, sizeof(msg), http, rc);
	other = pending_for(v, n, L->app);
	free(v);
	if (other != 0)
		return refuse(msg, sizeof(msg), http, HTTP_CONFLICT,
		    TKM_ERR_INPUT,
		    "proposal %lld for application %lld is still open: "
		    "approve, reject or withdraw it first",
		    (long long)other, (long long)L->app);
	return TKM_OK;
}

/* Everything a maint.licence payload must satisfy at time now. */
static int
lic_check(
    struct kdb *db, int64_t now, json_t *p, int as, struct lic *L, int *http)
{
	struct tkm_maint_request *q;
	const char *serial;
	int rc;

	memset(L, 0, sizeof(*L));
	*http = 0;
	msg[0] = '\0';
	if ((rc = lic_fields(p, as, L, http)) != TKM_OK)
		return rc;
	if ((q = malloc(sizeof(*q))) == NULL)
		return refuse(
		    msg, sizeof(msg), http, 0, TKM_ERR_NOMEM, "out of memory");
	if ((rc = lic_app(db, L, q, http)) != TKM_OK)
		goto out;
	serial = json_string_value(json_object_get(p, "serial"));
	if (as == AS_STORED &&
	    (serial == NULL || strcmp(serial, q->serial) != 0)) {
		rc =
		    refuse(msg, sizeof(msg), http, HTTP_CONFLICT, TKM_ERR_INPUT,
			"application %lld is no longer the request of HSM %s",
			(long long)L->app, serial != NULL ? serial : "?");
		goto out;
	}
	if ((rc = lic_licences(L, q, now, http)) != TKM_OK ||
	    (rc = lic_root(db, L, http)) != TKM_OK)
		goto out;
	if (as == AS_PROPOSED)
		rc = lic_open(db, L, now, http);
out:
	free(q);
	return rc;
}

static int
licence_prepare(
    struct kdb *db, json_t *p, json_t **stored, const char **why, int *http)
{
	struct lic *L;
	int rc;

	*why = msg;
	if ((L = malloc(sizeof(*L))) == NULL)
		return refuse(
		    msg, sizeof(msg), http, 0, TKM_ERR_NOMEM, "out of memory");
	rc = lic_check(db, (int64_t)time(NULL), p, AS_PROPOSED, L, http);
	if (rc == TKM_OK) {
		*stored = json_pack("{s:I, s:s, s:s, s:I, s:b, s:I, s:I, s:I}",
		    "app", (json_int_t)L->app, "serial", L->u.serial,
		    "licences", L->licences, "count", (json_int_t)L->u.nlic,
		    "enforce", L->enforce, "seq", (json_int_t)L->seq, "hsm",
		    (json_int_t)L->hsm, "key_index", (json_int_t)L->key_index);
		if (*stored == NULL)
			rc = refuse(msg, sizeof(msg), http, 0, TKM_ERR_NOMEM,
			    "out of memory");
	}
	free(L);
	return rc;
}

/* In the approval's transaction: still imported, licences not over, the
 * root HSM still there; the application changes only when execute claims
 * it (apply does not know the proposal's id). */
static int
licence_apply(struct kdb *db, int64_t now, json_t *s, json_t **result,
    const char **why, int *http)
{
	struct lic *L;
	int rc;

	*result = NULL;
	*why = msg;
	if ((L = malloc(sizeof(*L))) == NULL)
		return refuse(
		    msg, sizeof(msg), http, 0, TKM_ERR_NOMEM, "out of memory");
	rc = lic_check(db, now, s, AS_STORED, L, http);
	free(L);
	return rc;
}

/* --- execution ------------------------------------------------------- */

/*
 * The columns a claim sets, as they were before it: a failed execution
 * puts them back exactly (the `changed` time too), so that an attempt
 * that did not happen leaves no trace on the application. An application
 * can be `licensed` by a proposal that failed (state_read: imported
 * again), with that proposal's columns: those are what come back.
 */
struct app_was {
	char state[16];
	int64_t changed;
	int64_t num[5]; /* proposal_id, seq, enforce, root_hsm_id, key_index */
	int null[5];
	char *text[3]; /* licences, mkey, update_file; NULL: SQL NULL */
};

#define WAS_COLS                                                               \
	"state, changed, proposal_id, seq, enforce, root_hsm_id, key_index,"   \
	" licences, mkey, update_file"

static void
was_free(struct app_was *w)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		free(w->text[i]);
		w->text[i] = NULL;
	}
}

static struct kdb_val
was_int(const struct app_was *w, size_t i)
{
	return w->null[i] ? KDB_NULL : KDB_INT(w->num[i]);
}

/* The row of application app into w. */
static int
was_read(struct kdb *db, int64_t app, struct app_was *w)
{
	struct kdb_rows *r = NULL;
	const char *t;
	size_t i;
	int rc;

	was_free(w);
	rc = kdb_query(db, &r,
	    "SELECT " WAS_COLS " FROM maint_apps WHERE id = $1", KDB_INT(app));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		rc = TKM_OK;
		snprintf(w->state, sizeof(w->state), "%s",
		    kdb_text(r, 0) != NULL ? kdb_text(r, 0) : "imported");
		w->changed = kdb_int(r, 1);
		for (i = 0; i < 5; i++) {
			w->null[i] = kdb_isnull(r, 2 + (int)i);
			w->num[i] = kdb_int(r, 2 + (int)i);
		}
		for (i = 0; i < 3 && rc == TKM_OK; i++)
			if ((t = kdb_text(r, 7 + (int)i)) != NULL &&
			    (w->text[i] = strdup(t)) == NULL)
				rc = TKM_ERR_NOMEM;
	} else if (rc == 0) {
		rc = TKM_ERR_NO_KEY; /* lic_check found it: gone meanwhile */
	}
	kdb_rows_free(r);
	return rc;
}

struct claim {
	int64_t now, proposal;
	json_t *stored;
	struct lic *L;
	int http;
	struct app_was was;
};

/* imported -> licensed, with the proposal and what it sets; what the row
 * held before into c->was. */
static int
claim_tx(struct kdb *db, void *arg)
{
	struct claim *c = arg;
	int rc;

	if ((rc = lic_check(
		 db, c->now, c->stored, AS_STORED, c->L, &c->http)) != TKM_OK)
		return rc;
	if ((rc = was_read(db, c->L->app, &c->was)) != TKM_OK)
		return rc == TKM_ERR_NOMEM
			   ? refuse(msg, sizeof(msg), &c->http, 0, rc,
				 "out of memory")
			   : db_error(db, msg, sizeof(msg), &c->http, rc);
	if ((rc = kdb_exec(db,
		 "UPDATE maint_apps SET state = 'licensed', proposal_id = $1,"
		 " licences = $2, seq = $3, enforce = $4, root_hsm_id = $5,"
		 " key_index = $6, mkey = NULL, update_file = NULL,"
		 " changed = $7 WHERE id = $8",
		 KDB_INT(c->proposal), KDB_TEXT(c->L->licences),
		 KDB_INT(c->L->seq), KDB_INT(c->L->enforce), KDB_INT(c->L->hsm),
		 KDB_INT(c->L->key_index), KDB_INT(c->now),
		 KDB_INT(c->L->app))) != TKM_OK)
		return db_error(db, msg, sizeof(msg), &c->http, rc);
	return TKM_OK;
}

struct store {
	int64_t now, proposal, app;
	const char *file, *mkey;   /* file NULL: back to as it was */
	const struct app_was *was; /* the row before the claim */
};

static int
store_tx(struct kdb *db, void *arg)
{
	struct store *s = arg;
	const struct app_was *w = s->was;

	if (s->file == NULL)
		return kdb_exec(db,
		    "UPDATE maint_apps SET state = $1, changed = $2,"
		    " proposal_id = $3, seq = $4, enforce = $5,"
		    " root_hsm_id = $6, key_index = $7, licences = $8,"
		    " mkey = $9, update_file = $10"
		    " WHERE id = $11 AND proposal_id = $12 AND state ="
		    " 'licensed'",
		    KDB_TEXT(w->state), KDB_INT(w->changed), was_int(w, 0),
		    was_int(w, 1), was_int(w, 2), was_int(w, 3), was_int(w, 4),
		    KDB_TEXT(w->text[0]), KDB_TEXT(w->text[1]),
		    KDB_TEXT(w->text[2]), KDB_INT(s->app),
		    KDB_INT(s->proposal));
	return kdb_exec(db,
	    "UPDATE maint_apps SET state = 'signed', update_file = $1,"
	    " mkey = $2, changed = $3 WHERE id = $4 AND proposal_id = $5"
	    " AND state = 'licensed'",
	    KDB_TEXT(s->file), KDB_TEXT(s->mkey), KDB_INT(s->now),
	    KDB_INT(s->app), KDB_INT(s->proposal));
}

/* The update built from L and signed at its root HSM into file (cap
 * bytes): *len bytes, mkey the signing key's fingerprint. */
static int
sign_update(struct kdb *db, struct lic *L, char *file, size_t cap, size_t *len,
    char mkey[TKM_MAINT_FP_HEX + 1])
{
	uint8_t pub[TKM_SM2_PUB_LEN];
	struct kms_link l;
	struct kms_hsm h;
	char why[KMS_WHY];
	const char *pwhy;
	int rc;

	if (tkm_maint_update_write(&L->u, file, cap, len, &pwhy) != TKM_OK) {
		kms_say(
		    msg, sizeof(msg), "the update cannot be made: %s", pwhy);
		return TKM_ERR_INPUT;
	}
	if ((rc = kms_fleet_get(db, L->hsm, &h, why, sizeof(why))) != TKM_OK) {
		kms_say(msg, sizeof(msg), "%s", why);
		return rc;
	}
	if ((rc = kms_link_open(&l, &h, 0)) != TKM_OK) {
		kms_say(msg, sizeof(msg), "root HSM '%s': bad address %s:%u",
		    h.name, h.host, h.port);
		return rc;
	}
	if ((rc = kms_link_verify(&l, why, sizeof(why))) == TKM_OK &&
	    (rc = tkm_maint_root_pub(
		 l.c, L->key_index, pub, why, sizeof(why))) == TKM_OK) {
		tkm_maint_fingerprint(pub, mkey);
		rc = tkm_maint_root_sign(
		    l.c, L->key_index, pub, file, cap, len, why, sizeof(why));
	}
	kms_link_close(&l);
	if (rc == TKM_OK)
		return TKM_OK;
	if (kms_err_unreachable(rc)) {
		kms_say(msg, sizeof(msg),
		    "root HSM '%s' at %s:%u is unreachable: %s", h.name, h.host,
		    h.port, why);
		/* api.c answers TKM_ERR_IO as a database error. */
		return TKM_ERR_CLOSED;
	}
	kms_say(msg, sizeof(msg), "root HSM '%s' at %s:%u: %s", h.name, h.host,
	    h.port, why);
	return rc == TKM_ERR_IO ? TKM_ERR_CLOSED : rc;
}

static int
licence_execute(struct kdb *db, int64_t now, int64_t id, json_t *stored,
    json_t **result, const char **why)
{
	struct claim c = {now, id, stored, NULL, 0, {"", 0, {0}, {0}, {0}}};
	struct store s = {now, id, 0, NULL, NULL, &c.was};
	char mkey[TKM_MAINT_FP_HEX + 1] = "", *file = NULL;
	size_t len = 0;
	int rc;

	*result = NULL;
	*why = msg;
	msg[0] = '\0';
	if ((c.L = malloc(sizeof(*c.L))) == NULL ||
	    (file = malloc(TKM_MAINT_FILE_MAX + 1)) == NULL) {
		rc = TKM_ERR_NOMEM;
		kms_say(msg, sizeof(msg), "out of memory");
		goto out;
	}
	/* Claimed, or nothing changed (the message says why). */
	if ((rc = kdb_tx(db, claim_tx, &c)) != TKM_OK) {
		if (msg[0] == '\0')
			kms_say(
			    msg, sizeof(msg), "database: %s", kdb_errmsg(db));
		rc = rc == TKM_ERR_IO ? TKM_ERR_INTERNAL : rc;
		goto out;
	}
	s.app = c.L->app;
	rc = sign_update(db, c.L, file, TKM_MAINT_FILE_MAX + 1, &len, mkey);
	if (rc == TKM_OK) {
		s.file = file;
		s.mkey = mkey;
		if ((rc = kdb_tx(db, store_tx, &s)) != TKM_OK) {
			kms_say(msg, sizeof(msg),
			    "signed, but the update could not be stored: %s",
			    kdb_errmsg(db));
			rc = TKM_ERR_INTERNAL;
		}
	}
	if (rc != TKM_OK) {
		/* As it was, so usable again; a failure here is read as
		 * imported anyway (state_read), the proposal being failed. */
		s.file = NULL;
		if (kdb_tx(db, store_tx, &s) != TKM_OK)
			kms_log("maint.licence %lld: application %lld not put "
				"back to imported: %s",
			    (long long)id, (long long)s.app, kdb_errmsg(db));
		goto out;
	}
	*result = json_pack("{s:I, s:s, s:I, s:I, s:b, s:I, s:s, s:I, s:s}",
	    "app", (json_int_t)c.L->app, "serial", c.L->u.serial, "seq",
	    (json_int_t)c.L->seq, "licences", (json_int_t)c.L->u.nlic,
	    "enforce", c.L->enforce, "hsm", (json_int_t)c.L->hsm, "root_hsm",
	    c.L->root, "key_index", (json_int_t)c.L->key_index, "mkey", mkey);
	if (*result == NULL) {
		rc = TKM_ERR_NOMEM;
		kms_say(msg, sizeof(msg), "signed and stored; out of memory");
	}
out:
	if (rc != TKM_OK && c.L != NULL)
		*result = json_pack("{s:I, s:s}", "app",
		    (json_int_t)(c.L->app != 0
				     ? c.L->app
				     : json_integer_value(
					   json_object_get(stored, "app"))),
		    "error", msg);
	free(file);
	free(c.L);
	was_free(&c.was);
	return rc;
}

const struct kms_kind kms_maint_kind_licence = {
    "maint.licence",
    KMS_ROLE_KEY_MANAGER,
    licence_prepare,
    licence_apply,
    licence_execute,
    NULL,
};
