{
  "targets": [
    {
      "target_name": "emrl_native_gemm",
      "sources": ["src/addon.cc", "src/sgemm.cc"],
      "cflags_cc": ["-O3", "-mavx2", "-mfma", "-std=c++17", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
