/*
 * demo_kms.c - the KMS side of `tkms demo` (demo.h, docs/demo.md):
 * users, HSM registration, root keys, issuance and maintenance licences,
 * all through tkms-kmsd's HTTP API (docs/api.md) with the client of
 * `tkms kms` (kms_client.h), each change proposed by one user and
 * approved by another of the same role. What the KMS records is compared
 * with what the HSMs hold (`tkms hsm keys list` by their security
 * admins).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "proc.h"
#include "tkm/mem.h"

#define APPROVE_WAIT (600 * 1000) /* an approval that drives the HSMs */

enum { U_CA, U_CB, U_KMA, U_KMB, U_SA, U_SB, U_AA, U_AB };

/* --- HTTP ----------------------------------------------------------------- */

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long
jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* commands.sh: the call as `kms_as USER WORDS...`, the `tkms kms`
 * command that does the same (NULL-terminated words). */
static void
log_kms(struct demo *d, const struct demo_user *u, ...)
{
	const char *w[16];
	size_t n = 0;
	va_list ap;

	w[n++] = u->name;
	va_start(ap, u);
	while (n < 15 && (w[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	w[n] = NULL;
	demo_log(d, "kms_as", w);
}

/*
 * One API call as user u; *ans the answer (NULL allowed when not wanted).
 * A status other than want (0: any 2xx) fails the step with the KMS's
 * message.
 */
static int
api(struct demo *d, struct demo_user *u, const char *method, const char *path,
    json_t *body, int want, json_t **ans, const char *step)
{
	json_t *a = NULL;
	const char *err, *msg;
	int status = 0;

	if (ans != NULL)
		*ans = NULL;
	if (kcli_http_call(&u->k, method, path, body, &status, &a) != 0) {
		json_decref(a);
		return demo_fail(d, step, "%s %s: no answer from tkms-kmsd%s",
		    method, path, proc_interrupted() ? " (interrupted)" : "");
	}
	if (want != 0 ? status != want : (status < 200 || status > 299)) {
		err = json_string_value(json_object_get(a, "error"));
		msg = json_string_value(json_object_get(a, "message"));
		demo_fail(d, step, "%s %s as %s: HTTP %d %s: %s", method, path,
		    u->name, status, err != NULL ? err : "",
		    msg != NULL ? msg : "(no message)");
		json_decref(a);
		return DEMO_FAIL;
	}
	if (ans != NULL)
		*ans = a;
	else
		json_decref(a);
	return 0;
}

/* The password of KMS user name (D/secrets/kms/NAME.password, its path
 * in path); the caller wipes pw. */
static int
user_password(struct demo *d, const char *name, char *path, size_t pcap,
    char *pw, size_t cap)
{
	FILE *f;
	int ok;

	snprintf(path, pcap, "%s/secrets/kms/%s.password", d->dir, name);
	pw[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		return demo_fail(d, "kms", "%s: %s", path, strerror(errno));
	ok = fgets(pw, (int)cap, f) != NULL;
	fclose(f);
	pw[strcspn(pw, "\r\n")] = '\0';
	return ok && pw[0] != '\0'
		   ? 0
		   : demo_fail(d, "kms", "%s: no password in it", path);
}

static int
login(struct demo *d, struct demo_user *u)
{
	char path[DEMO_PATH + 64], pw[300];
	json_t *body, *ans = NULL;
	int rc;

	if (kcli_set_url(&u->k, d->kms_url) != 0)
		return demo_fail(d, "kms", "bad URL %s", d->kms_url);
	u->k.token[0] = '\0';
	if (user_password(d, u->name, path, sizeof(path), pw, sizeof(pw)) != 0)
		return DEMO_FAIL;
	demo_progress(d, "kms: login %s (Argon2id%s)", u->name,
	    d->fast_kdf ? ", test cost" : ", 64 MiB");
	body = json_pack("{s:s, s:s}", "name", u->name, "password", pw);
	tkm_cleanse(pw, sizeof(pw));
	log_kms(d, u, "login", u->name, "--password-file", path, NULL);
	rc = api(d, u, "POST", "/api/login", body, 200, &ans, "kms login");
	json_decref(body);
	if (rc != 0)
		return rc;
	if (jstr(ans, "token") == NULL ||
	    strlen(jstr(ans, "token")) > KCLI_TOKEN_MAX) {
		json_decref(ans);
		return demo_fail(d, "kms login", "%s: no token", u->name);
	}
	snprintf(u->k.token, sizeof(u->k.token), "%s", jstr(ans, "token"));
	rc = demo_check_eq(d, "kms login", "role of user",
		 jstr(json_object_get(ans, "user"), "role"), u->name, u->role)
		 ? 0
		 : DEMO_FAIL;
	json_decref(ans);
	return rc;
}

/* commands.sh: `kms_as U propose KIND 'PAYLOAD'`, a password as the
 * file it is in. */
static void
log_proposal(
    struct demo *d, const struct demo_user *u, const char *kind, json_t *pl)
{
	char pw[DEMO_PATH + 64];
	json_t *copy = json_deep_copy(pl);
	char *text = NULL;
	int has_pw = json_object_get(pl, "password") != NULL;

	if (copy == NULL)
		return;
	json_object_del(copy, "password");
	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	snprintf(pw, sizeof(pw), "%s/secrets/kms/%s.password", d->dir,
	    jstr(pl, "name") != NULL ? jstr(pl, "name") : "?");
	if (text != NULL)
		log_kms(d, u, "propose", kind, text,
		    has_pw ? "--password-file" : NULL, pw, NULL);
	tkm_wipe_free(text);
}

/*
 * kind proposed by proposer and approved by approver; *result the
 * proposal's result (NULL allowed). The approval of a kind that drives
 * HSMs returns when they are done; a proposal still "approved" is
 * followed until it is decided.
 */
static int
dual(struct demo *d, int proposer, int approver, const char *kind,
    json_t *payload, json_t **result, const char *wait)
{
	struct demo_user *p = &d->users[proposer], *a = &d->users[approver];
	char path[96], step[96];
	json_t *body, *prop = NULL, *dec = NULL;
	long long id, end;
	const char *state;
	int rc;

	if (result != NULL)
		*result = NULL;
	snprintf(step, sizeof(step), "proposal %s", kind);
	log_proposal(d, p, kind, payload);
	body = json_pack("{s:s, s:O}", "kind", kind, "payload", payload);
	rc = api(d, p, "POST", "/api/proposals", body, 201, &prop, step);
	json_decref(body);
	if (rc != 0)
		return rc;
	id = jint(prop, "id");
	json_decref(prop);
	snprintf(path, sizeof(path), "%lld", id);
	log_kms(d, a, "approve", path, NULL);
	snprintf(path, sizeof(path), "/api/proposals/%lld/approve", id);
	if (wait != NULL)
		demo_wait_begin(d, wait);
	body = json_object();
	rc = api(d, a, "POST", path, body, 0, &dec, step);
	json_decref(body);
	snprintf(path, sizeof(path), "/api/proposals/%lld", id);
	end = proc_now_ms() + APPROVE_WAIT;
	while (rc == 0 && (state = jstr(dec, "state")) != NULL &&
	       strcmp(state, "approved") == 0 && proc_now_ms() < end &&
	       !proc_interrupted()) {
		json_decref(dec);
		dec = NULL;
		usleep(200 * 1000);
		rc = api(d, a, "GET", path, NULL, 200, &dec, step);
	}
	if (wait != NULL)
		demo_wait_end(d);
	if (rc != 0)
		goto out;
	state = jstr(dec, "state");
	if (state == NULL || strcmp(state, "executed") != 0) {
		const char *why = jstr(json_object_get(dec, "result"), "error");

		rc = demo_fail(d, step,
		    "proposal %lld by %s, approved by %s: %s%s%s", id, p->name,
		    a->name, state != NULL ? state : "(no state)",
		    why != NULL ? ": " : "", why != NULL ? why : "");
		goto out;
	}
	demo_say(d, "%s: proposal %lld by %s, approved by %s: executed", kind,
	    id, p->name, a->name);
	if (result != NULL)
		*result = json_incref(json_object_get(dec, "result"));
out:
	json_decref(dec);
	return rc;
}

/* --- users ---------------------------------------------------------------- */

int
demo_kms_users(struct demo *d)
{
	char pwpath[DEMO_PATH + 64], pw[300], what[80];
	json_t *payload, *ans = NULL, *u, *inst;
	int i, n[4] = {0}, rc;
	size_t k;

	if (login(d, &d->users[U_CA]) != 0 || login(d, &d->users[U_CB]) != 0)
		return DEMO_FAIL;
	for (i = U_KMA; i < DEMO_KMS_USERS; i++) {
		if (user_password(d, d->users[i].name, pwpath, sizeof(pwpath),
			pw, sizeof(pw)) != 0)
			return DEMO_FAIL;
		demo_progress(d, "kms: user.create %s (%s)", d->users[i].name,
		    d->users[i].role);
		payload = json_pack("{s:s, s:s, s:s}", "name", d->users[i].name,
		    "role", d->users[i].role, "password", pw);
		tkm_cleanse(pw, sizeof(pw));
		rc = dual(d, U_CA, U_CB, "user.create", payload, NULL, NULL);
		json_decref(payload);
		if (rc != 0 || login(d, &d->users[i]) != 0)
			return DEMO_FAIL;
	}
	log_kms(d, &d->users[U_SA], "users", NULL);
	if (api(d, &d->users[U_SA], "GET", "/api/users", NULL, 200, &ans,
		"kms users") != 0)
		return DEMO_FAIL;
	json_array_foreach(json_object_get(ans, "users"), k, u)
	{
		static const char *const r[4] = {
		    "configurator", "key_manager", "supervisor", "auditor"};

		for (i = 0; i < 4; i++)
			if (jstr(u, "role") != NULL &&
			    strcmp(jstr(u, "role"), r[i]) == 0 &&
			    jstr(u, "state") != NULL &&
			    strcmp(jstr(u, "state"), "active") == 0)
				n[i]++;
	}
	json_decref(ans);
	demo_check(d, n[0] == 2 && n[1] == 2 && n[2] == 2 && n[3] == 2,
	    "kms users",
	    "active: %d configurators, %d key managers, %d supervisors, %d "
	    "auditors (2 each expected)",
	    n[0], n[1], n[2], n[3]);
	/* appendix 1: the cities, Guangzhou's issuer code for the city HSM */
	log_kms(d, &d->users[U_CA], "institutions", NULL);
	if (api(d, &d->users[U_CA], "GET", "/api/institutions", NULL, 200, &ans,
		"kms institutions") != 0)
		return DEMO_FAIL;
	d->cities = json_array();
	json_array_foreach(json_object_get(ans, "institutions"), k, inst)
	{
		if (jstr(inst, "kind") == NULL ||
		    strcmp(jstr(inst, "kind"), "city") != 0)
			continue;
		json_array_append(d->cities, inst);
		if (jstr(inst, "city_code") != NULL &&
		    strcmp(jstr(inst, "city_code"), DEMO_CITY1) == 0 &&
		    jstr(inst, "issuer_code") != NULL)
			snprintf(d->issuer1, sizeof(d->issuer1), "%s",
			    jstr(inst, "issuer_code"));
	}
	json_decref(ans);
	snprintf(what, sizeof(what), "appendix 1");
	return demo_check(d,
		   json_array_size(d->cities) == 21 && d->issuer1[0] != '\0',
		   what,
		   "%zu cities in the KMS (21 expected), %s issuer code %s",
		   json_array_size(d->cities), DEMO_CITY1, d->issuer1)
		   ? 0
		   : DEMO_FAIL;
}

/* --- HSMs ----------------------------------------------------------------- */

static int
hsm_add(struct demo *d, struct demo_hsm *h, int listener)
{
	json_t *payload, *res = NULL;
	int rc;

	payload = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:i, s:s}", "name",
	    h->name, "role", h->kms_role, "host", "127.0.0.1", "port",
	    (int)h->port[listener], "header_len", 8, "mgmt_host", "127.0.0.1",
	    "mgmt_port", (int)h->mport, "serial", h->serial);
	if (payload != NULL && h->city != NULL)
		json_object_set_new(payload, "city", json_string(h->city));
	demo_progress(d, "kms: hsm.add %s", h->name);
	rc = dual(d, U_CA, U_CB, "hsm.add", payload, &res, NULL);
	json_decref(payload);
	if (rc != 0)
		return rc;
	h->kms_id = jint(res, "id");
	json_decref(res);
	if (h->kms_id <= 0)
		return demo_fail(
		    d, "hsm.add", "%s: no id in the result", h->name);
	return 0;
}

/* POST /api/hsms/{id}/check: NC from the KMS, the KCV it saw. */
static int
hsm_check(struct demo *d, struct demo_hsm *h, const char *want_kcv)
{
	char path[64], what[80];
	json_t *ans = NULL;

	snprintf(path, sizeof(path), "%lld", h->kms_id);
	log_kms(d, &d->users[U_KMA], "hsm", "check", path, NULL);
	snprintf(path, sizeof(path), "/api/hsms/%lld/check", h->kms_id);
	if (api(d, &d->users[U_KMA], "POST", path, NULL, 200, &ans,
		"hsm check") != 0)
		return DEMO_FAIL;
	snprintf(what, sizeof(what), "KMS sees %s", h->name);
	demo_check(d,
	    json_is_true(json_object_get(ans, "ok")) &&
		jstr(ans, "dk_kcv") != NULL &&
		strcmp(jstr(ans, "dk_kcv"), want_kcv) == 0,
	    what, "health %s, DK KCV %s (HSM status %s)%s%s",
	    jstr(ans, "health") != NULL ? jstr(ans, "health") : "?",
	    jstr(ans, "dk_kcv") != NULL ? jstr(ans, "dk_kcv") : "(none)",
	    want_kcv, jstr(ans, "message") != NULL ? ": " : "",
	    jstr(ans, "message") != NULL ? jstr(ans, "message") : "");
	json_decref(ans);
	return 0;
}

int
demo_kms_register(struct demo *d)
{
	static const int ix[] = {DH_ROOT, DH_BIZ1, DH_BIZ2, DH_CLEAR};
	size_t i;

	for (i = 0; i < sizeof(ix) / sizeof(ix[0]); i++)
		if (hsm_add(d, &d->hsm[ix[i]], 0) != 0 ||
		    hsm_check(d, &d->hsm[ix[i]], d->hsm[ix[i]].dk_kcv) != 0)
			return DEMO_FAIL;
	return 0;
}

int
demo_kms_register_city(struct demo *d)
{
	struct demo_hsm *city = &d->hsm[DH_CITY];

	if (hsm_add(d, city, DEMO_CITY_KMS_LISTENER) != 0)
		return DEMO_FAIL;
	return hsm_check(d, city, d->hsm[DH_BIZ1].dk_kcv);
}

/* --- keys ----------------------------------------------------------------- */

/* C of h logs in and opens the authorised state for the window; C stays
 * logged in (to compare the keys) until the window closes. */
static int
auth(struct demo *d, struct demo_hsm *h, int open)
{
	if (open)
		return demo_login(d, h, "C", NULL) != 0 ||
			       demo_th(d, h, NULL, "auth", "open", "--minutes",
				   "30", NULL) != 0
			   ? DEMO_FAIL
			   : 0;
	return demo_th(d, h, NULL, "auth", "close", NULL) != 0 ||
		       demo_th(d, h, NULL, "logout", NULL) != 0
		   ? DEMO_FAIL
		   : 0;
}

/* The template's row of GET /api/templates. */
static json_t *template(struct demo *d, const char *name)
{
	json_t *t;
	size_t i;

	json_array_foreach(json_object_get(d->templates, "templates"), i,
	    t) if (jstr(t, "name") != NULL &&
		   strcmp(jstr(t, "name"), name) == 0) return t;
	return NULL;
}

/* The HSM's key at lib/index ("K2A0") in a keys.list array. */
static json_t *
hsm_key(json_t *keys, const char *alg, const char *index)
{
	const char *lib = strcmp(alg, "SM4") == 0 ? "sm4" : "des";
	json_t *k;
	size_t i;

	if (index == NULL || index[0] != 'K')
		return NULL;
	json_array_foreach(keys, i,
	    k) if (jstr(k, "lib") != NULL && strcmp(jstr(k, "lib"), lib) == 0 &&
		   jstr(k, "ref") != NULL &&
		   strcmp(jstr(k, "ref"), index + 1) == 0) return k;
	return NULL;
}

/*
 * Every key of recs (the KMS's rows: template, alg, index, kcv) is in the
 * HSM with that KCV (the KMS keeps DES KCVs as 6 hex digits, SM4 as 16:
 * compared on the KMS's length). One check; the first difference named.
 * C of h is logged in (the authorised window of auth()).
 */
static int
compare_with_hsm(
    struct demo *d, struct demo_hsm *h, json_t *recs, const char *what)
{
	json_t *keys = NULL, *r, *k;
	char diff[256] = "";
	const char *kcv, *full;
	size_t i, same = 0, n = json_array_size(recs);

	if (demo_keys_list(d, h, &keys) != 0)
		return DEMO_FAIL;
	json_array_foreach(recs, i, r)
	{
		k = hsm_key(keys, jstr(r, "alg"), jstr(r, "index"));
		kcv = jstr(r, "kcv");
		full = jstr(k, "kcv_full");
		if (k != NULL && kcv != NULL && full != NULL &&
		    strncmp(kcv, full, strlen(kcv)) == 0 && strlen(kcv) >= 6)
			same++;
		else if (diff[0] == '\0')
			snprintf(diff, sizeof(diff),
			    "; first difference: %s %s %s KMS KCV %s, HSM %s",
			    jstr(r, "template"), jstr(r, "alg"),
			    jstr(r, "index"), kcv != NULL ? kcv : "(none)",
			    full != NULL ? full : "no key");
	}
	json_decref(keys);
	return demo_check(d, n > 0 && same == n, what,
		   "%zu of %zu keys the KMS recorded are in %s with its KCV%s",
		   same, n, h->name, diff)
		   ? 0
		   : DEMO_FAIL;
}

/* The KMS's root keys, one line per template: DES and SM4. */
static void
show_root_keys(struct demo *d, json_t *keys)
{
	json_t *k, *t;
	size_t i, j;
	char line[256];
	int n;

	json_array_foreach(json_object_get(d->templates, "templates"), i, t)
	{
		n = snprintf(line, sizeof(line), "%-14s", jstr(t, "name"));
		json_array_foreach(keys, j, k)
		{
			if (jstr(k, "template") == NULL ||
			    strcmp(jstr(k, "template"), jstr(t, "name")) != 0 ||
			    n >= (int)sizeof(line))
				continue;
			n += snprintf(line + n, sizeof(line) - (size_t)n,
			    " %s K%03llX KCV %-16s", jstr(k, "alg"),
			    (unsigned long long)jint(k, "idx"), jstr(k, "kcv"));
		}
		demo_say(d, "root key %s", line);
	}
}

/* GET /api/issued-keys?hsm=ID */
static int
issued(struct demo *d, struct demo_hsm *h, json_t **keys)
{
	char path[64];
	json_t *ans = NULL;

	*keys = NULL;
	snprintf(path, sizeof(path), "%lld", h->kms_id);
	log_kms(d, &d->users[U_SA], "issued", "--hsm", path, NULL);
	snprintf(path, sizeof(path), "/api/issued-keys?hsm=%lld", h->kms_id);
	if (api(d, &d->users[U_SA], "GET", path, NULL, 200, &ans,
		"issued keys") != 0)
		return DEMO_FAIL;
	*keys = json_incref(json_object_get(ans, "issued_keys"));
	json_decref(ans);
	return json_is_array(*keys) ? 0
				    : demo_fail(d, "issued keys",
					  "no issued_keys in the answer");
}

/* D/usb/issued-NAME.json: the KMS's answer for h's keys, as the card
 * commands read it (`tkms card ... --keys F`). */
static int
save_issued(struct demo *d, struct demo_hsm *h, json_t *recs)
{
	char path[DEMO_PATH + 64], *text;
	json_t *o = json_pack("{s:O}", "issued_keys", recs);
	int rc;

	snprintf(path, sizeof(path), "%s/issued-%s.json", d->usb, h->name);
	text = o != NULL ? json_dumps(o, JSON_INDENT(1)) : NULL;
	json_decref(o);
	if (text == NULL)
		return demo_fail(d, "issued keys", "out of memory");
	rc = demo_write_file(d, path, text);
	tkm_wipe_free(text);
	return rc;
}

static void
key_from(struct demo *d, struct demo_key *out, json_t *r)
{
	json_t *t = template(d, jstr(r, "template"));

	memset(out, 0, sizeof(*out));
	snprintf(out->tmpl, sizeof(out->tmpl), "%s",
	    jstr(r, "template") != NULL ? jstr(r, "template") : "");
	snprintf(out->alg, sizeof(out->alg), "%s",
	    jstr(r, "alg") != NULL ? jstr(r, "alg") : "");
	snprintf(out->index, sizeof(out->index), "%s",
	    jstr(r, "index") != NULL ? jstr(r, "index") : "");
	snprintf(out->type_code, sizeof(out->type_code), "%s",
	    jstr(t, "type_code") != NULL ? jstr(t, "type_code") : "");
	snprintf(out->kcv, sizeof(out->kcv), "%s",
	    jstr(r, "kcv") != NULL ? jstr(r, "kcv") : "");
}

/* key.issue to h (cities: for the clearing HSM); the KMS's rows compared
 * with the HSM. */
static int
issue(struct demo *d, struct demo_hsm *h, json_t *cities, json_t **recs)
{
	char wait[160], what[96];
	json_t *payload, *res = NULL, *c;
	size_t i;
	int rc;

	*recs = NULL;
	payload = json_pack("{s:I}", "hsm", (json_int_t)h->kms_id);
	if (cities != NULL)
		json_object_set(payload, "cities", cities);
	snprintf(wait, sizeof(wait),
	    "key.issue to %s: A8 at the root, A6 at %s, KCVs compared", h->name,
	    h->name);
	rc = dual(d, U_KMA, U_KMB, "key.issue", payload, &res, wait);
	json_decref(payload);
	if (rc != 0)
		return rc;
	json_array_foreach(json_object_get(res, "cities"), i, c) demo_progress(
	    d,
	    "%s: city %s: %lld keys (%lld issued, %lld "
	    "existed, %lld failed) in %lld ms",
	    h->name, jstr(c, "city_code"), jint(c, "total"), jint(c, "issued"),
	    jint(c, "existed"), jint(c, "failed"), jint(c, "elapsed_ms"));
	demo_say(d, "%s: %lld keys issued for %zu cit%s", h->name,
	    jint(res, "keys"), json_array_size(json_object_get(res, "cities")),
	    json_array_size(json_object_get(res, "cities")) == 1 ? "y" : "ies");
	json_decref(res);
	if (issued(d, h, recs) != 0 || save_issued(d, h, *recs) != 0)
		return DEMO_FAIL;
	snprintf(what, sizeof(what), "%s holds what the KMS issued", h->name);
	return compare_with_hsm(d, h, *recs, what);
}

/* Rows of recs for city code. */
static int
rows_of(json_t *recs, const char *code)
{
	json_t *r;
	size_t i;
	int n = 0;

	json_array_foreach(
	    recs, i, r) if (code != NULL && jstr(r, "city_code") != NULL &&
			    strcmp(jstr(r, "city_code"), code) == 0) n++;
	return n;
}

/* Per city of appendix 1: where its keys are (recs: the KMS's rows of
 * biz-5810, biz-5840, clearing). */
static void
city_summary(struct demo *d, json_t *const recs[3])
{
	json_t *c;
	const char *code;
	size_t i;
	int ix;

	json_array_foreach(d->cities, i, c)
	{
		code = jstr(c, "city_code");
		for (ix = 0; ix < 2; ix++)
			if (code != NULL &&
			    strcmp(d->hsm[DH_BIZ1 + ix].city, code) == 0)
				break;
		if (ix < 2)
			demo_say(d,
			    "city %s %-10s %d keys at %s, %d TAC keys "
			    "at clearing",
			    code, jstr(c, "name_en"), rows_of(recs[ix], code),
			    d->hsm[DH_BIZ1 + ix].name, rows_of(recs[2], code));
		else
			demo_say(d,
			    "city %s %-10s recorded, no HSM; %d TAC "
			    "keys at clearing",
			    code, jstr(c, "name_en"), rows_of(recs[2], code));
	}
}

int
demo_kms_keys(struct demo *d)
{
	static const int targets[] = {DH_BIZ1, DH_BIZ2, DH_CLEAR};
	struct demo_hsm *root = &d->hsm[DH_ROOT];
	json_t *payload, *res = NULL, *recs[3] = {NULL}, *codes, *c, *r;
	size_t i, n;
	int rc = DEMO_FAIL, tac_ok;

	log_kms(d, &d->users[U_SA], "templates", NULL);
	if (api(d, &d->users[U_SA], "GET", "/api/templates", NULL, 200,
		&d->templates, "templates") != 0)
		return DEMO_FAIL;
	n = json_array_size(json_object_get(d->templates, "templates"));
	demo_check(d, n == 23, "key templates",
	    "%zu templates of appendix 2 (23 expected)", n);
	/* 1.2 and 2.3: the security admins open the authorised state for
	 * the window */
	if (auth(d, root, 1) != 0)
		return DEMO_FAIL;
	for (i = 0; i < 3; i++)
		if (auth(d, &d->hsm[targets[i]], 1) != 0)
			return DEMO_FAIL;
	payload = json_pack("{s:I}", "hsm", (json_int_t)root->kms_id);
	rc = dual(d, U_KMA, U_KMB, "key.generate", payload, &res,
	    "key.generate: A0 at the root for every template, DES and SM4");
	json_decref(payload);
	if (rc != 0)
		goto out;
	show_root_keys(d, json_object_get(res, "keys"));
	{
		json_t *rk = NULL, *ans = NULL;

		log_kms(d, &d->users[U_SA], "key", "list", NULL);
		if ((rc = api(d, &d->users[U_SA], "GET", "/api/root-keys", NULL,
			 200, &ans, "root keys")) != 0)
			goto out;
		rk = json_object_get(ans, "root_keys");
		demo_check(d, json_array_size(rk) == 2 * n, "root keys",
		    "%zu active in the KMS (%zu templates x DES, SM4)",
		    json_array_size(rk), n);
		rc = compare_with_hsm(d, root, rk, "root holds the root keys");
		json_decref(ans);
		if (rc != 0)
			goto out;
	}
	/* issuance: each business HSM its city, the clearing HSM the TAC
	 * keys of every city of appendix 1 */
	codes = json_array();
	json_array_foreach(d->cities, i, c)
	    json_array_append_new(codes, json_string(jstr(c, "city_code")));
	for (i = 0; i < 3; i++) {
		rc = issue(d, &d->hsm[targets[i]],
		    targets[i] == DH_CLEAR ? codes : NULL, &recs[i]);
		if (rc != 0)
			break;
	}
	json_decref(codes);
	if (rc != 0)
		goto out;
	demo_check(d, json_array_size(recs[0]) == 2 * n, "biz keys",
	    "%zu keys issued to %s (%zu expected)", json_array_size(recs[0]),
	    d->hsm[DH_BIZ1].name, 2 * n);
	tac_ok = json_array_size(recs[2]) == 2 * json_array_size(d->cities);
	demo_check(d, tac_ok, "clearing keys",
	    "%zu TAC keys at %s (DES and SM4 of %zu cities)",
	    json_array_size(recs[2]), d->hsm[DH_CLEAR].name,
	    json_array_size(d->cities));
	city_summary(d, recs);
	/* what the card phase needs */
	d->nkeys = 0;
	json_array_foreach(recs[0], i, r) if (d->nkeys < DEMO_KEYS_MAX)
	    key_from(d, &d->keys[d->nkeys++], r);
	d->ntac = 0;
	json_array_foreach(recs[2], i,
	    r) if (jstr(r, "city_code") != NULL &&
		   strcmp(jstr(r, "city_code"), DEMO_CITY1) == 0 && d->ntac < 2)
	    key_from(d, &d->tac[d->ntac++], r);
	/* one key, two copies: the clearing HSM's TAC key of a city is the
	 * business HSM's (the same root key, the same city factor) */
	for (i = 0; i < d->ntac; i++) {
		const char *kcv = NULL;
		char what[80];
		size_t k;

		for (k = 0; k < d->nkeys; k++)
			if (strcmp(d->keys[k].tmpl, "tac") == 0 &&
			    strcmp(d->keys[k].alg, d->tac[i].alg) == 0)
				kcv = d->keys[k].kcv;
		snprintf(what, sizeof(what), "TAC key %s of %s", d->tac[i].alg,
		    DEMO_CITY1);
		demo_check_eq(d, what, "KCV at clearing", d->tac[i].kcv,
		    "at biz-" DEMO_CITY1, kcv);
	}
	demo_check(d, d->ntac == 2, "clearing TAC keys of " DEMO_CITY1,
	    "%zu (DES and SM4 expected)", d->ntac);
	/* the window closes */
	for (i = 0; i < 3; i++)
		if ((rc = auth(d, &d->hsm[targets[i]], 0)) != 0)
			goto out;
	rc = auth(d, root, 0);
out:
	json_decref(res);
	for (i = 0; i < 3; i++)
		json_decref(recs[i]);
	return rc;
}

/* --- maintenance licences ------------------------------------------------- */

/*
 * The licences of docs/maintenance.md for the city's keys: UB on the load
 * and TAC keys; U1 and U3 on load, TAC, purchase and e-cash MAC and AC
 * keys; both algorithms. One line per command and key.
 *
 * The counts are what the city asked for (the form's cards): U3 exactly
 * the uses of the card phase on each key (demo_u3_uses: one per card of
 * the key's algorithm, one more on the purchase keys for the PSAM), so
 * that the last card takes the last count and one more card is refused
 * (demo_cards.c checks both); UB and U1, which the demo does not send to
 * the city HSM (loads and TACs go to biz-5810 and clearing), the number
 * of cards.
 */
static char *
licence_text(struct demo *d, const char *until)
{
	static const struct {
		const char *cmd, *tmpl;
	} want[] = {
	    {"UB", "load_01"},
	    {"UB", "load_02"},
	    {"UB", "load_03"},
	    {"UB", "tac"},
	    {"U1", "load_01"},
	    {"U1", "tac"},
	    {"U1", "purchase_01"},
	    {"U1", "purchase_02"},
	    {"U1", "ecash_mac"},
	    {"U1", "ecash_ac"},
	    {"U3", "load_01"},
	    {"U3", "load_02"},
	    {"U3", "load_03"},
	    {"U3", "tac"},
	    {"U3", "purchase_01"},
	    {"U3", "purchase_02"},
	    {"U3", "ecash_mac"},
	    {"U3", "ecash_ac"},
	};
	size_t cap = 16384, n = 0, i, k;
	char *t = malloc(cap);

	if (t == NULL)
		return NULL;
	t[0] = '\0';
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		for (k = 0; k < d->nkeys; k++) {
			if (strcmp(d->keys[k].tmpl, want[i].tmpl) != 0 ||
			    n + 64 >= cap)
				continue;
			n += (size_t)snprintf(t + n, cap - n,
			    "%s %s %s %u %s\n", want[i].cmd, d->keys[k].index,
			    strcmp(d->keys[k].alg, "SM4") == 0 ? "sm4" : "des",
			    strcmp(want[i].cmd, "U3") == 0
				? demo_u3_uses(
				      d, d->keys[k].tmpl, d->keys[k].alg)
				: d->cards,
			    until);
		}
	return t;
}

/* "CMD KEY LIB" of a licence line or of maint show's object. */
static int
licence_listed(const char *text, const char *cmd, const char *key,
    const char *lib, long long count, const char *until)
{
	char line[96];

	snprintf(line, sizeof(line), "%s %s %s %lld %s\n", cmd, key, lib, count,
	    until);
	return strstr(text, line) == text ||
	       (strstr(text, line) != NULL && strstr(text, line)[-1] == '\n');
}

static int
show_matches(struct demo *d, json_t *shown, const char *sent, int nsent,
    const char *what)
{
	json_t *l;
	size_t i;
	int same = 0;
	char diff[200] = "";

	json_array_foreach(json_object_get(shown, "licences"), i, l)
	{
		if (jstr(l, "cmd") != NULL && jstr(l, "key") != NULL &&
		    jstr(l, "lib") != NULL && jstr(l, "until_date") != NULL &&
		    licence_listed(sent, jstr(l, "cmd"), jstr(l, "key"),
			jstr(l, "lib"), jint(l, "remaining"),
			jstr(l, "until_date")))
			same++;
		else if (diff[0] == '\0')
			snprintf(diff, sizeof(diff),
			    "; first difference: %s %s %s %lld %s",
			    jstr(l, "cmd"), jstr(l, "key"), jstr(l, "lib"),
			    jint(l, "remaining"), jstr(l, "until_date"));
	}
	return demo_check(d,
		   same == nsent &&
		       json_array_size(json_object_get(shown, "licences")) ==
			   (size_t)nsent &&
		       json_is_true(json_object_get(shown, "enforce")),
		   what,
		   "%d of %d licences as sent (cmd, key, lib, remaining, "
		   "until), enforce %s%s",
		   same, nsent,
		   json_is_true(json_object_get(shown, "enforce")) ? "on"
								   : "off",
		   diff)
		   ? 0
		   : DEMO_FAIL;
}

/* `tkms maint WORDS...` at the city HSM's management port. */
static int
maint(struct demo *d, json_t **res, const char *w1, const char *o1,
    const char *v1, const char *o2, const char *v2)
{
	struct demo_hsm *city = &d->hsm[DH_CITY];
	char port[8], step[64], *out = NULL;
	json_error_t jerr;
	int rc;

	*res = NULL;
	snprintf(port, sizeof(port), "%u", city->mport);
	snprintf(step, sizeof(step), "%s: tkms maint %s", city->name, w1);
	demo_progress(d, "%s", step);
	if (o1 == NULL)
		rc =
		    demo_tkms(d, step, &out, "maint", w1, "--host", "127.0.0.1",
			"--port", port, "--session", city->session, NULL);
	else if (o2 == NULL)
		rc = demo_tkms(d, step, &out, "maint", w1, o1, v1, "--host",
		    "127.0.0.1", "--port", port, "--session", city->session,
		    NULL);
	else
		rc = demo_tkms(d, step, &out, "maint", w1, o1, v1, o2, v2,
		    "--host", "127.0.0.1", "--port", port, "--session",
		    city->session, NULL);
	if (rc == 0 &&
	    (*res = json_loads(out != NULL ? out : "", 0, &jerr)) == NULL)
		rc = demo_fail(d, step, "not JSON: %s", jerr.text);
	free(out);
	return rc;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *t;
	size_t n;

	if (f == NULL || (t = malloc(65536)) == NULL) {
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	n = fread(t, 1, 65535, f);
	t[n] = '\0';
	fclose(f);
	return t;
}

int
demo_licence(struct demo *d)
{
	struct demo_hsm *city = &d->hsm[DH_CITY], *root = &d->hsm[DH_ROOT];
	char form[DEMO_PATH + 32], req[DEMO_PATH + 32], upd[DEMO_PATH + 32];
	char text[1024], until[16], path[96];
	json_t *res = NULL, *app = NULL, *payload = NULL, *ans = NULL;
	char *reqtext = NULL;
	const char *org = "广州市交通一卡通", *u;
	time_t t = time(NULL) + 365 * 86400;
	struct tm tm;
	int rc = DEMO_FAIL, nlic = 0;
	size_t i;

	/* 配置加密机维保信息 step 1: the city's C makes the request */
	gmtime_r(&t, &tm);
	strftime(until, sizeof(until), "%Y-%m-%d", &tm);
	snprintf(form, sizeof(form), "%s/%s-form.txt", d->usb, city->name);
	snprintf(req, sizeof(req), "%s/%s-request.txt", d->usb, city->name);
	snprintf(upd, sizeof(upd), "%s/%s-update.txt", d->usb, city->name);
	snprintf(text, sizeof(text),
	    "# 广东省全国交通一卡通加密机维保申请表 (tkms demo)\n"
	    "issuer_code=%s\nhsm_number=GZ-CITY-01\norganisation=%s\n"
	    "applicant=tkms demo\naddress=广东省广州市\nphone=020-00000000\n"
	    "cards_this_year=%u\ncards_next_year=%u\nremarks=\n",
	    d->issuer1, org, d->cards, d->cards);
	if (demo_write_file(d, form, text) != 0 ||
	    demo_login(d, city, "C", NULL) != 0 ||
	    maint(d, &res, "request", "--form", form, "--out", req) != 0)
		goto out;
	demo_say(d, "%s: maintenance request serial %s, nonce %s -> usb/%s",
	    city->name, jstr(res, "serial"), jstr(res, "nonce"),
	    strrchr(req, '/') + 1);
	demo_check_eq(d, "maintenance request", "serial", jstr(res, "serial"),
	    "city HSM's", city->serial);
	json_decref(res);
	res = NULL;
	/* step 2: the KMS imports it */
	if ((reqtext = slurp(req)) == NULL) {
		demo_fail(d, "maint", "%s: cannot read", req);
		goto out;
	}
	payload = json_pack("{s:s}", "request", reqtext);
	log_kms(d, &d->users[U_KMA], "maint", "import", "--request", req, NULL);
	if (api(d, &d->users[U_KMA], "POST", "/api/maint", payload, 201, &app,
		"maint import") != 0)
		goto out;
	json_decref(payload);
	payload = NULL;
	d->maint_app = jint(app, "id");
	demo_check(d,
	    jstr(app, "serial") != NULL &&
		strcmp(jstr(app, "serial"), city->serial) == 0 &&
		jint(app, "hsm_id") == city->kms_id,
	    "KMS imported the request",
	    "application %lld: serial %s, HSM %lld (%s is %lld), state %s",
	    d->maint_app, jstr(app, "serial"), jint(app, "hsm_id"), city->name,
	    city->kms_id, jstr(app, "state"));
	/* step 3: key manager A proposes the licences, B approves; the root
	 * signs with the maintenance key in its authorised state */
	free(d->licences);
	if ((d->licences = licence_text(d, until)) == NULL) {
		demo_fail(d, "maint", "out of memory");
		goto out;
	}
	for (u = d->licences; (u = strchr(u, '\n')) != NULL; u++)
		nlic++;
	demo_say(d,
	    "licences: %d (UB on load and TAC keys; U1, U3 on load, "
	    "TAC, purchase, e-cash MAC and AC keys) until %s",
	    nlic, until);
	demo_say(d,
	    "  U3: the uses of %u cards (%u DES, %u SM4) and a PSAM per "
	    "algorithm, exactly; UB, U1: %u each (not used at the city)",
	    d->cards, demo_cards_of(d, "DES"), demo_cards_of(d, "SM4"),
	    d->cards);
	if (auth(d, root, 1) != 0)
		goto out;
	payload = json_pack("{s:I, s:s, s:b, s:I, s:i}", "app",
	    (json_int_t)d->maint_app, "licences", d->licences, "enforce", 1,
	    "hsm", (json_int_t)root->kms_id, "key_index", 20);
	if (dual(d, U_KMA, U_KMB, "maint.licence", payload, &res,
		"maint.licence: EW at the root with the maintenance key") !=
		0 ||
	    auth(d, root, 0) != 0)
		goto out;
	demo_check_eq(d, "update signed", "maintenance key", jstr(res, "mkey"),
	    "root's", d->mkey_fp);
	json_decref(res);
	res = NULL;
	/* export, and apply at the city (C); B confirms (step 5) */
	snprintf(path, sizeof(path), "%lld", d->maint_app);
	log_kms(
	    d, &d->users[U_KMA], "maint", "export", path, "--out", upd, NULL);
	snprintf(path, sizeof(path), "/api/maint/%lld/export", d->maint_app);
	if (api(d, &d->users[U_KMA], "POST", path, NULL, 200, &ans,
		"maint export") != 0)
		goto out;
	if (jstr(ans, "update") == NULL) {
		demo_fail(d, "maint export", "no update in the answer");
		goto out;
	}
	if (demo_write_file(d, upd, jstr(ans, "update")) != 0)
		goto out;
	demo_say(d, "KMS: update seq %lld for %s -> usb/%s", jint(ans, "seq"),
	    jstr(ans, "serial"), strrchr(upd, '/') + 1);
	if (maint(d, &res, "apply", "--in", upd, NULL, NULL) != 0)
		goto out;
	json_decref(res);
	res = NULL;
	if (demo_th(d, city, NULL, "logout", NULL) != 0 ||
	    demo_login(d, city, "B", NULL) != 0 ||
	    maint(d, &res, "show", NULL, NULL, NULL, NULL) != 0 ||
	    show_matches(d, res, d->licences, nlic,
		"city licences (maint show by B)") != 0 ||
	    demo_th(d, city, NULL, "logout", NULL) != 0)
		goto out;
	json_decref(app);
	snprintf(path, sizeof(path), "%lld", d->maint_app);
	log_kms(d, &d->users[U_SA], "maint", "show", path, NULL);
	snprintf(path, sizeof(path), "/api/maint/%lld", d->maint_app);
	if (api(d, &d->users[U_SA], "GET", path, NULL, 200, &app,
		"maint application") != 0)
		goto out;
	demo_check_eq(d, "maintenance application", "state", jstr(app, "state"),
	    "expected", "exported");
	(void)i;
	rc = 0;
out:
	free(reqtext);
	json_decref(res);
	json_decref(app);
	json_decref(payload);
	json_decref(ans);
	return rc;
}
