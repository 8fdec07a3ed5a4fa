#pragma once
// `ddpm_mnist eval`: judges samples (drawn from a checkpoint, or read from IDX
// files) with the project's MNIST classifier:
//   - the class histogram of the samples as the classifier sees them,
//   - label accuracy, when the samples' intended labels are known,
//   - FID on the classifier's 128-wide features against 1,000 class-balanced
//     training digits (100 per class), and the real-vs-real floor: FID of the
//     next N training digits against the same reference (FID depends strongly
//     on N, so compare to the floor); also FID against the 1,000 held-out digits,
//     which are not class-balanced (no 5s), as earlier tables measured it,
//   - KID (mean +- standard error over disjoint subsets) and precision / recall
//     of the feature manifolds (quality.hpp), on the same features and against
//     the same reference, each with its real-vs-real floor,
//   - the mean distance from each sample to its nearest training digit (a
//     memorisation check; the held-out real digits' figure is printed beside it).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tinydiff/io/idx.hpp>
#include <tinydiff/tinydiff.hpp>

#include "../../mnist_classifier/classifier.hpp"
#include "data.hpp"
#include "progress.hpp"
#include "quality.hpp"
#include "sample.hpp"

namespace ddpm {

struct EvalRun {
  std::string classifier = "mnist_classifier.safetensors";
  std::string ckpt;        // draw samples from this checkpoint (empty, and no --idx: the shipped weights), or
  std::string idx_prefix;  // read PREFIX-images-idx3-ubyte.gz (+ PREFIX-labels-idx1-ubyte.gz if present)
  int64_t n = 1000;        // samples to draw (100 per class for 1000)
  SamplerOptions sampler = default_sampling();
  bool guidance_given = false;  // else the guidance the weights' training run recorded, if any
  uint64_t seed = 1;
  int64_t pr_k = 3;        // precision / recall: balls to the k-th nearest neighbour
  int64_t kid_subsets = 10;
  std::string json;        // also write the figures here
};

// FID, KID and precision / recall are computed against the first kReferenceDigits training
// digits, which are class-balanced; FID also against the embedded digits' held-out part (data.hpp:
// kHeldOutDigits), which is not.
constexpr int64_t kReferenceDigits = 1000;

inline int eval_command(const EvalRun& run) {
  using namespace tinydiff;
  TD_CHECK(run.ckpt.empty() || run.idx_prefix.empty(), "eval", "give one of --ckpt and --idx, not both");
  const std::string ckpt = run.idx_prefix.empty() ? checkpoint_or_shipped(run.ckpt, "eval") : "";
  mnist::Classifier judge;
  io::load(judge, run.classifier);
  judge.eval();

  // The samples, in [-1, 1], and their intended labels (empty if unknown).
  Tensor samples;
  std::vector<int64_t> intended;
  std::string source;
  double guidance_used = run.sampler.guidance;
  if (!ckpt.empty()) {
    LoadedModel loaded = load_model_for_sampling(ckpt, true, UNetConfig{}, DiffusionConfig{});
    const NoiseSchedule schedule = NoiseSchedule::by_name(loaded.diffusion.schedule, loaded.diffusion.T);
    SamplerOptions opt = run.sampler;
    opt.prediction = prediction_kind(loaded.diffusion.prediction);
    if (!run.guidance_given && loaded.guidance >= 0) opt.guidance = loaded.guidance;
    const int64_t classes = loaded.model->config.num_classes;
    if (classes == 0) opt.guidance = 1.0;
    guidance_used = opt.guidance;
    intended = grid_labels(run.n, classes);
    Generator gen(run.seed);
    std::printf("drawing %lld samples from %s (%s, %d steps, guidance %.3g%s)...\n", static_cast<long long>(run.n),
                ckpt.c_str(), opt.kind.c_str(), opt.steps, opt.guidance,
                guidance_note(run.guidance_given, loaded, classes));
    std::fflush(stdout);
    // In batches of 100, so memory stays flat for large N.
    std::vector<Tensor> parts;
    SamplingProgress progress(run.n, 100, opt.steps);
    sample_in_batches(
        as_denoiser(*loaded.model), schedule, opt, 1, intended, classes, gen, 100,
        [&](int64_t, const Tensor& images) {
          parts.push_back(images);
          progress.batch_done(images.size(0));
        },
        [&progress](int64_t, int, int, const Tensor&, const Tensor&) { progress.step(); });
    samples = concat(parts, 0);
    parts.clear();
    // The sampler's blocks (a doubled batch's activations) are cached at sizes the scoring below
    // never asks for: hand them back, so the peak is the larger phase, not the two together.
    empty_cache();
    // Unconditional samples (no classes, or guidance 0) have no intended label.
    if (classes == 0 || opt.guidance == 0.0) intended.clear();
    source = ckpt;
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

  TD_CHECK(run.pr_k >= 1 && run.pr_k < std::min(n, kReferenceDigits), "eval", "--pr-k must be in [1, ",
           std::min(n, kReferenceDigits) - 1, "] for ", n, " samples, got ", run.pr_k);
  std::printf("scoring %lld samples: classifier features, FID, KID, precision / recall, nearest training digits...\n",
              static_cast<long long>(n));
  std::fflush(stdout);
  NoGradGuard no_grad;
  auto features_of = [&](const Tensor& images) {
    std::vector<Tensor> parts;
    for (int64_t start = 0; start < images.size(0); start += 500)
      parts.push_back(judge.features(narrow(images, 0, start, std::min<int64_t>(500, images.size(0) - start))));
    return concat(parts, 0);
  };
  const Tensor f_samples = features_of(samples), f_held = features_of(held_out);
  const Tensor logits = judge.fc2->forward(f_samples);
  std::vector<int64_t> histogram(10, 0);
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data() + i * 10;
    const int64_t guess = std::max_element(row, row + 10) - row;
    ++histogram[guess];
    if (!intended.empty()) correct += guess == intended[i];
  }
  // Every measure against a class-balanced reference: the first 1000 training digits (100 per
  // class); the floor is the next N training digits (at most the rest; 100 per class for N = 1000).
  // The held-out digits are not balanced (no 5s, 223 ones, 40 eights), so against them a model
  // drawing 100 digits per class is marked down for the classes' proportions; their FID is kept
  // beside, for comparison with tables measured that way.
  const Tensor f_reference = features_of(narrow(train_part, 0, 0, kReferenceDigits));
  const int64_t n_floor = std::min(n, n_train - kReferenceDigits);
  const Tensor f_floor = features_of(narrow(train_part, 0, kReferenceDigits, n_floor));
  const double fid_samples = fid(f_samples, f_reference), fid_floor = fid(f_floor, f_reference);
  const double fid_held_samples = fid(f_samples, f_held);
  const double fid_held_floor = fid(features_of(narrow(train_part, 0, 0, n)), f_held);
  const KidResult kid_samples = kid(f_samples, f_reference, run.kid_subsets);
  const KidResult kid_floor = kid(f_floor, f_reference, run.kid_subsets);
  const PrecisionRecall pr_samples = precision_recall(f_reference, f_samples, run.pr_k);
  const PrecisionRecall pr_floor = precision_recall(f_reference, f_floor, run.pr_k);
  const double nearest_samples = mean_nearest_distance(samples, train_part);
  const double nearest_real = mean_nearest_distance(narrow(held_out, 0, 0, std::min<int64_t>(n, kHeldOutDigits)), train_part);

  std::printf("\nsamples: %s (N = %lld)\n\n", source.c_str(), static_cast<long long>(n));
  std::printf("| measure | value |\n|---|---:|\n");
  std::printf("| FID vs %lld training digits, 100 per class (classifier features) | %.2f |\n",
              static_cast<long long>(kReferenceDigits), fid_samples);
  std::printf("| real-vs-real FID floor (%lld other training digits) | %.2f |\n", static_cast<long long>(n_floor),
              fid_floor);
  std::printf("| FID / floor | %.2f |\n", fid_samples / fid_floor);
  std::printf("| FID / floor vs the %lld held-out digits (not class-balanced) | %.2f / %.2f = %.2f |\n",
              static_cast<long long>(kHeldOutDigits), fid_held_samples, fid_held_floor,
              fid_held_samples / fid_held_floor);
  std::printf("| KID vs %lld training digits, 100 per class (± jackknife s.e., %lld subsets) | %.3f ± %.3f |\n",
              static_cast<long long>(kReferenceDigits), static_cast<long long>(kid_samples.subsets), kid_samples.mean,
              kid_samples.std_error);
  std::printf("| real-vs-real KID floor (%lld other training digits) | %.3f ± %.3f |\n", static_cast<long long>(n_floor),
              kid_floor.mean, kid_floor.std_error);
  std::printf("| precision (k = %lld) | %.3f |\n", static_cast<long long>(run.pr_k), pr_samples.precision);
  std::printf("| recall (k = %lld) | %.3f |\n", static_cast<long long>(run.pr_k), pr_samples.recall);
  std::printf("| real-vs-real precision / recall | %.3f / %.3f |\n", pr_floor.precision, pr_floor.recall);
  if (!intended.empty())
    std::printf("| label accuracy | %.3f |\n", static_cast<double>(correct) / static_cast<double>(n));
  std::printf("| mean distance to nearest training digit | %.3f |\n", nearest_samples);
  std::printf("| the same for held-out real digits | %.3f |\n", nearest_real);
  std::printf("\nclass histogram (classifier's view):");
  for (int64_t c = 0; c < 10; ++c) std::printf(" %lld:%lld", static_cast<long long>(c), static_cast<long long>(histogram[c]));
  std::printf("\n");

  if (!run.json.empty()) {
    nlohmann::json j = {{"source", source}, {"n", n}, {"fid", fid_samples}, {"fid_floor", fid_floor},
                        {"fid_ratio", fid_samples / fid_floor}, {"fid_heldout", fid_held_samples},
                        {"fid_heldout_floor", fid_held_floor}, {"fid_heldout_ratio", fid_held_samples / fid_held_floor},
                        {"kid", kid_samples.mean},
                        {"kid_se", kid_samples.std_error}, {"kid_floor", kid_floor.mean},
                        {"kid_floor_se", kid_floor.std_error}, {"kid_subsets", kid_samples.subsets},
                        {"precision", pr_samples.precision}, {"recall", pr_samples.recall},
                        {"precision_floor", pr_floor.precision}, {"recall_floor", pr_floor.recall},
                        {"pr_k", run.pr_k}, {"histogram", histogram},
                        {"nearest_train_distance", nearest_samples}, {"nearest_train_distance_real", nearest_real}};
    if (!intended.empty()) j["label_accuracy"] = static_cast<double>(correct) / static_cast<double>(n);
    if (!ckpt.empty())
      j["sampler"] = {{"kind", run.sampler.kind}, {"steps", run.sampler.steps}, {"spacing", run.sampler.spacing},
                      {"guidance", guidance_used},
                      {"eta", run.sampler.eta}, {"seed", run.seed}};
    const std::string text = j.dump(2) + "\n";
    io::write_file_atomically(run.json, [&](std::ostream& out) { out << text; }, "eval");
    std::printf("wrote %s\n", run.json.c_str());
  }
  return 0;
}

}  // namespace ddpm
