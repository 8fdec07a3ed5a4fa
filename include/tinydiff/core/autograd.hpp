#pragma once
// Reverse-mode automatic differentiation (the micrograd model, in C++).
//
// An op whose input requires a gradient records a Node on its output:
//   node.inputs      the op's input tensors (the edges of the graph)
//   node.needs_grad  which inputs need a gradient (so backward skips the rest)
//   node.backward    grad_output -> one gradient per input (undefined where not needed)
// Whatever a backward function needs from the forward pass (inputs, outputs,
// statistics) it captures by value in its closure, as *detached* tensors: a
// closure that held the output itself would form a reference cycle.
//
// Tensor::backward() runs the nodes in reverse topological order (Kahn's
// algorithm, no recursion, so a 100,000-op chain is fine), sums the gradients
// arriving at each node, accumulates (+=) into the .grad() of leaves, and then
// frees each node's saved state unless retain_graph is set.
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/tensor.hpp"

namespace tinydiff {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, const std::vector<bool>& needs_grad)>;

namespace detail {
void drop_graph_iteratively(std::vector<Tensor>& inputs);
}

struct Node {
  std::string name;
  std::vector<Tensor> inputs;
  std::vector<bool> needs_grad;
  BackwardFn backward;
  bool released = false;  // saved state freed by a backward() without retain_graph
  // The storage versions of the inputs and of the output when the op ran: backward() refuses to
  // run the node if a tracked in-place write changed one since (core/storage.hpp).
  std::vector<uint64_t> input_versions;
  std::weak_ptr<Storage> output_storage;
  uint64_t output_version = 0;
  Shape output_shape;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Frees the saved state; the graph above is torn down without recursion.
  void release() {
    released = true;
    backward = nullptr;
    detail::drop_graph_iteratively(inputs);
  }
  ~Node() {
    backward = nullptr;  // saved tensors first, so the inputs below hold the last references
    detail::drop_graph_iteratively(inputs);
  }
};

namespace detail {
// Destroying the last handle to a long chain of tensors would recurse once per
// op (tensor -> node -> input tensor -> node ...) and overflow the stack. Instead
// each dying node hands the nodes it alone owns to a thread-local work list that
// the outermost call drains in a loop.
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
}  // namespace detail

// Grad mode: whether ops record nodes. Thread-local, like PyTorch's.
class GradMode {
 public:
  static bool is_enabled() { return flag(); }
  static void set_enabled(bool on) { flag() = on; }

 private:
  static bool& flag() {
    thread_local bool enabled = true;
    return enabled;
  }
};

// RAII: no graph is recorded while it lives (inference, sampling, optimiser steps).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when an op on these inputs must record a node.
inline bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->requires_grad()) return true;
  return false;
}

// Attaches a node named `name` to `output` if grad mode is on and some input
// requires a gradient. Undefined inputs (e.g. an absent bias) are allowed.
inline void record_op(const Tensor& output, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!GradMode::is_enabled()) return;
  std::vector<bool> needs(inputs.size());
  bool any = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    needs[i] = inputs[i].requires_grad();
    any = any || needs[i];
  }
  if (!any) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->input_versions.reserve(inputs.size());
  for (const Tensor& input : inputs) node->input_versions.push_back(input.defined() ? input.version() : 0);
  node->output_storage = output.impl()->storage;
  node->output_version = output.version();
  node->output_shape = output.shape();
  node->inputs = std::move(inputs);
  node->needs_grad = std::move(needs);
  node->backward = std::move(backward);
  output.impl()->grad_fn = std::move(node);
}

namespace detail {
// Stops backward() before it runs `node` if one of the tensors the op used was written in place
// since (PyTorch: "one of the variables needed for gradient computation has been modified by an
// inplace operation"). tinydiff checks every input and the output, PyTorch only what the op
// saved, so an op that never needed the values (add, sum) is refused here and not there.
inline void check_versions(const Node& node) {
  auto fail = [&node](const std::string& which, const Shape& shape, uint64_t now, uint64_t then) {
    throw Error(concat("backward: ", which, " of op '", node.name, "' (shape ", shape_str(shape),
                       ") was modified in place after the op ran (version ", now, ", was ", then,
                       "), so its gradient would be wrong. Something wrote into it between the forward pass and "
                       "backward() (an optimiser step, at(), mutable_data(), io::load); call backward() first, "
                       "or write into a clone()"));
  };
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Tensor& input = node.inputs[i];
    if (input.defined() && input.version() != node.input_versions[i])
      fail("input " + std::to_string(i), input.shape(), input.version(), node.input_versions[i]);
  }
  if (const std::shared_ptr<Storage> out = node.output_storage.lock(); out && out->version() != node.output_version)
    fail("the output", node.output_shape, out->version(), node.output_version);
}
}  // namespace detail

inline std::string Tensor::grad_fn_name() const {
  const auto& fn = grad_fn();
  return fn ? fn->name : std::string();
}

namespace detail {
// dst += src, elementwise (same shape).
inline void add_into(const Tensor& dst, const Tensor& src) {
  float* d = dst.data();
  const float* s = src.data();
  const int64_t n = dst.numel();
  for (int64_t i = 0; i < n; ++i) d[i] += s[i];
}

inline Tensor copy_of(const Tensor& t) {
  Tensor c = Tensor::empty(t.shape());
  if (t.numel()) std::memcpy(c.data(), t.data(), sizeof(float) * static_cast<size_t>(t.numel()));
  return c;
}

// Whether nothing but this one handle reaches t's floats: no other Tensor shares its
// TensorImpl or its storage (a view, a saved tensor, the same gradient passed to two inputs).
inline bool sole_owner(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1;
}

// Adds `g` into the .grad() of a leaf (or retained non-leaf). The first gradient is
// copied, since g may share storage with another gradient, unless the caller lets it
// be adopted (may_adopt: g is not used afterwards) and g is its storage's sole owner;
// PyTorch's AccumulateGrad steals such a gradient in the same way.
inline void accumulate_grad(const Tensor& target, const Tensor& g, bool may_adopt = false) {
  Tensor current = target.grad();
  if (!current.defined())
    target.set_grad(may_adopt && sole_owner(g) ? g : copy_of(g));
  else
    add_into(current, g);
}
}  // namespace detail

inline void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  detail::check_defined("backward", "self", *this);
  TD_CHECK(requires_grad(), "backward", "tensor of shape ", shape_str(shape()),
           " does not require grad and has no grad_fn");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    TD_CHECK(numel() == 1, "backward",
             "grad can be implicitly created only for a one-element output, got shape ", shape_str(shape()),
             "; pass a gradient of that shape");
    seed = empty(shape());
    seed.data()[0] = 1.0f;
  } else {
    TD_CHECK(seed.shape() == shape(), "backward", "gradient shape ", shape_str(seed.shape()),
             " does not match output shape ", shape_str(shape()));
  }
  NoGradGuard no_grad;  // backward functions are not themselves recorded
  if (is_leaf()) {
    detail::accumulate_grad(*this, seed);
    return;
  }
  if (impl_->retains_grad) detail::accumulate_grad(*this, seed);

  // 1. Collect the nodes reachable from the root and count, for each, how many
  //    edges from other reachable nodes lead into it (its pending gradients).
  std::vector<std::shared_ptr<Node>> nodes;  // also keeps every node alive until we finish
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack;
  auto visit = [&](const std::shared_ptr<Node>& node) {
    if (dependencies.emplace(node.get(), 0).second) {
      nodes.push_back(node);
      stack.push_back(node.get());
    }
  };
  visit(impl_->grad_fn);
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    TD_CHECK(!node->released, "backward",
             "trying to backward through the graph a second time (op '", node->name,
             "'): its saved tensors were freed by the first backward; pass retain_graph=true to it");
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const Tensor& input = node->inputs[i];
      if (!node->needs_grad[i] || !input.impl()->grad_fn) continue;
      visit(input.impl()->grad_fn);
      ++dependencies[input.impl()->grad_fn.get()];
    }
  }

  // 2. Kahn's algorithm: a node runs once all gradients flowing into it have arrived.
  std::unordered_map<Node*, Tensor> pending_grad;
  pending_grad[impl_->grad_fn.get()] = seed;
  std::vector<Node*> ready{impl_->grad_fn.get()};
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor grad_out = std::move(pending_grad[node]);
    pending_grad.erase(node);
    detail::check_versions(*node);
    std::vector<Tensor> grads = node->backward(grad_out, node->needs_grad);
    TD_CHECK(grads.size() == node->inputs.size(), "backward", "op '", node->name, "' returned ", grads.size(),
             " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!node->needs_grad[i]) continue;
      const Tensor& input = node->inputs[i];
      const Tensor& g = grads[i];
      TD_CHECK(g.defined(), "backward", "op '", node->name, "' returned no gradient for needed input ", i);
      TD_CHECK(g.shape() == input.shape(), "backward", "op '", node->name, "' returned a gradient of shape ",
               shape_str(g.shape()), " for input ", i, " of shape ", shape_str(input.shape()));
      TensorImpl* in = input.impl();
      if (!in->grad_fn) {  // a leaf variable; g is not used after this
        detail::accumulate_grad(input, g, /*may_adopt=*/true);
        continue;
      }
      if (in->retains_grad) detail::accumulate_grad(input, g);
      Node* producer = in->grad_fn.get();
      auto it = pending_grad.find(producer);
      if (it == pending_grad.end())
        pending_grad.emplace(producer, g);
      else if (detail::sole_owner(it->second)) {
        detail::add_into(it->second, g);  // the pending sum is ours alone: add in place
      } else {
        Tensor sum = detail::copy_of(it->second);
        detail::add_into(sum, g);
        it->second = sum;
      }
      if (--dependencies[producer] == 0) ready.push_back(producer);
    }
    if (!retain_graph) node->release();
  }
}

}  // namespace tinydiff
