// Parity with PyTorch, first families (the harness and the tolerance: parity/parity_harness.hpp).
#include "parity/parity_harness.hpp"

using namespace tinydiff;
using namespace parity;


TEST_CASE("parity: conv2d") {
  Family family("conv2d", 30);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), w = c.input("w"), b = c.optional_input("b");
    CHECK(c.flag("bias") == b.defined());
    Tensor y = conv2d(x, w, b, c.int2("stride"), c.int2("padding"), c.int2("dilation"), c.integer("groups"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"w", w}, {"b", b}});
  });
}

TEST_CASE("parity: conv_transpose2d") {
  Family family("conv_transpose2d", 30);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), w = c.input("w"), b = c.optional_input("b");
    CHECK(c.flag("bias") == b.defined());
    Tensor y = conv_transpose2d(x, w, b, c.int2("stride"), c.int2("padding"), c.int2("output_padding"),
                                c.integer("groups"), c.int2("dilation"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"w", w}, {"b", b}});
  });
}

TEST_CASE("parity: group_norm") {
  Family family("group_norm", 12);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), w = c.optional_input("w"), b = c.optional_input("b");
    CHECK(c.flag("affine") == w.defined());
    Tensor y = group_norm(x, c.integer("groups"), w, b, c.real("eps"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"w", w}, {"b", b}});
  });
}

TEST_CASE("parity: layer_norm") {
  Family family("layer_norm", 8);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), w = c.optional_input("w"), b = c.optional_input("b");
    CHECK(c.flag("affine") == w.defined());
    Tensor y = layer_norm(x, c.shape("normalized_shape"), w, b, c.real("eps"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"w", w}, {"b", b}});
  });
}

TEST_CASE("parity: activations") {
  Family family("activation", 12);
  std::set<std::string> seen;
  for_each_case(family, [&seen](Case& c) {
    const std::string op = c.param("op");
    seen.insert(op);
    Tensor x = c.input("x");
    Tensor y;
    if (op == "silu") y = silu(x);
    else if (op == "relu") y = relu(x);
    else if (op == "sigmoid") y = sigmoid(x);
    else if (op == "tanh") y = tinydiff::tanh(x);
    else if (op == "gelu") y = gelu(x);
    else if (op == "gelu_tanh") y = gelu(x, "tanh");
    else FAIL("unknown activation '", op, "'");
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}});
  });
  CHECK(seen == std::set<std::string>{"silu", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"});
}

TEST_CASE("parity: softmax and log_softmax") {
  Family family("softmax", 10);
  for_each_case(family, [](Case& c) {
    const std::string op = c.param("op");
    Tensor x = c.input("x");
    REQUIRE((op == "softmax" || op == "log_softmax"));
    Tensor y = op == "softmax" ? softmax(x, c.integer("dim")) : log_softmax(x, c.integer("dim"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}});
  });
}

TEST_CASE("parity: mse_loss") {
  Family family("mse_loss", 6);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), target = c.input("target");
    Tensor y = mse_loss(x, target, c.reduction());
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"target", target}});
  });
}

TEST_CASE("parity: cross_entropy") {
  Family family("cross_entropy", 9);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x");
    Tensor y = cross_entropy(x, c.indices("labels"), c.reduction(), c.real("label_smoothing"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}});
  });
}

TEST_CASE("parity: avg_pool2d, max_pool2d, upsample_nearest2d") {
  Family family("pool", 17);
  std::set<std::string> seen;
  for_each_case(family, [&seen](Case& c) {
    const std::string op = c.param("op");
    seen.insert(op);
    Tensor x = c.input("x");
    Tensor y;
    if (op == "avg_pool2d") y = avg_pool2d(x, c.int2("kernel"), c.int2("stride"), c.int2("padding"));
    else if (op == "max_pool2d") y = max_pool2d(x, c.int2("kernel"), c.int2("stride"), c.int2("padding"));
    else if (op == "upsample_nearest2d") y = upsample_nearest2d(x, c.int2("scale"));
    else FAIL("unknown op '", op, "'");
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}});
  });
  CHECK(seen == std::set<std::string>{"avg_pool2d", "max_pool2d", "upsample_nearest2d"});
}

TEST_CASE("parity: embedding") {
  Family family("embedding", 3);
  for_each_case(family, [](Case& c) {
    Tensor w = c.input("w");
    Tensor y = embedding(c.indices("indices"), w);
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"w", w}});
  });
}

TEST_CASE("parity: nn::Linear and nn::Embedding modules") {
  Family family("module", 5);
  std::set<std::string> seen;
  for_each_case(family, [&seen](Case& c) {
    const std::string kind = c.param("module");
    seen.insert(kind);
    if (kind == "Linear") {
      nn::Linear linear(c.integer("in_features"), c.integer("out_features"), c.flag("bias"));
      copy_into(linear.weight, c.get("w"));
      REQUIRE(linear.bias.defined() == c.has("b"));
      if (linear.bias.defined()) copy_into(linear.bias, c.get("b"));
      Tensor x = c.input("x");
      Tensor y = linear.forward(x);
      y.backward(c.get("g"));
      c.expect("out", y);
      c.expect("dx", x.grad());
      c.expect("dw", linear.weight.grad());
      if (linear.bias.defined()) c.expect("db", linear.bias.grad());
    } else if (kind == "Embedding") {
      nn::Embedding table(nn::EmbeddingOptions(c.integer("num_embeddings"), c.integer("embedding_dim")));
      copy_into(table.weight, c.get("w"));
      Tensor y = table.forward(c.get("indices"));  // integer-valued tensor of any shape
      y.backward(c.get("g"));
      c.expect("out", y);
      c.expect("dw", table.weight.grad());
    } else {
      FAIL("unknown module '", kind, "'");
    }
  });
  CHECK(seen == std::set<std::string>{"Linear", "Embedding"});
}

TEST_CASE("parity: optimisers, 10 steps with fixed gradients") {
  Family family("optim", 9);
  std::set<std::string> seen;
  for_each_case(family, [&seen](Case& c) {
    const std::string kind = c.param("optimizer");
    seen.insert(kind);
    auto real_or = [&c](const std::string& key, double fallback) { return c.has_param(key) ? c.real(key) : fallback; };
    auto flag_or = [&c](const std::string& key, bool fallback) { return c.has_param(key) ? c.flag(key) : fallback; };
    optim::Betas betas{0.9, 0.999};
    if (c.has_param("betas")) {
      const std::vector<std::string> parts = split_list(c.param("betas"), ',');
      REQUIRE(parts.size() == 2);
      betas = {std::stod(parts[0]), std::stod(parts[1])};
    }
    Tensor p = c.input("p0");
    std::unique_ptr<optim::Optimizer> opt;
    if (kind == "SGD") {
      opt = std::make_unique<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions(c.real("lr"))
                                                                      .momentum(real_or("momentum", 0.0))
                                                                      .dampening(real_or("dampening", 0.0))
                                                                      .weight_decay(real_or("weight_decay", 0.0))
                                                                      .nesterov(flag_or("nesterov", false)));
    } else if (kind == "Adam") {
      opt = std::make_unique<optim::Adam>(std::vector<Tensor>{p}, optim::AdamOptions(c.real("lr"))
                                                                      .betas(betas)
                                                                      .eps(real_or("eps", 1e-8))
                                                                      .weight_decay(real_or("weight_decay", 0.0))
                                                                      .amsgrad(flag_or("amsgrad", false)));
    } else if (kind == "AdamW") {
      opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, optim::AdamWOptions(c.real("lr"))
                                                                       .betas(betas)
                                                                       .eps(real_or("eps", 1e-8))
                                                                       .weight_decay(real_or("weight_decay", 1e-2))
                                                                       .amsgrad(flag_or("amsgrad", false)));
    } else {
      FAIL("unknown optimizer '", kind, "'");
    }
    const int64_t steps = c.integer("steps");
    REQUIRE(steps == 10);
    for (int64_t k = 1; k <= steps; ++k) {
      p.set_grad(c.get("grad" + std::to_string(k)));
      opt->step();
      c.expect("p" + std::to_string(k), p, kOptimTolerance);
    }
  });
  CHECK(seen == std::set<std::string>{"SGD", "Adam", "AdamW"});
}

TEST_CASE("parity: everyday ops (where, masked_fill, max/min, var, std, logsumexp, norm, elementwise, cumsum)") {
  Family family("everyday", 36);
  std::set<std::string> seen;
  for_each_case(family, [&seen](Case& c) {
    const std::string op = c.param("op");
    seen.insert(op);
    Tensor y;
    std::vector<std::pair<std::string, Tensor>> leaves;
    if (op == "where" || op == "maximum" || op == "minimum") {
      Tensor a = c.input("a"), b = c.input("b");
      y = op == "where" ? where(c.get("cond"), a, b) : op == "maximum" ? maximum(a, b) : minimum(a, b);
      leaves = {{"a", a}, {"b", b}};
    } else {
      Tensor x = c.input("x");
      leaves = {{"x", x}};
      const auto dims = [&c] { return c.shape("dims"); };
      if (op == "masked_fill") {
        y = masked_fill(x, c.get("mask"), static_cast<float>(c.real("value")));
      } else if (op == "max_dim" || op == "min_dim") {
        const ValuesIndices r = op == "max_dim" ? max(x, c.integer("dim"), c.flag("keepdim"))
                                                : min(x, c.integer("dim"), c.flag("keepdim"));
        CHECK(r.indices.data == c.indices("indices"));
        y = r.values;
      } else if (op == "max" || op == "min") {
        y = op == "max" ? max(x) : min(x);
      } else if (op == "var" || op == "std") {
        y = op == "var" ? var(x, dims(), c.integer("correction"), c.flag("keepdim"))
                        : tinydiff::std(x, dims(), c.integer("correction"), c.flag("keepdim"));
      } else if (op == "logsumexp") {
        y = logsumexp(x, dims(), c.flag("keepdim"));
      } else if (op == "norm") {
        y = norm(x, dims(), c.flag("keepdim"));
      } else if (op == "leaky_relu") {
        y = leaky_relu(x, static_cast<float>(c.real("negative_slope")));
      } else if (op == "elu") {
        y = elu(x, static_cast<float>(c.real("alpha")));
      } else if (op == "softplus") {
        y = softplus(x, static_cast<float>(c.real("beta")), static_cast<float>(c.real("threshold")));
      } else if (op == "erf") {
        y = erf(x);
      } else if (op == "log1p") {
        y = log1p(x);
      } else if (op == "cumsum") {
        y = cumsum(x, c.integer("dim"));
      } else {
        FAIL("unknown op '", op, "'");
      }
    }
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads(leaves);
  });
  CHECK(seen == std::set<std::string>{"where", "masked_fill", "max_dim", "min_dim", "max", "min", "var", "std",
                                      "logsumexp", "norm", "leaky_relu", "elu", "softplus", "erf", "log1p",
                                      "maximum", "minimum", "cumsum"});
}
