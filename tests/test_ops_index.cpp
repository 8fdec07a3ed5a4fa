// Forward values and error messages of the index, pad, repeat and factory ops of issue #17:
// gather and index_select with an IndexTensor, embedding with an IndexTensor, pad (constant,
// reflect, replicate, circular, negative pads), repeat, select, eye, linspace, randperm.
// Expected values are hand-computed (or PyTorch 1.13's, where it says so);
// tests/test_gradcheck_index.cpp checks the gradients, tests/test_parity_ops.cpp PyTorch parity.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {
// t has `shape` and exactly the values `expected` (these ops copy values, they compute nothing).
void check_exact(const Tensor& t, const Shape& shape, const std::vector<float>& expected) {
  REQUIRE(t.defined());
  INFO("got ", t);
  CHECK(t.shape() == shape);
  CHECK(t.to_vector() == expected);
}
// [0, 1, ..., n-1] in `shape`.
Tensor iota(const Shape& shape) { return arange(static_cast<double>(shape_numel(shape))).reshape(shape); }
}  // namespace

TEST_CASE("gather: along each dim, a smaller index, repeated indices, 0-d") {
  const Tensor x = iota({3, 4});  // [[0 1 2 3] [4 5 6 7] [8 9 10 11]]
  // dim 1: out[i][j] = x[i][index[i][j]]
  check_exact(gather(x, 1, IndexTensor({3, 2}, {3, 0, 1, 1, 2, 0})), {3, 2}, {3, 0, 5, 5, 10, 8});
  // dim 0: out[i][j] = x[index[i][j]][j]; the index is narrower than x (2 columns of 4)
  check_exact(gather(x, 0, IndexTensor({2, 2}, {2, 0, 1, 2})), {2, 2}, {8, 1, 4, 9});
  // negative dim, and an index longer than x along the gathered dim (as PyTorch allows)
  check_exact(gather(x, -1, IndexTensor({1, 6}, {0, 3, 3, 3, 1, 2})), {1, 6}, {0, 3, 3, 3, 1, 2});
  // 3-d, dim 1
  const Tensor y = iota({2, 3, 2});
  check_exact(gather(y, 1, IndexTensor({2, 1, 2}, {2, 0, 1, 1})), {2, 1, 2}, {4, 1, 8, 9});
  // empty index
  check_exact(gather(x, 1, IndexTensor({3, 0}, {})), {3, 0}, {});
  // 0-d input and index (PyTorch: torch.gather(torch.tensor(2.), 0, torch.tensor(0)) = 2)
  check_exact(gather(scalar_tensor(2.0f), 0, IndexTensor({}, {0})), {}, {2});
}

TEST_CASE("gather: the gradient is g added where each element was read (repeats add up)") {
  Tensor x = iota({2, 3}).requires_grad_();
  Tensor y = gather(x, 1, IndexTensor({2, 3}, {2, 2, 0, 1, 1, 1}));
  y.backward(tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  check_exact(x.grad(), {2, 3}, {3, 0, 3, 0, 15, 0});
}

TEST_CASE("gather: errors name the op, the dim and the bad index or shape") {
  const Tensor x = iota({3, 4});
  check_error([&] { gather(x, 1, IndexTensor({1, 2}, {1, 4})); }, "gather",
              {"index 4", "position 1", "[0, 4)", "dim 1", "[3, 4]"});
  check_error([&] { gather(x, 0, IndexTensor({1, 1}, {-1})); }, "gather", {"index -1", "[0, 3)", "dim 0"});
  check_error([&] { gather(x, 1, IndexTensor::of({1})); }, "gather", {"rank", "[1]", "[3, 4]"});
  check_error([&] { gather(x, 1, IndexTensor({4, 1}, {0, 0, 0, 0})); }, "gather",
              {"[4, 1]", "[3, 4]", "dim 0", "only the gathered dim 1"});
  check_error([&] { gather(x, 2, IndexTensor({1, 1}, {0})); }, "gather", {"dim 2"});
}

TEST_CASE("index_select with an IndexTensor: as the std::vector overload; 0-d index; errors") {
  const Tensor x = iota({3, 4});
  const Tensor a = index_select(x, 1, IndexTensor::of({3, 0, 3}));
  check_exact(a, {3, 3}, {3, 0, 3, 7, 4, 7, 11, 8, 11});
  CHECK(a.to_vector() == index_select(x, 1, std::vector<int64_t>{3, 0, 3}).to_vector());
  check_exact(index_select(x, 0, IndexTensor({}, {2})), {1, 4}, {8, 9, 10, 11});  // PyTorch: a 0-d index keeps the dim
  check_error([&] { index_select(x, 1, IndexTensor::of({1, 4})); }, "index_select", {"index 4", "dim 1", "[3, 4]"});
  check_error([&] { index_select(x, -2, IndexTensor::of({-1})); }, "index_select", {"index -1", "dim -2"});
  check_error([&] { index_select(x, 0, IndexTensor({1, 1}, {0})); }, "index_select", {"1-d", "[1, 1]", "dim 0"});
}

TEST_CASE("embedding with an IndexTensor: output shape index.shape + [dim], gradient, nn::Embedding") {
  Tensor w = iota({4, 2}).requires_grad_();  // row i = [2i, 2i + 1]
  Tensor y = embedding(IndexTensor({2, 2}, {3, 0, 3, 1}), w);
  check_exact(y, {2, 2, 2}, {6, 7, 0, 1, 6, 7, 2, 3});
  y.backward(ones({2, 2, 2}));
  check_exact(w.grad(), {4, 2}, {1, 1, 1, 1, 0, 0, 2, 2});
  check_exact(embedding(IndexTensor({}, {2}), w), {2}, {4, 5});  // a 0-d index gives one row, [dim]
  check_error([&] { embedding(IndexTensor::of({4}), w); }, "embedding", {"index 4", "[0, 4)"});
  nn::Embedding module(nn::EmbeddingOptions(5, 3));
  const Tensor z = module.forward(IndexTensor({2, 3, 1}, {0, 1, 2, 3, 4, 0}));
  CHECK(z.shape() == Shape{2, 3, 1, 3});
  CHECK(z.to_vector() == module.forward(tensor({0, 1, 2, 3, 4, 0}, {2, 3, 1})).to_vector());
}

TEST_CASE("pad: constant, with a value, several dims, negative pads crop") {
  const Tensor x = iota({2, 3});  // [[0 1 2] [3 4 5]]
  check_exact(pad(x, {1, 2}), {2, 6}, {0, 0, 1, 2, 0, 0, 0, 3, 4, 5, 0, 0});
  check_exact(pad(x, {0, 1, 1, 0}, "constant", -1.0f), {3, 4}, {-1, -1, -1, -1, 0, 1, 2, -1, 3, 4, 5, -1});
  check_exact(pad(x, {-1, 1}), {2, 3}, {1, 2, 0, 4, 5, 0});
  check_exact(pad(x, {0, 0, -1, 0}), {1, 3}, {3, 4, 5});
  check_exact(pad(x, {-2, -1}), {2, 0}, {});
  check_exact(pad(x, {}), {2, 3}, {0, 1, 2, 3, 4, 5});
  check_exact(pad(scalar_tensor(7.0f), {}), {}, {7});
}

TEST_CASE("pad: reflect, replicate, circular on [0 1 2 3] and [0 1 2 3 4] (values from PyTorch 1.13)") {
  const Tensor x = iota({1, 1, 4});
  check_exact(pad(x, {2, 2}, "reflect"), {1, 1, 8}, {2, 1, 0, 1, 2, 3, 2, 1});
  check_exact(pad(x, {2, 2}, "replicate"), {1, 1, 8}, {0, 0, 0, 1, 2, 3, 3, 3});
  check_exact(pad(x, {2, 2}, "circular"), {1, 1, 8}, {2, 3, 0, 1, 2, 3, 0, 1});
  const Tensor v = iota({1, 1, 5});
  // a crop on one side: reflect and replicate read the whole x, circular wraps the cropped x
  check_exact(pad(v, {-1, 2}, "reflect"), {1, 1, 6}, {1, 2, 3, 4, 3, 2});
  check_exact(pad(v, {-1, 2}, "replicate"), {1, 1, 6}, {1, 2, 3, 4, 4, 4});
  check_exact(pad(v, {2, -1}, "circular"), {1, 1, 6}, {2, 3, 0, 1, 2, 3});
  check_exact(pad(v, {4, -1}, "reflect"), {1, 1, 8}, {4, 3, 2, 1, 0, 1, 2, 3});
  check_exact(pad(v, {-6, 2}, "reflect"), {1, 1, 1}, {2});
  // 2-d padding of a [C, H, W] input (no batch), last dim first in pads
  const Tensor img = iota({1, 2, 2});  // [[0 1] [2 3]]
  check_exact(pad(img, {1, 0, 0, 1}, "replicate"), {1, 3, 3}, {0, 0, 1, 2, 2, 3, 2, 2, 3});
  check_exact(pad(img, {1, 1, 1, 1}, "reflect"), {1, 4, 4}, {3, 2, 3, 2, 1, 0, 1, 0, 3, 2, 3, 2, 1, 0, 1, 0});
}

TEST_CASE("pad: errors name the op and what was wrong") {
  const Tensor x = iota({1, 2, 5});
  check_error([&] { pad(x, {1, 2, 3}); }, "pad", {"pairs", "3 values"});
  check_error([&] { pad(x, {1, 1, 1, 1, 1, 1, 1, 1}); }, "pad", {"4 pairs", "[1, 2, 5]"});
  check_error([&] { pad(x, {1, 1}, "mirror"); }, "pad", {"'mirror'", "constant, reflect, replicate, circular"});
  check_error([&] { pad(x, {1, 1}, "reflect", 2.0f); }, "pad", {"'reflect'", "no value"});
  check_error([&] { pad(x, {5, 0}, "reflect"); }, "pad", {"(5, 0)", "smaller", "dim 2"});
  check_error([&] { pad(x, {6, 0}, "circular"); }, "pad", {"(6, 0)", "more than once"});
  check_error([&] { pad(x, {-3, -2}, "replicate"); }, "pad", {"(-3, -2)", "empty"});
  check_error([&] { pad(x, {-3, -3}); }, "pad", {"(-3, -3)", "negative size"});
  check_error([&] { pad(x, {-6, 2}); }, "pad", {"(-6, 2)", "crop more"});
  check_error([&] { pad(iota({5}), {1, 1}, "reflect"); }, "pad", {"'reflect'", "[5]"});
  check_error([&] { pad(iota({2, 5}), {1, 1}, "circular"); }, "pad", {"'circular'", "two leading dims", "[2, 5]"});
  check_error([&] { pad(iota({1, 2, 5}), {1, 1, 1, 1}, "circular"); }, "pad", {"2 pairs"});
}

TEST_CASE("repeat: tiles, leading dims added, zero repeats; the gradient sums the tiles") {
  Tensor x = tensor({1, 2}, {1, 2}).requires_grad_();
  Tensor y = repeat(x, {2, 1, 3});
  check_exact(y, {2, 1, 6}, {1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2});
  y.backward(arange(12).reshape({2, 1, 6}));
  // x[0] is read at 0, 2, 4, 6, 8, 10 (sum 30), x[1] at the odd positions (sum 36)
  check_exact(x.grad(), {1, 2}, {30, 36});
  check_exact(repeat(iota({2, 2}), {2, 1}), {4, 2}, {0, 1, 2, 3, 0, 1, 2, 3});
  check_exact(repeat(iota({2}), {0, 2}), {0, 4}, {});
  check_exact(repeat(scalar_tensor(3.0f), {2}), {2}, {3, 3});
  check_error([&] { repeat(iota({2, 2}), {2}); }, "repeat", {"1 repeat sizes", "[2, 2]", "at least 2"});
  check_error([&] { repeat(iota({2}), {-1}); }, "repeat", {"-1", "dim 0"});
}

TEST_CASE("select: one index of a dim, the dim removed; negative index; errors") {
  const Tensor x = iota({2, 3});
  check_exact(select(x, 1, 2), {2}, {2, 5});
  check_exact(select(x, 0, -1), {3}, {3, 4, 5});
  check_exact(select(iota({3}), 0, 1), {}, {1});
  Tensor w = iota({2, 3}).requires_grad_();
  select(w, 1, -2).backward(tensor({5, 7}));
  check_exact(w.grad(), {2, 3}, {0, 5, 0, 0, 7, 0});
  check_error([&] { select(x, 1, 3); }, "select", {"index 3", "[-3, 3)", "dim 1", "[2, 3]"});
  check_error([&] { select(x, 2, 0); }, "select", {"dim 2"});
}

TEST_CASE("eye and linspace: values as torch.eye and torch.linspace; errors") {
  check_exact(eye(3), {3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1});
  check_exact(eye(2, 3), {2, 3}, {1, 0, 0, 0, 1, 0});
  check_exact(eye(3, 1), {3, 1}, {1, 0, 0});
  check_exact(eye(3, 0), {3, 0}, {});
  check_error([] { eye(-1); }, "eye", {"n = -1"});
  check_error([] { eye(2, -2); }, "eye", {"m = -2"});
  check_exact(linspace(0, 1, 5), {5}, {0, 0.25f, 0.5f, 0.75f, 1});
  check_exact(linspace(3, -3, 4), {4}, {3, 1, -1, -3});
  check_exact(linspace(2, 3, 1), {1}, {2});
  check_exact(linspace(2, 3, 0), {0}, {});
  // both ends exact even when the step is not a float (PyTorch: -1.3, ..., 2.7 in float32)
  const std::vector<float> v = linspace(-1.3, 2.7, 7).to_vector();
  CHECK(v.front() == -1.3f);
  CHECK(v.back() == 2.7f);
  CHECK(v[3] == doctest::Approx(0.7f).epsilon(1e-6));
  check_error([] { linspace(0, 1, -1); }, "linspace", {"-1"});
}

TEST_CASE("randperm: a permutation of 0..n-1, the same for the same seed, different for another") {
  Generator a(7), b(7), c(8);
  const IndexTensor p = randperm(50, &a);
  CHECK(p.shape == Shape{50});
  std::vector<int64_t> sorted = p.data;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) CHECK(sorted[static_cast<size_t>(i)] == i);
  CHECK(randperm(50, &b).data == p.data);
  CHECK(randperm(50, &c).data != p.data);
  // every position gets every value over many draws (Fisher-Yates reaches all of them)
  std::vector<int> seen(16, 0);
  for (int t = 0; t < 200; ++t) {
    const IndexTensor q = randperm(4, &a);
    for (size_t i = 0; i < 4; ++i) seen[i * 4 + static_cast<size_t>(q.data[i])] = 1;
  }
  CHECK(std::count(seen.begin(), seen.end(), 1) == 16);
  CHECK(randperm(0, &a).numel() == 0);
  CHECK(randperm(1).data == std::vector<int64_t>{0});
  check_error([&] { randperm(-1, &a); }, "randperm", {"-1"});
}
