// Winograd F(2x2, 3x3) and F(4x4, 3x3): their forward, input gradient and weight gradient against the im2col + GEMM kernels
// (themselves checked against a nested-loop reference in test_conv.cpp) over batches,
// channel counts, plane sizes (even, odd, smaller than a tile) and with / without bias.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <tinydiff/kernels/winograd.hpp>
#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

kernels::ConvParams params_3x3(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w) {
  kernels::ConvParams p;
  p.batch = n, p.in_channels = cin, p.out_channels = cout;
  p.in_h = h, p.in_w = w, p.out_h = h, p.out_w = w;
  p.kernel_h = p.kernel_w = 3;
  p.pad_h = p.pad_w = 1;
  return p;
}


struct Channels {
  int64_t in, out;
};
struct Plane {
  int64_t h, w;
};

}  // namespace

TEST_CASE("winograd F(2x2,3x3) and F(4x4,3x3) match the im2col kernels: forward, input and weight gradient") {
  Generator gen(11);
  for (int64_t tile : {2, 4}) {
  // F(4x4, 3x3)'s transforms have larger entries (up to 8 in A, 1/24 in G): more rounding.
  const double tolerance = tile == 2 ? 1e-5 : 5e-5;
  double worst_forward = 0.0, worst_input_grad = 0.0, worst_weight_grad = 0.0;
  for (int64_t n : {1, 3, 7})
    for (Channels ch : {Channels{1, 32}, Channels{32, 1}, Channels{3, 5}, Channels{32, 64}})
      for (Plane pl : {Plane{28, 28}, Plane{14, 14}, Plane{7, 7}, Plane{5, 6}, Plane{1, 1}, Plane{2, 3}})
        for (bool with_bias : {false, true}) {
          CAPTURE(tile);
          CAPTURE(n);
          CAPTURE(ch.in);
          CAPTURE(ch.out);
          CAPTURE(pl.h);
          CAPTURE(pl.w);
          CAPTURE(with_bias);
          const kernels::ConvParams p = params_3x3(n, ch.in, ch.out, pl.h, pl.w);
          const kernels::WinogradShape s{n, ch.in, ch.out, pl.h, pl.w, tile};
          const int64_t x_size = n * ch.in * pl.h * pl.w, y_size = n * ch.out * pl.h * pl.w;
          const std::vector<float> x = random_vector(x_size, gen);
          const std::vector<float> w = random_vector(ch.out * ch.in * 9, gen);
          const std::vector<float> b = random_vector(ch.out, gen);
          const std::vector<float> dy = random_vector(y_size, gen);
          const float* bias = with_bias ? b.data() : nullptr;

          // Forward; the outputs start as NaN so an unwritten element fails.
          std::vector<float> y_ref(y_size, NAN), y_win(y_size, NAN);
          kernels::conv2d_forward_im2col(x.data(), w.data(), bias, y_ref.data(), p);
          kernels::winograd_conv3x3_forward(x.data(), w.data(), bias, y_win.data(), s);
          const double forward_error = relative_error(y_win, y_ref);
          CHECK(forward_error <= tolerance);  // float32, well-conditioned transforms
          worst_forward = std::max(worst_forward, forward_error);

          // Input gradient (bias plays no part in it: run once).
          if (with_bias) continue;
          std::vector<float> dx_ref(x_size, NAN), dx_win(x_size, NAN);
          kernels::conv2d_backward_input_im2col(dy.data(), w.data(), dx_ref.data(), p);
          kernels::winograd_conv3x3_backward_input(dy.data(), w.data(), dx_win.data(), s);
          const double input_grad_error = relative_error(dx_win, dx_ref);
          CHECK(input_grad_error <= tolerance);
          worst_input_grad = std::max(worst_input_grad, input_grad_error);

          // Weight gradient (summed over the batch: the chunking and per-thread sums show here).
          std::vector<float> dw_ref(w.size(), NAN), dw_win(w.size(), NAN);
          kernels::conv2d_backward_weight_im2col(x.data(), dy.data(), dw_ref.data(), p);
          kernels::winograd_conv3x3_backward_weight(x.data(), dy.data(), dw_win.data(), s);
          const double weight_grad_error = relative_error(dw_win, dw_ref);
          CHECK(weight_grad_error <= tolerance);
          worst_weight_grad = std::max(worst_weight_grad, weight_grad_error);
        }
  MESSAGE("winograd F(", tile, "x", tile, ",3x3) vs im2col, worst error / max |output|: forward ", worst_forward,
          ", input gradient ", worst_input_grad, ", weight gradient ", worst_weight_grad);
  }
}

TEST_CASE("winograd F(2x2,3x3) and F(4x4,3x3): a hand-computed case") {
  // x = 1..9 on a 3x3 plane, w = all ones: y[i, j] = sum of the 3x3 neighbourhood (zero padded) + b.
  std::vector<float> x(9), w(9, 1.0f), y(9, NAN);
  for (int i = 0; i < 9; ++i) x[i] = static_cast<float>(i + 1);
  const float b = 0.5f;
  const std::vector<float> expected = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int64_t tile : {2, 4}) {
    std::fill(y.begin(), y.end(), NAN);
    kernels::winograd_conv3x3_forward(x.data(), w.data(), &b, y.data(), kernels::WinogradShape{1, 1, 1, 3, 3, tile});
    for (int i = 0; i < 9; ++i) CHECK(y[i] == doctest::Approx(expected[i] + b));
  }
}
