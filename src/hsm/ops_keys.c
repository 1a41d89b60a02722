/*
 * ops_keys.c - key libraries, the authorised state, whitelists and time
 * (docs/management.md, docs/permissions.md).
 *
 * Whitelists change at run time: workers read a listener's settings with
 * no lock, so whitelist.set publishes a new immutable copy (struct hsm_wl)
 * through an atomic pointer, and the copy it replaces is freed only at
 * shutdown (hsm_state_cleanup). The change is also kept in the admin
 * settings and applied again at the next start (hsm_settings_apply):
 *   whitelist.N.commands  "A0,A6,..."          ("" = every command)
 *   whitelist.N.ip        "10.0.0.0/8,::1/128" ("" = any address)
 *   time_offset           seconds, decimal
 * The authorised state is not kept: a restart closes it.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin.h"
#include "cmd.h"
#include "keystore.h"
#include "ops.h"
#include "tkm/buf.h"

#define AUTH_MAX_MINUTES 480
#define OFFSET_MAX       (100LL * 366 * 24 * 3600) /* a century */
#define SETTING_MAX      2048

/* --- helpers ------------------------------------------------------------ */

/* An optional string argument: NULL if absent; TKM_ERR_INPUT if present
 * but not a string. */
static int
arg_str(json_t *args, const char *name, const char **out)
{
	json_t *v = json_object_get(args, name);

	*out = NULL;
	if (v == NULL)
		return TKM_OK;
	if (!json_is_string(v))
		return TKM_ERR_INPUT;
	*out = json_string_value(v);
	return TKM_OK;
}

/* An integer argument in [min, max]; def if absent (def < min: required). */
static int
arg_int(json_t *args, const char *name, long long min, long long max,
    long long def, long long *out)
{
	json_t *v = json_object_get(args, name);

	*out = def;
	if (v == NULL)
		return def < min ? TKM_ERR_INPUT : TKM_OK;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return TKM_ERR_INPUT;
	*out = json_integer_value(v);
	return TKM_OK;
}

/* An index as a number, or as the protocol writes it: 3 hex digits for
 * DES/SM4 ("0A1"), 2 decimal for RSA/SM2 ("07"). */
static int
arg_index(json_t *args, int lib, unsigned *out)
{
	json_t *v = json_object_get(args, "index");
	unsigned max =
	    lib <= HSM_LIB_SM4 ? HSM_SYM_MAX_INDEX : HSM_ASYM_MAX_INDEX;
	const char *s;
	char *end;
	long n;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > max)
			return TKM_ERR_INDEX;
		*out = (unsigned)json_integer_value(v);
		return TKM_OK;
	}
	if (!json_is_string(v) || (s = json_string_value(v))[0] == '\0' ||
	    strlen(s) > 3)
		return TKM_ERR_INPUT;
	n = strtol(s, &end, lib <= HSM_LIB_SM4 ? 16 : 10);
	if (*end != '\0' || n < 0)
		return TKM_ERR_INPUT;
	if ((unsigned long)n > max)
		return TKM_ERR_INDEX;
	*out = (unsigned)n;
	return TKM_OK;
}

/* A key store of the management thread's own, for one operation. */
static int
store_open(struct hsm_op_ctx *c, struct hsm_keystore **ks, const char **why)
{
	struct hsm_dk *dk = atomic_load(&c->st->dk);

	*ks = NULL;
	if (dk == NULL) {
		*why = "the HSM is sealed";
		return TKM_ERR_SEALED;
	}
	return hsm_keystore_open(c->st->dir, dk, ks);
}

static void
key_index_text(int lib, unsigned index, char out[8])
{
	if (lib <= HSM_LIB_SM4)
		snprintf(out, 8, "%03X", index);
	else
		snprintf(out, 8, "%02u", index);
}

/* A key's attributes, never the key. */
json_t *
hsm_key_json(const struct hsm_key_info *k)
{
	char kcv[2 * sizeof(k->kcv) + 1], idx[8];
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	tkm_hex_encode(k->kcv, sizeof(k->kcv), kcv);
	key_index_text(k->lib, k->index, idx);
	json_object_set_new(o, "lib", json_string(hsm_lib_name(k->lib)));
	json_object_set_new(o, "index", json_integer(k->index));
	json_object_set_new(o, "ref", json_string(idx));
	json_object_set_new(o, "type", json_string(k->type));
	json_object_set_new(o, "usage", json_string(k->usage));
	json_object_set_new(o, "kcv_full", json_string(kcv));
	kcv[6] = '\0';
	json_object_set_new(o, "kcv", json_string(kcv));
	json_object_set_new(o, "label", json_string(k->label));
	json_object_set_new(o, "created", json_integer(k->created));
	json_object_set_new(o, "version", json_integer(k->version));
	return o;
}

/* --- keys.list, keys.delete ---------------------------------------------- */

static int
list_one(void *arg, const struct hsm_key_info *k)
{
	json_t *o = hsm_key_json(k);

	if (o == NULL || json_array_append_new(arg, o) != 0)
		return TKM_ERR_NOMEM;
	return TKM_OK;
}

/* keys.list {lib?}: every key of one library, or of all. */
int
op_keys_list(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_keystore *ks = NULL;
	json_t *keys = json_array();
	const char *name;
	int lib = 0, rc;

	if (keys == NULL)
		return TKM_ERR_NOMEM;
	if ((rc = arg_str(args, "lib", &name)) != TKM_OK ||
	    (name != NULL && (lib = hsm_lib_parse(name)) == 0)) {
		*why = "lib is one of des, sm4, rsa, sm2";
		rc = TKM_ERR_INPUT;
		goto out;
	}
	if ((rc = store_open(c, &ks, why)) != TKM_OK ||
	    (rc = hsm_keystore_list(ks, lib, list_one, keys)) != TKM_OK)
		goto out;
	json_object_set_new(
	    result, "count", json_integer((json_int_t)json_array_size(keys)));
	json_object_set(result, "keys", keys);
out:
	json_decref(keys);
	hsm_keystore_close(ks);
	return rc;
}

/* keys.delete {lib, index}: the result names what was deleted. */
int
op_keys_delete(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	struct hsm_keystore *ks = NULL;
	struct hsm_key_info info;
	const char *name;
	unsigned index;
	int lib, rc;

	if (arg_str(args, "lib", &name) != TKM_OK ||
	    (lib = hsm_lib_parse(name)) == 0) {
		*why = "lib is one of des, sm4, rsa, sm2";
		return TKM_ERR_INPUT;
	}
	if ((rc = arg_index(args, lib, &index)) != TKM_OK) {
		*why = "index: 0..4095 (or 3 hex digits) for des/sm4, 1..20 "
		       "for rsa/sm2";
		return rc;
	}
	if ((rc = store_open(c, &ks, why)) != TKM_OK)
		goto out;
	if ((rc = hsm_keystore_get(ks, lib, index, &info, NULL, 0, NULL)) !=
	    TKM_OK) {
		if (rc == TKM_ERR_NO_KEY)
			*why = "no key at that index";
		goto out;
	}
	if ((rc = hsm_keystore_delete(ks, lib, index)) != TKM_OK)
		goto out;
	json_object_set_new(result, "deleted", hsm_key_json(&info));
out:
	hsm_keystore_close(ks);
	return rc;
}

/* --- the authorised state ----------------------------------------------- */

static void
auth_result(struct hsm_op_ctx *c, json_t *result)
{
	long long until = atomic_load(&c->st->authorised_until);

	json_object_set_new(
	    result, "authorised", json_boolean(hsm_authorised(c->st)));
	json_object_set_new(result, "always",
	    json_boolean(atomic_load(&c->st->authorised) != 0));
	json_object_set_new(result, "until",
	    until > (long long)time(NULL) ? json_integer(until) : json_null());
}

/* auth.open {minutes}: key-management commands allowed for that long. */
int
op_auth_open(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	long long minutes;

	if (arg_int(args, "minutes", 1, AUTH_MAX_MINUTES, 0, &minutes) !=
	    TKM_OK) {
		*why = "minutes: 1..480";
		return TKM_ERR_INPUT;
	}
	atomic_store(
	    &c->st->authorised_until, (long long)time(NULL) + minutes * 60);
	auth_result(c, result);
	return TKM_OK;
}

/* auth.close: at once (--dev-authorised, "always", stays). */
int
op_auth_close(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)args;
	(void)why;
	atomic_store(&c->st->authorised_until, 0);
	auth_result(c, result);
	return TKM_OK;
}

/* --- whitelists ---------------------------------------------------------- */

/* One command code of a list, checked as the config file does. */
static int
cmd_item(const char *s, struct hsm_listener_cfg *l)
{
	if (strlen(s) != 2 || hsm_cmd_find(s) == NULL)
		return TKM_ERR_INPUT;
	if (l->ncmds == HSM_MAX_CMDS)
		return TKM_ERR_INPUT;
	memcpy(l->cmds[l->ncmds++], s, 3);
	return TKM_OK;
}

/* ADDR or ADDR/PREFIX, IPv4 or IPv6 (no brackets). */
static int
net_item(const char *s, struct hsm_listener_cfg *l)
{
	struct hsm_net *net = &l->nets[l->nnets];
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned max;
	char *end;
	long p;

	if (l->nnets == HSM_MAX_NETS || n == 0 || n >= sizeof(addr))
		return TKM_ERR_INPUT;
	memset(net, 0, sizeof(*net));
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, net->addr) == 1) {
		net->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, net->addr) == 1) {
		net->family = AF_INET6;
		max = 128;
	} else {
		return TKM_ERR_INPUT;
	}
	net->prefix = max;
	if (slash != NULL) {
		p = strtol(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || p < 0 ||
		    p > (long)max)
			return TKM_ERR_INPUT;
		net->prefix = (unsigned)p;
	}
	l->nnets++;
	return TKM_OK;
}

enum wl_kind { WL_COMMANDS, WL_IP };

/* Replace l's list of kind by items (C strings). */
static int
wl_fill(struct hsm_listener_cfg *l, enum wl_kind kind, const char *const *items,
    size_t n)
{
	size_t i;
	int rc;

	if (kind == WL_COMMANDS)
		l->ncmds = 0;
	else
		l->nnets = 0;
	for (i = 0; i < n; i++) {
		rc = kind == WL_COMMANDS ? cmd_item(items[i], l)
					 : net_item(items[i], l);
		if (rc != TKM_OK)
			return rc;
	}
	return TKM_OK;
}

/*
 * Publish listener i with its kind list replaced. Workers may be reading
 * the current copy: it is chained to the new one and freed only by
 * hsm_state_cleanup().
 */
static int
wl_publish(struct hsm_state *st, size_t i, enum wl_kind kind,
    const char *const *items, size_t n)
{
	struct hsm_wl *nw, *old;
	int rc;

	if ((nw = calloc(1, sizeof(*nw))) == NULL)
		return TKM_ERR_NOMEM;
	old = atomic_load(&st->wl[i]);
	do {
		nw->l = old != NULL ? old->l : st->cfg->listeners[i];
		nw->older = old;
		if ((rc = wl_fill(&nw->l, kind, items, n)) != TKM_OK) {
			free(nw);
			return rc;
		}
	} while (!atomic_compare_exchange_weak(&st->wl[i], &old, nw));
	return TKM_OK;
}

/* The lists as text, the form of the settings ("A0,A6"; "::1/128"). */
static void
wl_text(
    const struct hsm_listener_cfg *l, enum wl_kind kind, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	size_t i, n = 0;
	int k;

	out[0] = '\0';
	for (i = 0; kind == WL_COMMANDS && i < l->ncmds && n < cap; i++) {
		k = snprintf(
		    out + n, cap - n, "%s%s", i ? "," : "", l->cmds[i]);
		n += k > 0 ? (size_t)k : 0;
	}
	for (i = 0; kind == WL_IP && i < l->nnets && n < cap; i++) {
		if (inet_ntop(l->nets[i].family, l->nets[i].addr, a,
			sizeof(a)) == NULL)
			continue;
		k = snprintf(out + n, cap - n, "%s%s/%u", i ? "," : "", a,
		    l->nets[i].prefix);
		n += k > 0 ? (size_t)k : 0;
	}
}

/* One listener's whitelists as JSON lists (empty = no whitelist). */
static json_t *
wl_json(struct hsm_state *st, size_t i)
{
	const struct hsm_listener_cfg *l =
	    hsm_listener_live(st, &st->cfg->listeners[i]);
	char text[SETTING_MAX], *p, *save = NULL;
	json_t *o = json_object(), *a;
	enum wl_kind kind;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "listener", json_integer((json_int_t)i));
	json_object_set_new(o, "addr", json_string(l->addr));
	json_object_set_new(o, "port", json_integer(l->port));
	json_object_set_new(
	    o, "changed", json_boolean(atomic_load(&st->wl[i]) != NULL));
	for (kind = WL_COMMANDS; kind <= WL_IP; kind++) {
		wl_text(l, kind, text, sizeof(text));
		a = json_array();
		for (p = strtok_r(text, ",", &save); p != NULL && a != NULL;
		     p = strtok_r(NULL, ",", &save))
			json_array_append_new(a, json_string(p));
		json_object_set_new(
		    o, kind == WL_COMMANDS ? "commands" : "ip", a);
	}
	return o;
}

/* whitelist.get {}: every listener's command and IP whitelists. */
int
op_whitelist_get(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	json_t *a = json_array();
	size_t i;

	(void)args;
	(void)why;
	if (a == NULL)
		return TKM_ERR_NOMEM;
	for (i = 0; i < c->st->cfg->nlisteners; i++)
		json_array_append_new(a, wl_json(c->st, i));
	json_object_set_new(result, "listeners", a);
	return TKM_OK;
}

static void
setting_key(size_t i, enum wl_kind kind, char *out, size_t cap)
{
	snprintf(out, cap, "whitelist.%zu.%s", i,
	    kind == WL_COMMANDS ? "commands" : "ip");
}

/* kind "commands" needs C, "ip" B (docs/permissions.md). */
static int
wl_kind_arg(
    struct hsm_op_ctx *c, json_t *args, enum wl_kind *kind, const char **why)
{
	const char *s;
	unsigned need;

	if (arg_str(args, "kind", &s) != TKM_OK || s == NULL ||
	    (strcmp(s, "commands") != 0 && strcmp(s, "ip") != 0)) {
		*why = "kind is commands or ip";
		return TKM_ERR_INPUT;
	}
	*kind = strcmp(s, "ip") == 0 ? WL_IP : WL_COMMANDS;
	need = *kind == WL_IP ? HSM_ROLE_B : HSM_ROLE_C;
	if (c->s == NULL || (c->s->roles & need) == 0) {
		*why = *kind == WL_IP ? "the IP whitelist needs role B"
				      : "the command whitelist needs role C";
		return TKM_ERR_PERMISSION;
	}
	return TKM_OK;
}

/* The list argument as C strings (borrowed from args). */
static int
wl_items(json_t *args, const char **items, size_t cap, size_t *n)
{
	json_t *list = json_object_get(args, "list"), *v;
	size_t i;

	*n = 0;
	if (!json_is_array(list) || json_array_size(list) > cap)
		return TKM_ERR_INPUT;
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v))
			return TKM_ERR_INPUT;
		items[(*n)++] = json_string_value(v);
	}
	return TKM_OK;
}

/*
 * whitelist.set {listener?, kind, list}: takes effect at once for
 * commands; an IP whitelist is checked when a connection is accepted, so
 * it applies to new connections. Kept in the settings for the next start.
 */
int
op_whitelist_set(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	const char
	    *items[HSM_MAX_NETS > HSM_MAX_CMDS ? HSM_MAX_NETS : HSM_MAX_CMDS];
	char key[64], text[SETTING_MAX];
	enum wl_kind kind;
	long long li;
	size_t n, max;
	int rc;

	if ((rc = wl_kind_arg(c, args, &kind, why)) != TKM_OK)
		return rc;
	if (arg_int(args, "listener", 0, (long long)c->st->cfg->nlisteners - 1,
		0, &li) != TKM_OK) {
		*why = "no such listener";
		return TKM_ERR_INPUT;
	}
	max = kind == WL_IP ? HSM_MAX_NETS : HSM_MAX_CMDS;
	if (wl_items(args, items, max, &n) != TKM_OK ||
	    (rc = wl_publish(c->st, (size_t)li, kind, items, n)) != TKM_OK) {
		*why = kind == WL_IP ? "list: at most 32 of ADDR or "
				       "ADDR/PREFIX"
				     : "list: at most 64 known command codes";
		return rc == TKM_ERR_NOMEM ? rc : TKM_ERR_INPUT;
	}
	if (c->admin != NULL) {
		setting_key((size_t)li, kind, key, sizeof(key));
		wl_text(hsm_listener_live(c->st, &c->st->cfg->listeners[li]),
		    kind, text, sizeof(text));
		if ((rc = hsm_admin_set(c->admin, key, text)) != TKM_OK) {
			*why = "in effect now, but not kept for the next start";
			return rc;
		}
	}
	json_object_set_new(result, "applies",
	    json_string(kind == WL_IP ? "new connections" : "now"));
	json_object_set_new(
	    result, "persisted", json_boolean(c->admin != NULL));
	json_object_set_new(result, "listener", wl_json(c->st, (size_t)li));
	return TKM_OK;
}

/* --- time ---------------------------------------------------------------- */

static void
time_result(struct hsm_state *st, json_t *result)
{
	long long now = (long long)time(NULL),
		  off = atomic_load(&st->time_offset);

	json_object_set_new(result, "time", json_integer(now + off));
	json_object_set_new(result, "system_time", json_integer(now));
	json_object_set_new(result, "offset", json_integer(off));
}

/* time.get {}: the HSM's time, the system's, and the offset between. */
int
op_time_get(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	(void)args;
	(void)why;
	time_result(c->st, result);
	return TKM_OK;
}

/* time.set {offset}: seconds added to the system time. */
int
op_time_set(
    struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	char text[32];
	long long off;
	int rc;

	if (arg_int(args, "offset", -OFFSET_MAX, OFFSET_MAX, -OFFSET_MAX - 1,
		&off) != TKM_OK) {
		*why = "offset: seconds, within a century";
		return TKM_ERR_INPUT;
	}
	atomic_store(&c->st->time_offset, off);
	if (c->admin != NULL) {
		snprintf(text, sizeof(text), "%lld", off);
		if ((rc = hsm_admin_set(c->admin, "time_offset", text)) !=
		    TKM_OK) {
			*why = "in effect now, but not kept for the next start";
			return rc;
		}
	}
	time_result(c->st, result);
	return TKM_OK;
}

/* --- at start ------------------------------------------------------------ */

/* A kept list "A0,A6" back into items; at most cap of them. */
static size_t
split(char *text, const char **items, size_t cap)
{
	char *p, *save = NULL;
	size_t n = 0;

	for (p = strtok_r(text, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (n == cap)
			return cap + 1;
		items[n++] = p;
	}
	return n;
}

static int
apply_wl(struct hsm_state *st, size_t i, enum wl_kind kind)
{
	const char
	    *items[HSM_MAX_NETS > HSM_MAX_CMDS ? HSM_MAX_NETS : HSM_MAX_CMDS];
	size_t cap = kind == WL_IP ? HSM_MAX_NETS : HSM_MAX_CMDS, n;
	char key[64], text[SETTING_MAX];
	int rc;

	setting_key(i, kind, key, sizeof(key));
	rc = hsm_admin_get(st->admin, key, text, sizeof(text));
	if (rc == TKM_ERR_NO_KEY)
		return TKM_OK;
	if (rc != TKM_OK)
		return rc;
	if ((n = split(text, items, cap)) > cap)
		return TKM_ERR_INPUT;
	return wl_publish(st, i, kind, items, n);
}

int
hsm_settings_apply(struct hsm_state *st)
{
	char text[32], *end;
	long long off;
	size_t i;
	int rc;

	if (st->admin == NULL)
		return TKM_OK;
	for (i = 0; i < st->cfg->nlisteners; i++)
		if ((rc = apply_wl(st, i, WL_COMMANDS)) != TKM_OK ||
		    (rc = apply_wl(st, i, WL_IP)) != TKM_OK)
			return rc;
	rc = hsm_admin_get(st->admin, "time_offset", text, sizeof(text));
	if (rc == TKM_ERR_NO_KEY)
		return TKM_OK;
	if (rc != TKM_OK)
		return rc;
	off = strtoll(text, &end, 10);
	if (*end != '\0' || off < -OFFSET_MAX || off > OFFSET_MAX)
		return TKM_ERR_INPUT;
	atomic_store(&st->time_offset, off);
	return TKM_OK;
}
