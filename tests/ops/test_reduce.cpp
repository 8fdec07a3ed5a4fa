// The reductions (ops/reduce.hpp, ops/reduce_select.hpp): sum, mean, max, min, argmax, argmin,
// var, std, logsumexp, norm, cumsum, over everything and over dims. Forward values against
// hand-computed numbers, gradchecks, errors.
//
// gradcheck compares backward() with central differences of <f(x), g> for a random upstream
// gradient g. Tolerance (unless a test says otherwise): the gradcheck defaults, step h = 1e-3,
// |analytic - numeric| <= 1e-3 + 1e-2 |numeric|.
// Inputs are N(0, 1) on small shapes; max/min keep their ties at least 0.05 apart.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

TEST_CASE("sum and mean over all elements and over dims") {
  Tensor x = arange(24).reshape({2, 3, 4});  // x[b,j,k] = 12b + 4j + k
  check_values(x.sum(), {}, {276});
  check_values(x.mean(), {}, {11.5f});
  check_values(sum(x), {}, {276});

  std::vector<float> e0;
  for (int i = 0; i < 12; ++i) e0.push_back(2.0f * i + 12.0f);
  check_values(x.sum({0}), {3, 4}, e0);
  check_values(x.sum({-3}), {3, 4}, e0);

  std::vector<float> e1;  // sum over j, keepdim: 36b + 12 + 3k
  for (int b = 0; b < 2; ++b)
    for (int k = 0; k < 4; ++k) e1.push_back(36.0f * b + 12.0f + 3.0f * k);
  check_values(x.sum({1}, true), {2, 1, 4}, e1);
  check_values(x.sum({1}), {2, 4}, e1);

  std::vector<float> e2;  // sum over k: 48b + 16j + 6
  for (int b = 0; b < 2; ++b)
    for (int j = 0; j < 3; ++j) e2.push_back(48.0f * b + 16.0f * j + 6.0f);
  check_values(x.sum({-1}), {2, 3}, e2);
  check_values(x.sum({2}, true), {2, 3, 1}, e2);

  check_values(x.sum({0, 2}), {3}, {60, 92, 124});  // 32j + 60
  check_values(x.sum({2, 0}, true), {1, 3, 1}, {60, 92, 124});
  check_values(x.sum({0, 1, 2}), {}, {276});
  check_values(x.sum({0, 1, 2}, true), {1, 1, 1}, {276});

  check_values(x.mean({-1, 0}, true), {1, 3, 1}, {7.5f, 11.5f, 15.5f});  // (32j + 60) / 8
  check_values(x.mean({0, 2}), {3}, {7.5f, 11.5f, 15.5f});
  std::vector<float> m2;
  for (float v : e2) m2.push_back(v / 4.0f);
  check_values(x.mean({2}), {2, 3}, m2);
  check_values(mean(x, {1}, true), {2, 1, 4}, {4, 5, 6, 7, 16, 17, 18, 19});  // 12b + 4 + k
  check_values(mean(x), {}, {11.5f});
}

TEST_CASE("max and min along a dim: values, first index among ties, keepdim, NaN") {
  const Tensor x = tensor({1, 5, 5, 2, 2, 0}, {2, 3});
  ValuesIndices m = max(x, 1);
  check_values(m.values, {2}, {5, 2});
  CHECK(m.indices.shape == Shape{2});
  CHECK(m.indices.data == std::vector<int64_t>{1, 0});  // the first of the tied 5s and 2s
  m = min(x, -1, /*keepdim=*/true);
  check_values(m.values, {2, 1}, {1, 0});
  CHECK(m.indices.shape == Shape{2, 1});
  CHECK(m.indices.data == std::vector<int64_t>{0, 2});
  m = max(x, 0);
  check_values(m.values, {3}, {2, 5, 5});
  CHECK(m.indices.data == std::vector<int64_t>{1, 0, 0});
  check_values(m.indices.to_tensor(), {3}, {1, 0, 0});
  const Tensor y = tensor({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, {2, 3, 2});
  m = max(y, 1, true);
  check_values(m.values, {2, 1, 2}, {5, 9, 5, 8});
  CHECK(m.indices.data == std::vector<int64_t>{2, 2, 1, 2});
  m = min(y, 1);
  check_values(m.values, {2, 2}, {3, 1, 2, 3});
  CHECK(m.indices.data == std::vector<int64_t>{0, 0, 0, 1});
  // A 0-d tensor takes dim 0 or -1, its index is 0.
  m = max(tensor({7}, {}), 0);
  check_values(m.values, {}, {7});
  CHECK(m.indices.data == std::vector<int64_t>{0});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  m = max(tensor({1, nan, 3, nan}, {4}), 0);
  CHECK(std::isnan(m.values.item()));
  CHECK(m.indices.data == std::vector<int64_t>{1});
  CHECK(min(tensor({1, nan, -3}, {3}), 0).indices.data == std::vector<int64_t>{1});

  // Gradient: to the returned index only, even among ties.
  Tensor xg = x.clone().requires_grad_();
  max(xg, 1).values.backward(tensor({10, 20}, {2}));
  check_values(xg.grad(), {2, 3}, {0, 10, 0, 20, 0, 0});
  CHECK(max(xg, 1).values.grad_fn_name() == "max");
  CHECK(min(xg, 1).values.grad_fn_name() == "min");

  check_error([&] { max(x, 2); }, "max", {"dim 2", "rank 2"});
  check_error([&] { min(x, -3); }, "min", {"dim -3"});
  check_error([] { max(zeros({2, 0}), 1); }, "max", {"dim 1", "[2, 0]", "size 0"});
  CHECK(max(zeros({0, 3}), 1).values.shape() == Shape{0});  // no rows: nothing to reduce, as PyTorch
}

TEST_CASE("max and min over everything, argmax and argmin") {
  const Tensor x = tensor({1, 5, 5, 2, 2, 0}, {2, 3});
  check_values(max(x), {}, {5});
  check_values(min(x), {}, {0});
  // Ties over everything share the gradient evenly, as PyTorch.
  Tensor xg = x.clone().requires_grad_();
  (max(xg) * 4.0f).backward();
  check_values(xg.grad(), {2, 3}, {0, 2, 2, 0, 0, 0});
  xg.zero_grad();
  min(xg).backward();
  check_values(xg.grad(), {2, 3}, {0, 0, 0, 0, 0, 1});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(min(tensor({1, nan, -2}, {3})).item()));

  IndexTensor i = argmax(x);
  CHECK(i.shape == Shape{});
  CHECK(i.data == std::vector<int64_t>{1});
  CHECK(argmin(x).data == std::vector<int64_t>{5});
  i = argmax(x, 1);
  CHECK(i.shape == Shape{2});
  CHECK(i.data == std::vector<int64_t>{1, 0});
  i = argmin(x, 0, true);
  CHECK(i.shape == Shape{1, 3});
  CHECK(i.data == std::vector<int64_t>{0, 1, 1});
  // The accuracy of logits against labels, through to_tensor and eq.
  const Tensor logits = tensor({0.1f, 2, -1, 3, 0, 1, 0, 0, 5}, {3, 3});
  CHECK(mean(eq(argmax(logits, 1).to_tensor(), tensor({1, 0, 0}, {3}))).item() == doctest::Approx(2.0 / 3.0));

  check_error([] { max(zeros({0})); }, "max", {"no elements", "[0]"});
  check_error([] { min(zeros({2, 0})); }, "min", {"no elements", "[2, 0]"});
  check_error([] { argmax(zeros({0, 2})); }, "argmax", {"size 0"});
  check_error([&] { argmin(x, 5); }, "argmin", {"dim 5"});
  check_error([] { argmax(zeros({3, 0}), 1); }, "argmax", {"dim 1", "size 0"});
}

TEST_CASE("var and std: correction, dims, keepdim, everything") {
  const Tensor v = tensor({1, 2, 3, 4}, {4});
  check_values(var(v), {}, {5.0f / 3.0f});
  check_values(var(v, {}, 0), {}, {1.25f});
  check_values(tinydiff::std(v), {}, {std::sqrt(5.0f / 3.0f)});
  check_values(tinydiff::std(v, {0}, 0, true), {1}, {std::sqrt(1.25f)});
  const Tensor x = tensor({1, 2, 3, 4, 6, 8}, {2, 3});
  check_values(var(x, {1}), {2}, {1, 4});
  check_values(var(x, {-1}, 1, true), {2, 1}, {1, 4});
  check_values(var(x, {0}), {3}, {4.5f, 8, 12.5f});
  check_values(var(x, {0}, 2), {3}, {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity(),
                                     std::numeric_limits<float>::infinity()});  // divides by max(N - 2, 0) = 0
  check_values(var(x), {}, {6.8f});
  check_values(var(x, {0, 1}, 1, true), {1, 1}, {6.8f});
  check_values(tinydiff::std(x, {1}), {2}, {1, 2});
  check_values(var(tensor({3}, {}), {}, 0), {}, {0});  // a 0-d tensor is one element
  CHECK(std::isnan(var(tensor({3}, {1})).item()));  // 0 / 0 with one element, as PyTorch
  // Every value the same: the gradient of std is 0, as PyTorch, not 0 / 0.
  Tensor c = full({2, 3}, 2.0f).requires_grad_();
  tinydiff::std(c, {1}).backward(ones({2}));
  check_values(c.grad(), {2, 3}, {0, 0, 0, 0, 0, 0});
  CHECK(var(c).grad_fn_name() == "var");

  check_error([&] { var(x, {2}); }, "var", {"dim 2"});
  check_error([&] { tinydiff::std(x, {1, -1}); }, "std", {"more than once"});
  check_error([] { var(zeros({2, 0}), {1}); }, "var", {"no elements", "[2, 0]"});
}

TEST_CASE("logsumexp: stable, dims, keepdim, infinities") {
  const Tensor x = tensor({0.5f, -1, 2, 3, 0, 1}, {2, 3});
  {  // against the direct formula, where it does not overflow
    const Tensor ref1 = log(sum(exp(x), {1}));
    check_values(logsumexp(x, {1}), {2}, ref1.to_vector(), 1e-6);
    const Tensor ref0 = log(sum(exp(x), {0}, true));
    check_values(logsumexp(x, {0}, true), {1, 3}, ref0.to_vector(), 1e-6);
    check_values(logsumexp(x), {}, {std::log(std::exp(0.5f) + std::exp(-1.0f) + std::exp(2.0f) + std::exp(3.0f) +
                                             std::exp(0.0f) + std::exp(1.0f))},
                 1e-6);
  }
  // No overflow where e^x would: 1000 + ln 2.
  check_values(logsumexp(tensor({1000, 1000}, {2})), {}, {1000.0f + std::log(2.0f)}, 1e-7);
  check_values(logsumexp(tensor({-1000, -1000}, {2})), {}, {-1000.0f + std::log(2.0f)}, 1e-7);
  const float inf = std::numeric_limits<float>::infinity();
  check_values(logsumexp(tensor({-inf, -inf, -inf, 0}, {2, 2}), {1}), {2}, {-inf, 0});
  check_values(logsumexp(tensor({inf, 0}, {2})), {}, {inf});
  check_values(logsumexp(tensor({2}, {})), {}, {2});

  check_error([&] { logsumexp(x, {3}); }, "logsumexp", {"dim 3"});
  check_error([] { logsumexp(zeros({0, 2}), {0}); }, "logsumexp", {"no elements"});
}

TEST_CASE("norm: 2-norm over everything and over dims, gradient 0 at 0") {
  check_values(norm(tensor({3, 4}, {2})), {}, {5});
  const Tensor x = tensor({3, 4, 0, 0, 1, 2, 2, 0}, {2, 2, 2});
  check_values(norm(x), {}, {std::sqrt(34.0f)});
  check_values(norm(x, {2}), {2, 2}, {5, 0, std::sqrt(5.0f), 2});
  check_values(norm(x, {0, 2}, true), {1, 2, 1}, {std::sqrt(30.0f), 2});
  check_values(norm(tensor({-2}, {})), {}, {2});
  check_values(norm(zeros({0, 3}), {0}), {3}, {0, 0, 0});
  Tensor xg = x.clone().requires_grad_();
  norm(xg, {2}).backward(ones({2, 2}));
  check_values(xg.grad(), {2, 2, 2},
               {0.6f, 0.8f, 0, 0, 1 / std::sqrt(5.0f), 2 / std::sqrt(5.0f), 1, 0});  // the zero row: 0, not NaN
  Tensor z = zeros({3}).requires_grad_();
  norm(z).backward();
  check_values(z.grad(), {3}, {0, 0, 0});
  check_error([&] { norm(x, {0, 3}); }, "norm", {"dim 3"});
}

TEST_CASE("cumsum along each dim") {
  const Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  check_values(cumsum(x, 1), {2, 3}, {1, 3, 6, 4, 9, 15});
  check_values(cumsum(x, -1), {2, 3}, {1, 3, 6, 4, 9, 15});
  check_values(cumsum(x, 0), {2, 3}, {1, 2, 3, 5, 7, 9});
  check_values(cumsum(tensor({3}, {}), 0), {}, {3});
  CHECK(cumsum(zeros({0, 3}), 0).shape() == Shape{0, 3});
  const Tensor y = arange(12).reshape({2, 3, 2});
  check_values(cumsum(y, 1), {2, 3, 2}, {0, 1, 2, 4, 6, 9, 6, 7, 14, 16, 24, 27});
  // The backward is the running sum from the back.
  Tensor xg = x.clone().requires_grad_();
  cumsum(xg, 1).backward(tensor({1, 10, 100, 2, 20, 200}, {2, 3}));
  check_values(xg.grad(), {2, 3}, {111, 110, 100, 222, 220, 200});
  check_error([&] { cumsum(x, 2); }, "cumsum", {"dim 2", "rank 2"});
}

GRADCHECKED_OPS("sum", "mean");
TEST_CASE("gradcheck: sum and mean, over all elements and over dims") {
  Generator gen(21);
  Tensor x = normal({2, 3, 4}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].sum(); }, {x}, "sum all");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].mean(); }, {x}, "mean all");
  const std::vector<std::vector<int64_t>> dim_sets = {{0}, {1}, {2}, {-1}, {0, 2}, {-1, -2}, {0, 1, 2}};
  for (const auto& dims : dim_sets)
    for (bool keepdim : {false, true}) {
      std::string what = "dims {";
      for (int64_t d : dims) what += std::to_string(d) + ",";
      what += keepdim ? "} keepdim" : "}";
      expect_gradcheck([dims, keepdim](const std::vector<Tensor>& v) { return v[0].sum(dims, keepdim); }, {x},
                       "sum " + what);
      expect_gradcheck([dims, keepdim](const std::vector<Tensor>& v) { return v[0].mean(dims, keepdim); }, {x},
                       "mean " + what);
    }
  Tensor s = normal({}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].sum() * 3.0f; }, {s}, "sum of a 0-d tensor");
}

GRADCHECKED_OPS("max", "min");
TEST_CASE("gradcheck: max and min along dims and over everything") {
  Generator gen(74);
  Tensor x = normal({3, 4, 2}, gen);
  for (int64_t d : {0, 1, 2, -1})
    for (bool keepdim : {false, true}) {
      const std::string what = " dim " + std::to_string(d) + (keepdim ? " keepdim" : "");
      expect_gradcheck([d, keepdim](const std::vector<Tensor>& v) { return max(v[0], d, keepdim).values; }, {x},
                       "max" + what);
      expect_gradcheck([d, keepdim](const std::vector<Tensor>& v) { return min(v[0], d, keepdim).values; }, {x},
                       "min" + what);
    }
  expect_gradcheck([](const std::vector<Tensor>& v) { return max(v[0]) * 3.0f; }, {x}, "max of all");
  expect_gradcheck([](const std::vector<Tensor>& v) { return min(v[0]) - max(v[0]); }, {x}, "min - max of all");
  // Used in a formula with its input: x - max(x) along the rows, as in a softmax.
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0] - max(v[0], 1, true).values; }, {x},
                   "x - max(x, 1)");
}

GRADCHECKED_OPS("var", "std", "logsumexp", "norm");
TEST_CASE("gradcheck: var, std, logsumexp, norm over dims and everything") {
  Generator gen(75);
  Tensor x = normal({2, 3, 4}, gen);
  const std::vector<std::vector<int64_t>> dim_sets = {{}, {0}, {1}, {-1}, {0, 2}, {2, 1, 0}};
  for (const auto& dims : dim_sets)
    for (bool keepdim : {false, true}) {
      std::string what = " dims {";
      for (int64_t d : dims) what += std::to_string(d) + ",";
      what += keepdim ? "} keepdim" : "}";
      for (int64_t correction : {0, 1})
        expect_gradcheck(
            [dims, correction, keepdim](const std::vector<Tensor>& v) { return var(v[0], dims, correction, keepdim); },
            {x}, "var correction " + std::to_string(correction) + what);
      expect_gradcheck(
          [dims, keepdim](const std::vector<Tensor>& v) { return tinydiff::std(v[0], dims, 1, keepdim); }, {x},
          "std" + what);
      expect_gradcheck([dims, keepdim](const std::vector<Tensor>& v) { return logsumexp(v[0], dims, keepdim); }, {x},
                       "logsumexp" + what);
      expect_gradcheck([dims, keepdim](const std::vector<Tensor>& v) { return norm(v[0], dims, keepdim); }, {x},
                       "norm" + what);
    }
  Tensor big = (normal({3, 5}, gen, false) * 30.0f).requires_grad_();  // logsumexp where exp alone would overflow
  expect_gradcheck([](const std::vector<Tensor>& v) { return logsumexp(v[0] + 80.0f, {1}); }, {big},
                   "logsumexp of large values");
  Tensor s = normal({}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return norm(v[0]) + logsumexp(v[0]); }, {s}, "0-d");
}

TEST_CASE("sum and mean with bad dims") {
  Tensor x = ones({2, 3});
  expect_error([&] { x.sum({2}); }, {"sum", "dim 2", "rank 2"});
  expect_error([&] { x.sum({-3}); }, {"sum", "dim -3"});
  expect_error([&] { x.sum({0, 0}); }, {"sum", "more than once", "[2, 3]"});
  expect_error([&] { x.sum({1, -1}); }, {"sum", "[2, 3]"});
  expect_error([&] { x.mean({5}, true); }, {"mean", "dim 5"});
  expect_error([] { zeros({0, 3}).mean(); }, {"mean", "[0, 3]"});
}
