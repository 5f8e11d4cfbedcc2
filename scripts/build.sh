#!/usr/bin/env bash
# Configures and builds clrp into $CLRP_BUILD_DIR (default: build/).
# Extra arguments go to the CMake configure step, e.g. -DCLRP_SANITIZE=ON.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CLRP_BUILD_DIR:-$ROOT/build}"
JOBS="${CLRP_JOBS:-$(nproc)}"
if [[ ! -f "$BUILD/build.ninja" || $# -gt 0 ]]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="${CLRP_BUILD_TYPE:-RelWithDebInfo}" "$@"
fi
cmake --build "$BUILD" -j "$JOBS"
