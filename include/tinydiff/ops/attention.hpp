#pragma once
/// @file
/// Scaled dot-product attention, as torch.nn.functional.scaled_dot_product_attention,
/// composed from differentiable ops (matmul, add, softmax, dropout), so its backward is
/// theirs:
///
///     A = softmax(q k^T * scale + mask)     q [..., L, E], k [..., S, E]   -> A [..., L, S]
///     out = A v                             v [..., S, Ev]                 -> out [..., L, Ev]
///
/// Masks. tinydiff tensors are float32 only, so a mask is a float tensor, and a float
/// attn_mask is ADDED to the scores, exactly as PyTorch treats a float mask: 0 lets a
/// query see a key, -inf hides it, other values bias it. PyTorch's boolean masks have no
/// float twin; turn one into an additive mask with additive_mask(allowed), where `allowed`
/// holds 1 (or any non-zero) where a query may attend (PyTorch's sdpa bool mask, True =
/// take part). For nn::MultiheadAttention's "True = ignore" masks pass eq(mask, 0).
/// A query whose keys are all hidden gets a row of NaN, as in PyTorch.
#include <cmath>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/ops/activation.hpp"
#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/dropout.hpp"
#include "tinydiff/ops/matmul.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff {

/// 0 where `allowed` is non-zero, -inf where it is 0: the additive mask that lets a query attend
/// exactly where `allowed` says so (PyTorch's boolean attention mask, True = take part).
inline Tensor additive_mask(const Tensor& allowed) {
  detail::check_defined("additive_mask", "allowed", allowed);
  const float hidden = -std::numeric_limits<float>::infinity();
  Tensor mask = Tensor::empty(allowed.shape());
  const float* pa = allowed.data();
  float* pm = mask.data();
  for (int64_t i = 0, n = allowed.numel(); i < n; ++i) pm[i] = pa[i] != 0.0f ? 0.0f : hidden;
  return mask;
}

namespace detail {
/// Whether `from` broadcasts to `to` without growing it (each trailing dim 1 or equal).
inline bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  for (size_t i = 1; i <= from.size(); ++i) {
    const int64_t f = from[from.size() - i], t = to[to.size() - i];
    if (f != 1 && f != t) return false;
  }
  return true;
}

/// The causal mask [L, S]: query i sees keys j <= i (PyTorch's tril of ones(L, S), top-left aligned).
inline Tensor causal_mask(int64_t l, int64_t s) {
  Tensor mask = zeros({l, s});
  float* p = mask.data();
  for (int64_t i = 0; i < l; ++i)
    for (int64_t j = i + 1; j < s; ++j) p[i * s + j] = -std::numeric_limits<float>::infinity();
  return mask;
}

/// Attention's output and its weights A (after dropout), for nn::MultiheadAttention, which returns both.
inline std::tuple<Tensor, Tensor> attention_with_weights(const Tensor& query, const Tensor& key, const Tensor& value,
                                                         const Tensor& attn_mask, double dropout_p, bool is_causal,
                                                         std::optional<double> scale, Generator* gen,
                                                         const char* op) {
  detail::check_defined(op, "query", query, "key", key, "value", value);
  TD_CHECK(query.dim() >= 2 && key.dim() >= 2 && value.dim() >= 2, op,
           "query, key and value need at least 2 dims ([..., L, E]), got shapes ", shape_str(query.shape()), ", ",
           shape_str(key.shape()), " and ", shape_str(value.shape()));
  TD_CHECK(query.size(-1) == key.size(-1), op, "query's embedding size ", query.size(-1), " (shape ",
           shape_str(query.shape()), ") differs from key's ", key.size(-1), " (shape ", shape_str(key.shape()), ")");
  TD_CHECK(key.size(-2) == value.size(-2), op, "key has ", key.size(-2), " positions (shape ", shape_str(key.shape()),
           ") but value has ", value.size(-2), " (shape ", shape_str(value.shape()), ")");
  TD_CHECK(!(is_causal && attn_mask.defined()), op, "give either attn_mask or is_causal, not both");
  TD_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, op, "dropout_p must be in [0, 1], got ", dropout_p);
  const int64_t l = query.size(-2), s = key.size(-2), e = query.size(-1);
  const double factor = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(e));
  TD_CHECK(std::isfinite(factor), op, "scale must be finite, got ", factor, " (embedding size ", e, ")");

  // scores [..., L, S] = q k^T * scale
  Tensor scores = matmul(query, transpose(key, -2, -1)) * static_cast<float>(factor);
  if (is_causal) scores = scores + causal_mask(l, s);
  if (attn_mask.defined()) {
    const Shape& scores_shape = scores.shape();
    TD_CHECK(broadcasts_to(attn_mask.shape(), scores_shape), op, "attn_mask of shape ", shape_str(attn_mask.shape()), " does not broadcast to the scores' shape ",
             shape_str(scores_shape), " ([..., L, S])");
    scores = scores + attn_mask;
  }
  Tensor weights = softmax(scores, -1);
  if (dropout_p > 0.0) weights = dropout(weights, dropout_p, true, gen);
  return {matmul(weights, value), weights};
}
}  // namespace detail

/// softmax(q k^T * scale + attn_mask) v, with dropout of probability dropout_p on the weights
/// (always applied when dropout_p > 0, as PyTorch's functional form; pass 0 in eval mode).
///
///     query [..., L, E], key [..., S, E], value [..., S, Ev] -> [..., L, Ev]; batch dims broadcast.
///     attn_mask: additive, broadcastable to [..., L, S] (see the top of this file).
///     is_causal: query i attends keys j <= i; not together with attn_mask.
///     scale: 1 / sqrt(E) by default.
inline Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                           const Tensor& attn_mask = Tensor(), double dropout_p = 0.0,
                                           bool is_causal = false, std::optional<double> scale = std::nullopt,
                                           Generator* gen = nullptr) {
  return std::get<0>(detail::attention_with_weights(query, key, value, attn_mask, dropout_p, is_causal, scale, gen,
                                                    "scaled_dot_product_attention"));
}

}  // namespace tinydiff
