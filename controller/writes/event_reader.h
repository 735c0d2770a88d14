#pragma once

// EventReader: the Events of one reason, across namespaces, read from the API
// server (not a cache: hygiene reads them once per process, before its first
// decision, to learn what an earlier process already reported).
//
// Errors as kube::ErrorFromResponse maps them; kUnauthorized when the controller may not
// list Events (the caller decides whether that is fatal). Thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace nodeguard::writes {

// What an Event says about who wrote it and about what.
struct EventSummary {
  std::string involved_kind;
  std::string involved_namespace;
  std::string involved_name;
  std::string involved_uid;
  std::string source_component;     // source.component.
  std::string reporting_component;  // reportingComponent.
};

class EventReader {
 public:
  virtual ~EventReader() = default;

  // Every Event with this reason (a field selector, all pages). Items that
  // are not JSON objects are left out.
  virtual Result<std::vector<EventSummary>> ListByReason(std::string_view reason) = 0;
};

}  // namespace nodeguard::writes
