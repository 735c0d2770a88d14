#include "notify/fact.h"

#include <chrono>
#include <cstdio>

#include "common/text.h"
#include "common/time.h"

namespace nodeguard::notify {
namespace {

struct KindInfo {
  FactKind kind;
  const char* name;
};
constexpr KindInfo kKinds[] = {
    {FactKind::kRemediationStarted, "remediation.started"},
    {FactKind::kRemediationEscalated, "remediation.escalated"},
    {FactKind::kRemediationSucceeded, "remediation.succeeded"},
    {FactKind::kRemediationFailed, "remediation.failed"},
    {FactKind::kStormDetected, "storm.detected"},
    {FactKind::kStormCleared, "storm.cleared"},
    {FactKind::kNodeRefusedCordoned, "node.refused-cordoned"},
    {FactKind::kDensityCapReached, "density.cap-reached"},
    {FactKind::kEarlyWarningChanged, "early-warning.changed"},
};

// Escapes '%' and '/' (and control bytes) so the parts of an id cannot run
// into each other.
std::string EscapePart(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '%' || c == '/' || c < 0x20 || c == 0x7f) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string NodeList(const Fact& fact) {
  std::vector<std::string> items = fact.nodes;
  if (fact.more_nodes > 0) items.push_back(std::to_string(fact.more_nodes) + " more");
  return JoinBounded(items, ", ", 1500);
}

size_t NodeCount(const Fact& fact) { return fact.nodes.size() + fact.more_nodes; }

std::string Sentence(std::string_view s) {
  std::string out(s);
  if (!out.empty() && out.back() != '.' && out.back() != '!' && out.back() != '?') out += '.';
  return out;
}

}  // namespace

const std::vector<FactKind>& AllFactKinds() {
  static const std::vector<FactKind> all = [] {
    std::vector<FactKind> v;
    for (const auto& k : kKinds) v.push_back(k.kind);
    return v;
  }();
  return all;
}

const char* FactKindName(FactKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

std::optional<FactKind> ParseFactKind(std::string_view name) {
  for (const auto& k : kKinds) {
    if (name == k.name) return k.kind;
  }
  return std::nullopt;
}

bool IsWarning(FactKind kind) {
  switch (kind) {
    case FactKind::kRemediationFailed:
    case FactKind::kRemediationEscalated:
    case FactKind::kStormDetected:
    case FactKind::kNodeRefusedCordoned:
    case FactKind::kDensityCapReached:
      return true;
    default:
      return false;
  }
}

bool IsWarning(const Fact& fact) {
  if (fact.kind == FactKind::kEarlyWarningChanged) return fact.level != "Healthy";
  return IsWarning(fact.kind);
}

std::string FactId(const Fact& fact) {
  return std::string(FactKindName(fact.kind)) + "/" + EscapePart(fact.policy) + "/" +
         EscapePart(fact.node) + "/" + EscapePart(fact.occurrence);
}

std::string HumanDuration(Duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 0) s = 0;
  const long long h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  std::string out;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += std::to_string(sec) + "s";
  return out;
}

FactText DescribeFact(const Fact& f) {
  FactText t;
  const std::string node = f.node.empty() ? "(no node)" : f.node;
  const std::string action = f.action.empty() ? "remediation" : f.action;
  const std::string took = f.duration ? " after " + HumanDuration(*f.duration) : "";
  const std::string when = FormatRfc3339(f.time);
  std::string because = f.reason.empty() ? "" : " Reason: " + Sentence(f.reason);
  std::string more = f.detail.empty() ? "" : " " + Sentence(f.detail);
  switch (f.kind) {
    case FactKind::kRemediationStarted:
      // Started is sent when the node is cordoned, before the ladder's first
      // action is chosen: then the message says what happens first.
      t.title = "Node " + node + ": remediation started" +
                (f.action.empty() ? std::string() : " (" + f.action + ")");
      t.body =
          "nodeguard found node " + node + " unhealthy and started " +
          (f.action.empty() ? std::string("its remediation (cordon and drain first)") : f.action) +
          " at " + when + "." + because + more +
          " Nothing to do now; you will get another message when it succeeds or fails.";
      break;
    case FactKind::kRemediationEscalated:
      t.title = "Node " + node + ": remediation escalated (" + action + ")";
      t.body = "The earlier step did not bring node " + node + " back, so nodeguard moved on to " +
               action + took + "." + because + more +
               " Watch the node; you will get another message when it succeeds or fails.";
      break;
    case FactKind::kRemediationSucceeded:
      t.title = "Node " + node + ": recovered (" + action + took + ")";
      t.body = "Node " + node + " is healthy again after " + action + took +
               " and takes workloads again." + because + more + " Nothing to do.";
      break;
    case FactKind::kRemediationFailed:
      t.title = "Node " + node + ": remediation FAILED (" + action + took + ")";
      t.body = "nodeguard could not bring node " + node + " back with " + action + took + "." +
               because + more +
               " nodeguard has done what the policy allows; a person must look at this node.";
      break;
    case FactKind::kStormDetected:
      t.title = "Remediation paused: too many unhealthy nodes" +
                (f.policy.empty() ? std::string() : " (policy " + f.policy + ")");
      t.body =
          "Too many nodes are unhealthy at once, which usually means a shared cause "
          "(network, control plane, a bad rollout), not broken nodes. nodeguard stopped "
          "starting new remediations to avoid making it worse." +
          because + more + " Look for the common cause; nodeguard resumes on its own.";
      break;
    case FactKind::kStormCleared:
      t.title = "Remediation resumed: unhealthy nodes back under the limit" +
                (f.policy.empty() ? std::string() : " (policy " + f.policy + ")");
      t.body = "Enough nodes are healthy again; nodeguard resumed remediation." + because + more +
               " Nothing to do.";
      break;
    case FactKind::kNodeRefusedCordoned:
      t.title = "Node " + node + ": unhealthy but left alone (cordoned by a person)";
      t.body = "Node " + node +
               " is unhealthy, but someone cordoned it by hand, so nodeguard does not touch it." +
               because + more + " Whoever cordoned it is in charge; uncordon it to hand it back.";
      break;
    case FactKind::kDensityCapReached: {
      const size_t n = NodeCount(f);
      t.title = "Pod density cap reached on " + std::to_string(n) + (n == 1 ? " node" : " nodes");
      t.body =
          "These nodes hold as many pods as the policy allows, so new pods are kept off them: " +
          NodeList(f) + "." + because + more +
          " Add capacity if pods stay Pending; the cap lifts on its own as pods leave.";
      break;
    }
    case FactKind::kEarlyWarningChanged:
      if (f.level == "Healthy") {
        t.title = "Node " + node + ": early warning back to Healthy";
        t.body = "The kubelet on node " + node + " relists its pods on time again." + because +
                 more + " Nothing to do.";
      } else if (f.level == "Critical") {
        t.title = "Node " + node + ": early warning CRITICAL";
        t.body = "The kubelet on node " + node +
                 " has not relisted its pods for a while: its container runtime may be hung, "
                 "and the node is likely to turn NotReady (PLEG is not healthy) within minutes." +
                 because + more +
                 " Look at the node now (runtime load, disk, pods per node); nodeguard remediates "
                 "it if the policy's unhealthy conditions are met.";
      } else {
        t.title = "Node " + node + ": early warning " + (f.level.empty() ? "changed" : f.level);
        t.body = "The kubelet on node " + node +
                 " relists its pods slowly, an early sign of an overloaded runtime." + because +
                 more + " nodeguard has not acted on the node; have a look before it gets worse.";
      }
      break;
  }
  if (!f.cluster.empty()) t.fields.emplace_back("Cluster", f.cluster);
  if (!f.node.empty()) t.fields.emplace_back("Node", f.node);
  if (!f.nodes.empty()) t.fields.emplace_back("Nodes", NodeList(f));
  if (!f.policy.empty()) t.fields.emplace_back("Policy", f.policy);
  if (!f.action.empty()) t.fields.emplace_back("Action", f.action);
  if (!f.level.empty()) t.fields.emplace_back("Level", f.level);
  if (f.duration) t.fields.emplace_back("Duration", HumanDuration(*f.duration));
  if (!f.reason.empty()) t.fields.emplace_back("Reason", f.reason);
  t.fields.emplace_back("Time", when);
  return t;
}

}  // namespace nodeguard::notify
