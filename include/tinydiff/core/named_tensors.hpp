#pragma once
// NamedTensors: (name, tensor) pairs in a fixed order, the currency of state dicts. A module's
// parameters and buffers, an optimiser's or an EMA's state and a safetensors file all use it, so
// it lives below nn/, optim/ and io/; nn::NamedTensors and io::NamedTensors name this same type.
#include <string>
#include <utility>
#include <vector>

#include "tinydiff/core/tensor.hpp"

namespace tinydiff {

/// (name, tensor) pairs in a fixed order: state dicts, named parameters, the tensors of a file.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace tinydiff
