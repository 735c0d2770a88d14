#pragma once

// `nodeguard controller`: the process around the reconcilers.
//
//   informers (nodes, pods, policies) --handlers--> per-reconciler WorkQueues
//   workers --Reconcile(key)--> decisions --> REST writes, Events, StatusWriter
//   StatusWriter loop --> PUT .../nodehealthpolicies/NAME/status
//
// Informers run from start-up so a standby's caches are warm; workers and the
// status loop run only while this process leads (leader election on a Lease).
// Losing leadership ends the process (crash-only: a fresh start re-derives
// everything from the cluster). SIGTERM stops taking work (queued keys are
// dropped: the next leader recomputes them), lets the reconciles in flight
// finish (at most 10 s), releases the Lease and exits 0.

#include "common/result.h"
#include "reconcile/options.h"

namespace nodeguard::runtime {

// Runs until SIGTERM/SIGINT or loss of leadership. Returns the exit code.
int RunController(const ControllerOptions& options);

}  // namespace nodeguard::runtime
