// mnist_vit: trains the small vision transformer of vit.hpp on the embedded MNIST digits,
// split as mnist_classifier splits them (the first 9,000 for training, the last 1,000 held
// out), and reports held-out accuracy after each epoch, the wall time and the machine's load.
//
//   mnist_vit [--epochs 12] [--batch 64] [--lr 1e-3] [--patch 7] [--dim 64] [--depth 4]
//             [--heads 4] [--mlp 128] [--pool cls|mean] [--max-steps N] [--seed 0] [--threads N] [--out FILE]
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../ddpm_mnist/app/data.hpp"
#include "../ddpm_mnist/app/progress.hpp"
#include "../mnist_classifier/accuracy.hpp"
#include "vit.hpp"

using namespace tinydiff;

namespace {

// Images [B, 1, 28, 28] each translated by (dy, dx) in [-max_shift, max_shift]^2, the uncovered
// border filled with the background (-1): translation is the augmentation that lets 9,000
// digits train a transformer, which has no built-in translation invariance.
Tensor translate_randomly(const Tensor& images, int64_t max_shift, Generator& gen) {
  const int64_t count = images.size(0), side = 28;
  Tensor out = full(images.shape(), -1.0f);
  const auto span = static_cast<uint64_t>(2 * max_shift + 1);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t dy = static_cast<int64_t>(gen.uniform_int(span)) - max_shift;
    const int64_t dx = static_cast<int64_t>(gen.uniform_int(span)) - max_shift;
    const int64_t x0 = std::max<int64_t>(0, dx), x1 = std::min(side, side + dx);  // destination columns
    for (int64_t row = std::max<int64_t>(0, dy); row < std::min(side, side + dy); ++row)
      std::memcpy(out.data() + (i * side + row) * side + x0, images.data() + (i * side + row - dy) * side + x0 - dx,
                  sizeof(float) * static_cast<size_t>(x1 - x0));
  }
  return out;
}

// The 1-minute load average, to say how busy the machine was (0 where /proc is missing).
double load_average() {
  std::ifstream in("/proc/loadavg");
  double load = 0.0;
  in >> load;
  return load;
}

// CPU seconds this process has used (user + system, all threads): on a shared machine the
// wall time depends on the other jobs, this does not.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mnist_vit: a small vision transformer trained on the embedded MNIST digits (tinydiff)"};
  vit::VitConfig config;
  int epochs = 12, threads = 0;
  int64_t batch = 64, max_steps = 0, shift = 2;
  double lr = 1e-3, weight_decay = 0.05;
  uint64_t seed = 0;
  std::string out;
  app.add_option("--epochs", epochs, "passes over the 9,000 training digits")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-steps", max_steps, "stop after this many steps (0: no cap); the schedule still spans --epochs")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--batch", batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "AdamW peak learning rate (warm-up, then cosine decay to 0)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--weight-decay", weight_decay, "AdamW weight decay")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--shift", shift, "augmentation: random translation by up to this many pixels")->capture_default_str()
      ->check(CLI::Range(0, 8));
  app.add_option("--patch", config.patch, "patch size (divides 28)")->capture_default_str()
      ->check(CLI::IsMember({2, 4, 7, 14}));
  app.add_option("--dim", config.dim, "token width")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--depth", config.depth, "transformer blocks")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--heads", config.heads, "attention heads (divide --dim)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--mlp", config.mlp, "hidden width of each block's MLP")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--pool", config.pool, "what the head reads: the class token or the mean of all tokens")
      ->capture_default_str()->check(CLI::IsMember({"cls", "mean"}));
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--out", out, "save the weights here (safetensors); nothing saved when empty");
  app.add_option("--threads", threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  try {
    if (threads > 0) set_num_threads(threads);
    const auto began = std::chrono::steady_clock::now();
    const ddpm::Dataset digits = ddpm::load_dataset("mnist", "");
    const int64_t n = digits.images.size(0), held_out = ddpm::kHeldOutDigits, n_train = n - held_out;
    const Tensor train_images = narrow(digits.images, 0, 0, n_train);
    const Tensor test_images = narrow(digits.images, 0, n_train, held_out);
    const std::vector<int64_t> train_labels(digits.labels.begin(), digits.labels.begin() + n_train);
    const std::vector<int64_t> test_labels(digits.labels.begin() + n_train, digits.labels.end());

    manual_seed(seed);
    vit::VisionTransformer model(config);
    optim::AdamW optimizer(model.parameters(), optim::AdamWOptions(lr).weight_decay(weight_decay));
    // A fresh shuffle of the training digits each epoch, the short last batch dropped, the next
    // batch gathered on a worker thread while this one trains. The shuffle and the translations
    // draw from one seeded generator, so runs repeat (and match the hand-written loop this
    // replaced: the same permutations and shifts).
    Generator gen(seed + 1);
    const data::TensorDataset train_set({train_images, IndexTensor::of(train_labels)});
    data::DataLoader loader(train_set,
                            data::DataLoaderOptions(batch).shuffle(true).generator(&gen).drop_last(true).prefetch(true));
    const int64_t steps_per_epoch = loader.size(), planned = steps_per_epoch * epochs;
    const int64_t total = max_steps > 0 ? std::min(max_steps, planned) : planned;
    optim::WarmupCosineLR schedule(optimizer, std::min<int64_t>(steps_per_epoch, planned / 10), planned);
    std::printf("mnist_vit: %lld training digits, %lld held out; patch %lld (%lld tokens + class), dim %lld, depth %lld, "
                "heads %lld, mlp %lld, pool %s: %lld parameters; %d epochs x %lld steps of %lld%s\n",
                static_cast<long long>(n_train), static_cast<long long>(held_out), static_cast<long long>(config.patch),
                static_cast<long long>(config.tokens()), static_cast<long long>(config.dim),
                static_cast<long long>(config.depth), static_cast<long long>(config.heads),
                static_cast<long long>(config.mlp), config.pool.c_str(), static_cast<long long>(model.num_parameters()), epochs,
                static_cast<long long>(steps_per_epoch), static_cast<long long>(batch),
                max_steps > 0 ? (", capped at " + std::to_string(total) + " steps").c_str() : "");
    ddpm::Progress progress(0, total, steps_per_epoch / 2, batch);
    int64_t step = 0;
    double acc = 0.0, load_sum = 0.0;
    int load_samples = 0;
    for (int epoch = 0; epoch < epochs && step < total; ++epoch) {
      for (const data::Batch& b : loader) {
        const Tensor x = translate_randomly(b.tensor(0), shift, gen);
        const Tensor loss = cross_entropy(model.forward(x), b.index(1));
        optimizer.zero_grad();
        loss.backward();
        const double current_lr = optimizer.get_lr();
        optimizer.step();
        schedule.step();
        progress.update(++step, loss.item(), current_lr);
        if (step == total) break;  // --max-steps
      }
      acc = mnist::heldout_accuracy(model, test_images, test_labels, 250);
      load_sum += load_average();
      ++load_samples;
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
      std::printf("epoch %d: held-out accuracy %.2f%% after %lld steps, %.0f s (%.0f CPU s)\n", epoch + 1,
                  100.0 * acc, static_cast<long long>(step), seconds, cpu_seconds());
      std::fflush(stdout);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    if (!out.empty())
      io::save(model, out, {{"format", "tinydiff-mnist-vit-1"}, {"heldout_accuracy", std::to_string(acc)}});
    std::printf("held-out accuracy: %.2f%% (%lld of %lld digits) in %.0f s (%.0f CPU s) with %d threads, mean 1-min "
                "load %.1f%s%s\n",
                100.0 * acc, static_cast<long long>(acc * static_cast<double>(held_out) + 0.5),
                static_cast<long long>(held_out), seconds, cpu_seconds(), get_num_threads(),
                load_sum / std::max(load_samples, 1),
                out.empty() ? "" : "; weights saved to ", out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
