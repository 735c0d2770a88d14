#include "common/clock.h"

namespace nodeguard {

RealClock& RealClock::Instance() {
  static RealClock clock;
  return clock;
}

}  // namespace nodeguard
