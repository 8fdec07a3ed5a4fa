// The shape ops (ops/shape_ops.hpp): reshape, flatten, clone, transpose, permute, concat, stack,
// narrow, slice, unsqueeze, squeeze, split, chunk, broadcast_to, sum_to. Forward values and
// shapes, gradchecks, errors.
//
// gradcheck compares backward() with central differences of <f(x), g> for a random upstream
// gradient g. Tolerance (unless a test says otherwise): the gradcheck defaults, step h = 1e-3,
// |analytic - numeric| <= 1e-3 + 1e-2 |numeric|.
// These ops copy values, so the central difference is exact up to float rounding.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

std::vector<Shape> shapes_of(const std::vector<Tensor>& pieces) {
  std::vector<Shape> out;
  for (const Tensor& p : pieces) out.push_back(p.shape());
  return out;
}

// One piece of a multi-output op, times a different weight per piece, summed: every piece's
// gradient must land in its own place.
Tensor weighted_pieces(const std::vector<Tensor>& pieces) {
  Tensor total = pieces[0] * 1.0f;
  for (size_t i = 1; i < pieces.size(); ++i) total = concat({total.flatten(), (pieces[i] * (1.0f + i)).flatten()}, 0);
  return total;
}

}  // namespace

TEST_CASE("transpose and permute") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  check_values(x.transpose(0, 1), {3, 2}, {1, 4, 2, 5, 3, 6});
  check_values(transpose(x, -1, -2), {3, 2}, {1, 4, 2, 5, 3, 6});
  check_values(x.transpose(1, 1), {2, 3}, {1, 2, 3, 4, 5, 6});

  Tensor t = arange(24).reshape({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});  // p[k, i, j] = t[i, j, k]
  CHECK(p.shape() == Shape{4, 2, 3});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) CHECK(p.at({k, i, j}) == t.at({i, j, k}));
  CHECK(p.data() != t.data());  // permute copies
  check_values(permute(t, {0, 1, 2}), {2, 3, 4}, t.to_vector());
  check_values(permute(t, {-1, -3, -2}), {4, 2, 3}, p.to_vector());
  // Permuting back with the inverse permutation restores the tensor.
  check_values(p.permute({1, 2, 0}), {2, 3, 4}, t.to_vector());
  Tensor t2 = t.transpose(0, 2);  // [4,3,2], t2[k,j,i] = t[i,j,k]
  CHECK(t2.at({3, 1, 0}) == t.at({0, 1, 3}));
}

TEST_CASE("concat on dims 0 and 1") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2});
  Tensor b = tensor({5, 6}, {1, 2});
  Tensor c = tensor({7, 8, 9, 10, 11, 12}, {2, 3});
  check_values(concat({a, b}, 0), {3, 2}, {1, 2, 3, 4, 5, 6});
  check_values(concat({a, c}, 1), {2, 5}, {1, 2, 7, 8, 9, 3, 4, 10, 11, 12});
  check_values(cat({a, c, a}, -1), {2, 7}, {1, 2, 7, 8, 9, 1, 2, 3, 4, 10, 11, 12, 3, 4});
  check_values(concat({a}, 0), {2, 2}, {1, 2, 3, 4});
  check_values(concat({tensor({1, 2}), tensor({3}), tensor({4, 5})}, 0), {5}, {1, 2, 3, 4, 5});
  Tensor x = arange(8).reshape({2, 2, 2});
  Tensor y = concat({x, x * 10.0f}, 1);  // [2,4,2]
  check_values(y, {2, 4, 2}, {0, 1, 2, 3, 0, 10, 20, 30, 4, 5, 6, 7, 40, 50, 60, 70});
}

TEST_CASE("narrow and slice (negative indices)") {
  Tensor x = arange(10);
  check_values(narrow(x, 0, 2, 3), {3}, {2, 3, 4});
  check_values(x.narrow(0, 0, 0), {0}, {});
  check_values(slice(x, 0, -3, 10), {3}, {7, 8, 9});
  check_values(slice(x, 0, 1, -1), {8}, {1, 2, 3, 4, 5, 6, 7, 8});
  check_values(slice(x, 0, -100, 2), {2}, {0, 1});   // clamped like Python
  check_values(slice(x, 0, 8, 100), {2}, {8, 9});
  check_values(slice(x, 0, 5, 2), {0}, {});          // empty when end <= start

  Tensor m = arange(12).reshape({3, 4});
  check_values(m.narrow(1, 1, 2), {3, 2}, {1, 2, 5, 6, 9, 10});
  check_values(narrow(m, -2, 2, 1), {1, 4}, {8, 9, 10, 11});
  check_values(slice(m, -1, -2, 4), {3, 2}, {2, 3, 6, 7, 10, 11});
  check_values(slice(m, 0, -1, 3), {1, 4}, {8, 9, 10, 11});
}

TEST_CASE("broadcast_to and sum_to") {
  check_values(broadcast_to(tensor({1, 2, 3}), {2, 3}), {2, 3}, {1, 2, 3, 1, 2, 3});
  check_values(broadcast_to(tensor({1, 2}, {2, 1}), {2, 3}), {2, 3}, {1, 1, 1, 2, 2, 2});
  check_values(broadcast_to(tensor({7.0f}, {}), {2, 2}), {2, 2}, {7, 7, 7, 7});
  check_values(broadcast_to(tensor({1, 2}, {2, 1}), {3, 2, 2}), {3, 2, 2}, {1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2});

  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  check_values(sum_to(x, {3}), {3}, {5, 7, 9});
  check_values(sum_to(x, {1, 3}), {1, 3}, {5, 7, 9});
  check_values(sum_to(x, {2, 1}), {2, 1}, {6, 15});
  check_values(sum_to(x, {1, 1}), {1, 1}, {21});
  check_values(sum_to(x, {}), {}, {21});
  check_values(sum_to(x, {2, 3}), {2, 3}, {1, 2, 3, 4, 5, 6});
  // sum_to undoes broadcast_to up to the repeat count.
  check_values(sum_to(broadcast_to(tensor({1, 2}, {2, 1}), {4, 2, 3}), {2, 1}), {2, 1}, {12, 24});
}

TEST_CASE("zero-size tensors pass through the layout ops (forward and backward)") {
  Tensor x = arange(6).reshape({2, 3}).requires_grad_();
  Tensor empty_cols = zeros({2, 0}).requires_grad_();
  Tensor y = concat({empty_cols, x, empty_cols}, 1);
  check_values(y, {2, 3}, {0, 1, 2, 3, 4, 5});
  check_values(concat({x, zeros({0, 3})}, 0), {2, 3}, {0, 1, 2, 3, 4, 5});
  check_values(index_select(zeros({3, 0}), 0, {1, 2}), {2, 0}, {});
  check_values(narrow(zeros({2, 0}), 0, 1, 1), {1, 0}, {});
  Tensor none = narrow(x, 1, 1, 0);
  check_values(none, {2, 0}, {});
  (y.sum() + none.sum()).backward();
  check_values(x.grad(), {2, 3}, {1, 1, 1, 1, 1, 1});
  check_values(empty_cols.grad(), {2, 0}, {});
}

TEST_CASE("unsqueeze and squeeze: shapes, negative dims, shared storage") {
  const Tensor x = arange(6).reshape({2, 3});
  CHECK(unsqueeze(x, 0).shape() == Shape{1, 2, 3});
  CHECK(unsqueeze(x, 1).shape() == Shape{2, 1, 3});
  CHECK(unsqueeze(x, 2).shape() == Shape{2, 3, 1});
  CHECK(unsqueeze(x, -1).shape() == Shape{2, 3, 1});
  CHECK(unsqueeze(x, -3).shape() == Shape{1, 2, 3});
  CHECK(unsqueeze(tensor({5}, {}), 0).shape() == Shape{1});
  check_values(unsqueeze(x, 1), {2, 1, 3}, {0, 1, 2, 3, 4, 5});
  CHECK(unsqueeze(x, 0).data() == x.data());  // a reshape: same floats

  const Tensor y = zeros({1, 3, 1, 2});
  CHECK(squeeze(y).shape() == Shape{3, 2});
  CHECK(squeeze(y, 0).shape() == Shape{3, 1, 2});
  CHECK(squeeze(y, -2).shape() == Shape{1, 3, 2});
  CHECK(squeeze(y, 1).shape() == Shape{1, 3, 1, 2});  // size 3: unchanged, as PyTorch
  CHECK(squeeze(zeros({1, 1})).shape() == Shape{});
  CHECK(squeeze(tensor({2}, {}), 0).shape() == Shape{});  // a 0-d tensor takes dim 0 or -1
  CHECK(squeeze(tensor({2}, {}), -1).shape() == Shape{});

  check_error([&] { unsqueeze(x, 3); }, "unsqueeze", {"dim 3", "[-3, 2]", "[2, 3]"});
  check_error([&] { unsqueeze(x, -4); }, "unsqueeze", {"dim -4"});
  check_error([&] { squeeze(y, 4); }, "squeeze", {"dim 4", "rank 4"});
  check_error([&] { squeeze(tensor({2}, {}), 1); }, "squeeze", {"dim 1"});
}

TEST_CASE("stack: every new dim, and its errors") {
  const Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}), b = tensor({7, 8, 9, 10, 11, 12}, {2, 3});
  check_values(stack({a, b}, 0), {2, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  check_values(stack({a, b}, 1), {2, 2, 3}, {1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12});
  check_values(stack({a, b}, 2), {2, 3, 2}, {1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12});
  check_values(stack({a, b}, -1), {2, 3, 2}, {1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12});
  check_values(stack({a}, -3), {1, 2, 3}, {1, 2, 3, 4, 5, 6});
  check_values(stack({tensor({1}, {}), tensor({2}, {}), tensor({3}, {})}, 0), {3}, {1, 2, 3});

  check_error([] { stack({}, 0); }, "stack", {"at least one tensor"});
  check_error([&] { stack({a, zeros({3, 2})}, 0); }, "stack", {"[2, 3]", "[3, 2]", "index 1"});
  check_error([&] { stack({a, b}, 3); }, "stack", {"dim 3", "[-3, 2]"});
}

TEST_CASE("split by size, by sizes, and chunk, as torch.split and torch.chunk") {
  const Tensor x = arange(10).reshape({5, 2});
  auto parts = split(x, 2);  // sizes 2, 2, 1
  REQUIRE(parts.size() == 3);
  check_values(parts[0], {2, 2}, {0, 1, 2, 3});
  check_values(parts[1], {2, 2}, {4, 5, 6, 7});
  check_values(parts[2], {1, 2}, {8, 9});
  CHECK(shapes_of(split(x, 5)) == std::vector<Shape>{{5, 2}});
  CHECK(shapes_of(split(x, 7)) == std::vector<Shape>{{5, 2}});
  CHECK(shapes_of(split(x, 1, -1)) == std::vector<Shape>{{5, 1}, {5, 1}});
  check_values(split(x, 1, 1)[1], {5, 1}, {1, 3, 5, 7, 9});

  parts = split(x, std::vector<int64_t>{1, 0, 4}, 0);
  REQUIRE(parts.size() == 3);
  check_values(parts[0], {1, 2}, {0, 1});
  CHECK(parts[1].shape() == Shape{0, 2});
  check_values(parts[2], {4, 2}, {2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(shapes_of(split(x, {1, 1}, -1)) == std::vector<Shape>{{5, 1}, {5, 1}});

  // torch.chunk: split_size = ceil(size / chunks), so fewer chunks may come back.
  CHECK(shapes_of(chunk(arange(6), 4)) == std::vector<Shape>{{2}, {2}, {2}});
  CHECK(shapes_of(chunk(arange(5), 4)) == std::vector<Shape>{{2}, {2}, {1}});
  CHECK(shapes_of(chunk(arange(5), 2)) == std::vector<Shape>{{3}, {2}});
  CHECK(shapes_of(chunk(arange(3), 5)) == std::vector<Shape>{{1}, {1}, {1}});
  CHECK(shapes_of(chunk(x, 2, 1)) == std::vector<Shape>{{5, 1}, {5, 1}});
  check_values(chunk(arange(7), 3)[2], {1}, {6});
  // Empty dims, as PyTorch: split gives one empty piece, chunk gives `chunks` of them.
  CHECK(shapes_of(split(zeros({0, 3}), 2)) == std::vector<Shape>{{0, 3}});
  CHECK(shapes_of(split(zeros({0, 3}), 0)) == std::vector<Shape>{{0, 3}});
  CHECK(shapes_of(chunk(zeros({0, 3}), 3)) == std::vector<Shape>{{0, 3}, {0, 3}, {0, 3}});

  check_error([&] { split(x, 0); }, "split", {"split_size", "0", "[5, 2]"});
  check_error([&] { split(x, -2); }, "split", {"split_size", "-2"});
  check_error([&] { split(x, 2, 2); }, "split", {"dim 2"});
  check_error([&] { split(x, std::vector<int64_t>{2, 2}, 0); }, "split", {"add up to 4", "[5, 2]", "size 5"});
  check_error([&] { split(x, std::vector<int64_t>{6, -1}, 0); }, "split", {"non-negative", "-1"});
  check_error([&] { chunk(x, 0); }, "chunk", {"chunks", "0"});
  check_error([&] { chunk(x, 2, -3); }, "chunk", {"dim -3"});
}

GRADCHECKED_OPS("transpose", "permute");
TEST_CASE("gradcheck: transpose and permute") {
  Generator gen(23);
  Tensor m = normal({3, 4}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].transpose(0, 1); }, {m}, "transpose 2-D");
  Tensor x = normal({2, 3, 4, 5}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].permute({2, 0, 3, 1}); }, {x},
                   "permute {2,0,3,1} of [2,3,4,5]");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].permute({3, 2, 1, 0}); }, {x},
                   "permute {3,2,1,0}");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].transpose(1, -1); }, {x}, "transpose 1,-1 4-D");
}

GRADCHECKED_OPS("concat", "cat");
TEST_CASE("gradcheck: concat of 3 tensors") {
  Generator gen(24);
  // dim 0: [1,3] + [2,3] + [3,3]
  Tensor a = normal({1, 3}, gen), b = normal({2, 3}, gen), c = normal({3, 3}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return concat({v[0], v[1], v[2]}, 0); }, {a, b, c}, "concat dim 0");
  // dim 1 of 3-D: [2,1,4] + [2,3,4] + [2,2,4]
  Tensor d = normal({2, 1, 4}, gen), e = normal({2, 3, 4}, gen), f = normal({2, 2, 4}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return concat({v[0], v[1], v[2]}, 1); }, {d, e, f}, "concat dim 1");
  // last dim, with the middle tensor not requiring grad, and one tensor used twice
  Tensor g = normal({2, 2}, gen), h = normal({2, 3}, gen, false);
  expect_gradcheck([](const std::vector<Tensor>& v) { return concat({v[0], v[1], v[0]}, -1); }, {g, h},
                   "concat dim -1, repeated input");
  // cat, PyTorch's name for concat
  expect_gradcheck([](const std::vector<Tensor>& v) { return cat({v[0], v[1]}, 1); }, {g, h}, "cat dim 1");
}

GRADCHECKED_OPS("narrow", "slice");
TEST_CASE("gradcheck: narrow and slice") {
  Generator gen(25);
  Tensor x = normal({4, 5}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return narrow(v[0], 0, 1, 2); }, {x}, "narrow dim 0");
  expect_gradcheck([](const std::vector<Tensor>& v) { return narrow(v[0], 1, 2, 3); }, {x}, "narrow dim 1");
  expect_gradcheck([](const std::vector<Tensor>& v) { return slice(v[0], -1, -3, -1); }, {x}, "slice negative");
  expect_gradcheck([](const std::vector<Tensor>& v) { return slice(v[0], 0, -2, 100); }, {x}, "slice clamped");
  // Overlapping pieces of the same tensor: their gradients add.
  expect_gradcheck([](const std::vector<Tensor>& v) { return narrow(v[0], 1, 0, 3) * narrow(v[0], 1, 2, 3); }, {x},
                   "overlapping narrows");
}

GRADCHECKED_OPS("broadcast_to", "sum_to");
TEST_CASE("gradcheck: broadcast_to and sum_to") {
  Generator gen(27);
  Tensor r = normal({3}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return broadcast_to(v[0], {2, 3}); }, {r}, "broadcast_to [3]->[2,3]");
  Tensor c = normal({2, 1}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return broadcast_to(v[0], {4, 2, 3}); }, {c},
                   "broadcast_to [2,1]->[4,2,3]");
  Tensor x = normal({4, 2, 3}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return sum_to(v[0], {2, 1}); }, {x}, "sum_to [2,1]");
  expect_gradcheck([](const std::vector<Tensor>& v) { return sum_to(v[0], {3}); }, {x}, "sum_to [3]");
  expect_gradcheck([](const std::vector<Tensor>& v) { return sum_to(v[0], {1, 2, 3}); }, {x}, "sum_to [1,2,3]");
}

GRADCHECKED_OPS("reshape", "clone");
TEST_CASE("gradcheck: reshape, flatten, clone") {
  Generator gen(28);
  Tensor x = normal({2, 3, 2}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].reshape({3, -1}) * 2.0f; }, {x}, "reshape");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].flatten(); }, {x}, "flatten");
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0].clone() * v[0]; }, {x}, "clone");
}

GRADCHECKED_OPS("unsqueeze", "squeeze", "stack");
TEST_CASE("gradcheck: unsqueeze, squeeze, stack") {
  Generator gen(71);
  Tensor x = normal({2, 1, 3}, gen);
  for (int64_t d : {0, 1, 2, 3, -1, -4})
    expect_gradcheck([d](const std::vector<Tensor>& v) { return unsqueeze(v[0], d) * 2.0f; }, {x},
                     "unsqueeze " + std::to_string(d));
  expect_gradcheck([](const std::vector<Tensor>& v) { return squeeze(v[0]) * 2.0f; }, {x}, "squeeze");
  expect_gradcheck([](const std::vector<Tensor>& v) { return squeeze(v[0], -2) * 2.0f; }, {x}, "squeeze -2");
  Tensor a = normal({2, 3}, gen), b = normal({2, 3}, gen), c = normal({2, 3}, gen, false);
  for (int64_t d : {0, 1, 2, -1})
    expect_gradcheck([d](const std::vector<Tensor>& v) { return stack({v[0], v[1], v[2], v[0]}, d); }, {a, b, c},
                     "stack " + std::to_string(d) + ", a repeated input and one without grad");
}

GRADCHECKED_OPS("split", "chunk");
TEST_CASE("gradcheck: split and chunk, every piece used") {
  Generator gen(72);
  Tensor x = normal({5, 4}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return weighted_pieces(split(v[0], 2)); }, {x}, "split 2 dim 0");
  expect_gradcheck([](const std::vector<Tensor>& v) { return weighted_pieces(split(v[0], 3, -1)); }, {x},
                   "split 3 dim -1");
  expect_gradcheck(
      [](const std::vector<Tensor>& v) { return weighted_pieces(split(v[0], std::vector<int64_t>{1, 3, 0, 1}, 0)); },
      {x}, "split sizes 1,3,0,1");
  expect_gradcheck([](const std::vector<Tensor>& v) { return weighted_pieces(chunk(v[0], 3, 1)); }, {x}, "chunk 3");
  // Only some pieces used: the others' ranges get no gradient.
  expect_gradcheck([](const std::vector<Tensor>& v) { return chunk(v[0], 2, 0)[1] * 3.0f; }, {x}, "one chunk of two");
}

TEST_CASE("broadcast_to and sum_to to an incompatible shape") {
  expect_error([] { broadcast_to(ones({2, 3}), {3, 3}); }, {"broadcast_to", "[2, 3]", "[3, 3]"});
  expect_error([] { broadcast_to(ones({2, 3}), {3}); }, {"broadcast_to", "[2, 3]", "[3]"});
  expect_error([] { sum_to(ones({2, 3}), {4}); }, {"sum_to", "[4]", "[2, 3]"});
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

TEST_CASE("permute and transpose with bad dims") {
  Tensor x = ones({2, 3, 4});
  expect_error([&] { x.permute({0, 0, 1}); }, {"permute", "repeated", "[2, 3, 4]"});
  expect_error([&] { x.permute({0, 1}); }, {"permute", "[2, 3, 4]"});
  expect_error([&] { x.permute({0, 1, 3}); }, {"permute", "dim 3"});
  expect_error([&] { x.permute({-1, 2, 0}); }, {"permute", "repeated", "[2, 3, 4]"});
  expect_error([&] { x.transpose(0, 3); }, {"transpose", "dim 3"});
}
