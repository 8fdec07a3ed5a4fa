#pragma once
/// @file
/// nn::InstanceNorm2d, as torch.nn's, over ops/batch_norm.hpp's instance_norm: each
/// (sample, channel) plane of x [N, C, H, W] (or unbatched [C, H, W]) normalised by its own
/// mean and biased variance. PyTorch's defaults: affine=false, track_running_stats=false.
///
///     parameters  weight [C] (1), bias [C] (0)                                     with affine
///     buffers     running_mean [C] (0), running_var [C] (1), num_batches_tracked [] (0)
///                                                                        with track_running_stats
/// With track_running_stats, train() updates the running statistics (num_batches_tracked stays 0,
/// as in PyTorch) and eval() normalises with them.
#include <cstdint>
#include <ostream>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/batch_norm.hpp"
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/batch_norm.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff::nn {

struct InstanceNormOptions {
  InstanceNormOptions(int64_t num_features) : num_features_(num_features) {}  // NOLINT: implicit
  TINYDIFF_ARG(int64_t, num_features);
  TINYDIFF_ARG(double, eps) = 1e-5;
  TINYDIFF_ARG(double, momentum) = 0.1;
  TINYDIFF_ARG(bool, affine) = false;
  TINYDIFF_ARG(bool, track_running_stats) = false;
};

class InstanceNorm2d : public UnaryModule {
 public:
  explicit InstanceNorm2d(const InstanceNormOptions& options_) : UnaryModule("InstanceNorm2d"), options(options_) {
    const int64_t C = options.num_features();
    TD_CHECK(C > 0, "InstanceNorm2d", "num_features must be positive, got ", C);
    TD_CHECK(options.momentum() >= 0.0 && options.momentum() <= 1.0, "InstanceNorm2d",
             "momentum must be in [0, 1], got ", options.momentum());
    if (options.affine()) {
      weight = register_parameter("weight", ones({C}));
      bias = register_parameter("bias", zeros({C}));
    }
    if (options.track_running_stats())
      detail::register_running_stats(*this, C, running_mean, running_var, num_batches_tracked);
  }

  void reset_running_stats() { detail::reset_running_stats(running_mean, running_var, num_batches_tracked); }
  void reset_parameters() {
    reset_running_stats();
    if (!options.affine()) return;
    init::ones_(weight);
    init::zeros_(bias);
  }

  Tensor forward(const Tensor& x) override {
    tinydiff::detail::check_defined("InstanceNorm2d", "input", x);
    TD_CHECK(x.dim() == 3 || x.dim() == 4, "InstanceNorm2d", "expected input of shape [N, C, H, W] or [C, H, W], got ",
             shape_str(x.shape()));
    if (x.dim() == 3) return squeeze(forward(unsqueeze(x, 0)), 0);
    // Without parameters or running statistics the channel count is free, as in PyTorch.
    TD_CHECK(!(options.affine() || options.track_running_stats()) || x.size(1) == options.num_features(),
             "InstanceNorm2d", "input of shape ", shape_str(x.shape()), " does not have num_features=",
             options.num_features(), " in dim 1");
    return instance_norm(x, running_mean, running_var, weight, bias,
                         is_training() || !options.track_running_stats(), options.momentum(), options.eps());
  }

  void pretty_print(std::ostream& out) const override {
    out << "InstanceNorm2d(" << options.num_features() << ", eps=" << options.eps()
        << ", momentum=" << options.momentum() << ", affine=" << (options.affine() ? "true" : "false")
        << ", track_running_stats=" << (options.track_running_stats() ? "true" : "false") << ")";
  }

  InstanceNormOptions options;
  Tensor weight, bias;                                    ///< undefined without affine
  Tensor running_mean, running_var, num_batches_tracked;  ///< undefined without track_running_stats
};

}  // namespace tinydiff::nn
