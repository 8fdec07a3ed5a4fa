// The index ops (ops/index.hpp, ops/pad.hpp): index_select, gather, embedding with an
// IndexTensor, pad (constant, reflect, replicate, circular, negative pads), repeat, select.
// Expected values are hand-computed (or PyTorch 1.13's, where it says so); gradchecks; errors.
// (PyTorch parity: tests/parity/test_parity_ops.cpp.)
//
// gradcheck compares backward() with central differences of <f(x), g> for a random upstream
// gradient g. Tolerance (unless a test says otherwise): the gradcheck defaults, step h = 1e-3,
// |analytic - numeric| <= 1e-3 + 1e-2 |numeric|.
// These ops copy values, so they are linear in x and the central difference is exact up to float
// rounding. Repeated indices, overlapping reflected borders and repeated tiles check that the
// backward adds, not overwrites.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

// [0, 1, ..., n-1] in `shape`.
Tensor iota(const Shape& shape) { return arange(static_cast<double>(shape_numel(shape))).reshape(shape); }

}  // namespace

TEST_CASE("index_select with repeated indices") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {3, 2});
  check_values(index_select(x, 0, {2, 0, 2}), {3, 2}, {5, 6, 1, 2, 5, 6});
  check_values(index_select(x, 1, {1, 1, 0, 1}), {3, 4}, {2, 2, 1, 2, 4, 4, 3, 4, 6, 6, 5, 6});
  check_values(index_select(x, -1, {0}), {3, 1}, {1, 3, 5});
  check_values(index_select(x, 0, {}), {0, 2}, {});
  Tensor t = arange(24).reshape({2, 3, 4});
  Tensor s = index_select(t, 1, {2, 2});
  CHECK(s.shape() == Shape{2, 2, 4});
  CHECK(s.at({1, 0, 3}) == t.at({1, 2, 3}));
  CHECK(s.at({0, 1, 1}) == t.at({0, 2, 1}));
}

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

GRADCHECKED_OPS("index_select");
TEST_CASE("gradcheck: index_select with repeated indices (accumulation)") {
  Generator gen(26);
  Tensor x = normal({4, 3}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return index_select(v[0], 0, {2, 0, 2, 2, 3}); }, {x},
                   "index_select dim 0");
  expect_gradcheck([](const std::vector<Tensor>& v) { return index_select(v[0], 1, {1, 1, 0}); }, {x},
                   "index_select dim 1");
  Tensor y = normal({2, 3, 4}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return index_select(v[0], -2, {0, 2, 0}); }, {y},
                   "index_select middle dim");
  // Accumulation checked by hand too: row 2 picked three times gets 3 g.
  Tensor z = ones({3, 2}).requires_grad_();
  index_select(z, 0, {2, 2, 0, 2}).backward(full({4, 2}, 1.0f));
  CHECK(z.grad().to_vector() == std::vector<float>{1, 1, 0, 0, 3, 3});
}

GRADCHECKED_OPS("gather");
TEST_CASE("gradcheck: gather along each dim, with repeated and out-of-order indices") {
  Generator gen(81);
  Tensor x = normal({3, 4, 2}, gen);
  struct Case {
    int64_t dim;
    IndexTensor index;
  };
  const std::vector<Case> cases = {
      {0, IndexTensor({2, 4, 2}, {2, 2, 0, 1, 1, 1, 0, 2, 2, 0, 0, 0, 1, 2, 1, 1})},
      {1, IndexTensor({3, 5, 1}, {3, 3, 0, 1, 3, 2, 2, 2, 0, 1, 0, 1, 2, 3, 0})},
      {-1, IndexTensor({2, 3, 3}, {1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1})},
  };
  for (const Case& c : cases)
    expect_gradcheck([c](const std::vector<Tensor>& v) { return gather(v[0], c.dim, c.index); }, {x},
                     "gather dim " + std::to_string(c.dim) + " index " + shape_str(c.index.shape));
}

TEST_CASE("gradcheck: index_select and embedding with an IndexTensor") {
  Generator gen(82);
  Tensor x = normal({3, 4}, gen);
  const IndexTensor picks = IndexTensor::of({3, 0, 3, 1});
  expect_gradcheck([picks](const std::vector<Tensor>& v) { return index_select(v[0], 1, picks); }, {x},
                   "index_select dim 1");
  expect_gradcheck([](const std::vector<Tensor>& v) { return index_select(v[0], 0, IndexTensor::of({2, 2})); }, {x},
                   "index_select dim 0, one row twice");
  Tensor w = normal({5, 3}, gen);
  const IndexTensor tokens({2, 3}, {4, 0, 4, 1, 1, 2});
  expect_gradcheck([tokens](const std::vector<Tensor>& v) { return embedding(tokens, v[0]); }, {w},
                   "embedding [2, 3] indices");
}

GRADCHECKED_OPS("pad");
TEST_CASE("gradcheck: pad in every mode, positive and negative pads") {
  Generator gen(83);
  Tensor x = normal({2, 2, 5}, gen);
  Tensor img = normal({1, 2, 3, 4}, gen);
  struct Case {
    std::string mode;
    std::vector<int64_t> pads;
    bool image;
  };
  const std::vector<Case> cases = {
      {"constant", {1, 2}, false},         {"constant", {-1, 2, 0, 1, 1, 0}, false},
      {"constant", {2, -3, 1, 1}, true},   {"reflect", {3, 4}, false},
      {"reflect", {-1, 2}, false},         {"reflect", {1, 2, 2, 1}, true},
      {"replicate", {4, 6}, false},        {"replicate", {-2, 3, 2, 0}, true},
      {"circular", {2, 5}, false},         {"circular", {3, -1}, false},
      {"circular", {1, 2, 3, 1}, true},
  };
  for (const Case& c : cases) {
    std::string what = "pad " + c.mode;
    for (int64_t p : c.pads) what += " " + std::to_string(p);
    expect_gradcheck([c](const std::vector<Tensor>& v) { return pad(v[0], c.pads, c.mode, c.mode == "constant" ? 0.5f : 0.0f); },
                     {c.image ? img : x}, what);
  }
}

GRADCHECKED_OPS("repeat", "select");
TEST_CASE("gradcheck: repeat and select") {
  Generator gen(84);
  Tensor x = normal({2, 3}, gen);
  for (const std::vector<int64_t>& sizes : {std::vector<int64_t>{2, 1}, {1, 3}, {2, 2, 2}, {3, 1, 1}})
    expect_gradcheck([sizes](const std::vector<Tensor>& v) { return repeat(v[0], sizes); }, {x},
                     "repeat " + shape_str(sizes));
  for (int64_t dim : {0, 1, -1})
    for (int64_t index : {0, -1})
      expect_gradcheck([dim, index](const std::vector<Tensor>& v) { return select(v[0], dim, index); }, {x},
                       "select dim " + std::to_string(dim) + " index " + std::to_string(index));
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
