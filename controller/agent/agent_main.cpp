#include "agent/agent_main.h"

#include <cstdio>
#include <memory>
#include <thread>

#include "agent/agent.h"
#include "agent/early_warning.h"
#include "agent/kubelet_client.h"
#include "agent/kubelet_scrape.h"
#include "agent/latest_slot.h"
#include "agent/rest_node_api.h"
#include "common/duration.h"
#include "early/annotation.h"
#include "kube/informer.h"
#include "kube/rest.h"
#include "observe/health.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "process/endpoints.h"
#include "process/process.h"
#include "version.h"

namespace nodeguard::agent {

namespace {

using agentproto::AgentActionName;
using observe::Log;

void LogLines(const std::string& node, const std::string& action, std::string_view stream,
              const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      Log().Info("simulation command output", {{"node", node},
                                               {"action", action},
                                               {"stream", std::string(stream)},
                                               {"line", text.substr(start, end - start)}});
    }
    start = end + 1;
  }
}

}  // namespace

SimulationHook MakeCommandHook(std::vector<std::string> command_template, CommandRunner& runner,
                               std::chrono::milliseconds timeout) {
  if (command_template.empty()) return nullptr;
  return [command_template = std::move(command_template), &runner, timeout](
             AgentAction action, const kube::Node& node) -> Status {
    const std::string action_name = AgentActionName(action);
    std::vector<std::string> argv =
        ExpandPlaceholders(command_template, node.meta.name, action_name);
    const std::string line = FormatCommandLine(argv);
    Log().Info("running simulation command",
               {{"node", node.meta.name}, {"action", action_name}, {"command", line}});
    auto result = runner.Run(argv, timeout);
    if (!result.ok()) return result.error();
    LogLines(node.meta.name, action_name, "stdout", result->stdout_text);
    LogLines(node.meta.name, action_name, "stderr", result->stderr_text);
    if (!result->Succeeded()) {
      std::string message = line + ": " + result->Summary();
      return result->timed_out ? Error::Timeout(message) : Error::Internal(message);
    }
    return Status::Ok();
  };
}

namespace {

// HostCommands, or SimulatedCommands with the --simulate-command hook.
std::unique_ptr<Commands> MakeCommands(const AgentProcessOptions& options,
                                       const CommandsConfig& config,
                                       const std::vector<std::string>& simulate_template,
                                       ProcessRunner& runner) {
  if (options.simulate) {
    return std::make_unique<SimulatedCommands>(
        config, MakeCommandHook(simulate_template, runner, options.command_timeout));
  }
  return std::make_unique<HostCommands>(config, runner);
}

// The Agent's options: the decision's, and the host's boot ID when readable.
AgentOptions MakeAgentOptions(const AgentProcessOptions& options, const DecideOptions& decide,
                              const observe::Logger& log) {
  AgentOptions agent_options;
  agent_options.decide = decide;
  if (!options.simulate && !options.boot_id_file.empty()) {
    auto boot_id = ReadBootIdFile(options.boot_id_file);
    if (boot_id.ok()) {
      agent_options.host_boot_id = *boot_id;
      log.Info("host boot ID", {{"bootId", *boot_id}, {"file", options.boot_id_file}});
    } else {
      // Not fatal: the Node's bootID still works once the kubelet has posted.
      log.Warn("cannot read the host's boot ID; using the Node's bootID",
               {{"error", boot_id.error().ToString()}});
    }
  }
  return agent_options;
}

// One line per action: enabled or not, and the command it would run.
void LogActions(const AgentProcessOptions& options, const AgentOptions& agent_options,
                const CommandsConfig& config, const Commands& commands,
                const observe::Logger& log) {
  for (AgentAction action : {AgentAction::kRestartContainerRuntime, AgentAction::kRestartKubelet,
                             AgentAction::kReboot}) {
    const bool enabled = agent_options.decide.enabled_actions.count(action) > 0;
    const bool detected =
        action == AgentAction::kRestartContainerRuntime && config.restart_runtime.empty();
    // Without a node, the runtime's service is not known yet.
    const std::string command =
        detected ? std::string(options.simulate ? "simulated: " : "") +
                       "systemctl restart <the service of the node's containerRuntimeVersion>"
                 : commands.Describe(action, kube::Node{});
    log.Info("action",
             {{"action", AgentActionName(action)}, {"enabled", enabled}, {"command", command}});
  }
}

// --early-warning: the kubelet's own client (another server, another trust
// anchor and token than the API server's), built at start-up so a bad CA
// file fails then, and the EarlyWarning fed by its scrapes.
struct EarlyWarningParts {
  std::unique_ptr<kube::HttpClient> kubelet_http;
  std::unique_ptr<EarlyWarningMetrics> metrics;
  std::unique_ptr<EarlyWarning> early;
};
Result<EarlyWarningParts> MakeEarlyWarning(const AgentProcessOptions& options,
                                           observe::MetricsRegistry& metrics, NodeApi& node_api,
                                           const observe::Logger& log) {
  EarlyWarningParts parts;
  if (!options.early_warning) return parts;
  const KubeletClientOptions kubelet = MakeKubeletClientOptions(options);
  auto http = MakeKubeletHttpClient(kubelet, RealClock::Instance());
  if (!http.ok()) return http.error();
  parts.kubelet_http = std::move(http).value();
  parts.metrics = std::make_unique<EarlyWarningMetrics>(metrics);
  parts.early = std::make_unique<EarlyWarning>(
      node_api, RealClock::Instance(), MakeEarlyWarningOptions(options), parts.metrics.get());
  log.Info("early warning on",
           {{"kubeletUrl", kubelet.url},
            {"caFile", kubelet.insecure_skip_tls_verify ? "(not verified)" : kubelet.ca_file},
            {"serverName", kubelet.server_name},
            {"interval", FormatGoDuration(options.early_warning_interval)},
            {"window", FormatGoDuration(options.early_warning_window)}});
  return parts;
}

// One scrape at a time, started every --early-warning-interval (or at once
// after a scrape that took longer), until `cancel`; the main loop ticks the
// pending one.
void ScrapeLoop(const AgentProcessOptions& options, kube::HttpClient& kubelet_http,
                EarlyWarning& early, const kube::CancelToken& cancel) {
  KubeletScraper scraper(kubelet_http, RealClock::Instance(), MakeKubeletScrapeOptions(options));
  while (!cancel.cancelled()) {
    const auto started = std::chrono::steady_clock::now();
    early.ScrapeStarted();
    early.ScrapeFinished(scraper.Scrape(cancel));
    const auto next = started + options.early_warning_interval;
    while (!cancel.cancelled() && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

// Until `cancel`, ticking the early warning once a second.
void WaitForStop(EarlyWarning* early, const kube::CancelToken& cancel) {
  auto next_tick = std::chrono::steady_clock::now();
  while (!cancel.cancelled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (early && std::chrono::steady_clock::now() >= next_tick) {
      early->Tick();
      next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
  }
}

// /readyz: the Node's informer synced, and the Node exists.
void AddProbes(process::Probes& probes, const kube::Informer<kube::Node>& nodes,
               const std::string& node_name) {
  probes.readyz.Add("informer", [&nodes]() -> Status {
    if (nodes.HasSynced()) return Status::Ok();
    return Error::Unavailable("node cache not synced");
  });
  probes.readyz.Add("node", [&nodes, node_name]() -> Status {
    if (!nodes.HasSynced() || nodes.store().Get("", node_name)) return Status::Ok();
    return Error::NotFound("node " + node_name + " does not exist");
  });
}

}  // namespace

int RunAgent(const AgentProcessOptions& options) {
  if (Status s = process::SetupLogging(options.log_level, options.log_format); !s.ok()) {
    std::fprintf(stderr, "nodeguard agent: %s\n", s.error().ToString().c_str());
    return 2;
  }
  auto log = Log().With({{"component", "agent"}, {"node", options.node_name}});

  auto commands_config = MakeCommandsConfig(options);
  auto decide_options = MakeDecideOptions(options);
  auto simulate_template = SplitCommandLine(options.simulate_command);
  if (!commands_config.ok() || !decide_options.ok() || !simulate_template.ok()) {
    log.Error("invalid configuration", {{"problem", ValidateAgentOptions(options)}});
    return 2;
  }
  if (options.simulate) {
    log.Info("starting in simulate mode: no host command runs",
             {{"version", kVersion}, {"simulateCommand", options.simulate_command}});
  } else {
    log.Info("starting", {{"version", kVersion},
                          {"hostCommandPrefix", FormatCommandLine(commands_config->host_prefix)}});
  }

  observe::MetricsRegistry metrics;
  auto connection = process::ApiConnection::Open(options.kubeconfig, metrics,
                                                 {options.kube_api_qps, options.kube_api_burst});
  if (!connection.ok()) {
    log.Error("cannot connect to the API server", {{"error", connection.error().ToString()}});
    return 2;
  }
  kube::RestClient& rest = (*connection)->rest();
  process::InformerCounters informer_counters(metrics);
  auto& pending_final = metrics.MustGauge(
      "nodeguard_agent_pending_status_writes",
      "1 while a final nodeguard.io/agent-status write failed and awaits its retry, else 0.");
  AgentMetrics agent_metrics(metrics);

  RestNodeApi node_api(rest);
  ProcessRunner runner;
  std::unique_ptr<Commands> commands =
      MakeCommands(options, *commands_config, *simulate_template, runner);
  const AgentOptions agent_options = MakeAgentOptions(options, *decide_options, log);
  LogActions(options, agent_options, *commands_config, *commands, log);
  Agent agent(node_api, *commands, RealClock::Instance(), agent_options, &agent_metrics);
  auto early_warning = MakeEarlyWarning(options, metrics, node_api, log);
  if (!early_warning.ok()) {
    log.Error("cannot set up the kubelet client", {{"error", early_warning.error().ToString()}});
    return 2;
  }
  EarlyWarning* early = early_warning->early.get();

  // Only this Node: a DaemonSet of thousands must not each watch every node.
  kube::RestListWatcher node_lw(rest, kube::CoreResource("nodes"));
  kube::InformerOptions informer_options;
  informer_options.field_selector = "metadata.name=" + options.node_name;
  kube::Informer<kube::Node> nodes(node_lw, informer_options);
  LatestSlot<kube::Node> latest;
  nodes.AddHandlers({[&](const auto& n) { latest.Put(n); },
                     [&](const auto&, const auto& n) { latest.Put(n); },
                     [&](const auto&) { latest.Put(nullptr); },
                     {}});

  process::Probes probes;
  AddProbes(probes, nodes, options.node_name);
  auto endpoints = process::ServeEndpoints(options.metrics_bind_address,
                                           options.health_probe_bind_address, metrics, probes, log);
  if (!endpoints) return 2;

  process::InstallStopSignalHandlers();
  process::StopToken cancel;

  std::thread informer_thread([&] { nodes.Run(cancel); });
  // One worker: the Agent is not thread-safe, and actions on one node must
  // never overlap.
  std::thread worker([&] {
    for (;;) {
      auto taken = latest.WaitFor(options.recheck_interval);
      if (taken.closed) return;
      informer_counters.Record("nodes", nodes.stats());
      if (!taken.value) continue;  // Not listed yet, or the Node is gone.
      if (early) early->UseThresholds(taken.value->Annotation(early::kThresholdsAnnotation));
      agent.OnNodeUpdate(*taken.value);
      pending_final.Get().Set(agent.pending_final_status() ? 1 : 0);
    }
  });

  if (nodes.WaitForSync(cancel)) {
    if (auto node = nodes.store().Get("", options.node_name)) {
      log.Info("watching the node");
      const std::string* published = node->Annotation(early::kEarlyWarningAnnotation);
      if (early && published) early->Restore(*published);
      if (early) early->UseThresholds(node->Annotation(early::kThresholdsAnnotation));
    } else {
      log.Warn("the node does not exist (yet); waiting for it");
    }
  }
  std::thread scraper_thread;
  if (early) {
    scraper_thread =
        std::thread([&] { ScrapeLoop(options, *early_warning->kubelet_http, *early, cancel); });
  }
  WaitForStop(early, cancel);
  log.Info("shutting down; a running action's command is let finish");
  if (scraper_thread.joinable()) scraper_thread.join();

  latest.Close();
  worker.join();
  nodes.Stop();
  informer_thread.join();
  endpoints->Stop();
  log.Info("stopped");
  return 0;
}

}  // namespace nodeguard::agent
