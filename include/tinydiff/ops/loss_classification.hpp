#pragma once
/// @file
/// Classification losses over class scores [N, C] or [N, C, d1, ...] (the class dim is 1), as
/// torch.nn.functional: nll_loss and cross_entropy with class-index targets (an IndexTensor of
/// shape [N] or [N, d1, ...]), and cross_entropy with probability targets (a float tensor of the
/// logits' shape). (The older cross_entropy(logits, std::vector<int64_t>) is in ops/loss_nn.hpp.)
///
/// Both index-target losses are linear in the log-probabilities lp (= x for nll_loss,
/// log_softmax(x, 1) for cross_entropy): for each position i (a sample n and, for [N, C, d...],
/// a spatial place s) the loss is
///
///     l_i = -sum_c a_ic lp_ic
/// with coefficients a_ic set by the target, the class weights w, label smoothing eps and the
/// reduction (below). So one backward serves all:
///
///     nll_loss:       dx_ic = -g_i a_ic
///     cross_entropy:  dx_ic = g_i (softmax_ic sum_k a_ik - a_ic)
/// (g_i = g[i] for none, the scalar g for sum and mean: mean's divisor is folded into a).
///
/// Coefficients, with t_i the target class, m_i = 0 where t_i = ignore_index (else 1), C classes:
///
///     a_ic = m_i w_c [(1 - eps) [c = t_i] + eps / C] / D
///     mean:  D = sum_i m_i w_{t_i} (PyTorch's weighted mean: without weights, the number of targets
///            not ignored);  sum, none: D = 1.
/// A mean over targets that are all ignored is 0 / 0 = NaN, as in PyTorch (its gradient here is 0).
/// The class weights are constants (PyTorch gives them no gradient either).
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/core/index_tensor.hpp"
#include "tinydiff/kernels/softmax.hpp"
#include "tinydiff/ops/loss.hpp"

namespace tinydiff {

namespace detail {

/// "[n, d1, ...]": the multi-index of flat position `flat` in `shape`.
inline std::string class_loss_position(const Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    idx[k] = shape[k] > 0 ? flat % shape[k] : 0;
    flat = shape[k] > 0 ? flat / shape[k] : 0;
  }
  std::ostringstream out;
  out << "[";
  for (size_t k = 0; k < idx.size(); ++k) out << (k ? ", " : "") << idx[k];
  out << "]";
  return out.str();
}

/// The layout of class scores [N, C, d1, ...]: N samples, C classes, S = d1 * ... places per sample.
struct ClassLayout {
  int64_t N, C, S;
};

inline ClassLayout class_layout(const char* op, const Tensor& x, const char* what) {
  TD_CHECK(x.defined(), op, what, " must be a defined tensor");
  TD_CHECK(x.dim() >= 2, op, "expected ", what, " of shape [N, C] or [N, C, d1, ...], got ", shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1);
  TD_CHECK(C > 0, op, what, " of shape ", shape_str(x.shape()), " have no classes");
  return ClassLayout{N, C, N * C > 0 ? x.numel() / (N * C) : 0};
}

/// The target shape scores [N, C, d1, ...] need: [N, d1, ...].
inline Shape class_target_shape(const Shape& scores) {
  Shape s{scores[0]};
  s.insert(s.end(), scores.begin() + 2, scores.end());
  return s;
}

/// The coefficients a_ic (see the top of the file), laid out as the scores [N, C, S].
inline Tensor class_target_coefficients(const char* op, const Tensor& scores, const IndexTensor& target,
                                        const Tensor& weight, int64_t ignore_index, Reduction reduction,
                                        double label_smoothing, bool* all_ignored) {
  const ClassLayout L = class_layout(op, scores, "input");
  const Shape want = class_target_shape(scores.shape());
  TD_CHECK(target.shape == want, op, "target of shape ", shape_str(target.shape), " does not match input of shape ",
           shape_str(scores.shape()), " (expected target shape ", shape_str(want), ")");
  TD_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, op, "label_smoothing must be in [0, 1], got ",
           label_smoothing);
  if (weight.defined()) {
    TD_CHECK(weight.dim() == 1 && weight.size(0) == L.C, op, "weight of shape ", shape_str(weight.shape()),
             " must be [C] = [", L.C, "] for input of shape ", shape_str(scores.shape()));
    TD_CHECK(!weight.requires_grad(), op, "weight requires grad, but class weights are constants (detach it)");
  }
  TD_CHECK(L.N * L.S > 0 || reduction != Reduction::Mean, op, "mean over an empty batch (input of shape ",
           shape_str(scores.shape()), ")");
  const int64_t positions = L.N * L.S;
  for (int64_t i = 0; i < positions; ++i) {
    const int64_t t = target.data[i];
    TD_CHECK(t == ignore_index || (t >= 0 && t < L.C), op, "target ", t, " at position ",
             class_loss_position(target.shape, i), " is out of range [0, ", L.C, ") for input of shape ",
             shape_str(scores.shape()));
  }
  const float* w = weight.defined() ? weight.data() : nullptr;
  auto w_of = [w](int64_t c) { return w ? static_cast<double>(w[c]) : 1.0; };

  double divisor = 1.0;
  if (reduction == Reduction::Mean) {
    divisor = 0.0;
    for (int64_t i = 0; i < positions; ++i)
      if (target.data[i] != ignore_index) divisor += w_of(target.data[i]);
  }
  *all_ignored = reduction == Reduction::Mean && divisor == 0.0;
  const double on = (1.0 - label_smoothing) / divisor, off = label_smoothing / static_cast<double>(L.C) / divisor;
  Tensor a = zeros(scores.shape());
  float* pa = a.data();
  for (int64_t n = 0; n < L.N; ++n)
    for (int64_t s = 0; s < L.S; ++s) {
      const int64_t t = target.data[n * L.S + s];
      if (t == ignore_index) continue;
      float* an = pa + n * L.C * L.S + s;
      if (off != 0.0)
        for (int64_t c = 0; c < L.C; ++c) an[c * L.S] = static_cast<float>(off * w_of(c));
      an[t * L.S] += static_cast<float>(on * w_of(t));
    }
  return a;
}

/// l_i = -sum_c a_ic lp_ic, reduced (none: shape [N, d1, ...]); NaN for a mean over nothing.
inline Tensor reduce_class_loss(const Tensor& a, const Tensor& lp, Reduction reduction, bool all_ignored = false) {
  const int64_t N = lp.size(0), C = lp.size(1), S = N * C > 0 ? lp.numel() / (N * C) : 0;
  Tensor per = Tensor::empty(class_target_shape(lp.shape()));
  const float* pa = a.data();
  const float* pl = lp.data();
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      double l = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        const int64_t k = (n * C + c) * S + s;
        if (pa[k] != 0.0f) l -= static_cast<double>(pa[k]) * pl[k];
      }
      per.data()[n * S + s] = static_cast<float>(l);
      total += l;
    }
  if (reduction == Reduction::None) return per;
  if (all_ignored) return scalar_tensor(NAN);
  return scalar_tensor(static_cast<float>(total));  // mean's divisor is inside a
}

/// g per position (none) or the scalar g, as a factor for position (n, s).
inline float class_loss_upstream(const Tensor& g, Reduction reduction, int64_t pos) {
  return reduction == Reduction::None ? g.data()[pos] : g.item();
}

}  // namespace detail

/// Negative log likelihood of log-probabilities [N, C] or [N, C, d1, ...] against class indices
/// [N] or [N, d1, ...] (torch.nn.functional.nll_loss): l_i = -w_{t_i} x[i, t_i], 0 where the
/// target is ignore_index; mean divides by the sum of the weights of the targets not ignored.
///
///     dx[i, c] = -g_i a_ic (see the top of the file).
inline Tensor nll_loss(const Tensor& input, const IndexTensor& target, const Tensor& weight = Tensor(),
                       int64_t ignore_index = -100, Reduction reduction = Reduction::Mean) {
  detail::check_defined("nll_loss", "input", input);
  bool all_ignored = false;
  const Tensor a = detail::class_target_coefficients("nll_loss", input, target, weight, ignore_index, reduction, 0.0,
                                                     &all_ignored);
  Tensor y = detail::reduce_class_loss(a, input, reduction, all_ignored);
  record_op(y, "nll_loss", {input}, [a, reduction](const Tensor& g, const std::vector<bool>&) {
    const int64_t N = a.size(0), C = a.size(1), S = N * C > 0 ? a.numel() / (N * C) : 0;
    Tensor dx = Tensor::empty(a.shape());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const float gi = detail::class_loss_upstream(g, reduction, n * S + s);
        for (int64_t c = 0; c < C; ++c) dx.data()[(n * C + c) * S + s] = -gi * a.data()[(n * C + c) * S + s];
      }
    return std::vector<Tensor>{dx};
  });
  return y;
}

/// Cross entropy of logits [N, C] or [N, C, d1, ...] against class indices [N] or [N, d1, ...]
/// (torch.nn.functional.cross_entropy): nll_loss(log_softmax(logits, 1), ...) with label smoothing
/// eps mixing in the uniform target eps / C (weighted by the class weights, as PyTorch).
///
///     dx[i, c] = g_i (softmax_ic sum_k a_ik - a_ic) (see the top of the file).
inline Tensor cross_entropy(const Tensor& input, const IndexTensor& target, const Tensor& weight = Tensor(),
                            int64_t ignore_index = -100, Reduction reduction = Reduction::Mean,
                            double label_smoothing = 0.0) {
  detail::check_defined("cross_entropy", "input", input);
  const char* op = "cross_entropy";
  bool all_ignored = false;
  const Tensor a = detail::class_target_coefficients(op, input, target, weight, ignore_index, reduction,
                                                     label_smoothing, &all_ignored);
  const detail::ClassLayout L = detail::class_layout(op, input, "input");
  Tensor lp = Tensor::empty(input.shape());
  kernels::softmax_forward(input.data(), lp.data(), L.N, L.C, L.S, /*log=*/true);
  Tensor y = detail::reduce_class_loss(a, lp, reduction, all_ignored);
  record_op(y, op, {input}, [a, lp, reduction, L](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(a.shape());
    const float* pa = a.data();
    const float* pl = lp.data();
    float* d = dx.data();
    for (int64_t n = 0; n < L.N; ++n)
      for (int64_t s = 0; s < L.S; ++s) {
        const float gi = detail::class_loss_upstream(g, reduction, n * L.S + s);
        double sum_a = 0.0;
        for (int64_t c = 0; c < L.C; ++c) sum_a += pa[(n * L.C + c) * L.S + s];
        for (int64_t c = 0; c < L.C; ++c) {
          const int64_t k = (n * L.C + c) * L.S + s;
          d[k] = gi * static_cast<float>(std::exp(static_cast<double>(pl[k])) * sum_a - pa[k]);
        }
      }
    return std::vector<Tensor>{dx};
  });
  return y;
}

/// Cross entropy against class probabilities `target` of the logits' shape (soft labels, as
/// torch.nn.functional.cross_entropy with a float target): with q = (1 - eps) t + eps / C and lp =
/// log_softmax(x, 1),
///
///     l_i = -sum_c w_c q_ic lp_ic;  mean divides by the number of positions N d1 ... (unweighted,
///     as PyTorch).
///     dx_ic = g_i (softmax_ic sum_k w_k q_ik - w_c q_ic);   dt_ic = -g_i (1 - eps) w_c lp_ic.
inline Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                            Reduction reduction = Reduction::Mean, double label_smoothing = 0.0) {
  const char* op = "cross_entropy";
  detail::check_defined(op, "input", input, "target", target);
  const detail::ClassLayout L = detail::class_layout(op, input, "input");
  TD_CHECK(target.shape() == input.shape(), op, "probability target of shape ", shape_str(target.shape()),
           " must have the input's shape ", shape_str(input.shape()));
  TD_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, op, "label_smoothing must be in [0, 1], got ",
           label_smoothing);
  if (weight.defined()) {
    TD_CHECK(weight.dim() == 1 && weight.size(0) == L.C, op, "weight of shape ", shape_str(weight.shape()),
             " must be [C] = [", L.C, "] for input of shape ", shape_str(input.shape()));
    TD_CHECK(!weight.requires_grad(), op, "weight requires grad, but class weights are constants (detach it)");
  }
  const int64_t positions = L.N * L.S;
  TD_CHECK(positions > 0 || reduction != Reduction::Mean, op, "mean over an empty batch (input of shape ",
           shape_str(input.shape()), ")");
  const double scale = reduction == Reduction::Mean ? 1.0 / static_cast<double>(positions) : 1.0;
  const double eps = label_smoothing;
  // a = scale w_c q_ic: the loss is -sum a lp, as for index targets.
  Tensor a = Tensor::empty(input.shape());
  const float* pt = target.data();
  for (int64_t n = 0; n < L.N; ++n)
    for (int64_t c = 0; c < L.C; ++c) {
      const double wc = weight.defined() ? weight.data()[c] : 1.0;
      for (int64_t s = 0; s < L.S; ++s) {
        const int64_t k = (n * L.C + c) * L.S + s;
        a.data()[k] = static_cast<float>(scale * wc * ((1.0 - eps) * pt[k] + eps / static_cast<double>(L.C)));
      }
    }
  Tensor lp = Tensor::empty(input.shape());
  kernels::softmax_forward(input.data(), lp.data(), L.N, L.C, L.S, /*log=*/true);
  Tensor y = detail::reduce_class_loss(a, lp, reduction);
  const Tensor w = weight.defined() ? weight.detach() : Tensor();
  record_op(y, op, {input, target},
            [a, lp, w, reduction, L, scale, eps](const Tensor& g, const std::vector<bool>& needs) {
              Tensor dx = needs[0] ? Tensor::empty(a.shape()) : Tensor();
              Tensor dt = needs[1] ? Tensor::empty(a.shape()) : Tensor();
              const float* pa = a.data();
              const float* pl = lp.data();
              for (int64_t n = 0; n < L.N; ++n)
                for (int64_t s = 0; s < L.S; ++s) {
                  const double gi = detail::class_loss_upstream(g, reduction, n * L.S + s);
                  double sum_a = 0.0;
                  for (int64_t c = 0; c < L.C; ++c) sum_a += pa[(n * L.C + c) * L.S + s];
                  for (int64_t c = 0; c < L.C; ++c) {
                    const int64_t k = (n * L.C + c) * L.S + s;
                    if (needs[0]) dx.data()[k] = static_cast<float>(gi * (std::exp(static_cast<double>(pl[k])) * sum_a - pa[k]));
                    if (needs[1]) {
                      const double wc = w.defined() ? w.data()[c] : 1.0;
                      dt.data()[k] = static_cast<float>(-gi * scale * (1.0 - eps) * wc * pl[k]);
                    }
                  }
                }
              return std::vector<Tensor>{dx, dt};
            });
  return y;
}

}  // namespace tinydiff
