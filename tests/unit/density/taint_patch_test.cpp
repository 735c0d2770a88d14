#include "density/taint_patch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/time.h"
#include "kube/decode.h"

namespace nodeguard::density {
namespace {

using nlohmann::json;

constexpr const char* kKey = "nodeguard.io/pod-density-exceeded";
constexpr const char* kRecordKey = "nodeguard.io/density-taint";

// A Node as the API server returns it, with taints nodeguard does not model
// fully: a fractional timeAdded and an unknown field must survive untouched.
// `annotations`: null for none at all.
json RawNode(const json& taints, const json& annotations = json()) {
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", "worker-1"}, {"resourceVersion", "4711"}}},
               {"spec", json::object()},
               {"status", {{"capacity", {{"cpu", "8"}}}}}};
  if (!taints.is_null()) node["spec"]["taints"] = taints;
  if (!annotations.is_null()) node["metadata"]["annotations"] = annotations;
  return node;
}

// The slim Node the informer would hold: the real decoder.
kube::Node Slim(const json& raw) { return kube::DecodeObject<kube::Node>(raw.dump()).value(); }

const json kUnreachable = {{"key", "node.kubernetes.io/unreachable"},
                           {"effect", "NoExecute"},
                           {"timeAdded", "2026-11-27T14:31:39.5Z"},
                           {"x-unknown", {{"kept", true}}}};
const json kDedicated = {{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}};
const json kNotReady = {{"key", "node.kubernetes.io/not-ready"}, {"effect", "NoSchedule"}};

kube::Taint Ours(const char* value = "dense",
                 kube::TaintEffect effect = kube::TaintEffect::kNoSchedule,
                 const char* key = kKey) {
  kube::Taint t;
  t.key = key;
  t.value = value;
  t.effect = effect;
  return t;
}

json OursJson(const char* value = "dense", const char* effect = "NoSchedule",
              const char* key = kKey) {
  return {{"key", key}, {"value", value}, {"effect", effect}};
}

TaintRecord Record(const kube::Taint& t, const char* policy = "dense") { return {policy, t}; }

// The annotations of a node on which nodeguard recorded `t`.
json Recorded(const kube::Taint& t, const char* policy = "dense") {
  return {{kRecordKey, EncodeTaintRecord(Record(t, policy))}};
}

// Applies the patch built for the node and returns it after the patch.
json Apply(const json& raw, const std::optional<TaintRecord>& want,
           const std::vector<LegacyCandidate>& legacy = {}) {
  const kube::Node node = Slim(raw);
  auto patch = BuildTaintPatch(node, FindOwnTaint(node, legacy), want);
  EXPECT_TRUE(patch.ok()) << patch.error().ToString();
  if (!patch.ok() || !patch->has_value()) return raw;
  EXPECT_EQ((**patch)[0],
            (json{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", "4711"}}));
  json out = raw.patch(**patch);
  // Nothing outside spec.taints and nodeguard's record changes.
  json a = raw, b = out;
  for (json* j : {&a, &b}) {
    (*j)["spec"].erase("taints");
    if ((*j)["metadata"].contains("annotations")) {
      (*j)["metadata"]["annotations"].erase(kRecordKey);
      if ((*j)["metadata"]["annotations"].empty()) (*j)["metadata"].erase("annotations");
    }
  }
  EXPECT_EQ(a, b);
  return out;
}

json TaintsOf(const json& node) { return node["spec"].value("taints", json()); }
json RecordOf(const json& node) {
  const json& m = node["metadata"];
  if (!m.contains("annotations") || !m["annotations"].contains(kRecordKey)) return json();
  return json::parse(m["annotations"][kRecordKey].get<std::string>());
}

struct PatchCase {
  const char* name;
  json before;  // The raw node.
  std::optional<TaintRecord> want;
  json taints_after;  // null: no spec.taints.
};

TEST(BuildTaintPatch, Table) {
  const kube::Taint other_key = Ours("dense", kube::TaintEffect::kNoSchedule, "dedicated");
  const PatchCase cases[] = {
      {"add to a node without taints", RawNode(json()), Record(Ours()), json::array({OursJson()})},
      {"add to an empty array", RawNode(json::array()), Record(Ours()), json::array({OursJson()})},
      {"add after others, keeping them byte for byte",
       RawNode(json::array({kUnreachable, kDedicated})), Record(Ours()),
       json::array({kUnreachable, kDedicated, OursJson()})},
      {"remove ours from the middle",
       RawNode(json::array({kUnreachable, OursJson(), kDedicated}), Recorded(Ours())), std::nullopt,
       json::array({kUnreachable, kDedicated})},
      {"remove the only taint", RawNode(json::array({OursJson()}), Recorded(Ours())), std::nullopt,
       json::array()},
      {"a same-key taint nodeguard did not record is never removed",
       RawNode(json::array({OursJson("by-hand", "PreferNoSchedule"), kNotReady, OursJson()}),
               Recorded(Ours())),
       std::nullopt, json::array({OursJson("by-hand", "PreferNoSchedule"), kNotReady})},
      {"without a record nothing is removed",
       RawNode(json::array({kNotReady, OursJson()}), json::object({{"other", "x"}})), std::nullopt,
       json::array({kNotReady, OursJson()})},
      {"switch NoSchedule to PreferNoSchedule",
       RawNode(json::array({kDedicated, OursJson(), kUnreachable}), Recorded(Ours())),
       Record(Ours("dense", kube::TaintEffect::kPreferNoSchedule)),
       json::array({kDedicated, kUnreachable, OursJson("dense", "PreferNoSchedule")})},
      {"replace the only (outdated) taint",
       RawNode(json::array({OursJson("old")}), Recorded(Ours("old"))), Record(Ours()),
       json::array({OursJson()})},
      {"key changed: the recorded old key goes, the new one comes",
       RawNode(json::array({kNotReady, OursJson()}), Recorded(Ours())), Record(other_key),
       json::array({kNotReady, OursJson("dense", "NoSchedule", "dedicated")})},
      {"key changed next to a foreign taint of the new key with another effect",
       RawNode(json::array({OursJson("team-a", "PreferNoSchedule", "dedicated"), OursJson()}),
               Recorded(Ours())),
       Record(other_key),
       json::array({OursJson("team-a", "PreferNoSchedule", "dedicated"),
                    OursJson("dense", "NoSchedule", "dedicated")})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const json after = Apply(c.before, c.want);
    EXPECT_EQ(TaintsOf(after), c.taints_after);
    if (c.want) {
      EXPECT_EQ(RecordOf(after), json::parse(EncodeTaintRecord(*c.want)));
    } else {
      EXPECT_TRUE(RecordOf(after).is_null()) << RecordOf(after);
    }
  }
}

TEST(BuildTaintPatch, NothingToDoGivesNoPatch) {
  for (const json& taints : {json(), json::array(), json::array({kDedicated, kUnreachable})}) {
    const kube::Node node = Slim(RawNode(taints));
    auto p = BuildTaintPatch(node, FindOwnTaint(node, {}), std::nullopt);
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->has_value());
  }
  const kube::Node node = Slim(RawNode(json::array({kDedicated, OursJson()}), Recorded(Ours())));
  auto p = BuildTaintPatch(node, FindOwnTaint(node, {}), Record(Ours()));
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->has_value());
}

TEST(BuildTaintPatch, TheRecordIsWrittenWithTheTaintInOnePatch) {
  // Annotations absent altogether: the map is created.
  json after = Apply(RawNode(json()), Record(Ours()));
  EXPECT_EQ(after["metadata"]["annotations"].size(), 1u);
  EXPECT_EQ(RecordOf(after), json::parse(EncodeTaintRecord(Record(Ours()))));
  // Other annotations (not kept by the slim Node) survive.
  after = Apply(RawNode(json(), {{"kubeadm.alpha.kubernetes.io/cri-socket", "x"}}), Record(Ours()));
  EXPECT_EQ(after["metadata"]["annotations"]["kubeadm.alpha.kubernetes.io/cri-socket"], "x");
  EXPECT_EQ(RecordOf(after)["key"], kKey);
  // Removal of the taint removes the record and nothing else.
  json tainted = RawNode(json::array({OursJson()}), Recorded(Ours()));
  tainted["metadata"]["annotations"]["keep"] = "me";
  after = Apply(tainted, std::nullopt);
  EXPECT_EQ(after["metadata"]["annotations"], (json{{"keep", "me"}}));
}

TEST(BuildTaintPatch, ARecordWithoutItsTaintIsDropped) {
  // A person removed nodeguard's taint by hand: the record goes on the next write.
  const json after = Apply(RawNode(json::array({kDedicated}), Recorded(Ours())), std::nullopt);
  EXPECT_TRUE(RecordOf(after).is_null());
  EXPECT_EQ(TaintsOf(after), json::array({kDedicated}));
}

TEST(BuildTaintPatch, LegacyTaintIsAdoptedByRecordingIt) {
  // Tainted by a nodeguard that wrote no record: the exact taint of the
  // policy is kept and recorded.
  const std::vector<LegacyCandidate> legacy = {{"dense", Ours()}};
  const json after = Apply(RawNode(json::array({kNotReady, OursJson()})), Record(Ours()), legacy);
  EXPECT_EQ(TaintsOf(after), json::array({kNotReady, OursJson()}));
  EXPECT_EQ(RecordOf(after)["policy"], "dense");
  // ... or removed when the policy releases the node.
  const json released = Apply(RawNode(json::array({kNotReady, OursJson()})), std::nullopt, legacy);
  EXPECT_EQ(TaintsOf(released), json::array({kNotReady}));
}

TEST(BuildTaintPatch, OtherTaintsAreNeverRewritten) {
  // The patch touches other taints neither by value nor by replace: the only
  // ops are tests, the remove of nodeguard's index, and adds.
  json raw =
      RawNode(json::array({kUnreachable, OursJson("old"), kDedicated}), Recorded(Ours("old")));
  const kube::Node node = Slim(raw);
  auto p = BuildTaintPatch(node, FindOwnTaint(node, {}), Record(Ours()));
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
  json raw = RawNode(json::array({kDedicated, OursJson()}), Recorded(Ours()));
  const kube::Node node = Slim(raw);
  auto p = BuildTaintPatch(node, FindOwnTaint(node, {}), std::nullopt);
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
  EXPECT_EQ(BuildTaintPatch(n, {}, Record(Ours())).error().kind, ErrorKind::kInvalid);  // No RV.
  n.meta.resource_version = "1";
  EXPECT_FALSE(BuildTaintPatch(n, {}, Record(Ours("", kube::TaintEffect::kNoSchedule, ""))).ok());
  // A foreign taint holds the key and effect: adding ours would be refused
  // by the API server (one taint per key and effect), and must not replace it.
  n.taints.push_back(Ours("by-hand"));
  EXPECT_EQ(BuildTaintPatch(n, FindOwnTaint(n, {}), Record(Ours())).error().kind,
            ErrorKind::kInvalid);
}

TEST(InspectOwnTaint, ByRecordNotByKey) {
  kube::Node n = Slim(RawNode(json::array({kDedicated, OursJson()}), Recorded(Ours())));
  OwnTaint own = FindOwnTaint(n, {});
  OwnTaintState s = InspectOwnTaint(n, own, Ours(), "dense");
  EXPECT_TRUE(s.present);
  EXPECT_TRUE(s.matches_desired);
  EXPECT_FALSE(s.foreign_holds_desired);
  // Another policy's record: present, to be handed over (rewritten).
  EXPECT_FALSE(InspectOwnTaint(n, own, Ours(), "other").matches_desired);
  // Another value or effect wanted: rewrite.
  EXPECT_FALSE(InspectOwnTaint(n, own, Ours("x"), "dense").matches_desired);

  // The same taint without a record is not nodeguard's ...
  n = Slim(RawNode(json::array({kDedicated, OursJson()})));
  own = FindOwnTaint(n, {});
  s = InspectOwnTaint(n, own, Ours(), "dense");
  EXPECT_FALSE(s.present);
  EXPECT_TRUE(s.foreign_holds_desired) << "and blocks adding ours";
  // ... unless adopted (migration): then present, but to be recorded.
  own = FindOwnTaint(n, {{"dense", Ours()}});
  s = InspectOwnTaint(n, own, Ours(), "dense");
  EXPECT_TRUE(s.present);
  EXPECT_FALSE(s.matches_desired);
  EXPECT_FALSE(s.foreign_holds_desired);
}

TEST(TaintToJson, KubernetesShape) {
  kube::Taint t = Ours("", kube::TaintEffect::kPreferNoSchedule);
  EXPECT_EQ(TaintToJson(t), (json{{"key", kKey}, {"effect", "PreferNoSchedule"}}));
  t.time_added = ParseRfc3339("2026-11-27T14:31:39Z").value();
  EXPECT_EQ(TaintToJson(t)["timeAdded"], "2026-11-27T14:31:39Z");
}

}  // namespace
}  // namespace nodeguard::density
