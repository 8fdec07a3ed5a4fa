#pragma once
// The ways a convolution can be computed, and the one place that picks one.
//
// Each of a convolution's passes (forward, input gradient, weight gradient) has several paths,
// all computing the same sums (kernels/conv_reference.hpp states them):
//
//   reference  the definition, loop by loop (kernels/conv_reference.hpp)           every pass
//   im2col     patch matrix + GEMM; col2im for the input gradient (kernels/conv.hpp) every pass
//   implicit   GEMM on patch tiles packed in L1, never the whole patch matrix       forward, input
//              (kernels/conv_implicit.hpp; the input gradient by phases, kernels/conv_phases.hpp)
//   phases     the input gradient as one stride-1 convolution of dy per phase,      input
//              chunk by chunk (kernels/conv_phases.hpp)
//   winograd   F(2x2, 3x3) for 3x3 stride-1 pad-1 kernels (kernels/winograd.hpp)    every pass
//   direct     the weight gradient read straight from the input                     weight
//              (kernels/weight_grad_direct.hpp)
//
// conv_path_applies says where a path can run (its results are then right on every tier);
// choose_conv_path picks the fastest for a geometry and instruction set (the measurements behind
// each choice are in the comments below and in docs/performance.md); conv_path is what the
// kernels ask: the choice, unless an override names a path that applies.
//
// Override, for users and tests: the environment variable TINYDIFF_CONV_PATH, read at the first
// convolution, either one path for every pass where it applies ("im2col") or one per pass
// ("forward=implicit,input=phases,weight=direct"); or ConvPathScope in code. A pass whose forced
// path does not apply to a convolution gets the usual choice.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>

#include "tinydiff/core/error.hpp"
#include "tinydiff/kernels/conv_implicit.hpp"
#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/conv_phases.hpp"
#include "tinydiff/kernels/weight_grad_direct.hpp"
#include "tinydiff/simd/isa.hpp"

namespace tinydiff::kernels {

enum class ConvPath : int { kAuto = 0, kReference, kIm2col, kImplicit, kPhases, kWinograd, kDirect };
enum class ConvPass : int { kForward = 0, kInputGrad, kWeightGrad };

constexpr std::array<ConvPath, 6> kConvPaths = {ConvPath::kReference, ConvPath::kIm2col,   ConvPath::kImplicit,
                                                ConvPath::kPhases,    ConvPath::kWinograd, ConvPath::kDirect};
constexpr std::array<ConvPass, 3> kConvPasses = {ConvPass::kForward, ConvPass::kInputGrad, ConvPass::kWeightGrad};

inline const char* conv_path_name(ConvPath path) {
  switch (path) {
    case ConvPath::kReference: return "reference";
    case ConvPath::kIm2col: return "im2col";
    case ConvPath::kImplicit: return "implicit";
    case ConvPath::kPhases: return "phases";
    case ConvPath::kWinograd: return "winograd";
    case ConvPath::kDirect: return "direct";
    default: return "auto";
  }
}

inline const char* conv_pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::kForward: return "forward";
    case ConvPass::kInputGrad: return "input";
    default: return "weight";
  }
}

// 3x3 kernels at stride 1, padding 1 (dilation 1, groups 1), of at least 4 input channels:
// Winograd F(2x2, 3x3) (kernels/winograd.hpp), 2.25x fewer multiplies than im2col. Convs of fewer
// input channels (the U-Net's conv_in) stay off it: there the GEMMs are thin and Winograd's output
// transform dominates (1 -> 32 at 28x28: im2col 4x faster, forward and input gradient).
inline bool winograd_applies(const ConvParams& p) {
  return p.in_channels >= 4 && p.groups == 1 && p.kernel_h == 3 && p.kernel_w == 3 && p.stride_h == 1 &&
         p.stride_w == 1 && p.pad_h == 1 && p.pad_w == 1 && p.dilation_h == 1 && p.dilation_w == 1 &&
         p.out_h == p.in_h && p.out_w == p.in_w && p.out_channels >= 1;
}

// Whether Winograd pays for `pass` on tier `isa`. On planes of 64 pixels or fewer (the U-Net's 7x7)
// the 2x2 tiles waste much of their work on the border (7x7: 16 tiles for 49 outputs, 23% of it).
// With AVX-512 the implicit GEMM and the direct weight gradient then win for the gradients (AMD
// Zen 5, batch 64, one thread: 7x7 64 -> 64 input and weight gradient 2.8-3.2 ms against
// Winograd's 3.7), but not the forward (1.5 ms against 1.7-1.9). With AVX2 Winograd's fewer
// multiplies win at 7x7 on every pass (forward 1.75 against 2.5 ms, gradients 3.5 against 4.5).
// (On the AVX-512 Intel Xeon this was first tuned on, the implicit GEMM won the 7x7 forward too.)
inline bool winograd_pays(const ConvParams& p, ConvPass pass, simd::Isa isa) {
  if (!winograd_applies(p)) return false;
  const int64_t plane = p.in_h * p.in_w;
  if (isa != simd::Isa::kAvx512) return plane >= 16;
  return pass == ConvPass::kForward ? plane >= 49 : plane > 64;
}

// Whether `path` can compute `pass` of convolution p.
inline bool conv_path_applies(ConvPath path, ConvPass pass, const ConvParams& p) {
  switch (path) {
    case ConvPath::kReference:
    case ConvPath::kIm2col: return true;
    case ConvPath::kImplicit:
      if (pass == ConvPass::kForward) return implicit_forward_applies(p);
      if (pass == ConvPass::kInputGrad) return phases_implicit_apply(p);
      return false;
    case ConvPath::kPhases: return pass == ConvPass::kInputGrad && phases_apply(p);
    case ConvPath::kWinograd: return winograd_applies(p);
    case ConvPath::kDirect: return pass == ConvPass::kWeightGrad && weight_grad_direct_applies(p);
    default: return false;
  }
}

// The fastest path for `pass` of convolution p on tier `isa` (docs/performance.md has the
// measurements).
inline ConvPath choose_conv_path(ConvPass pass, const ConvParams& p, simd::Isa isa) {
  // The implicit GEMM pays on planes of at most 32 columns, with at least 8 rows of the GEMM to
  // share each packed tile (AVX-512 Xeon, batch 64, against im2col + GEMM: stride-2 forwards
  // 10-20% faster, 7x7 forwards 5-10%, stride-2 input gradients 8-20%).
  const bool small_plane = p.in_w <= 32 && p.out_w <= 16;
  const bool winograd = winograd_pays(p, pass, isa);
  switch (pass) {
    case ConvPass::kForward:
      if (winograd) return ConvPath::kWinograd;
      if (implicit_forward_applies(p) && small_plane && p.out_channels >= 8) return ConvPath::kImplicit;
      return ConvPath::kIm2col;
    case ConvPass::kInputGrad:
      if (winograd) return ConvPath::kWinograd;
      // dy's planes are the implicit GEMM's input here, dx's channels its rows
      if (phases_implicit_apply(p) && p.out_w <= 32 && p.in_w <= 32 && p.in_channels >= 8)
        return ConvPath::kImplicit;
      if (phases_apply(p)) return ConvPath::kPhases;
      return ConvPath::kIm2col;
    default: {
      // Winograd's weight gradient does 2.25x fewer multiplies than the direct kernel but
      // transforms x and dy per chunk: with few input channels the transforms weigh more. Batch 64,
      // one thread, input and weight gradient together (AMD Zen 5): with AVX2, 64 and 128 input
      // channels 15-25% faster on Winograd, 32 alike; with AVX-512, 96 and 128 channels ~5% faster,
      // 32 and 64 slower (direct's 16-float rows keep it ahead there).
      const int64_t winograd_from = isa == simd::Isa::kAvx512 ? 96 : 64;
      if (winograd && p.in_channels >= winograd_from) return ConvPath::kWinograd;
      if (weight_grad_direct_applies(p)) return ConvPath::kDirect;
      if (winograd) return ConvPath::kWinograd;
      return ConvPath::kIm2col;
    }
  }
}

namespace conv_path_detail {
// The forced path per pass (kAuto: none), from TINYDIFF_CONV_PATH or ConvPathScope.
struct Override {
  std::array<ConvPath, 3> forced{ConvPath::kAuto, ConvPath::kAuto, ConvPath::kAuto};
};

inline ConvPath parse_path(const std::string& name, const std::string& spec) {
  for (ConvPath path : kConvPaths)
    if (name == conv_path_name(path)) return path;
  if (name == "auto") return ConvPath::kAuto;
  throw Error("TINYDIFF_CONV_PATH: unknown path '" + name + "' in '" + spec +
              "' (expected reference, im2col, implicit, phases, winograd, direct or auto, or "
              "forward=..., input=..., weight=... separated by commas)");
}

// "im2col" or "forward=implicit,input=phases,weight=direct".
inline Override parse_override(const std::string& spec) {
  Override o;
  if (spec.empty()) return o;
  if (spec.find('=') == std::string::npos) {
    o.forced.fill(parse_path(spec, spec));
    return o;
  }
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t end = std::min(spec.find(',', start), spec.size());
    const std::string item = spec.substr(start, end - start);
    const size_t eq = item.find('=');
    TD_CHECK(eq != std::string::npos, "TINYDIFF_CONV_PATH", "expected pass=path, got '", item, "' in '", spec, "'");
    const std::string pass = item.substr(0, eq);
    bool known = false;
    for (ConvPass p : kConvPasses)
      if (pass == conv_pass_name(p)) {
        o.forced[static_cast<size_t>(p)] = parse_path(item.substr(eq + 1), spec);
        known = true;
      }
    TD_CHECK(known, "TINYDIFF_CONV_PATH", "unknown pass '", pass, "' in '", spec,
             "' (expected forward, input or weight)");
    start = end + 1;
  }
  return o;
}

inline Override& current() {
  static Override value = [] {
    const char* spec = std::getenv("TINYDIFF_CONV_PATH");
    return parse_override(spec ? spec : "");
  }();
  return value;
}
}  // namespace conv_path_detail

// The path the kernels take for `pass` of convolution p.
inline ConvPath conv_path(ConvPass pass, const ConvParams& p) {
  const ConvPath forced = conv_path_detail::current().forced[static_cast<size_t>(pass)];
  if (forced != ConvPath::kAuto && conv_path_applies(forced, pass, p)) return forced;
  return choose_conv_path(pass, p, simd::active_isa());
}

// Forces `path` on `pass` (or, without a pass, on every pass) for the scope's lifetime, where it
// applies; kAuto lifts a force. Not meant to be changed while convolutions run on other threads.
class ConvPathScope {
 public:
  explicit ConvPathScope(ConvPath path) : previous_(conv_path_detail::current()) {
    conv_path_detail::current().forced.fill(path);
  }
  ConvPathScope(ConvPass pass, ConvPath path) : previous_(conv_path_detail::current()) {
    conv_path_detail::current().forced[static_cast<size_t>(pass)] = path;
  }
  ~ConvPathScope() { conv_path_detail::current() = previous_; }
  ConvPathScope(const ConvPathScope&) = delete;
  ConvPathScope& operator=(const ConvPathScope&) = delete;

 private:
  conv_path_detail::Override previous_;
};

}  // namespace tinydiff::kernels
