#pragma once
/// @file
/// pad(x, pads, mode, value), as torch.nn.functional.pad.
///
/// pads come in pairs from the last dim backwards: {left, right} pads the last dim,
/// {left, right, top, bottom} the last two, and so on. A negative pad crops. Modes:
///
///     constant   the border is `value`; any number of dims up to x's rank.
///     reflect    mirrors x without repeating the edge: [0 1 2 3] padded by 2 -> [2 1 0 1 2 3 2 1];
///                each pad smaller than its dim's size.
///     replicate  repeats the edge element: [0 1 2 3] padded by 2 -> [0 0 0 1 2 3 3 3].
///     circular   wraps around: [0 1 2 3] padded by 2 -> [2 3 0 1 2 3 0 1]; a crop on one side
///                happens first, and the wrap reads the cropped x (as PyTorch); each pad at
///                most the (cropped) size.
/// As PyTorch 1.13, the non-constant modes pad 1 to 3 trailing dims of an input with one or two
/// leading dims (batch and channel: 1-d padding of [C, W] or [N, C, W]), circular only with
/// both, and take no value.
///
///     dx[i] = sum of g over the outputs that read x[i] (one for constant and the interior; the
///     mirrored, replicated or wrapped border adds its g to the elements it copies).
#include <cstdint>
#include <string>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/kernels/dim_maps.hpp"

namespace tinydiff {

namespace detail {
/// The source table of one dim of size `size` padded by `before` and `after` (either may be
/// negative) in `mode`; -1 marks the constant border.
inline std::vector<int64_t> pad_dim_map(int64_t size, int64_t before, int64_t after, const std::string& mode) {
  const int64_t out = size + before + after;
  std::vector<int64_t> map(static_cast<size_t>(out));
  // circular wraps inside the cropped range [lo, lo + length) of x.
  const int64_t lo = before < 0 ? -before : 0;
  const int64_t length = size - lo - (after < 0 ? -after : 0);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t p = o - before;  // the position in x this output stands at
    int64_t s = p;
    if (mode == "constant") {
      s = p >= 0 && p < size ? p : -1;
    } else if (mode == "reflect") {
      s = p < 0 ? -p : p >= size ? 2 * (size - 1) - p : p;
    } else if (mode == "replicate") {
      s = p < 0 ? 0 : p >= size ? size - 1 : p;
    } else {  // circular
      const int64_t r = (o - (before > 0 ? before : 0)) % length;
      s = lo + (r < 0 ? r + length : r);
    }
    map[static_cast<size_t>(o)] = s;
  }
  return map;
}
}  // namespace detail

/// `x` padded (or cropped, where a pad is negative) by `pads`, in `mode` (see the top of the file).
inline Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode = "constant",
                  float value = 0.0f) {
  detail::check_defined("pad", "input", x);
  const int64_t rank = x.dim();
  TD_CHECK(mode == "constant" || mode == "reflect" || mode == "replicate" || mode == "circular", "pad", "mode '",
           mode, "' is not one of constant, reflect, replicate, circular");
  TD_CHECK(pads.size() % 2 == 0, "pad", "pads must come in pairs (before, after), got ", pads.size(), " values");
  const auto padded = static_cast<int64_t>(pads.size() / 2);  // how many trailing dims are padded
  TD_CHECK(padded <= rank, "pad", "got ", padded, " pairs of pads for an input of shape ", shape_str(x.shape()),
           ", which has only ", rank, " dims");
  if (mode != "constant") {
    TD_CHECK(value == 0.0f, "pad", "mode '", mode, "' takes no value (got ", value, ")");
    const bool circular = mode == "circular";
    TD_CHECK(padded >= 1 && padded <= 3 && (rank == padded + 2 || (!circular && rank == padded + 1)), "pad",
             "mode '", mode, "' pads 1 to 3 trailing dims of an input with ", circular ? "two leading dims" : "one or two leading dims",
             " (e.g. 1-d padding of [N, C, W]", circular ? "" : " or [C, W]", "), got ", padded,
             " pairs of pads for an input of shape ", shape_str(x.shape()));
  }
  kernels::DimMaps maps(static_cast<size_t>(rank));
  Shape out_shape = x.shape();
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t pair = rank - 1 - d;  // pads[2 * pair] and pads[2 * pair + 1] belong to dim d
    const int64_t size = x.shape()[d];
    const int64_t before = pair < padded ? pads[2 * pair] : 0, after = pair < padded ? pads[2 * pair + 1] : 0;
    int64_t out = 0;
    TD_CHECK(detail::add_fits(size, before, out) && detail::add_fits(out, after, out) && out >= 0, "pad", "pads (",
             before, ", ", after, ") of dim ", d, " of shape ", shape_str(x.shape()), " leave a negative size");
    // (reflect and replicate may crop past the edge on one side and read the other's border)
    TD_CHECK(mode != "constant" || (before >= -size && after >= -size), "pad", "pads (", before, ", ", after, ") crop more than dim ", d,
             " of shape ", shape_str(x.shape()), " holds");
    if (mode == "reflect")
      TD_CHECK(before < size && after < size, "pad", "reflect pads (", before, ", ", after,
               ") must be smaller than dim ", d, " of shape ", shape_str(x.shape()));
    if (mode == "reflect" || mode == "replicate")
      TD_CHECK(out > 0 || pair >= padded, "pad", "pads (", before, ", ", after, ") leave dim ", d, " of shape ",
               shape_str(x.shape()), " empty, which mode '", mode, "' cannot pad");
    if (mode == "circular" && pair < padded) {
      const int64_t length = size - (before < 0 ? -before : 0) - (after < 0 ? -after : 0);
      TD_CHECK(length >= 0 && before <= length && after <= length, "pad", "circular pads (", before, ", ", after,
               ") of dim ", d, " of shape ", shape_str(x.shape()), " would wrap around more than once");
    }
    out_shape[d] = out;
  }
  const int64_t count = shape_numel(out_shape, "pad");  // checked: the padded shape must fit in int64
  for (int64_t d = 0; count > 0 && d < rank; ++d) {
    const int64_t pair = rank - 1 - d;
    maps[static_cast<size_t>(d)] = detail::pad_dim_map(x.shape()[d], pair < padded ? pads[2 * pair] : 0,
                                                       pair < padded ? pads[2 * pair + 1] : 0, mode);
  }
  Tensor y = Tensor::empty(out_shape);
  kernels::gather_dim_maps(x.data(), x.shape(), y.data(), maps, value);
  record_op(y, "pad", {x}, [x_shape = x.shape(), maps](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = zeros(x_shape);
    kernels::scatter_add_dim_maps(g.data(), dx.data(), x_shape, maps);
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace tinydiff
