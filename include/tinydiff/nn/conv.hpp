#pragma once
/// @file
/// nn::Conv2d and nn::ConvTranspose2d, as torch.nn's, over ops/conv.hpp.
///
///     Conv2d           weight [out, in/groups, kh, kw]   fan_in = in/groups * kh * kw
///     ConvTranspose2d  weight [in, out/groups, kh, kw]   fan_in = out/groups * kh * kw (weight dim 1, as PyTorch)
/// Both: weight kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
#include <cstdint>
#include <ostream>

#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/conv.hpp"

namespace tinydiff::nn {

namespace detail {
inline void print_int2(std::ostream& out, const char* name, const Int2& v) {
  out << ", " << name << "=(" << v.h << ", " << v.w << ")";
}

/// The channel checks every convolution module makes on its options (Conv1d, Conv2d, ConvTranspose2d).
inline void check_conv_channels(const char* module, int64_t in_channels, int64_t out_channels, int64_t groups) {
  TD_CHECK(in_channels > 0 && out_channels > 0 && groups > 0, module,
           "in_channels, out_channels and groups must be positive, got ", in_channels, ", ", out_channels, ", ",
           groups);
  TD_CHECK(in_channels % groups == 0 && out_channels % groups == 0, module, "in_channels ", in_channels,
           " and out_channels ", out_channels, " must be divisible by groups ", groups);
}

/// check_conv_channels and a positive kernel size (Conv2d, ConvTranspose2d).
inline void check_conv2d_options(const char* module, int64_t in_channels, int64_t out_channels, int64_t groups,
                                 Int2 kernel_size) {
  check_conv_channels(module, in_channels, out_channels, groups);
  TD_CHECK(kernel_size.h > 0 && kernel_size.w > 0, module, "kernel_size must be positive, got (", kernel_size.h,
           ", ", kernel_size.w, ")");
}
}  // namespace detail

struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, Int2 kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  TINYDIFF_ARG(int64_t, in_channels);
  TINYDIFF_ARG(int64_t, out_channels);
  TINYDIFF_ARG(Int2, kernel_size);
  TINYDIFF_ARG(Int2, stride) = 1;
  TINYDIFF_ARG(Int2, padding) = 0;
  TINYDIFF_ARG(Int2, dilation) = 1;
  TINYDIFF_ARG(int64_t, groups) = 1;
  TINYDIFF_ARG(bool, bias) = true;
};

class Conv2d : public UnaryModule {
 public:
  /// Initial values are drawn from `gen`, or the default generator when null.
  explicit Conv2d(const Conv2dOptions& options_, Generator* gen = nullptr) : UnaryModule("Conv2d"), options(options_) {
    const auto& o = options;
    detail::check_conv2d_options("Conv2d", o.in_channels(), o.out_channels(), o.groups(), o.kernel_size());
    weight = register_parameter(
        "weight", empty({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size().h, o.kernel_size().w}));
    if (o.bias()) bias = register_parameter("bias", empty({o.out_channels()}));
    reset_parameters(gen);
  }

  void reset_parameters(Generator* gen = nullptr) { init::default_layer_init_(weight, bias, gen); }

  /// x [N, in, H, W] -> [N, out, Hout, Wout].
  Tensor forward(const Tensor& x) override {
    return conv2d(x, weight, bias, options.stride(), options.padding(), options.dilation(), options.groups());
  }

  void pretty_print(std::ostream& out) const override {
    out << "Conv2d(" << options.in_channels() << ", " << options.out_channels();
    detail::print_int2(out, "kernel_size", options.kernel_size());
    detail::print_int2(out, "stride", options.stride());
    if (!(options.padding() == Int2(0))) detail::print_int2(out, "padding", options.padding());
    if (!(options.dilation() == Int2(1))) detail::print_int2(out, "dilation", options.dilation());
    if (options.groups() != 1) out << ", groups=" << options.groups();
    if (!options.bias()) out << ", bias=false";
    out << ")";
  }

  Conv2dOptions options;
  Tensor weight, bias;  ///< bias undefined when options.bias() is false
};

struct ConvTranspose2dOptions {
  ConvTranspose2dOptions(int64_t in_channels, int64_t out_channels, Int2 kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  TINYDIFF_ARG(int64_t, in_channels);
  TINYDIFF_ARG(int64_t, out_channels);
  TINYDIFF_ARG(Int2, kernel_size);
  TINYDIFF_ARG(Int2, stride) = 1;
  TINYDIFF_ARG(Int2, padding) = 0;
  TINYDIFF_ARG(Int2, output_padding) = 0;
  TINYDIFF_ARG(int64_t, groups) = 1;
  TINYDIFF_ARG(bool, bias) = true;
  TINYDIFF_ARG(Int2, dilation) = 1;
};

class ConvTranspose2d : public UnaryModule {
 public:
  /// Initial values are drawn from `gen`, or the default generator when null.
  explicit ConvTranspose2d(const ConvTranspose2dOptions& options_, Generator* gen = nullptr)
      : UnaryModule("ConvTranspose2d"), options(options_) {
    const auto& o = options;
    detail::check_conv2d_options("ConvTranspose2d", o.in_channels(), o.out_channels(), o.groups(), o.kernel_size());
    weight = register_parameter(
        "weight", empty({o.in_channels(), o.out_channels() / o.groups(), o.kernel_size().h, o.kernel_size().w}));
    if (o.bias()) bias = register_parameter("bias", empty({o.out_channels()}));
    reset_parameters(gen);
  }

  void reset_parameters(Generator* gen = nullptr) { init::default_layer_init_(weight, bias, gen); }

  /// x [N, in, H, W] -> [N, out, Hout, Wout], Hout = (H - 1) s - 2 p + d (k - 1) + output_padding + 1.
  Tensor forward(const Tensor& x) override {
    return conv_transpose2d(x, weight, bias, options.stride(), options.padding(), options.output_padding(),
                            options.groups(), options.dilation());
  }

  void pretty_print(std::ostream& out) const override {
    out << "ConvTranspose2d(" << options.in_channels() << ", " << options.out_channels();
    detail::print_int2(out, "kernel_size", options.kernel_size());
    detail::print_int2(out, "stride", options.stride());
    if (!(options.padding() == Int2(0))) detail::print_int2(out, "padding", options.padding());
    if (!(options.output_padding() == Int2(0))) detail::print_int2(out, "output_padding", options.output_padding());
    if (!(options.dilation() == Int2(1))) detail::print_int2(out, "dilation", options.dilation());
    if (options.groups() != 1) out << ", groups=" << options.groups();
    if (!options.bias()) out << ", bias=false";
    out << ")";
  }

  ConvTranspose2dOptions options;
  Tensor weight, bias;  ///< bias undefined when options.bias() is false
};

}  // namespace tinydiff::nn
