#include "fakes/policy.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "kube/decode.h"

namespace nodeguard::fakes {

runtime::PolicyObject MakePolicy(const std::string& name, nlohmann::json spec,
                                 const PolicyOptions& options) {
  char created[32];
  std::snprintf(created, sizeof created, "2024-01-01T00:00:%02dZ", options.created_second);
  nlohmann::json meta = {{"name", name},
                         {"uid", "uid-policy-" + name},
                         {"resourceVersion", "1"},
                         {"generation", options.generation},
                         {"creationTimestamp", created}};
  if (options.cleanup_finalizer) meta["finalizers"] = {runtime::kCleanupFinalizer};
  if (options.deleting) meta["deletionTimestamp"] = "2024-01-01T00:01:00Z";
  const nlohmann::json doc = {{"apiVersion", "nodeguard.io/v1alpha1"},
                              {"kind", "NodeHealthPolicy"},
                              {"metadata", meta},
                              {"spec", std::move(spec)}};
  auto decoded = kube::DecodeObject<runtime::PolicyObject>(doc.dump());
  EXPECT_TRUE(decoded.ok()) << (decoded.ok() ? "" : decoded.error().ToString());
  return decoded.ok() ? std::move(decoded.value()) : runtime::PolicyObject{};
}

}  // namespace nodeguard::fakes
