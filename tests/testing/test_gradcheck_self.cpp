// gradcheck checks itself: custom ops written with record_op whose backward is
// subtly wrong (scaled by 1.1, a sign flip, the gradient routed to the wrong
// element, one element off) must FAIL, with the worst element pointing at a
// wrong one; the correct versions of the same ops must pass.
//
// Tolerance: the gradcheck defaults (h = 1e-3, atol 1e-3, rtol 1e-2).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>
#include <tinydiff/testing/gradcheck.hpp>

using namespace tinydiff;
using testing::gradcheck;
using testing::GradcheckResult;

namespace {
enum class Bug { None, Scale, Sign, Route, OneElement };

// y = x^2 elementwise.  dx = 2 x g   (Bug::Scale: 1.1 times that; Bug::OneElement: element 3 off by 0.5).
Tensor square(const Tensor& x, Bug bug) {
  Tensor y = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y.data()[i] = x.data()[i] * x.data()[i];
  record_op(y, "square", {x}, [x = x.detach(), bug](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) dx.data()[i] = 2.0f * x.data()[i] * g.data()[i];
    if (bug == Bug::Scale)
      for (int64_t i = 0; i < x.numel(); ++i) dx.data()[i] *= 1.1f;
    if (bug == Bug::OneElement) dx.data()[3] += 0.5f;
    return std::vector<Tensor>{dx};
  });
  return y;
}

// y = a * b elementwise (same shape).  da = g b, db = g a   (Bug::Sign: db = -g a).
Tensor product(const Tensor& a, const Tensor& b, Bug bug) {
  Tensor y = Tensor::empty(a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) y.data()[i] = a.data()[i] * b.data()[i];
  record_op(y, "product", {a, b}, [a = a.detach(), b = b.detach(), bug](const Tensor& g, const std::vector<bool>& needs) {
    Tensor da, db;
    if (needs[0]) {
      da = Tensor::empty(a.shape());
      for (int64_t i = 0; i < a.numel(); ++i) da.data()[i] = g.data()[i] * b.data()[i];
    }
    if (needs[1]) {
      db = Tensor::empty(b.shape());
      const float sign = bug == Bug::Sign ? -1.0f : 1.0f;
      for (int64_t i = 0; i < b.numel(); ++i) db.data()[i] = sign * g.data()[i] * a.data()[i];
    }
    return std::vector<Tensor>{da, db};
  });
  return y;
}

// y[i] = w[i] x[n-1-i] (reverse, then scale), 1-D.  dx[j] = w[n-1-j] g[n-1-j]
// (Bug::Route: dx[j] = w[j] g[j], the gradient sent to the mirrored element; the
// middle element of an odd length is the only one that stays right).
Tensor reverse_scale(const Tensor& x, const Tensor& w, Bug bug) {
  const int64_t n = x.numel();
  Tensor y = Tensor::empty(x.shape());
  for (int64_t i = 0; i < n; ++i) y.data()[i] = w.data()[i] * x.data()[n - 1 - i];
  record_op(y, "reverse_scale", {x}, [w = w.detach(), n, bug](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = Tensor::empty({n});
    for (int64_t j = 0; j < n; ++j) {
      const int64_t src = bug == Bug::Route ? j : n - 1 - j;
      dx.data()[j] = w.data()[src] * g.data()[src];
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}

// The element gradcheck blames must be one whose analytic gradient is wrong:
// compare the reported analytic value with the true derivative's numeric estimate.
void expect_failure(const GradcheckResult& r) {
  INFO(r.message);
  CHECK(!r.passed);
  CHECK(!static_cast<bool>(r));
  CHECK(r.worst_ratio > 1.0);
  CHECK(r.worst_index >= 0);
  CHECK(std::fabs(r.analytic - r.numeric) > 1e-3);
  CHECK(r.message.find("FAILED") != std::string::npos);
}

void expect_pass(const GradcheckResult& r) {
  INFO(r.message);
  CHECK(r.passed);
  CHECK(r.worst_ratio <= 1.0);
  CHECK(r.message.find("passed") != std::string::npos);
}
}  // namespace

TEST_CASE("gradcheck catches a gradient scaled by 1.1") {
  Generator gen(31);
  Tensor x = randn({2, 3}, &gen).requires_grad_();
  expect_pass(gradcheck([](const std::vector<Tensor>& v) { return square(v[0], Bug::None); }, {x}));
  const auto r = gradcheck([](const std::vector<Tensor>& v) { return square(v[0], Bug::Scale); }, {x});
  expect_failure(r);
  CHECK(r.worst_input == 0);
  CHECK(r.worst_index < 6);
  // Every element is wrong by 10%: the worst one's analytic value is 1.1 times the numeric one.
  CHECK(r.analytic == doctest::Approx(1.1 * r.numeric).epsilon(1e-2));
  CHECK(r.checked_elements == 6);
}

TEST_CASE("gradcheck catches a sign flip in one input's gradient") {
  Generator gen(32);
  Tensor a = randn({5}, &gen).requires_grad_();
  Tensor b = randn({5}, &gen).requires_grad_();
  expect_pass(gradcheck([](const std::vector<Tensor>& v) { return product(v[0], v[1], Bug::None); }, {a, b}));
  const auto r = gradcheck([](const std::vector<Tensor>& v) { return product(v[0], v[1], Bug::Sign); }, {a, b});
  expect_failure(r);
  CHECK(r.worst_input == 1);  // only b's gradient is wrong
  CHECK(r.analytic == doctest::Approx(-r.numeric).epsilon(1e-2));
  CHECK(r.checked_elements == 10);

  // With only a requiring grad, the bug in db is never run: gradcheck passes.
  Tensor b_const = b.detach();
  expect_pass(gradcheck([](const std::vector<Tensor>& v) { return product(v[0], v[1], Bug::Sign); }, {a, b_const}));
}

TEST_CASE("gradcheck catches a gradient routed to the wrong element") {
  Generator gen(33);
  const int64_t n = 7;
  Tensor x = randn({n}, &gen).requires_grad_();
  Tensor w = randn({n}, &gen);
  expect_pass(gradcheck([w](const std::vector<Tensor>& v) { return reverse_scale(v[0], w, Bug::None); }, {x}));
  const auto r = gradcheck([w](const std::vector<Tensor>& v) { return reverse_scale(v[0], w, Bug::Route); }, {x});
  expect_failure(r);
  CHECK(r.worst_index != n / 2);  // the middle element is routed correctly

  // Why the upstream gradient is random: with g = ones and w = ones, the mirrored
  // routing gives exactly the right answer, so a sum()-based check would pass.
  Tensor x2 = randn({n}, &gen).requires_grad_();
  reverse_scale(x2, ones({n}), Bug::Route).sum().backward();
  CHECK(x2.grad().to_vector() == std::vector<float>(n, 1.0f));
  const auto r2 =
      gradcheck([](const std::vector<Tensor>& v) { return reverse_scale(v[0], ones({n}), Bug::Route); }, {x2});
  expect_failure(r2);
}

TEST_CASE("gradcheck points at the single wrong element") {
  Generator gen(34);
  Tensor x = randn({3, 3}, &gen).requires_grad_();
  const auto r = gradcheck([](const std::vector<Tensor>& v) { return square(v[0], Bug::OneElement); }, {x});
  expect_failure(r);
  CHECK(r.worst_input == 0);
  CHECK(r.worst_index == 3);
  CHECK(r.analytic - r.numeric == doctest::Approx(0.5).epsilon(0.01));

  // The same op as the second input of a composition: the blame goes to input 1, element 3.
  Tensor c = randn({3, 3}, &gen).requires_grad_();
  const auto r2 = gradcheck(
      [](const std::vector<Tensor>& v) { return v[0] * 2.0f + square(v[1], Bug::OneElement); }, {c, x});
  expect_failure(r2);
  CHECK(r2.worst_input == 1);
  CHECK(r2.worst_index == 3);
}

TEST_CASE("gradcheck leaves the caller's tensors alone and rejects nothing-to-check") {
  Generator gen(35);
  Tensor x = randn({4}, &gen).requires_grad_();
  const std::vector<float> before = x.to_vector();
  expect_pass(gradcheck([](const std::vector<Tensor>& v) { return v[0].exp(); }, {x}));
  CHECK(x.to_vector() == before);
  CHECK(!x.grad().defined());

  Tensor c = randn({4}, &gen);
  CHECK_THROWS_AS(gradcheck([](const std::vector<Tensor>& v) { return v[0].exp(); }, {c}), Error);
  Tensor y = randn({4}, &gen).requires_grad_();
  CHECK_THROWS_AS(gradcheck([](const std::vector<Tensor>& v) { return v[1].exp(); }, {y, c}), Error);
}
