#pragma once
/// @file
/// Classification loss: cross_entropy over logits and integer class labels
/// (mse_loss and the Reduction enum live in ops/loss.hpp).
#include <cstdint>
#include <limits>
#include <vector>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/ops/loss_classification.hpp"

namespace tinydiff {

/// Cross entropy of logits [N, C] against labels (N classes in [0, C)), as
/// torch.nn.functional.cross_entropy, with optional label smoothing eps: the
/// target distribution is t = (1 - eps) onehot(label) + eps / C.
///
///     p = log_softmax(logits, 1),  l_n = -sum_c t_nc p_nc   (= -p[n, label] when eps = 0)
///     mean: L = sum_n l_n / N;  sum: L = sum_n l_n;  none: L = l  (shape [N])
///     dlogits_nc = g_n (softmax_nc - t_nc)   (g_n = g / N for mean, g for sum, g[n] for none)
/// The labels as a std::vector (every one must be a class: no ignore_index here); the general form
/// with an IndexTensor target, class weights, ignore_index and [N, C, d1, ...] logits is in
/// ops/loss_classification.hpp, and this one runs it.
inline Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels,
                            Reduction reduction = Reduction::Mean, double label_smoothing = 0.0) {
  detail::check_defined("cross_entropy", "input", logits);
  TD_CHECK(logits.dim() == 2, "cross_entropy", "expected logits of shape [N, C], got ", shape_str(logits.shape()));
  TD_CHECK(static_cast<int64_t>(labels.size()) == logits.size(0), "cross_entropy", "got ", labels.size(),
           " labels for logits of shape ", shape_str(logits.shape()));
  return cross_entropy(logits, IndexTensor::of(labels), Tensor(), std::numeric_limits<int64_t>::min(), reduction,
                       label_smoothing);
}

}  // namespace tinydiff
