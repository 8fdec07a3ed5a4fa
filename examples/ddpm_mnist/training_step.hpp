#pragma once
// One training step of DDPM: Algorithm 1 of Ho et al. (2020),
//
//   repeat
//     x_0 ~ q(x_0);  t ~ Uniform({1, ..., T});  eps ~ N(0, I)
//     take a gradient step on  grad || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2
//
// with what a modern recipe adds around the gradient step: AdamW, gradient clipping, a warmup +
// cosine learning rate, an exponential moving average (EMA) of the weights, and labels dropped
// at random so that one network learns both conditional and unconditional denoising (for
// classifier-free guidance). The loop around it (batches, logging, checkpoints, signals) is
// app/train.hpp.
#include <cmath>
#include <cstdint>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "diffusion.hpp"
#include "unet.hpp"

namespace ddpm {

// What a training step reads and changes.
struct Trainer {
  UNet& model;
  tinydiff::optim::AdamW& optimizer;
  tinydiff::optim::WarmupCosineLR& scheduler;  // the learning rate, one step per training step
  tinydiff::optim::EMA& ema;                    // the averaged weights that sampling uses
  const NoiseSchedule& schedule;
  LossOptions loss;
  double grad_clip = 0.0;       // the largest gradient norm (0: no clipping)
  float label_dropout = 0.0f;   // the fraction of labels replaced by "no label"
};

// The random draws of one batch: per image its label (or, with probability label_dropout, the
// null label num_classes), its timestep t ~ Uniform{0, ..., T-1}, then the noise eps ~ N(0, I).
struct Draws {
  std::vector<int64_t> labels;  // empty for an unconditional model
  std::vector<int> t;
  Tensor eps;
};
inline Draws draw_noise(const Trainer& trainer, const Tensor& x0, const std::vector<int64_t>& digit_labels,
                        tinydiff::Generator& gen) {
  const int64_t batch = x0.size(0), null_label = trainer.model.config.num_classes;
  Draws d{std::vector<int64_t>(static_cast<size_t>(batch)), std::vector<int>(static_cast<size_t>(batch)), {}};
  for (int64_t i = 0; i < batch; ++i) {
    d.labels[i] = gen.uniform() < trainer.label_dropout ? null_label : digit_labels[i];
    d.t[i] = static_cast<int>(gen.uniform_int(static_cast<uint64_t>(trainer.schedule.T())));
  }
  d.eps = tinydiff::randn(x0.shape(), &gen);
  if (null_label == 0) d.labels.clear();  // drawn all the same, so that the draws after them do not move
  return d;
}

// Whether every value of the tensors is finite. (x * 0 is 0 for a finite x and NaN for an
// infinite or NaN one, so one sum tells, in a loop the compiler vectorises.)
inline bool all_finite(const std::vector<tinydiff::Tensor>& tensors) {
  for (const tinydiff::Tensor& t : tensors) {
    const float* p = t.data();
    float probe = 0.0f;
    for (int64_t i = 0; i < t.numel(); ++i) probe += p[i] * 0.0f;
    if (probe != 0.0f) return false;
  }
  return true;
}

// What a step did. A step that meets a non-finite loss changes nothing; one whose update made
// the weights non-finite stops before the EMA (and so before any checkpoint) sees them.
struct StepResult {
  enum class Status { Done, LossNotFinite, WeightsNotFinite };
  Status status = Status::Done;
  float loss = 0.0f;
  float grad_norm = 0.0f;  // before clipping (0 when clipping is off)
  double lr = 0.0;         // the learning rate of this step's update
};

inline StepResult training_step(Trainer& tr, const Tensor& x0, const std::vector<int64_t>& digit_labels,
                                tinydiff::Generator& gen) {
  using Status = StepResult::Status;
  const Draws d = draw_noise(tr, x0, digit_labels, gen);
  const Tensor loss = diffusion_loss(tr.model, tr.schedule, tr.loss, x0, d.t, d.eps, d.labels);
  StepResult r{Status::Done, loss.item()};
  if (!std::isfinite(r.loss)) return {Status::LossNotFinite, r.loss};
  tr.optimizer.zero_grad();
  loss.backward();
  if (tr.grad_clip > 0) r.grad_norm = tinydiff::optim::clip_grad_norm_(tr.model.parameters(), tr.grad_clip);
  r.lr = tr.optimizer.get_lr();
  tr.optimizer.step();
  if (!all_finite(tr.model.parameters())) return {Status::WeightsNotFinite, r.loss};
  tr.scheduler.step();
  tr.ema.update();
  return r;
}

}  // namespace ddpm
