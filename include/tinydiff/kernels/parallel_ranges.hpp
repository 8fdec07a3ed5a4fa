#pragma once
// Splitting `count` items (tiles, panels) into one contiguous range per OpenMP thread, for the
// tier kernels, which are serial: each thread makes one call for its whole range, so a kernel's
// per-call setup (its scratch, its packer) happens once per thread.
#include <omp.h>

#include <cstdint>

namespace tinydiff::kernels {

// Calls work(begin, end) for ranges that cover [0, count): one per thread of a team when
// `parallel` (and count > 1), else one for everything on the calling thread. The ranges are as
// equal as can be (thread t gets [count t / T, count (t + 1) / T)).
template <class Work>
inline void parallel_ranges(int64_t count, bool parallel, Work&& work) {
  if (count <= 0) return;
  if (!parallel || count == 1) {
    work(int64_t{0}, count);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = count * t / threads, end = count * (t + 1) / threads;
    if (begin < end) work(begin, end);
  }
}

// body(i) for every i in [0, count) (chunks of a batch): over a team with a static schedule when
// `parallel` (and count > 1), else on the calling thread outside any OpenMP region. Not
// `#pragma omp parallel for if (parallel)`: its region, even inactive, makes every team a kernel
// inside starts (conv_gemm splitting one GEMM over the threads) a nested team of new threads,
// which spin against the outer team's idle ones: a single-chunk 7x7 weight gradient ran 25x
// slower that way on 2 cores.
template <class Body>
inline void for_each_index(int64_t count, bool parallel, Body&& body) {
  if (parallel && count > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) body(i);
    return;
  }
  for (int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace tinydiff::kernels
