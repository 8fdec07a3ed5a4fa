#pragma once
// Thread count: the library's only global setting besides the default generator.
//
// Kernels parallelise their outer loops with OpenMP; set_num_threads(n) is
// torch.set_num_threads(n). Results are reproducible for a fixed thread count.
#include <omp.h>

#include "tinydiff/core/error.hpp"

namespace tinydiff {

inline void set_num_threads(int n) {
  TD_CHECK(n >= 1, "set_num_threads", "thread count must be >= 1, got ", n);
  omp_set_num_threads(n);
}

inline int get_num_threads() { return omp_get_max_threads(); }

}  // namespace tinydiff
