#pragma once
// The tiers of kernels: kernels/tier/ compiled once per instruction set this build holds
// (simd/isa.hpp), each in a namespace of its own (kernels::avx512, kernels::avx2,
// kernels::generic) and, for the x86 tiers, in a region where the compiler may use that tier's
// instructions (simd/target.hpp). Inside, the names Vec, load, fmadd, kLanes, ... are the tier's
// (simd/vec.hpp), so the same source becomes 16-, 8- and 4-float code.
//
// tier_kernels() is the one dispatch point: the table of the tier simd::active_isa() chose.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/fast_math.hpp"
#include "tinydiff/kernels/phases_geometry.hpp"
#include "tinydiff/kernels/scratch.hpp"
#include "tinydiff/kernels/tier_api.hpp"
#include "tinydiff/simd/isa.hpp"
#include "tinydiff/simd/target.hpp"
#include "tinydiff/simd/vec.hpp"

#if TINYDIFF_TIER_AVX512
TINYDIFF_TARGET_BEGIN_AVX512
namespace tinydiff::kernels::avx512 {
using namespace ::tinydiff::simd::avx512;
#include "tinydiff/kernels/tier/all.inl"
}  // namespace tinydiff::kernels::avx512
TINYDIFF_TARGET_END
#endif

#if TINYDIFF_TIER_AVX2
TINYDIFF_TARGET_BEGIN_AVX2
namespace tinydiff::kernels::avx2 {
using namespace ::tinydiff::simd::avx2;
#include "tinydiff/kernels/tier/all.inl"
}  // namespace tinydiff::kernels::avx2
TINYDIFF_TARGET_END
#endif

namespace tinydiff::kernels::generic {
using namespace ::tinydiff::simd::generic;
#include "tinydiff/kernels/tier/all.inl"
}  // namespace tinydiff::kernels::generic

namespace tinydiff::kernels {

// The kernels of the tier the program runs on (simd::active_isa(): chosen once, at first use).
inline const TierKernels& tier_kernels() {
  switch (simd::active_isa()) {
#if TINYDIFF_TIER_AVX512
    case simd::Isa::kAvx512: return avx512::table();
#endif
#if TINYDIFF_TIER_AVX2
    case simd::Isa::kAvx2: return avx2::table();
#endif
    default: return generic::table();
  }
}

}  // namespace tinydiff::kernels
