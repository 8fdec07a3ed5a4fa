#pragma once
/// @file
/// nn::Dropout: zeroes each element with probability p while training (scaling the
/// rest by 1 / (1 - p)) and is the identity in eval mode, as torch.nn.Dropout.
#include <ostream>

#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/dropout.hpp"

namespace tinydiff::nn {

using GeneratorPtr = Generator*;  // (TINYDIFF_ARG needs a one-word type)

struct DropoutOptions {
  DropoutOptions(double p = 0.5) : p_(p) {}  // NOLINT: implicit, so Dropout(0.1) works
  TINYDIFF_ARG(double, p);
  /// Where the masks are drawn from; the default generator when null.
  TINYDIFF_ARG(GeneratorPtr, generator) = nullptr;
};

class Dropout : public UnaryModule {
 public:
  explicit Dropout(const DropoutOptions& options_ = DropoutOptions()) : UnaryModule("Dropout"), options(options_) {
    TD_CHECK(options.p() >= 0.0 && options.p() <= 1.0, "Dropout", "probability p must be in [0, 1], got ",
             options.p());
  }

  Tensor forward(const Tensor& x) override { return dropout(x, options.p(), is_training(), options.generator()); }

  void pretty_print(std::ostream& out) const override { out << "Dropout(p=" << options.p() << ")"; }

  DropoutOptions options;
};

}  // namespace tinydiff::nn
