// Training mechanics: exact resume, resume settings, checkpoints of another architecture, bad data
// files, and the command line's checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "test_helpers.hpp"

#include "../app/cli.hpp"
#include "../app/train.hpp"

using namespace ddpm;
using namespace tinydiff;
namespace fs = std::filesystem;

namespace {
using test_helpers::TempDir;

// A small model and a short run, so the test takes seconds.
TrainRun tiny_run(const std::string& out) {
  TrainRun run;
  run.train = preset("test");
  run.train.steps = 6;
  run.train.batch = 3;
  run.train.checkpoint_every = 0;
  run.train.log_every = 100;
  run.model.base = 8;
  run.model.mults = {1, 2};
  run.model.groups = 2;
  run.out_dir = out;
  return run;
}

void check_same_tensors(const std::string& a, const std::string& b) {
  const io::SafetensorsFile fa = io::load_safetensors(a), fb = io::load_safetensors(b);
  REQUIRE(fa.tensors.size() == fb.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i) {
    INFO(fa.tensors[i].first);
    CHECK(fa.tensors[i].first == fb.tensors[i].first);
    CHECK(fa.tensors[i].second.to_vector() == fb.tensors[i].second.to_vector());
  }
  CHECK(fa.metadata.at("rng") == fb.metadata.at("rng"));
  CHECK(fa.metadata.at("loader") == fb.metadata.at("loader"));
  CHECK(fa.metadata.at("step") == fb.metadata.at("step"));
}
}  // namespace

TEST_CASE("N steps, stop, resume for N more gives the same weights as 2N uninterrupted") {
  TempDir dir;
  TrainRun whole = tiny_run(dir / "whole");
  REQUIRE(train(whole) == 0);

  TrainRun first = tiny_run(dir / "split");
  first.stop_after = 3;
  REQUIRE(train(first) == 0);
  {
    const io::SafetensorsFile half = io::load_safetensors(dir / "split/checkpoint.safetensors");
    CHECK(half.metadata.at("step") == "3");
  }
  TrainRun second = tiny_run(dir / "split");
  second.resume = dir / "split/checkpoint.safetensors";
  REQUIRE(train(second) == 0);
  check_same_tensors(dir / "whole/checkpoint.safetensors", dir / "split/checkpoint.safetensors");
  // The log of the resumed run continues the first one.
  std::ifstream csv(dir / "split/log.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header == "step,loss,lr,grad_norm,images_per_sec");
}

// The loader's place in a checkpoint: {"epoch": e, "position": p} (its RNG state aside).
std::pair<int64_t, int64_t> loader_place(const std::string& checkpoint) {
  const data::DataLoader::State s =
      loader_from_string(io::load_safetensors(checkpoint).metadata.at("loader"), checkpoint);
  return {s.epoch, s.position};
}

TEST_CASE("batches are shuffled epochs: a stop mid-epoch or at an epoch's end resumes to the same weights") {
  // 10 training digits in batches of 3: an epoch is 3 batches (drop_last), so 6 steps are 2 epochs.
  TempDir dir;
  std::vector<uint8_t> pixels(10 * 28 * 28), labels(10);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 37) % 256);
  for (uint8_t k = 0; k < 10; ++k) labels[k] = k;
  io::write_idx(dir / "train-images-idx3-ubyte", {10, 28, 28}, pixels);
  io::write_idx(dir / "train-labels-idx1-ubyte", {10}, labels);
  auto ten_digits = [&](const std::string& out) {
    TrainRun run = tiny_run(out);
    run.data_dir = dir.path.string();
    return run;
  };
  REQUIRE(train(ten_digits(dir / "whole")) == 0);
  CHECK(loader_place(dir / "whole/checkpoint.safetensors") == std::pair<int64_t, int64_t>{2, 0});
  for (int64_t stop : {3, 4}) {
    CAPTURE(stop);
    const std::string split = dir / ("split" + std::to_string(stop));
    TrainRun first = ten_digits(split);
    first.stop_after = stop;
    REQUIRE(train(first) == 0);
    CHECK(loader_place(split + "/checkpoint.safetensors") == std::pair<int64_t, int64_t>{stop / 3, 3 * (stop % 3)});
    TrainRun second = ten_digits(split);
    second.resume = split + "/checkpoint.safetensors";
    REQUIRE(train(second) == 0);
    check_same_tensors(dir / "whole/checkpoint.safetensors", split + "/checkpoint.safetensors");
  }
  // A batch larger than the training set would make epochs of no batches.
  TrainRun too_big = ten_digits(dir / "big");
  too_big.train.batch = 11;
  CHECK_THROWS_WITH_AS(train(too_big), doctest::Contains("--batch 11 is larger than the 10 training images"),
                       tinydiff::Error);
}

TEST_CASE("a checkpoint without the loader's state (written before shuffled epochs) is refused on resume") {
  TempDir dir;
  TrainRun first = tiny_run(dir / "old");
  first.stop_after = 2;
  REQUIRE(train(first) == 0);
  const io::SafetensorsFile file = io::load_safetensors(dir / "old/checkpoint.safetensors");
  io::Metadata metadata = file.metadata;
  metadata.erase("loader");
  io::save_safetensors(dir / "old/checkpoint.safetensors", file.tensors, metadata);
  TrainRun second = tiny_run(dir / "old");
  second.resume = dir / "old/checkpoint.safetensors";
  CHECK_THROWS_WITH_AS(train(second), doctest::Contains("has no 'loader' metadata"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(train(second), doctest::Contains("start a fresh run"), tinydiff::Error);
  for (const std::string bad : {"", "{}", "{\"epoch\": -1, \"position\": 0, \"rng\": \"\"}", "[1, 2]"}) {
    CAPTURE(bad);
    metadata["loader"] = bad;
    io::save_safetensors(dir / "old/checkpoint.safetensors", file.tensors, metadata);
    CHECK_THROWS_WITH_AS(train(second), doctest::Contains("has a malformed 'loader' metadata"), tinydiff::Error);
  }
}

TEST_CASE("a checkpoint of another architecture is refused with a clear error") {
  TempDir dir;
  TrainRun run = tiny_run(dir / "a");
  run.train.steps = 1;
  REQUIRE(train(run) == 0);

  TrainRun other = tiny_run(dir / "b");
  other.model.base = 16;
  other.resume = dir / "a/checkpoint.safetensors";
  CHECK_THROWS_WITH_AS(train(other), doctest::Contains("--base 16 (the checkpoint's run: 8)"), tinydiff::Error);

  // A weights file loads only into its own architecture when the metadata is absent too.
  UNetConfig small;
  small.base = 8;
  small.mults = {1, 2};
  small.groups = 2;
  UNet model(small);
  io::save(model, dir / "plain.safetensors");  // no metadata: sample falls back to the flags
  CHECK_THROWS_WITH_AS(load_model_for_sampling(dir / "plain.safetensors", true, UNetConfig{}, DiffusionConfig{}),
                       doctest::Contains("shape"), tinydiff::Error);
  CHECK_NOTHROW(load_model_for_sampling(dir / "plain.safetensors", true, small, DiffusionConfig{}));
  // A weights file is not a training checkpoint.
  TrainRun from_weights = tiny_run(dir / "c");
  from_weights.resume = dir / "a/ema.safetensors";
  CHECK_THROWS_WITH_AS(train(from_weights), doctest::Contains("not a ddpm_mnist training checkpoint"), tinydiff::Error);
}

TEST_CASE("log.csv: a resumed run whose log was lost starts it with a header; a failed write is an error") {
  TempDir dir;
  TrainRun first = tiny_run(dir / "log");
  first.stop_after = 2;
  REQUIRE(train(first) == 0);
  fs::remove(dir / "log/log.csv");  // as if killed before its first line reached the disk
  TrainRun second = tiny_run(dir / "log");
  second.resume = dir / "log/checkpoint.safetensors";
  second.stop_after = 4;
  REQUIRE(train(second) == 0);
  std::ifstream csv(dir / "log/log.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header == "step,loss,lr,grad_norm,images_per_sec");
  // A full disk: log.csv is /dev/full (Linux), whose writes fail with ENOSPC.
  if (!fs::exists("/dev/full")) return;
  fs::remove(dir / "log/log.csv");
  fs::create_symlink("/dev/full", dir / "log/log.csv");
  TrainRun third = tiny_run(dir / "log");
  third.resume = dir / "log/checkpoint.safetensors";
  third.train.log_every = 1;
  CHECK_THROWS_WITH_AS(train(third), doctest::Contains("log.csv' failed at step 5 (is the disk full?)"),
                       tinydiff::Error);
}

// Every tensor of a safetensors file is finite.
bool file_is_finite(const std::string& path) {
  const io::SafetensorsFile file = io::load_safetensors(path);
  for (const auto& entry : file.tensors) {
    const Tensor& t = entry.second;
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(t.data()[i])) return false;
  }
  return true;
}

TEST_CASE("a non-finite loss stops training and keeps the last good checkpoint") {
  TempDir dir;
  TrainRun run = tiny_run(dir / "nan");
  run.train.steps = 3;
  run.train.lr = 1e30;  // the first update is finite but huge; the next loss is not finite
  run.train.warmup = 0;
  run.train.grad_clip = 0;
  run.train.checkpoint_every = 1;
  const int status = train(run);
  CHECK(status == 3);
  // The checkpoint of step 1 (the last finite loss) is still there, and nothing half-written.
  const io::SafetensorsFile kept = io::load_safetensors(dir / "nan/checkpoint.safetensors");
  CHECK(kept.metadata.at("step") == "1");
  for (const auto& entry : fs::directory_iterator(dir.path / "nan"))
    CHECK(entry.path().string().find(".tmp") == std::string::npos);
}

TEST_CASE("an update that makes the weights non-finite stops training before they are saved") {
  TempDir dir;
  TrainRun run = tiny_run(dir / "inf");
  run.train.steps = 3;
  run.train.lr = 3e38f;  // the first update overflows the weights while its loss was finite
  run.train.warmup = 0;
  run.train.grad_clip = 0;
  run.train.checkpoint_every = 1;
  CHECK(train(run) == 3);
  // No checkpoint holds a non-finite value (here none was written: step 1 was never good).
  for (const char* name : {"checkpoint.safetensors", "ema.safetensors"}) {
    const std::string path = dir / (std::string("inf/") + name);
    if (fs::exists(path)) CHECK(file_is_finite(path));
  }
}

TEST_CASE("corrupt or truncated IDX files give errors naming the file") {
  TempDir dir;
  const std::string good = dir / "good-idx3-ubyte.gz";
  std::vector<uint8_t> pixels(2 * 28 * 28, 7);
  io::write_idx(good, {2, 28, 28}, pixels);
  const io::IdxArray back = io::read_idx(good);
  CHECK(back.dims == std::vector<int64_t>{2, 28, 28});
  CHECK(back.data == pixels);

  auto write_raw = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    std::ofstream f(dir / name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return dir / name;
  };
  std::vector<uint8_t> header = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28};
  std::vector<uint8_t> truncated = header;
  truncated.resize(header.size() + 100, 1);
  CHECK_THROWS_WITH_AS(io::read_idx(write_raw("trunc", truncated)), doctest::Contains("truncated"), tinydiff::Error);
  std::vector<uint8_t> bad_magic = header;
  bad_magic[0] = 1;
  CHECK_THROWS_WITH_AS(io::read_idx(write_raw("magic", bad_magic)), doctest::Contains("bad magic"), tinydiff::Error);
  std::vector<uint8_t> bad_type = header;
  bad_type[2] = 0x0d;
  CHECK_THROWS_WITH_AS(io::read_idx(write_raw("type", bad_type)), doctest::Contains("unsupported element type"),
                       tinydiff::Error);
  std::vector<uint8_t> extra = header;
  extra.resize(header.size() + 2 * 28 * 28 + 5, 0);
  CHECK_THROWS_WITH_AS(io::read_idx(write_raw("extra", extra)), doctest::Contains("trailing"), tinydiff::Error);
  std::vector<uint8_t> zero_dim = header;
  zero_dim[7] = 0;
  CHECK_THROWS_WITH_AS(io::read_idx(write_raw("zero", zero_dim)), doctest::Contains("size 0"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(io::read_idx(write_raw("short", {0, 0})), doctest::Contains("truncated"), tinydiff::Error);
  CHECK_THROWS_WITH_AS(io::read_idx(dir / "missing"), doctest::Contains("cannot open"), tinydiff::Error);
  // A gzip stream cut in the middle.
  std::ifstream in(good, std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  CHECK_THROWS_AS(io::read_idx(write_raw("cut.gz", gz)), tinydiff::Error);
  // Images and labels that disagree.
  io::write_idx(dir / "labels-idx1-ubyte", {3}, {1, 2, 3});
  CHECK_THROWS_WITH_AS(load_pair(good, dir / "labels-idx1-ubyte", "test"), doctest::Contains("labels"),
                       tinydiff::Error);
}

TEST_CASE("the embedded MNIST subset loads: 10,000 real digits scaled to [-1, 1]") {
  const Dataset d = load_dataset("mnist", "");
  CHECK(d.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(d.labels.size() == 10000);
  std::vector<int> counts(10, 0);
  for (int64_t y : d.labels) counts[y]++;
  CHECK(counts == std::vector<int>{1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978});
  float lo = 1, hi = -1;
  for (float v : d.images.to_vector()) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == -1.0f);
  CHECK(hi == 1.0f);
  CHECK_THROWS_WITH_AS(load_dataset("cifar", ""), doctest::Contains("unknown dataset"), tinydiff::Error);
}

TEST_CASE("training on the embedded subset leaves out the 1,000 digits eval holds out") {
  const Dataset all = load_dataset("mnist", "");
  const Dataset train = load_training_set("mnist", "");
  CHECK(train.images.shape() == Shape{9000, 1, 28, 28});
  REQUIRE(train.labels.size() == 9000);
  CHECK(std::equal(train.labels.begin(), train.labels.end(), all.labels.begin()));
  const std::vector<float> a = all.images.to_vector(), t = train.images.to_vector();
  CHECK(std::equal(t.begin(), t.end(), a.begin()));
  std::vector<int> counts(10, 0);  // both parts stay class-balanced
  for (int64_t y : train.labels) counts[y]++;
  CHECK(*std::min_element(counts.begin(), counts.end()) >= 750);
}

TEST_CASE("checkpoint metadata out of range is refused, naming the field, before the model is built") {
  TempDir dir;
  const std::string path = dir / "hostile.safetensors";
  const nlohmann::json model = to_json(UNetConfig{}), diffusion = to_json(DiffusionConfig{});
  // The default configs, with one field replaced; a file of a few hundred bytes, no tensors.
  auto load_with = [&](const std::string& which, const std::string& field, const nlohmann::json& value) {
    nlohmann::json m = model, d = diffusion;
    (which == "model" ? m : d)[field] = value;
    io::save_safetensors(path, {}, {{"model", m.dump()}, {"diffusion", d.dump()}});
    try {
      load_model_for_sampling(path, true, UNetConfig{}, DiffusionConfig{});
    } catch (const tinydiff::Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  struct Case {
    std::string which, field;
    nlohmann::json value;
    std::string expected;  // in the message, after "bad <which> config: "
  };
  const std::vector<Case> cases = {
      {"model", "num_classes", int64_t{1} << 62, "'num_classes' is 4611686018427387904 (allowed: 0 to 10000)"},
      {"model", "num_classes", -1, "'num_classes' is -1 (allowed: 0 to 10000)"},
      {"model", "base", uint64_t{18446744073709551615u}, "'base' is 18446744073709551615 (allowed: 1 to 1024)"},
      {"model", "base", 0, "'base' is 0 (allowed: 1 to 1024)"},
      {"model", "base", 32.5, "'base' must be an integer, got number"},
      {"model", "base", "32", "'base' must be an integer, got string"},
      {"model", "in_channels", 0, "'in_channels' is 0 (allowed: 1 to 64)"},
      {"model", "groups", int64_t{1} << 40, "'groups' is 1099511627776 (allowed: 1 to 1024)"},
      {"model", "mults", nlohmann::json::array(), "'mults' has 0 levels (allowed: 1 to 6)"},
      {"model", "mults", {1, 2, 2, 2, 2, 2, 2}, "'mults' has 7 levels (allowed: 1 to 6)"},
      {"model", "mults", {1, int64_t{1} << 40}, "'mults[1]' is 1099511627776 (allowed: 1 to 32, so that base 32"},
      {"model", "mults", {1, 0}, "'mults[1]' is 0 (allowed: 1 to 32"},
      {"model", "mults", 2, "'mults' must be an array of integers, got number"},
      {"model", "mults", {{{1}}}, "'mults[0]' must be an integer, got array"},
      {"diffusion", "T", 1, "'T' is 1 (allowed: 2 to 100000)"},
      {"diffusion", "T", int64_t{1} << 33, "'T' is 8589934592 (allowed: 2 to 100000)"},
      {"diffusion", "T", 1e30, "'T' must be an integer, got number"},
      {"diffusion", "schedule", "exponential", "'schedule' is \"exponential\" (allowed: linear, cosine)"},
      {"diffusion", "prediction", "x0", "'prediction' is \"x0\" (allowed: eps, v)"},
      {"diffusion", "prediction", nullptr, "'prediction' must be a string, got null"},
  };
  for (const Case& c : cases) {
    const std::string message = load_with(c.which, c.field, c.value);
    INFO(c.which, ".", c.field, " = ", c.value.dump(), "\nmessage: ", message);
    CHECK(message.find("checkpoint '" + path + "': bad " + c.which + " config: " + c.expected) != std::string::npos);
  }
  // A missing field, and a config that is not an object.
  nlohmann::json no_base = model;
  no_base.erase("base");
  io::save_safetensors(path, {}, {{"model", no_base.dump()}});
  CHECK_THROWS_WITH_AS(load_model_for_sampling(path, true, UNetConfig{}, DiffusionConfig{}),
                       doctest::Contains("bad model config: it has no 'base'"), tinydiff::Error);
  io::save_safetensors(path, {}, {{"model", "[1, 2]"}});
  CHECK_THROWS_WITH_AS(load_model_for_sampling(path, true, UNetConfig{}, DiffusionConfig{}),
                       doctest::Contains("bad model config: it must be a JSON object, got array"), tinydiff::Error);
  // Nested 100k deep (no recursion reads it), and malformed with a 1 MB token (quoted as an excerpt).
  io::save_safetensors(path, {}, {{"model", std::string(100000, '[') + std::string(100000, ']')}});
  CHECK_THROWS_WITH_AS(load_model_for_sampling(path, true, UNetConfig{}, DiffusionConfig{}),
                       doctest::Contains("bad model config: it must be a JSON object, got array"), tinydiff::Error);
  io::save_safetensors(path, {}, {{"model", "{\"base\":\"" + std::string(1 << 20, 'x')}});
  try {
    load_model_for_sampling(path, true, UNetConfig{}, DiffusionConfig{});
    FAIL("a malformed model config loaded");
  } catch (const tinydiff::Error& e) {
    const std::string message = e.what();
    INFO("message: ", message.substr(0, 400));
    CHECK(message.find("malformed 'model' metadata") != std::string::npos);
    CHECK(message.size() < 600);
  }
  // The largest model the ranges allow is checked the same way: its config reads back unchanged.
  UNetConfig widest;
  widest.base = ConfigLimits::kMaxChannels;
  widest.mults = {1};
  widest.num_classes = ConfigLimits::kMaxClasses;
  CHECK(to_json(unet_config_from_json(to_json(widest), "memory")) == to_json(widest));
}

// ---- resume: the checkpoint's settings, or refused ----

namespace {
// A checkpoint at step 3 of tiny_run's 6 steps, in dir/<name>.
std::string half_run(const TempDir& dir, const std::string& name) {
  TrainRun first = tiny_run(dir / name);
  first.stop_after = 3;
  REQUIRE(train(first) == 0);
  return dir / (name + "/checkpoint.safetensors");
}
std::string resume_error(const TrainRun& run) {
  try {
    train(run);
  } catch (const tinydiff::Error& e) {
    return e.what();
  }
  return "<no error>";
}
}  // namespace

TEST_CASE("resume with settings that differ from the checkpoint's run is refused with the list") {
  TempDir dir;
  const std::string ckpt = half_run(dir, "run");
  TrainRun changed = tiny_run(dir / "run");
  changed.resume = ckpt;
  changed.train.lr = 1e-4;
  changed.train.batch = 5;
  changed.diffusion.T = 500;
  changed.train.ema_decay = 0.9;
  const std::string message = resume_error(changed);
  INFO("message: ", message);
  for (const char* line : {"\n  --lr 0.0001 (the checkpoint's run: 0.002)", "\n  --batch 5 (the checkpoint's run: 3)",
                           "\n  --T 500 (the checkpoint's run: 1000)", "\n  --ema-decay 0.9 (the checkpoint's run: 0.999)",
                           "--override lr=0.0001", "--override T=500"})
    CHECK(message.find(line) != std::string::npos);
  CHECK(message.find("'" + ckpt + "'") != std::string::npos);
  // Each setting that changes the run is compared, one at a time.
  struct Change {
    const char* name;
    void (*apply)(TrainRun&);
  };
  const Change changes[] = {
      {"schedule", [](TrainRun& r) { r.diffusion.schedule = "cosine"; }},
      {"prediction", [](TrainRun& r) { r.diffusion.prediction = "v"; }},
      {"steps", [](TrainRun& r) { r.train.steps = 8; }},
      {"warmup", [](TrainRun& r) { r.train.warmup = 1; }},
      {"weight-decay", [](TrainRun& r) { r.train.weight_decay = 0.01; }},
      {"grad-clip", [](TrainRun& r) { r.train.grad_clip = 0.5; }},
      {"label-dropout", [](TrainRun& r) { r.train.label_dropout = 0.2; }},
      {"min-snr", [](TrainRun& r) { r.train.min_snr_gamma = 5; }},
      {"seed", [](TrainRun& r) { r.train.seed = 7; }},
      {"dataset", [](TrainRun& r) { r.dataset = "fashion"; }},
  };
  for (const Change& change : changes) {
    TrainRun run = tiny_run(dir / "run");
    run.resume = ckpt;
    change.apply(run);
    const std::string one = resume_error(run);
    INFO("changed: ", std::string(change.name), "\nmessage: ", one);
    CHECK(one.find(std::string("\n  --") + change.name + " ") != std::string::npos);
  }
  // How often it logs, samples or checkpoints is not part of the run.
  TrainRun outputs = tiny_run(dir / "run");
  outputs.resume = ckpt;
  outputs.train.log_every = 1;
  outputs.train.checkpoint_every = 2;
  outputs.train.guidance = 4;
  CHECK(train(outputs) == 0);
}

TEST_CASE("resume with --override changes that setting, and the checkpoint then records it") {
  TempDir dir;
  const std::string ckpt = half_run(dir, "run");
  TrainRun run = tiny_run(dir / "run");
  run.resume = ckpt;
  run.train.lr = 1e-4;
  run.train.steps = 8;
  run.overrides = {"lr"};  // steps is not overridden
  CHECK(resume_error(run).find("--steps 8") != std::string::npos);
  run.overrides = {"lr", "steps"};
  REQUIRE(train(run) == 0);
  const io::SafetensorsFile done = io::load_safetensors(ckpt);
  CHECK(done.metadata.at("step") == "8");
  const nlohmann::json saved = nlohmann::json::parse(done.metadata.at("train"));
  CHECK(saved.at("lr") == 1e-4);
  CHECK(saved.at("steps") == 8);
  CHECK(saved.at("dataset") == "mnist");
}

TEST_CASE("resume takes every setting not given from the checkpoint and continues exactly") {
  TempDir dir;
  TrainRun whole = tiny_run(dir / "whole");
  REQUIRE(train(whole) == 0);
  const std::string ckpt = half_run(dir, "split");
  // What `ddpm_mnist train --resume CKPT --out DIR` starts from: the defaults, nothing given.
  TrainRun bare;
  bare.out_dir = dir / "split";
  bare.resume = ckpt;
  bare.train.checkpoint_every = 0;
  adopt_checkpoint_settings(bare, {});
  CHECK(run_settings(bare) == run_settings(whole));
  CHECK(bare.train.preset == "test");
  REQUIRE(train(bare) == 0);
  check_same_tensors(dir / "whole/checkpoint.safetensors", ckpt);
  // Given settings are kept (and then compared by train), the others adopted.
  TrainRun given;
  given.resume = ckpt;
  given.train.lr = 0.5;
  given.model.base = 16;
  adopt_checkpoint_settings(given, {"lr", "base"});
  CHECK(given.train.lr == 0.5);
  CHECK(given.model.base == 16);
  CHECK(given.train.batch == 3);
  CHECK(given.model.groups == 2);
}

TEST_CASE("a checkpoint's step must be a whole number as written: \"3abc\" and \"1e3\" are refused") {
  TempDir dir;
  const std::string ckpt = half_run(dir, "run");
  const io::SafetensorsFile file = io::load_safetensors(ckpt);
  for (const std::string step : {"3abc", "1e3", "", "-1", " 3", "3.0", "99999999999999999999", "0x3"}) {
    io::Metadata metadata = file.metadata;
    metadata["step"] = step;
    io::save_safetensors(dir / "edited.safetensors", file.tensors, metadata);
    TrainRun run = tiny_run(dir / "run");
    run.resume = dir / "edited.safetensors";
    const std::string message = resume_error(run);
    INFO("step \"", step, "\": ", message);
    CHECK(message.find("has a malformed 'step' metadata") != std::string::npos);
  }
  CHECK(parse_step("0", "memory") == 0);
  CHECK(parse_step("1000000000000000", "memory") == 1000000000000000);
  // Settings out of range in a checkpoint's train metadata are refused, naming the field.
  io::Metadata metadata = file.metadata;
  nlohmann::json train_json = nlohmann::json::parse(metadata.at("train"));
  train_json["lr"] = -1;
  metadata["train"] = train_json.dump();
  io::save_safetensors(dir / "edited.safetensors", file.tensors, metadata);
  TrainRun run = tiny_run(dir / "run");
  run.resume = dir / "edited.safetensors";
  CHECK(resume_error(run).find("bad train config: 'lr' is -1") != std::string::npos);
}

// ---- the command line (cli.hpp): parsed without running anything ----

namespace {
CommandLine parse(const std::string& line) {
  std::vector<std::string> args = {"ddpm_mnist"};
  std::istringstream words(line);
  for (std::string w; words >> w;) args.push_back(w);
  return parse_command_line(args);
}
// The message of the CLI::ParseError a command line throws ("<none>" if it parses).
std::string parse_error(const std::string& line) {
  try {
    parse(line);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return "<none>";
}
// --resume must name an existing file (an absolute path: the test may run from any folder)
const std::string kSomeFile = std::string(DDPM_MNIST_DATA_DIR) + "/README.md";
}  // namespace

TEST_CASE("command line: --override goes with --resume and names a setting other than the architecture") {
  const CommandLine ok = parse("train --resume " + kSomeFile + " --override lr=1e-4 --override=T=500");
  CHECK(ok.train.train.lr == 1e-4);
  CHECK(ok.train.diffusion.T == 500);
  CHECK(ok.train.overrides == std::vector<std::string>{"lr", "T"});
  CHECK(ok.train_settings_given.empty());
  CHECK(parse_error("train --override lr=1e-4").find("give it with --resume") != std::string::npos);
  CHECK(parse_error("train --resume " + kSomeFile + " --override base=16").find("architecture") != std::string::npos);
  CHECK(parse_error("train --resume " + kSomeFile + " --override colour=red").find("not a setting") !=
        std::string::npos);
  CHECK(parse_error("train --resume " + kSomeFile + " --override lr").find("NAME=VALUE") != std::string::npos);
  CHECK(parse_error("train --resume " + kSomeFile + " --override lr=nan").find("not a finite number") !=
        std::string::npos);
  CHECK(parse_error("train --resume " + kSomeFile + " --override lr=1 --override lr=2").find("given twice") !=
        std::string::npos);
  CHECK(parse_error("train --resume " + kSomeFile + " --lr 1 --override lr=2").find("--lr") != std::string::npos);
  CHECK(parse_error("sample --ckpt " + kSomeFile + " --override lr=2").find("--override") != std::string::npos);
}

TEST_CASE("command line: the settings given are recorded, a preset counting as all training settings") {
  const CommandLine flags = parse("train --lr 1e-3 --T 500 --base 16 --log-every 5");
  CHECK(flags.train_settings_given == std::vector<std::string>{"lr", "base", "T"});
  CHECK(flags.train.train.log_every == 5);
  const CommandLine preset = parse("train --preset full --seed 3");
  for (const std::string& name : training_settings())
    CHECK(std::count(preset.train_settings_given.begin(), preset.train_settings_given.end(), name) >= 1);
  CHECK(preset.train.train.steps == 10000);
  CHECK(preset.train.train.seed == 3);
}

TEST_CASE("resume without --out writes beside its checkpoint, at its preset's intervals, unless flags say otherwise") {
  TempDir dir;
  TrainRun run = tiny_run(dir / "full-run");
  run.train.preset = "full";  // what the checkpoint records; its writing intervals are the full preset's
  run.train.steps = 2;
  REQUIRE(train(run) == 0);
  const std::string ckpt = dir / "full-run/checkpoint.safetensors";
  const TrainConfig full = preset("full");

  CommandLine bare = parse("train --resume " + ckpt);
  CHECK(bare.train_outputs_given.empty());
  adopt_checkpoint_settings(bare.train, bare.train_settings_given, bare.train_outputs_given);
  CHECK(bare.train.out_dir == dir / "full-run");  // not the default runs/quick
  CHECK(bare.train.train.sample_every == full.sample_every);
  CHECK(bare.train.train.checkpoint_every == full.checkpoint_every);
  CHECK(bare.train.train.guidance == full.guidance);

  CommandLine given = parse("train --resume " + ckpt + " --out " + (dir / "elsewhere") + " --sample-every 7");
  CHECK(given.train_outputs_given == std::vector<std::string>{"sample-every", "out"});
  adopt_checkpoint_settings(given.train, given.train_settings_given, given.train_outputs_given);
  CHECK(given.train.out_dir == dir / "elsewhere");
  CHECK(given.train.train.sample_every == 7);
  CHECK(given.train.train.checkpoint_every == full.checkpoint_every);
}

TEST_CASE("command line: model flags that cannot build a U-Net are usage errors, not failures later") {
  CHECK(parse_error("train --groups 3 --base 8").find("does not divide") != std::string::npos);
  CHECK(parse_error("train --mults 1,2,2,2,2,2,2").find("1 to 6 levels") != std::string::npos);
  CHECK(parse_error("train --mults 0").find("from 1 to 1024") != std::string::npos);
  CHECK(parse_error("train --base 512 --mults 1,4").find("2048 channels") != std::string::npos);
  CHECK(parse_error("train --classes 20000").find("--classes") != std::string::npos);
  CHECK(parse_error("sample --ckpt " + kSomeFile + " --groups 5").find("does not divide") != std::string::npos);
  CHECK(parse("train --base 8 --mults 1,2 --groups 2").train.model.groups == 2);
}

// ---- sample: in batches ----

TEST_CASE("sample draws --n in batches of 100: the first 100 of 1010 are those of a run of 100") {
  TempDir dir;
  TrainRun run = tiny_run(dir / "model");
  run.train.steps = 1;
  REQUIRE(train(run) == 0);
  auto draw = [&](int64_t n, const std::string& name) {
    SampleRun s;
    s.ckpt = dir / "model/ema.safetensors";
    s.n = n;
    s.sampler.steps = 1;
    s.scale = 1;
    s.out = dir / (name + ".png");
    s.idx_prefix = dir / name;
    REQUIRE(sample_command(s) == 0);
    return io::read_idx(dir / (name + "-images-idx3-ubyte.gz"));
  };
  const io::IdxArray many = draw(1010, "many"), hundred = draw(100, "hundred");
  CHECK(many.dims == std::vector<int64_t>{1010, 28, 28});
  CHECK(std::equal(hundred.data.begin(), hundred.data.end(), many.data.begin()));
  CHECK(io::read_idx(dir / "many-labels-idx1-ubyte.gz").dims == std::vector<int64_t>{1010});
  // The grid shows the first kSampleGridMax images: 100 rows of 10 (28 px and 2 px of padding each).
  std::ifstream png(dir / "many.png", std::ios::binary);
  unsigned char head[24] = {};
  REQUIRE(png.read(reinterpret_cast<char*>(head), sizeof head));
  const uint32_t height = (uint32_t{head[20]} << 24) | (uint32_t{head[21]} << 16) | (uint32_t{head[22]} << 8) | head[23];
  CHECK(height == 2 + 100 * 30);  // IHDR: width at bytes 16-19, height at 20-23 (big-endian)
}

TEST_CASE("sample and eval default to the guidance the weights' training run drew with; --guidance wins") {
  TempDir dir;
  TrainRun run = tiny_run(dir / "model");
  run.train.steps = 1;
  run.train.guidance = 3.0;
  REQUIRE(train(run) == 0);
  CHECK(load_model_for_sampling(dir / "model/ema.safetensors", true, UNetConfig{}, DiffusionConfig{}).guidance == 3.0);
  CHECK(load_model_for_sampling(dir / "model/checkpoint.safetensors", true, UNetConfig{}, DiffusionConfig{}).guidance ==
        3.0);
  auto draw = [&](bool given, double guidance, const std::string& name) {
    SampleRun s;
    s.ckpt = dir / "model/ema.safetensors";
    s.n = 10;
    s.sampler.steps = 2;
    s.sampler.guidance = guidance;
    s.guidance_given = given;
    s.scale = 1;
    s.out = dir / (name + ".png");
    s.idx_prefix = dir / name;
    REQUIRE(sample_command(s) == 0);
    return io::read_idx(dir / (name + "-images-idx3-ubyte.gz")).data;
  };
  const auto recorded = draw(false, 1.5, "recorded"), three = draw(true, 3.0, "three"), default_scale = draw(true, 1.5, "d");
  CHECK(recorded == three);
  CHECK(recorded != default_scale);

  // The command line says whether --guidance was given.
  CHECK_FALSE(parse("sample --n 4").sample.guidance_given);
  CHECK(parse("sample --guidance 1.5").sample.guidance_given);
  CHECK_FALSE(parse("eval --n 4").eval.guidance_given);
  CHECK(parse("eval --guidance 2").eval.guidance_given);

  // Files without the key (the shipped weights, or saved elsewhere) keep the default; a bad value is refused.
  const std::string path = dir / "meta.safetensors";
  const Metadata plain = {{"model", to_json(UNetConfig{}).dump()}, {"diffusion", to_json(DiffusionConfig{}).dump()}};
  for (const std::string bad : {"\"two\"", "-1", "nan", "1e999"}) {
    Metadata meta = plain;
    meta["guidance"] = bad;
    io::save_safetensors(path, {}, meta);
    CHECK_THROWS_WITH_AS(load_model_for_sampling(path, true, UNetConfig{}, DiffusionConfig{}),
                         doctest::Contains("malformed 'guidance' metadata"), tinydiff::Error);
  }
  CHECK(load_model_for_sampling(DDPM_MNIST_SHIPPED_WEIGHTS, true, UNetConfig{}, DiffusionConfig{}).guidance == -1.0);
}

// The whole train command's memory against its training steps' own, counted as tensor storage
// taken from the system (max_memory_reserved: live tensors + the block cache), which is the same
// on every run, unlike the process's RSS. Before the fix a grid drew its 100 images (200 rows
// with guidance) beside the blocks training had cached: 1.8x the training steps' peak for quick.
TEST_CASE("memory: the sample grids of a train run stay within 1.2x of its training steps' peak") {
  TempDir dir;
  // 64 digits of noise: the embedded 10,000 would outweigh the small model's steps.
  Generator gen(3);
  std::vector<uint8_t> pixels(64 * 28 * 28), labels(64);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(gen.uniform_int(256));
  for (uint8_t& l : labels) l = static_cast<uint8_t>(gen.uniform_int(10));
  io::write_idx(dir / "train-images-idx3-ubyte", {64, 28, 28}, pixels);
  io::write_idx(dir / "train-labels-idx1-ubyte", {64}, labels);
  TrainRun run = tiny_run(dir / "run");
  run.data_dir = dir.path.string();
  run.train.batch = 32;
  run.train.steps = 4;
  run.train.sample_every = 2;  // a grid of 20 in the middle, and the final one of 100
  run.train.sample_steps = 1;
  auto peak_of = [](const TrainRun& r) {
    empty_cache();
    reset_peak_memory_stats();
    REQUIRE(train(r) == 0);
    return max_memory_reserved();
  };
  TrainRun steps_only = run;  // the same steps, stopped before any grid
  steps_only.train.steps = 8;
  steps_only.stop_after = 4;
  steps_only.train.sample_every = 0;
  steps_only.out_dir = dir / "steps_only";
  const size_t training = peak_of(steps_only), whole = peak_of(run);
  MESSAGE("peak reserved: training steps ", training, " bytes, whole run ", whole, " bytes");
  CHECK(whole <= training * 6 / 5);
}
