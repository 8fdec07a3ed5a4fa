#pragma once
// The GEMM of the convolution kernels: C [M, N] = op(A) B (+ C), every matrix row-major
// and contiguous, op(A) = A [M, K] or A^T for A [K, M].
//
// The convolutions' products are small and lopsided: a patch matrix B of a chunk of images (at
// most ~1 MiB, just written by im2col and still in L2) times a weight matrix with tens of rows. A
// general GEMM (Eigen) first copies B into its own packed layout and zeroes C before it
// accumulates; at these shapes that copy costs about a quarter of the multiply itself (forward of
// a 32 -> 32 stride-2 conv, one thread: GEMM 50%, packing 15%; its input gradient spent 16% in
// zeroing dcol). Here B is read in place, by a register block of the tier the program runs on
// (kernels/tier/gemm.inl: 8 rows x 48 columns with AVX-512, 6 x 16 with AVX2, 8 x 12 or 6 x 8 in
// 4-float vectors on the generic tier):
//
//   for each panel of (at most) one block's width of columns of B and C:
//     for each slice of k (192 with AVX-512):
//       for each block of rows of op(A):
//         acc = 0                                                  (registers)
//         for k in slice:  acc += op(A)[rows, k] (x) B[k, panel]   (one broadcast per row, one load per vector)
//         C[rows, panel] = acc (+ C: always after the first slice)
//
// B's rows are read a panel at a time with a stride of N floats; K is taken a slice at a time
// (accumulating into C after the first pass), so that the panel slice the row blocks reuse stays
// in L1. op(A) is read in place when it is A itself (one broadcast from each row); A^T, and a
// last block of fewer rows, are first copied into [K][rows] (zero-filled) so that each step
// broadcasts from one contiguous line. The column tail is handled with masked loads and stores,
// so nothing outside B or C is touched. Summation runs in k order with one FMA per term.
//
// conv_gemm_rows takes B as a table of row pointers instead (rows shared between several
// products, kernels/conv_phases.hpp); the kernel is the same, with one pointer load per k.
//
// With fewer rows than one block (where the block would mostly compute zeros) this is
// kernels::gemm (Eigen). Called outside an OpenMP region the panels are split over the threads;
// inside one it runs on the calling thread.
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "tinydiff/kernels/gemm.hpp"
#include "tinydiff/kernels/scratch.hpp"
#include "tinydiff/kernels/tiers.hpp"

namespace tinydiff::kernels {

namespace conv_gemm_detail {
// C = op(A) B (+ C) with B either a contiguous [K, N] (b) or a table of K row pointers (b_rows).
inline void run(bool trans_a, int64_t M, int64_t N, int64_t K, const float* a, const float* b,
                const float* const* b_rows, float* c, bool accumulate) {
  const TierKernels& tier = tier_kernels();
  if (M >= tier.gemm_rows && K > 0 && N > 0) {
    GemmJob job;
    job.trans_a = trans_a, job.M = M, job.N = N, job.K = K;
    job.a = a, job.b = b, job.b_rows = b_rows, job.c = c, job.accumulate = accumulate;
    tier.gemm_prepare(job);
    const int64_t panels = tier.gemm_panel_count(N);
    const bool split = !omp_in_parallel() && omp_get_max_threads() > 1 && panels > 1 && M * N * K >= (int64_t{1} << 20);
    if (!split) {
      tier.gemm_panels(job, 0, panels);
      return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < panels; ++p) tier.gemm_panels(job, p, p + 1);
    return;
  }
  if (!b_rows) {
    gemm(trans_a, false, M, N, K, 1.0f, a, b, accumulate ? 1.0f : 0.0f, c);
    return;
  }
  float* gathered = thread_scratch(ScratchSlot::kPackedA, static_cast<size_t>(K * N));  // the rows side by side, for Eigen
  for (int64_t k = 0; k < K; ++k) std::copy(b_rows[k], b_rows[k] + N, gathered + k * N);
  gemm(trans_a, false, M, N, K, 1.0f, a, gathered, accumulate ? 1.0f : 0.0f, c);
}
}  // namespace conv_gemm_detail

inline void conv_gemm(bool trans_a, int64_t M, int64_t N, int64_t K, const float* a, const float* b, float* c,
                      bool accumulate) {
  conv_gemm_detail::run(trans_a, M, N, K, a, b, nullptr, c, accumulate);
}

// The same with B given as a table of row pointers: row k of B is b_rows[k][0, N). For patch
// matrices whose rows are shared: the phases of a strided input gradient read overlapping sets of
// shifted copies of dy (kernels/conv_phases.hpp). One pointer load per k, next to a block of FMAs.
inline void conv_gemm_rows(bool trans_a, int64_t M, int64_t N, int64_t K, const float* a, const float* const* b_rows,
                           float* c, bool accumulate) {
  conv_gemm_detail::run(trans_a, M, N, K, a, nullptr, b_rows, c, accumulate);
}

}  // namespace tinydiff::kernels
