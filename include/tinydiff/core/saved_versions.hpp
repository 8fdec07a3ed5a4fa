#pragma once
// The version check that stops backward() from using a tensor written in place after the op that
// read it ran (PyTorch: "one of the variables needed for gradient computation has been modified by
// an inplace operation"). record_op notes the storage versions of an op's inputs and output
// (core/storage.hpp counts the tracked writes); backward() compares them before it runs the node.
// tinydiff checks every input and the output, PyTorch only what the op saved, so an op that never
// needed the values (add, sum) is refused here and not there.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tinydiff/core/tensor_body.hpp"

namespace tinydiff {

/// The storage versions of an op's inputs and output at the time the op ran.
struct SavedVersions {
  std::vector<uint64_t> inputs;  // one per input; 0 for an undefined input (an absent bias)
  std::weak_ptr<Storage> output_storage;  // weak: the node must not keep its own output alive
  uint64_t output = 0;
  Shape output_shape;  // for the error message, once the output may be gone

  /// Notes the current versions of `inputs` and of `output` (called by record_op).
  static SavedVersions of(const std::vector<Tensor>& inputs, const Tensor& output) {
    SavedVersions saved;
    saved.inputs.reserve(inputs.size());
    for (const Tensor& input : inputs) saved.inputs.push_back(input.defined() ? input.version() : 0);
    saved.output_storage = output.impl()->storage;
    saved.output = output.version();
    saved.output_shape = output.shape();
    return saved;
  }

  /// Throws if a tracked in-place write changed one of `op_inputs` (the op's, as passed to of()) or
  /// the output since; `op` names the op in the message (called by backward() before each node).
  void check(const std::string& op, const std::vector<Tensor>& op_inputs) const {
    auto fail = [&op](const std::string& which, const Shape& shape, uint64_t now, uint64_t then) {
      throw Error(detail::concat("backward: ", which, " of op '", op, "' (shape ", shape_str(shape),
                                 ") was modified in place after the op ran (version ", now, ", was ", then,
                                 "), so its gradient would be wrong. Something wrote into it between the "
                                 "forward pass and backward() (an optimiser step, at(), mutable_data(), "
                                 "io::load); call backward() first, or write into a clone()"));
    };
    for (size_t i = 0; i < op_inputs.size(); ++i) {
      const Tensor& input = op_inputs[i];
      if (input.defined() && input.version() != inputs[i])
        fail("input " + std::to_string(i), input.shape(), input.version(), inputs[i]);
    }
    if (const std::shared_ptr<Storage> out = output_storage.lock(); out && out->version() != output)
      fail("the output", output_shape, out->version(), output);
  }
};

}  // namespace tinydiff
