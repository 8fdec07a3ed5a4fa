#pragma once
// The convolution as its definition, loop by loop: the reference every fast path is tested
// against (kernels/conv_paths.hpp lists the paths; TINYDIFF_CONV_PATH=reference runs this one).
// Written to be read, not to be fast: one multiply-add per innermost step, accumulated in double.
//
// x [N, Cin, H, W], w [Cout, Cin/G, kh, kw] (PyTorch's layout), y [N, Cout, OH, OW]; output channel
// o belongs to group g = o / (Cout/G) and reads input channels g Cin/G .. (g+1) Cin/G - 1. Tap (i, j)
// of the kernel at output position (oh, ow) reads input pixel
//   ih = oh s_h - p_h + i d_h,   iw = ow s_w - p_w + j d_w      (a zero outside the image)
// and
//   forward          y[n, o, oh, ow]  = b[o] + sum_{c, i, j} w[o, c, i, j] x[n, g Cin/G + c, ih, iw]
// Each term links one input pixel, one weight and one output, so the gradients (upstream dy) are
// the same sum read the other two ways:
//   input gradient   dx[n, g Cin/G + c, ih, iw] += w[o, c, i, j] dy[n, o, oh, ow]
//   weight gradient  dw[o, c, i, j]             += x[n, g Cin/G + c, ih, iw] dy[n, o, oh, ow]
//   bias gradient    db[o]                       = sum_{n, oh, ow} dy[n, o, oh, ow]
// (A transposed convolution is the input gradient of a convolution, ops/conv.hpp.)
#include <cstdint>
#include <vector>

#include "tinydiff/kernels/conv_params.hpp"

namespace tinydiff::kernels {

namespace reference_detail {
// Calls term(x index, w index, y index) for every term of the sum above: every output, group
// channel and tap whose input pixel lies inside the image.
template <class Term>
inline void for_each_term(const ConvParams& p, int64_t n, int64_t o, Term&& term) {
  const int64_t cin_g = p.in_per_group(), g = o / p.out_per_group();
  for (int64_t oh = 0; oh < p.out_h; ++oh)
    for (int64_t ow = 0; ow < p.out_w; ++ow) {
      const int64_t y_index = ((n * p.out_channels + o) * p.out_h + oh) * p.out_w + ow;
      for (int64_t c = 0; c < cin_g; ++c)
        for (int64_t i = 0; i < p.kernel_h; ++i)
          for (int64_t j = 0; j < p.kernel_w; ++j) {
            const int64_t ih = oh * p.stride_h - p.pad_h + i * p.dilation_h;
            const int64_t iw = ow * p.stride_w - p.pad_w + j * p.dilation_w;
            if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;  // the zero padding
            const int64_t x_index = ((n * p.in_channels + g * cin_g + c) * p.in_h + ih) * p.in_w + iw;
            const int64_t w_index = ((o * cin_g + c) * p.kernel_h + i) * p.kernel_w + j;
            term(x_index, w_index, y_index);
          }
    }
}
}  // namespace reference_detail

// y = conv(x, w) (+ b when not null).
inline void reference_conv2d_forward(const float* x, const float* w, const float* b, float* y, const ConvParams& p) {
  const int64_t out_plane = p.out_h * p.out_w;
#pragma omp parallel for schedule(static)
  for (int64_t no = 0; no < p.batch * p.out_channels; ++no) {
    const int64_t n = no / p.out_channels, o = no % p.out_channels;
    std::vector<double> sums(static_cast<size_t>(out_plane), b ? b[o] : 0.0);
    const int64_t first = no * out_plane;
    reference_detail::for_each_term(p, n, o, [&](int64_t xi, int64_t wi, int64_t yi) {
      sums[static_cast<size_t>(yi - first)] += static_cast<double>(w[wi]) * x[xi];
    });
    for (int64_t l = 0; l < out_plane; ++l) y[first + l] = static_cast<float>(sums[static_cast<size_t>(l)]);
  }
}

// dx = the input gradient for upstream dy (+ bias[c] on every pixel of channel c when not null:
// conv_transpose2d's bias).
inline void reference_conv2d_backward_input(const float* dy, const float* w, float* dx, const ConvParams& p,
                                            const float* bias = nullptr) {
  const int64_t in_image = p.in_channels * p.in_h * p.in_w, in_plane = p.in_h * p.in_w;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < p.batch; ++n) {  // an image's terms write only its own dx
    std::vector<double> sums(static_cast<size_t>(in_image), 0.0);
    for (int64_t o = 0; o < p.out_channels; ++o)
      reference_detail::for_each_term(p, n, o, [&](int64_t xi, int64_t wi, int64_t yi) {
        sums[static_cast<size_t>(xi - n * in_image)] += static_cast<double>(w[wi]) * dy[yi];
      });
    for (int64_t e = 0; e < in_image; ++e)
      dx[n * in_image + e] = static_cast<float>(sums[static_cast<size_t>(e)] + (bias ? bias[e / in_plane] : 0.0));
  }
}

// dw = the weight gradient for input x and upstream dy.
inline void reference_conv2d_backward_weight(const float* x, const float* dy, float* dw, const ConvParams& p) {
  const int64_t per_output = p.in_per_group() * p.kernel_h * p.kernel_w;
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < p.out_channels; ++o) {  // an output channel's terms write only its own weights
    std::vector<double> sums(static_cast<size_t>(per_output), 0.0);
    for (int64_t n = 0; n < p.batch; ++n)
      reference_detail::for_each_term(p, n, o, [&](int64_t xi, int64_t wi, int64_t yi) {
        sums[static_cast<size_t>(wi - o * per_output)] += static_cast<double>(x[xi]) * dy[yi];
      });
    for (int64_t e = 0; e < per_output; ++e) dw[o * per_output + e] = static_cast<float>(sums[static_cast<size_t>(e)]);
  }
}

// db [C] = the bias gradient: dy [N, C, plane] summed over images and pixels.
inline void reference_conv2d_backward_bias(const float* dy, float* db, int64_t batch, int64_t channels,
                                           int64_t plane) {
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t l = 0; l < plane; ++l) sum += dy[(n * channels + c) * plane + l];
    db[c] = static_cast<float>(sum);
  }
}

}  // namespace tinydiff::kernels
