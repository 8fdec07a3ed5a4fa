#pragma once
// Storage: a 64-byte aligned block of floats shared by every tensor that views it.
//
// Tensors hold a std::shared_ptr<Storage>; reshape and detach share it, every
// other op writes a fresh one. 64-byte alignment lets the kernels use aligned
// AVX-512 loads and keeps rows from straddling cache lines.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "tinydiff/core/error.hpp"

namespace tinydiff {

class Storage {
 public:
  static constexpr size_t kAlignment = 64;

  // Uninitialised storage for `count` floats.
  explicit Storage(size_t count) : count_(count) {
    if (count == 0) return;
    const size_t bytes = round_up(count * sizeof(float));
    data_ = static_cast<float*>(std::aligned_alloc(kAlignment, bytes));
    if (!data_) throw Error(detail::concat("Storage: out of memory allocating ", bytes, " bytes"));
  }
  ~Storage() { std::free(data_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return count_; }

 private:
  static size_t round_up(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }
  float* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace tinydiff
