#pragma once

// Running a program with a deadline, no shell: the one place that forks.
// Used by the agent (host commands through nsenter) and by kube/config
// (kubeconfig exec credential plugins).

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace nodeguard::subprocess {

struct ProcessResult {
  int exit_code = -1;       // When the process exited; -1 when killed by a signal.
  int term_signal = 0;      // The signal that killed it, 0 when it exited.
  bool timed_out = false;   // The deadline passed and the process group was killed.
  std::string stdout_text;  // At most RunOptions::max_capture bytes of each stream (the tail).
  std::string stderr_text;
  bool truncated = false;  // Some output was dropped to keep the tail.
  std::chrono::milliseconds elapsed{0};

  bool Succeeded() const { return !timed_out && term_signal == 0 && exit_code == 0; }
  // "exited 0 in 1.2s", "killed by signal 9 (Killed) after 3s", ...
  std::string Summary() const;

  static constexpr size_t kDefaultMaxCapture = 64 * 1024;
};

struct RunOptions {
  std::chrono::milliseconds timeout{30000};
  // After the timeout's SIGTERM to the group, how long until SIGKILL.
  std::chrono::milliseconds kill_grace{2000};
  // Set in the child's environment on top of this process's own; a name
  // given here replaces the inherited variable of that name.
  std::vector<std::pair<std::string, std::string>> env;
  size_t max_capture = ProcessResult::kDefaultMaxCapture;
};

// Runs argv[0] (found on PATH) with argv: its own process group, stdin from
// /dev/null, stdout and stderr captured through pipes. On timeout SIGTERM goes
// to the whole group, then SIGKILL after kill_grace, so children die too.
// Errors only when the program cannot be started (kNotFound for a missing
// program, kInvalid for an empty argv, kInternal otherwise); a program that
// fails is a ProcessResult. Thread-safe.
// REQUIRES: options.timeout > 0.
Result<ProcessResult> Run(const std::vector<std::string>& argv, const RunOptions& options);

// "nsenter --target 1 -- systemctl restart 'a b'": for logs and status messages.
std::string FormatCommandLine(const std::vector<std::string>& argv);

}  // namespace nodeguard::subprocess
