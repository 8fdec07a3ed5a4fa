#pragma once
/// @file
/// data::DataLoader: batches of a TensorDataset, as torch.utils.data.DataLoader, iterated with a
/// range-for:
///
///     data::DataLoader loader(dataset, data::DataLoaderOptions(64).shuffle(true).seed(1).drop_last(true));
///     for (int epoch = 0; epoch < 8; ++epoch)
///       for (const data::Batch& batch : loader) { Tensor x = batch.tensor(0); IndexTensor y = batch.index(1); ... }
///
/// Every range-for (begin()) is one epoch. With shuffle, the epoch's order is a permutation drawn
/// (Fisher-Yates, when the epoch begins) from the loader's own Generator, seeded by options.seed,
/// or from the caller's options.generator(&gen) (PyTorch's generator=; it must outlive the
/// loader), so a loader with the same seed replays the same epochs, and each epoch draws a new
/// order. Without shuffle, the order is 0..n-1.
/// The last batch is short (n % batch_size samples) unless drop_last leaves it out.
///
/// prefetch: while the caller works on batch k, a worker thread (std::async) gathers batch k + 1.
/// The order is fixed before any batch is gathered and gathering is a plain copy (no autograd,
/// no random numbers), so prefetching never changes which batches come out.
#include <cstdint>
#include <future>
#include <iterator>
#include <memory>
#include <numeric>
#include <utility>
#include <vector>

#include "tinydiff/core/generator.hpp"
#include "tinydiff/data/dataset.hpp"

namespace tinydiff::data {

struct DataLoaderOptions {
  explicit DataLoaderOptions(int64_t batch_size = 1) : batch_size_(batch_size) {}
  DataLoaderOptions& batch_size(int64_t v) { return batch_size_ = v, *this; }
  DataLoaderOptions& shuffle(bool v) { return shuffle_ = v, *this; }
  DataLoaderOptions& drop_last(bool v) { return drop_last_ = v, *this; }
  DataLoaderOptions& prefetch(bool v) { return prefetch_ = v, *this; }
  DataLoaderOptions& seed(uint64_t v) { return seed_ = v, *this; }
  DataLoaderOptions& generator(Generator* v) { return generator_ = v, *this; }
  int64_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  bool drop_last() const { return drop_last_; }
  bool prefetch() const { return prefetch_; }
  uint64_t seed() const { return seed_; }
  Generator* generator() const { return generator_; }

 private:
  int64_t batch_size_;
  bool shuffle_ = false, drop_last_ = false, prefetch_ = false;
  uint64_t seed_ = 0;
  Generator* generator_ = nullptr;  ///< null: the loader's own, seeded by seed_
};

class DataLoader {
  /// One epoch: the sample order, and the batch being read (plus the next one being gathered).
  struct Epoch {
    std::shared_ptr<const TensorDataset> dataset;
    std::vector<int64_t> order;
    int64_t batch_size, num_batches;
    bool prefetch;
    int64_t index = 0;  ///< of the current batch
    Batch current;
    std::future<Batch> next;

    Batch gather(int64_t k) const {
      const int64_t start = k * batch_size;
      const int64_t end = std::min<int64_t>(start + batch_size, static_cast<int64_t>(order.size()));
      return dataset->gather(std::vector<int64_t>(order.begin() + start, order.begin() + end));
    }
    void start_prefetch(int64_t k) {
      if (prefetch && k < num_batches) next = std::async(std::launch::async, [this, k] { return gather(k); });
    }
    /// Makes batch k current (k < num_batches).
    void load(int64_t k) {
      index = k;
      if (k >= num_batches) return;
      current = next.valid() ? next.get() : gather(k);
      start_prefetch(k + 1);
    }
    ~Epoch() {
      if (next.valid()) next.wait();  // the worker reads this epoch's order
    }
  };

 public:
  /// Keeps its own copy of the dataset (float tensors are shared handles, indices are copied), so the
  /// loader may outlive the dataset it was given.
  DataLoader(const TensorDataset& dataset, DataLoaderOptions options)
      : dataset_(std::make_shared<const TensorDataset>(dataset)), options_(options), generator_(options.seed()) {
    TD_CHECK(options.batch_size() > 0, "data::DataLoader", "batch_size must be positive, got ",
             options.batch_size());
  }

  /// Batches per epoch: ceil(n / batch_size), or floor with drop_last.
  int64_t size() const {
    const int64_t n = dataset_->size(), b = options_.batch_size();
    return options_.drop_last() ? n / b : (n + b - 1) / b;
  }
  const DataLoaderOptions& options() const { return options_; }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch*;
    using reference = const Batch&;

    iterator() = default;
    const Batch& operator*() const { return epoch_->current; }
    const Batch* operator->() const { return &epoch_->current; }
    iterator& operator++() {
      epoch_->load(epoch_->index + 1);
      return *this;
    }
    /// Only "not at the end" comparisons are meaningful (an input iterator).
    bool operator==(const iterator& other) const { return at_end() == other.at_end(); }
    bool operator!=(const iterator& other) const { return !(*this == other); }

   private:
    friend class DataLoader;
    explicit iterator(std::shared_ptr<Epoch> epoch) : epoch_(std::move(epoch)) {}
    bool at_end() const { return !epoch_ || epoch_->index >= epoch_->num_batches; }
    std::shared_ptr<Epoch> epoch_;
  };

  /// Starts an epoch: draws its order (shuffle) and gathers the first batch.
  iterator begin() {
    auto epoch = std::make_shared<Epoch>();
    epoch->dataset = dataset_;
    epoch->order.resize(static_cast<size_t>(dataset_->size()));
    std::iota(epoch->order.begin(), epoch->order.end(), int64_t{0});
    Generator& gen = options_.generator() ? *options_.generator() : generator_;
    if (options_.shuffle())  // Fisher-Yates
      for (int64_t i = dataset_->size() - 1; i > 0; --i)
        std::swap(epoch->order[i], epoch->order[gen.uniform_int(static_cast<uint64_t>(i + 1))]);
    epoch->batch_size = options_.batch_size();
    epoch->num_batches = size();
    epoch->prefetch = options_.prefetch();
    epoch->load(0);
    return iterator(std::move(epoch));
  }
  iterator end() { return iterator(); }

 private:
  std::shared_ptr<const TensorDataset> dataset_;
  DataLoaderOptions options_;
  Generator generator_;
};

}  // namespace tinydiff::data
