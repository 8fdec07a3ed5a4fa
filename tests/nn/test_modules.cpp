// nn modules: registration, PyTorch's state_dict names and order, modes,
// default initialisation, Sequential / ModuleList, and each layer's forward.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

// A small nested model in the shape of a U-Net's pieces.
struct ResBlock : nn::Module {
  explicit ResBlock(int64_t c) : Module("ResBlock") {
    norm = register_module("norm", std::make_shared<nn::GroupNorm>(nn::GroupNormOptions(2, c)));
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(c, c, 3).padding(1)));
    // Registered after the children, yet listed before them (PyTorch's order).
    scale = register_parameter("scale", ones({c}));
    register_buffer("counter", zeros({1}));
  }
  Tensor forward(const Tensor& x) { return x + conv1->forward(silu(norm->forward(x))) * reshape(scale, {1, -1, 1, 1}); }
  std::shared_ptr<nn::GroupNorm> norm;
  std::shared_ptr<nn::Conv2d> conv1;
  Tensor scale;
};

struct Net : nn::Module {
  Net() : Module("Net") {
    in_proj = register_module("in_proj", std::make_shared<nn::Linear>(nn::LinearOptions(4, 8)));
    down = register_module("down", std::make_shared<nn::ModuleList>());
    down->push_back(std::make_shared<ResBlock>(8));
    down->push_back(std::make_shared<ResBlock>(8));
    emb = register_module("emb", std::make_shared<nn::Embedding>(nn::EmbeddingOptions(10, 8)));
    head = register_module("head", std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
                                       std::make_shared<nn::SiLU>(), std::make_shared<nn::Linear>(nn::LinearOptions(8, 2).bias(false))}));
    gamma = register_parameter("gamma", ones({8}));
    register_buffer("steps", zeros({1}));
    register_buffer("cache", zeros({3}), /*persistent=*/false);
  }
  std::shared_ptr<nn::Linear> in_proj;
  std::shared_ptr<nn::ModuleList> down;
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::Sequential> head;
  Tensor gamma;
};

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}
double mean_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return s / static_cast<double>(v.size());
}
double std_of(const std::vector<float>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (float x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

}  // namespace

TEST_CASE("state_dict keys follow PyTorch's names and order") {
  Net net;
  // PyTorch: per module, own parameters, then own persistent buffers, then children (recursively).
  const std::vector<std::string> expected = {
      "gamma",           "steps",
      "in_proj.weight",  "in_proj.bias",
      "down.0.scale",    "down.0.counter",    "down.0.norm.weight", "down.0.norm.bias",
      "down.0.conv1.weight", "down.0.conv1.bias",
      "down.1.scale",    "down.1.counter",    "down.1.norm.weight", "down.1.norm.bias",
      "down.1.conv1.weight", "down.1.conv1.bias",
      "emb.weight",      "head.1.weight"};
  CHECK(keys_of(net.state_dict()) == expected);

  const std::vector<std::string> params = {
      "gamma", "in_proj.weight", "in_proj.bias", "down.0.scale", "down.0.norm.weight", "down.0.norm.bias",
      "down.0.conv1.weight", "down.0.conv1.bias", "down.1.scale", "down.1.norm.weight", "down.1.norm.bias",
      "down.1.conv1.weight", "down.1.conv1.bias", "emb.weight", "head.1.weight"};
  CHECK(keys_of(net.named_parameters()) == params);
  CHECK(keys_of(net.named_buffers()) == std::vector<std::string>{"steps", "cache", "down.0.counter", "down.1.counter"});
  CHECK(keys_of(net.named_parameters(/*recurse=*/false)) == std::vector<std::string>{"gamma"});

  // Shapes (PyTorch's layouts).
  auto sd = net.state_dict();
  auto shape_of = [&](const std::string& key) {
    for (auto& e : sd)
      if (e.first == key) return e.second.shape();
    return Shape{-1};
  };
  CHECK(shape_of("in_proj.weight") == Shape{8, 4});
  CHECK(shape_of("in_proj.bias") == Shape{8});
  CHECK(shape_of("down.1.conv1.weight") == Shape{8, 8, 3, 3});
  CHECK(shape_of("down.0.norm.weight") == Shape{8});
  CHECK(shape_of("emb.weight") == Shape{10, 8});
  CHECK(shape_of("head.1.weight") == Shape{2, 8});

  // Counts: parameters() and num_parameters().
  CHECK(net.parameters().size() == 15);
  const int64_t per_block = 8 + 8 + 8 + 8 * 8 * 9 + 8;
  CHECK(net.num_parameters() == 8 + (8 * 4 + 8) + 2 * per_block + 10 * 8 + 2 * 8);

  // Parameters require grad, buffers do not; state_dict shares storage with the parameters.
  for (const Tensor& p : net.parameters()) CHECK(p.requires_grad());
  for (const Tensor& b : net.buffers()) CHECK_FALSE(b.requires_grad());
  CHECK(sd[2].second.data() == net.in_proj->weight.data());
  CHECK(net.children().size() == 4);
  CHECK(net.named_children()[1].first == "down");
}

TEST_CASE("registration errors") {
  nn::Module m("M");
  m.register_parameter("w", zeros({2}));
  CHECK_THROWS_AS(m.register_parameter("w", zeros({2})), Error);
  CHECK_THROWS_AS(m.register_buffer("w", zeros({2})), Error);
  CHECK_THROWS_AS(m.register_module("w", std::make_shared<nn::SiLU>()), Error);
  CHECK_THROWS_AS(m.register_parameter("a.b", zeros({2})), Error);
  CHECK_THROWS_AS(m.register_parameter("", zeros({2})), Error);
  CHECK_THROWS_AS(m.register_parameter("u", Tensor()), Error);
  CHECK_THROWS_AS(m.register_module("n", std::shared_ptr<nn::Linear>()), Error);
}

TEST_CASE("train and eval recurse; zero_grad drops every gradient") {
  Net net;
  CHECK(net.is_training());
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(net.down->ptr(1)->is_training());
  CHECK_FALSE(net.down->ptr<ResBlock>(0)->conv1->is_training());
  CHECK_FALSE(net.head->ptr(0)->is_training());
  net.train();
  CHECK(net.down->at<ResBlock>(1).norm->is_training());

  Tensor x = randn({2, 8, 4, 4});
  net.down->ptr<ResBlock>(0)->forward(x).sum().backward();
  int with_grad = 0;
  for (const Tensor& p : net.parameters()) with_grad += p.grad().defined();
  CHECK(with_grad == 5);  // down.0: scale, norm.weight, norm.bias, conv1.weight, conv1.bias
  net.zero_grad();
  for (const Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("default initialisation bounds (PyTorch's kaiming_uniform_(a=sqrt(5)))") {
  manual_seed(1);
  nn::Linear lin(nn::LinearOptions(100, 50));
  const auto w = lin.weight.to_vector(), b = lin.bias.to_vector();
  const float bound = 0.1f;  // 1 / sqrt(100)
  CHECK(max_abs(w) <= bound);
  CHECK(max_abs(w) > 0.09f);  // spread over the whole range, not all equal
  CHECK(max_abs(b) <= bound);
  // U(-0.1, 0.1): mean 0, std 0.1 / sqrt(3) = 0.0577; 5000 samples give ~1% noise on the std.
  CHECK(std::fabs(mean_of(w)) < 0.005);
  CHECK(std_of(w) == doctest::Approx(0.1 / std::sqrt(3.0)).epsilon(0.05));

  // Conv2d: fan_in = in/groups * kh * kw = 4/2 * 3 * 3 = 18.
  nn::Conv2d conv(nn::Conv2dOptions(4, 6, 3).groups(2));
  CHECK(conv.weight.shape() == Shape{6, 2, 3, 3});
  const double conv_bound = 1.0 / std::sqrt(18.0);
  CHECK(max_abs(conv.bias.to_vector()) <= conv_bound + 1e-7);
  CHECK(max_abs(conv.weight.to_vector()) <= conv_bound + 1e-7);
  CHECK(max_abs(conv.weight.to_vector()) > 0.8 * conv_bound);

  // ConvTranspose2d: weight [in, out/groups, kh, kw], fan_in from dim 1 = 3 * 2 * 2 = 12.
  nn::ConvTranspose2d convt(nn::ConvTranspose2dOptions(5, 3, 2).stride(2));
  CHECK(convt.weight.shape() == Shape{5, 3, 2, 2});
  CHECK(nn::init::calculate_fan_in_and_fan_out(convt.weight).first == 12);
  const double convt_bound = 1.0 / std::sqrt(12.0);
  CHECK(max_abs(convt.weight.to_vector()) <= convt_bound + 1e-7);
  CHECK(max_abs(convt.weight.to_vector()) > 0.8 * convt_bound);
  CHECK(max_abs(convt.bias.to_vector()) <= convt_bound + 1e-7);

  // Embedding N(0, 1); norms weight 1, bias 0.
  nn::Embedding emb(nn::EmbeddingOptions(200, 50));
  CHECK(std::fabs(mean_of(emb.weight.to_vector())) < 0.05);
  CHECK(std_of(emb.weight.to_vector()) == doctest::Approx(1.0).epsilon(0.05));
  nn::GroupNorm gn(nn::GroupNormOptions(2, 4));
  CHECK(gn.weight.to_vector() == std::vector<float>(4, 1.0f));
  CHECK(gn.bias.to_vector() == std::vector<float>(4, 0.0f));
  nn::LayerNorm ln(nn::LayerNormOptions({3, 4}).elementwise_affine(false));
  CHECK(ln.parameters().empty());
  CHECK_FALSE(nn::Linear(nn::LinearOptions(3, 2).bias(false)).bias.defined());
}

TEST_CASE("initialisation is reproducible from manual_seed or a Generator") {
  manual_seed(7);
  nn::Linear a(nn::LinearOptions(6, 5));
  manual_seed(7);
  nn::Linear b(nn::LinearOptions(6, 5));
  CHECK(a.weight.to_vector() == b.weight.to_vector());
  CHECK(a.bias.to_vector() == b.bias.to_vector());
  Generator g1(3), g2(3);
  nn::Conv2d c(nn::Conv2dOptions(2, 3, 3), &g1), d(nn::Conv2dOptions(2, 3, 3), &g2);
  CHECK(c.weight.to_vector() == d.weight.to_vector());
  nn::Linear e(nn::LinearOptions(6, 5));  // continues the default stream: differs
  CHECK(e.weight.to_vector() != a.weight.to_vector());
}

TEST_CASE("init functions") {
  Generator gen(11);
  Tensor t = empty({64, 32});
  nn::init::kaiming_normal_(t, 0.0, nn::init::FanMode::FanIn, nn::init::Nonlinearity::ReLU, &gen);
  CHECK(std_of(t.to_vector()) == doctest::Approx(std::sqrt(2.0 / 32.0)).epsilon(0.05));
  nn::init::xavier_uniform_(t, 1.0, &gen);
  const double xb = std::sqrt(6.0 / (32 + 64));
  CHECK(max_abs(t.to_vector()) <= xb + 1e-7);
  nn::init::uniform_(t, 2.0, 3.0, &gen);
  const auto u = t.to_vector();
  CHECK(*std::min_element(u.begin(), u.end()) >= 2.0f);
  CHECK(*std::max_element(u.begin(), u.end()) <= 3.0f);
  nn::init::normal_(t, 5.0, 0.5, &gen);
  CHECK(mean_of(t.to_vector()) == doctest::Approx(5.0).epsilon(0.01));
  nn::init::zeros_(t);
  CHECK(t.to_vector() == std::vector<float>(64 * 32, 0.0f));
  CHECK(nn::init::calculate_gain(nn::init::Nonlinearity::LeakyReLU, std::sqrt(5.0)) ==
        doctest::Approx(std::sqrt(1.0 / 3.0)));
  CHECK_THROWS_AS(nn::init::kaiming_uniform_(empty({5})), Error);
}

TEST_CASE("Linear forward on [*, in] inputs") {
  nn::Linear lin(nn::LinearOptions(3, 2));
  lin.weight.at({0, 0}) = 1; lin.weight.at({0, 1}) = 2; lin.weight.at({0, 2}) = 3;
  lin.weight.at({1, 0}) = -1; lin.weight.at({1, 1}) = 0; lin.weight.at({1, 2}) = 0.5f;
  lin.bias.at({0}) = 0.5f; lin.bias.at({1}) = -2;
  Tensor x = tensor({1, 2, 3, 4, 5, 6, 0, 1, 0, -1, -1, -1}, {2, 2, 3});
  Tensor y = lin(x);
  CHECK(y.shape() == Shape{2, 2, 2});
  const std::vector<float> expected = {14.5f, -1.5f, 32.5f, -3.0f, 2.5f, -2.0f, -5.5f, -1.5f};
  CHECK(y.to_vector() == expected);
  CHECK(lin(tensor({1, 2, 3})).shape() == Shape{2});  // a single vector
  CHECK_THROWS_AS(lin(zeros({2, 4})), Error);

  // Gradients reach weight, bias and input: with y.sum(), dW[o, i] = sum_n x[n, i], db[o] = N, dx[n, i] = sum_o W[o, i].
  Tensor xi = randn({4, 3}).requires_grad_();
  lin(xi).sum().backward();
  for (int64_t i = 0; i < 3; ++i) {
    double col = 0;
    for (int64_t n = 0; n < 4; ++n) col += xi.at({n, i});
    CHECK(lin.weight.grad().at({0, i}) == doctest::Approx(col).epsilon(1e-5));
    CHECK(lin.weight.grad().at({1, i}) == doctest::Approx(col).epsilon(1e-5));
    CHECK(xi.grad().at({2, i}) == doctest::Approx(lin.weight.at({0, i}) + lin.weight.at({1, i})));
  }
  CHECK(lin.bias.grad().to_vector() == std::vector<float>{4, 4});
  CHECK(xi.grad().shape() == Shape{4, 3});
}

TEST_CASE("Sequential chains unary modules, named 0, 1, ...") {
  manual_seed(0);
  auto seq = std::make_shared<nn::Sequential>();
  auto l1 = seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions(3, 4)));
  seq->push_back(std::make_shared<nn::ReLU>());
  auto l2 = seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions(4, 2)));
  CHECK(seq->size() == 3);
  CHECK(keys_of(seq->named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  Tensor x = randn({5, 3});
  Tensor expected = l2->forward(relu(l1->forward(x)));
  CHECK(seq->forward(x).to_vector() == expected.to_vector());
  CHECK((*seq)(x).to_vector() == expected.to_vector());
  CHECK(seq->ptr<nn::Linear>(2) == l2);
  CHECK_THROWS_AS(seq->ptr<nn::Linear>(1), Error);
  CHECK_THROWS_AS(seq->ptr(3), Error);
  int count = 0;
  for (auto& m : *seq) count += m != nullptr;
  CHECK(count == 3);

  std::ostringstream printed;
  printed << *seq;
  CHECK(printed.str() ==
        "Sequential(\n  (0): Linear(in_features=3, out_features=4, bias=true)\n  (1): ReLU()\n"
        "  (2): Linear(in_features=4, out_features=2, bias=true)\n)");
}

TEST_CASE("ModuleList holds any modules, indexable and iterable") {
  nn::ModuleList list;
  list.push_back(std::make_shared<nn::Linear>(nn::LinearOptions(2, 2)));
  list.push_back(std::make_shared<ResBlock>(4));
  list.push_back(std::make_shared<nn::SiLU>());
  CHECK(list.size() == 3);
  CHECK(list[0]->name() == "Linear");
  CHECK(list.ptr<ResBlock>(1)->conv1->options.in_channels() == 4);
  CHECK_THROWS_AS(list.ptr<ResBlock>(0), Error);
  CHECK_THROWS_AS(list[3], Error);
  std::vector<std::string> names;
  for (const auto& m : list) names.push_back(m->name());
  CHECK(names == std::vector<std::string>{"Linear", "ResBlock", "SiLU"});
  CHECK(keys_of(list.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.scale", "1.norm.weight", "1.norm.bias", "1.conv1.weight",
                                 "1.conv1.bias"});
}

TEST_CASE("layers forward to their ops") {
  manual_seed(3);
  Tensor x = randn({2, 4, 6, 6});

  nn::Conv2d conv(nn::Conv2dOptions(4, 6, 3).stride(2).padding(1));
  Tensor y = conv(x);
  CHECK(y.shape() == Shape{2, 6, 3, 3});
  CHECK(y.to_vector() == conv2d(x, conv.weight, conv.bias, 2, 1).to_vector());

  nn::ConvTranspose2d convt(nn::ConvTranspose2dOptions(4, 2, 4).stride(2).padding(1));
  Tensor yt = convt(x);
  CHECK(yt.shape() == Shape{2, 2, 12, 12});
  CHECK(yt.to_vector() == conv_transpose2d(x, convt.weight, convt.bias, 2, 1).to_vector());

  nn::GroupNorm gn(nn::GroupNormOptions(2, 4).eps(1e-6));
  CHECK(gn(x).to_vector() == group_norm(x, 2, gn.weight, gn.bias, 1e-6).to_vector());
  CHECK_THROWS_AS(gn(randn({2, 3, 4})), Error);
  CHECK_THROWS_AS(nn::GroupNorm(nn::GroupNormOptions(3, 4)), Error);

  nn::LayerNorm ln(nn::LayerNormOptions({6, 6}));
  CHECK(ln(x).to_vector() == layer_norm(x, {6, 6}, ln.weight, ln.bias).to_vector());

  nn::Embedding emb(nn::EmbeddingOptions(5, 3));
  Tensor e = emb.forward(std::vector<int64_t>{4, 0, 4});
  CHECK(e.shape() == Shape{3, 3});
  CHECK(e.narrow(0, 0, 1).to_vector() == emb.weight.narrow(0, 4, 1).to_vector());
  Tensor e2 = emb(tensor({1, 2, 3, 4}, {2, 2}));
  CHECK(e2.shape() == Shape{2, 2, 3});
  CHECK_THROWS_AS(emb(tensor({1.5f})), Error);
  CHECK_THROWS_AS(emb(tensor({5})), Error);

  CHECK(nn::SiLU()(x).to_vector() == silu(x).to_vector());
  CHECK(nn::Identity()(x).is_same(x));
  CHECK(nn::Flatten()(x).shape() == Shape{2, 144});

  CHECK_THROWS_AS(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).groups(2)), Error);
}

TEST_CASE("Dropout follows the training flag") {
  Generator gen(5);
  nn::Dropout drop(nn::DropoutOptions(0.5).generator(&gen));
  Tensor x = ones({1000});
  Tensor y = drop(x);
  int zeros_count = 0, others = 0;
  for (float v : y.to_vector()) {
    zeros_count += v == 0.0f;
    others += v != 0.0f && v != 2.0f;  // kept values are scaled by 1 / (1 - p)
  }
  CHECK(others == 0);
  CHECK(zeros_count > 400);
  CHECK(zeros_count < 600);
  drop.eval();
  CHECK(drop(x).to_vector() == x.to_vector());
  CHECK_THROWS_AS(nn::Dropout(1.5), Error);
}

TEST_CASE("module load_state_dict copies in place and is strict") {
  manual_seed(1);
  Net a;
  manual_seed(2);
  Net b;
  Tensor w = b.in_proj->weight;  // a handle taken before loading stays valid
  b.load_state_dict(a.state_dict());
  CHECK(w.to_vector() == a.in_proj->weight.to_vector());
  for (size_t i = 0; i < a.state_dict().size(); ++i)
    CHECK(a.state_dict()[i].second.to_vector() == b.state_dict()[i].second.to_vector());

  auto sd = a.state_dict();
  sd.pop_back();
  CHECK_THROWS_WITH_AS(b.load_state_dict(sd), doctest::Contains("missing keys (1): head.1.weight"), Error);
  b.load_state_dict(sd, /*strict=*/false);  // allowed without strict
}
