#pragma once

// Settings of `nodeguard controller`, each a flag with an environment
// variable twin (NODEGUARD_<FLAG>), documented by `--help` and docs/operations.md.

#include <chrono>
#include <string>

namespace CLI {
class App;
}

namespace nodeguard::runtime {

struct ControllerOptions {
  std::string kubeconfig;  // Empty: $KUBECONFIG, ~/.kube/config, then in-cluster.
  bool leader_elect = true;
  std::string leader_election_namespace = "nodeguard-system";
  std::string leader_election_id = "nodeguard-controller";
  std::string identity;  // Empty: hostname + random suffix.
  std::string metrics_bind_address = ":8080";
  std::string health_probe_bind_address = ":8081";
  std::string log_level = "info";
  std::string log_format = "text";
  bool dry_run = false;                 // Global: every policy behaves as dryRun.
  int max_concurrent_remediations = 1;  // Across all policies together.
  int workers = 2;                      // Per reconciler.
  std::chrono::seconds resync_period{300};
  std::chrono::milliseconds status_interval{1000};  // Min time between two status writes.
  // Non-empty: only Nodes and NodeHealthPolicies labelled
  // kWatchFilterLabel=<watch_filter> exist for this controller (Cluster API's
  // --watch-filter). Lets several controllers share one cluster on disjoint
  // node sets (the e2e scenarios run so, concurrently).
  std::string watch_filter;
  // Client-side rate limit of the controller's requests (--kube-api-qps,
  // --kube-api-burst): controller-runtime's (kubebuilder's) defaults. One
  // leader writes for the whole cluster; 20/s drains a 110-pod node (an
  // eviction and a GET per pod) in about 10 s and keeps a flood of hygiene
  // findings from becoming the API server's load (docs/operations.md, "Sizing").
  double kube_api_qps = 20;
  int kube_api_burst = 30;
  // Resource hygiene's per-pod writes (Events, annotation patches) paced on
  // top of that (--hygiene-write-qps, --hygiene-write-burst): a quarter of the
  // client's rate, so a flood of findings never takes more than that from a
  // drain; the policy's status counts the findings before these writes
  // (docs/operations.md, "Sizing").
  // A reconcile running longer than this is wedged: /healthz fails, and the
  // process exits 30 s later (process/liveness.h, --reconcile-stall-timeout).
  std::chrono::seconds reconcile_stall_timeout{900};
  double hygiene_write_qps = 5;
  int hygiene_write_burst = 50;
  // Notifications (docs/notifications.md): the sinks' file, meant to be a
  // mounted Secret (--notifications-config; empty: none), and a CA that is
  // then the only one trusted for the receivers (--notifications-ca-file;
  // empty: the system CAs).
  std::string notifications_config;
  std::string notifications_ca_file;
};

// The label --watch-filter selects on.
inline constexpr const char* kWatchFilterLabel = "nodeguard.io/watch-filter";

// The label selector the Node and policy informers list and watch with: "" when
// `watch_filter` is empty (everything), else kWatchFilterLabel=<watch_filter>.
std::string WatchFilterSelector(const std::string& watch_filter);

// Registers the flags on `app` (the `controller` subcommand), binding them to `options`.
void AddControllerFlags(CLI::App& app, ControllerOptions& options);

// Checks values CLI11 cannot (ranges across flags). Returns an error message or "".
std::string ValidateControllerOptions(const ControllerOptions& options);

}  // namespace nodeguard::runtime
