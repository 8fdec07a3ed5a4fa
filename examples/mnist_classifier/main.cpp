// mnist_classifier: trains the small CNN of classifier.hpp on the embedded MNIST
// digits (the first 9,000 for training, the last 1,000 held out; the set is
// interleaved by class, so both parts are class-balanced), reports held-out
// accuracy and saves the weights as safetensors. ddpm_mnist uses it to judge
// its samples.
//
//   mnist_classifier [--epochs 8] [--out mnist_classifier.safetensors] [--seed 0] [--threads N]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "../ddpm_mnist/app/data.hpp"
#include "../ddpm_mnist/app/progress.hpp"
#include "accuracy.hpp"
#include "classifier.hpp"

using namespace tinydiff;

namespace {

constexpr int64_t kHeldOut = 1000;

// A copy of images [B, 1, 28, 28] each shifted by up to `max_shift` pixels (background -1):
// cheap augmentation that makes 9,000 digits go further.
Tensor random_shift(const Tensor& images, int max_shift, Generator& gen) {
  const int64_t b = images.size(0);
  Tensor out = full(images.shape(), -1.0f);
  for (int64_t i = 0; i < b; ++i) {
    const int dy = static_cast<int>(gen.uniform_int(2 * max_shift + 1)) - max_shift;
    const int dx = static_cast<int>(gen.uniform_int(2 * max_shift + 1)) - max_shift;
    const float* src = images.data() + i * 784;
    float* dst = out.data() + i * 784;
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const int sy = y - dy, sx = x - dx;
        if (sy >= 0 && sy < 28 && sx >= 0 && sx < 28) dst[y * 28 + x] = src[sy * 28 + sx];
      }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mnist_classifier: a small CNN trained on the embedded MNIST digits (tinydiff)"};
  int epochs = 8, threads = 0;
  int64_t batch = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  std::string out = "mnist_classifier.safetensors";
  app.add_option("--epochs", epochs, "passes over the 9,000 training digits")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam learning rate (cosine decay to 0)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--out", out, "where to save the weights")->capture_default_str();
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
    const ddpm::Dataset data = ddpm::load_dataset("mnist", "");
    const int64_t n = data.images.size(0), n_train = n - kHeldOut;
    const Tensor train_images = narrow(data.images, 0, 0, n_train);
    const Tensor test_images = narrow(data.images, 0, n_train, kHeldOut);
    const std::vector<int64_t> train_labels(data.labels.begin(), data.labels.begin() + n_train);
    const std::vector<int64_t> test_labels(data.labels.begin() + n_train, data.labels.end());

    manual_seed(seed);
    mnist::Classifier model;
    optim::Adam optimizer(model.parameters(), optim::AdamOptions(lr));
    // A fresh shuffle of the training digits each epoch, the short last batch dropped, the next
    // batch gathered on a worker thread while this one trains. The shuffle and the augmentation's
    // shifts draw from one seeded generator, so runs repeat (and match the hand-written loop this
    // replaced: the same permutations and shifts).
    Generator gen(seed + 1);
    const data::TensorDataset train_set({train_images, IndexTensor::of(train_labels)});
    data::DataLoader loader(train_set,
                            data::DataLoaderOptions(batch).shuffle(true).generator(&gen).drop_last(true).prefetch(true));
    const int64_t steps_per_epoch = loader.size(), total = steps_per_epoch * epochs;
    optim::WarmupCosineLR schedule(optimizer, 0, total);
    std::printf("mnist_classifier: %lld training digits, %lld held out, %lld parameters, %d epochs x %lld steps\n",
                static_cast<long long>(n_train), static_cast<long long>(kHeldOut),
                static_cast<long long>(model.num_parameters()), epochs, static_cast<long long>(steps_per_epoch));
    ddpm::Progress progress(0, total, steps_per_epoch / 2, batch);
    int64_t step = 0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      for (const data::Batch& b : loader) {
        const Tensor x = random_shift(b.tensor(0), 2, gen);
        const Tensor loss = cross_entropy(model.forward(x), b.index(1));
        optimizer.zero_grad();
        loss.backward();
        const double current_lr = optimizer.get_lr();
        optimizer.step();
        schedule.step();
        progress.update(++step, loss.item(), current_lr);
      }
    }
    const double acc = mnist::heldout_accuracy(model, test_images, test_labels, 500);
    io::save(model, out, {{"format", "tinydiff-mnist-classifier-1"}, {"heldout_accuracy", std::to_string(acc)}});
    std::printf("held-out accuracy: %.2f%% (%lld of %lld digits); weights saved to %s\n", 100.0 * acc,
                static_cast<long long>(acc * kHeldOut + 0.5), static_cast<long long>(kHeldOut), out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
