// The building blocks under the convolution kernels, each against a plain reference:
// conv_gemm (the in-place-B GEMM) against a double-precision triple loop, transpose against
// index arithmetic, and the phase-by-phase input gradient of strided convs against the
// im2col + col2im one (itself checked against a nested-loop reference in test_conv.cpp).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <tinydiff/kernels/conv.hpp>
#include <tinydiff/kernels/conv_gemm.hpp>
#include <tinydiff/kernels/transpose.hpp>
#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using test_helpers::random_vector;
using test_helpers::relative_error;

TEST_CASE("conv_gemm matches a reference GEMM on every block and tail shape") {
  // Rows on both sides of the 8-row block (and below it, where Eigen takes over), columns on both
  // sides of the 16-float vector and the 48-column panel, both layouts of A, with and without
  // accumulating into C.
  Generator gen(21);
  for (int64_t M : {1, 7, 8, 13, 24, 37})
    for (int64_t N : {1, 15, 16, 17, 47, 48, 64, 100})
      for (int64_t K : {1, 5, 33})
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
            kernels::conv_gemm(trans_a, M, N, K, a.data(), b.data(), c.data(), accumulate);
            CHECK(relative_error(c, expected) < 1e-5);
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
