#pragma once
/// @file
/// Learning-rate schedules, as torch.optim.lr_scheduler: each sets the lr of every
/// parameter group from that group's base lr (its lr when the scheduler was built)
/// and a step count. Call step() once after each optimizer.step(), as in PyTorch:
///
///     for (...) { loss.backward(); opt.step(); sched.step(); }
/// Building a scheduler applies lr_at(0) at once (PyTorch's last_epoch = -1 -> 0).
/// lr_at(step) is a pure function of the step; set_last_epoch(n) resumes at step n.
#include <cmath>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "tinydiff/optim/optimizer.hpp"

namespace tinydiff::optim {

/// The base of the schedules: step() sets every group's lr to lr_at(the step count).
class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
    for (size_t g = 0; g < optimizer.num_param_groups(); ++g) base_lrs_.push_back(optimizer.get_lr(g));
  }
  virtual ~LRScheduler() = default;

  /// The lr of `group` at scheduler step `step` (0 before the first step()).
  virtual double lr_at(int64_t step, size_t group = 0) const = 0;

  /// Advances one step and sets the optimiser's lrs.
  void step() { set_last_epoch(last_epoch_ + 1); }

  /// The lrs last set, one per group.
  std::vector<double> get_last_lr() const { return last_lrs_; }
  int64_t last_epoch() const { return last_epoch_; }
  /// Jumps to step `epoch` (for resuming from a checkpoint) and sets the lrs for it.
  void set_last_epoch(int64_t epoch) {
    TD_CHECK(epoch >= 0, "LRScheduler", "step must be >= 0, got ", epoch);
    last_epoch_ = epoch;
    last_lrs_.clear();
    for (size_t g = 0; g < base_lrs_.size(); ++g) {
      last_lrs_.push_back(lr_at(epoch, g));
      optimizer_.set_lr(g, last_lrs_.back());
    }
  }
  const std::vector<double>& base_lrs() const { return base_lrs_; }

 protected:
  /// Derived constructors call this last (lr_at is virtual, so the base cannot).
  void start() { set_last_epoch(0); }
  double base_lr(size_t group) const {
    TD_CHECK(group < base_lrs_.size(), "LRScheduler", "parameter group ", group, " does not exist");
    return base_lrs_[group];
  }

 private:
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lrs_;
  int64_t last_epoch_ = 0;
};

/// lr = base * factor for the first total_iters steps, then base (torch's ConstantLR and its defaults).
class ConstantLR : public LRScheduler {
 public:
  explicit ConstantLR(Optimizer& optimizer, double factor = 1.0 / 3.0, int64_t total_iters = 5)
      : LRScheduler(optimizer), factor_(factor), total_iters_(total_iters) {
    TD_CHECK(factor >= 0.0 && factor <= 1.0, "ConstantLR", "factor must be in [0, 1], got ", factor);
    TD_CHECK(total_iters >= 0, "ConstantLR", "total_iters must be >= 0, got ", total_iters);
    start();
  }
  double lr_at(int64_t step, size_t group = 0) const override {
    return base_lr(group) * (step < total_iters_ ? factor_ : 1.0);
  }

 private:
  double factor_;
  int64_t total_iters_;
};

/// lr = base * gamma^floor(step / step_size) (torch's StepLR).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1)
      : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
    TD_CHECK(step_size > 0, "StepLR", "step_size must be positive, got ", step_size);
    start();
  }
  double lr_at(int64_t step, size_t group = 0) const override {
    return base_lr(group) * std::pow(gamma_, static_cast<double>(step / step_size_));
  }

 private:
  int64_t step_size_;
  double gamma_;
};

/// Linear warmup from 0 to base over warmup_steps, then a half cosine from base down to
/// min_lr at total_steps, and min_lr after (the diffusers/transformers "cosine" schedule):
///
///     step < W:  lr = base * step / W
///     else:      lr = min_lr + (base - min_lr) * (1 + cos(pi * min(1, (step - W) / (T - W)))) / 2
class WarmupCosineLR : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0)
      : LRScheduler(optimizer), warmup_(warmup_steps), total_(total_steps), min_lr_(min_lr) {
    TD_CHECK(warmup_steps >= 0 && total_steps >= warmup_steps, "WarmupCosineLR",
             "needs 0 <= warmup_steps <= total_steps, got ", warmup_steps, " and ", total_steps);
    TD_CHECK(min_lr >= 0.0, "WarmupCosineLR", "min_lr must be >= 0, got ", min_lr);
    start();
  }
  double lr_at(int64_t step, size_t group = 0) const override {
    const double base = base_lr(group);
    if (step < warmup_) return base * static_cast<double>(step) / static_cast<double>(warmup_);
    if (step >= total_) return min_lr_;
    const double progress = static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_);
    const double pi = 3.14159265358979323846;
    return min_lr_ + (base - min_lr_) * 0.5 * (1.0 + std::cos(pi * progress));
  }

 private:
  int64_t warmup_, total_;
  double min_lr_;
};

/// lr = base * lambda(step) (torch's LambdaLR), for any other schedule.
class LambdaLR : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, std::function<double(int64_t)> lambda)
      : LRScheduler(optimizer), lambda_(std::move(lambda)) {
    TD_CHECK(static_cast<bool>(lambda_), "LambdaLR", "empty function");
    start();
  }
  double lr_at(int64_t step, size_t group = 0) const override { return base_lr(group) * lambda_(step); }

 private:
  std::function<double(int64_t)> lambda_;
};

}  // namespace tinydiff::optim
