// The building blocks under the convolution kernels, each against a plain reference: im2col
// against index arithmetic, conv_gemm (the in-place-B GEMM) against a double-precision triple
// loop, transpose against index arithmetic, the phase-by-phase input gradient of strided convs
// against the im2col + col2im one (itself checked against a nested-loop reference in
// test_conv.cpp), the implicit-GEMM forward against im2col + GEMM, and the weight gradient read
// straight from the input against a double loop.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <tinydiff/kernels/conv.hpp>
#include <tinydiff/kernels/conv_gemm.hpp>
#include <tinydiff/kernels/transpose.hpp>
#include <tinydiff/kernels/weight_grad_direct.hpp>
#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using test_helpers::random_vector;
using test_helpers::relative_error;

TEST_CASE("im2col matches index arithmetic: row tables, row pairs and the general loop") {
  // Widths on both sides of 8 and 16 (two output rows per vector up to 8 output columns from
  // rows of at most 16) and of 32 (the row-table path's limit: wider planes take the general
  // loop); strides, paddings and dilations that put taps off every edge; a row stride wider
  // than one image's block, whose gap must stay untouched.
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
}

TEST_CASE("conv_gemm matches a reference GEMM on every block and tail shape") {
  // Rows on both sides of the 8-row block (and below it, where Eigen takes over), columns on both
  // sides of the 16-float vector and the 48-column panel, both layouts of A, with and without
  // accumulating into C, depths on both sides of the 192-deep pass; B contiguous and as a table of
  // row pointers (conv_gemm_rows).
  Generator gen(21);
  for (int64_t M : {1, 7, 8, 13, 24, 37})
    for (int64_t N : {1, 15, 16, 17, 47, 48, 64, 100})
      for (int64_t K : {1, 5, 33, 200})
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
}

TEST_CASE("transpose matches index arithmetic, whole 16x16 blocks and edges, with row strides") {
  for (int64_t rows : {1, 15, 16, 17, 33})
    for (int64_t cols : {1, 16, 31, 48}) {
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
}

TEST_CASE("the input gradient by phases matches im2col + col2im over strides, kernels and paddings") {
  // Strides 2 (both axes: rows zipped from two column phases), 3 and mixed (each phase stored
  // on its own), 1 (one phase: the flipped-kernel convolution), kernels smaller than the stride
  // (phases without taps get zeros), odd and even widths, groups, and enough channels for
  // conv_gemm's vector path.
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
      kernels::ConvParams p;
      p.batch = batch, p.in_channels = 16 * k.groups, p.out_channels = 12 * k.groups, p.groups = k.groups;
      p.in_h = k.h, p.in_w = k.w, p.kernel_h = k.kh, p.kernel_w = k.kw;
      p.stride_h = k.sh, p.stride_w = k.sw, p.pad_h = k.ph, p.pad_w = k.pw;
      p.out_h = (k.h + 2 * k.ph - k.kh) / k.sh + 1;
      p.out_w = (k.w + 2 * k.pw - k.kw) / k.sw + 1;
      INFO("kernel ", k.kh, "x", k.kw, " stride ", k.sh, "x", k.sw, " pad ", k.ph, "x", k.pw, " groups ", k.groups,
           " image ", k.h, "x", k.w, " batch ", batch);
      REQUIRE(kernels::phases_apply(p));
      const std::vector<float> dy = random_vector(batch * p.out_channels * p.out_h * p.out_w, gen);
      const std::vector<float> w = random_vector(p.out_channels * 16 * k.kh * k.kw, gen);
      std::vector<float> by_phases(static_cast<size_t>(batch * p.in_channels * k.h * k.w), NAN);
      std::vector<float> by_im2col(by_phases.size());
      kernels::conv2d_backward_input_phases(dy.data(), w.data(), by_phases.data(), p);
      kernels::conv2d_backward_input_im2col(dy.data(), w.data(), by_im2col.data(), p);
      CHECK(relative_error(by_phases, by_im2col) < 1e-5);  // NaN (a pixel never written) fails too
    }
}

TEST_CASE("the implicit-GEMM forward matches im2col + GEMM over tiles, slices and channel tails") {
  // Output rows of 1 to 16 columns (tiles of 48 positions cut rows and images anywhere), strides
  // 1 to 3, paddings, dilations and non-square kernels; 3 or 13 input channels (27 or 117 patch
  // rows: one slice, or two of whole channels); 8, 12 (a partial block of output channels) and 40;
  // batches of 1, 3 and 7; with and without a bias. Also the stride-1 input gradient, which is
  // the same kernel run over dy.
  Generator gen(24);
  struct Case {
    int64_t kh, kw, sh, sw, ph, pw, dh, dw, h, w;
  };
  const std::vector<Case> cases = {{3, 3, 2, 2, 1, 1, 1, 1, 28, 28}, {3, 3, 2, 2, 1, 1, 1, 1, 14, 14},
                                   {3, 3, 1, 1, 1, 1, 1, 1, 7, 7},   {4, 4, 2, 2, 1, 1, 1, 1, 14, 14},
                                   {2, 3, 3, 1, 0, 2, 1, 1, 11, 9},  {3, 2, 1, 2, 2, 0, 2, 1, 9, 32},
                                   {3, 3, 1, 1, 0, 0, 1, 2, 6, 17},  {1, 3, 1, 3, 0, 1, 1, 1, 5, 1}};
  int64_t compared = 0;
  for (const Case& k : cases)
    for (int64_t cin : {3, 13})
      for (int64_t cout : {8, 12, 40})
        for (int64_t batch : {1, 3, 7}) {
          kernels::ConvParams p;
          p.batch = batch, p.in_channels = cin, p.out_channels = cout;
          p.in_h = k.h, p.in_w = k.w, p.kernel_h = k.kh, p.kernel_w = k.kw;
          p.stride_h = k.sh, p.stride_w = k.sw, p.pad_h = k.ph, p.pad_w = k.pw, p.dilation_h = k.dh, p.dilation_w = k.dw;
          p.out_h = (k.h + 2 * k.ph - k.dh * (k.kh - 1) - 1) / k.sh + 1;
          p.out_w = (k.w + 2 * k.pw - k.dw * (k.kw - 1) - 1) / k.sw + 1;
          INFO("kernel ", k.kh, "x", k.kw, " stride ", k.sh, "x", k.sw, " pad ", k.ph, "x", k.pw, " dilation ", k.dh,
               "x", k.dw, " image ", k.h, "x", k.w, " channels ", cin, " -> ", cout, " batch ", batch);
#if defined(__AVX512F__)
          REQUIRE(kernels::implicit_forward_applies(p));
          const std::vector<float> x = random_vector(batch * cin * k.h * k.w, gen);
          const std::vector<float> w = random_vector(cout * cin * k.kh * k.kw, gen);
          const std::vector<float> b = random_vector(cout, gen);
          const int64_t out_size = batch * cout * p.out_h * p.out_w;
          for (bool with_bias : {false, true}) {
            std::vector<float> implicit(static_cast<size_t>(out_size), NAN), reference(implicit.size());
            kernels::conv2d_forward_implicit(x.data(), w.data(), with_bias ? b.data() : nullptr, implicit.data(), p);
            kernels::conv2d_forward_im2col(x.data(), w.data(), with_bias ? b.data() : nullptr, reference.data(), p);
            CHECK(relative_error(implicit, reference) < 1e-5);  // NaN (an output never written) fails too
            ++compared;
          }
          if (k.sh == 1 && k.sw == 1 && k.dh == 1 && k.dw == 1 && cin >= 8) {  // the input gradient takes it too
            const std::vector<float> dy = random_vector(out_size, gen), dx_bias = random_vector(cin, gen);
            std::vector<float> dx(x.size(), NAN), reference(x.size());
            kernels::conv2d_backward_input(dy.data(), w.data(), dx.data(), p, dx_bias.data());
            kernels::conv2d_backward_input_im2col(dy.data(), w.data(), reference.data(), p);
            kernels::add_channel_bias(reference.data(), dx_bias.data(), batch, cin, k.h * k.w);
            CHECK(relative_error(dx, reference) < 1e-5);
            ++compared;
          }
#else
          CHECK_FALSE(kernels::implicit_forward_applies(p));
#endif
        }
#if defined(__AVX512F__)
  CHECK(compared > 2 * 8 * 2 * 3 * 3);
#endif
}

TEST_CASE("the implicit-GEMM input gradient of stride-2 convs matches im2col + col2im") {
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
          kernels::ConvParams p;
          p.batch = batch, p.in_channels = cin, p.out_channels = cout;
          p.in_h = k.h, p.in_w = k.w, p.kernel_h = p.kernel_w = k.k, p.stride_h = p.stride_w = 2;
          p.pad_h = p.pad_w = k.pad;
          p.out_h = (k.h + 2 * k.pad - k.k) / 2 + 1;
          p.out_w = (k.w + 2 * k.pad - k.k) / 2 + 1;
          INFO("kernel ", k.k, " pad ", k.pad, " image ", k.h, "x", k.w, " channels ", cin, " -> ", cout, " batch ",
               batch);
          const std::vector<float> dy = random_vector(batch * cout * p.out_h * p.out_w, gen);
          const std::vector<float> w = random_vector(cout * cin * k.k * k.k, gen), bias = random_vector(cin, gen);
          for (bool with_bias : {false, true}) {
            std::vector<float> dx(static_cast<size_t>(batch * cin * k.h * k.w), NAN), reference(dx.size());
            kernels::conv2d_backward_input(dy.data(), w.data(), dx.data(), p, with_bias ? bias.data() : nullptr);
            kernels::conv2d_backward_input_im2col(dy.data(), w.data(), reference.data(), p);
            if (with_bias) kernels::add_channel_bias(reference.data(), bias.data(), batch, cin, k.h * k.w);
            CHECK(relative_error(dx, reference) < 1e-5);
          }
        }
}

TEST_CASE("the weight gradient read straight from the input matches a double-precision reference") {
  // Kernels 2, 3 and 4 wide (the direct kernel's templates), 1 and 5 wide (not taken: the im2col
  // GEMM), strides 1 to 3, paddings 0 to 2, dilation along the height, output channels that leave
  // a partial vector (20, 48) or a second pass (80), groups, and batches of 1 and 7 (several images
  // per chunk, chunks split over the threads).
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
      kernels::ConvParams p;
      const int64_t cin_g = 5;
      p.batch = batch, p.in_channels = cin_g * k.groups, p.out_channels = k.cout_g * k.groups, p.groups = k.groups;
      p.in_h = k.h, p.in_w = k.w, p.kernel_h = k.kh, p.kernel_w = k.kw;
      p.stride_h = k.sh, p.stride_w = k.sw, p.pad_h = k.ph, p.pad_w = k.pw, p.dilation_h = k.dh;
      p.out_h = (k.h + 2 * k.ph - k.dh * (k.kh - 1) - 1) / k.sh + 1;
      p.out_w = (k.w + 2 * k.pw - k.kw) / k.sw + 1;
      INFO("kernel ", k.kh, "x", k.kw, " stride ", k.sh, "x", k.sw, " pad ", k.ph, "x", k.pw, " dilation_h ", k.dh,
           " out channels per group ", k.cout_g, " groups ", k.groups, " image ", k.h, "x", k.w, " batch ", batch);
      CHECK(kernels::weight_grad_direct_applies(p) == (k.kw >= 2 && k.kw <= 4));
      const std::vector<float> x = random_vector(batch * p.in_channels * k.h * k.w, gen);
      const std::vector<float> dy = random_vector(batch * p.out_channels * p.out_h * p.out_w, gen);
      std::vector<float> dw(static_cast<size_t>(p.out_channels * cin_g * k.kh * k.kw), NAN);
      kernels::conv2d_backward_weight(x.data(), dy.data(), dw.data(), p);
      std::vector<float> expected(dw.size());
      for (int64_t o = 0; o < p.out_channels; ++o)
        for (int64_t c = 0; c < cin_g; ++c)
          for (int64_t i = 0; i < k.kh; ++i)
            for (int64_t j = 0; j < k.kw; ++j) {
              const int64_t ci = (o / k.cout_g) * cin_g + c;  // the input channel in o's group
              double sum = 0.0;
              for (int64_t n = 0; n < batch; ++n)
                for (int64_t oh = 0; oh < p.out_h; ++oh)
                  for (int64_t ow = 0; ow < p.out_w; ++ow) {
                    const int64_t ih = oh * k.sh - k.ph + i * k.dh, iw = ow * k.sw - k.pw + j;
                    if (ih < 0 || ih >= k.h || iw < 0 || iw >= k.w) continue;
                    sum += static_cast<double>(x[static_cast<size_t>(((n * p.in_channels + ci) * k.h + ih) * k.w + iw)]) *
                           dy[static_cast<size_t>(((n * p.out_channels + o) * p.out_h + oh) * p.out_w + ow)];
                  }
              expected[static_cast<size_t>(((o * cin_g + c) * k.kh + i) * k.kw + j)] = static_cast<float>(sum);
            }
      CHECK(relative_error(dw, expected) < 1e-5);
    }
}
