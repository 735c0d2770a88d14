#include "density/taint_record.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nodeguard::density {
namespace {

kube::Taint T(const char* key, const char* value,
              kube::TaintEffect effect = kube::TaintEffect::kNoSchedule) {
  kube::Taint t;
  t.key = key;
  t.value = value;
  t.effect = effect;
  return t;
}

kube::Node NodeWith(std::vector<kube::Taint> taints, const std::string* record = nullptr) {
  kube::Node n;
  n.meta.name = "worker-1";
  n.meta.resource_version = "1";
  n.taints = std::move(taints);
  if (record != nullptr) n.nodeguard_annotations = {{kTaintRecordAnnotation, *record}};
  n.has_annotations = record != nullptr;
  return n;
}

TEST(TaintRecord, RoundTripsAndIsCanonical) {
  const TaintRecord r{"workers", T("nodeguard.io/pod-density-exceeded", "workers")};
  const std::string encoded = EncodeTaintRecord(r);
  EXPECT_EQ(encoded, R"({"effect":"NoSchedule","key":"nodeguard.io/pod-density-exceeded",)"
                     R"("policy":"workers","value":"workers"})");
  EXPECT_EQ(DecodeTaintRecord(encoded).value(), r);
  const TaintRecord no_value{"p", T("k", "", kube::TaintEffect::kPreferNoSchedule)};
  EXPECT_EQ(EncodeTaintRecord(no_value), R"({"effect":"PreferNoSchedule","key":"k","policy":"p"})");
  EXPECT_EQ(DecodeTaintRecord(EncodeTaintRecord(no_value)).value(), no_value);
}

TEST(TaintRecord, DecodingIsStrict) {
  for (const char* bad : {"", "not json", "[]", R"({"key":"k","effect":"NoSchedule"})",
                          R"({"policy":"","key":"k","effect":"NoSchedule"})",
                          R"({"policy":"p","effect":"NoSchedule"})", R"({"policy":"p","key":"k"})",
                          R"({"policy":"p","key":"k","effect":"Sometimes"})",
                          R"({"policy":"p","key":"k","effect":"NoSchedule","value":3})"}) {
    SCOPED_TRACE(bad);
    auto decoded = DecodeTaintRecord(bad);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().kind, ErrorKind::kInvalid);
  }
  EXPECT_TRUE(
      DecodeTaintRecord(R"({"policy":"p","key":"k","effect":"NoSchedule","extra":1})").ok());
}

TEST(FindOwnTaint, TheRecordedKeyAndEffect) {
  const std::string record = EncodeTaintRecord({"p", T("old-key", "p")});
  // The recorded taint is found by key and effect, wherever it is; a taint
  // with the policy's current key is not nodeguard's.
  kube::Node n = NodeWith({T("new-key", "admin"), T("old-key", "p")}, &record);
  OwnTaint own = FindOwnTaint(n, {{"p", T("new-key", "admin")}});
  EXPECT_EQ(own.source, OwnTaint::Source::kRecord);
  ASSERT_TRUE(own.on_node());
  EXPECT_EQ(*own.index, 1u);
  EXPECT_EQ(own.owner(), "p");
  // Same key, other effect: not the recorded taint.
  n = NodeWith({T("old-key", "p", kube::TaintEffect::kPreferNoSchedule)}, &record);
  own = FindOwnTaint(n, {});
  EXPECT_FALSE(own.on_node());
  EXPECT_TRUE(own.annotation_present);
  EXPECT_EQ(own.owner(), "");
}

TEST(FindOwnTaint, AnUnreadableRecordClaimsNothing) {
  const std::string garbage = "{";
  kube::Node n = NodeWith({T("k", "p")}, &garbage);
  OwnTaint own = FindOwnTaint(n, {{"p", T("k", "p")}});
  EXPECT_EQ(own.source, OwnTaint::Source::kNone);
  EXPECT_FALSE(own.on_node());
  EXPECT_TRUE(own.annotation_present);
  EXPECT_FALSE(own.annotation_error.empty());
}

TEST(FindOwnTaint, MigrationAdoptsOnlyAnExactTaintOfASelectingPolicy) {
  // (Kubernetes keeps one taint per key and effect.)
  const kube::Node n =
      NodeWith({T("k2", "admin"), T("k", "p", kube::TaintEffect::kPreferNoSchedule), T("k", "p")});
  // Exact key, value and effect: adopted, the first candidate in order first.
  OwnTaint own = FindOwnTaint(n, {{"q", T("k", "q")}, {"p", T("k", "p")}, {"r", T("k2", "admin")}});
  EXPECT_EQ(own.source, OwnTaint::Source::kLegacy);
  EXPECT_EQ(own.owner(), "p");
  EXPECT_EQ(*own.index, 2u);
  own = FindOwnTaint(n, {{"r", T("k2", "admin")}, {"p", T("k", "p")}});
  EXPECT_EQ(own.owner(), "r");
  // Another value (an administrator's taint with the policy's key): not adopted.
  own = FindOwnTaint(NodeWith({T("k", "admin")}), {{"p", T("k", "p")}});
  EXPECT_EQ(own.source, OwnTaint::Source::kNone);
  // No candidate (no policy selects the node): nothing is nodeguard's.
  own = FindOwnTaint(n, {});
  EXPECT_EQ(own.source, OwnTaint::Source::kNone);
}

TEST(ForeignTaintWith, KeyAndEffectExceptNodeguardsOwn) {
  const std::string record = EncodeTaintRecord({"p", T("k", "p")});
  const kube::Node n =
      NodeWith({T("k", "p"), T("k", "x", kube::TaintEffect::kPreferNoSchedule)}, &record);
  const OwnTaint own = FindOwnTaint(n, {});
  EXPECT_FALSE(ForeignTaintWith(n, own, T("k", "anything")));
  EXPECT_EQ(ForeignTaintWith(n, own, T("k", "", kube::TaintEffect::kPreferNoSchedule)), 1u);
  EXPECT_FALSE(ForeignTaintWith(n, own, T("other", "")));
}

}  // namespace
}  // namespace nodeguard::density
