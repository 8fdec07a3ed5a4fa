#pragma once
// 2-D pooling and nearest upsampling on raw float pointers (no autograd).
//
// Inputs are `planes` = N * C independent [H, W] planes; outputs [OH, OW] planes.
// Output (oh, ow) pools the window of rows oh * sh - ph + [0, kh) and columns
// ow * sw - pw + [0, kw); positions outside [0, H) x [0, W) are padding.
// Each plane is independent, so the loops run in parallel over planes.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace tinydiff::kernels {

struct Pool2dGeometry {
  int64_t planes, H, W, OH, OW, kh, kw, sh, sw, ph, pw;
};

namespace detail {
constexpr int64_t kPoolParallelGrain = 1 << 14;
}

// Average pool with count_include_pad: y = (sum of the window's in-bounds values) / (kh kw).
inline void avg_pool2d_forward(const float* x, float* y, const Pool2dGeometry& p) {
  const float inv = 1.0f / static_cast<float>(p.kh * p.kw);
#pragma omp parallel for schedule(static) if (p.planes * p.H * p.W > detail::kPoolParallelGrain)
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* xp = x + plane * p.H * p.W;
    float* yp = y + plane * p.OH * p.OW;
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        float acc = 0.0f;
        for (int64_t i = 0; i < p.kh; ++i) {
          const int64_t h = oh * p.sh - p.ph + i;
          if (h < 0 || h >= p.H) continue;
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t w = ow * p.sw - p.pw + j;
            if (w >= 0 && w < p.W) acc += xp[h * p.W + w];
          }
        }
        yp[oh * p.OW + ow] = acc * inv;
      }
  }
}

// dx[h, w] = sum over the windows containing (h, w) of g / (kh kw).
inline void avg_pool2d_backward(const float* g, float* dx, const Pool2dGeometry& p) {
  const float inv = 1.0f / static_cast<float>(p.kh * p.kw);
#pragma omp parallel for schedule(static) if (p.planes * p.H * p.W > detail::kPoolParallelGrain)
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* gp = g + plane * p.OH * p.OW;
    float* dxp = dx + plane * p.H * p.W;
    std::memset(dxp, 0, sizeof(float) * static_cast<size_t>(p.H * p.W));
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const float share = gp[oh * p.OW + ow] * inv;
        for (int64_t i = 0; i < p.kh; ++i) {
          const int64_t h = oh * p.sh - p.ph + i;
          if (h < 0 || h >= p.H) continue;
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t w = ow * p.sw - p.pw + j;
            if (w >= 0 && w < p.W) dxp[h * p.W + w] += share;
          }
        }
      }
  }
}

// Max pool, padding as -inf: y = max of the window; argmax[o] = h * W + w of the
// first maximum in row-major window order (a NaN wins, the last one), as PyTorch.
inline void max_pool2d_forward(const float* x, float* y, int64_t* argmax, const Pool2dGeometry& p) {
#pragma omp parallel for schedule(static) if (p.planes * p.H * p.W > detail::kPoolParallelGrain)
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* xp = x + plane * p.H * p.W;
    float* yp = y + plane * p.OH * p.OW;
    int64_t* ap = argmax + plane * p.OH * p.OW;
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_at = -1;
        for (int64_t i = 0; i < p.kh; ++i) {
          const int64_t h = oh * p.sh - p.ph + i;
          if (h < 0 || h >= p.H) continue;
          for (int64_t j = 0; j < p.kw; ++j) {
            const int64_t w = ow * p.sw - p.pw + j;
            if (w < 0 || w >= p.W) continue;
            const float v = xp[h * p.W + w];
            if (best_at < 0 || v > best || std::isnan(v)) {
              best = v;
              best_at = h * p.W + w;
            }
          }
        }
        yp[oh * p.OW + ow] = best;
        ap[oh * p.OW + ow] = best_at;
      }
  }
}

// dx[argmax[o]] += g[o].
inline void max_pool2d_backward(const float* g, const int64_t* argmax, float* dx, const Pool2dGeometry& p) {
#pragma omp parallel for schedule(static) if (p.planes * p.H * p.W > detail::kPoolParallelGrain)
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* gp = g + plane * p.OH * p.OW;
    const int64_t* ap = argmax + plane * p.OH * p.OW;
    float* dxp = dx + plane * p.H * p.W;
    std::memset(dxp, 0, sizeof(float) * static_cast<size_t>(p.H * p.W));
    for (int64_t o = 0; o < p.OH * p.OW; ++o) dxp[ap[o]] += gp[o];
  }
}

// Nearest upsampling by integer factors: y[oh, ow] = x[oh / sh, ow / sw]  (OH = H sh, OW = W sw).
// Each input row is widened once, then copied to the other sh - 1 output rows.
inline void upsample_nearest2d_forward(const float* x, float* y, int64_t planes, int64_t H, int64_t W, int64_t sh,
                                       int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw;
#pragma omp parallel for schedule(static) if (planes * OH * OW > detail::kPoolParallelGrain)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * H * W;
    float* yp = y + plane * OH * OW;
    for (int64_t h = 0; h < H; ++h) {
      const float* xrow = xp + h * W;
      float* yrow = yp + h * sh * OW;
      for (int64_t w = 0; w < W; ++w)
        for (int64_t j = 0; j < sw; ++j) yrow[w * sw + j] = xrow[w];
      for (int64_t i = 1; i < sh; ++i) std::memcpy(yrow + i * OW, yrow, sizeof(float) * static_cast<size_t>(OW));
    }
  }
}

// dx[h, w] = sum of g over its sh x sw block.
inline void upsample_nearest2d_backward(const float* g, float* dx, int64_t planes, int64_t H, int64_t W, int64_t sh,
                                        int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw;
#pragma omp parallel for schedule(static) if (planes * OH * OW > detail::kPoolParallelGrain)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* gp = g + plane * OH * OW;
    float* dxp = dx + plane * H * W;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) {
        const float* block = gp + h * sh * OW + w * sw;
        float acc = 0.0f;
        for (int64_t i = 0; i < sh; ++i)
          for (int64_t j = 0; j < sw; ++j) acc += block[i * OW + j];
        dxp[h * W + w] = acc;
      }
  }
}

}  // namespace tinydiff::kernels
