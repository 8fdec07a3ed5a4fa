// libFuzzer target: the IDX reader (tinydiff::io::read_idx, load_idx_images,
// load_idx_labels) on arbitrary bytes, plain or gzip (a file that starts 1f 8b is
// inflated with zlib).
//
// An input must either load or throw tinydiff::Error; anything else is a finding. The
// data limit is 1 MiB rather than the default 64 MiB so that a gzip bomb costs
// milliseconds, not seconds (the checks are the same whatever the limit). A file that
// loads must hold exactly the elements its dims promise, and survive a round trip
// through write_idx, plain and gzip.
#include <tinydiff/io/idx.hpp>

#include "fuzz_common.hpp"

namespace {

constexpr uint64_t kMaxBytes = uint64_t{1} << 20;

void check_round_trip(const tinydiff::io::IdxArray& a, const char* name) {
  const std::string path = fuzz::scratch_dir() + "/" + name;
  tinydiff::io::write_idx(path, a.dims, a.data);
  const tinydiff::io::IdxArray again = tinydiff::io::read_idx(path, kMaxBytes);
  FUZZ_CHECK(again.dims == a.dims);
  FUZZ_CHECK(again.data == a.data);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("input.idx", data, size);
  tinydiff::io::IdxArray a;
  try {
    a = tinydiff::io::read_idx(path, kMaxBytes);
  } catch (const tinydiff::Error&) {
    return 0;  // a malformed file, reported as it should be
  }
  FUZZ_CHECK(!a.dims.empty() && a.dims.size() <= 4);
  uint64_t count = 1;
  for (int64_t d : a.dims) {
    FUZZ_CHECK(d > 0 && d <= 0xffffffffLL);
    count *= static_cast<uint64_t>(d);
    FUZZ_CHECK(count <= kMaxBytes);
  }
  FUZZ_CHECK(count == a.data.size());
  check_round_trip(a, "round_trip.idx");
  check_round_trip(a, "round_trip.idx.gz");

  // The typed loaders read the file again and check the rank.
  try {
    const tinydiff::Tensor images = tinydiff::io::load_idx_images(path, kMaxBytes);
    FUZZ_CHECK(a.dims.size() == 3);
    FUZZ_CHECK(static_cast<uint64_t>(images.numel()) == count);
    for (int64_t i = 0; i < images.numel(); ++i) FUZZ_CHECK(images.data()[i] >= 0.0f && images.data()[i] <= 1.0f);
  } catch (const tinydiff::Error&) {
    FUZZ_CHECK(a.dims.size() != 3);
  }
  try {
    const std::vector<int64_t> labels = tinydiff::io::load_idx_labels(path, kMaxBytes);
    FUZZ_CHECK(a.dims.size() == 1);
    FUZZ_CHECK(labels.size() == count);
  } catch (const tinydiff::Error&) {
    FUZZ_CHECK(a.dims.size() != 1);
  }
  return 0;
}
