#pragma once
// The GEMM of the convolution kernels: C [M, N] = op(A) B (+ C), every matrix row-major
// and contiguous, op(A) = A [M, K] or A^T for A [K, M].
//
// The convolutions' products are small and lopsided: a patch matrix B of a chunk of
// images (at most ~1 MiB, just written by im2col and still in L2) times a weight matrix
// with tens of rows. A general GEMM (Eigen) first copies B into its own packed layout and
// zeroes C before it accumulates; at these shapes that copy costs about a quarter of the
// multiply itself (forward of a 32 -> 32 stride-2 conv, one thread: GEMM 50%, packing 15%;
// its input gradient spends 16% in zeroing dcol). Here B is read in place:
//
//   for each panel of (at most) 48 columns of B and C:
//     for each slice of (at most) 192 k:
//       for each block of 8 rows of op(A):
//         acc [8 x 48] = 0                              (24 AVX-512 registers)
//         for k in slice:  acc += op(A)[rows, k] (x) B[k, panel]   (8 broadcasts, 3 loads, 24 FMAs)
//         C[rows, panel] = acc (+ C: always after the first slice)
//
// B's rows are read 48 columns at a time with a stride of N floats; K is taken 192 rows at a
// time (accumulating into C after the first pass), so that the panel slice the row blocks
// reuse stays in L1 (a few percent at K = 256-576). op(A) is read in place when it is A itself
// (one broadcast from each of 8 rows); A^T, and a last block of fewer than 8 rows, are first
// copied into [K][8] (zero-filled) so that each step broadcasts from one contiguous line.
// The column tail is handled with masked loads and stores, so nothing outside B or C is
// touched. Summation runs in k order with one FMA per term.
//
// conv_gemm_rows takes B as a table of row pointers instead (rows shared between several
// products, kernels/conv_phases.hpp); the kernel is the same, with one pointer load per k.
//
// Without AVX-512, or with fewer than 8 rows (where 8-row blocks would mostly compute
// zeros), this is kernels::gemm (Eigen). Called outside an OpenMP region the panels
// are split over the threads; inside one it runs on the calling thread.
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "tinydiff/kernels/gemm.hpp"
#include "tinydiff/kernels/scratch.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace tinydiff::kernels {

#if defined(__AVX512F__)
namespace conv_gemm_detail {

constexpr int kRows = 8;      // rows of op(A) and C per block
constexpr int kVectors = 3;   // the most 16-float vectors per panel row
constexpr int64_t kDepth = 192;  // k per pass: a 192 x 48 panel of B (36 KiB) stays in L1 across the row blocks

inline __mmask16 first_lanes(int64_t count) {
  return static_cast<__mmask16>(count >= 16 ? 0xFFFFu : (1u << count) - 1u);
}

// C[0..rows, 0..16*NV) (+)= op(A)[block] B[:, panel]. A is either packed ([K][8], kPacked)
// or 8 rows of A itself, `lda` apart. Row k of B's panel starts at b + k * ldb, or, with a row
// table (b_rows not null), at b_rows[k] + column. The last vector of the panel is masked by `last`.
// All loops have constant trip counts and are unrolled, so the 8 x NV accumulators live in
// registers (a loop with a variable bound over them would send them to the stack).
template <int NV, bool kPacked, bool kRowTable>
inline void block(const float* a, int64_t lda, const float* b, int64_t ldb, const float* const* b_rows, int64_t column,
                  int64_t K, float* c, int64_t ldc, int rows, __mmask16 last, bool accumulate) {
  __m512 acc[kRows][NV];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 bk[NV];
    const float* bk_row = kRowTable ? b_rows[k] + column : b + k * ldb;
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j)
      bk[j] = j == NV - 1 ? _mm512_maskz_loadu_ps(last, bk_row + 16 * j) : _mm512_loadu_ps(bk_row + 16 * j);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 ark = _mm512_set1_ps(kPacked ? a[k * kRows + r] : a[r * lda + k]);
#pragma GCC unroll 3
      for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_fmadd_ps(ark, bk[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) {
      if (r >= rows) break;
      float* cr = c + r * ldc + 16 * j;
      const __mmask16 lanes = j == NV - 1 ? last : static_cast<__mmask16>(0xFFFFu);
      __m512 v = acc[r][j];
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(lanes, cr));
      _mm512_mask_storeu_ps(cr, lanes, v);
    }
}

// Blocks [first, last) of op(A) (M rows; element (r, k) at a[r * row_step + k * k_step]) in the
// packed layout: block i is [K][8] at out + (i - first) * K * 8, zeros past row M.
inline void pack_blocks(const float* a, int64_t M, int64_t K, int64_t row_step, int64_t k_step, int64_t first,
                        int64_t last, float* out) {
  for (int64_t i = first; i < last; ++i) {
    float* block_out = out + (i - first) * K * kRows;
    for (int64_t k = 0; k < K; ++k)
      for (int r = 0; r < kRows; ++r) {
        const int64_t row = i * kRows + r;
        block_out[k * kRows + r] = row < M ? a[row * row_step + k * k_step] : 0.0f;
      }
  }
}

template <bool kPacked, bool kRowTable>
inline void block_any_width(int vectors, const float* a, int64_t lda, const float* b, int64_t ldb,
                            const float* const* b_rows, int64_t column, int64_t K, float* c, int64_t ldc, int rows,
                            __mmask16 last, bool accumulate) {
  if (vectors == 3) block<3, kPacked, kRowTable>(a, lda, b, ldb, b_rows, column, K, c, ldc, rows, last, accumulate);
  else if (vectors == 2) block<2, kPacked, kRowTable>(a, lda, b, ldb, b_rows, column, K, c, ldc, rows, last, accumulate);
  else block<1, kPacked, kRowTable>(a, lda, b, ldb, b_rows, column, K, c, ldc, rows, last, accumulate);
}

template <bool kRowTable>
inline void run_block(bool packed, int vectors, const float* a, int64_t lda, const float* b, int64_t ldb,
                      const float* const* b_rows, int64_t column, int64_t K, float* c, int64_t ldc, int rows,
                      __mmask16 last, bool accumulate) {
  if (packed) block_any_width<true, kRowTable>(vectors, a, lda, b, ldb, b_rows, column, K, c, ldc, rows, last, accumulate);
  else block_any_width<false, kRowTable>(vectors, a, lda, b, ldb, b_rows, column, K, c, ldc, rows, last, accumulate);
}

}  // namespace conv_gemm_detail
#endif

namespace conv_gemm_detail {
// C = op(A) B (+ C) with B either a contiguous [K, N] (b) or a table of K row pointers (b_rows).
inline void run(bool trans_a, int64_t M, int64_t N, int64_t K, const float* a, const float* b,
                const float* const* b_rows, float* c, bool accumulate) {
#if defined(__AVX512F__)
  if (M >= kRows && K > 0 && N > 0) {
    // Element (r, k) of op(A) is a[r * row_step + k * k_step].
    const int64_t row_step = trans_a ? 1 : K, k_step = trans_a ? M : 1;
    const int64_t blocks = (M + kRows - 1) / kRows;
    const int64_t first_packed = trans_a ? 0 : M / kRows;  // blocks read in place come first
    float* packed = thread_scratch(ScratchSlot::kPackedA, static_cast<size_t>((blocks - first_packed) * K * kRows));
    pack_blocks(a, M, K, row_step, k_step, first_packed, blocks, packed);
    // The columns in 16-float vectors, dealt out to as few panels of at most 3 as possible and
    // evened out (64 columns: 2 + 2 vectors, not 3 + 1, which would leave 8 broadcasts feeding
    // only 8 FMAs). Only the very last vector can be partial.
    const int64_t vectors = (N + 15) / 16, panels = (vectors + kVectors - 1) / kVectors;
    const bool split = !omp_in_parallel() && omp_get_max_threads() > 1 && panels > 1 && M * N * K >= (int64_t{1} << 20);
#pragma omp parallel for schedule(static) if (split)
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t v0 = p * vectors / panels, v1 = (p + 1) * vectors / panels;
      const int64_t n0 = 16 * v0, width = std::min(16 * v1, N) - n0;
      const int panel_vectors = static_cast<int>(v1 - v0);
      const __mmask16 last = first_lanes(width - 16 * (panel_vectors - 1));
      for (int64_t k0 = 0; k0 < K; k0 += kDepth) {
        const int64_t depth = std::min<int64_t>(kDepth, K - k0);
        const bool add = accumulate || k0 > 0;
        for (int64_t i = 0; i < blocks; ++i) {
          const int rows = static_cast<int>(std::min<int64_t>(kRows, M - i * kRows));
          float* ci = c + i * kRows * N + n0;
          const bool is_packed = i >= first_packed;
          const float* ai = is_packed ? packed + (i - first_packed) * K * kRows + k0 * kRows : a + i * kRows * K + k0;
          const int64_t lda = is_packed ? 0 : K;
          if (b_rows)
            run_block<true>(is_packed, panel_vectors, ai, lda, nullptr, 0, b_rows + k0, n0, depth, ci, N, rows, last, add);
          else
            run_block<false>(is_packed, panel_vectors, ai, lda, b + k0 * N + n0, N, nullptr, 0, depth, ci, N, rows, last,
                             add);
        }
      }
    }
    return;
  }
#endif
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
// shifted copies of dy (kernels/conv_phases.hpp). One pointer load per k, next to 24 FMAs.
inline void conv_gemm_rows(bool trans_a, int64_t M, int64_t N, int64_t K, const float* a, const float* const* b_rows,
                           float* c, bool accumulate) {
  conv_gemm_detail::run(trans_a, M, N, K, a, nullptr, b_rows, c, accumulate);
}

}  // namespace tinydiff::kernels
