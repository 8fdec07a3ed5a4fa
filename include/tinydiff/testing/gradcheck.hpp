#pragma once
/// @file
/// gradcheck: compares the gradients computed by backward() with central
/// finite differences, for anyone writing an op.
///
/// For a function f of some tensors and a random upstream gradient g (never
/// all-ones: a kernel flipped in space would pass a sum() test), the quantity
/// checked is the directional derivative of L(x) = <f(x), g>:
///
///     analytic  dL/dx_j = (x.grad())_j after f(x).backward(g)
///     numeric   dL/dx_j ~ (L(x + e_j h) - L(x - e_j h)) / (2h)    (accumulated in double)
/// An element passes when |analytic - numeric| <= atol + rtol |numeric|.
/// The worst element (largest error relative to its bound) is reported.
///
/// f runs in float32, so h cannot be tiny: the defaults suit functions whose
/// values and derivatives are of order 1. Inputs must sit at least h away from
/// kinks (relu at 0, abs at 0, clamp at its bounds).
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/core/generator.hpp"
#include "tinydiff/core/tensor.hpp"

namespace tinydiff::testing {

struct GradcheckOptions {
  double eps = 1e-3;   ///< finite-difference step h
  double atol = 1e-3;  ///< absolute tolerance
  double rtol = 1e-2;  ///< relative tolerance
  uint64_t seed = 1234;  ///< for the random upstream gradient
};

struct GradcheckResult {
  bool passed = true;
  size_t checked_elements = 0;
  /// The worst element: which input, which flat index, and both derivatives.
  size_t worst_input = 0;
  int64_t worst_index = -1;
  double analytic = 0.0, numeric = 0.0;
  double worst_ratio = 0.0;  ///< |analytic - numeric| / (atol + rtol |numeric|); passes when <= 1
  std::string message;
  explicit operator bool() const { return passed; }
};

using GradcheckFunction = std::function<Tensor(const std::vector<Tensor>&)>;

namespace detail {
inline double dot(const Tensor& y, const Tensor& g) {
  double total = 0.0;
  const float* py = y.data();
  const float* pg = g.data();
  for (int64_t i = 0, n = y.numel(); i < n; ++i) total += static_cast<double>(py[i]) * pg[i];
  return total;
}
}  // namespace detail

/// Checks the gradients of f with respect to every input that requires grad;
/// inputs that do not are held constant. The caller's tensors are not modified.
/// @param f        the function under test, from its inputs to one tensor
/// @param inputs   the point to check at; mark with requires_grad_() those to differentiate
/// @param options  step h, tolerances and the seed of the upstream gradient
/// @return passed, and the worst element with both derivatives; `message` says it in words
inline GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                                 const GradcheckOptions& options = {}) {
  // Private copies: we perturb them in place and read their .grad().
  std::vector<Tensor> x;
  bool any = false;
  for (const Tensor& t : inputs) {
    if (!t.defined()) {
      x.push_back(t);
      continue;
    }
    Tensor c = t.detach().clone();
    if (t.requires_grad()) {
      c.requires_grad_(true);
      any = true;
    }
    x.push_back(c);
  }
  TD_CHECK(any, "gradcheck", "no input requires grad; mark the inputs to check with requires_grad_()");

  Tensor y = f(x);
  TD_CHECK(y.requires_grad(), "gradcheck", "the function's output (shape ", shape_str(y.shape()),
           ") does not depend on any input that requires grad");
  Generator gen(options.seed);
  const Tensor g = randn(y.shape(), &gen);
  y.backward(g);

  GradcheckResult result;
  NoGradGuard no_grad;
  for (size_t k = 0; k < x.size(); ++k) {
    if (!x[k].defined() || !x[k].requires_grad()) continue;
    const Tensor analytic_grad = x[k].grad();  // undefined: f does not depend on x[k]
    float* p = x[k].data();
    for (int64_t j = 0, n = x[k].numel(); j < n; ++j) {
      const float original = p[j];
      const float up = static_cast<float>(original + options.eps);
      const float down = static_cast<float>(original - options.eps);
      p[j] = up;
      const double l_up = detail::dot(f(x), g);
      p[j] = down;
      const double l_down = detail::dot(f(x), g);
      p[j] = original;
      // Divide by the step actually taken after rounding to float.
      const double numeric = (l_up - l_down) / (static_cast<double>(up) - static_cast<double>(down));
      const double analytic = analytic_grad.defined() ? analytic_grad.data()[j] : 0.0;
      const double ratio = std::fabs(analytic - numeric) / (options.atol + options.rtol * std::fabs(numeric));
      ++result.checked_elements;
      if (ratio > result.worst_ratio || result.worst_index < 0) {
        result.worst_ratio = ratio;
        result.worst_input = k;
        result.worst_index = j;
        result.analytic = analytic;
        result.numeric = numeric;
      }
    }
  }
  result.passed = result.worst_ratio <= 1.0;
  std::ostringstream msg;
  msg << "gradcheck " << (result.passed ? "passed" : "FAILED") << ": worst element is input "
      << result.worst_input << " index " << result.worst_index << " (analytic " << result.analytic
      << ", numeric " << result.numeric << ", error/bound " << result.worst_ratio << ") over "
      << result.checked_elements << " elements";
  result.message = msg.str();
  return result;
}

}  // namespace tinydiff::testing
