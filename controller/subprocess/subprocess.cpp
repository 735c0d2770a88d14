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

namespace {

// Both ends of the child's stdout and stderr pipes. The write ends go to the
// child and are closed here once it is spawned, so EOF on a read end means
// every process holding the pipe has exited or closed it.
struct Pipes {
  Fd out_read, out_write, err_read, err_write;
};

Status OpenPipes(Pipes& pipes) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return Error::Internal("pipe: " + std::string(strerror(errno)));
  *pipes.out_read.receive() = out_pipe[0];
  *pipes.out_write.receive() = out_pipe[1];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0)
    return Error::Internal("pipe: " + std::string(strerror(errno)));
  *pipes.err_read.receive() = err_pipe[0];
  *pipes.err_write.receive() = err_pipe[1];
  // Non-blocking so one quiet stream never stalls the supervision loop.
  for (int fd : {pipes.out_read.get(), pipes.err_read.get()}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  return Status::Ok();
}

// Its own process group (so a timeout can kill everything it started), no
// blocked signals, and default dispositions for the signals we may have
// changed in this process.
// REQUIRES: the caller destroys `attributes`.
void InitSpawnAttributes(posix_spawnattr_t* attributes) {
  posix_spawnattr_init(attributes);
  posix_spawnattr_setflags(attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(attributes, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(attributes, &none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(attributes, &defaults);
}

// Null-terminated pointers into `strings`, for exec.
// REQUIRES: `strings` outlives the result and is not resized meanwhile.
std::vector<char*> NullTerminated(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Starts the child with stdin from /dev/null and stdout/stderr into `pipes`,
// then closes the write ends. Sets `start` just before the spawn.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const RunOptions& options, Pipes& pipes,
                    Clock::time_point& start) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipes.out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipes.err_write.get(), STDERR_FILENO);
  posix_spawnattr_t attributes;
  InitSpawnAttributes(&attributes);

  const std::vector<std::string> env_storage = ChildEnvironment(options.env);
  std::vector<char*> envp = NullTerminated(env_storage);
  std::vector<char*> args = NullTerminated(argv);

  start = Clock::now();
  pid_t pid = -1;
  int spawn_error =
      ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attributes, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  pipes.out_write.Close();
  pipes.err_write.Close();
  if (spawn_error != 0) {
    std::string message = "cannot run " + argv[0] + ": " + strerror(spawn_error);
    if (spawn_error == ENOENT) return Error::NotFound(message);
    return Error::Internal(message);
  }
  return pid;
}

// Watches a spawned child: reaps it, escalates SIGTERM then SIGKILL to its
// group on timeout, and captures its output until both pipes close (or a
// while after it exits, since leftover children may keep them open).
class Supervisor {
 public:
  Supervisor(pid_t pid, Clock::time_point start, const RunOptions& options, Pipes& pipes,
             ProcessResult& result)
      : pid_(pid),
        deadline_(start + options.timeout),
        options_(options),
        pipes_(pipes),
        result_(result) {}

  void Run() {
    while (true) {
      const Clock::time_point now = Clock::now();
      CheckExit(now);
      if (exited_ && ((!out_open_ && !err_open_) || now - exit_time_ >= kDrainAfterExit)) break;
      if (Escalate(now)) break;
      ReadOutput();
    }
  }

  bool exited() const { return exited_; }
  bool reaped() const { return reaped_; }
  int wait_status() const { return wait_status_; }

 private:
  void CheckExit(Clock::time_point now) {
    if (exited_) return;
    pid_t r = ::waitpid(pid_, &wait_status_, WNOHANG);
    if (r == pid_) {
      exited_ = reaped_ = true;
      exit_time_ = now;
    } else if (r < 0 && errno != EINTR) {
      exited_ = true;  // ECHILD: reaped elsewhere (SIGCHLD ignored?); status unknown.
      exit_time_ = now;
    }
  }

  // Sends the timeout's signals when due; true when the child is stuck (in
  // D state) and waiting longer is pointless.
  bool Escalate(Clock::time_point now) {
    if (!exited_ && !term_sent_ && now >= deadline_) {
      result_.timed_out = true;
      term_sent_ = true;
      term_time_ = now;
      ::kill(-pid_, SIGTERM);
    }
    if (term_sent_ && !kill_sent_ && now - term_time_ >= options_.kill_grace) {
      kill_sent_ = true;
      kill_time_ = now;
      ::kill(-pid_, SIGKILL);
    }
    return kill_sent_ && !exited_ && now - kill_time_ >= kReapAfterKill;
  }

  // Waits up to one poll slice for output and reads what arrived.
  void ReadOutput() {
    pollfd fds[2];
    nfds_t count = 0;
    if (out_open_) fds[count++] = pollfd{pipes_.out_read.get(), POLLIN, 0};
    if (err_open_) fds[count++] = pollfd{pipes_.err_read.get(), POLLIN, 0};
    if (count == 0) {
      ::poll(nullptr, 0, kPollSlice);
      return;
    }
    int ready = ::poll(fds, count, kPollSlice);
    if (ready <= 0) return;  // Timeout or EINTR: re-check the process.
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == pipes_.out_read.get()) {
        out_open_ = Drain(pipes_.out_read.get(), result_.stdout_text, options_.max_capture,
                          result_.truncated);
      } else {
        err_open_ = Drain(pipes_.err_read.get(), result_.stderr_text, options_.max_capture,
                          result_.truncated);
      }
    }
  }

  const pid_t pid_;
  const Clock::time_point deadline_;
  const RunOptions& options_;
  Pipes& pipes_;
  ProcessResult& result_;
  bool out_open_ = true, err_open_ = true;
  bool exited_ = false, reaped_ = false, term_sent_ = false, kill_sent_ = false;
  Clock::time_point exit_time_, term_time_, kill_time_;
  int wait_status_ = 0;
};

}  // namespace

Result<ProcessResult> Run(const std::vector<std::string>& argv, const RunOptions& options) {
  if (argv.empty()) return Error::Invalid("empty command");
  Pipes pipes;
  if (Status opened = OpenPipes(pipes); !opened.ok()) return opened.error();
  Clock::time_point start;
  Result<pid_t> pid = Spawn(argv, options, pipes, start);
  if (!pid.ok()) return pid.error();

  ProcessResult result;
  Supervisor supervisor(*pid, start, options, pipes, result);
  supervisor.Run();
  if (result.timed_out && supervisor.exited()) {
    // Leftover members of the group (a backgrounded child) go too.
    ::kill(-*pid, SIGKILL);
  }
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  if (supervisor.reaped() && WIFEXITED(supervisor.wait_status())) {
    result.exit_code = WEXITSTATUS(supervisor.wait_status());
  } else if (supervisor.reaped() && WIFSIGNALED(supervisor.wait_status())) {
    result.term_signal = WTERMSIG(supervisor.wait_status());
  }
  return result;
}

}  // namespace nodeguard::subprocess
