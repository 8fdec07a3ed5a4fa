#pragma once
// What the whole-model benchmark programs (unet_step, sample_run) share: timing runs, their
// median, the process's peak memory and the CPU record.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tinydiff/tinydiff.hpp>

namespace bench {

// The CPU and the kernel tier that ran (tinydiff::cpu_info), for the record.
inline nlohmann::json cpu_json() {
  const tinydiff::CpuInfo info = tinydiff::cpu_info();
  return {{"cpu", info.cpu},
          {"isa", info.isa},
          {"forced", info.forced},
          {"vector_floats", info.vector_floats},
          {"gemm_block", std::to_string(info.gemm_rows) + "x" + std::to_string(info.gemm_columns)},
          {"supported", info.supported},
          {"compiled", info.compiled}};
}

// Peak resident set size of this process in MiB (VmHWM), or -1 when /proc is unavailable.
inline double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      double kib = 0;
      fields >> kib;
      return kib / 1024.0;
    }
  return -1.0;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Runs `step` warmup + repeats times; returns the timed durations in milliseconds.
template <typename Step>
std::vector<double> time_runs(int warmup, int repeats, Step&& step) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return ms;
}

}  // namespace bench
