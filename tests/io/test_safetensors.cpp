// safetensors read/write: round trips, files built byte by byte (what other writers
// write), the layout of what we write, every malformed-file error, and atomic saves.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;
using namespace tinydiff::io;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le_u64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
uint64_t read_le_u64(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
// Bytes of a list of values written little-endian, `width` bytes each.
std::string le_bytes(const std::vector<uint64_t>& values, int width) {
  std::string s;
  for (uint64_t v : values)
    for (int i = 0; i < width; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}
uint32_t float_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
uint64_t double_bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}

// A safetensors file: length, header text as given (no padding added), data.
std::string make_file(const std::string& header, const std::string& data) {
  return le_u64(header.size()) + header + data;
}

Tensor from_values(const Shape& shape, const std::vector<float>& values) {
  Tensor t = Tensor::empty(shape);
  REQUIRE(t.numel() == static_cast<int64_t>(values.size()));
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
  return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         (a.numel() == 0 || std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * 4) == 0);
}

// The message of the tinydiff::Error that f throws; fails the test when f throws
// nothing or something else.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("threw a non-tinydiff exception: ", e.what());
    return "";
  }
  FAIL_CHECK("did not throw");
  return "";
}

}  // namespace

TEST_CASE("safetensors: round trip of several tensors and metadata is bit-exact") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  Generator gen(7);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  NamedTensors tensors = {
      {"scalar", scalar_tensor(3.25f)},
      {"vector", from_values({6}, {-0.0f, inf, -inf, nan, 1e-45f /* denormal */, 3.4028235e38f})},
      {"conv.weight", randn({2, 3, 4, 5}, &gen)},
      {"empty", Tensor::empty({3, 0, 2})},
      {"bias", randn({3}, &gen)},
  };
  const Metadata metadata = {{"format", "pt"}, {"note", "gr\xc3\xbc\xc3\x9f" "e, \"quoted\"\n"}};
  save_safetensors(path, tensors, metadata);

  const SafetensorsFile loaded = load_safetensors(path);
  CHECK(loaded.metadata == metadata);
  CHECK(loaded.path == path);
  REQUIRE(loaded.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    INFO("tensor ", tensors[i].first);
    CHECK(loaded.tensors[i].first == tensors[i].first);  // data order = save order
    CHECK(same_bits(loaded.tensors[i].second, tensors[i].second));
  }
  CHECK(loaded.get("scalar").dim() == 0);
  CHECK(loaded.get("scalar").item() == 3.25f);
  CHECK(loaded.get("empty").shape() == Shape{3, 0, 2});
  CHECK(loaded.contains("bias"));
  CHECK_FALSE(loaded.contains("missing"));
  const std::string message = error_of([&] { loaded.get("missing"); });
  CHECK(contains(message, "'missing'"));
  CHECK(contains(message, path));
}

TEST_CASE("safetensors: no tensors and no metadata round trip as an empty header") {
  TempDir dir;
  const std::string path = dir.file("empty.safetensors");
  save_safetensors(path, {});
  const std::string bytes = read_bytes(path);
  CHECK(bytes == le_u64(8) + "{}      ");
  const SafetensorsFile loaded = load_safetensors(path);
  CHECK(loaded.tensors.empty());
  CHECK(loaded.metadata.empty());
}

TEST_CASE("safetensors: the written header is JSON padded to 8 bytes and the layout matches the spec") {
  TempDir dir;
  const std::string path = dir.file("layout.safetensors");
  Tensor a = from_values({2}, {1.0f, -2.0f});
  Tensor b = from_values({2, 3}, {0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f});
  Tensor c = scalar_tensor(7.0f);
  Tensor e = Tensor::empty({0});
  save_safetensors(path, {{"z_first", a}, {"b", b}, {"e", e}, {"c", c}}, {{"k", "v"}});

  const std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() >= 8);
  const uint64_t n = read_le_u64(bytes, 0);
  CHECK(n % 8 == 0);
  CHECK((8 + n) % 8 == 0);
  REQUIRE(8 + n <= bytes.size());
  const std::string header = bytes.substr(8, n);
  // Padding is spaces only, after the closing brace.
  const size_t close = header.find_last_of('}');
  REQUIRE(close != std::string::npos);
  CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);
  CHECK(header.size() - (close + 1) < 8);

  const nlohmann::json j = nlohmann::json::parse(header);  // parseable by a plain JSON parser
  REQUIRE(j.is_object());
  CHECK(j.size() == 5);
  CHECK(j["__metadata__"] == nlohmann::json({{"k", "v"}}));
  // Offsets by hand: a = 2 floats = 8 bytes, b = 6 floats = 24 bytes, e = 0 bytes, c = 4 bytes.
  CHECK(j["z_first"] == nlohmann::json::parse(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"));
  CHECK(j["b"] == nlohmann::json::parse(R"({"dtype":"F32","shape":[2,3],"data_offsets":[8,32]})"));
  CHECK(j["e"] == nlohmann::json::parse(R"({"dtype":"F32","shape":[0],"data_offsets":[32,32]})"));
  CHECK(j["c"] == nlohmann::json::parse(R"({"dtype":"F32","shape":[],"data_offsets":[32,36]})"));
  CHECK(bytes.size() == 8 + n + 36);

  // The data: little-endian float32 at those offsets.
  const std::string data = bytes.substr(8 + n);
  CHECK(data.substr(0, 8) == le_bytes({float_bits(1.0f), float_bits(-2.0f)}, 4));
  CHECK(data.substr(8, 24) == le_bytes({float_bits(0.5f), float_bits(1.5f), float_bits(2.5f), float_bits(3.5f),
                                        float_bits(4.5f), float_bits(5.5f)},
                                       4));
  CHECK(data.substr(32, 4) == le_bytes({float_bits(7.0f)}, 4));

  // Loading returns data order (which is save order here), whatever the JSON key order.
  const SafetensorsFile loaded = load_safetensors(path);
  REQUIRE(loaded.tensors.size() == 4);
  CHECK(loaded.tensors[0].first == "z_first");
  CHECK(loaded.tensors[1].first == "b");
  CHECK(loaded.tensors[2].first == "e");
  CHECK(loaded.tensors[3].first == "c");
}

TEST_CASE("safetensors: a file built byte by byte with F32, I64 and F16 tensors loads (what other writers write)") {
  TempDir dir;
  const std::string path = dir.file("hand.safetensors");
  // Header keys deliberately not in data order, with spaces and a newline like a
  // pretty-printing writer, and trailing space padding.
  const std::string header =
      "{\"labels\": {\"dtype\": \"I64\", \"shape\": [3], \"data_offsets\": [24, 48]},\n"
      " \"__metadata__\": {\"format\": \"pt\"},\n"
      " \"half\": {\"dtype\": \"F16\", \"shape\": [2, 3], \"data_offsets\": [48, 60]},\n"
      " \"weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}   ";
  std::string data;
  // weight: 1.5 = 0x3FC00000, -2 = 0xC0000000, 0, 0.25, 1e6, -0.1 (F32, little-endian)
  data += std::string("\x00\x00\xc0\x3f", 4) + std::string("\x00\x00\x00\xc0", 4) + std::string(4, '\0') +
          std::string("\x00\x00\x80\x3e", 4) + le_bytes({float_bits(1e6f), float_bits(-0.1f)}, 4);
  // labels: 7, -1, 123456789 (I64, little-endian two's complement)
  data += std::string("\x07\x00\x00\x00\x00\x00\x00\x00", 8) + std::string(8, '\xff') +
          le_bytes({123456789}, 8);
  // half: 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800, 65504 = 0x7BFF, 2^-24 = 0x0001 (subnormal), -inf = 0xFC00
  data += le_bytes({0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0xFC00}, 2);
  REQUIRE(data.size() == 60);
  write_bytes(path, make_file(header, data));

  const SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata == Metadata{{"format", "pt"}});
  // labels holds 123456789 > 2^24, which float32 would round to 123456792: it comes only
  // exactly, through get_indices (see "integer tensors" below).
  REQUIRE(f.tensors.size() == 2);
  CHECK(f.tensors[0].first == "weight");  // data order, not header order
  CHECK(f.tensors[1].first == "half");
  CHECK(f.get("weight").shape() == Shape{2, 3});
  CHECK(f.get("weight").to_vector() == std::vector<float>{1.5f, -2.0f, 0.0f, 0.25f, 1e6f, -0.1f});
  CHECK(f.contains("labels"));
  CHECK(f.get_indices("labels").shape == Shape{3});
  CHECK(f.get_indices("labels").data == std::vector<int64_t>{7, -1, 123456789});
  CHECK(f.get("half").shape() == Shape{2, 3});
  const std::vector<float> half = f.get("half").to_vector();
  CHECK(half[0] == 1.0f);
  CHECK(half[1] == -2.0f);
  CHECK(half[2] == 0.5f);
  CHECK(half[3] == 65504.0f);
  CHECK(half[4] == std::ldexp(1.0f, -24));
  CHECK(half[5] == -std::numeric_limits<float>::infinity());
}

TEST_CASE("safetensors: every other dtype converts to float32 (integers up to 2^24)") {
  TempDir dir;
  const std::string path = dir.file("dtypes.safetensors");
  struct Case {
    const char* name;
    const char* dtype;
    std::string bytes;
    std::vector<float> expected;
  };
  const std::vector<Case> cases = {
      {"f64", "F64", le_bytes({double_bits(0.1), double_bits(-3.0)}, 8), {0.1f, -3.0f}},
      {"bf16", "BF16", le_bytes({0x3F80, 0xC040, 0x7F80}, 2), {1.0f, -3.0f, std::numeric_limits<float>::infinity()}},
      {"i32", "I32", le_bytes({5, 0xFFFFFFFEull}, 4), {5.0f, -2.0f}},
      {"i16", "I16", le_bytes({0x7FFF, 0x8000}, 2), {32767.0f, -32768.0f}},
      {"i8", "I8", le_bytes({0x80, 0x7F, 0xFF}, 1), {-128.0f, 127.0f, -1.0f}},
      {"u8", "U8", le_bytes({0, 200, 255}, 1), {0.0f, 200.0f, 255.0f}},
      {"u16", "U16", le_bytes({65535}, 2), {65535.0f}},
      {"u32", "U32", le_bytes({16777216ull}, 4), {16777216.0f}},  // 2^24: beyond it, see "integer tensors"
      {"u64", "U64", le_bytes({1ull << 20}, 8), {1048576.0f}},
      {"flags", "BOOL", le_bytes({1, 0, 1, 1}, 1), {1.0f, 0.0f, 1.0f, 1.0f}},
  };
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::string data;
  for (const Case& c : cases) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = c.dtype;
    entry["shape"] = nlohmann::ordered_json::array({c.expected.size()});
    entry["data_offsets"] = nlohmann::ordered_json::array({data.size(), data.size() + c.bytes.size()});
    header[c.name] = entry;
    data += c.bytes;
  }
  write_bytes(path, make_file(header.dump(), data));  // unpadded header: readers must accept it
  const SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("dtype ", std::string(cases[i].dtype));
    CHECK(f.tensors[i].first == cases[i].name);
    CHECK(f.tensors[i].second.shape() == Shape{static_cast<int64_t>(cases[i].expected.size())});
    CHECK(f.tensors[i].second.to_vector() == cases[i].expected);
  }
}

TEST_CASE("safetensors: empty tensors sharing an offset are fine and keep header order") {
  TempDir dir;
  const std::string path = dir.file("zeros.safetensors");
  const std::string header =
      R"({"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("c":{"dtype":"I64","shape":[2,0],"data_offsets":[4,4]}})";
  write_bytes(path, make_file(header, le_bytes({float_bits(2.0f)}, 4)));
  const SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == 3);
  CHECK(f.tensors[0].first == "a");
  CHECK(f.tensors[1].first == "b");
  CHECK(f.tensors[2].first == "c");
  CHECK(f.get("c").shape() == Shape{2, 0});
}

TEST_CASE("safetensors: every malformed file gives an Error naming the file and the problem") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto load_error = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    return error_of([&] { load_safetensors(path); });
  };
  // A valid entry for a 2-float tensor, and its 8 data bytes.
  const std::string ok_entry = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight(8, '\0');
  auto with_entry = [&](const std::string& entry_json, const std::string& data) {
    return make_file("{\"t\":" + entry_json + "}", data);
  };

  struct Case {
    const char* what;
    std::string bytes;
    const char* word;  // must appear in the message
  };
  const std::vector<Case> cases = {
      {"empty file", "", "too short"},
      {"file shorter than 8 bytes", "\x01\x02\x03", "too short"},
      {"header length past the end", le_u64(100) + "{}", "past the end"},
      {"header length absurdly large", le_u64(uint64_t{1} << 62) + "{}", "too large"},
      {"header length of 2^64-1", le_u64(~uint64_t{0}), "too large"},
      {"empty header", le_u64(0), "not valid JSON"},
      {"header not JSON", make_file("{\"t\": nope}", ""), "not valid JSON"},
      {"header cut short", make_file("{\"t\":{\"dtype\":\"F32\"", ""), "not valid JSON"},
      {"garbage after the JSON", make_file("{} x", ""), "not valid JSON"},
      {"header padded with NULs", make_file(std::string("{}\0\0", 4), ""), "NUL"},
      {"NUL then more JSON", make_file(std::string("{}\0{\"x\":1}", 10), ""), "NUL"},
      {"header not UTF-8", make_file("{\"\xff\":{}}", ""), "not valid JSON"},
      {"header an array", make_file("[1, 2]", ""), "must be a JSON object"},
      {"header a string", make_file("\"hello\"", ""), "must be a JSON object"},
      {"entry not an object", with_entry("[0, 8]", eight), "must be an object"},
      {"missing dtype", with_entry(R"({"shape":[2],"data_offsets":[0,8]})", eight), "missing \"dtype\""},
      {"missing shape", with_entry(R"({"dtype":"F32","data_offsets":[0,8]})", eight), "missing \"shape\""},
      {"missing data_offsets", with_entry(R"({"dtype":"F32","shape":[2]})", eight), "missing \"data_offsets\""},
      {"dtype not a string", with_entry(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})", eight),
       "\"dtype\" must be a string"},
      {"unknown dtype", with_entry(R"({"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]})", eight),
       "unknown dtype"},
      {"lower-case dtype", with_entry(R"({"dtype":"f32","shape":[2],"data_offsets":[0,8]})", eight),
       "unknown dtype"},
      {"shape not an array", with_entry(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})", eight),
       "\"shape\" must be an array"},
      {"negative dim", with_entry(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", eight), "negative"},
      {"fractional dim", with_entry(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})", eight),
       "not an integer"},
      {"dim as float 2.0", with_entry(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})", eight),
       "not an integer"},
      {"dim as string", with_entry(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})", eight),
       "not an integer"},
      {"shape overflows", with_entry(R"({"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]})", ""),
       "too large"},
      {"dim past int64", with_entry(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]})", eight),
       "too large"},
      {"data_offsets not an array", with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":8})", eight),
       "[begin, end]"},
      {"data_offsets of 3", with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})", eight),
       "[begin, end]"},
      {"data_offsets negative", with_entry(R"({"dtype":"F32","shape":[0],"data_offsets":[-8,-8]})", ""),
       "non-negative integers"},
      {"data_offsets fractional", with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8.0]})", eight),
       "non-negative integers"},
      {"begin > end", with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})", eight), "begin > end"},
      {"offsets out of range", with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", std::string(4, '\0')),
       "out of range"},
      {"offsets far out of range",
       with_entry(R"({"dtype":"F32","shape":[2],"data_offsets":[18446744073709551607,18446744073709551615]})", eight),
       "out of range"},
      {"shape/size mismatch", with_entry(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", eight), "mismatch"},
      {"shape/size mismatch (dtype size)", with_entry(R"({"dtype":"F64","shape":[2],"data_offsets":[0,8]})", eight),
       "mismatch"},
      {"huge shape for a small span",
       with_entry(R"({"dtype":"F64","shape":[1152921504606846976, 4],"data_offsets":[0,8]})", eight), "mismatch"},
      {"overlapping tensors",
       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                 std::string(12, '\0')),
       "overlaps"},
      {"two tensors on the same bytes",
       make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                 eight),
       "overlaps"},
      {"gap between tensors",
       make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                 std::string(12, '\0')),
       "gap"},
      {"gap at the start", with_entry(R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})", eight), "gap"},
      {"trailing bytes no tensor covers", make_file("{" + ok_entry + "}", std::string(12, '\0')), "gap"},
      {"data but no tensors", make_file("{}", "abcd"), "gap"},
      {"duplicate tensor names",
       make_file(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                 eight),
       "duplicate"},
      {"duplicate field in an entry",
       with_entry(R"({"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]})", eight), "duplicate"},
      {"__metadata__ not an object", make_file(R"({"__metadata__":["a"]})", ""), "__metadata__"},
      {"__metadata__ null", make_file(R"({"__metadata__":null})", ""), "__metadata__"},
      {"__metadata__ value not a string", make_file(R"({"__metadata__":{"epoch":3}})", ""), "strings"},
  };
  for (const Case& c : cases) {
    INFO("case: ", std::string(c.what));
    const std::string message = load_error(c.bytes);
    INFO("message: ", message);
    CHECK(contains(message, path));
    CHECK(contains(message, c.word));
    CHECK(contains(message, "load_safetensors"));
  }
}

TEST_CASE("safetensors: a missing file or a directory gives an Error naming it") {
  TempDir dir;
  const std::string missing = dir.file("nope.safetensors");
  std::string message = error_of([&] { load_safetensors(missing); });
  CHECK(contains(message, missing));
  CHECK(contains(message, "does not exist"));
  message = error_of([&] { load_safetensors(dir.path.string()); });
  CHECK(contains(message, dir.path.string()));
  CHECK(contains(message, "directory"));
}

TEST_CASE("safetensors: truncated or corrupted files throw Error, never crash") {
  TempDir dir;
  const std::string good_path = dir.file("good.safetensors");
  const std::string path = dir.file("bad.safetensors");
  Generator gen(3);
  save_safetensors(good_path, {{"a", randn({3}, &gen)}, {"b", scalar_tensor(1.0f)}, {"c", randn({2, 2}, &gen)}},
                   {{"m", "x"}});
  const std::string good = read_bytes(good_path);
  // Every proper prefix is malformed (too short, header cut, or data missing).
  for (size_t n = 0; n < good.size(); ++n) {
    write_bytes(path, good.substr(0, n));
    INFO("prefix of ", n, " bytes");
    CHECK_THROWS_AS(load_safetensors(path), Error);
  }
  // Every single-byte change of the length and header either loads or throws tinydiff::Error.
  const uint64_t header_end = 8 + read_le_u64(good, 0);
  const unsigned char replacements[] = {0x00, '9', '"', '{', ']', ',', ' ', 0xff};
  int loaded = 0, rejected = 0;
  for (size_t i = 0; i < header_end; ++i) {
    for (unsigned char r : replacements) {
      std::string bad = good;
      if (static_cast<unsigned char>(bad[i]) == r) continue;
      bad[i] = static_cast<char>(r);
      write_bytes(path, bad);
      try {
        load_safetensors(path);
        ++loaded;
      } catch (const Error&) {
        ++rejected;
      }
    }
  }
  CHECK(rejected > 0);
  CHECK(loaded + rejected > 0);
}

TEST_CASE("safetensors: save rejects bad names before touching the file") {
  TempDir dir;
  const std::string path = dir.file("names.safetensors");
  const Tensor t = scalar_tensor(1.0f);
  struct Case {
    const char* what;
    NamedTensors tensors;
    const char* word;
  };
  const std::vector<Case> cases = {
      {"duplicate", {{"w", t}, {"b", t}, {"w", t}}, "duplicate"},
      {"empty name", {{"", t}}, "empty"},
      {"reserved name", {{"__metadata__", t}}, "reserved"},
      {"undefined tensor", {{"w", Tensor()}}, "undefined"},
  };
  for (const Case& c : cases) {
    INFO("case: ", std::string(c.what));
    const std::string message = error_of([&] { save_safetensors(path, c.tensors); });
    CHECK(contains(message, path));
    CHECK(contains(message, c.word));
    CHECK(contains(message, "save_safetensors"));
    CHECK_FALSE(fs::exists(path));
  }
  // A name that is not valid UTF-8 cannot be written as JSON.
  const std::string message = error_of([&] { save_safetensors(path, {{"bad\xff", t}}); });
  CHECK(contains(message, "UTF-8"));
  CHECK(dir.entries().empty());
}

TEST_CASE("safetensors: a failed save leaves the old file intact and no temp file behind") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  const Tensor a = from_values({2}, {1.0f, 2.0f});
  save_safetensors(path, {{"a", a}}, {{"step", "1"}});
  const std::string old_bytes = read_bytes(path);
  REQUIRE(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});

  SUBCASE("duplicate name") {
    CHECK_THROWS_AS(save_safetensors(path, {{"a", a}, {"a", a}}), Error);
  }
  SUBCASE("the write itself throws half way") {
    const std::string message = error_of([&] {
      write_file_atomically(path, [](std::ostream& out) {
        out << "partial bytes";
        throw Error("writer: out of disk");
      });
    });
    CHECK(message == "writer: out of disk");  // the writer's own exception passes through
  }
  SUBCASE("the writer leaves its stream failed") {
    const std::string message = error_of([&] {
      write_file_atomically(path, [](std::ostream& out) {
        out << "partial";
        out.setstate(std::ios::badbit);
      });
    });
    CHECK(contains(message, path));
  }
  CHECK(read_bytes(path) == old_bytes);
  CHECK(load_safetensors(path).metadata == Metadata{{"step", "1"}});
  CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
}

TEST_CASE("safetensors: saving to a path that cannot be written throws and leaves nothing behind") {
  TempDir dir;
  const Tensor a = from_values({2}, {1.0f, 2.0f});
  SUBCASE("the target is a directory") {
    const std::string target = dir.file("is_a_dir");
    fs::create_directory(target);
    fs::create_directory(dir.path / "is_a_dir" / "inside");  // non-empty: rename over it must fail
    const std::string message = error_of([&] { save_safetensors(target, {{"a", a}}); });
    CHECK(contains(message, target));
    CHECK(contains(message, "save_safetensors"));
    CHECK(fs::is_directory(target));
    CHECK(fs::is_directory(dir.path / "is_a_dir" / "inside"));
    CHECK(dir.entries() == std::vector<std::string>{"is_a_dir"});
  }
  SUBCASE("the directory does not exist") {
    const std::string target = (dir.path / "no_such_dir" / "x.safetensors").string();
    const std::string message = error_of([&] { save_safetensors(target, {{"a", a}}); });
    CHECK(contains(message, target));
    CHECK(contains(message, "temporary file"));
    CHECK(dir.entries().empty());
  }
}

TEST_CASE("write_file_atomically replaces a file whole, including with a shorter one") {
  TempDir dir;
  const std::string path = dir.file("log.csv");
  write_file_atomically(path, [](std::ostream& out) { out << std::string(200000, 'x'); });  // past the buffer
  CHECK(read_bytes(path) == std::string(200000, 'x'));
  write_file_atomically(path, [](std::ostream& out) { out << "short\n"; });
  CHECK(read_bytes(path) == "short\n");
  CHECK(dir.entries() == std::vector<std::string>{"log.csv"});
}

// ---- hostile headers: deep nesting, huge values, many keys ----

TEST_CASE("safetensors: a deeply nested header is refused, not a stack overflow") {
  TempDir dir;
  const std::string path = dir.file("deep.safetensors");
  const size_t depth = 100000;  // a 200 KB file
  auto repeat = [](const std::string& s, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += s;
    return out;
  };
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  struct Case {
    const char* what;
    std::string header;
  };
  const std::vector<Case> cases = {
      // These used to crash: the error message dump()ed the nested value recursively.
      {"as a shape dimension", R"({"t":{"dtype":"F32","shape":[)" + deep + R"(],"data_offsets":[0,0]}})"},
      {"as data_offsets", R"({"t":{"dtype":"F32","shape":[0],"data_offsets":)" + deep + "}}"},
      {"as a tensor entry", R"({"t":)" + deep + "}"},
      {"as a metadata value", R"({"__metadata__":{"k":)" + deep + "}}"},
      {"as the whole header", deep},
      {"objects, not arrays", repeat("{\"a\":", depth / 8) + "1" + repeat("}", depth / 8)},
  };
  for (const Case& c : cases) {
    INFO("case: ", std::string(c.what));
    write_bytes(path, make_file(c.header, ""));
    const std::string message = error_of([&] { load_safetensors(path); });
    INFO("message: ", message.substr(0, 300));
    CHECK(contains(message, path));
    CHECK(contains(message, "more than 3 levels deep"));
    CHECK(message.size() < 1000);
  }
  // The three levels the format needs still load, and so do unknown fields within them.
  write_bytes(path, make_file(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":{"a":1}}})",
                              le_bytes({float_bits(5.0f)}, 4)));
  CHECK(load_safetensors(path).get("t").to_vector() == std::vector<float>{5.0f});
}

TEST_CASE("safetensors: errors quote at most an excerpt of what the file holds") {
  TempDir dir;
  const std::string path = dir.file("long.safetensors");
  const std::string long_text(1 << 20, 'x');  // 1 MB
  const std::vector<std::pair<const char*, std::string>> headers = {
      {"long tensor name", R"({")" + long_text + R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})"},
      {"long dtype", R"({"t":{"dtype":")" + long_text + R"(","shape":[1],"data_offsets":[0,4]}})"},
      {"long string as a dimension", R"({"t":{"dtype":"F32","shape":[")" + long_text + R"("],"data_offsets":[0,4]}})"},
      {"long data_offsets", R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[")" + long_text + R"(",0,4]}})"},
      {"long duplicate key", R"({")" + long_text + R"(":1,")" + long_text + R"(":1})"},
      {"long metadata key", R"({"__metadata__":{")" + long_text + R"(":1}})"},
      {"unterminated long string (a syntax error quoting its token)", R"({")" + long_text},
  };
  for (const auto& [what, header] : headers) {
    INFO("case: ", std::string(what));
    write_bytes(path, make_file(header, std::string(4, '\0')));
    const std::string message = error_of([&] { load_safetensors(path); });
    INFO("message: ", message.substr(0, 300));
    CHECK(contains(message, path));
    CHECK(contains(message, "xxxx"));  // an excerpt is there...
    CHECK(message.size() < 600);       // ...but not the whole value
  }
}

TEST_CASE("safetensors: headers with 200k metadata keys and 100k tensors load whole, in the tensor order") {
  // The parse used to be quadratic (ordered_json found each key by a linear search: 100k keys took
  // 24 s). Its speed is measured by benchmarks/safetensors_header.cpp, not here: this test checks
  // that a header this large loads completely and keeps the order of the tensors.
  TempDir dir;
  const std::string path = dir.file("many.safetensors");
  const int keys = 200000;
  std::string header = R"({"__metadata__":{)";
  for (int i = 0; i < keys; ++i) header += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":\"v\"";
  header += "}";
  // Empty tensors at one offset come back in header order; name them so that it is not sorted order.
  const int tensors = 100000;
  for (int i = 0; i < tensors; ++i)
    header += ",\"t" + std::to_string((i * 7919) % tensors) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  header += "}";
  write_bytes(path, make_file(header, ""));
  INFO("header of ", header.size(), " bytes");

  const SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata.size() == static_cast<size_t>(keys));
  CHECK(f.metadata.at("k123456") == "v");
  REQUIRE(f.tensors.size() == static_cast<size_t>(tensors));
  bool in_header_order = true;
  for (int i = 0; i < tensors; ++i)
    in_header_order = in_header_order && f.tensors[i].first == "t" + std::to_string((i * 7919) % tensors);
  CHECK(in_header_order);

  // Saving as many tensors (once quadratic too: one ordered_json of all entries) round-trips them.
  NamedTensors many;
  for (int i = 0; i < tensors; ++i) many.emplace_back("w" + std::to_string(i), scalar_tensor(static_cast<float>(i)));
  save_safetensors(dir.file("saved.safetensors"), many, f.metadata);
  const SafetensorsFile back = load_safetensors(dir.file("saved.safetensors"));
  REQUIRE(back.tensors.size() == many.size());
  CHECK(back.tensors[54321].first == "w54321");
  CHECK(back.tensors[54321].second.item() == 54321.0f);
  CHECK(back.metadata == f.metadata);
}

TEST_CASE("write_file_atomically refuses to replace a symlink, a FIFO or a directory, and leaves it as it was") {
  TempDir dir;
  const std::string target = dir.file("target.csv");
  write_bytes(target, "the real file\n");
  auto write_hello = [](const std::string& path) {
    return error_of([&] { write_file_atomically(path, [](std::ostream& out) { out << "hello\n"; }, "save_log"); });
  };
  auto check_refused = [&](const std::string& path, const std::string& kind) {
    const std::string message = write_hello(path);
    INFO("message: ", message);
    CHECK(contains(message, "save_log: cannot write '" + path + "'"));
    CHECK(contains(message, kind));
    CHECK(contains(message, "not a regular file"));
  };

  const std::string link = dir.file("link.csv");
  fs::create_symlink(target, link);
  check_refused(link, "a symbolic link");
  CHECK(fs::is_symlink(fs::symlink_status(link)));
  CHECK(read_bytes(target) == "the real file\n");

  const std::string dangling = dir.file("dangling.csv");
  fs::create_symlink(dir.file("nowhere"), dangling);
  check_refused(dangling, "a symbolic link");
  CHECK_FALSE(fs::exists(dir.file("nowhere")));

  const std::string fifo = dir.file("fifo.csv");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  check_refused(fifo, "a FIFO");
  CHECK(fs::is_fifo(fs::symlink_status(fifo)));

  const std::string empty_dir = dir.file("empty_dir");
  fs::create_directory(empty_dir);
  check_refused(empty_dir, "a directory");

  // A new path and an existing regular file are written as before, and no temp file is left.
  write_file_atomically(dir.file("new.csv"), [](std::ostream& out) { out << "hello\n"; });
  CHECK(read_bytes(dir.file("new.csv")) == "hello\n");
  write_file_atomically(target, [](std::ostream& out) { out << "replaced\n"; });
  CHECK(read_bytes(target) == "replaced\n");
  CHECK(dir.entries() == std::vector<std::string>{"dangling.csv", "empty_dir", "fifo.csv", "link.csv", "new.csv",
                                                  "target.csv"});
}

TEST_CASE("write_file_atomically removes the temporary files a killed writer left, and only those") {
  TempDir dir;
  const std::string path = dir.file("checkpoint.safetensors");
  // A process that has exited (and been reaped): its pid names no process now.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string dead = std::to_string(child);
  const std::string alive = std::to_string(::getppid());  // the process that started this test
  auto leave = [&](const std::string& name, bool an_hour_old) {
    write_bytes(dir.file(name), "half a checkpoint");
    if (an_hour_old)
      fs::last_write_time(dir.file(name), fs::file_time_type::clock::now() - std::chrono::hours(1));
  };
  leave("checkpoint.safetensors.tmp." + dead + ".0", true);   // a killed writer's: removed
  leave("checkpoint.safetensors.tmp." + dead + ".7", true);   // removed
  leave("checkpoint.safetensors.tmp." + dead + ".1", false);  // written a moment ago: kept
  leave("checkpoint.safetensors.tmp." + alive + ".0", true);  // its writer is alive: kept
  leave("ema.safetensors.tmp." + dead + ".0", true);          // another file's: kept until it is written
  leave("checkpoint.safetensors.tmp.x" + dead + ".0", true);  // not a temporary file's name: kept
  write_file_atomically(path, [](std::ostream& out) { out << "whole\n"; });
  CHECK(read_bytes(path) == "whole\n");
  std::vector<std::string> kept = {"checkpoint.safetensors", "checkpoint.safetensors.tmp." + alive + ".0",
                                    "checkpoint.safetensors.tmp." + dead + ".1",
                                    "checkpoint.safetensors.tmp.x" + dead + ".0", "ema.safetensors.tmp." + dead + ".0"};
  std::sort(kept.begin(), kept.end());
  CHECK(dir.entries() == kept);
}

TEST_CASE("write_file_atomically: a leftover under this process's own pid (a restarted container) does not block it") {
  TempDir dir;
  const std::string path = dir.file("log.csv"), me = std::to_string(::getpid());
  // Which temporary name this process used last: seen from inside the write.
  std::string used;
  write_file_atomically(dir.file("probe.csv"), [&](std::ostream& out) {
    for (const std::string& name : dir.entries())
      if (name.rfind("probe.csv.tmp.", 0) == 0) used = name;
    out << "probe\n";
  });
  const std::string prefix = "probe.csv.tmp." + me + ".";
  REQUIRE(used.rfind(prefix, 0) == 0);
  const unsigned long next = std::stoul(used.substr(prefix.size())) + 1;
  // The next three names are taken by files this process cannot tell from its own (written now),
  // and one an hour old, from before this process, is a dead namesake's.
  std::vector<std::string> taken;
  for (unsigned long n = next; n < next + 3; ++n) {
    taken.push_back("log.csv.tmp." + me + "." + std::to_string(n));
    write_bytes(dir.file(taken.back()), "someone's half-written log");
  }
  const std::string old_namesake = "log.csv.tmp." + me + "." + std::to_string(next + 50);
  write_bytes(dir.file(old_namesake), "an earlier life's");
  fs::last_write_time(dir.file(old_namesake), fs::file_time_type::clock::now() - std::chrono::hours(1));
  write_file_atomically(path, [](std::ostream& out) { out << "whole\n"; });
  CHECK(read_bytes(path) == "whole\n");
  std::vector<std::string> kept = taken;
  kept.push_back("log.csv");
  kept.push_back("probe.csv");
  std::sort(kept.begin(), kept.end());
  CHECK(dir.entries() == kept);
}

TEST_CASE("safetensors integer tensors: exact through get_indices; get refuses a value float32 cannot hold") {
  TempDir dir;
  const std::string path = dir.file("indices.safetensors");
  const int64_t big = (int64_t{1} << 24) + 1;  // the first integer float32 rounds (to 2^24)
  const IndexTensor labels({2, 2}, {3, -big, 0, 9});
  const IndexTensor small = IndexTensor::of({-(int64_t{1} << 24), 5, int64_t{1} << 24});
  const IndexTensor huge = IndexTensor::of({std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()});
  save_safetensors(path, {{"w", tensor({0.5f, -1.0f})}}, {{"k", "v"}},
                   {{"labels", labels}, {"small", small}, {"huge", huge}, {"none", IndexTensor({0, 3}, {})}});

  // What save writes: I64 entries after the F32 ones, in the given order.
  const std::string bytes = read_bytes(path);
  const auto header = nlohmann::json::parse(bytes.substr(8, read_le_u64(bytes, 0)));
  CHECK(header.at("labels").at("dtype") == "I64");
  CHECK(header.at("labels").at("shape") == nlohmann::json::array({2, 2}));
  CHECK(header.at("labels").at("data_offsets") == nlohmann::json::array({8, 40}));

  const SafetensorsFile f = load_safetensors(path);
  CHECK(f.get_indices("labels").shape == Shape{2, 2});
  CHECK(f.get_indices("labels").data == labels.data);
  CHECK(f.get_indices("huge").data == huge.data);
  CHECK(f.get_indices("none").shape == Shape{0, 3});
  // within 2^24 the float path holds the same values exactly
  CHECK(f.get("small").to_vector() == std::vector<float>{-16777216.0f, 5.0f, 16777216.0f});
  CHECK(f.get_indices("small").data == small.data);
  CHECK(f.get("none").shape() == Shape{0, 3});
  // beyond 2^24 it refuses, naming the tensor, the value and get_indices
  const std::string message = error_of([&] { f.get("labels"); });
  INFO(message);
  CHECK(message.find("SafetensorsFile::get: tensor 'labels'") == 0);
  CHECK(message.find("16777217") != std::string::npos);
  CHECK(message.find("position 1") != std::string::npos);
  CHECK(message.find("2^24") != std::string::npos);
  CHECK(message.find("get_indices('labels')") != std::string::npos);
  CHECK(f.contains("labels"));
  CHECK(f.contains("huge"));
  CHECK_THROWS_AS(f.get("huge"), Error);
  CHECK(f.tensors.size() == 3);  // w, small, none
  // get_indices of a float tensor, or of no tensor
  const std::string not_int = error_of([&] { f.get_indices("w"); });
  CHECK(not_int.find("SafetensorsFile::get_indices: tensor 'w'") == 0);
  CHECK(not_int.find("get('w')") != std::string::npos);
  CHECK(error_of([&] { f.get_indices("nope"); }).find("no tensor named 'nope'") != std::string::npos);
  // a name used twice across the two lists
  CHECK(error_of([&] { save_safetensors(path, {{"w", tensor({1.0f})}}, {}, {{"w", small}}); })
            .find("duplicate tensor name 'w'") != std::string::npos);
}

TEST_CASE("safetensors integer tensors: every integer dtype and BOOL read exactly; a U64 past int64 fails the load") {
  TempDir dir;
  const std::string path = dir.file("ints.safetensors");
  struct Case {
    const char* name;
    const char* dtype;
    std::string bytes;
    std::vector<int64_t> expected;
  };
  const std::vector<Case> cases = {
      {"i64", "I64", le_bytes({123456789, 0xFFFFFFFFFFFFFFFFull}, 8), {123456789, -1}},
      {"i32", "I32", le_bytes({0x7FFFFFFF, 0x80000000ull}, 4), {2147483647, -2147483648LL}},
      {"i16", "I16", le_bytes({0x7FFF, 0x8000}, 2), {32767, -32768}},
      {"i8", "I8", le_bytes({0x80, 0x7F}, 1), {-128, 127}},
      {"u64", "U64", le_bytes({0x7FFFFFFFFFFFFFFFull}, 8), {std::numeric_limits<int64_t>::max()}},
      {"u32", "U32", le_bytes({4000000001ull}, 4), {4000000001LL}},
      {"u16", "U16", le_bytes({65535}, 2), {65535}},
      {"u8", "U8", le_bytes({255}, 1), {255}},
      {"flags", "BOOL", le_bytes({1, 0, 2}, 1), {1, 0, 1}},
  };
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::string data;
  for (const Case& c : cases) {
    header[c.name] = {{"dtype", c.dtype},
                      {"shape", nlohmann::ordered_json::array({c.expected.size()})},
                      {"data_offsets", nlohmann::ordered_json::array({data.size(), data.size() + c.bytes.size()})}};
    data += c.bytes;
  }
  write_bytes(path, make_file(header.dump(), data));
  const SafetensorsFile f = load_safetensors(path);
  for (const Case& c : cases) {
    INFO("dtype ", std::string(c.dtype));
    CHECK(f.get_indices(c.name).data == c.expected);
  }
  // A U64 beyond int64: neither float32 nor int64 holds it, so the load stops.
  write_bytes(path, make_file(R"({"big":{"dtype":"U64","shape":[2],"data_offsets":[0,16]}})",
                              le_bytes({1, 0x8000000000000000ull}, 8)));
  const std::string message = error_of([&] { load_safetensors(path); });
  CHECK(message.find("tensor 'big' (U64)") != std::string::npos);
  CHECK(message.find("position 1") != std::string::npos);
}
