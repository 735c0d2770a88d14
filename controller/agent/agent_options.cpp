#include "agent/agent_options.h"

#include <CLI/CLI.hpp>

#include "common/duration.h"
#include "process/flags.h"

namespace nodeguard::agent {

namespace {

using agentproto::AgentActionName;
using agentproto::ParseAgentAction;

// A Go duration ("90s", "2m", "1h30m"); zero allowed only when it disables something.
CLI::Validator GoDurationValidator(bool allow_zero) {
  return CLI::Validator(
      [allow_zero](std::string& text) -> std::string {
        auto parsed = ParseGoDuration(text);
        if (!parsed.ok()) return parsed.error().message;
        if (*parsed < Duration::zero()) return "must not be negative";
        if (!allow_zero && *parsed == Duration::zero()) return "must be positive";
        return "";
      },
      allow_zero ? "DURATION" : "DURATION>0");
}

// Binds a Go-duration flag to a milliseconds field; the validator has
// already accepted the text when the callback runs.
CLI::Option* AddDuration(CLI::App& app, const std::string& name, std::chrono::milliseconds& field,
                         const std::string& help, bool allow_zero) {
  return app
      .add_option_function<std::string>(
          name,
          [&field](const std::string& text) {
            field = std::chrono::duration_cast<std::chrono::milliseconds>(
                ParseGoDuration(text).value());
          },
          help)
      ->check(GoDurationValidator(allow_zero))
      ->default_str(FormatGoDuration(field));
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n'; }

// The command configured for an action, or "" when it uses the default.
const std::string& ConfiguredCommand(const AgentProcessOptions& o, AgentAction action) {
  switch (action) {
    case AgentAction::kRestartContainerRuntime:
      return o.restart_runtime_command;
    case AgentAction::kRestartKubelet:
      return o.restart_kubelet_command;
    case AgentAction::kReboot:
      return o.reboot_command;
  }
  return o.reboot_command;
}

const char* FlagOf(AgentAction action) {
  switch (action) {
    case AgentAction::kRestartContainerRuntime:
      return "--restart-runtime-command";
    case AgentAction::kRestartKubelet:
      return "--restart-kubelet-command";
    case AgentAction::kReboot:
      return "--reboot-command";
  }
  return "";
}

// A program name never starts with '-'. One that does is most likely the
// next flag, taken as this flag's value: CLI11 reads `--flag= --other=x` as
// --flag="--other=x". An empty value must be written `--flag ""`.
Status CheckProgram(const std::vector<std::string>& words, const char* flag) {
  if (!words.empty() && !words[0].empty() && words[0][0] == '-') {
    return Error::Invalid(std::string(flag) + " starts with \"" + words[0] +
                          "\", not a program (for an empty value write " + flag + " \"\")");
  }
  return Status::Ok();
}

// The words of a configured command, or `fallback` when it is not configured.
Result<std::vector<std::string>> CommandOrDefault(const std::string& configured,
                                                  std::string_view fallback, const char* flag) {
  auto words = SplitCommandLine(configured.empty() ? fallback : configured);
  if (!words.ok()) return Error::Invalid(std::string(flag) + ": " + words.error().message);
  if (words->empty()) return Error::Invalid(std::string(flag) + " is blank");
  if (Status s = CheckProgram(*words, flag); !s.ok()) return s.error();
  return words;
}

// Which Node, which API server.
void AddIdentityFlags(CLI::App& app, AgentProcessOptions& o) {
  app.add_option("--node-name", o.node_name,
                 "The Node this agent serves (required; the DaemonSet passes spec.nodeName). "
                 "The agent watches only this Node")
      ->envname("NODE_NAME");
  app.add_option("--kubeconfig", o.kubeconfig,
                 "Path to a kubeconfig; default $KUBECONFIG, ~/.kube/config, then in-cluster")
      ->envname("KUBECONFIG");
}

// How the actions run: their commands, --simulate, their deadlines and the
// boot ID that tells a Reboot done.
void AddActionFlags(CLI::App& app, AgentProcessOptions& o) {
  app.add_option("--host-command-prefix", o.host_command_prefix,
                 "Prepended to every action's command to run it in the host's namespaces "
                 "(the DaemonSet runs with hostPID). Empty (--host-command-prefix \"\"): run "
                 "commands in the agent's own namespaces, which then requires every enabled "
                 "action's command to be set")
      ->envname("NODEGUARD_HOST_COMMAND_PREFIX")
      ->capture_default_str();
  app.add_option("--restart-runtime-command", o.restart_runtime_command,
                 "Command for RestartContainerRuntime; default: systemctl restart <containerd|"
                 "docker|crio>, from the node's status.nodeInfo.containerRuntimeVersion")
      ->envname("NODEGUARD_RESTART_RUNTIME_COMMAND");
  app.add_option(
         "--restart-kubelet-command", o.restart_kubelet_command,
         std::string("Command for RestartKubelet; default: ") + kDefaultRestartKubeletCommand)
      ->envname("NODEGUARD_RESTART_KUBELET_COMMAND");
  app.add_option("--reboot-command", o.reboot_command,
                 std::string("Command for Reboot (the Running status is stored before it "
                             "runs; Done once the node reports a new bootID); default: ") +
                     kDefaultRebootCommand)
      ->envname("NODEGUARD_REBOOT_COMMAND");
  app.add_flag("--simulate", o.simulate,
               "Touch nothing on the host: log the command each action would run and run "
               "--simulate-command instead (tests and the demo)")
      ->envname("NODEGUARD_SIMULATE");
  app.add_option("--simulate-command", o.simulate_command,
                 "With --simulate: a command run for each action, {node} and {action} "
                 "replaced (e.g. a script that heals or reboots a simulated node)")
      ->envname("NODEGUARD_SIMULATE_COMMAND");
  AddDuration(app, "--command-timeout", o.command_timeout,
              "Deadline of each action's command (Go duration); the command's process group "
              "is killed after it",
              /*allow_zero=*/false)
      ->envname("NODEGUARD_COMMAND_TIMEOUT");
  AddDuration(app, "--max-request-age", o.max_request_age,
              "Requests older than this are refused (Go duration; 0 disables)",
              /*allow_zero=*/true)
      ->envname("NODEGUARD_MAX_REQUEST_AGE");
  AddDuration(app, "--recheck-interval", o.recheck_interval,
              "How often the agent re-decides on its cached Node without a watch event, so a "
              "failed status write is retried (Go duration)",
              /*allow_zero=*/false)
      ->envname("NODEGUARD_RECHECK_INTERVAL");
  app.add_option("--boot-id-file", o.boot_id_file,
                 "Where the agent reads the host's boot ID at start (the value the kubelet "
                 "reports as status.nodeInfo.bootID), so right after a reboot a completed "
                 "Reboot is recognised before the kubelet posts the new bootID. Empty: use the "
                 "Node's bootID. Ignored with --simulate (the simulated node's boot is its "
                 "Node's bootID)")
      ->envname("NODEGUARD_BOOT_ID_FILE")
      ->capture_default_str();
  app.add_option("--enabled-actions", o.enabled_actions,
                 "Comma-separated actions this agent carries out; others are refused "
                 "(RestartContainerRuntime, RestartKubelet, Reboot)")
      ->envname("NODEGUARD_ENABLED_ACTIONS")
      ->delimiter(',')
      ->capture_default_str();
}

// --early-warning: the kubelet scrape and the level's thresholds (issue 19).
void AddEarlyWarningFlags(CLI::App& app, AgentProcessOptions& o) {
  app.add_flag("--early-warning", o.early_warning,
               "Scrape the kubelet's /metrics and publish the node's early-warning level "
               "(Healthy/Degraded/Critical) in the nodeguard.io/early-warning annotation "
               "(issue 19; off by default)")
      ->envname("NODEGUARD_EARLY_WARNING");
  app.add_option("--kubelet-url", o.kubelet_url,
                 "With --early-warning: the kubelet's HTTPS endpoint (the DaemonSet passes the "
                 "host's IP)")
      ->envname("NODEGUARD_KUBELET_URL")
      ->capture_default_str();
  app.add_option("--kubelet-ca-file", o.kubelet_ca_file,
                 "The one trust anchor for the kubelet's serving certificate: the kubelet's own "
                 "self-signed certificate (pinned), or the cluster CA when the kubelet uses "
                 "serverTLSBootstrap")
      ->envname("NODEGUARD_KUBELET_CA_FILE")
      ->capture_default_str();
  app.add_option("--kubelet-server-name", o.kubelet_server_name,
                 "The name the kubelet's certificate must carry (also sent as SNI); default: "
                 "--node-name")
      ->envname("NODEGUARD_KUBELET_SERVER_NAME");
  app.add_flag("--kubelet-insecure-skip-tls-verify", o.kubelet_insecure_skip_tls_verify,
               "Do not verify the kubelet's certificate (the token is then sent to whatever "
               "answers at --kubelet-url): an explicit opt-out")
      ->envname("NODEGUARD_KUBELET_INSECURE_SKIP_TLS_VERIFY");
  app.add_option("--kubelet-token-file", o.kubelet_token_file,
                 "The bearer token for the kubelet (re-read every minute: projected tokens "
                 "rotate); its account needs get on nodes/metrics")
      ->envname("NODEGUARD_KUBELET_TOKEN_FILE")
      ->capture_default_str();
  AddDuration(app, "--early-warning-interval", o.early_warning_interval,
              "Time between the starts of two scrapes of the kubelet (Go duration)",
              /*allow_zero=*/false)
      ->envname("NODEGUARD_EARLY_WARNING_INTERVAL");
  AddDuration(app, "--kubelet-scrape-timeout", o.kubelet_scrape_timeout,
              "How long a scrape waits for the kubelet's answer; the kubelet answers only after "
              "its 2 min CRI timeout while the runtime hangs, and the wait itself counts as a "
              "figure meanwhile (Go duration)",
              /*allow_zero=*/false)
      ->envname("NODEGUARD_KUBELET_SCRAPE_TIMEOUT");
  app.add_option("--kubelet-max-body-bytes", o.kubelet_max_body_bytes,
                 "Larger /metrics bodies are refused (TooLarge), not parsed")
      ->envname("NODEGUARD_KUBELET_MAX_BODY_BYTES")
      ->check(CLI::Range(int64_t{1024}, int64_t{1} << 30))
      ->capture_default_str();
  AddDuration(app, "--early-warning-window", o.early_warning_window,
              "The relist figures cover at least this much time (Go duration)",
              /*allow_zero=*/false)
      ->envname("NODEGUARD_EARLY_WARNING_WINDOW");
  AddDuration(app, "--early-warning-degraded-relist-p99", o.degraded_relist_p99,
              "Degraded when the relist p99 over the window is above this", false)
      ->envname("NODEGUARD_EARLY_WARNING_DEGRADED_RELIST_P99");
  AddDuration(app, "--early-warning-critical-last-relist", o.critical_last_relist,
              "Critical when the last relist (or an unanswered scrape) is older than this", false)
      ->envname("NODEGUARD_EARLY_WARNING_CRITICAL_LAST_RELIST");
  AddDuration(app, "--early-warning-calm-relist-p99", o.calm_relist_p99,
              "Calm (towards Healthy) only with the relist p99 at most this", false)
      ->envname("NODEGUARD_EARLY_WARNING_CALM_RELIST_P99");
  AddDuration(app, "--early-warning-calm-last-relist", o.calm_last_relist,
              "Calm only with the last relist at most this old; Critical steps down to Degraded "
              "below it",
              false)
      ->envname("NODEGUARD_EARLY_WARNING_CALM_LAST_RELIST");
  AddDuration(app, "--early-warning-hold", o.early_warning_hold,
              "Degraded returns to Healthy after the figures stayed calm this long", true)
      ->envname("NODEGUARD_EARLY_WARNING_HOLD");
}

}  // namespace

void AddAgentFlags(CLI::App& app, AgentProcessOptions& o) {
  // In this order in --help.
  AddIdentityFlags(app, o);
  AddActionFlags(app, o);
  AddEarlyWarningFlags(app, o);
  process::AddObservabilityFlags(
      app, {&o.metrics_bind_address, &o.health_probe_bind_address, &o.log_level, &o.log_format});
  process::AddApiClientFlags(app, {&o.kube_api_qps, &o.kube_api_burst},
                             "Default 5 (burst 10) as client-go: one agent runs on every node, "
                             "so thousands of them share the API server.");
}

Result<std::vector<std::string>> SplitCommandLine(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // A word has started, possibly empty ('' or "").
  size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    if (IsBlank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      if (i + 1 >= line.size())
        return Error::Invalid("trailing backslash in: " + std::string(line));
      word += line[i + 1];
      i += 2;
    } else if (c == '\'') {
      size_t end = line.find('\'', i + 1);
      if (end == std::string_view::npos) {
        return Error::Invalid("unterminated ' in: " + std::string(line));
      }
      word.append(line.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char q = line[i];
        if (q == '"') {
          closed = true;
          ++i;
          break;
        }
        if (q == '\\' && i + 1 < line.size() &&
            std::string_view("\"\\$`").find(line[i + 1]) != std::string_view::npos) {
          word += line[i + 1];
          i += 2;
          continue;
        }
        word += q;
        ++i;
      }
      if (!closed) return Error::Invalid("unterminated \" in: " + std::string(line));
    } else {
      word += c;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

Result<std::set<AgentAction>> ParseActionList(const std::vector<std::string>& names) {
  std::set<AgentAction> actions;
  for (const std::string& name : names) {
    auto action = ParseAgentAction(name);
    if (!action) {
      return Error::Invalid("unknown action \"" + name +
                            "\" (want RestartContainerRuntime, RestartKubelet or Reboot)");
    }
    actions.insert(*action);
  }
  return actions;
}

std::string ValidateAgentOptions(const AgentProcessOptions& o) {
  if (o.node_name.empty()) return "--node-name (or NODE_NAME) is required";
  if (std::string problem = process::ValidateApiClientLimits(o.kube_api_qps, o.kube_api_burst);
      !problem.empty()) {
    return problem;
  }
  auto actions = ParseActionList(o.enabled_actions);
  if (!actions.ok()) return "--enabled-actions: " + actions.error().message;
  auto commands = MakeCommandsConfig(o);
  if (!commands.ok()) return commands.error().message;
  auto simulate = SplitCommandLine(o.simulate_command);
  if (!simulate.ok()) return "--simulate-command: " + simulate.error().message;
  if (Status s = CheckProgram(*simulate, "--simulate-command"); !s.ok()) return s.error().message;
  if (!o.simulate_command.empty() && !o.simulate) {
    return "--simulate-command needs --simulate";
  }
  if (o.calm_relist_p99 > o.degraded_relist_p99) {
    return "--early-warning-calm-relist-p99 must not be above --early-warning-degraded-relist-p99";
  }
  if (o.calm_last_relist >= o.critical_last_relist) {
    return "--early-warning-calm-last-relist must be below --early-warning-critical-last-relist";
  }
  if (o.early_warning && !o.kubelet_insecure_skip_tls_verify && o.kubelet_ca_file.empty()) {
    return "--early-warning needs --kubelet-ca-file (or --kubelet-insecure-skip-tls-verify)";
  }
  if (o.early_warning && o.kubelet_url.rfind("https://", 0) != 0) {
    return "--kubelet-url must be an https URL";
  }
  if (!o.simulate && commands->host_prefix.empty()) {
    for (AgentAction action : *actions) {
      if (ConfiguredCommand(o, action).empty()) {
        return std::string(
                   "with an empty --host-command-prefix, commands run on the machine "
                   "the agent runs on: set ") +
               FlagOf(action) + " explicitly (or leave " + AgentActionName(action) +
               " out of --enabled-actions)";
      }
    }
  }
  return "";
}

Result<CommandsConfig> MakeCommandsConfig(const AgentProcessOptions& o) {
  CommandsConfig config;
  auto prefix = SplitCommandLine(o.host_command_prefix);
  if (!prefix.ok()) return Error::Invalid("--host-command-prefix: " + prefix.error().message);
  if (Status s = CheckProgram(*prefix, "--host-command-prefix"); !s.ok()) return s.error();
  config.host_prefix = std::move(prefix).value();
  if (!o.restart_runtime_command.empty()) {
    auto runtime = CommandOrDefault(o.restart_runtime_command, "", "--restart-runtime-command");
    if (!runtime.ok()) return runtime.error();
    config.restart_runtime = std::move(runtime).value();
  }
  auto kubelet = CommandOrDefault(o.restart_kubelet_command, kDefaultRestartKubeletCommand,
                                  "--restart-kubelet-command");
  if (!kubelet.ok()) return kubelet.error();
  config.restart_kubelet = std::move(kubelet).value();
  auto reboot = CommandOrDefault(o.reboot_command, kDefaultRebootCommand, "--reboot-command");
  if (!reboot.ok()) return reboot.error();
  config.reboot = std::move(reboot).value();
  config.timeout = o.command_timeout;
  return config;
}

Result<DecideOptions> MakeDecideOptions(const AgentProcessOptions& o) {
  DecideOptions options;
  auto actions = ParseActionList(o.enabled_actions);
  if (!actions.ok()) return actions.error();
  options.enabled_actions = std::move(actions).value();
  options.max_request_age = std::chrono::duration_cast<std::chrono::seconds>(o.max_request_age);
  return options;
}

KubeletClientOptions MakeKubeletClientOptions(const AgentProcessOptions& o) {
  KubeletClientOptions k;
  k.url = o.kubelet_url;
  k.ca_file = o.kubelet_ca_file;
  k.server_name = o.kubelet_server_name.empty() ? o.node_name : o.kubelet_server_name;
  k.insecure_skip_tls_verify = o.kubelet_insecure_skip_tls_verify;
  k.token_file = o.kubelet_token_file;
  return k;
}

KubeletScrapeOptions MakeKubeletScrapeOptions(const AgentProcessOptions& o) {
  KubeletScrapeOptions s;
  s.max_body_bytes = static_cast<size_t>(o.kubelet_max_body_bytes);
  s.timeout = o.kubelet_scrape_timeout;
  return s;
}

EarlyWarningOptions MakeEarlyWarningOptions(const AgentProcessOptions& o) {
  EarlyWarningOptions e;
  e.node_name = o.node_name;
  e.window = o.early_warning_window;
  e.thresholds.degraded_relist_p99 = o.degraded_relist_p99;
  e.thresholds.critical_last_seen = o.critical_last_relist;
  e.thresholds.calm_relist_p99 = o.calm_relist_p99;
  e.thresholds.calm_last_seen = o.calm_last_relist;
  e.thresholds.hold = o.early_warning_hold;
  return e;
}

std::vector<std::string> ExpandPlaceholders(const std::vector<std::string>& argv,
                                            std::string_view node, std::string_view action) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string& word : argv) {
    std::string expanded;
    size_t i = 0;
    while (i < word.size()) {
      if (word.compare(i, 6, "{node}") == 0) {
        expanded.append(node);
        i += 6;
      } else if (word.compare(i, 8, "{action}") == 0) {
        expanded.append(action);
        i += 8;
      } else {
        expanded += word[i++];
      }
    }
    out.push_back(std::move(expanded));
  }
  return out;
}

}  // namespace nodeguard::agent
