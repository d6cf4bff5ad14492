#!/usr/bin/env bash
# Builds libs/lm/native/build/Release/emrl_native_gemm.node, emrl's optional native GEMM (issue #15).
#
#   bash libs/lm/native/build.sh            # developers: fails loudly, build output on the terminal
#   bash libs/lm/native/build.sh --install  # npm install (root postinstall): ALWAYS exits 0 and prints
#                                           # one line, built or not built and why (log: libs/lm/native/build.log)
#
# 1. node-gyp, the copy bundled with npm, with --nodedir = the running node's install prefix (its
#    include/node holds the headers; Debian's nodejs: /usr/include/node), so nothing is downloaded;
# 2. if node-gyp is missing or fails: g++ (or $CXX) directly against the same headers.
# Without a binary emrl keeps its wasm kernels (libs/lm/src/native-gemm/load.ts says why).
set -uo pipefail
cd "$(dirname "$0")"
mode="${1:-}"
say() { echo "emrl native GEMM: $*"; }

not_built() {
  if [[ "$mode" == "--install" ]]; then
    say "not built ($1); emrl uses its wasm kernels"
    exit 0
  fi
  say "not built: $1" >&2
  exit 1
}

arch="$(node -p process.arch)"
[[ "$arch" == "x64" ]] || not_built "CPU architecture $arch; the addon is x86-64 AVX2/FMA only"
prefix="$(node -p 'require("path").resolve(process.execPath, "../..")')"
[[ -f "$prefix/include/node/node_api.h" ]] || prefix=/usr
[[ -f "$prefix/include/node/node_api.h" ]] || not_built "no Node headers at $prefix/include/node (Debian: apt-get install libnode-dev)"

rm -rf build
mkdir -p build
log=build.log
[[ "$mode" == "--install" ]] || log=/dev/stderr
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
if [[ -f "$gyp" ]] && command -v make >/dev/null && command -v python3 >/dev/null; then
  : >"$log" 2>/dev/null || true
  if node "$gyp" rebuild --nodedir="$prefix" --loglevel=warn >>"$log" 2>&1; then
    say "built with node-gyp $(node "$gyp" --version) against $prefix/include/node"
    exit 0
  fi
  echo "node-gyp failed, trying the C++ compiler directly" >>"$log"
fi
cxx="${CXX:-g++}"
command -v "$cxx" >/dev/null || not_built "no C++ compiler ($cxx) and node-gyp unavailable or failed; see libs/lm/native/build.log"
mkdir -p build/Release
if "$cxx" -O3 -mavx2 -mfma -std=c++17 -fPIC -shared -pthread -DNAPI_VERSION=8 -DNODE_GYP_MODULE_NAME=emrl_native_gemm \
  -I"$prefix/include/node" src/addon.cc src/sgemm.cc -o build/Release/emrl_native_gemm.node >>"$log" 2>&1; then
  say "built with $("$cxx" --version | head -1) against $prefix/include/node"
  exit 0
fi
rm -f build/Release/emrl_native_gemm.node
not_built "$cxx failed; see libs/lm/native/build.log"
