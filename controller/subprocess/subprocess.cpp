#include "subprocess/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/duration.h"

extern char** environ;

namespace nodeguard::subprocess {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// After the main process exits, how long to keep reading output that its
// leftover children may still write to the inherited pipes.
constexpr milliseconds kDrainAfterExit{1000};
// After SIGKILL, how long to wait for the kernel to reap the group before
// giving up on a process stuck in uninterruptible sleep.
constexpr milliseconds kReapAfterKill{5000};
constexpr int kPollSlice = 50;  // ms: how often waitpid is polled.

// Closes a file descriptor on scope exit.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int* receive() { return &fd_; }

 private:
  int fd_ = -1;
};

// Keeps the last `limit` bytes.
void AppendTail(std::string& buffer, const char* data, size_t n, size_t limit, bool& truncated) {
  buffer.append(data, n);
  if (buffer.size() > limit) {
    buffer.erase(0, buffer.size() - limit);
    truncated = true;
  }
}

// Reads what is available; returns false at EOF or on a read error.
bool Drain(int fd, std::string& buffer, size_t limit, bool& truncated) {
  char chunk[4096];
  while (true) {
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n > 0) {
      AppendTail(buffer, chunk, static_cast<size_t>(n), limit, truncated);
      if (static_cast<size_t>(n) < sizeof(chunk)) return true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;  // EOF or error.
  }
}

bool NeedsQuoting(const std::string& arg) {
  if (arg.empty()) return true;
  for (char c : arg) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == '/' || c == ':' || c == '=' || c == ',' ||
                 c == '@' || c == '+';
    if (!plain) return true;
  }
  return false;
}

// This process's environment with `overrides` set on top, as "NAME=value".
std::vector<std::string> ChildEnvironment(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::vector<std::string> out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view var(*entry);
    const std::string_view name = var.substr(0, var.find('='));
    bool overridden = false;
    for (const auto& [key, value] : overrides) overridden = overridden || key == name;
    if (!overridden) out.emplace_back(var);
  }
  for (const auto& [key, value] : overrides) out.push_back(key + "=" + value);
  return out;
}

}  // namespace

std::string ProcessResult::Summary() const {
  std::string elapsed_text = FormatGoDuration(elapsed);
  if (timed_out) return "timed out after " + elapsed_text + "; process group killed";
  if (term_signal != 0) {
    return "killed by signal " + std::to_string(term_signal) + " (" + ::strsignal(term_signal) +
           ") after " + elapsed_text;
  }
  return "exited " + std::to_string(exit_code) + " in " + elapsed_text;
}

std::string FormatCommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : argv) {
    if (!out.empty()) out += ' ';
    if (!NeedsQuoting(arg)) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

Result<ProcessResult> Run(const std::vector<std::string>& argv, const RunOptions& options) {
  if (argv.empty()) return Error::Invalid("empty command");
  const milliseconds timeout = options.timeout;
  Fd out_read, out_write, err_read, err_write;
  {
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0)
      return Error::Internal("pipe: " + std::string(strerror(errno)));
    *out_read.receive() = out_pipe[0];
    *out_write.receive() = out_pipe[1];
    if (::pipe2(err_pipe, O_CLOEXEC) != 0)
      return Error::Internal("pipe: " + std::string(strerror(errno)));
    *err_read.receive() = err_pipe[0];
    *err_write.receive() = err_pipe[1];
  }
  for (int fd : {out_read.get(), err_read.get()}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);

  // Its own process group (so a timeout can kill everything it started), no
  // blocked signals, and default dispositions for the signals we may have
  // changed in this process.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attributes, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attributes, &defaults);

  std::vector<std::string> env_storage = ChildEnvironment(options.env);
  std::vector<char*> envp;
  envp.reserve(env_storage.size() + 1);
  for (std::string& var : env_storage) envp.push_back(var.data());
  envp.push_back(nullptr);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  const Clock::time_point start = Clock::now();
  pid_t pid = -1;
  int spawn_error =
      ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attributes, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  out_write.Close();
  err_write.Close();
  if (spawn_error != 0) {
    std::string message = "cannot run " + argv[0] + ": " + strerror(spawn_error);
    if (spawn_error == ENOENT) return Error::NotFound(message);
    return Error::Internal(message);
  }

  ProcessResult result;
  bool out_open = true, err_open = true;
  bool exited = false, reaped = false, term_sent = false, kill_sent = false;
  Clock::time_point exit_time, term_time, kill_time;
  int wait_status = 0;
  const Clock::time_point deadline = start + timeout;
  while (true) {
    Clock::time_point now = Clock::now();
    if (!exited) {
      pid_t r = ::waitpid(pid, &wait_status, WNOHANG);
      if (r == pid) {
        exited = reaped = true;
        exit_time = now;
      } else if (r < 0 && errno != EINTR) {
        exited = true;  // ECHILD: reaped elsewhere (SIGCHLD ignored?); status unknown.
        exit_time = now;
      }
    }
    if (exited && ((!out_open && !err_open) || now - exit_time >= kDrainAfterExit)) break;
    if (!exited && !term_sent && now >= deadline) {
      result.timed_out = true;
      term_sent = true;
      term_time = now;
      ::kill(-pid, SIGTERM);
    }
    if (term_sent && !kill_sent && now - term_time >= options.kill_grace) {
      kill_sent = true;
      kill_time = now;
      ::kill(-pid, SIGKILL);
    }
    if (kill_sent && !exited && now - kill_time >= kReapAfterKill) break;  // Stuck in D state.

    pollfd fds[2];
    nfds_t count = 0;
    if (out_open) fds[count++] = pollfd{out_read.get(), POLLIN, 0};
    if (err_open) fds[count++] = pollfd{err_read.get(), POLLIN, 0};
    if (count == 0) {
      ::poll(nullptr, 0, kPollSlice);
      continue;
    }
    int ready = ::poll(fds, count, kPollSlice);
    if (ready <= 0) continue;  // Timeout or EINTR: re-check the process.
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == out_read.get()) {
        out_open = Drain(out_read.get(), result.stdout_text, options.max_capture, result.truncated);
      } else {
        err_open = Drain(err_read.get(), result.stderr_text, options.max_capture, result.truncated);
      }
    }
  }
  if (result.timed_out && exited) {
    // Leftover members of the group (a backgrounded child) go too.
    ::kill(-pid, SIGKILL);
  }
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  if (reaped && WIFEXITED(wait_status)) {
    result.exit_code = WEXITSTATUS(wait_status);
  } else if (reaped && WIFSIGNALED(wait_status)) {
    result.term_signal = WTERMSIG(wait_status);
  }
  return result;
}

}  // namespace nodeguard::subprocess
