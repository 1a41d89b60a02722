/*
 * err.c - the single table from causes to text, wire code and HTTP status.
 */
#include "tkm/err.h"

struct err_row {
	const char *text;
	const char wire[3]; /* protocol.md §3 */
	short http;
};

/* Indexed by -err. Keep in the order of enum tkm_err. */
static const struct err_row err_table[] = {
    {"ok", "00", 200},
    {"verification failed", "01", 422},
    {"invalid key length", "02", 400},
    {"invalid key type code", "04", 400},
    {"invalid flag, mode or hash identifier", "05", 400},
    {"key parity error", "10", 400},
    {"no key at that index", "12", 404},
    {"device key not available (sealed)", "13", 503},
    {"invalid input data", "15", 400},
    {"invalid hex data", "15", 400},
    {"input truncated", "15", 400},
    {"unexpected data after the last field", "15", 400},
    {"not in the authorised state", "17", 403},
    {"invalid index", "21", 400},
    {"invalid key scheme", "26", 400},
    {"key type not allowed for this function", "28", 403},
    {"function not permitted", "29", 403},
    {"internal error", "41", 500},
    {"out of memory", "41", 503},
    {"output buffer too small", "41", 500},
    {"message shorter than header and command", "51", 400},
    {"message longer than the maximum", "51", 413},
    {"no such command", "60", 404},
    {"command not on the whitelist", "68", 403},
    {"source address not on the IP whitelist", "69", 403},
    {"invalid asymmetric key", "74", 400},
    {"invalid data length", "80", 400},
    {"public key absent", "85", 404},
    {"licence count exhausted", "A1", 403},
    {"licence expired", "A2", 403},
    {"input/output error", "41", 500},
    {"timed out", "41", 504},
    {"connection closed", "41", 502},
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) == -TKM_ERR__LAST,
    "err_table must have one row per enum tkm_err value");

static const struct err_row *
err_row(int err)
{
	static const struct err_row unknown = {"unknown error", "41", 500};

	if (err > 0 || err <= TKM_ERR__LAST)
		return &unknown;
	return &err_table[-err];
}

const char *
tkm_strerror(int err)
{
	return err_row(err)->text;
}

const char *
tkm_err_wire(int err)
{
	return err_row(err)->wire;
}

int
tkm_err_http(int err)
{
	return err_row(err)->http;
}
