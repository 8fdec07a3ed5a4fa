#pragma once
// Reverse-mode automatic differentiation (the micrograd model, in C++).
//
// An op whose input requires a gradient records a Node on its output:
//   node.inputs      the op's input tensors (the edges of the graph)
//   node.needs_grad  which inputs need a gradient (so backward skips the rest)
//   node.backward    grad_output -> one gradient per input (undefined where not needed)
// Whatever a backward function needs from the forward pass (inputs, outputs, statistics) it
// captures by value, as *detached* tensors: holding the output itself would form a cycle.
//
// Tensor::backward() runs the nodes in reverse topological order (Kahn's
// algorithm, no recursion, so a 100,000-op chain is fine), sums the gradients
// arriving at each node, accumulates (+=) into the .grad() of leaves, and then
// frees each node's saved state unless retain_graph is set.
//
// Only the graph and the chain rule live here. Beside them: grad_mode.hpp (whether ops record),
// graph_memory.hpp (freeing graphs, reusing buffers), saved_versions.hpp (in-place write checks).
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/grad_mode.hpp"
#include "tinydiff/core/graph_memory.hpp"
#include "tinydiff/core/saved_versions.hpp"
#include "tinydiff/core/tensor_body.hpp"

namespace tinydiff {

/// An op's backward function: (grad_output, needs_grad) -> one gradient per input, undefined where not needed.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, const std::vector<bool>& needs_grad)>;

/// One recorded op: the grad_fn of the tensor it produced.
struct Node {
  std::string name;
  std::vector<Tensor> inputs;
  std::vector<bool> needs_grad;
  BackwardFn backward;
  bool released = false;   // saved state freed by a backward() without retain_graph
  SavedVersions versions;  // of the inputs and the output when the op ran

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// Frees the saved state; the graph above is torn down without recursion.
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

/// Attaches a node named `name` to `output` if grad mode is on and some input
/// requires a gradient. Undefined inputs (e.g. an absent bias) are allowed.
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
  node->versions = SavedVersions::of(inputs, output);
  node->inputs = std::move(inputs);
  node->needs_grad = std::move(needs);
  node->backward = std::move(backward);
  output.impl()->grad_fn = std::move(node);
}

inline std::string Tensor::grad_fn_name() const {
  const auto& fn = grad_fn();
  return fn ? fn->name : std::string();
}

namespace detail {
/// The nodes reachable from a root, each with the number of edges from other reachable nodes
/// that lead into it: how many gradients it must receive before it can run.
struct GraphDependencies {
  std::vector<std::shared_ptr<Node>> nodes;  // also keeps every node alive until backward() ends
  std::unordered_map<Node*, int> count;
};

/// Walks the graph from `root` with an explicit stack (no recursion) and counts its edges.
inline GraphDependencies count_dependencies(const std::shared_ptr<Node>& root) {
  GraphDependencies graph;
  std::vector<Node*> stack;
  auto visit = [&](const std::shared_ptr<Node>& node) {
    if (graph.count.emplace(node.get(), 0).second) {
      graph.nodes.push_back(node);
      stack.push_back(node.get());
    }
  };
  visit(root);
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
      ++graph.count[input.impl()->grad_fn.get()];
    }
  }
  return graph;
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

  // 1. Count, for each node reachable from the root, the gradients it waits for.
  detail::GraphDependencies graph = detail::count_dependencies(impl_->grad_fn);
  // 2. Kahn's algorithm: a node runs once all gradients flowing into it have arrived.
  std::unordered_map<Node*, Tensor> pending_grad;
  pending_grad[impl_->grad_fn.get()] = seed;
  std::vector<Node*> ready{impl_->grad_fn.get()};
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    Tensor grad_out = std::move(pending_grad[node]);
    pending_grad.erase(node);
    node->versions.check(node->name, node->inputs);
    // The chain rule for this op: dL/d(input i) from dL/d(output).
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
      auto [pending, first] = pending_grad.try_emplace(producer, g);
      if (!first) detail::add_to_pending_sum(pending->second, g);  // paths that meet add up
      if (--graph.count[producer] == 0) ready.push_back(producer);
    }
    if (!retain_graph) node->release();
  }
}

}  // namespace tinydiff
