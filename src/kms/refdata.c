/*
 * refdata.c - appendices 1 and 2 of the Guangdong key management spec as
 * data, and migration 002_refdata that loads them (refdata.h).
 *
 * The tables are copied from the spec, row for row and in its order;
 * tests/kms/test_kdb.c pins counts and exact rows. Categories and HSM key
 * types are this project's assignment (docs/kms-schema.md), not the
 * spec's: appendix 2 lists purposes only.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kdb_impl.h"
#include "refdata.h"

/* 附录1, ordered (as the spec says) by certificate record number. */
const struct kms_city kms_cities[KMS_NCITIES] = {
    {"广州市", "Guangzhou", "5810", "310487(03)", "000099", "02205810"},
    {"深圳市", "Shenzhen", "5840", "310487(04)", "000100", "02215840"},
    {"中山市", "Zhongshan", "6030", "310487(05)", "000101", "01056030"},
    {"珠海市", "Zhuhai", "5850", "310487(24)", "000102", "01355850"},
    {"东莞市", "Dongguan", "6020", "310487(02)", "000103", "01616020"},
    {"佛山市", "Foshan", "5880", "310487(07)", "000183", "02775880"},
    {"惠州市", "Huizhou", "5950", "310487(08)", "000184", "02785950"},
    {"汕头市", "Shantou", "5860", "310487(09)", "000185", "02795860"},
    {"江门市", "Jiangmen", "5890", "310487(10)", "000186", "02805890"},
    {"茂名市", "Maoming", "5920", "310487(11)", "000187", "02815920"},
    {"肇庆市", "Zhaoqing", "5930", "310487(12)", "000188", "02825930"},
    {"湛江市", "Zhanjiang", "5910", "310487(13)", "000189", "02835910"},
    {"梅州市", "Meizhou", "5960", "310487(14)", "000190", "02845960"},
    {"汕尾市", "Shanwei", "5970", "310487(15)", "000191", "02855970"},
    {"河源市", "Heyuan", "5980", "310487(16)", "000192", "02865980"},
    {"清远市", "Qingyuan", "6010", "310487(17)", "000193", "02876010"},
    {"韶关市", "Shaoguan", "5820", "310487(18)", "000194", "02885820"},
    {"揭阳市", "Jieyang", "6050", "310487(19)", "000195", "02896050"},
    {"阳江市", "Yangjiang", "5990", "310487(20)", "000196", "02905990"},
    {"潮州市", "Chaozhou", "6040", "310487(21)", "000197", "02916040"},
    {"云浮市", "Yunfu", "6060", "310487(22)", "000198", "02926060"},
};

/*
 * 附录2. Category: consumption for the purchase-side keys the clearing
 * checks (purchase, TAC, e-cash AC); recharge for the online issuer-host
 * functions (load, unload, overdraft limit); maintenance for card
 * management (file updates, lock/unlock, external authentication, secure
 * messaging); reserved for the provincial extension application, kept for
 * "后续业务扩展" (spec: 预留密钥). Type codes: 509 (MK-DN) where UB, U1 and
 * U3 must all accept the key, 109 (MK-AC) for the AC key that KW uses, 209
 * (MK-SMI) for MAC-only keys, 309 (MK-SMC) for the encryption key.
 */
const struct kms_keytype kms_keytypes[KMS_NKEYTYPES] = {
    {"app_maint_01", "应用维护密钥_01",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用的复合交易文件修"
	"改。",
	"maintenance", "209", 0},
    {"app_maint_02", "应用维护密钥_02",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用的交通部、省内卡"
	"信息专用文件修改。",
	"maintenance", "209", 0},
    {"app_maint_03", "应用维护密钥_03",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用省内交易复合文件"
	"修改。",
	"maintenance", "209", 0},
    {"purchase_01", "消费密钥_01",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用消费密钥。",
	"consumption", "509", 0},
    {"purchase_02", "消费密钥_02",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用消费密钥。",
	"consumption", "509", 0},
    {"load_01", "圈存密钥_01",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用充值密钥。",
	"recharge", "509", 0},
    {"load_02", "圈存密钥_02",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用充值密钥。",
	"recharge", "509", 0},
    {"load_03", "圈存密钥_03",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用充值密钥。",
	"recharge", "509", 0},
    {"tac", "TAC密钥",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用TAC密钥。",
	"consumption", "509", 1},
    {"app_lock", "应用锁定密钥",
	"一级分散后发放，用于入网机构所发行的用户卡应用锁定。", "maintenance",
	"209", 0},
    {"app_unlock", "应用解锁密钥",
	"一级分散后发放，用于入网机构所发行的用户卡应用解锁。", "maintenance",
	"209", 0},
    {"ext_auth_01", "外部认证密钥_01",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用文件创建。",
	"maintenance", "509", 0},
    {"ext_auth_02", "外部认证密钥_02",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用认证。",
	"maintenance", "509", 0},
    {"ext_auth_03", "外部认证密钥_03",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用敏感信息读写权限"
	"。",
	"maintenance", "509", 0},
    {"unload", "圈提密钥",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用圈提。",
	"recharge", "509", 0},
    {"overdraft", "修改透支限额密钥",
	"一级分散后发放，用于入网机构所发行的用户卡电子钱包应用修改透支限额。",
	"recharge", "509", 0},
    {"ecash_ac", "应用密文密钥（AC）",
	"一级分散后发放，用于入网机构所发行的用户卡电子现金应用AC密钥。",
	"consumption", "109", 0},
    {"ecash_record", "互通记录保护密钥-电子现金",
	"一级分散后发放，用于入网机构所发行的用户卡电子现金应用的行业扩展应用文"
	"件修改。",
	"maintenance", "209", 0},
    {"ecash_mac", "安全报文认证密钥（MAC）",
	"一级分散后发放，用于入网机构所发行的用户卡电子现金应用MAC密钥。",
	"maintenance", "209", 0},
    {"ecash_enc", "安全报文加密密钥（ENC）",
	"一级分散后发放，用于入网机构所发行的用户卡电子现金应用ENC密钥。",
	"maintenance", "309", 0},
    {"ext_open", "省级扩展应用开通密钥",
	"一级分散后发放，用于入网机构所发行的用户卡电子现金应用的行业扩展应用文"
	"件开通。",
	"reserved", "209", 0},
    {"ext_manage_01", "省级扩展应用管理密钥_01",
	"一级分散后发放，用于入网机构所发行的用户卡电子现金应用的行业扩展应用文"
	"件修改。",
	"reserved", "209", 0},
    {"ext_manage_02", "省级扩展应用管理密钥_02",
	"一级分散后发放，用于入网机构所发行的用户卡电子现金应用的行业扩展应用文"
	"件修改。",
	"reserved", "209", 0},
};

unsigned
kms_plan_index(unsigned base_index, int64_t version)
{
	int64_t slot = version >= 1 ? (version - 1) % KMS_SLOTS : 0;

	return base_index + KMS_SLOT_STRIDE * (unsigned)slot;
}

unsigned
kms_plan_clearing_index(int sm4, unsigned city_seq, int64_t version)
{
	unsigned base = sm4 ? KMS_CLEAR_SM4_BASE : KMS_CLEAR_DES_BASE;

	return kms_plan_index(base, version) +
	       (city_seq >= 1 ? city_seq - 1 : 0);
}

static int
all_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strchr("0123456789ABCDEFabcdef", s[i]) == NULL ||
		    s[i] == '\0')
			return 0;
	return s[n] == '\0';
}

int
kms_city_factor(const char *rule, const char *city_code, char out[17])
{
	const char *tail;
	size_t i;

	out[0] = '\0';
	if (rule == NULL || city_code == NULL || strlen(city_code) != 4 ||
	    strspn(city_code, "0123456789") != 4)
		return TKM_ERR_INPUT;
	if (strcmp(rule, "cjt333") == 0)
		tail = "FF0000000000";
	else if (strncmp(rule, "city:", 5) == 0 && all_hex(rule + 5, 12))
		tail = rule + 5;
	else
		return TKM_ERR_INPUT;
	memcpy(out, city_code, 4);
	for (i = 0; i < 12; i++)
		out[4 + i] = (char)(tail[i] >= 'a' && tail[i] <= 'f'
					? tail[i] - 'a' + 'A'
					: tail[i]);
	out[16] = '\0';
	return TKM_OK;
}

static int
load_institutions(struct kdb *db, int64_t now)
{
	static const char ins[] =
	    "INSERT INTO institutions (kind, name, name_en, city_code, iin,"
	    " cert_record, issuer_code, seq, created)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
	const struct kms_city *c;
	int rc;
	size_t i;

	/* The spec names them by function (省级交通运输主管部门,
	 * 省级交通一卡通运营机构); a configurator may rename them. */
	if ((rc = kdb_exec(db, ins, KDB_TEXT("authority"),
		 KDB_TEXT("省级交通运输主管部门"),
		 KDB_TEXT("Provincial transport authority"), KDB_NULL, KDB_NULL,
		 KDB_NULL, KDB_NULL, KDB_INT(0), KDB_INT(now))) != TKM_OK ||
	    (rc = kdb_exec(db, ins, KDB_TEXT("operator"),
		 KDB_TEXT("省级交通一卡通运营机构"),
		 KDB_TEXT("Provincial transport card operator"), KDB_NULL,
		 KDB_NULL, KDB_NULL, KDB_NULL, KDB_INT(0), KDB_INT(now))) !=
		TKM_OK)
		return rc;
	for (i = 0; i < KMS_NCITIES; i++) {
		c = &kms_cities[i];
		if ((rc = kdb_exec(db, ins, KDB_TEXT("city"), KDB_TEXT(c->name),
			 KDB_TEXT(c->name_en), KDB_TEXT(c->city_code),
			 KDB_TEXT(c->iin), KDB_TEXT(c->cert_record),
			 KDB_TEXT(c->issuer_code), KDB_INT(i + 1),
			 KDB_INT(now))) != TKM_OK)
			return rc;
	}
	return TKM_OK;
}

static int
load_templates(struct kdb *db, int64_t now)
{
	const struct kms_keytype *t;
	int rc;
	size_t n;

	for (n = 0; n < KMS_NKEYTYPES; n++) {
		t = &kms_keytypes[n];
		if ((rc = kdb_exec(db,
			 "INSERT INTO key_templates (seq, name, name_zh,"
			 " description, category, type_code, des_index,"
			 " sm4_index, factor_rule, clearing, created)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
			 " $11)",
			 KDB_INT(n), KDB_TEXT(t->name), KDB_TEXT(t->name_zh),
			 KDB_TEXT(t->desc), KDB_TEXT(t->category),
			 KDB_TEXT(t->type_code), KDB_INT(KMS_DES_BASE + n),
			 KDB_INT(KMS_SM4_BASE + n), KDB_TEXT("cjt333"),
			 KDB_INT(t->clearing), KDB_INT(now))) != TKM_OK)
			return rc;
	}
	return TKM_OK;
}

int
kms_refdata_load(struct kdb *db)
{
	int64_t now = time(NULL);
	int rc;

	if ((rc = load_institutions(db, now)) != TKM_OK)
		return rc;
	return load_templates(db, now);
}
