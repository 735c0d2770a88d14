#include "hygiene/findings.h"

#include <algorithm>

namespace nodeguard::hygiene {

std::string_view ResourceFieldName(uint8_t bit) {
  switch (bit) {
    case kube::kRequestCpu:
      return "requests.cpu";
    case kube::kRequestMemory:
      return "requests.memory";
    case kube::kRequestEphemeralStorage:
      return "requests.ephemeral-storage";
    case kube::kLimitCpu:
      return "limits.cpu";
    case kube::kLimitMemory:
      return "limits.memory";
    case kube::kLimitEphemeralStorage:
      return "limits.ephemeral-storage";
    default:
      return "";
  }
}

namespace {

std::string JoinFields(uint8_t bits, std::string_view separator) {
  std::string out;
  for (uint8_t bit : kResourceBitOrder) {
    if ((bits & bit) == 0) continue;
    if (!out.empty()) out += separator;
    out += ResourceFieldName(bit);
  }
  return out;
}

}  // namespace

std::string FormatResourceFields(uint8_t bits) { return JoinFields(bits, ","); }

bool HygieneRules::Excludes(std::string_view namespace_name) const {
  return std::binary_search(exclude_namespaces.begin(), exclude_namespaces.end(), namespace_name,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

HygieneRules CompileRules(const api::ResourceHygieneSpec& spec) {
  HygieneRules r;
  r.required = spec.required & kAllResourceBits;
  r.include_init_containers = spec.include_init_containers;
  r.exclude_namespaces = spec.exclude_namespaces;
  std::sort(r.exclude_namespaces.begin(), r.exclude_namespaces.end());
  r.exclude_namespaces.erase(std::unique(r.exclude_namespaces.begin(), r.exclude_namespaces.end()),
                             r.exclude_namespaces.end());
  r.annotate_pods = spec.annotate_pods;
  r.emit_events = spec.emit_events;
  return r;
}

uint8_t PodFindings::MissingUnion() const {
  uint8_t bits = 0;
  for (const auto& c : containers) bits |= c.missing;
  return bits;
}

PodFindings EvaluatePod(const HygieneRules& rules, const kube::Pod& pod) {
  PodFindings f;
  f.uid = pod.meta.uid.str();
  f.namespace_ = pod.meta.namespace_;
  f.name = pod.meta.name;
  f.qos = pod.qos;
  if (pod.Terminal()) {
    f.skipped = SkipReason::kTerminal;
    return f;
  }
  if (rules.Excludes(pod.meta.namespace_.view())) {
    f.skipped = SkipReason::kExcludedNamespace;
    return f;
  }
  const uint8_t required = rules.required & kAllResourceBits;
  for (const auto& c : pod.containers) {
    if (c.init && !rules.include_init_containers) continue;
    const uint8_t missing = required & static_cast<uint8_t>(~c.declared);
    if (missing != 0) f.containers.push_back({c.name.str(), c.init, missing});
  }
  return f;
}

std::string EncodeAnnotation(const PodFindings& findings) {
  std::string out;
  for (const auto& c : findings.containers) {
    if (!out.empty()) out += "; ";
    if (c.init) out += "init:";
    out += c.name;
    out += ": ";
    out += FormatResourceFields(c.missing);
  }
  return out;
}

std::string EventMessage(const PodFindings& findings) {
  std::string out = "Pod " + findings.namespace_.str() + "/" + findings.name;
  if (const char* qos = kube::QosClassName(findings.qos); *qos != '\0') {
    out += " (QoS ";
    out += qos;
    out += ")";
  }
  out += " lacks resource requirements: ";
  bool first = true;
  for (const auto& c : findings.containers) {
    if (!first) out += "; ";
    first = false;
    out += c.init ? "init container " : "container ";
    out += c.name;
    out += ": ";
    out += JoinFields(c.missing, ", ");
  }
  return out;
}

}  // namespace nodeguard::hygiene
