// Tensor basics: factories, the Generator, shape queries, element access,
// storage sharing (reshape, detach), clone, and printing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {
}  // namespace

TEST_CASE("factories: zeros, ones, full") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  check_elements(z, {0, 0, 0, 0, 0, 0});
  Tensor o = ones({4});
  CHECK(o.shape() == Shape{4});
  check_elements(o, {1, 1, 1, 1});
  Tensor f = full({2, 1, 2}, -2.5f);
  CHECK(f.shape() == Shape{2, 1, 2});
  check_elements(f, {-2.5f, -2.5f, -2.5f, -2.5f});
  Tensor s = scalar_tensor(7.0f);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 7.0f);
  Tensor e = zeros({0, 3});
  CHECK(e.numel() == 0);
  CHECK(zeros_like(f).shape() == f.shape());
  check_elements(ones_like(z), {1, 1, 1, 1, 1, 1});
  check_elements(full_like(o, 3.0f), {3, 3, 3, 3});
}

TEST_CASE("factories: arange") {
  Tensor a = arange(5);
  CHECK(a.shape() == Shape{5});
  check_elements(a, {0, 1, 2, 3, 4});
  check_elements(arange(2, 5), {2, 3, 4});
  Tensor b = arange(0.0, 1.0, 0.25);
  CHECK(b.shape() == Shape{4});
  check_elements(b, {0.0f, 0.25f, 0.5f, 0.75f});
  check_elements(arange(3, 0, -1), {3, 2, 1});
  CHECK(arange(0, 1, 0.3).numel() == 4);  // 0, 0.3, 0.6, 0.9
}

TEST_CASE("factories: tensor(vector, shape)") {
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.at({0, 0}) == 1.0f);
  CHECK(t.at({0, 2}) == 3.0f);
  CHECK(t.at({1, 0}) == 4.0f);
  CHECK(t.at({1, 2}) == 6.0f);
  Tensor v = tensor({1.5f, -2.0f});
  CHECK(v.shape() == Shape{2});
  check_elements(v, {1.5f, -2.0f});
  Tensor s = tensor({9.0f}, {});
  CHECK(s.dim() == 0);
  CHECK(s.item() == 9.0f);
}

TEST_CASE("factories: rand, randn, randint ranges and shapes") {
  Generator gen(42);
  Tensor u = rand({10, 100}, &gen);
  CHECK(u.shape() == Shape{10, 100});
  const std::vector<float> uv = u.to_vector();
  CHECK(*std::min_element(uv.begin(), uv.end()) >= 0.0f);
  CHECK(*std::max_element(uv.begin(), uv.end()) < 1.0f);
  Tensor n = randn({3, 4, 5}, &gen);
  CHECK(n.shape() == Shape{3, 4, 5});
  bool all_finite = true;
  for (float v : n.to_vector()) all_finite = all_finite && std::isfinite(v);
  CHECK(all_finite);

  Tensor r = randint(-3, 4, {2000}, &gen);
  CHECK(r.shape() == Shape{2000});
  std::set<float> seen;
  for (float v : r.to_vector()) seen.insert(v);
  CHECK(*seen.begin() == -3.0f);
  CHECK(*seen.rbegin() == 3.0f);
  for (float v : seen) CHECK(v == std::floor(v));
  CHECK(seen.size() == 7);  // every value in [-3, 4) turns up in 2000 draws
}

TEST_CASE("Generator: same seed gives the same numbers, different seeds differ") {
  Generator a(7), b(7), c(8);
  const std::vector<float> ra = randn({100}, &a).to_vector();
  const std::vector<float> rb = randn({100}, &b).to_vector();
  const std::vector<float> rc = randn({100}, &c).to_vector();
  CHECK(ra == rb);
  CHECK(ra != rc);
  CHECK(rand({50}, &a).to_vector() == rand({50}, &b).to_vector());
  CHECK(randint(0, 1000, {50}, &a).to_vector() == randint(0, 1000, {50}, &b).to_vector());

  // manual_seed restarts a generator's stream.
  a.manual_seed(7);
  CHECK(randn({100}, &a).to_vector() == ra);

  // The default generator, through tinydiff::manual_seed.
  manual_seed(123);
  const std::vector<float> d1 = randn({20}).to_vector();
  manual_seed(123);
  const std::vector<float> d2 = randn({20}).to_vector();
  manual_seed(124);
  const std::vector<float> d3 = randn({20}).to_vector();
  CHECK(d1 == d2);
  CHECK(d1 != d3);
}

TEST_CASE("Generator: state()/set_state() resumes the identical stream, cached normal included") {
  Generator gen(99);
  (void)randn({3}, &gen);  // an odd count: a Box-Muller spare is now cached
  const Generator::State st = gen.state();
  CHECK(st[5] == 1u);  // the spare normal's flag is part of the state
  const std::vector<float> expected = randn({11}, &gen).to_vector();
  const std::vector<float> expected_u = rand({5}, &gen).to_vector();

  Generator other(1);  // a different stream, then the saved state
  (void)randn({4}, &other);
  other.set_state(st);
  CHECK(randn({11}, &other).to_vector() == expected);
  CHECK(rand({5}, &other).to_vector() == expected_u);

  // The same generator rewound also replays.
  gen.set_state(st);
  CHECK(randn({11}, &gen).to_vector() == expected);

  // An even count leaves no spare cached.
  Generator even(5);
  (void)randn({4}, &even);
  CHECK(even.state()[5] == 0u);
}

TEST_CASE("randn: mean about 0, std about 1 over 100k samples") {
  Generator gen(2024);
  const std::vector<float> v = randn({100000}, &gen).to_vector();
  double sum = 0.0, sum_sq = 0.0;
  for (float x : v) {
    sum += x;
    sum_sq += static_cast<double>(x) * x;
  }
  const double mean = sum / static_cast<double>(v.size());
  const double var = sum_sq / static_cast<double>(v.size()) - mean * mean;
  CHECK(std::fabs(mean) < 0.02);  // std error of the mean is 1/sqrt(1e5) ~ 0.003
  CHECK(std::fabs(std::sqrt(var) - 1.0) < 0.02);

  const std::vector<float> u = rand({100000}, &gen).to_vector();
  double usum = 0.0;
  for (float x : u) usum += x;
  CHECK(std::fabs(usum / 100000.0 - 0.5) < 0.01);
}

TEST_CASE("shape queries: shape, numel, dim, size, item, at") {
  Tensor t = arange(24).reshape({2, 3, 4});
  CHECK(t.shape() == Shape{2, 3, 4});
  CHECK(t.numel() == 24);
  CHECK(t.dim() == 3);
  CHECK(t.size(0) == 2);
  CHECK(t.size(1) == 3);
  CHECK(t.size(2) == 4);
  CHECK(t.size(-1) == 4);
  CHECK(t.size(-3) == 2);
  CHECK(t.at({1, 2, 3}) == 23.0f);
  CHECK(t.at({1, 0, 1}) == 13.0f);
  CHECK(t.at({0, 2, 0}) == 8.0f);
  CHECK(tensor({3.5f}).item() == 3.5f);
  CHECK(ones({1, 1, 1}).item() == 1.0f);

  // at() returns a reference into the data.
  t.at({0, 0, 1}) = 100.0f;
  CHECK(t.data()[1] == 100.0f);
  CHECK(!Tensor().defined());
  CHECK(t.defined());
}

TEST_CASE("reshape shares storage and infers -1") {
  Tensor a = arange(6);
  Tensor b = a.reshape({2, 3});
  CHECK(b.shape() == Shape{2, 3});
  CHECK(b.data() == a.data());
  b.at({1, 2}) = -1.0f;  // write through one, read through the other
  CHECK(a.at({5}) == -1.0f);
  a.at({0}) = 42.0f;
  CHECK(b.at({0, 0}) == 42.0f);

  CHECK(a.reshape({-1, 2}).shape() == Shape{3, 2});
  CHECK(a.reshape({3, -1}).shape() == Shape{3, 2});
  CHECK(a.reshape({1, -1, 1}).shape() == Shape{1, 6, 1});
  CHECK(a.view({6, 1}).shape() == Shape{6, 1});
  CHECK(b.flatten().shape() == Shape{6});
  CHECK(b.flatten().data() == a.data());
  CHECK(tensor({5.0f}).reshape({}).dim() == 0);
}

TEST_CASE("clone copies the data") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2});
  Tensor c = a.clone();
  CHECK(c.shape() == a.shape());
  CHECK(c.data() != a.data());
  check_elements(c, {1, 2, 3, 4});
  c.at({0, 0}) = 9.0f;
  CHECK(a.at({0, 0}) == 1.0f);
}

TEST_CASE("detach shares data but has no grad") {
  Tensor x = tensor({1, 2, 3}).requires_grad_();
  Tensor y = x * 2.0f;
  Tensor d = y.detach();
  CHECK(d.data() == y.data());
  CHECK(!d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(d.grad_fn() == nullptr);
  CHECK(!d.grad().defined());
  d.at({0}) = 10.0f;
  CHECK(y.at({0}) == 10.0f);
  CHECK(!x.detach().requires_grad());
  CHECK(x.detach().data() == x.data());
}

TEST_CASE("printing shows the values, the shape, and elides long dims") {
  std::ostringstream small;
  small << tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  INFO(small.str());
  CHECK(small.str().find("shape=[2, 3]") != std::string::npos);
  CHECK(small.str().find("[[1, 2, 3], [4, 5, 6]]") != std::string::npos);
  CHECK(small.str().find("...") == std::string::npos);

  std::ostringstream big;
  big << arange(100);
  INFO(big.str());
  CHECK(big.str().find("...") != std::string::npos);
  CHECK(big.str().find("shape=[100]") != std::string::npos);
  CHECK(big.str().find("[0, 1, 2, ..., 97, 98, 99]") != std::string::npos);
  CHECK(big.str().find("50") == std::string::npos);

  std::ostringstream grad;
  Tensor leaf = ones({2}).requires_grad_();
  grad << leaf << " " << leaf * 2.0f;
  CHECK(grad.str().find("requires_grad=true") != std::string::npos);
  CHECK(grad.str().find("grad_fn=mul_scalar") != std::string::npos);

  std::ostringstream undefined;
  undefined << Tensor();
  CHECK(undefined.str() == "tensor(undefined)");
}

// The block cache reuses a freed block only at its exact size: memory_reserved (live tensors +
// cache) grows when a phase allocates other sizes, until empty_cache gives the cached part back.
TEST_CASE("block cache: memory_reserved, max_memory_reserved, and empty_cache at a change of sizes") {
  empty_cache();
  reset_peak_memory_stats();
  const size_t base = memory_reserved();  // tensors other tests left alive
  CHECK(cached_bytes() == 0);
  CHECK(max_memory_reserved() == base);
  { const Tensor a = empty({1000}); CHECK(memory_reserved() == base + 4032); }  // 4000 bytes, 64-aligned
  CHECK(cached_bytes() == 4032);
  CHECK(memory_reserved() == base + 4032);  // freed into the cache, still reserved
  { const Tensor b = empty({1000}); CHECK(memory_reserved() == base + 4032); }  // a hit: nothing new
  { const Tensor c = empty({2000}); CHECK(memory_reserved() == base + 4032 + 8000); }  // another size
  CHECK(cached_bytes() == 4032 + 8000);
  CHECK(max_memory_reserved() == base + 12032);
  empty_cache();
  CHECK(cached_bytes() == 0);
  CHECK(memory_reserved() == base);
  CHECK(max_memory_reserved() == base + 12032);  // a high-water mark stays until reset
  reset_peak_memory_stats();
  CHECK(max_memory_reserved() == base);
}

TEST_CASE("eye and linspace: values as torch.eye and torch.linspace; errors") {
  check_exact(eye(3), {3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1});
  check_exact(eye(2, 3), {2, 3}, {1, 0, 0, 0, 1, 0});
  check_exact(eye(3, 1), {3, 1}, {1, 0, 0});
  check_exact(eye(3, 0), {3, 0}, {});
  check_error([] { eye(-1); }, "eye", {"n = -1"});
  check_error([] { eye(2, -2); }, "eye", {"m = -2"});
  check_exact(linspace(0, 1, 5), {5}, {0, 0.25f, 0.5f, 0.75f, 1});
  check_exact(linspace(3, -3, 4), {4}, {3, 1, -1, -3});
  check_exact(linspace(2, 3, 1), {1}, {2});
  check_exact(linspace(2, 3, 0), {0}, {});
  // both ends exact even when the step is not a float (PyTorch: -1.3, ..., 2.7 in float32)
  const std::vector<float> v = linspace(-1.3, 2.7, 7).to_vector();
  CHECK(v.front() == -1.3f);
  CHECK(v.back() == 2.7f);
  CHECK(v[3] == doctest::Approx(0.7f).epsilon(1e-6));
  check_error([] { linspace(0, 1, -1); }, "linspace", {"-1"});
}

TEST_CASE("randperm: a permutation of 0..n-1, the same for the same seed, different for another") {
  Generator a(7), b(7), c(8);
  const IndexTensor p = randperm(50, &a);
  CHECK(p.shape == Shape{50});
  std::vector<int64_t> sorted = p.data;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) CHECK(sorted[static_cast<size_t>(i)] == i);
  CHECK(randperm(50, &b).data == p.data);
  CHECK(randperm(50, &c).data != p.data);
  // every position gets every value over many draws (Fisher-Yates reaches all of them)
  std::vector<int> seen(16, 0);
  for (int t = 0; t < 200; ++t) {
    const IndexTensor q = randperm(4, &a);
    for (size_t i = 0; i < 4; ++i) seen[i * 4 + static_cast<size_t>(q.data[i])] = 1;
  }
  CHECK(std::count(seen.begin(), seen.end(), 1) == 16);
  CHECK(randperm(0, &a).numel() == 0);
  CHECK(randperm(1).data == std::vector<int64_t>{0});
  check_error([&] { randperm(-1, &a); }, "randperm", {"-1"});
}
