#pragma once
/// @file
/// optim::SGD: stochastic gradient descent with momentum, dampening, L2 weight
/// decay and Nesterov momentum, exactly torch.optim.SGD's update:
///
///     g = grad + weight_decay * p
///     buf = g                                   (first step)
///     buf = momentum * buf + (1 - dampening) g   (later steps)
///     g = g + momentum * buf  (nesterov)   or   g = buf   (momentum > 0)
///     p = p - lr * g
#include <memory>
#include <string>
#include <vector>

#include "tinydiff/core/arg.hpp"
#include "tinydiff/optim/optimizer.hpp"

namespace tinydiff::optim {

struct SGDOptions : OptimizerOptions {
  SGDOptions(double lr) : lr_(lr) {}  // NOLINT: implicit, SGD(params, 0.1) works
  TINYDIFF_ARG(double, lr);
  TINYDIFF_ARG(double, momentum) = 0.0;
  TINYDIFF_ARG(double, dampening) = 0.0;
  TINYDIFF_ARG(double, weight_decay) = 0.0;
  TINYDIFF_ARG(bool, nesterov) = false;

 public:
  std::unique_ptr<OptimizerOptions> clone() const override { return std::make_unique<SGDOptions>(*this); }
  double get_lr() const override { return lr(); }
  void set_lr(double value) override { lr(value); }
};

/// Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (see the top of the file).
class SGD : public Optimizer {
 public:
  SGD(std::vector<OptimizerParamGroup> groups, const SGDOptions& defaults)
      : Optimizer(std::move(groups), defaults.clone(), "SGD") {
    for (size_t g = 0; g < num_param_groups(); ++g) check(options(g));
  }
  SGD(std::vector<Tensor> params, const SGDOptions& defaults)
      : SGD(std::vector<OptimizerParamGroup>{OptimizerParamGroup(std::move(params))}, defaults) {}

  void step() override {
    NoGradGuard no_grad;
    size_t index = 0;
    for (size_t g = 0; g < num_param_groups(); ++g) {
      const SGDOptions& o = options(g);
      const float lr = static_cast<float>(o.lr()), wd = static_cast<float>(o.weight_decay());
      const float momentum = static_cast<float>(o.momentum()), keep = static_cast<float>(1.0 - o.dampening());
      for (const Tensor& p : group(g).params()) {
        const size_t i = index++;
        const Tensor grad = grad_of(p, i);
        if (!grad.defined()) continue;
        float* w = p.mutable_data();
        const float* gr = grad.data();
        const int64_t n = p.numel();
        if (momentum == 0.0f) {
#pragma omp parallel for schedule(static) if (n > tinydiff::detail::kParallelGrain)
          for (int64_t k = 0; k < n; ++k) w[k] -= lr * (gr[k] + wd * w[k]);
          continue;
        }
        auto& buffers = state(i).buffers;
        const bool first = !buffers.count("momentum_buffer");
        if (first) buffers["momentum_buffer"] = Tensor::empty(p.shape());
        float* buf = buffers["momentum_buffer"].data();
        const bool nesterov = o.nesterov();
#pragma omp parallel for schedule(static) if (n > tinydiff::detail::kParallelGrain)
        for (int64_t k = 0; k < n; ++k) {
          const float d = gr[k] + wd * w[k];
          buf[k] = first ? d : momentum * buf[k] + keep * d;
          w[k] -= lr * (nesterov ? d + momentum * buf[k] : buf[k]);
        }
      }
    }
  }

  const SGDOptions& options(size_t g) const {
    const auto* o = dynamic_cast<const SGDOptions*>(&checked_group(g).options());
    TD_CHECK(o != nullptr, "SGD", "parameter group ", g, " has options of another optimiser");
    return *o;
  }

 protected:
  std::vector<std::string> state_names(size_t g) const override {
    if (options(g).momentum() == 0.0) return {};
    return {"momentum_buffer"};
  }

 private:
  static void check(const SGDOptions& o) {
    TD_CHECK(o.lr() >= 0.0, "SGD", "invalid learning rate ", o.lr());
    TD_CHECK(o.momentum() >= 0.0, "SGD", "invalid momentum ", o.momentum());
    TD_CHECK(o.weight_decay() >= 0.0, "SGD", "invalid weight_decay ", o.weight_decay());
    TD_CHECK(!o.nesterov() || (o.momentum() > 0.0 && o.dampening() == 0.0), "SGD",
             "nesterov momentum requires a momentum and zero dampening");
  }
};

}  // namespace tinydiff::optim
