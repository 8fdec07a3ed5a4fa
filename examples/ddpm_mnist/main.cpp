// ddpm_mnist: train a denoising diffusion model on MNIST and draw digits with it.
//
//   ddpm_mnist train --preset quick --out runs/quick
//   ddpm_mnist sample --ckpt runs/quick/checkpoint.safetensors --n 100 --sampler ddim --steps 50
//                     --guidance 3 --class 7 --seed 1 --out grid.png
//   ddpm_mnist eval --classifier mnist_classifier.safetensors --ckpt runs/quick/ema.safetensors --n 1000
// Bad flags or values print a usage message and exit with status 2.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <string>

#include "eval.hpp"
#include "sample.hpp"
#include "train.hpp"

namespace {

// CLI11's range checks compare with < and >, which NaN passes (NaN < 0 and NaN > 1 are both
// false): every floating-point flag also gets this. Infinities are refused too.
const CLI::Validator kFinite(
    [](std::string& value) {
      double number = 0.0;
      if (CLI::detail::lexical_cast(value, number) && std::isfinite(number)) return std::string();
      return "not a finite number: " + value;
    },
    "FINITE");

// Integer flags: CLI11 clamps an out-of-range value such as 99999999999999999999 to INT64_MAX,
// and reads "-1" into an unsigned seed as 2^64 - 1; these bounds are checked on the number as
// written.
const CLI::Range kSeedRange(0.0, 18446744073709551615.0, "SEED");
const CLI::Range kCountRange(1.0, 1e12, "COUNT");
const CLI::Range kOptionalCountRange(0.0, 1e12, "COUNT");

// Flags shared by train (to build the model) and sample (for weight files without metadata).
void add_model_flags(CLI::App& cmd, ddpm::UNetConfig& model, ddpm::DiffusionConfig& diffusion) {
  cmd.add_option("--base", model.base, "U-Net channels at full resolution")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd.add_option("--mults", model.mults, "channel multiplier per level")->capture_default_str()->delimiter(',');
  cmd.add_option("--groups", model.groups, "GroupNorm groups")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd.add_option("--classes", model.num_classes, "number of classes (0 = unconditional)")
      ->capture_default_str()->check(CLI::NonNegativeNumber & kFinite);
  cmd.add_option("--schedule", diffusion.schedule, "noise schedule")->capture_default_str()
      ->check(CLI::IsMember({"linear", "cosine"}));
  cmd.add_option("--T", diffusion.T, "diffusion timesteps")->capture_default_str()->check(CLI::Range(2, 100000));
  cmd.add_option("--prediction", diffusion.prediction, "network target: eps or v")->capture_default_str()
      ->check(CLI::IsMember({"eps", "v"}));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddpm_mnist: a denoising diffusion model that learns to draw MNIST digits (tinydiff)"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);

  // ---- train ----
  ddpm::TrainRun train;
  std::string preset_name = "quick";
  CLI::App* train_cmd = app.add_subcommand("train", "train a model (presets: quick ~6 min, full ~1 h on 2 cores)");
  train_cmd->add_option("--threads", threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  train_cmd->add_option("--preset", preset_name, "recipe: quick or full")->capture_default_str()
      ->check(CLI::IsMember({"quick", "full", "test"}));
  // Overrides of the preset's values; applied after the preset is chosen.
  ddpm::TrainConfig overrides;
  auto opt_steps = train_cmd->add_option("--steps", overrides.steps, "training steps")->check(kCountRange);
  auto opt_batch = train_cmd->add_option("--batch", overrides.batch, "batch size")->check(kCountRange);
  auto opt_lr = train_cmd->add_option("--lr", overrides.lr, "peak learning rate (AdamW)")->check(CLI::PositiveNumber & kFinite);
  auto opt_warmup = train_cmd->add_option("--warmup", overrides.warmup, "LR warmup steps")->check(kOptionalCountRange);
  auto opt_wd = train_cmd->add_option("--weight-decay", overrides.weight_decay, "AdamW weight decay")
                    ->check(CLI::NonNegativeNumber & kFinite);
  auto opt_clip = train_cmd->add_option("--grad-clip", overrides.grad_clip, "max gradient norm (0 = off)")
                      ->check(CLI::NonNegativeNumber & kFinite);
  auto opt_ema = train_cmd->add_option("--ema-decay", overrides.ema_decay, "EMA decay")->check(CLI::Range(0.0, 1.0) & kFinite);
  auto opt_drop = train_cmd->add_option("--label-dropout", overrides.label_dropout, "fraction of labels dropped for CFG")
                      ->check(CLI::Range(0.0, 1.0) & kFinite);
  auto opt_snr = train_cmd->add_option("--min-snr", overrides.min_snr_gamma, "min-SNR-gamma loss weighting (0 = off)")
                     ->check(CLI::NonNegativeNumber & kFinite);
  auto opt_seed = train_cmd->add_option("--seed", overrides.seed, "random seed")->check(kSeedRange);
  auto opt_sample_every = train_cmd->add_option("--sample-every", overrides.sample_every, "sample grid every N steps (0 = off)")
                              ->check(kOptionalCountRange);
  auto opt_ckpt_every = train_cmd->add_option("--checkpoint-every", overrides.checkpoint_every, "checkpoint every N steps")
                            ->check(kOptionalCountRange);
  auto opt_log_every = train_cmd->add_option("--log-every", overrides.log_every, "log line every N steps")
                           ->check(kCountRange);
  auto opt_guidance = train_cmd->add_option("--guidance", overrides.guidance, "guidance scale of the sample grids")
                          ->check(CLI::NonNegativeNumber & kFinite);
  train_cmd->add_option("--out", train.out_dir, "output folder (checkpoints, log.csv, sample grids)")->capture_default_str();
  train_cmd->add_option("--resume", train.resume, "continue from this checkpoint")->check(CLI::ExistingFile);
  train_cmd->add_option("--dataset", train.dataset, "mnist or fashion")->capture_default_str()
      ->check(CLI::IsMember({"mnist", "fashion"}));
  train_cmd->add_option("--data", train.data_dir, "folder with the IDX files (default: the embedded MNIST subset)")
      ->check(CLI::ExistingDirectory);
  train_cmd->add_option("--stop-after", train.stop_after, "stop after this step, saving a checkpoint (for tests)")
      ->check(kCountRange);
  add_model_flags(*train_cmd, train.model, train.diffusion);

  // ---- sample ----
  ddpm::SampleRun sample;
  CLI::App* sample_cmd = app.add_subcommand("sample", "draw samples from a checkpoint");
  sample_cmd->add_option("--threads", threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  sample_cmd->add_option("--ckpt", sample.ckpt, "checkpoint.safetensors or ema.safetensors")->required()
      ->check(CLI::ExistingFile);
  sample_cmd->add_option("--n", sample.n, "number of samples")->capture_default_str()->check(CLI::Range(1, 100000));
  sample_cmd->add_option("--sampler", sample.sampler.kind, "ddim or ddpm")->capture_default_str()
      ->check(CLI::IsMember({"ddim", "ddpm"}));
  sample_cmd->add_option("--steps", sample.sampler.steps, "sampling steps (respaced)")->capture_default_str()
      ->check(CLI::Range(1, 100000));
  sample_cmd->add_option("--eta", sample.sampler.eta, "DDIM eta (0 deterministic, 1 = DDPM variance)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0) & kFinite);
  sample_cmd->add_option("--variance", sample.sampler.variance, "DDPM variance: beta_tilde or beta")
      ->capture_default_str()->check(CLI::IsMember({"beta_tilde", "beta"}));
  sample_cmd->add_option("--guidance", sample.sampler.guidance,
                         "classifier-free guidance s: eps = eps_u + s (eps_c - eps_u); 0 unconditional, 1 conditional")
      ->capture_default_str()->check(CLI::NonNegativeNumber & kFinite);
  sample_cmd->add_option("--class", sample.label, "draw only this class (-1: classes 0..9 in turn)")
      ->capture_default_str()->check(CLI::Range(-1, 1000000));
  sample_cmd->add_option("--seed", sample.seed, "random seed")->capture_default_str()->check(kSeedRange);
  sample_cmd->add_option("--out", sample.out, "grid PNG")->capture_default_str();
  sample_cmd->add_option("--scale", sample.scale, "PNG pixels per image pixel")->capture_default_str()
      ->check(CLI::Range(1, 32));
  sample_cmd->add_option("--idx", sample.idx_prefix, "also write PREFIX-images-idx3-ubyte.gz and PREFIX-labels-idx1-ubyte.gz");
  sample_cmd->add_option("--trajectory", sample.trajectory, "write a denoising-trajectory PNG (x_t and predicted x_0)");
  sample_cmd->add_option("--trajectory-columns", sample.trajectory_columns, "timesteps shown in the trajectory")
      ->capture_default_str()->check(CLI::Range(2, 100));
  sample_cmd->add_flag("--raw-weights", sample.raw_weights, "use the raw weights of a training checkpoint, not the EMA");
  bool no_clip = false;
  sample_cmd->add_flag("--no-clip", no_clip, "do not clip the predicted x_0 to [-1, 1]");
  add_model_flags(*sample_cmd, sample.fallback_model, sample.fallback_diffusion);

  // ---- eval ----
  ddpm::EvalRun eval;
  CLI::App* eval_cmd = app.add_subcommand("eval", "judge samples with the MNIST classifier: FID, label accuracy, histogram");
  eval_cmd->add_option("--threads", threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  eval_cmd->add_option("--classifier", eval.classifier, "weights written by mnist_classifier")->capture_default_str()
      ->check(CLI::ExistingFile);
  eval_cmd->add_option("--ckpt", eval.ckpt, "draw the samples from this checkpoint")->check(CLI::ExistingFile);
  eval_cmd->add_option("--idx", eval.idx_prefix, "or read PREFIX-images-idx3-ubyte.gz (+ PREFIX-labels-idx1-ubyte.gz)");
  eval_cmd->add_option("--n", eval.n, "samples to draw (classes 0..9 in turn)")->capture_default_str()
      ->check(CLI::Range(2, 9000));
  eval_cmd->add_option("--sampler", eval.sampler.kind, "ddim or ddpm")->capture_default_str()
      ->check(CLI::IsMember({"ddim", "ddpm"}));
  eval_cmd->add_option("--steps", eval.sampler.steps, "sampling steps")->capture_default_str()->check(CLI::Range(1, 100000));
  eval_cmd->add_option("--eta", eval.sampler.eta, "DDIM eta")->capture_default_str()->check(CLI::Range(0.0, 1.0) & kFinite);
  eval_cmd->add_option("--guidance", eval.sampler.guidance,
                       "guidance s: eps = eps_u + s (eps_c - eps_u); 0 unconditional, 1 conditional")
      ->capture_default_str()->check(CLI::NonNegativeNumber & kFinite);
  eval_cmd->add_option("--seed", eval.seed, "random seed")->capture_default_str()->check(kSeedRange);
  eval_cmd->add_option("--json", eval.json, "also write the figures as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    std::fprintf(stderr, "run '%s --help' or '%s SUBCOMMAND --help' for usage\n", argv[0], argv[0]);
    return 2;
  }

  try {
    if (threads > 0) tinydiff::set_num_threads(threads);
    // Which kernels run here (simd/isa.hpp: the widest the CPU supports, or TINYDIFF_ISA's).
    std::printf("ddpm_mnist: %s\n", tinydiff::cpu_info().summary().c_str());
    if (train_cmd->parsed()) {
      train.train = ddpm::preset(preset_name);
      ddpm::TrainConfig& c = train.train;
      if (*opt_steps) c.steps = overrides.steps;
      if (*opt_batch) c.batch = overrides.batch;
      if (*opt_lr) c.lr = overrides.lr;
      if (*opt_warmup) c.warmup = overrides.warmup;
      if (*opt_wd) c.weight_decay = overrides.weight_decay;
      if (*opt_clip) c.grad_clip = overrides.grad_clip;
      if (*opt_ema) c.ema_decay = overrides.ema_decay;
      if (*opt_drop) c.label_dropout = overrides.label_dropout;
      if (*opt_snr) c.min_snr_gamma = overrides.min_snr_gamma;
      if (*opt_seed) c.seed = overrides.seed;
      if (*opt_sample_every) c.sample_every = overrides.sample_every;
      if (*opt_ckpt_every) c.checkpoint_every = overrides.checkpoint_every;
      if (*opt_log_every) c.log_every = overrides.log_every;
      if (*opt_guidance) c.guidance = overrides.guidance;
      return ddpm::train(train);
    }
    if (eval_cmd->parsed()) return ddpm::eval_command(eval);
    sample.sampler.clip_x0 = !no_clip;
    return ddpm::sample_command(sample);
  } catch (const tinydiff::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
