/*
 * ident.c - serial, identity key, maintenance public key (ident.h).
 * (stub: being written)
 */
#include "ident.h"

int
hsm_ident_serial(struct hsm_admin *a, char out[HSM_SERIAL_MAX + 1])
{
	(void)a;
	out[0] = '\0';
	return TKM_ERR_INTERNAL;
}

int
hsm_ident_key(
    struct hsm_admin *a, const struct hsm_dk *dk, struct tkm_sm2 **out)
{
	(void)a;
	(void)dk;
	*out = NULL;
	return TKM_ERR_INTERNAL;
}

int
hsm_ident_pub(
    struct hsm_admin *a, const struct hsm_dk *dk, uint8_t pub[TKM_SM2_PUB_LEN])
{
	(void)a;
	(void)dk;
	(void)pub;
	return TKM_ERR_INTERNAL;
}

int
hsm_mkey_set(struct hsm_admin *a, const struct hsm_dk *dk,
    const uint8_t pub[TKM_SM2_PUB_LEN])
{
	(void)a;
	(void)dk;
	(void)pub;
	return TKM_ERR_INTERNAL;
}

int
hsm_mkey_get(
    struct hsm_admin *a, const struct hsm_dk *dk, uint8_t pub[TKM_SM2_PUB_LEN])
{
	(void)a;
	(void)dk;
	(void)pub;
	return TKM_ERR_NO_KEY;
}

int
hsm_ident_forget(struct hsm_admin *a)
{
	(void)a;
	return TKM_ERR_INTERNAL;
}

void
hsm_pub_fingerprint(const uint8_t pub[TKM_SM2_PUB_LEN], char out[17])
{
	(void)pub;
	out[0] = '\0';
}
