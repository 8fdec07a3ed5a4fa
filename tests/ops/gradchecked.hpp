#pragma once
// The registry of ops that have a gradcheck. A test that gradchecks ops registers them at file
// scope, right above its TEST_CASE:
//   GRADCHECKED_OPS("sin", "cos");
//   TEST_CASE("gradcheck: sin, cos") { ... }
// The registrations run when the program starts, so the check over them
// (tests/ops/test_gradcheck_coverage.cpp) does not depend on which tests ran before it.
#include <initializer_list>
#include <set>
#include <string>

namespace test_helpers {

inline std::set<std::string>& gradchecked_ops() {
  static std::set<std::string> names;
  return names;
}

struct GradcheckedOps {
  GradcheckedOps(std::initializer_list<const char*> names) {
    for (const char* name : names) gradchecked_ops().insert(name);
  }
};

}  // namespace test_helpers

#define TD_GRADCHECKED_CONCAT2(a, b) a##b
#define TD_GRADCHECKED_CONCAT(a, b) TD_GRADCHECKED_CONCAT2(a, b)
// __COUNTER__, not __LINE__: a unity build puts several files, and their line numbers, in one TU.
#define GRADCHECKED_OPS(...)                                                                   \
  static const test_helpers::GradcheckedOps TD_GRADCHECKED_CONCAT(gradchecked_ops_, __COUNTER__) { \
    __VA_ARGS__                                                                                \
  }
