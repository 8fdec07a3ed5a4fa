// The implicit GEMMs for one tier (included by kernels/tiers.hpp inside the tier's namespace;
// kernels/conv_implicit.hpp and kernels/conv_phases.hpp explain them and split the tiles over the
// threads): packing a tile's patch rows, the forward (implicit_conv_tiles), the stride-2 input
// gradient whose phases share dy's shifts (phases_implicit_tiles), and the stores of dx rows.

// Packs tiles of the patch matrix of a batch of images x [N, C, H, W] (geometry g, out_w <= 16):
// the columns [q0, q0 + width) of the batch's output positions (image by image, row by row) and
// the patch rows of a range of channels, into B [rows, kTile] (rows kTileStride apart). It holds
// the current tile's output rows. Each output row is written with whole-vector stores from
// position `base` (which is negative for a row that began in the previous tile): what they write
// before the tile and past its end falls in the slack between the packed rows (kTileStride -
// kTile floats, and kTileFront before the first), and what they write past the row's own end is
// overwritten by the next row.
class TilePacker {
 public:
  TilePacker(const float* x, const PatchGeometry& g, int64_t batch)
      : x_(x), g_(g), picker_(g), in_plane_(g.height * g.width), in_image_(g.channels * g.height * g.width),
        out_plane_(g.out_h * g.out_w), positions_(batch * g.out_h * g.out_w) {}

  // Makes [q0, q0 + width) the current tile: the output rows it overlaps, and the share of x to
  // prefetch while packing it (see pack).
  void start_tile(int64_t q0, int64_t width) {
    const int64_t OW = g_.out_w;
    row_count_ = 0;
    for (int64_t r = q0 / OW; r * OW < q0 + width; ++r) {
      const int64_t n = r / g_.out_h, oh = r % g_.out_h;
      rows_[row_count_++] = Row{x_ + n * in_image_, oh * g_.stride_h - g_.pad_h, r * OW - q0};
    }
    // The tiles walk the images in order, and reading x's lines only when a tile needs them, a
    // few per channel plane, leaves the hardware prefetchers nothing to follow: so each tile
    // prefetches (into L2) the share of x that the tiles one image ahead will read.
    ahead_ = x_ + (q0 + out_plane_) * in_image_ / out_plane_;
    ahead_end_ = x_ + std::min(positions_, q0 + width + out_plane_) * in_image_ / out_plane_;
    const int64_t input_rows = g_.channels * g_.kernel_h;
    ahead_per_row_ = ((ahead_end_ - ahead_) / 16 + input_rows - 1) / input_rows + 1;
  }

  // B rows (c, i, j) for channels [c0, c1), row (c - c0)*kh*kw + i*kw + j at out + that * kTileStride
  // (`out` needs kTileFront writable floats in front). The patch rows (c, i, 0..kw-1) all read
  // input row oh * stride_h - pad_h + i * dilation_h: it is picked once per output row the tile
  // overlaps, then stored once per kernel column.
  void pack(int64_t c0, int64_t c1, float* out) {
    const int64_t H = g_.height, W = g_.width, kw = g_.kernel_w;
    for (int64_t channel = c0; channel < c1; ++channel)
      for (int64_t i = 0; i < g_.kernel_h; ++i) {
        for (int64_t e = 0; e < ahead_per_row_ && ahead_ < ahead_end_; ++e, ahead_ += 16) prefetch_l2(ahead_);
        const int64_t plane_offset = channel * in_plane_, row_offset = i * g_.dilation_h;
        float* rows_out = out + ((channel - c0) * g_.kernel_h + i) * kw * kTileStride;
        for (int64_t s = 0; s < row_count_; ++s) {
          const Row& row = rows_[s];
          const int64_t ih = row.first_ih + row_offset;
          picker_.pick(ih >= 0 && ih < H ? row.image + plane_offset + ih * W : nullptr);
          float* to = rows_out + row.base;
          for (int64_t j = 0; j < kw; ++j) picker_.store_spilling(j, to + j * kTileStride);
        }
      }
  }

 private:
  // An output row the tile overlaps: it covers tile columns [base, base + out_w).
  struct Row {
    const float* image;  // x of the row's image
    int64_t first_ih;    // input row under kernel row 0: oh * stride_h - pad_h
    int64_t base;
  };
  const float* x_;
  PatchGeometry g_;
  RowPicker picker_;
  int64_t in_plane_, in_image_, out_plane_, positions_;
  Row rows_[kTile + 1];  // a tile overlaps at most kTile rows (out_w = 1), +1 for safety at the edges
  int64_t row_count_ = 0;
  const float* ahead_ = nullptr;
  const float* ahead_end_ = nullptr;
  int64_t ahead_per_row_ = 0;
};

inline void pack_weight_blocks(const float* w, int64_t M, int64_t K, float* out) {
  gemm_pack_a(w, M, K, K, 1, 0, (M + kRows - 1) / kRows, out);
}

// Tiles [tile_begin, tile_end) of y = W patches(x) (+ bias): per tile and slice of whole input
// channels, the slice's patch rows are packed into L1 and multiplied by the weights' blocks; then
// C [M, kTile] is copied out into y, image by image, with the bias.
inline void implicit_conv_tiles(const ImplicitJob& job, int64_t tile_begin, int64_t tile_end) {
  const PatchGeometry& g = job.g;
  const int64_t K = g.col_rows(), L = g.out_h * g.out_w, positions = job.batch * L, M = job.M;
  const int64_t blocks = (M + kRows - 1) / kRows;
  const ChannelSlices slices(g.channels, g.kernel_h * g.kernel_w, kImplicitMaxDepth);
  TilePacker packer(job.x, g, job.batch);
  float* packed_b =
      thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(kTileFront + slices.max_depth() * kTileStride)) +
      kTileFront;
  float* c = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(blocks * kRows * kTile));
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    const int64_t q0 = t * kTile, width = std::min(kTile, positions - q0);
    packer.start_tile(q0, width);
    for (int64_t c0 = 0; c0 < g.channels; c0 += slices.per_slice) {
      const int64_t c1 = std::min(g.channels, c0 + slices.per_slice);
      packer.pack(c0, c1, packed_b);
      const int64_t k0 = c0 * slices.rows_per_channel, depth = (c1 - c0) * slices.rows_per_channel;
      gemm_packed_tile(job.packed_w, K, k0, depth, blocks, packed_b, kTileStride, nullptr, width, c, kTile, k0 > 0);
    }
    for (int64_t q = q0; q < q0 + width;) {
      const int64_t n = q / L, l = q % L, run = std::min(q0 + width, (n + 1) * L) - q;
      for (int64_t o = 0; o < M; ++o) {
        const float* from = c + o * kTile + (q - q0);
        float* to = job.y + (n * M + o) * L + l;
        const float bias = job.bias ? job.bias[o] : 0.0f;
        for (int64_t e = 0; e < run; ++e) to[e] = from[e] + bias;
      }
      q += run;
    }
  }
}

// dst[0, 2 count) = even[0] odd[0] even[1] odd[1] ... + bias, from count values of each (count <= kLanes).
inline void zip_store(float* dst, const float* even, const float* odd, int64_t count, Vec bias) {
  const Mask values = first_lanes(count);
  Vec lo, hi;
  zip(load(even, values), load(odd, values), lo, hi);
  store(dst, lo + bias, first_lanes(2 * count));
  if (2 * count > kLanes) store(dst + kLanes, hi + bias, first_lanes(2 * count - kLanes));
}

// Tiles [tile_begin, tile_end) of the phases' common grid (kernels/conv_phases.hpp's
// backward_input_implicit): per tile and slice of dy's channels, the tile's shifted rows of dy are
// packed once, every phase's blocks read their rows from there through a row table, and the tile's
// dx rows are then written two phases at a time, zipped.
inline void phases_implicit_tiles(const PhasesJob& job, int64_t tile_begin, int64_t tile_end) {
  const ConvParams& p = job.p;
  const std::vector<phases_detail::Phase>& phases = *job.phases;
  const phases_detail::SharedShifts& shifts = *job.shifts;
  const int64_t cin = p.in_channels, blocks = (cin + kRows - 1) / kRows;
  const PatchGeometry& g = shifts.patches;  // over dy: the shifts as a (ky x kx)-tap kernel
  const int64_t shifts_per_channel = g.kernel_h * g.kernel_w, grid_w = g.out_w, grid_h = g.out_h;
  const size_t phase_count = phases.size();
  const ChannelSlices slices(g.channels, shifts_per_channel, kPhasesMaxDepth);
  const int64_t positions = p.batch * grid_h * grid_w;
  TilePacker packer(job.dy, g, p.batch);
  float* packed_b =
      thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(kTileFront + slices.max_depth() * kTileStride)) +
      kTileFront;
  float* products = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(phase_count * blocks * kRows * kTile));
  // Row tables: row (co, i, j) of phase f, for co in a slice, is shift (oy + i, ox + j) of the
  // slice's channel co - c0 in packed_b (the same for every slice); table_of[f] is phase f's.
  std::vector<const float**> table_of(phase_count);
  const float** tables = thread_scratch_of<const float*>(
      ScratchSlot::kRowTable, static_cast<size_t>(slices.per_slice * shifts_per_channel * phase_count));
  const float** next = tables;
  for (size_t f = 0; f < phase_count; ++f) {
    const phases_detail::Phase& phase = phases[f];
    const int64_t oy = phase.y.first + 1 - phase.y.taps - shifts.lo_y, ox = phase.x.first + 1 - phase.x.taps - shifts.lo_x;
    table_of[f] = next;
    for (int64_t co = 0; co < slices.per_slice; ++co)
      for (int64_t i = 0; i < phase.y.taps; ++i)
        for (int64_t j = 0; j < phase.x.taps; ++j)
          *next++ = packed_b + (co * shifts_per_channel + (oy + i) * g.kernel_w + ox + j) * kTileStride;
  }
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    const int64_t q0 = t * kTile, width = std::min(kTile, positions - q0);
    packer.start_tile(q0, width);
    for (int64_t c0 = 0; c0 < g.channels; c0 += slices.per_slice) {
      const int64_t c1 = std::min(g.channels, c0 + slices.per_slice);
      packer.pack(c0, c1, packed_b);
      for (size_t f = 0; f < phase_count; ++f) {
        const int64_t taps = phases[f].y.taps * phases[f].x.taps;
        gemm_packed_tile(job.packed_w + (*job.packed_at)[f], phases[f].rows(), c0 * taps, (c1 - c0) * taps, blocks,
                         nullptr, 0, table_of[f], width, products + f * blocks * kRows * kTile, kTile, c0 > 0);
      }
    }
    // dx: grid row r (image n, phase row a) holds tile columns [b0, b1); per row phase, its two
    // column phases' values zip into dx pixels [2*b0, 2*b1) of row iy.
    for (int64_t r = q0 / grid_w; r * grid_w < q0 + width; ++r) {
      const int64_t n = r / grid_h, a = r % grid_h;
      const int64_t b0 = std::max<int64_t>(0, q0 - r * grid_w), b1 = std::min(grid_w, q0 + width - r * grid_w);
      const int64_t column = r * grid_w + b0 - q0;
      for (const auto& pair : *job.pairs) {
        const phases_detail::Phase& even = phases[static_cast<size_t>(pair.first)];
        const int64_t iy = p.stride_h * (even.y.first + a) + even.ry - p.pad_h;
        const float* even_values = products + pair.first * blocks * kRows * kTile + column;
        const float* odd_values = products + pair.second * blocks * kRows * kTile + column;
        for (int64_t ci = 0; ci < cin; ++ci) {
          float* row = job.dx + ((n * cin + ci) * p.in_h + iy) * p.in_w;
          const Vec bias = set1(job.bias ? job.bias[ci] : 0.0f);
          for (int64_t k = b0; k < b1; k += kLanes)
            zip_store(row + 2 * k, even_values + ci * kTile + (k - b0), odd_values + ci * kTile + (k - b0),
                      std::min<int64_t>(kLanes, b1 - k), bias);
        }
      }
    }
  }
}

// dst[k * stride] = src[k] + bias (bias alone when src is null) for k in [0, n): a row of one
// phase's values into every stride-th pixel of dx (the pixels between are other phases').
inline void store_strided(float* dst, const float* src, int64_t stride, int64_t n, float bias) {
  if (stride == 1 && src) {
    const Vec b = set1(bias);
    int64_t k = 0;
    for (; k + kLanes <= n; k += kLanes) store(dst + k, load(src + k) + b);
    if (k < n) store(dst + k, load(src + k, first_lanes(n - k)) + b, first_lanes(n - k));
    return;
  }
  for (int64_t k = 0; k < n; ++k) dst[k * stride] = (src ? src[k] : 0.0f) + bias;
}

// dst row r (at dst + r * dst_step) = its two column phases at stride 2 zipped, + bias:
// dst[2k] = even[k], dst[2k + 1] = odd[k], from rows r of even (n_even values) and odd (n_odd =
// n_even or n_even - 1).
inline void interleave_rows(float* dst, int64_t dst_step, const float* even, const float* odd, int64_t n_even,
                            int64_t n_odd, int64_t rows, float bias) {
  const Vec b = set1(bias);
  for (int64_t r = 0; r < rows; ++r) {
    float* out = dst + r * dst_step;
    const float* e = even + r * n_even;
    const float* o = odd + r * n_odd;
    int64_t k = 0;
    for (; k + kLanes <= n_odd; k += kLanes) zip_store(out + 2 * k, e + k, o + k, kLanes, b);
    if (k < n_odd) zip_store(out + 2 * k, e + k, o + k, n_odd - k, b);
    if (n_even > n_odd) out[2 * n_odd] = e[n_odd] + bias;
  }
}
