// pleg_classify: nodeguard's classifier of Ready messages (health/pleg.h) for
// tests written in Python (tests/cluster/tests/sim_fidelity_test.py), so they
// judge the simulator's messages exactly as the controller does.
//
// Reads one message per line on stdin; writes one JSON object per line:
//   {"pleg_unhealthy": bool, "never_succeeded": bool, "runtime_down": bool,
//    "runtime_status_pending": bool, "last_seen_active_ns": int|null,
//    "threshold_ns": int|null}

#include <iostream>
#include <optional>
#include <string>

#include "health/pleg.h"

namespace {

std::string Nanos(const std::optional<nodeguard::Duration>& d) {
  return d ? std::to_string(d->count()) : "null";
}

const char* Bool(bool b) { return b ? "true" : "false"; }

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    const nodeguard::health::PlegReport r = nodeguard::health::ClassifyReadyMessage(line);
    std::cout << "{\"pleg_unhealthy\": " << Bool(r.pleg_unhealthy)
              << ", \"never_succeeded\": " << Bool(r.never_succeeded)
              << ", \"runtime_down\": " << Bool(r.runtime_down)
              << ", \"runtime_status_pending\": " << Bool(r.runtime_status_pending)
              << ", \"last_seen_active_ns\": " << Nanos(r.last_seen_active)
              << ", \"threshold_ns\": " << Nanos(r.threshold) << "}\n";
  }
  return 0;
}
