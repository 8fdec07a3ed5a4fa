// The building blocks under the convolution kernels, each against a plain reference and on every
// kernel tier this build and CPU can run (generic, avx2, avx512; for_each_tier names the tier in
// a failure): im2col against index arithmetic, conv_gemm (the in-place-B GEMM) against a
// double-precision triple loop, transpose against index arithmetic, the phase-by-phase input
// gradient of strided convs and the implicit-GEMM forward and input gradient against the
// reference convolution (kernels/conv_reference.hpp), and the weight gradient read straight from
// the input against a double loop. test_conv_paths.cpp runs whole convolutions on every path.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <tinydiff/kernels/conv.hpp>
#include <tinydiff/kernels/conv_gemm.hpp>
#include <tinydiff/kernels/conv_reference.hpp>
#include <tinydiff/kernels/transpose.hpp>
#include <tinydiff/kernels/weight_grad_direct.hpp>
#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

TEST_CASE("im2col matches index arithmetic on every tier") {
  // Widths on both sides of the vector widths (4, 8, 16) and beyond one vector's reach; strides,
  // paddings and dilations that put taps off every edge; a row stride wider than one image's
  // block, whose gap must stay untouched (whole-vector stores may only spill where later rows
  // are written).
  for_each_tier([] {
  int64_t geometries = 0, wrong = 0;
  for (int64_t height : {1, 6, 15})
    for (int64_t width : {1, 5, 8, 9, 14, 16, 17, 28, 32, 33})
      for (int64_t kernel : {1, 2, 3, 4})
        for (int64_t stride : {1, 2, 3})
          for (int64_t pad : {0, 1, 2})
            for (int64_t dilation : {1, 2}) {
              kernels::PatchGeometry g;
              g.channels = 2;
              g.height = height;
              g.width = width;
              g.kernel_h = kernel;
              g.kernel_w = kernel == 4 ? 3 : kernel;  // one non-square kernel
              g.stride_h = stride;
              g.stride_w = stride == 3 ? 2 : stride;  // and unequal strides
              g.pad_h = g.pad_w = pad;
              g.dilation_h = g.dilation_w = dilation;
              const int64_t span_h = height + 2 * pad - dilation * (g.kernel_h - 1) - 1;
              const int64_t span_w = width + 2 * pad - dilation * (g.kernel_w - 1) - 1;
              if (span_h < 0 || span_w < 0) continue;
              g.out_h = span_h / g.stride_h + 1;
              g.out_w = span_w / g.stride_w + 1;
              const int64_t L = g.out_h * g.out_w, row_stride = L + 3;
              std::vector<float> x(static_cast<size_t>(g.channels * height * width));
              for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i + 1);
              std::vector<float> col(static_cast<size_t>(g.col_rows() * row_stride), -1.0f);
              kernels::im2col(x.data(), g, col.data(), row_stride);
              for (int64_t c = 0; c < g.channels; ++c)
                for (int64_t i = 0; i < g.kernel_h; ++i)
                  for (int64_t j = 0; j < g.kernel_w; ++j) {
                    const float* row = col.data() + ((c * g.kernel_h + i) * g.kernel_w + j) * row_stride;
                    for (int64_t t = 0; t < row_stride; ++t) {
                      const int64_t oh = t / g.out_w, ow = t % g.out_w;
                      const int64_t ih = oh * g.stride_h - pad + i * dilation, iw = ow * g.stride_w - pad + j * dilation;
                      const bool inside = ih >= 0 && ih < height && iw >= 0 && iw < width;
                      const float expected = t >= L ? -1.0f : inside ? x[static_cast<size_t>((c * height + ih) * width + iw)] : 0.0f;
                      wrong += row[t] != expected;
                    }
                  }
              ++geometries;
            }
  CHECK(geometries > 1000);
  CHECK(wrong == 0);
  });
}

TEST_CASE("conv_gemm matches a reference GEMM on every block and tail shape, on every tier") {
  // Rows on both sides of the 6- and 8-row blocks (and below them, where Eigen takes over), columns
  // on both sides of the vectors and panels (8, 12, 16, 48), both layouts of A, with and without
  // accumulating into C, depths on both sides of the 192- and 256-deep passes; B contiguous and as
  // a table of row pointers (conv_gemm_rows).
  for_each_tier([] {
  Generator gen(21);
  for (int64_t M : {1, 5, 6, 7, 8, 13, 24, 37})
    for (int64_t N : {1, 7, 8, 12, 15, 16, 17, 47, 48, 64, 100})
      for (int64_t K : {1, 5, 33, 200, 300})
        for (bool trans_a : {false, true})
          for (bool accumulate : {false, true}) {
            INFO("M ", M, " N ", N, " K ", K, " trans_a ", trans_a, " accumulate ", accumulate);
            const std::vector<float> a = random_vector(M * K, gen), b = random_vector(K * N, gen);
            std::vector<float> c = random_vector(M * N, gen);
            std::vector<float> expected(c.begin(), c.end());
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) {
                double sum = accumulate ? c[i * N + j] : 0.0;
                for (int64_t k = 0; k < K; ++k) sum += static_cast<double>(trans_a ? a[k * M + i] : a[i * K + k]) * b[k * N + j];
                expected[i * N + j] = static_cast<float>(sum);
              }
            std::vector<float> c_rows(c);
            kernels::conv_gemm(trans_a, M, N, K, a.data(), b.data(), c.data(), accumulate);
            CHECK(relative_error(c, expected) < 1e-5);
            // the row-table form: row k of B at b_rows[k], here laid out in reverse order
            std::vector<float> b_reversed(b.size());
            std::vector<const float*> b_rows(static_cast<size_t>(K));
            for (int64_t k = 0; k < K; ++k) {
              std::copy(b.begin() + k * N, b.begin() + (k + 1) * N, b_reversed.begin() + (K - 1 - k) * N);
              b_rows[static_cast<size_t>(k)] = b_reversed.data() + (K - 1 - k) * N;
            }
            kernels::conv_gemm_rows(trans_a, M, N, K, a.data(), b_rows.data(), c_rows.data(), accumulate);
            CHECK(relative_error(c_rows, expected) < 1e-5);
          }
  });
}

TEST_CASE("transpose matches index arithmetic, whole blocks and edges, with row strides, on every tier") {
  for_each_tier([] {
  for (int64_t rows : {1, 3, 4, 7, 8, 9, 15, 16, 17, 33})
    for (int64_t cols : {1, 4, 8, 16, 31, 48}) {
      INFO("rows ", rows, " cols ", cols);
      const int64_t src_stride = cols + 3, dst_stride = rows + 5;
      std::vector<float> src(static_cast<size_t>(rows * src_stride)), dst(static_cast<size_t>(cols * dst_stride), -1.0f);
      for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i);
      kernels::transpose(src.data(), rows, cols, src_stride, dst.data(), dst_stride);
      int64_t wrong = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) wrong += dst[c * dst_stride + r] != src[r * src_stride + c];
      CHECK(wrong == 0);
    }
  });
}

namespace {
// The geometry of a convolution from its kernel, stride, padding and dilation.
kernels::ConvParams conv_params(int64_t batch, int64_t cin, int64_t cout, int64_t groups, int64_t h, int64_t w,
                                int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh = 1,
                                int64_t dw = 1) {
  kernels::ConvParams p;
  p.batch = batch, p.in_channels = cin, p.out_channels = cout, p.groups = groups;
  p.in_h = h, p.in_w = w, p.kernel_h = kh, p.kernel_w = kw;
  p.stride_h = sh, p.stride_w = sw, p.pad_h = ph, p.pad_w = pw, p.dilation_h = dh, p.dilation_w = dw;
  p.out_h = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
  p.out_w = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
  return p;
}

// dx of the reference convolution, with bias[c] added when not null.
std::vector<float> reference_input_grad(const std::vector<float>& dy, const std::vector<float>& w,
                                        const kernels::ConvParams& p, const float* bias) {
  std::vector<float> dx(static_cast<size_t>(p.batch * p.in_channels * p.in_h * p.in_w));
  kernels::reference_conv2d_backward_input(dy.data(), w.data(), dx.data(), p, bias);
  return dx;
}
}  // namespace

TEST_CASE("the input gradient by phases matches the reference over strides, kernels and paddings, on every tier") {
  // Strides 2 (both axes: rows zipped from two column phases), 3 and mixed (each phase stored
  // on its own), 1 (one phase: the flipped-kernel convolution), kernels smaller than the stride
  // (phases without taps get zeros), odd and even widths, groups, and enough channels for
  // conv_gemm's vector path; with and without conv_transpose2d's bias.
  Generator gen(22);
  struct Case {
    int64_t kh, kw, sh, sw, ph, pw, groups, h, w;
  };
  const std::vector<Case> cases = {{3, 3, 2, 2, 1, 1, 1, 28, 28}, {4, 4, 2, 2, 1, 1, 1, 14, 14},
                                   {3, 3, 2, 2, 0, 0, 1, 13, 11}, {3, 3, 2, 2, 2, 2, 2, 9, 10},
                                   {1, 1, 2, 2, 0, 0, 1, 8, 9},   {2, 3, 3, 3, 1, 0, 1, 11, 13},
                                   {3, 2, 2, 3, 1, 1, 2, 10, 12}, {5, 5, 3, 2, 2, 1, 1, 16, 15},
                                   {3, 3, 1, 1, 1, 1, 1, 7, 7},   {5, 3, 1, 1, 1, 2, 2, 9, 8}};
  for (const Case& k : cases)
    for (int64_t batch : {1, 5}) {
      const kernels::ConvParams p =
          conv_params(batch, 16 * k.groups, 12 * k.groups, k.groups, k.h, k.w, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw);
      INFO("kernel ", k.kh, "x", k.kw, " stride ", k.sh, "x", k.sw, " pad ", k.ph, "x", k.pw, " groups ", k.groups,
           " image ", k.h, "x", k.w, " batch ", batch);
      REQUIRE(kernels::phases_apply(p));
      const std::vector<float> dy = random_vector(batch * p.out_channels * p.out_h * p.out_w, gen);
      const std::vector<float> w = random_vector(p.out_channels * 16 * k.kh * k.kw, gen);
      const std::vector<float> bias = random_vector(p.in_channels, gen);
      for (bool with_bias : {false, true}) {
        const float* b = with_bias ? bias.data() : nullptr;
        const std::vector<float> expected = reference_input_grad(dy, w, p, b);
        for_each_tier([&] {
          std::vector<float> by_phases(expected.size(), NAN);
          kernels::conv2d_backward_input_phases(dy.data(), w.data(), by_phases.data(), p, b);
          CHECK(relative_error(by_phases, expected) < 1e-5);  // NaN (a pixel never written) fails too
        });
      }
    }
}

TEST_CASE("the implicit-GEMM forward matches the reference over tiles, slices and channel tails, on every tier") {
  // Output rows of 1 to 16 columns (tiles of 48 positions cut rows and images anywhere), strides
  // 1 to 3, paddings, dilations and non-square kernels; 3 or 13 input channels (27 or 117 patch
  // rows: one slice, or two of whole channels); 5 (less than one block), 8, 12 (a partial block of
  // output channels) and 40; batches of 1, 3 and 7; with and without a bias. Also the stride-1
  // input gradient, which is the same kernel run over dy.
  Generator gen(24);
  struct Case {
    int64_t kh, kw, sh, sw, ph, pw, dh, dw, h, w;
  };
  const std::vector<Case> cases = {{3, 3, 2, 2, 1, 1, 1, 1, 28, 28}, {3, 3, 2, 2, 1, 1, 1, 1, 14, 14},
                                   {3, 3, 1, 1, 1, 1, 1, 1, 7, 7},   {4, 4, 2, 2, 1, 1, 1, 1, 14, 14},
                                   {2, 3, 3, 1, 0, 2, 1, 1, 11, 9},  {3, 2, 1, 2, 2, 0, 2, 1, 9, 32},
                                   {3, 3, 1, 1, 0, 0, 1, 2, 6, 17},  {1, 3, 1, 3, 0, 1, 1, 1, 5, 1},
                                   {3, 5, 1, 3, 1, 2, 1, 2, 4, 40}};
  int64_t compared = 0;
  for (const Case& k : cases)
    for (int64_t cin : {3, 13})
      for (int64_t cout : {5, 8, 12, 40})
        for (int64_t batch : {1, 3, 7}) {
          const kernels::ConvParams p =
              conv_params(batch, cin, cout, 1, k.h, k.w, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, k.dh, k.dw);
          INFO("kernel ", k.kh, "x", k.kw, " stride ", k.sh, "x", k.sw, " pad ", k.ph, "x", k.pw, " dilation ", k.dh,
               "x", k.dw, " image ", k.h, "x", k.w, " channels ", cin, " -> ", cout, " batch ", batch);
          REQUIRE(kernels::implicit_forward_applies(p));
          const std::vector<float> x = random_vector(batch * cin * k.h * k.w, gen);
          const std::vector<float> w = random_vector(cout * cin * k.kh * k.kw, gen);
          const std::vector<float> b = random_vector(cout, gen);
          const int64_t out_size = batch * cout * p.out_h * p.out_w;
          for (bool with_bias : {false, true}) {
            std::vector<float> expected(static_cast<size_t>(out_size));
            kernels::reference_conv2d_forward(x.data(), w.data(), with_bias ? b.data() : nullptr, expected.data(), p);
            compared += for_each_tier([&] {
              std::vector<float> implicit(expected.size(), NAN);
              kernels::conv2d_forward_implicit(x.data(), w.data(), with_bias ? b.data() : nullptr, implicit.data(), p);
              CHECK(relative_error(implicit, expected) < 1e-5);  // NaN (an output never written) fails too
            });
          }
          if (kernels::phases_implicit_apply(p)) {  // stride 1: the input gradient takes the same kernel
            const std::vector<float> dy = random_vector(out_size, gen), dx_bias = random_vector(cin, gen);
            const std::vector<float> expected = reference_input_grad(dy, w, p, dx_bias.data());
            compared += for_each_tier([&] {
              std::vector<float> dx(x.size(), NAN);
              kernels::conv2d_backward_input_phases_implicit(dy.data(), w.data(), dx.data(), p, dx_bias.data());
              CHECK(relative_error(dx, expected) < 1e-5);
            });
          }
        }
  CHECK(compared > 9 * 2 * 4 * 3 * 2);
}

TEST_CASE("the implicit-GEMM input gradient of stride-2 convs matches the reference, on every tier") {
  // The phases' implicit form (3x3 and 4x4 kernels at stride 2 on planes of even size): 12 or 40
  // channels of dy (one slice of shifts, or several), 8 and 20 input channels (a partial block),
  // square and oblong planes, tiles across images (batch 1 and 3), with and without a bias.
  Generator gen(25);
  struct Case {
    int64_t k, pad, h, w;
  };
  const std::vector<Case> cases = {{3, 1, 28, 28}, {3, 1, 14, 14}, {4, 1, 14, 14}, {4, 1, 28, 28}, {3, 1, 8, 12},
                                   {4, 1, 6, 10}};
  for (const Case& k : cases)
    for (int64_t cout : {12, 40})
      for (int64_t cin : {8, 20})
        for (int64_t batch : {1, 3}) {
          const kernels::ConvParams p = conv_params(batch, cin, cout, 1, k.h, k.w, k.k, k.k, 2, 2, k.pad, k.pad);
          INFO("kernel ", k.k, " pad ", k.pad, " image ", k.h, "x", k.w, " channels ", cin, " -> ", cout, " batch ",
               batch);
          REQUIRE(kernels::phases_implicit_apply(p));
          const std::vector<float> dy = random_vector(batch * cout * p.out_h * p.out_w, gen);
          const std::vector<float> w = random_vector(cout * cin * k.k * k.k, gen), bias = random_vector(cin, gen);
          for (bool with_bias : {false, true}) {
            const float* b = with_bias ? bias.data() : nullptr;
            const std::vector<float> expected = reference_input_grad(dy, w, p, b);
            for_each_tier([&] {
              std::vector<float> dx(expected.size(), NAN);
              kernels::conv2d_backward_input_phases_implicit(dy.data(), w.data(), dx.data(), p, b);
              CHECK(relative_error(dx, expected) < 1e-5);
            });
          }
        }
}

TEST_CASE("the weight gradient read straight from the input matches the reference, on every tier") {
  // Kernels 2, 3 and 4 wide (the direct kernel's templates), strides 1 to 3, paddings 0 to 2,
  // dilation along the height, output channels that leave a partial vector (20, 48) or a second
  // pass (80), groups, and batches of 1 and 7 (several images per chunk, chunks split over the
  // threads). Kernels 1 and 5 wide do not apply.
  Generator gen(23);
  struct Case {
    int64_t kh, kw, sh, sw, ph, pw, dh, cout_g, groups, h, w;
  };
  const std::vector<Case> cases = {{3, 3, 1, 1, 1, 1, 1, 32, 1, 7, 7},   {3, 3, 2, 2, 1, 1, 1, 64, 1, 14, 14},
                                   {4, 4, 2, 2, 1, 1, 1, 16, 1, 14, 15}, {2, 2, 1, 1, 0, 0, 1, 20, 1, 9, 6},
                                   {3, 2, 3, 2, 2, 1, 2, 48, 2, 11, 13}, {4, 3, 1, 3, 0, 2, 1, 80, 1, 8, 10},
                                   {1, 1, 2, 2, 0, 0, 1, 16, 1, 8, 8},   {5, 5, 1, 1, 2, 2, 1, 32, 1, 9, 9}};
  for (const Case& k : cases)
    for (int64_t batch : {1, 7}) {
      const int64_t cin_g = 5;
      const kernels::ConvParams p = conv_params(batch, cin_g * k.groups, k.cout_g * k.groups, k.groups, k.h, k.w, k.kh,
                                                k.kw, k.sh, k.sw, k.ph, k.pw, k.dh, 1);
      INFO("kernel ", k.kh, "x", k.kw, " stride ", k.sh, "x", k.sw, " pad ", k.ph, "x", k.pw, " dilation_h ", k.dh,
           " out channels per group ", k.cout_g, " groups ", k.groups, " image ", k.h, "x", k.w, " batch ", batch);
      const bool applies = k.kw >= 2 && k.kw <= 4;
      CHECK(kernels::weight_grad_direct_applies(p) == applies);
      if (!applies) continue;
      const std::vector<float> x = random_vector(batch * p.in_channels * k.h * k.w, gen);
      const std::vector<float> dy = random_vector(batch * p.out_channels * p.out_h * p.out_w, gen);
      std::vector<float> expected(static_cast<size_t>(p.out_channels * cin_g * k.kh * k.kw));
      kernels::reference_conv2d_backward_weight(x.data(), dy.data(), expected.data(), p);
      for_each_tier([&] {
        std::vector<float> dw(expected.size(), NAN);
        kernels::conv2d_backward_weight_im2col(x.data(), dy.data(), dw.data(), p, /*direct=*/true);
        CHECK(relative_error(dw, expected) < 1e-5);
      });
    }
}
