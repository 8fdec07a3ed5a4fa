#pragma once
// A small CNN for 28x28 digits: the judge of ddpm_mnist's samples.
//   conv 3x3 (1->32) - ReLU - max pool 2 - conv 3x3 (32->64) - ReLU - max pool 2
//   - Linear (3136->128) - ReLU [the 128-wide features] - Dropout - Linear (128->10)
#include <memory>

#include <tinydiff/tinydiff.hpp>

namespace mnist {

using tinydiff::Tensor;
namespace nn = tinydiff::nn;

class Classifier : public nn::Module {
 public:
  explicit Classifier(double dropout_p = 0.3) : nn::Module("Classifier") {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 32, 3).padding(1)));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(32, 64, 3).padding(1)));
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(64 * 7 * 7, 128));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(dropout_p));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(128, 10));
  }

  // x [B, 1, 28, 28] in [-1, 1] -> the penultimate features [B, 128].
  Tensor features(const Tensor& x) {
    using namespace tinydiff;
    Tensor h = max_pool2d(relu(conv1->forward(x)), 2);
    h = max_pool2d(relu(conv2->forward(h)), 2);
    return relu(fc1->forward(reshape(h, {x.size(0), 64 * 7 * 7})));
  }
  // Logits [B, 10].
  Tensor forward(const Tensor& x) { return fc2->forward(dropout->forward(features(x))); }

  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::Dropout> dropout;
};

}  // namespace mnist
