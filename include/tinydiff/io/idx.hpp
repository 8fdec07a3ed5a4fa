#pragma once
/// @file
/// IDX files, the format of the MNIST and Fashion-MNIST distributions, plain or gzipped.
///
///     bytes 0-1  zero
///     byte  2    element type (0x08 = unsigned byte, the only one MNIST uses)
///     byte  3    number of dims D (1 for labels, 3 for images)
///     then D big-endian uint32 sizes, then the elements row-major.
/// A file that starts with the gzip magic bytes is inflated with zlib as it is read.
/// Every malformed input (bad magic, unsupported type, zero or absurd sizes,
/// truncated data, trailing bytes, a corrupt gzip stream, a gzip member without its
/// CRC32/length trailer or with a wrong one, bytes after the gzip data) throws
/// tinydiff::Error naming the file and the problem.
///
/// Memory: the data is inflated only as far as the header's sizes ask for, and those
/// may claim at most max_bytes (64 MiB by default, see kMaxIdxBytes), so a small
/// gzip bomb costs no more than that.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tinydiff/core/factories.hpp"
#include "tinydiff/io/atomic_file.hpp"

namespace tinydiff::io {

/// The default limit on an IDX file's data: the largest file of the MNIST family
/// (60,000 28x28 training images, 47,040,000 bytes) fits; pass a larger max_bytes
/// for bigger sets such as EMNIST ByClass (547 MB).
constexpr uint64_t kMaxIdxBytes = uint64_t{64} << 20;

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  ///< row-major, dims' product elements
};

namespace detail {
/// A file's bytes, inflated on the fly when it is gzip (RFC 1952: it starts 1f 8b).
/// Only as much is inflated as read() is asked for. Each gzip member must end with
/// its trailer, which zlib checks (CRC32 and length); after a member only another
/// member may follow (gzip's own rule), anything else is trailing garbage.
class IdxByteSource {
 public:
  explicit IdxByteSource(const std::string& path) : path_(path), file_(path, std::ios::binary), input_(1 << 16) {
    if (!file_) throw Error("read_idx: cannot open '" + path + "'");
    gzip_ = refill() && z_.avail_in >= 2 && input_[0] == 0x1f && input_[1] == 0x8b;
    if (gzip_ && inflateInit2(&z_, 15 + 16) != Z_OK)  // 16: a gzip wrapper, not zlib's
      throw Error("read_idx: zlib initialisation failed for '" + path + "'");
  }
  ~IdxByteSource() {
    if (gzip_) inflateEnd(&z_);
  }
  IdxByteSource(const IdxByteSource&) = delete;
  IdxByteSource& operator=(const IdxByteSource&) = delete;

  /// Reads up to n bytes; returns how many were read (fewer only at the end of the data).
  size_t read(uint8_t* out, size_t n) {
    size_t total = 0;
    while (total < n) {
      if (z_.avail_in == 0 && !refill()) {
        if (gzip_ && !member_ended_) throw corrupt("truncated: the gzip stream ends before its CRC32/length trailer");
        break;
      }
      if (!gzip_) {  // plain: copy
        const size_t take = std::min<size_t>(n - total, z_.avail_in);
        std::memcpy(out + total, z_.next_in, take);
        z_.next_in += take;
        z_.avail_in -= static_cast<uInt>(take);
        total += take;
        continue;
      }
      if (member_ended_) {
        if (z_.next_in[0] != 0x1f) throw corrupt("trailing bytes after the end of the gzip data");
        inflateReset(&z_);  // another gzip member
        member_ended_ = false;
      }
      z_.next_out = out + total;
      z_.avail_out = static_cast<uInt>(std::min<size_t>(n - total, size_t{1} << 30));
      const uInt room = z_.avail_out;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      total += room - z_.avail_out;
      if (rc == Z_STREAM_END) member_ended_ = true;  // trailer read and checked
      else if (rc != Z_OK && rc != Z_BUF_ERROR) throw corrupt(z_.msg ? z_.msg : "gzip error");
    }
    return total;
  }

 private:
  /// Refills the input buffer from the file; false at its end.
  bool refill() {
    file_.read(reinterpret_cast<char*>(input_.data()), static_cast<std::streamsize>(input_.size()));
    if (file_.bad()) throw Error("read_idx: cannot read '" + path_ + "'");
    z_.next_in = input_.data();
    z_.avail_in = static_cast<uInt>(file_.gcount());
    return z_.avail_in > 0;
  }
  Error corrupt(const std::string& what) const {
    return Error("read_idx: '" + path_ + "' is corrupt (" + what + ")");
  }
  std::string path_;
  std::ifstream file_;
  std::vector<uint8_t> input_;
  z_stream z_{};  ///< next_in/avail_in: the unread part of input_, for plain files too
  bool gzip_ = false;
  bool member_ended_ = false;
};
}  // namespace detail

/// Reads an unsigned-byte IDX file (gzipped or not) whose data is at most max_bytes.
inline IdxArray read_idx(const std::string& path, uint64_t max_bytes = kMaxIdxBytes) {
  detail::IdxByteSource in(path);
  auto fail = [&](const std::string& what) { return Error("read_idx: '" + path + "': " + what); };
  uint8_t magic[4];
  if (in.read(magic, 4) != 4) throw fail("truncated: shorter than the 4-byte magic number");
  if (magic[0] != 0 || magic[1] != 0) throw fail("not an IDX file (bad magic number)");
  if (magic[2] != 0x08)
    throw fail(::tinydiff::detail::concat("unsupported element type 0x", std::hex, int(magic[2]),
                                          " (only unsigned bytes, 0x08)"));
  const int rank = magic[3];
  if (rank < 1 || rank > 4) throw fail(::tinydiff::detail::concat("unsupported number of dims ", rank));
  IdxArray array;
  uint64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    uint8_t b[4];
    if (in.read(b, 4) != 4) throw fail("truncated inside the dimension sizes");
    const uint32_t size = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
    if (size == 0) throw fail(::tinydiff::detail::concat("dimension ", d, " has size 0"));
    array.dims.push_back(size);
    if (size > max_bytes / count)  // count * size > max_bytes, without overflow
      throw fail(::tinydiff::detail::concat("dimension sizes claim more than ", max_bytes,
                                            " bytes of data (read_idx's max_bytes)"));
    count *= size;
  }
  // Read in chunks rather than allocating the claimed size up front: a lying header
  // in a small file must not make us allocate its claim.
  const size_t chunk = size_t{1} << 20;
  while (array.data.size() < count) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, count - array.data.size()));
    const size_t old = array.data.size();
    array.data.resize(old + want);
    const size_t got = in.read(array.data.data() + old, want);
    if (got < want)
      throw fail(::tinydiff::detail::concat("truncated: the header promises ", count, " bytes of data, the file has ",
                                            old + got));
  }
  // Nothing may follow the data; for gzip this also reads and checks the trailer.
  uint8_t extra;
  if (in.read(&extra, 1) != 0) throw fail("has trailing bytes after the data the header describes");
  return array;
}

/// Images as floats in [0, 1]: an IDX of [N, H, W] bytes -> a tensor [N, 1, H, W].
inline Tensor load_idx_images(const std::string& path, uint64_t max_bytes = kMaxIdxBytes) {
  IdxArray a = read_idx(path, max_bytes);
  if (a.dims.size() != 3)
    throw Error(::tinydiff::detail::concat("load_idx_images: '", path, "' has ", a.dims.size(),
                                           " dims, images need 3 (N, H, W)"));
  Tensor t = Tensor::empty({a.dims[0], 1, a.dims[1], a.dims[2]});
  float* p = t.data();
  for (size_t i = 0; i < a.data.size(); ++i) p[i] = static_cast<float>(a.data[i]) * (1.0f / 255.0f);
  return t;
}

/// Labels: an IDX of [N] bytes -> N integers.
inline std::vector<int64_t> load_idx_labels(const std::string& path, uint64_t max_bytes = kMaxIdxBytes) {
  IdxArray a = read_idx(path, max_bytes);
  if (a.dims.size() != 1)
    throw Error(::tinydiff::detail::concat("load_idx_labels: '", path, "' has ", a.dims.size(),
                                           " dims, labels need 1"));
  return std::vector<int64_t>(a.data.begin(), a.data.end());
}

/// Writes an unsigned-byte IDX file atomically; gzipped when the path ends in ".gz".
inline void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data) {
  uint64_t count = 1;
  for (int64_t d : dims) {
    TD_CHECK(d > 0 && d <= 0xffffffffLL, "write_idx", "invalid dimension size ", d, " for '", path, "'");
    count *= static_cast<uint64_t>(d);
  }
  TD_CHECK(!dims.empty() && dims.size() <= 4, "write_idx", "IDX needs 1 to 4 dims, got ", dims.size());
  TD_CHECK(count == data.size(), "write_idx", "dims claim ", count, " bytes but ", data.size(), " were given");
  std::vector<uint8_t> bytes = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (int64_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>((uint64_t(d) >> shift) & 0xff));
  bytes.insert(bytes.end(), data.begin(), data.end());

  const bool gzip = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (gzip) {  // deflate in memory with a gzip wrapper (windowBits 15 + 16)
    z_stream z{};
    TD_CHECK(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK, "write_idx",
             "zlib initialisation failed");
    std::vector<uint8_t> packed(deflateBound(&z, bytes.size()) + 32);
    z.next_in = bytes.data();
    z.avail_in = static_cast<uInt>(bytes.size());
    z.next_out = packed.data();
    z.avail_out = static_cast<uInt>(packed.size());
    const int rc = deflate(&z, Z_FINISH);
    packed.resize(z.total_out);
    deflateEnd(&z);
    TD_CHECK(rc == Z_STREAM_END, "write_idx", "gzip compression of '", path, "' failed");
    bytes.swap(packed);
  }
  write_file_atomically(
      path, [&](std::ostream& out) { out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size())); },
      "write_idx");
}

}  // namespace tinydiff::io
