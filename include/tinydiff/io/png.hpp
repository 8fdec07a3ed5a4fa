#pragma once
/// @file
/// PNG output through stb_image_write, and image grids of a batch.
///
/// stb is compiled here with STB_IMAGE_WRITE_STATIC, so every translation unit
/// that includes this header gets its own private copy and the library stays
/// header-only. Files are written atomically (io/atomic_file.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#ifndef STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#endif
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>  // Debian's libstb-dev
#else
#include <stb_image_write.h>  // stb fetched by CMake
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/checked.hpp"
#include "tinydiff/core/tensor.hpp"
#include "tinydiff/io/atomic_file.hpp"

namespace tinydiff::io {

namespace detail {
/// Checks that a width x height x channels image of 8-bit pixels (sizes >= 0, channels <= 4) is
/// small enough for stb to encode: stb computes its buffer sizes, (width channels + 1) height
/// bytes, in int, so anything larger would overflow inside the encoder. (That is 2 GiB, far
/// beyond any grid of samples.)
inline void check_png_fits(int64_t width, int64_t height, int64_t channels, const char* op) {
  using tinydiff::detail::multiply_fits;
  constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
  int64_t row_bytes = 0, encoder_bytes = 0;
  const bool fits = multiply_fits(width, channels, row_bytes) && row_bytes < kMaxInt &&
                    multiply_fits(row_bytes + 1, height, encoder_bytes) && encoder_bytes <= kMaxInt;
  TD_CHECK(fits, op, "image of ", width, "x", height, "x", channels,
           " is too large for a PNG (at most 2^31 - 1 bytes of scanlines)");
}
}  // namespace detail

/// Writes 8-bit pixels (row-major, `channels` per pixel: 1 grey, 3 RGB, 4 RGBA) as a PNG.
inline void write_png(const std::string& path, const std::vector<uint8_t>& pixels, int width, int height,
                      int channels = 1) {
  TD_CHECK(width > 0 && height > 0 && channels >= 1 && channels <= 4, "write_png", "bad image size ", width, "x",
           height, "x", channels, " for '", path, "'");
  detail::check_png_fits(width, height, channels, "write_png");
  TD_CHECK(pixels.size() == size_t(width) * size_t(height) * size_t(channels), "write_png", "got ", pixels.size(),
           " bytes for a ", width, "x", height, "x", channels, " image");
  std::vector<uint8_t> encoded;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  const int ok = stbi_write_png_to_func(append, &encoded, width, height, channels, pixels.data(), width * channels);
  TD_CHECK(ok != 0, "write_png", "PNG encoding of '", path, "' failed");
  write_file_atomically(
      path, [&](std::ostream& out) { out.write(reinterpret_cast<const char*>(encoded.data()), std::streamsize(encoded.size())); },
      "write_png");
}

struct GridOptions {
  int64_t columns = 10;            ///< images per row
  int scale = 1;                   ///< each pixel becomes scale x scale pixels
  int padding = 2;                 ///< pixels of `background` between images (before scaling)
  float low = -1.0f, high = 1.0f;  ///< value range mapped to black..white (clamped)
  uint8_t background = 40;
};

/// Lays out a batch [N, C, H, W] (C = 1 grey or 3 RGB) as a grid and returns the
/// pixels with the grid's width and height.
struct Image {
  std::vector<uint8_t> pixels;
  int width = 0, height = 0, channels = 1;
};
inline Image make_grid(const Tensor& images, const GridOptions& opt = {}) {
  tinydiff::detail::check_defined("make_grid", "images", images);
  TD_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), "make_grid",
           "expected images [N, 1 or 3, H, W], got ", shape_str(images.shape()));
  TD_CHECK(opt.columns >= 1 && opt.scale >= 1 && opt.padding >= 0 && opt.high > opt.low, "make_grid",
           "bad grid options (columns ", opt.columns, ", scale ", opt.scale, ", padding ", opt.padding, ")");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t cols = std::min<int64_t>(opt.columns, std::max<int64_t>(n, 1));
  const int64_t rows = (n + cols - 1) / cols;
  const int64_t pad = opt.padding;
  // The grid's size in checked arithmetic: the image's sizes (which may come from a file) and
  // a huge padding or scale must give an error, not a wrapped size and writes past the pixels.
  using tinydiff::detail::checked_add;
  using tinydiff::detail::checked_mul;
  const char* op = "make_grid";
  const int64_t grid_w = checked_add(checked_mul(cols, checked_add(w, pad, op, "width + padding"), op, "grid width"),
                                     pad, op, "grid width");
  const int64_t grid_h = checked_add(checked_mul(rows, checked_add(h, pad, op, "height + padding"), op, "grid height"),
                                     pad, op, "grid height");
  const int64_t width = checked_mul(grid_w, opt.scale, op, "grid width * scale");
  const int64_t height = checked_mul(grid_h, opt.scale, op, "grid height * scale");
  detail::check_png_fits(width, height, c, op);  // so the grid fits in int and save_image_grid can write it
  Image img;
  img.channels = static_cast<int>(c);
  img.width = static_cast<int>(width);
  img.height = static_cast<int>(height);
  img.pixels.assign(size_t(img.width) * img.height * c, opt.background);
  const float* src = images.data();
  for (int64_t k = 0; k < n; ++k) {
    const int64_t x0 = pad + (k % cols) * (w + pad), y0 = pad + (k / cols) * (h + pad);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const float v = src[((k * c + ch) * h + y) * w + x];
          const float unit = std::clamp((v - opt.low) / (opt.high - opt.low), 0.0f, 1.0f);
          const auto byte = static_cast<uint8_t>(std::lround(unit * 255.0f));
          for (int sy = 0; sy < opt.scale; ++sy)
            for (int sx = 0; sx < opt.scale; ++sx) {
              const int64_t px = (x0 + x) * opt.scale + sx, py = (y0 + y) * opt.scale + sy;
              img.pixels[size_t((py * img.width + px) * c + ch)] = byte;
            }
        }
  }
  return img;
}

/// make_grid + write_png.
inline void save_image_grid(const std::string& path, const Tensor& images, const GridOptions& opt = {}) {
  tinydiff::detail::check_defined("save_image_grid", "images", images);
  const Image img = make_grid(images, opt);
  write_png(path, img.pixels, img.width, img.height, img.channels);
}

}  // namespace tinydiff::io
