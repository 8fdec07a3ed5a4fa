// Errors: every misuse throws tinydiff::Error whose message starts with the op
// and names the shapes (or values) involved.
#include <doctest/doctest.h>

#include <functional>
#include <initializer_list>
#include <string>

#include <tinydiff/tinydiff.hpp>

using namespace tinydiff;

namespace {
// Runs f, expecting a tinydiff::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& f, std::initializer_list<const char*> parts) {
  std::string message;
  bool thrown = false;
  try {
    f();
  } catch (const Error& e) {
    thrown = true;
    message = e.what();
  } catch (const std::exception& e) {
    FAIL("threw a std::exception that is not tinydiff::Error: ", e.what());
  }
  INFO("message: ", message);
  REQUIRE(thrown);
  for (const char* part : parts) {
    INFO("expected to contain: ", part);
    CHECK(message.find(part) != std::string::npos);
  }
}
}  // namespace

TEST_CASE("broadcast mismatch in add, sub, mul, div") {
  Tensor a = ones({2, 3}), b = ones({4});
  expect_error([&] { add(a, b); }, {"add: ", "[2, 3]", "[4]"});
  expect_error([&] { sub(a, b); }, {"sub: ", "[2, 3]", "[4]"});
  expect_error([&] { mul(a, b); }, {"mul: ", "[2, 3]", "[4]"});
  expect_error([&] { div(a, b); }, {"div: ", "[2, 3]", "[4]"});
  expect_error([&] { (void)(a + b); }, {"add: ", "[2, 3]", "[4]"});
  expect_error([&] { (void)(ones({3, 2}) * ones({2, 3})); }, {"mul: ", "[3, 2]", "[2, 3]"});
  // The doctest macro form, for one of them.
  CHECK_THROWS_WITH_AS(sub(ones({2, 3}), ones({4})), "sub: cannot broadcast shapes [2, 3] and [4]", Error);
}

TEST_CASE("broadcast_to and sum_to to an incompatible shape") {
  expect_error([] { broadcast_to(ones({2, 3}), {3, 3}); }, {"broadcast_to", "[2, 3]", "[3, 3]"});
  expect_error([] { broadcast_to(ones({2, 3}), {3}); }, {"broadcast_to", "[2, 3]", "[3]"});
  expect_error([] { sum_to(ones({2, 3}), {4}); }, {"sum_to", "[4]", "[2, 3]"});
}

TEST_CASE("matmul with mismatched inner dims") {
  expect_error([] { matmul(ones({2, 3}), ones({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]"});
  expect_error([] { matmul(ones({3}), ones({4})); }, {"matmul", "[3]", "[4]"});
  expect_error([] { matmul(ones({2, 3}), ones({2})); }, {"matmul", "[2, 3]", "[2]"});
  expect_error([] { matmul(ones({2, 2, 3}), ones({2, 4, 5})); }, {"matmul", "[2, 2, 3]", "[2, 4, 5]"});
  expect_error([] { matmul(ones({2, 3, 4}), ones({3, 4, 5})); }, {"matmul", "[2]", "[3]"});  // batch dims
  expect_error([] { matmul(scalar_tensor(1.0f), ones({2})); }, {"matmul", "[]", "[2]"});
}

TEST_CASE("reshape to a different number of elements") {
  expect_error([] { ones({2, 3}).reshape({4}); }, {"reshape", "[2, 3]", "[4]"});
  expect_error([] { ones({2, 3}).reshape({-1, 4}); }, {"reshape", "[2, 3]", "[-1, 4]"});
  expect_error([] { ones({2, 3}).reshape({-1, -1}); }, {"reshape", "-1", "[-1, -1]"});
  expect_error([] { ones({2, 3}).reshape({-2, 3}); }, {"reshape", "[-2, 3]"});
}

TEST_CASE("concat with mismatched ranks or sizes") {
  expect_error([] { concat({ones({2, 3}), ones({3})}, 0); }, {"concat", "[2, 3]", "[3]"});
  expect_error([] { concat({ones({2, 3}), ones({3, 2})}, 0); }, {"concat", "[2, 3]", "[3, 2]"});
  expect_error([] { concat({ones({2, 3}), ones({2, 3}), ones({2, 4})}, 0); }, {"concat", "[2, 3]", "[2, 4]"});
  expect_error([] { concat({ones({2, 3}), ones({2, 3})}, 2); }, {"concat", "dim 2", "rank 2"});
  expect_error([] { concat({}, 0); }, {"concat"});
}

TEST_CASE("backward misuse") {
  Tensor x = ones({2, 3}).requires_grad_();
  Tensor y = x * 2.0f;
  // A non-scalar output without a gradient.
  expect_error([&] { y.backward(); }, {"backward", "[2, 3]"});
  // A gradient of the wrong shape.
  expect_error([&] { y.backward(ones({3})); }, {"backward", "[3]", "[2, 3]"});
  expect_error([&] { y.backward(ones({3, 2})); }, {"backward", "[3, 2]", "[2, 3]"});
  // A second backward through a freed graph.
  Tensor loss = y.sum();
  loss.backward();
  expect_error([&] { loss.backward(); }, {"backward", "second time", "retain_graph"});
  // A tensor that does not require grad.
  expect_error([] { ones({1}).backward(); }, {"backward", "[1]", "does not require grad"});
  // An undefined tensor.
  expect_error([] { Tensor().backward(); }, {"backward", "undefined"});
}

TEST_CASE("element access: item, at, size") {
  expect_error([] { ones({2, 3}).item(); }, {"item", "[2, 3]"});
  expect_error([] { zeros({0}).item(); }, {"item", "[0]"});
  Tensor t = ones({2, 3});
  expect_error([&] { t.at({2, 0}); }, {"at", "[2, 3]", "index 2"});
  expect_error([&] { t.at({0, 3}); }, {"at", "[2, 3]", "index 3"});
  expect_error([&] { t.at({0, -1}); }, {"at", "[2, 3]", "index -1"});
  expect_error([&] { t.at({0}); }, {"at", "[2, 3]"});
  expect_error([&] { t.size(2); }, {"size", "dim 2"});
  expect_error([&] { t.size(-3); }, {"size", "dim -3"});
}

TEST_CASE("narrow, slice, index_select out of range") {
  Tensor x = ones({4, 5});
  expect_error([&] { narrow(x, 1, 3, 3); }, {"narrow", "[4, 5]", "[3, 6)"});
  expect_error([&] { narrow(x, 0, -1, 2); }, {"narrow", "[4, 5]"});
  expect_error([&] { narrow(x, 0, 1, -1); }, {"narrow", "[4, 5]"});
  expect_error([&] { narrow(x, 2, 0, 1); }, {"narrow", "dim 2"});
  expect_error([&] { slice(x, -3, 0, 1); }, {"slice", "dim -3"});
  expect_error([&] { index_select(x, 0, {0, 4}); }, {"index_select", "index 4", "[4, 5]"});
  expect_error([&] { index_select(x, 1, {-1}); }, {"index_select", "index -1", "[4, 5]"});
  expect_error([&] { index_select(x, 3, {0}); }, {"index_select", "dim 3"});
}

TEST_CASE("permute and transpose with bad dims") {
  Tensor x = ones({2, 3, 4});
  expect_error([&] { x.permute({0, 0, 1}); }, {"permute", "repeated", "[2, 3, 4]"});
  expect_error([&] { x.permute({0, 1}); }, {"permute", "[2, 3, 4]"});
  expect_error([&] { x.permute({0, 1, 3}); }, {"permute", "dim 3"});
  expect_error([&] { x.permute({-1, 2, 0}); }, {"permute", "repeated", "[2, 3, 4]"});
  expect_error([&] { x.transpose(0, 3); }, {"transpose", "dim 3"});
}

TEST_CASE("sum and mean with bad dims") {
  Tensor x = ones({2, 3});
  expect_error([&] { x.sum({2}); }, {"sum", "dim 2", "rank 2"});
  expect_error([&] { x.sum({-3}); }, {"sum", "dim -3"});
  expect_error([&] { x.sum({0, 0}); }, {"sum", "more than once", "[2, 3]"});
  expect_error([&] { x.sum({1, -1}); }, {"sum", "[2, 3]"});
  expect_error([&] { x.mean({5}, true); }, {"mean", "dim 5"});
  expect_error([] { zeros({0, 3}).mean(); }, {"mean", "[0, 3]"});
}

TEST_CASE("mse_loss with different shapes") {
  expect_error([] { mse_loss(ones({2, 3}), ones({3, 2})); }, {"mse_loss", "[2, 3]", "[3, 2]"});
  expect_error([] { mse_loss(ones({2, 3}), ones({3}), Reduction::None); }, {"mse_loss", "[2, 3]", "[3]"});
}

TEST_CASE("factories with bad arguments") {
  expect_error([] { tensor({1, 2, 3}, {2, 2}); }, {"tensor", "3 values", "[2, 2]"});
  expect_error([] { tensor({1, 2, 3, 4, 5}, {2, 2}); }, {"tensor", "5 values", "[2, 2]"});
  expect_error([] { Tensor::empty({2, -1}); }, {"empty", "negative", "[2, -1]"});
  expect_error([] { empty({-3}); }, {"negative", "[-3]"});
  expect_error([] { zeros({2, -1}); }, {"negative", "[2, -1]"});
  expect_error([] { ones({-1, 2}); }, {"negative", "[-1, 2]"});
  expect_error([] { full({-2}, 1.0f); }, {"negative", "[-2]"});
  expect_error([] { arange(0, 5, 0); }, {"arange", "step"});
  expect_error([] { arange(5, 0, 1); }, {"arange", "empty"});
  expect_error([] { randint(3, 3, {2}); }, {"randint", "[3, 3)"});
  expect_error([] { set_num_threads(0); }, {"set_num_threads", "0"});
}

TEST_CASE("clamp with min greater than max") {
  expect_error([] { clamp(ones({2}), 2.0f, 1.0f); }, {"clamp", "min 2", "max 1"});
}

TEST_CASE("requires_grad_ on a non-leaf") {
  Tensor x = ones({2}).requires_grad_();
  Tensor y = x * 2.0f;
  expect_error([&] { y.requires_grad_(); }, {"requires_grad_", "leaf"});
  expect_error([&] { y.requires_grad_(false); }, {"requires_grad_", "leaf"});
}

TEST_CASE("ops on an undefined tensor") {
  Tensor u;
  Tensor x = ones({2});
  expect_error([&] { add(u, x); }, {"undefined"});
  expect_error([&] { mul(x, u); }, {"undefined"});
  expect_error([&] { (void)(u * 2.0f); }, {"undefined"});
  expect_error([&] { exp(u); }, {"undefined"});
  expect_error([&] { relu(u); }, {"undefined"});
  expect_error([&] { matmul(u, x); }, {"undefined"});
  expect_error([&] { sum(u); }, {"undefined"});
  expect_error([&] { u.reshape({1}); }, {"undefined"});
  expect_error([&] { u.item(); }, {"undefined"});
  expect_error([&] { u.shape(); }, {"shape", "undefined"});
  expect_error([&] { u.data(); }, {"data", "undefined"});
  expect_error([&] { u.requires_grad_(); }, {"undefined"});
  expect_error([&] { u.grad(); }, {"grad", "undefined"});
  expect_error([&] { u.detach(); }, {"detach", "undefined"});
  expect_error([&] { concat({x, u}, 0); }, {"undefined"});
  expect_error([&] { mse_loss(u, x); }, {"undefined"});
  CHECK(!u.requires_grad());  // a query, not an error
  CHECK(!u.defined());
}
