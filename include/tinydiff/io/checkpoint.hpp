#pragma once
/// @file
/// Checkpoints: a module's state_dict, an optimiser's state or an EMA, each as a
/// safetensors file (written atomically by save_safetensors: a crash mid-write
/// leaves the previous file intact). The module's file uses PyTorch's state_dict
/// keys, so it loads into the same model written in PyTorch and back.
///
/// load(module, path) is strict, as PyTorch's load_state_dict(strict=True):
/// missing keys, unexpected keys and shape mismatches throw tinydiff::Error
/// listing them all, and nothing is changed.
#include <memory>
#include <string>

#include "tinydiff/io/safetensors.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/optim/ema.hpp"
#include "tinydiff/optim/optimizer.hpp"

namespace tinydiff::io {

// ---- modules ----

/// Writes `module`'s state_dict (parameters and persistent buffers, PyTorch's key names) to `path`.
/// @param module    the model; nothing in it changes
/// @param path      the safetensors file, replaced atomically
/// @param metadata  strings stored in the file's header ("__metadata__"), returned by load()
inline void save(const nn::Module& module, const std::string& path, const Metadata& metadata = {}) {
  save_safetensors(path, module.state_dict(), metadata);
}
/// Reads `path` into `module`'s parameters and buffers, strictly: every key must match, in name and
/// shape, or tinydiff::Error lists the differences and nothing is changed.
/// @return the file's metadata (what save() was given)
inline Metadata load(nn::Module& module, const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  module.load_state_dict(file.tensors, /*strict=*/true, "checkpoint '" + path + "'");
  return file.metadata;
}
inline void save(const std::shared_ptr<nn::Module>& module, const std::string& path, const Metadata& metadata = {}) {
  TD_CHECK(module != nullptr, "save", "null module for '", path, "'");
  save(*module, path, metadata);
}
inline Metadata load(const std::shared_ptr<nn::Module>& module, const std::string& path) {
  TD_CHECK(module != nullptr, "load", "null module for '", path, "'");
  return load(*module, path);
}

// ---- optimiser state (step counts, moments, momentum buffers) ----

inline void save(const optim::Optimizer& optimizer, const std::string& path, const Metadata& metadata = {}) {
  Metadata meta = metadata;
  meta["optimizer"] = optimizer.name();
  save_safetensors(path, optimizer.state_dict(), meta);
}
inline Metadata load(optim::Optimizer& optimizer, const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  auto kind = file.metadata.find("optimizer");
  TD_CHECK(kind == file.metadata.end() || kind->second == optimizer.name(), "load", "checkpoint '", path,
           "' holds the state of ", kind->second, ", not ", optimizer.name());
  optimizer.load_state_dict(file.tensors, "checkpoint '" + path + "'");
  return file.metadata;
}

// ---- EMA (averaged parameters and the update count) ----

inline void save(const optim::EMA& ema, const std::string& path, const Metadata& metadata = {}) {
  save_safetensors(path, ema.state_dict(), metadata);
}
inline Metadata load(optim::EMA& ema, const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  ema.load_state_dict(file.tensors, "checkpoint '" + path + "'");
  return file.metadata;
}

}  // namespace tinydiff::io
