#!/usr/bin/env bash
# Measure libtkm's UB-like throughput against `openssl speed des-ede3` in the
# same run, on the release build. Usage: bench/run.sh [seconds per figure]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target tkm-bench >/dev/null

# openssl speed prints thousands of bytes per second; with 16-byte buffers,
# blocks/s = k * 1000 / 8.
ossl=$(openssl speed -seconds "$secs" -bytes 16 des-ede3 2>/dev/null |
	awk '/^des[- ]ede3/ { v = $NF; sub(/k$/, "", v); print v * 1000 / 8 }')
eval "$(build/release/tkm-bench "$secs" | awk '{ gsub(/\./, "_", $1); print $1 "=" $2 }')"

printf '%-34s %14s %10s\n' "operation" "ops/s" "vs openssl"
row() { awk -v n="$1" -v r="$2" -v o="$ossl" \
	'BEGIN { printf "%-34s %14.0f %9.3fx\n", n, r, r / o }'; }
row "openssl speed des-ede3 (blocks)" "$ossl"
row "tkm_encrypt_block 3DES" "$tdes_block"
row "UB-like DES (derive + MAC 32 B)" "$ub_des"
row "UB-like SM4 (derive + MAC 32 B)" "$ub_sm4"
