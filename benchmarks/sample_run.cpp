// Times whole sampling runs of the ddpm_mnist U-Net: x_T ~ N(0, I) to images, with the real
// sampler code (examples/ddpm_mnist/samplers.hpp), as `ddpm_mnist sample` runs it.
//
//   sample_run [--threads N] [--sampler ddim|dpmpp2m|unipc|ddpm] [--steps S] [--spacing uniform|trailing|logsnr]
//              [--batch B] [--guidance G] [--repeats R] [--warmup W] [--json]
//   sample_run --weights W.safetensors --noise N.safetensors --out O.safetensors [the sampler flags]
//
// Timing (default): the default ddpm::UNet built after manual_seed(0) (speed does not depend on
// the weights), linear schedule with T = 1000, epsilon prediction, x_0 clipped, labels i % 10,
// classifier-free guidance G (default 2, the quick preset's: one doubled batch [x; x] with labels
// [y; null] per step). Each run draws its own x_T; W untimed runs, then the median of R timed ones.
//
// Check (--out): one run with the weights from W (e.g. the mirror's, written by
// benchmarks/compare_torch.py --check-sample) from the x_T and labels in N ("x_T", "y"); writes
// the images ("x") and the timesteps used ("timesteps") to O, for the PyTorch side to compare.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tinydiff/tinydiff.hpp>

#include "bench_common.hpp"
#include "app/checkpoint.hpp"
#include "samplers.hpp"

namespace {

using tinydiff::Tensor;

struct Options {
  int threads = 0;  // 0: OpenMP's default
  ddpm::SamplerOptions sampler;
  int64_t batch = 100;
  int repeats = 3;
  int warmup = 1;
  bool json = false;
  std::string weights, noise, out;  // the check mode
};

[[noreturn]] void usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "sample_run: %s\n", error.c_str());
  std::fprintf(stderr,
               "usage: sample_run [--threads N] [--sampler ddim|dpmpp2m|unipc|ddpm] [--steps S]\n"
               "                  [--spacing uniform|trailing|logsnr] [--batch B] [--guidance G]\n"
               "                  [--repeats R] [--warmup W] [--json]\n"
               "       sample_run --weights W --noise N --out O [sampler flags]   (one run, images to O)\n"
               "defaults: ddim, 50 steps, uniform, batch 100, guidance 2, 3 repeats after 1 warm-up\n");
  std::exit(error.empty() ? 0 : 2);
}

double parse_number(const std::string& text, const std::string& flag, double min) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && v >= min) return v;
  } catch (const std::exception&) {
  }
  usage(flag + " expects a number >= " + std::to_string(min) + ", got '" + text + "'");
}

Options parse_args(int argc, char** argv) {
  Options o;
  o.sampler.guidance = 2.0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    auto integer = [&](double min) { return static_cast<int>(parse_number(next(), arg, min)); };
    if (arg == "--help" || arg == "-h") usage("");
    else if (arg == "--threads") o.threads = integer(1);
    else if (arg == "--sampler") o.sampler.kind = next();
    else if (arg == "--steps") o.sampler.steps = integer(1);
    else if (arg == "--spacing") o.sampler.spacing = next();
    else if (arg == "--batch") o.batch = integer(1);
    else if (arg == "--guidance") o.sampler.guidance = parse_number(next(), arg, 0.0);
    else if (arg == "--repeats") o.repeats = integer(1);
    else if (arg == "--warmup") o.warmup = integer(0);
    else if (arg == "--json") o.json = true;
    else if (arg == "--weights") o.weights = next();
    else if (arg == "--noise") o.noise = next();
    else if (arg == "--out") o.out = next();
    else usage("unknown argument '" + arg + "'");
  }
  if (!o.out.empty() && (o.weights.empty() || o.noise.empty())) usage("--out needs --weights and --noise");
  return o;
}

ddpm::Denoiser denoiser(ddpm::UNet& model) {
  return [&model](const Tensor& x, const std::vector<int>& t, const std::vector<int64_t>& y) {
    return model.forward(x, t, y);
  };
}

std::vector<int64_t> labels_mod10(int64_t n) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[i] = i % 10;
  return y;
}

// The check: the given weights, x_T and labels; the images and timesteps go to opt.out.
int check_run(const Options& opt, const ddpm::NoiseSchedule& schedule) {
  namespace io = tinydiff::io;
  ddpm::LoadedModel loaded =
      ddpm::load_model_for_sampling(opt.weights, false, ddpm::UNetConfig{}, ddpm::DiffusionConfig{});
  const io::SafetensorsFile noise = io::load_safetensors(opt.noise);
  const Tensor x_T = noise.get("x_T");
  const std::vector<int64_t> y = noise.get_indices("y").data;
  tinydiff::Generator gen(0);  // unused by the deterministic samplers
  const Tensor x = ddpm::sample_from(denoiser(*loaded.model), schedule, opt.sampler, x_T, y,
                                     loaded.model->config.num_classes, gen);
  const std::vector<int> steps = ddpm::sampling_timesteps(schedule, opt.sampler.steps, opt.sampler.spacing);
  io::save_safetensors(opt.out, {{"x", x}}, {{"sampler", opt.sampler.kind}},
                       {{"timesteps", tinydiff::IndexTensor::of(std::vector<int64_t>(steps.begin(), steps.end()))}});
  std::printf("sample_run: %s, %d steps (%s), guidance %g, %lld images -> %s\n", opt.sampler.kind.c_str(),
              opt.sampler.steps, opt.sampler.spacing.c_str(), opt.sampler.guidance,
              static_cast<long long>(x.shape()[0]), opt.out.c_str());
  return 0;
}

int run(const Options& opt) {
  if (opt.threads > 0) tinydiff::set_num_threads(opt.threads);
  const int threads = omp_get_max_threads();
  const ddpm::NoiseSchedule schedule = ddpm::NoiseSchedule::linear(1000);
  if (!opt.out.empty()) return check_run(opt, schedule);

  tinydiff::manual_seed(0);
  ddpm::UNet model;
  const std::vector<int64_t> labels = labels_mod10(opt.batch);
  const tinydiff::Shape shape{opt.batch, model.config.in_channels, 28, 28};
  tinydiff::Generator gen(1);
  const double baseline_rss = bench::peak_rss_mb();  // the program and the model, before any run
  const std::vector<double> ms = bench::time_runs(opt.warmup, opt.repeats, [&] {
    ddpm::sample(denoiser(model), schedule, opt.sampler, shape, labels, model.config.num_classes, gen);
  });
  const double median = bench::median(ms), best = *std::min_element(ms.begin(), ms.end());
  const bool guided = opt.sampler.guidance != 0.0 && opt.sampler.guidance != 1.0;
  const std::vector<int> steps = ddpm::sampling_timesteps(schedule, opt.sampler.steps, opt.sampler.spacing);
  if (opt.json) {
    const nlohmann::json j = {{"sampler", opt.sampler.kind}, {"steps", opt.sampler.steps},
                              {"spacing", opt.sampler.spacing}, {"timesteps", steps},
                              {"batch", opt.batch},             {"guidance", opt.sampler.guidance},
                              {"forward_batch", guided ? 2 * opt.batch : opt.batch},
                              {"threads", threads},             {"repeats", opt.repeats},
                              {"warmup", opt.warmup},           {"median_ms", median},
                              {"min_ms", best},       {"peak_rss_mb", bench::peak_rss_mb()},
                              {"baseline_rss_mb", baseline_rss}, {"times_ms", ms},
                              {"cpu", bench::cpu_json()}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s, %d steps (%s), %lld images, guidance %g, %d thread(s): median %.1f ms, min %.1f ms over %d runs "
                "after %d warm-up; peak RSS %.0f MB\n",
                opt.sampler.kind.c_str(), opt.sampler.steps, opt.sampler.spacing.c_str(),
                static_cast<long long>(opt.batch), opt.sampler.guidance, threads, median, best, opt.repeats,
                opt.warmup, bench::peak_rss_mb());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sample_run: %s\n", e.what());
    return 1;
  }
}
