#pragma once
/// @file
/// nn::Embedding: a table of num_embeddings vectors of size embedding_dim, as
/// torch.nn.Embedding; weight [num, dim] starts N(0, 1).
#include <cmath>
#include <cstdint>
#include <ostream>
#include <vector>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/nn/init.hpp"
#include "tinydiff/nn/module.hpp"
#include "tinydiff/ops/embedding.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff::nn {

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  TINYDIFF_ARG(int64_t, num_embeddings);
  TINYDIFF_ARG(int64_t, embedding_dim);
};

class Embedding : public UnaryModule {
 public:
  /// Initial values are drawn from `gen`, or the default generator when null.
  explicit Embedding(const EmbeddingOptions& options_, Generator* gen = nullptr)
      : UnaryModule("Embedding"), options(options_) {
    TD_CHECK(options.num_embeddings() > 0 && options.embedding_dim() > 0, "Embedding",
             "num_embeddings and embedding_dim must be positive, got ", options.num_embeddings(), " and ",
             options.embedding_dim());
    weight = register_parameter("weight", empty({options.num_embeddings(), options.embedding_dim()}));
    reset_parameters(gen);
  }

  void reset_parameters(Generator* gen = nullptr) { init::normal_(weight, 0.0, 1.0, gen); }

  /// indices (len) -> [len, dim].
  Tensor forward(const std::vector<int64_t>& indices) { return embedding(indices, weight); }

  /// Indices of any shape S -> [S..., dim].
  Tensor forward(const IndexTensor& indices) { return embedding(indices, weight); }

  /// A tensor of integer-valued indices of any shape S -> [S..., dim] (the library's tensors are float).
  Tensor forward(const Tensor& indices) override {
    tinydiff::detail::check_defined("Embedding", "input", indices);
    const float* p = indices.data();
    std::vector<int64_t> idx(static_cast<size_t>(indices.numel()));
    for (size_t i = 0; i < idx.size(); ++i) {
      // Whole and inside int64 before the cast (casting inf or 1e30 is undefined behaviour); the
      // range against num_embeddings is embedding()'s check.
      TD_CHECK(std::isfinite(p[i]) && std::floor(p[i]) == p[i] && std::fabs(p[i]) < 9.2e18f, "Embedding", "index ",
               p[i], " at position ", i, " is not an integer index");
      idx[i] = static_cast<int64_t>(p[i]);
    }
    Shape shape = indices.shape();
    shape.push_back(options.embedding_dim());
    return reshape(embedding(idx, weight), shape);
  }

  void pretty_print(std::ostream& out) const override {
    out << "Embedding(" << options.num_embeddings() << ", " << options.embedding_dim() << ")";
  }

  EmbeddingOptions options;
  Tensor weight;
};

}  // namespace tinydiff::nn
