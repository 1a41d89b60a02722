/*
 * test_ops_maint.c - maint.request, maint.apply and maint.show
 * (ops_maint.c) through the op handlers with a session holding the role
 * (the op table's role check is test_mgmt.c's): the request is signed by
 * the HSM's identity key and carries its serial, nonce and counters; an
 * update signed with the maintenance key replaces the licences; every
 * refusal (no maintenance key, bad signature, altered, wrong serial,
 * replayed, another request's, stale sequence, too old, dated ahead,
 * expired licence, malformed) changes nothing, and the right update
 * still applies after it.
 */
#include "hsmtest.h"

#include "admin.h"
#include "audit.h"
#include "ident.h"
#include "licence.h"
#include "mgmt.h"
#include "ops.h"
#include "tkm/maint.h"

#define DAY 86400
#define FORM                                                                          \
	"\"issuer_code\": \"02885820\", \"hsm_number\": \"SG-01\", "                  \
	"\"organisation\": \"韶关市交通一卡通有限公司\", \"applicant\": " \
	"\"张三\""

struct fx {
	struct hsmtest *t;
	struct hsm_admin *admin;
	struct hsm_audit *audit;
	struct hsm_session s;
	struct hsm_op_ctx c;
	struct tkm_sm2 *mkey; /* the maintenance key pair (root HSM's) */
	char serial[HSM_SERIAL_MAX + 1];
};

static int
setup_common(void **state, int with_mkey)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t pub[TKM_SM2_PUB_LEN];

	assert_non_null(f);
	f->t = hsmtest_new(1);
	assert_int_equal(hsm_admin_open(f->t->dir, &f->admin), TKM_OK);
	assert_int_equal(hsm_audit_open(f->t->dir, &f->audit), TKM_OK);
	f->c.st = &f->t->st;
	f->c.admin = f->admin;
	f->c.audit = f->audit;
	f->c.s = &f->s;
	f->c.peer = "127.0.0.1:4242";
	f->s.roles = HSM_ROLE_C;
	assert_int_equal(tkm_sm2_generate(&f->mkey), TKM_OK);
	if (with_mkey) {
		assert_int_equal(tkm_sm2_pub(f->mkey, pub), TKM_OK);
		assert_int_equal(
		    hsm_mkey_set(f->admin, f->t->st.dk, pub), TKM_OK);
	}
	assert_int_equal(hsm_ident_serial(f->admin, f->serial), TKM_OK);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_common(state, 1);
}

static int
setup_no_mkey(void **state)
{
	return setup_common(state, 0);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	tkm_sm2_free(f->mkey);
	hsm_audit_close(f->audit);
	hsm_admin_close(f->admin);
	hsmtest_free(f->t);
	free(f);
	return 0;
}

/* Run op with args given as JSON text; rc, and the result in *out (caller
 * decrefs) or the reason in *why. */
static int
run(struct fx *f, hsm_op_fn *fn, const char *args, json_t **out,
    const char **why)
{
	json_error_t e;
	json_t *a = json_loads(args, 0, &e), *r = json_object();
	const char *w = NULL;
	int rc;

	if (a == NULL)
		fail_msg("bad JSON in the test: %s", e.text);
	assert_non_null(r);
	rc = fn(&f->c, a, r, &w);
	json_decref(a);
	if (why != NULL)
		*why = w;
	if (out != NULL)
		*out = r;
	else
		json_decref(r);
	return rc;
}

static int64_t
now(struct fx *f)
{
	return (int64_t)time(NULL) + atomic_load(&f->t->st.time_offset);
}

/* maint.request with args; the parsed request (heap) and its text. */
static struct tkm_maint_request *
request(struct fx *f, const char *args, char **text)
{
	struct tkm_maint_request *q = calloc(1, sizeof(*q));
	const char *why, *file;
	json_t *r;

	assert_non_null(q);
	if (run(f, op_maint_request, args, &r, &why) != TKM_OK)
		fail_msg("maint.request: %s", why);
	file = json_string_value(json_object_get(r, "file"));
	assert_non_null(file);
	if (tkm_maint_request_parse(file, strlen(file), q, &why) != TKM_OK)
		fail_msg("request does not parse: %s\n%s", why, file);
	assert_string_equal(
	    json_string_value(json_object_get(r, "serial")), f->serial);
	if (text != NULL)
		assert_non_null(*text = strdup(file));
	json_decref(r);
	return q;
}

static struct tkm_maint_lic
lic(const char *cmd, int lib, unsigned index, uint32_t count, int64_t until)
{
	struct tkm_maint_lic l;

	memset(&l, 0, sizeof(l));
	memcpy(l.cmd, cmd, 2);
	l.lib = lib;
	l.index = index;
	l.count = count;
	l.until = until;
	return l;
}

/* An update for q: seq, dated t, the two licences below (or none), signed
 * with key; a malloc'ed text. */
static char *
update(struct fx *f, const struct tkm_maint_request *q, uint64_t seq, int64_t t,
    int64_t until, struct tkm_sm2 *key)
{
	struct tkm_maint_update *u = calloc(1, sizeof(*u));
	char *text = malloc(TKM_MAINT_FILE_MAX);
	const char *why;
	size_t len;

	assert_non_null(u);
	assert_non_null(text);
	memcpy(u->serial, q->serial, sizeof(u->serial));
	memcpy(u->nonce, q->nonce, sizeof(u->nonce));
	u->seq = seq;
	u->time = t;
	u->enforce = 1;
	u->lic[0] = lic("UB", TKM_MAINT_DES, 0x2A0, 3, until);
	u->lic[1] = lic("EH", TKM_MAINT_SM2, 5, 7, until);
	u->nlic = 2;
	if (tkm_maint_update_write(u, text, TKM_MAINT_FILE_MAX, &len, &why) !=
	    TKM_OK)
		fail_msg("update: %s", why);
	assert_int_equal(tkm_maint_sign(key != NULL ? key : f->mkey, text,
			     TKM_MAINT_FILE_MAX, &len),
	    TKM_OK);
	free(u);
	(void)f;
	return text;
}

static int
apply(struct fx *f, const char *text, json_t **out, const char **why)
{
	json_t *a = json_pack("{s:s}", "file", text), *r = json_object();
	const char *w = NULL;
	int rc;

	assert_non_null(a);
	assert_non_null(r);
	rc = op_maint_apply(&f->c, a, r, &w);
	json_decref(a);
	*why = w;
	if (out != NULL)
		*out = r;
	else
		json_decref(r);
	return rc;
}

static json_t *
show(struct fx *f)
{
	const char *why;
	json_t *r;

	if (run(f, op_maint_show, "{}", &r, &why) != TKM_OK)
		fail_msg("maint.show: %s", why);
	return r;
}

static json_int_t
show_int(struct fx *f, const char *name)
{
	json_t *r = show(f);
	json_int_t v = json_integer_value(json_object_get(r, name));

	json_decref(r);
	return v;
}

/* A refusal: rc, a message containing part, nothing changed. */
static void
refused(struct fx *f, const char *text, int rc, const char *part)
{
	json_t *before = show(f), *after;
	const char *why = NULL;
	int got = apply(f, text, NULL, &why);

	if (got != rc || why == NULL || strstr(why, part) == NULL)
		fail_msg("want %d \"%s\", got %d \"%s\"", rc, part, got,
		    why != NULL ? why : "(none)");
	after = show(f);
	json_object_del(before, "time");
	json_object_del(after, "time");
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
}

/* --- maint.request ------------------------------------------------------ */

static void
test_request(void **state)
{
	struct fx *f = *state;
	struct tkm_maint_request *q;
	struct hsm_lic_state st;
	struct hsm_lic *l = NULL;
	uint8_t pub[TKM_SM2_PUB_LEN];
	char today[TKM_MAINT_DATE_LEN + 1], *text;
	json_t *r;

	q = request(f,
	    "{" FORM ", \"cards_this_year\": 120000, \"cards_next_year\": "
	    "\"150000\", \"remarks\": \"续期\"}",
	    &text);
	/* Signed by this HSM's identity key, which it names. */
	assert_int_equal(hsm_ident_pub(f->admin, f->t->st.dk, pub), TKM_OK);
	assert_memory_equal(q->identity, pub, sizeof(pub));
	assert_int_equal(
	    tkm_maint_verify(text, q->signed_len, pub, q->sig), TKM_OK);
	assert_string_equal(q->serial, f->serial);
	assert_int_equal(q->last_seq, 0);
	assert_int_equal(q->last_applied, 0);
	assert_int_equal(q->nlic, 0);
	assert_true(q->time >= now(f) - 5 && q->time <= now(f));
	assert_string_equal(q->form.v[TKM_MF_ISSUER_CODE], "02885820");
	assert_string_equal(q->form.v[TKM_MF_APPLICANT], "张三");
	assert_string_equal(q->form.v[TKM_MF_CARDS_THIS_YEAR], "120000");
	assert_string_equal(q->form.v[TKM_MF_CARDS_NEXT_YEAR], "150000");
	assert_string_equal(q->form.v[TKM_MF_REMARKS], "续期");
	/* The date defaults to the HSM's (UTC+8). */
	tkm_maint_date_format(now(f), today);
	assert_string_equal(q->form.v[TKM_MF_DATE], today);
	/* The nonce is kept for the update. */
	assert_int_equal(hsm_lic_open(f->t->dir, &l), TKM_OK);
	assert_int_equal(hsm_lic_state_get(l, &st), TKM_OK);
	assert_memory_equal(st.nonce, q->nonce, sizeof(st.nonce));
	hsm_lic_close(l);
	r = show(f);
	assert_true(json_is_true(json_object_get(r, "request_pending")));
	assert_int_equal(json_integer_value(json_object_get(r, "last_seq")), 0);
	assert_true(json_is_null(json_object_get(r, "last_applied")));
	assert_string_equal(
	    json_string_value(json_object_get(r, "serial")), f->serial);
	json_decref(r);
	free(text);
	free(q);
}

static void
test_request_refused(void **state)
{
	static const struct {
		const char *args, *why;
	} bad[] = {
	    {"{}", "issuer_code"},
	    {"{\"issuer_code\": \"02885820\", \"hsm_number\": \"SG-01\", "
	     "\"organisation\": \"x\"}",
		"applicant"},
	    {"{" FORM ", \"issuer\": \"x\"}", "unknown argument"},
	    {"{" FORM ", \"remarks\": 5}", "strings"},
	    {"{" FORM ", \"cards_this_year\": -1}", "strings"},
	    {"{" FORM ", \"cards_this_year\": \"1,000\"}", "cards_this_year"},
	    {"{" FORM ", \"date\": \"2025-02-30\"}", "date"},
	    {"{" FORM ", \"remarks\": \"a\\nb\"}", "remarks"},
	    {"{\"issuer_code\": \"2885820\", \"hsm_number\": \"SG-01\", "
	     "\"organisation\": \"x\", \"applicant\": \"y\"}",
		"issuer_code"},
	};
	struct fx *f = *state;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(
		    run(f, op_maint_request, bad[i].args, NULL, &why),
		    TKM_ERR_INPUT);
		if (why == NULL || strstr(why, bad[i].why) == NULL)
			fail_msg("%s: %s", bad[i].args, why);
	}
	/* Nothing was asked: no request pending. */
	{
		json_t *r = show(f);

		assert_true(
		    json_is_false(json_object_get(r, "request_pending")));
		json_decref(r);
	}
	/* Sealed. */
	{
		struct hsm_dk *dk = atomic_exchange(&f->t->st.dk, NULL);

		assert_int_equal(
		    run(f, op_maint_request, "{" FORM "}", NULL, &why),
		    TKM_ERR_SEALED);
		assert_int_equal(
		    run(f, op_maint_show, "{}", NULL, &why), TKM_ERR_SEALED);
		atomic_store(&f->t->st.dk, dk);
	}
}

/* --- the cycle ---------------------------------------------------------- */

static int
audit_has(void *arg, const struct hsm_audit_rec *r)
{
	const char **want = arg;

	if (strcmp(r->op, "maint.update") == 0 &&
	    strstr(r->detail, want[0]) != NULL &&
	    (r->result == TKM_OK) == (want[1] == NULL))
		want[2] = "found";
	return TKM_OK;
}

static void
expect_audit(struct fx *f, const char *detail, int ok)
{
	const char *want[3] = {detail, ok ? NULL : "refused", NULL};

	assert_int_equal(
	    hsm_audit_list(f->audit, 1, 10000, audit_has, want), TKM_OK);
	if (want[2] == NULL)
		fail_msg("no maint.update record with \"%s\"", detail);
}

static void
test_cycle(void **state)
{
	struct fx *f = *state;
	struct tkm_maint_request *q, *q2;
	struct hsm_lic *l = NULL;
	int64_t until = now(f) + 365 * DAY;
	char *u, key[5];
	const char *why;
	json_t *r, *a, *x;
	int i;

	q = request(f, "{" FORM "}", NULL);
	u = update(f, q, 1, now(f), until, NULL);
	if (apply(f, u, &r, &why) != TKM_OK)
		fail_msg("maint.apply: %s", why);
	assert_int_equal(json_integer_value(json_object_get(r, "seq")), 1);
	assert_true(json_is_true(json_object_get(r, "enforce")));
	a = json_object_get(r, "licences");
	assert_int_equal(json_array_size(a), 2);
	/* In (lib, index, cmd) order: DES before SM2. */
	x = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(x, "cmd")), "UB");
	assert_string_equal(
	    json_string_value(json_object_get(x, "key")), "K2A0");
	assert_string_equal(
	    json_string_value(json_object_get(x, "lib")), "des");
	assert_int_equal(
	    json_integer_value(json_object_get(x, "remaining")), 3);
	assert_int_equal(json_integer_value(json_object_get(x, "used")), 0);
	assert_true(json_is_false(json_object_get(x, "expired")));
	x = json_array_get(a, 1);
	assert_string_equal(json_string_value(json_object_get(x, "key")), "05");
	assert_true(json_is_false(json_object_get(r, "request_pending")));
	assert_non_null(json_string_value(json_object_get(r, "last_applied")));
	json_decref(r);
	expect_audit(f, "seq=1 licences=2", 1);

	/* Used twice: the next request says so. */
	assert_int_equal(hsm_lic_open(f->t->dir, &l), TKM_OK);
	for (i = 0; i < 2; i++)
		assert_int_equal(
		    hsm_lic_use(l, "UB", HSM_LIB_DES, 0x2A0, now(f)), TKM_OK);
	q2 = request(f, "{" FORM "}", NULL);
	assert_int_equal(q2->last_seq, 1);
	assert_true(q2->last_applied > 0);
	assert_int_equal(q2->enforce, 1);
	assert_int_equal(q2->nlic, 2);
	tkm_maint_key_format(&q2->lic[0], key);
	assert_string_equal(key, "K2A0");
	assert_int_equal(q2->lic[0].count, 1);
	assert_int_equal(q2->lic[0].used, 2);
	assert_int_equal(q2->lic[0].until, until);
	assert_int_equal(q2->lic[1].count, 7);
	assert_int_equal(q2->lic[1].used, 0);
	/* Exhausted after the third. */
	assert_int_equal(
	    hsm_lic_use(l, "UB", HSM_LIB_DES, 0x2A0, now(f)), TKM_OK);
	assert_int_equal(hsm_lic_use(l, "UB", HSM_LIB_DES, 0x2A0, now(f)),
	    TKM_ERR_LIC_EXHAUSTED);
	/* Renewed by the update for the second request. */
	free(u);
	u = update(f, q2, 2, now(f), until, NULL);
	if (apply(f, u, NULL, &why) != TKM_OK)
		fail_msg("maint.apply (renew): %s", why);
	assert_int_equal(
	    hsm_lic_use(l, "UB", HSM_LIB_DES, 0x2A0, now(f)), TKM_OK);
	assert_int_equal(show_int(f, "last_seq"), 2);
	hsm_lic_close(l);
	free(u);
	free(q);
	free(q2);
}

/* --- refusals ----------------------------------------------------------- */

static void
test_refusals(void **state)
{
	struct fx *f = *state;
	struct tkm_maint_request *q, *q2;
	struct tkm_sm2 *other = NULL;
	int64_t until = now(f) + 365 * DAY;
	char *u, *p;
	const char *why;

	q = request(f, "{" FORM "}", NULL);
	/* Malformed, and no file at all. */
	refused(f, "TKMS-MAINT-UPDATE 1\n", TKM_ERR_INPUT, "serial");
	assert_int_equal(
	    run(f, op_maint_apply, "{}", NULL, &why), TKM_ERR_INPUT);
	assert_non_null(strstr(why, "file"));
	/* Signed by another key. */
	assert_int_equal(tkm_sm2_generate(&other), TKM_OK);
	u = update(f, q, 1, now(f), until, other);
	refused(f, u, TKM_ERR_VERIFY, "signature");
	free(u);
	/* Altered: 3 uses become 9. */
	u = update(f, q, 1, now(f), until, NULL);
	assert_non_null(p = strstr(u, "des 3 "));
	p[4] = '9';
	refused(f, u, TKM_ERR_VERIFY, "signature");
	free(u);
	expect_audit(f, "signature", 0);
	/* For another HSM. */
	memcpy(q->serial, "TKMS000000000000", 16);
	u = update(f, q, 1, now(f), until, NULL);
	refused(f, u, TKM_ERR_VERIFY, "another HSM");
	free(u);
	memcpy(q->serial, f->serial, sizeof(q->serial));
	/* Made more than 30 days ago; dated two days ahead. */
	u = update(f, q, 1, now(f) - 31 * DAY, until, NULL);
	refused(f, u, TKM_ERR_LIC_EXPIRED, "30 days");
	free(u);
	u = update(f, q, 1, now(f) + 2 * DAY, until, NULL);
	refused(f, u, TKM_ERR_INPUT, "dated");
	free(u);
	/* A licence that ended already. */
	u = update(f, q, 1, now(f), now(f) - 1, NULL);
	refused(f, u, TKM_ERR_LIC_EXPIRED, "expired");
	free(u);
	/* Expiry follows HSM time: 31 days ahead, today's update is old. */
	u = update(f, q, 1, now(f), until, NULL);
	atomic_store(&f->t->st.time_offset, 31 * DAY);
	refused(f, u, TKM_ERR_LIC_EXPIRED, "30 days");
	atomic_store(&f->t->st.time_offset, 0);
	/* After all that the right update still applies... */
	if (apply(f, u, NULL, &why) != TKM_OK)
		fail_msg("maint.apply: %s", why);
	/* ...once: replayed. */
	refused(f, u, TKM_ERR_VERIFY, "applied already");
	free(u);
	/* An update for an older request than the last one. */
	q2 = request(f, "{" FORM "}", NULL);
	free(request(f, "{" FORM "}", NULL));
	u = update(f, q2, 2, now(f), until, NULL);
	refused(f, u, TKM_ERR_VERIFY, "another request");
	free(u);
	free(q2);
	/* A stale sequence for the newest request. */
	q2 = request(f, "{" FORM "}", NULL);
	u = update(f, q2, 1, now(f), until, NULL);
	refused(f, u, TKM_ERR_VERIFY, "stale");
	free(u);
	u = update(f, q2, 2, now(f), until, NULL);
	if (apply(f, u, NULL, &why) != TKM_OK)
		fail_msg("maint.apply: %s", why);
	assert_int_equal(show_int(f, "last_seq"), 2);
	free(u);
	free(q2);
	free(q);
	tkm_sm2_free(other);
}

static void
test_no_mkey(void **state)
{
	struct fx *f = *state;
	struct tkm_maint_request *q = request(f, "{" FORM "}", NULL);
	char *u = update(f, q, 1, now(f), now(f) + DAY, NULL);

	refused(f, u, TKM_ERR_NO_PUBKEY, "mkey import");
	free(u);
	free(q);
}

/* No request ever made: nothing to answer. */
static void
test_no_request(void **state)
{
	struct fx *f = *state;
	struct tkm_maint_request q;
	char *u;

	memset(&q, 0, sizeof(q));
	memcpy(q.serial, f->serial, sizeof(q.serial));
	u = update(f, &q, 1, now(f), now(f) + DAY, NULL);
	refused(f, u, TKM_ERR_VERIFY, "no request");
	free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_request_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_no_mkey, setup_no_mkey, teardown),
	    cmocka_unit_test_setup_teardown(test_no_request, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
