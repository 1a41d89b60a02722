/*
 * api_keys.c - routes and proposal kinds of the key flows (docs/api.md
 * "HSMs", "Keys"): HSMs, templates, root keys, issuance, lifecycle,
 * records.
 */
#include "api_impl.h"

const struct kms_route kms_routes_keys[] = {
    {NULL, NULL, 0, 0, NULL},
};
const size_t kms_routes_keys_n = 0;

int
kms_keys_kinds_register(void)
{
	return TKM_OK;
}
