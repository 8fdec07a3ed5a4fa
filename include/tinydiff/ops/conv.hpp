#pragma once
/// @file
/// conv2d and conv_transpose2d with PyTorch's semantics and weight layouts.
///
/// Both are one family built on the kernels of kernels/conv.hpp: the transposed
/// convolution is the adjoint (input gradient) of a convolution, so its forward
/// is that convolution's input gradient and its input gradient is that
/// convolution's forward.
#include <cstdint>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/conv.hpp"

namespace tinydiff {

namespace detail {
/// Checks shared by conv2d and conv_transpose2d: ranks, groups, stride, padding, dilation, bias.
inline void check_conv_arguments(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 Int2 stride, Int2 padding, Int2 dilation, int64_t groups) {
  check_defined(op, "input", x, "weight", weight);
  TD_CHECK(x.defined() && weight.defined(), op, "input and weight must be defined tensors");
  TD_CHECK(x.dim() == 4, op, "expected a 4-D input [N, C, H, W], got shape ", shape_str(x.shape()));
  TD_CHECK(weight.dim() == 4, op, "expected a 4-D weight, got shape ", shape_str(weight.shape()));
  TD_CHECK(groups >= 1, op, "groups must be positive, got ", groups);
  TD_CHECK(stride.h > 0 && stride.w > 0, op, "stride must be positive, got (", stride.h, ", ", stride.w, ")");
  TD_CHECK(dilation.h > 0 && dilation.w > 0, op, "dilation must be positive, got (", dilation.h, ", ",
           dilation.w, ")");
  TD_CHECK(padding.h >= 0 && padding.w >= 0, op, "padding must be non-negative, got (", padding.h, ", ",
           padding.w, ")");
  TD_CHECK(weight.size(2) > 0 && weight.size(3) > 0, op, "kernel size must be positive, got weight shape ",
           shape_str(weight.shape()));
  TD_CHECK(!bias.defined() || bias.dim() == 1, op, "expected a 1-D bias, got shape ",
           bias.defined() ? shape_str(bias.shape()) : std::string());
}

/// The extent of a dilated kernel along one dim, d (k - 1) + 1, in checked arithmetic: dilation
/// and padding come from users and files, and their products overflow long before an
/// allocation could fail.
inline int64_t dilated_kernel_extent(const char* op, int64_t kernel, int64_t dilation) {
  return checked_add(checked_mul(dilation, kernel - 1, op, "dilation * (kernel size - 1)"), 1, op,
                     "dilated kernel size");
}
/// in + 2 pad along one dim, in checked arithmetic.
inline int64_t padded_input_size(const char* op, int64_t in, int64_t padding) {
  return checked_add(in, checked_mul(2, padding, op, "2 * padding"), op, "padded input size");
}
/// conv_transpose2d's output size along one dim, (in - 1) s - 2 p + d (k - 1) + output_padding + 1,
/// in checked arithmetic.
inline int64_t transposed_output_size(const char* op, int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                                      int64_t dilation, int64_t output_padding) {
  const int64_t span = checked_mul(in - 1, stride, op, "(input size - 1) * stride");
  const int64_t grown = checked_add(checked_add(span, dilated_kernel_extent(op, kernel, dilation), op, "output size"),
                                    output_padding, op, "output size");
  return checked_sub(grown, checked_mul(2, padding, op, "2 * padding"), op, "output size");
}
/// The kernel window's fields of p: its size, stride, padding and dilation.
inline void set_window(kernels::ConvParams& p, int64_t kh, int64_t kw, Int2 stride, Int2 padding, Int2 dilation) {
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = stride.h;
  p.stride_w = stride.w;
  p.pad_h = padding.h;
  p.pad_w = padding.w;
  p.dilation_h = dilation.h;
  p.dilation_w = dilation.w;
}
}  // namespace detail

/// y = conv2d(x, w, b): x [N, Cin, H, W], w [Cout, Cin/groups, kh, kw], b [Cout] (optional),
/// y [N, Cout, Hout, Wout] with Hout = (H + 2 p_h - d_h (kh - 1) - 1) / s_h + 1 (likewise W), and
///
///     y[n, o, i, j] = b[o] + sum_{c in o's group, a, b'} w[o, c, a, b'] x[n, c, i s_h - p_h + a d_h,
///                                                                             j s_w - p_w + b' d_w]
/// (zero outside the image). Backward, per image and group with col = im2col(x):
///
///     dx = col2im(W^T g)        dW = sum_n g col^T        db[o] = sum_{n, i, j} g[n, o, i, j]
inline Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Int2 stride = 1,
                     Int2 padding = 0, Int2 dilation = 1, int64_t groups = 1) {
  const char* op = "conv2d";
  detail::check_conv_arguments(op, x, weight, bias, stride, padding, dilation, groups);
  const int64_t n = x.size(0), cin = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t cout = weight.size(0), kh = weight.size(2), kw = weight.size(3);
  const int64_t expected_cin = detail::checked_mul(weight.size(1), groups, op, "the weight's in channels * groups");
  TD_CHECK(cin == expected_cin, op, "input shape ", shape_str(x.shape()), " has ", cin,
           " channels but weight shape ", shape_str(weight.shape()), " with groups=", groups, " expects ",
           expected_cin);
  TD_CHECK(cout % groups == 0, op, "out channels ", cout, " (weight shape ", shape_str(weight.shape()),
           ") are not divisible by groups=", groups);
  TD_CHECK(!bias.defined() || bias.size(0) == cout, op, "bias shape ", shape_str(bias.shape()),
           " does not match the weight's ", cout, " out channels (weight shape ", shape_str(weight.shape()), ")");
  const int64_t extent_h = detail::dilated_kernel_extent(op, kh, dilation.h);
  const int64_t extent_w = detail::dilated_kernel_extent(op, kw, dilation.w);
  const int64_t padded_h = detail::padded_input_size(op, h, padding.h);
  const int64_t padded_w = detail::padded_input_size(op, w, padding.w);
  TD_CHECK(padded_h >= extent_h && padded_w >= extent_w, op, "padded input size (", padded_h, ", ", padded_w,
           ") is smaller than the dilated kernel (", extent_h, ", ", extent_w, "): input shape ",
           shape_str(x.shape()), ", weight shape ", shape_str(weight.shape()), "; the output would be empty");

  kernels::ConvParams p;
  p.batch = n;
  p.in_channels = cin;
  p.out_channels = cout;
  p.groups = groups;
  p.in_h = h;
  p.in_w = w;
  p.out_h = (padded_h - extent_h) / stride.h + 1;
  p.out_w = (padded_w - extent_w) / stride.w + 1;
  detail::set_window(p, kh, kw, stride, padding, dilation);
  kernels::check_conv_sizes(p, op);

  Tensor y = Tensor::empty({n, cout, p.out_h, p.out_w});
  kernels::conv2d_forward(x.data(), weight.data(), bias.defined() ? bias.data() : nullptr, y.data(), p);

  // Save only what the needed gradients read: x for dW, w for dx.
  const Tensor saved_x = weight.requires_grad() ? x.detach() : Tensor();
  const Tensor saved_w = x.requires_grad() ? weight.detach() : Tensor();
  record_op(y, op, {x, weight, bias},
            [saved_x, saved_w, p, x_shape = x.shape(), w_shape = weight.shape()](const Tensor& g,
                                                                                  const std::vector<bool>& needs) {
              Tensor dx, dw, db;
              if (needs[0]) {
                dx = Tensor::empty(x_shape);
                kernels::conv2d_backward_input(g.data(), saved_w.data(), dx.data(), p);
              }
              if (needs[1]) {
                dw = Tensor::empty(w_shape);
                kernels::conv2d_backward_weight(saved_x.data(), g.data(), dw.data(), p);
              }
              if (needs[2]) {
                db = Tensor::empty({p.out_channels});
                kernels::conv2d_backward_bias(g.data(), db.data(), p.batch, p.out_channels, p.out_h * p.out_w);
              }
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

/// y = conv_transpose2d(x, w, b): x [N, Cin, H, W], w [Cin, Cout/groups, kh, kw], b [Cout] (optional),
/// y [N, Cout, Hout, Wout] with Hout = (H - 1) s_h - 2 p_h + d_h (kh - 1) + output_padding_h + 1, and
///
///     y[n, o, i s_h - p_h + a d_h, j s_w - p_w + b' d_w] += w[c, o', a, b'] x[n, c, i, j]   (o = o' + Cout_g * group(c))
/// plus b[o]: every input pixel stamps the kernel onto the output. This is the adjoint of the
/// conv2d C with C's input [N, Cout, Hout, Wout], output [N, Cin, H, W] and the same weight, so
///
///     y = C^T x (C's input gradient)      dx = C g (C's forward)      dW = C's weight gradient
///     with C's input := g and C's upstream gradient := x         db[o] = sum_{n, i, j} g[n, o, i, j]
/// output_padding only adds rows/columns at the bottom/right; it must be < stride or < dilation.
inline Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                               Int2 stride = 1, Int2 padding = 0, Int2 output_padding = 0, int64_t groups = 1,
                               Int2 dilation = 1) {
  const char* op = "conv_transpose2d";
  detail::check_conv_arguments(op, x, weight, bias, stride, padding, dilation, groups);
  const int64_t n = x.size(0), cin = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t kh = weight.size(2), kw = weight.size(3);
  TD_CHECK(cin == weight.size(0), op, "input shape ", shape_str(x.shape()), " has ", cin,
           " channels but weight shape ", shape_str(weight.shape()), " expects ", weight.size(0));
  TD_CHECK(cin % groups == 0, op, "in channels ", cin, " (weight shape ", shape_str(weight.shape()),
           ") are not divisible by groups=", groups);
  const int64_t cout = detail::checked_mul(weight.size(1), groups, op, "the weight's out channels * groups");
  TD_CHECK(!bias.defined() || bias.size(0) == cout, op, "bias shape ", shape_str(bias.shape()),
           " does not match the ", cout, " out channels of weight shape ", shape_str(weight.shape()),
           " with groups=", groups);
  TD_CHECK(output_padding.h >= 0 && output_padding.w >= 0, op, "output_padding must be non-negative, got (",
           output_padding.h, ", ", output_padding.w, ")");
  TD_CHECK((output_padding.h < stride.h || output_padding.h < dilation.h) &&
               (output_padding.w < stride.w || output_padding.w < dilation.w),
           op, "output_padding (", output_padding.h, ", ", output_padding.w,
           ") must be smaller than either stride (", stride.h, ", ", stride.w, ") or dilation (", dilation.h, ", ",
           dilation.w, ")");
  const int64_t out_h =
      detail::transposed_output_size(op, h, kh, stride.h, padding.h, dilation.h, output_padding.h);
  const int64_t out_w =
      detail::transposed_output_size(op, w, kw, stride.w, padding.w, dilation.w, output_padding.w);
  TD_CHECK(out_h > 0 && out_w > 0, op, "output size (", out_h, ", ", out_w, ") is not positive: input shape ",
           shape_str(x.shape()), ", weight shape ", shape_str(weight.shape()), ", stride (", stride.h, ", ",
           stride.w, "), padding (", padding.h, ", ", padding.w, ")");

  // The convolution C this is the adjoint of: C maps [N, Cout, out_h, out_w] to [N, Cin, H, W] with the
  // same weight, which in C's terms is [C's out = Cin, C's in / groups = Cout / groups, kh, kw].
  kernels::ConvParams p;
  p.batch = n;
  p.in_channels = cout;
  p.out_channels = cin;
  p.groups = groups;
  p.in_h = out_h;
  p.in_w = out_w;
  p.out_h = h;  // given, not derived: with output_padding >= stride C's own formula would differ
  p.out_w = w;
  detail::set_window(p, kh, kw, stride, padding, dilation);
  kernels::check_conv_sizes(p, op);

  Tensor y = Tensor::empty({n, cout, out_h, out_w});
  kernels::conv2d_backward_input(x.data(), weight.data(), y.data(), p, bias.defined() ? bias.data() : nullptr);

  const Tensor saved_x = weight.requires_grad() ? x.detach() : Tensor();
  const Tensor saved_w = x.requires_grad() ? weight.detach() : Tensor();
  record_op(y, op, {x, weight, bias},
            [saved_x, saved_w, p, x_shape = x.shape(), w_shape = weight.shape()](const Tensor& g,
                                                                                  const std::vector<bool>& needs) {
              Tensor dx, dw, db;
              if (needs[0]) {  // dx = C g
                dx = Tensor::empty(x_shape);
                kernels::conv2d_forward(g.data(), saved_w.data(), nullptr, dx.data(), p);
              }
              if (needs[1]) {  // dW[c, o', a, b'] = sum g[n, o, i s - p + a d, ...] x[n, c, i, j]
                dw = Tensor::empty(w_shape);
                kernels::conv2d_backward_weight(g.data(), saved_x.data(), dw.data(), p);
              }
              if (needs[2]) {
                db = Tensor::empty({p.in_channels});
                kernels::conv2d_backward_bias(g.data(), db.data(), p.batch, p.in_channels, p.in_h * p.in_w);
              }
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

}  // namespace tinydiff
