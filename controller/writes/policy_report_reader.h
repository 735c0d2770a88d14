#pragma once

// PolicyReportReader: whether the cluster serves PolicyReports
// (wgpolicyk8s.io/v1alpha2, a CRD that may be installed at any time), and
// which reports nodeguard wrote there (labelled
// app.kubernetes.io/managed-by=nodeguard), read from the API server.
//
// Errors as kube::ErrorFromResponse maps them. Thread-safe.

#include <set>
#include <string>
#include <utility>

#include "common/result.h"

namespace nodeguard::writes {

class PolicyReportReader {
 public:
  virtual ~PolicyReportReader() = default;

  // Discovery: true when the API group lists the policyreports resource;
  // a group the server does not know (404) is false, not an error.
  virtual Result<bool> Served() = 0;

  // The reports nodeguard manages, as (namespace, name).
  virtual Result<std::set<std::pair<std::string, std::string>>> ListManaged() = 0;
};

}  // namespace nodeguard::writes
