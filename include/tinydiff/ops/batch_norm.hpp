#pragma once
/// @file
/// batch_norm and instance_norm, as torch.nn.functional, over kernels/batch_norm.hpp.
/// The running statistics are plain tensors (a module's buffers) updated in place,
/// outside autograd, as PyTorch does; only x, weight and bias get gradients.
#include <cmath>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/batch_norm.hpp"
#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/norm.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff {

/// Batch norm over x [N, C, *]: each channel normalised over the batch and the trailing dims.
///
///     training:   y = (x - mean_B) / sqrt(var_B + eps) * weight[c] + bias[c]   (var_B biased)
///                 running_mean = (1 - momentum) running_mean + momentum mean_B
///                 running_var  = (1 - momentum) running_var  + momentum var_B M / (M - 1)   (unbiased)
///     evaluation: y = (x - running_mean) / sqrt(running_var + eps) * weight[c] + bias[c]
/// M = N * prod(trailing dims). running_mean / running_var may be undefined in training (no update);
/// evaluation needs both. Gradients (per channel, dxhat = g weight[c]):
///
///     training:   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
///     evaluation: dx = rstd dxhat
///     dweight[c] = sum g xhat,  dbias[c] = sum g
inline Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                         const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = false,
                         double momentum = 0.1, double eps = 1e-5) {
  detail::check_defined("batch_norm", "input", x);
  TD_CHECK(x.dim() >= 2, "batch_norm", "expected input of shape [N, C, *], got ", shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1);
  int64_t S = 1;
  for (int64_t d = 2; d < x.dim(); ++d) S *= x.size(d);
  TD_CHECK(eps >= 0.0, "batch_norm", "eps must be non-negative, got ", eps);
  TD_CHECK(momentum >= 0.0 && momentum <= 1.0, "batch_norm", "momentum must be in [0, 1], got ", momentum);
  TD_CHECK(running_mean.defined() == running_var.defined(), "batch_norm",
           "running_mean and running_var must both be given or both be undefined");
  TD_CHECK(training || running_mean.defined(), "batch_norm",
           "evaluation (training=false) needs running_mean and running_var");
  detail::check_channel_params("batch_norm", x, running_mean, running_var, weight, bias);
  const int64_t M = N * S;
  TD_CHECK(!training || M > 1, "batch_norm", "expected more than 1 value per channel when training, got input of shape ",
           shape_str(x.shape()));

  Tensor mean = Tensor::empty({C}), rstd = Tensor::empty({C});
  if (training) {
    std::vector<double> batch_mean(static_cast<size_t>(C)), batch_var(static_cast<size_t>(C));
    kernels::batch_norm_stats(x.data(), N, C, S, batch_mean.data(), batch_var.data());
    for (int64_t c = 0; c < C; ++c) {
      mean.data()[c] = static_cast<float>(batch_mean[c]);
      rstd.data()[c] = static_cast<float>(1.0 / std::sqrt(batch_var[c] + eps));
    }
    if (running_mean.defined()) {
      float* rm = running_mean.data();
      float* rv = running_var.data();
      const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
      for (int64_t c = 0; c < C; ++c) {
        rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * batch_mean[c]);
        rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * batch_var[c] * unbias);
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      TD_CHECK(running_var.data()[c] + eps > 0.0, "batch_norm", "running_var[", c, "] + eps = ",
               running_var.data()[c] + eps, " is not positive");
      mean.data()[c] = running_mean.data()[c];
      rstd.data()[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var.data()[c]) + eps));
    }
  }
  Tensor y = Tensor::empty(x.shape());
  kernels::batch_norm_apply(x.data(), mean.data(), rstd.data(), weight.defined() ? weight.data() : nullptr,
                            bias.defined() ? bias.data() : nullptr, N, C, S, y.data());
  record_op(y, "batch_norm", {x, weight, bias},
            [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), mean, rstd, N, C, S, training](
                const Tensor& g, const std::vector<bool>& needs) {
              Tensor dx = needs[0] ? Tensor::empty(x.shape()) : Tensor();
              Tensor dw = needs[1] ? Tensor::empty({C}) : Tensor();
              Tensor db = needs[2] ? Tensor::empty({C}) : Tensor();
              kernels::batch_norm_backward(g.data(), x.data(), mean.data(), rstd.data(),
                                           w.defined() ? w.data() : nullptr, N, C, S, training,
                                           dx.defined() ? dx.data() : nullptr, dw.defined() ? dw.data() : nullptr,
                                           db.defined() ? db.data() : nullptr);
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

/// Instance norm over x [N, C, *]: each (sample, channel) plane normalised by its own statistics
/// when use_input_stats, else by the running ones; then weight[c], bias[c] as batch norm.
///
///     y = (x - mean_nc) / sqrt(var_nc + eps) * weight[c] + bias[c]
/// With running statistics (track_running_stats), training updates each channel's running
/// mean / var with the average over the batch of its planes' statistics (var unbiased per plane),
/// as PyTorch, which runs batch norm on x viewed as [1, N C, *]; that is what happens here too.
/// Without them this is group_norm with one group per channel (the same kernel and gradient).
inline Tensor instance_norm(const Tensor& x, const Tensor& running_mean = Tensor(),
                            const Tensor& running_var = Tensor(), const Tensor& weight = Tensor(),
                            const Tensor& bias = Tensor(), bool use_input_stats = true, double momentum = 0.1,
                            double eps = 1e-5) {
  detail::check_defined("instance_norm", "input", x);
  TD_CHECK(x.dim() >= 3, "instance_norm", "expected input of shape [N, C, *] with at least one spatial dim, got ",
           shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1);
  TD_CHECK(running_mean.defined() == running_var.defined(), "instance_norm",
           "running_mean and running_var must both be given or both be undefined");
  TD_CHECK(use_input_stats || running_mean.defined(), "instance_norm",
           "use_input_stats=false needs running_mean and running_var");
  detail::check_channel_params("instance_norm", x, running_mean, running_var, weight, bias);
  TD_CHECK(eps >= 0.0, "instance_norm", "eps must be non-negative, got ", eps);
  int64_t S = 1;
  for (int64_t d = 2; d < x.dim(); ++d) S *= x.size(d);
  TD_CHECK(!use_input_stats || S > 1, "instance_norm",
           "expected more than 1 spatial element when training, got input of shape ", shape_str(x.shape()));
  if (!running_mean.defined()) return group_norm(x, C, weight, bias, eps);

  // x as [1, N C, S] with the running statistics repeated for each sample.
  Tensor mean_rep = Tensor::empty({N * C}), var_rep = Tensor::empty({N * C});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      mean_rep.data()[n * C + c] = running_mean.data()[c];
      var_rep.data()[n * C + c] = running_var.data()[c];
    }
  Tensor y = batch_norm(reshape(x, {1, N * C, S}), mean_rep, var_rep, Tensor(), Tensor(), use_input_stats, momentum,
                        eps);
  if (use_input_stats)  // each channel's running statistics: the average over the batch
    for (int64_t c = 0; c < C; ++c) {
      double m = 0.0, v = 0.0;
      for (int64_t n = 0; n < N; ++n) m += mean_rep.data()[n * C + c], v += var_rep.data()[n * C + c];
      running_mean.data()[c] = static_cast<float>(m / static_cast<double>(N));
      running_var.data()[c] = static_cast<float>(v / static_cast<double>(N));
    }
  y = reshape(y, x.shape());
  Shape per_channel(static_cast<size_t>(x.dim()), 1);  // [1, C, 1, ...]: broadcasts over x
  per_channel[1] = C;
  if (weight.defined()) y = y * reshape(weight, per_channel);
  if (bias.defined()) y = y + reshape(bias, per_channel);
  return y;
}

}  // namespace tinydiff
