// The sample-quality measures of `ddpm_mnist eval` (FID and its matrix square root,
// KID, precision / recall) and the progress lines of `sample` and `eval`.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../app/data.hpp"
#include "../app/progress.hpp"
#include "../app/quality.hpp"

using namespace ddpm;
using namespace tinydiff;

TEST_CASE("the symmetric matrix square root against closed forms") {
  MatrixD d(2, 2);
  d << 4, 0, 0, 9;
  const MatrixD rd = sqrt_psd(d);
  CHECK(rd(0, 0) == doctest::Approx(2.0));
  CHECK(rd(1, 1) == doctest::Approx(3.0));
  CHECK(std::fabs(rd(0, 1)) < 1e-12);
  // [[2, 1], [1, 2]] has eigenvalues 3 and 1: its root is [[a, b], [b, a]], a = (sqrt3 + 1)/2, b = (sqrt3 - 1)/2.
  MatrixD m(2, 2);
  m << 2, 1, 1, 2;
  const MatrixD r = sqrt_psd(m);
  CHECK(r(0, 0) == doctest::Approx((std::sqrt(3.0) + 1) / 2));
  CHECK(r(0, 1) == doctest::Approx((std::sqrt(3.0) - 1) / 2));
  CHECK((r * r - m).norm() < 1e-12);
}

TEST_CASE("FID of a set against itself is 0; between 1-D Gaussians it is (m1-m2)^2 + (s1-s2)^2") {
  Generator gen(4);
  const Tensor a = randn({2000, 8}, &gen);
  CHECK(fid(a, a) == doctest::Approx(0.0).scale(1));
  CHECK(fid(a, a) < 1e-8);
  // Two 1-D Gaussians: N(1, 2^2) against N(-1, 0.5^2) -> 4 + 2.25.
  Gaussian g1{VectorD::Constant(1, 1.0), MatrixD::Constant(1, 1, 4.0)};
  Gaussian g2{VectorD::Constant(1, -1.0), MatrixD::Constant(1, 1, 0.25)};
  CHECK(frechet_distance(g1, g2) == doctest::Approx(6.25));
}

TEST_CASE("FID is small between two samples of one distribution, large against a shifted, wider one") {
  Generator gen(5);
  // Features of two samples of the same distribution vs a shifted, wider one.
  const Tensor x = randn({1000, 16}, &gen), y = randn({1000, 16}, &gen);
  const Tensor noise = randn({1000, 16}, &gen) * 3.0f + 2.0f;
  const double same = fid(x, y), different = fid(x, noise);
  CHECK(same < 0.5);
  CHECK(different > 50.0);
  CHECK(mean_nearest_distance(full({2, 1, 2, 2}, -1.0f), full({3, 1, 2, 2}, 1.0f)) == doctest::Approx(2.0));
}

// ---- KID and precision / recall (quality.hpp) ----

namespace {
// A cheap fixed feature map for digits: 4x4 average pooling of the 28x28 images -> 49 features.
Tensor pooled_features(const Tensor& images) {
  const int64_t n = images.size(0);
  return mean(reshape(images, {n, 7, 4, 7, 4}), {2, 4}).reshape({n, 49});
}
Tensor column(std::vector<float> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return tensor(v, {n, 1});
}
}  // namespace

TEST_CASE("pairwise squared distances and the cubic kernel against hand-computed values") {
  const Tensor a = tensor({0, 0, 1, 2}, {2, 2}), b = tensor({3, 4, 1, 0, 0, 2}, {3, 2});
  const Tensor d = pairwise_sq_distances(a, b);
  const std::vector<float> want = {25, 1, 4, 8, 4, 1};  // |(0,0)-(3,4)|^2 = 25, ...
  for (int i = 0; i < 6; ++i) CHECK(d.data()[i] == doctest::Approx(want[i]));
  // k(x, y) = (x.y / 2 + 1)^3: (1,2).(3,4) = 11 -> 6.5^3.
  const Tensor k = polynomial_kernel(a, b);
  CHECK(k.data()[0] == doctest::Approx(1.0));
  CHECK(k.data()[3] == doctest::Approx(6.5 * 6.5 * 6.5));
  CHECK(k.data()[5] == doctest::Approx(27.0));  // (1,2).(0,2) = 4 -> 3^3
}

TEST_CASE("unbiased MMD^2 with the cubic kernel: exact small cases") {
  // 1-D, k(x, y) = (x y + 1)^3. X = {0, 1}, Y = {0, 2}:
  //   xx: k(0,1) = 1 (off-diagonal mean) ; yy: k(0,2) = 1 ; xy: (1 + 1 + 1 + 27) / 4 = 7.5
  //   MMD^2 = 1 + 1 - 2 * 7.5 = -13 (the unbiased estimate can be negative).
  CHECK(mmd2_unbiased(column({0, 1}), column({0, 2})) == doctest::Approx(-13.0));
  // 2-D, d = 2: X = {(1,1), (0,0)}, Y = {(2,0), (0,2)}: xx = 1, yy = 1, xy = (8 + 8 + 1 + 1) / 4 = 4.5 -> -7.
  CHECK(mmd2_unbiased(tensor({1, 1, 0, 0}, {2, 2}), tensor({2, 0, 0, 2}, {2, 2})) == doctest::Approx(-7.0));
  // Sets of different sizes: X = {0, 1}, Y = {0, 0, 1}: xx = 1; yy = (1+1+1+1+1+1)/6 = 1; xy = (1+1+1+1+1+8)/6 = 13/6.
  CHECK(mmd2_unbiased(column({0, 1}), column({0, 0, 1})) == doctest::Approx(2.0 - 13.0 / 3.0));
  // kid() with one subset of two rows each is that estimate, with no standard error.
  const KidResult one = kid(column({0, 1}), column({0, 2}));
  CHECK(one.subsets == 1);
  CHECK(one.mean == doctest::Approx(-13.0));
  CHECK(std::isnan(one.std_error));
}

TEST_CASE("KID is about 0 between two samples of one distribution and grows with a shift") {
  Generator gen(11);
  const Tensor x = randn({1000, 16}, &gen), y = randn({1000, 16}, &gen);
  const KidResult same = kid(x, y);
  CHECK(same.subsets == 10);
  CHECK(kid(x, y, 10000).subsets == 500);  // at most min(N, M) / 2 subsets
  CHECK(same.std_error > 0.0);
  CHECK(std::fabs(same.mean) < 3.0 * same.std_error);
  double previous = same.mean;
  for (float shift : {0.25f, 0.5f, 1.0f, 2.0f}) {
    const KidResult shifted = kid(x, y + shift);
    INFO("shift " << shift);
    CHECK(shifted.mean > previous);
    CHECK(shifted.mean > 3.0 * shifted.std_error);
    previous = shifted.mean;
  }
  // The estimate uses every pair, whatever the subsets: it is the unbiased MMD^2 of the whole sets.
  CHECK(same.mean == doctest::Approx(mmd2_unbiased(x, y)).epsilon(1e-6));
  CHECK(kid(x, y + 0.5f, 7).mean == doctest::Approx(mmd2_unbiased(x, y + 0.5f)).epsilon(1e-6));
  // The subsets are seeded: the same call gives the same figures.
  CHECK(kid(x, y).std_error == same.std_error);
}

TEST_CASE("KID's jackknife standard error matches the spread of the estimate over independent draws") {
  Generator gen(13);
  // 40 independent pairs of 200-row sets, shifted apart so the estimate's variance is its first-order one.
  std::vector<double> estimates, errors;
  for (int rep = 0; rep < 40; ++rep) {
    const KidResult r = kid(randn({200, 8}, &gen), randn({200, 8}, &gen) + 0.3f);
    estimates.push_back(r.mean);
    errors.push_back(r.std_error);
  }
  double mean = 0, var = 0, mean_error = 0;
  for (double e : estimates) mean += e / estimates.size();
  for (double e : estimates) var += (e - mean) * (e - mean) / (estimates.size() - 1);
  for (double e : errors) mean_error += e / errors.size();
  const double spread = std::sqrt(var);
  INFO("spread " << spread << ", mean jackknife s.e. " << mean_error);
  CHECK(mean_error > spread / 1.5);
  CHECK(mean_error < spread * 1.5);
}

TEST_CASE("k-th neighbour radii and precision / recall against hand-computed values") {
  // real = {0, 1, 2, 10} (1-D), k = 1: squared radii 1, 1, 1, 64 (10's nearest other is 2).
  const Tensor real = column({0, 1, 2, 10});
  const std::vector<float> radii = kth_neighbour_sq_radii(real, 1);
  CHECK(radii == std::vector<float>{1, 1, 1, 64});
  // k = 2: 0 -> 2 (4), 1 -> 0 or 2 (1), 2 -> 0 (4), 10 -> 1 (81).
  CHECK(kth_neighbour_sq_radii(real, 2) == std::vector<float>{4, 1, 4, 81});
  // samples {0.5, 5, 20}: 0.5 is in 0's ball, 5 in 10's (25 <= 64), 20 in none -> precision 2/3.
  // The samples' radii (k = 1): 20.25, 20.25, 225; every real point is in some sample's ball -> recall 1.
  const PrecisionRecall pr = precision_recall(real, column({0.5f, 5, 20}), 1);
  CHECK(pr.precision == doctest::Approx(2.0 / 3.0));
  CHECK(pr.recall == doctest::Approx(1.0));
  // A ball's edge counts as inside: 2 lies exactly on 1's ball (squared radius 1); 10 is outside 5's (16 < 25).
  CHECK(precision_recall(column({0, 1, 5}), column({2, 10}), 1).precision == doctest::Approx(0.5));
}

// Eval's all-pairs measures go kRowsPerChunk rows at a time (memory bounded by a chunk, not N x N):
// over several chunks they agree with the whole matrix at once.
TEST_CASE("k-th neighbour radii, precision / recall and nearest distances over several chunks of rows") {
  Generator gen(5);
  const int64_t n = 2 * kRowsPerChunk + 100, m = 300;
  const Tensor a = randn({n, 4}, &gen), b = randn({m, 4}, &gen);
  const Tensor whole = pairwise_sq_distances(a, a);
  const std::vector<float> radii = kth_neighbour_sq_radii(a, 3);
  for (const int64_t i : {int64_t{0}, kRowsPerChunk - 1, kRowsPerChunk, n - 1}) {
    std::vector<float> row;
    for (int64_t j = 0; j < n; ++j)
      if (j != i) row.push_back(whole.data()[i * n + j]);
    std::nth_element(row.begin(), row.begin() + 2, row.end());
    CHECK(radii[i] == doctest::Approx(row[2]).epsilon(1e-5));
  }
  // The fraction of rows of a whole [rows, cols] distance matrix within some column's radius.
  auto fraction_inside = [](const Tensor& d, const std::vector<float>& col_radii) {
    const int64_t rows = d.size(0), cols = d.size(1);
    int64_t inside = 0;
    for (int64_t i = 0; i < rows; ++i) {
      bool in = false;
      for (int64_t j = 0; j < cols && !in; ++j) in = d.data()[i * cols + j] <= col_radii[j];
      inside += in;
    }
    return double(inside) / rows;
  };
  const Tensor a_to_b = pairwise_sq_distances(a, b);
  const PrecisionRecall pr = precision_recall(b, a, 3);
  CHECK(pr.recall == doctest::Approx(fraction_inside(pairwise_sq_distances(b, a), radii)));  // b in a's balls
  CHECK(pr.precision == doctest::Approx(fraction_inside(a_to_b, kth_neighbour_sq_radii(b, 3))));  // a in b's
  // Nearest distance of each of a's n rows (pixels in [-1, 1], distances on [0, 1]) to b's.
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i)
    total += std::sqrt(*std::min_element(a_to_b.data() + i * m, a_to_b.data() + (i + 1) * m)) * 0.5;
  CHECK(mean_nearest_distance(a, b) == doctest::Approx(total / n).epsilon(1e-4));
}

TEST_CASE("KID and precision / recall on digits: real vs real, copies of one digit, noise") {
  const Dataset data = load_dataset("mnist", "");
  // Two disjoint sets of 1000 digits, 100 per class each (the set is interleaved by class: 0, 1, ..., 9, 0, ...;
  // even and odd rows would split the classes, and its last 1000 digits hold no 5s).
  const Tensor f_all = pooled_features(narrow(data.images, 0, 0, 2000));
  const Tensor real_a = narrow(f_all, 0, 0, 1000), real_b = narrow(f_all, 0, 1000, 1000);
  for (int64_t i : {0, 999, 1000, 1999}) CHECK(data.labels[static_cast<size_t>(i)] == i % 10);
  const KidResult real_kid = kid(real_a, real_b);
  const PrecisionRecall real_pr = precision_recall(real_a, real_b, 3);
  CHECK(std::fabs(real_kid.mean) < 3.0 * real_kid.std_error);
  // (k = 3 balls of 1000 points: real digits of one set fall in the other's manifold about 80-90% of the time.)
  CHECK(real_pr.precision > 0.75);
  CHECK(real_pr.recall > 0.75);

  // 1000 copies of one real digit: realistic (precision 1: it is one of the real points) but no variety.
  const Tensor copies = index_select(real_b, 0, std::vector<int64_t>(1000, 7));
  const PrecisionRecall copies_pr = precision_recall(real_b, copies, 3);
  CHECK(copies_pr.precision == doctest::Approx(1.0));
  CHECK(copies_pr.recall < 0.01);
  const KidResult copies_kid = kid(copies, real_a);
  CHECK(copies_kid.mean > real_kid.mean + 10.0 * copies_kid.std_error);

  // Uniform noise images: nothing like a digit.
  Generator gen(12);
  const Tensor noise = pooled_features(rand({1000, 1, 28, 28}, &gen) * 2.0f - 1.0f);
  const PrecisionRecall noise_pr = precision_recall(real_a, noise, 3);
  CHECK(noise_pr.precision < 0.01);
  const KidResult noise_kid = kid(noise, real_a);
  CHECK(noise_kid.mean > real_kid.mean + 10.0 * noise_kid.std_error);
}

TEST_CASE("KID and precision / recall reject bad input, naming the measure") {
  const Tensor a = zeros({10, 4}), b = zeros({10, 3});
  CHECK_THROWS_WITH_AS(kid(a, b), doctest::Contains("kid"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(kid(a, zeros({1, 4})), doctest::Contains("at least 2 rows"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(kid(a, a, 0), doctest::Contains("subsets must be >= 1"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(precision_recall(a, b), doctest::Contains("precision_recall"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(precision_recall(a, a, 10), doctest::Contains("k must be in [1, 9]"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(pairwise_sq_distances(a, zeros({4})), doctest::Contains("pairwise_sq_distances"),
                       tinydiff::Error);
}

// ---- progress of sampling (progress.hpp), the plain format written when stdout is not a terminal ----

namespace {
// Everything a SamplingProgress wrote to its (temporary) file.
std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string text;
  for (int c; (c = std::fgetc(f)) != EOF;) text.push_back(static_cast<char>(c));
  return text;
}
}  // namespace

TEST_CASE("sampling progress: plain lines at every tenth of the work and at the end") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    // 250 images in batches of 100 (3 batches) of 4 steps: 12 steps, 1 s each.
    SamplingProgress progress(250, 100, 4, f, false, "sampling");
    double t = 0;
    for (int64_t len : {100, 100, 50}) {
      for (int s = 0; s < 4; ++s) progress.step(t += 1.0);
      progress.batch_done(len, t);
    }
  }
  const std::string text = read_all(f);
  std::fclose(f);
  // Steps 2, 3 cross 10% and 20% (12 steps: a line when 10 * done / 12 grows), then the batch ends.
  CHECK(text.find("sampling: 0/250 images  step 2/12  25.0 img/s  elapsed 0:02  ETA 0:08\n") != std::string::npos);
  CHECK(text.find("sampling: 100/250 images  step 4/12  25.0 img/s  elapsed 0:04  ETA 0:06\n") != std::string::npos);
  // The last line: everything done, no time left.
  const std::string last = "sampling: 250/250 images  step 12/12  20.8 img/s  elapsed 0:12  ETA 0:00\n";
  REQUIRE(text.size() >= last.size());
  CHECK(text.substr(text.size() - last.size()) == last);
  // One line per tenth at most (10 crossings of 12 steps, the end among them), no carriage returns.
  const auto lines = std::count(text.begin(), text.end(), '\n');
  CHECK(lines <= 11);
  CHECK(lines >= 5);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(SamplingProgress::line("eval", 3, 10, 6, 20, 1.5, 61, 3725) ==
        "eval: 3/10 images  step 6/20  1.5 img/s  elapsed 1:01  ETA 1:02:05");
}

TEST_CASE("sampling progress on a terminal: one line redrawn in place, ended by a newline") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    SamplingProgress progress(100, 100, 3, f, true);
    progress.step(1.0);
    progress.step(2.0);
    progress.step(3.0);
    progress.batch_done(100, 3.0);
  }
  const std::string text = read_all(f);
  std::fclose(f);
  CHECK(text.find('\r') == 0);
  CHECK(text.find("[########################] 100/100 images  step 3/3  33.3 img/s  ETA 0:00 \n") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
}
