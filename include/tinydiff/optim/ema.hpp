#pragma once
/// @file
/// optim::EMA: an exponential moving average of a module's parameters (the
/// "EMA weights" diffusion models are sampled with), as diffusers' EMAModel.
///
/// After each optimizer.step(), update():
///
///     d = decay                                 (warmup off)
///     d = min(decay, (1 + n) / (10 + n))        (warmup on; n = updates so far)
///     shadow = shadow - (1 - d) (shadow - param)
/// Parameters that do not require grad are copied as they are.
///
/// To evaluate with the averaged weights and switch back:
///
///     { optim::EMAGuard use_ema(ema, *model); sample(*model); }   // store + copy_to ... restore
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tinydiff/core/arg.hpp"
#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/checked.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/map.hpp"

namespace tinydiff::optim {

struct EMAOptions {
  TINYDIFF_ARG(double, decay) = 0.9999;
  /// Ramp the decay up as (1 + n) / (10 + n), so early averages are not dominated by the random init.
  TINYDIFF_ARG(bool, warmup) = true;
};

/// The moving average of a module's parameters: update() after each step, EMAGuard to sample with it.
class EMA {
 public:
  /// Tracks `module`'s parameters (by name); the average starts as a copy of them.
  explicit EMA(const nn::Module& module, const EMAOptions& options = EMAOptions()) : options_(options) {
    TD_CHECK(options.decay() >= 0.0 && options.decay() <= 1.0, "EMA", "decay must be in [0, 1], got ",
             options.decay());
    tracked_ = module.named_parameters();
    for (auto& [name, p] : tracked_) shadow_.emplace_back(name, tinydiff::detail::copy_of(p));
  }

  /// The decay the next update() uses.
  double current_decay() const {
    if (!options_.warmup()) return options_.decay();
    const auto n = static_cast<double>(num_updates_);
    return std::min(options_.decay(), (1.0 + n) / (10.0 + n));
  }

  /// Moves the average towards the tracked parameters' current values.
  void update() {
    NoGradGuard no_grad;
    const auto one_minus_decay = static_cast<float>(1.0 - current_decay());
    for (size_t i = 0; i < shadow_.size(); ++i) {
      const Tensor& p = tracked_[i].second;
      float* s = shadow_[i].second.data();
      const float* w = p.data();
      const int64_t n = p.numel();
      if (!p.requires_grad()) {
        std::memcpy(s, w, sizeof(float) * static_cast<size_t>(n));
        continue;
      }
#pragma omp parallel for schedule(static) if (n > tinydiff::detail::kParallelGrain)
      for (int64_t k = 0; k < n; ++k) s[k] -= one_minus_decay * (s[k] - w[k]);
    }
    ++num_updates_;
  }

  int64_t num_updates() const { return num_updates_; }
  const EMAOptions& options() const { return options_; }
  /// The averaged parameters, named as the module's.
  const nn::NamedTensors& shadow_params() const { return shadow_; }

  /// Writes the averaged values into `module`'s parameters (same names and shapes).
  void copy_to(nn::Module& module) const { copy_values(shadow_, module.named_parameters(), "copy_to"); }

  /// Saves a copy of `module`'s current parameters, for restore().
  void store(const nn::Module& module) {
    stored_.clear();
    for (auto& [name, p] : module.named_parameters()) stored_.emplace_back(name, tinydiff::detail::copy_of(p));
  }
  /// Puts back the parameters saved by store().
  void restore(nn::Module& module) {
    TD_CHECK(!stored_.empty() || module.named_parameters().empty(), "EMA::restore", "nothing was stored");
    copy_values(stored_, module.named_parameters(), "restore");
    stored_.clear();
  }

  /// "shadow.<parameter name>" for each average, and "num_updates".
  nn::NamedTensors state_dict() const {
    nn::NamedTensors out;
    for (auto& [name, s] : shadow_) out.emplace_back("shadow." + name, tinydiff::detail::copy_of(s));
    out.emplace_back("num_updates", scalar_tensor(static_cast<float>(num_updates_)));
    return out;
  }
  /// Restores the averages and the update count; every key must match (strict).
  void load_state_dict(const nn::NamedTensors& state, const std::string& source = "state_dict") {
    std::unordered_map<std::string, const Tensor*> given;
    for (auto& [key, value] : state) given[key] = &value;
    const char* op = "EMA::load_state_dict";
    TD_CHECK(given.size() == shadow_.size() + 1, op, source, " has ", given.size(), " entries, expected ",
             shadow_.size() + 1, " (one per parameter and num_updates)");
    auto count = given.find("num_updates");
    TD_CHECK(count != given.end() && count->second->numel() == 1, op, source, " has no one-value 'num_updates'");
    const float n = count->second->data()[0];
    // A whole number in int64's range (inf, NaN or 2.6e20 would make the cast undefined).
    TD_CHECK(tinydiff::detail::is_int64_count(n), op, source, ": num_updates ", n, " is not a count");
    for (auto& [name, s] : shadow_) {
      auto it = given.find("shadow." + name);
      TD_CHECK(it != given.end(), op, source, " has no 'shadow.", name, "'");
      TD_CHECK(it->second->shape() == s.shape(), op, source, ": 'shadow.", name, "' has shape ",
               shape_str(it->second->shape()), ", the parameter has ", shape_str(s.shape()));
    }
    for (auto& [name, s] : shadow_) {
      const Tensor& src = *given.at("shadow." + name);
      std::memcpy(s.data(), src.data(), sizeof(float) * static_cast<size_t>(s.numel()));
    }
    num_updates_ = static_cast<int64_t>(n);
  }

 private:
  static void copy_values(const nn::NamedTensors& from, const nn::NamedTensors& to, const char* what) {
    const std::string op = std::string("EMA::") + what;
    TD_CHECK(from.size() == to.size(), op, "the module has ", to.size(), " parameters, the EMA ",
             from.size());
    for (size_t i = 0; i < from.size(); ++i) {
      TD_CHECK(from[i].first == to[i].first && from[i].second.shape() == to[i].second.shape(), op, "parameter ", i, " is '", to[i].first, "' ", shape_str(to[i].second.shape()), " in the module but '",
               from[i].first, "' ", shape_str(from[i].second.shape()), " in the EMA");
      std::memcpy(to[i].second.mutable_data(), from[i].second.data(), sizeof(float) * static_cast<size_t>(from[i].second.numel()));
    }
  }

  EMAOptions options_;
  nn::NamedTensors tracked_;  ///< handles to the module's parameters
  nn::NamedTensors shadow_;   ///< the averages
  nn::NamedTensors stored_;   ///< saved by store()
  int64_t num_updates_ = 0;
};

/// RAII: the module holds the EMA weights while the guard lives, its own weights after.
class EMAGuard {
 public:
  EMAGuard(EMA& ema, nn::Module& module) : ema_(ema), module_(module) {
    ema_.store(module_);
    ema_.copy_to(module_);
  }
  ~EMAGuard() { ema_.restore(module_); }
  EMAGuard(const EMAGuard&) = delete;
  EMAGuard& operator=(const EMAGuard&) = delete;

 private:
  EMA& ema_;
  nn::Module& module_;
};

}  // namespace tinydiff::optim
