/*
 * records.c - the work forms from the tables, as Markdown or printable
 * HTML (records.h, docs/kms-lifecycle.md).
 *
 * One small writer (head, fields, table, signatures, end) knows the two
 * formats; the four forms only choose what to show. Every database value
 * goes through esc(): HTML gets entities, Markdown backslashes, and both
 * lose control characters, so that a hostile name can add neither markup
 * nor a table cell nor a line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ksay.h"
#include "fleet.h"
#include "lifecycle.h"
#include "records.h"
#include "tkm/buf.h"
#include "tkm/crypto.h"

#define CELL 512 /* one value, before escaping */

/* --- sinks --------------------------------------------------------------- */

void
kms_sink_file(struct kms_sink *s, FILE *f)
{
	memset(s, 0, sizeof(*s));
	s->f = f;
}

void
kms_sink_buf(struct kms_sink *s, char *buf, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->buf = buf;
	s->cap = cap;
	if (cap > 0)
		buf[0] = '\0';
}

static void
put(struct kms_sink *s, const char *p, size_t n)
{
	if (s->f != NULL) {
		if (fwrite(p, 1, n, s->f) != n)
			s->full = 1;
		s->len += n;
		return;
	}
	if (s->full || s->cap == 0 || n >= s->cap - s->len) {
		s->full = 1;
		return;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

static void
puts_(struct kms_sink *s, const char *p)
{
	put(s, p, strlen(p));
}

/* A value from the database, escaped for the format. */
static void
esc(struct kms_sink *s, enum kms_rec_fmt fmt, const char *v)
{
	const unsigned char *p = (const unsigned char *)(v ? v : "");
	char c[2] = {0, 0};

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			puts_(s, " "); /* no new line, no new row */
			continue;
		}
		if (fmt == KMS_REC_HTML) {
			switch (*p) {
			case '&':
				puts_(s, "&amp;");
				continue;
			case '<':
				puts_(s, "&lt;");
				continue;
			case '>':
				puts_(s, "&gt;");
				continue;
			case '"':
				puts_(s, "&quot;");
				continue;
			case '\'':
				puts_(s, "&#39;");
				continue;
			}
		} else if (strchr("\\`*_[]<>|&~#!", *p) != NULL) {
			/* CommonMark: a backslash makes any ASCII punctuation
			 * literal; these are the ones that start markup. */
			puts_(s, "\\");
		}
		c[0] = (char)*p;
		puts_(s, c);
	}
}

/* --- the writer ---------------------------------------------------------- */

static const char css[] =
    "body{font-family:'Noto Serif CJK SC','Songti SC',serif;margin:2em;"
    "color:#000}h1{font-size:1.4em;text-align:center}"
    "h2{font-size:1.1em;margin-top:1.5em}"
    "table{border-collapse:collapse;width:100%;margin:.5em 0}"
    "th,td{border:1px solid #000;padding:.3em .5em;text-align:left;"
    "vertical-align:top}th{background:#eee}"
    "td.sign{height:2.5em}.printed{font-size:.8em;text-align:right}"
    "@media print{body{margin:1cm}h2{page-break-after:avoid}"
    "tr{page-break-inside:avoid}}";

struct w {
	struct kms_sink *s;
	enum kms_rec_fmt fmt;
	int row; /* rows written in the current table */
	/* What the form is of, for its sign-offs (signoffs = 0: none). */
	struct kdb *db;
	const char *kind;
	int64_t root_key_id;
	int signoffs;
};

static void
w_head(struct w *w, const char *title, int64_t printed)
{
	char t[64];
	time_t tt = (time_t)printed;
	struct tm tm;

	if (w->fmt == KMS_REC_HTML) {
		puts_(w->s, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n"
			    "<meta charset=\"utf-8\">\n<title>");
		esc(w->s, w->fmt, title);
		puts_(w->s, "</title>\n<style>");
		puts_(w->s, css);
		puts_(w->s, "</style>\n</head>\n<body>\n<h1>");
		esc(w->s, w->fmt, title);
		puts_(w->s, "</h1>\n");
	} else {
		puts_(w->s, "# ");
		esc(w->s, w->fmt, title);
		puts_(w->s, "\n");
	}
	if (printed > 0 && gmtime_r(&tt, &tm) != NULL) {
		strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S UTC", &tm);
		if (w->fmt == KMS_REC_HTML) {
			puts_(w->s, "<p class=\"printed\">打印时间 Printed ");
			puts_(w->s, t);
			puts_(w->s, "</p>\n");
		} else {
			puts_(w->s, "\n打印时间 Printed ");
			puts_(w->s, t);
			puts_(w->s, "\n");
		}
	}
}

static void
w_section(struct w *w, const char *title)
{
	if (w->fmt == KMS_REC_HTML) {
		puts_(w->s, "<h2>");
		esc(w->s, w->fmt, title);
		puts_(w->s, "</h2>\n");
	} else {
		puts_(w->s, "\n## ");
		esc(w->s, w->fmt, title);
		puts_(w->s, "\n");
	}
}

/* A table; cols NULL-terminated labels (program text). */
static void
w_table(struct w *w, const char *const *cols)
{
	size_t i;

	w->row = 0;
	if (w->fmt == KMS_REC_HTML) {
		puts_(w->s, "<table>\n<tr>");
		for (i = 0; cols[i] != NULL; i++) {
			puts_(w->s, "<th>");
			esc(w->s, w->fmt, cols[i]);
			puts_(w->s, "</th>");
		}
		puts_(w->s, "</tr>\n");
		return;
	}
	puts_(w->s, "\n|");
	for (i = 0; cols[i] != NULL; i++) {
		puts_(w->s, " ");
		esc(w->s, w->fmt, cols[i]);
		puts_(w->s, " |");
	}
	puts_(w->s, "\n|");
	for (i = 0; cols[i] != NULL; i++)
		puts_(w->s, "---|");
	puts_(w->s, "\n");
}

/* One row of n database values. */
static void
w_row(struct w *w, const char *const *v, size_t n, const char *td_class)
{
	size_t i;

	w->row++;
	if (w->fmt == KMS_REC_HTML) {
		puts_(w->s, "<tr>");
		for (i = 0; i < n; i++) {
			puts_(w->s,
			    td_class != NULL && i > 0 ? "<td class=\"" : "<td");
			if (td_class != NULL && i > 0) {
				puts_(w->s, td_class);
				puts_(w->s, "\"");
			}
			puts_(w->s, ">");
			esc(w->s, w->fmt, v[i]);
			puts_(w->s, "</td>");
		}
		puts_(w->s, "</tr>\n");
		return;
	}
	puts_(w->s, "|");
	for (i = 0; i < n; i++) {
		puts_(w->s, " ");
		esc(w->s, w->fmt, v[i]);
		puts_(w->s, " |");
	}
	puts_(w->s, "\n");
}

static void
w_table_end(struct w *w)
{
	if (w->fmt == KMS_REC_HTML)
		puts_(w->s, "</table>\n");
}

static void
w_field(struct w *w, const char *label, const char *value)
{
	const char *v[2] = {label, value};

	w_row(w, v, 2, NULL);
}

static void
w_fields_begin(struct w *w)
{
	static const char *const cols[] = {"项目 Item", "内容 Value", NULL};

	w_table(w, cols);
}

static void fmt_time(int64_t t, char *out, size_t cap);

/* The supervisors' electronic sign-offs of this form (kms_rec_sign), as
 * rows of the signature table. 0, or -1 when they could not be read
 * (the form then says so rather than show blank lines). */
static int
w_signoffs(struct w *w, const char **v)
{
	struct kdb_rows *r = NULL;
	char t[48], note[128], now[KMS_REC_SM3_HEX + 1] = "";
	int rc;

	if (kms_rec_digest(w->db, w->kind, w->root_key_id, now, NULL, 0) !=
	    TKM_OK)
		now[0] = '\0';
	rc = kdb_query(w->db, &r,
	    "SELECT u.name, r.signed, r.sm3 FROM records r"
	    " JOIN users u ON u.id = r.signed_by WHERE r.kind = $1"
	    " AND r.root_key_id = $2 ORDER BY r.id",
	    KDB_TEXT(w->kind), KDB_INT(w->root_key_id));
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		const char *h = kdb_text(r, 2) != NULL ? kdb_text(r, 2) : "";

		fmt_time(kdb_int(r, 1), t, sizeof(t));
		snprintf(note, sizeof(note), "电子签核 SM3 %.16s…%s", h,
		    strcmp(h, now) == 0 ? "" : " (记录已变 changed since)");
		v[0] = "密钥监督员 Supervisor";
		v[1] = kdb_text(r, 0);
		v[2] = note;
		v[3] = t;
		w_row(w, v, 4, "sign");
	}
	kdb_rows_free(r);
	return rc < 0 ? -1 : 0;
}

static void
w_signatures(struct w *w)
{
	static const char *const cols[] = {
	    "角色 Role", "姓名 Name", "签名 Signature", "日期 Date", NULL};
	static const char *const roles[] = {
	    "操作员 Operator", "复核员 Reviewer", "密钥监督员 Supervisor"};
	const char *v[4] = {NULL, "", "", ""};
	size_t i;

	w_section(w, "签字 Signatures");
	w_table(w, cols);
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		v[0] = roles[i];
		w_row(w, v, 4, "sign");
	}
	if (w->signoffs && w_signoffs(w, v) != 0) {
		v[0] = "密钥监督员 Supervisor";
		v[1] = "?";
		v[2] = "电子签核无法读取 sign-offs could not be read";
		v[3] = "";
		w_row(w, v, 4, "sign");
	}
	w_table_end(w);
}

static void
w_end(struct w *w)
{
	if (w->fmt == KMS_REC_HTML)
		puts_(w->s, "</body>\n</html>\n");
}

static int
w_done(struct w *w, char *why, size_t why_len)
{
	if (w->s->f != NULL && (w->s->full || ferror(w->s->f))) {
		kms_say(why, why_len, "writing the record failed");
		return TKM_ERR_IO;
	}
	if (w->s->full) {
		kms_say(why, why_len, "the record does not fit in %zu bytes",
		    w->s->cap);
		return TKM_ERR_SPACE;
	}
	return TKM_OK;
}

/* --- values -------------------------------------------------------------- */

static void
fmt_time(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, cap, "—");
		return;
	}
	strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void
col(struct kdb_rows *r, int i, char *dst, size_t cap)
{
	const char *s = kdb_text(r, i);

	snprintf(dst, cap, "%s", s != NULL ? s : "");
}

struct key {
	char tname[64], tname_zh[128], alg[4], kcv[KMS_KCV_HEX + 1];
	char state[16], hsm[128], serial[64];
	int64_t version, created, changed;
	unsigned idx;
};

static int
get_key(struct kdb *db, int64_t id, struct key *k, char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	int rc;

	memset(k, 0, sizeof(*k));
	rc = kdb_query(db, &r,
	    "SELECT t.name, t.name_zh, k.alg, k.version, k.idx,"
	    " COALESCE(k.kcv, ''), k.state, COALESCE(h.name, ''),"
	    " COALESCE(h.serial, ''), k.created, k.changed"
	    " FROM root_keys k JOIN key_templates t ON t.id = k.template_id"
	    " LEFT JOIN hsms h ON h.id = k.hsm_id WHERE k.id = $1",
	    KDB_INT(id));
	if (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		col(r, 0, k->tname, sizeof(k->tname));
		col(r, 1, k->tname_zh, sizeof(k->tname_zh));
		col(r, 2, k->alg, sizeof(k->alg));
		k->version = kdb_int(r, 3);
		k->idx = (unsigned)kdb_int(r, 4);
		col(r, 5, k->kcv, sizeof(k->kcv));
		col(r, 6, k->state, sizeof(k->state));
		col(r, 7, k->hsm, sizeof(k->hsm));
		col(r, 8, k->serial, sizeof(k->serial));
		k->created = kdb_int(r, 9);
		k->changed = kdb_int(r, 10);
		rc = TKM_OK;
	} else if (rc == 0) {
		kms_say(why, why_len, "no root key %lld", (long long)id);
		rc = TKM_ERR_INPUT;
	} else {
		kms_say(why, why_len, "reading root keys: %s", kdb_errmsg(db));
	}
	kdb_rows_free(r);
	return rc;
}

/* The key's fields, shared by every form. */
static void
key_fields(struct w *w, const struct key *k)
{
	char v[CELL];

	snprintf(v, sizeof(v), "%s (%s)", k->tname_zh, k->tname);
	w_field(w, "密钥 Key", v);
	w_field(w, "算法 Algorithm", k->alg);
	snprintf(v, sizeof(v), "%lld", (long long)k->version);
	w_field(w, "版本 Version", v);
	if (k->serial[0] != '\0')
		snprintf(v, sizeof(v), "%s (%s)", k->hsm, k->serial);
	else
		snprintf(v, sizeof(v), "%s", k->hsm);
	w_field(w, "根密钥加密机 Root HSM", v);
	snprintf(v, sizeof(v), "K%03X", k->idx);
	w_field(w, "索引 Index", v);
	w_field(w, "校验值 KCV", k->kcv[0] ? k->kcv : "—");
	w_field(w, "状态 State", k->state);
}

/*
 * Who did `kind` and when, one field per event: the actor and, for an
 * approved proposal, its proposer and approver. "—" when none.
 */
static int
who_fields(struct kdb *db, struct w *w, int64_t root_key_id, const char *kind,
    const char *label, char *why, size_t why_len)
{
	struct kdb_rows *r = NULL;
	char v[CELL], t[48], who[CELL];
	const char *reason;
	int rc, n = 0;

	rc = kdb_query(db, &r,
	    "SELECT e.actor, e.time, COALESCE(e.proposal_id, 0),"
	    " COALESCE(a.name, ''), COALESCE(b.name, ''), e.reason"
	    " FROM key_events e LEFT JOIN proposals p ON p.id = e.proposal_id"
	    " LEFT JOIN users a ON a.id = p.proposer_id"
	    " LEFT JOIN users b ON b.id = p.approver_id"
	    " WHERE e.root_key_id = $1 AND e.kind = $2 ORDER BY e.time, e.id",
	    KDB_INT(root_key_id), KDB_TEXT(kind));
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		rc = TKM_OK;
		col(r, 0, who, sizeof(who));
		fmt_time(kdb_int(r, 1), t, sizeof(t));
		if (kdb_int(r, 2) > 0)
			snprintf(v, sizeof(v),
			    "%.200s, %s (proposal %lld: proposed by %.60s,"
			    " approved by %.60s)",
			    who, t, (long long)kdb_int(r, 2), kdb_text(r, 3),
			    kdb_text(r, 4));
		else
			snprintf(v, sizeof(v), "%.200s, %s", who, t);
		w_field(w, label, v);
		reason = kdb_text(r, 5);
		if (reason != NULL && reason[0] != '\0')
			w_field(w, "原因 Reason", reason);
		n++;
	}
	kdb_rows_free(r);
	if (rc < 0) {
		kms_say(why, why_len, "reading key events: %s", kdb_errmsg(db));
		return rc;
	}
	if (n == 0)
		w_field(w, label, "—");
	return TKM_OK;
}

static void
begin(struct w *w, const struct kms_rec_opts *o, struct kms_sink *out,
    const char *title, struct kdb *db, const char *kind, int64_t root_key_id)
{
	memset(w, 0, sizeof(*w));
	w->db = db;
	w->kind = kind;
	w->root_key_id = root_key_id;
	w->signoffs = o != NULL && o->signoffs;
	w->s = out;
	w->fmt =
	    o != NULL && o->fmt == KMS_REC_HTML ? KMS_REC_HTML : KMS_REC_MD;
	w_head(w, title, o != NULL ? o->printed : 0);
	w_section(w, "密钥 Key");
	w_fields_begin(w);
}

/* --- the forms ----------------------------------------------------------- */

int
kms_rec_generation(struct kdb *db, int64_t root_key_id,
    const struct kms_rec_opts *o, struct kms_sink *out, char *why,
    size_t why_len)
{
	struct key k;
	struct w w;
	char t[48];
	int rc;

	if ((rc = get_key(db, root_key_id, &k, why, why_len)) != TKM_OK)
		return rc;
	begin(&w, o, out, "密钥生成记录 Key generation record", db,
	    "generation", root_key_id);
	key_fields(&w, &k);
	fmt_time(k.created, t, sizeof(t));
	w_field(&w, "计划时间 Planned", t);
	rc = who_fields(db, &w, root_key_id, "generated", "生成 Generated by",
	    why, why_len);
	if (rc != TKM_OK)
		return rc;
	w_table_end(&w);
	w_signatures(&w);
	w_end(&w);
	return w_done(&w, why, why_len);
}

int
kms_rec_distribution(struct kdb *db, int64_t root_key_id,
    const struct kms_rec_opts *o, struct kms_sink *out, char *why,
    size_t why_len)
{
	static const char *const cols[] = {"城市 City", "加密机 HSM",
	    "索引 Index", "校验值 KCV", "状态 State", "时间 Time", NULL};
	struct kdb_rows *r = NULL;
	char city[CELL], hsm[CELL], ix[8], t[48];
	const char *v[6];
	struct key k;
	struct w w;
	int rc;

	if ((rc = get_key(db, root_key_id, &k, why, why_len)) != TKM_OK)
		return rc;
	begin(&w, o, out, "密钥分发记录 Key distribution record", db,
	    "distribution", root_key_id);
	key_fields(&w, &k);
	if ((rc = who_fields(db, &w, root_key_id, "issued", "分发 Issued by",
		 why, why_len)) != TKM_OK ||
	    (rc = who_fields(db, &w, root_key_id, "reissued",
		 "重新分发 Re-issued by", why, why_len)) != TKM_OK)
		return rc;
	w_table_end(&w);
	w_section(&w, "分发明细 Issued copies");
	w_table(&w, cols);
	rc = kdb_query(db, &r,
	    "SELECT c.name, COALESCE(c.city_code, ''), h.name, h.role, i.idx,"
	    " COALESCE(i.kcv, ''), i.state, i.changed"
	    " FROM issued_keys i JOIN institutions c ON c.id = i.city_id"
	    " JOIN hsms h ON h.id = i.hsm_id WHERE i.root_key_id = $1"
	    " ORDER BY c.seq, h.name, i.id",
	    KDB_INT(root_key_id));
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		rc = TKM_OK;
		snprintf(city, sizeof(city), "%.200s %.8s", kdb_text(r, 0),
		    kdb_text(r, 1));
		snprintf(hsm, sizeof(hsm), "%.200s (%.24s)", kdb_text(r, 2),
		    kdb_text(r, 3));
		snprintf(ix, sizeof(ix), "K%03X", (unsigned)kdb_int(r, 4));
		fmt_time(kdb_int(r, 7), t, sizeof(t));
		v[0] = city;
		v[1] = hsm;
		v[2] = ix;
		v[3] = kdb_text(r, 5);
		v[4] = kdb_text(r, 6);
		v[5] = t;
		w_row(&w, v, 6, NULL);
	}
	kdb_rows_free(r);
	if (rc < 0) {
		kms_say(
		    why, why_len, "reading issued keys: %s", kdb_errmsg(db));
		return rc;
	}
	w_table_end(&w);
	w_signatures(&w);
	w_end(&w);
	return w_done(&w, why, why_len);
}

int
kms_rec_destruction(struct kdb *db, int64_t root_key_id,
    const struct kms_rec_opts *o, struct kms_sink *out, char *why,
    size_t why_len)
{
	static const char *const cols[] = {"加密机 HSM", "库 Library",
	    "索引 Index", "校验值 KCV", "状态 State", "申请 Requested",
	    "确认 Confirmed", NULL};
	struct kdb_rows *r = NULL;
	char hsm[CELL], ix[8], t1[48], t2[48];
	const char *v[7];
	struct key k;
	struct w w;
	int rc;

	if ((rc = get_key(db, root_key_id, &k, why, why_len)) != TKM_OK)
		return rc;
	begin(&w, o, out, "密钥销毁记录 Key destruction record", db,
	    "destruction", root_key_id);
	key_fields(&w, &k);
	if ((rc = who_fields(db, &w, root_key_id, "destroy_requested",
		 "申请销毁 Requested by", why, why_len)) != TKM_OK ||
	    (rc = who_fields(db, &w, root_key_id, "destroyed",
		 "确认销毁 Confirmed by", why, why_len)) != TKM_OK)
		return rc;
	w_table_end(&w);
	w_section(&w, "销毁明细 Keys deleted in the HSMs");
	w_table(&w, cols);
	rc = kdb_query(db, &r,
	    "SELECT h.name, h.role, d.alg, d.idx, d.kcv, d.state, d.requested,"
	    " COALESCE(d.confirmed, 0), COALESCE(d.issued_key_id, 0)"
	    " FROM key_destructions d JOIN hsms h ON h.id = d.hsm_id"
	    " WHERE d.root_key_id = $1 ORDER BY d.issued_key_id IS NOT NULL,"
	    " h.name, d.id",
	    KDB_INT(root_key_id));
	while (rc == TKM_OK && (rc = kdb_next(r)) == 1) {
		rc = TKM_OK;
		snprintf(hsm, sizeof(hsm), "%.200s (%.24s)", kdb_text(r, 0),
		    kdb_text(r, 1));
		snprintf(ix, sizeof(ix), "K%03X", (unsigned)kdb_int(r, 3));
		fmt_time(kdb_int(r, 6), t1, sizeof(t1));
		fmt_time(kdb_int(r, 7), t2, sizeof(t2));
		v[0] = hsm;
		v[1] = kdb_text(r, 2);
		v[2] = ix;
		v[3] = kdb_text(r, 4);
		v[4] = kdb_text(r, 5);
		v[5] = t1;
		v[6] = t2;
		w_row(&w, v, 7, NULL);
	}
	kdb_rows_free(r);
	if (rc < 0) {
		kms_say(why, why_len, "reading key destructions: %s",
		    kdb_errmsg(db));
		return rc;
	}
	w_table_end(&w);
	w_signatures(&w);
	w_end(&w);
	return w_done(&w, why, why_len);
}

int
kms_rec_compromise(struct kdb *db, int64_t root_key_id,
    const struct kms_rec_opts *o, struct kms_sink *out, char *why,
    size_t why_len)
{
	static const char *const cols[] = {"城市 City", "加密机 HSM",
	    "库 Library", "索引 Index", "校验值 KCV", "状态 State",
	    "新索引 New index", NULL};
	struct kms_lc_plan p;
	char ix[8], nix[8], v1[CELL];
	const char *v[7];
	struct key k;
	struct w w;
	size_t i;
	int rc;

	if ((rc = get_key(db, root_key_id, &k, why, why_len)) != TKM_OK)
		return rc;
	if ((rc = kms_lc_plan(db, root_key_id, &p, why, why_len)) != TKM_OK)
		return rc;
	begin(&w, o, out, "密钥泄露记录 Key compromise record", db,
	    "compromise", root_key_id);
	key_fields(&w, &k);
	rc = who_fields(db, &w, root_key_id, "compromised", "报告 Reported by",
	    why, why_len);
	if (rc != TKM_OK)
		goto out;
	snprintf(v1, sizeof(v1), "v%lld at K%03X of %s",
	    (long long)p.next_version, p.next_idx, k.hsm);
	w_field(&w, "替换密钥 Replacement", v1);
	w_table_end(&w);
	w_section(
	    &w, "受影响密钥及重新分发计划 Derived keys and re-issue plan");
	w_table(&w, cols);
	for (i = 0; i < p.ncopies; i++) {
		snprintf(ix, sizeof(ix), "K%03X", p.copies[i].idx);
		snprintf(nix, sizeof(nix), "K%03X", p.copies[i].new_idx);
		v[0] = p.copies[i].city;
		v[1] = p.copies[i].hsm;
		v[2] = p.copies[i].alg;
		v[3] = ix;
		v[4] = p.copies[i].kcv;
		v[5] = p.copies[i].state;
		v[6] = nix;
		w_row(&w, v, 7, NULL);
	}
	w_table_end(&w);
	w_signatures(&w);
	w_end(&w);
	rc = w_done(&w, why, why_len);
out:
	kms_lc_plan_free(&p);
	return rc;
}

/* --- by kind, digests and sign-offs -------------------------------------- */

static const struct {
	const char *kind, *title;
	int (*fn)(struct kdb *db, int64_t root_key_id,
	    const struct kms_rec_opts *o, struct kms_sink *out, char *why,
	    size_t why_len);
} forms[] = {
    {"generation", "密钥生成记录 Key generation record", kms_rec_generation},
    {"distribution", "密钥分发记录 Key distribution record",
	kms_rec_distribution},
    {"destruction", "密钥销毁记录 Key destruction record", kms_rec_destruction},
    {"compromise", "密钥泄露记录 Key compromise record", kms_rec_compromise},
};

static int
form_of(const char *kind)
{
	size_t i;

	for (i = 0; kind != NULL && i < sizeof(forms) / sizeof(forms[0]); i++)
		if (strcmp(kind, forms[i].kind) == 0)
			return (int)i;
	return -1;
}

const char *
kms_rec_title(const char *kind)
{
	int i = form_of(kind);

	return i < 0 ? NULL : forms[i].title;
}

int
kms_rec_render(struct kdb *db, const char *kind, int64_t root_key_id,
    const struct kms_rec_opts *o, char **doc, char *why, size_t why_len)
{
	struct kms_sink s;
	size_t cap;
	char *buf;
	int i = form_of(kind), rc = TKM_ERR_SPACE;

	*doc = NULL;
	if (i < 0) {
		kms_say(why, why_len, "no record kind '%s'", kind ? kind : "");
		return TKM_ERR_INPUT;
	}
	for (cap = 65536; rc == TKM_ERR_SPACE && cap <= KMS_REC_MAX; cap *= 2) {
		if ((buf = malloc(cap)) == NULL)
			return TKM_ERR_NOMEM;
		kms_sink_buf(&s, buf, cap);
		rc = forms[i].fn(db, root_key_id, o, &s, why, why_len);
		if (rc == TKM_OK) {
			*doc = buf;
			return TKM_OK;
		}
		free(buf);
	}
	return rc;
}

int
kms_rec_digest(struct kdb *db, const char *kind, int64_t root_key_id,
    char hex[KMS_REC_SM3_HEX + 1], char *why, size_t why_len)
{
	struct kms_rec_opts o = {KMS_REC_MD, 0, 0};
	uint8_t h[32];
	char *doc;
	int rc;

	hex[0] = '\0';
	if ((rc = kms_rec_render(
		 db, kind, root_key_id, &o, &doc, why, why_len)) != TKM_OK)
		return rc;
	rc = tkm_hash(TKM_SM3, doc, strlen(doc), h);
	free(doc);
	if (rc == TKM_OK)
		tkm_hex_encode(h, sizeof(h), hex);
	return rc;
}

struct sign {
	int64_t now, root_key_id, user_id, id;
	const char *kind, *expect;
	char *hex, *why;
	size_t why_len;
};

/* In one transaction: the digest now, compared with what the supervisor
 * read; no second sign-off of the same content by the same user. */
static int
sign_tx(struct kdb *db, void *arg)
{
	struct sign *g = arg;
	char body[160];
	int64_t n;
	int rc;

	if ((rc = kms_rec_digest(db, g->kind, g->root_key_id, g->hex, g->why,
		 g->why_len)) != TKM_OK)
		return rc;
	if (g->expect != NULL && strcmp(g->expect, g->hex) != 0) {
		kms_say(g->why, g->why_len,
		    "the record changed since it was read (SM3 now %.16s…):"
		    " read it again before signing it off",
		    g->hex);
		return TKM_ERR_VERIFY;
	}
	if ((rc = kdb_int1(db, &n,
		 "SELECT count(*) FROM records WHERE kind = $1 AND"
		 " root_key_id = $2 AND sm3 = $3 AND signed_by = $4",
		 KDB_TEXT(g->kind), KDB_INT(g->root_key_id), KDB_TEXT(g->hex),
		 KDB_INT(g->user_id))) != TKM_OK) {
		kms_say(g->why, g->why_len, "reading sign-offs: %s",
		    kdb_errmsg(db));
		return rc;
	}
	if (n > 0) {
		kms_say(g->why, g->why_len,
		    "you signed off this record as it is already (SM3 %.16s…)",
		    g->hex);
		return TKM_ERR_INPUT;
	}
	snprintf(body, sizeof(body),
	    "{\"format\":\"md\",\"root_key_id\":%lld,\"sm3\":\"%s\"}",
	    (long long)g->root_key_id, g->hex);
	rc = kdb_int1(db, &g->id,
	    "INSERT INTO records (kind, title, body, created, signed_by,"
	    " signed, root_key_id, sm3) VALUES ($1, $2, $3, $4, $5, $4, $6,"
	    " $7) RETURNING id",
	    KDB_TEXT(g->kind), KDB_TEXT(kms_rec_title(g->kind)), KDB_TEXT(body),
	    KDB_INT(g->now), KDB_INT(g->user_id), KDB_INT(g->root_key_id),
	    KDB_TEXT(g->hex));
	if (rc != TKM_OK)
		kms_say(g->why, g->why_len, "recording the sign-off: %s",
		    kdb_errmsg(db));
	return rc;
}

int
kms_rec_sign(struct kdb *db, int64_t now, const char *kind, int64_t root_key_id,
    int64_t user_id, const char *expect, int64_t *id,
    char hex[KMS_REC_SM3_HEX + 1], char *why, size_t why_len)
{
	struct sign g = {
	    now, root_key_id, user_id, 0, kind, expect, hex, why, why_len};
	int rc;

	*id = 0;
	hex[0] = '\0';
	rc = kdb_tx(db, sign_tx, &g);
	*id = g.id;
	return rc;
}
