/*
 * ops_net.c - the business listeners' addresses (spec 系统配置 step 6.1,
 * 导入交通运输部密钥 step 1: the system admin B configures business port 1).
 *
 * net.set keeps "listener.N.address" in admin.db's settings, and
 * hsm_net_apply() puts it over the config file's listen line at the next
 * start. Rebinding a listener under running workers would drop their
 * connections half-way; a restart is the moment an operator expects a
 * network change to take hold, so net.set says so in its answer.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "ops.h"
#include "server.h"

#define ENDPOINT_MAX 80 /* "[" 63 "]:" 5 digits */

static void
setting_name(size_t i, char *out, size_t cap)
{
	snprintf(out, cap, "listener.%zu.address", i);
}

static void
endpoint_text(const char *addr, unsigned port, char *out, size_t cap)
{
	snprintf(out, cap, strchr(addr, ':') != NULL ? "[%s]:%u" : "%s:%u",
	    addr, port);
}

int
hsm_net_apply(struct hsm_admin *a, struct hsm_config *cfg)
{
	char name[48], text[ENDPOINT_MAX];
	const char *why;
	size_t i;
	int rc;

	for (i = 0; a != NULL && i < cfg->nlisteners; i++) {
		setting_name(i, name, sizeof(name));
		rc = hsm_admin_get(a, name, text, sizeof(text));
		if (rc == TKM_ERR_NO_KEY)
			continue;
		if (rc != TKM_OK ||
		    (rc = hsm_endpoint_parse(text, cfg->listeners[i].addr,
			 &cfg->listeners[i].port, &why)) != TKM_OK)
			return rc;
		hsm_log("listener %zu: %s (net.set) replaces the config "
			"file's address",
		    i, text);
	}
	return TKM_OK;
}

/* One listener: as running, and as it will be after a restart. */
static json_t *
net_json(struct hsm_op_ctx *c, size_t i)
{
	const struct hsm_listener_cfg *l = &c->st->cfg->listeners[i];
	char name[48], text[ENDPOINT_MAX];
	json_t *o = json_object();

	endpoint_text(l->addr, l->port, text, sizeof(text));
	json_object_set_new(o, "listener", json_integer((json_int_t)i));
	json_object_set_new(o, "address", json_string(text));
	setting_name(i, name, sizeof(name));
	if (hsm_admin_get(c->admin, name, text, sizeof(text)) == TKM_OK)
		json_object_set_new(o, "next_start", json_string(text));
	return o;
}

/* net.get {}: every business listener. */
int
op_net_get(struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	json_t *a = json_array();
	size_t i;

	(void)args;
	(void)why;
	if (c->admin == NULL)
		return TKM_ERR_INTERNAL;
	for (i = 0; i < c->st->cfg->nlisteners; i++)
		json_array_append_new(a, net_json(c, i));
	json_object_set_new(result, "listeners", a);
	return TKM_OK;
}

/* net.set {listener: N, address: "ADDR:PORT"}: from the next start. */
int
op_net_set(struct hsm_op_ctx *c, json_t *args, json_t *result, const char **why)
{
	json_t *jl = json_object_get(args, "listener");
	const char *text = json_string_value(json_object_get(args, "address"));
	char name[48], addr[64], canon[ENDPOINT_MAX];
	unsigned port;
	json_int_t li;
	int rc;

	if (c->admin == NULL)
		return TKM_ERR_INTERNAL;
	li = jl == NULL ? 0 : json_is_integer(jl) ? json_integer_value(jl) : -1;
	if (li < 0 || (size_t)li >= c->st->cfg->nlisteners) {
		*why = "no such listener (a new one needs a listen line in the "
		       "config file)";
		return TKM_ERR_INPUT;
	}
	if (text == NULL) {
		*why = "address ADDR:PORT is required";
		return TKM_ERR_INPUT;
	}
	if ((rc = hsm_endpoint_parse(text, addr, &port, why)) != TKM_OK)
		return rc;
	endpoint_text(addr, port, canon, sizeof(canon));
	setting_name((size_t)li, name, sizeof(name));
	if ((rc = hsm_admin_set(c->admin, name, canon)) != TKM_OK)
		return rc;
	json_object_set_new(result, "listener", json_integer(li));
	json_object_set_new(result, "next_start", json_string(canon));
	json_object_set_new(result, "note",
	    json_string("takes effect when tkms-hsmd restarts"));
	return TKM_OK;
}
