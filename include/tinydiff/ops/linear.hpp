#pragma once
/// @file
/// linear(x, w, b) = x w^T + b, as torch.nn.functional.linear: x [*, in], w [out, in], b [out].
///
/// One GEMM with the weight read transposed in place (no copy):
///
///     y  = x w^T + b        dx = g w        dw = g^T x        db = sum over rows of g
/// where x and g are viewed as matrices of rows [M, in] and [M, out].
#include <algorithm>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/gemm.hpp"

namespace tinydiff {

/// x [*, in] -> x weight^T + bias [*, out], as torch.nn.functional.linear (weight [out, in],
/// bias [out] or undefined).
inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor()) {
  detail::check_defined("linear", "input", x, "weight", weight);
  TD_CHECK(weight.dim() == 2, "linear", "weight must be [out, in], got ", shape_str(weight.shape()));
  const int64_t out = weight.size(0), in = weight.size(1);
  TD_CHECK(x.dim() >= 1 && x.size(-1) == in, "linear", "input of shape ", shape_str(x.shape()),
           " does not end in in_features=", in, " (weight ", shape_str(weight.shape()), ")");
  TD_CHECK(!bias.defined() || bias.shape() == Shape{out}, "linear", "bias must be [", out, "], got ",
           shape_str(bias.shape()));
  const int64_t rows = x.numel() / in;
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(out);
  Tensor y = Tensor::empty(out_shape);
  float* py = y.data();
  if (bias.defined())
    for (int64_t r = 0; r < rows; ++r) std::copy(bias.data(), bias.data() + out, py + r * out);
  kernels::gemm(false, true, rows, out, in, 1.0f, x.data(), weight.data(), bias.defined() ? 1.0f : 0.0f, py);
  record_op(y, "linear", {x, weight, bias},
            [x = x.detach(), w = weight.detach(), rows, in, out](const Tensor& g, const std::vector<bool>& needs) {
              Tensor dx, dw, db;
              if (needs[0]) {
                dx = Tensor::empty(x.shape());
                kernels::gemm(false, false, rows, in, out, 1.0f, g.data(), w.data(), 0.0f, dx.data());  // g w
              }
              if (needs[1]) {
                dw = Tensor::empty(w.shape());
                kernels::gemm(true, false, out, in, rows, 1.0f, g.data(), x.data(), 0.0f, dw.data());  // g^T x
              }
              if (needs[2]) {
                db = Tensor::empty({out});
                std::vector<double> acc(static_cast<size_t>(out), 0.0);
                for (int64_t r = 0; r < rows; ++r)
                  for (int64_t o = 0; o < out; ++o) acc[o] += g.data()[r * out + o];
                for (int64_t o = 0; o < out; ++o) db.data()[o] = static_cast<float>(acc[o]);
              }
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

}  // namespace tinydiff
