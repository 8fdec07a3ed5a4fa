#pragma once
// Helpers shared by the test programs: error-message checks, a gradcheck
// assertion that prints gradcheck's report when it fails, and raw-buffer comparisons.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>
#include <random>
#include <utility>
#include <string>
#include <vector>

#include <unistd.h>

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

// Runs gradcheck on f at `inputs`; on failure doctest prints `what` and gradcheck's report. A check
// that compared no element would pass vacuously, so that fails too.
inline void expect_gradcheck(const tinydiff::testing::GradcheckFunction& f, const std::vector<tinydiff::Tensor>& inputs,
                             const std::string& what, const tinydiff::testing::GradcheckOptions& options = {}) {
  const auto r = tinydiff::testing::gradcheck(f, inputs, options);
  INFO(what, ": ", r.message);
  CHECK(r.passed);
  CHECK(r.checked_elements > 0);
}
inline void expect_gradcheck(const tinydiff::testing::GradcheckFunction& f, const std::vector<tinydiff::Tensor>& inputs,
                             const tinydiff::testing::GradcheckOptions& options, const std::string& what) {
  expect_gradcheck(f, inputs, what, options);
}

// N(0, 1) values drawn from gen; a leaf that requires grad unless told otherwise.
inline tinydiff::Tensor normal(const tinydiff::Shape& shape, tinydiff::Generator& gen, bool requires_grad = true) {
  tinydiff::Tensor t = tinydiff::randn(shape, &gen);
  if (requires_grad) t.requires_grad_();
  return t;
}

// Each element of t equals `expected` within doctest's Approx(tol): |got - want| < tol (1 + max(|got|, |want|)),
// or exactly (infinities; NaN where NaN is expected).
inline void check_elements(const tinydiff::Tensor& t, const std::vector<float>& expected, double tol = 1e-5) {
  REQUIRE(t.defined());
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  const std::vector<float> v = t.to_vector();
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element ", i, " of ", t);
    const bool exact = v[i] == expected[i] || (std::isnan(v[i]) && std::isnan(expected[i]));
    CHECK((exact || v[i] == doctest::Approx(expected[i]).epsilon(tol)));
  }
}
// t has the given shape and the elements check_elements accepts.
inline void check_values(const tinydiff::Tensor& t, const tinydiff::Shape& shape, const std::vector<float>& expected,
                         double tol = 1e-5) {
  REQUIRE(t.defined());
  CHECK(t.shape() == shape);
  check_elements(t, expected, tol);
}

// a and b have the same shape and |a - b| <= atol + rtol |b| elementwise (torch.allclose); the
// worst element is reported.
inline void check_close(const tinydiff::Tensor& a, const tinydiff::Tensor& b, double atol, double rtol = 0.0) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double worst = 0.0;
  int64_t worst_at = -1;
  for (size_t i = 0; i < va.size(); ++i) {
    const double excess = std::fabs(double(va[i]) - vb[i]) - (atol + rtol * std::fabs(double(vb[i])));
    if (worst_at < 0 || excess > worst) {
      worst = excess;
      worst_at = static_cast<int64_t>(i);
    }
  }
  INFO("worst element ", worst_at, ": ", (worst_at >= 0 ? va[worst_at] : 0.0f), " vs ",
       (worst_at >= 0 ? vb[worst_at] : 0.0f));
  CHECK(worst <= 0.0);
}

// max |t - ref| / (1 + max |ref|): an error relative to the data's scale (infinite where t has a NaN).
// (A plain loop with an early return: GCC 12's aarch64 vectoriser crashes on an fmax reduction here.)
inline double scaled_error(const tinydiff::Tensor& t, const std::vector<double>& ref) {
  REQUIRE(t.defined());
  REQUIRE(static_cast<size_t>(t.numel()) == ref.size());
  const std::vector<float> v = t.to_vector();
  double diff = 0.0, scale = 0.0;
  for (size_t k = 0; k < ref.size(); ++k) {
    if (std::isnan(v[k])) return INFINITY;
    diff = std::max(diff, std::fabs(double(v[k]) - ref[k]));
    scale = std::max(scale, std::fabs(ref[k]));
  }
  return diff / (1.0 + scale);
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The names of a named_parameters() / state_dict() list, in order.
inline std::vector<std::string> keys_of(const tinydiff::nn::NamedTensors& named) {
  std::vector<std::string> keys;
  for (const auto& entry : named) keys.push_back(entry.first);
  return keys;
}

// Runs f, expecting a tinydiff::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& f, std::initializer_list<const char*> parts) {
  std::string message;
  bool thrown = false;
  try {
    f();
  } catch (const tinydiff::Error& e) {
    thrown = true;
    message = e.what();
  } catch (const std::exception& e) {
    FAIL("threw a std::exception that is not tinydiff::Error: ", e.what());
  }
  INFO("message: ", message);
  REQUIRE(thrown);
  for (const char* part : parts) {
    INFO("expected to contain: ", part);
    CHECK(message.find(part) != std::string::npos);
  }
}

// Uniform values in [lo, hi).
inline tinydiff::Tensor uniform(const tinydiff::Shape& shape, float lo, float hi, tinydiff::Generator& gen) {
  tinydiff::Tensor t = tinydiff::Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = lo + (hi - lo) * gen.uniform();
  return t;
}

// t, made a leaf that requires grad when `on`.
inline tinydiff::Tensor with_grad(tinydiff::Tensor t, bool on) {
  if (on) t.requires_grad_();
  return t;
}

// Which operands of a two-input op require grad in a gradcheck: both, only the first, only the second.
inline const std::vector<std::pair<bool, bool>> kMasks = {{true, true}, {true, false}, {false, true}};

// t has `shape` and exactly the values `expected` (for ops that copy values and compute nothing).
inline void check_exact(const tinydiff::Tensor& t, const tinydiff::Shape& shape, const std::vector<float>& expected) {
  REQUIRE(t.defined());
  INFO("got ", t);
  CHECK(t.shape() == shape);
  CHECK(t.to_vector() == expected);
}

// The additive causal mask [n, n]: -inf above the diagonal.
inline tinydiff::Tensor causal_mask(int64_t n) {
  tinydiff::Tensor mask = tinydiff::zeros({n, n});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) mask.data()[i * n + j] = -std::numeric_limits<float>::infinity();
  return mask;
}

// A fresh directory under the system temp directory, removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("tinydiff_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::string operator/(const std::string& name) const { return file(name); }  // dir / "run": a path inside
  // The names in the directory, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

}  // namespace test_helpers
