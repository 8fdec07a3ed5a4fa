#pragma once
// Winograd F(2x2, 3x3) convolution (Lavin & Gray 2015) for 3x3 kernels at stride 1,
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
// The data transforms run on the tier kernels (kernels/tier/winograd.inl), the GEMMs on
// conv_gemm's (dM[k] transposed first for the weight gradient's, so that it is read in place).
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
#include "tinydiff/kernels/partials.hpp"
#include "tinydiff/kernels/scratch.hpp"
#include "tinydiff/kernels/tiers.hpp"

namespace tinydiff::kernels {

namespace winograd_detail {

// Images per chunk: about kTargetTiles tiles side by side, the N of each of the 16 GEMMs.
inline int64_t images_per_chunk(int64_t tiles) {
  constexpr int64_t kTargetTiles = 128;  // V, M of a chunk stay in L2 (measured: 128 beats 256..1024)
  const int64_t m = (kTargetTiles + tiles - 1) / tiles;
  return m < 1 ? 1 : m;
}

// U[k][o][c] = (G g G^T)[k] for g = w[o, c] (forward), or for g = rot180(w[c, o]) with
// o and c swapped (rotated: the input gradient; then `out` is the conv's Cin). Each U[k] is
// stored [out, in], the A of the GEMM M[k] = U[k] V[k], which conv_gemm reads in place.
inline void transform_weights(const float* w, int64_t out, int64_t in, bool rotated, float* U) {
#pragma omp parallel for schedule(static) if (out * in >= 1024)
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < in; ++c) {
      float g[3][3];
      if (!rotated) {
        const float* src = w + (o * in + c) * 9;
        for (int a = 0; a < 3; ++a)
          for (int e = 0; e < 3; ++e) g[a][e] = src[a * 3 + e];
      } else {
        const float* src = w + (c * out + o) * 9;  // w [in (its Cout), out (its Cin), 3, 3]
        for (int a = 0; a < 3; ++a)
          for (int e = 0; e < 3; ++e) g[a][e] = src[(2 - a) * 3 + (2 - e)];
      }
      float Gg[4][3];  // G g
      for (int e = 0; e < 3; ++e) {
        Gg[0][e] = g[0][e];
        Gg[1][e] = 0.5f * (g[0][e] + g[1][e] + g[2][e]);
        Gg[2][e] = 0.5f * (g[0][e] - g[1][e] + g[2][e]);
        Gg[3][e] = g[2][e];
      }
      for (int i = 0; i < 4; ++i) {  // (G g) G^T
        float* u = U + (o * in + c);
        const int64_t step = out * in;
        u[(i * 4 + 0) * step] = Gg[i][0];
        u[(i * 4 + 1) * step] = 0.5f * (Gg[i][0] + Gg[i][1] + Gg[i][2]);
        u[(i * 4 + 2) * step] = 0.5f * (Gg[i][0] - Gg[i][1] + Gg[i][2]);
        u[(i * 4 + 3) * step] = Gg[i][2];
      }
    }
}

// dw[o, c] = G^T dU[.][c][o] G: the 3x3 weight gradient from the 4x4 one (dU [16][in][out]).
inline void weights_from_transformed(const float* dU, int64_t out, int64_t in, float* dw) {
  const int64_t step = out * in;
#pragma omp parallel for schedule(static) if (out * in >= 1024)
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < in; ++c) {
      float u[4][4];
      for (int k = 0; k < 16; ++k) u[k / 4][k % 4] = dU[k * step + c * out + o];
      float gu[3][4];  // G^T dU: rows u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3
      for (int e = 0; e < 4; ++e) {
        gu[0][e] = u[0][e] + 0.5f * (u[1][e] + u[2][e]);
        gu[1][e] = 0.5f * (u[1][e] - u[2][e]);
        gu[2][e] = 0.5f * (u[1][e] + u[2][e]) + u[3][e];
      }
      float* g = dw + (o * in + c) * 9;
      for (int a = 0; a < 3; ++a) {  // (G^T dU) G: the same combination of columns
        g[a * 3 + 0] = gu[a][0] + 0.5f * (gu[a][1] + gu[a][2]);
        g[a * 3 + 1] = 0.5f * (gu[a][1] - gu[a][2]);
        g[a * 3 + 2] = 0.5f * (gu[a][1] + gu[a][2]) + gu[a][3];
      }
    }
}

// y = the conv of x [N, Cin, H, W] with the transformed weights U [16][Cout][Cin] (+ b).
inline void winograd_run(const float* x, const float* U, const float* b, float* y, const WinogradShape& s) {
  const int64_t C = s.in_channels, K = s.out_channels, T = s.tiles();
  const TierKernels& tier = tier_kernels();
  const BatchChunks chunks(s.batch, images_per_chunk(T));
  const int64_t count = chunks.count;
  const int64_t padded_size = (2 * s.tiles_h() + 2) * (2 * s.tiles_w() + 2);
  const int64_t macs = s.batch * K * C * 9 * s.height * s.width;
  const bool parallel = s.batch > 1 && count > 1 && macs >= (int64_t{1} << 17);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t chunk = 0; chunk < count; ++chunk) {
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
  }
}

// Tiles per chunk of the weight gradient: its GEMMs sum over the tiles, so longer is better
// until V and dM fall out of L2.
inline int64_t images_per_weight_chunk(int64_t tiles) {
  constexpr int64_t kTargetTiles = 256;
  const int64_t m = (kTargetTiles + tiles - 1) / tiles;
  return m < 1 ? 1 : m;
}

}  // namespace winograd_detail

// y [N, Cout, H, W] = conv2d(x [N, Cin, H, W], w [Cout, Cin, 3, 3], stride 1, padding 1) (+ b [Cout] when not null).
inline void winograd_conv3x3_forward(const float* x, const float* w, const float* b, float* y,
                                     const WinogradShape& s) {
  if (s.batch == 0 || s.out_channels == 0 || s.height == 0 || s.width == 0) return;
  float* U = thread_scratch(ScratchSlot::kWeights, static_cast<size_t>(16 * s.out_channels * s.in_channels));
  winograd_detail::transform_weights(w, s.out_channels, s.in_channels, false, U);
  winograd_detail::winograd_run(x, U, b, y, s);
}

// dx [N, Cin, H, W] = the input gradient of that conv for dy [N, Cout, H, W]: the conv of dy
// with rot180(w) and the channels swapped.
inline void winograd_conv3x3_backward_input(const float* dy, const float* w, float* dx, const WinogradShape& s) {
  if (s.batch == 0 || s.in_channels == 0 || s.height == 0 || s.width == 0) return;
  WinogradShape t = s;
  t.in_channels = s.out_channels;
  t.out_channels = s.in_channels;
  float* U = thread_scratch(ScratchSlot::kWeights, static_cast<size_t>(16 * t.out_channels * t.in_channels));
  winograd_detail::transform_weights(w, t.out_channels, t.in_channels, true, U);
  winograd_detail::winograd_run(dy, U, nullptr, dx, t);
}

// dw [Cout, Cin, 3, 3] = the weight gradient of that conv for x [N, Cin, H, W] and dy [N, Cout, H, W].
// Each thread sums its (static, hence fixed) share of the chunks into its own dU; those are
// added in thread order (kernels/partials.hpp), so the result is deterministic for a fixed
// thread count.
inline void winograd_conv3x3_backward_weight(const float* x, const float* dy, float* dw, const WinogradShape& s) {
  using namespace winograd_detail;
  const int64_t C = s.in_channels, K = s.out_channels, T = s.tiles(), u_size = 16 * C * K;
  if (u_size == 0) return;
  const TierKernels& tier = tier_kernels();
  const BatchChunks chunks(s.batch, images_per_weight_chunk(T));
  const int64_t count = chunks.count;
  const int64_t padded_size = (2 * s.tiles_h() + 2) * (2 * s.tiles_w() + 2);
  const int64_t macs = s.batch * K * C * 9 * s.height * s.width;
  const bool parallel = s.batch > 1 && count > 1 && macs >= (int64_t{1} << 17);
  TeamPartials partials;  // one dU per thread of the team (kernels/partials.hpp)
  std::vector<float> dU_sum(static_cast<size_t>(u_size));
#pragma omp parallel if (parallel)
  {
#pragma omp single
    partials.allocate(omp_get_num_threads(), u_size);  // implicit barrier: the slots exist
    float* dU = partials.zeroed_slot(omp_get_thread_num());
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < count; ++chunk) {
      const int64_t n0 = chunks.begin(chunk), m = chunks.size(chunk), P = m * T;
      const int64_t v_stride = winograd_matrix_stride(C * P), m_stride = winograd_matrix_stride(K * P);
      float* V = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(16 * v_stride));
      float* dM = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(16 * m_stride));
      float* padded = thread_scratch(ScratchSlot::kPlanes, static_cast<size_t>(padded_size));
      std::fill(padded, padded + padded_size, 0.0f);
      tier.winograd_input(x + n0 * C * s.height * s.width, s, m, padded, V);
      std::fill(padded, padded + padded_size, 0.0f);  // now the [2 th, 2 tw] plane of winograd_output_grad
      tier.winograd_output_grad(dy + n0 * K * s.height * s.width, s, m, padded, dM);
      // dU[k] [C, K] += V[k] [C, P] dM[k]^T [P, K]: dM[k] transposed first (K P moves against the
      // product's 2 C K P flops), so that the tier GEMM reads it in place as its B.
      float* dMt = thread_scratch(ScratchSlot::kTransposed, static_cast<size_t>(P * K));
      for (int k = 0; k < 16; ++k) {
        tier.transpose(dM + k * m_stride, K, P, P, dMt, K);
        conv_gemm(false, C, K, P, V + k * v_stride, dMt, dU + k * C * K, true);
      }
    }  // implicit barrier: every slot is complete
    partials.sum_in_team(1, [&](int64_t i, int64_t, float sum) { dU_sum[static_cast<size_t>(i)] = sum; });
  }
  weights_from_transformed(dU_sum.data(), K, C, dw);
}

}  // namespace tinydiff::kernels
