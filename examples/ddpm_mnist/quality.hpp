#pragma once
// Sample-quality measures for `ddpm_mnist eval`, computed with the project's own
// MNIST classifier (examples/mnist_classifier): there is no Inception network
// here, so FID uses the classifier's 128-wide penultimate features.
//
//   FID(a, b) = |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2)
// (the symmetric form of tr((C_a C_b)^1/2), so only symmetric square roots are
// needed: V diag(sqrt(l)) V^T from an eigendecomposition, in double).
#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <tinydiff/tinydiff.hpp>

namespace ddpm {

using MatrixD = Eigen::MatrixXd;
using VectorD = Eigen::VectorXd;

// Square root of a symmetric positive semi-definite matrix (negative rounding
// noise in the eigenvalues is clamped to 0).
inline MatrixD sqrt_psd(const MatrixD& a) {
  Eigen::SelfAdjointEigenSolver<MatrixD> eig(a);
  const VectorD roots = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return eig.eigenvectors() * roots.asDiagonal() * eig.eigenvectors().transpose();
}

struct Gaussian {
  VectorD mean;
  MatrixD cov;
};

// Mean and (unbiased) covariance of the rows of features [N, D].
inline Gaussian fit_gaussian(const tinydiff::Tensor& features) {
  TD_CHECK(features.dim() == 2 && features.size(0) >= 2, "fid", "need features [N >= 2, D], got ",
           tinydiff::shape_str(features.shape()));
  const int64_t n = features.size(0), d = features.size(1);
  MatrixD x(n, d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) x(i, j) = features.data()[i * d + j];
  Gaussian g;
  g.mean = x.colwise().mean();
  const MatrixD centered = x.rowwise() - g.mean.transpose();
  g.cov = centered.transpose() * centered / static_cast<double>(n - 1);
  return g;
}

inline double frechet_distance(const Gaussian& a, const Gaussian& b) {
  TD_CHECK(a.mean.size() == b.mean.size(), "fid", "feature sizes differ: ", a.mean.size(), " and ", b.mean.size());
  const MatrixD root_a = sqrt_psd(a.cov);
  const MatrixD middle = sqrt_psd(root_a * b.cov * root_a);
  const double value = (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2.0 * middle.trace();
  return std::max(value, 0.0);
}

inline double fid(const tinydiff::Tensor& features_a, const tinydiff::Tensor& features_b) {
  return frechet_distance(fit_gaussian(features_a), fit_gaussian(features_b));
}

// For each image of `queries` [N, 1, 28, 28], the Euclidean distance (pixels in
// [0, 1]) to its nearest image in `references` [M, 1, 28, 28]; returns the mean.
// ||q - r||^2 = |q|^2 + |r|^2 - 2 q.r, the cross terms as one GEMM.
inline double mean_nearest_distance(const tinydiff::Tensor& queries, const tinydiff::Tensor& references) {
  using namespace tinydiff;
  const int64_t n = queries.size(0), m = references.size(0), d = queries.numel() / n;
  TD_CHECK(references.numel() / m == d, "nearest", "image sizes differ");
  // Images are stored in [-1, 1]; distances are reported on the [0, 1] pixel scale.
  const Tensor q = (queries + 1.0f) * 0.5f;
  const Tensor r = (references + 1.0f) * 0.5f;
  std::vector<float> dots(static_cast<size_t>(n * m));
  kernels::gemm(false, true, n, m, d, 1.0f, q.data(), r.data(), 0.0f, dots.data());
  std::vector<double> r_norm(static_cast<size_t>(m), 0.0);
  for (int64_t j = 0; j < m; ++j)
    for (int64_t k = 0; k < d; ++k) r_norm[j] += double(r.data()[j * d + k]) * r.data()[j * d + k];
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double q_norm = 0.0;
    for (int64_t k = 0; k < d; ++k) q_norm += double(q.data()[i * d + k]) * q.data()[i * d + k];
    double best = std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < m; ++j) best = std::min(best, q_norm + r_norm[j] - 2.0 * dots[i * m + j]);
    total += std::sqrt(std::max(best, 0.0));
  }
  return total / static_cast<double>(n);
}

}  // namespace ddpm
