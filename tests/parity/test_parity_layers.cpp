// Parity with PyTorch for the layers of issue #17 (fixtures: parity/families_layers.py):
// BatchNorm1d/2d, InstanceNorm2d, RMSNorm, Conv1d, MaxPool2d, AvgPool2d, Upsample, a
// Sequential of them and a ModuleDict. Each case builds the module from the fixture's
// options, copies PyTorch's parameters in, runs the training steps (output, input gradient,
// every parameter gradient), compares the buffers after them (running statistics), the
// state_dict's keys, and one eval-mode step.
#include <functional>
#include <optional>

#include "parity/parity_harness.hpp"

using namespace tinydiff;
using namespace parity;

namespace {

std::optional<double> optional_real(const Case& c, const std::string& key) {
  if (c.param(key) == "None") return std::nullopt;
  return c.real(key);
}

// The model of families_layers.py's DictNet: norm(rms(conv(x))) over a ModuleDict "layers".
struct DictNet : nn::Module {
  DictNet() : Module("DictNet") {
    layers = register_module("layers", std::make_shared<nn::ModuleDict>());
    layers->insert("conv", std::make_shared<nn::Conv1d>(nn::Conv1dOptions(3, 4, 3).padding(1)));
    layers->insert("norm", std::make_shared<nn::BatchNorm1d>(4));
    layers->insert("rms", std::make_shared<nn::RMSNorm>(nn::RMSNormOptions({4, 6}).eps(1e-6)));
  }
  Tensor forward(const Tensor& x) {
    Tensor h = layers->at<nn::Conv1d>("conv").forward(x);
    h = layers->at<nn::RMSNorm>("rms").forward(h);
    return layers->at<nn::BatchNorm1d>("norm").forward(h);
  }
  std::shared_ptr<nn::ModuleDict> layers;
};

// The module a case names, built from its options, and how to call it.
struct Subject {
  std::shared_ptr<nn::Module> module;
  std::function<Tensor(const Tensor&)> forward;
};

template <typename M>
Subject unary(std::shared_ptr<M> m) {
  return {m, [m](const Tensor& x) { return m->forward(x); }};
}

Subject make_subject(const Case& c) {
  const std::string kind = c.param("module");
  if (kind == "BatchNorm2d" || kind == "BatchNorm1d") {
    nn::BatchNormOptions o = nn::BatchNormOptions(c.integer("num_features"))
                                 .eps(c.real("eps"))
                                 .momentum(optional_real(c, "momentum"))
                                 .affine(c.flag("affine"))
                                 .track_running_stats(c.flag("track_running_stats"));
    if (kind == "BatchNorm2d") return unary(std::make_shared<nn::BatchNorm2d>(o));
    return unary(std::make_shared<nn::BatchNorm1d>(o));
  }
  if (kind == "InstanceNorm2d")
    return unary(std::make_shared<nn::InstanceNorm2d>(nn::InstanceNormOptions(c.integer("num_features"))
                                                          .eps(c.real("eps"))
                                                          .momentum(c.real("momentum"))
                                                          .affine(c.flag("affine"))
                                                          .track_running_stats(c.flag("track_running_stats"))));
  if (kind == "RMSNorm")
    return unary(std::make_shared<nn::RMSNorm>(nn::RMSNormOptions(c.shape("normalized_shape"))
                                                   .eps(optional_real(c, "eps"))
                                                   .elementwise_affine(c.flag("elementwise_affine"))));
  if (kind == "Conv1d")
    return unary(std::make_shared<nn::Conv1d>(
        nn::Conv1dOptions(c.integer("in_channels"), c.integer("out_channels"), c.integer("kernel_size"))
            .stride(c.integer("stride"))
            .padding(c.integer("padding"))
            .dilation(c.integer("dilation"))
            .groups(c.integer("groups"))
            .bias(c.flag("bias"))));
  if (kind == "MaxPool2d")
    return unary(std::make_shared<nn::MaxPool2d>(
        nn::MaxPool2dOptions(c.int2("kernel_size")).stride(c.int2("stride")).padding(c.int2("padding"))));
  if (kind == "AvgPool2d")
    return unary(std::make_shared<nn::AvgPool2d>(
        nn::AvgPool2dOptions(c.int2("kernel_size")).stride(c.int2("stride")).padding(c.int2("padding"))));
  if (kind == "Upsample")
    return unary(std::make_shared<nn::Upsample>(nn::UpsampleOptions().scale_factor(c.int2("scale_factor"))));
  if (kind == "Sequential")
    return unary(std::make_shared<nn::Sequential>(
        std::make_shared<nn::BatchNorm2d>(3), std::make_shared<nn::MaxPool2d>(2),
        std::make_shared<nn::Upsample>(nn::UpsampleOptions().scale_factor(2)),
        std::make_shared<nn::AvgPool2d>(nn::AvgPool2dOptions(3).stride(1).padding(1))));
  if (kind == "ModuleDict") {
    auto net = std::make_shared<DictNet>();
    return {net, [net](const Tensor& x) { return net->forward(x); }};
  }
  FAIL("unknown module '", kind, "'");
  return {};
}

// One forward and backward; "x<suffix>", "out<suffix>", "dx<suffix>", "<grad_prefix>.<param>".
void step(Case& c, Subject& s, const std::string& suffix, const std::string& grad_prefix) {
  Tensor x = c.input("x" + suffix);
  Tensor y = s.forward(x);
  y.backward(c.get("g" + suffix));
  c.expect("out" + suffix, y);
  c.expect("dx" + suffix, x.grad());
  for (const auto& [name, p] : s.module->named_parameters()) c.expect(grad_prefix + "." + name, p.grad());
  s.module->zero_grad();
}

}  // namespace

TEST_CASE("parity: layers (BatchNorm, InstanceNorm2d, RMSNorm, Conv1d, pooling modules, ModuleDict)") {
  Family family("layers", 26);
  std::set<std::string> seen;
  for_each_case(family, [&seen](Case& c) {
    seen.insert(c.param("module"));
    Subject s = make_subject(c);
    REQUIRE(s.module != nullptr);
    for (const auto& [name, p] : s.module->named_parameters()) copy_into(p, c.get("param." + name));
    // PyTorch's state_dict keys, in PyTorch's order.
    std::string keys;
    for (const auto& [name, t] : s.module->state_dict()) keys += (keys.empty() ? "" : ",") + name;
    CHECK(keys == c.param("keys"));
    s.module->train();
    for (int64_t k = 0; k < c.integer("steps"); ++k) step(c, s, std::to_string(k), "grad" + std::to_string(k));
    for (const auto& [name, b] : s.module->named_buffers()) c.expect("state." + name, b);
    if (c.flag("eval")) {
      s.module->eval();
      step(c, s, "e", "grade");
    }
  });
  CHECK(seen == std::set<std::string>{"BatchNorm2d", "BatchNorm1d", "InstanceNorm2d", "RMSNorm", "Conv1d",
                                      "MaxPool2d", "AvgPool2d", "Upsample", "Sequential", "ModuleDict"});
}
