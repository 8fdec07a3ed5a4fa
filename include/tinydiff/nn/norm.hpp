#pragma once
/// @file
/// nn::GroupNorm and nn::LayerNorm, as torch.nn's, over ops/norm.hpp.
/// With affine (the default) weight starts at 1 and bias at 0.
#include <cstdint>
#include <ostream>
#include <utility>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/norm.hpp"

namespace tinydiff::nn {

struct GroupNormOptions {
  GroupNormOptions(int64_t num_groups, int64_t num_channels) : num_groups_(num_groups), num_channels_(num_channels) {}
  TINYDIFF_ARG(int64_t, num_groups);
  TINYDIFF_ARG(int64_t, num_channels);
  TINYDIFF_ARG(double, eps) = 1e-5;
  TINYDIFF_ARG(bool, affine) = true;
};

/// Normalises each group of num_channels / num_groups channels of x [N, C, *].
class GroupNorm : public UnaryModule {
 public:
  explicit GroupNorm(const GroupNormOptions& options_) : UnaryModule("GroupNorm"), options(options_) {
    TD_CHECK(options.num_groups() > 0 && options.num_channels() % options.num_groups() == 0, "GroupNorm",
             "num_channels ", options.num_channels(), " must be divisible by num_groups ", options.num_groups());
    if (options.affine()) {
      weight = register_parameter("weight", ones({options.num_channels()}));
      bias = register_parameter("bias", zeros({options.num_channels()}));
    }
  }
  GroupNorm(int64_t num_groups, int64_t num_channels) : GroupNorm(GroupNormOptions(num_groups, num_channels)) {}

  void reset_parameters() {
    if (!options.affine()) return;
    init::ones_(weight);
    init::zeros_(bias);
  }

  Tensor forward(const Tensor& x) override {
    tinydiff::detail::check_defined("GroupNorm", "input", x);
    TD_CHECK(x.dim() >= 2 && x.size(1) == options.num_channels(), "GroupNorm", "input of shape ",
             shape_str(x.shape()), " does not have num_channels=", options.num_channels(), " in dim 1");
    return group_norm(x, options.num_groups(), weight, bias, options.eps());
  }

  void pretty_print(std::ostream& out) const override {
    out << "GroupNorm(" << options.num_groups() << ", " << options.num_channels() << ", eps=" << options.eps()
        << ", affine=" << (options.affine() ? "true" : "false") << ")";
  }

  GroupNormOptions options;
  Tensor weight, bias;  ///< undefined without affine
};

struct LayerNormOptions {
  LayerNormOptions(Shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}  // NOLINT: implicit
  TINYDIFF_ARG(Shape, normalized_shape);
  TINYDIFF_ARG(double, eps) = 1e-5;
  TINYDIFF_ARG(bool, elementwise_affine) = true;
};

/// Normalises over the trailing dims normalized_shape.
class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(const LayerNormOptions& options_) : UnaryModule("LayerNorm"), options(options_) {
    TD_CHECK(!options.normalized_shape().empty(), "LayerNorm", "normalized_shape is empty");
    if (options.elementwise_affine()) {
      weight = register_parameter("weight", ones(options.normalized_shape()));
      bias = register_parameter("bias", zeros(options.normalized_shape()));
    }
  }

  void reset_parameters() {
    if (!options.elementwise_affine()) return;
    init::ones_(weight);
    init::zeros_(bias);
  }

  Tensor forward(const Tensor& x) override {
    return layer_norm(x, options.normalized_shape(), weight, bias, options.eps());
  }

  void pretty_print(std::ostream& out) const override {
    const Shape& s = options.normalized_shape();
    out << "LayerNorm((";
    for (size_t i = 0; i < s.size(); ++i) out << (i ? ", " : "") << s[i];
    out << (s.size() == 1 ? ",)" : ")") << ", eps=" << options.eps()
        << ", elementwise_affine=" << (options.elementwise_affine() ? "true" : "false") << ")";
  }

  LayerNormOptions options;
  Tensor weight, bias;  ///< undefined without elementwise_affine
};

}  // namespace tinydiff::nn
