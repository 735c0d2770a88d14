#include "kube/backoff.h"

#include <algorithm>
#include <thread>

namespace nodeguard::kube {

Backoff::Backoff(Options options, std::function<double()> uniform01)
    : options_(options), uniform01_(std::move(uniform01)), base_(options.initial) {}

Duration Backoff::Next() {
  using Seconds = std::chrono::duration<double>;
  double r = std::clamp(uniform01_(), 0.0, 1.0);
  Seconds base = base_;
  Seconds delay = base_ >= options_.max ? base * (1.0 - options_.jitter * r)
                                        : base * (1.0 + options_.jitter * r);
  Duration out = std::min<Duration>(std::chrono::duration_cast<Duration>(delay), options_.max);
  Seconds grown = base * options_.factor;
  base_ =
      grown >= Seconds(options_.max) ? options_.max : std::chrono::duration_cast<Duration>(grown);
  return out;
}

bool RealSleeper::Sleep(Duration d, const CancelToken& cancel) {
  constexpr Duration kPoll = std::chrono::milliseconds(50);
  auto deadline = std::chrono::steady_clock::now() + d;
  while (!cancel.cancelled()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    std::this_thread::sleep_for(std::min<Duration>(deadline - now, kPoll));
  }
  return false;
}

RealSleeper& RealSleeper::Instance() {
  static RealSleeper sleeper;
  return sleeper;
}

}  // namespace nodeguard::kube
