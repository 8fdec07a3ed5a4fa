#pragma once
// Regions of a header in which the compiler may use one tier's instructions, whatever the
// program's own flags: every function defined between TINYDIFF_TARGET_BEGIN_<TIER> and
// TINYDIFF_TARGET_END (templates and member functions included) is compiled as if with
// -mavx2 -mfma, or with AVX-512. Such functions may call each other and any inline function
// of the program (whose instructions are a subset); the program calls them only after
// simd::active_isa() says the CPU runs them.
//
// GCC takes `#pragma GCC target`. Clang takes `#pragma clang attribute`, which does not reach
// lambdas or the functions OpenMP outlines: so the tier code (kernels/tier/) has no OpenMP
// regions and no lambdas; the parallel loops around it are ordinary code that calls into it.

#if defined(__clang__)
#define TINYDIFF_TARGET_BEGIN_AVX2 \
  _Pragma("clang attribute push(__attribute__((target(\"avx,avx2,fma\"))), apply_to = function)")
#define TINYDIFF_TARGET_BEGIN_AVX512 \
  _Pragma(                           \
      "clang attribute push(__attribute__((target(\"avx,avx2,fma,avx512f,avx512bw,avx512dq,avx512vl\"))), apply_to = function)")
#define TINYDIFF_TARGET_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define TINYDIFF_TARGET_BEGIN_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx,avx2,fma\")")
#define TINYDIFF_TARGET_BEGIN_AVX512 \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx,avx2,fma,avx512f,avx512bw,avx512dq,avx512vl\")")
#define TINYDIFF_TARGET_END _Pragma("GCC pop_options")
#endif
