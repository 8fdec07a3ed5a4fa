#pragma once
/// @file
/// nn::MaxPool2d, nn::AvgPool2d and nn::Upsample, as torch.nn's, over ops/pool.hpp: modules
/// without parameters, so that pooling and upsampling can sit inside nn::Sequential.
/// What the ops support is what the modules offer: ceil_mode=false, count_include_pad=true,
/// and nearest upsampling by integer scale factors.
#include <ostream>
#include <string>

#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/pool.hpp"

namespace tinydiff::nn {

namespace detail {
inline void print_pair(std::ostream& out, const Int2& v) { out << "(" << v.h << ", " << v.w << ")"; }
inline void check_pool_options(const char* module, const Int2& kernel, const Int2& stride, const Int2& padding) {
  TD_CHECK(kernel.h > 0 && kernel.w > 0, module, "kernel_size (", kernel.h, ", ", kernel.w, ") must be positive");
  TD_CHECK(stride.h >= 0 && stride.w >= 0, module, "stride (", stride.h, ", ", stride.w,
           ") must be positive (or 0 for stride = kernel_size)");
  TD_CHECK(padding.h >= 0 && padding.w >= 0 && padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2, module,
           "padding (", padding.h, ", ", padding.w, ") must be non-negative and at most half of kernel_size (",
           kernel.h, ", ", kernel.w, ")");
}
}  // namespace detail

/// stride 0 (the default) means stride = kernel_size, as PyTorch's stride=None.
struct Pool2dOptions {
  Pool2dOptions(Int2 kernel_size) : kernel_size_(kernel_size) {}  // NOLINT: implicit, MaxPool2d(2)
  TINYDIFF_ARG(Int2, kernel_size);
  TINYDIFF_ARG(Int2, stride) = 0;
  TINYDIFF_ARG(Int2, padding) = 0;
};

namespace detail {
/// "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
inline void print_pool(std::ostream& out, const char* module, const Pool2dOptions& o) {
  out << module << "(kernel_size=";
  print_pair(out, o.kernel_size());
  out << ", stride=";
  print_pair(out, o.stride() == Int2(0) ? o.kernel_size() : o.stride());
  out << ", padding=";
  print_pair(out, o.padding());
  out << ")";
}
}  // namespace detail
using MaxPool2dOptions = Pool2dOptions;
using AvgPool2dOptions = Pool2dOptions;

/// Maximum over each window of x [N, C, H, W] (padding is -inf).
class MaxPool2d : public UnaryModule {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options_) : UnaryModule("MaxPool2d"), options(options_) {
    detail::check_pool_options("MaxPool2d", options.kernel_size(), options.stride(), options.padding());
  }
  explicit MaxPool2d(Int2 kernel_size) : MaxPool2d(MaxPool2dOptions(kernel_size)) {}
  Tensor forward(const Tensor& x) override {
    return max_pool2d(x, options.kernel_size(), options.stride(), options.padding());
  }
  void pretty_print(std::ostream& out) const override { detail::print_pool(out, "MaxPool2d", options); }
  MaxPool2dOptions options;
};

/// Average over each window of x [N, C, H, W] (padding counts as zeros: count_include_pad=true).
class AvgPool2d : public UnaryModule {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options_) : UnaryModule("AvgPool2d"), options(options_) {
    detail::check_pool_options("AvgPool2d", options.kernel_size(), options.stride(), options.padding());
  }
  explicit AvgPool2d(Int2 kernel_size) : AvgPool2d(AvgPool2dOptions(kernel_size)) {}
  Tensor forward(const Tensor& x) override {
    return avg_pool2d(x, options.kernel_size(), options.stride(), options.padding());
  }
  void pretty_print(std::ostream& out) const override { detail::print_pool(out, "AvgPool2d", options); }
  AvgPool2dOptions options;
};

struct UpsampleOptions {
  /// Integer factors (height, width); required (0 means not given).
  TINYDIFF_ARG(Int2, scale_factor) = 0;
  /// Only "nearest" (what ops/pool.hpp's upsample_nearest2d computes).
  TINYDIFF_ARG(std::string, mode) = "nearest";
};

/// x [N, C, H, W] -> [N, C, H sh, W sw], each pixel repeated over an sh x sw block.
class Upsample : public UnaryModule {
 public:
  explicit Upsample(const UpsampleOptions& options_) : UnaryModule("Upsample"), options(options_) {
    const Int2& s = options.scale_factor();
    TD_CHECK(s.h > 0 && s.w > 0, "Upsample", "scale_factor (", s.h, ", ", s.w,
             ") must be given and positive (integer factors)");
    TD_CHECK(options.mode() == "nearest", "Upsample", "mode '", options.mode(),
             "' is not supported: only 'nearest' is");
  }
  Tensor forward(const Tensor& x) override { return upsample_nearest2d(x, options.scale_factor()); }
  void pretty_print(std::ostream& out) const override {
    out << "Upsample(scale_factor=";
    detail::print_pair(out, options.scale_factor());
    out << ", mode='" << options.mode() << "')";
  }
  UpsampleOptions options;
};

}  // namespace tinydiff::nn
