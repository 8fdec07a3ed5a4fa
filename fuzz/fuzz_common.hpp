#pragma once
// What the fuzz targets share: the readers under test take a path, so each input is
// written to a file in a per-process scratch directory (on /dev/shm when it is
// writable: no disk I/O) and read back from there. The directory is removed at exit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace fuzz {

// The scratch directory, made on first use. Never destroyed (a heap string): the exit
// handler that removes the directory runs after the destructors of statics.
inline const std::string& scratch_dir() {
  static const std::string& dir = *new std::string([] {
    namespace fs = std::filesystem;
    std::string base = "/dev/shm";
    if (::access(base.c_str(), W_OK) != 0) {
      const char* tmp = std::getenv("TMPDIR");
      base = tmp && *tmp ? tmp : "/tmp";
    }
    std::string dir = base + "/tinydiff-fuzz.XXXXXX";
    if (!::mkdtemp(&dir[0])) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(scratch_dir(), ec);
    });
    return dir;
  }());
  return dir;
}

// Writes data to <scratch>/<name> and returns that path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// A broken invariant: abort, so that libFuzzer records the input as a crash.
[[noreturn]] inline void invariant_failed(const char* what) {
  std::fprintf(stderr, "fuzz: invariant broken: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond)                                         \
  do {                                                           \
    if (!(cond)) ::fuzz::invariant_failed(#cond " (" __FILE__ ")"); \
  } while (0)

}  // namespace fuzz
