#pragma once
/// @file
/// safetensors: the tensor file format Hugging Face and PyTorch users share.
///
///     [N: 8-byte little-endian uint64][N bytes of UTF-8 JSON header][data buffer]
///
///     header = {"__metadata__": {"key": "value", ...},                 (optional)
///               "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
///
/// data_offsets are byte offsets into the data buffer (which starts right after the
/// header); the tensors tile the buffer exactly, no gaps, no overlaps. Values are
/// little-endian and row-major. Writers pad the header with spaces to a multiple of 8.
///
/// save_safetensors writes F32, and I64 for IndexTensors. load_safetensors reads F32, F64,
/// F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8 and BOOL. Every tensor comes as float32
/// (get), so a PyTorch fixture with int64 labels loads; integer and BOOL tensors also come
/// exactly as IndexTensors (get_indices). float32 holds every integer only up to 2^24, so get
/// refuses an integer tensor holding a larger value (naming it and pointing at get_indices)
/// rather than round it; a U64 value past int64 fails the load. Every malformed file throws tinydiff::Error
/// "load_safetensors: '<path>': <problem>"; sizes are checked against the file size
/// before anything is allocated, and nothing is read out of bounds. The header is
/// read in time linear in its size (n log n in its keys), never deeper than the 3
/// levels the format needs, and errors quote only excerpts of what the file holds.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/error.hpp"
#include "tinydiff/core/index_tensor.hpp"
#include "tinydiff/core/named_tensors.hpp"
#include "tinydiff/core/shape.hpp"
#include "tinydiff/core/tensor.hpp"
#include "tinydiff/io/atomic_file.hpp"

namespace tinydiff::io {

using NamedTensors = tinydiff::NamedTensors;  // core/named_tensors.hpp
using NamedIndexTensors = std::vector<std::pair<std::string, IndexTensor>>;
using Metadata = std::map<std::string, std::string>;

namespace safetensors_detail {
/// `text` for an error message: whole when short, else its start and its length, so
/// that a name or value of a hostile file (up to 100 MB) never makes a huge message.
inline std::string excerpt(const std::string& text, size_t max_chars = 64) {
  if (text.size() <= max_chars) return text;
  return text.substr(0, max_chars) + "...(" + std::to_string(text.size()) + " bytes)";
}
}  // namespace safetensors_detail

/// What load_safetensors returns.
struct SafetensorsFile {
  NamedTensors tensors;             // as float32, in the order of their data in the file; an integer
                                    // tensor float32 cannot hold exactly is left out (see not_float)
  NamedIndexTensors index_tensors;  ///< the integer and BOOL tensors, exactly, as int64
  Metadata metadata;                ///< the "__metadata__" strings; empty when the file has none
  std::string path;                 // the file it came from (for error messages)
  /// The integer tensors left out of `tensors`, each with its first value beyond 2^24.
  std::map<std::string, std::string> not_float;

  bool contains(const std::string& name) const {
    for (const auto& entry : tensors)
      if (entry.first == name) return true;
    return not_float.count(name) == 1;
  }
  /// The tensor called `name` as float32; throws tinydiff::Error if there is none, or if it is an
  /// integer tensor with a value float32 cannot hold exactly.
  const Tensor& get(const std::string& name) const {
    for (const auto& entry : tensors)
      if (entry.first == name) return entry.second;
    using safetensors_detail::excerpt;
    const auto refused = not_float.find(name);
    if (refused != not_float.end())
      throw Error(::tinydiff::detail::concat("SafetensorsFile::get: tensor '", excerpt(name), "' in '", path,
                                             "' holds ", refused->second,
                                             ", which float32 cannot hold exactly (|v| > 2^24); read it with get_indices('",
                                             excerpt(name), "')"));
    throw Error(::tinydiff::detail::concat("SafetensorsFile::get: no tensor named '", excerpt(name), "' in '", path,
                                           "' (it has ", names(), ")"));
  }
  /// The integer (or BOOL) tensor called `name`, exactly, as int64 indices; throws
  /// tinydiff::Error if there is none or it holds floats.
  const IndexTensor& get_indices(const std::string& name) const {
    for (const auto& entry : index_tensors)
      if (entry.first == name) return entry.second;
    using safetensors_detail::excerpt;
    for (const auto& entry : tensors)
      if (entry.first == name)
        throw Error(::tinydiff::detail::concat("SafetensorsFile::get_indices: tensor '", excerpt(name), "' in '", path,
                                               "' holds floating-point values, not integers; read it with get('",
                                               excerpt(name), "')"));
    throw Error(::tinydiff::detail::concat("SafetensorsFile::get_indices: no tensor named '", excerpt(name), "' in '",
                                           path, "' (it has ", names(), ")"));
  }

 private:
  /// The first few names, for an error message.
  std::string names() const {
    using safetensors_detail::excerpt;
    std::vector<std::string> all;
    for (const auto& entry : tensors) all.push_back(entry.first);
    for (const auto& entry : not_float) all.push_back(entry.first);
    std::string text;
    for (size_t i = 0; i < all.size() && i < 10; ++i) text += (i ? ", '" : "'") + excerpt(all[i]) + "'";
    if (all.size() > 10) text += ", ...";
    return std::to_string(all.size()) + ": " + text;
  }
};

namespace safetensors_detail {

using Json = nlohmann::json;                // what a header is read into (see BoundedJsonBuilder)
using OrderedJson = nlohmann::ordered_json;  // what an entry is written with: dtype, shape, data_offsets

/// The reference implementation's limit on the header size.
constexpr uint64_t kMaxHeaderBytes = 100000000;

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL };
struct DTypeInfo {
  const char* name;
  DType dtype;
  uint64_t size;  ///< bytes per element
};
inline const DTypeInfo* find_dtype(const std::string& name) {
  static const DTypeInfo table[] = {
      {"F64", DType::F64, 8}, {"F32", DType::F32, 4}, {"F16", DType::F16, 2}, {"BF16", DType::BF16, 2},
      {"I64", DType::I64, 8}, {"I32", DType::I32, 4}, {"I16", DType::I16, 2}, {"I8", DType::I8, 1},
      {"U64", DType::U64, 8}, {"U32", DType::U32, 4}, {"U16", DType::U16, 2}, {"U8", DType::U8, 1},
      {"BOOL", DType::BOOL, 1}};
  for (const DTypeInfo& d : table)
    if (name == d.name) return &d;
  return nullptr;
}

inline bool host_is_little_endian() {
  const uint32_t one = 1;
  unsigned char first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

[[noreturn]] inline void fail(const char* op, const std::string& path, const std::string& problem) {
  throw Error(::tinydiff::detail::concat(op, ": '", path, "': ", problem));
}

/// IEEE 754 half (1 sign, 5 exponent, 10 mantissa bits) -> float, exactly.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf or nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);  // normal: rebias 15 -> 127
  } else {
    // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// One element of a floating-point `dtype` stored little-endian at p, as float.
inline float element_to_float(DType dtype, const unsigned char* p) {
  auto load = [p](int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  };
  switch (dtype) {
    case DType::F64: {
      const uint64_t bits = load(8);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return static_cast<float>(d);
    }
    case DType::F32: {
      const auto bits = static_cast<uint32_t>(load(4));
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    case DType::F16: return half_to_float(static_cast<uint16_t>(load(2)));
    case DType::BF16: {
      const uint32_t bits = static_cast<uint32_t>(load(2)) << 16;  // bfloat16 is the top half of a float
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    default: break;  // the integer dtypes: element_to_int64, exactly
  }
  return 0.0f;
}

inline bool is_integer(DType dtype) {
  return dtype != DType::F64 && dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16;
}

/// One element of an integer (or BOOL) dtype stored little-endian at p, exactly. A U64 past
/// int64's range sets `overflow` (and returns 0).
inline int64_t element_to_int64(DType dtype, const unsigned char* p, bool& overflow) {
  uint64_t v = 0;
  const int bytes = dtype == DType::I64 || dtype == DType::U64   ? 8
                    : dtype == DType::I32 || dtype == DType::U32 ? 4
                    : dtype == DType::I16 || dtype == DType::U16 ? 2
                                                                 : 1;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  switch (dtype) {
    case DType::I64: return static_cast<int64_t>(v);
    case DType::I32: return static_cast<int32_t>(static_cast<uint32_t>(v));
    case DType::I16: return static_cast<int16_t>(static_cast<uint16_t>(v));
    case DType::I8: return static_cast<int8_t>(static_cast<uint8_t>(v));
    case DType::U64:
      overflow = v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      return overflow ? 0 : static_cast<int64_t>(v);
    case DType::BOOL: return v != 0 ? 1 : 0;
    default: return static_cast<int64_t>(v);  // U32, U16, U8
  }
}

/// One tensor's header entry, checked.
struct Entry {
  std::string name;
  const DTypeInfo* dtype = nullptr;
  Shape shape;
  uint64_t begin = 0, end = 0;
  size_t header_index = 0;  ///< breaks ties between empty tensors at the same offset
};

inline std::string offsets_str(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

/// The safetensors header is read with nlohmann's SAX parser, which is iterative,
/// into plain nlohmann::json values (std::map objects: O(log n) per key), and never
/// deeper than the format needs:
///
///     {name: {"shape": [...], "data_offsets": [...]}}  is 3 levels of objects/arrays.
/// Why not nlohmann's DOM parse: ordered_json finds each key by a linear search
/// (100k keys took 24 s), and a value nested 100k deep, though parsed without
/// recursion, overflows the stack when it is later copied or dumped.
constexpr size_t kMaxHeaderDepth = 3;

/// A SAX handler that builds the value, stopping (returning false) at a syntax
/// error, a duplicate key (which nlohmann would silently collapse to one) or an
/// object/array opened deeper than max_depth. Keeps the top-level keys in file order.
class BoundedJsonBuilder {
 public:
  explicit BoundedJsonBuilder(size_t max_depth) : max_depth_(max_depth) {}
  Json root;
  std::vector<std::string> top_level_keys;  ///< in the order the text has them
  std::string problem;                      ///< why it stopped; empty when it did not

  bool null() { return add(nullptr); }
  bool boolean(bool v) { return add(v); }
  bool number_integer(Json::number_integer_t v) { return add(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return add(v); }
  bool number_float(Json::number_float_t v, const std::string& /*text*/) { return add(v); }
  bool string(std::string& v) { return add(std::move(v)); }
  bool binary(Json::binary_t& /*v*/) { return stop("is not valid JSON: binary value"); }  // never from JSON text
  bool start_object(size_t /*size*/) { return open(Json::object()); }
  bool start_array(size_t /*size*/) { return open(Json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& k) {
    if (open_.back()->contains(k)) return stop("has a duplicate key '" + excerpt(k) + "'");
    if (open_.size() == 1) top_level_keys.push_back(k);
    key_ = std::move(k);
    return true;
  }
  bool parse_error(size_t /*position*/, const std::string& last_token, const nlohmann::json::exception& e) {
    // what() ends by quoting the last token read whole, which may be megabytes long.
    const std::string quote = "; last read: '";
    std::string message = e.what();
    const size_t quote_at = message.find(quote);
    if (quote_at != std::string::npos) message = message.substr(0, quote_at) + quote + excerpt(last_token) + "'";
    return stop("is not valid JSON: " + excerpt(message, 400));
  }

 private:
  bool stop(std::string why) {
    if (problem.empty()) problem = std::move(why);
    return false;
  }
  /// Puts v where the parser is: the root, the next element of an array or the value of the last key.
  Json* place(Json&& v) {
    if (open_.empty()) {
      root = std::move(v);
      return &root;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();  // stays valid: nothing is added to parent while this child is open
    }
    return &(parent[key_] = std::move(v));
  }
  bool add(Json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(Json&& container) {
    if (open_.size() >= max_depth_)
      return stop("nests objects and arrays more than " + std::to_string(max_depth_) + " levels deep");
    open_.push_back(place(std::move(container)));
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }
  size_t max_depth_;
  std::vector<Json*> open_;  ///< the objects and arrays being filled, outermost first
  std::string key_;          ///< the key whose value comes next
};

/// Parses the header bytes into `builder` (its root and top-level key order).
inline void parse_header_json(const char* op, const std::string& path, const std::string& text,
                              BoundedJsonBuilder& builder) {
  // nlohmann stops at a NUL byte as if the input ended there; in JSON a raw NUL is
  // never valid, so reject it rather than ignore what follows.
  const size_t nul = text.find('\0');
  if (nul != std::string::npos)
    fail(op, path, "header is not valid JSON: it contains a NUL byte at offset " + std::to_string(nul));
  Json::sax_parse(text.begin(), text.end(), &builder);
  if (!builder.problem.empty()) fail(op, path, "header " + builder.problem);
}

/// Checks one tensor entry of the header against the data buffer's size.
inline Entry parse_entry(const char* op, const std::string& path, const std::string& name, const Json& value,
                         uint64_t buffer_size) {
  const std::string where = "tensor '" + excerpt(name) + "'";
  auto brief = [](const Json& v) { return excerpt(v.dump()); };  // shallow: the builder limits the depth
  auto bad = [&](const std::string& problem) { fail(op, path, where + ": " + problem); };
  if (!value.is_object())
    bad(std::string("entry must be an object with dtype, shape and data_offsets, got ") + value.type_name());
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!value.contains(field)) bad(std::string("entry is missing \"") + field + "\"");

  Entry entry;
  entry.name = name;
  const Json& dtype = value.at("dtype");
  if (!dtype.is_string()) bad(std::string("\"dtype\" must be a string, got ") + dtype.type_name());
  entry.dtype = find_dtype(dtype.get<std::string>());
  if (!entry.dtype)
    bad("unknown dtype \"" + excerpt(dtype.get<std::string>()) +
        "\" (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL)");

  // shape: non-negative integers whose product (in elements, then bytes) does not overflow
  const Json& shape = value.at("shape");
  if (!shape.is_array()) bad(std::string("\"shape\" must be an array of integers, got ") + shape.type_name());
  uint64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const Json& dim = shape[i];
    if (!dim.is_number_integer())
      bad("shape dimension " + std::to_string(i) + " is not an integer (got " + brief(dim) + ")");
    if (!dim.is_number_unsigned())
      bad("shape dimension " + std::to_string(i) + " is negative (" + brief(dim) + ")");
    const uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (d != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / d))
      bad("shape " + brief(shape) + " is too large (element count overflows)");
    numel *= d;
    entry.shape.push_back(static_cast<int64_t>(d));
  }

  // data_offsets: [begin, end], begin <= end <= buffer size
  const Json& offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2)
    bad("\"data_offsets\" must be an array [begin, end], got " + brief(offsets));
  if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    bad("\"data_offsets\" must be two non-negative integers, got " + brief(offsets));
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.begin > entry.end) bad("data_offsets " + offsets_str(entry.begin, entry.end) + " have begin > end");
  if (entry.end > buffer_size)
    bad("data_offsets " + offsets_str(entry.begin, entry.end) + " are out of range of the data buffer (" +
        std::to_string(buffer_size) + " bytes)");

  // numel * element size must be exactly the span
  const uint64_t span = entry.end - entry.begin;
  const bool fits = numel <= std::numeric_limits<uint64_t>::max() / entry.dtype->size;
  const uint64_t needed = fits ? numel * entry.dtype->size : 0;
  if (!fits || needed != span)
    bad("shape/size mismatch: shape " + excerpt(shape_str(entry.shape)) + " of " + entry.dtype->name + " needs " +
        (fits ? std::to_string(needed) : std::string("more than 2^64")) + " bytes but data_offsets " +
        offsets_str(entry.begin, entry.end) + " span " + std::to_string(span));
  return entry;
}

/// Checks the whole header; returns the tensors sorted by their data offsets.
inline std::vector<Entry> parse_header(const char* op, const std::string& path, const std::string& text,
                                       uint64_t buffer_size, Metadata& metadata) {
  BoundedJsonBuilder builder(kMaxHeaderDepth);
  parse_header_json(op, path, text, builder);
  const Json& header = builder.root;
  if (!header.is_object()) fail(op, path, std::string("header must be a JSON object, got ") + header.type_name());

  std::vector<Entry> entries;
  // In file order: header_index breaks ties between empty tensors at one offset.
  for (size_t index = 0; index < builder.top_level_keys.size(); ++index) {
    const std::string& key = builder.top_level_keys[index];
    const Json& value = header.at(key);
    if (key == "__metadata__") {
      if (!value.is_object())
        fail(op, path, std::string("__metadata__ must be an object of strings, got ") + value.type_name());
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string())
          fail(op, path, "__metadata__ must be an object of strings, but the value of '" + excerpt(m.key()) +
                             "' is " + m.value().type_name());
        metadata.emplace_hint(metadata.end(), m.key(), m.value().get<std::string>());  // keys come sorted
      }
      continue;
    }
    entries.push_back(parse_entry(op, path, key, value, buffer_size));
    entries.back().header_index = index;
  }

  // The sorted ranges must tile [0, buffer_size) exactly.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.header_index < b.header_index;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered)
      fail(op, path, "tensor '" + excerpt(e.name) + "' (data_offsets " + offsets_str(e.begin, e.end) +
                         ") overlaps tensor '" + excerpt(previous->name) + "' (data_offsets " +
                         offsets_str(previous->begin, previous->end) + ")");
    if (e.begin > covered)
      fail(op, path, "gap in the data buffer: bytes " + offsets_str(covered, e.begin) +
                         " belong to no tensor (before tensor '" + excerpt(e.name) + "')");
    covered = e.end;
    previous = &e;
  }
  if (covered != buffer_size)
    fail(op, path, "gap in the data buffer: its last " + std::to_string(buffer_size - covered) + " of " +
                       std::to_string(buffer_size) + " bytes belong to no tensor");
  return entries;
}

}  // namespace safetensors_detail

/// Reads a safetensors file: every tensor as float32, in data order, and the integer ones
/// exactly as IndexTensors too (see the top of the file).
inline SafetensorsFile load_safetensors(const std::string& path) {
  namespace sd = safetensors_detail;
  const char* op = "load_safetensors";
  namespace fs = std::filesystem;

  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) sd::fail(op, path, "cannot open the file: it does not exist");
  if (fs::is_directory(status)) sd::fail(op, path, "cannot open the file: it is a directory");
  if (!fs::is_regular_file(status)) sd::fail(op, path, "cannot open the file: not a regular file");
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) sd::fail(op, path, "cannot open the file: " + ec.message());

  std::ifstream in(path, std::ios::binary);
  if (!in) sd::fail(op, path, "cannot open the file for reading (unreadable)");

  // header length
  if (file_size < 8)
    sd::fail(op, path, "file is too short (" + std::to_string(file_size) +
                           " bytes) to hold the 8-byte header length");
  unsigned char length_bytes[8];
  if (!in.read(reinterpret_cast<char*>(length_bytes), 8)) sd::fail(op, path, "cannot read the header length");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_bytes[i];
  if (header_size > sd::kMaxHeaderBytes)
    sd::fail(op, path, "header length " + std::to_string(header_size) + " is too large (limit " +
                           std::to_string(sd::kMaxHeaderBytes) + " bytes)");
  if (header_size > file_size - 8)
    sd::fail(op, path, "header length " + std::to_string(header_size) + " runs past the end of the file (" +
                           std::to_string(file_size) + " bytes)");

  // header
  std::string header(static_cast<size_t>(header_size), '\0');
  if (header_size && !in.read(&header[0], static_cast<std::streamsize>(header_size)))
    sd::fail(op, path, "unexpected end of file while reading the header");
  const uint64_t buffer_size = file_size - 8 - header_size;

  SafetensorsFile result;
  result.path = path;
  const std::vector<sd::Entry> entries = sd::parse_header(op, path, header, buffer_size, result.metadata);

  // data: the entries tile the buffer in this order, so read them one after the other
  const bool little_endian = sd::host_is_little_endian();
  std::vector<unsigned char> chunk;
  // Reads entry e's bytes in chunks of up to 1 MiB and calls each(p) for every element's bytes p.
  auto for_each_element = [&](const sd::Entry& e, auto&& each) {
    const uint64_t element_size = e.dtype->size;
    const uint64_t chunk_elements = (uint64_t{1} << 20) / element_size;
    for (uint64_t remaining = e.end - e.begin; remaining > 0;) {
      const uint64_t bytes = std::min(remaining, chunk_elements * element_size);
      chunk.resize(static_cast<size_t>(bytes));
      if (!in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(bytes)))
        sd::fail(op, path, "unexpected end of file while reading tensor '" + sd::excerpt(e.name) + "'");
      for (uint64_t i = 0; i < bytes / element_size; ++i) each(chunk.data() + i * element_size);
      remaining -= bytes;
    }
  };
  for (const sd::Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape);
    float* out = t.data();
    if (sd::is_integer(e.dtype->dtype)) {
      // Exact as int64; as float32 too unless a value lies beyond 2^24.
      IndexTensor idx;
      idx.shape = e.shape;
      idx.data.reserve(static_cast<size_t>((e.end - e.begin) / e.dtype->size));
      std::string beyond;  // the first value float32 cannot hold, described
      for_each_element(e, [&](const unsigned char* p) {
        bool overflow = false;
        const int64_t v = sd::element_to_int64(e.dtype->dtype, p, overflow);
        if (overflow)
          sd::fail(op, path, "tensor '" + sd::excerpt(e.name) + "' (U64) holds a value at position " +
                                 std::to_string(idx.data.size()) + " beyond int64, which tinydiff cannot hold");
        constexpr int64_t kExact = int64_t{1} << 24;
        if (beyond.empty() && (v > kExact || v < -kExact))
          beyond = "the integer " + std::to_string(v) + " at position " + std::to_string(idx.data.size());
        idx.data.push_back(v);
        *out++ = static_cast<float>(v);
      });
      result.index_tensors.emplace_back(e.name, std::move(idx));
      if (!beyond.empty()) {
        result.not_float.emplace(e.name, beyond);
        continue;
      }
    } else if (e.dtype->dtype == sd::DType::F32 && little_endian) {
      const uint64_t bytes = e.end - e.begin;
      if (bytes && !in.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(bytes)))
        sd::fail(op, path, "unexpected end of file while reading tensor '" + sd::excerpt(e.name) + "'");
    } else {
      for_each_element(e, [&](const unsigned char* p) { *out++ = sd::element_to_float(e.dtype->dtype, p); });
    }
    result.tensors.emplace_back(e.name, std::move(t));
  }
  return result;
}

/// Writes `tensors` (as F32, in the given order), then `index_tensors` (as I64, exact), and
/// `metadata` to `path`, atomically: on any failure the file that was at `path` is left as it
/// was. Names must be non-empty, unique across both lists and not "__metadata__".
inline void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {},
                             const NamedIndexTensors& index_tensors = {}) {
  namespace sd = safetensors_detail;
  const char* op = "save_safetensors";

  // What each tensor writes: its dtype, shape and raw little-endian-to-be values.
  struct Item {
    const std::string* name;
    const char* dtype;
    const Shape* shape;
    const void* data;
    uint64_t count, element_size;
  };
  std::vector<Item> items;
  std::set<std::string> seen;
  auto check_name = [&](const std::string& name) {
    if (name.empty()) sd::fail(op, path, "tensor name is empty");
    if (name == "__metadata__") sd::fail(op, path, "tensor name '__metadata__' is reserved for the metadata");
    if (!seen.insert(name).second) sd::fail(op, path, "duplicate tensor name '" + name + "'");
  };
  for (const auto& [name, t] : tensors) {
    check_name(name);
    if (!t.defined()) sd::fail(op, path, tinydiff::detail::undefined_tensor_problem(name));
    items.push_back({&name, "F32", &t.shape(), t.data(), static_cast<uint64_t>(t.numel()), sizeof(float)});
  }
  for (const auto& [name, idx] : index_tensors) {
    check_name(name);
    if (shape_numel(idx.shape, op) != idx.numel())
      sd::fail(op, path, "index tensor '" + name + "' has shape " + shape_str(idx.shape) + " but " +
                             std::to_string(idx.numel()) + " values");
    items.push_back({&name, "I64", &idx.shape, idx.data.data(), static_cast<uint64_t>(idx.numel()), sizeof(int64_t)});
  }

  // header: metadata first, then the tensors in order, packed one after the other.
  // Written member by member: one ordered_json of all tensors would find each new
  // key by a linear search, quadratic in the number of tensors.
  std::string text = "{";
  auto add_member = [&text](const std::string& key, const auto& value) {
    if (text.size() > 1) text += ',';
    text += sd::Json(key).dump() + ':' + value.dump();
  };
  try {
    if (!metadata.empty()) add_member("__metadata__", sd::Json(metadata));
    uint64_t offset = 0;
    for (const Item& item : items) {
      const uint64_t bytes = item.count * item.element_size;
      sd::OrderedJson entry = sd::OrderedJson::object();
      entry["dtype"] = item.dtype;
      entry["shape"] = *item.shape;
      entry["data_offsets"] = sd::OrderedJson::array({offset, offset + bytes});
      add_member(*item.name, entry);
      offset += bytes;
    }
  } catch (const nlohmann::json::exception& e) {
    sd::fail(op, path, std::string("a tensor name or metadata string is not valid UTF-8: ") + e.what());
  }
  text += '}';
  text.append((8 - text.size() % 8) % 8, ' ');

  write_file_atomically(
      path,
      [&](std::ostream& out) {
        unsigned char length_bytes[8];
        for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(text.size() >> (8 * i));
        out.write(reinterpret_cast<const char*>(length_bytes), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        const bool little_endian = sd::host_is_little_endian();
        std::vector<unsigned char> swapped;
        for (const Item& item : items) {
          const size_t bytes = static_cast<size_t>(item.count * item.element_size);
          if (bytes == 0) continue;
          const auto* raw = static_cast<const unsigned char*>(item.data);
          if (little_endian) {
            out.write(reinterpret_cast<const char*>(raw), static_cast<std::streamsize>(bytes));
          } else {  // each element's bytes reversed
            swapped.resize(bytes);
            const size_t es = static_cast<size_t>(item.element_size);
            for (size_t i = 0; i < bytes; i += es)
              for (size_t b = 0; b < es; ++b) swapped[i + b] = raw[i + es - 1 - b];
            out.write(reinterpret_cast<const char*>(swapped.data()), static_cast<std::streamsize>(bytes));
          }
        }
      },
      op);
}

}  // namespace tinydiff::io
