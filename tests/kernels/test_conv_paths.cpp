// Every convolution path (kernels/conv_paths.hpp) against the reference convolution
// (kernels/conv_reference.hpp), on every kernel tier this build and CPU can run: each pass of each
// geometry forced onto each path that applies, through the same dispatch point ops/conv.hpp
// uses. The geometries are random (a fixed seed): strides, paddings, dilations, groups, oblong
// kernels, odd planes, batch 1, and channel counts on both sides of the GEMM blocks and of the
// direct weight gradient's 16; plus the U-Net's own shapes, where the fast paths are chosen.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include <tinydiff/kernels/conv.hpp>
#include <tinydiff/kernels/conv_paths.hpp>
#include <tinydiff/kernels/conv_reference.hpp>
#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;
using kernels::ConvParams;
using kernels::ConvPass;
using kernels::ConvPath;

namespace {

std::string describe(const ConvParams& p) {
  return detail::concat("batch ", p.batch, ", ", p.in_channels, " -> ", p.out_channels, " channels, groups ", p.groups,
                        ", image ", p.in_h, "x", p.in_w, " -> ", p.out_h, "x", p.out_w, ", kernel ", p.kernel_h, "x",
                        p.kernel_w, ", stride ", p.stride_h, "x", p.stride_w, ", pad ", p.pad_h, "x", p.pad_w,
                        ", dilation ", p.dilation_h, "x", p.dilation_w);
}

// Fills in the output size; false when the (dilated) kernel does not fit the padded image.
bool finish(ConvParams& p) {
  const int64_t span_h = p.in_h + 2 * p.pad_h - p.dilation_h * (p.kernel_h - 1) - 1;
  const int64_t span_w = p.in_w + 2 * p.pad_w - p.dilation_w * (p.kernel_w - 1) - 1;
  if (span_h < 0 || span_w < 0) return false;
  p.out_h = span_h / p.stride_h + 1;
  p.out_w = span_w / p.stride_w + 1;
  return true;
}

ConvParams conv(int64_t batch, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t k, int64_t stride,
                int64_t pad) {
  ConvParams p;
  p.batch = batch, p.in_channels = cin, p.out_channels = cout, p.in_h = h, p.in_w = w;
  p.kernel_h = p.kernel_w = k, p.stride_h = p.stride_w = stride, p.pad_h = p.pad_w = pad;
  finish(p);
  return p;
}

// Random geometries, small enough for the reference: a fixed seed, so a failure reproduces.
std::vector<ConvParams> random_geometries(int count) {
  std::mt19937 rng(20261128);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<ConvParams> out;
  while (static_cast<int>(out.size()) < count) {
    ConvParams p;
    p.batch = pick(0, 3) == 0 ? 1 : pick(2, 5);
    p.groups = pick(0, 3) == 0 ? pick(2, 3) : 1;
    p.in_channels = p.groups * pick(1, 9);
    // per group: fewer than a GEMM block, a partial one, and past the direct kernel's 16
    const int cout_choices[] = {1, 3, 7, 8, 12, 16, 20, 33};
    p.out_channels = p.groups * cout_choices[pick(0, 7)];
    p.kernel_h = pick(1, 5), p.kernel_w = pick(0, 2) == 0 ? pick(1, 5) : p.kernel_h;
    p.stride_h = pick(1, 3), p.stride_w = pick(0, 2) == 0 ? pick(1, 3) : p.stride_h;
    p.pad_h = pick(0, 2), p.pad_w = pick(0, 2);
    p.dilation_h = pick(0, 3) == 0 ? 2 : 1, p.dilation_w = pick(0, 3) == 0 ? 2 : 1;
    p.in_h = pick(1, 19), p.in_w = pick(1, 23);
    if (finish(p)) out.push_back(p);
  }
  // Shapes the fast paths are made for: 3x3 stride 1 (Winograd, with odd planes), the U-Net's
  // stride-2 3x3 and 4x4 kernels, its 7x7 convolutions, a pointwise one, a 1-channel input.
  for (const ConvParams& p : {conv(2, 8, 16, 14, 14, 3, 1, 1), conv(3, 5, 20, 9, 11, 3, 1, 1),
                              conv(2, 16, 16, 28, 28, 3, 2, 1), conv(2, 12, 24, 14, 14, 4, 2, 1),
                              conv(3, 16, 16, 7, 7, 3, 1, 1), conv(2, 6, 10, 5, 9, 1, 1, 0),
                              conv(2, 1, 16, 12, 12, 3, 1, 1), conv(1, 24, 8, 10, 10, 3, 1, 1)})
    out.push_back(p);
  return out;
}

bool close(const Tensor& a, const Tensor& b) {
  const std::vector<float> va(a.data(), a.data() + a.numel()), vb(b.data(), b.data() + b.numel());
  return a.shape() == b.shape() && relative_error(va, vb) < 1e-4;
}

struct Expected {
  std::vector<float> y, dx, dw;
};

}  // namespace

TEST_CASE("every convolution path matches the reference on every pass, geometry and tier") {
  Generator gen(31);
  const std::vector<ConvParams> geometries = random_geometries(70);
  // (tier, pass, path) -> how many geometries it ran on
  std::map<std::string, int> runs;
  for (const ConvParams& p : geometries) {
    INFO(describe(p));
    const int64_t cin_g = p.in_per_group();
    const std::vector<float> x = random_vector(p.batch * p.in_channels * p.in_h * p.in_w, gen);
    const std::vector<float> w = random_vector(p.out_channels * cin_g * p.kernel_h * p.kernel_w, gen);
    const std::vector<float> b = random_vector(p.out_channels, gen), dx_bias = random_vector(p.in_channels, gen);
    const std::vector<float> dy = random_vector(p.batch * p.out_channels * p.out_h * p.out_w, gen);
    Expected expected;
    expected.y.resize(dy.size());
    expected.dx.resize(x.size());
    expected.dw.resize(w.size());
    kernels::reference_conv2d_forward(x.data(), w.data(), b.data(), expected.y.data(), p);
    kernels::reference_conv2d_backward_input(dy.data(), w.data(), expected.dx.data(), p, dx_bias.data());
    kernels::reference_conv2d_backward_weight(x.data(), dy.data(), expected.dw.data(), p);
    for_each_tier([&] {
      for (ConvPass pass : kernels::kConvPasses)
        for (ConvPath path : kernels::kConvPaths) {
          if (!kernels::conv_path_applies(path, pass, p)) continue;
          INFO(kernels::conv_pass_name(pass), " pass on the ", kernels::conv_path_name(path), " path");
          kernels::ConvPathScope force(pass, path);
          REQUIRE(kernels::conv_path(pass, p) == path);
          std::vector<float> out;
          double error = 0.0;
          if (pass == ConvPass::kForward) {
            out.assign(expected.y.size(), NAN);
            kernels::conv2d_forward(x.data(), w.data(), b.data(), out.data(), p);
            error = relative_error(out, expected.y);
          } else if (pass == ConvPass::kInputGrad) {
            out.assign(expected.dx.size(), NAN);
            kernels::conv2d_backward_input(dy.data(), w.data(), out.data(), p, dx_bias.data());
            error = relative_error(out, expected.dx);
          } else {
            out.assign(expected.dw.size(), NAN);
            kernels::conv2d_backward_weight(x.data(), dy.data(), out.data(), p);
            error = relative_error(out, expected.dw);
          }
          CHECK(error < 2e-5);  // NaN: a value never written
          ++runs[detail::concat(simd::isa_name(simd::active_isa()), " ", kernels::conv_pass_name(pass), " ",
                                kernels::conv_path_name(path))];
        }
    });
  }
  // Every path ran, on every tier, for every pass it serves, on several geometries.
  for (simd::Isa isa : simd::available_isas())
    for (ConvPass pass : kernels::kConvPasses)
      for (ConvPath path : kernels::kConvPaths) {
        const bool serves = path == ConvPath::kReference || path == ConvPath::kIm2col || path == ConvPath::kWinograd ||
                            path == ConvPath::kWinograd4 ||
                            (path == ConvPath::kImplicit && pass != ConvPass::kWeightGrad) ||
                            (path == ConvPath::kPhases && pass == ConvPass::kInputGrad) ||
                            (path == ConvPath::kDirect && pass == ConvPass::kWeightGrad);
        const std::string key =
            detail::concat(simd::isa_name(isa), " ", kernels::conv_pass_name(pass), " ", kernels::conv_path_name(path));
        INFO(key);
        if (serves) CHECK(runs[key] >= 3);
        else CHECK(runs.count(key) == 0);
      }
}

TEST_CASE("conv2d and conv_transpose2d give the reference's values on every forced path") {
  // The ops themselves (autograd included) on one strided geometry: every path that applies to a
  // pass is forced on all passes at once, as TINYDIFF_CONV_PATH=<path> would.
  manual_seed(5);
  const Tensor x = randn({2, 6, 11, 10}), w = randn({12, 3, 3, 4}), b = randn({12});
  const Tensor wt = randn({6, 4, 4, 4}), bt = randn({4});
  Tensor y_ref, dx_ref, dw_ref, t_ref, tx_ref;
  {
    kernels::ConvPathScope reference(ConvPath::kReference);
    Tensor xr = x.detach().requires_grad_(), wr = w.detach().requires_grad_();
    y_ref = conv2d(xr, wr, b, 2, 1, 1, 2);
    (y_ref * y_ref).sum().backward();
    dx_ref = xr.grad(), dw_ref = wr.grad();
    Tensor xt = x.detach().requires_grad_();
    t_ref = conv_transpose2d(xt, wt, bt, 2, 1, 1, 1, 1);
    (t_ref * t_ref).sum().backward();
    tx_ref = xt.grad();
  }
  for_each_tier([&] {
    for (ConvPath path : kernels::kConvPaths) {
      INFO("forced path ", kernels::conv_path_name(path));
      kernels::ConvPathScope force(path);
      Tensor xr = x.detach().requires_grad_(), wr = w.detach().requires_grad_();
      Tensor y = conv2d(xr, wr, b, 2, 1, 1, 2);
      (y * y).sum().backward();
      CHECK(close(y, y_ref));
      CHECK(close(xr.grad(), dx_ref));
      CHECK(close(wr.grad(), dw_ref));
      Tensor xt = x.detach().requires_grad_();
      Tensor t = conv_transpose2d(xt, wt, bt, 2, 1, 1, 1, 1);
      (t * t).sum().backward();
      CHECK(close(t, t_ref));
      CHECK(close(xt.grad(), tx_ref));
    }
  });
}

TEST_CASE("the path choice: the fast paths where they pay, im2col elsewhere") {
  for_each_tier([] {
    const simd::Isa isa = simd::active_isa();
    auto choice = [&](ConvPass pass, const ConvParams& p) { return kernels::choose_conv_path(pass, p, isa); };
    // The U-Net's 3x3 stride-1 convs at 28x28 and 14x14: F(4x4, 3x3) for every pass on every tier.
    const ConvParams big = conv(64, 32, 32, 28, 28, 3, 1, 1), wide = conv(64, 128, 64, 14, 14, 3, 1, 1);
    for (ConvPass pass : kernels::kConvPasses) {
      CHECK(choice(pass, big) == ConvPath::kWinograd4);
      CHECK(choice(pass, wide) == ConvPath::kWinograd4);
    }
    // At 7x7 too.
    const ConvParams small = conv(64, 64, 64, 7, 7, 3, 1, 1);
    for (ConvPass pass : kernels::kConvPasses) CHECK(choice(pass, small) == ConvPath::kWinograd4);
    // conv_out (32 -> 1): F(2x2, 3x3) for the forward and weight gradient, F(4x4, 3x3) for the input
    // gradient (its outputs are the 32 channels).
    const ConvParams last = conv(64, 32, 1, 28, 28, 3, 1, 1);
    CHECK(choice(ConvPass::kForward, last) == ConvPath::kWinograd);
    CHECK(choice(ConvPass::kInputGrad, last) == ConvPath::kWinograd4);
    CHECK(choice(ConvPass::kWeightGrad, last) == ConvPath::kWinograd);
    // Small batches: Winograd only with enough tiles (forward and input gradient 64, weight
    // gradient 256 of F(4x4, 3x3)'s).
    const ConvParams one = conv(1, 64, 64, 14, 14, 3, 1, 1), four = conv(4, 32, 32, 28, 28, 3, 1, 1);
    for (ConvPass pass : kernels::kConvPasses) {
      CHECK(choice(pass, one) != ConvPath::kWinograd);
      CHECK(choice(pass, one) != ConvPath::kWinograd4);
    }
    CHECK(choice(ConvPass::kForward, four) == ConvPath::kWinograd4);
    CHECK(choice(ConvPass::kInputGrad, four) == ConvPath::kWinograd4);
    CHECK(choice(ConvPass::kWeightGrad, four) == ConvPath::kDirect);
    // Below 16 pixels, no Winograd.
    const ConvParams tiny = conv(64, 64, 64, 3, 3, 3, 1, 1);
    CHECK(choice(ConvPass::kForward, tiny) != ConvPath::kWinograd);
    CHECK(choice(ConvPass::kForward, tiny) != ConvPath::kWinograd4);
    // Stride 2: implicit forward and input gradient; the transposed conv's 4x4 kernel likewise.
    const ConvParams down = conv(64, 32, 32, 28, 28, 3, 2, 1), up = conv(64, 64, 64, 14, 14, 4, 2, 1);
    CHECK(choice(ConvPass::kForward, down) == ConvPath::kImplicit);
    CHECK(choice(ConvPass::kInputGrad, down) == ConvPath::kImplicit);
    CHECK(choice(ConvPass::kInputGrad, up) == ConvPath::kImplicit);
    CHECK(choice(ConvPass::kWeightGrad, up) == ConvPath::kDirect);
    // conv_in (1 input channel: no Winograd), a pointwise conv, a dilated one.
    const ConvParams first = conv(64, 1, 32, 28, 28, 3, 1, 1), pointwise = conv(64, 32, 64, 14, 14, 1, 1, 0);
    CHECK(choice(ConvPass::kForward, first) == ConvPath::kIm2col);
    CHECK(choice(ConvPass::kInputGrad, pointwise) == ConvPath::kIm2col);
    ConvParams dilated = conv(2, 8, 8, 40, 40, 3, 1, 2);
    dilated.dilation_h = dilated.dilation_w = 2;
    finish(dilated);
    CHECK(choice(ConvPass::kInputGrad, dilated) == ConvPath::kIm2col);
    // A forced path that does not apply leaves the usual choice.
    kernels::ConvPathScope force(ConvPath::kDirect);
    CHECK(kernels::conv_path(ConvPass::kForward, big) == ConvPath::kWinograd4);
  });
}

TEST_CASE("TINYDIFF_CONV_PATH: one path for every pass, or one per pass; bad values are named") {
  using kernels::conv_path_detail::parse_override;
  const auto all = parse_override("im2col");
  for (ConvPass pass : kernels::kConvPasses) CHECK(all.forced[static_cast<size_t>(pass)] == ConvPath::kIm2col);
  const auto each = parse_override("forward=implicit,weight=direct");
  CHECK(each.forced[0] == ConvPath::kImplicit);
  CHECK(each.forced[1] == ConvPath::kAuto);
  CHECK(each.forced[2] == ConvPath::kDirect);
  CHECK(parse_override("").forced[0] == ConvPath::kAuto);
  test_helpers::check_error([] { parse_override("fastest"); }, "TINYDIFF_CONV_PATH", {"'fastest'", "im2col"});
  test_helpers::check_error([] { parse_override("backward=im2col"); }, "TINYDIFF_CONV_PATH",
                            {"'backward'", "forward, input or weight"});
  test_helpers::check_error([] { parse_override("forward"); }, "TINYDIFF_CONV_PATH", {"'forward'"});
  test_helpers::check_error([] { parse_override("forward=im2col,input"); }, "TINYDIFF_CONV_PATH",
                            {"expected pass=path", "'input'"});
}
