#pragma once
// `ddpm_mnist sample`: draws digits from a checkpoint and writes a grid PNG, IDX
// files of the samples and labels, and a denoising-trajectory picture.
#include <cstdio>
#include <string>
#include <vector>

#include <tinydiff/io/idx.hpp>
#include <tinydiff/io/png.hpp>
#include <tinydiff/tinydiff.hpp>

#include "checkpoint.hpp"
#include "progress.hpp"
#include "../samplers.hpp"
#include "train.hpp"

namespace ddpm {

struct SampleRun {
  std::string ckpt;             // empty: the shipped weights (checkpoint_or_shipped)
  bool raw_weights = false;     // sample with the raw weights instead of the EMA
  int64_t n = 100;
  int64_t label = -1;           // -1: classes 0..9 in turn; else this class for every sample
  SamplerOptions sampler = default_sampling();
  bool guidance_given = false;  // else the guidance the weights' training run recorded, if any
  uint64_t seed = 1;
  std::string out = "samples.png";
  int scale = 3;
  std::string idx_prefix;       // writes PREFIX-images-idx3-ubyte.gz and PREFIX-labels-idx1-ubyte.gz
  std::string trajectory;       // a PNG: per sample, a row of x_t and a row of predicted x_0
  int trajectory_columns = 10;
  UNetConfig fallback_model;    // for weight files without metadata
  DiffusionConfig fallback_diffusion;
};

// Images drawn at once: memory is bounded by this, not by --n (about 1 MB of activations an image).
constexpr int64_t kSampleBatch = 100;
// Images shown in the grid PNG (100 rows of 10); --idx holds all of them.
constexpr int64_t kSampleGridMax = 1000;

// A tensor of images in [-1, 1] as IDX bytes.
inline std::vector<uint8_t> to_bytes(const Tensor& images) {
  std::vector<uint8_t> bytes(static_cast<size_t>(images.numel()));
  const float* p = images.data();
  for (size_t i = 0; i < bytes.size(); ++i) {
    const float unit = std::min(std::max((p[i] + 1.0f) * 0.5f, 0.0f), 1.0f);
    bytes[i] = static_cast<uint8_t>(std::lround(unit * 255.0f));
  }
  return bytes;
}

inline int sample_command(const SampleRun& run) {
  using namespace tinydiff;
  const std::string ckpt = checkpoint_or_shipped(run.ckpt, "sample");
  LoadedModel loaded = load_model_for_sampling(ckpt, !run.raw_weights, run.fallback_model, run.fallback_diffusion);
  UNet& model = *loaded.model;
  const NoiseSchedule schedule = NoiseSchedule::by_name(loaded.diffusion.schedule, loaded.diffusion.T);
  SamplerOptions opt = run.sampler;
  opt.prediction = prediction_kind(loaded.diffusion.prediction);
  if (!run.guidance_given && loaded.guidance >= 0) opt.guidance = loaded.guidance;
  TD_CHECK(opt.steps >= 1 && opt.steps <= schedule.T(), "sample", "--steps must be in [1, ", schedule.T(), "], got ",
           opt.steps);
  const int64_t classes = model.config.num_classes;
  TD_CHECK(run.label < classes, "sample", "--class ", run.label, " is out of range for a model with ", classes,
           " classes");
  if (classes == 0) opt.guidance = 1.0;  // nothing to guide with
  std::vector<int64_t> labels = grid_labels(run.n, classes);
  if (run.label >= 0) labels.assign(static_cast<size_t>(run.n), run.label);

  // Trajectory: record x_t and x_0 at evenly spaced steps of the chain.
  std::vector<Tensor> xt_frames, x0_frames;
  StepCallback record;
  const int64_t traj_rows = std::min<int64_t>(run.n, 8);
  if (!run.trajectory.empty()) {
    const int total = opt.steps;
    const int cols = std::max(2, std::min(run.trajectory_columns, total));
    std::vector<int> wanted;
    for (int c = 0; c < cols; ++c) wanted.push_back(static_cast<int>(std::lround(double(c) * (total - 1) / (cols - 1))));
    record = [&, wanted, total](int i, int, const Tensor& x_t, const Tensor& x0) {
      const int done = total - 1 - i;  // steps taken so far
      for (int w : wanted)
        if (w == done) {
          xt_frames.push_back(narrow(x_t, 0, 0, traj_rows).clone());
          x0_frames.push_back(narrow(x0, 0, 0, traj_rows).clone());
        }
    };
  }
  Generator gen(run.seed);
  std::printf("sampling %lld images: %s, %d steps, guidance %.3g%s, seed %llu\n", static_cast<long long>(run.n),
              opt.kind.c_str(), opt.steps, opt.guidance, guidance_note(run.guidance_given, loaded, classes),
              static_cast<unsigned long long>(run.seed));
  std::fflush(stdout);
  // In batches, so that memory is bounded by the batch, not by --n: each batch's images are kept
  // as IDX bytes (784 a digit), and as floats only for the grid's first kSampleGridMax.
  std::vector<uint8_t> image_bytes;
  std::vector<Tensor> grid_parts;
  int64_t in_grid = 0;
  SamplingProgress progress(run.n, kSampleBatch, opt.steps);
  const BatchStepCallback on_step = [&](int64_t start, int i, int t, const Tensor& x_t, const Tensor& x0) {
    if (start == 0 && record) record(i, t, x_t, x0);
    progress.step();
  };
  const BatchCallback on_batch = [&](int64_t, const Tensor& x) {
    const int64_t len = x.size(0);
    if (!run.idx_prefix.empty()) {
      const std::vector<uint8_t> bytes = to_bytes(x);
      image_bytes.insert(image_bytes.end(), bytes.begin(), bytes.end());
    }
    if (in_grid < kSampleGridMax) {
      const int64_t take = std::min(len, kSampleGridMax - in_grid);
      grid_parts.push_back(take == len ? x : narrow(x, 0, 0, take).clone());
      in_grid += take;
    }
    progress.batch_done(len);
  };
  sample_in_batches(as_denoiser(model), schedule, opt, model.config.in_channels, labels, classes, gen, kSampleBatch,
                    on_batch, on_step);

  io::GridOptions grid;
  grid.columns = 10;
  grid.scale = run.scale;
  io::save_image_grid(run.out, concat(grid_parts, 0), grid);
  if (in_grid < run.n)
    std::printf("wrote %s (the first %lld of the %lld images)\n", run.out.c_str(), static_cast<long long>(in_grid),
                static_cast<long long>(run.n));
  else
    std::printf("wrote %s\n", run.out.c_str());
  if (!run.idx_prefix.empty()) {
    io::write_idx(run.idx_prefix + "-images-idx3-ubyte.gz", {run.n, 28, 28}, image_bytes);
    std::vector<uint8_t> label_bytes(labels.begin(), labels.end());
    io::write_idx(run.idx_prefix + "-labels-idx1-ubyte.gz", {run.n}, label_bytes);
    std::printf("wrote %s-images-idx3-ubyte.gz and %s-labels-idx1-ubyte.gz\n", run.idx_prefix.c_str(),
                run.idx_prefix.c_str());
  }
  if (!run.trajectory.empty()) {
    // Rows: for each sample, x_t then predicted x_0; columns: the recorded steps, noisy to clean.
    const int64_t cols = static_cast<int64_t>(xt_frames.size());
    std::vector<Tensor> tiles;
    for (int64_t s = 0; s < traj_rows; ++s) {
      for (int64_t c = 0; c < cols; ++c) tiles.push_back(narrow(xt_frames[c], 0, s, 1));
      for (int64_t c = 0; c < cols; ++c) tiles.push_back(narrow(x0_frames[c], 0, s, 1));
    }
    io::GridOptions tgrid;
    tgrid.columns = cols;
    tgrid.scale = run.scale;
    io::save_image_grid(run.trajectory, concat(tiles, 0), tgrid);
    std::printf("wrote %s (rows: x_t and predicted x_0 per sample; columns: %lld steps from noise to image)\n",
                run.trajectory.c_str(), static_cast<long long>(cols));
  }
  return 0;
}

}  // namespace ddpm
