// Times the ddpm_mnist U-Net end to end: one training step and one sampling forward pass.
//
//   unet_step [--threads N] [--batch B[,B...]] [--sample-batch B[,B...]] [--only CASE[,CASE...]]
//             [--repeats R] [--warmup W] [--json] [--flops]
//
// Cases (default: train64 train128 sample100 sample200):
//   train<B>   x ~ N(0,1) [B,1,28,28], t uniform in [0,1000), labels uniform in [0,10] (10 = "no
//              label"), target ~ N(0,1); timed: forward, mse_loss, optimizer.zero_grad(),
//              loss.backward(), AdamW(lr 1e-3).step()
//   sample<B>  one forward pass under NoGradGuard (one denoising step of the sampler)
// Each case: W untimed warm-up runs, then the median (and min) of R timed runs. The inputs are
// drawn once per case (outside the timing); the model is the default ddpm::UNet built after
// manual_seed(0), the same for every case of the process.
//
// Effective GFLOP/s = counted FLOPs / median time, with FLOPs = 2 x multiply-adds of every conv,
// transposed conv and linear layer (per image, walked from the UNetConfig below; --flops lists
// them). A training step counts 3 x the forward FLOPs (backward = input grad + weight grad =
// 2 x forward). Norms, activations, adds, the embedding lookup and the optimiser are not counted.
//
// Peak RSS is the process's VmHWM (/proc/self/status), so it covers every case run so far and
// the model: run one case per process (--only train64) to attribute memory to a case, as
// benchmarks/compare_torch.py does. --json prints one JSON object per line per case.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tinydiff/tinydiff.hpp>

#include "bench_common.hpp"
#include "unet.hpp"

namespace {

using bench::cpu_json;
using bench::median;
using bench::peak_rss_mb;
using bench::time_runs;
using tinydiff::Shape;

using tinydiff::Tensor;

constexpr int64_t kImageSize = 28;

// One conv / transposed conv / linear layer of the U-Net, by its state-dict name.
struct LayerCost {
  std::string name;  // e.g. "down.1.res.conv1"
  Shape weight_shape;
  double macs_per_image;
  std::string note;  // "conv 32->64 3x3 at 14x14"
};

// Walks the architecture of ddpm::UNet (examples/ddpm_mnist/unet.hpp) with the spatial size of
// each level and lists every conv and linear layer with its multiply-adds for one image.
// main() checks the names and weight shapes against the built model, so this walk cannot drift
// silently from unet.hpp.
std::vector<LayerCost> unet_layers(const ddpm::UNetConfig& cfg, int64_t image) {
  std::vector<LayerCost> out;
  auto size_note = [](int64_t s) { return std::to_string(s) + "x" + std::to_string(s); };
  auto conv = [&](const std::string& name, int64_t cin, int64_t cout, int64_t k, int64_t out_size) {
    out.push_back({name, {cout, cin, k, k}, static_cast<double>(out_size * out_size * cout * cin * k * k),
                   "conv " + std::to_string(cin) + "->" + std::to_string(cout) + " " + std::to_string(k) + "x" +
                       std::to_string(k) + " -> " + size_note(out_size)});
  };
  // Transposed conv: every input pixel stamps a cout x k x k kernel per input channel.
  auto conv_t = [&](const std::string& name, int64_t cin, int64_t cout, int64_t k, int64_t in_size) {
    out.push_back({name, {cin, cout, k, k}, static_cast<double>(in_size * in_size * cin * cout * k * k),
                   "conv_transpose " + std::to_string(cin) + "->" + std::to_string(cout) + " " +
                       std::to_string(k) + "x" + std::to_string(k) + " " + size_note(in_size) + " -> " +
                       size_note(2 * in_size)});
  };
  auto linear = [&](const std::string& name, int64_t fin, int64_t fout) {
    out.push_back({name, {fout, fin}, static_cast<double>(fin * fout),
                   "linear " + std::to_string(fin) + "->" + std::to_string(fout)});
  };
  auto resblock = [&](const std::string& prefix, int64_t cin, int64_t cout, int64_t temb, int64_t size) {
    conv(prefix + ".conv1", cin, cout, 3, size);
    linear(prefix + ".temb_proj", temb, cout);
    conv(prefix + ".conv2", cout, cout, 3, size);
    if (cin != cout) conv(prefix + ".skip", cin, cout, 1, size);
  };

  const int64_t temb = 4 * cfg.base;
  linear("time_mlp.0", cfg.base, temb);
  linear("time_mlp.2", temb, temb);
  conv("conv_in", cfg.in_channels, cfg.base, 3, image);
  std::vector<int64_t> widths;
  for (int64_t m : cfg.mults) widths.push_back(cfg.base * m);
  int64_t c = cfg.base, size = image;
  for (size_t level = 0; level < widths.size(); ++level) {
    const std::string prefix = "down." + std::to_string(level);
    resblock(prefix + ".res", c, widths[level], temb, size);
    c = widths[level];
    if (level + 1 < widths.size()) {
      size = (size + 2 - 3) / 2 + 1;  // 3x3, stride 2, padding 1
      conv(prefix + ".downsample", c, c, 3, size);
    }
  }
  for (int i = 0; i < 2; ++i) resblock("mid." + std::to_string(i), c, c, temb, size);
  int64_t index = 0;
  for (size_t level = widths.size(); level-- > 0; ++index) {
    const std::string prefix = "up." + std::to_string(index);
    resblock(prefix + ".res", c + widths[level], widths[level], temb, size);
    c = widths[level];
    if (level > 0) {
      conv_t(prefix + ".upsample", c, c, 4, size);
      size *= 2;
    }
  }
  conv("conv_out", c, cfg.in_channels, 3, size);
  return out;
}

// Every conv / linear weight of the model (rank 2 or 4, not the embedding table) must be one of
// the walked layers, with the same shape, and vice versa.
void check_layers_against_model(const std::vector<LayerCost>& layers, const ddpm::UNet& model) {
  std::map<std::string, Shape> walked;
  for (const auto& l : layers) walked[l.name + ".weight"] = l.weight_shape;
  std::map<std::string, Shape> actual;
  for (const auto& [name, p] : model.named_parameters())
    if ((p.dim() == 2 || p.dim() == 4) && name != "class_emb.weight") actual[name] = p.shape();
  if (walked != actual) {
    std::fprintf(stderr, "unet_step: the FLOP walk does not match the model's conv/linear weights:\n");
    for (const auto& [name, shape] : actual)
      if (!walked.count(name) || walked[name] != shape)
        std::fprintf(stderr, "  model has %s %s\n", name.c_str(), tinydiff::shape_str(shape).c_str());
    for (const auto& [name, shape] : walked)
      if (!actual.count(name) || actual[name] != shape)
        std::fprintf(stderr, "  walk has  %s %s\n", name.c_str(), tinydiff::shape_str(shape).c_str());
    std::exit(3);
  }
}

struct Case {
  std::string kind;  // "train" or "sample"
  int64_t batch;
  std::string name() const { return kind + std::to_string(batch); }
};

struct Options {
  int threads = 0;  // 0: OpenMP's default (OMP_NUM_THREADS or all cores)
  std::vector<int64_t> train_batches = {64, 128};
  std::vector<int64_t> sample_batches = {100, 200};
  std::vector<Case> only;
  int repeats = 10;
  int warmup = 2;
  bool json = false;
  bool flops = false;
};

[[noreturn]] void usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "unet_step: %s\n", error.c_str());
  std::fprintf(stderr,
               "usage: unet_step [--threads N] [--batch B[,B...]] [--sample-batch B[,B...]]\n"
               "                 [--only CASE[,CASE...]] [--repeats R] [--warmup W] [--json] [--flops]\n"
               "  --batch         training-step batch sizes (default 64,128)\n"
               "  --sample-batch  sampling forward-pass batch sizes (default 100,200)\n"
               "  --only          run just these cases, e.g. train64 or sample200 (overrides the two above)\n"
               "  --repeats       timed runs per case, the median is reported (default 10)\n"
               "  --warmup        untimed runs per case first (default 2)\n"
               "  --json          one JSON object per case per line\n"
               "  --flops         print the per-layer FLOP count and exit\n");
  std::exit(error.empty() ? 0 : 2);
}

int64_t parse_int(const std::string& text, const std::string& flag, int64_t min) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size() && v >= min) return v;
  } catch (const std::exception&) {
  }
  usage(flag + " expects an integer >= " + std::to_string(min) + ", got '" + text + "'");
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) parts.push_back(part);
  return parts;
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool batch_given = false, sample_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    const auto eq = arg.find('=');
    bool has_value = false;
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") usage("");
    else if (arg == "--threads") o.threads = static_cast<int>(parse_int(next(), arg, 1));
    else if (arg == "--batch" || arg == "--sample-batch") {
      auto& list = arg == "--batch" ? o.train_batches : o.sample_batches;
      bool& given = arg == "--batch" ? batch_given : sample_given;
      if (!given) list.clear();
      given = true;
      for (const auto& b : split_commas(next())) list.push_back(parse_int(b, arg, 1));
    } else if (arg == "--only") {
      for (const auto& name : split_commas(next())) {
        const std::string kind = name.rfind("train", 0) == 0 ? "train" : name.rfind("sample", 0) == 0 ? "sample" : "";
        if (kind.empty()) usage("--only expects cases like train64 or sample100, got '" + name + "'");
        o.only.push_back({kind, parse_int(name.substr(kind.size()), "--only " + name, 1)});
      }
    } else if (arg == "--repeats") o.repeats = static_cast<int>(parse_int(next(), arg, 1));
    else if (arg == "--warmup") o.warmup = static_cast<int>(parse_int(next(), arg, 0));
    else if (arg == "--json") o.json = true;
    else if (arg == "--flops") o.flops = true;
    else usage("unknown argument '" + std::string(argv[i]) + "'");
  }
  return o;
}

struct Inputs {
  Tensor x, target;
  std::vector<int> t;
  std::vector<int64_t> y;
};

Inputs random_inputs(int64_t batch, int64_t channels) {
  auto& gen = tinydiff::default_generator();
  Inputs in;
  in.x = tinydiff::randn({batch, channels, kImageSize, kImageSize});
  in.target = tinydiff::randn({batch, channels, kImageSize, kImageSize});
  for (int64_t i = 0; i < batch; ++i) {
    in.t.push_back(static_cast<int>(gen.uniform_int(1000)));
    in.y.push_back(static_cast<int64_t>(gen.uniform_int(11)));  // 0..9 digits, 10 = "no label"
  }
  return in;
}

}  // namespace

static int run(const Options& opt);

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unet_step: %s\n", e.what());
    return 1;
  }
}

static int run(const Options& opt) {
  if (opt.threads > 0) tinydiff::set_num_threads(opt.threads);
  const int threads = omp_get_max_threads();

  tinydiff::manual_seed(0);
  ddpm::UNet model;
  const std::vector<LayerCost> layers = unet_layers(model.config, kImageSize);
  check_layers_against_model(layers, model);
  double macs_per_image = 0;
  for (const auto& l : layers) macs_per_image += l.macs_per_image;
  const double forward_flops_per_image = 2.0 * macs_per_image;

  if (opt.flops) {
    std::printf("%-22s %-42s %14s\n", "layer", "what", "MACs/image");
    for (const auto& l : layers) std::printf("%-22s %-42s %14.0f\n", l.name.c_str(), l.note.c_str(), l.macs_per_image);
    std::printf("total: %.0f MACs = %.4f GFLOP per image forward (x3 for a training step); %lld parameters\n",
                macs_per_image, forward_flops_per_image / 1e9, static_cast<long long>(model.num_parameters()));
    return 0;
  }

  std::vector<Case> cases = opt.only;
  if (cases.empty()) {
    for (int64_t b : opt.train_batches) cases.push_back({"train", b});
    for (int64_t b : opt.sample_batches) cases.push_back({"sample", b});
  }
  if (!opt.json) std::printf("%s\n", tinydiff::cpu_info().summary().c_str());
  if (!opt.json)
    std::printf("ddpm::UNet (%lld parameters, %.4f GFLOP/image forward), %d thread(s), median of %d after %d warm-up\n"
                "%-10s %10s %10s %10s %10s %12s\n",
                static_cast<long long>(model.num_parameters()), forward_flops_per_image / 1e9, threads, opt.repeats,
                opt.warmup, "case", "median ms", "min ms", "images/s", "GFLOP/s", "peak RSS MB");

  tinydiff::optim::AdamW optimizer(model.parameters(), tinydiff::optim::AdamWOptions(1e-3));
  const double baseline_rss = peak_rss_mb();  // the program and the model, before any case runs
  for (const Case& c : cases) {
    const Inputs in = random_inputs(c.batch, model.config.in_channels);
    std::vector<double> ms;
    double flops = 0;
    if (c.kind == "train") {
      ms = time_runs(opt.warmup, opt.repeats, [&] {
        Tensor out = model.forward(in.x, in.t, in.y);
        Tensor loss = tinydiff::mse_loss(out, in.target);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
      });
      flops = 3.0 * forward_flops_per_image * static_cast<double>(c.batch);
    } else {
      ms = time_runs(opt.warmup, opt.repeats, [&] {
        tinydiff::NoGradGuard no_grad;
        Tensor out = model.forward(in.x, in.t, in.y);
      });
      flops = forward_flops_per_image * static_cast<double>(c.batch);
    }
    const double med = median(ms), best = *std::min_element(ms.begin(), ms.end());
    const double images_per_s = static_cast<double>(c.batch) / (med / 1e3);
    const double gflops = flops / (med / 1e3) / 1e9;
    const double rss = peak_rss_mb();
    if (opt.json) {
      const nlohmann::json j = {{"case", c.name()},       {"kind", c.kind},        {"batch", c.batch},
                                {"threads", threads},     {"repeats", opt.repeats}, {"warmup", opt.warmup},
                                {"median_ms", med},       {"min_ms", best},        {"images_per_s", images_per_s},
                                {"gflop_per_step", flops / 1e9},
                                {"gflop_per_image_forward", forward_flops_per_image / 1e9},
                                {"gflops", gflops}, {"peak_rss_mb", rss}, {"baseline_rss_mb", baseline_rss},
                                {"times_ms", ms}, {"cpu", cpu_json()}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%-10s %10.2f %10.2f %10.1f %10.2f %12.1f\n", c.name().c_str(), med, best, images_per_s, gflops, rss);
    }
    std::fflush(stdout);
  }
  return 0;
}
