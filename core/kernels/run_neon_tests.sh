#!/usr/bin/env bash
# Cross-compiles the int8 GEMM tests for aarch64 and runs them under qemu (-cpu max has the
# dot-product extension), so the NEON and NEON-dotprod kernels are checked on an x86 machine.
# The sparse conv / linear tests run too (their scalar kernels serve ARM).
#
#   core/kernels/run_neon_tests.sh            (from anywhere; needs aarch64-linux-gnu-g++,
#                                              qemu-aarch64 and /usr/src/googletest)
#
# There is no aarch64 libgtest on Debian, so GoogleTest is compiled from its sources
# (/usr/src/googletest, shipped by libgtest-dev) with the cross compiler: the same test file then
# runs on both architectures. Builds in a temporary directory, removed afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CXX="${CXX_AARCH64:-aarch64-linux-gnu-g++}"
QEMU="${QEMU_AARCH64:-qemu-aarch64}"
SYSROOT="${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}"
GTEST_SRC="${GTEST_SRC:-/usr/src/googletest/googletest}"

for tool in "$CXX" "$QEMU"; do
  command -v "$tool" >/dev/null || { echo "run_neon_tests: '$tool' not found" >&2; exit 2; }
done
[ -f "$GTEST_SRC/src/gtest-all.cc" ] || {
  echo "run_neon_tests: GoogleTest sources not found in $GTEST_SRC (apt install libgtest-dev)" >&2
  exit 2
}

BUILD="$(mktemp -d "${TMPDIR:-/tmp}/nibble-neon.XXXXXX")"
trap 'rm -rf "$BUILD"' EXIT
FLAGS=(-O2 -std=c++17 -fopenmp -pthread)

echo "== building GoogleTest for aarch64 (in $BUILD)"
"$CXX" "${FLAGS[@]}" -I"$GTEST_SRC/include" -I"$GTEST_SRC" -c "$GTEST_SRC/src/gtest-all.cc" \
  -o "$BUILD/gtest-all.o"
"$CXX" "${FLAGS[@]}" -I"$GTEST_SRC/include" -c "$GTEST_SRC/src/gtest_main.cc" \
  -o "$BUILD/gtest_main.o"

echo "== building the int8 kernels and tests for aarch64"
"$CXX" "${FLAGS[@]}" -Wall -Wextra -Werror -I"$ROOT" -I"$GTEST_SRC/include" \
  "$ROOT"/core/kernels/*.cpp "$ROOT/core/cpu_features.cpp" "$ROOT/core/error.cpp" \
  "$ROOT/tests/core/kernels/int8_gemm_test.cpp" "$ROOT/tests/core/kernels/int8_sparse_conv_test.cpp" \
  "$ROOT/tests/core/kernels/int8_sparse_linear_test.cpp" "$BUILD/gtest-all.o" "$BUILD/gtest_main.o" \
  -o "$BUILD/int8_gemm_test"

echo "== running under $QEMU -cpu max"
set +e
OMP_NUM_THREADS=2 "$QEMU" -cpu max -L "$SYSROOT" "$BUILD/int8_gemm_test" --gtest_color=no \
  | tee "$BUILD/log.txt"
status=${PIPESTATUS[0]}
set -e

echo
echo "== kernels that ran (bit-exact vs scalar and the int64 loop):"
grep '^\[ kernel' "$BUILD/log.txt" || echo "   none!"
if grep -q '^\[ kernel   \] neon:' "$BUILD/log.txt" &&
   grep -q '^\[ kernel   \] neondot:' "$BUILD/log.txt" && [ "$status" -eq 0 ]; then
  echo "== NEON TESTS PASSED (neon and neondot kernels ran under qemu)"
else
  [ "$status" -eq 0 ] && status=1
  echo "== NEON TESTS FAILED (exit status $status: see the failures above, or a NEON kernel did not run)"
fi
exit "$status"
