#pragma once
// A small vision transformer for 28x28 digits, from tinydiff's public API only:
//
//   patches  Conv2d(1 -> dim, kernel = stride = patch): one token per patch, [B, T, dim]
//   tokens   [class token; patches] + learned position embedding      [B, T + 1, dim]
//   blocks   depth x pre-norm:  x += MHA(LN(x)),  x += fc2(GELU(fc1(LN(x))))
//   head     LayerNorm of the class token (or of the tokens' mean, pool = "mean") -> Linear(dim -> 10)
#include <cstdint>
#include <memory>
#include <string>

#include <tinydiff/tinydiff.hpp>

namespace vit {

using tinydiff::Tensor;
namespace nn = tinydiff::nn;

struct VitConfig {
  int64_t image = 28, patch = 7, dim = 64, depth = 4, heads = 4, mlp = 128;
  std::string pool = "cls";  // "cls": the class token's output; "mean": the mean over all tokens
  int64_t tokens() const { return (image / patch) * (image / patch); }
};

// One pre-norm transformer block on batch-first tokens [B, T, dim].
class Block : public nn::Module {
 public:
  Block(int64_t dim, int64_t heads, int64_t mlp) : nn::Module("Block") {
    norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({dim})));
    attn = register_module("attn", std::make_shared<nn::MultiheadAttention>(
                                       nn::MultiheadAttentionOptions(dim, heads).batch_first(true)));
    norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({dim})));
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(dim, mlp));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(mlp, dim));
  }

  Tensor forward(const Tensor& x) {
    const Tensor h = norm1->forward(x);
    const Tensor y = x + std::get<0>(attn->forward(h, h, h, Tensor(), /*need_weights=*/false));
    return y + fc2->forward(tinydiff::gelu(fc1->forward(norm2->forward(y))));
  }

  std::shared_ptr<nn::LayerNorm> norm1, norm2;
  std::shared_ptr<nn::MultiheadAttention> attn;
  std::shared_ptr<nn::Linear> fc1, fc2;
};

class VisionTransformer : public nn::Module {
 public:
  explicit VisionTransformer(const VitConfig& config_ = VitConfig()) : nn::Module("VisionTransformer"), config(config_) {
    TD_CHECK(config.pool == "cls" || config.pool == "mean", "VisionTransformer", "pool must be \"cls\" or \"mean\", got \"",
             config.pool, "\"");
    TD_CHECK(config.image % config.patch == 0, "VisionTransformer", "patch size ", config.patch,
             " does not divide the image size ", config.image);
    patch_embed = register_module("patch_embed", std::make_shared<nn::Conv2d>(
                                                     nn::Conv2dOptions(1, config.dim, config.patch).stride(config.patch)));
    // ViT's initialisation of the two embeddings: N(0, 0.02^2).
    cls_token = register_parameter("cls_token", nn::init::normal_(tinydiff::empty({1, 1, config.dim}), 0.0, 0.02));
    pos_embed = register_parameter(
        "pos_embed", nn::init::normal_(tinydiff::empty({1, config.tokens() + 1, config.dim}), 0.0, 0.02));
    blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    for (int64_t i = 0; i < config.depth; ++i)
      blocks->push_back(std::make_shared<Block>(config.dim, config.heads, config.mlp));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({config.dim})));
    head = register_module("head", std::make_shared<nn::Linear>(config.dim, 10));
  }

  // x [B, 1, 28, 28] in [-1, 1] -> logits [B, 10].
  Tensor forward(const Tensor& x) {
    using namespace tinydiff;
    const int64_t b = x.size(0), t = config.tokens(), d = config.dim;
    // [B, dim, 28/p, 28/p] -> [B, T, dim]
    const Tensor patches = transpose(reshape(patch_embed->forward(x), {b, d, t}), 1, 2);
    Tensor h = cat({broadcast_to(cls_token, {b, 1, d}), patches}, 1) + pos_embed;
    for (size_t i = 0; i < blocks->size(); ++i) h = blocks->at<Block>(i).forward(h);
    const Tensor pooled = config.pool == "mean" ? mean(h, {1}) : reshape(narrow(h, 1, 0, 1), {b, d});
    return head->forward(norm->forward(pooled));
  }

  VitConfig config;
  std::shared_ptr<nn::Conv2d> patch_embed;
  Tensor cls_token, pos_embed;
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> head;
};

}  // namespace vit
