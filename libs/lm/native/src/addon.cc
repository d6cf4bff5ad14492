// N-API binding of emrl's native SGEMM. JS API (libs/lm/src/native-gemm/load.ts types it):
//   sgemm(heap: Float32Array, offsets: Int32Array, m, n, k, transA, transB, threads, biasOffset): void
// heap is a view of the tfjs-wasm heap (HEAPF32); offsets holds (a, b, c) element offsets into heap
// for each batch entry. C[m, n] = op(A) op(B) (+ bias[n] at heap[biasOffset..] when biasOffset >= 0)
// is written in place, nothing is copied in or out.
#include <node_api.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "sgemm.h"

namespace {

using emrl_native::GemmArgs;

// Below this many multiply-adds a second thread costs more to start than it saves.
constexpr double kMinMacsForThreads = 1 << 20;

napi_value Throw(napi_env env, const std::string& msg, bool range = false) {
  if (range) napi_throw_range_error(env, nullptr, ("emrl native sgemm: " + msg).c_str());
  else napi_throw_type_error(env, nullptr, ("emrl native sgemm: " + msg).c_str());
  return nullptr;
}

bool GetTyped(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, data, &buffer, &offset) != napi_ok) return false;
  return type == want;
}

bool GetInt(napi_env env, napi_value v, int32_t* out) { return napi_get_value_int32(env, v, out) == napi_ok; }

void RunEntries(const std::vector<GemmArgs>& entries, size_t from, size_t to) {
  for (size_t e = from; e < to; e++) emrl_native::Sgemm(entries[e], 0, entries[e].n);
}

napi_value SgemmJs(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 9) return Throw(env, "expected (heap, offsets, m, n, k, transA, transB, threads, biasOffset)");
  float* heap;
  size_t heapLen;
  int32_t* offs;
  size_t offsLen;
  if (!GetTyped(env, argv[0], napi_float32_array, reinterpret_cast<void**>(&heap), &heapLen)) return Throw(env, "heap must be a Float32Array (the wasm HEAPF32 view)");
  if (!GetTyped(env, argv[1], napi_int32_array, reinterpret_cast<void**>(&offs), &offsLen) || offsLen % 3 != 0) return Throw(env, "offsets must be an Int32Array of (a, b, c) triples");
  int32_t m, n, k, threads;
  bool transA, transB;
  if (!GetInt(env, argv[2], &m) || !GetInt(env, argv[3], &n) || !GetInt(env, argv[4], &k) || m < 0 || n < 0 || k < 0) return Throw(env, "m, n, k must be non-negative integers");
  if (napi_get_value_bool(env, argv[5], &transA) != napi_ok || napi_get_value_bool(env, argv[6], &transB) != napi_ok) return Throw(env, "transA, transB must be booleans");
  if (!GetInt(env, argv[7], &threads) || threads < 1 || threads > 2) return Throw(env, "threads must be 1 or 2");
  int32_t biasOffset;
  if (!GetInt(env, argv[8], &biasOffset)) return Throw(env, "biasOffset must be an integer (-1: no bias)");
  if (biasOffset >= 0 && int64_t(biasOffset) + n > int64_t(heapLen)) return Throw(env, "bias reaches outside the heap", true);
  const float* bias = biasOffset >= 0 ? heap + biasOffset : nullptr;
  if (!emrl_native::CpuSupported()) return Throw(env, "this CPU lacks AVX2/FMA; use the wasm kernels");

  const int64_t sizeA = int64_t(m) * k, sizeB = int64_t(k) * n, sizeC = int64_t(m) * n;
  const size_t count = offsLen / 3;
  std::vector<GemmArgs> entries(count);
  for (size_t e = 0; e < count; e++) {
    const int64_t oa = offs[3 * e], ob = offs[3 * e + 1], oc = offs[3 * e + 2];
    if (oa < 0 || ob < 0 || oc < 0 || oa + sizeA > int64_t(heapLen) || ob + sizeB > int64_t(heapLen) || oc + sizeC > int64_t(heapLen)) {
      return Throw(env, "entry " + std::to_string(e) + " reaches outside the heap (offsets " + std::to_string(oa) + ", " + std::to_string(ob) + ", " + std::to_string(oc) + ", heap " + std::to_string(heapLen) + " floats)", true);
    }
    GemmArgs& g = entries[e];
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = heap + oa;
    g.rsA = transA ? 1 : k;  // A stored [m, k], or [k, m] when transposed
    g.csA = transA ? m : 1;
    g.b = heap + ob;
    g.rsB = transB ? 1 : n;  // B stored [k, n], or [n, k] when transposed
    g.csB = transB ? k : 1;
    g.c = heap + oc;
    g.ldc = n;
    g.bias = bias;
  }
  const double macs = double(count) * m * n * k;
  if (threads == 1 || macs < kMinMacsForThreads) {
    RunEntries(entries, 0, count);
  } else if (count >= 2) {
    // Batch entries split between this thread and one more (disjoint outputs).
    const size_t half = count / 2;
    std::thread other(RunEntries, std::cref(entries), half, count);
    RunEntries(entries, 0, half);
    other.join();
  } else {
    // One product: columns split at a multiple of the 16-column tile.
    const int split = ((n / 2 + 15) / 16) * 16;
    const GemmArgs& g = entries[0];
    if (split <= 0 || split >= n) {
      emrl_native::Sgemm(g, 0, n);
    } else {
      std::thread other([&g, split, n] { emrl_native::Sgemm(g, split, n); });
      emrl_native::Sgemm(g, 0, split);
      other.join();
    }
  }
  return nullptr;
}

napi_value CpuSupportedJs(napi_env env, napi_callback_info) {
  napi_value result;
  napi_get_boolean(env, emrl_native::CpuSupported(), &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemm", nullptr, SgemmJs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"cpuSupported", nullptr, CpuSupportedJs, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
