#pragma once
/// @file
/// nn::Conv1d, as torch.nn's, over ops/conv1d.hpp: x [N, in, L] -> [N, out, Lout].
///
///     weight [out, in/groups, k]   fan_in = in/groups * k
/// weight kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as Conv2d.
#include <cstdint>
#include <ostream>

#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/conv.hpp"  // detail::check_conv_channels
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/conv1d.hpp"

namespace tinydiff::nn {

struct Conv1dOptions {
  Conv1dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  TINYDIFF_ARG(int64_t, in_channels);
  TINYDIFF_ARG(int64_t, out_channels);
  TINYDIFF_ARG(int64_t, kernel_size);
  TINYDIFF_ARG(int64_t, stride) = 1;
  TINYDIFF_ARG(int64_t, padding) = 0;
  TINYDIFF_ARG(int64_t, dilation) = 1;
  TINYDIFF_ARG(int64_t, groups) = 1;
  TINYDIFF_ARG(bool, bias) = true;
};

class Conv1d : public UnaryModule {
 public:
  /// Initial values are drawn from `gen`, or the default generator when null.
  explicit Conv1d(const Conv1dOptions& options_, Generator* gen = nullptr) : UnaryModule("Conv1d"), options(options_) {
    const auto& o = options;
    detail::check_conv_channels("Conv1d", o.in_channels(), o.out_channels(), o.groups());
    TD_CHECK(o.kernel_size() > 0, "Conv1d", "kernel_size must be positive, got ", o.kernel_size());
    TD_CHECK(o.stride() > 0 && o.dilation() > 0 && o.padding() >= 0, "Conv1d", "stride ", o.stride(),
             " and dilation ", o.dilation(), " must be positive and padding ", o.padding(), " non-negative");
    weight = register_parameter("weight", empty({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size()}));
    if (o.bias()) bias = register_parameter("bias", empty({o.out_channels()}));
    reset_parameters(gen);
  }

  void reset_parameters(Generator* gen = nullptr) { init::default_layer_init_(weight, bias, gen); }

  /// x [N, in, L] -> [N, out, Lout], Lout = (L + 2 padding - dilation (k - 1) - 1) / stride + 1.
  Tensor forward(const Tensor& x) override {
    return conv1d(x, weight, bias, options.stride(), options.padding(), options.dilation(), options.groups());
  }

  void pretty_print(std::ostream& out) const override {
    out << "Conv1d(" << options.in_channels() << ", " << options.out_channels() << ", kernel_size=("
        << options.kernel_size() << ",), stride=(" << options.stride() << ",)";
    if (options.padding() != 0) out << ", padding=(" << options.padding() << ",)";
    if (options.dilation() != 1) out << ", dilation=(" << options.dilation() << ",)";
    if (options.groups() != 1) out << ", groups=" << options.groups();
    if (!options.bias()) out << ", bias=false";
    out << ")";
  }

  Conv1dOptions options;
  Tensor weight, bias;  ///< bias undefined when options.bias() is false
};

}  // namespace tinydiff::nn
