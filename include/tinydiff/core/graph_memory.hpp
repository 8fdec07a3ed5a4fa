#pragma once
// How the engine spends little memory, kept apart from the chain rule it serves (core/autograd.hpp):
//   - tearing a graph down without recursion: destroying the last handle to a long chain of
//     tensors would otherwise recurse once per op (tensor -> node -> input tensor -> node ...)
//     and overflow the stack;
//   - reusing a gradient buffer instead of copying it when nothing else can see it: the first
//     gradient of a leaf is adopted as its .grad() (PyTorch's AccumulateGrad steals it the same
//     way), and a pending sum that no one else holds is added to in place.
#include <cstring>
#include <memory>
#include <vector>

#include "tinydiff/core/tensor_body.hpp"

namespace tinydiff::detail {

/// Empties `inputs` (a dying node's edges). Each node that only these handles kept alive is handed
/// to a thread-local work list instead of being destroyed inside this call; the outermost call
/// drains the list in a loop, so a graph of any depth is freed with a constant stack.
/// (Node may be incomplete here: a shared_ptr destroys what it owns through the deleter it was made with.)
inline void drop_graph_iteratively(std::vector<Tensor>& inputs) {
  thread_local std::vector<std::shared_ptr<Node>> pending;
  thread_local bool draining = false;
  for (Tensor& t : inputs) {
    TensorImpl* impl = t.impl();
    if (impl && t.impl_ptr().use_count() == 1 && impl->grad_fn) pending.push_back(std::move(impl->grad_fn));
    t = Tensor();  // drop this handle now, so a tensor listed twice (x * x) is uniquely owned at its last entry
  }
  inputs.clear();
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    node.reset();  // may run ~Node, which only appends to `pending`
  }
  draining = false;
}

/// dst += src, elementwise (same shape).
inline void add_into(const Tensor& dst, const Tensor& src) {
  float* d = dst.data();
  const float* s = src.data();
  const int64_t n = dst.numel();
  for (int64_t i = 0; i < n; ++i) d[i] += s[i];
}

/// A new tensor holding a copy of t's values.
inline Tensor copy_of(const Tensor& t) {
  Tensor c = Tensor::empty(t.shape());
  if (t.numel()) std::memcpy(c.data(), t.data(), sizeof(float) * static_cast<size_t>(t.numel()));
  return c;
}

/// Whether nothing but this one handle reaches t's floats: no other Tensor shares its
/// TensorImpl or its storage (a view, a saved tensor, the same gradient passed to two inputs).
inline bool sole_owner(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1;
}

/// Adds `g` into the .grad() of a leaf (or retained non-leaf). The first gradient is copied,
/// since g may share storage with another gradient, unless the caller lets it be adopted
/// (may_adopt: g is not used afterwards) and g is its storage's sole owner.
inline void accumulate_grad(const Tensor& target, const Tensor& g, bool may_adopt = false) {
  Tensor current = target.grad();
  if (!current.defined())
    target.set_grad(may_adopt && sole_owner(g) ? g : copy_of(g));
  else
    add_into(current, g);
}

/// sum += g for the gradient a node is still collecting: in place when the sum's buffer is ours
/// alone, else into a fresh copy (the sum may still be another op's gradient output or a saved tensor).
inline void add_to_pending_sum(Tensor& sum, const Tensor& g) {
  if (!sole_owner(sum)) sum = copy_of(sum);
  add_into(sum, g);
}

}  // namespace tinydiff::detail
