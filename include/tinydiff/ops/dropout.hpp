#pragma once
/// @file
/// Dropout, as torch.nn.functional.dropout (inverted: the kept values are scaled
/// by 1 / (1 - p) so the expected value is unchanged and eval needs no rescaling).
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/generator.hpp"
#include "tinydiff/ops/map.hpp"

namespace tinydiff {

/// Each element is kept with probability 1 - p, independently (mask drawn from gen,
/// the default generator when null, one uniform per element in row-major order).
///
///     m_i = 1 / (1 - p) if kept else 0,  y = x m,  dx = g m   (the mask is saved for backward)
/// Identity (returns x itself) when !training or p == 0; all zeros when p == 1.
inline Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr) {
  detail::check_defined("dropout", "input", x);
  TD_CHECK(p >= 0.0 && p <= 1.0, "dropout", "probability p must be in [0, 1], got ", p, " (input of shape ",
           shape_str(x.shape()), ")");
  if (!training || p == 0.0) return x;
  Generator& rng = gen ? *gen : default_generator();
  Tensor mask = Tensor::empty(x.shape());
  float* m = mask.data();
  const auto keep = static_cast<float>(1.0 - p);
  const float scale = p == 1.0 ? 0.0f : static_cast<float>(1.0 / (1.0 - p));
  for (int64_t i = 0, n = x.numel(); i < n; ++i) m[i] = rng.uniform() < keep ? scale : 0.0f;
  Tensor y = detail::map(x, mask, [](float v, float mi) { return v * mi; });
  record_op(y, "dropout", {x}, [mask](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{detail::map(g, mask, [](float gi, float mi) { return gi * mi; })};
  });
  return y;
}

}  // namespace tinydiff
