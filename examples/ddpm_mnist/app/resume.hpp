#pragma once
// What `train --resume` continues with. A checkpoint records every setting that changes the
// run (the model, the diffusion process, the data and the optimisation); resuming with
// different ones would silently make a different run, and label ema.safetensors with
// diffusion settings its weights were not trained for. So:
//   - a setting not given on the command line is taken from the checkpoint (`train --resume
//     runs/x/checkpoint.safetensors` continues the run as it was);
//   - a setting given on the command line must agree with the checkpoint's, or the run is
//     refused with the list of differences;
//   - `--override NAME=VALUE` changes one on purpose (not the architecture: the weights fix it).
// Settings are named as their flags: "lr" is --lr.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tinydiff/tinydiff.hpp>

#include "checkpoint.hpp"
#include "config.hpp"

namespace ddpm {

inline const std::vector<std::string>& model_settings() {
  static const std::vector<std::string> names = {"in-channels", "base", "mults", "groups", "classes"};
  return names;
}
inline const std::vector<std::string>& diffusion_settings() {
  static const std::vector<std::string> names = {"schedule", "T", "prediction"};
  return names;
}
// The settings a preset chooses.
inline const std::vector<std::string>& training_settings() {
  static const std::vector<std::string> names = {"steps",     "batch",         "lr",      "warmup",
                                                 "min-lr",    "weight-decay",  "grad-clip", "ema-decay",
                                                 "label-dropout", "min-snr",   "seed"};
  return names;
}
// Every setting, in the order messages list them.
inline const std::vector<std::string>& all_settings() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all = model_settings();
    all.insert(all.end(), diffusion_settings().begin(), diffusion_settings().end());
    all.insert(all.end(), training_settings().begin(), training_settings().end());
    all.push_back("dataset");
    return all;
  }();
  return names;
}
// What --override may change: everything but the architecture.
inline const std::vector<std::string>& overridable_settings() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all = diffusion_settings();
    all.insert(all.end(), training_settings().begin(), training_settings().end());
    all.push_back("dataset");
    all.erase(std::find(all.begin(), all.end(), "min-lr"));  // no flag sets it
    return all;
  }();
  return names;
}

// A run's settings by name, e.g. {"lr": 0.002, "mults": [1, 2, 2], "dataset": "mnist", ...}.
inline nlohmann::json run_settings(const TrainRun& run) {
  const UNetConfig& m = run.model;
  const DiffusionConfig& d = run.diffusion;
  const TrainConfig& c = run.train;
  return {{"in-channels", m.in_channels}, {"base", m.base}, {"mults", m.mults}, {"groups", m.groups},
          {"classes", m.num_classes},     {"schedule", d.schedule}, {"T", d.T}, {"prediction", d.prediction},
          {"steps", c.steps},             {"batch", c.batch},       {"lr", c.lr}, {"warmup", c.warmup},
          {"min-lr", c.min_lr},           {"weight-decay", c.weight_decay}, {"grad-clip", c.grad_clip},
          {"ema-decay", c.ema_decay},     {"label-dropout", c.label_dropout}, {"min-snr", c.min_snr_gamma},
          {"seed", c.seed},               {"dataset", run.dataset}};
}

// Sets one setting of `run` from run_settings' value.
inline void set_run_setting(TrainRun& run, const std::string& name, const nlohmann::json& v) {
  UNetConfig& m = run.model;
  DiffusionConfig& d = run.diffusion;
  TrainConfig& c = run.train;
  if (name == "in-channels") m.in_channels = v.get<int64_t>();
  else if (name == "base") m.base = v.get<int64_t>();
  else if (name == "mults") m.mults = v.get<std::vector<int64_t>>();
  else if (name == "groups") m.groups = v.get<int64_t>();
  else if (name == "classes") m.num_classes = v.get<int64_t>();
  else if (name == "schedule") d.schedule = v.get<std::string>();
  else if (name == "T") d.T = v.get<int>();
  else if (name == "prediction") d.prediction = v.get<std::string>();
  else if (name == "steps") c.steps = v.get<int64_t>();
  else if (name == "batch") c.batch = v.get<int64_t>();
  else if (name == "lr") c.lr = v.get<double>();
  else if (name == "warmup") c.warmup = v.get<int64_t>();
  else if (name == "min-lr") c.min_lr = v.get<double>();
  else if (name == "weight-decay") c.weight_decay = v.get<double>();
  else if (name == "grad-clip") c.grad_clip = v.get<double>();
  else if (name == "ema-decay") c.ema_decay = v.get<double>();
  else if (name == "label-dropout") c.label_dropout = v.get<double>();
  else if (name == "min-snr") c.min_snr_gamma = v.get<double>();
  else if (name == "seed") c.seed = v.get<uint64_t>();
  else if (name == "dataset") run.dataset = v.get<std::string>();
  else throw tinydiff::Error("resume: unknown run setting '" + name + "'");
}

// The "train" metadata of a checkpoint: the training settings and the dataset.
inline nlohmann::json training_json(const TrainRun& run) {
  nlohmann::json j = to_json(run.train);
  j["dataset"] = run.dataset;
  return j;
}

// The settings of the run that wrote a training checkpoint, read (and range-checked) from its
// metadata. Checkpoints written before the dataset was recorded were all of MNIST.
inline TrainRun checkpoint_run(const std::string& path) {
  const tinydiff::io::SafetensorsFile file = tinydiff::io::load_safetensors(path);
  auto format = file.metadata.find("format");
  TD_CHECK(format != file.metadata.end() && format->second == kCheckpointFormat, "checkpoint", "'", path,
           "' is not a ddpm_mnist training checkpoint (format '",
           format == file.metadata.end() ? std::string("none") : tinydiff::io::safetensors_detail::excerpt(format->second),
           "')");
  TrainRun saved;
  saved.model = unet_config_from_json(parse_json_metadata(file.metadata, "model", path), path);
  saved.diffusion = diffusion_config_from_json(parse_json_metadata(file.metadata, "diffusion", path), path);
  const nlohmann::json train = parse_json_metadata(file.metadata, "train", path);
  saved.train = train_config_from_json(train, path);
  const auto dataset = train.find("dataset");
  if (dataset != train.end()) {
    const bool known = dataset->is_string() && (*dataset == "mnist" || *dataset == "fashion");
    TD_CHECK(known, "checkpoint", "'", path, "': bad train config: 'dataset' must be \"mnist\" or \"fashion\"");
    saved.dataset = dataset->get<std::string>();
  }
  return saved;
}

// `run` with every setting that is not in `given` (nor overridden) taken from the checkpoint's
// run; the preset's name too, unless "preset" is in `given`. What the run writes and where
// (`outputs_given` names the output flags given, and "out"): as the checkpoint's preset writes
// (a resumed full run keeps its grids every 2,500 steps), into the checkpoint's own folder.
inline void adopt_checkpoint_settings(TrainRun& run, const std::vector<std::string>& given,
                                      const std::vector<std::string>& outputs_given = {}) {
  const TrainRun saved = checkpoint_run(run.resume);
  const nlohmann::json saved_settings = run_settings(saved);
  auto named = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (const auto& [name, value] : saved_settings.items())
    if (!named(given, name) && !named(run.overrides, name)) set_run_setting(run, name, value);
  if (!named(given, "preset")) run.train.preset = saved.train.preset;
  const std::vector<std::string>& presets = preset_names();
  if (std::find(presets.begin(), presets.end(), saved.train.preset) != presets.end()) {
    const TrainConfig writes = preset(saved.train.preset);
    if (!named(outputs_given, "sample-every")) run.train.sample_every = writes.sample_every;
    if (!named(outputs_given, "checkpoint-every")) run.train.checkpoint_every = writes.checkpoint_every;
    if (!named(outputs_given, "log-every")) run.train.log_every = writes.log_every;
    if (!named(outputs_given, "guidance")) run.train.guidance = writes.guidance;
    run.train.sample_steps = writes.sample_steps;
  }
  if (!named(outputs_given, "out")) {
    const std::filesystem::path folder = std::filesystem::path(run.resume).parent_path();
    run.out_dir = folder.empty() ? "." : folder.string();
  }
}

// A setting's value as one would type it after its flag: 0.002, 1,2,2, cosine.
inline std::string flag_value(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const nlohmann::json& e : v) out += (out.empty() ? "" : ",") + flag_value(e);
    return out;
  }
  return v.dump();
}

// Refuses to resume when a setting of `run` differs from the checkpoint's run and was not
// overridden, listing every difference and how to go on.
inline void check_resume_settings(const TrainRun& run) {
  const TrainRun saved = checkpoint_run(run.resume);
  const nlohmann::json want = run_settings(run), have = run_settings(saved);
  std::string differences, overrides;
  for (const std::string& name : all_settings()) {
    const nlohmann::json& value = want.at(name);
    if (value == have.at(name)) continue;
    if (std::find(run.overrides.begin(), run.overrides.end(), name) != run.overrides.end()) continue;
    differences += "\n  --" + name + " " + flag_value(value) + " (the checkpoint's run: " + flag_value(have.at(name)) + ")";
    const auto& model = model_settings();
    if (std::find(model.begin(), model.end(), name) == model.end())
      overrides += " --override " + name + "=" + flag_value(value);
  }
  if (differences.empty()) return;
  std::string how = "leave these flags out to continue the run as it was";
  if (!overrides.empty()) how += ", or change the run on purpose with" + overrides;
  throw tinydiff::Error("train: --resume '" + run.resume + "': the command line differs from the run that wrote it:" +
                        differences + "\n" + how);
}

}  // namespace ddpm
