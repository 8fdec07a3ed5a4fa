// The weight gradient read straight from the input, for one tier (included by kernels/tiers.hpp
// inside the tier's namespace; kernels/weight_grad_direct.hpp explains the method).

namespace weight_grad_detail {

constexpr int kChannelVectors = 2;                       // output channels per block: 2 vectors
constexpr int kAccumulators = kGemmRows * kGemmVectors;  // the registers the GEMM block accumulates in
constexpr int64_t kSlice = 128;  // positions per pass: a 128 x 64 dY^T slice is 32 KiB

// Kernel rows per block for a kernel KW wide: as many as keep Q*KW*2 accumulators in registers.
template <int KW>
constexpr int rows_per_block() {
  return kAccumulators / (KW * kChannelVectors) < 1 ? 1 : kAccumulators / (KW * kChannelVectors);
}

// c[(q*KW + j) * ldc + o] += sum over positions k in [0, count) of
//   base[q][offsets[k] + j] * dyt[k * ldb + o],  o in [0, 2 kLanes) (lanes beyond `lanes0`/`lanes1`
// left alone when kTail), for the first `rows` of the Q kernel rows.
template <int KW, int Q, bool kTail>
inline void block(const float* const* base, int rows, const int32_t* offsets, int64_t count, const float* dyt,
                  int64_t ldb, Mask lanes0, Mask lanes1, float* c, int64_t ldc) {
  Vec acc[Q * KW][2];
#pragma GCC unroll 12
  for (int t = 0; t < Q * KW; ++t) acc[t][0] = acc[t][1] = zero();
  const float* b[Q];
#pragma GCC unroll 6
  for (int q = 0; q < Q; ++q) b[q] = base[q];
  for (int64_t k = 0; k < count; ++k) {
    const int64_t at = offsets[k];
    const Vec y0 = kTail ? load(dyt + k * ldb, lanes0) : load(dyt + k * ldb);
    const Vec y1 = kTail ? load(dyt + k * ldb + kLanes, lanes1) : load(dyt + k * ldb + kLanes);
#pragma GCC unroll 6
    for (int q = 0; q < Q; ++q)
#pragma GCC unroll 4
      for (int j = 0; j < KW; ++j) {
        const Vec pixel = set1(b[q][at + j]);
        acc[q * KW + j][0] = fmadd(pixel, y0, acc[q * KW + j][0]);
        acc[q * KW + j][1] = fmadd(pixel, y1, acc[q * KW + j][1]);
      }
  }
#pragma GCC unroll 6
  for (int q = 0; q < Q; ++q) {
    if (q >= rows) break;
#pragma GCC unroll 4
    for (int j = 0; j < KW; ++j) {
      float* row = c + (q * KW + j) * ldc;
      if (kTail) {
        store(row, acc[q * KW + j][0] + load(row, lanes0), lanes0);
        store(row + kLanes, acc[q * KW + j][1] + load(row + kLanes, lanes1), lanes1);
      } else {
        store(row, acc[q * KW + j][0] + load(row));
        store(row + kLanes, acc[q * KW + j][1] + load(row + kLanes));
      }
    }
  }
}

// All kernel rows u = (c, i) and output channels for positions [0, P): Q kernel rows at a time.
// Meanwhile the lines [ahead, ahead_end) (the next chunk's input) are prefetched into L2, a few
// before each block, so that the next chunk's copy into xpad finds them there.
template <int KW>
inline void accumulate(const float* xpad, const ConvParams& p, int64_t padded_plane, int64_t padded_width,
                       const int32_t* offsets, int64_t P, const float* dyt, float* dwt, const char* ahead,
                       const char* ahead_end) {
  constexpr int Q = rows_per_block<KW>();
  constexpr int64_t kBlockChannels = kChannelVectors * kLanes;
  const int64_t kernel_rows = p.in_per_group() * p.kernel_h, cout_g = p.out_per_group();
  const int64_t blocks =
      (P + kSlice - 1) / kSlice * ((cout_g + kBlockChannels - 1) / kBlockChannels) * ((kernel_rows + Q - 1) / Q);
  const int64_t lines_per_block = ((ahead_end - ahead) / 64 + blocks - 1) / blocks;
  for (int64_t k0 = 0; k0 < P; k0 += kSlice) {
    const int64_t count = std::min(kSlice, P - k0);
    for (int64_t o0 = 0; o0 < cout_g; o0 += kBlockChannels) {
      const bool tail = cout_g - o0 < kBlockChannels;
      const Mask lanes0 = first_lanes(cout_g - o0), lanes1 = first_lanes(cout_g - o0 - kLanes);
      for (int64_t u0 = 0; u0 < kernel_rows; u0 += Q) {
        for (int64_t e = 0; e < lines_per_block && ahead < ahead_end; ++e, ahead += 64) prefetch_l2(ahead);
        const float* base[Q];  // row(c, i); a block past the last kernel row repeats it (and stores nothing)
        const int rows = static_cast<int>(std::min<int64_t>(Q, kernel_rows - u0));
        for (int q = 0; q < Q; ++q) {
          const int64_t u = u0 + std::min(q, rows - 1);
          base[q] = xpad + (u / p.kernel_h) * padded_plane + (u % p.kernel_h) * p.dilation_h * padded_width;
        }
        float* c = dwt + u0 * KW * cout_g + o0;
        if (tail)
          block<KW, Q, true>(base, rows, offsets + k0, count, dyt + k0 * cout_g + o0, cout_g, lanes0, lanes1, c, cout_g);
        else
          block<KW, Q, false>(base, rows, offsets + k0, count, dyt + k0 * cout_g + o0, cout_g, lanes0, lanes1, c,
                              cout_g);
      }
    }
  }
}

}  // namespace weight_grad_detail

// dW_g^T [K, Cout_g] += (the patch matrix of images [n0, n0 + m), group g) dY^T, where dyt [m*L, Cout_g]
// is dY^T of those images and dwt is dW_g^T (kernels/weight_grad_direct.hpp), for a kernel 2 to 4
// wide without dilation along the width. Uses the calling thread's ScratchSlot::kPatches for xpad
// and ScratchSlot::kOffsets for the positions' offsets.
inline void weight_grad_direct(const float* x, const float* dyt, float* dwt, const ConvParams& p, int64_t n0, int64_t m,
                               int64_t g) {
  namespace d = weight_grad_detail;
  const int64_t cin_g = p.in_per_group();
  const int64_t Hp = p.in_h + 2 * p.pad_h, Wp = p.in_w + 2 * p.pad_w, padded_plane = Hp * Wp;
  // (kLanes floats of slack: each padded row is written in whole vectors, spilling into the next)
  float* xpad = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(m * cin_g * padded_plane + kLanes));
  int32_t* offsets = thread_scratch_of<int32_t>(ScratchSlot::kOffsets, static_cast<size_t>(m * p.out_h * p.out_w));
  // xpad: the chunk's input planes with a zero border, written row by row in one pass: a padded row
  // is the input row between pad_w and Wp - pad_w zeros (masked loads: the lanes outside the row
  // read nothing and give zeros), or all zeros above and below the image. Rows are stored in whole
  // vectors, the tail spilling into the next row, which is written after it.
  for (int64_t j = 0; j < m; ++j)
    for (int64_t c = 0; c < cin_g; ++c) {
      const float* src = x + (((n0 + j) * p.in_channels + g * cin_g + c) * p.in_h) * p.in_w;
      float* plane = xpad + (j * cin_g + c) * padded_plane;
      for (int64_t r = 0; r < Hp; ++r) {
        float* row = plane + r * Wp;
        const int64_t h = r - p.pad_h;
        if (h < 0 || h >= p.in_h) {
          for (int64_t e = 0; e < Wp; e += kLanes) store(row + e, zero());
          continue;
        }
        const float* in = src + h * p.in_w - p.pad_w;  // padded column e is input column e - pad_w
        for (int64_t e = 0; e < Wp; e += kLanes) store(row + e, load(in + e, lanes_between(p.pad_w - e, p.pad_w + p.in_w - e)));
      }
    }
  // pos(p) for every position of the chunk
  int64_t P = 0;
  for (int64_t j = 0; j < m; ++j)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        offsets[P++] = static_cast<int32_t>(j * cin_g * padded_plane + oh * p.stride_h * Wp + ow * p.stride_w);
  // The next chunk's images, which this thread most likely takes next (static schedule).
  const int64_t image_size = p.in_channels * p.in_h * p.in_w;
  const char* ahead = reinterpret_cast<const char*>(x + std::min(p.batch, n0 + m) * image_size);
  const char* ahead_end = reinterpret_cast<const char*>(x + std::min(p.batch, n0 + 2 * m) * image_size);
  switch (p.kernel_w) {
    case 2: d::accumulate<2>(xpad, p, padded_plane, Wp, offsets, P, dyt, dwt, ahead, ahead_end); break;
    case 3: d::accumulate<3>(xpad, p, padded_plane, Wp, offsets, P, dyt, dwt, ahead, ahead_end); break;
    default: d::accumulate<4>(xpad, p, padded_plane, Wp, offsets, P, dyt, dwt, ahead, ahead_end); break;
  }
}
