/*
 * cmd_kms_maint.c - `tkms kms maint ...`: maintenance applications over
 * the KMS API (docs/api.md).
 */
#include <stdio.h>

#include "cli.h"
#include "kms_client.h"

int
cmd_kms_maint(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "tkms kms maint: not yet\n");
	return 2;
}
