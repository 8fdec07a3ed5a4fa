// Winograd F(2x2, 3x3)'s data transforms for one tier (included by kernels/tiers.hpp inside the
// tier's namespace; kernels/winograd.hpp gives the matrices and runs the GEMMs between them). They
// are written as plain loops over the tiles of a row, which the compiler vectorises with the
// tier's instructions.

// V[k][c][j T + t] = (B^T d B)[k] for the tiles t of images j < m of the chunk x [m, C, H, W].
// `padded` is a [Hp, Wp] plane (Hp = 2 th + 2, Wp = 2 tw + 2) whose border the caller zeroed:
// each channel's pixels are copied into its interior, so every tile reads 16 in-bounds values.
inline void winograd_input(const float* x, const WinogradShape& s, int64_t m, float* padded, float* V) {
  const int64_t C = s.in_channels, H = s.height, W = s.width, th = s.tiles_h(), tw = s.tiles_w();
  const int64_t T = th * tw, P = m * T, Wp = 2 * tw + 2, kstride = winograd_matrix_stride(C * P);
  for (int64_t j = 0; j < m; ++j)
    for (int64_t c = 0; c < C; ++c) {
      const float* plane = x + (j * C + c) * H * W;
      for (int64_t h = 0; h < H; ++h)
        std::memcpy(padded + (h + 1) * Wp + 1, plane + h * W, sizeof(float) * static_cast<size_t>(W));
      for (int64_t ty = 0; ty < th; ++ty) {
        const float* __restrict r0 = padded + (2 * ty) * Wp;
        const float* __restrict r1 = r0 + Wp;
        const float* __restrict r2 = r1 + Wp;
        const float* __restrict r3 = r2 + Wp;
        float* __restrict v = V + c * P + j * T + ty * tw;
#pragma omp simd
        for (int64_t tx = 0; tx < tw; ++tx) {
          const int64_t q = 2 * tx;
          // Rows: t[r][.] = d[r][.] B (columns d0 - d2, d1 + d2, d2 - d1, d1 - d3).
          const float a0 = r0[q] - r0[q + 2], a1 = r0[q + 1] + r0[q + 2], a2 = r0[q + 2] - r0[q + 1],
                      a3 = r0[q + 1] - r0[q + 3];
          const float b0 = r1[q] - r1[q + 2], b1 = r1[q + 1] + r1[q + 2], b2 = r1[q + 2] - r1[q + 1],
                      b3 = r1[q + 1] - r1[q + 3];
          const float c0 = r2[q] - r2[q + 2], c1 = r2[q + 1] + r2[q + 2], c2 = r2[q + 2] - r2[q + 1],
                      c3 = r2[q + 1] - r2[q + 3];
          const float d0 = r3[q] - r3[q + 2], d1 = r3[q + 1] + r3[q + 2], d2 = r3[q + 2] - r3[q + 1],
                      d3 = r3[q + 1] - r3[q + 3];
          // Columns: B^T t (rows t0 - t2, t1 + t2, t2 - t1, t1 - t3).
          v[0 * kstride + tx] = a0 - c0;
          v[1 * kstride + tx] = a1 - c1;
          v[2 * kstride + tx] = a2 - c2;
          v[3 * kstride + tx] = a3 - c3;
          v[4 * kstride + tx] = b0 + c0;
          v[5 * kstride + tx] = b1 + c1;
          v[6 * kstride + tx] = b2 + c2;
          v[7 * kstride + tx] = b3 + c3;
          v[8 * kstride + tx] = c0 - b0;
          v[9 * kstride + tx] = c1 - b1;
          v[10 * kstride + tx] = c2 - b2;
          v[11 * kstride + tx] = c3 - b3;
          v[12 * kstride + tx] = b0 - d0;
          v[13 * kstride + tx] = b1 - d1;
          v[14 * kstride + tx] = b2 - d2;
          v[15 * kstride + tx] = b3 - d3;
        }
      }
    }
}

// y[j, o] = A^T M A (+ b[o]) for the chunk's images j < m. A tile row goes straight into y
// when it is whole (even W, and not the last row of an odd H); else into `rows` [2, 2 tw]
// and the valid part is copied.
inline void winograd_output(const float* M, const float* b, const WinogradShape& s, int64_t m, float* rows,
                             float* y) {
  const int64_t K = s.out_channels, H = s.height, W = s.width, th = s.tiles_h(), tw = s.tiles_w();
  const int64_t T = th * tw, P = m * T, kstride = winograd_matrix_stride(K * P);
  for (int64_t j = 0; j < m; ++j)
    for (int64_t o = 0; o < K; ++o) {
      const float bias = b ? b[o] : 0.0f;
      float* plane = y + (j * K + o) * H * W;
      for (int64_t ty = 0; ty < th; ++ty) {
        const bool direct = 2 * tw == W && 2 * ty + 1 < H;
        float* __restrict top = direct ? plane + 2 * ty * W : rows;
        float* __restrict bottom = direct ? top + W : rows + 2 * tw;
        const float* __restrict mm = M + o * P + j * T + ty * tw;
#pragma omp simd
        for (int64_t tx = 0; tx < tw; ++tx) {
          float s0[4], s1[4];  // A^T M: rows m0 + m1 + m2 and m1 - m2 - m3
          for (int e = 0; e < 4; ++e) {
            const float m0 = mm[e * kstride + tx], m1 = mm[(4 + e) * kstride + tx];
            const float m2 = mm[(8 + e) * kstride + tx], m3 = mm[(12 + e) * kstride + tx];
            s0[e] = m0 + m1 + m2;
            s1[e] = m1 - m2 - m3;
          }
          // (A^T M) A: columns s0 + s1 + s2 and s1 - s2 - s3.
          top[2 * tx] = s0[0] + s0[1] + s0[2] + bias;
          top[2 * tx + 1] = s0[1] - s0[2] - s0[3] + bias;
          bottom[2 * tx] = s1[0] + s1[1] + s1[2] + bias;
          bottom[2 * tx + 1] = s1[1] - s1[2] - s1[3] + bias;
        }
        if (direct) continue;
        std::memcpy(plane + 2 * ty * W, top, sizeof(float) * static_cast<size_t>(W));
        if (2 * ty + 1 < H) std::memcpy(plane + (2 * ty + 1) * W, bottom, sizeof(float) * static_cast<size_t>(W));
      }
    }
}

// dM[k][o][j T + t] = (A dY A^T)[k] for the 2x2 output-gradient tiles dY of the chunk dy [m, K, H, W].
// Planes with an odd H or W are first copied into `padded` [2 th, 2 tw], whose last row and
// column the caller zeroed, so the missing outputs read as zero gradient.
inline void winograd_output_grad(const float* dy, const WinogradShape& s, int64_t m, float* padded, float* dM) {
  const int64_t K = s.out_channels, H = s.height, W = s.width, th = s.tiles_h(), tw = s.tiles_w();
  const int64_t T = th * tw, P = m * T, Wp = 2 * tw, kstride = winograd_matrix_stride(K * P);
  const bool direct = 2 * th == H && 2 * tw == W;
  for (int64_t j = 0; j < m; ++j)
    for (int64_t o = 0; o < K; ++o) {
      const float* plane = dy + (j * K + o) * H * W;
      if (!direct)
        for (int64_t h = 0; h < H; ++h)
          std::memcpy(padded + h * Wp, plane + h * W, sizeof(float) * static_cast<size_t>(W));
      const float* src = direct ? plane : padded;
      for (int64_t ty = 0; ty < th; ++ty) {
        const float* __restrict top = src + 2 * ty * Wp;
        const float* __restrict bottom = top + Wp;
        float* __restrict d = dM + o * P + j * T + ty * tw;
#pragma omp simd
        for (int64_t tx = 0; tx < tw; ++tx) {
          // A g for the tile's rows g0 = (p0, q0), g1 = (p1, q1): g0, g0 + g1, g0 - g1, -g1;
          // then each row (p, q) times A^T: p, p + q, p - q, -q.
          const float p0 = top[2 * tx], q0 = top[2 * tx + 1], p1 = bottom[2 * tx], q1 = bottom[2 * tx + 1];
          const float r[4][2] = {{p0, q0}, {p0 + p1, q0 + q1}, {p0 - p1, q0 - q1}, {-p1, -q1}};
          for (int i = 0; i < 4; ++i) {
            d[(4 * i + 0) * kstride + tx] = r[i][0];
            d[(4 * i + 1) * kstride + tx] = r[i][0] + r[i][1];
            d[(4 * i + 2) * kstride + tx] = r[i][0] - r[i][1];
            d[(4 * i + 3) * kstride + tx] = -r[i][1];
          }
        }
      }
    }
}
