// A one-line progress bar for training loops:
//   epoch 2/5 [#########-----------]  420/938  loss 0.4312  21345 ex/s  ETA 3s
// Drawn in place only when stdout is a terminal; otherwise (CI logs, pipes) nothing is printed
// until finish(), which writes one plain summary line.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace nibble::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total_steps)
      : label_(std::move(label)), total_(total_steps), tty_(isatty(fileno(stdout)) != 0),
        start_(Clock::now()), last_draw_(start_) {}

  // After each step: examples processed in it and the running loss to show.
  void update(int64_t examples, double loss) {
    ++done_;
    examples_ += examples;
    loss_ = loss;
    const auto now = Clock::now();
    if (!tty_ || (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_)) return;
    last_draw_ = now;
    const int width = 20;
    const int filled = total_ > 0 ? static_cast<int>(width * done_ / total_) : width;
    std::printf("\r%s [%s%s] %5lld/%lld  loss %.4f  %6.0f ex/s  ETA %.0fs   ", label_.c_str(),
                std::string(filled, '#').c_str(), std::string(width - filled, '-').c_str(),
                static_cast<long long>(done_), static_cast<long long>(total_), loss_, rate(),
                done_ > 0 ? seconds() * (total_ - done_) / done_ : 0.0);
    std::fflush(stdout);
  }

  // Ends the line (terminal) or prints the summary (log); returns the elapsed seconds.
  double finish(const std::string& extra = "") {
    if (tty_) std::printf("\r\033[K");
    std::printf("%s  %lld steps  loss %.4f  %.0f ex/s  %.2fs%s\n", label_.c_str(),
                static_cast<long long>(done_), loss_, rate(), seconds(), extra.c_str());
    std::fflush(stdout);
    return seconds();
  }

 private:
  using Clock = std::chrono::steady_clock;
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  double rate() const { return seconds() > 0 ? examples_ / seconds() : 0.0; }

  std::string label_;
  int64_t total_;
  bool tty_;
  Clock::time_point start_, last_draw_;
  int64_t done_ = 0, examples_ = 0;
  double loss_ = 0.0;
};

}  // namespace nibble::cli
