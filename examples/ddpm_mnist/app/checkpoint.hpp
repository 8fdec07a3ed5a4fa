#pragma once
// Training checkpoints: one safetensors file holding everything a run needs to
// continue exactly, written atomically (temp file + rename):
//   model.<name>   the trained weights (PyTorch state_dict names after the prefix)
//   ema.<...>      the EMA's averaged weights and update count
//   optim.<...>    AdamW's moments and step counts
//   metadata       format, model / diffusion / training configs (JSON), step, RNG state,
//                  where the batches' DataLoader is ("loader": epoch, position, its RNG state),
//                  and the guidance the run's sample grids used ("guidance")
// Beside it, <dir>/ema.safetensors holds the EMA weights alone under their plain
// names (what `sample` uses, and what loads into PyTorch with strict=True), with the
// model / diffusion configs and "guidance".
#include <cinttypes>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <tinydiff/tinydiff.hpp>

#include "config.hpp"
#include "../unet.hpp"

// The full preset's EMA weights, kept in the repository (weights/README.md: the command and
// revision that trained them, and their measured quality). The build passes the absolute path.
#ifndef DDPM_MNIST_SHIPPED_WEIGHTS
#define DDPM_MNIST_SHIPPED_WEIGHTS "examples/ddpm_mnist/weights/full_ema.safetensors"
#endif

namespace ddpm {

using tinydiff::io::Metadata;
using tinydiff::nn::NamedTensors;

constexpr const char* kCheckpointFormat = "tinydiff-ddpm-checkpoint-1";
constexpr const char* kWeightsFormat = "tinydiff-ddpm-weights-1";

inline std::string rng_to_string(const tinydiff::Generator::State& s) {
  std::string out;
  char word[17];
  for (uint64_t w : s) {
    std::snprintf(word, sizeof word, "%016" PRIx64, w);
    out += word;
  }
  return out;
}
inline tinydiff::Generator::State rng_from_string(const std::string& text, const std::string& source) {
  tinydiff::Generator::State s{};
  TD_CHECK(text.size() == 16 * s.size() && text.find_first_not_of("0123456789abcdef") == std::string::npos,
           "checkpoint", "'", source, "' has a malformed RNG state");
  for (size_t i = 0; i < s.size(); ++i) s[i] = std::stoull(text.substr(16 * i, 16), nullptr, 16);
  return s;
}

// The step a checkpoint was written at: decimal digits only ("3abc", "1e3", "-1", " 3" and "" are
// refused, not read as 3, 1, ...), at most 10^15.
inline int64_t parse_step(const std::string& text, const std::string& source) {
  const bool digits = !text.empty() && text.size() <= 16 && text.find_first_not_of("0123456789") == std::string::npos;
  const int64_t step = digits ? std::stoll(text) : -1;
  TD_CHECK(digits && step <= 1000000000000000, "checkpoint", "'", source, "' has a malformed 'step' metadata \"",
           tinydiff::io::safetensors_detail::excerpt(text), "\" (a whole number of steps, 0 to 10^15)");
  return step;
}

// "guidance": the guidance scale the training run drew its sample grids with (its preset's, or
// train --guidance), which `sample` and `eval` use for these weights unless told otherwise.
inline Metadata weights_metadata(const UNetConfig& model, const DiffusionConfig& diffusion, double guidance) {
  return {{"format", kWeightsFormat}, {"model", to_json(model).dump()}, {"diffusion", to_json(diffusion).dump()},
          {"guidance", nlohmann::json(guidance).dump()}};
}

// The "loader" metadata: {"epoch": 3, "position": 1280, "rng": "<96 hex digits>"}.
inline std::string loader_to_string(const tinydiff::data::DataLoader::State& s) {
  return nlohmann::json{{"epoch", s.epoch}, {"position", s.position}, {"rng", rng_to_string(s.generator)}}.dump();
}
inline tinydiff::data::DataLoader::State loader_from_string(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    j = nullptr;
  }
  const auto whole = [&](const char* key) { return j.is_object() && j.contains(key) && j[key].is_number_unsigned(); };
  TD_CHECK(whole("epoch") && whole("position") && j.contains("rng") && j["rng"].is_string(), "checkpoint", "'", source,
           "' has a malformed 'loader' metadata \"", tinydiff::io::safetensors_detail::excerpt(text),
           "\" (want {\"epoch\": N, \"position\": N, \"rng\": \"...\"})");
  tinydiff::data::DataLoader::State s;
  s.epoch = j["epoch"].get<int64_t>();
  s.position = j["position"].get<int64_t>();
  s.generator = rng_from_string(j["rng"].get<std::string>(), source);
  return s;
}

struct TrainingState {
  int64_t step = 0;
  tinydiff::Generator::State rng{};              // timesteps, noise, label dropout
  tinydiff::data::DataLoader::State loader{};    // which images come next
};

inline void save_training_checkpoint(const std::string& path, const UNet& model, const tinydiff::optim::EMA& ema,
                                     const tinydiff::optim::Optimizer& optimizer, const DiffusionConfig& diffusion,
                                     double guidance, const nlohmann::json& train_json, const TrainingState& state) {
  NamedTensors tensors;
  for (auto& [k, v] : model.state_dict()) tensors.emplace_back("model." + k, v);
  for (auto& [k, v] : ema.state_dict()) tensors.emplace_back("ema." + k, v);
  for (auto& [k, v] : optimizer.state_dict()) tensors.emplace_back("optim." + k, v);
  Metadata meta = weights_metadata(model.config, diffusion, guidance);
  meta["format"] = kCheckpointFormat;
  meta["train"] = train_json.dump();
  meta["step"] = std::to_string(state.step);
  meta["rng"] = rng_to_string(state.rng);
  meta["loader"] = loader_to_string(state.loader);
  tinydiff::io::save_safetensors(path, tensors, meta);
}

// Splits "prefix.rest" entries out of a file's tensors.
inline NamedTensors with_prefix(const NamedTensors& all, const std::string& prefix) {
  NamedTensors out;
  for (auto& [k, v] : all)
    if (k.compare(0, prefix.size(), prefix) == 0) out.emplace_back(k.substr(prefix.size()), v);
  return out;
}

inline nlohmann::json parse_json_metadata(const Metadata& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  TD_CHECK(it != meta.end(), "checkpoint", "'", path, "' has no '", key, "' metadata");
  try {
    return nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    // what() ends by quoting the token it stopped at, which may be the whole (long) value.
    throw tinydiff::Error("checkpoint: '" + path + "' has malformed '" + key +
                          "' metadata: " + tinydiff::io::safetensors_detail::excerpt(e.what(), 200));
  }
}

// Restores model, EMA and optimiser from a training checkpoint (strict: every name and
// shape must match the model built from the run's configuration).
inline TrainingState load_training_checkpoint(const std::string& path, UNet& model, tinydiff::optim::EMA& ema,
                                              tinydiff::optim::Optimizer& optimizer) {
  const tinydiff::io::SafetensorsFile file = tinydiff::io::load_safetensors(path);
  auto format = file.metadata.find("format");
  TD_CHECK(format != file.metadata.end() && format->second == kCheckpointFormat, "checkpoint", "'", path,
           "' is not a ddpm_mnist training checkpoint (format '",
           format == file.metadata.end() ? std::string("none") : format->second, "')");
  const UNetConfig saved = unet_config_from_json(parse_json_metadata(file.metadata, "model", path), path);
  TD_CHECK(to_json(saved) == to_json(model.config), "checkpoint", "'", path, "' holds a model ",
           to_json(saved).dump(), " but this run builds ", to_json(model.config).dump());
  model.load_state_dict(with_prefix(file.tensors, "model."), true, "checkpoint '" + path + "'");
  ema.load_state_dict(with_prefix(file.tensors, "ema."), "checkpoint '" + path + "'");
  optimizer.load_state_dict(with_prefix(file.tensors, "optim."), "checkpoint '" + path + "'");
  TrainingState state;
  auto step = file.metadata.find("step");
  TD_CHECK(step != file.metadata.end(), "checkpoint", "'", path, "' has no 'step' metadata");
  state.step = parse_step(step->second, path);
  auto rng = file.metadata.find("rng");
  TD_CHECK(rng != file.metadata.end(), "checkpoint", "'", path, "' has no 'rng' metadata");
  state.rng = rng_from_string(rng->second, path);
  // Checkpoints written before training drew its batches through data::DataLoader (shuffled
  // epochs; before, images were drawn with replacement) have no loader state to continue from.
  auto loader = file.metadata.find("loader");
  TD_CHECK(loader != file.metadata.end(), "checkpoint", "'", path,
           "' has no 'loader' metadata (the position in the shuffled epochs of training images): it was written "
           "before ddpm_mnist drew its batches through data::DataLoader and cannot be resumed exactly; start a fresh "
           "run (its weights still sample: ddpm_mnist sample --ckpt ", path, ")");
  state.loader = loader_from_string(loader->second, path);
  return state;
}

// A model ready to sample, from a training checkpoint (its EMA weights, or the raw
// ones with use_ema = false) or from a weights file (plain state_dict names). The
// architecture comes from the file's metadata; a file without it (e.g. saved from
// PyTorch) is read as `fallback`.
// The checkpoint `sample` and `eval` draw from: the one given, or else the shipped weights
// (saying so on stdout, so a user knows which model drew the digits).
inline std::string checkpoint_or_shipped(const std::string& given, const char* command) {
  if (!given.empty()) return given;
  const std::string shipped = DDPM_MNIST_SHIPPED_WEIGHTS;
  if (!std::ifstream(shipped).good())
    throw tinydiff::Error(std::string(command) + ": no --ckpt given, and the shipped weights are not at '" + shipped +
                          "' (pass --ckpt with a checkpoint.safetensors or ema.safetensors of your own)");
  std::printf("%s: no --ckpt given: using the shipped weights %s (full preset; weights/README.md)\n", command,
              shipped.c_str());
  return shipped;
}

struct LoadedModel {
  std::shared_ptr<UNet> model;
  DiffusionConfig diffusion;
  double guidance = -1.0;  // the training run's grid guidance, if the file records it (else -1)
};
// Where the guidance `sample` and `eval` print came from, when not from --guidance.
inline const char* guidance_note(bool given, const LoadedModel& loaded, int64_t classes) {
  if (classes == 0) return " (an unconditional model)";
  return !given && loaded.guidance >= 0 ? " (the training run's)" : "";
}
inline LoadedModel load_model_for_sampling(const std::string& path, bool use_ema, const UNetConfig& fallback,
                                           const DiffusionConfig& fallback_diffusion) {
  const tinydiff::io::SafetensorsFile file = tinydiff::io::load_safetensors(path);
  LoadedModel out;
  UNetConfig cfg = fallback;
  out.diffusion = fallback_diffusion;
  if (file.metadata.count("model")) cfg = unet_config_from_json(parse_json_metadata(file.metadata, "model", path), path);
  if (file.metadata.count("diffusion"))
    out.diffusion = diffusion_config_from_json(parse_json_metadata(file.metadata, "diffusion", path), path);
  if (file.metadata.count("guidance")) {
    const nlohmann::json j = parse_json_metadata(file.metadata, "guidance", path);
    TD_CHECK(j.is_number() && std::isfinite(j.get<double>()) && j.get<double>() >= 0, "checkpoint", "'", path,
             "' has a malformed 'guidance' metadata ", tinydiff::io::safetensors_detail::excerpt(j.dump()),
             " (want a finite number >= 0)");
    out.guidance = j.get<double>();
  }
  out.model = std::make_shared<UNet>(cfg);
  const bool is_training_checkpoint = file.metadata.count("format") && file.metadata.at("format") == kCheckpointFormat;
  NamedTensors weights = file.tensors;
  if (is_training_checkpoint) {
    if (use_ema) {
      weights.clear();
      for (auto& [k, v] : with_prefix(file.tensors, "ema.shadow.")) weights.emplace_back(k, v);
    } else {
      weights = with_prefix(file.tensors, "model.");
    }
  }
  out.model->load_state_dict(weights, true, "checkpoint '" + path + "'");
  out.model->eval();
  return out;
}

}  // namespace ddpm
