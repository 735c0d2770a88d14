#include "hygiene/policy_report.h"

#include <algorithm>
#include <cctype>
#include <tuple>

namespace nodeguard::hygiene {

std::string RuleName(uint8_t bit) {
  std::string name = "require-" + std::string(ResourceFieldName(bit));
  std::replace(name.begin(), name.end(), '.', '-');
  return name;
}

std::string PolicyReportName(std::string_view policy_name) {
  std::string name = "nodeguard-" + std::string(policy_name);
  if (name.size() > 253) name.resize(253);
  while (!name.empty() && (name.back() == '-' || name.back() == '.')) name.pop_back();
  return name;
}

namespace {

// Label values are at most 63 characters and must end alphanumeric.
std::string LabelValue(std::string_view text) {
  std::string value(text.substr(0, 63));
  while (!value.empty() && !std::isalnum(static_cast<unsigned char>(value.back())))
    value.pop_back();
  return value;
}

}  // namespace

nlohmann::json BuildPolicyReport(std::string_view namespace_name, std::string_view policy_name,
                                 const std::vector<const PodFindings*>& pods) {
  std::vector<const PodFindings*> sorted;
  for (const PodFindings* p : pods)
    if (p != nullptr && p->namespace_ == namespace_name && p->Flagged()) sorted.push_back(p);
  std::sort(sorted.begin(), sorted.end(), [](const PodFindings* a, const PodFindings* b) {
    return std::tie(a->name, a->uid) < std::tie(b->name, b->uid);
  });

  nlohmann::json results = nlohmann::json::array();
  for (const PodFindings* p : sorted) {
    const bool best_effort = p->qos == kube::QosClass::kBestEffort;
    for (uint8_t bit : kResourceBitOrder) {
      std::string containers;
      for (const auto& c : p->containers) {
        if ((c.missing & bit) == 0) continue;
        if (!containers.empty()) containers += ",";
        containers += c.init ? "init:" + c.name : c.name;
      }
      if (containers.empty()) continue;
      nlohmann::json properties = {{"containers", containers}};
      if (const char* qos = kube::QosClassName(p->qos); *qos != '\0') properties["qosClass"] = qos;
      results.push_back({
          {"source", kPolicyReportSource},
          {"policy", kPolicyReportPolicy},
          {"rule", RuleName(bit)},
          {"category", "Resource Requirements"},
          {"severity", best_effort ? "high" : "medium"},
          {"result", "fail"},
          {"scored", true},
          {"message", "Pod " + p->name + ": container" +
                          (containers.find(',') == std::string::npos ? " " : "s ") + containers +
                          " must set " + std::string(ResourceFieldName(bit))},
          {"resources", nlohmann::json::array({{{"apiVersion", "v1"},
                                                {"kind", "Pod"},
                                                {"namespace", std::string(namespace_name)},
                                                {"name", p->name},
                                                {"uid", p->uid}}})},
          {"properties", std::move(properties)},
      });
    }
  }

  const auto fails = static_cast<int64_t>(results.size());
  return {
      {"apiVersion", kPolicyReportApiVersion},
      {"kind", "PolicyReport"},
      {"metadata",
       {{"name", PolicyReportName(policy_name)},
        {"namespace", std::string(namespace_name)},
        {"labels",
         {{"app.kubernetes.io/managed-by", "nodeguard"},
          {"nodeguard.io/policy", LabelValue(policy_name)}}}}},
      {"summary", {{"pass", 0}, {"fail", fails}, {"warn", 0}, {"error", 0}, {"skip", 0}}},
      {"results", std::move(results)},
  };
}

}  // namespace nodeguard::hygiene
