#pragma once
// tinydiff::cpu_info(): which CPU the program runs on, which kernel tiers it has and can run, and
// which one it chose (simd/isa.hpp), for logs and benchmark records:
//
//   std::cout << tinydiff::cpu_info().summary() << "\n";
//   // CPU: AMD EPYC 9B45 | kernels: avx512 (16-float vectors, GEMM block 8x48), chosen for this CPU
//   //   | this CPU runs: generic avx2 avx512 | this build holds: generic avx2 avx512
#include <string>
#include <vector>

#include "tinydiff/kernels/tiers.hpp"
#include "tinydiff/simd/isa.hpp"

namespace tinydiff {

struct CpuInfo {
  std::string cpu;                     // the CPU's own name ("AMD EPYC 9B45"), or its architecture
  std::string isa;                     // the tier the kernels run on: generic, avx2 or avx512
  bool forced = false;                 // chosen by TINYDIFF_ISA or simd::set_isa, not by asking the CPU
  int vector_floats = 0;               // floats per vector of that tier
  int gemm_rows = 0, gemm_columns = 0; // the convolution GEMM's register block
  std::vector<std::string> supported;  // the tiers this CPU runs
  std::vector<std::string> compiled;   // the tiers this build holds

  std::string summary() const {
    auto join = [](const std::vector<std::string>& names) {
      std::string out;
      for (const std::string& n : names) out += (out.empty() ? "" : " ") + n;
      return out;
    };
    return "CPU: " + cpu + " | kernels: " + isa + " (" + std::to_string(vector_floats) + "-float vectors, GEMM block " +
           std::to_string(gemm_rows) + "x" + std::to_string(gemm_columns) + "), " +
           (forced ? "forced (TINYDIFF_ISA or set_isa)" : "chosen for this CPU") + " | this CPU runs: " +
           join(supported) + " | this build holds: " + join(compiled);
  }
};

inline CpuInfo cpu_info() {
  CpuInfo info;
  info.cpu = simd::cpu_name();
  const kernels::TierKernels& tier = kernels::tier_kernels();
  info.isa = simd::isa_name(tier.isa);
  info.forced = simd::detail::isa_forced();
  info.vector_floats = tier.lanes;
  info.gemm_rows = tier.gemm_rows;
  info.gemm_columns = tier.gemm_columns;
  for (simd::Isa isa : {simd::Isa::kGeneric, simd::Isa::kAvx2, simd::Isa::kAvx512}) {
    if (simd::cpu_supports(isa)) info.supported.emplace_back(simd::isa_name(isa));
    if (simd::isa_compiled(isa)) info.compiled.emplace_back(simd::isa_name(isa));
  }
  return info;
}

}  // namespace tinydiff
