// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/), each file
// written by the library itself, or by hand where the library writes only F32:
//   make_corpus OUTDIR        (scripts/fuzz.sh --corpus regenerates fuzz/corpus)
// The checkpoints come from the small U-Net fuzz_checkpoint.cpp loads into, after
// one training step (so that the optimiser has moments and step counts).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <tinydiff/io/idx.hpp>
#include <tinydiff/tinydiff.hpp>

#include "app/checkpoint.hpp"
#include "app/config.hpp"

namespace {

using tinydiff::Tensor;
namespace io = tinydiff::io;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw tinydiff::Error("make_corpus: cannot write " + path);
}

// A safetensors file from a header and a data buffer (for the dtypes save_safetensors never writes).
std::string safetensors_bytes(const std::string& header, const std::string& buffer) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + buffer;
}

void safetensors_corpus(const std::string& dir) {
  tinydiff::Generator gen(1);
  io::save_safetensors(dir + "/f32_metadata.safetensors",
                       {{"weight", tinydiff::randn({2, 3}, &gen)}, {"bias", tinydiff::tensor({0.5f, -1.0f})}},
                       {{"format", "pt"}, {"note", "seed"}});
  io::save_safetensors(dir + "/scalar_and_empty.safetensors",
                       {{"scalar", tinydiff::tensor({3.0f}, {})}, {"empty", Tensor::empty({0, 4})}});
  io::save_safetensors(dir + "/no_tensors.safetensors", {}, {});
  // One tensor of every other dtype, two elements each.
  const std::string header =
      R"({"f64":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},)"
      R"("f16":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},)"
      R"("bf16":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]},)"
      R"("i64":{"dtype":"I64","shape":[2],"data_offsets":[24,40]},)"
      R"("i32":{"dtype":"I32","shape":[2],"data_offsets":[40,48]},)"
      R"("i16":{"dtype":"I16","shape":[2],"data_offsets":[48,52]},)"
      R"("i8":{"dtype":"I8","shape":[2],"data_offsets":[52,54]},)"
      R"("u64":{"dtype":"U64","shape":[1,2],"data_offsets":[54,70]},)"
      R"("u32":{"dtype":"U32","shape":[2,1],"data_offsets":[70,78]},)"
      R"("u16":{"dtype":"U16","shape":[2],"data_offsets":[78,82]},)"
      R"("u8":{"dtype":"U8","shape":[2],"data_offsets":[82,84]},)"
      R"("bool":{"dtype":"BOOL","shape":[2],"data_offsets":[84,86]}})";
  std::string buffer;
  for (int i = 0; i < 86; ++i) buffer += static_cast<char>((i * 37 + 11) & 0xff);
  buffer[14] = 0x7f;  // some large and special values among them
  buffer[18] = 0x7c;
  write_bytes(dir + "/all_dtypes.safetensors", safetensors_bytes(header, buffer));
}

void checkpoint_corpus(const std::string& dir) {
  ddpm::UNetConfig cfg;  // as fuzz_checkpoint.cpp
  cfg.base = 4;
  cfg.mults = {1};
  cfg.groups = 1;
  cfg.num_classes = 0;
  tinydiff::manual_seed(3);
  auto model = std::make_shared<ddpm::UNet>(cfg);
  tinydiff::optim::AdamW optimizer(model->parameters(), tinydiff::optim::AdamWOptions(1e-3));
  tinydiff::optim::EMA ema(*model);
  // one training step
  tinydiff::Generator gen(4);
  const Tensor x = tinydiff::randn({2, 1, 8, 8}, &gen);
  const Tensor loss = tinydiff::mse_loss(model->forward(x, {1, 7}), tinydiff::randn({2, 1, 8, 8}, &gen));
  loss.backward();
  optimizer.step();
  ema.update();

  const ddpm::DiffusionConfig diffusion;
  io::save(*model, dir + "/module.safetensors");
  io::save(optimizer, dir + "/optimizer.safetensors");
  io::save(ema, dir + "/ema.safetensors");
  io::save(*model, dir + "/weights.safetensors", ddpm::weights_metadata(cfg, diffusion));
  ddpm::TrainingState state;
  state.step = 1;
  state.rng = gen.state();
  const nlohmann::json train{{"preset", "test"}, {"steps", 4}};
  ddpm::save_training_checkpoint(dir + "/training.safetensors", *model, ema, optimizer, diffusion, train, state);
  // The run's metadata alone (what the configuration readers see first), with other values
  // of the fields: the same bytes, small, mutate faster than a whole checkpoint.
  ddpm::UNetConfig other = cfg;
  other.mults = {1, 2, 2};
  other.num_classes = 10;
  ddpm::DiffusionConfig cosine;
  cosine.schedule = "cosine";
  cosine.T = 100000;
  cosine.prediction = "v";
  for (const auto& [name, model_cfg, diffusion_cfg] :
       {std::tuple{"metadata.safetensors", cfg, diffusion}, std::tuple{"metadata_other.safetensors", other, cosine}}) {
    io::Metadata meta = ddpm::weights_metadata(model_cfg, diffusion_cfg);
    meta["format"] = ddpm::kCheckpointFormat;
    meta["train"] = train.dump();
    meta["step"] = "1";
    meta["rng"] = ddpm::rng_to_string(state.rng);
    meta["loader"] = ddpm::loader_to_string(state.loader);
    io::save_safetensors(dir + "/" + name, {}, meta);
  }
}

void idx_corpus(const std::string& dir) {
  std::vector<uint8_t> images(2 * 4 * 4);
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<uint8_t>(i * 17);
  const std::vector<uint8_t> labels = {7, 2, 1};
  io::write_idx(dir + "/images.idx", {2, 4, 4}, images);
  io::write_idx(dir + "/images.idx.gz", {2, 4, 4}, images);
  io::write_idx(dir + "/labels.idx", {3}, labels);
  io::write_idx(dir + "/labels.idx.gz", {3}, labels);
  io::write_idx(dir + "/rank2.idx", {2, 3}, {1, 2, 3, 4, 5, 6});
  io::write_idx(dir + "/rank4.idx.gz", {1, 2, 1, 2}, {9, 8, 7, 6});
  // Two gzip members (what concatenated .gz files are): split a gzipped file's data.
  io::write_idx(dir + "/part1.gz", {3}, labels);  // a whole IDX file...
  std::ifstream in(dir + "/part1.gz", std::ios::binary);
  std::string first((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::filesystem::remove(dir + "/part1.gz");
  // ...and an empty member after it: gzip of nothing, as zlib writes it.
  const std::string empty_member("\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  write_bytes(dir + "/two_members.idx.gz", first + empty_member);
}

// Command lines of ddpm_mnist, one argument a line (fuzz_cli.cpp splits at '\n' and NUL).
void cli_corpus(const std::string& dir) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> lines = {
      {"train_preset", {"train", "--preset", "quick", "--out", "runs/quick"}},
      {"train_flags",
       {"train", "--steps", "100", "--batch", "8", "--lr", "1e-3", "--warmup", "0", "--weight-decay", "0.01",
        "--grad-clip", "0", "--ema-decay", "0.99", "--label-dropout", "0.5", "--min-snr", "5", "--seed",
        "18446744073709551615", "--sample-every", "0", "--checkpoint-every", "50", "--log-every", "10",
        "--guidance", "1.5", "--dataset", "fashion", "--stop-after", "3"}},
      {"train_model",
       {"train", "--base", "16", "--mults", "1,2,2", "--groups", "4", "--classes", "0", "--schedule", "cosine",
        "--T", "500", "--prediction", "v", "--threads", "2"}},
      {"train_resume", {"train", "--resume", "/dev/null", "--override", "lr=1e-4", "--override=steps=10"}},
      {"sample",
       {"--threads", "1", "sample", "--ckpt", "/dev/null", "--n", "16", "--sampler", "ddpm", "--steps", "20",
        "--eta", "0.5", "--variance", "beta", "--guidance", "3", "--class", "7", "--seed", "2", "--out", "g.png",
        "--scale", "2", "--idx", "out/s", "--trajectory", "t.png", "--trajectory-columns", "5", "--raw-weights",
        "--no-clip", "--base=8", "--mults=1,2"}},
      {"sample_shipped", {"sample", "--n", "100", "--spacing", "trailing"}},  // no --ckpt: the shipped weights
      {"eval",
       {"eval", "--classifier", "/dev/null", "--ckpt", "/dev/null", "--n", "100", "--sampler", "ddim", "--steps",
        "10", "--eta", "0", "--guidance", "0", "--seed", "3", "--json", "e.json"}},
      {"help", {"train", "--help"}},
  };
  for (const auto& [name, args] : lines) {
    std::string text;
    for (const std::string& a : args) text += (text.empty() ? "" : "\n") + a;
    write_bytes(dir + "/" + name + ".txt", text);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus OUTDIR\n");
    return 2;
  }
  const std::string out = argv[1];
  for (const char* target : {"safetensors", "checkpoint", "idx", "cli"}) std::filesystem::create_directories(out + "/" + target);
  safetensors_corpus(out + "/safetensors");
  checkpoint_corpus(out + "/checkpoint");
  idx_corpus(out + "/idx");
  cli_corpus(out + "/cli");
  return 0;
}
