#pragma once
/// @file
/// Binary arithmetic with NumPy broadcasting: add, sub, mul, div, their scalar
/// forms and operators, maximum and minimum; broadcast_to and sum_to, which are
/// each other's backward.
///
/// The backward of a broadcast op sums the gradient over the broadcast dims,
/// back to each input's shape: d/da (a + b) with a:[3,1], b:[4] -> sum_to(g, [3,1]).
#include <cmath>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/kernels/broadcast.hpp"
#include "tinydiff/ops/map.hpp"

namespace tinydiff {

Tensor sum_to(const Tensor& x, const Shape& shape);

/// x repeated along its size-1 (or missing) dims to `shape`.  backward: sum_to.
inline Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  detail::check_defined("broadcast_to", "input", x);
  TD_CHECK(broadcast_shapes(x.shape(), shape, "broadcast_to") == shape, "broadcast_to", "cannot broadcast shape ",
           shape_str(x.shape()), " to ", shape_str(shape));
  if (x.shape() == shape) return x;
  Tensor y = Tensor::empty(shape);
  kernels::broadcast_copy(x.data(), x.shape(), y.data(), shape);
  record_op(y, "broadcast_to", {x}, [x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{sum_to(g, x_shape)};
  });
  return y;
}

/// Sums x over the dims where `shape` has size 1 (or no dim), as torch's sum_to_size.  backward: broadcast_to.
inline Tensor sum_to(const Tensor& x, const Shape& shape) {
  detail::check_defined("sum_to", "input", x);
  TD_CHECK(broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(), "sum_to", "shape ", shape_str(shape),
           " does not broadcast to ", shape_str(x.shape()));
  if (x.shape() == shape) return x;
  Tensor y = Tensor::empty(shape);
  kernels::sum_to(x.data(), x.shape(), y.data(), shape);
  record_op(y, "sum_to", {x}, [x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{broadcast_to(g, x_shape)};
  });
  return y;
}

namespace detail {
/// out = f(a, b) with broadcasting; a fast path when the shapes are equal.
template <typename F>
Tensor broadcast_map(const Tensor& a, const Tensor& b, const char* op, F f) {
  if (a.shape() == b.shape()) return map(a, b, f);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor y = Tensor::empty(out_shape);
  const float* pa = a.data();
  const float* pb = b.data();
  float* py = y.data();
  // Fast path: one side is the whole output and the other one value per row of it
  // (h + bias[:, :, None, None]): a tight loop per row, rows split over the threads.
  kernels::RowBroadcast rb;
  const bool a_full = a.shape() == out_shape, b_full = b.shape() == out_shape;
  if ((a_full && kernels::row_broadcast(b.shape(), out_shape, rb)) ||
      (b_full && kernels::row_broadcast(a.shape(), out_shape, rb))) {
    const int64_t rows = rb.rows, inner = rb.inner;
#pragma omp parallel for schedule(static) if (rows * inner > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      float* yr = py + r * inner;
      if (a_full) {
        const float* ar = pa + r * inner;
        const float v = pb[r];
        for (int64_t i = 0; i < inner; ++i) yr[i] = f(ar[i], v);
      } else {
        const float* br = pb + r * inner;
        const float u = pa[r];
        for (int64_t i = 0; i < inner; ++i) yr[i] = f(u, br[i]);
      }
    }
    return y;
  }
  kernels::for_each_broadcast(out_shape, kernels::broadcast_strides(a.shape(), out_shape),
                              kernels::broadcast_strides(b.shape(), out_shape),
                              [&](int64_t o, int64_t i, int64_t j) { py[o] = f(pa[i], pb[j]); });
  return y;
}
}  // namespace detail

/// y = a + b.  da = g, db = g (each summed back to its shape).
inline Tensor add(const Tensor& a, const Tensor& b) {
  detail::check_defined("add", "input", a, "other", b);
  Tensor y = detail::broadcast_map(a, b, "add", [](float u, float v) { return u + v; });
  record_op(y, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
    return std::vector<Tensor>{needs[0] ? sum_to(g, sa) : Tensor(), needs[1] ? sum_to(g, sb) : Tensor()};
  });
  return y;
}

/// y = a - b.  da = g, db = -g.
inline Tensor sub(const Tensor& a, const Tensor& b) {
  detail::check_defined("sub", "input", a, "other", b);
  Tensor y = detail::broadcast_map(a, b, "sub", [](float u, float v) { return u - v; });
  record_op(y, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
    Tensor db;
    if (needs[1]) db = detail::map(sum_to(g, sb), [](float v) { return -v; });
    return std::vector<Tensor>{needs[0] ? sum_to(g, sa) : Tensor(), db};
  });
  return y;
}

/// y = a * b.  da = g * b, db = g * a.
inline Tensor mul(const Tensor& a, const Tensor& b) {
  detail::check_defined("mul", "input", a, "other", b);
  Tensor y = detail::broadcast_map(a, b, "mul", [](float u, float v) { return u * v; });
  record_op(y, "mul", {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g, const std::vector<bool>& needs) {
    auto times = [](float u, float v) { return u * v; };
    Tensor da, db;
    if (needs[0]) da = sum_to(detail::broadcast_map(g, b, "mul backward", times), a.shape());
    if (needs[1]) db = sum_to(detail::broadcast_map(g, a, "mul backward", times), b.shape());
    return std::vector<Tensor>{da, db};
  });
  return y;
}

/// y = a / b.  da = g / b, db = -g * a / b^2 = -g * y / b.
inline Tensor div(const Tensor& a, const Tensor& b) {
  detail::check_defined("div", "input", a, "other", b);
  Tensor y = detail::broadcast_map(a, b, "div", [](float u, float v) { return u / v; });
  record_op(y, "div", {a, b},
            [b = b.detach(), y = y.detach(), sa = a.shape()](const Tensor& g, const std::vector<bool>& needs) {
              Tensor da, db;
              Tensor g_over_b = detail::broadcast_map(g, b, "div backward", [](float u, float v) { return u / v; });
              if (needs[0]) da = sum_to(g_over_b, sa);
              if (needs[1])
                db = sum_to(detail::map(g_over_b, y, [](float u, float v) { return -u * v; }), b.shape());
              return std::vector<Tensor>{da, db};
            });
  return y;
}

// ---- scalar forms: no broadcasting, the scalar is a constant ----

/// y = x + s.  dx = g.
inline Tensor add(const Tensor& x, float s) {
  detail::check_defined("add", "input", x);
  Tensor y = detail::map(x, [s](float v) { return v + s; });
  record_op(y, "add_scalar", {x}, [](const Tensor& g, const std::vector<bool>&) { return std::vector<Tensor>{g}; });
  return y;
}
inline Tensor sub(const Tensor& x, float s) {
  detail::check_defined("sub", "input", x);
  return add(x, -s);
}

/// y = x * s.  dx = g * s.
inline Tensor mul(const Tensor& x, float s) {
  detail::check_defined("mul", "input", x);
  Tensor y = detail::map(x, [s](float v) { return v * s; });
  record_op(y, "mul_scalar", {x}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::map(g, [s](float v) { return v * s; })};
  });
  return y;
}
inline Tensor div(const Tensor& x, float s) {
  detail::check_defined("div", "input", x);
  Tensor y = detail::map(x, [s](float v) { return v / s; });
  record_op(y, "div_scalar", {x}, [s](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::map(g, [s](float v) { return v / s; })};
  });
  return y;
}

/// y = s - x.  dx = -g.
inline Tensor rsub(const Tensor& x, float s) {
  detail::check_defined("rsub", "input", x);
  Tensor y = detail::map(x, [s](float v) { return s - v; });
  record_op(y, "rsub_scalar", {x}, [](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::map(g, [](float v) { return -v; })};
  });
  return y;
}

/// y = s / x.  dx = -g * s / x^2 = -g * y / x.
inline Tensor rdiv(const Tensor& x, float s) {
  detail::check_defined("rdiv", "input", x);
  Tensor y = detail::map(x, [s](float v) { return s / v; });
  record_op(y, "rdiv_scalar", {x}, [x = x.detach(), y = y.detach()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::map(g, y, x, [](float gi, float yi, float xi) { return -gi * yi / xi; })};
  });
  return y;
}

/// y = -x.  dx = -g.
inline Tensor neg(const Tensor& x) {
  detail::check_defined("neg", "input", x);
  Tensor y = detail::map(x, [](float v) { return -v; });
  record_op(y, "neg", {x}, [](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::map(g, [](float v) { return -v; })};
  });
  return y;
}

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return sub(a, s); }
inline Tensor operator*(const Tensor& a, float s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return div(a, s); }
inline Tensor operator+(float s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(float s, const Tensor& a) { return rsub(a, s); }
inline Tensor operator*(float s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(float s, const Tensor& a) { return rdiv(a, s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// ---- maximum, minimum: elementwise, with broadcasting ----

namespace detail {
/// max or min of a and b, NaN propagating. At a tie each input gets half of g, as PyTorch;
/// where one side is NaN both get all of it.
inline Tensor extreme_of_pair(const Tensor& a, const Tensor& b, bool is_max, const char* op) {
  check_defined(op, "input", a, "other", b);
  Tensor y = broadcast_map(a, b, op, [is_max](float u, float v) {
    if (std::isnan(u) || std::isnan(v)) return u + v;  // NaN
    return (is_max ? u > v : u < v) ? u : v;
  });
  record_op(y, op, {a, b}, [a = a.detach(), b = b.detach(), is_max, op](const Tensor& g,
                                                                        const std::vector<bool>& needs) {
    // The share of g that input `first` gets, against the other input.
    auto share = [is_max](float mine, float other) {
      if (mine == other) return 0.5f;
      return (is_max ? mine < other : mine > other) ? 0.0f : 1.0f;  // NaN: neither, so 1
    };
    auto times = [](float u, float v) { return u * v; };
    Tensor da, db;
    if (needs[0]) da = sum_to(broadcast_map(g, broadcast_map(a, b, op, share), op, times), a.shape());
    if (needs[1]) db = sum_to(broadcast_map(g, broadcast_map(b, a, op, share), op, times), b.shape());
    return std::vector<Tensor>{da, db};
  });
  return y;
}
}  // namespace detail

/// y = max(a, b) elementwise (torch.maximum).  da = g where a > b, db = g where b > a, g / 2 each at ties.
inline Tensor maximum(const Tensor& a, const Tensor& b) { return detail::extreme_of_pair(a, b, true, "maximum"); }
/// y = min(a, b) elementwise (torch.minimum).  da = g where a < b, db = g where b < a, g / 2 each at ties.
inline Tensor minimum(const Tensor& a, const Tensor& b) { return detail::extreme_of_pair(a, b, false, "minimum"); }

}  // namespace tinydiff
