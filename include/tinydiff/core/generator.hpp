#pragma once
// Generator: a small, seedable, portable random number generator.
//
// The standard library's distributions differ between implementations, so
// tinydiff draws its own: xoshiro256** for the bits (seeded through
// splitmix64), 24-bit uniforms in [0, 1), and Box-Muller normals. The same seed
// gives the same numbers on every compiler and platform. The whole state is
// four 64-bit words plus a cached normal, so checkpoints can save and restore it.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "tinydiff/core/error.hpp"

namespace tinydiff {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eedULL) { manual_seed(seed); }

  void manual_seed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& word : s_) word = splitmix64(x);
    has_spare_normal_ = false;
    spare_normal_ = 0.0;
  }

  // The next 64 random bits.
  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 24 random bits (every float in the grid is exact).
  float uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform_double() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }

  // Uniform integer in [0, n) (n > 0), by rejection so there is no modulo bias.
  uint64_t uniform_int(uint64_t n) {
    TD_CHECK(n > 0, "Generator::uniform_int", "n must be positive, got ", n, " (the range [0, n) is empty)");
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = next_u64(); while (r >= limit);
    return r % n;
  }

  // Standard normal N(0, 1) by Box-Muller; the second value of each pair is kept for the next call.
  double normal() {
    if (has_spare_normal_) {
      has_spare_normal_ = false;
      return spare_normal_;
    }
    double u1;
    do u1 = uniform_double(); while (u1 <= 0.0);
    const double u2 = uniform_double();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 6.283185307179586 * u2;
    spare_normal_ = radius * std::sin(angle);
    has_spare_normal_ = true;
    return radius * std::cos(angle);
  }

  // The full state, for checkpoints: 4 words of xoshiro, the spare normal's bits, and its flag.
  using State = std::array<uint64_t, 6>;
  State state() const {
    uint64_t spare_bits;
    static_assert(sizeof(spare_bits) == sizeof(spare_normal_), "double must be 64 bits");
    std::memcpy(&spare_bits, &spare_normal_, sizeof(spare_bits));
    return {s_[0], s_[1], s_[2], s_[3], spare_bits, has_spare_normal_ ? 1u : 0u};
  }
  void set_state(const State& st) {
    for (int i = 0; i < 4; ++i) s_[i] = st[i];
    std::memcpy(&spare_normal_, &st[4], sizeof(spare_normal_));
    has_spare_normal_ = st[5] != 0;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::array<uint64_t, 4> s_{};
  double spare_normal_ = 0.0;
  bool has_spare_normal_ = false;
};

// The process-wide default generator used when an op is not given one.
inline Generator& default_generator() {
  static Generator generator;
  return generator;
}

// Reseeds the default generator, as torch.manual_seed does.
inline void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tinydiff
