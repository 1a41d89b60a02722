/*
 * maint.c - maintenance request and update files (maint.h,
 * docs/maintenance.md).
 *
 * One reader for both files: a line is taken with tkm_rd_until(), its
 * name checked against the one the format expects at that place, its
 * value read by the field's own strict parser. Nothing is optional in
 * the order and nothing is skipped, so that one file has one reading:
 * what the HSM or the province verified is what the other side shows.
 * The writers produce the same text and run it through the same parser
 * before returning it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tkm/buf.h"
#include "tkm/maint.h"
#include "tkm/mem.h"

#define PUB_HEX   (2 * TKM_SM2_PUB_LEN)
#define NONCE_HEX (2 * TKM_MAINT_NONCE_LEN)
#define SIG_HEX   (2 * TKM_SM2_SIG_LEN)
#define CST       (8 * 3600) /* China Standard Time, UTC+8 */
#define SEQ_MAX   ((uint64_t)INT64_MAX)
#define YEAR_MIN  1970
#define YEAR_MAX  9999

/* --- times ----------------------------------------------------------------
 */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* n decimal digits exactly. */
static int
digits(const char *s, size_t n, unsigned *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return 1;
}

static unsigned
month_days(unsigned y, unsigned m)
{
	static const unsigned d[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* YYYY-MM-DD at s: its day number. */
static int
parse_date(const char *s, int64_t *days)
{
	unsigned y, m, d;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) ||
	    s[7] != '-' || !digits(s + 8, 2, &d))
		return TKM_ERR_INPUT;
	if (y < YEAR_MIN || y > YEAR_MAX || m < 1 || m > 12 || d < 1 ||
	    d > month_days(y, m))
		return TKM_ERR_INPUT;
	*days = days_from_civil(y, m, d);
	return TKM_OK;
}

int
tkm_maint_time_parse(const char *s, size_t len, int64_t *t)
{
	unsigned hh, mm, ss;
	int64_t days;

	*t = 0;
	if (len != TKM_MAINT_TIME_LEN || parse_date(s, &days) != TKM_OK ||
	    s[10] != 'T' || !digits(s + 11, 2, &hh) || s[13] != ':' ||
	    !digits(s + 14, 2, &mm) || s[16] != ':' ||
	    !digits(s + 17, 2, &ss) || s[19] != 'Z' || hh > 23 || mm > 59 ||
	    ss > 59)
		return TKM_ERR_INPUT;
	*t = days * 86400 + hh * 3600 + mm * 60 + ss;
	return TKM_OK;
}

/* t split into day and second of day, clamped to the years the parser
 * accepts so that every time formats to something it reads back. */
static void
split_time(int64_t t, int64_t *days, int64_t *sec)
{
	const int64_t lo = 0,
		      hi = days_from_civil(YEAR_MAX, 12, 31) * 86400 + 86399;

	if (t < lo)
		t = lo;
	if (t > hi)
		t = hi;
	*days = t / 86400;
	*sec = t % 86400;
}

void
tkm_maint_time_format(int64_t t, char out[TKM_MAINT_TIME_LEN + 1])
{
	int64_t days, sec, y;
	unsigned m, d;
	char s[64];

	split_time(t, &days, &sec);
	civil_from_days(days, &y, &m, &d);
	/* Through a larger buffer: the compiler cannot see the ranges. */
	snprintf(s, sizeof(s), "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)y, m, d,
	    (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
	memcpy(out, s, TKM_MAINT_TIME_LEN);
	out[TKM_MAINT_TIME_LEN] = '\0';
}

int
tkm_maint_date_end(const char *s, size_t len, int64_t *t)
{
	int64_t days;

	*t = 0;
	if (len != TKM_MAINT_DATE_LEN || parse_date(s, &days) != TKM_OK)
		return TKM_ERR_INPUT;
	*t = days * 86400 + 86399 - CST;
	return TKM_OK;
}

void
tkm_maint_date_format(int64_t t, char out[TKM_MAINT_DATE_LEN + 1])
{
	int64_t days, sec, y;
	unsigned m, d;
	char s[48];

	split_time(t + CST, &days, &sec);
	civil_from_days(days, &y, &m, &d);
	snprintf(s, sizeof(s), "%04d-%02u-%02u", (int)y, m, d);
	memcpy(out, s, TKM_MAINT_DATE_LEN);
	out[TKM_MAINT_DATE_LEN] = '\0';
}

/* --- numbers, text --------------------------------------------------------
 */

/* Canonical decimal: 1..20 digits, no leading zero but "0", <= max. */
static int
parse_dec(const uint8_t *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	*v = 0;
	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return TKM_ERR_INPUT;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return TKM_ERR_INPUT;
		if (x > (max - (uint64_t)(s[i] - '0')) / 10)
			return TKM_ERR_INPUT;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return TKM_OK;
}

/* Unicode's directional formatting characters (UAX #9): they reorder
 * what a display shows. */
static int
bidi(uint32_t cp)
{
	return cp == 0x061C || cp == 0x200E || cp == 0x200F ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) without control characters (C0, DEL, C1, directional): one
 * value cannot hide a second line or make a display show other text than
 * the one signed. */
static int
text_tab_ok(const uint8_t *p, size_t n, int tab)
{
	size_t i = 0, j, k;
	uint32_t cp, min;
	uint8_t c;

	while (i < n) {
		c = p[i];
		if (c < 0x80) {
			if ((c < 0x20 && !(tab && c == '\t')) || c == 0x7F)
				return 0;
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			k = 1, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			k = 2, cp = c & 0x0F, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i - 1 < k)
			return 0;
		for (j = 1; j <= k; j++) {
			if ((p[i + j] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + j] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || cp < 0xA0 || bidi(cp))
			return 0;
		i += k + 1;
	}
	return 1;
}

static int
text_ok(const uint8_t *p, size_t n)
{
	return text_tab_ok(p, n, 0);
}

static int
rd_is(const struct tkm_rd *v, const char *s)
{
	size_t n = strlen(s);

	return v->len == n && memcmp(v->p, s, n) == 0;
}

static int
rd_starts(const struct tkm_rd *v, const char *s)
{
	size_t n = strlen(s);

	return v->len >= n && memcmp(v->p, s, n) == 0;
}

/* Exactly n bytes of hex (either case) into out. */
static int
parse_hex(const struct tkm_rd *v, uint8_t *out, size_t n)
{
	size_t got;

	if (v->len != 2 * n ||
	    tkm_hex_decode((const char *)v->p, v->len, out, n, &got) !=
		TKM_OK ||
	    got != n)
		return TKM_ERR_INPUT;
	return TKM_OK;
}

static int
serial_ok(const uint8_t *p, size_t n)
{
	size_t i;

	if (n == 0 || n > TKM_MAINT_SERIAL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
			(p[i] >= 'A' && p[i] <= 'Z') ||
			(p[i] >= 'a' && p[i] <= 'z')))
			return 0;
	return 1;
}

/* --- libraries, keys, licences --------------------------------------------
 */

static const char *const lib_names[] = {NULL, "des", "sm4", "rsa", "sm2"};

int
tkm_maint_lib_parse(const char *s, size_t len)
{
	int i;

	for (i = TKM_MAINT_DES; i <= TKM_MAINT_SM2; i++)
		if (len == 3 && memcmp(s, lib_names[i], 3) == 0)
			return i;
	return 0;
}

const char *
tkm_maint_lib_name(int lib)
{
	return lib >= TKM_MAINT_DES && lib <= TKM_MAINT_SM2 ? lib_names[lib]
							    : NULL;
}

static int
lib_sym(int lib)
{
	return lib == TKM_MAINT_DES || lib == TKM_MAINT_SM4;
}

void
tkm_maint_key_format(const struct tkm_maint_lic *l, char out[5])
{
	if (lib_sym(l->lib))
		snprintf(out, 5, "K%03X", l->index & 0xFFF);
	else
		snprintf(out, 5, "%02u", l->index % 100);
}

/* The key's text for lib: K + 3 upper-case hex, or 01..20. */
static int
parse_key(const uint8_t *s, size_t n, int lib, unsigned *index)
{
	unsigned v = 0;
	size_t i;

	if (lib_sym(lib)) {
		if (n != 4 || s[0] != 'K')
			return TKM_ERR_INPUT;
		for (i = 1; i < 4; i++) {
			if (s[i] >= '0' && s[i] <= '9')
				v = v << 4 | (unsigned)(s[i] - '0');
			else if (s[i] >= 'A' && s[i] <= 'F')
				v = v << 4 | (unsigned)(s[i] - 'A' + 10);
			else
				return TKM_ERR_INPUT;
		}
	} else if (n != 2 || !digits((const char *)s, 2, &v) || v < 1 ||
		   v > 20) {
		return TKM_ERR_INPUT;
	}
	*index = v;
	return TKM_OK;
}

/* The command and the library go together (the index aside). */
static int
cmd_lib_check(const char *cmd, int lib, const char **why)
{
	int sym = strcmp(cmd, "UB") == 0 || strcmp(cmd, "U1") == 0 ||
		  strcmp(cmd, "U3") == 0;

	if (!sym && strcmp(cmd, "EH") != 0) {
		*why = "licence: the command must be UB, U1, U3 or EH";
		return TKM_ERR_INPUT;
	}
	if (sym && !lib_sym(lib)) {
		*why = "licence: UB, U1 and U3 licence a des or sm4 key "
		       "(K000-KFFF)";
		return TKM_ERR_INPUT;
	}
	if (!sym && lib != TKM_MAINT_RSA && lib != TKM_MAINT_SM2) {
		*why = "licence: EH licences an rsa or sm2 key pair (01-20)";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

int
tkm_maint_lic_check(const struct tkm_maint_lic *l, const char **why)
{
	if (memchr(l->cmd, '\0', sizeof(l->cmd)) == NULL) {
		*why = "licence: the command must be UB, U1, U3 or EH";
		return TKM_ERR_INPUT;
	}
	if (cmd_lib_check(l->cmd, l->lib, why) != TKM_OK)
		return TKM_ERR_INPUT;
	if (lib_sym(l->lib) ? l->index > 0xFFF
			    : l->index < 1 || l->index > 20) {
		*why = lib_sym(l->lib) ? "licence: a des or sm4 key is "
					 "K000-KFFF"
				       : "licence: an rsa or sm2 key pair is "
					 "01 to 20";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* Split v at single spaces into at most max tokens: their count, or 0
 * when there are more, or an empty one (two spaces, a space at an end). */
static size_t
tokens(const struct tkm_rd *v, struct tkm_rd *tok, size_t max)
{
	struct tkm_rd rd = *v, t;
	size_t n = 0, i;

	while (tkm_rd_until(&rd, ' ', &t) == TKM_OK) {
		if (n == max)
			return 0;
		tok[n++] = t;
	}
	if (n == max)
		return 0;
	tok[n++] = rd;
	for (i = 0; i < n; i++)
		if (tok[i].len == 0)
			return 0;
	return n;
}

/*
 * A lic= value: `CMD KEY LIB COUNT UNTIL` (update) or `CMD KEY LIB
 * REMAINING USED UNTIL` (request).
 */
static int
parse_lic(const struct tkm_rd *v, int with_used, struct tkm_maint_lic *l,
    const char **why)
{
	struct tkm_rd t[6];
	size_t want = with_used ? 6 : 5, k = 3;
	uint64_t x;

	memset(l, 0, sizeof(*l));
	if (tokens(v, t, want) != want) {
		*why = with_used
			   ? "lic: want CMD KEY LIB REMAINING USED UNTIL, "
			     "one space apart"
			   : "lic: want CMD KEY LIB COUNT UNTIL, one "
			     "space apart";
		return TKM_ERR_INPUT;
	}
	if (t[0].len != 2) {
		*why = "licence: the command must be UB, U1, U3 or EH";
		return TKM_ERR_INPUT;
	}
	memcpy(l->cmd, t[0].p, 2);
	if ((l->lib = tkm_maint_lib_parse((const char *)t[2].p, t[2].len)) ==
	    0) {
		*why = "lic: the library must be des, sm4, rsa or sm2";
		return TKM_ERR_INPUT;
	}
	if (cmd_lib_check(l->cmd, l->lib, why) != TKM_OK)
		return TKM_ERR_INPUT;
	if (parse_key(t[1].p, t[1].len, l->lib, &l->index) != TKM_OK) {
		*why = lib_sym(l->lib) ? "lic: a des or sm4 key is K and 3 "
					 "upper-case hex digits"
				       : "lic: an rsa or sm2 key is 01 to 20";
		return TKM_ERR_INPUT;
	}
	if (parse_dec(t[k].p, t[k].len, UINT32_MAX, &x) != TKM_OK) {
		*why = "lic: the count must be a decimal number up to "
		       "4294967295";
		return TKM_ERR_INPUT;
	}
	l->count = (uint32_t)x;
	k++;
	if (with_used) {
		if (parse_dec(t[k].p, t[k].len, UINT32_MAX, &x) != TKM_OK) {
			*why = "lic: used must be a decimal number up to "
			       "4294967295";
			return TKM_ERR_INPUT;
		}
		l->used = (uint32_t)x;
		k++;
	}
	if (tkm_maint_time_parse((const char *)t[k].p, t[k].len, &l->until) !=
	    TKM_OK) {
		*why = "lic: until must be a time YYYY-MM-DDTHH:MM:SSZ";
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

static int
lic_same(const struct tkm_maint_lic *a, const struct tkm_maint_lic *b)
{
	return a->lib == b->lib && a->index == b->index &&
	       memcmp(a->cmd, b->cmd, 2) == 0;
}

/* Add l to lic[0..*n): no more than TKM_MAINT_MAX_LIC (or cap), no
 * command twice on one key. */
static int
lic_add(struct tkm_maint_lic *lic, size_t cap, size_t *n,
    const struct tkm_maint_lic *l, const char **why)
{
	size_t i;

	if (*n >= cap || *n >= TKM_MAINT_MAX_LIC) {
		*why = "too many licences (at most 200 in one file)";
		return TKM_ERR_INPUT;
	}
	for (i = 0; i < *n; i++)
		if (lic_same(&lic[i], l)) {
			*why = "a licence for the same command and key is "
			       "listed twice";
			return TKM_ERR_INPUT;
		}
	lic[(*n)++] = *l;
	return TKM_OK;
}

/* --- the form -------------------------------------------------------------
 */

enum fkind { F_CODE, F_TEXT, F_DATE, F_COUNT };

static const struct field {
	const char *name, *label;
	enum fkind kind;
	size_t max;
	int required;
	const char *why;
} fields[TKM_MF_N] = {
    {"issuer_code", "发卡机构代码", F_CODE, 8, 1,
	"issuer_code (发卡机构代码): 8 digits, required"},
    {"hsm_number", "加密机编号", F_TEXT, 64, 1,
	"hsm_number (加密机编号): required, at most 64 bytes of text"},
    {"organisation", "申请单位", F_TEXT, 128, 1,
	"organisation (申请单位): required, at most 128 bytes of text"},
    {"applicant", "申请人", F_TEXT, 64, 1,
	"applicant (申请人): required, at most 64 bytes of text"},
    {"date", "申请日期", F_DATE, 10, 1,
	"date (申请日期): a date YYYY-MM-DD, required"},
    {"address", "申请单位地址", F_TEXT, 256, 0,
	"address (申请单位地址): at most 256 bytes of text"},
    {"phone", "申请单位电话号码", F_TEXT, 32, 0,
	"phone (申请单位电话号码): at most 32 bytes of text"},
    {"cards_this_year", "本年度票卡发行量", F_COUNT, 12, 0,
	"cards_this_year (本年度票卡发行量): a decimal number"},
    {"cards_next_year", "下年度计划票卡发行量", F_COUNT, 12, 0,
	"cards_next_year (下年度计划票卡发行量): a decimal number"},
    {"remarks", "备注", F_TEXT, 256, 0,
	"remarks (备注): at most 256 bytes of text"},
};

const char *
tkm_maint_field_name(size_t i)
{
	return i < TKM_MF_N ? fields[i].name : NULL;
}

const char *
tkm_maint_field_label(size_t i)
{
	return i < TKM_MF_N ? fields[i].label : NULL;
}

int
tkm_maint_field_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < TKM_MF_N; i++)
		if (strlen(fields[i].name) == len &&
		    memcmp(fields[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static int
field_ok(const struct field *f, const uint8_t *v, size_t n)
{
	unsigned d;
	uint64_t x;
	int64_t t;

	if (n == 0)
		return !f->required;
	if (n > f->max)
		return 0;
	switch (f->kind) {
	case F_CODE:
		return n == 8 && digits((const char *)v, 8, &d);
	case F_DATE:
		return tkm_maint_date_end((const char *)v, n, &t) == TKM_OK;
	case F_COUNT:
		return parse_dec(v, n, SEQ_MAX, &x) == TKM_OK;
	default:
		return text_ok(v, n);
	}
}

int
tkm_maint_form_set(struct tkm_maint_form *f, size_t i, const char *v,
    size_t len, const char **why)
{
	if (i >= TKM_MF_N) {
		*why = "unknown form field";
		return TKM_ERR_INPUT;
	}
	/* Empty clears (the required check is tkm_maint_form_check's). */
	if (len > 0 && !field_ok(&fields[i], (const uint8_t *)v, len)) {
		*why = fields[i].why;
		return TKM_ERR_INPUT;
	}
	memcpy(f->v[i], v, len);
	f->v[i][len] = '\0';
	return TKM_OK;
}

int
tkm_maint_form_check(const struct tkm_maint_form *f, const char **why)
{
	size_t i, n;

	for (i = 0; i < TKM_MF_N; i++) {
		n = strnlen(f->v[i], sizeof(f->v[i]));
		if (n == sizeof(f->v[i]) ||
		    !field_ok(&fields[i], (const uint8_t *)f->v[i], n)) {
			*why = fields[i].why;
			return TKM_ERR_INPUT;
		}
	}
	return TKM_OK;
}

/* --- reading a file -------------------------------------------------------
 */

struct reader {
	struct tkm_rd rd;
	const uint8_t *base;
	const char **why;
};

/* The next line, which must be `name=VALUE` and end with "\n": VALUE in
 * *v. Otherwise *why = why. */
static int
next_field(
    struct reader *r, const char *name, struct tkm_rd *v, const char *why)
{
	struct tkm_rd line;
	size_t n = strlen(name);

	if (tkm_rd_until(&r->rd, '\n', &line) != TKM_OK || line.len <= n ||
	    memcmp(line.p, name, n) != 0 || line.p[n] != '=') {
		*r->why = why;
		return TKM_ERR_INPUT;
	}
	*v = tkm_rd_of(line.p + n + 1, line.len - n - 1);
	return TKM_OK;
}

static int
read_magic(struct reader *r, const char *magic, const char *why)
{
	struct tkm_rd line;

	if (tkm_rd_until(&r->rd, '\n', &line) != TKM_OK ||
	    !rd_is(&line, magic)) {
		*r->why = why;
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

#define W_SERIAL "serial=: the HSM serial, 1 to 16 letters or digits"
#define W_NONCE  "nonce=: 32 hex digits"
#define W_TIME   "time=: a time YYYY-MM-DDTHH:MM:SSZ"
#define W_ENF    "enforce=: 0 or 1"
#define W_SIG    "sig=: the last line, 128 hex digits (r || s), nothing after it"

static int
read_serial(struct reader *r, char out[TKM_MAINT_SERIAL_MAX + 1])
{
	struct tkm_rd v;

	if (next_field(r, "serial", &v, W_SERIAL) != TKM_OK)
		return TKM_ERR_INPUT;
	if (!serial_ok(v.p, v.len)) {
		*r->why = W_SERIAL;
		return TKM_ERR_INPUT;
	}
	memcpy(out, v.p, v.len);
	out[v.len] = '\0';
	return TKM_OK;
}

static int
read_hex(
    struct reader *r, const char *name, uint8_t *out, size_t n, const char *why)
{
	struct tkm_rd v;

	if (next_field(r, name, &v, why) != TKM_OK ||
	    parse_hex(&v, out, n) != TKM_OK) {
		*r->why = why;
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* A time; with never, "-" is accepted as 0. */
static int
read_time(
    struct reader *r, const char *name, int never, int64_t *t, const char *why)
{
	struct tkm_rd v;

	if (next_field(r, name, &v, why) != TKM_OK)
		return TKM_ERR_INPUT;
	if (never && rd_is(&v, "-")) {
		*t = 0;
		return TKM_OK;
	}
	if (tkm_maint_time_parse((const char *)v.p, v.len, t) != TKM_OK ||
	    (never && *t == 0)) {
		*r->why = why;
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

static int
read_dec(struct reader *r, const char *name, uint64_t min, uint64_t *x,
    const char *why)
{
	struct tkm_rd v;

	if (next_field(r, name, &v, why) != TKM_OK ||
	    parse_dec(v.p, v.len, SEQ_MAX, x) != TKM_OK || *x < min) {
		*r->why = why;
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

static int
read_enforce(struct reader *r, int *enforce)
{
	uint64_t x;

	if (read_dec(r, "enforce", 0, &x, W_ENF) != TKM_OK || x > 1) {
		*r->why = W_ENF;
		return TKM_ERR_INPUT;
	}
	*enforce = (int)x;
	return TKM_OK;
}

/* lic= lines up to the signature or the end: the signed part ends where
 * the signature line starts (or at the end: the writers' check). */
static int
read_lics(struct reader *r, int with_used, struct tkm_maint_lic *lic, size_t *n)
{
	struct tkm_maint_lic l;
	struct tkm_rd v;

	while (r->rd.len > 0 && !rd_starts(&r->rd, "sig=")) {
		if (next_field(r, "lic", &v,
			"after the last field only lic= lines, then "
			"sig=") != TKM_OK ||
		    parse_lic(&v, with_used, &l, r->why) != TKM_OK ||
		    lic_add(lic, TKM_MAINT_MAX_LIC, n, &l, r->why) != TKM_OK)
			return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

static int
read_sig(struct reader *r, size_t *signed_len, uint8_t sig[TKM_SM2_SIG_LEN])
{
	struct tkm_rd v = r->rd;

	if (!rd_starts(&v, "sig=")) {
		*r->why = W_SIG;
		return TKM_ERR_INPUT;
	}
	*signed_len = (size_t)(v.p - r->base);
	v.p += 4;
	v.len -= 4;
	if (v.len == SIG_HEX + 1 && v.p[SIG_HEX] == '\n')
		v.len--;
	if (parse_hex(&v, sig, TKM_SM2_SIG_LEN) != TKM_OK) {
		*r->why = W_SIG;
		return TKM_ERR_INPUT;
	}
	r->rd.len = 0;
	return TKM_OK;
}

/* Everything before sig=. */
static int
request_body(struct reader *r, struct tkm_maint_request *q)
{
	struct tkm_rd v;
	size_t i;

	if (read_magic(r, TKM_MAINT_REQUEST_MAGIC,
		"not a maintenance request: the first line must be "
		"TKMS-MAINT-REQUEST 1") != TKM_OK ||
	    read_serial(r, q->serial) != TKM_OK ||
	    read_hex(r, "identity", q->identity, TKM_SM2_PUB_LEN,
		"identity=: the HSM's identity public key, 128 hex digits "
		"(X || Y)") != TKM_OK ||
	    read_hex(r, "nonce", q->nonce, TKM_MAINT_NONCE_LEN, W_NONCE) !=
		TKM_OK ||
	    read_time(r, "time", 0, &q->time, W_TIME) != TKM_OK ||
	    read_enforce(r, &q->enforce) != TKM_OK ||
	    read_dec(r, "last_seq", 0, &q->last_seq,
		"last_seq=: a decimal number") != TKM_OK ||
	    read_time(r, "last_applied", 1, &q->last_applied,
		"last_applied=: a time YYYY-MM-DDTHH:MM:SSZ, or - for "
		"never") != TKM_OK)
		return TKM_ERR_INPUT;
	for (i = 0; i < TKM_MF_N; i++) {
		if (next_field(r, fields[i].name, &v, fields[i].why) != TKM_OK)
			return TKM_ERR_INPUT;
		if (!field_ok(&fields[i], v.p, v.len)) {
			*r->why = fields[i].why;
			return TKM_ERR_INPUT;
		}
		memcpy(q->form.v[i], v.p, v.len);
		q->form.v[i][v.len] = '\0';
	}
	return read_lics(r, 1, q->lic, &q->nlic);
}

static int
update_body(struct reader *r, struct tkm_maint_update *u)
{
	if (read_magic(r, TKM_MAINT_UPDATE_MAGIC,
		"not a maintenance update: the first line must be "
		"TKMS-MAINT-UPDATE 1") != TKM_OK ||
	    read_serial(r, u->serial) != TKM_OK ||
	    read_hex(r, "nonce", u->nonce, TKM_MAINT_NONCE_LEN, W_NONCE) !=
		TKM_OK ||
	    read_dec(r, "seq", 1, &u->seq,
		"seq=: a decimal number from 1 to 9223372036854775807") !=
		TKM_OK ||
	    read_time(r, "time", 0, &u->time, W_TIME) != TKM_OK ||
	    read_enforce(r, &u->enforce) != TKM_OK)
		return TKM_ERR_INPUT;
	return read_lics(r, 0, u->lic, &u->nlic);
}

static void
reader_init(struct reader *r, const void *p, size_t len, const char **why)
{
	r->rd = tkm_rd_of(p, len);
	r->base = p;
	r->why = why;
}

int
tkm_maint_request_parse(
    const void *p, size_t len, struct tkm_maint_request *q, const char **why)
{
	struct reader r;

	memset(q, 0, sizeof(*q));
	*why = NULL;
	if (len > TKM_MAINT_FILE_MAX) {
		*why = "larger than a maintenance file can be (16384 bytes)";
		return TKM_ERR_INPUT;
	}
	reader_init(&r, p, len, why);
	if (request_body(&r, q) != TKM_OK ||
	    read_sig(&r, &q->signed_len, q->sig) != TKM_OK) {
		memset(q, 0, sizeof(*q));
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

int
tkm_maint_update_parse(
    const void *p, size_t len, struct tkm_maint_update *u, const char **why)
{
	struct reader r;

	memset(u, 0, sizeof(*u));
	*why = NULL;
	if (len > TKM_MAINT_FILE_MAX) {
		*why = "larger than a maintenance file can be (16384 bytes)";
		return TKM_ERR_INPUT;
	}
	reader_init(&r, p, len, why);
	if (update_body(&r, u) != TKM_OK ||
	    read_sig(&r, &u->signed_len, u->sig) != TKM_OK) {
		memset(u, 0, sizeof(*u));
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* --- writing a file -------------------------------------------------------
 */

static void
wr_field(struct tkm_wr *w, const char *name, const char *value)
{
	tkm_wr_str(w, name);
	tkm_wr_str(w, "=");
	tkm_wr_str(w, value);
	tkm_wr_str(w, "\n");
}

static void
wr_hex(struct tkm_wr *w, const char *name, const uint8_t *p, size_t n)
{
	tkm_wr_str(w, name);
	tkm_wr_str(w, "=");
	tkm_wr_hex(w, p, n);
	tkm_wr_str(w, "\n");
}

static void
wr_dec(struct tkm_wr *w, const char *name, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	wr_field(w, name, s);
}

static void
wr_time(struct tkm_wr *w, const char *name, int64_t t)
{
	char s[TKM_MAINT_TIME_LEN + 1];

	tkm_maint_time_format(t, s);
	wr_field(w, name, s);
}

static void
wr_lic(struct tkm_wr *w, const struct tkm_maint_lic *l, int with_used)
{
	char s[96], key[5], until[TKM_MAINT_TIME_LEN + 1];
	const char *lib = tkm_maint_lib_name(l->lib);

	tkm_maint_key_format(l, key);
	tkm_maint_time_format(l->until, until);
	if (with_used)
		snprintf(s, sizeof(s), "%.2s %s %s %lu %lu %s", l->cmd, key,
		    lib != NULL ? lib : "?", (unsigned long)l->count,
		    (unsigned long)l->used, until);
	else
		snprintf(s, sizeof(s), "%.2s %s %s %lu %s", l->cmd, key,
		    lib != NULL ? lib : "?", (unsigned long)l->count, until);
	wr_field(w, "lic", s);
}

static int
time_ok(int64_t t)
{
	char s[TKM_MAINT_TIME_LEN + 1];
	int64_t back;

	tkm_maint_time_format(t, s);
	return tkm_maint_time_parse(s, TKM_MAINT_TIME_LEN, &back) == TKM_OK &&
	       back == t;
}

/* What the writers take that the text could not carry back. */
static int
lics_ok(const struct tkm_maint_lic *lic, size_t n, const char **why)
{
	size_t i, j;

	if (n > TKM_MAINT_MAX_LIC) {
		*why = "too many licences (at most 200 in one file)";
		return TKM_ERR_INPUT;
	}
	for (i = 0; i < n; i++) {
		if (tkm_maint_lic_check(&lic[i], why) != TKM_OK)
			return TKM_ERR_INPUT;
		if (!time_ok(lic[i].until)) {
			*why = "licence: until out of range";
			return TKM_ERR_INPUT;
		}
		for (j = 0; j < i; j++)
			if (lic_same(&lic[i], &lic[j])) {
				*why = "a licence for the same command and "
				       "key is listed twice";
				return TKM_ERR_INPUT;
			}
	}
	return TKM_OK;
}

static int
serial_str_ok(const char *s)
{
	size_t n = strnlen(s, TKM_MAINT_SERIAL_MAX + 1);

	return serial_ok((const uint8_t *)s, n);
}

/* End of a writer: the output must fit and read back. */
static int
wr_finish(struct tkm_wr *w, size_t *len, int request, const char **why)
{
	struct tkm_maint_request *q = NULL;
	struct tkm_maint_update *u = NULL;
	struct reader r;
	int rc;

	if ((rc = tkm_wr_error(w)) != TKM_OK)
		return rc;
	if (w->len < w->cap)
		w->p[w->len] = '\0';
	reader_init(&r, w->p, w->len, why);
	/* The structs are large: not on the stack of a worker. */
	if (request) {
		if ((q = malloc(sizeof(*q))) == NULL)
			return TKM_ERR_NOMEM;
		memset(q, 0, sizeof(*q));
		rc = request_body(&r, q);
	} else {
		if ((u = malloc(sizeof(*u))) == NULL)
			return TKM_ERR_NOMEM;
		memset(u, 0, sizeof(*u));
		rc = update_body(&r, u);
	}
	free(q);
	free(u);
	if (rc != TKM_OK || r.rd.len != 0)
		return TKM_ERR_INPUT;
	*len = w->len;
	return TKM_OK;
}

int
tkm_maint_request_write(const struct tkm_maint_request *q, char *out,
    size_t cap, size_t *len, const char **why)
{
	struct tkm_wr w;
	size_t i;

	*len = 0;
	*why = NULL;
	if (!serial_str_ok(q->serial)) {
		*why = W_SERIAL;
		return TKM_ERR_INPUT;
	}
	if (!time_ok(q->time) || !time_ok(q->last_applied) ||
	    q->last_seq > SEQ_MAX || (q->enforce != 0 && q->enforce != 1)) {
		*why = "time, last_applied, last_seq or enforce out of range";
		return TKM_ERR_INPUT;
	}
	if (tkm_maint_form_check(&q->form, why) != TKM_OK ||
	    lics_ok(q->lic, q->nlic, why) != TKM_OK)
		return TKM_ERR_INPUT;
	tkm_wr_init(&w, out, cap);
	tkm_wr_str(&w, TKM_MAINT_REQUEST_MAGIC "\n");
	wr_field(&w, "serial", q->serial);
	wr_hex(&w, "identity", q->identity, TKM_SM2_PUB_LEN);
	wr_hex(&w, "nonce", q->nonce, TKM_MAINT_NONCE_LEN);
	wr_time(&w, "time", q->time);
	wr_dec(&w, "enforce", (uint64_t)q->enforce);
	wr_dec(&w, "last_seq", q->last_seq);
	if (q->last_applied == 0)
		wr_field(&w, "last_applied", "-");
	else
		wr_time(&w, "last_applied", q->last_applied);
	for (i = 0; i < TKM_MF_N; i++)
		wr_field(&w, fields[i].name, q->form.v[i]);
	for (i = 0; i < q->nlic; i++)
		wr_lic(&w, &q->lic[i], 1);
	return wr_finish(&w, len, 1, why);
}

int
tkm_maint_update_write(const struct tkm_maint_update *u, char *out, size_t cap,
    size_t *len, const char **why)
{
	struct tkm_wr w;
	size_t i;
	int rc;

	*len = 0;
	*why = NULL;
	if (!serial_str_ok(u->serial)) {
		*why = W_SERIAL;
		return TKM_ERR_INPUT;
	}
	if (!time_ok(u->time) || u->seq < 1 || u->seq > SEQ_MAX ||
	    (u->enforce != 0 && u->enforce != 1)) {
		*why = "time, seq or enforce out of range";
		return TKM_ERR_INPUT;
	}
	if (lics_ok(u->lic, u->nlic, why) != TKM_OK)
		return TKM_ERR_INPUT;
	tkm_wr_init(&w, out, cap);
	tkm_wr_str(&w, TKM_MAINT_UPDATE_MAGIC "\n");
	wr_field(&w, "serial", u->serial);
	wr_hex(&w, "nonce", u->nonce, TKM_MAINT_NONCE_LEN);
	wr_dec(&w, "seq", u->seq);
	wr_time(&w, "time", u->time);
	wr_dec(&w, "enforce", (uint64_t)u->enforce);
	for (i = 0; i < u->nlic; i++)
		wr_lic(&w, &u->lic[i], 0);
	if ((rc = wr_finish(&w, len, 0, why)) != TKM_OK)
		return rc;
	if (*len > TKM_MAINT_SIGNED_MAX) {
		*why = "the update is longer than EW signs (9999 bytes)";
		*len = 0;
		return TKM_ERR_DATA_LEN;
	}
	return TKM_OK;
}

int
tkm_maint_sig_append(
    char *out, size_t cap, size_t *len, const uint8_t sig[TKM_SM2_SIG_LEN])
{
	struct tkm_wr w;

	if (*len > cap)
		return TKM_ERR_SPACE;
	tkm_wr_init(&w, out + *len, cap - *len);
	wr_hex(&w, "sig", sig, TKM_SM2_SIG_LEN);
	if (tkm_wr_error(&w) != TKM_OK)
		return tkm_wr_error(&w);
	*len += w.len;
	if (*len < cap)
		out[*len] = '\0';
	return TKM_OK;
}

int
tkm_maint_sign(struct tkm_sm2 *k, char *out, size_t cap, size_t *len)
{
	uint8_t sig[TKM_SM2_SIG_LEN];
	int rc;

	if ((rc = tkm_sm2_sign(k, NULL, 0, out, *len, sig)) != TKM_OK)
		return rc;
	return tkm_maint_sig_append(out, cap, len, sig);
}

int
tkm_maint_verify(const void *file, size_t signed_len,
    const uint8_t pub[TKM_SM2_PUB_LEN], const uint8_t sig[TKM_SM2_SIG_LEN])
{
	struct tkm_sm2 *k = NULL;
	int rc;

	if ((rc = tkm_sm2_from_pub(pub, &k)) != TKM_OK)
		return TKM_ERR_ASYM_KEY;
	rc = tkm_sm2_verify(k, NULL, 0, file, signed_len, sig);
	tkm_sm2_free(k);
	return rc == TKM_OK ? TKM_OK : TKM_ERR_VERIFY;
}

/* --- the licences file ----------------------------------------------------
 */

/* Blanks of the licences file: spaces and tabs. */
static int
blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Next word of line (after blanks), NULL-length at the end. */
static struct tkm_rd
word(struct tkm_rd *line)
{
	struct tkm_rd w;

	while (line->len > 0 && blank(line->p[0])) {
		line->p++;
		line->len--;
	}
	w = tkm_rd_of(line->p, 0);
	while (line->len > 0 && !blank(line->p[0])) {
		line->p++;
		line->len--;
		w.len++;
	}
	return w;
}

/* The key of the licences file: K + 3 hex (either case), or 1-2 digits
 * for an RSA or SM2 pair ("5" = "05"). */
static int
licfile_key(struct tkm_rd w, int lib, unsigned *index)
{
	uint8_t k[4];
	size_t i;

	if (lib_sym(lib)) {
		if (w.len != 4)
			return TKM_ERR_INPUT;
		for (i = 0; i < 4; i++)
			k[i] = (w.p[i] >= 'a' && w.p[i] <= 'z')
				   ? (uint8_t)(w.p[i] - 'a' + 'A')
				   : w.p[i];
		return parse_key(k, 4, lib, index);
	}
	if (w.len == 1) {
		k[0] = '0';
		k[1] = w.p[0];
		return parse_key(k, 2, lib, index);
	}
	return parse_key(w.p, w.len, lib, index);
}

/* The library of the licences file, in either case. */
static int
licfile_lib(struct tkm_rd w)
{
	char s[3];
	size_t i;

	if (w.len != 3)
		return 0;
	for (i = 0; i < 3; i++)
		s[i] =
		    (char)(w.p[i] >= 'A' && w.p[i] <= 'Z' ? w.p[i] - 'A' + 'a'
							  : w.p[i]);
	return tkm_maint_lib_parse(s, 3);
}

/* One non-blank line: CMD[,CMD...] KEY LIB COUNT UNTIL. */
static int
licfile_line(struct tkm_rd line, struct tkm_maint_lic *lic, size_t cap,
    size_t *n, const char **why)
{
	struct tkm_rd cmds = word(&line), key = word(&line), lib = word(&line),
		      count = word(&line), until = word(&line), c;
	struct tkm_maint_lic l;
	uint64_t x;
	int more;

	memset(&l, 0, sizeof(l));
	if (until.len == 0 || word(&line).len != 0) {
		*why = "want CMD KEY LIB COUNT UNTIL, e.g. UB K2A0 des 1000 "
		       "2027-12-31";
		return TKM_ERR_INPUT;
	}
	if ((l.lib = licfile_lib(lib)) == 0) {
		*why = "LIB must be des, sm4, rsa or sm2";
		return TKM_ERR_INPUT;
	}
	if (licfile_key(key, l.lib, &l.index) != TKM_OK) {
		*why = lib_sym(l.lib) ? "KEY of a des or sm4 key: K and 3 hex "
					"digits (K000-KFFF)"
				      : "KEY of an rsa or sm2 key pair: 01-20";
		return TKM_ERR_INPUT;
	}
	if (parse_dec(count.p, count.len, UINT32_MAX, &x) != TKM_OK) {
		*why = "COUNT must be a decimal number up to 4294967295";
		return TKM_ERR_INPUT;
	}
	l.count = (uint32_t)x;
	if (tkm_maint_date_end((const char *)until.p, until.len, &l.until) !=
		TKM_OK &&
	    tkm_maint_time_parse((const char *)until.p, until.len, &l.until) !=
		TKM_OK) {
		*why = "UNTIL must be a date YYYY-MM-DD (through its end, "
		       "UTC+8) or a time YYYY-MM-DDTHH:MM:SSZ";
		return TKM_ERR_INPUT;
	}
	/* UB / U1,U3: one licence per command, each with COUNT. */
	for (;;) {
		if ((more = tkm_rd_until(&cmds, ',', &c) == TKM_OK) == 0)
			c = cmds;
		if (c.len != 2) {
			*why = "CMD must be UB, U1, U3 or EH (several: "
			       "U1,U3)";
			return TKM_ERR_INPUT;
		}
		l.cmd[0] = (char)c.p[0];
		l.cmd[1] = (char)c.p[1];
		if (tkm_maint_lic_check(&l, why) != TKM_OK ||
		    lic_add(lic, cap, n, &l, why) != TKM_OK)
			return TKM_ERR_INPUT;
		if (!more)
			break;
	}
	return TKM_OK;
}

int
tkm_maint_licfile_parse(const void *p, size_t len, struct tkm_maint_lic *lic,
    size_t cap, size_t *n, size_t *line, const char **why)
{
	struct tkm_rd rd = tkm_rd_of(p, len), l, rest;
	const uint8_t *hash;

	*n = 0;
	*line = 0;
	*why = NULL;
	if (len > TKM_MAINT_FILE_MAX) {
		*why = "larger than 16384 bytes";
		return TKM_ERR_INPUT;
	}
	while (rd.len > 0) {
		++*line;
		if (tkm_rd_until(&rd, '\n', &l) != TKM_OK) {
			l = rd;
			rd.len = 0;
		}
		if (l.len > 0 && l.p[l.len - 1] == '\r')
			l.len--;
		if ((hash = memchr(l.p, '#', l.len)) != NULL)
			l.len = (size_t)(hash - l.p);
		if (!text_tab_ok(l.p, l.len, 1)) {
			*why = "not text (UTF-8 without control characters)";
			goto bad;
		}
		rest = l;
		if (word(&rest).len == 0)
			continue;
		if (licfile_line(l, lic, cap, n, why) != TKM_OK)
			goto bad;
	}
	*line = 0;
	return TKM_OK;
bad:
	*n = 0;
	return TKM_ERR_INPUT;
}
