#pragma once
// The training loop around training_step (../training_step.hpp: epsilon- or v-prediction,
// AdamW with linear warmup + cosine decay, gradient clipping, an EMA of the weights, label
// dropout for classifier-free guidance): batches, log lines and log.csv, periodic sample grids,
// atomic checkpoints, and a clean stop on a signal or a non-finite loss. Batches are shuffled epochs of the training images
// (data::DataLoader); the timesteps, noise and label dropout draw from one more
// Generator. Both states are checkpointed, so --resume continues exactly (for the
// same thread count).
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tinydiff/io/png.hpp>
#include <tinydiff/tinydiff.hpp>

#include "../diffusion.hpp"
#include "../samplers.hpp"
#include "../training_step.hpp"
#include "../unet.hpp"
#include "checkpoint.hpp"
#include "config.hpp"
#include "data.hpp"
#include "progress.hpp"
#include "resume.hpp"

namespace ddpm {

namespace detail {
// The signal that asked training to stop (0: none). Ctrl-C (SIGINT), a polite kill (SIGTERM) and
// a closed terminal (SIGHUP) all save a checkpoint at the end of the step and exit with 128 + the
// signal's number, as a shell reports a process that signal ended.
inline std::atomic<int>& interrupted() {
  static std::atomic<int> signal_number{0};
  return signal_number;
}
inline void on_stop_signal(int signal_number) { interrupted() = signal_number; }
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};
}  // namespace detail

// Labels for a grid of n samples: class i % num_classes (rows of 0..9 for 10 columns).
inline std::vector<int64_t> grid_labels(int64_t n, int64_t num_classes) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[i] = num_classes > 0 ? i % num_classes : 0;
  return y;
}

inline Denoiser as_denoiser(UNet& model) {
  return [&model](const Tensor& x, const std::vector<int>& t, const std::vector<int64_t>& y) {
    return model.forward(x, t, model.config.num_classes > 0 ? y : std::vector<int64_t>{});
  };
}

// Draws n samples with the model as it is now and writes them as a grid PNG, with the default
// sampler (UniPC on trailing steps) at the preset's step count and guidance.
// Memory: sampling is a phase of its own, with other tensor sizes than training's, so the blocks
// training left in the cache are given back first (else both phases' blocks sit side by side),
// and sampling's own after. The images are drawn `max_batch` at a time (the training batch): a
// no-grad forward of that many keeps far less alive than a training step of them, so the grid
// never raises the run's peak.
inline void write_sample_grid(UNet& model, const NoiseSchedule& schedule, const DiffusionConfig& diffusion,
                              int64_t n, int steps, double guidance, uint64_t seed, const std::string& path,
                              int64_t max_batch) {
  SamplerOptions opt = default_sampling();
  opt.steps = std::min(steps, schedule.T());
  opt.guidance = model.config.num_classes > 0 ? guidance : 1.0;
  opt.prediction = prediction_kind(diffusion.prediction);
  tinydiff::empty_cache();
  tinydiff::Generator gen(seed);
  std::vector<Tensor> parts;
  sample_in_batches(as_denoiser(model), schedule, opt, model.config.in_channels,
                    grid_labels(n, model.config.num_classes), model.config.num_classes, gen, max_batch,
                    [&parts](int64_t, const Tensor& images) { parts.push_back(images); });
  tinydiff::io::GridOptions grid;
  grid.columns = 10;
  grid.scale = 2;
  tinydiff::io::save_image_grid(path, tinydiff::concat(parts, 0), grid);
  parts.clear();
  tinydiff::empty_cache();
}

// Runs (or resumes) training. Returns the process exit status: 0 done, 128 + the signal when
// interrupted (checkpoint saved: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), 3 stopped on a non-finite
// loss or non-finite weights (last good checkpoint kept; nothing non-finite is ever saved).
inline int train(const TrainRun& run) {
  using namespace tinydiff;
  const TrainConfig& cfg = run.train;
  TD_CHECK(cfg.steps > 0 && cfg.batch > 0 && cfg.lr > 0 && cfg.log_every > 0, "train",
           "steps, batch, lr and log interval must be positive");
  TD_CHECK(cfg.label_dropout >= 0 && cfg.label_dropout <= 1, "train", "label dropout must be in [0, 1]");
  if (!run.resume.empty()) check_resume_settings(run);  // before anything is loaded or written
  std::filesystem::create_directories(run.out_dir);
  const std::string ckpt_path = run.out_dir + "/checkpoint.safetensors";

  const Dataset training = load_training_set(run.dataset, run.data_dir);
  const NoiseSchedule schedule = NoiseSchedule::by_name(run.diffusion.schedule, run.diffusion.T);

  manual_seed(cfg.seed);  // the initial weights
  auto model = std::make_shared<UNet>(run.model);
  optim::AdamW optimizer(model->parameters(), optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  optim::WarmupCosineLR scheduler(optimizer, std::min(cfg.warmup, cfg.steps), cfg.steps);
  optim::EMA ema(*model, optim::EMAOptions().decay(cfg.ema_decay).warmup(true));
  Trainer trainer{*model, optimizer, scheduler, ema, schedule,
                  LossOptions{prediction_kind(run.diffusion.prediction), cfg.min_snr_gamma}, cfg.grad_clip,
                  static_cast<float>(cfg.label_dropout)};
  Generator gen(cfg.seed + 1);  // timesteps, noise, label dropout
  // The batches: epochs of the training images in a fresh random order each, without replacement
  // (PyTorch's DataLoader(shuffle=True, drop_last=True)), shuffled by the loader's own generator
  // so that they do not move the draws above; the next batch is gathered on a worker thread
  // while this one trains (a copy, so it changes nothing).
  const data::TensorDataset train_set({training.images, IndexTensor::of(training.labels)});
  data::DataLoader loader(
      train_set, data::DataLoaderOptions(cfg.batch).shuffle(true).drop_last(true).prefetch(true).seed(cfg.seed + 2));
  TD_CHECK(loader.size() > 0, "train", "--batch ", cfg.batch, " is larger than the ", train_set.size(),
           " training images");

  int64_t step = 0;
  if (!run.resume.empty()) {
    const TrainingState state = load_training_checkpoint(run.resume, *model, ema, optimizer);
    step = state.step;
    gen.set_state(state.rng);
    loader.load_state(state.loader);
    TD_CHECK(step <= cfg.steps, "train", "checkpoint is at step ", step, ", past the run's ", cfg.steps, " steps");
    std::printf("resumed from %s at step %lld\n", run.resume.c_str(), static_cast<long long>(step));
  }
  scheduler.set_last_epoch(step);

  std::printf("ddpm_mnist train: %s, %s schedule T=%d, %s prediction, model %lld parameters, %d threads\n",
              training.description.c_str(), run.diffusion.schedule.c_str(), run.diffusion.T,
              run.diffusion.prediction.c_str(), static_cast<long long>(model->num_parameters()), get_num_threads());
  std::printf("  %lld steps x batch %lld, AdamW lr %.2g (warmup %lld, cosine), EMA %.4g, output in %s\n",
              static_cast<long long>(cfg.steps), static_cast<long long>(cfg.batch), cfg.lr,
              static_cast<long long>(cfg.warmup), cfg.ema_decay, run.out_dir.c_str());
  std::fflush(stdout);

  // log.csv: a fresh run starts it, a resumed one appends. The header goes into an empty or
  // missing file either way (a run killed before its first log line left none), and is on disk
  // at once; a failed write (a full disk) is an error, not a silently shorter log.
  const std::string csv_path = run.out_dir + "/log.csv";
  if (step == 0) std::filesystem::remove(csv_path);
  const bool csv_new = !std::filesystem::exists(csv_path) ||
                       (std::filesystem::is_regular_file(csv_path) && std::filesystem::file_size(csv_path) == 0);
  std::ofstream csv(csv_path, std::ios::app);
  if (csv_new) csv << "step,loss,lr,grad_norm,images_per_sec\n" << std::flush;
  TD_CHECK(csv.good(), "train", "cannot write '", csv_path, "'");

  auto save_checkpoint = [&](int64_t at) {
    save_training_checkpoint(ckpt_path, *model, ema, optimizer, run.diffusion, cfg.guidance, training_json(run),
                             {at, gen.state(), loader.state()});
    optim::EMAGuard use_ema(ema, *model);
    io::save(*model, run.out_dir + "/ema.safetensors", weights_metadata(run.model, run.diffusion, cfg.guidance));
  };

  auto last_good_checkpoint = [&] {
    return std::filesystem::exists(ckpt_path) ? "the last good checkpoint (" + ckpt_path + ") is kept"
                                              : std::string("no checkpoint had been written yet");
  };
  detail::interrupted() = 0;
  using Handler = void (*)(int);
  Handler previous_handlers[std::size(detail::kStopSignals)];
  for (size_t i = 0; i < std::size(detail::kStopSignals); ++i)
    previous_handlers[i] = std::signal(detail::kStopSignals[i], detail::on_stop_signal);
  Progress progress(step, cfg.steps, cfg.log_every, cfg.batch);
  int status = 0;
  data::DataLoader::iterator batch;  // this step's; at the end of an epoch, the next step begins one
  while (step < cfg.steps) {
    if (batch != loader.end()) ++batch;
    if (batch == loader.end()) batch = loader.begin();
    const StepResult result = training_step(trainer, batch->tensor(0), batch->index(1).data, gen);
    if (result.status == StepResult::Status::LossNotFinite) {
      progress.message("training stopped: the loss is " + std::to_string(result.loss) + " at step " +
                       std::to_string(step + 1) + "; " + last_good_checkpoint() + ". Try a lower --lr.");
      status = 3;
      break;
    }
    // An exploding update (a too high --lr) can make the weights non-finite while the loss that
    // led to it was finite: training_step stopped before they reached the EMA, and so a checkpoint.
    if (result.status == StepResult::Status::WeightsNotFinite) {
      progress.message("training stopped: the weights are no longer finite after the update of step " +
                       std::to_string(step + 1) + "; " + last_good_checkpoint() + ". Try a lower --lr or a --grad-clip.");
      status = 3;
      break;
    }
    ++step;
    const float loss_value = result.loss, grad_norm = result.grad_norm;
    const double lr = result.lr;

    progress.update(step, loss_value, lr);
    if (step % cfg.log_every == 0 || step == cfg.steps) {
      csv << step << ',' << loss_value << ',' << lr << ',' << grad_norm << ',' << progress.images_per_second()
          << '\n' << std::flush;
      TD_CHECK(csv.good(), "train", "writing '", csv_path, "' failed at step ", step, " (is the disk full?)");
    }
    const bool last = step == cfg.steps;
    if ((cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0) || last || step == run.stop_after)
      save_checkpoint(step);
    if (cfg.sample_every > 0 && step % cfg.sample_every == 0 && !last) {
      optim::EMAGuard use_ema(ema, *model);
      char name[64];
      std::snprintf(name, sizeof name, "/samples_%06lld.png", static_cast<long long>(step));
      write_sample_grid(*model, schedule, run.diffusion, 20, std::min(cfg.sample_steps, 25), cfg.guidance, 1,
                        run.out_dir + name, cfg.batch);
    }
    if (step == run.stop_after) break;
    if (const int signal_number = detail::interrupted()) {
      save_checkpoint(step);
      progress.message("interrupted at step " + std::to_string(step) + ": checkpoint saved to " + ckpt_path +
                       "; continue with --resume " + ckpt_path);
      status = 128 + signal_number;
      break;
    }
  }
  for (size_t i = 0; i < std::size(detail::kStopSignals); ++i)
    std::signal(detail::kStopSignals[i], previous_handlers[i]);
  if (status == 0 && step == cfg.steps) {
    std::printf("trained %lld steps in %s; drawing the final sample grid...\n", static_cast<long long>(step),
                format_duration(progress.elapsed()).c_str());
    std::fflush(stdout);
    optim::EMAGuard use_ema(ema, *model);
    write_sample_grid(*model, schedule, run.diffusion, 100, cfg.sample_steps, cfg.guidance, 1,
                      run.out_dir + "/samples.png", cfg.batch);
    std::printf("wrote %s/samples.png (UniPC %d trailing steps, guidance %.3g) and %s\n", run.out_dir.c_str(),
                cfg.sample_steps, cfg.guidance, ckpt_path.c_str());
  }
  return status;
}

}  // namespace ddpm
