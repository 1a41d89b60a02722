/*
 * mem.c - locked, wiped memory for keys in clear.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tkm/mem.h"

static size_t
page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

void *
tkm_secure_alloc(size_t n)
{
	void *p;
	size_t sz;

	if (n == 0 || n > ((size_t)1 << 30))
		return NULL;
	sz = page_round(n);
	/* mmap, not malloc: whole pages, zeroed, and never shared with other
	 * heap data that could be dumped or swapped. */
	p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, sz, MADV_DONTDUMP);
	(void)mlock(p, sz); /* best effort; see tkm_secure_locked() */
	return p;
}

void
tkm_secure_free(void *p, size_t n)
{
	size_t sz;

	if (p == NULL)
		return;
	sz = page_round(n);
	OPENSSL_cleanse(p, sz);
	(void)munlock(p, sz);
	(void)munmap(p, sz);
}

int
tkm_secure_locked(const void *p, size_t n)
{
	/* Locking pages we already hold is idempotent and is the direct test:
	 * it fails exactly when RLIMIT_MEMLOCK refused the first mlock. */
	if (p == NULL || n == 0)
		return 0;
	return mlock(p, page_round(n)) == 0;
}

void
tkm_cleanse(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

#define WIPE_HDR 16 /* keeps malloc's alignment */

void *
tkm_wipe_malloc(size_t n)
{
	uint8_t *p;

	if (n > SIZE_MAX - WIPE_HDR || (p = malloc(WIPE_HDR + n)) == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + WIPE_HDR;
}

void
tkm_wipe_free(void *q)
{
	uint8_t *p = q;
	size_t n;

	if (p == NULL)
		return;
	p -= WIPE_HDR;
	memcpy(&n, p, sizeof(n));
	tkm_cleanse(p, WIPE_HDR + n);
	free(p);
}

int
tkm_ct_eq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
