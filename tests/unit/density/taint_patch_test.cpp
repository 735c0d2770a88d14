#include "density/taint_patch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/time.h"

namespace nodeguard::density {
namespace {

using nlohmann::json;

constexpr const char* kKey = "nodeguard.io/pod-density-exceeded";

// A Node as the API server returns it, with taints nodeguard does not model
// fully: a fractional timeAdded and an unknown field must survive untouched.
json RawNode(const json& taints) {
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", "worker-1"}, {"resourceVersion", "4711"}}},
               {"spec", json::object()},
               {"status", {{"capacity", {{"cpu", "8"}}}}}};
  if (!taints.is_null()) node["spec"]["taints"] = taints;
  return node;
}

const json kUnreachable = {{"key", "node.kubernetes.io/unreachable"},
                           {"effect", "NoExecute"},
                           {"timeAdded", "2026-11-27T14:31:39.5Z"},
                           {"x-unknown", {{"kept", true}}}};
const json kDedicated = {{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}};
const json kNotReady = {{"key", "node.kubernetes.io/not-ready"}, {"effect", "NoSchedule"}};

kube::Taint SlimTaint(const json& j) {
  kube::Taint t;
  t.key = j.at("key").get<std::string>();
  t.value = j.value("value", "");
  const std::string effect = j.at("effect").get<std::string>();
  t.effect = effect == "NoExecute"          ? kube::TaintEffect::kNoExecute
             : effect == "PreferNoSchedule" ? kube::TaintEffect::kPreferNoSchedule
                                            : kube::TaintEffect::kNoSchedule;
  if (j.contains("timeAdded"))
    t.time_added = ParseRfc3339(j.at("timeAdded").get<std::string>()).value();
  return t;
}

// The slim Node the informer would hold for RawNode(taints).
kube::Node SlimNode(const json& raw) {
  kube::Node n;
  n.meta.name = raw["metadata"]["name"];
  n.meta.resource_version = raw["metadata"]["resourceVersion"];
  if (raw["spec"].contains("taints"))
    for (const auto& t : raw["spec"]["taints"]) n.taints.push_back(SlimTaint(t));
  return n;
}

kube::Taint Ours(const char* value = "dense",
                 kube::TaintEffect effect = kube::TaintEffect::kNoSchedule) {
  kube::Taint t;
  t.key = kKey;
  t.value = value;
  t.effect = effect;
  return t;
}

json OursJson(const char* value = "dense", const char* effect = "NoSchedule") {
  return {{"key", kKey}, {"value", value}, {"effect", effect}};
}

// Applies the patch built for `taints` and returns the resulting taints array
// (null when absent).
json Apply(const json& taints, const std::optional<kube::Taint>& desired) {
  json raw = RawNode(taints);
  auto patch = BuildTaintPatch(SlimNode(raw), kKey, desired);
  EXPECT_TRUE(patch.ok());
  if (!patch.ok() || !patch->has_value()) return raw["spec"].value("taints", json());
  EXPECT_EQ((**patch)[0],
            (json{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", "4711"}}));
  json out = raw.patch(**patch);
  // Nothing outside spec.taints changes.
  json a = raw, b = out;
  a["spec"].erase("taints");
  b["spec"].erase("taints");
  EXPECT_EQ(a, b);
  return out["spec"].value("taints", json());
}

struct PatchCase {
  const char* name;
  json before;  // null: no spec.taints.
  std::optional<kube::Taint> desired;
  json after;
};

TEST(BuildTaintPatch, Table) {
  const PatchCase cases[] = {
      {"add to a node without taints", json(), Ours(), json::array({OursJson()})},
      {"add to an empty array", json::array(), Ours(), json::array({OursJson()})},
      {"add after others, keeping them byte for byte", json::array({kUnreachable, kDedicated}),
       Ours(), json::array({kUnreachable, kDedicated, OursJson()})},
      {"remove ours from the middle", json::array({kUnreachable, OursJson(), kDedicated}),
       std::nullopt, json::array({kUnreachable, kDedicated})},
      {"remove the only taint", json::array({OursJson()}), std::nullopt, json::array()},
      {"remove every own-key taint (hand-added, old value, other effect)",
       json::array({OursJson("old", "PreferNoSchedule"), kNotReady, OursJson(), kDedicated,
                    OursJson("by-hand")}),
       std::nullopt, json::array({kNotReady, kDedicated})},
      {"switch NoSchedule to PreferNoSchedule", json::array({kDedicated, OursJson(), kUnreachable}),
       Ours("dense", kube::TaintEffect::kPreferNoSchedule),
       json::array({kDedicated, kUnreachable, OursJson("dense", "PreferNoSchedule")})},
      {"keep the matching one, drop duplicates",
       json::array({OursJson(), kNotReady, OursJson("other")}), Ours(),
       json::array({OursJson(), kNotReady})},
      {"replace the only (outdated) taint", json::array({OursJson("old")}), Ours(),
       json::array({OursJson()})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Apply(c.before, c.desired), c.after);
  }
}

TEST(BuildTaintPatch, NothingToDoGivesNoPatch) {
  for (const json& taints : {json(), json::array(), json::array({kDedicated, kUnreachable})}) {
    auto p = BuildTaintPatch(SlimNode(RawNode(taints)), kKey, std::nullopt);
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->has_value());
  }
  auto p = BuildTaintPatch(SlimNode(RawNode(json::array({kDedicated, OursJson()}))), kKey, Ours());
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->has_value());
}

TEST(BuildTaintPatch, OtherTaintsAreNeverRewritten) {
  // The patch touches other taints neither by value nor by replace: the only
  // ops are tests, removes of own-key indices, and an add of ours.
  json raw = RawNode(json::array({kUnreachable, OursJson("old"), kDedicated}));
  auto p = BuildTaintPatch(SlimNode(raw), kKey, Ours());
  ASSERT_TRUE(p.ok() && p->has_value());
  for (const auto& op : **p) {
    EXPECT_NE(op["op"], "replace");
    if (op["op"] == "remove") {
      EXPECT_EQ(op["path"], "/spec/taints/1");
    }
  }
  EXPECT_EQ(raw.patch(**p)["spec"]["taints"][0].dump(), kUnreachable.dump());
}

TEST(BuildTaintPatch, ConcurrentChangeFailsTheTest) {
  json raw = RawNode(json::array({kDedicated, OursJson()}));
  auto p = BuildTaintPatch(SlimNode(raw), kKey, std::nullopt);
  ASSERT_TRUE(p.ok() && p->has_value());
  // Someone added a taint in between: the resourceVersion moved on and the
  // API server would reject the patch (422) so nodeguard re-reads.
  json moved = raw;
  moved["metadata"]["resourceVersion"] = "4712";
  moved["spec"]["taints"].insert(moved["spec"]["taints"].begin(), kNotReady);
  EXPECT_THROW(moved.patch(**p), json::exception);
  // Even at the same resourceVersion, an index that no longer holds our key
  // is not removed.
  moved["metadata"]["resourceVersion"] = "4711";
  EXPECT_THROW(moved.patch(**p), json::exception);
}

TEST(BuildTaintPatch, RejectsUnsafeInput) {
  kube::Node n;
  n.meta.name = "worker-1";
  EXPECT_EQ(BuildTaintPatch(n, kKey, Ours()).error().kind, ErrorKind::kInvalid);  // No RV.
  n.meta.resource_version = "1";
  EXPECT_FALSE(BuildTaintPatch(n, "", std::nullopt).ok());
  kube::Taint wrong = Ours();
  wrong.key = "dedicated";
  EXPECT_FALSE(BuildTaintPatch(n, kKey, wrong).ok());
}

TEST(OwnTaint, RecognisedByKeyAlone) {
  EXPECT_TRUE(IsOwnTaint(Ours("anything", kube::TaintEffect::kNoExecute), kKey));
  EXPECT_FALSE(IsOwnTaint(SlimTaint(kDedicated), kKey));
  EXPECT_FALSE(IsOwnTaint(Ours(), ""));

  std::vector<kube::Taint> taints = {SlimTaint(kDedicated)};
  EXPECT_EQ(InspectOwnTaint(taints, Ours()).present, false);
  taints.push_back(Ours());
  EXPECT_TRUE(InspectOwnTaint(taints, Ours()).present);
  EXPECT_TRUE(InspectOwnTaint(taints, Ours()).matches_desired);
  EXPECT_FALSE(InspectOwnTaint(taints, Ours("other")).matches_desired);
  EXPECT_FALSE(
      InspectOwnTaint(taints, Ours("dense", kube::TaintEffect::kPreferNoSchedule)).matches_desired);
  taints.push_back(Ours("by-hand"));
  EXPECT_FALSE(InspectOwnTaint(taints, Ours()).matches_desired);  // A duplicate to clean up.
}

TEST(TaintToJson, KubernetesShape) {
  kube::Taint t = Ours("", kube::TaintEffect::kPreferNoSchedule);
  EXPECT_EQ(TaintToJson(t), (json{{"key", kKey}, {"effect", "PreferNoSchedule"}}));
  t.time_added = ParseRfc3339("2026-11-27T14:31:39Z").value();
  EXPECT_EQ(TaintToJson(t)["timeAdded"], "2026-11-27T14:31:39Z");
}

}  // namespace
}  // namespace nodeguard::density
