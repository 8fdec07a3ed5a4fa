// avg_pool2d, max_pool2d, upsample_nearest2d, embedding and dropout: hand-computed
// cases, naive reference loops, gradcheck with a random upstream gradient, dropout
// statistics, argument errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <tinydiff/testing/gradcheck.hpp>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"
#include <tinydiff/tinydiff.hpp>

using namespace tinydiff;
using namespace test_helpers;

namespace {

// Values 0.05 * (a random permutation of 0..n-1) - offset: all distinct, at least
// 0.05 apart, so no max-pool window has a tie within the gradcheck step.
Tensor distinct_values(const Shape& shape, Generator& gen) {
  const int64_t n = shape_numel(shape);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = 0.05f * float(i) - 0.025f * float(n);
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[gen.uniform_int(uint64_t(i + 1))]);
  return tensor(v, shape);
}

// Naive pooling: every output visits its window; `max` with -inf padding, else the
// count_include_pad average.
Tensor reference_pool(const Tensor& x, int64_t k, int64_t s, int64_t p, bool max) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
  Tensor y = Tensor::empty({N, C, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = max ? -INFINITY : 0.0;
          for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) {
              const int64_t h = oh * s - p + i, w = ow * s - p + j;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const double v = x.at({n, c, h, w});
              acc = max ? std::max(acc, v) : acc + v;
            }
          y.at({n, c, oh, ow}) = float(max ? acc : acc / double(k * k));
        }
  return y;
}

}  // namespace

TEST_CASE("avg_pool2d and max_pool2d on tiny hand-computed cases") {
  Tensor x = arange(16).reshape({1, 1, 4, 4});  // rows 0..3, 4..7, 8..11, 12..15
  check_elements(avg_pool2d(x, 2), {2.5f, 4.5f, 10.5f, 12.5f});
  check_elements(max_pool2d(x, 2), {5, 7, 13, 15});
  // k 3, stride 2, padding 1: the padding counts as zeros in the average (count_include_pad).
  check_elements(avg_pool2d(x, 3, 2, 1), {10.0f / 9, 24.0f / 9, 51.0f / 9, 90.0f / 9});
  // Max pool pads with -inf: on all-negative input a padded window still picks a real value.
  Tensor neg = (arange(16) * -1.0f - 1.0f).reshape({1, 1, 4, 4});  // -1 .. -16
  check_elements(max_pool2d(neg, 3, 2, 1), {-1, -2, -5, -6});
  // Rectangular kernel and stride.
  Tensor r = avg_pool2d(x, {1, 2}, {2, 1});
  CHECK(r.shape() == Shape{1, 1, 2, 3});
  check_elements(r, {0.5f, 1.5f, 2.5f, 8.5f, 9.5f, 10.5f});
  // Output size floor((H + 2p - k) / s) + 1 on a non-multiple.
  CHECK(max_pool2d(zeros({2, 3, 5, 7}), 2).shape() == Shape{2, 3, 2, 3});
  CHECK(avg_pool2d(zeros({2, 3, 5, 7}), 3, 2, 1).shape() == Shape{2, 3, 3, 4});
}

TEST_CASE("pools match a naive reference over stride and padding variants") {
  Generator gen(31);
  Tensor x = randn({2, 3, 7, 6}, &gen);
  struct Cfg {
    int64_t k, s, p;
  };
  for (Cfg c : std::vector<Cfg>{{2, 2, 0}, {3, 1, 1}, {3, 2, 1}, {2, 1, 1}, {4, 3, 2}, {5, 2, 0}, {7, 1, 3}}) {
    INFO("kernel ", c.k, " stride ", c.s, " padding ", c.p);
    Tensor a = avg_pool2d(x, c.k, c.s, c.p), ra = reference_pool(x, c.k, c.s, c.p, false);
    Tensor m = max_pool2d(x, c.k, c.s, c.p), rm = reference_pool(x, c.k, c.s, c.p, true);
    REQUIRE(a.shape() == ra.shape());
    REQUIRE(m.shape() == rm.shape());
    for (int64_t i = 0; i < a.numel(); ++i) CHECK(a.data()[i] == doctest::Approx(ra.data()[i]).epsilon(1e-5));
    for (int64_t i = 0; i < m.numel(); ++i) CHECK(m.data()[i] == rm.data()[i]);
  }
  // A larger input takes the parallel path.
  Tensor big = randn({4, 16, 24, 24}, &gen);
  Tensor a = avg_pool2d(big, 3, 2, 1), ra = reference_pool(big, 3, 2, 1, false);
  Tensor m = max_pool2d(big, 3, 2, 1), rm = reference_pool(big, 3, 2, 1, true);
  double worst_a = 0.0, worst_m = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) worst_a = std::max(worst_a, double(std::fabs(a.data()[i] - ra.data()[i])));
  for (int64_t i = 0; i < m.numel(); ++i) worst_m = std::max(worst_m, double(std::fabs(m.data()[i] - rm.data()[i])));
  CHECK(worst_a < 1e-5);
  CHECK(worst_m == 0.0);
}

GRADCHECKED_OPS("avg_pool2d", "max_pool2d");
TEST_CASE("pool gradcheck with stride and padding variants") {
  // Tolerance: h = 1e-3, atol = 1e-3, rtol = 1e-2 (the defaults). Pools are piecewise
  // linear; max-pool inputs are distinct and 0.05 apart, so no argmax changes within h.
  Generator gen(37);
  struct Cfg {
    Int2 k, s, p;
  };
  const std::vector<Cfg> cfgs = {{2, 0, 0}, {3, 1, 1}, {3, 2, 1}, {{2, 3}, {1, 2}, {1, 0}}, {4, 3, 2}};
  for (const Cfg& c : cfgs) {
    const std::string what = " kernel (" + std::to_string(c.k.h) + "," + std::to_string(c.k.w) + ") stride (" +
                             std::to_string(c.s.h) + "," + std::to_string(c.s.w) + ") padding (" +
                             std::to_string(c.p.h) + "," + std::to_string(c.p.w) + ")";
    Tensor x = distinct_values({2, 2, 5, 6}, gen).requires_grad_();
    expect_gradcheck([c](const std::vector<Tensor>& in) { return avg_pool2d(in[0], c.k, c.s, c.p); }, {x}, {},
                    "avg_pool2d" + what);
    expect_gradcheck([c](const std::vector<Tensor>& in) { return max_pool2d(in[0], c.k, c.s, c.p); }, {x}, {},
                    "max_pool2d" + what);
  }
}

TEST_CASE("max_pool2d sends the gradient to the first maximum on ties, as PyTorch") {
  Tensor x = ones({1, 1, 3, 3}).requires_grad_();
  Tensor y = max_pool2d(x, 2, 1);  // four overlapping windows, all ties
  CHECK(y.grad_fn_name() == "max_pool2d");
  y.backward(tensor({1, 2, 3, 4}, {1, 1, 2, 2}));
  // Each window's first element (row-major) is its top-left corner.
  check_elements(x.grad(), {1, 2, 0, 3, 4, 0, 0, 0, 0});
  // Overlapping windows that share a maximum add their gradients there.
  Tensor z = tensor({0, 0, 0, 0, 9, 0, 0, 0, 0}, {1, 1, 3, 3}).requires_grad_();
  max_pool2d(z, 2, 1).backward(tensor({1, 2, 3, 4}, {1, 1, 2, 2}));
  check_elements(z.grad(), {0, 0, 0, 0, 10, 0, 0, 0, 0});
}

GRADCHECKED_OPS("upsample_nearest2d");
TEST_CASE("upsample_nearest2d: values, shapes, gradcheck") {
  Tensor x = tensor({1, 2, 3, 4}, {1, 1, 2, 2});
  check_elements(upsample_nearest2d(x, 2), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  Tensor r = upsample_nearest2d(x, {1, 3});
  CHECK(r.shape() == Shape{1, 1, 2, 6});
  check_elements(r, {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4});
  CHECK(upsample_nearest2d(zeros({2, 3, 4, 5}), 2).shape() == Shape{2, 3, 8, 10});
  // Each input gets the sum of its block of g.
  Tensor xg = x.clone().requires_grad_();
  upsample_nearest2d(xg, 2).backward(arange(16).reshape({1, 1, 4, 4}));
  check_elements(xg.grad(), {0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15});
  // Tolerance: h = 1e-3, atol = 1e-3, rtol = 1e-2 (the defaults).
  Generator gen(41);
  Tensor xr = randn({2, 2, 3, 2}, &gen).requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], 2); }, {xr}, {},
                  "upsample_nearest2d 2");
  expect_gradcheck([](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], {3, 1}); }, {xr}, {},
                  "upsample_nearest2d (3, 1)");
  // Large enough for the parallel path: the backward of all-ones is sh * sw everywhere.
  Tensor big = randn({4, 8, 16, 16}, &gen).requires_grad_();
  Tensor up = upsample_nearest2d(big, 2);
  CHECK(up.value_at({3, 7, 31, 30}) == big.value_at({3, 7, 15, 15}));  // at() would count as a write
  up.backward(ones(up.shape()));
  CHECK(big.grad().at({2, 5, 9, 4}) == 4.0f);
}

TEST_CASE("pool and upsample argument errors name the op and the shapes") {
  Tensor x = zeros({1, 2, 4, 4});
  check_error([&] { avg_pool2d(zeros({2, 4, 4}), 2); }, "avg_pool2d", {"[2, 4, 4]"});
  check_error([&] { max_pool2d(zeros({2, 4, 4}), 2); }, "max_pool2d", {"[2, 4, 4]"});
  check_error([&] { max_pool2d(x, 5); }, "max_pool2d", {"kernel_size (5, 5)", "(4, 4)", "[1, 2, 4, 4]"});
  check_error([&] { avg_pool2d(x, {2, 6}, 1, 0); }, "avg_pool2d", {"kernel_size (2, 6)", "[1, 2, 4, 4]"});
  check_error([&] { avg_pool2d(x, 2, 1, 2); }, "avg_pool2d", {"padding (2, 2)", "kernel_size (2, 2)"});
  check_error([&] { max_pool2d(x, 0); }, "max_pool2d", {"kernel_size (0, 0)"});
  check_error([&] { max_pool2d(x, 2, -1); }, "max_pool2d", {"stride (-1, -1)"});
  check_error([&] { avg_pool2d(x, 2, {0, 1}); }, "avg_pool2d", {"stride (0, 1)"});
  check_error([&] { max_pool2d(x, 3, 1, -1); }, "max_pool2d", {"padding (-1, -1)"});
  check_error([&] { upsample_nearest2d(zeros({4, 4}), 2); }, "upsample_nearest2d", {"[4, 4]"});
  check_error([&] { upsample_nearest2d(x, {2, 0}); }, "upsample_nearest2d", {"(2, 0)", "[1, 2, 4, 4]"});
}

GRADCHECKED_OPS("embedding");
TEST_CASE("embedding: rows, gradient accumulates into repeated rows, gradcheck, errors") {
  Tensor weight = arange(12).reshape({4, 3});  // row i = 3i, 3i+1, 3i+2
  Tensor y = embedding({2, 0, 2, 3}, weight);
  CHECK(y.shape() == Shape{4, 3});
  check_elements(y, {6, 7, 8, 0, 1, 2, 6, 7, 8, 9, 10, 11});
  CHECK(embedding({}, weight).shape() == Shape{0, 3});

  Tensor w = weight.clone().requires_grad_();
  Tensor e = embedding({1, 3, 1}, w);
  CHECK(e.grad_fn_name() == "embedding");
  e.backward(tensor({1, 2, 3, 10, 20, 30, 100, 200, 300}, {3, 3}));
  check_elements(w.grad(), {0, 0, 0, 101, 202, 303, 0, 0, 0, 10, 20, 30});

  // Tolerance: h = 1e-3, atol = 1e-3, rtol = 1e-2 (the defaults).
  Generator gen(43);
  Tensor wr = randn({5, 4}, &gen).requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& in) { return embedding({4, 1, 4, 0, 4, 2}, in[0]); }, {wr}, {},
                  "embedding with repeated indices");

  check_error([&] { embedding({0}, zeros({4})); }, "embedding", {"[4]"});
  check_error([&] { embedding({0, 4}, weight); }, "embedding", {"index 4", "[0, 4)", "[4, 3]"});
  check_error([&] { embedding({-1}, weight); }, "embedding", {"index -1", "[4, 3]"});
}

TEST_CASE("dropout: statistics over 100k elements, scaling, eval mode, seeds") {
  const int64_t n = 100000;
  Tensor x = ones({n});
  for (double p : {0.1, 0.5, 0.8}) {
    INFO("p = ", p);
    Generator gen(123);
    Tensor y = dropout(x, p, true, &gen);
    int64_t zeros_count = 0;
    double total = 0.0;
    const float scale = float(1.0 / (1.0 - p));
    bool values_ok = true;
    for (int64_t i = 0; i < n; ++i) {
      const float v = y.data()[i];
      zeros_count += v == 0.0f;
      total += v;
      values_ok = values_ok && (v == 0.0f || v == scale);
    }
    CHECK(values_ok);  // kept values are scaled by 1 / (1 - p)
    // Binomial: std of the zero fraction is sqrt(p (1 - p) / n) <= 0.0016; allow 0.01.
    CHECK(std::fabs(double(zeros_count) / double(n) - p) < 0.01);
    // Mean preserved: std of the mean is sqrt(p / (1 - p) / n) <= 0.0064; allow 0.03.
    CHECK(std::fabs(total / double(n) - 1.0) < 0.03);
  }
  // Eval mode and p = 0 are the identity (the input itself); p = 1 gives zeros.
  Tensor xr = randn({3, 4});
  CHECK(dropout(xr, 0.5, false).is_same(xr));
  CHECK(dropout(xr, 0.0).is_same(xr));
  Tensor xz = randn({3, 4}).requires_grad_();
  Tensor z = dropout(xz, 1.0);
  for (float v : z.to_vector()) CHECK(v == 0.0f);
  z.backward(ones({3, 4}));
  for (float v : xz.grad().to_vector()) CHECK(v == 0.0f);

  // Same seed, same mask; another seed, another mask; the default generator when none is given.
  Generator a(7), b(7), c(8);
  const std::vector<float> ma = dropout(x, 0.5, true, &a).to_vector();
  CHECK(ma == dropout(x, 0.5, true, &b).to_vector());
  CHECK(ma != dropout(x, 0.5, true, &c).to_vector());
  manual_seed(99);
  const std::vector<float> d1 = dropout(x, 0.3).to_vector();
  manual_seed(99);
  CHECK(d1 == dropout(x, 0.3).to_vector());
}

GRADCHECKED_OPS("dropout");
TEST_CASE("dropout backward uses the saved mask; gradcheck with a re-seeded generator") {
  Generator gen(5);
  Tensor x = randn({4, 6}, &gen).requires_grad_();
  Generator mask_gen(77);
  Tensor y = dropout(x, 0.4, true, &mask_gen);
  CHECK(y.grad_fn_name() == "dropout");
  Tensor g = randn({4, 6}, &gen);
  y.backward(g);
  // dx = g * y / x elementwise: the same mask as the forward.
  for (int64_t i = 0; i < x.numel(); ++i)
    CHECK(x.grad().data()[i] == doctest::Approx(g.data()[i] * y.data()[i] / x.data()[i]).epsilon(1e-5));

  // Tolerance: h = 1e-3, atol = 1e-3, rtol = 1e-2 (the defaults). The function re-seeds
  // its generator, so every evaluation draws the same mask.
  for (double p : {0.3, 0.7}) {
    expect_gradcheck(
        [p](const std::vector<Tensor>& in) {
          Generator fixed(2024);
          return dropout(in[0], p, true, &fixed);
        },
        {x}, {}, "dropout p " + std::to_string(p));
  }
  check_error([&] { dropout(x, -0.1); }, "dropout", {"-0.1", "[4, 6]"});
  check_error([&] { dropout(x, 1.5); }, "dropout", {"1.5", "[4, 6]"});
}
