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
///
/// state() / load_state(): where the loader is, for checkpoints (PyTorch's StatefulDataLoader
/// state_dict). A loader given the state of another continues as that one would: its next
/// begin() resumes the epoch in progress at the next unread batch (the same order, redrawn from
/// the generator state the epoch was drawn from), later epochs as the other's would be.
///
///     data::DataLoader::State saved = loader.state();    // e.g. after the k-th batch of an epoch
///     data::DataLoader again(dataset, options);  again.load_state(saved);
///     for (const data::Batch& batch : again) ...        // batch k + 1 of that epoch, and on
#include <cstdint>
#include <future>
#include <iterator>
#include <memory>
#include <numeric>
#include <optional>
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
    int64_t first;  // batches start at order[first] (0, or where a restored epoch resumes)
    int64_t batch_size, num_batches;
    bool prefetch;
    int64_t index = 0;  ///< of the current batch
    Batch current;
    std::future<Batch> next;

    Batch gather(int64_t k) const {
      const int64_t start = first + k * batch_size;
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

  /// Where the loader is: the next batch comes from epoch `epoch` (counting from 0), starting at
  /// sample `position` of that epoch's order, and that order is (or will be) drawn from a
  /// generator in state `generator`. Between epochs (before the first, or once an epoch has
  /// handed out its last batch) position is 0 and generator is the generator as it is now.
  /// With the caller's generator (options.generator), the caller saves and restores that one
  /// itself; `generator` is then only used to redraw the order of an epoch in progress.
  struct State {
    int64_t epoch = 0;
    int64_t position = 0;  // samples of the epoch already handed out
    Generator::State generator{};
  };

  State state() const {
    if (resume_) return *resume_;
    if (epoch_ && epoch_->index + 1 < epoch_->num_batches)  // batches 0..index handed out
      return {epochs_begun_ - 1, epoch_->first + (epoch_->index + 1) * epoch_->batch_size, epoch_start_};
    return {epochs_begun_, 0, (options_.generator() ? *options_.generator() : generator_).state()};
  }

  /// Continues from `saved` (a state() of a loader over the same dataset). The epoch being
  /// iterated, if any, is no longer tracked; the next begin() starts where `saved` is.
  void load_state(const State& saved) {
    TD_CHECK(saved.epoch >= 0, "data::DataLoader::load_state", "epoch must be >= 0, got ", saved.epoch);
    TD_CHECK(saved.position >= 0 && (saved.position == 0 || saved.position < dataset_->size()),
             "data::DataLoader::load_state", "position ", saved.position, " is outside the dataset's ",
             dataset_->size(), " samples (a state of a loader over a different dataset?)");
    epoch_.reset();
    epochs_begun_ = saved.epoch;
    if (saved.position == 0) {
      resume_.reset();
      if (!options_.generator()) generator_.set_state(saved.generator);
    } else {
      resume_ = saved;
    }
  }

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

  /// Starts an epoch: draws its order (shuffle) and gathers the first batch. After load_state
  /// in the middle of an epoch, resumes that epoch instead.
  iterator begin() {
    auto epoch = std::make_shared<Epoch>();
    epoch->dataset = dataset_;
    epoch->order.resize(static_cast<size_t>(dataset_->size()));
    std::iota(epoch->order.begin(), epoch->order.end(), int64_t{0});
    epoch->first = 0;
    if (resume_) {  // redraw the interrupted epoch's order from the state it was drawn from
      Generator replay;
      replay.set_state(resume_->generator);
      shuffle(epoch->order, replay);
      if (!options_.generator()) generator_ = replay;  // where the uninterrupted loader's is now
      epoch_start_ = resume_->generator;
      epoch->first = resume_->position;
      resume_.reset();
    } else {
      epoch_start_ = shuffle_generator().state();
      shuffle(epoch->order, shuffle_generator());
    }
    ++epochs_begun_;
    const int64_t remaining = dataset_->size() - epoch->first, b = options_.batch_size();
    epoch->batch_size = b;
    epoch->num_batches = options_.drop_last() ? remaining / b : (remaining + b - 1) / b;
    epoch->prefetch = options_.prefetch();
    epoch->load(0);
    epoch_ = epoch;
    return iterator(std::move(epoch));
  }
  iterator end() { return iterator(); }

 private:
  Generator& shuffle_generator() { return options_.generator() ? *options_.generator() : generator_; }
  void shuffle(std::vector<int64_t>& order, Generator& gen) const {
    if (options_.shuffle())  // Fisher-Yates
      for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i)
        std::swap(order[i], order[gen.uniform_int(static_cast<uint64_t>(i + 1))]);
  }

  std::shared_ptr<const TensorDataset> dataset_;
  DataLoaderOptions options_;
  Generator generator_;
  // For state(): the epoch being iterated, how many epochs have begun, the generator's state
  // when the current epoch's order was drawn, and a state loaded but not yet resumed.
  std::shared_ptr<Epoch> epoch_;
  int64_t epochs_begun_ = 0;
  Generator::State epoch_start_{};
  std::optional<State> resume_;
};

}  // namespace tinydiff::data
