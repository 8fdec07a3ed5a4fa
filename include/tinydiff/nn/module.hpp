#pragma once
/// @file
/// nn::Module: the base of every layer and model, as torch.nn.Module.
///
/// A module owns, in registration order,
///
///     parameters  tensors the optimiser trains (registered with requires_grad)
///     buffers     tensors saved with the model but not trained (running statistics, tables)
///     children    sub-modules, held by shared_ptr
/// and derives from them the dotted names PyTorch uses for state_dict keys:
/// "down.0.res.conv1.weight" is parameter "weight" of child "conv1" of child "res" ...
///
/// Modules are held by std::shared_ptr (LibTorch without the ModuleHolder
/// macros): auto net = std::make_shared<Net>(); a layer keeps handles to its
/// tensors (Tensor is a handle), so `weight` and the registered parameter are
/// the same tensor and loading a checkpoint writes into both.
///
/// UnaryModule adds the one-input interface `Tensor forward(const Tensor&)`
/// that Sequential chains; ModuleList holds any modules, named "0", "1", ...
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tinydiff/core/arg.hpp"  // TINYDIFF_ARG, for the layers' options
#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/error.hpp"
#include "tinydiff/core/named_tensors.hpp"
#include "tinydiff/core/tensor.hpp"

namespace tinydiff::detail {
/// Entry i of a module container (`owner`: ModuleList, Sequential) as type M; throws if it is not one.
template <typename M, typename Entry>
std::shared_ptr<M> entry_as(const std::shared_ptr<Entry>& entry, size_t i, const char* owner) {
  auto typed = std::dynamic_pointer_cast<M>(entry);
  TD_CHECK(typed != nullptr, owner, "entry ", i, " (", entry->name(), ") is not of the requested type");
  return typed;
}
}  // namespace tinydiff::detail

namespace tinydiff::nn {

/// (name, tensor) pairs in a fixed order: state dicts, named parameters (core/named_tensors.hpp).
using NamedTensors = tinydiff::NamedTensors;

class Module {
 public:
  /// `name` is the type name shown when the module is printed ("Linear", "UNet").
  explicit Module(std::string name = "Module") : name_(std::move(name)) {}
  virtual ~Module() = default;
  /// A module's identity is its tensors: copying one would silently share or split them.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const { return name_; }

  // ---- registration ----

  /// Registers a trainable tensor (a leaf; requires_grad is set as asked) and returns its handle.
  Tensor register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true) {
    check_new_name(name, "register_parameter");
    TD_CHECK(tensor.defined(), "register_parameter", "parameter '", name, "' of ", name_, " is undefined");
    tensor.requires_grad_(requires_grad);
    parameters_.emplace_back(name, tensor);
    return tensor;
  }

  /// Registers a tensor saved in the state dict (if persistent) but not trained.
  Tensor register_buffer(const std::string& name, Tensor tensor, bool persistent = true) {
    check_new_name(name, "register_buffer");
    TD_CHECK(tensor.defined(), "register_buffer", "buffer '", name, "' of ", name_, " is undefined");
    buffers_.push_back({name, tensor, persistent});
    return tensor;
  }

  /// Registers a child module and hands it back with its own type: conv1 = register_module("conv1", ...).
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_new_name(name, "register_module");
    TD_CHECK(module != nullptr, "register_module", "module '", name, "' of ", name_, " is null");
    children_.emplace_back(name, std::static_pointer_cast<Module>(module));
    return module;
  }

  // ---- access (all in registration order, recursing depth-first like PyTorch) ----

  /// The trainable tensors, as handles sharing storage with the module: what an optimiser is given.
  /// @param recurse  also the children's (false: this module's own only)
  std::vector<Tensor> parameters(bool recurse = true) const {
    std::vector<Tensor> out;
    for (auto& named : named_parameters(recurse)) out.push_back(named.second);
    return out;
  }
  /// ("block.conv.weight", tensor), ...: this module's own parameters, then each child's.
  NamedTensors named_parameters(bool recurse = true) const {
    NamedTensors out;
    collect(out, "", recurse, /*params=*/true, /*buffers=*/false, /*persistent_only=*/false);
    return out;
  }
  std::vector<Tensor> buffers(bool recurse = true) const {
    std::vector<Tensor> out;
    for (auto& named : named_buffers(recurse)) out.push_back(named.second);
    return out;
  }
  NamedTensors named_buffers(bool recurse = true) const {
    NamedTensors out;
    collect(out, "", recurse, false, true, false);
    return out;
  }
  /// Number of trainable values (sum of the parameters' numel).
  int64_t num_parameters() const {
    int64_t n = 0;
    for (const Tensor& p : parameters()) n += p.numel();
    return n;
  }

  std::vector<std::shared_ptr<Module>> children() const {
    std::vector<std::shared_ptr<Module>> out;
    for (auto& child : children_) out.push_back(child.second);
    return out;
  }
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }

  /// Calls fn on every descendant (children first, depth-first) and then on this module, as nn.Module.apply.
  void apply(const std::function<void(Module&)>& fn) {
    for (auto& child : children_) child.second->apply(fn);
    fn(*this);
  }

  // ---- state dict ----

  /// PyTorch's order: for each module (depth-first) its own parameters, then its own
  /// persistent buffers, then its children's entries. Values are detached handles
  /// sharing the module's storage (as state_dict() without keep_vars).
  NamedTensors state_dict() const {
    NamedTensors out;
    collect(out, "", true, true, true, true);
    for (auto& entry : out) entry.second = entry.second.detach();
    return out;
  }

  /// Copies `state` into this module's parameters and buffers (data only: every handle
  /// stays valid). Shape mismatches always throw; with strict, so do missing and
  /// unexpected keys (PyTorch's strict=True). Nothing is written unless all checks pass.
  /// `source` names where the state came from in the error message (a file path).
  void load_state_dict(const NamedTensors& state, bool strict = true, const std::string& source = "state_dict") {
    const NamedTensors own = state_dict();
    std::unordered_map<std::string, const Tensor*> given;
    for (auto& entry : state) given[entry.first] = &entry.second;
    std::vector<std::string> missing, unexpected, mismatched;
    std::unordered_map<std::string, bool> known;
    for (auto& entry : own) {
      known[entry.first] = true;
      auto it = given.find(entry.first);
      if (it == given.end()) {
        missing.push_back(entry.first);
        continue;
      }
      TD_CHECK(it->second->defined(), "load_state_dict", source, ": entry '", entry.first, "' is undefined");
      if (it->second->shape() != entry.second.shape())
        mismatched.push_back(entry.first + " has shape " + shape_str(it->second->shape()) + " there and " +
                             shape_str(entry.second.shape()) + " in the model");
    }
    for (auto& entry : state)
      if (!known.count(entry.first)) unexpected.push_back(entry.first);
    const bool fail = !mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()));
    if (fail) {
      std::ostringstream msg;
      msg << "error(s) loading " << source << " into " << name_ << ":";
      auto list = [&msg](const char* what, const std::vector<std::string>& keys, const char* sep) {
        if (keys.empty()) return;
        msg << "\n  " << what << " (" << keys.size() << "): ";
        for (size_t i = 0; i < keys.size(); ++i) msg << (i ? sep : "") << keys[i];
      };
      if (strict) list("missing keys", missing, ", ");
      if (strict) list("unexpected keys", unexpected, ", ");
      list("size mismatch", mismatched, "; ");
      throw Error("load_state_dict: " + msg.str());
    }
    for (auto& entry : own) {
      auto it = given.find(entry.first);
      if (it == given.end()) continue;
      const Tensor& src = *it->second;
      if (src.numel())
        std::memmove(entry.second.mutable_data(), src.data(), sizeof(float) * static_cast<size_t>(src.numel()));
    }
  }

  // ---- modes and gradients ----

  /// Sets training mode here and in every descendant (Dropout reads it).
  virtual void train(bool on = true) {
    training_ = on;
    for (auto& child : children_) child.second->train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Drops every parameter's gradient (zero_grad(set_to_none=True)).
  void zero_grad() {
    for (const Tensor& p : parameters()) p.zero_grad();
  }

  /// One line describing this module ("Linear(in_features=3, out_features=4, bias=true)");
  /// operator<< adds the children below it, as PyTorch's repr.
  virtual void pretty_print(std::ostream& out) const { out << name_; }

 private:
  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent;
  };

  void check_new_name(const std::string& name, const char* op) const {
    TD_CHECK(!name.empty(), op, "empty name in ", name_);
    TD_CHECK(name.find('.') == std::string::npos, op, "name '", name, "' in ", name_, " contains a '.'");
    bool taken = false;
    for (auto& p : parameters_) taken = taken || p.first == name;
    for (auto& b : buffers_) taken = taken || b.name == name;
    for (auto& c : children_) taken = taken || c.first == name;
    TD_CHECK(!taken, op, "'", name, "' is already registered in ", name_);
  }

  void collect(NamedTensors& out, const std::string& prefix, bool recurse, bool params, bool buffers,
               bool persistent_only) const {
    if (params)
      for (auto& p : parameters_) out.emplace_back(prefix + p.first, p.second);
    if (buffers)
      for (auto& b : buffers_)
        if (b.persistent || !persistent_only) out.emplace_back(prefix + b.name, b.tensor);
    if (!recurse) return;
    for (auto& child : children_)
      child.second->collect(out, prefix + child.first + ".", true, params, buffers, persistent_only);
  }

  std::string name_;
  NamedTensors parameters_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

/// Prints the module tree as PyTorch does:
///
///     Net(
///       (fc): Linear(in_features=3, out_features=4, bias=true)
///       (act): SiLU()
///     )
inline void print_module(std::ostream& out, const Module& module, int indent) {
  module.pretty_print(out);
  if (module.named_children().empty()) return;
  out << "(\n";
  for (auto& child : module.named_children()) {
    out << std::string(static_cast<size_t>(indent + 2), ' ') << "(" << child.first << "): ";
    print_module(out, *child.second, indent + 2);
    out << "\n";
  }
  out << std::string(static_cast<size_t>(indent), ' ') << ")";
}
inline std::ostream& operator<<(std::ostream& out, const Module& module) {
  print_module(out, module, 0);
  return out;
}

/// A module with one input and one output: what Sequential chains.
class UnaryModule : public Module {
 public:
  using Module::Module;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

/// A list of modules of any types, registered as children "0", "1", ... (nn.ModuleList).
/// It has no forward: the owner decides how to call its entries.
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) : ModuleList() {
    for (auto& m : modules) push_back(m);
  }

  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(modules_.size()), module);
    modules_.push_back(module);
    return module;
  }

  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return ptr(i); }
  const std::shared_ptr<Module>& ptr(size_t i) const {
    TD_CHECK(i < modules_.size(), "ModuleList", "index ", i, " is out of range for a list of ", modules_.size());
    return modules_[i];
  }
  /// Entry i as type M; throws if it is not one.
  template <typename M>
  std::shared_ptr<M> ptr(size_t i) const {
    return tinydiff::detail::entry_as<M>(ptr(i), i, "ModuleList");
  }
  template <typename M>
  M& at(size_t i) const {
    return *ptr<M>(i);
  }

  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return modules_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace tinydiff::nn
