#pragma once

// EventWriter: creates one Event exactly as given, name included, beside
// kube::EventRecorder (which names, correlates and sends Events itself,
// asynchronously). Hygiene writes its per-pod Event this way so the name is
// deterministic: a second create after a restart is kAlreadyExists, which
// the caller counts as already reported.
//
// Errors as kube::ErrorFromResponse maps them: kAlreadyExists (an Event of that name
// exists in that namespace), ... Implementations are thread-safe.

#include "common/result.h"
#include "kube/events.h"

namespace nodeguard::writes {

class EventWriter {
 public:
  virtual ~EventWriter() = default;

  // POST the Event into event.namespace_.
  virtual Status Create(const kube::EventRecord& event) = 0;
};

}  // namespace nodeguard::writes
