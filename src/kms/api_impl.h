/*
 * api_impl.h - what the route files of tkms-kmsd share (api.c: sessions,
 * users, institutions, proposals, audit; api_keys.c: HSMs, templates,
 * keys, issuance, lifecycle, records; api_maint.c: maintenance
 * applications). Not for use outside src/kms/api*.c.
 *
 * A route file exports one table of routes and a function that registers
 * its proposal kinds (proposal.h); kms_api_init() calls every one.
 */
#ifndef KMS_API_IMPL_H
#define KMS_API_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "auth.h"
#include "http.h"
#include "kdb.h"

#define KMS_READERS                                                            \
	(KMS_ROLE_CONFIGURATOR | KMS_ROLE_SUPERVISOR | KMS_ROLE_AUDITOR)
#define KMS_PROPOSERS (KMS_ROLE_CONFIGURATOR | KMS_ROLE_KEY_MANAGER)
#define KMS_AUDITORS  (KMS_ROLE_SUPERVISOR | KMS_ROLE_AUDITOR)

/* One request as a handler sees it. */
struct kms_ctx {
	struct kms_api *api;
	struct kdb *db; /* this thread's connection */
	const struct kms_req *req;
	struct kms_resp *resp;
	struct kms_user user; /* the caller (routes with roles != 0) */
	int64_t now, id;      /* id: the number in the path, if any */
};

struct kms_route {
	const char *method;
	const char *path; /* '#' stands for a decimal id (1..18 digits) */
	unsigned roles;   /* enum kms_role bits; 0 = no session */
	int body;         /* POST: 1 if a JSON object body is required */
	void (*fn)(struct kms_ctx *c);
	int slow; /* 1: may wait for HSMs (seconds): limited, see api.h */
};

/* A failure: status http, else one that fits rc (TKM_ERR_IO -> 500,
 * with the details kept out of the answer). why NULL: rc's text. */
void kms_api_error(struct kms_ctx *c, int rc, const char *why, int http);
/* Answer body (stolen) with status; NULL answers 500 out of memory. */
void kms_api_answer(struct kms_ctx *c, int status, json_t *body);
/* Query argument name as a number in [lo, hi]; def when absent; -1 for
 * anything else. */
int64_t kms_api_arg_num(
    struct kms_ctx *c, const char *name, int64_t def, int64_t lo, int64_t hi);
/* Append an audit row (detail d stolen, may be NULL) in its own
 * transaction; a failure is logged, not answered. */
void kms_api_audit(
    struct kms_ctx *c, const char *actor, const char *action, json_t *d);

/* The route tables and kind registrations of the route files. */
extern const struct kms_route kms_routes_keys[];
extern const size_t kms_routes_keys_n;
int kms_keys_kinds_register(void) TKM_MUST_CHECK;

extern const struct kms_route kms_routes_maint[];
extern const size_t kms_routes_maint_n;
int kms_maint_kinds_register(void) TKM_MUST_CHECK;

#endif
