// scaled_dot_product_attention (ops/attention.hpp): values against a plain loop, masks, causal,
// dropout, gradcheck with a random upstream gradient, errors. (nn::MultiheadAttention:
// tests/nn/test_multihead_attention.cpp; PyTorch parity: tests/parity/test_parity_attention.cpp.)
//
// gradcheck tolerance: the defaults (h = 1e-3, |analytic - numeric| <= 1e-3 + 1e-2 |numeric|)
// on N(0, 1) inputs of a few elements per dim: softmax is smooth, nothing sits near a kink.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// The naive twin: out[b] = softmax(q[b] k[b]^T * scale + mask[b or shared]) v[b] over a flat batch,
// in double. q [B, L, E], k [B, S, E], v [B, S, Ev], mask [L, S] shared or empty.
std::vector<float> attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                       double scale) {
  const int64_t b = q.size(0), l = q.size(1), e = q.size(2), s = k.size(1), ev = v.size(2);
  std::vector<float> out(static_cast<size_t>(b * l * ev));
  for (int64_t n = 0; n < b; ++n)
    for (int64_t i = 0; i < l; ++i) {
      std::vector<double> scores(static_cast<size_t>(s));
      double top = -INFINITY;
      for (int64_t j = 0; j < s; ++j) {
        double dot = 0.0;
        for (int64_t c = 0; c < e; ++c) dot += double(q.data()[(n * l + i) * e + c]) * k.data()[(n * s + j) * e + c];
        scores[j] = dot * scale + (mask.defined() ? mask.data()[i * s + j] : 0.0);
        top = std::max(top, scores[j]);
      }
      double total = 0.0;
      for (double& x : scores) total += (x = std::exp(x - top));
      for (int64_t c = 0; c < ev; ++c) {
        double acc = 0.0;
        for (int64_t j = 0; j < s; ++j) acc += scores[j] / total * v.data()[(n * s + j) * ev + c];
        out[(n * l + i) * ev + c] = static_cast<float>(acc);
      }
    }
  return out;
}

}  // namespace

// ------------------------------------------------------------------ scaled_dot_product_attention

TEST_CASE("scaled_dot_product_attention: values against a plain loop, default and given scale") {
  Generator gen(171);
  const Tensor q = randn({3, 4, 5}, &gen), k = randn({3, 6, 5}, &gen), v = randn({3, 6, 2}, &gen);
  const Tensor out = scaled_dot_product_attention(q, k, v);
  CHECK(out.shape() == Shape{3, 4, 2});
  CHECK(relative_error(out.to_vector(), attention_reference(q, k, v, Tensor(), 1.0 / std::sqrt(5.0))) < 1e-5);
  const Tensor scaled = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, false, 0.3);
  CHECK(relative_error(scaled.to_vector(), attention_reference(q, k, v, Tensor(), 0.3)) < 1e-5);
}

TEST_CASE("scaled_dot_product_attention: one key per query picks its value; equal scores average") {
  // Scores 0 everywhere (q = 0): each output row is the mean of v's rows.
  const Tensor v = tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  const Tensor mean_rows = scaled_dot_product_attention(zeros({2, 4}), zeros({3, 4}), v);
  CHECK(mean_rows.to_vector() == std::vector<float>{3, 4, 3, 4});
  // A mask hiding all but key j makes query i copy v[j].
  Tensor mask = full({2, 3}, -kInf);
  mask.data()[0 * 3 + 2] = 0.0f;  // query 0 sees key 2
  mask.data()[1 * 3 + 0] = 0.0f;  // query 1 sees key 0
  const Tensor picked = scaled_dot_product_attention(randn({2, 4}), randn({3, 4}), v, mask);
  CHECK(picked.to_vector() == std::vector<float>{5, 6, 1, 2});
}

TEST_CASE("scaled_dot_product_attention: additive masks, additive_mask, causal, broadcast batch dims") {
  Generator gen(172);
  const Tensor q = randn({2, 3, 4, 5}, &gen), k = randn({2, 3, 6, 5}, &gen), v = randn({2, 3, 6, 3}, &gen);
  const Tensor flat_q = reshape(q, {6, 4, 5}), flat_k = reshape(k, {6, 6, 5}), flat_v = reshape(v, {6, 6, 3});
  const double scale = 1.0 / std::sqrt(5.0);
  // A float mask is added (a bias, not a selection).
  const Tensor bias = randn({4, 6}, &gen);
  CHECK(relative_error(scaled_dot_product_attention(q, k, v, bias).to_vector(),
                       attention_reference(flat_q, flat_k, flat_v, bias, scale)) < 1e-5);
  // additive_mask: 1 = attend -> 0, 0 = hidden -> -inf.
  const Tensor allowed = gt(randn({4, 6}, &gen), -0.5f);
  for (int64_t i = 0; i < 4; ++i) allowed.data()[i * 6] = 1.0f;  // every query sees at least key 0
  const Tensor additive = additive_mask(allowed);
  for (int64_t i = 0; i < 24; ++i) CHECK(additive.data()[i] == (allowed.data()[i] != 0.0f ? 0.0f : -kInf));
  CHECK(relative_error(scaled_dot_product_attention(q, k, v, additive).to_vector(),
                       attention_reference(flat_q, flat_k, flat_v, additive, scale)) < 1e-5);
  // is_causal: the mask that hides keys j > i, top-left aligned as PyTorch's tril.
  const Tensor causal = narrow(causal_mask(6), 0, 0, 4);
  CHECK(scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true).to_vector() ==
        scaled_dot_product_attention(q, k, v, causal).to_vector());
  // Batch dims broadcast as matmul's: one key/value set shared by every query batch.
  const Tensor k1 = randn({6, 5}, &gen), v1 = randn({6, 3}, &gen);
  const Tensor shared = scaled_dot_product_attention(q, k1, v1);
  CHECK(shared.shape() == Shape{2, 3, 4, 3});
  // A per-batch mask [2, 1, 4, 6] broadcast over dim 1.
  const Tensor per_batch = randn({2, 1, 4, 6}, &gen);
  const Tensor out = scaled_dot_product_attention(q, k, v, per_batch);
  const Tensor expanded = reshape(concat({per_batch, per_batch, per_batch}, 1), {6, 4, 6});
  for (int64_t b = 0; b < 6; ++b) {
    const Tensor one = scaled_dot_product_attention(narrow(flat_q, 0, b, 1), narrow(flat_k, 0, b, 1),
                                                    narrow(flat_v, 0, b, 1), narrow(expanded, 0, b, 1));
    CHECK(relative_error(narrow(reshape(out, {6, 4, 3}), 0, b, 1).to_vector(), one.to_vector()) < 1e-6);
  }
}

TEST_CASE("scaled_dot_product_attention: a query with every key hidden gives NaN, as PyTorch") {
  Tensor mask = zeros({2, 3});
  for (int64_t j = 0; j < 3; ++j) mask.data()[3 + j] = -kInf;
  const Tensor out = scaled_dot_product_attention(ones({2, 4}), ones({3, 4}), ones({3, 2}), mask);
  CHECK(out.data()[0] == doctest::Approx(1.0));
  CHECK(std::isnan(out.data()[2]));
}

TEST_CASE("scaled_dot_product_attention: dropout on the weights, drawn from the generator") {
  Generator gen(173);
  const Tensor q = randn({2, 4, 5}, &gen), k = randn({2, 6, 5}, &gen), v = randn({2, 6, 3}, &gen);
  Generator a(5), b(5), c(6);
  const Tensor first = scaled_dot_product_attention(q, k, v, Tensor(), 0.5, false, std::nullopt, &a);
  const Tensor again = scaled_dot_product_attention(q, k, v, Tensor(), 0.5, false, std::nullopt, &b);
  const Tensor other = scaled_dot_product_attention(q, k, v, Tensor(), 0.5, false, std::nullopt, &c);
  CHECK(first.to_vector() == again.to_vector());
  CHECK(first.to_vector() != other.to_vector());
  CHECK(first.to_vector() != scaled_dot_product_attention(q, k, v).to_vector());
  // p = 1 drops every weight.
  CHECK(scaled_dot_product_attention(q, k, v, Tensor(), 1.0).to_vector() == std::vector<float>(2 * 4 * 3, 0.0f));
}

GRADCHECKED_OPS("scaled_dot_product_attention");
TEST_CASE("gradcheck: scaled_dot_product_attention over q, k, v, with masks, causal, scale, broadcasting") {
  Generator gen(174);
  auto leaf = [&gen](const Shape& s) { return randn(s, &gen).requires_grad_(); };
  const Tensor q = leaf({2, 3, 4}), k = leaf({2, 5, 4}), v = leaf({2, 5, 3});
  expect_gradcheck([](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); },
                   {q, k, v}, "plain");
  const Tensor bias = randn({3, 5}, &gen);
  expect_gradcheck([bias](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], bias); },
                   {q, k, v}, "additive float mask");
  Tensor allowed = ones({3, 5});
  allowed.data()[1] = allowed.data()[7] = allowed.data()[14] = 0.0f;
  const Tensor hidden = additive_mask(allowed);
  expect_gradcheck(
      [hidden](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], hidden); },
      {q, k, v}, "-inf mask from additive_mask");
  expect_gradcheck(
      [](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], Tensor(), 0.0, true, 0.7); },
      {q, k, v}, "causal, scale 0.7");
  // The mask itself is differentiable (a learned bias), as PyTorch's float mask.
  expect_gradcheck([](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]); },
                   {q, k, v, leaf({1, 3, 5})}, "mask requiring grad, broadcast over the batch");
  // Keys and values shared by both query batches: their gradients sum over the batch.
  expect_gradcheck([](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); },
                   {q, leaf({5, 4}), leaf({5, 3})}, "k, v broadcast over the batch");
}

TEST_CASE("scaled_dot_product_attention: errors name the op and the shapes") {
  const Tensor q = zeros({2, 3, 4}), k = zeros({2, 5, 4}), v = zeros({2, 5, 6});
  const std::string op = "scaled_dot_product_attention";
  check_error([&] { scaled_dot_product_attention(zeros({4}), k, v); }, op, {"at least 2 dims", "[4]"});
  check_error([&] { scaled_dot_product_attention(q, zeros({2, 5, 3}), v); }, op, {"embedding size 4", "[2, 5, 3]"});
  check_error([&] { scaled_dot_product_attention(q, k, zeros({2, 4, 6})); }, op, {"5 positions", "[2, 4, 6]"});
  check_error([&] { scaled_dot_product_attention(q, k, v, zeros({3, 4})); }, op, {"attn_mask of shape [3, 4]", "[2, 3, 5]"});
  check_error([&] { scaled_dot_product_attention(q, k, v, zeros({3, 2, 3, 5})); }, op, {"attn_mask of shape [3, 2, 3, 5]"});
  check_error([&] { scaled_dot_product_attention(q, k, v, zeros({3, 5}), 0.0, true); }, op, {"not both"});
  check_error([&] { scaled_dot_product_attention(q, k, v, Tensor(), 1.5); }, op, {"dropout_p", "1.5"});
  check_error([&] { scaled_dot_product_attention(q, k, v, Tensor(), 0.0, false, INFINITY); }, op, {"scale"});
}
