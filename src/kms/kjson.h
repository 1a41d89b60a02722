/*
 * kjson.h - freeing what jansson allocated. tkms-kmsd installs a wiping
 * allocator (json_set_alloc_funcs, main.c), so text from json_dumps MUST
 * go back through it, never to free().
 */
#ifndef KMS_KJSON_H
#define KMS_KJSON_H

#include <string.h>

#include <jansson.h>

#include "tkm/mem.h"

/* Wipe (it may hold a password hash or a token) and free a json_dumps
 * result; NULL is a no-op. */
static inline void
kms_json_free(char *s)
{
	json_malloc_t m;
	json_free_t f;

	if (s == NULL)
		return;
	tkm_cleanse(s, strlen(s));
	json_get_alloc_funcs(&m, &f);
	f(s);
}

#endif
