#pragma once
// The denoising network: a small U-Net, 28x28 -> 14x14 -> 7x7 and back.
//
// By default it is exactly the reference model of the project
// (tests/parity/unet_mirror.py is its PyTorch twin): base 32 channels,
// multipliers (1, 2, 2), GroupNorm(8), 10 classes + a "no label" class for
// classifier-free guidance, 835,681 parameters, and PyTorch's state_dict names
// (down.0.res.conv1.weight, ...), so checkpoints move between the two.
//
//   temb = MLP(sinusoidal(t)) + class_emb(y)
//   conv_in -> [ResBlock (-> skip) -> downsample]* -> ResBlock x2 -> [concat skip -> ResBlock -> upsample]*
//   -> GroupNorm -> SiLU -> conv_out
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

namespace ddpm {

using tinydiff::Tensor;
namespace nn = tinydiff::nn;

struct UNetConfig {
  int64_t in_channels = 1;
  int64_t base = 32;                   // channels at full resolution; the time embedding is 4 * base wide
  std::vector<int64_t> mults = {1, 2, 2};  // channels per level = base * mult; one level per resolution
  int64_t groups = 8;                  // GroupNorm groups
  int64_t num_classes = 10;            // 0 = unconditional; else label num_classes means "no label"
};

// Sinusoidal timestep embedding [B, dim]: [sin(t w_0..w_{h-1}), cos(t w_0..w_{h-1})],
// h = dim / 2, w_i = exp(-ln(10000) i / (h - 1)); computed in float as PyTorch does.
inline Tensor timestep_embedding(const std::vector<int>& t, int64_t dim) {
  const int64_t half = dim / 2;
  TD_CHECK(half >= 2, "timestep_embedding", "dim ", dim, " is too small (needs >= 4)");
  const auto b = static_cast<int64_t>(t.size());
  Tensor emb = Tensor::empty({b, 2 * half});
  const float log_base = static_cast<float>(-std::log(10000.0));
  for (int64_t i = 0; i < b; ++i)
    for (int64_t k = 0; k < half; ++k) {
      const float w = std::exp(static_cast<float>(k) * log_base / static_cast<float>(half - 1));
      const float angle = static_cast<float>(t[i]) * w;
      emb.data()[i * 2 * half + k] = std::sin(angle);
      emb.data()[i * 2 * half + half + k] = std::cos(angle);
    }
  return emb;
}

// GroupNorm -> SiLU -> 3x3 conv, twice, with the projected time embedding added
// per channel in between, and a residual connection (1x1 conv if channels change).
class ResBlock : public nn::Module {
 public:
  ResBlock(int64_t cin, int64_t cout, int64_t temb_dim, int64_t groups) : nn::Module("ResBlock") {
    norm1 = register_module("norm1", std::make_shared<nn::GroupNorm>(groups, cin));
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(cin, cout, 3).padding(1)));
    temb_proj = register_module("temb_proj", std::make_shared<nn::Linear>(temb_dim, cout));
    norm2 = register_module("norm2", std::make_shared<nn::GroupNorm>(groups, cout));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(cout, cout, 3).padding(1)));
    if (cin != cout) skip = register_module("skip", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(cin, cout, 1)));
  }

  Tensor forward(const Tensor& x, const Tensor& temb) {
    using namespace tinydiff;
    Tensor h = conv1->forward(silu(norm1->forward(x)));
    const Tensor t = temb_proj->forward(silu(temb));          // [B, C]
    h = h + reshape(t, {t.size(0), t.size(1), 1, 1});         // broadcast over H, W
    h = conv2->forward(silu(norm2->forward(h)));
    return h + (skip ? skip->forward(x) : x);
  }

  std::shared_ptr<nn::GroupNorm> norm1, norm2;
  std::shared_ptr<nn::Conv2d> conv1, conv2, skip;
  std::shared_ptr<nn::Linear> temb_proj;
};

// One resolution level: a ResBlock and, between levels, a down- or upsampling layer.
struct DownLevel : nn::Module {
  DownLevel() : nn::Module("DownLevel") {}
  std::shared_ptr<ResBlock> res;
  std::shared_ptr<nn::Conv2d> downsample;  // 3x3 stride 2; null on the last level
};
struct UpLevel : nn::Module {
  UpLevel() : nn::Module("UpLevel") {}
  std::shared_ptr<ResBlock> res;
  std::shared_ptr<nn::ConvTranspose2d> upsample;  // 4x4 stride 2 transposed; null on the last level
};

class UNet : public nn::Module {
 public:
  explicit UNet(const UNetConfig& cfg = {}) : nn::Module("UNet"), config(cfg) {
    TD_CHECK(!cfg.mults.empty() && cfg.base > 0 && cfg.groups > 0 && cfg.num_classes >= 0, "UNet",
             "invalid configuration");
    const int64_t temb = 4 * cfg.base;
    time_mlp = register_module("time_mlp", std::make_shared<nn::Sequential>());
    time_mlp->push_back(std::make_shared<nn::Linear>(cfg.base, temb));
    time_mlp->push_back(std::make_shared<nn::SiLU>());
    time_mlp->push_back(std::make_shared<nn::Linear>(temb, temb));
    if (cfg.num_classes > 0)
      class_emb = register_module("class_emb", std::make_shared<nn::Embedding>(nn::EmbeddingOptions(cfg.num_classes + 1, temb)));
    conv_in = register_module("conv_in",
                              std::make_shared<nn::Conv2d>(nn::Conv2dOptions(cfg.in_channels, cfg.base, 3).padding(1)));

    std::vector<int64_t> widths;
    for (int64_t m : cfg.mults) widths.push_back(cfg.base * m);
    down = register_module("down", std::make_shared<nn::ModuleList>());
    int64_t c = cfg.base;
    for (size_t level = 0; level < widths.size(); ++level) {
      auto stage = std::make_shared<DownLevel>();
      stage->res = stage->register_module("res", std::make_shared<ResBlock>(c, widths[level], temb, cfg.groups));
      if (level + 1 < widths.size())
        stage->downsample = stage->register_module(
            "downsample", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(widths[level], widths[level], 3).stride(2).padding(1)));
      down->push_back(stage);
      down_levels.push_back(stage);
      c = widths[level];
    }
    mid = register_module("mid", std::make_shared<nn::ModuleList>());
    for (int i = 0; i < 2; ++i) mid_blocks.push_back(mid->push_back(std::make_shared<ResBlock>(c, c, temb, cfg.groups)));
    up = register_module("up", std::make_shared<nn::ModuleList>());
    for (size_t level = widths.size(); level-- > 0;) {
      auto stage = std::make_shared<UpLevel>();
      stage->res = stage->register_module("res", std::make_shared<ResBlock>(c + widths[level], widths[level], temb, cfg.groups));
      if (level > 0)
        stage->upsample = stage->register_module(
            "upsample",
            std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(widths[level], widths[level], 4).stride(2).padding(1)));
      up->push_back(stage);
      up_levels.push_back(stage);
      c = widths[level];
    }
    norm_out = register_module("norm_out", std::make_shared<nn::GroupNorm>(cfg.groups, c));
    conv_out = register_module("conv_out",
                               std::make_shared<nn::Conv2d>(nn::Conv2dOptions(c, cfg.in_channels, 3).padding(1)));
  }

  // x [B, C, H, W], t: B timesteps, y: B labels in [0, num_classes] (empty: all "no label").
  Tensor forward(const Tensor& x, const std::vector<int>& t, const std::vector<int64_t>& y = {}) {
    using namespace tinydiff;
    const int64_t batch = x.size(0);
    TD_CHECK(x.dim() == 4 && x.size(1) == config.in_channels, "UNet", "expected input [B, ", config.in_channels,
             ", H, W], got ", shape_str(x.shape()));
    TD_CHECK(static_cast<int64_t>(t.size()) == batch, "UNet", t.size(), " timesteps for a batch of ", batch);
    Tensor temb = time_mlp->forward(timestep_embedding(t, config.base));
    if (config.num_classes > 0) {
      std::vector<int64_t> labels = y.empty() ? std::vector<int64_t>(static_cast<size_t>(batch), config.num_classes) : y;
      TD_CHECK(static_cast<int64_t>(labels.size()) == batch, "UNet", labels.size(), " labels for a batch of ", batch);
      temb = temb + class_emb->forward(labels);
    }
    Tensor h = conv_in->forward(x);
    std::vector<Tensor> skips;
    for (auto& stage : down_levels) {
      h = stage->res->forward(h, temb);
      skips.push_back(h);
      if (stage->downsample) h = stage->downsample->forward(h);
    }
    for (auto& block : mid_blocks) h = block->forward(h, temb);
    for (auto& stage : up_levels) {
      h = stage->res->forward(concat({h, skips.back()}, 1), temb);
      skips.pop_back();
      if (stage->upsample) h = stage->upsample->forward(h);
    }
    return conv_out->forward(silu(norm_out->forward(h)));
  }

  UNetConfig config;
  std::shared_ptr<nn::Sequential> time_mlp;
  std::shared_ptr<nn::Embedding> class_emb;
  std::shared_ptr<nn::Conv2d> conv_in, conv_out;
  std::shared_ptr<nn::ModuleList> down, mid, up;
  std::vector<std::shared_ptr<DownLevel>> down_levels;
  std::vector<std::shared_ptr<ResBlock>> mid_blocks;
  std::vector<std::shared_ptr<UpLevel>> up_levels;
  std::shared_ptr<nn::GroupNorm> norm_out;
};

}  // namespace ddpm
