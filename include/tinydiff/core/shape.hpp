#pragma once
// Shape: the sizes of a tensor's dimensions, outermost first (row-major).
#include <cstdint>
#include <string>
#include <vector>

#include "tinydiff/core/checked.hpp"
#include "tinydiff/core/error.hpp"

namespace tinydiff {

using Shape = std::vector<int64_t>;

// "[2, 3, 4]"; "[]" for a scalar (0-d) shape.
inline std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// The number of elements: the product of the sizes. Throws tinydiff::Error ("op: shape ... has
// too many elements") when the product of the non-zero sizes overflows int64: a zero size makes
// the count 0, but the strides are still products of the other sizes, so [0, 2^62, 2^62] is
// refused too. Every tensor's shape passes through here when it is made (Tensor::empty, reshape),
// so its numel, strides and flat offsets all fit in int64.
inline int64_t shape_numel(const Shape& shape, const char* op = "shape_numel") {
  int64_t count = 0;
  TD_CHECK(detail::product_fits(shape, count), op, "shape ", shape_str(shape),
           " has too many elements (the product of its sizes overflows int64)");
  return count;
}

// Row-major strides in elements: strides[i] = product of shape[i+1:]. The shape must have passed
// shape_numel (as every tensor's shape has), so no product overflows.
inline std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

// Python-style dim: -1 is the last. Throws if out of range for `rank` dims.
inline int64_t normalize_dim(int64_t dim, int64_t rank, const char* op) {
  int64_t d = dim < 0 ? dim + rank : dim;
  TD_CHECK(d >= 0 && d < rank, op, "dim ", dim, " is out of range for a tensor of rank ", rank);
  return d;
}

// NumPy broadcasting: align the shapes on the right; each pair of sizes must be
// equal or one of them 1. Result has the larger rank.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = a.size() > b.size() ? a.size() : b.size();
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    TD_CHECK(da == db || da == 1 || db == 1, op, "cannot broadcast shapes ", shape_str(a), " and ",
             shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// A pair of sizes for 2-D ops (stride, padding, kernel size, ...): height then width.
// Converts from one int (both the same) or from {h, w}, like PyTorch's int-or-tuple arguments.
struct Int2 {
  int64_t h = 0, w = 0;
  Int2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose (conv2d(x, w, b, 2, 1))
  Int2(int64_t height, int64_t width) : h(height), w(width) {}
  bool operator==(const Int2& o) const { return h == o.h && w == o.w; }
};

}  // namespace tinydiff
