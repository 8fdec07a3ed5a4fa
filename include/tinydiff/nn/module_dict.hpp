#pragma once
/// @file
/// nn::ModuleDict: modules of any types under string keys, in insertion order, registered as
/// children named by their keys (nn.ModuleDict), so a parameter's state_dict key is
/// "<key>.<param>" ("encoder.weight"). Like ModuleList it has no forward.
///
///     auto heads = std::make_shared<nn::ModuleDict>();
///     heads->insert("cls", std::make_shared<nn::Linear>(16, 10));
///     heads->at<nn::Linear>("cls").forward(h);
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tinydiff/nn/module.hpp"

namespace tinydiff::nn {

class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  ModuleDict(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> modules) : ModuleDict() {
    for (auto& entry : modules) insert(entry.first, entry.second);
  }

  /// Adds a module under a new key (no '.', not empty, not taken) and returns it with its own type.
  /// Unlike Python's md[key] = m, an existing key is not replaced: it throws.
  template <typename M>
  std::shared_ptr<M> insert(const std::string& key, std::shared_ptr<M> module) {
    TD_CHECK(!contains(key), "ModuleDict", "key '", key, "' is already present");
    register_module(key, module);
    entries_.emplace_back(key, std::static_pointer_cast<Module>(module));
    return module;
  }

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  bool contains(const std::string& key) const {
    for (auto& entry : entries_)
      if (entry.first == key) return true;
    return false;
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (auto& entry : entries_) out.push_back(entry.first);
    return out;
  }
  std::vector<std::shared_ptr<Module>> values() const {
    std::vector<std::shared_ptr<Module>> out;
    for (auto& entry : entries_) out.push_back(entry.second);
    return out;
  }
  /// (key, module) pairs in insertion order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& items() const { return entries_; }

  const std::shared_ptr<Module>& operator[](const std::string& key) const { return ptr(key); }
  const std::shared_ptr<Module>& ptr(const std::string& key) const {
    for (auto& entry : entries_)
      if (entry.first == key) return entry.second;
    throw Error("ModuleDict: no key '" + key + "'");
  }
  /// Entry `key` as type M; throws if it is not one.
  template <typename M>
  std::shared_ptr<M> ptr(const std::string& key) const {
    auto typed = std::dynamic_pointer_cast<M>(ptr(key));
    TD_CHECK(typed != nullptr, "ModuleDict", "entry '", key, "' (", ptr(key)->name(),
             ") is not of the requested type");
    return typed;
  }
  template <typename M>
  M& at(const std::string& key) const {
    return *ptr<M>(key);
  }

  std::vector<std::pair<std::string, std::shared_ptr<Module>>>::const_iterator begin() const { return entries_.begin(); }
  std::vector<std::pair<std::string, std::shared_ptr<Module>>>::const_iterator end() const { return entries_.end(); }

 private:
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> entries_;
};

}  // namespace tinydiff::nn
