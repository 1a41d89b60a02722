/*
 * kjson.h - small jansson helpers of the KMS: freeing what jansson
 * allocated (tkms-kmsd installs a wiping allocator, json_set_alloc_funcs
 * in main.c, so text from json_dumps MUST go back through it, never to
 * free()), and checking a payload's field names.
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

/* 1 if every key of object p is one of names (NULL-terminated); else 0
 * and *bad names the first that is not. */
static inline int
kms_json_keys_ok(json_t *p, const char *const *names, const char **bad)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(p, k, v)
	{
		for (i = 0; names[i] != NULL; i++)
			if (strcmp(k, names[i]) == 0)
				break;
		if (names[i] == NULL) {
			*bad = k;
			return 0;
		}
	}
	return 1;
}

#endif
