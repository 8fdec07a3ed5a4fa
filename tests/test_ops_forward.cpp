// Forward values of the core ops against hand-computed numbers (and, for
// matmul's batched cases, a naive reference loop).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <tinydiff/tinydiff.hpp>

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

TEST_CASE("transpose and permute") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  check_values(x.transpose(0, 1), {3, 2}, {1, 4, 2, 5, 3, 6});
  check_values(transpose(x, -1, -2), {3, 2}, {1, 4, 2, 5, 3, 6});
  check_values(x.transpose(1, 1), {2, 3}, {1, 2, 3, 4, 5, 6});

  Tensor t = arange(24).reshape({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});  // p[k, i, j] = t[i, j, k]
  CHECK(p.shape() == Shape{4, 2, 3});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) CHECK(p.at({k, i, j}) == t.at({i, j, k}));
  CHECK(p.data() != t.data());  // permute copies
  check_values(permute(t, {0, 1, 2}), {2, 3, 4}, t.to_vector());
  check_values(permute(t, {-1, -3, -2}), {4, 2, 3}, p.to_vector());
  // Permuting back with the inverse permutation restores the tensor.
  check_values(p.permute({1, 2, 0}), {2, 3, 4}, t.to_vector());
  Tensor t2 = t.transpose(0, 2);  // [4,3,2], t2[k,j,i] = t[i,j,k]
  CHECK(t2.at({3, 1, 0}) == t.at({0, 1, 3}));
}

TEST_CASE("concat on dims 0 and 1") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2});
  Tensor b = tensor({5, 6}, {1, 2});
  Tensor c = tensor({7, 8, 9, 10, 11, 12}, {2, 3});
  check_values(concat({a, b}, 0), {3, 2}, {1, 2, 3, 4, 5, 6});
  check_values(concat({a, c}, 1), {2, 5}, {1, 2, 7, 8, 9, 3, 4, 10, 11, 12});
  check_values(cat({a, c, a}, -1), {2, 7}, {1, 2, 7, 8, 9, 1, 2, 3, 4, 10, 11, 12, 3, 4});
  check_values(concat({a}, 0), {2, 2}, {1, 2, 3, 4});
  check_values(concat({tensor({1, 2}), tensor({3}), tensor({4, 5})}, 0), {5}, {1, 2, 3, 4, 5});
  Tensor x = arange(8).reshape({2, 2, 2});
  Tensor y = concat({x, x * 10.0f}, 1);  // [2,4,2]
  check_values(y, {2, 4, 2}, {0, 1, 2, 3, 0, 10, 20, 30, 4, 5, 6, 7, 40, 50, 60, 70});
}

TEST_CASE("narrow and slice (negative indices)") {
  Tensor x = arange(10);
  check_values(narrow(x, 0, 2, 3), {3}, {2, 3, 4});
  check_values(x.narrow(0, 0, 0), {0}, {});
  check_values(slice(x, 0, -3, 10), {3}, {7, 8, 9});
  check_values(slice(x, 0, 1, -1), {8}, {1, 2, 3, 4, 5, 6, 7, 8});
  check_values(slice(x, 0, -100, 2), {2}, {0, 1});   // clamped like Python
  check_values(slice(x, 0, 8, 100), {2}, {8, 9});
  check_values(slice(x, 0, 5, 2), {0}, {});          // empty when end <= start

  Tensor m = arange(12).reshape({3, 4});
  check_values(m.narrow(1, 1, 2), {3, 2}, {1, 2, 5, 6, 9, 10});
  check_values(narrow(m, -2, 2, 1), {1, 4}, {8, 9, 10, 11});
  check_values(slice(m, -1, -2, 4), {3, 2}, {2, 3, 6, 7, 10, 11});
  check_values(slice(m, 0, -1, 3), {1, 4}, {8, 9, 10, 11});
}

TEST_CASE("index_select with repeated indices") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  check_values(index_select(x, 0, {2, 0, 2}), {3, 2}, {5, 6, 1, 2, 5, 6});
  check_values(index_select(x, 1, {1, 1, 0, 1}), {3, 4}, {2, 2, 1, 2, 4, 4, 3, 4, 6, 6, 5, 6});
  check_values(index_select(x, -1, {0}), {3, 1}, {1, 3, 5});
  check_values(index_select(x, 0, {}), {0, 2}, {});
  Tensor t = arange(24).reshape({2, 3, 4});
  Tensor s = index_select(t, 1, {2, 2});
  CHECK(s.shape() == Shape{2, 2, 4});
  CHECK(s.at({1, 0, 3}) == t.at({1, 2, 3}));
  CHECK(s.at({0, 1, 1}) == t.at({0, 2, 1}));
}

TEST_CASE("broadcast_to and sum_to") {
  check_values(broadcast_to(tensor({1, 2, 3}), {2, 3}), {2, 3}, {1, 2, 3, 1, 2, 3});
  check_values(broadcast_to(tensor({1, 2}, {2, 1}), {2, 3}), {2, 3}, {1, 1, 1, 2, 2, 2});
  check_values(broadcast_to(tensor({7.0f}, {}), {2, 2}), {2, 2}, {7, 7, 7, 7});
  check_values(broadcast_to(tensor({1, 2}, {2, 1}), {3, 2, 2}), {3, 2, 2}, {1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2});

  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  check_values(sum_to(x, {3}), {3}, {5, 7, 9});
  check_values(sum_to(x, {1, 3}), {1, 3}, {5, 7, 9});
  check_values(sum_to(x, {2, 1}), {2, 1}, {6, 15});
  check_values(sum_to(x, {1, 1}), {1, 1}, {21});
  check_values(sum_to(x, {}), {}, {21});
  check_values(sum_to(x, {2, 3}), {2, 3}, {1, 2, 3, 4, 5, 6});
  // sum_to undoes broadcast_to up to the repeat count.
  check_values(sum_to(broadcast_to(tensor({1, 2}, {2, 1}), {4, 2, 3}), {2, 1}), {2, 1}, {12, 24});
}

TEST_CASE("mse_loss with Mean, Sum, None") {
  Tensor input = tensor({1, 2, 3, 0.5f}, {2, 2});
  Tensor target = tensor({0, 2, 5, 1}, {2, 2});
  // squared differences: 1, 0, 4, 0.25
  check_values(mse_loss(input, target), {}, {5.25f / 4.0f});
  check_values(mse_loss(input, target, Reduction::Mean), {}, {5.25f / 4.0f});
  check_values(mse_loss(input, target, Reduction::Sum), {}, {5.25f});
  check_values(mse_loss(input, target, Reduction::None), {2, 2}, {1, 0, 4, 0.25f});
  check_values(mse_loss(input, input), {}, {0});
}

TEST_CASE("zero-size tensors pass through the layout ops (forward and backward)") {
  Tensor x = arange(6).reshape({2, 3}).requires_grad_();
  Tensor empty_cols = zeros({2, 0}).requires_grad_();
  Tensor y = concat({empty_cols, x, empty_cols}, 1);
  check_values(y, {2, 3}, {0, 1, 2, 3, 4, 5});
  check_values(concat({x, zeros({0, 3})}, 0), {2, 3}, {0, 1, 2, 3, 4, 5});
  check_values(index_select(zeros({3, 0}), 0, {1, 2}), {2, 0}, {});
  check_values(narrow(zeros({2, 0}), 0, 1, 1), {1, 0}, {});
  Tensor none = narrow(x, 1, 1, 0);
  check_values(none, {2, 0}, {});
  (y.sum() + none.sum()).backward();
  check_values(x.grad(), {2, 3}, {1, 1, 1, 1, 1, 1});
  check_values(empty_cols.grad(), {2, 0}, {});
}
