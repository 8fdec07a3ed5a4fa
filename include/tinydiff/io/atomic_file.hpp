#pragma once
/// @file
/// write_file_atomically: replace a file all at once or not at all.
///
/// The bytes go to a temporary file in the same directory ("<path>.tmp.<pid>.<n>"),
/// which is flushed, fsync'ed and then renamed over `path`. rename() within one
/// file system is atomic on POSIX, so a reader (or a crash, or a failed write)
/// sees either the whole old file or the whole new one, never half of each. On any
/// failure the temporary file is removed and the old file is left untouched; one left
/// behind by a writer that was killed is removed by a later write of the same path.
/// Used for safetensors, checkpoints, CSV logs and PNG images.
///
/// Only a regular file (or nothing) at `path` is replaced: rename() would put the new
/// file in place of a symlink, a FIFO, a device node or an empty directory, so those
/// are refused with an Error rather than silently swapped for a file.
///
/// POSIX only (open/write/fsync/rename), like the rest of the build (OpenMP on Linux).
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tinydiff/core/error.hpp"

namespace tinydiff::io {

namespace detail {

/// A std::streambuf writing to a POSIX file descriptor, so that the same descriptor
/// can be fsync'ed (std::ofstream never exposes its descriptor). Remembers the
/// first errno a write failed with, for the error message.
class FdWriteBuffer : public std::streambuf {
 public:
  explicit FdWriteBuffer(int fd) : fd_(fd), buffer_(size_t{1} << 16) { reset_put_area(); }
  int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  /// Large writes skip the buffer.
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n < static_cast<std::streamsize>(buffer_.size())) return std::streambuf::xsputn(s, n);
    if (!flush_buffer() || !write_all(s, static_cast<size_t>(n))) return 0;
    return n;
  }
  int sync() override { return flush_buffer() ? 0 : -1; }

 private:
  void reset_put_area() { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  bool flush_buffer() {
    const bool ok = write_all(pbase(), static_cast<size_t>(pptr() - pbase()));
    reset_put_area();
    return ok;
  }
  bool write_all(const char* p, size_t n) {
    if (error_) return false;
    while (n > 0) {
      const ssize_t written = ::write(fd_, p, n);
      if (written < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return false;
      }
      p += written;
      n -= static_cast<size_t>(written);
    }
    return true;
  }
  int fd_;
  std::vector<char> buffer_;
  int error_ = 0;
};

inline std::string errno_text(int err) { return err ? std::strerror(err) : "unknown error"; }

/// The directory part of `path` ("." when it has none), for fsync'ing the rename.
inline std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// What is at `path`, in words, when it is something other than a regular file
/// (lstat: a symlink is itself, not what it points to); "" when it is a regular file
/// or nothing at all.
inline std::string non_regular_file_kind(const std::string& path) {
  struct stat info;
  if (::lstat(path.c_str(), &info) != 0) return "";  // nothing there (or unreadable: creating the file will say)
  const mode_t type = info.st_mode & S_IFMT;
  switch (type) {
    case S_IFREG: return "";
    case S_IFLNK: return "a symbolic link";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    default: return "a file of an unknown kind";
  }
}

/// Temporary files of `path` left by a writer that died before its rename (kill -9, a crash, a
/// power cut): "<path>.tmp.<pid>.<n>" whose process no longer exists and that nobody has written
/// for a minute. Removed before each write of `path`, so that they do not pile up beside it. One of
/// a live process (another writer, right now) is left alone; so is one written in the last minute,
/// in case its writer lives in another PID namespace (a container sharing the folder).
/// A leftover that names this very process's pid is from an earlier process with the same pid (a
/// restarted container) when it is older than this process's first write.
inline void remove_stale_temporaries(const std::string& path) {
  static const time_t first_write = ::time(nullptr);
  const std::string folder = parent_directory(path);
  const size_t slash = path.find_last_of('/');
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  DIR* dir = ::opendir(folder.c_str());
  if (!dir) return;  // best effort: creating the new temporary file will report a real problem
  const time_t a_minute_ago = ::time(nullptr) - 60;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    // <pid>.<n>: digits, a dot, digits
    const std::string rest = name.substr(prefix.size());
    const size_t dot = rest.find('.');
    const auto all_digits = [](const std::string& text) {
      return !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
    };
    if (dot == std::string::npos || !all_digits(rest.substr(0, dot)) || !all_digits(rest.substr(dot + 1))) continue;
    const pid_t writer = static_cast<pid_t>(std::stol(rest.substr(0, dot)));
    if (writer <= 0) continue;
    const bool mine = writer == ::getpid();
    if (!mine && (::kill(writer, 0) == 0 || errno != ESRCH)) continue;  // alive (or not ours to ask about)
    const std::string temp_path = folder + "/" + name;
    struct stat info;
    if (::lstat(temp_path.c_str(), &info) != 0 || (info.st_mode & S_IFMT) != S_IFREG) continue;
    if (info.st_mtime > a_minute_ago || (mine && info.st_mtime >= first_write - 1)) continue;
    ::unlink(temp_path.c_str());
  }
  ::closedir(dir);
}

}  // namespace detail

/// Calls write(out) with a stream to a temporary file next to `path`, then moves the
/// result over `path`. Throws tinydiff::Error "op: cannot write 'path': ..." when the
/// file cannot be created, written, synced or renamed; an exception thrown by `write`
/// itself propagates unchanged; something other than a regular file at `path` is
/// refused before anything is written. In every failing case the temporary file is
/// removed and whatever was at `path` before is untouched.
inline void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write,
                                  const std::string& op = "write_file_atomically") {
  static std::atomic<unsigned long> counter{0};
  std::string temp_path;
  auto fail = [&](const std::string& what, int err) {
    return Error(::tinydiff::detail::concat(op, ": cannot write '", path, "': ", what, ": ",
                                            detail::errno_text(err)));
  };

  // Checked before writing (fail fast) and again just before the rename (smallest window).
  auto refuse_non_regular_target = [&]() {
    const std::string kind = detail::non_regular_file_kind(path);
    if (!kind.empty())
      throw Error(::tinydiff::detail::concat(op, ": cannot write '", path, "': it is ", kind,
                                             ", not a regular file; refusing to replace it"));
  };
  refuse_non_regular_target();
  detail::remove_stale_temporaries(path);

  // A fresh name; one taken (a leftover this process cannot tell from its own) is skipped.
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    temp_path = path + ".tmp." + std::to_string(static_cast<long>(::getpid())) + "." + std::to_string(counter++);
    fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt == 100)) {
      const int err = errno;
      throw fail("cannot create temporary file '" + temp_path + "'", err);
    }
  }

  // Closes (if still open) and removes the temporary file; used on every failure path.
  auto discard = [&]() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    std::remove(temp_path.c_str());
  };

  try {
    detail::FdWriteBuffer buffer(fd);
    std::ostream out(&buffer);
    write(out);
    out.flush();
    if (!out.good()) throw fail("writing the temporary file failed", buffer.error());
    if (::fsync(fd) != 0) {
      const int err = errno;
      throw fail("fsync of the temporary file failed", err);
    }
    const int fd_to_close = fd;
    fd = -1;
    if (::close(fd_to_close) != 0) {
      const int err = errno;
      throw fail("closing the temporary file failed", err);
    }
    refuse_non_regular_target();
    if (std::rename(temp_path.c_str(), path.c_str()) != 0) {
      const int err = errno;
      throw fail("renaming '" + temp_path + "' over it failed", err);
    }
  } catch (...) {
    discard();
    throw;
  }

  // Make the rename itself durable: fsync the directory entry (best effort).
  const int dir_fd = ::open(detail::parent_directory(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace tinydiff::io
