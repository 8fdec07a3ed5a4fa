// data::TensorDataset and data::DataLoader: rows and batches hold the right samples, every
// sample comes once per epoch, shuffling is reproducible by seed and differs between epochs,
// drop_last, prefetching changes nothing, a saved state resumes exactly, and bad arguments are errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

namespace {

// n samples: x row i = [i, 10 i, 100 i] (shape [n, 3]), y = IndexTensor [n, 2] with row (i, -i).
data::TensorDataset numbered(int64_t n) {
  Tensor x = Tensor::empty({n, 3});
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    x.data()[i * 3] = static_cast<float>(i);
    x.data()[i * 3 + 1] = static_cast<float>(10 * i);
    x.data()[i * 3 + 2] = static_cast<float>(100 * i);
    y.push_back(i);
    y.push_back(-i);
  }
  return data::TensorDataset({x, IndexTensor({n, 2}, y)});
}

// The sample ids of a batch of numbered() (checking each row's columns agree).
std::vector<int64_t> batch_ids(const data::Batch& batch) {
  const Tensor& x = batch.tensor(0);
  const IndexTensor& y = batch.index(1);
  REQUIRE(x.dim() == 2);
  REQUIRE(x.size(1) == 3);
  REQUIRE(y.shape == Shape{x.size(0), 2});
  std::vector<int64_t> ids;
  for (int64_t r = 0; r < x.size(0); ++r) {
    const int64_t id = y.data[r * 2];
    CHECK(y.data[r * 2 + 1] == -id);
    CHECK(x.data()[r * 3] == static_cast<float>(id));
    CHECK(x.data()[r * 3 + 2] == static_cast<float>(100 * id));
    ids.push_back(id);
  }
  return ids;
}

// The sample ids of each batch of one epoch.
std::vector<std::vector<int64_t>> epoch_ids(data::DataLoader& loader) {
  std::vector<std::vector<int64_t>> batches;
  for (const data::Batch& batch : loader) batches.push_back(batch_ids(batch));
  return batches;
}

// The next `count` batches as a training loop of so many steps draws them: an epoch after
// another, each begun when the last one ends. The first begin() resumes a loaded state.
std::vector<std::vector<int64_t>> take(data::DataLoader& loader, int64_t count) {
  std::vector<std::vector<int64_t>> batches;
  data::DataLoader::iterator it;  // at the end: the first step begins an epoch
  for (int64_t step = 0; step < count; ++step) {
    if (it != loader.end()) ++it;
    if (it == loader.end()) it = loader.begin();
    batches.push_back(batch_ids(*it));
  }
  return batches;
}

std::vector<int64_t> flatten(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

}  // namespace

TEST_CASE("TensorDataset: size, get(i) drops dim 0, columns of both kinds") {
  data::TensorDataset ds = numbered(5);
  CHECK(ds.size() == 5);
  CHECK(ds.num_columns() == 2);
  data::Example e = ds.get(3);
  CHECK(e.tensor(0).shape() == Shape{3});
  CHECK(e.tensor(0).to_vector() == std::vector<float>{3.0f, 30.0f, 300.0f});
  CHECK(e.index(1).shape == Shape{2});
  CHECK(e.index(1).data == std::vector<int64_t>{3, -3});
  // A 1-d column gives scalars.
  data::TensorDataset labels({IndexTensor::of({7, 8, 9})});
  CHECK(labels.get(2).index(0).shape == Shape{});
  CHECK(labels.get(2).index(0).data == std::vector<int64_t>{9});
  // The dataset's rows are copies: writing into a sample leaves the dataset alone.
  e.tensor(0).data()[0] = -1.0f;
  CHECK(ds.get(3).tensor(0).data()[0] == 3.0f);
}

TEST_CASE("DataLoader without shuffle: batches in order, the last one short unless drop_last") {
  data::TensorDataset ds = numbered(10);
  data::DataLoader loader(ds, data::DataLoaderOptions(4));
  CHECK(loader.size() == 3);
  CHECK(epoch_ids(loader) == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}});
  data::DataLoader dropping(ds, data::DataLoaderOptions(4).drop_last(true));
  CHECK(dropping.size() == 2);
  CHECK(epoch_ids(dropping) == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}});
  // A batch size that divides n: drop_last drops nothing; larger than n: one batch, or none.
  CHECK(epoch_ids(*std::make_unique<data::DataLoader>(ds, data::DataLoaderOptions(5).drop_last(true))).size() == 2);
  CHECK(epoch_ids(*std::make_unique<data::DataLoader>(ds, data::DataLoaderOptions(16))).size() == 1);
  // The loader keeps its own copy: a temporary dataset is fine.
  data::DataLoader from_temporary(numbered(3), data::DataLoaderOptions(2));
  CHECK(epoch_ids(from_temporary) == std::vector<std::vector<int64_t>>{{0, 1}, {2}});
  data::DataLoader none(ds, data::DataLoaderOptions(16).drop_last(true));
  CHECK(none.size() == 0);
  CHECK(epoch_ids(none).empty());
}

TEST_CASE("DataLoader shuffle: every sample once per epoch, reproducible by seed, new order each epoch") {
  data::TensorDataset ds = numbered(23);
  auto options = data::DataLoaderOptions(5).shuffle(true).seed(42);
  data::DataLoader a(ds, options), b(ds, options), other_seed(ds, data::DataLoaderOptions(5).shuffle(true).seed(43));
  std::vector<std::vector<int64_t>> epochs;
  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto batches = epoch_ids(a);
    CHECK(batches.size() == 5);
    CHECK(batches.back().size() == 3);
    std::vector<int64_t> all = flatten(batches);
    std::vector<int64_t> sorted = all;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> expected(23);
    for (int64_t i = 0; i < 23; ++i) expected[i] = i;
    CHECK(sorted == expected);  // each sample exactly once
    CHECK(flatten(epoch_ids(b)) == all);  // the same seed replays the same epochs
    CHECK(flatten(epoch_ids(other_seed)) != all);
    for (const auto& earlier : epochs) CHECK(earlier != all);  // each epoch a new order
    CHECK(all != expected);                                      // and not the identity
    epochs.push_back(all);
  }
  // drop_last with shuffle: 4 full batches, 20 distinct samples, a different 3 left out per epoch.
  data::DataLoader dropping(ds, data::DataLoaderOptions(5).shuffle(true).seed(7).drop_last(true));
  std::set<std::vector<int64_t>> left_out;
  for (int epoch = 0; epoch < 4; ++epoch) {
    const auto batches = epoch_ids(dropping);
    CHECK(batches.size() == 4);
    std::vector<int64_t> all = flatten(batches);
    std::set<int64_t> distinct(all.begin(), all.end());
    CHECK(distinct.size() == 20);
    std::vector<int64_t> missing;
    for (int64_t i = 0; i < 23; ++i)
      if (!distinct.count(i)) missing.push_back(i);
    left_out.insert(missing);
  }
  CHECK(left_out.size() > 1);
}

TEST_CASE("DataLoader with the caller's generator: Fisher-Yates draws from it when each epoch begins") {
  data::TensorDataset ds = numbered(11);
  Generator shared(5), reference(5);
  data::DataLoader loader(ds, data::DataLoaderOptions(4).shuffle(true).generator(&shared));
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> order(11);
    for (int64_t i = 0; i < 11; ++i) order[i] = i;
    for (int64_t i = 10; i > 0; --i) std::swap(order[i], order[reference.uniform_int(static_cast<uint64_t>(i + 1))]);
    CHECK(flatten(epoch_ids(loader)) == order);
    // Draws between epochs (e.g. augmentation) move the shared generator for the next epoch.
    CHECK(shared.next_u64() == reference.next_u64());
  }
}

TEST_CASE("DataLoader prefetch gives the same batches as no prefetch, also when an epoch stops early") {
  data::TensorDataset ds = numbered(37);
  for (bool shuffle : {false, true}) {
    data::DataLoader plain(ds, data::DataLoaderOptions(8).shuffle(shuffle).seed(3));
    data::DataLoader prefetching(ds, data::DataLoaderOptions(8).shuffle(shuffle).seed(3).prefetch(true));
    for (int epoch = 0; epoch < 3; ++epoch) CHECK(epoch_ids(prefetching) == epoch_ids(plain));
    // Leaving an epoch after one batch (the worker is gathering the next) is safe, and the
    // next epoch still matches.
    for (const data::Batch& batch : prefetching) {
      CHECK(batch.tensor(0).size(0) == 8);
      break;
    }
    for (const data::Batch& batch : plain) {
      CHECK(batch.tensor(0).size(0) == 8);
      break;
    }
    CHECK(epoch_ids(prefetching) == epoch_ids(plain));
  }
}

TEST_CASE("DataLoader state: k batches, save, a new loader loads it and goes on as the first one would") {
  data::TensorDataset ds = numbered(23);
  for (bool drop_last : {false, true})
    for (bool prefetch : {false, true}) {
      // 5 batches an epoch (the last one short), or 4 with drop_last: 12 steps cross 2 or 3 epochs.
      const auto options = data::DataLoaderOptions(5).shuffle(true).seed(9).drop_last(drop_last).prefetch(prefetch);
      const int64_t steps = 12, per_epoch = drop_last ? 4 : 5;
      data::DataLoader whole(ds, options);
      const auto expected = take(whole, steps);
      for (int64_t k = 0; k <= steps; ++k) {
        CAPTURE(drop_last);
        CAPTURE(prefetch);
        CAPTURE(k);
        data::DataLoader first(ds, options);
        auto got = take(first, k);
        const data::DataLoader::State saved = first.state();
        CHECK(saved.epoch == k / per_epoch);  // the epoch the next batch comes from
        CHECK(saved.position == (k % per_epoch) * 5);
        data::DataLoader second(ds, options);
        second.load_state(saved);
        const data::DataLoader::State loaded = second.state();  // a loaded state reads back as it was
        CHECK(loaded.epoch == saved.epoch);
        CHECK(loaded.position == saved.position);
        CHECK(loaded.generator == saved.generator);
        const auto rest = take(second, steps - k);
        got.insert(got.end(), rest.begin(), rest.end());
        CHECK(got == expected);
      }
    }
  // A range-for left in the middle of an epoch: the restored loader's next range-for finishes it.
  data::DataLoader left(ds, data::DataLoaderOptions(5).shuffle(true).seed(4));
  data::DataLoader reference(ds, data::DataLoaderOptions(5).shuffle(true).seed(4));
  const auto full = epoch_ids(reference);
  int64_t seen = 0;
  for (const data::Batch& batch : left) {
    CHECK(batch_ids(batch) == full[0]);
    if (++seen == 1) break;
  }
  data::DataLoader restored(ds, data::DataLoaderOptions(5).shuffle(true).seed(4));
  restored.load_state(left.state());
  CHECK(epoch_ids(restored) == std::vector<std::vector<int64_t>>(full.begin() + 1, full.end()));
  CHECK(epoch_ids(restored) == epoch_ids(reference));  // and the epoch after it
}

TEST_CASE("DataLoader state with the caller's generator: the caller restores it, the loader redraws its epoch") {
  data::TensorDataset ds = numbered(17);
  // A loop that also draws from the shared generator after every batch (as augmentation does).
  auto run = [&](data::DataLoader& loader, Generator& gen, int64_t count) {
    std::vector<std::vector<int64_t>> batches;
    data::DataLoader::iterator it;
    for (int64_t step = 0; step < count; ++step) {
      if (it != loader.end()) ++it;
      if (it == loader.end()) it = loader.begin();
      batches.push_back(batch_ids(*it));
      batches.back().push_back(static_cast<int64_t>(gen.uniform_int(1000)));
    }
    return batches;
  };
  Generator gen_whole(8);
  data::DataLoader whole(ds, data::DataLoaderOptions(4).shuffle(true).generator(&gen_whole));
  const auto expected = run(whole, gen_whole, 10);
  for (int64_t k : {3, 4, 6}) {
    CAPTURE(k);
    Generator gen_first(8);
    data::DataLoader first(ds, data::DataLoaderOptions(4).shuffle(true).generator(&gen_first));
    auto got = run(first, gen_first, k);
    Generator gen_second(99);
    gen_second.set_state(gen_first.state());
    data::DataLoader second(ds, data::DataLoaderOptions(4).shuffle(true).generator(&gen_second));
    second.load_state(first.state());
    const auto rest = run(second, gen_second, 10 - k);
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(got == expected);
  }
}

TEST_CASE("data errors: batch_size 0, mismatched sizes, wrong column kind, out of range") {
  data::TensorDataset ds = numbered(4);
  check_error([&] { (void)data::DataLoader(ds, data::DataLoaderOptions(0)); }, "data::DataLoader", {"batch_size", "0"});
  check_error([&] { data::TensorDataset({zeros({4, 2}), IndexTensor::of({1, 2, 3})}); }, "data::TensorDataset",
              {"size mismatch", "4 rows", "[4, 2]", "column 1", "[3]"});
  check_error([&] { data::TensorDataset({}); }, "data::TensorDataset", {"at least one"});
  check_error([&] { data::TensorDataset({scalar_tensor(1.0f)}); }, "data::TensorDataset", {"scalar"});
  check_error([&] { data::TensorDataset({Tensor()}); }, "data::TensorDataset", {"undefined"});
  check_error([&] { ds.get(4); }, "data::TensorDataset::get", {"index 4", "[0, 4)"});
  check_error([&] { ds.get(0).index(0); }, "data::Example", {"column 0", "IndexTensor"});
  check_error([&] { ds.get(0).tensor(5); }, "data::Example", {"column 5"});
  data::DataLoader loader(ds, data::DataLoaderOptions(2));
  data::DataLoader::State far;
  far.position = 4;
  check_error([&] { loader.load_state(far); }, "data::DataLoader::load_state", {"position 4", "4 samples"});
  far.position = 0;
  far.epoch = -1;
  check_error([&] { loader.load_state(far); }, "data::DataLoader::load_state", {"epoch", "-1"});
}
