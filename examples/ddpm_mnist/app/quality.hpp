#pragma once
// Sample-quality measures for `ddpm_mnist eval`, computed with the project's own
// MNIST classifier (examples/mnist_classifier): there is no Inception network
// here, so FID uses the classifier's 128-wide penultimate features.
//
//   FID(a, b) = |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2)
// (the symmetric form of tr((C_a C_b)^1/2), so only symmetric square roots are
// needed: V diag(sqrt(l)) V^T from an eigendecomposition, in double).
//
// FID fits a Gaussian to each set and is biased at small N (the plug-in
// covariances make it grow as N shrinks, by an amount that depends on the
// model). Two sharper measures sit beside it, on the same features:
//   - KID (Binkowski et al. 2018): the unbiased estimate of the squared maximum
//     mean discrepancy with the cubic kernel k(x, y) = (x.y / d + 1)^3,
//       MMD^2 = sum_{i!=j} k(x_i, x_j) / (m (m-1)) + sum_{i!=j} k(y_i, y_j) / (n (n-1))
//               - 2 sum_{i,j} k(x_i, y_j) / (m n),
//     whose expectation is 0 when both sets come from one distribution, at any N;
//     its standard error by the jackknife over disjoint subsets.
//   - precision / recall (Kynkaanniemi et al. 2019): each point of a set gets a
//     ball reaching to its k-th nearest neighbour in that set; precision is the
//     fraction of samples inside some real digit's ball (are samples realistic?),
//     recall the fraction of real digits inside some sample's ball (is the
//     variety covered?).
#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
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

// The all-pairs measures below (nearest digit, precision / recall) work on this many rows at a
// time: their memory is bounded by a chunk of rows against the other set, not by N x M (or N x N).
constexpr int64_t kRowsPerChunk = 500;

// For each image of `queries` [N, 1, 28, 28], the Euclidean distance (pixels in
// [0, 1]) to its nearest image in `references` [M, 1, 28, 28]; returns the mean.
// ||q - r||^2 = |q|^2 + |r|^2 - 2 q.r, the cross terms as one matmul per chunk of queries.
inline double mean_nearest_distance(const tinydiff::Tensor& queries, const tinydiff::Tensor& references) {
  using namespace tinydiff;
  const int64_t n = queries.size(0), m = references.size(0), d = queries.numel() / n;
  TD_CHECK(references.numel() / m == d, "nearest", "image sizes differ");
  NoGradGuard no_grad;
  // Images are stored in [-1, 1]; distances are reported on the [0, 1] pixel scale.
  const Tensor q = reshape((queries + 1.0f) * 0.5f, {n, d});
  const Tensor r = reshape((references + 1.0f) * 0.5f, {m, d});
  const Tensor r_columns = transpose(r, 0, 1);  // [d, m]
  std::vector<double> r_norm(static_cast<size_t>(m), 0.0);
  for (int64_t j = 0; j < m; ++j)
    for (int64_t k = 0; k < d; ++k) r_norm[j] += double(r.data()[j * d + k]) * r.data()[j * d + k];
  // The dot products kRowsPerChunk queries at a time, so memory does not grow with N.
  double total = 0.0;
  for (int64_t start = 0; start < n; start += kRowsPerChunk) {
    const int64_t rows = std::min(kRowsPerChunk, n - start);
    const Tensor dot_chunk = matmul(narrow(q, 0, start, rows), r_columns);  // [rows, m]
    const float* dots = dot_chunk.data();
    for (int64_t i = start; i < start + rows; ++i) {
      double q_norm = 0.0;
      for (int64_t k = 0; k < d; ++k) q_norm += double(q.data()[i * d + k]) * q.data()[i * d + k];
      double best = std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < m; ++j) best = std::min(best, q_norm + r_norm[j] - 2.0 * dots[(i - start) * m + j]);
      total += std::sqrt(std::max(best, 0.0));
    }
  }
  return total / static_cast<double>(n);
}

// Squared Euclidean distances between the rows of a [N, D] and b [M, D], as [N, M]:
// |a_i - b_j|^2 = |a_i|^2 + |b_j|^2 - 2 a_i.b_j, the cross terms as one matmul
// (rounding can make a distance slightly negative; it is clamped to 0).
inline tinydiff::Tensor pairwise_sq_distances(const tinydiff::Tensor& a, const tinydiff::Tensor& b) {
  using namespace tinydiff;
  TD_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1), "pairwise_sq_distances",
           "need features [N, D] and [M, D], got ", shape_str(a.shape()), " and ", shape_str(b.shape()));
  NoGradGuard no_grad;
  const Tensor a2 = sum(a * a, {1}, true), b2 = sum(b * b, {1}, true);  // [N, 1], [M, 1]
  return clamp(a2 + transpose(b2, 0, 1) - matmul(a, transpose(b, 0, 1)) * 2.0f, 0.0f,
               std::numeric_limits<float>::infinity());
}

// The cubic polynomial kernel matrix k(x_i, y_j) = (x_i.y_j / d + 1)^3, [N, M].
inline tinydiff::Tensor polynomial_kernel(const tinydiff::Tensor& x, const tinydiff::Tensor& y) {
  using namespace tinydiff;
  TD_CHECK(x.dim() == 2 && y.dim() == 2 && x.size(1) == y.size(1), "kid", "need features [N, D] and [M, D], got ",
           shape_str(x.shape()), " and ", shape_str(y.shape()));
  NoGradGuard no_grad;
  return pow(matmul(x, transpose(y, 0, 1)) * (1.0f / static_cast<float>(x.size(1))) + 1.0f, 3.0f);
}

namespace detail {
// Sum of a matrix's entries in double, leaving out the diagonal when asked.
inline double sum_entries(const tinydiff::Tensor& k, bool skip_diagonal) {
  const int64_t rows = k.size(0), cols = k.size(1);
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      if (!skip_diagonal || i != j) total += k.data()[i * cols + j];
  return total;
}
}  // namespace detail

// The unbiased MMD^2 estimate with the cubic kernel between x [m, D] and y [n, D]
// (m, n >= 2): the formula at the top of this file.
inline double mmd2_unbiased(const tinydiff::Tensor& x, const tinydiff::Tensor& y) {
  const int64_t m = x.size(0), n = y.size(0);
  TD_CHECK(m >= 2 && n >= 2, "kid", "need at least 2 rows in each set, got ", m, " and ", n);
  const double xx = detail::sum_entries(polynomial_kernel(x, x), true) / (double(m) * double(m - 1));
  const double yy = detail::sum_entries(polynomial_kernel(y, y), true) / (double(n) * double(n - 1));
  const double xy = detail::sum_entries(polynomial_kernel(x, y), false) / (double(m) * double(n));
  return xx + yy - 2.0 * xy;
}

struct KidResult {
  double mean = 0.0;       // the unbiased MMD^2 estimate over the whole sets
  double std_error = 0.0;  // its delete-one-subset jackknife standard error; NaN for one subset
  int64_t subsets = 0;
};

// KID between features a [N, D] and b [M, D]: the unbiased MMD^2 over all rows, with
// a standard error from `subsets` disjoint subsets (at most min(N, M) / 2, so each
// has 2 rows or more). Each set is shuffled (seeded) and dealt into the subsets;
// the estimate is recomputed with subset i of both sets left out, for each i, and
//   s.e. = sqrt((S - 1) / S * sum_i (theta_-i - mean_i theta_-i)^2)
// (the jackknife: valid for U-statistics such as this one). Every kernel sum is
// taken once, per pair of subsets, so memory is bounded by a subset pair.
// Using all pairs keeps the estimate's variance low; torch-fidelity's mean over 100
// overlapping random subsets of 1000 has none to report at N = 1000, where every
// subset is the whole set.
inline KidResult kid(const tinydiff::Tensor& features_a, const tinydiff::Tensor& features_b, int64_t subsets = 10,
                     uint64_t seed = 0) {
  using namespace tinydiff;
  TD_CHECK(features_a.dim() == 2 && features_b.dim() == 2 && features_a.size(1) == features_b.size(1), "kid",
           "need features [N, D] and [M, D], got ", shape_str(features_a.shape()), " and ",
           shape_str(features_b.shape()));
  TD_CHECK(subsets >= 1, "kid", "subsets must be >= 1, got ", subsets);
  const int64_t na = features_a.size(0), nb = features_b.size(0);
  TD_CHECK(na >= 2 && nb >= 2, "kid", "need at least 2 rows in each set, got ", na, " and ", nb);
  const int64_t s = std::min(subsets, std::min(na, nb) / 2);
  Generator gen(seed);
  // Row indices of each subset: a seeded shuffle dealt round-robin (sizes differ by at most 1).
  auto deal = [&gen, s](int64_t n) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.next_u64() % static_cast<uint64_t>(i + 1)]);
    std::vector<std::vector<int64_t>> parts(static_cast<size_t>(s));
    for (int64_t i = 0; i < n; ++i) parts[i % s].push_back(order[i]);
    return parts;
  };
  const auto parts_a = deal(na), parts_b = deal(nb);
  std::vector<Tensor> blocks_a, blocks_b;
  for (int64_t i = 0; i < s; ++i) {
    blocks_a.push_back(index_select(features_a, 0, parts_a[i]));
    blocks_b.push_back(index_select(features_b, 0, parts_b[i]));
  }
  // Kernel sums per pair of subsets (i, j); within a set, the diagonal i == j leaves out k(x, x).
  const size_t S = static_cast<size_t>(s);
  std::vector<double> sum_aa(S * S), sum_bb(S * S), sum_ab(S * S);
  for (size_t i = 0; i < S; ++i)
    for (size_t j = 0; j < S; ++j) {
      sum_aa[i * S + j] = detail::sum_entries(polynomial_kernel(blocks_a[i], blocks_a[j]), i == j);
      sum_bb[i * S + j] = detail::sum_entries(polynomial_kernel(blocks_b[i], blocks_b[j]), i == j);
      sum_ab[i * S + j] = detail::sum_entries(polynomial_kernel(blocks_a[i], blocks_b[j]), false);
    }
  // The estimate over every subset but `left_out` (-1: all of them).
  auto estimate = [&](int64_t left_out) {
    double aa = 0, bb = 0, ab = 0, m = 0, n = 0;
    for (size_t i = 0; i < S; ++i) {
      if (static_cast<int64_t>(i) == left_out) continue;
      m += static_cast<double>(parts_a[i].size());
      n += static_cast<double>(parts_b[i].size());
      for (size_t j = 0; j < S; ++j) {
        if (static_cast<int64_t>(j) == left_out) continue;
        aa += sum_aa[i * S + j];
        bb += sum_bb[i * S + j];
        ab += sum_ab[i * S + j];
      }
    }
    return aa / (m * (m - 1)) + bb / (n * (n - 1)) - 2.0 * ab / (m * n);
  };
  KidResult r;
  r.subsets = s;
  r.mean = estimate(-1);
  if (s < 2) {
    r.std_error = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  std::vector<double> left_out(S);
  for (size_t i = 0; i < S; ++i) left_out[i] = estimate(static_cast<int64_t>(i));
  const double centre = std::accumulate(left_out.begin(), left_out.end(), 0.0) / static_cast<double>(s);
  double ss = 0.0;
  for (double e : left_out) ss += (e - centre) * (e - centre);
  r.std_error = std::sqrt(ss * static_cast<double>(s - 1) / static_cast<double>(s));
  return r;
}

// For each row of `points` [N, D], the squared distance to its k-th nearest other
// row (the point itself left out), k in [1, N-1].
inline std::vector<float> kth_neighbour_sq_radii(const tinydiff::Tensor& points, int64_t k) {
  const int64_t n = points.size(0);
  TD_CHECK(k >= 1 && k < n, "precision_recall", "k must be in [1, ", n - 1, "] for ", n, " points, got ", k);
  std::vector<float> radii(static_cast<size_t>(n));
  std::vector<float> row(static_cast<size_t>(n - 1));
  for (int64_t start = 0; start < n; start += kRowsPerChunk) {
    const int64_t rows = std::min(kRowsPerChunk, n - start);
    const tinydiff::Tensor d = pairwise_sq_distances(tinydiff::narrow(points, 0, start, rows), points);
    for (int64_t i = start; i < start + rows; ++i) {
      const float* di = d.data() + (i - start) * n;
      std::copy(di, di + i, row.begin());
      std::copy(di + i + 1, di + n, row.begin() + i);
      std::nth_element(row.begin(), row.begin() + (k - 1), row.end());
      radii[i] = row[k - 1];
    }
  }
  return radii;
}

// The fraction of `queries` [N, D] inside at least one ball of the manifold of
// `support` [M, D]: query q is in when |q - s_j|^2 <= r_j^2 for some j.
inline double fraction_in_manifold(const tinydiff::Tensor& queries, const tinydiff::Tensor& support, int64_t k) {
  const std::vector<float> radii = kth_neighbour_sq_radii(support, k);
  const int64_t n = queries.size(0), m = support.size(0);
  int64_t inside = 0;
  for (int64_t start = 0; start < n; start += kRowsPerChunk) {
    const int64_t rows = std::min(kRowsPerChunk, n - start);
    const tinydiff::Tensor d = pairwise_sq_distances(tinydiff::narrow(queries, 0, start, rows), support);
    for (int64_t i = 0; i < rows; ++i) {
      const float* di = d.data() + i * m;
      for (int64_t j = 0; j < m; ++j)
        if (di[j] <= radii[j]) {
          ++inside;
          break;
        }
    }
  }
  return static_cast<double>(inside) / static_cast<double>(n);
}

struct PrecisionRecall {
  double precision = 0.0, recall = 0.0;
};

// Improved precision and recall (Kynkaanniemi et al. 2019) of `samples` against
// `real`, both [N, D] features: precision = samples in the real manifold, recall =
// real points in the samples' manifold, balls to the k-th nearest neighbour.
inline PrecisionRecall precision_recall(const tinydiff::Tensor& real, const tinydiff::Tensor& samples, int64_t k = 3) {
  TD_CHECK(real.dim() == 2 && samples.dim() == 2 && real.size(1) == samples.size(1), "precision_recall",
           "need features [N, D] and [M, D], got ", tinydiff::shape_str(real.shape()), " and ",
           tinydiff::shape_str(samples.shape()));
  return {fraction_in_manifold(samples, real, k), fraction_in_manifold(real, samples, k)};
}

}  // namespace ddpm
