#pragma once
// Everything a training run is made of, its presets, and its JSON form (stored in
// each checkpoint's metadata, so `sample` and `--resume` rebuild the same model).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diffusion.hpp"
#include "unet.hpp"

namespace ddpm {

struct DiffusionConfig {
  std::string schedule = "linear";  // "linear" (1e-4..0.02) or "cosine" (s = 0.008)
  int T = 1000;
  std::string prediction = "eps";   // "eps" or "v"
};

struct TrainConfig {
  std::string preset = "quick";
  int64_t steps = 1100;
  int64_t batch = 64;
  double lr = 2e-3;
  int64_t warmup = 100;          // linear LR warmup steps, then cosine decay to min_lr
  double min_lr = 0.0;
  double weight_decay = 0.0;     // AdamW
  double grad_clip = 1.0;        // max global gradient norm (0 = off)
  double ema_decay = 0.999;      // with warmup min(decay, (1+n)/(10+n))
  double label_dropout = 0.1;    // fraction of labels replaced by "no label" (for guidance)
  double min_snr_gamma = 0.0;    // 0 = plain MSE
  uint64_t seed = 0;
  int64_t sample_every = 250;    // sample grid PNG (EMA weights)
  int64_t checkpoint_every = 250;
  int64_t log_every = 50;
  // sampling settings for the grids written during and after training
  int sample_steps = 50;
  double guidance = 2.0;
};

// Presets: quick draws recognisable digits within 10 minutes on a 2-core CPU
// (1,100 steps x 64 = 70k images seen, lr 2e-3 with warmup and cosine decay, EMA
// with warmup: what worked best for this U-Net at a small budget); full aims at
// digits that cannot be told from real ones, in about an hour (docs/quality.md
// has both presets' measured figures).
inline TrainConfig preset(const std::string& name) {
  TrainConfig c;
  c.preset = name;
  if (name == "quick") return c;
  if (name == "full") {  // 640k images seen in 10,000 small steps (smaller steps win at equal images)
    c.steps = 10000;
    c.batch = 64;
    c.lr = 2e-3;
    c.warmup = 500;
    c.sample_every = 2500;
    c.checkpoint_every = 500;
    c.guidance = 1.5;
    return c;
  }
  if (name == "test") {  // a few steps, for the test suite
    c.steps = 4;
    c.batch = 4;
    c.warmup = 2;
    c.sample_every = 0;
    c.checkpoint_every = 2;
    c.log_every = 1;
    c.sample_steps = 2;
    return c;
  }
  throw tinydiff::Error("preset: unknown preset '" + name + "' (quick, full)");
}

inline nlohmann::json to_json(const UNetConfig& m) {
  return {{"in_channels", m.in_channels}, {"base", m.base}, {"mults", m.mults}, {"groups", m.groups},
          {"num_classes", m.num_classes}};
}
inline nlohmann::json to_json(const DiffusionConfig& d) {
  return {{"schedule", d.schedule}, {"T", d.T}, {"prediction", d.prediction}};
}

// Reads a config written by to_json; throws tinydiff::Error naming the field that is wrong.
inline UNetConfig unet_config_from_json(const nlohmann::json& j, const std::string& source) {
  try {
    UNetConfig m;
    m.in_channels = j.at("in_channels").get<int64_t>();
    m.base = j.at("base").get<int64_t>();
    m.mults = j.at("mults").get<std::vector<int64_t>>();
    m.groups = j.at("groups").get<int64_t>();
    m.num_classes = j.at("num_classes").get<int64_t>();
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw tinydiff::Error("checkpoint '" + source + "': bad model config: " + e.what());
  }
}
inline DiffusionConfig diffusion_config_from_json(const nlohmann::json& j, const std::string& source) {
  try {
    DiffusionConfig d;
    d.schedule = j.at("schedule").get<std::string>();
    d.T = j.at("T").get<int>();
    d.prediction = j.at("prediction").get<std::string>();
    return d;
  } catch (const nlohmann::json::exception& e) {
    throw tinydiff::Error("checkpoint '" + source + "': bad diffusion config: " + e.what());
  }
}

inline Prediction prediction_kind(const std::string& name) {
  if (name == "eps") return Prediction::Epsilon;
  if (name == "v") return Prediction::V;
  throw tinydiff::Error("prediction: unknown target '" + name + "' (eps or v)");
}

}  // namespace ddpm
