#pragma once
// Splitting a batch of images into chunks for the convolution kernels' OpenMP loops.
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace tinydiff::kernels {

// The chunks of a batch: chunk c holds images [begin(c), begin(c + 1)). Chunks have at most
// `preferred` images (the size the kernel's GEMMs like), and are evened out over the OpenMP
// threads: the chunk count is rounded up to a multiple of the thread count and the images
// spread over the chunks so that sizes differ by at most one. With a static schedule every
// thread then gets the same work to within an image (64 images at up to 9 per chunk: 8
// chunks of 8, not 7 chunks of 9 and one of 1, which left one thread 36 images, the other 28).
struct BatchChunks {
  int64_t batch = 0, count = 0;
  int64_t largest = 0;  // the most images in one chunk, for sizing scratch buffers

  BatchChunks(int64_t batch_, int64_t preferred, int threads = omp_get_max_threads()) : batch(batch_) {
    if (batch <= 0) return;
    preferred = std::max<int64_t>(1, std::min(preferred, batch));
    count = (batch + preferred - 1) / preferred;
    if (threads > 1 && count > 1) count = (count + threads - 1) / threads * threads;
    count = std::min(count, batch);
    largest = (batch + count - 1) / count;
  }
  int64_t begin(int64_t c) const { return c * batch / count; }
  int64_t size(int64_t c) const { return begin(c + 1) - begin(c); }
};

}  // namespace tinydiff::kernels
