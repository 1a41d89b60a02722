/*
 * cardflow.c - the host side of one card (cardflow.h, docs/card-flows.md).
 *
 * Every exchange goes through two functions: hsm_call (one host command,
 * its response code and ERR checked, the refusal explained) and dev_tx
 * (one APDU to the card or the PSAM, its status word checked). A step
 * stops at the first refusal; f->fail says which step, who refused, the
 * code and what to do about it.
 */
#include "cardflow.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apdu.h"
#include "sm.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mem.h"

#define REQ_CAP  1024
#define RESP_CAP 1024
#define IV_HEX0  "00000000000000000000000000000000"
#define CDOL_LEN 29

static const char *const step_names[CF_NSTEPS] = {
    "issue", "psam", "load", "purchase", "clear", "emv"};
static const char *const hsm_names[CF_NHSM] = {
    "city HSM", "business HSM", "clearing HSM"};

/* Spec appendix 2 and the HSM types docs/kms-schema.md assigns. */
static const struct {
	const char *tmpl, *type;
} tmpl_types[] = {
    {"app_maint_01", "209"},
    {"app_maint_02", "209"},
    {"app_maint_03", "209"},
    {"purchase_01", "509"},
    {"purchase_02", "509"},
    {"load_01", "509"},
    {"load_02", "509"},
    {"load_03", "509"},
    {"tac", "509"},
    {"app_lock", "209"},
    {"app_unlock", "209"},
    {"ext_auth_01", "509"},
    {"ext_auth_02", "509"},
    {"ext_auth_03", "509"},
    {"unload", "509"},
    {"overdraft", "509"},
    {"ecash_ac", "109"},
    {"ecash_record", "209"},
    {"ecash_mac", "209"},
    {"ecash_enc", "309"},
    {"ext_open", "209"},
    {"ext_manage_01", "209"},
    {"ext_manage_02", "209"},
};

/* Status words of docs/sim.md, for messages. */
static const struct {
	unsigned sw;
	const char *text;
} sw_texts[] = {
    {0x6300, "issuer authentication failed: ARPC wrong"},
    {0x6700, "wrong length"},
    {0x6983, "key blocked"},
    {0x6985, "conditions not satisfied"},
    {0x6988, "secure-messaging MAC wrong"},
    {0x6A80, "data malformed"},
    {0x6A81, "function not supported"},
    {0x6A82, "application or file not found"},
    {0x6A84, "no room for another key"},
    {0x6A86, "P1 P2 wrong"},
    {0x6A88, "key absent"},
    {0x6D00, "instruction unknown"},
    {0x6E00, "class unknown"},
    {0x6F00, "internal error"},
    {0x9302, "MAC wrong"},
    {0x9401, "balance insufficient"},
    {0x9402, "transaction counter at its maximum"},
    {0x9403, "key index not supported"},
    {0x9406, "no such transaction"},
};

/* --- small things --------------------------------------------------------- */

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

const char *
cf_step_name(int step)
{
	return step >= 0 && step < CF_NSTEPS ? step_names[step] : "?";
}

const char *
cf_hsm_name(int hsm)
{
	return hsm >= 0 && hsm < CF_NHSM ? hsm_names[hsm] : "HSM";
}

static const char *
alg_name(int alg)
{
	return alg == TKM_DES ? "DES" : alg == TKM_SM4 ? "SM4" : "?";
}

static char
alg_flag(int alg)
{
	return alg == TKM_DES ? 'X' : 'S';
}

static const char *
sw_text(unsigned sw)
{
	size_t i;

	if ((sw & 0xFFF0) == 0x63C0)
		return "wrong, tries left in the low digit";
	if ((sw & 0xFF00) == 0x6C00)
		return "wrong Le";
	for (i = 0; i < sizeof(sw_texts) / sizeof(sw_texts[0]); i++)
		if (sw_texts[i].sw == sw)
			return sw_texts[i].text;
	return "unknown status";
}

/* The first cause of err.h with that wire code, for the text. */
static int
wire_cause(const uint8_t code[2])
{
	int e;

	for (e = TKM_ERR_VERIFY; e > TKM_ERR__LAST; e--)
		if (memcmp(tkm_err_wire(e), code, 2) == 0)
			return e;
	return TKM_ERR_INTERNAL;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint8_t
bcd(unsigned v)
{
	return (uint8_t)((v / 10) << 4 | (v % 10));
}

/* The rest of the message after "STEP: ". */
static int failf(struct cf *f, enum cf_fail_kind kind, int rc, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static int
failf(struct cf *f, enum cf_fail_kind kind, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	f->fail.kind = kind;
	n = snprintf(f->fail.msg, sizeof(f->fail.msg),
	    "%s: ", cf_step_name((int)f->fail.step));
	if (n < 0 || (size_t)n >= sizeof(f->fail.msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(f->fail.msg + n, sizeof(f->fail.msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

static void
step_begin(struct cf *f, enum cf_step step, uint64_t *t0)
{
	memset(&f->fail, 0, sizeof(f->fail));
	f->fail.step = step;
	f->fail.hsm = -1;
	*t0 = now_us();
}

static int
step_end(struct cf *f, enum cf_step step, uint64_t t0, int rc)
{
	if (rc == TKM_OK) {
		f->last_us = now_us() - t0;
		f->stats.runs[step]++;
		f->stats.us[step] += f->last_us;
	}
	return rc;
}

void
cf_init(struct cf *f)
{
	memset(f, 0, sizeof(*f));
	f->transport[TKM_DES] = CF_TRANSPORT_DES_INDEX;
	f->transport[TKM_SM4] = CF_TRANSPORT_SM4_INDEX;
	f->load_key = 1;
	f->purchase_key = 1;
	f->fail.hsm = -1;
}

/* --- keys ----------------------------------------------------------------- */

const char *
cf_template_type(const char *tmpl)
{
	size_t i;

	for (i = 0; i < sizeof(tmpl_types) / sizeof(tmpl_types[0]); i++)
		if (strcmp(tmpl_types[i].tmpl, tmpl) == 0)
			return tmpl_types[i].type;
	return NULL;
}

const struct cf_key *
cf_keys_find(const struct cf_keys *keys, const char *tmpl, int alg)
{
	size_t i;

	if (keys == NULL)
		return NULL;
	for (i = 0; i < keys->n; i++)
		if (keys->k[i].alg == alg && strcmp(keys->k[i].tmpl, tmpl) == 0)
			return &keys->k[i];
	return NULL;
}

/* The key of (tmpl, alg) at HSM h, or a CF_FAIL_SETUP saying so. */
static const struct cf_key *
need_key(struct cf *f, int h, const char *tmpl, int alg)
{
	const struct cf_key *k = cf_keys_find(f->keys[h], tmpl, alg);

	if (k == NULL)
		failf(f, CF_FAIL_SETUP, TKM_ERR_NO_KEY,
		    "the key indexes of the %s have no active %s %s key "
		    "(was it issued there? tkms kms issued --hsm ID)",
		    cf_hsm_name(h), tmpl, alg_name(alg));
	return k;
}

static int
need_hsm(struct cf *f, int h)
{
	if (f->hsm[h] != NULL && f->keys[h] != NULL)
		return TKM_OK;
	return failf(f, CF_FAIL_SETUP, TKM_ERR_INPUT,
	    "no %s given (its address and its key indexes)", cf_hsm_name(h));
}

int
cf_key_parse(struct cf_key *k, const char *tmpl, const char *alg,
    const char *index, const char *type)
{
	struct tkm_rd rd;
	uint32_t v;

	memset(k, 0, sizeof(*k));
	if (tmpl == NULL || alg == NULL || index == NULL ||
	    strlen(tmpl) >= sizeof(k->tmpl))
		return TKM_ERR_INPUT;
	if (type == NULL || type[0] == '\0')
		type = cf_template_type(tmpl);
	if (index[0] == 'K')
		index++;
	rd = tkm_rd_of(index, strlen(index));
	if (type == NULL || strlen(type) != 3 ||
	    tkm_rd_hexnum(&rd, 3, &v) != TKM_OK || tkm_rd_end(&rd) != TKM_OK)
		return TKM_ERR_INPUT;
	k->alg = strcmp(alg, "DES") == 0   ? TKM_DES
		 : strcmp(alg, "SM4") == 0 ? TKM_SM4
					   : 0;
	if (k->alg == 0)
		return TKM_ERR_INPUT;
	snprintf(k->tmpl, sizeof(k->tmpl), "%s", tmpl);
	memcpy(k->type, type, 4);
	k->index = (unsigned)v;
	return TKM_OK;
}

int
cf_keys_add(struct cf_keys *keys, const struct cf_key *k)
{
	if (cf_keys_find(keys, k->tmpl, k->alg) != NULL)
		return TKM_ERR_INPUT;
	if (keys->n == CF_KEYS_MAX)
		return TKM_ERR_SPACE;
	keys->k[keys->n++] = *k;
	return TKM_OK;
}

static const json_t *
rows_of(const json_t *j)
{
	return json_is_array(j) ? j : json_object_get(j, "issued_keys");
}

/* A row of GET /api/issued-keys: its index as "K305", else idx. */
static int
key_of_row(const json_t *row, size_t i, struct cf_key *k, char *why, size_t cap)
{
	const char *tmpl = json_string_value(json_object_get(row, "template"));
	const char *index = json_string_value(json_object_get(row, "index"));
	json_t *idx = json_object_get(row, "idx");
	char buf[8];

	if (index == NULL && json_is_integer(idx) &&
	    json_integer_value(idx) >= 0 && json_integer_value(idx) <= 0xFFF) {
		snprintf(buf, sizeof(buf), "K%03X",
		    (unsigned)json_integer_value(idx));
		index = buf;
	}
	if (cf_key_parse(k, tmpl,
		json_string_value(json_object_get(row, "alg")), index,
		json_string_value(json_object_get(row, "type_code"))) == TKM_OK)
		return TKM_OK;
	snprintf(why, cap,
	    "key %zu (%s): a template, alg DES or SM4, an index K000..KFFF "
	    "and a type_code unless the template is one of appendix 2",
	    i + 1, tmpl != NULL ? tmpl : "?");
	return TKM_ERR_INPUT;
}

int
cf_keys_from_json(const json_t *j, const char *city, struct cf_keys *out,
    char *why, size_t cap)
{
	const json_t *rows = rows_of(j), *row;
	const struct cf_key *dup;
	const char *st, *cc;
	struct cf_key k;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_array(rows)) {
		snprintf(why, cap,
		    "not the answer of GET /api/issued-keys (no issued_keys "
		    "array)");
		return TKM_ERR_INPUT;
	}
	json_array_foreach(rows, i, row)
	{
		st = json_string_value(json_object_get(row, "state"));
		cc = json_string_value(json_object_get(row, "city_code"));
		if ((st != NULL && strcmp(st, "active") != 0) ||
		    (city != NULL && cc != NULL && strcmp(cc, city) != 0))
			continue;
		if ((rc = key_of_row(row, i, &k, why, cap)) != TKM_OK)
			return rc;
		if ((dup = cf_keys_find(out, k.tmpl, k.alg)) != NULL) {
			snprintf(why, cap,
			    "two active %s %s keys (K%03X, K%03X): keys of "
			    "several cities? name the card's city",
			    k.tmpl, alg_name(k.alg), dup->index, k.index);
			return TKM_ERR_INPUT;
		}
		if (cf_keys_add(out, &k) != TKM_OK) {
			snprintf(why, cap, "more than %d keys", CF_KEYS_MAX);
			return TKM_ERR_INPUT;
		}
	}
	return TKM_OK;
}

int
cf_keys_city(const json_t *j, char city[5], char *why, size_t cap)
{
	const json_t *rows = rows_of(j), *row;
	const char *cc;
	size_t i;

	city[0] = '\0';
	if (!json_is_array(rows)) {
		snprintf(why, cap, "not the answer of GET /api/issued-keys");
		return TKM_ERR_INPUT;
	}
	json_array_foreach(rows, i, row)
	{
		cc = json_string_value(json_object_get(row, "city_code"));
		if (cc == NULL || strlen(cc) != 4)
			continue;
		if (city[0] != '\0' && strcmp(city, cc) != 0) {
			snprintf(why, cap, "keys of several cities (%s, %s)",
			    city, cc);
			return TKM_ERR_INPUT;
		}
		memcpy(city, cc, 5);
	}
	if (city[0] == '\0') {
		snprintf(why, cap, "no city_code in the keys");
		return TKM_ERR_INPUT;
	}
	return TKM_OK;
}

/* --- times ---------------------------------------------------------------- */

void
cf_when_now(struct cf_when *w)
{
	time_t t = time(NULL) + 8 * 3600; /* China Standard Time */
	struct tm tm;

	gmtime_r(&t, &tm);
	w->date[0] = bcd((unsigned)(tm.tm_year + 1900) / 100);
	w->date[1] = bcd((unsigned)(tm.tm_year + 1900) % 100);
	w->date[2] = bcd((unsigned)tm.tm_mon + 1);
	w->date[3] = bcd((unsigned)tm.tm_mday);
	w->time[0] = bcd((unsigned)tm.tm_hour);
	w->time[1] = bcd((unsigned)tm.tm_min);
	w->time[2] = bcd((unsigned)tm.tm_sec);
}

static int
digits(const char *s, size_t n, unsigned *out)
{
	struct tkm_rd rd = tkm_rd_of(s, strlen(s));

	return rd.len == n && tkm_rd_num(&rd, n, out) == TKM_OK;
}

int
cf_when_parse(const char *date, const char *time_s, struct cf_when *w)
{
	static const unsigned mdays[12] = {
	    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned d, t, y, m, day;

	if (!digits(date, 8, &d) || !digits(time_s, 6, &t))
		return TKM_ERR_INPUT;
	y = d / 10000;
	m = d / 100 % 100;
	day = d % 100;
	if (y < 1900 || m < 1 || m > 12 || day < 1 || day > mdays[m - 1] ||
	    t / 10000 > 23 || t / 100 % 100 > 59 || t % 100 > 59)
		return TKM_ERR_INPUT;
	if (m == 2 && day == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400)))
		return TKM_ERR_INPUT;
	w->date[0] = bcd(y / 100);
	w->date[1] = bcd(y % 100);
	w->date[2] = bcd(m);
	w->date[3] = bcd(day);
	w->time[0] = bcd(t / 10000);
	w->time[1] = bcd(t / 100 % 100);
	w->time[2] = bcd(t % 100);
	return TKM_OK;
}

/* --- the factory ---------------------------------------------------------- */

/* The test master of alg diversified by one 8-byte factor. */
static int
transport_key(int alg, const uint8_t factor[8], uint8_t out[SIM_KEY_LEN])
{
	uint8_t master[SIM_KEY_LEN];
	int rc;

	memset(master, CF_TRANSPORT_BYTE, sizeof(master));
	rc = tkm_derive(alg, master, sizeof(master), factor, 1, out);
	tkm_cleanse(master, sizeof(master));
	return rc;
}

int
cf_card_new(int alg, const uint8_t asn[SIM_ASN_LEN], uint32_t max_balance,
    struct sim_card **out)
{
	struct sim_card_params p;
	int rc;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.alg = alg;
	p.max_balance = max_balance;
	memcpy(p.asn, asn, SIM_ASN_LEN);
	if (alg != TKM_DES && alg != TKM_SM4)
		return TKM_ERR_MODE;
	if ((rc = transport_key(alg, asn, p.tk)) == TKM_OK)
		rc = sim_card_new(&p, out);
	tkm_cleanse(&p, sizeof(p));
	return rc;
}

static void
psam_factor(const uint8_t term[SIM_TERM_ID_LEN], uint8_t factor[8])
{
	factor[0] = factor[1] = 0xFF;
	memcpy(factor + 2, term, SIM_TERM_ID_LEN);
}

int
cf_psam_new(const uint8_t term[SIM_TERM_ID_LEN], uint32_t term_sn,
    struct sim_psam **out)
{
	struct sim_psam_params p;
	uint8_t factor[8];
	int rc;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	memcpy(p.term, term, SIM_TERM_ID_LEN);
	p.term_sn = term_sn;
	p.has_tk_des = p.has_tk_sm4 = 1;
	psam_factor(term, factor);
	if ((rc = transport_key(TKM_DES, factor, p.tk_des)) == TKM_OK &&
	    (rc = transport_key(TKM_SM4, factor, p.tk_sm4)) == TKM_OK)
		rc = sim_psam_new(&p, out);
	tkm_cleanse(&p, sizeof(p));
	return rc;
}

int
cf_card_asn(const char *city, unsigned long n, uint8_t asn[SIM_ASN_LEN])
{
	char hex[17];
	size_t len;
	unsigned v;

	if (city == NULL || !digits(city, 4, &v) || n > 99999999ul)
		return TKM_ERR_INPUT;
	snprintf(hex, sizeof(hex), "3104%s%08lu", city, n);
	return tkm_hex_decode(hex, 16, asn, SIM_ASN_LEN, &len);
}

/* --- exchanges ------------------------------------------------------------ */

/* What to say about an HSM's ERR code; on01 for a verification failure. */
static void
advice(const uint8_t code[2], const char cmd[3], const char *on01, char *out,
    size_t cap)
{
	if (memcmp(code, "01", 2) == 0 && on01 != NULL)
		snprintf(out, cap, "%s", on01);
	else if (memcmp(code, "12", 2) == 0)
		snprintf(out, cap,
		    "are the key indexes (--keys) those of this HSM? (tkms "
		    "kms issued --hsm ID)");
	else if (memcmp(code, "13", 2) == 0)
		snprintf(out, cap,
		    "the HSM is sealed: A1, A2 and A3 unseal "
		    "it first");
	else if (memcmp(code, "28", 2) == 0)
		snprintf(out, cap,
		    "the key at that index has another type than the "
		    "template's");
	else if (memcmp(code, "68", 2) == 0)
		snprintf(out, cap,
		    "%s is not on this listener's command whitelist (its "
		    "security admin C sets it)",
		    cmd);
	else if (memcmp(code, "69", 2) == 0)
		snprintf(out, cap,
		    "this host is not on the listener's IP whitelist (its "
		    "system admin B sets it)");
	else if (memcmp(code, "A1", 2) == 0)
		snprintf(out, cap,
		    "the HSM's maintenance licence for %s on this key is used "
		    "up: the city's security admin asks the province for a "
		    "new licence (tkms maint request, docs/maintenance.md)",
		    cmd);
	else if (memcmp(code, "A2", 2) == 0)
		snprintf(out, cap,
		    "the HSM's maintenance licence for %s on this key has "
		    "expired: the city asks the province for a renewal "
		    "(tkms maint request, docs/maintenance.md)",
		    cmd);
	else
		snprintf(out, cap, "see docs/protocol.md for %s", cmd);
}

/*
 * One host command to HSM h: request w (command code first), the answer
 * after its header into resp (RESP_CAP bytes). TKM_OK when the answer is
 * the command's and its ERR is 00; else f->fail says why.
 */
static int
hsm_call(struct cf *f, int h, const struct tkm_wr *w, const char *what,
    const char *on01, uint8_t *resp, size_t *rlen)
{
	const char *name = f->name[h] != NULL ? f->name[h] : "?";
	char cmd[3], say[256];
	uint64_t t0;
	int rc;

	if (tkm_wr_error(w) != TKM_OK || w->len < 2)
		return failf(f, CF_FAIL_SETUP, TKM_ERR_INTERNAL,
		    "%s: the request does not fit", what);
	memcpy(cmd, w->p, 2);
	cmd[2] = '\0';
	t0 = now_us();
	rc = tkm_client_call(f->hsm[h], w->p, w->len, resp, RESP_CAP, rlen);
	f->stats.calls[h]++;
	f->stats.call_us[h] += now_us() - t0;
	f->fail.hsm = h;
	if (rc != TKM_OK)
		return failf(f, CF_FAIL_LINK, rc,
		    "%s: no answer from the %s at %s: %s (is it running, "
		    "and is that its business port?)",
		    what, cf_hsm_name(h), name, tkm_strerror(rc));
	if (*rlen < 4 || resp[0] != (uint8_t)cmd[0] ||
	    resp[1] != (uint8_t)(cmd[1] + 1))
		return failf(f, CF_FAIL_HSM, TKM_ERR_INPUT,
		    "%s: the %s at %s did not answer %s (is it a business "
		    "port with this header length?)",
		    what, cf_hsm_name(h), name, cmd);
	if (resp[2] == '0' && resp[3] == '0') {
		f->fail.hsm = -1;
		return TKM_OK;
	}
	memcpy(f->fail.err, resp + 2, 2);
	f->fail.err[2] = '\0';
	rc = wire_cause(resp + 2);
	advice(resp + 2, cmd, on01, say, sizeof(say));
	return failf(f, CF_FAIL_HSM, rc,
	    "%s: the %s at %s answers ERR %s (%s): %s", what, cf_hsm_name(h),
	    name, f->fail.err, tkm_strerror(rc), say);
}

/* The card or the PSAM: exactly one of c, s. */
struct dev {
	struct sim_card *c;
	struct sim_psam *s;
};

/*
 * One APDU; the response data into out (cap bytes, may be NULL with cap
 * 0), *olen its length. TKM_OK for 9000 with data that fits.
 */
static int
dev_tx(struct cf *f, const struct dev *d, const char *what, const uint8_t *cmd,
    size_t len, uint8_t *out, size_t cap, size_t *olen)
{
	uint8_t resp[SIM_APDU_MAX_RESP];
	size_t n = 0;
	unsigned sw;
	int rc;

	rc = d->c != NULL
		 ? sim_card_apdu(d->c, cmd, len, resp, sizeof(resp), &n)
		 : sim_psam_apdu(d->s, cmd, len, resp, sizeof(resp), &n);
	if (rc != TKM_OK || n < 2)
		return failf(f, CF_FAIL_SETUP,
		    rc != TKM_OK ? rc : TKM_ERR_INTERNAL,
		    "%s: the emulator failed: %s", what, tkm_strerror(rc));
	sw = sim_sw(resp, n);
	if (sw != SIM_SW_OK) {
		f->fail.sw = sw;
		return failf(f, CF_FAIL_CARD, TKM_ERR_VERIFY,
		    "%s: the %s answers %04X (%s)", what,
		    d->c != NULL ? "card" : "PSAM", sw, sw_text(sw));
	}
	if (n - 2 > cap)
		return failf(f, CF_FAIL_CARD, TKM_ERR_DATA_LEN,
		    "%s: the %s answers %zu bytes, more than expected", what,
		    d->c != NULL ? "card" : "PSAM", n - 2);
	if (n > 2)
		memcpy(out, resp, n - 2);
	if (olen != NULL)
		*olen = n - 2;
	return TKM_OK;
}

/* dev_tx with a response of exactly want bytes. */
static int
dev_txn(struct cf *f, const struct dev *d, const char *what, const uint8_t *cmd,
    size_t len, uint8_t *out, size_t want)
{
	size_t n = 0;
	int rc = dev_tx(f, d, what, cmd, len, out, want, &n);

	if (rc == TKM_OK && n != want)
		return failf(f, CF_FAIL_CARD, TKM_ERR_DATA_LEN,
		    "%s: %zu bytes of response, not %zu", what, n, want);
	return rc;
}

static int
select_app(struct cf *f, const struct dev *d)
{
	static const uint8_t by_name[] = {0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0,
	    0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05};
	static const uint8_t by_fid[] = {
	    0x00, 0xA4, 0x00, 0x00, 0x02, 0x10, 0x01};
	uint8_t fci[SIM_APDU_MAX_RESP];
	size_t n;

	/* The card answers its FCI, the PSAM nothing. */
	if (d->c != NULL)
		return dev_tx(f, d, "SELECT the e-purse application", by_name,
		    sizeof(by_name), fci, sizeof(fci), &n);
	return dev_tx(f, d, "SELECT the PSAM application", by_fid,
	    sizeof(by_fid), NULL, 0, NULL);
}

/* A key reference: K + 3 hex digits. */
static void
wr_kref(struct tkm_wr *w, unsigned index)
{
	tkm_wr_str(w, "K");
	tkm_wr_hexnum(w, index, 3);
}

/* Derivation field: 0, or 1 and one 8-byte factor as hex. */
static void
wr_factor(struct tkm_wr *w, const uint8_t *factor)
{
	if (factor == NULL) {
		tkm_wr_str(w, "0");
		return;
	}
	tkm_wr_str(w, "1");
	tkm_wr_hex(w, factor, 8);
}

/*
 * WRITE KEY by U3 (docs/sim.md): GET CHALLENGE at the device, U3 mode 1
 * scheme 1 with the challenge as IV-MAC and 84 D4 P1 P2 Lc as MAC-fill,
 * the 84D4 APDU from its answer. k is derived by kfactor (NULL: not), the
 * protection key at pindex (type 309) by pfactor.
 */
static int
write_key(struct cf *f, const struct dev *d, int alg, const struct cf_key *k,
    const uint8_t *kfactor, unsigned pindex, const uint8_t *pfactor, uint8_t p1,
    uint8_t p2)
{
	static const uint8_t challenge[] = {0x00, 0x84, 0x00, 0x00, 0x04};
	uint8_t req[REQ_CAP], resp[RESP_CAP], iv[16] = {0};
	uint8_t fill[SIM_SM_FILL_LEN], mac[8], ct[SIM_SM_MAX_CT], apdu[64];
	char what[96], ch = alg_flag(alg);
	struct tkm_wr w;
	struct tkm_rd rd;
	size_t n, alen, ctlen = sim_sm_ct_len(alg);
	unsigned len;
	int rc;

	snprintf(what, sizeof(what), "U3 of %s (%s K%03X)", k->tmpl,
	    alg_name(alg), k->index);
	if ((rc = dev_txn(f, d, "GET CHALLENGE", challenge, sizeof(challenge),
		 iv, 4)) != TKM_OK)
		return rc;
	if ((rc = sim_sm_mac_fill(alg, p1, p2, fill)) != TKM_OK)
		return failf(f, CF_FAIL_SETUP, rc, "%s: no MAC-fill", what);
	tkm_wr_init(&w, req, sizeof(req));
	tkm_wr_str(&w, "U3");
	tkm_wr_bytes(&w, &ch, 1);
	tkm_wr_str(&w, "11");
	tkm_wr_str(&w, k->type);
	wr_kref(&w, k->index);
	wr_factor(&w, kfactor);
	tkm_wr_str(&w, "1");
	wr_kref(&w, pindex);
	wr_factor(&w, pfactor);
	tkm_wr_str(&w, "N");
	tkm_wr_hex(&w, iv, tkm_block_len(alg));
	tkm_wr_str(&w, "0005");
	tkm_wr_hex(&w, fill, sizeof(fill));
	tkm_wr_str(&w, "0005");
	if ((rc = hsm_call(f, CF_CITY, &w, what, NULL, resp, &n)) != TKM_OK)
		return rc;
	/* U400 | MAC 16H | length 4N | ciphertext */
	rd = tkm_rd_of(resp + 4, n - 4);
	if (tkm_rd_hex(&rd, mac, sizeof(mac)) != TKM_OK ||
	    tkm_rd_num(&rd, 4, &len) != TKM_OK || len != ctlen ||
	    tkm_rd_hex(&rd, ct, ctlen) != TKM_OK || tkm_rd_end(&rd) != TKM_OK)
		return failf(f, CF_FAIL_HSM, TKM_ERR_INPUT,
		    "%s: the city HSM's U4 answer is not MAC || %04u || %zu "
		    "bytes",
		    what, (unsigned)ctlen, ctlen);
	if ((rc = sim_sm_write_key_apdu(alg, p1, p2, ct, ctlen, mac, apdu,
		 sizeof(apdu), &alen)) != TKM_OK)
		return failf(f, CF_FAIL_SETUP, rc, "%s: no APDU", what);
	snprintf(what, sizeof(what), "WRITE KEY (84D4) of %s", k->tmpl);
	rc = dev_tx(f, d, what, apdu, alen, NULL, 0, NULL);
	tkm_cleanse(ct, sizeof(ct));
	tkm_cleanse(apdu, sizeof(apdu));
	return rc;
}

/* --- issue ---------------------------------------------------------------- */

/* A card holding any key but its transport key (ecash_enc) is
 * personalised already. */
static int
is_blank(const struct sim_card *c)
{
	unsigned u, i;

	for (u = SIM_KEY_MAINT; u <= SIM_KEY_EXT_MANAGE; u++)
		for (i = 1; i <= 3; i++)
			if (sim_card_key_name(u, i) != NULL &&
			    u != SIM_KEY_SM_ENC && sim_card_has_key(c, u, i))
				return 0;
	return 1;
}

static int
issue(struct cf *f, struct sim_card *c, size_t *written)
{
	const struct dev d = {c, NULL};
	int alg = sim_card_alg(c), rc;
	const struct cf_key *enc, *k;
	uint8_t asn[SIM_ASN_LEN], usage, index;
	size_t i;

	if ((rc = need_hsm(f, CF_CITY)) != TKM_OK)
		return rc;
	if (!is_blank(c))
		return failf(f, CF_FAIL_SETUP, TKM_ERR_PERMISSION,
		    "the card is personalised already (it holds keys besides "
		    "its transport key)");
	if ((enc = need_key(f, CF_CITY, "ecash_enc", alg)) == NULL)
		return TKM_ERR_NO_KEY;
	sim_card_asn(c, asn);
	if ((rc = select_app(f, &d)) != TKM_OK)
		return rc;
	/* ecash_enc under the transport key: the master by the ASN. */
	if ((rc = write_key(f, &d, alg, enc, asn, f->transport[alg], asn,
		 SIM_KEY_SM_ENC, 1)) != TKM_OK)
		return rc;
	(*written)++;
	for (i = 0; i < f->keys[CF_CITY]->n; i++) {
		k = &f->keys[CF_CITY]->k[i];
		if (k->alg != alg || k == enc ||
		    sim_card_key_by_name(k->tmpl, &usage, &index) != TKM_OK)
			continue;
		if ((rc = write_key(f, &d, alg, k, asn, enc->index, asn, usage,
			 index)) != TKM_OK)
			return rc;
		(*written)++;
	}
	return TKM_OK;
}

int
cf_issue(struct cf *f, struct sim_card *c, size_t *written)
{
	size_t n = 0;
	uint64_t t0;
	int rc;

	step_begin(f, CF_ISSUE, &t0);
	rc = step_end(f, CF_ISSUE, t0, issue(f, c, &n));
	if (written != NULL)
		*written = n;
	return rc;
}

/* purchase_0N -> N, else 0. */
static unsigned
purchase_version(const char *tmpl)
{
	if (strncmp(tmpl, "purchase_0", 10) == 0 && tmpl[10] >= '1' &&
	    tmpl[10] <= '9' && tmpl[11] == '\0')
		return (unsigned)(tmpl[10] - '0');
	return 0;
}

static int
psam_issue(struct cf *f, struct sim_psam *s, size_t *written)
{
	const struct dev d = {NULL, s};
	const struct cf_key *k;
	uint8_t term[SIM_TERM_ID_LEN], factor[8];
	unsigned v;
	size_t i;
	int rc;

	if ((rc = need_hsm(f, CF_CITY)) != TKM_OK)
		return rc;
	sim_psam_term(s, term);
	psam_factor(term, factor);
	if ((rc = select_app(f, &d)) != TKM_OK)
		return rc;
	for (i = 0; i < f->keys[CF_CITY]->n; i++) {
		k = &f->keys[CF_CITY]->k[i];
		if ((v = purchase_version(k->tmpl)) == 0)
			continue;
		if (sim_psam_has_key(s, k->alg, v))
			return failf(f, CF_FAIL_SETUP, TKM_ERR_PERMISSION,
			    "the PSAM holds a %s key version %u already",
			    alg_name(k->alg), v);
		if ((rc = write_key(f, &d, k->alg, k, NULL,
			 f->transport[k->alg], factor, sim_alg_id(k->alg),
			 (uint8_t)v)) != TKM_OK)
			return rc;
		(*written)++;
	}
	if (*written == 0)
		return failf(f, CF_FAIL_SETUP, TKM_ERR_NO_KEY,
		    "the key indexes of the city HSM have no purchase key");
	return TKM_OK;
}

int
cf_psam_issue(struct cf *f, struct sim_psam *s, size_t *written)
{
	size_t n = 0;
	uint64_t t0;
	int rc;

	step_begin(f, CF_PSAM, &t0);
	rc = step_end(f, CF_PSAM, t0, psam_issue(f, s, &n));
	if (written != NULL)
		*written = n;
	return rc;
}

/* --- load ----------------------------------------------------------------- */

/* UB head: UB alg mode scheme type key 1 ASN. */
static void
wr_ub(struct tkm_wr *w, int alg, char mode, char scheme, const struct cf_key *k,
    const uint8_t asn[SIM_ASN_LEN])
{
	char ch = alg_flag(alg);

	tkm_wr_str(w, "UB");
	tkm_wr_bytes(w, &ch, 1);
	tkm_wr_bytes(w, &mode, 1);
	tkm_wr_bytes(w, &scheme, 1);
	tkm_wr_str(w, k->type);
	wr_kref(w, k->index);
	wr_factor(w, asn);
}

/* pad 0 | IV zero | length 3N | data | MAC length 04 */
static void
wr_ub_data(struct tkm_wr *w, int alg, const uint8_t *data, size_t n)
{
	tkm_wr_str(w, "0");
	tkm_wr_bytes(w, IV_HEX0, 2 * tkm_block_len(alg));
	tkm_wr_num(w, n, 3);
	tkm_wr_hex(w, data, n);
	tkm_wr_str(w, "04");
}

static void
txn_start(struct cf_txn *t, uint8_t type, int alg, const struct sim_card *c,
    uint32_t amount, const struct cf_when *w)
{
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->alg = alg;
	t->amount = amount;
	t->when = *w;
	sim_card_asn(c, t->asn);
}

/* MAC1 verified, MAC2 made by UB scheme 1 at the business HSM. */
static int
load_macs(struct cf *f, const struct cf_key *k, const struct cf_txn *t,
    const uint8_t init[16], uint8_t mac2[4])
{
	uint8_t req[REQ_CAP], resp[RESP_CAP], proc[8], data[32];
	struct tkm_wr w;
	struct tkm_rd rd;
	char on01[256];
	size_t n;
	int rc;

	memcpy(proc, init + 8, 4); /* rnd || online SN || 8000 */
	memcpy(proc + 4, init + 4, 2);
	proc[6] = 0x80;
	proc[7] = 0x00;
	snprintf(on01, sizeof(on01),
	    "MAC1 does not verify: the card's load key is not %s (K%03X) "
	    "diversified by its ASN, or MAC1 was altered on the way; "
	    "nothing was loaded",
	    k->tmpl, k->index);
	/* MAC1 over old balance || amount || 02 || terminal */
	memcpy(data, init, 4);
	put_be32(data + 4, t->amount);
	data[8] = CF_TXN_LOAD;
	memcpy(data + 9, t->term, SIM_TERM_ID_LEN);
	tkm_wr_init(&w, req, sizeof(req));
	wr_ub(&w, t->alg, '2', '1', k, t->asn);
	tkm_wr_hex(&w, proc, sizeof(proc));
	wr_ub_data(&w, t->alg, data, 15);
	tkm_wr_hex(&w, init + 12, 4);
	if ((rc = hsm_call(f, CF_BUSINESS, &w, "MAC1 verification (UB)", on01,
		 resp, &n)) != TKM_OK)
		return rc;
	/* MAC2 over amount || 02 || terminal || date || time */
	memmove(data, data + 4, 11);
	memcpy(data + 11, t->when.date, 4);
	memcpy(data + 15, t->when.time, 3);
	tkm_wr_init(&w, req, sizeof(req));
	wr_ub(&w, t->alg, '1', '1', k, t->asn);
	tkm_wr_hex(&w, proc, sizeof(proc));
	wr_ub_data(&w, t->alg, data, 18);
	if ((rc = hsm_call(f, CF_BUSINESS, &w, "MAC2 (UB)", NULL, resp, &n)) !=
	    TKM_OK)
		return rc;
	rd = tkm_rd_of(resp + 4, n - 4);
	if (tkm_rd_hex(&rd, mac2, 4) != TKM_OK || tkm_rd_end(&rd) != TKM_OK)
		return failf(f, CF_FAIL_HSM, TKM_ERR_INPUT,
		    "MAC2 (UB): the business HSM's answer is not 8 hex digits");
	return TKM_OK;
}

static int
load(struct cf *f, struct sim_card *c, uint32_t amount,
    const uint8_t term[SIM_TERM_ID_LEN], const struct cf_when *w,
    struct cf_txn *t)
{
	const struct dev d = {c, NULL};
	const struct cf_key *k;
	uint8_t cmd[32], init[16], mac2[4];
	char tmpl[CF_TMPL_MAX];
	int rc;

	txn_start(t, CF_TXN_LOAD, sim_card_alg(c), c, amount, w);
	memcpy(t->term, term, SIM_TERM_ID_LEN);
	t->key_index = f->load_key;
	snprintf(tmpl, sizeof(tmpl), "load_%02u", f->load_key);
	if ((rc = need_hsm(f, CF_BUSINESS)) != TKM_OK)
		return rc;
	if ((k = need_key(f, CF_BUSINESS, tmpl, t->alg)) == NULL)
		return TKM_ERR_NO_KEY;
	if ((rc = select_app(f, &d)) != TKM_OK)
		return rc;
	/* 80 50 00 02 0B | key index | amount | terminal | 10 */
	memcpy(cmd, "\x80\x50\x00\x02\x0B", 5);
	cmd[5] = (uint8_t)f->load_key;
	put_be32(cmd + 6, amount);
	memcpy(cmd + 10, term, SIM_TERM_ID_LEN);
	cmd[16] = 0x10;
	if ((rc = dev_txn(f, &d, "INITIALIZE FOR LOAD", cmd, 17, init,
		 sizeof(init))) != TKM_OK)
		return rc;
	t->sn = (unsigned)init[4] << 8 | init[5];
	if ((rc = load_macs(f, k, t, init, mac2)) != TKM_OK)
		return rc;
	/* 80 52 00 00 0B | date | time | MAC2 | 04 */
	memcpy(cmd, "\x80\x52\x00\x00\x0B", 5);
	memcpy(cmd + 5, w->date, 4);
	memcpy(cmd + 9, w->time, 3);
	memcpy(cmd + 12, mac2, 4);
	cmd[16] = 0x04;
	if ((rc = dev_txn(f, &d, "CREDIT FOR LOAD", cmd, 17, t->tac,
		 CF_TAC_LEN)) != TKM_OK)
		return rc;
	t->balance = be32(init) + amount;
	return TKM_OK;
}

int
cf_load(struct cf *f, struct sim_card *c, uint32_t amount,
    const uint8_t term[SIM_TERM_ID_LEN], const struct cf_when *w,
    struct cf_txn *t)
{
	uint64_t t0;

	step_begin(f, CF_LOAD, &t0);
	return step_end(f, CF_LOAD, t0, load(f, c, amount, term, w, t));
}

/* --- purchase ------------------------------------------------------------- */

static int
purchase(struct cf *f, struct sim_card *c, struct sim_psam *s, uint32_t amount,
    const struct cf_when *w, struct cf_txn *t)
{
	const struct dev dc = {c, NULL}, ds = {NULL, s};
	uint8_t cmd[64], init[15], sam[8], debit[8];
	int rc;

	txn_start(t, CF_TXN_PURCHASE, sim_card_alg(c), c, amount, w);
	sim_psam_term(s, t->term);
	t->key_index = f->purchase_key;
	if ((rc = select_app(f, &dc)) != TKM_OK ||
	    (rc = select_app(f, &ds)) != TKM_OK)
		return rc;
	/* card 80 50 01 02 0B | key index | amount | terminal | 0F */
	memcpy(cmd, "\x80\x50\x01\x02\x0B", 5);
	cmd[5] = (uint8_t)f->purchase_key;
	put_be32(cmd + 6, amount);
	memcpy(cmd + 10, t->term, SIM_TERM_ID_LEN);
	cmd[16] = 0x0F;
	if ((rc = dev_txn(f, &dc, "INITIALIZE FOR PURCHASE", cmd, 17, init,
		 sizeof(init))) != TKM_OK)
		return rc;
	t->sn = (unsigned)init[4] << 8 | init[5];
	/* PSAM 80 70 00 00 1C | rnd | offline SN | amount | 06 | date |
	 * time | key version | alg id | ASN | 08 */
	memcpy(cmd, "\x80\x70\x00\x00\x1C", 5);
	memcpy(cmd + 5, init + 11, 4);
	memcpy(cmd + 9, init + 4, 2);
	put_be32(cmd + 11, amount);
	cmd[15] = CF_TXN_PURCHASE;
	memcpy(cmd + 16, w->date, 4);
	memcpy(cmd + 20, w->time, 3);
	cmd[23] = init[9];
	cmd[24] = init[10];
	memcpy(cmd + 25, t->asn, SIM_ASN_LEN);
	cmd[33] = 0x08;
	if ((rc = dev_txn(f, &ds, "INIT SAM FOR PURCHASE (8070)", cmd, 34, sam,
		 sizeof(sam))) != TKM_OK)
		return rc;
	t->term_sn = be32(sam);
	/* card 80 54 01 00 0F | terminal SN | date | time | MAC1 | 08 */
	memcpy(cmd, "\x80\x54\x01\x00\x0F", 5);
	memcpy(cmd + 5, sam, 4);
	memcpy(cmd + 9, w->date, 4);
	memcpy(cmd + 13, w->time, 3);
	memcpy(cmd + 16, sam + 4, 4);
	cmd[20] = 0x08;
	if ((rc = dev_txn(f, &dc, "DEBIT FOR PURCHASE", cmd, 21, debit,
		 sizeof(debit))) != TKM_OK)
		return rc;
	memcpy(t->tac, debit, CF_TAC_LEN);
	t->balance = be32(init) - amount;
	/* PSAM 80 72 00 00 04 | MAC2 */
	memcpy(cmd, "\x80\x72\x00\x00\x04", 5);
	memcpy(cmd + 5, debit + 4, 4);
	return dev_tx(
	    f, &ds, "CREDIT SAM FOR PURCHASE (8072)", cmd, 9, NULL, 0, NULL);
}

int
cf_purchase(struct cf *f, struct sim_card *c, struct sim_psam *s,
    uint32_t amount, const struct cf_when *w, struct cf_txn *t)
{
	uint64_t t0;

	step_begin(f, CF_PURCHASE, &t0);
	return step_end(f, CF_PURCHASE, t0, purchase(f, c, s, amount, w, t));
}

/* --- clearing ------------------------------------------------------------- */

static int
clear(struct cf *f, const struct cf_txn *t)
{
	uint8_t req[REQ_CAP], resp[RESP_CAP], data[24];
	const struct cf_key *k;
	char on01[256];
	struct tkm_wr w;
	size_t n, len;
	int rc;

	if ((rc = need_hsm(f, CF_CLEARING)) != TKM_OK)
		return rc;
	if ((k = need_key(f, CF_CLEARING, "tac", t->alg)) == NULL)
		return TKM_ERR_NO_KEY;
	if (t->type == CF_TXN_LOAD) {
		/* new balance || online SN || amount || 02 || terminal ||
		 * date || time */
		put_be32(data, t->balance);
		data[4] = (uint8_t)(t->sn >> 8);
		data[5] = (uint8_t)t->sn;
		put_be32(data + 6, t->amount);
		data[10] = t->type;
		memcpy(data + 11, t->term, SIM_TERM_ID_LEN);
		memcpy(data + 17, t->when.date, 4);
		memcpy(data + 21, t->when.time, 3);
		len = 24;
	} else {
		/* amount || 06 || terminal || terminal SN || date || time */
		put_be32(data, t->amount);
		data[4] = t->type;
		memcpy(data + 5, t->term, SIM_TERM_ID_LEN);
		put_be32(data + 11, t->term_sn);
		memcpy(data + 15, t->when.date, 4);
		memcpy(data + 19, t->when.time, 3);
		len = 22;
	}
	snprintf(on01, sizeof(on01),
	    "the TAC of the %s (SN %u) does not verify under %s (K%03X) "
	    "diversified by the card's ASN: the clearing refuses the "
	    "transaction (a card with a wrong TAC key, or an altered record)",
	    t->type == CF_TXN_LOAD ? "load" : "purchase", t->sn, k->tmpl,
	    k->index);
	tkm_wr_init(&w, req, sizeof(req));
	wr_ub(&w, t->alg, '2', '2', k, t->asn);
	wr_ub_data(&w, t->alg, data, len);
	tkm_wr_hex(&w, t->tac, CF_TAC_LEN);
	return hsm_call(
	    f, CF_CLEARING, &w, "TAC verification (UB)", on01, resp, &n);
}

int
cf_clear(struct cf *f, const struct cf_txn *t)
{
	uint64_t t0;

	step_begin(f, CF_CLEAR, &t0);
	return step_end(f, CF_CLEAR, t0, clear(f, t));
}

/* --- EMV ------------------------------------------------------------------ */

/* CDOL1 data (PBOC): amount authorised 6 | amount other 6 | terminal
 * country 2 | TVR 5 | currency 2 | date YYMMDD 3 | type 1 | UN 4. */
static int
cdol1(uint32_t amount, const struct cf_when *w, uint8_t out[CDOL_LEN])
{
	unsigned i;
	uint32_t v = amount;

	memset(out, 0, CDOL_LEN);
	for (i = 0; i < 5; i++, v /= 100) /* 10 of the 12 digits suffice */
		out[5 - i] = bcd(v % 100);
	out[12] = 0x01; /* 0156 China */
	out[13] = 0x56;
	out[19] = 0x01; /* 0156 CNY */
	out[20] = 0x56;
	memcpy(out + 21, w->date + 1, 3);
	return tkm_random(out + 25, 4);
}

static int
emv(struct cf *f, struct sim_card *c, uint32_t amount, const struct cf_when *w,
    struct cf_emv *out)
{
	const struct dev d = {c, NULL};
	const struct cf_key *k;
	uint8_t cmd[64], ac[13], req[REQ_CAP], resp[RESP_CAP], asn[8];
	struct tkm_wr wr;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = need_hsm(f, CF_BUSINESS)) != TKM_OK)
		return rc;
	if ((rc = select_app(f, &d)) != TKM_OK)
		return rc;
	/* 80 AE 80 00 1D | CDOL1 data | 00: an ARQC */
	memcpy(cmd, "\x80\xAE\x80\x00\x1D", 5);
	if ((rc = cdol1(amount, w, cmd + 5)) != TKM_OK)
		return failf(f, CF_FAIL_SETUP, rc, "no random number");
	cmd[5 + CDOL_LEN] = 0x00;
	rc = dev_txn(f, &d, "GENERATE AC", cmd, 6 + CDOL_LEN, ac, sizeof(ac));
	if (rc != TKM_OK && f->fail.sw == SIM_SW_NOT_SUPPORTED)
		return failf(f, CF_FAIL_CARD, rc,
		    "GENERATE AC: the card answers 6A81 (function not "
		    "supported): an %s card has no e-cash AC; KW and the AC "
		    "are 3DES only",
		    alg_name(sim_card_alg(c)));
	if (rc != TKM_OK)
		return rc;
	if (ac[0] != 0x80 || ac[1] != 0x0B)
		return failf(f, CF_FAIL_CARD, TKM_ERR_INPUT,
		    "GENERATE AC: not a format-1 response");
	out->atc = (unsigned)ac[3] << 8 | ac[4];
	memcpy(out->arqc, ac + 5, 8);
	if ((k = need_key(f, CF_BUSINESS, "ecash_ac", TKM_DES)) == NULL)
		return TKM_ERR_NO_KEY;
	/* KW 1 9 | MK-AC | 0 | Y (ASN) | ATC | len 2H | data || ATC | ; |
	 * ARQC | ARC "00" */
	sim_card_asn(c, asn);
	tkm_wr_init(&wr, req, sizeof(req));
	tkm_wr_str(&wr, "KW19");
	wr_kref(&wr, k->index);
	tkm_wr_str(&wr, "0");
	tkm_wr_bytes(&wr, asn, sizeof(asn));
	tkm_wr_bytes(&wr, ac + 3, 2);
	tkm_wr_hexnum(&wr, CDOL_LEN + 2, 2);
	tkm_wr_bytes(&wr, cmd + 5, CDOL_LEN);
	tkm_wr_bytes(&wr, ac + 3, 2);
	tkm_wr_str(&wr, ";");
	tkm_wr_bytes(&wr, out->arqc, 8);
	tkm_wr_str(&wr, "00");
	if ((rc = hsm_call(f, CF_BUSINESS, &wr, "ARQC verification (KW)",
		 "the ARQC does not verify under ecash_ac diversified by the "
		 "card's ASN: the card's AC key is not the one issued",
		 resp, &n)) != TKM_OK)
		return rc;
	if (n != 12)
		return failf(f, CF_FAIL_HSM, TKM_ERR_INPUT,
		    "ARQC verification (KW): the answer has no 8-byte ARPC");
	memcpy(out->arpc, resp + 4, 8);
	/* issuer authentication, method 1: 00 82 00 00 0A | ARPC | ARC */
	memcpy(cmd, "\x00\x82\x00\x00\x0A", 5);
	memcpy(cmd + 5, out->arpc, 8);
	memcpy(cmd + 13, "00", 2);
	return dev_tx(f, &d, "issuer authentication (EXTERNAL AUTHENTICATE)",
	    cmd, 15, NULL, 0, NULL);
}

int
cf_emv(struct cf *f, struct sim_card *c, uint32_t amount,
    const struct cf_when *w, struct cf_emv *out)
{
	uint64_t t0;

	step_begin(f, CF_EMV, &t0);
	return step_end(f, CF_EMV, t0, emv(f, c, amount, w, out));
}
