#pragma once
// `ddpm_mnist eval`: judges samples (drawn from a checkpoint, or read from IDX
// files) with the project's MNIST classifier:
//   - the class histogram of the samples as the classifier sees them,
//   - label accuracy, when the samples' intended labels are known,
//   - FID on the classifier's 128-wide features against the 1,000 held-out real
//     digits, and the real-vs-real floor: FID of N real training digits against
//     the same held-out set (FID depends strongly on N, so compare to the floor),
//   - the mean distance from each sample to its nearest training digit (a
//     memorisation check; the held-out real digits' figure is printed beside it).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tinydiff/io/idx.hpp>
#include <tinydiff/tinydiff.hpp>

#include "../mnist_classifier/classifier.hpp"
#include "data.hpp"
#include "quality.hpp"
#include "sample.hpp"

namespace ddpm {

struct EvalRun {
  std::string classifier = "mnist_classifier.safetensors";
  std::string ckpt;        // draw samples from this checkpoint, or
  std::string idx_prefix;  // read PREFIX-images-idx3-ubyte.gz (+ PREFIX-labels-idx1-ubyte.gz if present)
  int64_t n = 1000;        // samples to draw (100 per class for 1000)
  SamplerOptions sampler;
  uint64_t seed = 1;
  std::string json;        // also write the figures here
};

// The samples are judged against the embedded digits' held-out part (data.hpp: kHeldOutDigits).
inline int eval_command(const EvalRun& run) {
  using namespace tinydiff;
  TD_CHECK(run.ckpt.empty() != run.idx_prefix.empty(), "eval", "give exactly one of --ckpt and --idx");
  mnist::Classifier judge;
  io::load(judge, run.classifier);
  judge.eval();

  // The samples, in [-1, 1], and their intended labels (empty if unknown).
  Tensor samples;
  std::vector<int64_t> intended;
  std::string source;
  if (!run.ckpt.empty()) {
    LoadedModel loaded = load_model_for_sampling(run.ckpt, true, UNetConfig{}, DiffusionConfig{});
    const NoiseSchedule schedule = NoiseSchedule::by_name(loaded.diffusion.schedule, loaded.diffusion.T);
    SamplerOptions opt = run.sampler;
    opt.prediction = prediction_kind(loaded.diffusion.prediction);
    const int64_t classes = loaded.model->config.num_classes;
    if (classes == 0) opt.guidance = 1.0;
    intended = grid_labels(run.n, classes);
    Generator gen(run.seed);
    std::printf("drawing %lld samples from %s (%s, %d steps, guidance %.3g)...\n", static_cast<long long>(run.n),
                run.ckpt.c_str(), opt.kind.c_str(), opt.steps, opt.guidance);
    std::fflush(stdout);
    // In batches of 100, so memory stays flat for large N.
    std::vector<Tensor> parts;
    for (int64_t start = 0; start < run.n; start += 100) {
      const int64_t len = std::min<int64_t>(100, run.n - start);
      const std::vector<int64_t> labels(intended.begin() + start, intended.begin() + start + len);
      parts.push_back(sample(as_denoiser(*loaded.model), schedule, opt, {len, 1, 28, 28}, labels, classes, gen));
    }
    samples = concat(parts, 0);
    // Unconditional samples (no classes, or guidance 0) have no intended label.
    if (classes == 0 || opt.guidance == 0.0) intended.clear();
    source = run.ckpt;
  } else {
    const Tensor raw = io::load_idx_images(run.idx_prefix + "-images-idx3-ubyte.gz");
    samples = raw * 2.0f - 1.0f;
    const std::string labels_path = run.idx_prefix + "-labels-idx1-ubyte.gz";
    if (std::ifstream(labels_path).good()) intended = io::load_idx_labels(labels_path);
    TD_CHECK(intended.empty() || static_cast<int64_t>(intended.size()) == samples.size(0), "eval", labels_path,
             " has ", intended.size(), " labels for ", samples.size(0), " images");
    source = run.idx_prefix;
  }
  const int64_t n = samples.size(0);

  const Dataset data = load_dataset("mnist", "");
  const int64_t n_train = data.images.size(0) - kHeldOutDigits;
  TD_CHECK(n >= 2 && n <= n_train, "eval", "needs between 2 and ", n_train, " samples, got ", n);
  const Tensor held_out = narrow(data.images, 0, n_train, kHeldOutDigits);
  const Tensor train_part = narrow(data.images, 0, 0, n_train);
  const Tensor real_n = narrow(train_part, 0, 0, n);

  NoGradGuard no_grad;
  auto features_of = [&](const Tensor& images) {
    std::vector<Tensor> parts;
    for (int64_t start = 0; start < images.size(0); start += 500)
      parts.push_back(judge.features(narrow(images, 0, start, std::min<int64_t>(500, images.size(0) - start))));
    return concat(parts, 0);
  };
  const Tensor f_samples = features_of(samples), f_held = features_of(held_out), f_real = features_of(real_n);
  const Tensor logits = judge.fc2->forward(f_samples);
  std::vector<int64_t> histogram(10, 0);
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data() + i * 10;
    const int64_t guess = std::max_element(row, row + 10) - row;
    ++histogram[guess];
    if (!intended.empty()) correct += guess == intended[i];
  }
  const double fid_samples = fid(f_samples, f_held), fid_floor = fid(f_real, f_held);
  const double nearest_samples = mean_nearest_distance(samples, train_part);
  const double nearest_real = mean_nearest_distance(narrow(held_out, 0, 0, std::min<int64_t>(n, kHeldOutDigits)), train_part);

  std::printf("\nsamples: %s (N = %lld)\n\n", source.c_str(), static_cast<long long>(n));
  std::printf("| measure | value |\n|---|---:|\n");
  std::printf("| FID vs %lld held-out digits (classifier features) | %.2f |\n", static_cast<long long>(kHeldOutDigits), fid_samples);
  std::printf("| real-vs-real FID floor at N = %lld | %.2f |\n", static_cast<long long>(n), fid_floor);
  std::printf("| FID / floor | %.2f |\n", fid_samples / fid_floor);
  if (!intended.empty())
    std::printf("| label accuracy | %.3f |\n", static_cast<double>(correct) / static_cast<double>(n));
  std::printf("| mean distance to nearest training digit | %.3f |\n", nearest_samples);
  std::printf("| the same for held-out real digits | %.3f |\n", nearest_real);
  std::printf("\nclass histogram (classifier's view):");
  for (int64_t c = 0; c < 10; ++c) std::printf(" %lld:%lld", static_cast<long long>(c), static_cast<long long>(histogram[c]));
  std::printf("\n");

  if (!run.json.empty()) {
    nlohmann::json j = {{"source", source}, {"n", n}, {"fid", fid_samples}, {"fid_floor", fid_floor},
                        {"fid_ratio", fid_samples / fid_floor}, {"histogram", histogram},
                        {"nearest_train_distance", nearest_samples}, {"nearest_train_distance_real", nearest_real}};
    if (!intended.empty()) j["label_accuracy"] = static_cast<double>(correct) / static_cast<double>(n);
    if (!run.ckpt.empty())
      j["sampler"] = {{"kind", run.sampler.kind}, {"steps", run.sampler.steps}, {"spacing", run.sampler.spacing},
                      {"guidance", run.sampler.guidance},
                      {"eta", run.sampler.eta}, {"seed", run.seed}};
    const std::string text = j.dump(2) + "\n";
    io::write_file_atomically(run.json, [&](std::ostream& out) { out << text; }, "eval");
    std::printf("wrote %s\n", run.json.c_str());
  }
  return 0;
}

}  // namespace ddpm
