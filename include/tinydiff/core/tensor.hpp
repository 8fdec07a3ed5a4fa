#pragma once
// Tensor, whole: the class (core/tensor_body.hpp), its autograd engine (core/autograd.hpp, which
// defines Tensor::backward), and printing. Include this one: either part alone leaves Tensor
// incomplete (tensor_body.hpp declares backward() without defining it).
#include <ostream>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/tensor_body.hpp"

namespace tinydiff {

/// Prints "tensor([[1, 2], [3, 4]], shape=[2, 2])"; long dims are elided with "...".
inline std::ostream& operator<<(std::ostream& out, const Tensor& t) {
  if (!t.defined()) return out << "tensor(undefined)";
  const Shape& s = t.shape();
  const float* p = t.data();
  const int64_t edge = 3;  // elements shown at each end of a long dim
  // Recursive over dims; depth is the rank (small), not the element count.
  struct Printer {
    std::ostream& out;
    const Shape& s;
    const float* p;
    int64_t edge;
    void run(size_t d, int64_t offset, int64_t stride) {
      if (d == s.size()) {
        out << p[offset];
        return;
      }
      const int64_t n = s[d], inner = stride / (n ? n : 1);
      out << "[";
      for (int64_t i = 0; i < n; ++i) {
        if (n > 2 * edge && i == edge) {
          out << ", ...";
          i = n - edge;
        }
        if (i) out << ", ";
        run(d + 1, offset + i * inner, inner);
      }
      out << "]";
    }
  };
  out << "tensor(";
  Printer{out, s, p, edge}.run(0, 0, t.numel());
  out << ", shape=" << shape_str(s);
  if (t.requires_grad()) out << (t.is_leaf() ? ", requires_grad=true" : ", grad_fn=" + t.grad_fn_name());
  return out << ")";
}

}  // namespace tinydiff
