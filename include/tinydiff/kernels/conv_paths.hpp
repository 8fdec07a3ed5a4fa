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
//   winograd4  F(4x4, 3x3) for the same, channels-last: 1.8x fewer multiplies again  every pass
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

enum class ConvPath : int { kAuto = 0, kReference, kIm2col, kImplicit, kPhases, kWinograd, kWinograd4, kDirect };
enum class ConvPass : int { kForward = 0, kInputGrad, kWeightGrad };

constexpr std::array<ConvPath, 7> kConvPaths = {ConvPath::kReference, ConvPath::kIm2col,    ConvPath::kImplicit,
                                                ConvPath::kPhases,    ConvPath::kWinograd,  ConvPath::kWinograd4,
                                                ConvPath::kDirect};
constexpr std::array<ConvPass, 3> kConvPasses = {ConvPass::kForward, ConvPass::kInputGrad, ConvPass::kWeightGrad};

inline const char* conv_path_name(ConvPath path) {
  switch (path) {
    case ConvPath::kReference: return "reference";
    case ConvPath::kIm2col: return "im2col";
    case ConvPath::kImplicit: return "implicit";
    case ConvPath::kPhases: return "phases";
    case ConvPath::kWinograd: return "winograd";
    case ConvPath::kWinograd4: return "winograd4";
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

// Which Winograd pays for `pass`, if any: kWinograd4, kWinograd, or kAuto for neither. Measured
// with bench_ops, batch 64, two threads, AMD Zen 5 (docs/performance.md):
// - F(4x4, 3x3) on channels-last data wins every pass of the U-Net's 28x28, 14x14 and 7x7 convs
//   on every tier, over F(2x2, 3x3), the implicit GEMM and the direct weight gradient alike
//   (28x28 32 -> 32 forward: AVX2 1.83 ms against 3.11, AVX-512 1.24 against 2.11; 7x7 64 -> 64
//   input and weight gradient: AVX2 1.15 against 1.82 on F(2x2, 3x3), AVX-512 0.79 against 1.48
//   on implicit + direct), although 4x4 tiles cover a 7x7 plane with 64 pixels.
// - It vectorises its output side over the pass's output channels: with fewer than 8 (the U-Net's
//   conv_out, 32 -> 1, forward and weight gradient) F(2x2, 3x3) is faster (AVX2, 28x28: forward
//   0.68 ms against 0.99, weight gradient 1.59 against 1.98).
// - Below 16 pixels the transforms weigh more than the multiplies they save; so do a batch's
//   fixed costs (the filters' transform, 36 GEMMs, their threads) when it has few tiles: the
//   forward and input gradient want at least 64 of F(4x4, 3x3)'s tiles in the batch, the weight
//   gradient 256 (AVX2, 2 threads, against im2col, the implicit GEMM and the direct kernel:
//   7x7 64 -> 64 batch 4 forward 0.20 ms against the implicit GEMM's 0.09; 28x28 32 -> 32 batch
//   4 weight gradient alike, batch 16 0.76 against 0.95; 14x14 64 -> 64 batch 16 alike).
// (`isa` is not needed by this rule today; it stays in the signature, as the choice is per tier.)
inline ConvPath winograd_choice(const ConvParams& p, ConvPass pass, simd::Isa isa) {
  (void)isa;
  if (!winograd_applies(p) || p.in_h * p.in_w < 16) return ConvPath::kAuto;
  const int64_t tiles = p.batch * ((p.in_h + 3) / 4) * ((p.in_w + 3) / 4);
  if (tiles < (pass == ConvPass::kWeightGrad ? 256 : 64)) return ConvPath::kAuto;
  const int64_t pass_outputs = pass == ConvPass::kInputGrad ? p.in_channels : p.out_channels;
  return pass_outputs < 8 ? ConvPath::kWinograd : ConvPath::kWinograd4;
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
    case ConvPath::kWinograd:
    case ConvPath::kWinograd4: return winograd_applies(p);
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
  const ConvPath winograd = winograd_choice(p, pass, isa);
  if (winograd != ConvPath::kAuto) return winograd;
  switch (pass) {
    case ConvPass::kForward:
      if (implicit_forward_applies(p) && small_plane && p.out_channels >= 8) return ConvPath::kImplicit;
      return ConvPath::kIm2col;
    case ConvPass::kInputGrad:
      // dy's planes are the implicit GEMM's input here, dx's channels its rows
      if (phases_implicit_apply(p) && p.out_w <= 32 && p.in_w <= 32 && p.in_channels >= 8)
        return ConvPath::kImplicit;
      if (phases_apply(p)) return ConvPath::kPhases;
      return ConvPath::kIm2col;
    default:
      if (weight_grad_direct_applies(p)) return ConvPath::kDirect;
      return ConvPath::kIm2col;
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
              "' (expected reference, im2col, implicit, phases, winograd, winograd4, direct or auto, or "
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
