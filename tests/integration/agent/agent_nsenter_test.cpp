// The agent's real mechanism, end to end and harmless: the Agent decides, and
// HostCommands runs `nsenter --target <pid> --mount --pid -- systemctl ...`
// through the real ProcessRunner. The target is a stand-in "host": fresh PID
// and mount namespaces made with `unshare`, in which a fake `systemctl` (a
// script that records its arguments) is bind-mounted over every systemctl
// on PATH. The bind mounts are private to that mount namespace, so the
// machine's real systemctl is untouched, and the test checks that the fake
// is what `systemctl` resolves to in there before it lets the agent run
// anything. Needs root (for unshare/nsenter): without root it is skipped,
// except under CI (CI=true), where a stand-in host that cannot be set up fails
// the test, as it always does for root: CI must run it, not skip it.

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/agent.h"
#include "agent/command_runner.h"
#include "agent/commands.h"
#include "common/time.h"
#include "fakes.h"

extern char** environ;

namespace nodeguard::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using testing::FakeNodeApi;
using testing::MakeNode;

constexpr const char* kMarker = "nodeguard-test-double";
// Where a systemctl may live; the fake goes over each one that exists in the
// stand-in host, and /usr/local/sbin (first on PATH) always gets one.
const char* const kSystemctlDirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                      "/usr/bin",        "/sbin",          "/bin"};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool OnPath(const std::string& program) {
  for (const char* dir : kSystemctlDirs) {
    if (::access((std::string(dir) + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// The first child of `parent`, from /proc/<parent>/task/<parent>/children.
pid_t FirstChild(pid_t parent) {
  std::ifstream in("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) +
                   "/children");
  pid_t child = 0;
  if (in >> child) return child;
  return 0;
}

// CI=true: what a test cannot set up fails it instead of skipping it.
bool UnderCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

std::string PidNamespace(const std::string& pid) {
  std::error_code ec;
  return fs::read_symlink("/proc/" + pid + "/ns/pid", ec).string();
}

class StandInHost : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      if (UnderCi()) FAIL() << "needs root for unshare and nsenter (CI=true: not skipped)";
      GTEST_SKIP() << "needs root for unshare and nsenter";
    }
    ASSERT_TRUE(OnPath("unshare") && OnPath("nsenter"))
        << "unshare or nsenter missing (util-linux)";
    // A fixed PATH so `systemctl` resolves the same way in every step below.
    ::setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
    ProcessRunner probe;
    auto works = probe.Run({"unshare", "--pid", "--mount", "--fork", "true"}, seconds(20));
    ASSERT_TRUE(works.ok() && works->Succeeded())
        << "unshare --pid --mount does not work here: "
        << (works.ok() ? works->stderr_text : works.error().ToString());

    char pattern[] = "/tmp/nodeguard-agent-host-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "bin");
    calls_ = dir_ / "calls";
    const fs::path fake = dir_ / "bin" / "systemctl";
    {
      std::ofstream out(fake);
      out << "#!/bin/sh\n"
          << "# " << kMarker << ": records its arguments, never acts.\n"
          << "echo \"$(readlink /proc/self/ns/pid) $*\" >> " << calls_.string() << "\n";
    }
    fs::permissions(fake, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);

    // In the new mount namespace (private propagation: nothing leaks out),
    // shadow every systemctl, then become the namespace's long-lived init.
    std::string script = "set -e\nmount --bind " + (dir_ / "bin").string() + " /usr/local/sbin\n";
    for (const char* d : kSystemctlDirs) {
      std::string target = std::string(d) + "/systemctl";
      script +=
          "if [ -e " + target + " ]; then mount --bind " + fake.string() + " " + target + "; fi\n";
    }
    script += "echo ready > " + (dir_ / "ready").string() + "\nexec sleep 600\n";

    // --kill-child: when unshare dies, its child (the stand-in's init) is
    // killed, and with it the whole PID namespace.
    std::vector<std::string> argv = {"unshare", "--pid",        "--mount", "--propagation",
                                     "private", "--kill-child", "--fork",  "--",
                                     "/bin/sh", "-c",           script};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ASSERT_EQ(::posix_spawnp(&unshare_pid_, "unshare", nullptr, nullptr, args.data(), environ), 0);

    for (int i = 0; i < 500 && !fs::exists(dir_ / "ready"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(fs::exists(dir_ / "ready")) << "the stand-in host did not come up";
    for (int i = 0; i < 100 && host_init_ == 0; ++i) {
      host_init_ = FirstChild(unshare_pid_);
      if (host_init_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_NE(host_init_, 0) << "cannot find the stand-in host's init";
    host_prefix_ = {"nsenter", "--target", std::to_string(host_init_), "--mount", "--pid", "--"};
  }

  void TearDown() override {
    // unshare's death kills the stand-in's init (--kill-child), which ends
    // the PID namespace and its mounts.
    if (unshare_pid_ > 0) {
      ::kill(unshare_pid_, SIGKILL);
      int status = 0;
      ::waitpid(unshare_pid_, &status, 0);
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Runs `sh -c script` inside the stand-in host.
  Result<ProcessResult> InHost(const std::string& script) {
    std::vector<std::string> argv = host_prefix_;
    argv.insert(argv.end(), {"/bin/sh", "-c", script});
    return runner_.Run(argv, seconds(20));
  }

  // The safety interlock: in the stand-in host, `systemctl` must resolve to
  // the fake (through PATH, as nsenter will resolve it), and so must every
  // systemctl that exists; outside, the real one must be untouched.
  void AssertOnlyTheFakeIsReachable() {
    auto resolved = InHost("p=$(command -v systemctl) && echo \"$p\" && cat \"$p\"");
    ASSERT_TRUE(resolved.ok()) << resolved.error().ToString();
    ASSERT_TRUE(resolved->Succeeded()) << resolved->stderr_text;
    ASSERT_NE(resolved->stdout_text.find(kMarker), std::string::npos)
        << "systemctl in the stand-in host is not the fake:\n"
        << resolved->stdout_text;
    for (const char* d : kSystemctlDirs) {
      std::string path = std::string(d) + "/systemctl";
      auto content =
          InHost("if [ -e " + path + " ]; then cat " + path + "; else echo " + kMarker + "; fi");
      ASSERT_TRUE(content.ok() && content->Succeeded());
      ASSERT_NE(content->stdout_text.find(kMarker), std::string::npos) << path << " not shadowed";
      if (fs::exists(path)) {
        ASSERT_EQ(ReadFile(path).find(kMarker), std::string::npos)
            << "the fake leaked out of the stand-in host's mount namespace at " << path;
      }
    }
  }

  fs::path dir_;
  fs::path calls_;
  pid_t unshare_pid_ = -1;
  pid_t host_init_ = 0;
  std::vector<std::string> host_prefix_;
  ProcessRunner runner_;
};

TEST_F(StandInHost, RunsEachRequestExactlyOnceThroughNsenter) {
  AssertOnlyTheFakeIsReachable();
  if (HasFatalFailure()) return;

  CommandsConfig config;
  config.host_prefix = host_prefix_;
  config.timeout = seconds(30);
  ProcessRunner runner;
  HostCommands commands(config, runner);
  const WallTime now = *ParseRfc3339("2026-11-27T14:31:40Z");
  FakeClock clock(now);
  FakeNodeApi api(MakeNode("worker-1", "boot-a"));  // containerd://1.7.2
  auto request = [&](const std::string& id, AgentAction action) {
    api.SetRequest(AgentRequest{id, action, now, "nodeguard/test"});
  };
  auto recorded = [&] { return Lines(ReadFile(calls_)); };

  // r1: duplicates from the watch and a stale copy must not run it again.
  Agent agent(api, commands, clock);
  request("r1", AgentAction::kRestartContainerRuntime);
  const kube::Node before = api.node();
  agent.OnNodeUpdate(before);
  agent.OnNodeUpdate(api.node());
  agent.OnNodeUpdate(before);
  agent.OnNodeUpdate(api.node());
  ASSERT_EQ(recorded().size(), 1u);
  ASSERT_TRUE(api.status().has_value());
  EXPECT_EQ(api.status()->state, AgentState::kDone) << api.status()->message;

  // An agent restart does not run r1 again.
  {
    Agent restarted(api, commands, clock);
    restarted.OnNodeUpdate(api.node());
    restarted.OnNodeUpdate(before);
  }
  ASSERT_EQ(recorded().size(), 1u);

  // r2 and r3: one call each.
  request("r2", AgentAction::kRestartKubelet);
  agent.OnNodeUpdate(api.node());
  agent.OnNodeUpdate(api.node());
  request("r3", AgentAction::kRestartContainerRuntime);
  agent.OnNodeUpdate(api.node());
  agent.OnNodeUpdate(api.node());

  // r4: Reboot stays Running (the fake does not reboot); a restarted agent
  // on the same boot closes it as interrupted and never reboots twice.
  request("r4", AgentAction::kReboot);
  agent.OnNodeUpdate(api.node());
  agent.OnNodeUpdate(api.node());
  ASSERT_TRUE(api.status().has_value());
  EXPECT_EQ(api.status()->state, AgentState::kRunning);
  {
    Agent restarted(api, commands, clock);
    restarted.OnNodeUpdate(api.node());
  }
  EXPECT_EQ(api.status()->state, AgentState::kFailed);

  // Exactly one call per request id, in order, each inside the stand-in
  // host's PID namespace (not this test's).
  const std::string host_ns = PidNamespace(std::to_string(host_init_));
  const std::string own_ns = PidNamespace("self");
  ASSERT_FALSE(host_ns.empty());
  ASSERT_NE(host_ns, own_ns);
  std::vector<std::string> expected = {host_ns + " restart containerd",
                                       host_ns + " restart kubelet",
                                       host_ns + " restart containerd", host_ns + " reboot"};
  EXPECT_EQ(recorded(), expected);

  // The Done statuses carry the command that ran.
  EXPECT_NE(api.writes().size(), 0u);
  bool saw_nsenter = false;
  for (const auto& w : api.writes()) {
    if (w.value.find("nsenter --target " + std::to_string(host_init_)) != std::string::npos) {
      saw_nsenter = true;
    }
  }
  EXPECT_TRUE(saw_nsenter);
}

TEST_F(StandInHost, AFailingHostCommandIsReportedNotRetried) {
  AssertOnlyTheFakeIsReachable();
  if (HasFatalFailure()) return;
  CommandsConfig config;
  config.host_prefix = host_prefix_;
  // A configured command that fails inside the stand-in host.
  config.restart_kubelet = {"/bin/sh", "-c", "echo 'Unit kubelet.service not found.' >&2; exit 5"};
  ProcessRunner runner;
  HostCommands commands(config, runner);
  const WallTime now = *ParseRfc3339("2026-11-27T14:31:40Z");
  FakeClock clock(now);
  FakeNodeApi api(MakeNode("worker-1", "boot-a"));
  api.SetRequest(AgentRequest{"k1", AgentAction::kRestartKubelet, now, "nodeguard/test"});
  Agent agent(api, commands, clock);
  agent.OnNodeUpdate(api.node());
  agent.OnNodeUpdate(api.node());
  ASSERT_TRUE(api.status().has_value());
  EXPECT_EQ(api.status()->state, AgentState::kFailed);
  EXPECT_NE(api.status()->message.find("exited 5"), std::string::npos) << api.status()->message;
  EXPECT_NE(api.status()->message.find("Unit kubelet.service not found."), std::string::npos);
  EXPECT_EQ(api.WrittenStates(), (std::vector<std::string>{"Accepted", "Running", "Failed"}));
  EXPECT_TRUE(ReadFile(calls_).empty());  // systemctl was not involved at all.
}

}  // namespace
}  // namespace nodeguard::agent
