// How the time to load a safetensors file grows with the size of its JSON header
// (Google Benchmark). A header is untrusted input: a parse that is quadratic in the
// number of keys lets a 1 MB file take minutes (it once did: 100k keys, 24 s).
//
//   bench_safetensors [Google Benchmark flags, e.g. --benchmark_filter=metadata]
//
// Two cases, each at 10k ... 1M entries; Google Benchmark fits the times to a
// complexity and prints it under "_BigO" (linear: N, N log N; quadratic: N^2):
//   load_metadata_keys/N   a header {"__metadata__": {"k0":"v", ..., "k<N-1>":"v"}}
//                          (about 10 bytes a key: N = 100000 is a 1.1 MB header)
//   load_tensor_entries/N  N empty F32 tensors {"t<i>": {"dtype":"F32","shape":[0],...}},
//                          named out of sorted order (about 60 bytes an entry)
// Each timed iteration is one load_safetensors call: reading the file (from the page
// cache after the first), parsing the header and building the tensors.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include <tinydiff/tinydiff.hpp>

namespace {

// A file in the temporary directory, removed when the benchmark is done with it.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& name)
      : path((std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) +
             "/tinydiff_bench_" + std::to_string(::getpid()) + "_" + name) {}
  ~TempFile() { std::remove(path.c_str()); }
};

// The safetensors layout: 8-byte little-endian header length, the header, then the data (none here).
void write_safetensors_header(const std::string& path, const std::string& header) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header;
  if (!out) throw std::runtime_error("bench_safetensors: cannot write " + path);
}

std::string metadata_header(int64_t keys) {
  std::string header = R"({"__metadata__":{)";
  for (int64_t i = 0; i < keys; ++i) header += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":\"v\"";
  return header + "}}";
}

std::string tensor_header(int64_t tensors) {
  std::string header = "{";
  for (int64_t i = 0; i < tensors; ++i)
    header += (i ? ",\"t" : "\"t") + std::to_string((i * 7919) % tensors) +
              R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  return header + "}";
}

void run_load(benchmark::State& state, const std::string& header, const char* name) {
  TempFile file(std::string(name) + "_" + std::to_string(state.range(0)) + ".safetensors");
  write_safetensors_header(file.path, header);
  for (auto _ : state) {
    tinydiff::io::SafetensorsFile f = tinydiff::io::load_safetensors(file.path);
    benchmark::DoNotOptimize(f);
  }
  state.SetComplexityN(state.range(0));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(header.size()));
  state.counters["header_MB"] = static_cast<double>(header.size()) / 1e6;
}

void load_metadata_keys(benchmark::State& state) {
  run_load(state, metadata_header(state.range(0)), "metadata");
}

void load_tensor_entries(benchmark::State& state) {
  run_load(state, tensor_header(state.range(0)), "tensors");
}

}  // namespace

BENCHMARK(load_metadata_keys)
    ->RangeMultiplier(10)->Range(10000, 1000000)->Complexity()->Unit(benchmark::kMillisecond);
BENCHMARK(load_tensor_entries)
    ->RangeMultiplier(10)->Range(10000, 1000000)->Complexity()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
