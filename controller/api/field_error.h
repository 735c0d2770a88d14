#pragma once

// A problem with one field of a NodeHealthPolicy, in the shape the API server
// reports them ("spec.remediation.maxConcurrent: must be ..."), so a policy
// that reached nodeguard without admission (an older CRD, a direct etcd
// write) is reported in its status with the same words admission would use.

#include <string>
#include <vector>

namespace nodeguard::api {

struct FieldError {
  std::string
      field;  // JSON path from the object root: "spec.health.unhealthyConditions[0].duration".
  std::string message;  // What is wrong, for a human.

  std::string ToString() const { return field + ": " + message; }
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

// "a: x; b: y" for condition messages and logs; at most `max_errors` are
// listed, then "and N more".
std::string JoinFieldErrors(const std::vector<FieldError>& errors, size_t max_errors = 5);

}  // namespace nodeguard::api
