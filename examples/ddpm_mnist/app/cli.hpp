#pragma once
// The command line of ddpm_mnist: its three commands, their flags and the checks on every
// value, parsed into the run descriptions that train.hpp, sample.hpp and eval.hpp execute.
//
//   ddpm::Cli cli;
//   ddpm::CommandLine command = cli.parse(args);  // args[0] is the program's name
//
// parse() only parses: it reads no file beyond CLI11's existence checks and runs nothing.
// A bad flag or value throws a CLI::ParseError (so does --help: CLI::CallForHelp), which
// cli.exit(e) prints as CLI11 does, returning the exit status (2 for errors, 0 for help).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "eval.hpp"
#include "sample.hpp"
#include "train.hpp"

namespace ddpm {

// What the command line asks for.
struct CommandLine {
  enum class Command { Train, Sample, Eval };
  Command command = Command::Train;
  int threads = 0;  // 0: OpenMP's default (all cores)
  TrainRun train;   // train: the preset with the flags applied; train.overrides as given
  // train: the run settings (resume.hpp's names) given on the command line, a --preset counting
  // as every training setting; with --resume, the others come from the checkpoint.
  std::vector<std::string> train_settings_given;
  // train: the output flags given ("out", "sample-every", ...); with --resume, the others are the
  // checkpoint's preset's, and the output folder the checkpoint's own.
  std::vector<std::string> train_outputs_given;
  SampleRun sample;
  EvalRun eval;
};

namespace cli_detail {

// CLI11's range checks compare with < and >, which NaN passes (NaN < 0 and NaN > 1 are both
// false): every floating-point flag also gets this. Infinities are refused too.
inline const CLI::Validator& finite() {
  static const CLI::Validator validator(
      [](std::string& value) {
        double number = 0.0;
        if (CLI::detail::lexical_cast(value, number) && std::isfinite(number)) return std::string();
        return "not a finite number: " + value;
      },
      "FINITE");
  return validator;
}

// Integer flags: CLI11 clamps an out-of-range value such as 99999999999999999999 to INT64_MAX,
// and reads "-1" into an unsigned seed as 2^64 - 1; these bounds are checked on the number as
// written.
inline CLI::Range seed_range() { return CLI::Range(0.0, 18446744073709551615.0, "SEED"); }
inline CLI::Range count_range() { return CLI::Range(1.0, 1e12, "COUNT"); }
inline CLI::Range optional_count_range() { return CLI::Range(0.0, 1e12, "COUNT"); }
// --threads: 0 (all cores) or up to tinydiff::kMaxThreads (100,000 threads crashed OpenMP).
inline CLI::Range thread_range() { return CLI::Range(0, tinydiff::kMaxThreads, "THREADS"); }

// --mults: 1 to ConfigLimits::kMaxLevels levels, each multiplier at least 1 (the product with
// --base is checked against the channel limit once both are known).
inline CLI::Validator mults_check() {
  return CLI::Validator(
      [](std::string& value) {
        long long number = 0;
        if (!CLI::detail::lexical_cast(value, number) || number < 1 || number > ConfigLimits::kMaxChannels)
          return "a channel multiplier must be an integer from 1 to " + std::to_string(ConfigLimits::kMaxChannels) +
                 ", got " + value;
        return std::string();
      },
      "MULT");
}

// Rewrites "--override NAME=VALUE" (or "--override=NAME=VALUE") into "--NAME VALUE", so that
// the value gets the flag's own checks, and records NAME. Names that are not a run setting one
// may change on resume are a CLI::ValidationError.
inline std::vector<std::string> expand_overrides(const std::vector<std::string>& args,
                                                 std::vector<std::string>& overridden) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string assignment;
    if (args[i] == "--override") {
      if (i + 1 == args.size()) throw CLI::ArgumentMismatch("--override needs NAME=VALUE, e.g. --override lr=1e-4");
      assignment = args[++i];
    } else if (args[i].rfind("--override=", 0) == 0) {
      assignment = args[i].substr(std::string("--override=").size());
    } else {
      out.push_back(args[i]);
      continue;
    }
    const size_t equals = assignment.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == assignment.size())
      throw CLI::ValidationError("--override", "needs NAME=VALUE, e.g. --override lr=1e-4 (got '" + assignment + "')");
    const std::string name = assignment.substr(0, equals);
    const std::vector<std::string>& allowed = overridable_settings();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string list;
      for (const std::string& s : allowed) list += (list.empty() ? "" : ", ") + s;
      const std::vector<std::string>& model = model_settings();
      const bool architecture = std::find(model.begin(), model.end(), name) != model.end();
      throw CLI::ValidationError("--override", "'" + name + "' " +
                                                   (architecture ? "is the model's architecture, which a checkpoint's "
                                                                   "weights fix"
                                                                 : "is not a setting of the run") +
                                                   " (settings one can override: " + list + ")");
    }
    if (std::find(overridden.begin(), overridden.end(), name) != overridden.end())
      throw CLI::ValidationError("--override", "'" + name + "' is given twice");
    for (const std::string& arg : args)
      if (arg == "--" + name || arg.rfind("--" + name + "=", 0) == 0)
        throw CLI::ValidationError("--override", "'" + name + "' is given both as --" + name +
                                                     " and with --override: give it once");
    overridden.push_back(name);
    out.push_back("--" + name);
    out.push_back(assignment.substr(equals + 1));
  }
  return out;
}

}  // namespace cli_detail

class Cli {
 public:
  Cli() : app_("ddpm_mnist: a denoising diffusion model that learns to draw MNIST digits (tinydiff)") {
    app_.require_subcommand(1);
    app_.add_option("--threads", line_.threads, "worker threads (default: all cores)")->check(cli_detail::thread_range());
    add_train();
    add_sample();
    add_eval();
  }

  // Parses args (args[0]: the program's name). Throws CLI::ParseError for a bad command line.
  CommandLine parse(const std::vector<std::string>& args) {
    std::vector<std::string> overridden;
    const std::vector<std::string> expanded = cli_detail::expand_overrides(args, overridden);
    const auto command = std::find_if(args.begin(), args.end(), [](const std::string& a) {
      return a == "train" || a == "sample" || a == "eval";
    });
    if (!overridden.empty() && (command == args.end() || *command != "train"))
      throw CLI::ValidationError("--override", "belongs to train --resume");
    std::vector<const char*> argv;
    for (const std::string& a : expanded) argv.push_back(a.c_str());
    app_.parse(static_cast<int>(argv.size()), argv.data());

    CommandLine line = line_;
    if (train_cmd_->parsed()) {
      line.command = CommandLine::Command::Train;
      resolve_train(line, overridden);
    } else if (sample_cmd_->parsed()) {
      line.command = CommandLine::Command::Sample;
      line.sample.sampler.clip_x0 = !no_clip_;
      line.sample.guidance_given = sample_guidance_->count() > 0;
      check_model_flags(line.sample.fallback_model);
    } else {
      line.command = CommandLine::Command::Eval;
      line.eval.guidance_given = eval_guidance_->count() > 0;
    }
    return line;
  }

  // Prints a parse error (or the help that --help asked for) as CLI11 does; returns the exit status.
  int exit(const CLI::ParseError& e) { return app_.exit(e); }

 private:
  // Flags shared by train (to build the model) and sample (for weight files without metadata).
  static void add_model_flags(CLI::App& cmd, UNetConfig& model, DiffusionConfig& diffusion) {
    const CLI::Range channels(int64_t{1}, ConfigLimits::kMaxChannels);
    cmd.add_option("--base", model.base, "U-Net channels at full resolution")->capture_default_str()->check(channels);
    cmd.add_option("--mults", model.mults, "channel multiplier per level")->capture_default_str()->delimiter(',')
        ->check(cli_detail::mults_check());
    cmd.add_option("--groups", model.groups, "GroupNorm groups (dividing every level's channels)")
        ->capture_default_str()->check(channels);
    cmd.add_option("--classes", model.num_classes, "number of classes (0 = unconditional)")
        ->capture_default_str()->check(CLI::Range(int64_t{0}, ConfigLimits::kMaxClasses));
    cmd.add_option("--schedule", diffusion.schedule, "noise schedule")->capture_default_str()
        ->check(CLI::IsMember({"linear", "cosine"}));
    cmd.add_option("--T", diffusion.T, "diffusion timesteps")->capture_default_str()
        ->check(CLI::Range(ConfigLimits::kMinT, ConfigLimits::kMaxT));
    cmd.add_option("--prediction", diffusion.prediction, "network target: eps or v")->capture_default_str()
        ->check(CLI::IsMember({"eps", "v"}));
  }

  // --sampler, --steps and --spacing, the same for sample and eval.
  static void add_sampler_flags(CLI::App& cmd, SamplerOptions& sampler) {
    cmd.add_option("--sampler", sampler.kind,
                   "ddim, ddpm, dpmpp2m (DPM-Solver++ 2M) or unipc (UniPC-2 bh2); docs/ddpm.md")
        ->capture_default_str()->check(CLI::IsMember(sampler_kinds()));
    cmd.add_option("--steps", sampler.steps,
                   "sampling steps = model evaluations (each a doubled batch when guided)")
        ->capture_default_str()->check(CLI::Range(1, 100000));
    cmd.add_option("--spacing", sampler.spacing,
                   "which timesteps: uniform (both ends), trailing (from T-1, T/steps apart) or logsnr "
                   "(even in log-SNR)")
        ->capture_default_str()->check(CLI::IsMember(spacing_kinds()));
  }

  // The model flags together: as many levels as allowed, base * mult within the channel limit,
  // groups dividing every level's channels (else GroupNorm would refuse the model later, as an
  // error with exit status 1 instead of a usage error).
  static void check_model_flags(const UNetConfig& model) {
    if (model.mults.empty() || model.mults.size() > static_cast<size_t>(ConfigLimits::kMaxLevels))
      throw CLI::ValidationError("--mults", "needs 1 to " + std::to_string(ConfigLimits::kMaxLevels) +
                                                " levels, got " + std::to_string(model.mults.size()));
    for (int64_t mult : model.mults) {
      const int64_t channels = model.base * mult;
      if (channels > ConfigLimits::kMaxChannels)
        throw CLI::ValidationError("--mults", "--base " + std::to_string(model.base) + " x " + std::to_string(mult) +
                                                  " is " + std::to_string(channels) + " channels (at most " +
                                                  std::to_string(ConfigLimits::kMaxChannels) + ")");
    }
    // Every level's channels are multiples of --base, and so are the up path's concatenations.
    if (model.base % model.groups != 0)
      throw CLI::ValidationError("--groups", std::to_string(model.groups) + " does not divide the " +
                                                 std::to_string(model.base) + " channels of --base");
  }

  void add_train() {
    TrainRun& train = line_.train;
    train_cmd_ = app_.add_subcommand("train", "train a model (presets: quick ~2 min, full ~20 min on 2 cores)");
    train_cmd_->add_option("--threads", line_.threads, "worker threads (default: all cores)")
        ->check(cli_detail::thread_range());
    preset_opt_ = train_cmd_->add_option("--preset", preset_name_, "recipe: quick or full")->capture_default_str()
                      ->check(CLI::IsMember(preset_names()));
    // Training settings override the preset's values; applied after the preset is chosen. One row a
    // flag: its name, where its value goes in TrainConfig, its help and its check.
    using cli_detail::count_range;
    using cli_detail::finite;
    using cli_detail::optional_count_range;
    const CLI::Validator fraction = CLI::Range(0.0, 1.0) & finite(), non_negative = CLI::NonNegativeNumber & finite();
    setting("steps", &TrainConfig::steps, "training steps", count_range());
    setting("batch", &TrainConfig::batch, "batch size", count_range());
    setting("lr", &TrainConfig::lr, "peak learning rate (AdamW)", CLI::PositiveNumber & finite());
    setting("warmup", &TrainConfig::warmup, "LR warmup steps", optional_count_range());
    setting("weight-decay", &TrainConfig::weight_decay, "AdamW weight decay", non_negative);
    setting("grad-clip", &TrainConfig::grad_clip, "max gradient norm (0 = off)", non_negative);
    setting("ema-decay", &TrainConfig::ema_decay,
            "EMA decay: caps the warm-up decay (1+n)/(10+n), which passes 0.999 only at step 8,990", fraction);
    setting("label-dropout", &TrainConfig::label_dropout, "fraction of labels dropped for CFG", fraction);
    setting("min-snr", &TrainConfig::min_snr_gamma, "min-SNR-gamma loss weighting (0 = off)", non_negative);
    setting("seed", &TrainConfig::seed, "random seed", cli_detail::seed_range());
    // How often things are written: they change what a run leaves behind, not the run itself.
    output("sample-every", &TrainConfig::sample_every, "sample grid every N steps (0 = off)", optional_count_range());
    output("checkpoint-every", &TrainConfig::checkpoint_every, "checkpoint every N steps", optional_count_range());
    output("log-every", &TrainConfig::log_every, "log line every N steps", count_range());
    output("guidance", &TrainConfig::guidance, "guidance scale of the sample grids", non_negative);
    out_opt_ = train_cmd_->add_option("--out", train.out_dir,
                                      "output folder (checkpoints, log.csv, sample grids; with --resume: the "
                                      "checkpoint's folder)")
                   ->capture_default_str();
    train_cmd_->add_option("--resume", train.resume,
                           "continue from this checkpoint, with its run's settings (flags given must agree)")
        ->check(CLI::ExistingFile);
    train_cmd_->add_option("--override", override_help_,
                           "with --resume: change a setting of the run on purpose, e.g. --override lr=1e-4 "
                           "(repeatable)");
    model_options_.push_back({"dataset", train_cmd_->add_option("--dataset", train.dataset, "mnist or fashion")
                                             ->capture_default_str()->check(CLI::IsMember({"mnist", "fashion"}))});
    train_cmd_->add_option("--data", train.data_dir, "folder with the IDX files (default: the embedded MNIST subset)")
        ->check(CLI::ExistingDirectory);
    train_cmd_->add_option("--stop-after", train.stop_after, "stop after this step, saving a checkpoint (for tests)")
        ->check(cli_detail::count_range());
    add_model_flags(*train_cmd_, train.model, train.diffusion);
    for (const char* name : {"base", "mults", "groups", "classes", "schedule", "T", "prediction"})
      model_options_.push_back({name, train_cmd_->get_option(std::string("--") + name)});
  }

  void add_sample() {
    SampleRun& sample = line_.sample;
    using cli_detail::finite;
    sample_cmd_ = app_.add_subcommand("sample", "draw samples from a checkpoint");
    sample_cmd_->add_option("--threads", line_.threads, "worker threads (default: all cores)")
        ->check(cli_detail::thread_range());
    sample_cmd_->add_option("--ckpt", sample.ckpt,
                            "checkpoint.safetensors or ema.safetensors (default: the shipped full-preset weights)")
        ->check(CLI::ExistingFile);
    sample_cmd_->add_option("--n", sample.n, "number of samples")->capture_default_str()->check(CLI::Range(1, 100000));
    add_sampler_flags(*sample_cmd_, sample.sampler);
    sample_cmd_->add_option("--eta", sample.sampler.eta, "DDIM eta (0 deterministic, 1 = DDPM variance)")
        ->capture_default_str()->check(CLI::Range(0.0, 1.0) & finite());
    sample_cmd_->add_option("--variance", sample.sampler.variance, "DDPM variance: beta_tilde or beta")
        ->capture_default_str()->check(CLI::IsMember({"beta_tilde", "beta"}));
    sample_guidance_ = sample_cmd_->add_option("--guidance", sample.sampler.guidance,
                                               "classifier-free guidance s: eps = eps_u + s (eps_c - eps_u); 0 "
                                               "unconditional, 1 conditional (default: the training run's, if the "
                                               "file records it)")
        ->capture_default_str()->check(CLI::NonNegativeNumber & finite());
    sample_cmd_->add_option("--class", sample.label, "draw only this class (-1: classes 0..9 in turn)")
        ->capture_default_str()->check(CLI::Range(int64_t{-1}, ConfigLimits::kMaxClasses - 1));
    sample_cmd_->add_option("--seed", sample.seed, "random seed")->capture_default_str()->check(cli_detail::seed_range());
    sample_cmd_->add_option("--out", sample.out, "grid PNG")->capture_default_str();
    sample_cmd_->add_option("--scale", sample.scale, "PNG pixels per image pixel")->capture_default_str()
        ->check(CLI::Range(1, 32));
    sample_cmd_->add_option("--idx", sample.idx_prefix,
                            "also write PREFIX-images-idx3-ubyte.gz and PREFIX-labels-idx1-ubyte.gz");
    sample_cmd_->add_option("--trajectory", sample.trajectory,
                            "write a denoising-trajectory PNG (x_t and predicted x_0)");
    sample_cmd_->add_option("--trajectory-columns", sample.trajectory_columns, "timesteps shown in the trajectory")
        ->capture_default_str()->check(CLI::Range(2, 100));
    sample_cmd_->add_flag("--raw-weights", sample.raw_weights,
                          "use the raw weights of a training checkpoint, not the EMA");
    sample_cmd_->add_flag("--no-clip", no_clip_, "do not clip the predicted x_0 to [-1, 1]");
    add_model_flags(*sample_cmd_, sample.fallback_model, sample.fallback_diffusion);
  }

  void add_eval() {
    EvalRun& eval = line_.eval;
    using cli_detail::finite;
    CLI::App* cmd = app_.add_subcommand("eval", "judge samples with the MNIST classifier: FID, KID, precision / recall, label accuracy");
    cmd->add_option("--threads", line_.threads, "worker threads (default: all cores)")->check(cli_detail::thread_range());
    cmd->add_option("--classifier", eval.classifier, "weights written by mnist_classifier")->capture_default_str()
        ->check(CLI::ExistingFile);
    cmd->add_option("--ckpt", eval.ckpt, "draw the samples from this checkpoint (default: the shipped weights)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--idx", eval.idx_prefix, "or read PREFIX-images-idx3-ubyte.gz (+ PREFIX-labels-idx1-ubyte.gz)");
    cmd->add_option("--n", eval.n, "samples to draw (classes 0..9 in turn)")->capture_default_str()
        ->check(CLI::Range(2, 9000));
    add_sampler_flags(*cmd, eval.sampler);
    cmd->add_option("--eta", eval.sampler.eta, "DDIM eta")->capture_default_str()->check(CLI::Range(0.0, 1.0) & finite());
    eval_guidance_ = cmd->add_option("--guidance", eval.sampler.guidance,
                                     "guidance s: eps = eps_u + s (eps_c - eps_u); 0 unconditional, 1 conditional "
                                     "(default: the training run's, if the file records it)")
        ->capture_default_str()->check(CLI::NonNegativeNumber & finite());
    cmd->add_option("--seed", eval.seed, "random seed")->capture_default_str()->check(cli_detail::seed_range());
    cmd->add_option("--json", eval.json, "also write the figures as JSON");
    cmd->add_option("--pr-k", eval.pr_k, "precision / recall: k of the k-nearest-neighbour balls")
        ->capture_default_str()->check(CLI::Range(1, 100));
    cmd->add_option("--kid-subsets", eval.kid_subsets, "KID: disjoint subsets of its jackknife standard error")
        ->capture_default_str()->check(CLI::Range(1, 100));
  }

  // A training flag: CLI11 writes its value into flags_, and apply() copies it over the preset.
  struct TrainFlag {
    std::string name;
    CLI::Option* option;
    std::function<void(TrainConfig&, const TrainConfig&)> apply;
    bool run_setting;  // changes the run (compared on resume), or only what it writes
  };
  template <typename T>
  void add_train_flag(const std::string& name, T TrainConfig::*field, const std::string& help,
                      const CLI::Validator& check, bool run_setting) {
    CLI::Option* option = train_cmd_->add_option("--" + name, flags_.*field, help)->check(check);
    train_flags_.push_back(
        {name, option, [field](TrainConfig& c, const TrainConfig& f) { c.*field = f.*field; }, run_setting});
  }
  template <typename T>
  void setting(const std::string& name, T TrainConfig::*field, const std::string& help, const CLI::Validator& check) {
    add_train_flag(name, field, help, check, true);
  }
  template <typename T>
  void output(const std::string& name, T TrainConfig::*field, const std::string& help, const CLI::Validator& check) {
    add_train_flag(name, field, help, check, false);
  }

  static bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  }

  // The preset, then the flags given; and which run settings the command line names.
  void resolve_train(CommandLine& line, const std::vector<std::string>& overridden) {
    if (!overridden.empty() && line.train.resume.empty())
      throw CLI::ValidationError("--override", "changes a setting of a resumed run: give it with --resume, or "
                                               "give the flag itself (--" + overridden.front() + " ...)");
    TrainRun& train = line.train;
    train.train = preset(preset_name_);
    const bool preset_given = preset_opt_->count() > 0;
    if (preset_given) line.train_settings_given = training_settings();
    for (const TrainFlag& flag : train_flags_) {
      if (preset_given && !flag.run_setting) line.train_outputs_given.push_back(flag.name);
      if (flag.option->count() == 0) continue;
      flag.apply(train.train, flags_);
      if (flag.run_setting && !contains(overridden, flag.name)) line.train_settings_given.push_back(flag.name);
      if (!flag.run_setting) line.train_outputs_given.push_back(flag.name);
    }
    if (out_opt_->count() > 0) line.train_outputs_given.push_back("out");
    for (const auto& [name, option] : model_options_)
      if (option->count() > 0 && !contains(overridden, name)) line.train_settings_given.push_back(name);
    train.overrides = overridden;
    check_model_flags(train.model);
  }

  CLI::App app_;
  CommandLine line_;  // where CLI11 writes the values
  CLI::App* train_cmd_ = nullptr;
  CLI::App* sample_cmd_ = nullptr;
  CLI::Option* preset_opt_ = nullptr;
  CLI::Option* out_opt_ = nullptr;
  CLI::Option* sample_guidance_ = nullptr;
  CLI::Option* eval_guidance_ = nullptr;
  std::string preset_name_ = "quick";
  TrainConfig flags_;  // the training flags' values, applied over the preset
  std::vector<TrainFlag> train_flags_;
  std::vector<std::pair<std::string, CLI::Option*>> model_options_;  // dataset, model and diffusion flags
  std::vector<std::string> override_help_;  // only for --help: parse() rewrites --override before CLI11 sees it
  bool no_clip_ = false;
};

// Parses a command line without running it (args[0]: the program's name); throws
// CLI::ParseError for a bad one. For tools and tests; the program itself keeps its Cli to
// print errors and help.
inline CommandLine parse_command_line(const std::vector<std::string>& args) {
  Cli cli;
  return cli.parse(args);
}

}  // namespace ddpm
