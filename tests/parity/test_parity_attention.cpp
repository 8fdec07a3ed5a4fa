// Parity with PyTorch for attention (fixtures: tests/parity/families_attention.py):
// scaled_dot_product_attention against its definition computed by torch (1.13 has no
// F.scaled_dot_product_attention), and nn::MultiheadAttention against
// torch.nn.MultiheadAttention with the same weights: output, attention weights, and the
// gradients of the inputs and of every parameter (upstream gradients on both outputs).
// Tolerances: the harness's (parity_harness.hpp).
#include <doctest/doctest.h>

#include <optional>
#include <set>
#include <string>

#include "parity/parity_harness.hpp"

using namespace parity;

TEST_CASE("parity: scaled_dot_product_attention") {
  Family family("attention", 8);
  std::set<std::string> kinds;
  for_each_case(family, [&kinds](Case& c) {
    Tensor q = c.input("q"), k = c.input("k"), v = c.input("v");
    const std::string kind = c.param("mask_kind");
    kinds.insert(kind);
    Tensor mask;
    if (kind == "additive") mask = c.get("mask");
    if (kind == "allowed") mask = additive_mask(c.get("mask"));  // 1 = take part
    std::optional<double> scale;
    if (c.param("scale") != "default") scale = c.real("scale");
    Tensor out = scaled_dot_product_attention(q, k, v, mask, 0.0, kind == "causal", scale);
    out.backward(c.get("g"));
    c.expect("out", out);
    c.expect_grads({{"q", q}, {"k", k}, {"v", v}});
  });
  CHECK(kinds == std::set<std::string>{"none", "additive", "allowed", "causal"});
}

TEST_CASE("parity: nn::MultiheadAttention, self- and cross-attention, masks, every layout") {
  Family family("multihead_attention", 7);
  for_each_case(family, [](Case& c) {
    const bool bias = c.flag("bias"), self_attention = c.flag("self");
    nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(c.integer("embed_dim"), c.integer("num_heads"))
                                   .bias(bias)
                                   .batch_first(c.flag("batch_first")));
    copy_into(mha.in_proj_weight, c.get("in_proj_weight"));
    copy_into(mha.out_proj->weight, c.get("out_proj_weight"));
    if (bias) {
      copy_into(mha.in_proj_bias, c.get("in_proj_bias"));
      copy_into(mha.out_proj->bias, c.get("out_proj_bias"));
    }
    Tensor query = c.input("query");
    Tensor key = self_attention ? query : c.input("key");
    Tensor value = self_attention ? query : c.input("value");
    // PyTorch's bool masks (True = ignore) arrive as 0/1 floats.
    const Tensor padding = c.has("padding") ? additive_mask(eq(c.get("padding"), 0.0f)) : Tensor();
    const std::string mask_kind = c.param("attn_mask_kind");
    Tensor attn_mask;
    if (mask_kind == "additive") attn_mask = c.get("attn_mask");
    if (mask_kind == "ignore" || mask_kind == "ignore_3d") attn_mask = additive_mask(eq(c.get("attn_mask"), 0.0f));
    auto [out, weights] = mha.forward(query, key, value, padding, true, attn_mask, c.flag("average"));
    (sum(out * c.get("g")) + sum(weights * c.get("g_weights"))).backward();
    c.expect("out", out);
    c.expect("weights", weights);
    c.expect("dquery", query.grad());
    if (!self_attention) {
      c.expect("dkey", key.grad());
      c.expect("dvalue", value.grad());
    }
    c.expect("din_proj_weight", mha.in_proj_weight.grad());
    c.expect("dout_proj_weight", mha.out_proj->weight.grad());
    if (bias) {
      c.expect("din_proj_bias", mha.in_proj_bias.grad());
      c.expect("dout_proj_bias", mha.out_proj->bias.grad());
    }
  });
}
