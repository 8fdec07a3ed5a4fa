// nn::MultiheadAttention (nn/attention.hpp): PyTorch's parameter names and initialisation, shapes
// in every layout, masks, modes, errors. (The op beneath: tests/ops/test_attention.cpp; PyTorch
// parity: tests/parity/test_parity_attention.cpp.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Batch element i of a sequence-first [L, N, E] tensor: [L, E].
Tensor select_batch(const Tensor& x, int64_t i) { return squeeze(narrow(x, 1, i, 1), 1); }

}  // namespace

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
