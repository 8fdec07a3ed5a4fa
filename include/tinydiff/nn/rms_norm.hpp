#pragma once
/// @file
/// nn::RMSNorm, as torch.nn.RMSNorm (torch 2.4), over ops/rms_norm.hpp: x divided by the root
/// mean square over the trailing dims normalized_shape, times weight (starts at 1; no bias).
/// eps nullopt (the default) means float32's machine epsilon, as PyTorch's eps=None.
#include <optional>
#include <ostream>

#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/rms_norm.hpp"

namespace tinydiff::nn {

using OptionalEps = std::optional<double>;  // (TINYDIFF_ARG needs a one-word type)

struct RMSNormOptions {
  RMSNormOptions(Shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}  // NOLINT: implicit
  TINYDIFF_ARG(Shape, normalized_shape);
  TINYDIFF_ARG(OptionalEps, eps) = std::nullopt;
  TINYDIFF_ARG(bool, elementwise_affine) = true;
};

class RMSNorm : public UnaryModule {
 public:
  explicit RMSNorm(const RMSNormOptions& options_) : UnaryModule("RMSNorm"), options(options_) {
    TD_CHECK(!options.normalized_shape().empty(), "RMSNorm", "normalized_shape is empty");
    for (int64_t d : options.normalized_shape())
      TD_CHECK(d > 0, "RMSNorm", "normalized_shape ", shape_str(options.normalized_shape()), " has a size ", d);
    TD_CHECK(!options.eps() || *options.eps() >= 0.0, "RMSNorm", "eps must be non-negative, got ",
             options.eps() ? *options.eps() : 0.0);
    if (options.elementwise_affine()) weight = register_parameter("weight", ones(options.normalized_shape()));
  }

  void reset_parameters() {
    if (options.elementwise_affine()) init::ones_(weight);
  }

  Tensor forward(const Tensor& x) override { return rms_norm(x, options.normalized_shape(), weight, options.eps()); }

  void pretty_print(std::ostream& out) const override {
    const Shape& s = options.normalized_shape();
    out << "RMSNorm((";
    for (size_t i = 0; i < s.size(); ++i) out << (i ? ", " : "") << s[i];
    out << (s.size() == 1 ? ",)" : ")") << ", eps=";
    if (options.eps())
      out << *options.eps();
    else
      out << "None";
    out << ", elementwise_affine=" << (options.elementwise_affine() ? "true" : "false") << ")";
  }

  RMSNormOptions options;
  Tensor weight;  ///< undefined without elementwise_affine
};

}  // namespace tinydiff::nn
