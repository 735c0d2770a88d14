#pragma once

// Settings of `nodeguard agent`, each a flag with an environment variable
// twin (NODEGUARD_<FLAG>; --node-name reads NODE_NAME, --kubeconfig
// KUBECONFIG), and their translation into the agent core's configuration.
//
// Commands are given as one string each and split like a POSIX shell splits
// words (quotes and backslashes, no expansions); nothing is ever run through
// a shell.

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/commands.h"
#include "agent/decide.h"
#include "agent/early_warning.h"
#include "agent/kubelet_client.h"
#include "agent/kubelet_scrape.h"
#include "common/result.h"

namespace CLI {
class App;
}

namespace nodeguard::agent {

inline constexpr const char* kDefaultHostCommandPrefix =
    "nsenter --target 1 --mount --uts --ipc --net --pid --";
inline constexpr const char* kDefaultRestartKubeletCommand = "systemctl restart kubelet";
inline constexpr const char* kDefaultRebootCommand = "systemctl reboot";
// Not namespaced: in the agent's container it is the host kernel's boot ID.
inline constexpr const char* kDefaultBootIdFile = "/proc/sys/kernel/random/boot_id";

struct AgentProcessOptions {
  std::string node_name;   // Required: the Node this agent serves.
  std::string kubeconfig;  // Empty: $KUBECONFIG, ~/.kube/config, then in-cluster.

  // Real mode: host_command_prefix + the action's command.
  std::string host_command_prefix = kDefaultHostCommandPrefix;
  // Empty means the default: the runtime's service from the node's
  // containerRuntimeVersion, kDefaultRestartKubeletCommand, kDefaultRebootCommand.
  std::string restart_runtime_command;
  std::string restart_kubelet_command;
  std::string reboot_command;

  // --simulate: run no host command; log what would run and run
  // simulate_command (if set) with {node} and {action} replaced.
  bool simulate = false;
  std::string simulate_command;

  // Real mode: the host's boot ID, read once at start ("" = the Node's bootID).
  std::string boot_id_file = kDefaultBootIdFile;

  std::chrono::milliseconds command_timeout{std::chrono::minutes(2)};
  std::chrono::milliseconds max_request_age{std::chrono::hours(1)};  // Zero disables.
  // How often the agent re-decides on its cached Node without a watch event,
  // so a failed status write is retried.
  std::chrono::milliseconds recheck_interval{std::chrono::seconds(10)};
  std::vector<std::string> enabled_actions = {"RestartContainerRuntime", "RestartKubelet",
                                              "Reboot"};

  std::string metrics_bind_address = ":8080";
  std::string health_probe_bind_address = ":8081";
  std::string log_level = "info";
  std::string log_format = "text";

  // Client-side rate limit of the agent's requests (--kube-api-qps,
  // --kube-api-burst): client-go's defaults. An agent sends a handful of
  // requests per remediation (its Node's list and watch, a few status
  // patches), so 5/s with a burst of 10 never delays it, while 5,000 agents
  // gone wrong together stay a bounded load (docs/operations.md, "Sizing").
  double kube_api_qps = 5;
  int kube_api_burst = 10;

  // --early-warning (issue 19; off by default): scrape the kubelet's
  // /metrics every early_warning_interval and publish the node's level in
  // nodeguard.io/early-warning (agent/early_warning.h).
  bool early_warning = false;
  std::string kubelet_url = "https://127.0.0.1:10250";
  std::string kubelet_ca_file = "/var/lib/kubelet/pki/kubelet.crt";
  std::string kubelet_server_name;  // Empty: the node name.
  bool kubelet_insecure_skip_tls_verify = false;
  std::string kubelet_token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::chrono::milliseconds early_warning_interval{std::chrono::seconds(10)};
  std::chrono::milliseconds kubelet_scrape_timeout{std::chrono::seconds(150)};
  int64_t kubelet_max_body_bytes = 8 << 20;
  std::chrono::milliseconds early_warning_window{std::chrono::seconds(60)};
  // The marks, early::Thresholds' defaults until the policy API sets them.
  std::chrono::milliseconds degraded_relist_p99{std::chrono::seconds(1)};
  std::chrono::milliseconds critical_last_relist{std::chrono::seconds(30)};
  std::chrono::milliseconds calm_relist_p99{std::chrono::milliseconds(500)};
  std::chrono::milliseconds calm_last_relist{std::chrono::seconds(10)};
  std::chrono::milliseconds early_warning_hold{std::chrono::minutes(2)};
};

// Registers the flags on `app` (the `agent` subcommand), binding them to `options`.
void AddAgentFlags(CLI::App& app, AgentProcessOptions& options);

// Checks what CLI11 cannot: the node name, the command strings, the action
// list, and that an empty --host-command-prefix (commands run in the agent's
// own namespaces) comes with an explicit command for every enabled action,
// so the default systemctl commands never act on the machine the agent
// happens to run on. Returns an error message or "".
std::string ValidateAgentOptions(const AgentProcessOptions& options);

// Splits a command line into words as a POSIX shell would, without any
// expansion: blanks separate words; '...' keeps everything literally;
// "..." keeps everything but \" \\ \$ \` (backslash-escaped); a backslash
// outside quotes escapes the next character. kInvalid on an unterminated
// quote or a trailing backslash.
Result<std::vector<std::string>> SplitCommandLine(std::string_view line);

// "Reboot,RestartKubelet" etc.; kInvalid naming an unknown action.
Result<std::set<AgentAction>> ParseActionList(const std::vector<std::string>& names);

// The core's configuration from the options. REQUIRES: ValidateAgentOptions(options) == "".
Result<CommandsConfig> MakeCommandsConfig(const AgentProcessOptions& options);
Result<DecideOptions> MakeDecideOptions(const AgentProcessOptions& options);

// The early-warning pieces' configuration (--early-warning and the kubelet
// flags). The server name defaults to the node name.
KubeletClientOptions MakeKubeletClientOptions(const AgentProcessOptions& options);
KubeletScrapeOptions MakeKubeletScrapeOptions(const AgentProcessOptions& options);
EarlyWarningOptions MakeEarlyWarningOptions(const AgentProcessOptions& options);

// Replaces {node} and {action} in each word (other text is left as is).
std::vector<std::string> ExpandPlaceholders(const std::vector<std::string>& argv,
                                            std::string_view node, std::string_view action);

}  // namespace nodeguard::agent
