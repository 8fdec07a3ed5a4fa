#pragma once
// Held-out accuracy of a digit classifier (mnist_classifier's CNN, mnist_vit's transformer):
// the fraction of `images` whose argmax logit is the label, in eval mode, `batch` images at a time.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <tinydiff/tinydiff.hpp>

namespace mnist {

template <typename Model>
double heldout_accuracy(Model& model, const tinydiff::Tensor& images, const std::vector<int64_t>& labels,
                        int64_t batch) {
  tinydiff::NoGradGuard no_grad;
  model.eval();
  int64_t correct = 0;
  const int64_t n = images.size(0);
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t len = std::min<int64_t>(batch, n - start);
    const tinydiff::IndexTensor guesses = tinydiff::argmax(model.forward(tinydiff::narrow(images, 0, start, len)), 1);
    for (int64_t i = 0; i < len; ++i) correct += guesses.data[static_cast<size_t>(i)] == labels[start + i];
  }
  model.train();
  return static_cast<double>(correct) / static_cast<double>(n);
}

}  // namespace mnist
