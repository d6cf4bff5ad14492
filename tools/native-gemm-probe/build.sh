#!/usr/bin/env bash
# Builds build/Release/native_gemm_probe.node. Usage: bash tools/native-gemm-probe/build.sh [--gxx]
# 1. node-gyp (the copy bundled with npm; no download) against the headers of the running node,
#    found under its install prefix (Debian: /usr/include/node), so no network is needed;
# 2. if node-gyp is missing or fails (or with --gxx): g++ directly against the same headers.
set -euo pipefail
cd "$(dirname "$0")"
prefix="$(node -p 'require("path").resolve(process.execPath, "../..")')"
if [[ ! -f "$prefix/include/node/node_api.h" ]]; then
  echo "native-gemm-probe: no node headers at $prefix/include/node (Debian: apt-get install libnode-dev, or the nodejs package's headers)" >&2
  exit 1
fi
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
if [[ "${1:-}" != "--gxx" && -f "$gyp" ]]; then
  if node "$gyp" rebuild --nodedir="$prefix" --loglevel=warn; then
    echo "native-gemm-probe: built with node-gyp $(node "$gyp" --version) against $prefix/include/node"
    exit 0
  fi
  echo "native-gemm-probe: node-gyp failed, trying g++ directly" >&2
fi
mkdir -p build/Release
g++ -O3 -mavx2 -mfma -std=c++17 -fPIC -shared -pthread -DNAPI_VERSION=8 -DNODE_GYP_MODULE_NAME=native_gemm_probe \
  -I"$prefix/include/node" src/addon.cc src/sgemm.cc -o build/Release/native_gemm_probe.node
echo "native-gemm-probe: built with $(g++ --version | head -1) against $prefix/include/node"
