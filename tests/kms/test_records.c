/*
 * test_records.c - the work forms (src/kms/records.h): golden Markdown
 * and HTML for a small fixed dataset (inserted with SQL, fixed times), a
 * hostile HSM name, actor and reason that must not add markup, cells or
 * lines, and the sinks' limits. SQLite, or PostgreSQL with TKMS_PG_URL
 * (tests/kms/pg.sh), through kmsfx.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kmsfx.h"
#include "records.h"

#define CAP 65536
#define T0  1700000000 /* 2023-11-14 22:13:20 UTC */

struct ids {
	int64_t v1, v2;
};

static int64_t
one(struct kdb *db, const char *sql, const struct kdb_val *v, size_t n)
{
	int64_t id = 0;
	int rc = kdb_int1_(db, &id, sql, v, n);

	if (rc != TKM_OK)
		fail_msg("%s: %s", sql, kdb_errmsg(db));
	return id;
}
#define ONE(db, sql, ...) one((db), (sql), KDB_ARGS_(__VA_ARGS__))

static void
ex(struct kdb *db, const char *sql, const struct kdb_val *v, size_t n)
{
	if (kdb_exec_(db, sql, v, n) != TKM_OK)
		fail_msg("%s: %s", sql, kdb_errmsg(db));
}
#define EX(db, sql, ...) ex((db), (sql), KDB_ARGS_(__VA_ARGS__))

/*
 * tac DES v1 (compromised, issued to a Guangzhou business HSM and the
 * clearing HSM, destruction asked: the root copy confirmed, one pending)
 * and v2 (active). rootname, actor and reason vary per test.
 */
static struct ids
dataset(
    struct kdb *db, const char *rootname, const char *actor, const char *reason)
{
	int64_t root, gz, clr, city, tmpl, alice, bob, p, i1, i2;
	struct ids ids;

	city = ONE(db, "SELECT id FROM institutions WHERE city_code = '5810'");
	tmpl = ONE(db, "SELECT id FROM key_templates WHERE name = 'tac'");
	root = ONE(db,
	    "INSERT INTO hsms (name, role, host, port, serial, created)"
	    " VALUES ($1, 'root', '10.0.0.5', 1500, 'TKMS-0001', $2)"
	    " RETURNING id",
	    KDB_TEXT(rootname), KDB_INT(T0));
	gz = ONE(db,
	    "INSERT INTO hsms (name, role, city_id, host, port, created)"
	    " VALUES ('gz-business', 'provincial_business', $1, '10.1.0.5',"
	    " 1500, $2) RETURNING id",
	    KDB_INT(city), KDB_INT(T0));
	clr = ONE(db,
	    "INSERT INTO hsms (name, role, host, port, created)"
	    " VALUES ('clearing', 'clearing', '10.2.0.5', 1500, $1)"
	    " RETURNING id",
	    KDB_INT(T0));
	alice = ONE(db,
	    "INSERT INTO users (name, role, pwhash, created)"
	    " VALUES ('alice', 'key_manager', 'x', $1) RETURNING id",
	    KDB_INT(T0));
	bob = ONE(db,
	    "INSERT INTO users (name, role, pwhash, created)"
	    " VALUES ('bob', 'key_manager', 'x', $1) RETURNING id",
	    KDB_INT(T0));
	p = ONE(db,
	    "INSERT INTO proposals (kind, role, payload, proposer_id, state,"
	    " approver_id, created, expires, decided)"
	    " VALUES ('root.generate', 'key_manager', '{}', $1, 'executed',"
	    " $2, $3, $4, $3) RETURNING id",
	    KDB_INT(alice), KDB_INT(bob), KDB_INT(T0), KDB_INT(T0 + 3600));
	ids.v1 = ONE(db,
	    "INSERT INTO root_keys (template_id, alg, version, hsm_id, idx, "
	    "kcv,"
	    " state, created, changed) VALUES ($1, 'DES', 1, $2, $3, 'A1B2C3',"
	    " 'compromised', $4, $5) RETURNING id",
	    KDB_INT(tmpl), KDB_INT(root), KDB_INT(0x308), KDB_INT(T0),
	    KDB_INT(T0 + 86400));
	ids.v2 = ONE(db,
	    "INSERT INTO root_keys (template_id, alg, version, hsm_id, idx, "
	    "kcv,"
	    " state, created, changed) VALUES ($1, 'DES', 2, $2, $3, 'D4E5F6',"
	    " 'active', $4, $4) RETURNING id",
	    KDB_INT(tmpl), KDB_INT(root), KDB_INT(0x328), KDB_INT(T0 + 90000));
	i1 = ONE(db,
	    "INSERT INTO issued_keys (root_key_id, city_id, hsm_id, alg, idx,"
	    " kcv, version, state, created, changed) VALUES ($1, $2, $3, 'DES',"
	    " $4, '112233', 1, 'compromised', $5, $5) RETURNING id",
	    KDB_INT(ids.v1), KDB_INT(city), KDB_INT(gz), KDB_INT(0x308),
	    KDB_INT(T0 + 60));
	i2 = ONE(db,
	    "INSERT INTO issued_keys (root_key_id, city_id, hsm_id, alg, idx,"
	    " kcv, version, state, created, changed) VALUES ($1, $2, $3, 'DES',"
	    " $4, '445566', 1, 'compromised', $5, $5) RETURNING id",
	    KDB_INT(ids.v1), KDB_INT(city), KDB_INT(clr), KDB_INT(0x500),
	    KDB_INT(T0 + 120));
	EX(db,
	    "INSERT INTO key_events (root_key_id, kind, actor, proposal_id,"
	    " reason, time) VALUES ($1, 'generated', $2, $3, NULL, $4),"
	    " ($1, 'issued', $2, NULL, NULL, $5),"
	    " ($1, 'compromised', $2, NULL, $6, $7),"
	    " ($1, 'destroy_requested', 'carol+dave', NULL, NULL, $8)",
	    KDB_INT(ids.v1), KDB_TEXT(actor), KDB_INT(p), KDB_INT(T0),
	    KDB_INT(T0 + 60), KDB_TEXT(reason), KDB_INT(T0 + 86400),
	    KDB_INT(T0 + 172800));
	EX(db,
	    "INSERT INTO key_destructions (root_key_id, issued_key_id, hsm_id,"
	    " alg, idx, kcv, state, requested, confirmed) VALUES"
	    " ($1, NULL, $2, 'DES', $3, 'A1B2C3', 'destroyed', $4, $5),"
	    " ($1, $6, $7, 'DES', $3, '112233', 'destroy_pending', $4, NULL),"
	    " ($1, $8, $9, 'DES', $10, '445566', 'destroy_pending', $4, NULL)",
	    KDB_INT(ids.v1), KDB_INT(root), KDB_INT(0x308),
	    KDB_INT(T0 + 172800), KDB_INT(T0 + 180000), KDB_INT(i1),
	    KDB_INT(gz), KDB_INT(i2), KDB_INT(clr), KDB_INT(0x500));
	return ids;
}

typedef int (*rec_fn)(struct kdb *, int64_t, const struct kms_rec_opts *,
    struct kms_sink *, char *, size_t);

static char *
render(struct kdb *db, rec_fn fn, int64_t id, enum kms_rec_fmt fmt)
{
	struct kms_rec_opts o = {fmt, T0 + 200000, 0};
	struct kms_sink s;
	char *buf = malloc(CAP), why[256];
	int rc;

	assert_non_null(buf);
	kms_sink_buf(&s, buf, CAP);
	if ((rc = fn(db, id, &o, &s, why, sizeof(why))) != TKM_OK)
		fail_msg("render: %s (%s)", why, tkm_strerror(rc));
	assert_int_equal(s.len, strlen(buf));
	return buf;
}

#include "records_golden.h"

static void
t_golden(void **state)
{
	struct fx *f = *state;
	struct ids ids = dataset(f->db, "root-hsm", "alice", "card cloned");
	static const rec_fn fns[4] = {kms_rec_generation, kms_rec_distribution,
	    kms_rec_destruction, kms_rec_compromise};
	const char *dump = getenv("TKMS_GOLDEN_DUMP");
	size_t i, k;

	for (i = 0; i < 4; i++)
		for (k = 0; k < 2; k++) {
			char *got = render(f->db, fns[i], ids.v1,
			    k ? KMS_REC_HTML : KMS_REC_MD);

			if (dump != NULL) {
				printf("@@%zu%zu\n%s", i, k, got);
			} else if (strcmp(got, golden[i][k]) != 0) {
				print_error(
				    "record %zu fmt %zu:\n%s\n", i, k, got);
				fail_msg("record %zu differs from golden", i);
			}
			free(got);
		}
}

/* Every character of set in s follows a backslash (Markdown). */
static int
all_escaped(const char *s, const char *set)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (strchr(set, s[i]) != NULL && (i == 0 || s[i - 1] != '\\'))
			return 0;
	return 1;
}

static void
t_hostile(void **state)
{
	static const char *const hostile =
	    "<script>alert(\"x\")</script> | & 'q' [l](j:) *b* _i_ `c`";
	struct fx *f = *state;
	struct ids ids = dataset(f->db, hostile, "eve\n# injected | cell",
	    "a\r\n<img src=x onerror=alert(1)>|");
	static const rec_fn fns[4] = {kms_rec_generation, kms_rec_distribution,
	    kms_rec_destruction, kms_rec_compromise};
	size_t i;
	char *md, *html, *line;

	for (i = 0; i < 4; i++) {
		html = render(f->db, fns[i], ids.v1, KMS_REC_HTML);
		assert_null(strstr(html, "<script"));
		assert_null(strstr(html, "<img"));
		assert_null(strstr(html, "\"x\""));
		assert_null(strstr(html, "'q'"));
		assert_null(strstr(html, "\n# injected"));
		if (i != 1) /* the distribution form does not name the root */
			assert_non_null(strstr(html,
			    "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
			    " | &amp; &#39;q&#39;"));
		md = render(f->db, fns[i], ids.v1, KMS_REC_MD);
		assert_true(all_escaped(md, "<>`*_[]&"));
		assert_null(strstr(md, "\n# injected"));
		if (i != 1)
			assert_non_null(strstr(md,
			    "\\<script\\>alert(\"x\")\\</script\\> \\| \\&"
			    " 'q' \\[l\\](j:) \\*b\\* \\_i\\_ \\`c\\`"));
		/* Every table line of the Markdown has the columns of its
		 * table: count '|' not preceded by a backslash per line. */
		for (line = strtok(md, "\n"); line != NULL;
		     line = strtok(NULL, "\n")) {
			size_t bars = 0, j;

			if (line[0] != '|')
				continue;
			for (j = 0; line[j] != '\0'; j++)
				if (line[j] == '|' &&
				    (j == 0 || line[j - 1] != '\\'))
					bars++;
			assert_true(
			    bars == 3 || bars == 5 || bars == 7 || bars == 8);
		}
		free(md);
		free(html);
	}
}

static void
t_sinks(void **state)
{
	struct fx *f = *state;
	struct ids ids = dataset(f->db, "root-hsm", "alice", "r");
	struct kms_rec_opts o = {KMS_REC_HTML, 0, 0};
	struct kms_sink s;
	char small[100], why[256], *buf;
	size_t n;
	FILE *mf;

	kms_sink_buf(&s, small, sizeof(small));
	assert_int_equal(
	    kms_rec_generation(f->db, ids.v1, &o, &s, why, sizeof(why)),
	    TKM_ERR_SPACE);
	assert_true(strlen(small) < sizeof(small));
	assert_int_equal(
	    kms_rec_generation(f->db, 999999, &o, &s, why, sizeof(why)),
	    TKM_ERR_INPUT);
	/* A FILE gets the same text as a buffer. */
	buf = NULL;
	n = 0;
	mf = open_memstream(&buf, &n);
	assert_non_null(mf);
	kms_sink_file(&s, mf);
	assert_int_equal(
	    kms_rec_destruction(f->db, ids.v1, &o, &s, why, sizeof(why)),
	    TKM_OK);
	fclose(mf);
	{
		struct kms_sink b;
		char *big = malloc(CAP);

		assert_non_null(big);
		kms_sink_buf(&b, big, CAP);
		assert_int_equal(kms_rec_destruction(
				     f->db, ids.v1, &o, &b, why, sizeof(why)),
		    TKM_OK);
		assert_string_equal(buf, big);
		free(big);
	}
	free(buf);
	/* No time printed when printed = 0. */
	assert_null(strstr(small, "Printed"));
}

/* The supervisor's sign-off: the digest is of the record's content, the
 * same for the same data; the signed form names the supervisor; a later
 * change of the record marks the sign-off; one sign-off per content and
 * supervisor; kinds by name. */
static void
t_signoff(void **state)
{
	struct fx *f = *state;
	struct ids ids = dataset(f->db, "root-hsm", "alice", "r");
	struct kms_rec_opts with = {KMS_REC_MD, 0, 1};
	char h1[KMS_REC_SM3_HEX + 1], h2[KMS_REC_SM3_HEX + 1], why[256], *doc;
	int64_t sup, id, id2;

	sup = ONE(f->db,
	    "INSERT INTO users (name, role, pwhash, created)"
	    " VALUES ('zoesup', 'supervisor', 'x', $1) RETURNING id",
	    KDB_INT(T0));
	assert_int_equal(
	    kms_rec_digest(f->db, "distribution", ids.v1, h1, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(strlen(h1), 64);
	assert_int_equal(
	    kms_rec_digest(f->db, "distribution", ids.v1, h2, why, sizeof(why)),
	    TKM_OK);
	assert_string_equal(h1, h2);
	assert_int_equal(
	    kms_rec_digest(f->db, "generation", ids.v1, h2, why, sizeof(why)),
	    TKM_OK);
	assert_string_not_equal(h1, h2);
	assert_int_equal(kms_rec_render(f->db, "distribution", ids.v1, &with,
			     &doc, why, sizeof(why)),
	    TKM_OK);
	assert_null(strstr(doc, "zoesup"));
	free(doc);
	assert_int_equal(kms_rec_sign(f->db, T0 + 300000, "distribution",
			     ids.v1, sup, h1, &id, h2, why, sizeof(why)),
	    TKM_OK);
	assert_true(id > 0);
	assert_string_equal(h1, h2);
	/* Signing does not change what is signed. */
	assert_int_equal(
	    kms_rec_digest(f->db, "distribution", ids.v1, h2, why, sizeof(why)),
	    TKM_OK);
	assert_string_equal(h1, h2);
	assert_int_equal(kms_rec_sign(f->db, T0 + 300001, "distribution",
			     ids.v1, sup, h1, &id2, h2, why, sizeof(why)),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "already"));
	assert_int_equal(kms_rec_render(f->db, "distribution", ids.v1, &with,
			     &doc, why, sizeof(why)),
	    TKM_OK);
	assert_non_null(strstr(doc, "zoesup"));
	assert_non_null(strstr(doc, "电子签核 SM3"));
	assert_null(strstr(doc, "changed since"));
	free(doc);
	/* The record changes (a copy destroyed): the sign-off says so. */
	EX(f->db,
	    "UPDATE issued_keys SET state = 'destroyed', changed = $1"
	    " WHERE root_key_id = $2",
	    KDB_INT(T0 + 400000), KDB_INT(ids.v1));
	assert_int_equal(kms_rec_render(f->db, "distribution", ids.v1, &with,
			     &doc, why, sizeof(why)),
	    TKM_OK);
	assert_non_null(strstr(doc, "changed since"));
	free(doc);
	/* Signing what was read before the change is refused. */
	assert_int_equal(kms_rec_sign(f->db, T0 + 400001, "distribution",
			     ids.v1, sup, h1, &id2, h2, why, sizeof(why)),
	    TKM_ERR_VERIFY);
	assert_non_null(strstr(why, "changed since it was read"));
	assert_int_equal(kms_rec_sign(f->db, T0 + 400001, "distribution",
			     ids.v1, sup, NULL, &id2, h2, why, sizeof(why)),
	    TKM_OK);
	assert_string_not_equal(h1, h2);
	assert_string_equal(
	    kms_rec_title("compromise"), "密钥泄露记录 Key compromise record");
	assert_null(kms_rec_title("nope"));
	assert_int_equal(kms_rec_render(f->db, "nope", ids.v1, &with, &doc, why,
			     sizeof(why)),
	    TKM_ERR_INPUT);
	assert_null(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(t_golden, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(t_hostile, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(t_sinks, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(t_signoff, fx_setup, fx_teardown),
	};
	int rc;

	if (fx_init("test_records") != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fx_done();
	return rc;
}
