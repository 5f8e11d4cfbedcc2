#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, a small standalone CMake project)
# with clang and runs them.
#   scripts/fuzz.sh --short        bounded smoke run of every fuzzer (part of scripts/test.sh)
#   scripts/fuzz.sh --runs N       N executions per fuzzer, figures printed per target
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CLRP_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
mode="${1:---short}"
if [[ ! -f "$BUILD/build.ninja" ]]; then
  cmake -S "$ROOT/tests/fuzz" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc)"
case "$mode" in
  --short)
    ctest --test-dir "$BUILD" --output-on-failure ;;
  --runs)
    runs="${2:?--runs needs a number}"
    for fuzzer in "$BUILD"/fuzz/fuzz_*; do
      name="$(basename "$fuzzer")"
      corpus="$ROOT/tests/fuzz/corpus/${name#fuzz_}"
      scratch="$(mktemp -d)"
      echo "== $name: $runs runs"
      extra=()
      [[ -f "$ROOT/tests/fuzz/${name#fuzz_}.dict" ]] && extra+=("-dict=$ROOT/tests/fuzz/${name#fuzz_}.dict")
      "$fuzzer" -runs="$runs" -print_final_stats=1 "${extra[@]}" "$scratch" "$corpus" 2>&1 | grep -E "stat::|Done|ERROR|SUMMARY" || true
      rm -rf "$scratch"
    done ;;
  *) echo "usage: scripts/fuzz.sh [--short | --runs N]" >&2; exit 2 ;;
esac
