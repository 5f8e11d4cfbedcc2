#!/usr/bin/env bash
# Packs a built clrp for a GPU machine that has CUDA and PyTorch 2.11 (cu130)
# but not this build's MPI, HDF5, PCRE2 and utf8proc: the binaries (debug
# info stripped) and every shared library they need that is neither glibc nor
# libtorch/CUDA, plus env.sh, which points the loader at the bundle, the
# machine's torch/lib and its pip-installed NVIDIA libraries.
#
#   scripts/gpu_bundle.sh [OUT]      (default OUT: .devbundle; build from $CLRP_BUILD_DIR)
#   then, on the GPU machine:  source OUT/env.sh && OUT/bin/clrp env
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CLRP_BUILD_DIR:-$ROOT/build}"
OUT="${1:-$ROOT/.devbundle}"
rm -rf "$OUT" && mkdir -p "$OUT/bin" "$OUT/lib"
for tool in clrp clrp_lrp_batch clrp_forward_logits; do
  [[ -x "$BUILD/$tool" ]] && objcopy --strip-debug "$BUILD/$tool" "$OUT/bin/$tool"
done
objcopy --strip-debug "$BUILD/src/libclrp.so" "$OUT/lib/libclrp.so"
# Libraries the GPU machine brings itself (glibc, libstdc++, torch, CUDA, NCCL).
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libstdc\+\+|libgcc_s|libtorch|libc10|libcudart|libnccl|libcuda\.|libgomp|libclrp)'
ldd "$BUILD/clrp" "$BUILD/src/libclrp.so" | awk '/=> \//{print $1, $3}' | sort -u |
  while read -r name path; do
    [[ "$name" =~ $skip ]] || cp -L "$path" "$OUT/lib/$name"
  done
cat >"$OUT/env.sh" <<'ENV'
# Source me on the GPU machine: the bundle's libraries, then torch's and NVIDIA's.
_bundle="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_site="$(python3 -c 'import site; print(site.getsitepackages()[0])')"
_nv="$(find "$_site/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':')"
export LD_LIBRARY_PATH="$_bundle/lib:$_site/torch/lib:${_nv}${LD_LIBRARY_PATH:-}"
export PATH="$_bundle/bin:$PATH"
unset _bundle _site _nv
ENV
du -sh "$OUT"
