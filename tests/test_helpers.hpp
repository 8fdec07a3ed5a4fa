#pragma once
// Helpers shared by the test programs: error-message checks and a gradcheck
// assertion that prints gradcheck's report when it fails.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>
#include <tinydiff/testing/gradcheck.hpp>

namespace test_helpers {

// The message of the tinydiff::Error that f throws, or a marker when it throws none.
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const tinydiff::Error& e) {
    return e.what();
  }
  return "<no tinydiff::Error thrown>";
}

// The message starts with "op: " and contains each of `parts` (shapes, values).
inline void check_error(const std::function<void()>& f, const std::string& op, const std::vector<std::string>& parts) {
  const std::string msg = error_message(f);
  INFO("message: ", msg);
  CHECK(msg.rfind(op + ": ", 0) == 0);
  for (const std::string& p : parts) CHECK(msg.find(p) != std::string::npos);
}

inline void check_gradcheck(const tinydiff::testing::GradcheckFunction& f, const std::vector<tinydiff::Tensor>& inputs,
                            const tinydiff::testing::GradcheckOptions& options, const std::string& what) {
  const auto r = tinydiff::testing::gradcheck(f, inputs, options);
  INFO(what, ": ", r.message);
  CHECK(r.passed);
}

}  // namespace test_helpers
