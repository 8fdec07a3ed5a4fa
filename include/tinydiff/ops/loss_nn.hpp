#pragma once
// Classification loss: cross_entropy over logits and integer class labels
// (mse_loss and the Reduction enum live in ops/loss.hpp).
#include <cmath>
#include <cstdint>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/kernels/softmax.hpp"
#include "tinydiff/ops/loss.hpp"

namespace tinydiff {

// Cross entropy of logits [N, C] against labels (N classes in [0, C)), as
// torch.nn.functional.cross_entropy, with optional label smoothing eps: the
// target distribution is t = (1 - eps) onehot(label) + eps / C.
//   p = log_softmax(logits, 1),  l_n = -sum_c t_nc p_nc   (= -p[n, label] when eps = 0)
//   mean: L = sum_n l_n / N;  sum: L = sum_n l_n;  none: L = l  (shape [N])
//   dlogits_nc = g_n (softmax_nc - t_nc)   (g_n = g / N for mean, g for sum, g[n] for none)
inline Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels,
                            Reduction reduction = Reduction::Mean, double label_smoothing = 0.0) {
  TD_CHECK(logits.dim() == 2, "cross_entropy", "expected logits of shape [N, C], got ", shape_str(logits.shape()));
  const int64_t N = logits.size(0), C = logits.size(1);
  TD_CHECK(static_cast<int64_t>(labels.size()) == N, "cross_entropy", "got ", labels.size(),
           " labels for logits of shape ", shape_str(logits.shape()));
  TD_CHECK(C > 0, "cross_entropy", "logits of shape ", shape_str(logits.shape()), " have no classes");
  for (int64_t n = 0; n < N; ++n)
    TD_CHECK(labels[n] >= 0 && labels[n] < C, "cross_entropy", "label ", labels[n], " at position ", n,
             " is out of range [0, ", C, ") for logits of shape ", shape_str(logits.shape()));
  TD_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, "cross_entropy", "label_smoothing must be in [0, 1], got ",
           label_smoothing);
  TD_CHECK(N > 0 || reduction != Reduction::Mean, "cross_entropy", "mean over an empty batch (logits of shape ",
           shape_str(logits.shape()), ")");

  Tensor logp = Tensor::empty(logits.shape());
  kernels::softmax_forward(logits.data(), logp.data(), N, C, 1, /*log=*/true);
  const double on = 1.0 - label_smoothing, off = label_smoothing / static_cast<double>(C);
  std::vector<double> per_sample(static_cast<size_t>(N));
  const float* lp = logp.data();
  for (int64_t n = 0; n < N; ++n) {
    double row = 0.0;
    if (off != 0.0)
      for (int64_t c = 0; c < C; ++c) row += lp[n * C + c];
    per_sample[n] = -(on * lp[n * C + labels[n]] + off * row);
  }
  Tensor y;
  if (reduction == Reduction::None) {
    y = Tensor::empty({N});
    for (int64_t n = 0; n < N; ++n) y.data()[n] = static_cast<float>(per_sample[n]);
  } else {
    double total = 0.0;
    for (double l : per_sample) total += l;
    y = scalar_tensor(static_cast<float>(reduction == Reduction::Mean ? total / static_cast<double>(N) : total));
  }

  record_op(y, "cross_entropy", {logits},
            [logp, labels, reduction, on, off, N, C](const Tensor& g, const std::vector<bool>&) {
              Tensor dx = Tensor::empty({N, C});
              const float* lp = logp.data();
              float* d = dx.data();
              for (int64_t n = 0; n < N; ++n) {
                const float gn = reduction == Reduction::None ? g.data()[n]
                                 : reduction == Reduction::Mean ? g.item() / static_cast<float>(N)
                                                                : g.item();
                for (int64_t c = 0; c < C; ++c) {
                  const double target = off + (c == labels[n] ? on : 0.0);
                  d[n * C + c] = gn * static_cast<float>(std::exp(static_cast<double>(lp[n * C + c])) - target);
                }
              }
              return std::vector<Tensor>{dx};
            });
  return y;
}

}  // namespace tinydiff
