#pragma once
// Thread count: the library's only global setting besides the default generator.
//
// Kernels parallelise their outer loops with OpenMP; set_num_threads(n) is
// torch.set_num_threads(n). Results are reproducible for a fixed thread count.
#include <omp.h>

#include "tinydiff/core/error.hpp"

namespace tinydiff {

// At most kMaxThreads: OpenMP starts every thread it is asked for, and 100,000 of them exhaust the
// process's memory for stacks (a crash, not an error) long before any machine has that many cores.
constexpr int kMaxThreads = 1024;

inline void set_num_threads(int n) {
  TD_CHECK(n >= 1 && n <= kMaxThreads, "set_num_threads", "thread count must be 1 to ", kMaxThreads, ", got ", n);
  omp_set_num_threads(n);
}

inline int get_num_threads() { return omp_get_max_threads(); }

}  // namespace tinydiff
