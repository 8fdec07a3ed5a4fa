#pragma once
// conv2d and conv_transpose2d computed from their definitions, in double, for the kernel tests.
// Each reference lists every product x[ix] * w[iw] that enters an output element y[iy]
// (for_each_term); the forward and all three gradients then follow from that one list:
//   y[iy] += x[ix] w[iw],   dx[ix] += g[iy] w[iw],   dw[iw] += g[iy] x[ix],   db[o] = sum of g over channel o.
#include <functional>
#include <vector>

#include <tinydiff/tinydiff.hpp>

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

}  // namespace test_helpers
