// conv_transpose2d: the kernels against a plain nested-loop reference (forward and all
// three gradients), gradcheck over a parameter sweep, hand-computed cases, the adjoint
// identity with conv2d, argument errors, and the needed-gradient mask.
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

struct ConvTConfig {
  Int2 kernel = 3, stride = 1, padding = 0, output_padding = 0, dilation = 1;
  int64_t groups = 1;
  bool bias = false;
  std::string str() const {
    return detail::concat("kernel (", kernel.h, ", ", kernel.w, ") stride (", stride.h, ", ", stride.w,
                          ") padding (", padding.h, ", ", padding.w, ") output_padding (", output_padding.h, ", ",
                          output_padding.w, ") dilation (", dilation.h, ", ", dilation.w, ") groups ", groups,
                          " bias ", bias);
  }
};

int64_t convt_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t op, int64_t d) {
  return (in - 1) * s - 2 * p + d * (k - 1) + op + 1;
}

// kernel {1x1, 3x3, 4x4, 3x2} x stride {1, 2} x padding {0, 1, 2} x dilation {1, 2}
// x groups {1, 2} x output_padding {0, 1} x bias {absent, present}, keeping the
// combinations PyTorch allows (output_padding < stride or < dilation), plus mixed pairs.
std::vector<ConvTConfig> conv_transpose_sweep() {
  std::vector<ConvTConfig> configs;
  for (Int2 k : {Int2(1), Int2(3), Int2(4), Int2(3, 2)})
    for (int64_t s : {1, 2})
      for (int64_t p : {0, 1, 2})
        for (int64_t d : {1, 2})
          for (int64_t g : {1, 2})
            for (int64_t op : {0, 1})
              for (bool b : {false, true})
                if (op < s || op < d) configs.push_back({k, s, p, op, d, g, b});
  configs.push_back({Int2(3, 2), Int2(2, 1), Int2(1, 0), Int2(1, 0), Int2(1, 2), 1, true});
  configs.push_back({Int2(2, 3), Int2(1, 2), Int2(0, 2), Int2(1, 1), Int2(2, 1), 2, false});
  return configs;
}

// ---- the reference: conv_transpose2d straight from its definition, in double ----
// Every input pixel stamps its channel's kernel slice onto the output:
//   y[n, g*Cout_g + o, i s - p + a d, j s - p + e d] += x[n, c, i, j] w[c, o, a, e]   (c in group g)
// plus b; the gradients by the same loops, each product sent back to where it came from.
struct RefConvT : ReferenceProducts {
  ConvTConfig c;
  int64_t Cin, H, W, KH, KW, cin_g, cout_g;
  RefConvT(const Tensor& x_, const Tensor& w_, const Tensor& b_, const ConvTConfig& cfg)
      : ReferenceProducts(x_, w_, b_), c(cfg) {
    Cin = x.size(1), H = x.size(2), W = x.size(3);
    cout_g = w.size(1), KH = w.size(2), KW = w.size(3);
    Cout = cout_g * c.groups, cin_g = Cin / c.groups;
    OH = convt_out_size(H, KH, c.stride.h, c.padding.h, c.output_padding.h, c.dilation.h);
    OW = convt_out_size(W, KW, c.stride.w, c.padding.w, c.output_padding.w, c.dilation.w);
  }
  void for_each_term(const std::function<void(int64_t, int64_t, int64_t)>& f) const override {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t ci = 0; ci < Cin; ++ci)
        for (int64_t i = 0; i < H; ++i)
          for (int64_t j = 0; j < W; ++j)
            for (int64_t o = 0; o < cout_g; ++o)
              for (int64_t a = 0; a < KH; ++a)
                for (int64_t e = 0; e < KW; ++e) {
                  const int64_t oy = i * c.stride.h - c.padding.h + a * c.dilation.h;
                  const int64_t ox = j * c.stride.w - c.padding.w + e * c.dilation.w;
                  if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                  const int64_t co = (ci / cin_g) * cout_g + o;
                  f(((n * Cin + ci) * H + i) * W + j, ((ci * cout_g + o) * KH + a) * KW + e,
                    ((n * Cout + co) * OH + oy) * OW + ox);
                }
  }
};

double dot(const Tensor& a, const Tensor& b) {
  double total = 0.0;
  for (int64_t k = 0; k < a.numel(); ++k) total += double(a.data()[k]) * b.data()[k];
  return total;
}

}  // namespace

TEST_CASE("conv_transpose2d: hand-computed 2x2 input, 2x2 kernel") {
  // x = [[1,2],[3,4]], w = [[1,2],[3,4]]. Stride 1: each x[i,j] stamps x[i,j] * w at (i, j),
  // giving the 3x3 "full" correlation y[u,v] = sum x[i,j] w[u-i, v-j].
  const Tensor x = tensor({1, 2, 3, 4}, {1, 1, 2, 2}).requires_grad_();
  const Tensor w = tensor({1, 2, 3, 4}, {1, 1, 2, 2}).requires_grad_();
  const Tensor b = tensor({0.5f}).requires_grad_();
  const Tensor y = conv_transpose2d(x, w, b);
  CHECK(y.shape() == Shape{1, 1, 3, 3});
  CHECK(y.to_vector() == std::vector<float>{1.5f, 4.5f, 4.5f, 6.5f, 20.5f, 16.5f, 9.5f, 24.5f, 16.5f});
  // g = e_(1,1) (one at the centre): dx[i,j] = w[1-i, 1-j], dw[a,e] = x[1-a, 1-e], db = 1.
  y.backward(tensor({0, 0, 0, 0, 1, 0, 0, 0, 0}, {1, 1, 3, 3}));
  CHECK(x.grad().to_vector() == std::vector<float>{4, 3, 2, 1});
  CHECK(w.grad().to_vector() == std::vector<float>{4, 3, 2, 1});
  CHECK(b.grad().to_vector() == std::vector<float>{1});

  NoGradGuard no_grad;
  // Stride 2: the stamps no longer overlap; the 4x4 output is four 2x2 blocks x[i,j] * w.
  CHECK(conv_transpose2d(x, w, Tensor(), 2).to_vector() ==
        std::vector<float>{1, 2, 2, 4, 3, 4, 6, 8, 3, 6, 4, 8, 9, 12, 12, 16});
  // Stride 2, padding 1, output_padding 1: crop one row/column from the top/left of that
  // 4x4 (the bottom/right crop is given back by output_padding) -> rows/cols 1..3.
  CHECK(conv_transpose2d(x, w, Tensor(), 2, 1, 1).to_vector() ==
        std::vector<float>{4, 6, 8, 6, 4, 8, 12, 12, 16});
}

TEST_CASE("conv_transpose2d: forward and gradients match the nested-loop reference over the sweep") {
  Generator gen(17);
  int checked = 0;
  for (const ConvTConfig& c : conv_transpose_sweep()) {
    INFO(c.str());
    // Non-square image, Cin = 4 and Cout = 6 (2 and 3 per group when groups = 2).
    const Tensor x = randn({2, 4, 5, 6}, &gen).requires_grad_();
    const Tensor w = randn({4, 6 / c.groups, c.kernel.h, c.kernel.w}, &gen).requires_grad_();
    const Tensor b = c.bias ? randn({6}, &gen).requires_grad_() : Tensor();
    const RefConvT ref(x, w, b, c);
    const Tensor y = conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding, c.groups, c.dilation);
    REQUIRE(y.shape() == Shape{ref.N, ref.Cout, ref.OH, ref.OW});
    check_against_reference(ref, y, gen);
    ++checked;
  }
  // 4 kernels x 3 paddings x 2 groups x 2 bias x 7 allowed (stride, dilation, output_padding) + 2 mixed.
  CHECK(checked == 4 * 3 * 2 * 2 * 7 + 2);
}

TEST_CASE("conv_transpose2d: larger cases (the U-Net upsampler among them) match the reference") {
  // 7 images run split over the threads; one image runs serially with Eigen threading the
  // GEMM; 1x1 stride 1 skips col2im.
  Generator gen(18);
  const std::vector<ConvTConfig> configs = {
      {4, 2, 1, 0, 1, 1, true}, {3, 1, 1, 0, 1, 1, false}, {1, 1, 0, 0, 1, 2, true}, {3, 2, 1, 1, 1, 2, false}};
  // Widths on both sides of 16 (the vectorised short-row path of im2col/col2im and the general loop).
  for (const ConvTConfig& c : configs)
    for (int64_t n : {1, 7})
      for (int64_t width : {12, 19}) {
        INFO(c.str(), " batch ", n, " width ", width);
        const Tensor x = randn({n, 16, 14, width}, &gen).requires_grad_();
        const Tensor w = randn({16, 12 / c.groups, c.kernel.h, c.kernel.w}, &gen).requires_grad_();
        const Tensor b = c.bias ? randn({12}, &gen).requires_grad_() : Tensor();
        const RefConvT ref(x, w, b, c);
        const Tensor y = conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding, c.groups, c.dilation);
        if (c.kernel.h == 4) CHECK(y.shape() == Shape{n, 12, 28, 2 * width});  // 4x4, stride 2, padding 1 doubles the size
        check_against_reference(ref, y, gen);
      }
}

TEST_CASE("conv_transpose2d is the adjoint of conv2d: <conv2d(a, w), b> = <a, conv_transpose2d(b, w)>") {
  Generator gen(19);
  // conv2d [2, 6, 9, 8] -> [2, 4, 5, 4] with stride 2, padding 1, dilation 1, groups 2;
  // conv_transpose2d maps back to 9x8 with output_padding (0, 1).
  const Tensor a = randn({2, 6, 9, 8}, &gen), w = randn({4, 3, 3, 3}, &gen), b = randn({2, 4, 5, 4}, &gen);
  const Tensor ca = conv2d(a, w, Tensor(), 2, 1, 1, 2);
  REQUIRE(ca.shape() == b.shape());
  const Tensor tb = conv_transpose2d(b, w, Tensor(), 2, 1, Int2(0, 1), 2);
  REQUIRE(tb.shape() == a.shape());
  CHECK(dot(ca, b) == doctest::Approx(dot(a, tb)).epsilon(1e-5));
}

GRADCHECKED_OPS("conv_transpose2d");
TEST_CASE("conv_transpose2d: gradcheck over the sweep at small sizes") {
  Generator gen(20);
  ConvGradcheckSweep sweep{200};
  for (const ConvTConfig& c : conv_transpose_sweep()) {
    // N = 2, Cin = 2 (groups 1) or 4 (groups 2), Cout = 3 or 4, a 4x3 input.
    const int64_t cin = 2 * c.groups, cout_g = c.groups == 1 ? 3 : 2, h = 4, w = 3;
    if (convt_out_size(h, c.kernel.h, c.stride.h, c.padding.h, c.output_padding.h, c.dilation.h) <= 0 ||
        convt_out_size(w, c.kernel.w, c.stride.w, c.padding.w, c.output_padding.w, c.dilation.w) <= 0) {
      ++sweep.skipped;  // a 1x1 kernel with padding 2 crops away the whole output
      continue;
    }
    INFO(c.str());
    const Tensor x = randn({2, cin, h, w}, &gen).requires_grad_();
    const Tensor wt = randn({cin, cout_g, c.kernel.h, c.kernel.w}, &gen).requires_grad_();
    const Tensor b = c.bias ? randn({cout_g * c.groups}, &gen).requires_grad_() : Tensor();
    sweep.check(
        [&c](const std::vector<Tensor>& in) {
          return conv_transpose2d(in[0], in[1], in[2], c.stride, c.padding, c.output_padding, c.groups,
                                  c.dilation);
        },
        {x, wt, b});
  }
  MESSAGE("conv_transpose2d gradcheck: ", sweep.checked, " configurations checked, ", sweep.skipped,
          " skipped (output would be empty); worst error/bound ", sweep.worst);
  CHECK(sweep.checked >= 300);
}

TEST_CASE("conv_transpose2d: argument errors name the op and the shapes") {
  const Tensor x = randn({2, 4, 5, 5}), w = randn({4, 3, 3, 3});
  std::string m;
  m = error_message([&] { conv_transpose2d(randn({4, 5, 5}), w); });
  CHECK(contains(m, "conv_transpose2d: expected a 4-D input"));
  m = error_message([&] { conv_transpose2d(x, randn({4, 3, 3})); });
  CHECK(contains(m, "conv_transpose2d: expected a 4-D weight"));
  m = error_message([&] { conv_transpose2d(x, randn({3, 3, 3, 3})); });
  CHECK(contains(m, "conv_transpose2d: input shape [2, 4, 5, 5] has 4 channels but weight shape [3, 3, 3, 3]"));
  m = error_message([&] { conv_transpose2d(randn({2, 3, 5, 5}), randn({3, 2, 3, 3}), Tensor(), 1, 0, 0, 2); });
  CHECK(contains(m, "conv_transpose2d: in channels 3 (weight shape [3, 2, 3, 3]) are not divisible by groups=2"));
  m = error_message([&] { conv_transpose2d(x, w, randn({4})); });  // out channels are 3
  CHECK(contains(m, "conv_transpose2d: bias shape [4] does not match the 3 out channels"));
  m = error_message([&] { conv_transpose2d(x, w, randn({3}), 1, 0, 0, 2); });  // 3 * groups 2 = 6
  CHECK(contains(m, "does not match the 6 out channels"));
  m = error_message([&] { conv_transpose2d(x, w, Tensor(), 0); });
  CHECK(contains(m, "conv_transpose2d: stride must be positive"));
  m = error_message([&] { conv_transpose2d(x, w, Tensor(), 1, 0, 0, 1, Int2(1, 0)); });
  CHECK(contains(m, "conv_transpose2d: dilation must be positive, got (1, 0)"));
  m = error_message([&] { conv_transpose2d(x, w, Tensor(), 1, -1); });
  CHECK(contains(m, "conv_transpose2d: padding must be non-negative"));
  m = error_message([&] { conv_transpose2d(x, w, Tensor(), 1, 0, -1); });
  CHECK(contains(m, "conv_transpose2d: output_padding must be non-negative"));
  // output_padding must be < stride or < dilation, per dim (PyTorch's rule).
  m = error_message([&] { conv_transpose2d(x, w, Tensor(), 1, 0, 1); });
  CHECK(contains(m, "conv_transpose2d: output_padding (1, 1) must be smaller than either stride (1, 1) "
                    "or dilation (1, 1)"));
  m = error_message([&] { conv_transpose2d(x, w, Tensor(), 2, 0, Int2(1, 2)); });
  CHECK(contains(m, "output_padding (1, 2) must be smaller"));
  CHECK_NOTHROW(conv_transpose2d(x, w, Tensor(), 1, 0, 1, 1, 2));  // 1 < dilation 2 is allowed
  m = error_message([&] { conv_transpose2d(x, w, Tensor(), 1, 0, 0, 0); });
  CHECK(contains(m, "conv_transpose2d: groups must be positive"));
  m = error_message([&] { conv_transpose2d(randn({1, 1, 1, 1}), randn({1, 1, 1, 1}), Tensor(), 1, 1); });
  CHECK(contains(m, "conv_transpose2d: output size (-1, -1) is not positive"));
}

TEST_CASE("conv_transpose2d: only the needed gradients are computed") {
  const Tensor x = randn({2, 3, 4, 4}).requires_grad_();
  const Tensor w = randn({3, 5, 4, 4});  // a constant: no gradient wanted
  const Tensor y = conv_transpose2d(x, w, Tensor(), 2, 1);
  const Tensor g = randn(y.shape());
  {
    NoGradGuard no_grad;
    const auto grads = y.grad_fn()->backward(g, y.grad_fn()->needs_grad);
    CHECK(y.grad_fn()->needs_grad == std::vector<bool>{true, false, false});
    CHECK(grads[0].defined());
    CHECK_FALSE(grads[1].defined());
    CHECK_FALSE(grads[2].defined());
  }
  y.backward(g);
  CHECK(x.grad().defined());
  CHECK_FALSE(w.grad().defined());

  // Only the weight and bias require grad: dx is not computed.
  const Tensor w2 = randn({3, 5, 4, 4}).requires_grad_();
  const Tensor b2 = randn({5}).requires_grad_();
  const Tensor y2 = conv_transpose2d(randn({2, 3, 4, 4}), w2, b2, 2, 1);
  NoGradGuard no_grad;
  const auto grads = y2.grad_fn()->backward(randn(y2.shape()), y2.grad_fn()->needs_grad);
  CHECK_FALSE(grads[0].defined());
  CHECK(grads[1].defined());
  CHECK(grads[2].defined());
}
