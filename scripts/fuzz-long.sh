#!/usr/bin/env bash
# The long form of a fuzz target (ctest long.fuzz.NAME in the fuzz preset,
# docs/fuzzing.md): run the libFuzzer binary for TKMS_FUZZ_MINUTES minutes
# (default 10) on a scratch copy of its corpus, so that what it finds does
# not land in the repository. A crash, leak, sanitizer report or timeout
# fails it and leaves the input in the printed directory.
#   scripts/fuzz-long.sh BINARY CORPUS_DIR
set -euo pipefail
bin=$1
corpus=$2
minutes=${TKMS_FUZZ_MINUTES:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/tkms-fuzz-long.XXXXXX")
mkdir -p "$work/corpus" "$work/crashes"
cp "$corpus"/* "$work/corpus/"
echo "fuzzing $(basename "$bin") for $minutes min in $work"
"$bin" "$work/corpus" -max_total_time=$((minutes * 60)) -max_len=8192 \
	-timeout=60 -print_final_stats=1 -artifact_prefix="$work/crashes/"
rm -rf "$work"
