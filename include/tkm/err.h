/*
 * err.h - the one error enum of tkms.
 *
 * Every fallible function returns TKM_OK (0) or a negative cause below.
 * One table in err.c maps each cause to its text, its host-command error
 * code (protocol.md §3) and its HTTP status, so that a cause never gets two
 * different wire codes in two places.
 */
#ifndef TKM_ERR_H
#define TKM_ERR_H

#define TKM_MUST_CHECK __attribute__((warn_unused_result))

enum tkm_err {
	TKM_OK = 0,
	TKM_ERR_VERIFY = -1,      /* MAC, TAC, ARQC or signature mismatch */
	TKM_ERR_KEY_LEN = -2,     /* key of a length the algorithm refuses */
	TKM_ERR_KEY_TYPE = -3,    /* unknown key type code */
	TKM_ERR_MODE = -4,        /* unknown flag, mode, padding or hash id */
	TKM_ERR_PARITY = -5,      /* DES key without odd parity */
	TKM_ERR_NO_KEY = -6,      /* nothing stored at that index */
	TKM_ERR_SEALED = -7,      /* device key not available */
	TKM_ERR_INPUT = -8,       /* malformed field */
	TKM_ERR_HEX = -9,         /* not a hex digit, or odd hex length */
	TKM_ERR_TRUNC = -10,      /* input ends before the field does */
	TKM_ERR_TRAILING = -11,   /* bytes left after the last field */
	TKM_ERR_NOT_AUTH = -12,   /* not in the authorised state */
	TKM_ERR_INDEX = -13,      /* index out of range */
	TKM_ERR_SCHEME = -14,     /* invalid key scheme */
	TKM_ERR_TYPE_USE = -15,   /* key type not allowed for this use */
	TKM_ERR_PERMISSION = -16, /* function not permitted */
	TKM_ERR_INTERNAL = -17,   /* a bug or an OpenSSL failure */
	TKM_ERR_NOMEM = -18,      /* allocation or mlock failed */
	TKM_ERR_SPACE = -19,      /* output buffer too small */
	TKM_ERR_HEADER = -20,     /* frame shorter than header + command */
	TKM_ERR_FRAME_LEN = -21,  /* frame longer than the configured maximum */
	TKM_ERR_NO_CMD = -22,     /* unknown command code */
	TKM_ERR_WHITELIST = -23,  /* command not on the whitelist */
	TKM_ERR_IP = -24,         /* source address not on the IP whitelist */
	TKM_ERR_ASYM_KEY = -25,   /* malformed or unusable asymmetric key */
	TKM_ERR_DATA_LEN = -26,   /* data of a length the operation refuses */
	TKM_ERR_NO_PUBKEY = -27,  /* public key absent */
	TKM_ERR_LIC_EXHAUSTED = -28, /* licence count used up */
	TKM_ERR_LIC_EXPIRED = -29,   /* licence past its date */
	TKM_ERR_IO = -30,            /* read, write or fsync failed */
	TKM_ERR_TIMEOUT = -31,       /* peer too slow */
	TKM_ERR_CLOSED = -32,        /* peer closed the connection */
	TKM_ERR__LAST = -33
};

/* Text for a cause; never NULL, "unknown error" for codes out of range. */
const char *tkm_strerror(int err);

/* Two-character host-command error code ("00" for TKM_OK). Never NULL. */
const char *tkm_err_wire(int err);

/* HTTP status for the KMS API (200 for TKM_OK). */
int tkm_err_http(int err);

#endif
