#pragma once
/// @file
/// optim::Optimizer: the base of SGD, Adam and AdamW, as torch.optim.Optimizer.
///
/// Parameters come in groups (at least one); each group has its own options
/// (its own lr, so schedulers and "no weight decay on norms" work). Per-parameter
/// state (step counts, moment buffers) is indexed by the parameter's position
/// across all groups, as in PyTorch's state_dict, and saved as named tensors:
///
///     "state.<index>.step"       one value (a float, as PyTorch stores it)
///     "state.<index>.<buffer>"   exp_avg, exp_avg_sq, momentum_buffer, ... (the parameter's shape)
/// so that training resumes exactly. Hyperparameters are not saved: they come
/// from the code that builds the optimiser (and its LR schedule).
///
/// step() runs under NoGradGuard and updates each parameter's data in place, so
/// every handle to it (the module's member, its state_dict) sees the new values.
/// Parameters without a gradient are skipped.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/checked.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/core/named_tensors.hpp"
#include "tinydiff/core/tensor.hpp"
#include "tinydiff/ops/map.hpp"

namespace tinydiff::optim {

using NamedTensors = tinydiff::NamedTensors;  // core/named_tensors.hpp

/// Hyperparameters of one parameter group; each optimiser derives its own.
struct OptimizerOptions {
  virtual ~OptimizerOptions() = default;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
  virtual double get_lr() const = 0;
  virtual void set_lr(double lr) = 0;
};

/// Parameters that share options. Without options a group takes the optimiser's defaults.
class OptimizerParamGroup {
 public:
  OptimizerParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}  // NOLINT: implicit
  OptimizerParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options)
      : params_(std::move(params)), options_(std::move(options)) {}
  OptimizerParamGroup(const OptimizerParamGroup& other)
      : params_(other.params_), options_(other.options_ ? other.options_->clone() : nullptr) {}
  OptimizerParamGroup& operator=(const OptimizerParamGroup& other) {
    params_ = other.params_;
    options_ = other.options_ ? other.options_->clone() : nullptr;
    return *this;
  }
  OptimizerParamGroup(OptimizerParamGroup&&) = default;
  OptimizerParamGroup& operator=(OptimizerParamGroup&&) = default;

  const std::vector<Tensor>& params() const { return params_; }
  bool has_options() const { return options_ != nullptr; }
  OptimizerOptions& options() const {
    TD_CHECK(options_ != nullptr, "OptimizerParamGroup", "group has no options");
    return *options_;
  }
  void set_options(std::unique_ptr<OptimizerOptions> options) { options_ = std::move(options); }

 private:
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
};

/// The base of every optimiser: parameter groups, zero_grad(), step(), state_dict() (see the top of the file).
class Optimizer {
 public:
  Optimizer(std::vector<OptimizerParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults, std::string name)
      : defaults_(std::move(defaults)), name_(std::move(name)) {
    TD_CHECK(!groups.empty(), name_, "needs at least one parameter group");
    for (auto& group : groups) add_param_group(group);
  }
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a gradient.
  virtual void step() = 0;

  /// Drops every parameter's gradient (set_to_none, PyTorch's default).
  void zero_grad() {
    for (auto& group : groups_)
      for (const Tensor& p : group.params()) p.zero_grad();
  }

  void add_param_group(const OptimizerParamGroup& group) {
    OptimizerParamGroup g = group;
    if (!g.has_options()) g.set_options(defaults_->clone());
    for (const Tensor& p : g.params()) {
      if (!p.defined())
        tinydiff::detail::throw_undefined_tensor(name_, tinydiff::detail::concat("params[", state_.size(), "]"));
      TD_CHECK(p.is_leaf(), name_, "can't optimize a non-leaf tensor (parameter ", state_.size(), ", shape ",
               shape_str(p.shape()), ")");
      TD_CHECK(seen_.insert(p.impl()).second, name_, "a parameter (shape ", shape_str(p.shape()),
               ") appears in more than one place in the parameter groups");
      state_.emplace_back();
    }
    groups_.push_back(std::move(g));
  }

  const std::vector<OptimizerParamGroup>& param_groups() const { return groups_; }
  size_t num_param_groups() const { return groups_.size(); }
  /// All parameters, in index order (group by group).
  std::vector<Tensor> parameters() const {
    std::vector<Tensor> out;
    for (auto& group : groups_) out.insert(out.end(), group.params().begin(), group.params().end());
    return out;
  }
  const std::string& name() const { return name_; }

  /// Learning rate of one group / of every group (what LR schedulers set).
  double get_lr(size_t group = 0) const { return checked_group(group).options().get_lr(); }
  void set_lr(double lr) {
    for (auto& group : groups_) group.options().set_lr(lr);
  }
  void set_lr(size_t group, double lr) { checked_group(group).options().set_lr(lr); }

  /// The per-parameter state as named tensors (copies, safe to keep).
  NamedTensors state_dict() const {
    NamedTensors out;
    for (size_t i = 0; i < state_.size(); ++i) {
      const ParamState& s = state_[i];
      const std::string prefix = "state." + std::to_string(i) + ".";
      if (s.step > 0) out.emplace_back(prefix + "step", scalar_tensor(static_cast<float>(s.step)));
      for (auto& buffer : s.buffers) out.emplace_back(prefix + buffer.first, tinydiff::detail::copy_of(buffer.second));
    }
    return out;
  }

  /// Replaces the per-parameter state with `state` (copied). Throws tinydiff::Error on an
  /// unknown key, an index past the parameters, a shape mismatch, or a parameter whose
  /// state is incomplete; nothing changes unless all checks pass.
  void load_state_dict(const NamedTensors& state, const std::string& source = "state_dict") {
    const std::vector<Tensor> params = parameters();
    std::vector<ParamState> loaded(params.size());
    std::vector<bool> touched(params.size(), false);
    const char* op = "Optimizer::load_state_dict";
    for (auto& [key, value] : state) {
      const std::string what = name_ + ": " + source + " entry '" + key + "'";
      TD_CHECK(value.defined(), op, what, " is undefined");
      const size_t dot = key.find('.', 6);
      TD_CHECK(key.compare(0, 6, "state.") == 0 && dot != std::string::npos && dot > 6, op, what,
               " is not of the form state.<index>.<name>");
      const std::string index_text = key.substr(6, dot - 6), field = key.substr(dot + 1);
      TD_CHECK(index_text.find_first_not_of("0123456789") == std::string::npos && index_text.size() < 10, op, what,
               " has a bad parameter index");
      const size_t index = std::stoul(index_text);
      TD_CHECK(index < params.size(), op, what, " is for parameter ", index, " but there are only ", params.size());
      touched[index] = true;
      if (field == "step") {
        TD_CHECK(value.numel() == 1, op, what, " should hold one value, has shape ", shape_str(value.shape()));
        const float step = value.data()[0];
        // A whole number in int64's range (inf, NaN or 2.6e20 would make the cast undefined).
        TD_CHECK(tinydiff::detail::is_int64_count(step), op, what, " is not a step count: ", step);
        loaded[index].step = static_cast<int64_t>(step);
        continue;
      }
      const auto names = state_names(group_of(index));
      bool known = false;
      for (auto& n : names) known = known || n == field;
      TD_CHECK(known, op, what, ": '", field, "' is not part of ", name_, "'s state");
      TD_CHECK(value.shape() == params[index].shape(), op, what, " has shape ", shape_str(value.shape()),
               " but parameter ", index, " has shape ", shape_str(params[index].shape()));
      loaded[index].buffers[field] = tinydiff::detail::copy_of(value);
    }
    for (size_t i = 0; i < params.size(); ++i) {
      if (!touched[i]) continue;
      for (auto& n : state_names(group_of(i)))
        TD_CHECK(loaded[i].buffers.count(n), op, name_, ": ", source, " has state for parameter ", i, " but no '", n,
                 "'");
    }
    state_ = std::move(loaded);
  }

 protected:
  struct ParamState {
    int64_t step = 0;                      ///< updates applied to this parameter (Adam)
    std::map<std::string, Tensor> buffers;  ///< exp_avg, momentum_buffer, ...
  };

  /// The buffers a parameter of `group` carries once it has been updated (for load checks).
  virtual std::vector<std::string> state_names(size_t group) const = 0;

  ParamState& state(size_t index) { return state_[index]; }
  OptimizerParamGroup& group(size_t g) { return groups_[g]; }
  const OptimizerParamGroup& checked_group(size_t g) const {
    TD_CHECK(g < groups_.size(), name_, "parameter group ", g, " does not exist (there are ", groups_.size(), ")");
    return groups_[g];
  }
  size_t group_of(size_t index) const {
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (index < groups_[g].params().size()) return g;
      index -= groups_[g].params().size();
    }
    return groups_.size();
  }
  /// The gradient of p, checked against its shape; undefined when p has none (skip it).
  Tensor grad_of(const Tensor& p, size_t index) const {
    Tensor g = p.grad();
    if (g.defined())
      TD_CHECK(g.shape() == p.shape(), name_, "parameter ", index, " of shape ", shape_str(p.shape()),
               " has a gradient of shape ", shape_str(g.shape()));
    return g;
  }

 private:
  std::vector<OptimizerParamGroup> groups_;
  std::unique_ptr<OptimizerOptions> defaults_;
  std::string name_;
  std::vector<ParamState> state_;
  std::set<const TensorImpl*> seen_;
};

}  // namespace tinydiff::optim
