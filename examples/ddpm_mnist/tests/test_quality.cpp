// The sample-quality measures of `ddpm_mnist eval`: FID and its matrix square root.
#include <doctest/doctest.h>

#include <cmath>

#include "../quality.hpp"

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
