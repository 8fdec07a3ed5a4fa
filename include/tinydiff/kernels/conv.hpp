#pragma once
// 2-D convolution kernels on raw float pointers, NCHW, PyTorch's weight layout w [Cout,
// Cin/groups, kh, kw]. No autograd here: ops/conv.hpp builds conv2d and conv_transpose2d (whose
// forward is conv2d's input gradient) from the four functions at the end of this file, each of
// which runs the path kernels/conv_paths.hpp picks for its pass: Winograd F(2x2, 3x3)
// (kernels/winograd.hpp), the implicit GEMM (kernels/conv_implicit.hpp), the input gradient by
// phases (kernels/conv_phases.hpp), the weight gradient read straight from the input
// (kernels/weight_grad_direct.hpp), the reference loops (kernels/conv_reference.hpp), or the
// im2col path, which this file holds.
//
// Per image n and group g, with col = im2col(x[n, g]) of shape [K, L],
// K = Cin_g*kh*kw and L = out_h*out_w, and W_g = w[g] viewed as [Cout_g, K]:
//   forward           y[n, g]  = W_g col                    (+ b)
//   input gradient    dx[n, g] = col2im(W_g^T dy[n, g])
//   weight gradient   dW_g     = sum_n dy[n, g] col^T
//   bias gradient     db[o]    = sum_{n, oh, ow} dy[n, o, oh, ow]
//
// Small planes are batched: m images' patches sit side by side in one col
// [K, m*L] and share one GEMM (conv_gemm, kernels/conv_gemm.hpp: reads the patch
// matrix in place). Parallel over chunks of the batch (OpenMP; chunk sizes evened
// out over the threads, kernels/batch_chunks.hpp), each thread with its own scratch
// buffers; the GEMMs inside run single-threaded. With one chunk the loop runs
// serially and the GEMM splits its columns over the threads instead; tiny
// convolutions run on one thread. Results are deterministic for a fixed thread count.
#include <omp.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <vector>

#include "tinydiff/kernels/batch_chunks.hpp"
#include "tinydiff/kernels/conv_gemm.hpp"
#include "tinydiff/kernels/conv_implicit.hpp"
#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/conv_paths.hpp"
#include "tinydiff/kernels/conv_phases.hpp"
#include "tinydiff/kernels/conv_reference.hpp"
#include "tinydiff/kernels/gemm.hpp"
#include "tinydiff/kernels/im2col.hpp"
#include "tinydiff/kernels/parallel_ranges.hpp"
#include "tinydiff/kernels/partials.hpp"
#include "tinydiff/kernels/scratch.hpp"
#include "tinydiff/kernels/transpose.hpp"
#include "tinydiff/kernels/weight_grad_direct.hpp"
#include "tinydiff/kernels/winograd.hpp"

namespace tinydiff::kernels {

// y[n, o, :, :] += b[o] for y [N, C, L] (L = h*w).
inline void add_channel_bias(float* y, const float* b, int64_t batch, int64_t channels, int64_t plane) {
#pragma omp parallel for schedule(static) if (batch * channels * plane > 32768)
  for (int64_t nc = 0; nc < batch * channels; ++nc) {
    const float bias = b[nc % channels];
    float* p = y + nc * plane;
    for (int64_t l = 0; l < plane; ++l) p[l] += bias;
  }
}

inline WinogradShape winograd_shape(const ConvParams& p, int64_t tile) {
  return WinogradShape{p.batch, p.in_channels, p.out_channels, p.in_h, p.in_w, tile};
}

namespace detail {
// Copies rows [C, L] of m images (batch stride `image_stride`) into one [C, m*L] matrix, or back.
inline void gather_rows(const float* src, int64_t image_stride, int64_t m, int64_t rows, int64_t L, float* dst) {
  for (int64_t j = 0; j < m; ++j)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * m * L + j * L, src + j * image_stride + r * L, sizeof(float) * static_cast<size_t>(L));
}
inline void scatter_rows(const float* src, int64_t m, int64_t rows, int64_t L, float* dst, int64_t image_stride) {
  for (int64_t j = 0; j < m; ++j)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + j * image_stride + r * L, src + r * m * L + j * L, sizeof(float) * static_cast<size_t>(L));
}

// The same rows transposed: dst [m*L, rows], dst[j*L + l][r] = src[j][r][l].
inline void gather_rows_transposed(const float* src, int64_t image_stride, int64_t m, int64_t rows, int64_t L,
                                   float* dst) {
  for (int64_t j = 0; j < m; ++j) transpose(src + j * image_stride, rows, L, L, dst + j * L * rows, rows);
}

// The patches of images [n0, n0 + m), group g, side by side: col [K, m*L] in scratch
// slot 0 (im2col per image; a plain copy for a pointwise conv), or x itself for a
// single image of a pointwise conv.
inline const float* chunk_patches(const float* x, const ConvParams& p, const PatchGeometry& geo, int64_t n0,
                                  int64_t m, int64_t g) {
  const int64_t cin_g = p.in_per_group(), K = geo.col_rows(), L = geo.col_cols(), in_plane = p.in_h * p.in_w;
  const int64_t cols = m * L;
  const bool pointwise = p.is_pointwise();
  if (pointwise && m == 1) return x + (n0 * p.in_channels + g * cin_g) * in_plane;
  float* col = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(K * cols));
  for (int64_t j = 0; j < m; ++j) {
    const float* xg = x + ((n0 + j) * p.in_channels + g * cin_g) * in_plane;
    if (pointwise)
      for (int64_t k = 0; k < K; ++k)
        std::memcpy(col + k * cols + j * L, xg + k * L, sizeof(float) * static_cast<size_t>(L));
    else
      im2col(xg, geo, col + j * L, cols);
  }
  return col;
}
}  // namespace detail

// y [N, Cout, out_h, out_w] = conv(x [N, Cin, in_h, in_w], w) (+ b [Cout] when b is not null).
// For a chunk of m images: col [K, m*L] holds their patches side by side, and one GEMM
// gives Y [Cout_g, m*L], scattered back to each image (directly into y when m = 1,
// starting from the bias so the GEMM accumulates onto it).
inline void conv2d_forward_im2col(const float* x, const float* w, const float* b, float* y, const ConvParams& p) {
  const PatchGeometry geo = p.patches();
  const int64_t cout_g = p.out_per_group();
  const int64_t K = geo.col_rows(), L = geo.col_cols();
  const BatchChunks chunks(p.batch, detail::images_per_gemm(L, K));
  for_each_index(chunks.count, p.parallel_over_batch(), [&](int64_t c) {
    const int64_t n0 = chunks.begin(c), m = chunks.size(c), cols = m * L;
    for (int64_t g = 0; g < p.groups; ++g) {
      const float* patches = detail::chunk_patches(x, p, geo, n0, m, g);
      float* out = m == 1 ? y + (n0 * p.out_channels + g * cout_g) * L
                          : thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(cout_g * cols));
      if (b)
        for (int64_t o = 0; o < cout_g; ++o) std::fill(out + o * cols, out + (o + 1) * cols, b[g * cout_g + o]);
      conv_gemm(false, cout_g, cols, K, w + g * cout_g * K, patches, out, b != nullptr);
      if (m > 1)
        detail::scatter_rows(out, m, cout_g, L, y + (n0 * p.out_channels + g * cout_g) * L, p.out_channels * L);
    }
  });
}

// dx [N, Cin, in_h, in_w] = the input gradient of conv for upstream gradient dy [N, Cout, out_h, out_w].
// (This is also conv_transpose2d's forward.) Per chunk: dcol [K, m*L] = W_g^T dY, then col2im per image.
inline void conv2d_backward_input_im2col(const float* dy, const float* w, float* dx, const ConvParams& p) {
  const PatchGeometry geo = p.patches();
  const int64_t cin_g = p.in_per_group(), cout_g = p.out_per_group();
  const int64_t K = geo.col_rows(), L = geo.col_cols(), in_plane = p.in_h * p.in_w;
  const bool pointwise = p.is_pointwise();
  const BatchChunks chunks(p.batch, detail::images_per_gemm(L, K));
  for_each_index(chunks.count, p.parallel_over_batch(), [&](int64_t c) {
    const int64_t n0 = chunks.begin(c), m = chunks.size(c), cols = m * L;
    for (int64_t g = 0; g < p.groups; ++g) {
      const float* dyg = dy + (n0 * p.out_channels + g * cout_g) * L;
      float* dxg = dx + (n0 * p.in_channels + g * cin_g) * in_plane;
      const float* dY = dyg;
      if (m > 1) {
        float* gathered = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(cout_g * cols));
        detail::gather_rows(dyg, p.out_channels * L, m, cout_g, L, gathered);
        dY = gathered;
      }
      if (pointwise && m == 1) {
        conv_gemm(true, K, cols, cout_g, w + g * cout_g * K, dY, dxg, false);  // [K, Cout_g] x [Cout_g, L]
        continue;
      }
      float* dcol = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(K * cols));
      conv_gemm(true, K, cols, cout_g, w + g * cout_g * K, dY, dcol, false);
      for (int64_t j = 0; j < m; ++j) {
        float* dxj = dxg + j * p.in_channels * in_plane;
        if (pointwise)
          for (int64_t k = 0; k < K; ++k)
            std::memcpy(dxj + k * L, dcol + k * cols + j * L, sizeof(float) * static_cast<size_t>(L));
        else
          col2im(dcol + j * L, geo, dxj, cols);
      }
    }
  });
}

// dw [Cout, Cin_g, kh, kw] = the weight gradient of conv (im2col path): sum over images of dy col^T,
// one GEMM per chunk of images (inner dimension m*L). It is computed transposed,
//   dW_g^T [K, Cout_g] += col [K, mL] dY^T [mL, Cout_g],
// so that the big patch matrix is conv_gemm's op(A), read in place row by row, and only the
// small dY is rearranged (transposed while it is gathered). Where weight_grad_direct_applies,
// the same product runs without col: conv2d_backward_weight_direct reads the patches' pixels
// from a zero-padded copy of x (kernels/weight_grad_direct.hpp). With fewer than 16 output channels
// per group that B would fill a fraction of each vector, and the product runs untransposed
// on Eigen instead (dW_g += dY col^T). Each thread sums its (static, hence fixed) share of the
// chunks into its own partial; the partials are then added in thread order, so the result is
// deterministic for a fixed thread count (kernels/partials.hpp).
inline void conv2d_backward_weight_im2col(const float* x, const float* dy, float* dw, const ConvParams& p,
                                          bool direct = false) {
  const PatchGeometry geo = p.patches();
  const int64_t cout_g = p.out_per_group();
  const int64_t K = geo.col_rows(), L = geo.col_cols();
  const int64_t weight_size = p.out_channels * K;
  const bool transposed = cout_g >= 16;
  direct = direct && transposed && weight_grad_direct_applies(p);
  const BatchChunks chunks(p.batch, detail::images_per_gemm(L, K));
  TeamPartials partials;  // one slot per thread of the team: dW_g^T [K, Cout_g] per group, or dW itself
  auto chunk_into = [&](float* acc, int64_t c) {
    const int64_t n0 = chunks.begin(c), m = chunks.size(c), cols = m * L;
    for (int64_t g = 0; g < p.groups; ++g) {
      const float* dyg = dy + (n0 * p.out_channels + g * cout_g) * L;
      float* gathered = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(cout_g * cols));
      if (transposed) {
        detail::gather_rows_transposed(dyg, p.out_channels * L, m, cout_g, L, gathered);
        if (direct && weight_grad_direct_fits(p, m)) {  // the same product, the patches read from x itself
          conv2d_backward_weight_direct(x, gathered, acc + g * K * cout_g, p, n0, m, g);
          continue;
        }
        const float* patches = detail::chunk_patches(x, p, geo, n0, m, g);
        conv_gemm(false, K, cout_g, cols, patches, gathered, acc + g * K * cout_g, true);  // [K, mL] x [mL, Cout_g]
        continue;
      }
      const float* patches = detail::chunk_patches(x, p, geo, n0, m, g);
      const float* dY = dyg;
      if (m > 1) {
        detail::gather_rows(dyg, p.out_channels * L, m, cout_g, L, gathered);
        dY = gathered;
      }
      gemm(false, true, cout_g, K, cols, 1.0f, dY, patches, 1.0f, acc + g * cout_g * K);  // [Cout_g, mL] x [mL, K]
    }
  };
  auto sum_slots = [&] {
    if (transposed)  // the slots hold dW_g^T: row (g, k), column o
      partials.sum_in_team(cout_g, [&](int64_t row, int64_t o, float sum) {
        const int64_t g = row / K, k = row % K;
        dw[(g * cout_g + o) * K + k] = sum;
      });
    else
      partials.sum_in_team(K, [&](int64_t row, int64_t k, float sum) { dw[row * K + k] = sum; });
  };
  for_each_index_into_slots(partials, weight_size, chunks.count, p.parallel_over_batch(), chunk_into, sum_slots);
}

// y [N, Cout, out_h, out_w] = conv(x [N, Cin, in_h, in_w], w) (+ b [Cout] when b is not null).
inline void conv2d_forward(const float* x, const float* w, const float* b, float* y, const ConvParams& p) {
  switch (conv_path(ConvPass::kForward, p)) {
    case ConvPath::kWinograd: winograd_conv3x3_forward(x, w, b, y, winograd_shape(p, 2)); return;
    case ConvPath::kWinograd4: winograd_conv3x3_forward(x, w, b, y, winograd_shape(p, 4)); return;
    case ConvPath::kImplicit: conv2d_forward_implicit(x, w, b, y, p); return;
    case ConvPath::kReference: reference_conv2d_forward(x, w, b, y, p); return;
    default: conv2d_forward_im2col(x, w, b, y, p); return;
  }
}

// dx = the input gradient of conv for upstream gradient dy (conv_transpose2d's forward). With
// `bias` [Cin] (conv_transpose2d's), dx[n, c] += bias[c]: added as dx is stored by the phases, in a
// pass of its own on the other paths.
inline void conv2d_backward_input(const float* dy, const float* w, float* dx, const ConvParams& p,
                                  const float* bias = nullptr) {
  switch (conv_path(ConvPass::kInputGrad, p)) {
    case ConvPath::kImplicit: conv2d_backward_input_phases_implicit(dy, w, dx, p, bias); return;
    case ConvPath::kPhases: conv2d_backward_input_phases(dy, w, dx, p, bias); return;
    case ConvPath::kReference: reference_conv2d_backward_input(dy, w, dx, p, bias); return;
    case ConvPath::kWinograd: winograd_conv3x3_backward_input(dy, w, dx, winograd_shape(p, 2)); break;
    case ConvPath::kWinograd4: winograd_conv3x3_backward_input(dy, w, dx, winograd_shape(p, 4)); break;
    default: conv2d_backward_input_im2col(dy, w, dx, p); break;
  }
  if (bias) add_channel_bias(dx, bias, p.batch, p.in_channels, p.in_h * p.in_w);
}

// dw [Cout, Cin_g, kh, kw] = the weight gradient of conv for input x and upstream gradient dy.
inline void conv2d_backward_weight(const float* x, const float* dy, float* dw, const ConvParams& p) {
  switch (conv_path(ConvPass::kWeightGrad, p)) {
    case ConvPath::kDirect: conv2d_backward_weight_im2col(x, dy, dw, p, true); return;
    case ConvPath::kWinograd: winograd_conv3x3_backward_weight(x, dy, dw, winograd_shape(p, 2)); return;
    case ConvPath::kWinograd4: winograd_conv3x3_backward_weight(x, dy, dw, winograd_shape(p, 4)); return;
    case ConvPath::kReference: reference_conv2d_backward_weight(x, dy, dw, p); return;
    default: conv2d_backward_weight_im2col(x, dy, dw, p); return;
  }
}

// db [C] = sum over n, h, w of dy [N, C, L]: each plane summed in float (vectorised), the
// planes' sums accumulated in double.
inline void conv2d_backward_bias(const float* dy, float* db, int64_t batch, int64_t channels, int64_t plane) {
#pragma omp parallel for schedule(static) if (batch * channels * plane > 32768)
  for (int64_t c = 0; c < channels; ++c) {
    double total = 0.0;
    for (int64_t n = 0; n < batch; ++n) {
      const float* row = dy + (n * channels + c) * plane;
      float row_sum = 0.0f;
#pragma omp simd reduction(+ : row_sum)
      for (int64_t l = 0; l < plane; ++l) row_sum += row[l];
      total += row_sum;
    }
    db[c] = static_cast<float>(total);
  }
}

}  // namespace tinydiff::kernels
