/*
 * kat.h - internals shared by the known-answer engine (selftest.c) and its
 * table of checks (kat_checks.c). Not installed.
 */
#ifndef TKM_KAT_H
#define TKM_KAT_H

#include <stddef.h>
#include <stdint.h>

#include "tkm/sm2.h"

#define KAT_MAX_FIELDS 12
#define KAT_MAX_VALUE  4096 /* bytes; a 4096-bit RSA private key in DER */
#define KAT_MAX_LINE   (2 * KAT_MAX_VALUE * 2 + 256)
#define KAT_KEYRING    8

struct kat_field {
	char name[16];
	size_t len;
	uint8_t val[KAT_MAX_VALUE + 1]; /* text fields are NUL-terminated */
};

/* SM2 private keys seen in sm2.pub lines, found again by public key for
 * the sm2.encrypt vectors, which give only the public key. */
struct kat_sm2_entry {
	uint8_t pub[TKM_SM2_PUB_LEN];
	uint8_t d[TKM_SM2_PRIV_LEN];
};

struct kat_vec {
	unsigned nf;
	struct kat_field f[KAT_MAX_FIELDS];
	const char *why; /* failure text */
	struct kat_sm2_entry ring[KAT_KEYRING];
	unsigned nring;
};

struct kat_row {
	const char *name;
	const char *fields; /* required, space separated; '?' marks optional */
	int (*check)(struct kat_vec *v, int param);
	int param;
};

/* The row of a vector name, or NULL (kat_checks.c). */
const struct kat_row *kat_find_row(const char *name, size_t len);

/* Field access for checks: NULL / 0 when the field is absent. */
const struct kat_field *kat_fld(const struct kat_vec *v, const char *name);
const uint8_t *kat_val(const struct kat_vec *v, const char *name);
size_t kat_len(const struct kat_vec *v, const char *name);

/*
 * Results for checks, all returning 0 on success and -1 on failure with
 * v->why set: kat_expect compares got with the named field on the field's
 * length (which must not exceed len), kat_ok turns a tkm_err into a result.
 */
int kat_expect(
    struct kat_vec *v, const char *name, const uint8_t *got, size_t len);
int kat_fail(struct kat_vec *v, const char *why);
int kat_ok(struct kat_vec *v, int rc);

#endif
