/*
 * bench_ub - throughput of libtkm for the work behind one UB command:
 * one-level diversification of a 16-byte master key by an 8-byte factor,
 * then a PBOC MAC over 32 bytes under the derived key (DESIGN §3.2).
 *
 *   tkm-bench [seconds]
 *
 * Prints operations per second for the DES and SM4 forms and for single
 * 3DES block encryptions through tkm_cipher, so that bench/run.sh can set
 * them against `openssl speed des-ede3` measured in the same run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tkm/crypto.h"
#include "tkm/derive.h"
#include "tkm/mac.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One UB-like operation; the factor changes every time, as cards do. */
static int
ub_once(int alg, const uint8_t mk[16], unsigned long i, const uint8_t *data)
{
	uint8_t factor[8] = {0x58, 0x10, 0xFF, 0, 0, 0, 0, 0};
	uint8_t dk[16], mac[16];
	size_t maclen;

	factor[7] = (uint8_t)i;
	factor[6] = (uint8_t)(i >> 8);
	if (tkm_derive(alg, mk, 16, factor, 1, dk) != TKM_OK ||
	    tkm_mac(TKM_MAC_PBOC, alg, dk, 16, NULL, data, 32, TKM_PAD_80, mac,
		&maclen) != TKM_OK)
		return -1;
	return mac[0]; /* keep the work observable */
}

static int
block_once(int alg, const uint8_t mk[16], unsigned long i, const uint8_t *data)
{
	uint8_t out[8];

	(void)i;
	if (tkm_encrypt_block(alg, mk, 16, data, out) != TKM_OK)
		return -1;
	return out[0];
}

static double
rate(int (*fn)(int, const uint8_t *, unsigned long, const uint8_t *), int alg,
    double seconds)
{
	static const uint8_t mk[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	    0x88, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
	uint8_t data[32] = {0};
	unsigned long n = 0;
	double t0 = now(), t;
	int sink = 0;

	do {
		unsigned k;

		for (k = 0; k < 1000; k++, n++) {
			int r = fn(alg, mk, n, data);

			if (r < 0) {
				fprintf(stderr, "bench: operation failed\n");
				exit(1);
			}
			sink ^= r;
		}
		t = now() - t0;
	} while (t < seconds);
	data[0] = (uint8_t)sink;
	return (double)n / t;
}

int
main(int argc, char **argv)
{
	double secs = 2.0;
	char *end = NULL;

	if (argc > 1)
		secs = strtod(argv[1], &end);
	if ((end != NULL && (end == argv[1] || *end != '\0')) || secs <= 0 ||
	    secs > 600) {
		fprintf(stderr, "usage: tkm-bench [seconds]\n");
		return 2;
	}
	printf("ub.des %.0f\n", rate(ub_once, TKM_DES, secs));
	printf("ub.sm4 %.0f\n", rate(ub_once, TKM_SM4, secs));
	printf("tdes.block %.0f\n", rate(block_once, TKM_DES, secs));
	return 0;
}
