#include "reconcile/options.h"

#include <CLI/CLI.hpp>
#include <cctype>

#include "process/flags.h"

namespace nodeguard::runtime {
namespace {

// A Kubernetes label value: empty, or up to 63 of [A-Za-z0-9_.-], alphanumeric at both ends.
bool IsLabelValue(const std::string& v) {
  if (v.size() > 63) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (char c : v) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return v.empty() || (alnum(v.front()) && alnum(v.back()));
}

}  // namespace

void AddControllerFlags(CLI::App& app, ControllerOptions& o) {
  app.add_option("--kubeconfig", o.kubeconfig,
                 "Path to a kubeconfig; default $KUBECONFIG, ~/.kube/config, then in-cluster")
      ->envname("KUBECONFIG");
  app.add_option("--leader-elect", o.leader_elect,
                 "Elect a leader through a coordination.k8s.io Lease; only the leader writes")
      ->envname("NODEGUARD_LEADER_ELECT")
      ->capture_default_str();
  app.add_option("--leader-election-namespace", o.leader_election_namespace,
                 "Namespace of the leader election Lease")
      ->envname("NODEGUARD_LEADER_ELECTION_NAMESPACE")
      ->capture_default_str();
  app.add_option("--leader-election-id", o.leader_election_id, "Name of the leader election Lease")
      ->envname("NODEGUARD_LEADER_ELECTION_ID")
      ->capture_default_str();
  app.add_option("--identity", o.identity,
                 "Holder identity in the Lease; default: hostname plus a random suffix")
      ->envname("NODEGUARD_IDENTITY");
  process::AddObservabilityFlags(
      app, {&o.metrics_bind_address, &o.health_probe_bind_address, &o.log_level, &o.log_format});
  app.add_flag("--dry-run", o.dry_run,
               "Decide and report (status, Events, logs) but change nothing, for every policy")
      ->envname("NODEGUARD_DRY_RUN");
  app.add_option("--max-concurrent-remediations", o.max_concurrent_remediations,
                 "Nodes in a disruptive remediation phase at once, across all policies")
      ->envname("NODEGUARD_MAX_CONCURRENT_REMEDIATIONS")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--workers", o.workers, "Concurrent workers per reconciler")
      ->envname("NODEGUARD_WORKERS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option_function<int64_t>(
         "--resync-period", [&o](int64_t s) { o.resync_period = std::chrono::seconds(s); },
         "Seconds between full reconciles of every node (a safety net; events drive the rest)")
      ->envname("NODEGUARD_RESYNC_PERIOD")
      ->check(CLI::Range(int64_t{10}, int64_t{86400}))
      ->default_str("300");
  process::AddApiClientFlags(app, {&o.kube_api_qps, &o.kube_api_burst},
                             "Default 20 (burst 30) as controller-runtime: one leader writes "
                             "for the whole cluster.");
  app.add_option_function<int64_t>(
         "--reconcile-stall-timeout",
         [&o](int64_t s) { o.reconcile_stall_timeout = std::chrono::seconds(s); },
         "Seconds a reconcile may run before it counts as wedged: /healthz fails, and the "
         "process exits 30 s later")
      ->envname("NODEGUARD_RECONCILE_STALL_TIMEOUT")
      ->check(CLI::Range(int64_t{1}, int64_t{86400}))
      ->default_str("900");
  app.add_option("--hygiene-write-qps", o.hygiene_write_qps,
                 "Resource hygiene's per-pod writes (Events, annotations) per second once "
                 "--hygiene-write-burst is spent, within the client's --kube-api-qps")
      ->envname("NODEGUARD_HYGIENE_WRITE_QPS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--hygiene-write-burst", o.hygiene_write_burst,
                 "Resource hygiene's per-pod writes sent at once before --hygiene-write-qps "
                 "applies")
      ->envname("NODEGUARD_HYGIENE_WRITE_BURST")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--notifications-config", o.notifications_config,
                 "YAML file with the notification sinks (DingTalk, Slack, webhook; "
                 "docs/notifications.md), usually a mounted Secret; empty: no notifications")
      ->envname("NODEGUARD_NOTIFICATIONS_CONFIG");
  app.add_option("--notifications-ca-file", o.notifications_ca_file,
                 "PEM CA bundle that is the only trust anchor for notification receivers; "
                 "empty: the system CAs")
      ->envname("NODEGUARD_NOTIFICATIONS_CA_FILE");
  app.add_option("--watch-filter", o.watch_filter,
                 std::string("Only Nodes and NodeHealthPolicies labelled ") + kWatchFilterLabel +
                     "=<value> are watched and acted on; empty: all")
      ->envname("NODEGUARD_WATCH_FILTER")
      ->check([](const std::string& v) -> std::string {
        return IsLabelValue(v) ? ""
                               : "not a label value (63 characters at most: "
                                 "alphanumerics, '-', '_', '.', starting and ending "
                                 "with an alphanumeric)";
      });
}

std::string WatchFilterSelector(const std::string& watch_filter) {
  return watch_filter.empty() ? "" : std::string(kWatchFilterLabel) + "=" + watch_filter;
}

std::string ValidateControllerOptions(const ControllerOptions& o) {
  if (std::string problem = process::ValidateApiClientLimits(o.kube_api_qps, o.kube_api_burst);
      !problem.empty()) {
    return problem;
  }
  if (o.leader_elect && o.leader_election_namespace.empty()) {
    return "--leader-election-namespace must be set when --leader-elect is true";
  }
  if (o.leader_elect && o.leader_election_id.empty()) {
    return "--leader-election-id must be set when --leader-elect is true";
  }
  return "";
}

}  // namespace nodeguard::runtime
