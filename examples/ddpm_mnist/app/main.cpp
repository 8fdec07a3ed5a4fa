// ddpm_mnist: train a denoising diffusion model on MNIST and draw digits with it.
//
//   ddpm_mnist train --preset quick --out runs/quick
//   ddpm_mnist train --resume runs/quick/checkpoint.safetensors        (continues the run as it was)
//   ddpm_mnist sample --ckpt runs/quick/checkpoint.safetensors --n 100 --sampler ddim --steps 50
//                     --guidance 3 --class 7 --seed 1 --out grid.png
//   ddpm_mnist eval --classifier mnist_classifier.safetensors --ckpt runs/quick/ema.safetensors --n 1000
// Bad flags or values print a usage message and exit with status 2 (cli.hpp has every flag and
// its checks); a failure while running prints "error: ..." and exits with status 1.
#include <cstdio>
#include <string>
#include <vector>

#include "cli.hpp"

int main(int argc, char** argv) {
  ddpm::Cli cli;
  ddpm::CommandLine command;
  try {
    command = cli.parse(std::vector<std::string>(argv, argv + argc));
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    std::fprintf(stderr, "run '%s --help' or '%s SUBCOMMAND --help' for usage\n", argv[0], argv[0]);
    return 2;
  }

  try {
    if (command.threads > 0) tinydiff::set_num_threads(command.threads);
    // Which kernels run here (simd/isa.hpp: the widest the CPU supports, or TINYDIFF_ISA's).
    std::printf("ddpm_mnist: %s\n", tinydiff::cpu_info().summary().c_str());
    switch (command.command) {
      case ddpm::CommandLine::Command::Train:
        if (!command.train.resume.empty()) ddpm::adopt_checkpoint_settings(command.train, command.train_settings_given,
                                                                          command.train_outputs_given);
        return ddpm::train(command.train);
      case ddpm::CommandLine::Command::Sample:
        return ddpm::sample_command(command.sample);
      case ddpm::CommandLine::Command::Eval:
        return ddpm::eval_command(command.eval);
    }
    return 1;
  } catch (const std::exception& e) {  // tinydiff::Error and anything else: a message, not a crash
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
