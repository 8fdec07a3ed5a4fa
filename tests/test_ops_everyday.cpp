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
using namespace test_helpers;

namespace {

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

TEST_CASE("max and min along a dim: values, first index among ties, keepdim, NaN") {
  const Tensor x = tensor({1, 5, 5, 2, 2, 0}, {2, 3});
  ValuesIndices m = max(x, 1);
  check_values(m.values, {2}, {5, 2});
  CHECK(m.indices.shape == Shape{2});
  CHECK(m.indices.data == std::vector<int64_t>{1, 0});  // the first of the tied 5s and 2s
  m = min(x, -1, /*keepdim=*/true);
  check_values(m.values, {2, 1}, {1, 0});
  CHECK(m.indices.shape == Shape{2, 1});
  CHECK(m.indices.data == std::vector<int64_t>{0, 2});
  m = max(x, 0);
  check_values(m.values, {3}, {2, 5, 5});
  CHECK(m.indices.data == std::vector<int64_t>{1, 0, 0});
  check_values(m.indices.to_tensor(), {3}, {1, 0, 0});
  const Tensor y = tensor({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, {2, 3, 2});
  m = max(y, 1, true);
  check_values(m.values, {2, 1, 2}, {5, 9, 5, 8});
  CHECK(m.indices.data == std::vector<int64_t>{2, 2, 1, 2});
  m = min(y, 1);
  check_values(m.values, {2, 2}, {3, 1, 2, 3});
  CHECK(m.indices.data == std::vector<int64_t>{0, 0, 0, 1});
  // A 0-d tensor takes dim 0 or -1, its index is 0.
  m = max(tensor({7}, {}), 0);
  check_values(m.values, {}, {7});
  CHECK(m.indices.data == std::vector<int64_t>{0});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  m = max(tensor({1, nan, 3, nan}, {4}), 0);
  CHECK(std::isnan(m.values.item()));
  CHECK(m.indices.data == std::vector<int64_t>{1});
  CHECK(min(tensor({1, nan, -3}, {3}), 0).indices.data == std::vector<int64_t>{1});

  // Gradient: to the returned index only, even among ties.
  Tensor xg = x.clone().requires_grad_();
  max(xg, 1).values.backward(tensor({10, 20}, {2}));
  check_values(xg.grad(), {2, 3}, {0, 10, 0, 20, 0, 0});
  CHECK(max(xg, 1).values.grad_fn_name() == "max");
  CHECK(min(xg, 1).values.grad_fn_name() == "min");

  check_error([&] { max(x, 2); }, "max", {"dim 2", "rank 2"});
  check_error([&] { min(x, -3); }, "min", {"dim -3"});
  check_error([] { max(zeros({2, 0}), 1); }, "max", {"dim 1", "[2, 0]", "size 0"});
  CHECK(max(zeros({0, 3}), 1).values.shape() == Shape{0});  // no rows: nothing to reduce, as PyTorch
}

TEST_CASE("max and min over everything, argmax and argmin") {
  const Tensor x = tensor({1, 5, 5, 2, 2, 0}, {2, 3});
  check_values(max(x), {}, {5});
  check_values(min(x), {}, {0});
  // Ties over everything share the gradient evenly, as PyTorch.
  Tensor xg = x.clone().requires_grad_();
  (max(xg) * 4.0f).backward();
  check_values(xg.grad(), {2, 3}, {0, 2, 2, 0, 0, 0});
  xg.zero_grad();
  min(xg).backward();
  check_values(xg.grad(), {2, 3}, {0, 0, 0, 0, 0, 1});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(std::isnan(min(tensor({1, nan, -2}, {3})).item()));

  IndexTensor i = argmax(x);
  CHECK(i.shape == Shape{});
  CHECK(i.data == std::vector<int64_t>{1});
  CHECK(argmin(x).data == std::vector<int64_t>{5});
  i = argmax(x, 1);
  CHECK(i.shape == Shape{2});
  CHECK(i.data == std::vector<int64_t>{1, 0});
  i = argmin(x, 0, true);
  CHECK(i.shape == Shape{1, 3});
  CHECK(i.data == std::vector<int64_t>{0, 1, 1});
  // The accuracy of logits against labels, through to_tensor and eq.
  const Tensor logits = tensor({0.1f, 2, -1, 3, 0, 1, 0, 0, 5}, {3, 3});
  CHECK(mean(eq(argmax(logits, 1).to_tensor(), tensor({1, 0, 0}, {3}))).item() == doctest::Approx(2.0 / 3.0));

  check_error([] { max(zeros({0})); }, "max", {"no elements", "[0]"});
  check_error([] { min(zeros({2, 0})); }, "min", {"no elements", "[2, 0]"});
  check_error([] { argmax(zeros({0, 2})); }, "argmax", {"size 0"});
  check_error([&] { argmin(x, 5); }, "argmin", {"dim 5"});
  check_error([] { argmax(zeros({3, 0}), 1); }, "argmax", {"dim 1", "size 0"});
}

TEST_CASE("var and std: correction, dims, keepdim, everything") {
  const Tensor v = tensor({1, 2, 3, 4}, {4});
  check_values(var(v), {}, {5.0f / 3.0f});
  check_values(var(v, {}, 0), {}, {1.25f});
  check_values(tinydiff::std(v), {}, {std::sqrt(5.0f / 3.0f)});
  check_values(tinydiff::std(v, {0}, 0, true), {1}, {std::sqrt(1.25f)});
  const Tensor x = tensor({1, 2, 3, 4, 6, 8}, {2, 3});
  check_values(var(x, {1}), {2}, {1, 4});
  check_values(var(x, {-1}, 1, true), {2, 1}, {1, 4});
  check_values(var(x, {0}), {3}, {4.5f, 8, 12.5f});
  check_values(var(x, {0}, 2), {3}, {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity(),
                                     std::numeric_limits<float>::infinity()});  // divides by max(N - 2, 0) = 0
  check_values(var(x), {}, {6.8f});
  check_values(var(x, {0, 1}, 1, true), {1, 1}, {6.8f});
  check_values(tinydiff::std(x, {1}), {2}, {1, 2});
  check_values(var(tensor({3}, {}), {}, 0), {}, {0});  // a 0-d tensor is one element
  CHECK(std::isnan(var(tensor({3}, {1})).item()));  // 0 / 0 with one element, as PyTorch
  // Every value the same: the gradient of std is 0, as PyTorch, not 0 / 0.
  Tensor c = full({2, 3}, 2.0f).requires_grad_();
  tinydiff::std(c, {1}).backward(ones({2}));
  check_values(c.grad(), {2, 3}, {0, 0, 0, 0, 0, 0});
  CHECK(var(c).grad_fn_name() == "var");

  check_error([&] { var(x, {2}); }, "var", {"dim 2"});
  check_error([&] { tinydiff::std(x, {1, -1}); }, "std", {"more than once"});
  check_error([] { var(zeros({2, 0}), {1}); }, "var", {"no elements", "[2, 0]"});
}

TEST_CASE("logsumexp: stable, dims, keepdim, infinities") {
  const Tensor x = tensor({0.5f, -1, 2, 3, 0, 1}, {2, 3});
  {  // against the direct formula, where it does not overflow
    const Tensor ref1 = log(sum(exp(x), {1}));
    check_values(logsumexp(x, {1}), {2}, ref1.to_vector(), 1e-6);
    const Tensor ref0 = log(sum(exp(x), {0}, true));
    check_values(logsumexp(x, {0}, true), {1, 3}, ref0.to_vector(), 1e-6);
    check_values(logsumexp(x), {}, {std::log(std::exp(0.5f) + std::exp(-1.0f) + std::exp(2.0f) + std::exp(3.0f) +
                                             std::exp(0.0f) + std::exp(1.0f))},
                 1e-6);
  }
  // No overflow where e^x would: 1000 + ln 2.
  check_values(logsumexp(tensor({1000, 1000}, {2})), {}, {1000.0f + std::log(2.0f)}, 1e-7);
  check_values(logsumexp(tensor({-1000, -1000}, {2})), {}, {-1000.0f + std::log(2.0f)}, 1e-7);
  const float inf = std::numeric_limits<float>::infinity();
  check_values(logsumexp(tensor({-inf, -inf, -inf, 0}, {2, 2}), {1}), {2}, {-inf, 0});
  check_values(logsumexp(tensor({inf, 0}, {2})), {}, {inf});
  check_values(logsumexp(tensor({2}, {})), {}, {2});

  check_error([&] { logsumexp(x, {3}); }, "logsumexp", {"dim 3"});
  check_error([] { logsumexp(zeros({0, 2}), {0}); }, "logsumexp", {"no elements"});
}

TEST_CASE("norm: 2-norm over everything and over dims, gradient 0 at 0") {
  check_values(norm(tensor({3, 4}, {2})), {}, {5});
  const Tensor x = tensor({3, 4, 0, 0, 1, 2, 2, 0}, {2, 2, 2});
  check_values(norm(x), {}, {std::sqrt(34.0f)});
  check_values(norm(x, {2}), {2, 2}, {5, 0, std::sqrt(5.0f), 2});
  check_values(norm(x, {0, 2}, true), {1, 2, 1}, {std::sqrt(30.0f), 2});
  check_values(norm(tensor({-2}, {})), {}, {2});
  check_values(norm(zeros({0, 3}), {0}), {3}, {0, 0, 0});
  Tensor xg = x.clone().requires_grad_();
  norm(xg, {2}).backward(ones({2, 2}));
  check_values(xg.grad(), {2, 2, 2},
               {0.6f, 0.8f, 0, 0, 1 / std::sqrt(5.0f), 2 / std::sqrt(5.0f), 1, 0});  // the zero row: 0, not NaN
  Tensor z = zeros({3}).requires_grad_();
  norm(z).backward();
  check_values(z.grad(), {3}, {0, 0, 0});
  check_error([&] { norm(x, {0, 3}); }, "norm", {"dim 3"});
}

TEST_CASE("leaky_relu, elu, softplus, erf, log1p: values (PyTorch's), derivatives at the kinks") {
  const Tensor x = tensor({-2, -0.5f, 0, 1.5f, 25}, {5});
  check_values(leaky_relu(x), {5}, {-0.02f, -0.005f, 0, 1.5f, 25});
  check_values(leaky_relu(x, 0.2f), {5}, {-0.4f, -0.1f, 0, 1.5f, 25});
  check_values(elu(x), {5}, {-0.8646647334f, -0.3934693336f, 0, 1.5f, 25});
  check_values(elu(x, 0.5f), {5}, {-0.4323323667f, -0.1967346668f, 0, 1.5f, 25});
  check_values(softplus(x), {5}, {0.1269280016f, 0.4740769863f, 0.6931471825f, 1.7014132738f, 25});
  check_values(softplus(x, 2.0f, 5.0f), {5}, {0.0090749646f, 0.1566308439f, 0.3465735912f, 1.5242936611f, 25});
  check_values(softplus(tensor({-100, 100}, {2})), {2}, {0, 100});  // no overflow on either side
  check_values(erf(x), {5}, {-0.9953222871f, -0.5204998851f, 0, 0.9661051631f, 1});
  check_values(log1p(tensor({-0.5f, 0, 1e-8f, 3}, {4})), {4}, {-0.6931471825f, 0, 1e-8f, 1.3862943649f});
  CHECK(log1p(tensor({1e-8f}, {1})).item() == doctest::Approx(1e-8f).epsilon(1e-6));  // not 0, as log(1 + x) gives

  // At 0, as PyTorch: leaky_relu's slope and elu's alpha e^0 = alpha.
  Tensor z = zeros({1}).requires_grad_();
  leaky_relu(z, 0.2f).backward(ones({1}));
  CHECK(z.grad().item() == doctest::Approx(0.2f));
  z.zero_grad();
  elu(z, 0.5f).backward(ones({1}));
  CHECK(z.grad().item() == doctest::Approx(0.5f));
  // softplus in its linear region: the gradient is 1.
  Tensor big = tensor({30}, {1}).requires_grad_();
  softplus(big).backward(ones({1}));
  CHECK(big.grad().item() == 1.0f);
  check_error([&] { softplus(x, 0.0f); }, "softplus", {"beta", "0"});
}

TEST_CASE("maximum and minimum: broadcasting, NaN, the gradient halved at ties") {
  const Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}), b = tensor({3, 2, 1}, {3});
  check_values(maximum(a, b), {2, 3}, {3, 2, 3, 4, 5, 6});
  check_values(minimum(a, b), {2, 3}, {1, 2, 1, 3, 2, 1});
  check_values(maximum(tensor({0, 5}, {2, 1}), tensor({1, 2, 6}, {3})), {2, 3}, {1, 2, 6, 5, 5, 6});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor m = maximum(tensor({nan, 1}, {2}), tensor({0, nan}, {2}));
  CHECK(std::isnan(m.data()[0]));
  CHECK(std::isnan(m.data()[1]));
  CHECK(std::isnan(minimum(tensor({nan}, {1}), tensor({0}, {1})).item()));

  // PyTorch's gradients: [1, 2, 3] vs [1, 3, 2] gives a [0.5, 0, 1] and b [0.5, 1, 0].
  Tensor p = tensor({1, 2, 3}, {3}).requires_grad_(), q = tensor({1, 3, 2}, {3}).requires_grad_();
  maximum(p, q).backward(ones({3}));
  check_values(p.grad(), {3}, {0.5f, 0, 1});
  check_values(q.grad(), {3}, {0.5f, 1, 0});
  p.zero_grad();
  q.zero_grad();
  minimum(p, q).backward(ones({3}));
  check_values(p.grad(), {3}, {0.5f, 1, 0});
  check_values(q.grad(), {3}, {0.5f, 0, 1});
  // Broadcast: b's gradient is summed over the rows.
  Tensor ag = a.clone().requires_grad_(), bg = b.clone().requires_grad_();
  maximum(ag, bg).backward(tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  check_values(ag.grad(), {2, 3}, {0, 1, 3, 4, 5, 6});
  check_values(bg.grad(), {3}, {1, 1, 0});

  check_error([&] { maximum(a, tensor({1, 2}, {2})); }, "maximum", {"cannot broadcast", "[2, 3]", "[2]"});
  check_error([&] { minimum(zeros({4}), a); }, "minimum", {"[4]", "[2, 3]"});
}

TEST_CASE("cumsum along each dim") {
  const Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  check_values(cumsum(x, 1), {2, 3}, {1, 3, 6, 4, 9, 15});
  check_values(cumsum(x, -1), {2, 3}, {1, 3, 6, 4, 9, 15});
  check_values(cumsum(x, 0), {2, 3}, {1, 2, 3, 5, 7, 9});
  check_values(cumsum(tensor({3}, {}), 0), {}, {3});
  CHECK(cumsum(zeros({0, 3}), 0).shape() == Shape{0, 3});
  const Tensor y = arange(12).reshape({2, 3, 2});
  check_values(cumsum(y, 1), {2, 3, 2}, {0, 1, 2, 4, 6, 9, 6, 7, 14, 16, 24, 27});
  // The backward is the running sum from the back.
  Tensor xg = x.clone().requires_grad_();
  cumsum(xg, 1).backward(tensor({1, 10, 100, 2, 20, 200}, {2, 3}));
  check_values(xg.grad(), {2, 3}, {111, 110, 100, 222, 220, 200});
  check_error([&] { cumsum(x, 2); }, "cumsum", {"dim 2", "rank 2"});
}
