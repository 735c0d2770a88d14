#pragma once

// Helpers for tests against the CTest fixture's cluster (tests/cluster):
// waiting on conditions, running the cluster's tools, finding its state.

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "common/result.h"
#include "kube/config.h"
#include "kube/rest.h"
#include "kube/transport_cpprest.h"

namespace nodeguard::kube::testing {

// Polls `condition` every `period` until it holds or `timeout` passes; the
// result of a last poll at the deadline. Never a fixed sleep in the caller.
template <typename F>
bool Eventually(std::chrono::milliseconds timeout, F condition,
                std::chrono::milliseconds period = std::chrono::milliseconds(200)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(period);
  }
  return condition();
}

struct CommandResult {
  int exit_status = -1;  // -1: could not run, or killed by a signal.
  std::string output;    // stdout only; stderr goes to the test's log.
};

inline CommandResult Run(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.exit_status = WEXITSTATUS(status);
  return result;
}

// stdout of `command`, whatever its exit status.
inline std::string RunCommand(const std::string& command) { return Run(command).output; }

// The fixture's cluster state directory (cluster.env, pki/, logs/), from
// $NODEGUARD_CLUSTER_FIXTURE_DIR/state-dir; empty when not run by CTest.
inline std::string FixtureStateDir() {
  const char* fixture = std::getenv("NODEGUARD_CLUSTER_FIXTURE_DIR");
  if (fixture == nullptr) return "";
  std::ifstream state_file(std::string(fixture) + "/state-dir");
  std::string state;
  std::getline(state_file, state);
  return state;
}

// A value from the fixture cluster's cluster.env, e.g. "ETCD_PORT"; empty if absent.
inline std::string ClusterEnv(const std::string& key) {
  const std::string state = FixtureStateDir();
  if (state.empty()) return "";
  std::ifstream env(state + "/cluster.env");
  for (std::string line; std::getline(env, line);) {
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  }
  return "";
}

// $KUBECTL, else the kubectl built for the fixture's cluster, else kubectl on PATH.
inline std::string Kubectl() {
  if (const char* k = std::getenv("KUBECTL"); k != nullptr && *k != '\0') return k;
  if (const std::string bin = ClusterEnv("NODEGUARD_CLUSTER_BIN"); !bin.empty()) {
    return bin + "/kubectl";
  }
  return "kubectl";
}

// Runs tests/cluster/control-plane (next to $NODEGUARD_SIM) with `args` on
// the fixture's cluster, e.g. "restart-apiserver" or "compact-etcd".
inline CommandResult ControlPlane(const std::string& args) {
  const char* sim = std::getenv("NODEGUARD_SIM");
  const std::string state = FixtureStateDir();
  if (sim == nullptr || state.empty()) return {};
  std::string tool(sim);
  tool = tool.substr(0, tool.rfind('/') + 1) + "control-plane";
  return Run("NODEGUARD_CLUSTER_DIR='" + state + "' '" + tool + "' " + args);
}

// The fixture cluster's client from $KUBECONFIG: transport and REST client,
// owned together. Errors say what could not be loaded.
struct LiveClient {
  ClientConfig config;  // What http was built from.
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<RestClient> rest;  // Uses *http, declared after it.
};
inline Result<std::unique_ptr<LiveClient>> ConnectFromEnvironment() {
  auto config = LoadClientConfig(ConfigSources::FromEnvironment());
  if (!config.ok()) return config.error();
  auto http = MakeCpprestHttpClient(config.value());
  if (!http.ok()) return http.error();
  auto client = std::make_unique<LiveClient>();
  client->config = std::move(config.value());
  client->http = std::move(http.value());
  client->rest = std::make_unique<RestClient>(*client->http);
  return client;
}

}  // namespace nodeguard::kube::testing
