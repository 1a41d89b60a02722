/*
 * migrations.c - the numbered migrations of the KMS database, applied by
 * kdb_open() in order, each in its own transaction, recorded in
 * schema_migrations (docs/kms-schema.md).
 *
 * Add a migration by appending a row (never edit or reorder an applied
 * one): SQL goes in src/kms/sql/NNN_name.sql (embedded at build time, in
 * the schema dialect of kdb_script), data that lives in C gets a function.
 */
#include <stddef.h>
#include <string.h>

#include "kdb_impl.h"

static const struct kdb_migration migrations[] = {
    {1, "001_schema", NULL, NULL},              /* sql/001_schema.sql */
    {2, "002_refdata", NULL, kms_refdata_load}, /* appendices 1 and 2 */
    {3, "003_lifecycle", NULL, NULL},           /* sql/003_lifecycle.sql */
    {4, "004_maint", NULL, NULL},               /* sql/004_maint.sql */
    {5, "005_hsm_authorised", NULL, NULL},      /* sql/005_hsm_authorised.sql */
    {6, "006_record_signoff", NULL, NULL},      /* sql/006_record_signoff.sql */
};

#define NMIG ((int)(sizeof(migrations) / sizeof(migrations[0])))

int
kdb_migrations_known(void)
{
	return NMIG;
}

int
kdb_migration_count(void)
{
	return NMIG;
}

static const char *
sql_file(const char *name)
{
	unsigned i;

	for (i = 0; i < kdb_sql_nfiles; i++)
		if (strcmp(kdb_sql_files[i].name, name) == 0)
			return kdb_sql_files[i].text;
	return NULL;
}

int
kdb_migration(int i, struct kdb_migration *out)
{
	const struct kdb_migration *row;

	memset(out, 0, sizeof(*out));
	if (i < 1 || i > NMIG)
		return TKM_ERR_INDEX;
	row = &migrations[i - 1];
	*out = *row;
	/* SQL migrations: the embedded file of the same name. */
	if (row->fn == NULL && (out->sql = sql_file(row->name)) == NULL)
		return TKM_ERR_INTERNAL;
	return TKM_OK;
}
