/*
 * test_kmaint.c - a maint.licence execution that fails after it claimed
 * the application (src/kms/kmaint.c: claim, root HSM signs, store or put
 * back) leaves the application's row exactly as it was, every column and
 * its `changed` time included: an imported application, and one left
 * `licensed` by a proposal that failed earlier (read as imported).
 *
 * The root HSM is a row whose port nothing listens on: the claim
 * succeeds, the signature cannot be made (unreachable), the row is put
 * back. Request files and backends as in test_maint_kms.c (kmshsm.h);
 * no tkms-hsmd is started.
 */
#include "kmshsm.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>

#include "auth.h"
#include "kmaint.h"
#include "proposal.h"
#include "tkm/maint.h"
#include "tkm/msign.h"

#define GZ_ISSUER "02205810" /* 广州市, appendix 1 */
#define SERIAL    "TKMS00112233AABB"
#define DAY       86400
#define ROW_CAP   65536

/* A signed request of a fresh identity key for SERIAL into out. */
static size_t
request(char *out, size_t cap)
{
	static const char *const form[][2] = {{"hsm_number", "GZ-CITY-01"},
	    {"organisation", "广州羊城通有限公司"}, {"applicant", "张三"},
	    {"date", "2026-01-05"}, {"cards_this_year", "120000"}};
	struct tkm_maint_request *q = calloc(1, sizeof(*q));
	struct tkm_sm2 *key = NULL;
	const char *why = NULL;
	size_t len = 0, i;
	int fi;

	assert_non_null(q);
	assert_int_equal(tkm_sm2_generate(&key), TKM_OK);
	assert_int_equal(tkm_sm2_pub(key, q->identity), TKM_OK);
	snprintf(q->serial, sizeof(q->serial), "%s", SERIAL);
	memset(q->nonce, 0x3C, sizeof(q->nonce));
	q->time = (int64_t)time(NULL);
	assert_int_equal(tkm_maint_form_set(&q->form, TKM_MF_ISSUER_CODE,
			     GZ_ISSUER, strlen(GZ_ISSUER), &why),
	    TKM_OK);
	for (i = 0; i < sizeof(form) / sizeof(form[0]); i++) {
		fi = tkm_maint_field_find(form[i][0], strlen(form[i][0]));
		assert_true(fi >= 0);
		assert_int_equal(tkm_maint_form_set(&q->form, (size_t)fi,
				     form[i][1], strlen(form[i][1]), &why),
		    TKM_OK);
	}
	if (tkm_maint_request_write(q, out, cap, &len, &why) != TKM_OK)
		fail_msg("request_write: %s", why);
	assert_int_equal(tkm_maint_sign(key, out, cap, &len), TKM_OK);
	tkm_sm2_free(key);
	free(q);
	return len;
}

/* A port on 127.0.0.1 that nothing listens on (bound, then closed). */
static unsigned
dead_port(void)
{
	struct sockaddr_in a;
	socklen_t n = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &n), 0);
	close(s);
	return ntohs(a.sin_port);
}

/* Every column of application id, as text ("NULL" for SQL NULL). */
static char *
app_row(struct fx *f, int64_t id, char *out)
{
	struct kdb_rows *r = NULL;
	size_t n = 0;
	int i;

	assert_int_equal(
	    kdb_query(f->db, &r, "SELECT * FROM maint_apps WHERE id = $1",
		KDB_INT(id)),
	    TKM_OK);
	assert_int_equal(kdb_next(r), 1);
	out[0] = '\0';
	for (i = 0; i < kdb_ncols(r) && n < ROW_CAP; i++)
		n += (size_t)snprintf(out + n, ROW_CAP - n, "%s|",
		    kdb_isnull(r, i) ? "NULL" : kdb_text(r, i));
	kdb_rows_free(r);
	assert_true(n < ROW_CAP);
	return out;
}

/* maint.licence of app proposed by a and approved by b: must fail with
 * the root unreachable (after the claim); the proposal's id. */
static int64_t
licence_fails(struct fx *f, const struct kms_user *a, const struct kms_user *b,
    int64_t app)
{
	char json[512], d[TKM_MAINT_DATE_LEN + 1];
	const char *why = NULL;
	json_t *p, *out = NULL;
	int64_t pid = 0;
	int http = 0, rc;

	tkm_maint_date_format((int64_t)time(NULL) + 30 * DAY, d);
	snprintf(json, sizeof(json),
	    "{\"app\": %lld, \"licences\": \"UB K2A0 des 100 %s\\n\"}",
	    (long long)app, d);
	assert_non_null(p = json_loads(json, 0, NULL));
	if (kms_proposal_create(f->db, (int64_t)time(NULL), 0, a,
		"maint.licence", p, &pid, &why, &http) != TKM_OK)
		fail_msg("propose: %s (%d)", why, http);
	json_decref(p);
	rc = kms_proposal_decide(
	    f->db, (int64_t)time(NULL), b, pid, 1, NULL, &out, &why, &http);
	json_decref(out);
	assert_int_not_equal(rc, TKM_OK);
	/* The signature is asked for after the claim: it was claimed. */
	if (why == NULL || strstr(why, "unreachable") == NULL)
		fail_msg("approve: %d %s", rc, why ? why : "(null)");
	return pid;
}

static void
t_failed_licence_untouched(void **state)
{
	struct fx *f = *state;
	struct kms_user kma = key_manager(f, "kma"),
			kmb = key_manager(f, "kmb");
	char *text = malloc(TKM_MAINT_FILE_MAX + 1), *before = malloc(ROW_CAP),
	     *after = malloc(ROW_CAP), why[KMS_WHY];
	struct kms_hsm row;
	int64_t app = 0, root = 0, pid;
	size_t len;
	int http = 0;

	assert_non_null(text);
	assert_non_null(before);
	assert_non_null(after);
	memset(&row, 0, sizeof(row));
	snprintf(row.name, sizeof(row.name), "root");
	snprintf(row.role, sizeof(row.role), "root");
	snprintf(row.host, sizeof(row.host), "127.0.0.1");
	row.port = dead_port();
	row.header_len = 8;
	if (kms_fleet_add(f->db, &row, &root, why, sizeof(why)) != TKM_OK)
		fail_msg("kms_fleet_add: %s", why);
	len = request(text, TKM_MAINT_FILE_MAX + 1);
	if (kms_maint_import(f->db, (int64_t)time(NULL), "kma", text, len, NULL,
		&app, why, sizeof(why), &http) != TKM_OK)
		fail_msg("import: %s (%d)", why, http);

	/* Imported, changed at a time no execution could write. */
	assert_int_equal(
	    kdb_exec(f->db,
		"UPDATE maint_apps SET changed = 1000 WHERE id = $1",
		KDB_INT(app)),
	    TKM_OK);
	app_row(f, app, before);
	assert_non_null(strstr(before, "|imported|"));
	pid = licence_fails(f, &kma, &kmb, app);
	assert_string_equal(app_row(f, app, after), before);

	/* Licensed by that failed proposal (a KMS stopped before putting it
	 * back): read as imported, and put back as it was. */
	assert_int_equal(kdb_exec(f->db,
			     "UPDATE maint_apps SET state = 'licensed',"
			     " proposal_id = $1, licences = 'UB K2A0 des 1"
			     " 2099-01-01', seq = 7, enforce = 1,"
			     " root_hsm_id = $2, key_index = 20, changed = 2000"
			     " WHERE id = $3",
			     KDB_INT(pid), KDB_INT(root), KDB_INT(app)),
	    TKM_OK);
	app_row(f, app, before);
	licence_fails(f, &kma, &kmb, app);
	assert_string_equal(app_row(f, app, after), before);
	free(text);
	free(before);
	free(after);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		t_failed_licence_untouched, setup, teardown),
	};
	char why[KDB_WHY];
	int rc;

	if (kms_kinds_register(&kms_maint_kind_licence, 1) != TKM_OK) {
		fprintf(stderr, "test_kmaint: cannot register the kind\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	pg_base = getenv("TKMS_PG_URL");
	if (pg_base != NULL && pg_base[0] == '\0')
		pg_base = NULL;
	if (pg_base != NULL &&
	    kdb_open(pg_base, &pg_admin, why, sizeof(why)) != TKM_OK) {
		fprintf(stderr, "test_kmaint: %s: %s\n", pg_base, why);
		return 1;
	}
	print_message("backend: %s\n", pg_base ? "postgresql" : "sqlite");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	kdb_close(pg_admin);
	return rc;
}
