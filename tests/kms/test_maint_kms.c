/*
 * test_maint_kms.c - maintenance applications in the KMS (src/kms/kmaint.h,
 * docs/api.md "Maintenance applications"): import of request files (good,
 * altered, replayed, another identity for a known serial, unknown city,
 * an HSM of another city), the maint.licence proposal checked when
 * proposed and when approved (dual control, rejection, withdrawal and
 * expiry leaving the application usable), and the signature made by a
 * real root tkms-hsmd with the maintenance key pair that `tkms hsm mkey
 * generate` made at SM2 index 20: refused while the root is not in the
 * authorised state (the proposal fails with the reason, the application
 * is imported again), made once its security admin opened it, checked
 * with the maintenance public key the root wrote; then the export.
 *
 * Request files are made here with the library (maint.h) and a fresh SM2
 * key standing for a city HSM's identity key (tests/e2e/test_kms_maint.py
 * runs the whole loop with a real city HSM). Processes and backends as
 * in test_flows.c (kmshsm.h); the console is TKMS_CLI (compiled in by
 * CMake) or $TKMS_BUILD/tkms.
 */
#include "kmshsm.h"

#include "auth.h"
#include "kmaint.h"
#include "proposal.h"
#include "tkm/buf.h"
#include "tkm/maint.h"
#include "tkm/msign.h"

#define GZ_ISSUER "02205810" /* 广州市, appendix 1 */
#define SZ_ISSUER "02215840" /* 深圳市 */
#define SERIAL    "TKMS00112233AABB"
#define DAY       86400

static char cli[1024];

/* --- request files ------------------------------------------------------- */

/* A city HSM as the province sees it: its serial and identity key. */
struct city {
	char serial[TKM_MAINT_SERIAL_MAX + 1];
	struct tkm_sm2 *key;
	uint8_t pub[TKM_SM2_PUB_LEN];
	unsigned nonce; /* each request a fresh one */
};

static void
city_new(struct city *c, const char *serial)
{
	snprintf(c->serial, sizeof(c->serial), "%s", serial);
	assert_int_equal(tkm_sm2_generate(&c->key), TKM_OK);
	assert_int_equal(tkm_sm2_pub(c->key, c->pub), TKM_OK);
	c->nonce = 0;
}

/* A signed request of c (issuer code, last_seq) into out. */
static size_t
request(struct city *c, const char *issuer, uint64_t last_seq, char *out,
    size_t cap)
{
	static const char *const form[][2] = {{"hsm_number", "GZ-CITY-01"},
	    {"organisation", "广州羊城通有限公司"}, {"applicant", "张三"},
	    {"date", "2026-01-05"}, {"cards_this_year", "120000"}};
	struct tkm_maint_request *q = calloc(1, sizeof(*q));
	const char *why = NULL;
	size_t len = 0, i;
	int f;

	assert_non_null(q);
	snprintf(q->serial, sizeof(q->serial), "%s", c->serial);
	memcpy(q->identity, c->pub, sizeof(q->identity));
	c->nonce++;
	memset(q->nonce, 0x5A, sizeof(q->nonce));
	memcpy(q->nonce, &c->nonce, sizeof(c->nonce));
	q->time = (int64_t)time(NULL);
	q->enforce = last_seq > 0;
	q->last_seq = last_seq;
	q->last_applied = last_seq > 0 ? q->time - DAY : 0;
	assert_int_equal(tkm_maint_form_set(&q->form, TKM_MF_ISSUER_CODE,
			     issuer, strlen(issuer), &why),
	    TKM_OK);
	for (i = 0; i < sizeof(form) / sizeof(form[0]); i++) {
		f = tkm_maint_field_find(form[i][0], strlen(form[i][0]));
		assert_true(f >= 0);
		assert_int_equal(tkm_maint_form_set(&q->form, (size_t)f,
				     form[i][1], strlen(form[i][1]), &why),
		    TKM_OK);
	}
	/* One licence in force, with its counters. */
	q->nlic = 1;
	memcpy(q->lic[0].cmd, "UB", 3);
	q->lic[0].lib = TKM_MAINT_DES;
	q->lic[0].index = 0x2A0;
	q->lic[0].count = 990;
	q->lic[0].used = 10;
	q->lic[0].until = q->time + 30 * DAY;
	if (tkm_maint_request_write(q, out, cap, &len, &why) != TKM_OK)
		fail_msg("request_write: %s", why);
	assert_int_equal(tkm_maint_sign(c->key, out, cap, &len), TKM_OK);
	free(q);
	return len;
}

/* --- users, proposals ---------------------------------------------------- */

static struct kms_user
user(struct fx *f, const char *name, const char *role)
{
	struct kms_user u;
	const char *why = NULL;

	memset(&u, 0, sizeof(u));
	if (kms_user_insert(f->db, (int64_t)time(NULL), name, role,
		"$argon2id$v=19$m=65536,t=3,p=1$test$test", &u.id,
		&why) != TKM_OK)
		fail_msg("user %s: %s", name, why);
	snprintf(u.name, sizeof(u.name), "%s", name);
	u.role = kms_role_of(role);
	return u;
}

/* Propose maint.licence with payload text (JSON); rc, *id, *why. */
static int
propose(struct fx *f, const struct kms_user *u, int64_t ttl, const char *json,
    int64_t *id, const char **why, int *http)
{
	json_t *p = json_loads(json, 0, NULL);
	int rc;

	assert_non_null(p);
	rc = kms_proposal_create(f->db, (int64_t)time(NULL), ttl, u,
	    "maint.licence", p, id, why, http);
	json_decref(p);
	return rc;
}

static int64_t
propose_ok(struct fx *f, const struct kms_user *u, const char *json)
{
	const char *why = NULL;
	int64_t id = 0;
	int http = 0;

	if (propose(f, u, 0, json, &id, &why, &http) != TKM_OK)
		fail_msg("propose %s: %s (%d)", json, why, http);
	return id;
}

static void
propose_refused(struct fx *f, const struct kms_user *u, const char *json,
    int want_http, const char *want)
{
	const char *why = NULL;
	int64_t id = 0;
	int http = 0;

	assert_int_not_equal(propose(f, u, 0, json, &id, &why, &http), TKM_OK);
	if (http != want_http || why == NULL || strstr(why, want) == NULL)
		fail_msg("%s: %d %s; wanted %d \"%s\"", json, http,
		    why ? why : "(null)", want_http, want);
	assert_int_equal(id, 0);
}

/* Approve (or reject) as u at time now; *out the proposal afterwards. */
static int
decide(struct fx *f, const struct kms_user *u, int64_t id, int approve,
    int64_t now, json_t **out, const char **why)
{
	int http = 0;

	*out = NULL;
	return kms_proposal_decide(
	    f->db, now, u, id, approve, NULL, out, why, &http);
}

static char *
proposal_state(struct fx *f, int64_t id, char *out, size_t cap)
{
	struct kdb_rows *r = NULL;

	assert_int_equal(
	    kdb_query(f->db, &r, "SELECT state FROM proposals WHERE id = $1",
		KDB_INT(id)),
	    TKM_OK);
	assert_int_equal(kdb_next(r), 1);
	snprintf(out, cap, "%s", kdb_text(r, 0));
	kdb_rows_free(r);
	return out;
}

/* --- applications -------------------------------------------------------- */

static int64_t
import_ok(struct fx *f, const char *text, size_t len)
{
	char why[KMS_WHY];
	int64_t id = 0;
	int http = 0;

	if (kms_maint_import(f->db, (int64_t)time(NULL), "kma", text, len, NULL,
		&id, why, sizeof(why), &http) != TKM_OK)
		fail_msg("import: %s (%d)", why, http);
	assert_true(id > 0);
	return id;
}

static void
import_refused(struct fx *f, const char *text, size_t len,
    const uint8_t *identity, int want_http, const char *want)
{
	char why[KMS_WHY] = "";
	int64_t id = 0;
	int http = 0;

	assert_int_not_equal(
	    kms_maint_import(f->db, (int64_t)time(NULL), "kma", text, len,
		identity, &id, why, sizeof(why), &http),
	    TKM_OK);
	if (http != want_http || strstr(why, want) == NULL)
		fail_msg("import: %d %s; wanted %d \"%s\"", http, why,
		    want_http, want);
	assert_int_equal(id, 0);
}

/* Application id as the API shows it (a new reference). */
static json_t *
app(struct fx *f, int64_t id)
{
	char why[KMS_WHY];
	json_t *a = NULL;

	if (kms_maint_list(f->db, NULL, id, &a, why, sizeof(why)) != TKM_OK)
		fail_msg("show %lld: %s", (long long)id, why);
	return a;
}

static void
assert_app_state(struct fx *f, int64_t id, const char *state)
{
	json_t *a = app(f, id);

	assert_string_equal(
	    json_string_value(json_object_get(a, "state")), state);
	json_decref(a);
}

static int64_t
audit_count(struct fx *f, const char *action)
{
	int64_t n = -1;

	assert_int_equal(
	    kdb_int1(f->db, &n, "SELECT count(*) FROM audit WHERE action = $1",
		KDB_TEXT(action)),
	    TKM_OK);
	return n;
}

/* An HSM row only (nothing listens there). */
static int64_t
hsm_row(struct fx *f, const char *name, const char *role, int64_t city,
    const char *serial, unsigned port)
{
	struct kms_hsm row;
	char why[KMS_WHY];
	int64_t id = 0;

	memset(&row, 0, sizeof(row));
	snprintf(row.name, sizeof(row.name), "%s", name);
	snprintf(row.role, sizeof(row.role), "%s", role);
	snprintf(row.host, sizeof(row.host), "127.0.0.1");
	snprintf(row.serial, sizeof(row.serial), "%s", serial ? serial : "");
	row.port = port;
	row.header_len = 8;
	row.city_id = city;
	if (kms_fleet_add(f->db, &row, &id, why, sizeof(why)) != TKM_OK)
		fail_msg("kms_fleet_add %s: %s", name, why);
	return id;
}

/* The date (UTC+8) days from now, for licences files. */
static const char *
date_in(int days, char out[TKM_MAINT_DATE_LEN + 1])
{
	tkm_maint_date_format((int64_t)time(NULL) + (int64_t)days * DAY, out);
	return out;
}

/* --- the console (tkms hsm ...) ------------------------------------------ */

/* Run the console with args (NULL-terminated) against h's management
 * port and session; fail the test unless it exits 0. */
static void
console(struct hsm *h, ...)
{
	char port[16], session[128], out[128], text[2048] = "";
	const char *argv[32];
	int n = 0, status = 0, fd, local = 0;
	va_list ap;
	pid_t pid;
	FILE *fp;

	snprintf(port, sizeof(port), "%u", h->mport);
	snprintf(session, sizeof(session), "%s/session", h->dir);
	snprintf(out, sizeof(out), "%s/console.out", h->dir);
	argv[n++] = cli;
	argv[n++] = "hsm";
	va_start(ap, h);
	while (n < 24 && (argv[n] = va_arg(ap, const char *)) != NULL) {
		if (strcmp(argv[n], "card") == 0)
			local = 1; /* card new: no connection */
		n++;
	}
	va_end(ap);
	if (!local) {
		argv[n++] = "--host";
		argv[n++] = "127.0.0.1";
		argv[n++] = "--port";
		argv[n++] = port;
		argv[n++] = "--session";
		argv[n++] = session;
	}
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(cli, (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if ((fp = fopen(out, "r")) != NULL) {
		text[fread(text, 1, sizeof(text) - 1, fp)] = '\0';
		fclose(fp);
	}
	fail_msg("tkms hsm %s %s: status %d: %s", argv[2],
	    argv[3] ? argv[3] : "", status, text);
}

static void
role_cmd(struct hsm *h, const char *what, const char *role)
{
	char card[128], pin[128], pw[128];

	snprintf(card, sizeof(card), "%s/%s.card", h->dir, role);
	snprintf(pin, sizeof(pin), "%s/pin", h->dir);
	snprintf(pw, sizeof(pw), "%s/pw", h->dir);
	if (strcmp(what, "card") == 0)
		console(h, "card", "new", "--role", role, "--out", card,
		    "--pin-file", pin, NULL);
	else
		console(h, what, "--role", role, "--card", card, "--pin-file",
		    pin, "--password-file", pw, NULL);
}

/*
 * The root HSM's initialisation as far as the maintenance key goes
 * (docs/ceremonies.md): A1-A3 and C enrolled, the maintenance key pair
 * made by A1+A2+A3 at SM2 index 20; its public key into pub. Nobody stays
 * logged in.
 */
static void
root_mkey(struct hsm *h, uint8_t pub[TKM_SM2_PUB_LEN])
{
	static const char *const roles[] = {"A1", "A2", "A3", "C"};
	char path[128], bak[128], text[256] = "";
	size_t i, n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/pin", h->dir);
	write_file(path, "123456\n");
	snprintf(path, sizeof(path), "%s/pw", h->dir);
	write_file(path, "admin-pass-1\n");
	for (i = 0; i < 4; i++)
		role_cmd(h, "card", roles[i]);
	for (i = 0; i < 3; i++)
		role_cmd(h, "enrol", roles[i]);
	for (i = 0; i < 3; i++)
		role_cmd(h, "login", roles[i]);
	role_cmd(h, "enrol", "C");
	snprintf(bak, sizeof(bak), "%s/mkey.bak", h->dir);
	snprintf(path, sizeof(path), "%s/mkey.pub", h->dir);
	console(h, "mkey", "generate", "--index", "20", "--out", bak,
	    "--pub-out", path, NULL);
	console(h, "logout", NULL);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(text, sizeof(text), fp));
	fclose(fp);
	assert_true(strlen(text) >= 2 * TKM_SM2_PUB_LEN);
	assert_int_equal(
	    tkm_hex_decode(text, 2 * TKM_SM2_PUB_LEN, pub, TKM_SM2_PUB_LEN, &n),
	    TKM_OK);
}

/* --- tests --------------------------------------------------------------- */

static void
t_import(void **state)
{
	struct fx *f = *state;
	struct city gz, impostor, sz;
	char text[TKM_MAINT_FILE_MAX + 1], alt[TKM_MAINT_FILE_MAX + 1], *p;
	char fp[TKM_MAINT_FP_HEX + 1];
	size_t len, alen;
	int64_t id, id2, hsm;
	json_t *a, *list = NULL;
	char why[KMS_WHY];

	city_new(&gz, SERIAL);
	city_new(&impostor, SERIAL);
	city_new(&sz, "TKMS00112233CCDD");
	len = request(&gz, GZ_ISSUER, 0, text, sizeof(text));
	id = import_ok(f, text, len);
	a = app(f, id);
	tkm_maint_fingerprint(gz.pub, fp);
	assert_string_equal(
	    json_string_value(json_object_get(a, "state")), "imported");
	assert_string_equal(
	    json_string_value(json_object_get(a, "serial")), SERIAL);
	assert_string_equal(
	    json_string_value(json_object_get(a, "identity")), fp);
	assert_string_equal(
	    json_string_value(json_object_get(a, "city_code")), "5810");
	assert_string_equal(
	    json_string_value(json_object_get(a, "city")), "广州市");
	assert_true(json_is_null(json_object_get(a, "hsm_id")));
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(a, "form"), "applicant")),
	    "张三");
	assert_int_equal(json_array_size(json_object_get(a, "counters")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(
		json_array_get(json_object_get(a, "counters"), 0), "used")),
	    10);
	assert_string_equal(
	    json_string_value(json_object_get(a, "request")), text);
	json_decref(a);

	/* Altered after signing: one digit of the form. */
	memcpy(alt, text, len + 1);
	assert_non_null(p = strstr(alt, "cards_this_year=120000"));
	p[16] = '9';
	import_refused(f, alt, len, NULL, 400, "does not verify");
	/* Not a request at all, and cut short. */
	import_refused(f, "hello\n", 6, NULL, 400, "request: ");
	import_refused(f, text, len / 2, NULL, 400, "request: ");
	/* The same request again (its nonce). */
	import_refused(f, text, len, NULL, 409, "imported already");
	/* Another key under a serial the KMS knows. */
	alen = request(&impostor, GZ_ISSUER, 0, alt, sizeof(alt));
	import_refused(f, alt, alen, NULL, 409, "known by the identity key");
	/* The importer names the identity key: another is refused. */
	len = request(&gz, GZ_ISSUER, 0, text, sizeof(text));
	import_refused(f, text, len, impostor.pub, 400, "another HSM");
	/* A city the KMS does not know. */
	alen = request(&sz, "99999999", 0, alt, sizeof(alt));
	import_refused(f, alt, alen, NULL, 404, "issuer code 99999999");
	/* A fleet HSM with that serial serving another city. */
	hsm_row(f, "sz-city", "city", f->shenzhen, "TKMS00112233CCDD", 41999);
	alen = request(&sz, GZ_ISSUER, 0, alt, sizeof(alt));
	import_refused(f, alt, alen, NULL, 409, "serves another city");
	/* ... and serving its city: linked. */
	hsm = hsm_row(f, "gz-city", "city", f->guangzhou, SERIAL, 41998);
	id2 = import_ok(f, text, len); /* gz's next request, named key */
	assert_true(id2 > id);
	a = app(f, id2);
	assert_int_equal(json_integer_value(json_object_get(a, "hsm_id")), hsm);
	assert_string_equal(
	    json_string_value(json_object_get(a, "hsm")), "gz-city");
	json_decref(a);
	alen = request(&sz, SZ_ISSUER, 0, alt, sizeof(alt));
	import_ok(f, alt, alen);

	/* Listed newest first; by state. */
	assert_int_equal(
	    kms_maint_list(f->db, NULL, 0, &list, why, sizeof(why)), TKM_OK);
	assert_int_equal(json_array_size(list), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(list, 1), "id")),
	    id2);
	assert_null(json_object_get(json_array_get(list, 0), "counters"));
	json_decref(list);
	assert_int_equal(
	    kms_maint_list(f->db, "signed", 0, &list, why, sizeof(why)),
	    TKM_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(
	    kms_maint_list(f->db, NULL, 999, &list, why, sizeof(why)),
	    TKM_ERR_NO_KEY);
	assert_int_equal(audit_count(f, "maint.import"), 3);
	tkm_sm2_free(gz.key);
	tkm_sm2_free(impostor.key);
	tkm_sm2_free(sz.key);
}

static void
t_licence_checks(void **state)
{
	struct fx *f = *state;
	struct kms_user kma = user(f, "kma", "key_manager"),
			kmb = user(f, "kmb", "key_manager"),
			ca = user(f, "ca", "configurator");
	char text[TKM_MAINT_FILE_MAX + 1], lic[256], json[1024], st[16];
	char extra[64], d[TKM_MAINT_DATE_LEN + 1];
	int64_t app_id, root, other, pid;
	const char *why = NULL;
	struct city gz;
	json_t *out = NULL, *p;
	size_t len;
	int http = 0;

	city_new(&gz, SERIAL);
	len = request(&gz, GZ_ISSUER, 3, text, sizeof(text));
	app_id = import_ok(f, text, len);
	snprintf(lic, sizeof(lic), "UB K2A0 des 100 %s\\nEH 05 sm2 2 %s\\n",
	    date_in(30, d), d);
#define PAYLOAD(extra)                                                         \
	(snprintf(json, sizeof(json),                                          \
	     "{\"app\": %lld, \"licences\": \"%s\"%s}", (long long)app_id,     \
	     lic, extra),                                                      \
	    json)
	/* No root HSM in the fleet yet. */
	propose_refused(f, &kma, PAYLOAD(""), 409, "no active root HSM");
	root = hsm_row(f, "root", "root", 0, NULL, 41990);
	other = hsm_row(
	    f, "gz-business", "provincial_business", f->guangzhou, NULL, 41991);
	/* Role, form, what the payload names. */
	propose_refused(f, &ca, PAYLOAD(""), 403, "role");
	propose_refused(f, &kma, "{\"app\": 1}", 400, "licences");
	propose_refused(f, &kma, PAYLOAD(", \"colour\": 1"), 400, "colour");
	propose_refused(
	    f, &kma, PAYLOAD(", \"key_index\": 21"), 400, "key_index");
	propose_refused(f, &kma, PAYLOAD(", \"enforce\": 1"), 400, "enforce");
	propose_refused(f, &kma, PAYLOAD(", \"seq\": 3"), 400,
	    "not above the request's last_seq 3");
	snprintf(json, sizeof(json), "{\"app\": 999, \"licences\": \"\"}");
	propose_refused(f, &kma, json, 404, "no maintenance application 999");
	snprintf(json, sizeof(json),
	    "{\"app\": %lld, \"licences\": \"%s\","
	    " \"hsm\": %lld}",
	    (long long)app_id, lic, (long long)other);
	propose_refused(f, &kma, json, 409, "not an active root HSM");
	/* The licences file: a mistake names its line; nothing past. */
	snprintf(json, sizeof(json),
	    "{\"app\": %lld, \"licences\": \"UB K2A0 des 5 2099-01-01\\n"
	    "UB K2A0 aes 5 2099-01-01\\n\"}",
	    (long long)app_id);
	propose_refused(f, &kma, json, 400, "line 2");
	snprintf(lic, sizeof(lic), "UB K2A0 des 100 %s\\n", date_in(-2, d));
	propose_refused(f, &kma, PAYLOAD(""), 400, "ends in the past");

	/* A good one: stored resolved (seq, root HSM, key index). */
	snprintf(lic, sizeof(lic), "UB K2A0 des 100 %s\\nEH 05 sm2 2 %s\\n",
	    date_in(30, d), d);
	pid = propose_ok(f, &kma, PAYLOAD(""));
	assert_int_equal(kms_proposal_list(f->db, NULL, pid, &out), TKM_OK);
	p = json_object_get(out, "payload");
	assert_int_equal(json_integer_value(json_object_get(p, "seq")), 4);
	assert_int_equal(json_integer_value(json_object_get(p, "hsm")), root);
	assert_int_equal(
	    json_integer_value(json_object_get(p, "key_index")), 20);
	assert_int_equal(json_integer_value(json_object_get(p, "count")), 2);
	assert_true(json_is_true(json_object_get(p, "enforce")));
	assert_string_equal(
	    json_string_value(json_object_get(p, "serial")), SERIAL);
	json_decref(out);
	out = app(f, app_id);
	assert_int_equal(
	    json_integer_value(json_object_get(out, "open_proposal")), pid);
	assert_string_equal(
	    json_string_value(json_object_get(out, "state")), "imported");
	json_decref(out);
	/* One open proposal per application. */
	propose_refused(f, &kmb, PAYLOAD(""), 409, "still open");
	/* Dual control: not by its proposer. */
	assert_int_equal(
	    decide(f, &kma, pid, 1, (int64_t)time(NULL), &out, &why),
	    TKM_ERR_PERMISSION);
	assert_non_null(strstr(why, "another user of your role"));
	json_decref(out);
	/* Withdrawn by its proposer: the application is usable again. */
	assert_int_equal(
	    decide(f, &kma, pid, 0, (int64_t)time(NULL), &out, &why), TKM_OK);
	json_decref(out);
	assert_string_equal(
	    proposal_state(f, pid, st, sizeof(st)), "withdrawn");
	assert_app_state(f, app_id, "imported");
	/* Rejected by the other key manager: the same. */
	pid = propose_ok(f, &kmb, PAYLOAD(""));
	assert_int_equal(
	    decide(f, &kma, pid, 0, (int64_t)time(NULL), &out, &why), TKM_OK);
	json_decref(out);
	assert_string_equal(proposal_state(f, pid, st, sizeof(st)), "rejected");
	/* Expired: the same. */
	assert_int_equal(
	    propose(f, &kma, 1, PAYLOAD(""), &pid, &why, &http), TKM_OK);
	assert_int_equal(
	    decide(f, &kmb, pid, 1, (int64_t)time(NULL) + 10, &out, &why),
	    TKM_ERR_INPUT);
	json_decref(out);
	assert_string_equal(proposal_state(f, pid, st, sizeof(st)), "expired");
	assert_app_state(f, app_id, "imported");
	/* A licence over by the time of the approval: failed, nothing
	 * kept, the application still imported. */
	snprintf(lic, sizeof(lic), "UB K2A0 des 100 %s\\n", date_in(1, d));
	assert_int_equal(
	    propose(f, &kma, 7 * DAY, PAYLOAD(""), &pid, &why, &http), TKM_OK);
	assert_int_equal(
	    decide(f, &kmb, pid, 1, (int64_t)time(NULL) + 3 * DAY, &out, &why),
	    TKM_ERR_INPUT);
	assert_non_null(strstr(why, "ends in the past"));
	json_decref(out);
	assert_string_equal(proposal_state(f, pid, st, sizeof(st)), "failed");
	assert_app_state(f, app_id, "imported");
	/* Two active roots: name one. */
	hsm_row(f, "root-2", "root", 0, NULL, 41992);
	snprintf(lic, sizeof(lic), "UB K2A0 des 100 %s\\n", date_in(30, d));
	propose_refused(f, &kma, PAYLOAD(""), 400, "name the one");
	snprintf(extra, sizeof(extra), ", \"hsm\": %lld", (long long)root);
	pid = propose_ok(f, &kma, PAYLOAD(extra));
	assert_int_equal(kms_proposal_list(f->db, NULL, pid, &out), TKM_OK);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(out, "payload"), "hsm")),
	    root);
	json_decref(out);
#undef PAYLOAD
	tkm_sm2_free(gz.key);
}

/* Approve as kmb and expect rc; the proposal afterwards in *out. */
static const char *
approve(struct fx *f, const struct kms_user *kmb, int64_t pid, int want,
    json_t **out)
{
	const char *why = NULL;
	int rc = decide(f, kmb, pid, 1, (int64_t)time(NULL), out, &why);

	if (rc != want)
		fail_msg("approve %lld: %d (%s), wanted %d", (long long)pid, rc,
		    why ? why : "", want);
	return why;
}

static void
t_sign(void **state)
{
	struct fx *f = *state;
	struct kms_user kma = user(f, "kma", "key_manager"),
			kmb = user(f, "kmb", "key_manager");
	char text[TKM_MAINT_FILE_MAX + 1], lic[256], json[1024], st[16];
	char fp[TKM_MAINT_FP_HEX + 1], why[KMS_WHY], d[TKM_MAINT_DATE_LEN + 1];
	uint8_t mpub[TKM_SM2_PUB_LEN];
	struct tkm_maint_request *q = calloc(1, sizeof(*q));
	struct tkm_maint_update *u = calloc(1, sizeof(*u));
	int64_t app_id, app2, pid;
	const char *w;
	char *upd;
	struct city gz;
	json_t *out = NULL, *res, *a;
	struct hsm *root;
	size_t len;
	int http = 0;

	assert_non_null(q);
	assert_non_null(u);
	/* The root as after its initialisation: not authorised. */
	root = f->h[0] = hsm_start(0, 0, NULL);
	add_hsm(f, root, "root", "root", 0);
	root_mkey(root, mpub);
	tkm_maint_fingerprint(mpub, fp);
	city_new(&gz, SERIAL);
	len = request(&gz, GZ_ISSUER, 0, text, sizeof(text));
	assert_int_equal(tkm_maint_request_parse(text, len, q, &w), TKM_OK);
	app_id = import_ok(f, text, len);
	snprintf(lic, sizeof(lic), "UB K2A0 des 7 %s\\nU1,U3 K2A1 sm4 5 %s\\n",
	    date_in(60, d), d);
	snprintf(json, sizeof(json), "{\"app\": %lld, \"licences\": \"%s\"}",
	    (long long)app_id, lic);

	/* Not in the authorised state: EW refused (17), the proposal failed
	 * with the reason, the application imported again. */
	pid = propose_ok(f, &kma, json);
	w = approve(f, &kmb, pid, TKM_ERR_NOT_AUTH, &out);
	assert_non_null(strstr(w, "ERR 17"));
	assert_non_null(strstr(w, "not in the authorised state"));
	assert_non_null(strstr(w, "tkms hsm auth open"));
	assert_non_null(strstr(w, "root HSM 'root'"));
	json_decref(out);
	assert_string_equal(proposal_state(f, pid, st, sizeof(st)), "failed");
	assert_int_equal(kms_proposal_list(f->db, NULL, pid, &out), TKM_OK);
	res = json_object_get(out, "result");
	assert_non_null(
	    strstr(json_string_value(json_object_get(res, "error")), "ERR 17"));
	json_decref(out);
	a = app(f, app_id);
	assert_string_equal(
	    json_string_value(json_object_get(a, "state")), "imported");
	assert_true(json_is_null(json_object_get(a, "proposal_id")));
	assert_true(json_is_null(json_object_get(a, "seq")));
	json_decref(a);
	assert_int_equal(kms_maint_export(f->db, (int64_t)time(NULL), "kma",
			     app_id, &out, why, sizeof(why), &http),
	    TKM_ERR_INPUT);
	assert_int_equal(http, 409);

	/* The root's security admin opens it; the same licences again. */
	role_cmd(root, "login", "C");
	console(root, "auth", "open", "--minutes", "10", NULL);
	pid = propose_ok(f, &kma, json);
	approve(f, &kmb, pid, TKM_OK, &out);
	assert_string_equal(
	    json_string_value(json_object_get(out, "state")), "executed");
	res = json_object_get(out, "result");
	assert_int_equal(json_integer_value(json_object_get(res, "seq")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(res, "licences")), 3);
	assert_string_equal(
	    json_string_value(json_object_get(res, "mkey")), fp);
	json_decref(out);
	a = app(f, app_id);
	assert_string_equal(
	    json_string_value(json_object_get(a, "state")), "signed");
	assert_int_equal(
	    json_integer_value(json_object_get(a, "proposal_id")), pid);
	assert_string_equal(json_string_value(json_object_get(a, "mkey")), fp);
	json_decref(a);
	/* Licences are set once per request. */
	propose_refused(f, &kma, json, 409, "is signed");

	/* Exported: the update, signed by the maintenance key, for this
	 * request. */
	assert_int_equal(kms_maint_export(f->db, (int64_t)time(NULL), "kmb",
			     app_id, &out, why, sizeof(why), &http),
	    TKM_OK);
	assert_non_null(
	    upd = strdup(json_string_value(json_object_get(out, "update"))));
	assert_int_equal(
	    tkm_maint_update_parse(upd, strlen(upd), u, &w), TKM_OK);
	assert_int_equal(
	    tkm_maint_verify(upd, u->signed_len, mpub, u->sig), TKM_OK);
	assert_int_equal(tkm_maint_verify(upd, u->signed_len, gz.pub, u->sig),
	    TKM_ERR_VERIFY);
	assert_string_equal(u->serial, SERIAL);
	assert_memory_equal(u->nonce, q->nonce, sizeof(u->nonce));
	assert_int_equal(u->seq, 1);
	assert_int_equal(u->enforce, 1);
	assert_int_equal(u->nlic, 3);
	assert_string_equal(u->lic[0].cmd, "UB");
	assert_int_equal(u->lic[0].index, 0x2A0);
	assert_int_equal(u->lic[0].count, 7);
	assert_string_equal(u->lic[2].cmd, "U3");
	assert_int_equal(u->lic[2].lib, TKM_MAINT_SM4);
	json_decref(out);
	assert_app_state(f, app_id, "exported");
	/* Again: the same file; audited each time. */
	assert_int_equal(kms_maint_export(f->db, (int64_t)time(NULL), "kmb",
			     app_id, &out, why, sizeof(why), &http),
	    TKM_OK);
	assert_string_equal(
	    json_string_value(json_object_get(out, "update")), upd);
	json_decref(out);
	assert_int_equal(audit_count(f, "maint.export"), 2);
	free(upd);

	/* The next request, --no-enforce and a seq of its own; then the
	 * root goes away: failed, saying so, and imported again. */
	len = request(&gz, GZ_ISSUER, 1, text, sizeof(text));
	app2 = import_ok(f, text, len);
	snprintf(json, sizeof(json),
	    "{\"app\": %lld, \"licences\": \"%s\", \"enforce\": false, "
	    "\"seq\": 9}",
	    (long long)app2, lic);
	pid = propose_ok(f, &kma, json);
	hsm_kill(root);
	w = approve(f, &kmb, pid, TKM_ERR_CLOSED, &out);
	assert_non_null(strstr(w, "unreachable"));
	json_decref(out);
	assert_app_state(f, app2, "imported");
	tkm_sm2_free(gz.key);
	free(q);
	free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(t_import, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_licence_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_sign, setup, teardown),
	};
	const char *build = getenv("TKMS_BUILD");
	char why[KDB_WHY];
	int rc;

	if (build != NULL && build[0] != '\0') {
		snprintf(hsmd, sizeof(hsmd), "%s/tkms-hsmd", build);
		snprintf(cli, sizeof(cli), "%s/tkms", build);
	}
#if defined(TKMS_HSMD) && defined(TKMS_CLI)
	else {
		snprintf(hsmd, sizeof(hsmd), "%s", TKMS_HSMD);
		snprintf(cli, sizeof(cli), "%s", TKMS_CLI);
	}
#endif
	if (hsmd[0] == '\0' || access(hsmd, X_OK) != 0 ||
	    access(cli, X_OK) != 0) {
		fprintf(stderr, "test_maint_kms: no tkms-hsmd or tkms (set"
				" TKMS_BUILD)\n");
		return 1;
	}
	if (kms_kinds_register(&kms_maint_kind_licence, 1) != TKM_OK) {
		fprintf(stderr, "test_maint_kms: cannot register the kind\n");
		return 1;
	}
	setenv("TKMS_ARGON2_FAST", "1", 1); /* enrolment: tests only */
	signal(SIGPIPE, SIG_IGN);
	pg_base = getenv("TKMS_PG_URL");
	if (pg_base != NULL && pg_base[0] == '\0')
		pg_base = NULL;
	if (pg_base != NULL &&
	    kdb_open(pg_base, &pg_admin, why, sizeof(why)) != TKM_OK) {
		fprintf(stderr, "test_maint_kms: %s: %s\n", pg_base, why);
		return 1;
	}
	print_message("backend: %s\n", pg_base ? "postgresql" : "sqlite");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	kdb_close(pg_admin);
	return rc;
}
