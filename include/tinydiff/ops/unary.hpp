#pragma once
/// @file
/// Elementwise functions and activations. Each op: forward map, then a backward
/// that multiplies the upstream gradient g by the local derivative dy/dx.
#include <cmath>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/fast_math.hpp"
#include "tinydiff/kernels/parallel_ranges.hpp"
#include "tinydiff/kernels/tiers.hpp"
#include "tinydiff/ops/map.hpp"

namespace tinydiff {

namespace detail {
/// Records a unary op whose gradient is g * derivative(x, y), elementwise.
template <typename Derivative>
void record_unary(const Tensor& y, const char* name, const Tensor& x, Derivative derivative) {
  record_op(y, name, {x}, [x = x.detach(), y = y.detach(), derivative](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{
        map(g, x, y, [derivative](float gi, float xi, float yi) { return gi * derivative(xi, yi); })};
  });
}
}  // namespace detail

/// y = e^x.  dy/dx = e^x = y.
inline Tensor exp(const Tensor& x) {
  detail::check_defined("exp", "input", x);
  Tensor y = detail::map(x, [](float v) { return std::exp(v); });
  detail::record_unary(y, "exp", x, [](float, float yi) { return yi; });
  return y;
}

/// y = ln x.  dy/dx = 1 / x.
inline Tensor log(const Tensor& x) {
  detail::check_defined("log", "input", x);
  Tensor y = detail::map(x, [](float v) { return std::log(v); });
  detail::record_unary(y, "log", x, [](float xi, float) { return 1.0f / xi; });
  return y;
}

/// y = sqrt(x).  dy/dx = 1 / (2 sqrt(x)) = 0.5 / y.
inline Tensor sqrt(const Tensor& x) {
  detail::check_defined("sqrt", "input", x);
  Tensor y = detail::map(x, [](float v) { return std::sqrt(v); });
  detail::record_unary(y, "sqrt", x, [](float, float yi) { return 0.5f / yi; });
  return y;
}

/// y = x^p for a constant p.  dy/dx = p x^(p-1).
inline Tensor pow(const Tensor& x, float p) {
  detail::check_defined("pow", "input", x);
  Tensor y = detail::map(x, [p](float v) { return std::pow(v, p); });
  detail::record_unary(y, "pow", x, [p](float xi, float) { return p == 0.0f ? 0.0f : p * std::pow(xi, p - 1.0f); });
  return y;
}

/// y = sin x.  dy/dx = cos x.
inline Tensor sin(const Tensor& x) {
  detail::check_defined("sin", "input", x);
  Tensor y = detail::map(x, [](float v) { return std::sin(v); });
  detail::record_unary(y, "sin", x, [](float xi, float) { return std::cos(xi); });
  return y;
}

/// y = cos x.  dy/dx = -sin x.
inline Tensor cos(const Tensor& x) {
  detail::check_defined("cos", "input", x);
  Tensor y = detail::map(x, [](float v) { return std::cos(v); });
  detail::record_unary(y, "cos", x, [](float xi, float) { return -std::sin(xi); });
  return y;
}

/// y = |x|.  dy/dx = sign(x), 0 at 0 (as PyTorch).
inline Tensor abs(const Tensor& x) {
  detail::check_defined("abs", "input", x);
  Tensor y = detail::map(x, [](float v) { return std::fabs(v); });
  detail::record_unary(y, "abs", x, [](float xi, float) { return xi > 0.0f ? 1.0f : (xi < 0.0f ? -1.0f : 0.0f); });
  return y;
}

/// y = min(max(x, lo), hi).  dy/dx = 1 where lo <= x <= hi, else 0 (as PyTorch).
inline Tensor clamp(const Tensor& x, float lo, float hi) {
  detail::check_defined("clamp", "input", x);
  TD_CHECK(!(lo > hi), "clamp", "min ", lo, " is greater than max ", hi);
  Tensor y = detail::map(x, [lo, hi](float v) { return v < lo ? lo : (v > hi ? hi : v); });
  detail::record_unary(y, "clamp", x, [lo, hi](float xi, float) { return (xi >= lo && xi <= hi) ? 1.0f : 0.0f; });
  return y;
}

/// y = tanh x.  dy/dx = 1 - y^2.
inline Tensor tanh(const Tensor& x) {
  detail::check_defined("tanh", "input", x);
  Tensor y = detail::map(x, [](float v) { return std::tanh(v); });
  detail::record_unary(y, "tanh", x, [](float, float yi) { return 1.0f - yi * yi; });
  return y;
}

namespace detail {
/// 1 / (1 + e^-v) through the vectorisable exp (kernels/fast_math.hpp): silu and
/// sigmoid are among the hottest loops of a convolutional network.
inline float sigmoid_scalar(float v) { return kernels::fast_sigmoid(v); }
}  // namespace detail

/// y = 1 / (1 + e^-x).  dy/dx = y (1 - y).
inline Tensor sigmoid(const Tensor& x) {
  detail::check_defined("sigmoid", "input", x);
  Tensor y = detail::map(x, detail::sigmoid_scalar);
  detail::record_unary(y, "sigmoid", x, [](float, float yi) { return yi * (1.0f - yi); });
  return y;
}

/// y = max(x, 0).  dy/dx = 1 for x > 0, else 0.
inline Tensor relu(const Tensor& x) {
  detail::check_defined("relu", "input", x);
  Tensor y = detail::map(x, [](float v) { return v > 0.0f ? v : 0.0f; });
  detail::record_unary(y, "relu", x, [](float xi, float) { return xi > 0.0f ? 1.0f : 0.0f; });
  return y;
}

/// y = x sigmoid(x) (a.k.a. swish).  dy/dx = s (1 + x (1 - s)), s = sigmoid(x).
/// Both directions run on the tier kernels (kernels/tier/elementwise.inl): silu is among the
/// hottest elementwise loops of a convolutional network, and there they are vectorised for the
/// CPU the program runs on, whatever flags it was built with.
inline Tensor silu(const Tensor& x) {
  detail::check_defined("silu", "input", x);
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  const int64_t n = x.numel();
  kernels::parallel_ranges(n, n > detail::kParallelGrain, [&](int64_t begin, int64_t end) {
    kernels::tier_kernels().silu_forward(px + begin, py + begin, end - begin);
  });
  record_op(y, "silu", {x}, [x = x.detach()](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(x.shape());
    const float* px = x.data();
    const float* pg = g.data();
    float* pdx = dx.data();
    const int64_t n = x.numel();
    kernels::parallel_ranges(n, n > detail::kParallelGrain, [&](int64_t begin, int64_t end) {
      kernels::tier_kernels().silu_backward(px + begin, pg + begin, pdx + begin, end - begin);
    });
    return std::vector<Tensor>{dx};
  });
  return y;
}

/// y = erf x.  dy/dx = 2 / sqrt(pi) e^(-x^2).
inline Tensor erf(const Tensor& x) {
  detail::check_defined("erf", "input", x);
  Tensor y = detail::map(x, [](float v) { return std::erf(v); });
  detail::record_unary(y, "erf", x, [](float xi, float) { return 1.12837916709551257f * std::exp(-xi * xi); });
  return y;
}

/// y = ln(1 + x), accurate for small x.  dy/dx = 1 / (1 + x).
inline Tensor log1p(const Tensor& x) {
  detail::check_defined("log1p", "input", x);
  Tensor y = detail::map(x, [](float v) { return std::log1p(v); });
  detail::record_unary(y, "log1p", x, [](float xi, float) { return 1.0f / (1.0f + xi); });
  return y;
}

}  // namespace tinydiff
