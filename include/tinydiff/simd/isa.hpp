#pragma once
// Which instruction set the kernels run on: the tiers a build contains, what this CPU supports,
// and the one chosen at first use.
//
// The hot kernels (kernels/tier/) are written once over a small vector type (simd/vec.hpp) and
// compiled once per tier, each tier in a namespace of its own and a region of the header where
// the compiler may use that tier's instructions (simd/target.hpp). A program built with the
// compiler's default flags therefore still holds the AVX-512 and AVX2 + FMA kernels; which of
// them runs is decided here, once, by asking the CPU:
//
//   generic  4-float vectors in portable C++ (GCC/Clang vector extensions): SSE2 on x86-64,
//            NEON on ARM, plain scalar code elsewhere. Always compiled; runs on any CPU.
//   avx2     8-float vectors, AVX2 + FMA (x86-64-v3: Intel Haswell and later, AMD Zen).
//            Compiled on x86 unless the build's own flags already require AVX-512
//            (then no CPU that runs the program needs it).
//   avx512   16-float vectors and masks, AVX-512 F/BW/DQ/VL (x86-64-v4). Compiled on x86.
//
// The choice is the widest tier both compiled and supported, unless the environment variable
// TINYDIFF_ISA names one (generic, avx2, avx512; "auto" or empty: the default); a tier this
// CPU or this build lacks is an error, not a silent fallback. Tests switch tiers with
// set_isa / IsaScope. cpu_info() says what was found and chosen.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tinydiff/core/error.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define TINYDIFF_X86 1
#else
#define TINYDIFF_X86 0
#endif

// The tiers this build compiles (TINYDIFF_NO_X86_TIERS leaves only the generic one).
#if TINYDIFF_X86 && !defined(TINYDIFF_NO_X86_TIERS)
#define TINYDIFF_TIER_AVX512 1
#if defined(__AVX512F__)
#define TINYDIFF_TIER_AVX2 0  // the build's flags already require AVX-512
#else
#define TINYDIFF_TIER_AVX2 1
#endif
#else
#define TINYDIFF_TIER_AVX512 0
#define TINYDIFF_TIER_AVX2 0
#endif

namespace tinydiff::simd {

enum class Isa : int { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "generic";
  }
}

// Whether this build holds the tier's kernels.
inline bool isa_compiled(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return TINYDIFF_TIER_AVX512;
    case Isa::kAvx2: return TINYDIFF_TIER_AVX2;
    default: return true;
  }
}

// Whether this CPU, and the operating system (which must save the wider registers), runs the
// tier's instructions. GCC's and Clang's __builtin_cpu_supports check both.
inline bool cpu_supports(Isa isa) {
#if TINYDIFF_X86
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
#else
  return isa == Isa::kGeneric;
#endif
}

// The tiers this program can run here, narrowest first.
inline std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512})
    if (isa_compiled(isa) && cpu_supports(isa)) out.push_back(isa);
  return out;
}

inline Isa best_isa() { return available_isas().back(); }

// "generic", "avx2" or "avx512" to the Isa; an unknown name is an error that lists the known ones.
inline Isa parse_isa(const std::string& name, const char* origin) {
  for (Isa isa : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512})
    if (name == isa_name(isa)) return isa;
  throw Error(detail::concat(origin, ": unknown instruction set '", name,
                             "' (expected generic, avx2, avx512 or auto)"));
}

// Throws unless the tier can run here.
inline void check_runnable(Isa isa, const char* origin) {
  TD_CHECK(isa_compiled(isa), origin, "the ", isa_name(isa),
           " kernels are not in this build (its compiler flags already require a wider instruction set)");
  TD_CHECK(cpu_supports(isa), origin, "this CPU does not support the ", isa_name(isa), " instruction set");
}

namespace detail {
// The chosen tier, or -1 before the first use.
inline std::atomic<int>& isa_slot() {
  static std::atomic<int> slot{-1};
  return slot;
}
inline Isa isa_from_environment() {
  const char* value = std::getenv("TINYDIFF_ISA");
  if (!value || !*value || std::strcmp(value, "auto") == 0) return best_isa();
  const Isa isa = parse_isa(value, "TINYDIFF_ISA");
  check_runnable(isa, "TINYDIFF_ISA");
  return isa;
}
// Whether the tier was chosen by TINYDIFF_ISA or set_isa rather than by asking the CPU.
inline std::atomic<bool>& isa_forced() {
  static std::atomic<bool> forced{false};
  return forced;
}
}  // namespace detail

// The tier the kernels run on: chosen at the first call, then fixed (unless set_isa changes it).
inline Isa active_isa() {
  int isa = detail::isa_slot().load(std::memory_order_relaxed);
  if (isa < 0) {
    static const int chosen = [] {
      const char* value = std::getenv("TINYDIFF_ISA");
      detail::isa_forced() = value && *value && std::strcmp(value, "auto") != 0;
      return static_cast<int>(detail::isa_from_environment());
    }();
    int expected = -1;
    detail::isa_slot().compare_exchange_strong(expected, chosen);
    isa = detail::isa_slot().load();
  }
  return static_cast<Isa>(isa);
}

// Makes the kernels run on `isa` from now on (tests, benchmarks); returns the previous tier.
// Not meant to be called while kernels run on other threads.
inline Isa set_isa(Isa isa) {
  check_runnable(isa, "set_isa");
  const Isa previous = active_isa();
  detail::isa_slot() = static_cast<int>(isa);
  detail::isa_forced() = true;
  return previous;
}

// Runs the kernels on one tier for the scope's lifetime.
class IsaScope {
 public:
  explicit IsaScope(Isa isa) : was_forced_((active_isa(), detail::isa_forced().load())), previous_(set_isa(isa)) {}
  ~IsaScope() {
    detail::isa_slot() = static_cast<int>(previous_);
    detail::isa_forced() = was_forced_;
  }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;

 private:
  bool was_forced_;
  Isa previous_;
};

// The CPU's name as it reports it ("AMD EPYC 9B45", ...), or the architecture's.
inline std::string cpu_name() {
#if TINYDIFF_X86
  unsigned int regs[12] = {};
  unsigned int top = __get_cpuid_max(0x80000000u, nullptr);
  if (top >= 0x80000004u) {
    for (unsigned int i = 0; i < 3; ++i)
      __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    char text[49] = {};
    std::memcpy(text, regs, 48);
    std::string name(text);
    const size_t first = name.find_first_not_of(' '), last = name.find_last_not_of(' ');
    if (first != std::string::npos) return name.substr(first, last - first + 1);
  }
  return "x86";
#elif defined(__aarch64__)
  return "aarch64";
#elif defined(__arm__)
  return "arm";
#else
  return "unknown CPU";
#endif
}

}  // namespace tinydiff::simd
