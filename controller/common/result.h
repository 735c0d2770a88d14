#pragma once

// Typed errors and value-or-error results (in the spirit of absl::StatusOr).
// Pure logic returns these; exceptions are caught at I/O boundaries and turned
// into an Error carrying the HTTP code and Kubernetes Status reason.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace nodeguard {

// What went wrong, coarse enough for callers to branch on.
enum class ErrorKind {
  kInvalid,          // Bad input (a malformed document, an invalid spec): do not retry.
  kNotFound,         // HTTP 404.
  kConflict,         // HTTP 409: stale resourceVersion; re-read and retry.
  kAlreadyExists,    // HTTP 409 with reason AlreadyExists.
  kTooManyRequests,  // HTTP 429 (throttling or an eviction blocked by a PDB).
  kGone,             // HTTP 410 / reason Expired: a watch or continue token is too old.
  kUnauthorized,     // HTTP 401/403.
  kTimeout,          // A deadline passed (request, drain, action).
  kUnavailable,      // Transport failure or HTTP 5xx: retry with backoff.
  kCancelled,        // Shut down by the caller.
  kInternal,         // A bug or an unexpected state.
};

const char* ErrorKindName(ErrorKind kind);

// An error value. http_status and reason are set when it came from the API server.
struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
  int http_status = 0;          // 0 when not from HTTP.
  std::string reason;           // Kubernetes Status.reason, e.g. "Conflict", "TooManyRequests".
  int retry_after_seconds = 0;  // From Retry-After or Status.details, 0 if absent.

  static Error Of(ErrorKind k, std::string msg) {
    Error e;
    e.kind = k;
    e.message = std::move(msg);
    return e;
  }
  static Error Invalid(std::string msg) { return Of(ErrorKind::kInvalid, std::move(msg)); }
  static Error NotFound(std::string msg) { return Of(ErrorKind::kNotFound, std::move(msg)); }
  static Error Internal(std::string msg) { return Of(ErrorKind::kInternal, std::move(msg)); }
  static Error Timeout(std::string msg) { return Of(ErrorKind::kTimeout, std::move(msg)); }
  static Error Unavailable(std::string msg) { return Of(ErrorKind::kUnavailable, std::move(msg)); }
  static Error Cancelled(std::string msg) { return Of(ErrorKind::kCancelled, std::move(msg)); }

  bool Is(ErrorKind k) const { return kind == k; }
  // True for errors a caller should retry after a backoff (5xx, 429, transport).
  bool Retryable() const {
    return kind == ErrorKind::kUnavailable || kind == ErrorKind::kTooManyRequests ||
           kind == ErrorKind::kTimeout;
  }
  // "Conflict (409): the object has been modified..." for logs and status messages.
  std::string ToString() const;
};

// Holds either a T or an Error.
// REQUIRES: value() only when ok(); error() only when !ok().
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design.
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design.

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<Error>(v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  T value_or(T fallback) const { return ok() ? std::get<T>(v_) : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
class Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design.
  static Status Ok() { return Status(); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // REQUIRES: !ok().
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace nodeguard
