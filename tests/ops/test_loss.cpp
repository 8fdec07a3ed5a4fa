// The losses of ops/loss_classification.hpp and ops/loss_pointwise.hpp (nll_loss, cross_entropy
// with index and probability targets, binary_cross_entropy(_with_logits), l1, smooth_l1, huber,
// kl_div) and their nn:: modules: forward values against plain loops written from PyTorch's
// documented formulas, gradcheck for every reduction (a random upstream gradient), and errors.
// (Parity with PyTorch itself: tests/parity/test_parity_losses.cpp.)
//
// gradcheck tolerance: the defaults (h = 1e-3, |a - n| <= 1e-3 + 1e-2 |n|); inputs stay at least
// 0.1 away from the kinks (|x - t| = 0, = beta, = delta) and probabilities in [0.1, 0.9]. The
// softmax-based losses (cross_entropy) use h = 1e-2, as "cross_entropy gradcheck ..." below: their
// float32 log_softmax rounds the summed loss (~10) by ~1e-6, too much against 2h = 2e-3.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ops/gradchecked.hpp"
#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

testing::GradcheckOptions softmax_step() {
  testing::GradcheckOptions o;
  o.eps = 1e-2;
  return o;
}
const testing::GradcheckOptions kSoftmaxStep = softmax_step();

const Reduction kReductions[] = {Reduction::None, Reduction::Mean, Reduction::Sum};

std::string name_of(Reduction r) { return r == Reduction::None ? "none" : r == Reduction::Mean ? "mean" : "sum"; }

// N(0, 1) values moved at least `gap` away from 0 (for differences that must avoid a kink).
Tensor away_from_zero(const Shape& shape, Generator& gen, float gap) {
  Tensor t = randn(shape, &gen);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float& v = t.data()[i];
    if (std::fabs(v) < gap) v = v < 0 ? -gap - v : gap + v;
  }
  return t;
}

Tensor uniform_in(const Shape& shape, Generator& gen, float lo, float hi) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = lo + (hi - lo) * gen.uniform();
  return t;
}

// sum / mean / the values themselves, as the reduction asks.
double reduce(const std::vector<double>& l, Reduction r, double divisor) {
  double total = 0.0;
  for (double v : l) total += v;
  return r == Reduction::Mean ? total / divisor : total;
}

void check_values(const Tensor& y, const std::vector<double>& l, Reduction r, double divisor, const std::string& what) {
  INFO(what, " reduction ", name_of(r));
  if (r == Reduction::None) {
    REQUIRE(y.numel() == static_cast<int64_t>(l.size()));
    for (size_t i = 0; i < l.size(); ++i) CHECK(y.data()[i] == doctest::Approx(l[i]).epsilon(1e-5));
  } else {
    CHECK(y.dim() == 0);
    CHECK(y.item() == doctest::Approx(reduce(l, r, divisor)).epsilon(1e-5));
  }
}

// log_softmax along dim 1 of [N, C, S] at (n, c, s), in double.
double log_softmax_at(const Tensor& x, int64_t n, int64_t c, int64_t s) {
  const int64_t C = x.size(1), S = x.numel() / (x.size(0) * C);
  double m = -INFINITY, z = 0.0;
  for (int64_t k = 0; k < C; ++k) m = std::max(m, static_cast<double>(x.data()[(n * C + k) * S + s]));
  for (int64_t k = 0; k < C; ++k) z += std::exp(x.data()[(n * C + k) * S + s] - m);
  return x.data()[(n * C + c) * S + s] - m - std::log(z);
}

}  // namespace

TEST_CASE("l1, smooth_l1 and huber losses: values against their formulas") {
  Generator gen(101);
  Tensor x = randn({3, 4}, &gen) * 2.0f, t = randn({3, 4}, &gen);
  for (Reduction r : kReductions) {
    std::vector<double> l1, sl1, hub;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double d = x.data()[i] - t.data()[i], ad = std::fabs(d);
      l1.push_back(ad);
      sl1.push_back(ad < 0.5 ? 0.5 * d * d / 0.5 : ad - 0.25);  // beta = 0.5
      hub.push_back(ad < 1.5 ? 0.5 * d * d : 1.5 * (ad - 0.75));  // delta = 1.5
    }
    check_values(l1_loss(x, t, r), l1, r, 12, "l1_loss");
    check_values(smooth_l1_loss(x, t, r, 0.5), sl1, r, 12, "smooth_l1_loss");
    check_values(huber_loss(x, t, r, 1.5), hub, r, 12, "huber_loss");
  }
  // smooth_l1 with beta = 0 is l1; huber(delta) = delta * smooth_l1(beta = delta).
  CHECK(smooth_l1_loss(x, t, Reduction::Sum, 0.0).item() == doctest::Approx(l1_loss(x, t, Reduction::Sum).item()));
  CHECK(huber_loss(x, t, Reduction::Sum, 0.7).item() ==
        doctest::Approx(0.7 * smooth_l1_loss(x, t, Reduction::Sum, 0.7).item()).epsilon(1e-5));
}

GRADCHECKED_OPS("l1_loss", "smooth_l1_loss", "huber_loss");
TEST_CASE("gradcheck: l1, smooth_l1, huber for every reduction, input and target") {
  Generator gen(102);
  Tensor t = randn({3, 5}, &gen);
  // x = t + d with |d| away from 0 and from beta = delta = 1 (the kinks).
  Tensor d = away_from_zero({3, 5}, gen, 0.1f);
  for (int64_t i = 0; i < d.numel(); ++i)
    if (std::fabs(std::fabs(d.data()[i]) - 1.0f) < 0.1f) d.data()[i] *= 1.3f;
  Tensor x = (t + d).detach().requires_grad_();
  Tensor tg = t.clone().requires_grad_();
  for (Reduction r : kReductions) {
    expect_gradcheck([r](const std::vector<Tensor>& v) { return l1_loss(v[0], v[1], r); }, {x, tg}, {},
                    "l1_loss " + name_of(r));
    expect_gradcheck([r](const std::vector<Tensor>& v) { return smooth_l1_loss(v[0], v[1], r); }, {x, tg}, {},
                    "smooth_l1_loss " + name_of(r));
    expect_gradcheck([r](const std::vector<Tensor>& v) { return huber_loss(v[0], v[1], r, 1.0); }, {x, tg}, {},
                    "huber_loss " + name_of(r));
  }
}

GRADCHECKED_OPS("binary_cross_entropy");
TEST_CASE("binary_cross_entropy: values, weights, PyTorch's clamp at log = -100, gradcheck") {
  Generator gen(103);
  Tensor p = uniform_in({4, 3}, gen, 0.1f, 0.9f), t = uniform_in({4, 3}, gen, 0.0f, 1.0f);
  Tensor w = uniform_in({3}, gen, 0.5f, 2.0f);  // broadcast along the rows
  for (Reduction r : kReductions) {
    std::vector<double> plain, weighted;
    for (int64_t i = 0; i < p.numel(); ++i) {
      const double pi = p.data()[i], ti = t.data()[i];
      const double l = -(ti * std::log(pi) + (1 - ti) * std::log(1 - pi));
      plain.push_back(l);
      weighted.push_back(w.data()[i % 3] * l);
    }
    check_values(binary_cross_entropy(p, t, Tensor(), r), plain, r, 12, "bce");
    check_values(binary_cross_entropy(p, t, w, r), weighted, r, 12, "bce weighted");
    Tensor pg = p.clone().requires_grad_(), tg = t.clone().requires_grad_();
    expect_gradcheck([r, w](const std::vector<Tensor>& v) { return binary_cross_entropy(v[0], v[1], w, r); }, {pg, tg},
                    {}, "bce " + name_of(r));
  }
  // p = 0 with t = 1 and p = 1 with t = 0: log clamped at -100, not inf.
  Tensor edge = binary_cross_entropy(tensor({0.0f, 1.0f}, {2}), tensor({1.0f, 0.0f}, {2}),
                                     Tensor(), Reduction::None);
  CHECK(edge.data()[0] == doctest::Approx(100.0));
  CHECK(edge.data()[1] == doctest::Approx(100.0));
}

GRADCHECKED_OPS("binary_cross_entropy_with_logits");
TEST_CASE("binary_cross_entropy_with_logits: equals bce(sigmoid(x)), stable for large |x|, pos_weight, gradcheck") {
  Generator gen(104);
  Tensor x = randn({4, 3}, &gen) * 2.0f, t = uniform_in({4, 3}, gen, 0.0f, 1.0f);
  Tensor w = uniform_in({4, 1}, gen, 0.5f, 2.0f), pw = uniform_in({3}, gen, 0.5f, 3.0f);
  for (Reduction r : kReductions) {
    std::vector<double> expected;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(x.data()[i]))), ti = t.data()[i];
      expected.push_back(w.data()[i / 3] * -(pw.data()[i % 3] * ti * std::log(s) + (1 - ti) * std::log(1 - s)));
    }
    check_values(binary_cross_entropy_with_logits(x, t, w, pw, r), expected, r, 12, "bce_with_logits");
    Tensor xg = x.clone().requires_grad_(), tg = t.clone().requires_grad_();
    expect_gradcheck(
        [r, w, pw](const std::vector<Tensor>& v) { return binary_cross_entropy_with_logits(v[0], v[1], w, pw, r); },
        {xg, tg}, {}, "bce_with_logits " + name_of(r));
    expect_gradcheck([r](const std::vector<Tensor>& v) { return binary_cross_entropy_with_logits(v[0], v[1], {}, {}, r); },
                    {xg, tg}, {}, "bce_with_logits unweighted " + name_of(r));
  }
  // |x| = 200: exp overflows a naive formula; here the loss is |x| or ~0 and the gradient finite.
  Tensor big = tensor({200.0f, -200.0f, 200.0f, -200.0f}, {4}).requires_grad_();
  Tensor l = binary_cross_entropy_with_logits(big, tensor({0.0f, 1.0f, 1.0f, 0.0f}, {4}), {}, {},
                                              Reduction::None);
  CHECK(l.data()[0] == doctest::Approx(200.0));
  CHECK(l.data()[1] == doctest::Approx(200.0));
  CHECK(l.data()[2] == doctest::Approx(0.0));
  CHECK(l.data()[3] == doctest::Approx(0.0));
  sum(l).backward();
  const std::vector<float> expected_grad{1.0f, -1.0f, 0.0f, 0.0f};
  for (int i = 0; i < 4; ++i) CHECK(big.grad().data()[i] == doctest::Approx(expected_grad[i]));
}

GRADCHECKED_OPS("kl_div");
TEST_CASE("kl_div: values for each reduction (batchmean too) and log_target, gradcheck") {
  Generator gen(105);
  Tensor x = log_softmax(randn({3, 4}, &gen), 1);
  Tensor t = softmax(randn({3, 4}, &gen), 1);
  t.data()[5] = 0.0f;  // t = 0 contributes 0 (t log t -> 0)
  std::vector<double> plain, logt;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double xi = x.data()[i], ti = t.data()[i];
    plain.push_back(ti > 0 ? ti * (std::log(ti) - xi) : 0.0);
    logt.push_back(std::exp(ti) * (ti - xi));
  }
  for (Reduction r : kReductions) {
    check_values(kl_div(x, t, r), plain, r, 12, "kl_div");
    check_values(kl_div(x, t, r, /*log_target=*/true), logt, r, 12, "kl_div log_target");
  }
  CHECK(kl_div(x, t, "batchmean").item() == doctest::Approx(reduce(plain, Reduction::Sum, 1) / 3).epsilon(1e-5));
  CHECK(kl_div(x, t, "batchmean", true).item() == doctest::Approx(reduce(logt, Reduction::Sum, 1) / 3).epsilon(1e-5));

  Tensor xg = x.clone().requires_grad_();
  Tensor tpos = softmax(randn({3, 4}, &gen), 1).requires_grad_();  // t > 0: log t is smooth
  Tensor tlog = randn({3, 4}, &gen).requires_grad_();
  for (const char* r : {"none", "sum", "mean", "batchmean"}) {
    const std::string rs = r;
    expect_gradcheck([rs](const std::vector<Tensor>& v) { return kl_div(v[0], v[1], rs); }, {xg, tpos}, {},
                    "kl_div " + rs);
    expect_gradcheck([rs](const std::vector<Tensor>& v) { return kl_div(v[0], v[1], rs, true); }, {xg, tlog}, {},
                    "kl_div log_target " + rs);
  }
}

GRADCHECKED_OPS("nll_loss");
TEST_CASE("nll_loss: [N, C] and [N, C, d1, d2], class weights, ignore_index, weighted mean") {
  Generator gen(106);
  Tensor x = randn({3, 4, 2, 2}, &gen);
  Tensor w = uniform_in({4}, gen, 0.5f, 2.0f);
  IndexTensor target({3, 2, 2}, {0, 3, 1, 2, -100, 2, 2, 0, 1, 1, 3, -100});
  for (Reduction r : kReductions) {
    for (bool weighted : {false, true}) {
      std::vector<double> l;
      double wsum = 0.0;
      for (int64_t n = 0; n < 3; ++n)
        for (int64_t s = 0; s < 4; ++s) {
          const int64_t c = target.data[n * 4 + s];
          if (c == -100) {
            l.push_back(0.0);
            continue;
          }
          const double wc = weighted ? w.data()[c] : 1.0;
          l.push_back(-wc * x.data()[(n * 4 + c) * 4 + s]);
          wsum += wc;
        }
      Tensor y = nll_loss(x, target, weighted ? w : Tensor(), -100, r);
      if (r == Reduction::None) CHECK(y.shape() == Shape{3, 2, 2});
      check_values(y, l, r, wsum, std::string("nll_loss ") + (weighted ? "weighted" : ""));
      Tensor xg = x.clone().requires_grad_();
      expect_gradcheck(
          [&target, &w, weighted, r](const std::vector<Tensor>& v) {
            return nll_loss(v[0], target, weighted ? w : Tensor(), -100, r);
          },
          {xg}, {}, "nll_loss " + name_of(r));
    }
  }
  // [N, C] with a custom ignore_index.
  Tensor x2 = randn({4, 3}, &gen);
  IndexTensor t2 = IndexTensor::of({2, 7, 0, 1});
  const double expected = -(x2.data()[2] + x2.data()[6] + x2.data()[10]) / 3.0;
  CHECK(nll_loss(x2, t2, {}, 7).item() == doctest::Approx(expected).epsilon(1e-6));
  // Every target ignored: the weighted mean is 0 / 0 (NaN, as PyTorch); the sum is 0.
  CHECK(std::isnan(nll_loss(x2, IndexTensor::of({7, 7, 7, 7}), {}, 7).item()));
  CHECK(nll_loss(x2, IndexTensor::of({7, 7, 7, 7}), {}, 7, Reduction::Sum).item() == 0.0f);
}

TEST_CASE("cross_entropy with index targets: [N, C, d], weights, ignore_index, label smoothing") {
  Generator gen(107);
  Tensor x = randn({2, 5, 3}, &gen) * 2.0f;
  Tensor w = uniform_in({5}, gen, 0.5f, 2.0f);
  IndexTensor target({2, 3}, {4, 0, -1, 2, 2, 1});
  for (Reduction r : kReductions)
    for (bool weighted : {false, true})
      for (double eps : {0.0, 0.2}) {
        // PyTorch: (1 - eps) nll + eps / C * smooth; smooth_i = -sum_c w_c lp_ic; the mean divides
        // both by the sum of the weights of the targets not ignored (their count without weights).
        std::vector<double> nll, smooth;
        double wsum = 0.0;
        for (int64_t n = 0; n < 2; ++n)
          for (int64_t s = 0; s < 3; ++s) {
            const int64_t c = target.data[n * 3 + s];
            if (c == -1) {
              nll.push_back(0.0), smooth.push_back(0.0);
              continue;
            }
            auto wc = [&](int64_t k) { return weighted ? static_cast<double>(w.data()[k]) : 1.0; };
            nll.push_back(-wc(c) * log_softmax_at(x, n, c, s));
            double sm = 0.0;
            for (int64_t k = 0; k < 5; ++k) sm -= wc(k) * log_softmax_at(x, n, k, s);
            smooth.push_back(sm);
            wsum += wc(c);
          }
        std::vector<double> l;
        for (size_t i = 0; i < nll.size(); ++i) l.push_back((1 - eps) * nll[i] + eps / 5 * smooth[i]);
        Tensor y = cross_entropy(x, target, weighted ? w : Tensor(), -1, r, eps);
        const std::string what = "cross_entropy weighted=" + std::to_string(weighted) + " eps=" + std::to_string(eps);
        if (r == Reduction::Mean) {
          const double expected =
              (1 - eps) * reduce(nll, Reduction::Sum, 1) / wsum + eps / 5 * reduce(smooth, Reduction::Sum, 1) / wsum;
          CHECK(y.item() == doctest::Approx(expected).epsilon(1e-5));
        } else {
          check_values(y, l, r, 1, what);
        }
        Tensor xg = x.clone().requires_grad_();
        expect_gradcheck(
            [&target, &w, weighted, r, eps](const std::vector<Tensor>& v) {
              return cross_entropy(v[0], target, weighted ? w : Tensor(), -1, r, eps);
            },
            {xg}, kSoftmaxStep, what + " " + name_of(r));
      }
  // The std::vector overload and the IndexTensor one agree on [N, C].
  Tensor x2 = randn({4, 3}, &gen);
  CHECK(cross_entropy(x2, std::vector<int64_t>{0, 2, 1, 1}).item() ==
        doctest::Approx(cross_entropy(x2, IndexTensor::of({0, 2, 1, 1})).item()));
}

TEST_CASE("cross_entropy with probability targets: values, one-hot = index targets, gradcheck") {
  Generator gen(108);
  Tensor x = randn({3, 4, 2}, &gen);
  Tensor t = softmax(randn({3, 4, 2}, &gen), 1);
  Tensor w = uniform_in({4}, gen, 0.5f, 2.0f);
  for (Reduction r : kReductions)
    for (double eps : {0.0, 0.1}) {
      std::vector<double> l;
      for (int64_t n = 0; n < 3; ++n)
        for (int64_t s = 0; s < 2; ++s) {
          double v = 0.0;
          for (int64_t c = 0; c < 4; ++c) {
            const double q = (1 - eps) * t.data()[(n * 4 + c) * 2 + s] + eps / 4;
            v -= w.data()[c] * q * log_softmax_at(x, n, c, s);
          }
          l.push_back(v);
        }
      check_values(cross_entropy(x, t, w, r, eps), l, r, 6, "cross_entropy soft eps=" + std::to_string(eps));
      Tensor xg = x.clone().requires_grad_(), tg = t.clone().requires_grad_();
      expect_gradcheck([r, eps, w](const std::vector<Tensor>& v) { return cross_entropy(v[0], v[1], w, r, eps); },
                      {xg, tg}, kSoftmaxStep, "cross_entropy soft " + name_of(r));
    }
  // One-hot probabilities give the index-target loss.
  Tensor x2 = randn({3, 4}, &gen);
  Tensor onehot = zeros({3, 4});
  onehot.data()[1] = onehot.data()[4 + 3] = onehot.data()[8 + 0] = 1.0f;
  CHECK(cross_entropy(x2, onehot).item() == doctest::Approx(cross_entropy(x2, IndexTensor::of({1, 3, 0})).item()));
}

TEST_CASE("loss modules forward to the functional losses with their options") {
  Generator gen(109);
  Tensor x = randn({4, 3}, &gen), t = randn({4, 3}, &gen), p = uniform_in({4, 3}, gen, 0.1f, 0.9f);
  Tensor prob_t = uniform_in({4, 3}, gen, 0.0f, 1.0f), w = uniform_in({3}, gen, 0.5f, 2.0f);
  IndexTensor labels = IndexTensor::of({0, 2, 1, 2});
  auto same = [](const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    for (int64_t i = 0; i < a.numel(); ++i) CHECK(a.data()[i] == b.data()[i]);
  };
  same(nn::MSELoss(Reduction::Sum)(x, t), mse_loss(x, t, Reduction::Sum));
  same(nn::L1Loss(Reduction::None)(x, t), l1_loss(x, t, Reduction::None));
  same(nn::SmoothL1Loss(Reduction::Mean, 0.5)(x, t), smooth_l1_loss(x, t, Reduction::Mean, 0.5));
  same(nn::HuberLoss(Reduction::Sum, 2.0)(x, t), huber_loss(x, t, Reduction::Sum, 2.0));
  same(nn::KLDivLoss("batchmean", true)(x, t), kl_div(x, t, "batchmean", true));
  same(nn::BCELoss(w)(p, prob_t), binary_cross_entropy(p, prob_t, w));
  same(nn::BCEWithLogitsLoss({}, Reduction::Sum, w)(x, prob_t),
       binary_cross_entropy_with_logits(x, prob_t, {}, w, Reduction::Sum));
  same(nn::NLLLoss(w, 1)(x, labels), nll_loss(x, labels, w, 1));
  same(nn::CrossEntropyLoss(w, -100, Reduction::None, 0.1)(x, labels),
       cross_entropy(x, labels, w, -100, Reduction::None, 0.1));
  same(nn::CrossEntropyLoss()(x, prob_t), cross_entropy(x, prob_t));
}

TEST_CASE("loss errors name the loss and what was wrong") {
  Tensor x = randn({3, 4});
  // Class indices out of range name the loss, the position and the value.
  check_error([&] { nll_loss(x, IndexTensor::of({0, 4, 1})); }, "nll_loss", {"target 4", "position [1]", "[0, 4)"});
  check_error([&] { cross_entropy(x, IndexTensor::of({0, 1, -3})); }, "cross_entropy",
              {"target -3", "position [2]", "[0, 4)"});
  check_error([&] { cross_entropy(randn({2, 4, 3}), IndexTensor({2, 3}, {0, 1, 2, 3, 9, 0})); }, "cross_entropy",
              {"target 9", "position [1, 1]"});
  check_error([&] { nll_loss(x, IndexTensor::of({0, 1})); }, "nll_loss", {"target of shape [2]", "[3, 4]", "[3]"});
  check_error([&] { nll_loss(randn({4}), IndexTensor::of({0})); }, "nll_loss", {"[4]"});
  check_error([&] { nll_loss(x, IndexTensor::of({0, 1, 2}), ones({3})); }, "nll_loss", {"weight of shape [3]", "[4]"});
  check_error([&] { nll_loss(zeros({0, 4}), IndexTensor({0}, {})); }, "nll_loss", {"empty", "[0, 4]"});
  check_error([&] { cross_entropy(x, IndexTensor::of({0, 1, 2}), {}, -100, Reduction::Mean, -0.1); },
              "cross_entropy", {"label_smoothing", "-0.1"});
  check_error([&] { cross_entropy(x, randn({3, 5})); }, "cross_entropy", {"[3, 5]", "[3, 4]"});
  check_error([&] { cross_entropy(x, IndexTensor::of({0, 1, 2}), ones({4}).requires_grad_()); }, "cross_entropy",
              {"weight requires grad"});
  // Elementwise losses: shapes, options, the probabilities of bce.
  check_error([&] { l1_loss(x, randn({4, 3})); }, "l1_loss", {"[3, 4]", "[4, 3]"});
  check_error([&] { smooth_l1_loss(x, x, Reduction::Mean, -1.0); }, "smooth_l1_loss", {"beta", "-1"});
  check_error([&] { huber_loss(x, x, Reduction::Mean, 0.0); }, "huber_loss", {"delta", "0"});
  check_error([&] { huber_loss(zeros({0}), zeros({0})); }, "huber_loss", {"empty", "[0]"});
  check_error([&] { binary_cross_entropy(full({2}, 1.5f), full({2}, 1.0f)); }, "binary_cross_entropy",
              {"[0, 1]", "1.5"});
  check_error([&] { binary_cross_entropy(full({2, 3}, 0.5f), full({2, 3}, 1.0f), ones({2})); },
              "binary_cross_entropy", {"weight of shape [2]", "[2, 3]"});
  check_error([&] { binary_cross_entropy_with_logits(x, x, {}, ones({3})); }, "binary_cross_entropy_with_logits",
              {"pos_weight of shape [3]", "[3, 4]"});
  check_error([&] { kl_div(x, x, "batchsum"); }, "kl_div", {"reduction", "'batchsum'"});
  check_error([&] { kl_div(zeros({0, 2}), zeros({0, 2}), "batchmean"); }, "kl_div", {"batchmean", "[0, 2]"});
}

TEST_CASE("mse_loss with Mean, Sum, None") {
  Tensor input = tensor({1, 2, 3, 0.5f}, {2, 2});
  Tensor target = tensor({0, 2, 5, 1}, {2, 2});
  // squared differences: 1, 0, 4, 0.25
  check_values(mse_loss(input, target), {}, {5.25f / 4.0f});
  check_values(mse_loss(input, target, Reduction::Mean), {}, {5.25f / 4.0f});
  check_values(mse_loss(input, target, Reduction::Sum), {}, {5.25f});
  check_values(mse_loss(input, target, Reduction::None), {2, 2}, {1, 0, 4, 0.25f});
  check_values(mse_loss(input, input), {}, {0});
}

GRADCHECKED_OPS("mse_loss");
TEST_CASE("gradcheck: mse_loss w.r.t. input and target, each reduction") {
  Generator gen(18);
  for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::None})
    for (const auto& mask : kMasks)
      for (const Shape& shape : {Shape{5}, Shape{3, 4}}) {
        Tensor input = with_grad(uniform(shape, -1.5f, 1.5f, gen), mask.first);
        Tensor target = with_grad(uniform(shape, -1.5f, 1.5f, gen), mask.second);
        const std::string what = "mse_loss reduction=" + std::to_string(static_cast<int>(reduction)) + " " +
                                 shape_str(shape) + " grad=(" + (mask.first ? "input" : "-") + "," +
                                 (mask.second ? "target" : "-") + ")";
        expect_gradcheck([reduction](const std::vector<Tensor>& v) { return mse_loss(v[0], v[1], reduction); },
                         {input, target}, what);
      }
}

TEST_CASE("cross_entropy: against -log_softmax[label], reductions, label smoothing") {
  Generator gen(17);
  Tensor logits = randn({5, 4}, &gen) * 2.0f;
  const std::vector<int64_t> labels = {0, 3, 1, 1, 2};
  Tensor lp = log_softmax(logits, 1);
  std::vector<double> per(5);
  double total = 0.0;
  for (int64_t n = 0; n < 5; ++n) total += per[n] = -lp.at({n, labels[n]});
  Tensor none = cross_entropy(logits, labels, Reduction::None);
  REQUIRE(none.shape() == Shape{5});
  for (int64_t n = 0; n < 5; ++n) CHECK(none.data()[n] == doctest::Approx(per[n]).epsilon(1e-6));
  Tensor mean = cross_entropy(logits, labels);
  CHECK(mean.dim() == 0);
  CHECK(mean.item() == doctest::Approx(total / 5).epsilon(1e-6));
  CHECK(cross_entropy(logits, labels, Reduction::Sum).item() == doctest::Approx(total).epsilon(1e-6));

  // Label smoothing eps: l_n = (1 - eps)(-lp[n, label]) + eps/C sum_c (-lp[n, c]), as PyTorch.
  const double eps = 0.1;
  double smoothed = 0.0;
  for (int64_t n = 0; n < 5; ++n) {
    double row = 0.0;
    for (int64_t c = 0; c < 4; ++c) row -= lp.at({n, c});
    smoothed += (1 - eps) * per[n] + eps / 4 * row;
  }
  CHECK(cross_entropy(logits, labels, Reduction::Mean, eps).item() == doctest::Approx(smoothed / 5).epsilon(1e-6));

  // Hand case: uniform logits give log C.
  CHECK(cross_entropy(zeros({2, 3}), {0, 2}).item() == doctest::Approx(std::log(3.0)).epsilon(1e-6));
  // Stable with huge logits: the right class at +1000 costs ~0, the wrong one ~1000.
  Tensor huge = tensor({1000.0f, 0.0f, -1000.0f, 0.0f}, {2, 2});
  Tensor l = cross_entropy(huge, {0, 0}, Reduction::None);
  CHECK(l.data()[0] == doctest::Approx(0.0));
  CHECK(l.data()[1] == doctest::Approx(1000.0));
}

GRADCHECKED_OPS("cross_entropy");
TEST_CASE("cross_entropy gradcheck for every reduction and with label smoothing") {
  // Tolerance: h = 1e-2, atol = 1e-3, rtol = 1e-2. The larger step keeps float32
  // rounding of the scalar (sum/mean) loss, ~1e-6 of ~10, small against 2h.
  testing::GradcheckOptions opt;
  opt.eps = 1e-2;
  Generator gen(19);
  Tensor logits = (randn({6, 5}, &gen) * 2.0f).requires_grad_();
  const std::vector<int64_t> labels = {4, 0, 2, 2, 1, 3};
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None})
    for (double eps : {0.0, 0.2}) {
      expect_gradcheck([&labels, r, eps](const std::vector<Tensor>& in) { return cross_entropy(in[0], labels, r, eps); },
                      {logits}, opt, "cross_entropy reduction " + std::to_string(int(r)) + " eps " + std::to_string(eps));
    }
  // The gradient of the mean loss is (softmax - onehot) / N.
  Tensor x = logits.detach().clone().requires_grad_();
  Tensor y = cross_entropy(x, labels);
  CHECK(y.grad_fn_name() == "cross_entropy");
  y.backward();
  Tensor s = softmax(x.detach(), 1);
  for (int64_t n = 0; n < 6; ++n)
    for (int64_t c = 0; c < 5; ++c)
      CHECK(x.grad().at({n, c}) ==
            doctest::Approx((s.at({n, c}) - (c == labels[n] ? 1.0f : 0.0f)) / 6.0f).epsilon(1e-5));
}

TEST_CASE("cross_entropy argument errors name the op and the shapes") {
  Tensor logits = randn({3, 4});
  check_error([&] { cross_entropy(randn({4}), {1}); }, "cross_entropy", {"[4]"});
  check_error([&] { cross_entropy(randn({2, 3, 4}), {1, 1}); }, "cross_entropy", {"[2, 3, 4]"});
  check_error([&] { cross_entropy(logits, {0, 1}); }, "cross_entropy", {"2 labels", "[3, 4]"});
  check_error([&] { cross_entropy(logits, {0, 4, 1}); }, "cross_entropy", {"target 4", "position [1]", "[0, 4)", "[3, 4]"});
  check_error([&] { cross_entropy(logits, {0, 1, -1}); }, "cross_entropy", {"target -1", "position [2]", "[3, 4]"});
  check_error([&] { cross_entropy(logits, {0, 1, 2}, Reduction::Mean, 1.5); }, "cross_entropy",
              {"label_smoothing", "1.5"});
  check_error([&] { cross_entropy(zeros({0, 4}), std::vector<int64_t>{}); }, "cross_entropy", {"[0, 4]"});
  CHECK(cross_entropy(zeros({0, 4}), std::vector<int64_t>{}, Reduction::Sum).item() == 0.0f);
}

TEST_CASE("mse_loss with different shapes") {
  expect_error([] { mse_loss(ones({2, 3}), ones({3, 2})); }, {"mse_loss", "[2, 3]", "[3, 2]"});
  expect_error([] { mse_loss(ones({2, 3}), ones({3}), Reduction::None); }, {"mse_loss", "[2, 3]", "[3]"});
}
