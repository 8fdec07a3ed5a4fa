// Errors outside one op family: backward misuse, element access, factories, undefined tensors,
// and sizes that overflow (shapes, byte counts, paddings, scales, step counts). Every misuse throws
// tinydiff::Error whose message starts with the op and names the shapes (or values) involved.
// (Each op family's own errors are with its tests in tests/ops/.)
#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>

#include <tinydiff/io/png.hpp>
#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;

using test_helpers::expect_error;

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
  expect_error([] { set_num_threads(100000); }, {"set_num_threads", "1 to 1024", "100000"});
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

// ---- Sizes that overflow: every one is refused with an error before anything is allocated. ----

namespace {
constexpr int64_t kTwoTo62 = int64_t{1} << 62;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
}  // namespace

TEST_CASE("shapes whose element count overflows int64") {
  expect_error([] { zeros({kTwoTo62, 4}); }, {"empty: ", "[4611686018427387904, 4]", "too many elements"});
  expect_error([] { Tensor::empty({3, kInt64Max}); }, {"empty: ", "too many elements"});
  // Empty, but its strides would still be 2^62 * 2^62.
  expect_error([] { Tensor::empty({0, kTwoTo62, kTwoTo62}); },
               {"empty: ", "[0, 4611686018427387904, 4611686018427387904]", "too many elements"});
  expect_error([] { ones({2}).reshape({-1, kTwoTo62, 4}); }, {"reshape", "[-1, 4611686018427387904, 4]", "int64"});
  expect_error([] { zeros({0}).reshape({0, kTwoTo62, kTwoTo62}); }, {"reshape", "too many elements"});
  // Valid empty shapes with large sizes still work, and so does a matmul of them: nothing to compute.
  CHECK(Tensor::empty({0, kTwoTo62}).numel() == 0);
  const Tensor product = matmul(zeros({1 << 30, 1, 0, 4}), zeros({1, 1 << 30, 4, 0}));
  CHECK(product.shape() == Shape{1 << 30, 1 << 30, 0, 0});
}

TEST_CASE("a byte count that overflows size_t") {
  // 2^62 elements fit in int64, but 2^62 * sizeof(float) bytes do not fit in size_t.
  expect_error([] { zeros({kTwoTo62}); }, {"Storage", "4611686018427387904 floats", "overflows size_t"});
  expect_error([] { Storage storage(std::numeric_limits<size_t>::max() / 2); }, {"Storage", "overflows size_t"});
}

TEST_CASE("arange with infinite or too many elements") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { arange(0, inf); }, {"arange", "finite", "end inf"});
  expect_error([&] { arange(-inf, 0); }, {"arange", "finite", "start -inf"});
  expect_error([&] { arange(0, 1, nan); }, {"arange", "finite", "step nan"});
  expect_error([] { arange(0, 1e300, 1e-300); }, {"arange", "too many"});
  expect_error([] { arange(0, 1e30); }, {"arange", "1e+30", "too many"});
  CHECK(arange(0, 5, 2).to_vector() == std::vector<float>{0, 2, 4});
}

TEST_CASE("randint and uniform_int with ranges that overflow") {
  expect_error([] { randint(kInt64Min, kInt64Max, {2}); }, {"randint", "[-9223372036854775808", "16777216"});
  expect_error([] { randint(0, (int64_t{1} << 24) + 1, {2}); }, {"randint", "16777217", "exactly"});
  expect_error([] { randint(-(int64_t{1} << 24) - 1, 0, {2}); }, {"randint", "-16777217"});
  Generator gen(7);
  expect_error([&] { gen.uniform_int(0); }, {"Generator::uniform_int", "got 0"});
  // The widest allowed range still works, and stays in range.
  for (float v : randint(-(int64_t{1} << 24), int64_t{1} << 24, {100}, &gen).to_vector())
    CHECK((v >= -16777216.0f && v < 16777216.0f));
}

TEST_CASE("narrow with a range whose end overflows") {
  expect_error([] { narrow(ones({4, 5}), 1, 1, kInt64Max); }, {"narrow", "[1, 1 + 9223372036854775807)", "[4, 5]"});
  expect_error([] { narrow(ones({4, 5}), 1, kInt64Max, 1); }, {"narrow", "[4, 5]"});
}

TEST_CASE("upsample_nearest2d with a scale that overflows") {
  expect_error([] { upsample_nearest2d(ones({1, 1, 4, 4}), Int2(kTwoTo62)); },
               {"upsample_nearest2d", "output height", "overflows int64", "4611686018427387904"});
  expect_error([] { upsample_nearest2d(ones({1, 1, 1, 1}), Int2(kTwoTo62)); },
               {"upsample_nearest2d: ", "too many elements"});
  CHECK(upsample_nearest2d(ones({1, 1, 2, 2}), 2).shape() == Shape{1, 1, 4, 4});
}

TEST_CASE("pooling with padding that overflows") {
  // padding <= kernel / 2 is allowed, but H + 2 padding overflows.
  expect_error([] { max_pool2d(ones({1, 1, 4, 4}), Int2(kInt64Max), 1, Int2(kInt64Max / 2)); },
               {"max_pool2d", "padded input height", "overflows int64"});
  expect_error([] { avg_pool2d(ones({1, 1, 4, 4}), Int2(kInt64Max), 1, Int2(kInt64Max / 2)); },
               {"avg_pool2d", "padded input height", "overflows int64"});
}

TEST_CASE("conv2d and conv_transpose2d with padding or dilation that overflows") {
  const Tensor x = ones({1, 1, 4, 4}), w = ones({1, 1, 3, 3});
  expect_error([&] { conv2d(x, w, Tensor(), 1, Int2(kTwoTo62)); }, {"conv2d", "2 * padding", "overflows int64"});
  expect_error([&] { conv2d(x, w, Tensor(), 1, Int2(kInt64Max / 2)); },
               {"conv2d", "padded input size", "overflows int64"});
  expect_error([&] { conv2d(x, w, Tensor(), 1, 0, Int2(kTwoTo62)); },
               {"conv2d", "dilation * (kernel size - 1)", "overflows int64"});
  // Each padded dim fits, but the padded input [1, 1, 2^32 + 4, 2^32 + 4] does not.
  expect_error([&] { conv2d(x, w, Tensor(), Int2(int64_t{1} << 32), Int2(int64_t{1} << 31)); },
               {"conv2d", "padded input's element count", "overflows int64"});
  expect_error([&] { conv_transpose2d(x, w, Tensor(), Int2(kTwoTo62)); },
               {"conv_transpose2d", "(input size - 1) * stride", "overflows int64"});
  expect_error([&] { conv_transpose2d(x, w, Tensor(), 1, Int2(kTwoTo62)); },
               {"conv_transpose2d", "2 * padding", "overflows int64"});
  expect_error([&] { conv_transpose2d(x, w, Tensor(), 1, 0, 0, 1, Int2(kInt64Max / 2)); },
               {"conv_transpose2d", "overflows int64"});
  // groups so large that the channel count it implies overflows.
  expect_error([] { conv2d(ones({1, 4, 4, 4}), ones({4, 2, 3, 3}), Tensor(), 1, 0, 1, kTwoTo62); },
               {"conv2d", "in channels * groups", "overflows int64"});
  expect_error([] { conv_transpose2d(zeros({1, 0, 4, 4}), zeros({0, 2, 3, 3}), Tensor(), 1, 0, 0, kTwoTo62); },
               {"conv_transpose2d", "out channels * groups", "overflows int64"});
  CHECK(conv2d(x, w, Tensor(), 1, 1).shape() == Shape{1, 1, 4, 4});
  CHECK(conv_transpose2d(x, w, Tensor(), 2, 1, 1).shape() == Shape{1, 1, 8, 8});
}

TEST_CASE("make_grid and write_png with sizes that overflow") {
  const Tensor images = zeros({3, 1, 2, 2});
  io::GridOptions huge_padding;
  huge_padding.padding = std::numeric_limits<int>::max();
  expect_error([&] { io::make_grid(images, huge_padding); }, {"make_grid", "too large for a PNG"});
  io::GridOptions huge_scale;
  huge_scale.scale = std::numeric_limits<int>::max();
  expect_error([&] { io::make_grid(images, huge_scale); }, {"make_grid", "too large for a PNG"});
  // An (empty) batch whose grid width overflows int64 before any scaling: 3 columns of width
  // (2^63 - 1) / 3 plus padding.
  expect_error([] { io::make_grid(zeros({3, 1, 0, kInt64Max / 3})); }, {"make_grid", "grid width", "overflows int64"});
  volatile int side = 1 << 16;  // not a constant, so the compiler does not trace it into stb's loops
  expect_error([&] { io::write_png("never-written.png", {}, side, side, 1); },
               {"write_png", "65536x65536x1", "too large"});
  // An ordinary grid: 2 columns of 2x2 images, padding 1, scale 2 -> (2 * 3 + 1) * 2 = 14 wide.
  io::GridOptions ordinary;
  ordinary.columns = 2;
  ordinary.padding = 1;
  ordinary.scale = 2;
  const io::Image grid = io::make_grid(full({3, 1, 2, 2}, 1.0f), ordinary);
  CHECK(grid.width == 14);
  CHECK(grid.height == 14);
  CHECK(grid.pixels.size() == 14u * 14u);
  CHECK(grid.pixels[(2 * 14 + 2)] == 255);  // the first image's first pixel, white
  CHECK(grid.pixels[0] == ordinary.background);
}

namespace {
// A one-parameter Adam that has taken one step, so its state holds a step count.
struct SteppedAdam {
  Tensor p = ones({2}).requires_grad_();
  optim::Adam opt{{p}, optim::AdamOptions(0.1)};
  SteppedAdam() {
    (p * p).sum().backward();
    opt.step();
  }
};
// `state` with the tensor named `key` replaced by a one-value tensor holding `value`.
nn::NamedTensors with_value(nn::NamedTensors state, const std::string& key, float value) {
  for (auto& entry : state)
    if (entry.first == key) entry.second = scalar_tensor(value);
  return state;
}
}  // namespace

TEST_CASE("optimizer and EMA state with a step count outside int64") {
  const float inf = std::numeric_limits<float>::infinity();
  SteppedAdam adam;
  const nn::NamedTensors state = adam.opt.state_dict();
  for (float bad : {2.6e20f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), -1.0f, 1.5f, 9.3e18f}) {
    INFO("step ", bad);
    expect_error([&] { adam.opt.load_state_dict(with_value(state, "state.0.step", bad)); },
                 {"Optimizer::load_state_dict", "state.0.step", "not a step count"});
  }
  // The largest float below 2^63 still loads; so does an ordinary round trip.
  adam.opt.load_state_dict(with_value(state, "state.0.step", 9.2e18f));
  adam.opt.load_state_dict(state);
  CHECK(adam.opt.state_dict().front().second.item() == 1.0f);

  nn::Linear lin(2, 1);
  optim::EMA ema(lin);
  ema.update();
  const nn::NamedTensors ema_state = ema.state_dict();
  for (float bad : {2.6e20f, inf, std::numeric_limits<float>::quiet_NaN(), -1.0f, 0.5f}) {
    INFO("num_updates ", bad);
    expect_error([&] { ema.load_state_dict(with_value(ema_state, "num_updates", bad)); },
                 {"EMA::load_state_dict", "num_updates", "is not a count"});
  }
  ema.load_state_dict(ema_state);
  CHECK(ema.num_updates() == 1);
}

TEST_CASE("Embedding with an index that is not a whole number inside int64") {
  nn::Embedding table(nn::EmbeddingOptions(10, 3));
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN(), 1e30f, 2.5f})
    expect_error([&] { table.forward(full({2}, bad)); }, {"Embedding", "at position 0", "is not an integer index"});
  CHECK(table.forward(full({2}, 3.0f)).shape() == Shape{2, 3});
}
