#!/usr/bin/env bash
# The probe's addon is emrl's (libs/lm/native); this builds it, failing loudly. Usage: bash tools/native-gemm-probe/build.sh
exec bash "$(dirname "$0")/../../libs/lm/native/build.sh"
