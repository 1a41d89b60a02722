/*
 * test_ops_keys.c - key-library, authorised-state, whitelist and time
 * operations (ops_keys.c) with hand-built contexts, and the audit of
 * business commands the dispatcher refuses.
 */
#include <arpa/inet.h>
#include <time.h>

#include "hsmtest.h"

#include "admin.h"
#include "audit.h"
#include "ops.h"

struct fix {
	struct hsmtest *t;
	struct hsm_session s;
	struct hsm_op_ctx c;
	const char *why;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->t = hsmtest_new(0);
	f->s.roles = HSM_ROLE_C;
	f->c.st = &f->t->st;
	f->c.s = &f->s;
	f->c.peer = "127.0.0.1:40000";
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	hsm_state_cleanup(&f->t->st);
	if (f->t->st.audit != NULL)
		hsm_audit_close(f->t->st.audit);
	if (f->c.admin != NULL)
		hsm_admin_close(f->c.admin);
	hsmtest_free(f->t);
	free(f);
	return 0;
}

/* Run op with args (JSON text); the result object (caller decrefs). */
static json_t *
run(struct fix *f, hsm_op_fn *op, const char *args, int want)
{
	json_t *a = json_loads(args, 0, NULL), *r = json_object();

	assert_non_null(a);
	assert_non_null(r);
	f->why = NULL;
	assert_int_equal(op(&f->c, a, r, &f->why), want);
	if (want != TKM_OK)
		assert_non_null(f->why);
	json_decref(a);
	return r;
}

static void
run0(struct fix *f, hsm_op_fn *op, const char *args, int want)
{
	json_decref(run(f, op, args, want));
}

static void
put_key(struct fix *f, int lib, unsigned index, const char *type)
{
	struct hsm_key_info info;
	uint8_t k[16];

	memset(&info, 0, sizeof(info));
	memset(k, 0x11 * (int)index, sizeof(k));
	info.lib = lib;
	info.index = index;
	snprintf(info.type, sizeof(info.type), "%s", type);
	snprintf(info.label, sizeof(info.label), "key %u", index);
	assert_int_equal(
	    hsm_keystore_put(hsm_worker_ks(&f->t->w), &info, k, sizeof(k)),
	    TKM_OK);
}

static void
test_keys_list(void **state)
{
	struct fix *f = *state;
	json_t *r, *k;
	const char *kcv;

	put_key(f, HSM_LIB_DES, 0x0A1, "000");
	put_key(f, HSM_LIB_SM4, 2, "008");
	r = run(f, op_keys_list, "{}", TKM_OK);
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 2);
	k = json_array_get(json_object_get(r, "keys"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(k, "lib")), "des");
	assert_int_equal(json_integer_value(json_object_get(k, "index")), 0xA1);
	assert_string_equal(
	    json_string_value(json_object_get(k, "ref")), "0A1");
	assert_string_equal(
	    json_string_value(json_object_get(k, "type")), "000");
	assert_string_equal(
	    json_string_value(json_object_get(k, "label")), "key 161");
	assert_int_equal(json_integer_value(json_object_get(k, "version")), 1);
	kcv = json_string_value(json_object_get(k, "kcv"));
	assert_int_equal(strlen(kcv), 6);
	assert_memory_equal(
	    kcv, json_string_value(json_object_get(k, "kcv_full")), 6);
	assert_int_equal(
	    strlen(json_string_value(json_object_get(k, "kcv_full"))), 16);
	/* Attributes only: nothing that could be the key. */
	assert_int_equal(json_object_size(k), 10);
	json_decref(r);
	r = run(f, op_keys_list, "{\"lib\": \"SM4\"}", TKM_OK);
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 1);
	json_decref(r);
	run0(f, op_keys_list, "{\"lib\": \"aes\"}", TKM_ERR_INPUT);
	run0(f, op_keys_list, "{\"lib\": 1}", TKM_ERR_INPUT);
}

static void
test_keys_delete(void **state)
{
	struct fix *f = *state;
	struct hsm_key_info info;
	json_t *r;

	put_key(f, HSM_LIB_DES, 0x0A1, "000");
	put_key(f, HSM_LIB_DES, 5, "000");
	r = run(f, op_keys_delete, "{\"lib\": \"des\", \"index\": \"0A1\"}",
	    TKM_OK);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(r, "deleted"), "ref")),
	    "0A1");
	json_decref(r);
	assert_int_equal(hsm_keystore_get(hsm_worker_ks(&f->t->w), HSM_LIB_DES,
			     0xA1, &info, NULL, 0, NULL),
	    TKM_ERR_NO_KEY);
	run0(f, op_keys_delete, "{\"lib\": \"des\", \"index\": 161}",
	    TKM_ERR_NO_KEY);
	run0(f, op_keys_delete, "{\"lib\": \"des\", \"index\": 5}", TKM_OK);
	run0(f, op_keys_delete, "{\"lib\": \"des\", \"index\": 4096}",
	    TKM_ERR_INDEX);
	run0(f, op_keys_delete, "{\"lib\": \"sm2\", \"index\": \"21\"}",
	    TKM_ERR_INDEX);
	run0(f, op_keys_delete, "{\"lib\": \"sm2\", \"index\": \"2x\"}",
	    TKM_ERR_INPUT);
	run0(f, op_keys_delete, "{\"lib\": \"des\", \"index\": \"\"}",
	    TKM_ERR_INPUT);
	run0(f, op_keys_delete, "{\"lib\": \"des\", \"index\": -1}",
	    TKM_ERR_INDEX);
	run0(f, op_keys_delete, "{\"lib\": \"des\"}", TKM_ERR_INPUT);
	run0(f, op_keys_delete, "{\"index\": 1}", TKM_ERR_INPUT);
}

static void
test_keys_sealed(void **state)
{
	struct fix *f = *state;
	struct hsm_dk *dk = atomic_exchange(&f->t->st.dk, NULL);

	run0(f, op_keys_list, "{}", TKM_ERR_SEALED);
	run0(f, op_keys_delete, "{\"lib\": \"des\", \"index\": 1}",
	    TKM_ERR_SEALED);
	atomic_store(&f->t->st.dk, dk);
}

static void
test_auth_window(void **state)
{
	struct fix *f = *state;
	json_t *r;

	assert_memory_equal(hsmtest_cmd(f->t, "A00008X", NULL), "A117", 4);
	r = run(f, op_auth_open, "{\"minutes\": 10}", TKM_OK);
	assert_true(json_is_true(json_object_get(r, "authorised")));
	assert_true(json_integer_value(json_object_get(r, "until")) >=
		    (json_int_t)time(NULL) + 599);
	json_decref(r);
	assert_memory_equal(hsmtest_cmd(f->t, "A00008X", NULL), "A100", 4);
	/* The window passed. */
	atomic_store(&f->t->st.authorised_until, (long long)time(NULL) - 1);
	assert_memory_equal(hsmtest_cmd(f->t, "A00008X", NULL), "A117", 4);
	run0(f, op_auth_open, "{\"minutes\": 480}", TKM_OK);
	r = run(f, op_auth_close, "{}", TKM_OK);
	assert_true(json_is_false(json_object_get(r, "authorised")));
	assert_true(json_is_null(json_object_get(r, "until")));
	json_decref(r);
	assert_memory_equal(hsmtest_cmd(f->t, "A00008X", NULL), "A117", 4);
	run0(f, op_auth_open, "{\"minutes\": 0}", TKM_ERR_INPUT);
	run0(f, op_auth_open, "{\"minutes\": 481}", TKM_ERR_INPUT);
	run0(f, op_auth_open, "{\"minutes\": \"5\"}", TKM_ERR_INPUT);
	run0(f, op_auth_open, "{}", TKM_ERR_INPUT);
	/* --dev-authorised is "always": auth.close leaves it. */
	atomic_store(&f->t->st.authorised, 1);
	r = run(f, op_auth_close, "{}", TKM_OK);
	assert_true(json_is_true(json_object_get(r, "always")));
	json_decref(r);
	assert_memory_equal(hsmtest_cmd(f->t, "A00008X", NULL), "A100", 4);
}

static void
test_whitelist_commands(void **state)
{
	struct fix *f = *state;
	const struct hsm_listener_cfg *l = &f->t->cfg.listeners[0];
	json_t *r, *ls;

	assert_memory_equal(hsmtest_cmd(f->t, "NC", NULL), "ND00", 4);
	r = run(f, op_whitelist_set,
	    "{\"kind\": \"commands\", \"list\": [\"A0\", \"UB\"]}", TKM_OK);
	assert_string_equal(
	    json_string_value(json_object_get(r, "applies")), "now");
	assert_true(json_is_false(json_object_get(r, "persisted")));
	json_decref(r);
	assert_memory_equal(hsmtest_cmd(f->t, "NC", NULL), "ND68", 4);
	assert_int_equal(hsm_listener_live(&f->t->st, l)->ncmds, 2);
	assert_int_equal(l->ncmds, 0); /* the config is never written */
	r = run(f, op_whitelist_get, "{}", TKM_OK);
	ls = json_array_get(json_object_get(r, "listeners"), 0);
	assert_true(json_is_true(json_object_get(ls, "changed")));
	assert_int_equal(json_array_size(json_object_get(ls, "commands")), 2);
	assert_string_equal(json_string_value(json_array_get(
				json_object_get(ls, "commands"), 1)),
	    "UB");
	json_decref(r);
	/* An empty list lifts the whitelist, as none in the config does. */
	run0(f, op_whitelist_set, "{\"kind\": \"commands\", \"list\": []}",
	    TKM_OK);
	assert_memory_equal(hsmtest_cmd(f->t, "NC", NULL), "ND00", 4);
	run0(f, op_whitelist_set,
	    "{\"kind\": \"commands\", \"list\": [\"ZZ\"]}", TKM_ERR_INPUT);
	run0(f, op_whitelist_set, "{\"kind\": \"commands\", \"list\": \"A0\"}",
	    TKM_ERR_INPUT);
	run0(f, op_whitelist_set,
	    "{\"kind\": \"commands\", \"list\": [], \"listener\": 1}",
	    TKM_ERR_INPUT);
	run0(f, op_whitelist_set, "{\"kind\": \"x\", \"list\": []}",
	    TKM_ERR_INPUT);
	/* B may not change the command whitelist. */
	f->s.roles = HSM_ROLE_B;
	run0(f, op_whitelist_set, "{\"kind\": \"commands\", \"list\": []}",
	    TKM_ERR_PERMISSION);
}

static void
test_whitelist_ip(void **state)
{
	struct fix *f = *state;
	const struct hsm_listener_cfg *l = &f->t->cfg.listeners[0], *live;
	struct sockaddr_in sa = {0};
	json_t *r, *ip;

	sa.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	run0(f, op_whitelist_set, "{\"kind\": \"ip\", \"list\": []}",
	    TKM_ERR_PERMISSION);
	f->s.roles = HSM_ROLE_B;
	r = run(f, op_whitelist_set,
	    "{\"kind\": \"ip\", \"list\": [\"10.0.0.0/8\", \"::1\"]}", TKM_OK);
	assert_string_equal(json_string_value(json_object_get(r, "applies")),
	    "new connections");
	ip = json_object_get(json_object_get(r, "listener"), "ip");
	assert_string_equal(
	    json_string_value(json_array_get(ip, 0)), "10.0.0.0/8");
	assert_string_equal(
	    json_string_value(json_array_get(ip, 1)), "::1/128");
	json_decref(r);
	live = hsm_listener_live(&f->t->st, l);
	assert_false(hsm_listener_allows_addr(live, (struct sockaddr *)&sa));
	inet_pton(AF_INET, "10.9.8.7", &sa.sin_addr);
	assert_true(hsm_listener_allows_addr(live, (struct sockaddr *)&sa));
	/* Replacing the IP list keeps the command list, and vice versa. */
	f->s.roles = HSM_ROLE_C;
	run0(f, op_whitelist_set,
	    "{\"kind\": \"commands\", \"list\": [\"NC\"]}", TKM_OK);
	live = hsm_listener_live(&f->t->st, l);
	assert_int_equal(live->nnets, 2);
	assert_int_equal(live->ncmds, 1);
	f->s.roles = HSM_ROLE_B;
	run0(f, op_whitelist_set,
	    "{\"kind\": \"ip\", \"list\": [\"10.0.0.1/33\"]}", TKM_ERR_INPUT);
	run0(f, op_whitelist_set,
	    "{\"kind\": \"ip\", \"list\": [\"10.0.0.1/\"]}", TKM_ERR_INPUT);
	run0(f, op_whitelist_set, "{\"kind\": \"ip\", \"list\": [\"host\"]}",
	    TKM_ERR_INPUT);
	run0(f, op_whitelist_set, "{\"kind\": \"ip\", \"list\": [1]}",
	    TKM_ERR_INPUT);
}

static void
test_time(void **state)
{
	struct fix *f = *state;
	json_t *r;
	long long t;

	f->s.roles = HSM_ROLE_B;
	run0(f, op_time_set, "{\"offset\": -3600}", TKM_OK);
	r = run(f, op_time_get, "{}", TKM_OK);
	t = json_integer_value(json_object_get(r, "system_time"));
	assert_int_equal(
	    json_integer_value(json_object_get(r, "offset")), -3600);
	assert_int_equal(
	    json_integer_value(json_object_get(r, "time")), t - 3600);
	json_decref(r);
	run0(f, op_time_set, "{}", TKM_ERR_INPUT);
	run0(f, op_time_set, "{\"offset\": 1e3}", TKM_ERR_INPUT);
	run0(f, op_time_set, "{\"offset\": 99999999999}", TKM_ERR_INPUT);
}

/* With an admin database, whitelist.set and time.set are kept and come
 * back at the next start (hsm_settings_apply). */
static void
test_settings_kept(void **state)
{
	struct fix *f = *state;
	struct hsm_state st2;
	const struct hsm_listener_cfg *live;

	assert_int_equal(
	    hsm_admin_open(hsmtest_dir(f->t), &f->c.admin), TKM_OK);
	run0(f, op_whitelist_set,
	    "{\"kind\": \"commands\", \"list\": [\"A0\", \"NC\"]}", TKM_OK);
	f->s.roles = HSM_ROLE_B;
	run0(f, op_whitelist_set,
	    "{\"kind\": \"ip\", \"list\": [\"192.168.1.0/24\"]}", TKM_OK);
	run0(f, op_time_set, "{\"offset\": 120}", TKM_OK);
	/* A "restart": a fresh state over the same config and settings. */
	memset(&st2, 0, sizeof(st2));
	st2.cfg = f->t->st.cfg;
	st2.admin = f->c.admin;
	assert_int_equal(hsm_settings_apply(&st2), TKM_OK);
	live = hsm_listener_live(&st2, &f->t->cfg.listeners[0]);
	assert_int_equal(live->ncmds, 2);
	assert_memory_equal(live->cmds[1], "NC", 3);
	assert_int_equal(live->nnets, 1);
	assert_int_equal(live->nets[0].prefix, 24);
	assert_int_equal(atomic_load(&st2.time_offset), 120);
	/* Not kept: the authorised state. */
	assert_int_equal(atomic_load(&st2.authorised_until), 0);
	hsm_state_cleanup(&st2);
	/* A damaged setting is refused, not half applied. */
	assert_int_equal(
	    hsm_admin_set(f->c.admin, "time_offset", "12x"), TKM_OK);
	memset(&st2, 0, sizeof(st2));
	st2.cfg = f->t->st.cfg;
	st2.admin = f->c.admin;
	assert_int_equal(hsm_settings_apply(&st2), TKM_ERR_INPUT);
	hsm_state_cleanup(&st2);
}

/* --- refused business commands in the audit ------------------------------ */

struct found {
	char op[8], actor[64];
	int result;
	size_t n;
};

static int
last_rec(void *arg, const struct hsm_audit_rec *r)
{
	struct found *x = arg;

	snprintf(x->op, sizeof(x->op), "%s", r->op);
	snprintf(x->actor, sizeof(x->actor), "%s", r->actor);
	x->result = r->result;
	x->n++;
	return TKM_OK;
}

static void
expect_audit(
    struct fix *f, uint64_t seq, const char *op, const char *actor, int result)
{
	struct found x = {0};

	assert_int_equal(
	    hsm_audit_list(f->t->st.audit, seq, 1, last_rec, &x), TKM_OK);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.op, op);
	assert_string_equal(x.actor, actor);
	assert_int_equal(x.result, result);
}

/* A command on a worker started while sealed (a worker that has opened
 * its store keeps it). */
static void
sealed_cmd(struct fix *f, const char *cmd, const char *want)
{
	struct hsm_dk *dk = atomic_exchange(&f->t->st.dk, NULL);
	struct hsm_worker saved = f->t->w;

	assert_int_equal(hsm_worker_init(&f->t->w, &f->t->st), TKM_OK);
	assert_memory_equal(hsmtest_cmd(f->t, cmd, NULL), want, 4);
	hsm_worker_cleanup(&f->t->w);
	f->t->w = saved;
	atomic_store(&f->t->st.dk, dk);
}

static void
test_refusals_audited(void **state)
{
	struct fix *f = *state;
	struct hsm_audit_report rep;
	uint8_t out[256];
	struct tkm_wr wr;

	assert_int_equal(
	    hsm_audit_open(hsmtest_dir(f->t), &f->t->st.audit), TKM_OK);
	/* Not authorised (17). */
	assert_memory_equal(hsmtest_cmd(f->t, "A00008X", NULL), "A117", 4);
	expect_audit(f, 1, "A0", "host", TKM_ERR_NOT_AUTH);
	/* Not on the whitelist (68), from a known peer. */
	run0(f, op_whitelist_set,
	    "{\"kind\": \"commands\", \"list\": [\"A0\"]}", TKM_OK);
	f->t->w.peer = "10.1.2.3:5555";
	assert_memory_equal(hsmtest_cmd(f->t, "NC", NULL), "ND68", 4);
	expect_audit(f, 2, "NC", "10.1.2.3:5555", TKM_ERR_WHITELIST);
	/* IP refusal (69), as server.c answers it. */
	tkm_wr_init(&wr, out, sizeof(out));
	hsm_refuse(&f->t->w, &f->t->cfg.listeners[0],
	    (const uint8_t *)"12345678UB0", 11, TKM_ERR_IP, &wr);
	assert_int_equal(tkm_wr_error(&wr), TKM_OK);
	assert_memory_equal(out + 2, "12345678UC69", 12);
	expect_audit(f, 3, "UB", "10.1.2.3:5555", TKM_ERR_IP);
	/* Sealed (13). */
	f->t->w.peer = NULL;
	run0(f, op_whitelist_set, "{\"kind\": \"commands\", \"list\": []}",
	    TKM_OK);
	sealed_cmd(f, "A00008X", "A113");
	expect_audit(f, 4, "A0", "host", TKM_ERR_SEALED);
	/* Unknown commands and accepted ones are not audited here. */
	(void)hsmtest_cmd(f->t, "ZZ", NULL);
	(void)hsmtest_cmd(f->t, "NC", NULL);
	assert_int_equal(hsm_audit_last(f->t->st.audit), 4);
	assert_int_equal(
	    hsm_audit_verify(f->t->st.audit, f->t->st.dk, &rep), TKM_OK);
	assert_int_equal(rep.first_bad, 0);
	assert_int_equal(rep.unmacked, 1); /* the sealed one */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_keys_list),
	    T(test_keys_delete),
	    T(test_keys_sealed),
	    T(test_auth_window),
	    T(test_whitelist_commands),
	    T(test_whitelist_ip),
	    T(test_time),
	    T(test_settings_kept),
	    T(test_refusals_audited),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
