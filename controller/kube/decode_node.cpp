// Node -> kube::Node: labels, nodeguard.io/ annotations, unschedulable,
// taints, conditions, capacity and allocatable, node info.

#include <string>
#include <string_view>

#include "common/time.h"
#include "kube/decode.h"
#include "kube/decode_json.h"

namespace nodeguard::kube {
namespace json {
namespace {

using simdjson::SUCCESS;

constexpr std::string_view kNodeguardPrefix = "nodeguard.io/";
constexpr std::string_view kEarlyWarningAnnotation = "nodeguard.io/early-warning";

error_code ReadTaint(od::value& v, Taint& taint, Problems& problems) {
  std::string effect;
  SIMDJSON_TRY(ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key == "key") return ReadString(f.value(), taint.key);
    if (key == "value") return ReadString(f.value(), taint.value);
    if (key == "effect") return ReadString(f.value(), effect);
    if (key == "timeAdded") return ReadTime(f.value(), taint.time_added, problems, "timeAdded");
    return SUCCESS;
  }));
  if (effect == "NoSchedule") {
    taint.effect = TaintEffect::kNoSchedule;
  } else if (effect == "PreferNoSchedule") {
    taint.effect = TaintEffect::kPreferNoSchedule;
  } else if (effect == "NoExecute") {
    taint.effect = TaintEffect::kNoExecute;
  } else {
    problems.Flag("spec.taints", "unknown effect \"" + effect + "\"");
  }
  return SUCCESS;
}

error_code ReadCondition(od::value& v, NodeCondition& c, Problems& problems) {
  return ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key == "type") return ReadSymbol(f.value(), c.type);
    if (key == "status") {
      std::string s;
      SIMDJSON_TRY(ReadString(f.value(), s));
      c.status = s == "True"    ? ConditionStatus::kTrue
                 : s == "False" ? ConditionStatus::kFalse
                                : ConditionStatus::kUnknown;
      return SUCCESS;
    }
    if (key == "reason") return ReadSymbol(f.value(), c.reason);
    if (key == "message") return ReadString(f.value(), c.message);
    if (key == "lastHeartbeatTime") {
      return ReadTime(f.value(), c.last_heartbeat_time, problems, "lastHeartbeatTime");
    }
    if (key == "lastTransitionTime") {
      return ReadTime(f.value(), c.last_transition_time, problems, "lastTransitionTime");
    }
    return SUCCESS;
  });
}

error_code ReadResources(od::value& v, NodeResources& r, Problems& problems,
                         std::string_view field) {
  return ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key == "cpu") return ReadQuantity(f.value(), r.cpu_millis, true, problems, field);
    if (key == "memory") return ReadQuantity(f.value(), r.memory_bytes, false, problems, field);
    if (key == "ephemeral-storage") {
      return ReadQuantity(f.value(), r.ephemeral_storage_bytes, false, problems, field);
    }
    if (key == "pods") return ReadQuantity(f.value(), r.pods, false, problems, field);
    return SUCCESS;
  });
}

error_code ReadNodeSpec(od::value& v, Node& node, Problems& problems) {
  return ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key == "unschedulable") return ReadBool(f.value(), node.unschedulable);
    if (key == "taints") {
      return ForEachElement(f.value(), [&](od::value& t) {
        return ReadTaint(t, node.taints.emplace_back(), problems);
      });
    }
    return SUCCESS;
  });
}

error_code ReadNodeStatus(od::value& v, Node& node, Problems& problems) {
  return ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key == "capacity") return ReadResources(f.value(), node.capacity, problems, "capacity");
    if (key == "allocatable") {
      return ReadResources(f.value(), node.allocatable, problems, "allocatable");
    }
    if (key == "conditions") {
      return ForEachElement(f.value(), [&](od::value& c) {
        return ReadCondition(c, node.conditions.emplace_back(), problems);
      });
    }
    if (key == "nodeInfo") {
      return ForEachField(f.value(), [&](od::field& i) -> error_code {
        od::raw_json_string k = i.key();
        if (k == "bootID") return ReadString(i.value(), node.boot_id);
        if (k == "containerRuntimeVersion") {
          return ReadString(i.value(), node.container_runtime_version);
        }
        if (k == "kubeletVersion") return ReadString(i.value(), node.kubelet_version);
        return SUCCESS;
      });
    }
    return SUCCESS;
  });
}

}  // namespace

template <>
struct ObjectDecoder<Node> {
  static error_code Decode(od::object& obj, Node& node, Problems& problems) {
    SIMDJSON_TRY(ForEachFieldOf(obj, [&](od::field& f) -> error_code {
      od::raw_json_string key = f.key();
      if (key == "metadata") {
        return ReadMeta(f.value(), node.meta, problems, [&](od::field& extra) -> error_code {
          if (extra.key() == "labels") return ReadLabels(extra.value(), node.labels);
          if (extra.key() == "annotations") {
            size_t total = 0;
            SIMDJSON_TRY(
                ReadStringMap(extra.value(), node.nodeguard_annotations, kNodeguardPrefix, &total));
            node.has_annotations = total > 0;
            return SUCCESS;
          }
          return SUCCESS;
        });
      }
      if (key == "spec") return ReadNodeSpec(f.value(), node, problems);
      if (key == "status") return ReadNodeStatus(f.value(), node, problems);
      return SUCCESS;
    }));
    if (node.meta.name.empty()) problems.Flag("metadata.name", "missing");
    if (const std::string* ew = node.Annotation(kEarlyWarningAnnotation)) {
      node.early_warning = DecodeNodeEarlyWarning(*ew);
    }
    // Cached for the node's lifetime: no spare capacity.
    node.labels.shrink_to_fit();
    node.nodeguard_annotations.shrink_to_fit();
    node.taints.shrink_to_fit();
    node.conditions.shrink_to_fit();
    return SUCCESS;
  }
};

}  // namespace json

NODEGUARD_KUBE_INSTANTIATE_DECODERS(Node)

NodeEarlyWarning DecodeNodeEarlyWarning(std::string_view text) {
  using simdjson::SUCCESS;
  namespace od = simdjson::ondemand;
  constexpr size_t kMaxBytes = 16 * 1024;  // The agent writes 150-400 bytes.
  NodeEarlyWarning unknown{EarlyWarningLevel::kUnknown, {}};
  if (text.size() > kMaxBytes) return unknown;
  // Its own parser: this runs while the Node's document is still open in
  // the thread's DocumentParser.
  thread_local od::parser parser;
  thread_local std::string padded;
  padded.assign(text);
  padded.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (parser.iterate(padded.data(), text.size(), padded.capacity()).get(doc) != SUCCESS) {
    return unknown;
  }
  od::object obj;
  if (doc.get_object().get(obj) != SUCCESS) return unknown;
  std::string_view level_name;
  std::string_view since_text;
  bool has_level = false;
  bool has_since = false;
  for (auto f : obj) {
    if (f.error() != SUCCESS) return unknown;
    od::field& field = f.value_unsafe();
    std::string_view key;
    if (field.unescaped_key().get(key) != SUCCESS) return unknown;
    // A string_view of the parser's string buffer: valid until the next document.
    if (key == "level") {
      if (field.value().get_string().get(level_name) != SUCCESS) return unknown;
      has_level = true;
    } else if (key == "since") {
      if (field.value().get_string().get(since_text) != SUCCESS) return unknown;
      has_since = true;
    }
  }
  // A document must end after the object (trailing garbage is unreadable too).
  if (json::ExpectEnd(doc) != SUCCESS) return unknown;
  if (!has_level || !has_since) return unknown;
  NodeEarlyWarning out;
  if (level_name == "Healthy") {
    out.level = EarlyWarningLevel::kHealthy;
  } else if (level_name == "Degraded") {
    out.level = EarlyWarningLevel::kDegraded;
  } else if (level_name == "Critical") {
    out.level = EarlyWarningLevel::kCritical;
  } else {
    return unknown;
  }
  auto since = ParseRfc3339(since_text);
  if (!since.ok()) return unknown;
  out.since = *since;
  return out;
}

}  // namespace nodeguard::kube
