#pragma once
/// @file
/// nn::Sequential: unary modules called in order, registered as children "0", "1", ...
///
///     auto mlp = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(nn::LinearOptions(2, 16)),
///                                                 std::make_shared<nn::SiLU>(), ...);
/// or push_back one at a time.
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tinydiff/nn/module.hpp"

namespace tinydiff::nn {

class Sequential : public UnaryModule {
 public:
  Sequential() : UnaryModule("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<UnaryModule>> modules) : Sequential() {
    for (auto& m : modules) push_back(m);
  }
  /// Sequential(a, b, c) for any unary modules a, b, c (each a shared_ptr).
  template <typename First, typename... Rest>
  explicit Sequential(std::shared_ptr<First> first, std::shared_ptr<Rest>... rest)
      : Sequential({std::shared_ptr<UnaryModule>(std::move(first)), std::shared_ptr<UnaryModule>(std::move(rest))...}) {}

  /// Appends a module, named by its position; returns it with its own type.
  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    std::shared_ptr<UnaryModule> unary = module;  // M must be a UnaryModule
    register_module(std::to_string(modules_.size()), unary);
    modules_.push_back(unary);
    return module;
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (auto& m : modules_) y = m->forward(y);
    return y;
  }

  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  const std::shared_ptr<UnaryModule>& operator[](size_t i) const { return ptr(i); }
  const std::shared_ptr<UnaryModule>& ptr(size_t i) const {
    TD_CHECK(i < modules_.size(), "Sequential", "index ", i, " is out of range for ", modules_.size(), " modules");
    return modules_[i];
  }
  /// Entry i as type M; throws if it is not one.
  template <typename M>
  std::shared_ptr<M> ptr(size_t i) const {
    return tinydiff::detail::entry_as<M>(ptr(i), i, "Sequential");
  }
  std::vector<std::shared_ptr<UnaryModule>>::const_iterator begin() const { return modules_.begin(); }
  std::vector<std::shared_ptr<UnaryModule>>::const_iterator end() const { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<UnaryModule>> modules_;
};

}  // namespace tinydiff::nn
