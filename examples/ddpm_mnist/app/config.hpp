#pragma once
// Everything a training run is made of, its presets, and its JSON form (stored in
// each checkpoint's metadata, so `sample` and `--resume` rebuild the same model).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tinydiff/io/safetensors.hpp>

#include "../diffusion.hpp"
#include "../unet.hpp"

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

// Presets: quick draws recognisable digits in about 2 minutes on a 2-core CPU
// (2,000 steps x 32 = 64k images seen, lr 1e-3 with warmup and cosine decay, EMA
// with warmup; its grids UniPC-8 at guidance 1.75: the best found at that budget,
// docs/quality.md "Quick preset"); full aims at digits that cannot be told from
// real ones, in about 20 minutes (the shipped weights; docs/quality.md has both
// presets' measured figures).
inline const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"quick", "full", "test"};
  return names;
}
inline TrainConfig preset(const std::string& name) {
  TrainConfig c;
  c.preset = name;
  if (name == "quick") {  // more, smaller steps beat 1,100 x 64 at lr 2e-3 in the same time
    c.steps = 2000;
    c.batch = 32;
    c.lr = 1e-3;
    c.warmup = 200;
    c.sample_steps = 8;
    c.guidance = 1.75;
    return c;
  }
  if (name == "full") {  // 640k images seen in 10,000 small steps (smaller steps win at equal images)
    c.steps = 10000;
    c.batch = 64;
    c.lr = 2e-3;
    c.warmup = 500;
    c.sample_every = 2500;
    c.checkpoint_every = 500;
    c.sample_steps = 8;
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

// One training run: its settings, where it writes, and what it continues from.
struct TrainRun {
  TrainConfig train;
  UNetConfig model;
  DiffusionConfig diffusion;
  std::string out_dir = "runs/quick";
  std::string resume;          // a checkpoint to continue from ("" = start fresh)
  // With `resume`: the settings (resume.hpp's names, e.g. "lr") that are meant to differ from
  // the checkpoint's run; any other difference is refused.
  std::vector<std::string> overrides;
  std::string dataset = "mnist";
  std::string data_dir;        // "" = the default location of `dataset`
  int64_t stop_after = -1;     // stop (with a checkpoint) after this step; -1 = run to the end
};

inline nlohmann::json to_json(const UNetConfig& m) {
  return {{"in_channels", m.in_channels}, {"base", m.base}, {"mults", m.mults}, {"groups", m.groups},
          {"num_classes", m.num_classes}};
}
inline nlohmann::json to_json(const DiffusionConfig& d) {
  return {{"schedule", d.schedule}, {"T", d.T}, {"prediction", d.prediction}};
}
// The settings that make up the run (not how often it logs or writes files).
inline nlohmann::json to_json(const TrainConfig& c) {
  return {{"preset", c.preset}, {"steps", c.steps}, {"batch", c.batch}, {"lr", c.lr}, {"warmup", c.warmup},
          {"min_lr", c.min_lr}, {"weight_decay", c.weight_decay}, {"grad_clip", c.grad_clip},
          {"ema_decay", c.ema_decay}, {"label_dropout", c.label_dropout}, {"min_snr_gamma", c.min_snr_gamma},
          {"seed", c.seed}};
}

// What a config read from a file may hold. A checkpoint comes from anywhere, and
// the model is built from its config: each field is checked against these ranges
// before anything is allocated (a 256-byte file with a huge num_classes once made
// the embedding's byte count wrap). The ranges hold every model this example can
// train and keep the largest far from overflow: a layer of the widest U-Net
// allowed (1,024 channels) has 9.4M weights.
struct ConfigLimits {
  static constexpr int64_t kMaxInChannels = 64;
  static constexpr int64_t kMaxChannels = 1024;  // base, and base * mult at every level
  static constexpr int64_t kMaxLevels = 6;       // 28 -> 14 -> 7 -> 4 -> 2 -> 1
  static constexpr int64_t kMaxClasses = 10000;
  static constexpr int64_t kMinT = 2, kMaxT = 100000;  // as the --T flag
};

namespace detail {
// Throws "checkpoint '<source>': bad <config> config: <problem>".
struct ConfigReader {
  const nlohmann::json& j;
  std::string config;  // "model" or "diffusion"
  std::string source;  // the file

  [[noreturn]] void fail(const std::string& problem) const {
    throw tinydiff::Error("checkpoint '" + source + "': bad " + config + " config: " + problem);
  }
  const nlohmann::json& field(const char* name) const {
    if (!j.is_object()) fail(std::string("it must be a JSON object, got ") + j.type_name());
    const auto it = j.find(name);
    if (it == j.end()) fail(std::string("it has no '") + name + "'");
    return *it;
  }
  // An integer in [min, max]; `name` says where it is in error messages. Only the
  // type of a wrong value is named: dump() of a deeply nested one would recurse.
  int64_t integer(const nlohmann::json& value, const std::string& name, int64_t min, int64_t max,
                  const std::string& why = "") const {
    if (!value.is_number_integer()) fail("'" + name + "' must be an integer, got " + value.type_name());
    const std::string allowed = " (allowed: " + std::to_string(min) + " to " + std::to_string(max) + why + ")";
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(max))
      fail("'" + name + "' is " + std::to_string(value.get<uint64_t>()) + allowed);
    const int64_t v = value.get<int64_t>();
    if (v < min || v > max) fail("'" + name + "' is " + std::to_string(v) + allowed);
    return v;
  }
  int64_t integer(const char* name, int64_t min, int64_t max) const { return integer(field(name), name, min, max); }
  // Any unsigned 64-bit integer (a seed).
  uint64_t unsigned_integer(const char* name) const {
    const nlohmann::json& value = field(name);
    if (!value.is_number_unsigned())
      fail(std::string("'") + name + "' must be a non-negative integer, got " + value.type_name());
    return value.get<uint64_t>();
  }
  // A finite number in [min, max] (integers are numbers too).
  double real(const char* name, double min, double max) const {
    const nlohmann::json& value = field(name);
    if (!value.is_number()) fail(std::string("'") + name + "' must be a number, got " + value.type_name());
    const double v = value.get<double>();
    if (!(v >= min && v <= max))  // also false for NaN
      fail(std::string("'") + name + "' is " + value.dump() + " (allowed: " + nlohmann::json(min).dump() + " to " +
           nlohmann::json(max).dump() + ")");
    return v;
  }
  std::string text(const char* name) const {
    const nlohmann::json& value = field(name);
    if (!value.is_string()) fail(std::string("'") + name + "' must be a string, got " + value.type_name());
    return tinydiff::io::safetensors_detail::excerpt(value.get<std::string>(), 64);
  }
  // One of `choices`.
  std::string choice(const char* name, const std::vector<std::string>& choices) const {
    const nlohmann::json& value = field(name);
    std::string list;
    for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
    if (!value.is_string()) fail(std::string("'") + name + "' must be a string, got " + value.type_name());
    const std::string& text = value.get_ref<const std::string&>();
    for (const std::string& c : choices)
      if (text == c) return text;
    fail(std::string("'") + name + "' is \"" + tinydiff::io::safetensors_detail::excerpt(text) +
         "\" (allowed: " + list + ")");
  }
};
}  // namespace detail

// Reads a config written by to_json; throws tinydiff::Error naming the field that is
// wrong, its value and the allowed range.
inline UNetConfig unet_config_from_json(const nlohmann::json& j, const std::string& source) {
  using L = ConfigLimits;
  const detail::ConfigReader read{j, "model", source};
  UNetConfig m;
  m.in_channels = read.integer("in_channels", 1, L::kMaxInChannels);
  m.base = read.integer("base", 1, L::kMaxChannels);
  const nlohmann::json& mults = read.field("mults");
  if (!mults.is_array()) read.fail(std::string("'mults' must be an array of integers, got ") + mults.type_name());
  if (mults.empty() || mults.size() > static_cast<size_t>(L::kMaxLevels))
    read.fail("'mults' has " + std::to_string(mults.size()) + " levels (allowed: 1 to " +
              std::to_string(L::kMaxLevels) + ")");
  m.mults.clear();
  for (size_t i = 0; i < mults.size(); ++i)
    m.mults.push_back(read.integer(mults[i], "mults[" + std::to_string(i) + "]", 1, L::kMaxChannels / m.base,
                                   ", so that base " + std::to_string(m.base) + " * mult is at most " +
                                       std::to_string(L::kMaxChannels) + " channels"));
  m.groups = read.integer("groups", 1, L::kMaxChannels);
  m.num_classes = read.integer("num_classes", 0, L::kMaxClasses);
  return m;
}
inline DiffusionConfig diffusion_config_from_json(const nlohmann::json& j, const std::string& source) {
  const detail::ConfigReader read{j, "diffusion", source};
  DiffusionConfig d;
  d.schedule = read.choice("schedule", {"linear", "cosine"});
  d.T = static_cast<int>(read.integer("T", ConfigLimits::kMinT, ConfigLimits::kMaxT));
  d.prediction = read.choice("prediction", {"eps", "v"});
  return d;
}

// The run settings of a checkpoint's "train" metadata (to_json above), each checked against the
// range its command-line flag allows; the output intervals (sample/checkpoint/log every) are
// not stored and stay as in `defaults`.
inline TrainConfig train_config_from_json(const nlohmann::json& j, const std::string& source,
                                          TrainConfig defaults = TrainConfig{}) {
  const detail::ConfigReader read{j, "train", source};
  constexpr int64_t kMaxCount = 1000000000000;  // the flags' limit (1e12)
  const double kHuge = std::numeric_limits<double>::max();
  TrainConfig c = defaults;
  c.preset = read.text("preset");
  c.steps = read.integer("steps", 1, kMaxCount);
  c.batch = read.integer("batch", 1, kMaxCount);
  c.lr = read.real("lr", std::numeric_limits<double>::min(), kHuge);
  c.warmup = read.integer("warmup", 0, kMaxCount);
  c.min_lr = read.real("min_lr", 0.0, kHuge);
  c.weight_decay = read.real("weight_decay", 0.0, kHuge);
  c.grad_clip = read.real("grad_clip", 0.0, kHuge);
  c.ema_decay = read.real("ema_decay", 0.0, 1.0);
  c.label_dropout = read.real("label_dropout", 0.0, 1.0);
  c.min_snr_gamma = read.real("min_snr_gamma", 0.0, kHuge);
  c.seed = read.unsigned_integer("seed");
  return c;
}

inline Prediction prediction_kind(const std::string& name) {
  if (name == "eps") return Prediction::Epsilon;
  if (name == "v") return Prediction::V;
  throw tinydiff::Error("prediction: unknown target '" + name + "' (eps or v)");
}

}  // namespace ddpm
