#include "common/result.h"

namespace nodeguard {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalid:
      return "Invalid";
    case ErrorKind::kNotFound:
      return "NotFound";
    case ErrorKind::kConflict:
      return "Conflict";
    case ErrorKind::kAlreadyExists:
      return "AlreadyExists";
    case ErrorKind::kTooManyRequests:
      return "TooManyRequests";
    case ErrorKind::kGone:
      return "Gone";
    case ErrorKind::kUnauthorized:
      return "Unauthorized";
    case ErrorKind::kTimeout:
      return "Timeout";
    case ErrorKind::kUnavailable:
      return "Unavailable";
    case ErrorKind::kCancelled:
      return "Cancelled";
    case ErrorKind::kInternal:
      return "Internal";
  }
  return "Unknown";
}

std::string Error::ToString() const {
  std::string out = reason.empty() ? ErrorKindName(kind) : reason;
  if (http_status != 0) out += " (" + std::to_string(http_status) + ")";
  if (!message.empty()) out += ": " + message;
  return out;
}

}  // namespace nodeguard
