#pragma once
// conv2d and conv_transpose2d computed from their definitions, in double, for the conv tests, and
// the gradcheck sweep they share.
// Each reference lists every product x[ix] * w[iw] that enters an output element y[iy]
// (for_each_term); the forward and all three gradients then follow from that one list:
//   y[iy] += x[ix] w[iw],   dx[ix] += g[iy] w[iw],   dw[iw] += g[iy] x[ix],   db[o] = sum of g over channel o.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include <tinydiff/testing/gradcheck.hpp>
#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

namespace test_helpers {

struct ReferenceProducts {
  const tinydiff::Tensor &x, &w, &b;
  int64_t N = 0, Cout = 0, OH = 0, OW = 0;  // the output's [N, Cout, OH, OW], set by the subclass
  ReferenceProducts(const tinydiff::Tensor& x_, const tinydiff::Tensor& w_, const tinydiff::Tensor& b_)
      : x(x_), w(w_), b(b_), N(x_.size(0)) {}
  virtual ~ReferenceProducts() = default;
  // Calls f(x index, w index, y index) for every product x * w that enters the output.
  virtual void for_each_term(const std::function<void(int64_t, int64_t, int64_t)>& f) const = 0;

  std::vector<double> forward() const {
    std::vector<double> y(static_cast<size_t>(N * Cout * OH * OW), 0.0);
    if (b.defined())
      for (size_t k = 0; k < y.size(); ++k) y[k] = b.data()[(k / static_cast<size_t>(OH * OW)) % Cout];
    const float *px = x.data(), *pw = w.data();
    for_each_term([&](int64_t ix, int64_t iw, int64_t iy) { y[iy] += double(px[ix]) * pw[iw]; });
    return y;
  }
  void backward(const tinydiff::Tensor& g, std::vector<double>& dx, std::vector<double>& dw,
                std::vector<double>& db) const {
    dx.assign(static_cast<size_t>(x.numel()), 0.0);
    dw.assign(static_cast<size_t>(w.numel()), 0.0);
    db.assign(static_cast<size_t>(Cout), 0.0);
    const float *px = x.data(), *pw = w.data(), *pg = g.data();
    for_each_term([&](int64_t ix, int64_t iw, int64_t iy) {
      dx[ix] += double(pg[iy]) * pw[iw];
      dw[iw] += double(pg[iy]) * px[ix];
    });
    for (int64_t k = 0; k < g.numel(); ++k) db[(k / (OH * OW)) % Cout] += pg[k];
  }
};

// y = conv(x, w, b) against the reference's forward; then y.backward(g) for a random g against the
// reference's gradients of x, w and b (when given): each within 1e-5 of the data's scale.
inline void check_against_reference(const ReferenceProducts& ref, const tinydiff::Tensor& y, tinydiff::Generator& gen) {
  CHECK(scaled_error(y, ref.forward()) < 1e-5);
  const tinydiff::Tensor g = tinydiff::randn(y.shape(), &gen);
  y.backward(g);
  std::vector<double> dx, dw, db;
  ref.backward(g, dx, dw, db);
  CHECK(scaled_error(ref.x.grad(), dx) < 1e-5);
  CHECK(scaled_error(ref.w.grad(), dw) < 1e-5);
  if (ref.b.defined()) CHECK(scaled_error(ref.b.grad(), db) < 1e-5);
}

// gradcheck over a sweep of conv configurations. conv2d and conv_transpose2d are linear in x, in w
// and in b separately, so central differences have no truncation error and a large step only
// shrinks float32 rounding noise: eps = 1e-2, |analytic - numeric| <= 1e-3 + 1e-3 |numeric|.
struct ConvGradcheckSweep {
  uint64_t first_seed;  // gradcheck's seed for the i-th configuration checked: first_seed + i
  int checked = 0, skipped = 0;
  double worst = 0.0;  // the largest error/bound seen (passes when <= 1)

  void check(const tinydiff::testing::GradcheckFunction& f, const std::vector<tinydiff::Tensor>& inputs) {
    tinydiff::testing::GradcheckOptions options;
    options.eps = 1e-2;
    options.atol = 1e-3;
    options.rtol = 1e-3;
    options.seed = first_seed + static_cast<uint64_t>(checked);
    const auto result = tinydiff::testing::gradcheck(f, inputs, options);
    INFO(result.message);
    CHECK(result.passed);
    worst = std::max(worst, result.worst_ratio);
    ++checked;
  }
};

}  // namespace test_helpers
