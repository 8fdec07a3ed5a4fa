// The binary ops (ops/binary.hpp, ops/compare.hpp, ops/select.hpp): add, sub, mul, div with
// broadcasting and their scalar forms, maximum, minimum, the comparisons, where and masked_fill.
// Forward values against hand-computed numbers, gradchecks (both or one operand requiring grad),
// errors.
//
// gradcheck compares backward() with central differences of <f(x), g> for a random upstream
// gradient g. Tolerance (unless a test says otherwise): the gradcheck defaults, step h = 1e-3,
// |analytic - numeric| <= 1e-3 + 1e-2 |numeric|.
// Inputs stay O(1), divisors positive and away from zero, ties of maximum/minimum 0.05 apart.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

struct ShapePair {
  Shape a, b;
};
// Same shapes, broadcasting either way, both-sides broadcasting, rank change, 0-d.
const std::vector<ShapePair> kBinaryShapes = {
    {{2, 3}, {2, 3}}, {{2, 3}, {3}},       {{3}, {2, 3}}, {{2, 1}, {1, 3}},
    {{4, 1, 3}, {2, 1}}, {{2, 3}, {}},     {{}, {2, 3}},  {{1}, {2, 2}},
    {{2, 3, 2, 2}, {2, 3, 1, 1}}, {{3, 1, 1}, {2, 3, 2, 2}},  // one value per row (the fast path)
};

std::string describe(const char* op, const ShapePair& s, std::pair<bool, bool> mask) {
  return std::string(op) + " " + shape_str(s.a) + " " + shape_str(s.b) + " grad=(" + (mask.first ? "a" : "-") +
         (mask.second ? "b" : "-") + ")";
}

}  // namespace

TEST_CASE("add, sub, mul, div: same shape") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2});
  Tensor b = tensor({5, -1, 0.5f, 8}, {2, 2});
  check_values(a + b, {2, 2}, {6, 1, 3.5f, 12});
  check_values(a - b, {2, 2}, {-4, 3, 2.5f, -4});
  check_values(a * b, {2, 2}, {5, -2, 1.5f, 32});
  check_values(a / b, {2, 2}, {0.2f, -2, 6, 0.5f});
  check_values(add(a, b), {2, 2}, {6, 1, 3.5f, 12});
  check_values(sub(a, b), {2, 2}, {-4, 3, 2.5f, -4});
  check_values(mul(a, b), {2, 2}, {5, -2, 1.5f, 32});
  check_values(div(a, b), {2, 2}, {0.2f, -2, 6, 0.5f});
}

TEST_CASE("add, sub, mul, div: broadcasting") {
  // [2,3] + [3]
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor r = tensor({10, 20, 30});
  check_values(a + r, {2, 3}, {11, 22, 33, 14, 25, 36});
  check_values(r + a, {2, 3}, {11, 22, 33, 14, 25, 36});
  check_values(r - a, {2, 3}, {9, 18, 27, 6, 15, 24});
  check_values(a / r, {2, 3}, {0.1f, 0.1f, 0.1f, 0.4f, 0.25f, 0.2f});

  // [2,1] * [1,3] -> [2,3] (an outer product)
  Tensor col = tensor({1, 2}, {2, 1});
  Tensor row = tensor({3, 4, 5}, {1, 3});
  check_values(col * row, {2, 3}, {3, 4, 5, 6, 8, 10});
  check_values(row * col, {2, 3}, {3, 4, 5, 6, 8, 10});
  check_values(row / col, {2, 3}, {3, 4, 5, 1.5f, 2, 2.5f});

  // [4,1,3] - [2,1] -> [4,2,3]: out[i,j,k] = a[i,0,k] - b[j,0]
  Tensor a3 = arange(12).reshape({4, 1, 3});
  Tensor b2 = tensor({1, 100}, {2, 1});
  std::vector<float> expected;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) expected.push_back(static_cast<float>(3 * i + k) - (j == 0 ? 1.0f : 100.0f));
  check_values(a3 - b2, {4, 2, 3}, expected);
  Tensor d = a3 - b2;
  CHECK(d.at({3, 1, 2}) == 11.0f - 100.0f);
  CHECK(d.at({2, 0, 0}) == 6.0f - 1.0f);

  // A 0-d tensor broadcasts against anything.
  check_values(a * scalar_tensor(2.0f), {2, 3}, {2, 4, 6, 8, 10, 12});
  check_values(scalar_tensor(1.0f) + scalar_tensor(2.0f), {}, {3});
}

TEST_CASE("broadcasting one value per row (per-channel [N, C, 1, 1]), large enough to run in parallel") {
  // h [4, 64, 16, 16] with t [4, 64, 1, 1]: the U-Net's time-embedding add and its sum_to.
  Generator gen(5);
  const Tensor h = randn({4, 64, 16, 16}, &gen), t = randn({4, 64, 1, 1}, &gen);
  const Tensor sum = h + t, diff = t - h;
  double worst = 0.0;
  for (int64_t r = 0; r < 4 * 64; ++r)
    for (int64_t i = 0; i < 256; ++i) {
      const float hv = h.data()[r * 256 + i], tv = t.data()[r];
      worst = std::max(worst, static_cast<double>(std::fabs(sum.data()[r * 256 + i] - (hv + tv))));
      worst = std::max(worst, static_cast<double>(std::fabs(diff.data()[r * 256 + i] - (tv - hv))));
    }
  CHECK(worst == 0.0);
  const Tensor rows = sum_to(h, {4, 64, 1, 1});
  for (int64_t r = 0; r < 4 * 64; ++r) {
    double expected = 0.0;
    for (int64_t i = 0; i < 256; ++i) expected += h.data()[r * 256 + i];
    CHECK(rows.data()[r] == doctest::Approx(expected).epsilon(1e-5));
  }
}

TEST_CASE("scalar forms: x + s, x - s, x * s, x / s, s + x, s - x, s * x, s / x") {
  Tensor x = tensor({1, 2, 4, -0.5f});
  check_values(x + 2.0f, {4}, {3, 4, 6, 1.5f});
  check_values(x - 2.0f, {4}, {-1, 0, 2, -2.5f});
  check_values(x * 2.0f, {4}, {2, 4, 8, -1});
  check_values(x / 2.0f, {4}, {0.5f, 1, 2, -0.25f});
  check_values(2.0f + x, {4}, {3, 4, 6, 1.5f});
  check_values(2.0f - x, {4}, {1, 0, -2, 2.5f});
  check_values(2.0f * x, {4}, {2, 4, 8, -1});
  check_values(2.0f / x, {4}, {2, 1, 0.5f, -4});
  check_values(rsub(x, 2.0f), {4}, {1, 0, -2, 2.5f});
  check_values(rdiv(x, 2.0f), {4}, {2, 1, 0.5f, -4});
  check_values(add(x, 1.0f), {4}, {2, 3, 5, 0.5f});
  check_values(sub(x, 1.0f), {4}, {0, 1, 3, -1.5f});
  check_values(mul(x, -1.0f), {4}, {-1, -2, -4, 0.5f});
  check_values(div(x, 4.0f), {4}, {0.25f, 0.5f, 1, -0.125f});
}

TEST_CASE("comparisons: 0/1 float masks, broadcasting, scalars, NaN, no gradient") {
  const Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = tensor({2, 2, 5}, {3});
  check_values(eq(a, b), {2, 3}, {0, 1, 0, 0, 0, 0});
  check_values(ne(a, b), {2, 3}, {1, 0, 1, 1, 1, 1});
  check_values(lt(a, b), {2, 3}, {1, 0, 1, 0, 0, 0});
  check_values(le(a, b), {2, 3}, {1, 1, 1, 0, 0, 0});
  check_values(gt(a, b), {2, 3}, {0, 0, 0, 1, 1, 1});
  check_values(ge(a, b), {2, 3}, {0, 1, 0, 1, 1, 1});
  check_values(lt(tensor({1, 5}, {2, 1}), tensor({2, 4, 6}, {3})), {2, 3}, {1, 1, 1, 0, 0, 1});  // both broadcast
  check_values(eq(a, 3.0f), {2, 3}, {0, 0, 1, 0, 0, 0});
  check_values(ne(a, 3.0f), {2, 3}, {1, 1, 0, 1, 1, 1});
  check_values(lt(a, 3.0f), {2, 3}, {1, 1, 0, 0, 0, 0});
  check_values(le(a, 3.0f), {2, 3}, {1, 1, 1, 0, 0, 0});
  check_values(gt(a, 3.0f), {2, 3}, {0, 0, 0, 1, 1, 1});
  check_values(ge(a, 3.0f), {2, 3}, {0, 0, 1, 1, 1, 1});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor n = tensor({nan, 1}, {2});
  check_values(eq(n, n), {2}, {0, 1});
  check_values(ne(n, n), {2}, {1, 0});
  check_values(le(n, 1.0f), {2}, {0, 1});
  // The mask counts: the fraction of a that is > 2.
  CHECK(mean(gt(a, 2.0f)).item() == doctest::Approx(4.0 / 6.0));
  Tensor x = a.clone().requires_grad_();
  CHECK_FALSE(gt(x, 2.0f).requires_grad());
  CHECK_FALSE(eq(x, x).requires_grad());
  check_error([&] { lt(a, tensor({1, 2}, {2})); }, "lt", {"cannot broadcast", "[2, 3]", "[2]"});
  check_error([&] { ge(a, zeros({4, 1, 2})); }, "ge", {"[4, 1, 2]"});
}

TEST_CASE("where and masked_fill: values, broadcasting, any non-zero is true") {
  const Tensor cond = tensor({1, 0, 2}, {3});  // 2 counts as true
  const Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}), b = tensor({-1, -2}, {2, 1});
  check_values(where(cond, a, b), {2, 3}, {1, -1, 3, 4, -2, 6});
  check_values(where(tensor({0, 1}, {2, 1}), tensor({7}, {}), tensor({10, 20, 30}, {3})), {2, 3},
               {10, 20, 30, 7, 7, 7});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  check_values(where(tensor({nan, 0}, {2}), tensor({1, 1}, {2}), tensor({0, 0}, {2})), {2}, {1, 0});  // NaN is non-zero
  check_values(where(gt(a, 3.0f), a, zeros({})), {2, 3}, {0, 0, 0, 4, 5, 6});  // relu by hand
  check_values(masked_fill(a, tensor({0, 1, 0}, {3}), -9.0f), {2, 3}, {1, -9, 3, 4, -9, 6});
  check_values(masked_fill(a, tensor({1, 0}, {2, 1}), 0.5f), {2, 3}, {0.5f, 0.5f, 0.5f, 4, 5, 6});
  check_values(masked_fill(a, lt(a, 3.0f), -std::numeric_limits<float>::infinity()).exp(), {2, 3},
               {0, 0, std::exp(3.0f), std::exp(4.0f), std::exp(5.0f), std::exp(6.0f)}, 1e-6);
  check_values(masked_fill(a, tensor({1}, {}), 2.0f), {2, 3}, {2, 2, 2, 2, 2, 2});

  // Gradients by hand: g goes where each input was picked (summed over b's broadcast dim).
  Tensor ag = a.clone().requires_grad_(), bg = b.clone().requires_grad_();
  where(cond, ag, bg).backward(tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  check_values(ag.grad(), {2, 3}, {1, 0, 3, 4, 0, 6});
  check_values(bg.grad(), {2, 1}, {2, 5});
  Tensor xg = a.clone().requires_grad_();
  masked_fill(xg, tensor({0, 1, 0}, {3}), 7.0f).backward(ones({2, 3}));
  check_values(xg.grad(), {2, 3}, {1, 0, 1, 1, 0, 1});

  check_error([&] { where(tensor({1, 0}, {2}), a, b); }, "where", {"cannot broadcast", "[2]", "[2, 3]"});
  check_error([&] { where(cond, a, zeros({4, 1})); }, "where", {"cannot broadcast", "[2, 3]", "[4, 1]"});
  check_error([&] { masked_fill(a, zeros({3, 3}), 1.0f); }, "masked_fill", {"cannot broadcast", "[3, 3]", "[2, 3]"});
  check_error([&] { masked_fill(tensor({1, 2, 3}, {3}), zeros({2, 3}), 1.0f); }, "masked_fill",
              {"mask of shape [2, 3]", "input's shape [3]"});
}

TEST_CASE("maximum and minimum: broadcasting, NaN, the gradient halved at ties") {
  const Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}), b = tensor({3, 2, 1}, {3});
  check_values(maximum(a, b), {2, 3}, {3, 2, 3, 4, 5, 6});
  check_values(minimum(a, b), {2, 3}, {1, 2, 1, 3, 2, 1});
  check_values(maximum(tensor({0, 5}, {2, 1}), tensor({1, 2, 6}, {3})), {2, 3}, {1, 2, 6, 5, 5, 6});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor m = maximum(tensor({nan, 1}, {2}), tensor({0, nan}, {2}));
  CHECK(std::isnan(m.data()[0]));
  CHECK(std::isnan(m.data()[1]));
  CHECK(std::isnan(minimum(tensor({nan}, {1}), tensor({0}, {1})).item()));

  // PyTorch's gradients: [1, 2, 3] vs [1, 3, 2] gives a [0.5, 0, 1] and b [0.5, 1, 0].
  Tensor p = tensor({1, 2, 3}, {3}).requires_grad_(), q = tensor({1, 3, 2}, {3}).requires_grad_();
  maximum(p, q).backward(ones({3}));
  check_values(p.grad(), {3}, {0.5f, 0, 1});
  check_values(q.grad(), {3}, {0.5f, 1, 0});
  p.zero_grad();
  q.zero_grad();
  minimum(p, q).backward(ones({3}));
  check_values(p.grad(), {3}, {0.5f, 1, 0});
  check_values(q.grad(), {3}, {0.5f, 0, 1});
  // Broadcast: b's gradient is summed over the rows.
  Tensor ag = a.clone().requires_grad_(), bg = b.clone().requires_grad_();
  maximum(ag, bg).backward(tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  check_values(ag.grad(), {2, 3}, {0, 1, 3, 4, 5, 6});
  check_values(bg.grad(), {3}, {1, 1, 0});

  check_error([&] { maximum(a, tensor({1, 2}, {2})); }, "maximum", {"cannot broadcast", "[2, 3]", "[2]"});
  check_error([&] { minimum(zeros({4}), a); }, "minimum", {"[4]", "[2, 3]"});
}

GRADCHECKED_OPS("add", "sub", "mul", "div");
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

GRADCHECKED_OPS("rsub", "rdiv");
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

TEST_CASE("gradcheck: a composition of elementwise ops with broadcasting") {
  Generator gen(17);
  Tensor a = uniform({3, 4}, -1.0f, 1.0f, gen).requires_grad_();
  Tensor b = uniform({4}, 0.5f, 1.5f, gen).requires_grad_();
  Tensor c = uniform({3, 1}, -1.0f, 1.0f, gen).requires_grad_();
  expect_gradcheck(
      [](const std::vector<Tensor>& v) { return silu(v[0] * v[1] + v[2]).exp() / (v[1].sqrt() + 1.0f) - v[2].tanh(); },
      {a, b, c}, "composition");
}

GRADCHECKED_OPS("where", "masked_fill");
TEST_CASE("gradcheck: where and masked_fill, broadcasting, one or both inputs requiring grad") {
  Generator gen(73);
  const Tensor cond = gt(randn({2, 1, 3}, &gen), 0.0f);  // a fixed 0/1 mask
  struct Case {
    Shape a, b;
  };
  for (const Case& c : {Case{{2, 4, 3}, {2, 4, 3}}, Case{{4, 1}, {3}}, Case{{}, {2, 4, 1}}})
    for (const auto& mask : {std::pair<bool, bool>{true, true}, {true, false}, {false, true}}) {
      Tensor a = normal(c.a, gen, mask.first), b = normal(c.b, gen, mask.second);
      expect_gradcheck([cond](const std::vector<Tensor>& v) { return where(cond, v[0], v[1]); }, {a, b},
                       "where " + shape_str(c.a) + " " + shape_str(c.b) + " grad=(" + (mask.first ? "a" : "-") +
                           (mask.second ? "b" : "-") + ")");
    }
  // The same tensor on both sides: its gradient is g everywhere.
  Tensor x = normal({2, 4, 3}, gen);
  expect_gradcheck([cond](const std::vector<Tensor>& v) { return where(cond, v[0], v[0] * 3.0f); }, {x}, "where x, 3x");
  expect_gradcheck([cond](const std::vector<Tensor>& v) { return masked_fill(v[0], cond, -2.0f); }, {x},
                   "masked_fill broadcast mask");
  expect_gradcheck([](const std::vector<Tensor>& v) { return masked_fill(v[0], gt(v[0], 0.5f), 0.0f); }, {x},
                   "masked_fill by a comparison of its own input");
}

GRADCHECKED_OPS("maximum", "minimum", "cumsum");
TEST_CASE("gradcheck: maximum and minimum with broadcasting, cumsum") {
  Generator gen(77);
  struct Case {
    Shape a, b;
  };
  for (const Case& c : {Case{{2, 3}, {2, 3}}, Case{{2, 3}, {3}}, Case{{4, 1}, {1, 3}}, Case{{}, {2, 3}}})
    for (const auto& mask : {std::pair<bool, bool>{true, true}, {true, false}, {false, true}}) {
      Tensor a = normal(c.a, gen, mask.first), b = normal(c.b, gen, mask.second);
      const std::string what = shape_str(c.a) + " " + shape_str(c.b) + " grad=(" + (mask.first ? "a" : "-") +
                               (mask.second ? "b" : "-") + ")";
      expect_gradcheck([](const std::vector<Tensor>& v) { return maximum(v[0], v[1]); }, {a, b}, "maximum " + what);
      expect_gradcheck([](const std::vector<Tensor>& v) { return minimum(v[0], v[1]); }, {a, b}, "minimum " + what);
    }
  Tensor x = normal({3, 4, 2}, gen);
  for (int64_t d : {0, 1, 2, -1})
    expect_gradcheck([d](const std::vector<Tensor>& v) { return cumsum(v[0], d); }, {x}, "cumsum " + std::to_string(d));
}

TEST_CASE("broadcast mismatch in add, sub, mul, div") {
  Tensor a = ones({2, 3}), b = ones({4});
  expect_error([&] { add(a, b); }, {"add: ", "[2, 3]", "[4]"});
  expect_error([&] { sub(a, b); }, {"sub: ", "[2, 3]", "[4]"});
  expect_error([&] { mul(a, b); }, {"mul: ", "[2, 3]", "[4]"});
  expect_error([&] { div(a, b); }, {"div: ", "[2, 3]", "[4]"});
  expect_error([&] { (void)(a + b); }, {"add: ", "[2, 3]", "[4]"});
  expect_error([&] { (void)(ones({3, 2}) * ones({2, 3})); }, {"mul: ", "[3, 2]", "[2, 3]"});
  // The doctest macro form, for one of them.
  CHECK_THROWS_WITH_AS(sub(ones({2, 3}), ones({4})), "sub: cannot broadcast shapes [2, 3] and [4]", Error);
}
