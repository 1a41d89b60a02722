/*
 * maint.h - maintenance request and update files (维保信息申请 / 维保信息
 * 更新电子文件, DESIGN §7; docs/maintenance.md has the field tables).
 *
 * Both files are UTF-8 text, one `name=value` per line, each line ended by
 * "\n", the fields in a fixed order. The first line is a magic, the last
 * one `sig=` and 128 hex digits: an SM2 signature (r || s, default user ID
 * GM/T 0009) over every byte before that line, newlines included. The
 * newline after the signature is optional (nothing else may follow).
 *
 *   request  made and signed by a city HSM with its identity key: its
 *            serial, identity public key, a fresh nonce, its licence
 *            counters, and the application form of the spec's appendix 4;
 *   update   made by the province for that request and signed by the root
 *            HSM with the maintenance private key: serial and nonce of the
 *            request, a sequence number, the new licences.
 *
 * Parsers are strict (every field checked, nothing skipped, nothing
 * after the signature) and bounded (TKM_MAINT_FILE_MAX); on failure *why
 * is a static message naming the field. Parsing checks the format only:
 * tkm_maint_verify() checks a signature.
 *
 * Times in the files are UTC, `YYYY-MM-DDTHH:MM:SSZ` (Unix time in the
 * structs). Dates for people (the form's date, the licences file) are
 * calendar dates of China Standard Time (UTC+8).
 */
#ifndef TKM_MAINT_H
#define TKM_MAINT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sm2.h"

#define TKM_MAINT_FILE_MAX   16384 /* either file, bytes */
#define TKM_MAINT_MAX_LIC    200   /* licences in one file */
#define TKM_MAINT_SERIAL_MAX 16    /* HSM serial, [0-9A-Za-z] */
#define TKM_MAINT_NONCE_LEN  16
#define TKM_MAINT_TEXT_MAX   256 /* a form value, bytes of UTF-8 */
#define TKM_MAINT_TIME_LEN   20  /* YYYY-MM-DDTHH:MM:SSZ */
#define TKM_MAINT_DATE_LEN   10  /* YYYY-MM-DD */
/* The signed part of an update, at most: what EW signs (data 4N). */
#define TKM_MAINT_SIGNED_MAX 9999
/* An update may be applied up to this long after it was made, and may be
 * dated at most TKM_MAINT_SKEW after the HSM's time (clock differences). */
#define TKM_MAINT_UPDATE_TTL (30 * 86400)
#define TKM_MAINT_SKEW       86400

#define TKM_MAINT_REQUEST_MAGIC "TKMS-MAINT-REQUEST 1"
#define TKM_MAINT_UPDATE_MAGIC  "TKMS-MAINT-UPDATE 1"

/* Key libraries; the values are those of the HSM's enum hsm_lib. */
enum tkm_maint_lib {
	TKM_MAINT_DES = 1,
	TKM_MAINT_SM4 = 2,
	TKM_MAINT_RSA = 3,
	TKM_MAINT_SM2 = 4
};

/*
 * One licence: command cmd ("UB", "U1", "U3" on a DES or SM4 key; "EH" on
 * an RSA or SM2 key pair) on key (lib, index), count times, while the
 * time is <= until. In an update count is what is granted; in a request
 * it is what remains, and used is what was used since the last update.
 */
struct tkm_maint_lic {
	char cmd[3];
	int lib;        /* enum tkm_maint_lib */
	unsigned index; /* DES/SM4 0x000-0xFFF, RSA/SM2 1-20 */
	uint32_t count;
	uint32_t used; /* request only */
	int64_t until;
};

/* The application form (spec appendix 4), in the order of the file. The
 * HSM serial (加密机序列号) and the last maintenance time (上次维保时间)
 * of the form come from the HSM itself (serial, last_applied). */
enum tkm_maint_field {
	TKM_MF_ISSUER_CODE,     /* 发卡机构代码, 8 digits, required */
	TKM_MF_HSM_NUMBER,      /* 加密机编号, required */
	TKM_MF_ORGANISATION,    /* 申请单位, required */
	TKM_MF_APPLICANT,       /* 申请人, required */
	TKM_MF_DATE,            /* 申请日期, YYYY-MM-DD, required */
	TKM_MF_ADDRESS,         /* 申请单位地址 */
	TKM_MF_PHONE,           /* 申请单位电话号码 */
	TKM_MF_CARDS_THIS_YEAR, /* 本年度票卡发行量, decimal */
	TKM_MF_CARDS_NEXT_YEAR, /* 下年度计划票卡发行量, decimal */
	TKM_MF_REMARKS,         /* 备注 */
	TKM_MF_N
};

struct tkm_maint_form {
	char v[TKM_MF_N][TKM_MAINT_TEXT_MAX + 1]; /* "" = not given */
};

struct tkm_maint_request {
	char serial[TKM_MAINT_SERIAL_MAX + 1];
	uint8_t identity[TKM_SM2_PUB_LEN]; /* X || Y */
	uint8_t nonce[TKM_MAINT_NONCE_LEN];
	int64_t time;
	int enforce;
	uint64_t last_seq;    /* 0 = no update applied yet */
	int64_t last_applied; /* 0 = never */
	struct tkm_maint_form form;
	size_t nlic;
	struct tkm_maint_lic lic[TKM_MAINT_MAX_LIC];
	/* Set by the parser: the signature and how many bytes it covers. */
	size_t signed_len;
	uint8_t sig[TKM_SM2_SIG_LEN];
};

struct tkm_maint_update {
	char serial[TKM_MAINT_SERIAL_MAX + 1];
	uint8_t nonce[TKM_MAINT_NONCE_LEN];
	uint64_t seq; /* 1 .. INT64_MAX */
	int64_t time;
	int enforce;
	size_t nlic;
	struct tkm_maint_lic lic[TKM_MAINT_MAX_LIC];
	size_t signed_len;
	uint8_t sig[TKM_SM2_SIG_LEN];
};

/*
 * The signed part of a file (every line before `sig=`) into out (cap
 * bytes; NUL-terminated when it fits): *len bytes. The content is checked
 * as the parser would check it (TKM_ERR_INPUT, *why set); TKM_ERR_SPACE if
 * out is too small; an update whose signed part exceeds
 * TKM_MAINT_SIGNED_MAX is TKM_ERR_DATA_LEN.
 */
int tkm_maint_request_write(const struct tkm_maint_request *r, char *out,
    size_t cap, size_t *len, const char **why) TKM_MUST_CHECK;
int tkm_maint_update_write(const struct tkm_maint_update *u, char *out,
    size_t cap, size_t *len, const char **why) TKM_MUST_CHECK;
/* Append `sig=` HEX "\n" after the *len bytes of out. */
int tkm_maint_sig_append(char *out, size_t cap, size_t *len,
    const uint8_t sig[TKM_SM2_SIG_LEN]) TKM_MUST_CHECK;
/* Sign out[0..*len) with k (default ID) and append the sig line. */
int tkm_maint_sign(
    struct tkm_sm2 *k, char *out, size_t cap, size_t *len) TKM_MUST_CHECK;

/* Parse a whole file (len <= TKM_MAINT_FILE_MAX). TKM_ERR_INPUT with *why
 * for anything malformed; *r / *u is cleared first. */
int tkm_maint_request_parse(const void *p, size_t len,
    struct tkm_maint_request *r, const char **why) TKM_MUST_CHECK;
int tkm_maint_update_parse(const void *p, size_t len,
    struct tkm_maint_update *u, const char **why) TKM_MUST_CHECK;

/* The signature sig over file[0..signed_len) by public key pub: TKM_OK,
 * TKM_ERR_VERIFY, or TKM_ERR_ASYM_KEY when pub is not a curve point. */
int tkm_maint_verify(const void *file, size_t signed_len,
    const uint8_t pub[TKM_SM2_PUB_LEN],
    const uint8_t sig[TKM_SM2_SIG_LEN]) TKM_MUST_CHECK;

/*
 * The licences file (docs/maintenance.md) of `tkms maint sign`: one
 * licence per line, `CMD[,CMD...] KEY LIB COUNT UNTIL`, e.g.
 * `U1,U3 K2A1 des 500 2027-12-31`; blank lines and `#` comments; UNTIL a
 * date (valid through its last second, UTC+8) or a UTC time. Up to cap
 * licences into lic, *n of them. On failure *line is the line number
 * (1-based) and *why the reason.
 */
int tkm_maint_licfile_parse(const void *p, size_t len,
    struct tkm_maint_lic *lic, size_t cap, size_t *n, size_t *line,
    const char **why) TKM_MUST_CHECK;

/* Form fields: names as in the files ("issuer_code", ...; NULL past the
 * end), their labels in the spec, lookup by name (-1 if unknown). */
const char *tkm_maint_field_name(size_t i);
const char *tkm_maint_field_label(size_t i);
int tkm_maint_field_find(const char *name, size_t len);
/* Set field i to len bytes of v, checked as the parser checks it (an empty
 * value clears an optional field). TKM_ERR_INPUT with *why. */
int tkm_maint_form_set(struct tkm_maint_form *f, size_t i, const char *v,
    size_t len, const char **why) TKM_MUST_CHECK;
/* Every required field given. */
int tkm_maint_form_check(
    const struct tkm_maint_form *f, const char **why) TKM_MUST_CHECK;

/* Times: `YYYY-MM-DDTHH:MM:SSZ` (years 1970-9999) <-> Unix time. */
int tkm_maint_time_parse(const char *s, size_t len, int64_t *t) TKM_MUST_CHECK;
void tkm_maint_time_format(int64_t t, char out[TKM_MAINT_TIME_LEN + 1]);
/* A date `YYYY-MM-DD`: its last second in UTC+8 as Unix time; and the
 * date (UTC+8) of a Unix time. */
int tkm_maint_date_end(const char *s, size_t len, int64_t *t) TKM_MUST_CHECK;
void tkm_maint_date_format(int64_t t, char out[TKM_MAINT_DATE_LEN + 1]);

/* "des", "sm4", "rsa", "sm2" <-> enum tkm_maint_lib (0 / NULL if not). */
int tkm_maint_lib_parse(const char *s, size_t len);
const char *tkm_maint_lib_name(int lib);
/* A licence's key as the files write it: `K` + 3 hex digits (DES, SM4) or
 * two digits (RSA, SM2). out holds 5 bytes. */
void tkm_maint_key_format(const struct tkm_maint_lic *l, char out[5]);
/* The licence's command, library and index make sense together. */
int tkm_maint_lic_check(
    const struct tkm_maint_lic *l, const char **why) TKM_MUST_CHECK;

#endif
