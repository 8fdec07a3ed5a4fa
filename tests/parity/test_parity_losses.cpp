// Parity with PyTorch for the losses of ops/loss_classification.hpp and ops/loss_pointwise.hpp:
// forward and every gradient (the target's too where PyTorch gives it one) for each reduction,
// against the fixtures of tests/parity/families_losses.py. Tolerances: parity_harness.hpp.
#include "parity/parity_harness.hpp"

using namespace parity;

namespace {

// A fixture's int64 tensor as an IndexTensor of the same shape.
IndexTensor index_tensor(Case& c, const std::string& key) {
  const Tensor t = c.get(key);
  std::vector<int64_t> values(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) values[static_cast<size_t>(i)] = static_cast<int64_t>(t.data()[i]);
  return IndexTensor(t.shape(), values);
}

Tensor optional_constant(Case& c, const std::string& key) { return c.has(key) ? c.get(key) : Tensor(); }

}  // namespace

TEST_CASE("parity: nll_loss over [N, C] and [N, C, d1, d2], weights, ignore_index") {
  Family family("nll_loss", 24);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x");
    Tensor y = nll_loss(x, index_tensor(c, "target"), optional_constant(c, "weight"), c.integer("ignore_index"),
                        c.reduction());
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}});
  });
}

TEST_CASE("parity: cross_entropy with index targets over [N, C, d...], weights, ignored targets, smoothing") {
  Family family("cross_entropy_nd", 24);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x");
    Tensor y = cross_entropy(x, index_tensor(c, "target"), optional_constant(c, "weight"), -100, c.reduction(),
                             c.real("label_smoothing"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}});
  });
}

TEST_CASE("parity: cross_entropy with probability targets") {
  Family family("cross_entropy_prob", 24);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), target = c.input("target");
    Tensor y = cross_entropy(x, target, optional_constant(c, "weight"), c.reduction(), c.real("label_smoothing"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"target", target}});
  });
}

TEST_CASE("parity: binary_cross_entropy with weights") {
  Family family("binary_cross_entropy", 9);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), target = c.input("target");
    Tensor y = binary_cross_entropy(x, target, optional_constant(c, "weight"), c.reduction());
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"target", target}});
  });
}

TEST_CASE("parity: binary_cross_entropy_with_logits with weight and pos_weight") {
  Family family("binary_cross_entropy_with_logits", 12);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), target = c.input("target");
    Tensor y = binary_cross_entropy_with_logits(x, target, optional_constant(c, "weight"),
                                                optional_constant(c, "pos_weight"), c.reduction());
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"target", target}});
  });
}

TEST_CASE("parity: l1_loss, smooth_l1_loss (beta 1, 0.5, 0), huber_loss (delta 1, 2)") {
  Family family("regression_losses", 18);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), target = c.input("target");
    const std::string op = c.param("op");
    const double p = c.real("param");
    Tensor y = op == "l1_loss"          ? l1_loss(x, target, c.reduction())
               : op == "smooth_l1_loss" ? smooth_l1_loss(x, target, c.reduction(), p)
                                        : huber_loss(x, target, c.reduction(), p);
    REQUIRE((op == "l1_loss" || op == "smooth_l1_loss" || op == "huber_loss"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"target", target}});
  });
}

TEST_CASE("parity: kl_div for none / mean / sum / batchmean, with and without log_target") {
  Family family("kl_div", 8);
  for_each_case(family, [](Case& c) {
    Tensor x = c.input("x"), target = c.input("target");
    Tensor y = kl_div(x, target, c.param("reduction"), c.flag("log_target"));
    y.backward(c.get("g"));
    c.expect("out", y);
    c.expect_grads({{"x", x}, {"target", target}});
  });
}
