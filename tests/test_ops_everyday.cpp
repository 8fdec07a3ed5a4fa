// Forward values and error messages of the everyday PyTorch ops: unsqueeze, squeeze,
// stack, split, chunk; where, masked_fill and the comparisons; max/min/argmax/argmin,
// var, std, logsumexp, norm; leaky_relu, elu, softplus, erf, log1p, maximum, minimum,
// cumsum. Expected values are hand-computed (or PyTorch's, where it says so);
// tests/test_gradcheck_everyday.cpp checks their gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "test_helpers.hpp"

using namespace tinydiff;
using test_helpers::check_error;

namespace {
// t has `shape` and, to float rounding, the values `expected`.
void check_values(const Tensor& t, const Shape& shape, const std::vector<float>& expected, double tol = 1e-6) {
  REQUIRE(t.defined());
  REQUIRE(t.shape() == shape);
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  INFO("got ", t);
  CHECK(test_helpers::relative_error(t.to_vector(), expected) <= tol);
}

std::vector<Shape> shapes_of(const std::vector<Tensor>& pieces) {
  std::vector<Shape> out;
  for (const Tensor& p : pieces) out.push_back(p.shape());
  return out;
}
}  // namespace

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

TEST_CASE("comparisons: 0/1 float masks, broadcasting, scalars, NaN, no gradient") {
  const Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = tensor({2, 2, 5}, {3});
  check_values(eq(a, b), {2, 3}, {0, 1, 0, 0, 0, 0});
  check_values(ne(a, b), {2, 3}, {1, 0, 1, 1, 1, 1});
  check_values(lt(a, b), {2, 3}, {1, 0, 1, 0, 0, 0});
  check_values(le(a, b), {2, 3}, {1, 1, 1, 0, 0, 0});
  check_values(gt(a, b), {2, 3}, {0, 0, 0, 1, 1, 1});
  check_values(ge(a, b), {2, 3}, {0, 1, 0, 1, 1, 1});
  check_values(lt(tensor({1, 5}, {2, 1}), tensor({2, 4, 6}, {3})), {2, 3}, {1, 1, 1, 0, 0, 1});  // both broadcast
  check_values(eq(a, 3.0f), {2, 3}, {0, 0, 1, 0, 0, 0});
  check_values(ne(a, 3.0f), {2, 3}, {1, 1, 0, 1, 1, 1});
  check_values(lt(a, 3.0f), {2, 3}, {1, 1, 0, 0, 0, 0});
  check_values(le(a, 3.0f), {2, 3}, {1, 1, 1, 0, 0, 0});
  check_values(gt(a, 3.0f), {2, 3}, {0, 0, 0, 1, 1, 1});
  check_values(ge(a, 3.0f), {2, 3}, {0, 0, 1, 1, 1, 1});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor n = tensor({nan, 1}, {2});
  check_values(eq(n, n), {2}, {0, 1});
  check_values(ne(n, n), {2}, {1, 0});
  check_values(le(n, 1.0f), {2}, {0, 1});
  // The mask counts: the fraction of a that is > 2.
  CHECK(mean(gt(a, 2.0f)).item() == doctest::Approx(4.0 / 6.0));
  Tensor x = a.clone().requires_grad_();
  CHECK_FALSE(gt(x, 2.0f).requires_grad());
  CHECK_FALSE(eq(x, x).requires_grad());
  check_error([&] { lt(a, tensor({1, 2}, {2})); }, "lt", {"cannot broadcast", "[2, 3]", "[2]"});
  check_error([&] { ge(a, zeros({4, 1, 2})); }, "ge", {"[4, 1, 2]"});
}

TEST_CASE("where and masked_fill: values, broadcasting, any non-zero is true") {
  const Tensor cond = tensor({1, 0, 2}, {3});  // 2 counts as true
  const Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}), b = tensor({-1, -2}, {2, 1});
  check_values(where(cond, a, b), {2, 3}, {1, -1, 3, 4, -2, 6});
  check_values(where(tensor({0, 1}, {2, 1}), tensor({7}, {}), tensor({10, 20, 30}, {3})), {2, 3},
               {10, 20, 30, 7, 7, 7});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  check_values(where(tensor({nan, 0}, {2}), tensor({1, 1}, {2}), tensor({0, 0}, {2})), {2}, {1, 0});  // NaN is non-zero
  check_values(where(gt(a, 3.0f), a, zeros({})), {2, 3}, {0, 0, 0, 4, 5, 6});  // relu by hand
  check_values(masked_fill(a, tensor({0, 1, 0}, {3}), -9.0f), {2, 3}, {1, -9, 3, 4, -9, 6});
  check_values(masked_fill(a, tensor({1, 0}, {2, 1}), 0.5f), {2, 3}, {0.5f, 0.5f, 0.5f, 4, 5, 6});
  check_values(masked_fill(a, lt(a, 3.0f), -std::numeric_limits<float>::infinity()).exp(), {2, 3},
               {0, 0, std::exp(3.0f), std::exp(4.0f), std::exp(5.0f), std::exp(6.0f)}, 1e-6);
  check_values(masked_fill(a, tensor({1}, {}), 2.0f), {2, 3}, {2, 2, 2, 2, 2, 2});

  // Gradients by hand: g goes where each input was picked (summed over b's broadcast dim).
  Tensor ag = a.clone().requires_grad_(), bg = b.clone().requires_grad_();
  where(cond, ag, bg).backward(tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  check_values(ag.grad(), {2, 3}, {1, 0, 3, 4, 0, 6});
  check_values(bg.grad(), {2, 1}, {2, 5});
  Tensor xg = a.clone().requires_grad_();
  masked_fill(xg, tensor({0, 1, 0}, {3}), 7.0f).backward(ones({2, 3}));
  check_values(xg.grad(), {2, 3}, {1, 0, 1, 1, 0, 1});

  check_error([&] { where(tensor({1, 0}, {2}), a, b); }, "where", {"cannot broadcast", "[2]", "[2, 3]"});
  check_error([&] { where(cond, a, zeros({4, 1})); }, "where", {"cannot broadcast", "[2, 3]", "[4, 1]"});
  check_error([&] { masked_fill(a, zeros({3, 3}), 1.0f); }, "masked_fill", {"cannot broadcast", "[3, 3]", "[2, 3]"});
  check_error([&] { masked_fill(tensor({1, 2, 3}, {3}), zeros({2, 3}), 1.0f); }, "masked_fill",
              {"mask of shape [2, 3]", "input's shape [3]"});
}
