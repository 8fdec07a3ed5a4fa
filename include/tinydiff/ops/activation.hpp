#pragma once
/// @file
/// Activations beyond the elementwise ones in ops/unary.hpp (relu, sigmoid, tanh,
/// silu live there): gelu, leaky_relu, elu, softplus, and softmax / log_softmax along a dim.
#include <cmath>
#include <string>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/softmax.hpp"
#include "tinydiff/ops/map.hpp"
#include "tinydiff/ops/shape_ops.hpp"
#include "tinydiff/ops/unary.hpp"

namespace tinydiff {

namespace detail {
constexpr float kInvSqrt2 = 0.70710678118654752f;     // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;   // 1 / sqrt(2 pi)
constexpr float kSqrt2OverPi = 0.79788456080286536f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;
}  // namespace detail

/// GELU, as torch.nn.functional.gelu.
/// approximate = "none" (exact, the default):
///
///     y = x Phi(x) = x/2 (1 + erf(x / sqrt 2)),        dy/dx = Phi(x) + x phi(x),  phi(x) = e^(-x^2/2) / sqrt(2 pi)
/// approximate = "tanh":
///
///     y = x/2 (1 + tanh u),  u = sqrt(2/pi) (x + 0.044715 x^3),
///     dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
inline Tensor gelu(const Tensor& x, const std::string& approximate = "none") {
  detail::check_defined("gelu", "input", x);
  using namespace detail;
  TD_CHECK(approximate == "none" || approximate == "tanh", "gelu", "approximate must be \"none\" or \"tanh\", got \"",
           approximate, "\"");
  const bool tanh_form = approximate == "tanh";
  Tensor y;
  if (tanh_form) {
    y = map(x, [](float v) { return 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v))); });
  } else {
    y = map(x, [](float v) { return 0.5f * v * (1.0f + std::erf(v * kInvSqrt2)); });
  }
  record_op(y, "gelu", {x}, [x = x.detach(), tanh_form](const Tensor& g, const std::vector<bool>&) {
    Tensor dx;
    if (tanh_form) {
      dx = map(g, x, [](float gi, float v) {
        const float t = std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
        const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
        return gi * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
      });
    } else {
      dx = map(g, x, [](float gi, float v) {
        const float cdf = 0.5f * (1.0f + std::erf(v * kInvSqrt2));
        const float pdf = kInvSqrt2Pi * std::exp(-0.5f * v * v);
        return gi * (cdf + v * pdf);
      });
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}

namespace detail {
/// softmax or log_softmax of x along dim, with its backward (kernels/softmax.hpp).
inline Tensor softmax_op(const Tensor& x, int64_t dim, bool log, const char* name) {
  check_defined(name, "input", x);
  TD_CHECK(x.dim() >= 1, name, "expected a tensor of at least 1 dim, got shape ", shape_str(x.shape()));
  const int64_t rank = x.dim();
  TD_CHECK(dim >= -rank && dim < rank, name, "dim ", dim, " is out of range for input of shape ",
           shape_str(x.shape()));
  const auto a = around_dim(x.shape(), dim < 0 ? dim + rank : dim);
  Tensor y = Tensor::empty(x.shape());
  kernels::softmax_forward(x.data(), y.data(), a.outer, a.size, a.inner, log);
  record_op(y, name, {x}, [y = y.detach(), a, log](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(y.shape());
    kernels::softmax_backward(g.data(), y.data(), dx.data(), a.outer, a.size, a.inner, log);
    return std::vector<Tensor>{dx};
  });
  return y;
}
}  // namespace detail

/// Softmax along dim (stable: the max is subtracted first).
///
///     y_i = e^(x_i) / sum_j e^(x_j),  dx_i = y_i (g_i - sum_j g_j y_j)
inline Tensor softmax(const Tensor& x, int64_t dim) { return detail::softmax_op(x, dim, false, "softmax"); }

/// Log-softmax along dim (stable).
///
///     y_i = x_i - log sum_j e^(x_j),  dx_i = g_i - softmax_i sum_j g_j
inline Tensor log_softmax(const Tensor& x, int64_t dim) { return detail::softmax_op(x, dim, true, "log_softmax"); }

/// y = x for x > 0, else negative_slope x.  dy/dx = 1 for x > 0, else negative_slope (at 0 too, as PyTorch).
inline Tensor leaky_relu(const Tensor& x, float negative_slope = 0.01f) {
  detail::check_defined("leaky_relu", "input", x);
  Tensor y = detail::map(x, [negative_slope](float v) { return v > 0.0f ? v : negative_slope * v; });
  detail::record_unary(y, "leaky_relu", x,
                       [negative_slope](float xi, float) { return xi > 0.0f ? 1.0f : negative_slope; });
  return y;
}

/// y = x for x > 0, else alpha (e^x - 1).  dy/dx = 1 for x > 0, else alpha e^x.
inline Tensor elu(const Tensor& x, float alpha = 1.0f) {
  detail::check_defined("elu", "input", x);
  Tensor y = detail::map(x, [alpha](float v) { return v > 0.0f ? v : alpha * std::expm1(v); });
  detail::record_unary(y, "elu", x, [alpha](float xi, float) { return xi > 0.0f ? 1.0f : alpha * std::exp(xi); });
  return y;
}

/// y = ln(1 + e^(beta x)) / beta, and y = x where beta x > threshold (PyTorch's linear region,
/// where the two agree to float precision).  dy/dx = sigmoid(beta x), 1 in the linear region.
inline Tensor softplus(const Tensor& x, float beta = 1.0f, float threshold = 20.0f) {
  detail::check_defined("softplus", "input", x);
  TD_CHECK(beta != 0.0f, "softplus", "beta must be non-zero, got ", beta);
  Tensor y = detail::map(x, [beta, threshold](float v) {
    return beta * v > threshold ? v : std::log1p(std::exp(beta * v)) / beta;
  });
  detail::record_unary(y, "softplus", x, [beta, threshold](float xi, float) {
    if (beta * xi > threshold) return 1.0f;
    const float z = std::exp(beta * xi);
    return z / (z + 1.0f);
  });
  return y;
}

}  // namespace tinydiff
