/*
 * api_maint.c - routes and proposal kinds of maintenance applications
 * (docs/api.md "Maintenance applications").
 */
#include "api_impl.h"

const struct kms_route kms_routes_maint[] = {
    {NULL, NULL, 0, 0, NULL},
};
const size_t kms_routes_maint_n = 0;

int
kms_maint_kinds_register(void)
{
	return TKM_OK;
}
