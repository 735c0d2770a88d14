#pragma once

// Pod builders shared by the hygiene tests.

#include <string>
#include <vector>

#include "kube/objects.h"

namespace nodeguard::hygiene::testing {

inline constexpr uint8_t kRequests =
    kube::kRequestCpu | kube::kRequestMemory | kube::kRequestEphemeralStorage;
inline constexpr uint8_t kLimits =
    kube::kLimitCpu | kube::kLimitMemory | kube::kLimitEphemeralStorage;
inline constexpr uint8_t kAll = kRequests | kLimits;

inline kube::Pod MakePod(const std::string& ns, const std::string& name,
                         std::vector<kube::ContainerResources> containers,
                         kube::QosClass qos = kube::QosClass::kBurstable) {
  kube::Pod p;
  p.meta.namespace_ = kube::Symbol::Intern(ns);
  p.meta.name = name;
  p.meta.uid = "uid-" + ns + "-" + name;
  p.phase = kube::PodPhase::kRunning;
  p.qos = qos;
  p.containers = std::move(containers);
  return p;
}

inline kube::ContainerResources C(const std::string& name, uint8_t declared, bool init = false) {
  return {kube::Symbol::Intern(name), declared, init};
}

}  // namespace nodeguard::hygiene::testing
