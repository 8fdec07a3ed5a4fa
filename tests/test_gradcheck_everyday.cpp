// gradcheck on the everyday PyTorch ops (unsqueeze ... cumsum, see
// tests/test_ops_everyday.cpp for their values), each with a random upstream gradient.
//
// Tolerance: the gradcheck defaults, step h = 1e-3,
// |analytic - numeric| <= 1e-3 + 1e-2 |numeric|. Inputs are N(0, 1) or uniform on small
// shapes, kept at least 0.05 away from kinks and ties (max/min, maximum/minimum, leaky_relu
// and elu at 0, where's selection is not a kink: the condition is a constant).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;
using Fn = testing::GradcheckFunction;

namespace {

// One piece of a multi-output op, times a different weight per piece, summed: every piece's
// gradient must land in its own place.
Tensor weighted_pieces(const std::vector<Tensor>& pieces) {
  Tensor total = pieces[0] * 1.0f;
  for (size_t i = 1; i < pieces.size(); ++i) total = concat({total.flatten(), (pieces[i] * (1.0f + i)).flatten()}, 0);
  return total;
}
}  // namespace

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

TEST_CASE("gradcheck: where and masked_fill, broadcasting, one or both inputs requiring grad") {
  Generator gen(73);
  const Tensor cond = gt(randn({2, 1, 3}, &gen), 0.0f);  // a fixed 0/1 mask
  struct Case {
    Shape a, b;
  };
  for (const Case& c : {Case{{2, 4, 3}, {2, 4, 3}}, Case{{4, 1}, {3}}, Case{{}, {2, 4, 1}}})
    for (const auto& mask : {std::pair<bool, bool>{true, true}, {true, false}, {false, true}}) {
      Tensor a = normal(c.a, gen, mask.first), b = normal(c.b, gen, mask.second);
      expect_gradcheck([cond](const std::vector<Tensor>& v) { return where(cond, v[0], v[1]); }, {a, b},
                       "where " + shape_str(c.a) + " " + shape_str(c.b) + " grad=(" + (mask.first ? "a" : "-") +
                           (mask.second ? "b" : "-") + ")");
    }
  // The same tensor on both sides: its gradient is g everywhere.
  Tensor x = normal({2, 4, 3}, gen);
  expect_gradcheck([cond](const std::vector<Tensor>& v) { return where(cond, v[0], v[0] * 3.0f); }, {x}, "where x, 3x");
  expect_gradcheck([cond](const std::vector<Tensor>& v) { return masked_fill(v[0], cond, -2.0f); }, {x},
                   "masked_fill broadcast mask");
  expect_gradcheck([](const std::vector<Tensor>& v) { return masked_fill(v[0], gt(v[0], 0.5f), 0.0f); }, {x},
                   "masked_fill by a comparison of its own input");
}

TEST_CASE("gradcheck: max and min along dims and over everything") {
  Generator gen(74);
  Tensor x = normal({3, 4, 2}, gen);
  for (int64_t d : {0, 1, 2, -1})
    for (bool keepdim : {false, true}) {
      const std::string what = " dim " + std::to_string(d) + (keepdim ? " keepdim" : "");
      expect_gradcheck([d, keepdim](const std::vector<Tensor>& v) { return max(v[0], d, keepdim).values; }, {x},
                       "max" + what);
      expect_gradcheck([d, keepdim](const std::vector<Tensor>& v) { return min(v[0], d, keepdim).values; }, {x},
                       "min" + what);
    }
  expect_gradcheck([](const std::vector<Tensor>& v) { return max(v[0]) * 3.0f; }, {x}, "max of all");
  expect_gradcheck([](const std::vector<Tensor>& v) { return min(v[0]) - max(v[0]); }, {x}, "min - max of all");
  // Used in a formula with its input: x - max(x) along the rows, as in a softmax.
  expect_gradcheck([](const std::vector<Tensor>& v) { return v[0] - max(v[0], 1, true).values; }, {x},
                   "x - max(x, 1)");
}

TEST_CASE("gradcheck: var, std, logsumexp, norm over dims and everything") {
  Generator gen(75);
  Tensor x = normal({2, 3, 4}, gen);
  const std::vector<std::vector<int64_t>> dim_sets = {{}, {0}, {1}, {-1}, {0, 2}, {2, 1, 0}};
  for (const auto& dims : dim_sets)
    for (bool keepdim : {false, true}) {
      std::string what = " dims {";
      for (int64_t d : dims) what += std::to_string(d) + ",";
      what += keepdim ? "} keepdim" : "}";
      for (int64_t correction : {0, 1})
        expect_gradcheck(
            [dims, correction, keepdim](const std::vector<Tensor>& v) { return var(v[0], dims, correction, keepdim); },
            {x}, "var correction " + std::to_string(correction) + what);
      expect_gradcheck(
          [dims, keepdim](const std::vector<Tensor>& v) { return tinydiff::std(v[0], dims, 1, keepdim); }, {x},
          "std" + what);
      expect_gradcheck([dims, keepdim](const std::vector<Tensor>& v) { return logsumexp(v[0], dims, keepdim); }, {x},
                       "logsumexp" + what);
      expect_gradcheck([dims, keepdim](const std::vector<Tensor>& v) { return norm(v[0], dims, keepdim); }, {x},
                       "norm" + what);
    }
  Tensor big = (normal({3, 5}, gen, false) * 30.0f).requires_grad_();  // logsumexp where exp alone would overflow
  expect_gradcheck([](const std::vector<Tensor>& v) { return logsumexp(v[0] + 80.0f, {1}); }, {big},
                   "logsumexp of large values");
  Tensor s = normal({}, gen);
  expect_gradcheck([](const std::vector<Tensor>& v) { return norm(v[0]) + logsumexp(v[0]); }, {s}, "0-d");
}

TEST_CASE("gradcheck: leaky_relu, elu, softplus, erf, log1p") {
  Generator gen(76);
  // Values in [-3, 3] at least 0.05 from the kink at 0.
  Tensor x = Tensor::empty({3, 4});
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float u = gen.uniform();
    x.data()[i] = (u < 0.5f ? -1.0f : 1.0f) * (0.05f + 5.9f * std::fabs(u - 0.5f));
  }
  x.requires_grad_();
  for (float slope : {0.01f, 0.2f, -0.5f})
    expect_gradcheck([slope](const std::vector<Tensor>& v) { return leaky_relu(v[0], slope); }, {x},
                     "leaky_relu " + std::to_string(slope));
  for (float alpha : {1.0f, 0.5f, 2.0f})
    expect_gradcheck([alpha](const std::vector<Tensor>& v) { return elu(v[0], alpha); }, {x},
                     "elu " + std::to_string(alpha));
  expect_gradcheck([](const std::vector<Tensor>& v) { return softplus(v[0]); }, {x}, "softplus");
  expect_gradcheck([](const std::vector<Tensor>& v) { return softplus(v[0], 2.0f, 3.0f); }, {x},
                   "softplus beta 2 threshold 3 (both regions)");
  expect_gradcheck([](const std::vector<Tensor>& v) { return softplus(v[0] * 10.0f, 1.0f, 20.0f); }, {x},
                   "softplus beyond the threshold");
  expect_gradcheck([](const std::vector<Tensor>& v) { return erf(v[0]); }, {x}, "erf");
  Tensor p = (rand({3, 4}, &gen) * 3.0f - 0.8f).detach().requires_grad_();  // > -1
  expect_gradcheck([](const std::vector<Tensor>& v) { return log1p(v[0]); }, {p}, "log1p");
}

TEST_CASE("gradcheck: maximum and minimum with broadcasting, cumsum") {
  Generator gen(77);
  struct Case {
    Shape a, b;
  };
  for (const Case& c : {Case{{2, 3}, {2, 3}}, Case{{2, 3}, {3}}, Case{{4, 1}, {1, 3}}, Case{{}, {2, 3}}})
    for (const auto& mask : {std::pair<bool, bool>{true, true}, {true, false}, {false, true}}) {
      Tensor a = normal(c.a, gen, mask.first), b = normal(c.b, gen, mask.second);
      const std::string what = shape_str(c.a) + " " + shape_str(c.b) + " grad=(" + (mask.first ? "a" : "-") +
                               (mask.second ? "b" : "-") + ")";
      expect_gradcheck([](const std::vector<Tensor>& v) { return maximum(v[0], v[1]); }, {a, b}, "maximum " + what);
      expect_gradcheck([](const std::vector<Tensor>& v) { return minimum(v[0], v[1]); }, {a, b}, "minimum " + what);
    }
  Tensor x = normal({3, 4, 2}, gen);
  for (int64_t d : {0, 1, 2, -1})
    expect_gradcheck([d](const std::vector<Tensor>& v) { return cumsum(v[0], d); }, {x}, "cumsum " + std::to_string(d));
}
