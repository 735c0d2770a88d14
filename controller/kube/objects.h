#pragma once

// Slim, typed views of the Kubernetes objects nodeguard watches. Informers
// decode watch events straight into these structs (see decode.h) and cache
// only them: never a JSON tree. Add a field here only when a feature reads it.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kube/symbol.h"
#include "kube/uid.h"

namespace nodeguard::kube {

// Wall-clock instant with second precision or better; a default-constructed
// Time (the epoch) means "unset", as an absent metav1.Time does.
using Time = std::chrono::system_clock::time_point;
inline bool IsSet(Time t) { return t.time_since_epoch().count() != 0; }

// A node's labels, sorted by key, keys and values interned (Symbol: 8 bytes
// each, one shared copy of the text). Keys come from a small vocabulary, and
// so do nearly all values (zone, region, instance type, OS, architecture,
// role, pool); the hostname label's value is the node's name, which Pods
// intern anyway. A label whose value is unique to each node costs one
// interned copy per node ever seen. Cuts a Node's labels from about 100 to
// 16 bytes each (docs/performance.md).
class Labels {
 public:
  struct Label {
    Symbol key;
    Symbol value;
    friend bool operator==(const Label&, const Label&) = default;
  };
  using const_iterator = std::vector<Label>::const_iterator;

  Labels() = default;
  // From key/value text in any order; for a repeated key the last value wins
  // (as Go's JSON decoding does). E.g. Labels{{"pool", "a"}, {"zone", z}}.
  Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels);

  // The value for `key`, or nullptr. The string lives as long as the process.
  const std::string* Find(std::string_view key) const;
  // Adds or replaces (interning both).
  void Set(std::string_view key, std::string_view value);
  // Removes `key`; false if absent.
  bool Erase(std::string_view key);

  const_iterator begin() const { return labels_.begin(); }
  const_iterator end() const { return labels_.end(); }
  size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  void clear() { labels_.clear(); }
  void shrink_to_fit() { labels_.shrink_to_fit(); }

  friend bool operator==(const Labels&, const Labels&) = default;

 private:
  std::vector<Label> labels_;  // Sorted by key text; keys unique.
};

// Annotations as text (values such as nodeguard.io/remediation hold JSON
// state that changes with every step, so they are never interned). Sorted by key.
using Annotations = std::vector<std::pair<std::string, std::string>>;
const std::string* FindAnnotation(const Annotations& annotations, std::string_view key);

struct ObjectMeta {
  std::string name;
  Symbol namespace_;  // Empty for cluster-scoped objects.
  Uid uid;
  std::string resource_version;
  int64_t generation = 0;
  Time creation_timestamp{};
  Time deletion_timestamp{};  // Unset unless the object is terminating.
};

// ---------------------------------------------------------------- Node

enum class ConditionStatus : uint8_t { kUnknown, kTrue, kFalse };
const char* ConditionStatusName(ConditionStatus s);

// Type and reason are interned (bounded vocabularies: the kubelet's and the
// node problem detector's); the message is free text (the PLEG message
// embeds a duration), kept as is.
struct NodeCondition {
  Symbol type;  // "Ready", "MemoryPressure", ...
  ConditionStatus status = ConditionStatus::kUnknown;
  Symbol reason;  // "KubeletReady", "KubeletNotReady", ...
  std::string message;
  Time last_transition_time{};
  Time last_heartbeat_time{};
};

enum class TaintEffect : uint8_t { kNoSchedule, kPreferNoSchedule, kNoExecute };
const char* TaintEffectName(TaintEffect e);

struct Taint {
  std::string key;
  std::string value;
  TaintEffect effect = TaintEffect::kNoSchedule;
  Time time_added{};
  friend bool operator==(const Taint&, const Taint&) = default;
};

// Resource amounts in canonical units: CPU in millicores, bytes otherwise.
struct NodeResources {
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  int64_t ephemeral_storage_bytes = 0;
  int64_t pods = 0;
};

// The node's early-warning level, from its nodeguard.io/early-warning
// annotation (published by the agent with --early-warning; docs/early-warning.md).
// Decoded once when the Node is decoded, so readers never parse JSON.
// kAbsent: no annotation; kUnknown: an annotation that cannot be read
// (not JSON, no or an unknown level, a bad `since`): reported, never acted on.
enum class EarlyWarningLevel : uint8_t { kAbsent, kHealthy, kDegraded, kCritical, kUnknown };
const char* EarlyWarningLevelName(EarlyWarningLevel l);  // "Absent", "Healthy", ...

struct NodeEarlyWarning {
  EarlyWarningLevel level = EarlyWarningLevel::kAbsent;
  Time since{};  // When the node entered `level`, as the agent saw it; unset unless readable.
  friend bool operator==(const NodeEarlyWarning&, const NodeEarlyWarning&) = default;
};

// Decodes the annotation's value: only `level` and `since` are read (the rest
// of the record is for people and the agent). Total: anything unreadable is
// kUnknown. Defined in decode_node.cpp.
NodeEarlyWarning DecodeNodeEarlyWarning(std::string_view json);

struct Node {
  ObjectMeta meta;
  Labels labels;
  // Only annotations whose key starts with "nodeguard.io/": the rest are never read.
  Annotations nodeguard_annotations;
  // metadata.annotations has at least one key (of any prefix). A JSON patch
  // adding one annotation must create the map when it is absent, and must
  // never replace it when it holds keys nodeguard does not keep.
  bool has_annotations = false;
  bool unschedulable = false;
  std::vector<Taint> taints;
  std::vector<NodeCondition> conditions;
  NodeResources capacity;
  NodeResources allocatable;
  std::string boot_id;                    // status.nodeInfo.bootID
  std::string container_runtime_version;  // e.g. "containerd://1.7.2"
  std::string kubelet_version;
  NodeEarlyWarning early_warning;  // From the nodeguard.io/early-warning annotation.

  // Returns the condition of that type, or nullptr.
  const NodeCondition* FindCondition(std::string_view type) const;
  const Taint* FindTaint(std::string_view key, TaintEffect effect) const;
  const std::string* Annotation(std::string_view key) const {
    return FindAnnotation(nodeguard_annotations, key);
  }
};

// ---------------------------------------------------------------- Pod

enum class PodPhase : uint8_t { kPending, kRunning, kSucceeded, kFailed, kUnknown };
const char* PodPhaseName(PodPhase p);

enum class QosClass : uint8_t { kUnknown, kBestEffort, kBurstable, kGuaranteed };
const char* QosClassName(QosClass q);

// Kind of the pod's controller (the ownerReference with controller=true).
enum class ControllerKind : uint8_t {
  kNone,  // No controller: a bare pod (kubectl drain needs --force).
  kReplicaSet,
  kStatefulSet,
  kDaemonSet,
  kJob,
  kReplicationController,
  kNode,  // Static/mirror pods are owned by their Node.
  kOther,
};

// Which resource fields a container declares. One bit per (kind, resource).
enum ResourceBit : uint8_t {
  kRequestCpu = 1 << 0,
  kRequestMemory = 1 << 1,
  kRequestEphemeralStorage = 1 << 2,
  kLimitCpu = 1 << 3,
  kLimitMemory = 1 << 4,
  kLimitEphemeralStorage = 1 << 5,
};

struct ContainerResources {
  Symbol name;           // Interned: the same few names repeat in every pod of a template.
  uint8_t declared = 0;  // ResourceBit flags.
  bool init = false;
};

struct Pod {
  ObjectMeta meta;
  Symbol node_name;  // spec.nodeName; empty while unscheduled.
  PodPhase phase = PodPhase::kPending;
  QosClass qos = QosClass::kUnknown;
  ControllerKind controller_kind = ControllerKind::kNone;
  // The controller's name when it is a DaemonSet (drain names it), interned:
  // DaemonSets are few. Other controllers' names are never read, and
  // ReplicaSet names change with every rollout, so they are not kept.
  Symbol daemon_set_name;
  bool mirror = false;         // Has the kubernetes.io/config.mirror annotation.
  bool has_empty_dir = false;  // Any emptyDir volume (drain needs deleteEmptyDirData).
  int64_t termination_grace_period_seconds = 30;
  std::vector<ContainerResources> containers;  // Init containers first, flagged.
  // Value of the nodeguard.io/resource-findings annotation, empty if absent.
  // Interned: nodeguard writes it, and pods of one template share a value.
  Symbol resource_findings_annotation;

  bool Terminal() const { return phase == PodPhase::kSucceeded || phase == PodPhase::kFailed; }
  bool Terminating() const { return IsSet(meta.deletion_timestamp); }
};

// ---------------------------------------------------------------- Lease

struct Lease {
  ObjectMeta meta;
  std::string holder_identity;
  int32_t lease_duration_seconds = 0;
  int32_t lease_transitions = 0;
  Time acquire_time{};
  Time renew_time{};
};

}  // namespace nodeguard::kube
