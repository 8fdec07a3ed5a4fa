#pragma once
/// @file
/// 2-D pooling and nearest upsampling over NCHW tensors, as torch.nn.functional
/// (avg_pool2d with count_include_pad = true, max_pool2d, interpolate(mode="nearest")
/// with integer scale factors). Kernels in kernels/pool.hpp.
#include <memory>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/pool.hpp"

namespace tinydiff {

namespace detail {
/// Checks the pooling arguments against x [N, C, H, W] and returns the geometry;
/// a stride of 0 (the default) means stride = kernel_size, as PyTorch's stride=None.
inline kernels::Pool2dGeometry pool2d_geometry(const Tensor& x, Int2 kernel, Int2 stride, Int2 padding,
                                               const char* op) {
  TD_CHECK(x.dim() == 4, op, "expected input of shape [N, C, H, W], got ", shape_str(x.shape()));
  if (stride == Int2(0)) stride = kernel;
  TD_CHECK(kernel.h > 0 && kernel.w > 0, op, "kernel_size (", kernel.h, ", ", kernel.w, ") must be positive");
  TD_CHECK(stride.h > 0 && stride.w > 0, op, "stride (", stride.h, ", ", stride.w, ") must be positive");
  TD_CHECK(padding.h >= 0 && padding.w >= 0 && padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2, op,
           "padding (", padding.h, ", ", padding.w, ") must be non-negative and at most half of kernel_size (",
           kernel.h, ", ", kernel.w, ")");
  const int64_t H = x.size(2), W = x.size(3);
  // padding <= kernel / 2 leaves 2 * padding in range, but H + 2 * padding can still overflow.
  const int64_t padded_h = checked_add(H, 2 * padding.h, op, "padded input height");
  const int64_t padded_w = checked_add(W, 2 * padding.w, op, "padded input width");
  TD_CHECK(padded_h >= kernel.h && padded_w >= kernel.w, op, "kernel_size (", kernel.h, ", ", kernel.w,
           ") is larger than the padded input (", padded_h, ", ", padded_w, ") of input of shape ",
           shape_str(x.shape()), " with padding (", padding.h, ", ", padding.w, ")");
  kernels::Pool2dGeometry p{};
  p.planes = x.size(0) * x.size(1);
  p.H = H;
  p.W = W;
  p.OH = (padded_h - kernel.h) / stride.h + 1;
  p.OW = (padded_w - kernel.w) / stride.w + 1;
  p.kh = kernel.h;
  p.kw = kernel.w;
  p.sh = stride.h;
  p.sw = stride.w;
  p.ph = padding.h;
  p.pw = padding.w;
  return p;
}
}  // namespace detail

/// Average over each kh x kw window (padding counts as zeros in the average).
///
///     y[oh, ow] = sum_window x / (kh kw),  dx[h, w] = sum over windows containing (h, w) of g / (kh kw)
inline Tensor avg_pool2d(const Tensor& x, Int2 kernel_size, Int2 stride = Int2(0), Int2 padding = 0) {
  detail::check_defined("avg_pool2d", "input", x);
  const auto p = detail::pool2d_geometry(x, kernel_size, stride, padding, "avg_pool2d");
  Tensor y = Tensor::empty({x.size(0), x.size(1), p.OH, p.OW});
  kernels::avg_pool2d_forward(x.data(), y.data(), p);
  record_op(y, "avg_pool2d", {x}, [p, x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(x_shape);
    kernels::avg_pool2d_backward(g.data(), dx.data(), p);
    return std::vector<Tensor>{dx};
  });
  return y;
}

/// Maximum over each kh x kw window (padding is -inf).
///
///     y[oh, ow] = x[argmax],  dx[argmax] += g[oh, ow]   (the first maximum on ties)
inline Tensor max_pool2d(const Tensor& x, Int2 kernel_size, Int2 stride = Int2(0), Int2 padding = 0) {
  detail::check_defined("max_pool2d", "input", x);
  const auto p = detail::pool2d_geometry(x, kernel_size, stride, padding, "max_pool2d");
  Tensor y = Tensor::empty({x.size(0), x.size(1), p.OH, p.OW});
  auto argmax = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(y.numel()));
  kernels::max_pool2d_forward(x.data(), y.data(), argmax->data(), p);
  record_op(y, "max_pool2d", {x}, [p, argmax, x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(x_shape);
    kernels::max_pool2d_backward(g.data(), argmax->data(), dx.data(), p);
    return std::vector<Tensor>{dx};
  });
  return y;
}

/// Nearest-neighbour upsampling by integer factors (sh, sw): [N, C, H, W] -> [N, C, H sh, W sw].
///
///     y[oh, ow] = x[oh / sh, ow / sw],  dx[h, w] = sum of g over its sh x sw block
inline Tensor upsample_nearest2d(const Tensor& x, Int2 scale_factor) {
  detail::check_defined("upsample_nearest2d", "input", x);
  TD_CHECK(x.dim() == 4, "upsample_nearest2d", "expected input of shape [N, C, H, W], got ", shape_str(x.shape()));
  const int64_t sh = scale_factor.h, sw = scale_factor.w;
  TD_CHECK(sh > 0 && sw > 0, "upsample_nearest2d", "scale_factor (", sh, ", ", sw,
           ") must be positive, for input of shape ", shape_str(x.shape()));
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const char* op = "upsample_nearest2d";
  const Shape out_shape{x.size(0), x.size(1), detail::checked_mul(H, sh, op, "output height H * scale_factor"),
                        detail::checked_mul(W, sw, op, "output width W * scale_factor")};
  shape_numel(out_shape, op);  // checked here so that an error names this op rather than empty()
  Tensor y = Tensor::empty(out_shape);
  kernels::upsample_nearest2d_forward(x.data(), y.data(), planes, H, W, sh, sw);
  record_op(y, "upsample_nearest2d", {x},
            [x_shape = x.shape(), planes, H, W, sh, sw](const Tensor& g, const std::vector<bool>&) {
              Tensor dx = Tensor::empty(x_shape);
              kernels::upsample_nearest2d_backward(g.data(), dx.data(), planes, H, W, sh, sw);
              return std::vector<Tensor>{dx};
            });
  return y;
}

}  // namespace tinydiff
