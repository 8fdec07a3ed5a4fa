// libFuzzer target: checkpoint loading, every reader of a safetensors checkpoint into
// a small ddpm U-Net (in_channels 1, base 4, mults {1}, groups 1, no classes: the
// smallest this U-Net can be, so that its checkpoints are small seeds):
//   Module::load_state_dict (strict), EMA::load_state_dict, tinydiff::io::load(AdamW, path)
//                                                        (what io::load(module / EMA /
//                                                        optimiser, path) run)
//   ddpm::load_training_checkpoint                       all three under model./ema./optim.,
//                                                        the "format", "model", "step",
//                                                        "rng" and "loader" metadata
//   ddpm::unet_config_from_json / diffusion_config_from_json on the "model" and "diffusion"
//                                                        metadata (the run's configuration,
//                                                        range-checked before any model is built)
// Each must return or throw tinydiff::Error; anything else is a finding. The model is
// never built from a file's configuration here (a valid one may ask for a 1,024-channel
// U-Net, which is allowed, only slow): the configuration readers are checked alone.
#include <memory>

#include <tinydiff/tinydiff.hpp>

#include "app/checkpoint.hpp"
#include "app/config.hpp"
#include "fuzz_common.hpp"

namespace {

// The model the corpus was written with (fuzz/make_corpus.cpp builds the same).
struct Training {
  std::shared_ptr<ddpm::UNet> model;
  std::unique_ptr<tinydiff::optim::AdamW> optimizer;
  std::unique_ptr<tinydiff::optim::EMA> ema;
};

Training& training() {
  static Training t = [] {
    Training t;
    ddpm::UNetConfig cfg;
    cfg.base = 4;
    cfg.mults = {1};
    cfg.groups = 1;
    cfg.num_classes = 0;
    t.model = std::make_shared<ddpm::UNet>(cfg);
    t.optimizer = std::make_unique<tinydiff::optim::AdamW>(t.model->parameters(), tinydiff::optim::AdamWOptions(1e-3));
    t.ema = std::make_unique<tinydiff::optim::EMA>(*t.model);
    return t;
  }();
  return t;
}

// Runs one reader; tinydiff::Error is the expected way to refuse a file.
template <typename Reader>
void attempt(Reader&& read) {
  try {
    read();
  } catch (const tinydiff::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Training& t = training();
  const std::string path = fuzz::write_input("input.safetensors", data, size);
  tinydiff::io::SafetensorsFile file;
  try {
    file = tinydiff::io::load_safetensors(path);
  } catch (const tinydiff::Error&) {
    return 0;  // not a safetensors file: fuzz_safetensors covers that
  }
  // What io::load(module, path) and io::load(ema, path) do after reading the file (the file
  // is read once for both, as the inputs can be tens of KB).
  attempt([&] { t.model->load_state_dict(file.tensors, /*strict=*/true, "checkpoint '" + path + "'"); });
  attempt([&] { t.ema->load_state_dict(file.tensors, "checkpoint '" + path + "'"); });
  attempt([&] { tinydiff::io::load(*t.optimizer, path); });  // also checks the "optimizer" metadata
  attempt([&] {
    const ddpm::TrainingState state = ddpm::load_training_checkpoint(path, *t.model, *t.ema, *t.optimizer);
    (void)state;
  });
  attempt([&] {
    const ddpm::UNetConfig cfg =
        ddpm::unet_config_from_json(ddpm::parse_json_metadata(file.metadata, "model", path), path);
    FUZZ_CHECK(cfg.base >= 1 && cfg.base <= ddpm::ConfigLimits::kMaxChannels);
    for (int64_t m : cfg.mults) FUZZ_CHECK(m >= 1 && cfg.base * m <= ddpm::ConfigLimits::kMaxChannels);
  });
  attempt([&] {
    const ddpm::DiffusionConfig d =
        ddpm::diffusion_config_from_json(ddpm::parse_json_metadata(file.metadata, "diffusion", path), path);
    FUZZ_CHECK(d.T >= ddpm::ConfigLimits::kMinT && d.T <= ddpm::ConfigLimits::kMaxT);
    (void)ddpm::prediction_kind(d.prediction);
  });
  return 0;
}
