#pragma once
// Grad mode: whether ops record nodes at all. Off inside NoGradGuard (inference, sampling,
// optimiser steps, and backward() itself, whose backward functions are not recorded).
#include <initializer_list>

#include "tinydiff/core/tensor_body.hpp"

namespace tinydiff {

/// Grad mode: whether ops record nodes. Thread-local, like PyTorch's.
class GradMode {
 public:
  /// Whether ops on this thread record nodes now.
  static bool is_enabled() { return flag(); }
  /// Turns recording on or off for this thread (prefer NoGradGuard, which restores it).
  static void set_enabled(bool on) { flag() = on; }

 private:
  static bool& flag() {
    thread_local bool enabled = true;
    return enabled;
  }
};

/// RAII: no graph is recorded while it lives (inference, sampling, optimiser steps).
class NoGradGuard {
 public:
  /// Turns grad mode off until the guard is destroyed.
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  /// Restores the grad mode that was in force before.
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// True when an op on these inputs must record a node: grad mode is on and one of them requires a gradient.
inline bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->requires_grad()) return true;
  return false;
}

}  // namespace tinydiff
