// AVX2/FMA single-precision GEMM, C = op(A) op(B), emrl's native kernel addon (issue #15).
// Operands are addressed by element strides, so transposed operands are read in place.
#pragma once
#include <cstddef>

namespace emrl_native {

struct GemmArgs {
  int m, n, k;
  const float* a;
  std::ptrdiff_t rsA, csA;  // A(i, p) = a[i * rsA + p * csA]
  const float* b;
  std::ptrdiff_t rsB, csB;  // B(p, j) = b[p * rsB + j * csB]
  float* c;
  std::ptrdiff_t ldc;       // C(i, j) = c[i * ldc + j], overwritten (beta = 0)
  const float* bias;        // optional [n] row added to every row of C (tf.fused.matMul), or nullptr
};

// True when the CPU has AVX2 and FMA (checked at run time; the addon is built with -mavx2 -mfma).
bool CpuSupported();

// Columns [j0, j1) of C; j0 must be a multiple of 16 except when it is 0. Single-threaded.
void Sgemm(const GemmArgs& g, int j0, int j1);

}  // namespace emrl_native
