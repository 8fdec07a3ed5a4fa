// libFuzzer target: tinydiff::io::load_safetensors on arbitrary bytes.
//
// An input must either load or throw tinydiff::Error; anything else (a crash, a
// sanitizer report, another exception type, a hang, a huge allocation) is a finding.
// A file that loads must also survive a round trip: save_safetensors writes it back
// (as F32) and loading that gives the same names, shapes, values and metadata.
#include <cstring>

#include <tinydiff/io/safetensors.hpp>

#include "fuzz_common.hpp"

namespace {

void check_round_trip(const tinydiff::io::SafetensorsFile& file) {
  using namespace tinydiff::io;
  const std::string path = fuzz::scratch_dir() + "/round_trip.safetensors";
  save_safetensors(path, file.tensors, file.metadata);  // names and strings came from valid JSON
  const SafetensorsFile again = load_safetensors(path);
  FUZZ_CHECK(again.metadata == file.metadata);
  FUZZ_CHECK(again.tensors.size() == file.tensors.size());
  // The reader returns tensors in data order, the writer packs them in the given order.
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& [name, t] = file.tensors[i];
    const auto& [name2, t2] = again.tensors[i];
    FUZZ_CHECK(name == name2);
    FUZZ_CHECK(t.shape() == t2.shape());
    FUZZ_CHECK(t.numel() == t2.numel());
    if (t.numel()) FUZZ_CHECK(std::memcmp(t.data(), t2.data(), sizeof(float) * static_cast<size_t>(t.numel())) == 0);
    FUZZ_CHECK(again.contains(name));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("input.safetensors", data, size);
  tinydiff::io::SafetensorsFile file;
  try {
    file = tinydiff::io::load_safetensors(path);
  } catch (const tinydiff::Error&) {
    return 0;  // a malformed file, reported as it should be
  }
  uint64_t total = 0;
  for (const auto& entry : file.tensors) {
    FUZZ_CHECK(entry.second.defined());
    total += static_cast<uint64_t>(entry.second.numel());
  }
  FUZZ_CHECK(total <= size);  // every element has at least one byte of the file behind it
  check_round_trip(file);
  return 0;
}
