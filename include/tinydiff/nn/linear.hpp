#pragma once
/// @file
/// nn::Linear: y = x W^T + b on inputs [*, in_features], as torch.nn.Linear.
/// weight [out_features, in_features], bias [out_features]; PyTorch's default
/// initialisation (U(-1/sqrt(in), 1/sqrt(in)) for both).
#include <cstdint>
#include <ostream>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/linear.hpp"
#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/matmul.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff::nn {

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  TINYDIFF_ARG(int64_t, in_features);
  TINYDIFF_ARG(int64_t, out_features);
  TINYDIFF_ARG(bool, bias) = true;
};

class Linear : public UnaryModule {
 public:
  /// Initial values are drawn from `gen`, or the default generator when null.
  explicit Linear(const LinearOptions& options_, Generator* gen = nullptr) : UnaryModule("Linear"), options(options_) {
    TD_CHECK(options.in_features() > 0 && options.out_features() > 0, "Linear", "in_features and out_features must be "
             "positive, got ", options.in_features(), " and ", options.out_features());
    weight = register_parameter("weight", empty({options.out_features(), options.in_features()}));
    if (options.bias()) bias = register_parameter("bias", empty({options.out_features()}));
    reset_parameters(gen);
  }
  Linear(int64_t in_features, int64_t out_features, bool with_bias = true, Generator* gen = nullptr)
      : Linear(LinearOptions(in_features, out_features).bias(with_bias), gen) {}

  void reset_parameters(Generator* gen = nullptr) { init::default_layer_init_(weight, bias, gen); }

  /// x [*, in] -> [*, out] = x weight^T + bias (ops/linear.hpp).
  Tensor forward(const Tensor& x) override {
    tinydiff::detail::check_defined("Linear", "input", x);
    TD_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features(), "Linear", "input of shape ", shape_str(x.shape()),
             " does not end in in_features=", options.in_features());
    return linear(x, weight, bias);
  }

  void pretty_print(std::ostream& out) const override {
    out << "Linear(in_features=" << options.in_features() << ", out_features=" << options.out_features()
        << ", bias=" << (options.bias() ? "true" : "false") << ")";
  }

  LinearOptions options;
  Tensor weight, bias;  ///< bias undefined when options.bias() is false
};

}  // namespace tinydiff::nn
