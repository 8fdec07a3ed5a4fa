// Patch rows for one tier (included by kernels/tiers.hpp inside the tier's namespace): picking the
// pixels of one input row that a row of patch values reads, im2col and col2im (kernels/im2col.hpp
// gives the formulas), and the transpose.

// The patch values one input row gives, kernel column by kernel column. For the geometry g, output
// column ow of kernel column j reads input column ow * stride_w + j * dilation_w - pad_w (zero
// outside the row).
//   stride 1: the values are the row itself from offset j * dilation_w - pad_w on: one load per
//     vector, masked to the lanes whose column lies inside the row.
//   stride s > 1: the row is first split into s zero-padded sub-rows, sub-row r holding the input
//     columns t * s + r - pad_w (at stride 2 with one deinterleave per 2 vectors of the row):
//       sub[r][t] = in[t * s + r - pad_w]          (0 outside [0, W))
//     so that kernel column j's values are the contiguous run sub[r][o + ow], ow in [0, out_w), with
//     r = (j dilation_w) mod s and o = (j dilation_w) div s: whole-vector loads.
// A row outside the image (null) gives zeros.
class RowPicker {
 public:
  explicit RowPicker(const PatchGeometry& g)
      : width_(g.width), out_w_(g.out_w), stride_(g.stride_w), pad_(g.pad_w), dilation_(g.dilation_w),
        vectors_((g.out_w + kLanes - 1) / kLanes) {
    if (stride_ == 1) return;
    const int64_t reach = ((g.kernel_w - 1) * g.dilation_w) / stride_;  // the largest o
    // room for the reads (o + whole vectors) and, at stride 2, the deinterleaved vectors' writes
    sub_length_ = std::max(reach + vectors_ * kLanes, (width_ + pad_) / stride_ + 2 * kLanes);
    buffer_.assign(static_cast<size_t>(stride_ * sub_length_), 0.0f);
    // Sub-row r holds input columns t * stride + r - pad for t in [lo, hi).
    for (int64_t r = 0; r < stride_; ++r) {
      const int64_t lo = std::max<int64_t>(0, (pad_ - r + stride_ - 1) / stride_);
      const int64_t hi = std::min(sub_length_, width_ - 1 + pad_ - r < 0 ? 0 : (width_ - 1 + pad_ - r) / stride_ + 1);
      spans_.push_back(Span{lo, std::max(lo, hi)});
    }
  }

  // Makes `in` (W pixels, or null: a row of zeros) the current row.
  void pick(const float* in) {
    in_ = in;
    if (stride_ == 1 || !in) return;
    if (stride_ == 2) {
      // Input columns c0 + 2l (even) go to sub-row pad & 1 at t = c0/2 + pad/2 + l, the odd ones to
      // sub-row (pad + 1) & 1 at c0/2 + (pad + 1)/2 + l; lanes past the row are zeros, which is what
      // those places of the sub-rows hold.
      float* even_row = buffer_.data() + (pad_ & 1) * sub_length_ + pad_ / 2;
      float* odd_row = buffer_.data() + ((pad_ + 1) & 1) * sub_length_ + (pad_ + 1) / 2;
      for (int64_t c0 = 0; c0 < width_; c0 += 2 * kLanes) {
        Vec even, odd;
        deinterleave(load(in + c0, first_lanes(width_ - c0)), load(in + c0 + kLanes, first_lanes(width_ - c0 - kLanes)),
                     even, odd);
        store(even_row + c0 / 2, even);
        store(odd_row + c0 / 2, odd);
      }
      return;
    }
    for (int64_t r = 0; r < stride_; ++r) {
      float* sub = buffer_.data() + r * sub_length_;
      const Span s = spans_[static_cast<size_t>(r)];
      for (int64_t t = s.lo; t < s.hi; ++t) sub[t] = in[t * stride_ + r - pad_];
    }
  }

  // dst[ow] for ow in [0, out_w): kernel column j's values. The last vector is stored whole, so up
  // to kLanes - 1 values past out_w are overwritten too (with values of no meaning): for callers
  // that write those places again afterwards, or never read them.
  void store_spilling(int64_t j, float* dst) const {
    if (!in_) {
      for (int64_t v = 0; v < vectors_; ++v) store(dst + v * kLanes, zero());
    } else if (stride_ == 1) {
      const int64_t offset = j * dilation_ - pad_;  // output column ow reads input column ow + offset
      for (int64_t v = 0; v < vectors_; ++v)
        store(dst + v * kLanes, load(in_ + offset + v * kLanes, inside(offset + v * kLanes)));
    } else {
      const float* src = source(j);
      for (int64_t v = 0; v < vectors_; ++v) store(dst + v * kLanes, load(src + v * kLanes));
    }
  }

  // How far from dst store_spilling writes.
  int64_t spilling_width() const { return vectors_ * kLanes; }

  // The same values, and nothing past out_w.
  void store_exact(int64_t j, float* dst) const {
    for (int64_t v = 0; v < vectors_; ++v) {
      Vec values = zero();
      const int64_t offset = j * dilation_ - pad_ + v * kLanes;
      if (in_ && stride_ == 1) values = load(in_ + offset, inside(offset));
      else if (in_) values = load(source(j) + v * kLanes);
      store(dst + v * kLanes, values, first_lanes(out_w_ - v * kLanes));
    }
  }

 private:
  struct Span {
    int64_t lo, hi;
  };
  // The lanes of a vector of input columns [first, first + kLanes) that lie inside the row.
  Mask inside(int64_t first) const { return lanes_between(-first, width_ - first); }
  const float* source(int64_t j) const {
    const int64_t shift = j * dilation_;
    return buffer_.data() + (shift % stride_) * sub_length_ + shift / stride_;
  }
  int64_t width_, out_w_, stride_, pad_, dilation_, vectors_, sub_length_ = 0;
  const float* in_ = nullptr;
  std::vector<float> buffer_;
  std::vector<Span> spans_;
};

// col [C*kh*kw, out_h*out_w] = the patches of x [C, H, W], rows row_stride floats apart: per
// channel, kernel row and output row, the input row is picked once for all kernel columns.
inline void im2col(const float* x, const PatchGeometry& g, float* col, int64_t row_stride) {
  RowPicker picker(g);
  for (int64_t c = 0; c < g.channels; ++c) {
    const float* plane = x + c * g.height * g.width;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      float* rows = col + (c * g.kernel_h + i) * g.kernel_w * row_stride;
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
        picker.pick(ih >= 0 && ih < g.height ? plane + ih * g.width : nullptr);
        // Rows are written in order of oh, so a whole-vector store's tail lands where the next
        // output rows will be written, as long as it stays inside the image's out_h*out_w columns.
        const bool exact = oh * g.out_w + picker.spilling_width() > g.out_h * g.out_w;
        for (int64_t j = 0; j < g.kernel_w; ++j) {
          float* dst = rows + j * row_stride + oh * g.out_w;
          if (exact) picker.store_exact(j, dst);
          else picker.store_spilling(j, dst);
        }
      }
    }
  }
}

// x [C, H, W] = col2im(col): each pixel the sum of the col entries that im2col would have read
// from it (the adjoint of im2col). Only dilated convolutions' input gradients, and a forced
// im2col path, take it.
inline void col2im(const float* col, const PatchGeometry& g, float* x, int64_t row_stride) {
  std::memset(x, 0, sizeof(float) * static_cast<size_t>(g.channels * g.height * g.width));
  for (int64_t c = 0; c < g.channels; ++c) {
    float* plane = x + c * g.height * g.width;
    for (int64_t i = 0; i < g.kernel_h; ++i)
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const float* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * row_stride;
        const int64_t offset_w = j * g.dilation_w - g.pad_w;
        // output columns [lo, hi) read input columns inside the row
        const int64_t lo = std::min(g.out_w, offset_w >= 0 ? 0 : (-offset_w + g.stride_w - 1) / g.stride_w);
        const int64_t hi = std::max(lo, std::min(g.out_w, g.width - offset_w <= 0
                                                              ? 0
                                                              : (g.width - offset_w + g.stride_w - 1) / g.stride_w));
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          const float* r = row + oh * g.out_w;
          float* dst = plane + ih * g.width + offset_w;
          if (g.stride_w == 1)
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += r[ow];
          else
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.stride_w] += r[ow];
        }
      }
  }
}

// dst [cols, rows] (row stride dst_stride) = src [rows, cols] (row stride src_stride) transposed:
// whole kLanes x kLanes blocks through the tier's register transpose, the edges element by element.
inline void transpose(const float* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst,
                      int64_t dst_stride) {
  const int64_t whole_rows = rows / kLanes * kLanes, whole_cols = cols / kLanes * kLanes;
  for (int64_t r = 0; r < whole_rows; r += kLanes)
    for (int64_t c = 0; c < whole_cols; c += kLanes)
      transpose_block(src + r * src_stride + c, src_stride, dst + c * dst_stride + r, dst_stride);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = r < whole_rows ? whole_cols : 0; c < cols; ++c) dst[c * dst_stride + r] = src[r * src_stride + c];
}
