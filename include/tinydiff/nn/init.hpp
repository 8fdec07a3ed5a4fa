#pragma once
/// @file
/// nn::init: in-place initialisers, as torch.nn.init. Each writes the tensor's
/// data (no graph is recorded) and returns the same handle. Random ones draw
/// from `gen`, or from the default generator (seeded by manual_seed) when null.
///
/// kaiming_uniform_(w, a=sqrt(5)) is what PyTorch's Linear and Conv layers use:
///
///     gain = sqrt(2 / (1 + a^2)),  bound = gain * sqrt(3 / fan_in)  -> 1/sqrt(fan_in) for a = sqrt(5).
#include <cmath>
#include <cstdint>
#include <utility>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/generator.hpp"
#include "tinydiff/core/tensor.hpp"

namespace tinydiff::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, Conv2d, ConvTranspose2d, Sigmoid, Tanh, ReLU, LeakyReLU, SELU };

/// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain); `param` is leaky_relu's slope.
inline double calculate_gain(Nonlinearity nonlinearity, double param = 0.01) {
  switch (nonlinearity) {
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::SELU: return 3.0 / 4.0;
    default: return 1.0;  // linear, conv, sigmoid
  }
}

/// (fan_in, fan_out) as PyTorch computes them: dim 1 and dim 0 times the receptive field
/// (the product of dims 2...). For ConvTranspose2d's [in, out/groups, kh, kw] weight this
/// makes fan_in = out/groups * kh * kw, exactly as PyTorch does.
inline std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  tinydiff::detail::check_defined("calculate_fan_in_and_fan_out", "tensor", t);
  TD_CHECK(t.dim() >= 2, "calculate_fan_in_and_fan_out", "needs a tensor with at least 2 dims, got shape ",
           shape_str(t.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

/// Fills with `value`.
inline Tensor constant_(const Tensor& t, double value) {
  tinydiff::detail::check_defined("constant_", "tensor", t);
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<float>(value);
  return t;
}
inline Tensor zeros_(const Tensor& t) { return constant_(t, 0.0); }
inline Tensor ones_(const Tensor& t) { return constant_(t, 1.0); }

/// U(a, b): a + (b - a) u with u uniform in [0, 1).
inline Tensor uniform_(const Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr) {
  tinydiff::detail::check_defined("uniform_", "tensor", t);
  TD_CHECK(a <= b, "uniform_", "empty range [", a, ", ", b, ")");
  Generator& g = gen ? *gen : default_generator();
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<float>(a + (b - a) * g.uniform_double());
  return t;
}

/// N(mean, std^2).
inline Tensor normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr) {
  tinydiff::detail::check_defined("normal_", "tensor", t);
  TD_CHECK(std >= 0.0, "normal_", "std must be >= 0, got ", std);
  Generator& g = gen ? *gen : default_generator();
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<float>(mean + std * g.normal());
  return t;
}

namespace detail {
inline int64_t fan(const Tensor& t, FanMode mode, const char* op) {
  tinydiff::detail::check_defined(op, "tensor", t);
  const auto fans = calculate_fan_in_and_fan_out(t);
  const int64_t f = mode == FanMode::FanIn ? fans.first : fans.second;
  TD_CHECK(f > 0, op, "fan is 0 for a tensor of shape ", shape_str(t.shape()));
  return f;
}
}  // namespace detail

/// He et al. uniform: U(-bound, bound), bound = gain * sqrt(3 / fan).
inline Tensor kaiming_uniform_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                               Nonlinearity nonlinearity = Nonlinearity::LeakyReLU, Generator* gen = nullptr) {
  const double gain = calculate_gain(nonlinearity, a);
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(detail::fan(t, mode, "kaiming_uniform_")));
  return uniform_(t, -bound, bound, gen);
}

/// He et al. normal: N(0, std^2), std = gain / sqrt(fan).
inline Tensor kaiming_normal_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                              Nonlinearity nonlinearity = Nonlinearity::LeakyReLU, Generator* gen = nullptr) {
  const double gain = calculate_gain(nonlinearity, a);
  return normal_(t, 0.0, gain / std::sqrt(static_cast<double>(detail::fan(t, mode, "kaiming_normal_"))), gen);
}

/// Glorot uniform: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)).
inline Tensor xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr) {
  tinydiff::detail::check_defined("xavier_uniform_", "tensor", t);
  const auto fans = calculate_fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fans.first + fans.second));
  return uniform_(t, -bound, bound, gen);
}

/// Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).
inline Tensor xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr) {
  tinydiff::detail::check_defined("xavier_normal_", "tensor", t);
  const auto fans = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fans.first + fans.second)), gen);
}

/// PyTorch's default layer initialisation: weight kaiming_uniform_(a = sqrt(5)), i.e.
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
/// fan_in from the weight (as Linear.reset_parameters and _ConvNd.reset_parameters).
inline void default_layer_init_(const Tensor& weight, const Tensor& bias, Generator* gen = nullptr) {
  kaiming_uniform_(weight, std::sqrt(5.0), FanMode::FanIn, Nonlinearity::LeakyReLU, gen);
  if (bias.defined()) {
    const int64_t fan_in = calculate_fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    uniform_(bias, -bound, bound, gen);
  }
}

}  // namespace tinydiff::nn::init
