// gelu, softmax, log_softmax and cross_entropy: forward values against formulas
// and naive loops, gradcheck with a random upstream gradient, argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <tinydiff/testing/gradcheck.hpp>

#include "test_helpers.hpp"
#include <tinydiff/tinydiff.hpp>

using namespace tinydiff;
using namespace test_helpers;

namespace {

// Naive softmax along `dim` of a 3-D tensor, in double.
Tensor reference_softmax3(const Tensor& x, int64_t dim, bool log) {
  const Shape s = x.shape();
  Tensor y = Tensor::empty(s);
  const std::vector<int64_t> st = contiguous_strides(s);
  const int64_t d = dim < 0 ? dim + 3 : dim;
  const int64_t a = (d + 1) % 3, b = (d + 2) % 3;  // the other two dims
  for (int64_t i = 0; i < s[a]; ++i)
    for (int64_t j = 0; j < s[b]; ++j) {
      const int64_t base = i * st[a] + j * st[b];
      double m = -INFINITY, total = 0.0;
      for (int64_t k = 0; k < s[d]; ++k) m = std::max(m, double(x.data()[base + k * st[d]]));
      for (int64_t k = 0; k < s[d]; ++k) total += std::exp(x.data()[base + k * st[d]] - m);
      for (int64_t k = 0; k < s[d]; ++k) {
        const double v = x.data()[base + k * st[d]] - m;
        y.data()[base + k * st[d]] = float(log ? v - std::log(total) : std::exp(v) / total);
      }
    }
  return y;
}

}  // namespace

TEST_CASE("gelu: exact erf form and tanh approximation, values and gradcheck") {
  const std::vector<float> xs = {-4.0f, -1.5f, -1.0f, -0.3f, 0.0f, 0.2f, 1.0f, 2.5f, 6.0f};
  Tensor x = tensor(xs);
  Tensor exact = gelu(x), approx = gelu(x, "tanh");
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = xs[i];
    INFO("x = ", v);
    CHECK(exact.data()[i] == doctest::Approx(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)))).epsilon(1e-6));
    const double u = std::sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v);
    CHECK(approx.data()[i] == doctest::Approx(0.5 * v * (1.0 + std::tanh(u))).epsilon(1e-6));
  }
  // PyTorch: F.gelu(torch.tensor(1.)) = 0.8413447, F.gelu(torch.tensor(1.), approximate='tanh') = 0.8411920
  CHECK(exact.data()[6] == doctest::Approx(0.8413447460685429).epsilon(1e-6));
  CHECK(approx.data()[6] == doctest::Approx(0.8411919906082768).epsilon(1e-6));
  CHECK(exact.data()[4] == 0.0f);

  // Tolerance: h = 1e-3, atol = 1e-3, rtol = 1e-2 (the gradcheck defaults).
  Generator gen(2);
  Tensor xg = (randn({4, 5}, &gen) * 2.0f).requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& in) { return gelu(in[0]); }, {xg}, {}, "gelu");
  expect_gradcheck([](const std::vector<Tensor>& in) { return gelu(in[0], "tanh"); }, {xg}, {}, "gelu tanh");
  CHECK(gelu(xg).grad_fn_name() == "gelu");
  check_error([&] { gelu(x, "erf"); }, "gelu", {"\"erf\""});
}

TEST_CASE("softmax and log_softmax: naive reference, rows sum to 1, log_softmax = log(softmax)") {
  Generator gen(8);
  Tensor x = randn({3, 4, 5}, &gen) * 3.0f;
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    INFO("dim ", dim);
    Tensor s = softmax(x, dim), ls = log_softmax(x, dim);
    check_close(s, reference_softmax3(x, dim, false), 1e-6, 1e-5);
    check_close(ls, reference_softmax3(x, dim, true), 1e-5, 1e-5);
    check_close(ls, log(s), 1e-5, 1e-5);
    Tensor sums = s.sum({dim});
    for (int64_t i = 0; i < sums.numel(); ++i) CHECK(sums.data()[i] == doctest::Approx(1.0).epsilon(1e-6));
  }
  // 1-D input and a hand-computed case: softmax(0, ln 3) = (1/4, 3/4).
  Tensor s1 = softmax(tensor({0.0f, std::log(3.0f)}), 0);
  CHECK(s1.data()[0] == doctest::Approx(0.25));
  CHECK(s1.data()[1] == doctest::Approx(0.75));
  // Stable: large logits give the same result as shifted ones, with no inf or NaN.
  Tensor big = tensor({1000.0f, 1001.0f, 1002.0f, -1000.0f}, {1, 4});
  Tensor small = tensor({0.0f, 1.0f, 2.0f, -2000.0f}, {1, 4});
  check_close(softmax(big, 1), softmax(small, 1), 1e-7, 1e-6);
  check_close(log_softmax(big, 1), log_softmax(small, 1), 1e-4, 1e-6);
  CHECK(std::isfinite(log_softmax(big, 1).data()[3]));
  CHECK(log_softmax(big, 1).data()[3] == doctest::Approx(-2002.4076).epsilon(1e-6));
}

TEST_CASE("softmax and log_softmax gradcheck over dims 0, 1, -1") {
  // Tolerance: h = 1e-3, atol = 1e-3, rtol = 1e-2 (the defaults).
  Generator gen(13);
  for (const Shape& shape : std::vector<Shape>{{3, 4, 5}, {5, 3}})
    for (int64_t dim : {0, 1, -1}) {
      Tensor xs = (randn(shape, &gen) * 2.0f).requires_grad_();
      const std::string where = " " + shape_str(shape) + " dim " + std::to_string(dim);
      expect_gradcheck([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); }, {xs}, {},
                      "softmax" + where);
      expect_gradcheck([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); }, {xs}, {},
                      "log_softmax" + where);
    }
  Tensor x = randn({3, 4, 5}, &gen).requires_grad_();
  CHECK(softmax(x, 1).grad_fn_name() == "softmax");
  CHECK(log_softmax(x, 1).grad_fn_name() == "log_softmax");
  check_error([&] { softmax(x, 3); }, "softmax", {"dim 3", "[3, 4, 5]"});
  check_error([&] { log_softmax(x, -4); }, "log_softmax", {"dim -4", "[3, 4, 5]"});
  check_error([&] { softmax(scalar_tensor(1.0f), 0); }, "softmax", {"[]"});
}

TEST_CASE("cross_entropy: against -log_softmax[label], reductions, label smoothing") {
  Generator gen(17);
  Tensor logits = randn({5, 4}, &gen) * 2.0f;
  const std::vector<int64_t> labels = {0, 3, 1, 1, 2};
  Tensor lp = log_softmax(logits, 1);
  std::vector<double> per(5);
  double total = 0.0;
  for (int64_t n = 0; n < 5; ++n) total += per[n] = -lp.at({n, labels[n]});
  Tensor none = cross_entropy(logits, labels, Reduction::None);
  REQUIRE(none.shape() == Shape{5});
  for (int64_t n = 0; n < 5; ++n) CHECK(none.data()[n] == doctest::Approx(per[n]).epsilon(1e-6));
  Tensor mean = cross_entropy(logits, labels);
  CHECK(mean.dim() == 0);
  CHECK(mean.item() == doctest::Approx(total / 5).epsilon(1e-6));
  CHECK(cross_entropy(logits, labels, Reduction::Sum).item() == doctest::Approx(total).epsilon(1e-6));

  // Label smoothing eps: l_n = (1 - eps)(-lp[n, label]) + eps/C sum_c (-lp[n, c]), as PyTorch.
  const double eps = 0.1;
  double smoothed = 0.0;
  for (int64_t n = 0; n < 5; ++n) {
    double row = 0.0;
    for (int64_t c = 0; c < 4; ++c) row -= lp.at({n, c});
    smoothed += (1 - eps) * per[n] + eps / 4 * row;
  }
  CHECK(cross_entropy(logits, labels, Reduction::Mean, eps).item() == doctest::Approx(smoothed / 5).epsilon(1e-6));

  // Hand case: uniform logits give log C.
  CHECK(cross_entropy(zeros({2, 3}), {0, 2}).item() == doctest::Approx(std::log(3.0)).epsilon(1e-6));
  // Stable with huge logits: the right class at +1000 costs ~0, the wrong one ~1000.
  Tensor huge = tensor({1000.0f, 0.0f, -1000.0f, 0.0f}, {2, 2});
  Tensor l = cross_entropy(huge, {0, 0}, Reduction::None);
  CHECK(l.data()[0] == doctest::Approx(0.0));
  CHECK(l.data()[1] == doctest::Approx(1000.0));
}

TEST_CASE("cross_entropy gradcheck for every reduction and with label smoothing") {
  // Tolerance: h = 1e-2, atol = 1e-3, rtol = 1e-2. The larger step keeps float32
  // rounding of the scalar (sum/mean) loss, ~1e-6 of ~10, small against 2h.
  testing::GradcheckOptions opt;
  opt.eps = 1e-2;
  Generator gen(19);
  Tensor logits = (randn({6, 5}, &gen) * 2.0f).requires_grad_();
  const std::vector<int64_t> labels = {4, 0, 2, 2, 1, 3};
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None})
    for (double eps : {0.0, 0.2}) {
      expect_gradcheck([&labels, r, eps](const std::vector<Tensor>& in) { return cross_entropy(in[0], labels, r, eps); },
                      {logits}, opt, "cross_entropy reduction " + std::to_string(int(r)) + " eps " + std::to_string(eps));
    }
  // The gradient of the mean loss is (softmax - onehot) / N.
  Tensor x = logits.detach().clone().requires_grad_();
  Tensor y = cross_entropy(x, labels);
  CHECK(y.grad_fn_name() == "cross_entropy");
  y.backward();
  Tensor s = softmax(x.detach(), 1);
  for (int64_t n = 0; n < 6; ++n)
    for (int64_t c = 0; c < 5; ++c)
      CHECK(x.grad().at({n, c}) ==
            doctest::Approx((s.at({n, c}) - (c == labels[n] ? 1.0f : 0.0f)) / 6.0f).epsilon(1e-5));
}

TEST_CASE("cross_entropy argument errors name the op and the shapes") {
  Tensor logits = randn({3, 4});
  check_error([&] { cross_entropy(randn({4}), {1}); }, "cross_entropy", {"[4]"});
  check_error([&] { cross_entropy(randn({2, 3, 4}), {1, 1}); }, "cross_entropy", {"[2, 3, 4]"});
  check_error([&] { cross_entropy(logits, {0, 1}); }, "cross_entropy", {"2 labels", "[3, 4]"});
  check_error([&] { cross_entropy(logits, {0, 4, 1}); }, "cross_entropy", {"target 4", "position [1]", "[0, 4)", "[3, 4]"});
  check_error([&] { cross_entropy(logits, {0, 1, -1}); }, "cross_entropy", {"target -1", "position [2]", "[3, 4]"});
  check_error([&] { cross_entropy(logits, {0, 1, 2}, Reduction::Mean, 1.5); }, "cross_entropy",
              {"label_smoothing", "1.5"});
  check_error([&] { cross_entropy(zeros({0, 4}), std::vector<int64_t>{}); }, "cross_entropy", {"[0, 4]"});
  CHECK(cross_entropy(zeros({0, 4}), std::vector<int64_t>{}, Reduction::Sum).item() == 0.0f);
}
