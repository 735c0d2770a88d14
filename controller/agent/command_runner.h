#pragma once

// Running a command with a deadline: the agent's only way to touch its host.
// The seam (CommandRunner) is the agent's; the forking is subprocess/'s.

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"
#include "subprocess/subprocess.h"

namespace nodeguard::agent {

using subprocess::FormatCommandLine;
using subprocess::ProcessResult;

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

// subprocess::Run: its own process group, output captured, the group
// SIGTERMed on timeout and SIGKILLed `kill_grace` later, so children
// (nsenter forks one) die too.
class ProcessRunner final : public CommandRunner {
 public:
  explicit ProcessRunner(std::chrono::milliseconds kill_grace = std::chrono::seconds(2))
      : kill_grace_(kill_grace) {}
  Result<ProcessResult> Run(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout) override {
    subprocess::RunOptions options;
    options.timeout = timeout;
    options.kill_grace = kill_grace_;
    return subprocess::Run(argv, options);
  }

 private:
  const std::chrono::milliseconds kill_grace_;
};

}  // namespace nodeguard::agent
