/*
 * test_api_keys.c - the routes and proposal kinds of HSMs, templates,
 * keys, lifecycle and records (src/kms/api_keys.c, kinds_keys.c,
 * docs/api.md "HSMs" ... "Records"), driven through kms_api_handle() as
 * the HTTP server calls it, against real tkms-hsmd processes:
 *
 *   - every route's answer, and the roles it refuses;
 *   - hsm.add and hsm.update proposed by one configurator and approved by
 *     another; payloads refused (400, 404, 409) before anything is stored;
 *   - key.generate and key.issue proposed by one key manager, refused to
 *     that manager and approved by another, the KCVs in the answers equal
 *     to what BU at the HSMs reports, and key events naming both;
 *   - a sealed root and an unreachable target making the proposal
 *     `failed` with a message naming the HSM, and what was done kept;
 *   - rotate, re-issue, compromise, destroy and confirm-destroy;
 *   - the four records in Markdown and HTML.
 *
 * Query strings (?format=md, filters) need a real connection: those few
 * requests go through kms_http_start() on 127.0.0.1 and a minimal client.
 * Processes, TKs and backends as in test_flows.c (kmshsm.h). The daemon
 * is TKMS_HSMD (compiled in by CMake) or $TKMS_BUILD/tkms-hsmd.
 */
#include "kmshsm.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>

#include "api.h"
#include "auth.h"
#include "http.h"
#include "kaudit.h"

#define PW "password-1"

static struct kms_api api;
static struct kms_http *srv;

/* The users of every test and their sessions. */
static struct user {
	const char *name, *role;
	char token[KMS_TOKEN_LEN + 1];
} users[] = {
    {"ca", "configurator", ""},
    {"cb", "configurator", ""},
    {"kma", "key_manager", ""},
    {"kmb", "key_manager", ""},
    {"sup", "supervisor", ""},
    {"aud", "auditor", ""},
};

static const char *
token_of(const char *who)
{
	size_t i;

	if (who == NULL)
		return NULL;
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (strcmp(users[i].name, who) == 0)
			return users[i].token;
	fail_msg("no user %s", who);
	return NULL;
}

static int
t_setup(void **state)
{
	struct fx *f;
	char hash[KMS_HASH_MAX];
	const char *why;
	struct kms_user u;
	int64_t id, now = (int64_t)time(NULL);
	size_t i;

	setup(state);
	f = *state;
	assert_int_equal(kms_password_hash(PW, hash), TKM_OK);
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		assert_int_equal(kms_user_insert(f->db, now, users[i].name,
				     users[i].role, hash, &id, &why),
		    TKM_OK);
		if (kms_login(f->db, now, 900, users[i].name, PW,
			users[i].token, &u, &why) != TKM_OK)
			fail_msg("login %s: %s", users[i].name, why);
	}
	/* Every test initialises the API again: the kinds must register
	 * once per process however often that happens. */
	assert_int_equal(kms_api_init(&api, f->url, 900), TKM_OK);
	return 0;
}

static int
t_teardown(void **state)
{
	kms_http_stop(srv);
	srv = NULL;
	kms_api_cleanup(&api);
	return teardown(state);
}

/* --- requests ------------------------------------------------------------ */

/* A request through kms_api_handle; *status and the body (new). */
static json_t *
call(const char *who, const char *method, const char *path, const char *body,
    int *status)
{
	struct kms_req req = {
	    method, path, token_of(who), "127.0.0.1:1", NULL, NULL};
	struct kms_resp resp = {0, NULL};
	json_error_t err;

	if (body != NULL &&
	    (req.body = json_loads(body, JSON_REJECT_DUPLICATES, &err)) == NULL)
		fail_msg("test body %s: %s", body, err.text);
	kms_api_handle(&api, &req, &resp);
	json_decref(req.body);
	*status = resp.status != 0 ? resp.status : 200;
	return resp.body != NULL ? resp.body : json_object();
}

/* The same over HTTP (for query strings): a server on first use. */
static json_t *
call_http(const char *who, const char *path, int *status)
{
	static char buf[1 << 20];
	struct sockaddr_in sa;
	const char *why = NULL;
	char req[1024], *body;
	size_t n = 0;
	ssize_t got;
	json_t *out;
	int fd;

	if (srv == NULL && kms_http_start("127.0.0.1", 0, 2, NULL,
			       kms_api_handle, &api, &srv, &why) != TKM_OK)
		fail_msg("kms_http_start: %s", why);
	snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
	    "Authorization: Bearer %s\r\n\r\n",
	    path, token_of(who));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)kms_http_port(srv));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	while (n < sizeof(buf) - 1 &&
	       (got = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0)
		n += (size_t)got;
	close(fd);
	buf[n] = '\0';
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d", status), 1);
	assert_non_null(body = strstr(buf, "\r\n\r\n"));
	out = json_loads(body + 4, 0, NULL);
	if (out == NULL)
		fail_msg("not JSON from %s: %s", path, body + 4);
	return out;
}

/* A request that must answer want; the body (new). */
static json_t *
expect(int want, const char *who, const char *method, const char *path,
    const char *body)
{
	int status;
	json_t *out = strchr(path, '?') != NULL
			  ? call_http(who, path, &status)
			  : call(who, method, path, body, &status);
	char *text;

	if (status != want) {
		text = json_dumps(out, JSON_COMPACT);
		fail_msg("%s %s as %s: %d, not %d: %s", method, path,
		    who ? who : "nobody", status, want, text);
	}
	return out;
}

/* expect() with a printf-formatted path. */
static json_t *expect_get(int want, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *
expect_get(int want, const char *who, const char *fmt, ...)
{
	char path[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return expect(want, who, "GET", path, NULL);
}

/* POST /api/proposals {kind, payload}; the answer's status must be want.
 * Returns the proposal id on 201, else 0. */
static int64_t
propose(int want, const char *who, const char *kind, const char *payload)
{
	char body[2048];
	json_t *p;
	int64_t id = 0;

	snprintf(body, sizeof(body), "{\"kind\": \"%s\", \"payload\": %s}",
	    kind, payload);
	p = expect(want, who, "POST", "/api/proposals", body);
	if (want == 201) {
		assert_string_equal(
		    json_string_value(json_object_get(p, "state")), "open");
		id = json_integer_value(json_object_get(p, "id"));
		assert_true(id > 0);
	}
	json_decref(p);
	return id;
}

/* POST /api/proposals/{id}/approve as who; the body (new). */
static json_t *
approve(int want, const char *who, int64_t id)
{
	char path[64];

	snprintf(
	    path, sizeof(path), "/api/proposals/%lld/approve", (long long)id);
	return expect(want, who, "POST", path, NULL);
}

/* The proposal as GET /api/proposals/{id} shows it (new). */
static json_t *
proposal(int64_t id)
{
	return expect_get(200, "aud", "/api/proposals/%lld", (long long)id);
}

/* Propose as one user, approve as another: the result (new). */
static json_t *
passed(const char *who, const char *approver, const char *kind,
    const char *payload)
{
	int64_t id = propose(201, who, kind, payload);
	json_t *p = approve(200, approver, id), *r;

	assert_string_equal(
	    json_string_value(json_object_get(p, "state")), "executed");
	assert_string_equal(
	    json_string_value(json_object_get(p, "approver")), approver);
	r = json_incref(json_object_get(p, "result"));
	json_decref(p);
	return r;
}

static int64_t
jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		fail_msg("no integer %s", k);
	return json_integer_value(v);
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (s == NULL)
		fail_msg("no string %s", k);
	return s;
}

/* The message of an error answer contains each of the words. */
static void
says(json_t *err, const char *a, const char *b)
{
	const char *m = jstr(err, "message");

	if (strstr(m, a) == NULL || (b != NULL && strstr(m, b) == NULL))
		fail_msg("message '%s' lacks '%s' / '%s'", m, a, b ? b : "");
}

/* The first event of a kind in R's events. */
static json_t *
event_of(json_t *r, const char *kind)
{
	json_t *ev = json_object_get(r, "events");
	size_t i;

	for (i = 0; i < json_array_size(ev); i++)
		if (strcmp(jstr(json_array_get(ev, i), "kind"), kind) == 0)
			return json_array_get(ev, i);
	fail_msg("no event %s", kind);
	return NULL;
}

/* --- HSMs ---------------------------------------------------------------- */

/* hsm.add of a running tkms-hsmd by ca, approved by cb; opens h's link
 * (for the test's own host commands). */
static int64_t
add_hsm_api(struct fx *f, struct hsm *h, const char *name, const char *role,
    const char *city)
{
	char payload[512], why[KMS_WHY];
	struct kms_hsm row;
	json_t *r;

	snprintf(payload, sizeof(payload),
	    "{\"name\": \"%s\", \"role\": \"%s\", %s%s%s \"host\":"
	    " \"127.0.0.1\", \"port\": %u, \"mgmt_host\": \"127.0.0.1\","
	    " \"mgmt_port\": %u}",
	    name, role, city ? "\"city\": \"" : "", city ? city : "",
	    city ? "\"," : "", h->port, h->mport);
	r = passed("ca", "cb", "hsm.add", payload);
	h->id = jint(r, "id");
	assert_string_equal(jstr(r, "name"), name);
	json_decref(r);
	if (kms_fleet_get(f->db, h->id, &row, why, sizeof(why)) != TKM_OK)
		fail_msg("%s", why);
	assert_int_equal(kms_link_open(&h->link, &row, TIMEOUT), TKM_OK);
	return h->id;
}

/* BU at h: the KCV (16H) of the key at idx. */
static void
bu(struct hsm *h, const char *type, unsigned idx, int sm4, char kcv[17])
{
	char req[64], resp[64];

	snprintf(req, sizeof(req), "BU%sK%03X%c", type, idx, sm4 ? 'S' : 'X');
	assert_int_equal(cmd(h, req, resp, sizeof(resp)), 16);
	snprintf(kcv, 17, "%.16s", resp);
}

/* A recorded KCV (DES 6H, SM4 16H) is the start of BU's 16H. */
static void
kcv_at(struct hsm *h, json_t *key, const char *type)
{
	const char *alg = jstr(key, "alg"), *kcv = jstr(key, "kcv");
	char held[17];

	bu(h, type, (unsigned)jint(key, "idx"), strcmp(alg, "SM4") == 0, held);
	assert_int_equal(strlen(kcv), strcmp(alg, "SM4") == 0 ? 16 : 6);
	if (strncmp(held, kcv, strlen(kcv)) != 0)
		fail_msg("KCV %s recorded, %s at K%03X", kcv, held,
		    (unsigned)jint(key, "idx"));
}

static void
t_reads_and_refusals(void **state)
{
	static const struct {
		const char *method, *path, *who;
		int status;
	} refused[] = {
	    {"GET", "/api/hsms", NULL, 401},
	    {"GET", "/api/hsms/1", NULL, 401},
	    {"POST", "/api/hsms/1/check", "aud", 403},
	    {"GET", "/api/templates", NULL, 401},
	    {"GET", "/api/root-keys", NULL, 401},
	    {"GET", "/api/root-keys/1", NULL, 401},
	    {"GET", "/api/root-keys/1/plan", NULL, 401},
	    {"GET", "/api/root-keys/1/destruction", NULL, 401},
	    {"POST", "/api/root-keys/1/confirm-destroy", "aud", 403},
	    {"POST", "/api/root-keys/1/confirm-destroy", "ca", 403},
	    {"GET", "/api/issued-keys", NULL, 401},
	    {"GET", "/api/records/generation/1", NULL, 401},
	    {"GET", "/api/records/compromise/1", NULL, 401},
	    {"DELETE", "/api/hsms", "ca", 405},
	    {"GET", "/api/records/other/1", "ca", 404},
	    {"GET", "/api/hsms/99", "aud", 404},
	    {"POST", "/api/hsms/99/check", "sup", 404},
	    {"GET", "/api/root-keys/99", "aud", 404},
	    {"GET", "/api/root-keys/99/plan", "aud", 404},
	    {"GET", "/api/root-keys/99/destruction", "aud", 404},
	    {"POST", "/api/root-keys/99/confirm-destroy", "kma", 404},
	    {"GET", "/api/records/distribution/99", "aud", 404},
	};
	json_t *a, *t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		json_decref(expect(refused[i].status, refused[i].who,
		    refused[i].method, refused[i].path, NULL));

	/* The 23 templates of appendix 2, in its order. */
	a = expect(200, "aud", "GET", "/api/templates", NULL);
	t = json_object_get(a, "templates");
	assert_int_equal(json_array_size(t), KMS_NKEYTYPES);
	assert_string_equal(jstr(json_array_get(t, 0), "name"), "app_maint_01");
	assert_string_equal(jstr(json_array_get(t, 8), "name"), "tac");
	assert_int_equal(jint(json_array_get(t, 8), "clearing"), 1);
	assert_int_equal(jint(json_array_get(t, 8), "des_index"), 0x308);
	assert_int_equal(jint(json_array_get(t, 8), "sm4_index"), 0x408);
	assert_string_equal(jstr(json_array_get(t, 8), "type_code"), "509");
	json_decref(a);

	a = expect(200, "sup", "GET", "/api/hsms", NULL);
	assert_int_equal(json_array_size(json_object_get(a, "hsms")), 0);
	json_decref(a);
	a = expect(200, "kma", "GET", "/api/root-keys", NULL);
	assert_int_equal(json_array_size(json_object_get(a, "root_keys")), 0);
	json_decref(a);
	a = expect(200, "kma", "GET", "/api/issued-keys", NULL);
	assert_int_equal(json_array_size(json_object_get(a, "issued_keys")), 0);
	json_decref(a);
}

static void
t_payloads_refused(void **state)
{
	static const struct {
		const char *who, *kind, *payload;
		int status;
	} bad[] = {
	    /* roles of the kinds */
	    {"kma", "hsm.add",
		"{\"name\": \"x\", \"role\": \"root\", \"host\": \"h\","
		" \"port\": 9}",
		403},
	    {"sup", "hsm.add",
		"{\"name\": \"x\", \"role\": \"root\", \"host\": \"h\","
		" \"port\": 9}",
		403},
	    {"ca", "key.generate", "{\"hsm\": 1}", 403},
	    /* hsm.add */
	    {"ca", "hsm.add",
		"{\"name\": \"x\", \"role\": \"vault\", \"host\": \"h\","
		" \"port\": 9}",
		400},
	    {"ca", "hsm.add",
		"{\"name\": \"x\", \"role\": \"city\", \"host\": \"h\","
		" \"port\": 9}",
		400},
	    {"ca", "hsm.add",
		"{\"name\": \"x\", \"role\": \"city\", \"city\": \"9999\","
		" \"host\": \"h\", \"port\": 9}",
		404},
	    {"ca", "hsm.add",
		"{\"name\": \"x\", \"role\": \"root\", \"city\": \"5810\","
		" \"host\": \"h\", \"port\": 9}",
		400},
	    {"ca", "hsm.add",
		"{\"name\": \"x\", \"role\": \"root\", \"host\": \"h\","
		" \"port\": 70000}",
		400},
	    {"ca", "hsm.add",
		"{\"name\": \"x\", \"role\": \"root\", \"host\": \"h h\","
		" \"port\": 9}",
		400},
	    {"ca", "hsm.add",
		"{\"name\": \"x\", \"role\": \"root\", \"host\": \"h\","
		" \"port\": 9, \"colour\": \"red\"}",
		400},
	    {"ca", "hsm.add",
		"{\"name\": \"r0\", \"role\": \"root\", \"host\": \"h\","
		" \"port\": 9}",
		409},
	    {"ca", "hsm.add",
		"{\"name\": \"new\", \"role\": \"root\", \"host\":"
		" \"127.0.0.1\", \"port\": 1}",
		409},
	    /* hsm.update */
	    {"ca", "hsm.update", "{\"id\": 99, \"set\": {\"serial\": \"S\"}}",
		404},
	    {"ca", "hsm.update", "{\"id\": 1, \"set\": {\"role\": \"city\"}}",
		400},
	    {"ca", "hsm.update", "{\"id\": 1, \"set\": {\"state\": \"gone\"}}",
		400},
	    {"ca", "hsm.update", "{\"id\": 1, \"set\": {}}", 400},
	    {"ca", "hsm.update", "{\"id\": 1, \"set\": {\"port\": 2}}", 409},
	    /* key.generate */
	    {"kma", "key.generate", "{\"hsm\": 99}", 404},
	    {"kma", "key.generate", "{\"hsm\": 2}", 409},
	    {"kma", "key.generate", "{\"hsm\": 1, \"templates\": [\"nope\"]}",
		404},
	    {"kma", "key.generate",
		"{\"hsm\": 1, \"templates\": [\"tac\", \"tac\"]}", 400},
	    {"kma", "key.generate", "{\"hsm\": 1, \"algs\": [\"AES\"]}", 400},
	    {"kma", "key.generate", "{\"hsm\": 1, \"city\": \"5810\"}", 400},
	    /* key.issue */
	    {"kma", "key.issue", "{\"hsm\": 1}", 409},
	    {"kma", "key.issue", "{\"hsm\": 3}", 400},
	    {"kma", "key.issue", "{\"hsm\": 3, \"cities\": [\"9999\"]}", 404},
	    {"kma", "key.issue", "{\"hsm\": 3, \"cities\": [\"58\"]}", 400},
	    {"kma", "key.issue",
		"{\"hsm\": 3, \"cities\": [\"5810\"], \"templates\":"
		" [\"load_01\"]}",
		409},
	    {"kma", "key.issue", "{\"hsm\": 2, \"cities\": [\"5840\"]}", 400},
	    {"kma", "key.issue", "{\"hsm\": 2, \"templates\": [\"x\"]}", 404},
	    /* lifecycle */
	    {"kma", "key.rotate", "{\"root_key\": 99}", 404},
	    {"kma", "key.rotate", "{\"root_key\": \"1\"}", 400},
	    {"kma", "key.compromise", "{\"root_key\": 1}", 400},
	    {"kma", "key.compromise", "{\"root_key\": 99, \"reason\": \"r\"}",
		404},
	    {"kma", "key.reissue", "{\"root_key\": 99}", 404},
	    {"kma", "key.destroy", "{\"root_key\": 99}", 404},
	};
	struct fx *f = *state;
	int64_t before;
	json_t *r;
	size_t i;

	/* Rows without processes: prepare reads the database only. */
	r = passed("ca", "cb", "hsm.add",
	    "{\"name\": \"r0\", \"role\": \"root\", \"host\": \"127.0.0.1\","
	    " \"port\": 1}");
	assert_int_equal(jint(r, "id"), 1);
	json_decref(r);
	r = passed("ca", "cb", "hsm.add",
	    "{\"name\": \"gz\", \"role\": \"provincial_business\", \"city\":"
	    " \"5810\", \"host\": \"127.0.0.1\", \"port\": 2}");
	assert_int_equal(jint(r, "id"), 2);
	json_decref(r);
	r = passed("ca", "cb", "hsm.add",
	    "{\"name\": \"clr\", \"role\": \"clearing\", \"host\":"
	    " \"127.0.0.1\", \"port\": 3, \"header_len\": 4, \"serial\":"
	    " \"TKMS0000000000C1\"}");
	json_decref(r);
	r = expect(200, "aud", "GET", "/api/hsms/3", NULL);
	assert_int_equal(jint(r, "header_len"), 4);
	assert_string_equal(jstr(r, "serial"), "TKMS0000000000C1");
	assert_true(json_is_null(json_object_get(r, "city_id")));
	assert_true(json_is_null(json_object_get(r, "mgmt_port")));
	json_decref(r);
	r = expect(200, "aud", "GET", "/api/hsms/2", NULL);
	assert_string_equal(jstr(r, "city_code"), "5810");
	assert_string_equal(jstr(r, "city"), "广州市");
	assert_string_equal(jstr(r, "health"), "unknown");
	json_decref(r);

	before = count(f->db, "SELECT COUNT(*) FROM proposals");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		propose(bad[i].status, bad[i].who, bad[i].kind, bad[i].payload);
	assert_int_equal(
	    count(f->db, "SELECT COUNT(*) FROM proposals"), before);
}

static void
t_hsm_add_check_update(void **state)
{
	struct fx *f = *state;
	char path[64], nc[64], payload[256];
	int64_t id, pid;
	json_t *p, *r;

	f->h[0] = hsm_start(1, 0, NULL);
	/* Dual control: not the proposer, not another role. */
	snprintf(payload, sizeof(payload),
	    "{\"name\": \"root\", \"role\": \"root\", \"host\":"
	    " \"127.0.0.1\", \"port\": %u, \"mgmt_port\": %u}",
	    f->h[0]->port, f->h[0]->mport);
	pid = propose(201, "ca", "hsm.add", payload);
	p = approve(403, "ca", pid);
	says(p, "dual control", NULL);
	json_decref(p);
	json_decref(approve(403, "kma", pid));
	p = proposal(pid);
	assert_string_equal(jstr(p, "state"), "open");
	json_decref(p);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM hsms"), 0);
	p = approve(200, "cb", pid);
	assert_string_equal(jstr(p, "state"), "executed");
	id = jint(json_object_get(p, "result"), "id");
	json_decref(p);

	snprintf(path, sizeof(path), "/api/hsms/%lld", (long long)id);
	r = expect(200, "aud", "GET", path, NULL);
	assert_string_equal(jstr(r, "role"), "root");
	assert_int_equal(jint(r, "port"), f->h[0]->port);
	assert_int_equal(jint(r, "mgmt_port"), f->h[0]->mport);
	assert_int_equal(jint(r, "header_len"), 8);
	assert_true(json_is_null(json_object_get(r, "dk_kcv")));
	assert_string_equal(jstr(r, "state"), "active");
	json_decref(r);

	/* NC through the API: the DK KCV the HSM answers itself. */
	{
		struct kms_hsm row;
		char why[KMS_WHY];

		assert_int_equal(
		    kms_fleet_get(f->db, id, &row, why, sizeof(why)), TKM_OK);
		assert_int_equal(
		    kms_link_open(&f->h[0]->link, &row, TIMEOUT), TKM_OK);
		assert_int_equal(cmd(f->h[0], "NC", nc, sizeof(nc)), 16 + 9);
		nc[16] = '\0';
	}
	snprintf(path, sizeof(path), "/api/hsms/%lld/check", (long long)id);
	r = expect(200, "sup", "POST", path, NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(jstr(r, "health"), "ok");
	assert_string_equal(jstr(r, "dk_kcv"), nc);
	assert_true(json_is_null(json_object_get(r, "message")));
	assert_string_equal(jstr(json_object_get(r, "hsm"), "dk_kcv"), nc);
	assert_string_equal(jstr(json_object_get(r, "hsm"), "health"), "ok");
	json_decref(r);
	json_decref(expect(200, "kma", "POST", path, NULL));
	json_decref(expect(200, "ca", "POST", path, NULL));

	/* hsm.update by ca, approved by cb. */
	snprintf(payload, sizeof(payload),
	    "{\"id\": %lld, \"set\": {\"serial\": \"TKMS00000000000R\","
	    " \"mgmt_host\": \"127.0.0.1\"}}",
	    (long long)id);
	pid = propose(201, "ca", "hsm.update", payload);
	json_decref(approve(403, "ca", pid));
	p = approve(200, "cb", pid);
	assert_string_equal(jstr(p, "state"), "executed");
	json_decref(p);
	snprintf(path, sizeof(path), "/api/hsms/%lld", (long long)id);
	r = expect(200, "aud", "GET", path, NULL);
	assert_string_equal(jstr(r, "serial"), "TKMS00000000000R");
	assert_string_equal(jstr(r, "mgmt_host"), "127.0.0.1");
	json_decref(r);

	/* Gone: still 200, ok false, a message naming it. */
	hsm_kill(f->h[0]);
	snprintf(path, sizeof(path), "/api/hsms/%lld/check", (long long)id);
	r = expect(200, "sup", "POST", path, NULL);
	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_string_equal(jstr(r, "health"), "unreachable");
	assert_non_null(strstr(jstr(r, "message"), "'root'"));
	assert_non_null(strstr(jstr(r, "message"), "unreachable"));
	json_decref(r);
	r = expect(200, "aud", "GET", "/api/hsms", NULL);
	assert_int_equal(json_array_size(json_object_get(r, "hsms")), 1);
	assert_string_equal(
	    jstr(json_array_get(json_object_get(r, "hsms"), 0), "health"),
	    "unreachable");
	json_decref(r);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM audit"
				      " WHERE action = 'hsm.check'"),
	    4);
}

/* root, Guangzhou's business HSM, and the clearing HSM, sharing TKs. */
static void
three(struct fx *f)
{
	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	f->h[2] = hsm_start(1, 0, NULL);
	add_hsm_api(f, f->h[0], "root", "root", NULL);
	add_hsm_api(f, f->h[1], "gz-business", "provincial_business", "5810");
	add_hsm_api(f, f->h[2], "clearing", "clearing", NULL);
	put_tks(f->h, 3);
}

/* The root key of the answer's keys with template and alg. */
static json_t *
key_of(json_t *keys, const char *tmpl, const char *alg)
{
	size_t i;

	for (i = 0; i < json_array_size(keys); i++)
		if (strcmp(jstr(json_array_get(keys, i), "template"), tmpl) ==
			0 &&
		    strcmp(jstr(json_array_get(keys, i), "alg"), alg) == 0)
			return json_array_get(keys, i);
	fail_msg("no %s %s", tmpl, alg);
	return NULL;
}

static void
t_generate_issue(void **state)
{
	struct fx *f = *state;
	char payload[256], path[128];
	json_t *p, *r, *k, *c, *list;
	int64_t pid, tac_des;
	size_t i;

	three(f);
	/* key.generate by kma: kma may not approve it, kmb does. */
	snprintf(payload, sizeof(payload),
	    "{\"hsm\": %lld, \"templates\": [\"tac\", \"load_01\"]}",
	    (long long)f->h[0]->id);
	pid = propose(201, "kma", "key.generate", payload);
	p = proposal(pid);
	assert_int_equal(json_array_size(json_object_get(
			     json_object_get(p, "payload"), "algs")),
	    2);
	json_decref(p);
	p = approve(403, "kma", pid);
	says(p, "dual control", NULL);
	json_decref(p);
	json_decref(approve(403, "ca", pid));
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"), 0);
	p = approve(200, "kmb", pid);
	assert_string_equal(jstr(p, "state"), "executed");
	r = json_object_get(json_object_get(p, "result"), "keys");
	assert_int_equal(json_array_size(r), 4);
	for (i = 0; i < 4; i++) {
		k = json_array_get(r, i);
		assert_true(json_is_false(json_object_get(k, "existed")));
		assert_int_equal(jint(k, "version"), 1);
		kcv_at(f->h[0], k, "509");
	}
	k = key_of(r, "tac", "DES");
	tac_des = jint(k, "root_key_id");
	assert_int_equal(jint(k, "idx"), 0x308);
	assert_string_equal(jstr(k, "index"), "K308");
	assert_int_equal(jint(key_of(r, "load_01", "SM4"), "idx"), 0x405);
	json_decref(p);

	/* The key names who generated it. */
	r = expect_get(200, "aud", "/api/root-keys/%lld", (long long)tac_des);
	assert_string_equal(jstr(r, "state"), "active");
	assert_string_equal(jstr(r, "hsm"), "root");
	assert_int_equal(jint(r, "copies"), 0);
	k = json_array_get(json_object_get(r, "events"), 0);
	assert_string_equal(jstr(k, "kind"), "generated");
	assert_string_equal(jstr(k, "actor"), "kma+kmb");
	assert_int_equal(jint(k, "proposal_id"), pid);
	json_decref(r);

	/* Again: nothing generated, the same keys found. */
	r = passed("kmb", "kma", "key.generate", payload);
	for (i = 0; i < 4; i++)
		assert_true(json_is_true(json_object_get(
		    json_array_get(json_object_get(r, "keys"), i), "existed")));
	json_decref(r);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"), 4);

	/* key.issue to the business HSM: its own city. */
	snprintf(payload, sizeof(payload),
	    "{\"hsm\": %lld, \"templates\": [\"tac\", \"load_01\"]}",
	    (long long)f->h[1]->id);
	r = passed("kma", "kmb", "key.issue", payload);
	assert_int_equal(jint(r, "keys"), 4);
	c = json_array_get(json_object_get(r, "cities"), 0);
	assert_string_equal(jstr(c, "city_code"), "5810");
	assert_int_equal(jint(c, "total"), 4);
	assert_int_equal(jint(c, "issued"), 4);
	assert_int_equal(jint(c, "existed"), 0);
	assert_int_equal(jint(c, "failed"), 0);
	json_decref(r);
	list = expect_get(
	    200, "sup", "/api/issued-keys?hsm=%lld", (long long)f->h[1]->id);
	r = json_object_get(list, "issued_keys");
	assert_int_equal(json_array_size(r), 4);
	for (i = 0; i < 4; i++) {
		k = json_array_get(r, i);
		assert_string_equal(jstr(k, "state"), "active");
		assert_string_equal(jstr(k, "city_code"), "5810");
		assert_string_equal(jstr(k, "hsm_role"), "provincial_business");
		kcv_at(f->h[1], k, "509");
	}
	json_decref(list);
	/* Again: found, not issued. */
	r = passed("kma", "kmb", "key.issue", payload);
	c = json_array_get(json_object_get(r, "cities"), 0);
	assert_int_equal(jint(c, "existed"), 4);
	assert_int_equal(jint(c, "issued"), 0);
	json_decref(r);

	/* The clearing HSM: the TAC keys of two cities. */
	snprintf(payload, sizeof(payload),
	    "{\"hsm\": %lld, \"cities\": [\"5810\", \"5840\"]}",
	    (long long)f->h[2]->id);
	r = passed("kmb", "kma", "key.issue", payload);
	assert_int_equal(jint(r, "keys"), 4);
	assert_int_equal(json_array_size(json_object_get(r, "cities")), 2);
	assert_string_equal(
	    jstr(json_array_get(json_object_get(r, "cities"), 1), "city_code"),
	    "5840");
	json_decref(r);
	list = expect_get(200, "sup", "/api/issued-keys?hsm=%lld&city=5840",
	    (long long)f->h[2]->id);
	r = json_object_get(list, "issued_keys");
	assert_int_equal(json_array_size(r), 2);
	for (i = 0; i < 2; i++) {
		k = json_array_get(r, i);
		assert_string_equal(jstr(k, "template"), "tac");
		kcv_at(f->h[2], k, "509");
	}
	json_decref(list);
	list = expect_get(
	    200, "sup", "/api/issued-keys?root_key=%lld", (long long)tac_des);
	assert_int_equal(
	    json_array_size(json_object_get(list, "issued_keys")), 3);
	json_decref(list);
	json_decref(expect_get(400, "sup", "/api/issued-keys?state=lost"));
	json_decref(expect_get(400, "sup", "/api/issued-keys?hsm=x"));

	/* Every template for the city: the other 21 have no root key yet,
	 * refused before any host command; the proposal is failed. */
	snprintf(payload, sizeof(payload), "{\"hsm\": %lld}",
	    (long long)f->h[1]->id);
	pid = propose(201, "kma", "key.issue", payload);
	p = approve(400, "kmb", pid);
	says(p, "no active DES root key", "generate it first");
	json_decref(p);
	p = proposal(pid);
	assert_string_equal(jstr(p, "state"), "failed");
	r = json_object_get(p, "result");
	assert_non_null(strstr(jstr(r, "error"), "app_maint_01"));
	assert_int_equal(
	    jint(json_array_get(json_object_get(r, "cities"), 0), "failed"), 1);
	json_decref(p);

	/* Root keys: filters, the plan. */
	list = expect_get(200, "aud", "/api/root-keys?template=tac");
	assert_int_equal(
	    json_array_size(json_object_get(list, "root_keys")), 2);
	json_decref(list);
	list = expect_get(200, "aud", "/api/root-keys?alg=SM4&state=active");
	r = json_object_get(list, "root_keys");
	assert_int_equal(json_array_size(r), 2);
	assert_string_equal(jstr(json_array_get(r, 0), "template"), "load_01");
	assert_string_equal(jstr(json_array_get(r, 1), "template"), "tac");
	json_decref(list);
	json_decref(expect_get(400, "aud", "/api/root-keys?state=lost"));
	r = expect_get(
	    200, "aud", "/api/root-keys/%lld/plan", (long long)tac_des);
	assert_int_equal(jint(r, "next_version"), 2);
	assert_int_equal(jint(r, "next_idx"), 0x328);
	assert_int_equal(jint(json_object_get(r, "root_key"), "copies"), 3);
	list = json_object_get(r, "copies");
	assert_int_equal(json_array_size(list), 3);
	for (i = 0; i < 3; i++) {
		k = json_array_get(list, i);
		if (strcmp(jstr(k, "hsm_role"), "clearing") == 0)
			assert_int_equal(jint(k, "new_idx"),
			    0x520 + (strcmp(jstr(k, "city_code"), "5810") == 0
					    ? 0
					    : 1));
		else
			assert_int_equal(jint(k, "new_idx"), 0x328);
	}
	json_decref(r);

	/* An HSM that holds live keys is not retired. */
	snprintf(payload, sizeof(payload),
	    "{\"id\": %lld, \"set\": {\"state\": \"retired\"}}",
	    (long long)f->h[1]->id);
	propose(409, "ca", "hsm.update", payload);

	/* The records of generation and distribution, both formats. */
	r = expect_get(200, "aud", "/api/records/generation/%lld?format=md",
	    (long long)tac_des);
	assert_string_equal(jstr(r, "format"), "md");
	assert_string_equal(jstr(r, "kind"), "generation");
	assert_non_null(strstr(jstr(r, "document"), "Key generation record"));
	assert_non_null(strstr(jstr(r, "document"), "kma+kmb"));
	assert_null(strstr(jstr(r, "document"), "<html"));
	json_decref(r);
	snprintf(path, sizeof(path), "/api/records/distribution/%lld",
	    (long long)tac_des);
	r = expect(200, "sup", "GET", path, NULL);
	assert_string_equal(jstr(r, "format"), "html");
	assert_non_null(strstr(jstr(r, "document"), "<html"));
	assert_non_null(strstr(jstr(r, "document"), "gz-business"));
	assert_non_null(strstr(jstr(r, "document"), "kma+kmb"));
	json_decref(r);
	json_decref(expect_get(400, "aud",
	    "/api/records/generation/%lld?format=pdf", (long long)tac_des));
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM audit"
				      " WHERE action = 'record.export'"),
	    2);
	/* The supervisor signs the distribution record off, once; nobody
	 * else may; the record then names the sign-off. */
	snprintf(path, sizeof(path), "/api/records/distribution/%lld/sign",
	    (long long)tac_des);
	r = expect_get(200, "sup", "/api/records/distribution/%lld?format=md",
	    (long long)tac_des);
	snprintf(payload, sizeof(payload), "{\"sm3\": \"%s\"}", jstr(r, "sm3"));
	json_decref(r);
	json_decref(expect(403, "kma", "POST", path, payload));
	json_decref(expect(403, "aud", "POST", path, payload));
	json_decref(expect(400, "sup", "POST", path, "{}"));
	json_decref(expect(409, "sup", "POST", path,
	    "{\"sm3\": \"00000000000000000000000000000000"
	    "00000000000000000000000000000000\"}"));
	r = expect(201, "sup", "POST", path, payload);
	assert_string_equal(jstr(r, "signed_by"), "sup");
	assert_int_equal(strlen(jstr(r, "sm3")), 64);
	json_decref(r);
	json_decref(expect(409, "sup", "POST", path, payload));
	r = expect_get(200, "aud", "/api/records/distribution/%lld?format=md",
	    (long long)tac_des);
	assert_non_null(strstr(jstr(r, "document"), "电子签核 SM3"));
	assert_int_equal(json_array_size(json_object_get(r, "sign_offs")), 1);
	assert_true(json_is_true(json_object_get(
	    json_array_get(json_object_get(r, "sign_offs"), 0), "current")));
	json_decref(r);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM audit"
				      " WHERE action = 'record.sign'"),
	    1);
	{
		struct kms_audit_report rep;

		assert_int_equal(kms_audit_verify(f->db, &rep), TKM_OK);
		assert_true(rep.ok);
	}
}

static void
t_failures_name_the_hsm(void **state)
{
	struct fx *f = *state;
	char payload[256];
	int64_t pid;
	json_t *p, *r;

	/* A sealed root: A0 answers 13. */
	f->h[0] = hsm_start(1, 1, NULL);
	add_hsm_api(f, f->h[0], "sealed-root", "root", NULL);
	snprintf(payload, sizeof(payload),
	    "{\"hsm\": %lld, \"templates\": [\"tac\"]}",
	    (long long)f->h[0]->id);
	pid = propose(201, "kma", "key.generate", payload);
	p = approve(503, "kmb", pid);
	says(p, "'sealed-root'", "sealed");
	json_decref(p);
	p = proposal(pid);
	assert_string_equal(jstr(p, "state"), "failed");
	assert_string_equal(jstr(p, "approver"), "kmb");
	r = json_object_get(p, "result");
	assert_non_null(strstr(jstr(r, "error"), "'sealed-root'"));
	assert_int_equal(json_array_size(json_object_get(r, "keys")), 0);
	json_decref(p);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM root_keys"
				      " WHERE state = 'active'"),
	    0);

	/* A root that works, and a target that went away. (The sealed
	 * root keeps its planned row of tac: generating tac elsewhere is
	 * refused until that root is opened and generates it.) */
	f->h[1] = hsm_start(1, 0, NULL);
	f->h[2] = hsm_start(1, 0, NULL);
	add_hsm_api(f, f->h[1], "root", "root", NULL);
	add_hsm_api(f, f->h[2], "gz-business", "provincial_business", "5810");
	put_tks(f->h + 1, 2);
	snprintf(payload, sizeof(payload),
	    "{\"hsm\": %lld, \"templates\": [\"load_01\"]}",
	    (long long)f->h[1]->id);
	r = passed("kma", "kmb", "key.generate", payload);
	assert_int_equal(json_array_size(json_object_get(r, "keys")), 2);
	json_decref(r);
	hsm_kill(f->h[2]);
	snprintf(payload, sizeof(payload),
	    "{\"hsm\": %lld, \"templates\": [\"load_01\"]}",
	    (long long)f->h[2]->id);
	pid = propose(201, "kma", "key.issue", payload);
	p = approve(502, "kmb", pid);
	says(p, "'gz-business'", "unreachable");
	json_decref(p);
	p = proposal(pid);
	assert_string_equal(jstr(p, "state"), "failed");
	r = json_object_get(p, "result");
	assert_non_null(strstr(jstr(r, "error"), "unreachable"));
	r = json_array_get(json_object_get(r, "cities"), 0);
	assert_int_equal(jint(r, "failed"), 1);
	assert_int_equal(jint(r, "issued"), 0);
	json_decref(p);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM issued_keys"), 0);
}

/* Replace h by a fresh tkms-hsmd (no keys) and move the HSM's row there
 * by hsm.update: as if its keys had been deleted. */
static struct hsm *
fresh(struct hsm *h)
{
	struct hsm *n = hsm_start(1, 0, NULL);
	char payload[256];
	json_t *r;

	n->id = h->id;
	snprintf(payload, sizeof(payload),
	    "{\"id\": %lld, \"set\": {\"port\": %u, \"mgmt_port\": %u}}",
	    (long long)h->id, n->port, n->mport);
	hsm_stop(h);
	r = passed("cb", "ca", "hsm.update", payload);
	assert_int_equal(jint(r, "id"), n->id);
	json_decref(r);
	return n;
}

static void
t_lifecycle(void **state)
{
	struct fx *f = *state;
	char payload[256], kcv[17], want[64];
	int64_t v1, v2, sm4;
	json_t *r, *k, *keys;
	size_t i;

	f->h[0] = hsm_start(1, 0, NULL);
	f->h[1] = hsm_start(1, 0, NULL);
	add_hsm_api(f, f->h[0], "root", "root", NULL);
	add_hsm_api(f, f->h[1], "gz-business", "provincial_business", "5810");
	put_tks(f->h, 2);
	snprintf(payload, sizeof(payload),
	    "{\"hsm\": %lld, \"templates\": [\"tac\"]}",
	    (long long)f->h[0]->id);
	r = passed("kma", "kmb", "key.generate", payload);
	v1 = jint(
	    key_of(json_object_get(r, "keys"), "tac", "DES"), "root_key_id");
	sm4 = jint(
	    key_of(json_object_get(r, "keys"), "tac", "SM4"), "root_key_id");
	json_decref(r);
	snprintf(payload, sizeof(payload),
	    "{\"hsm\": %lld, \"templates\": [\"tac\"]}",
	    (long long)f->h[1]->id);
	json_decref(passed("kma", "kmb", "key.issue", payload));

	/* An active key is neither re-issued nor destroyed. */
	snprintf(
	    payload, sizeof(payload), "{\"root_key\": %lld}", (long long)v1);
	propose(409, "kma", "key.destroy", payload);
	propose(409, "kma", "key.reissue", payload);

	/* Rotate: v2 at the next slot, generated in the root. */
	r = passed("kma", "kmb", "key.rotate", payload);
	assert_int_equal(jint(r, "old_id"), v1);
	assert_int_equal(jint(r, "new_version"), 2);
	assert_int_equal(jint(r, "new_idx"), 0x328);
	assert_int_equal(jint(r, "archived_copies"), 1);
	v2 = jint(r, "new_id");
	bu(f->h[0], "509", 0x328, 0, kcv);
	assert_int_equal(strncmp(kcv, jstr(r, "new_kcv"), 6), 0);
	json_decref(r);
	r = expect_get(200, "aud", "/api/root-keys/%lld", (long long)v1);
	assert_string_equal(jstr(r, "state"), "archived");
	k = event_of(r, "rotated");
	assert_string_equal(jstr(k, "actor"), "kma+kmb");
	json_decref(r);

	/* Re-issue: v2 reaches the business HSM. */
	r = passed("kmb", "kma", "key.reissue", payload);
	assert_int_equal(jint(r, "new_root_id"), v2);
	assert_int_equal(jint(r, "total"), 1);
	assert_int_equal(jint(r, "issued"), 1);
	json_decref(r);
	r = expect_get(
	    200, "aud", "/api/issued-keys?root_key=%lld", (long long)v2);
	k = json_array_get(json_object_get(r, "issued_keys"), 0);
	assert_int_equal(jint(k, "idx"), 0x328);
	kcv_at(f->h[1], k, "509");
	json_decref(r);

	/* Compromise v2: the plan; not twice; a reason is needed. */
	snprintf(payload, sizeof(payload),
	    "{\"root_key\": %lld, \"reason\": \"card reader <stolen>\"}",
	    (long long)v2);
	r = passed("kma", "kmb", "key.compromise", payload);
	assert_string_equal(
	    jstr(json_object_get(r, "root_key"), "state"), "compromised");
	assert_int_equal(jint(r, "next_version"), 3);
	k = json_array_get(json_object_get(r, "copies"), 0);
	assert_string_equal(jstr(k, "state"), "compromised");
	assert_int_equal(jint(k, "new_idx"), 0x348);
	assert_string_equal(jstr(k, "city_code"), "5810");
	json_decref(r);
	propose(409, "kma", "key.compromise", payload);
	snprintf(
	    payload, sizeof(payload), "{\"root_key\": %lld}", (long long)v2);
	propose(400, "kma", "key.compromise", payload);
	propose(409, "kma", "key.rotate", payload);
	/* Its replacement is not generated yet. */
	propose(409, "kma", "key.reissue", payload);

	/* Destroy v1: the commands for each HSM's security admin. */
	snprintf(
	    payload, sizeof(payload), "{\"root_key\": %lld}", (long long)v1);
	r = passed("kma", "kmb", "key.destroy", payload);
	assert_int_equal(jint(r, "pending"), 2);
	keys = json_object_get(r, "keys");
	assert_int_equal(json_array_size(keys), 2);
	for (i = 0; i < 2; i++) {
		struct hsm *h;

		k = json_array_get(keys, i);
		h = jint(k, "hsm_id") == f->h[0]->id ? f->h[0] : f->h[1];
		snprintf(want, sizeof(want),
		    "--lib des --index 308 --host 127.0.0.1 --port %u",
		    h->mport);
		assert_non_null(strstr(jstr(k, "command"), want));
		assert_string_equal(jstr(k, "state"), "destroy_pending");
	}
	json_decref(r);
	r = expect_get(
	    200, "aud", "/api/root-keys/%lld/destruction", (long long)v1);
	assert_int_equal(json_array_size(json_object_get(r, "keys")), 2);
	assert_int_equal(jint(r, "pending"), 2);
	json_decref(r);
	r = expect_get(
	    200, "aud", "/api/root-keys/%lld/destruction", (long long)sm4);
	assert_int_equal(json_array_size(json_object_get(r, "keys")), 0);
	json_decref(r);
	snprintf(payload, sizeof(payload),
	    "/api/root-keys/%lld/confirm-destroy", (long long)sm4);
	r = expect(409, "kma", "POST", payload, NULL);
	says(r, "no destruction was asked for", NULL);
	json_decref(r);

	/* Confirm before anyone deleted anything: still pending. */
	snprintf(payload, sizeof(payload),
	    "/api/root-keys/%lld/confirm-destroy", (long long)v1);
	r = expect(200, "sup", "POST", payload, NULL);
	assert_int_equal(jint(r, "pending"), 2);
	assert_true(json_is_false(json_object_get(r, "root_destroyed")));
	k = json_array_get(json_object_get(r, "keys"), 0);
	assert_true(json_is_false(json_object_get(k, "ok")));
	assert_non_null(strstr(jstr(k, "why"), "still holds"));
	json_decref(r);

	/* Both HSMs found empty at that index (here: replaced by new
	 * devices, moved there by hsm.update): v1 destroyed. */
	f->h[0] = fresh(f->h[0]);
	f->h[1] = fresh(f->h[1]);
	r = expect(200, "kma", "POST", payload, NULL);
	assert_int_equal(jint(r, "pending"), 0);
	assert_int_equal(jint(r, "destroyed"), 2);
	assert_true(json_is_true(json_object_get(r, "root_destroyed")));
	assert_true(json_is_true(json_object_get(
	    json_array_get(json_object_get(r, "keys"), 1), "ok")));
	json_decref(r);
	r = expect_get(200, "aud", "/api/root-keys/%lld", (long long)v1);
	assert_string_equal(jstr(r, "state"), "destroyed");
	keys = json_object_get(r, "events");
	assert_string_equal(
	    jstr(json_array_get(keys, json_array_size(keys) - 1), "actor"),
	    "kma");
	json_decref(r);
	assert_int_equal(count(f->db, "SELECT COUNT(*) FROM audit"
				      " WHERE action = 'key.destroy.confirm'"),
	    2);

	/* The destruction and compromise records. */
	r = expect_get(200, "aud", "/api/records/destruction/%lld?format=md",
	    (long long)v1);
	assert_non_null(strstr(jstr(r, "document"), "Key destruction record"));
	assert_non_null(strstr(jstr(r, "document"), "kma+kmb"));
	json_decref(r);
	r = expect_get(200, "aud", "/api/records/compromise/%lld?format=html",
	    (long long)v2);
	assert_non_null(strstr(jstr(r, "document"), "<html"));
	assert_non_null(
	    strstr(jstr(r, "document"), "card reader &lt;stolen&gt;"));
	json_decref(r);
	r = expect_get(200, "aud", "/api/records/compromise/%lld?format=md",
	    (long long)v2);
	assert_non_null(
	    strstr(jstr(r, "document"), "card reader \\<stolen\\>"));
	json_decref(r);
	r = expect_get(200, "aud", "/api/records/distribution/%lld?format=md",
	    (long long)v2);
	assert_non_null(strstr(jstr(r, "document"), "kmb+kma"));
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		t_reads_and_refusals, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		t_payloads_refused, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		t_hsm_add_check_update, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		t_generate_issue, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		t_failures_name_the_hsm, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(t_lifecycle, t_setup, t_teardown),
	};
	const char *build = getenv("TKMS_BUILD");
	char why[KDB_WHY];
	int rc;

	if (build != NULL && build[0] != '\0')
		snprintf(hsmd, sizeof(hsmd), "%s/tkms-hsmd", build);
#ifdef TKMS_HSMD
	else
		snprintf(hsmd, sizeof(hsmd), "%s", TKMS_HSMD);
#endif
	if (hsmd[0] == '\0' || access(hsmd, X_OK) != 0) {
		fprintf(
		    stderr, "test_api_keys: no tkms-hsmd (set TKMS_BUILD)\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	setenv("TKMS_ARGON2_FAST", "1", 1);
	pg_base = getenv("TKMS_PG_URL");
	if (pg_base != NULL && pg_base[0] == '\0')
		pg_base = NULL;
	if (pg_base != NULL &&
	    kdb_open(pg_base, &pg_admin, why, sizeof(why)) != TKM_OK) {
		fprintf(stderr, "test_api_keys: %s: %s\n", pg_base, why);
		return 1;
	}
	print_message("backend: %s\n", pg_base ? "postgresql" : "sqlite");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	kdb_close(pg_admin);
	return rc;
}
