/*
 * backup.c - library backups (backup.h, docs/backup.md).
 * (stub: being written)
 */
#include "backup.h"

int
hsm_libbak_make(struct hsm_keystore *ks, const struct hsm_dk *dk, int lib,
    unsigned only, const char *serial, uint8_t **out, size_t *outlen,
    unsigned *count)
{
	(void)ks;
	(void)dk;
	(void)lib;
	(void)only;
	(void)serial;
	*out = NULL;
	*outlen = 0;
	*count = 0;
	return TKM_ERR_INTERNAL;
}

int
hsm_libbak_peek(const uint8_t *file, size_t len, struct hsm_libbak_info *info,
    const char **why)
{
	(void)file;
	(void)len;
	(void)info;
	*why = "not yet available";
	return TKM_ERR_INPUT;
}

int
hsm_libbak_restore(struct hsm_keystore *ks, const struct hsm_dk *dk,
    const uint8_t *file, size_t len, int replace,
    int (*fn)(void *arg, const struct hsm_key_info *info), void *arg,
    struct hsm_libbak_info *info, const char **why)
{
	(void)ks;
	(void)dk;
	(void)file;
	(void)len;
	(void)replace;
	(void)fn;
	(void)arg;
	(void)info;
	*why = "not yet available";
	return TKM_ERR_INTERNAL;
}
