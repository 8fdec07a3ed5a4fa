// Attention: scaled_dot_product_attention (values against a plain loop, masks, causal,
// gradcheck with a random upstream gradient, errors) and nn::MultiheadAttention (PyTorch's
// parameter names and initialisation, shapes in every layout, masks, modes, errors).
// tests/test_parity_attention.cpp compares both with PyTorch.
//
// gradcheck tolerance: the defaults (h = 1e-3, |analytic - numeric| <= 1e-3 + 1e-2 |numeric|)
// on N(0, 1) inputs of a few elements per dim: softmax is smooth, nothing sits near a kink.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

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

// Batch element i of a sequence-first [L, N, E] tensor: [L, E].
Tensor select_batch(const Tensor& x, int64_t i) { return squeeze(narrow(x, 1, i, 1), 1); }

// The additive causal mask [n, n]: -inf above the diagonal.
Tensor causal_mask(int64_t n) {
  Tensor mask = zeros({n, n});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) mask.data()[i * n + j] = -kInf;
  return mask;
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

// --------------------------------------------------------------------------- nn::MultiheadAttention

TEST_CASE("MultiheadAttention: PyTorch's parameter names, shapes and initialisation") {
  manual_seed(3);
  nn::MultiheadAttention mha(8, 2);
  CHECK(keys_of(mha.state_dict()) ==
        std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK(mha.in_proj_weight.shape() == Shape{24, 8});
  CHECK(mha.in_proj_bias.shape() == Shape{24});
  CHECK(mha.out_proj->weight.shape() == Shape{8, 8});
  CHECK(mha.num_parameters() == 24 * 8 + 24 + 64 + 8);
  // xavier_uniform_ on [3E, E]: bound sqrt(6 / (E + 3E)); the biases start at 0.
  const double xavier = std::sqrt(6.0 / 32.0);
  float top = 0.0f;
  for (float w : mha.in_proj_weight.to_vector()) top = std::max(top, std::fabs(w));
  CHECK(top <= xavier);
  CHECK(top > 0.8 * xavier);  // 192 draws fill the range
  CHECK(mha.in_proj_bias.to_vector() == std::vector<float>(24, 0.0f));
  CHECK(mha.out_proj->bias.to_vector() == std::vector<float>(8, 0.0f));
  float out_top = 0.0f;  // out_proj.weight: Linear's U(-1/sqrt(8), 1/sqrt(8))
  for (float w : mha.out_proj->weight.to_vector()) out_top = std::max(out_top, std::fabs(w));
  CHECK(out_top <= 1.0 / std::sqrt(8.0));
  CHECK(out_top > xavier * 0.5);
  nn::MultiheadAttention no_bias(nn::MultiheadAttentionOptions(8, 4).bias(false));
  CHECK(keys_of(no_bias.state_dict()) == std::vector<std::string>{"in_proj_weight", "out_proj.weight"});
  std::ostringstream printed;
  printed << mha;
  CHECK(printed.str() == "MultiheadAttention(\n  (out_proj): Linear(in_features=8, out_features=8, bias=true)\n)");
}

TEST_CASE("MultiheadAttention: layouts (sequence-first, batch_first, unbatched) agree") {
  Generator gen(175);
  manual_seed(4);
  nn::MultiheadAttention seq_first(6, 3);
  nn::MultiheadAttention batch_first(nn::MultiheadAttentionOptions(6, 3).batch_first(true));
  batch_first.load_state_dict(seq_first.state_dict());
  const Tensor query = randn({4, 2, 6}, &gen), memory = randn({5, 2, 6}, &gen);  // [L, N, E], [S, N, E]
  auto [out, weights] = seq_first.forward(query, memory, memory);
  CHECK(out.shape() == Shape{4, 2, 6});
  CHECK(weights.shape() == Shape{2, 4, 5});
  // Each query's weights (averaged over heads) sum to 1.
  for (int64_t r = 0; r < 8; ++r) {
    double total = 0.0;
    for (int64_t j = 0; j < 5; ++j) total += weights.data()[r * 5 + j];
    CHECK(total == doctest::Approx(1.0).epsilon(1e-5));
  }
  auto [out_bf, weights_bf] = batch_first.forward(transpose(query, 0, 1), transpose(memory, 0, 1),
                                                  transpose(memory, 0, 1));
  CHECK(out_bf.shape() == Shape{2, 4, 6});
  CHECK(relative_error(transpose(out_bf, 0, 1).to_vector(), out.to_vector()) < 1e-6);
  CHECK(relative_error(weights_bf.to_vector(), weights.to_vector()) < 1e-6);
  // Unbatched [L, E]: the same as batch element 1 alone.
  const Tensor q1 = select_batch(query, 1), m1 = select_batch(memory, 1);
  auto [out1, weights1] = seq_first.forward(q1, m1, m1, Tensor(), true, Tensor(), false);
  CHECK(out1.shape() == Shape{4, 6});
  CHECK(weights1.shape() == Shape{3, 4, 5});
  CHECK(relative_error(out1.to_vector(), select_batch(out, 1).to_vector()) < 1e-6);
  CHECK(relative_error(mean(weights1, {0}).to_vector(), narrow(weights, 0, 1, 1).to_vector()) < 1e-6);
  // Per-head weights, and none when not asked for.
  auto [_, per_head] = seq_first.forward(query, memory, memory, Tensor(), true, Tensor(), false);
  CHECK(per_head.shape() == Shape{2, 3, 4, 5});
  CHECK(!std::get<1>(seq_first.forward(query, memory, memory, Tensor(), false)).defined());
}

TEST_CASE("MultiheadAttention: key_padding_mask and attn_mask hide keys; dropout only in training") {
  Generator gen(176);
  manual_seed(5);
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(4, 2).batch_first(true).dropout(0.5));
  const Tensor x = randn({2, 5, 4}, &gen);
  mha.eval();
  // Key 3 of batch 0 and keys 1, 4 of batch 1 are padding (PyTorch: True = ignore).
  Tensor padding = zeros({2, 5});
  padding.data()[3] = padding.data()[5 + 1] = padding.data()[5 + 4] = 1.0f;
  auto [out, weights] = mha.forward(x, x, x, additive_mask(eq(padding, 0.0f)), true, Tensor(), false);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t r = 0; r < 2 * 5; ++r)
      for (int64_t j = 0; j < 5; ++j) {
        const float w = weights.data()[(n * 10 + r) * 5 + j];
        if (padding.data()[n * 5 + j] != 0.0f) CHECK(w == 0.0f); else CHECK(w > 0.0f);
      }
  // A causal attn_mask [L, S] together with the padding.
  auto [out2, weights2] = mha.forward(x, x, x, additive_mask(eq(padding, 0.0f)), true,
                                      causal_mask(5), true);
  CHECK(weights2.data()[0 * 5 + 1] == 0.0f);  // query 0 sees key 0 only
  CHECK(weights2.data()[0 * 5 + 0] == doctest::Approx(1.0));
  CHECK(weights2.data()[(5 + 1) * 5 + 1] == 0.0f);  // batch 1, query 1: key 1 is padding
  CHECK(weights2.data()[(5 + 1) * 5 + 0] == doctest::Approx(1.0));
  // attn_mask per head and batch [N * H, L, S]: hiding key 2 from every query of head 1 only.
  Tensor per_head = zeros({4, 5, 5});
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t i = 0; i < 5; ++i)
      if (b % 2 == 1) per_head.data()[(b * 5 + i) * 5 + 2] = -kInf;
  auto [out3, weights3] = mha.forward(x, x, x, Tensor(), true, per_head, false);
  CHECK(weights3.data()[((0 * 2 + 1) * 5 + 3) * 5 + 2] == 0.0f);
  CHECK(weights3.data()[((0 * 2 + 0) * 5 + 3) * 5 + 2] > 0.0f);
  // Eval mode: deterministic; training mode: dropout on the weights changes the output.
  CHECK(std::get<0>(mha.forward(x, x, x)).to_vector() == std::get<0>(mha.forward(x, x, x)).to_vector());
  const std::vector<float> eval_out = std::get<0>(mha.forward(x, x, x)).to_vector();
  mha.train();
  CHECK(std::get<0>(mha.forward(x, x, x)).to_vector() != eval_out);
}

TEST_CASE("MultiheadAttention: gradients reach every parameter and input") {
  Generator gen(177);
  manual_seed(6);
  nn::MultiheadAttention mha(4, 2);
  const Tensor q = randn({3, 2, 4}, &gen).requires_grad_(), kv = randn({5, 2, 4}, &gen).requires_grad_();
  auto [out, weights] = mha.forward(q, kv, kv);
  (out * randn(out.shape(), &gen)).sum().backward();
  for (const auto& [name, p] : mha.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    float top = 0.0f;
    for (float g : p.grad().to_vector()) top = std::max(top, std::fabs(g));
    CHECK(top > 0.0f);
  }
  CHECK(q.grad().defined());
  CHECK(kv.grad().defined());
}

TEST_CASE("MultiheadAttention: errors name the module and what was wrong") {
  const std::string op = "MultiheadAttention";
  check_error([] { nn::MultiheadAttention(10, 3); }, op, {"embed_dim 10", "divisible by num_heads 3"});
  check_error([] { nn::MultiheadAttention(0, 1); }, op, {"positive"});
  check_error([] { nn::MultiheadAttention(nn::MultiheadAttentionOptions(4, 2).dropout(2.0)); }, op, {"dropout"});
  nn::MultiheadAttention mha(4, 2);
  const Tensor x = zeros({3, 2, 4});
  check_error([&] { mha.forward(zeros({3, 2, 5}), x, x); }, op, {"embed_dim=4", "[3, 2, 5]"});
  check_error([&] { mha.forward(zeros({1, 3, 2, 4}), x, x); }, op, {"[1, 3, 2, 4]"});
  check_error([&] { mha.forward(x, zeros({3, 4}), x); }, op, {"same number of dims"});
  check_error([&] { mha.forward(x, zeros({3, 1, 4}), zeros({3, 1, 4})); }, op, {"batch size"});
  check_error([&] { mha.forward(x, zeros({5, 2, 4}), x); }, op, {"same length"});
  check_error([&] { mha.forward(x, x, x, zeros({3, 2})); }, op, {"key_padding_mask of shape [3, 2]", "[2, 3]"});
  check_error([&] { mha.forward(x, x, x, Tensor(), true, zeros({3, 4})); }, op, {"attn_mask of shape [3, 4]", "[3, 3]"});
  check_error([&] { mha.forward(x, x, x, Tensor(), true, zeros({2, 3, 3})); }, op, {"[N * num_heads, L, S] = [4, 3, 3]"});
}
