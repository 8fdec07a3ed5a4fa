// The layers of issue #17 as modules: BatchNorm1d/2d, InstanceNorm2d, RMSNorm, Conv1d,
// MaxPool2d, AvgPool2d, Upsample, ModuleDict. Shapes, train()/eval() behaviour, bad
// options and inputs, state_dict keys and a save/load round trip through a file.
// (Their values against PyTorch: tests/parity/test_parity_layers.cpp.)
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

// x[:, c] and x[n, c] of x [N, C, *].
Tensor channel(const Tensor& x, int64_t c) { return narrow(x, 1, c, 1); }
Tensor plane(const Tensor& x, int64_t n, int64_t c) { return narrow(narrow(x, 0, n, 1), 1, c, 1); }

std::string printed(const nn::Module& m) {
  std::ostringstream out;
  out << m;
  return out.str();
}

// A file in the temp directory, removed at the end of the scope.
struct TempFile {
  explicit TempFile(const std::string& stem)
      : path((std::filesystem::temp_directory_path() / (stem + "_" + std::to_string(::getpid()) + ".safetensors"))
                 .string()) {}
  ~TempFile() { std::filesystem::remove(path); }
  std::string path;
};

}  // namespace

TEST_CASE("BatchNorm2d: buffers, train() updates the running statistics, eval() uses them") {
  Generator gen(1701);
  nn::BatchNorm2d bn(3);
  CHECK(keys_of(bn.state_dict()) ==
        std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(keys_of(bn.named_parameters()) == std::vector<std::string>{"weight", "bias"});
  CHECK(bn.num_batches_tracked.shape() == Shape{});
  CHECK_FALSE(bn.running_mean.requires_grad());
  CHECK(printed(bn) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)");

  Tensor x = randn({4, 3, 5, 6}, &gen) * 2.0f + 1.0f;
  Tensor y = bn.forward(x);
  CHECK(y.shape() == x.shape());
  CHECK(bn.num_batches_tracked.item() == 1.0f);
  // Channel 0's batch mean and unbiased variance, by hand.
  double mean = 0.0, sq = 0.0;
  const int64_t M = 4 * 5 * 6;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t s = 0; s < 30; ++s) mean += x.data()[(n * 3 + 0) * 30 + s];
  mean /= M;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t s = 0; s < 30; ++s) sq += std::pow(x.data()[(n * 3 + 0) * 30 + s] - mean, 2);
  CHECK(bn.running_mean.data()[0] == doctest::Approx(0.1 * mean).epsilon(1e-5));
  CHECK(bn.running_var.data()[0] == doctest::Approx(0.9 + 0.1 * sq / (M - 1)).epsilon(1e-5));
  // Training output: channel 0 has mean 0 and biased variance 1 (weight 1, bias 0).
  double ym = 0.0, yv = 0.0;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t s = 0; s < 30; ++s) ym += y.data()[(n * 3) * 30 + s], yv += std::pow(y.data()[(n * 3) * 30 + s], 2);
  CHECK(ym / M == doctest::Approx(0.0).epsilon(1e-5));
  CHECK(yv / M == doctest::Approx(1.0).epsilon(1e-3));

  // eval(): the running statistics, which do not move.
  bn.eval();
  const std::vector<float> rm = bn.running_mean.to_vector();
  Tensor ye = bn.forward(x);
  CHECK(bn.running_mean.to_vector() == rm);
  CHECK(bn.num_batches_tracked.item() == 1.0f);
  const float expected = static_cast<float>((x.data()[0] - rm[0]) / std::sqrt(bn.running_var.data()[0] + 1e-5));
  CHECK(ye.data()[0] == doctest::Approx(expected).epsilon(1e-5));

  // reset_running_stats / reset_parameters: back to PyTorch's initial values.
  bn.weight.data()[1] = 3.0f;
  bn.reset_running_stats();
  CHECK(bn.running_mean.to_vector() == std::vector<float>(3, 0.0f));
  CHECK(bn.running_var.to_vector() == std::vector<float>(3, 1.0f));
  CHECK(bn.num_batches_tracked.item() == 0.0f);
  CHECK(bn.weight.data()[1] == 3.0f);
  bn.reset_parameters();
  CHECK(bn.weight.to_vector() == std::vector<float>(3, 1.0f));
}

TEST_CASE("BatchNorm: options (momentum nullopt, no affine, no running statistics) and BatchNorm1d") {
  Generator gen(1702);
  // momentum nullopt: the running mean is the plain average of the batch means.
  nn::BatchNorm2d cumulative(nn::BatchNormOptions(2).momentum(std::nullopt));
  Tensor a = randn({3, 2, 2, 2}, &gen), b = randn({3, 2, 2, 2}, &gen) + 4.0f;
  cumulative.forward(a);
  cumulative.forward(b);
  const double mean_a = mean(channel(a, 0)).item(), mean_b = mean(channel(b, 0)).item();
  CHECK(cumulative.running_mean.data()[0] == doctest::Approx((mean_a + mean_b) / 2).epsilon(1e-5));
  CHECK(printed(cumulative).find("momentum=None") != std::string::npos);

  nn::BatchNorm2d plain(nn::BatchNormOptions(2).affine(false).track_running_stats(false));
  CHECK(plain.state_dict().empty());
  CHECK_FALSE(plain.running_mean.defined());
  plain.eval();  // no running statistics: eval still normalises with the batch's
  Tensor y = plain.forward(a);
  CHECK(mean(channel(y, 1)).item() == doctest::Approx(0.0).epsilon(1e-5));

  nn::BatchNorm1d bn1(5);
  CHECK(bn1.forward(randn({8, 5}, &gen)).shape() == Shape{8, 5});
  CHECK(bn1.forward(randn({4, 5, 7}, &gen)).shape() == Shape{4, 5, 7});
  CHECK(bn1.num_batches_tracked.item() == 2.0f);
}

TEST_CASE("BatchNorm errors name the module and what was wrong") {
  nn::BatchNorm2d bn(3);
  check_error([&] { bn.forward(zeros({2, 3, 4})); }, "BatchNorm2d", {"[N, C, H, W]", "[2, 3, 4]"});
  check_error([&] { bn.forward(zeros({2, 4, 3, 3})); }, "BatchNorm2d", {"num_features=3", "[2, 4, 3, 3]"});
  check_error([&] { bn.forward(zeros({1, 3, 1, 1})); }, "batch_norm", {"more than 1 value per channel"});
  nn::BatchNorm1d bn1(3);
  check_error([&] { bn1.forward(zeros({2, 3, 4, 5})); }, "BatchNorm1d", {"[N, C] or [N, C, L]", "[2, 3, 4, 5]"});
  check_error([] { nn::BatchNorm2d(0); }, "BatchNorm2d", {"num_features", "0"});
  check_error([] { nn::BatchNorm2d(nn::BatchNormOptions(2).momentum(1.5)); }, "BatchNorm2d", {"momentum", "1.5"});
}

TEST_CASE("BatchNorm2d state_dict round trip through a file keeps the running statistics") {
  Generator gen(1703);
  auto a = std::make_shared<nn::Sequential>(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1)),
                                            std::make_shared<nn::BatchNorm2d>(3), std::make_shared<nn::ReLU>(),
                                            std::make_shared<nn::MaxPool2d>(2));
  Tensor x = randn({4, 2, 6, 6}, &gen);
  a->forward(x);
  a->forward(x * 2.0f);
  TempFile file("tinydiff_test_modules_layers_bn");
  io::save(a, file.path);
  auto b = std::make_shared<nn::Sequential>(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1)),
                                            std::make_shared<nn::BatchNorm2d>(3), std::make_shared<nn::ReLU>(),
                                            std::make_shared<nn::MaxPool2d>(2));
  io::load(b, file.path);
  CHECK(keys_of(b->state_dict()) == keys_of(a->state_dict()));
  for (size_t i = 0; i < a->state_dict().size(); ++i)
    CHECK(a->state_dict()[i].second.to_vector() == b->state_dict()[i].second.to_vector());
  CHECK(b->ptr<nn::BatchNorm2d>(1)->num_batches_tracked.item() == 2.0f);
  a->eval();
  b->eval();
  CHECK(a->forward(x).to_vector() == b->forward(x).to_vector());
}

TEST_CASE("InstanceNorm2d: PyTorch's defaults, affine, running statistics, unbatched input") {
  Generator gen(1704);
  nn::InstanceNorm2d plain(3);
  CHECK(plain.state_dict().empty());
  CHECK(printed(plain) == "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=false, track_running_stats=false)");
  Tensor x = randn({2, 3, 4, 5}, &gen) * 3.0f + 2.0f;
  Tensor y = plain.forward(x);
  CHECK(y.shape() == x.shape());
  for (int64_t n = 0; n < 2; ++n)  // each plane: mean 0
    CHECK(mean(plane(y, n, 2)).item() == doctest::Approx(0.0).epsilon(1e-5));
  CHECK(plain.forward(reshape(narrow(x, 0, 1, 1), {3, 4, 5})).to_vector() == narrow(y, 0, 1, 1).to_vector());

  nn::InstanceNorm2d tracked(nn::InstanceNormOptions(3).affine(true).track_running_stats(true));
  CHECK(keys_of(tracked.state_dict()) ==
        std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  tracked.forward(x);
  CHECK(tracked.num_batches_tracked.item() == 0.0f);  // as PyTorch: instance norm does not count
  // running_mean = 0.9 * 0 + 0.1 * (the average over the batch of each plane's mean)
  const double m0 = (mean(plane(x, 0, 0)).item() + mean(plane(x, 1, 0)).item()) / 2;
  CHECK(tracked.running_mean.data()[0] == doctest::Approx(0.1 * m0).epsilon(1e-5));
  tracked.eval();
  const std::vector<float> rm = tracked.running_mean.to_vector();
  tracked.forward(x);
  CHECK(tracked.running_mean.to_vector() == rm);

  check_error([&] { plain.forward(zeros({2, 3, 1, 1})); }, "instance_norm", {"more than 1 spatial element"});
  check_error([&] { tracked.forward(zeros({2, 4, 3, 3})); }, "InstanceNorm2d", {"num_features=3"});
  check_error([&] { plain.forward(zeros({3, 4})); }, "InstanceNorm2d", {"[N, C, H, W] or [C, H, W]", "[3, 4]"});
}

TEST_CASE("RMSNorm: weight only, eps default, shapes and errors") {
  Generator gen(1705);
  nn::RMSNorm norm(nn::RMSNormOptions({4}));
  CHECK(keys_of(norm.state_dict()) == std::vector<std::string>{"weight"});
  CHECK(printed(norm) == "RMSNorm((4,), eps=None, elementwise_affine=true)");
  Tensor x = randn({3, 4}, &gen);
  Tensor y = norm.forward(x);
  double sq = 0.0;
  for (int64_t i = 0; i < 4; ++i) sq += std::pow(y.data()[i], 2);
  CHECK(sq / 4 == doctest::Approx(1.0).epsilon(1e-5));  // each row: unit root mean square
  nn::RMSNorm bare(nn::RMSNormOptions({2, 4}).eps(1e-3).elementwise_affine(false));
  CHECK(bare.state_dict().empty());
  CHECK(bare.forward(randn({5, 2, 4}, &gen)).shape() == Shape{5, 2, 4});
  check_error([&] { norm.forward(zeros({4, 3})); }, "rms_norm", {"[4]", "[4, 3]"});
  check_error([] { nn::RMSNorm(nn::RMSNormOptions(Shape{})); }, "RMSNorm", {"normalized_shape is empty"});
  check_error([] { nn::RMSNorm(nn::RMSNormOptions({3}).eps(-1.0)); }, "RMSNorm", {"eps", "-1"});
}

TEST_CASE("Conv1d: weight [out, in/groups, k], output length, errors") {
  Generator gen(1706);
  nn::Conv1d conv(nn::Conv1dOptions(4, 6, 3).stride(2).padding(1).groups(2), &gen);
  CHECK(conv.weight.shape() == Shape{6, 2, 3});
  CHECK(keys_of(conv.state_dict()) == std::vector<std::string>{"weight", "bias"});
  CHECK(printed(conv) == "Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), groups=2)");
  // Lout = (9 + 2 - 2 - 1) / 2 + 1 = 5
  CHECK(conv.forward(randn({2, 4, 9}, &gen)).shape() == Shape{2, 6, 5});
  // The initial values stay within PyTorch's bound 1/sqrt(fan_in), fan_in = 2 * 3.
  for (float v : conv.bias.to_vector()) CHECK(std::fabs(v) <= 1.0 / std::sqrt(6.0));
  nn::Conv1d nobias(nn::Conv1dOptions(2, 3, 1).bias(false));
  CHECK(keys_of(nobias.state_dict()) == std::vector<std::string>{"weight"});
  check_error([&] { conv.forward(zeros({2, 4, 3, 3})); }, "conv1d", {"[N, C, L]", "[2, 4, 3, 3]"});
  check_error([&] { conv.forward(zeros({2, 3, 9})); }, "conv1d", {"3 channels", "groups=2"});
  check_error([&] { nn::Conv1d(nn::Conv1dOptions(4, 6, 5)).forward(zeros({1, 4, 3})); }, "conv1d",
              {"kernel of size 5", "[1, 4, 3]"});
  check_error([] { nn::Conv1d(nn::Conv1dOptions(3, 6, 3).groups(2)); }, "Conv1d", {"divisible by groups 2"});
  check_error([] { nn::Conv1d(nn::Conv1dOptions(3, 6, 0)); }, "Conv1d", {"kernel_size must be positive"});
}

TEST_CASE("MaxPool2d, AvgPool2d and Upsample modules in a Sequential") {
  Generator gen(1707);
  auto net = std::make_shared<nn::Sequential>(
      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Upsample>(nn::UpsampleOptions().scale_factor({2, 3})),
      std::make_shared<nn::AvgPool2d>(nn::AvgPool2dOptions(3).stride(1).padding(1)));
  Tensor x = randn({2, 3, 6, 8}, &gen);
  Tensor y = net->forward(x);
  CHECK(y.shape() == Shape{2, 3, 6, 12});
  CHECK(y.to_vector() ==
        avg_pool2d(upsample_nearest2d(max_pool2d(x, 2), {2, 3}), 3, 1, 1).to_vector());  // the ops, composed
  CHECK(net->state_dict().empty());
  CHECK(printed(*net->ptr(0)) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))");
  CHECK(printed(*net->ptr(1)) == "Upsample(scale_factor=(2, 3), mode='nearest')");
  CHECK(printed(*net->ptr(2)) == "AvgPool2d(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
  check_error([] { nn::Upsample(nn::UpsampleOptions()); }, "Upsample", {"scale_factor", "must be given"});
  check_error([] { nn::Upsample(nn::UpsampleOptions().scale_factor(2).mode("bilinear")); }, "Upsample",
              {"'bilinear'", "only 'nearest'"});
  check_error([] { nn::MaxPool2d(nn::MaxPool2dOptions(2).padding(2)); }, "MaxPool2d", {"padding (2, 2)"});
  check_error([] { nn::AvgPool2d(nn::AvgPool2dOptions(0)); }, "AvgPool2d", {"kernel_size (0, 0)"});
  check_error([] { nn::MaxPool2d(2).forward(zeros({3, 4, 4})); }, "max_pool2d", {"[N, C, H, W]"});
}

TEST_CASE("ModuleDict: insertion order, state_dict keys \"<key>.<param>\", typed access, errors") {
  auto dict = std::make_shared<nn::ModuleDict>();
  dict->insert("proj", std::make_shared<nn::Linear>(3, 4));
  dict->insert("norm", std::make_shared<nn::BatchNorm1d>(4));
  dict->insert("act", std::make_shared<nn::SiLU>());
  CHECK(dict->keys() == std::vector<std::string>{"proj", "norm", "act"});
  CHECK(dict->size() == 3);
  CHECK(dict->contains("norm"));
  CHECK_FALSE(dict->contains("head"));
  CHECK(keys_of(dict->state_dict()) ==
        std::vector<std::string>{"proj.weight", "proj.bias", "norm.weight", "norm.bias", "norm.running_mean",
                                 "norm.running_var", "norm.num_batches_tracked"});
  CHECK(dict->at<nn::Linear>("proj").weight.shape() == Shape{4, 3});
  std::vector<std::string> visited;
  for (const auto& [key, module] : *dict) visited.push_back(key + ":" + module->name());
  CHECK(visited == std::vector<std::string>{"proj:Linear", "norm:BatchNorm1d", "act:SiLU"});
  dict->eval();  // train()/eval() reach the entries
  CHECK_FALSE(dict->at<nn::BatchNorm1d>("norm").is_training());

  nn::ModuleDict listed{{"a", std::make_shared<nn::Linear>(2, 2)}, {"b", std::make_shared<nn::ReLU>()}};
  CHECK(listed.keys() == std::vector<std::string>{"a", "b"});
  check_error([&] { dict->insert("proj", std::make_shared<nn::ReLU>()); }, "ModuleDict", {"'proj'", "already"});
  check_error([&] { dict->ptr("head"); }, "ModuleDict", {"no key 'head'"});
  check_error([&] { dict->ptr<nn::Linear>("act"); }, "ModuleDict", {"'act'", "SiLU", "not of the requested type"});
  check_error([&] { dict->insert("a.b", std::make_shared<nn::ReLU>()); }, "register_module", {"contains a '.'"});

  // Round trip through a file.
  TempFile file("tinydiff_test_modules_layers_dict");
  dict->at<nn::BatchNorm1d>("norm").running_mean.data()[2] = 0.5f;
  io::save(dict, file.path);
  auto other = std::make_shared<nn::ModuleDict>();
  other->insert("proj", std::make_shared<nn::Linear>(3, 4));
  other->insert("norm", std::make_shared<nn::BatchNorm1d>(4));
  other->insert("act", std::make_shared<nn::SiLU>());
  io::load(other, file.path);
  CHECK(other->at<nn::BatchNorm1d>("norm").running_mean.data()[2] == 0.5f);
  CHECK(other->at<nn::Linear>("proj").weight.to_vector() == dict->at<nn::Linear>("proj").weight.to_vector());
}
