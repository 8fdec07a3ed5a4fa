// The tutorial's training step on its own: diffusion_loss against the loss written out by
// hand, and training_step's outcomes (an update; a non-finite loss or update that changes
// neither the weights nor the EMA).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "../training_step.hpp"

using namespace ddpm;
using namespace tinydiff;

namespace {
UNetConfig small_unet() {
  UNetConfig config;
  config.base = 8;
  config.mults = {1, 2};
  config.groups = 2;
  return config;
}

std::vector<std::vector<float>> values_of(const std::vector<Tensor>& tensors) {
  std::vector<std::vector<float>> values;
  for (const Tensor& t : tensors) values.push_back(t.to_vector());
  return values;
}

std::vector<std::vector<float>> shadow_values(const optim::EMA& ema) {
  std::vector<std::vector<float>> values;
  for (const auto& named : ema.shadow_params()) values.push_back(named.second.to_vector());
  return values;
}
}  // namespace

TEST_CASE("diffusion_loss: the mean squared error of the prediction of eps (or v) at x_t, min-SNR weighted per sample") {
  manual_seed(3);
  UNet model(small_unet());
  const NoiseSchedule s = NoiseSchedule::linear(1000);
  Generator gen(4);
  const Tensor x0 = randn({3, 1, 8, 8}, &gen), eps = randn({3, 1, 8, 8}, &gen);
  const std::vector<int> t = {0, 400, 999};
  const std::vector<int64_t> labels = {1, 2, 10};
  const int64_t per_image = 64;

  // The loss written out: x_t by hand, the target by hand, the weights from the SNR directly.
  auto by_hand = [&](Prediction kind, double gamma) {
    NoGradGuard no_grad;
    std::vector<float> x_t(static_cast<size_t>(x0.numel())), target(x_t.size());
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t k = i * per_image; k < (i + 1) * per_image; ++k) {
        const double a = std::sqrt(s.abar(t[i])), b = std::sqrt(1.0 - s.abar(t[i]));
        x_t[k] = static_cast<float>(a * x0.data()[k] + b * eps.data()[k]);
        target[k] = static_cast<float>(kind == Prediction::Epsilon ? eps.data()[k] : a * eps.data()[k] - b * x0.data()[k]);
      }
    const Tensor out = model.forward(tensor(x_t, x0.shape()), t, labels);
    double total = 0.0;
    for (int64_t i = 0; i < 3; ++i) {
      const double snr = s.abar(t[i]) / (1.0 - s.abar(t[i]));
      const double w = gamma > 0 ? std::min(snr, gamma) / (kind == Prediction::Epsilon ? snr : snr + 1.0) : 1.0;
      for (int64_t k = i * per_image; k < (i + 1) * per_image; ++k) {
        const double e = out.data()[k] - target[k];
        total += w * e * e;
      }
    }
    return total / static_cast<double>(x0.numel());
  };
  for (const Prediction kind : {Prediction::Epsilon, Prediction::V})
    for (const double gamma : {0.0, 5.0}) {
      INFO("v prediction: ", kind == Prediction::V, ", gamma ", gamma);
      const Tensor loss = diffusion_loss(model, s, LossOptions{kind, gamma}, x0, t, eps, labels);
      CHECK(loss.numel() == 1);
      CHECK(loss.item() == doctest::Approx(by_hand(kind, gamma)).epsilon(1e-5));
    }
  // The weights matter: t = 0 has a huge SNR, so min-SNR makes the loss much smaller there.
  const std::vector<int> early = {0, 0, 0};
  CHECK(diffusion_loss(model, s, LossOptions{Prediction::Epsilon, 5.0}, x0, early, eps, labels).item() <
        0.01f * diffusion_loss(model, s, LossOptions{Prediction::Epsilon, 0.0}, x0, early, eps, labels).item());
}

TEST_CASE("training_step: one update of the weights and the EMA; a non-finite loss or update stops it before the EMA") {
  manual_seed(5);
  UNet model(small_unet());
  const NoiseSchedule s = NoiseSchedule::linear(100);
  Generator image_gen(6);
  const Tensor x0 = randn({4, 1, 8, 8}, &image_gen);
  const std::vector<int64_t> digits = {0, 1, 2, 3};

  auto run_step = [&](double lr, const Tensor& images, StepResult::Status expect) {
    optim::AdamW optimizer(model.parameters(), optim::AdamWOptions(lr));
    optim::WarmupCosineLR scheduler(optimizer, 0, 10);
    optim::EMA ema(model, optim::EMAOptions().decay(0.9));
    Trainer trainer{model, optimizer, scheduler, ema, s, LossOptions{}, 1.0, 0.1f};
    const auto weights = values_of(model.parameters()), shadow = shadow_values(ema);
    Generator gen(7);
    const StepResult r = training_step(trainer, images, digits, gen);
    CHECK(r.status == expect);
    if (expect == StepResult::Status::Done) {
      CHECK(r.loss > 0.0f);
      CHECK(r.grad_norm > 0.0f);
      CHECK(r.lr == doctest::Approx(lr));
      CHECK(values_of(model.parameters()) != weights);
      CHECK(shadow_values(ema) != shadow);
      CHECK(ema.num_updates() == 1);
    } else {
      if (expect == StepResult::Status::LossNotFinite) CHECK(values_of(model.parameters()) == weights);
      CHECK(shadow_values(ema) == shadow);
      CHECK(ema.num_updates() == 0);
    }
  };
  run_step(1e-3, x0, StepResult::Status::Done);
  Tensor poisoned = x0.clone();
  poisoned.data()[5] = std::numeric_limits<float>::quiet_NaN();
  run_step(1e-3, poisoned, StepResult::Status::LossNotFinite);
  run_step(3e38, x0, StepResult::Status::WeightsNotFinite);  // an update that overflows the weights
}
