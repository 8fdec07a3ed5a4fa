#pragma once
/// @file
/// optim::Adam and optim::AdamW, with torch.optim's exact update (t = the
/// parameter's step count, from 1):
///
///     g = grad (+ weight_decay * p for Adam: L2, coupled)
///     p = p * (1 - lr * weight_decay)                       (AdamW: decoupled, first)
///     m = beta1 m + (1 - beta1) g
///     v = beta2 v + (1 - beta2) g^2        (amsgrad: vmax = max(vmax, v), used for v below)
///     denom = sqrt(v) / sqrt(1 - beta2^t) + eps                 (eps OUTSIDE the square root)
///     p = p - lr / (1 - beta1^t) * m / denom
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tinydiff/core/arg.hpp"
#include "tinydiff/kernels/parallel_ranges.hpp"
#include "tinydiff/kernels/tiers.hpp"
#include "tinydiff/ops/map.hpp"
#include "tinydiff/optim/optimizer.hpp"

namespace tinydiff::optim {

/// (beta1, beta2): the decay rates of the first and second moment averages.
using Betas = std::pair<double, double>;

struct AdamOptions : OptimizerOptions {
  AdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit
  TINYDIFF_ARG(double, lr);
  TINYDIFF_ARG(Betas, betas) = {0.9, 0.999};
  TINYDIFF_ARG(double, eps) = 1e-8;
  TINYDIFF_ARG(double, weight_decay) = 0.0;
  TINYDIFF_ARG(bool, amsgrad) = false;

 public:
  std::unique_ptr<OptimizerOptions> clone() const override { return std::make_unique<AdamOptions>(*this); }
  double get_lr() const override { return lr(); }
  void set_lr(double value) override { lr(value); }
};

struct AdamWOptions : OptimizerOptions {
  AdamWOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit
  TINYDIFF_ARG(double, lr);
  TINYDIFF_ARG(Betas, betas) = {0.9, 0.999};
  TINYDIFF_ARG(double, eps) = 1e-8;
  TINYDIFF_ARG(double, weight_decay) = 1e-2;
  TINYDIFF_ARG(bool, amsgrad) = false;

 public:
  std::unique_ptr<OptimizerOptions> clone() const override { return std::make_unique<AdamWOptions>(*this); }
  double get_lr() const override { return lr(); }
  void set_lr(double value) override { lr(value); }
};

namespace detail {

struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, decoupled;  ///< decoupled: AdamW
};

inline void check_adam(const AdamHyper& h, const char* op) {
  TD_CHECK(h.lr >= 0.0, op, "invalid learning rate ", h.lr);
  TD_CHECK(h.eps >= 0.0, op, "invalid eps ", h.eps);
  TD_CHECK(h.beta1 >= 0.0 && h.beta1 < 1.0, op, "invalid beta1 ", h.beta1, " (needs 0 <= beta1 < 1)");
  TD_CHECK(h.beta2 >= 0.0 && h.beta2 < 1.0, op, "invalid beta2 ", h.beta2, " (needs 0 <= beta2 < 1)");
  TD_CHECK(h.weight_decay >= 0.0, op, "invalid weight_decay ", h.weight_decay);
}

/// One Adam/AdamW step of parameter w (n values) at step t >= 1, in place on w, m, v (and vmax).
/// Elementwise in float32 like PyTorch's tensors; the bias corrections are computed in double.
/// The loop runs on the tier kernels (kernels/tier/elementwise.inl), split over the threads.
inline void adam_update(float* w, const float* grad, float* m, float* v, float* vmax, int64_t n, int64_t t,
                        const AdamHyper& h) {
  const double bias_correction1 = 1.0 - std::pow(h.beta1, static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(h.beta2, static_cast<double>(t));
  kernels::AdamStep a;
  a.step_size = static_cast<float>(h.lr / bias_correction1);
  a.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  a.beta1 = static_cast<float>(h.beta1), a.beta2 = static_cast<float>(h.beta2);
  a.one_minus_beta1 = static_cast<float>(1.0 - h.beta1), a.one_minus_beta2 = static_cast<float>(1.0 - h.beta2);
  a.eps = static_cast<float>(h.eps), a.weight_decay = static_cast<float>(h.weight_decay);
  a.decay = static_cast<float>(1.0 - h.lr * h.weight_decay);
  a.l2 = !h.decoupled && h.weight_decay != 0.0, a.decoupled = h.decoupled && h.weight_decay != 0.0;
  kernels::parallel_ranges(n, n > tinydiff::detail::kParallelGrain, [&](int64_t begin, int64_t end) {
    kernels::tier_kernels().adam_update(w + begin, grad + begin, m + begin, v + begin, vmax ? vmax + begin : nullptr,
                                        end - begin, a);
  });
}

}  // namespace detail

/// Shared by Adam and AdamW: they differ only in their options type and how weight decay applies.
template <typename Options, bool Decoupled>
class AdamBase : public Optimizer {
 public:
  AdamBase(std::vector<OptimizerParamGroup> groups, const Options& defaults, const char* name)
      : Optimizer(std::move(groups), defaults.clone(), name) {
    for (size_t g = 0; g < num_param_groups(); ++g) detail::check_adam(hyper(g), name);
  }

  void step() override {
    NoGradGuard no_grad;
    size_t index = 0;
    for (size_t g = 0; g < num_param_groups(); ++g) {
      const detail::AdamHyper h = hyper(g);
      for (const Tensor& p : group(g).params()) {
        const size_t i = index++;
        const Tensor grad = grad_of(p, i);
        if (!grad.defined()) continue;
        ParamState& s = state(i);
        if (s.buffers.empty()) {  // lazy state, as PyTorch: zeros at the first step
          s.buffers["exp_avg"] = zeros(p.shape());
          s.buffers["exp_avg_sq"] = zeros(p.shape());
          if (h.amsgrad) s.buffers["max_exp_avg_sq"] = zeros(p.shape());
        }
        s.step += 1;
        float* vmax = h.amsgrad ? s.buffers.at("max_exp_avg_sq").data() : nullptr;
        detail::adam_update(p.mutable_data(), grad.data(), s.buffers.at("exp_avg").data(), s.buffers.at("exp_avg_sq").data(),
                            vmax, p.numel(), s.step, h);
      }
    }
  }

  const Options& options(size_t g) const {
    const auto* o = dynamic_cast<const Options*>(&checked_group(g).options());
    TD_CHECK(o != nullptr, name(), "parameter group ", g, " has options of another optimiser");
    return *o;
  }

 protected:
  std::vector<std::string> state_names(size_t g) const override {
    if (options(g).amsgrad()) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }

 private:
  detail::AdamHyper hyper(size_t g) const {
    const Options& o = options(g);
    return {o.lr(), o.betas().first, o.betas().second, o.eps(), o.weight_decay(), o.amsgrad(), Decoupled};
  }
};

/// Adam: weight decay is L2 (added to the gradient).
class Adam : public AdamBase<AdamOptions, false> {
 public:
  Adam(std::vector<OptimizerParamGroup> groups, const AdamOptions& defaults = AdamOptions())
      : AdamBase(std::move(groups), defaults, "Adam") {}
  Adam(std::vector<Tensor> params, const AdamOptions& defaults = AdamOptions())
      : Adam(std::vector<OptimizerParamGroup>{OptimizerParamGroup(std::move(params))}, defaults) {}
};

/// AdamW: weight decay shrinks the parameter directly (decoupled), default 1e-2.
class AdamW : public AdamBase<AdamWOptions, true> {
 public:
  AdamW(std::vector<OptimizerParamGroup> groups, const AdamWOptions& defaults = AdamWOptions())
      : AdamBase(std::move(groups), defaults, "AdamW") {}
  AdamW(std::vector<Tensor> params, const AdamWOptions& defaults = AdamWOptions())
      : AdamW(std::vector<OptimizerParamGroup>{OptimizerParamGroup(std::move(params))}, defaults) {}
};

}  // namespace tinydiff::optim
