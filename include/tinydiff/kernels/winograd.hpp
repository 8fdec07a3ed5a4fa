#pragma once
// Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions (Lavin & Gray 2015) for 3x3 kernels at stride 1,
// padding 1 (dilation 1, groups 1), on raw float pointers, NCHW, PyTorch's weight
// layout w [Cout, Cin, 3, 3]. No autograd here: kernels/conv.hpp dispatches its
// forward, input gradient and weight gradient to these functions when the shape fits.
//
// The output is cut into 2x2 tiles; tile (ty, tx) reads the 4x4 input tile d whose top
// left pixel is (2 ty - 1, 2 tx - 1) (pixels outside the image are zeros: the padding,
// and the far border of odd H or W, where only the valid outputs are written). Then
//   U = G g G^T         per (out, in) channel pair, g the 3x3 filter     U [16][Cout][Cin]
//   V = B^T d B         per (in channel, tile)                            V [16][Cin][tiles]
//   M[k] = U[k] V[k]    16 GEMMs, k = 4 i + j the position in the 4x4    M [16][Cout][tiles]
//   Y = A^T M A (+ b)   per (out channel, tile): the 2x2 outputs
// with
//   B^T = [1  0 -1  0]    G = [ 1    0    0 ]    A^T = [1  1  1  0]
//         [0  1  1  0]        [1/2  1/2  1/2]          [0  1 -1 -1]
//         [0 -1  1  0]        [1/2 -1/2  1/2]
//         [0  1  0 -1]        [ 0    0    1 ]
// 16 multiplies per 2x2 outputs instead of 36: 2.25x fewer GEMM FLOPs than im2col.
//
// The input gradient of a 3x3 stride-1 pad-1 conv is the same convolution of dy with
// each filter rotated 180 degrees and in/out channels swapped:
//   dx[n, c] = sum_o conv(dy[n, o], rot180(w[o, c]))
// so it only differs in the weight transform.
//
// The weight gradient runs the forward's algebra backwards. With dM = A dY A^T per
// (out channel, tile), dY the tile's 2x2 output gradient (zeros beyond an odd H or W):
//   dU[k] = V[k] dM[k]^T   16 GEMMs summed over the tiles of all images   dU [16][Cin][Cout]
//   dw    = G^T dU G       per (out, in) channel pair: the 3x3 gradient
// with 2.25x fewer multiplies than the im2col weight gradient, like the forward.
//
// F(4x4, 3x3) is the same algebra on 6x6 input tiles and 4x4 output tiles: 36 multiplies per
// 16 outputs (4x fewer than im2col), with
//   B^T = [4  0 -5  0  1  0]    G = [ 1/4     0     0  ]    A^T = [1  1  1  1  1  0]
//         [0 -4 -4  1  1  0]        [-1/6  -1/6  -1/6  ]          [0  1 -1  2 -2  0]
//         [0  4 -4 -1  1  0]        [-1/6   1/6  -1/6  ]          [0  1  1  4  4  0]
//         [0 -2 -1  2  1  0]        [1/24  1/12   1/6  ]          [0  1 -1  8 -8  1]
//         [0  2 -1 -2  1  0]        [1/24 -1/12   1/6  ]
//         [0  4  0 -5  0  1]        [ 0      0     1   ]
// Its data is channels-last: each image of a chunk is transposed to [H W][C], so that a vector
// holds one pixel of several channels and each transform is whole-vector arithmetic on any plane
// size (kernels/tier/winograd4.inl). Then V [36][tiles][Cin], U [36][Cin][Cout], and the 36
// GEMMs are M[k] [tiles, Cout] = V[k] U[k]; the weight gradient sums dU[k] += V[k]^T dM[k].
// The output is transposed back to NCHW. (kernels/conv_paths.hpp says which tile size runs where.)
//
// The data transforms run on the tier kernels (kernels/tier/winograd.inl, winograd4.inl), the
// GEMMs on conv_gemm's (F(2x2, 3x3): dM[k] transposed first for the weight gradient's, so that it
// is read in place).
// Parallel over chunks of images (OpenMP, static schedule: deterministic for a fixed
// thread count), each thread with its own scratch buffers that only grow; the GEMMs
// inside run single-threaded. With one chunk the loop runs serially and conv_gemm splits
// the GEMMs' columns over the threads instead.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tinydiff/kernels/batch_chunks.hpp"
#include "tinydiff/kernels/conv_gemm.hpp"
#include "tinydiff/kernels/gemm.hpp"
#include "tinydiff/kernels/parallel_ranges.hpp"
#include "tinydiff/kernels/partials.hpp"
#include "tinydiff/kernels/scratch.hpp"
#include "tinydiff/kernels/tiers.hpp"

namespace tinydiff::kernels {

namespace winograd_detail {

// Images per chunk: enough for about `target_tiles` tiles, but no more than leave every thread
// a chunk where the batch allows (a chunk is a thread's unit of work).
inline int64_t images_for_tiles(const WinogradShape& s, int64_t target_tiles) {
  const int64_t threads = omp_get_max_threads();
  const int64_t wanted = (target_tiles + s.tiles() - 1) / s.tiles(), fair = (s.batch + threads - 1) / threads;
  return std::max<int64_t>(1, std::min(wanted, fair));
}

// The forward's chunks: about as many tiles side by side as keep V and M of a chunk in L2, the N
// of each of the GEMMs (F(2x2, 3x3): 128 tiles, measured to beat 256..1024; F(4x4, 3x3)'s tiles
// hold 36 values instead of 16: 64, measured alike to 128 and faster than 32 and 256).
inline int64_t images_per_chunk(const WinogradShape& s) { return images_for_tiles(s, s.tile == 4 ? 64 : 128); }

// G, [alpha][3]: the weight transform of F(2x2, 3x3) and of F(4x4, 3x3).
constexpr float kG2[4][3] = {{1.0f, 0.0f, 0.0f}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0.0f, 0.0f, 1.0f}};
constexpr float kG4[6][3] = {{1.0f / 4, 0.0f, 0.0f},           {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                             {-1.0f / 6, 1.0f / 6, -1.0f / 6}, {1.0f / 24, 1.0f / 12, 1.0f / 6},
                             {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0.0f, 0.0f, 1.0f}};

// U[i alpha + j][f] = (G g_f G^T)[i][j] for n filters g_f given tap by tap, taps[3 a + e][f] =
// g_f[a][e]: each step a loop over the filters, which the compiler vectorises.
template <int kAlpha>
inline void transform_filters(const float* taps, int64_t n, const float (&G)[kAlpha][3], float* U) {
  constexpr int64_t kBlock = 64;
  float Gg[kAlpha][3][kBlock];  // G g, for a block of filters
  for (int64_t f0 = 0; f0 < n; f0 += kBlock) {
    const int64_t len = std::min(kBlock, n - f0);
    for (int i = 0; i < kAlpha; ++i)
      for (int e = 0; e < 3; ++e) {
        const float* t0 = taps + e * n + f0;
        const float* t1 = taps + (3 + e) * n + f0;
        const float* t2 = taps + (6 + e) * n + f0;
        for (int64_t f = 0; f < len; ++f) Gg[i][e][f] = G[i][0] * t0[f] + G[i][1] * t1[f] + G[i][2] * t2[f];
      }
    for (int i = 0; i < kAlpha; ++i)  // (G g) G^T
      for (int j = 0; j < kAlpha; ++j) {
        float* u = U + (i * kAlpha + j) * n + f0;
        for (int64_t f = 0; f < len; ++f) u[f] = Gg[i][0][f] * G[j][0] + Gg[i][1][f] * G[j][1] + Gg[i][2][f] * G[j][2];
      }
  }
}

// g = G^T du G: the 3x3 gradient from the alpha x alpha one at du[(i alpha + j) step].
template <int kAlpha>
inline void filter_from_transformed(const float* du, int64_t step, const float (&G)[kAlpha][3], float* g) {
  float gu[3][kAlpha];  // G^T du
  for (int a = 0; a < 3; ++a)
    for (int j = 0; j < kAlpha; ++j) {
      float sum = 0.0f;
      for (int i = 0; i < kAlpha; ++i) sum += G[i][a] * du[(i * kAlpha + j) * step];
      gu[a][j] = sum;
    }
  for (int a = 0; a < 3; ++a)  // (G^T du) G
    for (int e = 0; e < 3; ++e) {
      float sum = 0.0f;
      for (int j = 0; j < kAlpha; ++j) sum += gu[a][j] * G[j][e];
      g[a * 3 + e] = sum;
    }
}

// U[k] = (G g G^T)[k] for g = w[o, c] (forward), or for g = rot180(w[c, o]) with o and c
// swapped (rotated: the input gradient; then `out` is the conv's Cin). Each U[k] is stored
// [out][in] (F(2x2, 3x3): the A of the GEMM M[k] = U[k] V[k], which conv_gemm reads in place) or,
// with in_major, [in][out] (F(4x4, 3x3) channels-last: the B of M[k] = V[k] U[k]). The filters
// are first laid out tap by tap in U's order (`taps`, 9 out in floats), then transformed together.
inline void transform_weights(const float* w, int64_t out, int64_t in, bool rotated, int64_t tile, bool in_major,
                              float* U) {
  const int64_t n = out * in, rows = in_major ? in : out, cols = in_major ? out : in;
  float* taps = thread_scratch(ScratchSlot::kTaps, static_cast<size_t>(9 * n));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < cols; ++q) {
      const int64_t o = in_major ? q : r, c = in_major ? r : q;
      const float* src = rotated ? w + (c * out + o) * 9 : w + (o * in + c) * 9;  // rotated: w [in, out, 3, 3]
      for (int t = 0; t < 9; ++t) taps[t * n + r * cols + q] = rotated ? src[8 - t] : src[t];
    }
  if (tile == 4) transform_filters<6>(taps, n, kG4, U);
  else transform_filters<4>(taps, n, kG2, U);
}

// dw[o, c] = G^T dU[.][c][o] G: the 3x3 weight gradient from the alpha x alpha one (dU [points][in][out]).
inline void weights_from_transformed(const float* dU, int64_t out, int64_t in, int64_t tile, float* dw) {
  const int64_t step = out * in;
#pragma omp parallel for schedule(static) if (out * in >= 1024)
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < in; ++c) {
      if (tile == 4) filter_from_transformed<6>(dU + c * out + o, step, kG4, dw + (o * in + c) * 9);
      else filter_from_transformed<4>(dU + c * out + o, step, kG2, dw + (o * in + c) * 9);
    }
}

// Whether a batch's chunks go over a team (for_each_index also wants more than one chunk):
// several images and enough multiply-adds to pay for the team, as ConvParams::parallel_over_batch.
inline bool batch_in_parallel(const WinogradShape& s) {
  const int64_t macs = s.batch * s.out_channels * s.in_channels * 9 * s.height * s.width;
  return s.batch > 1 && macs >= (int64_t{1} << 17);
}

// F(2x2, 3x3) on NCHW planes: y = the conv of x [N, Cin, H, W] with the transformed weights
// U [16][Cout][Cin] (+ b).
inline void winograd2_run(const float* x, const float* U, const float* b, float* y, const WinogradShape& s) {
  const int64_t C = s.in_channels, K = s.out_channels, T = s.tiles();
  const TierKernels& tier = tier_kernels();
  const BatchChunks chunks(s.batch, images_per_chunk(s));
  const int64_t count = chunks.count;
  const int64_t padded_size = (2 * s.tiles_h() + 2) * (2 * s.tiles_w() + 2);
  const bool parallel = batch_in_parallel(s);
  for_each_index(count, parallel, [&](int64_t chunk) {
    const int64_t n0 = chunks.begin(chunk), m = chunks.size(chunk), P = m * T;
    const int64_t v_stride = winograd_matrix_stride(C * P), m_stride = winograd_matrix_stride(K * P);
    float* V = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(16 * v_stride));
    float* M = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(16 * m_stride));
    float* padded = thread_scratch(ScratchSlot::kPlanes, static_cast<size_t>(padded_size + 4 * s.tiles_w()));
    std::fill(padded, padded + padded_size, 0.0f);
    tier.winograd_input(x + n0 * C * s.height * s.width, s, m, padded, V);
    for (int k = 0; k < 16; ++k)
      conv_gemm(false, K, P, C, U + k * K * C, V + k * v_stride, M + k * m_stride, false);
    tier.winograd_output(M, b, s, m, padded + padded_size, y + n0 * K * s.height * s.width);
  });
}

// x [m][C][H][W] -> xt [m][Hp][Wp][C]: each image channels-last, its pixel (h, w) at
// (h + pad, w + pad), zeros around it. Each image is transposed whole ([C][H W] -> [H W][C], in
// the tier's square blocks) into `flat`, then its rows are copied into place.
inline void to_channels_last(const TierKernels& tier, const float* x, int64_t m, int64_t C, int64_t H, int64_t W,
                             int64_t pad, int64_t Hp, int64_t Wp, float* flat, float* xt) {
  const int64_t row = W * C, prow = Wp * C;
  for (int64_t j = 0; j < m; ++j) {
    tier.transpose(x + j * C * H * W, C, H * W, H * W, flat, C);
    float* img = xt + j * Hp * prow;
    std::fill(img, img + pad * prow, 0.0f);
    std::fill(img + (pad + H) * prow, img + Hp * prow, 0.0f);
    for (int64_t h = 0; h < H; ++h) {
      float* dst = img + (pad + h) * prow;
      std::fill(dst, dst + pad * C, 0.0f);
      std::memcpy(dst + pad * C, flat + h * row, sizeof(float) * static_cast<size_t>(row));
      std::fill(dst + pad * C + row, dst + prow, 0.0f);
    }
  }
}

// F(4x4, 3x3) channels-last: y = the conv of x [N, Cin, H, W] with U [36][Cin][Cout] (+ b).
// Per chunk of images: x channels-last into a padded [Hp][Wp][Cin] per image, the input
// transform into V [36][tiles][Cin], 36 GEMMs M[k] [tiles, Cout] = V[k] U[k], the output
// transform into y channels-last [H W][Cout] per image, and a transpose back to NCHW.
inline void winograd4_run(const float* x, const float* U, const float* b, float* y, const WinogradShape& s) {
  const int64_t C = s.in_channels, K = s.out_channels, H = s.height, W = s.width, T = s.tiles();
  const int64_t Hp = 4 * s.tiles_h() + 2, Wp = 4 * s.tiles_w() + 2;
  const TierKernels& tier = tier_kernels();
  const BatchChunks chunks(s.batch, images_per_chunk(s));
  const int64_t count = chunks.count;
  const bool parallel = batch_in_parallel(s);
  for_each_index(count, parallel, [&](int64_t chunk) {
    const int64_t n0 = chunks.begin(chunk), m = chunks.size(chunk), P = m * T;
    const int64_t v_stride = winograd_matrix_stride(P * C), m_stride = winograd_matrix_stride(P * K);
    float* V = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(36 * v_stride));
    float* M = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(36 * m_stride));
    float* flat = thread_scratch(ScratchSlot::kTransposed, static_cast<size_t>(H * W * std::max(C, K)));
    float* planes = thread_scratch(ScratchSlot::kPlanes, static_cast<size_t>(m * std::max(Hp * Wp * C, H * W * K)));
    to_channels_last(tier, x + n0 * C * H * W, m, C, H, W, 1, Hp, Wp, flat, planes);
    tier.winograd4_input(planes, s, m, V);
    for (int k = 0; k < 36; ++k) conv_gemm(false, P, K, C, V + k * v_stride, U + k * C * K, M + k * m_stride, false);
    tier.winograd4_output(M, b, s, m, planes);  // now y channels-last, [m][H W][K]
    for (int64_t j = 0; j < m; ++j) tier.transpose(planes + j * H * W * K, H * W, K, K, y + (n0 + j) * K * H * W, H * W);
  });
}

// The weight gradient's chunks: its GEMMs sum over the tiles, so longer is better until V and dM
// fall out of L2 (F(4x4, 3x3): 128 tiles, measured against 64 and 256).
inline int64_t images_per_weight_chunk(const WinogradShape& s) {
  return images_for_tiles(s, s.tile == 4 ? 128 : 256);
}

// One chunk of the weight gradient, summed into dU [points][C][K].
// F(2x2, 3x3), NCHW: V [16][C][tiles] and dM [16][K][tiles]; dU[k] += V[k] dM[k]^T with dM[k]
// transposed first (K P moves against the product's 2 C K P flops), so that the tier GEMM reads
// it in place as its B.
inline void weight_chunk2(const TierKernels& tier, const float* x, const float* dy, const WinogradShape& s, int64_t m,
                          float* dU) {
  const int64_t C = s.in_channels, K = s.out_channels, P = m * s.tiles();
  const int64_t v_stride = winograd_matrix_stride(C * P), m_stride = winograd_matrix_stride(K * P);
  const int64_t padded_size = (2 * s.tiles_h() + 2) * (2 * s.tiles_w() + 2);
  float* V = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(16 * v_stride));
  float* dM = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(16 * m_stride));
  float* padded = thread_scratch(ScratchSlot::kPlanes, static_cast<size_t>(padded_size));
  std::fill(padded, padded + padded_size, 0.0f);
  tier.winograd_input(x, s, m, padded, V);
  std::fill(padded, padded + padded_size, 0.0f);  // now the [2 th, 2 tw] plane of winograd_output_grad
  tier.winograd_output_grad(dy, s, m, padded, dM);
  float* dMt = thread_scratch(ScratchSlot::kTransposed, static_cast<size_t>(P * K));
  for (int k = 0; k < 16; ++k) {
    tier.transpose(dM + k * m_stride, K, P, P, dMt, K);
    conv_gemm(false, C, K, P, V + k * v_stride, dMt, dU + k * C * K, true);
  }
}

// F(4x4, 3x3), channels-last: V [36][tiles][C] and dM [36][tiles][K]; dU[k] += V[k]^T dM[k].
inline void weight_chunk4(const TierKernels& tier, const float* x, const float* dy, const WinogradShape& s, int64_t m,
                          float* dU) {
  const int64_t C = s.in_channels, K = s.out_channels, H = s.height, W = s.width, P = m * s.tiles();
  const int64_t Hp = 4 * s.tiles_h() + 2, Wp = 4 * s.tiles_w() + 2, Hq = 4 * s.tiles_h(), Wq = 4 * s.tiles_w();
  const int64_t v_stride = winograd_matrix_stride(P * C), m_stride = winograd_matrix_stride(P * K);
  float* V = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(36 * v_stride));
  float* dM = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(36 * m_stride));
  float* flat = thread_scratch(ScratchSlot::kTransposed, static_cast<size_t>(H * W * std::max(C, K)));
  float* planes = thread_scratch(ScratchSlot::kPlanes, static_cast<size_t>(m * std::max(Hp * Wp * C, Hq * Wq * K)));
  to_channels_last(tier, x, m, C, H, W, 1, Hp, Wp, flat, planes);
  tier.winograd4_input(planes, s, m, V);
  to_channels_last(tier, dy, m, K, H, W, 0, Hq, Wq, flat, planes);  // zeros past H, W: no gradient there
  tier.winograd4_output_grad(planes, s, m, dM);
  for (int k = 0; k < 36; ++k) conv_gemm(true, C, K, P, V + k * v_stride, dM + k * m_stride, dU + k * C * K, true);
}

// out = the convolution of `in` with the 3x3 filters w under shape s (+ b when not null): w's
// transform into U (rotated with flip, for the input gradient, where s has the channels swapped),
// then the F(2x2, 3x3) or F(4x4, 3x3) pass that s.tile names.
inline void transform_and_run(const float* in, const float* w, bool flip, const float* b, float* out,
                              const WinogradShape& s) {
  float* U = thread_scratch(ScratchSlot::kWeights, static_cast<size_t>(s.points() * s.out_channels * s.in_channels));
  const bool f4 = s.tile == 4;
  transform_weights(w, s.out_channels, s.in_channels, flip, s.tile, f4, U);
  if (f4) winograd4_run(in, U, b, out, s);
  else winograd2_run(in, U, b, out, s);
}

}  // namespace winograd_detail

// y [N, Cout, H, W] = conv2d(x [N, Cin, H, W], w [Cout, Cin, 3, 3], stride 1, padding 1) (+ b [Cout] when not null).
// s.tile picks F(2x2, 3x3) or F(4x4, 3x3).
inline void winograd_conv3x3_forward(const float* x, const float* w, const float* b, float* y,
                                     const WinogradShape& s) {
  if (s.batch == 0 || s.out_channels == 0 || s.height == 0 || s.width == 0) return;
  winograd_detail::transform_and_run(x, w, /*flip=*/false, b, y, s);
}

// dx [N, Cin, H, W] = the input gradient of that conv for dy [N, Cout, H, W]: the conv of dy
// with rot180(w) and the channels swapped.
inline void winograd_conv3x3_backward_input(const float* dy, const float* w, float* dx, const WinogradShape& s) {
  if (s.batch == 0 || s.in_channels == 0 || s.height == 0 || s.width == 0) return;
  WinogradShape t = s;
  t.in_channels = s.out_channels;
  t.out_channels = s.in_channels;
  winograd_detail::transform_and_run(dy, w, /*flip=*/true, nullptr, dx, t);
}

// dw [Cout, Cin, 3, 3] = the weight gradient of that conv for x [N, Cin, H, W] and dy [N, Cout, H, W].
// Each thread sums its (static, hence fixed) share of the chunks into its own dU; those are
// added in thread order (kernels/partials.hpp), so the result is deterministic for a fixed
// thread count.
inline void winograd_conv3x3_backward_weight(const float* x, const float* dy, float* dw, const WinogradShape& s) {
  using namespace winograd_detail;
  const int64_t C = s.in_channels, K = s.out_channels, HW = s.height * s.width, u_size = s.points() * C * K;
  if (u_size == 0) return;
  const TierKernels& tier = tier_kernels();
  const BatchChunks chunks(s.batch, images_per_weight_chunk(s));
  const int64_t count = chunks.count;
  const bool parallel = batch_in_parallel(s);
  std::vector<float> dU_sum(static_cast<size_t>(u_size));
  TeamPartials partials;  // one dU per thread of the team (kernels/partials.hpp)
  auto chunk_into = [&](float* dU, int64_t chunk) {
    const int64_t n0 = chunks.begin(chunk), m = chunks.size(chunk);
    if (s.tile == 4) weight_chunk4(tier, x + n0 * C * HW, dy + n0 * K * HW, s, m, dU);
    else weight_chunk2(tier, x + n0 * C * HW, dy + n0 * K * HW, s, m, dU);
  };
  auto sum_slots = [&] {
    partials.sum_in_team(1, [&](int64_t i, int64_t, float sum) { dU_sum[static_cast<size_t>(i)] = sum; });
  };
  for_each_index_into_slots(partials, u_size, count, parallel, chunk_into, sum_slots);
  weights_from_transformed(dU_sum.data(), K, C, s.tile, dw);
}

}  // namespace tinydiff::kernels
