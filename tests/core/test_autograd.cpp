// The autograd engine: backward, accumulation, retain_graph, NoGradGuard, the
// needed-gradient mask, graph shapes (diamonds, long chains), freeing the graph.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

}  // namespace

TEST_CASE("backward on a scalar") {
  Tensor x = tensor({1, 2, 3}).requires_grad_();
  Tensor y = (x * x).sum();  // dy/dx = 2x
  CHECK(y.dim() == 0);
  CHECK(y.grad_fn_name() == "sum");
  CHECK(!y.is_leaf());
  CHECK(x.is_leaf());
  CHECK(x.grad_fn_name().empty());
  y.backward();
  check_elements(x.grad(), {2, 4, 6});
  CHECK(x.grad().shape() == x.shape());

  // A one-element but not 0-d output also works without a gradient.
  Tensor w = tensor({3.0f}, {1, 1}).requires_grad_();
  (w * w).backward();
  check_elements(w.grad(), {6});
}

TEST_CASE("backward with an explicit upstream gradient on a non-scalar") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor y = x * x;
  Tensor g = tensor({1, 0, -1, 2, 0.5f, 3}, {2, 3});
  y.backward(g);
  check_elements(x.grad(), {2, 0, -6, 16, 5, 36});  // 2 x g
}

TEST_CASE("gradients are copied: later changes to the upstream gradient do not leak") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor g = tensor({5, 7});
  (x + 1.0f).backward(g);  // add_scalar passes g straight through
  g.at({0}) = 100.0f;
  check_elements(x.grad(), {5, 7});

  Tensor leaf = tensor({1, 2}).requires_grad_();
  leaf.backward(g);  // backward on a leaf itself accumulates g
  check_elements(leaf.grad(), {100, 7});
  g.at({1}) = 0.0f;
  check_elements(leaf.grad(), {100, 7});
}

TEST_CASE("leaf gradients never share storage, though fresh ones are adopted without a copy") {
  // add passes one upstream gradient to both inputs: each leaf must end up with its own.
  Tensor a = tensor({1, 2}).requires_grad_(), b = tensor({3, 4}).requires_grad_();
  Tensor y = a + b;
  y.backward(tensor({1, 1}), /*retain_graph=*/true);
  CHECK(a.grad().data() != b.grad().data());
  a.grad().at({0}) = 100.0f;
  check_elements(b.grad(), {1, 1});
  y.backward(tensor({1, 1}));  // accumulates in place into each
  check_elements(a.grad(), {101, 2});
  check_elements(b.grad(), {2, 2});

  // The same leaf twice in one op (x + x): the shared gradient is copied, then added to.
  Tensor x = tensor({1, 2}).requires_grad_();
  (x + x).backward(tensor({1, 3}));
  check_elements(x.grad(), {2, 6});

  // A gradient the op made for this leaf alone (x * 3 gives 3 g) becomes .grad() as it is;
  // a later backward adds into it.
  Tensor w = tensor({1, 2}).requires_grad_();
  (w * 3.0f).sum().backward();
  check_elements(w.grad(), {3, 3});
  (w * w).sum().backward();
  check_elements(w.grad(), {5, 7});
}

TEST_CASE("gradients accumulate into leaves across backward calls; zero_grad starts fresh") {
  Tensor x = tensor({1, 2, 3}).requires_grad_();
  (x * 2.0f).sum().backward();
  check_elements(x.grad(), {2, 2, 2});
  (x * x).sum().backward();  // += 2x
  check_elements(x.grad(), {4, 6, 8});

  x.zero_grad();
  CHECK(!x.grad().defined());
  (x * 3.0f).sum().backward();
  check_elements(x.grad(), {3, 3, 3});
}

TEST_CASE("retain_graph allows a second backward and accumulates twice") {
  Tensor x = tensor({1, -2}).requires_grad_();
  Tensor h = x.exp();
  Tensor y = (h * x).sum();  // dy/dx = e^x (1 + x)
  y.backward(Tensor(), /*retain_graph=*/true);
  const std::vector<float> once = {std::exp(1.0f) * 2.0f, std::exp(-2.0f) * -1.0f};
  check_elements(x.grad(), once);
  CHECK(!y.grad_fn()->released);
  y.backward(Tensor(), true);
  check_elements(x.grad(), {2 * once[0], 2 * once[1]});
  y.backward();  // a third, freeing the graph
  check_elements(x.grad(), {3 * once[0], 3 * once[1]});
  CHECK(y.grad_fn()->released);
  CHECK_THROWS_AS(y.backward(), Error);
}

TEST_CASE("a second backward without retain_graph throws, mentioning 'second time'") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward();
  const std::string msg = error_message([&] { y.backward(); });
  INFO(msg);
  CHECK(msg.find("second time") != std::string::npos);
  CHECK(msg.find("backward") != std::string::npos);
  CHECK(msg.find("retain_graph") != std::string::npos);
  check_elements(x.grad(), {2, 4});  // nothing was added by the failed call
}

TEST_CASE("NoGradGuard: no graph inside, restored after, nests, is per thread") {
  Tensor x = tensor({1, 2}).requires_grad_();
  CHECK(GradMode::is_enabled());
  {
    NoGradGuard guard;
    CHECK(!GradMode::is_enabled());
    Tensor y = x * 2.0f + x;
    CHECK(y.grad_fn() == nullptr);
    CHECK(!y.requires_grad());
    CHECK(matmul(x, x).grad_fn() == nullptr);
    {
      NoGradGuard inner;
      CHECK(!GradMode::is_enabled());
    }
    CHECK(!GradMode::is_enabled());  // the inner guard restores "off", not "on"
    bool other_thread_enabled = false;
    std::thread([&] { other_thread_enabled = GradMode::is_enabled(); }).join();
    CHECK(other_thread_enabled);  // grad mode is thread-local
  }
  CHECK(GradMode::is_enabled());
  Tensor z = x * 2.0f;
  CHECK(z.grad_fn() != nullptr);
  CHECK(z.requires_grad());
}

TEST_CASE("needed-gradient mask: matmul with one input requiring grad") {
  Generator gen(1);
  Tensor a = randn({2, 3}, &gen).requires_grad_();
  Tensor b = randn({3, 4}, &gen);
  Tensor y = matmul(a, b);
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->name == "matmul");
  CHECK(y.grad_fn()->needs_grad == std::vector<bool>{true, false});
  y.backward(ones({2, 4}));
  CHECK(a.grad().defined());
  CHECK(!b.grad().defined());

  Tensor y2 = matmul(b.transpose(0, 1), a.detach().transpose(0, 1).requires_grad_());
  CHECK(y2.grad_fn()->needs_grad == std::vector<bool>{false, true});
  CHECK(matmul(a.detach(), b).grad_fn() == nullptr);  // neither needs a gradient: no node
}

namespace {
// y = a * b, a custom op whose backward checks the mask it is given and counts its calls.
// It asserts that it is never asked for the gradient of an input that does not need one.
Tensor checked_mul(const Tensor& a, const Tensor& b, int* calls) {
  Tensor y = Tensor::empty(a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) y.data()[i] = a.data()[i] * b.data()[i];
  record_op(y, "checked_mul", {a, b},
            [a = a.detach(), b = b.detach(), calls](const Tensor& g, const std::vector<bool>& needs) {
              ++*calls;
              REQUIRE(needs.size() == 2);
              CHECK(needs[0] == true);
              CHECK(needs[1] == false);  // b does not require grad: never compute db
              CHECK(!GradMode::is_enabled());  // backward runs under NoGradGuard
              return std::vector<Tensor>{g * b, Tensor()};
            });
  return y;
}
}  // namespace

TEST_CASE("needed-gradient mask: a custom op via record_op is not asked for unneeded gradients") {
  int calls = 0;
  Tensor a = tensor({1, 2, 3}).requires_grad_();
  Tensor b = tensor({4, 5, 6});
  Tensor y = checked_mul(a, b, &calls);
  CHECK(y.grad_fn()->needs_grad == std::vector<bool>{true, false});
  y.backward(tensor({1, 1, 2}));
  CHECK(calls == 1);
  check_elements(a.grad(), {4, 5, 12});
  CHECK(!b.grad().defined());

  // Neither input requires grad: nothing is recorded.
  Tensor z = checked_mul(a.detach(), b, &calls);
  CHECK(z.grad_fn() == nullptr);
  CHECK(!z.requires_grad());
}

TEST_CASE("a custom op that returns a missing or misshapen gradient is a clear error") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y1 = x.detach().clone();
  record_op(y1, "forgetful", {x}, [](const Tensor&, const std::vector<bool>&) { return std::vector<Tensor>{Tensor()}; });
  std::string msg = error_message([&] { y1.backward(ones({2})); });
  INFO(msg);
  CHECK(msg.find("forgetful") != std::string::npos);

  Tensor y2 = x.detach().clone();
  record_op(y2, "misshapen", {x}, [](const Tensor&, const std::vector<bool>&) { return std::vector<Tensor>{ones({3})}; });
  msg = error_message([&] { y2.backward(ones({2})); });
  INFO(msg);
  CHECK(msg.find("misshapen") != std::string::npos);
  CHECK(msg.find("[3]") != std::string::npos);
  CHECK(msg.find("[2]") != std::string::npos);

  Tensor y3 = x.detach().clone();
  record_op(y3, "miscounted", {x}, [](const Tensor& g, const std::vector<bool>&) { return std::vector<Tensor>{g, g}; });
  msg = error_message([&] { y3.backward(ones({2})); });
  INFO(msg);
  CHECK(msg.find("miscounted") != std::string::npos);
}

TEST_CASE("a shared subexpression gets the sum of both paths (diamond graph)") {
  Tensor x = tensor({0.5f, -1.0f, 2.0f}).requires_grad_();
  Tensor h = x * 2.0f;       // shared
  Tensor y = (h * h + h.exp()).sum();  // dy/dh = 2h + e^h; dy/dx = 2 (2h + e^h)
  y.backward();
  std::vector<float> expected;
  for (float xi : {0.5f, -1.0f, 2.0f}) expected.push_back(2.0f * (4.0f * xi + std::exp(2.0f * xi)));
  check_elements(x.grad(), expected);

  // Paths of different length into the same node: a feeds b = 3a and also c = b + a directly.
  // Its node must wait for both gradients (reverse topological order).
  Tensor x2 = tensor({1.0f}).requires_grad_();
  Tensor a = x2 * 2.0f;
  Tensor b = (a * 3.0f).exp().log();  // = 3a, through a longer path
  Tensor c = b + a;                   // = 4a = 8 x2
  c.sum().backward();
  check_elements(x2.grad(), {8});

  // The same tensor as both inputs of one op.
  Tensor x3 = tensor({3.0f, -2.0f}).requires_grad_();
  (x3 * x3 + x3 + x3).sum().backward();  // 2x + 2
  check_elements(x3.grad(), {8, -2});
}

TEST_CASE("retain_grad keeps the gradient of a non-leaf") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor h = x * 3.0f;
  Tensor other = x * 2.0f;  // a non-leaf without retain_grad
  h.retain_grad();
  Tensor y = (h * h + other).sum();  // dy/dh = 2h
  y.backward();
  check_elements(h.grad(), {6, 12});
  check_elements(x.grad(), {3 * 6 + 2, 3 * 12 + 2});
  CHECK(!other.grad().defined());

  // retain_grad on the root: it gets the seed.
  Tensor x2 = tensor({1, 2}).requires_grad_();
  Tensor r = x2 * 2.0f;
  r.retain_grad();
  r.backward(tensor({0.5f, 4.0f}));
  check_elements(r.grad(), {0.5f, 4.0f});
}

TEST_CASE("a chain of 100,000 ops back-propagates without recursion") {
  // y = (x * 1.0001 + 0) repeated 50,000 times: dy/dx = 1.0001^50000 per element.
  Tensor x = tensor({1.0f, -0.5f, 2.0f}).requires_grad_();
  Tensor y = x;
  const int steps = 50000;
  for (int i = 0; i < steps; ++i) y = y * 1.0001f + 0.0f;
  Tensor loss = (y * tensor({1.0f, 2.0f, -1.0f})).sum();
  loss.backward();
  const double d = std::pow(1.0001, steps);
  // float rounding over 50,000 multiplies: allow 1% relative error.
  check_elements(x.grad(), {static_cast<float>(d), static_cast<float>(2 * d), static_cast<float>(-d)}, 1e-2);
  check_elements(y, {static_cast<float>(d), static_cast<float>(-0.5 * d), static_cast<float>(2 * d)}, 1e-2);

  // A chain of 100,000 additions: gradient exactly 1.
  Tensor x2 = tensor({0.0f}).requires_grad_();
  Tensor z = x2;
  for (int i = 0; i < 100000; ++i) z = z + 1e-6f;
  z.backward();
  CHECK(x2.grad().item() == 1.0f);
}

TEST_CASE("a chain of 100,000 ops dropped without backward is torn down without recursion") {
  Tensor x = tensor({1.0f, 2.0f}).requires_grad_();
  {
    Tensor y = x;
    for (int i = 0; i < 50000; ++i) y = y * 1.0001f + 0.0f;
  }  // y and its whole graph are destroyed here
  {
    // Each node holds the previous tensor twice (y + y): a tensor shared within one node.
    Tensor y = x;
    for (int i = 0; i < 50000; ++i) y = (y + y) * 0.5f;
  }
  {
    // 100,000 nodes in a row that each list the same tensor twice (y * y): the input
    // is uniquely owned only at its second entry. (This crashed before the engine fix.)
    Tensor one = ones({2}).requires_grad_();
    Tensor y = one;
    for (int i = 0; i < 100000; ++i) y = y * y;
    CHECK(y.at({0}) == 1.0f);
  }
  {
    // A backward with retain_graph, then the retained graph is dropped.
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = y + 0.0f;
    y.sum().backward(Tensor(), true);
  }
  {
    // A diamond chain: two branches of the previous tensor joined again at each step.
    Tensor y = x;
    for (int i = 0; i < 30000; ++i) y = y * 0.5f + y * 0.5f;
    y.sum().backward();
    check_elements(x.grad(), {2, 2}, 1e-3);  // 1 from the retained chain above, 1 from this one
  }
  CHECK(x.grad().defined());
}

TEST_CASE("the graph is freed after backward") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor h = x * 2.0f;
  Tensor y = (h * x).sum();
  auto root = y.grad_fn();
  auto inner = h.grad_fn();
  CHECK(!root->released);
  CHECK(!root->inputs.empty());
  CHECK(root->backward != nullptr);
  y.backward();
  CHECK(root->released);
  CHECK(root->inputs.empty());
  CHECK(root->backward == nullptr);
  CHECK(inner->released);
  CHECK(inner->inputs.empty());

  // With retain_graph the nodes keep their state.
  Tensor y2 = (x * x).sum();
  y2.backward(Tensor(), true);
  CHECK(!y2.grad_fn()->released);
  CHECK(!y2.grad_fn()->inputs.empty());
}

TEST_CASE("detach cuts the graph") {
  Tensor x = tensor({2, 3}).requires_grad_();
  Tensor y = (x.detach() * x).sum();  // only the second factor is differentiated: dy/dx = x
  y.backward();
  check_elements(x.grad(), {2, 3});

  Tensor d = (x * 2.0f).detach();
  CHECK(!d.requires_grad());
  CHECK(!(d * 3.0f).requires_grad());
  CHECK_THROWS_AS((d * 3.0f).sum().backward(), Error);
}

TEST_CASE("requires_grad_ on a non-leaf throws; on a leaf it switches") {
  Tensor x = tensor({1, 2}).requires_grad_();
  Tensor y = x * 2.0f;
  CHECK_THROWS_AS(y.requires_grad_(), Error);
  CHECK(y.detach().requires_grad_().requires_grad());
  Tensor leaf = tensor({1, 2});
  CHECK(!leaf.requires_grad());
  leaf.requires_grad_();
  CHECK(leaf.requires_grad());
  leaf.requires_grad_(false);
  CHECK(!leaf.requires_grad());
}

TEST_CASE("broadcast gradients reduce back to each input's shape") {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor b = tensor({10, 20, 30}).requires_grad_();
  (a * b).sum().backward();
  CHECK(b.grad().shape() == Shape{3});
  check_elements(b.grad(), {5, 7, 9});
  check_elements(a.grad(), {10, 20, 30, 10, 20, 30});
}
