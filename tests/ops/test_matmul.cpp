// matmul and linear (ops/matmul.hpp, ops/linear.hpp): 2-D, batched with broadcast batch dims and
// 1-D operands against a naive loop, gradchecks for every case with both or one operand requiring
// grad, errors.
//
// gradcheck compares backward() with central differences of <f(x), g> for a random upstream
// gradient g. Tolerance (unless a test says otherwise): the gradcheck defaults, step h = 1e-3,
// |analytic - numeric| <= 1e-3 + 1e-2 |numeric|.
// matmul is bilinear, so the central difference is exact up to float rounding.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

// Naive matmul for rank >= 2 operands of the same rank, batch dims broadcast:
// out[batch, i, j] = sum_k a[batch_a, i, k] b[batch_b, k, j]. The reference for the GEMM path.
Tensor reference_matmul(const Tensor& a, const Tensor& b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  REQUIRE(sa.size() == sb.size());
  const size_t r = sa.size();
  const int64_t m = sa[r - 2], k = sa[r - 1], n = sb[r - 1];
  REQUIRE(sb[r - 2] == k);
  Shape out_shape;
  for (size_t d = 0; d + 2 < r; ++d) out_shape.push_back(std::max(sa[d], sb[d]));
  const int64_t batches = shape_numel(out_shape);
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = zeros(out_shape);
  for (int64_t bi = 0; bi < batches; ++bi) {
    // Unravel the batch index, then map it to each operand (index 0 where its size is 1).
    int64_t rem = bi, off_a = 0, off_b = 0, stride_a = m * k, stride_b = k * n;
    for (int64_t d = static_cast<int64_t>(r) - 3; d >= 0; --d) {
      const int64_t size = std::max(sa[d], sb[d]);
      const int64_t idx = rem % size;
      rem /= size;
      off_a += (sa[d] == 1 ? 0 : idx) * stride_a;
      off_b += (sb[d] == 1 ? 0 : idx) * stride_b;
      stride_a *= sa[d];
      stride_b *= sb[d];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int64_t p = 0; p < k; ++p)
          acc += static_cast<double>(a.data()[off_a + i * k + p]) * b.data()[off_b + p * n + j];
        out.data()[bi * m * n + i * n + j] = static_cast<float>(acc);
      }
  }
  return out;
}

}  // namespace

TEST_CASE("matmul: 2-D") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2});
  Tensor b = tensor({5, 6, 7, 8}, {2, 2});
  check_values(matmul(a, b), {2, 2}, {19, 22, 43, 50});
  check_values(a.matmul(b), {2, 2}, {19, 22, 43, 50});
  Tensor c = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor d = tensor({1, 0, 0, 1, 1, 1}, {3, 2});
  check_values(matmul(c, d), {2, 2}, {4, 5, 10, 11});
  check_values(matmul(d, c), {3, 3}, {1, 2, 3, 4, 5, 6, 5, 7, 9});

  Generator gen(3);
  Tensor p = randn({7, 13}, &gen), q = randn({13, 5}, &gen);
  check_close(matmul(p, q), reference_matmul(p, q), 1e-4, 1e-4);
}

TEST_CASE("matmul: batched and broadcast batch dims") {
  Generator gen(4);
  // [2,3,4] @ [2,4,5]
  Tensor a = randn({2, 3, 4}, &gen), b = randn({2, 4, 5}, &gen);
  check_close(matmul(a, b), reference_matmul(a, b), 1e-4, 1e-4);
  CHECK(matmul(a, b).shape() == Shape{2, 3, 5});

  // [2,3,4] @ [4,5]: the matrix is shared by every batch.
  Tensor w = randn({4, 5}, &gen);
  Tensor y = matmul(a, w);
  CHECK(y.shape() == Shape{2, 3, 5});
  check_close(y, reference_matmul(a, w.reshape({1, 4, 5})), 1e-4, 1e-4);
  check_close(narrow(y, 0, 1, 1).reshape({3, 5}), matmul(narrow(a, 0, 1, 1).reshape({3, 4}), w), 1e-4, 1e-4);

  // [2,1,3,4] @ [5,4,2] -> [2,5,3,2]
  Tensor c = randn({2, 1, 3, 4}, &gen), d = randn({5, 4, 2}, &gen);
  Tensor z = matmul(c, d);
  CHECK(z.shape() == Shape{2, 5, 3, 2});
  check_close(z, reference_matmul(c, d.reshape({1, 5, 4, 2})), 1e-4, 1e-4);

  // A hand-computed batch: two 1x2 @ 2x1.
  check_values(matmul(tensor({1, 2, 3, 4}, {2, 1, 2}), tensor({1, 1, 2, -1}, {2, 2, 1})), {2, 1, 1}, {3, 2});
}

TEST_CASE("matmul: 1-D operands") {
  check_values(matmul(tensor({1, 2, 3}), tensor({4, 5, 6})), {}, {32});  // dot
  Tensor m = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  check_values(matmul(tensor({1, 2}), m), {3}, {9, 12, 15});       // vector @ matrix
  check_values(matmul(m, tensor({1, 0, -1})), {2}, {-2, -2});      // matrix @ vector
  // vector @ batch of matrices: [3] @ [2,3,2] -> [2,2]
  Tensor bm = arange(12).reshape({2, 3, 2});
  check_values(matmul(tensor({1, 1, 1}), bm), {2, 2}, {6, 9, 24, 27});
  // batch of matrices @ vector: [2,3,2] @ [2] -> [2,3]
  check_values(matmul(bm, tensor({1, -1})), {2, 3}, {-1, -1, -1, -1, -1, -1});
}

GRADCHECKED_OPS("matmul");
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

GRADCHECKED_OPS("linear");
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

TEST_CASE("matmul with mismatched inner dims") {
  expect_error([] { matmul(ones({2, 3}), ones({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]"});
  expect_error([] { matmul(ones({3}), ones({4})); }, {"matmul", "[3]", "[4]"});
  expect_error([] { matmul(ones({2, 3}), ones({2})); }, {"matmul", "[2, 3]", "[2]"});
  expect_error([] { matmul(ones({2, 2, 3}), ones({2, 4, 5})); }, {"matmul", "[2, 2, 3]", "[2, 4, 5]"});
  expect_error([] { matmul(ones({2, 3, 4}), ones({3, 4, 5})); }, {"matmul", "[2]", "[3]"});  // batch dims
  expect_error([] { matmul(scalar_tensor(1.0f), ones({2})); }, {"matmul", "[]", "[2]"});
}
