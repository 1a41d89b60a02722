#!/usr/bin/env bash
# Run every test of tkms: install what is missing, build the debug and the
# asan (AddressSanitizer + UndefinedBehaviorSanitizer) presets, run ctest in
# both (the debug build also runs the unit tests under valgrind), and check
# formatting. Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --deps-only

for preset in debug asan; do
	echo "== build $preset"
	cmake --preset "$preset" >/dev/null
	cmake --build --preset "$preset" -j "$(nproc)"
	echo "== test $preset"
	ctest --preset "$preset" -j "$(nproc)"
done

echo "== format"
scripts/check-format.sh
echo "all tests passed"
