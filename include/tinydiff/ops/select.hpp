#pragma once
/// @file
/// Selection by a mask: where(cond, a, b) and masked_fill(x, mask, value).
///
/// tinydiff tensors are float32 only, so a mask is a float tensor: any non-zero value
/// (1 from a comparison, NaN too) means true, 0 means false. The mask is a constant: it
/// gets no gradient, and the selected inputs get g where they were picked, 0 elsewhere
/// (summed back over the dims they were broadcast along).
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/broadcast.hpp"
#include "tinydiff/ops/binary.hpp"

namespace tinydiff {

namespace detail {
/// g split by a mask broadcast to g's shape: `on` gets g where the mask is non-zero, `off`
/// where it is 0, each only when wanted (the other entries are 0).
inline void split_by_mask(const Tensor& g, const Tensor& mask, Tensor* on, Tensor* off) {
  if (on) *on = Tensor::empty(g.shape());
  if (off) *off = Tensor::empty(g.shape());
  const float* pg = g.data();
  const float* pm = mask.data();
  float* pon = on ? on->data() : nullptr;
  float* poff = off ? off->data() : nullptr;
  const auto sm = kernels::broadcast_strides(mask.shape(), g.shape());
  kernels::for_each_broadcast(g.shape(), sm, sm, [&](int64_t o, int64_t i, int64_t) {
    const bool picked = pm[i] != 0.0f;
    if (pon) pon[o] = picked ? pg[o] : 0.0f;
    if (poff) poff[o] = picked ? 0.0f : pg[o];
  });
}
}  // namespace detail

/// y = cond ? a : b elementwise, the three broadcast together (torch.where).
///
///     da = g where cond (summed to a's shape), db = g where not cond; cond gets none.
inline Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_defined("where", "condition", cond, "input", a, "other", b);
  const Shape out_shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor y = Tensor::empty(out_shape);
  kernels::broadcast_copy(a.data(), a.shape(), y.data(), out_shape);
  const float* pc = cond.data();
  const float* pb = b.data();
  float* py = y.data();
  kernels::for_each_broadcast(out_shape, kernels::broadcast_strides(cond.shape(), out_shape),
                              kernels::broadcast_strides(b.shape(), out_shape), [&](int64_t o, int64_t i, int64_t j) {
                                if (pc[i] == 0.0f) py[o] = pb[j];
                              });
  record_op(y, "where", {a, b},
            [cond = cond.detach(), sa = a.shape(), sb = b.shape()](const Tensor& g, const std::vector<bool>& needs) {
              Tensor da, db;
              detail::split_by_mask(g, cond, needs[0] ? &da : nullptr, needs[1] ? &db : nullptr);
              return std::vector<Tensor>{needs[0] ? sum_to(da, sa) : Tensor(), needs[1] ? sum_to(db, sb) : Tensor()};
            });
  return y;
}

/// x with `value` wherever mask (broadcast to x's shape) is non-zero (torch.masked_fill).
///
///     dx = g where the mask is 0, else 0.
inline Tensor masked_fill(const Tensor& x, const Tensor& mask, float value) {
  detail::check_defined("masked_fill", "input", x, "mask", mask);
  TD_CHECK(broadcast_shapes(mask.shape(), x.shape(), "masked_fill") == x.shape(), "masked_fill", "mask of shape ",
           shape_str(mask.shape()), " does not broadcast to the input's shape ", shape_str(x.shape()));
  Tensor y = detail::copy_of(x);
  const float* pm = mask.data();
  float* py = y.data();
  const auto sm = kernels::broadcast_strides(mask.shape(), x.shape());
  kernels::for_each_broadcast(x.shape(), sm, sm, [&](int64_t o, int64_t i, int64_t) {
    if (pm[i] != 0.0f) py[o] = value;
  });
  record_op(y, "masked_fill", {x}, [mask = mask.detach()](const Tensor& g, const std::vector<bool>&) {
    Tensor dx;
    detail::split_by_mask(g, mask, nullptr, &dx);
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace tinydiff
