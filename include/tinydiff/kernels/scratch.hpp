#pragma once
// Per-thread scratch buffers for the convolution kernels (kernels/conv.hpp, kernels/winograd.hpp,
// kernels/conv_gemm.hpp, kernels/conv_implicit.hpp):
// one buffer per slot and thread that only grows, so once the buffers have reached the
// largest shape seen a kernel call allocates (and zeroes) nothing. The im2col, implicit and Winograd
// paths share the slots: none runs inside another, and within one kernel call each
// slot has one use.
#include <cstddef>
#include <vector>

namespace tinydiff::kernels {

enum class ScratchSlot : int {
  kPatches = 0,  // im2col: the patch matrix col / dcol;  Winograd: V (transformed input tiles);  implicit GEMM: a packed tile
  kProduct = 1,  // im2col: a GEMM's output or gathered dy;  Winograd: M / dM;  implicit GEMM: a tile's products
  kPlanes = 2,   // Winograd: the padded input plane
  kWeights = 3,  // Winograd: U (transformed weights);  implicit GEMM: packed weight blocks; on the calling thread
  kPackedA = 4,  // conv_gemm: blocks of op(A) copied into [K][8], or (without AVX-512) a row table's rows gathered
  kRowTable = 5,  // (const float*) the phases' row tables into shared patch rows
  kOffsets = 6,   // (int32_t) weight_grad_direct: the chunk's position offsets
  kTransposed = 7,  // Winograd: dM[k] transposed (F(2x2, 3x3) weight gradient), an image channels-last (F(4x4, 3x3))
  kTaps = 8,        // Winograd: the filters tap by tap, before their transform
  kCount = 9
};

// At least `count` elements of type T, for this thread and slot (each type has its own buffers).
template <class T>
inline T* thread_scratch_of(ScratchSlot slot, size_t count) {
  thread_local std::vector<T> buffers[static_cast<int>(ScratchSlot::kCount)];
  std::vector<T>& b = buffers[static_cast<int>(slot)];
  if (b.size() < count) b.resize(count);
  return b.data();
}

inline float* thread_scratch(ScratchSlot slot, size_t count) { return thread_scratch_of<float>(slot, count); }

}  // namespace tinydiff::kernels
