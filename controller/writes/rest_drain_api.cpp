#include "writes/rest_drain_api.h"

#include <nlohmann/json.hpp>

#include "kube/decode.h"

namespace nodeguard::writes {
namespace {

using remediation::DrainPodRef;
using remediation::EvictionResult;
using remediation::ObservedPod;

std::string JoinValues(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) {
    if (!out.empty()) out += ",";
    out += v;
  }
  return out;
}

}  // namespace

std::string LabelSelectorString(const api::LabelSelector& selector) {
  std::vector<std::string> terms;
  for (const auto& [k, v] : selector.match_labels) terms.push_back(k + "=" + v);
  for (const auto& r : selector.match_expressions) {
    switch (r.op) {
      case api::SelectorOperator::kIn:
        terms.push_back(r.key + " in (" + JoinValues(r.values) + ")");
        break;
      case api::SelectorOperator::kNotIn:
        terms.push_back(r.key + " notin (" + JoinValues(r.values) + ")");
        break;
      case api::SelectorOperator::kExists:
        terms.push_back(r.key);
        break;
      case api::SelectorOperator::kDoesNotExist:
        terms.push_back("!" + r.key);
        break;
    }
  }
  return JoinValues(terms);
}

Result<std::vector<kube::Pod>> RestDrainApi::ListPods(const std::string& node,
                                                      const api::LabelSelector& selector) {
  kube::ListOptions options;
  options.field_selector = "spec.nodeName=" + node;
  if (!selector.Empty()) options.label_selector = LabelSelectorString(selector);
  auto list = rest_.ListAll(kube::CoreResource("pods"), options);
  if (!list.ok()) return list.error();
  std::vector<kube::Pod> pods;
  pods.reserve(list->items.size());
  for (const auto& item : list->items) {
    auto pod = kube::DecodePod(item);
    // A pod we cannot read is never evicted blindly: the drain retries the list.
    if (!pod.ok())
      return Error::Invalid("cannot decode a pod on " + node + ": " + pod.error().message);
    pods.push_back(std::move(pod).value());
  }
  return pods;
}

EvictionResult ClassifyEvictionResponse(const kube::HttpResponse& response) {
  const Error error = kube::ErrorFromResponse(response);
  std::string pdb_cause;
  bool namespace_terminating = false;
  const auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_object()) {
    const auto details = doc.find("details");
    if (details != doc.end() && details->is_object()) {
      const auto causes = details->find("causes");
      if (causes != details->end() && causes->is_array()) {
        for (const auto& cause : *causes) {
          if (!cause.is_object()) continue;
          // metav1.StatusCause serialises its Type as "reason".
          const std::string type = cause.value("reason", "");
          if (type == "DisruptionBudget" && pdb_cause.empty()) {
            pdb_cause = cause.value("message", "");
          } else if (type == "NamespaceTerminating") {
            namespace_terminating = true;
          }
        }
      }
    }
  }
  return remediation::ClassifyEvictionError(error, pdb_cause, namespace_terminating);
}

EvictionResult RestDrainApi::Evict(const DrainPodRef& pod,
                                   std::optional<int64_t> grace_period_seconds) {
  // Sent here rather than through RestClient::Evict because the refusal's
  // Status body names the PodDisruptionBudget, which an Error drops.
  kube::DeleteOptions delete_options;
  delete_options.precondition_uid = pod.uid;  // Never evict a replacement by mistake.
  delete_options.grace_period_seconds = grace_period_seconds;
  nlohmann::json eviction = {{"apiVersion", "policy/v1"},
                             {"kind", "Eviction"},
                             {"metadata", {{"name", pod.name}, {"namespace", pod.namespace_}}},
                             {"deleteOptions", nlohmann::json::parse(delete_options.ToJson())}};
  kube::HttpRequest request;
  request.method = "POST";
  request.path_and_query =
      kube::ObjectPath(kube::CoreResource("pods", pod.namespace_), pod.name, "eviction");
  request.headers["Content-Type"] = "application/json";
  request.body = eviction.dump();
  request.timeout = rest_.options().timeout;
  const Clock& clock = *rest_.options().clock;
  rest_.Throttle();  // The client-side rate limit, as for every request of `rest_`.
  const MonoTime start = clock.Monotonic();
  auto response = rest_.http().Send(request);
  if (rest_.options().observer) {
    const std::string path = request.path_and_query;
    rest_.options().observer(kube::RequestMetric{"evict", request.method, path,
                                                 response.ok() ? response->status : 0,
                                                 clock.Monotonic() - start, 1});
  }
  if (!response.ok()) return remediation::ClassifyEvictionError(response.error());
  if (response->status >= 200 && response->status < 300) return EvictionResult{};
  return ClassifyEvictionResponse(*response);
}

bool RestDrainApi::NodeReady(const std::string& node) {
  if (nodes_ == nullptr) return true;  // Nothing to tell: kubectl's semantics.
  auto cached = nodes_->Get("", node);
  if (!cached) return false;
  const kube::NodeCondition* ready = cached->FindCondition("Ready");
  return ready != nullptr && ready->status == kube::ConditionStatus::kTrue;
}

Result<std::optional<ObservedPod>> RestDrainApi::GetPod(const DrainPodRef& pod) {
  if (pods_ != nullptr) {
    if (auto cached = pods_->Get(pod.namespace_, pod.name)) {
      return std::optional<ObservedPod>(
          ObservedPod{cached->meta.uid.str(), cached->meta.deletion_timestamp});
    }
  }
  auto got = rest_.Get(kube::CoreResource("pods", pod.namespace_), pod.name);
  if (!got.ok()) {
    if (got.error().Is(ErrorKind::kNotFound)) return std::optional<ObservedPod>();
    return got.error();
  }
  auto decoded = kube::DecodePod(*got);
  if (!decoded.ok()) return decoded.error();
  return std::optional<ObservedPod>(
      ObservedPod{decoded->meta.uid.str(), decoded->meta.deletion_timestamp});
}

}  // namespace nodeguard::writes
