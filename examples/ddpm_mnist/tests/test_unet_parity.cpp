// U-Net parity with PyTorch. CTest first trains a few steps with ddpm_mnist (weights
// written as ema.safetensors), then tests/parity/unet_parity.py loads them into the
// PyTorch mirror with strict=True and records output and all parameter gradients
// of an MSE loss on fixed inputs; this test loads the same weights and inputs into
// the C++ U-Net and compares. Tolerance: |a - b| <= 1e-4 * max|b| + 1e-4 * |b| per
// tensor (1e-4 relative, measured against the tensor's scale).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "../app/checkpoint.hpp"

using namespace ddpm;
using namespace tinydiff;

#ifndef UNET_PARITY_DIR
#error "UNET_PARITY_DIR must name the folder with ema.safetensors and torch_unet.safetensors"
#endif

namespace {
double worst_ratio(const Tensor& ours, const Tensor& theirs) {
  REQUIRE(ours.shape() == theirs.shape());
  double scale = 0.0, worst = 0.0;
  for (float v : theirs.to_vector()) scale = std::max(scale, double(std::fabs(v)));
  const float* a = ours.data();
  const float* b = theirs.data();
  for (int64_t i = 0; i < ours.numel(); ++i) {
    const double bound = 1e-4 * scale + 1e-4 * std::fabs(b[i]) + 1e-12;
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / bound);
  }
  return worst;
}
}  // namespace

TEST_CASE("the C++ U-Net matches the PyTorch mirror: output and every parameter gradient") {
  const std::string dir = UNET_PARITY_DIR;
  LoadedModel loaded = load_model_for_sampling(dir + "/ema.safetensors", false, UNetConfig{}, DiffusionConfig{});
  UNet& model = *loaded.model;
  CHECK(model.num_parameters() == 835681);  // the default model is the reference architecture
  const io::SafetensorsFile torch_side = io::load_safetensors(dir + "/torch_unet.safetensors");

  const Tensor x = torch_side.get("x"), target = torch_side.get("target");
  std::vector<int> t;
  for (float v : torch_side.get("t").to_vector()) t.push_back(static_cast<int>(v));
  std::vector<int64_t> y;
  for (float v : torch_side.get("y").to_vector()) y.push_back(static_cast<int64_t>(v));

  model.train();
  const Tensor out = model.forward(x, t, y);
  const Tensor loss = mse_loss(out, target);
  loss.backward();

  CHECK(worst_ratio(out, torch_side.get("out")) <= 1.0);
  CHECK(loss.item() == doctest::Approx(torch_side.get("loss").item()).epsilon(1e-4));
  size_t compared = 0;
  double worst = 0.0;
  for (auto& [name, p] : model.named_parameters()) {
    INFO("gradient of " << name);
    REQUIRE(p.grad().defined());
    const double r = worst_ratio(p.grad(), torch_side.get("grad." + name));
    CHECK(r <= 1.0);
    worst = std::max(worst, r);
    ++compared;
  }
  CHECK(compared == model.named_parameters().size());
  size_t torch_grads = 0;
  for (auto& entry : torch_side.tensors) torch_grads += entry.first.compare(0, 5, "grad.") == 0;
  CHECK(compared == torch_grads);
  MESSAGE("compared output and " << compared << " gradients; worst error / bound = " << worst);
}
