// Optimisers checked against hand-computed (double precision) updates, LR
// schedules, gradient clipping, EMA, and a tiny training run.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include <tinydiff/tinydiff.hpp>

using namespace tinydiff;

namespace {

// The test loss L(p) = sum_i c_i p_i^2 + d_i p_i, so dL/dp_i = 2 c_i p_i + d_i (computed here in double).
const std::vector<double> kC = {0.5, -1.5, 2.0, 0.25};
const std::vector<double> kD = {1.0, 0.3, -2.0, -0.7};
const std::vector<double> kP0 = {1.0, -2.0, 0.5, 3.0};

Tensor make_param() {
  std::vector<float> p(kP0.begin(), kP0.end());
  return tensor(p).requires_grad_();
}
std::vector<double> grad_at(const std::vector<double>& p) {
  std::vector<double> g(p.size());
  for (size_t i = 0; i < p.size(); ++i) g[i] = 2 * kC[i] * p[i] + kD[i];
  return g;
}
// Sets p.grad() through autograd on the test loss.
void compute_grad(const Tensor& p) {
  std::vector<float> c(kC.begin(), kC.end()), d(kD.begin(), kD.end());
  p.zero_grad();
  (tensor(c) * p * p + tensor(d) * p).sum().backward();
}
void check_close(const Tensor& actual, const std::vector<double>& expected, double tol = 1e-5) {
  REQUIRE(actual.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i)
    CHECK(actual.data()[i] == doctest::Approx(expected[i]).epsilon(tol).scale(1.0));
}

struct SgdConfig {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
};
// torch.optim.SGD's update, in double.
std::vector<double> sgd_reference(const SgdConfig& c, int steps) {
  std::vector<double> p = kP0, buf(p.size());
  for (int t = 0; t < steps; ++t) {
    const auto g = grad_at(p);
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + c.weight_decay * p[i];
      if (c.momentum != 0) {
        buf[i] = t == 0 ? d : c.momentum * buf[i] + (1 - c.dampening) * d;
        d = c.nesterov ? d + c.momentum * buf[i] : buf[i];
      }
      p[i] -= c.lr * d;
    }
  }
  return p;
}

struct AdamConfig {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, decoupled;
};
// torch.optim.Adam / AdamW's update, in double.
std::vector<double> adam_reference(const AdamConfig& c, int steps) {
  std::vector<double> p = kP0, m(p.size()), v(p.size()), vmax(p.size());
  for (int t = 1; t <= steps; ++t) {
    const auto grad = grad_at(p);
    for (size_t i = 0; i < p.size(); ++i) {
      double g = grad[i];
      if (c.decoupled) p[i] *= 1 - c.lr * c.weight_decay;
      else g += c.weight_decay * p[i];
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * g;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g;
      vmax[i] = std::max(vmax[i], v[i]);
      const double bc1 = 1 - std::pow(c.beta1, t), bc2 = 1 - std::pow(c.beta2, t);
      const double denom = std::sqrt(c.amsgrad ? vmax[i] : v[i]) / std::sqrt(bc2) + c.eps;
      p[i] -= c.lr / bc1 * m[i] / denom;
    }
  }
  return p;
}

}  // namespace

TEST_CASE("SGD matches torch.optim.SGD's update") {
  const SgdConfig configs[] = {
      {0.1, 0.0, 0.0, 0.0, false},   // plain
      {0.1, 0.0, 0.0, 0.05, false},  // weight decay
      {0.05, 0.9, 0.1, 0.01, false},  // momentum with dampening and weight decay
      {0.05, 0.9, 0.0, 0.1, true},   // nesterov with weight decay
  };
  for (const auto& c : configs) {
    Tensor p = make_param();
    optim::SGD opt({p}, optim::SGDOptions(c.lr).momentum(c.momentum).dampening(c.dampening)
                            .weight_decay(c.weight_decay).nesterov(c.nesterov));
    for (int steps = 1; steps <= 3; ++steps) {
      compute_grad(p);
      opt.step();
      check_close(p, sgd_reference(c, steps));
    }
    CHECK(p.is_leaf());  // updated in place, still the same leaf
  }
  Tensor q = make_param();
  CHECK_THROWS_AS(optim::SGD({q}, optim::SGDOptions(0.1).nesterov(true)), Error);
  CHECK_THROWS_AS(optim::SGD({q}, optim::SGDOptions(-1.0)), Error);
}

TEST_CASE("Adam matches torch.optim.Adam's update (eps outside the sqrt, L2 decay)") {
  const AdamConfig configs[] = {
      {1e-3, 0.9, 0.999, 1e-8, 0.0, false, false},   // the defaults
      {0.1, 0.8, 0.99, 1e-3, 0.1, false, false},     // big steps, L2 weight decay, a visible eps
      {0.05, 0.9, 0.95, 1e-8, 0.0, true, false},     // amsgrad
  };
  for (const auto& c : configs) {
    Tensor p = make_param();
    optim::Adam opt({p}, optim::AdamOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.weight_decay)
                             .amsgrad(c.amsgrad));
    for (int steps = 1; steps <= 3; ++steps) {
      compute_grad(p);
      opt.step();
      check_close(p, adam_reference(c, steps));
    }
  }
  // The defaults are PyTorch's.
  optim::AdamOptions d;
  CHECK(d.lr() == 1e-3);
  CHECK(d.betas() == optim::Betas{0.9, 0.999});
  CHECK(d.eps() == 1e-8);
  CHECK(d.weight_decay() == 0.0);
  CHECK_FALSE(d.amsgrad());
  Tensor q = make_param();
  CHECK_THROWS_AS(optim::Adam({q}, optim::AdamOptions().betas({1.0, 0.9})), Error);
}

TEST_CASE("AdamW decays the parameter by lr * weight_decay first (decoupled)") {
  const AdamConfig configs[] = {
      {1e-3, 0.9, 0.999, 1e-8, 1e-2, false, true},  // the defaults
      {0.1, 0.9, 0.99, 1e-6, 0.5, false, true},
      {0.1, 0.9, 0.99, 1e-6, 0.5, true, true},  // amsgrad
  };
  for (const auto& c : configs) {
    Tensor p = make_param();
    optim::AdamW opt({p}, optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps)
                              .weight_decay(c.weight_decay).amsgrad(c.amsgrad));
    for (int steps = 1; steps <= 3; ++steps) {
      compute_grad(p);
      opt.step();
      check_close(p, adam_reference(c, steps));
    }
  }
  CHECK(optim::AdamWOptions().weight_decay() == 1e-2);
}

TEST_CASE("large parameters (the parallel path) get the same update") {
  // 40000 copies of the 4-element problem: every element must follow its reference.
  const int64_t n = 40000;
  std::vector<float> init(n);
  for (int64_t i = 0; i < n; ++i) init[i] = static_cast<float>(kP0[i % 4]);
  Tensor p = tensor(init).requires_grad_();
  const AdamConfig c{0.1, 0.9, 0.99, 1e-6, 0.1, false, true};
  optim::AdamW opt({p}, optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.weight_decay));
  for (int step = 1; step <= 2; ++step) {
    Tensor g = empty({n});
    for (int64_t i = 0; i < n; ++i) g.data()[i] = static_cast<float>(2 * kC[i % 4] * p.data()[i] + kD[i % 4]);
    p.set_grad(g);
    opt.step();
  }
  const auto expected = adam_reference(c, 2);
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(p.data()[i] - expected[i % 4]));
  CHECK(worst < 1e-5);
  CHECK(optim::clip_grad_norm_({p}, 1e9) == doctest::Approx(std::sqrt(n / 4.0 * [&] {
          double s = 0;
          for (int64_t i = 0; i < 4; ++i) s += static_cast<double>(p.grad().data()[i]) * p.grad().data()[i];
          return s;
        }())).epsilon(1e-5));
}

TEST_CASE("parameters without a gradient are skipped; zero_grad sets to none") {
  Tensor a = make_param(), b = make_param();
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  compute_grad(a);
  opt.step();
  CHECK(b.to_vector() == make_param().to_vector());
  auto state = opt.state_dict();
  for (auto& entry : state) CHECK(entry.first.rfind("state.0.", 0) == 0);
  CHECK(state.size() == 3);  // step, exp_avg, exp_avg_sq of parameter 0
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  // b's first update is its own step 1 (per-parameter step counts, as PyTorch).
  compute_grad(b);
  opt.step();
  check_close(b, adam_reference({0.1, 0.9, 0.999, 1e-8, 0, false, false}, 1));
  CHECK_THROWS_AS(optim::Adam({a, a}), Error);  // a parameter twice
  CHECK_THROWS_AS(optim::Adam({a * 2.0f}), Error);  // not a leaf
}

TEST_CASE("parameter groups have their own options; set_lr / get_lr") {
  Tensor a = make_param(), b = make_param();
  std::vector<optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<Tensor>{a});
  groups.emplace_back(std::vector<Tensor>{b}, std::make_unique<optim::SGDOptions>(optim::SGDOptions(0.5)));
  optim::SGD opt(groups, optim::SGDOptions(0.1));
  CHECK(opt.num_param_groups() == 2);
  CHECK(opt.get_lr(0) == 0.1);
  CHECK(opt.get_lr(1) == 0.5);
  compute_grad(a);
  compute_grad(b);
  opt.step();
  check_close(a, sgd_reference({0.1, 0, 0, 0, false}, 1));
  check_close(b, sgd_reference({0.5, 0, 0, 0, false}, 1));
  opt.set_lr(0.2);
  CHECK(opt.get_lr(0) == 0.2);
  CHECK(opt.get_lr(1) == 0.2);
  opt.set_lr(1, 0.3);
  CHECK(opt.get_lr(1) == 0.3);
  CHECK_THROWS_AS(opt.get_lr(2), Error);
  CHECK(opt.parameters().size() == 2);
}

TEST_CASE("LR schedules") {
  Tensor p = make_param();
  const double base = 1e-3;

  SUBCASE("WarmupCosineLR: linear warmup from 0, cosine to min_lr") {
    optim::Adam opt({p}, optim::AdamOptions(base));
    optim::WarmupCosineLR sched(opt, 10, 110, 1e-5);
    CHECK(opt.get_lr() == 0.0);  // applied at construction (step 0)
    CHECK(sched.lr_at(5) == doctest::Approx(0.5 * base));
    CHECK(sched.lr_at(10) == doctest::Approx(base));
    CHECK(sched.lr_at(60) == doctest::Approx(1e-5 + (base - 1e-5) * 0.5));
    CHECK(sched.lr_at(35) == doctest::Approx(1e-5 + (base - 1e-5) * 0.5 * (1 + std::cos(3.14159265358979323846 * 0.25))));
    CHECK(sched.lr_at(110) == doctest::Approx(1e-5));
    CHECK(sched.lr_at(500) == doctest::Approx(1e-5));
    for (int i = 0; i < 7; ++i) sched.step();
    CHECK(sched.last_epoch() == 7);
    CHECK(opt.get_lr() == doctest::Approx(0.7 * base));
    CHECK(sched.get_last_lr()[0] == opt.get_lr());
    sched.set_last_epoch(60);  // resume
    CHECK(opt.get_lr() == sched.lr_at(60));
  }
  SUBCASE("StepLR: gamma every step_size steps") {
    optim::SGD opt({p}, optim::SGDOptions(base));
    optim::StepLR sched(opt, 3, 0.5);
    std::vector<double> seen;
    for (int i = 0; i < 8; ++i) {
      seen.push_back(opt.get_lr());
      sched.step();
    }
    const std::vector<double> expected = {base, base, base, base / 2, base / 2, base / 2, base / 4, base / 4};
    for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == doctest::Approx(expected[i]));
  }
  SUBCASE("ConstantLR: PyTorch's defaults (factor 1/3 for 5 steps)") {
    optim::SGD opt({p}, optim::SGDOptions(base));
    optim::ConstantLR sched(opt);
    CHECK(opt.get_lr() == doctest::Approx(base / 3));
    for (int i = 0; i < 4; ++i) sched.step();
    CHECK(opt.get_lr() == doctest::Approx(base / 3));
    sched.step();
    CHECK(opt.get_lr() == doctest::Approx(base));
    optim::ConstantLR full(opt, 1.0, 0);
    CHECK(full.lr_at(0) == doctest::Approx(base));
  }
  SUBCASE("LambdaLR and per-group base lrs") {
    Tensor q = make_param();
    std::vector<optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<Tensor>{p});
    groups.emplace_back(std::vector<Tensor>{q}, std::make_unique<optim::AdamOptions>(optim::AdamOptions(2 * base)));
    optim::Adam opt(groups, optim::AdamOptions(base));
    optim::LambdaLR sched(opt, [](int64_t step) { return 1.0 / static_cast<double>(step + 1); });
    sched.step();
    CHECK(opt.get_lr(0) == doctest::Approx(base / 2));
    CHECK(opt.get_lr(1) == doctest::Approx(base));
  }
}

TEST_CASE("clip_grad_norm_ returns the total norm and scales the gradients") {
  Tensor a = zeros({2}).requires_grad_(), b = zeros({1}).requires_grad_(), c = zeros({3}).requires_grad_();
  auto set = [&] {
    a.set_grad(tensor({3, 4}));
    b.set_grad(tensor({12}));
  };
  set();
  const std::vector<Tensor> params = {a, b, c};  // c has no gradient
  CHECK(optim::clip_grad_norm_(params, 100.0) == doctest::Approx(13.0));
  CHECK(a.grad().to_vector() == std::vector<float>{3, 4});  // below max_norm: untouched
  const float total = optim::clip_grad_norm(params, 1.0);
  CHECK(total == doctest::Approx(13.0));
  const double coef = 1.0 / (13.0 + 1e-6);
  check_close(a.grad(), {3 * coef, 4 * coef});
  check_close(b.grad(), {12 * coef});
  set();
  CHECK(optim::clip_grad_norm_(params, 1.0, INFINITY) == doctest::Approx(12.0));
  check_close(b.grad(), {12.0 / (12.0 + 1e-6)});
  set();
  CHECK(optim::clip_grad_norm_(params, 100.0, 1.0) == doctest::Approx(19.0));
  set();
  optim::clip_grad_value_(params, 3.5);
  CHECK(a.grad().to_vector() == std::vector<float>{3, 3.5f});
}

TEST_CASE("EMA without warmup: shadow = d shadow + (1 - d) param") {
  nn::Linear lin(nn::LinearOptions(2, 1));
  lin.weight.at({0, 0}) = 1; lin.weight.at({0, 1}) = 2; lin.bias.at({0}) = 0;
  optim::EMA ema(lin, optim::EMAOptions().decay(0.9).warmup(false));
  std::vector<double> shadow = {1, 2, 0};
  const std::vector<std::vector<float>> values = {{2, 0, 1}, {-1, 4, 3}, {0.5f, 0.5f, -2}};
  for (const auto& v : values) {
    lin.weight.at({0, 0}) = v[0]; lin.weight.at({0, 1}) = v[1]; lin.bias.at({0}) = v[2];
    ema.update();
    for (size_t i = 0; i < 3; ++i) shadow[i] = 0.9 * shadow[i] + 0.1 * v[i];
  }
  CHECK(ema.num_updates() == 3);
  check_close(ema.shadow_params()[0].second, {shadow[0], shadow[1]});
  check_close(ema.shadow_params()[1].second, {shadow[2]});

  // store / copy_to / restore, and the RAII guard.
  const auto own = lin.weight.to_vector();
  ema.store(lin);
  ema.copy_to(lin);
  check_close(lin.weight, {shadow[0], shadow[1]});
  ema.restore(lin);
  CHECK(lin.weight.to_vector() == own);
  {
    optim::EMAGuard guard(ema, lin);
    check_close(lin.bias, {shadow[2]});
  }
  CHECK(lin.weight.to_vector() == own);
  nn::Linear other(nn::LinearOptions(3, 1));
  CHECK_THROWS_AS(ema.copy_to(other), Error);
}

TEST_CASE("EMA with warmup: decay = min(decay, (1 + n) / (10 + n))") {
  nn::Module m("M");
  Tensor p = m.register_parameter("p", tensor({0.0f}));
  optim::EMA ema(m, optim::EMAOptions().decay(0.2).warmup(true));
  double shadow = 0;
  for (int n = 0; n < 5; ++n) {
    const double d = std::min(0.2, (1.0 + n) / (10.0 + n));  // 0.1, 0.1818, 0.2, 0.2, 0.2
    CHECK(ema.current_decay() == doctest::Approx(d));
    p.data()[0] = static_cast<float>(n + 1);
    ema.update();
    shadow = d * shadow + (1 - d) * (n + 1);
    check_close(ema.shadow_params()[0].second, {shadow});
  }
  CHECK(optim::EMAOptions().decay() == 0.9999);
}

TEST_CASE("a 2-layer MLP trained with Adam fits a toy regression") {
  manual_seed(42);
  auto mlp = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(nn::LinearOptions(1, 32)),
                                              std::make_shared<nn::SiLU>(),
                                              std::make_shared<nn::Linear>(nn::LinearOptions(32, 1)));
  Tensor x = reshape(arange(-2.0, 2.0, 4.0 / 64), {64, 1});
  std::vector<float> target(64);
  for (int i = 0; i < 64; ++i) target[i] = std::sin(2.0f * x.data()[i]) + 0.5f * x.data()[i];
  Tensor y = tensor(target, {64, 1});
  optim::Adam opt(mlp->parameters(), optim::AdamOptions(1e-2));
  float first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    opt.zero_grad();
    Tensor loss = mse_loss(mlp->forward(x), y);
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  MESSAGE("MLP loss " << first << " -> " << last);
  CHECK(last < first / 10);
}
