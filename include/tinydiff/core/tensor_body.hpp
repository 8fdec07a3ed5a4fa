#pragma once
// The body of Tensor: its data, its autograd fields and its methods, declared without the engine
// (the split LibTorch makes between TensorBody.h and the rest of ATen). Include
// "tinydiff/core/tensor.hpp", which adds the engine: Tensor::backward() and grad_fn_name() are
// defined in core/autograd.hpp, which itself needs this class complete.
//
// Tensor: a cheap handle to float32, contiguous, row-major data plus its
// autograd state, shared like torch::Tensor (copying a Tensor copies the handle).
//
//   TensorImpl
//     storage, offset  the floats (shared by reshape and detach)
//     shape            sizes, outermost first
//     requires_grad    set by the user on leaves (parameters, inputs)
//     grad             gradient accumulated into a leaf by backward()
//     grad_fn          the Node (op) that produced a non-leaf tensor
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tinydiff/core/error.hpp"
#include "tinydiff/core/shape.hpp"
#include "tinydiff/core/storage.hpp"

namespace tinydiff {

struct Node;  // core/autograd.hpp
class Tensor;

/// What every handle to one tensor shares (the fields listed above).
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;
  Shape shape;
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;
};

/// A handle to a tensor: copying it shares the data and the autograd state, as torch::Tensor.
class Tensor {
 public:
  /// An undefined tensor: no storage; defined() is false.
  Tensor() = default;
  /// A handle to an existing TensorImpl (shared, not copied).
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  /// A new tensor of `shape` over fresh, uninitialised storage.
  static Tensor empty(const Shape& shape) {
    for (int64_t d : shape)
      TD_CHECK(d >= 0, "empty", "negative dimension in shape ", shape_str(shape));
    const int64_t count = shape_numel(shape, "empty");  // checked: throws if it overflows
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(static_cast<size_t>(count));
    impl->shape = shape;
    return Tensor(std::move(impl));
  }

  /// Whether the handle points to a tensor.
  bool defined() const { return impl_ != nullptr; }
  /// Sizes, outermost first.
  const Shape& shape() const { return checked("shape")->shape; }
  /// Number of dimensions.
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  /// Size of dimension d (negative d counts from the end).
  int64_t size(int64_t d) const { return shape()[normalize_dim(d, dim(), "size")]; }
  /// Number of elements.
  int64_t numel() const { return shape_numel(shape()); }

  /// The floats, for reading, and for writing the output of an op you are computing. Writing
  /// through data() into a tensor that an op has already used is invisible to autograd: write
  /// through mutable_data() or at(), or call bump_version() afterwards, so that a later
  /// backward() through that op stops with an error instead of computing a wrong gradient.
  float* data() const {
    const TensorImpl* impl = checked("data");
    return impl->storage->data() + impl->offset;
  }
  /// data() for an in-place write: counts as one (bumps the version of the shared storage).
  float* mutable_data() const {
    bump_version();
    return data();
  }
  /// How many tracked in-place writes the storage has had (torch's x._version).
  uint64_t version() const { return checked("version")->storage->version(); }
  /// Records an in-place write made without mutable_data() or at() (an Eigen map, a kernel).
  void bump_version() const { checked("bump_version")->storage->bump_version(); }
  /// A copy of the values, row-major.
  std::vector<float> to_vector() const { return std::vector<float>(data(), data() + numel()); }

  /// The single value of a one-element tensor.
  float item() const {
    TD_CHECK(numel() == 1, "item", "only a one-element tensor converts to a scalar, got shape ",
             shape_str(shape()), " (", numel(), " elements)");
    return data()[0];
  }

  /// Element access by full index, bounds-checked (meant for tests and small code, not hot loops).
  /// Tensors are handles: writing through at() changes the data every handle sees. at() gives
  /// write access, so it counts as an in-place write (bumps the version); read with value_at().
  float& at(std::initializer_list<int64_t> index) const {
    float& element = data()[flat_index(index, "at")];
    bump_version();
    return element;
  }
  float value_at(std::initializer_list<int64_t> index) const { return data()[flat_index(index, "value_at")]; }

 private:
  int64_t flat_index(std::initializer_list<int64_t> index, const char* op) const {
    const Shape& s = shape();
    TD_CHECK(index.size() == s.size(), op, "index has ", index.size(), " entries for a tensor of shape ",
             shape_str(s));
    int64_t flat = 0, d = 0;
    for (int64_t i : index) {
      TD_CHECK(i >= 0 && i < s[d], op, "index ", i, " is out of range for dim ", d, " of shape ",
               shape_str(s));
      flat = flat * s[d++] + i;
    }
    return flat;
  }

 public:
  // ---- autograd state (see core/autograd.hpp for the engine) ----
  /// Whether backward() computes a gradient for this tensor (a marked leaf, or an op's output).
  bool requires_grad() const { return defined() && (impl_->requires_grad || impl_->grad_fn != nullptr); }
  /// Marks a leaf as a variable whose gradient backward() accumulates. Returns *this.
  Tensor& requires_grad_(bool on = true) {
    TD_CHECK(is_leaf(), "requires_grad_",
             "only leaf tensors can change requires_grad; this one was produced by an op (use detach())");
    checked("requires_grad_")->requires_grad = on;
    return *this;
  }
  /// True unless an op produced this tensor (no grad_fn).
  bool is_leaf() const { return checked("is_leaf")->grad_fn == nullptr; }
  /// The gradient accumulated by backward(); undefined until the first backward reaches this tensor.
  Tensor grad() const { return Tensor(checked("grad")->grad); }
  /// Replaces the accumulated gradient with g (shared, not copied).
  void set_grad(const Tensor& g) const { checked("set_grad")->grad = g.impl_; }
  /// Drops the accumulated gradient (torch's zero_grad(set_to_none=True)).
  void zero_grad() const { checked("zero_grad")->grad.reset(); }
  /// Asks backward() to also store the gradient of this non-leaf tensor in grad().
  void retain_grad() const { checked("retain_grad")->retains_grad = true; }
  /// The node of the op that produced this tensor, null for a leaf.
  std::shared_ptr<Node> grad_fn() const { return checked("grad_fn")->grad_fn; }
  /// Name of the op that produced this tensor, "" for a leaf.
  std::string grad_fn_name() const;

  /// Runs reverse-mode differentiation from this tensor (core/autograd.hpp).
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;

  /// A tensor sharing this one's data but cut from the graph (no grad, no grad_fn).
  Tensor detach() const {
    const TensorImpl* src = checked("detach");
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = src->storage;
    impl->offset = src->offset;
    impl->shape = src->shape;
    return Tensor(std::move(impl));
  }

  // Methods that call ops, defined in ops/methods.hpp (included by tinydiff.hpp); each is the
  // function of the same name in ops/ (reshape(x, shape), x.sum() = sum(x), ...).
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten() const { return reshape({numel()}); }
  Tensor clone() const;
  Tensor sum() const;
  Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor matmul(const Tensor& other) const;
  Tensor pow(float exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor neg() const;
  Tensor relu() const;
  Tensor sigmoid() const;
  Tensor tanh() const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;

  /// The shared body, for the engine and kernels.
  TensorImpl* impl() const { return impl_.get(); }
  /// The owning pointer to the body (its use_count tells whether another handle shares it).
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  /// True when both handles point to the same tensor (not the same values).
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  TensorImpl* checked(const char* what) const {
    TD_CHECK(impl_ != nullptr, what, "called on an undefined tensor");
    return impl_.get();
  }
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace tinydiff
