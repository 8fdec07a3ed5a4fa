#pragma once
// Progress reporting: a one-line bar redrawn in place on a terminal, plain
// periodic lines otherwise (logs, CI, pipes).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

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

// Progress of drawing images with a sampler: `batches` of images, each taking
// `steps_per_batch` sampler steps. step() is called after every sampler step and
// batch_done() after each batch. On a terminal the bar is redrawn in place (at
// most 10 times a second); otherwise a plain line is written at every tenth of
// the work and at the end, so a log of any length gets about 11 lines:
//   sampling: 300/1000 images  step 150/500  12.5 img/s  elapsed 0:24  ETA 0:56
class SamplingProgress {
 public:
  SamplingProgress(int64_t images, int64_t batch, int64_t steps_per_batch, std::FILE* out = stdout,
                   bool terminal = isatty(fileno(stdout)) != 0, std::string label = "sampling")
      : images_(images), batch_(batch), steps_per_batch_(steps_per_batch),
        batches_((images + batch - 1) / batch), out_(out), terminal_(terminal), label_(std::move(label)),
        began_(Clock::now()) {}

  // One sampler step of the current batch is done (`elapsed` seconds since the start: for tests).
  void step(double elapsed) {
    step_in_batch_ = std::min(step_in_batch_ + 1, steps_per_batch_);
    if (step_in_batch_ < steps_per_batch_) report(elapsed);  // a batch's last step: batch_done reports it
  }
  void step() { step(seconds_since(began_)); }
  // The current batch (of `len` images) is finished.
  void batch_done(int64_t len, double elapsed) {
    images_done_ += len;
    steps_done_before_ += steps_per_batch_;
    step_in_batch_ = 0;
    report(elapsed);
  }
  void batch_done(int64_t len) { batch_done(len, seconds_since(began_)); }

  // The plain-line text for a state of the work (no newline).
  static std::string line(const std::string& label, int64_t images_done, int64_t images, int64_t steps_done,
                          int64_t steps_total, double images_per_second, double elapsed, double eta) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s: %lld/%lld images  step %lld/%lld  %.1f img/s  elapsed %s  ETA %s",
                  label.c_str(), static_cast<long long>(images_done), static_cast<long long>(images),
                  static_cast<long long>(steps_done), static_cast<long long>(steps_total), images_per_second,
                  format_duration(elapsed).c_str(), format_duration(eta).c_str());
    return buf;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  void report(double elapsed) {
    const int64_t steps_total = batches_ * steps_per_batch_;
    const int64_t steps_done = steps_done_before_ + step_in_batch_;
    // Images in flight count by the fraction of their steps taken, so the rate moves within a batch.
    const int64_t in_flight = std::min(batch_, images_ - images_done_);
    const double images_worked = static_cast<double>(images_done_) +
                                 static_cast<double>(in_flight) * step_in_batch_ / static_cast<double>(steps_per_batch_);
    const double rate = elapsed > 0 ? images_worked / elapsed : 0.0;
    const double eta = images_worked > 0 ? elapsed / images_worked * (static_cast<double>(images_) - images_worked) : -1.0;
    const bool last = images_done_ == images_;
    if (terminal_) {
      if (!last && elapsed - last_draw_ < 0.1) return;
      last_draw_ = elapsed;
      const int width = 24;
      const int filled = static_cast<int>(width * static_cast<double>(steps_done) / static_cast<double>(steps_total));
      std::fprintf(out_, "\r[%s%s] %lld/%lld images  step %lld/%lld  %.1f img/s  ETA %s ",
                   std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                   static_cast<long long>(images_done_), static_cast<long long>(images_),
                   static_cast<long long>(steps_done), static_cast<long long>(steps_total), rate,
                   format_duration(eta).c_str());
      if (last) std::fprintf(out_, "\n");
    } else {
      const int64_t tenth = 10 * steps_done / steps_total;
      if (tenth <= last_tenth_ && !last) return;
      last_tenth_ = tenth;
      std::fprintf(out_, "%s\n", line(label_, images_done_, images_, steps_done, steps_total, rate, elapsed, eta).c_str());
    }
    std::fflush(out_);
  }

  int64_t images_, batch_, steps_per_batch_, batches_;
  std::FILE* out_;
  bool terminal_;
  std::string label_;
  Clock::time_point began_;
  int64_t images_done_ = 0, steps_done_before_ = 0, step_in_batch_ = 0, last_tenth_ = 0;
  double last_draw_ = -1.0;
};

}  // namespace ddpm
