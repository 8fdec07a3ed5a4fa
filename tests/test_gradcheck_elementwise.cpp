// gradcheck on the elementwise ops: add/sub/mul/div with broadcasting (both or
// one operand requiring grad), their scalar forms, the unary functions and
// activations, and mse_loss. gradcheck compares backward() with central
// differences of <f(x), g> for a random upstream gradient g.
//
// Tolerance (unless a test says otherwise): the gradcheck defaults, step
// h = 1e-3, |analytic - numeric| <= 1e-3 + 1e-2 |numeric|. Inputs stay O(1),
// at least 0.1 away from kinks (relu/abs at 0, clamp bounds), and positive and
// away from zero where the domain asks (log, sqrt, fractional pow, divisors).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>
#include <tinydiff/testing/gradcheck.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;
using testing::gradcheck;
using testing::GradcheckOptions;
using Fn = testing::GradcheckFunction;

namespace {
// Uniform values in [lo, hi).
Tensor uniform(const Shape& shape, float lo, float hi, Generator& gen) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = lo + (hi - lo) * gen.uniform();
  return t;
}

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

Tensor with_grad(Tensor t, bool on) {
  if (on) t.requires_grad_();
  return t;
}

struct ShapePair {
  Shape a, b;
};
// Same shapes, broadcasting either way, both-sides broadcasting, rank change, 0-d.
const std::vector<ShapePair> kBinaryShapes = {
    {{2, 3}, {2, 3}}, {{2, 3}, {3}},       {{3}, {2, 3}}, {{2, 1}, {1, 3}},
    {{4, 1, 3}, {2, 1}}, {{2, 3}, {}},     {{}, {2, 3}},  {{1}, {2, 2}},
    {{2, 3, 2, 2}, {2, 3, 1, 1}}, {{3, 1, 1}, {2, 3, 2, 2}},  // one value per row (the fast path)
};
// Which operands require grad: both, only the first, only the second.
const std::vector<std::pair<bool, bool>> kMasks = {{true, true}, {true, false}, {false, true}};

std::string describe(const char* op, const ShapePair& s, std::pair<bool, bool> mask) {
  return std::string(op) + " " + shape_str(s.a) + " " + shape_str(s.b) + " grad=(" + (mask.first ? "a" : "-") +
         (mask.second ? "b" : "-") + ")";
}
}  // namespace

TEST_CASE("gradcheck: add, sub, mul, div with broadcasting, both or one operand requiring grad") {
  Generator gen(11);
  for (const auto& s : kBinaryShapes)
    for (const auto& mask : kMasks) {
      Tensor a = with_grad(uniform(s.a, -1.5f, 1.5f, gen), mask.first);
      Tensor b = with_grad(uniform(s.b, -1.5f, 1.5f, gen), mask.second);
      Tensor b_pos = with_grad(uniform(s.b, 0.5f, 2.0f, gen), mask.second);  // divisor away from 0
      expect_gradcheck([](const std::vector<Tensor>& x) { return x[0] + x[1]; }, {a, b}, describe("add", s, mask));
      expect_gradcheck([](const std::vector<Tensor>& x) { return x[0] - x[1]; }, {a, b}, describe("sub", s, mask));
      expect_gradcheck([](const std::vector<Tensor>& x) { return x[0] * x[1]; }, {a, b}, describe("mul", s, mask));
      expect_gradcheck([](const std::vector<Tensor>& x) { return x[0] / x[1]; }, {a, b_pos},
                       describe("div", s, mask));
    }
}

TEST_CASE("gradcheck: the same tensor as both operands") {
  Generator gen(12);
  Tensor x = uniform({2, 3}, 0.5f, 2.0f, gen).requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0] * v[0]; }, {x}, "x * x");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0] / v[0] + v[0] - v[0] * 2.0f; }, {x}, "x / x + x - 2x");
}

TEST_CASE("gradcheck: scalar forms") {
  Generator gen(13);
  for (const Shape& shape : {Shape{5}, Shape{2, 3}, Shape{}}) {
    Tensor x = uniform(shape, -1.5f, 1.5f, gen).requires_grad_();
    Tensor xp = uniform(shape, 0.5f, 2.0f, gen).requires_grad_();  // for s / x
    const std::string s = shape_str(shape);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0] + 2.5f; }, {x}, "x + s " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0] - 2.5f; }, {x}, "x - s " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0] * -1.5f; }, {x}, "x * s " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return v[0] / 4.0f; }, {x}, "x / s " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return 2.5f + v[0]; }, {x}, "s + x " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return 2.0f - v[0]; }, {x}, "s - x " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return 3.0f * v[0]; }, {x}, "s * x " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return 2.0f / v[0]; }, {xp}, "s / x " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return rdiv(v[0], -0.5f); }, {xp}, "rdiv " + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return rsub(v[0], 1.0f); }, {x}, "rsub " + s);
  }
}

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

TEST_CASE("gradcheck: a composition of elementwise ops with broadcasting") {
  Generator gen(17);
  Tensor a = uniform({3, 4}, -1.0f, 1.0f, gen).requires_grad_();
  Tensor b = uniform({4}, 0.5f, 1.5f, gen).requires_grad_();
  Tensor c = uniform({3, 1}, -1.0f, 1.0f, gen).requires_grad_();
  expect_gradcheck(
      [](const std::vector<Tensor>& v) { return silu(v[0] * v[1] + v[2]).exp() / (v[1].sqrt() + 1.0f) - v[2].tanh(); },
      {a, b, c}, "composition");
}

TEST_CASE("gradcheck: mse_loss w.r.t. input and target, each reduction") {
  Generator gen(18);
  for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::None})
    for (const auto& mask : kMasks)
      for (const Shape& shape : {Shape{5}, Shape{3, 4}}) {
        Tensor input = with_grad(uniform(shape, -1.5f, 1.5f, gen), mask.first);
        Tensor target = with_grad(uniform(shape, -1.5f, 1.5f, gen), mask.second);
        const std::string what = "mse_loss reduction=" + std::to_string(static_cast<int>(reduction)) + " " +
                                 shape_str(shape) + " grad=(" + (mask.first ? "input" : "-") + "," +
                                 (mask.second ? "target" : "-") + ")";
        expect_gradcheck([reduction](const std::vector<Tensor>& v) { return mse_loss(v[0], v[1], reduction); },
                         {input, target}, what);
      }
}
