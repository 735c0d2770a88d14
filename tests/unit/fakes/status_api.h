#pragma once

// NullStatusApi: a status write that always succeeds and keeps nothing, for
// tests that read the desired status from the StatusWriter instead
// (tests/unit/reconcile/status_writer_test.cpp records the writes themselves).

#include <string>

#include "reconcile/status_writer.h"

namespace nodeguard::fakes {

class NullStatusApi final : public runtime::StatusApi {
 public:
  Result<std::string> WriteStatus(const std::string&, const std::string&,
                                  const api::NodeHealthPolicyStatus&) override {
    return std::string("2");
  }
};

}  // namespace nodeguard::fakes
