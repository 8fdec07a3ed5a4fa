#pragma once
// Per-thread partial sums for the weight gradients (kernels/conv.hpp, kernels/winograd.hpp): each
// thread of an OpenMP team accumulates its static (hence fixed) share of the batch into its own
// slot, and the slots are then added in thread order, so that the result depends on the thread
// count only, never on timing.
//
// Both steps run on the whole team. Zeroing the slots and adding them up had been serial, and
// their cost grows with the team (slots x weight size): on a 16-core machine the backward of a
// 128 -> 64 3x3 conv at 7x7 ran slower at 16 threads than at 8 (10.4 vs 5.3 ms).
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>

namespace tinydiff::kernels {

// The slots of a team: `team` arrays of `size` floats.
class TeamPartials {
 public:
  // Called by one thread (inside `omp single`, or outside a parallel region).
  void allocate(int team, int64_t size) {
    team_ = team;
    size_ = size;
    data_.reset(new float[static_cast<size_t>(team) * static_cast<size_t>(size)]);
  }
  int team() const { return team_; }
  // The calling thread's slot, zeroed (by that thread: its pages are first touched where they are used).
  float* zeroed_slot(int thread) {
    float* slot = data_.get() + static_cast<int64_t>(thread) * size_;
    std::fill(slot, slot + size_, 0.0f);
    return slot;
  }
  // Called by every thread of the team (or outside a parallel region): with the slots seen as
  // [size / columns, columns], the sum of element (row, column) over the slots, in slot order, handed
  // to store(row, column, sum); the rows are split over the team. (Callers that scatter the sums
  // get the row and column without dividing per element.)
  template <class Store>
  void sum_in_team(int64_t columns, Store store) const {
    const float* p = data_.get();
    const int64_t rows = size_ / columns;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < columns; ++c) {
        const int64_t i = r * columns + c;
        float sum = p[i];
        for (int t = 1; t < team_; ++t) sum += p[t * size_ + i];
        store(r, c, sum);
      }
  }

 private:
  int team_ = 1;
  int64_t size_ = 0;
  std::unique_ptr<float[]> data_;
};

// body(slot, i) for every i in [0, count), each thread adding into its own zeroed slot of `size`
// floats in `partials`; then reduce(), which adds the slots up (partials.sum_in_team), on every
// thread of the team. With `parallel` false (or one item) all of it runs on the calling thread,
// outside any OpenMP region, with one slot: then a kernel inside body (conv_gemm) may split its
// own work over the threads (kernels/parallel_ranges.hpp, for_each_index, says why not inside).
template <class Body, class Reduce>
inline void for_each_index_into_slots(TeamPartials& partials, int64_t size, int64_t count, bool parallel,
                                      Body&& body, Reduce&& reduce) {
  if (parallel && count > 1) {
#pragma omp parallel
    {
#pragma omp single
      partials.allocate(omp_get_num_threads(), size);  // implicit barrier: the slots exist
      float* slot = partials.zeroed_slot(omp_get_thread_num());
#pragma omp for schedule(static)
      for (int64_t i = 0; i < count; ++i) body(slot, i);
      // implicit barrier: every slot is complete
      reduce();
    }
    return;
  }
  partials.allocate(1, size);
  float* slot = partials.zeroed_slot(0);
  for (int64_t i = 0; i < count; ++i) body(slot, i);
  reduce();
}

}  // namespace tinydiff::kernels
