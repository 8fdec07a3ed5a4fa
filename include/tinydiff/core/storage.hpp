#pragma once
// Storage: a 64-byte aligned block of floats shared by every tensor that views it.
//
// Tensors hold a std::shared_ptr<Storage>; reshape and detach share it, every
// other op writes a fresh one. 64-byte alignment lets the kernels use aligned
// AVX-512 loads and keeps rows from straddling cache lines.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim
#endif

#include "tinydiff/core/error.hpp"

namespace tinydiff {

namespace detail {
// A cache of freed blocks, by exact size. A training step allocates the same
// sizes in the same order every time; handing those blocks back instead of
// returning them to the system saves the page faults and zeroing of fresh
// memory (several percent of a step). Blocks are reused only at their exact
// size, so the cache never holds more than the largest set of tensors alive at
// once -- of one phase. A phase with other sizes (sampling after training) finds
// none of its sizes there and allocates beside them: call empty_cache() at such a
// change, as torch.cuda.empty_cache does. "Reserved" bytes are those taken from
// the system and not yet given back (in tensors or in the cache), PyTorch's
// memory_reserved(); their high-water mark tells a program's peak without
// reading the process's RSS.
class BlockCache {
 public:
  // Never destroyed: tensors in static storage may release blocks at exit.
  static BlockCache& instance() {
    static BlockCache* cache = new BlockCache();
    return *cache;
  }
  void* acquire(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* block = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= bytes;
        return block;
      }
    }
    // A miss: fresh memory from the system (the hit above, the hot path, counts nothing).
    void* block = std::aligned_alloc(64, bytes);
    if (block) {
      std::lock_guard<std::mutex> lock(mutex_);
      reserved_bytes_ += bytes;
      peak_reserved_bytes_ = std::max(peak_reserved_bytes_, reserved_bytes_);
    }
    return block;
  }
  void release(void* block, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + bytes <= kLimit) {
        free_[bytes].push_back(block);
        cached_bytes_ += bytes;
        return;
      }
      reserved_bytes_ -= bytes;
    }
    std::free(block);
  }
  void empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& entry : free_)
      for (void* block : entry.second) std::free(block);
    free_.clear();
    reserved_bytes_ -= cached_bytes_;
    cached_bytes_ = 0;
#ifdef __GLIBC__
    // glibc keeps freed chunks below its mmap threshold in its heap; hand their pages back too.
    malloc_trim(0);
#endif
  }
  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }
  size_t reserved_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return reserved_bytes_;
  }
  size_t peak_reserved_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return peak_reserved_bytes_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    peak_reserved_bytes_ = reserved_bytes_;
  }

 private:
  static constexpr size_t kLimit = size_t{2} << 30;  // never cache more than 2 GiB
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_bytes_ = 0;
  size_t reserved_bytes_ = 0;       // in tensors + in the cache
  size_t peak_reserved_bytes_ = 0;  // since the start or the last reset_peak_memory_stats()
};
}  // namespace detail

// Returns the blocks cached for reuse to the system.
inline void empty_cache() { detail::BlockCache::instance().empty(); }
// Bytes held in the cache (not in use by any tensor).
inline size_t cached_bytes() { return detail::BlockCache::instance().cached_bytes(); }
// Bytes of tensor storage taken from the system: in live tensors plus cached (torch.cuda.memory_reserved).
inline size_t memory_reserved() { return detail::BlockCache::instance().reserved_bytes(); }
// The high-water mark of memory_reserved() (torch.cuda.max_memory_reserved).
inline size_t max_memory_reserved() { return detail::BlockCache::instance().peak_reserved_bytes(); }
// Starts max_memory_reserved() again from what is reserved now (torch.cuda.reset_peak_memory_stats).
inline void reset_peak_memory_stats() { detail::BlockCache::instance().reset_peak(); }

class Storage {
 public:
  static constexpr size_t kAlignment = 64;

  // Uninitialised storage for `count` floats.
  explicit Storage(size_t count) : count_(count) {
    if (count == 0) return;
    // The byte count, rounded up to the alignment, must not wrap around: a wrapped
    // count would allocate a small block that the caller then writes `count` floats into.
    constexpr size_t kMaxCount = (SIZE_MAX - (kAlignment - 1)) / sizeof(float);
    TD_CHECK(count <= kMaxCount, "Storage", "cannot allocate ", count, " floats: the byte count overflows size_t");
    bytes_ = round_up(count * sizeof(float));
    data_ = static_cast<float*>(detail::BlockCache::instance().acquire(bytes_));
    if (!data_) throw Error(detail::concat("Storage: out of memory allocating ", bytes_, " bytes"));
  }
  ~Storage() {
    if (data_) detail::BlockCache::instance().release(data_, bytes_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return count_; }

  // The version counter (PyTorch's tensor._version): every tracked in-place write (Tensor::at,
  // mutable_data, bump_version, an optimiser's step, io::load into a module) adds one, and
  // backward() refuses to run an op whose inputs or output changed since the op recorded them.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  static size_t round_up(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }
  float* data_ = nullptr;
  size_t count_ = 0;
  size_t bytes_ = 0;
  uint64_t version_ = 0;
};

}  // namespace tinydiff
