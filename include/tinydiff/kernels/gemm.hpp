#pragma once
// GEMM on row-major float matrices through Eigen (the library's one BLAS).
//
// C[m,n] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T, row-major,
// op(A) is [m,k] and op(B) is [k,n]. Eigen::Map wraps the tensor memory, so
// nothing is copied; .noalias() lets Eigen write straight into C. Called from
// inside an OpenMP region, Eigen runs single-threaded; outside, it uses the
// OpenMP threads itself.
#include <Eigen/Core>
#include <cstdint>

namespace tinydiff::kernels {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix, Eigen::Unaligned>;
using MatrixMap = Eigen::Map<RowMajorMatrix, Eigen::Unaligned>;

inline void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 const float* b, float beta, float* c) {
  MatrixMap C(c, m, n);
  if (k == 0) {
    if (beta == 0.0f) C.setZero(); else C *= beta;
    return;
  }
  ConstMatrixMap A(a, trans_a ? k : m, trans_a ? m : k);
  ConstMatrixMap B(b, trans_b ? n : k, trans_b ? k : n);
  if (beta == 0.0f) {
    if (!trans_a && !trans_b) C.noalias() = alpha * A * B;
    else if (trans_a && !trans_b) C.noalias() = alpha * A.transpose() * B;
    else if (!trans_a && trans_b) C.noalias() = alpha * A * B.transpose();
    else C.noalias() = alpha * A.transpose() * B.transpose();
    return;
  }
  if (beta != 1.0f) C *= beta;
  if (!trans_a && !trans_b) C.noalias() += alpha * A * B;
  else if (trans_a && !trans_b) C.noalias() += alpha * A.transpose() * B;
  else if (!trans_a && trans_b) C.noalias() += alpha * A * B.transpose();
  else C.noalias() += alpha * A.transpose() * B.transpose();
}

}  // namespace tinydiff::kernels
