#pragma once
// Training data: 28x28 grey digits (or clothes) with labels, scaled to [-1, 1].
//
//   default           the 10,000 real MNIST digits embedded in the repository (data/)
//   --data DIR        the full MNIST in IDX form (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]),
//                     as scripts/fetch_mnist.sh downloads it
//   --dataset fashion Fashion-MNIST from DIR, or from Debian's dataset-fashion-mnist package
#include <filesystem>
#include <string>
#include <vector>

#include <tinydiff/io/idx.hpp>
#include <tinydiff/tinydiff.hpp>

#ifndef DDPM_MNIST_DATA_DIR
#define DDPM_MNIST_DATA_DIR "examples/ddpm_mnist/data"
#endif

namespace ddpm {

struct Dataset {
  tinydiff::Tensor images;       // [N, 1, 28, 28] in [-1, 1]
  std::vector<int64_t> labels;   // N labels in [0, 10)
  std::string description;       // where it came from, for the log
};

namespace detail {
// The first of `names` that exists in `dir`, trying each with and without ".gz".
inline std::string find_file(const std::string& dir, const std::vector<std::string>& names) {
  for (const std::string& name : names)
    for (const std::string& candidate : {name + ".gz", name}) {
      const auto path = std::filesystem::path(dir) / candidate;
      if (std::filesystem::exists(path)) return path.string();
    }
  throw tinydiff::Error("dataset: no " + names.front() + "[.gz] in '" + dir + "'");
}
}  // namespace detail

inline Dataset load_pair(const std::string& images_path, const std::string& labels_path, const std::string& what) {
  Dataset d;
  const tinydiff::Tensor raw = tinydiff::io::load_idx_images(images_path);
  d.labels = tinydiff::io::load_idx_labels(labels_path);
  TD_CHECK(raw.size(0) == static_cast<int64_t>(d.labels.size()), "dataset", "'", images_path, "' has ", raw.size(0),
           " images but '", labels_path, "' has ", d.labels.size(), " labels");
  TD_CHECK(raw.size(2) == 28 && raw.size(3) == 28, "dataset", "'", images_path, "' holds ", raw.size(2), "x",
           raw.size(3), " images; the model expects 28x28");
  for (int64_t y : d.labels)
    TD_CHECK(y >= 0 && y < 10, "dataset", "'", labels_path, "' has label ", y, " outside [0, 10)");
  d.images = tinydiff::detail::map(raw, [](float v) { return 2.0f * v - 1.0f; });
  d.description = what + " (" + std::to_string(d.labels.size()) + " images)";
  return d;
}

// The embedded digits are split as mnist_classifier splits them: the first 9,000
// for training, the last 1,000 held out, which training on the embedded set must
// not see. The set is interleaved by class until the 5s run out, so the training
// part's first 8,000 hold 100 of each class per 1,000 but the held-out part has
// no 5s (and 223 ones, 40 eights): `ddpm_mnist eval` measures against the first
// 1,000 training digits for that reason, and against the held-out part beside.
constexpr int64_t kHeldOutDigits = 1000;

inline Dataset first_n(const Dataset& d, int64_t n, const std::string& what) {
  Dataset part;
  part.images = tinydiff::narrow(d.images, 0, 0, n);
  part.labels.assign(d.labels.begin(), d.labels.begin() + n);
  part.description = what + " (" + std::to_string(n) + " images)";
  return part;
}

// dataset: "mnist" or "fashion"; dir: "" for the default location.
inline Dataset load_dataset(const std::string& dataset, const std::string& dir) {
  if (dataset == "mnist") {
    if (dir.empty())
      return load_pair(std::string(DDPM_MNIST_DATA_DIR) + "/mnist10k-images-idx3-ubyte.gz",
                       std::string(DDPM_MNIST_DATA_DIR) + "/mnist10k-labels-idx1-ubyte.gz",
                       "embedded MNIST subset");
    return load_pair(detail::find_file(dir, {"train-images-idx3-ubyte", "train-images.idx3-ubyte"}),
                     detail::find_file(dir, {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"}), "MNIST from " + dir);
  }
  if (dataset == "fashion") {
    const std::string where = dir.empty() ? "/usr/share/datasets/fashion-mnist" : dir;
    if (!std::filesystem::exists(where))
      throw tinydiff::Error("dataset: Fashion-MNIST not found at '" + where +
                            "'; install Debian's dataset-fashion-mnist or pass --data DIR");
    return load_pair(detail::find_file(where, {"train-images-idx3-ubyte"}),
                     detail::find_file(where, {"train-labels-idx1-ubyte"}), "Fashion-MNIST from " + where);
  }
  throw tinydiff::Error("dataset: unknown dataset '" + dataset + "' (mnist or fashion)");
}

// What training uses: everything, except that the embedded digits keep their
// held-out 1,000 for evaluation.
inline Dataset load_training_set(const std::string& dataset, const std::string& dir) {
  Dataset d = load_dataset(dataset, dir);
  if (dataset == "mnist" && dir.empty())
    return first_n(d, d.images.size(0) - kHeldOutDigits, "embedded MNIST subset without its held-out digits");
  return d;
}

}  // namespace ddpm
