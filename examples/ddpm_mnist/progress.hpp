#pragma once
// Progress reporting: a one-line bar redrawn in place on a terminal, plain
// periodic lines otherwise (logs, CI, pipes).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace ddpm {

inline std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

class Progress {
 public:
  Progress(int64_t start, int64_t total, int64_t log_every, int64_t images_per_step)
      : start_(start), total_(total), log_every_(log_every), images_per_step_(images_per_step),
        terminal_(isatty(fileno(stdout)) != 0), began_(Clock::now()) {}

  // Called after each step with its loss and learning rate.
  void update(int64_t step, double loss, double lr) {
    smoothed_ = have_loss_ ? 0.98 * smoothed_ + 0.02 * loss : loss;
    have_loss_ = true;
    const double elapsed = seconds_since(began_);
    const double done = static_cast<double>(step - start_);
    rate_ = done > 0 ? done * images_per_step_ / elapsed : 0.0;
    const double eta = done > 0 ? elapsed / done * static_cast<double>(total_ - step) : -1.0;
    const bool last = step == total_;
    if (terminal_) {
      if (seconds_since(last_draw_) < 0.1 && !last) return;
      last_draw_ = Clock::now();
      const int width = 24;
      const int filled = static_cast<int>(width * static_cast<double>(step) / static_cast<double>(total_));
      std::printf("\r[%s%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %s  lr %.2e ", std::string(filled, '#').c_str(),
                  std::string(width - filled, '.').c_str(), static_cast<long long>(step),
                  static_cast<long long>(total_), smoothed_, rate_, format_duration(eta).c_str(), lr);
      if (last) std::printf("\n");
      std::fflush(stdout);
    } else if (step % log_every_ == 0 || last) {
      std::printf("step %lld/%lld  loss %.4f  %.0f img/s  elapsed %s  ETA %s  lr %.2e\n",
                  static_cast<long long>(step), static_cast<long long>(total_), smoothed_, rate_,
                  format_duration(elapsed).c_str(), format_duration(eta).c_str(), lr);
      std::fflush(stdout);
    }
  }
  // Ends the in-place line before other output.
  void message(const std::string& text) {
    if (terminal_) std::printf("\r\033[K");
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  }
  double images_per_second() const { return rate_; }
  double elapsed() const { return seconds_since(began_); }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  int64_t start_, total_, log_every_, images_per_step_;
  bool terminal_;
  Clock::time_point began_, last_draw_{};
  double smoothed_ = 0.0, rate_ = 0.0;
  bool have_loss_ = false;
};

}  // namespace ddpm
