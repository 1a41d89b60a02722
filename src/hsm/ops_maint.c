/*
 * ops_maint.c - maintenance licences on the management plane (DESIGN §7,
 * spec 配置加密机维保信息 and 加密机维保信息更新; docs/maintenance.md):
 *
 *   maint.request  (C)       the request file: this HSM's serial, identity
 *                            public key, a fresh nonce (kept: the update
 *                            must answer it), its licence counters and the
 *                            application form, signed by the identity key;
 *   maint.apply    (C)       an update file signed with the maintenance
 *                            private key: checked (signature, serial,
 *                            nonce, sequence, dates), then the licences
 *                            replaced in one transaction;
 *   maint.show     (B or C)  the licences and counters (step 5: the
 *                            system admin confirms the update).
 *
 * The file formats are libtkm's (tkm/maint.h); the licence store is
 * licence.h, opened per operation (the management thread has no
 * connection of its own, and these operations are rare).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "audit.h"
#include "ident.h"
#include "keystore.h"
#include "licence.h"
#include "ops.h"
#include "server.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/maint.h"
#include "tkm/mem.h"

/* The file formats name libraries with the HSM's numbers. */
_Static_assert((int)TKM_MAINT_DES == (int)HSM_LIB_DES &&
		   (int)TKM_MAINT_SM4 == (int)HSM_LIB_SM4 &&
		   (int)TKM_MAINT_RSA == (int)HSM_LIB_RSA &&
		   (int)TKM_MAINT_SM2 == (int)HSM_LIB_SM2,
    "enum tkm_maint_lib must follow enum hsm_lib");
_Static_assert(TKM_MAINT_MAX_LIC <= HSM_LIC_MAX, "an update must fit");
_Static_assert(TKM_MAINT_SERIAL_MAX == HSM_SERIAL_MAX, "serials");

/* HSM time (time.set moves it), which licences and updates follow. */
static int64_t
hsm_now(const struct hsm_state *st)
{
	return (int64_t)time(NULL) + (int64_t)atomic_load(&st->time_offset);
}

static void
set_time(json_t *o, const char *name, int64_t t)
{
	char s[TKM_MAINT_TIME_LEN + 1];

	if (t == 0) {
		json_object_set_new(o, name, json_null());
		return;
	}
	tkm_maint_time_format(t, s);
	json_object_set_new(o, name, json_string(s));
}

static void
set_hex(json_t *o, const char *name, const uint8_t *p, size_t n)
{
	char hex[2 * TKM_SM2_PUB_LEN + 1];

	if (2 * n >= sizeof(hex))
		return;
	tkm_hex_encode(p, n, hex);
	json_object_set_new(o, name, json_string(hex));
}

/* Common preconditions: unsealed (the row says so too) with admin.db. */
static int
ready(struct hsm_op_ctx *c, struct hsm_dk **dk, const char **why)
{
	if ((*dk = atomic_load(&c->st->dk)) == NULL)
		return TKM_ERR_SEALED;
	if (c->admin == NULL) {
		*why = "no admin database";
		return TKM_ERR_INTERNAL;
	}
	return TKM_OK;
}

static int
lic_open(struct hsm_op_ctx *c, struct hsm_lic **l, const char **why)
{
	int rc;

	if ((rc = hsm_lic_open(c->st->dir, l)) != TKM_OK)
		*why = "cannot open the licence store (licences.db)";
	return rc;
}

/* --- licences in, licences out ---------------------------------------- */

struct lic_list {
	struct hsm_licence *v;
	size_t n, cap;
};

static int
collect(void *arg, const struct hsm_licence *lic)
{
	struct lic_list *ll = arg;

	if (ll->n == ll->cap)
		return TKM_ERR_SPACE;
	ll->v[ll->n++] = *lic;
	return TKM_OK;
}

/* Every licence into a new array (*ll, caller frees ll->v). */
static int
lic_all(struct hsm_lic *l, struct lic_list *ll, const char **why)
{
	int rc;

	ll->n = 0;
	ll->cap = HSM_LIC_MAX;
	if ((ll->v = calloc(ll->cap, sizeof(*ll->v))) == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = hsm_lic_list(l, collect, ll)) != TKM_OK)
		*why = "cannot read the licences";
	return rc;
}

static void
to_maint(const struct hsm_licence *h, struct tkm_maint_lic *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->cmd, h->cmd, 2);
	m->lib = h->lib;
	m->index = h->index;
	m->count = h->remaining;
	m->used = h->used;
	m->until = h->until;
}

static void
to_hsm(const struct tkm_maint_lic *m, struct hsm_licence *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->cmd, m->cmd, 2);
	h->lib = m->lib;
	h->index = m->index;
	h->remaining = m->count;
	h->until = m->until;
}

/* {cmd, key, lib, remaining, used, until, until_date, expired} */
static json_t *
lic_json(const struct hsm_licence *h, int64_t now)
{
	struct tkm_maint_lic m;
	char key[5], date[TKM_MAINT_DATE_LEN + 1];
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	to_maint(h, &m);
	tkm_maint_key_format(&m, key);
	tkm_maint_date_format(h->until, date);
	json_object_set_new(o, "cmd", json_stringn(h->cmd, 2));
	json_object_set_new(o, "key", json_string(key));
	json_object_set_new(o, "lib", json_string(tkm_maint_lib_name(h->lib)));
	json_object_set_new(o, "remaining", json_integer(h->remaining));
	json_object_set_new(o, "used", json_integer(h->used));
	set_time(o, "until", h->until);
	json_object_set_new(o, "until_date", json_string(date));
	json_object_set_new(o, "expired", json_boolean(now > h->until));
	return o;
}

/* result.licences and the state: what maint.show and maint.apply
 * answer. */
static int
state_json(struct hsm_lic *l, int64_t now, json_t *result, const char **why)
{
	static const uint8_t none[TKM_MAINT_NONCE_LEN];
	struct hsm_lic_state st;
	struct lic_list ll = {NULL, 0, 0};
	json_t *a = NULL;
	size_t i;
	int rc;

	if ((rc = hsm_lic_state_get(l, &st)) != TKM_OK) {
		*why = "cannot read the licence state";
		return rc;
	}
	if ((rc = lic_all(l, &ll, why)) != TKM_OK)
		goto out;
	if ((a = json_array()) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < ll.n; i++)
		json_array_append_new(a, lic_json(&ll.v[i], now));
	set_time(result, "time", now);
	json_object_set_new(result, "enforce", json_boolean(st.enforce));
	json_object_set_new(
	    result, "last_seq", json_integer((json_int_t)st.last_seq));
	set_time(result, "last_applied", st.last_applied);
	json_object_set_new(result, "request_pending",
	    json_boolean(!tkm_ct_eq(st.nonce, none, sizeof(none))));
	json_object_set_new(result, "licences", a);
	a = NULL;
out:
	json_decref(a);
	free(ll.v);
	return rc;
}

/* --- maint.request ------------------------------------------------------ */

/* The form from args: every argument a form field (a string; the card
 * counts may be integers), the date this HSM's date when not given. */
static int
form_args(json_t *args, int64_t now, struct tkm_maint_form *f, const char **why)
{
	char num[24];
	const char *k, *s;
	json_t *v;
	int i;

	memset(f, 0, sizeof(*f));
	json_object_foreach(args, k, v)
	{
		if ((i = tkm_maint_field_find(k, strlen(k))) < 0) {
			*why = "unknown argument: the form's fields are "
			       "issuer_code, hsm_number, organisation, "
			       "applicant, date, address, phone, "
			       "cards_this_year, cards_next_year, remarks";
			return TKM_ERR_INPUT;
		}
		if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    (i == TKM_MF_CARDS_THIS_YEAR ||
			i == TKM_MF_CARDS_NEXT_YEAR)) {
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
			s = num;
		} else if ((s = json_string_value(v)) == NULL) {
			*why = "the form's fields are strings";
			return TKM_ERR_INPUT;
		}
		if (tkm_maint_form_set(f, (size_t)i, s, strlen(s), why) !=
		    TKM_OK)
			return TKM_ERR_INPUT;
	}
	if (f->v[TKM_MF_DATE][0] == '\0')
		tkm_maint_date_format(now, f->v[TKM_MF_DATE]);
	return tkm_maint_form_check(f, why);
}

/* The HSM's part of the request: who it is, its counters. */
static int
request_state(struct hsm_lic *l, struct tkm_maint_request *q, const char **why)
{
	struct hsm_lic_state st;
	struct lic_list ll = {NULL, 0, 0};
	size_t i;
	int rc;

	if ((rc = hsm_lic_state_get(l, &st)) != TKM_OK) {
		*why = "cannot read the licence state";
		return rc;
	}
	q->enforce = st.enforce;
	q->last_seq = st.last_seq;
	q->last_applied = st.last_applied;
	if ((rc = lic_all(l, &ll, why)) != TKM_OK)
		goto out;
	if (ll.n > TKM_MAINT_MAX_LIC) {
		*why = "more licences than a request carries (200)";
		rc = TKM_ERR_SPACE;
		goto out;
	}
	for (i = 0; i < ll.n; i++)
		to_maint(&ll.v[i], &q->lic[i]);
	q->nlic = ll.n;
out:
	free(ll.v);
	return rc;
}

int
op_maint_request(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct tkm_maint_request *q = NULL;
	struct hsm_lic *l = NULL;
	struct tkm_sm2 *idk = NULL;
	struct hsm_dk *dk;
	int64_t now = hsm_now(c->st);
	char *file = NULL, fp[17];
	size_t len;
	int rc;

	if ((rc = ready(c, &dk, why)) != TKM_OK)
		return rc;
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (file = malloc(TKM_MAINT_FILE_MAX + 1)) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if ((rc = form_args(args, now, &q->form, why)) != TKM_OK)
		goto out;
	if ((rc = hsm_ident_serial(c->admin, q->serial)) != TKM_OK ||
	    (rc = hsm_ident_key(c->admin, dk, &idk)) != TKM_OK ||
	    (rc = tkm_sm2_pub(idk, q->identity)) != TKM_OK) {
		*why = "cannot read this HSM's serial or identity key "
		       "(admin.db)";
		goto out;
	}
	if ((rc = lic_open(c, &l, why)) != TKM_OK ||
	    (rc = request_state(l, q, why)) != TKM_OK)
		goto out;
	if ((rc = tkm_random(q->nonce, sizeof(q->nonce))) != TKM_OK)
		goto out;
	q->time = now;
	if ((rc = tkm_maint_request_write(
		 q, file, TKM_MAINT_FILE_MAX + 1, &len, why)) != TKM_OK ||
	    (rc = tkm_maint_sign(idk, file, TKM_MAINT_FILE_MAX + 1, &len)) !=
		TKM_OK)
		goto out;
	/* Only the update for this request will do from now on: an older
	 * request's update is refused (it names another nonce). */
	if ((rc = hsm_lic_set_nonce(l, q->nonce)) != TKM_OK) {
		*why = "cannot keep the request's nonce: no request made";
		goto out;
	}
	/* Without its final newline: the console adds one when it writes
	 * the file, and the parser takes either. */
	json_object_set_new(result, "file", json_stringn(file, len - 1));
	json_object_set_new(result, "serial", json_string(q->serial));
	set_hex(result, "nonce", q->nonce, sizeof(q->nonce));
	hsm_pub_fingerprint(q->identity, fp);
	json_object_set_new(result, "identity", json_string(fp));
	json_object_set_new(
	    result, "licences", json_integer((json_int_t)q->nlic));
out:
	hsm_lic_close(l);
	tkm_sm2_free(idk);
	free(file);
	free(q);
	return rc;
}

/* --- maint.apply -------------------------------------------------------- */

/* The update's authenticity and freshness, before anything changes. */
static int
update_check(struct hsm_op_ctx *c, struct hsm_dk *dk, const char *text,
    const struct tkm_maint_update *u, struct hsm_lic *l, int64_t now,
    const char **why)
{
	static const uint8_t none[TKM_MAINT_NONCE_LEN];
	char serial[HSM_SERIAL_MAX + 1];
	uint8_t mpub[TKM_SM2_PUB_LEN];
	struct hsm_lic_state st;
	size_t i;
	int rc;

	rc = hsm_mkey_get(c->admin, dk, mpub);
	if (rc == TKM_ERR_NO_KEY) {
		*why = "no maintenance public key in this HSM: A1, A2 and A3 "
		       "import it first (tkms hsm mkey import)";
		return TKM_ERR_NO_PUBKEY;
	}
	if (rc != TKM_OK) {
		*why = "the stored maintenance public key does not open "
		       "(altered admin.db)";
		return rc;
	}
	if (tkm_maint_verify(text, u->signed_len, mpub, u->sig) != TKM_OK) {
		*why = "the update's signature does not verify with the "
		       "maintenance public key: altered, or signed by "
		       "another key";
		return TKM_ERR_VERIFY;
	}
	if ((rc = hsm_ident_serial(c->admin, serial)) != TKM_OK) {
		*why = "cannot read this HSM's serial (admin.db)";
		return rc;
	}
	if (strcmp(serial, u->serial) != 0) {
		*why = "the update is for another HSM: its serial is not "
		       "this HSM's";
		return TKM_ERR_VERIFY;
	}
	if ((rc = hsm_lic_state_get(l, &st)) != TKM_OK) {
		*why = "cannot read the licence state";
		return rc;
	}
	if (tkm_ct_eq(st.nonce, none, sizeof(none))) {
		*why = "no request is waiting for an update: this update "
		       "was applied already (replayed), or no request was "
		       "made";
		return TKM_ERR_VERIFY;
	}
	if (!tkm_ct_eq(st.nonce, u->nonce, sizeof(st.nonce))) {
		*why = "the update answers another request than the last "
		       "one made here (replayed, or a newer request was "
		       "made since)";
		return TKM_ERR_VERIFY;
	}
	if (u->seq <= st.last_seq) {
		*why = "stale sequence: the update's seq is not above the "
		       "last one applied (maint show: last_seq)";
		return TKM_ERR_VERIFY;
	}
	if (now - u->time > TKM_MAINT_UPDATE_TTL) {
		*why = "the update was made more than 30 days ago (HSM "
		       "time): make a new request";
		return TKM_ERR_LIC_EXPIRED;
	}
	if (u->time - now > TKM_MAINT_SKEW) {
		*why = "the update is dated more than a day after the HSM "
		       "time: check the HSM time (time.get)";
		return TKM_ERR_INPUT;
	}
	for (i = 0; i < u->nlic; i++)
		if (u->lic[i].until < now) {
			*why = "a licence of the update has expired already "
			       "(until before the HSM time)";
			return TKM_ERR_LIC_EXPIRED;
		}
	return TKM_OK;
}

/* The handler's own audit record: the server's keeps 200 bytes of the
 * args, less than an update, and would lose the reason. */
static void
audit_update(struct hsm_op_ctx *c, const char *text, size_t len,
    const struct tkm_maint_update *u, int rc, const char *why)
{
	char actor[64], detail[256], hex[17];
	unsigned roles = c->s != NULL ? c->s->roles : 0, bit;
	size_t n = 0;
	uint8_t h[32];

	if (c->audit == NULL)
		return;
	/* The actor as the server writes it: roles joined by "+". */
	actor[0] = '\0';
	for (bit = 1; bit <= HSM_ROLES_ALL; bit <<= 1)
		if ((roles & bit) != 0 && n + 4 < sizeof(actor))
			n += (size_t)snprintf(actor + n, sizeof(actor) - n,
			    "%s%s", n > 0 ? "+" : "", hsm_role_name(bit));
	if (n == 0)
		snprintf(actor, sizeof(actor), "%s",
		    c->peer != NULL ? c->peer : "-");
	hex[0] = '\0';
	if (tkm_hash(TKM_SM3, text, len, h) == TKM_OK)
		tkm_hex_encode(h, 8, hex);
	snprintf(detail, sizeof(detail),
	    "serial=%s seq=%llu licences=%zu enforce=%d file_sm3=%s%s%s",
	    u->serial, (unsigned long long)u->seq, u->nlic, u->enforce, hex,
	    rc != TKM_OK ? " - " : "", rc != TKM_OK && why != NULL ? why : "");
	if (hsm_audit_append(c->audit, atomic_load(&c->st->dk), actor,
		"maint.update", rc, detail) != TKM_OK)
		hsm_log("audit: cannot record a maintenance update");
}

int
op_maint_apply(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	const char *text = json_string_value(json_object_get(args, "file"));
	struct tkm_maint_update *u = NULL;
	struct hsm_licence *lic = NULL;
	struct hsm_lic *l = NULL;
	struct hsm_dk *dk;
	int64_t now = hsm_now(c->st);
	size_t len = text != NULL ? strlen(text) : 0, i;
	int rc;

	if ((rc = ready(c, &dk, why)) != TKM_OK)
		return rc;
	if (text == NULL) {
		*why = "file: the update file's text is required";
		return TKM_ERR_INPUT;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (lic = calloc(TKM_MAINT_MAX_LIC, sizeof(*lic))) == NULL) {
		rc = TKM_ERR_NOMEM;
		goto out;
	}
	if ((rc = tkm_maint_update_parse(text, len, u, why)) != TKM_OK)
		goto audit;
	if ((rc = lic_open(c, &l, why)) != TKM_OK ||
	    (rc = update_check(c, dk, text, u, l, now, why)) != TKM_OK)
		goto audit;
	for (i = 0; i < u->nlic; i++)
		to_hsm(&u->lic[i], &lic[i]);
	rc =
	    hsm_lic_replace(l, u->nonce, u->seq, u->enforce, lic, u->nlic, now);
	if (rc == TKM_ERR_VERIFY)
		*why = "another request or update came in meanwhile: "
		       "nothing applied";
	else if (rc == TKM_ERR_INPUT || rc == TKM_ERR_INDEX)
		*why = "a licence names a key or command the HSM does not "
		       "count: nothing applied";
	else if (rc != TKM_OK)
		*why = "cannot write the licence store: nothing applied";
	if (rc == TKM_OK) {
		json_object_set_new(result, "serial", json_string(u->serial));
		json_object_set_new(
		    result, "seq", json_integer((json_int_t)u->seq));
		/* Applied and committed: a state that cannot be shown now
		 * does not make it a failure (a retry would be refused as
		 * replayed); `maint show` shows it. */
		if (state_json(l, now, result, why) != TKM_OK)
			hsm_log("maint.apply: applied, but the licences could "
				"not be listed");
		*why = NULL;
	}
audit:
	audit_update(c, text, len, u, rc, rc != TKM_OK ? *why : NULL);
out:
	hsm_lic_close(l);
	free(lic);
	free(u);
	return rc;
}

/* --- maint.show --------------------------------------------------------- */

int
op_maint_show(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	char serial[HSM_SERIAL_MAX + 1];
	struct hsm_lic *l = NULL;
	struct hsm_dk *dk;
	int rc;

	(void)args;
	if ((rc = ready(c, &dk, why)) != TKM_OK)
		return rc;
	if (hsm_ident_serial(c->admin, serial) == TKM_OK)
		json_object_set_new(result, "serial", json_string(serial));
	if ((rc = lic_open(c, &l, why)) == TKM_OK)
		rc = state_json(l, hsm_now(c->st), result, why);
	hsm_lic_close(l);
	return rc;
}
