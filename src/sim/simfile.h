/*
 * simfile.h - the strict text format of the emulators' state files
 * (docs/sim.md): lines of printable ASCII ended by LF, fields separated by
 * exactly one space, upper-case hex, decimal numbers without leading
 * zeros. A file that parses is exactly what the writer writes for it, so
 * writing it back gives the same bytes.
 *
 * Also the bounded file read and the atomic, fsync'ed, mode 0600 write.
 */
#ifndef SIM_SIMFILE_H
#define SIM_SIMFILE_H

#include <stddef.h>
#include <stdint.h>

#include "tkm/buf.h"
#include "tkm/err.h"

#define SIM_FILE_MAX   8192 /* bytes: far above any card or PSAM */
#define SIM_LINE_MAX   160  /* bytes without the LF */
#define SIM_MAX_FIELDS 8

/* Where a state file failed: line (1-based; 0 for the file as a whole),
 * the line's field name (may be NULL) and why; static text. */
struct sim_file_err {
	size_t line;
	const char *field;
	const char *why;
};

/* A reader of lines over a whole file, split into fields. */
struct sim_lines {
	struct tkm_rd rd;
	size_t line;
	const char *name; /* of the line being read */
	struct tkm_rd f[SIM_MAX_FIELDS];
	size_t nf;
	struct sim_file_err *err;
};

void sim_lines_init(
    struct sim_lines *ls, const void *p, size_t len, struct sim_file_err *err);
/* Record the failure (line, why) and return rc. */
int sim_fail(struct sim_lines *ls, int rc, const char *why);

/*
 * Read the next line, which MUST start with the field name and have
 * exactly nf fields in all (name included; nf 0 = 1..SIM_MAX_FIELDS).
 * A line that is missing, too long, not printable ASCII, or with empty
 * fields fails (TKM_ERR_TRUNC at the end of the file, TKM_ERR_DATA_LEN,
 * TKM_ERR_INPUT), with err set.
 */
int sim_line(struct sim_lines *ls, const char *name, size_t nf) TKM_MUST_CHECK;
/* 1 if the next line starts with name (and a space or its end). */
int sim_line_is(const struct sim_lines *ls, const char *name);
/* End of the file: nothing may follow (TKM_ERR_TRAILING otherwise). */
int sim_lines_end(struct sim_lines *ls) TKM_MUST_CHECK;

/* Field i of the current line as exactly n bytes of upper-case hex. */
int sim_f_hex(
    struct sim_lines *ls, size_t i, uint8_t *out, size_t n) TKM_MUST_CHECK;
/* Field i as a decimal number 0..max without leading zeros. */
int sim_f_num(
    struct sim_lines *ls, size_t i, uint32_t max, uint32_t *v) TKM_MUST_CHECK;
/* 1 if field i is exactly s. */
int sim_f_is(const struct sim_lines *ls, size_t i, const char *s);

/* Writers: " " + field. */
void sim_w_hex(struct tkm_wr *w, const void *p, size_t n);
void sim_w_num(struct tkm_wr *w, uint32_t v);
void sim_w_str(struct tkm_wr *w, const char *s);

/* Read a whole regular file of at most max bytes into buf (cap bytes).
 * TKM_ERR_IO (err says why), TKM_ERR_DATA_LEN when larger. */
int sim_file_read(const char *path, uint8_t *buf, size_t cap, size_t *len,
    struct sim_file_err *err) TKM_MUST_CHECK;
/* Replace path atomically (temporary file in the same directory, fsync,
 * rename, fsync of the directory), mode 0600. TKM_ERR_IO. */
int sim_file_write(const char *path, const void *p, size_t len) TKM_MUST_CHECK;

#endif
