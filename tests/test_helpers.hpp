#pragma once
// Helpers shared by the test programs: error-message checks, a gradcheck
// assertion that prints gradcheck's report when it fails, and raw-buffer comparisons.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>
#include <tinydiff/testing/gradcheck.hpp>

namespace test_helpers {

// max |a - b| / max |b| (or the absolute error when b is all zeros).
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) return INFINITY;  // an element left unwritten
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

inline std::vector<float> random_vector(int64_t size, tinydiff::Generator& gen) {
  const tinydiff::Tensor t = tinydiff::randn({size}, &gen);
  return std::vector<float>(t.data(), t.data() + size);
}

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

// Runs body() once on every kernel tier this build and CPU can run (simd/isa.hpp), with the tier's
// name in doctest's context, and returns how many ran.
template <class Body>
inline int for_each_tier(Body&& body) {
  int ran = 0;
  for (tinydiff::simd::Isa isa : tinydiff::simd::available_isas()) {
    tinydiff::simd::IsaScope scope(isa);
    const std::string tier = tinydiff::simd::isa_name(isa);
    INFO("tier ", tier);
    body();
    ++ran;
  }
  return ran;
}

inline void check_gradcheck(const tinydiff::testing::GradcheckFunction& f, const std::vector<tinydiff::Tensor>& inputs,
                            const tinydiff::testing::GradcheckOptions& options, const std::string& what) {
  const auto r = tinydiff::testing::gradcheck(f, inputs, options);
  INFO(what, ": ", r.message);
  CHECK(r.passed);
}

}  // namespace test_helpers
