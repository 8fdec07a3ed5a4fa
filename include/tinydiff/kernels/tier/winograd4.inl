// Winograd F(4x4, 3x3)'s data transforms for one tier, on channels-last data (included by
// kernels/tiers.hpp inside the tier's namespace; kernels/winograd.hpp transposes to and from
// channels-last, gives the matrices and runs the GEMMs between the transforms).
//
// Channels last, a vector holds the same pixel of kLanes channels, so every transform is plain
// vector arithmetic at full width whatever the plane's size: tile after tile, 36 vectors in, 36
// (or 16) out. (Vectorised over the tiles of an NCHW plane instead, a 14x14 plane has 4 tiles to
// a row, which fills half an AVX2 vector and a quarter of an AVX-512 one.) Channels past the last
// whole vector go through the same code on single floats.
//
//   B^T = [4  0 -5  0  1  0]    A^T = [1  1  1  1  1  0]
//         [0 -4 -4  1  1  0]          [0  1 -1  2 -2  0]
//         [0  4 -4 -1  1  0]          [0  1  1  4  4  0]
//         [0 -2 -1  2  1  0]          [0  1 -1  8 -8  1]
//         [0  2 -1 -2  1  0]
//         [0  4  0 -5  0  1]

// The arithmetic on a whole vector of channels (Lanes) or on one channel (OneLane).
struct Lanes {
  using T = Vec;
  static constexpr int64_t kWidth = kLanes;
  static T ld(const float* p) { return load(p); }
  static void st(float* p, T v) { store(p, v); }
  static T k(float c) { return set1(c); }
  static T fma(T a, T b, T c) { return fmadd(a, b, c); }
};
struct OneLane {
  using T = float;
  static constexpr int64_t kWidth = 1;
  static T ld(const float* p) { return *p; }
  static void st(float* p, T v) { *p = v; }
  static T k(float c) { return c; }
  static T fma(T a, T b, T c) { return a * b + c; }
};

// o = B^T x for six values x (a row or a column of a 6x6 tile), with the shared terms of
// rows 1-2 (x4 - 4 x2 and x3 - 4 x1) and 3-4 (x4 - x2 and x3 - x1).
template <class L>
inline void winograd4_bt(const typename L::T* x, typename L::T* o) {
  using T = typename L::T;
  const T p = L::fma(L::k(-4.0f), x[2], x[4]), q = L::fma(L::k(-4.0f), x[1], x[3]);
  const T r = x[4] - x[2], d = x[3] - x[1];
  o[0] = L::fma(L::k(4.0f), x[0], L::fma(L::k(-5.0f), x[2], x[4]));
  o[1] = p + q;
  o[2] = p - q;
  o[3] = L::fma(L::k(2.0f), d, r);
  o[4] = L::fma(L::k(-2.0f), d, r);
  o[5] = L::fma(L::k(4.0f), x[1], L::fma(L::k(-5.0f), x[3], x[5]));
}

// o = A^T x for six values x: four.
template <class L>
inline void winograd4_at(const typename L::T* x, typename L::T* o) {
  using T = typename L::T;
  const T s12 = x[1] + x[2], d12 = x[1] - x[2], s34 = x[3] + x[4], d34 = x[3] - x[4];
  o[0] = x[0] + s12 + s34;
  o[1] = L::fma(L::k(2.0f), d34, d12);
  o[2] = L::fma(L::k(4.0f), s34, s12);
  o[3] = L::fma(L::k(8.0f), d34, d12) + x[5];
}

// o = A y for four values y: six (A^T's transpose; the weight gradient's transform of dY).
template <class L>
inline void winograd4_a(const typename L::T* y, typename L::T* o) {
  using T = typename L::T;
  const T s02 = y[0] + y[2], s13 = y[1] + y[3];
  const T s02_4 = L::fma(L::k(4.0f), y[2], y[0]), s13_4 = L::fma(L::k(4.0f), y[3], y[1]);
  o[0] = y[0];
  o[1] = s02 + s13;
  o[2] = s02 - s13;
  o[3] = L::fma(L::k(2.0f), s13_4, s02_4);  // y0 + 2 y1 + 4 y2 + 8 y3
  o[4] = L::fma(L::k(-2.0f), s13_4, s02_4);
  o[5] = y[3];
}

// V[6 a + b][tile][c] = (B^T d B)[a][b] for the 6x6 tile d at `d` (rows `rs` floats apart, pixels
// `cs`), for the lanes' channels.
template <class L>
inline void winograd4_input_tile(const float* d, int64_t rs, int64_t cs, float* v, int64_t vs) {
  using T = typename L::T;
  T t[6][6];  // t = B^T d, a column at a time
  for (int x = 0; x < 6; ++x) {
    T col[6], out[6];
    for (int i = 0; i < 6; ++i) col[i] = L::ld(d + i * rs + x * cs);
    winograd4_bt<L>(col, out);
    for (int a = 0; a < 6; ++a) t[a][x] = out[a];
  }
  for (int a = 0; a < 6; ++a) {  // (B^T d) B: B^T along each row of t
    T out[6];
    winograd4_bt<L>(t[a], out);
    for (int b = 0; b < 6; ++b) L::st(v + (6 * a + b) * vs, out[b]);
  }
}

// The input transform of a chunk of m images: xt [m][Hp][Wp][C] channels-last with a zero border
// (Hp = 4 th + 2, Wp = 4 tw + 2; the image's pixel (h, w) at (h + 1, w + 1)) into
// V [36][m T][C], matrix k at V + k vs, vs = winograd_matrix_stride(m T C).
inline void winograd4_input(const float* xt, const WinogradShape& s, int64_t m, float* V) {
  const int64_t C = s.in_channels, th = s.tiles_h(), tw = s.tiles_w(), T = th * tw;
  const int64_t Wp = 4 * tw + 2, Hp = 4 * th + 2, rs = Wp * C, vs = winograd_matrix_stride(m * T * C);
  const int64_t whole = C / kLanes * kLanes;
  for (int64_t j = 0; j < m; ++j)
    for (int64_t ty = 0; ty < th; ++ty)
      for (int64_t tx = 0; tx < tw; ++tx) {
        const float* d = xt + ((j * Hp + 4 * ty) * Wp + 4 * tx) * C;
        float* v = V + ((j * th + ty) * tw + tx) * C;
        for (int64_t c = 0; c < whole; c += kLanes) winograd4_input_tile<Lanes>(d + c, rs, C, v + c, vs);
        for (int64_t c = whole; c < C; ++c) winograd4_input_tile<OneLane>(d + c, rs, C, v + c, vs);
      }
}

// yt[pixel][o] = (A^T M A)[i][j] (+ b[o]) for the tile's outputs inside the H x W image, from
// M [36][tile][K] (matrix stride ms).
template <class L>
inline void winograd4_output_tile(const float* M, int64_t ms, const float* b, float* y, int64_t row_stride,
                                  int64_t K, int64_t rows, int64_t cols) {
  using T = typename L::T;
  T r[6][4];  // M A, row by row
  for (int a = 0; a < 6; ++a) {
    T in[6];
    for (int e = 0; e < 6; ++e) in[e] = L::ld(M + (6 * a + e) * ms);
    winograd4_at<L>(in, r[a]);
  }
  const T bias = b ? L::ld(b) : L::k(0.0f);
  for (int j = 0; j < cols; ++j) {  // A^T (M A), column by column
    T in[6], out[4];
    for (int a = 0; a < 6; ++a) in[a] = r[a][j];
    winograd4_at<L>(in, out);
    for (int i = 0; i < rows; ++i) L::st(y + i * row_stride + j * K, out[i] + bias);
  }
}

// The output transform of a chunk: M [36][m T][K] (matrix stride winograd_matrix_stride(m T K))
// into yt [m][H][W][K] channels-last, plus b [K] when not null.
inline void winograd4_output(const float* M, const float* b, const WinogradShape& s, int64_t m, float* yt) {
  const int64_t K = s.out_channels, H = s.height, W = s.width, th = s.tiles_h(), tw = s.tiles_w(), T = th * tw;
  const int64_t ms = winograd_matrix_stride(m * T * K), whole = K / kLanes * kLanes;
  for (int64_t j = 0; j < m; ++j)
    for (int64_t ty = 0; ty < th; ++ty)
      for (int64_t tx = 0; tx < tw; ++tx) {
        const float* mt = M + ((j * th + ty) * tw + tx) * K;
        float* y = yt + ((j * H + 4 * ty) * W + 4 * tx) * K;
        const int64_t rows = std::min<int64_t>(4, H - 4 * ty), cols = std::min<int64_t>(4, W - 4 * tx);
        for (int64_t o = 0; o < whole; o += kLanes)
          winograd4_output_tile<Lanes>(mt + o, ms, b ? b + o : nullptr, y + o, W * K, K, rows, cols);
        for (int64_t o = whole; o < K; ++o)
          winograd4_output_tile<OneLane>(mt + o, ms, b ? b + o : nullptr, y + o, W * K, K, rows, cols);
      }
}

// dM[6 a + b][tile][o] = (A dY A^T)[a][b] for the 4x4 output-gradient tile dY at `g`.
template <class L>
inline void winograd4_output_grad_tile(const float* g, int64_t rs, int64_t cs, float* d, int64_t ds) {
  using T = typename L::T;
  T t[6][4];  // A dY, a column at a time
  for (int x = 0; x < 4; ++x) {
    T col[4], out[6];
    for (int i = 0; i < 4; ++i) col[i] = L::ld(g + i * rs + x * cs);
    winograd4_a<L>(col, out);
    for (int a = 0; a < 6; ++a) t[a][x] = out[a];
  }
  for (int a = 0; a < 6; ++a) {  // (A dY) A^T: A along each row
    T out[6];
    winograd4_a<L>(t[a], out);
    for (int b = 0; b < 6; ++b) L::st(d + (6 * a + b) * ds, out[b]);
  }
}

// The weight gradient's transform of a chunk's output gradient: dyt [m][4 th][4 tw][K]
// channels-last, zero past the image's H x W, into dM [36][m T][K].
inline void winograd4_output_grad(const float* dyt, const WinogradShape& s, int64_t m, float* dM) {
  const int64_t K = s.out_channels, th = s.tiles_h(), tw = s.tiles_w(), T = th * tw;
  const int64_t Wq = 4 * tw, rs = Wq * K, ds = winograd_matrix_stride(m * T * K), whole = K / kLanes * kLanes;
  for (int64_t j = 0; j < m; ++j)
    for (int64_t ty = 0; ty < th; ++ty)
      for (int64_t tx = 0; tx < tw; ++tx) {
        const float* g = dyt + ((j * 4 * th + 4 * ty) * Wq + 4 * tx) * K;
        float* d = dM + ((j * th + ty) * tw + tx) * K;
        for (int64_t o = 0; o < whole; o += kLanes) winograd4_output_grad_tile<Lanes>(g + o, rs, K, d + o, ds);
        for (int64_t o = whole; o < K; ++o) winograd4_output_grad_tile<OneLane>(g + o, rs, K, d + o, ds);
      }
}
