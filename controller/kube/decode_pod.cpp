// Pod -> kube::Pod. Reads identity, node, phase, QoS, the controller owner,
// the mirror and findings annotations, emptyDir volumes and which resource
// requests/limits each (init) container declares; skips everything else.

#include <string>
#include <string_view>

#include "common/quantity.h"
#include "kube/decode.h"
#include "kube/decode_json.h"

namespace nodeguard::kube {
namespace json {
namespace {

using simdjson::SUCCESS;

constexpr std::string_view kMirrorAnnotation = "kubernetes.io/config.mirror";
constexpr std::string_view kFindingsAnnotation = "nodeguard.io/resource-findings";

ControllerKind ControllerKindOf(std::string_view api_version, std::string_view kind) {
  if (api_version == "apps/v1") {
    if (kind == "ReplicaSet") return ControllerKind::kReplicaSet;
    if (kind == "StatefulSet") return ControllerKind::kStatefulSet;
    if (kind == "DaemonSet") return ControllerKind::kDaemonSet;
  } else if (api_version == "batch/v1") {
    if (kind == "Job") return ControllerKind::kJob;
  } else if (api_version == "v1") {
    if (kind == "ReplicationController") return ControllerKind::kReplicationController;
    if (kind == "Node") return ControllerKind::kNode;
  }
  return ControllerKind::kOther;
}

PodPhase PhaseOf(std::string_view s) {
  if (s == "Pending") return PodPhase::kPending;
  if (s == "Running") return PodPhase::kRunning;
  if (s == "Succeeded") return PodPhase::kSucceeded;
  if (s == "Failed") return PodPhase::kFailed;
  return PodPhase::kUnknown;  // "Unknown", or a phase newer than this code.
}

QosClass QosOf(std::string_view s) {
  if (s == "BestEffort") return QosClass::kBestEffort;
  if (s == "Burstable") return QosClass::kBurstable;
  if (s == "Guaranteed") return QosClass::kGuaranteed;
  return QosClass::kUnknown;
}

error_code ReadOwnerReference(od::value& v, Pod& pod) {
  std::string api_version;
  std::string kind;
  std::string name;
  bool controller = false;
  SIMDJSON_TRY(ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key == "apiVersion") return ReadString(f.value(), api_version);
    if (key == "kind") return ReadString(f.value(), kind);
    if (key == "name") return ReadString(f.value(), name);
    if (key == "controller") return ReadBool(f.value(), controller);
    return SUCCESS;
  }));
  if (controller) {
    pod.controller_kind = ControllerKindOf(api_version, kind);
    if (pod.controller_kind == ControllerKind::kDaemonSet)
      pod.daemon_set_name = Symbol::Intern(name);
  }
  return SUCCESS;
}

error_code ReadMetaExtra(od::field& f, Pod& pod) {
  od::raw_json_string key = f.key();
  if (key == "annotations") {
    return ForEachField(f.value(), [&](od::field& a) -> error_code {
      od::raw_json_string k = a.key();
      if (k == kMirrorAnnotation) {
        pod.mirror = true;
        return SUCCESS;
      }
      if (k == kFindingsAnnotation) return ReadSymbol(a.value(), pod.resource_findings_annotation);
      return SUCCESS;
    });
  }
  if (key == "ownerReferences") {
    return ForEachElement(f.value(), [&](od::value& ref) { return ReadOwnerReference(ref, pod); });
  }
  return SUCCESS;
}

// Sets `bit` when `resource` is one of the three nodeguard audits, after
// checking its value is a valid quantity.
error_code ReadResourceList(od::value& v, uint8_t cpu_bit, uint8_t memory_bit, uint8_t storage_bit,
                            uint8_t& declared, Problems& problems) {
  return ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    uint8_t bit = 0;
    bool milli = false;
    if (key == "cpu") {
      bit = cpu_bit;
      milli = true;
    } else if (key == "memory") {
      bit = memory_bit;
    } else if (key == "ephemeral-storage") {
      bit = storage_bit;
    } else {
      return SUCCESS;
    }
    int64_t amount = 0;
    SIMDJSON_TRY(ReadQuantity(f.value(), amount, milli, problems, "resources"));
    declared |= bit;
    return SUCCESS;
  });
}

error_code ReadContainer(od::value& v, ContainerResources& c, Problems& problems) {
  return ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key == "name") return ReadSymbol(f.value(), c.name);
    if (key != "resources") return SUCCESS;
    return ForEachField(f.value(), [&](od::field& r) -> error_code {
      od::raw_json_string k = r.key();
      if (k == "requests") {
        return ReadResourceList(r.value(), kRequestCpu, kRequestMemory, kRequestEphemeralStorage,
                                c.declared, problems);
      }
      if (k == "limits") {
        return ReadResourceList(r.value(), kLimitCpu, kLimitMemory, kLimitEphemeralStorage,
                                c.declared, problems);
      }
      return SUCCESS;
    });
  });
}

error_code ReadPodSpec(od::value& v, Pod& pod, Problems& problems) {
  size_t init_count = 0;
  return ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key == "nodeName") return ReadSymbol(f.value(), pod.node_name);
    if (key == "terminationGracePeriodSeconds") {
      return ReadInt64(f.value(), pod.termination_grace_period_seconds);
    }
    if (key == "containers") {
      return ForEachElement(f.value(), [&](od::value& c) {
        return ReadContainer(c, pod.containers.emplace_back(), problems);
      });
    }
    if (key == "initContainers") {
      // Init containers go first, whatever the field order in the JSON.
      return ForEachElement(f.value(), [&](od::value& c) {
        auto it = pod.containers.emplace(pod.containers.begin() + init_count++);
        it->init = true;
        return ReadContainer(c, *it, problems);
      });
    }
    if (key == "volumes") {
      return ForEachElement(f.value(), [&](od::value& volume) {
        return ForEachField(volume, [&](od::field& vf) -> error_code {
          if (vf.key() != "emptyDir") return SUCCESS;
          bool null = false;
          SIMDJSON_TRY(vf.value().is_null().get(null));
          if (!null) pod.has_empty_dir = true;
          return SUCCESS;
        });
      });
    }
    return SUCCESS;
  });
}

error_code ReadPodStatus(od::value& v, Pod& pod) {
  return ForEachField(v, [&](od::field& f) -> error_code {
    od::raw_json_string key = f.key();
    if (key != "phase" && key != "qosClass") return SUCCESS;
    std::string_view s;
    error_code e = f.value().get_string().get(s);
    if (e != SUCCESS) {
      bool null = false;
      SIMDJSON_TRY(f.value().is_null().get(null));
      return null ? SUCCESS : e;
    }
    if (key == "phase") {
      pod.phase = PhaseOf(s);
    } else {
      pod.qos = QosOf(s);
    }
    return SUCCESS;
  });
}

}  // namespace

template <>
struct ObjectDecoder<Pod> {
  static error_code Decode(od::object& obj, Pod& pod, Problems& problems) {
    SIMDJSON_TRY(ForEachFieldOf(obj, [&](od::field& f) -> error_code {
      od::raw_json_string key = f.key();
      if (key == "metadata") {
        return ReadMeta(f.value(), pod.meta, problems,
                        [&](od::field& extra) { return ReadMetaExtra(extra, pod); });
      }
      if (key == "spec") return ReadPodSpec(f.value(), pod, problems);
      if (key == "status") return ReadPodStatus(f.value(), pod);
      return SUCCESS;
    }));
    if (pod.meta.name.empty()) problems.Flag("metadata.name", "missing");
    pod.containers.shrink_to_fit();  // Cached for the pod's lifetime: no spare capacity.
    return SUCCESS;
  }
};

}  // namespace json

NODEGUARD_KUBE_INSTANTIATE_DECODERS(Pod)

}  // namespace nodeguard::kube
