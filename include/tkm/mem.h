/*
 * mem.h - secret memory and constant-time helpers.
 *
 * Keys in clear live only in memory from tkm_secure_alloc(): locked
 * (mlock, so never swapped), excluded from core dumps (MADV_DONTDUMP) and
 * wiped by tkm_secure_free(). Small keys on the stack are wiped with
 * tkm_cleanse() on every path out of the function that holds them.
 */
#ifndef TKM_MEM_H
#define TKM_MEM_H

#include <stddef.h>

/*
 * Zeroed, page-aligned, locked memory of at least n bytes, or NULL. When
 * the process may not lock more memory (RLIMIT_MEMLOCK) the allocation
 * still succeeds but tkm_secure_locked() reports 0 for it, so that daemons
 * can refuse to start while tools keep working.
 */
void *tkm_secure_alloc(size_t n);
/* Wipe and release; NULL is a no-op. n MUST be the size given to alloc. */
void tkm_secure_free(void *p, size_t n);
/* 1 if the block from tkm_secure_alloc() is locked in RAM. */
int tkm_secure_locked(const void *p, size_t n);

/* Wipe n bytes in a way the compiler cannot remove (OPENSSL_cleanse). */
void tkm_cleanse(void *p, size_t n);

/*
 * malloc/free that wipe every block when it is freed (its size is kept in
 * front of it). For libraries that free secrets without wiping them:
 * the daemons give these to jansson (json_set_alloc_funcs), whose
 * strings hold passwords and components.
 */
void *tkm_wipe_malloc(size_t n);
void tkm_wipe_free(void *p);

/* 1 if equal, 0 otherwise; time depends on n only (CRYPTO_memcmp). */
int tkm_ct_eq(const void *a, const void *b, size_t n);

#endif
