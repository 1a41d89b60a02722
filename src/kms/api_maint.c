/*
 * api_maint.c - routes and proposal kinds of maintenance applications
 * (docs/api.md "Maintenance applications"); the work is in kmaint.c.
 */
#include <string.h>

#include "api_impl.h"
#include "fleet.h"
#include "kmaint.h"
#include "proposal.h"
#include "tkm/buf.h"
#include "tkm/maint.h"

#define PUB_HEX (2 * TKM_SM2_PUB_LEN)

static const char *const states[] = {
    "imported", "licensed", "signed", "exported"};

/* POST /api/maint {"request": "...", "identity": "128 hex" (optional)} */
static void
r_import(struct kms_ctx *c)
{
	json_t *b = c->req->body, *req = json_object_get(b, "request");
	const char *hex = json_string_value(json_object_get(b, "identity"));
	uint8_t pub[TKM_SM2_PUB_LEN];
	char why[KMS_WHY];
	json_t *a;
	size_t n;
	int64_t id;
	int http = 0, rc;

	if (!json_is_string(req) || json_object_size(b) > 2 ||
	    (json_object_size(b) == 2 && hex == NULL)) {
		kms_resp_error(c->resp, 400,
		    "body: {\"request\": \"the request file's text\", "
		    "\"identity\": \"the HSM's identity public key, 128 hex "
		    "digits\" (optional)}");
		return;
	}
	/* The key as tkms hsm status shows it, or with 04 in front. */
	if (hex != NULL && strlen(hex) == PUB_HEX + 2 &&
	    strncmp(hex, "04", 2) == 0)
		hex += 2;
	if (hex != NULL &&
	    (strlen(hex) != PUB_HEX ||
		tkm_hex_decode(hex, PUB_HEX, pub, sizeof(pub), &n) != TKM_OK)) {
		kms_resp_error(c->resp, 400,
		    "identity: the HSM's identity public key, 128 hex "
		    "digits (X || Y)");
		return;
	}
	rc = kms_maint_import(c->db, c->now, c->user.name,
	    json_string_value(req), json_string_length(req),
	    hex != NULL ? pub : NULL, &id, why, sizeof(why), &http);
	if (rc != TKM_OK) {
		kms_api_error(c, rc, why, http);
		return;
	}
	if ((rc = kms_maint_list(c->db, NULL, id, &a, why, sizeof(why))) !=
	    TKM_OK) {
		kms_api_error(c, rc, why, 0);
		return;
	}
	kms_api_answer(c, 201, a);
}

/* GET /api/maint[?state=S] */
static void
r_list(struct kms_ctx *c)
{
	const char *st = kms_req_arg(c->req, "state");
	char why[KMS_WHY];
	json_t *list;
	size_t i;
	int rc;

	if (st != NULL) {
		for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			if (strcmp(st, states[i]) == 0)
				break;
		if (i == sizeof(states) / sizeof(states[0])) {
			kms_resp_error(c->resp, 400,
			    "state: imported, licensed, signed or exported");
			return;
		}
	}
	if ((rc = kms_maint_list(c->db, st, 0, &list, why, sizeof(why))) !=
	    TKM_OK) {
		kms_api_error(c, rc, why, 0);
		return;
	}
	kms_api_answer(c, 200, json_pack("{s:o}", "applications", list));
}

/* GET /api/maint/{id} */
static void
r_show(struct kms_ctx *c)
{
	char why[KMS_WHY];
	json_t *a;
	int rc;

	if ((rc = kms_maint_list(c->db, NULL, c->id, &a, why, sizeof(why))) !=
	    TKM_OK) {
		kms_api_error(c, rc, why, 0);
		return;
	}
	kms_api_answer(c, 200, a);
}

/* POST /api/maint/{id}/export: changes the state and is audited, so not
 * a GET. */
static void
r_export(struct kms_ctx *c)
{
	char why[KMS_WHY];
	json_t *out;
	int http = 0, rc;

	rc = kms_maint_export(
	    c->db, c->now, c->user.name, c->id, &out, why, sizeof(why), &http);
	if (rc != TKM_OK) {
		kms_api_error(c, rc, why, http);
		return;
	}
	kms_api_answer(c, 200, out);
}

const struct kms_route kms_routes_maint[] = {
    {"POST", "/api/maint", KMS_ROLE_KEY_MANAGER, 1, r_import},
    {"GET", "/api/maint", KMS_ROLE_ANY, 0, r_list},
    {"GET", "/api/maint/#", KMS_ROLE_ANY, 0, r_show},
    {"POST", "/api/maint/#/export", KMS_ROLE_KEY_MANAGER | KMS_ROLE_SUPERVISOR,
	0, r_export},
};
const size_t kms_routes_maint_n =
    sizeof(kms_routes_maint) / sizeof(kms_routes_maint[0]);

/* Idempotent: kms_api_init may run more than once in a process. */
int
kms_maint_kinds_register(void)
{
	if (kms_kind_find(kms_maint_kind_licence.name) ==
	    &kms_maint_kind_licence)
		return TKM_OK;
	return kms_kinds_register(&kms_maint_kind_licence, 1);
}
