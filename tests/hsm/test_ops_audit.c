/*
 * test_ops_audit.c - D's audit operations (ops_audit.c) with hand-built
 * contexts: audit.checkpoint, audit.verify with and without a checkpoint
 * given, its answers to a log whose newest records were cut off, and the
 * identity (ident.h) as the log's signer.
 */
#include <sqlite3.h>

#include "hsmtest.h"

#include "admin.h"
#include "audit.h"
#include "ident.h"
#include "ops.h"
#include "tkm/mem.h"
#include "tkm/sm2.h"

#define SERIAL "TKMS00000000C0DE"

struct fix {
	struct hsmtest *t;
	struct hsm_session s;
	struct hsm_op_ctx c;
	const char *why;
	uint8_t d[TKM_SM2_PRIV_LEN], pub[TKM_SM2_PUB_LEN];
};

static int
sg_serial(void *arg, char out[HSM_AUDIT_SERIAL_MAX + 1])
{
	(void)arg;
	snprintf(out, HSM_AUDIT_SERIAL_MAX + 1, "%s", SERIAL);
	return TKM_OK;
}

static int
sg_key(void *arg, const struct hsm_dk *dk, struct tkm_sm2 **out)
{
	struct fix *f = arg;

	(void)dk;
	return tkm_sm2_from_priv(f->d, out);
}

static int
sg_pub(void *arg, const struct hsm_dk *dk, uint8_t pub[TKM_SM2_PUB_LEN])
{
	struct fix *f = arg;

	(void)dk;
	memcpy(pub, f->pub, TKM_SM2_PUB_LEN);
	return TKM_OK;
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct tkm_sm2 *k;

	assert_non_null(f);
	f->t = hsmtest_new(0);
	assert_int_equal(
	    hsm_audit_open(hsmtest_dir(f->t), &f->t->st.audit), TKM_OK);
	f->s.roles = HSM_ROLE_D;
	f->c.st = &f->t->st;
	f->c.audit = f->t->st.audit;
	f->c.s = &f->s;
	f->c.peer = "127.0.0.1:40000";
	assert_int_equal(tkm_sm2_generate(&k), TKM_OK);
	assert_int_equal(tkm_sm2_priv(k, f->d), TKM_OK);
	assert_int_equal(tkm_sm2_pub(k, f->pub), TKM_OK);
	tkm_sm2_free(k);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	if (f->t->st.audit != NULL)
		hsm_audit_close(f->t->st.audit);
	if (f->c.admin != NULL)
		hsm_admin_close(f->c.admin);
	hsmtest_free(f->t);
	tkm_cleanse(f->d, sizeof(f->d));
	free(f);
	return 0;
}

static void
use_own(struct fix *f)
{
	const struct hsm_audit_signer s = {f, sg_serial, sg_key, sg_pub};

	hsm_audit_set_signer(f->c.audit, &s);
}

/* Run op with args (a JSON object); the result (caller decrefs). */
static json_t *
run(struct fix *f, hsm_op_fn *op, json_t *a, int want)
{
	json_t *r = json_object();

	assert_non_null(a);
	assert_non_null(r);
	f->why = NULL;
	assert_int_equal(op(&f->c, a, r, &f->why), want);
	if (want != TKM_OK)
		assert_non_null(f->why);
	json_decref(a);
	return r;
}

static json_t *
no_args(void)
{
	return json_object();
}

static json_t *
cp_args(const char *line)
{
	return json_pack("{s:s}", "checkpoint", line);
}

/* n records, as the management server writes them. */
static void
add(struct fix *f, int n)
{
	while (n-- > 0)
		assert_int_equal(hsm_audit_append(f->c.audit, f->t->st.dk, "D",
				     "audit.show", TKM_OK, "{}"),
		    TKM_OK);
}

/* audit.checkpoint: its line (a copy, caller frees) and seq. */
static char *
checkpoint(struct fix *f, json_int_t want_seq)
{
	json_t *r = run(f, op_audit_checkpoint, no_args(), TKM_OK);
	const char *line = json_string_value(json_object_get(r, "checkpoint"));
	char *copy;

	assert_non_null(line);
	assert_int_equal(
	    json_integer_value(json_object_get(r, "seq")), want_seq);
	assert_non_null(copy = strdup(line));
	json_decref(r);
	return copy;
}

static void
sql(struct fix *f, const char *q)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/audit.db", hsmtest_dir(f->t));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
test_checkpoint_and_verify(void **state)
{
	struct fix *f = *state;
	char prefix[64], *line;
	json_t *r;

	use_own(f);
	add(f, 4);
	line = checkpoint(f, 4);
	snprintf(prefix, sizeof(prefix),
	    "TKMS-AUDIT-CHECKPOINT 1 serial=" SERIAL " seq=4 hash=");
	assert_memory_equal(line, prefix, strlen(prefix));
	/* Given and in the file: two checked. */
	r = run(f, op_audit_verify, cp_args(line), TKM_OK);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r, "records")), 4);
	assert_int_equal(
	    json_integer_value(json_object_get(r, "checkpoints_checked")), 2);
	assert_true(json_is_true(json_object_get(r, "keys_checked")));
	assert_true(json_is_true(json_object_get(r, "macs_checked")));
	assert_true(json_is_null(json_object_get(r, "first_bad")));
	assert_true(json_is_null(json_object_get(r, "why")));
	json_decref(r);
	free(line);
}

static void
test_verify_truncated(void **state)
{
	struct fix *f = *state;
	const char *why;
	char *line;
	json_t *r;

	use_own(f);
	add(f, 9);
	line = checkpoint(f, 9);
	add(f, 3);
	sql(f, "DELETE FROM records WHERE seq > 5");
	r = run(f, op_audit_verify, cp_args(line), TKM_OK);
	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_int_equal(
	    json_integer_value(json_object_get(r, "first_bad")), 6);
	why = json_string_value(json_object_get(r, "why"));
	assert_non_null(why);
	assert_non_null(strstr(why, "log truncated: checkpoint of "));
	assert_non_null(strstr(why, "names record 9, the log ends at 5"));
	json_decref(r);
	/* Sealed: the chain without MACs, the checkpoint against its own
	 * key; still found. */
	{
		struct hsm_dk *dk = atomic_load(&f->t->st.dk);

		atomic_store(&f->t->st.dk, NULL);
		r = run(f, op_audit_verify, no_args(), TKM_OK);
		atomic_store(&f->t->st.dk, dk);
	}
	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_true(json_is_false(json_object_get(r, "keys_checked")));
	assert_true(json_is_false(json_object_get(r, "macs_checked")));
	assert_non_null(strstr(
	    json_string_value(json_object_get(r, "why")), "log truncated"));
	json_decref(r);
	free(line);
}

static void
test_bad_requests(void **state)
{
	struct fix *f = *state;
	char big[HSM_AUDIT_CP_MAX + 10];
	struct hsm_dk *dk;

	json_decref(run(f, op_audit_verify, json_pack("{s:i}", "checkpoint", 5),
	    TKM_ERR_INPUT));
	json_decref(run(f, op_audit_verify,
	    json_pack("{s:s%}", "checkpoint", "a\0b", (size_t)3),
	    TKM_ERR_INPUT));
	/* Overlong: a malformed line, answered as such. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		json_t *r = run(f, op_audit_verify, cp_args(big), TKM_OK);

		assert_true(json_is_false(json_object_get(r, "ok")));
		json_decref(r);
	}
	/* A line that is no checkpoint: answered, not ok. */
	{
		json_t *r = run(f, op_audit_verify, cp_args("hello"), TKM_OK);

		assert_true(json_is_false(json_object_get(r, "ok")));
		assert_true(json_is_null(json_object_get(r, "first_bad")));
		assert_non_null(
		    strstr(json_string_value(json_object_get(r, "why")),
			"malformed checkpoint"));
		json_decref(r);
	}
	/* No signer; sealed; no log. */
	json_decref(run(f, op_audit_checkpoint, no_args(), TKM_ERR_NO_KEY));
	assert_non_null(strstr(f->why, "identity"));
	use_own(f);
	dk = atomic_load(&f->t->st.dk);
	atomic_store(&f->t->st.dk, NULL);
	json_decref(run(f, op_audit_checkpoint, no_args(), TKM_ERR_SEALED));
	atomic_store(&f->t->st.dk, dk);
	f->c.audit = NULL;
	json_decref(run(f, op_audit_checkpoint, no_args(), TKM_ERR_INTERNAL));
	json_decref(run(f, op_audit_verify, no_args(), TKM_ERR_INTERNAL));
}

/*
 * The signer a running HSM installs (hsm_audit_use_ident): the identity
 * key and serial of admin.db. Written against ident.h's contract: if the
 * identity cannot be had, checkpoint says so; if it can, the line names
 * its serial and key and verifies.
 */
static void
test_ident_signer(void **state)
{
	struct fix *f = *state;
	struct hsm_dk *dk = f->t->st.dk;
	char serial[HSM_SERIAL_MAX + 1], key[2 * TKM_SM2_PUB_LEN + 1],
	    want[128], *line;
	uint8_t pub[TKM_SM2_PUB_LEN];
	json_t *r;

	assert_int_equal(
	    hsm_admin_open(hsmtest_dir(f->t), &f->c.admin), TKM_OK);
	hsm_audit_use_ident(f->c.audit, f->c.admin);
	add(f, 2);
	if (hsm_ident_serial(f->c.admin, serial) != TKM_OK ||
	    hsm_ident_pub(f->c.admin, dk, pub) != TKM_OK) {
		json_decref(
		    run(f, op_audit_checkpoint, no_args(), TKM_ERR_INTERNAL));
		assert_non_null(strstr(f->why, "cannot sign"));
		return;
	}
	line = checkpoint(f, 2);
	tkm_hex_encode(pub, sizeof(pub), key);
	snprintf(want, sizeof(want), " serial=%s ", serial);
	assert_non_null(strstr(line, want));
	assert_non_null(strstr(line, key));
	r = run(f, op_audit_verify, cp_args(line), TKM_OK);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_true(json_is_true(json_object_get(r, "keys_checked")));
	json_decref(r);
	/* Detaching the signer: no more checkpoints. */
	hsm_audit_use_ident(f->c.audit, NULL);
	json_decref(run(f, op_audit_checkpoint, no_args(), TKM_ERR_NO_KEY));
	free(line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_checkpoint_and_verify),
	    T(test_verify_truncated),
	    T(test_bad_requests),
	    T(test_ident_signer),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
