// Cache-blocked SGEMM in the layout popularised by GotoBLAS / BLIS (Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", 2008): B packed into kc x 16 panels, A into 6 x kc
// panels, and a 6 x 16 register tile of 12 AVX2 accumulators updated by FMA.
#include "sgemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace emrl_native {
namespace {

constexpr int MR = 6;    // rows of the register tile
constexpr int NR = 16;   // columns of the register tile (2 x 8 floats)
constexpr int KC = 256;  // depth of a packed block: a 6 x 256 A panel + a 256 x 16 B panel fit L1
constexpr int MC = 120;  // rows of the packed A block (120 x 256 floats = 120 KB, in L2)
constexpr int NC = 2048; // columns of the packed B block (256 x 2048 floats = 2 MB, in L3)

// Packed B block: panels of kc x NR, zero-padded past column n.
void PackB(const GemmArgs& g, int pc, int kc, int jc, int nc, float* dst) {
  for (int jp = 0; jp < nc; jp += NR) {
    const int cols = std::min(NR, nc - jp);
    for (int p = 0; p < kc; p++) {
      const float* src = g.b + (pc + p) * g.rsB + (jc + jp) * g.csB;
      float* out = dst + jp * kc + p * NR;
      if (g.csB == 1 && cols == NR) {
        std::memcpy(out, src, NR * sizeof(float));
      } else {
        int j = 0;
        for (; j < cols; j++) out[j] = src[j * g.csB];
        for (; j < NR; j++) out[j] = 0.f;
      }
    }
  }
}

// Packed A block: panels of MR x kc stored column by column (MR values per p), zero-padded past row m.
void PackA(const GemmArgs& g, int ic, int mc, int pc, int kc, float* dst) {
  for (int ip = 0; ip < mc; ip += MR) {
    const int rows = std::min(MR, mc - ip);
    float* out = dst + ip * kc;
    for (int p = 0; p < kc; p++) {
      const float* src = g.a + (ic + ip) * g.rsA + (pc + p) * g.csA;
      int i = 0;
      for (; i < rows; i++) out[p * MR + i] = src[i * g.rsA];
      for (; i < MR; i++) out[p * MR + i] = 0.f;
    }
  }
}

// tile[6 x 16] = sum_p a[p, 0..5] * b[p, 0..15] over packed panels; accumulate adds to C.
inline void MicroKernel(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    __m256 av = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
    a += MR;
    b += NR;
  }
  const __m256 rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < MR; i++) {
    float* ci = c + i * ldc;
    if (accumulate) {
      _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), rows[i][0]));
      _mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8), rows[i][1]));
    } else {
      _mm256_storeu_ps(ci, rows[i][0]);
      _mm256_storeu_ps(ci + 8, rows[i][1]);
    }
  }
}

}  // namespace

bool CpuSupported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void Sgemm(const GemmArgs& g, int j0, int j1) {
  if (g.m <= 0 || j1 <= j0) return;
  if (g.k <= 0) {
    for (int i = 0; i < g.m; i++) {
      for (int j = j0; j < j1; j++) g.c[i * g.ldc + j] = g.bias ? g.bias[j] : 0.f;
    }
    return;
  }
  // Per-thread scratch, grown once: packed A block, packed B block, and one edge tile.
  thread_local std::vector<float> packA, packB;
  packA.resize(static_cast<size_t>(MC) * KC);
  packB.resize(static_cast<size_t>(KC) * NC);
  alignas(32) float edge[MR * NR];
  for (int jc = j0; jc < j1; jc += NC) {
    const int nc = std::min(NC, j1 - jc);
    for (int pc = 0; pc < g.k; pc += KC) {
      const int kc = std::min(KC, g.k - pc);
      const bool accumulate = pc > 0;  // later depth blocks add to C, as in a plain p = 0..k-1 loop
      PackB(g, pc, kc, jc, nc, packB.data());
      for (int ic = 0; ic < g.m; ic += MC) {
        const int mc = std::min(MC, g.m - ic);
        PackA(g, ic, mc, pc, kc, packA.data());
        for (int jr = 0; jr < nc; jr += NR) {
          const int cols = std::min(NR, nc - jr);
          const float* bp = packB.data() + jr * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            const int rows = std::min(MR, mc - ir);
            const float* ap = packA.data() + ir * kc;
            float* ct = g.c + (ic + ir) * g.ldc + jc + jr;
            if (rows == MR && cols == NR) {
              MicroKernel(kc, ap, bp, ct, g.ldc, accumulate);
            } else {
              // Edge tile: compute the full 6 x 16 tile into scratch, copy only the valid part.
              MicroKernel(kc, ap, bp, edge, NR, false);
              for (int i = 0; i < rows; i++) {
                float* ci = ct + i * g.ldc;
                const float* ei = edge + i * NR;
                if (accumulate) {
                  for (int j = 0; j < cols; j++) ci[j] += ei[j];
                } else {
                  for (int j = 0; j < cols; j++) ci[j] = ei[j];
                }
              }
            }
          }
        }
      }
    }
  }
  if (g.bias) {
    for (int i = 0; i < g.m; i++) {
      float* ci = g.c + i * g.ldc;
      for (int j = j0; j < j1; j++) ci[j] += g.bias[j];
    }
  }
}

}  // namespace emrl_native
