#pragma once
// The small vector interface the tier kernels (kernels/tier/) are written against. Each tier
// provides it in a namespace of its own, in its own header:
//
//   simd::generic (vec_generic.hpp)  4 floats: GCC/Clang vector extensions (SSE2, NEON, or scalar)
//   simd::avx2    (vec_avx2.hpp)     8 floats: AVX2 + FMA intrinsics
//   simd::avx512  (vec_avx512.hpp)  16 floats: AVX-512 intrinsics, masks in k registers
//
// kernels/tiers.hpp includes the kernels once per tier with `using namespace simd::<tier>`, so
// in kernel code these names are the tier's:
//
//   kIsa, kLanes                    the tier, and floats per vector
//   kGemmRows, kGemmVectors         the GEMM register block: rows x vectors of accumulators
//   Vec                             a vector of kLanes floats; +, -, * and / work lane by lane
//   Mask                            a set of lanes
//   zero(), set1(x)                 all lanes 0, all lanes x
//   load(p), store(p, v)            kLanes floats from/to p (no alignment needed)
//   first_lanes(n)                  lanes [0, n) (none for n <= 0, all for n >= kLanes)
//   lanes_between(lo, hi)           lanes [lo, hi)
//   load(p, m), store(p, v, m)      only the lanes in m; the others read as 0 and their memory is
//                                   neither read nor written (so p may point near the end of a
//                                   buffer, or before its start)
//   fmadd(a, b, c)                  a*b + c (one rounding where the CPU has FMA)
//   max(a, b), min(a, b), sqrt(a)   lane by lane
//   pow2i(n)                        2^n for whole numbers n in [-127, 128] (n + 127 as the exponent)
//   zip(a, b, lo, hi)               lo = a0 b0 a1 b1 ..., hi = the upper halves zipped
//   deinterleave(a, b, even, odd)   even = a0 a2 ... b0 b2 ..., odd = a1 a3 ... b1 b3 ...
//   transpose_block(src, ss, dst, ds)  a kLanes x kLanes block transposed in registers
//   prefetch_l2(p)                  a hint to bring p's cache line into L2
//
// Everything else a kernel needs it writes itself, once, over these.
#include "tinydiff/simd/vec_avx2.hpp"
#include "tinydiff/simd/vec_avx512.hpp"
#include "tinydiff/simd/vec_generic.hpp"
