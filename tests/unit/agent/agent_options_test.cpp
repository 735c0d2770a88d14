#include "agent/agent_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>

namespace nodeguard::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

AgentProcessOptions Parse(std::vector<std::string> args, std::string* error = nullptr) {
  AgentProcessOptions o;
  CLI::App app;
  AddAgentFlags(app, o);
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    if (error) *error = e.what();
  }
  return o;
}

// Sets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST(AgentOptions, Defaults) {
  AgentProcessOptions o = Parse({"--node-name", "worker-1"});
  EXPECT_EQ(o.node_name, "worker-1");
  EXPECT_EQ(o.host_command_prefix, "nsenter --target 1 --mount --uts --ipc --net --pid --");
  EXPECT_FALSE(o.simulate);
  EXPECT_EQ(o.command_timeout, 2min);
  EXPECT_EQ(o.max_request_age, 1h);
  EXPECT_EQ(o.recheck_interval, 10s);
  EXPECT_THAT(o.enabled_actions,
              ElementsAre("RestartContainerRuntime", "RestartKubelet", "Reboot"));
  EXPECT_EQ(o.metrics_bind_address, ":8080");
  EXPECT_EQ(o.health_probe_bind_address, ":8081");
  EXPECT_EQ(ValidateAgentOptions(o), "");

  // The defaults are the core's defaults: the flags change nothing by themselves.
  auto commands = MakeCommandsConfig(o);
  ASSERT_TRUE(commands.ok()) << commands.error().ToString();
  const CommandsConfig core;
  EXPECT_EQ(commands->host_prefix, core.host_prefix);
  EXPECT_EQ(commands->restart_kubelet, core.restart_kubelet);
  EXPECT_EQ(commands->reboot, core.reboot);
  EXPECT_TRUE(commands->restart_runtime.empty());  // Detected from the node.
  EXPECT_EQ(commands->timeout, core.timeout);
  auto decide = MakeDecideOptions(o);
  ASSERT_TRUE(decide.ok());
  EXPECT_EQ(decide->enabled_actions, DecideOptions{}.enabled_actions);
  EXPECT_EQ(decide->max_request_age, DecideOptions{}.max_request_age);
}

TEST(AgentOptions, ApiClientLimitsDefaultToClientGosAndAreValidated) {
  AgentProcessOptions o = Parse({"--node-name", "w"});
  EXPECT_EQ(o.kube_api_qps, 5);
  EXPECT_EQ(o.kube_api_burst, 10);
  o = Parse({"--node-name", "w", "--kube-api-qps", "2.5", "--kube-api-burst", "4"});
  EXPECT_EQ(o.kube_api_qps, 2.5);
  EXPECT_EQ(o.kube_api_burst, 4);
  std::string error;
  Parse({"--node-name", "w", "--kube-api-qps", "0"}, &error);
  EXPECT_THAT(error, HasSubstr("--kube-api-qps: must be a number greater than 0"));
  error.clear();
  Parse({"--node-name", "w", "--kube-api-burst", "0"}, &error);
  EXPECT_THAT(error, HasSubstr("--kube-api-burst: must be an integer of at least 1"));
  // Set programmatically past the flags, ValidateAgentOptions still refuses them.
  o.kube_api_qps = -1;
  EXPECT_THAT(ValidateAgentOptions(o), HasSubstr("--kube-api-qps"));
}

TEST(AgentOptions, Flags) {
  AgentProcessOptions o =
      Parse({"--node-name=w1", "--host-command-prefix", "", "--reboot-command",
             "/opt/sim 'reboot now' --delay 5", "--restart-runtime-command", "/opt/sim heal w1",
             "--restart-kubelet-command", "/opt/sim heal w1", "--command-timeout", "90s",
             "--max-request-age", "0", "--recheck-interval", "500ms", "--enabled-actions",
             "Reboot,RestartKubelet", "--log-format", "json"});
  ASSERT_EQ(ValidateAgentOptions(o), "");
  EXPECT_EQ(o.command_timeout, 90s);
  EXPECT_EQ(o.max_request_age, 0ms);
  EXPECT_EQ(o.recheck_interval, 500ms);
  EXPECT_EQ(o.log_format, "json");
  auto commands = MakeCommandsConfig(o);
  ASSERT_TRUE(commands.ok());
  EXPECT_TRUE(commands->host_prefix.empty());
  EXPECT_THAT(commands->reboot, ElementsAre("/opt/sim", "reboot now", "--delay", "5"));
  EXPECT_THAT(commands->restart_runtime, ElementsAre("/opt/sim", "heal", "w1"));
  EXPECT_EQ(commands->timeout, 90s);
  auto decide = MakeDecideOptions(o);
  ASSERT_TRUE(decide.ok());
  EXPECT_EQ(decide->enabled_actions,
            (std::set<AgentAction>{AgentAction::kReboot, AgentAction::kRestartKubelet}));
  EXPECT_EQ(decide->max_request_age, 0s);
}

TEST(AgentOptions, BadValuesAreParseErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--command-timeout", "soon"},
                                                                {"--command-timeout", "0s"},
                                                                {"--recheck-interval", "0"},
                                                                {"--max-request-age", "-1h"},
                                                                {"--log-level", "loud"},
                                                                {"--log-format", "xml"}}) {
    std::string error;
    Parse(args, &error);
    EXPECT_FALSE(error.empty()) << args[0] << " " << args[1];
  }
}

TEST(AgentOptions, EnvironmentTwins) {
  ScopedEnv node("NODE_NAME", "worker-7");
  ScopedEnv simulate("NODEGUARD_SIMULATE", "true");
  ScopedEnv actions("NODEGUARD_ENABLED_ACTIONS", "Reboot,RestartKubelet");
  ScopedEnv timeout("NODEGUARD_COMMAND_TIMEOUT", "45s");
  ScopedEnv reboot("NODEGUARD_REBOOT_COMMAND", "echo reboot");
  AgentProcessOptions o = Parse({});
  EXPECT_EQ(o.node_name, "worker-7");
  EXPECT_TRUE(o.simulate);
  EXPECT_THAT(o.enabled_actions, ElementsAre("Reboot", "RestartKubelet"));
  EXPECT_EQ(o.command_timeout, 45s);
  EXPECT_EQ(o.reboot_command, "echo reboot");
  // A flag wins over its twin.
  EXPECT_EQ(Parse({"--node-name", "worker-8"}).node_name, "worker-8");
}

TEST(AgentOptions, Validation) {
  struct Case {
    std::string name;
    std::vector<std::string> args;
    std::string want;  // Substring of the problem; "" for valid.
  };
  const std::vector<Case> cases = {
      {"no node", {}, "--node-name"},
      {"defaults", {"--node-name=w"}, ""},
      {"unknown action", {"--node-name=w", "--enabled-actions=Reboot,Explode"}, "Explode"},
      {"empty prefix keeps default systemctl reboot",
       {"--node-name=w", "--host-command-prefix", "", "--restart-runtime-command=a",
        "--restart-kubelet-command=b"},
       "--reboot-command"},
      {"empty prefix, runtime detected",
       {"--node-name=w", "--host-command-prefix", "", "--reboot-command=a",
        "--restart-kubelet-command=b"},
       "--restart-runtime-command"},
      {"empty prefix, every command set",
       {"--node-name=w", "--host-command-prefix", "", "--reboot-command=a",
        "--restart-kubelet-command=b", "--restart-runtime-command=c"},
       ""},
      {"empty prefix, only the enabled action set",
       {"--node-name=w", "--host-command-prefix", "", "--reboot-command=a",
        "--enabled-actions=Reboot"},
       ""},
      {"blank prefix counts as empty",
       {"--node-name=w", "--host-command-prefix=  ", "--enabled-actions=Reboot"},
       "--reboot-command"},
      {"simulate runs no host command",
       {"--node-name=w", "--host-command-prefix", "", "--simulate"},
       ""},
      {"simulate command",
       {"--node-name=w", "--simulate", "--simulate-command=sim {action} {node}"},
       ""},
      {"simulate command without simulate",
       {"--node-name=w", "--simulate-command=x"},
       "needs --simulate"},
      {"unterminated quote", {"--node-name=w", "--reboot-command=echo 'oops"}, "--reboot-command"},
      {"blank command", {"--node-name=w", "--restart-kubelet-command= "}, "blank"},
      {"bad prefix",
       {"--node-name=w", "--host-command-prefix=nsenter \"x"},
       "--host-command-prefix"},
      {"bad simulate command",
       {"--node-name=w", "--simulate", "--simulate-command=a\\"},
       "--simulate-command"},
  };
  for (const Case& c : cases) {
    std::string error;
    AgentProcessOptions o = Parse(c.args, &error);
    ASSERT_EQ(error, "") << c.name;
    std::string problem = ValidateAgentOptions(o);
    if (c.want.empty()) {
      EXPECT_EQ(problem, "") << c.name;
    } else {
      EXPECT_THAT(problem, HasSubstr(c.want)) << c.name;
    }
  }
}

TEST(AgentOptions, EarlyWarningIsOffAndItsDefaultsAreTheCores) {
  AgentProcessOptions o = Parse({"--node-name", "worker-1"});
  EXPECT_FALSE(o.early_warning);
  EXPECT_EQ(ValidateAgentOptions(o), "");
  const KubeletClientOptions client = MakeKubeletClientOptions(o);
  EXPECT_EQ(client.url, "https://127.0.0.1:10250");
  EXPECT_EQ(client.ca_file, "/var/lib/kubelet/pki/kubelet.crt");
  EXPECT_EQ(client.server_name, "worker-1");  // The node name: the self-signed cert's only SAN.
  EXPECT_FALSE(client.insecure_skip_tls_verify);
  EXPECT_EQ(client.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  const KubeletScrapeOptions scrape = MakeKubeletScrapeOptions(o);
  EXPECT_EQ(scrape.max_body_bytes, KubeletScrapeOptions{}.max_body_bytes);
  EXPECT_EQ(scrape.timeout, 150s);
  EXPECT_EQ(o.early_warning_interval, 10s);
  const EarlyWarningOptions ew = MakeEarlyWarningOptions(o);
  const early::Thresholds core;
  EXPECT_EQ(ew.thresholds.degraded_relist_p99, core.degraded_relist_p99);
  EXPECT_EQ(ew.thresholds.critical_last_seen, core.critical_last_seen);
  EXPECT_EQ(ew.thresholds.calm_relist_p99, core.calm_relist_p99);
  EXPECT_EQ(ew.thresholds.calm_last_seen, core.calm_last_seen);
  EXPECT_EQ(ew.thresholds.hold, core.hold);
  EXPECT_EQ(ew.window, EarlyWarningOptions{}.window);
  EXPECT_EQ(ew.node_name, "worker-1");
}

TEST(AgentOptions, EarlyWarningFlags) {
  std::string error;
  AgentProcessOptions o = Parse({"--node-name",
                                 "n1",
                                 "--early-warning",
                                 "--kubelet-url",
                                 "https://10.0.0.7:10350",
                                 "--kubelet-ca-file",
                                 "/ca.crt",
                                 "--kubelet-server-name",
                                 "n1.example",
                                 "--kubelet-token-file",
                                 "/t",
                                 "--early-warning-interval",
                                 "5s",
                                 "--kubelet-scrape-timeout",
                                 "3m",
                                 "--kubelet-max-body-bytes",
                                 "2048",
                                 "--early-warning-window",
                                 "30s",
                                 "--early-warning-degraded-relist-p99",
                                 "2s",
                                 "--early-warning-critical-last-relist",
                                 "45s",
                                 "--early-warning-calm-relist-p99",
                                 "1s",
                                 "--early-warning-calm-last-relist",
                                 "15s",
                                 "--early-warning-hold",
                                 "0s"},
                                &error);
  EXPECT_EQ(error, "");
  EXPECT_TRUE(o.early_warning);
  EXPECT_EQ(ValidateAgentOptions(o), "");
  const KubeletClientOptions client = MakeKubeletClientOptions(o);
  EXPECT_EQ(client.url, "https://10.0.0.7:10350");
  EXPECT_EQ(client.ca_file, "/ca.crt");
  EXPECT_EQ(client.server_name, "n1.example");
  EXPECT_EQ(client.token_file, "/t");
  EXPECT_EQ(MakeKubeletScrapeOptions(o).timeout, 3min);
  EXPECT_EQ(MakeKubeletScrapeOptions(o).max_body_bytes, 2048u);
  EXPECT_EQ(o.early_warning_interval, 5s);
  const EarlyWarningOptions ew = MakeEarlyWarningOptions(o);
  EXPECT_EQ(ew.window, 30s);
  EXPECT_EQ(ew.thresholds.degraded_relist_p99, 2s);
  EXPECT_EQ(ew.thresholds.critical_last_seen, 45s);
  EXPECT_EQ(ew.thresholds.calm_relist_p99, 1s);
  EXPECT_EQ(ew.thresholds.calm_last_seen, 15s);
  EXPECT_EQ(ew.thresholds.hold, 0s);
}

TEST(AgentOptions, EarlyWarningValidation) {
  auto problem = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"--node-name", "n1"});
    std::string error;
    AgentProcessOptions o = Parse(args, &error);
    return error.empty() ? ValidateAgentOptions(o) : error;
  };
  EXPECT_THAT(problem({"--early-warning-calm-relist-p99", "2s"}),
              HasSubstr("must not be above --early-warning-degraded-relist-p99"));
  EXPECT_THAT(problem({"--early-warning-calm-last-relist", "30s"}),
              HasSubstr("must be below --early-warning-critical-last-relist"));
  EXPECT_THAT(problem({"--early-warning", "--kubelet-url", "http://127.0.0.1:10255"}),
              HasSubstr("https"));
  EXPECT_THAT(problem({"--early-warning", "--kubelet-ca-file", ""}),
              HasSubstr("--kubelet-insecure-skip-tls-verify"));
  EXPECT_EQ(
      problem({"--early-warning", "--kubelet-ca-file", "", "--kubelet-insecure-skip-tls-verify"}),
      "");
  EXPECT_THAT(problem({"--kubelet-max-body-bytes", "10"}), HasSubstr("kubelet-max-body-bytes"));
  EXPECT_THAT(problem({"--early-warning-interval", "0s"}), HasSubstr("early-warning-interval"));
}

TEST(SplitCommandLine, LikeAShell) {
  struct Case {
    std::string line;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"", {}},
      {"   ", {}},
      {"systemctl reboot", {"systemctl", "reboot"}},
      {"  a \t b\n c  ", {"a", "b", "c"}},
      {"a 'b c' d", {"a", "b c", "d"}},
      {"a \"b c\" d", {"a", "b c", "d"}},
      {"a '' b", {"a", "", "b"}},
      {"a\"\"", {"a"}},
      {"x'y z'w", {"xy zw"}},
      {R"(a\ b)", {"a b"}},
      {R"("say \"hi\" \$HOME \n")", {R"(say "hi" $HOME \n)"}},
      {R"('no \escapes "here"')", {R"(no \escapes "here")"}},
      {"{node} {action}", {"{node}", "{action}"}},
      {"$HOME ~ *", {"$HOME", "~", "*"}},  // No expansions: nothing runs through a shell.
  };
  for (const Case& c : cases) {
    auto words = SplitCommandLine(c.line);
    ASSERT_TRUE(words.ok()) << c.line << ": " << words.error().ToString();
    EXPECT_EQ(*words, c.want) << c.line;
  }
  for (const char* bad : {"a 'b", "a \"b", "a\\", "\"a\\\""}) {
    auto words = SplitCommandLine(bad);
    EXPECT_FALSE(words.ok()) << bad;
    if (!words.ok()) {
      EXPECT_TRUE(words.error().Is(ErrorKind::kInvalid));
    }
  }
}

TEST(ParseActionList, NamesTheUnknownAction) {
  auto all = ParseActionList({"Reboot", "RestartKubelet", "RestartContainerRuntime", "Reboot"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  auto bad = ParseActionList({"Reboot", "reboot"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("\"reboot\""));
  EXPECT_TRUE(ParseActionList({}).ok());
}

TEST(ExpandPlaceholders, ReplacesNodeAndActionInEveryWord) {
  EXPECT_THAT(ExpandPlaceholders(
                  {"sim", "--action={action}", "{node}", "{node}-{node}", "{other}", "{nod", "}"},
                  "worker-3", "Reboot"),
              ElementsAre("sim", "--action=Reboot", "worker-3", "worker-3-worker-3", "{other}",
                          "{nod", "}"));
}

}  // namespace
}  // namespace nodeguard::agent
