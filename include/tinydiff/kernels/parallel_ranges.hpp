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

}  // namespace tinydiff::kernels
