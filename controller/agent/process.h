#pragma once

// Running a command with a deadline: the agent's only way to touch its host.

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace nodeguard::agent {

struct ProcessResult {
  int exit_code = -1;       // When the process exited; -1 when killed by a signal.
  int term_signal = 0;      // The signal that killed it, 0 when it exited.
  bool timed_out = false;   // The deadline passed and the process group was killed.
  std::string stdout_text;  // At most kMaxCapture bytes of each stream are kept (the tail).
  std::string stderr_text;
  bool truncated = false;
  std::chrono::milliseconds elapsed{0};

  bool Succeeded() const { return !timed_out && term_signal == 0 && exit_code == 0; }
  // "exited 0 in 1.2s", "killed by signal 9 after timeout 30s", ...
  std::string Summary() const;

  static constexpr size_t kMaxCapture = 64 * 1024;
};

// Runs argv[0] (found on PATH) with argv, no shell. Implementations are thread-safe.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Errors only when the command cannot be started (kNotFound for a missing
  // program, kInternal otherwise); a failing command is a ProcessResult.
  // REQUIRES: !argv.empty(), timeout > 0.
  virtual Result<ProcessResult> Run(const std::vector<std::string>& argv,
                                    std::chrono::milliseconds timeout) = 0;
};

// Spawns the command in its own process group with stdin from /dev/null and
// stdout/stderr captured through pipes. On timeout it sends SIGTERM to the
// whole group, then SIGKILL after `kill_grace`, so children (nsenter forks
// one) die too.
class ProcessRunner final : public CommandRunner {
 public:
  explicit ProcessRunner(std::chrono::milliseconds kill_grace = std::chrono::seconds(2))
      : kill_grace_(kill_grace) {}
  Result<ProcessResult> Run(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout) override;

 private:
  const std::chrono::milliseconds kill_grace_;
};

// "nsenter --target 1 -- systemctl restart 'a b'": for logs and status messages.
std::string FormatCommandLine(const std::vector<std::string>& argv);

}  // namespace nodeguard::agent
