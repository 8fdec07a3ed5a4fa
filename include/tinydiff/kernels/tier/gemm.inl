// The GEMM register block of the convolution kernels, for one tier (included by kernels/tiers.hpp
// inside the tier's namespace; Vec, kLanes, kGemmRows, kGemmVectors and the vector functions are
// the tier's, simd/vec.hpp). kernels/conv_gemm.hpp explains the product and calls gemm_panels.
//
//   for each slice of (at most) kDepth k:
//     for each block of kRows rows of op(A):
//       acc [kRows x NV vectors] = 0                           (registers)
//       for k in slice:  acc += op(A)[rows, k] (x) B[k, panel]   (kRows broadcasts, NV loads, kRows*NV FMAs)
//       C[rows, panel] = acc (+ C: always after the first slice)
//
// op(A) is read either in place (kRows rows, `lda` apart: one broadcast from each) or from
// blocks packed as [K][kRows] (one contiguous line per k). Row k of B's panel starts at
// b + k * ldb, or, with a row table, at b_rows[k] + column. Only the panel's last vector can be
// partial: it is loaded with a mask (kTail), so nothing outside B or C is touched. Summation runs
// in k order with one FMA per term.

constexpr int kRows = kGemmRows;        // rows of op(A) and C per block
constexpr int kVectors = kGemmVectors;  // the most vectors per panel row
constexpr int64_t kPanelColumns = kVectors * kLanes;
// k per pass: the panel slice of B the row blocks reuse stays in L1 (AVX-512: 192 x 48 floats,
// 36 KiB, measured best on a 48 KiB L1; the narrower tiers keep theirs near 16 KiB, for 32 KiB L1s).
constexpr int64_t kDepth = kLanes == 16 ? 192 : 256;

// All loops have constant trip counts and are unrolled, so the kRows x NV accumulators live in
// registers (a loop with a variable bound over them would send them to the stack).
template <int NV, bool kPacked, bool kRowTable, bool kTail>
inline void gemm_block(const float* a, int64_t lda, const float* b, int64_t ldb, const float* const* b_rows,
                       int64_t column, int64_t K, float* c, int64_t ldc, int rows, Mask last, bool accumulate) {
  Vec acc[kRows][NV];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) acc[r][j] = zero();
  for (int64_t k = 0; k < K; ++k) {
    Vec bk[NV];
    const float* bk_row = kRowTable ? b_rows[k] + column : b + k * ldb;
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j)
      bk[j] = kTail && j == NV - 1 ? load(bk_row + kLanes * j, last) : load(bk_row + kLanes * j);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const Vec ark = set1(kPacked ? a[k * kRows + r] : a[r * lda + k]);
#pragma GCC unroll 3
      for (int j = 0; j < NV; ++j) acc[r][j] = fmadd(ark, bk[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
#pragma GCC unroll 3
    for (int j = 0; j < NV; ++j) {
      float* cr = c + r * ldc + kLanes * j;
      if (kTail && j == NV - 1) {
        Vec v = acc[r][j];
        if (accumulate) v = v + load(cr, last);
        store(cr, v, last);
      } else {
        store(cr, accumulate ? acc[r][j] + load(cr) : acc[r][j]);
      }
    }
  }
}

// gemm_block for a panel of `vectors` (1..kVectors) vectors, the last one `tail` (partial) or not.
template <bool kRowTable>
inline void gemm_block_any(int vectors, bool tail, bool packed, const float* a, int64_t lda, const float* b,
                           int64_t ldb, const float* const* b_rows, int64_t column, int64_t K, float* c, int64_t ldc,
                           int rows, Mask last, bool accumulate) {
#define TINYDIFF_GEMM_BLOCK(NV, PACKED, TAIL) \
  gemm_block<NV, PACKED, kRowTable, TAIL>(a, lda, b, ldb, b_rows, column, K, c, ldc, rows, last, accumulate)
#define TINYDIFF_GEMM_BLOCK_WIDTH(NV)                  \
  do {                                                 \
    if (packed) {                                      \
      if (tail) TINYDIFF_GEMM_BLOCK(NV, true, true);   \
      else TINYDIFF_GEMM_BLOCK(NV, true, false);       \
    } else {                                           \
      if (tail) TINYDIFF_GEMM_BLOCK(NV, false, true);  \
      else TINYDIFF_GEMM_BLOCK(NV, false, false);      \
    }                                                  \
  } while (0)
  if (kVectors >= 3 && vectors == 3) TINYDIFF_GEMM_BLOCK_WIDTH(kVectors >= 3 ? 3 : 1);
  else if (kVectors >= 2 && vectors == 2) TINYDIFF_GEMM_BLOCK_WIDTH(kVectors >= 2 ? 2 : 1);
  else TINYDIFF_GEMM_BLOCK_WIDTH(1);
#undef TINYDIFF_GEMM_BLOCK_WIDTH
#undef TINYDIFF_GEMM_BLOCK
}

// Blocks [first, last) of op(A) (M rows; element (r, k) at a[r * row_step + k * k_step]) in the
// packed layout: block i is [K][kRows] at out + (i - first) * K * kRows, zeros past row M.
inline void gemm_pack_a(const float* a, int64_t M, int64_t K, int64_t row_step, int64_t k_step, int64_t first,
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

// The columns in vectors, dealt out to as few panels of at most kVectors as possible and evened
// out (AVX-512, 64 columns: 2 + 2 vectors, not 3 + 1, which would leave 8 broadcasts feeding only 8
// FMAs). Only the very last vector can be partial.
inline int64_t gemm_panel_count(int64_t N) {
  const int64_t vectors = (N + kLanes - 1) / kLanes;
  return (vectors + kVectors - 1) / kVectors;
}

// Panels [panel_begin, panel_end) of C = op(A) B (+ C) (kernels/conv_gemm.hpp's GemmJob, prepared
// by gemm_prepare).
inline void gemm_panels(const GemmJob& job, int64_t panel_begin, int64_t panel_end) {
  const int64_t M = job.M, N = job.N, K = job.K;
  const int64_t vectors = (N + kLanes - 1) / kLanes, panels = gemm_panel_count(N);
  const int64_t blocks = (M + kRows - 1) / kRows;
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    const int64_t v0 = p * vectors / panels, v1 = (p + 1) * vectors / panels;
    const int64_t n0 = kLanes * v0, width = std::min(kLanes * v1, N) - n0;
    const int panel_vectors = static_cast<int>(v1 - v0);
    const int64_t tail_width = width - kLanes * (panel_vectors - 1);
    const Mask last = first_lanes(tail_width);
    const bool tail = tail_width < kLanes;
    for (int64_t k0 = 0; k0 < K; k0 += kDepth) {
      const int64_t depth = std::min<int64_t>(kDepth, K - k0);
      const bool add = job.accumulate || k0 > 0;
      for (int64_t i = 0; i < blocks; ++i) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, M - i * kRows));
        float* ci = job.c + i * kRows * N + n0;
        const bool is_packed = i >= job.first_packed;
        const float* ai = is_packed ? job.packed + (i - job.first_packed) * K * kRows + k0 * kRows
                                    : job.a + i * kRows * K + k0;
        const int64_t lda = is_packed ? 0 : K;
        if (job.b_rows)
          gemm_block_any<true>(panel_vectors, tail, is_packed, ai, lda, nullptr, 0, job.b_rows + k0, n0, depth, ci, N,
                               rows, last, add);
        else
          gemm_block_any<false>(panel_vectors, tail, is_packed, ai, lda, job.b + k0 * N + n0, N, nullptr, 0, depth, ci,
                                N, rows, last, add);
      }
    }
  }
}

// Packs the blocks of op(A) that gemm_panels cannot read in place (all of A^T; the last block of
// fewer than kRows rows of A) into the calling thread's scratch, and notes where they are.
inline void gemm_prepare(GemmJob& job) {
  // Element (r, k) of op(A) is a[r * row_step + k * k_step].
  const int64_t row_step = job.trans_a ? 1 : job.K, k_step = job.trans_a ? job.M : 1;
  const int64_t blocks = (job.M + kRows - 1) / kRows;
  job.first_packed = job.trans_a ? 0 : job.M / kRows;  // blocks read in place come first
  float* packed =
      thread_scratch(ScratchSlot::kPackedA, static_cast<size_t>((blocks - job.first_packed) * job.K * kRows));
  gemm_pack_a(job.a, job.M, job.K, row_step, k_step, job.first_packed, blocks, packed);
  job.packed = packed;
}

// C [M, width] (+)= W B for a tile: W is `blocks` packed blocks of the weights ([K][kRows] each,
// block i at packed_w + i * K * kRows), of which the k slice [k0, k0 + depth) is used; B [depth,
// width] has its rows ldb apart from b, or comes from a row table (b_rows, rows + column). C's
// rows are ldc apart. accumulate: C += instead of C =. (The implicit GEMMs' inner product,
// kernels/tier/implicit.inl.)
inline void gemm_packed_tile(const float* packed_w, int64_t K, int64_t k0, int64_t depth, int64_t blocks,
                             const float* b, int64_t ldb, const float* const* b_rows, int64_t width, float* c,
                             int64_t ldc, bool accumulate) {
  const int64_t vectors = (width + kLanes - 1) / kLanes, panels = (vectors + kVectors - 1) / kVectors;
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t v0 = p * vectors / panels, v1 = (p + 1) * vectors / panels;
    const int64_t n0 = kLanes * v0, panel_width = std::min(kLanes * v1, width) - n0;
    const int panel_vectors = static_cast<int>(v1 - v0);
    const int64_t tail_width = panel_width - kLanes * (panel_vectors - 1);
    const Mask last = first_lanes(tail_width);
    const bool tail = tail_width < kLanes;
    for (int64_t i = 0; i < blocks; ++i) {
      const float* wi = packed_w + (i * K + k0) * kRows;
      float* ci = c + i * kRows * ldc + n0;
      if (b_rows)
        gemm_block_any<true>(panel_vectors, tail, true, wi, 0, nullptr, 0, b_rows, n0, depth, ci, ldc, kRows, last,
                             accumulate);
      else
        gemm_block_any<false>(panel_vectors, tail, true, wi, 0, b + n0, ldb, nullptr, 0, depth, ci, ldc, kRows, last,
                              accumulate);
    }
  }
}
