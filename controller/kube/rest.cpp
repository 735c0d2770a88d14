#include "kube/rest.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <thread>

namespace nodeguard::kube {
namespace {

using nlohmann::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Escape(std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// Appends "k=v" query parameters, skipping empty values.
class Query {
 public:
  Query& Add(std::string_view key, std::string_view value) {
    if (value.empty()) return *this;
    text_ += text_.empty() ? '?' : '&';
    text_ += key;
    text_ += '=';
    text_ += EscapeQueryValue(value);
    return *this;
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

bool SafeToReplay(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
}

std::string Truncate(std::string_view text, size_t max = 512) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "...";
}

std::string WriteQuery(const WriteOptions& options, const std::string& default_manager,
                       bool apply) {
  Query q;
  if (options.dry_run) q.Add("dryRun", "All");
  const std::string& manager =
      options.field_manager.empty() ? default_manager : options.field_manager;
  q.Add("fieldManager", manager);
  if (apply && options.force) q.Add("force", "true");
  return q.str();
}

HttpRequest JsonRequest(std::string method, std::string path, std::string body,
                        std::string content_type = "application/json") {
  HttpRequest r;
  r.method = std::move(method);
  r.path_and_query = std::move(path);
  r.body = std::move(body);
  if (!r.body.empty()) r.headers["Content-Type"] = std::move(content_type);
  return r;
}

}  // namespace

// ------------------------------------------------------------ paths

std::string ResourcePath::CollectionPath() const {
  std::string out = group_version_prefix;
  if (!namespace_.empty()) out += "/namespaces/" + EscapePathSegment(namespace_);
  out += "/" + resource;
  return out;
}

ResourcePath CoreResource(std::string resource, std::string namespace_) {
  return ResourcePath{"/api/v1", std::move(resource), std::move(namespace_)};
}

ResourcePath GroupResource(std::string_view group, std::string_view version, std::string resource,
                           std::string namespace_) {
  return ResourcePath{"/apis/" + std::string(group) + "/" + std::string(version),
                      std::move(resource), std::move(namespace_)};
}

std::string EscapeQueryValue(std::string_view value) { return Escape(value); }
std::string EscapePathSegment(std::string_view segment) { return Escape(segment); }

std::string ObjectPath(const ResourcePath& path, std::string_view name,
                       std::string_view subresource) {
  std::string out = path.CollectionPath() + "/" + EscapePathSegment(name);
  if (!subresource.empty()) out += "/" + std::string(subresource);
  return out;
}

const char* PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

std::string DeleteOptions::ToJson() const {
  json doc = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (!precondition_uid.empty()) doc["preconditions"]["uid"] = precondition_uid;
  if (!precondition_resource_version.empty()) {
    doc["preconditions"]["resourceVersion"] = precondition_resource_version;
  }
  if (!propagation_policy.empty()) doc["propagationPolicy"] = propagation_policy;
  if (grace_period_seconds) doc["gracePeriodSeconds"] = *grace_period_seconds;
  if (dry_run) doc["dryRun"] = json::array({"All"});
  return doc.dump();
}

// ------------------------------------------------------------ errors

Error ErrorFromResponse(const HttpResponse& response) {
  Error e;
  e.http_status = response.status;
  int code = response.status;
  try {
    const json doc = json::parse(response.body);
    if (doc.is_object() && doc.value("kind", "") == "Status") {
      e.reason = doc.value("reason", "");
      e.message = doc.value("message", "");
      if (doc.contains("code") && doc["code"].is_number_integer()) code = doc["code"].get<int>();
      if (const auto d = doc.find("details"); d != doc.end() && d->is_object()) {
        e.retry_after_seconds = d->value("retryAfterSeconds", 0);
      }
    }
  } catch (const json::exception&) {
    // Not a Status (a proxy's page, an empty body): keep the HTTP status.
  }
  if (e.message.empty()) e.message = Truncate(response.body);
  if (code != 0) e.http_status = code;
  if (auto it = response.headers.find("retry-after"); it != response.headers.end()) {
    char* end = nullptr;
    const long seconds = std::strtol(it->second.c_str(), &end, 10);
    if (end != it->second.c_str() && seconds > 0) {
      e.retry_after_seconds = std::max(e.retry_after_seconds, static_cast<int>(seconds));
    }
  }
  const int s = e.http_status;
  if (e.reason == "Expired" || e.reason == "Gone" || s == 410) {
    e.kind = ErrorKind::kGone;
  } else if (s == 409) {
    e.kind = e.reason == "AlreadyExists" ? ErrorKind::kAlreadyExists : ErrorKind::kConflict;
  } else if (s == 404) {
    e.kind = ErrorKind::kNotFound;
  } else if (s == 429) {
    e.kind = ErrorKind::kTooManyRequests;
  } else if (s == 401 || s == 403) {
    e.kind = ErrorKind::kUnauthorized;
  } else if (s == 504 || e.reason == "Timeout") {
    e.kind = ErrorKind::kTimeout;
  } else if (s >= 500) {
    e.kind = ErrorKind::kUnavailable;
  } else if (s >= 400) {
    e.kind = ErrorKind::kInvalid;
  } else {
    e.kind = ErrorKind::kInternal;  // A 1xx/3xx we did not ask for.
  }
  return e;
}

// ------------------------------------------------------------ RestClient

RestClient::RestClient(HttpClient& http, RestOptions options)
    : http_(http), options_(std::move(options)) {
  if (options_.qps > 0) {
    limiter_ =
        std::make_unique<TokenBucket>(options_.qps, std::max(1, options_.burst), *options_.clock);
  }
}

void RestClient::Sleep(Duration d) const {
  if (d <= Duration::zero()) return;
  if (options_.sleep) {
    options_.sleep(std::chrono::ceil<std::chrono::milliseconds>(d));
  } else {
    std::this_thread::sleep_for(d);
  }
}

void RestClient::Throttle() {
  if (!limiter_) return;
  const Duration wait = limiter_->Reserve();
  if (options_.on_rate_limited) options_.on_rate_limited(wait);
  Sleep(wait);
}

std::chrono::milliseconds RestClient::Backoff(int attempt, const Error& error) const {
  auto backoff = options_.initial_backoff;
  for (int i = 1; i < attempt && backoff < options_.max_backoff; ++i) backoff *= 2;
  backoff = std::min(backoff, options_.max_backoff);
  const auto retry_after = std::chrono::milliseconds(std::chrono::seconds(
      std::min<int64_t>(error.retry_after_seconds, options_.max_retry_after.count())));
  return std::max(backoff, retry_after);
}

Result<HttpResponse> RestClient::Do(HttpRequest request, const CallOptions& call,
                                    std::string_view verb) {
  if (call.timeout.count() > 0) {
    request.timeout = call.timeout;
  } else {
    request.timeout = options_.timeout;
  }
  const std::string label = verb.empty() ? Lower(request.method) : std::string(verb);
  const std::string path = request.path_and_query.substr(0, request.path_and_query.find('?'));
  const int attempts = call.retry ? std::max(1, options_.max_attempts) : 1;
  for (int attempt = 1;; ++attempt) {
    Throttle();
    const MonoTime start = options_.clock->Monotonic();
    auto response = http_.Send(request);
    if (options_.observer) {
      options_.observer(RequestMetric{label, request.method, path,
                                      response.ok() ? response->status : 0,
                                      options_.clock->Monotonic() - start, attempt});
    }
    Error error;
    if (response.ok()) {
      if (response->status >= 200 && response->status < 300) return response;
      error = ErrorFromResponse(response.value());
    } else {
      error = response.error();
    }
    bool retry = false;
    if (error.kind == ErrorKind::kTooManyRequests) {
      retry = call.retry_throttled;
    } else if (error.kind == ErrorKind::kUnavailable || error.kind == ErrorKind::kTimeout) {
      retry = SafeToReplay(request.method);
    }
    if (!retry || attempt >= attempts) return error;
    Sleep(Backoff(attempt, error));
  }
}

Result<std::string> RestClient::Get(const ResourcePath& path, std::string_view name,
                                    const GetOptions& options) {
  HttpRequest r;
  r.path_and_query =
      ObjectPath(path, name) + Query().Add("resourceVersion", options.resource_version).str();
  auto response = Do(std::move(r), options.call, "get");
  if (!response.ok()) return response.error();
  return std::move(response->body);
}

Result<std::string> RestClient::ListPage(const ResourcePath& path, const ListOptions& options,
                                         const CallOptions& call) {
  Query q;
  q.Add("labelSelector", options.label_selector)
      .Add("fieldSelector", options.field_selector)
      .Add("limit", options.limit > 0 ? std::to_string(options.limit) : "")
      .Add("continue", options.continue_token)
      .Add("resourceVersion", options.resource_version);
  HttpRequest r;
  r.path_and_query = path.CollectionPath() + q.str();
  auto response = Do(std::move(r), call, "list");
  if (!response.ok()) return response.error();
  return std::move(response->body);
}

Result<ListResult> RestClient::ListAll(const ResourcePath& path, ListOptions options) {
  ListResult result;
  while (true) {
    auto page = ListPage(path, options);
    if (!page.ok()) {
      if (page.error().kind == ErrorKind::kGone && !options.continue_token.empty()) {
        // The snapshot behind the continue token was compacted: start over
        // with one unpaginated list (consistent, if heavier).
        options.continue_token.clear();
        options.limit = 0;
        result.items.clear();
        result.fell_back_to_full_list = true;
        continue;
      }
      return page.error();
    }
    ++result.pages;
    try {
      json doc = json::parse(page.value());
      const json& meta = doc["metadata"];
      if (meta.is_object()) {
        result.resource_version = meta.value("resourceVersion", result.resource_version);
        options.continue_token = meta.value("continue", "");
      } else {
        options.continue_token.clear();
      }
      if (const auto items = doc.find("items"); items != doc.end() && items->is_array()) {
        for (const auto& item : *items) result.items.push_back(item.dump());
      }
    } catch (const json::exception& e) {
      return Error::Invalid(std::string("list ") + path.CollectionPath() + ": " + e.what());
    }
    if (options.continue_token.empty()) return result;
  }
}

Result<std::string> RestClient::Create(const ResourcePath& path, std::string body,
                                       const WriteOptions& options) {
  std::string target = path.CollectionPath();
  auto response =
      Do(JsonRequest("POST", target + WriteQuery(options, options_.field_manager, false),
                     std::move(body)),
         options.call, "create");
  if (!response.ok()) return response.error();
  return std::move(response->body);
}

Result<std::string> RestClient::Update(const ResourcePath& path, std::string_view name,
                                       std::string body, const WriteOptions& options) {
  auto response = Do(JsonRequest("PUT",
                                 ObjectPath(path, name, options.subresource) +
                                     WriteQuery(options, options_.field_manager, false),
                                 std::move(body)),
                     options.call, "update");
  if (!response.ok()) return response.error();
  return std::move(response->body);
}

Result<std::string> RestClient::Patch(const ResourcePath& path, std::string_view name,
                                      PatchType type, std::string patch,
                                      const WriteOptions& options) {
  auto response =
      Do(JsonRequest("PATCH",
                     ObjectPath(path, name, options.subresource) +
                         WriteQuery(options, options_.field_manager, type == PatchType::kApply),
                     std::move(patch), PatchContentType(type)),
         options.call, "patch");
  if (!response.ok()) return response.error();
  return std::move(response->body);
}

Status RestClient::Delete(const ResourcePath& path, std::string_view name,
                          const DeleteOptions& options, const CallOptions& call) {
  auto response =
      Do(JsonRequest("DELETE", ObjectPath(path, name), options.ToJson()), call, "delete");
  if (!response.ok()) return response.error();
  return Status::Ok();
}

Status RestClient::Evict(std::string_view namespace_, std::string_view pod,
                         const DeleteOptions& options, const CallOptions& call) {
  json eviction = {{"apiVersion", "policy/v1"},
                   {"kind", "Eviction"},
                   {"metadata", {{"name", pod}, {"namespace", namespace_}}},
                   {"deleteOptions", json::parse(options.ToJson())}};
  const ResourcePath pods = CoreResource("pods", std::string(namespace_));
  auto response =
      Do(JsonRequest("POST", ObjectPath(pods, pod, "eviction"), eviction.dump()), call, "evict");
  if (!response.ok()) return response.error();
  return Status::Ok();
}

// ------------------------------------------------------------ RestListWatcher

Result<std::string> RestListWatcher::ListPage(const ListOptions& options) {
  return rest_.ListPage(path_, options);
}

std::string RestListWatcher::WatchPathAndQuery(const WatchOptions& options) const {
  Query q;
  q.Add("watch", "1")
      .Add("allowWatchBookmarks", options.allow_bookmarks ? "true" : "")
      .Add("resourceVersion", options.resource_version)
      .Add("timeoutSeconds",
           options.timeout.count() > 0 ? std::to_string(options.timeout.count()) : "")
      .Add("labelSelector", options.label_selector)
      .Add("fieldSelector", options.field_selector);
  return path_.CollectionPath() + q.str();
}

Status RestListWatcher::Watch(const WatchOptions& options, const ChunkHandler& on_chunk,
                              const CancelToken& cancel) {
  HttpRequest request;
  request.path_and_query = WatchPathAndQuery(options);
  request.timeout = rest_.options().timeout;  // To receive the headers.
  rest_.Throttle();                           // Once per watch, not per event.
  const MonoTime start = rest_.options().clock->Monotonic();
  auto response = rest_.http().Stream(request, on_chunk, cancel, options.idle_timeout);
  if (rest_.options().observer) {
    const std::string path = path_.CollectionPath();
    rest_.options().observer(RequestMetric{"watch", "GET", path,
                                           response.ok() ? response->status : 0,
                                           rest_.options().clock->Monotonic() - start, 1});
  }
  if (!response.ok()) {
    if (response.error().kind == ErrorKind::kCancelled || cancel.cancelled()) return Status::Ok();
    return response.error();
  }
  if (response->status != 200) return ErrorFromResponse(response.value());
  return Status::Ok();
}

}  // namespace nodeguard::kube
