#pragma once

// A status with every field set, shared by the encoding tests and the golden
// file tests/testdata/api/status-example.json (which the integration test
// writes through the API server's status subresource).

#include "api/types.h"

namespace nodeguard::api::testing {

NodeHealthPolicyStatus FullStatus();

}  // namespace nodeguard::api::testing
