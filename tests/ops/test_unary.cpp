// The unary ops and activations (ops/unary.hpp, ops/activation.hpp): neg, exp, log, sqrt, pow,
// abs, sin, cos, clamp, tanh, sigmoid, relu, silu, leaky_relu, elu, softplus, erf, log1p, gelu,
// softmax, log_softmax. Forward values against hand-computed numbers (or PyTorch's, where it says
// so), gradchecks, errors.
//
// gradcheck compares backward() with central differences of <f(x), g> for a random upstream
// gradient g. Tolerance (unless a test says otherwise): the gradcheck defaults, step h = 1e-3,
// |analytic - numeric| <= 1e-3 + 1e-2 |numeric|.
// Inputs stay O(1), at least 0.1 away from kinks (relu/abs at 0, clamp bounds), and positive and
// away from zero where the domain asks (log, sqrt, fractional pow).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

// Values in [-2, 2] at least `margin` away from every point in `kinks`.
Tensor away_from(const Shape& shape, const std::vector<float>& kinks, float margin, Generator& gen) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v;
    bool ok;
    do {
      v = -2.0f + 4.0f * gen.uniform();
      ok = true;
      for (float k : kinks) ok = ok && std::fabs(v - k) >= margin;
    } while (!ok);
    t.data()[i] = v;
  }
  return t;
}

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

TEST_CASE("unary: neg, exp, log, sqrt, pow, abs") {
  Tensor x = tensor({1, 2, 4, 0.25f});
  check_values(-x, {4}, {-1, -2, -4, -0.25f});
  check_values(neg(x), {4}, {-1, -2, -4, -0.25f});
  check_values(x.neg(), {4}, {-1, -2, -4, -0.25f});
  check_values(tensor({0, 1, -1, 2}).exp(), {4}, {1, 2.718281828f, 0.367879441f, 7.389056099f});
  check_values(x.log(), {4}, {0, 0.693147181f, 1.386294361f, -1.386294361f});
  check_values(x.sqrt(), {4}, {1, 1.414213562f, 2, 0.5f});
  check_values(x.pow(2.0f), {4}, {1, 4, 16, 0.0625f});
  check_values(x.pow(0.5f), {4}, {1, 1.414213562f, 2, 0.5f});
  check_values(x.pow(-1.0f), {4}, {1, 0.5f, 0.25f, 4});
  check_values(x.pow(0.0f), {4}, {1, 1, 1, 1});
  check_values(pow(tensor({-2, 3}), 3.0f), {2}, {-8, 27});
  check_values(tensor({-1.5f, 0, 2}).abs(), {3}, {1.5f, 0, 2});
  check_values(exp(tensor({0.0f}, {1, 1})), {1, 1}, {1});
}

TEST_CASE("unary: sin, cos") {
  Tensor x = tensor({0.0f, 0.5f, -1.0f, 3.0f}, {4});
  check_values(sin(x), {4}, {0.0f, 0.479425539f, -0.841470985f, 0.141120008f});
  check_values(cos(x), {4}, {1.0f, 0.877582562f, 0.540302306f, -0.989992497f});
}

TEST_CASE("unary: clamp") {
  Tensor x = tensor({-3, -1, 0, 0.5f, 1, 2.5f});
  check_values(clamp(x, -1.0f, 1.0f), {6}, {-1, -1, 0, 0.5f, 1, 1});
  check_values(clamp(x, 0.0f, 0.0f), {6}, {0, 0, 0, 0, 0, 0});
  check_values(clamp(x, -INFINITY, 0.75f), {6}, {-3, -1, 0, 0.5f, 0.75f, 0.75f});
  check_values(clamp(x, -2.0f, INFINITY), {6}, {-2, -1, 0, 0.5f, 1, 2.5f});
}

TEST_CASE("activations: tanh, sigmoid, relu, silu") {
  Tensor x = tensor({-2, -0.5f, 0, 0.5f, 2});
  check_values(x.tanh(), {5}, {-0.964027580f, -0.462117157f, 0, 0.462117157f, 0.964027580f});
  check_values(x.sigmoid(), {5}, {0.119202922f, 0.377540669f, 0.5f, 0.622459331f, 0.880797078f});
  check_values(x.relu(), {5}, {0, 0, 0, 0.5f, 2});
  check_values(silu(x), {5}, {-2 * 0.119202922f, -0.5f * 0.377540669f, 0, 0.5f * 0.622459331f, 2 * 0.880797078f});
}

TEST_CASE("activations at extreme inputs stay finite") {
  Tensor x = tensor({-100, -50, 50, 100});
  const auto s = sigmoid(x).to_vector();
  const auto t = tanh(x).to_vector();
  const auto q = silu(x).to_vector();
  for (int i = 0; i < 4; ++i) {
    CHECK(std::isfinite(s[i]));
    CHECK(std::isfinite(t[i]));
    CHECK(std::isfinite(q[i]));
  }
  CHECK(s[0] >= 0.0f);
  CHECK(s[0] < 1e-40f);
  CHECK(s[3] == 1.0f);
  CHECK(t[0] == -1.0f);
  CHECK(t[3] == 1.0f);
  CHECK(q[0] <= 0.0f);
  CHECK(q[0] > -1e-38f);
  CHECK(q[3] == 100.0f);

  // The backward at extreme inputs is finite too (0 or 1, never NaN).
  Tensor v = tensor({-100, 100}).requires_grad_();
  (sigmoid(v) + silu(v) + tanh(v)).sum().backward();
  for (float g : v.grad().to_vector()) CHECK(std::isfinite(g));
  CHECK(v.grad().at({1}) == doctest::Approx(1.0f));  // silu' -> 1, sigmoid' and tanh' -> 0
  CHECK(v.grad().at({0}) == doctest::Approx(0.0f));
}

TEST_CASE("leaky_relu, elu, softplus, erf, log1p: values (PyTorch's), derivatives at the kinks") {
  const Tensor x = tensor({-2, -0.5f, 0, 1.5f, 25}, {5});
  check_values(leaky_relu(x), {5}, {-0.02f, -0.005f, 0, 1.5f, 25});
  check_values(leaky_relu(x, 0.2f), {5}, {-0.4f, -0.1f, 0, 1.5f, 25});
  check_values(elu(x), {5}, {-0.8646647334f, -0.3934693336f, 0, 1.5f, 25});
  check_values(elu(x, 0.5f), {5}, {-0.4323323667f, -0.1967346668f, 0, 1.5f, 25});
  check_values(softplus(x), {5}, {0.1269280016f, 0.4740769863f, 0.6931471825f, 1.7014132738f, 25});
  check_values(softplus(x, 2.0f, 5.0f), {5}, {0.0090749646f, 0.1566308439f, 0.3465735912f, 1.5242936611f, 25});
  check_values(softplus(tensor({-100, 100}, {2})), {2}, {0, 100});  // no overflow on either side
  check_values(erf(x), {5}, {-0.9953222871f, -0.5204998851f, 0, 0.9661051631f, 1});
  check_values(log1p(tensor({-0.5f, 0, 1e-8f, 3}, {4})), {4}, {-0.6931471825f, 0, 1e-8f, 1.3862943649f});
  CHECK(log1p(tensor({1e-8f}, {1})).item() == doctest::Approx(1e-8f).epsilon(1e-6));  // not 0, as log(1 + x) gives

  // At 0, as PyTorch: leaky_relu's slope and elu's alpha e^0 = alpha.
  Tensor z = zeros({1}).requires_grad_();
  leaky_relu(z, 0.2f).backward(ones({1}));
  CHECK(z.grad().item() == doctest::Approx(0.2f));
  z.zero_grad();
  elu(z, 0.5f).backward(ones({1}));
  CHECK(z.grad().item() == doctest::Approx(0.5f));
  // softplus in its linear region: the gradient is 1.
  Tensor big = tensor({30}, {1}).requires_grad_();
  softplus(big).backward(ones({1}));
  CHECK(big.grad().item() == 1.0f);
  check_error([&] { softplus(x, 0.0f); }, "softplus", {"beta", "0"});
}

GRADCHECKED_OPS("gelu");
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

GRADCHECKED_OPS("softmax", "log_softmax");
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

GRADCHECKED_OPS("neg", "exp", "log", "sqrt", "pow", "abs");
TEST_CASE("gradcheck: neg, exp, log, sqrt, pow, abs") {
  Generator gen(14);
  for (const Shape& shape : {Shape{5}, Shape{2, 3}, Shape{2, 2, 3}}) {
    const std::string s = shape_str(shape);
    Tensor x = uniform(shape, -1.0f, 1.0f, gen).requires_grad_();
    Tensor pos = uniform(shape, 0.5f, 2.0f, gen).requires_grad_();  // log, sqrt, fractional powers
    Tensor nonzero = away_from(shape, {0.0f}, 0.1f, gen).requires_grad_();
    expect_gradcheck([](const std::vector<Tensor>& v) { return -v[0]; }, {x}, "neg " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].exp(); }, {x}, "exp " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].log(); }, {pos}, "log " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].sqrt(); }, {pos}, "sqrt " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].pow(2.0f); }, {x}, "pow 2 " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].pow(3.0f); }, {x}, "pow 3 " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].pow(0.5f); }, {pos}, "pow 0.5 " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].pow(-1.5f); }, {pos}, "pow -1.5 " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].pow(0.0f) * v[0]; }, {x}, "pow 0 " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].abs(); }, {nonzero}, "abs " + s);
  }
}

GRADCHECKED_OPS("clamp");
TEST_CASE("gradcheck: clamp (inputs inside, below and above the bounds, away from them)") {
  Generator gen(15);
  for (const Shape& shape : {Shape{8}, Shape{3, 4}}) {
    Tensor x = away_from(shape, {-0.5f, 0.75f}, 0.1f, gen).requires_grad_();
    expect_gradcheck([](const std::vector<Tensor>& v) { return clamp(v[0], -0.5f, 0.75f); }, {x},
                     "clamp " + shape_str(shape));
    expect_gradcheck([](const std::vector<Tensor>& v) { return clamp(v[0], -INFINITY, 0.75f); }, {x},
                     "clamp max only " + shape_str(shape));
  }
  // Make sure all three regions are exercised: the gradient is 0, 1, 0.
  Tensor x = tensor({-1.0f, 0.0f, 1.0f}).requires_grad_();
  clamp(x, -0.5f, 0.75f).backward(tensor({2, 3, 4}));
  CHECK(x.grad().to_vector() == std::vector<float>{0, 3, 0});
}

GRADCHECKED_OPS("tanh", "sigmoid", "relu", "silu");
TEST_CASE("gradcheck: tanh, sigmoid, relu, silu") {
  Generator gen(16);
  for (const Shape& shape : {Shape{6}, Shape{2, 3}, Shape{2, 1, 4}}) {
    const std::string s = shape_str(shape);
    Tensor x = uniform(shape, -3.0f, 3.0f, gen).requires_grad_();
    Tensor nonzero = away_from(shape, {0.0f}, 0.1f, gen).requires_grad_();
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].tanh(); }, {x}, "tanh " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].sigmoid(); }, {x}, "sigmoid " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return silu(v[0]); }, {x}, "silu " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].relu(); }, {nonzero}, "relu " + s);
  }
  // Saturated inputs: the derivatives are tiny but must still match.
  Tensor big = tensor({-12.0f, -8.0f, 8.0f, 12.0f}).requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].sigmoid() + silu(v[0]) + v[0].tanh(); }, {big},
                   "saturated activations");
}

// sin and cos over more than a period each way, where their derivatives change sign.
GRADCHECKED_OPS("sin", "cos");
TEST_CASE("gradcheck: sin, cos") {
  Generator gen(19);
  for (const Shape& shape : {Shape{5}, Shape{2, 3}, Shape{}}) {
    const std::string s = shape_str(shape);
    Tensor x = uniform(shape, -7.0f, 7.0f, gen).requires_grad_();
    expect_gradcheck([](const std::vector<Tensor>& v) { return sin(v[0]); }, {x}, "sin " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return cos(v[0]); }, {x}, "cos " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return sin(v[0]) * cos(v[0]); }, {x}, "sin * cos " + s);
  }
}

GRADCHECKED_OPS("leaky_relu", "elu", "softplus", "erf", "log1p");
TEST_CASE("gradcheck: leaky_relu, elu, softplus, erf, log1p") {
  Generator gen(76);
  // Values in [-3, 3] at least 0.05 from the kink at 0.
  Tensor x = Tensor::empty({3, 4});
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float u = gen.uniform();
    x.data()[i] = (u < 0.5f ? -1.0f : 1.0f) * (0.05f + 5.9f * std::fabs(u - 0.5f));
  }
  x.requires_grad_();
  for (float slope : {0.01f, 0.2f, -0.5f})
    expect_gradcheck([slope](const std::vector<Tensor>& v) { return leaky_relu(v[0], slope); }, {x},
                     "leaky_relu " + std::to_string(slope));
  for (float alpha : {1.0f, 0.5f, 2.0f})
    expect_gradcheck([alpha](const std::vector<Tensor>& v) { return elu(v[0], alpha); }, {x},
                     "elu " + std::to_string(alpha));
  expect_gradcheck([](const std::vector<Tensor>& v) { return softplus(v[0]); }, {x}, "softplus");
  expect_gradcheck([](const std::vector<Tensor>& v) { return softplus(v[0], 2.0f, 3.0f); }, {x},
                   "softplus beta 2 threshold 3 (both regions)");
  expect_gradcheck([](const std::vector<Tensor>& v) { return softplus(v[0] * 10.0f, 1.0f, 20.0f); }, {x},
                   "softplus beyond the threshold");
  expect_gradcheck([](const std::vector<Tensor>& v) { return erf(v[0]); }, {x}, "erf");
  Tensor p = (rand({3, 4}, &gen) * 3.0f - 0.8f).detach().requires_grad_();  // > -1
  expect_gradcheck([](const std::vector<Tensor>& v) { return log1p(v[0]); }, {p}, "log1p");
}

TEST_CASE("clamp with min greater than max") {
  expect_error([] { clamp(ones({2}), 2.0f, 1.0f); }, {"clamp", "min 2", "max 1"});
}
