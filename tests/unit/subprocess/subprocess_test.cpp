// Runs harmless shell commands through the real subprocess::Run.

#include "subprocess/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace nodeguard::subprocess {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<std::string> Sh(const std::string& script) { return {"/bin/sh", "-c", script}; }

// True when pid no longer runs (gone, or a zombie waiting for its reaper).
bool Dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

class SubprocessTest : public ::testing::Test {
 protected:
  SubprocessTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("nodeguard-process-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  ~SubprocessTest() override { std::filesystem::remove_all(dir_); }

  static Result<ProcessResult> RunFor(const std::vector<std::string>& argv, milliseconds timeout,
                                      RunOptions options = {}) {
    options.timeout = timeout;
    options.kill_grace = milliseconds(200);
    return subprocess::Run(argv, options);
  }

  std::filesystem::path dir_;
};

TEST_F(SubprocessTest, CapturesBothStreamsAndTheExitCode) {
  auto r = RunFor(Sh("echo out; echo err >&2; printf 'no newline'; exit 3"), seconds(10));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->term_signal, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->Succeeded());
  EXPECT_EQ(r->stdout_text, "out\nno newline");
  EXPECT_EQ(r->stderr_text, "err\n");
  EXPECT_NE(r->Summary().find("exited 3"), std::string::npos) << r->Summary();
}

TEST_F(SubprocessTest, SucceedsWithArgumentsPassedVerbatim) {
  auto r = RunFor({"/bin/echo", "a b", "$HOME", "'q'"}, seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Succeeded());
  EXPECT_EQ(r->stdout_text, "a b $HOME 'q'\n");  // No shell in between.
}

TEST_F(SubprocessTest, StdinIsEmpty) {
  auto r = RunFor({"cat"}, seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Succeeded());
  EXPECT_EQ(r->stdout_text, "");
}

TEST_F(SubprocessTest, MissingProgramIsNotFound) {
  auto r = RunFor({"nodeguard-no-such-program"}, seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kNotFound);
}

TEST_F(SubprocessTest, ReportsDeathBySignal) {
  auto r = RunFor(Sh("kill -9 $$"), seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->term_signal, SIGKILL);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_FALSE(r->Succeeded());
}

TEST_F(SubprocessTest, TimeoutKillsTheWholeProcessGroup) {
  const auto pid_file = dir_ / "child.pid";
  // The backgrounded sleep is a grandchild of the runner: only a kill of the
  // process group reaches it. The shell ignores SIGTERM, so SIGKILL is needed.
  auto r =
      RunFor(Sh("trap '' TERM; sleep 60 & echo $! > " + pid_file.string() + "; echo started; wait"),
             milliseconds(300));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_FALSE(r->Succeeded());
  EXPECT_EQ(r->stdout_text, "started\n");
  EXPECT_NE(r->Summary().find("timed out"), std::string::npos);
  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  ASSERT_TRUE(in >> grandchild);
  // SIGKILL is delivered synchronously to the group; give the kernel a moment to tear it down.
  for (int i = 0; i < 100 && !Dead(grandchild); ++i) ::usleep(20000);
  EXPECT_TRUE(Dead(grandchild)) << "pid " << grandchild << " survived the timeout";
}

TEST_F(SubprocessTest, KeepsTheTailOfLargeOutput) {
  auto r = RunFor(Sh("head -c 200000 /dev/zero | tr '\\0' a; echo END"), seconds(20));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->Succeeded());
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->stdout_text.size(), ProcessResult::kDefaultMaxCapture);
  EXPECT_EQ(r->stdout_text.substr(r->stdout_text.size() - 4), "END\n");
}

TEST_F(SubprocessTest, KeepsAsMuchOutputAsAskedFor) {
  RunOptions options;
  options.max_capture = 1 << 20;
  auto r = RunFor(Sh("head -c 200000 /dev/zero | tr '\\0' a"), seconds(20), options);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(r->stdout_text.size(), 200000u);
}

TEST_F(SubprocessTest, SetsTheGivenVariablesOverTheInheritedOnes) {
  ASSERT_EQ(::setenv("NODEGUARD_SUBPROCESS_TEST_KEPT", "inherited", 1), 0);
  ASSERT_EQ(::setenv("NODEGUARD_SUBPROCESS_TEST_REPLACED", "inherited", 1), 0);
  RunOptions options;
  options.env = {{"NODEGUARD_SUBPROCESS_TEST_REPLACED", "given"},
                 {"NODEGUARD_SUBPROCESS_TEST_NEW", "new value"}};
  auto r = RunFor(Sh("echo \"$NODEGUARD_SUBPROCESS_TEST_KEPT|$NODEGUARD_SUBPROCESS_TEST_REPLACED|"
                     "$NODEGUARD_SUBPROCESS_TEST_NEW\"; env | grep -c "
                     "'^NODEGUARD_SUBPROCESS_TEST_REPLACED='"),
                  seconds(10), options);
  ::unsetenv("NODEGUARD_SUBPROCESS_TEST_KEPT");
  ::unsetenv("NODEGUARD_SUBPROCESS_TEST_REPLACED");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->stdout_text, "inherited|given|new value\n1\n");
}

TEST_F(SubprocessTest, EmptyCommandIsInvalid) {
  auto r = RunFor({}, seconds(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
}

TEST(FormatCommandLine, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(
      FormatCommandLine({"nsenter", "--target", "1", "--", "systemctl", "restart", "containerd"}),
      "nsenter --target 1 -- systemctl restart containerd");
  EXPECT_EQ(FormatCommandLine({"sh", "-c", "echo 'hi' there", ""}),
            "sh -c 'echo '\\''hi'\\'' there' ''");
}

}  // namespace
}  // namespace nodeguard::subprocess
