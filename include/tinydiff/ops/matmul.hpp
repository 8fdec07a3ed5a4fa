#pragma once
/// @file
/// matmul with torch.matmul's rules: 1-D @ 1-D is a dot product, a 1-D operand
/// is promoted to a matrix and the added dim removed, and batch dims broadcast.
///
///     C = A B        dA = g B^T        dB = A^T g
/// (each summed back over the batch dims it was broadcast along).
#include <utility>
#include <vector>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/gemm.hpp"
#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff {

namespace detail {
/// out[batch] = op(A[batch]) op(B[batch]) for rank >= 2 operands whose batch dims
/// (all but the last two) broadcast. Returns [batch..., m, n].
inline Tensor batched_matmul(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const char* op) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const int64_t ra = static_cast<int64_t>(sa.size()), rb = static_cast<int64_t>(sb.size());
  const int64_t m = trans_a ? sa[ra - 1] : sa[ra - 2], ka = trans_a ? sa[ra - 2] : sa[ra - 1];
  const int64_t kb = trans_b ? sb[rb - 1] : sb[rb - 2], n = trans_b ? sb[rb - 2] : sb[rb - 1];
  TD_CHECK(ka == kb, op, "inner dimensions differ: shapes ", shape_str(sa), " and ", shape_str(sb),
           " cannot be multiplied");
  const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b, op);
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = Tensor::empty(out_shape);
  // Nothing to compute; and the batch alone may be far larger than any list of pairs could be
  // ([2^30, 2^30, 0, 4] is a valid empty shape).
  if (out.numel() == 0) return out;

  // Offsets of each batch's matrices, in matrices, via broadcast strides.
  std::vector<std::pair<int64_t, int64_t>> pairs;
  pairs.reserve(static_cast<size_t>(shape_numel(batch)));
  kernels::for_each_broadcast(batch, kernels::broadcast_strides(batch_a, batch),
                              kernels::broadcast_strides(batch_b, batch),
                              [&](int64_t, int64_t ia, int64_t ib) { pairs.emplace_back(ia, ib); });
  const float* pa = a.data();
  const float* pb = b.data();
  float* pc = out.data();
  const int64_t size_a = sa[ra - 1] * sa[ra - 2], size_b = sb[rb - 1] * sb[rb - 2], size_c = m * n;
  const auto count = static_cast<int64_t>(pairs.size());
  if (count == 1) {
    kernels::gemm(trans_a, trans_b, m, n, ka, 1.0f, pa + pairs[0].first * size_a, pb + pairs[0].second * size_b,
                  0.0f, pc);
    return out;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i)
    kernels::gemm(trans_a, trans_b, m, n, ka, 1.0f, pa + pairs[i].first * size_a, pb + pairs[i].second * size_b,
                  0.0f, pc + i * size_c);
  return out;
}
}  // namespace detail

/// The matrix product of `a` [..., m, k] and `b` [..., k, n]: [batch..., m, n], the batch dims
/// broadcast (a 1-D operand as described at the top of the file).
inline Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_defined("matmul", "input", a, "other", b);
  TD_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", "both operands need at least one dim, got shapes ",
           shape_str(a.shape()), " and ", shape_str(b.shape()));
  // Promote vectors to matrices: a [k] -> [1, k], b [k] -> [k, 1].
  Shape sa = a.shape(), sb = b.shape();
  if (a.dim() == 1) sa.insert(sa.begin(), 1);
  if (b.dim() == 1) sb.push_back(1);
  TD_CHECK(sa[sa.size() - 1] == sb[sb.size() - 2], "matmul", "shapes ", shape_str(a.shape()), " and ",
           shape_str(b.shape()), " cannot be multiplied (", sa[sa.size() - 1], " != ", sb[sb.size() - 2], ")");
  const Tensor a2 = reshape(a.detach(), sa), b2 = reshape(b.detach(), sb);
  Tensor c = detail::batched_matmul(a2, false, b2, false, "matmul");
  Shape out_shape = c.shape();
  if (a.dim() == 1) out_shape.erase(out_shape.end() - 2);
  if (b.dim() == 1) out_shape.erase(out_shape.end() - 1);
  Tensor y = reshape(c, out_shape);
  record_op(y, "matmul", {a, b},
            [a2, b2, c_shape = c.shape(), a_shape = a.shape(), b_shape = b.shape()](
                const Tensor& g, const std::vector<bool>& needs) {
              const Tensor g2 = reshape(g, c_shape);
              Tensor da, db;
              if (needs[0])
                da = reshape(sum_to(detail::batched_matmul(g2, false, b2, true, "matmul backward"), a2.shape()), a_shape);
              if (needs[1])
                db = reshape(sum_to(detail::batched_matmul(a2, true, g2, false, "matmul backward"), b2.shape()), b_shape);
              return std::vector<Tensor>{da, db};
            });
  return y;
}

}  // namespace tinydiff
