// Safe autograd: a tracked in-place write into a tensor an op has used (an optimiser step, at(),
// mutable_data(), bump_version(), io::load) makes backward() through that op stop with an error
// naming the op, instead of computing a gradient from the changed values (PyTorch's version counter).
#include <doctest/doctest.h>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

TEST_CASE("versions: every tracked in-place write bumps the storage's version, shared by its views") {
  Tensor x = randn({2, 3});
  CHECK(x.version() == 0);
  x.at({0, 1}) = 5.0f;
  CHECK(x.version() == 1);
  CHECK(x.value_at({0, 1}) == 5.0f);
  CHECK(x.version() == 1);  // reading is not a write
  x.mutable_data()[0] = 1.0f;
  CHECK(x.version() == 2);
  Tensor view = x.reshape({3, 2});
  view.bump_version();
  CHECK(x.version() == 3);
  CHECK(x.detach().version() == 3);
  CHECK(x.clone().version() == 0);  // a copy has storage of its own
}

TEST_CASE("versions: writing into a saved input or output between forward and backward is refused") {
  SUBCASE("at() on an input of mul") {
    Tensor a = randn({3}).requires_grad_(), b = randn({3});
    Tensor y = mul(a, b).sum();
    b.at({1}) = 2.0f;
    const std::string msg = error_message([&] { y.backward(); });
    CHECK(msg.find("input 1 of op 'mul'") != std::string::npos);
    CHECK(msg.find("modified in place") != std::string::npos);
    CHECK(msg.find("version 1, was 0") != std::string::npos);
  }
  SUBCASE("mutable_data() on the output of exp, whose backward reads it") {
    Tensor x = randn({4}).requires_grad_();
    Tensor e = exp(x);
    e.mutable_data()[0] = 0.0f;
    const std::string msg = error_message([&] { e.backward(randn({4})); });
    CHECK(msg.find("the output of op 'exp' (shape [4])") != std::string::npos);
  }
  SUBCASE("an optimiser step before backward: the classic misordered training loop") {
    nn::Linear fc(3, 2);
    optim::SGD opt(fc.parameters(), optim::SGDOptions(0.1));
    Tensor x = randn({5, 3});
    Tensor loss = fc.forward(x).pow(2.0f).mean();
    loss.backward(Tensor(), /*retain_graph=*/true);
    opt.step();  // the weights change ...
    const std::string msg = error_message([&] { loss.backward(); });  // ... and the graph still uses them
    CHECK(msg.find("op 'linear'") != std::string::npos);
  }
  SUBCASE("load_state_dict into a module between forward and backward") {
    nn::Linear fc(2, 2), other(2, 2);
    Tensor loss = fc.forward(randn({1, 2})).sum();
    fc.load_state_dict(other.state_dict());
    CHECK(error_message([&] { loss.backward(); }).find("op 'linear'") != std::string::npos);
  }
}

TEST_CASE("versions: writes that do not touch the graph's tensors leave backward alone") {
  Tensor a = randn({3}).requires_grad_();
  Tensor b = randn({3});
  const float b0 = b.value_at({0});  // a read, not a write
  Tensor y = mul(a, b).sum();
  Tensor unrelated = b.clone();
  unrelated.at({0}) = 7.0f;  // a copy: storage of its own
  y.backward();
  CHECK(a.grad().value_at({0}) == b0);
  // After backward the graph is gone: writing is fine, and the next forward records the new version.
  b.at({0}) = 1.0f;
  mul(a, b).sum().backward();
  CHECK(a.grad().value_at({0}) == doctest::Approx(b0 + 1.0f));
}
