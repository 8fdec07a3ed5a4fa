#pragma once
/// @file
/// Layout ops: reshape (shares storage), clone, permute/transpose, concat,
/// narrow/slice/select, index_select, repeat; unsqueeze/squeeze (reshapes), stack, split,
/// chunk (concats and narrows). All but reshape copy into a fresh tensor; each
/// backward routes g back to where the elements came from.
///
/// Why copies and not strided views, as PyTorch's transpose / permute / narrow / select: every
/// tinydiff tensor is contiguous (core/tensor.hpp), and every kernel reads it as such, so an op
/// that changes the layout writes a new tensor (O(numel) time and memory) and writing into the
/// result never changes the input.
#include <algorithm>
#include <cstring>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/kernels/broadcast.hpp"
#include "tinydiff/kernels/dim_maps.hpp"

namespace tinydiff {

/// Same data, new shape (one dim may be -1, inferred).  dx = g reshaped back.
inline Tensor reshape(const Tensor& x, Shape shape) {
  detail::check_defined("reshape", "input", x);
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      TD_CHECK(infer < 0, "reshape", "only one dim can be -1 in ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      TD_CHECK(shape[i] >= 0, "reshape", "invalid size ", shape[i], " in ", shape_str(shape));
      TD_CHECK(detail::multiply_fits(known, shape[i], known), "reshape", "the sizes in ", shape_str(shape),
               " multiply past int64");
    }
  }
  if (infer >= 0) {
    TD_CHECK(known > 0 && x.numel() % known == 0, "reshape", "cannot reshape a tensor of shape ",
             shape_str(x.shape()), " to ", shape_str(shape));
    shape[infer] = x.numel() / known;
  }
  const int64_t count = shape_numel(shape, "reshape");  // checked: the new strides must fit in int64 too
  TD_CHECK(count == x.numel(), "reshape", "cannot reshape a tensor of shape ", shape_str(x.shape()), " (",
           x.numel(), " elements) to ", shape_str(shape), " (", count, " elements)");
  Tensor y = x.detach();
  y.impl()->shape = shape;
  record_op(y, "reshape", {x}, [x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{reshape(g, x_shape)};
  });
  return y;
}

/// A copy with its own storage.  dx = g.
inline Tensor clone(const Tensor& x) {
  detail::check_defined("clone", "input", x);
  Tensor y = Tensor::empty(x.shape());
  if (x.numel()) std::memcpy(y.data(), x.data(), sizeof(float) * static_cast<size_t>(x.numel()));
  record_op(y, "clone", {x}, [](const Tensor& g, const std::vector<bool>&) { return std::vector<Tensor>{g}; });
  return y;
}

/// y's dim i is x's dim dims[i], as torch.permute but a copy (see the top of the file).
///
///     dx = g permuted by the inverse permutation.
inline Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  detail::check_defined("permute", "input", x);
  const int64_t rank = x.dim();
  TD_CHECK(static_cast<int64_t>(dims.size()) == rank, "permute", "got ", dims.size(), " dims for shape ",
           shape_str(x.shape()));
  std::vector<int64_t> order(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t d = normalize_dim(dims[i], rank, "permute");
    TD_CHECK(!seen[d], "permute", "dim ", dims[i], " repeated for shape ", shape_str(x.shape()));
    seen[d] = true;
    order[i] = d;
    inverse[d] = i;
  }
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  Shape out_shape(rank);
  std::vector<int64_t> read_strides(rank);
  for (int64_t i = 0; i < rank; ++i) {
    out_shape[i] = x.shape()[order[i]];
    read_strides[i] = in_strides[order[i]];
  }
  Tensor y = Tensor::empty(out_shape);
  const float* px = x.data();
  float* py = y.data();
  kernels::for_each_broadcast(out_shape, read_strides, read_strides, [&](int64_t o, int64_t i, int64_t) { py[o] = px[i]; });
  record_op(y, "permute", {x}, [inverse](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{permute(g, inverse)};
  });
  return y;
}

/// Swaps two dims, as torch.transpose but a copy (see the top of the file).
inline Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  detail::check_defined("transpose", "input", x);
  const int64_t rank = x.dim();
  const int64_t d0 = normalize_dim(dim0, rank, "transpose"), d1 = normalize_dim(dim1, rank, "transpose");
  std::vector<int64_t> dims(rank);
  for (int64_t i = 0; i < rank; ++i) dims[i] = i;
  std::swap(dims[d0], dims[d1]);
  return permute(x, dims);
}

namespace detail {
/// A dim for a new axis, in [-rank - 1, rank] (unsqueeze, stack): -1 is after the last dim.
inline int64_t new_axis_dim(int64_t dim, const Shape& shape, const char* op) {
  const auto rank = static_cast<int64_t>(shape.size());
  TD_CHECK(dim >= -rank - 1 && dim <= rank, op, "dim ", dim, " is out of range [", -rank - 1, ", ", rank,
           "] for a new dim of shape ", shape_str(shape));
  return dim < 0 ? dim + rank + 1 : dim;
}

/// Views a shape around `dim` as [outer, size, inner] (outer = dims before, inner = dims after).
struct AroundDim {
  int64_t outer = 1, size = 1, inner = 1;
};
inline AroundDim around_dim(const Shape& s, int64_t dim) {
  AroundDim a;
  for (int64_t i = 0; i < dim; ++i) a.outer *= s[i];
  a.size = s[dim];
  for (size_t i = static_cast<size_t>(dim) + 1; i < s.size(); ++i) a.inner *= s[i];
  return a;
}
/// Copies entries [start, start + length) of the middle dim of src ([outer, size, inner])
/// into dst ([outer, length, inner]).
inline void copy_dim_range(const float* src, float* dst, const AroundDim& a, int64_t start, int64_t length) {
  if (length * a.inner == 0) return;  // nothing to copy; an empty tensor's data() is null, which memcpy must not see
  for (int64_t o = 0; o < a.outer; ++o)
    std::memcpy(dst + o * length * a.inner, src + (o * a.size + start) * a.inner,
                sizeof(float) * static_cast<size_t>(length * a.inner));
}
}  // namespace detail

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim);

/// Elements [start, start + length) along `dim`, as torch.narrow but a copy (see the top of the
/// file).  dx = zeros with g placed in that range.
inline Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  detail::check_defined("narrow", "input", x);
  const int64_t d = normalize_dim(dim, x.dim(), "narrow");
  const int64_t size = x.shape()[d];
  int64_t end = 0;
  const bool end_fits = detail::add_fits(start, length, end);  // start + length may overflow
  TD_CHECK(start >= 0 && length >= 0 && end_fits && end <= size, "narrow", "range [", start, ", ",
           end_fits ? std::to_string(end) : std::to_string(start) + " + " + std::to_string(length),
           ") is out of bounds for dim ", dim, " of shape ", shape_str(x.shape()));
  Shape out_shape = x.shape();
  out_shape[d] = length;
  Tensor y = Tensor::empty(out_shape);
  detail::copy_dim_range(x.data(), y.data(), detail::around_dim(x.shape(), d), start, length);
  record_op(y, "narrow", {x}, [x_shape = x.shape(), d, start, length](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = zeros(x_shape);
    const auto a = detail::around_dim(x_shape, d);
    for (int64_t o = 0; length * a.inner > 0 && o < a.outer; ++o)
      std::memcpy(dx.data() + (o * a.size + start) * a.inner, g.data() + o * length * a.inner,
                  sizeof(float) * static_cast<size_t>(length * a.inner));
    return std::vector<Tensor>{dx};
  });
  return y;
}

/// Python-style x[start:end] along `dim` (negative indices count from the end, clamped like Python).
inline Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  detail::check_defined("slice", "input", x);
  const int64_t d = normalize_dim(dim, x.dim(), "slice");
  const int64_t size = x.shape()[d];
  auto clampi = [size](int64_t i) { return std::min(std::max(i < 0 ? i + size : i, int64_t{0}), size); };
  const int64_t s = clampi(start), e = clampi(end);
  return narrow(x, d, s, std::max(e - s, int64_t{0}));
}

/// x[..., index, ...] at position `index` of `dim` (negative counts from the end), that dim
/// removed, as torch.select but a copy (see the top of the file): narrow + squeeze.
///
///     dx = zeros with g placed at that index.
inline Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  detail::check_defined("select", "input", x);
  const int64_t d = normalize_dim(dim, x.dim(), "select");
  const int64_t size = x.shape()[d];
  TD_CHECK(index >= -size && index < size, "select", "index ", index, " is out of range [", -size, ", ", size,
           ") for dim ", dim, " of shape ", shape_str(x.shape()));
  Shape shape = x.shape();
  shape.erase(shape.begin() + d);
  return reshape(narrow(x, d, index < 0 ? index + size : index, 1), shape);
}

/// Joins tensors along `dim`; all other sizes must agree.  each dx_i = its slice of g.
inline Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) {
  detail::check_defined_list("concat", "tensors", tensors);
  TD_CHECK(!tensors.empty(), "concat", "needs at least one tensor");
  const Shape& first = tensors[0].shape();
  const int64_t d = normalize_dim(dim, static_cast<int64_t>(first.size()), "concat");
  Shape out_shape = first;
  out_shape[d] = 0;
  for (const Tensor& t : tensors) {
    bool ok = t.shape().size() == first.size();
    for (size_t i = 0; ok && i < first.size(); ++i) ok = static_cast<int64_t>(i) == d || t.shape()[i] == first[i];
    TD_CHECK(ok, "concat", "shapes ", shape_str(first), " and ", shape_str(t.shape()),
             " differ outside the concatenated dim ", dim);
    out_shape[d] += t.shape()[d];
  }
  Tensor y = Tensor::empty(out_shape);
  const auto out_a = detail::around_dim(out_shape, d);
  std::vector<int64_t> starts;
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    const int64_t len = t.shape()[d];
    for (int64_t o = 0; len * out_a.inner > 0 && o < out_a.outer; ++o)
      std::memcpy(y.data() + (o * out_a.size + start) * out_a.inner, t.data() + o * len * out_a.inner,
                  sizeof(float) * static_cast<size_t>(len * out_a.inner));
    starts.push_back(start);
    start += len;
  }
  std::vector<int64_t> lengths;
  for (const Tensor& t : tensors) lengths.push_back(t.shape()[d]);
  record_op(y, "concat", tensors, [d, starts, lengths](const Tensor& g, const std::vector<bool>& needs) {
    std::vector<Tensor> grads(needs.size());
    for (size_t i = 0; i < needs.size(); ++i)
      if (needs[i]) grads[i] = narrow(g, d, starts[i], lengths[i]);
    return grads;
  });
  return y;
}
/// concat under PyTorch's other name.
inline Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  detail::check_defined_list("cat", "tensors", tensors);
  return concat(tensors, dim);
}

/// Picks entries `indices` along `dim` (e.g. a mini-batch of rows).  dx = g scattered back,
/// summed where an index repeats.
inline Tensor index_select(const Tensor& x, int64_t dim, const std::vector<int64_t>& indices) {
  detail::check_defined("index_select", "input", x);
  const int64_t d = normalize_dim(dim, x.dim(), "index_select");
  const auto a = detail::around_dim(x.shape(), d);
  for (int64_t i : indices)
    TD_CHECK(i >= 0 && i < a.size, "index_select", "index ", i, " is out of range for dim ", dim, " of shape ",
             shape_str(x.shape()));
  Shape out_shape = x.shape();
  out_shape[d] = static_cast<int64_t>(indices.size());
  Tensor y = Tensor::empty(out_shape);
  const int64_t n = static_cast<int64_t>(indices.size());
  for (int64_t o = 0; a.inner > 0 && o < a.outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      std::memcpy(y.data() + (o * n + j) * a.inner, x.data() + (o * a.size + indices[j]) * a.inner,
                  sizeof(float) * static_cast<size_t>(a.inner));
  record_op(y, "index_select", {x}, [x_shape = x.shape(), d, indices](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = zeros(x_shape);
    const auto a = detail::around_dim(x_shape, d);
    const int64_t n = static_cast<int64_t>(indices.size());
    for (int64_t o = 0; o < a.outer; ++o)
      for (int64_t j = 0; j < n; ++j) {
        float* dst = dx.data() + (o * a.size + indices[j]) * a.inner;
        const float* src = g.data() + (o * n + j) * a.inner;
        for (int64_t k = 0; k < a.inner; ++k) dst[k] += src[k];
      }
    return std::vector<Tensor>{dx};
  });
  return y;
}

/// x tiled sizes[d] times along each dim, as Tensor.repeat: sizes has at least x's rank, and
/// x gets leading size-1 dims to match (a [3] repeated by {2, 2} is [2, 6]).
///
///     out[c] = x[c_0 % s_0, ..., c_k % s_k];  dx = the sum of g over all the tiles.
inline Tensor repeat(const Tensor& x, const std::vector<int64_t>& sizes) {
  detail::check_defined("repeat", "input", x);
  const auto rank = static_cast<int64_t>(sizes.size());
  TD_CHECK(rank >= x.dim(), "repeat", "got ", rank, " repeat sizes for an input of shape ", shape_str(x.shape()),
           ", which needs at least ", x.dim());
  Shape x_shape(static_cast<size_t>(rank - x.dim()), 1);  // x with leading 1s, of the output's rank
  x_shape.insert(x_shape.end(), x.shape().begin(), x.shape().end());
  Shape out_shape(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) {
    TD_CHECK(sizes[d] >= 0, "repeat", "repeat sizes must be non-negative, got ", sizes[d], " at dim ", d);
    TD_CHECK(detail::multiply_fits(x_shape[d], sizes[d], out_shape[d]), "repeat", "repeating shape ",
             shape_str(x.shape()), " by ", sizes[d], " at dim ", d, " overflows int64");
  }
  const int64_t count = shape_numel(out_shape, "repeat");  // checked: the output must fit in int64
  kernels::DimMaps maps(static_cast<size_t>(rank));
  for (int64_t d = 0; count > 0 && d < rank; ++d)
    for (int64_t j = 0; j < out_shape[d]; ++j) maps[static_cast<size_t>(d)].push_back(j % x_shape[d]);
  Tensor y = Tensor::empty(out_shape);
  kernels::gather_dim_maps(x.data(), x_shape, y.data(), maps, 0.0f);
  record_op(y, "repeat", {x}, [x_shape, orig = x.shape(), maps](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = zeros(orig);
    kernels::scatter_add_dim_maps(g.data(), dx.data(), x_shape, maps);
    return std::vector<Tensor>{dx};
  });
  return y;
}

// ---- unsqueeze, squeeze, stack, split, chunk (as torch's) ----
// unsqueeze and squeeze only change the shape, so they are reshapes (shared storage,
// backward: reshape back); stack is unsqueeze + concat; split and chunk are narrows.

/// x with a size-1 dim inserted at `dim`, in [-rank - 1, rank] (-1 appends one at the end).
inline Tensor unsqueeze(const Tensor& x, int64_t dim) {
  detail::check_defined("unsqueeze", "input", x);
  const int64_t d = detail::new_axis_dim(dim, x.shape(), "unsqueeze");
  Shape shape = x.shape();
  shape.insert(shape.begin() + d, 1);
  return reshape(x, shape);
}

/// x without its size-1 dims.
inline Tensor squeeze(const Tensor& x) {
  detail::check_defined("squeeze", "input", x);
  Shape shape;
  for (int64_t s : x.shape())
    if (s != 1) shape.push_back(s);
  return reshape(x, shape);
}

/// x without dim `dim` if its size is 1; otherwise x unchanged (as torch.squeeze(x, dim)).
/// A 0-d tensor accepts dim 0 or -1, as in PyTorch.
inline Tensor squeeze(const Tensor& x, int64_t dim) {
  detail::check_defined("squeeze", "input", x);
  const int64_t d = normalize_dim(dim, std::max<int64_t>(x.dim(), 1), "squeeze");
  if (x.dim() == 0 || x.shape()[d] != 1) return x;
  Shape shape = x.shape();
  shape.erase(shape.begin() + d);
  return reshape(x, shape);
}

/// Joins same-shape tensors along a new dim `dim`, in [-rank - 1, rank].  each dx_i = g's slice i.
inline Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  detail::check_defined_list("stack", "tensors", tensors);
  TD_CHECK(!tensors.empty(), "stack", "needs at least one tensor");
  const Shape& first = tensors[0].shape();
  const int64_t d = detail::new_axis_dim(dim, first, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    TD_CHECK(tensors[i].shape() == first, "stack", "expects tensors of one shape, got ", shape_str(first),
             " at index 0 and ", shape_str(tensors[i].shape()), " at index ", i);
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return concat(parts, d);
}

/// Cuts x along `dim` into pieces of the given sizes, which must add up to the dim's size
/// (torch.split with a list).  Each piece is a narrow of x: its gradient lands in its range.
/// Note: split(x, {4}, 0) picks the int overload below (a braced single value converts to an
/// int before a vector); write std::vector<int64_t>{4} for a one-piece list.
inline std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0) {
  detail::check_defined("split", "input", x);
  const int64_t d = normalize_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    TD_CHECK(s >= 0, "split", "split sizes must be non-negative, got ", s);
    TD_CHECK(detail::add_fits(total, s, total), "split", "the split sizes add past int64");
  }
  TD_CHECK(total == x.shape()[d], "split", "split sizes add up to ", total, " but dim ", dim, " of shape ",
           shape_str(x.shape()), " has size ", x.shape()[d]);
  std::vector<Tensor> pieces;
  int64_t start = 0;
  for (int64_t s : sizes) {
    pieces.push_back(narrow(x, d, start, s));
    start += s;
  }
  return pieces;
}

/// Cuts x along `dim` into pieces of split_size elements, the last one smaller when split_size
/// does not divide the size (torch.split with an int). A dim of size 0 gives one empty piece.
inline std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0) {
  detail::check_defined("split", "input", x);
  const int64_t d = normalize_dim(dim, x.dim(), "split");
  const int64_t size = x.shape()[d];
  TD_CHECK(split_size > 0 || (split_size == 0 && size == 0), "split", "split_size must be positive, got ",
           split_size, " for dim ", dim, " of shape ", shape_str(x.shape()));
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < size; start += split_size) sizes.push_back(std::min(split_size, size - start));
  if (sizes.empty()) sizes.push_back(0);
  return split(x, sizes, d);
}

/// Cuts x along `dim` into at most `chunks` pieces of ceil(size / chunks) elements, the last
/// one smaller (torch.chunk: split_size = ceil(size / chunks), so fewer pieces may come back,
/// e.g. size 6 in 4 chunks gives 2, 2, 2). A dim of size 0 gives `chunks` empty pieces.
inline std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0) {
  detail::check_defined("chunk", "input", x);
  TD_CHECK(chunks > 0, "chunk", "chunks must be positive, got ", chunks);
  const int64_t d = normalize_dim(dim, x.dim(), "chunk");
  const int64_t size = x.shape()[d];
  if (size == 0) return split(x, std::vector<int64_t>(static_cast<size_t>(chunks), 0), d);
  return split(x, size / chunks + (size % chunks != 0 ? 1 : 0), d);
}

}  // namespace tinydiff
