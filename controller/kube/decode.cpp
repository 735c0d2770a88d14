#include "kube/decode.h"

#include <algorithm>
#include <climits>
#include <string>

#include "common/quantity.h"
#include "common/time.h"
#include "kube/decode_json.h"

namespace nodeguard::kube {

const char* WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "ERROR";
}

ErrorKind ErrorKindForStatus(int http_status, std::string_view reason) {
  if (http_status == 410 || reason == "Expired" || reason == "Gone") return ErrorKind::kGone;
  if (reason == "AlreadyExists") return ErrorKind::kAlreadyExists;
  if (reason == "Timeout" || http_status == 504 || http_status == 408) return ErrorKind::kTimeout;
  switch (http_status) {
    case 400:
    case 405:
    case 406:
    case 413:
    case 415:
    case 422:
      return ErrorKind::kInvalid;
    case 401:
    case 403:
      return ErrorKind::kUnauthorized;
    case 404:
      return ErrorKind::kNotFound;
    case 409:
      return ErrorKind::kConflict;
    case 429:
      return ErrorKind::kTooManyRequests;
    default:
      break;
  }
  if (http_status >= 500 && http_status <= 599) return ErrorKind::kUnavailable;
  if (reason == "NotFound") return ErrorKind::kNotFound;
  if (reason == "Conflict") return ErrorKind::kConflict;
  if (reason == "TooManyRequests") return ErrorKind::kTooManyRequests;
  if (reason == "Unauthorized" || reason == "Forbidden") return ErrorKind::kUnauthorized;
  if (reason == "Invalid" || reason == "BadRequest") return ErrorKind::kInvalid;
  if (reason == "ServiceUnavailable" || reason == "ServerTimeout" || reason == "InternalError") {
    return ErrorKind::kUnavailable;
  }
  return ErrorKind::kInternal;
}

namespace json {

using simdjson::INCORRECT_TYPE;
using simdjson::SUCCESS;

namespace {

// A wrong type is a syntax-level error unless the value is null, which
// Kubernetes uses interchangeably with an omitted field.
error_code NullOr(od::value& v, error_code type_error) {
  if (type_error != INCORRECT_TYPE) return type_error;
  bool null = false;
  SIMDJSON_TRY(v.is_null().get(null));
  return null ? SUCCESS : INCORRECT_TYPE;
}

// Largest documents whose buffers are kept, in input bytes (the buffers hold
// several bytes per byte): a Node with large annotations is tens of KB, a list
// page of 500 objects a few MB.
constexpr size_t kKeepBetweenDocumentsBytes = size_t{256} << 10;
constexpr size_t kKeepWithinListBytes = size_t{16} << 20;

}  // namespace

error_code ReadString(od::value& v, std::string& out) {
  std::string_view s;
  error_code e = v.get_string().get(s);
  if (e != SUCCESS) return NullOr(v, e);
  out.assign(s);
  return SUCCESS;
}

error_code ReadUid(od::value& v, Uid& out) {
  std::string_view s;
  error_code e = v.get_string().get(s);
  if (e != SUCCESS) return NullOr(v, e);
  out = Uid(s);
  return SUCCESS;
}

error_code ReadSymbol(od::value& v, Symbol& out) {
  std::string_view s;
  error_code e = v.get_string().get(s);
  if (e != SUCCESS) return NullOr(v, e);
  out = Symbol::Intern(s);
  return SUCCESS;
}

error_code ReadInt64(od::value& v, int64_t& out) {
  int64_t n = 0;
  error_code e = v.get_int64().get(n);
  if (e != SUCCESS) return NullOr(v, e);
  out = n;
  return SUCCESS;
}

error_code ReadInt32(od::value& v, int32_t& out, Problems& problems, std::string_view field) {
  int64_t n = out;
  SIMDJSON_TRY(ReadInt64(v, n));
  if (n < INT32_MIN || n > INT32_MAX) {
    problems.Flag(field, "out of int32 range");
    return SUCCESS;
  }
  out = static_cast<int32_t>(n);
  return SUCCESS;
}

error_code ReadBool(od::value& v, bool& out) {
  bool b = false;
  error_code e = v.get_bool().get(b);
  if (e != SUCCESS) return NullOr(v, e);
  out = b;
  return SUCCESS;
}

error_code ReadTime(od::value& v, Time& out, Problems& problems, std::string_view field) {
  std::string_view s;
  error_code e = v.get_string().get(s);
  if (e != SUCCESS) return NullOr(v, e);
  auto t = ParseRfc3339(s);
  if (!t.ok()) {
    problems.Flag(field, t.error().message);
    return SUCCESS;
  }
  out = *t;
  return SUCCESS;
}

error_code ReadQuantity(od::value& v, int64_t& out, bool milli, Problems& problems,
                        std::string_view field) {
  od::json_type type;
  SIMDJSON_TRY(v.type().get(type));
  std::string_view text;
  if (type == od::json_type::string) {
    SIMDJSON_TRY(v.get_string().get(text));
  } else if (type == od::json_type::number) {
    text = v.raw_json_token();
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' ||
                             text.back() == '\t')) {
      text.remove_suffix(1);
    }
  } else if (type == od::json_type::null) {
    return NullOr(v, INCORRECT_TYPE);
  } else {
    return INCORRECT_TYPE;
  }
  auto q = milli ? ParseQuantityMilli(text) : ParseQuantity(text);
  if (!q.ok()) {
    problems.Flag(field, q.error().message);
    return SUCCESS;
  }
  out = *q;
  return SUCCESS;
}

error_code ReadLabels(od::value& v, Labels& out) {
  out.clear();
  return ForEachField(v, [&](od::field& f) -> error_code {
    std::string_view key;
    SIMDJSON_TRY(f.unescaped_key().get(key));
    // Unescaped strings stay valid until the parser's next document.
    std::string_view value;
    error_code e = f.value().get_string().get(value);
    if (e != SUCCESS) {
      SIMDJSON_TRY(NullOr(f.value(), e));
      value = {};
    }
    out.Set(key, value);  // Go's JSON keeps the last of duplicate keys; so does Set.
    return SUCCESS;
  });
}

error_code ReadStringMap(od::value& v, Annotations& out, std::string_view prefix, size_t* total) {
  out.clear();
  if (total != nullptr) *total = 0;
  SIMDJSON_TRY(ForEachField(v, [&](od::field& f) -> error_code {
    std::string_view key;
    SIMDJSON_TRY(f.unescaped_key().get(key));
    if (total != nullptr) ++*total;
    if (key.substr(0, prefix.size()) != prefix) return SUCCESS;
    auto& kv = out.emplace_back(std::string(key), std::string());
    return ReadString(f.value(), kv.second);
  }));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // JSON allows duplicate keys; Go keeps the last. Keep one so lookups agree.
  auto last = std::unique(out.rbegin(), out.rend(),
                          [](const auto& a, const auto& b) { return a.first == b.first; });
  out.erase(out.begin(), last.base());
  return SUCCESS;
}

error_code ReadStatus(od::object& obj, Error& out, int fallback_http_status, std::string* kind) {
  int64_t code = 0;
  int64_t retry_after = 0;
  std::string reason;
  std::string message;
  SIMDJSON_TRY(ForEachFieldOf(obj, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key == "code") return ReadInt64(f.value(), code);
    if (key == "reason") return ReadString(f.value(), reason);
    if (key == "message") return ReadString(f.value(), message);
    if (key == "kind" && kind != nullptr) return ReadString(f.value(), *kind);
    if (key == "details") {
      return ForEachField(f.value(), [&](od::field& d) -> error_code {
        if (d.key() == "retryAfterSeconds") return ReadInt64(d.value(), retry_after);
        return SUCCESS;
      });
    }
    return SUCCESS;
  }));
  int status = code > 0 && code < 1000 ? static_cast<int>(code) : fallback_http_status;
  out = Error::Of(ErrorKindForStatus(status, reason), std::move(message));
  out.http_status = status;
  out.reason = std::move(reason);
  out.retry_after_seconds =
      retry_after > 0 && retry_after < INT_MAX ? static_cast<int>(retry_after) : 0;
  return SUCCESS;
}

DocumentParser& DocumentParser::ForThisThread() {
  thread_local DocumentParser parser;
  return parser;
}

error_code DocumentParser::Parse(std::string_view json, od::document& doc) {
  padded_.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  padded_.assign(json);
  return parser_.iterate(padded_.data(), json.size(), padded_.capacity()).get(doc);
}

void DocumentParser::ReleaseIfLarge(bool more_pages) {
  const size_t keep = more_pages ? kKeepWithinListBytes : kKeepBetweenDocumentsBytes;
  if (parser_.capacity() > keep) parser_ = od::parser();
  if (padded_.capacity() > keep) std::string().swap(padded_);
}

size_t DocumentParser::RetainedBytes() const {
  // capacity() is the largest document the parser takes; its buffers hold
  // several bytes per byte of it, so this is a lower bound.
  return parser_.capacity() + padded_.capacity();
}

error_code ExpectEnd(od::document& doc) {
  const char* location = nullptr;
  error_code e = doc.current_location().get(location);
  if (e == simdjson::OUT_OF_BOUNDS) return SUCCESS;
  if (e != SUCCESS) return e;
  return simdjson::TRAILING_CONTENT;
}

Error SyntaxError(std::string_view what, error_code code) {
  std::string message = "malformed JSON ";
  message.append(what).append(": ").append(simdjson::error_message(code));
  return Error::Invalid(std::move(message));
}

bool ParseWatchEventType(std::string_view text, WatchEventType& out) {
  if (text == "ADDED") {
    out = WatchEventType::kAdded;
  } else if (text == "MODIFIED") {
    out = WatchEventType::kModified;
  } else if (text == "DELETED") {
    out = WatchEventType::kDeleted;
  } else if (text == "BOOKMARK") {
    out = WatchEventType::kBookmark;
  } else if (text == "ERROR") {
    out = WatchEventType::kError;
  } else {
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- Lease

template <>
struct ObjectDecoder<Lease> {
  static error_code Decode(od::object& obj, Lease& lease, Problems& problems) {
    SIMDJSON_TRY(ForEachFieldOf(obj, [&](od::field& f) -> error_code {
      od::raw_json_string key = f.key();
      if (key == "metadata") {
        return ReadMeta(f.value(), lease.meta, problems,
                        [](od::field&) -> error_code { return SUCCESS; });
      }
      if (key != "spec") return SUCCESS;
      return ForEachField(f.value(), [&](od::field& s) -> error_code {
        od::raw_json_string k = s.key();
        if (k == "holderIdentity") return ReadString(s.value(), lease.holder_identity);
        if (k == "leaseDurationSeconds") {
          return ReadInt32(s.value(), lease.lease_duration_seconds, problems,
                           "spec.leaseDurationSeconds");
        }
        if (k == "leaseTransitions") {
          return ReadInt32(s.value(), lease.lease_transitions, problems, "spec.leaseTransitions");
        }
        if (k == "acquireTime") {
          return ReadTime(s.value(), lease.acquire_time, problems, "spec.acquireTime");
        }
        if (k == "renewTime")
          return ReadTime(s.value(), lease.renew_time, problems, "spec.renewTime");
        return SUCCESS;
      });
    }));
    if (lease.meta.name.empty()) problems.Flag("metadata.name", "missing");
    return SUCCESS;
  }
};

}  // namespace json

Error DecodeStatus(std::string_view body, int http_status) {
  using namespace json;
  auto from_text = [&] {
    constexpr size_t kMaxMessage = 256;
    std::string message(body.substr(0, kMaxMessage));
    if (body.size() > kMaxMessage) message += "...";
    if (message.empty()) message = "HTTP " + std::to_string(http_status);
    Error e = Error::Of(ErrorKindForStatus(http_status, ""), std::move(message));
    e.http_status = http_status;
    return e;
  };
  try {
    DocumentParser& parser = DocumentParser::ForThisThread();
    Error out;
    bool is_status = false;
    error_code code = [&]() -> error_code {
      od::document doc;
      SIMDJSON_TRY(parser.Parse(body, doc));
      od::object root;
      SIMDJSON_TRY(doc.get_object().get(root));
      std::string kind;
      SIMDJSON_TRY(ReadStatus(root, out, http_status, &kind));
      is_status = kind == "Status";
      return ExpectEnd(doc);
    }();
    parser.ReleaseIfLarge();
    if (code != simdjson::SUCCESS || !is_status) return from_text();
    return out;
  } catch (const std::exception&) {
    return from_text();
  }
}

}  // namespace nodeguard::kube

namespace nodeguard::kube {
NODEGUARD_KUBE_INSTANTIATE_DECODERS(Lease)
}  // namespace nodeguard::kube
