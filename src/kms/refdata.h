/*
 * refdata.h - the reference data of the Guangdong key management spec that
 * the KMS preloads (migration 002_refdata, docs/kms-schema.md):
 * appendix 1 (the 21 cities that issue cards) and appendix 2 (the 23 card
 * key types), and the index plan and city factor that go with them.
 */
#ifndef KMS_REFDATA_H
#define KMS_REFDATA_H

#include <stdint.h>

#include "tkm/err.h"

/* 附录1：广东省全国交通一卡通入网发卡机构信息, in the appendix's order. */
struct kms_city {
	const char *name; /* 名称 */
	const char *name_en;
	const char *city_code; /* 城市代码, 4 digits */
	const char *iin; /* 卡片IIN号（扩展）, as printed: 310487(03) */
	const char *cert_record; /* 公钥证书申请记录号, 6 digits */
	const char *issuer_code; /* 发卡机构代码, 8 digits */
};
#define KMS_NCITIES 21
extern const struct kms_city kms_cities[KMS_NCITIES];

/* 附录2：广东省全国交通一卡通票卡密钥列表, in the appendix's order: row n
 * has DES index KMS_DES_BASE + n and SM4 index KMS_SM4_BASE + n. */
struct kms_keytype {
	const char *name;     /* ASCII identifier */
	const char *name_zh;  /* 密钥用途 */
	const char *desc;     /* 说明 */
	const char *category; /* consumption, recharge, reserved, maintenance */
	const char *type_code; /* HSM key type (docs/protocol.md) */
	int clearing;          /* also issued to the clearing HSM */
};
#define KMS_NKEYTYPES 23
extern const struct kms_keytype kms_keytypes[KMS_NKEYTYPES];

/*
 * The index plan (docs/kms-schema.md): a key of template row n, version v
 * sits at base + KMS_SLOT_STRIDE * ((v - 1) % KMS_SLOTS) + n in the root
 * HSM and in the business and city HSMs it is issued to; in the clearing
 * HSM, which holds the keys of every city, at clearing base +
 * KMS_SLOT_STRIDE * slot + (city row - 1).
 */
#define KMS_DES_BASE       0x300
#define KMS_SM4_BASE       0x400
#define KMS_CLEAR_DES_BASE 0x500
#define KMS_CLEAR_SM4_BASE 0x600
#define KMS_SLOT_STRIDE    0x20
#define KMS_SLOTS          8

/* base_index: the template's des_index or sm4_index; version from 1. */
unsigned kms_plan_index(unsigned base_index, int64_t version);
/* sm4: 0 DES, 1 SM4; city_seq: the city's row of appendix 1, 1..21. */
unsigned kms_plan_clearing_index(int sm4, unsigned city_seq, int64_t version);

/*
 * The 8-byte city factor of a template's factor_rule as 16 upper-case hex
 * digits. Rules: "city:" + 12 hex digits, the city code followed by those
 * (the default "cjt333" is "city:FF0000000000", CJ/T 333 §3.14: Guangzhou
 * 5810 gives 5810FF0000000000). TKM_ERR_INPUT for an unknown rule or a
 * city code that is not 4 digits.
 */
int kms_city_factor(
    const char *rule, const char *city_code, char out[17]) TKM_MUST_CHECK;

#endif
