// batch_norm, instance_norm, rms_norm and conv1d: forward against naive double-precision
// loops, backward by gradcheck (random upstream gradient), argument errors.
//
// gradcheck tolerance: atol 2e-3, rtol 1e-2 with step h = 1e-3 (as tests/ops/test_norm.cpp: a
// normalisation divides by a standard deviation computed in float32, so a central difference
// of the float forward carries ~1e-4 relative noise).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

testing::GradcheckOptions norm_tolerance() {
  testing::GradcheckOptions opt;
  opt.atol = 2e-3;
  opt.rtol = 1e-2;
  return opt;
}

// Naive batch norm over x [N, C, S...] with the given per-channel mean and variance.
std::vector<float> naive_normalise(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& var,
                                   const Tensor& w, const Tensor& b, double eps) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  std::vector<float> y(static_cast<size_t>(x.numel()));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        double v = (x.data()[i] - mean[c]) / std::sqrt(var[c] + eps);
        if (w.defined()) v *= w.data()[c];
        if (b.defined()) v += b.data()[c];
        y[static_cast<size_t>(i)] = static_cast<float>(v);
      }
  return y;
}

// Per-channel mean and biased variance of x [N, C, S...], in double.
void naive_channel_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  mean.assign(static_cast<size_t>(C), 0.0);
  var.assign(static_cast<size_t>(C), 0.0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) mean[c] += x.data()[(n * C + c) * S + s];
    mean[c] /= static_cast<double>(N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) var[c] += std::pow(x.data()[(n * C + c) * S + s] - mean[c], 2);
    var[c] /= static_cast<double>(N * S);
  }
}

}  // namespace

TEST_CASE("batch_norm forward: batch statistics, running update (unbiased var), evaluation") {
  Generator gen(1711);
  for (const Shape& shape : {Shape{4, 3, 5, 6}, Shape{6, 5}, Shape{3, 4, 7}}) {
    INFO("shape ", shape_str(shape));
    const int64_t C = shape[1];
    Tensor x = randn(shape, &gen) * 2.0f + 0.5f;
    Tensor w = randn({C}, &gen), b = randn({C}, &gen);
    Tensor rm = randn({C}, &gen), rv = rand({C}, &gen) + 0.5f;
    const std::vector<float> rm0 = rm.to_vector(), rv0 = rv.to_vector();
    std::vector<double> mean, var;
    naive_channel_stats(x, mean, var);
    const double M = static_cast<double>(x.numel() / C);
    Tensor y = batch_norm(x, rm, rv, w, b, /*training=*/true, 0.25, 1e-4);
    CHECK(relative_error(y.to_vector(), naive_normalise(x, mean, var, w, b, 1e-4)) < 1e-5);
    for (int64_t c = 0; c < C; ++c) {
      CHECK(rm.data()[c] == doctest::Approx(0.75 * rm0[c] + 0.25 * mean[c]).epsilon(1e-5));
      CHECK(rv.data()[c] == doctest::Approx(0.75 * rv0[c] + 0.25 * var[c] * M / (M - 1)).epsilon(1e-5));
    }
    // Evaluation: the running statistics, which stay as they are.
    const std::vector<float> rm1 = rm.to_vector(), rv1 = rv.to_vector();
    Tensor ye = batch_norm(x, rm, rv, w, b, /*training=*/false, 0.25, 1e-4);
    CHECK(relative_error(ye.to_vector(), naive_normalise(x, std::vector<double>(rm1.begin(), rm1.end()),
                                                         std::vector<double>(rv1.begin(), rv1.end()), w, b, 1e-4)) <
          1e-5);
    CHECK(rm.to_vector() == rm1);
    CHECK(rv.to_vector() == rv1);
    // Training without running statistics: the same output, nothing to update.
    CHECK(relative_error(batch_norm(x, Tensor(), Tensor(), w, b, true, 0.25, 1e-4).to_vector(), y.to_vector()) <
          1e-6);
  }
}

GRADCHECKED_OPS("batch_norm");
TEST_CASE("gradcheck: batch_norm in training and evaluation, with and without affine") {
  Generator gen(1712);
  const auto opt = norm_tolerance();
  for (const Shape& shape : {Shape{3, 2, 2, 3}, Shape{5, 3}, Shape{2, 3, 4}}) {
    const int64_t C = shape[1];
    Tensor x = (randn(shape, &gen) * 1.5f).requires_grad_();
    Tensor w = randn({C}, &gen).requires_grad_(), b = randn({C}, &gen).requires_grad_();
    Tensor rm = randn({C}, &gen), rv = rand({C}, &gen) + 0.5f;
    const std::string s = " " + shape_str(shape);
    expect_gradcheck([](const std::vector<Tensor>& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); },
                    {x, w, b}, opt, "batch_norm training" + s);
    expect_gradcheck([](const std::vector<Tensor>& v) { return batch_norm(v[0], Tensor(), Tensor(), {}, {}, true); },
                    {x}, opt, "batch_norm training, no affine" + s);
    expect_gradcheck([rm, rv](const std::vector<Tensor>& v) { return batch_norm(v[0], rm, rv, v[1], v[2], false); },
                    {x, w, b}, opt, "batch_norm evaluation" + s);
  }
}

TEST_CASE("batch_norm errors name the op and what was wrong") {
  Tensor x = zeros({2, 3, 4}), rm = zeros({3}), rv = ones({3});
  check_error([] { batch_norm(zeros({3}), Tensor(), Tensor(), {}, {}, true); }, "batch_norm", {"[N, C, *]", "[3]"});
  check_error([&] { batch_norm(x, Tensor(), Tensor()); }, "batch_norm", {"evaluation", "running_mean"});
  check_error([&] { batch_norm(x, rm, Tensor(), {}, {}, true); }, "batch_norm", {"both be given"});
  check_error([&] { batch_norm(x, zeros({4}), rv); }, "batch_norm", {"running_mean of shape [4]", "[3]"});
  check_error([&] { batch_norm(x, rm, rv, ones({2})); }, "batch_norm", {"weight of shape [2]", "[3]"});
  check_error([&] { batch_norm(x, rm, rv, {}, zeros({3, 1})); }, "batch_norm", {"bias of shape [3, 1]"});
  check_error([&] { batch_norm(x, rm, rv, {}, {}, true, 1.5); }, "batch_norm", {"momentum", "1.5"});
  check_error([&] { batch_norm(x, rm, rv, {}, {}, true, 0.1, -1.0); }, "batch_norm", {"eps", "-1"});
  check_error([] { batch_norm(zeros({1, 3}), Tensor(), Tensor(), {}, {}, true); }, "batch_norm",
              {"more than 1 value per channel", "[1, 3]"});
}

TEST_CASE("instance_norm: each plane normalised; running statistics averaged over the batch") {
  Generator gen(1713);
  Tensor x = randn({2, 3, 4, 5}, &gen) * 2.0f + 1.0f;
  Tensor w = randn({3}, &gen), b = randn({3}, &gen);
  // Forward: group_norm with one group per channel.
  CHECK(relative_error(instance_norm(x, Tensor(), Tensor(), w, b).to_vector(),
                       group_norm(x, 3, w, b).to_vector()) < 1e-6);
  // With running statistics: the same output, and each channel's running statistics move
  // towards the batch average of its planes' mean and unbiased variance.
  Tensor rm = zeros({3}), rv = ones({3});
  Tensor y = instance_norm(x, rm, rv, w, b, true, 0.5);
  CHECK(relative_error(y.to_vector(), group_norm(x, 3, w, b).to_vector()) < 1e-5);
  for (int64_t c = 0; c < 3; ++c) {
    double m = 0.0, v = 0.0;
    for (int64_t n = 0; n < 2; ++n) {
      double pm = 0.0, pv = 0.0;
      for (int64_t s = 0; s < 20; ++s) pm += x.data()[(n * 3 + c) * 20 + s];
      pm /= 20;
      for (int64_t s = 0; s < 20; ++s) pv += std::pow(x.data()[(n * 3 + c) * 20 + s] - pm, 2);
      m += pm / 2;
      v += pv / 19 / 2;
    }
    CHECK(rm.data()[c] == doctest::Approx(0.5 * m).epsilon(1e-5));
    CHECK(rv.data()[c] == doctest::Approx(0.5 + 0.5 * v).epsilon(1e-5));
  }
  // Evaluation with the running statistics.
  Tensor ye = instance_norm(x, rm, rv, w, b, false);
  std::vector<double> mean(3), var(3);
  for (int64_t c = 0; c < 3; ++c) mean[c] = rm.data()[c], var[c] = rv.data()[c];
  CHECK(relative_error(ye.to_vector(), naive_normalise(x, mean, var, w, b, 1e-5)) < 1e-5);

  check_error([] { instance_norm(zeros({2, 3})); }, "instance_norm", {"at least one spatial dim", "[2, 3]"});
  check_error([&] { instance_norm(x, Tensor(), Tensor(), {}, {}, false); }, "instance_norm", {"use_input_stats"});
  check_error([&] { instance_norm(x, zeros({2}), ones({2})); }, "instance_norm", {"running_mean of shape [2]"});
}

GRADCHECKED_OPS("instance_norm");
TEST_CASE("gradcheck: instance_norm with and without running statistics") {
  Generator gen(1714);
  const auto opt = norm_tolerance();
  Tensor x = randn({2, 3, 2, 3}, &gen).requires_grad_();
  Tensor w = randn({3}, &gen).requires_grad_(), b = randn({3}, &gen).requires_grad_();
  Tensor rm = randn({3}, &gen), rv = rand({3}, &gen) + 0.5f;
  expect_gradcheck([](const std::vector<Tensor>& v) { return instance_norm(v[0], Tensor(), Tensor(), v[1], v[2]); },
                  {x, w, b}, opt, "instance_norm");
  expect_gradcheck([rm, rv](const std::vector<Tensor>& v) { return instance_norm(v[0], rm, rv, v[1], v[2], true); },
                  {x, w, b}, opt, "instance_norm, running statistics updated");
  expect_gradcheck([rm, rv](const std::vector<Tensor>& v) { return instance_norm(v[0], rm, rv, v[1], v[2], false); },
                  {x, w, b}, opt, "instance_norm with the running statistics");
}

TEST_CASE("rms_norm forward against a naive loop; eps defaults to float32's epsilon") {
  Generator gen(1715);
  Tensor x = randn({3, 2, 4}, &gen), w = randn({2, 4}, &gen);
  for (const auto& [eps, eps_value] : {std::pair<std::optional<double>, double>{std::nullopt, 1.1920928955078125e-07},
                                       std::pair<std::optional<double>, double>{0.5, 0.5}}) {
    Tensor y = rms_norm(x, {2, 4}, w, eps);
    std::vector<float> expected(24);
    for (int64_t r = 0; r < 3; ++r) {
      double sq = 0.0;
      for (int64_t i = 0; i < 8; ++i) sq += std::pow(x.data()[r * 8 + i], 2);
      const double rrms = 1.0 / std::sqrt(sq / 8 + eps_value);
      for (int64_t i = 0; i < 8; ++i) expected[r * 8 + i] = static_cast<float>(x.data()[r * 8 + i] * rrms * w.data()[i]);
    }
    CHECK(relative_error(y.to_vector(), expected) < 1e-6);
  }
  // The default eps matters near zero: an all-zero row stays zero instead of NaN.
  for (float v : rms_norm(zeros({2, 3}), {3}).to_vector()) CHECK(v == 0.0f);
  check_error([&] { rms_norm(x, {4, 2}); }, "rms_norm", {"normalized_shape [4, 2]", "[3, 2, 4]"});
  check_error([&] { rms_norm(x, {}); }, "rms_norm", {"non-empty"});
  check_error([&] { rms_norm(x, {4}, ones({3})); }, "rms_norm", {"weight of shape [3]", "[4]"});
  check_error([&] { rms_norm(x, {4}, {}, -0.1); }, "rms_norm", {"eps", "-0.1"});
}

GRADCHECKED_OPS("rms_norm");
TEST_CASE("gradcheck: rms_norm with and without weight") {
  Generator gen(1716);
  const auto opt = norm_tolerance();
  Tensor x = randn({3, 5}, &gen).requires_grad_(), w = randn({5}, &gen).requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& v) { return rms_norm(v[0], {5}, v[1]); }, {x, w}, opt,
                  "rms_norm [3, 5] weight");
  expect_gradcheck([](const std::vector<Tensor>& v) { return rms_norm(v[0], {5}, Tensor(), 1e-2); }, {x}, opt,
                  "rms_norm [3, 5] no weight, eps 1e-2");
  Tensor x3 = randn({2, 2, 3}, &gen).requires_grad_(), w2 = randn({2, 3}, &gen).requires_grad_();
  expect_gradcheck([](const std::vector<Tensor>& v) { return rms_norm(v[0], {2, 3}, v[1], 1e-5); }, {x3, w2}, opt,
                  "rms_norm [2, 2, 3] over (2, 3)");
}

GRADCHECKED_OPS("conv1d");
TEST_CASE("conv1d forward against a naive loop, and gradcheck") {
  Generator gen(1717);
  struct Config {
    int64_t cin, cout, k, stride, padding, dilation, groups, length;
    bool bias;
  };
  for (const Config& cfg : {Config{4, 6, 3, 1, 1, 1, 1, 9, true}, Config{4, 6, 3, 2, 2, 2, 2, 11, false},
                            Config{3, 3, 1, 1, 0, 1, 3, 5, true}}) {
    const std::string what = "conv1d k" + std::to_string(cfg.k) + " s" + std::to_string(cfg.stride) + " p" +
                             std::to_string(cfg.padding) + " d" + std::to_string(cfg.dilation) + " g" +
                             std::to_string(cfg.groups);
    INFO(what);
    Tensor x = randn({2, cfg.cin, cfg.length}, &gen).requires_grad_();
    Tensor w = randn({cfg.cout, cfg.cin / cfg.groups, cfg.k}, &gen).requires_grad_();
    Tensor b = cfg.bias ? randn({cfg.cout}, &gen).requires_grad_() : Tensor();
    Tensor y = conv1d(x, w, b, cfg.stride, cfg.padding, cfg.dilation, cfg.groups);
    const int64_t L = cfg.length, Lout = (L + 2 * cfg.padding - cfg.dilation * (cfg.k - 1) - 1) / cfg.stride + 1;
    REQUIRE(y.shape() == Shape{2, cfg.cout, Lout});
    const int64_t cin_g = cfg.cin / cfg.groups, cout_g = cfg.cout / cfg.groups;
    std::vector<float> expected;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t o = 0; o < cfg.cout; ++o)
        for (int64_t i = 0; i < Lout; ++i) {
          double acc = cfg.bias ? b.data()[o] : 0.0;
          for (int64_t c = 0; c < cin_g; ++c)
            for (int64_t a = 0; a < cfg.k; ++a) {
              const int64_t pos = i * cfg.stride - cfg.padding + a * cfg.dilation;
              if (pos < 0 || pos >= L) continue;
              const int64_t ci = (o / cout_g) * cin_g + c;
              acc += static_cast<double>(w.data()[(o * cin_g + c) * cfg.k + a]) * x.data()[(n * cfg.cin + ci) * L + pos];
            }
          expected.push_back(static_cast<float>(acc));
        }
    CHECK(relative_error(y.to_vector(), expected) < 1e-5);
    std::vector<Tensor> inputs{x, w};
    if (cfg.bias) inputs.push_back(b);
    expect_gradcheck(
        [cfg](const std::vector<Tensor>& v) {
          return conv1d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), cfg.stride, cfg.padding, cfg.dilation, cfg.groups);
        },
        inputs, {}, what);
  }
  check_error([] { conv1d(zeros({1, 2, 5}), zeros({3, 2, 3, 1})); }, "conv1d", {"weight of shape", "[3, 2, 3, 1]"});
  check_error([] { conv1d(zeros({1, 2, 5}), zeros({3, 2, 3}), {}, 0); }, "conv1d", {"stride 0"});
}
