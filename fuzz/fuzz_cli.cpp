// libFuzzer target: the command line of ddpm_mnist (examples/ddpm_mnist/app/cli.hpp), parsed
// without running anything. The input is split at '\n' and NUL bytes into the arguments
// after the program's name.
//
// An input must either parse or throw CLI::ParseError (--help included: CLI::CallForHelp)
// or tinydiff::Error; anything else is a finding. A command line that parses must hold a
// model the U-Net accepts: 1 to 6 levels, base * mult at most 1,024 channels, groups
// dividing base, T in range.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "app/cli.hpp"
#include "fuzz_common.hpp"

namespace {

void check_model(const ddpm::UNetConfig& m, const ddpm::DiffusionConfig& d) {
  using L = ddpm::ConfigLimits;
  FUZZ_CHECK(!m.mults.empty() && m.mults.size() <= static_cast<size_t>(L::kMaxLevels));
  FUZZ_CHECK(m.base >= 1 && m.base <= L::kMaxChannels);
  for (int64_t mult : m.mults) FUZZ_CHECK(mult >= 1 && m.base * mult <= L::kMaxChannels);
  FUZZ_CHECK(m.groups >= 1 && m.base % m.groups == 0);
  FUZZ_CHECK(m.num_classes >= 0 && m.num_classes <= L::kMaxClasses);
  FUZZ_CHECK(d.T >= L::kMinT && d.T <= L::kMaxT);
  FUZZ_CHECK(d.schedule == "linear" || d.schedule == "cosine");
  FUZZ_CHECK(d.prediction == "eps" || d.prediction == "v");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"ddpm_mnist"};
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\n' || c == '\0') {
      args.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (size > 0) args.push_back(current);
  if (args.size() > 64) return 0;  // a long command line says nothing more than a short one

  ddpm::CommandLine line;
  try {
    line = ddpm::parse_command_line(args);
  } catch (const CLI::ParseError&) {
    return 0;
  } catch (const tinydiff::Error&) {
    return 0;
  }
  FUZZ_CHECK(line.threads >= 0);
  switch (line.command) {
    case ddpm::CommandLine::Command::Train: check_model(line.train.model, line.train.diffusion); break;
    case ddpm::CommandLine::Command::Sample:
      check_model(line.sample.fallback_model, line.sample.fallback_diffusion);
      // No --ckpt means the shipped weights; a given one names an existing file (CLI::ExistingFile).
      FUZZ_CHECK(line.sample.ckpt.empty() || std::filesystem::exists(line.sample.ckpt));
      FUZZ_CHECK(line.sample.n >= 1);
      FUZZ_CHECK(std::isfinite(line.sample.sampler.guidance) && line.sample.sampler.guidance >= 0);
      break;
    case ddpm::CommandLine::Command::Eval: FUZZ_CHECK(line.eval.n >= 2); break;
  }
  return 0;
}
