#pragma once
// TINYDIFF_ARG, the option field of every *Options struct (layers in nn/, optimisers in optim/),
// here below both so that optim/ needs nothing from nn/.

/// TINYDIFF_ARG(type, name): an option with a chainable setter and a getter, as
/// LibTorch's TORCH_ARG: `LinearOptions(3, 4).bias(false)` sets, `.bias()` reads.
/// Follow it with `= default_value;` to give the field a default.
#define TINYDIFF_ARG(T, name)                                        \
 public:                                                             \
  auto name(const T& new_##name)->decltype(*this) {                  \
    this->name##_ = new_##name;                                      \
    return *this;                                                    \
  }                                                                  \
  const T& name() const noexcept { return this->name##_; }           \
  T& name() noexcept { return this->name##_; }                       \
                                                                     \
 private:                                                            \
  T name##_
