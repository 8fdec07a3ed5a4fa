// Checkpoints: module round trips (bit-exact), strict-load errors, and resuming
// training from saved optimiser / scheduler / EMA state bit-exactly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <tinydiff/io/idx.hpp>
#include <tinydiff/tinydiff.hpp>
#include <zlib.h>

#include "test_helpers.hpp"

using namespace tinydiff;
namespace fs = std::filesystem;
using test_helpers::TempDir;

namespace {

const TempDir& temp() {
  static TempDir dir;
  return dir;
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())) == 0;
}

// A small conv model with every kind of entry: parameters, a buffer, nested children.
struct Model : nn::Module {
  explicit Model(int64_t hidden = 8, bool extra = false) : Module("Model") {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, hidden, 3).padding(1)));
    norm = register_module("norm", std::make_shared<nn::GroupNorm>(nn::GroupNormOptions(2, hidden)));
    head = register_module("head", std::make_shared<nn::Linear>(nn::LinearOptions(hidden, 2)));
    if (extra) register_module("extra", std::make_shared<nn::Linear>(nn::LinearOptions(2, 2)));
    register_buffer("table", arange(0, 5));
  }
  Tensor forward(const Tensor& x) {  // x [N, 1, H, W] -> [N, 2]
    Tensor h = silu(norm->forward(conv->forward(x)));
    return head->forward(h.mean({2, 3}));
  }
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::GroupNorm> norm;
  std::shared_ptr<nn::Linear> head;
};

}  // namespace

TEST_CASE("module checkpoint round trip is bit-exact and keeps metadata") {
  manual_seed(1);
  Model a;
  a.conv->weight.data()[0] = 1e-30f;  // awkward values survive too
  a.head->bias.data()[1] = -0.0f;
  const std::string path = temp().file("model.safetensors");
  io::save(a, path, {{"step", "123"}});
  manual_seed(2);
  Model b;
  Tensor handle = b.conv->weight;
  const io::Metadata meta = io::load(b, path);
  CHECK(meta.at("step") == "123");
  const auto sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    CHECK(sa[i].first == sb[i].first);
    CHECK(bit_equal(sa[i].second, sb[i].second));
  }
  CHECK(bit_equal(handle, a.conv->weight));  // loaded in place
  // The file holds exactly the state_dict's keys.
  const auto file = io::load_safetensors(path);
  REQUIRE(file.tensors.size() == sa.size());
  for (auto& entry : sa) CHECK(file.contains(entry.first));
}

TEST_CASE("strict load: missing, unexpected and mismatched keys throw and change nothing") {
  manual_seed(3);
  Model plain, with_extra(8, /*extra=*/true), wider(16);
  const std::string p_plain = temp().file("plain.safetensors"), p_extra = temp().file("extra.safetensors"),
                    p_wide = temp().file("wide.safetensors");
  io::save(plain, p_plain);
  io::save(with_extra, p_extra);
  io::save(wider, p_wide);

  manual_seed(4);
  Model target;
  const auto before = target.state_dict();
  std::vector<Tensor> before_copy;
  for (auto& e : before) before_copy.push_back(e.second.clone());

  // Unexpected keys: the file has extra.weight and extra.bias.
  CHECK_THROWS_WITH_AS(io::load(target, p_extra), doctest::Contains("unexpected keys (2): extra.weight, extra.bias"),
                       Error);
  // Missing keys: the model has extra.*, the file does not.
  CHECK_THROWS_WITH_AS(io::load(with_extra, p_plain), doctest::Contains("missing keys (2): extra.weight, extra.bias"),
                       Error);
  // Shape mismatch, listing every mismatched key with both shapes and naming the file.
  try {
    io::load(target, p_wide);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("size mismatch (5)") != std::string::npos);
    CHECK(msg.find("loading checkpoint '" + p_wide + "' into Model") != std::string::npos);
    CHECK(msg.find("conv.weight has shape [16, 1, 3, 3] there and [8, 1, 3, 3] in the model") != std::string::npos);
    CHECK(msg.find("head.weight") != std::string::npos);
  }
  const auto now = target.state_dict();
  for (size_t i = 0; i < now.size(); ++i) CHECK(bit_equal(now[i].second, before_copy[i]));

  // A file that is not there.
  CHECK_THROWS_AS(io::load(target, temp().file("nope.safetensors")), Error);
}

namespace {

// Trains a Model with an optimiser, an LR schedule and an EMA for some steps on fixed data.
struct Run {
  std::shared_ptr<Model> model;
  std::unique_ptr<optim::Optimizer> opt;
  std::unique_ptr<optim::LRScheduler> sched;
  std::unique_ptr<optim::EMA> ema;
  Tensor x, y;

  Run(int kind, uint64_t seed) {
    manual_seed(seed);
    model = std::make_shared<Model>();
    Generator data(99);
    x = randn({4, 1, 5, 5}, &data);
    y = randn({4, 2}, &data);
    const auto params = model->parameters();
    if (kind == 0) opt = std::make_unique<optim::Adam>(params, optim::AdamOptions(1e-2).weight_decay(1e-3));
    if (kind == 1) opt = std::make_unique<optim::AdamW>(params, optim::AdamWOptions(1e-2).amsgrad(true));
    if (kind == 2)
      opt = std::make_unique<optim::SGD>(params, optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-4));
    sched = std::make_unique<optim::WarmupCosineLR>(*opt, 3, 12, 1e-4);
    ema = std::make_unique<optim::EMA>(*model, optim::EMAOptions().decay(0.99));
  }
  void train(int steps) {
    for (int i = 0; i < steps; ++i) {
      opt->zero_grad();
      mse_loss(model->forward(x), y).backward();
      optim::clip_grad_norm_(model->parameters(), 1.0);
      opt->step();
      sched->step();
      ema->update();
    }
  }
};

}  // namespace

TEST_CASE("resuming from saved model, optimiser, schedule and EMA state is bit-exact") {
  const char* names[] = {"Adam", "AdamW+amsgrad", "SGD nesterov"};
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(names[kind]);
    Run straight(kind, 10);
    straight.train(10);

    Run first(kind, 10);
    first.train(4);
    const std::string pm = temp().file("m.safetensors"), po = temp().file("o.safetensors"),
                      pe = temp().file("e.safetensors");
    io::save(*first.model, pm, {{"step", std::to_string(first.sched->last_epoch())}});
    io::save(*first.opt, po);
    io::save(*first.ema, pe);

    Run resumed(kind, 77);  // different initial weights: everything must come from the files
    const io::Metadata meta = io::load(*resumed.model, pm);
    io::load(*resumed.opt, po);
    io::load(*resumed.ema, pe);
    resumed.sched->set_last_epoch(std::stoll(meta.at("step")));
    resumed.train(6);

    const auto a = straight.model->state_dict(), b = resumed.model->state_dict();
    for (size_t i = 0; i < a.size(); ++i) CHECK(bit_equal(a[i].second, b[i].second));
    const auto oa = straight.opt->state_dict(), ob = resumed.opt->state_dict();
    REQUIRE(oa.size() == ob.size());
    for (size_t i = 0; i < oa.size(); ++i) {
      CHECK(oa[i].first == ob[i].first);
      CHECK(bit_equal(oa[i].second, ob[i].second));
    }
    const auto ea = straight.ema->state_dict(), eb = resumed.ema->state_dict();
    for (size_t i = 0; i < ea.size(); ++i) CHECK(bit_equal(ea[i].second, eb[i].second));
    CHECK(straight.opt->get_lr() == resumed.opt->get_lr());
  }
}

TEST_CASE("optimiser state keys, and load errors") {
  Run run(0, 5);
  run.train(2);
  const auto state = run.opt->state_dict();
  CHECK(state[0].first == "state.0.step");
  CHECK(state[0].second.item() == 2.0f);
  CHECK(state[1].first == "state.0.exp_avg");
  CHECK(state[2].first == "state.0.exp_avg_sq");
  CHECK(state.size() == 3 * run.model->parameters().size());

  const std::string po = temp().file("adam.safetensors");
  io::save(*run.opt, po);
  Run sgd(2, 5);
  CHECK_THROWS_WITH_AS(io::load(*sgd.opt, po), doctest::Contains("holds the state of Adam"), Error);
  // Without the file's metadata: the buffer names are checked.
  CHECK_THROWS_WITH_AS(sgd.opt->load_state_dict(state), doctest::Contains("'exp_avg' is not part of SGD's state"),
                       Error);

  Run other(0, 6);
  auto bad = state;
  bad[1].second = zeros({3});
  CHECK_THROWS_WITH_AS(other.opt->load_state_dict(bad), doctest::Contains("has shape [3]"), Error);
  bad = state;
  bad.push_back({"state.99.step", scalar_tensor(1)});
  CHECK_THROWS_WITH_AS(other.opt->load_state_dict(bad), doctest::Contains("only"), Error);
  bad = state;
  bad.push_back({"momentum", scalar_tensor(1)});
  CHECK_THROWS_AS(other.opt->load_state_dict(bad), Error);
  bad = state;
  bad.erase(bad.begin() + 2);  // state.0.exp_avg_sq
  CHECK_THROWS_WITH_AS(other.opt->load_state_dict(bad), doctest::Contains("no 'exp_avg_sq'"), Error);
  CHECK(other.opt->state_dict().empty());  // nothing was loaded by the failed calls
}

TEST_CASE("EMA state: keys and strict load") {
  Run run(0, 8);
  run.train(3);
  const auto state = run.ema->state_dict();
  CHECK(state.front().first == "shadow.conv.weight");
  CHECK(state.back().first == "num_updates");
  CHECK(state.back().second.item() == 3.0f);
  Run other(0, 9);
  auto bad = state;
  bad.pop_back();
  CHECK_THROWS_AS(other.ema->load_state_dict(bad), Error);
  bad = state;
  bad[0].second = zeros({2});
  CHECK_THROWS_AS(other.ema->load_state_dict(bad), Error);
  other.ema->load_state_dict(state);
  CHECK(other.ema->num_updates() == 3);
}

// ---- IDX files, gzipped: trailers, trailing garbage and decompression bombs ----

namespace {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
std::string write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// One gzip member holding `head` followed by `zeros` zero bytes, deflated chunk by
// chunk (so that a bomb of many megabytes costs little memory to build).
std::vector<uint8_t> gzip_member(const std::vector<uint8_t>& head, uint64_t zeros = 0) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> packed, out(1 << 16);
  const std::vector<uint8_t> zero_chunk(1 << 20, 0);
  auto feed = [&](const uint8_t* data, size_t n, int flush) {
    z.next_in = const_cast<uint8_t*>(data);
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      deflate(&z, flush);
      packed.insert(packed.end(), out.data(), out.data() + (out.size() - z.avail_out));
    } while (z.avail_out == 0);
  };
  feed(head.data(), head.size(), Z_NO_FLUSH);
  for (uint64_t left = zeros; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, zero_chunk.size()));
    feed(zero_chunk.data(), n, Z_NO_FLUSH);
    left -= n;
  }
  feed(nullptr, 0, Z_FINISH);
  deflateEnd(&z);
  return packed;
}

// An IDX header: unsigned bytes, these dims.
std::vector<uint8_t> idx_header(const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> bytes = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(d >> shift));
  return bytes;
}

std::string idx_error(const std::string& path, uint64_t max_bytes = io::kMaxIdxBytes) {
  try {
    io::read_idx(path, max_bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("IDX: a gzip bomb is refused by the size its header claims, before it is inflated") {
  // 100,000 28x28 images of zeros: 78 MB of data in a 76 KB file, more than the 64 MiB default.
  const std::vector<uint8_t> header = idx_header({100000, 28, 28});
  const std::string bomb = write_file_bytes(temp().file("bomb-idx3-ubyte.gz"), gzip_member(header, 100000 * 784));
  CHECK(fs::file_size(bomb) < 100000);
  std::string message = idx_error(bomb);
  INFO("message: ", message);
  CHECK(message.find("read_idx: '" + bomb + "'") == 0);
  CHECK(message.find("claim more than 67108864 bytes") != std::string::npos);

  // The limit is a parameter: a small one refuses a small file, a large one reads the bomb's claim.
  const std::string small = write_file_bytes(temp().file("small-idx1-ubyte.gz"), gzip_member(idx_header({100}), 100));
  CHECK(idx_error(small, 99).find("claim more than 99 bytes") != std::string::npos);
  CHECK(io::read_idx(small, 100).data == std::vector<uint8_t>(100, 0));
  CHECK(io::read_idx(small).dims == std::vector<int64_t>{100});
}

TEST_CASE("IDX: gzip members must end with a correct CRC32/length trailer, and nothing else may follow") {
  std::vector<uint8_t> pixels(3 * 4 * 5);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
  const std::string good = temp().file("good-idx3-ubyte.gz");
  io::write_idx(good, {3, 4, 5}, pixels);
  const std::vector<uint8_t> gz = read_file_bytes(good);
  REQUIRE(gz.size() > 18);
  CHECK(io::read_idx(good).data == pixels);

  auto variant = [&](const std::string& name, std::vector<uint8_t> bytes) {
    return write_file_bytes(temp().file(name), bytes);
  };
  std::vector<uint8_t> no_trailer(gz.begin(), gz.end() - 8);
  std::vector<uint8_t> half_trailer(gz.begin(), gz.end() - 3);
  std::vector<uint8_t> bad_crc = gz, bad_length = gz;
  bad_crc[gz.size() - 8] ^= 0x01;     // CRC32: the first 4 trailer bytes
  bad_length[gz.size() - 4] ^= 0x01;  // ISIZE: the last 4
  std::vector<uint8_t> garbage = gz, zero_padding = gz;
  for (char c : std::string("garbage")) garbage.push_back(static_cast<uint8_t>(c));
  zero_padding.insert(zero_padding.end(), 512, 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {variant("no_trailer.gz", no_trailer), "ends before its CRC32/length trailer"},
      {variant("half_trailer.gz", half_trailer), "ends before its CRC32/length trailer"},
      {variant("bad_crc.gz", bad_crc), "incorrect data check"},
      {variant("bad_length.gz", bad_length), "incorrect length check"},
      {variant("garbage.gz", garbage), "trailing bytes after the end of the gzip data"},
      {variant("zero_padding.gz", zero_padding), "trailing bytes after the end of the gzip data"},
  };
  for (const auto& [path, problem] : cases) {
    const std::string message = idx_error(path);
    INFO("file: ", path, "\nmessage: ", message);
    CHECK(message.find("read_idx: '" + path + "' is corrupt") == 0);
    CHECK(message.find(problem) != std::string::npos);
  }

  // Two members one after the other are one gzip file (RFC 1952), as gzip itself reads them.
  std::vector<uint8_t> whole = idx_header({3, 4, 5});
  whole.insert(whole.end(), pixels.begin(), pixels.end());
  std::vector<uint8_t> two_members = gzip_member(std::vector<uint8_t>(whole.begin(), whole.begin() + 30));
  const std::vector<uint8_t> second = gzip_member(std::vector<uint8_t>(whole.begin() + 30, whole.end()));
  two_members.insert(two_members.end(), second.begin(), second.end());
  CHECK(io::read_idx(variant("two_members.gz", two_members)).data == pixels);
  // And a plain file reads as before.
  CHECK(io::read_idx(variant("plain-idx3-ubyte", whole)).data == pixels);
}
