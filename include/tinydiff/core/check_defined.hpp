#pragma once
// detail::check_defined: the first line of every public op, so that an undefined tensor (a
// default-constructed `Tensor t;` that was never assigned) is reported under the user's call and
// the argument's name, as PyTorch does, instead of under whichever accessor the op touches first:
//
//   detail::check_defined("conv2d", "input", x, "weight", weight);
//   -> "conv2d: 'weight' is an undefined tensor (a default-constructed Tensor; did you forget to assign it?)"
//
// Arguments that may legitimately be undefined (a bias, a class weight) are simply not listed.
// The cost is one pointer test per argument. This header needs only error.hpp (any type with a
// defined() member is accepted), so core/ headers can use it without an include cycle.
#include <string>
#include <vector>

#include "tinydiff/core/error.hpp"

namespace tinydiff::detail {

// What is wrong with argument (or file entry) `name`; the one place its wording lives.
inline std::string undefined_tensor_problem(const std::string& name) {
  return concat("'", name, "' is an undefined tensor (a default-constructed Tensor; did you forget to assign it?)");
}
// The whole message: "op: 'name' is an undefined tensor (...)".
inline std::string undefined_tensor_message(const std::string& op, const std::string& name) {
  return concat(op, ": ", undefined_tensor_problem(name));
}

// Out of line and never inlined, so the check at the top of an op stays one compare and a branch.
[[noreturn]] __attribute__((noinline, cold)) inline void throw_undefined_tensor(const std::string& op,
                                                                              const std::string& name) {
  throw Error(undefined_tensor_message(op, name));
}

inline void check_defined(const char*) {}

// check_defined(op, "name", tensor, "name", tensor, ...): throws for the first undefined tensor.
template <typename T, typename... Rest>
void check_defined(const char* op, const char* name, const T& tensor, const Rest&... rest) {
  if (!tensor.defined()) throw_undefined_tensor(op, name);
  check_defined(op, rest...);
}

// The same for a list argument (cat, stack): names the element, e.g. 'tensors[2]'.
template <typename T>
void check_defined_list(const char* op, const char* name, const std::vector<T>& tensors) {
  for (size_t i = 0; i < tensors.size(); ++i)
    if (!tensors[i].defined()) throw_undefined_tensor(op, concat(name, "[", i, "]"));
}

}  // namespace tinydiff::detail
