#pragma once
/// @file
/// Parameter-free layers: activations (SiLU, ReLU, GELU, Tanh, Sigmoid), Identity and
/// Flatten, so they can stand in a Sequential. Each forwards to its op.
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/activation.hpp"
#include "tinydiff/ops/shape_ops.hpp"
#include "tinydiff/ops/unary.hpp"

namespace tinydiff::nn {

/// y = x sigmoid(x).
class SiLU : public UnaryModule {
 public:
  SiLU() : UnaryModule("SiLU") {}
  Tensor forward(const Tensor& x) override { return silu(x); }
  void pretty_print(std::ostream& out) const override { out << "SiLU()"; }
};

/// y = max(x, 0).
class ReLU : public UnaryModule {
 public:
  ReLU() : UnaryModule("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
  void pretty_print(std::ostream& out) const override { out << "ReLU()"; }
};

/// y = x Phi(x) ("none") or its tanh approximation ("tanh").
class GELU : public UnaryModule {
 public:
  explicit GELU(std::string approximate = "none") : UnaryModule("GELU"), approximate_(std::move(approximate)) {}
  Tensor forward(const Tensor& x) override { return gelu(x, approximate_); }
  void pretty_print(std::ostream& out) const override { out << "GELU(approximate='" << approximate_ << "')"; }

 private:
  std::string approximate_;
};

class Tanh : public UnaryModule {
 public:
  Tanh() : UnaryModule("Tanh") {}
  Tensor forward(const Tensor& x) override { return tanh(x); }
  void pretty_print(std::ostream& out) const override { out << "Tanh()"; }
};

class Sigmoid : public UnaryModule {
 public:
  Sigmoid() : UnaryModule("Sigmoid") {}
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
  void pretty_print(std::ostream& out) const override { out << "Sigmoid()"; }
};

/// y = x (a placeholder, e.g. a skip connection that needs no projection).
class Identity : public UnaryModule {
 public:
  Identity() : UnaryModule("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
  void pretty_print(std::ostream& out) const override { out << "Identity()"; }
};

/// Merges dims start_dim..end_dim into one (nn.Flatten; defaults keep the batch dim).
class Flatten : public UnaryModule {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : UnaryModule("Flatten"), start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) override {
    tinydiff::detail::check_defined("Flatten", "input", x);
    const int64_t rank = x.dim();
    if (rank == 0) return reshape(x, {1});
    const int64_t s = normalize_dim(start_dim_, rank, "Flatten"), e = normalize_dim(end_dim_, rank, "Flatten");
    TD_CHECK(s <= e, "Flatten", "start_dim ", start_dim_, " comes after end_dim ", end_dim_, " for shape ",
             shape_str(x.shape()));
    Shape shape(x.shape().begin(), x.shape().begin() + s);
    int64_t merged = 1;
    for (int64_t d = s; d <= e; ++d) merged *= x.size(d);
    shape.push_back(merged);
    shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
    return reshape(x, shape);
  }
  void pretty_print(std::ostream& out) const override {
    out << "Flatten(start_dim=" << start_dim_ << ", end_dim=" << end_dim_ << ")";
  }

 private:
  int64_t start_dim_, end_dim_;
};

}  // namespace tinydiff::nn
