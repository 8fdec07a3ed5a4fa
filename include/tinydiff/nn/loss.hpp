#pragma once
/// @file
/// Loss modules with torch.nn's names and constructor arguments: each holds its options and
/// forwards to the functional loss (ops/loss*.hpp), e.g.
///
///     nn::CrossEntropyLoss criterion(/*weight=*/{}, /*ignore_index=*/-100, Reduction::Mean, 0.1);
///     Tensor loss = criterion(logits, targets);
/// They hold no parameters (class weights are constants), so they are plain objects, not Modules.
#include <cstdint>
#include <string>

#include "tinydiff/core/index_tensor.hpp"
#include "tinydiff/ops/loss.hpp"
#include "tinydiff/ops/loss_classification.hpp"
#include "tinydiff/ops/loss_pointwise.hpp"

namespace tinydiff::nn {

class MSELoss {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) const { return mse_loss(input, target, reduction_); }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Reduction reduction_;
};

class L1Loss {
 public:
  explicit L1Loss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) const { return l1_loss(input, target, reduction_); }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Reduction reduction_;
};

class SmoothL1Loss {
 public:
  explicit SmoothL1Loss(Reduction reduction = Reduction::Mean, double beta = 1.0) : reduction_(reduction), beta_(beta) {}
  Tensor forward(const Tensor& input, const Tensor& target) const {
    return smooth_l1_loss(input, target, reduction_, beta_);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Reduction reduction_;
  double beta_;
};

class HuberLoss {
 public:
  explicit HuberLoss(Reduction reduction = Reduction::Mean, double delta = 1.0) : reduction_(reduction), delta_(delta) {}
  Tensor forward(const Tensor& input, const Tensor& target) const {
    return huber_loss(input, target, reduction_, delta_);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Reduction reduction_;
  double delta_;
};

/// reduction: "none", "sum", "mean" or "batchmean" (PyTorch's default is "mean").
class KLDivLoss {
 public:
  explicit KLDivLoss(std::string reduction = "mean", bool log_target = false)
      : reduction_(std::move(reduction)), log_target_(log_target) {}
  Tensor forward(const Tensor& input, const Tensor& target) const {
    return kl_div(input, target, reduction_, log_target_);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  std::string reduction_;
  bool log_target_;
};

class BCELoss {
 public:
  explicit BCELoss(Tensor weight = Tensor(), Reduction reduction = Reduction::Mean)
      : weight_(std::move(weight)), reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) const {
    return binary_cross_entropy(input, target, weight_, reduction_);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Tensor weight_;
  Reduction reduction_;
};

class BCEWithLogitsLoss {
 public:
  explicit BCEWithLogitsLoss(Tensor weight = Tensor(), Reduction reduction = Reduction::Mean,
                             Tensor pos_weight = Tensor())
      : weight_(std::move(weight)), pos_weight_(std::move(pos_weight)), reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) const {
    return binary_cross_entropy_with_logits(input, target, weight_, pos_weight_, reduction_);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Tensor weight_, pos_weight_;
  Reduction reduction_;
};

class NLLLoss {
 public:
  explicit NLLLoss(Tensor weight = Tensor(), int64_t ignore_index = -100, Reduction reduction = Reduction::Mean)
      : weight_(std::move(weight)), ignore_index_(ignore_index), reduction_(reduction) {}
  Tensor forward(const Tensor& input, const IndexTensor& target) const {
    return nll_loss(input, target, weight_, ignore_index_, reduction_);
  }
  Tensor operator()(const Tensor& input, const IndexTensor& target) const { return forward(input, target); }

 private:
  Tensor weight_;
  int64_t ignore_index_;
  Reduction reduction_;
};

/// Class-index targets (IndexTensor) or class probabilities (a float tensor of the input's shape).
class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(Tensor weight = Tensor(), int64_t ignore_index = -100,
                            Reduction reduction = Reduction::Mean, double label_smoothing = 0.0)
      : weight_(std::move(weight)), ignore_index_(ignore_index), reduction_(reduction),
        label_smoothing_(label_smoothing) {}
  Tensor forward(const Tensor& input, const IndexTensor& target) const {
    return cross_entropy(input, target, weight_, ignore_index_, reduction_, label_smoothing_);
  }
  Tensor forward(const Tensor& input, const Tensor& target) const {
    return cross_entropy(input, target, weight_, reduction_, label_smoothing_);
  }
  Tensor operator()(const Tensor& input, const IndexTensor& target) const { return forward(input, target); }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Tensor weight_;
  int64_t ignore_index_;
  Reduction reduction_;
  double label_smoothing_;
};

}  // namespace tinydiff::nn
