#pragma once
/// @file
/// nn::MultiheadAttention, as torch.nn.MultiheadAttention (kdim = vdim = embed_dim, no
/// add_bias_kv / add_zero_attn):
///
///     q = query W_q^T + b_q,  k = key W_k^T + b_k,  v = value W_v^T + b_v   (W_* rows of in_proj_weight)
///     head h: A_h = softmax(q_h k_h^T / sqrt(D) + mask),  o_h = A_h v_h    (D = embed_dim / num_heads)
///     output = concat_h(o_h) out_proj.weight^T + out_proj.bias
///
/// Parameters and state_dict keys are PyTorch's: in_proj_weight [3E, E] (W_q; W_k; W_v),
/// in_proj_bias [3E], out_proj.weight [E, E], out_proj.bias [E]. Initialisation is PyTorch's:
/// xavier_uniform_ on in_proj_weight, zeros for both biases, out_proj.weight as a Linear.
///
/// Shapes: query [L, N, E], key and value [S, N, E] ([N, L, E] / [N, S, E] with batch_first),
/// or unbatched [L, E] / [S, E]. Masks are float and ADDED to the scores (0 = attend,
/// -inf = ignore; see ops/attention.hpp): key_padding_mask [N, S] (or [S] unbatched),
/// attn_mask [L, S] or [N * num_heads, L, S]. A PyTorch bool mask m (True = ignore) is
/// additive_mask(eq(m, 0)) here. Printed as PyTorch prints it: the name and out_proj.
#include <cstdint>
#include <memory>
#include <ostream>
#include <tuple>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/linear.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/attention.hpp"
#include "tinydiff/ops/linear.hpp"
#include "tinydiff/ops/reduce.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff::nn {

struct MultiheadAttentionOptions {
  MultiheadAttentionOptions(int64_t embed_dim, int64_t num_heads) : embed_dim_(embed_dim), num_heads_(num_heads) {}
  TINYDIFF_ARG(int64_t, embed_dim);
  TINYDIFF_ARG(int64_t, num_heads);
  TINYDIFF_ARG(double, dropout) = 0.0;  ///< on the attention weights, in training mode
  TINYDIFF_ARG(bool, bias) = true;
  TINYDIFF_ARG(bool, batch_first) = false;
};

class MultiheadAttention : public Module {
 public:
  /// Initial values are drawn from `gen`, or the default generator when null.
  explicit MultiheadAttention(const MultiheadAttentionOptions& options_, Generator* gen = nullptr)
      : Module("MultiheadAttention"), options(options_) {
    const int64_t e = options.embed_dim(), h = options.num_heads();
    TD_CHECK(e > 0 && h > 0, "MultiheadAttention", "embed_dim and num_heads must be positive, got ", e, " and ", h);
    TD_CHECK(e % h == 0, "MultiheadAttention", "embed_dim ", e, " must be divisible by num_heads ", h);
    TD_CHECK(options.dropout() >= 0.0 && options.dropout() <= 1.0, "MultiheadAttention",
             "dropout must be in [0, 1], got ", options.dropout());
    in_proj_weight = register_parameter("in_proj_weight", empty({3 * e, e}));
    if (options.bias()) in_proj_bias = register_parameter("in_proj_bias", empty({3 * e}));
    out_proj = register_module("out_proj", std::make_shared<Linear>(LinearOptions(e, e).bias(options.bias()), gen));
    reset_parameters(gen);
  }
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, Generator* gen = nullptr)
      : MultiheadAttention(MultiheadAttentionOptions(embed_dim, num_heads), gen) {}

  /// PyTorch's _reset_parameters (out_proj.weight keeps its Linear initialisation).
  void reset_parameters(Generator* gen = nullptr) {
    init::xavier_uniform_(in_proj_weight, 1.0, gen);
    if (options.bias()) {
      init::zeros_(in_proj_bias);
      init::zeros_(out_proj->bias);
    }
  }

  /// Returns (output, attention weights). output has query's shape; the weights are
  /// [N, L, S] averaged over heads, or [N, num_heads, L, S] without average_attn_weights
  /// (no N when unbatched), and undefined when need_weights is false.
  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                     const Tensor& key_padding_mask = Tensor(), bool need_weights = true,
                                     const Tensor& attn_mask = Tensor(), bool average_attn_weights = true) {
    const char* op = "MultiheadAttention";
    const int64_t e = options.embed_dim(), h = options.num_heads(), d = e / h;
    tinydiff::detail::check_defined(op, "query", query, "key", key, "value", value);
    const bool batched = query.dim() == 3;
    TD_CHECK(query.dim() == 2 || query.dim() == 3, op, "query must be [L, N, E], [N, L, E] (batch_first) or [L, E], "
             "got shape ", shape_str(query.shape()));
    TD_CHECK(key.dim() == query.dim() && value.dim() == query.dim(), op, "query, key and value must have the same "
             "number of dims, got shapes ", shape_str(query.shape()), ", ", shape_str(key.shape()), " and ",
             shape_str(value.shape()));
    TD_CHECK(query.size(-1) == e && key.size(-1) == e && value.size(-1) == e, op, "query, key and value must end in "
             "embed_dim=", e, ", got shapes ", shape_str(query.shape()), ", ", shape_str(key.shape()), " and ",
             shape_str(value.shape()));
    // Everything below works on batch-first [N, L, E].
    auto to_batch_first = [&](const Tensor& x) {
      if (!batched) return unsqueeze(x, 0);
      return options.batch_first() ? x : transpose(x, 0, 1);
    };
    const Tensor q_in = to_batch_first(query), k_in = to_batch_first(key), v_in = to_batch_first(value);
    const int64_t n = q_in.size(0), l = q_in.size(1), s = k_in.size(1);
    TD_CHECK(k_in.size(0) == n && v_in.size(0) == n, op, "query, key and value must have the same batch size, got "
             "shapes ", shape_str(query.shape()), ", ", shape_str(key.shape()), " and ", shape_str(value.shape()));
    TD_CHECK(v_in.size(1) == s, op, "key and value must have the same length, got shapes ", shape_str(key.shape()),
             " and ", shape_str(value.shape()));

    // Input projections, each [N, len, E] -> heads [N, H, len, D].
    auto project = [&](const Tensor& x, int64_t which) {
      const Tensor w = narrow(in_proj_weight, 0, which * e, e);
      const Tensor b = options.bias() ? narrow(in_proj_bias, 0, which * e, e) : Tensor();
      const Tensor y = linear(x, w, b);
      return transpose(reshape(y, {x.size(0), x.size(1), h, d}), 1, 2);
    };
    const Tensor q = project(q_in, 0), k = project(k_in, 1), v = project(v_in, 2);

    // One additive mask broadcastable to the scores [N, H, L, S].
    Tensor mask;
    if (attn_mask.defined()) {
      if (attn_mask.dim() == 2) {
        TD_CHECK(attn_mask.shape() == Shape({l, s}), op, "attn_mask of shape ", shape_str(attn_mask.shape()),
                 " should be [L, S] = ", shape_str(Shape{l, s}));
        mask = attn_mask;
      } else {
        TD_CHECK(attn_mask.dim() == 3 && attn_mask.shape() == Shape({n * h, l, s}), op, "attn_mask of shape ",
                 shape_str(attn_mask.shape()), " should be [L, S] = ", shape_str(Shape{l, s}),
                 " or [N * num_heads, L, S] = ", shape_str(Shape{n * h, l, s}));
        mask = reshape(attn_mask, {n, h, l, s});
      }
    }
    if (key_padding_mask.defined()) {
      const Shape expected = batched ? Shape{n, s} : Shape{s};
      TD_CHECK(key_padding_mask.shape() == expected, op, "key_padding_mask of shape ",
               shape_str(key_padding_mask.shape()), " should be ", shape_str(expected), (batched ? " ([N, S])" : " ([S])"));
      const Tensor padding = reshape(key_padding_mask, {n, 1, 1, s});
      mask = mask.defined() ? mask + padding : padding;
    }

    const double p = is_training() ? options.dropout() : 0.0;
    auto [heads, weights] = detail::attention_with_weights(q, k, v, mask, p, false, std::nullopt, nullptr, op);
    // [N, H, L, D] -> [N, L, E] -> out_proj, then back to the caller's layout.
    Tensor out = out_proj->forward(reshape(transpose(heads, 1, 2), {n, l, e}));
    if (!batched) {
      out = squeeze(out, 0);
    } else if (!options.batch_first()) {
      out = transpose(out, 0, 1);
    }
    if (!need_weights) return {out, Tensor()};
    if (average_attn_weights) weights = mean(weights, {1});  // [N, L, S]
    if (!batched) weights = squeeze(weights, 0);
    return {out, weights};
  }

  MultiheadAttentionOptions options;
  Tensor in_proj_weight, in_proj_bias;  ///< in_proj_bias undefined without bias
  std::shared_ptr<Linear> out_proj;
};

}  // namespace tinydiff::nn
