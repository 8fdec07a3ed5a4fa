// conv2d: the im2col + GEMM kernels against a plain nested-loop reference (forward and
// all three gradients), gradcheck over a parameter sweep, a hand-computed case,
// argument errors, and the needed-gradient mask.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <tinydiff/testing/gradcheck.hpp>
#include <tinydiff/tinydiff.hpp>

#include "ops/reference_conv.hpp"
#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

struct ConvConfig {
  Int2 kernel = 3, stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
  bool bias = false;
  std::string str() const {
    return detail::concat("kernel (", kernel.h, ", ", kernel.w, ") stride (", stride.h, ", ", stride.w,
                          ") padding (", padding.h, ", ", padding.w, ") dilation (", dilation.h, ", ", dilation.w,
                          ") groups ", groups, " bias ", bias);
  }
};

// The sweep of the brief: kernel {1x1, 3x3, 4x4, 3x2} x stride {1, 2} x padding {0, 1, 2}
// x dilation {1, 2} x groups {1, 2} x bias {absent, present}, plus a few mixed (h, w) pairs.
std::vector<ConvConfig> conv_sweep() {
  std::vector<ConvConfig> configs;
  for (Int2 k : {Int2(1), Int2(3), Int2(4), Int2(3, 2)})
    for (int64_t s : {1, 2})
      for (int64_t p : {0, 1, 2})
        for (int64_t d : {1, 2})
          for (int64_t g : {1, 2})
            for (bool b : {false, true}) configs.push_back({k, s, p, d, g, b});
  configs.push_back({Int2(3, 2), Int2(2, 1), Int2(1, 0), Int2(1, 2), 1, true});
  configs.push_back({Int2(2, 3), Int2(1, 2), Int2(0, 2), Int2(2, 1), 2, false});
  return configs;
}

int64_t conv_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  const int64_t span = in + 2 * p - d * (k - 1) - 1;
  return span < 0 ? 0 : span / s + 1;
}

// ---- the reference: conv2d straight from its definition, in double ----
//   y[n, o, i, j] = b[o] + sum_{c, a, e} w[o, c, a, e] x[n, g*Cin_g + c, i s - p + a d, j s - p + e d]
// and its gradients by the same loops, each product sent back to where it came from.
struct RefConv : ReferenceProducts {
  ConvConfig c;
  int64_t Cin, H, W, KH, KW, cin_g, cout_g;
  RefConv(const Tensor& x_, const Tensor& w_, const Tensor& b_, const ConvConfig& cfg)
      : ReferenceProducts(x_, w_, b_), c(cfg) {
    Cin = x.size(1), H = x.size(2), W = x.size(3);
    Cout = w.size(0), KH = w.size(2), KW = w.size(3);
    OH = conv_out_size(H, KH, c.stride.h, c.padding.h, c.dilation.h);
    OW = conv_out_size(W, KW, c.stride.w, c.padding.w, c.dilation.w);
    cin_g = Cin / c.groups, cout_g = Cout / c.groups;
  }
  void for_each_term(const std::function<void(int64_t, int64_t, int64_t)>& f) const override {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < Cout; ++o)
        for (int64_t i = 0; i < OH; ++i)
          for (int64_t j = 0; j < OW; ++j)
            for (int64_t ci = 0; ci < cin_g; ++ci)
              for (int64_t a = 0; a < KH; ++a)
                for (int64_t e = 0; e < KW; ++e) {
                  const int64_t ih = i * c.stride.h - c.padding.h + a * c.dilation.h;
                  const int64_t iw = j * c.stride.w - c.padding.w + e * c.dilation.w;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  const int64_t cx = (o / cout_g) * cin_g + ci;
                  f(((n * Cin + cx) * H + ih) * W + iw, ((o * cin_g + ci) * KH + a) * KW + e,
                    ((n * Cout + o) * OH + i) * OW + j);
                }
  }
};

}  // namespace

TEST_CASE("conv2d: hand-computed 3x3 input, 2x2 kernel") {
  // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,2],[3,4]], b = 0.5
  // y[i,j] = x[i,j] + 2 x[i,j+1] + 3 x[i+1,j] + 4 x[i+1,j+1] + 0.5
  const Tensor x = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}).requires_grad_();
  const Tensor w = tensor({1, 2, 3, 4}, {1, 1, 2, 2}).requires_grad_();
  const Tensor b = tensor({0.5f}).requires_grad_();
  const Tensor y = conv2d(x, w, b);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.to_vector() == std::vector<float>{37.5f, 47.5f, 67.5f, 77.5f});
  // g = [[1, 0], [0, 2]]: dx = w stamped at (0,0) plus 2 w stamped at (1,1);
  // dw[a,e] = x[a,e] + 2 x[a+1,e+1]; db = 1 + 2.
  y.backward(tensor({1, 0, 0, 2}, {1, 1, 2, 2}));
  CHECK(x.grad().to_vector() == std::vector<float>{1, 2, 0, 3, 6, 4, 0, 6, 8});
  CHECK(w.grad().to_vector() == std::vector<float>{11, 14, 20, 23});
  CHECK(b.grad().to_vector() == std::vector<float>{3});

  // Stride 2, padding 1 on the same input: the kernel sees the zero border.
  // y[0,0] = 4*1, y[0,1] = 3*2 + 4*3, y[1,0] = 2*4 + 4*7, y[1,1] = 1*5 + 2*6 + 3*8 + 4*9.
  NoGradGuard no_grad;
  CHECK(conv2d(x, w, Tensor(), 2, 1).to_vector() == std::vector<float>{4, 18, 36, 77});
  // Dilation 2 (a 3x3 footprint): y = 1*1 + 2*3 + 3*7 + 4*9.
  CHECK(conv2d(x, w, Tensor(), 1, 0, 2).to_vector() == std::vector<float>{64});
}

TEST_CASE("conv2d: forward and gradients match the nested-loop reference over the sweep") {
  Generator gen(7);
  int checked = 0;
  for (const ConvConfig& c : conv_sweep()) {
    INFO(c.str());
    // Non-square image, Cin = 4 and Cout = 6 (2 and 3 per group when groups = 2).
    const Tensor x = randn({2, 4, 7, 9}, &gen).requires_grad_();
    const Tensor w = randn({6, 4 / c.groups, c.kernel.h, c.kernel.w}, &gen).requires_grad_();
    const Tensor b = c.bias ? randn({6}, &gen).requires_grad_() : Tensor();
    const RefConv ref(x, w, b, c);
    const Tensor y = conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
    REQUIRE(y.shape() == Shape{ref.N, ref.Cout, ref.OH, ref.OW});
    check_against_reference(ref, y, gen);
    ++checked;
  }
  CHECK(checked == 194);
}

TEST_CASE("conv2d: larger cases match the reference on every kernel path") {
  // 7 images run split over the threads (per-thread weight-gradient partials); one image
  // runs serially with Eigen threading the GEMM; 1x1 stride 1 skips im2col.
  Generator gen(8);
  const std::vector<ConvConfig> configs = {
      {3, 1, 1, 1, 1, true}, {3, 2, 1, 1, 1, false}, {1, 1, 0, 1, 2, true}, {Int2(3, 2), 1, 2, 2, 2, true}};
  // Image widths on both sides of 16: im2col/col2im have a vectorised path for output rows
  // of at most 16 columns at stride 1 or 2, and the general loop for the rest.
  for (const ConvConfig& c : configs)
    for (int64_t n : {1, 7})
      for (int64_t width : {10, 37}) {
        INFO(c.str(), " batch ", n, " width ", width);
        const Tensor x = randn({n, 16, 12, width}, &gen).requires_grad_();
        const Tensor w = randn({24, 16 / c.groups, c.kernel.h, c.kernel.w}, &gen).requires_grad_();
        const Tensor b = c.bias ? randn({24}, &gen).requires_grad_() : Tensor();
        const RefConv ref(x, w, b, c);
        const Tensor y = conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
        check_against_reference(ref, y, gen);
      }
}

GRADCHECKED_OPS("conv2d");
TEST_CASE("conv2d: gradcheck over the sweep at small sizes") {
  Generator gen(9);
  ConvGradcheckSweep sweep{100};
  for (const ConvConfig& c : conv_sweep()) {
    // N = 2, Cin = 2 (groups 1) or 4 (groups 2), Cout = 3 or 4, a 6x5 image.
    const int64_t cin = 2 * c.groups, cout = c.groups == 1 ? 3 : 4, h = 6, w = 5;
    if (conv_out_size(h, c.kernel.h, c.stride.h, c.padding.h, c.dilation.h) <= 0 ||
        conv_out_size(w, c.kernel.w, c.stride.w, c.padding.w, c.dilation.w) <= 0) {
      ++sweep.skipped;  // the dilated 4x4 kernel does not fit an unpadded 6x5 image
      continue;
    }
    INFO(c.str());
    const Tensor x = randn({2, cin, h, w}, &gen).requires_grad_();
    const Tensor wt = randn({cout, 2, c.kernel.h, c.kernel.w}, &gen).requires_grad_();
    const Tensor b = c.bias ? randn({cout}, &gen).requires_grad_() : Tensor();
    sweep.check(
        [&c](const std::vector<Tensor>& in) {
          return conv2d(in[0], in[1], in[2], c.stride, c.padding, c.dilation, c.groups);
        },
        {x, wt, b});
  }
  MESSAGE("conv2d gradcheck: ", sweep.checked, " configurations checked, ", sweep.skipped,
          " skipped (output would be empty); worst error/bound ", sweep.worst);
  CHECK(sweep.checked >= 180);
}

TEST_CASE("conv2d: argument errors name the op and the shapes") {
  const Tensor x = randn({2, 4, 5, 5}), w = randn({6, 4, 3, 3});
  std::string m;
  m = error_message([&] { conv2d(randn({4, 5, 5}), w); });
  CHECK(contains(m, "conv2d: expected a 4-D input"));
  CHECK(contains(m, "[4, 5, 5]"));
  m = error_message([&] { conv2d(x, randn({6, 4, 3})); });
  CHECK(contains(m, "conv2d: expected a 4-D weight"));
  m = error_message([&] { conv2d(x, randn({6, 3, 3, 3})); });  // Cin 4 != 3 * groups 1
  CHECK(contains(m, "conv2d: input shape [2, 4, 5, 5] has 4 channels but weight shape [6, 3, 3, 3]"));
  m = error_message([&] { conv2d(x, randn({6, 4, 3, 3}), Tensor(), 1, 0, 1, 2); });  // Cin 4 != 4 * 2
  CHECK(contains(m, "groups=2 expects 8"));
  m = error_message([&] { conv2d(x, randn({5, 2, 3, 3}), Tensor(), 1, 0, 1, 2); });  // Cout 5 % 2
  CHECK(contains(m, "conv2d: out channels 5 (weight shape [5, 2, 3, 3]) are not divisible by groups=2"));
  m = error_message([&] { conv2d(x, w, randn({5})); });
  CHECK(contains(m, "conv2d: bias shape [5] does not match"));
  m = error_message([&] { conv2d(x, w, randn({6, 1})); });
  CHECK(contains(m, "conv2d: expected a 1-D bias, got shape [6, 1]"));
  m = error_message([&] { conv2d(x, w, Tensor(), 0); });
  CHECK(contains(m, "conv2d: stride must be positive"));
  m = error_message([&] { conv2d(x, w, Tensor(), Int2(1, -1)); });
  CHECK(contains(m, "conv2d: stride must be positive, got (1, -1)"));
  m = error_message([&] { conv2d(x, w, Tensor(), 1, 0, 0); });
  CHECK(contains(m, "conv2d: dilation must be positive"));
  m = error_message([&] { conv2d(x, w, Tensor(), 1, Int2(0, -1)); });
  CHECK(contains(m, "conv2d: padding must be non-negative, got (0, -1)"));
  m = error_message([&] { conv2d(x, w, Tensor(), 1, 0, 1, 0); });
  CHECK(contains(m, "conv2d: groups must be positive"));
  m = error_message([&] { conv2d(randn({1, 4, 2, 5}), w); });  // 2 rows < 3-row kernel
  CHECK(contains(m, "conv2d: padded input size (2, 5) is smaller than the dilated kernel (3, 3)"));
  m = error_message([&] { conv2d(x, w, Tensor(), 1, 0, 3); });  // dilated extent 7 > 5
  CHECK(contains(m, "smaller than the dilated kernel (7, 7)"));
  CHECK_NOTHROW(conv2d(x, w, Tensor(), 1, 1, 3));  // 5 + 2 >= 7: one output pixel
}

TEST_CASE("conv2d: only the needed gradients are computed") {
  const Tensor x = randn({2, 3, 5, 5}).requires_grad_();
  const Tensor w = randn({4, 3, 3, 3});  // a constant: no gradient wanted
  const Tensor b = randn({4}).requires_grad_();
  const Tensor y = conv2d(x, w, b, 1, 1);
  const Tensor g = randn(y.shape());
  {
    // The node's own backward, asked for the mask the engine would pass:
    NoGradGuard no_grad;
    const auto grads = y.grad_fn()->backward(g, y.grad_fn()->needs_grad);
    CHECK(y.grad_fn()->needs_grad == std::vector<bool>{true, false, true});
    CHECK(grads[0].defined());
    CHECK_FALSE(grads[1].defined());
    CHECK(grads[2].defined());
  }
  y.backward(g);
  CHECK(x.grad().defined());
  CHECK_FALSE(w.grad().defined());
  CHECK(b.grad().defined());

  // Only the weight requires grad: dx is not computed.
  const Tensor x2 = randn({2, 3, 5, 5});
  const Tensor w2 = randn({4, 3, 3, 3}).requires_grad_();
  const Tensor y2 = conv2d(x2, w2);
  NoGradGuard no_grad;
  const auto grads = y2.grad_fn()->backward(randn(y2.shape()), y2.grad_fn()->needs_grad);
  CHECK_FALSE(grads[0].defined());
  CHECK(grads[1].defined());
  CHECK_FALSE(grads[2].defined());
}

TEST_CASE("conv2d: repeated runs give bit-identical results") {
  // Big enough to run split over the threads.
  const Tensor x = randn({6, 8, 16, 16}).requires_grad_();
  const Tensor w = randn({8, 8, 3, 3}).requires_grad_();
  const Tensor g = randn({6, 8, 8, 8});
  std::vector<float> first_y, first_dw, first_dx;
  for (int run = 0; run < 3; ++run) {
    x.zero_grad();
    w.zero_grad();
    const Tensor y = conv2d(x, w, Tensor(), 2, 1);
    y.backward(g);
    if (run == 0) {
      first_y = y.to_vector(), first_dw = w.grad().to_vector(), first_dx = x.grad().to_vector();
      continue;
    }
    CHECK(y.to_vector() == first_y);
    CHECK(w.grad().to_vector() == first_dw);
    CHECK(x.grad().to_vector() == first_dx);
  }
}
