/*
 * fuzz_kmsapi.c - the routes of tkms-kmsd (api.h, docs/api.md) through
 * kms_api_handle(), as the HTTP layer calls it, on a SQLite KMS database
 * in a temporary directory, fresh for every input.
 *
 * Input: text, one or more requests separated by a line "%%":
 *   METHOD WHO TARGET LF
 *   [body]
 * WHO is the session: "kma" or "kmb" (key managers), "sup" (supervisor),
 * "aud" (auditor), "-" (no token); anything else is sent as the token
 * itself. TARGET is a path with an optional ?query (name=value pairs,
 * %XX decoded, as the server hands them to kms_req_arg). A body that
 * is present is parsed with json_loadb (duplicate keys refused) as the
 * HTTP layer does; one that is not a JSON object is skipped (the HTTP
 * layer answers it 400 before any route). At most MAX_REQS requests.
 * The input cannot sign: a body whose "request" is "$REQ" gets a signed
 * maintenance request of the HSM of application 1 (a new nonce), "$REQ2"
 * one of the same serial signed by another identity key.
 *
 * The database (made once, copied for each input): the reference data,
 * the four users above with a session each, HSMs of every role on
 * 127.0.0.1 ports that nothing listens on (bound, never listening: no
 * other process can take them), one with a management port the same
 * way; root keys (active, archived, compromised) with events and issued
 * copies; a maintenance application; open proposals of every key
 * manager kind (ids in fixture order, see init) and one expired. No
 * configurator has a session: hsm.add and hsm.update could point an HSM
 * at a host name, and a flow would then look it up in the DNS.
 *
 * Invariants, for every request:
 *   - the status is one docs/api.md lists, never 500 (the database is
 *     healthy); the body is a JSON object; at 400 and above it is
 *     {"error": the status's slug, "message": text};
 *   - a request succeeds (below 400) only on a route docs/api.md gives
 *     the caller's role (the table mays[], written down again here), and
 *     without a session only the login;
 *   - an answer of 400 or above writes nothing but audit rows, failed
 *     logins' counters and sessions (docs/api.md), the health the HSM
 *     checks record, the proposal it decided: open -> expired (409) or
 *     open -> failed (a flow that could not run), the `planned` root key
 *     a failed generation leaves (docs/kms-flows.md), and the `changed`
 *     time of a root key or application that a failed flow put back;
 *   - audit rows are only ever appended, and the chain verifies
 *     (kms_audit_verify) after every input;
 *   - no crash, leak or undefined behaviour.
 * TKMS_FUZZ_VERBOSE=1 prints every request's status and body.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sqlite3.h>

#include "api.h"
#include "auth.h"
#include "http.h"
#include "kaudit.h"
#include "kdb.h"
#include "tkm/crypto.h"
#include "tkm/maint.h"
#include "tkm/sm2.h"

/* Not assert(): the check must stay in release (NDEBUG) builds too. */
#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #x);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

#define MAX_REQS   6
#define MAX_ARGS   16
#define LINE_MAX_  2048
#define PW         "password-1"
#define IDLE       (10 * 366 * 86400LL) /* sessions outlive any run */
#define SEP        "\n%%\n"
#define NPORTS     7
#define MAX_TABLES 32 /* tables the digest reads */

/* --- query strings --------------------------------------------------------
 *
 * kms_req_arg() asks libmicrohttpd for the query of req->conn_. There is
 * no connection here: this definition takes the place of the library's
 * (the executable's symbol wins), and reads the table conn_ points to.
 */
struct query {
	size_t n;
	char *k[MAX_ARGS], *v[MAX_ARGS];
	char buf[LINE_MAX_];
};

const char *
MHD_lookup_connection_value(
    struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key)
{
	const struct query *q = (const struct query *)(void *)connection;
	size_t i;

	if (q == NULL || kind != MHD_GET_ARGUMENT_KIND || key == NULL)
		return NULL;
	for (i = 0; i < q->n; i++)
		if (strcmp(q->k[i], key) == 0)
			return q->v[i];
	return NULL;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %XX and '+' decoded in place, as libmicrohttpd does. */
static void
unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%' && hexval(s[1]) >= 0 &&
			   hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) << 4 | hexval(s[2]));
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static void
query_parse(struct query *q, const char *text)
{
	char *p, *amp, *eq;

	memset(q, 0, sizeof(*q));
	snprintf(q->buf, sizeof(q->buf), "%s", text);
	for (p = q->buf; p != NULL && q->n < MAX_ARGS; p = amp) {
		if ((amp = strchr(p, '&')) != NULL)
			*amp++ = '\0';
		if (*p == '\0')
			continue;
		q->k[q->n] = p;
		q->v[q->n] = NULL; /* "?name" without a value */
		if ((eq = strchr(p, '=')) != NULL) {
			*eq = '\0';
			q->v[q->n] = eq + 1;
			unescape(q->v[q->n]);
		}
		unescape(q->k[q->n]);
		q->n++;
	}
}

/* --- the fixture ------------------------------------------------------------
 */

static struct user {
	const char *name, *role;
	char token[KMS_TOKEN_LEN + 1];
} users[] = {
    {"kma", "key_manager", ""},
    {"kmb", "key_manager", ""},
    {"sup", "supervisor", ""},
    {"aud", "auditor", ""},
};
#define NUSERS (sizeof(users) / sizeof(users[0]))

static char top[64], tpl[96], work[96], dbfile[128];
static sqlite3 *tplmem; /* the template database, in memory */
static struct kms_api api;
/* Signed requests an input may name as "$REQ" (the same identity as
 * application 1, a new nonce) and "$REQ2" (another identity). */
static char req_same[TKM_MAINT_FILE_MAX], req_other[TKM_MAINT_FILE_MAX];
static int ready, verbose;
static int ports_fd[NPORTS];
static unsigned ports[NPORTS];
static sqlite3 *ro; /* a reader of the work database, for digests */
static sqlite3_stmt *table_st[MAX_TABLES], *audit_st, *states_st;

static void
rm_db(const char *dir)
{
	static const char *const names[] = {
	    "kms.db", "kms.db-wal", "kms.db-shm", "kms.db-journal"};
	char path[160];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) <
		    (int)sizeof(path))
			unlink(path);
	}
}

/* The thread's connection, which kms_api_handle() opens on first use. */
static void
api_db_close(void)
{
	struct kdb *db = pthread_getspecific(api.key);

	kdb_close(db);
	CHECK(pthread_setspecific(api.key, NULL) == 0);
}

static void
cleanup(void)
{
	size_t i;

	for (i = 0; i < sizeof(table_st) / sizeof(table_st[0]); i++)
		sqlite3_finalize(table_st[i]);
	sqlite3_finalize(audit_st);
	sqlite3_finalize(states_st);
	sqlite3_close(ro);
	api_db_close();
	rm_db(tpl);
	rm_db(work);
	rmdir(tpl);
	rmdir(work);
	rmdir(top);
	sqlite3_close(tplmem);
	for (i = 0; i < NPORTS; i++)
		close(ports_fd[i]);
}

/* A port of 127.0.0.1 that refuses connections: bound, not listening. */
static unsigned
closed_port(int *fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	CHECK((*fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(*fd, (struct sockaddr *)&sa, &len) == 0);
	return ntohs(sa.sin_port);
}

static int64_t
one_int(struct kdb *db, const char *sql, const char *arg)
{
	int64_t v = 0;

	CHECK(kdb_int1(db, &v, sql, KDB_TEXT(arg)) == TKM_OK);
	return v;
}

static int64_t
add_hsm(struct kdb *db, const char *name, const char *role, int64_t city,
    unsigned port, unsigned mport, int64_t now)
{
	int64_t id = 0;

	CHECK(kdb_int1(db, &id,
		  "INSERT INTO hsms (name, role, city_id, host, port,"
		  " mgmt_host, mgmt_port, serial, created) VALUES ($1, $2, $3,"
		  " '127.0.0.1', $4, $5, $6, $7, $8) RETURNING id",
		  KDB_TEXT(name), KDB_TEXT(role),
		  city > 0 ? KDB_INT(city) : KDB_NULL, KDB_INT(port),
		  mport > 0 ? KDB_TEXT("127.0.0.1") : KDB_NULL,
		  mport > 0 ? KDB_INT(mport) : KDB_NULL,
		  KDB_TEXT(mport > 0 ? "TKMSFUZZCITY0001" : NULL),
		  KDB_INT(now)) == TKM_OK);
	return id;
}

static int64_t
add_root(struct kdb *db, const char *tmpl, const char *alg, int version,
    unsigned idx, const char *state, int64_t hsm, int64_t now)
{
	int64_t id = 0,
		t = one_int(
		    db, "SELECT id FROM key_templates WHERE name = $1", tmpl);

	CHECK(kdb_int1(db, &id,
		  "INSERT INTO root_keys (template_id, alg, version, hsm_id,"
		  " idx, kcv, state, created, changed) VALUES ($1, $2, $3, $4,"
		  " $5, 'A1B2C3D4E5F60718', $6, $7, $7) RETURNING id",
		  KDB_INT(t), KDB_TEXT(alg), KDB_INT(version), KDB_INT(hsm),
		  KDB_INT(idx), KDB_TEXT(state), KDB_INT(now)) == TKM_OK);
	CHECK(kdb_exec(db,
		  "INSERT INTO key_events (root_key_id, kind, actor, time)"
		  " VALUES ($1, 'generated', 'kma+kmb', $2)",
		  KDB_INT(id), KDB_INT(now)) == TKM_OK);
	return id;
}

static void
add_issued(struct kdb *db, int64_t root, int64_t city, int64_t hsm,
    const char *alg, unsigned idx, int version, const char *state, int64_t now)
{
	CHECK(kdb_exec(db,
		  "INSERT INTO issued_keys (root_key_id, city_id, hsm_id, alg,"
		  " idx, kcv, version, state, created, changed) VALUES ($1, $2,"
		  " $3, $4, $5, 'A1B2C3D4E5F60718', $6, $7, $8, $8)",
		  KDB_INT(root), KDB_INT(city), KDB_INT(hsm), KDB_TEXT(alg),
		  KDB_INT(idx), KDB_INT(version), KDB_TEXT(state),
		  KDB_INT(now)) == TKM_OK);
}

static const char *
token_of(const char *who)
{
	size_t i;

	if (strcmp(who, "-") == 0)
		return NULL;
	for (i = 0; i < NUSERS; i++)
		if (strcmp(users[i].name, who) == 0)
			return users[i].token;
	return who;
}

/* A request of the fixture; its status. */
static int
call(const char *who, const char *method, const char *path, json_t *body)
{
	struct kms_req req = {
	    method, path, token_of(who), "127.0.0.1:1", body, NULL};
	struct kms_resp resp = {0, NULL};
	int status;

	kms_api_handle(&api, &req, &resp);
	status = resp.status != 0 ? resp.status : 200;
	if (verbose || status >= 300) {
		char *t =
		    resp.body ? json_dumps(resp.body, JSON_COMPACT) : NULL;

		fprintf(stderr, "fixture %s %s: %d %s\n", method, path, status,
		    t != NULL ? t : "");
		free(t);
	}
	json_decref(resp.body);
	json_decref(body);
	return status;
}

static void
propose(const char *kind, json_t *payload)
{
	CHECK(call("kma", "POST", "/api/proposals",
		  json_pack("{s:s, s:o}", "kind", kind, "payload", payload)) ==
	      201);
}

/* A signed maintenance request of the city HSM gz-city (test identity
 * d = id, nonce all n). */
static void
maint_request(uint8_t id, uint8_t n, char *out, size_t cap, size_t *len)
{
	uint8_t d[TKM_SM2_PRIV_LEN] = {0};
	struct tkm_maint_request *q = calloc(1, sizeof(*q));
	struct tkm_sm2 *k = NULL;
	const char *why = NULL;

	CHECK(q != NULL);
	d[TKM_SM2_PRIV_LEN - 1] = id;
	CHECK(tkm_sm2_from_priv(d, &k) == TKM_OK);
	CHECK(tkm_sm2_pub(k, q->identity) == TKM_OK);
	snprintf(q->serial, sizeof(q->serial), "TKMSFUZZCITY0001");
	memset(q->nonce, n, sizeof(q->nonce));
	q->time = (int64_t)time(NULL);
	CHECK(tkm_maint_form_set(
		  &q->form, TKM_MF_ISSUER_CODE, "02205810", 8, &why) == TKM_OK);
	CHECK(tkm_maint_form_set(
		  &q->form, TKM_MF_HSM_NUMBER, "GZ-01", 5, &why) == TKM_OK);
	CHECK(tkm_maint_form_set(
		  &q->form, TKM_MF_ORGANISATION, "fuzz", 4, &why) == TKM_OK);
	CHECK(tkm_maint_form_set(
		  &q->form, TKM_MF_APPLICANT, "tester", 6, &why) == TKM_OK);
	CHECK(tkm_maint_form_set(
		  &q->form, TKM_MF_DATE, "2026-01-05", 10, &why) == TKM_OK);
	q->nlic = 1;
	memcpy(q->lic[0].cmd, "UB", 3);
	q->lic[0].lib = TKM_MAINT_DES;
	q->lic[0].index = 0x2A0;
	q->lic[0].count = 990;
	q->lic[0].used = 10;
	q->lic[0].until = q->time + 30 * 86400;
	CHECK(tkm_maint_request_write(q, out, cap, len, &why) == TKM_OK);
	CHECK(tkm_maint_sign(k, out, cap, len) == TKM_OK);
	tkm_sm2_free(k);
	free(q);
}

/* Copy the whole database src into dst (the backup API: dst keeps its
 * file and its connections, which see the new content). */
static void
copy_db(sqlite3 *dst, sqlite3 *src)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");

	CHECK(b != NULL);
	CHECK(sqlite3_backup_step(b, -1) == SQLITE_DONE);
	CHECK(sqlite3_backup_finish(b) == SQLITE_OK);
}

/*
 * The template database, through the API where it can be (proposals,
 * the maintenance import), directly where only a flow against real HSMs
 * could make the rows (root and issued keys). Proposal ids: 1
 * template.update, 2 key.generate, 3 key.issue, 4 key.rotate, 5
 * key.compromise, 6 key.destroy, 7 key.reissue, 8 maint.licence, 9
 * template.update (expired).
 */
static void
make_template(void)
{
	char hash[KMS_HASH_MAX], why[KDB_WHY], req[TKM_MAINT_FILE_MAX];
	const char *w = NULL;
	struct kms_user u;
	struct kdb *db = NULL;
	int64_t now = (int64_t)time(NULL), id, gz, sz, root, biz, clr, tac,
		p1v1, ecash;
	size_t i, len = 0;

	CHECK(kdb_open(tpl, &db, why, sizeof(why)) == TKM_OK);
	CHECK(kms_password_hash(PW, hash) == TKM_OK);
	for (i = 0; i < NUSERS; i++) {
		CHECK(kms_user_insert(db, now, users[i].name, users[i].role,
			  hash, &id, &w) == TKM_OK);
		CHECK(kms_login(db, now, IDLE, users[i].name, PW,
			  users[i].token, &u, &w) == TKM_OK);
	}
	for (i = 0; i < NPORTS; i++)
		ports[i] = closed_port(&ports_fd[i]);
	gz = one_int(
	    db, "SELECT id FROM institutions WHERE city_code = $1", "5810");
	sz = one_int(
	    db, "SELECT id FROM institutions WHERE city_code = $1", "5840");
	root = add_hsm(db, "root", "root", 0, ports[0], 0, now);
	biz = add_hsm(
	    db, "gz-business", "provincial_business", gz, ports[1], 0, now);
	clr = add_hsm(db, "clearing", "clearing", 0, ports[2], 0, now);
	(void)add_hsm(db, "gz-city", "city", gz, ports[3], ports[4], now);
	(void)add_hsm(db, "sz-city", "city", sz, ports[6], 0, now);
	(void)add_hsm(db, "standby", "standby", 0, ports[5], 0, now);
	/* tac (n 8), purchase_01 (n 3, v1 archived, v2 active), ecash_ac
	 * (n 16, compromised), load_01 (n 5, SM4). */
	tac = add_root(db, "tac", "DES", 1, 0x308, "active", root, now);
	p1v1 =
	    add_root(db, "purchase_01", "DES", 1, 0x303, "archived", root, now);
	(void)add_root(db, "purchase_01", "DES", 2, 0x323, "active", root, now);
	ecash =
	    add_root(db, "ecash_ac", "DES", 1, 0x310, "compromised", root, now);
	(void)add_root(db, "load_01", "SM4", 1, 0x405, "active", root, now);
	add_issued(db, tac, gz, biz, "DES", 0x308, 1, "active", now);
	add_issued(db, tac, gz, clr, "DES", 0x500, 1, "active", now);
	add_issued(db, p1v1, gz, biz, "DES", 0x303, 1, "archived", now);
	add_issued(db, ecash, gz, biz, "DES", 0x310, 1, "compromised", now);
	kdb_close(db);

	CHECK(kms_api_init(&api, tpl, IDLE) == TKM_OK);
	propose("template.update", json_pack("{s:s, s:{s:s}}", "name", "tac",
				       "set", "category", "consumption"));
	propose("key.generate",
	    json_pack("{s:I, s:[s], s:[s]}", "hsm", (json_int_t)root,
		"templates", "app_lock", "algs", "DES"));
	propose("key.issue", json_pack("{s:I, s:[s]}", "hsm", (json_int_t)biz,
				 "templates", "tac"));
	propose("key.rotate", json_pack("{s:I}", "root_key", (json_int_t)tac));
	propose("key.compromise",
	    json_pack("{s:I, s:s}", "root_key", (json_int_t)p1v1, "reason",
		"a card was lost"));
	propose(
	    "key.destroy", json_pack("{s:I}", "root_key", (json_int_t)ecash));
	propose(
	    "key.reissue", json_pack("{s:I}", "root_key", (json_int_t)p1v1));
	maint_request(7, 0xA5, req, sizeof(req), &len);
	CHECK(call("kma", "POST", "/api/maint",
		  json_pack("{s:s%}", "request", req, len)) == 201);
	propose("maint.licence", json_pack("{s:i, s:s}", "app", 1, "licences",
				     "UB K2A0 des 1000 2099-12-31\n"));
	propose(
	    "template.update", json_pack("{s:s, s:{s:I}}", "name", "load_01",
				   "set", "clearing", (json_int_t)1));
	api_db_close();
	CHECK(kdb_open(tpl, &db, why, sizeof(why)) == TKM_OK);
	CHECK(kdb_exec(db, "UPDATE proposals SET expires = $1 WHERE id = 9",
		  KDB_INT(now - 1)) == TKM_OK);
	/* Everything into kms.db itself: the template is that one file. */
	CHECK(kdb_exec_(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, 0) ==
	      TKM_OK);
	kdb_close(db);
	len = 0;
	maint_request(7, 0xB6, req_same, sizeof(req_same), &len);
	maint_request(8, 0xC7, req_other, sizeof(req_other), &len);
}

/* --- what the database holds ------------------------------------------------
 *
 * Every row of every table, as text, but for what an answer of 400 or
 * above may change (see the top of the file): the audit (checked on its
 * own), sessions, the login counters of users, the health columns of
 * HSMs, and the decision columns of proposals (checked in
 * check_proposals).
 */

/* A growable text. */
struct text {
	char *p;
	size_t len, cap;
};

static void
text_add(struct text *s, const char *p, size_t n)
{
	char *grown;

	if (s->len + n + 1 > s->cap) {
		s->cap = 2 * (s->len + n + 1);
		CHECK((grown = realloc(s->p, s->cap)) != NULL);
		s->p = grown;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

/* What the database holds: a hash of each table's rows, the number of
 * audit rows, and the proposals' states ("id:state\n" each). */
struct snap {
	uint64_t h[MAX_TABLES];
	int64_t audit_rows;
	struct text states;
};

static int
excluded(const char *table, const char *col)
{
	static const char *const cols[][2] = {{"users", "failures"},
	    {"users", "locked_until"}, {"hsms", "health"}, {"hsms", "last_nc"},
	    {"hsms", "dk_kcv"}, {"hsms", "authorised"}, {"proposals", "state"},
	    {"proposals", "approver_id"}, {"proposals", "decided"},
	    {"proposals", "result"},
	    /* A rotation archives the old root key and puts it back active
	     * when A0 fails; a maintenance approval claims the application
	     * and releases it (docs/kms-lifecycle.md, docs/api.md): the
	     * state is as before, the time of the change is not. */
	    {"root_keys", "changed"}, {"maint_apps", "changed"}};
	size_t i;

	for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		if (strcmp(cols[i][0], table) == 0 &&
		    strcmp(cols[i][1], col) == 0)
			return 1;
	return 0;
}

/* Rows a failed flow may leave (docs/kms-flows.md): the `planned` root
 * key that key generation writes before A0, to take up again. */
static const char *
row_filter(const char *table)
{
	if (strcmp(table, "root_keys") == 0)
		return " WHERE NOT (state = 'planned' AND kcv IS NULL)";
	return "";
}

/* fz_hash(v, ...): an aggregate, FNV-1a over every value of every row
 * (type and bytes: NULL, 0 and '' differ), in the order rows come. */
static void
fz_hash_step(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	uint64_t *h = sqlite3_aggregate_context(cx, sizeof(*h));
	const unsigned char *p;
	int i, j, n;

	if (h == NULL)
		return;
	if (*h == 0)
		*h = 14695981039346656037ULL;
	for (i = 0; i < argc; i++) {
		*h = (*h ^ (uint64_t)sqlite3_value_type(argv[i])) *
		     1099511628211ULL;
		p = sqlite3_value_blob(argv[i]);
		n = sqlite3_value_bytes(argv[i]);
		for (j = 0; j < n; j++)
			*h = (*h ^ p[j]) * 1099511628211ULL;
		*h = (*h ^ 0xFF) * 1099511628211ULL; /* end of the value */
	}
}

static void
fz_hash_final(sqlite3_context *cx)
{
	uint64_t *h = sqlite3_aggregate_context(cx, 0);

	sqlite3_result_int64(cx, h != NULL ? (sqlite3_int64)*h : 0);
}

/*
 * Per table, made once from the schema: a statement that hashes its rows
 * (without the excluded columns) and, to show what changed, the text of
 * the same rows.
 */
static char *table_name[MAX_TABLES], *table_rows_sql[MAX_TABLES];
static size_t ntables;

static void
snap_prepare(void)
{
	static struct text hash, rows;
	sqlite3_stmt *t = NULL, *c = NULL;
	char q[256];
	const char *name, *col;
	size_t ncols;

	CHECK(sqlite3_create_function(ro, "fz_hash", -1,
		  SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL, fz_hash_step,
		  fz_hash_final) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(ro,
		  "SELECT name FROM sqlite_master WHERE type = 'table'"
		  " AND name NOT IN ('audit', 'sessions')"
		  " AND name NOT LIKE 'sqlite%' ORDER BY name",
		  -1, &t, NULL) == SQLITE_OK);
	while (sqlite3_step(t) == SQLITE_ROW) {
		CHECK(ntables < MAX_TABLES);
		name = (const char *)sqlite3_column_text(t, 0);
		CHECK((table_name[ntables] = strdup(name)) != NULL);
		hash.len = rows.len = 0;
		text_add(&hash, "SELECT fz_hash(", 15);
		text_add(&rows, "SELECT ", 7);
		snprintf(q, sizeof(q), "PRAGMA table_info(\"%s\")", name);
		CHECK(sqlite3_prepare_v2(ro, q, -1, &c, NULL) == SQLITE_OK);
		for (ncols = 0; sqlite3_step(c) == SQLITE_ROW;) {
			col = (const char *)sqlite3_column_text(c, 1);
			if (excluded(name, col))
				continue;
			snprintf(q, sizeof(q), "%s\"%s\"",
			    ncols > 0 ? ", " : "", col);
			text_add(&hash, q, strlen(q));
			snprintf(q, sizeof(q), "%squote(\"%s\")",
			    ncols > 0 ? " || '|' || " : "", col);
			text_add(&rows, q, strlen(q));
			ncols++;
		}
		CHECK(sqlite3_finalize(c) == SQLITE_OK);
		snprintf(q, sizeof(q),
		    ") FROM (SELECT * FROM \"%s\"%s ORDER BY"
		    " rowid)",
		    name, row_filter(name));
		text_add(&hash, q, strlen(q));
		snprintf(q, sizeof(q), " FROM \"%s\"%s ORDER BY rowid", name,
		    row_filter(name));
		text_add(&rows, q, strlen(q));
		CHECK(sqlite3_prepare_v2(ro, hash.p, -1, &table_st[ntables],
			  NULL) == SQLITE_OK);
		CHECK((table_rows_sql[ntables] = strdup(rows.p)) != NULL);
		ntables++;
	}
	CHECK(sqlite3_finalize(t) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(ro, "SELECT COUNT(*) FROM audit", -1,
		  &audit_st, NULL) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(ro,
		  "SELECT group_concat(id || ':' || state || char(10), '')"
		  " FROM (SELECT id, state FROM proposals ORDER BY id)",
		  -1, &states_st, NULL) == SQLITE_OK);
}

static void
snap_take(struct snap *s)
{
	const unsigned char *v;
	size_t i;

	for (i = 0; i < ntables; i++) {
		CHECK(sqlite3_step(table_st[i]) == SQLITE_ROW);
		s->h[i] = (uint64_t)sqlite3_column_int64(table_st[i], 0);
		CHECK(sqlite3_reset(table_st[i]) == SQLITE_OK);
	}
	CHECK(sqlite3_step(audit_st) == SQLITE_ROW);
	s->audit_rows = sqlite3_column_int64(audit_st, 0);
	CHECK(sqlite3_reset(audit_st) == SQLITE_OK);
	s->states.len = 0;
	text_add(&s->states, "", 0);
	CHECK(sqlite3_step(states_st) == SQLITE_ROW);
	if ((v = sqlite3_column_text(states_st, 0)) != NULL)
		text_add(&s->states, (const char *)v,
		    (size_t)sqlite3_column_bytes(states_st, 0));
	CHECK(sqlite3_reset(states_st) == SQLITE_OK);
}

static void
snap_copy(struct snap *dst, const struct snap *src)
{
	memcpy(dst->h, src->h, sizeof(dst->h));
	dst->audit_rows = src->audit_rows;
	dst->states.len = 0;
	text_add(&dst->states, src->states.p, src->states.len);
}

/* The template's digest, and that of the database as it is now. */
static struct snap tpl_snap, cur;

/* The rows of table i now, on stderr (what a failed check found). */
static void
show_table(size_t i)
{
	sqlite3_stmt *st = NULL;

	fprintf(stderr, "%s now:\n", table_name[i]);
	CHECK(sqlite3_prepare_v2(ro, table_rows_sql[i], -1, &st, NULL) ==
	      SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		fprintf(stderr, "  %s\n", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/* After an error answer: each proposal kept its state, or went open ->
 * expired, or (a flow that could not run) open -> failed. */
static void
check_proposals(const struct text *b, const struct text *a)
{
	const char *p = b->p, *q = a->p, *pe, *qe;

	CHECK(b->len == 0 || b->p[b->len - 1] == '\n');
	while (*p != '\0' && *q != '\0') {
		pe = strchr(p, '\n');
		qe = strchr(q, '\n');
		CHECK(pe != NULL && qe != NULL);
		if (pe - p != qe - q || memcmp(p, q, (size_t)(pe - p)) != 0) {
			const char *ps = memchr(p, ':', (size_t)(pe - p));
			const char *qs = memchr(q, ':', (size_t)(qe - q));

			CHECK(ps != NULL && qs != NULL && ps - p == qs - q &&
			      memcmp(p, q, (size_t)(ps - p)) == 0);
			CHECK(strncmp(ps, ":open\n", 6) == 0);
			CHECK(strncmp(qs, ":expired\n", 9) == 0 ||
			      strncmp(qs, ":failed\n", 8) == 0);
		}
		p = pe + 1;
		q = qe + 1;
	}
	CHECK(*p == '\0' && *q == '\0');
}

/* --- the work database
 * --------------------------------------------------------
 *
 * A copy of the template file, opened once by the API's connection
 * (kdb_open: WAL and its pragmas) and by a reader for the digests; each
 * input restores it from the in-memory template with the backup API, so
 * that both connections stay open.
 */

static void
open_work(void)
{
	char why[KDB_WHY], path[160], buf[8192];
	struct kdb *db = NULL;
	sqlite3 *f = NULL;
	FILE *in, *out;
	size_t n;

	snprintf(path, sizeof(path), "%s/kms.db", tpl);
	CHECK((in = fopen(path, "rb")) != NULL);
	CHECK((out = fopen(dbfile, "wb")) != NULL);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		CHECK(fwrite(buf, 1, n, out) == n);
	fclose(in);
	CHECK(fclose(out) == 0);
	CHECK(kdb_open(work, &db, why, sizeof(why)) == TKM_OK);
	CHECK(pthread_setspecific(api.key, db) == 0);
	/* Read only, but opened read-write: the backup writes through it. */
	CHECK(sqlite3_open_v2(dbfile, &ro, SQLITE_OPEN_READWRITE, NULL) ==
	      SQLITE_OK);
	sqlite3_busy_timeout(ro, KDB_BUSY_MS);
	CHECK(
	    sqlite3_open_v2(path, &f, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	CHECK(sqlite3_open(":memory:", &tplmem) == SQLITE_OK);
	copy_db(tplmem, f);
	sqlite3_close(f);
	snap_prepare();
	snap_take(&tpl_snap);
}

static void
init(void)
{
	/* Argon2id at its test cost (docs/api.md: tests only). */
	setenv("TKMS_ARGON2_FAST", "1", 1);
	verbose = getenv("TKMS_FUZZ_VERBOSE") != NULL;
	snprintf(top, sizeof(top), "%s/fuzz_kmsapi.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	CHECK(mkdtemp(top) != NULL);
	snprintf(tpl, sizeof(tpl), "%s/tpl", top);
	snprintf(work, sizeof(work), "%s/work", top);
	snprintf(dbfile, sizeof(dbfile), "%s/kms.db", work);
	CHECK(mkdir(tpl, 0700) == 0 && mkdir(work, 0700) == 0);
	atexit(cleanup);
	make_template();
	api.db_url = work;
	open_work();
	ready = 1;
}

/* The template's content again, for the next input. */
static void
reset_db(void)
{
	copy_db(ro, tplmem);
	snap_copy(&cur, &tpl_snap);
}

/* --- one request ------------------------------------------------------------
 */

/*
 * Who may succeed on which route (docs/api.md), written down again here
 * rather than read from the route tables: KM the key managers, SUP the
 * supervisor, AUD the auditor, NONE no valid session. Approve and reject
 * succeed only for a user of the proposal's role, and every proposal
 * here is a key manager's. '#' is a decimal id.
 */
enum { NONE = 1, KM = 2, SUP = 4, AUD = 8, ANY = KM | SUP | AUD };

static const struct may {
	const char *method, *path;
	unsigned who;
} mays[] = {
    {"POST", "/api/login", NONE | ANY},
    {"POST", "/api/logout", ANY},
    {"GET", "/api/me", ANY},
    {"GET", "/api/users", SUP | AUD},
    {"GET", "/api/institutions", ANY},
    {"GET", "/api/proposals", ANY},
    {"POST", "/api/proposals", KM},
    {"GET", "/api/proposals/#", ANY},
    {"POST", "/api/proposals/#/approve", KM},
    {"POST", "/api/proposals/#/reject", KM},
    {"GET", "/api/audit", SUP | AUD},
    {"GET", "/api/audit/verify", SUP | AUD},
    {"GET", "/api/hsms", ANY},
    {"GET", "/api/hsms/#", ANY},
    {"POST", "/api/hsms/#/check", KM | SUP},
    {"GET", "/api/templates", ANY},
    {"GET", "/api/root-keys", ANY},
    {"GET", "/api/root-keys/#", ANY},
    {"GET", "/api/root-keys/#/plan", ANY},
    {"GET", "/api/root-keys/#/destruction", ANY},
    {"POST", "/api/root-keys/#/confirm-destroy", KM | SUP},
    {"GET", "/api/issued-keys", ANY},
    {"GET", "/api/records/generation/#", ANY},
    {"GET", "/api/records/distribution/#", ANY},
    {"GET", "/api/records/destruction/#", ANY},
    {"GET", "/api/records/compromise/#", ANY},
    {"POST", "/api/maint", KM},
    {"GET", "/api/maint", ANY},
    {"GET", "/api/maint/#", ANY},
    {"POST", "/api/maint/#/export", KM | SUP},
};

/* Does path match pattern ('#': one or more digits)? */
static int
path_is(const char *pattern, const char *path)
{
	for (; *pattern != '\0'; pattern++) {
		if (*pattern == '#') {
			if (*path < '0' || *path > '9')
				return 0;
			while (*path >= '0' && *path <= '9')
				path++;
			continue;
		}
		if (*path++ != *pattern)
			return 0;
	}
	return *path == '\0';
}

/* The session of who, as the fixture made it, while it lasts. */
static unsigned
who_is(const char *who)
{
	if (strcmp(who, "kma") == 0 || strcmp(who, "kmb") == 0)
		return KM;
	if (strcmp(who, "sup") == 0)
		return SUP;
	if (strcmp(who, "aud") == 0)
		return AUD;
	return NONE;
}

static int
may_succeed(const char *method, const char *path, const char *who)
{
	size_t i;

	for (i = 0; i < sizeof(mays) / sizeof(mays[0]); i++)
		if (strcmp(mays[i].method, method) == 0 &&
		    path_is(mays[i].path, path))
			return (mays[i].who & who_is(who)) != 0;
	return 0;
}

static int
status_known(int s)
{
	static const int known[] = {
	    200, 201, 400, 401, 403, 404, 405, 409, 413, 422, 502, 503, 504};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i] == s)
			return 1;
	return 0;
}

static const char *
slug_of(int s)
{
	switch (s) {
	case 400:
		return "bad_request";
	case 401:
		return "unauthenticated";
	case 403:
		return "forbidden";
	case 404:
		return "not_found";
	case 405:
		return "method_not_allowed";
	case 409:
		return "conflict";
	case 413:
		return "too_large";
	case 422:
		return "unprocessable";
	case 502:
		return "bad_gateway";
	case 503:
		return "unavailable";
	case 504:
		return "timeout";
	default:
		return "?";
	}
}

/* The input cannot sign: "request": "$REQ" / "$REQ2" stand for the
 * signed requests made at start. */
static void
signed_request(json_t *body)
{
	const char *r = json_string_value(json_object_get(body, "request"));

	if (r != NULL && strcmp(r, "$REQ") == 0)
		json_object_set_new(body, "request", json_string(req_same));
	else if (r != NULL && strcmp(r, "$REQ2") == 0)
		json_object_set_new(body, "request", json_string(req_other));
}

static void
one_request(const char *p, size_t n)
{
	static struct snap after;
	static struct query q;
	static char line[LINE_MAX_];
	struct kms_req req;
	struct kms_resp resp = {0, NULL};
	const char *nl, *who, *method, *target, *bp;
	char *sp, *qm, *text;
	json_error_t jerr;
	json_t *body = NULL, *b;
	size_t ln, bn, i;
	int status;

	nl = memchr(p, '\n', n);
	ln = nl != NULL ? (size_t)(nl - p) : n;
	if (ln >= sizeof(line) || memchr(p, '\0', ln) != NULL)
		return;
	memcpy(line, p, ln);
	line[ln] = '\0';
	bp = nl != NULL ? nl + 1 : p + n;
	bn = (size_t)(p + n - bp);
	method = line;
	if ((sp = strchr(line, ' ')) == NULL)
		return;
	*sp = '\0';
	who = sp + 1;
	if ((sp = strchr(who, ' ')) == NULL)
		return;
	*sp = '\0';
	target = sp + 1;
	if ((qm = strchr(target, '?')) != NULL)
		*qm = '\0';
	query_parse(&q, qm != NULL ? qm + 1 : "");
	if (bn > 0) {
		body = json_loadb(bp, bn, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(body)) {
			json_decref(body);
			return;
		}
		signed_request(body);
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = target;
	req.token = token_of(who);
	req.peer = "127.0.0.1:50000";
	req.body = body;
	req.conn_ = &q;
	kms_api_handle(&api, &req, &resp);
	json_decref(body);
	status = resp.status != 0 ? resp.status : 200;
	b = resp.body != NULL ? resp.body : json_object();
	if (verbose && (text = json_dumps(b, JSON_COMPACT)) != NULL) {
		fprintf(stderr, "%s %s %s: %d %.300s\n", method, who, target,
		    status, text);
		free(text);
	}
	CHECK(status_known(status));
	if (status < 400 && !may_succeed(method, target, who)) {
		fprintf(stderr, "%s %s %s succeeded (%d)\n", method, who,
		    target, status);
		CHECK(0);
	}
	CHECK(json_is_object(b));
	if (status >= 400) {
		CHECK(json_is_string(json_object_get(b, "message")));
		CHECK(json_is_string(json_object_get(b, "error")));
		CHECK(strcmp(json_string_value(json_object_get(b, "error")),
			  slug_of(status)) == 0);
	}
	json_decref(b);
	/* cur: the database before this request (the template's digest,
	 * or what the previous request left). */
	snap_take(&after);
	CHECK(after.audit_rows >= cur.audit_rows);
	if (status >= 400) {
		for (i = 0; i < ntables; i++) {
			if (after.h[i] == cur.h[i])
				continue;
			fprintf(stderr, "written by a %d answer: %s\n", status,
			    table_name[i]);
			show_table(i);
			CHECK(0);
		}
		check_proposals(&cur.states, &after.states);
	}
	snap_copy(&cur, &after);
}

static void
check_audit(void)
{
	struct kms_audit_report rep;
	struct kdb *db = pthread_getspecific(api.key);

	if (db == NULL)
		return; /* no request reached the database */
	CHECK(kms_audit_verify(db, &rep) == TKM_OK);
	if (!rep.ok)
		fprintf(stderr, "audit: %s at %lld\n", rep.why,
		    (long long)rep.first_bad);
	CHECK(rep.ok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *sep;
	size_t reqs;

	if (!ready)
		init();
	reset_db();
	for (reqs = 0; p < end && reqs < MAX_REQS; reqs++) {
		sep = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
		one_request(
		    p, sep != NULL ? (size_t)(sep - p) : (size_t)(end - p));
		p = sep != NULL ? sep + strlen(SEP) : end;
	}
	check_audit();
	return 0;
}
