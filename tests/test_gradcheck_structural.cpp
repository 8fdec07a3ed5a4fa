// gradcheck on the structural ops: reductions, matmul (every batch and 1-D
// case, with both or one operand requiring grad), transpose/permute, concat,
// narrow/slice, index_select, broadcast_to/sum_to, reshape, clone, linear.
//
// Tolerance: the gradcheck defaults, step h = 1e-3,
// |analytic - numeric| <= 1e-3 + 1e-2 |numeric|, with a random upstream gradient.
// These ops are linear (bilinear for matmul), so the central difference is exact
// up to float rounding; inputs are N(0, 1) on small shapes.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>
#include <tinydiff/testing/gradcheck.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;
using testing::gradcheck;
using Fn = testing::GradcheckFunction;

namespace {

}  // namespace

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

TEST_CASE("gradcheck: matmul, every batch and 1-D case, both or one operand requiring grad") {
  Generator gen(22);
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {{3, 4}, {4, 5}},          // 2-D
      {{2, 3, 4}, {2, 4, 5}},    // batched
      {{2, 3, 4}, {4, 5}},       // batch @ shared matrix
      {{3, 4}, {2, 4, 5}},       // shared matrix @ batch
      {{2, 1, 3, 4}, {5, 4, 2}}, // batch dims broadcast both ways
      {{1, 3, 4}, {2, 4, 2}},    // size-1 batch dim broadcast
      {{4}, {4}},                // dot
      {{4}, {4, 5}},             // vector @ matrix
      {{3, 4}, {4}},             // matrix @ vector
      {{4}, {2, 4, 5}},          // vector @ batch
      {{2, 3, 4}, {4}},          // batch @ vector
  };
  const std::vector<std::pair<bool, bool>> masks = {{true, true}, {true, false}, {false, true}};
  for (const Case& c : cases)
    for (const auto& mask : masks) {
      Tensor a = normal(c.a, gen, mask.first);
      Tensor b = normal(c.b, gen, mask.second);
      const std::string what = "matmul " + shape_str(c.a) + " @ " + shape_str(c.b) + " grad=(" +
                               (mask.first ? "a" : "-") + (mask.second ? "b" : "-") + ")";
      expect_gradcheck([](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); }, {a, b}, what);
    }
  // The same matrix on both sides: x^T x.
  Tensor x = normal({3, 2}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return matmul(v[0].transpose(0, 1), v[0]); }, {x}, "x^T x");
}

TEST_CASE("gradcheck: transpose and permute") {
  Generator gen(23);
  Tensor m = normal({3, 4}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].transpose(0, 1); }, {m}, "transpose 2-D");
  Tensor x = normal({2, 3, 4, 5}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].permute({2, 0, 3, 1}); }, {x},
                   "permute {2,0,3,1} of [2,3,4,5]");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].permute({3, 2, 1, 0}); }, {x},
                   "permute {3,2,1,0}");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].transpose(1, -1); }, {x}, "transpose 1,-1 4-D");
}

TEST_CASE("gradcheck: concat of 3 tensors") {
  Generator gen(24);
  // dim 0: [1,3] + [2,3] + [3,3]
  Tensor a = normal({1, 3}, gen), b = normal({2, 3}, gen), c = normal({3, 3}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return concat({v[0], v[1], v[2]}, 0); }, {a, b, c}, "concat dim 0");
  // dim 1 of 3-D: [2,1,4] + [2,3,4] + [2,2,4]
  Tensor d = normal({2, 1, 4}, gen), e = normal({2, 3, 4}, gen), f = normal({2, 2, 4}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return concat({v[0], v[1], v[2]}, 1); }, {d, e, f}, "concat dim 1");
  // last dim, with the middle tensor not requiring grad, and one tensor used twice
  Tensor g = normal({2, 2}, gen), h = normal({2, 3}, gen, false);
  expect_gradcheck([](const std::vector<Tensor>& v) { return concat({v[0], v[1], v[0]}, -1); }, {g, h},
                   "concat dim -1, repeated input");
}

TEST_CASE("gradcheck: narrow and slice") {
  Generator gen(25);
  Tensor x = normal({4, 5}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return narrow(v[0], 0, 1, 2); }, {x}, "narrow dim 0");
  expect_gradcheck([](const std::vector<Tensor>& v) { return narrow(v[0], 1, 2, 3); }, {x}, "narrow dim 1");
  expect_gradcheck([](const std::vector<Tensor>& v) { return slice(v[0], -1, -3, -1); }, {x}, "slice negative");
  expect_gradcheck([](const std::vector<Tensor>& v) { return slice(v[0], 0, -2, 100); }, {x}, "slice clamped");
  // Overlapping pieces of the same tensor: their gradients add.
  expect_gradcheck([](const std::vector<Tensor>& v) { return narrow(v[0], 1, 0, 3) * narrow(v[0], 1, 2, 3); }, {x},
                   "overlapping narrows");
}

TEST_CASE("gradcheck: index_select with repeated indices (accumulation)") {
  Generator gen(26);
  Tensor x = normal({4, 3}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return index_select(v[0], 0, {2, 0, 2, 2, 3}); }, {x},
                   "index_select dim 0");
  expect_gradcheck([](const std::vector<Tensor>& v) { return index_select(v[0], 1, {1, 1, 0}); }, {x},
                   "index_select dim 1");
  Tensor y = normal({2, 3, 4}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return index_select(v[0], -2, {0, 2, 0}); }, {y},
                   "index_select middle dim");
  // Accumulation checked by hand too: row 2 picked three times gets 3 g.
  Tensor z = ones({3, 2}).requires_grad_();
  index_select(z, 0, {2, 2, 0, 2}).backward(full({4, 2}, 1.0f));
  CHECK(z.grad().to_vector() == std::vector<float>{1, 1, 0, 0, 3, 3});
}

TEST_CASE("gradcheck: broadcast_to and sum_to") {
  Generator gen(27);
  Tensor r = normal({3}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return broadcast_to(v[0], {2, 3}); }, {r}, "broadcast_to [3]->[2,3]");
  Tensor c = normal({2, 1}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return broadcast_to(v[0], {4, 2, 3}); }, {c},
                   "broadcast_to [2,1]->[4,2,3]");
  Tensor x = normal({4, 2, 3}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return sum_to(v[0], {2, 1}); }, {x}, "sum_to [2,1]");
  expect_gradcheck([](const std::vector<Tensor>& v) { return sum_to(v[0], {3}); }, {x}, "sum_to [3]");
  expect_gradcheck([](const std::vector<Tensor>& v) { return sum_to(v[0], {1, 2, 3}); }, {x}, "sum_to [1,2,3]");
}

TEST_CASE("gradcheck: reshape, flatten, clone") {
  Generator gen(28);
  Tensor x = normal({2, 3, 2}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].reshape({3, -1}) * 2.0f; }, {x}, "reshape");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].flatten(); }, {x}, "flatten");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].clone() * v[0]; }, {x}, "clone");
}

TEST_CASE("gradcheck: a small network-like composition") {
  Generator gen(29);
  Tensor x = normal({4, 3}, gen, false);
  Tensor w1 = normal({3, 5}, gen), b1 = normal({5}, gen), w2 = normal({5, 2}, gen);
  Tensor target = normal({4, 2}, gen, false);
  expect_gradcheck(
      [](const std::vector<Tensor>& v) {
        Tensor h = tanh(matmul(v[0], v[1]) + v[2]);
        Tensor y = matmul(h, v[3]);
        return mse_loss(concat({y, narrow(y, 1, 0, 1)}, 1).sum({1}), v[4].sum({1}) * 1.5f);
      },
      {x, w1, b1, w2, target}, "mlp");
}

TEST_CASE("linear: x w^T + b, its values, gradcheck for every input and shape, and errors") {
  Generator gen(21);
  // Values against matmul + add.
  const Tensor x = randn({2, 3, 4}, &gen), w = randn({5, 4}, &gen), b = randn({5}, &gen);
  const Tensor y = linear(x, w, b), expected = matmul(x, transpose(w, 0, 1)) + b;
  REQUIRE(y.shape() == Shape{2, 3, 5});
  for (int64_t i = 0; i < y.numel(); ++i) CHECK(y.data()[i] == doctest::Approx(expected.data()[i]).epsilon(1e-5));
  for (const Shape& xs : {Shape{4}, Shape{3, 4}, Shape{2, 3, 4}}) {
    const std::string what = "linear on " + shape_str(xs);
    expect_gradcheck([](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
                     {normal(xs, gen), normal({5, 4}, gen), normal({5}, gen)}, what + " with bias");
    expect_gradcheck([](const std::vector<Tensor>& v) { return linear(v[0], v[1]); },
                     {normal(xs, gen), normal({5, 4}, gen)}, what + " without bias");
    expect_gradcheck([](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
                     {normal(xs, gen, false), normal({5, 4}, gen), normal({5}, gen, false)}, what + " weight only");
  }
  CHECK_THROWS_WITH_AS(linear(randn({2, 3}), randn({5, 4})), doctest::Contains("linear"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(linear(randn({2, 4}), randn({5, 4}), randn({4})), doctest::Contains("[5]"), tinydiff::Error);
}
