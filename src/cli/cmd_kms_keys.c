/*
 * cmd_kms_keys.c - `tkms kms hsm|templates|key|issue|issued|record ...`:
 * the KMS's HSMs, key templates, root keys, issuance, lifecycle and work
 * forms over the API (docs/api.md).
 */
#include <stdio.h>

#include "cli.h"
#include "kms_client.h"

static int
todo(const char *what)
{
	fprintf(stderr, "tkms kms %s: not yet\n", what);
	return 2;
}

int
cmd_kms_hsm(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return todo("hsm");
}

int
cmd_kms_templates(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return todo("templates");
}

int
cmd_kms_key(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return todo("key");
}

int
cmd_kms_issue(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return todo("issue");
}

int
cmd_kms_issued(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return todo("issued");
}

int
cmd_kms_record(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return todo("record");
}
