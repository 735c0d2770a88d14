#pragma once

// PolicyReportWriter: writes and deletes wgpolicyk8s.io/v1alpha2
// PolicyReports, which nodeguard owns entirely: server-side apply with
// nodeguard's field manager, forcing ownership of every field.
//
// Errors as kube::ErrorFromResponse maps them (kNotFound: nothing to delete, ...).
// Thread-safe.

#include <string>

#include "common/result.h"

namespace nodeguard::writes {

class PolicyReportWriter {
 public:
  virtual ~PolicyReportWriter() = default;

  // `report`: the whole PolicyReport as JSON (hygiene/policy_report.h).
  virtual Status Apply(const std::string& namespace_, const std::string& name,
                       const std::string& report) = 0;
  virtual Status Delete(const std::string& namespace_, const std::string& name) = 0;
};

}  // namespace nodeguard::writes
