// group_norm and layer_norm: forward against naive per-group loops, backward by
// gradcheck (random upstream gradient) and against the same norm composed from
// autograd primitives, argument errors.
#include <doctest/doctest.h>

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

// Naive group norm: for each (n, group) a double-precision mean and biased variance
// over its channels and spatial positions, then the per-channel affine.
Tensor reference_group_norm(const Tensor& x, int64_t G, const Tensor& w, const Tensor& b, double eps) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C), Cg = C / G;
  Tensor y = Tensor::empty(x.shape());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t grp = 0; grp < G; ++grp) {
      double sum = 0.0, sq = 0.0;
      for (int64_t c = grp * Cg; c < (grp + 1) * Cg; ++c)
        for (int64_t s = 0; s < S; ++s) sum += x.data()[(n * C + c) * S + s];
      const double mean = sum / double(Cg * S);
      for (int64_t c = grp * Cg; c < (grp + 1) * Cg; ++c)
        for (int64_t s = 0; s < S; ++s) {
          const double d = x.data()[(n * C + c) * S + s] - mean;
          sq += d * d;
        }
      const double var = sq / double(Cg * S);
      for (int64_t c = grp * Cg; c < (grp + 1) * Cg; ++c)
        for (int64_t s = 0; s < S; ++s) {
          const int64_t i = (n * C + c) * S + s;
          double v = (x.data()[i] - mean) / std::sqrt(var + eps);
          if (w.defined()) v *= w.data()[c];
          if (b.defined()) v += b.data()[c];
          y.data()[i] = float(v);
        }
    }
  return y;
}

// Naive layer norm over the last `k` dims (D = their product).
Tensor reference_layer_norm(const Tensor& x, int64_t D, const Tensor& w, const Tensor& b, double eps) {
  Tensor y = Tensor::empty(x.shape());
  for (int64_t r = 0; r < x.numel() / D; ++r) {
    const float* row = x.data() + r * D;
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < D; ++i) sum += row[i];
    const double mean = sum / double(D);
    for (int64_t i = 0; i < D; ++i) sq += (row[i] - mean) * (row[i] - mean);
    const double rstd = 1.0 / std::sqrt(sq / double(D) + eps);
    for (int64_t i = 0; i < D; ++i) {
      double v = (row[i] - mean) * rstd;
      if (w.defined()) v *= w.data()[i];
      if (b.defined()) v += b.data()[i];
      y.data()[r * D + i] = float(v);
    }
  }
  return y;
}

// Group norm built from autograd primitives (reshape, mean, sub, sqrt, ...): an
// independent route to the gradients of the hand-written backward.
Tensor composed_group_norm(const Tensor& x, int64_t G, const Tensor& w, const Tensor& b, double eps) {
  const Shape s = x.shape();
  Tensor xg = x.reshape({s[0], G, -1});
  Tensor d = xg - xg.mean({2}, true);
  Tensor var = (d * d).mean({2}, true);
  Tensor y = (d / (var + float(eps)).sqrt()).reshape(s);
  Shape ps(s.size(), 1);
  ps[1] = s[1];
  if (w.defined()) y = y * w.reshape(ps);
  if (b.defined()) y = y + b.reshape(ps);
  return y;
}

// Layer norm over the last `k` dims composed from autograd primitives.
Tensor composed_layer_norm(const Tensor& x, int64_t k, const Tensor& w, const Tensor& b, double eps) {
  std::vector<int64_t> dims;
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) dims.push_back(d);
  Tensor d = x - x.mean(dims, true);
  Tensor y = d / ((d * d).mean(dims, true) + float(eps)).sqrt();
  if (w.defined()) y = y * w;
  if (b.defined()) y = y + b;
  return y;
}

}  // namespace

TEST_CASE("group_norm forward matches a naive per-group loop") {
  Generator gen(11);
  const std::vector<Shape> shapes = {{2, 6, 3, 4}, {3, 6, 5}, {2, 6}, {1, 6, 1, 1}};
  for (const Shape& shape : shapes)
    for (int64_t G : {1, 2, 3, 6})
      for (bool affine : {false, true}) {
        INFO("shape ", shape_str(shape), " groups ", G, " affine ", affine);
        Tensor x = randn(shape, &gen) * 2.0f + 0.5f;
        Tensor w = affine ? randn({6}, &gen) : Tensor();
        Tensor b = affine ? randn({6}, &gen) : Tensor();
        check_close(group_norm(x, G, w, b), reference_group_norm(x, G, w, b, 1e-5), 2e-5, 2e-5);
        check_close(group_norm(x, G, w, b, 0.1), reference_group_norm(x, G, w, b, 0.1), 2e-5, 2e-5);
      }
  // A tensor big enough for the parallel path, with a large common offset (the
  // variance is computed around the mean, so the offset costs no precision).
  Tensor x = randn({4, 32, 9, 9}, &gen) + 100.0f;
  Tensor w = randn({32}, &gen), b = randn({32}, &gen);
  check_close(group_norm(x, 8, w, b), reference_group_norm(x, 8, w, b, 1e-5), 2e-4, 1e-4);
  // Each normalised group has mean 0 and (biased) variance 1 without affine.
  Tensor y = group_norm(randn({2, 4, 5, 5}, &gen) * 3.0f, 2);
  for (int64_t ng = 0; ng < 4; ++ng) {
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < 50; ++i) sum += y.data()[ng * 50 + i];
    for (int64_t i = 0; i < 50; ++i) sq += std::pow(y.data()[ng * 50 + i] - sum / 50.0, 2);
    CHECK(std::fabs(sum / 50.0) < 1e-5);
    CHECK(sq / 50.0 == doctest::Approx(1.0).epsilon(1e-4));
  }
}

GRADCHECKED_OPS("group_norm");
TEST_CASE("group_norm gradcheck: groups 1, 2 and C, with and without affine, [N,C,H,W] and [N,C,L]") {
  // Tolerance: h = 1e-3, atol = 2e-3, rtol = 1e-2 (float32 forward, outputs of order 1).
  testing::GradcheckOptions opt;
  opt.atol = 2e-3;
  opt.rtol = 1e-2;
  Generator gen(5);
  const std::vector<Shape> shapes = {{2, 4, 3, 3}, {2, 4, 5}};
  for (const Shape& shape : shapes)
    for (int64_t G : {1, 2, 4})
      for (bool affine : {false, true}) {
        Tensor x = randn(shape, &gen).requires_grad_();
        Tensor w = affine ? (randn({4}, &gen) + 1.0f).requires_grad_() : Tensor();
        Tensor b = affine ? randn({4}, &gen).requires_grad_() : Tensor();
        expect_gradcheck([G](const std::vector<Tensor>& in) { return group_norm(in[0], G, in[1], in[2]); },
                        {x, w, b}, opt,
                        "group_norm " + shape_str(shape) + " groups " + std::to_string(G) + (affine ? " affine" : ""));
      }
  // Only a weight, only a bias, and a non-default eps.
  Tensor x = randn({2, 4, 3}, &gen).requires_grad_();
  Tensor w = randn({4}, &gen).requires_grad_(), b = randn({4}, &gen).requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& in) { return group_norm(in[0], 2, in[1]); }, {x, w}, opt,
                  "group_norm weight only");
  expect_gradcheck([](const std::vector<Tensor>& in) { return group_norm(in[0], 2, Tensor(), in[1], 0.5); }, {x, b},
                  opt, "group_norm bias only, eps 0.5");
}

TEST_CASE("group_norm backward matches the norm composed from autograd primitives (parallel path)") {
  Generator gen(9);
  for (int64_t G : {1, 8, 32}) {
    INFO("groups ", G);
    Tensor x = randn({4, 32, 8, 8}, &gen);
    Tensor w = randn({32}, &gen), b = randn({32}, &gen);
    Tensor g = randn(x.shape(), &gen);
    Tensor x1 = x.clone().requires_grad_(), w1 = w.clone().requires_grad_(), b1 = b.clone().requires_grad_();
    Tensor x2 = x.clone().requires_grad_(), w2 = w.clone().requires_grad_(), b2 = b.clone().requires_grad_();
    Tensor y1 = group_norm(x1, G, w1, b1);
    CHECK(y1.grad_fn_name() == "group_norm");
    y1.backward(g);
    composed_group_norm(x2, G, w2, b2, 1e-5).backward(g);
    check_close(x1.grad(), x2.grad(), 1e-4, 1e-3);
    check_close(w1.grad(), w2.grad(), 1e-3, 1e-3);
    check_close(b1.grad(), b2.grad(), 1e-3, 1e-4);
  }
}

TEST_CASE("group_norm gradient is invariant to a per-group offset (centred backward)") {
  Generator gen(3);
  Tensor x = randn({2, 4, 6, 6}, &gen), w = randn({4}, &gen), g = randn(x.shape(), &gen);
  Tensor a = x.clone().requires_grad_(), c = (x + 50.0f).requires_grad_();
  group_norm(a, 2, w).backward(g);
  group_norm(c, 2, w).backward(g);
  check_close(c.grad(), a.grad(), 2e-3, 1e-2);
}

TEST_CASE("group_norm computes only the needed gradients and records nothing under NoGradGuard") {
  Generator gen(4);
  Tensor x = randn({2, 4, 3}, &gen).requires_grad_();
  Tensor w = randn({4}, &gen), b = randn({4}, &gen).requires_grad_();
  group_norm(x, 2, w, b).backward(randn({2, 4, 3}, &gen));
  CHECK(x.grad().defined());
  CHECK(!w.grad().defined());
  CHECK(b.grad().defined());
  CHECK(b.grad().shape() == Shape{4});
  NoGradGuard guard;
  CHECK(!group_norm(x, 2, w, b).requires_grad());
}

GRADCHECKED_OPS("layer_norm");
TEST_CASE("layer_norm forward matches a naive loop; gradcheck over the last 1 and 2 dims") {
  Generator gen(21);
  // Tolerance: h = 1e-3, atol = 2e-3, rtol = 1e-2.
  testing::GradcheckOptions opt;
  opt.atol = 2e-3;
  opt.rtol = 1e-2;
  struct Case {
    Shape x, normalized;
  };
  const std::vector<Case> cases = {{{3, 5}, {5}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 4}}, {{6}, {6}}};
  for (const Case& cs : cases)
    for (bool affine : {false, true}) {
      const std::string what = "layer_norm " + shape_str(cs.x) + " over " + shape_str(cs.normalized) +
                                (affine ? " affine" : "");
      INFO(what);
      Tensor x = randn(cs.x, &gen) * 1.5f - 0.3f;
      Tensor w = affine ? randn(cs.normalized, &gen) + 1.0f : Tensor();
      Tensor b = affine ? randn(cs.normalized, &gen) : Tensor();
      check_close(layer_norm(x, cs.normalized, w, b), reference_layer_norm(x, shape_numel(cs.normalized), w, b, 1e-5),
                  2e-5, 2e-5);
      if (w.defined()) w.requires_grad_();
      if (b.defined()) b.requires_grad_();
      Shape ns = cs.normalized;
      expect_gradcheck([ns](const std::vector<Tensor>& in) { return layer_norm(in[0], ns, in[1], in[2]); },
                      {x.requires_grad_(), w, b}, opt, what);
    }
  // The weight gradient has the normalised shape.
  Tensor x = randn({2, 3, 4}, &gen).requires_grad_();
  Tensor w = ones({3, 4}).requires_grad_(), b = zeros({3, 4}).requires_grad_();
  Tensor y = layer_norm(x, {3, 4}, w, b);
  CHECK(y.grad_fn_name() == "layer_norm");
  y.backward(randn(y.shape(), &gen));
  CHECK(w.grad().shape() == Shape{3, 4});
  CHECK(b.grad().shape() == Shape{3, 4});
}

TEST_CASE("group_norm and layer_norm argument errors name the op and the shapes") {
  Tensor x = randn({2, 6, 4});
  check_error([&] { group_norm(randn({6}), 2); }, "group_norm", {"[6]"});
  check_error([&] { group_norm(x, 4); }, "group_norm", {"num_groups 4", "[2, 6, 4]"});
  check_error([&] { group_norm(x, 0); }, "group_norm", {"num_groups 0", "[2, 6, 4]"});
  check_error([&] { group_norm(x, 2, ones({4})); }, "group_norm", {"weight", "[4]", "[6]", "[2, 6, 4]"});
  check_error([&] { group_norm(x, 2, ones({6}), ones({6, 1})); }, "group_norm", {"bias", "[6, 1]", "[2, 6, 4]"});
  check_error([&] { layer_norm(x, {6}); }, "layer_norm", {"[6]", "[2, 6, 4]"});
  check_error([&] { layer_norm(x, {}); }, "layer_norm", {"[]", "[2, 6, 4]"});
  check_error([&] { layer_norm(x, {2, 6, 4, 1}); }, "layer_norm", {"[2, 6, 4, 1]"});
  check_error([&] { layer_norm(x, {6, 4}, ones({24})); }, "layer_norm", {"weight", "[24]", "[6, 4]"});
  check_error([&] { layer_norm(x, {4}, Tensor(), ones({3})); }, "layer_norm", {"bias", "[3]", "[4]"});
}

TEST_CASE("layer_norm backward matches the norm composed from autograd primitives (parallel path)") {
  Generator gen(23);
  for (int64_t k : {1, 2}) {
    INFO("normalised dims ", k);
    Tensor x = randn({128, 4, 64}, &gen) * 2.0f + 1.0f;
    const Shape ns = k == 1 ? Shape{64} : Shape{4, 64};
    Tensor w = randn(ns, &gen), b = randn(ns, &gen);
    Tensor g = randn(x.shape(), &gen);
    Tensor x1 = x.clone().requires_grad_(), w1 = w.clone().requires_grad_(), b1 = b.clone().requires_grad_();
    Tensor x2 = x.clone().requires_grad_(), w2 = w.clone().requires_grad_(), b2 = b.clone().requires_grad_();
    Tensor y1 = layer_norm(x1, ns, w1, b1), y2 = composed_layer_norm(x2, k, w2, b2, 1e-5);
    check_close(y1, y2, 1e-5, 1e-5);
    y1.backward(g);
    y2.backward(g);
    check_close(x1.grad(), x2.grad(), 1e-4, 1e-3);
    check_close(w1.grad(), w2.grad(), 1e-3, 1e-3);
    check_close(b1.grad(), b2.grad(), 1e-3, 1e-4);
  }
}
