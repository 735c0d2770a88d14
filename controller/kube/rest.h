#pragma once

// RestClient: the Kubernetes REST verbs over the HttpClient seam, on raw JSON
// documents (callers decode with decode.h or nlohmann as they see fit).
//
// Errors: a non-2xx response becomes an Error carrying http_status and the
// metav1.Status reason and message: 404 kNotFound; 409 kConflict (stale
// resourceVersion) or kAlreadyExists (by reason); 410 or reason Expired kGone;
// 429 kTooManyRequests with retry_after_seconds; 401/403 kUnauthorized;
// 400/422 kInvalid; 504 or reason Timeout kTimeout; other 5xx kUnavailable.
//
// Retries (bounded by RestOptions::max_attempts, exponential backoff, a
// Retry-After header or Status.details.retryAfterSeconds honoured when longer):
//   - 429 for every verb: the server did not act on the request;
//   - 5xx and transport failures only for requests safe to replay: GET, PUT
//     (optimistic concurrency makes a replay fail with a conflict, not double
//     apply) and DELETE. POST and PATCH surface at once, even with a
//     Retry-After (client-go replays those then): a create may have happened,
//     and the reconciler that sent it decides again from what it observes.
// CallOptions::retry_throttled = false makes a 429 surface at once: an
// eviction refused by a PodDisruptionBudget is an answer, not throttling.
// 409 conflicts are never retried: callers re-read and decide again.
// Two requests do not go through Do and so get none of these retries: a watch
// (RestListWatcher::Watch) answered 429 returns its Error, retry_after_seconds
// set, to the informer, which opens it again after its own backoff (800 ms
// doubling to 30 s; the Retry-After itself is not read there); and the
// drainer's evictions (remediation/drainer.cpp), whose 429 is a
// PodDisruptionBudget's answer that the drain retries on its own schedule.
//
// Client-side rate limit (client-go's QPS/Burst; RestOptions::qps and burst):
// one token bucket (token_bucket.h) per RestClient. Every attempt of every
// request takes a token before it is sent (a retry is a request to the server
// too, as in client-go), a watch takes one when it is opened and none while
// it streams, and an eviction sent by the drainer over http() takes one
// through Throttle(). A caller without a token sleeps until its turn
// (reservations queue, so callers are served in order at exactly qps); the
// wait is reported to RestOptions::on_rate_limited.
// One budget for reads and writes, not two: nodeguard reads almost
// everything from informers (list once, then watch: few requests), so the
// steady traffic is writes, and a second bucket would only double what the
// process may send while giving operators two knobs to size instead of one.
// The lease of leader election must not queue behind a flood of our own
// writes (a renewal late by more than the renew deadline loses leadership):
// the processes give it a RestClient of its own over the same transport, with
// its own bucket, as controller-runtime gives its leader election a client of
// its own. A request's wait is at most (concurrent callers) / qps, since each
// thread holds at most one reservation: with the defaults well under a second.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/result.h"
#include "kube/http.h"
#include "kube/list_watch.h"
#include "kube/token_bucket.h"

namespace nodeguard::kube {

// Builders for ResourcePath (list_watch.h).
ResourcePath CoreResource(std::string resource, std::string namespace_ = "");
ResourcePath GroupResource(std::string_view group, std::string_view version, std::string resource,
                           std::string namespace_ = "");

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string EscapeQueryValue(std::string_view value);
std::string EscapePathSegment(std::string_view segment);
// "/api/v1/namespaces/ns/pods/name[/subresource]".
std::string ObjectPath(const ResourcePath& path, std::string_view name,
                       std::string_view subresource = "");

// One HTTP attempt, reported to RestOptions::observer (metrics, logs).
struct RequestMetric {
  std::string_view verb;  // get, list, watch, create, update, patch, delete, evict, or the method.
  std::string_view method;  // GET, POST, ...
  std::string_view path;    // Without the query.
  int code = 0;             // HTTP status; 0 for a transport failure.
  std::chrono::nanoseconds latency{0};
  int attempt = 1;
};
using RequestObserver = std::function<void(const RequestMetric&)>;

struct RestOptions {
  int max_attempts = 5;  // Including the first.
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
  std::chrono::seconds max_retry_after{60};   // Caps what a server may ask us to wait.
  std::chrono::milliseconds timeout{30'000};  // Per attempt of a unary call.
  std::string field_manager = "nodeguard";
  RequestObserver observer;  // Optional.
  // Waits between attempts; injectable so tests never sleep.
  std::function<void(std::chrono::milliseconds)> sleep;
  const Clock* clock = &RealClock::Instance();  // For latency and the rate limiter.
  // Client-side rate limit: `burst` requests at once, then `qps` per second.
  // qps <= 0: unlimited (tests; the processes always set both from flags).
  double qps = 0;
  int burst = 1;  // Used when qps > 0; values below 1 count as 1.
  // Told how long each rate-limited request waited for its token (zero
  // included, so its count is the requests that were rate-limited). Optional.
  std::function<void(Duration)> on_rate_limited;
};

struct CallOptions {
  bool retry = true;                     // false: one attempt whatever happens.
  bool retry_throttled = true;           // false: a 429 surfaces at once.
  std::chrono::milliseconds timeout{0};  // 0: RestOptions::timeout.
};

struct GetOptions {
  std::string resource_version;  // "" = quorum read; "0" = any cached version.
  CallOptions call;
};

struct WriteOptions {
  std::string subresource;  // "status" for UpdateStatus/PatchStatus.
  bool dry_run = false;
  std::string field_manager;  // Empty: RestOptions::field_manager.
  bool force = false;         // Server-side apply only: take ownership of conflicting fields.
  CallOptions call;
};

struct DeleteOptions {
  std::string precondition_uid;               // Delete only this incarnation.
  std::string precondition_resource_version;  // Delete only this version.
  std::string propagation_policy;             // "Foreground", "Background", "Orphan"; "": default.
  std::optional<int64_t> grace_period_seconds;
  bool dry_run = false;
  // The metav1.DeleteOptions JSON object these options mean.
  std::string ToJson() const;
};

enum class PatchType { kMerge, kJson, kStrategicMerge, kApply };
const char* PatchContentType(PatchType type);

// A whole collection: the items as raw JSON objects.
struct ListResult {
  std::string resource_version;  // The list's snapshot, to watch from.
  std::vector<std::string> items;
  int pages = 0;
  bool fell_back_to_full_list = false;  // A continue token expired (410) mid-way.
};

// Thread-safe (the HttpClient is).
class RestClient {
 public:
  explicit RestClient(HttpClient& http, RestOptions options = {});

  // The 2xx response, after retries per the policy above, or an Error.
  // `verb` labels metrics; empty: the lower-cased method.
  Result<HttpResponse> Do(HttpRequest request, const CallOptions& call = {},
                          std::string_view verb = "");

  Result<std::string> Get(const ResourcePath& path, std::string_view name,
                          const GetOptions& options = {});
  // One page: the raw *List JSON.
  Result<std::string> ListPage(const ResourcePath& path, const ListOptions& options,
                               const CallOptions& call = {});
  // Every page (options.limit per page; 0 = unpaginated). A continue token
  // that expires mid-way restarts as one unpaginated list, as client-go's pager.
  Result<ListResult> ListAll(const ResourcePath& path, ListOptions options = {});

  // `body` is the object's JSON; the created/updated object is returned.
  Result<std::string> Create(const ResourcePath& path, std::string body,
                             const WriteOptions& options = {});
  // PUT. `body` must carry metadata.resourceVersion: a stale one is kConflict.
  Result<std::string> Update(const ResourcePath& path, std::string_view name, std::string body,
                             const WriteOptions& options = {});
  // For kApply, field_manager is required (RestOptions default used otherwise).
  Result<std::string> Patch(const ResourcePath& path, std::string_view name, PatchType type,
                            std::string patch, const WriteOptions& options = {});
  Status Delete(const ResourcePath& path, std::string_view name, const DeleteOptions& options = {},
                const CallOptions& call = {});
  // POST policy/v1 Eviction. A PodDisruptionBudget refusal is kTooManyRequests
  // (never retried here unless `call` says so: the drain owns that decision).
  Status Evict(std::string_view namespace_, std::string_view pod, const DeleteOptions& options = {},
               const CallOptions& call = EvictionCallOptions());
  // Retries transport failures and 5xx, never a 429.
  static CallOptions EvictionCallOptions() {
    CallOptions call;
    call.retry_throttled = false;
    return call;
  }

  // Waits for a token of the client-side rate limit (returns at once when
  // unlimited). Every request above calls it before each attempt; a caller
  // that sends over http() itself calls it once per request.
  void Throttle();

  HttpClient& http() { return http_; }
  const RestOptions& options() const { return options_; }

 private:
  std::chrono::milliseconds Backoff(int attempt, const Error& error) const;
  void Sleep(Duration d) const;

  HttpClient& http_;
  const RestOptions options_;
  std::unique_ptr<TokenBucket> limiter_;  // Null: unlimited.
};

// The Error a non-2xx response means (see the mapping at the top).
Error ErrorFromResponse(const HttpResponse& response);

// list_watch.h's ListWatcher over a RestClient, for informers.
//   ListPage: GET collection?limit=&continue=&resourceVersion=&labelSelector=...
//   Watch: GET collection?watch=1&allowWatchBookmarks=true&resourceVersion=...
//          &timeoutSeconds=...; a non-200 answer is an Error (410: kGone).
// A Watch ended by `cancel` or by on_chunk returning false returns Ok.
class RestListWatcher final : public ListWatcher {
 public:
  RestListWatcher(RestClient& rest, ResourcePath path) : rest_(rest), path_(std::move(path)) {}

  Result<std::string> ListPage(const ListOptions& options) override;
  Status Watch(const WatchOptions& options, const ChunkHandler& on_chunk,
               const CancelToken& cancel) override;

  // The request Watch sends, exposed for tests.
  std::string WatchPathAndQuery(const WatchOptions& options) const;

 private:
  RestClient& rest_;
  const ResourcePath path_;
};

}  // namespace nodeguard::kube
