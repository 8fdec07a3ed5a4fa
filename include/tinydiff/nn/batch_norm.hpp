#pragma once
/// @file
/// nn::BatchNorm1d and nn::BatchNorm2d, as torch.nn's, over ops/batch_norm.hpp.
///
///     parameters  weight [C] (starts at 1), bias [C] (starts at 0)        with affine
///     buffers     running_mean [C] (0), running_var [C] (1), num_batches_tracked [] (0)
///                                                                        with track_running_stats
/// train(): normalise with the batch's statistics and update the running ones
/// (momentum, or the cumulative average 1 / num_batches_tracked when momentum is nullopt);
/// eval(): normalise with the running statistics. Without track_running_stats both
/// modes use the batch's statistics.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/batch_norm.hpp"

namespace tinydiff::nn {

using OptionalDouble = std::optional<double>;  // (TINYDIFF_ARG needs a one-word type)

namespace detail {
/// PyTorch's buffers of a norm layer with track_running_stats (BatchNorm*, InstanceNorm*):
/// running_mean [C] = 0, running_var [C] = 1, num_batches_tracked [] = 0.
inline void register_running_stats(Module& module, int64_t C, Tensor& mean, Tensor& var, Tensor& count) {
  mean = module.register_buffer("running_mean", zeros({C}));
  var = module.register_buffer("running_var", ones({C}));
  count = module.register_buffer("num_batches_tracked", zeros({}));
}
inline void reset_running_stats(const Tensor& mean, const Tensor& var, const Tensor& count) {
  if (!mean.defined()) return;
  init::zeros_(mean);
  init::ones_(var);
  init::zeros_(count);
}
}  // namespace detail

struct BatchNormOptions {
  BatchNormOptions(int64_t num_features) : num_features_(num_features) {}  // NOLINT: implicit, BatchNorm2d(16)
  TINYDIFF_ARG(int64_t, num_features);
  TINYDIFF_ARG(double, eps) = 1e-5;
  /// nullopt: the running statistics are the cumulative average over the batches seen.
  TINYDIFF_ARG(OptionalDouble, momentum) = 0.1;
  TINYDIFF_ARG(bool, affine) = true;
  TINYDIFF_ARG(bool, track_running_stats) = true;
};

/// What BatchNorm1d and BatchNorm2d share; they differ in the input dims they accept.
class BatchNorm : public UnaryModule {
 public:
  void reset_running_stats() { detail::reset_running_stats(running_mean, running_var, num_batches_tracked); }
  void reset_parameters() {
    reset_running_stats();
    if (!options.affine()) return;
    init::ones_(weight);
    init::zeros_(bias);
  }

  Tensor forward(const Tensor& x) override {
    tinydiff::detail::check_defined(name().c_str(), "input", x);
    check_input(x);
    double factor = options.momentum() ? *options.momentum() : 0.0;
    if (is_training() && options.track_running_stats()) {
      num_batches_tracked.data()[0] += 1.0f;
      if (!options.momentum()) factor = 1.0 / static_cast<double>(num_batches_tracked.data()[0]);
    }
    // The batch's statistics while training, or always when no running ones are kept.
    const bool use_batch_stats = is_training() || !options.track_running_stats();
    return batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, factor, options.eps());
  }

  void pretty_print(std::ostream& out) const override {
    out << name() << "(" << options.num_features() << ", eps=" << options.eps() << ", momentum=";
    if (options.momentum())
      out << *options.momentum();
    else
      out << "None";
    out << ", affine=" << (options.affine() ? "true" : "false")
        << ", track_running_stats=" << (options.track_running_stats() ? "true" : "false") << ")";
  }

  BatchNormOptions options;
  Tensor weight, bias;                                        ///< undefined without affine
  Tensor running_mean, running_var, num_batches_tracked;      ///< undefined without track_running_stats

 protected:
  BatchNorm(const std::string& name, const BatchNormOptions& options_) : UnaryModule(name), options(options_) {
    const int64_t C = options.num_features();
    TD_CHECK(C > 0, name, "num_features must be positive, got ", C);
    TD_CHECK(options.eps() >= 0.0, name, "eps must be non-negative, got ", options.eps());
    TD_CHECK(!options.momentum() || (*options.momentum() >= 0.0 && *options.momentum() <= 1.0), name,
             "momentum must be in [0, 1], got ", options.momentum() ? *options.momentum() : 0.0);
    if (options.affine()) {
      weight = register_parameter("weight", ones({C}));
      bias = register_parameter("bias", zeros({C}));
    }
    if (options.track_running_stats())
      detail::register_running_stats(*this, C, running_mean, running_var, num_batches_tracked);
  }

  virtual void check_input(const Tensor& x) const = 0;

  void check_channels(const Tensor& x) const {
    TD_CHECK(x.size(1) == options.num_features(), name(), "input of shape ", shape_str(x.shape()),
             " does not have num_features=", options.num_features(), " in dim 1");
  }
};

/// Over x [N, C] or [N, C, L].
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options_) : BatchNorm("BatchNorm1d", options_) {}

 protected:
  void check_input(const Tensor& x) const override {
    TD_CHECK(x.dim() == 2 || x.dim() == 3, "BatchNorm1d", "expected input of shape [N, C] or [N, C, L], got ",
             shape_str(x.shape()));
    check_channels(x);
  }
};

/// Over x [N, C, H, W].
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options_) : BatchNorm("BatchNorm2d", options_) {}

 protected:
  void check_input(const Tensor& x) const override {
    TD_CHECK(x.dim() == 4, "BatchNorm2d", "expected input of shape [N, C, H, W], got ", shape_str(x.shape()));
    check_channels(x);
  }
};

}  // namespace tinydiff::nn
