#!/usr/bin/env bash
# bench/compare.sh - tkms-hsmd against its peers, in one run on one machine
# (docs/benchmarks.md): redis-server PING for the framing and event loop,
# `openssl speed` for the cryptography, and the goals of the issue.
#
# NOTE: installs what it lacks with apt-get (redis-server, redis-tools),
# through sudo when not root.
#
# Usage: bench/compare.sh [seconds per figure] [pipeline depth]
# Environment: TKMS_BUILD, the build directory (default build/release; it is
# configured with CMAKE_BUILD_TYPE=Release and built here).
#
# Everything runs on this machine: the load generators take CPU from the
# server exactly as redis-benchmark takes it from redis-server, so the
# ratios compare like with like. Everything started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
depth=${2:-16}
build=${TKMS_BUILD:-build/release}
cores=$(nproc)
conns=16
mix=nc:1,ub:4,u3:1,ew:1,ep:1
log() { printf '%s\n' "$*" >&2; }

# --- prerequisites ---------------------------------------------------------
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark \
	>/dev/null; then
	log "installing redis-server and redis-tools with apt-get"
	sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get install -y redis-server redis-tools >/dev/null
fi
log "building $build (Release)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$cores" --target tkms-hsmd tkms-bench >/dev/null
bench=$build/tkms-bench

# --- what we start, we stop --------------------------------------------------
tmp=$(mktemp -d /tmp/tkms-compare.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The development DK components of tests/e2e/hsmlib.py: never for production.
C1=0123456789ABCDEFFEDCBA9876543210
C2=11111111111111112222222222222222
C3=0F0E0D0C0B0A09080706050403020100

# start_hsmd NAME: a daemon in $tmp/NAME on an ephemeral port, authorised;
# sets hsmd_pid and hsmd_port.
start_hsmd() {
	local d=$tmp/$1 i
	mkdir -p "$d"
	printf 'listen 127.0.0.1:0\nmanage 127.0.0.1:0\n' >"$d/conf"
	"$build/tkms-hsmd" --dir "$d/hsm" --config "$d/conf" \
		--workers "$cores" --port-file "$d/ports" \
		--dev-components "$C1,$C2,$C3" --dev-authorised \
		</dev/null 2>"$d/log" &
	hsmd_pid=$!
	pids+=("$hsmd_pid")
	for i in $(seq 200); do
		[ -s "$d/ports" ] && break
		kill -0 "$hsmd_pid" 2>/dev/null || { cat "$d/log" >&2; exit 1; }
		sleep 0.05
	done
	[ -s "$d/ports" ] || { log "tkms-hsmd did not start"; exit 1; }
	hsmd_port=$(awk 'NR == 1 { print $2 }' "$d/ports")
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# CPU seconds (user + system) a process has used so far.
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
		"/proc/$1/stat"
}

# tb NAME ARGS...: run tkms-bench into $tmp/NAME.out (a failure, such as an
# error answer, stops the script); ops NAME and p99 NAME read its "all" row,
# us_op NAME the daemon's CPU microseconds per request (warm-up included in
# both counts, so the ratio holds; other load on the machine does not
# change it, unlike ops/s).
tb() {
	local name=$1 c0
	shift
	log "tkms-bench $*"
	c0=$(cpu_s "$hsmd_pid")
	"$bench" "127.0.0.1:$hsmd_port" -d "$secs" -w 1 "$@" >"$tmp/$name.out"
	echo "cpu $(awk -v a="$c0" -v b="$(cpu_s "$hsmd_pid")" \
		'BEGIN { print b - a }')" >>"$tmp/$name.out"
	cat "$tmp/$name.out" >&2
}
ops() { awk '$1 == "all" { printf "%.0f", $2 }' "$tmp/$1.out"; }
p99() { awk '$1 == "all" { printf "%.3f", $4 / 1000 }' "$tmp/$1.out"; }
us_op() {
	awk -v s="$secs" '$1 == "all" { r = $2 } $1 == "cpu" { c = $2 }
		END { printf "%.1f", (r > 0 ? c * 1e6 / (r * (s + 1)) : 0) }' \
		"$tmp/$1.out"
}

# rb NAME DEPTH: redis-benchmark PING for about $secs seconds into
# $tmp/NAME.csv; rops NAME and rp99 NAME read its PING_MBULK row (RESP, as
# clients send it), rus_op NAME redis-server's CPU microseconds per request
# (both PING forms counted).
rb() {
	local n r c0
	# calibrate the request count so that the run lasts about $secs s
	r=$(redis-benchmark -p "$redis_port" -t ping -c "$conns" -n 200000 \
		-P "$2" --csv | awk -F'"' '$2 == "PING_MBULK" { print $4 }')
	n=$(awk -v r="$r" -v s="$secs" 'BEGIN { printf "%d", r * s }')
	log "redis-benchmark -t ping -c $conns -n $n -P $2"
	c0=$(cpu_s "$redis_pid")
	redis-benchmark -p "$redis_port" -t ping -c "$conns" -n "$n" -P "$2" \
		--csv >"$tmp/$1.csv"
	echo "cpu $(awk -v a="$c0" -v b="$(cpu_s "$redis_pid")" -v n="$n" \
		'BEGIN { printf "%.2f", (b - a) * 1e6 / (2 * n) }')" \
		>>"$tmp/$1.csv"
	cat "$tmp/$1.csv" >&2
}
rops() { awk -F'"' '$2 == "PING_MBULK" { printf "%.0f", $4 }' "$tmp/$1.csv"; }
rp99() { awk -F'"' '$2 == "PING_MBULK" { printf "%.3f", $14 }' "$tmp/$1.csv"; }
rus_op() { awk '$1 == "cpu" { printf "%.1f", $2 }' "$tmp/$1.csv"; }

# Share of the CPUs that other processes keep busy, over one second: the
# figures are only worth comparing on an otherwise idle machine.
cpu_busy() {
	local a b
	a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x); split(b, y);
		printf "%.0f", 100 * (y[1] - x[1]) / (y[1] - x[1] + y[2] - x[2]) }'
}
busy_before=$(cpu_busy)
[ "$busy_before" -le 10 ] ||
	log "WARNING: the machine is ${busy_before}% busy before the run"

# --- tkms-hsmd ---------------------------------------------------------------
start_hsmd main
"$bench" "127.0.0.1:$hsmd_port" --setup -d 0
tb nc_p -m nc -c $conns -p "$depth"
tb ub_p -m ub -c $conns -p "$depth"
tb nc_1 -m nc -c $conns -p 1
tb ub_1 -m ub -c $conns -p 1
tb mix -m "$mix" -c $conns -p "$depth"
tb u3 -m u3 -c $conns -p "$depth"
# A signature or decryption takes long enough that 16 in flight keep every
# worker busy; deeper pipelines only add queueing to the latency.
tb ew -m ew -c $conns -p 1
tb ep -m ep -c $conns -p 1
# Open loop at half the peak: latency counts from each request's scheduled
# time, so queueing behind a stall is not hidden.
# Half of which peak: pipelined (the highest) and one request at a time per
# connection (how most clients send); NC at the same rate is the control,
# the latency of the machine, the network stack and the event loop alone.
tb ub_half -m ub -c $conns -p "$depth" -r $(($(ops ub_p) / 2))
tb nc_half -m nc -c $conns -p "$depth" -r $(($(ops ub_p) / 2))
tb ub_half1 -m ub -c $conns -p "$depth" -r $(($(ops ub_1) / 2))
tb nc_half1 -m nc -c $conns -p "$depth" -r $(($(ops ub_1) / 2))
rss_main=$(rss_mb "$hsmd_pid")

# --- memory with a full key store --------------------------------------------
# 10,000 keys do not fit: a symmetric library holds 4096 (000-FFF), so the
# DES and SM4 libraries together hold 8192; we measure there.
start_hsmd keys
rss_empty=$(rss_mb "$hsmd_pid")
t0=$(date +%s.%N)
"$bench" "127.0.0.1:$hsmd_port" --store 8192 -t 4 -d 0
store_rate=$(awk -v t0="$t0" -v t1="$(date +%s.%N)" \
	'BEGIN { printf "%.0f", 8192 / (t1 - t0) }')
tb keys_load -m nc:1,ub:4 -c $conns -p "$depth"
rss_keys=$(rss_mb "$hsmd_pid")

# --- redis -------------------------------------------------------------------
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
	--appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
for i in $(seq 100); do
	redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
	sleep 0.05
done
rb redis_p "$depth"
rb redis_1 1

# --- openssl -----------------------------------------------------------------
log "openssl speed -seconds 3 -multi $cores sm2 rsa2048 des-ede3"
openssl speed -seconds 3 -multi "$cores" sm2 rsa2048 des-ede3 \
	>"$tmp/openssl.out" 2>/dev/null
os_sm2=$(awk '/SM2 \(CurveSM2\)/ { print $(NF - 1) }' "$tmp/openssl.out")
os_rsa=$(awk '/^rsa 2048 bits/ { print $(NF - 1) }' "$tmp/openssl.out")
# thousands of bytes per second over 16-byte and 8192-byte buffers
os_des=$(awk '/^des-ede3/ { a = $2; b = $6; sub(/k$/, "", a);
	sub(/k$/, "", b); printf "%.0f / %.0f", a * 1000, b * 1000 }' \
	"$tmp/openssl.out")

busy_after=$(cpu_busy)
[ "$busy_after" -le 10 ] ||
	log "WARNING: the machine is ${busy_after}% busy after the run"

# --- the table ---------------------------------------------------------------
# row METRIC TKMS PEER GOAL: the ratio is TKMS/PEER; GOAL ">=X" on the ratio,
# "<X" on the tkms figure itself, "-" for none. The peer of a UB latency at
# half peak is NC's p99 at the same rate.
row() {
	awk -v m="$1" -v t="$2" -v p="$3" -v g="$4" 'BEGIN {
		num = "^[0-9]+([.][0-9]+)?$"
		r = (t ~ num && p ~ num && p > 0) ? sprintf("%.2f", t / p) : "-"
		v = "-"
		if (g ~ /^>=/) v = (r != "-" && r + 0 >= substr(g, 3) + 0) ? \
			"met" : "MISSED"
		if (g ~ /^</) v = (t + 0 < substr(g, 2) + 0) ? "met" : "MISSED"
		printf "%-44s %12s %12s %6s %8s %7s\n", m, t, p, r, g, v }'
}
echo
echo "tkms-hsmd $(git rev-parse --short HEAD 2>/dev/null || echo '?') on" \
	"$(uname -m), $cores cores, $(date -u +%Y-%m-%dT%H:%MZ);" \
	"$secs s per figure, $conns connections, pipeline $depth;" \
	"other load ${busy_before}% before, ${busy_after}% after"
printf '%-44s %12s %12s %6s %8s %7s\n' metric tkms peer ratio goal verdict
row "NC req/s, P=$depth (peer: redis PING)" "$(ops nc_p)" \
	"$(rops redis_p)" ">=1.0"
row "UB req/s, P=$depth (peer: redis PING)" "$(ops ub_p)" \
	"$(rops redis_p)" ">=1.0"
row "NC req/s, P=1 (peer: redis PING -P 1)" "$(ops nc_1)" \
	"$(rops redis_1)" ">=1.0"
row "UB req/s, P=1 (peer: redis PING -P 1)" "$(ops ub_1)" \
	"$(rops redis_1)" ">=1.0"
row "EW SM2 sign/s (peer: openssl sm2 sign)" "$(ops ew)" "$os_sm2" ">=0.9"
row "EP RSA-2048 decrypt/s (peer: openssl sign)" "$(ops ep)" "$os_rsa" \
	">=0.9"
row "UB p99 ms at $(ops ub_half)/s (half P=$depth peak)" "$(p99 ub_half)" \
	"$(p99 nc_half)" "<1"
row "UB p99 ms at $(ops ub_half1)/s (half P=1 peak)" "$(p99 ub_half1)" \
	"$(p99 nc_half1)" "<1"
row "RSS MB, 8192 stored keys, after load" "$rss_keys" - "<50"
row "mix $mix ops/s" "$(ops mix)" - -
row "U3 ops/s" "$(ops u3)" - -
row "p99 ms: NC P=$depth (peer: redis)" "$(p99 nc_p)" "$(rp99 redis_p)" -
row "p99 ms: UB P=$depth (peer: redis)" "$(p99 ub_p)" "$(rp99 redis_p)" -
row "p99 ms: NC P=1 (peer: redis)" "$(p99 nc_1)" "$(rp99 redis_1)" -
row "p99 ms: UB P=1 (peer: redis)" "$(p99 ub_1)" "$(rp99 redis_1)" -
row "p99 ms: EW, P=1" "$(p99 ew)" - -
row "p99 ms: EP, P=1" "$(p99 ep)" - -
row "server CPU us/req: NC P=$depth (peer: redis)" "$(us_op nc_p)" \
	"$(rus_op redis_p)" -
row "server CPU us/req: UB P=$depth (peer: redis)" "$(us_op ub_p)" \
	"$(rus_op redis_p)" -
row "server CPU us/req: NC P=1 (peer: redis)" "$(us_op nc_1)" \
	"$(rus_op redis_1)" -
row "server CPU us/req: UB P=1 (peer: redis)" "$(us_op ub_1)" \
	"$(rus_op redis_1)" -
row "server CPU us/req: U3 P=$depth" "$(us_op u3)" - -
row "server CPU us/req: EW (peer: openssl, 1 core)" "$(us_op ew)" \
	"$(awk -v r="$os_sm2" -v c="$cores" 'BEGIN { printf "%.1f", 1e6 * c / r }')" -
row "server CPU us/req: EP (peer: openssl, 1 core)" "$(us_op ep)" \
	"$(awk -v r="$os_rsa" -v c="$cores" 'BEGIN { printf "%.1f", 1e6 * c / r }')" -
row "RSS MB, empty store" "$rss_empty" - -
row "RSS MB, bench daemon after all runs" "$rss_main" - -
row "A0 mode 2 stores/s (4 connections)" "$store_rate" - -
row "openssl des-ede3 B/s, 16 B / 8 KiB bufs" - "$os_des" -
