#pragma once

// The liveness check of informers behind /healthz ("informers not wedged").
//
// Each Informer marks progress at every step of its Run loop (see
// kube/informer.h: list pages, watch starts, stream chunks, stream ends,
// backoff sleeps). A loop that is alive marks again within a bounded time,
// whatever the API server does: every request it makes has a timeout, and
// its backoff is capped. A loop that stops marking for longer than that bound
// is wedged (a handler blocked, a lock never released, a read that never
// returns), and only a restart brings its cache back.
//
// The same for the reconcilers: a reconcile that never returns (a request
// without a deadline, a deadlock) holds its worker forever, and its keys
// never get reconciled again. Every request a reconcile makes is bounded, so
// a reconcile running for longer than --reconcile-stall-timeout is wedged:
// /healthz fails ("reconcilers"), and past the grace a kubelet's probe needs
// to act (kLivenessExitGrace) the controller exits on its own, so it is
// restarted even where no kubelet probes it.
//
// The bounds and the decisions are pure functions, so they are unit-tested.

#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/result.h"
#include "kube/informer.h"
#include "kube/rest.h"

namespace nodeguard::process {

// The longest a healthy Run loop can go between two progress marks, with
// margin, for informers built with `informer` over a RestClient with `rest`.
// Longer than any of:
//  - a whole watch request, as if none of its chunks marked progress: the
//    headers within rest.timeout, then the server's timeoutSeconds (drawn
//    below 2 x min_watch_timeout, so at most 10 min by default), and a stream
//    gone silent ends after idle_timeout (stalled-stream detection);
//  - one list page with all of the REST client's attempts: max_attempts x
//    rest.timeout plus the waits between them (at most max(max_backoff,
//    max_retry_after) each);
// plus one backoff sleep (capped at backoff.max) and one minute of slack for
// handlers and a loaded machine. With the defaults: 10 min + 30 s + 90 s,
// + 30 s + 1 min = 13.5 min. A healthy loop never gets near it: it marks
// progress far more often (each chunk, and bookmarks about once a minute).
Duration InformerStallBound(const kube::InformerOptions& informer, const kube::RestOptions& rest);

struct InformerProgress {
  std::string_view resource;  // "nodes", "pods", ...
  MonoTime last_progress;     // InformerStats::last_progress.
};

// Ok while every informer marked progress within `bound` of `now`; else
// kUnavailable naming each stalled one and for how long.
Status CheckInformerProgress(const std::vector<InformerProgress>& informers, MonoTime now,
                             Duration bound);

struct ReconcilerProgress {
  std::string_view reconciler;  // "density", "hygiene", ...
  Duration longest_running;     // Its oldest reconcile in flight; zero when idle.
};

// The manifests' liveness probe fails the container after 3 failures 10 s
// apart: the controller exits on its own this long after /healthz failed.
inline constexpr Duration kLivenessExitGrace = std::chrono::seconds(30);

// Ok while no reconcile has run longer than `bound`; else kUnavailable naming
// each wedged reconciler and for how long.
Status CheckReconcileProgress(const std::vector<ReconcilerProgress>& reconcilers, Duration bound);

// True once a reconcile has run longer than bound + kLivenessExitGrace: the
// process should exit.
bool ReconcileWedgedPastGrace(const std::vector<ReconcilerProgress>& reconcilers, Duration bound);

}  // namespace nodeguard::process
